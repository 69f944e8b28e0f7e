//! The client request parser: multibulk and inline, bounded, iterative, resumable.
//!
//! It follows Redis's `processMultibulkBuffer` / `processInlineBuffer` (7.0) closely
//! enough that the same bytes get the same commands, the same error text and the same
//! close, including Redis's tolerances (a length line ends at the first `\r`, the two
//! bytes after a bulk are skipped unchecked, a NUL ends a line search as `strchr` does).

use bytes::{Bytes, BytesMut};

use super::{PROTO_INLINE_MAX_SIZE, split_args, string2ll};

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

/// Parser state for one connection, kept between reads so that a long request
/// arriving in pieces is scanned once, not once per piece.
#[derive(Debug, Default)]
pub struct RequestParser {
    /// Elements of the current multibulk request still to read; 0 when between requests.
    remaining: usize,
    /// Offset in the buffer where scanning resumes.
    pos: usize,
    /// Length of the bulk being read, once its header has been read.
    bulk_len: Option<usize>,
    /// (start, end) of each argument read so far in the current request.
    spans: Vec<(usize, usize)>,
    /// False once the current request used anything but `\r\n` line endings.
    canonical: bool,
}

/// Finds the first `needle` before any NUL, as C's `strchr` on Redis's query buffer.
fn strchr(hay: &[u8], needle: u8) -> Option<usize> {
    match memchr::memchr2(needle, 0, hay) {
        Some(i) if hay[i] == needle => Some(i),
        _ => None,
    }
}

impl RequestParser {
    /// Creates a parser with no request in progress.
    pub fn new() -> Self {
        Self::default()
    }

    /// True when part of a request has been read and the rest is awaited.
    pub fn in_progress(&self) -> bool {
        self.remaining > 0
    }

    /// Parses the next command from `buf`, skipping empty requests (`*0`, `*-1`,
    /// blank inline lines) as Redis does. `unauthenticated` applies Redis's tighter
    /// limits for clients that still have to AUTH.
    pub fn parse(
        &mut self,
        buf: &mut BytesMut,
        limits: &RequestLimits,
        unauthenticated: bool,
    ) -> ParseOutcome {
        loop {
            if self.remaining == 0 {
                if buf.is_empty() {
                    return ParseOutcome::Incomplete;
                }
                let step = if buf[0] == b'*' {
                    self.start_multibulk(buf, unauthenticated)
                } else {
                    self.inline(buf)
                };
                match step {
                    Step::Empty => continue,
                    Step::Started => {}
                    Step::Done(outcome) => return outcome,
                }
            }
            return self.continue_multibulk(buf, limits, unauthenticated);
        }
    }

    /// Reads the `*<count>\r\n` header of a multibulk request.
    fn start_multibulk(&mut self, buf: &mut BytesMut, unauthenticated: bool) -> Step {
        let Some(cr) = strchr(buf, b'\r') else {
            if buf.len() > PROTO_INLINE_MAX_SIZE {
                return Step::Done(ParseOutcome::Error(ProtocolError::TooBigMbulkCount));
            }
            return Step::Done(ParseOutcome::Incomplete);
        };
        // The line needs the byte after `\r` too (Redis does not check it is `\n`).
        if cr + 2 > buf.len() {
            return Step::Done(ParseOutcome::Incomplete);
        }
        let count = match string2ll(&buf[1..cr]) {
            Some(n) if n <= i64::from(i32::MAX) => n,
            _ => return Step::Done(ParseOutcome::Error(ProtocolError::InvalidMultibulkLength)),
        };
        if count > 10 && unauthenticated {
            return Step::Done(ParseOutcome::Error(ProtocolError::UnauthenticatedMultibulkLength));
        }
        let canonical = buf[cr + 1] == b'\n';
        if count <= 0 {
            let _ = buf.split_to(cr + 2);
            return Step::Empty;
        }
        self.remaining = count as usize;
        self.pos = cr + 2;
        self.bulk_len = None;
        self.spans.clear();
        // A claimed count is not trusted for allocation: grow as arguments arrive.
        self.spans.reserve(self.remaining.min(64));
        self.canonical = canonical;
        Step::Started
    }

