//! One client connection: read, parse, dispatch, and write replies in request order.
//!
//! The loop keeps a queue of pending replies, one per command, in the order the
//! commands arrived. A command answered by hotcache has its reply at once; a
//! forwarded one waits for the upstream. Replies leave from the head of the queue
//! only, so pipelined clients get them in order whatever path each command took.

use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;

mod io;
mod out;
mod replies;
mod retry;
mod stream;
mod types;

use out::OutBuf;
pub(super) use stream::ClientStream;

use replies::lost;

pub(in crate::server) use types::*;

use super::ThreadCtx;
use super::clients::{ClientInfo, Registration};
use crate::config::Config;
use crate::protocol::{ParseOutcome, Proto, Request, RequestLimits, RequestParser};
use crate::stats::inc;
use crate::upstream::{Identity, Owed, ReplySlot};

/// Most commands a client may have waiting for replies before hotcache stops
/// reading from it (its replies keep flowing, so it never deadlocks a client that
/// reads).
const MAX_PENDING: usize = 64 * 1024;

/// Most bytes of requests a client may have sent upstream and not had
/// answered before hotcache stops reading from it: while Redis is slow or
/// stopped, a client pipelining large writes would otherwise pile them up in
/// hotcache's memory without bound (a stopped Redis takes nothing; the
/// client's socket fills instead, as it would in front of Redis itself).
const MAX_UPSTREAM_BYTES: usize = 64 << 20;

/// Input a client gets handled in one turn before the thread's other clients
/// get theirs (Redis reads 16 KB of a client per event, `PROTO_IOBUF_LEN`). A
/// turn lasts until the client's task waits for something or gives way, over
/// as many reads as the socket has ready: without this a client that keeps
/// its socket full runs 128 reads (tokio's budget) before the thread even
/// looks at its other sockets. A command larger than this is still handled
/// whole.
const TURN_INPUT: usize = 16 * 1024;

