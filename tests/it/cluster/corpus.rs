//! The corpus for a cluster upstream.
//!
//! * [`build`]: the data sections of the standalone corpus
//!   (`differential/corpus.rs`: strings, values, many keys, keyspace, hashes,
//!   lists, sets, sorted sets, streams, bitmaps, HyperLogLog, geo, MULTI/EXEC,
//!   errors of every kind) with every key moved into a slot of its own group
//!   ([`tag_key`]: `si:1` becomes `{si}si:1`), so that the keys one command
//!   names share a slot, while the groups spread over the masters; then a
//!   cluster-only section (scripts with keys in one slot, cluster-mode errors,
//!   cluster-wide DBSIZE / KEYS / FLUSHDB).
//!   Compared: the reference [`ClusterClient`](crate::cluster_common::ClusterClient)
//!   on one cluster against hotcache in front of another.
//! * [`cross_slot_split`]: MGET/MSET/DEL/UNLINK/EXISTS/TOUCH with keys on every
//!   master. Compared: one standalone Redis against hotcache in front of a
//!   cluster, which splits them by slot.
//! * [`cross_slot_refused`]: commands that cannot be split, with keys in
//!   several slots; each must answer exactly [`CROSSSLOT`].

use bytes::BytesMut;
use hotcache::protocol::{ParseOutcome, RequestLimits, RequestParser};

use crate::cluster_common::{key_indexes, key_slot, keys_of};
use crate::common::encode;
use crate::differential::corpus::{Builder, Check, Dumps, Step, data_sections, label_of};

/// Redis's reply to a command whose keys are in several slots.
pub const CROSSSLOT: &[u8] = b"-CROSSSLOT Keys in request don't hash to the same slot\r\n";

/// Commands hotcache splits by slot instead of refusing across slots.
pub const SPLIT_COMMANDS: &[&str] = &["mget", "mset", "del", "unlink", "exists", "touch"];

/// Splits a step's bytes into its commands' arguments (inline or multibulk).
pub fn commands(bytes: &[u8]) -> Vec<Vec<Vec<u8>>> {
    let mut buf = BytesMut::from(bytes);
    let mut parser = RequestParser::new();
    let mut out = Vec::new();
    while !buf.is_empty() {
        match parser.parse(&mut buf, &RequestLimits::default(), false) {
            ParseOutcome::Command(req) => out.push(req.args.iter().map(|a| a.to_vec()).collect()),
            other => panic!("corpus step that does not parse: {other:?}"),
        }
    }
    out
}

/// The group of a key: its leading word when a `:` follows it (`si` for
/// `si:1`), else `misc`.
fn group(key: &[u8]) -> &[u8] {
    let word = key.iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'_').count();
    if word > 0 && key.get(word) == Some(&b':') { &key[..word] } else { b"misc" }
}

/// `key` with its group as a hash tag in front: `{si}si:1`.
pub fn tag_key(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 8);
    out.push(b'{');
    out.extend_from_slice(group(key));
    out.push(b'}');
    out.extend_from_slice(key);
    out
}

/// A KEYS pattern with a group gets the same tag, so that it still matches the
/// keys it matched (`k:*` becomes `{k}k:*`); `*` and the like stay.
fn tag_pattern(pattern: &[u8]) -> Vec<u8> {
    if group(pattern) == b"misc" { pattern.to_vec() } else { tag_key(pattern) }
}

/// One command with its keys tagged.
fn tag_command(mut args: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    for i in key_indexes(&args) {
        args[i] = tag_key(&args[i]);
    }
    if args.len() == 2 && args[0].eq_ignore_ascii_case(b"KEYS") {
        args[1] = tag_pattern(&args[1]);
    }
    args
}

/// A step with the keys of each of its commands tagged, as multibulk.
fn tag_step(step: Step) -> Step {
    let cmds: Vec<Vec<Vec<u8>>> = commands(&step.bytes).into_iter().map(tag_command).collect();
    let label = if cmds.len() == 1 { label_of(&cmds[0]) } else { step.label };
    Step { label, bytes: cmds.iter().flat_map(|c| encode(c)).collect(), ..step }
}

/// Labels of standalone-corpus steps that cannot give the same reply from two
/// clusters or from a reference client and hotcache, and why.
const LEFT_OUT: &[(&str, &str)] = &[
    // Answered with the node's own epochs and message counters.
    ("CLUSTER INFO", "per node"),
];

