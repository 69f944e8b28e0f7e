//! Keyspace commands, following Redis 7.0's `db.c` and `expire.c`.

use bytes::Bytes;

use super::number::{cstr, is_opt, parse_cursor};
use super::{Ctx, NOT_INTEGER, SYNTAX, glob};
use crate::protocol::string2ll;

/// SCAN's default COUNT.
const SCAN_COUNT: i64 = 10;

/// DEL and UNLINK (the same here: freeing is never slow enough to defer).
pub(super) fn del(cx: &mut Ctx<'_>, args: &[Bytes]) {
    let mut n = 0;
    for key in &args[1..] {
        if cx.db.exists(key, cx.now) {
            cx.db.remove(key);
            n += 1;
        }
    }
    cx.out.int(n);
}

/// EXISTS: a key named twice counts twice.
pub(super) fn exists(cx: &mut Ctx<'_>, args: &[Bytes]) {
    let n = args[1..].iter().filter(|k| cx.db.exists(k, cx.now)).count();
    cx.out.int(n as i64);
}

pub(super) fn expire(cx: &mut Ctx<'_>, args: &[Bytes]) {
    expire_generic(cx, args, true, true, "expire");
}

pub(super) fn pexpire(cx: &mut Ctx<'_>, args: &[Bytes]) {
    expire_generic(cx, args, true, false, "pexpire");
}

pub(super) fn expireat(cx: &mut Ctx<'_>, args: &[Bytes]) {
    expire_generic(cx, args, false, true, "expireat");
}

pub(super) fn pexpireat(cx: &mut Ctx<'_>, args: &[Bytes]) {
    expire_generic(cx, args, false, false, "pexpireat");
}

/// The EXPIRE family (`expireGenericCommand`): options first, then the time, then
/// the key; a time already past deletes the key and still answers 1.
fn expire_generic(cx: &mut Ctx<'_>, args: &[Bytes], relative: bool, seconds: bool, name: &str) {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in &args[3..] {
        if is_opt(opt, "nx") {
            nx = true;
        } else if is_opt(opt, "xx") {
            xx = true;
        } else if is_opt(opt, "gt") {
            gt = true;
        } else if is_opt(opt, "lt") {
            lt = true;
        } else {
            let mut msg = b"ERR Unsupported option ".to_vec();
            msg.extend_from_slice(cstr(opt));
            return cx.error(msg);
        }
    }
    if nx && (xx || gt || lt) {
        return cx.error("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if gt && lt {
        return cx.error("ERR GT and LT options at the same time are not compatible");
    }
    let Some(mut when) = string2ll(&args[2]) else { return cx.error(NOT_INTEGER) };
    let invalid = format!("ERR invalid expire time in '{name}' command");
    if seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return cx.error(invalid);
        }
        when *= 1000;
    }
    let base = if relative { cx.now.max(0) } else { 0 };
    if when > i64::MAX - base {
        return cx.error(invalid);
    }
    when += base;

    let key = &args[1];
    let Some(entry) = cx.db.get(key, cx.now) else {
        cx.out.int(0);
        return;
    };
    let current = entry.expire_at();
    let refused = (nx && current.is_some())
        || (xx && current.is_none())
        || (gt && current.is_none_or(|c| when <= c))
        || (lt && current.is_some_and(|c| when >= c));
    if refused {
        cx.out.int(0);
    } else if when <= cx.now {
        cx.db.remove(key);
        cx.out.int(1);
    } else {
        cx.db.set_expire(key, Some(when));
        cx.out.int(1);
    }
}

/// TTL and PTTL: -2 for no key, -1 for no expiry, else what is left (TTL rounds).
fn ttl_generic(cx: &mut Ctx<'_>, args: &[Bytes], ms: bool) {
    let reply = match cx.db.get(&args[1], cx.now) {
        None => -2,
        Some(e) => match e.expire_at() {
            None => -1,
            Some(at) => {
                let left = at.saturating_sub(cx.now).max(0);
                if ms { left } else { left.saturating_add(500) / 1000 }
            }
        },
    };
    cx.out.int(reply);
}

pub(super) fn ttl(cx: &mut Ctx<'_>, args: &[Bytes]) {
    ttl_generic(cx, args, false);
}

pub(super) fn pttl(cx: &mut Ctx<'_>, args: &[Bytes]) {
    ttl_generic(cx, args, true);
}

