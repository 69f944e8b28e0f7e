//! The embedded origin: a small in-process Redis used when no upstream is configured.
//!
//! It exists so that `cargo run` gives a working hotcache with nothing else running,
//! and so tests have an origin without a redis-server. It is not a second database:
//! it covers strings, the keyspace commands, small hashes, SELECT 0, INFO and
//! COMMAND, and for those it answers byte for byte as Redis 7.0 does, errors
//! included, in RESP2 or RESP3. Every other command gets Redis's unknown command
//! error.
//!
//! | file          | owns |
//! |---------------|------|
//! | `mod.rs`      | [`EmbeddedOrigin`], the checks Redis makes before running a command, the list of implemented commands |
//! | `store.rs`    | the keyspace: values, expiry (lazy, plus a small sweep), SCAN order |
//! | `strings.rs`  | GET, SET and the other string commands |
//! | `keyspace.rs` | DEL, EXISTS, EXPIRE and TTL families, TYPE, DBSIZE, FLUSHALL, SCAN, KEYS |
//! | `hashes.rs`   | the hash value (insertion-ordered while small, like a listpack) and its commands |
//! | `server.rs`   | SELECT, INFO, COMMAND |
//! | `glob.rs`     | Redis's `stringmatchlen` for KEYS and SCAN MATCH |
//! | `number.rs`   | `long double` parsing and printing for INCRBYFLOAT, SCAN cursors |

mod glob;
mod hashes;
mod keyspace;
mod number;
mod server;
mod store;
mod strings;

use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::cmd::{self, Lookup};
use crate::protocol::ReplyBuf;
use store::Store;

/// Redis's reply to a command on a key of another type.
const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const SYNTAX: &str = "ERR syntax error";
const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
const NOT_FLOAT: &str = "ERR value is not a valid float";
const OVERFLOW: &str = "ERR increment or decrement would overflow";

/// How many expired keys each command may delete before it runs (the active sweep):
/// keys nobody reads again still go, at a bounded cost per command.
const SWEEP_PER_COMMAND: usize = 16;

/// A small in-process Redis that runs one command at a time.
///
/// Thread-safe; shared by all shard threads through an `Arc`.
#[derive(Debug, Default)]
pub struct EmbeddedOrigin {
    /// One lock around the whole keyspace. The embedded origin plays the part of a
    /// single-threaded redis-server (each command sees and leaves a consistent
    /// keyspace, as Redis's commands do), and it is not on the benchmarked path, so
    /// the simplicity is worth more than parallelism here.
    store: Mutex<Store>,
}

impl EmbeddedOrigin {
    /// An empty keyspace.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs one command (`args[0]` is the command name, any case) and appends the
    /// reply encoded for `out.proto` to `out`. Never panics on any input.
    pub fn execute(&self, args: &[Bytes], out: &mut ReplyBuf) {
        let Some(command) = resolve(args, out) else { return };
        // A panic while the lock was held cannot have come from input (nothing here
        // unwraps input), and the store stays usable after one, so carry on.
        let mut store = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        let now = now_ms();
        store.purge_expired(now, SWEEP_PER_COMMAND);
        let mut cx = Ctx { db: &mut store, out, now };
        (command.run)(&mut cx, args);
    }
}

/// Unix time in milliseconds, the clock Redis keeps expiry times in.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// What a command runs against.
struct Ctx<'a> {
    db: &'a mut Store,
    out: &'a mut ReplyBuf,
    /// The time of this command: one reading, so a command sees one instant.
    now: i64,
}

impl Ctx<'_> {
    fn error(&mut self, msg: impl AsRef<[u8]>) {
        self.out.error(msg);
    }
}

type Handler = fn(&mut Ctx<'_>, &[Bytes]);

/// One command the embedded origin implements.
///
/// Name, arity, flags and key specs come from the command table in [`crate::cmd`];
/// what that table does not carry but COMMAND INFO shows (ACL categories, tips, key
/// spec notes) is here, copied from redis-server 7.0.15, for these commands only.
struct Impl {
    /// Full lowercase name, as in the command table (`command|info`).
    name: &'static str,
    run: Handler,
    acl: &'static [&'static str],
    tips: &'static [&'static str],
    /// The note on the command's (only) key spec, or "".
    notes: &'static str,
}

const fn c(
    name: &'static str,
    run: Handler,
    acl: &'static [&'static str],
    tips: &'static [&'static str],
) -> Impl {
    Impl { name, run, acl, tips, notes: "" }
}

