//! Watching Redis's ACLs, when clients are Redis users: a change of a user's
//! rights is obeyed within about half a second, and a deleted user's clients are
//! disconnected, as Redis disconnects them.
//!
//! Twice a second, on one shard thread, hotcache asks Redis `ACL LIST` as its
//! own identity (which needs `+acl|list` for this; see README); whether clients
//! may run commands before they AUTH is read off its `default` user (on and
//! `nopass`), or, if hotcache may not read the list, asked with a `PING`
//! without AUTH on a connection of its own (a connect, and a TLS handshake
//! with `rediss://`, each time: the list spares Redis that). Any change
//! of the list starts a new ACL generation: every permit to serve a user from
//! the cache, every remembered AUTH answer and refusal belongs to one
//! generation, so all of it is learned again from Redis. If hotcache may not
//! read the list, a new generation starts every half second anyway: nothing learned
//! from the ACLs outlives half a second.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::ThreadCtx;
use crate::protocol::{Proto, Request};
use crate::upstream::{Identity, ReplySlot};

/// How often the ACLs are read.
const EVERY: Duration = Duration::from_millis(500);

/// Runs on shard 0 for the life of the server (with a Redis upstream and no
/// `requirepass` of hotcache's own).
pub async fn watch(ctx: Rc<ThreadCtx>) {
    let mut last: Option<Bytes> = None;
    let mut users: HashMap<Arc<str>, bool> = HashMap::new();
    loop {
        match acl_list(&ctx).await {
            Acls::Listed(list) if last.as_ref() == Some(&list) => {}
            Acls::Listed(list) => {
                if last.is_some() {
                    ctx.upstream.acl().changed();
                }
                ctx.upstream.acl().set_open_to_all(open_to_all(&list));
                if let Some(open) = default_open(&list) {
                    ctx.upstream.acl().set_default_open(open);
                }
                let now = parse_users(&list);
                for (gone, _) in users.iter().filter(|(u, _)| !now.contains_key(*u)) {
                    disconnect(&ctx, gone);
                }
                ctx.upstream.acl().set_users(Some(now.keys().cloned().collect()));
                users = now;
                last = Some(list);
            }
            // Redis unreachable: its ACLs cannot change while nobody reaches
            // it, so what was learned stands (hits, served stale with
            // serve-stale, keep their permits); the first list read once it
            // answers again is compared with the last one at once.
            Acls::Unreachable => {}
            // Not allowed to read them: nothing learned from the ACLs may
            // outlive this half second.
            Acls::Refused => {
                if let Some(ask) = ctx.upstream.check_auth(vec![Bytes::from_static(b"PING")])
                    && let Ok(reply) = ask.await
                {
                    ctx.upstream.acl().set_default_open(!reply.starts_with(b"-NOAUTH"));
                }
                last = None;
                ctx.upstream.acl().set_users(None);
                ctx.upstream.acl().set_open_to_all(false);
                ctx.upstream.acl().changed();
            }
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// What asking Redis for its ACLs gave.
enum Acls {
    /// The `ACL LIST` reply.
    Listed(Bytes),
    /// Redis answered with an error (hotcache's identity may not read them).
    Refused,
    /// No answer: no connection to be had, or it failed.
    Unreachable,
}

/// `ACL LIST` as hotcache's own identity.
async fn acl_list(ctx: &Rc<ThreadCtx>) -> Acls {
    let req = Request::from_args(vec![Bytes::from_static(b"ACL"), Bytes::from_static(b"LIST")]);
    let Ok(link) = ctx.upstream.shared(&Identity::Own, Proto::Resp2, 0) else {
        return Acls::Unreachable;
    };
    let reply = match link.send(&req) {
        ReplySlot::Wait(rx) => match rx.await {
            Ok(reply) => reply,
            Err(_) => return Acls::Unreachable,
        },
        // Answered at once: an error of hotcache's (breaker open, no node).
        _ => return Acls::Unreachable,
    };
    match (reply.failed, reply.frame.first()) {
        (Some(_), _) => Acls::Unreachable,
        (None, Some(b'*')) => Acls::Listed(reply.frame),
        _ => Acls::Refused,
    }
}

/// The users of an `ACL LIST` reply, and whether each is on.
fn parse_users(list: &[u8]) -> HashMap<Arc<str>, bool> {
    let mut out = HashMap::new();
    for line in list.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut words = line.split(|&b| b == b' ');
        if words.next() != Some(b"user") {
            continue;
        }
        let Some(name) = words.next().and_then(|n| std::str::from_utf8(n).ok()) else {
            continue;
        };
        let on = words.any(|w| w == b"on");
        out.insert(Arc::from(name), on);
    }
    out
}

/// Whether a connection may run commands before it AUTHs, by the `default`
/// user of an `ACL LIST`: Redis logs a new connection in as `default` when
/// that user is on and has `nopass` (`None`: no `default` line).
fn default_open(list: &[u8]) -> Option<bool> {
    let line = list
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .find(|l| l.starts_with(b"user default "))?;
    let words: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    Some(words.contains(&&b"on"[..]) && words.contains(&&b"nopass"[..]))
}

/// Whether an `ACL LIST` is Redis's unrestricted default: one user,
/// `default`, on, with every command, key and channel and nothing taken away
/// (`user default on nopass sanitize-payload ~* &* +@all`).
fn open_to_all(list: &[u8]) -> bool {
    let lines: Vec<&[u8]> = list
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| l.starts_with(b"user "))
        .collect();
    let [line] = lines[..] else { return false };
    let words: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let has = |w: &[u8]| words.contains(&w);
    words.get(1) == Some(&&b"default"[..])
        && has(b"on")
        && (has(b"~*") || has(b"allkeys"))
        && (has(b"&*") || has(b"allchannels"))
        && (has(b"+@all") || has(b"allcommands"))
        && !words.iter().any(|w| w.starts_with(b"-") || w.starts_with(b"%") || w.starts_with(b"("))
}

/// Disconnects every client logged in as `user`, which Redis deleted (Redis
/// disconnects its own clients of a deleted user).
fn disconnect(ctx: &Rc<ThreadCtx>, user: &str) {
    for c in ctx.shared.clients.list() {
        if &*c.user() == user {
            tracing::info!(client = c.id, user, "closing a client of a deleted Redis user");
            ctx.shared.kill_client(&c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_acl_is_open_to_all() {
        let installed = b"*1\r\n$52\r\nuser default on nopass sanitize-payload ~* &* +@all\r\n";
        assert!(open_to_all(installed));
        assert!(!open_to_all(b"*1\r\n$0\r\nuser default on nopass ~* &* +@all -flushall\r\n"));
        assert!(!open_to_all(b"*1\r\n$0\r\nuser default on nopass ~a:* &* +@all\r\n"));
        assert!(!open_to_all(
            b"*2\r\n$0\r\nuser default on nopass ~* &* +@all\r\n$0\r\nuser a on ~* &* +@all\r\n"
        ));
        assert!(!open_to_all(b"*1\r\n$0\r\nuser default on nopass ~* &* +@all (~x +get)\r\n"));
    }

    #[test]
    fn default_user_lets_clients_in_without_auth_when_on_and_nopass() {
        let open = b"*1\r\n$52\r\nuser default on nopass sanitize-payload ~* &* +@all\r\n";
        assert_eq!(default_open(open), Some(true));
        // requirepass: a password, no nopass.
        let password = b"*1\r\n$0\r\nuser default on sanitize-payload #5e88 ~* &* +@all\r\n";
        assert_eq!(default_open(password), Some(false));
        assert_eq!(default_open(b"*1\r\n$0\r\nuser default off nopass ~* +@all\r\n"), Some(false));
        // A user whose name starts with "default" is another user.
        assert_eq!(default_open(b"*1\r\n$0\r\nuser defaults on nopass\r\n"), None);
    }

    #[test]
    fn users_of_an_acl_list() {
        let list = b"*3\r\n$29\r\nuser alice on #ab ~a:* +@all\r\n$27\r\nuser bob off #cd ~b:* +@all\r\n$22\r\nuser default on nopass\r\n";
        let users = parse_users(list);
        assert_eq!(users.get("alice"), Some(&true));
        assert_eq!(users.get("bob"), Some(&false));
        assert_eq!(users.get("default"), Some(&true));
        assert_eq!(users.len(), 3);
    }
}
