//! Shared fixtures for the benchmarks: the packets the codec benchmarks decode and encode.

use std::num::{NonZeroU16, NonZeroU32};

use bytes::{Bytes, BytesMut};
use mqtt_proto::{
    ByteString, Connect, ConnectProperties, LastWill, Packet, ProtocolVersion, Publish,
    PublishProperties, QoS, QosPid, Subscribe, SubscribeProperties, Subscription,
    SubscriptionOptions, UserProperties, WillProperties,
};

/// A 64-byte payload.
pub const PAYLOAD_64: &[u8; 64] =
    b"{\"t\":1717171717,\"temp\":21.5,\"hum\":40.5,\"id\":\"sensor-042\",\"ok\":1}";

fn nz16(v: u16) -> NonZeroU16 {
    NonZeroU16::new(v).unwrap_or(NonZeroU16::MIN)
}

fn nz32(v: u32) -> NonZeroU32 {
    NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN)
}

fn user(pairs: &[(&'static str, &'static str)]) -> UserProperties {
    pairs
        .iter()
        .map(|(k, v)| (ByteString::from_static(k), ByteString::from_static(v)))
        .collect()
}

/// QoS 0 PUBLISH, 30-byte topic, 64-byte payload, no properties.
pub fn publish_qos0() -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos_pid: QosPid::AtMostOnce,
        retain: false,
        topic: ByteString::from_static("sensors/building-1/floor-3/temp"),
        properties: PublishProperties::default(),
        payload: Bytes::from_static(PAYLOAD_64),
    })
}

/// MQTT 5 QoS 1 PUBLISH with message expiry, content type, correlation data and two user
/// properties.
pub fn publish_qos1_props() -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos_pid: QosPid::AtLeastOnce(nz16(4242)),
        retain: false,
        topic: ByteString::from_static("sensors/building-1/floor-3/temp"),
        properties: PublishProperties {
            message_expiry_interval: Some(3600),
            content_type: Some(ByteString::from_static("application/json")),
            correlation_data: Some(Bytes::from_static(b"req-0000000000000001")),
            user_properties: user(&[("trace-id", "4bf92f3577b34da6"), ("source", "gw-7")]),
            ..PublishProperties::default()
        },
        payload: Bytes::from_static(PAYLOAD_64),
    })
}

/// MQTT 5 CONNECT with properties, a will with properties, user name and password.
pub fn connect_v5() -> Packet {
    Packet::Connect(Box::new(Connect {
        protocol_version: ProtocolVersion::V5,
        clean_start: true,
        keep_alive: 60,
        properties: ConnectProperties {
            session_expiry_interval: Some(3600),
            receive_maximum: Some(nz16(100)),
            maximum_packet_size: Some(nz32(1 << 20)),
            topic_alias_maximum: Some(16),
            user_properties: user(&[("app", "ringmq-bench")]),
            ..ConnectProperties::default()
        },
        client_id: ByteString::from_static("bench-client-000001"),
        will: Some(LastWill {
            topic: ByteString::from_static("clients/bench-client-000001/status"),
            payload: Bytes::from_static(b"offline"),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: WillProperties {
                will_delay_interval: Some(5),
                message_expiry_interval: Some(600),
                content_type: Some(ByteString::from_static("text/plain")),
                ..WillProperties::default()
            },
        }),
        username: Some(ByteString::from_static("bench-user")),
        password: Some(Bytes::from_static(b"s3cr3t-passw0rd")),
    }))
}

/// MQTT 5 SUBSCRIBE with ten filters.
pub fn subscribe_10() -> Packet {
    const FILTERS: [&str; 10] = [
        "sensors/+/floor-1/temp",
        "sensors/+/floor-2/temp",
        "sensors/building-1/#",
        "alerts/#",
        "devices/+/status",
        "devices/+/config/set",
        "$share/workers/jobs/+",
        "home/livingroom/lights",
        "home/kitchen/+/state",
        "metrics/cpu/+",
    ];
    let subscriptions = FILTERS
        .iter()
        .enumerate()
        .map(|(i, f)| Subscription {
            filter: ByteString::from_static(f),
            options: SubscriptionOptions {
                qos: if i % 2 == 0 {
                    QoS::AtLeastOnce
                } else {
                    QoS::AtMostOnce
                },
                ..SubscriptionOptions::default()
            },
        })
        .collect();
    Packet::Subscribe(Subscribe {
        packet_id: nz16(7),
        properties: SubscribeProperties::default(),
        subscriptions,
    })
}

/// The wire bytes of `p` in `v`.
pub fn encoded(p: &Packet, v: ProtocolVersion) -> Vec<u8> {
    let mut buf = BytesMut::with_capacity(p.encoded_len(v));
    if p.encode(v, &mut buf).is_err() {
        return Vec::new();
    }
    buf.to_vec()
}

/// One buffer holding `n` back-to-back copies of `frame`, as a socket read buffer would.
pub fn repeated(frame: &[u8], n: usize) -> BytesMut {
    let mut buf = BytesMut::with_capacity(frame.len() * n);
    for _ in 0..n {
        buf.extend_from_slice(frame);
    }
    buf
}

/// `ringmq-bench`, the load tool (see `src/bin/ringmq-bench.rs`).
pub mod bench;
