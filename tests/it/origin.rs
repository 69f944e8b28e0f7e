//! Differential test of the embedded origin: the same commands go to a real
//! redis-server 7.0 and to `EmbeddedOrigin::execute`, in RESP2 and then in RESP3,
//! and the reply bytes must be identical.
//!
//! Only replies Redis itself leaves unordered (KEYS, SCAN, big hashes) are compared
//! as sets, and TTLs within a tolerance. Every mismatch of a run is collected and
//! reported together. The corpus is split by area in `origin/`; each test starts
//! its own redis-server on a free port, so they run in parallel.

mod errors;
mod hashes;
mod keyspace;
mod random;
mod strings;

use std::collections::BTreeSet;
use std::fmt::Write as _;

use bytes::Bytes;
use hotcache::origin::EmbeddedOrigin;
use hotcache::protocol::{Proto, ReplyBuf};

use crate::common::{RawClient, RedisServer};

/// One reply, parsed just enough to compare unordered replies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Frame {
    /// `+`, `-`, `:`, `,`, `#`, `_`, `(`: the type byte and the line.
    Line(u8, Vec<u8>),
    /// `$`, `=`, `!`: the type byte and the payload (`None` for `$-1`).
    Bulk(u8, Option<Vec<u8>>),
    /// `*`, `~`, `>`, `%` (a map holds keys and values in turn): `None` for `*-1`.
    Agg(u8, Option<Vec<Frame>>),
}

fn parse(b: &[u8], pos: &mut usize) -> Option<Frame> {
    let kind = *b.get(*pos)?;
    let end = *pos + b[*pos..].windows(2).position(|w| w == b"\r\n")?;
    let line = b[*pos + 1..end].to_vec();
    *pos = end + 2;
    let n = || std::str::from_utf8(&line).ok()?.parse::<i64>().ok();
    Some(match kind {
        b'$' | b'=' | b'!' => match usize::try_from(n()?) {
            Err(_) => Frame::Bulk(kind, None),
            Ok(len) => {
                let data = b.get(*pos..*pos + len)?.to_vec();
                *pos += len + 2;
                Frame::Bulk(kind, Some(data))
            }
        },
        b'*' | b'~' | b'>' | b'%' => match usize::try_from(n()?) {
            Err(_) => Frame::Agg(kind, None),
            Ok(len) => {
                let len = if kind == b'%' { 2 * len } else { len };
                let items = (0..len).map(|_| parse(b, pos)).collect::<Option<Vec<_>>>()?;
                Frame::Agg(kind, Some(items))
            }
        },
        _ => Frame::Line(kind, line),
    })
}

fn frame(b: &[u8]) -> Option<Frame> {
    let mut pos = 0;
    let f = parse(b, &mut pos)?;
    (pos == b.len()).then_some(f)
}

/// How two replies are compared.
#[derive(Clone, Copy)]
enum Cmp {
    Exact,
    /// An aggregate whose elements may come in any order.
    Sorted,
    /// An aggregate of key/value pairs in any order (HGETALL).
    Pairs,
    /// A SCAN reply: the cursor exactly, the keys in any order.
    Scan,
    /// Integers within this distance (TTLs).
    Near(i64),
}

fn normalize(f: Frame, how: Cmp) -> Frame {
    match (f, how) {
        (Frame::Agg(k, Some(mut items)), Cmp::Sorted) => {
            items.sort();
            Frame::Agg(k, Some(items))
        }
        (Frame::Agg(k, Some(items)), Cmp::Pairs) => {
            let mut pairs: Vec<Vec<Frame>> = items.chunks(2).map(<[Frame]>::to_vec).collect();
            pairs.sort();
            Frame::Agg(k, Some(pairs.concat()))
        }
        (Frame::Agg(k, Some(mut items)), Cmp::Scan) if items.len() == 2 => {
            if let Some(keys) = items.pop() {
                items.push(normalize(keys, Cmp::Sorted));
            }
            Frame::Agg(k, Some(items))
        }
        (f, _) => f,
    }
}

/// Bytes as readable text, cut to `max` characters.
pub fn show(b: &[u8], max: usize) -> String {
    let s: String = b.escape_ascii().to_string();
    if s.len() > max { format!("{}...({} bytes)", &s[..max], b.len()) } else { s }
}

/// A redis-server and an embedded origin receiving the same commands.
pub struct Diff {
    redis: RawClient,
    origin: EmbeddedOrigin,
    proto: Proto,
    failures: Vec<String>,
    checked: usize,
}

