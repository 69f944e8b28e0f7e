//! With no upstream, hotcache serves from its embedded origin through the same
//! command table and paths, so redis-cli works at once.

use std::process::Command;

use crate::common::{CLIENT_LIMIT, Hotcache, output_within};

#[test]
fn redis_cli_set_get_without_upstream() {
    let hc = Hotcache::start(&["--threads", "2"]);
    let port = hc.port.to_string();
    let cli = |args: &[&str]| {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["-p", &port]).args(args);
        let out = output_within(&mut cmd, CLIENT_LIMIT).expect("redis-cli");
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(cli(&["set", "a", "b"]), "OK");
    assert_eq!(cli(&["get", "a"]), "b");
    assert_eq!(cli(&["incr", "n"]), "1");
    assert_eq!(cli(&["hset", "h", "f", "v"]), "1");
    assert_eq!(cli(&["hgetall", "h"]), "f\nv");
    assert_eq!(cli(&["dbsize"]), "3");
    assert!(cli(&["info"]).contains("# Hotcache"));
}

#[test]
fn embedded_origin_through_the_server() {
    let hc = Hotcache::start(&["--threads", "1"]);
    let mut c = hc.client();
    assert_eq!(c.cmd(&["SET", "k", "v", "EX", "100"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["TTL", "k"]), b":100\r\n");
    assert!(c.cmd_str(&["HELLO", "3"]).starts_with("%8\r\n"));
    assert_eq!(c.cmd(&["GET", "missing"]), b"_\r\n");
    assert_eq!(c.cmd(&["HGETALL", "missing"]), b"%0\r\n");
    // What the embedded origin does not implement gets Redis's own error, on
    // every path: shared, stateful, blocking, relayed.
    for cmd in [&["LPUSH", "l", "x"][..], &["MULTI"], &["BLPOP", "l", "1"], &["SUBSCRIBE", "c"]] {
        let r = c.cmd_str(cmd);
        let want = format!("-ERR unknown command '{}'", cmd[0]);
        assert!(r.starts_with(&want), "{cmd:?}: {r}");
    }
    assert_eq!(c.cmd(&["SELECT", "0"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["SELECT", "1"]), b"-ERR DB index is out of range\r\n");
    assert_eq!(c.cmd(&["GET", "k"]), b"$1\r\nv\r\n");
    // Pipelined commands answer in order.
    let mut batch = Vec::new();
    for i in 0..100 {
        batch.extend(crate::common::encode(&["SET", &format!("p{i}"), &i.to_string()]));
        batch.extend(crate::common::encode(&["GET", &format!("p{i}")]));
    }
    c.send(&batch);
    for i in 0..100 {
        assert_eq!(c.read_reply(), b"+OK\r\n");
        let v = i.to_string();
        assert_eq!(c.read_reply(), format!("${}\r\n{v}\r\n", v.len()).into_bytes());
    }
}
