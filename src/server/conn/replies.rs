//! The reply queue: replies leave from its head only, so every client gets them
//! in the order it sent its commands, whatever path each took.

use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;

use super::{Conn, Effect, FillTarget, Lane, Pending, ReplyMode};
use crate::cache::FillResult;
use crate::metrics::Mark;
use crate::stats::inc;
use crate::upstream::ReplySlot;

/// The reply when an upstream connection vanished with the request on it.
pub(super) fn lost() -> Bytes {
    Bytes::from_static(b"-ERR upstream connection lost\r\n")
}

impl Conn {
    /// Queues a reply hotcache produced itself.
    pub fn push_local(&mut self, reply: Bytes, effect: Effect) {
        self.push_pending(ReplySlot::Ready(reply), Lane::Local, effect, None);
    }

    /// Queues a reply still to come from `lane`.
    pub fn push_forwarded(&mut self, slot: ReplySlot, lane: Lane, effect: Effect) {
        self.push_pending(slot, lane, effect, None);
    }

    /// Queues a reply still to come, and what to do with it when it comes.
    pub fn push_pending(
        &mut self,
        mut slot: ReplySlot,
        lane: Lane,
        effect: Effect,
        fill: Option<Box<FillTarget>>,
    ) {
        let silent = self.take_silence();
        let charge = self.charge_ready(&mut slot);
        let sent = match lane {
            Lane::Shared | Lane::Dedicated => std::mem::take(&mut self.req_bytes),
            Lane::Foreign | Lane::Local => 0,
        };
        self.upstream_bytes += sent;
        match lane {
            Lane::Shared => self.shared_inflight += 1,
            Lane::Foreign => self.foreign_inflight += 1,
            Lane::Dedicated => {
                if let Some(d) = &mut self.dedicated {
                    d.inflight += 1;
                }
            }
            Lane::Local => {}
        }
        let mark = self.mark;
        self.pending.push_back(Pending {
            slot,
            lane,
            effect,
            silent,
            fill,
            retry: None,
            mark,
            args: Vec::new(),
            charge,
            own_noted: self.own_noted.take(),
            sent,
            unsure: self.unsure.take(),
        });
    }

    /// Charges a reply produced here to the client's output limit while it
    /// waits in the queue; over the limit, the reply is dropped (the client
    /// is being closed).
    fn charge_ready(&mut self, slot: &mut ReplySlot) -> Option<crate::upstream::Charge> {
        let ReplySlot::Ready(b) = slot else { return None };
        if b.is_empty() {
            return None;
        }
        let charge = self.owed.charge(b.len());
        if charge.is_none() {
            *b = Bytes::new();
        }
        charge
    }

    /// Keeps the arguments of the request just queued, for SLOWLOG (only while
    /// SLOWLOG is on: they hold their part of the read buffer until the reply).
    pub fn keep_args(&mut self, args: Vec<Bytes>) {
        if self.config.slowlog_log_slower_than >= 0
            && let Some(p) = self.pending.back_mut()
        {
            p.args = args;
        }
    }

    /// The time replies queued now count as queued at.
    fn drain_clock(&mut self) -> std::time::Instant {
        *self.drained_at.get_or_insert_with(std::time::Instant::now)
    }

    /// Notes a cache hit written straight to the output; its latency is
    /// recorded with the next drain's clock read (or now, if many wait).
    pub fn note_direct(&mut self, mark: Mark) {
        self.direct.push(mark);
        if self.direct.len() >= 1024 {
            // A long pipeline of hits: bound what waits.
            self.drained_at = None;
            self.record_direct();
        }
    }

    /// Records the hits written straight to the output, as queued now.
    fn record_direct(&mut self) {
        if self.direct.is_empty() {
            return;
        }
        // Taken and given back, so the vector keeps its capacity.
        let direct = std::mem::take(&mut self.direct);
        for mark in &direct {
            self.record_latency(mark, false);
        }
        self.direct = direct;
        self.direct.clear();
    }

