//! A rustls connection over a non-blocking `TcpStream`, driven by hand.
//!
//! The caller keeps waiting on the socket's readiness as for plain TCP; these
//! functions do one step each, without waiting: [`read`] takes what the socket
//! has and decrypts it, [`encrypt`] turns plaintext into records, [`flush`]
//! writes records until the socket is full. The handshake needs nothing of its
//! own: it is the records `read` answers and `flush` sends, and plaintext
//! simply starts to come out once it is done.

use std::cell::RefCell;
use std::io::{self, BufRead as _, Write as _};

use bytes::BytesMut;
use rustls::ConnectionCommon;
use tokio::net::TcpStream;

/// Ciphertext is read from the socket into this thread's scratch buffer and
/// then handed to rustls whole: one system call per read however the records
/// fall (rustls alone reads 4 KiB at a time), and no buffer per connection.
const SCRATCH: usize = 64 * 1024;

thread_local! {
    static SCRATCH_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// What one [`read`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Got {
    /// Plaintext bytes appended.
    pub plain: usize,
    /// The peer closed (TCP EOF or a TLS close_notify): nothing more will come.
    pub closed: bool,
    /// The socket read filled the scratch buffer: more may be waiting (its
    /// readiness was left set).
    pub full: bool,
}

/// Reads what the socket holds (one read, without waiting), decrypts it and
/// appends the plaintext to `out`; records the handshake or an alert needs
/// sent back are written too, as far as the socket takes them. Plaintext the
/// session held from before comes first. `WouldBlock` when the socket had
/// nothing: its readiness is then cleared, as a plain read would.
pub fn read<D>(
    tcp: &TcpStream,
    tls: &mut ConnectionCommon<D>,
    out: &mut BytesMut,
) -> io::Result<Got> {
    let mut got = Got::default();
    let (plain, closed) = drain_plain(tls, out)?;
    got.plain = plain;
    if closed {
        got.closed = true;
        return Ok(got);
    }
    SCRATCH_BUF.with_borrow_mut(|scratch| {
        if scratch.len() < SCRATCH {
            scratch.resize(SCRATCH, 0);
        }
        let mut n = None;
        let r = tcp.try_io(tokio::io::Interest::READABLE, || {
            let read = tcp.try_read(scratch)?;
            n = Some(read);
            // A read that does not fill the buffer drained the socket: clear
            // its readiness now, so that the next wait sleeps at once.
            if read > 0 && read < scratch.len() {
                Err(io::ErrorKind::WouldBlock.into())
            } else {
                Ok(read)
            }
        });
        let n = match (n, r) {
            (Some(n), _) => n,
            (None, Err(e)) => {
                // Nothing read: plaintext from before is still news.
                return if got.plain > 0 { Ok(got) } else { Err(e) };
            }
            (None, Ok(_)) => 0,
        };
        got.full = n == scratch.len();
        if n == 0 {
            got.closed = true;
            return Ok(got);
        }
        let closed = feed(tls, &scratch[..n], out, &mut got.plain);
        // Handshake records, alerts, key updates: sent back now (an error
        // here shows again on the next write).
        let _ = flush(tcp, tls);
        got.closed = closed?;
        if got.plain == 0 && !got.closed {
            // Records that carried no data (the handshake): nothing to parse.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(got)
    })
}

/// Hands `cipher` to the session record by record and drains the plaintext
/// into `out`. True once the peer closed the TLS session (close_notify).
pub fn feed<D>(
    tls: &mut ConnectionCommon<D>,
    mut cipher: &[u8],
    out: &mut BytesMut,
    plain: &mut usize,
) -> io::Result<bool> {
    while !cipher.is_empty() {
        if tls.read_tls(&mut cipher)? == 0 {
            // close_notify seen: rustls takes nothing more.
            return Ok(true);
        }
        if let Err(e) = tls.process_new_packets() {
            // An alert may now be queued for the peer; the caller flushes it.
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        let (n, closed) = drain_plain(tls, out)?;
        *plain += n;
        if closed {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Moves the plaintext the session holds into `out`: (bytes, peer closed).
fn drain_plain<D>(tls: &mut ConnectionCommon<D>, out: &mut BytesMut) -> io::Result<(usize, bool)> {
    let mut n = 0;
    loop {
        let mut reader = tls.reader();
        match reader.fill_buf() {
            // Empty without an error: the peer sent close_notify.
            Ok([]) => return Ok((n, true)),
            Ok(chunk) => {
                let len = chunk.len();
                out.extend_from_slice(chunk);
                reader.consume(len);
                n += len;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((n, false)),
            // TCP EOF without close_notify: closed all the same.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok((n, true)),
            Err(e) => return Err(e),
        }
    }
}

/// Encrypts as much of `slices` as the session takes (its outgoing buffer is
/// bounded); returns how many plaintext bytes it took.
pub fn encrypt<D>(tls: &mut ConnectionCommon<D>, slices: &[io::IoSlice<'_>]) -> io::Result<usize> {
    tls.writer().write_vectored(slices)
}

/// Writes the records the session holds until the socket is full. True when
/// none is left.
pub fn flush<D>(tcp: &TcpStream, tls: &mut ConnectionCommon<D>) -> io::Result<bool> {
    while tls.wants_write() {
        match tls.write_tls(&mut Socket(tcp)) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Non-blocking writes to the socket (readiness cleared on WouldBlock).
struct Socket<'a>(&'a TcpStream);

impl io::Write for Socket<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes every record the session holds, waiting for the socket as needed
/// (for the few writes that may wait: a close_notify, a refusal).
pub async fn flush_all<D>(tcp: &TcpStream, tls: &mut ConnectionCommon<D>) -> io::Result<()> {
    while !flush(tcp, tls)? {
        tcp.writable().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session pair over a real socket pair: the handshake goes through
    /// `read` and `flush` alone, then data both ways, then close_notify.
    #[tokio::test(flavor = "current_thread")]
    async fn handshake_data_and_close_by_readiness() {
        use std::sync::Arc;
        let dir = std::env::temp_dir().join(format!("hc-tls-session-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let ok = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
            .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
            .args(["-addext", "subjectAltName=DNS:localhost"])
            // Its own anchor, but not a CA: webpki refuses a CA as the leaf.
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .arg("-keyout")
            .arg(dir.join("k.pem"))
            .arg("-out")
            .arg(dir.join("c.pem"))
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "openssl makes a test certificate");
        let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
        let certs = super::super::load::certs(&p("c.pem")).expect("cert");
        let key = super::super::load::key(&p("k.pem"), "").expect("key");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server_cfg = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(certs.clone(), key)
            .expect("server config");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(certs[0].clone()).expect("root");
        let client_cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let a = TcpStream::connect(addr).await.expect("connect");
        let (b, _) = listener.accept().await.expect("accept");
        let mut client = rustls::ClientConnection::new(
            Arc::new(client_cfg),
            "localhost".try_into().expect("name"),
        )
        .expect("client");
        let mut server = rustls::ServerConnection::new(Arc::new(server_cfg)).expect("server");
        // The client queues its request before the handshake is done.
        client.writer().write_all(b"PING\r\n").expect("queued");
        let (mut at_server, mut at_client) = (BytesMut::new(), BytesMut::new());
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while at_server.is_empty() {
            assert!(tokio::time::Instant::now() < deadline, "handshake by readiness");
            flush(&a, &mut client).expect("client flush");
            tokio::select! {
                r = b.readable() => { r.expect("readable"); }
                r = a.readable() => { r.expect("readable"); }
            }
            for r in [read(&b, &mut server, &mut at_server), read(&a, &mut client, &mut at_client)]
            {
                match r {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("handshake: {e}"),
                }
            }
        }
        assert_eq!(&at_server[..], b"PING\r\n");
        let n = encrypt(&mut server, &[io::IoSlice::new(b"+PO"), io::IoSlice::new(b"NG\r\n")])
            .expect("encrypt");
        assert_eq!(n, 7);
        server.send_close_notify();
        flush_all(&b, &mut server).await.expect("flush");
        let mut got = Got::default();
        while !got.closed {
            a.readable().await.expect("readable");
            match read(&a, &mut client, &mut at_client) {
                Ok(g) => got = g,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(&at_client[..], b"+PONG\r\n", "the data, then the close");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
