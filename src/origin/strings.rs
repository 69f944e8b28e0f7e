//! String commands, following Redis 7.0's `t_string.c`.

use bytes::Bytes;

use super::number::{format_ld, is_opt, parse_ld};
use super::store::Value;
use super::{Ctx, NOT_FLOAT, NOT_INTEGER, OVERFLOW, SYNTAX, WRONGTYPE};
use crate::protocol::string2ll;

/// Redis's default `proto-max-bulk-len`: APPEND may not grow a string past it.
const MAX_STRING: usize = 512 * 1024 * 1024;

/// Which expiry option was given (they exclude each other).
#[derive(Clone, Copy, PartialEq, Eq)]
enum ExpireKind {
    Ex,
    Px,
    ExAt,
    PxAt,
}

/// The options of SET and GETEX, as `parseExtendedStringArgumentsOrReply` reads them.
#[derive(Default)]
struct SetOptions<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keep_ttl: bool,
    persist: bool,
    expire: Option<(ExpireKind, &'a [u8])>,
}

/// Reads SET options (`is_set`) or GETEX options from `args[start..]`.
///
/// Redis's rules exactly: the same option may repeat (the last value wins), options
/// that contradict each other are a syntax error, and an option is compared as a C
/// string, so `NX\0junk` reads as `NX`.
fn parse_options(args: &[Bytes], start: usize, is_set: bool) -> Option<SetOptions<'_>> {
    use ExpireKind::*;
    let mut o = SetOptions::default();
    let mut j = start;
    while j < args.len() {
        let opt = &args[j][..];
        let next = args.get(j + 1).map(|b| &b[..]);
        let kind = o.expire.map(|(k, _)| k);
        // An expiry option is allowed if no other kind of expiry, KEEPTTL or PERSIST
        // came before it.
        let expiry_ok = |k: ExpireKind| {
            !o.keep_ttl && !o.persist && kind.is_none_or(|prev| prev == k) && next.is_some()
        };
        if is_set && is_opt(opt, "nx") && !o.xx {
            o.nx = true;
        } else if is_set && is_opt(opt, "xx") && !o.nx {
            o.xx = true;
        } else if is_set && is_opt(opt, "get") {
            o.get = true;
        } else if is_set && is_opt(opt, "keepttl") && !o.persist && kind.is_none() {
            o.keep_ttl = true;
        } else if !is_set && is_opt(opt, "persist") && kind.is_none() && !o.keep_ttl {
            o.persist = true;
        } else if let Some(k) = [("ex", Ex), ("px", Px), ("exat", ExAt), ("pxat", PxAt)]
            .into_iter()
            .find(|(name, _)| is_opt(opt, name))
            .map(|(_, k)| k)
            .filter(|&k| expiry_ok(k))
        {
            o.expire = next.map(|n| (k, n));
            j += 1;
        } else {
            return None;
        }
        j += 1;
    }
    Some(o)
}

/// The absolute expiry (Unix ms) for an option, or Redis's error text
/// (`getExpireMillisecondsOrReply`).
fn expire_at(kind: ExpireKind, arg: &[u8], now: i64, command: &str) -> Result<i64, String> {
    let invalid = || format!("ERR invalid expire time in '{command}' command");
    let Some(v) = string2ll(arg) else { return Err(NOT_INTEGER.to_string()) };
    let seconds = matches!(kind, ExpireKind::Ex | ExpireKind::ExAt);
    if v <= 0 || (seconds && v > i64::MAX / 1000) {
        return Err(invalid());
    }
    let mut ms = if seconds { v * 1000 } else { v };
    if matches!(kind, ExpireKind::Ex | ExpireKind::Px) {
        // Redis adds in C and then checks the sign, so an overflow is refused.
        ms = ms.wrapping_add(now);
    }
    if ms <= 0 { Err(invalid()) } else { Ok(ms) }
}

/// Replies with the string at `key` (or null); false after a WRONGTYPE error
/// (`getGenericCommand`).
fn reply_get(cx: &mut Ctx<'_>, key: &[u8]) -> bool {
    match cx.db.get(key, cx.now).map(|e| &e.value) {
        None => {
            cx.out.null();
        }
        Some(Value::Str(s)) => {
            cx.out.bulk(s);
        }
        Some(_) => {
            cx.error(WRONGTYPE);
            return false;
        }
    }
    true
}

pub(super) fn get(cx: &mut Ctx<'_>, args: &[Bytes]) {
    reply_get(cx, &args[1]);
}

pub(super) fn set(cx: &mut Ctx<'_>, args: &[Bytes]) {
    let Some(o) = parse_options(args, 3, true) else { return cx.error(SYNTAX) };
    let mut when = None;
    if let Some((kind, arg)) = o.expire {
        match expire_at(kind, arg, cx.now, "set") {
            Ok(ms) => when = Some(ms),
            Err(e) => return cx.error(e),
        }
    }
    if o.get && !reply_get(cx, &args[1]) {
        return;
    }
    let found = cx.db.exists(&args[1], cx.now);
    if (o.nx && found) || (o.xx && !found) {
        if !o.get {
            cx.out.null();
        }
        return;
    }
    cx.db.put(&args[1], Value::Str(args[2].to_vec()), o.keep_ttl, cx.now);
    if !o.get {
        cx.out.ok();
    }
    if when.is_some() {
        cx.db.set_expire(&args[1], when);
    }
}

pub(super) fn setnx(cx: &mut Ctx<'_>, args: &[Bytes]) {
    if cx.db.exists(&args[1], cx.now) {
        cx.out.int(0);
    } else {
        cx.db.put(&args[1], Value::Str(args[2].to_vec()), false, cx.now);
        cx.out.int(1);
    }
}

