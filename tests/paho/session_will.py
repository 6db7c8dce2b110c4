#!/usr/bin/env python3
"""paho-mqtt: a v5 session resumed with the QoS 1 messages published while offline
([MQTT-3.1.2-5]), a v3.1.1 persistent session likewise, and wills on an abrupt close
([MQTT-3.1.2-8]) but not after DISCONNECT ([MQTT-3.1.2-10])."""

import sys

import paho.mqtt.client as mqtt

from harness import V311, V5, Client, PacketTypes, port_arg, props, uid


def resume_v5(port):
    topic = f"e2e/paho/{uid('resume')}"
    c = Client(port, "paho-resume", clean=True, session_expiry=60)
    c.subscribe(topic, 1)
    c.close()
    pub = Client(port, "paho-resume-pub")
    for i in range(3):
        pub.publish(topic, f"offline-{i}".encode(), 1)
    again = Client(port, "", clean=False, session_expiry=60, cid=c.id)
    assert again.session_present, "Clean Start 0 resumes the session"
    for i in range(3):
        m = again.next()
        assert (m.topic, m.payload, m.qos) == (topic, f"offline-{i}".encode(), 1), (m.topic, m.payload)
    again.assert_quiet()
    again.c.disconnect(properties=props(PacketTypes.DISCONNECT, SessionExpiryInterval=0))
    again.c.loop_stop()

    # v3.1.1 clean session 0.
    topic = f"e2e/paho/{uid('resume3')}"
    c = Client(port, "paho-resume3", protocol=V311, clean=False)
    c.subscribe(topic, 1)
    c.close()
    for i in range(3):
        pub.publish(topic, f"offline3-{i}".encode(), 1)
    again = Client(port, "", protocol=V311, clean=False, cid=c.id)
    assert again.session_present
    for i in range(3):
        m = again.next()
        assert (m.topic, m.payload) == (topic, f"offline3-{i}".encode()), (m.topic, m.payload)
    again.close()
    pub.close()


def wills(port):
    topic = f"e2e/paho/{uid('will')}"
    sub = Client(port, "paho-will-sub")
    sub.subscribe(f"{topic}/#", 1)
    for protocol, name in ((V5, "v5"), (V311, "v311")):
        for abrupt in (True, False):
            cid = uid(f"paho-will-{name}")
            c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=protocol)
            c.will_set(f"{topic}/{name}", f"will-{cid}".encode(), qos=1)
            c.connect("127.0.0.1", port, 30)
            c.loop_start()
            info = c.publish(f"{topic}/alive", b"up", qos=1)
            info.wait_for_publish(5)
            assert sub.next().payload == b"up"
            if abrupt:
                c.loop_stop()
                c.socket().close()
                m = sub.next()
                assert (m.topic, m.payload) == (f"{topic}/{name}", f"will-{cid}".encode()), (m.topic, m.payload)
            else:
                c.disconnect()
                c.loop_stop()
                sub.assert_quiet()
    sub.close()


def main():
    port = port_arg()
    resume_v5(port)
    wills(port)
    print("paho session_will: ok")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAILED: {e!r}", file=sys.stderr)
        raise
