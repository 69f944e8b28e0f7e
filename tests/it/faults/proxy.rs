//! Faults between hotcache and Redis, through the fault proxy: delays, resets,
//! replies cut in half, a black hole, refused connections. Redis itself stays up,
//! so every write acknowledged through hotcache must be found in it afterwards.

use std::time::{Duration, Instant};

use super::{Load, assert_acked_in_redis, assert_alive, bulk, hotcache_field, is_upstream_error};
use crate::common::{Hotcache, RawClient, RedisServer, encode};
use crate::faultproxy::{AfterCut, Dir, FaultProxy};

/// Redis, the proxy in front of it, hotcache in front of the proxy.
/// How long after a fault ends every client must have succeeded again. Alone
/// they do within about 0.9 s (the reset test prints its slowest); with the
/// whole suite on 2 cores, once, a client took over 5 s after a reset (cause
/// not found: breaker probes failing again, or a stall check under load).
const RECOVERY_LIMIT: Duration = Duration::from_secs(15);

fn setup(extra: &[&str]) -> (RedisServer, FaultProxy, Hotcache) {
    let redis = RedisServer::start();
    let proxy = FaultProxy::start(redis.port);
    let url = proxy.url();
    let mut args = vec!["--upstream", url.as_str(), "--threads", "2"];
    args.extend_from_slice(extra);
    let hc = Hotcache::start(&args);
    (redis, proxy, hc)
}

/// Delays on every chunk, each way and both ways: every reply is correct and in
/// its place, local replies (ECHO) included, and nothing fails.
#[test]
fn delayed_upstream_keeps_replies_correct_and_in_order() {
    let (redis, proxy, mut hc) = setup(&[]);
    let load = Load::start(hc.port, 6, 30, 16, "delay");
    for (dir, ms) in [(Dir::Both, 2), (Dir::Up, 8), (Dir::Down, 8), (Dir::Both, 0)] {
        proxy.set_delay(dir, Duration::from_millis(ms));
        load.wait_batches(5, Duration::from_secs(30), "pipelines through a delayed upstream");
        proxy.set_delay(Dir::Both, Duration::ZERO);
    }
    let (ok, errors, slowest) = load.totals();
    let logs = load.stop();
    assert_alive(&mut hc);
    assert_eq!(errors, 0, "a delay alone made requests fail");
    let counts = proxy.counts();
    assert!(counts.bytes_down > 0 && counts.bytes_up > 0, "{counts:?}");
    assert!(slowest >= Duration::from_millis(8), "the delays did not act: {slowest:?}");
    let checked = assert_acked_in_redis(redis.port, &logs);
    eprintln!(
        "delays: {ok} requests ok, {checked} writes found in Redis, slowest pipeline {slowest:?}"
    );
}

/// Every upstream connection reset (RST) again and again while clients pipeline:
/// requests in flight get errors, later ones succeed, no reply goes to another
/// request, and every write acknowledged with +OK is in Redis.
#[test]
fn connection_resets_mid_pipeline_lose_no_acknowledged_write() {
    let (redis, proxy, mut hc) = setup(&[]);
    let load = Load::start(hc.port, 6, 50, 16, "reset");
    let mut last_reset = Instant::now();
    let mut recoveries = Vec::new();
    for _ in 0..15 {
        load.wait_batches(2, Duration::from_secs(10), "progress between resets");
        proxy.reset_all();
        last_reset = Instant::now();
        recoveries.push(load.wait_all_ok_after(
            last_reset,
            RECOVERY_LIMIT,
            "every client succeeds after a reset",
        ));
    }
    let (ok, errors, _) = load.totals();
    let logs = load.stop();
    assert_alive(&mut hc);
    assert!(errors > 0, "no request was in flight at any reset");
    let counts = proxy.counts();
    assert!(counts.resets >= 15, "{counts:?}");
    let checked = assert_acked_in_redis(redis.port, &logs);
    let mut c = hc.client();
    let broken = hotcache_field(&mut c, "upstream_connection_errors");
    assert!(broken > 0, "hotcache saw no broken upstream connection");
    eprintln!(
        "resets: {} connections reset, {ok} requests ok, {errors} failed, {checked} acknowledged \
         writes all in Redis; recovery after each reset (all clients) max {:?}, since the last {:?}",
        counts.resets,
        recoveries.iter().max().unwrap_or(&Duration::ZERO),
        last_reset.elapsed(),
    );
}

