//! Test harness for Redis Cluster upstreams: a real cluster of `redis-server`
//! processes on free ports ([`RedisCluster`]), Redis's key-to-slot function
//! ([`key_slot`]) and a cluster-aware reference client ([`ClusterClient`]).
//!
//! ```text
//!  RedisCluster::start(3, 1)
//!    6 x redis-server --cluster-enabled yes --cluster-port <free> (own temp dir each)
//!    redis-cli --cluster create ... --cluster-replicas 1 --cluster-yes
//!    wait_ok(): every live node says cluster_state:ok, knows every node, shows
//!               the same CLUSTER SLOTS naming only live nodes, and every live
//!               replica's link to its master is up
//! ```
//!
//! The cluster bus of each node gets its own free port (`--cluster-port`)
//! instead of Redis's default `port + 10000`, which may be taken or be past
//! 65535 for a port from the ephemeral range. Readiness is polled with a
//! deadline, never waited for with a fixed sleep. Dropping the cluster kills
//! every process and removes its directory.

#![allow(dead_code)]

mod client;
mod slot;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub use client::{ClusterClient, SlotRange, key_indexes, keys_of, parse_cluster_slots, show_args};
pub use slot::{SLOTS, key_slot};

use crate::common::{RawClient, free_port, is_our_redis};

/// How long a node gets to start answering PING.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the cluster gets to settle (create, failover, reshard) before the
/// test fails. Failure detection alone takes the node timeout plus an election.
const OK_TIMEOUT: Duration = Duration::from_secs(30);
/// `cluster-node-timeout` of a cluster whose tests fail a master over (SIGKILL
/// or CLUSTER FAILOVER): small, so that a killed master is replaced in a few
/// seconds (and an election that must be tried again waits 4 s, not 30).
const QUICK_NODE_TIMEOUT_MS: u64 = 2000;
/// `cluster-node-timeout` of every other cluster: Redis's default. With 2 s, a
/// node that a loaded machine left without CPU for 2 s was taken for failed
/// (PFAIL, then FAIL, a failover nobody asked for, CLUSTERDOWN meanwhile): a
/// reshard under load failed with `CLUSTERDOWN The cluster is down` from
/// MIGRATE's target (loop run 3, 2026-12-03).
const NODE_TIMEOUT_MS: u64 = 15_000;

/// A node's role, as the node itself reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Master,
    Replica,
}

/// What [`RedisCluster::nodes`] reports about one node.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    /// The node's index in the cluster (the handle every method takes).
    pub index: usize,
    pub port: u16,
    /// None while the node is killed.
    pub pid: Option<u32>,
    /// The 40-character cluster node id.
    pub id: String,
    pub role: Role,
    /// The id of its master, for a replica.
    pub master_id: Option<String>,
}

/// One redis-server of the cluster.
struct Node {
    port: u16,
    bus_port: u16,
    /// Its TLS port in a TLS cluster (0: none).
    tls_port: u16,
    dir: PathBuf,
    /// Its cluster node id (kept across restarts by its nodes.conf).
    id: String,
    /// None while killed.
    child: Option<Child>,
}

/// The certificates of a TLS cluster (PEM files): every node's server
/// certificate (also shown on the cluster bus and to MIGRATE's target, so
/// fit for client authentication too) and key, and the CA that signed it.
#[derive(Clone, Debug)]
pub struct ClusterTls {
    pub cert: String,
    pub key: String,
    pub ca: String,
}

/// A Redis Cluster of real `redis-server` processes, killed when dropped.
pub struct RedisCluster {
    nodes: Vec<Node>,
    root: PathBuf,
    /// A TLS cluster (`tls-cluster yes`): nodes have a TLS port beside the
    /// plain one the harness uses, and the cluster bus, replication, MIGRATE
    /// and redis-cli's `--cluster` commands all use TLS.
    tls: Option<ClusterTls>,
    /// Its nodes' `cluster-node-timeout`, in milliseconds.
    node_timeout_ms: u64,
    /// How long `start` took, from the first spawn to `wait_ok`.
    pub startup: Duration,
}

/// Makes every cluster's directory distinct even within one process.
static CLUSTERS: AtomicUsize = AtomicUsize::new(0);
/// Names each reshard's log.
static RESHARDS: AtomicUsize = AtomicUsize::new(0);

