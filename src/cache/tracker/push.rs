//! Reading Redis's `invalidate` pushes off the tracking stream.

use super::super::epoch::Epochs;
use crate::protocol::string2ll;
use crate::stats::{ShardCounters, inc};

/// Applies one `invalidate` push: an array of keys, or null for "everything".
/// Returns what it said (Some(None) for everything), None if it was not one.
pub(super) fn invalidate<'a>(
    push: &'a [u8],
    epochs: &Epochs,
    c: &ShardCounters,
) -> Option<Option<Vec<&'a [u8]>>> {
    let mut p = Cursor { buf: push, pos: 0 };
    let (Some(b'>'), Some(2)) = (p.byte(), p.number()) else { return None };
    if p.bulk() != Some(&b"invalidate"[..]) {
        return None;
    }
    inc(&c.tracking_messages);
    match p.byte() {
        Some(b'*') => {
            let n = p.number().unwrap_or(0);
            let mut keys = Vec::with_capacity(usize::try_from(n).unwrap_or(0).min(1024));
            for _ in 0..n {
                match p.bulk() {
                    Some(key) => {
                        let slot = epochs.slot(key);
                        epochs.invalidate_slot(slot);
                        // A write by someone else: counted for the write-hot guard.
                        super::super::admit::record_write(slot);
                        inc(&c.invalidations_tracking);
                        keys.push(key);
                    }
                    None => break,
                }
            }
            Some(Some(keys))
        }
        // A null: FLUSHALL/FLUSHDB, or Redis dropping its tracking state.
        _ => {
            epochs.invalidate_all();
            inc(&c.invalidations_flush);
            Some(None)
        }
    }
}

/// A tiny reader for the fixed shape of invalidation pushes.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// Reads digits up to CRLF.
    fn number(&mut self) -> Option<i64> {
        let rest = self.buf.get(self.pos..)?;
        let end = memchr::memchr(b'\r', rest)?;
        let n = string2ll(&rest[..end])?;
        self.pos += end + 2;
        Some(n)
    }

    /// Reads a `$len\r\nbytes\r\n` bulk string.
    fn bulk(&mut self) -> Option<&'a [u8]> {
        if self.byte()? != b'$' {
            return None;
        }
        let len = usize::try_from(self.number()?).ok()?;
        let body = self.buf.get(self.pos..self.pos + len)?;
        self.pos += len + 2;
        Some(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_invalidation_pushes() {
        let epochs = Epochs::new(8);
        let c = ShardCounters::default();
        let a = epochs.stamp(b"a");
        let b = epochs.stamp(b"bb");
        invalidate(b">2\r\n$10\r\ninvalidate\r\n*2\r\n$1\r\na\r\n$2\r\nbb\r\n", &epochs, &c);
        assert!(!epochs.is_current(&a) && !epochs.is_current(&b));
        let x = epochs.stamp(b"x");
        invalidate(b">2\r\n$10\r\ninvalidate\r\n_\r\n", &epochs, &c);
        assert!(!epochs.is_current(&x));
    }
}