/// A reply cut in half, then the connection reset: the half reply is never
/// delivered as a reply, requests in flight fail, and every later reply matches
/// its request. Then a reply cut in half with the rest held back (a peer that
/// stalls mid-reply): hotcache still answers PING, and once the rest arrives the
/// waiting requests get their own replies.
#[test]
fn reply_cut_in_half_never_desynchronises() {
    // No tracking connection: the cut must land on a connection carrying replies.
    let (redis, proxy, mut hc) = setup(&["--cache-tracking", "no"]);
    // 4 KB values: GET replies span reads, so a cut lands inside a reply.
    let load = Load::start(hc.port, 4, 20, 4096, "cut");
    let mut info = hc.client();
    let mut cuts = 0;
    for _ in 0..10 {
        load.wait_batches(2, Duration::from_secs(10), "progress between cuts");
        let broken = hotcache_field(&mut info, "upstream_connection_errors");
        proxy.cut_next_reply(2048, AfterCut::Reset);
        super::wait_until(Duration::from_secs(5), "a reply chunk to cut", || !proxy.cut_pending());
        cuts += 1;
        // Once hotcache has seen the reset, pipelines sent after it see no error.
        super::wait_until(Duration::from_secs(5), "hotcache sees the reset", || {
            hotcache_field(&mut info, "upstream_connection_errors") > broken
        });
        load.wait_all_ok_after(Instant::now(), RECOVERY_LIMIT, "success after a cut");
    }
    let (_, errors_after_resets, _) = load.totals();
    assert!(errors_after_resets > 0, "cutting a reply failed no request");

    proxy.cut_next_reply(2048, AfterCut::Stall);
    super::wait_until(Duration::from_secs(5), "a reply chunk to stall", || !proxy.cut_pending());
    // Let the clients on the stalled connection pile up behind the half reply.
    let stalled_from = load.snapshot();
    std::thread::sleep(Duration::from_millis(300));
    let stuck =
        load.snapshot().iter().zip(&stalled_from).filter(|(a, b)| a.batches == b.batches).count();
    assert!(stuck > 0, "no client waited on the stalled reply");
    let mut fresh = hc.client();
    fresh.set_timeout(Duration::from_secs(2));
    assert_eq!(fresh.cmd(&["PING"]), b"+PONG\r\n");
    assert_eq!(fresh.cmd(&["ECHO", "x"]), bulk("x"));
    let (_, errors_before, _) = load.totals();
    proxy.restore();
    let resumed = Instant::now();
    let recovery = load.wait_all_ok_after(resumed, RECOVERY_LIMIT, "success after a stall");
    let (ok, errors, slowest) = load.totals();
    let last: Vec<String> = load.snapshot().into_iter().map(|p| p.last_error_text).collect();
    let logs = load.stop();
    assert_alive(&mut hc);
    assert_eq!(errors, errors_before, "errors after the stall: {last:?}");
    let checked = assert_acked_in_redis(redis.port, &logs);
    eprintln!(
        "cuts: {cuts} replies cut then reset, one cut then stalled: {ok} requests ok, {errors} \
         failed, {checked} acknowledged writes in Redis; all clients ok {recovery:?} after the \
         stall ended; slowest pipeline {slowest:?}"
    );
}

