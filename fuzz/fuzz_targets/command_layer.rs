//! Command layer: client bytes through `RequestParser`, every command run on one
//! `EmbeddedOrigin`, and looked up in hotcache's command table.
//!
//! Checks, for every parsed command:
//! - the command table: `lookup` never panics, and for a found command
//!   `command_keys` never panics and only names arguments 1.. of the command,
//!   also with each of its first arguments replaced by a boundary number;
//! - the origin: `execute` never panics and appends exactly one reply frame
//!   (`ReplyFramer`), well formed for the protocol (no RESP3 types in RESP2, no
//!   RESP2 nulls in RESP3, no CR/LF inside a line, integers that parse), never a
//!   push; an error starts with an upper-case code;
//! - the origin agrees with the command table: an unknown command's reply is the
//!   unknown-command error, an arity error only for a wrong argument count;
//! - after a command, the keys it named are consistent: TYPE agrees with EXISTS
//!   and PTTL, a string's GET and STRLEN agree, a hash's HLEN, HKEYS, HVALS,
//!   HGETALL and HGET agree; right after SET ... OK the key is that string;
//! - the whole keyspace (after every command with option bit 1, else at the end):
//!   DBSIZE is the number of keys KEYS * lists, KEYS lists no key twice, INFO's
//!   `keys=` is DBSIZE, and with no TTL anywhere a full SCAN returns exactly the
//!   keys KEYS * returns.
//!
//! Keys with a TTL may expire between two checks (the origin follows the wall
//! clock); every check involving one is arranged so that it holds whenever the
//! key does expire in between, so the target stays deterministic in what it
//! reports.
//!
//! Options (byte 0): bit 0 = RESP3; bit 1 = check the whole keyspace after every
//! command (not only at the end). Byte 1 cuts the payload into reads, as in the
//! other targets (see `split.rs`).

#![no_main]

mod split;

use std::collections::HashSet;

use bytes::{Bytes, BytesMut};
use hotcache::cmd::{self, Lookup};
use hotcache::origin::EmbeddedOrigin;
use hotcache::protocol::{
    FrameKind, ParseOutcome, Proto, ReplyBuf, ReplyFramer, RequestLimits, RequestParser, string2ll,
};
use libfuzzer_sys::fuzz_target;

/// Most commands run per input: a bound on the time one input may take, since
/// every command is followed by checks that are themselves commands.
const MAX_COMMANDS: usize = 512;

/// A decoded reply, as much as the checks need.
#[derive(Debug, Clone, PartialEq)]
enum Reply {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Vec<u8>),
    Null,
    /// Arrays, sets, pushes; a map is flattened into its keys and values.
    Array(Vec<Reply>),
    /// Anything else (doubles, booleans, verbatim strings, big numbers).
    Other(Vec<u8>),
}

impl Reply {
    fn as_int(&self) -> Option<i64> {
        match self {
            Reply::Int(n) => Some(*n),
            _ => None,
        }
    }
}

/// One reply element's header line: (type byte, the line without its CRLF, the
/// offset after the line).
fn line(buf: &[u8], at: usize) -> (u8, &[u8], usize) {
    let t = buf[at];
    let nl = memchr(b'\n', &buf[at..]).expect("the framer saw a whole frame") + at;
    assert!(nl >= at + 2 && buf[nl - 1] == b'\r', "line without CRLF in {buf:?}");
    let body = &buf[at + 1..nl - 1];
    assert!(!body.contains(&b'\r'), "a CR inside a line: {buf:?}");
    (t, body, nl + 1)
}

fn memchr(c: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == c)
}

