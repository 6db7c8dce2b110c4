//! All 15 packet types in one stream.

use m5::packet::FixedHeader as TFixedHeader;
use mqtt5_protocol as m5;
use mqtt_proto::{
    Auth, AuthProperties, AuthReasonCode, BytesMut, ConnAck, ConnectReasonCode, Disconnect,
    DisconnectProperties, DisconnectReasonCode, LastWill, Packet, PubAck, PubAckReasonCode,
    PubComp, PubRec, PubRel, PubRelReasonCode, PublishProperties, QoS, RetainHandling, SubAck,
    SubAckReasonCode, Subscribe, SubscribeProperties, Subscription, SubscriptionOptions, UnsubAck,
    UnsubAckReasonCode, Unsubscribe, UnsubscribeProperties,
};

use crate::connect::{connect, full_connack_props, full_connect_props, full_will_props};
use crate::publish::{ack_props_variants, full_publish_props, publish};
use crate::translate_packets::{to_ours, to_theirs};
use crate::{
    b, decode_theirs, encode_theirs, many_users, nz16, nz32, opts, pid, s, users, Sender, V,
};

// ---- all 15 in one stream -----------------------------------------------------------------

#[test]
fn stream_of_every_packet_type() {
    let will = LastWill {
        topic: s("w"),
        payload: b(b"bye"),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: full_will_props(),
    };
    let packets: Vec<(Packet, Sender)> = vec![
        (
            Packet::from(connect(full_connect_props(), Some(will), Some(("u", b"p")))),
            Sender::Client,
        ),
        (
            Packet::from(ConnAck {
                session_present: true,
                reason_code: ConnectReasonCode::Success,
                properties: full_connack_props(),
            }),
            Sender::Server,
        ),
        (
            Packet::Publish(publish(
                QoS::ExactlyOnce,
                true,
                true,
                "",
                PublishProperties {
                    topic_alias: Some(nz16(3)),
                    subscription_identifiers: [nz32(5)].into_iter().collect(),
                    ..full_publish_props()
                },
                b(b"payload"),
            )),
            Sender::Server,
        ),
        (
            Packet::PubAck(PubAck {
                packet_id: pid(1),
                reason_code: PubAckReasonCode::NoMatchingSubscribers,
                properties: Default::default(),
            }),
            Sender::Server,
        ),
        (
            Packet::PubRec(PubRec {
                packet_id: pid(2),
                reason_code: PubAckReasonCode::QuotaExceeded,
                properties: ack_props_variants()[3].clone(),
            }),
            Sender::Client,
        ),
        (
            Packet::PubRel(PubRel {
                packet_id: pid(3),
                reason_code: PubRelReasonCode::PacketIdentifierNotFound,
                properties: ack_props_variants()[1].clone(),
            }),
            Sender::Server,
        ),
        (Packet::PubComp(PubComp::new(pid(4))), Sender::Client),
        (
            Packet::Subscribe(Subscribe {
                packet_id: pid(5),
                properties: SubscribeProperties {
                    subscription_identifier: Some(nz32(5)),
                    user_properties: many_users(),
                },
                subscriptions: [Subscription {
                    filter: s("a/#"),
                    options: SubscriptionOptions {
                        qos: QoS::ExactlyOnce,
                        no_local: true,
                        retain_as_published: true,
                        retain_handling: RetainHandling::DoNotSend,
                    },
                }]
                .into_iter()
                .collect(),
            }),
            Sender::Client,
        ),
        (
            Packet::SubAck(SubAck {
                packet_id: pid(5),
                properties: ack_props_variants()[2].clone(),
                reason_codes: [SubAckReasonCode::GrantedQoS2].into_iter().collect(),
            }),
            Sender::Server,
        ),
        (
            Packet::Unsubscribe(Unsubscribe {
                packet_id: pid(6),
                properties: UnsubscribeProperties {
                    user_properties: users(&[("u", "v")]),
                },
                filters: [s("a/#")].into_iter().collect(),
            }),
            Sender::Client,
        ),
        (
            Packet::UnsubAck(UnsubAck {
                packet_id: pid(6),
                properties: Default::default(),
                reason_codes: [UnsubAckReasonCode::NoSubscriptionExisted]
                    .into_iter()
                    .collect(),
            }),
            Sender::Server,
        ),
        (Packet::PingReq, Sender::Client),
        (Packet::PingResp, Sender::Server),
        (
            Packet::Disconnect(Disconnect {
                reason_code: DisconnectReasonCode::ServerShuttingDown,
                properties: DisconnectProperties {
                    server_reference: Some(s("b")),
                    ..Default::default()
                },
            }),
            Sender::Server,
        ),
        (
            Packet::Auth(Auth {
                reason_code: AuthReasonCode::ReAuthenticate,
                properties: AuthProperties {
                    authentication_method: Some(s("m")),
                    authentication_data: Some(b(b"d")),
                    ..Default::default()
                },
            }),
            Sender::Client,
        ),
    ];
    assert_eq!(packets.len(), 15);

    let mut ours_stream = BytesMut::new();
    let mut their_stream = BytesMut::new();
    for (p, _) in &packets {
        p.encode(V, &mut ours_stream).unwrap();
        their_stream.extend_from_slice(&encode_theirs(&to_theirs(p)));
    }

    // Theirs reads our stream, frame by frame.
    let mut rest = ours_stream.freeze();
    for (p, _) in &packets {
        let mut probe = rest.clone();
        let header = TFixedHeader::decode(&mut probe).unwrap();
        let frame = rest.split_to(header.encoded_len() + header.remaining_length as usize);
        assert_eq!(&to_ours(&decode_theirs(&frame)), p);
    }
    assert!(rest.is_empty());

    // Ours reads theirs.
    let mut buf = their_stream;
    for (p, from) in &packets {
        assert_eq!(&Packet::decode(&mut buf, &opts(*from)).unwrap().unwrap(), p);
    }
    assert!(buf.is_empty());
}
