#!/usr/bin/env python3
"""paho-mqtt publish/subscribe at QoS 0, 1 and 2 over MQTT 3.1.1 and 5, retained messages, and
the v5 properties a broker forwards unchanged ([MQTT-3.3.2-17]..[MQTT-3.3.2-20])."""

import sys

from harness import V311, V5, Client, PacketTypes, port_arg, props, uid


def pubsub(port, protocol):
    name = "v5" if protocol == V5 else "v311"
    sub = Client(port, f"paho-sub-{name}", protocol)
    pub = Client(port, f"paho-pub-{name}", protocol)
    for qos in (0, 1, 2):
        topic = f"e2e/paho/{uid(name)}/q{qos}"
        sub.subscribe(topic, qos)
        for i in range(5):
            pub.publish(topic, f"{name}-q{qos}-{i}".encode(), qos)
        for i in range(5):
            m = sub.next()
            assert m.topic == topic, m.topic
            assert m.payload == f"{name}-q{qos}-{i}".encode(), (qos, i, m.payload)
            assert m.qos == qos, (qos, m.qos)
            assert not m.retain
    sub.assert_quiet()

    # Retained: stored, sent on subscribe with RETAIN 1, cleared by an empty payload.
    topic = f"e2e/paho/{uid(name)}/retained"
    pub.publish(topic, b"kept", 1, retain=True)
    late = Client(port, f"paho-late-{name}", protocol)
    late.subscribe(topic, 1)
    m = late.next()
    assert (m.payload, m.retain) == (b"kept", True), (m.payload, m.retain)
    pub.publish(topic, b"", 1, retain=True)
    m = late.next()
    assert (m.payload, m.retain) == (b"", False), (m.payload, m.retain)
    later = Client(port, f"paho-later-{name}", protocol)
    later.subscribe(topic, 1)
    later.assert_quiet()
    for c in (sub, pub, late, later):
        c.close()


def v5_properties(port):
    sub = Client(port, "paho-props-sub")
    pub = Client(port, "paho-props-pub")
    topic = f"e2e/paho/{uid('props')}"
    sub.subscribe(topic, 1)
    p = props(
        PacketTypes.PUBLISH,
        PayloadFormatIndicator=1,
        ContentType="text/plain",
        ResponseTopic=f"{topic}/reply",
        CorrelationData=b"\x00\x01corr",
        UserProperty=[("k1", "v1"), ("k2", "v2"), ("k1", "again")],
    )
    pub.publish(topic, "héllo".encode(), 1, properties=p)
    m = sub.next()
    assert m.payload == "héllo".encode()
    got = m.properties
    assert got.PayloadFormatIndicator == 1
    assert got.ContentType == "text/plain"
    assert got.ResponseTopic == f"{topic}/reply"
    assert got.CorrelationData == b"\x00\x01corr"
    assert got.UserProperty == [("k1", "v1"), ("k2", "v2"), ("k1", "again")], got.UserProperty
    sub.close()
    pub.close()


def main():
    port = port_arg()
    pubsub(port, V311)
    pubsub(port, V5)
    v5_properties(port)
    print("paho pubsub: ok")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAILED: {e!r}", file=sys.stderr)
        raise
