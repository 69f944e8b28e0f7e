//! The slot map: which master (and replicas) serve each of the 16384 slots, read
//! from CLUSTER SLOTS.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;

use super::slot::SLOTS;
use crate::protocol::{FrameKind, ReplyFramer, Request};

/// No master serves the slot.
const NONE: u16 = u16::MAX;

/// One master and its replicas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shard {
    pub addr: Arc<str>,
    pub replicas: Vec<Arc<str>>,
}

/// Which shard serves each slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotMap {
    /// Index into `shards` per slot, or `NONE`.
    owner: Box<[u16]>,
    pub shards: Vec<Shard>,
    /// Masters that serve no slot yet (just added, or emptied by a reshard):
    /// slots may move to them before the map says so, so they are tracked too.
    pub idle_masters: Vec<Arc<str>>,
}

impl Default for SlotMap {
    fn default() -> Self {
        Self {
            owner: vec![NONE; SLOTS].into_boxed_slice(),
            shards: Vec::new(),
            idle_masters: Vec::new(),
        }
    }
}

impl SlotMap {
    /// The shard serving `slot`, if any.
    pub fn shard_of(&self, slot: u16) -> Option<&Shard> {
        let i = *self.owner.get(usize::from(slot))?;
        self.shards.get(usize::from(i))
    }

    /// Slots each shard serves, in `shards` order.
    pub fn slot_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.shards.len()];
        for &o in self.owner.iter() {
            if let Some(c) = counts.get_mut(usize::from(o)) {
                *c += 1;
            }
        }
        counts
    }

    /// Slots served by some master.
    pub fn covered(&self) -> usize {
        self.owner.iter().filter(|&&o| o != NONE).count()
    }

    /// Builds the map from a CLUSTER SLOTS reply; `host` stands in for a node
    /// that reports an empty address (it means "the address you reached me on").
    pub fn from_cluster_slots(reply: &[u8], host: &str) -> Result<Self, String> {
        let mut pos = 0;
        let v = parse(reply, &mut pos, 0).ok_or("unreadable CLUSTER SLOTS reply")?;
        let Value::Array(ranges) = v else {
            return Err(match v {
                Value::Error(e) => e,
                _ => "CLUSTER SLOTS did not answer an array".into(),
            });
        };
        let mut map = SlotMap::default();
        for range in ranges {
            let Value::Array(items) = range else { return Err("bad slot range".into()) };
            let (Some(Value::Int(start)), Some(Value::Int(end))) = (items.first(), items.get(1))
            else {
                return Err("bad slot range bounds".into());
            };
            let (start, end) = (*start, *end);
            if !(0..SLOTS as i64).contains(&start) || !(start..SLOTS as i64).contains(&end) {
                return Err(format!("slot range {start}-{end} out of bounds"));
            }
            let mut nodes = items[2..].iter().map(|n| node_addr(n, host));
            let master = nodes.next().ok_or("slot range without a master")??;
            let replicas = nodes.collect::<Result<Vec<_>, _>>()?;
            let index = match map.shards.iter().position(|s| s.addr == master) {
                Some(i) => i,
                None => {
                    map.shards.push(Shard { addr: master, replicas });
                    map.shards.len() - 1
                }
            };
            let index = u16::try_from(index).map_err(|_| "too many masters")?;
            for s in start..=end {
                map.owner[s as usize] = index;
            }
        }
        Ok(map)
    }
}

impl SlotMap {
    /// The nodes whose tracking streams vouch for cached replies, each once:
    /// every master, every idle master, and the replicas when reads go there.
    /// (CLUSTER SLOTS and CLUSTER NODES are read at different moments, and a
    /// node just made a replica may still show as a slotless master: counted
    /// twice, the streams expected would never all be up.)
    pub fn tracked(&self, replicas: bool) -> Vec<Arc<str>> {
        let mut out: Vec<Arc<str>> = Vec::new();
        let nodes = self.shards.iter().flat_map(|s| {
            std::iter::once(&s.addr).chain(s.replicas.iter().filter(move |_| replicas))
        });
        for a in nodes.chain(&self.idle_masters) {
            if !out.contains(a) {
                out.push(a.clone());
            }
        }
        out
    }
}