/// The cluster corpus: see the module documentation. The HELLO that switches
/// to RESP3 is not part of it (the runner sends it first).
pub fn build(dumps: &Dumps) -> Vec<Step> {
    let mut b = Builder::default();
    b.lines("FLUSHALL\nDBSIZE");
    data_sections(&mut b, dumps);
    let mut steps: Vec<Step> = b
        .into_steps()
        .into_iter()
        .filter(|s| !LEFT_OUT.iter().any(|(label, _)| s.label == *label))
        .map(tag_step)
        .collect();
    let mut b = Builder::default();
    cluster_only(&mut b);
    steps.extend(b.into_steps());
    steps
}

/// What only a cluster has to show: scripts whose keys share a slot, the
/// errors a node gives in cluster mode, and the commands that span the
/// cluster.
fn cluster_only(b: &mut Builder) {
    let eval = |b: &mut Builder, cmd: &str, script: &str, rest: &[&str]| {
        let mut args = vec![cmd.as_bytes().to_vec(), script.as_bytes().to_vec()];
        args.extend(rest.iter().map(|a| a.as_bytes().to_vec()));
        b.args(&args);
    };
    eval(b, "EVAL", "return redis.call('SET', KEYS[1], ARGV[1])", &["1", "{ev}a", "1"]);
    eval(
        b,
        "EVAL",
        "return {redis.call('INCR', KEYS[1]), redis.call('SET', KEYS[2], 'x'), redis.call('MGET', KEYS[1], KEYS[2])}",
        &["2", "{ev}a", "{ev}b"],
    );
    // A key the script did not declare, in the declared key's slot: allowed.
    eval(b, "EVAL", "return redis.call('GET', '{ev}a')", &["1", "{ev}b"]);
    // ... and in another slot: refused by the node.
    eval(b, "EVAL", "return redis.call('GET', 'another-slot')", &["1", "{ev}b"]);
    eval(b, "EVAL", "return redis.call('GET', KEYS[1])", &["1", "{ev}nosuch"]);
    eval(b, "EVAL_RO", "return redis.call('GET', KEYS[1])", &["1", "{ev}a"]);
    eval(b, "EVAL_RO", "return redis.call('DEL', KEYS[1])", &["1", "{ev}a"]);
    b.c("HSET {ev}h f1 v1 f2 v2");
    eval(b, "EVAL", "redis.setresp(3); return redis.call('HGETALL', KEYS[1])", &["1", "{ev}h"]);
    eval(b, "EVAL", "return redis.pcall('LPUSH', KEYS[1], 'x')", &["1", "{ev}h"]);
    // Keyless scripts that touch no key: the same on any node.
    eval(b, "EVAL", "return {1, 2, {3, 'x'}, 'str'}", &["0"]);
    eval(b, "EVAL", "return redis.error_reply('My Error')", &["0"]);
    eval(b, "EVAL", "return {double = 3.5}", &["0"]);
    eval(b, "EVAL", "this is not lua", &["0"]);
    // Scripts on each group's node.
    for key in ["{s}s:ev", "{h}h:ev", "{z}z:ev", "{x}x:ev", "{bit}bit:ev", "{misc}ev"] {
        eval(b, "EVAL", "return redis.call('INCRBY', KEYS[1], ARGV[1])", &["1", key, "5"]);
        eval(b, "EVAL", "return redis.call('GET', KEYS[1])", &["1", key]);
    }
    // What a node refuses in cluster mode.
    b.lines(
        r#"
        SELECT 0
        SELECT 1
        SWAPDB 0 1
        SET {k}k:db v
        MOVE {k}k:db 1
        COPY {k}k:db {k}k:db2 DB 1
        COPY {k}k:db {k}k:db2
        GET {k}k:db2
        "#,
    );
    // The cluster as one keyspace.
    b.c("DBSIZE");
    b.ck("KEYS *", Check::Unordered);
    b.ck("KEYS {k}*", Check::Unordered);
    b.c("FLUSHDB");
    b.c("DBSIZE");
    b.c("KEYS *");
    b.c("FLUSHALL");
    b.c("DBSIZE");
}

/// Names of steps of `steps` whose keys span slots although hotcache would
/// split the command: such a step would differ between the reference client
/// (which gets `-CROSSSLOT`) and hotcache by design.
pub fn split_across_slots(steps: &[Step]) -> Vec<String> {
    let mut out = Vec::new();
    for step in steps {
        for cmd in commands(&step.bytes) {
            let name = String::from_utf8_lossy(&cmd[0]).to_ascii_lowercase();
            let mut slots: Vec<u16> = keys_of(&cmd).iter().map(|k| key_slot(k)).collect();
            slots.dedup();
            if SPLIT_COMMANDS.contains(&name.as_str()) && slots.len() > 1 {
                out.push(step.label.clone());
            }
        }
    }
    out
}

