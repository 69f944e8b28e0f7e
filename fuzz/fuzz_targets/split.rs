//! How a fuzz input is read: two header bytes, then the bytes to feed in pieces.
//!
//! Byte 0 holds target options. Byte 1 says how the payload arrives: with bit 7
//! set, one byte at a time (for payloads up to `BYTEWISE_MAX`); otherwise
//! `n = byte1 % 8` pieces, whose lengths are the next `n` bytes (each `len + 1`),
//! and the rest of the payload as one last piece. Lengths rather than offsets
//! keep a mutation of one split from moving all the others.

/// Longest payload fed one byte at a time. Parsers rescan an unfinished inline
/// line from its start on every read (as Redis does), so byte-at-a-time input is
/// quadratic there, and under the fuzzer's comparison tracing that dominated the
/// run time at 4 KB inputs; short payloads cover the resumption logic as well.
const BYTEWISE_MAX: usize = 512;

pub struct Input<'a> {
    /// Target-specific options (not every target has some).
    #[allow(dead_code)]
    pub flags: u8,
    /// The payload, whole.
    #[allow(dead_code)]
    pub payload: &'a [u8],
    /// The same payload cut into the pieces it arrives in.
    pub pieces: Vec<&'a [u8]>,
}

pub fn read(data: &[u8]) -> Option<Input<'_>> {
    let (&flags, rest) = data.split_first()?;
    let (&how, rest) = rest.split_first()?;
    let mut pieces = Vec::new();
    let payload;
    if how & 0x80 != 0 && rest.len() <= BYTEWISE_MAX {
        payload = rest;
        pieces.extend(payload.chunks(1));
    } else {
        let n = usize::from(how % 8).min(rest.len());
        let (lens, body) = rest.split_at(n);
        payload = body;
        let mut at = 0;
        for &l in lens {
            let end = (at + usize::from(l) + 1).min(payload.len());
            pieces.push(&payload[at..end]);
            at = end;
        }
        pieces.push(&payload[at..]);
    }
    Some(Input { flags, payload, pieces })
}
