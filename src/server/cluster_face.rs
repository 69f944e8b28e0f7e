//! CLUSTER SLOTS, SHARDS, NODES and MYID in front of a Redis Cluster: hotcache
//! is one node to its clients, the master of every slot.
//!
//! Forwarded to a master (as they were), these answered the real cluster's
//! topology, so a cluster-aware client (the `redis` crate's cluster client,
//! go-redis, Jedis, Lettuce ...) given hotcache as its seed connected straight
//! to the Redis nodes and left hotcache behind without a word. Answered here,
//! such a client sends everything to hotcache, which routes by slot itself.
//! The address given is the one the client reached hotcache at (the socket's
//! local address), the node id is hotcache's `run_id`. In front of one Redis
//! (no `cluster`), they go to Redis, which answers as it does.

use bytes::Bytes;

use super::conn::{Conn, Effect};
use crate::cmd::Local;

/// Slots of a Redis Cluster: hotcache serves them all.
const LAST_SLOT: i64 = 16383;

impl Conn {
    /// Answers CLUSTER SLOTS/SHARDS/NODES/MYID as a one-node cluster.
    pub(super) fn cluster_face(&mut self, l: Local, req: crate::protocol::Request) -> bool {
        if !self.ctx.upstream.is_cluster() {
            return self.forward(req, Effect::None, crate::upstream::After::Nothing);
        }
        let id = Bytes::from(self.ctx.shared.run_id.clone());
        let laddr = self.info().laddr;
        let ip = laddr.ip().to_string();
        let port = i64::from(laddr.port());
        match l {
            // Redis 7.0's shape: [start, end, [ip, port, id, {}]].
            Local::ClusterSlots => self.reply_with(|o| {
                o.array(1).array(3).int(0).int(LAST_SLOT);
                o.array(4).bulk(ip.as_bytes()).int(port).bulk(&id).map(0);
            }),
            Local::ClusterShards => self.reply_with(|o| {
                o.array(1).map(2);
                o.bulk(b"slots").array(2).int(0).int(LAST_SLOT);
                o.bulk(b"nodes").array(1).map(7);
                o.bulk(b"id").bulk(&id);
                o.bulk(b"port").int(port);
                o.bulk(b"ip").bulk(ip.as_bytes());
                o.bulk(b"endpoint").bulk(ip.as_bytes());
                o.bulk(b"role").bulk(b"master");
                o.bulk(b"replication-offset").int(0);
                o.bulk(b"health").bulk(b"online");
            }),
            Local::ClusterNodes => {
                // No cluster bus: its port is 0. Epochs 0: nothing to elect.
                let line = format!(
                    "{} {ip}:{port}@0 myself,master - 0 0 0 connected 0-{LAST_SLOT}\n",
                    self.ctx.shared.run_id
                );
                self.reply_with(|o| {
                    o.verbatim("txt", line.as_bytes());
                })
            }
            _ => self.reply_with(|o| {
                o.bulk(&id);
            }),
        }
    }
}