pub(super) struct Conn {
    pub ctx: Rc<ThreadCtx>,
    /// Before `stream`: fields drop in order, so the client leaves the registry
    /// before its socket closes, and a client that saw the close (after QUIT,
    /// say) finds it gone from CLIENT LIST, as with Redis.
    pub reg: Registration,
    pub stream: ClientStream,
    pub rbuf: BytesMut,
    pub parser: RequestParser,
    pub proto: Proto,
    pub authed: bool,
    /// Who the client's commands run as at Redis (see `upstream::users`).
    pub who: Identity,
    pub pending: VecDeque<Pending>,
    pub out: OutBuf,
    pub dedicated: Option<Dedicated>,
    pub relay: Option<Relay>,
    /// Frames from the client's own upstream connection that answer no request:
    /// RESP3 pushes, and everything while relayed.
    pub sink: Option<mpsc::UnboundedReceiver<crate::upstream::Relayed>>,
    /// What the client is owed and has not read, against its output buffer
    /// limit; shared with whoever produces its replies on this thread.
    pub owed: Rc<Owed>,
    /// Commands on the shared lane not yet answered.
    pub shared_inflight: usize,
    /// Bytes of the requests sent upstream (shared or dedicated lane) not yet
    /// answered (see `MAX_UPSTREAM_BYTES`).
    pub upstream_bytes: usize,
    /// The size of the request being dispatched, taken by the first reply
    /// it queues from upstream.
    pub req_bytes: usize,
    /// Reads waiting on another client's singleflight read.
    pub foreign_inflight: usize,
    /// The shared connection this client's latest new request went on.
    pub shared_conn: Option<Rc<crate::upstream::PipeConn>>,
    /// A command that must wait until earlier replies are in (a lane change).
    pub stalled: Option<Request>,
    pub reply_mode: ReplyMode,
    /// No more input is read or parsed (QUIT, protocol error, CLIENT KILL of
    /// itself); the connection closes once its replies are out.
    pub closing: bool,
    /// Shutdown: nothing more is read from the socket, but what was read is
    /// still answered before the connection closes.
    pub draining: bool,
    /// Input was read since the tracking socket was last synced: before a hit is
    /// served, invalidations that arrived before that input must be applied.
    pub need_sync: NeedSync,
    /// Input handled since the client last waited or gave way.
    pub turn_input: usize,
    /// The turn reached `TURN_INPUT`: the client gives way to the thread's
    /// other clients before it goes on (at once, without waiting, if input is
    /// left).
    pub turn_over: bool,
    /// A SCRIPT KILL (or another command sent on a connection of its own,
    /// `Route::Alone`) is on its way: the next waits for its answer, so a
    /// pipeline of them opens one upstream connection at a time, not one each.
    pub alone_busy: Rc<std::cell::Cell<bool>>,
    /// NOLOOP: the keys the command being dispatched noted as its own writes
    /// (see `Tracking::own_writes`), taken by its place in the reply queue.
    pub own_noted: Option<Box<[Box<[u8]>]>>,
    /// NOLOOP: the keys the writes queued in the open MULTI noted, handed to
    /// EXEC's place in the reply queue.
    pub own_noted_tx: Vec<Box<[u8]>>,
    /// The keys read by commands queued in the open MULTI, remembered for
    /// tracking when EXEC runs them.
    pub track_tx: Vec<Box<[u8]>>,
    /// What `track_tx` holds, counted as `tracking::cmd` caps it.
    pub track_tx_bytes: usize,
    /// Keys the command being dispatched read while hotcache's tracking
    /// stream is down, taken by its place in the reply queue.
    pub unsure: Option<Box<[Box<[u8]>]>>,
    /// What the last socket read implies for the tracking check.
    pub last_read: NeedSync,
    /// The time of the current batch of input (one clock read per batch).
    pub now: std::time::Instant,
    /// `now` was read for the input being dispatched right now.
    pub now_fresh: bool,
    /// Picks this client's shared connection among `upstream-connections`.
    pub affinity: usize,
    pub config: Rc<Config>,
    /// The db of the upstream URL: SELECT of it needs no dedicated connection.
    pub home_db: i64,
    /// hotcache's settings to add to each CONFIG GET reply in flight, in order.
    pub config_appends: VecDeque<Vec<(String, String)>>,
    /// Whether the command being dispatched may be retried (set by dispatch).
    pub retry_kind: RetryKind,
    /// The command being dispatched may hold Redis for long (set by dispatch).
    pub long: bool,
    /// Its cost grows with the data (`Command::slow`, set by dispatch).
    pub slow: bool,
    /// Where the command being dispatched goes (its cluster slot; set by dispatch).
    pub dest: crate::upstream::Dest,
    /// A MULTI not yet sent: with a cluster, its node is the one of the first
    /// command with keys queued in it.
    pub cluster_multi: Option<HeldMulti>,
    /// The cluster routing its requests in flight were sent under: a request
    /// routed differently waits for them (else a write redirected from the old
    /// node could land after a newer one sent straight to the new node).
    pub route_epoch: u64,
    /// Queued own commands of each EXEC in flight, in order.
    pub exec_splices: VecDeque<Vec<QueuedLocal>>,
    /// Set while queued own commands run at EXEC: they run now, whatever is in
    /// flight.
    pub splicing: bool,
    /// The command being dispatched: its queue entries take this mark.
    pub mark: crate::metrics::Mark,
    /// The time replies drained now count as queued at (one clock read per
    /// drain, taken at the first reply).
    pub drained_at: Option<std::time::Instant>,
    /// Cache hits written straight to the output (no queue entry): their
    /// latency is recorded at the next drain, with its clock read.
    pub direct: Vec<crate::metrics::Mark>,
    /// Fired by CLIENT KILL and at shutdown.
    pub signal: Rc<super::signal::Signal>,
    _signal_registration: super::signal::Registered,
}

