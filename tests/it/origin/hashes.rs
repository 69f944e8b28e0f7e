//! Hashes: HSET, HMSET, HGET, HMGET, HGETALL, HKEYS, HVALS, HDEL, HLEN, HEXISTS,
//! HINCRBY; small hashes in exact order, big ones as sets.

use super::{all_bytes, differential, pattern};

#[test]
fn small_hashes_in_order() {
    differential(&[], |d| {
        let cases: &[&[&str]] = &[
            &["HGETALL", "h"],
            &["HKEYS", "h"],
            &["HVALS", "h"],
            &["HLEN", "h"],
            &["HGET", "h", "f"],
            &["HMGET", "h", "a", "b"],
            &["HEXISTS", "h", "f"],
            &["HDEL", "h", "f"],
            &["HSET", "h", "f1", "v1", "f2", "v2", "f3", "v3"],
            &["HSET", "h", "f2", "new", "f4", "v4"],
            &["HSET", "h", "f5", "a", "f5", "b"],
            &["HGETALL", "h"],
            &["HKEYS", "h"],
            &["HVALS", "h"],
            &["HDEL", "h", "f2", "missing", "f2"],
            &["HGETALL", "h"],
            &["HSET", "h", "f2", "back"],
            &["HGETALL", "h"],
            &["HMSET", "h", "f1", "m1", "f9", "m9"],
            &["HGETALL", "h"],
            &["HLEN", "h"],
            &["HGET", "h", "f1"],
            &["HGET", "h", "nope"],
            &["HMGET", "h", "f1", "nope", "f9", "f1"],
            &["HEXISTS", "h", "f9"],
            &["HEXISTS", "h", "nope"],
            &["HSET", "h", "", ""],
            &["HGET", "h", ""],
            &["HSET", "h", "nul\0field", "nul\0value"],
            &["HGET", "h", "nul\0field"],
            &["HGET", "h", "nul"],
            &["HGETALL", "h"],
            &["HDEL", "h", "f1", "f2", "f3", "f4", "f5", "f9", "", "nul\0field"],
            &["EXISTS", "h"],
            &["HGETALL", "h"],
            &["HSET", "h"],
            &["HSET", "h", "f"],
            &["HSET", "h", "f", "v", "g"],
            &["HMSET", "h", "f"],
            &["HMSET", "h", "f", "v", "g"],
            &["EXISTS", "h"],
            &["HINCRBY", "c", "n", "5"],
            &["HINCRBY", "c", "n", "-10"],
            &["HINCRBY", "c", "n", "abc"],
            &["HINCRBY", "c", "n", ""],
            &["HINCRBY", "c", "n", "1.5"],
            &["HINCRBY", "c", "n", "9223372036854775808"],
            &["HINCRBY", "c", "n", "9223372036854775807"],
            &["HINCRBY", "c", "n", "9223372036854775807"],
            &["HINCRBY", "c", "n", "-9223372036854775808"],
            &["HINCRBY", "c", "n", "-9223372036854775808"],
            &["HGET", "c", "n"],
            &["HSET", "c", "s", "abc", "e", "", "sp", " 1", "z", "01", "neg0", "-0"],
            &["HINCRBY", "c", "s", "1"],
            &["HINCRBY", "c", "e", "1"],
            &["HINCRBY", "c", "sp", "1"],
            &["HINCRBY", "c", "z", "1"],
            &["HINCRBY", "c", "neg0", "1"],
            &["HSET", "c", "max", "9223372036854775807"],
            &["HINCRBY", "c", "max", "1"],
            &["HINCRBY", "c", "max", "0"],
            &["HINCRBY", "missing", "f", "x"],
            &["EXISTS", "missing"],
            &["HGETALL", "c"],
            &["HKEYS", "c"],
        ];
        for c in cases {
            d.ex(c);
        }
        // Binary and big fields and values (a long one makes it a hashtable).
        let all = all_bytes();
        d.ex(&[&b"HSET"[..], b"bin", &all, &all, b"x", b""]);
        d.ex(&[&b"HGET"[..], b"bin", &all]);
        d.pairs(&["HGETALL", "bin"]);
        let big = pattern(100 * 1024);
        d.ex(&[&b"HSET"[..], b"big", b"f", &big]);
        d.ex(&["HGET", "big", "f"]);
        d.ex(&["HGETALL", "big"]);
        // The wrong type, both ways.
        d.ex(&["SET", "s", "v"]);
        for c in [
            &["HSET", "s", "f", "v"][..],
            &["HMSET", "s", "f", "v"],
            &["HGET", "s", "f"],
            &["HMGET", "s", "f"],
            &["HGETALL", "s"],
            &["HKEYS", "s"],
            &["HVALS", "s"],
            &["HLEN", "s"],
            &["HEXISTS", "s", "f"],
            &["HDEL", "s", "f"],
            &["HINCRBY", "s", "f", "1"],
            &["HINCRBY", "s", "f", "x"],
            &["GET", "s"],
        ] {
            d.ex(c);
        }
    });
}