/// Key names without hash tags whose slots are served by different masters of
/// a cluster made by `redis-cli --cluster create` with 3 masters (slots
/// 0-5460, 5461-10922, 10923-16383): `per_master` names for each.
pub fn spread_keys(per_master: usize) -> Vec<String> {
    let mut by_master: [Vec<String>; 3] = Default::default();
    for i in 0.. {
        let key = format!("cs:{i}");
        let m = default_master(key_slot(key.as_bytes()));
        if by_master[m].len() < per_master {
            by_master[m].push(key);
        }
        if by_master.iter().all(|v| v.len() == per_master) {
            break;
        }
    }
    // Interleaved, so that consecutive keys are on different masters.
    (0..per_master).flat_map(|i| by_master.iter().map(move |v| v[i].clone())).collect()
}

/// Which of the 3 masters `redis-cli --cluster create` makes serves `slot`.
pub fn default_master(slot: u16) -> usize {
    match slot {
        0..=5460 => 0,
        5461..=10922 => 1,
        _ => 2,
    }
}

/// Multi-key commands hotcache splits by slot, with keys on every master. A
/// standalone Redis gives the replies hotcache must give.
pub fn cross_slot_split() -> Vec<Step> {
    let k = spread_keys(2);
    let (a, b2, c, d, e, f) = (&k[0], &k[1], &k[2], &k[3], &k[4], &k[5]);
    let mut bld = Builder::default();
    let mut line = |s: String| bld.c(&s);
    line(format!("MSET {a} 1 {b2} 2 {c} 3 {d} 4 {e} 5 {f} 6"));
    line(format!("MGET {a} {b2} {c} {d} {e} {f} cs:nosuch"));
    line(format!("MGET {f} {e} {d} {c} {b2} {a}"));
    line(format!("MGET {a} {a} {b2} {a}"));
    line(format!("EXISTS {a} {b2} {c} cs:nosuch {a}"));
    line(format!("TOUCH {a} {c} {e} cs:nosuch {e}"));
    line(format!("SADD {f}:set x"));
    line(format!("MSET {a} 1 {b2}"));
    line(format!("MSET {a} 1 {a} 2 {c} 3"));
    line(format!("MGET {a} {c} {f}:set"));
    line(format!("DEL {a} cs:nosuch {c} {a}"));
    line(format!("MGET {a} {b2} {c} {d}"));
    line(format!("UNLINK {b2} {d} cs:nosuch {f}:set"));
    line(format!("EXISTS {a} {b2} {c} {d} {e} {f} {f}:set"));
    line(format!("DEL {a} {b2} {c} {d}"));
    line(format!("DEL {e} {f}"));
    line(format!("EXISTS {e}"));
    for cmd in ["MGET", "DEL", "EXISTS", "TOUCH", "UNLINK", "MSET"] {
        line(cmd.to_string());
    }
    line(format!("GET {a} {b2}"));
    // Many keys over every slot range, and binary-safe values.
    let keys = spread_keys(400);
    let mut mset = vec![b"MSET".to_vec()];
    for (i, key) in keys.iter().enumerate() {
        mset.push(key.clone().into_bytes());
        mset.push(if i % 7 == 0 { vec![0, b'\r', b'\n', 255] } else { i.to_string().into_bytes() });
    }
    bld.args(&mset);
    let mut mget = vec![b"MGET".to_vec()];
    mget.extend(keys.iter().rev().map(|k| k.clone().into_bytes()));
    mget.push(b"cs:nosuch".to_vec());
    bld.args(&mget);
    let mut exists = vec![b"EXISTS".to_vec()];
    exists.extend(keys.iter().map(|k| k.clone().into_bytes()));
    bld.args(&exists);
    let mut del = vec![b"DEL".to_vec()];
    del.extend(keys.iter().step_by(3).map(|k| k.clone().into_bytes()));
    bld.args(&del);
    bld.args(&exists);
    bld.c("DBSIZE");
    bld.ck("KEYS cs:*", Check::Unordered);
    bld.c("FLUSHALL");
    bld.c("DBSIZE");
    bld.into_steps()
}

