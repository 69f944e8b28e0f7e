//! hotcache's own commands: HOTKEYS, and HOTCACHE.DEBUG for the test suite.

use std::time::Instant;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::conn::{Conn, Effect, Lane};
use crate::cache::hot;
use crate::protocol::{ReplyBuf, Request, string2ll};
use crate::upstream::ReplySlot;

/// Keys HOTKEYS returns unless COUNT says otherwise.
const DEFAULT_COUNT: usize = 10;

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
        let mut receivers = Vec::new();
        for shard in &self.ctx.shared.shards {
            let (tx, rx) = oneshot::channel();
            let job = move || {
                let top = hot::with(|h| h.top(Instant::now())).unwrap_or_default();
                let _ = tx.send(top);
            };
            if shard.index == self.ctx.shard {
                job();
            } else {
                shard.run(job);
            }
            receivers.push(rx);
        }
        let (tx, rx) = oneshot::channel();
        let proto = self.proto;
        tokio::task::spawn_local(async move {
            let mut lists = Vec::new();
            for rx in receivers {
                // A shard that stopped contributes nothing.
                if let Ok(list) = rx.await {
                    lists.push(list);
                }
            }
            let top = hot::merge(lists, count);
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
