//! Keyspace commands: DEL, UNLINK, EXISTS, the EXPIRE and TTL families, PERSIST,
//! TYPE, DBSIZE, FLUSHALL/FLUSHDB, SELECT, KEYS and SCAN, and real expiry.

use std::time::Duration;

use super::{Diff, all_bytes, differential};

fn set_keys(d: &mut Diff, keys: &[&[u8]]) {
    for k in keys {
        d.ex(&[&b"SET"[..], k, b"v"]);
    }
}

#[test]
fn delete_exists_type() {
    differential(&[], |d| {
        set_keys(d, &[b"a", b"b", b"c", b"", b"\0"]);
        d.ex(&["HSET", "h", "f", "v"]);
        d.ex(&["EXISTS", "a"]);
        d.ex(&["EXISTS", "a", "a", "b", "missing", "", "\0", "h"]);
        d.ex(&["TYPE", "a"]);
        d.ex(&["TYPE", "h"]);
        d.ex(&["TYPE", "missing"]);
        d.ex(&["TYPE", ""]);
        d.ex(&["DBSIZE"]);
        d.ex(&["DEL", "a", "a", "missing"]);
        d.ex(&["UNLINK", "b", "c", "h"]);
        d.ex(&["DEL", "", "\0"]);
        d.ex(&["EXISTS", "a", "b", "c", "h", "", "\0"]);
        d.ex(&["DBSIZE"]);
        d.ex(&["SELECT", "0"]);
        for bad in ["1", "-1", "15", "abc", "", "00", "2147483647", "2147483648", "-2147483649"] {
            d.ex(&["SELECT", bad]);
        }
        d.ex(&["SELECT", "9223372036854775808"]);
        set_keys(d, &[b"x", b"y"]);
        d.ex(&["FLUSHDB"]);
        d.ex(&["DBSIZE"]);
        set_keys(d, &[b"x", b"y"]);
        d.ex(&["FLUSHALL", "ASYNC"]);
        d.ex(&["DBSIZE"]);
        for cmd in [
            &["FLUSHALL", "sync"][..],
            &["FLUSHALL", "async"],
            &["FLUSHDB", "SYNC"],
            &["FLUSHALL", "foo"],
            &["FLUSHALL", "async", "x"],
            &["FLUSHDB", "sync", "sync"],
            &["FLUSHALL", "sync\0x"],
            &["FLUSHALL", ""],
        ] {
            d.ex(cmd);
        }
    });
}

