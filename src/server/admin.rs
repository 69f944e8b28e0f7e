//! hotcache's own commands: HOTKEYS, and HOTCACHE.DEBUG for the test suite.

use std::time::Instant;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::Shared;
use super::conn::{Conn, Effect, Lane};
use crate::cache::hot;
use crate::protocol::{ReplyBuf, Request, string2ll};
use crate::upstream::ReplySlot;

/// Keys HOTKEYS returns unless COUNT says otherwise.
const DEFAULT_COUNT: usize = 10;

/// The hottest `count` keys over every shard thread, with their reads per
/// second: each thread lists its own (a job on its inbox), the lists are merged.
/// `here` is the calling shard thread, whose list is taken at once.
pub fn gather_hot_keys(
    shared: &Shared,
    here: Option<usize>,
    count: usize,
) -> impl std::future::Future<Output = Vec<(Vec<u8>, f64)>> + use<> {
    let mut receivers = Vec::new();
    for shard in &shared.shards {
        let (tx, rx) = oneshot::channel();
        let job = move || {
            let top = hot::with(|h| h.top(Instant::now())).unwrap_or_default();
            let _ = tx.send(top);
        };
        if Some(shard.index) == here {
            job();
        } else {
            shard.run(job);
        }
        receivers.push(rx);
    }
    async move {
        let mut lists = Vec::new();
        for rx in receivers {
            // A shard that stopped contributes nothing.
            if let Ok(list) = rx.await {
                lists.push(list);
            }
        }
        hot::merge(lists, count)
    }
}

impl Conn {
    /// HOTKEYS [COUNT n]: the hottest keys over all threads, with their estimated
    /// reads per second, as an array of [key, rate] pairs (the same shape in
    /// RESP2 and RESP3).
    pub(super) fn hotkeys(&mut self, req: &Request) -> bool {
        let args = &req.args;
        let count = match args.len() {
            1 => DEFAULT_COUNT,
            3 if args[1].eq_ignore_ascii_case(b"count") => match string2ll(&args[2]) {
                Some(n) if n > 0 => n as usize,
                _ => return self.reply_error(b"ERR value is not an integer or out of range"),
            },
            _ => return self.reply_error(b"ERR syntax error"),
        };
        let gathered = gather_hot_keys(&self.ctx.shared, Some(self.ctx.shard), count);
        let (tx, rx) = oneshot::channel();
        let proto = self.proto;
        tokio::task::spawn_local(async move {
            let top = gathered.await;
            let mut out = ReplyBuf::new(proto);
            out.array(top.len());
            for (key, rate) in top {
                out.array(2).bulk(&key).int(rate.round() as i64);
            }
            let _ = tx.send(crate::upstream::Reply::ok(out.take()));
        });
        self.push_forwarded(ReplySlot::Wait(rx), Lane::Local, Effect::None);
        true
    }

    /// HOTCACHE.DEBUG HOLDFILL|HELDFILLS|RELEASEFILL key: test hooks (only with
    /// `enable-test-hooks yes`).
    pub(super) fn debug(&mut self, req: &Request) -> bool {
        let hooks = &self.ctx.shared.cache.flights.hooks;
        if !hooks.enabled() {
            return self.reply_error(
                b"ERR HOTCACHE.DEBUG is disabled; start hotcache with --enable-test-hooks yes",
            );
        }
        let args = &req.args;
        if args.len() != 3 {
            return self.reply_error(b"ERR syntax error");
        }
        let key: Bytes = args[2].clone();
        let sub = args[1].to_ascii_lowercase();
        match &sub[..] {
            b"holdfill" => {
                hooks.hold_fills(key);
                self.reply_raw(Bytes::from_static(b"+OK\r\n"))
            }
            b"heldfills" => {
                let n = hooks.held(&key) as i64;
                self.reply_with(|o| {
                    o.int(n);
                })
            }
            b"releasefill" => {
                let n = hooks.release(&key) as i64;
                self.reply_with(|o| {
                    o.int(n);
                })
            }
            _ => self.reply_error(b"ERR unknown subcommand. Try HOLDFILL, HELDFILLS, RELEASEFILL."),
        }
    }
}

