//! String commands: GET, SET and its options, MGET, MSET, SETNX, GETDEL, GETEX,
//! APPEND, STRLEN, and the counters.

use super::{all_bytes, differential, pattern};

#[test]
fn get_set_and_values() {
    differential(&[], |d| {
        d.ex(&["GET", "k"]);
        d.ex(&["SET", "k", "v"]);
        d.ex(&["GET", "k"]);
        d.ex(&["get", "k"]);
        d.ex(&["SET", "empty", ""]);
        d.ex(&["GET", "empty"]);
        d.ex(&["STRLEN", "empty"]);
        let bytes = all_bytes();
        d.ex(&[&b"SET"[..], b"bin", &bytes]);
        d.ex(&["GET", "bin"]);
        d.ex(&[&b"SET"[..], &bytes, b"binary key"]);
        d.ex(&[&b"GET"[..], &bytes]);
        let big = pattern(100 * 1024);
        d.ex(&[&b"SET"[..], b"big", &big]);
        d.ex(&["GET", "big"]);
        d.ex(&["STRLEN", "big"]);
        d.ex(&[&b"SET"[..], b"nul\0key", b"nul\0value\0"]);
        d.ex(&["GET", "nul\0key"]);
        d.ex(&["GET", "nul"]);
        d.ex(&["MGET", "k", "missing", "empty", "bin", "nul\0key"]);
        d.ex(&["MSET", "m1", "1", "m2", "", "k", "over"]);
        d.ex(&["MGET", "m1", "m2", "k"]);
        d.ex(&["MSET", "m1"]);
        d.ex(&["MSET", "m1", "1", "m2"]);
        d.ex(&["SETNX", "k", "x"]);
        d.ex(&["SETNX", "fresh", "x"]);
        d.ex(&["GET", "fresh"]);
        d.ex(&["GETDEL", "fresh"]);
        d.ex(&["GETDEL", "fresh"]);
        d.ex(&["EXISTS", "fresh"]);
        d.ex(&["STRLEN", "missing"]);
        d.ex(&["STRLEN", "k"]);
        d.ex(&["APPEND", "ap", "hello"]);
        d.ex(&["APPEND", "ap", ""]);
        d.ex(&["APPEND", "ap", " world"]);
        d.ex(&[&b"APPEND"[..], b"ap", &bytes]);
        d.ex(&[&b"APPEND"[..], b"ap", &big]);
        d.ex(&["GET", "ap"]);
        d.ex(&["STRLEN", "ap"]);
        d.ex(&["APPEND", "ap2", ""]);
        d.ex(&["EXISTS", "ap2"]);
        d.ex(&["GET", "ap2"]);
        // Wrong type.
        d.ex(&["HSET", "h", "f", "v"]);
        for cmd in [
            &["GET", "h"][..],
            &["GETDEL", "h"],
            &["GETEX", "h"],
            &["GETEX", "h", "PERSIST"],
            &["STRLEN", "h"],
            &["APPEND", "h", "x"],
            &["SET", "h", "x", "GET"],
            &["INCR", "h"],
            &["DECR", "h"],
            &["INCRBY", "h", "1"],
            &["DECRBY", "h", "1"],
            &["INCRBYFLOAT", "h", "1"],
        ] {
            d.ex(cmd);
        }
        d.ex(&["MGET", "h", "k"]);
        d.ex(&["SETNX", "h", "x"]);
        d.ex(&["TYPE", "h"]);
        d.ex(&["SET", "h", "now a string"]);
        d.ex(&["TYPE", "h"]);
        d.ex(&["GET", "h"]);
    });
}

