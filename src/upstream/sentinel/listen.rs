//! Hearing from the sentinels: one thread per configured sentinel, subscribed
//! to the events that say the master is moving, and what each event means.
//!
//! Every sentinel is listened to, not one: only the sentinel leading a
//! failover publishes its steps (`+selected-slave`, `+promoted-slave`); the
//! others publish `+switch-master` once they hear of it, a second or two later.

use std::sync::Weak;
use std::time::{Duration, Instant};

use super::query::{Conn, host_port};
use super::{Cause, Sentinel};
use crate::tls::UpstreamTls;
use crate::upstream::cluster::topology::Value;
use std::sync::Arc;

/// The channels subscribed to: the failover's steps, and whatever changes
/// which replicas can serve (each of those asks the sentinels again).
const CHANNELS: &[&str] = &[
    "+switch-master",
    "+promoted-slave",
    "+selected-slave",
    "+failover-state-send-slaveof-noone",
    "-failover-abort-not-elected",
    "-failover-abort-no-good-slave",
    "-failover-abort-slave-timeout",
    "+failover-end",
    "+failover-end-for-timeout",
    "+sdown",
    "-sdown",
    "+odown",
    "-odown",
    "+slave",
    "+slave-reconf-done",
    "+convert-to-slave",
    "+role-change",
    "-role-change",
    "+reboot",
    "+monitor",
    "-monitor",
    "+reset-master",
];

/// A read waits this long, so the loop looks at its clock that often.
const TICK: Duration = Duration::from_millis(250);
/// A PING this often proves the subscription alive.
const PING_EVERY: Duration = Duration::from_secs(1);
/// Nothing heard for this long (not even a PING's answer): the link is dead.
const DEAD_AFTER: Duration = Duration::from_secs(3);
/// Reconnecting waits from this much, doubling up to `BACKOFF_MAX`.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// What an event says about the master hotcache follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Event {
    /// `+switch-master`: the master moved from `from` to `to`.
    Switched { from: Arc<str>, to: Arc<str> },
    /// `+promoted-slave`: `replica`, a replica of `master`, is now the master
    /// (the leader publishes it before `+switch-master`).
    Promoted { replica: Arc<str>, master: Arc<str> },
    /// `+selected-slave`, `+failover-state-send-slaveof-noone`: `replica` is
    /// about to be made master; what `master` acknowledges from now on may be
    /// lost.
    Promoting { master: Arc<str> },
    /// `-failover-abort-*`: the master stays.
    Aborted,
    /// Anything else about the master or its replicas.
    Changed,
}

/// `<type> <name> <ip> <port> [@ <master> <mip> <mport>] ...` (Sentinel's
/// `%@`): the instance's address, and its master's name and address.
fn instance(payload: &str) -> Option<(Arc<str>, &str, Arc<str>)> {
    let t: Vec<&str> = payload.split(' ').collect();
    let addr = host_port(t.get(2)?, t.get(3)?);
    if *t.first()? == "master" {
        return Some((addr.clone(), t.get(1)?, addr));
    }
    if *t.get(4)? != "@" {
        return None;
    }
    Some((addr, t.get(5)?, host_port(t.get(6)?, t.get(7)?)))
}

/// What a message on `channel` means for master `name`; None if it is not
/// about that master.
pub(super) fn parse_event(channel: &str, payload: &str, name: &str) -> Option<Event> {
    if channel == "+switch-master" {
        // `<name> <old ip> <old port> <new ip> <new port>`
        let t: Vec<&str> = payload.split(' ').collect();
        if *t.first()? != name {
            return None;
        }
        return Some(Event::Switched {
            from: host_port(t.get(1)?, t.get(2)?),
            to: host_port(t.get(3)?, t.get(4)?),
        });
    }
    let (addr, master_name, master) = instance(payload)?;
    if master_name != name {
        return None;
    }
    Some(match channel {
        "+promoted-slave" => Event::Promoted { replica: addr, master },
        "+selected-slave" | "+failover-state-send-slaveof-noone" => Event::Promoting { master },
        c if c.starts_with("-failover-abort") => Event::Aborted,
        _ => Event::Changed,
    })
}