/// Adds, from a CLUSTER NODES text, the healthy masters that serve no slot.
pub fn add_idle_masters(map: &mut SlotMap, nodes: &str, host: &str) {
    for line in nodes.lines() {
        let mut f = line.split(' ');
        let (Some(_id), Some(addr), Some(flags)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let flags: Vec<&str> = flags.split(',').collect();
        if !flags.contains(&"master")
            || flags.iter().any(|x| matches!(*x, "fail" | "fail?" | "handshake" | "noaddr"))
        {
            continue;
        }
        let hostport = addr.split(['@', ',']).next().unwrap_or("");
        let Some((ip, port)) = hostport.rsplit_once(':') else { continue };
        let ip = if ip.is_empty() { host } else { ip };
        let a: Arc<str> = Arc::from(format!("{ip}:{port}"));
        if !map.shards.iter().any(|s| s.addr == a) && !map.idle_masters.contains(&a) {
            map.idle_masters.push(a);
        }
    }
    map.idle_masters.sort();
}

/// `ip:port` of a node entry `[ip, port, id, ...]`. An empty or null endpoint
/// (Redis 7 with `cluster-preferred-endpoint-type unknown-endpoint`) means the
/// host CLUSTER SLOTS was asked on.
fn node_addr(v: &Value, host: &str) -> Result<Arc<str>, String> {
    let Value::Array(f) = v else { return Err("bad node entry".into()) };
    let (ip, port) = match (f.first(), f.get(1)) {
        (Some(Value::Bulk(ip)), Some(Value::Int(port))) => (ip.as_slice(), *port),
        (Some(Value::Nil), Some(Value::Int(port))) => (&b""[..], *port),
        _ => return Err("bad node address".into()),
    };
    let ip = String::from_utf8_lossy(ip);
    let ip = if ip.is_empty() { host } else { &ip };
    Ok(Arc::from(if ip.contains(':') { format!("[{ip}]:{port}") } else { format!("{ip}:{port}") }))
}

/// A RESP2 value, as much as CLUSTER SLOTS (and a sentinel's replies) need.
#[derive(Debug)]
pub(in crate::upstream) enum Value {
    Int(i64),
    Bulk(Vec<u8>),
    Array(Vec<Value>),
    Nil,
    Error(String),
}

/// Parses one value of a complete frame (the framer has checked it).
pub(in crate::upstream) fn parse(buf: &[u8], pos: &mut usize, depth: u32) -> Option<Value> {
    if depth > 8 {
        return None;
    }
    let kind = *buf.get(*pos)?;
    let rest = buf.get(*pos + 1..)?;
    let nl = memchr::memchr(b'\r', rest)?;
    let line = &rest[..nl];
    *pos += 1 + nl + 2;
    let number = || crate::protocol::string2ll(line);
    match kind {
        b':' => Some(Value::Int(number()?)),
        b'+' => Some(Value::Bulk(line.to_vec())),
        b'-' => Some(Value::Error(String::from_utf8_lossy(line).into_owned())),
        b'$' => {
            let n = number()?;
            if n < 0 {
                return Some(Value::Nil);
            }
            let n = usize::try_from(n).ok()?;
            let body = buf.get(*pos..*pos + n)?.to_vec();
            *pos += n + 2;
            Some(Value::Bulk(body))
        }
        b'*' => {
            let n = number()?;
            if n < 0 {
                return Some(Value::Nil);
            }
            let mut items = Vec::new();
            for _ in 0..n {
                items.push(parse(buf, pos, depth + 1)?);
            }
            Some(Value::Array(items))
        }
        _ => None,
    }
}

/// Asks one node for the slot map (blocking, bounded by `timeout`).
pub fn fetch(
    addr: &str,
    user: Option<&str>,
    password: Option<&str>,
    timeout: Duration,
    tls: Option<&crate::tls::UpstreamTls>,
) -> Result<SlotMap, String> {
    let mut s = crate::tls::connect_blocking(addr, tls, timeout)?;
    let mut out = Vec::new();
    let mut expect = 1;
    if let Some(p) = password {
        let mut args = vec![bytes::Bytes::from_static(b"AUTH")];
        if let Some(u) = user {
            args.push(bytes::Bytes::copy_from_slice(u.as_bytes()));
        }
        args.push(bytes::Bytes::copy_from_slice(p.as_bytes()));
        out.extend_from_slice(&Request::from_args(args).frame);
        expect += 1;
    }
    out.extend_from_slice(b"*2\r\n$7\r\nCLUSTER\r\n$5\r\nSLOTS\r\n");
    out.extend_from_slice(b"*2\r\n$7\r\nCLUSTER\r\n$5\r\nNODES\r\n");
    expect += 1;
    s.write_all(&out).and_then(|()| s.flush()).map_err(|e| e.to_string())?;
    let mut buf = BytesMut::new();
    let mut framer = ReplyFramer::new();
    let mut chunk = [0u8; 16 * 1024];
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let mut map = None;
    loop {
        while let Some((len, kind)) = framer.next_frame(&buf).map_err(|e| e.to_string())? {
            let frame = buf.split_to(len);
            expect -= 1;
            if kind == FrameKind::Error {
                return Err(String::from_utf8_lossy(&frame[1..frame.len() - 2]).into_owned());
            }
            match expect {
                1 => map = Some(SlotMap::from_cluster_slots(&frame, host)?),
                0 => {
                    let mut map = map.ok_or("no CLUSTER SLOTS reply")?;
                    let mut pos = 0;
                    if let Some(Value::Bulk(text)) = parse(&frame, &mut pos, 0) {
                        add_idle_masters(&mut map, &String::from_utf8_lossy(&text), host);
                    }
                    return Ok(map);
                }
                _ => {}
            }
        }
        if buf.len() > 64 << 20 {
            return Err("CLUSTER SLOTS reply too large".into());
        }
        let n = s.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed by the node".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cluster_slots() {
        let reply = b"*2\r\n\
            *4\r\n:0\r\n:5460\r\n*4\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nid\r\n*0\r\n*3\r\n$0\r\n\r\n:7003\r\n$2\r\nir\r\n\
            *3\r\n:5461\r\n:16383\r\n*3\r\n$9\r\n127.0.0.1\r\n:7001\r\n$2\r\nix\r\n";
        let m = SlotMap::from_cluster_slots(reply, "10.0.0.9").expect("parses");
        assert_eq!(m.covered(), SLOTS);
        let a = m.shard_of(0).expect("served");
        assert_eq!(&*a.addr, "127.0.0.1:7000");
        assert_eq!(a.replicas, vec![Arc::<str>::from("10.0.0.9:7003")]);
        assert_eq!(&*m.shard_of(16383).expect("served").addr, "127.0.0.1:7001");
        // A null endpoint (unknown-endpoint): the host asked.
        let unknown = b"*1\r\n*3\r\n:0\r\n:16383\r\n*3\r\n$-1\r\n:7005\r\n$2\r\nid\r\n";
        let u = SlotMap::from_cluster_slots(unknown, "10.0.0.9").expect("parses");
        assert_eq!(&*u.shard_of(7).expect("served").addr, "10.0.0.9:7005");
        assert!(SlotMap::from_cluster_slots(b"*1\r\n*3\r\n:0\r\n:99999\r\n*0\r\n", "h").is_err());
        assert!(SlotMap::from_cluster_slots(b"-ERR no cluster\r\n", "h").is_err());
        assert!(SlotMap::default().shard_of(5).is_none());
        let mut m = m;
        add_idle_masters(
            &mut m,
            "a 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460\n\
             b 127.0.0.1:7009@17009 master - 0 0 4 connected\n\
             c 127.0.0.1:7008@17008 master,fail - 0 0 5 disconnected\n\
             d :7007@17007 master - 0 0 6 connected\n\
             e 127.0.0.1:7003@17003 slave a 0 0 1 connected\n",
            "10.0.0.9",
        );
        assert_eq!(
            m.idle_masters,
            vec![Arc::<str>::from("10.0.0.9:7007"), Arc::<str>::from("127.0.0.1:7009")]
        );
        // A replica that CLUSTER NODES still shows as a slotless master: once.
        m.idle_masters.push(Arc::from("10.0.0.9:7003"));
        // 2 masters, 1 replica, 3 idle masters of which one is that replica.
        let tracked = m.tracked(true);
        assert_eq!(tracked.len(), 5, "{tracked:?}");
        assert_eq!(m.tracked(false).len(), 5);
    }
}
