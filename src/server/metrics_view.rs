//! The server as the metrics endpoint sees it (`metrics::View`).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use super::Shared;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::metrics::view::{ClientTracking, HotKeys, View};
use crate::stats::ShardCounters;

impl View for Shared {
    fn counters(&self) -> &[ShardCounters] {
        &self.counters
    }

    fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    fn config(&self) -> Arc<Config> {
        self.config.load()
    }

    fn connected_clients(&self) -> usize {
        self.clients.count()
    }

    fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    fn client_tracking(&self) -> ClientTracking {
        let t = &self.tracking_totals;
        ClientTracking {
            clients: t.clients.load(Relaxed) as u64,
            keys: t.keys.load(Relaxed) as u64,
            items: t.items.load(Relaxed) as u64,
            memory: t.memory.load(Relaxed) as u64,
        }
    }

    fn hot_keys(&self, count: usize) -> HotKeys {
        Box::pin(super::gather_hot_keys(self, None, count))
    }

    fn shutdown(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        let mut rx = self.subscribe_shutdown();
        Box::pin(async move {
            // Also done when the sender is gone: the server is.
            let _ = rx.wait_for(|v| *v).await;
        })
    }
}
