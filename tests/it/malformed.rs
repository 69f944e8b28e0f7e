//! Malformed input: for each input, a fresh connection to Redis and one to
//! hotcache get the same bytes, and must answer the same bytes and close (or
//! stay open) the same way. Meanwhile another client of hotcache keeps working.
//!
//! "No more data" is decided by a short quiet period once everything is
//! written; hotcache, one hop further, is given more time whenever what it sent
//! so far is still on the way to what Redis sent.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{Hotcache, RawClient, RedisServer, encode};
use crate::differential::show;

/// Silence after the last byte (read or written) that ends an exchange.
const QUIET: Duration = Duration::from_millis(300);
/// How long hotcache may take to catch up with Redis's answer.
const PATIENCE: Duration = Duration::from_secs(5);
/// Pause between the writes of a multi-part input, so each arrives on its own.
const PART_GAP: Duration = Duration::from_millis(20);

/// What a server did with one input.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Outcome {
    reply: Vec<u8>,
    closed: bool,
}

/// One malformed (or odd) input, sent in one or several writes.
struct Input {
    name: String,
    parts: Vec<Vec<u8>>,
}

fn one(name: &str, bytes: &[u8]) -> Input {
    Input { name: name.to_string(), parts: vec![bytes.to_vec()] }
}

fn parts(name: &str, parts: &[&[u8]]) -> Input {
    Input { name: name.to_string(), parts: parts.iter().map(|p| p.to_vec()).collect() }
}

/// Sends `input` on a fresh connection to `port` and collects what comes back.
/// With a `reference` (Redis's outcome), waits longer while the reply so far is
/// a prefix of it, or while only the close is missing.
fn exchange(port: u16, input: &Input, reference: Option<&Outcome>) -> Outcome {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream.set_read_timeout(Some(Duration::from_millis(20))).expect("timeout");
    // A server that neither reads nor closes ends the writing too.
    stream.set_write_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let mut writer = stream.try_clone().expect("clone");
    let written: Arc<Mutex<Option<Instant>>> = Arc::default();
    let parts = input.parts.clone();
    let done = written.clone();
    // A server that closes early makes the rest of a large write fail: that is
    // expected, so write errors only end the writing.
    let w = std::thread::spawn(move || {
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                std::thread::sleep(PART_GAP);
            }
            if writer.write_all(p).is_err() {
                break;
            }
        }
        *done.lock().expect("lock") = Some(Instant::now());
    });
    let start = Instant::now();
    let mut last_read = start;
    let mut reply = Vec::new();
    let mut closed = false;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => {
                reply.extend_from_slice(&buf[..n]);
                last_read = Instant::now();
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => {
                // Reset by the peer: it closed with our input unread.
                closed = true;
                break;
            }
        }
        let Some(written_at) = *written.lock().expect("lock") else { continue };
        if last_read.max(written_at).elapsed() < QUIET {
            continue;
        }
        let catching_up = reference.is_some_and(|r| {
            (r.reply.len() > reply.len() && r.reply.starts_with(&reply))
                || (r.reply == reply && r.closed && !closed)
        });
        if !catching_up || start.elapsed() > PATIENCE {
            break;
        }
    }
    let _ = w.join();
    Outcome { reply, closed }
}

