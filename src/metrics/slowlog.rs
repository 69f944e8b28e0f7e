//! SLOWLOG: the requests whose upstream round trip took longer than
//! `slowlog-log-slower-than` microseconds, newest first, at most
//! `slowlog-max-len` of them, in Redis's entry shape (id, unix time, duration in
//! µs, arguments, client address, client name), with Redis's truncation of
//! long argument lists and long arguments.
//!
//! Shared by every thread behind a mutex: it is touched only when a slow reply
//! arrives and by SLOWLOG itself, never on the ordinary request path.

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;

/// Arguments kept per entry (Redis's `SLOWLOG_ENTRY_MAX_ARGC`).
pub const MAX_ARGC: usize = 32;
/// Bytes kept per argument (Redis's `SLOWLOG_ENTRY_MAX_STRING`).
pub const MAX_STRING: usize = 128;

/// One logged request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub id: u64,
    /// Unix time in seconds when it was logged.
    pub time: i64,
    pub duration_us: u64,
    pub argv: Vec<Bytes>,
    /// `ip:port` of the client.
    pub addr: String,
    /// CLIENT SETNAME's name, empty if none.
    pub name: Bytes,
}

#[derive(Debug, Default)]
struct Inner {
    /// Newest first.
    entries: VecDeque<Entry>,
    next_id: u64,
}

/// The log.
#[derive(Debug, Default)]
pub struct SlowLog {
    inner: Mutex<Inner>,
}

/// Arguments Redis's SLOWLOG shows as `(redacted)`: passwords and the like.
const REDACTED: &[u8] = b"(redacted)";

/// Hides secrets as Redis does before logging (`redactClientCommandArgument`):
/// AUTH's arguments, HELLO's AUTH pair, MIGRATE's AUTH/AUTH2 credentials,
/// ACL SETUSER's rules, and CONFIG SET values of settings holding credentials.
pub fn redact(args: &[Bytes]) -> Vec<Bytes> {
    let mut out = args.to_vec();
    let is = |i: usize, w: &str| args.get(i).is_some_and(|a| a.eq_ignore_ascii_case(w.as_bytes()));
    let hide = |out: &mut Vec<Bytes>, from: usize, n: usize| {
        for a in out.iter_mut().skip(from).take(n) {
            *a = Bytes::from_static(REDACTED);
        }
    };
    if is(0, "auth") {
        hide(&mut out, 1, usize::MAX);
    } else if is(0, "hello") {
        // As HELLO reads its options: AUTH takes two, SETNAME one (a client
        // named "auth" must not hide the wrong words; one sent without a
        // protocol version is hidden too).
        let mut i = 1;
        while i < out.len() {
            if is(i, "auth") {
                hide(&mut out, i + 1, 2);
                i += 3;
            } else if is(i, "setname") {
                i += 2;
            } else {
                i += 1;
            }
        }
    } else if is(0, "migrate") {
        let mut i = 6;
        while i < out.len() {
            if is(i, "auth") {
                hide(&mut out, i + 1, 1);
                i += 2;
            } else if is(i, "auth2") {
                hide(&mut out, i + 1, 2);
                i += 3;
            } else if is(i, "keys") {
                break;
            } else {
                i += 1;
            }
        }
    } else if is(0, "acl") && is(1, "setuser") {
        hide(&mut out, 3, usize::MAX);
    } else if is(0, "config") && is(1, "set") {
        let mut i = 2;
        while i + 1 < out.len() {
            let name = String::from_utf8_lossy(&args[i]).to_ascii_lowercase();
            if matches!(name.as_str(), "masterauth" | "masteruser" | "requirepass")
                || name.contains("pass")
                || name.contains("auth")
            {
                hide(&mut out, i + 1, 1);
            }
            i += 2;
        }
    }
    out
}

/// Redis's truncation: at most 32 arguments, the last of which then says how
/// many more there were; arguments over 128 bytes cut, saying how many more.
/// `args` may be only the first arguments of `argc` (the rest are never shown).
pub fn truncate_argv(args: &[Bytes], argc: usize) -> Vec<Bytes> {
    let kept = argc.min(MAX_ARGC).min(args.len());
    let mut out = Vec::with_capacity(kept);
    for (j, a) in args.iter().take(kept).enumerate() {
        if kept != argc && j == kept - 1 {
            out.push(Bytes::from(format!("... ({} more arguments)", argc - kept + 1)));
        } else if a.len() > MAX_STRING {
            let mut s = a[..MAX_STRING].to_vec();
            s.extend_from_slice(format!("... ({} more bytes)", a.len() - MAX_STRING).as_bytes());
            out.push(Bytes::from(s));
        } else {
            // A copy: a slice would keep the whole request it came from (a
            // 100 MB SET) alive for as long as the entry lives.
            out.push(Bytes::copy_from_slice(a));
        }
    }
    out
}

