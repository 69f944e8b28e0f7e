//! Command-line options of the load tool.
//!
//! Parsed by hand: the tool needs a dozen flags and the crate has no CLI parser
//! dependency. Short forms follow redis-benchmark (`-c -P -n -d -p -r`).

use std::time::Duration;

/// How keys are drawn from the key space.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Dist {
    /// Every key equally likely.
    Uniform,
    /// Zipf with exponent `s`: rank 1 (`<prefix>0`) is the hottest key.
    Zipf(f64),
}

/// Everything one run is configured with.
#[derive(Clone, Debug)]
pub struct Options {
    pub host: String,
    pub port: u16,
    /// Connections in total, spread evenly over the worker threads.
    pub connections: usize,
    /// Requests each connection keeps in flight (written as one batch).
    pub pipeline: usize,
    /// Worker threads, each with its own current-thread runtime.
    pub threads: usize,
    /// How long to measure, when `requests` is not given.
    pub duration: Duration,
    /// Stop after this many measured requests instead of after `duration`.
    pub requests: Option<u64>,
    /// Relative weights of GET (or MGET) and SET.
    pub get_weight: u32,
    pub set_weight: u32,
    /// Key space size: keys are `<prefix>0` .. `<prefix>(keys-1)`.
    pub keys: u64,
    pub key_prefix: String,
    pub dist: Dist,
    pub value_size: usize,
    /// Write every key once before measuring.
    pub preload: bool,
    /// Load that runs before measuring and is not recorded.
    pub warmup: Duration,
    /// Print one JSON object instead of the human report.
    pub json: bool,
    /// Send MGET of this many keys in place of GET.
    pub mget: Option<usize>,
    /// The target's name in reports and JSON (default: its address).
    pub label: Option<String>,
    /// Write a self-contained HTML report with charts here.
    pub report: Option<String>,
    /// Write the charts as one SVG file here.
    pub svg: Option<String>,
    /// Client-side caching clients (HELLO 3, CLIENT TRACKING ON), see `tracking.rs`.
    pub tracking: bool,
    /// With `tracking`: operations per second of all clients together.
    pub rate: u64,
}

/// `hotcache-bench compare`: several runs' JSON files side by side.
#[derive(Clone, Debug, Default)]
pub struct CompareOptions {
    pub files: Vec<String>,
    pub svg: Option<String>,
    pub report: Option<String>,
    pub title: String,
}

pub const USAGE: &str = "\
hotcache-bench: load generator for any RESP server (redis-server, hotcache, twemproxy)

USAGE: hotcache-bench [OPTIONS]
       hotcache-bench compare RUN.json... [--svg FILE] [--report FILE] [--title T]

  --host HOST            server address (127.0.0.1)
  -p, --port PORT        server port (6380)
  -c, --connections N    connections in total (50)
  -P, --pipeline N       requests in flight per connection (1)
  --threads N            client worker threads (1)
  --duration SECS        measured time (10)
  -n, --requests N       stop after N measured requests instead
  --ratio GET:SET        operation mix, e.g. 1:0, 9:1, 0:1 (1:1)
  -r, --keys N           key space size (100000)
  --key-prefix P         key prefix (key:)
  --dist uniform|zipf    key distribution (uniform)
  --zipf-s S             zipf exponent (0.99); rank 1 = <prefix>0 is hottest
  -d, --value-size N     SET value size in bytes (64)
  --mget N               send MGET of N keys instead of GET
  --preload              SET every key once (pipelined) before measuring
  --warmup SECS          run load for SECS before measuring (0)
  --json                 print one JSON object with all results
  --label NAME           the target's name in reports and JSON (its address)
  --report FILE          write an HTML report with charts (throughput, latency
                         p50/p99/p99.9 per second, and the cache hit ratio per
                         second when the server is hotcache)
  --svg FILE             write the same charts as one SVG file
  --tracking             client-side caching clients: each connection sends
                         HELLO 3 and CLIENT TRACKING ON, keeps the keys it read
                         in a local set (reads of them send nothing: local
                         hits) and drops those named by `invalidate` pushes;
                         one request at a time per connection, GET and SET
                         only, at --rate; reports requests/s, local hits and
                         the fan-out time (a SET's reply to each other
                         client's push for that key). No --report/--svg.
  --rate N               with --tracking: operations per second, all
                         connections together (10000)

compare: reads runs saved with --json and charts them side by side, grouped by
workload (op, pipeline, distribution) and target (--label): bars of ops/s, p50
and p99 (--svg and --report), and throughput over time (--report).
  --help                 this text

Exit status: 0 on success, 1 if the server cannot be reached or a connection
fails during the run, 2 on bad usage.
";

impl Default for Options {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 6380,
            connections: 50,
            pipeline: 1,
            threads: 1,
            duration: Duration::from_secs(10),
            requests: None,
            get_weight: 1,
            set_weight: 1,
            keys: 100_000,
            key_prefix: "key:".into(),
            dist: Dist::Uniform,
            value_size: 64,
            preload: false,
            warmup: Duration::ZERO,
            json: false,
            mget: None,
            label: None,
            report: None,
            svg: None,
            tracking: false,
            rate: 10_000,
        }
    }
}

