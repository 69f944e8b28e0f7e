//! A client's byte stream: plain TCP, or TLS over it (`tls-port`).
//!
//! Both are waited on by the socket's readiness; TLS adds a decrypt step after
//! each read and an encrypt step before each write (see `tls::session`). The
//! plain case comes first and is not boxed: matching on it is the whole cost
//! TLS support adds to a plain connection.

use std::io;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::out::OutBuf;
use crate::tls::session;

pub(in crate::server) enum ClientStream {
    Plain(TcpStream),
    Tls(Box<TlsClient>),
}

/// A TLS client: its socket and its rustls session.
pub(in crate::server) struct TlsClient {
    tcp: TcpStream,
    tls: rustls::ServerConnection,
    /// The peer closed (close_notify or EOF) in a read that also brought
    /// data: the next read reports the close without waiting on the socket.
    closed: bool,
}

/// What one read from a TLS client gave.
pub(in crate::server) enum TlsRead {
    /// Plaintext bytes appended; `full`: the socket may hold more.
    Data {
        n: usize,
        full: bool,
    },
    Closed,
}

impl ClientStream {
    /// A TLS client just accepted: the handshake runs as the connection reads
    /// and writes.
    pub fn tls(tcp: TcpStream, config: std::sync::Arc<rustls::ServerConfig>) -> io::Result<Self> {
        let tls = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
        Ok(ClientStream::Tls(Box::new(TlsClient { tcp, tls, closed: false })))
    }

    pub fn tcp(&self) -> &TcpStream {
        match self {
            ClientStream::Plain(s) => s,
            ClientStream::Tls(t) => &t.tcp,
        }
    }

    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            ClientStream::Plain(s) => s.poll_read_ready(cx),
            ClientStream::Tls(t) if t.closed => Poll::Ready(Ok(())),
            ClientStream::Tls(t) => t.tcp.poll_read_ready(cx),
        }
    }

    /// True when TLS records (the handshake's, encrypted replies) wait to be
    /// written: the connection must wait for the socket to take them.
    #[inline]
    pub fn has_records(&self) -> bool {
        match self {
            ClientStream::Plain(_) => false,
            ClientStream::Tls(t) => t.tls.wants_write(),
        }
    }

    /// Writes what the socket takes of `out`: for TLS, encrypted as it goes
    /// (records the session holds first). Returns the plaintext bytes taken.
    pub fn write_out(&mut self, out: &mut OutBuf) -> io::Result<usize> {
        match self {
            ClientStream::Plain(s) => out.write_with(|slices| s.try_write_vectored(slices)),
            ClientStream::Tls(t) => {
                let mut total = 0;
                // Records out first; then more plaintext is encrypted only
                // while the session's bounded buffer takes it.
                while session::flush(&t.tcp, &mut t.tls)? && !out.is_empty() {
                    let n = out.write_with(|slices| session::encrypt(&mut t.tls, slices))?;
                    if n == 0 {
                        break;
                    }
                    total += n;
                }
                Ok(total)
            }
        }
    }

    /// One TLS read (see `session::read`); `WouldBlock` when there was nothing
    /// to parse.
    pub fn read_tls(t: &mut TlsClient, rbuf: &mut BytesMut) -> io::Result<TlsRead> {
        if t.closed {
            return Ok(TlsRead::Closed);
        }
        match session::read(&t.tcp, &mut t.tls, rbuf) {
            Ok(g) if g.plain > 0 => {
                t.closed = g.closed;
                Ok(TlsRead::Data { n: g.plain, full: g.full })
            }
            Ok(g) if g.closed => Ok(TlsRead::Closed),
            Ok(_) => Err(io::ErrorKind::WouldBlock.into()),
            Err(e) => Err(e),
        }
    }

    /// Everything the client already sent, read now without waiting (at
    /// shutdown): appended to `rbuf` as plaintext up to about `limit` bytes.
    /// Returns the bytes read from the socket.
    pub fn read_now(&mut self, rbuf: &mut BytesMut, limit: u64) -> usize {
        use std::io::Read as _;
        let (tcp, mut tls) = match self {
            ClientStream::Plain(s) => (&*s, None),
            ClientStream::Tls(t) => (&t.tcp, Some(&mut t.tls)),
        };
        let sock = socket2::SockRef::from(tcp);
        let mut buf = [0u8; 16 * 1024];
        let mut total = 0;
        while (rbuf.len() as u64) < limit {
            match (&*sock).read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    total += n;
                    let Some(tls) = tls.as_deref_mut() else {
                        rbuf.extend_from_slice(&buf[..n]);
                        continue;
                    };
                    let mut plain = 0;
                    // Closed (close_notify) or broken: nothing more to take.
                    if !matches!(session::feed(tls, &buf[..n], rbuf, &mut plain), Ok(false)) {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        total
    }

    /// At shutdown, once the last reply is out: close_notify for TLS, FIN,
    /// then whatever the client still sends is read and dropped until it
    /// closes (500 ms at most). Closing with input unread would reset the
    /// connection, and a reset throws away replies the client has not read yet.
    pub async fn linger(&mut self) {
        if let ClientStream::Tls(t) = self {
            t.tls.send_close_notify();
            let tcp = &t.tcp;
            let tls = &mut t.tls;
            let sent =
                tokio::time::timeout(Duration::from_millis(500), session::flush_all(tcp, tls));
            if !matches!(sent.await, Ok(Ok(()))) {
                return;
            }
        }
        let tcp = match self {
            ClientStream::Plain(s) => s,
            ClientStream::Tls(t) => &mut t.tcp,
        };
        if tcp.shutdown().await.is_err() {
            return;
        }
        // On the heap: an array here would grow every connection's task.
        let mut buf = vec![0u8; 4096];
        let _ = tokio::time::timeout(Duration::from_millis(500), async {
            while let Ok(n) = tcp.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    }

    /// Answers a client that cannot be served (maxclients) and closes it. A
    /// TLS client gets the handshake first, so that it can read the error
    /// (Redis drops it unanswered); the whole is bounded by one second.
    pub async fn refuse(self, reply: &[u8]) {
        let within = Duration::from_secs(1);
        match self {
            ClientStream::Plain(mut s) => {
                let _ = tokio::time::timeout(within, s.write_all(reply)).await;
            }
            ClientStream::Tls(mut t) => {
                let _ = tokio::time::timeout(within, t.handshake_and_write(reply)).await;
            }
        }
    }
}

/// A TLS session ends with a close_notify, if the socket takes it now (a
/// courtesy: Redis closes without one, and clients cope either way). In
/// `Drop`, so that it goes after the client has left the registry (`Conn`
/// drops its registration before its stream).
impl Drop for TlsClient {
    fn drop(&mut self) {
        self.tls.send_close_notify();
        let _ = session::flush(&self.tcp, &mut self.tls);
    }
}

impl TlsClient {
    /// Completes the handshake and writes `reply`.
    async fn handshake_and_write(&mut self, reply: &[u8]) -> io::Result<()> {
        let mut sink = BytesMut::new();
        while self.tls.is_handshaking() {
            session::flush_all(&self.tcp, &mut self.tls).await?;
            self.tcp.readable().await?;
            match session::read(&self.tcp, &mut self.tls, &mut sink) {
                Ok(g) if g.closed => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        io::Write::write_all(&mut self.tls.writer(), reply)?;
        self.tls.send_close_notify();
        session::flush_all(&self.tcp, &mut self.tls).await
    }
}
