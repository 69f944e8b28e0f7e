//! Encoding the replies hotcache writes itself, in RESP2 or RESP3.

use bytes::{BufMut, BytesMut};

/// The protocol version a client speaks (`HELLO 2` / `HELLO 3`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Proto {
    #[default]
    Resp2,
    Resp3,
}

impl Proto {
    /// The number HELLO uses for this version.
    pub fn number(self) -> i64 {
        match self {
            Proto::Resp2 => 2,
            Proto::Resp3 => 3,
        }
    }
}

/// A buffer of encoded replies for one protocol version.
///
/// Shapes that differ between versions (null, map, set, double, verbatim, push)
/// are encoded as Redis encodes them for that version, so a reply built here reads
/// the same as one Redis would have sent.
#[derive(Debug)]
pub struct ReplyBuf {
    pub buf: BytesMut,
    pub proto: Proto,
}

impl ReplyBuf {
    pub fn new(proto: Proto) -> Self {
        Self { buf: BytesMut::new(), proto }
    }

    pub fn with_capacity(proto: Proto, cap: usize) -> Self {
        Self { buf: BytesMut::with_capacity(cap), proto }
    }

    /// Takes the encoded bytes out, leaving the buffer empty.
    pub fn take(&mut self) -> bytes::Bytes {
        self.buf.split().freeze()
    }

    fn line(&mut self, prefix: u8, n: i64) {
        let mut b = itoa::Buffer::new();
        self.buf.put_u8(prefix);
        self.buf.extend_from_slice(b.format(n).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// `+OK` style status reply.
    pub fn simple(&mut self, s: &str) -> &mut Self {
        self.buf.put_u8(b'+');
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
        self
    }

    pub fn ok(&mut self) -> &mut Self {
        self.buf.extend_from_slice(b"+OK\r\n");
        self
    }

    /// An error reply; `msg` starts with its code (`ERR ...`, `WRONGTYPE ...`).
    /// CR and LF become spaces, as Redis makes them.
    pub fn error(&mut self, msg: impl AsRef<[u8]>) -> &mut Self {
        self.buf.put_u8(b'-');
        for &c in msg.as_ref() {
            self.buf.put_u8(if c == b'\r' || c == b'\n' { b' ' } else { c });
        }
        self.buf.extend_from_slice(b"\r\n");
        self
    }

    pub fn int(&mut self, n: i64) -> &mut Self {
        self.line(b':', n);
        self
    }

    pub fn bulk(&mut self, v: &[u8]) -> &mut Self {
        self.line(b'$', v.len() as i64);
        self.buf.extend_from_slice(v);
        self.buf.extend_from_slice(b"\r\n");
        self
    }

    /// The null bulk: `$-1` in RESP2, `_` in RESP3.
    pub fn null(&mut self) -> &mut Self {
        match self.proto {
            Proto::Resp2 => self.buf.extend_from_slice(b"$-1\r\n"),
            Proto::Resp3 => self.buf.extend_from_slice(b"_\r\n"),
        }
        self
    }

    /// The null array: `*-1` in RESP2, `_` in RESP3.
    pub fn null_array(&mut self) -> &mut Self {
        match self.proto {
            Proto::Resp2 => self.buf.extend_from_slice(b"*-1\r\n"),
            Proto::Resp3 => self.buf.extend_from_slice(b"_\r\n"),
        }
        self
    }

    pub fn array(&mut self, len: usize) -> &mut Self {
        self.line(b'*', len as i64);
        self
    }

    /// A map of `len` pairs: `%len` in RESP3, a flat array of `2*len` in RESP2.
    pub fn map(&mut self, len: usize) -> &mut Self {
        match self.proto {
            Proto::Resp2 => self.line(b'*', 2 * len as i64),
            Proto::Resp3 => self.line(b'%', len as i64),
        }
        self
    }

    /// A set: `~len` in RESP3, an array in RESP2.
    pub fn set(&mut self, len: usize) -> &mut Self {
        match self.proto {
            Proto::Resp2 => self.line(b'*', len as i64),
            Proto::Resp3 => self.line(b'~', len as i64),
        }
        self
    }

    /// A push: `>len` in RESP3, an array in RESP2.
    pub fn push(&mut self, len: usize) -> &mut Self {
        match self.proto {
            Proto::Resp2 => self.line(b'*', len as i64),
            Proto::Resp3 => self.line(b'>', len as i64),
        }
        self
    }

    /// A verbatim string (`=len\r\ntxt:...`) in RESP3, a bulk string in RESP2.
    pub fn verbatim(&mut self, format: &str, text: &[u8]) -> &mut Self {
        match self.proto {
            Proto::Resp2 => {
                self.bulk(text);
            }
            Proto::Resp3 => {
                self.line(b'=', (text.len() + 4) as i64);
                self.buf.extend_from_slice(format.as_bytes());
                self.buf.put_u8(b':');
                self.buf.extend_from_slice(text);
                self.buf.extend_from_slice(b"\r\n");
            }
        }
        self
    }

    /// A boolean: `#t`/`#f` in RESP3, `:1`/`:0` in RESP2.
    pub fn boolean(&mut self, v: bool) -> &mut Self {
        match self.proto {
            Proto::Resp2 => self.int(i64::from(v)),
            Proto::Resp3 => {
                self.buf.extend_from_slice(if v { b"#t\r\n" } else { b"#f\r\n" });
                self
            }
        }
    }

    /// Bytes already encoded for this protocol version.
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self
    }
}