fn spawn_node(
    port: u16,
    bus_port: u16,
    dir: &Path,
    tls: Option<(&ClusterTls, u16)>,
    node_timeout_ms: u64,
) -> Child {
    let mut cmd = Command::new(crate::common::server_bin());
    if let Some((t, tls_port)) = tls {
        cmd.args(["--tls-port", &tls_port.to_string(), "--tls-cluster", "yes"])
            .args(["--tls-replication", "yes", "--tls-auth-clients", "yes"])
            .args(["--tls-cert-file", &t.cert, "--tls-key-file", &t.key])
            .args(["--tls-ca-cert-file", &t.ca]);
    }
    cmd.args(["--port", &port.to_string(), "--cluster-port", &bus_port.to_string()])
        .args(["--bind", "127.0.0.1", "--protected-mode", "no", "--daemonize", "no"])
        .args(["--cluster-enabled", "yes"])
        .arg("--cluster-config-file")
        .arg(dir.join(format!("nodes-{port}.conf")))
        .args(["--cluster-node-timeout", &node_timeout_ms.to_string()])
        // A replica may always take over, however long its link was down.
        .args(["--cluster-replica-validity-factor", "0"])
        .args(["--appendonly", "no", "--save", ""])
        // A replica's first sync starts at once (the default waits 5 s for more
        // replicas to share a diskless transfer).
        .args(["--repl-diskless-sync-delay", "0"])
        .arg("--dir")
        .arg(dir)
        .arg("--logfile")
        .arg(dir.join("redis.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server must be installed (see README)")
}

/// Waits until the node on `port` answers PING; false if it exited first (most
/// likely a port taken between `free_port` and its bind).
fn wait_answers(port: u16, child: &mut Child) -> bool {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok(mut c) = RawClient::try_connect(port)
            && c.try_cmd(&["PING"]).is_ok_and(|r| r == b"+PONG\r\n")
        {
            if is_our_redis(port, child) {
                return true;
            }
            // Another's server holds the port: ours cannot bind it.
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("redis-server (cluster node) on {port} not ready in time");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Two distinct free ports: the client port and the cluster bus port.
fn two_free_ports() -> (u16, u16) {
    let port = free_port();
    loop {
        let bus = free_port();
        if bus != port {
            return (port, bus);
        }
    }
}

/// The value of `field` in INFO-style `field:value` text.
pub fn info_value<'a>(text: &'a str, field: &str) -> Option<&'a str> {
    text.lines().find_map(|l| l.trim_end().strip_prefix(field)?.strip_prefix(':'))
}

/// The text of a bulk (or verbatim) reply.
fn bulk_text(reply: &[u8]) -> Result<String, String> {
    use crate::differential::resp::{Value, parse};
    match parse(reply)? {
        Value::Blob(b'$', t) => Ok(String::from_utf8_lossy(&t).into_owned()),
        Value::Blob(b'=', t) if t.len() >= 4 => Ok(String::from_utf8_lossy(&t[4..]).into_owned()),
        Value::Line(b'+', t) => Ok(String::from_utf8_lossy(&t).into_owned()),
        other => Err(format!("expected text, got {other:?}")),
    }
}

/// Sends one command and returns its reply as text (bulk, verbatim or status).
fn text_cmd(c: &mut RawClient, args: &[&str]) -> Result<String, String> {
    let reply = c.try_cmd(args).map_err(|e| format!("{args:?}: {e}"))?;
    bulk_text(&reply).map_err(|e| format!("{args:?}: {e}"))
}

impl RedisCluster {
    /// Starts `masters` masters with `replicas_per_master` replicas each (Redis
    /// needs at least 3 masters), creates the cluster with `redis-cli --cluster
    /// create` and waits until it is ok everywhere ([`Self::wait_ok`]).
    pub fn start(masters: usize, replicas_per_master: usize) -> Self {
        Self::start_with(masters, replicas_per_master, None, NODE_TIMEOUT_MS)
    }

    /// As [`Self::start`], for tests that fail a master over: a node timeout
    /// of 2 s, so that a killed master's replica takes over within a few
    /// seconds.
    pub fn start_for_failovers(masters: usize, replicas_per_master: usize) -> Self {
        Self::start_with(masters, replicas_per_master, None, QUICK_NODE_TIMEOUT_MS)
    }

    /// As [`Self::start`], a TLS cluster (`tls-cluster yes`, created with
    /// `redis-cli --tls --cluster create` on the TLS ports).
    pub fn start_tls(masters: usize, replicas_per_master: usize, tls: ClusterTls) -> Self {
        Self::start_with(masters, replicas_per_master, Some(tls), NODE_TIMEOUT_MS)
    }

    fn start_with(
        masters: usize,
        replicas_per_master: usize,
        tls: Option<ClusterTls>,
        node_timeout_ms: u64,
    ) -> Self {
        assert!(masters >= 3, "redis-cli --cluster create needs at least 3 masters");
        let began = Instant::now();
        let n = masters * (1 + replicas_per_master);
        let root = std::env::temp_dir().join(format!(
            "hotcache-test-cluster-{}-{}",
            std::process::id(),
            CLUSTERS.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        let mut cluster = Self {
            nodes: Vec::with_capacity(n),
            root,
            tls,
            node_timeout_ms,
            startup: Duration::ZERO,
        };
        for _ in 0..n {
            let node = cluster.start_node();
            cluster.nodes.push(node);
        }
        let mut create = cluster.cli();
        create.arg("--cluster").arg("create");
        for i in 0..n {
            create.arg(format!("127.0.0.1:{}", cluster.cli_port(i)));
        }
        create.args(["--cluster-replicas", &replicas_per_master.to_string(), "--cluster-yes"]);
        let out = crate::common::output_within(&mut create, crate::common::CLIENT_LIMIT)
            .expect("redis-cli must be installed");
        let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
        assert_cli_ok("redis-cli --cluster create", out.status, &text);
        for i in 0..n {
            let id = text_cmd(&mut cluster.client(i), &["CLUSTER", "MYID"])
                .unwrap_or_else(|e| panic!("node {i}: {e}"));
            cluster.nodes[i].id = id;
        }
        cluster.wait_ok();
        cluster.startup = began.elapsed();
        cluster
    }

    /// Starts one empty cluster-enabled node on free ports, in its own directory.
    fn start_node(&self) -> Node {
        for _attempt in 0..5 {
            let (port, bus_port) = two_free_ports();
            let tls_port = if self.tls.is_some() { free_port() } else { 0 };
            let dir = self.root.join(format!("node-{port}"));
            std::fs::create_dir_all(&dir).expect("create the node's directory");
            let tls = self.tls.as_ref().map(|t| (t, tls_port));
            let mut child = spawn_node(port, bus_port, &dir, tls, self.node_timeout_ms);
            if wait_answers(port, &mut child) {
                let id = String::new();
                return Node { port, bus_port, tls_port, dir, id, child: Some(child) };
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
        panic!("could not start a cluster node");
    }

    /// Starts an empty node and has it join the cluster as a master that serves
    /// no slot (CLUSTER MEET); waits until every node knows it. Its index.
    pub fn add_master(&mut self) -> usize {
        let mut node = self.start_node();
        let first = self.live_ports()[0];
        let reply = RawClient::connect(first).cmd_str(&[
            "CLUSTER",
            "MEET",
            "127.0.0.1",
            // A TLS cluster's nodes know each other by their TLS ports.
            &(if node.tls_port != 0 { node.tls_port } else { node.port }).to_string(),
            &node.bus_port.to_string(),
        ]);
        assert_eq!(reply, "+OK\r\n", "CLUSTER MEET");
        node.id = text_cmd(&mut RawClient::connect(node.port), &["CLUSTER", "MYID"])
            .unwrap_or_else(|e| panic!("new node: {e}"));
        self.nodes.push(node);
        self.wait_ok();
        self.nodes.len() - 1
    }

    /// Number of nodes, killed ones included.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn port(&self, node: usize) -> u16 {
        self.nodes[node].port
    }

    /// A node's TLS port (0 unless a TLS cluster).
    pub fn tls_port(&self, node: usize) -> u16 {
        self.nodes[node].tls_port
    }

    /// The index of the node whose TLS port is `port`.
    pub fn index_of_tls_port(&self, port: u16) -> Option<usize> {
        self.nodes.iter().position(|n| n.tls_port != 0 && n.tls_port == port)
    }

    /// The port redis-cli's `--cluster` commands reach a node on: its TLS one
    /// in a TLS cluster (the ports the nodes announce to TLS clients, and the
    /// ones MIGRATE, which goes over TLS then, must be given).
    fn cli_port(&self, node: usize) -> u16 {
        match self.nodes[node].tls_port {
            0 => self.nodes[node].port,
            p => p,
        }
    }

    /// `redis-cli`, with `--tls` and the certificates in a TLS cluster.
    fn cli(&self) -> Command {
        let mut cli = Command::new("redis-cli");
        if let Some(t) = &self.tls {
            cli.args(["--tls", "--cacert", &t.ca, "--cert", &t.cert, "--key", &t.key]);
        }
        cli
    }

    pub fn id(&self, node: usize) -> &str {
        &self.nodes[node].id
    }

    pub fn is_alive(&self, node: usize) -> bool {
        self.nodes[node].child.is_some()
    }

    /// The index of the node listening on `port`.
    pub fn index_of_port(&self, port: u16) -> Option<usize> {
        self.nodes.iter().position(|n| n.port == port)
    }

    /// The index of the node with cluster id `id`.
    pub fn index_of_id(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    /// A raw connection to one node.
    pub fn client(&self, node: usize) -> RawClient {
        RawClient::connect(self.nodes[node].port)
    }

    /// A cluster-aware client seeded with every live node.
    pub fn cluster_client(&self) -> ClusterClient {
        ClusterClient::connect(&self.live_ports())
    }

    /// Waits until every node's CLUSTER SLOTS names a replica for every range.
    /// Redis 7.0 lists a replica only once the node asked knows it has
    /// replicated something, which other nodes learn by gossip: until then, a
    /// client refreshing its map from one node and then another sees a shard's
    /// replica come and go (with `read-from replica`, a shard without one is
    /// read at its master).
    pub fn wait_replicas_listed(&self) {
        let deadline = Instant::now() + OK_TIMEOUT;
        let lacking = |port: u16| -> Result<bool, String> {
            let mut c = RawClient::try_connect(port).map_err(|e| format!("{port}: {e}"))?;
            let slots = c.try_cmd(&["CLUSTER", "SLOTS"]).map_err(|e| format!("{port}: {e}"))?;
            Ok(parse_cluster_slots(&slots)?.iter().any(|r| r.replicas.is_empty()))
        };
        loop {
            let why = self.live_ports().into_iter().find_map(|port| match lacking(port) {
                Ok(false) => None,
                Ok(true) => Some(format!("{port} lists a range without a replica")),
                Err(e) => Some(e),
            });
            let Some(why) = why else { return };
            if Instant::now() > deadline {
                panic!("replicas not listed everywhere in {OK_TIMEOUT:?}: {why}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn live_ports(&self) -> Vec<u16> {
        self.nodes.iter().filter(|n| n.child.is_some()).map(|n| n.port).collect()
    }

    /// The current masters' addresses, comma separated (`127.0.0.1:p1,...`),
    /// as `--cluster redis://` takes them after the scheme.
    pub fn seeds(&self) -> String {
        let masters = self.masters();
        masters.iter().map(|&i| format!("127.0.0.1:{}", self.port(i))).collect::<Vec<_>>().join(",")
    }

    /// `redis://` and [`Self::seeds`]: the value of hotcache's `--cluster`.
    pub fn url(&self) -> String {
        format!("redis://{}", self.seeds())
    }

    /// A TLS cluster's masters as `rediss://` and their TLS ports.
    pub fn tls_url(&self) -> String {
        let masters = self.masters();
        let seeds: Vec<String> =
            masters.iter().map(|&i| format!("127.0.0.1:{}", self.tls_port(i))).collect();
        format!("rediss://{}", seeds.join(","))
    }

    /// Every node with its role as the node itself reports it (a killed node:
    /// as the first live node last saw it).
    pub fn nodes(&self) -> Vec<NodeInfo> {
        let seen_by_live = self
            .live_ports()
            .first()
            .and_then(|&p| RawClient::try_connect(p).ok())
            .and_then(|mut c| text_cmd(&mut c, &["CLUSTER", "NODES"]).ok())
            .unwrap_or_default();
        (0..self.nodes.len())
            .map(|i| {
                let node = &self.nodes[i];
                let own = node
                    .child
                    .as_ref()
                    .and_then(|_| RawClient::try_connect(node.port).ok())
                    .and_then(|mut c| text_cmd(&mut c, &["CLUSTER", "NODES"]).ok());
                let text = own.as_deref().unwrap_or(&seen_by_live);
                let line =
                    text.lines().find(|l| l.starts_with(node.id.as_str())).unwrap_or_else(|| {
                        panic!("node {i} ({}) not in CLUSTER NODES:\n{text}", node.id)
                    });
                let fields: Vec<&str> = line.split(' ').collect();
                let flags = fields.get(2).copied().unwrap_or("");
                let role = if flags.split(',').any(|f| f == "master") {
                    Role::Master
                } else {
                    Role::Replica
                };
                let master_id = fields.get(3).filter(|m| **m != "-").map(|m| m.to_string());
                NodeInfo {
                    index: i,
                    port: node.port,
                    pid: node.child.as_ref().map(Child::id),
                    id: node.id.clone(),
                    role,
                    master_id,
                }
            })
            .collect()
    }

    /// Indexes of the nodes that serve slots, in slot order.
    pub fn masters(&self) -> Vec<usize> {
        let mut out = Vec::new();
        for range in self.slot_map() {
            let i = self.index_of_port(range.master).expect("a master of this cluster");
            if !out.contains(&i) {
                out.push(i);
            }
        }
        out
    }

    /// Indexes of the live replicas.
    pub fn replicas(&self) -> Vec<usize> {
        self.nodes()
            .into_iter()
            .filter(|n| n.role == Role::Replica && n.pid.is_some())
            .map(|n| n.index)
            .collect()
    }

    /// The replica (live or not) of master `master`.
    pub fn replica_of(&self, master: usize) -> Option<usize> {
        let id = self.id(master).to_string();
        self.nodes()
            .into_iter()
            .find(|n| n.master_id.as_deref() == Some(id.as_str()))
            .map(|n| n.index)
    }

    /// CLUSTER SLOTS of the first live node, parsed.
    pub fn slot_map(&self) -> Vec<SlotRange> {
        let port = *self.live_ports().first().expect("a live node");
        let reply = RawClient::connect(port).cmd(&["CLUSTER", "SLOTS"]);
        parse_cluster_slots(&reply).expect("CLUSTER SLOTS reply")
    }

    /// The index of the master that serves `slot`.
    pub fn master_for_slot(&self, slot: u16) -> usize {
        let range = self
            .slot_map()
            .into_iter()
            .find(|r| (r.start..=r.end).contains(&slot))
            .unwrap_or_else(|| panic!("slot {slot} is not served"));
        self.index_of_port(range.master).expect("a master of this cluster")
    }

    /// The index of the master that serves `key`.
    pub fn master_for_key(&self, key: &[u8]) -> usize {
        self.master_for_slot(key_slot(key))
    }

    /// Kills a node with SIGKILL (no shutdown, no save).
    pub fn kill(&mut self, node: usize) {
        if let Some(mut child) = self.nodes[node].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a killed node again, on its ports and with its nodes.conf (so with
    /// its node id), and waits until it answers. Call [`Self::wait_ok`] for the
    /// cluster to take it back.
    pub fn restart(&mut self, node: usize) {
        self.kill(node);
        let (port, bus_port, dir) =
            (self.nodes[node].port, self.nodes[node].bus_port, self.nodes[node].dir.clone());
        let tls = self.tls.as_ref().map(|t| (t, self.nodes[node].tls_port));
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let mut child = spawn_node(port, bus_port, &dir, tls, self.node_timeout_ms);
            if wait_answers(port, &mut child) {
                self.nodes[node].child = Some(child);
                return;
            }
            // The port may take a moment to be free again after the kill.
            assert!(Instant::now() < deadline, "cluster node did not restart on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Manual failover (`CLUSTER FAILOVER`, so the master must be alive): waits
    /// until `replica` says it is master and its old master says it is a replica,
    /// then until the cluster is ok.
    pub fn failover(&self, replica: usize) {
        let old_master = self.nodes()[replica]
            .master_id
            .as_deref()
            .and_then(|id| self.index_of_id(id))
            .unwrap_or_else(|| panic!("node {replica} is not a replica"));
        let start_failover = || {
            let reply = self.client(replica).cmd_str(&["CLUSTER", "FAILOVER"]);
            assert_eq!(reply, "+OK\r\n", "CLUSTER FAILOVER on node {replica}");
        };
        start_failover();
        // Redis gives a manual failover 5 s (CLUSTER_MF_TIMEOUT) and then drops
        // it silently: ask again after that.
        let mut again = Instant::now() + Duration::from_secs(6);
        let role = |i: usize| -> Option<String> {
            let mut c = RawClient::try_connect(self.port(i)).ok()?;
            let text = text_cmd(&mut c, &["INFO", "replication"]).ok()?;
            info_value(&text, "role").map(str::to_string)
        };
        let deadline = Instant::now() + OK_TIMEOUT;
        loop {
            if role(replica).as_deref() == Some("master")
                && role(old_master).as_deref() == Some("slave")
            {
                break;
            }
            if Instant::now() > again {
                start_failover();
                again = Instant::now() + Duration::from_secs(6);
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.nodes[replica].dir.join("redis.log"));
                let repl = |i: usize| {
                    RawClient::try_connect(self.port(i))
                        .map_err(|e| e.to_string())
                        .and_then(|mut c| text_cmd(&mut c, &["INFO", "replication"]))
                        .unwrap_or_else(|e| e)
                };
                panic!(
                    "failover to node {replica} did not happen\n{}\nreplica: {}\nmaster: {}\nits log:\n{}",
                    self.describe(),
                    repl(replica),
                    repl(old_master),
                    log.unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.wait_ok();
    }

    /// Moves `slots` slots from master `from` to master `to` with `redis-cli
    /// --cluster reshard`, then waits until the cluster is ok.
    pub fn reshard(&self, from: usize, to: usize, slots: u32) {
        self.spawn_reshard(from, to, slots).finish(self);
    }

    /// Starts `redis-cli --cluster reshard` and returns at once, so that traffic
    /// can run while slots move; [`Reshard::finish`] waits for it.
    pub fn spawn_reshard(&self, from: usize, to: usize, slots: u32) -> Reshard {
        // To a file, not a pipe: redis-cli prints a line per slot moved, and a
        // full pipe nobody reads would stop it.
        let log =
            self.root.join(format!("reshard-{}.log", RESHARDS.fetch_add(1, Ordering::Relaxed)));
        let out = std::fs::File::create(&log).expect("create the reshard log");
        let err = out.try_clone().expect("clone the reshard log");
        let child = self
            .cli()
            .args(["--cluster", "reshard", &format!("127.0.0.1:{}", self.cli_port(from))])
            .args(["--cluster-from", self.id(from), "--cluster-to", self.id(to)])
            .args(["--cluster-slots", &slots.to_string(), "--cluster-yes"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("redis-cli must be installed");
        Reshard { child: Some(child), log, what: format!("reshard {slots} slots {from} -> {to}") }
    }

    /// Waits until every live node reports `cluster_state:ok` and knows every
    /// node, all of them show the same CLUSTER SLOTS, that map names only live
    /// nodes (so a killed master has been replaced), and every live replica's
    /// replication link is up. Panics with each node's view after a deadline.
    pub fn wait_ok(&self) {
        let deadline = Instant::now() + OK_TIMEOUT;
        loop {
            let Err(why) = self.check_ok() else { return };
            if Instant::now() > deadline {
                panic!("cluster not ok in {OK_TIMEOUT:?}: {why}\n{}", self.describe());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// One look at the conditions of [`Self::wait_ok`].
    pub fn check_ok(&self) -> Result<(), String> {
        let live: HashSet<u16> = self.live_ports().into_iter().collect();
        let mut first: Option<(u16, Vec<u8>)> = None;
        let mut first_topology: Option<(u16, Vec<String>)> = None;
        for &port in &self.live_ports() {
            let mut c = RawClient::try_connect(port).map_err(|e| format!("{port}: {e}"))?;
            let info = text_cmd(&mut c, &["CLUSTER", "INFO"])?;
            if info_value(&info, "cluster_state") != Some("ok") {
                return Err(format!("{port}: cluster_state is not ok"));
            }
            let known = info_value(&info, "cluster_known_nodes").unwrap_or("?");
            if known != self.nodes.len().to_string() {
                return Err(format!("{port}: knows {known} nodes of {}", self.nodes.len()));
            }
            let slots = c.try_cmd(&["CLUSTER", "SLOTS"]).map_err(|e| format!("{port}: {e}"))?;
            let ranges = parse_cluster_slots(&slots)?;
            let covered: usize = ranges.iter().map(|r| usize::from(r.end - r.start) + 1).sum();
            if covered != usize::from(SLOTS) {
                return Err(format!("{port}: {covered} slots served"));
            }
            for r in &ranges {
                for p in std::iter::once(&r.master).chain(&r.replicas) {
                    if !live.contains(p) {
                        return Err(format!("{port}: its slot map still names {p}, killed"));
                    }
                }
            }
            match &first {
                None => first = Some((port, slots)),
                Some((p0, s0)) if *s0 != slots => {
                    return Err(format!("{port} and {p0} disagree on CLUSTER SLOTS"));
                }
                Some(_) => {}
            }
            let nodes = topology(&text_cmd(&mut c, &["CLUSTER", "NODES"])?);
            match &first_topology {
                None => first_topology = Some((port, nodes)),
                Some((p0, t0)) if *t0 != nodes => {
                    return Err(format!("{port} and {p0} disagree on roles:\n{t0:?}\n{nodes:?}"));
                }
                Some(_) => {}
            }
            let repl = text_cmd(&mut c, &["INFO", "replication"])?;
            if info_value(&repl, "role") == Some("slave")
                && info_value(&repl, "master_link_status") != Some("up")
            {
                return Err(format!("{port}: replica whose link to its master is not up"));
            }
        }
        Ok(())
    }

    /// Every live node's CLUSTER NODES, for failure messages.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for (i, n) in self.nodes.iter().enumerate() {
            out.push_str(&format!("node {i} port {} id {}:", n.port, n.id));
            if n.child.is_none() {
                out.push_str(" killed\n");
                continue;
            }
            match RawClient::try_connect(n.port)
                .map_err(|e| e.to_string())
                .and_then(|mut c| text_cmd(&mut c, &["CLUSTER", "NODES"]))
            {
                Ok(text) => out.push_str(&format!("\n{text}")),
                Err(e) => out.push_str(&format!(" {e}\n")),
            }
        }
        out
    }

    /// The cluster's directory (one sub-directory per node, with its log).
    pub fn dir(&self) -> &Path {
        &self.root
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A node's view of the cluster from its CLUSTER NODES: every node's id, role,
/// master and whether it is marked failed, sorted. Once every node shows the
/// same, a master knows its replicas (which a manual failover needs) and a
/// killed node is known failed everywhere.
fn topology(cluster_nodes: &str) -> Vec<String> {
    let mut out: Vec<String> = cluster_nodes
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            let flags: Vec<&str> = f.get(2)?.split(',').collect();
            let role = if flags.contains(&"master") { "master" } else { "replica" };
            let failed = if flags.contains(&"fail") { " failed" } else { "" };
            Some(format!("{} {role} of {}{failed}", f[0], f.get(3)?))
        })
        .collect();
    out.sort();
    out
}

/// A `redis-cli --cluster reshard` running in the background.
pub struct Reshard {
    child: Option<Child>,
    /// redis-cli's output (stdout and stderr).
    log: PathBuf,
    what: String,
}

impl Reshard {
    /// True once redis-cli has exited.
    pub fn is_done(&mut self) -> bool {
        self.child.as_mut().is_none_or(|c| c.try_wait().is_ok_and(|s| s.is_some()))
    }

    /// Waits for redis-cli, fails the test if it failed, then waits until the
    /// cluster is ok.
    pub fn finish(mut self, cluster: &RedisCluster) {
        let mut child = self.child.take().expect("a running reshard");
        let deadline = Instant::now() + crate::common::CLIENT_LIMIT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for redis-cli") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                panic!(
                    "{} still ran after {:?}: killed. It printed:\n{log}",
                    self.what,
                    crate::common::CLIENT_LIMIT
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        assert_cli_ok(&self.what, status, &log);
        cluster.wait_ok();
    }
}

impl Drop for Reshard {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn assert_cli_ok(what: &str, status: ExitStatus, output: &str) {
    // redis-cli --cluster prints "[ERR]" lines yet may exit 0 for some failures.
    let failed = !status.success() || output.contains("[ERR]");
    assert!(!failed, "{what} failed ({status}):\n{output}");
}