/// Flags that take a value.
const VALUE_FLAGS: &[&str] = &[
    "--host",
    "-p",
    "--port",
    "-c",
    "--connections",
    "-P",
    "--pipeline",
    "--threads",
    "--duration",
    "-n",
    "--requests",
    "--ratio",
    "-r",
    "--keys",
    "--key-prefix",
    "--dist",
    "--zipf-s",
    "-d",
    "--value-size",
    "--mget",
    "--warmup",
    "--label",
    "--report",
    "--svg",
    "--rate",
];

/// What the command line asked for.
pub enum Parsed {
    Run(Options),
    Compare(CompareOptions),
    Help,
}

fn num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse().map_err(|_| format!("{flag}: invalid value '{v}'"))
}

fn secs(flag: &str, v: &str) -> Result<Duration, String> {
    let s: f64 = num(flag, v)?;
    Duration::try_from_secs_f64(s).map_err(|_| format!("{flag}: invalid duration '{v}'"))
}

/// Parses `args` (without the program name).
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Parsed, String> {
    let mut args = args.into_iter().peekable();
    if args.peek().map(String::as_str) == Some("compare") {
        args.next();
        return parse_compare(args);
    }
    let mut o = Options::default();
    let mut dist = "uniform".to_string();
    let mut zipf_s = 0.99;
    let mut it = args;
    while let Some(arg) = it.next() {
        // `--flag=value` and `--flag value` are both accepted.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        match flag.as_str() {
            "--help" | "-?" => return Ok(Parsed::Help),
            "--preload" => o.preload = true,
            "--json" => o.json = true,
            "--tracking" => o.tracking = true,
            _ if !VALUE_FLAGS.contains(&flag.as_str()) => {
                return Err(format!("unknown option '{flag}' (see --help)"));
            }
            _ => {
                let v = match inline {
                    Some(v) => v,
                    None => it.next().ok_or_else(|| format!("{flag} needs a value"))?,
                };
                match flag.as_str() {
                    "--host" => o.host = v,
                    "-p" | "--port" => o.port = num(&flag, &v)?,
                    "-c" | "--connections" => o.connections = num(&flag, &v)?,
                    "-P" | "--pipeline" => o.pipeline = num(&flag, &v)?,
                    "--threads" => o.threads = num(&flag, &v)?,
                    "--duration" => o.duration = secs(&flag, &v)?,
                    "-n" | "--requests" => o.requests = Some(num(&flag, &v)?),
                    "--ratio" => {
                        let (g, s) = v
                            .split_once(':')
                            .ok_or_else(|| format!("--ratio: expected GET:SET, got '{v}'"))?;
                        o.get_weight = num(&flag, g)?;
                        o.set_weight = num(&flag, s)?;
                    }
                    "-r" | "--keys" => o.keys = num(&flag, &v)?,
                    "--key-prefix" => o.key_prefix = v,
                    "--dist" => dist = v,
                    "--zipf-s" => zipf_s = num(&flag, &v)?,
                    "-d" | "--value-size" => o.value_size = num(&flag, &v)?,
                    "--mget" => o.mget = Some(num(&flag, &v)?),
                    "--warmup" => o.warmup = secs(&flag, &v)?,
                    "--label" => o.label = Some(v),
                    "--report" => o.report = Some(v),
                    "--svg" => o.svg = Some(v),
                    "--rate" => o.rate = num(&flag, &v)?,
                    _ => return Err(format!("unknown option '{flag}' (see --help)")),
                }
            }
        }
    }
    o.dist = match dist.as_str() {
        "uniform" => Dist::Uniform,
        "zipf" => Dist::Zipf(zipf_s),
        other => return Err(format!("--dist: expected uniform or zipf, got '{other}'")),
    };
    o.validate()?;
    Ok(Parsed::Run(o))
}

