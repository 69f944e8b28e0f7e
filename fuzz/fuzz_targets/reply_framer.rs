//! Reply framer: arbitrary bytes, fed whole and in fuzzer-chosen pieces.
//!
//! Checks that framing never panics and finds the same frames (lengths and
//! kinds), and the same error, however the bytes arrive. Byte 0 is unused.

#![no_main]

mod split;

use hotcache::protocol::{FrameError, FrameKind, ReplyFramer};
use libfuzzer_sys::fuzz_target;

/// Frames found, in order, and the error that stopped framing, if any.
type Run = (Vec<(usize, FrameKind)>, Option<FrameError>);

/// Frames `pieces` as a connection would: the buffer only grows between calls
/// that return `None`, and a found frame's bytes are removed before the next.
fn feed(pieces: &[&[u8]]) -> Run {
    let mut framer = ReplyFramer::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut frames = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match framer.next_frame(&buf) {
                Ok(Some((len, kind))) => {
                    assert!(len > 0 && len <= buf.len(), "frame length {len} of {}", buf.len());
                    let expected = match buf[0] {
                        b'>' => FrameKind::Push,
                        b'-' | b'!' => FrameKind::Error,
                        _ => FrameKind::Reply,
                    };
                    assert_eq!(kind, expected);
                    frames.push((len, kind));
                    buf.drain(..len);
                }
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
    }
    (frames, None)
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = split::read(data) else { return };
    let in_pieces = feed(&input.pieces);
    let whole = feed(&[input.payload]);
    assert_eq!(in_pieces, whole, "pieces and whole input frame differently");
});