    /// Reads bulk arguments until the request is whole or the buffer runs out.
    fn continue_multibulk(
        &mut self,
        buf: &mut BytesMut,
        limits: &RequestLimits,
        unauthenticated: bool,
    ) -> ParseOutcome {
        while self.remaining > 0 {
            let len = match self.bulk_len {
                Some(len) => len,
                None => {
                    let rest = &buf[self.pos..];
                    let Some(cr) = strchr(rest, b'\r') else {
                        if rest.len() > PROTO_INLINE_MAX_SIZE {
                            return ParseOutcome::Error(ProtocolError::TooBigBulkCount);
                        }
                        return ParseOutcome::Incomplete;
                    };
                    if cr + 2 > rest.len() {
                        return ParseOutcome::Incomplete;
                    }
                    if rest[0] != b'$' {
                        return ParseOutcome::Error(ProtocolError::ExpectedDollar(rest[0]));
                    }
                    let len = match string2ll(&rest[1..cr]) {
                        Some(n) if n >= 0 && n <= limits.max_bulk_len => n as usize,
                        _ => return ParseOutcome::Error(ProtocolError::InvalidBulkLength),
                    };
                    if len > 16384 && unauthenticated {
                        return ParseOutcome::Error(ProtocolError::UnauthenticatedBulkLength);
                    }
                    if rest[cr + 1] != b'\n' {
                        self.canonical = false;
                    }
                    self.pos += cr + 2;
                    self.bulk_len = Some(len);
                    len
                }
            };
            if buf.len() - self.pos < len + 2 {
                // Room for the whole argument at once, as Redis makes for a big
                // one: grown step by step, the buffer would copy itself at each
                // doubling and hold twice its size meanwhile (an endless bulk
                // under a 64 MB limit peaked at 2.2 times the limit). The announced
                // length is trusted only up to the query buffer limit, past which
                // the client is closed anyway; the memory is touched only as
                // bytes arrive.
                let missing = len + 2 - (buf.len() - self.pos);
                let room = limits.max_query_buffer.saturating_sub(buf.len()).saturating_add(1);
                buf.reserve(missing.min(room));
                return ParseOutcome::Incomplete;
            }
            if &buf[self.pos + len..self.pos + len + 2] != b"\r\n" {
                self.canonical = false;
            }
            self.spans.push((self.pos, self.pos + len));
            self.pos += len + 2;
            self.bulk_len = None;
            self.remaining -= 1;
        }
        let frame = buf.split_to(self.pos).freeze();
        let args: Vec<Bytes> = self.spans.iter().map(|&(s, e)| frame.slice(s..e)).collect();
        self.pos = 0;
        self.spans.clear();
        if self.spans.capacity() > 1024 {
            self.spans.shrink_to(64);
        }
        let request =
            if self.canonical { Request { args, frame } } else { Request::from_args(args) };
        ParseOutcome::Command(request)
    }

    /// Reads one inline request line.
    fn inline(&mut self, buf: &mut BytesMut) -> Step {
        let Some(nl) = strchr(buf, b'\n') else {
            if buf.len() > PROTO_INLINE_MAX_SIZE {
                return Step::Done(ParseOutcome::Error(ProtocolError::TooBigInline));
            }
            return Step::Done(ParseOutcome::Incomplete);
        };
        let end = if nl > 0 && buf[nl - 1] == b'\r' { nl - 1 } else { nl };
        let Some(words) = split_args(&buf[..end]) else {
            return Step::Done(ParseOutcome::Error(ProtocolError::UnbalancedQuotes));
        };
        let _ = buf.split_to(nl + 1);
        if words.is_empty() {
            return Step::Empty;
        }
        let args = words.into_iter().map(Bytes::from).collect();
        Step::Done(ParseOutcome::Command(Request::from_args(args)))
    }
}

enum Step {
    /// A request with no arguments was consumed; look for the next.
    Empty,
    /// A multibulk header was read; read its arguments.
    Started,
    Done(ParseOutcome),
}

/// Longest key [`peek_get`] takes; longer ones go through the parser.
pub const PEEK_GET_MAX_KEY: usize = 4096;

