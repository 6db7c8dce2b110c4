"""Shared helpers for the paho-mqtt scenarios (run by tests/paho.rs against a live broker).

Each scenario script takes `--port N`, asserts, and exits non-zero on failure.
"""

import argparse
import os
import queue
import threading
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes

WAIT = 5.0
V5 = mqtt.MQTTv5
V311 = mqtt.MQTTv311


def port_arg():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    return parser.parse_args().port


def uid(tag):
    return f"{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def props(packet_type, **values):
    p = Properties(packet_type)
    for k, v in values.items():
        setattr(p, k, v)
    return p


class Client:
    """A paho client on its own network thread, with its messages in a queue."""

    def __init__(self, port, tag, protocol=V5, connect_props=None, clean=True, session_expiry=None, cid=None):
        self.id = cid or uid(tag)
        self.protocol = protocol
        kwargs = {} if protocol == V5 else {"clean_session": clean}
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.id, protocol=protocol, **kwargs)
        self.messages = queue.Queue()
        self.subacks = queue.Queue()
        self.connacks = queue.Queue()
        self.disconnects = queue.Queue()
        self.c.on_message = lambda _c, _u, msg: self.messages.put(msg)
        self.c.on_subscribe = lambda _c, _u, _mid, codes, _p: self.subacks.put(codes)
        self.c.on_connect = lambda _c, _u, flags, rc, p: self.connacks.put((flags, rc, p))
        self.c.on_disconnect = lambda _c, _u, _f, rc, _p: self.disconnects.put(rc)
        if protocol == V5:
            cp = connect_props or Properties(PacketTypes.CONNECT)
            if session_expiry is not None:
                cp.SessionExpiryInterval = session_expiry
            self.c.connect("127.0.0.1", port, keepalive=30, clean_start=clean, properties=cp)
        else:
            self.c.connect("127.0.0.1", port, keepalive=30)
        self.c.loop_start()
        flags, rc, p = self.connacks.get(timeout=WAIT)
        assert not rc.is_failure, f"{self.id}: CONNACK {rc}"
        self.session_present = flags.session_present
        self.connack_props = p

    def subscribe(self, topic, qos):
        self.c.subscribe(topic, qos)
        codes = self.subacks.get(timeout=WAIT)
        assert [int(c.value) for c in codes] == [qos], f"{self.id}: SUBACK {codes} for {topic}"

    def publish(self, topic, payload, qos, retain=False, properties=None):
        info = self.c.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        info.wait_for_publish(WAIT)
        assert info.is_published(), f"{self.id}: publish of {payload!r} not acknowledged"

    def next(self):
        try:
            return self.messages.get(timeout=WAIT)
        except queue.Empty:
            raise AssertionError(f"{self.id}: no message within {WAIT} s") from None

    def assert_quiet(self, seconds=0.4):
        try:
            msg = self.messages.get(timeout=seconds)
        except queue.Empty:
            return
        raise AssertionError(f"{self.id}: unexpected message {msg.topic} {msg.payload!r}")

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()

    def kill(self):
        """Drop the socket without DISCONNECT."""
        self.c.loop_stop()
        sock = self.c.socket()
        if sock is not None:
            sock.close()


__all__ = ["Client", "PacketTypes", "Properties", "V311", "V5", "WAIT", "port_arg", "props", "threading", "uid"]
