//! What to send: the operation mix, key choice and request encoding.

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Zipf};

use crate::args::{Dist, Options};

/// One request kind; it decides how its reply is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Get,
    /// MGET of this many keys.
    Mget(usize),
    Set,
}

/// Draws keys and operations for one connection and encodes its requests.
pub struct Workload {
    rng: SmallRng,
    /// `None` for uniform keys.
    zipf: Option<Zipf<f64>>,
    keys: u64,
    prefix: Vec<u8>,
    value: Vec<u8>,
    /// Probability of a read (GET or MGET) as `get / (get + set)`.
    read_share: f64,
    mget: Option<usize>,
}

impl Workload {
    /// A workload for one connection; `seed` keeps connections from sending the
    /// same key sequence in lockstep.
    pub fn new(o: &Options, seed: u64) -> Result<Self, String> {
        let zipf = match o.dist {
            Dist::Uniform => None,
            Dist::Zipf(s) => Some(Zipf::new(o.keys as f64, s).map_err(|e| format!("zipf: {e}"))?),
        };
        Ok(Self {
            rng: SmallRng::seed_from_u64(seed),
            zipf,
            keys: o.keys,
            prefix: o.key_prefix.as_bytes().to_vec(),
            // Printable and recognisable in a MONITOR trace.
            value: (0..o.value_size).map(|i| b'a' + (i % 26) as u8).collect(),
            read_share: f64::from(o.get_weight) / f64::from(o.get_weight + o.set_weight),
            mget: o.mget,
        })
    }

    /// The index of the next key: uniform, or zipf rank minus one (0 is hottest).
    pub fn key_index(&mut self) -> u64 {
        match &self.zipf {
            None => self.rng.random_range(0..self.keys),
            // Zipf samples ranks as floats in [1, keys].
            Some(z) => (z.sample(&mut self.rng) as u64).clamp(1, self.keys) - 1,
        }
    }

    /// Picks the next operation from the mix.
    pub fn next_op(&mut self) -> Op {
        let read = self.read_share >= 1.0
            || (self.read_share > 0.0 && self.rng.random::<f64>() < self.read_share);
        match (read, self.mget) {
            (false, _) => Op::Set,
            (true, None) => Op::Get,
            (true, Some(n)) => Op::Mget(n),
        }
    }

    /// Appends the request for `op` on freshly drawn keys to `out`.
    pub fn encode(&mut self, op: Op, out: &mut Vec<u8>) {
        match op {
            Op::Get => {
                out.extend_from_slice(b"*2\r\n$3\r\nGET\r\n");
                let k = self.key_index();
                self.key(k, out);
            }
            Op::Mget(n) => {
                header(b'*', n + 1, out);
                out.extend_from_slice(b"$4\r\nMGET\r\n");
                for _ in 0..n {
                    let k = self.key_index();
                    self.key(k, out);
                }
            }
            Op::Set => {
                let k = self.key_index();
                encode_set(&self.prefix, k, &self.value, out);
            }
        }
    }

    /// Appends the request for `op` (GET or SET) on key `k` to `out`.
    pub fn encode_key(&self, op: Op, k: u64, out: &mut Vec<u8>) {
        if op == Op::Set {
            encode_set(&self.prefix, k, &self.value, out);
        } else {
            out.extend_from_slice(b"*2\r\n$3\r\nGET\r\n");
            self.key(k, out);
        }
    }

    /// A uniform draw in [0, 1).
    pub fn unit(&mut self) -> f64 {
        self.rng.random::<f64>()
    }

    /// The key prefix.
    pub fn prefix(&self) -> &[u8] {
        &self.prefix
    }

    /// Appends the bulk `<prefix><index>`.
    fn key(&self, index: u64, out: &mut Vec<u8>) {
        key_bulk(&self.prefix, index, out);
    }

    /// The SET value every request writes.
    pub fn value(&self) -> &[u8] {
        &self.value
    }
}