/// Who a new client is at Redis: with hotcache's own `requirepass` (or the
/// embedded origin) every client acts as hotcache's upstream identity; without,
/// a client is the Redis user it logs in as, Redis's `default` until it does.
pub(super) fn first_identity(config: &Config) -> Identity {
    if config.clients_are_redis_users() { Identity::User(None) } else { Identity::Own }
}

/// Answers a client that cannot be served (maxclients) and closes it.
pub(super) async fn refuse(stream: ClientStream, reply: &[u8]) {
    stream.refuse(reply).await;
}

/// Serves one client until it leaves, is killed, or the server stops.
pub(super) async fn serve(ctx: &Rc<ThreadCtx>, stream: ClientStream, reg: Registration) {
    let config = ctx.config();
    let home_db = match &config.upstream {
        crate::config::Upstream::Redis { db, .. } => i64::from(*db),
        crate::config::Upstream::Embedded => i64::from(config.sentinel.db),
    };
    let affinity = reg.info.id as usize;
    let (signal, signal_registration) = super::signal::register(reg.info.id);
    let authed = config.requirepass.is_empty();
    let who = first_identity(&config);
    let mut conn = Conn {
        ctx: ctx.clone(),
        stream,
        reg,
        rbuf: BytesMut::new(),
        parser: RequestParser::new(),
        proto: Proto::Resp2,
        authed,
        who,
        pending: VecDeque::new(),
        out: OutBuf::default(),
        dedicated: None,
        relay: None,
        sink: None,
        owed: Owed::new(config.client_output_buffer_limit.normal),
        shared_inflight: 0,
        upstream_bytes: 0,
        req_bytes: 0,
        foreign_inflight: 0,
        shared_conn: None,
        stalled: None,
        alone_busy: Rc::default(),
        own_noted: None,
        own_noted_tx: Vec::new(),
        track_tx: Vec::new(),
        track_tx_bytes: 0,
        unsure: None,
        reply_mode: ReplyMode::On,
        closing: false,
        draining: false,
        need_sync: NeedSync::Full,
        turn_input: 0,
        turn_over: false,
        last_read: NeedSync::Full,
        now: std::time::Instant::now(),
        now_fresh: false,
        affinity,
        config,
        home_db,
        exec_splices: VecDeque::new(),
        retry_kind: RetryKind::No,
        long: false,
        slow: false,
        dest: crate::upstream::Dest::default(),
        cluster_multi: None,
        route_epoch: 0,
        config_appends: VecDeque::new(),
        splicing: false,
        mark: crate::metrics::Mark::new(std::time::Instant::now()),
        drained_at: None,
        direct: Vec::new(),
        signal,
        _signal_registration: signal_registration,
    };
    conn.info().db.store(home_db, Relaxed);
    conn.run().await;
    conn.teardown();
}

/// What woke the connection up.
enum Wake {
    /// Killed, or the server is stopping: the loop checks which.
    Signal,
    Reply(ReplySlot),
    Readable,
    Writable,
    Relayed(Option<crate::upstream::Relayed>),
    Idle,
}

impl Conn {
    pub fn info(&self) -> &Arc<ClientInfo> {
        &self.reg.info
    }