const R_STR_FAST: &[&str] = &["@read", "@string", "@fast"];
const W_STR_FAST: &[&str] = &["@write", "@string", "@fast"];
const W_STR_SLOW: &[&str] = &["@write", "@string", "@slow"];
const K_R_FAST: &[&str] = &["@keyspace", "@read", "@fast"];
const K_W_FAST: &[&str] = &["@keyspace", "@write", "@fast"];
const R_HASH_FAST: &[&str] = &["@read", "@hash", "@fast"];
const R_HASH_SLOW: &[&str] = &["@read", "@hash", "@slow"];
const W_HASH_FAST: &[&str] = &["@write", "@hash", "@fast"];
const CONNECTION: &[&str] = &["@slow", "@connection"];
const MULTI_SUM: &[&str] = &["request_policy:multi_shard", "response_policy:agg_sum"];
const ALL_OK: &[&str] = &["request_policy:all_shards", "response_policy:all_succeeded"];
const UNORDERED: &[&str] = &["nondeterministic_output_order"];
const NONDET: &[&str] = &["nondeterministic_output"];

/// The implemented commands, sorted by name (checked by a test).
static COMMANDS: &[Impl] = &[
    c("append", strings::append, W_STR_FAST, &[]),
    c("command", server::command, CONNECTION, UNORDERED),
    c("command|count", server::command_count, CONNECTION, &[]),
    c("command|docs", server::command_docs, CONNECTION, UNORDERED),
    c("command|info", server::command_info, CONNECTION, UNORDERED),
    c(
        "dbsize",
        keyspace::dbsize,
        K_R_FAST,
        &["request_policy:all_shards", "response_policy:agg_sum"],
    ),
    c("decr", strings::decr, W_STR_FAST, &[]),
    c("decrby", strings::decrby, W_STR_FAST, &[]),
    c("del", keyspace::del, &["@keyspace", "@write", "@slow"], MULTI_SUM),
    c("exists", keyspace::exists, K_R_FAST, MULTI_SUM),
    c("expire", keyspace::expire, K_W_FAST, &[]),
    c("expireat", keyspace::expireat, K_W_FAST, &[]),
    c("expiretime", keyspace::expiretime, K_R_FAST, &[]),
    c("flushall", keyspace::flushall, &["@keyspace", "@write", "@slow", "@dangerous"], ALL_OK),
    c("flushdb", keyspace::flushall, &["@keyspace", "@write", "@slow", "@dangerous"], ALL_OK),
    c("get", strings::get, R_STR_FAST, &[]),
    c("getdel", strings::getdel, W_STR_FAST, &[]),
    Impl {
        notes: "RW and UPDATE because it changes the TTL",
        ..c("getex", strings::getex, W_STR_FAST, &[])
    },
    c("hdel", hashes::hdel, W_HASH_FAST, &[]),
    c("hexists", hashes::hexists, R_HASH_FAST, &[]),
    c("hget", hashes::hget, R_HASH_FAST, &[]),
    c("hgetall", hashes::hgetall, R_HASH_SLOW, UNORDERED),
    c("hincrby", hashes::hincrby, W_HASH_FAST, &[]),
    c("hkeys", hashes::hkeys, R_HASH_SLOW, UNORDERED),
    c("hlen", hashes::hlen, R_HASH_FAST, &[]),
    c("hmget", hashes::hmget, R_HASH_FAST, &[]),
    c("hmset", hashes::hmset, W_HASH_FAST, &[]),
    c("hset", hashes::hset, W_HASH_FAST, &[]),
    c("hvals", hashes::hvals, R_HASH_SLOW, UNORDERED),
    c("incr", strings::incr, W_STR_FAST, &[]),
    c("incrby", strings::incrby, W_STR_FAST, &[]),
    c("incrbyfloat", strings::incrbyfloat, W_STR_FAST, &[]),
    c(
        "info",
        server::info,
        &["@slow", "@dangerous"],
        &["nondeterministic_output", "request_policy:all_shards", "response_policy:special"],
    ),
    c(
        "keys",
        keyspace::keys,
        &["@keyspace", "@read", "@slow", "@dangerous"],
        &["request_policy:all_shards", "nondeterministic_output_order"],
    ),
    c("mget", strings::mget, R_STR_FAST, &["request_policy:multi_shard"]),
    c(
        "mset",
        strings::mset,
        W_STR_SLOW,
        &["request_policy:multi_shard", "response_policy:all_succeeded"],
    ),
    c("persist", keyspace::persist, K_W_FAST, &[]),
    c("pexpire", keyspace::pexpire, K_W_FAST, &[]),
    c("pexpireat", keyspace::pexpireat, K_W_FAST, &[]),
    c("pexpiretime", keyspace::pexpiretime, K_R_FAST, &[]),
    c("pttl", keyspace::pttl, K_R_FAST, NONDET),
    c(
        "scan",
        keyspace::scan,
        &["@keyspace", "@read", "@slow"],
        &["nondeterministic_output", "request_policy:special"],
    ),
    c("select", server::select, &["@fast", "@connection"], &[]),
    Impl {
        notes: "RW and ACCESS due to the optional `GET` argument",
        ..c("set", strings::set, W_STR_SLOW, &[])
    },
    c("setnx", strings::setnx, W_STR_FAST, &[]),
    c("strlen", strings::strlen, R_STR_FAST, &[]),
    c("ttl", keyspace::ttl, K_R_FAST, NONDET),
    c("type", keyspace::type_, K_R_FAST, &[]),
    c("unlink", keyspace::del, &["@keyspace", "@write", "@fast"], MULTI_SUM),
];

