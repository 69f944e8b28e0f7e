//! Sessions of several connections (pub/sub, client tracking), run the same way
//! against Redis and against hotcache: pushes, their order among replies, and
//! what is still unread at the end must all be the same.

use std::time::Duration;

use hotcache::protocol::split_args;

use super::corpus::{Check, Step};
use super::{Pair, compare, report, show};
use crate::common::{RawClient, encode};

/// How long a connection must stay silent for "nothing more arrives".
const QUIET: Duration = Duration::from_millis(300);

/// One action: bytes on connection `conn` (none: only read), then `replies`
/// frames read from it. `replies: None` reads whatever Redis sends within a
/// quiet period, and then exactly as many frames from hotcache.
struct Act {
    conn: usize,
    step: Step,
    replies: Option<usize>,
}

fn line(conn: usize, text: &str, replies: usize) -> Act {
    line_ck(conn, text, replies, Check::Exact)
}

fn line_ck(conn: usize, text: &str, replies: usize, check: Check) -> Act {
    let args = split_args(text.as_bytes()).expect("balanced quotes");
    Act {
        conn,
        step: Step { label: text.to_string(), bytes: encode(&args), replies, check },
        replies: Some(replies),
    }
}

/// Reads the pushes that arrive on `conn`, however many Redis sends.
fn drain(conn: usize) -> Act {
    Act {
        conn,
        step: Step {
            label: "(read pushes)".into(),
            bytes: Vec::new(),
            replies: 0,
            check: Check::Exact,
        },
        replies: None,
    }
}

/// Reads frames until `QUIET` passes without one (or the peer closes: then the
/// last entry is `<closed>`).
fn read_until_quiet(c: &mut RawClient) -> Vec<Vec<u8>> {
    c.set_timeout(QUIET);
    let mut frames = Vec::new();
    loop {
        match c.try_read_reply() {
            Ok(f) => frames.push(f),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            Err(_) => {
                frames.push(b"<closed>".to_vec());
                break;
            }
        }
    }
    c.set_timeout(Duration::from_secs(10));
    frames
}

/// Runs `acts` on `conns` connections to each server; returns the differences.
fn run(pair: &Pair, name: &str, conns: usize, acts: &[Act]) -> Vec<String> {
    let mut ra: Vec<RawClient> = (0..conns).map(|_| pair.a.client()).collect();
    let mut rh: Vec<RawClient> = (0..conns).map(|_| pair.h.client()).collect();
    let mut failures = Vec::new();
    for (i, act) in acts.iter().enumerate() {
        let (a, h) = (&mut ra[act.conn], &mut rh[act.conn]);
        if !act.step.bytes.is_empty() {
            a.send(&act.step.bytes);
            h.send(&act.step.bytes);
        }
        let xa = match act.replies {
            Some(n) => (0..n).map(|_| a.try_read_reply().map_err(|e| e.to_string())).collect(),
            None => Ok(read_until_quiet(a)),
        };
        let count = xa.as_ref().map(Vec::len).unwrap_or(0);
        let xh: Result<Vec<Vec<u8>>, String> =
            (0..count).map(|_| h.try_read_reply().map_err(|e| e.to_string())).collect();
        let (xa, xh) = match (xa, xh) {
            (Ok(x), Ok(y)) => (x, y),
            (x, y) => {
                failures.push(format!(
                    "[{name}] act {i} `{}` on connection {}: cannot read: redis {:?} hotcache {:?}",
                    act.step.label,
                    act.conn,
                    x.err(),
                    y.err()
                ));
                return failures;
            }
        };
        for (x, y) in xa.iter().zip(&xh) {
            if let Err(why) = compare(act.step.check, x, y) {
                failures.push(format!(
                    "[{name}] act {i} `{}` on connection {}: {why}\n    redis    {}\n    hotcache {}",
                    act.step.label,
                    act.conn,
                    show(x),
                    show(y)
                ));
            }
        }
    }
    // Nothing else may be pending, on either side, and closes must match.
    for (i, (a, h)) in ra.iter_mut().zip(rh.iter_mut()).enumerate() {
        let (xa, xh) = (read_until_quiet(a), read_until_quiet(h));
        if xa != xh {
            let show_all =
                |v: &[Vec<u8>]| v.iter().map(|f| show(f)).collect::<Vec<_>>().join(" | ");
            failures.push(format!(
                "[{name}] left at the end on connection {i}:\n    redis    {}\n    hotcache {}",
                show_all(&xa),
                show_all(&xh)
            ));
        }
    }
    failures
}

