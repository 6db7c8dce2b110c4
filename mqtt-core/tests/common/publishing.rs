//! Helpers for PUBLISH scenarios: inbound QoS flows, outbound delivery, flow control and
//! topic aliases.

use mqtt_core::ConnId;
use mqtt_proto::{
    Ack, ByteString, Bytes, Connect, Packet, ProtocolVersion, PubAckReasonCode, PubRelReasonCode,
    Publish, QoS, SubscriptionOptions,
};

use super::{connect, pid, publish, Harness, V5};

/// A v5 CONNECT announcing the client's own limits (absent when `None`).
pub fn connect_limited(
    id: &str,
    receive_maximum: Option<u16>,
    maximum_packet_size: Option<u32>,
    topic_alias_maximum: Option<u16>,
) -> Connect {
    let mut c = connect(id, V5);
    c.properties.receive_maximum = receive_maximum.and_then(core::num::NonZeroU16::new);
    c.properties.maximum_packet_size = maximum_packet_size.and_then(core::num::NonZeroU32::new);
    c.properties.topic_alias_maximum = topic_alias_maximum;
    c
}

/// A PUBLISH with an owned payload.
pub fn publish_bytes(topic: &str, payload: Vec<u8>, qos: QoS, packet_id: u16) -> Publish {
    let mut p = publish(topic, b"", qos, packet_id);
    p.payload = Bytes::from(payload);
    p
}

/// `p` with a Message Expiry Interval.
pub fn expiring(mut p: Publish, secs: u32) -> Publish {
    p.properties.message_expiry_interval = Some(secs);
    p
}

/// `p` with a Topic Alias (and its topic replaced by `topic`, which may be empty).
pub fn aliased(mut p: Publish, topic: &str, alias: u16) -> Publish {
    p.topic = ByteString::from(topic);
    p.properties.topic_alias = Some(pid(alias));
    p
}

/// An ack with a reason code.
pub fn ack_with<C>(n: u16, reason_code: C) -> Ack<C> {
    Ack {
        packet_id: pid(n),
        reason_code,
        properties: Default::default(),
    }
}

/// Subscription options at `qos` with No Local and Retain As Published as given.
pub fn opts(qos: QoS, no_local: bool, retain_as_published: bool) -> SubscriptionOptions {
    SubscriptionOptions {
        qos,
        no_local,
        retain_as_published,
        ..Default::default()
    }
}

/// What an acknowledgement packet says: kind, packet id, reason code byte.
pub fn ack_of(p: &Packet) -> (&'static str, u16, u8) {
    match p {
        Packet::PubAck(a) => ("PUBACK", a.packet_id.get(), a.reason_code.as_u8()),
        Packet::PubRec(a) => ("PUBREC", a.packet_id.get(), a.reason_code.as_u8()),
        Packet::PubRel(a) => ("PUBREL", a.packet_id.get(), a.reason_code.as_u8()),
        Packet::PubComp(a) => ("PUBCOMP", a.packet_id.get(), a.reason_code.as_u8()),
        other => panic!("expected an acknowledgement, got {other:?}"),
    }
}

/// PUBACK/PUBREC reason code, for comparisons.
pub const SUCCESS: u8 = PubAckReasonCode::Success.as_u8();
/// PUBREL/PUBCOMP 0x92.
pub const PID_NOT_FOUND: u8 = PubRelReasonCode::PacketIdentifierNotFound.as_u8();

impl Harness {
    /// Subscribes to one filter with these options and subscription identifier; asserts it
    /// was granted.
    pub fn subscribe_opts(
        &mut self,
        conn: ConnId,
        v: ProtocolVersion,
        filter: &str,
        options: SubscriptionOptions,
        sub_id: Option<u32>,
    ) {
        let s = mqtt_proto::Subscription {
            filter: ByteString::from(filter),
            options,
        };
        let (ack, _) = self.subscribe_many(conn, v, vec![s], sub_id);
        let code = ack.reason_codes[0].as_u8();
        assert!(code < 0x80, "subscription to {filter} refused: {code:#04x}");
    }

    /// Sends `p` and returns every packet the sender got back.
    pub fn publish_and_recv(
        &mut self,
        conn: ConnId,
        v: ProtocolVersion,
        p: Publish,
    ) -> Vec<Packet> {
        self.send(conn, v, p);
        self.recv(conn)
    }

    /// Exactly one packet received, an ack; returns (kind, id, reason code byte).
    pub fn recv_ack(&mut self, conn: ConnId) -> (&'static str, u16, u8) {
        ack_of(&self.recv_one(conn))
    }

    /// The PUBLISH packets `conn` received (anything else received is an error).
    pub fn recv_publishes(&mut self, conn: ConnId) -> Vec<Publish> {
        self.recv(conn)
            .into_iter()
            .map(|p| match p {
                Packet::Publish(p) => p,
                other => panic!("expected only PUBLISH, got {other:?}"),
            })
            .collect()
    }
}