/// The implementation of the command with this full lowercase name, if any.
fn implemented(name: &str) -> Option<&'static Impl> {
    COMMANDS.binary_search_by(|i| i.name.cmp(name)).ok().map(|i| &COMMANDS[i])
}

/// Runs Redis's checks before a command (exists, arity) and finds its
/// implementation; on failure writes Redis's error and returns `None`.
fn resolve(args: &[Bytes], out: &mut ReplyBuf) -> Option<&'static Impl> {
    // The command table also holds subcommands under `container|sub`; Redis looks a
    // name up among top-level commands only, so `command|count` is unknown.
    let lookup = match args.first() {
        Some(name) if name.contains(&b'|') => Lookup::Unknown,
        _ => cmd::lookup(args),
    };
    let found = match lookup {
        Lookup::Found(found) => found,
        Lookup::UnknownSub(container) if implemented(container.name()).is_some() => {
            out.error(cmd::unknown_subcommand_error(args));
            return None;
        }
        Lookup::Unknown | Lookup::UnknownSub(_) => {
            out.error(cmd::unknown_command_error(args));
            return None;
        }
    };
    let Some(imp) = implemented(found.name()) else {
        // A subcommand this origin does not implement of a container it does
        // (COMMAND LIST) reads best as an unknown subcommand; anything else is an
        // unknown command, as on a Redis without it.
        match found.name().split_once('|') {
            Some((container, _)) if implemented(container).is_some() => {
                out.error(cmd::unknown_subcommand_error(args));
            }
            _ => {
                out.error(cmd::unknown_command_error(args));
            }
        }
        return None;
    };
    if !found.def.arity_ok(args.len()) {
        out.error(cmd::arity_error(found));
        return None;
    }
    Some(imp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Proto;

    #[test]
    fn table_is_sorted_and_known() {
        for pair in COMMANDS.windows(2) {
            assert!(pair[0].name < pair[1].name, "{} before {}", pair[0].name, pair[1].name);
        }
        for imp in COMMANDS {
            assert!(cmd::by_name(imp.name).is_some(), "{} not in the command table", imp.name);
        }
    }

    fn run(origin: &EmbeddedOrigin, args: &[&[u8]]) -> Vec<u8> {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        let mut out = ReplyBuf::new(Proto::Resp2);
        origin.execute(&args, &mut out);
        out.take().to_vec()
    }

    #[test]
    fn checks_before_running() {
        let o = EmbeddedOrigin::new();
        assert_eq!(run(&o, &[b"get"]), b"-ERR wrong number of arguments for 'get' command\r\n");
        assert_eq!(
            run(&o, &[b"LPUSH", b"a", b"b"]),
            b"-ERR unknown command 'LPUSH', with args beginning with: 'a' 'b' \r\n"
        );
        assert_eq!(
            run(&o, &[b"command|count"]),
            b"-ERR unknown command 'command|count', with args beginning with: \r\n"
        );
        assert_eq!(
            run(&o, &[b"COMMAND", b"list"]),
            b"-ERR unknown subcommand 'list'. Try COMMAND HELP.\r\n"
        );
        assert_eq!(run(&o, &[]), b"-ERR unknown command '', with args beginning with: \r\n");
    }

    #[test]
    fn expiry_is_wall_clock() {
        let o = EmbeddedOrigin::new();
        assert_eq!(run(&o, &[b"SET", b"k", b"v", b"PX", b"30"]), b"+OK\r\n");
        assert_eq!(run(&o, &[b"GET", b"k"]), b"$1\r\nv\r\n");
        std::thread::sleep(std::time::Duration::from_millis(60));
        assert_eq!(run(&o, &[b"GET", b"k"]), b"$-1\r\n");
        assert_eq!(run(&o, &[b"DBSIZE"]), b":0\r\n");
    }
}
