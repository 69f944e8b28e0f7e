//! The binary's flags and config file: the example loads, bad input is refused
//! with a clear message, flags win over the file.

use std::process::Command;

use crate::common::{Hotcache, OutputInTime, hotcache_bin};

fn hotcache(args: &[&str]) -> (bool, String) {
    let out = Command::new(hotcache_bin()).args(args).output_in_time().expect("run hotcache");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn example() -> String {
    format!("{}/config/hotcache.example.toml", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn example_config_is_valid() {
    let (ok, text) = hotcache(&["--config", &example(), "--check-config"]);
    assert!(ok, "{text}");
    assert!(text.contains("configuration OK"), "{text}");
}

#[test]
fn bad_keys_and_values_are_refused_at_start() {
    let (ok, text) = hotcache(&["--no-such-setting", "1", "--check-config"]);
    assert!(!ok && text.contains("unknown config key 'no-such-setting'"), "{text}");
    let (ok, text) = hotcache(&["--port", "seventy", "--check-config"]);
    assert!(!ok && text.contains("bad value for 'port'"), "{text}");
    let (ok, text) = hotcache(&["--upstream", "http://x", "--check-config"]);
    assert!(!ok && text.contains("redis://"), "{text}");
    let dir = std::env::temp_dir().join(format!("hotcache-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("bad.toml");
    std::fs::write(&file, "port = 1\nmaxclientz = 5\n").expect("write");
    let (ok, text) = hotcache(&["--config", file.to_str().expect("utf8"), "--check-config"]);
    assert!(!ok && text.contains("unknown config key 'maxclientz'"), "{text}");
    let (ok, text) = hotcache(&["--config", "/nonexistent.toml", "--check-config"]);
    assert!(!ok && text.contains("cannot read config file"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn flags_win_over_the_file() {
    let dir = std::env::temp_dir().join(format!("hotcache-cfg2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("c.toml");
    std::fs::write(&file, "requirepass = \"fromfile\"\nmaxclients = 7\n").expect("write");
    let hc =
        Hotcache::start(&["--config", file.to_str().expect("utf8"), "--requirepass", "fromflag"]);
    let mut c = hc.client();
    assert!(c.cmd_str(&["AUTH", "fromfile"]).starts_with("-WRONGPASS"));
    assert_eq!(c.cmd(&["AUTH", "fromflag"]), b"+OK\r\n");
    let info = c.cmd_str(&["INFO", "hotcache"]);
    assert!(info.contains("maxclients:7\r\n"), "{info}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_lists_every_setting() {
    let (ok, text) = hotcache(&["--help"]);
    assert!(ok);
    for p in hotcache::config::PARAMS {
        assert!(text.contains(&format!("--{}", p.name)), "{} missing from --help", p.name);
    }
}

/// README's settings table lists every setting (so it cannot fall behind).
#[test]
fn readme_lists_every_setting() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    for p in hotcache::config::PARAMS {
        assert!(readme.contains(&format!("| `{}` |", p.name)), "README does not list {}", p.name);
    }
}

/// The CPUs each of `pid`'s threads named `shard-*` may run on, by name.
fn shard_cpus(pid: u32) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("tasks") {
        let dir = task.expect("task").path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        let cpus = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .map(|l| l.trim().to_string())
            .unwrap_or_default();
        if name.starts_with("shard-") {
            out.push((name.trim().to_string(), cpus));
        }
    }
    out.sort();
    out
}

/// `shard_cpus` once `n` shard threads are up and `ok` holds (shard threads
/// name and pin themselves as they start, which may be after hotcache first
/// answers PING); what was last seen if that takes over 10 s.
fn settled(pid: u32, n: usize, ok: impl Fn(&str) -> bool) -> Vec<(String, String)> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let seen = shard_cpus(pid);
        if (seen.len() == n && seen.iter().all(|(_, c)| ok(c)))
            || std::time::Instant::now() > deadline
        {
            return seen;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// `cpu-affinity`: a list pins shard i to its i-th CPU (wrapping), `off` (the
/// default) leaves every CPU allowed, `auto` pins one shard per CPU and leaves fewer
/// shards alone; a list that is not one is refused at start.
#[test]
fn cpu_affinity_pins_shard_threads() {
    let allowed = std::fs::read_to_string("/proc/self/status")
        .expect("status")
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:").map(|l| l.trim().to_string()))
        .expect("Cpus_allowed_list");
    // The last CPU this process may use (the list ends "...,N" or "...-N").
    let last = allowed.rsplit([',', '-']).next().expect("a cpu").to_string();
    let hc = Hotcache::start(&["--threads", "3", "--cpu-affinity", &format!("{last},{last}")]);
    let pinned = settled(hc.child.id(), 3, |c| c == last);
    assert_eq!(pinned.len(), 3, "{pinned:?}");
    for (name, cpus) in &pinned {
        assert_eq!(cpus, &last, "{name} runs on {cpus}");
    }
    assert!(hc.client().cmd_str(&["CONFIG", "GET", "cpu-affinity"]).contains(&last));

    // off, the default.
    let free = Hotcache::start(&["--threads", "2"]);
    let free_cpus = settled(free.child.id(), 2, |_| true);
    assert_eq!(free_cpus.len(), 2, "{free_cpus:?}");
    for (name, cpus) in free_cpus {
        assert_eq!(cpus, allowed, "{name} is pinned with cpu-affinity off");
    }

    // auto with a shard per CPU: shard i on the i-th CPU.
    use hotcache::config::{CpuAffinity, Value};
    let Ok(CpuAffinity::List(cpus)) = CpuAffinity::parse(&allowed) else {
        panic!("Cpus_allowed_list {allowed} does not parse");
    };
    let n = cpus.len().to_string();
    let auto = Hotcache::start(&["--threads", &n, "--cpu-affinity", "auto"]);
    let mut pinned = settled(auto.child.id(), cpus.len(), |c| c != allowed || cpus.len() == 1);
    pinned.sort_by_key(|(name, _)| name[6..].parse::<usize>().unwrap_or(usize::MAX));
    let want: Vec<String> = cpus.iter().map(|c| c.to_string()).collect();
    let got: Vec<String> = pinned.into_iter().map(|(_, c)| c).collect();
    assert_eq!(got, want);
    if cpus.len() > 1 {
        // Fewer shards than CPUs: auto leaves them to the kernel.
        let one = Hotcache::start(&["--threads", "1", "--cpu-affinity", "auto"]);
        assert_eq!(
            settled(one.child.id(), 1, |_| true),
            vec![("shard-0".to_string(), allowed.clone())]
        );
    }

    let (ok, text) = hotcache(&["--cpu-affinity", "3-1", "--check-config"]);
    assert!(!ok && text.contains("cpu-affinity") && text.contains("CPU list"), "{text}");
}

/// A CONFIG SET of Redis's name for a setting hotcache applies itself (its
/// SLOWLOG, its served tracking) takes effect in hotcache and in Redis: a
/// client that sets the slowlog threshold and reads SLOWLOG sees it obeyed.
#[test]
fn config_set_of_a_setting_both_apply_reaches_both() {
    let redis = crate::common::RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &[]);
    let mut c = hc.client();
    let set =
        c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0", "tracking-table-max-keys", "7"]);
    assert_eq!(set, b"+OK\r\n");
    let get = |c: &mut crate::common::RawClient, name: &str| c.cmd_str(&["CONFIG", "GET", name]);
    assert!(get(&mut c, "hotcache.slowlog-log-slower-than").ends_with("$1\r\n0\r\n"));
    assert!(get(&mut c, "hotcache.tracking-table-max-keys").ends_with("$1\r\n7\r\n"));
    let mut r = redis.client();
    assert!(get(&mut r, "slowlog-log-slower-than").ends_with("$1\r\n0\r\n"));
    assert!(get(&mut r, "tracking-table-max-keys").ends_with("$1\r\n7\r\n"));
    assert_eq!(c.cmd(&["SET", "k", "v"]), b"+OK\r\n");
    let len = c.cmd_str(&["SLOWLOG", "LEN"]);
    assert_ne!(len, ":0\r\n", "hotcache's SLOWLOG logs every request at threshold 0");
    // A value hotcache refuses is left to Redis, which refuses it too.
    let bad = c.cmd_str(&["CONFIG", "SET", "slowlog-max-len", "-5"]);
    assert!(bad.starts_with("-ERR"), "{bad}");
}
