//! hotcache driven by the Rust `redis` crate, as Rust users will drive it
//! (issue 16 item 4, issue 15 item 4): its async multiplexed connection, its
//! RESP3 push API for client-side caching, and its cluster client.
//!
//! Each test runs the crate on a tokio runtime of its own; the checks made on
//! the side (INFO, writes straight to Redis) use the crate too, or a
//! `RawClient` inside `block_in_place`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, PushInfo, PushKind, Value};
use tokio::sync::mpsc::{UnboundedReceiver, error::TryRecvError};

use crate::cache::{calls, info_field};
use crate::common::{Hotcache, RedisServer};
use crate::faults::wait_until;

/// How long a push or a condition may take before the test fails.
const WAIT: Duration = Duration::from_secs(10);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}/")
}

/// Waits until hotcache's own tracking stream is up: fills are cached, and
/// clients' CLIENT TRACKING is served by hotcache, only from then on.
fn wait_tracking_up(hc: &Hotcache) {
    let mut c = hc.client();
    wait_until(WAIT, "hotcache's tracking up", || {
        c.cmd_str(&["INFO", "hotcache"]).contains("cache_tracking:up")
    });
}

/// A field of hotcache's `INFO hotcache`, read on a connection of its own.
fn hotcache_stat(hc: &Hotcache, field: &str) -> u64 {
    let info = tokio::task::block_in_place(|| hc.client().cmd_str(&["INFO", "hotcache"]));
    info_field(&info, field)
}

/// How many GETs Redis itself has run.
fn redis_gets(redis: &RedisServer) -> u64 {
    calls(&redis.client().cmd_str(&["INFO", "commandstats"]), "get")
}

async fn query<T: redis::FromRedisValue>(con: &mut MultiplexedConnection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    match cmd.query_async(con).await {
        Ok(v) => v,
        Err(e) => panic!("{args:?}: {e}"),
    }
}

fn key(i: usize) -> String {
    format!("rs:key:{i}")
}

fn value(i: usize) -> String {
    format!("value-{i}-{}", "x".repeat(i % 7))
}

const KEYS: usize = 100;