    /// Records a command's latency, its reply being queued now.
    fn record_latency(&mut self, mark: &Mark, error: bool) {
        let now = self.drain_clock();
        let ns = now.saturating_duration_since(mark.started).as_nanos() as u64;
        if let Some(l) = self.ctx.shared.metrics.latency.get(self.ctx.shard) {
            l.record(mark, ns, error, self.config.latency_tracking);
        }
    }

    /// Logs the request in SLOWLOG if its upstream round trip was slow. Reads
    /// that joined another client's are that client's to log.
    fn maybe_slowlog(&self, p: &Pending, rtt_ns: u64) {
        let threshold = self.config.slowlog_log_slower_than;
        if threshold < 0 || rtt_ns == 0 || p.lane == Lane::Foreign {
            return;
        }
        let us = rtt_ns / 1000;
        if us < threshold as u64 {
            return;
        }
        let info = self.info();
        self.ctx.shared.metrics.slowlog.push(
            usize::try_from(self.config.slowlog_max_len).unwrap_or(usize::MAX),
            us,
            &p.args,
            info.addr.to_string(),
            info.name().unwrap_or_default(),
        );
    }

    /// Whether the next reply is dropped (CLIENT REPLY OFF/SKIP).
    pub(super) fn take_silence(&mut self) -> bool {
        match self.reply_mode {
            ReplyMode::On => false,
            ReplyMode::Off => true,
            ReplyMode::Skip => {
                self.reply_mode = ReplyMode::On;
                true
            }
        }
    }

    /// Moves every reply at the head of the queue that has arrived into the
    /// output buffer, applying its effect.
    pub(super) fn drain_ready(&mut self) {
        use tokio::sync::oneshot::error::TryRecvError;
        enum Arrived {
            /// A reply, and its upstream round trip (0: not from upstream).
            Frame(Bytes, u64),
            Fill(FillResult),
        }
        self.drained_at = None;
        self.record_direct();
        while !self.owed.is_over()
            && let Some(head) = self.pending.front_mut()
        {
            let arrived = match &mut head.slot {
                ReplySlot::Ready(b) => Arrived::Frame(std::mem::take(b), 0),
                ReplySlot::Retry(_) => return,
                ReplySlot::Wait(rx) => match rx.try_recv() {
                    Ok(r) => {
                        head.slot = ReplySlot::Arrived(r);
                        continue;
                    }
                    Err(TryRecvError::Empty) => return,
                    Err(TryRecvError::Closed) => Arrived::Frame(lost(), 0),
                },
                ReplySlot::Arrived(_) => {
                    let ReplySlot::Arrived(r) =
                        std::mem::replace(&mut head.slot, ReplySlot::Ready(Bytes::new()))
                    else {
                        return;
                    };
                    if let Some(f) = r.failed {
                        inc(&self.ctx.counters().upstream_request_errors);
                        if self.retry_head(f.unsent, &r.frame) {
                            return;
                        }
                    }
                    Arrived::Frame(r.frame, r.rtt_ns)
                }
                ReplySlot::Fill(rx) => match rx.try_recv() {
                    Ok(r) => {
                        head.slot = ReplySlot::Filled(r);
                        continue;
                    }
                    Err(TryRecvError::Empty) => return,
                    Err(TryRecvError::Closed) => Arrived::Frame(lost(), 0),
                },
                ReplySlot::Filled(_) => {
                    let ReplySlot::Filled(r) =
                        std::mem::replace(&mut head.slot, ReplySlot::Ready(Bytes::new()))
                    else {
                        return;
                    };
                    if r.failed {
                        inc(&self.ctx.counters().upstream_request_errors);
                        if self.retry_head(false, &r.reply) {
                            return;
                        }
                    }
                    Arrived::Fill(r)
                }
            };
            let Some(mut p) = self.pending.pop_front() else { return };
            // Given back before it is counted again in the output buffer.
            p.charge = None;
            let frame = match arrived {
                Arrived::Frame(b, rtt_ns) => {
                    self.maybe_slowlog(&p, rtt_ns);
                    b
                }
                Arrived::Fill(r) => {
                    self.maybe_slowlog(&p, r.rtt_ns);
                    self.install_fill(&p, r)
                }
            };
            self.complete(p, frame);
        }
    }

