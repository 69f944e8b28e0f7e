//! Connection commands, transactions, databases, inline commands and the
//! connection state at the end.

use super::{Builder, Check};
use crate::common::encode;

pub(super) fn connection(b: &mut Builder, proto: u8) {
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

pub(super) fn transactions(b: &mut Builder) {
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

pub(super) fn databases(b: &mut Builder) {
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

pub(super) fn inline(b: &mut Builder) {
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
pub(super) fn client_state(b: &mut Builder, proto: u8) {
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