/// Keeps a subscription to sentinel `index` until the `Sentinel` is gone.
pub(super) fn run(weak: Weak<Sentinel>, index: usize) {
    let mut backoff = BACKOFF_MIN;
    loop {
        let Some(s) = weak.upgrade() else { return };
        let addr = s.addrs[index].clone();
        let (auth, timeout, name) = (s.auth.clone(), s.query_timeout(), s.name.clone());
        let tls = s.sentinel_tls.clone();
        drop(s);
        match subscribe(&addr, tls.as_deref(), &auth, timeout) {
            Ok(conn) => {
                backoff = BACKOFF_MIN;
                let Some(s) = weak.upgrade() else { return };
                s.set_subscribed(index, true);
                // Events may have been missed while not subscribed.
                s.ask(Cause::Subscribed);
                drop(s);
                let why = listen(conn, &weak, &name);
                let Some(s) = weak.upgrade() else { return };
                s.set_subscribed(index, false);
                crate::log_limited!(warn, sentinel = %addr, error = %why, "sentinel subscription lost");
            }
            Err(e) => {
                crate::log_limited!(warn, sentinel = %addr, error = %e, "cannot subscribe to a sentinel");
            }
        }
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Connects and subscribes to [`CHANNELS`].
fn subscribe(
    addr: &str,
    tls: Option<&UpstreamTls>,
    auth: &super::query::Auth,
    timeout: Duration,
) -> Result<Conn, String> {
    let mut c = Conn::open(addr, tls, auth, timeout)?;
    let mut args: Vec<&[u8]> = vec![b"SUBSCRIBE"];
    args.extend(CHANNELS.iter().map(|c| c.as_bytes()));
    c.send(&args)?;
    for _ in CHANNELS {
        match c.reply()? {
            Value::Array(a) if matches!(a.first(), Some(Value::Bulk(k)) if k == b"subscribe") => {}
            Value::Error(e) => return Err(e),
            _ => return Err("unexpected reply to SUBSCRIBE".into()),
        }
    }
    c.set_read_timeout(TICK)?;
    Ok(c)
}

/// Hands every event to the `Sentinel` until the link fails; says why it did.
fn listen(mut c: Conn, weak: &Weak<Sentinel>, name: &str) -> String {
    let mut heard = Instant::now();
    let mut pinged: Option<Instant> = None;
    loop {
        match c.next() {
            Ok(Some(v)) => {
                heard = Instant::now();
                pinged = None;
                let Value::Array(a) = v else { continue };
                let [Value::Bulk(kind), Value::Bulk(channel), Value::Bulk(payload)] = &a[..] else {
                    // A PING's answer (`pong`, ""): proof of life only.
                    continue;
                };
                if kind != b"message" {
                    continue;
                }
                let channel = String::from_utf8_lossy(channel);
                let payload = String::from_utf8_lossy(payload);
                let Some(event) = parse_event(&channel, &payload, name) else { continue };
                let Some(s) = weak.upgrade() else { return "stopped".into() };
                tracing::debug!(channel = %channel, payload = %payload, "sentinel event");
                s.on_event(event);
            }
            Ok(None) => {}
            Err(e) => return e,
        }
        if weak.strong_count() == 0 {
            return "stopped".into();
        }
        if heard.elapsed() > DEAD_AFTER {
            return format!("nothing heard for {:?}", heard.elapsed());
        }
        if pinged.is_none() && heard.elapsed() >= PING_EVERY {
            if let Err(e) = c.send(&[b"PING"]) {
                return e;
            }
            pinged = Some(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_of_a_failover() {
        let a = |s: &str| Arc::<str>::from(s);
        let name = "mm";
        // As redis-server 7.0.15 publishes them during SENTINEL FAILOVER.
        let slave = "slave 127.0.0.1:16380 127.0.0.1 16380 @ mm 127.0.0.1 16379";
        assert_eq!(
            parse_event("+selected-slave", slave, name),
            Some(Event::Promoting { master: a("127.0.0.1:16379") })
        );
        assert_eq!(
            parse_event("+failover-state-send-slaveof-noone", slave, name),
            Some(Event::Promoting { master: a("127.0.0.1:16379") })
        );
        assert_eq!(
            parse_event("+promoted-slave", slave, name),
            Some(Event::Promoted { replica: a("127.0.0.1:16380"), master: a("127.0.0.1:16379") })
        );
        assert_eq!(
            parse_event("+switch-master", "mm 127.0.0.1 16379 127.0.0.1 16380", name),
            Some(Event::Switched { from: a("127.0.0.1:16379"), to: a("127.0.0.1:16380") })
        );
        assert_eq!(
            parse_event("-failover-abort-slave-timeout", "master mm 127.0.0.1 16379", name),
            Some(Event::Aborted)
        );
        assert_eq!(
            parse_event("+odown", "master mm 127.0.0.1 16379 #quorum 1/1", name),
            Some(Event::Changed)
        );
        assert_eq!(
            parse_event(
                "-role-change",
                "slave 127.0.0.1:16379 127.0.0.1 16379 @ mm 127.0.0.1 16380 new reported role is master",
                name
            ),
            Some(Event::Changed)
        );
        // Other masters, and what is not an instance.
        assert_eq!(parse_event("+switch-master", "other 1.1.1.1 1 2.2.2.2 2", name), None);
        assert_eq!(parse_event("+sdown", "master mmm 127.0.0.1 1", name), None);
        assert_eq!(parse_event("+sdown", "slave a 127.0.0.1 1 @ x 127.0.0.1 2", name), None);
        assert_eq!(parse_event("+sdown", "garbage", name), None);
        assert_eq!(parse_event("+switch-master", "mm 1.1.1.1", name), None);
        assert_eq!(
            parse_event("+switch-master", "mm ::1 1 ::1 2", name),
            Some(Event::Switched { from: a("[::1]:1"), to: a("[::1]:2") })
        );
    }
}