/// A black hole (nothing forwarded, connections open) for a second, then
/// restored: hotcache answers what needs no Redis meanwhile, then every waiting
/// request gets its own reply.
#[test]
fn black_holed_upstream_then_restored() {
    let (redis, proxy, mut hc) = setup(&[]);
    let load = Load::start(hc.port, 4, 20, 16, "hole");
    load.wait_batches(3, Duration::from_secs(10), "load running before the black hole");
    proxy.black_hole(true);
    let start = Instant::now();
    let mut probe = hc.client();
    probe.set_timeout(Duration::from_secs(2));
    // Keep the black hole for a second (longer than cache-tracking-timeout, so the
    // tracking connection also gives up and retries into the hole).
    while start.elapsed() < Duration::from_secs(1) {
        assert_eq!(probe.cmd(&["PING"]), b"+PONG\r\n");
        let _ = hotcache_field(&mut probe, "connected_clients");
        std::thread::sleep(Duration::from_millis(50));
    }
    let before: u64 = load.snapshot().iter().map(|p| p.batches).sum();
    std::thread::sleep(Duration::from_millis(100));
    let after: u64 = load.snapshot().iter().map(|p| p.batches).sum();
    assert_eq!(before, after, "pipelines completed through a black hole");
    proxy.black_hole(false);
    let restored = Instant::now();
    let recovery = load.wait_all_ok_after(restored, RECOVERY_LIMIT, "after the black hole");
    let (ok, errors, slowest) = load.totals();
    let logs = load.stop();
    assert_alive(&mut hc);
    let checked = assert_acked_in_redis(redis.port, &logs);
    eprintln!(
        "black hole of {:?}: all clients ok {recovery:?} after it ended; {ok} requests ok, \
         {errors} failed, {checked} acknowledged writes in Redis; slowest pipeline {slowest:?}",
        restored - start
    );
}

/// A black hole longer than `upstream-timeout`: requests fail with errors (no
/// hang) while it lasts, new connections into it give up after the connect
/// timeout, and once it ends every client succeeds again. The replies held in
/// the hole belong to connections hotcache has closed: none reaches a client.
#[test]
fn black_hole_past_the_upstream_timeout_fails_then_recovers() {
    let (redis, proxy, mut hc) =
        setup(&["--upstream-timeout", "300", "--upstream-connect-timeout", "500"]);
    let load = Load::start(hc.port, 4, 20, 16, "deephole");
    load.wait_batches(3, Duration::from_secs(10), "load running before the black hole");
    proxy.black_hole(true);
    let start = Instant::now();
    let to_errors = super::wait_until(Duration::from_secs(5), "every client gets an error", || {
        load.snapshot().iter().all(|p| p.last_error.is_some_and(|t| t > start))
    });
    // Keep the hole a while past the first errors: clients keep failing, not hanging.
    std::thread::sleep(Duration::from_millis(1000));
    let before = load.totals().1;
    std::thread::sleep(Duration::from_millis(600));
    assert!(load.totals().1 > before, "no more errors in the black hole: clients hang?");
    proxy.black_hole(false);
    let restored = Instant::now();
    let recovery = load.wait_all_ok_after(restored, RECOVERY_LIMIT, "after the black hole");
    let (ok, errors, slowest) = load.totals();
    let logs = load.stop();
    assert_alive(&mut hc);
    let mut c = hc.client();
    assert!(hotcache_field(&mut c, "upstream_timeouts") > 0, "no reply timed out");
    let checked = assert_acked_in_redis(redis.port, &logs);
    eprintln!(
        "black hole past upstream-timeout 300 ms (connect timeout 500 ms): every client had an \
         error {to_errors:?} in; all ok {recovery:?} after it ended; {ok} ok, {errors} failed, \
         {checked} acked writes in Redis; slowest pipeline {slowest:?}"
    );
    // A pipeline waits for a reply timeout (300 ms and the watchdog's tick), then
    // for the connect timeout (500 ms) of a read's retry and of a breaker probe
    // that went into the hole (1.55 s seen here): bounded, far from a hang.
    assert!(slowest < Duration::from_secs(4), "a pipeline waited {slowest:?}");
}

