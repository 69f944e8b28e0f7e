//! Talking to one sentinel: a blocking RESP2 connection (the resolver and the
//! listeners run on threads of their own, off the shard threads), the questions
//! hotcache asks, and what their replies mean.

use std::io::{ErrorKind, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::protocol::{FrameKind, ReplyFramer, Request};
use crate::tls::{BlockingStream, UpstreamTls, connect_blocking};
use crate::upstream::cluster::topology::{Value, parse};

/// The sentinels' own credentials (`sentinel-username`, `sentinel-password`).
#[derive(Clone, Debug, Default)]
pub(super) struct Auth {
    pub user: Option<String>,
    pub password: Option<String>,
}

/// What a sentinel says about the master.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Answer {
    pub master: Arc<str>,
    /// The sentinel's configuration epoch for the master: when sentinels
    /// disagree (one has not heard of a failover yet), the highest is newest.
    pub epoch: u64,
    /// The master's `failover-timeout`: how long a failover may take to
    /// promote the replica before the sentinel gives up.
    pub failover_timeout: Option<Duration>,
    /// Replicas fit to read from (see [`usable_replicas`]); empty unless asked for.
    pub replicas: Vec<Arc<str>>,
}

/// `ip:port`, with brackets around an IPv6 address.
pub(super) fn host_port(ip: &str, port: &str) -> Arc<str> {
    if ip.contains(':') {
        Arc::from(format!("[{ip}]:{port}"))
    } else {
        Arc::from(format!("{ip}:{port}"))
    }
}

/// A blocking connection to a sentinel (over TLS with `sentinel-tls`).
pub(super) struct Conn {
    stream: BlockingStream,
    buf: BytesMut,
    framer: ReplyFramer,
}

impl Conn {
    /// Connects (and, with `tls`, shakes hands) within `timeout`, and AUTHs
    /// if the sentinels need it. Reads wait at most `timeout` too.
    pub fn open(
        addr: &str,
        tls: Option<&UpstreamTls>,
        auth: &Auth,
        timeout: Duration,
    ) -> Result<Self, String> {
        let stream = connect_blocking(addr, tls, timeout)?;
        let mut conn = Self { stream, buf: BytesMut::new(), framer: ReplyFramer::new() };
        if let Some(p) = &auth.password {
            let mut args: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(u) = &auth.user {
                args.push(u.as_bytes());
            }
            args.push(p.as_bytes());
            conn.send(&args)?;
            // The reply names no secret (WRONGPASS, NOAUTH ...): safe to show.
            if let Value::Error(e) = conn.reply()? {
                return Err(format!("AUTH refused: {e}"));
            }
        }
        Ok(conn)
    }

    /// How long a read waits from now on.
    pub fn set_read_timeout(&self, t: Duration) -> Result<(), String> {
        self.stream.set_read_timeout(t).map_err(|e| e.to_string())
    }

    /// Sends one command.
    pub fn send(&mut self, args: &[&[u8]]) -> Result<(), String> {
        let req = Request::from_args(args.iter().map(|a| Bytes::copy_from_slice(a)).collect());
        self.stream.write_all(&req.frame).map_err(|e| e.to_string())?;
        // A TLS write may stay in the session until flushed.
        self.stream.flush().map_err(|e| e.to_string())
    }

    /// Waits for the next frame (within the read timeout: an error past it).
    pub fn reply(&mut self) -> Result<Value, String> {
        self.next()?.ok_or_else(|| "no reply in time".to_string())
    }