/// At Redis's listpack limits (128 fields, 64-byte fields and values) the order is
/// still exact; past them Redis uses a hashtable and only the set is compared.
#[test]
fn listpack_limits() {
    differential(&[], |d| {
        let mut args = vec!["HSET".to_string(), "h128".to_string()];
        for i in 0..128 {
            args.push(format!("field:{i}"));
            args.push(format!("{i}"));
        }
        d.ex(&args);
        d.ex(&["HDEL", "h128", "field:5", "field:77"]);
        d.ex(&["HSET", "h128", "field:5", "again", "field:1000", "x"]);
        d.ex(&["HGETALL", "h128"]);
        d.ex(&["HKEYS", "h128"]);
        d.ex(&["HSET", "h128", "field:2000", "x"]);
        d.ex(&["HLEN", "h128"]);
        d.pairs(&["HGETALL", "h128"]);
        d.sorted(&["HKEYS", "h128"]);
        d.sorted(&["HVALS", "h128"]);
        d.ex(&["HDEL", "h128", "field:0", "field:2000", "field:1000"]);
        d.pairs(&["HGETALL", "h128"]);

        let f64b = "f".repeat(64);
        let v64b = "v".repeat(64);
        d.ex(&["HSET", "w", &f64b, &v64b, "a", "b"]);
        d.ex(&["HGETALL", "w"]);
        d.ex(&["HSET", "w", "long", &"x".repeat(65)]);
        d.pairs(&["HGETALL", "w"]);
        d.ex(&["HSET", "w2", "a", "1", &"k".repeat(65), "2", "b", "3"]);
        d.pairs(&["HGETALL", "w2"]);
        d.ex(&["HINCRBY", "w3", &"n".repeat(65), "1"]);
        d.ex(&["HSET", "w3", "a", "1"]);
        d.pairs(&["HGETALL", "w3"]);

        let mut args = vec!["HSET".to_string(), "huge".to_string()];
        for i in 0..2000 {
            args.push(format!("f{i}"));
            args.push(format!("v{i}"));
        }
        d.ex(&args);
        d.ex(&["HLEN", "huge"]);
        for i in (0..2000).step_by(3) {
            d.ex(&["HDEL", "huge", &format!("f{i}"), &format!("f{}", i + 1)]);
        }
        d.ex(&["HLEN", "huge"]);
        d.pairs(&["HGETALL", "huge"]);
        d.sorted(&["HKEYS", "huge"]);
        d.ex(&["HMGET", "huge", "f0", "f2", "f5", "f1999"]);
        d.ex(&["HINCRBY", "huge", "f2", "1"]);
        d.ex(&["HINCRBY", "huge", "counter", "7"]);
        d.ex(&["HEXISTS", "huge", "counter"]);
    });
}
