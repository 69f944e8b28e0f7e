//! Scripting and functions, server introspection, errors of every kind.

use super::{Builder, Check};

pub(super) fn scripting(b: &mut Builder) {
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

pub(super) fn server(b: &mut Builder) {
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

pub(super) fn errors(b: &mut Builder) {
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
