//! Commands against a Redis Cluster: which node each goes to, multi-key commands
//! split by slot, keyless commands fanned out to every master, SCAN across
//! masters, and transactions pinned to the node of their first key.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;
use tokio::sync::oneshot;

mod gather;
mod held;

use gather::{Gather, GatherState, ScanPart};

use super::conn::{Conn, Effect, Lane};
use crate::cmd::{Begin, ClusterRun, Command, Find, Merge, command_keys, flags};
use crate::protocol::Request;
use crate::stats::inc;
use crate::upstream::cluster::key_slot;
use crate::upstream::{After, Dest, Parts, Reply, ReplySlot, ReplyTx};

/// Redis Cluster's error for keys in different slots.
pub const CROSSSLOT: &[u8] = b"CROSSSLOT Keys in request don't hash to the same slot";

/// Bits of a SCAN cursor that name the master (the rest is that master's cursor).
pub(super) const SCAN_NODE_BITS: u32 = 16;

/// The cluster part of hotcache's INFO section: the map as hotcache routes by
/// it, and a line per master.
pub(super) fn info_lines(c: &crate::upstream::cluster::Cluster, s: &mut String) {
    use std::fmt::Write as _;
    let (_, map) = c.map();
    let covered = map.covered();
    let state = if covered == crate::upstream::cluster::SLOTS { "ok" } else { "fail" };
    let _ = write!(s, "cluster_state:{state}\r\n");
    let _ = write!(s, "cluster_slots_covered:{covered}\r\n");
    let _ = write!(s, "cluster_masters:{}\r\n", map.shards.len());
    let _ = write!(s, "cluster_refreshes:{}\r\n", c.refreshes.load(Relaxed));
    let _ = write!(s, "cluster_map_changes:{}\r\n", c.map_changes.load(Relaxed));
    let _ = write!(s, "cluster_refresh_errors:{}\r\n", c.refresh_errors.load(Relaxed));
    let mut last = c.last_error();
    last.retain(|ch| ch != '\r' && ch != '\n');
    let _ = write!(s, "cluster_last_refresh_error:{last}\r\n");
    let breakers = c.breakers();
    let state_of = |addr: &str| {
        breakers.iter().find(|(a, _)| &**a == addr).map_or("closed", |(_, b)| b.state().name())
    };
    for (i, (shard, slots)) in map.shards.iter().zip(map.slot_counts()).enumerate() {
        let replicas: Vec<&str> = shard.replicas.iter().map(|r| &**r).collect();
        let _ = write!(
            s,
            "cluster_node{i}:addr={},slots={slots},replicas={},breaker={}\r\n",
            shard.addr,
            replicas.join("|"),
            state_of(&shard.addr)
        );
    }
}

/// Where a command goes in a cluster.
pub(super) enum Plan {
    /// The master of this slot (None: keyless, any master).
    Slot(Option<u16>),
    CrossSlot,
    Split {
        step: usize,
        merge: Merge,
    },
    Everywhere(Merge),
    Scan,
}

/// The slot of every key of a command: `Err(())` when they differ.
fn slots_of(c: &Command, args: &[Bytes]) -> Result<Option<u16>, ()> {
    // The common case, one key at argument 1 (GET, SET, HGET ...), without
    // building a key list.
    if let [spec] = c.def.key_specs
        && matches!(spec.begin, Begin::Index(1))
        && matches!(spec.find, Find::Range { lastkey: 0, .. })
        && args.len() > 1
    {
        return Ok(Some(key_slot(&args[1])));
    }
    let mut slot = None;
    for k in command_keys(c.def, args).keys {
        let s = key_slot(&args[k.index]);
        match slot {
            None => slot = Some(s),
            Some(x) if x != s => return Err(()),
            _ => {}
        }
    }
    Ok(slot)
}

