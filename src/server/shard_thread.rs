//! One shard thread: a current-thread runtime that accepts on its own
//! SO_REUSEPORT listener and owns every connection it accepted.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use super::{Shared, ThreadCtx, Trackers, conn, signal, trackers};
use crate::cache::ThreadCache;
use crate::origin::EmbeddedOrigin;
use crate::shard;
use crate::stats::inc;
use crate::upstream::Upstream;

/// A shard thread: its runtime, its connections and upstream connections, and
/// its share of the listening port until shutdown.
pub(super) fn run(
    index: usize,
    listeners: super::start::Listeners,
    inbox: tokio::sync::mpsc::UnboundedReceiver<shard::Job>,
    shared: Arc<Shared>,
    embedded: Option<Arc<EmbeddedOrigin>>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(shard = index, error = %e, "cannot build the shard runtime");
            shared.shutdown();
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let config = shared.config.load();
        let ctx = Rc::new(ThreadCtx {
            upstream: Upstream::new(
                &config,
                embedded,
                index,
                crate::upstream::Wiring {
                    counters: shared.counters.clone(),
                    epochs: shared.cache.epochs.clone(),
                    breaker: shared.breaker.clone(),
                    metrics: shared.metrics.clone(),
                    managed: shared.managed(),
                    acl: shared.acl.clone(),
                    tls: shared.upstream_tls.clone(),
                },
            ),
            cache: ThreadCache::new(shared.cache.clone(), &config, index, shared.counters.clone()),
            trackers: Trackers::default(),
            retry_budget: crate::resilience::retry::RetryBudget::new(index as u64 + 17),
            config: RefCell::new((shared.config.generation(), Rc::new((*config).clone()))),
            shared: shared.clone(),
            shard: index,
            open_conns: Cell::new(0),
            stopping: Cell::new(false),
            drained: Notify::new(),
            asks: Default::default(),
            tracking: super::tracking::Tracking::new(shared.tracking_totals.clone(), index),
        });
        super::tracking::set_current_shard(index);
        tokio::task::spawn_local(shard::run_inbox(inbox));
        tokio::task::spawn_local(super::memory::return_freed());
        if let Some(follow) = ctx.upstream.follow_sentinel() {
            tokio::task::spawn_local(follow);
        }
        if index == 0 && config.clients_are_redis_users() {
            tokio::task::spawn_local(super::acl_watch::watch(ctx.clone()));
        }
        if let Some(tc) = shared.tracking.clone() {
            tokio::task::spawn_local(trackers::follow_tracking(ctx.clone(), tc));
        }
        // Either may be off (`port 0`, `tls-port 0`), never both.
        let (plain, tls) = match (listen(listeners.plain), listen(listeners.tls)) {
            (Ok(p), Ok(t)) => (p, t),
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(shard = index, error = %e, "cannot use the listener");
                shared.shutdown();
                return;
            }
        };
        let mut shutdown = shared.shutdown_tx.subscribe();
        loop {
            tokio::select! {
                accepted = accept_on(&plain) => match accepted {
                    Ok((stream, peer)) => accept(&ctx, stream, peer, false),
                    Err(e) => accept_failed(e).await,
                },
                accepted = accept_on(&tls) => match accepted {
                    Ok((stream, peer)) => accept(&ctx, stream, peer, true),
                    Err(e) => accept_failed(e).await,
                },
                _ = shutdown.wait_for(|v| *v) => break,
            }
        }
        drop((plain, tls));
        graceful_stop(&ctx).await;
    });
}

fn listen(l: Option<std::net::TcpListener>) -> std::io::Result<Option<TcpListener>> {
    l.map(TcpListener::from_std).transpose()
}

/// The next connection on `l`; never, when it is off.
async fn accept_on(l: &Option<TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match l {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// Out of descriptors and the like: pause instead of spinning.
async fn accept_failed(e: std::io::Error) {
    crate::log_limited!(warn, error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// Stops this thread's connections: each finishes the replies it owes, then closes.
async fn graceful_stop(ctx: &Rc<ThreadCtx>) {
    ctx.stopping.set(true);
    ctx.trackers.stop_all();
    signal::fire_all();
    let grace = Duration::from_secs(ctx.config().shutdown_timeout);
    let _ = tokio::time::timeout(grace, async {
        while ctx.open_conns.get() > 0 {
            ctx.drained.notified().await;
        }
    })
    .await;
    ctx.upstream.close_all();
}

fn accept(ctx: &Rc<ThreadCtx>, stream: TcpStream, peer: SocketAddr, tls: bool) {
    let config = ctx.config();
    inc(&ctx.counters().total_connections_received);
    let laddr = stream.local_addr().unwrap_or(peer);
    let _ = stream.set_nodelay(true);
    if config.tcp_keepalive > 0 {
        let sock = socket2::SockRef::from(&stream);
        let ka = socket2::TcpKeepalive::new().with_time(Duration::from_secs(config.tcp_keepalive));
        let _ = sock.set_tcp_keepalive(&ka);
    }
    let stream = if tls {
        // The configuration CONFIG SET last loaded: this client keeps it for
        // its whole life.
        let Some(tls_config) = ctx.shared.tls_server_config() else { return };
        match conn::ClientStream::tls(stream, tls_config) {
            Ok(s) => s,
            Err(e) => {
                crate::log_limited!(warn, error = %e, "cannot start a TLS session");
                return;
            }
        }
    } else {
        conn::ClientStream::Plain(stream)
    };
    let registration = ctx.shared.clients.register(peer, laddr, config.maxclients, ctx.shard);
    let ctx = ctx.clone();
    ctx.open_conns.set(ctx.open_conns.get() + 1);
    tokio::task::spawn_local(async move {
        match registration {
            Some(reg) => conn::serve(&ctx, stream, reg).await,
            None => {
                inc(&ctx.counters().rejected_connections);
                conn::refuse(stream, b"-ERR max number of clients reached\r\n").await;
            }
        }
        ctx.open_conns.set(ctx.open_conns.get() - 1);
        if ctx.open_conns.get() == 0 {
            ctx.drained.notify_waiters();
        }
    });
}
