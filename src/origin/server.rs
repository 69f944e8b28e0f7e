//! SELECT, INFO and COMMAND: the connection and introspection commands clients send
//! on their own (redis-cli sends COMMAND DOCS at start, many clients send SELECT 0).

use bytes::Bytes;

use super::commands::{COMMANDS, Impl, implemented};
use super::number::cstr;
use super::{Ctx, NOT_INTEGER};
use crate::cmd::{
    self, Begin, CommandDef, Find, KeySpec, REDIS_VERSION, flags as F, key_flags as KS,
};
use crate::protocol::{ReplyBuf, string2ll};

/// SELECT: this is a Redis with `databases 1`.
pub(super) fn select(cx: &mut Ctx<'_>, args: &[Bytes]) {
    let Some(id) = string2ll(&args[1]) else { return cx.error(NOT_INTEGER) };
    if i32::try_from(id).is_err() {
        return cx
            .error("ERR value is out of range, value must between -2147483648 and 2147483647");
    }
    if id != 0 {
        return cx.error("ERR DB index is out of range");
    }
    cx.out.ok();
}

/// INFO [section ...]: `server` and `keyspace`, shaped as Redis shapes INFO (sections
/// in a fixed order, a blank line between them, a verbatim string in RESP3).
pub(super) fn info(cx: &mut Ctx<'_>, args: &[Bytes]) {
    let (mut server, mut keyspace) = (args.len() == 1, args.len() == 1);
    for section in &args[1..] {
        let section = cstr(section).to_ascii_lowercase();
        match &section[..] {
            b"server" => server = true,
            b"keyspace" => keyspace = true,
            b"default" | b"all" | b"everything" => (server, keyspace) = (true, true),
            // Redis ignores sections it does not have.
            _ => {}
        }
    }
    let mut text = String::new();
    if server {
        text.push_str("# Server\r\n");
        text.push_str(&format!("redis_version:{REDIS_VERSION}\r\n"));
        text.push_str("redis_mode:standalone\r\n");
        text.push_str("hotcache_embedded_origin:1\r\n");
        text.push_str(
            "hotcache_note:this is hotcache's in-process embedded origin, not a redis-server\r\n",
        );
    }
    if keyspace {
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        text.push_str("# Keyspace\r\n");
        let keys = cx.db.len(cx.now);
        if keys > 0 {
            let expires = cx.db.expires(cx.now);
            text.push_str(&format!("db0:keys={keys},expires={expires},avg_ttl=0\r\n"));
        }
    }
    cx.out.verbatim("txt", text.as_bytes());
}

/// The implemented top-level commands.
fn top_level() -> impl Iterator<Item = &'static Impl> {
    COMMANDS.iter().filter(|i| !i.name.contains('|'))
}

/// COMMAND: the COMMAND INFO reply of every implemented command.
pub(super) fn command(cx: &mut Ctx<'_>, _args: &[Bytes]) {
    cx.out.array(top_level().count());
    for imp in top_level() {
        command_reply(cx.out, imp);
    }
}

pub(super) fn command_count(cx: &mut Ctx<'_>, _args: &[Bytes]) {
    cx.out.int(top_level().count() as i64);
}

/// COMMAND INFO [name ...]: one entry per name, null for a command not implemented.
pub(super) fn command_info(cx: &mut Ctx<'_>, args: &[Bytes]) {
    if args.len() == 2 {
        return command(cx, args);
    }
    cx.out.array(args.len() - 2);
    for name in &args[2..] {
        let lower = String::from_utf8(name.to_ascii_lowercase()).ok();
        match lower.as_deref().filter(|n| n.matches('|').count() <= 1).and_then(implemented) {
            Some(imp) => command_reply(cx.out, imp),
            None => {
                cx.out.null();
            }
        }
    }
}

/// COMMAND DOCS: the embedded origin carries no documentation.
pub(super) fn command_docs(cx: &mut Ctx<'_>, _args: &[Bytes]) {
    cx.out.map(0);
}

/// Command flag names in the order Redis lists them; the flags Redis hides
/// (`may_replicate`, `sentinel`, ...) are never in the table, which was read from
/// Redis's own COMMAND reply.
const FLAG_NAMES: &[(u32, &str)] = &[
    (F::WRITE, "write"),
    (F::READONLY, "readonly"),
    (F::DENYOOM, "denyoom"),
    (F::MODULE, "module"),
    (F::ADMIN, "admin"),
    (F::PUBSUB, "pubsub"),
    (F::NOSCRIPT, "noscript"),
    (F::BLOCKING, "blocking"),
    (F::LOADING, "loading"),
    (F::STALE, "stale"),
    (F::SKIP_MONITOR, "skip_monitor"),
    (F::SKIP_SLOWLOG, "skip_slowlog"),
    (F::ASKING, "asking"),
    (F::FAST, "fast"),
    (F::NO_AUTH, "no_auth"),
    (F::NO_MANDATORY_KEYS, "no_mandatory_keys"),
    (F::NO_ASYNC_LOADING, "no_async_loading"),
    (F::NO_MULTI, "no_multi"),
    (F::MOVABLEKEYS, "movablekeys"),
    (F::ALLOW_BUSY, "allow_busy"),
];

