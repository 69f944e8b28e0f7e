//! Protocol hot paths: the client request parser and the upstream reply framer.
//!
//! `cargo bench --bench protocol` (add `-- --quick` for a fast look). Parser
//! throughput is in commands per second, framer throughput in replies or bytes.
//!
//! `parser_vs_redis_protocol` runs hotcache's request parser and the
//! `redis-protocol` crate's RESP2 decoder (`decode_bytes_mut`, its zero-copy
//! form) on the same client input, timed in CPU time of the benchmark thread
//! ([`ThreadCpu`]) so that other processes on a busy machine do not count;
//! docs/design.md has the figures.

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use hotcache::protocol::{ParseOutcome, ReplyFramer, RequestLimits, RequestParser};

/// Commands per pipelined buffer: about what one 64 KB read holds at `-P 1000`.
const PIPELINE: usize = 500;

fn bulk(out: &mut Vec<u8>, v: &[u8]) {
    out.extend_from_slice(format!("${}\r\n", v.len()).as_bytes());
    out.extend_from_slice(v);
    out.extend_from_slice(b"\r\n");
}

fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        bulk(out, a);
    }
}

fn key(i: usize) -> Vec<u8> {
    format!("key:{i:012}").into_bytes()
}

/// Parses every command in `input`; panics if anything is left over.
fn parse_all(parser: &mut RequestParser, mut buf: BytesMut, limits: &RequestLimits) -> usize {
    let mut n = 0;
    loop {
        match parser.parse(&mut buf, limits, false) {
            ParseOutcome::Command(r) => {
                black_box(&r);
                n += 1;
            }
            ParseOutcome::Incomplete => break,
            ParseOutcome::Error(e) => panic!("bench input rejected: {e}"),
        }
    }
    assert!(buf.is_empty(), "bench input not fully parsed");
    n
}

fn request_parser(c: &mut Criterion) {
    let value = [b'v'; 64];
    let mut sets = Vec::new();
    let mut gets = Vec::new();
    for i in 0..PIPELINE {
        command(&mut sets, &[b"SET", &key(i), &value]);
        command(&mut gets, &[b"GET", &key(i)]);
    }
    let pings = b"PING\r\n".repeat(PIPELINE);

    let limits = RequestLimits::default();
    let mut g = c.benchmark_group("request_parser");
    g.throughput(Throughput::Elements(PIPELINE as u64));
    for (name, input) in [("set_64b", &sets), ("get", &gets), ("inline_ping", &pings)] {
        g.bench_function(name, |b| {
            let mut parser = RequestParser::new();
            // Copying the input into a fresh buffer is setup, outside the timing.
            b.iter_batched(
                || BytesMut::from(&input[..]),
                |buf| parse_all(&mut parser, buf, &limits),
                BatchSize::SmallInput,
            );
        });
    }
    g.finish();
}

/// Frames every reply in `input` at once; returns how many there were.
fn frame_all(framer: &mut ReplyFramer, input: &[u8]) -> usize {
    let mut rest = input;
    let mut n = 0;
    while let Ok(Some((len, kind))) = framer.next_frame(rest) {
        black_box(kind);
        rest = &rest[len..];
        n += 1;
    }
    assert!(rest.is_empty(), "bench input not fully framed");
    n
}

