//! Sending a failed request again: a read, or a request that never left
//! hotcache, within `retries` attempts and the retry budget, after a backoff.

use std::time::Duration;

use bytes::Bytes;

use super::{Conn, Lane, ReplySlot, Retry};
use crate::stats::inc;
use crate::upstream::After;

impl Conn {
    /// Lets the request just queued be sent again if its connection fails.
    pub fn set_retry(&mut self, retry: Option<Retry>) {
        if let Some(p) = self.pending.back_mut() {
            p.retry = retry;
        }
    }

    /// Decides whether the failed request at the head is sent again: it must be
    /// a read or never have left hotcache, have attempts left, and the retry
    /// budget must allow it. Sets the head waiting for its retry if so.
    pub(super) fn retry_head(&mut self, unsent: bool, error: &Bytes) -> bool {
        let Some(attempt) = self.pending.front().and_then(|h| h.retry.as_ref()).map(|r| r.attempts)
        else {
            return false;
        };
        if !self.take_retry(0, unsent, error) {
            return false;
        }
        let base = Duration::from_millis(self.config.retry_backoff);
        let wait = self.ctx.retry_budget.backoff(base, attempt);
        if let Some(head) = self.pending.front_mut() {
            head.slot = ReplySlot::Retry(tokio::time::Instant::now() + wait);
        }
        true
    }

    /// Whether the failed request at `index` may be sent again; takes the
    /// attempt and the budget if so.
    fn take_retry(&mut self, index: usize, unsent: bool, error: &Bytes) -> bool {
        let (max, pct) = (self.config.retries, self.config.retry_budget);
        let budget = &self.ctx.retry_budget;
        let Some(p) = self.pending.get_mut(index) else { return false };
        let Some(retry) = &mut p.retry else { return false };
        if !(retry.readonly || unsent) || u64::from(retry.attempts) >= max || !budget.spend(pct) {
            return false;
        }
        retry.attempts += 1;
        retry.error = Some(error.clone());
        true
    }

    /// Sends the head request again (its retry time has come), and with it every
    /// request queued right behind it that failed in the same breakdown: one
    /// backoff for them all, not one each in turn.
    pub(super) fn resend_head(&mut self) {
        self.resend_at(0);
        let mut i = 1;
        while i < self.pending.len() {
            if let ReplySlot::Wait(rx) = &mut self.pending[i].slot
                && let Ok(r) = rx.try_recv()
            {
                self.pending[i].slot = ReplySlot::Arrived(r);
            }
            let failed = match &self.pending[i].slot {
                ReplySlot::Arrived(r) => r.failed.map(|f| (f.unsent, r.frame.clone())),
                ReplySlot::Filled(r) if r.failed => Some((false, r.reply.clone())),
                _ => None,
            };
            let Some((unsent, error)) = failed else { break };
            if !self.take_retry(i, unsent, &error) {
                break;
            }
            inc(&self.ctx.counters().upstream_request_errors);
            self.resend_at(i);
            i += 1;
        }
    }

    /// Sends the request at `index` in the queue again.
    fn resend_at(&mut self, index: usize) {
        let dest = match self.pending.get(index).and_then(|h| h.retry.as_ref()) {
            Some(r) => r.dest,
            None => return,
        };
        let link = self.ctx.upstream.shared_for(&self.who, self.proto, self.affinity, dest);
        let epochs = self.ctx.shared.cache.epochs.clone();
        let Some(head) = self.pending.get_mut(index) else { return };
        let Some(retry) = &head.retry else { return };
        inc(&self.ctx.counters().upstream_retries);
        // A write that never left is sent again; what it wrote is not known here,
        // so everything is invalidated (rare: only after a failure).
        let after = if retry.readonly { After::Nothing } else { After::All };
        if after != After::Nothing {
            after.apply(&epochs);
        }
        head.slot = match link {
            Ok(link) => link.resend(&retry.frame, after, &epochs, &self.owed),
            // No connection to be had (backing off, breaker open): the first
            // failure says more than this one.
            Err(e) => ReplySlot::Ready(retry.error.clone().unwrap_or(e)),
        };
        // A read that joined another client's singleflight is now on this
        // client's own connection.
        if head.lane == Lane::Foreign {
            head.lane = Lane::Shared;
            self.foreign_inflight -= 1;
            self.shared_inflight += 1;
        }
    }
}