/// Key spec flag names in the order Redis lists them.
const KEY_FLAG_NAMES: &[(u16, &str)] = &[
    (KS::RO, "RO"),
    (KS::RW, "RW"),
    (KS::OW, "OW"),
    (KS::RM, "RM"),
    (KS::ACCESS, "access"),
    (KS::UPDATE, "update"),
    (KS::INSERT, "insert"),
    (KS::DELETE, "delete"),
    (KS::NOT_KEY, "not_key"),
    (KS::INCOMPLETE, "incomplete"),
    (KS::VARIABLE_FLAGS, "variable_flags"),
];

/// One command's entry, shaped as Redis 7.0's `addReplyCommandInfo`.
fn command_reply(out: &mut ReplyBuf, imp: &Impl) {
    let Some(command) = cmd::by_name(imp.name) else {
        out.null();
        return;
    };
    let def: &CommandDef = command.def;
    out.array(10).bulk(def.name.as_bytes()).int(i64::from(def.arity));
    let flags: Vec<&str> =
        FLAG_NAMES.iter().filter(|(bit, _)| def.has(*bit)).map(|(_, n)| *n).collect();
    out.set(flags.len());
    for f in flags {
        out.simple(f);
    }
    let [first, last, step] = def.legacy_keys;
    out.int(i64::from(first)).int(i64::from(last)).int(i64::from(step));
    out.set(imp.acl.len());
    for category in imp.acl {
        out.simple(category);
    }
    out.set(imp.tips.len());
    for tip in imp.tips {
        out.bulk(tip.as_bytes());
    }
    // Redis sends the key specs as a set, and subcommands as an array, or as an
    // empty set when the command has none.
    out.set(def.key_specs.len());
    for spec in def.key_specs {
        key_spec_reply(out, spec, imp.notes);
    }
    // Only the subcommands implemented here (COMMAND's COUNT, DOCS, INFO).
    let prefix = format!("{}|", def.name);
    let subs: Vec<&Impl> = COMMANDS.iter().filter(|i| i.name.starts_with(&prefix)).collect();
    if subs.is_empty() {
        out.set(0);
    } else {
        out.array(subs.len());
    }
    for sub in subs {
        command_reply(out, sub);
    }
}

fn key_spec_reply(out: &mut ReplyBuf, spec: &KeySpec, notes: &str) {
    out.map(if notes.is_empty() { 3 } else { 4 });
    if !notes.is_empty() {
        out.bulk(b"notes").bulk(notes.as_bytes());
    }
    let flags: Vec<&str> =
        KEY_FLAG_NAMES.iter().filter(|(bit, _)| spec.flags & bit != 0).map(|(_, n)| *n).collect();
    out.bulk(b"flags").set(flags.len());
    for f in flags {
        out.simple(f);
    }
    out.bulk(b"begin_search").map(2).bulk(b"type");
    match spec.begin {
        Begin::Index(i) => {
            out.bulk(b"index").bulk(b"spec").map(1).bulk(b"index").int(i64::from(i));
        }
        Begin::Keyword(word, from) => {
            out.bulk(b"keyword").bulk(b"spec").map(2);
            out.bulk(b"keyword").bulk(word.as_bytes()).bulk(b"startfrom").int(i64::from(from));
        }
        Begin::Unknown => {
            out.bulk(b"unknown").bulk(b"spec").map(0);
        }
    }
    out.bulk(b"find_keys").map(2).bulk(b"type");
    match spec.find {
        Find::Range { lastkey, step, limit } => {
            out.bulk(b"range").bulk(b"spec").map(3);
            out.bulk(b"lastkey").int(i64::from(lastkey)).bulk(b"keystep").int(i64::from(step));
            out.bulk(b"limit").int(i64::from(limit));
        }
        Find::KeyNum { keynumidx, firstkey, step } => {
            out.bulk(b"keynum").bulk(b"spec").map(3);
            out.bulk(b"keynumidx").int(i64::from(keynumidx));
            out.bulk(b"firstkey").int(i64::from(firstkey));
            out.bulk(b"keystep").int(i64::from(step));
        }
        Find::Unknown => {
            out.bulk(b"unknown").bulk(b"spec").map(0);
        }
    }
}
