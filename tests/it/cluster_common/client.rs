//! A cluster-aware reference client: what "a cluster-aware client talking to the
//! cluster directly" means in the cluster differential tests.
//!
//! It does what a careful cluster client library (redis-py's `RedisCluster`,
//! Jedis, go-redis) does, and nothing more:
//!
//! * a command with keys goes to the master serving its first key's slot (from
//!   CLUSTER SLOTS); the keys are found by the command table's key specs;
//!   multi-key commands are not split, so keys in different slots get Redis's
//!   own `-CROSSSLOT`;
//! * `-MOVED` updates the slot map and retries on the new owner; `-ASK` retries
//!   once on the target, after `ASKING`; `-TRYAGAIN` (a multi-key command while
//!   its slot migrates) is retried after a short pause;
//! * a keyless command goes to the master serving a chosen slot
//!   ([`ClusterClient::set_keyless_slot`], slot 0 by default), except the
//!   cluster-wide ones, sent to every master like hotcache does: DBSIZE (summed),
//!   KEYS (merged), FLUSHALL and FLUSHDB;
//! * after MULTI succeeds, everything up to EXEC, DISCARD or RESET goes to that
//!   node and redirections are returned as they are (a transaction cannot move);
//!   UNWATCH goes to every node it has a connection to;
//! * in RESP3 mode ([`ClusterClient::hello`]), every connection it opens says
//!   HELLO 3 first.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use bytes::Bytes;

use crate::common::{RawClient, encode};
use crate::differential::resp::{Value, parse};

use super::slot::{SLOTS, key_slot};

/// Redirections followed for one command before giving up.
const MAX_REDIRECTS: usize = 16;
/// `-TRYAGAIN` retries for one command (10 ms apart).
const MAX_TRYAGAIN: usize = 500;

/// One range of CLUSTER SLOTS: its slots, the master's port and its replicas'.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotRange {
    pub start: u16,
    pub end: u16,
    pub master: u16,
    pub replicas: Vec<u16>,
}

/// Parses a CLUSTER SLOTS reply (RESP2 or RESP3).
pub fn parse_cluster_slots(reply: &[u8]) -> Result<Vec<SlotRange>, String> {
    let v = parse(reply)?;
    let items = v.items().ok_or_else(|| format!("CLUSTER SLOTS: not an array: {v:?}"))?;
    let int = |v: &Value| -> Result<u16, String> {
        v.int().and_then(|n| u16::try_from(n).ok()).ok_or_else(|| format!("not a port/slot: {v:?}"))
    };
    let mut out = Vec::new();
    for range in items {
        let r = range.items().ok_or("CLUSTER SLOTS: range is not an array")?;
        if r.len() < 3 {
            return Err(format!("CLUSTER SLOTS: short range {r:?}"));
        }
        let port = |node: &Value| -> Result<u16, String> {
            let n = node.items().ok_or("CLUSTER SLOTS: node is not an array")?;
            int(n.get(1).ok_or("CLUSTER SLOTS: node without port")?)
        };
        out.push(SlotRange {
            start: int(&r[0])?,
            end: int(&r[1])?,
            master: port(&r[2])?,
            replicas: r[3..].iter().map(port).collect::<Result<_, _>>()?,
        });
    }
    Ok(out)
}

/// `-MOVED 3999 127.0.0.1:6381` / `-ASK ...`: the slot and the target's port.
fn redirect(reply: &[u8], prefix: &[u8]) -> Option<(u16, u16)> {
    let rest = reply.strip_prefix(prefix)?;
    let text = std::str::from_utf8(rest).ok()?.trim_end();
    let (slot, addr) = text.split_once(' ')?;
    let port = addr.rsplit_once(':')?.1;
    Some((slot.parse().ok()?, port.parse().ok()?))
}

fn lower(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).to_ascii_lowercase()
}

