//! Strings, values of every size and byte, many keys at once, the keyspace.

use super::{Builder, Check, Dumps};

pub(super) fn strings(b: &mut Builder) {
    b.lines(
        r#"
        SET s:1 hello
        GET s:1
        SET s:1 world NX
        SET s:1 world XX
        GET s:1
        SET s:none v XX
        GET s:none
        SET s:nx v NX
        SET s:1 again GET
        SET s:new first GET
        SET s:ex v EX 100
        SET s:px v PX 100000
        SET s:exat v EXAT 99999999999
        SET s:pxat v PXAT 99999999999000
        EXPIRETIME s:exat
        PEXPIRETIME s:pxat
        SET s:ex v2 KEEPTTL
        SET s:1 v NX XX
        SET s:1 v EX 10 PX 10
        SET s:1 v EX 0
        SET s:1 v EX -5
        SET s:1 v EX abc
        SET s:1 v PX 0
        SET s:1 v EXAT 0
        SET s:1 v KEEPTTL EX 10
        SET s:1 v FOO
        SET s:1 v GET NX
        SET s:1 v EX 9223372036854775807
        SETNX s:1 x
        SETNX s:setnx x
        SETEX s:setex 100 v
        SETEX s:setex 0 v
        SETEX s:setex abc v
        PSETEX s:psetex 100000 v
        GETSET s:1 newval
        GETSET s:getset first
        GETDEL s:getset
        GETDEL s:getset
        MSET m:1 a m:2 b m:3 c
        MGET m:1 m:2 m:3 m:none
        MSETNX m:1 x m:4 y
        MSETNX m:4 x m:5 y
        MGET m:4 m:5
        MSET m:1
        MSET m:1 a m:2
        MSETNX m:1
        STRLEN s:1
        STRLEN s:nosuch
        APPEND s:app hello
        APPEND s:app " world"
        GET s:app
        GETRANGE s:app 0 4
        GETRANGE s:app -5 -1
        GETRANGE s:app 5 2
        GETRANGE s:app 0 -100
        GETRANGE s:app 100 200
        GETRANGE s:nosuch 0 -1
        GETRANGE s:app a b
        SUBSTR s:app 0 2
        SETRANGE s:app 6 WORLD
        GET s:app
        SETRANGE s:range 5 abc
        GET s:range
        SETRANGE s:range -1 x
        SETRANGE s:range 536870912 x
        SETRANGE s:empty 3 ""
        EXISTS s:empty
        SET n:1 10
        INCR n:1
        INCRBY n:1 5
        INCRBY n:1 -100
        DECR n:1
        DECRBY n:1 7
        INCR n:new
        INCRBY n:1 abc
        INCRBY n:1 1.5
        INCR s:1
        SET n:max 9223372036854775807
        INCR n:max
        SET n:min -9223372036854775808
        DECR n:min
        DECRBY n:1 -9223372036854775808
        SET n:space " 1"
        INCR n:space
        SET n:f 10.5
        INCRBYFLOAT n:f 0.1
        INCRBYFLOAT n:f -5
        INCRBYFLOAT n:f 5.0e3
        INCRBYFLOAT n:f abc
        INCRBYFLOAT n:f inf
        INCRBYFLOAT n:newf 3
        INCRBYFLOAT s:1 1
        SET n:e 1e5
        INCRBYFLOAT n:e 1
        INCR n:f
        GETEX s:1
        GETEX s:1 EX 100
        GETEX s:1 PERSIST
        TTL s:1
        GETEX s:1 PX 100000
        GETEX s:1 EXAT 99999999999
        EXPIRETIME s:1
        GETEX s:1 PXAT 99999999999000
        GETEX s:nosuch EX 10
        GETEX s:1 EX 0
        GETEX s:1 EX 10 PX 10
        GETEX s:1 FOO
        SET lcs:a ohmytext
        SET lcs:b mynewtext
        LCS lcs:a lcs:b
        LCS lcs:a lcs:b LEN
        LCS lcs:a lcs:b IDX
        LCS lcs:a lcs:b IDX MINMATCHLEN 4
        LCS lcs:a lcs:b IDX MINMATCHLEN 4 WITHMATCHLEN
        LCS lcs:a lcs:b LEN IDX
        LCS lcs:a lcs:nosuch
        LCS lcs:a lcs:b FOO
        "#,
    );
    b.ck("TTL s:ex", Check::Near(1));
    b.ck("PTTL s:px", Check::Near(1000));
    b.ck("TTL s:setex", Check::Near(1));
    b.ck("PTTL s:psetex", Check::Near(1000));
    b.ck("TTL s:1", Check::Near(1));
}

