#!/usr/bin/env python3
"""Seed corpus for the mqtt-proto fuzz targets. See fuzz/README.md.

    python3 fuzz/seeds.py generate        # rewrite fuzz/seeds/valid and fuzz/seeds/nanomq
    python3 fuzz/seeds.py corpus TARGET   # fill fuzz/corpus/TARGET from fuzz/seeds

Files in fuzz/seeds/ are raw MQTT byte streams, as a peer would write them on a fresh
connection. The fuzz targets read `[selector] [target header] [stream]`, so `corpus` prepends
the selector byte (and, for encode_within, a two-byte maximum packet size) to each seed.

Seed names under valid/ say which decoder options they are valid for:
`{v31|v311|v5}-{c2s|s2c}-{name}.bin`: c2s is a client's stream (DecodeOptions::server), s2c a
server's (DecodeOptions::client). mqtt-proto/tests/corpus_regression.rs checks that each one
decodes completely, with no error and no byte left over, under those options (with the topic
alias maximum raised to 65,535).

fuzz/seeds/crashes/ holds inputs that once crashed a target (raw streams too, named
`{v31|v311|v5}-{c2s|s2c}-{what}.bin` like valid/); `generate` leaves it alone.
"""

import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, "seeds")
SHARED = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "data"))

# ---------------------------------------------------------------------------------------------
# Wire helpers


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def s(text):
    b = text.encode() if isinstance(text, str) else text
    return struct.pack(">H", len(b)) + b


def u8(v):
    return bytes([v])


def u16(v):
    return struct.pack(">H", v)


def u32(v):
    return struct.pack(">I", v)


def pkt(first, body):
    return u8(first) + varint(len(body)) + body


def props(*items):
    body = b"".join(items)
    return varint(len(body)) + body


def user(k, v):
    return u8(0x26) + s(k) + s(v)


# ---------------------------------------------------------------------------------------------
# Packets per version. `v` is "v31", "v311" or "v5".

V5 = "v5"


def connect(v, flags, keep_alive, client_id, *, cprops=b"", will=None, username=None,
            password=None):
    name, level = {"v31": ("MQIsdp", 3), "v311": ("MQTT", 4), "v5": ("MQTT", 5)}[v]
    body = s(name) + u8(level) + u8(flags) + u16(keep_alive)
    if v == V5:
        body += props(cprops)
    body += s(client_id)
    if will is not None:
        wprops, topic, payload = will
        if v == V5:
            body += props(wprops)
        body += s(topic) + s(payload)
    if username is not None:
        body += s(username)
    if password is not None:
        body += s(password)
    return pkt(0x10, body)


def publish(v, topic, payload, *, qos=0, pid=0, dup=False, retain=False, pprops=b""):
    first = 0x30 | (0x08 if dup else 0) | (qos << 1) | (1 if retain else 0)
    body = s(topic)
    if qos:
        body += u16(pid)
    if v == V5:
        body += props(pprops)
    return pkt(first, body + payload)


def ack(v, first, pid, code=None, aprops=None):
    body = u16(pid)
    if v == V5 and code is not None:
        body += u8(code)
        if aprops is not None:
            body += props(aprops)
    return pkt(first, body)


def subscribe(v, pid, filters, sprops=b""):
    body = u16(pid)
    if v == V5:
        body += props(sprops)
    for f, opts in filters:
        body += s(f) + u8(opts)
    return pkt(0x82, body)


def suback(v, pid, codes, aprops=b""):
    body = u16(pid)
    if v == V5:
        body += props(aprops)
    return pkt(0x90, body + bytes(codes))


def unsubscribe(v, pid, filters, uprops=b""):
    body = u16(pid)
    if v == V5:
        body += props(uprops)
    for f in filters:
        body += s(f)
    return pkt(0xA2, body)


def unsuback(v, pid, codes=(), aprops=b""):
    body = u16(pid)
    if v == V5:
        body += props(aprops) + bytes(codes)
    return pkt(0xB0, body)


def short(first, code=None, p=None):
    body = b""
    if code is not None:
        body += u8(code)
        if p is not None:
            body += props(p)
    return pkt(first, body)


