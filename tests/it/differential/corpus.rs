//! The command corpus: what is sent to Redis and to hotcache, and how each reply
//! is compared.
//!
//! Every step is deterministic on a freshly flushed server, unless its check says
//! otherwise: replies whose order Redis leaves to a hash table with a per-process
//! random seed (members of hashtable-encoded sets and hashes, KEYS) are compared
//! sorted; replies that carry a clock, an id or a process's own numbers are
//! compared with those parts masked, and each such check says why.

use hotcache::protocol::split_args;

use crate::common::encode;

/// How the replies of one step are compared.
#[derive(Clone, Copy, Debug)]
pub enum Check {
    /// Byte for byte.
    Exact,
    /// As a multiset of top-level elements: the order comes from a hash table
    /// whose seed is random per process, so two servers differ.
    Unordered,
    /// As a multiset of field/value pairs (HGETALL of a hashtable-encoded hash).
    UnorderedPairs,
    /// An integer within this tolerance (TTL, PTTL, idle times: the two servers
    /// run the command at slightly different moments). Non-integers: exact.
    Near(i64),
    /// The values after these field names are masked (idle times in XINFO).
    Mask(&'static [&'static str]),
    /// The aggregates after these field names are compared sorted (FUNCTION
    /// LIST's functions of a library live in a hash table).
    SortFields(&'static [&'static str]),
    /// COMMAND and COMMAND INFO: commands and subcommands live in hash tables.
    CommandTable,
    /// Integers that are Unix times in milliseconds are masked (XINFO STREAM
    /// FULL's delivery and seen times: each server delivered at its own moment).
    Timestamps,
    /// Only the XPENDING extended form: the idle time (third element of each
    /// entry) is masked.
    XpendingIdle,
    /// HELLO: same fields in the same order and same values, except `server`
    /// (redis vs hotcache) and `id` (each server numbers its own clients).
    Hello,
    /// INFO text: same sections and fields; values only where they describe the
    /// build and configuration rather than a process, a clock or a counter.
    Info,
    /// CLIENT INFO / CLIENT LIST lines: same fields, same values for the
    /// connection state (name, db, flags, multi, cmd, resp, ...); addresses, ids,
    /// ages and buffer sizes are the process's own.
    ClientLines,
    /// Any integer (CLIENT ID: each server numbers its clients).
    AnyInt,
    /// TIME: two integers, seconds within a few of each other.
    Time,
}

/// One unit of the corpus: bytes to send and how many replies they produce.
#[derive(Clone, Debug)]
pub struct Step {
    pub label: String,
    pub bytes: Vec<u8>,
    pub replies: usize,
    pub check: Check,
}

/// DUMP payloads taken from the reference Redis before the runs, so that the
/// corpus stays a fixed byte sequence (needed to pipeline it).
pub struct Dumps {
    pub string: Vec<u8>,
    pub list: Vec<u8>,
}

#[derive(Default)]
struct Builder {
    steps: Vec<Step>,
}

fn label_of(args: &[Vec<u8>]) -> String {
    let mut s = String::new();
    for a in args {
        if !s.is_empty() {
            s.push(' ');
        }
        if a.len() > 40 {
            s.push_str(&format!("<{} bytes>", a.len()));
        } else {
            s.push_str(&String::from_utf8_lossy(a).escape_debug().to_string());
        }
        if s.len() > 200 {
            s.push_str(" ...");
            break;
        }
    }
    s
}

impl Builder {
    /// A command written as a redis-cli style line (quotes and `\x` escapes).
    fn c(&mut self, line: &str) {
        self.ck(line, Check::Exact);
    }

    fn ck(&mut self, line: &str, check: Check) {
        let args = split_args(line.as_bytes()).expect("corpus line with balanced quotes");
        self.args_ck(args, check);
    }

    /// Several lines, one command each.
    fn lines(&mut self, text: &str) {
        for l in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            self.c(l);
        }
    }

    fn args<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        let args = args.iter().map(|a| a.as_ref().to_vec()).collect();
        self.args_ck(args, Check::Exact);
    }

    fn args_ck(&mut self, args: Vec<Vec<u8>>, check: Check) {
        self.steps.push(Step { label: label_of(&args), bytes: encode(&args), replies: 1, check });
    }

    /// Bytes sent as they are (inline commands, several commands in one write).
    fn raw(&mut self, label: &str, bytes: &[u8], replies: usize) {
        self.steps.push(Step {
            label: label.to_string(),
            bytes: bytes.to_vec(),
            replies,
            check: Check::Exact,
        });
    }
}

/// The corpus for a client speaking RESP `proto` (2 or 3). The HELLO that
/// switches to RESP3 is not part of it (the runner sends it first).
pub fn build(proto: u8, dumps: &Dumps) -> Vec<Step> {
    let mut b = Builder::default();
    // Functions and scripts outlive FLUSHALL: reset them too.
    b.lines("FLUSHALL\nSCRIPT FLUSH\nFUNCTION FLUSH\nDBSIZE");
    connection(&mut b, proto);
    strings(&mut b);
    values(&mut b);
    many(&mut b);
    keyspace(&mut b, dumps);
    hashes(&mut b);
    lists(&mut b);
    sets(&mut b);
    sorted_sets(&mut b);
    streams(&mut b);
    bitmaps_and_hll(&mut b);
    geo(&mut b);
    scripting(&mut b);
    transactions(&mut b);
    databases(&mut b);
    server(&mut b);
    errors(&mut b);
    inline(&mut b);
    client_state(&mut b, proto);
    b.steps
}