    /// The next frame, or None if none came within the read timeout.
    pub fn next(&mut self) -> Result<Option<Value>, String> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some((len, kind)) =
                self.framer.next_frame(&self.buf).map_err(|e| e.to_string())?
            {
                let frame = self.buf.split_to(len);
                let mut pos = 0;
                let v = parse(&frame, &mut pos, 0).ok_or("unreadable reply")?;
                // RESP2 errors come back as values; a push cannot (no HELLO 3).
                return match kind {
                    FrameKind::Push => Err("unexpected push".into()),
                    _ => Ok(Some(v)),
                };
            }
            if self.buf.len() > 16 << 20 {
                return Err("reply too large".into());
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err("closed by the sentinel".into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Ok(None);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}

/// Asks the sentinel at `addr` where master `name` is, and (`replicas`) which
/// of its replicas can serve reads. `Ok(None)`: this sentinel does not know
/// the name.
pub(super) fn ask(
    addr: &str,
    tls: Option<&UpstreamTls>,
    name: &str,
    auth: &Auth,
    replicas: bool,
    timeout: Duration,
) -> Result<Option<Answer>, String> {
    let mut c = Conn::open(addr, tls, auth, timeout)?;
    c.send(&[b"SENTINEL", b"get-master-addr-by-name", name.as_bytes()])?;
    c.send(&[b"SENTINEL", b"master", name.as_bytes()])?;
    if replicas {
        c.send(&[b"SENTINEL", b"replicas", name.as_bytes()])?;
    }
    let master = match c.reply()? {
        Value::Array(a) => match (a.first(), a.get(1)) {
            (Some(Value::Bulk(ip)), Some(Value::Bulk(port))) => {
                host_port(&String::from_utf8_lossy(ip), &String::from_utf8_lossy(port))
            }
            _ => return Err("unreadable get-master-addr-by-name reply".into()),
        },
        Value::Nil => return Ok(None),
        Value::Error(e) => return Err(e),
        _ => return Err("unreadable get-master-addr-by-name reply".into()),
    };
    // `SENTINEL master` has the epoch; the address comes from
    // get-master-addr-by-name, which names a promoted replica as soon as the
    // failover has switched to it (`SENTINEL master` still names the old one).
    let (epoch, failover_timeout) = match c.reply()? {
        Value::Array(fields) => (
            field(&fields, "config-epoch")
                .and_then(|e| e.parse::<u64>().ok())
                .ok_or("no config-epoch in SENTINEL master")?,
            field(&fields, "failover-timeout")
                .and_then(|t| t.parse::<u64>().ok())
                .map(Duration::from_millis),
        ),
        // Removed between the two questions: not known after all.
        Value::Error(_) | Value::Nil => return Ok(None),
        _ => return Err("unreadable SENTINEL master reply".into()),
    };
    let replicas = if replicas {
        match c.reply()? {
            Value::Error(e) => return Err(e),
            v => usable_replicas(&v, &master),
        }
    } else {
        Vec::new()
    };
    Ok(Some(Answer { master, epoch, failover_timeout, replicas }))
}

/// The value of `name` in a flat field/value array (`SENTINEL master`, each
/// entry of `SENTINEL replicas`).
fn field(fields: &[Value], name: &str) -> Option<String> {
    fields.chunks(2).find_map(|kv| match kv {
        [Value::Bulk(k), Value::Bulk(v)] if k.as_slice() == name.as_bytes() => {
            Some(String::from_utf8_lossy(v).into_owned())
        }
        _ => None,
    })
}

/// From a `SENTINEL replicas` reply, the replicas to read from: not down or
/// disconnected, their link to the master up, and replicating from `master`
/// itself (not one still following the master before a failover).
fn usable_replicas(reply: &Value, master: &str) -> Vec<Arc<str>> {
    let Value::Array(list) = reply else { return Vec::new() };
    let mut out: Vec<Arc<str>> = Vec::new();
    for entry in list {
        let Value::Array(fields) = entry else { continue };
        let field = |name: &str| field(fields, name);
        let (Some(ip), Some(port), Some(flags)) = (field("ip"), field("port"), field("flags"))
        else {
            continue;
        };
        let down = flags.split(',').any(|f| matches!(f, "s_down" | "o_down" | "disconnected"));
        let linked = field("master-link-status").as_deref() == Some("ok");
        let follows = match (field("master-host"), field("master-port")) {
            (Some(h), Some(p)) => &*host_port(&h, &p) == master,
            _ => false,
        };
        let addr = host_port(&ip, &port);
        if !down && linked && follows && &*addr != master && !out.contains(&addr) {
            out.push(addr);
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(ip: &str, port: &str, flags: &str, link: &str, mhost: &str, mport: &str) -> Value {
        let kv = [
            ("name", "x"),
            ("ip", ip),
            ("port", port),
            ("flags", flags),
            ("master-link-status", link),
            ("master-host", mhost),
            ("master-port", mport),
        ];
        Value::Array(
            kv.iter()
                .flat_map(|(k, v)| {
                    [Value::Bulk(k.as_bytes().to_vec()), Value::Bulk(v.as_bytes().to_vec())]
                })
                .collect(),
        )
    }

    #[test]
    fn replicas_fit_to_read_from() {
        let m = "10.0.0.1:6379";
        let reply = Value::Array(vec![
            replica("10.0.0.3", "6379", "slave", "ok", "10.0.0.1", "6379"),
            replica("10.0.0.2", "6379", "slave", "ok", "10.0.0.1", "6379"),
            replica("10.0.0.4", "6379", "s_down,slave,disconnected", "err", "10.0.0.1", "6379"),
            // Still replicating from the old master, or syncing.
            replica("10.0.0.5", "6379", "slave", "ok", "10.0.0.9", "6379"),
            replica("10.0.0.6", "6379", "slave", "err", "10.0.0.1", "6379"),
            replica("::1", "7000", "slave", "ok", "10.0.0.1", "6379"),
            Value::Nil,
        ]);
        let got = usable_replicas(&reply, m);
        let want: Vec<Arc<str>> =
            vec![Arc::from("10.0.0.2:6379"), Arc::from("10.0.0.3:6379"), Arc::from("[::1]:7000")];
        assert_eq!(got, want);
        assert!(usable_replicas(&Value::Nil, m).is_empty());
    }
}