/// Empty, binary and large values, and binary key names.
pub(super) fn values(b: &mut Builder) {
    let all: Vec<u8> = (0..=255u8).collect();
    let nul = b"a\0b\0\0c".to_vec();
    let k100 = patterned(100 * 1024);
    let m1 = patterned(1024 * 1024);
    b.lines(
        r#"
        SET v:empty ""
        GET v:empty
        STRLEN v:empty
        APPEND v:empty ""
        EXISTS v:empty
        TYPE v:empty
        OBJECT ENCODING v:empty
        SET "" empty-key-name
        GET ""
        HSET v:h "" ""
        HGET v:h ""
        RPUSH v:l "" ""
        LRANGE v:l 0 -1
        SADD v:s ""
        SMEMBERS v:s
        ZADD v:z 0 ""
        ZRANGE v:z 0 -1 WITHSCORES
        ECHO ""
        "#,
    );
    b.args(&[b"SET".to_vec(), b"v:bin".to_vec(), all.clone()]);
    b.c("GET v:bin");
    b.c("STRLEN v:bin");
    b.c("GETRANGE v:bin 250 -1");
    b.args(&[b"ECHO".to_vec(), all.clone()]);
    b.args(&[b"SET".to_vec(), all.clone(), b"binary key".to_vec()]);
    b.args(&[b"GET".to_vec(), all.clone()]);
    b.args(&[b"EXISTS".to_vec(), all.clone()]);
    b.args(&[b"SET".to_vec(), b"v:nul".to_vec(), nul.clone()]);
    b.c("GET v:nul");
    b.args(&[b"APPEND".to_vec(), b"v:nul".to_vec(), nul.clone()]);
    b.c("GET v:nul");
    b.args(&[b"HSET".to_vec(), b"v:hbin".to_vec(), all.clone(), nul.clone()]);
    b.args(&[b"HGET".to_vec(), b"v:hbin".to_vec(), all.clone()]);
    b.c("HGETALL v:hbin");
    b.args(&[b"RPUSH".to_vec(), b"v:lbin".to_vec(), all.clone(), nul.clone()]);
    b.c("LRANGE v:lbin 0 -1");
    b.args(&[b"SADD".to_vec(), b"v:sbin".to_vec(), nul.clone()]);
    b.c("SMEMBERS v:sbin");
    b.args(&[b"ZADD".to_vec(), b"v:zbin".to_vec(), b"1".to_vec(), all.clone()]);
    b.c("ZRANGE v:zbin 0 -1 WITHSCORES");
    b.args(&[b"SET".to_vec(), b"v:100k".to_vec(), k100.clone()]);
    b.c("GET v:100k");
    b.c("STRLEN v:100k");
    b.c("GETRANGE v:100k 102390 -1");
    b.c("OBJECT ENCODING v:100k");
    b.args(&[b"APPEND".to_vec(), b"v:100k".to_vec(), b"tail".to_vec()]);
    b.c("STRLEN v:100k");
    b.args(&[b"ECHO".to_vec(), k100.clone()]);
    b.args(&[b"HSET".to_vec(), b"v:h100k".to_vec(), b"f".to_vec(), k100.clone()]);
    b.c("HGET v:h100k f");
    b.c("OBJECT ENCODING v:h100k");
    b.args(&[b"RPUSH".to_vec(), b"v:l100k".to_vec(), k100.clone(), k100]);
    b.c("LRANGE v:l100k 0 -1");
    b.args(&[b"SET".to_vec(), b"v:1m".to_vec(), m1.clone()]);
    b.c("GET v:1m");
    b.c("STRLEN v:1m");
    b.args(&[b"SET".to_vec(), b"v:1m".to_vec(), m1.clone(), b"GET".to_vec()]);
    b.args(&[b"MGET".to_vec(), b"v:1m".to_vec(), b"v:bin".to_vec(), b"v:none".to_vec()]);
    b.args(&[b"ECHO".to_vec(), m1]);
}

