//! hotcache's cache counters once a second, for the hit ratio over time.
//!
//! A thread of its own with one blocking connection sends `INFO hotcache` at every
//! whole second of the measured run and keeps `cache_hits` and `cache_misses`
//! (the counters in `src/stats.rs`). It is kept off the load connections so the
//! load's replies stay in step with its requests. A server without those counters
//! (redis-server answers an empty section, twemproxy refuses INFO) is not sampled.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hotcache::protocol::ReplyFramer;

/// The cache counters at one moment of the run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Seconds since measuring began.
    pub t: f64,
    pub hits: u64,
    pub misses: u64,
}

/// A connection that has answered `INFO hotcache` with the counters once.
pub struct Sampler {
    stream: TcpStream,
    buf: Vec<u8>,
    framer: ReplyFramer,
}

const INFO_HOTCACHE: &[u8] = b"*2\r\n$4\r\nINFO\r\n$8\r\nhotcache\r\n";

impl Sampler {
    /// Connects and asks once; `Err` says why the server cannot be sampled.
    pub fn connect(addr: &str) -> Result<Sampler, String> {
        let stream = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
        // Bounded waits: a server that ignores INFO must not hang the run.
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .and_then(|_| stream.set_nodelay(true))
            .map_err(|e| format!("socket options: {e}"))?;
        let mut s = Sampler { stream, buf: Vec::new(), framer: ReplyFramer::new() };
        s.read()?;
        Ok(s)
    }

    /// One `INFO hotcache`: (cache_hits, cache_misses).
    fn read(&mut self) -> Result<(u64, u64), String> {
        self.stream.write_all(INFO_HOTCACHE).map_err(|e| format!("write: {e}"))?;
        let frame = loop {
            match self.framer.next_frame(&self.buf) {
                Ok(Some((n, _))) => break self.buf.drain(..n).collect::<Vec<u8>>(),
                Ok(None) => {}
                Err(e) => return Err(format!("bad reply: {e}")),
            }
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err("the server closed the connection".into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(format!("read: {e}")),
            }
        };
        parse_counters(&frame).ok_or_else(|| "no cache_hits/cache_misses in INFO hotcache".into())
    }

    /// Samples at `start + k s` for k = 0, 1, ... until `end`, or until `stop`
    /// says the run is over (then once more); a failed read ends sampling early.
    pub fn spawn(
        mut self,
        start: Instant,
        end: Option<Instant>,
        stop: Receiver<()>,
    ) -> std::io::Result<JoinHandle<Vec<Sample>>> {
        std::thread::Builder::new().name("bench-sampler".into()).spawn(move || {
            let mut samples = Vec::new();
            let mut take = |s: &mut Sampler| match s.read() {
                Ok((hits, misses)) => {
                    let t = Instant::now().saturating_duration_since(start).as_secs_f64();
                    samples.push(Sample { t, hits, misses });
                    true
                }
                Err(_) => false,
            };
            for k in 0u32.. {
                let mut due = start + Duration::from_secs(u64::from(k));
                let last = end.is_some_and(|end| due >= end);
                if let Some(end) = end {
                    due = due.min(end);
                }
                match stop.recv_timeout(due.saturating_duration_since(Instant::now())) {
                    Err(RecvTimeoutError::Timeout) => {}
                    // Stopped (or the run is gone): one last sample, then done.
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                        take(&mut self);
                        break;
                    }
                }
                if !take(&mut self) || last {
                    break;
                }
            }
            samples
        })
    }
}

/// `cache_hits` and `cache_misses` from an INFO reply (bulk or verbatim string).
fn parse_counters(frame: &[u8]) -> Option<(u64, u64)> {
    let text = std::str::from_utf8(frame).ok()?;
    let field = |name: &str| {
        text.split("\r\n")
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some((field("cache_hits")?, field("cache_misses")?))
}

/// Hit ratio (0..=1) of each interval between samples, at the interval's middle;
/// intervals without lookups are left out.
pub fn ratios(samples: &[Sample]) -> Vec<(f64, f64)> {
    samples
        .windows(2)
        .filter_map(|w| {
            let hits = w[1].hits.saturating_sub(w[0].hits);
            let lookups = hits + w[1].misses.saturating_sub(w[0].misses);
            (lookups > 0).then(|| ((w[0].t + w[1].t) / 2.0, hits as f64 / lookups as f64))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_from_info_replies() {
        let bulk = b"$60\r\n# Hotcache\r\ncache_hits:12\r\ncache_negative_hits:1\r\ncache_misses:3\r\n\r\n";
        assert_eq!(parse_counters(bulk), Some((12, 3)));
        // redis-server answers an unknown section with an empty bulk.
        assert_eq!(parse_counters(b"$0\r\n\r\n"), None);
        assert_eq!(parse_counters(b"-ERR unknown command\r\n"), None);
    }

    #[test]
    fn ratios_per_interval() {
        let s = |t, hits, misses| Sample { t, hits, misses };
        let r = ratios(&[s(0.0, 0, 0), s(1.0, 90, 10), s(2.0, 90, 10), s(3.0, 190, 10)]);
        assert_eq!(r, vec![(0.5, 0.9), (2.5, 1.0)]);
        assert!(ratios(&[s(0.0, 5, 5)]).is_empty());
    }
}
