#!/usr/bin/env python3
"""redis-py against hotcache: plain commands, pipelines (transactional and not),
pub/sub, in RESP2 and RESP3. Exits non-zero with a message on the first failure.

Usage: redis_py_client.py PORT
"""
import sys
import threading
import time

import redis


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)


def run(port, protocol):
    r = redis.Redis(port=port, protocol=protocol, decode_responses=True)
    check(r.ping(), "ping")
    r.flushdb()
    check(r.set("a", "1"), "set")
    check(r.get("a") == "1", "get")
    check(r.incr("a") == 2, "incr")
    check(r.mset({"x": "1", "y": "2"}), "mset")
    check(r.mget("x", "y", "nope") == ["1", "2", None], "mget")
    r.hset("h", mapping={"f1": "v1", "f2": "v2"})
    check(r.hgetall("h") == {"f1": "v1", "f2": "v2"}, "hgetall")
    r.zadd("z", {"m1": 1.5, "m2": 2})
    # redis-py gives tuples in RESP2 and lists in RESP3.
    zr = [tuple(x) for x in r.zrange("z", 0, -1, withscores=True)]
    check(zr == [("m1", 1.5), ("m2", 2.0)], f"zrange withscores {zr}")
    r.sadd("s", "a", "b")
    check(r.smembers("s") == {"a", "b"}, "smembers")
    try:
        r.lpush("a", "x")
        check(False, "WRONGTYPE expected")
    except redis.ResponseError as e:
        check("WRONGTYPE" in str(e), "WRONGTYPE text")

    # Default pipeline: MULTI/EXEC.
    with r.pipeline() as p:
        p.set("p1", "v").incr("counter").get("p1")
        check(p.execute() == [True, 1, "v"], "transactional pipeline")
    # Non-transactional pipeline.
    with r.pipeline(transaction=False) as p:
        for i in range(100):
            p.set(f"k{i}", i)
        for i in range(100):
            p.get(f"k{i}")
        res = p.execute()
        check(res[100:] == [str(i) for i in range(100)], "plain pipeline")
    # WATCH-based optimistic transaction.
    def incr_by_two(pipe):
        v = int(pipe.get("counter") or 0)
        pipe.multi()
        pipe.set("counter", v + 2)
    r.transaction(incr_by_two, "counter")
    check(r.get("counter") == "3", "watch transaction")

    # Pub/sub across two connections.
    pubsub = r.pubsub()
    pubsub.subscribe("chan")
    msg = pubsub.get_message(timeout=5)
    check(msg is not None and msg["type"] == "subscribe", f"subscribe confirmation {msg}")
    def publish():
        time.sleep(0.05)
        redis.Redis(port=port, protocol=protocol).publish("chan", "hello")
    t = threading.Thread(target=publish)
    t.start()
    msg = None
    deadline = time.time() + 5
    while msg is None and time.time() < deadline:
        msg = pubsub.get_message(timeout=1)
    t.join()
    check(msg is not None and msg["data"] == "hello", f"pubsub message {msg}")
    pubsub.close()

    # Blocking pop woken by another client.
    def push():
        time.sleep(0.05)
        redis.Redis(port=port, protocol=protocol).rpush("q", "job")
    t = threading.Thread(target=push)
    t.start()
    popped = r.blpop("q", timeout=5)
    check(popped is not None and list(popped) == ["q", "job"], f"blpop {popped}")
    t.join()
    r.close()


def main():
    port = int(sys.argv[1])
    for protocol in (2, 3):
        run(port, protocol)
    print("redis-py OK")


main()