fn reply_framer(c: &mut Criterion) {
    let value = [b'v'; 64];
    let mut bulks = Vec::new();
    for _ in 0..PIPELINE {
        bulk(&mut bulks, &value);
    }
    // MGET of 10 keys, one of them missing, as an upstream returns it.
    let mut mgets = Vec::new();
    for _ in 0..PIPELINE / 10 {
        mgets.extend_from_slice(b"*10\r\n");
        for i in 0..10 {
            if i == 3 {
                mgets.extend_from_slice(b"$-1\r\n");
            } else {
                bulk(&mut mgets, &value);
            }
        }
    }

    let mut g = c.benchmark_group("reply_framer");
    g.throughput(Throughput::Elements(PIPELINE as u64));
    g.bench_function("bulk_64b", |b| {
        let mut framer = ReplyFramer::new();
        b.iter(|| frame_all(&mut framer, black_box(&bulks)));
    });
    g.throughput(Throughput::Elements((PIPELINE / 10) as u64));
    g.bench_function("mget_10x64b", |b| {
        let mut framer = ReplyFramer::new();
        b.iter(|| frame_all(&mut framer, black_box(&mgets)));
    });

    // A 100 KB bulk whose bytes arrive in 16 KB reads: the framer is called once
    // per read on the growing buffer and must not rescan the body each time.
    let mut big = Vec::new();
    bulk(&mut big, &vec![b'x'; 100 * 1024]);
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("bulk_100k_in_16k_reads", |b| {
        let mut framer = ReplyFramer::new();
        b.iter(|| {
            let mut have = 0;
            loop {
                have = (have + 16 * 1024).min(big.len());
                match framer.next_frame(black_box(&big[..have])) {
                    Ok(Some((len, _))) => break len,
                    Ok(None) => {}
                    Err(e) => panic!("bench input rejected: {e}"),
                }
            }
        });
    });
    g.finish();
}

/// Parses every command in `buf` with hotcache's parser, `n` expected; returns
/// them, so that criterion frees them (and the buffer) outside the timing.
fn parse_kept(
    parser: &mut RequestParser,
    mut buf: BytesMut,
    limits: &RequestLimits,
    n: usize,
) -> Vec<hotcache::protocol::Request> {
    let mut out = Vec::with_capacity(n);
    loop {
        match parser.parse(&mut buf, limits, false) {
            ParseOutcome::Command(r) => out.push(r),
            ParseOutcome::Incomplete => break,
            ParseOutcome::Error(e) => panic!("bench input rejected: {e}"),
        }
    }
    assert!(buf.is_empty() && out.len() == n, "bench input not fully parsed");
    out
}

/// As [`parse_kept`], with redis-protocol's decoder.
fn decode_kept(mut buf: BytesMut, n: usize) -> Vec<redis_protocol::resp2::types::BytesFrame> {
    let mut out = Vec::with_capacity(n);
    loop {
        match redis_protocol::resp2::decode::decode_bytes_mut(&mut buf) {
            Ok(Some((frame, _, _))) => out.push(frame),
            Ok(None) => break,
            Err(e) => panic!("bench input rejected by redis-protocol: {e:?}"),
        }
    }
    assert!(buf.is_empty() && out.len() == n, "bench input not fully decoded");
    out
}

/// Feeds `input` in reads of `read` bytes, parsing after each read as a
/// connection does; returns the commands parsed.
fn hotcache_in_reads(parser: &mut RequestParser, input: &[u8], read: usize) -> usize {
    let limits = RequestLimits::default();
    let mut buf = BytesMut::with_capacity(read);
    let mut n = 0;
    for chunk in input.chunks(read) {
        buf.extend_from_slice(chunk);
        while let ParseOutcome::Command(r) = parser.parse(&mut buf, &limits, false) {
            black_box(&r);
            n += 1;
        }
    }
    n
}

/// As [`hotcache_in_reads`], with redis-protocol's decoder.
fn redis_protocol_in_reads(input: &[u8], read: usize) -> usize {
    let mut buf = BytesMut::with_capacity(read);
    let mut n = 0;
    for chunk in input.chunks(read) {
        buf.extend_from_slice(chunk);
        while let Ok(Some((frame, _, _))) =
            redis_protocol::resp2::decode::decode_bytes_mut(&mut buf)
        {
            black_box(&frame);
            n += 1;
        }
    }
    n
}

/// CPU time of the calling thread (`CLOCK_THREAD_CPUTIME_ID`): what the
/// benchmark itself spent, whatever else the machine runs.
struct ThreadCpu;

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant
    // Linux always has.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

impl Measurement for ThreadCpu {
    type Intermediate = Duration;
    type Value = Duration;
    fn start(&self) -> Duration {
        thread_cpu()
    }
    fn end(&self, start: Duration) -> Duration {
        thread_cpu().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

/// Formats nanoseconds of CPU as criterion formats wall time.
struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, ns: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = if ns < 1e3 {
            (1.0, "ns")
        } else if ns < 1e6 {
            (1e-3, "µs")
        } else if ns < 1e9 {
            (1e-6, "ms")
        } else {
            (1e-9, "s")
        };
        values.iter_mut().for_each(|v| *v *= factor);
        unit
    }