/// Decodes one whole reply starting at `at`, checking that it is well formed for
/// `proto`; returns it and the offset after it. Replies are small and shallow
/// here (the framer has already bounded the depth), so recursion is fine.
fn decode(buf: &[u8], at: usize, proto: Proto) -> (Reply, usize) {
    let (t, body, next) = line(buf, at);
    let resp3 = proto == Proto::Resp3;
    let len = || -> i64 {
        let n = string2ll(body).unwrap_or_else(|| panic!("bad length line in {buf:?}"));
        assert!(n >= -1, "negative length in {buf:?}");
        n
    };
    match t {
        b'+' => (Reply::Simple(body.to_vec()), next),
        b'-' => {
            // An error starts with its code: upper-case letters, then a space.
            let code_len = body.iter().take_while(|c| c.is_ascii_uppercase()).count();
            assert!(
                code_len > 0 && body.get(code_len) == Some(&b' '),
                "error without a code: {:?}",
                String::from_utf8_lossy(body)
            );
            (Reply::Error(body.to_vec()), next)
        }
        b':' => {
            let n = string2ll(body).unwrap_or_else(|| panic!("bad integer in {buf:?}"));
            (Reply::Int(n), next)
        }
        b'$' | b'=' => {
            let n = len();
            if n == -1 {
                assert!(t == b'$' && !resp3, "RESP2 null bulk in RESP3: {buf:?}");
                return (Reply::Null, next);
            }
            assert!(t == b'$' || resp3, "verbatim string in RESP2: {buf:?}");
            let end = next + n as usize;
            assert_eq!(&buf[end..end + 2], b"\r\n", "bulk without CRLF in {buf:?}");
            let v = buf[next..end].to_vec();
            if t == b'=' {
                assert!(v.len() >= 4 && v[3] == b':', "verbatim without a format: {buf:?}");
                (Reply::Other(v), end + 2)
            } else {
                (Reply::Bulk(v), end + 2)
            }
        }
        b'*' | b'~' | b'%' => {
            assert!(t == b'*' || resp3, "RESP3 aggregate in RESP2: {buf:?}");
            let n = len();
            if n == -1 {
                assert!(t == b'*' && !resp3, "RESP2 null array in RESP3: {buf:?}");
                return (Reply::Null, next);
            }
            let n = if t == b'%' { 2 * n } else { n };
            let mut items = Vec::new();
            let mut at = next;
            for _ in 0..n {
                let (item, after) = decode(buf, at, proto);
                items.push(item);
                at = after;
            }
            (Reply::Array(items), at)
        }
        b'_' | b',' | b'#' | b'(' => {
            assert!(resp3, "RESP3 type {:?} in RESP2: {buf:?}", char::from(t));
            match t {
                b'_' => assert!(body.is_empty()),
                b'#' => assert!(body == b"t" || body == b"f"),
                _ => assert!(!body.is_empty()),
            }
            (if t == b'_' { Reply::Null } else { Reply::Other(body.to_vec()) }, next)
        }
        other => panic!("reply type {:?} the origin must not send: {buf:?}", char::from(other)),
    }
}

/// The origin under test, the protocol of its replies, and one reply buffer
/// that every command appends to (as a connection's output buffer would).
struct Client {
    origin: EmbeddedOrigin,
    out: ReplyBuf,
}

impl Client {
    /// Runs one command and checks that it appended exactly one well-formed reply.
    fn run(&mut self, args: &[Bytes]) -> Reply {
        let before = self.out.buf.len();
        self.origin.execute(args, &mut self.out);
        let appended = &self.out.buf[before..];
        assert!(!appended.is_empty(), "no reply to {args:?}");
        match ReplyFramer::new().next_frame(appended) {
            Ok(Some((len, kind))) => {
                assert_eq!(len, appended.len(), "more than one frame for {args:?}: {appended:?}");
                assert_ne!(kind, FrameKind::Push, "a push as the reply to {args:?}");
            }
            other => panic!("reply to {args:?} is not one frame ({other:?}): {appended:?}"),
        }
        let (reply, end) = decode(appended, 0, self.out.proto);
        assert_eq!(end, appended.len());
        // Keep the buffer small: what was appended has been checked.
        if self.out.buf.len() > 1 << 16 {
            self.out.buf.clear();
        }
        reply
    }

