//! Key extraction from Redis 7 key specs, as Redis's `getKeysUsingKeySpecs` does it.

use bytes::Bytes;

use super::{Begin, CommandDef, Find, key_flags as KS};

/// One key of a command: its argument index and its key spec flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRef {
    pub index: usize,
    pub flags: u16,
}

/// The keys a command names.
#[derive(Debug, Default)]
pub struct CommandKeys {
    pub keys: Vec<KeyRef>,
    /// False when some key spec could not be resolved from the arguments alone
    /// (an `unknown` or `incomplete` spec, such as SORT ... STORE): callers that
    /// need every key must then assume any key.
    pub complete: bool,
}

/// Finds the keys of `def` in `args` (command name at index 0).
///
/// Follows Redis's rules, including its quirks (a keyword search does not look at
/// the last argument), so the keys found are the ones Redis would use.
pub fn command_keys(def: &CommandDef, args: &[Bytes]) -> CommandKeys {
    let argc = args.len() as i64;
    let mut out = CommandKeys { keys: Vec::new(), complete: true };
    for spec in def.key_specs {
        if spec.flags & KS::INCOMPLETE != 0 {
            out.complete = false;
        }
        let first = match spec.begin {
            Begin::Index(i) => i64::from(i),
            Begin::Keyword(word, startfrom) => {
                let startfrom = i64::from(startfrom);
                let (start, end) =
                    if startfrom > 0 { (startfrom, argc - 1) } else { (argc + startfrom, 0) };
                let mut found = 0;
                let mut i = start;
                while i != end {
                    if i >= argc || i < 1 {
                        break;
                    }
                    if args[i as usize].eq_ignore_ascii_case(word.as_bytes()) {
                        found = i + 1;
                        break;
                    }
                    i = if start <= end { i + 1 } else { i - 1 };
                }
                if found == 0 {
                    continue;
                }
                found
            }
            Begin::Unknown => {
                out.complete = false;
                continue;
            }
        };
        let (first, last, step) = match spec.find {
            Find::Range { lastkey, step, limit } => {
                let lastkey = i64::from(lastkey);
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / i64::from(limit) + lastkey)
                };
                (first, last, i64::from(step))
            }
            Find::KeyNum { keynumidx, firstkey, step } => {
                let keynumidx = i64::from(keynumidx);
                if keynumidx >= argc - first {
                    continue;
                }
                let Some(numkeys) = crate::protocol::string2ll(&args[(first + keynumidx) as usize])
                else {
                    continue;
                };
                if numkeys < 0 {
                    continue;
                }
                let first = first + i64::from(firstkey);
                // A count near i64::MAX would overflow: no such keys are there.
                let Some(last) = first.checked_add(numkeys - 1) else { continue };
                (first, last, i64::from(step))
            }
            Find::Unknown => {
                out.complete = false;
                continue;
            }
        };
        if last >= argc || last < first || first >= argc || step <= 0 {
            continue;
        }
        let mut i = first;
        while i <= last {
            out.keys.push(KeyRef { index: i as usize, flags: spec.flags });
            i += step;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::{Lookup, lookup};

    fn keys(cmd: &[&str]) -> (Vec<String>, bool) {
        let args: Vec<Bytes> = cmd.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect();
        let Lookup::Found(c) = lookup(&args) else { panic!("no such command {cmd:?}") };
        let k = command_keys(c.def, &args);
        (k.keys.iter().map(|k| cmd[k.index].to_string()).collect(), k.complete)
    }

    #[test]
    fn common_shapes() {
        assert_eq!(keys(&["GET", "a"]).0, vec!["a"]);
        assert_eq!(keys(&["MSET", "a", "1", "b", "2"]).0, vec!["a", "b"]);
        assert_eq!(keys(&["DEL", "a", "b", "c"]).0, vec!["a", "b", "c"]);
        assert_eq!(keys(&["EVAL", "s", "2", "k1", "k2", "x"]).0, vec!["k1", "k2"]);
        assert_eq!(keys(&["EVAL", "s", "0"]).0, Vec::<String>::new());
        assert_eq!(
            keys(&["XREAD", "COUNT", "1", "STREAMS", "s1", "s2", "0", "0"]).0,
            vec!["s1", "s2"]
        );
        assert_eq!(keys(&["ZUNIONSTORE", "d", "2", "a", "b"]).0, vec!["d", "a", "b"]);
        assert_eq!(keys(&["BLPOP", "a", "b", "0"]).0, vec!["a", "b"]);
        assert_eq!(keys(&["client", "list"]).0, Vec::<String>::new());
        assert!(!keys(&["SORT", "a", "STORE", "b"]).1);
    }

    /// A key count near i64::MAX overflowed `first + numkeys - 1` (a panic with
    /// overflow checks; the command_layer fuzz target reproduces it with
    /// fuzz/regressions/command_layer/eval-numkeys-near-i64-max). Such a count
    /// names no keys; Redis finds none either (COMMAND GETKEYS EVAL s
    /// 9223372036854775807 is empty).
    #[test]
    fn huge_key_count_names_no_keys() {
        for n in ["9223372036854775807", "9223372036854775806", "9223372036854775805"] {
            assert_eq!(keys(&["EVAL", "s", n]).0, Vec::<String>::new());
            assert_eq!(keys(&["EVAL", "s", n, "k"]).0, Vec::<String>::new());
            assert_eq!(keys(&["FCALL", "f", n, "k"]).0, Vec::<String>::new());
            // The destination is its own key spec and is still found.
            assert_eq!(keys(&["ZUNIONSTORE", "d", n, "a"]).0, vec!["d"]);
        }
    }
}