def client_packets(v):
    """Packets a client sends, valid for DecodeOptions::server(v) (topic aliases allowed)."""
    out = {}
    out["connect-min"] = connect(v, 0x02, 60, "ringmq-seed")
    # will QoS 1 + retain + user name + password
    flags = 0x80 | 0x40 | 0x20 | (1 << 3) | 0x04 | 0x02
    cprops = b""
    wprops = b""
    if v == V5:
        cprops = (u8(0x11) + u32(3600) + u8(0x21) + u16(20) + u8(0x27) + u32(65536)
                  + u8(0x22) + u16(10) + u8(0x19) + u8(1) + u8(0x17) + u8(0)
                  + user("k", "v") + user("k", "v2")
                  + u8(0x15) + s("SCRAM-SHA-1") + u8(0x16) + s(b"\x00\x01\xff"))
        wprops = (u8(0x18) + u32(30) + u8(0x01) + u8(1) + u8(0x02) + u32(600)
                  + u8(0x03) + s("text/plain") + u8(0x08) + s("reply/here")
                  + u8(0x09) + s(b"\xde\xad") + user("w", "x"))
    out["connect-full"] = connect(v, flags, 0, "client-\u00e9\ufeff", cprops=cprops,
                                  will=(wprops, "last/will", b"gone\x00"), username="user",
                                  password=b"p\x00ss")
    if v != "v31":
        out["connect-empty-id"] = connect(v, 0x02, 10, "")
    out["publish-qos0"] = publish(v, "a/b", b"hello")
    out["publish-qos1"] = publish(v, "a/b/c", b"\x00\x01\x02", qos=1, pid=1, retain=True)
    out["publish-qos2-dup"] = publish(v, "$SYS/x", b"", qos=2, pid=65535, dup=True)
    if v == V5:
        pp = (u8(0x01) + u8(1) + u8(0x02) + u32(10) + u8(0x23) + u16(1)
              + u8(0x08) + s("resp/topic") + u8(0x09) + s(b"corr") + user("a", "b")
              + u8(0x03) + s("application/json"))
        out["publish-props"] = publish(v, "with/props", b"{}", qos=1, pid=7, pprops=pp)
        out["publish-alias-only"] = publish(v, "", b"aliased", pprops=u8(0x23) + u16(1))
    out["puback"] = ack(v, 0x40, 1)
    out["pubrec"] = ack(v, 0x50, 2)
    out["pubrel"] = ack(v, 0x62, 3)
    out["pubcomp"] = ack(v, 0x70, 4)
    if v == V5:
        out["puback-reason"] = ack(v, 0x40, 5, 0x10)
        out["pubrec-props"] = ack(v, 0x50, 6, 0x80, u8(0x1F) + s("no") + user("x", "y"))
        out["pubrel-notfound"] = ack(v, 0x62, 7, 0x92, b"")
        out["pubcomp-props"] = ack(v, 0x70, 8, 0x00, u8(0x1F) + s("ok"))
    if v == V5:
        filters = [("a/+", 0x01), ("#", 0x00), ("$share/g/x/#", 0x02), ("n/l", 0x04 | 0x01),
                   ("rap", 0x08), ("rh1", 0x10), ("rh2", 0x20 | 0x02)]
        out["subscribe"] = subscribe(v, 10, filters, u8(0x0B) + varint(300) + user("s", "t"))
    else:
        out["subscribe"] = subscribe(v, 10, [("a/+", 1), ("#", 0), ("x/y/z", 2)])
    out["unsubscribe"] = unsubscribe(v, 11, ["a/+", "#"],
                                     user("u", "v") if v == V5 else b"")
    out["pingreq"] = pkt(0xC0, b"")
    out["disconnect"] = pkt(0xE0, b"")
    if v == V5:
        out["disconnect-will"] = short(0xE0, 0x04)
        out["disconnect-props"] = short(0xE0, 0x00, u8(0x11) + u32(0) + u8(0x1F) + s("bye"))
        out["auth"] = pkt(0xF0, b"")
        out["auth-continue"] = short(0xF0, 0x18, u8(0x15) + s("SCRAM-SHA-1")
                                     + u8(0x16) + s(b"\x01\x02"))
        out["auth-reauth"] = short(0xF0, 0x19, u8(0x15) + s("SCRAM-SHA-1")
                                   + u8(0x1F) + s("again") + user("a", "b"))
    return out


