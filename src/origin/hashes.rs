//! Hashes, following Redis 7.0's `t_hash.c`, and the hash value itself.

use std::collections::HashMap;

use bytes::Bytes;

use super::store::{Store, Value};
use super::{Ctx, NOT_INTEGER, OVERFLOW, WRONGTYPE};
use crate::protocol::{ReplyBuf, string2ll};

/// Redis's default `hash-max-listpack-entries`: more fields make a hashtable.
const LISTPACK_ENTRIES: usize = 128;
/// Redis's default `hash-max-listpack-value`: a longer field or value makes a hashtable.
const LISTPACK_VALUE: usize = 64;

/// A hash value, ordered as Redis orders it.
///
/// While small (Redis's listpack encoding) fields stay in insertion order, an update
/// keeps a field's place and a delete closes the gap, so HGETALL reads exactly as
/// Redis's does. Past the listpack limits Redis converts to a hashtable, for good,
/// and its order is arbitrary; this then indexes the fields and deletes by swapping
/// the last field into the gap.
#[derive(Debug, Default)]
pub struct Hash {
    fields: Vec<(Bytes, Vec<u8>)>,
    /// Field to position, present once the hash has become a "hashtable".
    index: Option<HashMap<Bytes, usize, ahash::RandomState>>,
}

impl Hash {
    fn position(&self, field: &[u8]) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(field).copied(),
            None => self.fields.iter().position(|(f, _)| f[..] == *field),
        }
    }

    /// Switches to the hashtable layout (Redis's `hashTypeConvert`).
    fn convert(&mut self) {
        if self.index.is_none() {
            let index = self.fields.iter().enumerate().map(|(i, (f, _))| (f.clone(), i)).collect();
            self.index = Some(index);
        }
    }

    /// Converts now if a field or value this long is about to be written.
    fn prepare(&mut self, len: usize) {
        if len > LISTPACK_VALUE {
            self.convert();
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.position(field).and_then(|i| self.fields.get(i)).map(|(_, v)| &v[..])
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Sets `field` to `value`; true if the field is new.
    pub fn set(&mut self, field: &[u8], value: Vec<u8>) -> bool {
        self.prepare(field.len().max(value.len()));
        if let Some(slot) = self.position(field).and_then(|i| self.fields.get_mut(i)) {
            slot.1 = value;
            return false;
        }
        let field = Bytes::copy_from_slice(field);
        if let Some(index) = &mut self.index {
            index.insert(field.clone(), self.fields.len());
        }
        self.fields.push((field, value));
        if self.fields.len() > LISTPACK_ENTRIES {
            self.convert();
        }
        true
    }

    /// Deletes `field`; true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        let Some(i) = self.position(field).filter(|&i| i < self.fields.len()) else {
            return false;
        };
        match &mut self.index {
            None => {
                self.fields.remove(i);
            }
            Some(index) => {
                index.remove(field);
                self.fields.swap_remove(i);
                if let Some((moved, _)) = self.fields.get(i) {
                    index.insert(moved.clone(), i);
                }
            }
        }
        true
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.fields.iter().map(|(f, v)| (&f[..], &v[..]))
    }
}

/// The hash at `key` for writing, created if missing; `None` after a WRONGTYPE error.
///
/// Takes the context's parts, not the context, so the reply can be written while the
/// hash is borrowed.
fn hash_for_write<'c>(
    db: &'c mut Store,
    out: &mut ReplyBuf,
    now: i64,
    key: &[u8],
) -> Option<&'c mut Hash> {
    match &mut db.get_or_insert(key, now, || Value::Hash(Hash::default())).value {
        Value::Hash(h) => Some(h),
        _ => {
            out.error(WRONGTYPE);
            None
        }
    }
}

/// The hash at `key` for reading: `Ok(None)` if there is no key, `Err` after a
/// WRONGTYPE error.
fn hash_for_read<'c>(
    db: &'c mut Store,
    out: &mut ReplyBuf,
    now: i64,
    key: &[u8],
) -> Result<Option<&'c Hash>, ()> {
    match db.get(key, now).map(|e| &e.value) {
        None => Ok(None),
        Some(Value::Hash(h)) => Ok(Some(h)),
        Some(_) => {
            out.error(WRONGTYPE);
            Err(())
        }
    }
}

/// HSET and HMSET: same work, different reply.
fn set_fields(cx: &mut Ctx<'_>, args: &[Bytes], name: &str) -> Option<i64> {
    if !args.len().is_multiple_of(2) {
        cx.out.error(format!("ERR wrong number of arguments for '{name}' command"));
        return None;
    }
    let hash = hash_for_write(cx.db, cx.out, cx.now, &args[1])?;
    // Like `hashTypeTryConversion`: one long argument converts before any write.
    hash.prepare(args[2..].iter().map(|a| a.len()).max().unwrap_or(0));
    let created = args[2..].chunks_exact(2).filter(|p| hash.set(&p[0], p[1].to_vec())).count();
    Some(created as i64)
}

pub(super) fn hset(cx: &mut Ctx<'_>, args: &[Bytes]) {
    if let Some(created) = set_fields(cx, args, "hset") {
        cx.out.int(created);
    }
}

pub(super) fn hmset(cx: &mut Ctx<'_>, args: &[Bytes]) {
    if set_fields(cx, args, "hmset").is_some() {
        cx.out.ok();
    }
}

pub(super) fn hget(cx: &mut Ctx<'_>, args: &[Bytes]) {
    let Ok(hash) = hash_for_read(cx.db, cx.out, cx.now, &args[1]) else { return };
    match hash.and_then(|h| h.get(&args[2])) {
        Some(v) => cx.out.bulk(v),
        None => cx.out.null(),
    };
}