impl SlowLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Each change is one push or clear: a panic elsewhere leaves it whole.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Logs a request; keeps at most `max_len` entries (0 keeps none).
    pub fn push(
        &self,
        max_len: usize,
        duration_us: u64,
        args: &[Bytes],
        addr: String,
        name: Bytes,
    ) {
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        // Only the arguments shown are looked at: a request of a million keys
        // costs the same to log as one of 32.
        let shown = &args[..args.len().min(MAX_ARGC)];
        let argv = truncate_argv(&redact(shown), args.len());
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        inner.entries.push_front(Entry { id, time, duration_us, argv, addr, name });
        inner.entries.truncate(max_len);
    }

    /// The newest `count` entries.
    pub fn get(&self, count: usize) -> Vec<Entry> {
        self.lock().entries.iter().take(count).cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Empties the log (ids keep counting, as in Redis).
    pub fn reset(&self) {
        self.lock().entries.clear();
    }

    /// Applies a smaller `slowlog-max-len` at once.
    pub fn trim(&self, max_len: usize) {
        self.lock().entries.truncate(max_len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(n: usize) -> Vec<Bytes> {
        (0..n).map(|i| Bytes::from(i.to_string())).collect()
    }

    #[test]
    fn truncates_like_redis() {
        let b =
            |v: &[&str]| v.iter().map(|a| Bytes::copy_from_slice(a.as_bytes())).collect::<Vec<_>>();
        assert_eq!(redact(&b(&["AUTH", "u", "pw"])), b(&["AUTH", "(redacted)", "(redacted)"]));
        assert_eq!(
            redact(&b(&["MIGRATE", "h", "1", "", "0", "5", "AUTH2", "u", "p", "KEYS", "k"])),
            b(&[
                "MIGRATE",
                "h",
                "1",
                "",
                "0",
                "5",
                "AUTH2",
                "(redacted)",
                "(redacted)",
                "KEYS",
                "k"
            ])
        );
        assert_eq!(
            redact(&b(&["CONFIG", "SET", "maxmemory", "1", "masterauth", "s3cret"])),
            b(&["CONFIG", "SET", "maxmemory", "1", "masterauth", "(redacted)"])
        );
        assert_eq!(
            redact(&b(&["ACL", "SETUSER", "bob", "on", ">pw"])),
            b(&["ACL", "SETUSER", "bob", "(redacted)", "(redacted)"])
        );
        assert_eq!(redact(&b(&["GET", "auth"])), b(&["GET", "auth"]));
        // HELLO's options as HELLO reads them: a client named "auth".
        assert_eq!(
            redact(&b(&["HELLO", "3", "SETNAME", "auth", "AUTH", "u", "pw"])),
            b(&["HELLO", "3", "SETNAME", "auth", "AUTH", "(redacted)", "(redacted)"])
        );
        assert_eq!(
            redact(&b(&["HELLO", "AUTH", "u", "pw"])),
            b(&["HELLO", "AUTH", "(redacted)", "(redacted)"])
        );
        let a = truncate_argv(&args(40), 40);
        assert_eq!(a.len(), 32);
        assert_eq!(a[30], Bytes::from("30"));
        assert_eq!(a[31], Bytes::from("... (9 more arguments)"));
        assert_eq!(truncate_argv(&args(32), 32), args(32));
        assert_eq!(truncate_argv(&args(32), 40), a, "only the shown ones given");
        let long = vec![Bytes::from("SET"), Bytes::from(vec![b'x'; 200])];
        let t = truncate_argv(&long, long.len());
        assert_eq!(t[1].len(), 128 + "... (72 more bytes)".len());
        assert!(t[1].ends_with(b"x... (72 more bytes)"));
    }

    #[test]
    fn newest_first_bounded_ids_keep_counting() {
        let log = SlowLog::default();
        for i in 0..5 {
            log.push(3, i, &args(1), "a:1".into(), Bytes::new());
        }
        let got = log.get(10);
        assert_eq!(got.iter().map(|e| e.id).collect::<Vec<_>>(), vec![4, 3, 2]);
        assert_eq!(log.get(1)[0].duration_us, 4);
        log.reset();
        assert!(log.is_empty());
        log.push(3, 9, &args(1), "a:1".into(), Bytes::new());
        assert_eq!(log.get(1)[0].id, 5);
    }
}
