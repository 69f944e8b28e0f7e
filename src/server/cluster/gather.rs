//! Replies of commands split across nodes, merged into the one reply Redis
//! would give; SCAN replies with the master carried in the cursor.

use std::cell::RefCell;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::SCAN_NODE_BITS;
use crate::cache::Epochs;
use crate::cmd::Merge;
use crate::protocol::split_array;
use crate::protocol::string2ll;
use crate::upstream::{After, Parts, Reply, ReplyTx};

pub(super) struct GatherState {
    pub(super) frames: Vec<Option<Bytes>>,
    pub(super) left: usize,
    pub(super) tx: Option<ReplyTx>,
}

/// The replies of the parts of a split or fanned-out command.
pub(super) struct Gather {
    pub(super) merge: Merge,
    /// For `Merge::Positions`: the key positions each part holds.
    pub(super) positions: Vec<Vec<usize>>,
    pub(super) total: usize,
    /// What the command wrote, invalidated again once every part has answered.
    pub(super) after: After,
    pub(super) epochs: Arc<Epochs>,
    pub(super) st: RefCell<GatherState>,
}

impl Gather {
    fn done(&self) {
        let mut st = self.st.borrow_mut();
        st.left -= 1;
        if st.left > 0 {
            return;
        }
        let frames: Vec<Bytes> =
            st.frames.iter_mut().map(|f| f.take().unwrap_or_default()).collect();
        let tx = st.tx.take();
        drop(st);
        self.after.apply(&self.epochs);
        let reply = self.merge(&frames);
        if let Some(tx) = tx {
            tx.send(Reply::ok(reply));
        }
    }

    fn merge(&self, frames: &[Bytes]) -> Bytes {
        if let Some(e) = frames.iter().find(|f| f.is_empty() || f[0] == b'-' || f[0] == b'!') {
            return if e.is_empty() { odd() } else { e.clone() };
        }
        match self.merge {
            Merge::Same => frames[0].clone(),
            Merge::Sum => {
                let mut sum: i64 = 0;
                for f in frames {
                    let n = f
                        .strip_prefix(b":")
                        .and_then(|r| r.strip_suffix(b"\r\n"))
                        .and_then(string2ll);
                    match n {
                        Some(n) => sum = sum.saturating_add(n),
                        None => return odd(),
                    }
                }
                Bytes::from(format!(":{sum}\r\n"))
            }
            Merge::Concat => {
                let parts: Vec<Vec<Bytes>> = frames.iter().map(split_array).collect();
                let n: usize = parts.iter().map(Vec::len).sum();
                let mut out = BytesMut::new();
                out.extend_from_slice(format!("*{n}\r\n").as_bytes());
                for e in parts.iter().flatten() {
                    out.extend_from_slice(e);
                }
                out.freeze()
            }
            Merge::Positions => {
                let mut slots: Vec<Option<Bytes>> = vec![None; self.total];
                for (f, positions) in frames.iter().zip(&self.positions) {
                    let elements = split_array(f);
                    if elements.len() != positions.len() {
                        return odd();
                    }
                    for (e, &p) in elements.into_iter().zip(positions) {
                        slots[p] = Some(e);
                    }
                }
                let mut out = BytesMut::new();
                out.extend_from_slice(format!("*{}\r\n", self.total).as_bytes());
                for s in slots {
                    match s {
                        Some(e) => out.extend_from_slice(&e),
                        None => return odd(),
                    }
                }
                out.freeze()
            }
        }
    }
}

/// A reply that does not fit what the command answers.
fn odd() -> Bytes {
    Bytes::from_static(b"-ERR unexpected reply from a cluster node\r\n")
}

impl Parts for Gather {
    fn part(&self, index: usize, frame: Bytes) {
        if let Some(f) = self.st.borrow_mut().frames.get_mut(index) {
            *f = Some(frame);
        }
        self.done();
    }

    fn failed(&self, index: usize, error: Bytes) {
        self.part(index, error);
    }
}

/// One master's SCAN reply, its cursor rewritten to carry the master.
pub(super) struct ScanPart {
    pub(super) node: usize,
    pub(super) nodes: usize,
    pub(super) tx: RefCell<Option<ReplyTx>>,
}

