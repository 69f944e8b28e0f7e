//! Running a corpus on the reference cluster client and on a plain connection
//! (hotcache or a standalone Redis), and comparing the replies step by step.

use std::io::Write;
use std::time::Duration;

use super::corpus::commands;
use crate::cluster_common::{ClusterClient, key_slot, keys_of, show_args};
use crate::common::{RawClient, encode};
use crate::differential::check::compare;
use crate::differential::corpus::{Check, Dumps, Step};
use crate::differential::resp::{Value, parse, show};

/// The replies of a run: per step, per reply.
pub type Replies = Vec<Vec<Vec<u8>>>;

/// The steps of a run in RESP `proto`: HELLO 3 first for RESP3.
pub fn with_hello(proto: u8, steps: Vec<Step>) -> Vec<Step> {
    let mut out = Vec::with_capacity(steps.len() + 1);
    if proto == 3 {
        out.push(Step {
            label: "HELLO 3".into(),
            bytes: encode(&["HELLO", "3"]),
            replies: 1,
            check: Check::Hello,
        });
    }
    out.extend(steps);
    out
}

/// Takes the DUMP payloads the corpus restores, through the reference client.
pub fn dumps(c: &mut ClusterClient) -> Dumps {
    let bulk = |r: Vec<u8>| match parse(&r) {
        Ok(Value::Blob(b'$', body)) => body,
        other => panic!("DUMP reply {other:?}"),
    };
    c.cmd(&["SET", "dump:src", "restored value"]);
    let string = bulk(c.cmd(&["DUMP", "dump:src"]));
    c.cmd(&["RPUSH", "dump:list", "x", "y", "z"]);
    let list = bulk(c.cmd(&["DUMP", "dump:list"]));
    c.cmd(&["DEL", "dump:src"]);
    c.cmd(&["DEL", "dump:list"]);
    Dumps { string, list }
}

fn name_of(cmd: &[Vec<u8>]) -> String {
    cmd.first().map(|n| String::from_utf8_lossy(n).to_ascii_lowercase()).unwrap_or_default()
}

/// The slot of the first key named between a MULTI and its EXEC or DISCARD:
/// where a cluster client opens that transaction. Slot 0 if none is named.
fn transaction_slot(rest: &[(usize, Vec<Vec<u8>>)]) -> u16 {
    for (_, cmd) in rest {
        if matches!(name_of(cmd).as_str(), "exec" | "discard") {
            break;
        }
        if let Some(k) = keys_of(cmd).first() {
            return key_slot(k);
        }
    }
    0
}

/// The commands of each step, each with the slot a keyless command must be
/// sent to: for MULTI, the slot of the keys its transaction names, found by
/// looking ahead (a cluster client opens a transaction on the node of its keys).
type Plan = Vec<Vec<(Vec<Vec<u8>>, u16)>>;

fn plan(steps: &[Step]) -> Plan {
    let flat: Vec<(usize, Vec<Vec<u8>>)> = steps
        .iter()
        .enumerate()
        .flat_map(|(i, s)| commands(&s.bytes).into_iter().map(move |c| (i, c)))
        .collect();
    let mut out: Plan = vec![Vec::new(); steps.len()];
    for (n, (i, cmd)) in flat.iter().enumerate() {
        let slot = if name_of(cmd) == "multi" { transaction_slot(&flat[n + 1..]) } else { 0 };
        out[*i].push((cmd.clone(), slot));
    }
    out
}

/// One side of a comparison: the reference cluster client, or one plain
/// connection (to hotcache or to a standalone Redis).
pub enum Side {
    Reference(ClusterClient),
    Plain(RawClient),
}

impl Side {
    pub fn plain(port: u16) -> Self {
        Side::Plain(RawClient::connect(port))
    }

    /// Runs step `i`. A leading `HELLO 3` step (when `hello`) switches every
    /// connection of the reference client.
    fn step(
        &mut self,
        i: usize,
        step: &Step,
        cmds: &[(Vec<Vec<u8>>, u16)],
        hello: bool,
    ) -> Result<Vec<Vec<u8>>, String> {
        match self {
            Side::Plain(c) => {
                c.send(&step.bytes);
                read_step(c, step)
            }
            Side::Reference(client) if hello && i == 0 => Ok(vec![client.hello(3)]),
            Side::Reference(client) => {
                let mut out = Vec::new();
                for (cmd, slot) in cmds {
                    client.set_keyless_slot(*slot);
                    let reply = client.try_cmd(cmd);
                    client.set_keyless_slot(0);
                    out.push(reply.map_err(|e| format!("{:?}: {e}", show_args(cmd)))?);
                }
                if out.len() != step.replies {
                    return Err(format!("{} replies for {} expected", out.len(), step.replies));
                }
                Ok(out)
            }
        }
    }
}

