//! The keyspace: values, expiry times, and the stable ids that SCAN walks.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;

use super::hashes::Hash;

/// A value, one of the types the embedded origin implements.
#[derive(Debug)]
pub enum Value {
    Str(Vec<u8>),
    Hash(Hash),
}

impl Value {
    /// The name TYPE (and SCAN's TYPE filter) uses.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
        }
    }
}

/// One key's value and metadata.
#[derive(Debug)]
pub struct Entry {
    pub value: Value,
    /// The key's place in SCAN order: given when the key is created and kept when its
    /// value is overwritten, so a key that exists for a whole SCAN is seen once.
    id: u64,
    /// Unix time in milliseconds after which the key no longer exists, as Redis
    /// stores it (so EXPIREAT/EXPIRETIME round-trip and TTLs follow the wall clock).
    expire_at: Option<i64>,
}

impl Entry {
    pub fn expire_at(&self) -> Option<i64> {
        self.expire_at
    }
}

/// Every key, plus two indexes over them.
#[derive(Debug, Default)]
pub struct Store {
    map: HashMap<Bytes, Entry, ahash::RandomState>,
    /// Keys by id: SCAN's cursor is the next id to visit.
    by_id: BTreeMap<u64, Bytes>,
    /// Keys with a TTL by (expiry, id): expired keys are found without a full walk.
    expiries: BTreeSet<(i64, u64)>,
    /// The next id to give out; ids start at 1 so cursor 0 means "from the start".
    next_id: u64,
}

/// Redis's rule: a key is expired once the clock is past its expiry time.
fn expired(at: Option<i64>, now: i64) -> bool {
    at.is_some_and(|t| now > t)
}

impl Store {
    /// The live entry for `key`; an expired one is deleted first (lazy expiry).
    pub fn get(&mut self, key: &[u8], now: i64) -> Option<&mut Entry> {
        if expired(self.map.get(key)?.expire_at, now) {
            self.remove(key);
            return None;
        }
        self.map.get_mut(key)
    }

    /// True if `key` exists and has not expired.
    pub fn exists(&mut self, key: &[u8], now: i64) -> bool {
        self.get(key, now).is_some()
    }