/// How a command runs against the cluster.
pub(super) fn plan(c: &Command, args: &[Bytes]) -> Plan {
    let slot = slots_of(c, args);
    match (c.cluster, slot) {
        (ClusterRun::Split { step, merge }, Err(())) => Plan::Split { step, merge },
        (ClusterRun::Everywhere(m), Ok(None)) => Plan::Everywhere(m),
        (ClusterRun::Scan, _) => Plan::Scan,
        (_, Err(())) => Plan::CrossSlot,
        (_, Ok(s)) => Plan::Slot(s),
    }
}

impl Conn {
    /// A multi-key command whose keys are in several slots: one command per slot,
    /// the replies merged in key order.
    pub(super) fn cluster_split(
        &mut self,
        c: &'static Command,
        req: Request,
        step: usize,
        merge: Merge,
        after: After,
    ) -> bool {
        // MSET's pairs: Redis refuses an odd count before writing anything.
        if !(req.args.len() - 1).is_multiple_of(step) {
            return self.reply_error(crate::cmd::arity_error(c).as_bytes());
        }
        let keys = command_keys(c.def, &req.args);
        let mut groups: Vec<(u16, Vec<usize>)> = Vec::new();
        for (pos, k) in keys.keys.iter().enumerate() {
            let s = key_slot(&req.args[k.index]);
            match groups.iter_mut().find(|g| g.0 == s) {
                Some(g) => g.1.push(pos),
                None => groups.push((s, vec![pos])),
            }
        }
        let subs: Vec<(u16, Request)> = groups
            .iter()
            .map(|(slot, positions)| {
                let mut args = vec![req.args[0].clone()];
                for &p in positions {
                    let i = keys.keys[p].index;
                    args.extend(req.args[i..(i + step).min(req.args.len())].iter().cloned());
                }
                (*slot, Request::from_args(args))
            })
            .collect();
        let positions = groups.into_iter().map(|g| g.1).collect();
        inc(&self.ctx.counters().cluster_split_commands);
        let read = c.def.has(flags::READONLY);
        self.invalidate_now(&after);
        let parts = self.gather(merge, positions, keys.keys.len(), after, subs.len());
        for (i, (slot, sub)) in subs.iter().enumerate() {
            let route = Dest { slot: Some(*slot), read };
            match self.ctx.upstream.shared_for(&self.who, self.proto, self.affinity, route) {
                Ok(link) => match self.over_share(&link) {
                    Some(refusal) => parts.0.failed(i, refusal),
                    None => link.send_part(sub, &parts.0, i),
                },
                Err(e) => parts.0.failed(i, e),
            }
        }
        self.push_forwarded(ReplySlot::Wait(parts.1), Lane::Shared, Effect::None);
        true
    }

    /// A keyless command every master must run (DBSIZE, FLUSHALL, KEYS ...).
    pub(super) fn cluster_everywhere(&mut self, req: Request, merge: Merge, after: After) -> bool {
        let masters = self.ctx.upstream.masters();
        if masters.is_empty() {
            return self.reply_error(b"CLUSTERDOWN Hash slot not served");
        }
        inc(&self.ctx.counters().cluster_fanouts);
        self.invalidate_now(&after);
        let parts = self.gather(merge, Vec::new(), 0, after, masters.len());
        for (i, addr) in masters.iter().enumerate() {
            match self.ctx.upstream.shared_at(&self.who, self.proto, self.affinity, addr) {
                Ok(link) => match self.over_share(&link) {
                    Some(refusal) => parts.0.failed(i, refusal),
                    None => link.send_part(&req, &parts.0, i),
                },
                Err(e) => parts.0.failed(i, e),
            }
        }
        self.push_forwarded(ReplySlot::Wait(parts.1), Lane::Shared, Effect::None);
        true
    }

