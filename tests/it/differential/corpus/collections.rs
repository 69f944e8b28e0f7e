//! Hashes, lists, sets and sorted sets.

use super::{Builder, Check};

pub(super) fn hashes(b: &mut Builder) {
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

pub(super) fn lists(b: &mut Builder) {
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

pub(super) fn sets(b: &mut Builder) {
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

pub(super) fn sorted_sets(b: &mut Builder) {
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
