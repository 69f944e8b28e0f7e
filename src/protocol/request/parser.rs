//! The resumable request parser: the multibulk header, its bulk arguments read
//! across as many reads as they take, and inline lines.

use bytes::{Bytes, BytesMut};

use super::{ParseOutcome, ProtocolError, Request, RequestLimits};
use crate::protocol::{PROTO_INLINE_MAX_SIZE, split_args, string2ll};

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

#[cfg(test)]
mod tests {
    use super::super::parse_all;
    use super::*;

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
