//! hotcache-bench: a load generator for any RESP server.
//!
//! ```text
//!   main thread: probe (PING) ─► preload (optional) ─► start signal ─► merge + report
//!                                                        │
//!        ┌───────────────────────────┬───────────────────┘ (watch channel)
//!   worker thread 0              worker thread N-1         one OS thread each with a
//!   current-thread runtime   ... current-thread runtime    current-thread runtime;
//!   connections (LocalSet)       connections (LocalSet)    each connection writes a
//!   Stats (Rc<RefCell>)          Stats (Rc<RefCell>)       batch of `pipeline` requests
//!                                                          and reads exactly that many
//!                                                          replies (ReplyFramer)
//! ```
//!
//! Latency is from the moment a batch is written to the read that completes each
//! reply, recorded in nanoseconds in an HDR histogram per thread and merged at the end;
//! each second of sending also has its own histogram, for the per-second series.
//!
//! With `--report`/`--svg` (or `--json`), a sampler thread (`sampler.rs`) reads
//! hotcache's cache counters once a second on a connection of its own. `report/`
//! turns the JSON object into charts; `compare` does the same for several saved runs.

mod args;
mod conn;
mod report;
mod sampler;
mod stats;
mod tracking;
mod workload;

use std::cell::RefCell;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use args::{CompareOptions, Dist, Options, Parsed};
use conn::Clock;
use stats::{Stats, Summary};
use workload::Workload;

/// What the main thread sends workers once all are connected: go, or give up.
type StartSignal = Option<Result<Arc<Clock>, ()>>;

fn main() -> ExitCode {
    let opts = match args::parse(std::env::args().skip(1)) {
        Ok(Parsed::Run(o)) => o,
        Ok(Parsed::Compare(c)) => {
            return match compare(&c) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("hotcache-bench compare: {e}");
                    ExitCode::from(1)
                }
            };
        }
        Ok(Parsed::Help) => {
            print!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("hotcache-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let result = if opts.tracking { run_tracking(opts) } else { run(opts) };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hotcache-bench: {e}");
            ExitCode::from(1)
        }
    }
}

fn local_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