/// The argument indexes of a command's keys, by the command table's key specs
/// (none for an unknown command).
pub fn key_indexes(args: &[Vec<u8>]) -> Vec<usize> {
    let bargs: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
    match hotcache::cmd::lookup(&bargs) {
        hotcache::cmd::Lookup::Found(c) => {
            hotcache::cmd::command_keys(c.def, &bargs).keys.iter().map(|k| k.index).collect()
        }
        _ => Vec::new(),
    }
}

/// The keys of a command (see [`key_indexes`]).
pub fn keys_of(args: &[Vec<u8>]) -> Vec<Vec<u8>> {
    key_indexes(args).into_iter().map(|i| args[i].clone()).collect()
}

/// A blocking cluster-aware client returning reply bytes as the node sent them.
pub struct ClusterClient {
    /// Where to read the slot map from when nothing else answers.
    seeds: Vec<u16>,
    /// One connection per node port, opened on first use.
    conns: BTreeMap<u16, RawClient>,
    /// The port serving each slot; 0 while unknown.
    slots: Vec<u16>,
    /// 2 or 3: every new connection is switched to it.
    proto: u8,
    /// Keyless commands go to the master serving this slot.
    keyless_slot: u16,
    /// The node a transaction is open on (after MULTI's +OK).
    pinned: Option<u16>,
    /// `-MOVED` replies followed so far.
    pub moved: usize,
    /// `-ASK` replies followed so far.
    pub asked: usize,
    /// `-TRYAGAIN` replies retried so far.
    pub tryagain: usize,
}

impl ClusterClient {
    /// Connects to the cluster through `seeds` (node ports) and reads its slot
    /// map.
    pub fn connect(seeds: &[u16]) -> Self {
        let mut c = Self {
            seeds: seeds.to_vec(),
            conns: BTreeMap::new(),
            slots: vec![0; usize::from(SLOTS)],
            proto: 2,
            keyless_slot: 0,
            pinned: None,
            moved: 0,
            asked: 0,
            tryagain: 0,
        };
        c.refresh().unwrap_or_else(|e| panic!("cluster slot map from {seeds:?}: {e}"));
        c
    }

    /// Reads the slot map again (CLUSTER SLOTS) from the first node that answers.
    pub fn refresh(&mut self) -> Result<(), String> {
        let mut candidates: Vec<u16> = self.conns.keys().copied().collect();
        candidates.extend(&self.seeds);
        let mut last = String::from("no node to ask");
        for port in candidates {
            let reply = match self.conn(port).and_then(|c| c.try_cmd(&["CLUSTER", "SLOTS"])) {
                Ok(r) => r,
                Err(e) => {
                    self.conns.remove(&port);
                    last = format!("{port}: {e}");
                    continue;
                }
            };
            match parse_cluster_slots(&reply) {
                Ok(ranges) if !ranges.is_empty() => {
                    self.slots.fill(0);
                    for r in ranges {
                        for s in r.start..=r.end {
                            self.slots[usize::from(s)] = r.master;
                        }
                    }
                    return Ok(());
                }
                Ok(_) => last = format!("{port}: no slots served"),
                Err(e) => last = format!("{port}: {e}"),
            }
        }
        Err(last)
    }

    /// The connection to `port`, opened (and switched to RESP3 if asked) on
    /// first use.
    fn conn(&mut self, port: u16) -> std::io::Result<&mut RawClient> {
        if !self.conns.contains_key(&port) {
            let mut c = RawClient::try_connect(port)?;
            if self.proto == 3 {
                c.try_cmd(&["HELLO", "3"])?;
            }
            self.conns.insert(port, c);
        }
        Ok(self.conns.get_mut(&port).expect("just inserted"))
    }

    /// The master serving `slot`, as far as this client knows.
    pub fn node_for_slot(&self, slot: u16) -> u16 {
        match self.slots[usize::from(slot)] {
            0 => *self.seeds.first().expect("a seed"),
            port => port,
        }
    }

