//! INFO: the upstream's sections, then hotcache's own: `# Hotcache` (its
//! server, clients, memory and stats), `# Upstream` (per node: round trips,
//! errors, breaker), and hotcache's `# Commandstats` and `# Latencystats`,
//! which describe what hotcache's clients saw (cache hits included) and replace
//! Redis's sections of those names.

use std::fmt::Write as _;

use bytes::{Bytes, BytesMut};

use super::conn::{Conn, Effect};
use super::local::text_reply;
use crate::protocol::{Request, string2ll};

/// Which of hotcache's sections an INFO reply carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InfoParts(u8);

impl InfoParts {
    const HOTCACHE: u8 = 1;
    const UPSTREAM: u8 = 2;
    const COMMANDSTATS: u8 = 4;
    const LATENCYSTATS: u8 = 8;

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

/// The sections hotcache answers itself, by name.
const OWN: &[(&[u8], u8)] = &[
    (b"hotcache", InfoParts::HOTCACHE),
    (b"upstream", InfoParts::UPSTREAM),
    (b"commandstats", InfoParts::COMMANDSTATS),
    (b"latencystats", InfoParts::LATENCYSTATS),
];

/// hotcache's sections that INFO's arguments ask for (Redis's keywords:
/// none or `default` mean the default sections, `all` and `everything` all).
fn wanted(sections: &[Bytes]) -> InfoParts {
    let default = InfoParts::HOTCACHE | InfoParts::UPSTREAM;
    if sections.is_empty() {
        return InfoParts(default);
    }
    let mut bits = 0;
    for s in sections {
        if s.eq_ignore_ascii_case(b"default") {
            bits |= default;
        } else if s.eq_ignore_ascii_case(b"all") || s.eq_ignore_ascii_case(b"everything") {
            bits |= default | InfoParts::COMMANDSTATS | InfoParts::LATENCYSTATS;
        } else if let Some((_, b)) = OWN.iter().find(|(n, _)| s.eq_ignore_ascii_case(n)) {
            bits |= b;
        }
    }
    InfoParts(bits)
}

/// Puts hotcache's Commandstats and Latencystats (given with their headers,
/// each ending in a line break) in the place of the upstream's sections of
/// those names, keeping Redis's order; one the upstream did not send is
/// returned for appending.
fn replace_sections(text: &[u8], own: &mut Vec<(&'static str, String)>) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut skipping = false;
    for line in text.split_inclusive(|&b| b == b'\n') {
        if let Some(name) = line.strip_prefix(b"# ") {
            let name = name.trim_ascii_end();
            skipping = false;
            if let Some(i) = own.iter().position(|(n, _)| name.eq_ignore_ascii_case(n.as_bytes())) {
                let (_, section) = own.remove(i);
                out.extend_from_slice(section.as_bytes());
                skipping = true;
            }
        }
        if skipping {
            // The upstream's own lines of a replaced section; the blank line
            // that ends it is kept.
            if line == b"\r\n" {
                out.extend_from_slice(line);
                skipping = false;
            }
            continue;
        }
        out.extend_from_slice(line);
    }
    out
}

impl Conn {
    /// INFO [section ...]: forwarded without hotcache's section names, answered
    /// with hotcache's sections appended when asked for.
    pub(super) fn info_command(&mut self, req: Request) -> bool {
        let sections = &req.args[1..];
        let parts = wanted(sections);
        let rest: Vec<Bytes> = sections
            .iter()
            .filter(|s| !OWN.iter().any(|(n, _)| s.eq_ignore_ascii_case(n)))
            .cloned()
            .collect();
        if !sections.is_empty() && rest.is_empty() {
            let text = Self::join_sections(&self.own_sections(parts));
            return self.reply_raw(text_reply(self.proto, &text));
        }
        let forwarded = if rest.len() == sections.len() {
            req
        } else {
            let mut args = vec![req.args[0].clone()];
            args.extend(rest);
            Request::from_args(args)
        };
        // Even with no section of hotcache's asked for, the reply passes
        // through `append_info`: the tracking lines are hotcache's.
        self.forward(forwarded, Effect::AppendInfo(parts), crate::upstream::After::Nothing)
    }

    /// hotcache's sections: (name, text with its header), in INFO's order
    /// for hotcache's own (Hotcache, Upstream, Commandstats, Latencystats).
    fn own_sections(&self, parts: InfoParts) -> Vec<(&'static str, String)> {
        let metrics = &self.ctx.shared.metrics;
        let mut out = Vec::new();
        if parts.has(InfoParts::HOTCACHE) {
            out.push(("Hotcache", self.hotcache_section()));
        }
        if parts.has(InfoParts::UPSTREAM) {
            out.push(("Upstream", crate::metrics::upstream_section(metrics)));
        }
        if parts.has(InfoParts::COMMANDSTATS) {
            out.push(("Commandstats", crate::metrics::commandstats_section(metrics)));
        }
        if parts.has(InfoParts::LATENCYSTATS) {
            let p = &self.config.latency_tracking_info_percentiles.0;
            out.push(("Latencystats", crate::metrics::latencystats_section(metrics, p)));
        }
        out
    }

    /// Sections joined as Redis joins them: a blank line between two.
    fn join_sections(sections: &[(&'static str, String)]) -> String {
        sections.iter().map(|(_, s)| s.as_str()).collect::<Vec<_>>().join("\r\n")
    }

    /// Adds hotcache's sections to an INFO reply from the upstream (bulk in
    /// RESP2, verbatim `txt` in RESP3): Commandstats and Latencystats in the
    /// place of the upstream's, the others at the end. Anything else (an
    /// error) passes unchanged.
    pub(super) fn append_info(&self, frame: Bytes, parts: InfoParts) -> Bytes {
        let Some((kind, body)) = split_text_reply(&frame) else { return frame };
        let mut own = self.own_sections(parts);
        let body = replace_sections(body, &mut own);
        let body =
            if self.ctx.shared.tracks_everything() { self.own_tracking_lines(&body) } else { body };
        let text = Self::join_sections(&own);
        let mut joined = BytesMut::with_capacity(body.len() + text.len() + 8);
        joined.extend_from_slice(&body);
        if !body.is_empty() && !text.is_empty() {
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

    /// Redis's `tracking_*` lines (Stats) speak of hotcache's own tracking
    /// connections; clients' tracking is hotcache's (see `tracking`): its
    /// figures, over all threads, take their place.
    fn own_tracking_lines(&self, body: &[u8]) -> Vec<u8> {
        use std::sync::atomic::Ordering::Relaxed;
        let t = &self.ctx.shared.tracking_totals;
        let ours = [
            ("tracking_clients:", t.clients.load(Relaxed)),
            ("tracking_total_keys:", t.keys.load(Relaxed)),
            ("tracking_total_items:", t.items.load(Relaxed)),
            ("tracking_total_prefixes:", t.prefixes.load(Relaxed)),
        ];
        let mut out = Vec::with_capacity(body.len());
        for line in body.split_inclusive(|&b| b == b'\n') {
            match ours.iter().find(|(name, _)| line.starts_with(name.as_bytes())) {
                Some((name, n)) => out.extend_from_slice(format!("{name}{n}\r\n").as_bytes()),
                None => out.extend_from_slice(line),
            }
        }
        out
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
        let _ = write!(s, "used_memory_rss:{}\r\n", crate::stats::rss_bytes());
        if let Some(a) = shared.metrics_addr {
            let _ = write!(s, "metrics_port:{}\r\n", a.port());
        }
        let _ = write!(s, "slowlog_len:{}\r\n", shared.metrics.slowlog.len());
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
        if let Some(sentinel) = &shared.sentinel {
            sentinel.info_lines(&mut s);
        }
        let tracking =
            if !shared.cache.needs_tracking || config.cache_mode == crate::config::CacheMode::Off {
                "off"
            } else if shared.cache.tracking.current().is_some() {
                "up"
            } else {
                "down"
            };
        let _ = write!(s, "cache_tracking:{tracking}\r\n");
        // Clients' own tracking (its counts are in Stats, as Redis's).
        let t = &shared.tracking_totals;
        let _ = write!(
            s,
            "client_tracking_memory:{}\r\n",
            t.memory.load(std::sync::atomic::Ordering::Relaxed)
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_wanted() {
        let b = |v: &[&str]| v.iter().map(|s| Bytes::from(s.to_string())).collect::<Vec<_>>();
        assert_eq!(wanted(&[]), InfoParts(3));
        assert_eq!(wanted(&b(&["server"])), InfoParts(0));
        assert_eq!(wanted(&b(&["ALL"])), InfoParts(15));
        assert_eq!(wanted(&b(&["server", "LatencyStats"])), InfoParts(8));
        assert_eq!(wanted(&b(&["upstream", "default"])), InfoParts(3));
    }

    #[test]
    fn sections_are_replaced_in_place() {
        let text = b"# Server\r\na:1\r\n\r\n# Commandstats\r\ncmdstat_get:x\r\n\r\n# Keyspace\r\ndb0:k\r\n\r\n# Latencystats\r\nl:1\r\n";
        let mut own = vec![
            ("Hotcache", "# Hotcache\r\nh:1\r\n".to_string()),
            ("Commandstats", "# Commandstats\r\nmine:1\r\n".to_string()),
            ("Latencystats", "# Latencystats\r\nmine:2\r\n".to_string()),
        ];
        let out = replace_sections(text, &mut own);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "# Server\r\na:1\r\n\r\n# Commandstats\r\nmine:1\r\n\r\n# Keyspace\r\ndb0:k\r\n\r\n# Latencystats\r\nmine:2\r\n"
        );
        assert_eq!(own.len(), 1, "Hotcache is left to append");
    }
}