/// Commands with keys in several slots that no one can split: each must answer
/// exactly [`CROSSSLOT`].
pub fn cross_slot_refused() -> Vec<Step> {
    let k = spread_keys(1);
    let (a, b2, c) = (&k[0], &k[1], &k[2]);
    let mut bld = Builder::default();
    for line in [
        format!("RENAME {a} {b2}"),
        format!("RENAMENX {a} {b2}"),
        format!("MSETNX {a} 1 {b2} 2"),
        format!("SINTERSTORE {c} {a} {b2}"),
        format!("SINTER {a} {b2}"),
        format!("SUNIONSTORE {a} {a} {b2}"),
        format!("SDIFF {a} {b2} {c}"),
        format!("SMOVE {a} {b2} member"),
        format!("SINTERCARD 2 {a} {b2}"),
        format!("ZUNIONSTORE {c} 2 {a} {b2}"),
        format!("ZINTER 2 {a} {b2}"),
        format!("ZRANGESTORE {a} {b2} 0 -1"),
        format!("LMOVE {a} {b2} LEFT RIGHT"),
        format!("RPOPLPUSH {a} {b2}"),
        format!("BLMOVE {a} {b2} LEFT RIGHT 0.01"),
        format!("BLPOP {a} {b2} 0.01"),
        format!("LMPOP 2 {a} {b2} LEFT"),
        format!("BITOP AND {c} {a} {b2}"),
        format!("PFMERGE {c} {a} {b2}"),
        format!("PFCOUNT {a} {b2}"),
        format!("COPY {a} {b2}"),
        format!("LCS {a} {b2}"),
        format!("XREAD STREAMS {a} {b2} 0 0"),
        format!("GEOSEARCHSTORE {c} {a} FROMLONLAT 0 0 BYRADIUS 1 km"),
        format!("SORT {a} STORE {b2}"),
        format!("EVAL \"return 1\" 2 {a} {b2}"),
        format!("EVAL_RO \"return 1\" 2 {a} {c}"),
        format!("FCALL nosuchfunction 2 {a} {b2}"),
    ] {
        bld.c(&line);
    }
    bld.into_steps()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_tagged_by_group() {
        assert_eq!(tag_key(b"si:1"), b"{si}si:1");
        assert_eq!(tag_key(b"w_a"), b"{misc}w_a");
        assert_eq!(tag_key(b""), b"{misc}");
        assert_eq!(key_slot(&tag_key(b"si:1")), key_slot(&tag_key(b"si:big")));
        let cmd = |s: &str| s.split(' ').map(|a| a.as_bytes().to_vec()).collect::<Vec<_>>();
        assert_eq!(tag_command(cmd("SINTER si:1 si:2")), cmd("SINTER {si}si:1 {si}si:2"));
        assert_eq!(tag_command(cmd("SET s:1 k:1")), cmd("SET {s}s:1 k:1"));
        assert_eq!(tag_command(cmd("KEYS k:*")), cmd("KEYS {k}k:*"));
        assert_eq!(tag_command(cmd("KEYS *")), cmd("KEYS *"));
        assert_eq!(
            tag_command(cmd("EVAL s 2 ev:1 ev:2 arg:1")),
            cmd("EVAL s 2 {ev}ev:1 {ev}ev:2 arg:1")
        );
    }

    /// Every MGET/MSET/DEL/EXISTS/... of the cluster corpus names keys of one
    /// slot, so the reference client and hotcache must agree on it.
    #[test]
    fn cluster_corpus_keeps_split_commands_in_one_slot() {
        let dumps = Dumps { string: b"x".to_vec(), list: b"y".to_vec() };
        let steps = build(&dumps);
        assert!(steps.len() > 1000, "the cluster corpus lost its data sections");
        assert_eq!(split_across_slots(&steps), Vec::<String>::new());
    }

    /// The cross-slot corpora really cross slots, on every master.
    #[test]
    fn cross_slot_corpora_span_masters() {
        let masters = |keys: &[String]| {
            let mut m: Vec<usize> =
                keys.iter().map(|k| default_master(key_slot(k.as_bytes()))).collect();
            m.sort();
            m.dedup();
            m.len()
        };
        assert_eq!(masters(&spread_keys(1)), 3);
        assert!(split_across_slots(&cross_slot_split()).len() >= 10);
        for step in cross_slot_refused() {
            let cmd = &commands(&step.bytes)[0];
            let mut slots: Vec<u16> = keys_of(cmd).iter().map(|k| key_slot(k)).collect();
            slots.sort();
            slots.dedup();
            // SORT ... STORE: the destination is found by SORT's own rule only.
            let sort = cmd[0].eq_ignore_ascii_case(b"SORT");
            assert!(sort || slots.len() > 1, "`{}` names keys of one slot", step.label);
        }
    }
}
