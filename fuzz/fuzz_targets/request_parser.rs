//! Client request parser: arbitrary bytes, split at fuzzer-chosen points.
//!
//! Checks that parsing never panics, never touches bytes it has not consumed,
//! gives the same commands whether input arrives whole or in pieces, and that
//! every command's `frame` parses back to the same arguments.
//!
//! Options (byte 0): bit 0 = unauthenticated; bits 1-2 pick `max_bulk_len`
//! (default, 0, 1, 16).

#![no_main]

mod split;

use bytes::BytesMut;
use hotcache::protocol::{
    PROTO_INLINE_MAX_SIZE, ParseOutcome, ProtocolError, Request, RequestLimits, RequestParser,
};
use libfuzzer_sys::fuzz_target;

/// Everything a run of the parser produced: commands' arguments, and the error
/// that ended it, if any.
type Run = (Vec<Vec<bytes::Bytes>>, Option<ProtocolError>);

/// Feeds `pieces` in order, checking the buffer bookkeeping after every call.
fn feed(pieces: &[&[u8]], limits: &RequestLimits, unauth: bool) -> Run {
    let mut parser = RequestParser::new();
    let mut buf = BytesMut::new();
    // Every byte fed so far, and how many of them the parser has consumed.
    let mut fed: Vec<u8> = Vec::new();
    let mut consumed = 0usize;
    let mut commands = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        fed.extend_from_slice(piece);
        loop {
            let before = buf.len();
            let outcome = parser.parse(&mut buf, limits, unauth);
            assert!(buf.len() <= before, "the parser grew the buffer");
            let taken = &fed[consumed..consumed + (before - buf.len())];
            consumed += before - buf.len();
            // What is left must be exactly the bytes not yet consumed, untouched.
            // Checked when something was consumed and at the end, not after every
            // `Incomplete`: byte-at-a-time input would make that quadratic, and
            // a change to the buffer would still be there at the next check.
            if !taken.is_empty() {
                assert_eq!(&buf[..], &fed[consumed..], "leftover is not the unconsumed input");
            }
            match outcome {
                ParseOutcome::Command(r) => {
                    check_command(&r, taken);
                    commands.push(r.args);
                }
                ParseOutcome::Incomplete => break,
                ParseOutcome::Error(e) => {
                    // The reply is what the client sees; it must be one RESP error line.
                    let reply = e.reply();
                    assert!(reply.starts_with(b"-ERR ") && reply.ends_with(b"\r\n"));
                    assert!(!reply[..reply.len() - 2].contains(&b'\n'));
                    return (commands, Some(e));
                }
            }
        }
    }
    assert_eq!(&buf[..], &fed[consumed..], "leftover is not the unconsumed input");
    (commands, None)
}

/// A command's frame is plain RESP that parses back to the same arguments, and
/// is either the received bytes or their re-encoding.
fn check_command(r: &Request, taken: &[u8]) {
    assert!(!r.args.is_empty(), "a command with no arguments");
    assert!(
        taken.ends_with(&r.frame) || r.frame == Request::from_args(r.args.clone()).frame,
        "frame is neither the received bytes nor a re-encoding"
    );
    // Default limits: inline arguments are not bound by `max_bulk_len` (nor in
    // Redis), so their re-encoding may exceed a tiny one.
    let mut again = BytesMut::from(&r.frame[..]);
    match RequestParser::new().parse(&mut again, &RequestLimits::default(), false) {
        ParseOutcome::Command(back) => {
            assert_eq!(back.args, r.args, "frame parses to other arguments");
            assert_eq!(back.frame, r.frame, "a frame is not its own canonical form");
            assert!(again.is_empty(), "frame has trailing bytes");
        }
        other => panic!("frame {:?} does not parse back: {other:?}", r.frame),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = split::read(data) else { return };
    let unauth = input.flags & 1 != 0;
    let max_bulk_len = match (input.flags >> 1) & 3 {
        0 => RequestLimits::default().max_bulk_len,
        1 => 0,
        2 => 1,
        _ => 16,
    };
    let limits = RequestLimits { max_bulk_len, ..RequestLimits::default() };
    let in_pieces = feed(&input.pieces, &limits, unauth);
    let whole = feed(&[input.payload], &limits, unauth);
    // Redis's size limits apply to what is buffered, so past them the outcome
    // depends on how the bytes arrived; below them it must not.
    if input.payload.len() <= PROTO_INLINE_MAX_SIZE {
        assert_eq!(in_pieces, whole, "pieces and whole input parse differently");
    }
});
