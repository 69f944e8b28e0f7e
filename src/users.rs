//! Redis ACL users through hotcache: who an upstream connection is logged in as
//! (below both the upstream connections and the cache, which keys permits by it).
//!
//! With no `requirepass` of hotcache's own, a client is whoever Redis says it
//! is: its AUTH and HELLO AUTH are checked by Redis, and its commands run on
//! upstream connections logged in as its user (pipelined and pooled per user
//! and thread, not one per client), so Redis enforces that user's ACL on every
//! command it forwards. A client that did not AUTH runs as Redis's `default`
//! user, as it would on Redis. hotcache's own credentials (`upstream`,
//! `cluster`) serve only its own connections: tracking, topology, the ACL
//! watch — and every client's traffic in `requirepass` mode, where hotcache's
//! own password guards the door and every client acts as that one identity.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering::Relaxed};

use bytes::Bytes;

/// Who an upstream connection is logged in as.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Identity {
    /// hotcache's own credentials, from `upstream` or `cluster`.
    Own,
    /// A client's Redis user; `None` for a client that did not AUTH (Redis's
    /// `default` user, when it needs no password).
    User(Option<Arc<str>>),
}

impl Identity {
    /// The user name Redis knows it by, for ACL WHOAMI and CLIENT LIST (`None`:
    /// hotcache's own).
    pub fn name(&self) -> Option<&str> {
        match self {
            Identity::Own => None,
            Identity::User(None) => Some("default"),
            Identity::User(Some(u)) => Some(u),
        }
    }
}

/// What all threads share of Redis's ACLs: a generation bumped whenever they
/// may have changed. Whatever hotcache concluded from them (a password that
/// worked, a user allowed to read a key, a user refused) holds only within one
/// generation.
#[derive(Debug, Default)]
pub struct Acl {
    generation: AtomicU64,
    /// Whether Redis lets a client in without AUTH (its `default` user on and
    /// needing no password): 0 not known yet, 1 yes, 2 no.
    default: AtomicU8,
    /// Redis's only user is `default`, with every right on every key and
    /// channel (Redis as installed): everyone may be served everything, and
    /// no permit needs checking.
    open_to_all: AtomicBool,
    /// The users of the last `ACL LIST` read (None: not read, or not
    /// allowed), for CLIENT KILL USER's "No such user".
    users: std::sync::RwLock<Option<Vec<Arc<str>>>>,
}

impl Acl {
    /// The generation now.
    #[inline]
    pub fn generation(&self) -> u64 {
        // Relaxed: a reader that misses a bump by a moment acts on the old
        // generation for that moment, as if the change had come a moment later.
        self.generation.load(Relaxed)
    }

    /// The ACLs may have changed: everything concluded from them is stale.
    pub fn changed(&self) {
        self.generation.fetch_add(1, Relaxed);
    }

    /// What the ACL list says: whether it is Redis's unrestricted default.
    pub fn set_open_to_all(&self, open: bool) {
        self.open_to_all.store(open, Relaxed);
    }

    /// True while Redis's ACLs give everyone everything (see `open_to_all`).
    #[inline]
    pub fn open_to_all(&self) -> bool {
        self.open_to_all.load(Relaxed)
    }

    /// The users the last `ACL LIST` named (None when it could not be read).
    pub fn set_users(&self, users: Option<Vec<Arc<str>>>) {
        *self.users.write().unwrap_or_else(|e| e.into_inner()) = users;
    }

    /// Whether Redis has user `name`, if known.
    pub fn has_user(&self, name: &str) -> Option<bool> {
        let users = self.users.read().unwrap_or_else(|e| e.into_inner());
        users.as_ref().map(|u| u.iter().any(|x| &**x == name))
    }

    /// What Redis answered a command sent without AUTH: whether a client that
    /// did not AUTH may run commands.
    pub fn set_default_open(&self, open: bool) {
        self.default.store(if open { 1 } else { 2 }, Relaxed);
    }

    /// False once Redis is known to want AUTH first (until then, yes: the
    /// commands a client sends to Redis are Redis's to refuse anyway).
    #[inline]
    pub fn default_open(&self) -> bool {
        self.default.load(Relaxed) != 2
    }
}

/// One thread's passwords that Redis accepted for each user, in this ACL
/// generation: what it logs in with when it opens a connection for a user.
#[derive(Debug, Default)]
pub struct Passwords {
    /// Per user: the password and the ACL generation it was accepted in.
    by_user: RefCell<HashMap<Arc<str>, Accepted>>,
}

type Accepted = (Arc<str>, u64);

impl Passwords {
    /// `password` was accepted for `user` in `generation`.
    pub fn accepted(&self, user: &Arc<str>, password: &Arc<str>, generation: u64) {
        let mut map = self.by_user.borrow_mut();
        match map.get(user) {
            // Keep the one connections were made with while it still works.
            Some((_, g)) if *g == generation => {}
            _ => {
                map.insert(user.clone(), (password.clone(), generation));
            }
        }
    }

    /// The password to log `user` in with.
    pub fn of(&self, user: &str) -> Option<Arc<str>> {
        self.by_user.borrow().get(user).map(|(p, _)| p.clone())
    }

    /// Forgets a user (deleted or disabled at Redis).
    pub fn forget(&self, user: &str) {
        self.by_user.borrow_mut().remove(user);
    }
}

/// Redis's reply to a command from a client that must AUTH first.
pub const NOAUTH: &[u8] = b"-NOAUTH Authentication required.\r\n";

/// The reply clients get when Redis refused their identity at a connection's
/// handshake: Redis's own error, except that a HELLO refused for want of AUTH
/// reads as what Redis answers any command of an unauthenticated client.
pub fn refusal_reply(error: &[u8]) -> Bytes {
    if error.starts_with(b"-NOAUTH") {
        return Bytes::from_static(NOAUTH);
    }
    Bytes::copy_from_slice(error)
}

/// Whether a handshake error is Redis refusing the credentials (the identity's
/// problem, not the node's: it never counts against the breaker).
pub fn is_refusal(error: &[u8]) -> bool {
    [&b"-WRONGPASS"[..], b"-NOAUTH", b"-NOPERM", b"-ERR AUTH"].iter().any(|p| error.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_keep_the_first_per_generation() {
        let p = Passwords::default();
        let (u, a, b): (Arc<str>, Arc<str>, Arc<str>) = ("alice".into(), "a".into(), "b".into());
        p.accepted(&u, &a, 1);
        p.accepted(&u, &b, 1);
        assert_eq!(p.of("alice").as_deref(), Some("a"));
        p.accepted(&u, &b, 2);
        assert_eq!(p.of("alice").as_deref(), Some("b"));
        p.forget("alice");
        assert_eq!(p.of("alice"), None);
    }

    #[test]
    fn refusals() {
        assert!(is_refusal(b"-WRONGPASS invalid username-password pair\r\n"));
        assert!(is_refusal(
            b"-NOAUTH HELLO must be called with the client already authenticated\r\n"
        ));
        assert!(!is_refusal(b"-BUSY Redis is busy\r\n"));
        assert_eq!(&refusal_reply(b"-NOAUTH HELLO must be...\r\n")[..], NOAUTH);
        assert_eq!(&refusal_reply(b"-WRONGPASS x\r\n")[..], b"-WRONGPASS x\r\n");
    }
}