    /// Puts a fill's reply in this thread's cache if it may be cached there.
    pub(super) fn install_fill(&self, p: &Pending, r: FillResult) -> Bytes {
        if let Some(t) = &p.fill {
            if let Some(permit) = &t.permit
                && !r.failed
                && !matches!(r.reply.first(), Some(b'-' | b'!'))
            {
                self.ctx.cache.permits.learn(
                    &permit.who,
                    permit.cmd,
                    &permit.key,
                    permit.generation,
                );
            }
            if t.admit {
                self.ctx.cache.install(&t.entry_key, &r, t.admit, self.ctx.counters());
            }
        }
        r.reply
    }

    /// Applies a reply's effect and writes it (unless the client silenced it).
    pub(super) fn complete(&mut self, mut p: Pending, mut frame: Bytes) {
        if let Some(keys) = p.own_noted.take() {
            // Redis sent the write's invalidations before its reply (BCAST
            // messages go out first in the same event loop pass): apply what
            // the tracking streams hold, then take back what is left.
            self.ctx.trackers.sync(true);
            self.ctx.tracking.own_writes_done(self.info().id, &keys);
        }
        self.upstream_bytes -= p.sent;
        match p.lane {
            Lane::Shared => self.shared_inflight -= 1,
            Lane::Foreign => self.foreign_inflight -= 1,
            Lane::Dedicated => {
                if let Some(d) = &mut self.dedicated {
                    d.inflight = d.inflight.saturating_sub(1);
                }
            }
            Lane::Local => {}
        }
        if p.lane == Lane::Dedicated
            && (frame.starts_with(b"-MOVED ") || frame.starts_with(b"-ASK "))
            && self.ctx.upstream.is_cluster()
        {
            // A client's own connection stays on one node. With state there
            // (MULTI, WATCH), a key elsewhere is, for it, a key in another slot
            // (Redis has already flagged a transaction it was queued in);
            // without (a blocking command), the slot moved: TRYAGAIN, and the
            // next try goes to the node the MOVED named.
            let from = self.dedicated.as_ref().and_then(|d| d.link.addr()).unwrap_or_default();
            self.ctx.upstream.note_redirect(&frame, from);
            frame = if self.dedicated.as_ref().is_some_and(|d| d.pinned()) {
                Bytes::from_static(b"-CROSSSLOT Keys in request don't hash to the same slot\r\n")
            } else {
                Bytes::from_static(b"-TRYAGAIN the key's slot moved to another node; try again\r\n")
            };
        }
        let ok = frame.first() != Some(&b'-');
        if p.effect != Effect::Push {
            self.record_latency(&p.mark, !ok);
        }
        match p.effect {
            Effect::None => {}
            Effect::Select(db) if ok => {
                if let Some(d) = &mut self.dedicated {
                    d.db = db;
                }
                self.info().db.store(db, Relaxed);
            }
            Effect::Tracking(on) if ok => {
                if let Some(d) = &mut self.dedicated {
                    d.tracking = on;
                }
            }
            Effect::Multi { was } if !ok => {
                if let Some(d) = &mut self.dedicated {
                    d.in_multi = was;
                }
                self.info().in_multi.store(was, Relaxed);
            }
            Effect::AppendInfo(parts) => frame = self.append_info(frame, parts),
            Effect::Splice => frame = self.splice_exec(frame),
            Effect::MapRedir => frame = self.map_redir(frame),
            Effect::MapTrackingInfo => frame = self.map_trackinginfo(frame),
            Effect::AppendConfig => frame = self.append_config(frame),
            Effect::Close => self.closing = true,
            _ => {}
        }
        if !p.silent {
            self.queue_out(&frame);
        }
        if let Some(keys) = p.unsure.take()
            && let Some(own) = self.ctx.tracking.unsure(&self.ctx.shared, self.info().id, &keys)
        {
            self.queue_out(&own);
        }
        self.maybe_release();
    }