/// Runs every input against Redis and hotcache in parallel (each on its own
/// connections) and returns the differences.
fn compare_inputs(redis: u16, hotcache: u16, inputs: &[Input]) -> Vec<String> {
    std::thread::scope(|s| {
        let handles: Vec<_> = inputs
            .iter()
            .map(|input| {
                s.spawn(move || {
                    let a = exchange(redis, input, None);
                    let h = exchange(hotcache, input, Some(&a));
                    (a != h).then(|| {
                        format!(
                            "`{}`:\n    redis    closed={} {}\n    hotcache closed={} {}",
                            input.name,
                            a.closed,
                            show(&a.reply),
                            h.closed,
                            show(&h.reply)
                        )
                    })
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().expect("input thread")).collect()
    })
}

/// A client that keeps using hotcache while the inputs run, and records the
/// first wrong answer.
struct Bystander {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Result<u64, String>>>,
}

impl Bystander {
    fn start(port: u16) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut c = RawClient::connect(port);
            let mut rounds = 0u64;
            while !flag.load(Ordering::Relaxed) {
                let key = format!("bystander:{rounds}");
                let value = format!("value-{rounds}");
                let expect = format!("${}\r\n{value}\r\n", value.len());
                let checks: [(Vec<u8>, Vec<u8>); 3] = [
                    (c.try_cmd(&["PING"]).map_err(|e| e.to_string())?, b"+PONG\r\n".to_vec()),
                    (
                        c.try_cmd(&["SET", &key, &value]).map_err(|e| e.to_string())?,
                        b"+OK\r\n".to_vec(),
                    ),
                    (c.try_cmd(&["GET", &key]).map_err(|e| e.to_string())?, expect.into_bytes()),
                ];
                for (got, want) in checks {
                    if got != want {
                        return Err(format!(
                            "round {rounds}: got {} want {}",
                            show(&got),
                            show(&want)
                        ));
                    }
                }
                rounds += 1;
            }
            Ok(rounds)
        });
        Self { stop, thread: Some(thread) }
    }

    /// Stops and returns the number of good rounds, or the first bad answer.
    fn finish(mut self) -> Result<u64, String> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            _ => Err("bystander thread panicked".into()),
        }
    }
}