/// Subscriber (connection 0) and publisher (connection 1).
fn pubsub_acts(proto: u8) -> Vec<Act> {
    let (s, p) = (0, 1);
    let mut acts = Vec::new();
    if proto == 3 {
        acts.push(line_ck(s, "HELLO 3", 1, Check::Hello));
    }
    acts.extend([
        line(s, "SUBSCRIBE ch1 ch2", 2),
        line(s, "PSUBSCRIBE p:*", 1),
        line(p, "PUBSUB NUMSUB ch1 ch2 other", 1),
        line(p, "PUBSUB NUMPAT", 1),
        line_ck(p, "PUBSUB CHANNELS ch*", 1, Check::Unordered),
        line(p, "PUBLISH ch1 hello", 1),
        drain(s),
        line(p, "PUBLISH p:x pattern-message", 1),
        drain(s),
        line(p, "PUBLISH ch2 second", 1),
        drain(s),
        line(s, "PING", 1),
        line(s, "PING arg", 1),
        line(s, "GET k", 1),
        line(s, "SUBSCRIBE ch1", 1),
        line(s, "UNSUBSCRIBE ch1", 1),
        line(s, "UNSUBSCRIBE nosuch", 1),
        line(s, "PUNSUBSCRIBE", 1),
        line(s, "UNSUBSCRIBE", 1),
        line(s, "UNSUBSCRIBE", 1),
        line(s, "PUNSUBSCRIBE", 1),
        line(s, "GET k", 1),
        line(p, "PUBLISH ch1 nobody", 1),
        line(s, "SSUBSCRIBE sch", 1),
        line(p, "SPUBLISH sch shard-message", 1),
        drain(s),
        line(s, "SUNSUBSCRIBE", 1),
        line(s, "SUBSCRIBE ch3", 1),
    ]);
    if proto == 3 {
        // RESP3: a subscribed client runs any command, and hears itself.
        acts.extend([
            line(s, "SET k v", 1),
            line(s, "GET k", 1),
            line(s, "PUBLISH ch3 to-myself", 2),
            drain(s),
        ]);
    }
    acts.extend([
        line(s, "RESET", 1),
        line(s, "GET k", 1),
        line(p, "PUBLISH ch3 after-reset", 1),
        line(s, "SUBSCRIBE ch4", 1),
        line(p, "PUBLISH ch4 before-quit", 1),
        drain(s),
        line(s, "QUIT", 1),
    ]);
    acts
}

/// Tracked client (connection 0) and writer (connection 1), RESP3.
fn tracking_acts() -> Vec<Act> {
    let (t, w) = (0, 1);
    vec![
        line_ck(t, "HELLO 3", 1, Check::Hello),
        line(t, "CLIENT TRACKINGINFO", 1),
        line(t, "CLIENT TRACKING on", 1),
        line(t, "CLIENT TRACKINGINFO", 1),
        line(t, "CLIENT GETREDIR", 1),
        line(t, "GET tk", 1),
        line(w, "SET tk v", 1),
        drain(t),
        line(t, "GET tk", 1),
        line(t, "SET tk v2", 1),
        drain(t),
        line(t, "MGET tk tk2", 1),
        line(w, "MSET tk a tk2 b", 1),
        drain(t),
        line(t, "CLIENT TRACKING on OPTIN", 1),
        line(t, "CLIENT TRACKING off", 1),
        line(t, "CLIENT TRACKING on BCAST PREFIX tk", 1),
        line(t, "CLIENT TRACKINGINFO", 1),
        line(w, "SET tk:1 x", 1),
        line(w, "SET other x", 1),
        drain(t),
        line(t, "CLIENT TRACKING off", 1),
        line(t, "CLIENT TRACKING on OPTIN", 1),
        line(t, "GET tk", 1),
        line(t, "CLIENT CACHING yes", 1),
        line(t, "GET tk2", 1),
        line(w, "SET tk x", 1),
        line(w, "SET tk2 y", 1),
        drain(t),
        line(t, "CLIENT CACHING no", 1),
        line(t, "CLIENT TRACKING off", 1),
        line(t, "CLIENT TRACKING on NOLOOP", 1),
        line(t, "GET nl", 1),
        line(t, "SET nl 1", 1),
        drain(t),
        line(t, "GET nl", 1),
        line(w, "FLUSHALL", 1),
        drain(t),
        line(t, "CLIENT TRACKING off", 1),
        line(t, "CLIENT TRACKING on REDIRECT 99999999", 1),
        line(t, "CLIENT TRACKING on PREFIX tk", 1),
        line(t, "CLIENT TRACKING maybe", 1),
        line(t, "CLIENT TRACKINGINFO", 1),
        line(t, "GET tk", 1),
    ]
}

