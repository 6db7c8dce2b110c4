#!/usr/bin/env python3
"""The cost of waking a parked connection: the round trip of the first PINGREQ after a
connection has been idle (parked) against the round trip of a PINGREQ right after it (awake).

    printf '[runtime]\npark_idle_ms = 100\n' > /tmp/park100.toml
    taskset -c 0 target/release/ringmq --runtime tokio --config /tmp/park100.toml \
        --listen 127.0.0.1:18841 --shards 1 --log warn &
    taskset -c 1 python3 benches/park_wake.py 18841 200 0.5

Arguments: port, connections (MQTT 3.1.1, keep alive 0), seconds to stay idle before each of
the 3 rounds (more than 1.5 x park_idle_ms, so that every connection parks). Prints the median
round trips in microseconds and their difference. Run it against `park_idle_ms = 0` too: the
difference there is the measurement's own.
"""
import socket
import statistics
import sys
import time

port=int(sys.argv[1]); n=int(sys.argv[2]); wait=float(sys.argv[3])
def connect(i):
    s=socket.create_connection(("127.0.0.1",port)); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    cid=f"wake{i}".encode()
    body=b"\x00\x04MQTT\x04\x02\x00\x00"+len(cid).to_bytes(2,"big")+cid
    s.sendall(bytes([0x10,len(body)])+body); r=s.recv(4); assert r[0]==0x20, r
    return s
def ping(s):
    t=time.perf_counter(); s.sendall(b"\xc0\x00"); r=s.recv(2); assert r==b"\xd0\x00", r
    return (time.perf_counter()-t)*1e6
socks=[connect(i) for i in range(n)]
cold=[];warm=[]
for rnd in range(3):
    time.sleep(wait)
    for s in socks:
        cold.append(ping(s)); warm.append(ping(s))
print(f"parked first ping median {statistics.median(cold):.0f} us, awake ping median {statistics.median(warm):.0f} us, diff {statistics.median(cold)-statistics.median(warm):.0f} us (n={len(cold)})")
