//! hotcache's part of the command table: how each command is routed, which
//! replies may be cached, what a write invalidates, which commands change the
//! state of the connection they run on, and hotcache's own commands.

use super::{CommandDef, F, flags};

/// Commands hotcache answers itself, with Redis's semantics for its own clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Local {
    Ping,
    Echo,
    Hello,
    Auth,
    Quit,
    Reset,
    Info,
    ClientSetName,
    ClientGetName,
    ClientId,
    ClientInfo,
    ClientList,
    ClientKill,
    /// CLIENT UNBLOCK: hotcache's id, translated to Redis's (see `client_cmd`).
    ClientUnblock,
    ClientReply,
    AclWhoami,
    ClientTracking,
    ClientCaching,
    ClientGetRedir,
    ClientTrackingInfo,
    Hotkeys,
    Debug,
    ConfigGet,
    ConfigSet,
    ConfigResetStat,
    ConfigRewrite,
    SlowlogGet,
    SlowlogLen,
    SlowlogReset,
    SlowlogHelp,
    /// CLUSTER SLOTS/SHARDS/NODES/MYID: in front of a cluster hotcache is one
    /// node, the master of every slot (see `server/cluster_face.rs`).
    ClusterSlots,
    ClusterShards,
    ClusterNodes,
    ClusterMyId,
}

/// How hotcache runs a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Sent on the thread's shared, pipelined upstream connection.
    Shared,
    /// Answered by hotcache.
    Local(Local),
    /// Starts state that lives on the upstream connection (MULTI, WATCH, SELECT,
    /// CLIENT TRACKING): the client takes a dedicated connection until it ends.
    Stateful,
    /// Blocks the connection it runs on: run on a dedicated connection.
    Blocking,
    /// Blocks only when this option is given (XREAD ... BLOCK ms); else [`Route::Shared`].
    BlockingWith(&'static str),
    /// Turns the connection into a stream of pushes (SUBSCRIBE family, MONITOR,
    /// SYNC): the client is relayed to a dedicated connection from then on.
    Relay,
    /// Reads or sets per-connection state that a shared connection must not
    /// carry, without starting any: run on a clean dedicated connection.
    Private,
    /// A script or function call: on a dedicated connection, because a script
    /// may run until SCRIPT KILL and would hold up a shared connection's other
    /// clients all that time (Redis answers them BUSY meanwhile).
    Script,
    /// What Redis answers while a script runs and is needed then (SCRIPT KILL,
    /// FUNCTION KILL, FUNCTION STATS): sent at once on a connection of its
    /// own, past the client's other requests and the breaker, so it reaches
    /// Redis even while everything else waits on the script it would end.
    Alone,
}

/// Connection state a command starts, ends or reads (tracked per client so it
/// knows when its dedicated connection is clean again).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Multi,
    Exec,
    Discard,
    Watch,
    Unwatch,
    Select,
    Tracking,
    /// CLIENT GETREDIR: the id it answers is Redis's, translated back.
    GetRedir,
    /// CLIENT TRACKINGINFO: its `redirect` is Redis's id, translated back.
    TrackingInfo,
}

/// What a command may change in the data, for invalidation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writes {
    No,
    /// The keys its key specs name (all keys, if they cannot all be known).
    Keys,
    /// Anything (scripts may touch undeclared keys).
    All,
}

/// Whether a command's reply may be cached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cacheable {
    No,
    /// A read of the key at argument 1; the reply depends only on it and the
    /// arguments.
    Key,
    /// Only with exactly one key (EXISTS k).
    OneKey,
    /// MGET: cached per key.
    PerKey,
}

/// How a command runs against a Redis Cluster upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterRun {
    /// On the master of its keys' slot (keys in several slots: CROSSSLOT, as
    /// Redis Cluster answers); keyless: on any master.
    BySlot,
    /// Keys in several slots: one command per slot (each key with the `step - 1`
    /// arguments after it), the replies merged. Not atomic across slots.
    Split { step: usize, merge: Merge },
    /// Keyless: sent to every master, the replies merged.
    Everywhere(Merge),
    /// SCAN: one master after another, the cursor carrying which.
    Scan,
}

/// How the replies of a split or fanned-out command become one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merge {
    /// An array with one element per key, in the order the keys were given.
    Positions,
    /// All answered the same (+OK, a script's SHA): that reply.
    Same,
    /// Integers added up.
    Sum,
    /// Arrays concatenated.
    Concat,
}

