//! The command corpus: what is sent to Redis and to hotcache, and how each reply
//! is compared.
//!
//! Every step is deterministic on a freshly flushed server, unless its check says
//! otherwise: replies whose order Redis leaves to a hash table with a per-process
//! random seed (members of hashtable-encoded sets and hashes, KEYS) are compared
//! sorted; replies that carry a clock, an id or a process's own numbers are
//! compared with those parts masked, and each such check says why.

mod collections;
mod connection;
mod server;
mod streams;
mod strings;

use collections::{hashes, lists, sets, sorted_sets};
use connection::{client_state, connection, databases, inline, transactions};
use hotcache::protocol::split_args;
use server::{errors, scripting, server};
use streams::{bitmaps_and_hll, geo, streams};
use strings::{keyspace, many, strings, values};

use crate::common::encode;

/// How the replies of one step are compared.
#[derive(Clone, Copy, Debug)]
pub enum Check {
    /// Byte for byte.
    Exact,
    /// As a multiset of top-level elements: the order comes from a hash table
    /// whose seed is random per process, so two servers differ.
    Unordered,
    /// As a multiset of field/value pairs (HGETALL of a hashtable-encoded hash).
    UnorderedPairs,
    /// An integer within this tolerance (TTL, PTTL, idle times: the two servers
    /// run the command at slightly different moments). Non-integers: exact.
    Near(i64),
    /// The values after these field names are masked (idle times in XINFO).
    Mask(&'static [&'static str]),
    /// The aggregates after these field names are compared sorted (FUNCTION
    /// LIST's functions of a library live in a hash table).
    SortFields(&'static [&'static str]),
    /// COMMAND and COMMAND INFO: commands and subcommands live in hash tables.
    CommandTable,
    /// Integers that are Unix times in milliseconds are masked (XINFO STREAM
    /// FULL's delivery and seen times: each server delivered at its own moment).
    Timestamps,
    /// Only the XPENDING extended form: the idle time (third element of each
    /// entry) is masked.
    XpendingIdle,
    /// HELLO: same fields in the same order and same values, except `server`
    /// (redis vs hotcache) and `id` (each server numbers its own clients).
    Hello,
    /// INFO text: same sections and fields; values only where they describe the
    /// build and configuration rather than a process, a clock or a counter.
    Info,
    /// CLIENT INFO / CLIENT LIST lines: same fields, same values for the
    /// connection state (name, db, flags, multi, cmd, resp, ...); addresses, ids,
    /// ages and buffer sizes are the process's own.
    ClientLines,
    /// Any integer (CLIENT ID: each server numbers its clients).
    AnyInt,
    /// TIME: two integers, seconds within a few of each other.
    Time,
}

/// One unit of the corpus: bytes to send and how many replies they produce.
#[derive(Clone, Debug)]
pub struct Step {
    pub label: String,
    pub bytes: Vec<u8>,
    pub replies: usize,
    pub check: Check,
}

/// DUMP payloads taken from the reference Redis before the runs, so that the
/// corpus stays a fixed byte sequence (needed to pipeline it).
pub struct Dumps {
    pub string: Vec<u8>,
    pub list: Vec<u8>,
}

#[derive(Default)]
pub(crate) struct Builder {
    steps: Vec<Step>,
}

pub(crate) fn label_of(args: &[Vec<u8>]) -> String {
    let mut s = String::new();
    for a in args {
        if !s.is_empty() {
            s.push(' ');
        }
        if a.len() > 40 {
            s.push_str(&format!("<{} bytes>", a.len()));
        } else {
            s.push_str(&String::from_utf8_lossy(a).escape_debug().to_string());
        }
        if s.len() > 200 {
            s.push_str(" ...");
            break;
        }
    }
    s
}

impl Builder {
    /// A command written as a redis-cli style line (quotes and `\x` escapes).
    pub(crate) fn c(&mut self, line: &str) {
        self.ck(line, Check::Exact);
    }

    pub(crate) fn ck(&mut self, line: &str, check: Check) {
        let args = split_args(line.as_bytes()).expect("corpus line with balanced quotes");
        self.args_ck(args, check);
    }

    /// Several lines, one command each.
    pub(crate) fn lines(&mut self, text: &str) {
        for l in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            self.c(l);
        }
    }

    pub(crate) fn args<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        let args = args.iter().map(|a| a.as_ref().to_vec()).collect();
        self.args_ck(args, Check::Exact);
    }

    pub(crate) fn args_ck(&mut self, args: Vec<Vec<u8>>, check: Check) {
        self.steps.push(Step { label: label_of(&args), bytes: encode(&args), replies: 1, check });
    }

    /// Bytes sent as they are (inline commands, several commands in one write).
    pub(crate) fn raw(&mut self, label: &str, bytes: &[u8], replies: usize) {
        self.steps.push(Step {
            label: label.to_string(),
            bytes: bytes.to_vec(),
            replies,
            check: Check::Exact,
        });
    }
}

/// The corpus for a client speaking RESP `proto` (2 or 3). The HELLO that
/// switches to RESP3 is not part of it (the runner sends it first).
pub fn build(proto: u8, dumps: &Dumps) -> Vec<Step> {
    let mut b = Builder::default();
    // Functions and scripts outlive FLUSHALL: reset them too.
    b.lines("FLUSHALL\nSCRIPT FLUSH\nFUNCTION FLUSH\nDBSIZE");
    connection(&mut b, proto);
    strings(&mut b);
    values(&mut b);
    many(&mut b);
    keyspace(&mut b, dumps);
    hashes(&mut b);
    lists(&mut b);
    sets(&mut b);
    sorted_sets(&mut b);
    streams(&mut b);
    bitmaps_and_hll(&mut b);
    geo(&mut b);
    scripting(&mut b);
    transactions(&mut b);
    databases(&mut b);
    server(&mut b);
    errors(&mut b);
    inline(&mut b);
    client_state(&mut b, proto);
    b.steps
}

/// The sections about data (every data type, transactions, errors) and nothing
/// about the connection or the server process: the part of the corpus that a
/// Redis Cluster can answer like one server once the keys of each multi-key
/// command share a slot (`tests/it/cluster/corpus.rs` rewrites them so). The
/// server process's own sections (INFO, CLIENT LIST, CONFIG, scripts kept per
/// node, databases) and inline and CLIENT REPLY steps are left out.
pub(crate) fn data_sections(b: &mut Builder, dumps: &Dumps) {
    strings(b);
    values(b);
    many(b);
    keyspace(b, dumps);
    hashes(b);
    lists(b);
    sets(b);
    sorted_sets(b);
    streams(b);
    bitmaps_and_hll(b);
    geo(b);
    transactions(b);
    errors(b);
}

impl Builder {
    /// The steps built so far.
    pub(crate) fn into_steps(self) -> Vec<Step> {
        self.steps
    }
}
