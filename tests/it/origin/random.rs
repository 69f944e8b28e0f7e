//! Seeded random command sequences over a few colliding keys, so that commands meet
//! each other's leftovers (wrong types, TTLs, deleted fields) in ways a hand-written
//! corpus does not think of. Deterministic: the same seeds every run.

use super::{Diff, differential};

/// xorshift64*: small, deterministic, good enough to pick test inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const KEYS: &[&str] = &["a", "b", "c", "h1", "h2", ""];
/// Keys INCRBYFLOAT works on: only numbers are ever stored there (no APPEND, whose
/// concatenations make decimals with more digits than `f64` keeps).
const FLOAT_KEYS: &[&str] = &["f", "g"];
const FIELDS: &[&str] = &["f", "g", "n", ""];
/// Values and increments stay small: INCRBYFLOAT may run on any key, and past 2^53,
/// or with more than 15 digits, `f64` cannot print what Redis's `long double` does
/// (the limits of 64-bit integers are covered by the hand-written corpus).
const VALUES: &[&str] = &["0", "1", "-1", "10", "abc", "", "1.5", " 1", "01", "0x10", "5e-1"];
const INTS: &[&str] = &["1", "-1", "0", "100", "-100", "x", "1.5"];
/// Increments whose sums stay exact in both `long double` and `f64`.
const FLOATS: &[&str] = &["0.5", "-1.25", "3", "1e3", "0x10", "-0", "abc", "inf"];
/// Expiry arguments that are far from "now", so the two sides cannot disagree by a
/// few milliseconds of scheduling.
const SECONDS: &[&str] = &["100", "100000", "0", "-1", "abc"];
const MILLIS: &[&str] = &["100000", "100000000", "0", "-5", "x"];
const AT_SECONDS: &[&str] = &["1", "4102444800", "4102444900"];
const AT_MILLIS: &[&str] = &["1", "4102444800000", "4102444900000"];
const PATTERNS: &[&str] = &["*", "h*", "?", "[ab]", "[^a]*", "*1", "\\a", ""];

fn set_options(r: &mut Rng, args: &mut Vec<String>, getex: bool) {
    for _ in 0..r.below(3) {
        let opt = if getex {
            r.pick(&["EX", "PX", "EXAT", "PXAT", "PERSIST", "NX"])
        } else {
            r.pick(&["NX", "XX", "GET", "KEEPTTL", "EX", "PX", "EXAT", "PXAT", "nx", "get"])
        };
        args.push(opt.to_string());
        let value = match opt {
            "EX" => Some(r.pick(SECONDS)),
            "PX" => Some(r.pick(MILLIS)),
            "EXAT" => Some(r.pick(AT_SECONDS)),
            "PXAT" => Some(r.pick(AT_MILLIS)),
            _ => None,
        };
        if let Some(v) = value {
            args.push(v.to_string());
        }
    }
}

/// How a reply is compared.
enum How {
    Exact,
    Sorted,
    Scan,
    Near(i64),
    /// DBSIZE: Redis also counts keys that have expired but that nothing has touched
    /// since (its active expiry reclaims them within a few hundred ms); the origin
    /// never counts an expired key. So the origin's count may only be lower.
    AtMost,
}