impl Diff {
    /// Sends `args` to both; returns (redis reply, origin reply).
    pub fn both<A: AsRef<[u8]>>(&mut self, args: &[A]) -> (Vec<u8>, Vec<u8>) {
        let real = self.redis.cmd(args);
        let argv: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a.as_ref())).collect();
        let mut out = ReplyBuf::new(self.proto);
        self.origin.execute(&argv, &mut out);
        (real, out.take().to_vec())
    }

    fn check<A: AsRef<[u8]>>(&mut self, args: &[A], how: Cmp) -> Vec<u8> {
        let (real, ours) = self.both(args);
        self.checked += 1;
        let same = match how {
            Cmp::Exact => real == ours,
            Cmp::Near(tolerance) => match (frame(&real), frame(&ours)) {
                (Some(Frame::Line(b':', a)), Some(Frame::Line(b':', b))) => {
                    let num = |v: &[u8]| String::from_utf8_lossy(v).parse::<i64>().ok();
                    matches!((num(&a), num(&b)), (Some(a), Some(b)) if (a - b).abs() <= tolerance)
                }
                _ => real == ours,
            },
            _ => match (frame(&real), frame(&ours)) {
                (Some(a), Some(b)) => normalize(a, how) == normalize(b, how),
                _ => false,
            },
        };
        if !same {
            let shown: Vec<String> = args.iter().map(|a| show(a.as_ref(), 40)).collect();
            let mut msg = String::new();
            let _ = write!(
                msg,
                "{:?} {}\n    redis:  {}\n    origin: {}",
                self.proto,
                shown.join(" "),
                show(&real, 400),
                show(&ours, 400)
            );
            self.failures.push(msg);
        }
        real
    }

    /// The replies must be byte-identical; returns Redis's.
    pub fn ex<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Vec<u8> {
        self.check(args, Cmp::Exact)
    }

    /// The same elements, in any order.
    pub fn sorted<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        self.check(args, Cmp::Sorted);
    }

    /// The same key/value pairs, in any order.
    pub fn pairs<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        self.check(args, Cmp::Pairs);
    }

    /// A SCAN call: the same cursor and the same keys in any order.
    pub fn scan<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        self.check(args, Cmp::Scan);
    }

    /// Integer replies within `tolerance` of each other.
    pub fn near<A: AsRef<[u8]>>(&mut self, args: &[A], tolerance: i64) {
        self.check(args, Cmp::Near(tolerance));
    }

    /// A whole SCAN iteration with `options` on each side: the same set of keys.
    pub fn scan_all(&mut self, options: &[&str]) {
        let mut sets: [BTreeSet<Vec<u8>>; 2] = Default::default();
        for (side, set) in sets.iter_mut().enumerate() {
            let mut cursor = b"0".to_vec();
            for _ in 0..100_000 {
                let mut args = vec![b"SCAN".to_vec(), cursor.clone()];
                args.extend(options.iter().map(|o| o.as_bytes().to_vec()));
                let (real, ours) = self.both(&args);
                let reply = if side == 0 { real } else { ours };
                let Some(Frame::Agg(_, Some(items))) = frame(&reply) else {
                    self.failures
                        .push(format!("SCAN {options:?}: bad reply {}", show(&reply, 200)));
                    return;
                };
                if let [Frame::Bulk(_, Some(next)), Frame::Agg(_, Some(keys))] = &items[..] {
                    for k in keys {
                        if let Frame::Bulk(_, Some(k)) = k {
                            set.insert(k.clone());
                        }
                    }
                    cursor = next.clone();
                }
                if cursor == b"0" {
                    break;
                }
            }
        }
        self.checked += 1;
        if sets[0] != sets[1] {
            let diff: Vec<String> =
                sets[0].symmetric_difference(&sets[1]).map(|k| show(k, 40)).take(10).collect();
            self.failures.push(format!("{:?} full SCAN {options:?} differs: {diff:?}", self.proto));
        }
    }

    /// The protocol of this pass.
    pub fn proto(&self) -> Proto {
        self.proto
    }

    /// Records a failed custom check.
    pub fn fail(&mut self, msg: String) {
        self.failures.push(format!("{:?} {msg}", self.proto));
    }
}

/// Runs `corpus` against a fresh redis-server (with `databases 1`, as the embedded
/// origin is, plus `extra` options) and a fresh origin: in RESP2, then again from
/// FLUSHALL after `HELLO 3` in RESP3. Fails listing every mismatch.
pub fn differential(extra: &[&str], corpus: impl Fn(&mut Diff)) {
    let mut options = vec!["--databases", "1"];
    options.extend_from_slice(extra);
    let server = RedisServer::start_with(&options);
    let mut d = Diff {
        redis: server.client(),
        origin: EmbeddedOrigin::new(),
        proto: Proto::Resp2,
        failures: Vec::new(),
        checked: 0,
    };
    for proto in [Proto::Resp2, Proto::Resp3] {
        if proto == Proto::Resp3 {
            let hello = d.redis.cmd(&["HELLO", "3"]);
            assert!(hello.starts_with(b"%"), "HELLO 3: {}", show(&hello, 200));
        }
        d.proto = proto;
        d.ex(&["FLUSHALL"]);
        corpus(&mut d);
    }
    assert!(d.checked > 0);
    assert!(
        d.failures.is_empty(),
        "{} of {} replies differ from redis-server:\n{}",
        d.failures.len(),
        d.checked,
        d.failures.join("\n")
    );
}

/// `n` bytes of a repeating pattern that covers every byte value.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 256) as u8).collect()
}

/// Every byte value once, 0 to 255.
pub fn all_bytes() -> Vec<u8> {
    (0..=255u8).collect()
}