/// A command as hotcache sees it: Redis's definition plus hotcache's overlay.
#[derive(Debug)]
pub struct Command {
    /// Position in the table, stable for the life of the process (for stats and
    /// CLIENT LIST's `cmd=` without storing references across threads).
    pub id: u16,
    pub def: &'static CommandDef,
    pub route: Route,
    pub state: Option<State>,
    pub writes: Writes,
    pub cacheable: Cacheable,
    pub cluster: ClusterRun,
    /// It may hold Redis for long (KEYS, a synchronous FLUSHALL, DEBUG, SAVE):
    /// while one runs, Redis's silence is that command, not a stalled node
    /// (see `resilience::health`), and it is not bounded by upstream-timeout.
    pub long: bool,
    /// Its cost grows with the data (SORT, SUNION, LRANGE, HGETALL, ZRANGE
    /// ...: a read or write Redis does not flag `fast`, but the few common
    /// writes in `QUICK`): bounded by upstream-timeout, but while one is in
    /// flight Redis's silence to a stall check is that command, not a
    /// stalled node (one client's big SORT must not open the breaker for
    /// everyone, rule 10).
    pub slow: bool,
}

impl Command {
    pub fn name(&self) -> &'static str {
        self.def.name
    }
}

/// hotcache's routing: every command not listed here is [`Route::Shared`].
///
/// Why each is here: anything that changes the upstream connection's state, blocks
/// it, or makes it send other than exactly one reply per request cannot share a
/// connection with other clients.
pub static ROUTES: &[(&str, Route)] = &[
    ("ping", Route::Local(Local::Ping)),
    ("echo", Route::Local(Local::Echo)),
    ("hello", Route::Local(Local::Hello)),
    ("auth", Route::Local(Local::Auth)),
    ("quit", Route::Local(Local::Quit)),
    ("reset", Route::Local(Local::Reset)),
    ("info", Route::Local(Local::Info)),
    ("client|setname", Route::Local(Local::ClientSetName)),
    ("client|getname", Route::Local(Local::ClientGetName)),
    ("client|id", Route::Local(Local::ClientId)),
    ("client|info", Route::Local(Local::ClientInfo)),
    ("client|list", Route::Local(Local::ClientList)),
    ("client|kill", Route::Local(Local::ClientKill)),
    ("client|reply", Route::Local(Local::ClientReply)),
    ("acl|whoami", Route::Local(Local::AclWhoami)),
    ("config|get", Route::Local(Local::ConfigGet)),
    ("config|set", Route::Local(Local::ConfigSet)),
    ("config|resetstat", Route::Local(Local::ConfigResetStat)),
    ("config|rewrite", Route::Local(Local::ConfigRewrite)),
    ("slowlog|get", Route::Local(Local::SlowlogGet)),
    ("slowlog|len", Route::Local(Local::SlowlogLen)),
    ("slowlog|reset", Route::Local(Local::SlowlogReset)),
    ("slowlog|help", Route::Local(Local::SlowlogHelp)),
    ("cluster|slots", Route::Local(Local::ClusterSlots)),
    ("cluster|shards", Route::Local(Local::ClusterShards)),
    ("cluster|nodes", Route::Local(Local::ClusterNodes)),
    ("cluster|myid", Route::Local(Local::ClusterMyId)),
    ("multi", Route::Stateful),
    ("watch", Route::Stateful),
    ("select", Route::Stateful),
    // Served by hotcache (see `server::tracking`); where it cannot (its
    // tracking stream limited to prefixes), the client's own connection.
    ("client|tracking", Route::Local(Local::ClientTracking)),
    ("client|caching", Route::Local(Local::ClientCaching)),
    ("client|getredir", Route::Local(Local::ClientGetRedir)),
    ("client|trackinginfo", Route::Local(Local::ClientTrackingInfo)),
    ("client|no-evict", Route::Private),
    ("client|unblock", Route::Local(Local::ClientUnblock)),
    ("eval", Route::Script),
    ("evalsha", Route::Script),
    ("eval_ro", Route::Script),
    ("evalsha_ro", Route::Script),
    ("fcall", Route::Script),
    ("fcall_ro", Route::Script),
    ("script|kill", Route::Alone),
    ("function|kill", Route::Alone),
    ("function|stats", Route::Alone),
    ("readonly", Route::Private),
    ("readwrite", Route::Private),
    ("asking", Route::Private),
    ("wait", Route::Blocking),
    ("xread", Route::BlockingWith("block")),
    ("xreadgroup", Route::BlockingWith("block")),
    ("subscribe", Route::Relay),
    ("psubscribe", Route::Relay),
    ("ssubscribe", Route::Relay),
    ("unsubscribe", Route::Relay),
    ("punsubscribe", Route::Relay),
    ("sunsubscribe", Route::Relay),
    ("monitor", Route::Relay),
    ("sync", Route::Relay),
    ("psync", Route::Relay),
];

/// Connection state each command touches.
static STATES: &[(&str, State)] = &[
    ("multi", State::Multi),
    ("exec", State::Exec),
    ("discard", State::Discard),
    ("watch", State::Watch),
    ("unwatch", State::Unwatch),
    ("select", State::Select),
    ("client|tracking", State::Tracking),
    ("client|getredir", State::GetRedir),
    ("client|trackinginfo", State::TrackingInfo),
];