#[test]
fn expire_family() {
    differential(&[], |d| {
        d.ex(&["SET", "k", "v"]);
        let cases: &[&[&str]] = &[
            &["EXPIRE", "missing", "100"],
            &["TTL", "missing"],
            &["PTTL", "missing"],
            &["EXPIRETIME", "missing"],
            &["PEXPIRETIME", "missing"],
            &["PERSIST", "missing"],
            &["TTL", "k"],
            &["PTTL", "k"],
            &["EXPIRETIME", "k"],
            &["PERSIST", "k"],
            &["EXPIRE", "k", "abc"],
            &["EXPIRE", "k", ""],
            &["EXPIRE", "k", "1.5"],
            &["EXPIRE", "k", "100", "nx", "xx"],
            &["EXPIRE", "k", "100", "NX", "GT"],
            &["EXPIRE", "k", "100", "LT", "NX"],
            &["EXPIRE", "k", "100", "GT", "LT"],
            &["EXPIRE", "k", "100", "FOO"],
            &["EXPIRE", "k", "abc", "FOO"],
            &["EXPIRE", "k", "100", "nx\0junk"],
            &["EXPIRE", "k", "100", "bad\0junk"],
            &["EXPIRE", "k", "9223372036854775"],
            &["EXPIRE", "k", "9223372036854776"],
            &["EXPIRE", "k", "-9223372036854776"],
            &["PEXPIRE", "k", "9223372036854775807"],
            &["EXPIREAT", "k", "9223372036854776"],
            &["PEXPIREAT", "k", "9223372036854775807"],
            &["PEXPIRETIME", "k"],
            &["PERSIST", "k"],
            &["TTL", "k"],
            // Conditions against no TTL.
            &["EXPIRE", "k", "100", "XX"],
            &["EXPIRE", "k", "100", "GT"],
            &["EXPIREAT", "k", "4102444800", "LT"],
            &["EXPIRETIME", "k"],
            &["EXPIREAT", "k", "4102444800", "NX"],
            &["EXPIREAT", "k", "4102444900", "NX"],
            &["EXPIRETIME", "k"],
            &["EXPIREAT", "k", "4102444800", "GT"],
            &["EXPIREAT", "k", "4102444900", "GT"],
            &["EXPIRETIME", "k"],
            &["EXPIREAT", "k", "4102444900", "LT"],
            &["EXPIREAT", "k", "4102444800", "lt"],
            &["EXPIRETIME", "k"],
            &["PEXPIREAT", "k", "4102444800001", "XX"],
            &["PEXPIRETIME", "k"],
            &["EXPIRETIME", "k"],
            &["PEXPIREAT", "k", "4102444800001", "XX", "GT"],
            &["PEXPIREAT", "k", "4102444800002", "XX", "GT", "GT"],
            &["PEXPIRETIME", "k"],
            &["PERSIST", "k"],
            &["PERSIST", "k"],
            // A time already past deletes the key and still answers 1.
            &["SET", "k", "v"],
            &["EXPIRE", "k", "0"],
            &["EXISTS", "k"],
            &["SET", "k", "v"],
            &["EXPIRE", "k", "-100", "NX"],
            &["EXISTS", "k"],
            &["SET", "k", "v"],
            &["PEXPIREAT", "k", "1"],
            &["GET", "k"],
            &["SET", "k", "v"],
            &["EXPIREAT", "k", "-9223372036854775"],
            &["EXISTS", "k"],
            &["SET", "k", "v", "EX", "100"],
            &["EXPIRE", "k", "-1", "GT"],
            &["EXPIRE", "k", "-1", "LT"],
            &["EXISTS", "k"],
        ];
        for c in cases {
            d.ex(c);
        }
        d.ex(&["SET", "t", "v"]);
        d.ex(&["EXPIRE", "t", "100"]);
        d.near(&["TTL", "t"], 1);
        d.near(&["PTTL", "t"], 1000);
        d.near(&["EXPIRETIME", "t"], 1);
        d.near(&["PEXPIRETIME", "t"], 1000);
        d.ex(&["EXPIRE", "t", "200", "NX"]);
        d.ex(&["EXPIRE", "t", "200", "GT"]);
        d.near(&["TTL", "t"], 1);
        d.ex(&["PEXPIRE", "t", "1000", "GT"]);
        d.ex(&["PEXPIRE", "t", "1000000", "LT"]);
        d.near(&["TTL", "t"], 1);
        d.ex(&["pexpire", "t", "999000", "xx", "lt"]);
        d.near(&["PTTL", "t"], 1000);
        d.ex(&["HSET", "h", "f", "v"]);
        d.ex(&["EXPIRE", "h", "100"]);
        d.near(&["TTL", "h"], 1);
        d.ex(&["HSET", "h", "g", "v"]);
        d.near(&["TTL", "h"], 1);
        d.ex(&["HDEL", "h", "f", "g"]);
        d.ex(&["TTL", "h"]);
    });
}

/// Real TTLs on the wall clock: keys vanish from every view once expired.
#[test]
fn expiry_over_time() {
    differential(&[], |d| {
        d.ex(&["SET", "short", "v", "PX", "1000"]);
        d.ex(&["SET", "short2", "v", "PX", "1000"]);
        d.ex(&["SET", "hashy", "v"]);
        d.ex(&["PEXPIRE", "hashy", "1000"]);
        d.ex(&["HSET", "h", "f", "1"]);
        d.ex(&["PEXPIRE", "h", "1000"]);
        d.ex(&["SET", "long", "v", "EX", "100"]);
        d.ex(&["SET", "plain", "v"]);
        d.sorted(&["KEYS", "*"]);
        d.ex(&["EXISTS", "short"]);
        std::thread::sleep(Duration::from_millis(1300));
        d.sorted(&["KEYS", "*"]);
        d.scan(&["SCAN", "0", "COUNT", "1000"]);
        d.ex(&["EXISTS", "short", "short2", "hashy", "h", "long", "plain"]);
        d.ex(&["GET", "short"]);
        d.ex(&["TTL", "short"]);
        d.ex(&["PTTL", "short2"]);
        d.ex(&["TYPE", "h"]);
        d.ex(&["HGET", "h", "f"]);
        d.ex(&["HINCRBY", "h", "f", "1"]);
        d.ex(&["DBSIZE"]);
        d.ex(&["INCR", "short"]);
        d.ex(&["APPEND", "short2", "x"]);
        d.ex(&["SET", "short", "again", "XX"]);
        d.ex(&["SET", "short", "again", "NX"]);
        d.ex(&["TTL", "short"]);
        d.ex(&["DBSIZE"]);
    });
}