def server_packets(v):
    """Packets a server sends, valid for DecodeOptions::client(v) (topic aliases allowed)."""
    out = {}
    if v == "v31":
        out["connack"] = pkt(0x20, b"\x00\x00")
        out["connack-refused"] = pkt(0x20, b"\x00\x05")
    elif v == "v311":
        out["connack"] = pkt(0x20, b"\x01\x00")
        out["connack-refused"] = pkt(0x20, b"\x00\x04")
    else:
        cp = (u8(0x11) + u32(60) + u8(0x21) + u16(100) + u8(0x24) + u8(1) + u8(0x25) + u8(1)
              + u8(0x27) + u32(1 << 20) + u8(0x12) + s("auto-123") + u8(0x22) + u16(16)
              + u8(0x1F) + s("welcome") + u8(0x28) + u8(1) + u8(0x29) + u8(1)
              + u8(0x2A) + u8(0) + u8(0x13) + u16(30) + u8(0x1A) + s("resp/")
              + u8(0x1C) + s("other:1883") + u8(0x15) + s("m") + u8(0x16) + s(b"d")
              + user("srv", "ringmq"))
        out["connack"] = pkt(0x20, b"\x01\x00" + props(cp))
        out["connack-refused"] = pkt(0x20, b"\x00\x87" + props(u8(0x1F) + s("denied")))
    out["publish-qos0"] = publish(v, "a/b", b"hello")
    out["publish-qos1"] = publish(v, "a/b/c", b"\x00\x01\x02", qos=1, pid=1, retain=True)
    out["publish-qos2"] = publish(v, "x", b"payload", qos=2, pid=2)
    if v == V5:
        pp = u8(0x0B) + varint(5) + u8(0x0B) + varint(200000) + u8(0x23) + u16(3)
        out["publish-subids"] = publish(v, "s/ids", b"p", qos=1, pid=9, pprops=pp)
    out["puback"] = ack(v, 0x40, 1)
    out["pubrec"] = ack(v, 0x50, 2)
    out["pubrel"] = ack(v, 0x62, 3)
    out["pubcomp"] = ack(v, 0x70, 4)
    if v == V5:
        out["puback-quota"] = ack(v, 0x40, 5, 0x97, u8(0x1F) + s("slow down"))
        out["suback"] = suback(v, 10, [0x00, 0x01, 0x02, 0x80, 0x87, 0x8F, 0x9E, 0xA1, 0xA2],
                               u8(0x1F) + s("partly") + user("a", "b"))
        out["unsuback"] = unsuback(v, 11, [0x00, 0x11, 0x87], user("u", "v"))
    else:
        out["suback"] = suback(v, 10, [0x00, 0x01, 0x02, 0x80])
        out["unsuback"] = unsuback(v, 11)
    out["pingresp"] = pkt(0xD0, b"")
    if v == V5:
        out["disconnect"] = short(0xE0, 0x9C, u8(0x1C) + s("other:1883")
                                  + u8(0x1F) + s("moved"))
        out["auth-continue"] = short(0xF0, 0x18, u8(0x15) + s("SCRAM-SHA-1")
                                     + u8(0x16) + s(b"srv"))
        out["auth-success"] = short(0xF0, 0x00)
    return out


def generate():
    valid = os.path.join(SEEDS, "valid")
    nanomq = os.path.join(SEEDS, "nanomq")
    for d in (valid, nanomq):
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))
    for v in ("v31", "v311", "v5"):
        for direction, make in (("c2s", client_packets), ("s2c", server_packets)):
            packets = make(v)
            for name, data in packets.items():
                write(os.path.join(valid, f"{v}-{direction}-{name}.bin"), data)
            # One whole session: every packet above, back to back.
            write(os.path.join(valid, f"{v}-{direction}-session.bin"),
                  b"".join(packets.values()))
    with open(os.path.join(SHARED, "nanomq-fuzzy-packets.hex")) as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines, 1):
        write(os.path.join(nanomq, f"fuzzy-{i:03}.bin"), bytes.fromhex(line.strip()))
    for name in sorted(os.listdir(SHARED)):
        if name.endswith(".raw"):
            with open(os.path.join(SHARED, name), "rb") as f:
                write(os.path.join(nanomq, name), f.read())


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


# ---------------------------------------------------------------------------------------------
# Corpus preparation

SELECTOR = {("v31", "c2s"): 0x00, ("v311", "c2s"): 0x01, ("v5", "c2s"): 0x02,
            ("v31", "s2c"): 0x04, ("v311", "s2c"): 0x05, ("v5", "s2c"): 0x06}


def selectors_for(rel):
    """Selector bytes to prepend to seed `rel` (a path under fuzz/seeds)."""
    name = os.path.basename(rel)
    parts = name.split("-")
    if len(parts) >= 2 and (parts[0], parts[1]) in SELECTOR:
        sel = SELECTOR[(parts[0], parts[1])]
        # As is, and with the bytewise-feeding bit for the decode target.
        return [sel, sel | 0x80]
    # Client streams of unknown version (the NanoMQ data): every version, server side.
    return [0x00, 0x01, 0x02]


def corpus(target):
    out = os.path.join(HERE, "corpus", target)
    os.makedirs(out, exist_ok=True)
    n = 0
    for root, _, files in os.walk(SEEDS):
        for name in sorted(files):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, SEEDS)
            with open(path, "rb") as f:
                data = f.read()
            stem = rel.replace(os.sep, "_")
            for sel in selectors_for(rel):
                if target != "decode" and sel & 0x80:
                    continue  # bit 7 only means something to the decode target
                if target == "encode_within":
                    # Maximum packet sizes: tight enough to trim, and roomy.
                    for mx in (24, 0xFFFF):
                        write(os.path.join(out, f"{stem}.{sel:02x}.{mx}"),
                              u8(sel) + u16(mx) + data)
                        n += 1
                else:
                    write(os.path.join(out, f"{stem}.{sel:02x}"), u8(sel) + data)
                    n += 1
    print(f"wrote {n} inputs to {out}")


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "generate":
        generate()
    elif len(sys.argv) == 3 and sys.argv[1] == "corpus":
        corpus(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
