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
//! | `mod.rs`      | [`EmbeddedOrigin`], the checks Redis makes before running a command |
//! | `commands.rs` | the implemented commands, with what COMMAND INFO shows beyond the command table |
//! | `store.rs`    | the keyspace: values, expiry (lazy, plus a small sweep), SCAN order |
//! | `strings.rs`  | GET, SET and the other string commands |
//! | `keyspace.rs` | DEL, EXISTS, EXPIRE and TTL families, TYPE, DBSIZE, FLUSHALL, SCAN, KEYS |
//! | `hashes.rs`   | the hash value (insertion-ordered while small, like a listpack) and its commands |
//! | `server.rs`   | SELECT, INFO, COMMAND |
//! | `glob.rs`     | Redis's `stringmatchlen` for KEYS and SCAN MATCH |
//! | `number.rs`   | `long double` parsing and printing for INCRBYFLOAT, SCAN cursors |

mod commands;
pub(crate) mod glob;
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
use commands::{Impl, implemented};
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

/// Runs Redis's checks before a command (exists, arity) and finds its
/// implementation; on failure writes Redis's error and returns `None`.
fn resolve(args: &[Bytes], out: &mut ReplyBuf) -> Option<&'static Impl> {
    let found = match cmd::lookup(args) {
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
    use super::commands::COMMANDS;
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

    /// Random arguments to every command, in both protocols: no panic, and always
    /// exactly one well-formed reply.
    #[test]
    fn any_input_gives_one_reply() {
        use crate::protocol::ReplyFramer;
        let o = EmbeddedOrigin::new();
        let alphabet: &[&[u8]] = &[
            b"",
            b"0",
            b"1",
            b"-1",
            b"10",
            b"1.5",
            b"9223372036854775807",
            b"-9223372036854775808",
            b"*",
            b"[",
            b"\\",
            b"a",
            b"b",
            b"h",
            b"EX",
            b"PX",
            b"EXAT",
            b"PXAT",
            b"NX",
            b"XX",
            b"GT",
            b"LT",
            b"GET",
            b"KEEPTTL",
            b"PERSIST",
            b"MATCH",
            b"COUNT",
            b"TYPE",
            b"hash",
            b"\0",
            b"\xff",
            b"inf",
            b"0x1p3",
            b"info",
            b"count",
        ];
        let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for i in 0..20_000 {
            let proto = if i % 2 == 0 { Proto::Resp2 } else { Proto::Resp3 };
            let name = COMMANDS[(next() % COMMANDS.len() as u64) as usize].name;
            let name = name.split('|').next().unwrap_or(name);
            let mut args = vec![Bytes::from(name)];
            for _ in 0..next() % 6 {
                args.push(Bytes::from_static(alphabet[(next() % alphabet.len() as u64) as usize]));
            }
            let mut out = ReplyBuf::new(proto);
            o.execute(&args, &mut out);
            let reply = out.take();
            let framed = ReplyFramer::new().next_frame(&reply);
            assert!(
                matches!(framed, Ok(Some((n, _))) if n == reply.len()),
                "{args:?} gave {reply:?}"
            );
        }
    }

    /// A panic while the lock was held does not take the origin down with it.
    #[test]
    fn poisoned_lock_is_recovered() {
        let o = std::sync::Arc::new(EmbeddedOrigin::new());
        let holder = std::sync::Arc::clone(&o);
        let _ = std::thread::spawn(move || {
            let _guard = holder.store.lock();
            panic!("poisoning the store lock on purpose");
        })
        .join();
        assert!(o.store.is_poisoned());
        assert_eq!(run(&o, &[b"SET", b"k", b"v"]), b"+OK\r\n");
        assert_eq!(run(&o, &[b"GET", b"k"]), b"$1\r\nv\r\n");
    }

    #[test]
    fn expiry_is_wall_clock() {
        let o = EmbeddedOrigin::new();
        // A life far above a scheduling delay between the SET and the GET.
        assert_eq!(run(&o, &[b"SET", b"k", b"v", b"PX", b"1000"]), b"+OK\r\n");
        assert_eq!(run(&o, &[b"GET", b"k"]), b"$1\r\nv\r\n");
        std::thread::sleep(std::time::Duration::from_millis(1010));
        assert_eq!(run(&o, &[b"GET", b"k"]), b"$-1\r\n");
        assert_eq!(run(&o, &[b"DBSIZE"]), b":0\r\n");
    }
}
