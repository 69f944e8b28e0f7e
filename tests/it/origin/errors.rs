//! The checks before a command runs (unknown command, unknown subcommand, arity),
//! and the introspection commands: COMMAND and INFO.

use super::{differential, show};

/// Every command the embedded origin implements, except INFO and COMMAND whose
/// successful replies describe the server and so differ by design.
const IMPLEMENTED: &[&str] = &[
    "append",
    "dbsize",
    "decr",
    "decrby",
    "del",
    "exists",
    "expire",
    "expireat",
    "expiretime",
    "flushall",
    "flushdb",
    "get",
    "getdel",
    "getex",
    "hdel",
    "hexists",
    "hget",
    "hgetall",
    "hincrby",
    "hkeys",
    "hlen",
    "hmget",
    "hmset",
    "hset",
    "hvals",
    "incr",
    "incrby",
    "incrbyfloat",
    "keys",
    "mget",
    "mset",
    "persist",
    "pexpire",
    "pexpireat",
    "pexpiretime",
    "pttl",
    "scan",
    "select",
    "set",
    "setnx",
    "strlen",
    "ttl",
    "type",
    "unlink",
];

/// Every command with 0 to 5 arguments, against a missing key, a string and a hash:
/// covers each arity error and each command's first checks.
#[test]
fn arity_sweep() {
    differential(&[], |d| {
        for setup in [None, Some(&["SET", "x", "1"][..]), Some(&["HSET", "x", "x", "1"])] {
            for name in IMPLEMENTED {
                for extra in 0..=5 {
                    d.ex(&["DEL", "x", "X"]);
                    if let Some(setup) = setup {
                        d.ex(setup);
                    }
                    let mut args = vec![name.to_string()];
                    args.extend(std::iter::repeat_n("x".to_string(), extra));
                    d.ex(&args);
                    let upper: Vec<String> = args.iter().map(|a| a.to_uppercase()).collect();
                    d.ex(&upper);
                }
            }
        }
        d.ex(&["INFO", "a", "b"]);
        d.ex(&["COMMAND", "COUNT", "x"]);
    });
}

/// Commands Redis does not know. The real server has the commands the origin does
/// not implement renamed away, so it answers them as unknown too.
#[test]
fn unknown_commands() {
    let renamed = ["lpush", "rpush", "multi", "exec", "config", "client", "eval", "sadd", "object"];
    let mut options = Vec::new();
    for name in renamed {
        options.push("--rename-command");
        options.push(name);
        options.push("");
    }
    differential(&options, |d| {
        let long_arg = "a".repeat(200);
        let long_name = "n".repeat(200);
        let many: Vec<String> = (0..100).map(|i| format!("arg{i}")).collect();
        let cases: Vec<Vec<String>> = vec![
            vec!["LPUSH".into(), "a".into(), "b".into()],
            vec!["lpush".into()],
            vec!["MULTI".into()],
            vec!["EXEC".into()],
            vec!["CONFIG".into(), "GET".into(), "maxmemory".into()],
            vec!["CONFIG".into()],
            vec!["CLIENT".into(), "LIST".into()],
            vec!["EVAL".into(), "return 1".into(), "0".into()],
            vec!["SADD".into(), "s".into(), "m".into()],
            vec!["OBJECT".into(), "ENCODING".into(), "k".into()],
            vec!["FOO".into()],
            vec!["foo".into(), "bar".into(), "baz".into()],
            vec!["".into()],
            vec!["".into(), "x".into()],
            // Not `GET\0`: Redis compares command names with strcasecmp,
            // which stops at the NUL, but hashes all 4 bytes with its random
            // seed, so about one start in 256 it finds GET (seen once).
            vec!["\0GET".into(), "k".into()],
            vec!["foo".into(), "a\0b".into(), "\0".into(), "c".into()],
            vec!["foo".into(), "a\r\nb".into(), "\r".into()],
            vec!["command|count".into()],
            vec!["get|x".into(), "k".into()],
            vec!["foo".into(), long_arg.clone()],
            vec!["foo".into(), "a".repeat(120), "bcdefghijk".into(), "z".into()],
            vec![long_name.clone(), "x".into()],
            [vec!["foo".to_string()], many.clone()].concat(),
            vec!["COMMAND".into(), "foo".into()],
            vec!["COMMAND".into(), "".into()],
            vec!["command".into(), "nosuch".into(), "x".into()],
            vec!["COMMAND".into(), long_arg],
        ];
        for c in &cases {
            d.ex(c);
        }
    });
}