/// Many keys in one command, and string encodings at their boundaries.
pub(super) fn many(b: &mut Builder) {
    let mut mset = vec![b"MSET".to_vec()];
    let mut mget = vec![b"MGET".to_vec()];
    for i in 0..10_000 {
        mset.push(format!("many:{i}").into_bytes());
        mset.push(format!("{}", i * 3).into_bytes());
        mget.push(format!("many:{}", i * 2).into_bytes());
    }
    b.args(&mset);
    b.args(&mget);
    let mut del = vec![b"DEL".to_vec()];
    del.extend((0..10_000).step_by(2).map(|i| format!("many:{i}").into_bytes()));
    b.args(&del);
    b.c("EXISTS many:0 many:1 many:9999");
    let mut exists = vec![b"EXISTS".to_vec()];
    exists.extend((0..10_000).map(|i| format!("many:{i}").into_bytes()));
    b.args(&exists);
    b.args(&[b"SET".to_vec(), b"enc:44".to_vec(), vec![b'e'; 44]]);
    b.args(&[b"SET".to_vec(), b"enc:45".to_vec(), vec![b'e'; 45]]);
    b.lines(
        r#"
        OBJECT ENCODING enc:44
        OBJECT ENCODING enc:45
        SET enc:int 9999
        OBJECT ENCODING enc:int
        APPEND enc:int 9
        OBJECT ENCODING enc:int
        GET enc:int
        SETRANGE enc:int 0 x
        GET enc:int
        GETBIT enc:int 1
        SET enc:neg -0
        OBJECT ENCODING enc:neg
        SET enc:big 99999999999999999999
        OBJECT ENCODING enc:big
        INCR enc:big
        SET enc:float 1.0
        INCRBYFLOAT enc:float 0
        GET enc:float
        "#,
    );
}

/// Bytes that are not all alike, so an offset error shows.
fn patterned(n: usize) -> Vec<u8> {
    (0..n).map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789"[i % 36]).collect()
}

