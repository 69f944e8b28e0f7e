#!/usr/bin/env python3
"""Hostile clients against one target (hotcache or redis-server): the measuring
half of scripts/bench-hostile.sh, which starts the servers and calls this once
per case and target.

    hostile.py run CASE --target hotcache|redis --port P --pid PID
                        --redis-port RP [--upstream-pid RPID] --out results.jsonl
    hostile.py table results.jsonl      # plain-text and Markdown tables

CASE is nonreader, pubsub, deep, kill (one try; the shell runs five) or mget.
Every case is measured the same way: a monitor process samples the server's
VmRSS every 20 ms (growth = peak during the case minus the sample before it)
and a bystander connection sends PING every 50 ms, timing each round trip.
The monitor runs in its own process so that the GIL of the hostile clients
never adds to the latency it measures.

Standard library only: raw sockets, RESP written and read by hand.
"""

import argparse
import json
import multiprocessing as mp
import os
import selectors
import socket
import threading
import time

HOST = "127.0.0.1"
MB = 1 << 20
PING_EVERY = 0.05
PING_TIMEOUT = 5.0  # a PING slower than this counts as an error (and as the worst)
RSS_EVERY = 0.02

# The project's targets for hotcache (README, issue 12). Redis is shown beside
# them as the reference and is not graded.
TARGET_RSS_MB = 200
TARGET_PING_MS = 200
TARGET_CLOSE_S = 1.0


# ---------------------------------------------------------------- RESP