/// Read-only commands whose replies may be cached (keyed by command and
/// arguments, per protocol version).
static CACHEABLE: &[(&str, Cacheable)] = &[
    ("get", Cacheable::Key),
    ("mget", Cacheable::PerKey),
    ("strlen", Cacheable::Key),
    ("getrange", Cacheable::Key),
    ("exists", Cacheable::OneKey),
    ("type", Cacheable::Key),
    ("hget", Cacheable::Key),
    ("hmget", Cacheable::Key),
    ("hgetall", Cacheable::Key),
    ("hlen", Cacheable::Key),
    ("hexists", Cacheable::Key),
    ("hstrlen", Cacheable::Key),
    ("lrange", Cacheable::Key),
    ("llen", Cacheable::Key),
    ("lindex", Cacheable::Key),
    ("smembers", Cacheable::Key),
    ("sismember", Cacheable::Key),
    ("scard", Cacheable::Key),
    ("zrange", Cacheable::Key),
    ("zscore", Cacheable::Key),
    ("zcard", Cacheable::Key),
];

/// How commands that are not [`ClusterRun::BySlot`] run against a cluster: what
/// cluster-aware clients do for them.
static CLUSTER: &[(&str, ClusterRun)] = &[
    ("mget", ClusterRun::Split { step: 1, merge: Merge::Positions }),
    ("mset", ClusterRun::Split { step: 2, merge: Merge::Same }),
    ("del", ClusterRun::Split { step: 1, merge: Merge::Sum }),
    ("unlink", ClusterRun::Split { step: 1, merge: Merge::Sum }),
    ("exists", ClusterRun::Split { step: 1, merge: Merge::Sum }),
    ("touch", ClusterRun::Split { step: 1, merge: Merge::Sum }),
    ("dbsize", ClusterRun::Everywhere(Merge::Sum)),
    ("flushall", ClusterRun::Everywhere(Merge::Same)),
    ("flushdb", ClusterRun::Everywhere(Merge::Same)),
    ("keys", ClusterRun::Everywhere(Merge::Concat)),
    ("script|load", ClusterRun::Everywhere(Merge::Same)),
    ("script|flush", ClusterRun::Everywhere(Merge::Same)),
    ("function|load", ClusterRun::Everywhere(Merge::Same)),
    ("function|delete", ClusterRun::Everywhere(Merge::Same)),
    ("function|flush", ClusterRun::Everywhere(Merge::Same)),
    ("scan", ClusterRun::Scan),
];

/// Commands that may change any key: they are not flagged `write` (scripts) or
/// cannot say which keys they touch.
static WRITES_ALL: &[&str] = &["eval", "evalsha", "fcall", "debug"];

/// Commands that may hold Redis for long, beside scripts (see `Command::long`).
static LONG: &[&str] = &["keys", "flushall", "flushdb", "debug", "save", "bgrewriteaof", "migrate"];

/// Writes Redis does not flag `fast` that cost little at the sizes they
/// are used with: not `slow`, so a stopped Redis is still found within
/// `upstream-stall-timeout` under a write load.
static QUICK: &[&str] =
    &["set", "setex", "psetex", "mset", "msetnx", "del", "setbit", "setrange", "rename", "lset"];

/// hotcache's own commands.
pub static HOTCACHE_COMMANDS: &[CommandDef] = &[
    CommandDef::new("hotkeys", -1, F::READONLY | F::LOADING | F::STALE, [0, 0, 0], &[], &[]),
    CommandDef::new("hotcache.debug", -2, F::ADMIN | F::LOADING | F::STALE, [0, 0, 0], &[], &[]),
];

/// hotcache's routes for its own commands.
static OWN_ROUTES: &[(&str, Route)] =
    &[("hotkeys", Route::Local(Local::Hotkeys)), ("hotcache.debug", Route::Local(Local::Debug))];

fn find<T: Copy>(list: &[(&str, T)], name: &str) -> Option<T> {
    list.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// Builds a table entry: Redis's definition with hotcache's overlay.
pub(super) fn command(id: u16, def: &'static CommandDef) -> Command {
    let route = find(ROUTES, def.name)
        .or_else(|| find(OWN_ROUTES, def.name))
        .unwrap_or(if def.has(flags::BLOCKING) { Route::Blocking } else { Route::Shared });
    let writes = if WRITES_ALL.contains(&def.name) {
        Writes::All
    } else if def.has(flags::WRITE) {
        Writes::Keys
    } else {
        Writes::No
    };
    Command {
        id,
        def,
        route,
        state: find(STATES, def.name),
        writes,
        cacheable: find(CACHEABLE, def.name).unwrap_or(Cacheable::No),
        cluster: find(CLUSTER, def.name).unwrap_or(ClusterRun::BySlot),
        long: LONG.contains(&def.name),
        slow: !def.has(flags::FAST)
            && (def.has(flags::READONLY) || def.has(flags::WRITE))
            && !QUICK.contains(&def.name),
    }
}
