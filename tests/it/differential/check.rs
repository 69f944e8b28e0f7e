//! How two replies are compared under a step's [`Check`]: byte for byte, or
//! after normalising what legitimately differs between two servers.

use super::corpus::Check;
use super::resp::{self, Value, show};

/// INFO fields whose values describe the build and configuration, identical for
/// two redis-servers started the same way. Every other value is a process's own
/// (pid, port, run id, clocks, memory, counters) and is masked.
const INFO_STABLE: &[&str] = &[
    "redis_version",
    "redis_git_sha1",
    "redis_git_dirty",
    "redis_build_id",
    "redis_mode",
    "os",
    "arch_bits",
    "monotonic_clock",
    "multiplexing_api",
    "atomicvar_api",
    "gcc_version",
    "process_supervised",
    "hz",
    "configured_hz",
    "executable",
    "config_file",
    "io_threads_active",
    "maxclients",
    "maxmemory",
    "maxmemory_human",
    "maxmemory_policy",
    "mem_allocator",
    "loading",
    "async_loading",
    "aof_enabled",
    "role",
    "connected_slaves",
    "cluster_enabled",
];

/// CLIENT INFO fields that describe the connection's state as the client set it,
/// and so must be the same; the others (id, addr, laddr, fd, age, idle, buffer
/// sizes and memory) belong to the server process.
const CLIENT_STABLE: &[&str] =
    &["name", "db", "sub", "psub", "ssub", "multi", "flags", "cmd", "user", "redir", "resp"];

/// Normalised INFO text: the `# Hotcache` and `# Upstream` sections
/// (hotcache's own additions, see README) are dropped; field names are kept; values are
/// kept only for [`INFO_STABLE`] and for the key counts in `# Keyspace`.
/// `# Errorstats`, `# Commandstats` and `# Latencystats` list only their
/// headers: their fields are one per error or command the server has seen, and
/// hotcache answers some commands and errors itself (PING, ECHO, CLIENT SETNAME,
/// arity, NOPROTO, ...) and sends its own (the upstream handshake), so the
/// upstream's counters legitimately differ from a server the client talks to.
fn normalise_info(text: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(text);
    let mut out = String::new();
    let mut section = String::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        if let Some(name) = line.strip_prefix("# ") {
            section = name.to_string();
            if section != "Hotcache" && section != "Upstream" {
                out.push_str(line);
                out.push('\n');
            }
            continue;
        }
        if matches!(
            section.as_str(),
            "Hotcache" | "Upstream" | "Errorstats" | "Commandstats" | "Latencystats"
        ) {
            continue;
        }
        let (key, value) = line.split_once(':').unwrap_or((line, ""));
        let value = if INFO_STABLE.contains(&key) {
            value.to_string()
        } else if section == "Keyspace" {
            // db0:keys=1,expires=0,avg_ttl=0: avg_ttl depends on the clock.
            value.split(',').filter(|kv| !kv.starts_with("avg_ttl=")).collect::<Vec<_>>().join(",")
        } else {
            "*".to_string()
        };
        out.push_str(&format!("{key}:{value}\n"));
    }
    out.into_bytes()
}

/// Normalised CLIENT INFO / CLIENT LIST text: each line's field names, and the
/// values of [`CLIENT_STABLE`] fields.
fn normalise_client_lines(text: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(text);
    let mut out = String::new();
    for line in text.split('\n').filter(|l| !l.is_empty()) {
        for field in line.split(' ') {
            let (k, v) = field.split_once('=').unwrap_or((field, ""));
            if CLIENT_STABLE.contains(&k) {
                out.push_str(&format!("{k}={v} "));
            } else {
                out.push_str(&format!("{k}=* "));
            }
        }
        out.push('\n');
    }
    out.into_bytes()
}

/// Replaces the text of a bulk or verbatim reply by `f(text)`, keeping its type.
fn map_text(v: Value, f: impl Fn(&[u8]) -> Vec<u8>) -> Value {
    match v {
        Value::Blob(b'$', t) => Value::Blob(b'$', f(&t)),
        Value::Blob(b'=', t) if t.len() >= 4 => {
            let mut body = t[..4].to_vec();
            body.extend(f(&t[4..]));
            Value::Blob(b'=', body)
        }
        other => other,
    }
}

