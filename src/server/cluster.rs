//! Commands against a Redis Cluster: which node each goes to, multi-key commands
//! split by slot, keyless commands fanned out to every master, SCAN across
//! masters, and transactions pinned to the node of their first key.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use bytes::{Bytes, BytesMut};
use tokio::sync::oneshot;

use super::cached::split_array;
use super::conn::{Conn, Effect, Lane, ReplyMode};
use crate::cache::Epochs;
use crate::cmd::{
    Begin, ClusterRun, Command, Find, Local, Lookup, Merge, Route, State, command_keys, flags,
};
use crate::protocol::{Request, string2ll};
use crate::stats::inc;
use crate::upstream::cluster::key_slot;
use crate::upstream::{After, Dest, Link, Parts, Reply, ReplySlot, Waiter};

/// Redis Cluster's error for keys in different slots.
pub const CROSSSLOT: &[u8] = b"CROSSSLOT Keys in request don't hash to the same slot";

/// A command no Redis knows (an empty name): queued in a transaction, Redis
/// refuses it and then EXEC (EXECABORT).
const FLAG_TX: &[u8] = b"*1\r\n$0\r\n\r\n";

/// Keyless commands a held MULTI queues before it picks a node anyway.
const HELD_MAX: usize = 1024;

/// Bits of a SCAN cursor that name the master (the rest is that master's cursor).
const SCAN_NODE_BITS: u32 = 16;

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
            match self.ctx.upstream.shared_for(self.proto, self.affinity, route) {
                Ok(link) => link.send_part(sub, &parts.0, i),
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
            match self.ctx.upstream.shared_at(self.proto, self.affinity, addr) {
                Ok(link) => link.send_part(&req, &parts.0, i),
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
        let (tx, rx) = oneshot::channel();
        let parts: Rc<dyn Parts> =
            Rc::new(ScanPart { node, nodes: masters.len(), tx: RefCell::new(Some(tx)) });
        match self.ctx.upstream.shared_at(self.proto, self.affinity, addr) {
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
        let (tx, rx) = oneshot::channel();
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

    /// A command while MULTI is held back (see `stateful`). The first command
    /// with keys picks the node: MULTI goes there on the client's own connection,
    /// the keyless commands queued so far follow (their +QUEUED was given here),
    /// and dispatch goes on with the command (`Err(req)`). EXEC and DISCARD of a
    /// transaction with no keys are answered here or sent to any master.
    pub(super) fn deferred_multi(
        &mut self,
        lookup: &Lookup,
        req: Request,
    ) -> Result<bool, Request> {
        let c = match lookup {
            Lookup::Found(c) => *c,
            _ => {
                // Redis answers an unknown command in MULTI and fails EXEC.
                let msg = match lookup {
                    Lookup::UnknownSub(_) => crate::cmd::unknown_subcommand_error(&req.args),
                    _ => crate::cmd::unknown_command_error(&req.args),
                };
                if let Some(h) = &mut self.cluster_multi {
                    h.dirty = true;
                }
                return Ok(self.reply_error(&msg));
            }
        };
        let arity = c.def.arity_ok(req.args.len());
        match (c.route, c.state) {
            (Route::Local(Local::Quit), _) => return Err(req),
            (Route::Local(Local::Reset), _) => {
                self.end_held_multi();
                return Err(req);
            }
            (_, Some(State::Multi)) if arity => {
                return Ok(self.reply_error(b"ERR MULTI calls can not be nested"));
            }
            (_, Some(State::Watch)) if arity => {
                return Ok(self.reply_error(b"ERR WATCH inside MULTI is not allowed"));
            }
            (_, Some(State::Discard)) if arity => {
                self.end_held_multi();
                return Ok(self.reply_raw(Bytes::from_static(b"+OK\r\n")));
            }
            (_, Some(State::Exec)) if arity => {
                let (dirty, empty) = self
                    .cluster_multi
                    .as_ref()
                    .map_or((false, true), |h| (h.dirty, h.queued.is_empty()));
                if dirty {
                    self.end_held_multi();
                    return Ok(self.reply_error(
                        b"EXECABORT Transaction discarded because of previous errors.",
                    ));
                }
                if empty {
                    self.end_held_multi();
                    return Ok(self.reply_raw(Bytes::from_static(b"*0\r\n")));
                }
                return self.send_held_multi(None, req);
            }
            _ => {}
        }
        if !arity {
            if let Some(h) = &mut self.cluster_multi {
                h.dirty = true;
            }
            return Ok(self.reply_error(crate::cmd::arity_error(c).as_bytes()));
        }
        match slots_of(c, &req.args) {
            Ok(Some(slot)) => self.send_held_multi(Some(slot), req),
            // Keys in several slots: Redis refuses the command, and EXEC.
            Err(()) => {
                if let Some(h) = &mut self.cluster_multi {
                    h.dirty = true;
                }
                Ok(self.reply_error(CROSSSLOT))
            }
            // Bounded: past HELD_MAX keyless commands, any master it is.
            Ok(None) if self.cluster_multi.as_ref().is_some_and(|h| h.queued.len() >= HELD_MAX) => {
                self.send_held_multi(None, req)
            }
            Ok(None) => {
                if let Some(h) = &mut self.cluster_multi {
                    h.queued.push(req);
                }
                Ok(self.reply_raw(Bytes::from_static(b"+QUEUED\r\n")))
            }
        }
    }

    fn end_held_multi(&mut self) {
        self.cluster_multi = None;
        self.info().in_multi.store(false, Relaxed);
    }

    /// Sends the held MULTI and the commands queued behind it to the node of
    /// `slot` (any master if None); `req` then goes on through dispatch.
    fn send_held_multi(&mut self, slot: Option<u16>, req: Request) -> Result<bool, Request> {
        self.dest = Dest { slot, read: false };
        match self.take_dedicated() {
            Ok(()) => {}
            Err(None) => {
                self.stalled = Some(req);
                return Ok(false);
            }
            Err(Some(e)) => {
                // No node to be had: the transaction cannot start.
                self.end_held_multi();
                return Ok(self.reply_raw(e));
            }
        }
        let Some(held) = self.cluster_multi.take() else { return Err(req) };
        if let Some(d) = &mut self.dedicated {
            if let Link::Pipe(conn) = &d.link {
                // Its +OK was given when it came.
                conn.push(&held.multi.frame, Waiter::Discard, After::Nothing);
                if held.dirty {
                    // A command was refused while MULTI was held: Redis must
                    // refuse EXEC too. A command it cannot know fails the
                    // transaction there, as the refused one would have.
                    conn.push(&Bytes::from_static(FLAG_TX), Waiter::Discard, After::Nothing);
                }
            }
            d.in_multi = true;
        }
        // The queued commands' +QUEUED were given when they came: Redis's are
        // dropped, as with CLIENT REPLY OFF.
        let mode = self.reply_mode;
        for q in held.queued {
            self.reply_mode = ReplyMode::Off;
            let lookup = crate::cmd::lookup(&q.args);
            self.queue_in_transaction(&lookup, q);
        }
        self.reply_mode = mode;
        Err(req)
    }
}

/// A MULTI held back until a command says which node the transaction is for.
pub(super) struct HeldMulti {
    multi: Request,
    /// Keyless commands queued so far (answered +QUEUED).
    queued: Vec<Request>,
    /// A command was refused while held: EXEC answers EXECABORT.
    dirty: bool,
}

impl HeldMulti {
    pub fn new(multi: Request) -> Self {
        Self { multi, queued: Vec::new(), dirty: false }
    }
}

struct GatherState {
    frames: Vec<Option<Bytes>>,
    left: usize,
    tx: Option<oneshot::Sender<Reply>>,
}

/// The replies of the parts of a split or fanned-out command.
struct Gather {
    merge: Merge,
    /// For `Merge::Positions`: the key positions each part holds.
    positions: Vec<Vec<usize>>,
    total: usize,
    /// What the command wrote, invalidated again once every part has answered.
    after: After,
    epochs: Arc<Epochs>,
    st: RefCell<GatherState>,
}

impl Gather {
    fn done(&self) {
        let mut st = self.st.borrow_mut();
        st.left -= 1;
        if st.left > 0 {
            return;
        }
        let frames: Vec<Bytes> =
            st.frames.iter_mut().map(|f| f.take().unwrap_or_default()).collect();
        let tx = st.tx.take();
        drop(st);
        self.after.apply(&self.epochs);
        let reply = self.merge(&frames);
        if let Some(tx) = tx {
            let _ = tx.send(Reply::ok(reply));
        }
    }

    fn merge(&self, frames: &[Bytes]) -> Bytes {
        if let Some(e) = frames.iter().find(|f| f.is_empty() || f[0] == b'-' || f[0] == b'!') {
            return if e.is_empty() { odd() } else { e.clone() };
        }
        match self.merge {
            Merge::Same => frames[0].clone(),
            Merge::Sum => {
                let mut sum: i64 = 0;
                for f in frames {
                    let n = f
                        .strip_prefix(b":")
                        .and_then(|r| r.strip_suffix(b"\r\n"))
                        .and_then(string2ll);
                    match n {
                        Some(n) => sum = sum.saturating_add(n),
                        None => return odd(),
                    }
                }
                Bytes::from(format!(":{sum}\r\n"))
            }
            Merge::Concat => {
                let parts: Vec<Vec<Bytes>> = frames.iter().map(split_array).collect();
                let n: usize = parts.iter().map(Vec::len).sum();
                let mut out = BytesMut::new();
                out.extend_from_slice(format!("*{n}\r\n").as_bytes());
                for e in parts.iter().flatten() {
                    out.extend_from_slice(e);
                }
                out.freeze()
            }
            Merge::Positions => {
                let mut slots: Vec<Option<Bytes>> = vec![None; self.total];
                for (f, positions) in frames.iter().zip(&self.positions) {
                    let elements = split_array(f);
                    if elements.len() != positions.len() {
                        return odd();
                    }
                    for (e, &p) in elements.into_iter().zip(positions) {
                        slots[p] = Some(e);
                    }
                }
                let mut out = BytesMut::new();
                out.extend_from_slice(format!("*{}\r\n", self.total).as_bytes());
                for s in slots {
                    match s {
                        Some(e) => out.extend_from_slice(&e),
                        None => return odd(),
                    }
                }
                out.freeze()
            }
        }
    }
}

/// A reply that does not fit what the command answers.
fn odd() -> Bytes {
    Bytes::from_static(b"-ERR unexpected reply from a cluster node\r\n")
}

impl Parts for Gather {
    fn part(&self, index: usize, frame: Bytes) {
        if let Some(f) = self.st.borrow_mut().frames.get_mut(index) {
            *f = Some(frame);
        }
        self.done();
    }

    fn failed(&self, index: usize, error: Bytes) {
        self.part(index, error);
    }
}

/// One master's SCAN reply, its cursor rewritten to carry the master.
struct ScanPart {
    node: usize,
    nodes: usize,
    tx: RefCell<Option<oneshot::Sender<Reply>>>,
}

impl ScanPart {
    fn rewrite(&self, frame: &Bytes) -> Option<Bytes> {
        let rest = frame.strip_prefix(b"*2\r\n$")?;
        let nl = memchr::memchr(b'\r', rest)?;
        let len: usize = std::str::from_utf8(&rest[..nl]).ok()?.parse().ok()?;
        let cursor: u64 =
            std::str::from_utf8(rest.get(nl + 2..nl + 2 + len)?).ok()?.parse().ok()?;
        let keys = rest.get(nl + 2 + len + 2..)?;
        let next = if cursor != 0 {
            if cursor >> (64 - SCAN_NODE_BITS) != 0 {
                return None;
            }
            (cursor << SCAN_NODE_BITS) | self.node as u64
        } else if self.node + 1 < self.nodes {
            (self.node + 1) as u64
        } else {
            0
        };
        let next = next.to_string();
        let mut out = BytesMut::with_capacity(frame.len() + 8);
        out.extend_from_slice(format!("*2\r\n${}\r\n{next}\r\n", next.len()).as_bytes());
        out.extend_from_slice(keys);
        Some(out.freeze())
    }
}

impl Parts for ScanPart {
    fn part(&self, _: usize, frame: Bytes) {
        let reply =
            if frame.starts_with(b"*") { self.rewrite(&frame).unwrap_or_else(odd) } else { frame };
        if let Some(tx) = self.tx.borrow_mut().take() {
            let _ = tx.send(Reply::ok(reply));
        }
    }

    fn failed(&self, index: usize, error: Bytes) {
        self.part(index, error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::lookup;

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

    fn gather(merge: Merge, positions: Vec<Vec<usize>>, total: usize) -> Gather {
        let (tx, _rx) = oneshot::channel();
        Gather {
            merge,
            positions,
            total,
            after: After::Nothing,
            epochs: Arc::new(Epochs::new(4)),
            st: RefCell::new(GatherState { frames: Vec::new(), left: 0, tx: Some(tx) }),
        }
    }

    #[test]
    fn merges() {
        let b = |s: &str| Bytes::copy_from_slice(s.as_bytes());
        let g = gather(Merge::Positions, vec![vec![0, 2], vec![1]], 3);
        assert_eq!(
            g.merge(&[b("*2\r\n$1\r\na\r\n$-1\r\n"), b("*1\r\n$1\r\nb\r\n")]),
            b("*3\r\n$1\r\na\r\n$1\r\nb\r\n$-1\r\n")
        );
        assert_eq!(g.merge(&[b("*1\r\n$1\r\na\r\n"), b("*1\r\n$1\r\nb\r\n")]), odd());
        let g = gather(Merge::Sum, Vec::new(), 0);
        assert_eq!(g.merge(&[b(":2\r\n"), b(":3\r\n")]), b(":5\r\n"));
        assert_eq!(g.merge(&[b(":2\r\n"), b("-ERR x\r\n")]), b("-ERR x\r\n"));
        let g = gather(Merge::Concat, Vec::new(), 0);
        assert_eq!(g.merge(&[b("*1\r\n$1\r\na\r\n"), b("*0\r\n")]), b("*1\r\n$1\r\na\r\n"));
        let g = gather(Merge::Same, Vec::new(), 0);
        assert_eq!(g.merge(&[b("+OK\r\n"), b("+OK\r\n")]), b("+OK\r\n"));
    }

    #[test]
    fn scan_cursors_carry_the_node() {
        let (tx, _rx) = oneshot::channel();
        let p = ScanPart { node: 1, nodes: 3, tx: RefCell::new(Some(tx)) };
        let r = p.rewrite(&Bytes::from_static(b"*2\r\n$2\r\n17\r\n*0\r\n")).expect("rewrites");
        assert_eq!(&r[..], format!("*2\r\n$7\r\n{}\r\n*0\r\n", (17u64 << 16) | 1).as_bytes());
        let r = p
            .rewrite(&Bytes::from_static(b"*2\r\n$1\r\n0\r\n*1\r\n$1\r\nk\r\n"))
            .expect("rewrites");
        assert_eq!(&r[..], b"*2\r\n$1\r\n2\r\n*1\r\n$1\r\nk\r\n");
        let last = ScanPart { node: 2, nodes: 3, tx: RefCell::new(None) };
        let r = last.rewrite(&Bytes::from_static(b"*2\r\n$1\r\n0\r\n*0\r\n")).expect("rewrites");
        assert_eq!(&r[..], b"*2\r\n$1\r\n0\r\n*0\r\n");
    }
}