    /// Appends to the output buffer, unless that takes the client over its
    /// output buffer limit: then nothing more is queued, and the connection
    /// closes (rule 10: the limit holds as replies are queued, not after).
    pub fn queue_out(&mut self, frame: &Bytes) {
        self.owed.set_out(self.out.len() + frame.len());
        if self.owed.exceeded() {
            return;
        }
        self.out.push(frame);
    }

    /// Tells the client's output limit what its output buffer holds now.
    pub fn note_out(&mut self) {
        self.owed.set_out(self.out.len());
    }

    /// Queues the tracking pushes given to this connection (see
    /// `server::tracking`): after every reply it is owed, never silenced; a
    /// subscriber's go straight into its stream.
    pub(super) fn take_pushes(&mut self) {
        for frame in self.signal.take_pushes() {
            self.queue_push(frame);
        }
    }

    /// Queues a push after every reply owed (CLIENT REPLY OFF does not
    /// silence it, as in Redis).
    pub(in crate::server) fn queue_push(&mut self, frame: Bytes) {
        if self.relay.is_some() {
            self.queue_out(&frame);
            return;
        }
        let mark = self.mark;
        let mut slot = ReplySlot::Ready(frame);
        let charge = self.charge_ready(&mut slot);
        self.pending.push_back(Pending {
            slot,
            lane: Lane::Local,
            effect: Effect::Push,
            silent: false,
            fill: None,
            retry: None,
            mark,
            args: Vec::new(),
            charge,
            own_noted: None,
            sent: 0,
            unsure: None,
        });
    }

    /// Translates a Redis client id in a CLIENT GETREDIR reply to hotcache's.
    pub(super) fn map_redir(&self, frame: Bytes) -> Bytes {
        let id = frame
            .strip_prefix(b":")
            .and_then(|f| f.strip_suffix(b"\r\n"))
            .and_then(crate::protocol::string2ll);
        match id.and_then(|i| self.client_id_of_upstream(i)) {
            Some(id) => Bytes::from(format!(":{id}\r\n")),
            None => frame,
        }
    }

    /// Gives the dedicated connection back once nothing is in flight on it and
    /// the client left no state there.
    pub fn maybe_release(&mut self) {
        let Some(d) = &self.dedicated else { return };
        if d.inflight > 0 || d.in_multi || d.watching || d.tracking || d.db != self.home_db {
            return;
        }
        if let Some(d) = self.dedicated.take() {
            self.sink = None;
            let reusable = self.info().release_upstream() && !d.relogged;
            self.ctx.upstream.release(d.link, reusable);
        }
    }

    /// A frame from the client's own connection that answers no request goes
    /// straight to the client, after the replies that arrived before it.
    pub(super) fn relayed(&mut self, (frame, charge): crate::upstream::Relayed) {
        drop(charge);
        self.drain_ready();
        if let Some(r) = &mut self.relay
            && r.skip > 0
            && frame.first() != Some(&b'>')
        {
            r.skip -= 1;
            if frame.first() == Some(&b'-') {
                crate::log_limited!(warn, client = self.info().id, error = %String::from_utf8_lossy(&frame).trim_end(), "tracking of a subscriber's reads refused by Redis");
            }
            return;
        }
        let reset =
            self.relay.as_ref().is_some_and(|r| r.awaiting_reset) && &frame[..] == b"+RESET\r\n";
        self.queue_out(&frame);
        if reset {
            if let Some(r) = self.relay.take() {
                // RESET logs the connection out of the upstream user: never reuse it.
                r.conn.close();
            }
            self.sink = None;
            self.reset_local_state();
        }
    }
}
