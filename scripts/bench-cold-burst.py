#!/usr/bin/env python3
"""300 clients GET one cold key at the same moment, five times: how many GETs
reach Redis (INFO commandstats on the redis-server itself) per burst.

Usage: scripts/bench-cold-burst.py REDIS_PORT HOTCACHE_PORT"""
import socket, subprocess, sys, time
rport, hport = int(sys.argv[1]), int(sys.argv[2])
def cmd(port, *a):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"".join([b"*%d\r\n" % len(a)] + [b"$%d\r\n%s\r\n" % (len(x), x) for x in a]))
    time.sleep(0.05); d = s.recv(1 << 20); s.close(); return d
res = []
for r in range(5):
    key = b"cold%d" % r
    cmd(rport, b"SET", key, b"v" * 64)
    time.sleep(0.2)  # let the tracking streams apply the SET's invalidation
    cmd(rport, b"CONFIG", b"RESETSTAT")
    socks = [socket.create_connection(("127.0.0.1", hport)) for _ in range(300)]
    req = b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(key), key)
    for s in socks: s.sendall(req)
    for s in socks:
        d = b""
        while not d.endswith(b"\r\n") or len(d) < 70: d += s.recv(4096)
    for s in socks: s.close()
    st = cmd(rport, b"INFO", b"commandstats").decode()
    calls = [l for l in st.split("\r\n") if l.startswith("cmdstat_get:")]
    res.append(calls[0].split(",")[0].split("=")[1] if calls else "0")
print("upstream GETs per burst of 300:", " ".join(res))
