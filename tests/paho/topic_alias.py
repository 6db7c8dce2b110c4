#!/usr/bin/env python3
"""paho-mqtt and MQTT 5 topic aliases in both directions. paho does not resolve the aliases it
receives, so the subscriber sees the broker's bytes: the topic once with an alias, then an empty
topic with the same alias."""

import sys

from harness import Client, PacketTypes, port_arg, props, uid


def main():
    port = port_arg()
    topic = f"e2e/paho/{uid('alias')}"
    sub = Client(port, "paho-alias-sub", connect_props=props(PacketTypes.CONNECT, TopicAliasMaximum=4))
    sub.subscribe(topic, 1)
    pub = Client(port, "paho-alias-pub")
    assert pub.connack_props.TopicAliasMaximum >= 1, "the broker accepts client aliases"

    # Client -> broker: set alias 1, then use it with an empty topic.
    pub.publish(topic, b"a0", 1, properties=props(PacketTypes.PUBLISH, TopicAlias=1))
    pub.publish("", b"a1", 1, properties=props(PacketTypes.PUBLISH, TopicAlias=1))
    pub.publish("", b"a2", 0, properties=props(PacketTypes.PUBLISH, TopicAlias=1))
    pub.publish(topic, b"a3", 2)

    # Broker -> client: first with the topic and an alias, then the alias alone.
    first = sub.next()
    assert first.topic == topic and first.payload == b"a0", (first.topic, first.payload)
    alias = first.properties.TopicAlias
    assert 1 <= alias <= 4, f"alias {alias} within the maximum 4 the client sent [MQTT-3.3.2-9]"
    for payload in (b"a1", b"a2", b"a3"):
        m = sub.next()
        assert m.payload == payload, (m.payload, payload)
        assert m.topic == "", f"a known alias replaces the topic, got {m.topic!r}"
        assert m.properties.TopicAlias == alias, (m.properties.TopicAlias, alias)

    # A client without Topic Alias Maximum gets full topics and no alias.
    plain = Client(port, "paho-alias-plain")
    plain.subscribe(topic, 1)
    pub.publish("", b"b0", 1, properties=props(PacketTypes.PUBLISH, TopicAlias=1))
    m = plain.next()
    assert (m.topic, m.payload) == (topic, b"b0"), (m.topic, m.payload)
    assert not hasattr(m.properties, "TopicAlias"), "no alias toward a client that allows none"
    for c in (sub, pub, plain):
        c.close()
    print("paho topic_alias: ok")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAILED: {e!r}", file=sys.stderr)
        raise
