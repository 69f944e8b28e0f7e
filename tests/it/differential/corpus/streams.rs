//! Streams and consumer groups, bitmaps, HyperLogLog, geo.

use super::{Builder, Check};

pub(super) fn streams(b: &mut Builder) {
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

pub(super) fn bitmaps_and_hll(b: &mut Builder) {
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

pub(super) fn geo(b: &mut Builder) {
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