fn connection(b: &mut Builder, proto: u8) {
    b.lines(
        r#"
        PING
        PING hello
        PING ""
        ping mixedCase
        ECHO hello
        ECHO ""
        echo "with space"
        "#,
    );
    b.args(&["ECHO", "a\0b\r\nc"]);
    b.args(&[b"PING".to_vec(), (0..=255u8).collect()]);
    b.ck("HELLO", Check::Hello);
    b.ck(&format!("HELLO {proto}"), Check::Hello);
    b.ck(&format!("hello {proto} SETNAME conn-name"), Check::Hello);
    b.lines(
        r#"
        CLIENT GETNAME
        HELLO 4
        HELLO 1
        HELLO abc
        HELLO -1
        "#,
    );
    b.ck(&format!("HELLO {proto} SETNAME"), Check::Hello);
    b.ck(&format!("HELLO {proto} FOO bar"), Check::Hello);
    b.ck(&format!("HELLO {proto} SETNAME \"bad name\""), Check::Hello);
    b.ck(&format!("HELLO {proto} AUTH default whatever"), Check::Hello);
    b.ck(&format!("HELLO {proto} AUTH nosuchuser pw"), Check::Hello);
    b.lines(
        r#"
        CLIENT GETNAME
        CLIENT SETNAME my-client
        CLIENT GETNAME
        client setname another
        client getname
        CLIENT SETNAME "has space"
        CLIENT SETNAME "new\nline"
        CLIENT GETNAME
        CLIENT SETNAME ""
        CLIENT GETNAME
        CLIENT SETNAME
        CLIENT SETNAME a b
        CLIENT GETNAME extra
        AUTH onlypassword
        AUTH default anything
        AUTH nosuchuser pw
        AUTH a b c
        AUTH
        "#,
    );
    b.ck("CLIENT ID", Check::AnyInt);
    b.ck("client id", Check::AnyInt);
    b.c("CLIENT ID extra");
    b.lines(
        r#"
        CLIENT NO-EVICT on
        CLIENT NO-EVICT off
        CLIENT NO-EVICT maybe
        CLIENT GETREDIR
        CLIENT TRACKINGINFO
        CLIENT CACHING yes
        CLIENT UNBLOCK 99999999
        CLIENT UNBLOCK abc
        CLIENT KILL 1.2.3.4:5
        CLIENT KILL ID 99999999
        CLIENT KILL ID abc
        CLIENT KILL ID 0
        CLIENT KILL TYPE foo
        CLIENT KILL TYPE pubsub SKIPME yes
        CLIENT KILL USER nosuchuser
        CLIENT KILL SKIPME maybe
        CLIENT KILL ADDR 1.2.3.4:5 LADDR 1.2.3.4:6
        CLIENT KILL ID 1 extra
        CLIENT KILL FOO bar
        CLIENT LIST TYPE foo
        CLIENT LIST ID abc
        CLIENT LIST ID 0
        CLIENT LIST ID 99999999
        CLIENT LIST ID -5 99999999 99999999
        CLIENT LIST TYPE normal ID 1
        CLIENT LIST ID 99999999 TYPE normal
        CLIENT LIST TYPE normal extra
        CLIENT LIST TYPE pubsub
        CLIENT LIST TYPE master
        CLIENT LIST TYPE replica
        CLIENT LIST x
        CLIENT REPLY foo
        CLIENT FOO
        CLIENT
        CLIENT HELP
        "#,
    );
    // CLIENT REPLY: the commands in between get no reply, on both.
    b.raw(
        "CLIENT REPLY OFF / PING / SET / CLIENT REPLY ON",
        &[
            encode(&["CLIENT", "REPLY", "OFF"]),
            encode(&["PING"]),
            encode(&["SET", "reply:off", "1"]),
            encode(&["GET", "nosuchkey"]),
            encode(&["CLIENT", "REPLY", "ON"]),
        ]
        .concat(),
        1,
    );
    b.raw(
        "CLIENT REPLY SKIP / PING / ECHO",
        &[encode(&["CLIENT", "REPLY", "SKIP"]), encode(&["PING"]), encode(&["ECHO", "after"])]
            .concat(),
        1,
    );
    b.raw(
        "CLIENT REPLY SKIP / GET (forwarded) / GET",
        &[
            encode(&["CLIENT", "REPLY", "SKIP"]),
            encode(&["GET", "reply:off"]),
            encode(&["GET", "reply:off"]),
        ]
        .concat(),
        1,
    );
}