fn header(kind: u8, n: usize, out: &mut Vec<u8>) {
    out.push(kind);
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn key_bulk(prefix: &[u8], index: u64, out: &mut Vec<u8>) {
    let mut num = itoa::Buffer::new();
    let digits = num.format(index).as_bytes();
    header(b'$', prefix.len() + digits.len(), out);
    out.extend_from_slice(prefix);
    out.extend_from_slice(digits);
    out.extend_from_slice(b"\r\n");
}

/// Appends `SET <prefix><index> <value>`.
pub fn encode_set(prefix: &[u8], index: u64, value: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"*3\r\n$3\r\nSET\r\n");
    key_bulk(prefix, index, out);
    header(b'$', value.len(), out);
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// What a reply says, for the counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub error: bool,
    pub hits: u64,
    pub misses: u64,
}

/// Classifies a whole reply frame to `op`.
pub fn classify(op: Op, frame: &[u8]) -> Outcome {
    let mut out = Outcome::default();
    match frame.first() {
        Some(b'-') | Some(b'!') => out.error = true,
        _ => match op {
            Op::Set => {}
            Op::Get => {
                if is_null(frame) {
                    out.misses = 1;
                } else {
                    out.hits = 1;
                }
            }
            Op::Mget(_) => count_mget(frame, &mut out),
        },
    }
    out
}

/// `$-1` (RESP2) or `_` (RESP3).
fn is_null(frame: &[u8]) -> bool {
    frame.starts_with(b"$-1\r\n") || frame.starts_with(b"_\r\n")
}

/// Counts hits and misses in an MGET reply: an array of bulks or nulls.
fn count_mget(frame: &[u8], out: &mut Outcome) {
    let Some(nl) = memchr::memchr(b'\n', frame) else { return };
    let mut pos = nl + 1;
    // The framer has checked the whole frame, so element headers are well formed.
    while pos < frame.len() {
        let rest = &frame[pos..];
        let Some(nl) = memchr::memchr(b'\n', rest) else { return };
        if is_null(rest) {
            out.misses += 1;
            pos += nl + 1;
            continue;
        }
        out.hits += 1;
        let len = hotcache::protocol::parse_i64(rest.get(1..nl.saturating_sub(1)).unwrap_or(b""))
            .unwrap_or(0)
            .max(0) as usize;
        pos += nl + 1 + if rest[0] == b'$' { len + 2 } else { 0 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_resp() {
        let o = Options { value_size: 3, key_prefix: "k:".into(), keys: 1, ..Options::default() };
        let mut w = Workload::new(&o, 1).unwrap();
        let mut out = Vec::new();
        w.encode(Op::Get, &mut out);
        w.encode(Op::Set, &mut out);
        w.encode(Op::Mget(2), &mut out);
        let expected: &[u8] = b"*2\r\n$3\r\nGET\r\n$3\r\nk:0\r\n\
            *3\r\n$3\r\nSET\r\n$3\r\nk:0\r\n$3\r\nabc\r\n\
            *3\r\n$4\r\nMGET\r\n$3\r\nk:0\r\n$3\r\nk:0\r\n";
        assert_eq!(out, expected);
    }

    #[test]
    fn zipf_rank_one_is_hottest() {
        let o = Options { dist: Dist::Zipf(0.99), keys: 1000, ..Options::default() };
        let mut w = Workload::new(&o, 7).unwrap();
        let mut counts = vec![0u32; 1000];
        for _ in 0..100_000 {
            counts[w.key_index() as usize] += 1;
        }
        assert!(counts[0] > counts[1] && counts[1] > counts[10] && counts[10] > counts[500]);
    }

    #[test]
    fn replies_are_counted() {
        let hit = Outcome { hits: 1, ..Outcome::default() };
        assert_eq!(classify(Op::Get, b"$1\r\nx\r\n"), hit);
        assert_eq!(classify(Op::Get, b"$-1\r\n").misses, 1);
        assert!(classify(Op::Set, b"-ERR x\r\n").error);
        let m = classify(Op::Mget(3), b"*3\r\n$2\r\n\r\n\r\n$-1\r\n$1\r\nx\r\n");
        assert_eq!((m.hits, m.misses), (2, 1));
    }
}
