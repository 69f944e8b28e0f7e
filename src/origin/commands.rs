//! The commands the embedded origin implements, and what COMMAND INFO shows for
//! them beyond the command table in [`crate::cmd`].

use bytes::Bytes;

use super::{Ctx, hashes, keyspace, server, strings};

pub(super) type Handler = fn(&mut Ctx<'_>, &[Bytes]);

/// One command the embedded origin implements.
///
/// Name, arity, flags and key specs come from the command table in [`crate::cmd`];
/// what that table does not carry but COMMAND INFO shows (ACL categories, tips, key
/// spec notes) is here, copied from redis-server 7.0.15, for these commands only.
pub(super) struct Impl {
    /// Full lowercase name, as in the command table (`command|info`).
    pub name: &'static str,
    pub run: Handler,
    /// ACL categories, in Redis's order.
    pub acl: &'static [&'static str],
    /// Command tips (`request_policy:...`, `nondeterministic_output`).
    pub tips: &'static [&'static str],
    /// The note on the command's (only) key spec, or "".
    pub notes: &'static str,
}

const fn c(
    name: &'static str,
    run: Handler,
    acl: &'static [&'static str],
    tips: &'static [&'static str],
) -> Impl {
    Impl { name, run, acl, tips, notes: "" }
}

const R_STR_FAST: &[&str] = &["@read", "@string", "@fast"];
const W_STR_FAST: &[&str] = &["@write", "@string", "@fast"];
const W_STR_SLOW: &[&str] = &["@write", "@string", "@slow"];
const K_R_FAST: &[&str] = &["@keyspace", "@read", "@fast"];
const K_W_FAST: &[&str] = &["@keyspace", "@write", "@fast"];
const R_HASH_FAST: &[&str] = &["@read", "@hash", "@fast"];
const R_HASH_SLOW: &[&str] = &["@read", "@hash", "@slow"];
const W_HASH_FAST: &[&str] = &["@write", "@hash", "@fast"];
const CONNECTION: &[&str] = &["@slow", "@connection"];
const MULTI_SUM: &[&str] = &["request_policy:multi_shard", "response_policy:agg_sum"];
const ALL_OK: &[&str] = &["request_policy:all_shards", "response_policy:all_succeeded"];
const UNORDERED: &[&str] = &["nondeterministic_output_order"];
const NONDET: &[&str] = &["nondeterministic_output"];

/// The implemented commands, sorted by name (checked by a test).
pub(super) static COMMANDS: &[Impl] = &[
    c("append", strings::append, W_STR_FAST, &[]),
    c("command", server::command, CONNECTION, UNORDERED),
    c("command|count", server::command_count, CONNECTION, &[]),
    c("command|docs", server::command_docs, CONNECTION, UNORDERED),
    c("command|info", server::command_info, CONNECTION, UNORDERED),
    c(
        "dbsize",
        keyspace::dbsize,
        K_R_FAST,
        &["request_policy:all_shards", "response_policy:agg_sum"],
    ),
    c("decr", strings::decr, W_STR_FAST, &[]),
    c("decrby", strings::decrby, W_STR_FAST, &[]),
    c("del", keyspace::del, &["@keyspace", "@write", "@slow"], MULTI_SUM),
    c("exists", keyspace::exists, K_R_FAST, MULTI_SUM),
    c("expire", keyspace::expire, K_W_FAST, &[]),
    c("expireat", keyspace::expireat, K_W_FAST, &[]),
    c("expiretime", keyspace::expiretime, K_R_FAST, &[]),
    c("flushall", keyspace::flushall, &["@keyspace", "@write", "@slow", "@dangerous"], ALL_OK),
    c("flushdb", keyspace::flushall, &["@keyspace", "@write", "@slow", "@dangerous"], ALL_OK),
    c("get", strings::get, R_STR_FAST, &[]),
    c("getdel", strings::getdel, W_STR_FAST, &[]),
    Impl {
        notes: "RW and UPDATE because it changes the TTL",
        ..c("getex", strings::getex, W_STR_FAST, &[])
    },
    c("hdel", hashes::hdel, W_HASH_FAST, &[]),
    c("hexists", hashes::hexists, R_HASH_FAST, &[]),
    c("hget", hashes::hget, R_HASH_FAST, &[]),
    c("hgetall", hashes::hgetall, R_HASH_SLOW, UNORDERED),
    c("hincrby", hashes::hincrby, W_HASH_FAST, &[]),
    c("hkeys", hashes::hkeys, R_HASH_SLOW, UNORDERED),
    c("hlen", hashes::hlen, R_HASH_FAST, &[]),
    c("hmget", hashes::hmget, R_HASH_FAST, &[]),
    c("hmset", hashes::hmset, W_HASH_FAST, &[]),
    c("hset", hashes::hset, W_HASH_FAST, &[]),
    c("hvals", hashes::hvals, R_HASH_SLOW, UNORDERED),
    c("incr", strings::incr, W_STR_FAST, &[]),
    c("incrby", strings::incrby, W_STR_FAST, &[]),
    c("incrbyfloat", strings::incrbyfloat, W_STR_FAST, &[]),
    c(
        "info",
        server::info,
        &["@slow", "@dangerous"],
        &["nondeterministic_output", "request_policy:all_shards", "response_policy:special"],
    ),
    c(
        "keys",
        keyspace::keys,
        &["@keyspace", "@read", "@slow", "@dangerous"],
        &["request_policy:all_shards", "nondeterministic_output_order"],
    ),
    c("mget", strings::mget, R_STR_FAST, &["request_policy:multi_shard"]),
    c(
        "mset",
        strings::mset,
        W_STR_SLOW,
        &["request_policy:multi_shard", "response_policy:all_succeeded"],
    ),
    c("persist", keyspace::persist, K_W_FAST, &[]),
    c("pexpire", keyspace::pexpire, K_W_FAST, &[]),
    c("pexpireat", keyspace::pexpireat, K_W_FAST, &[]),
    c("pexpiretime", keyspace::pexpiretime, K_R_FAST, &[]),
    c("pttl", keyspace::pttl, K_R_FAST, NONDET),
    c(
        "scan",
        keyspace::scan,
        &["@keyspace", "@read", "@slow"],
        &["nondeterministic_output", "request_policy:special"],
    ),
    c("select", server::select, &["@fast", "@connection"], &[]),
    Impl {
        notes: "RW and ACCESS due to the optional `GET` argument",
        ..c("set", strings::set, W_STR_SLOW, &[])
    },
    c("setnx", strings::setnx, W_STR_FAST, &[]),
    c("strlen", strings::strlen, R_STR_FAST, &[]),
    c("ttl", keyspace::ttl, K_R_FAST, NONDET),
    c("type", keyspace::type_, K_R_FAST, &[]),
    c("unlink", keyspace::del, &["@keyspace", "@write", "@fast"], MULTI_SUM),
];

/// The implementation of the command with this full lowercase name, if any.
pub(super) fn implemented(name: &str) -> Option<&'static Impl> {
    COMMANDS.binary_search_by(|i| i.name.cmp(name)).ok().map(|i| &COMMANDS[i])
}