#[test]
fn set_options() {
    differential(&[], |d| {
        let cases: &[&[&str]] = &[
            &["SET", "a", "1", "NX"],
            &["SET", "a", "2", "NX"],
            &["SET", "a", "3", "XX"],
            &["SET", "b", "3", "XX"],
            &["SET", "a", "4", "nx", "xx"],
            &["SET", "a", "4", "XX", "NX"],
            &["SET", "a", "5", "NX", "NX"],
            &["SET", "a", "5", "XX", "XX"],
            &["SET", "a", "6", "GET"],
            &["SET", "a", "7", "get", "get"],
            &["SET", "c", "8", "GET"],
            &["SET", "c", "9", "NX", "GET"],
            &["SET", "d", "9", "NX", "GET"],
            &["SET", "d", "10", "XX", "GET"],
            &["SET", "e", "10", "XX", "GET"],
            &["SET", "a", "v", "EX"],
            &["SET", "a", "v", "PX"],
            &["SET", "a", "v", "EX", "10", "PX", "10"],
            &["SET", "a", "v", "EX", "10", "EXAT", "10"],
            &["SET", "a", "v", "PXAT", "10", "EX", "10"],
            &["SET", "a", "v", "EX", "10", "KEEPTTL"],
            &["SET", "a", "v", "KEEPTTL", "PX", "10"],
            &["SET", "a", "v", "PERSIST"],
            &["SET", "a", "v", "FOO"],
            &["SET", "a", "v", "EX", "0"],
            &["SET", "a", "v", "EX", "-1"],
            &["SET", "a", "v", "EX", "abc"],
            &["SET", "a", "v", "EX", ""],
            &["SET", "a", "v", "EX", " 1"],
            &["SET", "a", "v", "EX", "1.5"],
            &["SET", "a", "v", "EX", "9223372036854775"],
            &["SET", "a", "v", "EX", "9223372036854776"],
            &["SET", "a", "v", "EX", "9223372036854775808"],
            &["SET", "a", "v", "PX", "0"],
            &["SET", "a", "v", "PX", "9223372036854775807"],
            &["SET", "a", "v", "EXAT", "0"],
            &["SET", "a", "v", "PXAT", "-5"],
            &["SET", "a", "v", "EX", "0", "NX"],
            &["SET", "a", "v", "NX", "EX", "bad", "GET"],
            &["SET", "a", "v", "GET", "EX", "0"],
            &["SET", "a", "v", "EX", "100", "EX", "200"],
            &["SET", "a", "v", "KEEPTTL", "KEEPTTL"],
            &["SET", "a", "v", "ex", "100"],
            &["SET", "a", "v", "Px", "100000"],
            &["SET", "a", "v", "exat", "4102444800"],
            &["SET", "a", "v", "pxat", "4102444800000"],
            &["SET", "a", "v", "EXAT", "9223372036854775"],
            &["SET", "a", "v", "EXAT", "9223372036854776"],
            &["SET", "a", "v", "PXAT", "9223372036854775807"],
            &["SET", "a", "v", "NX\0junk"],
            &["SET", "a", "v", "EX\0", "100"],
            &["SET", "a", "v", "\0"],
        ];
        for c in cases {
            d.ex(c);
            d.ex(&["GET", "a"]);
        }
        // TTL kept or dropped.
        d.ex(&["SET", "t", "v", "EX", "1000"]);
        d.near(&["TTL", "t"], 1);
        d.ex(&["SET", "t", "w", "KEEPTTL"]);
        d.near(&["TTL", "t"], 1);
        d.ex(&["SET", "t", "x"]);
        d.ex(&["TTL", "t"]);
        d.ex(&["SET", "t", "v", "PX", "100000", "GET"]);
        d.near(&["PTTL", "t"], 1000);
        d.ex(&["SET", "t", "v", "EXAT", "4102444800"]);
        d.ex(&["EXPIRETIME", "t"]);
        d.ex(&["PEXPIRETIME", "t"]);
        d.ex(&["SET", "t", "v", "PXAT", "4102444800123"]);
        d.ex(&["PEXPIRETIME", "t"]);
        d.ex(&["EXPIRETIME", "t"]);
        d.ex(&["SET", "t", "v", "EXAT", "9223372036854775"]);
        d.ex(&["EXPIRETIME", "t"]);
        d.near(&["TTL", "t"], 2);
        // An absolute time already past: accepted, and the key is gone.
        d.ex(&["SET", "past", "v", "PXAT", "1"]);
        d.ex(&["GET", "past"]);
        d.ex(&["EXISTS", "past"]);
        d.ex(&["SET", "past", "v", "EXAT", "1", "GET"]);
        d.ex(&["SET", "past", "v", "XX"]);
    });
}

