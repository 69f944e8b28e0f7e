//! A client blocked in a command (BLPOP ...) has nothing more of its input run
//! until the command is answered, as Redis does: what it sends meanwhile is
//! read into its query buffer, under that buffer's limit, instead of being
//! answered into a reply queue that nothing bounds (BLPOP, then a pipeline of
//! large replies hotcache makes itself).

use std::io::Write;
use std::time::{Duration, Instant};

use crate::common::{Hotcache, RawClient, RedisServer, encode};

fn wait_blocked(redis: &RedisServer, n: u64) {
    let start = Instant::now();
    while redis.blocked_clients() != n {
        assert!(start.elapsed() < Duration::from_secs(10), "never {n} blocked at Redis");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends `n` ECHOs of 1 MB from another thread (the client may be closed
/// while they are on their way: write errors end it).
fn echoes(c: &RawClient, n: usize) -> std::thread::JoinHandle<()> {
    let echo = encode(&["ECHO", &"x".repeat(1 << 20)]);
    let mut stream = c.stream.try_clone().expect("clone");
    std::thread::spawn(move || {
        for _ in 0..n {
            if stream.write_all(&echo).is_err() {
                return;
            }
        }
    })
}

#[test]
fn a_blocked_client_runs_nothing_more_until_answered() {
    let limit = ["--client-query-buffer-limit", "4mb"];
    let redis = RedisServer::start_with(&limit);
    let hc = Hotcache::in_front_of(&redis, 1, &limit);
    for (name, port) in [("redis", redis.port), ("hotcache", hc.port)] {
        let mut other = RawClient::connect(port);
        let mut blocked = RawClient::connect(port);
        // A command of hotcache's own behind the BLPOP, in the same write:
        // it takes effect only once the BLPOP is answered.
        let mut batch = encode(&["BLPOP", "q", "0"]);
        batch.extend(encode(&["CLIENT", "SETNAME", "after"]));
        blocked.send(&batch);
        wait_blocked(&redis, 1);
        let list = other.cmd_str(&["CLIENT", "LIST"]);
        assert!(!list.contains("name=after"), "{name}: ran behind the BLPOP: {list}");
        assert_eq!(other.cmd(&["RPUSH", "q", "v"]), b":1\r\n", "{name}");
        assert_eq!(blocked.read_reply(), b"*2\r\n$1\r\nq\r\n$1\r\nv\r\n", "{name}");
        assert_eq!(blocked.read_reply(), b"+OK\r\n", "{name}");
        assert!(other.cmd_str(&["CLIENT", "LIST"]).contains("name=after"), "{name}");
        // Blocked again, 2 MB of ECHOs behind: answered after the BLPOP, in
        // order.
        blocked.send(&encode(&["BLPOP", "q", "0"]));
        wait_blocked(&redis, 1);
        let writer = echoes(&blocked, 2);
        let list = other.cmd_str(&["CLIENT", "LIST"]);
        assert!(list.contains("cmd=blpop") && !list.contains("cmd=echo"), "{name}: {list}");
        assert_eq!(other.cmd(&["RPUSH", "q", "w"]), b":1\r\n", "{name}");
        assert_eq!(blocked.read_reply(), b"*2\r\n$1\r\nq\r\n$1\r\nw\r\n", "{name}");
        writer.join().expect("writer");
        for n in 0..2 {
            let r = blocked.read_reply();
            assert!(r.len() == (1 << 20) + 12 && r.starts_with(b"$1048576\r\n"), "{name}: {n}");
        }
        // Blocked again, 8 MB of ECHOs: past the 4 MB query buffer limit
        // the client is closed, the BLPOP with it.
        blocked.send(&encode(&["BLPOP", "q", "0"]));
        wait_blocked(&redis, 1);
        let writer = echoes(&blocked, 8);
        assert!(blocked.is_closed(Duration::from_secs(30)), "{name}: not closed at the limit");
        writer.join().expect("writer");
        wait_blocked(&redis, 0);
        // A client that leaves while blocked is seen leaving.
        let mut gone = RawClient::connect(port);
        gone.send(&encode(&["BLPOP", "q", "0"]));
        wait_blocked(&redis, 1);
        drop(gone);
        wait_blocked(&redis, 0);
        assert_eq!(other.cmd(&["PING"]), b"+PONG\r\n", "{name}");
    }
}