    /// The live entry for `key`, created with `make()` and no TTL if there is none.
    pub fn get_or_insert(
        &mut self,
        key: &[u8],
        now: i64,
        make: impl FnOnce() -> Value,
    ) -> &mut Entry {
        // Delete an expired key first, so it is created afresh.
        let _ = self.get(key, now);
        let id = self.next_id + 1;
        match self.map.entry(Bytes::copy_from_slice(key)) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                self.next_id = id;
                self.by_id.insert(id, v.key().clone());
                v.insert(Entry { value: make(), id, expire_at: None })
            }
        }
    }

    fn insert_new(&mut self, key: &[u8], value: Value) {
        self.next_id += 1;
        let id = self.next_id;
        let key = Bytes::copy_from_slice(key);
        self.by_id.insert(id, key.clone());
        self.map.insert(key, Entry { value, id, expire_at: None });
    }

    /// Sets `key` to `value`. An existing key keeps its SCAN place, and its TTL only
    /// if `keep_ttl` (SET KEEPTTL, INCR, APPEND keep it; SET and MSET drop it).
    pub fn put(&mut self, key: &[u8], value: Value, keep_ttl: bool, now: i64) {
        match self.get(key, now) {
            Some(e) => e.value = value,
            None => return self.insert_new(key, value),
        }
        if !keep_ttl {
            self.set_expire(key, None);
        }
    }

    /// Sets or clears the expiry of an existing key; returns whether it had one.
    pub fn set_expire(&mut self, key: &[u8], at: Option<i64>) -> bool {
        let Some(e) = self.map.get_mut(key) else { return false };
        let old = std::mem::replace(&mut e.expire_at, at);
        if let Some(t) = old {
            self.expiries.remove(&(t, e.id));
        }
        if let Some(t) = at {
            self.expiries.insert((t, e.id));
        }
        old.is_some()
    }

    /// Deletes `key`; true if it was there (expired or not).
    pub fn remove(&mut self, key: &[u8]) -> bool {
        let Some(e) = self.map.remove(key) else { return false };
        self.by_id.remove(&e.id);
        if let Some(t) = e.expire_at {
            self.expiries.remove(&(t, e.id));
        }
        true
    }

    /// Deletes every key (FLUSHALL). Ids keep growing, so an old cursor stays valid.
    pub fn clear(&mut self) {
        self.map.clear();
        self.by_id.clear();
        self.expiries.clear();
    }

    /// Deletes up to `limit` expired keys, soonest first (the active sweep).
    pub fn purge_expired(&mut self, now: i64, limit: usize) {
        for _ in 0..limit {
            let Some(&(t, id)) = self.expiries.first() else { return };
            if now <= t {
                return;
            }
            self.expiries.remove(&(t, id));
            match self.by_id.get(&id).cloned() {
                Some(key) => {
                    self.remove(&key);
                }
                None => continue,
            }
        }
    }

    /// The number of live keys (DBSIZE): expired ones are deleted first.
    pub fn len(&mut self, now: i64) -> usize {
        self.purge_expired(now, usize::MAX);
        self.map.len()
    }

    /// The number of live keys with a TTL (INFO's `expires=`).
    pub fn expires(&mut self, now: i64) -> usize {
        self.purge_expired(now, usize::MAX);
        self.expiries.len()
    }

    /// Every live key, in SCAN order.
    pub fn keys(&mut self, now: i64) -> Vec<Bytes> {
        self.purge_expired(now, usize::MAX);
        self.by_id.values().cloned().collect()
    }

    /// One SCAN step: visits up to `count` keys from `cursor` and returns the next
    /// cursor (0 when done) and the keys visited, expired ones included (the caller
    /// filters, as Redis does).
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<Bytes>) {
        let mut keys = Vec::new();
        let mut next = 0;
        let mut it = self.by_id.range(cursor..);
        for (&id, key) in it.by_ref().take(count) {
            keys.push(key.clone());
            next = id.saturating_add(1);
        }
        if it.next().is_none() {
            next = 0;
        }
        (next, keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(v.as_bytes().to_vec())
    }

    #[test]
    fn lazy_and_active_expiry() {
        let mut db = Store::default();
        db.put(b"a", s("1"), false, 1000);
        db.put(b"b", s("2"), false, 1000);
        db.set_expire(b"a", Some(1500));
        assert!(db.exists(b"a", 1500), "still there at its expiry time");
        assert!(!db.exists(b"a", 1501), "gone once the clock is past it");
        assert_eq!(db.len(1501), 1);

        db.set_expire(b"b", Some(2000));
        assert_eq!(db.expires(1999), 1);
        db.purge_expired(2001, 10);
        assert_eq!(db.len(2001), 0);
        assert_eq!(db.expires(2001), 0);
    }

    #[test]
    fn overwrite_keeps_or_drops_ttl() {
        let mut db = Store::default();
        db.put(b"k", s("1"), false, 0);
        db.set_expire(b"k", Some(100));
        db.put(b"k", s("2"), true, 0);
        assert_eq!(db.get(b"k", 0).and_then(|e| e.expire_at()), Some(100));
        db.put(b"k", s("3"), false, 0);
        assert_eq!(db.get(b"k", 0).and_then(|e| e.expire_at()), None);
        assert_eq!(db.expires(0), 0);
    }

    /// Keys present for a whole SCAN are returned, whatever happens in between.
    #[test]
    fn scan_sees_every_stable_key() {
        let mut db = Store::default();
        for i in 0..100 {
            db.put(format!("stable{i}").as_bytes(), s("x"), false, 0);
            db.put(format!("churn{i}").as_bytes(), s("x"), false, 0);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            let (next, keys) = db.scan(cursor, 7);
            seen.extend(keys);
            // Churn between calls: delete, re-add, overwrite and add keys.
            db.remove(format!("churn{round}").as_bytes());
            db.put(format!("churn{}", round + 50).as_bytes(), s("y"), false, 0);
            db.put(format!("stable{round}").as_bytes(), s("z"), false, 0);
            db.put(format!("new{round}").as_bytes(), s("n"), false, 0);
            round += 1;
            if next == 0 {
                break;
            }
            cursor = next;
        }
        for i in 0..100 {
            assert!(seen.contains(format!("stable{i}").as_bytes()), "stable{i} missed");
        }
    }
}