/// RESP2 tracking without a redirect: allowed, but the client hears nothing.
fn tracking_resp2_acts() -> Vec<Act> {
    let (t, w) = (0, 1);
    vec![
        line(t, "CLIENT TRACKING on", 1),
        line(t, "GET tk", 1),
        line(w, "SET tk v", 1),
        drain(t),
        line(t, "CLIENT TRACKINGINFO", 1),
        line(t, "CLIENT TRACKING off", 1),
    ]
}

/// CLIENT KILL by type and name-independent filters, then by SKIPME no: the
/// killed connections close, the killer goes on (or closes after its reply).
fn kill_acts() -> Vec<Act> {
    vec![
        line(1, "CLIENT SETNAME victim", 1),
        line(2, "SUBSCRIBE news", 1),
        line(0, "CLIENT KILL TYPE pubsub", 1),
        line(0, "CLIENT KILL TYPE normal SKIPME yes", 1),
        line(0, "PING", 1),
        line(0, "CLIENT KILL TYPE normal SKIPME yes", 1),
        line(0, "CLIENT KILL TYPE normal SKIPME no", 1),
    ]
}

#[test]
fn client_kill_session() {
    let pair = Pair::start(2);
    report(&run(&pair, "client kill", 3, &kill_acts()));
}

#[test]
fn pubsub_sessions() {
    let pair = Pair::start(2);
    let mut failures = run(&pair, "pubsub RESP2", 2, &pubsub_acts(2));
    failures.extend(run(&pair, "pubsub RESP3", 2, &pubsub_acts(3)));
    report(&failures);
}

#[test]
fn tracking_sessions() {
    let pair = Pair::start(2);
    pair.wait_tracking_up();
    let mut failures = run(&pair, "tracking RESP3", 2, &tracking_acts());
    failures.extend(run(&pair, "tracking RESP2", 2, &tracking_resp2_acts()));
    report(&failures);
}

/// CLIENT TRACKING ... REDIRECT <id>: the id is one the client got from CLIENT
/// ID on the server it talks to (hotcache's own ids), and invalidations go to
/// that client.
#[test]
fn tracking_redirect_to_another_client() {
    let pair = Pair::start(1);
    pair.wait_tracking_up();
    let session = |port: u16| -> Vec<Vec<u8>> {
        let mut listener = RawClient::connect(port);
        let mut tracked = RawClient::connect(port);
        let mut writer = RawClient::connect(port);
        let id = listener.cmd(&["CLIENT", "ID"]);
        let id = String::from_utf8_lossy(&id[1..id.len() - 2]).into_owned();
        let mut out = vec![listener.cmd(&["SUBSCRIBE", "__redis__:invalidate"])];
        out.push(tracked.cmd(&["CLIENT", "TRACKING", "on", "REDIRECT", &id]));
        // GETREDIR answers the id given: compared as "the id", since each
        // server numbers its own clients.
        let redir = tracked.cmd(&["CLIENT", "GETREDIR"]);
        out.push(if redir == format!(":{id}\r\n").into_bytes() {
            b"<the id>".to_vec()
        } else {
            redir
        });
        out.push(tracked.cmd(&["GET", "rk"]));
        out.push(writer.cmd(&["SET", "rk", "v"]));
        listener.set_timeout(Duration::from_secs(2));
        out.push(listener.try_read_reply().unwrap_or_else(|e| format!("<{e}>").into_bytes()));
        out
    };
    let a = session(pair.a.port);
    let h = session(pair.h.port);
    let labels = [
        "SUBSCRIBE __redis__:invalidate",
        "CLIENT TRACKING on REDIRECT <id>",
        "CLIENT GETREDIR (shape)",
        "GET rk",
        "SET rk v (other client)",
        "invalidation message on the listener",
    ];
    let failures: Vec<String> = labels
        .iter()
        .zip(a.iter().zip(&h))
        .filter(|(_, (x, y))| x != y)
        .map(|(l, (x, y))| format!("`{l}`:\n    redis    {}\n    hotcache {}", show(x), show(y)))
        .collect();
    report(&failures);
}
