//! Replies come back in request order, whatever path each command takes.

use std::io::Write;

use crate::common::{Hotcache, RawClient, RedisServer, encode};

/// Many clients, each pipelining a mix of forwarded and local commands, all
/// get their replies in order with the right values.
#[test]
fn replies_in_order_under_concurrent_pipelines() {
    let redis = RedisServer::start();
    for threads in [1, 2] {
        let hc = Hotcache::in_front_of(&redis, threads, &[]);
        let handles: Vec<_> = (0..16)
            .map(|client| {
                let port = hc.port;
                std::thread::spawn(move || {
                    let mut c = RawClient::connect(port);
                    for round in 0..20 {
                        let mut batch = Vec::new();
                        let mut expected = Vec::new();
                        for i in 0..50 {
                            let key = format!("k:{client}:{i}");
                            let val = format!("v:{client}:{round}:{i}");
                            batch.extend(encode(&["SET", &key, &val]));
                            expected.push(b"+OK\r\n".to_vec());
                            batch.extend(encode(&["PING"]));
                            expected.push(b"+PONG\r\n".to_vec());
                            batch.extend(encode(&["GET", &key]));
                            expected.push(format!("${}\r\n{}\r\n", val.len(), val).into_bytes());
                            batch.extend(encode(&["ECHO", &val]));
                            expected.push(format!("${}\r\n{}\r\n", val.len(), val).into_bytes());
                        }
                        c.stream.write_all(&batch).expect("write");
                        for (n, want) in expected.iter().enumerate() {
                            let got = c.read_reply();
                            assert_eq!(
                                String::from_utf8_lossy(&got),
                                String::from_utf8_lossy(want),
                                "client {client} round {round} reply {n}"
                            );
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("client thread");
        }
    }
}

/// A pipeline of many turns' input (a client gets 16 KB of input handled per
/// turn, then the thread's other clients get theirs) is answered whole and in
/// order: cached hits, forwarded writes and reads of what they wrote, with the
/// turn boundaries falling anywhere among them, and nothing more sent after it
/// (the input left over from a turn is handled without a new read or reply to
/// wake the client). A second
/// client on the same thread is answered meanwhile.
#[test]
fn a_pipeline_of_many_turns_is_answered_whole_and_in_order() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &[]);
    let mut c = RawClient::connect(hc.port);
    assert_eq!(c.cmd(&["SET", "hot", "v"]), b"+OK\r\n");
    for _ in 0..3 {
        assert_eq!(c.cmd(&["GET", "hot"]), b"$1\r\nv\r\n");
    }
    let mut batch = Vec::new();
    let mut expected = Vec::new();
    for i in 0..20_000 {
        for _ in 0..3 {
            batch.extend(encode(&["GET", "hot"]));
            expected.push(b"$1\r\nv\r\n".to_vec());
        }
        let (key, val) = (format!("k:{}", i % 100), format!("v{i}"));
        batch.extend(encode(&["SET", &key, &val]));
        expected.push(b"+OK\r\n".to_vec());
        batch.extend(encode(&["GET", &key]));
        expected.push(format!("${}\r\n{val}\r\n", val.len()).into_bytes());
    }
    // A tail of hits only: once Redis has answered the writes, no reply wakes
    // the client any more, and most of the tail is input already read.
    for _ in 0..100_000 {
        batch.extend(encode(&["GET", "hot"]));
        expected.push(b"$1\r\nv\r\n".to_vec());
    }
    assert!(batch.len() > 200 * 16 * 1024, "{} bytes", batch.len());
    let mut writer = c.stream.try_clone().expect("clone");
    let write = std::thread::spawn(move || writer.write_all(&batch).expect("write"));
    let port = hc.port;
    let other = std::thread::spawn(move || {
        let mut o = RawClient::connect(port);
        for _ in 0..100 {
            assert_eq!(o.cmd(&["PING"]), b"+PONG\r\n");
        }
    });
    for (n, want) in expected.iter().enumerate() {
        let got = c.read_reply();
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want), "reply {n}");
    }
    write.join().expect("writer");
    other.join().expect("other client");
}

/// A pipeline that crosses from the shared connection to a dedicated one and back
/// (SET, MULTI ... EXEC, GET) keeps Redis's order: each command sees the effects
/// of the ones before it.
#[test]
fn pipeline_across_lane_changes_keeps_order() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 2, &[]);
    let mut c = hc.client();
    let mut batch = Vec::new();
    for i in 0..200 {
        batch.extend(encode(&["SET", "ctr", &i.to_string()]));
        batch.extend(encode(&["MULTI"]));
        batch.extend(encode(&["INCR", "ctr"]));
        batch.extend(encode(&["EXEC"]));
        batch.extend(encode(&["GET", "ctr"]));
    }
    c.send(&batch);
    for i in 0..200 {
        assert_eq!(c.read_reply(), b"+OK\r\n");
        assert_eq!(c.read_reply(), b"+OK\r\n");
        assert_eq!(c.read_reply(), b"+QUEUED\r\n");
        let v = (i + 1).to_string();
        assert_eq!(c.read_reply(), format!("*1\r\n:{v}\r\n").into_bytes());
        assert_eq!(c.read_reply(), format!("${}\r\n{v}\r\n", v.len()).into_bytes());
    }
}

/// A client that goes away with replies outstanding does not disturb others
/// sharing its upstream connection.
#[test]
fn client_leaving_mid_pipeline_does_not_disturb_others() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &[]);
    let mut steady = hc.client();
    for round in 0..20 {
        let mut quitter = hc.client();
        let mut batch = Vec::new();
        for i in 0..500 {
            batch.extend(encode(&["SET", &format!("q{i}"), "x"]));
        }
        quitter.send(&batch);
        drop(quitter);
        let v = format!("round{round}");
        assert_eq!(steady.cmd(&["SET", "steady", &v]), b"+OK\r\n");
        assert_eq!(steady.cmd(&["GET", "steady"]), format!("${}\r\n{v}\r\n", v.len()).into_bytes());
    }
}
