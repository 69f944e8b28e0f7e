//! Preparing a new upstream connection: AUTH, HELLO 3, SELECT, a name, its id.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Target;
use crate::protocol::{FrameKind, Proto, ReplyFramer};

/// Connects and prepares a connection: AUTH, HELLO 3 for RESP3, SELECT, a name.
pub(super) async fn handshake(target: &Target, proto: Proto) -> Result<(TcpStream, i64), String> {
    let mut stream = TcpStream::connect(&target.addr).await.map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let mut frames: Vec<Vec<&[u8]>> = Vec::new();
    match (&target.user, &target.password) {
        (Some(u), Some(p)) => frames.push(vec![b"AUTH", u.as_bytes(), p.as_bytes()]),
        (None, Some(p)) => frames.push(vec![b"AUTH", p.as_bytes()]),
        _ => {}
    }
    if proto == Proto::Resp3 {
        frames.push(vec![b"HELLO", b"3"]);
    }
    let db = target.db.to_string();
    if target.db != 0 {
        frames.push(vec![b"SELECT", db.as_bytes()]);
    }
    if target.readonly {
        frames.push(vec![b"READONLY"]);
    }
    frames.push(vec![b"CLIENT", b"SETNAME", b"hotcache"]);
    // Last, so its reply is the last one read: the connection's id at Redis, to
    // translate client ids in CLIENT TRACKING ... REDIRECT.
    frames.push(vec![b"CLIENT", b"ID"]);
    let mut out = Vec::new();
    for f in &frames {
        let args: Vec<Bytes> = f.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        out.extend_from_slice(&crate::protocol::Request::from_args(args).frame);
    }
    stream.write_all(&out).await.map_err(|e| e.to_string())?;
    let mut rbuf = BytesMut::with_capacity(4096);
    let mut framer = ReplyFramer::new();
    let mut answered = 0;
    let mut id = -1;
    while answered < frames.len() {
        match framer.next_frame(&rbuf) {
            Ok(Some((len, kind))) => {
                let frame = rbuf.split_to(len);
                if kind == FrameKind::Error {
                    let text = String::from_utf8_lossy(&frame[1..frame.len().saturating_sub(2)])
                        .into_owned();
                    return Err(format!("handshake failed: {text}"));
                }
                answered += 1;
                if answered == frames.len() {
                    id = frame
                        .strip_prefix(b":")
                        .and_then(|f| f.strip_suffix(b"\r\n"))
                        .and_then(crate::protocol::string2ll)
                        .unwrap_or(-1);
                }
            }
            Ok(None) => {
                let n = stream.read_buf(&mut rbuf).await.map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("connection closed during handshake".into());
                }
            }
            Err(e) => return Err(format!("bad reply during handshake: {e}")),
        }
    }
    if !rbuf.is_empty() {
        return Err("unexpected data after handshake".into());
    }
    Ok((stream, id))
}