/// Connections reset and new ones refused: clients get errors at once (no hang,
/// no disconnect) for as long as it lasts, and succeed again soon after.
#[test]
fn refused_upstream_fails_fast_then_recovers() {
    let (redis, proxy, mut hc) = setup(&[]);
    let load = Load::start(hc.port, 4, 10, 16, "refuse");
    load.wait_batches(3, Duration::from_secs(10), "load running before the refusal");
    proxy.refuse(true);
    proxy.reset_all();
    let refused_at = Instant::now();
    let to_errors = super::wait_until(Duration::from_secs(5), "every client gets an error", || {
        load.snapshot().iter().all(|p| p.last_error.is_some_and(|t| t > refused_at))
    });
    // Keep refusing for a while: clients keep getting errors, each quickly.
    let before = load.totals().1;
    std::thread::sleep(Duration::from_millis(500));
    assert!(load.totals().1 > before, "no more errors while refused: clients hang?");
    let mut probe = hc.client();
    let reply = probe.cmd(&["GET", "k"]);
    assert!(is_upstream_error(&reply), "{}", String::from_utf8_lossy(&reply));
    proxy.refuse(false);
    let restored = Instant::now();
    let recovery = load.wait_all_ok_after(restored, Duration::from_secs(5), "after the refusal");
    let (ok, errors, slowest) = load.totals();
    let logs = load.stop();
    assert_alive(&mut hc);
    assert!(slowest < Duration::from_secs(2), "a pipeline waited {slowest:?}");
    let checked = assert_acked_in_redis(redis.port, &logs);
    eprintln!(
        "refused: errors everywhere {to_errors:?} after the refusal; all ok {recovery:?} after \
         it ended; {} connection attempts refused; {ok} ok, {errors} failed, {checked} acked \
         writes in Redis; slowest pipeline {slowest:?}",
        proxy.counts().refused
    );
}

/// Resets in quick succession under pipelines whose requests span several reads
/// (8 KB values): a request that failed and is resent (a read, or a write that
/// never left) must still reach Redis before the requests its client sent after
/// it, so a GET never misses the SET before it.
#[test]
fn retries_keep_each_clients_order_across_resets() {
    let (redis, proxy, mut hc) = setup(&["--cache-tracking", "no"]);
    let load = Load::start(hc.port, 4, 20, 8192, "order");
    let start = Instant::now();
    let mut resets = 0;
    while start.elapsed() < Duration::from_secs(3) {
        load.wait_batches(1, Duration::from_secs(10), "progress between resets");
        proxy.reset_all();
        resets += 1;
    }
    load.wait_all_ok_after(Instant::now(), Duration::from_secs(5), "success after the resets");
    let (ok, errors, _) = load.totals();
    let logs = load.stop();
    assert_alive(&mut hc);
    let checked = assert_acked_in_redis(redis.port, &logs);
    eprintln!("order: {resets} resets, {ok} ok, {errors} failed, {checked} acked writes in Redis");
}

/// Waits until hotcache has sent `n` commands upstream in all.
fn forwarded(info: &mut RawClient, n: u64) {
    super::wait_until(Duration::from_secs(10), &format!("{n} commands forwarded"), || {
        hotcache_field(info, "forwarded_commands") >= n
    });
}

/// Megabytes that surely fill the socket buffers of one connection: its send
/// buffer and the peer's receive buffer at their largest (autotuning grows a
/// receive buffer up to `tcp_rmem`'s maximum, 32 MB on these machines: 24 MB
/// once all fitted, and a request meant to be stuck in hotcache left), and 8
/// more.
fn filler_megabytes() -> u64 {
    let max = |path: &str| -> u64 {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|t| t.split_whitespace().nth(2).and_then(|v| v.parse().ok()))
            .unwrap_or(32 << 20)
    };
    (max("/proc/sys/net/ipv4/tcp_rmem") + max("/proc/sys/net/ipv4/tcp_wmem")) / (1 << 20) + 8
}

