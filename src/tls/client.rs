//! Connections to Redis: plain TCP or TLS (`rediss://`), one type for both.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::load;
use crate::config::{Config, host_of};

/// How hotcache reaches a Redis over TLS: the `upstream-tls-*` settings, loaded.
pub struct UpstreamTls {
    connector: TlsConnector,
    config: Arc<ClientConfig>,
    /// `upstream-tls-server-name`; None: the host of each address.
    server_name: Option<ServerName<'static>>,
}

impl std::fmt::Debug for UpstreamTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamTls").field("server_name", &self.server_name).finish()
    }
}

impl UpstreamTls {
    /// Loads the CA (or the system's), the client certificate if any, and
    /// checks the server name.
    pub fn new(c: &Config) -> Result<Self, String> {
        let roots = if c.upstream_tls_ca_cert_file.is_empty() {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = rustls::RootCertStore::empty();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err("no CA certificates found on the system: \
                            set upstream-tls-ca-cert-file"
                    .into());
            }
            roots
        } else {
            load::roots(&c.upstream_tls_ca_cert_file, "")?
        };
        let builder =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("Failed to configure TLS: {e}"))?
                .with_root_certificates(roots);
        let config = match (c.upstream_tls_cert_file.is_empty(), c.upstream_tls_key_file.is_empty())
        {
            (true, true) => builder.with_no_client_auth(),
            (false, false) => {
                let certs = load::certs(&c.upstream_tls_cert_file)?;
                let key = load::key(&c.upstream_tls_key_file, &c.upstream_tls_key_file_pass)?;
                builder.with_client_auth_cert(certs, key).map_err(|e| {
                    format!("Failed to load private key: {}: {e}", c.upstream_tls_key_file)
                })?
            }
            _ => {
                return Err("upstream-tls-cert-file and upstream-tls-key-file go together".into());
            }
        };
        let server_name = match c.upstream_tls_server_name.as_str() {
            "" => None,
            name => Some(ServerName::try_from(name.to_string()).map_err(|e| {
                format!("upstream-tls-server-name '{name}' is not a name or address: {e}")
            })?),
        };
        let config = Arc::new(config);
        Ok(Self { connector: TlsConnector::from(config.clone()), config, server_name })
    }

    /// The name verified in the certificate of the node at `addr`.
    fn name_for(&self, addr: &str) -> io::Result<ServerName<'static>> {
        if let Some(n) = &self.server_name {
            return Ok(n.clone());
        }
        let host = host_of(addr);
        ServerName::try_from(host.to_string()).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("bad TLS server name {host}: {e}"))
        })
    }
}

/// A connection to Redis: the plain case first, the TLS one boxed (it is
/// large, and taken once per connection, not per request).
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// How a TLS failure reads in upstream errors and logs.
fn handshake_error(e: io::Error) -> String {
    format!("TLS handshake failed: {e}")
}

impl Stream {
    /// Connects to `addr` (`host:port`), with TLS when `tls` is given. Not
    /// bounded in time: callers put their own timeout around it.
    pub async fn connect(addr: &str, tls: Option<&UpstreamTls>) -> Result<Stream, String> {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let _ = tcp.set_nodelay(true);
        match tls {
            None => Ok(Stream::Plain(tcp)),
            Some(t) => {
                let name = t.name_for(addr).map_err(|e| e.to_string())?;
                let s = t.connector.connect(name, tcp).await.map_err(handshake_error)?;
                Ok(Stream::Tls(Box::new(s)))
            }
        }
    }

    /// Splits into halves a reader task and a writer task can own.
    pub fn into_split(self) -> (ReadHalf, WriteHalf) {
        match self {
            Stream::Plain(s) => {
                let (r, w) = s.into_split();
                (ReadHalf::Plain(r), WriteHalf::Plain(w))
            }
            Stream::Tls(s) => {
                let (r, w) = tokio::io::split(*s);
                (ReadHalf::Tls(r), WriteHalf::Tls(w))
            }
        }
    }