    /// Runs a check command; it must not fail.
    fn ask(&mut self, args: &[&[u8]]) -> Reply {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        let reply = self.run(&args);
        assert!(!matches!(reply, Reply::Error(_)), "check {args:?} failed: {reply:?}");
        reply
    }

    fn int(&mut self, args: &[&[u8]]) -> i64 {
        let reply = self.ask(args);
        reply.as_int().unwrap_or_else(|| panic!("{args:?} gave {reply:?}, not an integer"))
    }

    /// The bulk strings of an array reply.
    fn strings(&mut self, args: &[&[u8]]) -> Vec<Vec<u8>> {
        match self.ask(args) {
            Reply::Array(items) => items
                .into_iter()
                .map(|i| match i {
                    Reply::Bulk(b) => b,
                    other => panic!("{args:?} gave {other:?} in its array"),
                })
                .collect(),
            other => panic!("{args:?} gave {other:?}, not an array"),
        }
    }

    fn type_of(&mut self, key: &[u8]) -> Vec<u8> {
        match self.ask(&[b"TYPE", key]) {
            Reply::Simple(t) => t,
            other => panic!("TYPE gave {other:?}"),
        }
    }

    /// Checks the invariants of one key. A key with a TTL may expire at any point
    /// in between, so the checks are only made when its PTTL says it has none
    /// (then nothing but a command can change it) or no key (same).
    fn check_key(&mut self, key: &[u8]) {
        let pttl = self.int(&[b"PTTL", key]);
        assert!(pttl >= -2, "PTTL {pttl}");
        if pttl >= 0 {
            // It may expire while being checked; only its TTL can be compared.
            let ttl = self.int(&[b"TTL", key]);
            assert!(ttl == -2 || (0..=pttl / 1000 + 1).contains(&ttl), "TTL {ttl} PTTL {pttl}");
            return;
        }
        let exists = self.int(&[b"EXISTS", key]);
        let ty = self.type_of(key);
        if pttl == -2 {
            assert_eq!(exists, 0, "no TTL says no key, EXISTS says {exists}");
            assert_eq!(ty, b"none");
            assert_eq!(self.ask(&[b"GET", key]), Reply::Null);
            assert_eq!(self.int(&[b"HLEN", key]), 0);
            return;
        }
        assert_eq!(exists, 1, "PTTL -1 but EXISTS 0");
        match &ty[..] {
            b"string" => {
                let Reply::Bulk(v) = self.ask(&[b"GET", key]) else { panic!("GET of a string") };
                assert_eq!(self.int(&[b"STRLEN", key]), v.len() as i64);
                assert_eq!(self.int(&[b"EXPIRETIME", key]), -1);
            }
            b"hash" => {
                let len = self.int(&[b"HLEN", key]);
                assert!(len > 0, "an empty hash exists");
                let fields = self.strings(&[b"HKEYS", key]);
                let values = self.strings(&[b"HVALS", key]);
                let all = self.strings(&[b"HGETALL", key]);
                assert_eq!(fields.len() as i64, len);
                assert_eq!(values.len() as i64, len);
                assert_eq!(all.len() as i64, 2 * len);
                let unique: HashSet<&Vec<u8>> = fields.iter().collect();
                assert_eq!(unique.len(), fields.len(), "a field listed twice");
                for (i, pair) in all.chunks(2).enumerate() {
                    assert_eq!(pair[0], fields[i], "HGETALL and HKEYS order differ");
                    assert_eq!(pair[1], values[i], "HGETALL and HVALS order differ");
                }
                // HGET of every field is bounded: few fields with small inputs.
                for (f, v) in fields.iter().zip(&values).take(16) {
                    assert_eq!(self.ask(&[b"HGET", key, f]), Reply::Bulk(v.clone()));
                    assert_eq!(self.int(&[b"HEXISTS", key, f]), 1);
                }
            }
            other => panic!("TYPE {:?}", String::from_utf8_lossy(other)),
        }
    }

