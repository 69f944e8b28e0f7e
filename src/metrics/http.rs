//! The metrics endpoint (`metrics-port`): a minimal HTTP/1.1 server serving
//! `/metrics` (Prometheus), `/` (the dashboard) and `/api/stats` (the JSON the
//! dashboard polls; see `dashboard` for the samples and that JSON).
//!
//! It runs on a thread of its own with its own current-thread runtime rather
//! than on shard 0: a scrape walks every histogram and the dashboard gathers hot
//! keys from every shard, and that work must not add latency to the clients of
//! one shard; the thread is idle between requests and its one-second sampling.
//!
//! Every connection is bounded: one request per connection (`Connection:
//! close`), a head of at most 8 KiB read within 1 s, a reply written within
//! 5 s, at most 64 connections at once. Anything else gets 400, 404, 405, 431
//! or the connection is dropped; nothing a peer sends can make it panic.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::dashboard::{sample, stats_json, totals};
use super::view::View;

/// Longest request head accepted.
const MAX_HEAD: usize = 8 * 1024;
/// Time a peer gets to send its request, and to take the reply.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client may take to send its request head: short, so that idle or
/// dribbling connections cannot hold the few slots there are for long.
const HEAD_TIMEOUT: Duration = Duration::from_secs(1);
/// Connections served at once; more are closed at once.
const MAX_CONNS: usize = 64;
/// The dashboard: one self-contained page.
const DASHBOARD: &str = include_str!("dashboard.html");

pub fn run(listener: std::net::TcpListener, view: Arc<dyn View>) {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the metrics runtime");
            return;
        }
    };
    rt.block_on(async move {
        let listener = match TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "cannot use the metrics listener");
                return;
            }
        };
        let registry = Arc::new(super::prom::registry(view.clone()));
        let slots = Arc::new(Semaphore::new(MAX_CONNS));
        let mut shutdown = view.shutdown();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut prev = totals(&*view);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let now = totals(&*view);
                    if let Some(s) = sample(&prev, &now) {
                        view.metrics().samples.push(s);
                    }
                    prev = now;
                }
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let Ok(permit) = slots.clone().try_acquire_owned() else {
                            // Over the limit: close at once rather than queue.
                            continue;
                        };
                        let view = view.clone();
                        let registry = registry.clone();
                        tokio::spawn(async move {
                            serve(stream, &*view, &registry).await;
                            drop(permit);
                        });
                    }
                    Err(e) => {
                        crate::log_limited!(warn, error = %e, "metrics accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
                _ = &mut shutdown => break,
            }
        }
    });
}

/// What a request asked for.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    Get { path: String, head_only: bool, who: super::access::Credentials },
    BadMethod,
    Bad,
    TooLarge,
}

/// Reads a request head (up to the blank line), bounded in size.
async fn read_head(stream: &mut TcpStream) -> Parsed {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        if let Some(end) = memchr::memmem::find(&buf, b"\r\n\r\n") {
            return parse_head(&buf[..end]);
        }
        // A hand-written request (`nc`, a probe) may end its lines with LF alone.
        if let Some(end) = memchr::memmem::find(&buf, b"\n\n") {
            return parse_head(&buf[..end]);
        }
        if buf.len() >= MAX_HEAD {
            return Parsed::TooLarge;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Parsed::Bad,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Parses the request line; headers are not needed.
fn parse_head(head: &[u8]) -> Parsed {
    let line_end = memchr::memchr2(b'\r', b'\n', head).unwrap_or(head.len());
    let Ok(line) = std::str::from_utf8(&head[..line_end]) else { return Parsed::Bad };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Parsed::Bad;
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Parsed::Bad;
    }
    let path = target.split(['?', '#']).next().unwrap_or("/").to_string();
    let who = super::access::credentials(head, target);
    match method {
        "GET" => Parsed::Get { path, head_only: false, who },
        "HEAD" => Parsed::Get { path, head_only: true, who },
        _ => Parsed::BadMethod,
    }
}

/// Serves one connection: one request, one reply, close.
async fn serve(
    mut stream: TcpStream,
    view: &dyn View,
    registry: &prometheus_client::registry::Registry,
) {
    let parsed = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)).await {
        Ok(p) => p,
        Err(_) => return,
    };
    let config = view.config();
    let refused = match &parsed {
        Parsed::Get { who, .. } => super::access::check(&config, who).err(),
        _ => None,
    };
    let (status, ctype, body, head_only): (&str, &str, Vec<u8>, bool) = match parsed {
        Parsed::Get { .. } if refused == Some(super::access::Refusal::Host) => (
            "403 Forbidden",
            "text/plain; charset=utf-8",
            b"this endpoint does not answer to that host name (see metrics-hosts)\n".to_vec(),
            false,
        ),
        Parsed::Get { .. } if refused == Some(super::access::Refusal::Token) => (
            "401 Unauthorized",
            "text/plain; charset=utf-8",
            b"a token is required (see metrics-auth)\n".to_vec(),
            false,
        ),
        Parsed::Get { path, head_only, .. } => match path.as_str() {
            "/metrics" => (
                "200 OK",
                super::prom::CONTENT_TYPE,
                super::prom::render(registry).into_bytes(),
                head_only,
            ),
            "/" | "/index.html" => {
                ("200 OK", "text/html; charset=utf-8", DASHBOARD.as_bytes().to_vec(), head_only)
            }
            "/api/stats" => {
                let hide = config.metrics_hide_keys;
                let body = stats_json(view, hide).await.to_string().into_bytes();
                ("200 OK", "application/json", body, head_only)
            }
            _ => ("404 Not Found", "text/plain; charset=utf-8", b"not found\n".to_vec(), head_only),
        },
        Parsed::BadMethod => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            b"only GET and HEAD\n".to_vec(),
            false,
        ),
        Parsed::TooLarge => (
            "431 Request Header Fields Too Large",
            "text/plain; charset=utf-8",
            b"request head too large\n".to_vec(),
            false,
        ),
        Parsed::Bad => {
            ("400 Bad Request", "text/plain; charset=utf-8", b"bad request\n".to_vec(), false)
        }
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(&body);
    }
    let _ = tokio::time::timeout(IO_TIMEOUT, async {
        let _ = stream.write_all(&out).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        assert_eq!(
            parse_head(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a"),
            Parsed::Get {
                path: "/metrics".into(),
                head_only: false,
                who: super::super::access::Credentials { host: Some("a".into()), token: None }
            }
        );
        assert_eq!(
            parse_head(b"HEAD / HTTP/1.0"),
            Parsed::Get { path: "/".into(), head_only: true, who: Default::default() }
        );
        assert_eq!(parse_head(b"POST / HTTP/1.1"), Parsed::BadMethod);
        assert_eq!(parse_head(b"GET /"), Parsed::Bad);
        assert_eq!(parse_head(b"GET / HTTP/1.1 x"), Parsed::Bad);
        assert_eq!(parse_head(b"GET x HTTP/1.1"), Parsed::Bad);
        assert_eq!(parse_head(b"\xff\xfe"), Parsed::Bad);
        assert_eq!(parse_head(b""), Parsed::Bad);
    }
}