    /// The socket and, for TLS, the session, to be driven by hand (see
    /// [`super::session`]). Plaintext the session already decrypted stays in
    /// it, to be read first.
    pub fn into_parts(self) -> (TcpStream, Option<rustls::ClientConnection>) {
        match self {
            Stream::Plain(s) => (s, None),
            Stream::Tls(s) => {
                let (tcp, conn) = s.into_inner();
                (tcp, Some(conn))
            }
        }
    }
}

macro_rules! delegate_read {
    ($t:ty) => {
        impl AsyncRead for $t {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
                    Self::Tls(s) => Pin::new(s).poll_read(cx, buf),
                }
            }
        }
    };
}

/// After `write_all`, call `flush`: a TLS write may leave records in the
/// session when the socket is full, and only a flush is sure to send them.
macro_rules! delegate_write {
    ($t:ty) => {
        impl AsyncWrite for $t {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                match self.get_mut() {
                    Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
                    Self::Tls(s) => Pin::new(s).poll_write(cx, buf),
                }
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    Self::Plain(s) => Pin::new(s).poll_flush(cx),
                    Self::Tls(s) => Pin::new(s).poll_flush(cx),
                }
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
                    Self::Tls(s) => Pin::new(s).poll_shutdown(cx),
                }
            }
        }
    };
}

delegate_read!(Stream);
delegate_write!(Stream);

/// The reading half of a [`Stream`].
pub enum ReadHalf {
    Plain(tokio::net::tcp::OwnedReadHalf),
    Tls(tokio::io::ReadHalf<TlsStream<TcpStream>>),
}

/// The writing half of a [`Stream`].
pub enum WriteHalf {
    Plain(tokio::net::tcp::OwnedWriteHalf),
    Tls(tokio::io::WriteHalf<TlsStream<TcpStream>>),
}

delegate_read!(ReadHalf);
delegate_write!(WriteHalf);

/// A blocking connection (the cluster's topology reads, on their own thread).
pub enum BlockingStream {
    Plain(std::net::TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>>),
}

/// Connects to `addr` within `timeout` (the TLS handshake included: it runs
/// on the first read or write, under the socket's timeouts).
pub fn connect_blocking(
    addr: &str,
    tls: Option<&UpstreamTls>,
    timeout: Duration,
) -> Result<BlockingStream, String> {
    use std::net::ToSocketAddrs;
    let sock = addr
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or_else(|| format!("{addr} resolves to nothing"))?;
    let s = std::net::TcpStream::connect_timeout(&sock, timeout).map_err(|e| e.to_string())?;
    let _ = s.set_nodelay(true);
    s.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let Some(t) = tls else { return Ok(BlockingStream::Plain(s)) };
    let name = t.name_for(addr).map_err(|e| e.to_string())?;
    let mut conn =
        rustls::ClientConnection::new(t.config.clone(), name).map_err(|e| format!("TLS: {e}"))?;
    let mut s = s;
    // Handshake now, so that a failure reads as one (not as a failed write).
    while conn.is_handshaking() {
        conn.complete_io(&mut s).map_err(|e| match e.kind() {
            // A plain port reads the hello as a command and waits for more.
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                format!("TLS handshake failed: no answer within {timeout:?} (not a TLS port?)")
            }
            _ => handshake_error(e),
        })?;
    }
    Ok(BlockingStream::Tls(Box::new(rustls::StreamOwned::new(conn, s))))
}

impl BlockingStream {
    /// How long a read waits from now on (a TLS read returns what the session
    /// has decrypted first, and waits only for the socket).
    pub fn set_read_timeout(&self, t: Duration) -> io::Result<()> {
        match self {
            Self::Plain(s) => s.set_read_timeout(Some(t)),
            Self::Tls(s) => s.sock.set_read_timeout(Some(t)),
        }
    }
}

impl io::Read for BlockingStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf),
            Self::Tls(s) => s.read(buf),
        }
    }
}

impl io::Write for BlockingStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.write(buf),
            Self::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(s) => s.flush(),
            Self::Tls(s) => s.flush(),
        }
    }
}