    /// Checks the keyspace as a whole.
    fn check_keyspace(&mut self) {
        let before = self.int(&[b"DBSIZE"]);
        let keys = self.strings(&[b"KEYS", b"*"]);
        let after = self.int(&[b"DBSIZE"]);
        // Keys only go (expire) between these calls, never come.
        assert!(
            after <= keys.len() as i64 && keys.len() as i64 <= before,
            "{before} {keys:?} {after}"
        );
        let unique: HashSet<&Vec<u8>> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len(), "KEYS lists a key twice");
        let info = match self.ask(&[b"INFO", b"keyspace"]) {
            Reply::Bulk(t) => t,
            Reply::Other(t) => t[4..].to_vec(),
            other => panic!("INFO gave {other:?}"),
        };
        let info = String::from_utf8(info).expect("INFO is text");
        let field = |name: &str| -> i64 {
            info.split(['\r', '\n', ',', ':'])
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
                .unwrap_or(0)
        };
        let (info_keys, expires) = (field("keys"), field("expires"));
        let again = self.int(&[b"DBSIZE"]);
        assert!(again <= info_keys && info_keys <= after, "INFO keys={info_keys}");
        if expires > 0 || again != before {
            return;
        }
        // No TTL anywhere: nothing can change until the next command.
        let mut scanned = Vec::new();
        let mut cursor = b"0".to_vec();
        for _ in 0..=keys.len() + 1 {
            let Reply::Array(parts) = self.ask(&[b"SCAN", &cursor, b"COUNT", b"3"]) else {
                panic!("SCAN reply")
            };
            let [Reply::Bulk(next), Reply::Array(found)] = &parts[..] else {
                panic!("SCAN reply {parts:?}")
            };
            for k in found {
                let Reply::Bulk(k) = k else { panic!("SCAN key {k:?}") };
                scanned.push(k.clone());
            }
            cursor = next.clone();
            if cursor == b"0" {
                break;
            }
        }
        assert_eq!(cursor, b"0", "SCAN did not finish");
        let mut sorted_keys = keys.clone();
        sorted_keys.sort();
        scanned.sort();
        assert_eq!(scanned, sorted_keys, "SCAN and KEYS * differ");
    }
}

/// Numbers that key counts and indexes are read from: boundaries a fuzzer is
/// slow to put in exactly the right argument of exactly the right command.
const EDGE_NUMBERS: &[&[u8]] = &[
    b"-1",
    b"0",
    b"2147483647",
    b"2147483648",
    b"4294967297",
    b"9223372036854775805",
    b"9223372036854775807",
    b"-9223372036854775808",
];

/// `command_keys` names only arguments of the command, never its name.
fn check_keys(c: &cmd::Command, args: &[Bytes]) {
    for k in cmd::command_keys(c.def, args).keys {
        assert!(
            (1..args.len()).contains(&k.index),
            "{} key index {} of {} arguments: {args:?}",
            c.name(),
            k.index,
            args.len()
        );
    }
}

/// The command table: lookup and key extraction on arbitrary arguments.
fn check_table(args: &[Bytes]) -> Lookup {
    let lookup = cmd::lookup(args);
    match &lookup {
        Lookup::Found(c) => {
            check_keys(c, args);
            // The same command with each of its first arguments replaced by a
            // boundary number (the key extraction is cheap next to the origin).
            if !c.def.key_specs.is_empty() {
                let mut variant = args.to_vec();
                for i in 1..args.len().min(8) {
                    for n in EDGE_NUMBERS {
                        variant[i] = Bytes::from_static(n);
                        check_keys(c, &variant);
                    }
                    variant[i] = args[i].clone();
                }
            }
        }
        Lookup::UnknownSub(c) => {
            assert!(!c.def.subcommands.is_empty(), "an unknown subcommand of {}", c.name());
            assert!(args.len() >= 2, "an unknown subcommand of {} without one", c.name());
        }
        Lookup::Unknown => {}
    }
    lookup
}