fn strings(b: &mut Builder) {
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
fn values(b: &mut Builder) {
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
fn many(b: &mut Builder) {
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

fn keyspace(b: &mut Builder, dumps: &Dumps) {
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

fn hashes(b: &mut Builder) {
    b.lines(
        r#"
        HSET h:1 f1 v1 f2 v2 f3 v3
        HSET h:1 f1 new f4 v4
        HGET h:1 f1
        HGET h:1 nosuch
        HGET h:nosuch f
        HMGET h:1 f1 nosuch f2
        HMGET h:nosuch a b
        HGETALL h:1
        HGETALL h:nosuch
        HKEYS h:1
        HVALS h:1
        HLEN h:1
        HLEN h:nosuch
        HEXISTS h:1 f1
        HEXISTS h:1 nosuch
        HSTRLEN h:1 f1
        HSTRLEN h:1 nosuch
        HSETNX h:1 f1 x
        HSETNX h:1 f5 v5
        HDEL h:1 f5 nosuch
        HDEL h:1 nosuch
        HINCRBY h:1 n 10
        HINCRBY h:1 n -3
        HINCRBY h:1 f1 1
        HINCRBY h:1 n abc
        HSET h:1 big 9223372036854775807
        HINCRBY h:1 big 1
        HINCRBYFLOAT h:1 fl 1.5
        HINCRBYFLOAT h:1 fl 2.25
        HINCRBYFLOAT h:1 fl abc
        HINCRBYFLOAT h:1 f1 1
        HINCRBYFLOAT h:1 fl inf
        HMSET h:1 m1 a m2 b
        HMSET h:1 m1
        HSET h:1 odd
        HGETALL h:1
        OBJECT ENCODING h:1
        HRANDFIELD h:1 100
        HRANDFIELD h:1 100 WITHVALUES
        HRANDFIELD h:1 0
        HRANDFIELD h:nosuch
        HRANDFIELD h:nosuch 5
        HRANDFIELD h:1 abc
        HSET h:one only value
        HRANDFIELD h:one
        HRANDFIELD h:one -3
        HRANDFIELD h:one -3 WITHVALUES
        HRANDFIELD h:one 1 WITHVALUES
        HSCAN h:1 0
        HSCAN h:1 0 MATCH f* COUNT 100
        HSCAN h:1 0 MATCH nosuch*
        HSCAN h:nosuch 0
        HSCAN h:1 abc
        HSCAN h:1 0 COUNT 0
        HSCAN h:1 0 FOO bar
        HDEL h:one only
        EXISTS h:one
        "#,
    );
    // A hash past hash-max-listpack-entries (512) is a hashtable: order is the
    // table's, seeded per process.
    let mut args = vec![b"HSET".to_vec(), b"h:big".to_vec()];
    for i in 0..700 {
        args.push(format!("field:{i}").into_bytes());
        args.push(format!("value:{}", i * 7).into_bytes());
    }
    b.args(&args);
    b.c("OBJECT ENCODING h:big");
    b.c("HLEN h:big");
    b.ck("HGETALL h:big", Check::UnorderedPairs);
    b.ck("HKEYS h:big", Check::Unordered);
    b.ck("HVALS h:big", Check::Unordered);
    b.c("HMGET h:big field:0 field:699 field:700");
    b.c("HRANDFIELD h:big 0");
}

fn lists(b: &mut Builder) {
    b.lines(
        r#"
        LPUSH l:1 c b a
        RPUSH l:1 d e f
        LRANGE l:1 0 -1
        LRANGE l:1 -2 -1
        LRANGE l:1 5 2
        LRANGE l:1 0 100
        LRANGE l:nosuch 0 -1
        LRANGE l:1 a b
        LLEN l:1
        LLEN l:nosuch
        LINDEX l:1 0
        LINDEX l:1 -1
        LINDEX l:1 100
        LINDEX l:1 x
        LSET l:1 0 A
        LSET l:1 100 x
        LSET l:nosuch 0 x
        LINSERT l:1 BEFORE c c0
        LINSERT l:1 AFTER c c1
        LINSERT l:1 AFTER nosuch x
        LINSERT l:nosuch AFTER a x
        LINSERT l:1 MIDDLE c x
        LRANGE l:1 0 -1
        RPUSH l:1 c c
        LPOS l:1 c
        LPOS l:1 c RANK 2
        LPOS l:1 c RANK -1
        LPOS l:1 c COUNT 0
        LPOS l:1 c COUNT 2
        LPOS l:1 c MAXLEN 3
        LPOS l:1 nosuch
        LPOS l:1 c RANK 0
        LPOS l:1 c COUNT -1
        LPOS l:nosuch c COUNT 0
        LREM l:1 1 c
        LREM l:1 -1 c
        LREM l:1 0 c
        LRANGE l:1 0 -1
        LPUSHX l:nosuch x
        RPUSHX l:nosuch x
        LPUSHX l:1 x0
        RPUSHX l:1 x9
        LPOP l:1
        RPOP l:1
        LPOP l:1 2
        RPOP l:1 2
        LPOP l:1 0
        LPOP l:nosuch
        LPOP l:nosuch 2
        LPOP l:1 -1
        LRANGE l:1 0 -1
        RPUSH l:src 1 2 3
        LMOVE l:src l:dst LEFT RIGHT
        LMOVE l:src l:dst RIGHT LEFT
        LMOVE l:src l:dst UP DOWN
        LMOVE l:nosuch l:dst LEFT LEFT
        RPOPLPUSH l:src l:dst
        RPOPLPUSH l:src l:dst
        LRANGE l:dst 0 -1
        EXISTS l:src
        LMPOP 2 l:nosuch l:dst LEFT
        LMPOP 1 l:dst RIGHT COUNT 10
        LMPOP 1 l:dst RIGHT
        LMPOP 0 l:dst LEFT
        LMPOP 1 l:dst UP
        LMPOP 2 l:dst LEFT
        RPUSH l:t 1 2 3 4 5 6
        LTRIM l:t 1 -2
        LRANGE l:t 0 -1
        LTRIM l:t 10 20
        EXISTS l:t
        RPUSH l:b 1 2 3
        BLPOP l:b 1
        BRPOP l:nosuch l:b 1
        BLMOVE l:b l:b2 LEFT LEFT 1
        BRPOPLPUSH l:nosuch l:x 0.01
        BLPOP l:nosuch 0.01
        BLMPOP 0.01 1 l:nosuch LEFT
        RPUSH l:b 7 8
        BLMPOP 1 2 l:nosuch l:b RIGHT COUNT 5
        BLPOP l:b abc
        BLPOP l:b -1
        OBJECT ENCODING l:b2
        "#,
    );
    let mut args = vec![b"RPUSH".to_vec(), b"l:big".to_vec()];
    args.extend((0..1000).map(|i| format!("element-{i}").into_bytes()));
    b.args(&args);
    b.lines(
        r#"
        LLEN l:big
        LRANGE l:big 0 -1
        LRANGE l:big 500 510
        LINDEX l:big 999
        LPOS l:big element-777
        OBJECT ENCODING l:big
        "#,
    );
}

fn sets(b: &mut Builder) {
    b.lines(
        r#"
        SADD si:1 5 1 3 2 4
        SADD si:1 3 6
        SMEMBERS si:1
        OBJECT ENCODING si:1
        SADD si:2 4 5 6 7 8
        SINTER si:1 si:2
        SUNION si:1 si:2
        SDIFF si:1 si:2
        SINTERCARD 2 si:1 si:2
        SINTERCARD 2 si:1 si:2 LIMIT 1
        SINTERCARD 0 si:1
        SINTERCARD 2 si:1 si:2 LIMIT -1
        SISMEMBER si:1 3
        SISMEMBER si:1 99
        SMISMEMBER si:1 1 99 3
        SMISMEMBER si:nosuch a
        SCARD si:1
        SCARD si:nosuch
        SSCAN si:1 0
        SSCAN si:1 0 MATCH 1*
        SREM si:1 1 99
        SMEMBERS si:1
        SPOP si:nosuch
        SADD si:one 42
        SPOP si:one
        EXISTS si:one
        SADD si:one 42
        SRANDMEMBER si:one
        SRANDMEMBER si:one -3
        SRANDMEMBER si:one 0
        SRANDMEMBER si:nosuch 3
        SRANDMEMBER si:one abc
        SPOP si:one 0
        SPOP si:one -1
        SMOVE si:1 si:moved 2
        SMOVE si:1 si:moved 99
        SMEMBERS si:moved
        SINTERSTORE si:store si:1 si:2
        SMEMBERS si:store
        SUNIONSTORE si:store si:1 si:2
        SMEMBERS si:store
        SDIFFSTORE si:store si:1 si:2
        SMEMBERS si:store
        SDIFFSTORE si:store si:nosuch
        EXISTS si:store
        SADD ss:1 apple banana cherry
        SADD ss:2 banana cherry date
        SCARD ss:1
        OBJECT ENCODING ss:1
        SISMEMBER ss:1 apple
        SMISMEMBER ss:1 apple nosuch cherry
        SINTERCARD 2 ss:1 ss:2
        SUNIONSTORE ss:u ss:1 ss:2
        SINTERSTORE ss:i ss:1 ss:2
        SDIFFSTORE ss:d ss:1 ss:2
        SMEMBERS ss:d
        SADD ss:mixed 1 a
        OBJECT ENCODING ss:mixed
        "#,
    );
    for cmd in [
        "SMEMBERS ss:1",
        "SINTER ss:1 ss:2",
        "SUNION ss:1 ss:2",
        "SDIFF ss:2 ss:1 ss:nosuch",
        "SMEMBERS ss:u",
        "SMEMBERS ss:i",
        "SRANDMEMBER ss:1 10",
        "SMEMBERS ss:mixed",
        "SPOP ss:u 100",
    ] {
        b.ck(cmd, Check::Unordered);
    }
    b.c("EXISTS ss:u");
    // Large sets: past set-max-intset-entries (512) even integers are a hashtable.
    let mut ints = vec![b"SADD".to_vec(), b"si:big".to_vec()];
    ints.extend((0..600).map(|i| (i * 3).to_string().into_bytes()));
    b.args(&ints);
    let mut words = vec![b"SADD".to_vec(), b"ss:big".to_vec()];
    words.extend((0..300).map(|i| format!("member-{i}").into_bytes()));
    b.args(&words);
    b.c("OBJECT ENCODING si:big");
    b.c("SCARD si:big");
    b.c("SCARD ss:big");
    b.ck("SMEMBERS si:big", Check::Unordered);
    b.ck("SMEMBERS ss:big", Check::Unordered);
    b.ck("SUNION si:big ss:big", Check::Unordered);
    b.ck("SINTER si:big si:1", Check::Unordered);
    b.c("SUNIONSTORE s:bigunion si:big ss:big");
    b.c("SINTERCARD 2 si:big si:2");
    b.c("SMISMEMBER si:big 0 1 3 1797");
}

fn sorted_sets(b: &mut Builder) {
    b.lines(
        r#"
        ZADD z:1 1 a 2 b 3 c
        ZADD z:1 1.5 d -2 e
        ZADD z:1 inf top -inf bottom
        ZRANGE z:1 0 -1
        ZRANGE z:1 0 -1 WITHSCORES
        ZRANGE z:1 0 -1 REV WITHSCORES
        ZRANGE z:1 1 2.5 BYSCORE
        ZRANGE z:1 (1 +inf BYSCORE WITHSCORES
        ZRANGE z:1 +inf -inf BYSCORE REV LIMIT 1 2
        ZRANGE z:1 -inf +inf BYSCORE LIMIT 0 3 WITHSCORES
        ZRANGE z:1 0 -1 LIMIT 0 1
        ZRANGE z:1 0 -1 BYLEX
        ZRANGE z:1 a b BYSCORE
        ZRANGE z:1 0 -1 FOO
        ZADD z:1 NX 10 a 10 f
        ZADD z:1 XX 20 a 20 g
        ZADD z:1 XX CH 21 a 22 nosuch
        ZADD z:1 GT CH 5 b 1 c
        ZADD z:1 LT CH 0 b
        ZADD z:1 INCR 5 a
        ZADD z:1 NX INCR 1 a
        ZADD z:1 XX INCR 1 nosuch
        ZADD z:1 NX XX 1 a
        ZADD z:1 GT LT 1 a
        ZADD z:1 GT NX 1 a
        ZADD z:1 INCR 1 a 2 b
        ZADD z:1 abc a
        ZADD z:1 nan a
        ZADD z:1 1
        ZADD z:1 1 a 2
        ZSCORE z:1 a
        ZSCORE z:1 top
        ZSCORE z:1 bottom
        ZSCORE z:1 nosuch
        ZMSCORE z:1 a nosuch d
        ZINCRBY z:1 2.5 d
        ZINCRBY z:1 1 new
        ZINCRBY z:1 abc a
        ZINCRBY z:1 -inf top
        ZCARD z:1
        ZCOUNT z:1 0 5
        ZCOUNT z:1 (0 (5
        ZCOUNT z:1 -inf +inf
        ZCOUNT z:1 a b
        ZRANK z:1 a
        ZRANK z:1 nosuch
        ZREVRANK z:1 a
        ZRANGEBYSCORE z:1 -inf +inf WITHSCORES LIMIT 1 3
        ZREVRANGEBYSCORE z:1 +inf 0 WITHSCORES
        ZREVRANGE z:1 0 2 WITHSCORES
        ZREM z:1 nosuch e
        ZRANDMEMBER z:1 100
        ZRANDMEMBER z:1 100 WITHSCORES
        ZRANDMEMBER z:nosuch
        ZRANDMEMBER z:nosuch 5 WITHSCORES
        ZADD z:one 3.25 only
        ZRANDMEMBER z:one
        ZRANDMEMBER z:one -2 WITHSCORES
        ZRANDMEMBER z:one abc
        ZSCAN z:1 0
        ZSCAN z:1 0 MATCH b*
        ZADD z:lex 0 a 0 b 0 c 0 d 0 e
        ZRANGEBYLEX z:lex - +
        ZRANGEBYLEX z:lex [b (d
        ZRANGEBYLEX z:lex - + LIMIT 1 2
        ZREVRANGEBYLEX z:lex + [c
        ZRANGE z:lex [b [d BYLEX
        ZRANGE z:lex + - BYLEX REV
        ZLEXCOUNT z:lex [b +
        ZRANGEBYLEX z:lex b d
        ZREMRANGEBYLEX z:lex [a [b
        ZREMRANGEBYRANK z:lex 0 0
        ZREMRANGEBYSCORE z:lex 0 0
        EXISTS z:lex
        ZADD z:a 1 x 2 y 3 z
        ZADD z:b 10 y 20 z 30 w
        ZUNIONSTORE z:u 2 z:a z:b
        ZRANGE z:u 0 -1 WITHSCORES
        ZUNIONSTORE z:u 2 z:a z:b WEIGHTS 2 0.5 AGGREGATE MAX
        ZRANGE z:u 0 -1 WITHSCORES
        ZINTERSTORE z:i 2 z:a z:b AGGREGATE MIN
        ZRANGE z:i 0 -1 WITHSCORES
        ZDIFFSTORE z:d 2 z:a z:b
        ZRANGE z:d 0 -1 WITHSCORES
        ZUNION 2 z:a z:b WITHSCORES
        ZINTER 2 z:a z:b WITHSCORES
        ZDIFF 2 z:b z:a WITHSCORES
        ZINTERCARD 2 z:a z:b
        ZINTERCARD 2 z:a z:b LIMIT 1
        ZUNIONSTORE z:u 0 z:a
        ZUNIONSTORE z:u 2 z:a
        ZUNIONSTORE z:u 2 z:a z:b WEIGHTS 1
        ZUNIONSTORE z:u 2 z:a z:b AGGREGATE FOO
        ZUNIONSTORE z:u 1 si:1
        ZRANGESTORE z:rs z:1 0 2
        ZRANGE z:rs 0 -1 WITHSCORES
        ZRANGESTORE z:rs z:1 (0 +inf BYSCORE LIMIT 0 2
        ZPOPMIN z:rs
        ZPOPMAX z:rs 5
        ZPOPMIN z:nosuch
        ZPOPMIN z:a -1
        ZMPOP 1 z:b MIN COUNT 2
        ZMPOP 2 z:nosuch z:b MAX
        ZMPOP 1 z:nosuch MIN
        ZMPOP 1 z:b FOO
        ZADD z:bl 1 a 2 b
        BZPOPMIN z:bl 1
        BZPOPMAX z:nosuch z:bl 1
        BZPOPMIN z:nosuch 0.01
        BZMPOP 1 1 z:bl MIN
        BZMPOP 0.01 1 z:bl MIN
        ZADD z:dbl 0.1 a 1e300 b -0 c 3.0 d 123456789.123456789 e
        ZRANGE z:dbl 0 -1 WITHSCORES
        ZSCORE z:dbl e
        ZINCRBY z:dbl 0.2 a
        OBJECT ENCODING z:1
        "#,
    );
    let mut args = vec![b"ZADD".to_vec(), b"z:big".to_vec()];
    for i in 0..300 {
        args.push(format!("{}", (i * 37) % 300).into_bytes());
        args.push(format!("m{i}").into_bytes());
    }
    b.args(&args);
    b.lines(
        r#"
        OBJECT ENCODING z:big
        ZCARD z:big
        ZRANGE z:big 0 -1 WITHSCORES
        ZRANGE z:big 100 120 BYSCORE WITHSCORES
        ZRANGE z:big (50 -inf BYSCORE REV LIMIT 5 5
        ZRANK z:big m150
        ZSCORE z:big m299
        ZCOUNT z:big 10 20
        ZSCAN z:big 0 MATCH nosuch COUNT 1000
        "#,
    );
}

fn streams(b: &mut Builder) {
    b.lines(
        r#"
        XADD x:1 1-1 name alice age 30
        XADD x:1 1-2 name bob
        XADD x:1 2-0 name carol
        XADD x:1 2-* name dave
        XADD x:1 3 name eve
        XADD x:1 1-1 name dup
        XADD x:1 0-0 name zero
        XADD x:new 0-0 a b
        XADD x:1 abc a b
        XADD x:1 5-0 odd
        XADD x:nosuch NOMKSTREAM 1-1 a b
        EXISTS x:nosuch
        XLEN x:1
        XLEN x:nosuch
        XRANGE x:1 - +
        XRANGE x:1 - + COUNT 2
        XRANGE x:1 (1-1 2
        XRANGE x:1 2 2
        XRANGE x:1 + -
        XRANGE x:1 abc +
        XREVRANGE x:1 + - COUNT 3
        XREVRANGE x:1 3 (1-2
        XREAD COUNT 2 STREAMS x:1 0
        XREAD STREAMS x:1 x:nosuch 1-2 0
        XREAD STREAMS x:1 $
        XREAD STREAMS x:1
        XREAD COUNT abc STREAMS x:1 0
        XREAD BLOCK 10 STREAMS x:1 0
        XREAD BLOCK 10 STREAMS x:1 $
        XREAD BLOCK 10 COUNT 1 STREAMS x:1 2-0
        XGROUP CREATE x:1 g1 0
        XGROUP CREATE x:1 g1 0
        XGROUP CREATE x:nosuch g1 0
        XGROUP CREATE x:mk g1 $ MKSTREAM
        XGROUP CREATE x:1 g2 $ ENTRIESREAD 5
        XGROUP CREATECONSUMER x:1 g1 c0
        XGROUP CREATECONSUMER x:1 g1 c0
        XREADGROUP GROUP g1 c1 COUNT 2 STREAMS x:1 >
        XREADGROUP GROUP g1 c2 STREAMS x:1 >
        XREADGROUP GROUP g1 c1 STREAMS x:1 0
        XREADGROUP GROUP g1 c1 STREAMS x:1 >
        XREADGROUP GROUP nosuch c1 STREAMS x:1 >
        XREADGROUP GROUP g1 c1 STREAMS x:nosuch >
        XREADGROUP GROUP g1 c1 NOACK STREAMS x:1 0
        XREADGROUP GROUP g1 c3 BLOCK 10 STREAMS x:1 >
        XPENDING x:1 g1
        XPENDING x:1 nosuch
        XPENDING x:1 g1 - + 10 nosuchconsumer
        XACK x:1 g1 1-1 9-9
        XACK x:1 g1 1-1
        XACK x:1 nosuch 1-2
        XPENDING x:1 g1
        XCLAIM x:1 g1 c3 0 1-2 JUSTID
        XCLAIM x:1 g1 c3 0 2-0
        XCLAIM x:1 g1 c3 0 9-9
        XAUTOCLAIM x:1 g1 c4 0 0-0 COUNT 1 JUSTID
        XAUTOCLAIM x:1 g1 c4 0 0-0
        XPENDING x:1 g1
        XINFO STREAM x:1
        XINFO STREAM x:mk
        XINFO STREAM x:nosuch
        XINFO GROUPS x:1
        XINFO GROUPS x:nosuch
        XINFO FOO x:1
        XGROUP SETID x:1 g1 0
        XGROUP SETID x:1 g1 $ ENTRIESREAD 3
        XGROUP DELCONSUMER x:1 g1 c0
        XGROUP DESTROY x:1 g2
        XGROUP DESTROY x:1 g2
        XGROUP FOO x:1
        XDEL x:1 1-2 9-9
        XLEN x:1
        XTRIM x:1 MAXLEN 3
        XTRIM x:1 MINID 3
        XTRIM x:1 MAXLEN ~ 1
        XTRIM x:1 FOO 1
        XADD x:1 MAXLEN 2 10-0 k v
        XRANGE x:1 - +
        XSETID x:1 100-0
        XSETID x:1 1-0
        XADD x:1 50-0 k v
        XINFO GROUPS x:1
        "#,
    );
    b.ck("XINFO CONSUMERS x:1 g1", Check::Mask(&["idle", "inactive"]));
    b.ck("XINFO STREAM x:1 FULL", Check::Timestamps);
    b.ck("XINFO STREAM x:1 FULL COUNT 1", Check::Timestamps);
    b.ck("XPENDING x:1 g1 - + 10", Check::XpendingIdle);
    b.ck("XPENDING x:1 g1 - + 10 c3", Check::XpendingIdle);
    b.c("XPENDING x:1 g1 IDLE 99999999 - + 10");
}

fn bitmaps_and_hll(b: &mut Builder) {
    b.lines(
        r#"
        SETBIT bit:1 7 1
        SETBIT bit:1 7 0
        SETBIT bit:1 100 1
        SETBIT bit:1 3 1
        GETBIT bit:1 3
        GETBIT bit:1 1000
        GETBIT bit:nosuch 0
        GET bit:1
        SETBIT bit:1 -1 1
        SETBIT bit:1 1 2
        SETBIT bit:1 4294967296 1
        GETBIT bit:1 abc
        BITCOUNT bit:1
        BITCOUNT bit:1 0 0
        BITCOUNT bit:1 0 -1 BIT
        BITCOUNT bit:1 3 3 BIT
        BITCOUNT bit:1 0
        BITCOUNT bit:nosuch
        BITCOUNT bit:1 0 1 FOO
        BITPOS bit:1 1
        BITPOS bit:1 0
        BITPOS bit:1 1 1
        BITPOS bit:1 1 0 -1 BIT
        BITPOS bit:nosuch 0
        BITPOS bit:1 2
        SET bit:a "\xff\xf0\x00"
        SET bit:b "\x0f\x0f"
        BITOP AND bit:and bit:a bit:b
        GET bit:and
        BITOP OR bit:or bit:a bit:b
        GET bit:or
        BITOP XOR bit:xor bit:a bit:b bit:nosuch
        GET bit:xor
        BITOP NOT bit:not bit:a
        GET bit:not
        BITOP NOT bit:not bit:a bit:b
        BITOP FOO bit:x bit:a
        BITOP AND bit:empty bit:nosuch
        EXISTS bit:empty
        BITFIELD bit:f SET u8 0 255 GET u8 0 GET i8 0
        BITFIELD bit:f INCRBY u8 0 10 OVERFLOW SAT INCRBY u8 0 300 OVERFLOW FAIL INCRBY u8 0 1
        BITFIELD bit:f SET i16 #1 -100 GET i16 #1 GET u4 4
        BITFIELD bit:f GET u64 0
        BITFIELD bit:f GET i65 0
        BITFIELD bit:f SET u8 -1 1
        BITFIELD bit:f OVERFLOW FOO
        BITFIELD bit:nosuch GET u8 0
        BITFIELD_RO bit:f GET u8 0 GET i16 #1
        BITFIELD_RO bit:f SET u8 0 1
        GET bit:f
        PFADD hll:1 a b c d e
        PFADD hll:1 a b
        PFADD hll:1
        PFADD hll:new
        PFCOUNT hll:1
        PFADD hll:2 d e f g
        PFCOUNT hll:1 hll:2
        PFMERGE hll:m hll:1 hll:2
        PFCOUNT hll:m
        PFCOUNT hll:nosuch
        GET hll:1
        TYPE hll:1
        PFADD s:1 x
        PFCOUNT s:1
        SET hll:bad "HYLLxxxx"
        PFCOUNT hll:bad
        PFMERGE hll:m2 hll:nosuch
        EXISTS hll:m2
        "#,
    );
    let mut args = vec![b"PFADD".to_vec(), b"hll:big".to_vec()];
    args.extend((0..5000).map(|i| format!("item-{i}").into_bytes()));
    b.args(&args);
    b.c("PFCOUNT hll:big");
    b.c("GET hll:big");
}

fn geo(b: &mut Builder) {
    b.lines(
        r#"
        GEOADD geo:1 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
        GEOADD geo:1 NX 2.349014 48.864716 Paris
        GEOADD geo:1 XX CH 2.35 48.86 Paris
        GEOADD geo:1 200 100 Nowhere
        GEOADD geo:1 abc 1 x
        GEOPOS geo:1 Palermo nosuch Paris
        GEODIST geo:1 Palermo Catania
        GEODIST geo:1 Palermo Catania km
        GEODIST geo:1 Palermo nosuch
        GEODIST geo:1 Palermo Catania parsecs
        GEOHASH geo:1 Palermo Catania nosuch
        GEOSEARCH geo:1 FROMLONLAT 15 37 BYRADIUS 200 km ASC
        GEOSEARCH geo:1 FROMLONLAT 15 37 BYRADIUS 200 km ASC WITHCOORD WITHDIST WITHHASH
        GEOSEARCH geo:1 FROMMEMBER Palermo BYBOX 400 400 km DESC COUNT 1
        GEOSEARCH geo:1 FROMMEMBER nosuch BYRADIUS 10 km
        GEOSEARCH geo:1 BYRADIUS 10 km
        GEOSEARCHSTORE geo:dst geo:1 FROMLONLAT 15 37 BYRADIUS 200 km ASC STOREDIST
        ZRANGE geo:dst 0 -1 WITHSCORES
        GEORADIUS geo:1 15 37 200 km WITHDIST ASC
        GEORADIUSBYMEMBER geo:1 Palermo 300 km ASC COUNT 2
        GEORADIUS_RO geo:1 15 37 200 km ASC
        "#,
    );
}

fn scripting(b: &mut Builder) {
    let eval = |b: &mut Builder, script: &str, rest: &[&str]| {
        let mut args = vec![b"EVAL".to_vec(), script.as_bytes().to_vec()];
        args.extend(rest.iter().map(|a| a.as_bytes().to_vec()));
        b.args(&args);
    };
    eval(b, "return 1", &["0"]);
    eval(b, "return {1, 2, {3, 'x'}, 'str'}", &["0"]);
    eval(b, "return nil", &["0"]);
    eval(b, "return false", &["0"]);
    eval(b, "return true", &["0"]);
    eval(b, "return 3.99", &["0"]);
    eval(b, "return {ok = 'fine'}", &["0"]);
    eval(b, "return {err = 'MYERR custom'}", &["0"]);
    eval(b, "return redis.error_reply('My Error')", &["0"]);
    eval(b, "return redis.status_reply('STATUS')", &["0"]);
    eval(b, "return {1, nil, 3}", &["0"]);
    eval(b, "return {KEYS[1], ARGV[1], ARGV[2]}", &["1", "key", "arg1", "arg2"]);
    eval(b, "return redis.call('SET', KEYS[1], ARGV[1])", &["1", "ev:1", "value"]);
    eval(b, "return redis.call('GET', KEYS[1])", &["1", "ev:1"]);
    eval(b, "return redis.call('GET', KEYS[1])", &["1", "ev:nosuch"]);
    eval(b, "return redis.call('HGETALL', KEYS[1])", &["1", "h:1"]);
    eval(b, "return redis.call('LPUSH', KEYS[1], 'x')", &["1", "ev:1"]);
    eval(b, "return redis.pcall('LPUSH', KEYS[1], 'x')", &["1", "ev:1"]);
    eval(b, "return redis.call('nosuchcommand')", &["0"]);
    eval(b, "return redis.call('GET')", &["0"]);
    eval(b, "this is not lua", &["0"]);
    eval(b, "error('raised')", &["0"]);
    eval(b, "error({err = 'TABLEERR raised'})", &["0"]);
    eval(b, "return 1", &["-1"]);
    eval(b, "return 1", &["abc"]);
    eval(b, "return 1", &["5", "a"]);
    eval(b, "return 1", &[]);
    eval(b, "redis.setresp(3); return redis.call('HGETALL', KEYS[1])", &["1", "h:one"]);
    eval(b, "redis.setresp(3); return redis.call('ZSCORE', KEYS[1], 'a')", &["1", "z:1"]);
    eval(b, "redis.setresp(3); return redis.call('SMEMBERS', KEYS[1])", &["1", "si:2"]);
    eval(b, "redis.setresp(3); return redis.call('GET', 'ev:nosuch')", &["0"]);
    eval(b, "redis.setresp(3); return redis.call('SISMEMBER', KEYS[1], 4)", &["1", "si:2"]);
    eval(b, "return {map = {a = 1}}", &["0"]);
    eval(b, "return {double = 3.5}", &["0"]);
    eval(b, "return {double = 0}", &["0"]);
    eval(b, "return {big_number = '123456789012345678901234567890'}", &["0"]);
    eval(b, "return {set = {x = true}}", &["0"]);
    eval(b, "return {verbatim_string = {format = 'txt', string = 'hello'}}", &["0"]);
    eval(b, "redis.setresp(4)", &["0"]);
    eval(b, "return redis.sha1hex('')", &["0"]);
    b.args(&["EVAL_RO", "return redis.call('GET', KEYS[1])", "1", "ev:1"]);
    b.args(&["EVAL_RO", "return redis.call('SET', KEYS[1], 'x')", "1", "ev:1"]);
    b.args(&["SCRIPT", "LOAD", "return 'loaded ' .. ARGV[1]"]);
    // sha1("return 'loaded ' .. ARGV[1]"), the same on both servers.
    let sha = sha_of_loaded();
    b.args(&["EVALSHA", sha, "0", "x"]);
    b.args(&["evalsha", &sha.to_uppercase(), "0", "y"]);
    b.args(&["EVALSHA_RO", sha, "0", "z"]);
    b.args(&["EVALSHA", "0000000000000000000000000000000000000000", "0"]);
    b.args(&["EVALSHA", "short", "0"]);
    b.args(&["SCRIPT", "EXISTS", sha, "0000000000000000000000000000000000000000"]);
    b.args(&["SCRIPT", "LOAD", "syntax error here"]);
    b.lines(
        r#"
        SCRIPT FOO
        SCRIPT EXISTS
        SCRIPT FLUSH SYNC
        SCRIPT FLUSH FOO
        "#,
    );
    b.args(&["SCRIPT", "EXISTS", sha]);
    b.args(&["EVALSHA", sha, "0", "gone"]);
    let lib = "#!lua name=mylib\nredis.register_function('myecho', function(keys, args) return args[1] end)\nredis.register_function{function_name='myget', callback=function(keys, args) return redis.call('GET', keys[1]) end, flags={'no-writes'}}";
    b.args(&["FUNCTION", "LOAD", lib]);
    b.args(&["FUNCTION", "LOAD", lib]);
    b.args(&["FUNCTION", "LOAD", "REPLACE", lib]);
    b.args(&["FUNCTION", "LOAD", "not a library"]);
    b.ck("FUNCTION LIST", Check::SortFields(&["functions"]));
    b.ck("FUNCTION LIST WITHCODE LIBRARYNAME mylib", Check::SortFields(&["functions"]));
    b.lines(
        r#"
        FCALL myecho 0 hello
        FCALL myget 1 ev:1
        FCALL_RO myget 1 ev:1
        FCALL_RO myecho 0 x
        FCALL nosuchfn 0
        FCALL myecho abc
        FUNCTION DELETE mylib
        FUNCTION DELETE mylib
        FCALL myecho 0 x
        FUNCTION FOO
        "#,
    );
}

/// The SHA1 of the script the corpus loads with SCRIPT LOAD.
fn sha_of_loaded() -> &'static str {
    "dac27443ce9630330038c9cef6028e16904c037f"
}

fn transactions(b: &mut Builder) {
    b.lines(
        r#"
        MULTI
        SET tx:1 a
        INCR tx:counter
        GET tx:1
        PING
        ECHO inside
        EXEC
        MULTI
        SET tx:1 b
        DISCARD
        GET tx:1
        EXEC
        DISCARD
        MULTI
        MULTI
        SET tx:1 c
        EXEC
        MULTI
        SET tx:1 d
        NOSUCHCOMMAND a b
        SET tx:1 e
        EXEC
        GET tx:1
        MULTI
        GET
        EXEC
        MULTI
        SET tx:str notanumber
        INCR tx:str
        LPUSH tx:str x
        GET tx:str
        EXEC
        MULTI
        WATCH tx:1
        EXEC
        WATCH tx:w
        SET tx:w changed
        MULTI
        SET tx:w fromtx
        EXEC
        GET tx:w
        WATCH tx:w
        UNWATCH
        SET tx:w changed-again
        MULTI
        SET tx:w fromtx2
        EXEC
        GET tx:w
        WATCH tx:w tx:other
        MULTI
        GET tx:w
        EXEC
        UNWATCH
        WATCH
        MULTI extra
        EXEC extra
        MULTI
        SELECT 1
        SET tx:db1 in-db-1
        EXEC
        GET tx:db1
        SELECT 0
        GET tx:db1
        MULTI
        BLPOP tx:nosuchlist 10
        EXEC
        "#,
    );
}

fn databases(b: &mut Builder) {
    b.lines(
        r#"
        SELECT 5
        DBSIZE
        SET db:only one
        RANDOMKEY
        SCAN 0
        SCAN 0 MATCH db:* COUNT 100 TYPE string
        KEYS *
        DBSIZE
        GET db:only
        SELECT 6
        RANDOMKEY
        SET db:two x
        MOVE db:two 5
        SELECT 5
        KEYS db:two
        DBSIZE
        FLUSHDB
        DBSIZE
        SELECT 1
        DBSIZE
        GET tx:db1
        SELECT 0
        GET db:only
        SELECT 16
        SELECT -1
        SELECT abc
        SELECT
        SELECT 1 2
        SWAPDB 0 99
        SWAPDB 0 abc
        SWAPDB 1 2
        SELECT 0
        "#,
    );
    b.c("DBSIZE");
}

fn server(b: &mut Builder) {
    b.lines(
        r#"
        COMMAND COUNT
        COMMAND INFO GET SET nosuchcommand
        COMMAND INFO client|setname
        COMMAND GETKEYS SET k v
        COMMAND GETKEYS MSET a 1 b 2
        COMMAND GETKEYS GET
        COMMAND GETKEYS NOSUCH x
        COMMAND GETKEYSANDFLAGS LMOVE a b LEFT RIGHT
        COMMAND DOCS GET
        COMMAND FOO
        CONFIG GET maxmemory-policy
        CONFIG GET nosuchparameter
        CONFIG GET
        CONFIG SET
        CONFIG SET nosuchparameter 1
        CONFIG SET maxmemory abc
        CONFIG FOO
        LASTSAVE extra
        DBSIZE extra
        MEMORY USAGE nosuch
        MEMORY FOO
        WAIT 0 0
        WAIT abc 0
        LOLWUT VERSION abc
        DEBUG FOO
        "#,
    );
    // The command table is a hash table with a per-process seed.
    b.ck("COMMAND LIST FILTERBY PATTERN xa*", Check::Unordered);
    b.ck("COMMAND LIST FILTERBY ACLCAT hyperloglog", Check::Unordered);
    b.ck("COMMAND INFO", Check::CommandTable);
    b.ck("COMMAND", Check::CommandTable);
    b.lines(
        r#"
        ACL WHOAMI
        ACL USERS
        ACL LIST
        ACL CAT
        ACL GETUSER default
        ACL GETUSER nosuchuser
        ACL DRYRUN default GET k
        ACL DRYRUN default NOSUCH k
        ACL NOSUCH
        ACL LOG nosuch
        SLOWLOG HELP
        SLOWLOG NOSUCH
        LATENCY HELP
        LATENCY NOSUCH
        MEMORY HELP
        MEMORY DOCTOR extra
        PUBSUB NUMSUB nosuchchannel
        PUBSUB NUMPAT
        PUBSUB CHANNELS nosuch*
        PUBSUB SHARDCHANNELS
        PUBSUB NOSUCH
        PUBLISH nosuchchannel message
        SPUBLISH nosuchchannel message
        CLIENT NO-TOUCH on
        WAITAOF 0 0 0
        OBJECT ENCODING wt:stream
        "#,
    );
    // Categories list commands from the command table (a hash table).
    b.ck("ACL CAT hash", Check::Unordered);
    b.ck("MEMORY USAGE s:1", Check::Near(64));
    // CONFIG GET with a pattern walks the config table, a hash table too.
    b.ck("CONFIG GET hash-max-listpack-*", Check::UnorderedPairs);
    b.ck("CONFIG GET *max-*-entries", Check::UnorderedPairs);
    b.ck("TIME", Check::Time);
    b.ck("INFO", Check::Info);
    b.ck("INFO server", Check::Info);
    b.ck("INFO keyspace", Check::Info);
    b.ck("INFO server clients", Check::Info);
    b.ck("INFO all", Check::Info);
    b.ck("INFO default", Check::Info);
    b.ck("INFO nosuchsection", Check::Info);
    b.c("INFO a b c d e f g h");
}

fn errors(b: &mut Builder) {
    // Wrong arity, commands and subcommands.
    b.lines(
        r#"
        GET
        GET a b
        SET k
        GETEX
        HSET h:arity f
        HGET h:arity
        LPUSH l:arity
        SADD s:arity
        ZADD z:arity 1
        XADD x:arity
        EXPIRE k
        MGET
        DEL
        EXISTS
        INCR
        INCR a b
        LRANGE l 0
        ECHO
        ECHO a b
        PING a b
        PING a b c
        EVAL
        EVALSHA
        SUBSCRIBE
        PUBLISH ch
        SCAN
        TYPE
        RENAME a
        CLIENT SETNAME
        CLIENT GETNAME x
        CLIENT KILL
        CLIENT NO-EVICT
        CONFIG GET
        CONFIG RESETSTAT x
        OBJECT ENCODING
        XINFO STREAM
        XGROUP CREATE x
        SCRIPT EXISTS
        FUNCTION LOAD
        MEMORY USAGE
        DUMP
        RESTORE k 0
        BITFIELD
        WATCH
        SELECT
        SWAPDB 0
        HELLO 3 AUTH default
        "#,
    );
    // Unknown commands and subcommands; Redis quotes at most 128 bytes of the
    // name and of the arguments.
    b.lines(
        r#"
        NOSUCHCOMMAND
        nosuchcommand a b c
        NoSuch "with space" ""
        CLIENT NOSUCH
        CONFIG NOSUCH x
        OBJECT NOSUCH k
        XINFO NOSUCH
        SCRIPT NOSUCH
        FUNCTION NOSUCH
        MEMORY NOSUCH
        COMMAND NOSUCH
        XGROUP NOSUCH
        CLUSTER INFO
        "#,
    );
    let long = "n".repeat(300);
    b.args(&[long.as_str()]);
    b.args(&[long.as_str(), long.as_str(), "b"]);
    b.args(&["nosuch", long.as_str()]);
    b.args(&["CLIENT", long.as_str()]);
    b.args(&[b"nosuch\0binary".to_vec(), b"\0\x01\xff".to_vec(), b"a\r\nb".to_vec()]);
    b.args(&[b"\xff\xfe".to_vec()]);
    let mut many: Vec<Vec<u8>> = vec![b"nosuchmany".to_vec()];
    many.extend((0..200).map(|i| format!("arg{i}").into_bytes()));
    b.args(&many);
    let mut many_short: Vec<Vec<u8>> = vec![b"nosuch".to_vec()];
    many_short.extend((0..100).map(|_| b"a".to_vec()));
    b.args(&many_short);
    b.args(&["GET"; 300]);
    // WRONGTYPE in every direction.
    b.lines(
        r#"
        SET wt:str v
        RPUSH wt:list a
        HSET wt:hash f v
        SADD wt:set a
        ZADD wt:zset 1 a
        XADD wt:stream 1-1 f v
        GET wt:list
        GET wt:hash
        APPEND wt:set x
        INCR wt:zset
        LPUSH wt:str x
        LRANGE wt:hash 0 -1
        HGET wt:str f
        HSET wt:list f v
        SADD wt:str x
        SMEMBERS wt:zset
        ZADD wt:set 1 a
        ZRANGE wt:str 0 -1
        XADD wt:str * f v
        XRANGE wt:hash - +
        SETBIT wt:list 1 1
        BITCOUNT wt:hash
        PFADD wt:list a
        GEOADD wt:str 1 1 m
        LMOVE wt:list wt:str LEFT LEFT
        SUNION wt:set wt:str
        SINTERSTORE wt:dst wt:set wt:hash
        ZUNIONSTORE wt:dst 2 wt:zset wt:list
        SET wt:str v GET
        SET wt:list v GET
        GETDEL wt:list
        STRLEN wt:hash
        OBJECT ENCODING wt:stream
        TYPE wt:stream
        "#,
    );
    // Bad numbers and out-of-range values.
    b.lines(
        r#"
        SET num:1 5
        INCRBY num:1 9223372036854775808
        INCRBY num:1 ""
        INCRBY num:1 " 1"
        INCRBY num:1 1e3
        INCRBY num:1 0x10
        DECRBY num:1 abc
        EXPIRE num:1 1.5
        EXPIRE num:1 ""
        LRANGE wt:list 0 1.0
        LINDEX wt:list 99999999999999999999
        LPOS wt:list a RANK abc
        SETEX num:x -1 v
        ZADD num:z 1e400 m
        ZINCRBY num:z "" m
        ZRANGEBYSCORE wt:zset abc def
        ZRANGEBYLEX wt:zset abc def
        HINCRBYFLOAT wt:hash f 1e400
        INCRBYFLOAT num:1 1e400
        SETRANGE num:1 abc x
        GETRANGE num:1 0 abc
        SRANDMEMBER wt:set -9223372036854775808
        BITPOS wt:str 1 abc
        OBJECT FREQ nosuch
        CLIENT KILL ID -5
        SELECT 9999999999999999999999
        EXPIRE num:1 9223372036854775807
        PEXPIREAT num:1 9223372036854775807
        SCAN abc
        SCAN 0 COUNT abc
        SCAN 0 TYPE
        XADD num:s 18446744073709551616-0 f v
        XADD num:s 1-18446744073709551616 f v
        XRANGE wt:stream 1-abc +
        "#,
    );
    // Syntax errors.
    b.lines(
        r#"
        SET k v EX
        SET k v PX 10 EX
        GETEX k PERSIST EX 10
        ZADD z XX
        ZRANGE z 0 -1 WITHSCORES FOO
        ZUNIONSTORE d 1 z WEIGHTS
        LPOS l a FOO 1
        SORT l BY
        SORT l GET
        SORT l LIMIT 1
        XREAD STREAMS
        XREAD COUNT 1
        XADD x:syn MAXLEN 1
        XTRIM x:syn MAXLEN
        GEOSEARCH g FROMLONLAT 1 1
        BITFIELD b GET
        BITFIELD b INCRBY u8 0
        SCAN 0 MATCH
        CLIENT KILL ID
        CLIENT LIST ID
        CLIENT LIST TYPE
        OBJECT ENCODING a b
        "#,
    );
}

fn inline(b: &mut Builder) {
    b.raw("inline PING", b"PING\r\n", 1);
    b.raw("inline ping (LF only)", b"ping\n", 1);
    b.raw("inline PING with argument", b"PING hi\r\n", 1);
    b.raw("inline SET quoted", b"SET in:1 \"a b\"\r\n", 1);
    b.raw("inline GET", b"GET in:1\r\n", 1);
    b.raw("inline SET escapes", b"SET in:2 \"\\x41\\n\\t\\x00z\"\r\n", 1);
    b.raw("inline GET escapes", b"GET in:2\r\n", 1);
    b.raw("inline single quotes", b"SET in:3 'it\\'s \"here\"'\r\nGET in:3\r\n", 2);
    b.raw("inline extra spaces", b"   ECHO    spaced    \r\n", 1);
    b.raw("inline tabs", b"ECHO\ttabbed\r\n", 1);
    b.raw("inline blank lines skipped", b"\r\n\n   \r\nPING\r\n", 1);
    b.raw("inline empty quoted arg", b"ECHO \"\"\r\n", 1);
    b.raw("inline unknown", b"NOSUCH a 'b c'\r\n", 1);
    b.raw("inline arity", b"GET\r\n", 1);
    b.raw("inline then multibulk", &[&b"ECHO one\r\n"[..], &encode(&["ECHO", "two"])].concat(), 2);
    b.raw("inline MULTI/EXEC", b"MULTI\r\nSET in:4 x\r\nEXEC\r\n", 3);
    b.raw("inline HGETALL", b"HSET in:h a 1 b 2\r\nHGETALL in:h\r\n", 2);
    b.raw("multibulk with lowercase command", &encode(&["get", "in:1"]), 1);
    b.raw("multibulk with mixed case", &encode(&["gEt", "in:1"]), 1);
    b.raw("empty multibulk skipped", b"*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n", 1);
}

/// Connection state at the end: CLIENT INFO/LIST, RESET, and the name across it.
fn client_state(b: &mut Builder, proto: u8) {
    b.c("CLIENT SETNAME final-name");
    b.ck("CLIENT INFO", Check::ClientLines);
    b.ck("CLIENT LIST", Check::ClientLines);
    b.ck("CLIENT LIST TYPE normal", Check::ClientLines);
    b.c("SELECT 3");
    b.c("SET st:db3 x");
    b.ck("CLIENT INFO", Check::ClientLines);
    b.c("MULTI");
    b.c("PING");
    b.c("EXEC");
    b.c("RESET");
    b.c("CLIENT GETNAME");
    b.c("GET st:db3");
    b.c("DBSIZE");
    b.ck("CLIENT INFO", Check::ClientLines);
    b.ck("HELLO", Check::Hello);
    // Back to the run's protocol for anything after.
    b.ck(&format!("HELLO {proto}"), Check::Hello);
    b.c("PING");
}
