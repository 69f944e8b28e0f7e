//! One connection's load loop, plus the probe and the preload.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use hotcache::protocol::{FrameKind, ReplyFramer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::stats::Stats;
use crate::workload::{self, Op, Workload};

/// A server that owes replies and sends nothing for this long has lost them:
/// the connection fails rather than waits for ever.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// When measuring starts and how it ends, shared by every connection of the run.
pub struct Clock {
    /// Batches sent before this are warmup: they run but are not recorded.
    pub measure_start: Instant,
    /// With `--duration`: no batch is sent after this.
    pub end: Option<Instant>,
    /// With `--requests`: the run's request budget and how much is claimed.
    pub budget: Option<(u64, AtomicU64)>,
}

impl Clock {
    /// How many requests the next measured batch may carry (0: stop).
    fn claim(&self, pipeline: usize, now: Instant) -> usize {
        if let Some((total, claimed)) = &self.budget {
            // Relaxed: the counter only splits the budget; no other memory depends on it.
            let before = claimed.fetch_add(pipeline as u64, Ordering::Relaxed);
            return total.saturating_sub(before).min(pipeline as u64) as usize;
        }
        match self.end {
            Some(end) if now >= end => 0,
            _ => pipeline,
        }
    }
}

/// Opens a connection with Nagle off, as redis-benchmark does.
pub async fn connect(addr: &str) -> Result<TcpStream, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| format!("set TCP_NODELAY: {e}"))?;
    Ok(stream)
}

/// Reads until `n` replies have been framed, calling `on_reply(index, frame, read_at)`
/// for each; `read_at` is when the read that completed the reply returned.
async fn read_replies<R: AsyncReadExt + Unpin>(
    rd: &mut R,
    rbuf: &mut BytesMut,
    framer: &mut ReplyFramer,
    n: usize,
    mut on_reply: impl FnMut(usize, &[u8], Instant),
) -> Result<(), String> {
    let mut got = 0;
    let mut read_at = Instant::now();
    while got < n {
        match framer.next_frame(rbuf).map_err(|e| format!("bad reply from server: {e}"))? {
            Some((len, kind)) => {
                // A RESP3 push answers no request; nothing here asks for them.
                if kind != FrameKind::Push {
                    on_reply(got, &rbuf[..len], read_at);
                    got += 1;
                }
                rbuf.advance(len);
            }
            None => {
                if rbuf.capacity() - rbuf.len() < 4096 {
                    rbuf.reserve(64 * 1024);
                }
                let read = tokio::time::timeout(REPLY_TIMEOUT, rd.read_buf(rbuf))
                    .await
                    .map_err(|_| format!("no reply within {} s", REPLY_TIMEOUT.as_secs()))?
                    .map_err(|e| format!("read: {e}"))?;
                if read == 0 {
                    return Err("server closed the connection".into());
                }
                read_at = Instant::now();
            }
        }
    }
    Ok(())
}

/// Writes `wbuf` and reads `n` replies at the same time, so a batch bigger than
/// the socket buffers cannot stall both sides.
async fn exchange(
    stream: &mut TcpStream,
    wbuf: &[u8],
    rbuf: &mut BytesMut,
    framer: &mut ReplyFramer,
    n: usize,
    on_reply: impl FnMut(usize, &[u8], Instant),
) -> Result<(), String> {
    let (mut rd, mut wr) = stream.split();
    let write = async { wr.write_all(wbuf).await.map_err(|e| format!("write: {e}")) };
    let read = read_replies(&mut rd, rbuf, framer, n, on_reply);
    tokio::try_join!(write, read).map(|_| ())
}

/// Runs load on one connection until the clock says stop, recording into `stats`.
pub async fn run(
    mut stream: TcpStream,
    mut work: Workload,
    pipeline: usize,
    clock: Arc<Clock>,
    stats: Rc<RefCell<Stats>>,
) -> Result<(), String> {
    let mut wbuf = Vec::with_capacity(pipeline * 128);
    let mut rbuf = BytesMut::with_capacity(64 * 1024);
    let mut framer = ReplyFramer::new();
    let mut ops: Vec<Op> = Vec::with_capacity(pipeline);
    loop {
        let now = Instant::now();
        let measuring = now >= clock.measure_start;
        let n = if measuring { clock.claim(pipeline, now) } else { pipeline };
        if n == 0 {
            return Ok(());
        }
        wbuf.clear();
        ops.clear();
        for _ in 0..n {
            let op = work.next_op();
            work.encode(op, &mut wbuf);
            ops.push(op);
        }
        let sent = Instant::now();
        let sent_offset = sent.saturating_duration_since(clock.measure_start);
        exchange(&mut stream, &wbuf, &mut rbuf, &mut framer, n, |i, frame, at| {
            if measuring {
                let outcome = workload::classify(ops[i], frame);
                let replied = at.saturating_duration_since(clock.measure_start);
                // Borrowed only inside this synchronous callback, never across an await.
                stats.borrow_mut().record(sent_offset, replied, outcome);
            }
        })
        .await?;
    }
}

/// Checks that something at `addr` answers PING; returns the reply for display.
pub async fn probe(addr: &str) -> Result<String, String> {
    let attempt = async {
        let mut stream = connect(addr).await?;
        let mut rbuf = BytesMut::new();
        let mut reply = String::new();
        exchange(&mut stream, b"*1\r\n$4\r\nPING\r\n", &mut rbuf, &mut ReplyFramer::new(), 1, {
            |_, frame, _| reply = String::from_utf8_lossy(frame).trim_end().to_string()
        })
        .await?;
        Ok(reply)
    };
    tokio::time::timeout(Duration::from_secs(5), attempt)
        .await
        .map_err(|_| format!("{addr}: no reply to PING within 5 s"))?
}

/// SETs keys `0..keys` once over `conns` pipelined connections; returns the error count.
pub async fn preload(
    addr: &str,
    conns: usize,
    keys: u64,
    prefix: &str,
    value: &[u8],
) -> Result<u64, String> {
    // Batches of about 256 KB, at least one request each.
    let batch = (256 * 1024 / (value.len() + prefix.len() + 40)).clamp(1, 1024) as u64;
    let next = Rc::new(std::cell::Cell::new(0u64));
    let errors = Rc::new(std::cell::Cell::new(0u64));
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let mut stream = connect(addr).await?;
        let (next, errors) = (next.clone(), errors.clone());
        let (prefix, value) = (prefix.as_bytes().to_vec(), value.to_vec());
        tasks.push(tokio::task::spawn_local(async move {
            let (mut wbuf, mut rbuf, mut framer) =
                (Vec::new(), BytesMut::new(), ReplyFramer::new());
            loop {
                // Single-threaded runtime: the Cell hands out disjoint key ranges.
                let first = next.get();
                if first >= keys {
                    return Ok::<(), String>(());
                }
                let last = (first + batch).min(keys);
                next.set(last);
                wbuf.clear();
                for k in first..last {
                    workload::encode_set(&prefix, k, &value, &mut wbuf);
                }
                let n = (last - first) as usize;
                exchange(&mut stream, &wbuf, &mut rbuf, &mut framer, n, |_, frame, _| {
                    if frame.first() == Some(&b'-') {
                        errors.set(errors.get() + 1);
                    }
                })
                .await?;
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| format!("preload task: {e}"))??;
    }
    Ok(errors.get())
}