#[test]
fn getex() {
    differential(&[], |d| {
        let cases: &[&[&str]] = &[
            &["GETEX", "nokey"],
            &["GETEX", "nokey", "EX", "-1"],
            &["GETEX", "nokey", "EX", "abc"],
            &["GETEX", "nokey", "FOO"],
            &["SET", "k", "v"],
            &["GETEX", "k"],
            &["GETEX", "k", "EX"],
            &["GETEX", "k", "EX", "-1"],
            &["GETEX", "k", "EX", "0"],
            &["GETEX", "k", "EX", "abc"],
            &["GETEX", "k", "PX", "9223372036854775807"],
            &["GETEX", "k", "EX", "9223372036854776"],
            &["GETEX", "k", "NX"],
            &["GETEX", "k", "XX"],
            &["GETEX", "k", "GET"],
            &["GETEX", "k", "KEEPTTL"],
            &["GETEX", "k", "PERSIST", "EX", "5"],
            &["GETEX", "k", "EX", "5", "PERSIST"],
            &["GETEX", "k", "EX", "5", "PX", "5"],
            &["GETEX", "k", "PERSIST", "PERSIST"],
            &["TTL", "k"],
            &["GETEX", "k", "EXAT", "4102444800"],
            &["EXPIRETIME", "k"],
            &["GETEX", "k", "PERSIST"],
            &["TTL", "k"],
            &["GETEX", "k", "pxat", "4102444800999"],
            &["PEXPIRETIME", "k"],
            &["GETEX", "k", "EXAT", "1"],
            &["EXISTS", "k"],
            &["SET", "k", "v"],
            &["GETEX", "k", "PXAT", "1000"],
            &["GET", "k"],
        ];
        for c in cases {
            d.ex(c);
        }
        d.ex(&["SET", "k", "v"]);
        d.ex(&["GETEX", "k", "EX", "100"]);
        d.near(&["TTL", "k"], 1);
        d.ex(&["GETEX", "k", "px", "200000"]);
        d.near(&["PTTL", "k"], 1000);
        d.ex(&["GETEX", "k", "EX", "100", "EX", "300"]);
        d.near(&["TTL", "k"], 1);
    });
}

#[test]
fn integer_counters() {
    differential(&[], |d| {
        let cases: &[&[&str]] = &[
            &["INCR", "n"],
            &["INCR", "n"],
            &["DECR", "n"],
            &["DECR", "fresh"],
            &["INCRBY", "n", "100"],
            &["INCRBY", "n", "-1000"],
            &["DECRBY", "n", "-5"],
            &["DECRBY", "n", "5"],
            &["INCRBY", "n", "abc"],
            &["INCRBY", "n", ""],
            &["INCRBY", "n", "1.5"],
            &["INCRBY", "n", " 1"],
            &["INCRBY", "n", "+1"],
            &["INCRBY", "n", "01"],
            &["INCRBY", "n", "-0"],
            &["INCRBY", "n", "9223372036854775808"],
            &["INCRBY", "missing", "x"],
            &["DECRBY", "n", "-9223372036854775808"],
            &["DECRBY", "n", "9223372036854775807"],
            &["GET", "n"],
            &["SET", "max", "9223372036854775807"],
            &["INCR", "max"],
            &["INCRBY", "max", "0"],
            &["DECR", "max"],
            &["SET", "min", "-9223372036854775808"],
            &["DECR", "min"],
            &["INCRBY", "min", "-1"],
            &["INCR", "min"],
            &["SET", "max", "9223372036854775807"],
            &["INCRBY", "max", "-9223372036854775808"],
            &["GET", "max"],
        ];
        for c in cases {
            d.ex(c);
        }
        for bad in ["", " 1", "1 ", "01", "+1", "-0", "1.0", "abc", "99999999999999999999", "1\0"] {
            d.ex(&["SET", "s", bad]);
            d.ex(&["INCR", "s"]);
            d.ex(&["DECRBY", "s", "1"]);
        }
        for good in ["0", "-1", "12345", "-9223372036854775807"] {
            d.ex(&["SET", "s", good]);
            d.ex(&["INCR", "s"]);
            d.ex(&["GET", "s"]);
        }
        // INCR keeps the TTL.
        d.ex(&["SET", "t", "1", "EX", "1000"]);
        d.ex(&["INCR", "t"]);
        d.near(&["TTL", "t"], 1);
        d.ex(&["INCRBYFLOAT", "t", "1.5"]);
        d.near(&["TTL", "t"], 1);
        d.ex(&["APPEND", "t", "0"]);
        d.near(&["TTL", "t"], 1);
        d.ex(&["GET", "t"]);
    });
}