    async fn run(&mut self) {
        loop {
            if self.info().killed.load(Relaxed) {
                return;
            }
            if self.ctx.stopping.get() && !self.draining {
                self.finish_for_shutdown();
            }
            self.owed.set_limit(self.output_limit());
            self.take_pushes();
            self.drain_ready();
            if !self.closing {
                self.process_input();
                self.drain_ready();
            }
            if !self.flush() {
                return;
            }
            // Checked here too, not only as replies are queued: a soft limit's
            // seconds run out while nothing new is queued.
            if self.owed.exceeded() {
                inc(&self.ctx.counters().client_output_limit_disconnections);
                crate::log_limited!(
                    warn,
                    client = self.info().id,
                    "closing client over the output buffer limit"
                );
                return;
            }
            // (Input left over from a turn is still to be answered: at
            // shutdown, everything read before the signal is.)
            let done = self.pending.is_empty()
                && self.out.is_empty()
                && self.stalled.is_none()
                && !self.turn_over;
            if (self.closing || self.draining) && done {
                if self.draining && !self.closing {
                    Box::pin(self.linger()).await;
                }
                return;
            }
            if std::mem::take(&mut self.turn_over) {
                self.turn_input = 0;
                // Back after every other client on this thread that is ready,
                // and after the runtime polled the sockets for more of them.
                tokio::task::yield_now().await;
                continue;
            }
            match self.wait().await {
                Wake::Idle => return,
                Wake::Signal => {}
                Wake::Reply(ReplySlot::Retry(_)) => self.resend_head(),
                Wake::Reply(slot) => {
                    if let Some(head) = self.pending.front_mut() {
                        head.slot = slot;
                    }
                }
                Wake::Readable => {
                    if !self.read() {
                        return;
                    }
                }
                Wake::Writable => {}
                Wake::Relayed(Some(frame)) => self.relayed(frame),
                Wake::Relayed(None) => {
                    self.sink = None;
                    if self.relay.take().is_some() {
                        self.info().set_upstream(None);
                        // The relayed upstream connection ended (QUIT, or it failed).
                        self.closing = true;
                    }
                }
            }
        }
    }

    /// At shutdown: takes in what the client already sent, answers it, and closes.
    fn finish_for_shutdown(&mut self) {
        self.draining = true;
        // Everything the client sent before the signal, read from the socket
        // itself: the runtime may not have seen its readiness yet (a read
        // through it would then not even try), and a socket closed with input
        // left unread is reset, losing the replies still owed. Bounded by the
        // query buffer limit.
        let n = self.stream.read_now(&mut self.rbuf, self.config.client_query_buffer_limit.0);
        if n > 0 {
            crate::stats::add(&self.ctx.counters().total_net_input_bytes, n as u64);
            self.need_sync = NeedSync::Full;
        }
        self.info().qbuf.store(self.rbuf.len(), Relaxed);
    }

    /// At shutdown, once the last reply is written: FIN, then whatever the
    /// client still sends is read and dropped until it closes (500 ms at
    /// most); see `ClientStream::linger`.
    async fn linger(&mut self) {
        self.stream.linger().await;
    }

    /// Parses and dispatches every whole command in the read buffer, unless a
    /// command has to wait for earlier replies first.
    fn process_input(&mut self) {
        self.config = self.ctx.config();
        if self.stalled.is_none() && self.rbuf.is_empty() {
            // Woken by a reply, with no input: no clock read, nothing to parse.
            return;
        }
        self.now = std::time::Instant::now();
        self.now_fresh = true;
        // A tracking client hears of every change that reached hotcache before
        // this input, before anything of the input is answered (a write Redis
        // ran before the client sent this was invalidated before; its reply
        // and its invalidation then keep Redis's order).
        // (A read of the tracking sockets themselves, not only of what the
        // reactor marked: Redis writes a change's invalidation just after the
        // reply that may have prompted this input.)
        if self.ctx.tracking.with(self.info().id, |s| s.on) == Some(true) {
            self.ctx.trackers.sync(true);
            self.take_pushes();
        }
        if self.who == Identity::User(None) {
            self.authed = self.default_authed();
        }
        self.parse_and_dispatch();
        self.now_fresh = false;
    }

    /// Whether a client that has not logged in may run commands: with
    /// hotcache's own `requirepass`, only if it is empty; with Redis users,
    /// only if Redis lets its `default` user in without a password.
    pub(in crate::server) fn default_authed(&self) -> bool {
        if self.config.clients_are_redis_users() {
            self.ctx.upstream.acl().default_open()
        } else {
            self.config.requirepass.is_empty()
        }
    }

