//! CONFIG GET and CONFIG SET: Redis's settings stay Redis's; hotcache's run-time
//! settings (the cache's, the limits) are read and changed here.
//!
//! A name Redis does not have (`cache-ttl`, `hotkey-threshold`) is hotcache's;
//! a name both have (`maxclients`, `timeout`) is Redis's, and hotcache's is
//! `hotcache.<name>`. CONFIG GET with a pattern returns Redis's matches followed
//! by hotcache's.

use bytes::{Bytes, BytesMut};

use super::conn::{Conn, Effect};
use crate::config::{ConfigError, PARAMS, SHARED_WITH_REDIS, is_hotcache_name};
use crate::origin::glob;
use crate::protocol::{ReplyBuf, Request};
use crate::upstream::After;

/// Whether a CONFIG GET pattern can only name hotcache settings.
fn only_ours(pattern: &[u8]) -> bool {
    let p = String::from_utf8_lossy(pattern);
    p.to_ascii_lowercase().starts_with("hotcache.")
        || (!p.contains(['*', '?', '[', '\\']) && is_hotcache_name(&p).is_some())
}

/// hotcache's settings matching any of the patterns, as (name, value).
fn matching(patterns: &[Bytes], config: &crate::config::Config) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in PARAMS {
        let plain = p.name;
        let prefixed = format!("hotcache.{plain}");
        let shared = SHARED_WITH_REDIS.contains(&plain);
        let hit = |name: &str| {
            patterns.iter().any(|pat| glob::matches(&pat.to_ascii_lowercase(), name.as_bytes()))
        };
        let name = if !shared && hit(plain) {
            plain.to_string()
        } else if hit(&prefixed) {
            prefixed
        } else {
            continue;
        };
        out.push((name, crate::config::shown(p.name, &(p.get)(config))));
    }
    out
}

impl Conn {
    pub(super) fn config_get(&mut self, req: Request) -> bool {
        let patterns = &req.args[2..];
        let ours = matching(patterns, &self.config);
        let local_only = self.ctx.upstream.is_embedded() || patterns.iter().all(|p| only_ours(p));
        if local_only {
            return self.reply_with(|o| {
                o.map(ours.len());
                for (k, v) in &ours {
                    o.bulk(k.as_bytes()).bulk(v.as_bytes());
                }
            });
        }
        self.config_appends.push_back(ours);
        self.forward(req, Effect::AppendConfig, After::Nothing)
    }

    /// Adds hotcache's settings to Redis's CONFIG GET map.
    pub(super) fn append_config(&mut self, frame: Bytes) -> Bytes {
        let ours = self.config_appends.pop_front().unwrap_or_default();
        let Some(&kind) = frame.first() else { return frame };
        if ours.is_empty() || !(kind == b'*' || kind == b'%') {
            return frame;
        }
        let Some(nl) = memchr::memchr(b'\n', &frame) else { return frame };
        let Some(n) = crate::protocol::string2ll(&frame[1..nl - 1]) else { return frame };
        let added = if kind == b'%' { ours.len() as i64 } else { 2 * ours.len() as i64 };
        let mut tail = ReplyBuf::new(self.proto);
        for (k, v) in &ours {
            tail.bulk(k.as_bytes()).bulk(v.as_bytes());
        }
        let mut out = BytesMut::with_capacity(frame.len() + tail.buf.len() + 8);
        out.extend_from_slice(&[kind]);
        out.extend_from_slice((n + added).to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&frame[nl + 1..]);
        out.extend_from_slice(&tail.buf);
        out.freeze()
    }

    pub(super) fn config_set(&mut self, req: Request) -> bool {
        let pairs = &req.args[2..];
        if !pairs.len().is_multiple_of(2) {
            return self.reply_error(b"ERR wrong number of arguments for 'config|set' command");
        }
        let names: Vec<String> =
            pairs.chunks(2).map(|p| String::from_utf8_lossy(&p[0]).into_owned()).collect();
        let ours = names.iter().filter(|n| is_hotcache_name(n).is_some()).count();
        if ours == 0 {
            self.apply_shared(pairs);
            return self.forward(req, Effect::None, After::Nothing);
        }
        if ours != names.len() {
            return self.reply_error(
                b"ERR CONFIG SET of hotcache and Redis settings in one command is not supported",
            );
        }
        let shared = &self.ctx.shared;
        let result = shared.config.update(|config| {
            let redis_users = config.clients_are_redis_users();
            let mut seen = Vec::new();
            for (pair, name) in pairs.chunks(2).zip(&names) {
                let Some(p) = is_hotcache_name(name) else { continue };
                // As Redis: the name as given for what is wrong with the
                // command, the setting's own name for what is wrong with a value.
                if seen.contains(&p.name) {
                    return Err(fail_text(name, "duplicate parameter"));
                }
                seen.push(p.name);
                if !p.runtime {
                    return Err(fail_text(name, "can't set immutable config"));
                }
                let value = String::from_utf8_lossy(&pair[1]);
                (p.set)(config, &value).map_err(|e| fail_text(&p.config_name(), &e))?;
            }
            // Combinations (negative-ttl below cache-ttl ...): a value fine on
            // its own may not be with the others.
            config.validate().map_err(|e| match e {
                ConfigError::BadValue { key, reason } => {
                    let arg = crate::config::param(&key).map(|p| p.config_name()).unwrap_or(key);
                    fail_text(&arg, &reason)
                }
                other => format!("CONFIG SET failed - {other}"),
            })?;
            // Who a client is (a Redis user, or hotcache's one password) is
            // decided when it connects, and the ACL watch runs only for Redis
            // users: a switch at run time would leave clients logged in as
            // Redis users unchecked, or unwatched.
            if config.clients_are_redis_users() != redis_users {
                return Err(fail_text(
                    "hotcache.requirepass",
                    "setting it or clearing it switches between hotcache's own password and Redis's users, which needs a restart",
                ));
            }
            reload_tls(shared, config, &names)
        });
        match result {
            Ok(()) => {
                self.ctx.shared.config_changed();
                self.reply_raw(Bytes::from_static(b"+OK\r\n"))
            }
            Err(e) => self.reply_error(format!("ERR {e}").as_bytes()),
        }
    }
}

