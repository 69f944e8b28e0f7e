//! Test harness: real redis-server and hotcache processes on free ports, and a raw
//! RESP client that returns reply bytes exactly as received.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use hotcache::protocol::ReplyFramer;

/// How long a process gets to start answering before the test fails.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Resident memory of a process in bytes, from /proc.
pub fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kb * 1024
}

/// A port nobody listens on right now, and never handed out before in this
/// process: tests run side by side, and a port one released (its server
/// stopped, or not started yet) must not become another's (two clusters once
/// shared a node's port: one's `--cluster create` met the other's node).
pub fn free_port() -> u16 {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static GIVEN: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    crate::watchdog::watch();
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("bind an ephemeral port");
        let mut given = GIVEN.get_or_init(Mutex::default).lock().unwrap_or_else(|e| e.into_inner());
        if given.insert(port) {
            return port;
        }
    }
}

/// True if the server answering on `port` is `child` (not another test's
/// server that took the port first): `child` holds the socket listening
/// there (read from /proc, so it needs no AUTH).
pub fn is_our_redis(port: u16, child: &Child) -> bool {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) = (f.get(1), f.get(3), f.get(9)) else {
                continue;
            };
            let p = local.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
            if p == Some(port) && *state == "0A" {
                inodes.push(format!("socket:[{inode}]"));
            }
        }
    }
    let Ok(fds) = std::fs::read_dir(format!("/proc/{}/fd", child.id())) else { return false };
    fds.flatten().any(|e| {
        std::fs::read_link(e.path())
            .is_ok_and(|t| inodes.iter().any(|i| *i == *t.to_string_lossy()))
    })
}