    /// The masters serving slots, each once, in slot order.
    pub fn masters(&self) -> Vec<u16> {
        let mut out: Vec<u16> = Vec::new();
        for &p in &self.slots {
            if p != 0 && !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }

    /// Keyless commands go to the master serving `slot` from now on.
    pub fn set_keyless_slot(&mut self, slot: u16) {
        self.keyless_slot = slot;
    }

    /// Switches to RESP `proto`: HELLO on every open connection and on the
    /// keyless node's, whose reply is returned; new connections say it too.
    pub fn hello(&mut self, proto: u8) -> Vec<u8> {
        self.proto = proto;
        let target = self.node_for_slot(self.keyless_slot);
        let hello = ["HELLO".to_string(), proto.to_string()];
        let mut reply = Vec::new();
        self.conn(target).expect("connect");
        for (&port, c) in self.conns.iter_mut() {
            let r = c.cmd(&hello);
            if port == target {
                reply = r;
            }
        }
        reply
    }

    /// Sends one command and returns its reply; panics on a connection error.
    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Vec<u8> {
        let args: Vec<Vec<u8>> = args.iter().map(|a| a.as_ref().to_vec()).collect();
        self.try_cmd(&args).unwrap_or_else(|e| panic!("{:?}: {e}", show_args(&args)))
    }

    /// [`Self::cmd`] as text, for readable asserts.
    pub fn cmd_str<A: AsRef<[u8]>>(&mut self, args: &[A]) -> String {
        String::from_utf8_lossy(&self.cmd(args)).into_owned()
    }

    /// Sends one command, routed as the module documentation says.
    pub fn try_cmd(&mut self, args: &[Vec<u8>]) -> std::io::Result<Vec<u8>> {
        let name = args.first().map(|a| lower(a)).unwrap_or_default();
        if let Some(port) = self.pinned {
            let reply = self.conn(port)?.try_cmd(args);
            if reply.is_err() || matches!(name.as_str(), "exec" | "discard" | "reset") {
                self.pinned = None;
            }
            return reply;
        }
        match name.as_str() {
            "dbsize" | "keys" | "flushall" | "flushdb" => return self.fan_out(&name, args),
            "unwatch" => {
                let target = self.node_for_slot(self.keyless_slot);
                let others: Vec<u16> =
                    self.conns.keys().copied().filter(|&p| p != target).collect();
                for p in others {
                    self.conn(p)?.try_cmd(args)?;
                }
            }
            _ => {}
        }
        let slot = keys_of(args).first().map_or(self.keyless_slot, |k| key_slot(k));
        let (port, reply) = self.routed(self.node_for_slot(slot), args)?;
        if name == "multi" && reply == b"+OK\r\n" {
            self.pinned = Some(port);
        }
        Ok(reply)
    }

    /// Sends `args` to `port` and follows redirections; returns the node that
    /// answered last and its reply.
    fn routed(&mut self, mut port: u16, args: &[Vec<u8>]) -> std::io::Result<(u16, Vec<u8>)> {
        let mut asking = false;
        let (mut redirects, mut tryagain, mut reconnects) = (0, 0, 0);
        loop {
            let reply = match self.exchange(port, args, asking) {
                Ok(r) => r,
                // A node killed since the map was read (refused, or EOF on the
                // connection to it): read the map again and send once more.
                // Right for a killed node, which never ran the command; this is
                // a test client, not one that may repeat a write blindly.
                Err(e) if reconnects < 3 => {
                    reconnects += 1;
                    self.conns.remove(&port);
                    self.refresh().map_err(|why| std::io::Error::other(format!("{e}; {why}")))?;
                    let slot = keys_of(args).first().map_or(self.keyless_slot, |k| key_slot(k));
                    port = self.node_for_slot(slot);
                    asking = false;
                    continue;
                }
                Err(e) => return Err(e),
            };
            asking = false;
            if let Some((slot, target)) = redirect(&reply, b"-MOVED ") {
                self.moved += 1;
                self.slots[usize::from(slot)] = target;
                port = target;
            } else if let Some((_, target)) = redirect(&reply, b"-ASK ") {
                self.asked += 1;
                port = target;
                asking = true;
            } else if reply.starts_with(b"-TRYAGAIN") && tryagain < MAX_TRYAGAIN {
                self.tryagain += 1;
                tryagain += 1;
                std::thread::sleep(Duration::from_millis(10));
                continue;
            } else {
                return Ok((port, reply));
            }
            redirects += 1;
            if redirects > MAX_REDIRECTS {
                return Err(std::io::Error::other(format!(
                    "more than {MAX_REDIRECTS} redirections, last {}",
                    String::from_utf8_lossy(&reply)
                )));
            }
        }
    }

    /// Sends `args` to `port` (after ASKING if `asking`) and reads the reply.
    fn exchange(&mut self, port: u16, args: &[Vec<u8>], asking: bool) -> std::io::Result<Vec<u8>> {
        let conn = self.conn(port)?;
        if !asking {
            return conn.try_cmd(args);
        }
        // ASKING and the command in one write: the node lets exactly the next
        // command in.
        let mut bytes = encode(&["ASKING"]);
        bytes.extend(encode(args));
        conn.stream.write_all(&bytes)?;
        let ok = conn.try_read_reply()?;
        if ok != b"+OK\r\n" {
            return Err(std::io::Error::other(format!(
                "ASKING answered {}",
                String::from_utf8_lossy(&ok)
            )));
        }
        conn.try_read_reply()
    }

    /// A cluster-wide keyless command, sent to every master: DBSIZE replies are
    /// summed, KEYS replies concatenated, FLUSHALL/FLUSHDB give +OK if every
    /// master did. Any other reply (an error) is returned as the first master
    /// sent it.
    fn fan_out(&mut self, name: &str, args: &[Vec<u8>]) -> std::io::Result<Vec<u8>> {
        let mut replies = Vec::new();
        for port in self.masters() {
            replies.push(self.conn(port)?.try_cmd(args)?);
        }
        let first = replies.first().cloned().unwrap_or_default();
        let ints: Option<Vec<i64>> =
            replies.iter().map(|r| parse(r).ok().and_then(|v| v.int())).collect();
        Ok(match name {
            "dbsize" => match ints {
                Some(n) => format!(":{}\r\n", n.iter().sum::<i64>()).into_bytes(),
                None => first,
            },
            "keys" => {
                let mut items = Vec::new();
                for r in &replies {
                    match parse(r) {
                        Ok(Value::Agg(b'*', v)) => items.extend(v),
                        _ => return Ok(r.clone()),
                    }
                }
                Value::Agg(b'*', items).to_bytes()
            }
            _ => replies.into_iter().find(|r| r != b"+OK\r\n").unwrap_or(first),
        })
    }
}

/// Arguments as text, for messages.
pub fn show_args(args: &[Vec<u8>]) -> Vec<String> {
    args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirections_are_parsed() {
        assert_eq!(redirect(b"-MOVED 3999 127.0.0.1:6381\r\n", b"-MOVED "), Some((3999, 6381)));
        assert_eq!(redirect(b"-ASK 1 :7000\r\n", b"-ASK "), Some((1, 7000)));
        assert_eq!(redirect(b"-ERR x\r\n", b"-MOVED "), None);
    }

    #[test]
    fn keys_follow_key_specs() {
        let args = |s: &str| s.split(' ').map(|a| a.as_bytes().to_vec()).collect::<Vec<_>>();
        assert_eq!(keys_of(&args("MSET a 1 b 2")), args("a b"));
        assert_eq!(keys_of(&args("EVAL s 2 k1 k2 x")), args("k1 k2"));
        assert!(keys_of(&args("PING")).is_empty());
        assert!(keys_of(&args("NOSUCH a")).is_empty());
    }
}