/// EXPIRETIME and PEXPIRETIME: the absolute expiry, -2 for no key, -1 for none.
fn expiretime_generic(cx: &mut Ctx<'_>, args: &[Bytes], ms: bool) {
    let reply = match cx.db.get(&args[1], cx.now) {
        None => -2,
        Some(e) => match e.expire_at() {
            None => -1,
            Some(at) => {
                if ms {
                    at
                } else {
                    at / 1000
                }
            }
        },
    };
    cx.out.int(reply);
}

pub(super) fn expiretime(cx: &mut Ctx<'_>, args: &[Bytes]) {
    expiretime_generic(cx, args, false);
}

pub(super) fn pexpiretime(cx: &mut Ctx<'_>, args: &[Bytes]) {
    expiretime_generic(cx, args, true);
}

pub(super) fn persist(cx: &mut Ctx<'_>, args: &[Bytes]) {
    let had = cx.db.exists(&args[1], cx.now) && cx.db.set_expire(&args[1], None);
    cx.out.int(i64::from(had));
}

/// TYPE (named with a trailing underscore because `type` is a keyword).
pub(super) fn type_(cx: &mut Ctx<'_>, args: &[Bytes]) {
    let name = cx.db.get(&args[1], cx.now).map_or("none", |e| e.value.type_name());
    cx.out.simple(name);
}

pub(super) fn dbsize(cx: &mut Ctx<'_>, _args: &[Bytes]) {
    let n = cx.db.len(cx.now);
    cx.out.int(n as i64);
}

/// FLUSHALL and FLUSHDB (one database, so the same): `[ASYNC|SYNC]`.
pub(super) fn flushall(cx: &mut Ctx<'_>, args: &[Bytes]) {
    let ok = match args.get(1) {
        None => true,
        Some(mode) => args.len() == 2 && (is_opt(mode, "sync") || is_opt(mode, "async")),
    };
    if !ok {
        return cx.error(SYNTAX);
    }
    cx.db.clear();
    cx.out.ok();
}

/// KEYS: every live key matching the pattern, as Redis's glob matches it.
pub(super) fn keys(cx: &mut Ctx<'_>, args: &[Bytes]) {
    let pattern = &args[1][..];
    let all = pattern == b"*";
    let keys: Vec<Bytes> =
        cx.db.keys(cx.now).into_iter().filter(|k| all || glob::matches(pattern, k)).collect();
    cx.out.array(keys.len());
    for k in &keys {
        cx.out.bulk(k);
    }
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type].
///
/// The cursor walks keys in creation order (see `Store::scan`), so every key that
/// exists for the whole iteration is returned exactly once, whatever is added,
/// removed or overwritten between calls. Cursors are not Redis's (which walk hash
/// buckets), but any cursor a client sends is safe.
pub(super) fn scan(cx: &mut Ctx<'_>, args: &[Bytes]) {
    let Some(cursor) = parse_cursor(&args[1]) else { return cx.error("ERR invalid cursor") };
    let mut count = SCAN_COUNT;
    let mut pattern: Option<&[u8]> = None;
    let mut type_name: Option<&[u8]> = None;
    let mut i = 2;
    while i < args.len() {
        let has_value = args.len() - i >= 2;
        let opt = &args[i];
        if is_opt(opt, "count") && has_value {
            let Some(n) = string2ll(&args[i + 1]) else { return cx.error(NOT_INTEGER) };
            if n < 1 {
                return cx.error(SYNTAX);
            }
            count = n;
        } else if is_opt(opt, "match") && has_value {
            // `*` matches everything, the empty key included: no filtering at all.
            pattern = Some(&args[i + 1][..]).filter(|p| *p != b"*");
        } else if is_opt(opt, "type") && has_value {
            type_name = Some(cstr(&args[i + 1]));
        } else {
            return cx.error(SYNTAX);
        }
        i += 2;
    }
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    let (next, visited) = cx.db.scan(cursor, count);
    let mut keys = Vec::with_capacity(visited.len());
    for key in visited {
        if pattern.is_some_and(|p| !glob::matches(p, &key)) {
            continue;
        }
        // Looking the key up also drops it if it has expired.
        let Some(entry) = cx.db.get(&key, cx.now) else { continue };
        if type_name.is_some_and(|t| !t.eq_ignore_ascii_case(entry.value.type_name().as_bytes())) {
            continue;
        }
        keys.push(key);
    }
    let mut digits = itoa::Buffer::new();
    cx.out.array(2).bulk(digits.format(next).as_bytes()).array(keys.len());
    for k in &keys {
        cx.out.bulk(k);
    }
}