/// Waits until the redis-server on `port` answers; false if it exited first.
fn wait_redis(port: u16, child: &mut Child) -> bool {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok(mut c) = RawClient::try_connect(port)
            && c.try_cmd(&["PING"]).is_ok()
        {
            if is_our_redis(port, child) {
                return true;
            }
            // Another's server holds the port: ours cannot bind it.
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("redis-server on {port} not ready in time");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until something on `port` answers PING with +PONG.
fn wait_ready(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} on port {port} exited before it was ready: {status}");
        }
        if let Ok(mut c) = RawClient::try_connect(port)
            && let Ok(reply) = c.try_cmd(&["PING"])
            && (reply == b"+PONG\r\n" || reply.starts_with(b"-NOAUTH"))
        {
            return;
        }
        assert!(Instant::now() < deadline, "{what} on port {port} not ready in time");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A redis-server process, killed when dropped.
pub struct RedisServer {
    pub port: u16,
    child: Child,
    pub dir: PathBuf,
    /// The extra arguments it was started with (for `restart`).
    extra: Vec<String>,
}

/// The server the tests run hotcache in front of: `redis-server`, or another
/// that speaks its protocol named by `HOTCACHE_TEST_SERVER` (a path or a name
/// on PATH, e.g. `valkey-server`; see scripts/test-valkey.sh).
pub fn server_bin() -> String {
    std::env::var("HOTCACHE_TEST_SERVER").unwrap_or_else(|_| "redis-server".to_owned())
}

fn spawn_redis(port: u16, dir: &PathBuf, extra: &[String]) -> Child {
    Command::new(server_bin())
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
        .args(["--appendonly", "no", "--daemonize", "no", "--protected-mode", "no"])
        .arg("--dir")
        .arg(dir)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server must be installed (see README)")
}

impl RedisServer {
    /// Starts `redis-server` on a free port with persistence off.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts `redis-server` with extra `--option value` arguments.
    pub fn start_with(extra: &[&str]) -> Self {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        for _attempt in 0..5 {
            let port = free_port();
            let dir = std::env::temp_dir().join(format!("hotcache-test-redis-{port}"));
            let _ = std::fs::create_dir_all(&dir);
            let mut child = spawn_redis(port, &dir, &extra);
            // A lost race for the port shows as an early exit: try another port.
            if wait_redis(port, &mut child) {
                return Self { port, child, dir, extra };
            }
        }
        panic!("could not start redis-server");
    }

    /// Starts the server again on the same port and directory (after `kill`),
    /// with the same arguments, and waits until it answers.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let mut child = spawn_redis(self.port, &self.dir, &self.extra);
            if wait_redis(self.port, &mut child) {
                self.child = child;
                return;
            }
            // The port may take a moment to be free again after the kill.
            assert!(Instant::now() < deadline, "redis-server did not restart on {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id (for signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`STOP`, `CONT`, ...) to the process.
    pub fn signal(&self, sig: &str) {
        let status =
            Command::new("kill").args([&format!("-{sig}"), &self.child.id().to_string()]).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{sig} redis-server");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Its clients blocked in a command (INFO's `blocked_clients`).
    pub fn blocked_clients(&self) -> u64 {
        crate::cache::info_field(&self.client().cmd_str(&["INFO", "clients"]), "blocked_clients")
    }

    pub fn client(&self) -> RawClient {
        RawClient::connect(self.port)
    }

    /// Stops the server with SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Path of the hotcache binary cargo built for these tests.
pub fn hotcache_bin() -> &'static str {
    env!("CARGO_BIN_EXE_hotcache")
}

/// A hotcache process, killed when dropped.
pub struct Hotcache {
    pub port: u16,
    pub child: Child,
}

impl Hotcache {
    /// Starts hotcache on a free port with `args` (`--upstream ...`, `--threads ...`).
    pub fn start(args: &[&str]) -> Self {
        Self::start_logging(args, None)
    }

    /// As `start`, with hotcache's log (its stderr) written to `log`.
    pub fn start_logging(args: &[&str], log: Option<&std::path::Path>) -> Self {
        for _attempt in 0..5 {
            let port = free_port();
            let stderr = match log {
                Some(path) => Stdio::from(std::fs::File::create(path).expect("create the log")),
                None => Stdio::inherit(),
            };
            let mut child = Command::new(hotcache_bin())
                .args(["--port", &port.to_string()])
                .args(args)
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .expect("start hotcache");
            let deadline = Instant::now() + READY_TIMEOUT;
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    if status.code() == Some(1) {
                        // Most likely the port was taken in between: try another.
                        break;
                    }
                    panic!("hotcache exited: {status}");
                }
                if let Ok(mut c) = RawClient::try_connect(port) {
                    match c.try_cmd(&["PING"]) {
                        Ok(r) if r == b"+PONG\r\n" || r.starts_with(b"-NOAUTH") => {
                            return Self { port, child };
                        }
                        _ => {}
                    }
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("hotcache on {port} not ready in time");
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        panic!("could not start hotcache");
    }

    /// Starts hotcache with exactly `args` (no `--port` added: with `--port 0`
    /// it has no plain port to PING) and waits until `ready()` says it serves;
    /// `port` is what `self.port` then names.
    pub fn start_exact(args: &[&str], port: u16, ready: impl Fn() -> bool) -> Self {
        let mut child = Command::new(hotcache_bin())
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start hotcache");
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("hotcache exited: {status}");
            }
            if ready() {
                return Self { port, child };
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("hotcache on {port} not ready in time");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts hotcache in front of `redis` with `threads` shard threads.
    pub fn in_front_of(redis: &RedisServer, threads: usize, extra: &[&str]) -> Self {
        let url = redis.url();
        let threads = threads.to_string();
        let mut args = vec!["--upstream", url.as_str(), "--threads", threads.as_str()];
        args.extend_from_slice(extra);
        Self::start(&args)
    }

    pub fn client(&self) -> RawClient {
        RawClient::connect(self.port)
    }

    /// Sends a signal (libc number) to the process.
    pub fn signal(&self, sig: &str) {
        let _ =
            Command::new("kill").args([&format!("-{sig}"), &self.child.id().to_string()]).status();
    }

    /// Waits for the process to exit, up to `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Hotcache {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a [`RawClient`] talks over: a socket, or a TLS session on one
/// (`tls::harness`).
pub trait ClientStream: Read + Write {
    /// The socket under it (for read timeouts).
    fn socket(&self) -> &TcpStream;
}

impl ClientStream for TcpStream {
    fn socket(&self) -> &TcpStream {
        self
    }
}

/// A blocking RESP client that returns replies as raw bytes, over plain TCP
/// or (`S` = a TLS stream, `tls::harness::TlsClient`) TLS.
pub struct RawClient<S: ClientStream = TcpStream> {
    pub stream: S,
    buf: Vec<u8>,
    framer: ReplyFramer,
}

/// Encodes arguments as a multibulk request.
pub fn encode<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

impl RawClient {
    pub fn try_connect(port: u16) -> std::io::Result<Self> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_nodelay(true)?;
        Ok(Self::over(stream))
    }

    pub fn connect(port: u16) -> Self {
        Self::try_connect(port).unwrap_or_else(|e| panic!("connect to {port}: {e}"))
    }
}

impl<S: ClientStream> RawClient<S> {
    /// A client over a stream already connected.
    pub fn over(stream: S) -> Self {
        Self { stream, buf: Vec::new(), framer: ReplyFramer::new() }
    }

    pub fn set_timeout(&self, d: Duration) {
        self.stream.socket().set_read_timeout(Some(d)).expect("set timeout");
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
        self.stream.flush().expect("flush");
    }

    /// Reads one whole reply frame.
    pub fn try_read_reply(&mut self) -> std::io::Result<Vec<u8>> {
        loop {
            match self.framer.next_frame(&self.buf) {
                Ok(Some((n, _))) => return Ok(self.buf.drain(..n).collect()),
                Ok(None) => {}
                Err(e) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        e.to_string(),
                    ));
                }
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    pub fn read_reply(&mut self) -> Vec<u8> {
        self.try_read_reply().expect("read reply")
    }

    pub fn try_cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> std::io::Result<Vec<u8>> {
        self.stream.write_all(&encode(args))?;
        // A TLS write may stay in the session until flushed.
        self.stream.flush()?;
        self.try_read_reply()
    }

    /// Sends one command and returns its reply bytes.
    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Vec<u8> {
        self.try_cmd(args).unwrap_or_else(|e| {
            panic!(
                "command {:?}: {e}",
                args.iter()
                    .map(|a| String::from_utf8_lossy(a.as_ref()).into_owned())
                    .collect::<Vec<_>>()
            )
        })
    }

    /// Sends one command and returns its reply as text (for readable asserts).
    pub fn cmd_str<A: AsRef<[u8]>>(&mut self, args: &[A]) -> String {
        String::from_utf8_lossy(&self.cmd(args)).into_owned()
    }

    /// True once the peer has closed the connection within `wait` (EOF, a
    /// TLS close_notify or alert, a reset); false if nothing came.
    pub fn is_closed(&mut self, wait: Duration) -> bool {
        self.set_timeout(wait);
        let mut b = [0u8; 1024];
        loop {
            match self.stream.read(&mut b) {
                Ok(0) => return true,
                Ok(n) => self.buf.extend_from_slice(&b[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return false;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
    }

    /// Bytes received but not yet returned as a reply.
    pub fn leftover(&self) -> &[u8] {
        &self.buf
    }
}

/// Polls `f` until it returns true, for at most `limit`: how long it took.
pub fn within(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

/// [`within`], as a yes or no.
pub fn holds_within(limit: Duration, f: impl FnMut() -> bool) -> bool {
    within(limit, f).is_some()
}

/// How long an external client (redis-cli, redis-benchmark, redis-py, node,
/// chromium) may run before the test fails rather than waits on.
pub const CLIENT_LIMIT: Duration = Duration::from_secs(180);

/// [`output_within`] [`CLIENT_LIMIT`], as a method of `Command`.
pub trait OutputInTime {
    fn output_in_time(&mut self) -> std::io::Result<Output>;
}

impl OutputInTime for Command {
    fn output_in_time(&mut self) -> std::io::Result<Output> {
        output_within(self, CLIENT_LIMIT)
    }
}

/// `cmd.output()`, but a command still running after `limit` is killed and
/// the test fails with what it printed so far. Stdin is empty.
pub fn output_within(cmd: &mut Command, limit: Duration) -> std::io::Result<Output> {
    crate::watchdog::watch();
    let child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    collect_within(cmd, child, limit)
}

/// `output_within`, with `input` as the command's stdin (written from a
/// thread of its own, so a command that answers before it has read it all
/// cannot stall the test).
pub fn output_with_input(
    cmd: &mut Command,
    input: Vec<u8>,
    limit: Duration,
) -> std::io::Result<Output> {
    crate::watchdog::watch();
    let mut child =
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        // Dropped at the end: the command sees its input end.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    collect_within(cmd, child, limit)
}

fn collect_within(cmd: &Command, mut child: Child, limit: Duration) -> std::io::Result<Output> {
    let collect = |pipe: Option<Box<dyn Read + Send>>| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            let _ = tx.send(buf);
        });
        rx
    };
    let stdout = collect(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = collect(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // A grandchild may still hold a pipe open: do not wait on it for long.
    let take = |rx: std::sync::mpsc::Receiver<Vec<u8>>| {
        rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default()
    };
    let (stdout, stderr) = (take(stdout), take(stderr));
    let Some(status) = status else {
        panic!(
            "{cmd:?} still ran after {} s: killed. It printed:\n{}{}",
            limit.as_secs(),
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        );
    };
    Ok(Output { status, stdout, stderr })
}