    fn scale_throughputs(&self, _typical: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        match *t {
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) => {
                values.iter_mut().for_each(|v| *v = n as f64 * 1e9 / *v / (1 << 20) as f64);
                "MiB/s (CPU)"
            }
            Throughput::Elements(n) | Throughput::ElementsAndBytes { elements: n, .. } => {
                values.iter_mut().for_each(|v| *v = n as f64 * 1e3 / *v);
                "Melem/s (CPU)"
            }
            Throughput::Bits(n) => {
                values.iter_mut().for_each(|v| *v = n as f64 / *v);
                "Gbit/s (CPU)"
            }
        }
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

/// hotcache's parser and redis-protocol's decoder on the same client input.
fn parser_vs_redis_protocol(c: &mut Criterion<ThreadCpu>) {
    let value = [b'v'; 64];
    let mut sets = Vec::new();
    let mut gets = Vec::new();
    for i in 0..PIPELINE {
        command(&mut sets, &[b"SET", &key(i), &value]);
        command(&mut gets, &[b"GET", &key(i)]);
    }
    let mut big = Vec::new();
    command(&mut big, &[b"SET", b"big", &vec![b'x'; 1 << 20]]);
    // One MSET of 5,000 pairs (10,001 arguments, ~470 KB).
    let mut mset_args: Vec<Vec<u8>> = vec![b"MSET".to_vec()];
    for i in 0..5000 {
        mset_args.push(key(i));
        mset_args.push(value.to_vec());
    }
    let mset_refs: Vec<&[u8]> = mset_args.iter().map(|a| &a[..]).collect();
    let mut mset = Vec::new();
    command(&mut mset, &mset_refs);
    let pings = b"PING\r\n".repeat(PIPELINE);
    // redis-protocol has no inline commands: nothing to compare there.
    assert!(
        redis_protocol::resp2::decode::decode_bytes_mut(&mut BytesMut::from(&pings[..])).is_err()
    );

    let limits = RequestLimits::default();
    let mut g = c.benchmark_group("parser_vs_redis_protocol");
    for (name, input, n) in [
        ("get_x500", &gets, PIPELINE),
        ("set_64b_x500", &sets, PIPELINE),
        ("set_1mb", &big, 1),
        ("mset_5000_pairs", &mset, 1),
    ] {
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("{name}/hotcache"), |b| {
            let mut parser = RequestParser::new();
            b.iter_batched(
                || BytesMut::from(&input[..]),
                |buf| parse_kept(&mut parser, buf, &limits, n),
                BatchSize::SmallInput,
            );
        });
        g.bench_function(format!("{name}/redis_protocol"), |b| {
            b.iter_batched(
                || BytesMut::from(&input[..]),
                |buf| decode_kept(buf, n),
                BatchSize::SmallInput,
            );
        });
    }
    g.throughput(Throughput::Elements(PIPELINE as u64));
    g.bench_function("inline_ping_x500/hotcache", |b| {
        let mut parser = RequestParser::new();
        b.iter_batched(
            || BytesMut::from(&pings[..]),
            |buf| parse_kept(&mut parser, buf, &limits, PIPELINE),
            BatchSize::SmallInput,
        );
    });
    // The same requests arriving in 16 KB reads, parsed after each read: a
    // parser that starts over at each read rescans what it already saw.
    const READ: usize = 16 * 1024;
    for (name, input) in [("set_1mb_in_16k_reads", &big), ("mset_5000_pairs_in_16k_reads", &mset)] {
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function(format!("{name}/hotcache"), |b| {
            let mut parser = RequestParser::new();
            b.iter(|| assert_eq!(hotcache_in_reads(&mut parser, input, READ), 1));
        });
        g.bench_function(format!("{name}/redis_protocol"), |b| {
            b.iter(|| assert_eq!(redis_protocol_in_reads(input, READ), 1));
        });
    }
    g.finish();
}

criterion_group!(benches, request_parser, reply_framer);
criterion_group! {
    name = versus;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = parser_vs_redis_protocol
}
criterion_main!(benches, versus);