pub(super) fn hmget(cx: &mut Ctx<'_>, args: &[Bytes]) {
    let Ok(hash) = hash_for_read(cx.db, cx.out, cx.now, &args[1]) else { return };
    cx.out.array(args.len() - 2);
    for field in &args[2..] {
        match hash.and_then(|h| h.get(field)) {
            Some(v) => cx.out.bulk(v),
            None => cx.out.null(),
        };
    }
}

/// HGETALL, HKEYS and HVALS. A missing key reads as an empty map for HGETALL and
/// an empty array for the others, as in Redis.
fn get_all(cx: &mut Ctx<'_>, key: &[u8], keys: bool, values: bool) {
    let Ok(hash) = hash_for_read(cx.db, cx.out, cx.now, key) else { return };
    let len = hash.map_or(0, Hash::len);
    if keys && values {
        cx.out.map(len);
    } else {
        cx.out.array(len);
    }
    for (f, v) in hash.into_iter().flat_map(Hash::iter) {
        if keys {
            cx.out.bulk(f);
        }
        if values {
            cx.out.bulk(v);
        }
    }
}

pub(super) fn hgetall(cx: &mut Ctx<'_>, args: &[Bytes]) {
    get_all(cx, &args[1], true, true);
}

pub(super) fn hkeys(cx: &mut Ctx<'_>, args: &[Bytes]) {
    get_all(cx, &args[1], true, false);
}

pub(super) fn hvals(cx: &mut Ctx<'_>, args: &[Bytes]) {
    get_all(cx, &args[1], false, true);
}

pub(super) fn hlen(cx: &mut Ctx<'_>, args: &[Bytes]) {
    let Ok(hash) = hash_for_read(cx.db, cx.out, cx.now, &args[1]) else { return };
    let len = hash.map_or(0, Hash::len);
    cx.out.int(len as i64);
}

pub(super) fn hexists(cx: &mut Ctx<'_>, args: &[Bytes]) {
    let Ok(hash) = hash_for_read(cx.db, cx.out, cx.now, &args[1]) else { return };
    let found = hash.is_some_and(|h| h.get(&args[2]).is_some());
    cx.out.int(i64::from(found));
}

/// HDEL: deleting the last field deletes the key.
pub(super) fn hdel(cx: &mut Ctx<'_>, args: &[Bytes]) {
    let key = &args[1];
    let (deleted, empty) = match cx.db.get(key, cx.now).map(|e| &mut e.value) {
        None => (0, false),
        Some(Value::Hash(h)) => {
            let mut deleted = 0;
            for field in &args[2..] {
                if h.remove(field) {
                    deleted += 1;
                    if h.len() == 0 {
                        break;
                    }
                }
            }
            (deleted, h.len() == 0)
        }
        Some(_) => return cx.error(WRONGTYPE),
    };
    if empty {
        cx.db.remove(key);
    }
    cx.out.int(deleted);
}

pub(super) fn hincrby(cx: &mut Ctx<'_>, args: &[Bytes]) {
    let Some(by) = string2ll(&args[3]) else { return cx.error(NOT_INTEGER) };
    let Some(hash) = hash_for_write(cx.db, cx.out, cx.now, &args[1]) else { return };
    let current = match hash.get(&args[2]) {
        None => 0,
        Some(v) => match string2ll(v) {
            Some(n) => n,
            None => {
                cx.out.error("ERR hash value is not an integer");
                return;
            }
        },
    };
    let Some(new) = current.checked_add(by) else {
        cx.out.error(OVERFLOW);
        return;
    };
    let mut digits = itoa::Buffer::new();
    hash.set(&args[2], digits.format(new).as_bytes().to_vec());
    cx.out.int(new);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(h: &Hash) -> Vec<String> {
        h.iter().map(|(f, _)| String::from_utf8_lossy(f).into_owned()).collect()
    }

    #[test]
    fn small_hash_keeps_insertion_order() {
        let mut h = Hash::default();
        for f in ["a", "b", "c", "d"] {
            assert!(h.set(f.as_bytes(), b"1".to_vec()));
        }
        assert!(!h.set(b"b", b"2".to_vec()), "update is not new");
        assert!(h.remove(b"b"));
        assert!(!h.remove(b"b"));
        h.set(b"b", b"3".to_vec());
        assert_eq!(fields(&h), ["a", "c", "d", "b"]);
        assert!(h.index.is_none());
    }

    #[test]
    fn converts_like_redis() {
        let mut h = Hash::default();
        for i in 0..LISTPACK_ENTRIES {
            h.set(format!("f{i}").as_bytes(), b"v".to_vec());
        }
        assert!(h.index.is_none(), "128 fields still fit a listpack");
        h.set(b"one-more", b"v".to_vec());
        assert!(h.index.is_some());

        let mut h = Hash::default();
        h.set(b"f", vec![b'x'; LISTPACK_VALUE]);
        assert!(h.index.is_none(), "64 bytes still fit");
        h.set(b"g", vec![b'x'; LISTPACK_VALUE + 1]);
        assert!(h.index.is_some());

        // Deleting from a hashtable keeps the index right.
        for i in 0..10 {
            h.set(format!("f{i}").as_bytes(), format!("{i}").into_bytes());
        }
        assert!(h.remove(b"f"));
        assert!(h.remove(b"f3"));
        for i in (0..10).filter(|&i| i != 3) {
            assert_eq!(h.get(format!("f{i}").as_bytes()), Some(format!("{i}").as_bytes()));
        }
        assert_eq!(h.len(), 10);
    }
}