#[test]
fn keys_patterns() {
    differential(&[], |d| {
        let long = vec![b'k'; 1000];
        let keys: Vec<&[u8]> = vec![
            b"",
            b"a",
            b"b",
            b"ab",
            b"abc",
            b"hello",
            b"hallo",
            b"hillo",
            b"hxllo",
            b"heello",
            b"*",
            b"?",
            b"[",
            b"]",
            b"\\",
            b"-",
            b"^",
            b"a*b",
            b"a?b",
            b"a[b",
            b"a]b",
            b"a\\b",
            b"\0",
            b"a\0b",
            b"\xff",
            b"\xe9t\xe9",
            b"\x80",
            b"user:1",
            b"user:2",
            b"user:10",
            b"session:x:1",
            &long,
        ];
        set_keys(d, &keys);
        let all = all_bytes();
        d.ex(&[&b"SET"[..], &all, b"v"]);
        let patterns: &[&[u8]] = &[
            b"*",
            b"**",
            b"***",
            b"",
            b"?",
            b"??",
            b"a*",
            b"*b",
            b"*a*",
            b"h?llo",
            b"h*llo",
            b"h[ae]llo",
            b"h[^e]llo",
            b"h[a-b]llo",
            b"h[b-a]llo",
            b"h[a-z]llo",
            b"[",
            b"[a",
            b"[^",
            b"[^a",
            b"\\",
            b"\\\\",
            b"a\\*b",
            b"a\\?b",
            b"a*\\",
            b"\\*",
            b"[\\]]",
            b"[\\",
            b"[a-]",
            b"[]",
            b"[]a]",
            b"[^]",
            b"[!a]",
            b"[\x80-a]",
            b"[a-\xff]",
            b"[\x00-\x7f]",
            b"*\0*",
            b"a\0b",
            b"\xff*",
            b"*\xe9",
            b"user:*",
            b"user:?",
            b"user:[0-9]",
            b"user:[0-9]*",
            b"*:*:*",
            b"session:*:1",
            b"k*k",
            b"*kk*kkk*",
            b"a[",
            b"a[b",
            b"ab[^",
            b"[[]",
            b"[-]",
            b"[a-c-e]",
            b"*\x00\x01\x02*",
        ];
        for p in patterns {
            d.sorted(&[&b"KEYS"[..], p]);
            d.scan(&[&b"SCAN"[..], b"0", b"MATCH", p, b"COUNT", b"1000"]);
        }
        d.ex(&["KEYS", "a", "b"]);
        d.ex(&["KEYS"]);
    });
}

#[test]
fn scan() {
    differential(&[], |d| {
        d.ex(&["SCAN", "0"]);
        for i in 0..300 {
            d.ex(&["SET", &format!("key:{i}"), "v"]);
        }
        for i in 0..40 {
            d.ex(&["HSET", &format!("hash:{i}"), "f", "v"]);
        }
        d.ex(&["SET", "", "empty"]);
        for options in [
            &[][..],
            &["COUNT", "1"],
            &["COUNT", "7"],
            &["MATCH", "key:1*"],
            &["MATCH", "*", "COUNT", "3"],
            &["TYPE", "hash"],
            &["TYPE", "STRING", "COUNT", "50"],
            &["TYPE", "none"],
            &["TYPE", "list"],
            &["TYPE", "nosuch"],
            &["MATCH", "hash:?", "TYPE", "hash", "COUNT", "2"],
            &["MATCH", "**"],
            &["count", "5", "match", "key:2?", "count", "3"],
        ] {
            d.scan_all(options);
        }
        // One call with a COUNT large enough finishes in both.
        d.scan(&["SCAN", "0", "COUNT", "1000"]);
        d.scan(&["SCAN", "0", "COUNT", "1000", "MATCH", "key:?"]);
        d.scan(&["SCAN", "0", "COUNT", "1000", "TYPE", "hash"]);
        d.scan(&["SCAN", "0", "COUNT", "1000", "TYPE", "HaSh\0junk"]);
        d.scan(&["SCAN", "", "COUNT", "1000"]);
        d.scan(&["SCAN", "+0", "COUNT", "1000"]);
        d.scan(&["SCAN", "000", "COUNT", "1000"]);
        d.scan(&["SCAN", "0\0junk", "COUNT", "1000"]);
        d.scan(&["SCAN", "0", "COUNT", "9223372036854775807"]);
        for bad in [
            &["SCAN", " 0"][..],
            &["SCAN", "0 "],
            &["SCAN", "abc"],
            &["SCAN", "+"],
            &["SCAN", "18446744073709551616"],
            &["SCAN", "x", "COUNT", "0"],
            &["SCAN", "0", "COUNT", "0"],
            &["SCAN", "0", "COUNT", "-1"],
            &["SCAN", "0", "COUNT", "abc"],
            &["SCAN", "0", "COUNT", "9223372036854775808"],
            &["SCAN", "0", "COUNT"],
            &["SCAN", "0", "MATCH"],
            &["SCAN", "0", "TYPE"],
            &["SCAN", "0", "FOO", "bar"],
            &["SCAN", "0", "MATCH", "*", "x"],
            &["SCAN", "0", "COUNT", "0", "FOO"],
            &["SCAN", "0", "FOO", "COUNT", "0"],
        ] {
            d.ex(bad);
        }
    });
}