def cmd(*args) -> bytes:
    """One command as a RESP multibulk."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Reply:
    __slots__ = ("raw", "top_len", "nonnull")

    def __init__(self, raw, top_len, nonnull):
        self.raw = raw  # the reply's exact bytes
        self.top_len = top_len  # element count of a top-level aggregate, else None
        self.nonnull = nonnull  # non-null bulk strings directly inside it


AGGREGATES = b"*%~>"
BULKS = b"$=!"


class Reader:
    """Incremental, iterative RESP reader: no recursion, so a 1000-deep reply is
    no problem, and it resumes where it stopped when more bytes arrive, so a
    reply of a million elements is scanned once."""

    def __init__(self):
        self.buf = bytearray()
        self.pos = 0
        self.stack = []  # elements still owed by each open aggregate
        self.top_len = None
        self.nonnull = 0

    def feed(self, data):
        self.buf += data

    def next(self):
        """The next complete reply, or None until more bytes arrive."""
        buf, pos, stack = self.buf, self.pos, self.stack
        while True:
            nl = buf.find(b"\r\n", pos)
            if nl < 0:
                break
            t = buf[pos]
            if t in AGGREGATES:
                n = int(buf[pos + 1 : nl])
                if t == ord("%"):
                    n *= 2
                pos = nl + 2
                if not stack:
                    self.top_len = n
                if n > 0:
                    stack.append(n)
                    continue
            elif t in BULKS:
                n = int(buf[pos + 1 : nl])
                if n >= 0:
                    end = nl + 2 + n + 2
                    if len(buf) < end:
                        break
                    if len(stack) == 1:
                        self.nonnull += 1
                    pos = end
                else:
                    pos = nl + 2
            else:
                pos = nl + 2
            # One element done: close every aggregate it completes.
            while stack:
                stack[-1] -= 1
                if stack[-1]:
                    break
                stack.pop()
            if not stack:
                r = Reply(bytes(buf[:pos]), self.top_len, self.nonnull)
                del buf[:pos]
                self.pos, self.top_len, self.nonnull = 0, None, 0
                return r
        self.pos = pos
        return None


class Closed(Exception):
    pass


class Conn:
    """A blocking client connection with deadlines on every read."""

    def __init__(self, port, timeout=2.0, rcvbuf=None):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            # Before connect, or the window is already agreed with the kernel's default.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(timeout)
        s.connect((HOST, port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = s
        self.reader = Reader()
        self.last_recv = None  # when the last bytes arrived (monotonic)

    def send(self, data, timeout=5.0):
        self.sock.settimeout(timeout)
        self.sock.sendall(data)

    def reply(self, timeout=2.0):
        deadline = time.monotonic() + timeout
        while True:
            r = self.reader.next()
            if r is not None:
                return r
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply in %.1f s" % timeout)
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                raise TimeoutError("no reply in %.1f s" % timeout) from None
            except OSError as e:
                raise Closed(str(e)) from None
            if not data:
                raise Closed("closed by the server")
            self.last_recv = time.monotonic()
            self.reader.feed(data)

    def call(self, *args, timeout=2.0):
        self.send(cmd(*args), timeout)
        return self.reply(timeout)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def bulk_text(r):
    """The payload of a bulk (or verbatim) string reply, as text."""
    raw = r.raw
    body = raw[raw.index(b"\r\n") + 2 : -2]
    if raw[:1] == b"=":
        body = body[4:]  # "txt:"
    return body.decode(errors="replace")


def client_list(conn):
    """CLIENT LIST as {name: {field: value}} (unnamed clients left out)."""
    out = {}
    for line in bulk_text(conn.call("CLIENT", "LIST")).splitlines():
        f = dict(kv.split("=", 1) for kv in line.split(" ") if "=" in kv)
        if f.get("name"):
            out[f["name"]] = f
    return out


def info_field(conn, section, field):
    for line in bulk_text(conn.call("INFO", section)).splitlines():
        if line.startswith(field + ":"):
            return int(line.split(":", 1)[1])
    return None


def tcp_buffer_max():
    """Most bytes the kernel may hold in one socket's receive plus one socket's
    send buffer (tcp_rmem/tcp_wmem maxima): bytes a server read from Redis but
    cannot have in its own memory yet."""
    total = 0
    for f in ("tcp_rmem", "tcp_wmem"):
        with open("/proc/sys/net/ipv4/" + f) as fh:
            total += int(fh.read().split()[2])
    return total


# ---------------------------------------------------------------- measuring


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def monitor_main(port, pids, ready, stop, out):
    """The measuring process: RSS of each pid every 20 ms, and a bystander
    PING every 50 ms on its own connection."""
    before = {p: rss_kb(p) for p in pids}
    peak = dict(before)
    gone = set()
    done = threading.Event()

    def sample_rss():
        while not done.is_set():
            for p in pids:
                v = rss_kb(p)
                if v is None:
                    gone.add(p)
                elif peak[p] is None or v > peak[p]:
                    peak[p] = v
            time.sleep(RSS_EVERY)

    res = {"pings": 0, "ping_errors": 0, "ping_worst_ms": 0.0, "ping_worst_at": None, "ping_error_samples": []}

    def error(what):
        res["ping_errors"] += 1
        if len(res["ping_error_samples"]) < 3:
            res["ping_error_samples"].append(what)

    conn = None

    def ping_once():
        nonlocal conn
        try:
            if conn is None:
                conn = Conn(port, timeout=PING_TIMEOUT)
            t = time.monotonic()
            r = conn.call("PING", timeout=PING_TIMEOUT)
            rtt = (time.monotonic() - t) * 1000
            res["pings"] += 1
            if rtt > res["ping_worst_ms"]:
                res["ping_worst_ms"], res["ping_worst_at"] = rtt, t
            if r.raw != b"+PONG\r\n":
                error("reply %r" % r.raw[:60])
        except TimeoutError:  # (connect timeouts too: socket.timeout is TimeoutError)
            res["pings"] += 1
            res["ping_worst_ms"] = max(res["ping_worst_ms"], PING_TIMEOUT * 1000)
            error("no PONG in %.0f s" % PING_TIMEOUT)
            if conn:
                conn.close()
            conn = None  # out of step now: a late PONG would answer the next PING
        except (OSError, Closed) as e:
            error("connection: %s" % e)
            if conn:
                conn.close()
            conn = None
            time.sleep(0.1)

    ping_once()  # connected and answered once before the case starts (or noted)
    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    ready.set()
    while not stop.is_set():
        t = time.monotonic()
        ping_once()
        time.sleep(max(0.0, t + PING_EVERY - time.monotonic()))
    done.set()
    sampler.join()
    res["rss_before_kb"] = {str(p): before[p] for p in pids}
    res["rss_peak_kb"] = {str(p): peak[p] for p in pids}
    res["exited"] = [str(p) for p in gone]
    out.put(res)


def load_main(port, n, ready, stop, out):
    """n bystander clients alternating SET and GET of their own key (checked),
    on one selector loop; a request unanswered within 2 s is an error and its
    connection is replaced."""
    sel = selectors.DefaultSelector()
    res = {"ops": 0, "errors": 0, "error_samples": [], "worst_ms": 0.0}

    def error(what):
        res["errors"] += 1
        if len(res["error_samples"]) < 3:
            res["error_samples"].append(what)

    class C:
        pass

    def start(c):
        try:
            s = socket.create_connection((HOST, port), timeout=1.0)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.setblocking(False)
        except OSError as e:
            error("connect: %s" % e)
            c.sock, c.retry_at = None, time.monotonic() + 0.1
            return
        c.sock, c.reader, c.n = s, Reader(), 0
        sel.register(s, selectors.EVENT_READ, c)
        issue(c)

    def drop(c, what):
        error(what)
        sel.unregister(c.sock)
        c.sock.close()
        c.sock, c.retry_at = None, time.monotonic()

    def issue(c):
        c.n += 1
        # Odd: SET the key to v<n>; even: GET it, which must give v<n-1> back.
        last = b"v%d" % (c.n - 1)
        c.expect = b"+OK\r\n" if c.n % 2 else b"$%d\r\n%s\r\n" % (len(last), last)
        req = cmd("SET", c.key, b"v%d" % c.n) if c.n % 2 else cmd("GET", c.key)
        c.sent = time.monotonic()
        try:
            c.sock.send(req)  # tiny: fits the empty send buffer
        except OSError as e:
            drop(c, "send: %s" % e)

    conns = []
    for i in range(n):
        c = C()
        c.key = b"hostile:bystander:%d:%d" % (os.getpid(), i)
        start(c)
        conns.append(c)
    ready.set()
    while not stop.is_set():
        for key, _ in sel.select(timeout=0.05):
            c = key.data
            if c.sock is not key.fileobj:
                continue  # dropped earlier in this batch
            try:
                data = c.sock.recv(65536)
            except OSError as e:
                drop(c, "recv: %s" % e)
                continue
            if not data:
                drop(c, "closed by the server")
                continue
            c.reader.feed(data)
            r = c.reader.next()
            if r is None:
                continue
            res["ops"] += 1
            res["worst_ms"] = max(res["worst_ms"], (time.monotonic() - c.sent) * 1000)
            if r.raw != c.expect:
                error("expected %r, got %r" % (c.expect, r.raw[:80]))
            issue(c)
        now = time.monotonic()
        for c in conns:
            if c.sock is None:
                if now >= c.retry_at:
                    start(c)
            elif now - c.sent > 2.0:
                drop(c, "no reply in 2 s")
    out.put(res)


class Background:
    """Runs monitor_main or load_main in a forked process."""

    def __init__(self, fn, *args):
        ctx = mp.get_context("fork")
        self.ready, self.stop, self.out = ctx.Event(), ctx.Event(), ctx.Queue()
        self.proc = ctx.Process(target=fn, args=args + (self.ready, self.stop, self.out), daemon=True)

    def __enter__(self):
        self.proc.start()
        self.ready.wait(15)
        return self

    def __exit__(self, *exc):
        self.stop.set()

    def result(self):
        self.stop.set()
        try:
            return self.out.get(timeout=PING_TIMEOUT + 10)
        except Exception:
            self.proc.kill()
            return None


# ---------------------------------------------------------------- cases


def setup_redis(a):
    """Data straight into Redis (not through the target): big10 for the
    non-reader, every tenth key of k0..k999999 for the MGET."""
    r = Conn(a.redis_port, timeout=30)
    if a.case == "nonreader":
        r.call("SET", "big10", b"x" * (10 * MB), timeout=30)
    if a.case == "mget":
        for lo in range(0, 1_000_000, 100_000):
            args = ["MSET"]
            for i in range(lo, lo + 100_000, 10):
                args += ["k%d" % i, "v%d" % i]
            r.call(*args, timeout=30)
    r.close()


def parse_size(v):
    """A size as Redis writes it: 64mb, 512kb, 1gb, 100m (10^6), plain bytes."""
    v = v.strip().lower()
    for suffix, mult in (("gb", 1 << 30), ("mb", MB), ("kb", 1 << 10), ("g", 10**9), ("m", 10**6), ("k", 1000), ("b", 1)):
        if v.endswith(suffix):
            return int(float(v[: -len(suffix)]) * mult)
    return int(v)


def target_limit(a, klass):
    """The target's client output buffer hard limit in bytes for a client
    class. Both show Redis's form (`normal <hard> <soft> <secs> slave ...
    pubsub ...`); hotcache's CONFIG GET names its own settings hotcache.*."""
    name = "hotcache.client-output-buffer-limit" if a.target == "hotcache" else "client-output-buffer-limit"
    c = Conn(a.port)
    try:
        v = c.call("CONFIG", "GET", name).raw.split(b"\r\n")[-2].decode()  # the value: the last bulk
    finally:
        c.close()
    f = v.split()
    i = f.index(klass)
    return parse_size(f[i + 1]), "%s class, hard limit" % klass


def watch_closure(a, name, limit, start):
    """Calls start() (which starts the hostile part and returns its start
    time), then polls CLIENT LIST on the target every 20 ms until the client
    called `name` is gone, or for 10 s. For hotcache it also polls the
    upstream Redis's total_net_output_bytes: once Redis has sent hotcache more
    than limit + the kernel's socket buffers for this client, hotcache holds
    more than limit of that client's replies, whatever its own omem says."""
    ctl = Conn(a.port)
    up = Conn(a.redis_port) if a.target == "hotcache" else None
    slack = tcp_buffer_max()
    base = info_field(up, "stats", "total_net_output_bytes") if up else None
    w = {"seen": None, "closed_at": None, "passed_at": None, "passed_by": None,
         "omem_peak": 0, "upstream_bytes_peak": 0, "lists": 0, "list_timeouts": 0, "list_worst_ms": 0.0}
    if name not in client_list(ctl):
        raise RuntimeError("%s is not in the target's CLIENT LIST" % name)
    t0 = start()
    w["seen"] = 0.0  # listed just before the start
    deadline = t0 + 10
    while time.monotonic() < deadline:
        sent = time.monotonic()
        try:
            clients = client_list(ctl)
        except (TimeoutError, Closed, OSError):
            w["list_timeouts"] += 1  # a stalled server: keep asking, on a new connection
            ctl.close()
            try:
                ctl = Conn(a.port)
            except OSError:
                time.sleep(0.1)
            clients = None
        got = time.monotonic()
        if clients is not None:
            w["lists"] += 1
            w["list_worst_ms"] = max(w["list_worst_ms"], (got - sent) * 1000)
            c = clients.get(name)
            if c is None:
                w["closed_at"] = got - t0  # gone by the time this list was made
                break
            w["seen"] = sent - t0  # still there when this list was asked for
            omem = int(c.get("omem", 0))
            w["omem_peak"] = max(w["omem_peak"], omem)
            if omem > limit and w["passed_at"] is None:
                w["passed_at"], w["passed_by"] = got - t0, "omem"
        if up:
            try:
                d = info_field(up, "stats", "total_net_output_bytes") - base
                w["upstream_bytes_peak"] = max(w["upstream_bytes_peak"], d)
                if d > limit + slack and w["passed_at"] is None:
                    w["passed_at"], w["passed_by"] = time.monotonic() - t0, "upstream bytes"
            except (TimeoutError, Closed, OSError):
                pass
        time.sleep(0.02)
    ctl.close()
    if up:
        up.close()
    if w["closed_at"] is not None:
        if w["passed_at"] is not None:
            w["delay"] = max(0.0, w["closed_at"] - w["passed_at"])
        else:
            # Closed before we saw the limit passed: at most one poll after the
            # last time it was listed.
            w["delay"] = w["closed_at"] - w["seen"]
        w["within_1s"] = w["delay"] <= TARGET_CLOSE_S
    else:
        w["within_1s"] = False
    return w


def drain(conn, seconds=2.0, cap=256 * MB):
    """What the client side sees once it reads again: EOF/reset (closed) or
    still data after `seconds`/`cap` bytes (open)."""
    deadline = time.monotonic() + seconds
    n = 0
    s = conn.sock
    while time.monotonic() < deadline and n < cap:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            d = s.recv(4 * MB)
        except socket.timeout:
            return "open (silent, %.1f MB read)" % (n / MB)
        except OSError as e:
            return "reset (%s) after %.1f MB" % (e.strerror or e, n / MB)
        if not d:
            return "EOF after %.1f MB" % (n / MB)
        n += len(d)
    return "open (%.1f MB read in %.1f s)" % (n / MB, seconds)


def case_nonreader(a):
    limit, limit_src = target_limit(a, "normal")
    nr = Conn(a.port, rcvbuf=4096)
    nr.call("CLIENT", "SETNAME", "hostile-nonreader")

    def start():
        t0 = time.monotonic()
        nr.send(cmd("GET", "big10") * 300)  # ~9 KB: leaves at once, whatever the window
        return t0

    w = watch_closure(a, "hostile-nonreader", limit, start)
    w["client_side"] = drain(nr)
    nr.close()
    w.update(limit=limit, limit_src=limit_src)
    return w


def case_pubsub(a):
    limit, limit_src = target_limit(a, "pubsub")
    sub = Conn(a.port, rcvbuf=4096)
    sub.call("CLIENT", "SETNAME", "hostile-subscriber")
    sub.call("SUBSCRIBE", "hostile-ch")  # the confirmation; nothing read after it
    pub = Conn(a.port, timeout=5)
    msg = cmd("PUBLISH", "hostile-ch", b"m" * MB)
    p = {"published": 0, "receivers_zero_at": None, "pub_error": None}
    t0 = None
    stop = threading.Event()

    def publish():
        # 1 MB messages for 3 s, at most 1000 (1 GB: enough to tell a 64 MB
        # limit from none without swapping the machine); stopped early once
        # the subscriber is seen closed, as nothing more is learnt.
        try:
            while not stop.is_set() and time.monotonic() < t0 + 3 and p["published"] < 1000:
                pub.send(msg)
                r = pub.reply(timeout=5)
                p["published"] += 1
                if r.raw == b":0\r\n" and p["receivers_zero_at"] is None:
                    p["receivers_zero_at"] = time.monotonic() - t0
        except (TimeoutError, Closed, OSError) as e:
            p["pub_error"] = "publisher: %s" % e

    th = threading.Thread(target=publish, daemon=True)

    def start():
        nonlocal t0
        t0 = time.monotonic()
        th.start()
        return t0

    w = watch_closure(a, "hostile-subscriber", limit, start)
    stop.set()
    th.join(10)
    w["client_side"] = drain(sub)
    sub.close()
    pub.close()
    w.update(p, limit=limit, limit_src=limit_src)
    return w


DEEP = b"local t = {} local c = t for i=1,999 do c[1] = {} c = c[1] end return t"


def case_deep(a):
    ref = Conn(a.redis_port)
    want = ref.call("EVAL", DEEP, 0).raw  # Redis's own bytes, asked directly
    ref.close()
    d = {"ref_bytes": len(want), "evals": 0, "identical": 0, "different": 0, "failed": 0, "samples": []}
    with Background(load_main, a.port, 20) as load:
        conn = None
        t0 = time.monotonic()
        while time.monotonic() < t0 + 3:
            try:
                conn = conn or Conn(a.port)
                got = conn.call("EVAL", DEEP, 0, timeout=5).raw
                d["evals"] += 1
                if got == want:
                    d["identical"] += 1
                else:
                    d["different"] += 1
                    if len(d["samples"]) < 2:
                        d["samples"].append("%d bytes: %r" % (len(got), got[:100]))
            except (TimeoutError, Closed, OSError) as e:
                d["failed"] += 1
                if len(d["samples"]) < 2:
                    d["samples"].append("EVAL client: %s" % e)
                if conn:
                    conn.close()
                conn = None
        if conn:
            conn.close()
        d["load"] = load.result()
    d["byte_identical"] = d["identical"] > 0 and d["different"] == 0 and d["failed"] == 0
    return d


def kill_script_on_redis(port):
    """Straight to Redis: ends any script still running so that a failed try
    does not poison the next (NOTBUSY means none was)."""
    for _ in range(50):
        try:
            c = Conn(port)
            r = c.call("SCRIPT", "KILL").raw
            c.close()
            if r.startswith(b"-NOTBUSY"):
                return
        except (TimeoutError, Closed, OSError):
            pass
        time.sleep(0.1)


def case_kill(a):
    k = {"b": None, "a": None, "ping": None}
    A = Conn(a.port)
    try:
        A.send(cmd("EVAL", "while true do end", 0))
        time.sleep(0.2)
        B = Conn(a.port)
        t = time.monotonic()
        try:
            k["b"] = B.call("SCRIPT", "KILL", timeout=3).raw.decode(errors="replace").strip()
        except (TimeoutError, Closed, OSError) as e:
            k["b"] = "no reply: %s" % e
        k["b_ms"] = (time.monotonic() - t) * 1000
        try:
            k["a"] = A.reply(timeout=3).raw.decode(errors="replace").strip()
        except (TimeoutError, Closed, OSError) as e:
            k["a"] = "no reply: %s" % e
        try:
            t = time.monotonic()
            P = Conn(a.port)
            k["ping"] = P.call("PING", timeout=2).raw.decode().strip()
            k["ping_ms"] = (time.monotonic() - t) * 1000
            P.close()
        except (TimeoutError, Closed, OSError) as e:
            k["ping"] = "no PONG in 2 s: %s" % e
        B.close()
    finally:
        A.close()
        kill_script_on_redis(a.redis_port)
    k["success"] = k["b"] == "+OK" and "Script killed by user" in (k["a"] or "") and k["ping"] == "+PONG"
    return k


def case_mget(a):
    n = 1_000_000
    req = b"".join([b"*%d\r\n$4\r\nMGET\r\n" % (n + 1)] + [b"$%d\r\nk%d\r\n" % (len(b"k%d" % i), i) for i in range(n)])
    m = {"request_mb": len(req) / MB}
    c = Conn(a.port)
    t0 = time.monotonic()
    try:
        c.send(req, timeout=30)
        r = c.reply(timeout=max(1.0, t0 + 60 - time.monotonic()))
        m["seconds"] = c.last_recv - t0
        m["replies"] = r.top_len if r.raw[:1] == b"*" else 0
        m["found"] = r.nonnull
        if r.raw[:1] != b"*":
            m["error"] = r.raw[:120].decode(errors="replace").strip()
    except (TimeoutError, Closed, OSError) as e:
        m["error"] = str(e)
        m["seconds"] = time.monotonic() - t0
        m["replies"] = None
    c.close()
    return m


CASES = {"nonreader": case_nonreader, "pubsub": case_pubsub, "deep": case_deep, "kill": case_kill, "mget": case_mget}


def run(a):
    setup_redis(a)
    pids = [a.pid] + ([a.upstream_pid] if a.upstream_pid else [])
    rec = {"case": a.case, "target": a.target}
    with Background(monitor_main, a.port, pids) as mon:
        try:
            rec["result"] = CASES[a.case](a)
        except Exception as e:  # a case that broke still reports what the monitor saw
            rec["result"] = {"error": "%s: %s" % (type(e).__name__, e)}
        m = mon.result()
    if m:
        before, peak = m["rss_before_kb"], m["rss_peak_kb"]
        rec["rss_growth_mb"] = (peak[str(a.pid)] - before[str(a.pid)]) / 1024
        if a.upstream_pid:
            rec["upstream_rss_growth_mb"] = (peak[str(a.upstream_pid)] - before[str(a.upstream_pid)]) / 1024
        rec["ping_worst_ms"] = m["ping_worst_ms"]
        rec["ping_worst_at"] = m["ping_worst_at"]
        rec["ping_errors"] = m["ping_errors"]
        rec["pings"] = m["pings"]
        rec["ping_error_samples"] = m["ping_error_samples"]
        rec["exited"] = str(a.pid) in m["exited"]
    with open(a.out, "a") as f:
        f.write(json.dumps(rec) + "\n")
    print("  %s on %s: %s" % (a.case, a.target, one_line(rec)), flush=True)


# ---------------------------------------------------------------- table

LABELS = {
    "nonreader": "1 non-reader: 300 x GET 10 MB",
    "pubsub": "1b pub/sub non-reader: 1 MB PUBLISHes",
    "deep": "2 deep reply: EVAL 1000 levels",
    "kill": "3 SCRIPT KILL x5",
    "mget": "4 MGET of 1,000,000 keys",
}


def grade(text, ok, target, graded):
    if not graded:
        return text
    return "%s [%s: %s]" % (text, target, "met" if ok else "MISSED")


def merge(recs):
    """One row from a case's records (SCRIPT KILL has one per try)."""
    out = {"case": recs[0]["case"], "target": recs[0]["target"], "aborted": [], "tries": [], "notes": []}
    for r in recs:
        # From the shell: remarks (restarts, no PONG) and runs it had to stop.
        if "note" in r:
            out["notes"].append(r["note"])
            continue
        if "aborted" in r:
            out["aborted"].append(r["aborted"])
            continue
        out["tries"].append(r)
    ok = out["tries"]
    out["rss"] = max((r["rss_growth_mb"] for r in ok if "rss_growth_mb" in r), default=None)
    out["ping"] = max((r["ping_worst_ms"] for r in ok if "ping_worst_ms" in r), default=None)
    out["errors"] = sum(r.get("ping_errors", 0) for r in ok)
    for r in ok:
        load = r["result"].get("load") if isinstance(r.get("result"), dict) else None
        if load:
            out["errors"] += load["errors"]
    return out


def result_text(row):
    """The result column and whether it meets the case's target."""
    text, ok, target = result_only(row)
    if any(r.get("exited") for r in row["tries"]):
        text += " (server process exited)"
    return text, ok, target


def result_only(row):
    case, tries = row["case"], row["tries"]
    if case == "kill":
        wins = sum(1 for r in tries if r["result"].get("success"))
        n = len(tries) + len(row["aborted"])
        text = "kills %d of %d" % (wins, n)
        if row["aborted"]:
            text += " (%d: %s)" % (len(row["aborted"]), row["aborted"][0])
        return text, wins == 5, "5 of 5"
    if not tries:
        return row["aborted"][0] if row["aborted"] else "no result", False, None
    res = tries[0]["result"]
    if "error" in res and case not in ("mget",):
        return "error: %s" % res["error"], False, None
    if case in ("nonreader", "pubsub"):
        if res["closed_at"] is None:
            text = "not closed in 10 s"
            if not res.get("lists"):
                text += " (CLIENT LIST never answered)"
            else:
                text += " (omem peak %.0f MB)" % (res["omem_peak"] / MB)
        else:
            text = "closed at %.2f s, %s%.2f s after limit" % (
                res["closed_at"], "" if res["passed_at"] is not None else "<=", res["delay"])
        return text, res["within_1s"], "closed <=1 s after limit"
    if case == "deep":
        if res["byte_identical"]:
            text = "identical (%d of %d EVALs)" % (res["identical"], res["evals"])
        else:
            text = "NOT identical: %d same, %d different, %d failed of %d" % (
                res["identical"], res["different"], res["failed"], res["evals"] + res["failed"])
        return text, res["byte_identical"], "identical"
    if case == "mget":
        if res.get("replies") is None:
            return "no reply: %s (%.1f s)" % (res.get("error"), res["seconds"]), False, "1,000,000 replies"
        text = "%s replies in %.2f s" % (format(res["replies"], ","), res["seconds"])
        if res.get("error"):
            text += " (%s)" % res["error"][:60]
        return text, res["replies"] == 1_000_000, "1,000,000 replies"
    return "?", False, None


def cells(row):
    graded = row["target"] == "hotcache"
    case = row["case"]
    rss = "-" if row["rss"] is None else "%.0f MB" % row["rss"]
    ping = "-" if row["ping"] is None else "%.0f ms" % row["ping"]
    if row["ping"] is not None and row["ping"] >= PING_TIMEOUT * 1000:
        ping = ">=%.0f ms (timeout)" % row["ping"]
    errs = str(row["errors"])
    if case in ("nonreader", "pubsub"):
        rss = grade(rss, row["rss"] is not None and row["rss"] <= TARGET_RSS_MB, "<=%d MB" % TARGET_RSS_MB, graded)
    if case in ("nonreader", "pubsub", "mget"):
        ping = grade(ping, row["ping"] is not None and row["ping"] <= TARGET_PING_MS, "<=%d ms" % TARGET_PING_MS, graded)
    if case == "deep":
        errs = grade(errs, row["errors"] == 0, "0", graded)
    text, ok, target = result_text(row)
    if target:
        text = grade(text, ok, target, graded)
    return [LABELS[case], row["target"], rss, ping, errs, text]


def one_line(rec):
    row = merge([rec])
    return " | ".join(cells(row)[2:])


def details(row):
    """Lines of what the table leaves out."""
    out = []
    for r in row["tries"]:
        res = r.get("result", {})
        bits = []
        if "upstream_rss_growth_mb" in r:
            bits.append("upstream redis RSS +%.0f MB" % r["upstream_rss_growth_mb"])
        if r.get("ping_error_samples"):
            bits.append("PING errors: %s" % "; ".join(r["ping_error_samples"]))
        if r.get("exited"):
            bits.append("SERVER PROCESS EXITED")
        if row["case"] in ("nonreader", "pubsub"):
            bits.append("limit %.0f MB (%s)" % (res["limit"] / MB, res["limit_src"]))
            if res.get("passed_at") is not None:
                bits.append("limit passed at %.2f s (by %s)" % (res["passed_at"], res["passed_by"]))
            bits.append("omem peak %.0f MB" % (res["omem_peak"] / MB))
            if res.get("upstream_bytes_peak"):
                bits.append("Redis sent hotcache %.0f MB" % (res["upstream_bytes_peak"] / MB))
            bits.append("client side afterwards: %s" % res["client_side"])
            bits.append("CLIENT LIST: %d answered (worst %.0f ms), %d timed out (2 s)" % (
                res.get("lists", 0), res["list_worst_ms"], res["list_timeouts"]))
            if row["case"] == "pubsub":
                bits.append("%d MB published" % res["published"])
                if res.get("receivers_zero_at") is not None:
                    bits.append("PUBLISH saw 0 receivers from %.2f s" % res["receivers_zero_at"])
                if res.get("pub_error"):
                    bits.append(res["pub_error"])
        if row["case"] == "deep":
            bits.append("Redis's reply %d bytes" % res.get("ref_bytes", 0))
            load = res.get("load") or {}
            bits.append("GET/SET bystanders: %s ops, %s errors, worst %.0f ms" % (
                load.get("ops"), load.get("errors"), load.get("worst_ms", 0)))
            if load.get("error_samples"):
                bits.append("e.g. %s" % "; ".join(load["error_samples"][:2]))
            if res.get("samples"):
                bits.append("EVAL client saw: %s" % "; ".join(res["samples"]))
        if row["case"] == "kill":
            bits.append("B got %r in %.0f ms; A got %r; PING %r" % (
                res.get("b"), res.get("b_ms", 0), (res.get("a") or "")[:90], res.get("ping")))
        if row["case"] == "mget":
            found = res.get("found")
            if found is not None:
                bits.append("%s values found (100,000 set)" % format(found, ","))
            bits.append("request %.1f MB" % res.get("request_mb", 0))
            if res.get("error"):
                bits.append(res["error"][:120])
        if "error" in res and row["case"] != "mget":
            bits.append("case error: %s" % res["error"])
        out.append("; ".join(bits))
    out += row["aborted"] + row["notes"]
    return out


def table(path):
    recs = [json.loads(l) for l in open(path) if l.strip()]
    order = []
    groups = {}
    for r in recs:
        key = (r["case"], r["target"])
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(r)
    rows = [merge(groups[k]) for k in order]
    head = ["case", "target", "RSS growth", "bystander PING worst", "bystander errors", "result"]
    body = [cells(r) for r in rows]
    w = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    print()
    print("  ".join(h.ljust(w[i]) for i, h in enumerate(head)))
    print("  ".join("-" * n for n in w))
    for b in body:
        print("  ".join(c.ljust(w[i]) for i, c in enumerate(b)))
    print()
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for b in body:
        print("| " + " | ".join(b) + " |")
    print()
    print("[target: met/MISSED] marks the project's targets for hotcache; redis-server rows are the reference.")
    print()
    print("Details:")
    for r in rows:
        for line in details(r):
            print("  %s / %s: %s" % (r["case"], r["target"], line))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("case", choices=sorted(CASES))
    r.add_argument("--target", choices=["hotcache", "redis"], required=True)
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--pid", type=int, required=True)
    r.add_argument("--redis-port", type=int, required=True, help="the redis-server (the target itself, or behind hotcache)")
    r.add_argument("--upstream-pid", type=int, help="redis-server's pid when the target is hotcache")
    r.add_argument("--out", required=True)
    t = sub.add_parser("table")
    t.add_argument("results")
    a = ap.parse_args()
    if a.cmd == "run":
        run(a)
    else:
        table(a.results)


if __name__ == "__main__":
    main()
