//! The command table: every Redis command hotcache knows, with Redis's own arity,
//! flags and key specs, plus hotcache's routing for it.
//!
//! Redis's part is generated from a real server's `COMMAND` reply
//! (`redis_commands.rs`); hotcache's part is the short [`ROUTES`] list below. Routing,
//! key extraction (for caching and invalidation) and the checks Redis makes before
//! running a command (unknown command, arity) all read this table; nothing else in
//! hotcache matches on command names.

mod keys;
mod overlay;
mod redis_commands;

use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;

pub use keys::{CommandKeys, KeyRef, command_keys};
pub use overlay::{Cacheable, ClusterRun, Command, Local, Merge, Route, State, Writes};
pub use redis_commands::{REDIS_COMMANDS, REDIS_VERSION};

/// Redis's command flags (`COMMAND INFO`), as bits.
#[allow(missing_docs)]
pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const MODULE: u32 = 1 << 3;
    pub const ADMIN: u32 = 1 << 4;
    pub const PUBSUB: u32 = 1 << 5;
    pub const NOSCRIPT: u32 = 1 << 6;
    pub const BLOCKING: u32 = 1 << 7;
    pub const LOADING: u32 = 1 << 8;
    pub const STALE: u32 = 1 << 9;
    pub const SKIP_MONITOR: u32 = 1 << 10;
    pub const SKIP_SLOWLOG: u32 = 1 << 11;
    pub const ASKING: u32 = 1 << 12;
    pub const FAST: u32 = 1 << 13;
    pub const NO_AUTH: u32 = 1 << 14;
    pub const MAY_REPLICATE: u32 = 1 << 15;
    pub const SENTINEL: u32 = 1 << 16;
    pub const ONLY_SENTINEL: u32 = 1 << 17;
    pub const NO_MANDATORY_KEYS: u32 = 1 << 18;
    pub const PROTECTED: u32 = 1 << 19;
    pub const MODULE_GETKEYS: u32 = 1 << 20;
    pub const MODULE_NO_CLUSTER: u32 = 1 << 21;
    pub const NO_ASYNC_LOADING: u32 = 1 << 22;
    pub const NO_MULTI: u32 = 1 << 23;
    pub const MOVABLEKEYS: u32 = 1 << 24;
    pub const ALLOW_BUSY: u32 = 1 << 25;
}
use flags as F;

/// Key spec flags (`COMMAND INFO` key specs), as bits.
#[allow(missing_docs)]
pub mod key_flags {
    pub const RO: u16 = 1 << 0;
    pub const RW: u16 = 1 << 1;
    pub const OW: u16 = 1 << 2;
    pub const RM: u16 = 1 << 3;
    pub const ACCESS: u16 = 1 << 4;
    pub const UPDATE: u16 = 1 << 5;
    pub const INSERT: u16 = 1 << 6;
    pub const DELETE: u16 = 1 << 7;
    pub const NOT_KEY: u16 = 1 << 8;
    pub const INCOMPLETE: u16 = 1 << 9;
    pub const VARIABLE_FLAGS: u16 = 1 << 10;
}
use key_flags as KS;

/// Where a key spec starts looking for keys.
#[derive(Clone, Copy, Debug)]
pub enum Begin {
    /// At this argument index.
    Index(i32),
    /// After this keyword, searched from `startfrom` (negative: from the end).
    Keyword(&'static str, i32),
    /// Only the command itself knows.
    Unknown,
}

/// How a key spec finds its keys once it has started.
#[derive(Clone, Copy, Debug)]
pub enum Find {
    /// Keys from the start up to `lastkey` (negative: from the end), every `step`.
    Range { lastkey: i32, step: i32, limit: i32 },
    /// The argument at `keynumidx` says how many keys follow from `firstkey`.
    KeyNum { keynumidx: i32, firstkey: i32, step: i32 },
    /// Only the command itself knows.
    Unknown,
}

/// One key spec of a command, as Redis 7 describes it.
#[derive(Clone, Copy, Debug)]
pub struct KeySpec {
    pub flags: u16,
    pub begin: Begin,
    pub find: Find,
}

/// One Redis command (or subcommand, named `container|sub`) as Redis describes it.
#[derive(Debug)]
pub struct CommandDef {
    /// Lowercase full name: `get`, or `client|setname` for a subcommand.
    pub name: &'static str,
    /// Redis arity: exact count if positive, minimum count if negative.
    pub arity: i32,
    /// Redis flags ([`flags`]).
    pub flags: u32,
    /// Legacy first key, last key, step.
    pub legacy_keys: [i32; 3],
    pub key_specs: &'static [KeySpec],
    pub subcommands: &'static [CommandDef],
}

impl CommandDef {
    /// Used by the generated table.
    pub const fn new(
        name: &'static str,
        arity: i32,
        flags: u32,
        legacy_keys: [i32; 3],
        key_specs: &'static [KeySpec],
        subcommands: &'static [CommandDef],
    ) -> Self {
        Self { name, arity, flags, legacy_keys, key_specs, subcommands }
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// True if `argc` arguments (command name included) satisfy the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = i64::from(self.arity);
        if arity >= 0 { argc == arity } else { argc >= -arity }
    }
}

/// The lookup table, built once.
struct Table {
    commands: Vec<Command>,
    by_name: HashMap<&'static [u8], u16, ahash::RandomState>,
    /// GET's id: looked up without hashing (the cached-read hot path).
    get: u16,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        fn add(commands: &mut Vec<Command>, def: &'static CommandDef) {
            let id = commands.len() as u16;
            commands.push(overlay::command(id, def));
            for sub in def.subcommands {
                add(commands, sub);
            }
        }
        let mut commands = Vec::new();
        for def in REDIS_COMMANDS.iter().chain(overlay::HOTCACHE_COMMANDS) {
            add(&mut commands, def);
        }
        let mut by_name = HashMap::with_hasher(ahash::RandomState::new());
        for c in &commands {
            by_name.insert(c.def.name.as_bytes(), c.id);
        }
        let get = by_name.get(&b"get"[..]).copied().unwrap_or_default();
        Table { commands, by_name, get }
    })
}

