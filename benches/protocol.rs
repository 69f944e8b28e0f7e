//! Protocol hot paths: the client request parser and the upstream reply framer.
//!
//! `cargo bench --bench protocol` (add `-- --quick` for a fast look). Parser
//! throughput is in commands per second, framer throughput in replies or bytes.

use std::hint::black_box;

use bytes::BytesMut;
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

criterion_group!(benches, request_parser, reply_framer);
criterion_main!(benches);