fn run(opts: Options) -> Result<ExitCode, String> {
    let addr = format!("{}:{}", opts.host, opts.port);
    let rt = local_runtime()?;
    let local = tokio::task::LocalSet::new();
    let pong = local.block_on(&rt, conn::probe(&addr))?;
    if !opts.json {
        eprintln!("server {addr} answered PING with {pong}");
    }

    let mut preload = None;
    if opts.preload {
        let started = Instant::now();
        let value = Workload::new(&opts, 0)?.value().to_vec();
        let conns = opts.connections.min(8);
        let errors = local
            .block_on(&rt, conn::preload(&addr, conns, opts.keys, &opts.key_prefix, &value))?;
        let took = started.elapsed();
        if !opts.json {
            eprintln!(
                "preloaded {} keys in {:.2} s ({errors} errors)",
                opts.keys,
                took.as_secs_f64()
            );
        }
        preload = Some((took, errors));
    }

    // The cache counters are sampled only for a report or JSON, and only from a
    // server that has them.
    let sampler = if opts.json || opts.report.is_some() || opts.svg.is_some() {
        match sampler::Sampler::connect(&addr) {
            Ok(s) => Some(s),
            Err(why) => {
                if !opts.json {
                    eprintln!("no cache hit ratio over time: {why}");
                }
                None
            }
        }
    } else {
        None
    };

    let (start_tx, start_rx) = watch::channel::<StartSignal>(None);
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    let mut workers = Vec::new();
    for t in 0..opts.worker_threads() {
        let (opts, addr, start_rx, ready_tx) =
            (opts.clone(), addr.clone(), start_rx.clone(), ready_tx.clone());
        let worker = std::thread::Builder::new()
            .name(format!("bench-{t}"))
            .spawn(move || worker(t, &opts, &addr, start_rx, ready_tx))
            .map_err(|e| format!("spawn worker thread: {e}"))?;
        workers.push(worker);
    }
    drop(ready_tx);

    // Every connection is open before the clock starts, so connects are not measured.
    let mut connect_error = None;
    for ready in ready_rx.iter() {
        if let Err(e) = ready {
            connect_error.get_or_insert(e);
        }
    }
    let clock = connect_error.is_none().then(|| {
        let measure_start = Instant::now() + opts.warmup;
        Arc::new(Clock {
            measure_start,
            end: opts.requests.is_none().then(|| measure_start + opts.duration),
            budget: opts.requests.map(|n| (n, AtomicU64::new(0))),
        })
    });
    let _ = start_tx.send(Some(clock.clone().ok_or(())));
    let (stop_sampler, stop_rx) = mpsc::channel::<()>();
    let sampling = match (&clock, sampler) {
        (Some(clock), Some(s)) => Some(
            s.spawn(clock.measure_start, clock.end, stop_rx)
                .map_err(|e| format!("spawn sampler thread: {e}"))?,
        ),
        _ => None,
    };

    let mut total = Stats::new();
    for w in workers {
        match w.join() {
            Ok(Some(s)) => total.merge(&s),
            Ok(None) => {}
            Err(_) => return Err("a worker thread panicked".into()),
        }
    }
    let _ = stop_sampler.send(());
    let samples = sampling.and_then(|t| t.join().ok());
    if let Some(e) = connect_error {
        return Err(e);
    }

    let summary = Summary::of(&total, total.last_reply);
    let json = report_json(&opts, &addr, preload, &summary, &total, samples.as_deref());
    if opts.json {
        println!("{json}");
    } else {
        print!("{}{}", describe(&opts, &addr), summary.human());
    }
    if opts.report.is_some() || opts.svg.is_some() {
        let run = report::Run::from_json(&json)?;
        if let Some(path) = &opts.report {
            write(path, &run.html())?;
        }
        if let Some(path) = &opts.svg {
            write(path, &run.svg())?;
        }
    }
    for f in &total.failures {
        eprintln!("hotcache-bench: connection failed during the run: {f}");
    }
    Ok(if total.failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// `--tracking`: connects every client (HELLO 3, CLIENT TRACKING ON), runs
/// them at `--rate` for the warmup and `--duration`, reports.
fn run_tracking(opts: Options) -> Result<ExitCode, String> {
    let addr = format!("{}:{}", opts.host, opts.port);
    let rt = local_runtime()?;
    let local = tokio::task::LocalSet::new();
    let pong = local.block_on(&rt, conn::probe(&addr))?;
    if !opts.json {
        eprintln!("server {addr} answered PING with {pong}");
    }
    if opts.preload {
        let value = Workload::new(&opts, 0)?.value().to_vec();
        let errors = local.block_on(
            &rt,
            conn::preload(&addr, opts.connections.min(8), opts.keys, &opts.key_prefix, &value),
        )?;
        if errors > 0 {
            return Err(format!("preload: {errors} errors"));
        }
    }
    let writes = Arc::new(tracking::WriteTimes::new(opts.keys));
    // Each connection's share of the rate, as the time between its operations.
    let every = Duration::from_secs_f64(opts.connections as f64 / opts.rate as f64);
    let (start_tx, start_rx) = watch::channel::<Option<Result<(Instant, Instant), ()>>>(None);
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    let mut workers = Vec::new();
    for t in 0..opts.worker_threads() {
        let (opts, addr, mut start, ready, writes) =
            (opts.clone(), addr.clone(), start_rx.clone(), ready_tx.clone(), writes.clone());
        let worker = std::thread::Builder::new()
            .name(format!("bench-{t}"))
            .spawn(move || -> Option<tracking::TrackStats> {
                let rt = match local_runtime() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return None;
                    }
                };
                let local = tokio::task::LocalSet::new();
                local.block_on(&rt, async move {
                    let stats = Rc::new(RefCell::new(tracking::TrackStats::new()));
                    let mut conns = Vec::new();
                    for c in 0..opts.connections_of(t) {
                        let seed = ((t as u64) << 32) | c as u64;
                        match (tracking::connect(&addr, &stats).await, Workload::new(&opts, seed)) {
                            (Ok(s), Ok(w)) => conns.push((s, w)),
                            (Err(e), _) | (_, Err(e)) => {
                                let _ = ready.send(Err(e));
                                return None;
                            }
                        }
                    }
                    let _ = ready.send(Ok(()));
                    drop(ready);
                    let (measure_start, end) = match *start.wait_for(Option::is_some).await.ok()? {
                        Some(Ok(times)) => times,
                        _ => return None,
                    };
                    let tasks: Vec<_> = conns
                        .into_iter()
                        .map(|(conn, work)| {
                            let run = tracking::run(
                                conn,
                                work,
                                every,
                                measure_start,
                                end,
                                writes.clone(),
                                stats.clone(),
                            );
                            tokio::task::spawn_local(run)
                        })
                        .collect();
                    for task in tasks {
                        let failure = match task.await {
                            Ok(Ok(())) => continue,
                            Ok(Err(e)) => e,
                            Err(e) => format!("connection task: {e}"),
                        };
                        stats.borrow_mut().failures.push(failure);
                    }
                    let stats = stats.borrow().clone();
                    Some(stats)
                })
            })
            .map_err(|e| format!("spawn worker thread: {e}"))?;
        workers.push(worker);
    }
    drop(ready_tx);
    let mut connect_error = None;
    for ready in ready_rx.iter() {
        if let Err(e) = ready {
            connect_error.get_or_insert(e);
        }
    }
    let measure_start = Instant::now() + opts.warmup;
    let end = measure_start + opts.duration;
    let _ = start_tx.send(Some(if connect_error.is_none() {
        Ok((measure_start, end))
    } else {
        Err(())
    }));
    let mut total = tracking::TrackStats::new();
    for w in workers {
        match w.join() {
            Ok(Some(s)) => total.merge(&s),
            Ok(None) => {}
            Err(_) => return Err("a worker thread panicked".into()),
        }
    }
    if let Some(e) = connect_error {
        return Err(e);
    }
    let secs = opts.duration.as_secs_f64();
    if opts.json {
        let mut j = total.json(secs);
        j["config"] = serde_json::json!({
            "addr": addr,
            "label": opts.label,
            "connections": opts.connections,
            "threads": opts.worker_threads(),
            "rate": opts.rate,
            "ratio": {"get": opts.get_weight, "set": opts.set_weight},
            "keys": opts.keys,
            "dist": describe(&opts, &addr).trim_end(),
            "warmup_s": opts.warmup.as_secs_f64(),
        });
        println!("{j}");
    } else {
        println!(
            "{addr}: {} tracking clients on {} threads at {} ops/s, GET:SET {}:{}, {} keys\n{}",
            opts.connections,
            opts.worker_threads(),
            opts.rate,
            opts.get_weight,
            opts.set_weight,
            opts.keys,
            total.human(secs)
        );
    }
    for f in &total.failures {
        eprintln!("hotcache-bench: connection failed during the run: {f}");
    }
    Ok(if total.failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Writes a report file, saying so on stderr.
fn write(path: &str, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("write {path}: {e}"))?;
    eprintln!("wrote {path}");
    Ok(())
}

/// `hotcache-bench compare`: reads saved runs and writes the comparison charts.
fn compare(c: &CompareOptions) -> Result<(), String> {
    let mut runs = Vec::new();
    for file in &c.files {
        let text = std::fs::read_to_string(file).map_err(|e| format!("read {file}: {e}"))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{file}: not JSON: {e}"))?;
        runs.push(report::Run::from_json(&json).map_err(|e| format!("{file}: {e}"))?);
    }
    let comparison = report::Comparison::new(runs);
    if let Some(path) = &c.svg {
        write(path, &comparison.svg())?;
    }
    if let Some(path) = &c.report {
        write(path, &comparison.html(&c.title))?;
    }
    Ok(())
}

/// One worker thread: connects its share, waits for the start, runs, returns its stats.
fn worker(
    t: usize,
    opts: &Options,
    addr: &str,
    mut start: watch::Receiver<StartSignal>,
    ready: mpsc::Sender<Result<(), String>>,
) -> Option<Stats> {
    let rt = match local_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(e));
            return None;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let mut conns = Vec::new();
        for c in 0..opts.connections_of(t) {
            // Distinct seeds: connections must not replay the same key sequence.
            let seed = ((t as u64) << 32) | c as u64;
            let conn = match (conn::connect(addr).await, Workload::new(opts, seed)) {
                (Ok(s), Ok(w)) => (s, w),
                (Err(e), _) | (_, Err(e)) => {
                    let _ = ready.send(Err(e));
                    return None;
                }
            };
            conns.push(conn);
        }
        let _ = ready.send(Ok(()));
        drop(ready);
        let clock = match start.wait_for(Option::is_some).await.ok()?.clone() {
            Some(Ok(clock)) => clock,
            _ => return None,
        };
        let stats = Rc::new(RefCell::new(Stats::new()));
        let tasks: Vec<_> = conns
            .into_iter()
            .map(|(stream, work)| {
                let run = conn::run(stream, work, opts.pipeline, clock.clone(), stats.clone());
                tokio::task::spawn_local(run)
            })
            .collect();
        for task in tasks {
            let failure = match task.await {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => e,
                Err(e) => format!("connection task: {e}"),
            };
            stats.borrow_mut().failures.push(failure);
        }
        let stats = stats.borrow().clone();
        Some(stats)
    })
}