/// A request failed with its connection and waiting for its retry must reach
/// Redis before the requests its client sends after it, which would otherwise go
/// ahead on the new connection. Made certain with a long retry backoff: a GET
/// stuck in a black hole when the connection is reset, then a SET of the same
/// key, must not see that SET; a SET that never left (queued behind a writer
/// blocked by the black hole), then a GET of its key, must see it.
#[test]
fn a_retried_request_is_not_overtaken_by_later_ones() {
    // Only the resets below fail the connection: the black hole may last
    // seconds on a loaded machine (44 MB to send into it), and neither the
    // stall check (it opened the breaker, and the retry got its error: loop
    // run 2 on d10586a) nor upstream-timeout may end it first.
    let (redis, proxy, mut hc) = setup(&[
        "--threads",
        "1",
        "--cache-tracking",
        "no",
        "--retry-backoff",
        "300",
        "--upstream-stall-timeout",
        "0",
        "--upstream-timeout",
        "120000",
    ]);
    let mut c = hc.client();
    let mut info = hc.client();
    let mut broken = hotcache_field(&mut info, "upstream_connection_errors");
    let mut reset_upstream = |info: &mut RawClient| {
        proxy.reset_all();
        proxy.black_hole(false);
        super::wait_until(Duration::from_secs(5), "hotcache sees the reset", || {
            hotcache_field(info, "upstream_connection_errors") > broken
        });
        broken = hotcache_field(info, "upstream_connection_errors");
    };

    // A read sent, lost with its connection, retried after 300 ms.
    assert_eq!(c.cmd(&["SET", "order:r", "old"]), b"+OK\r\n");
    proxy.black_hole(true);
    let sent = hotcache_field(&mut info, "forwarded_commands");
    c.send(&encode(&["GET", "order:r"]));
    forwarded(&mut info, sent + 1);
    reset_upstream(&mut info);
    c.send(&encode(&["SET", "order:r", "new"]));
    let get = c.read_reply();
    assert!(
        get == bulk("old") || is_upstream_error(&get),
        "a GET sent before SET got {}",
        String::from_utf8_lossy(&get)
    );
    assert_eq!(c.read_reply(), b"+OK\r\n");

    // A write that never left (its connection's writer blocked), retried after
    // 300 ms: the GET sent after it must see it.
    proxy.black_hole(true);
    let mut filler = hc.client();
    let big = "f".repeat(1 << 20);
    let fillers = filler_megabytes();
    let mut batch = Vec::new();
    for i in 0..fillers {
        batch.extend(encode(&["SET", &format!("order:filler:{i}"), &big]));
    }
    let sent = hotcache_field(&mut info, "forwarded_commands");
    let writer = std::thread::spawn(move || {
        filler.send(&batch);
        filler
    });
    // More megabytes sent into the black hole than the socket buffers between
    // hotcache and the proxy can hold, so the connection's writer is blocked
    // and what follows stays in hotcache.
    forwarded(&mut info, sent + fillers);
    c.send(&encode(&["SET", "order:w", "written"]));
    forwarded(&mut info, sent + fillers + 1);
    reset_upstream(&mut info);
    c.send(&encode(&["GET", "order:w"]));
    let set = c.read_reply();
    let get = c.read_reply();
    let text = |r: &[u8]| String::from_utf8_lossy(r).into_owned();
    // The SET never left, so it was sent again: acknowledged.
    assert_eq!(text(&set), "+OK\r\n", "the SET that never left");
    assert_eq!(text(&get), text(&bulk("written")), "GET after an acknowledged SET");
    assert!(hotcache_field(&mut info, "upstream_retries") >= 2, "no retries: nothing tested");
    let _ = writer.join();
    assert_alive(&mut hc);
    assert_eq!(redis.client().cmd(&["GET", "order:r"]), bulk("new"));
}