/// Runs a parsed command and checks it against the table and the keyspace.
fn command(client: &mut Client, args: &[Bytes]) {
    let lookup = check_table(args);
    let reply = client.run(args);
    let found = match &lookup {
        Lookup::Found(c) => Some(*c),
        _ => None,
    };
    match &reply {
        Reply::Error(e) if e.starts_with(b"ERR unknown command") => {
            // Not in the table, or in it but not implemented by the origin.
            return;
        }
        Reply::Error(e) if e.starts_with(b"ERR unknown subcommand") => {
            let sub = matches!(lookup, Lookup::UnknownSub(_))
                || found.is_some_and(|c| c.name().contains('|'));
            assert!(sub, "unknown subcommand error for {args:?}");
            return;
        }
        Reply::Error(e) if e.starts_with(b"ERR wrong number of arguments") => {
            let c = found.unwrap_or_else(|| panic!("{args:?} not in the table: {reply:?}"));
            // MSET, HSET and HMSET count their pairs themselves.
            let own = matches!(c.name(), "mset" | "hset" | "hmset");
            assert!(own || !c.def.arity_ok(args.len()), "arity error for {args:?}");
            return;
        }
        _ => {}
    }
    // The command ran (and perhaps failed): it is in the table, with its arity.
    let c = found.unwrap_or_else(|| panic!("{args:?} is not in the command table: {reply:?}"));
    assert!(c.def.arity_ok(args.len()), "{} ran with {} arguments", c.name(), args.len());
    if !matches!(reply, Reply::Error(_)) {
        after_success(client, args, c, &reply);
    }
    for k in cmd::command_keys(c.def, args).keys {
        client.check_key(&args[k.index]);
    }
}

/// Checks right after a command that succeeded.
fn after_success(client: &mut Client, args: &[Bytes], c: &cmd::Command, reply: &Reply) {
    if c.name() == "set" && *reply == Reply::Simple(b"OK".to_vec()) {
        // Right after SET: that string, unless an expiry option (perhaps a time
        // already past, which Redis accepts) or a TTL kept has removed it already.
        let may_expire = args[3..].iter().any(|a| {
            let a = a.split(|&b| b == 0).next().unwrap_or(a);
            ["ex", "px", "exat", "pxat", "keepttl"]
                .iter()
                .any(|o| a.eq_ignore_ascii_case(o.as_bytes()))
        });
        let ty = client.type_of(&args[1]);
        if ty == b"none" {
            assert!(may_expire, "SET {:?} OK, then no key", args[1]);
        } else {
            assert_eq!(ty, b"string", "SET then TYPE");
            match client.ask(&[b"GET", &args[1]]) {
                Reply::Bulk(v) => assert_eq!(v, args[2][..], "SET then GET"),
                // Expired in between.
                Reply::Null => assert!(may_expire),
                other => panic!("GET after SET gave {other:?}"),
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = split::read(data) else { return };
    let proto = if input.flags & 1 != 0 { Proto::Resp3 } else { Proto::Resp2 };
    let every_command = input.flags & 2 != 0;
    let mut client = Client { origin: EmbeddedOrigin::new(), out: ReplyBuf::new(proto) };
    let limits = RequestLimits::default();
    let mut parser = RequestParser::new();
    let mut buf = BytesMut::new();
    let mut commands = 0;
    'input: for piece in &input.pieces {
        buf.extend_from_slice(piece);
        loop {
            match parser.parse(&mut buf, &limits, false) {
                ParseOutcome::Command(r) => {
                    command(&mut client, &r.args);
                    if every_command {
                        client.check_keyspace();
                    }
                    commands += 1;
                    if commands == MAX_COMMANDS {
                        break 'input;
                    }
                }
                ParseOutcome::Incomplete => break,
                // The server replies with the error and closes the connection.
                ParseOutcome::Error(_) => break 'input,
            }
        }
    }
    client.check_keyspace();
});
