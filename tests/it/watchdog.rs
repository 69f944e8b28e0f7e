//! A stuck test ends the run with its name, instead of holding CI until its
//! time runs out with nothing to say which test it was.
//!
//! libtest runs each test on a thread named after it. Every test that takes a
//! port ([`crate::common::free_port`]) registers that name with its start
//! time; the registration goes when the thread ends (passed or panicked). A
//! thread checks the list: a test still running after ten minutes is
//! named on stderr with every test still running, and the process exits with
//! a failure. The slowest test takes about two minutes on a loaded 2-core box.
//! libtest prints failures only when the run ends, so the watchdog keeps the
//! panic messages of failed tests and prints them too.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

/// Far above any test's time: reaching it means a wait with no end.
/// `HOTCACHE_TEST_STUCK_AFTER` (seconds) sets another, to try the watchdog.
fn stuck_after() -> Duration {
    let secs = std::env::var("HOTCACHE_TEST_STUCK_AFTER").ok().and_then(|s| s.parse().ok());
    Duration::from_secs(secs.unwrap_or(600))
}
const CHECK_EVERY: Duration = Duration::from_secs(5);

static RUNNING: Mutex<BTreeMap<String, Instant>> = Mutex::new(BTreeMap::new());
static START: Once = Once::new();
/// "test: panic message" of each failed test, the first few, cut short.
static PANICKED: Mutex<Vec<String>> = Mutex::new(Vec::new());
const PANICS_KEPT: usize = 20;
const PANIC_TEXT_KEPT: usize = 4000;

/// Removes the test from [`RUNNING`] when its thread ends.
struct Registered(String);

impl Drop for Registered {
    fn drop(&mut self) {
        RUNNING.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.0);
    }
}

thread_local! {
    static THIS_TEST: RefCell<Option<Registered>> = const { RefCell::new(None) };
}

/// Registers the calling test (once per test thread) and starts the checker.
pub fn watch() {
    let Some(name) = std::thread::current().name().map(str::to_owned) else { return };
    if name == "main" {
        return;
    }
    THIS_TEST.with(|t| {
        let mut t = t.borrow_mut();
        if t.is_none() {
            RUNNING.lock().unwrap_or_else(|e| e.into_inner()).insert(name.clone(), Instant::now());
            *t = Some(Registered(name));
        }
    });
    START.call_once(|| {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let name = std::thread::current().name().unwrap_or("?").to_owned();
            let mut kept = PANICKED.lock().unwrap_or_else(|e| e.into_inner());
            if kept.len() < PANICS_KEPT {
                let text: String = info.to_string().chars().take(PANIC_TEXT_KEPT).collect();
                kept.push(format!("{name}: {text}"));
            }
            drop(kept);
            default_hook(info);
        }));
        std::thread::Builder::new()
            .name("test watchdog".into())
            .spawn(check)
            .expect("start the test watchdog");
    });
}

fn check() {
    let stuck_after = stuck_after();
    loop {
        std::thread::sleep(CHECK_EVERY);
        let running = RUNNING.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if !running.values().any(|since| since.elapsed() > stuck_after) {
            continue;
        }
        let mut text = format!(
            "\nwatchdog: a test ran for more than {} s; stopping the run.\nwatchdog: tests still running:\n",
            stuck_after.as_secs()
        );
        for (name, since) in &running {
            text += &format!("watchdog:   {name}: {} s\n", since.elapsed().as_secs());
        }
        for failed in PANICKED.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            text += &format!("watchdog: failed before: {failed}\n");
        }
        // Not eprintln!: this thread shares the capture of the test that
        // started it, and libtest would keep the text to itself.
        let _ = std::io::stderr().write_all(text.as_bytes());
        // Exiting skips the tests' drops: end their servers here, or they
        // would run on and hold the run's output pipe open.
        kill_descendants(std::process::id());
        std::process::exit(101);
    }
}

/// SIGKILLs every process below `pid`, children before their own children
/// can be orphaned (found by walking `/proc/*/stat`).
fn kill_descendants(pid: u32) {
    let Ok(dir) = std::fs::read_dir("/proc") else { return };
    let children: Vec<u32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| parent_of(p) == Some(pid))
        .collect();
    for child in children {
        // Stop it first so it cannot start more while its own are found.
        let _ = std::process::Command::new("kill").args(["-STOP", &child.to_string()]).status();
        kill_descendants(child);
        let _ = std::process::Command::new("kill").args(["-KILL", &child.to_string()]).status();
    }
}

/// The parent pid in `/proc/PID/stat` (the field after the `(name)`).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}
