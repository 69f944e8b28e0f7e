//! The client request parser: multibulk and inline, bounded, iterative, resumable.
//!
//! It follows Redis's `processMultibulkBuffer` / `processInlineBuffer` (7.0) closely
//! enough that the same bytes get the same commands, the same error text and the same
//! close, including Redis's tolerances (a length line ends at the first `\r`, the two
//! bytes after a bulk are skipped unchecked, a NUL ends a line search as `strchr` does).
//!
//! This file holds what a parse yields (the request, its limits, the outcome, the
//! protocol errors) and the multibulk encoder; the resumable parser itself is in
//! `parser`, and the GET shortcut that skips it is in `peek`.

mod parser;
mod peek;

use bytes::{Bytes, BytesMut};

pub use parser::RequestParser;
pub use peek::{PEEK_GET_MAX_KEY, peek_get};

/// Limits a client request must respect; each is a Redis config of the same name.
#[derive(Clone, Copy, Debug)]
pub struct RequestLimits {
    /// `proto-max-bulk-len`: the longest bulk argument accepted.
    pub max_bulk_len: i64,
    /// `client-query-buffer-limit`: a client whose unparsed input goes past it
    /// is closed, so its buffer never needs room beyond it.
    pub max_query_buffer: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self { max_bulk_len: 512 * 1024 * 1024, max_query_buffer: 1 << 30 }
    }
}

/// One parsed client command.
#[derive(Clone, Debug)]
pub struct Request {
    /// The arguments, command name first; slices of the read buffer, not copies.
    pub args: Vec<Bytes>,
    /// The request as a canonical multibulk frame, ready to forward as is.
    ///
    /// For a canonical multibulk request this is the received bytes; inline
    /// requests and requests with unusual line endings are encoded again so
    /// that an upstream never sees anything but plain RESP.
    pub frame: Bytes,
}

impl Request {
    /// Builds a request from arguments, encoding its frame.
    pub fn from_args(args: Vec<Bytes>) -> Self {
        let frame = encode_multibulk(&args);
        Self { args, frame }
    }

    /// The command name as received (any case).
    pub fn name(&self) -> &[u8] {
        self.args.first().map(|b| &b[..]).unwrap_or(b"")
    }
}

/// A protocol error: Redis replies with this text and closes the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("Protocol error: too big mbulk count string")]
    TooBigMbulkCount,
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    #[error("Protocol error: unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    #[error("Protocol error: too big bulk count string")]
    TooBigBulkCount,
    #[error("Protocol error: expected '$', got '{}'", char::from(*.0))]
    ExpectedDollar(u8),
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    #[error("Protocol error: unauthenticated bulk length")]
    UnauthenticatedBulkLength,
    #[error("Protocol error: too big inline request")]
    TooBigInline,
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
}

impl ProtocolError {
    /// The exact error reply Redis sends for this error, `-ERR ...\r\n`.
    pub fn reply(&self) -> Vec<u8> {
        let mut out = b"-ERR ".to_vec();
        match self {
            // `%c` of a raw byte, with CR/LF made spaces as addReplyErrorFormat does.
            ProtocolError::ExpectedDollar(c) => {
                out.extend_from_slice(b"Protocol error: expected '$', got '");
                out.push(if *c == b'\r' || *c == b'\n' { b' ' } else { *c });
                out.push(b'\'');
            }
            other => out.extend_from_slice(other.to_string().as_bytes()),
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// What one call to [`RequestParser::parse`] found.
#[derive(Debug)]
pub enum ParseOutcome {
    /// A whole command, removed from the buffer.
    Command(Request),
    /// More bytes are needed; what is there stays in the buffer.
    Incomplete,
    /// The input breaks the protocol: reply with the error, then close.
    Error(ProtocolError),
}

/// Encodes arguments as a RESP multibulk request.
pub fn encode_multibulk(args: &[Bytes]) -> Bytes {
    let size: usize = args.iter().map(|a| a.len() + 16).sum::<usize>() + 16;
    let mut out = BytesMut::with_capacity(size);
    let mut num = itoa::Buffer::new();
    out.extend_from_slice(b"*");
    out.extend_from_slice(num.format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        out.extend_from_slice(b"$");
        out.extend_from_slice(num.format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out.freeze()
}

/// Runs the parser over `input` until it stops: the commands, the error if any,
/// and the bytes left unparsed. Shared by the parser's and the peek's tests.
#[cfg(test)]
fn parse_all(input: &[u8]) -> (Vec<Vec<Vec<u8>>>, Option<ProtocolError>, usize) {
    let mut buf = BytesMut::from(input);
    let mut p = RequestParser::new();
    let mut out = Vec::new();
    loop {
        match p.parse(&mut buf, &RequestLimits::default(), false) {
            ParseOutcome::Command(r) => out.push(r.args.iter().map(|a| a.to_vec()).collect()),
            ParseOutcome::Incomplete => return (out, None, buf.len()),
            ParseOutcome::Error(e) => return (out, Some(e), buf.len()),
        }
    }
}
