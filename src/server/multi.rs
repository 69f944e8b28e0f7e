//! hotcache's own commands inside MULTI: Redis queues every command and runs it
//! at EXEC, so a CLIENT SETNAME or CLIENT GETNAME queued in a transaction must run
//! then too, in its place, with its reply in EXEC's array. They are queued here
//! (answered `+QUEUED`) and run when EXEC's reply arrives.

use bytes::{Bytes, BytesMut};

use super::conn::{Conn, QueuedLocal, ReplyMode};
use crate::cmd::Local;
use crate::protocol::ReplyFramer;

/// Own commands that run at EXEC rather than going to Redis. PING, ECHO and INFO
/// go to Redis (it answers them the same); QUIT and RESET never queue.
/// HOTKEYS and HOTCACHE.DEBUG go to Redis too, which refuses them as unknown,
/// and so the transaction: their answers are not known at once. CONFIG
/// RESETSTAT goes to Redis alone (hotcache's counters are reset on every
/// thread, which is not done at once either). CLIENT UNBLOCK goes to Redis
/// with its id translated (whether the client is blocked is Redis's to say).
pub fn runs_at_exec(l: Local) -> bool {
    !matches!(
        l,
        Local::Ping
            | Local::Echo
            | Local::Info
            | Local::Quit
            | Local::Reset
            | Local::Hotkeys
            | Local::Debug
            | Local::ConfigGet
            | Local::ConfigSet
            | Local::ConfigResetStat
            | Local::ClientUnblock
    )
}

impl Conn {
    /// Runs the own commands queued with this EXEC and splices their replies into
    /// its array. An EXEC that did not run (null: WATCH fired; error: EXECABORT)
    /// runs none of them, as in Redis.
    pub(super) fn splice_exec(&mut self, frame: Bytes) -> Bytes {
        let locals = self.exec_splices.pop_front().unwrap_or_default();
        if locals.is_empty() || !frame.starts_with(b"*") || frame.starts_with(b"*-1") {
            return frame;
        }
        let Some(nl) = memchr::memchr(b'\n', &frame) else { return frame };
        let mut elements = Vec::new();
        let mut rest = frame.slice(nl + 1..);
        let mut framer = ReplyFramer::new();
        while let Ok(Some((len, _))) = framer.next_frame(&rest) {
            elements.push(rest.slice(..len));
            rest = rest.slice(len..);
        }
        // CLIENT CACHING run here lasts to the end of the transaction, as
        // in Redis, not into the next command.
        let caching = locals.iter().any(|q| q.local == Local::ClientCaching);
        let total = elements.len() + locals.len();
        let mut out = BytesMut::with_capacity(frame.len() + 64 * locals.len());
        out.extend_from_slice(format!("*{total}\r\n").as_bytes());
        let mut from_redis = elements.into_iter();
        let mut locals = locals.into_iter().peekable();
        for position in 0..total {
            if locals.peek().is_some_and(|q| q.position == position) {
                if let Some(q) = locals.next() {
                    out.extend_from_slice(&self.run_now(q));
                }
            } else if let Some(e) = from_redis.next() {
                out.extend_from_slice(&e);
            }
        }
        if caching {
            self.ctx.tracking.command_done(self.info().id);
        }
        out.freeze()
    }

    /// Runs one queued own command at once and returns its reply.
    fn run_now(&mut self, q: QueuedLocal) -> Bytes {
        // Its reply is an element of EXEC's array: neither stalled nor silenced.
        let mode = std::mem::replace(&mut self.reply_mode, ReplyMode::On);
        self.splicing = true;
        let before = self.pending.len();
        let local = q.local;
        self.local(local, q.command, q.req);
        self.splicing = false;
        let mut reply = Bytes::new();
        if self.pending.len() > before
            && let Some(p) = self.pending.pop_back()
            && let crate::upstream::ReplySlot::Ready(b) = p.slot
        {
            reply = b;
        }
        // CLIENT REPLY run inside EXEC changes the mode from here on; anything
        // else leaves it as it was.
        if local != Local::ClientReply {
            self.reply_mode = mode;
        }
        reply
    }
}
