//! INFO: the upstream's sections, then a `# Hotcache` section of hotcache's own.

use std::fmt::Write as _;

use bytes::{Bytes, BytesMut};

use super::conn::{Conn, Effect};
use super::local::text_reply;
use crate::protocol::{Request, string2ll};

/// Section names that include hotcache's section (Redis's `INFO` keywords).
fn wants_hotcache(section: &[u8]) -> bool {
    [&b"hotcache"[..], b"default", b"all", b"everything"]
        .iter()
        .any(|s| section.eq_ignore_ascii_case(s))
}

impl Conn {
    /// INFO [section ...]: forwarded without the `hotcache` section name, answered
    /// with hotcache's section appended when asked for.
    pub(super) fn info_command(&mut self, req: Request) -> bool {
        let sections = &req.args[1..];
        let include = sections.is_empty() || sections.iter().any(|s| wants_hotcache(s));
        let rest: Vec<Bytes> =
            sections.iter().filter(|s| !s.eq_ignore_ascii_case(b"hotcache")).cloned().collect();
        if !sections.is_empty() && rest.is_empty() {
            let text = self.hotcache_section();
            return self.reply_raw(text_reply(self.proto, &text));
        }
        let forwarded = if rest.len() == sections.len() {
            req
        } else {
            let mut args = vec![req.args[0].clone()];
            args.extend(rest);
            Request::from_args(args)
        };
        let effect = if include { Effect::AppendInfo } else { Effect::None };
        self.forward(forwarded, effect, crate::upstream::After::Nothing)
    }

    /// Adds hotcache's section to an INFO reply from the upstream (bulk in RESP2,
    /// verbatim `txt` in RESP3); anything else (an error) passes unchanged.
    pub(super) fn append_info(&self, frame: Bytes) -> Bytes {
        let Some((kind, body)) = split_text_reply(&frame) else { return frame };
        let text = self.hotcache_section();
        let mut joined = BytesMut::with_capacity(body.len() + text.len() + 8);
        joined.extend_from_slice(body);
        if !body.is_empty() {
            joined.extend_from_slice(b"\r\n");
        }
        joined.extend_from_slice(text.as_bytes());
        let mut out = BytesMut::with_capacity(joined.len() + 16);
        let mut num = itoa::Buffer::new();
        out.extend_from_slice(&[kind]);
        let len = if kind == b'=' { joined.len() + 4 } else { joined.len() };
        out.extend_from_slice(num.format(len).as_bytes());
        out.extend_from_slice(b"\r\n");
        if kind == b'=' {
            out.extend_from_slice(b"txt:");
        }
        out.extend_from_slice(&joined);
        out.extend_from_slice(b"\r\n");
        out.freeze()
    }

    /// hotcache's own INFO section.
    pub(super) fn hotcache_section(&self) -> String {
        let shared = &self.ctx.shared;
        let config = &self.config;
        let mut s = String::from("# Hotcache\r\n");
        let _ = write!(s, "hotcache_version:{}\r\n", env!("CARGO_PKG_VERSION"));
        let _ = write!(s, "redis_compat_version:{}\r\n", crate::cmd::REDIS_VERSION);
        let _ = write!(s, "run_id:{}\r\n", shared.run_id);
        let _ = write!(s, "tcp_port:{}\r\n", shared.port);
        let _ = write!(s, "uptime_in_seconds:{}\r\n", shared.started.elapsed().as_secs());
        let _ = write!(s, "process_id:{}\r\n", std::process::id());
        let _ = write!(s, "threads:{}\r\n", shared.shards.len());
        let _ = write!(s, "upstream:{}\r\n", self.ctx.upstream.describe());
        let _ = write!(s, "upstream_connections_per_thread:{}\r\n", config.upstream_connections);
        let _ = write!(s, "connected_clients:{}\r\n", shared.clients.count());
        let _ = write!(s, "maxclients:{}\r\n", config.maxclients);
        let _ = write!(s, "used_memory_rss:{}\r\n", rss_bytes());
        if let Some(b) = &shared.breaker {
            let _ = write!(s, "upstream_breaker:{}\r\n", b.state().name());
            let _ = write!(
                s,
                "breaker_opens:{}\r\n",
                b.opens.load(std::sync::atomic::Ordering::Relaxed)
            );
        }
        if let Some(c) = &shared.cluster {
            super::cluster::info_lines(c, &mut s);
        }
        let tracking = if !shared.cache.needs_tracking {
            "off"
        } else if shared.cache.tracking.current().is_some() {
            "up"
        } else {
            "down"
        };
        let _ = write!(s, "cache_tracking:{tracking}\r\n");
        for (name, value) in crate::stats::fields(&shared.counters) {
            let _ = write!(s, "{name}:{value}\r\n");
        }
        s
    }
}

/// Splits a bulk (`$`) or verbatim (`=`, without its `txt:`) reply into its kind
/// and text.
fn split_text_reply(frame: &[u8]) -> Option<(u8, &[u8])> {
    let kind = *frame.first()?;
    if kind != b'$' && kind != b'=' {
        return None;
    }
    let nl = memchr::memchr(b'\n', frame)?;
    let len = string2ll(frame.get(1..nl.checked_sub(1)?)?)?;
    let body = frame.get(nl + 1..nl + 1 + usize::try_from(len).ok()?)?;
    if kind == b'=' { Some((kind, body.get(4..)?)) } else { Some((kind, body)) }
}

/// Resident memory of this process, from /proc (0 where unavailable).
pub fn rss_bytes() -> u64 {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else { return 0 };
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096)
}