/// Parses the arguments after `compare`.
fn parse_compare(args: impl Iterator<Item = String>) -> Result<Parsed, String> {
    let mut o = CompareOptions { title: "hotcache-bench comparison".into(), ..Default::default() };
    let mut it = args;
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || match inline.clone() {
            Some(v) => Ok(v),
            None => it.next().ok_or_else(|| format!("{flag} needs a value")),
        };
        match flag.as_str() {
            "--help" | "-?" => return Ok(Parsed::Help),
            "--svg" => o.svg = Some(value()?),
            "--report" => o.report = Some(value()?),
            "--title" => o.title = value()?,
            f if f.starts_with('-') => return Err(format!("compare: unknown option '{f}'")),
            _ => o.files.push(arg),
        }
    }
    if o.files.is_empty() {
        return Err("compare: name at least one JSON file written with --json".into());
    }
    if o.svg.is_none() && o.report.is_none() {
        return Err("compare: give --svg FILE and/or --report FILE".into());
    }
    Ok(Parsed::Compare(o))
}

impl Options {
    fn validate(&self) -> Result<(), String> {
        let positive = [
            ("--connections", self.connections as u64),
            ("--pipeline", self.pipeline as u64),
            ("--threads", self.threads as u64),
            ("--keys", self.keys),
            ("--mget", self.mget.unwrap_or(1) as u64),
            ("--requests", self.requests.unwrap_or(1)),
            ("--rate", self.rate),
        ];
        for (flag, v) in positive {
            if v == 0 {
                return Err(format!("{flag} must be at least 1"));
            }
        }
        if self.get_weight == 0 && self.set_weight == 0 {
            return Err("--ratio: at least one of GET and SET must be non-zero".into());
        }
        if let Dist::Zipf(s) = self.dist
            && !(s.is_finite() && s >= 0.0)
        {
            return Err(format!("--zipf-s must be a finite number >= 0, got {s}"));
        }
        if self.tracking
            && (self.requests.is_some()
                || self.mget.is_some()
                || self.report.is_some()
                || self.svg.is_some())
        {
            return Err("--tracking runs for --duration, with GET and SET, without charts".into());
        }
        if self.requests.is_none() && self.duration.is_zero() {
            return Err("--duration must be more than 0".into());
        }
        Ok(())
    }

    /// Connections per worker thread: the first `connections % threads` get one more.
    pub fn connections_of(&self, thread: usize) -> usize {
        let threads = self.threads.min(self.connections);
        self.connections / threads + usize::from(thread < self.connections % threads)
    }

    /// Worker threads actually used (never more than connections).
    pub fn worker_threads(&self) -> usize {
        self.threads.min(self.connections)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Options, String> {
        match parse(args.iter().map(|s| s.to_string()))? {
            Parsed::Run(o) => Ok(o),
            Parsed::Compare(_) | Parsed::Help => Err("not a run".into()),
        }
    }

    #[test]
    fn flags_and_defaults() {
        let o = run(&["-c", "3", "--ratio=9:1", "--dist", "zipf", "--zipf-s", "1.2"]).unwrap();
        assert_eq!((o.connections, o.get_weight, o.set_weight), (3, 9, 1));
        assert_eq!(o.dist, Dist::Zipf(1.2));
        assert_eq!(o.port, 6380);
        assert!(run(&["--ratio", "0:0"]).is_err());
        assert!(run(&["--bogus"]).unwrap_err().contains("unknown option"));
        assert!(run(&["--pipeline"]).is_err());
    }

    #[test]
    fn report_flags_and_compare() {
        let o = run(&["--report", "r.html", "--svg=r.svg", "--label", "hotcache"]).unwrap();
        assert_eq!(o.report.as_deref(), Some("r.html"));
        assert_eq!((o.svg.as_deref(), o.label.as_deref()), (Some("r.svg"), Some("hotcache")));
        let args = |v: &[&str]| parse(v.iter().map(|s| s.to_string()));
        let Ok(Parsed::Compare(c)) = args(&["compare", "a.json", "b.json", "--svg", "o.svg"])
        else {
            panic!("compare not parsed")
        };
        assert_eq!((c.files.len(), c.svg.as_deref()), (2, Some("o.svg")));
        assert!(args(&["compare", "a.json"]).is_err(), "an output is required");
        assert!(args(&["compare", "--svg", "o.svg"]).is_err(), "a file is required");
        assert!(args(&["compare", "a.json", "--svg", "o.svg", "--bogus"]).is_err());
    }

    #[test]
    fn connections_spread_over_threads() {
        let o = run(&["-c", "5", "--threads", "2"]).unwrap();
        assert_eq!((o.connections_of(0), o.connections_of(1)), (3, 2));
        let o = run(&["-c", "1", "--threads", "2"]).unwrap();
        assert_eq!(o.worker_threads(), 1);
    }
}