/// Settings Redis has that hotcache applies too, to what it serves itself:
/// a CONFIG SET of Redis's name takes effect in hotcache as well as in Redis
/// (a client that lowers `slowlog-log-slower-than` and reads SLOWLOG, which is
/// hotcache's, sees its setting obeyed).
const APPLIED_BY_BOTH: &[&str] =
    &["tracking-table-max-keys", "slowlog-log-slower-than", "slowlog-max-len", "latency-tracking"];

impl Conn {
    /// Applies the values of `APPLIED_BY_BOTH` settings in a CONFIG SET bound
    /// for Redis to hotcache's configuration (a value hotcache refuses is left
    /// to Redis to refuse, with its error).
    fn apply_shared(&mut self, pairs: &[Bytes]) {
        let mine: Vec<(&'static crate::config::Param, String)> = pairs
            .chunks(2)
            .filter_map(|p| {
                let name = String::from_utf8_lossy(&p[0]).to_ascii_lowercase();
                let value = String::from_utf8_lossy(p.get(1)?).into_owned();
                APPLIED_BY_BOTH.contains(&name.as_str()).then_some(())?;
                Some((crate::config::param(&name)?, value))
            })
            .collect();
        if mine.is_empty() {
            return;
        }
        // All or nothing (`update` changes a copy).
        let result = self.ctx.shared.config.update(|config| {
            for (p, value) in &mine {
                (p.set)(config, value)?;
            }
            Ok(())
        });
        if result.is_ok() {
            self.ctx.shared.config_changed();
        }
    }
}

/// After a CONFIG SET naming `tls-*` settings (`names`): loads the TLS files
/// again for clients accepted from now on. Runs under the configuration's lock, last,
/// so that the settings and what was loaded from them change together or not
/// at all; open connections keep the configuration they started with. Redis's
/// error when the files do not load, the reason in the log (as Redis).
fn reload_tls(
    shared: &super::Shared,
    config: &crate::config::Config,
    names: &[String],
) -> Result<(), String> {
    // As Redis: the file settings are "volatile", so a CONFIG SET of one reloads
    // even with the same path (a certificate renewed in place).
    let named =
        names.iter().filter_map(|n| is_hotcache_name(n)).find(|p| p.name.starts_with("tls-"));
    let Some(named) = named else { return Ok(()) };
    if config.tls_port == 0 {
        return Ok(());
    }
    match crate::tls::server_config(config) {
        Ok(loaded) => {
            *shared.tls_server.lock().unwrap_or_else(|e| e.into_inner()) = Some(loaded);
            tracing::info!("TLS configuration reloaded");
            Ok(())
        }
        Err(e) => {
            tracing::warn!(error = %e, "CONFIG SET: TLS configuration not reloaded");
            Err(fail_text(
                &named.config_name(),
                "Unable to update TLS configuration. Check server logs.",
            ))
        }
    }
}

/// Redis's CONFIG SET error for a value.
fn fail_text(arg: &str, why: &str) -> String {
    format!("CONFIG SET failed (possibly related to argument '{arg}') - {why}")
}

impl Conn {
    /// CONFIG REWRITE: hotcache's settings into the file it was started with
    /// (`--config`). Redis's own file is Redis's business: this is not
    /// forwarded. The file is small and the command rare, so it is written
    /// here, on the shard thread.
    pub(super) fn config_rewrite(&mut self) -> bool {
        let Some(path) = self.ctx.shared.config_file.clone() else {
            return self.reply_error(b"ERR The server is running without a config file");
        };
        let config = self.ctx.shared.config.load();
        match crate::config::rewrite_file(&path, &config) {
            Ok(()) => {
                tracing::info!(file = %path.display(), "CONFIG REWRITE executed with success");
                self.reply_raw(Bytes::from_static(b"+OK\r\n"))
            }
            Err(e) => {
                crate::log_limited!(warn, file = %path.display(), error = %e, "CONFIG REWRITE failed");
                self.reply_error(format!("ERR Rewriting config file: {e}").as_bytes())
            }
        }
    }
}
