//! The reply framer: finds where each RESP2/RESP3 reply from an upstream ends.
//!
//! Replies are forwarded as the bytes Redis sent, so all the framer does is find
//! boundaries. It keeps its position between reads so a large reply arriving in
//! many pieces is scanned once, and it walks nested aggregates with an explicit
//! stack, never by recursion.
//!
//! Nesting has no limit of its own: Redis sends what its scripts return (a Lua
//! table 1000 deep is a legal reply), and a reply hotcache cannot frame would
//! take the whole shared connection, and every client's requests on it, down
//! with it. The stack costs 8 bytes per open level, and every level is at
//! least 4 bytes of reply already read, so it stays within twice the reply.

use super::string2ll;

/// What kind of top-level frame was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// An ordinary reply.
    Reply,
    /// An error reply (`-` or RESP3 `!`).
    Error,
    /// A RESP3 push (`>`): out-of-band, not the reply to any request.
    Push,
}

/// The upstream sent something that is not RESP.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("unexpected byte {0:#04x} at the start of a reply")]
    BadType(u8),
    #[error("invalid length in a reply header")]
    BadLength,
}

/// Incremental frame boundary finder for one upstream connection.
#[derive(Debug, Default)]
pub struct ReplyFramer {
    /// Bytes of the current frame already walked.
    pos: usize,
    /// Elements still expected in each open aggregate, innermost last.
    stack: Vec<u64>,
    /// Top-level values still expected (more than one after an attribute `|`).
    top_pending: u8,
}

impl ReplyFramer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Looks for the end of the frame that starts at `buf[0]`.
    ///
    /// Returns its length and kind once it is whole. `buf` must be the same buffer,
    /// only grown, between calls that return `Ok(None)`; after a frame is returned
    /// the caller removes those bytes and the next call starts afresh.
    pub fn next_frame(&mut self, buf: &[u8]) -> Result<Option<(usize, FrameKind)>, FrameError> {
        if self.pos == 0 && self.stack.is_empty() {
            if buf.is_empty() {
                return Ok(None);
            }
            self.top_pending = 1;
        }
        loop {
            let Some((end, value)) = self.element(buf)? else {
                return Ok(None);
            };
            self.pos = end;
            match value {
                Element::Open(n) => {
                    self.stack.push(n);
                    continue;
                }
                // An empty attribute annotates nothing extra: read on.
                Element::Attribute(0) => continue,
                Element::Attribute(n) => {
                    // The attribute is extra: the value it annotates still follows.
                    match self.stack.last_mut() {
                        Some(top) => *top += 1,
                        None => self.top_pending += 1,
                    }
                    self.stack.push(n);
                    continue;
                }
                Element::Scalar => {}
            }
            // One value completed: close every aggregate it completes.
            loop {
                match self.stack.last_mut() {
                    Some(top) => {
                        *top -= 1;
                        if *top > 0 {
                            break;
                        }
                        self.stack.pop();
                    }
                    None => {
                        self.top_pending -= 1;
                        break;
                    }
                }
            }
            if self.stack.is_empty() && self.top_pending == 0 {
                let len = self.pos;
                self.pos = 0;
                // A deep reply should not pin its stack on the connection.
                if self.stack.capacity() > 1024 {
                    self.stack = Vec::new();
                }
                let kind = match buf[0] {
                    b'>' => FrameKind::Push,
                    b'-' | b'!' => FrameKind::Error,
                    _ => FrameKind::Reply,
                };
                return Ok(Some((len, kind)));
            }
        }
    }

    /// Reads one element header (and a whole bulk body) at `self.pos`.
    fn element(&self, buf: &[u8]) -> Result<Option<(usize, Element)>, FrameError> {
        let start = self.pos;
        let Some(&t) = buf.get(start) else {
            return Ok(None);
        };
        let Some(nl) = memchr::memchr(b'\n', &buf[start..]) else {
            return Ok(None);
        };
        let line_end = start + nl + 1;
        // A line is at least its type byte and `\r\n`.
        if nl < 2 || buf[start + nl - 1] != b'\r' {
            return Err(FrameError::BadLength);
        }
        let header = &buf[start + 1..start + nl - 1];
        let len = || string2ll(header).ok_or(FrameError::BadLength);
        Ok(match t {
            b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Some((line_end, Element::Scalar)),
            b'$' | b'!' | b'=' => {
                let n = len()?;
                if n == -1 && t == b'$' {
                    return Ok(Some((line_end, Element::Scalar)));
                }
                if n < 0 {
                    return Err(FrameError::BadLength);
                }
                let end = line_end + n as usize + 2;
                if buf.len() < end {
                    return Ok(None);
                }
                // A body not followed by CRLF means the stream is out of step.
                if &buf[end - 2..end] != b"\r\n" {
                    return Err(FrameError::BadLength);
                }
                Some((end, Element::Scalar))
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let n = len()?;
                if n == -1 && t == b'*' {
                    return Ok(Some((line_end, Element::Scalar)));
                }
                if n < 0 {
                    return Err(FrameError::BadLength);
                }
                let count = if t == b'%' || t == b'|' { 2 * n as u64 } else { n as u64 };
                if t == b'|' {
                    Some((line_end, Element::Attribute(count)))
                } else if count == 0 {
                    Some((line_end, Element::Scalar))
                } else {
                    Some((line_end, Element::Open(count)))
                }
            }
            other => return Err(FrameError::BadType(other)),
        })
    }
}