/// SLOWLOG HELP, as Redis 7.0 words it.
const SLOWLOG_HELP: &[&str] = &[
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Prints this help.",
];

impl Conn {
    /// SLOWLOG GET [count]: the newest entries of hotcache's log of slow
    /// upstream round trips, in Redis's entry shape.
    pub(super) fn slowlog_get(&mut self, req: &Request) -> bool {
        let args = &req.args;
        let log = &self.ctx.shared.metrics.slowlog;
        let count = match args.len() {
            2 => 10,
            3 => match string2ll(&args[2]) {
                Some(-1) => usize::MAX,
                Some(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
                _ => return self.reply_error(b"ERR count should be greater than or equal to -1"),
            },
            _ => {
                let mut msg = b"ERR unknown subcommand or wrong number of arguments for '".to_vec();
                msg.extend_from_slice(&args[1][..args[1].len().min(128)]);
                msg.extend_from_slice(b"'. Try SLOWLOG HELP.");
                return self.reply_error(&msg);
            }
        };
        let entries = log.get(count);
        self.reply_with(|o| {
            o.array(entries.len());
            for e in &entries {
                o.array(6).int(e.id as i64).int(e.time).int(e.duration_us as i64);
                o.array(e.argv.len());
                for a in &e.argv {
                    o.bulk(a);
                }
                o.bulk(e.addr.as_bytes()).bulk(&e.name);
            }
        })
    }

    pub(super) fn slowlog_help(&mut self) -> bool {
        self.reply_with(|o| {
            o.array(SLOWLOG_HELP.len());
            for line in SLOWLOG_HELP {
                o.simple(line);
            }
        })
    }

    /// CONFIG RESETSTAT: resets hotcache's counters, latency and upstream
    /// statistics on every shard thread (each resets its own: only the owner
    /// writes them), then, with a Redis upstream, forwards the command so that
    /// Redis's own statistics, which INFO shows beside hotcache's, reset too;
    /// the reply is Redis's. SLOWLOG is not touched (SLOWLOG RESET is), as in
    /// Redis.
    pub(super) fn config_resetstat(&mut self, req: Request) -> bool {
        let shared = &self.ctx.shared;
        let mut done = Vec::new();
        for shard in &shared.shards {
            let (tx, rx) = oneshot::channel::<()>();
            let s = shared.clone();
            let index = shard.index;
            let job = move || {
                s.reset_stats_on(index);
                let _ = tx.send(());
            };
            if shard.index == self.ctx.shard {
                job();
            } else {
                shard.run(job);
            }
            done.push(rx);
        }
        let wait_all = async move {
            for rx in done {
                // A stopped shard has nothing left to reset.
                let _ = rx.await;
            }
        };
        if self.ctx.upstream.is_embedded() {
            let (tx, rx) = oneshot::channel();
            tokio::task::spawn_local(async move {
                wait_all.await;
                let _ = tx.send(crate::upstream::Reply::ok(Bytes::from_static(b"+OK\r\n")));
            });
            self.push_forwarded(ReplySlot::Wait(rx), Lane::Local, Effect::None);
            return true;
        }
        let before = self.pending.len();
        if !self.forward(req, Effect::None, crate::upstream::After::Nothing) {
            // Stalled: it runs again, resets included, once it can go.
            return false;
        }
        // Redis's reply is passed on once every thread has reset, so that what
        // the client does next sees the counters at zero.
        if self.pending.len() > before
            && let Some(p) = self.pending.back_mut()
            && let ReplySlot::Wait(_) = &p.slot
        {
            let (tx, rx) = oneshot::channel();
            let ReplySlot::Wait(upstream) = std::mem::replace(&mut p.slot, ReplySlot::Wait(rx))
            else {
                return true;
            };
            tokio::task::spawn_local(async move {
                wait_all.await;
                if let Ok(reply) = upstream.await {
                    let _ = tx.send(reply);
                }
            });
        }
        true
    }
}