/// Runs `steps` on every side, one step at a time, each step on every side
/// before the next (so clocks move alike on all of them: TTLs, idle times).
/// A side that fails stops there; the others go on.
pub fn lockstep(sides: &mut [Side], steps: &[Step], hello: bool) -> Vec<Result<Replies, String>> {
    let plan = plan(steps);
    let mut out: Vec<Result<Replies, String>> = sides.iter().map(|_| Ok(Vec::new())).collect();
    for (i, step) in steps.iter().enumerate() {
        for (side, result) in sides.iter_mut().zip(out.iter_mut()) {
            let Ok(replies) = result else { continue };
            match side.step(i, step, &plan[i], hello) {
                Ok(r) => replies.push(r),
                Err(e) => *result = Err(format!("step {i} `{}`: {e}", step.label)),
            }
        }
    }
    for (side, result) in sides.iter_mut().zip(out.iter_mut()) {
        if let (Side::Plain(c), Ok(_)) = (side, &result)
            && let Err(e) = no_more_replies(c)
        {
            *result = Err(e);
        }
    }
    out
}

/// Runs `steps` on the reference client alone.
pub fn reference(client: ClusterClient, steps: &[Step], hello: bool) -> Result<Replies, String> {
    lockstep(&mut [Side::Reference(client)], steps, hello).pop().expect("one side")
}

/// Runs `steps` on one plain connection to `port`, one step at a time.
pub fn sequential(port: u16, steps: &[Step]) -> Result<Replies, String> {
    lockstep(&mut [Side::plain(port)], steps, false).pop().expect("one side")
}

fn read_step(c: &mut RawClient, step: &Step) -> Result<Vec<Vec<u8>>, String> {
    (0..step.replies).map(|_| c.try_read_reply().map_err(|e| e.to_string())).collect()
}

/// Checks that nothing beyond the expected replies arrives.
fn no_more_replies(c: &mut RawClient) -> Result<(), String> {
    c.set_timeout(Duration::from_millis(300));
    let extra = c.try_read_reply();
    c.set_timeout(Duration::from_secs(10));
    match extra {
        Ok(frame) => Err(format!("a reply after the last expected one: {}", show(&frame))),
        Err(_) if c.leftover().is_empty() => Ok(()),
        Err(_) => Err(format!("bytes after the last reply: {}", show(c.leftover()))),
    }
}

/// Runs `steps` on one connection to `port`, all of them in one write.
pub fn pipelined(port: u16, steps: &[Step]) -> Result<Replies, String> {
    let mut c = RawClient::try_connect(port).map_err(|e| format!("connect {port}: {e}"))?;
    c.set_timeout(Duration::from_secs(30));
    let all: Vec<u8> = steps.iter().flat_map(|s| s.bytes.iter().copied()).collect();
    let mut writer = c.stream.try_clone().map_err(|e| e.to_string())?;
    // The corpus is a few MB: write from another thread while replies are read.
    let w = std::thread::spawn(move || writer.write_all(&all));
    let mut out = Vec::with_capacity(steps.len());
    for (i, step) in steps.iter().enumerate() {
        out.push(read_step(&mut c, step).map_err(|e| format!("step {i} `{}`: {e}", step.label))?);
    }
    w.join().map_err(|_| "writer panicked".to_string())?.map_err(|e| e.to_string())?;
    no_more_replies(&mut c)?;
    Ok(out)
}

/// Compares two runs of `steps` under each step's check; `names` says which
/// side is which in the messages.
pub fn compare_runs(
    what: &str,
    names: (&str, &str),
    steps: &[Step],
    a: &Result<Replies, String>,
    b: &Result<Replies, String>,
) -> Vec<String> {
    let (a, b) = match (a, b) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => {
            return vec![format!(
                "[{what}] a run failed: {} {:?}, {} {:?}",
                names.0,
                a.as_ref().err(),
                names.1,
                b.as_ref().err()
            )];
        }
    };
    let mut failures = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        for (x, y) in a[i].iter().zip(&b[i]) {
            if let Err(why) = compare(step.check, x, y) {
                failures.push(format!(
                    "[{what}] step {i} `{}`: {why}\n    {:<9}{}\n    {:<9}{}",
                    step.label,
                    names.0,
                    show(x),
                    names.1,
                    show(y)
                ));
            }
        }
    }
    failures
}

pub fn report(failures: &[String]) {
    assert!(failures.is_empty(), "{} difference(s):\n{}", failures.len(), failures.join("\n"));
}
