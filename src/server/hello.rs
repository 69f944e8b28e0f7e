//! HELLO as Redis answers it: `server`, `version`, `mode`, `role` and
//! `modules` are those of the Redis behind hotcache (from its own HELLO, read
//! when hotcache connects; with a cluster, the lowest version among its nodes,
//! and `mode` `standalone`: hotcache is one server to its clients), so
//! clients enable exactly the features the real server has (redis-py's
//! client-side caching wants `server: redis` and 7.4 or later, and decides
//! through hotcache as it would directly). hotcache names itself in one field
//! more, `proxy`.

use bytes::Bytes;

use crate::protocol::{Proto, ReplyBuf, ReplyFramer};

/// What hotcache says of the server behind it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerHello {
    pub server: Bytes,
    pub version: Bytes,
    pub mode: Bytes,
    pub role: Bytes,
    /// The `modules` value as Redis encoded it, and in which protocol.
    pub modules: Option<(Proto, Bytes)>,
}

impl ServerHello {
    /// What hotcache says before it has heard the server: the Redis it speaks.
    pub fn assumed(cluster: bool) -> Self {
        Self {
            server: Bytes::from_static(b"redis"),
            version: Bytes::from_static(crate::cmd::REDIS_VERSION.as_bytes()),
            mode: Bytes::from_static(if cluster { b"cluster" } else { b"standalone" }),
            role: Bytes::from_static(b"master"),
            modules: None,
        }
    }

    /// The fields of a HELLO reply (a RESP2 flat array or a RESP3 map).
    pub fn parse(proto: Proto, reply: &[u8]) -> Option<Self> {
        let nl = memchr::memchr(b'\n', reply)?;
        let mut at = nl + 1;
        let mut fields = Vec::new();
        while at < reply.len() {
            let (len, _) = ReplyFramer::new().next_frame(&reply[at..]).ok()??;
            fields.push(&reply[at..at + len]);
            at += len;
        }
        let text = |f: &[u8]| -> Option<Bytes> {
            let body = f.strip_prefix(b"$").or_else(|| f.strip_prefix(b"+"))?;
            let start = if f[0] == b'$' { memchr::memchr(b'\n', body)? + 1 } else { 0 };
            Some(Bytes::copy_from_slice(body[start..].strip_suffix(b"\r\n")?))
        };
        let mut out = Self::assumed(false);
        for pair in fields.chunks(2) {
            let [key, value] = pair else { break };
            match text(key).as_deref() {
                Some(b"server") => out.server = text(value)?,
                Some(b"version") => out.version = text(value)?,
                Some(b"mode") => out.mode = text(value)?,
                Some(b"role") => out.role = text(value)?,
                Some(b"modules") => out.modules = Some((proto, Bytes::copy_from_slice(value))),
                _ => {}
            }
        }
        Some(out)
    }

    /// The lowest version of several servers (a cluster's nodes).
    pub fn lowest(all: impl IntoIterator<Item = Self>) -> Option<Self> {
        all.into_iter().min_by_key(|h| version_key(&h.version))
    }

    /// Writes the fields after `id` into a HELLO reply being built.
    pub fn write(&self, o: &mut ReplyBuf, proto: Proto) {
        o.bulk(b"mode").bulk(&self.mode);
        o.bulk(b"role").bulk(&self.role);
        o.bulk(b"modules");
        match &self.modules {
            Some((p, raw)) if *p == proto => {
                o.raw(raw);
            }
            // An empty list reads the same in either protocol's encoding once
            // re-encoded; a list from the other protocol cannot be copied.
            _ => {
                o.array(0);
            }
        }
        o.bulk(b"proxy").bulk(concat!("hotcache/", env!("CARGO_PKG_VERSION")).as_bytes());
    }
}

/// `7.0.15` as numbers, for comparing versions.
fn version_key(v: &[u8]) -> Vec<u64> {
    v.split(|&b| b == b'.')
        .map(|p| std::str::from_utf8(p).ok().and_then(|s| s.parse().ok()).unwrap_or(0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_either_protocol() {
        let resp2 = b"*14\r\n$6\r\nserver\r\n$6\r\nvalkey\r\n$7\r\nversion\r\n$5\r\n8.1.4\r\n$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:5\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n";
        let h = ServerHello::parse(Proto::Resp2, resp2).expect("parses");
        assert_eq!(&h.server[..], b"valkey");
        assert_eq!(&h.version[..], b"8.1.4");
        assert_eq!(&h.mode[..], b"standalone");
        assert_eq!(h.modules, Some((Proto::Resp2, Bytes::from_static(b"*0\r\n"))));
        let resp3 = b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:7\r\n$4\r\nmode\r\n$7\r\ncluster\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n";
        let h = ServerHello::parse(Proto::Resp3, resp3).expect("parses");
        assert_eq!(&h.version[..], b"7.0.15");
        assert_eq!(&h.mode[..], b"cluster");
    }

    #[test]
    fn lowest_version_wins() {
        let v = |s: &'static str| ServerHello {
            version: Bytes::from_static(s.as_bytes()),
            ..ServerHello::assumed(true)
        };
        let low = ServerHello::lowest([v("7.2.4"), v("7.0.15"), v("7.10.0")]).expect("one");
        assert_eq!(&low.version[..], b"7.0.15");
    }
}