/// A whole canonical `*2\r\n$3\r\nGET\r\n$<n>\r\n<key>\r\n` at the start of
/// `buf` (GET in any case): the key's span and the request's length, without
/// building a [`Request`]. Anything else (another command, other line endings,
/// a length with a sign or a leading zero, a key over [`PEEK_GET_MAX_KEY`], an
/// incomplete request) is `None`, and the parser reads it as usual; whatever
/// this accepts, the parser reads as the same GET.
pub fn peek_get(buf: &[u8]) -> Option<(usize, usize, usize)> {
    const HEAD: &[u8] = b"*2\r\n$3\r\n";
    if buf.len() < 19 || &buf[..8] != HEAD || !buf[8..11].eq_ignore_ascii_case(b"get") {
        return None;
    }
    if &buf[11..14] != b"\r\n$" {
        return None;
    }
    let digits = buf[14..].iter().take(5).take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || (digits > 1 && buf[14] == b'0') {
        return None;
    }
    let after = 14 + digits;
    if buf.get(after..after + 2) != Some(b"\r\n") {
        return None;
    }
    let len = buf[14..after].iter().fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
    if len > PEEK_GET_MAX_KEY {
        return None;
    }
    let start = after + 2;
    let end = start + len;
    if buf.get(end..end + 2) != Some(b"\r\n") {
        return None;
    }
    Some((start, end, end + 2))
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn peek_get_takes_only_what_the_parser_reads_as_the_same_get() {
        let cases: &[&[u8]] = &[
            b"*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n",
            b"*2\r\n$3\r\ngEt\r\n$0\r\n\r\n*1\r\n$4\r\nPING\r\n",
            b"*2\r\n$3\r\nGET\r\n$10\r\n0123456789\r\n",
            b"*2\r\n$3\r\nGET\r\n$3\r\na\r\n\r\n",
            b"*2\r\n$3\r\nGET\r\n$0\r\n\r\n",
        ];
        for input in cases {
            let (s, e, n) = peek_get(input).expect("a GET");
            let (cmds, err, rest) = parse_all(&input[..n]);
            assert!(err.is_none() && rest == 0, "{input:?}");
            assert_eq!(cmds, vec![vec![input[8..11].to_vec(), input[s..e].to_vec()]]);
        }
        let refused: &[&[u8]] = &[
            b"*2\r\n$3\r\nGET\r\n$3\r\nfoo\r",
            b"*2\r\n$3\r\nGET\r\n$3\r\nfoo",
            b"*2\r\n$3\r\nGET\r\n$03\r\nfoo\r\n",
            b"*2\r\n$3\r\nGET\r\n$-3\r\nfoo\r\n",
            b"*2\r\n$3\r\nGET\r\n$3\nfoo\r\n",
            b"*2\r\n$3\r\nGET\r\n$3\r\nfoo\n\n",
            b"*2\r\n$3\r\nSET\r\n$3\r\nfoo\r\n",
            b"*3\r\n$3\r\nGET\r\n$3\r\nfoo\r\n",
            b"*2\r\n$3\r\nGET\r\n$99999\r\nfoo\r\n",
            b"GET foo\r\n",
        ];
        for input in refused {
            assert_eq!(peek_get(input), None, "{input:?}");
        }
    }

    #[test]
    fn multibulk_and_inline() {
        let (cmds, err, left) =
            parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\na\r\nPING\r\n*0\r\n\r\n*-1\r\nECHO x\n");
        assert_eq!(err, None);
        assert_eq!(left, 0);
        assert_eq!(cmds.len(), 3);
        assert_eq!(cmds[0], vec![b"GET".to_vec(), b"a".to_vec()]);
        assert_eq!(cmds[1], vec![b"PING".to_vec()]);
        assert_eq!(cmds[2], vec![b"ECHO".to_vec(), b"x".to_vec()]);
    }

    #[test]
    fn resumes_byte_by_byte() {
        let input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n";
        let mut buf = BytesMut::new();
        let mut p = RequestParser::new();
        for (i, b) in input.iter().enumerate() {
            buf.extend_from_slice(&[*b]);
            match p.parse(&mut buf, &RequestLimits::default(), false) {
                ParseOutcome::Command(r) => {
                    assert_eq!(i, input.len() - 1);
                    assert_eq!(&r.frame[..], &input[..]);
                    return;
                }
                ParseOutcome::Incomplete => {}
                ParseOutcome::Error(e) => panic!("{e}"),
            }
        }
        panic!("never complete");
    }

    #[test]
    fn errors_match_redis() {
        assert_eq!(parse_all(b"*x\r\n").1, Some(ProtocolError::InvalidMultibulkLength));
        assert_eq!(parse_all(b"*1\r\n*1\r\n").1, Some(ProtocolError::ExpectedDollar(b'*')));
        assert_eq!(parse_all(b"*1\r\n$-1\r\n").1, Some(ProtocolError::InvalidBulkLength));
        assert_eq!(parse_all(b"*1\r\n$536870913\r\n").1, Some(ProtocolError::InvalidBulkLength));
        assert_eq!(parse_all(b"set \"a\n").1, Some(ProtocolError::UnbalancedQuotes));
        let long = vec![b'a'; PROTO_INLINE_MAX_SIZE + 1];
        assert_eq!(parse_all(&long).1, Some(ProtocolError::TooBigInline));
        assert_eq!(
            ProtocolError::ExpectedDollar(b'*').reply(),
            b"-ERR Protocol error: expected '$', got '*'\r\n".to_vec()
        );
    }

    #[test]
    fn deep_nesting_is_not_recursion() {
        let input = b"*1\r\n".repeat(100_000);
        assert_eq!(parse_all(&input).1, Some(ProtocolError::ExpectedDollar(b'*')));
    }

    #[test]
    fn non_canonical_frames_are_reencoded() {
        let mut buf = BytesMut::from(&b"*1\rx$4\rxPING\r\n"[..]);
        let mut p = RequestParser::new();
        match p.parse(&mut buf, &RequestLimits::default(), false) {
            ParseOutcome::Command(r) => assert_eq!(&r.frame[..], b"*1\r\n$4\r\nPING\r\n"),
            other => panic!("{other:?}"),
        }
    }
}
