//! A client's unsent output: small replies copied together into one buffer,
//! large ones kept as the `Bytes` they arrived in and written with `writev`.
//!
//! A reply is usually a slice of an upstream read buffer or a cache entry
//! already; copying a large one into a contiguous buffer costs its size again
//! for every client owed it (a 10 MB value that 300 pipelined GETs joined is
//! one 10 MB reply, but would be 3 GB of copies) and the time to copy it, with
//! every other client of the thread waiting.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

/// Replies at least this long are queued as they are, not copied.
const LARGE: usize = 16 * 1024;
/// Most pieces handed to one `writev`.
const MAX_SLICES: usize = 64;

#[derive(Default)]
pub(in crate::server) struct OutBuf {
    /// Whole pieces, in order, all before `tail`.
    chunks: VecDeque<Bytes>,
    /// Small replies copied together, after every chunk.
    tail: BytesMut,
    /// Bytes not yet written, chunks and tail together.
    len: usize,
}

impl OutBuf {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a copy of `b`.
    pub fn extend_from_slice(&mut self, b: &[u8]) {
        self.tail.extend_from_slice(b);
        self.len += b.len();
    }

    /// Appends `b`: queued as it is when large, copied when small.
    pub fn push(&mut self, b: &Bytes) {
        if b.len() < LARGE {
            return self.extend_from_slice(b);
        }
        if !self.tail.is_empty() {
            self.chunks.push_back(self.tail.split().freeze());
        }
        self.chunks.push_back(b.clone());
        self.len += b.len();
    }

    /// Writes what `write` takes, in order, until it would block. `write` gets
    /// the pieces in order and returns how many bytes it wrote (`writev`).
    pub fn write_with(
        &mut self,
        mut write: impl FnMut(&[IoSlice<'_>]) -> std::io::Result<usize>,
    ) -> std::io::Result<usize> {
        let mut total = 0;
        while !self.is_empty() {
            let n = {
                let mut slices: Vec<IoSlice<'_>> =
                    Vec::with_capacity(self.chunks.len().min(MAX_SLICES) + 1);
                slices.extend(self.chunks.iter().take(MAX_SLICES).map(|c| IoSlice::new(c)));
                if slices.len() < MAX_SLICES && !self.tail.is_empty() {
                    slices.push(IoSlice::new(&self.tail));
                }
                match write(&slices) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            };
            if n == 0 {
                break;
            }
            self.consume(n);
            total += n;
        }
        Ok(total)
    }

    /// Drops the first `n` bytes (they were written).
    fn consume(&mut self, mut n: usize) {
        self.len -= n;
        while n > 0 {
            match self.chunks.front_mut() {
                Some(c) if c.len() <= n => {
                    n -= c.len();
                    self.chunks.pop_front();
                }
                Some(c) => {
                    c.advance(n);
                    return;
                }
                None => {
                    self.tail.advance(n);
                    return;
                }
            }
        }
    }

    /// Memory held beyond what is queued: the tail's capacity.
    pub fn capacity(&self) -> usize {
        self.tail.capacity()
    }

    /// Lets go of the tail's memory (an idle client, or one that once wrote a
    /// lot): the allocator hands the same blocks back quickly when needed.
    pub fn release(&mut self) {
        if self.tail.is_empty() {
            self.tail = BytesMut::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes at most `max` bytes per call into `sink`.
    fn drain(out: &mut OutBuf, max: usize) -> Vec<u8> {
        let mut sink = Vec::new();
        out.write_with(|slices| {
            let mut n = 0;
            for s in slices {
                let take = s.len().min(max - n);
                sink.extend_from_slice(&s[..take]);
                n += take;
                if n == max {
                    break;
                }
            }
            Ok(n)
        })
        .expect("writes");
        sink
    }

    #[test]
    fn order_is_kept_across_copies_and_chunks() {
        let mut out = OutBuf::default();
        let big = Bytes::from(vec![b'B'; LARGE + 3]);
        out.extend_from_slice(b"+a\r\n");
        out.push(&big);
        out.push(&Bytes::from_static(b"+c\r\n"));
        out.push(&big);
        assert_eq!(out.len(), 8 + 2 * big.len());
        let mut want = b"+a\r\n".to_vec();
        want.extend_from_slice(&big);
        want.extend_from_slice(b"+c\r\n");
        want.extend_from_slice(&big);
        // In pieces of every size, the bytes come out whole and in order.
        for step in [1, 7, 4096, LARGE + 5, usize::MAX] {
            let mut o = OutBuf::default();
            o.extend_from_slice(b"+a\r\n");
            o.push(&big);
            o.push(&Bytes::from_static(b"+c\r\n"));
            o.push(&big);
            let mut got = Vec::new();
            while !o.is_empty() {
                got.extend(drain(&mut o, step.min(want.len())));
            }
            assert_eq!(got, want, "step {step}");
        }
    }

    #[test]
    fn a_large_reply_is_not_copied() {
        let mut out = OutBuf::default();
        let big = Bytes::from(vec![b'x'; 1 << 20]);
        for _ in 0..100 {
            out.push(&big);
        }
        assert_eq!(out.len(), 100 << 20);
        assert_eq!(out.capacity(), 0, "nothing copied");
    }
}
