//! Preparing a new upstream connection: HELLO (with AUTH and the connection's
//! name), then SELECT and READONLY where needed.
//!
//! HELLO does in one command what AUTH, CLIENT SETNAME and CLIENT ID would do in
//! three, and it is one of the few commands Redis still answers while a script
//! runs (`ALLOW_BUSY`): a connection opened then (to send SCRIPT KILL, say)
//! must not fail its handshake with BUSY. SELECT and READONLY are refused with
//! BUSY then; they are tried again until Redis is done with the script, rather
//! than failing the connection and every request queued on it.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Target;
use crate::protocol::{FrameKind, Proto, ReplyFramer, Request};

/// Why a handshake did not make a connection.
#[derive(Debug)]
pub(super) enum HandshakeError {
    /// Redis refused the credentials (WRONGPASS, NOAUTH ...): the identity's
    /// problem, not the node's. Redis's error reply, as sent.
    Refused(Bytes),
    /// The node could not be reached or did not answer as Redis does.
    Failed(String),
}

impl From<String> for HandshakeError {
    fn from(s: String) -> Self {
        HandshakeError::Failed(s)
    }
}

/// How long a handshake command refused with BUSY waits before it is sent again.
const BUSY_RETRY: Duration = Duration::from_millis(50);

/// Connects and prepares a connection. `connect_timeout` bounds connecting and
/// HELLO; a SELECT or READONLY refused with BUSY is sent again until accepted.
/// Returns the stream, the connection's client id at Redis (-1 if unknown)
/// and Redis's HELLO reply; `on_busy` is called for each BUSY refusal.
pub(super) async fn handshake(
    target: &Target,
    proto: Proto,
    connect_timeout: Duration,
    on_busy: impl Fn(),
) -> Result<(TcpStream, i64, Bytes), HandshakeError> {
    let (mut conn, id, hello) = tokio::time::timeout(connect_timeout, hello(target, proto))
        .await
        .map_err(|_| "connect timeout".to_string())??;
    let db = target.db.to_string();
    if target.db != 0 {
        conn.until_not_busy(&[b"SELECT", db.as_bytes()], &on_busy).await?;
    }
    if target.readonly {
        conn.until_not_busy(&[b"READONLY"], &on_busy).await?;
    }
    if !conn.rbuf.is_empty() {
        return Err(HandshakeError::Failed("unexpected data after handshake".into()));
    }
    Ok((conn.stream, id, hello))
}

/// Connects and sends HELLO; returns the connection and its id at Redis.
async fn hello(target: &Target, proto: Proto) -> Result<(Handshake, i64, Bytes), HandshakeError> {
    let stream = TcpStream::connect(&target.addr).await.map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let mut conn = Handshake { stream, rbuf: BytesMut::with_capacity(4096) };
    let version: &[u8] = if proto == Proto::Resp3 { b"3" } else { b"2" };
    let mut args: Vec<&[u8]> = vec![b"HELLO", version];
    if let Some(p) = &target.password {
        // A password alone is the default user's (as AUTH <password>).
        let user = target.user.as_deref().unwrap_or("default");
        args.extend_from_slice(&[b"AUTH", user.as_bytes(), p.as_bytes()]);
    }
    args.extend_from_slice(&[b"SETNAME", b"hotcache"]);
    let reply = conn.call(&args).await?;
    if reply.first() == Some(&b'-') || reply.first() == Some(&b'!') {
        if super::users::is_refusal(&reply) {
            return Err(HandshakeError::Refused(reply));
        }
        return Err(HandshakeError::Failed(format!("handshake failed: {}", error_text(&reply))));
    }
    let id = hello_id(&reply).unwrap_or(-1);
    Ok((conn, id, reply))
}

/// The `id` field of a HELLO reply (a RESP2 flat array or a RESP3 map, keys
/// as bulk strings either way).
fn hello_id(reply: &[u8]) -> Option<i64> {
    const KEY: &[u8] = b"$2\r\nid\r\n:";
    let at = memchr::memmem::find(reply, KEY)? + KEY.len();
    let end = at + memchr::memchr(b'\r', &reply[at..])?;
    crate::protocol::string2ll(&reply[at..end])
}

/// An error reply's text without its type byte and line end.
fn error_text(reply: &[u8]) -> String {
    String::from_utf8_lossy(&reply[1..reply.len().saturating_sub(2)]).into_owned()
}

/// A connection being prepared: requests sent one at a time.
struct Handshake {
    stream: TcpStream,
    rbuf: BytesMut,
}

impl Handshake {
    /// Sends one command and reads its reply.
    async fn call(&mut self, args: &[&[u8]]) -> Result<Bytes, String> {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        let frame = Request::from_args(args).frame;
        self.stream.write_all(&frame).await.map_err(|e| e.to_string())?;
        let mut framer = ReplyFramer::new();
        loop {
            match framer.next_frame(&self.rbuf) {
                Ok(Some((len, FrameKind::Push))) => {
                    // Out of band (a RESP3 push): not the reply.
                    let _ = self.rbuf.split_to(len);
                }
                Ok(Some((len, _))) => return Ok(self.rbuf.split_to(len).freeze()),
                Ok(None) => {
                    let n =
                        self.stream.read_buf(&mut self.rbuf).await.map_err(|e| e.to_string())?;
                    if n == 0 {
                        return Err("connection closed during handshake".into());
                    }
                }
                Err(e) => return Err(format!("bad reply during handshake: {e}")),
            }
        }
    }

    /// Sends a command until Redis accepts it: a BUSY refusal (a script is
    /// running) waits and tries again; any other error fails the handshake.
    async fn until_not_busy(&mut self, args: &[&[u8]], on_busy: &impl Fn()) -> Result<(), String> {
        loop {
            let reply = self.call(args).await?;
            match reply.first() {
                Some(b'-') | Some(b'!') if reply.starts_with(b"-BUSY") => {
                    on_busy();
                    tokio::time::sleep(BUSY_RETRY).await;
                }
                Some(b'-') | Some(b'!') => {
                    return Err(format!("handshake failed: {}", error_text(&reply)));
                }
                _ => return Ok(()),
            }
        }
    }
}

/// Asks the node at `target` an AUTH as a client sent it (`args`), on a fresh
/// connection of its own, and returns Redis's reply: hotcache learns whether
/// Redis accepts those credentials, and the client gets Redis's exact answer
/// (`+OK`, `-WRONGPASS ...`, the error of AUTH <password> with no password set).
pub async fn check_auth(
    target: &Target,
    args: Vec<Bytes>,
    timeout: Duration,
) -> Result<Bytes, String> {
    let ask = async {
        let stream = TcpStream::connect(&target.addr).await.map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        let mut conn = Handshake { stream, rbuf: BytesMut::with_capacity(512) };
        let args: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
        conn.call(&args).await
    };
    tokio::time::timeout(timeout, ask).await.map_err(|_| "connect timeout".to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_from_either_hello_reply() {
        let resp2 = b"*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:42\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n";
        assert_eq!(hello_id(resp2), Some(42));
        let resp3 = b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$2\r\nid\r\n:7\r\n$5\r\nproto\r\n:3\r\n";
        assert_eq!(hello_id(resp3), Some(7));
        assert_eq!(hello_id(b"+OK\r\n"), None);
    }
}