impl ScanPart {
    fn rewrite(&self, frame: &Bytes) -> Option<Bytes> {
        let rest = frame.strip_prefix(b"*2\r\n$")?;
        let nl = memchr::memchr(b'\r', rest)?;
        let len: usize = std::str::from_utf8(&rest[..nl]).ok()?.parse().ok()?;
        let cursor: u64 =
            std::str::from_utf8(rest.get(nl + 2..nl + 2 + len)?).ok()?.parse().ok()?;
        let keys = rest.get(nl + 2 + len + 2..)?;
        let next = if cursor != 0 {
            if cursor >> (64 - SCAN_NODE_BITS) != 0 {
                return None;
            }
            (cursor << SCAN_NODE_BITS) | self.node as u64
        } else if self.node + 1 < self.nodes {
            (self.node + 1) as u64
        } else {
            0
        };
        let next = next.to_string();
        let mut out = BytesMut::with_capacity(frame.len() + 8);
        out.extend_from_slice(format!("*2\r\n${}\r\n{next}\r\n", next.len()).as_bytes());
        out.extend_from_slice(keys);
        Some(out.freeze())
    }
}

impl Parts for ScanPart {
    fn part(&self, _: usize, frame: Bytes) {
        let reply =
            if frame.starts_with(b"*") { self.rewrite(&frame).unwrap_or_else(odd) } else { frame };
        if let Some(tx) = self.tx.borrow_mut().take() {
            tx.send(Reply::ok(reply));
        }
    }

    fn failed(&self, index: usize, error: Bytes) {
        self.part(index, error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gather(merge: Merge, positions: Vec<Vec<usize>>, total: usize) -> Gather {
        let (tx, _rx) = ReplyTx::channel(None);
        Gather {
            merge,
            positions,
            total,
            after: After::Nothing,
            epochs: Arc::new(Epochs::new(4)),
            st: RefCell::new(GatherState { frames: Vec::new(), left: 0, tx: Some(tx) }),
        }
    }

    #[test]
    fn merges() {
        let b = |s: &str| Bytes::copy_from_slice(s.as_bytes());
        let g = gather(Merge::Positions, vec![vec![0, 2], vec![1]], 3);
        assert_eq!(
            g.merge(&[b("*2\r\n$1\r\na\r\n$-1\r\n"), b("*1\r\n$1\r\nb\r\n")]),
            b("*3\r\n$1\r\na\r\n$1\r\nb\r\n$-1\r\n")
        );
        assert_eq!(g.merge(&[b("*1\r\n$1\r\na\r\n"), b("*1\r\n$1\r\nb\r\n")]), odd());
        let g = gather(Merge::Sum, Vec::new(), 0);
        assert_eq!(g.merge(&[b(":2\r\n"), b(":3\r\n")]), b(":5\r\n"));
        assert_eq!(g.merge(&[b(":2\r\n"), b("-ERR x\r\n")]), b("-ERR x\r\n"));
        let g = gather(Merge::Concat, Vec::new(), 0);
        assert_eq!(g.merge(&[b("*1\r\n$1\r\na\r\n"), b("*0\r\n")]), b("*1\r\n$1\r\na\r\n"));
        let g = gather(Merge::Same, Vec::new(), 0);
        assert_eq!(g.merge(&[b("+OK\r\n"), b("+OK\r\n")]), b("+OK\r\n"));
    }

    #[test]
    fn scan_cursors_carry_the_node() {
        let (tx, _rx) = ReplyTx::channel(None);
        let p = ScanPart { node: 1, nodes: 3, tx: RefCell::new(Some(tx)) };
        let r = p.rewrite(&Bytes::from_static(b"*2\r\n$2\r\n17\r\n*0\r\n")).expect("rewrites");
        assert_eq!(&r[..], format!("*2\r\n$7\r\n{}\r\n*0\r\n", (17u64 << 16) | 1).as_bytes());
        let r = p
            .rewrite(&Bytes::from_static(b"*2\r\n$1\r\n0\r\n*1\r\n$1\r\nk\r\n"))
            .expect("rewrites");
        assert_eq!(&r[..], b"*2\r\n$1\r\n2\r\n*1\r\n$1\r\nk\r\n");
        let last = ScanPart { node: 2, nodes: 3, tx: RefCell::new(None) };
        let r = last.rewrite(&Bytes::from_static(b"*2\r\n$1\r\n0\r\n*0\r\n")).expect("rewrites");
        assert_eq!(&r[..], b"*2\r\n$1\r\n0\r\n*0\r\n");
    }
}
