#!/usr/bin/env python3
"""Memory per idle MQTT connection: opens N connections to a broker, each sending a CONNECT and
reading its CONNACK, holds them idle, and reports the broker's resident memory (VmRSS of
/proc/PID/status) before, while they are open, and after they are closed.

    benches/idle_conns.py --port P --pid PID [--count 10000] [--version 5|4|3]
                          [--keepalive 0] [--settle 3] [--rate 0] [--batch 200]
                          [--host 127.0.0.1] [--json]

--rate R opens the connections at R a second (in batches of --batch) instead of as fast as
possible: a burst measures the broker's high-water mark, a paced run what an idle connection
holds once a broker has settled (ringmq parks idle connections after `runtime.park_idle_ms`,
and memory freed between other allocations is only reused by later connections).

--version 5 (default) is MQTT 5.0, 4 is 3.1.1, 3 is 3.1. Every connection uses a distinct
client identifier, clean start / clean session and no Session Expiry, so closing it frees its
session. Keep alive defaults to 0 (none), so the broker sends nothing while the connections
idle; a broker that imposes a Server Keep Alive longer than the run is fine too.

The script raises its own RLIMIT_NOFILE soft limit to the hard limit. The broker needs
--count + a few descriptors as well: when its soft limit is lower, the script raises it to its
hard limit with prlimit(2) (allowed for a process of the same user) and says so.

Growth per connection is (RSS while open - RSS before) / count, in KiB (1024 bytes). The run
needs no third-party package. Example, ringmq with one shard against Mosquitto:

    target/release/ringmq --listen 127.0.0.1:18830 --shards 1 --log warn &
    benches/idle_conns.py --port 18830 --pid $!
"""

import argparse
import json
import os
import resource
import socket
import struct
import sys
import time


def rss_kib(pid):
    """VmRSS, RssAnon and RssFile of a process, in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"):
                out[key] = int(rest.split()[0])
    return out


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def mqtt_str(s):
    b = s.encode()
    return struct.pack("!H", len(b)) + b


def connect_packet(version, client_id, keepalive):
    """A CONNECT with clean start and no will, user name or password."""
    if version == 3:
        head = mqtt_str("MQIsdp") + bytes([3])
    else:
        head = mqtt_str("MQTT") + bytes([version])
    body = head + bytes([0x02]) + struct.pack("!H", keepalive)
    if version == 5:
        body += varint(0)  # no properties: Session Expiry Interval 0
    body += mqtt_str(client_id)
    return bytes([0x10]) + varint(len(body)) + body


def read_connack(sock):
    """Reads one CONNACK and returns its reason / return code."""
    buf = b""
    while True:
        if len(buf) >= 2:
            # remaining length is at most 4 bytes
            n, mult, i = 0, 1, 1
            while i < len(buf):
                b = buf[i]
                n += (b & 0x7F) * mult
                mult *= 128
                i += 1
                if not b & 0x80:
                    break
            else:
                n = None
            if n is not None and len(buf) >= i + n:
                if buf[0] != 0x20:
                    raise RuntimeError(f"expected CONNACK, got packet type {buf[0] >> 4}")
                return buf[i + 1]
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("connection closed before CONNACK")
        buf += chunk


def raise_nofile(pid, need):
    """Raises our soft RLIMIT_NOFILE to the hard limit, and the broker's if below `need`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < need:
        print(f"warning: our hard RLIMIT_NOFILE {hard} is below {need}", file=sys.stderr)
    try:
        bsoft, bhard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    except PermissionError:
        # e.g. Mosquitto started as root switches to its own user: read the limit instead.
        with open(f"/proc/{pid}/limits") as f:
            line = next(l for l in f if l.startswith("Max open files"))
        bsoft = int(line.split()[3])
        if bsoft < need:
            print(f"warning: the broker's RLIMIT_NOFILE soft limit {bsoft} is below {need} "
                  "and we may not raise it", file=sys.stderr)
        return
    if bsoft < need:
        new = min(bhard, max(need, bsoft)) if bhard != resource.RLIM_INFINITY else need
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (new, bhard))
        print(f"raised the broker's RLIMIT_NOFILE soft limit {bsoft} -> {new}", file=sys.stderr)
        if new < need:
            print(f"warning: the broker's hard limit {bhard} is below {need}", file=sys.stderr)


def open_connections(args):
    """Opens `count` connections, `batch` at a time, each CONNECT answered by a CONNACK."""
    socks = []
    t0 = time.monotonic()
    for start in range(0, args.count, args.batch):
        if args.rate > 0:
            # Paced: batch k starts no earlier than k * batch / rate seconds in.
            due = t0 + start / args.rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        pending = []
        for i in range(start, min(start + args.batch, args.count)):
            s = socket.create_connection((args.host, args.port), timeout=30)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(connect_packet(args.version, f"idle-{os.getpid()}-{i}", args.keepalive))
            pending.append(s)
        for s in pending:
            code = read_connack(s)
            if code != 0:
                raise RuntimeError(f"CONNACK code {code:#04x}")
        socks.extend(pending)
    return socks, time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True, help="the broker's process id")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--version", type=int, choices=(3, 4, 5), default=5)
    ap.add_argument("--keepalive", type=int, default=0, help="seconds (0: none)")
    ap.add_argument("--batch", type=int, default=200, help="CONNECTs in flight at once")
    ap.add_argument("--rate", type=float, default=0,
                    help="connections per second, opened in paced batches (0: as fast as possible)")
    ap.add_argument("--settle", type=float, default=3.0, help="seconds to wait before reading RSS")
    ap.add_argument("--json", action="store_true", help="also print one JSON line")
    args = ap.parse_args()

    raise_nofile(args.pid, args.count + 64)
    time.sleep(args.settle)
    before = rss_kib(args.pid)
    socks, took = open_connections(args)
    time.sleep(args.settle)
    during = rss_kib(args.pid)
    for s in socks:
        s.close()
    time.sleep(args.settle)
    after = rss_kib(args.pid)

    n = args.count
    per = (during["VmRSS"] - before["VmRSS"]) / n
    per_anon = (during.get("RssAnon", 0) - before.get("RssAnon", 0)) / n
    print(f"broker pid {args.pid}, {n} idle MQTT {'3.1' if args.version == 3 else '3.1.1' if args.version == 4 else '5.0'} "
          f"connections, keep alive {args.keepalive}, opened in {took:.1f} s")
    print(f"VmRSS before        {before['VmRSS']:>9} KiB")
    print(f"VmRSS with {n:<6}   {during['VmRSS']:>9} KiB  (RssAnon {during.get('RssAnon', 0)} KiB)")
    print(f"VmRSS after close   {after['VmRSS']:>9} KiB  (VmHWM {after.get('VmHWM', 0)} KiB)")
    print(f"growth per connection {per:.2f} KiB (anonymous memory {per_anon:.2f} KiB); "
          f"after close {after['VmRSS'] - before['VmRSS']:+d} KiB vs before")
    if args.json:
        print(json.dumps({"pid": args.pid, "count": n, "version": args.version,
                          "keepalive": args.keepalive, "before": before, "during": during,
                          "after": after, "per_conn_kib": round(per, 3),
                          "per_conn_anon_kib": round(per_anon, 3)}))


if __name__ == "__main__":
    main()