pub(super) fn keyspace(b: &mut Builder, dumps: &Dumps) {
    b.lines(
        r#"
        SET k:1 v1
        SET k:2 v2
        RPUSH k:list a b c
        TYPE k:1
        TYPE k:list
        TYPE k:nosuch
        EXISTS k:1 k:2 k:nosuch k:1
        EXISTS k:nosuch
        TOUCH k:1 k:2 k:nosuch
        DEL k:nosuch
        DEL k:2 k:nosuch
        UNLINK k:nosuch
        OBJECT ENCODING k:1
        OBJECT ENCODING k:list
        OBJECT ENCODING k:nosuch
        SET k:int 12345
        OBJECT ENCODING k:int
        OBJECT REFCOUNT k:int
        OBJECT REFCOUNT k:1
        OBJECT FREQ k:1
        OBJECT FOO k:1
        OBJECT HELP
        EXPIRE k:1 100
        EXPIRE k:1 200 NX
        EXPIRE k:1 50 GT
        EXPIRE k:1 300 GT
        EXPIRE k:1 50 LT
        EXPIRE k:1 100 XX
        EXPIRE k:nosuch 100
        EXPIRE k:1 100 NX XX
        EXPIRE k:1 100 GT LT
        EXPIRE k:1 abc
        EXPIRE k:1 100 FOO
        PEXPIRE k:1 100000
        EXPIREAT k:1 99999999999
        EXPIRETIME k:1
        PEXPIREAT k:1 99999999999000
        PEXPIRETIME k:1
        EXPIRETIME k:nosuch
        EXPIRETIME k:list
        PERSIST k:1
        PERSIST k:1
        TTL k:1
        PTTL k:1
        TTL k:nosuch
        PTTL k:nosuch
        EXPIRE k:1 9223372036854775807
        PEXPIRE k:1 9223372036854775807
        SET k:gone v
        EXPIRE k:gone 0
        EXISTS k:gone
        SET k:gone v
        PEXPIREAT k:gone 1
        GET k:gone
        RENAME k:1 k:renamed
        GET k:renamed
        RENAME k:nosuch k:x
        RENAME k:renamed k:renamed
        RENAMENX k:renamed k:list
        RENAMENX k:renamed k:fresh
        GET k:fresh
        COPY k:fresh k:copy
        GET k:copy
        COPY k:fresh k:copy
        COPY k:fresh k:copy REPLACE
        COPY k:list k:listcopy
        LRANGE k:listcopy 0 -1
        COPY k:fresh k:copy DB 1
        COPY k:fresh k:copy DB abc
        COPY k:fresh k:copy DB 99
        COPY k:nosuch k:copy2
        COPY k:fresh k:copy FOO
        MOVE k:copy 2
        MOVE k:copy 2
        MOVE k:nosuch 2
        MOVE k:fresh 0
        MOVE k:fresh 99
        DUMP k:nosuch
        DUMP k:fresh
        DUMP k:list
        RESTORE k:bad 0 "not a payload"
        RESTORE k:fresh 0 "x"
        "#,
    );
    b.args(&[b"RESTORE".to_vec(), b"k:restored".to_vec(), b"0".to_vec(), dumps.string.clone()]);
    b.c("GET k:restored");
    b.args(&[b"RESTORE".to_vec(), b"k:restored".to_vec(), b"0".to_vec(), dumps.string.clone()]);
    b.args(&[
        b"RESTORE".to_vec(),
        b"k:restored".to_vec(),
        b"0".to_vec(),
        dumps.list.clone(),
        b"REPLACE".to_vec(),
    ]);
    b.c("TYPE k:restored");
    b.c("LRANGE k:restored 0 -1");
    b.args(&[
        b"RESTORE".to_vec(),
        b"k:restttl".to_vec(),
        b"99999999999000".to_vec(),
        dumps.string.clone(),
        b"ABSTTL".to_vec(),
    ]);
    b.c("PEXPIRETIME k:restttl");
    b.args(&[b"RESTORE".to_vec(), b"k:restneg".to_vec(), b"-1".to_vec(), dumps.string.clone()]);
    b.args(&[
        b"RESTORE".to_vec(),
        b"k:restidle".to_vec(),
        b"0".to_vec(),
        dumps.string.clone(),
        b"IDLETIME".to_vec(),
        b"1000".to_vec(),
    ]);
    b.ck("OBJECT IDLETIME k:restidle", Check::Near(2));
    b.ck("OBJECT IDLETIME k:renamed", Check::Near(2));
    b.lines(
        r#"
        RPUSH sort:l 3 1 2 10 -5
        SORT sort:l
        SORT sort:l DESC
        SORT sort:l LIMIT 1 2
        SORT sort:l ALPHA
        RPUSH sort:w b a c
        SORT sort:w
        SORT sort:w ALPHA
        SORT sort:w ALPHA DESC LIMIT 0 2
        MSET w_a 3 w_b 1 w_c 2 o_a A o_b B o_c C
        SORT sort:w BY w_* GET o_* GET #
        SORT sort:w BY nosort GET o_*
        SORT sort:w BY w_* STORE sort:dest
        LRANGE sort:dest 0 -1
        SORT_RO sort:l
        SORT_RO sort:l STORE x
        SORT sort:nosuch
        SORT k:fresh
        SORT sort:l LIMIT a b
        SORT sort:l FOO
        SADD sort:set 5 1 3
        SORT sort:set
        SADD sort:words pear apple fig
        SORT sort:words ALPHA
        DBSIZE
        "#,
    );
    b.ck("KEYS *", Check::Unordered);
    b.ck("KEYS k:*", Check::Unordered);
    b.ck("KEYS sort:[lw]", Check::Unordered);
    b.c("KEYS nosuchprefix*");
    b.c("DEL k:fresh k:copy k:listcopy k:renamed k:nosuch");
    b.c("DBSIZE");
}