/// INCRBYFLOAT. Redis computes in `long double` and the origin in `f64` (see
/// `origin::number::format_ld`), so this corpus keeps to results both print the
/// same: short decimals below ~100, dyadic fractions, and integers.
#[test]
fn float_counters() {
    differential(&[], |d| {
        let fresh = [
            "1",
            "10.5",
            "-2.25",
            "0",
            "-0",
            "5.0e3",
            "5E3",
            "1e20",
            "-1e20",
            "3.0e-5",
            "1e-20",
            "-1e-20",
            "0.1",
            "0.2",
            "1.1",
            "+.5",
            "5.",
            "0x10",
            "0x1p3",
            "-0X.8",
            "123.456",
            "17179869184",
            "1e-400",
            "-7.125e2",
        ];
        for (i, inc) in fresh.iter().enumerate() {
            d.ex(&["INCRBYFLOAT", &format!("fresh{i}"), inc]);
            d.ex(&["GET", &format!("fresh{i}")]);
        }
        // A running total of dyadic increments stays exact in both.
        let dyadic = [
            "1",
            "10.5",
            "-2.25",
            "0",
            "-0",
            "5.0e3",
            "5E3",
            "+.5",
            "5.",
            "0x10",
            "0x1p3",
            "-0X.8",
            "17179869184",
            "100",
            "-0.125",
        ];
        for inc in dyadic {
            d.ex(&["INCRBYFLOAT", "total", inc]);
        }
        d.ex(&["GET", "total"]);
        for bad in
            ["", " 1", "1 ", "abc", "nan", "NaN", "1e", "0x", "0x1p", "1.5\0", "\0", "1,5", "--1"]
        {
            d.ex(&["INCRBYFLOAT", "total", bad]);
        }
        for inf in ["inf", "-inf", "+inf", "Infinity", "-INFINITY"] {
            d.ex(&["INCRBYFLOAT", "total", inf]);
        }
        d.ex(&["SET", "f", "0.1"]);
        d.ex(&["INCRBYFLOAT", "f", "0.2"]);
        d.ex(&["INCRBYFLOAT", "f", "0.3"]);
        d.ex(&["SET", "f", "1.1"]);
        d.ex(&["INCRBYFLOAT", "f", "1.1"]);
        d.ex(&["INCRBYFLOAT", "f", "1.1"]);
        d.ex(&["SET", "f", "17179869184"]);
        d.ex(&["INCRBYFLOAT", "f", "1.5"]);
        d.ex(&["INCRBYFLOAT", "f", "17179869184"]);
        d.ex(&["SET", "f", "10"]);
        d.ex(&["INCRBYFLOAT", "f", "-10"]);
        d.ex(&["GET", "f"]);
        d.ex(&["INCR", "f"]);
        d.ex(&["INCRBYFLOAT", "f", "0.5"]);
        d.ex(&["INCR", "f"]);
        for stored in ["", " 1", "1 ", "abc", "1e", "nan", "0x1p3", "inf", "-inf", "1\0"] {
            d.ex(&["SET", "f", stored]);
            d.ex(&["INCRBYFLOAT", "f", "1"]);
        }
        d.ex(&["SET", "big", "9007199254740990"]);
        d.ex(&["INCRBYFLOAT", "big", "2"]);
    });
}