/// COMMAND INFO of each implemented command is Redis's, byte for byte.
#[test]
fn command_introspection() {
    differential(&[], |d| {
        for name in IMPLEMENTED {
            d.ex(&["COMMAND", "INFO", name]);
        }
        d.ex(&["COMMAND", "INFO", "GET", "Set", "nosuch", "hset", "a|b|c", "get|x"]);
        d.ex(&["COMMAND", "INFO", "command|count", "COMMAND|INFO", "command|docs"]);
        d.ex(&["COMMAND", "INFO", "info"]);
        d.ex(&["COMMAND", "DOCS", "nosuch"]);

        // What cannot match Redis: the origin lists only its own commands.
        let (_, ours) = d.both(&["COMMAND", "COUNT"]);
        let count: usize = String::from_utf8_lossy(&ours[1..ours.len() - 2]).parse().unwrap_or(0);
        if count != IMPLEMENTED.len() + 2 {
            d.fail(format!("COMMAND COUNT {}", show(&ours, 50)));
        }
        let (_, ours) = d.both(&["COMMAND"]);
        if !ours.starts_with(format!("*{count}\r\n").as_bytes()) {
            d.fail(format!("COMMAND {}", show(&ours, 80)));
        }
        let (_, ours) = d.both(&["COMMAND", "DOCS"]);
        let empty_map: &[u8] =
            if d.proto() == hotcache::protocol::Proto::Resp3 { b"%0\r\n" } else { b"*0\r\n" };
        if ours != empty_map {
            d.fail(format!("COMMAND DOCS {}", show(&ours, 80)));
        }
    });
}

/// INFO: the origin's own server section, and a keyspace section that counts the
/// same keys as Redis's.
#[test]
fn info() {
    differential(&[], |d| {
        let keyspace = |reply: &[u8]| -> String {
            let text = String::from_utf8_lossy(reply);
            text.lines()
                .find(|l| l.starts_with("db0:"))
                .map(|l| l.split(",avg_ttl").next().unwrap_or("").to_string())
                .unwrap_or_default()
        };
        d.ex(&["INFO", "keyspace"]);
        d.ex(&["INFO", "nosuch"]);
        d.ex(&["SET", "a", "1"]);
        d.ex(&["SET", "b", "1", "EX", "100"]);
        d.ex(&["HSET", "h", "f", "v"]);
        d.ex(&["SET", "gone", "1", "PX", "1"]);
        std::thread::sleep(std::time::Duration::from_millis(5));
        d.ex(&["EXISTS", "gone"]);
        for args in [
            &["INFO"][..],
            &["INFO", "keyspace"],
            &["info", "KEYSPACE", "server"],
            &["INFO", "all"],
        ] {
            let (real, ours) = d.both(args);
            if keyspace(&real) != keyspace(&ours) || keyspace(&ours).is_empty() {
                d.fail(format!("{args:?}: {} vs {}", show(&real, 60), show(&ours, 300)));
            }
            let shape_ok = match d.proto() {
                hotcache::protocol::Proto::Resp3 => {
                    ours.starts_with(b"=")
                        && ours.get(..12).is_some_and(|h| h.windows(4).any(|w| w == b"txt:"))
                }
                hotcache::protocol::Proto::Resp2 => ours.starts_with(b"$"),
            };
            if !shape_ok {
                d.fail(format!("{args:?}: reply shape {}", show(&ours, 60)));
            }
        }
        let (_, ours) = d.both(&["INFO", "server"]);
        let text = String::from_utf8_lossy(&ours);
        if !text.contains("# Server\r\nredis_version:7.0.15\r\n") || !text.contains("embedded") {
            d.fail(format!("INFO server: {}", show(&ours, 300)));
        }
        if text.contains("# Keyspace") {
            d.fail("INFO server shows the keyspace".to_string());
        }
    });
}