/// One multiplexed connection carries many concurrent callers and pipelines;
/// every caller gets its own replies in its own order, and reads of keys
/// hotcache holds are answered from its cache (INFO hotcache counts them,
/// Redis sees none of them).
#[test]
fn multiplexed_connection() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 2, &["--cache-mode", "all", "--cache-ttl", "60000"]);
    wait_tracking_up(&hc);
    // In front of one Redis, the CLUSTER commands are Redis's to answer.
    let slots = redis.client().cmd_str(&["CLUSTER", "SLOTS"]);
    assert!(slots.starts_with("-ERR This instance has cluster support disabled"), "{slots}");
    assert_eq!(hc.client().cmd_str(&["CLUSTER", "SLOTS"]), slots);
    let rt = runtime();
    rt.block_on(async {
        let client = redis::Client::open(url(hc.port)).expect("client");
        let mut con = client.get_multiplexed_async_connection().await.expect("connect");

        // A pipeline of writes and reads: replies in request order.
        let mut pipe = redis::pipe();
        for i in 0..KEYS {
            pipe.cmd("SET").arg(key(i)).arg(value(i));
            pipe.cmd("INCRBY").arg("rs:sum").arg(i);
            pipe.cmd("GET").arg(key(i));
        }
        let replies: Vec<Value> = pipe.query_async(&mut con).await.expect("pipeline");
        assert_eq!(replies.len(), 3 * KEYS);
        let mut sum = 0;
        for (i, r) in replies.chunks(3).enumerate() {
            sum += i as i64;
            assert_eq!(r[0], Value::Okay, "SET {i}");
            assert_eq!(r[1], Value::Int(sum), "INCRBY {i}");
            assert_eq!(r[2], Value::BulkString(value(i).into_bytes()), "GET {i}");
        }

        // Many callers at once on clones of the one connection, each writing
        // and reading its own key: each sees its own write, in its order.
        let mut tasks = tokio::task::JoinSet::new();
        for t in 0..50 {
            let mut con = con.clone();
            tasks.spawn(async move {
                let own = format!("rs:task:{t}");
                for i in 0..20 {
                    let n = (t * 100 + i).to_string();
                    let set: String = query(&mut con, &["SET", &own, &n]).await;
                    assert_eq!(set, "OK");
                    let got: String = query(&mut con, &["GET", &own]).await;
                    assert_eq!(got, n, "task {t} read another write");
                    let k = (t + i) % KEYS;
                    let got: String = query(&mut con, &["GET", &key(k)]).await;
                    assert_eq!(got, value(k));
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("a caller panicked");
        }

        // Every key cached: read each until a read is a hit (a fill raced by
        // the invalidation of the SET that wrote the key is not kept).
        for i in 0..KEYS {
            let k = key(i);
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                assert!(Instant::now() < deadline, "{k} never became a hit");
                let hits = hotcache_stat(&hc, "cache_hits");
                let got: String = query(&mut con, &["GET", &k]).await;
                assert_eq!(got, value(i));
                if hotcache_stat(&hc, "cache_hits") > hits {
                    break;
                }
            }
        }
        let hits = hotcache_stat(&hc, "cache_hits");
        let gets = tokio::task::block_in_place(|| redis_gets(&redis));
        let mut tasks = tokio::task::JoinSet::new();
        for t in 0..10 {
            let mut con = con.clone();
            tasks.spawn(async move {
                for i in 0..KEYS {
                    let k = (t * 7 + i) % KEYS;
                    let got: String = query(&mut con, &["GET", &key(k)]).await;
                    assert_eq!(got, value(k));
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("a reader panicked");
        }
        let hit = hotcache_stat(&hc, "cache_hits") - hits;
        assert!(hit >= 10 * KEYS as u64, "{hit} cache hits for {} reads", 10 * KEYS);
        let reached = tokio::task::block_in_place(|| redis_gets(&redis)) - gets;
        assert_eq!(reached, 0, "cached reads reached Redis");
    });
}

/// A minimal client-side cache over the crate's RESP3 push API: values read
/// are kept, and dropped when an `invalidate` push names their key.
struct LocalCache {
    con: MultiplexedConnection,
    pushes: UnboundedReceiver<PushInfo>,
    values: HashMap<String, String>,
    /// Reads that had to ask the server.
    server_reads: usize,
}

impl LocalCache {
    async fn connect(port: u16) -> Self {
        let client =
            redis::Client::open(format!("{}?protocol=resp3", url(port))).expect("resp3 client");
        let (tx, pushes) = tokio::sync::mpsc::unbounded_channel();
        let config = AsyncConnectionConfig::new().set_push_sender(tx);
        let mut con =
            client.get_multiplexed_async_connection_with_config(&config).await.expect("connect");
        let on: String = query(&mut con, &["CLIENT", "TRACKING", "on"]).await;
        assert_eq!(on, "OK");
        Self { con, pushes, values: HashMap::new(), server_reads: 0 }
    }

    async fn get(&mut self, key: &str) -> String {
        if let Some(v) = self.values.get(key) {
            return v.clone();
        }
        self.server_reads += 1;
        let v: String = query(&mut self.con, &["GET", key]).await;
        self.values.insert(key.to_string(), v.clone());
        v
    }

    /// Waits for the next push and applies it; returns it.
    async fn next_push(&mut self) -> PushInfo {
        let push = tokio::time::timeout(WAIT, self.pushes.recv())
            .await
            .expect("no push in time")
            .expect("push channel closed");
        if push.kind == PushKind::Invalidate {
            match push.data.first() {
                Some(Value::Array(keys)) => {
                    for k in keys {
                        if let Value::BulkString(k) = k {
                            self.values.remove(&*String::from_utf8_lossy(k));
                        }
                    }
                }
                // A null invalidation: everything goes.
                _ => self.values.clear(),
            }
        }
        push
    }
}

/// What the client-side caching flow observed.
#[derive(Debug, PartialEq)]
struct Observed {
    first: String,
    cached: String,
    push: (PushKind, Vec<Value>),
    fresh: String,
    server_reads: usize,
}

/// Reads `key` twice through a client-side cache connected to `port`, has
/// `writer` (a connection straight to Redis) change it, waits for the
/// invalidation and reads it again. With `hc`, `port` is that hotcache's, and
/// the client's read from it must be a cache hit.
async fn client_side_caching(
    port: u16,
    writer: &mut MultiplexedConnection,
    key: &str,
    hc: Option<&Hotcache>,
) -> Observed {
    let set: String = query(writer, &["SET", key, "v1"]).await;
    assert_eq!(set, "OK");
    if let Some(hc) = hc {
        // Cached before the tracking client reads it (one thread: one cache;
        // replies are cached per protocol, so read in RESP3 as the client will).
        tokio::task::block_in_place(|| {
            let mut c = hc.client();
            assert!(c.cmd_str(&["HELLO", "3"]).starts_with('%'));
            wait_until(WAIT, "the key cached", || {
                let hits = info_field(&c.cmd_str(&["INFO", "hotcache"]), "cache_hits");
                assert_eq!(c.cmd(&["GET", key]), b"$2\r\nv1\r\n");
                info_field(&c.cmd_str(&["INFO", "hotcache"]), "cache_hits") > hits
            });
        });
    }
    let mut cache = LocalCache::connect(port).await;
    let hits = hc.map(|hc| hotcache_stat(hc, "cache_hits"));
    let first = cache.get(key).await;
    if let (Some(hc), Some(hits)) = (hc, hits) {
        // A tracking client keeps its cache hits, and hotcache tracks it.
        assert_eq!(hotcache_stat(hc, "cache_hits"), hits + 1, "the tracking read missed");
        assert!(hotcache_stat(hc, "client_tracking_memory") > 0);
    }
    let cached = cache.get(key).await;
    let set: String = query(writer, &["SET", key, "v2"]).await;
    assert_eq!(set, "OK");
    let push = cache.next_push().await;
    let fresh = cache.get(key).await;
    // Nothing else was said: one change, one push.
    assert!(matches!(cache.pushes.try_recv(), Err(TryRecvError::Empty)));
    Observed {
        first,
        cached,
        push: (push.kind, push.data),
        fresh,
        server_reads: cache.server_reads,
    }
}

/// Client-side caching with the crate's push sender through hotcache: the
/// value read is cached in the client, changed straight at Redis, the client
/// gets the `invalidate` push and its next read is fresh, exactly as against
/// Redis itself; hotcache served the tracking (its INFO counts the client).
#[test]
fn resp3_push_client_side_caching() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &["--cache-mode", "all", "--cache-ttl", "60000"]);
    wait_tracking_up(&hc);
    let rt = runtime();
    rt.block_on(async {
        let direct = redis::Client::open(url(redis.port)).expect("client");
        let mut writer = direct.get_multiplexed_async_connection().await.expect("connect");
        let at_redis = client_side_caching(redis.port, &mut writer, "csc:direct", None).await;
        let through = client_side_caching(hc.port, &mut writer, "csc:hotcache", Some(&hc)).await;
        let expected = |key: &str| Observed {
            first: "v1".into(),
            cached: "v1".into(),
            push: (PushKind::Invalidate, vec![Value::Array(vec![Value::BulkString(key.into())])]),
            fresh: "v2".into(),
            server_reads: 2,
        };
        assert_eq!(at_redis, expected("csc:direct"));
        assert_eq!(through, expected("csc:hotcache"));
    });
}

async fn cquery<T: redis::FromRedisValue>(
    con: &mut redis::cluster_async::ClusterConnection,
    args: &[&str],
) -> T {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    match cmd.query_async(con).await {
        Ok(v) => v,
        Err(e) => panic!("{args:?}: {e}"),
    }
}

/// The crate's cluster client with hotcache as its seed, in front of a real
/// Redis Cluster: hotcache answers CLUSTER SLOTS as one node serving every
/// slot at the address the client reached it at, so the client sends
/// everything to hotcache (not to the nodes behind it), which routes each key
/// to its master, serves hits from its cache and delivers tracking pushes for
/// writes made straight to a node.
#[test]
fn cluster_client_through_hotcache() {
    let cluster = crate::cluster_common::RedisCluster::start(3, 0);
    let seeds = cluster.url();
    let hc = Hotcache::start(&[
        "--cluster",
        seeds.as_str(),
        "--threads",
        "2",
        "--cache-mode",
        "all",
        "--cache-ttl",
        "60000",
    ]);
    wait_tracking_up(&hc);
    // What the client discovers: one node, hotcache, with every slot.
    let slots = hc.client().cmd(&["CLUSTER", "SLOTS"]);
    // `$40\r\n<id>\r\n`: hotcache's run_id.
    let myid = hc.client().cmd_str(&["CLUSTER", "MYID"]);
    assert_eq!(myid.len(), 5 + 40 + 2, "{myid}");
    let expected = format!(
        "*1\r\n*3\r\n:0\r\n:16383\r\n*4\r\n$9\r\n127.0.0.1\r\n:{}\r\n{myid}*0\r\n",
        hc.port
    );
    assert_eq!(String::from_utf8_lossy(&slots), expected);
    let id = &myid[5..45];
    let nodes = format!("{id} 127.0.0.1:{}@0 myself,master - 0 0 0 connected 0-16383\n", hc.port);
    let want = format!("${}\r\n{nodes}\r\n", nodes.len());
    assert_eq!(hc.client().cmd_str(&["CLUSTER", "NODES"]), want);

    let rt = runtime();
    rt.block_on(async {
        let (tx, mut pushes) = tokio::sync::mpsc::unbounded_channel();
        let client = redis::cluster::ClusterClient::builder(vec![url(hc.port)])
            .use_protocol(redis::ProtocolVersion::RESP3)
            .push_sender(tx)
            .build()
            .expect("cluster client");
        let mut con = client.get_async_connection().await.expect("connect");

        // Writes and reads from many callers at once, keys on every master.
        let mut tasks = tokio::task::JoinSet::new();
        for t in 0..20 {
            let mut con = con.clone();
            tasks.spawn(async move {
                for i in 0..KEYS / 20 {
                    let k = key(t * (KEYS / 20) + i);
                    let v = value(t * (KEYS / 20) + i);
                    let set: String = cquery(&mut con, &["SET", &k, &v]).await;
                    assert_eq!(set, "OK");
                    let got: String = cquery(&mut con, &["GET", &k]).await;
                    assert_eq!(got, v);
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("a caller panicked");
        }
        // A pipeline (the crate refuses one across slots even though one node
        // serves them all, as with any cluster): keys of one hash tag, replies
        // in order.
        let mut pipe = redis::pipe();
        for i in 0..KEYS {
            pipe.cmd("INCRBY").arg("{rs}:sum").arg(i).cmd("SET").arg(format!("{{rs}}:{i}")).arg(i);
        }
        let got: Vec<Value> = pipe.query_async(&mut con).await.expect("pipeline");
        let mut sum = 0;
        for (i, r) in got.chunks(2).enumerate() {
            sum += i as i64;
            assert_eq!(r, [Value::Int(sum), Value::Okay]);
        }
        // Every key is on its own master, put there by hotcache.
        tokio::task::block_in_place(|| {
            let mut masters = std::collections::HashSet::new();
            for i in 0..KEYS {
                let master = cluster.master_for_key(key(i).as_bytes());
                masters.insert(master);
                let want = format!("${}\r\n{}\r\n", value(i).len(), value(i));
                assert_eq!(cluster.client(master).cmd_str(&["GET", &key(i)]), want);
            }
            assert_eq!(masters.len(), 3, "the keys did not cover every master");
        });
        // The client's connection is hotcache's.
        let me: String = cquery(&mut con, &["CLIENT", "INFO"]).await;
        assert!(me.contains(&format!("laddr=127.0.0.1:{} ", hc.port)), "{me}");

        // Reads of cached keys are hits.
        let k = key(7);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            assert!(Instant::now() < deadline, "{k} never became a hit");
            let hits = hotcache_stat(&hc, "cache_hits");
            let got: String = cquery(&mut con, &["GET", &k]).await;
            assert_eq!(got, value(7));
            if hotcache_stat(&hc, "cache_hits") > hits {
                break;
            }
        }
        let hits = hotcache_stat(&hc, "cache_hits");
        for _ in 0..100 {
            let got: String = cquery(&mut con, &["GET", &k]).await;
            assert_eq!(got, value(7));
        }
        assert!(hotcache_stat(&hc, "cache_hits") >= hits + 100);

        // Client-side caching: tracking on, a read, a write straight to the
        // key's master, the invalidation, a fresh read.
        let on: String = cquery(&mut con, &["CLIENT", "TRACKING", "on"]).await;
        assert_eq!(on, "OK");
        let got: String = cquery(&mut con, &["GET", &k]).await;
        assert_eq!(got, value(7));
        let master = cluster.master_for_key(k.as_bytes());
        tokio::task::block_in_place(|| {
            assert_eq!(cluster.client(master).cmd(&["SET", &k, "changed"]), b"+OK\r\n");
        });
        let push = tokio::time::timeout(WAIT, pushes.recv())
            .await
            .expect("no push in time")
            .expect("push channel closed");
        assert_eq!(push.kind, PushKind::Invalidate);
        assert_eq!(push.data, vec![Value::Array(vec![Value::BulkString(k.clone().into_bytes())])]);
        let got: String = cquery(&mut con, &["GET", &k]).await;
        assert_eq!(got, "changed");
    });
}