    /// SCAN over every master in turn: the low bits of the cursor say which
    /// master, the rest is that master's own cursor.
    pub(super) fn cluster_scan(&mut self, req: Request) -> bool {
        let cursor = std::str::from_utf8(&req.args[1]).ok().and_then(|s| s.parse::<u64>().ok());
        let Some(cursor) = cursor else {
            return self.reply_error(b"ERR invalid cursor");
        };
        let masters = self.ctx.upstream.masters();
        if masters.is_empty() {
            return self.reply_error(b"CLUSTERDOWN Hash slot not served");
        }
        let node = (cursor & ((1 << SCAN_NODE_BITS) - 1)) as usize;
        let Some(addr) = masters.get(node) else {
            // A cursor from before the cluster shrank: the scan is over.
            return self.reply_raw(Bytes::from_static(b"*2\r\n$1\r\n0\r\n*0\r\n"));
        };
        let mut args = req.args.clone();
        args[1] = Bytes::from((cursor >> SCAN_NODE_BITS).to_string());
        let sub = Request::from_args(args);
        let (tx, rx) = ReplyTx::channel(Some(&self.owed));
        let parts: Rc<dyn Parts> =
            Rc::new(ScanPart { node, nodes: masters.len(), tx: RefCell::new(Some(tx)) });
        match self.ctx.upstream.shared_at(&self.who, self.proto, self.affinity, addr) {
            Ok(link) => link.send_part(&sub, &parts, 0),
            Err(e) => parts.failed(0, e),
        }
        self.push_forwarded(ReplySlot::Wait(rx), Lane::Shared, Effect::None);
        true
    }

    fn gather(
        &self,
        merge: Merge,
        positions: Vec<Vec<usize>>,
        total: usize,
        after: After,
        parts: usize,
    ) -> (Rc<dyn Parts>, oneshot::Receiver<Reply>) {
        let (tx, rx) = ReplyTx::channel(Some(&self.owed));
        let g: Rc<dyn Parts> = Rc::new(Gather {
            merge,
            positions,
            total,
            after,
            epochs: self.ctx.shared.cache.epochs.clone(),
            st: RefCell::new(GatherState { frames: vec![None; parts], left: parts, tx: Some(tx) }),
        });
        (g, rx)
    }

    /// True if `slot` is served by the node of the client's own connection (or
    /// either is not known).
    pub(super) fn cluster_same_node(&self, slot: Option<u16>) -> bool {
        let (Some(slot), Some(d)) = (slot, &self.dedicated) else { return true };
        match (d.link.addr(), self.ctx.upstream.node_for(slot)) {
            (Some(a), Some(b)) => a == &*b,
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::{Lookup, lookup};

    fn plan_of(args: &[&str]) -> Plan {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a.as_bytes())).collect();
        match lookup(&args) {
            Lookup::Found(c) => plan(c, &args),
            _ => panic!("unknown command {args:?}"),
        }
    }

    #[test]
    fn plans() {
        assert!(matches!(plan_of(&["GET", "foo"]), Plan::Slot(Some(12182))));
        assert!(matches!(plan_of(&["MGET", "{a}1", "{a}2"]), Plan::Slot(Some(_))));
        assert!(matches!(
            plan_of(&["MGET", "a", "b"]),
            Plan::Split { step: 1, merge: Merge::Positions }
        ));
        assert!(matches!(plan_of(&["MSET", "a", "1", "b", "2"]), Plan::Split { step: 2, .. }));
        assert!(matches!(plan_of(&["RENAME", "a", "b"]), Plan::CrossSlot));
        assert!(matches!(plan_of(&["EVAL", "s", "2", "a", "b"]), Plan::CrossSlot));
        assert!(matches!(plan_of(&["EVAL", "s", "0"]), Plan::Slot(None)));
        assert!(matches!(plan_of(&["DBSIZE"]), Plan::Everywhere(Merge::Sum)));
        assert!(matches!(plan_of(&["KEYS", "*"]), Plan::Everywhere(Merge::Concat)));
        assert!(matches!(plan_of(&["SCAN", "0"]), Plan::Scan));
        assert!(matches!(plan_of(&["PUBLISH", "ch", "m"]), Plan::Slot(None)));
    }
}
