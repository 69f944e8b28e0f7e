//! The client registry: who is connected, for CLIENT LIST/INFO/KILL, `maxclients`
//! and INFO. Touched when clients come and go and by those commands; the
//! per-request fields are atomics the owning thread updates.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicU8, AtomicU16, AtomicU64, AtomicUsize, Ordering::Relaxed,
};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;

/// What CLIENT LIST shows of one client, shared between its connection task (which
/// writes) and whoever lists or kills it.
#[derive(Debug)]
pub struct ClientInfo {
    pub id: u64,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    pub created: Instant,
    /// Milliseconds since `created` of the last command, for `idle=`.
    pub last_active_ms: AtomicU64,
    /// The last command's table id + 1 (0: none yet), for `cmd=`.
    pub last_cmd: AtomicU16,
    /// Protocol version (2 or 3).
    pub resp: AtomicU8,
    /// Selected database.
    pub db: AtomicI64,
    /// Flags for `flags=` (see [`ClientInfo::flags`]).
    pub in_multi: AtomicBool,
    pub relayed: AtomicBool,
    pub blocked: AtomicBool,
    /// Query buffer and output bytes, for `qbuf=` and `omem=`.
    pub qbuf: AtomicUsize,
    pub omem: AtomicUsize,
    name: Mutex<Option<Bytes>>,
    /// The Redis client id of the connection this client holds alone, if any
    /// (to translate ids in CLIENT TRACKING ... REDIRECT).
    upstream_id: Mutex<Option<Arc<AtomicI64>>>,
    /// Set by CLIENT KILL; the connection task closes when it sees it.
    pub killed: AtomicBool,
    /// The shard thread serving this client (where its signal lives).
    pub shard: usize,
}

impl ClientInfo {
    pub fn name(&self) -> Option<Bytes> {
        lock(&self.name).clone()
    }

    pub fn set_name(&self, name: Option<Bytes>) {
        *lock(&self.name) = name;
    }

    /// Records (or clears) the connection this client holds alone.
    pub fn set_upstream(&self, id: Option<Arc<AtomicI64>>) {
        *lock(&self.upstream_id) = id;
    }

    /// The Redis client id of the connection this client holds alone.
    pub fn upstream_id(&self) -> Option<i64> {
        lock(&self.upstream_id).as_ref().map(|i| i.load(Relaxed)).filter(|&i| i > 0)
    }

    /// Marks activity at `now`.
    pub fn touch(&self, now: Instant) {
        let ms = now.saturating_duration_since(self.created).as_millis() as u64;
        self.last_active_ms.store(ms, Relaxed);
    }

    /// One CLIENT LIST line, in Redis 7.0's field order (values that have no
    /// meaning in hotcache are given as Redis gives them for an idle client).
    pub fn line(&self) -> String {
        let age = self.created.elapsed().as_secs();
        let idle_ms = (self.created.elapsed().as_millis() as u64)
            .saturating_sub(self.last_active_ms.load(Relaxed));
        let name =
            self.name().map(|n| String::from_utf8_lossy(&n).into_owned()).unwrap_or_default();
        let cmd = match self.last_cmd.load(Relaxed) {
            0 => "NULL",
            id => crate::cmd::by_id(id - 1).map(|c| c.name()).unwrap_or("NULL"),
        };
        let multi = if self.in_multi.load(Relaxed) { 0 } else { -1 };
        let qbuf = self.qbuf.load(Relaxed);
        let omem = self.omem.load(Relaxed);
        format!(
            "id={} addr={} laddr={} fd=-1 name={} age={} idle={} flags={} db={} sub=0 psub=0 ssub=0 multi={} qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem={} tot-mem={} events=r cmd={} user=default redir=-1 resp={}",
            self.id,
            self.addr,
            self.laddr,
            name,
            age,
            idle_ms / 1000,
            self.flags(),
            self.db.load(Relaxed),
            multi,
            qbuf,
            omem,
            qbuf + omem,
            cmd,
            self.resp.load(Relaxed),
        )
    }

    fn flags(&self) -> String {
        let mut f = String::new();
        if self.in_multi.load(Relaxed) {
            f.push('x');
        }
        if self.blocked.load(Relaxed) {
            f.push('b');
        }
        if self.relayed.load(Relaxed) {
            f.push('P');
        }
        if f.is_empty() {
            f.push('N');
        }
        f
    }
}

/// A poisoned lock only means another thread panicked while holding it; the data
/// (a name, a map of clients) is still consistent, so carry on.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// All connected clients.
#[derive(Debug, Default)]
pub struct Registry {
    clients: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
    next_id: AtomicU64,
    count: AtomicUsize,
}

/// Removes the client from the registry when its connection ends.
pub struct Registration {
    registry: Arc<Registry>,
    pub info: Arc<ClientInfo>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.registry.clients).remove(&self.info.id);
        self.registry.count.fetch_sub(1, Relaxed);
    }
}

impl Registry {
    /// Registers a new client unless `maxclients` are connected already.
    pub fn register(
        self: &Arc<Self>,
        addr: SocketAddr,
        laddr: SocketAddr,
        maxclients: usize,
        shard: usize,
    ) -> Option<Registration> {
        // Count first so that two threads cannot both take the last place.
        if self.count.fetch_add(1, Relaxed) >= maxclients {
            self.count.fetch_sub(1, Relaxed);
            return None;
        }
        let id = self.next_id.fetch_add(1, Relaxed) + 1;
        let info = Arc::new(ClientInfo {
            id,
            addr,
            laddr,
            created: Instant::now(),
            last_active_ms: AtomicU64::new(0),
            last_cmd: AtomicU16::new(0),
            resp: AtomicU8::new(2),
            db: AtomicI64::new(0),
            in_multi: AtomicBool::new(false),
            relayed: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
            qbuf: AtomicUsize::new(0),
            omem: AtomicUsize::new(0),
            name: Mutex::new(None),
            upstream_id: Mutex::new(None),
            killed: AtomicBool::new(false),
            shard,
        });
        lock(&self.clients).insert(id, info.clone());
        Some(Registration { registry: self.clone(), info })
    }

    /// Connected clients right now.
    pub fn count(&self) -> usize {
        self.count.load(Relaxed)
    }

    /// A snapshot of every client, in id order. Killed clients are left out:
    /// Redis frees a client at CLIENT KILL, while here its task (perhaps on
    /// another thread) ends a moment later, and CLIENT LIST / KILL must not see
    /// it in between.
    pub fn list(&self) -> Vec<Arc<ClientInfo>> {
        lock(&self.clients).values().filter(|c| !c.killed.load(Relaxed)).cloned().collect()
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientInfo>> {
        lock(&self.clients).get(&id).cloned()
    }

    /// The client holding the upstream connection with Redis client id `upstream`.
    pub fn by_upstream_id(&self, upstream: i64) -> Option<Arc<ClientInfo>> {
        lock(&self.clients).values().find(|c| c.upstream_id() == Some(upstream)).cloned()
    }
}