/// The run's settings, one line, for the human report.
fn describe(o: &Options, addr: &str) -> String {
    let dist = match o.dist {
        Dist::Uniform => "uniform".to_string(),
        Dist::Zipf(s) => format!("zipf s={s}"),
    };
    let get = match o.mget {
        Some(n) => format!("MGET{n}"),
        None => "GET".into(),
    };
    format!(
        "{addr}: {} conns x pipeline {} on {} threads, {get}:SET {}:{}, {} keys {dist}, {} B values\n",
        o.connections,
        o.pipeline,
        o.worker_threads(),
        o.get_weight,
        o.set_weight,
        o.keys,
        o.value_size
    )
}

fn report_json(
    o: &Options,
    addr: &str,
    preload: Option<(Duration, u64)>,
    summary: &Summary,
    total: &Stats,
    samples: Option<&[sampler::Sample]>,
) -> serde_json::Value {
    // The span the series covers: sending stops at the end of `--duration`.
    let elapsed = if o.requests.is_none() { o.duration.as_secs_f64() } else { summary.elapsed };
    let (dist, zipf_s) = match o.dist {
        Dist::Uniform => ("uniform", None),
        Dist::Zipf(s) => ("zipf", Some(s)),
    };
    serde_json::json!({
        "config": {
            "addr": addr,
            "label": o.label,
            "connections": o.connections,
            "pipeline": o.pipeline,
            "threads": o.worker_threads(),
            "duration_s": o.requests.is_none().then_some(o.duration.as_secs_f64()),
            "requests": o.requests,
            "ratio": {"get": o.get_weight, "set": o.set_weight},
            "mget": o.mget,
            "keys": o.keys,
            "key_prefix": o.key_prefix,
            "dist": dist,
            "zipf_s": zipf_s,
            "value_size": o.value_size,
            "warmup_s": o.warmup.as_secs_f64(),
        },
        "preload": preload.map(|(took, errors)| serde_json::json!({
            "keys": o.keys, "seconds": took.as_secs_f64(), "errors": errors,
        })),
        "results": summary.json(),
        "connection_failures": total.failures,
        "series": stats::series_json(total, elapsed),
        // hotcache's cache counters at each whole second (null: not hotcache).
        "server": samples.map(|s| serde_json::json!({
            "kind": "hotcache",
            "samples": s.iter().map(|x| serde_json::json!({
                "t_s": x.t, "cache_hits": x.hits, "cache_misses": x.misses,
            })).collect::<Vec<_>>(),
        })),
    })
}
