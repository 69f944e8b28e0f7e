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
    /// The Redis user it is logged in as (`default` until it AUTHs), for
    /// CLIENT LIST's `user=` and to close it when the user goes.
    user: Mutex<Arc<str>>,
    /// The connection this client holds alone, if any: its Redis client id,
    /// to translate hotcache's ids in CLIENT UNBLOCK and CLIENT TRACKING ...
    /// REDIRECT. One lock for all of it, so that marking it for an UNBLOCK
    /// and releasing it cannot interleave (see [`ClientInfo::unblock_target`]).
    upstream: Mutex<Option<Held>>,
    /// The last CLIENT TRACKING ... REDIRECT this client asked for: hotcache's
    /// id and the Redis id it was translated to, to show hotcache's again in
    /// CLIENT GETREDIR and TRACKINGINFO.
    redirect: Mutex<Option<(u64, i64)>>,
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

    /// The Redis user it is logged in as.
    pub fn user(&self) -> Arc<str> {
        lock(&self.user).clone()
    }

    pub fn set_user(&self, user: Arc<str>) {
        *lock(&self.user) = user;
    }

    /// Records the connection this client now holds alone (its Redis client
    /// id, known once its handshake is done, and its node `host:port`), or
    /// clears it.
    pub fn set_upstream(&self, held: Option<(Arc<AtomicI64>, &str)>) {
        *lock(&self.upstream) =
            held.map(|(id, node)| Held { id, node: Arc::from(node), unblocked: false });
    }

    /// Clears the connection this client held alone; false if it must not be
    /// reused by another client: a CLIENT UNBLOCK naming it may still be on
    /// its way to Redis, and would unblock whoever held it next.
    pub fn release_upstream(&self) -> bool {
        lock(&self.upstream).take().is_none_or(|h| !h.unblocked)
    }

    /// False if the connection this client holds must not go back to the pool
    /// (see [`ClientInfo::release_upstream`]).
    pub fn upstream_reusable(&self) -> bool {
        lock(&self.upstream).as_ref().is_none_or(|h| !h.unblocked)
    }

    /// The Redis client id of the connection this client holds alone.
    pub fn upstream_id(&self) -> Option<i64> {
        lock(&self.upstream).as_ref().map(|h| h.id.load(Relaxed)).filter(|&i| i > 0)
    }

    /// The Redis client id of the connection this client holds alone if it is
    /// on `node` (any node when None: one Redis). Ids are per node: the same
    /// number on another node is another connection.
    pub fn upstream_id_on(&self, node: Option<&str>) -> Option<i64> {
        let held = lock(&self.upstream);
        let h = held.as_ref().filter(|h| node.is_none_or(|n| *h.node == *n))?;
        Some(h.id.load(Relaxed)).filter(|&i| i > 0)
    }

    /// For CLIENT UNBLOCK: the Redis id and node of the connection this client
    /// holds (if on `node`, when given), marked so that it is closed rather
    /// than handed to another client once this one lets it go.
    pub fn unblock_target(&self, node: Option<&str>) -> Option<(i64, Arc<str>)> {
        let mut held = lock(&self.upstream);
        let h = held.as_mut().filter(|h| node.is_none_or(|n| *h.node == *n))?;
        let id = h.id.load(Relaxed);
        if id <= 0 {
            return None;
        }
        h.unblocked = true;
        Some((id, h.node.clone()))
    }

    /// Remembers a CLIENT TRACKING ... REDIRECT: hotcache's id `to`, sent to
    /// Redis as `upstream`.
    pub fn set_redirect(&self, to: u64, upstream: i64) {
        *lock(&self.redirect) = Some((to, upstream));
    }

    /// hotcache's id for the Redis id `upstream` this client's tracking
    /// redirects to, if it asked for it.
    pub fn redirect_for(&self, upstream: i64) -> Option<u64> {
        lock(&self.redirect).filter(|r| r.1 == upstream).map(|r| r.0)
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
            "id={} addr={} laddr={} fd=-1 name={} age={} idle={} flags={} db={} sub=0 psub=0 ssub=0 multi={} qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem={} tot-mem={} events=r cmd={} user={} redir=-1 resp={}",
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
            self.user(),
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

/// A connection a client holds alone, as the registry knows it.
#[derive(Debug)]
struct Held {
    /// Its Redis client id (-1 until its handshake is done).
    id: Arc<AtomicI64>,
    node: Arc<str>,
    /// A CLIENT UNBLOCK named it: not to be reused by another client.
    unblocked: bool,
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
            user: Mutex::new(Arc::from("default")),
            upstream: Mutex::new(None),
            redirect: Mutex::new(None),
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

    /// The client holding the upstream connection with Redis client id
    /// `upstream` on `node` (any node when None).
    pub fn by_upstream_id(&self, upstream: i64, node: Option<&str>) -> Option<Arc<ClientInfo>> {
        lock(&self.clients).values().find(|c| c.upstream_id_on(node) == Some(upstream)).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry_with_one() -> (Arc<Registry>, Registration) {
        let registry = Arc::new(Registry::default());
        let addr: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        let r = registry.register(addr, addr, 10, 0).expect("room");
        (registry, r)
    }

    #[test]
    fn ids_are_per_node() {
        let (registry, r) = registry_with_one();
        let id = Arc::new(AtomicI64::new(-1));
        r.info.set_upstream(Some((id.clone(), "a:1")));
        assert_eq!(r.info.upstream_id(), None, "not known before the handshake");
        assert_eq!(r.info.unblock_target(None), None);
        id.store(7, Relaxed);
        assert_eq!(r.info.upstream_id_on(Some("a:1")), Some(7));
        assert_eq!(r.info.upstream_id_on(Some("b:1")), None, "7 on b is someone else");
        assert_eq!(r.info.upstream_id_on(None), Some(7));
        assert!(registry.by_upstream_id(7, Some("a:1")).is_some());
        assert!(registry.by_upstream_id(7, Some("b:1")).is_none());
    }

    #[test]
    fn a_connection_named_by_unblock_is_not_reused() {
        let (_registry, r) = registry_with_one();
        let id = Arc::new(AtomicI64::new(7));
        r.info.set_upstream(Some((id.clone(), "a:1")));
        assert!(r.info.upstream_reusable());
        assert!(r.info.release_upstream(), "no UNBLOCK named it");
        r.info.set_upstream(Some((id, "a:1")));
        assert_eq!(r.info.unblock_target(Some("b:1")), None, "not on that node");
        assert!(r.info.upstream_reusable());
        assert_eq!(r.info.unblock_target(Some("a:1")), Some((7, Arc::from("a:1"))));
        assert!(!r.info.upstream_reusable());
        assert!(!r.info.release_upstream(), "an UNBLOCK may still be on its way");
        assert_eq!(r.info.upstream_id(), None);
        assert!(r.info.release_upstream(), "nothing held");
    }

    #[test]
    fn redirects_are_remembered() {
        let (_registry, r) = registry_with_one();
        assert_eq!(r.info.redirect_for(9), None);
        r.info.set_redirect(3, 9);
        assert_eq!(r.info.redirect_for(9), Some(3));
        assert_eq!(r.info.redirect_for(8), None);
    }
}
