//! Client command latency: from the moment a command was read and parsed to the
//! moment its reply was queued for the client, per command (INFO latencystats
//! and commandstats, as Redis 7 keeps them) and per class of command (the
//! Prometheus histograms).
//!
//! One [`ShardLatency`] per shard thread, written by that thread only (see
//! [`super::hist`]): recording takes no lock and touches no other thread's cache
//! lines. A command's histogram is allocated the first time the thread sees the
//! command, so memory is bounded by the command table.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use super::hist::{Histogram, Snapshot};

/// What a command does, for the coarse histograms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Flagged read-only in the command table.
    Read,
    /// Flagged write.
    Write,
    /// Everything else (connection, admin, hotcache's own, unknown).
    Other,
}

/// Who answered a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A cached reply.
    Cache,
    /// Redis (or the embedded origin), through an upstream connection.
    Upstream,
    /// hotcache itself (PING, INFO, CONFIG, errors it gives before forwarding).
    Local,
}

impl Class {
    pub const ALL: [Class; 3] = [Class::Read, Class::Write, Class::Other];
    pub fn name(self) -> &'static str {
        match self {
            Class::Read => "read",
            Class::Write => "write",
            Class::Other => "other",
        }
    }
}

impl Source {
    pub const ALL: [Source; 3] = [Source::Cache, Source::Upstream, Source::Local];
    pub fn name(self) -> &'static str {
        match self {
            Source::Cache => "cache",
            Source::Upstream => "upstream",
            Source::Local => "local",
        }
    }
}

fn class_index(class: Class, source: Source) -> usize {
    class as usize * 3 + source as usize
}

/// No command-table entry (a command the table does not know).
pub const NO_COMMAND: u16 = u16::MAX;

/// What a reply queue entry remembers of its command, to record its latency
/// when the reply is queued.
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    /// When the command's input was read (the batch it came in).
    pub started: Instant,
    /// Its command table id, or [`NO_COMMAND`].
    pub cmd: u16,
    pub class: Class,
    pub source: Source,
    /// Refused before it ran (arity, NOAUTH ...): Redis's `rejected_calls`.
    pub rejected: bool,
}

impl Mark {
    pub fn new(started: Instant) -> Self {
        Self {
            started,
            cmd: NO_COMMAND,
            class: Class::Other,
            source: Source::Local,
            rejected: false,
        }
    }
}

/// One command's statistics on one thread.
#[derive(Debug, Default)]
pub struct CommandStats {
    /// Calls that ran (Redis's `calls`), and their total latency.
    pub calls: AtomicU64,
    pub sum_ns: AtomicU64,
    /// Refused before running, and ran but answered an error.
    pub rejected: AtomicU64,
    pub failed: AtomicU64,
    /// Latency distribution (only while `latency-tracking` is on).
    pub hist: Histogram,
}

#[inline]
fn bump(a: &AtomicU64, n: u64) {
    // Single writer: see `hist`.
    a.store(a.load(Relaxed).wrapping_add(n), Relaxed);
}

/// One shard thread's latency statistics.
#[derive(Debug)]
pub struct ShardLatency {
    commands: Box<[OnceLock<Box<CommandStats>>]>,
    classes: Box<[Histogram]>,
}

impl ShardLatency {
    /// Room for `commands` command-table entries.
    pub fn new(commands: usize) -> Self {
        Self {
            commands: (0..commands).map(|_| OnceLock::new()).collect(),
            classes: (0..9).map(|_| Histogram::default()).collect(),
        }
    }

    /// Records one command whose reply was just queued (owning thread only).
    /// `tracking`: `latency-tracking`, whether the per-command histogram is kept.
    #[inline]
    pub fn record(&self, mark: &Mark, ns: u64, error: bool, tracking: bool) {
        self.classes[class_index(mark.class, mark.source)].record(ns);
        let Some(slot) = self.commands.get(usize::from(mark.cmd)) else { return };
        let stats = slot.get_or_init(Box::default);
        if mark.rejected && error {
            bump(&stats.rejected, 1);
            return;
        }
        bump(&stats.calls, 1);
        bump(&stats.sum_ns, ns);
        if error {
            bump(&stats.failed, 1);
        }
        if tracking {
            stats.hist.record(ns);
        }
    }

    /// Zeroes everything (owning thread only).
    pub fn reset(&self) {
        for c in self.commands.iter().filter_map(|c| c.get()) {
            for a in [&c.calls, &c.sum_ns, &c.rejected, &c.failed] {
                a.store(0, Relaxed);
            }
            c.hist.reset();
        }
        for h in self.classes.iter() {
            h.reset();
        }
    }
}

/// One command's statistics summed over threads.
#[derive(Debug, Default)]
pub struct CommandTotals {
    pub calls: u64,
    pub sum_ns: u64,
    pub rejected: u64,
    pub failed: u64,
    pub hist: Snapshot,
}

/// Every command some thread has seen, by command id, summed over threads.
pub fn commands(shards: &[ShardLatency]) -> Vec<(u16, CommandTotals)> {
    let n = shards.first().map_or(0, |s| s.commands.len());
    let mut out = Vec::new();
    for id in 0..n {
        let mut t = CommandTotals::default();
        let mut seen = false;
        for s in shards {
            if let Some(c) = s.commands[id].get() {
                seen = true;
                t.calls += c.calls.load(Relaxed);
                t.sum_ns += c.sum_ns.load(Relaxed);
                t.rejected += c.rejected.load(Relaxed);
                t.failed += c.failed.load(Relaxed);
                c.hist.add_to(&mut t.hist);
            }
        }
        if seen && (t.calls > 0 || t.rejected > 0) {
            out.push((id as u16, t));
        }
    }
    out
}

/// Each class's histogram summed over threads.
pub fn classes(shards: &[ShardLatency]) -> Vec<(Class, Source, Snapshot)> {
    let mut out = Vec::new();
    for class in Class::ALL {
        for source in Source::ALL {
            let mut snap = Snapshot::default();
            for s in shards {
                s.classes[class_index(class, source)].add_to(&mut snap);
            }
            out.push((class, source, snap));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_calls_errors_and_rejections() {
        let shards = vec![ShardLatency::new(4), ShardLatency::new(4)];
        let mut m = Mark::new(Instant::now());
        m.cmd = 2;
        m.class = Class::Read;
        m.source = Source::Cache;
        shards[0].record(&m, 1000, false, true);
        shards[1].record(&m, 3000, true, true);
        m.rejected = true;
        shards[1].record(&m, 10, true, true);
        let c = commands(&shards);
        assert_eq!(c.len(), 1);
        let (id, t) = &c[0];
        assert_eq!((*id, t.calls, t.sum_ns, t.failed, t.rejected), (2, 2, 4000, 1, 1));
        assert_eq!(t.hist.count, 2);
        let read_cache = classes(&shards)
            .into_iter()
            .find(|(c, s, _)| *c == Class::Read && *s == Source::Cache)
            .map(|(_, _, s)| s.count);
        assert_eq!(read_cache, Some(3));
        for s in &shards {
            s.reset();
        }
        assert!(commands(&shards).is_empty());
        // Unknown commands count in their class only.
        let m = Mark::new(Instant::now());
        shards[0].record(&m, 5, false, true);
        assert!(commands(&shards).is_empty());
    }
}
