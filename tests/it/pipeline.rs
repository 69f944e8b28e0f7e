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