/// What looking up a request's command found.
#[derive(Debug)]
pub enum Lookup {
    Found(&'static Command),
    /// Not a command this table knows (perhaps a module's, or a newer Redis's).
    Unknown,
    /// A known container command with a subcommand this table does not know.
    UnknownSub(&'static Command),
}

/// Longest command name (with `|sub`) that can be in the table.
const MAX_NAME: usize = 64;

/// Looks a name up case-insensitively without allocating.
fn find(name: &[u8]) -> Option<&'static Command> {
    let t = table();
    if name.eq_ignore_ascii_case(b"get") {
        return Some(&t.commands[usize::from(t.get)]);
    }
    if name.len() > MAX_NAME {
        return None;
    }
    let mut lower = [0u8; MAX_NAME];
    for (d, s) in lower.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    t.by_name.get(&lower[..name.len()]).map(|&id| &t.commands[usize::from(id)])
}

/// Finds the command for `args` as Redis's `lookupCommand` does: a container
/// command with at least one more argument is resolved to its subcommand.
pub fn lookup(args: &[Bytes]) -> Lookup {
    let Some(name) = args.first() else { return Lookup::Unknown };
    // `client|list` is the table's name for a subcommand, not a command a client
    // can send: Redis answers it as unknown.
    if name.contains(&b'|') {
        return Lookup::Unknown;
    }
    let Some(base) = find(name) else { return Lookup::Unknown };
    if args.len() == 1 || base.def.subcommands.is_empty() {
        return Lookup::Found(base);
    }
    let sub = &args[1];
    if name.len() + 1 + sub.len() > MAX_NAME {
        return Lookup::UnknownSub(base);
    }
    let mut full = Vec::with_capacity(name.len() + 1 + sub.len());
    full.extend_from_slice(name);
    full.push(b'|');
    full.extend_from_slice(sub);
    match find(&full) {
        Some(c) => Lookup::Found(c),
        None => Lookup::UnknownSub(base),
    }
}

/// Every command definition, subcommands included (for COMMAND-style listings).
pub fn all() -> impl Iterator<Item = &'static Command> {
    table().commands.iter()
}

/// Finds a command by its full lowercase name (`get`, `client|list`).
pub fn by_name(name: &str) -> Option<&'static Command> {
    find(name.as_bytes())
}

/// GET's entry (the cached-read fast path).
pub fn get() -> &'static Command {
    let t = table();
    &t.commands[usize::from(t.get)]
}

/// Finds a command by its [`Command::id`].
pub fn by_id(id: u16) -> Option<&'static Command> {
    table().commands.get(usize::from(id))
}

/// The bytes of an argument as C's `%s` prints them: up to the first NUL.
fn cstr(b: &[u8]) -> &[u8] {
    match memchr::memchr(0, b) {
        Some(n) => &b[..n],
        None => b,
    }
}

/// Redis's text for a command it does not know (`commandCheckExistence`).
pub fn unknown_command_error(args: &[Bytes]) -> Vec<u8> {
    let mut msg = b"ERR unknown command '".to_vec();
    let name = args.first().map(|a| cstr(a)).unwrap_or_default();
    msg.extend_from_slice(&name[..name.len().min(128)]);
    msg.extend_from_slice(b"', with args beginning with: ");
    let mut list: Vec<u8> = Vec::new();
    for a in args.iter().skip(1) {
        if list.len() >= 128 {
            break;
        }
        let a = cstr(a);
        let room = 128 - list.len();
        list.push(b'\'');
        list.extend_from_slice(&a[..a.len().min(room)]);
        list.extend_from_slice(b"' ");
    }
    msg.extend_from_slice(&list);
    msg
}

/// Redis's text for an unknown subcommand of a container command.
pub fn unknown_subcommand_error(args: &[Bytes]) -> Vec<u8> {
    let mut msg = b"ERR unknown subcommand '".to_vec();
    let sub = args.get(1).map(|a| cstr(a)).unwrap_or_default();
    msg.extend_from_slice(&sub[..sub.len().min(128)]);
    msg.extend_from_slice(b"'. Try ");
    let container = args.first().map(|a| cstr(a)).unwrap_or_default();
    msg.extend(container.iter().map(|c| c.to_ascii_uppercase()));
    msg.extend_from_slice(b" HELP.");
    msg
}

/// Redis's text for a wrong argument count.
pub fn arity_error(cmd: &Command) -> String {
    format!("ERR wrong number of arguments for '{}' command", cmd.def.name)
}