pub(super) fn getdel(cx: &mut Ctx<'_>, args: &[Bytes]) {
    if reply_get(cx, &args[1]) {
        cx.db.remove(&args[1]);
    }
}

pub(super) fn getex(cx: &mut Ctx<'_>, args: &[Bytes]) {
    let Some(o) = parse_options(args, 2, false) else { return cx.error(SYNTAX) };
    let key = &args[1];
    match cx.db.get(key, cx.now).map(|e| &e.value) {
        None => {
            cx.out.null();
            return;
        }
        Some(Value::Str(_)) => {}
        Some(_) => return cx.error(WRONGTYPE),
    }
    // The expiry is checked only once the key is known to be a string.
    let mut when = None;
    if let Some((kind, arg)) = o.expire {
        match expire_at(kind, arg, cx.now, "getex") {
            Ok(ms) => when = Some((kind, ms)),
            Err(e) => return cx.error(e),
        }
    }
    reply_get(cx, key);
    match when {
        // An absolute time already past deletes the key at once.
        Some((ExpireKind::ExAt | ExpireKind::PxAt, ms)) if ms <= cx.now => {
            cx.db.remove(key);
        }
        Some((_, ms)) => {
            cx.db.set_expire(key, Some(ms));
        }
        None if o.persist => {
            cx.db.set_expire(key, None);
        }
        None => {}
    }
}

pub(super) fn mget(cx: &mut Ctx<'_>, args: &[Bytes]) {
    cx.out.array(args.len() - 1);
    for key in &args[1..] {
        match cx.db.get(key, cx.now).map(|e| &e.value) {
            Some(Value::Str(s)) => cx.out.bulk(s),
            _ => cx.out.null(),
        };
    }
}

pub(super) fn mset(cx: &mut Ctx<'_>, args: &[Bytes]) {
    if args.len().is_multiple_of(2) {
        return cx.error("ERR wrong number of arguments for 'mset' command");
    }
    for pair in args[1..].chunks_exact(2) {
        cx.db.put(&pair[0], Value::Str(pair[1].to_vec()), false, cx.now);
    }
    cx.out.ok();
}

/// INCR and friends (`incrDecrCommand`): the TTL is kept.
fn incr_by(cx: &mut Ctx<'_>, key: &[u8], by: i64) {
    let current = match cx.db.get(key, cx.now).map(|e| &e.value) {
        None => 0,
        Some(Value::Str(s)) => match string2ll(s) {
            Some(v) => v,
            None => return cx.error(NOT_INTEGER),
        },
        Some(_) => return cx.error(WRONGTYPE),
    };
    let Some(new) = current.checked_add(by) else { return cx.error(OVERFLOW) };
    let mut digits = itoa::Buffer::new();
    cx.db.put(key, Value::Str(digits.format(new).as_bytes().to_vec()), true, cx.now);
    cx.out.int(new);
}

pub(super) fn incr(cx: &mut Ctx<'_>, args: &[Bytes]) {
    incr_by(cx, &args[1], 1);
}

pub(super) fn decr(cx: &mut Ctx<'_>, args: &[Bytes]) {
    incr_by(cx, &args[1], -1);
}

pub(super) fn incrby(cx: &mut Ctx<'_>, args: &[Bytes]) {
    match string2ll(&args[2]) {
        Some(by) => incr_by(cx, &args[1], by),
        None => cx.error(NOT_INTEGER),
    }
}

pub(super) fn decrby(cx: &mut Ctx<'_>, args: &[Bytes]) {
    match string2ll(&args[2]) {
        Some(i64::MIN) => cx.error("ERR decrement would overflow"),
        Some(by) => incr_by(cx, &args[1], -by),
        None => cx.error(NOT_INTEGER),
    }
}

pub(super) fn incrbyfloat(cx: &mut Ctx<'_>, args: &[Bytes]) {
    let key = &args[1];
    let current = match cx.db.get(key, cx.now).map(|e| &e.value) {
        None => Some(0.0),
        Some(Value::Str(s)) => parse_ld(s),
        Some(_) => return cx.error(WRONGTYPE),
    };
    let (Some(current), Some(by)) = (current, parse_ld(&args[2])) else {
        return cx.error(NOT_FLOAT);
    };
    let new = current + by;
    if !new.is_finite() {
        return cx.error("ERR increment would produce NaN or Infinity");
    }
    let text = format_ld(new);
    cx.db.put(key, Value::Str(text.as_bytes().to_vec()), true, cx.now);
    cx.out.bulk(text.as_bytes());
}

pub(super) fn append(cx: &mut Ctx<'_>, args: &[Bytes]) {
    let len = match cx.db.get(&args[1], cx.now).map(|e| &mut e.value) {
        None => {
            cx.db.put(&args[1], Value::Str(args[2].to_vec()), false, cx.now);
            args[2].len()
        }
        Some(Value::Str(s)) => {
            if s.len().saturating_add(args[2].len()) > MAX_STRING {
                return cx.error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
            }
            s.extend_from_slice(&args[2]);
            s.len()
        }
        Some(_) => return cx.error(WRONGTYPE),
    };
    cx.out.int(len as i64);
}

pub(super) fn strlen(cx: &mut Ctx<'_>, args: &[Bytes]) {
    let len = match cx.db.get(&args[1], cx.now).map(|e| &e.value) {
        None => 0,
        Some(Value::Str(s)) => s.len(),
        Some(_) => return cx.error(WRONGTYPE),
    };
    cx.out.int(len as i64);
}