/// One random command, run on both sides and compared.
fn step(r: &mut Rng, d: &mut Diff) {
    use How::*;
    let k = r.pick(KEYS);
    let mut a: Vec<String> = Vec::new();
    fn push(a: &mut Vec<String>, parts: &[&str]) {
        a.extend(parts.iter().map(|s| s.to_string()));
    }
    let how = match r.below(34) {
        0 => {
            push(&mut a, &["GET", k]);
            Exact
        }
        1 | 2 => {
            let k = if r.below(4) == 0 { r.pick(FLOAT_KEYS) } else { k };
            push(&mut a, &["SET", k, r.pick(VALUES)]);
            set_options(r, &mut a, false);
            Exact
        }
        3 => {
            push(&mut a, &["MGET", k, r.pick(KEYS), r.pick(KEYS)]);
            Exact
        }
        4 => {
            push(&mut a, &["MSET", k, r.pick(VALUES), r.pick(KEYS), r.pick(VALUES)]);
            Exact
        }
        5 => {
            let k = if r.below(2) == 0 { r.pick(FLOAT_KEYS) } else { k };
            push(&mut a, &[r.pick(&["INCR", "DECR"]), k]);
            Exact
        }
        6 => {
            let k = if r.below(2) == 0 { r.pick(FLOAT_KEYS) } else { k };
            push(&mut a, &[r.pick(&["INCRBY", "DECRBY"]), k, r.pick(INTS)]);
            Exact
        }
        7 => {
            push(&mut a, &["INCRBYFLOAT", r.pick(FLOAT_KEYS), r.pick(FLOATS)]);
            Exact
        }
        8 => {
            push(&mut a, &["APPEND", k, r.pick(VALUES)]);
            Exact
        }
        9 => {
            push(&mut a, &[r.pick(&["STRLEN", "GETDEL", "TYPE", "PERSIST"]), k]);
            Exact
        }
        10 | 11 => {
            push(&mut a, &["GETEX", k]);
            set_options(r, &mut a, true);
            Exact
        }
        12 => {
            push(&mut a, &["SETNX", k, r.pick(VALUES)]);
            Exact
        }
        13 => {
            push(&mut a, &[r.pick(&["DEL", "UNLINK", "EXISTS"]), k, r.pick(KEYS)]);
            Exact
        }
        14 => {
            // GT and LT only with absolute times (below): two relative times set a
            // millisecond apart on one side may land in the same millisecond on the other.
            let flag = r.pick(&["NX", "XX"]);
            push(&mut a, &["EXPIRE", k, r.pick(SECONDS), flag]);
            Exact
        }
        15 => {
            push(&mut a, &["EXPIREAT", k, r.pick(AT_SECONDS), r.pick(&["GT", "LT", "XX"])]);
            Exact
        }
        16 => {
            push(&mut a, &["PEXPIRE", k, r.pick(MILLIS)]);
            Exact
        }
        17 => {
            push(&mut a, &["PEXPIREAT", k, r.pick(AT_MILLIS)]);
            Exact
        }
        18 => {
            push(&mut a, &["TTL", k]);
            Near(1)
        }
        19 => {
            push(&mut a, &["PTTL", k]);
            Near(1000)
        }
        20 => {
            push(&mut a, &[r.pick(&["EXPIRETIME", "PEXPIRETIME"]), k]);
            Near(1000)
        }
        21 => {
            push(&mut a, &["DBSIZE"]);
            AtMost
        }
        22 => {
            push(&mut a, &["KEYS", r.pick(PATTERNS)]);
            Sorted
        }
        23..=25 => {
            push(&mut a, &[r.pick(&["HSET", "HMSET"]), k, r.pick(FIELDS), r.pick(VALUES)]);
            if r.below(2) == 0 {
                push(&mut a, &[r.pick(FIELDS), r.pick(VALUES)]);
            }
            Exact
        }
        26 => {
            push(&mut a, &["HGET", k, r.pick(FIELDS)]);
            Exact
        }
        27 => {
            push(&mut a, &["HMGET", k, r.pick(FIELDS), r.pick(FIELDS)]);
            Exact
        }
        28 => {
            push(&mut a, &[r.pick(&["HGETALL", "HKEYS", "HVALS", "HLEN"]), k]);
            Exact
        }
        29 => {
            push(&mut a, &["HDEL", k, r.pick(FIELDS), r.pick(FIELDS)]);
            Exact
        }
        30 => {
            push(&mut a, &["HEXISTS", k, r.pick(FIELDS)]);
            Exact
        }
        31 => {
            push(&mut a, &["HINCRBY", k, r.pick(FIELDS), r.pick(INTS)]);
            Exact
        }
        32 => {
            push(&mut a, &["SCAN", "0", "COUNT", "100", "MATCH", r.pick(PATTERNS)]);
            Scan
        }
        _ => {
            // Rare: start over.
            if r.below(4) == 0 {
                push(&mut a, &[r.pick(&["FLUSHALL", "FLUSHDB"])]);
            } else {
                push(&mut a, &["SELECT", r.pick(&["0", "1"])]);
            }
            Exact
        }
    };
    match how {
        Exact => {
            d.ex(&a);
        }
        Sorted => d.sorted(&a),
        Scan => d.scan(&a),
        Near(tolerance) => d.near(&a, tolerance),
        AtMost => {
            let (real, ours) = d.both(&a);
            let int = |r: &[u8]| {
                String::from_utf8_lossy(r).trim_matches(&[':', '\r', '\n'][..]).parse::<i64>().ok()
            };
            if !matches!((int(&real), int(&ours)), (Some(r), Some(o)) if o <= r) {
                d.fail(format!("DBSIZE: redis {real:?}, origin {ours:?}"));
            }
        }
    }
}

#[test]
fn random_sequences() {
    differential(&[], |d| {
        for seed in 1u64..=8 {
            let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            for _ in 0..2000 {
                step(&mut r, d);
            }
        }
    });
}