enum Element {
    Scalar,
    Open(u64),
    Attribute(u64),
}

/// The elements of an array reply, as frames.
pub fn split_array(reply: &bytes::Bytes) -> Vec<bytes::Bytes> {
    let Some(nl) = memchr::memchr(b'\n', reply) else { return Vec::new() };
    let mut out = Vec::new();
    let mut rest = reply.slice(nl + 1..);
    let mut framer = ReplyFramer::new();
    while let Ok(Some((len, _))) = framer.next_frame(&rest) {
        out.push(rest.slice(..len));
        rest = rest.slice(len..);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8]) -> Vec<(usize, FrameKind)> {
        let mut f = ReplyFramer::new();
        let mut out = Vec::new();
        let mut rest = input;
        while let Some((n, k)) = f.next_frame(rest).expect("valid") {
            out.push((n, k));
            rest = &rest[n..];
        }
        out
    }

    #[test]
    fn scalars_and_aggregates() {
        let input = b"+OK\r\n$3\r\nabc\r\n$-1\r\n*-1\r\n*2\r\n:1\r\n*1\r\n$0\r\n\r\n%1\r\n+a\r\n,1.5\r\n>2\r\n+x\r\n+y\r\n-ERR x\r\n*0\r\n";
        let f = frames(input);
        let lens: Vec<usize> = f.iter().map(|x| x.0).collect();
        assert_eq!(lens, vec![5, 9, 5, 5, 18, 14, 12, 8, 4]);
        assert_eq!(f[6].1, FrameKind::Push);
        assert_eq!(f[7].1, FrameKind::Error);
    }

    #[test]
    fn attribute_precedes_its_value() {
        let input = b"|1\r\n+k\r\n+v\r\n:5\r\n+next\r\n";
        assert_eq!(frames(input).iter().map(|x| x.0).collect::<Vec<_>>(), vec![16, 7]);
    }

    #[test]
    fn resumes_across_reads() {
        let input = b"*3\r\n$5\r\nhello\r\n*1\r\n:1\r\n+x\r\n";
        let mut f = ReplyFramer::new();
        for i in 0..input.len() {
            assert_eq!(f.next_frame(&input[..i]).expect("valid"), None, "at {i}");
        }
        assert_eq!(f.next_frame(input).expect("valid"), Some((input.len(), FrameKind::Reply)));
    }

    /// Inputs the fuzzer found: a line starting with CR, and an empty attribute.
    #[test]
    fn fuzz_regressions() {
        let mut f = ReplyFramer::new();
        assert_eq!(f.next_frame(b"\r\n"), Err(FrameError::BadLength));
        let mut f = ReplyFramer::new();
        assert_eq!(f.next_frame(b"|0\r\n+x\r\n"), Ok(Some((8, FrameKind::Reply))));
        let mut f = ReplyFramer::new();
        assert_eq!(f.next_frame(b"$1\r\nabc\r\n"), Err(FrameError::BadLength));
    }

    /// A Lua table 100,000 deep is one reply, framed without recursion, in
    /// one piece or many.
    #[test]
    fn deep_nesting_is_framed_not_recursed() {
        let mut input = b"*1\r\n".repeat(100_000);
        input.extend_from_slice(b":1\r\n+next\r\n");
        let whole = input.len() - 7;
        let mut f = ReplyFramer::new();
        assert_eq!(f.next_frame(&input), Ok(Some((whole, FrameKind::Reply))));
        let mut f = ReplyFramer::new();
        for end in (0..whole).step_by(4093) {
            assert_eq!(f.next_frame(&input[..end]), Ok(None), "at {end}");
        }
        assert_eq!(f.next_frame(&input), Ok(Some((whole, FrameKind::Reply))));
    }
}