/// Inputs that break (or bend) the protocol, for a client with no password to
/// give.
fn inputs() -> Vec<Input> {
    let nested = |depth: usize| {
        let mut v = b"*1\r\n".repeat(depth);
        v.extend_from_slice(b"$4\r\nPING\r\n");
        v
    };
    let big = 70 * 1024;
    let mut long_inline = vec![b'a'; big];
    long_inline.extend_from_slice(b"\r");
    let mut long_count = b"*".to_vec();
    long_count.extend(std::iter::repeat_n(b'1', big));
    let mut long_bulk_count = b"*1\r\n$".to_vec();
    long_bulk_count.extend(std::iter::repeat_n(b'1', big));
    let mut long_name = format!("*1\r\n${big}\r\n").into_bytes();
    long_name.extend(std::iter::repeat_n(b'x', big));
    long_name.extend_from_slice(b"\r\n");
    let mut pong_then_long = b"PING\r\n".to_vec();
    pong_then_long.extend(std::iter::repeat_n(b'z', big));
    let echo = b"*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n";
    vec![
        // Multibulk and bulk lengths.
        one("*x", b"*x\r\n"),
        one("* (empty count)", b"*\r\n"),
        one("*+1", b"*+1\r\n$4\r\nPING\r\n"),
        one("*01", b"*01\r\n$4\r\nPING\r\n"),
        one("*1 with a space", b"*1 \r\n$4\r\nPING\r\n"),
        one("*-5 alone", b"*-5\r\n"),
        one("*-5 then PING", b"*-5\r\n*1\r\n$4\r\nPING\r\n"),
        one("*-1 then PING", b"*-1\r\n*1\r\n$4\r\nPING\r\n"),
        one("*0 then PING", b"*0\r\n*1\r\n$4\r\nPING\r\n"),
        one("*-1 alone", b"*-1\r\n"),
        one("*0 alone", b"*0\r\n"),
        one("*2147483648", b"*2147483648\r\n"),
        one("*2147483647 (accepted, waits)", b"*2147483647\r\n$4\r\nPING\r\n"),
        one("*99999999999999999999", b"*99999999999999999999\r\n"),
        one("$-1", b"*1\r\n$-1\r\n"),
        one("$-0", b"*2\r\n$3\r\nGET\r\n$-0\r\n"),
        one("$ (empty length)", b"*1\r\n$\r\n"),
        one("$abc", b"*1\r\n$abc\r\n"),
        one("$99999999999", b"*1\r\n$99999999999\r\n"),
        one("$536870913 (over proto-max-bulk-len)", b"*1\r\n$536870913\r\n"),
        one("$536870912 (at proto-max-bulk-len, waits)", b"*1\r\n$536870912\r\n"),
        one("$3 then ab", b"*1\r\n$3\r\nab"),
        one("$3 then abc, no CRLF", b"*1\r\n$3\r\nabc"),
        one("bulk followed by two bytes that are not CRLF", b"*1\r\n$3\r\nabcXY"),
        one("PING with xx instead of CRLF, then PING", b"*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n"),
        one("bulk ends with LF LF", b"*1\r\n$4\r\nPING\n\n"),
        one("2 of 3 arguments", b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n"),
        one("$ without CR", b"*1\r\n$"),
        one("no final CRLF", b"*1\r\n$4\r\nPING"),
        one("empty command name", b"*1\r\n$0\r\n\r\n"),
        one("two empty arguments", b"*2\r\n$0\r\n\r\n$0\r\n\r\n"),
        one("multibulk with LF only", b"*1\n$4\nPING\n"),
        one("CR without LF in multibulk", b"*1\r$4\rPING\r\n"),
        one("CR plus filler in multibulk", b"*1\rx$4\rxPING\r\n"),
        // expected '$', got ...
        one("got 'x'", b"*1\r\nxyz\r\n"),
        one("got ':'", b"*1\r\n:1\r\n"),
        one("got '+'", b"*2\r\n$4\r\nECHO\r\n+hi\r\n"),
        one("got '*'", b"*1\r\n*1\r\n"),
        one("got CR", b"*1\r\n\r\n"),
        one("got a control byte", b"*1\r\n\x01\r\n"),
        one("got a high byte", b"*1\r\n\xff\r\n"),
        one("nested 10 deep", &nested(10)),
        one("nested 100000 deep", &nested(100_000)),
        // Limits on lines.
        one("70 KB inline line without LF", &long_inline),
        one("70 KB count line without CR", &long_count),
        one("70 KB bulk length line without CR", &long_bulk_count),
        one("70 KB command name", &long_name),
        one("PING then 70 KB without LF", &pong_then_long),
        // Inline commands.
        one("unbalanced double quote", b"set \"a\r\n"),
        one("unbalanced single quote", b"set 'a\r\n"),
        one("closing quote followed by a letter", b"get \"a\"b\r\n"),
        one("escapes", b"set mf:esc \"\\x41\\n\\x00\\t\"\r\nget mf:esc\r\nstrlen mf:esc\r\n"),
        one("single-quote escape", b"set mf:sq 'a\\'b\\n'\r\nget mf:sq\r\n"),
        one("bad hex escape", b"echo \"\\xZZ\\x4\"\r\n"),
        one("blank lines", b"\r\n\r\n\r\n"),
        one("CRLF alone", b"\r\n"),
        one("LF alone", b"\n"),
        one("spaces only", b"    \r\n"),
        one("NUL in an inline command", b"ECHO a\x00b\r\n"),
        one("NUL first", b"\x00PING\r\n"),
        parts("NUL then a good command", &[b"PING\x00\r\n", b"PING\r\n"]),
        one("lowercase", b"ping\r\n"),
        one("mixed case", b"PiNg\r\necho MiXeD\r\n"),
        one("mixed case multibulk", b"*1\r\n$4\r\npInG\r\n"),
        one("inline with CR and no LF", b"PING\r"),
        one("inline with a CR inside", b"PING\rPING\r\n"),
        one("inline unknown command", b"FOO bar 'b a z'\r\n"),
        one("bulk header as an inline command", b"$4\r\nPING\r\n"),
        one("simple string as an inline command", b"+PING\r\n"),
        one("RESP3 map as an inline command", b"%1\r\n$1\r\na\r\n$1\r\nb\r\n"),
        one("space before *", b" *1\r\n$4\r\nPING\r\n"),
        one("inline with 200 arguments", format!("ECHO{}\r\n", " x".repeat(200)).as_bytes()),
        // Valid commands, then garbage in the same write.
        one("PING then *x", b"PING\r\n*x\r\n"),
        one("SET and GET then nested", b"SET mf:k v\r\nGET mf:k\r\n*1\r\n*1\r\n"),
        one("multibulk PING then $garbage", b"*1\r\n$4\r\nPING\r\n$garbage\r\n"),
        one(
            "forwarded GET then bad length",
            b"SET mf:k2 v2\r\n*2\r\n$3\r\nGET\r\n$5\r\nmf:k2\r\n*1\r\n$-1\r\n",
        ),
        one("PING then unbalanced quotes", b"PING\r\nECHO \"x\r\nPING\r\n"),
        one("QUIT then more", b"PING\r\nQUIT\r\nPING\r\n"),
        one("valid, then trailing CRLF", b"*1\r\n$4\r\nPING\r\n\r\n"),
        // Several writes.
        parts(
            "ECHO cut everywhere",
            &[&echo[..1], &echo[1..3], &echo[3..4], &echo[4..9], &echo[9..17], &echo[17..]],
        ),
        parts("inline cut", &[b"PI", b"NG\r", b"\n"]),
        parts("error header cut", &[b"*1\r\n", b"$-", b"1\r\n"]),
        parts("bulk body cut", &[b"*2\r\n$4\r\nECHO\r\n$10\r\n01234", b"56789\r", b"\n"]),
        parts("count line cut before LF", &[b"*1\r", b"\n$4\r\nPING\r\n"]),
        parts("good then bad in a second write", &[b"PING\r\n", b"*1\r\n:1\r\n"]),
        parts("nested across writes", &[b"*1\r\n", b"*1\r\n", b"$4\r\nPING\r\n"]),
    ]
}

fn malformed(threads: usize) {
    let a = RedisServer::start();
    let b = RedisServer::start();
    let h = Hotcache::in_front_of(&b, threads, &[]);
    let bystander = Bystander::start(h.port);
    let failures = compare_inputs(a.port, h.port, &inputs());
    let rounds = bystander.finish();
    let mut report = failures.clone();
    match &rounds {
        Ok(n) if *n > 0 => {}
        Ok(_) => report.push("the other client got no answer at all".into()),
        Err(e) => report.push(format!("the other client got a wrong answer: {e}")),
    }
    // And hotcache still serves new clients.
    let mut c = h.client();
    let pong = c.cmd(&["PING"]);
    if pong != b"+PONG\r\n" {
        report.push(format!("a new client got {}", show(&pong)));
    }
    assert!(
        report.is_empty(),
        "{} difference(s) between Redis and hotcache:\n{}",
        report.len(),
        report.join("\n")
    );
}

#[test]
fn malformed_input_1_thread() {
    malformed(1);
}

#[test]
fn malformed_input_2_threads() {
    malformed(2);
}

/// Inputs for a client that has not authenticated yet (`requirepass pw`).
fn unauthenticated_inputs() -> Vec<Input> {
    let bulk = |n: usize| {
        let mut v = format!("*1\r\n${n}\r\n").into_bytes();
        v.extend(std::iter::repeat_n(b'q', n));
        v.extend_from_slice(b"\r\n");
        v
    };
    let ten: Vec<&str> = std::iter::repeat_n("a", 10).collect();
    let mut eleven = b"*11\r\n".to_vec();
    for _ in 0..11 {
        eleven.extend_from_slice(b"$1\r\na\r\n");
    }
    let mut big_inline = b"SET k ".to_vec();
    big_inline.extend(std::iter::repeat_n(b'v', 20_000));
    big_inline.extend_from_slice(b"\r\n");
    let mut authed_then_big = b"AUTH pw\r\n".to_vec();
    authed_then_big.extend_from_slice(&eleven);
    authed_then_big.extend_from_slice(&bulk(20_000));
    vec![
        one("*11 before AUTH", b"*11\r\n"),
        one("*11 with its arguments before AUTH", &eleven),
        one("*10 (allowed) of an unknown command", &encode(&ten)),
        one("$16385 before AUTH", b"*1\r\n$16385\r\n"),
        one("$16384 (allowed) of an unknown command", &bulk(16384)),
        one("$16385 as second argument", b"*2\r\n$3\r\nGET\r\n$16385\r\n"),
        one("20 KB inline line before AUTH", &big_inline),
        one("inline with 12 arguments", b"SET a b c d e f g h i j k l\r\n"),
        one("GET before AUTH", b"GET k\r\n"),
        one("PING before AUTH", b"PING\r\n"),
        one("ECHO before AUTH", b"*2\r\n$4\r\nECHO\r\n$1\r\nx\r\n"),
        one("unknown command before AUTH", b"NOSUCH a b\r\n"),
        one("unknown command with long arguments", &encode(&["nosuch", &"y".repeat(300), "z"])),
        one("unknown command with binary name", &encode(&[&b"no\x00such\xff"[..], b"\x01"])),
        one("unknown subcommand before AUTH", b"CLIENT NOSUCH\r\n"),
        one("CLIENT SETNAME before AUTH", b"CLIENT SETNAME x\r\n"),
        one("wrong arity before AUTH", b"GET\r\n"),
        one("EXEC before AUTH", b"EXEC\r\n"),
        one("EXEC with arguments before AUTH", b"EXEC x\r\n"),
        one("MULTI before AUTH", b"MULTI\r\nGET k\r\nEXEC\r\n"),
        one("SELECT before AUTH", b"SELECT 1\r\n"),
        one("SUBSCRIBE before AUTH", b"SUBSCRIBE ch\r\n"),
        one("AUTH wrong", b"AUTH wrong\r\n"),
        one("AUTH default wrong", b"AUTH default wrong\r\n"),
        one("AUTH nosuchuser pw", b"AUTH nosuchuser pw\r\n"),
        one("AUTH with too many arguments", b"AUTH a b c\r\n"),
        one("AUTH without arguments", b"AUTH\r\n"),
        one("AUTH then GET", b"AUTH pw\r\nGET k\r\n"),
        one("AUTH default pw then GET", b"AUTH default pw\r\nGET k\r\n"),
        one("AUTH, then the limits are lifted", &authed_then_big),
        one("AUTH, RESET, GET", b"AUTH pw\r\nRESET\r\nGET k\r\n"),
        one("failed AUTH, then *11", &[&b"AUTH wrong\r\n"[..], &eleven].concat()),
        one("AUTH, RESET, *11", &[&b"AUTH pw\r\nRESET\r\n"[..], &eleven].concat()),
        one("HELLO 3 before AUTH", b"HELLO 3\r\n"),
        one("HELLO before AUTH", b"HELLO\r\n"),
        one("HELLO 3 AUTH wrong", b"HELLO 3 AUTH default wrong\r\n"),
        one("HELLO 4 before AUTH", b"HELLO 4\r\n"),
        one("QUIT before AUTH", b"QUIT\r\n"),
        one("*x before AUTH", b"*x\r\n"),
        one("unbalanced quotes before AUTH", b"GET \"k\r\n"),
    ]
}

/// Redis with `requirepass pw`, and hotcache with `--requirepass pw` in front
/// of an unprotected Redis: the same answers before and after AUTH.
#[test]
fn unauthenticated_limits() {
    let a = RedisServer::start_with(&["--requirepass", "pw"]);
    let b = RedisServer::start();
    let h = Hotcache::in_front_of(&b, 2, &["--requirepass", "pw"]);
    let mut report = compare_inputs(a.port, h.port, &unauthenticated_inputs());

    // HELLO with AUTH succeeds with a map whose server and id legitimately
    // differ: compared through the differential tests' HELLO check.
    for proto in ["2", "3"] {
        let mut ca = a.client();
        let mut ch = h.client();
        let args = ["HELLO", proto, "AUTH", "default", "pw"];
        let (ra, rh) = (ca.cmd(&args), ch.cmd(&args));
        if let Err(e) = crate::differential::compare_hello(&ra, &rh) {
            report.push(format!(
                "HELLO {proto} AUTH: {e}\n    redis    {}\n    hotcache {}",
                show(&ra),
                show(&rh)
            ));
        }
        // Authenticated now: GET runs, and 11 arguments are no protocol error.
        for args in [vec!["GET", "k"], vec!["a"; 11]] {
            let (ga, gh) = (ca.cmd(&args), ch.cmd(&args));
            if ga != gh {
                report.push(format!(
                    "{} after HELLO AUTH: redis {} hotcache {}",
                    args[0],
                    show(&ga),
                    show(&gh)
                ));
            }
        }
    }
    assert!(
        report.is_empty(),
        "{} difference(s) between Redis and hotcache:\n{}",
        report.len(),
        report.join("\n")
    );
}