    /// True while the client is blocked in a command (BLPOP ...): as Redis,
    /// nothing more of its input runs until that command is answered; what
    /// it sends meanwhile is read into its query buffer, under its limit
    /// (rather than answered into replies piling up behind the blocked one),
    /// and a client that leaves is seen leaving.
    fn blocked(&mut self) -> bool {
        match &mut self.dedicated {
            Some(d) if d.blocked => {
                if d.inflight == 0 {
                    d.blocked = false;
                }
                d.blocked
            }
            _ => false,
        }
    }

    /// The time a request sent now counts as sent at: the batch's clock read
    /// while its input is being dispatched, else a fresh one.
    pub fn send_time(&self) -> std::time::Instant {
        if self.now_fresh { self.now } else { std::time::Instant::now() }
    }

    fn parse_and_dispatch(&mut self) {
        if let Some(req) = self.stalled.take()
            && !self.dispatch(req)
        {
            return;
        }
        let limits = RequestLimits {
            max_bulk_len: self.config.proto_max_bulk_len.0 as i64,
            max_query_buffer: usize::try_from(self.config.client_query_buffer_limit.0)
                .unwrap_or(usize::MAX),
        };
        let start = self.rbuf.len();
        while !self.closing
            && self.stalled.is_none()
            && self.pending.len() < MAX_PENDING
            && !self.upstream_full()
            && !self.owed.is_over()
            && !self.blocked()
        {
            if self.turn_input + start.saturating_sub(self.rbuf.len()) >= TURN_INPUT {
                self.turn_over = true;
                break;
            }
            if self.fast_get_hit() {
                continue;
            }
            match self.parser.parse(&mut self.rbuf, &limits, !self.authed) {
                ParseOutcome::Command(req) => {
                    self.info().touch(self.now);
                    inc(&self.ctx.counters().total_commands_processed);
                    if !self.dispatch(req) {
                        break;
                    }
                }
                ParseOutcome::Incomplete => break,
                ParseOutcome::Error(e) => {
                    inc(&self.ctx.counters().protocol_errors);
                    // Not a command: its error counts in no command's stats.
                    self.mark = crate::metrics::Mark::new(self.now);
                    crate::log_limited!(debug, client = self.info().id, error = %e, "protocol error");
                    self.push_local(Bytes::from(e.reply()), Effect::Close);
                    self.closing = true;
                    break;
                }
            }
        }
        self.turn_input += start.saturating_sub(self.rbuf.len());
        self.info().qbuf.store(self.rbuf.len(), Relaxed);
    }

    /// `MAX_UPSTREAM_BYTES` of the client's requests wait upstream: those
    /// not answered yet, or, relayed (its replies are not matched to its
    /// requests), those not yet written to Redis.
    fn upstream_full(&self) -> bool {
        self.upstream_bytes >= MAX_UPSTREAM_BYTES
            || self.relay.as_ref().is_some_and(|r| r.conn.unwritten() >= MAX_UPSTREAM_BYTES)
    }

    /// The output buffer limits of the client's class (Redis's `getClientType`:
    /// subscribers are pubsub, MONITOR and everyone else normal).
    fn output_limit(&self) -> crate::config::ClassLimit {
        let limits = &self.config.client_output_buffer_limit;
        if self.relay.as_ref().is_some_and(|r| r.pubsub) { limits.pubsub } else { limits.normal }
    }

    /// Closes what the client held.
    fn teardown(&mut self) {
        self.ctx.tracking.forget(self.info().id);
        if let Some(d) = self.dedicated.take() {
            // A client gone mid-transaction or mid-block leaves state: close it.
            let clean = d.inflight == 0
                && !d.in_multi
                && !d.watching
                && !d.tracking
                && d.db == self.home_db
                && !d.relogged
                && self.info().upstream_reusable();
            self.ctx.upstream.release(d.link, clean);
        }
        if let Some(r) = self.relay.take() {
            r.conn.close();
        }
    }
}