/// HELLO's reply, checked for shape, with `id` masked and hotcache's one
/// field more (`proxy`, last) taken off: `server` and `version` are the
/// Redis's behind it.
fn normalise_hello(mut v: Value) -> Result<Value, String> {
    if matches!(v, Value::Line(b'-', _)) {
        return Ok(v);
    }
    let items = v.items_mut().ok_or("HELLO reply is not a map")?;
    if items.len() == 16 && items[14].text() == Some(&b"proxy"[..]) {
        items.truncate(14);
    }
    let items = v.items().ok_or("HELLO reply is not a map")?;
    let keys: Vec<&[u8]> = items.iter().step_by(2).filter_map(|k| k.text()).collect();
    let expected: [&[u8]; 7] =
        [b"server", b"version", b"proto", b"id", b"mode", b"role", b"modules"];
    if keys != expected || items.len() != 14 {
        return Err(format!("HELLO fields {keys:?}"));
    }
    if items[7].int().is_none() || items[5].int().is_none() {
        return Err("HELLO id or proto is not an integer".into());
    }
    resp::mask_fields(&mut v, &["id"]);
    // hotcache in front of a cluster is one server to its clients (they need
    // not be cluster-aware): it says `standalone` where a cluster node says
    // `cluster`.
    if let Some(items) = v.items_mut()
        && items[9].text() == Some(&b"cluster"[..])
    {
        items[9] = Value::Blob(b'$', b"standalone".to_vec());
    }
    Ok(v)
}

/// XPENDING's extended form: `[[id, consumer, idle-ms, deliveries], ...]`.
fn mask_xpending_idle(v: &mut Value) {
    if let Value::Agg(_, entries) = v {
        for e in entries {
            if let Value::Agg(_, fields) = e
                && fields.len() == 4
            {
                fields[2] = Value::Line(b'+', b"<idle>".to_vec());
            }
        }
    }
}

/// The form of a reply that must be equal on both sides under `check`.
fn normalise(check: Check, reply: &[u8]) -> Result<Vec<u8>, String> {
    let parsed = || resp::parse(reply);
    Ok(match check {
        Check::Exact | Check::Near(_) | Check::AnyInt | Check::Time => reply.to_vec(),
        Check::Unordered => {
            let mut v = parsed()?;
            resp::sort_items(&mut v);
            v.to_bytes()
        }
        Check::UnorderedPairs => {
            let mut v = parsed()?;
            resp::sort_pairs(&mut v);
            v.to_bytes()
        }
        Check::Mask(keys) => {
            let mut v = parsed()?;
            resp::mask_fields(&mut v, keys);
            v.to_bytes()
        }
        Check::SortFields(keys) => {
            let mut v = parsed()?;
            resp::sort_fields(&mut v, keys);
            v.to_bytes()
        }
        Check::CommandTable => {
            let mut v = parsed()?;
            resp::sort_command_table(&mut v);
            v.to_bytes()
        }
        Check::Timestamps => {
            let mut v = parsed()?;
            resp::mask_timestamps(&mut v);
            v.to_bytes()
        }
        Check::XpendingIdle => {
            let mut v = parsed()?;
            mask_xpending_idle(&mut v);
            v.to_bytes()
        }
        Check::Hello => normalise_hello(parsed()?)?.to_bytes(),
        Check::Info => map_text(parsed()?, normalise_info).to_bytes(),
        Check::ClientLines => map_text(parsed()?, normalise_client_lines).to_bytes(),
    })
}

/// Compares one reply from Redis (`a`) and one from hotcache (`h`).
pub fn compare(check: Check, a: &[u8], h: &[u8]) -> Result<(), String> {
    let int = |r: &[u8]| resp::parse(r).ok().and_then(|v| v.int());
    match check {
        Check::Near(tolerance) => {
            if let (Some(x), Some(y)) = (int(a), int(h))
                && (x - y).abs() <= tolerance
                && (x < 0) == (y < 0)
            {
                return Ok(());
            }
        }
        Check::AnyInt => {
            if int(a).is_some() && int(h).is_some() {
                return Ok(());
            }
            return Err("expected an integer from both".into());
        }
        Check::Time => {
            let secs = |r: &[u8]| -> Option<i64> {
                let v = resp::parse(r).ok()?;
                let items = v.items()?;
                if items.len() != 2 {
                    return None;
                }
                let us: i64 = std::str::from_utf8(items[1].text()?).ok()?.parse().ok()?;
                (0..1_000_000).contains(&us).then_some(())?;
                std::str::from_utf8(items[0].text()?).ok()?.parse().ok()
            };
            return match (secs(a), secs(h)) {
                (Some(x), Some(y)) if (x - y).abs() <= 5 => Ok(()),
                _ => Err("TIME replies differ in shape or by more than 5 s".into()),
            };
        }
        _ => {}
    }
    let na = normalise(check, a).map_err(|e| format!("redis reply: {e}"))?;
    let nh = normalise(check, h).map_err(|e| format!("hotcache reply: {e}"))?;
    if na == nh {
        Ok(())
    } else if na == a && nh == h {
        Err("replies differ".into())
    } else {
        Err(format!(
            "normalised replies differ:\n    redis    {}\n    hotcache {}",
            show(&na),
            show(&nh)
        ))
    }
}

/// Compares two HELLO replies under the HELLO check (for other test files).
pub fn compare_hello(redis: &[u8], hotcache: &[u8]) -> Result<(), String> {
    compare(Check::Hello, redis, hotcache)
}
