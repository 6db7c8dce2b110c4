//! Cross-check of the MQTT 3.1.1 wire format against an independent codec:
//! [`mqttbytes`](https://crates.io/crates/mqttbytes) 0.6.0, module `mqttbytes::v4`
//! (the rumqtt project's codec; it depends only on `bytes`).
//!
//! Every one of the 14 MQTT 3.1.1 packet types goes both ways:
//! * ours encodes → `mqttbytes` decodes, and the packet it decodes must equal the one we meant;
//! * `mqttbytes` encodes → ours decodes, and our packet must equal the one they meant.
//!
//! Both encoders are deterministic for MQTT 3.1.1, so the two byte strings must also be
//! identical.
//!
//! Known deviations of `mqttbytes` 0.6 `v4`, tested around (our codec is not weakened):
//! * The password is a `String`, not binary data (3.1.1 §3.1.3.5): a non-UTF-8 password cannot
//!   be decoded by it at all.
//! * User name and password are both written only when non-empty, and an empty user name is
//!   read back as "no login". So `Some("")` does not survive, and a login with an empty user
//!   name and a non-empty password is written as a password without user name, which
//!   [MQTT-3.1.2-22] forbids (our decoder refuses it).
//! * It writes what 3.1.1 forbids when asked to: Session Present with a refusal
//!   [MQTT-3.2.2-4], SUBSCRIBE / UNSUBSCRIBE without filters [MQTT-3.8.3-3] [MQTT-3.10.3-2].
//!   We refuse to read those (tested below).
//! * It does not check reserved bits, flags or packet identifiers of zero on acknowledgements;
//!   the cross-checks only feed it well-formed packets.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use core::num::NonZeroU16;

use mqtt_proto::{
    Ack, ByteString, Bytes, BytesMut, ConnAck, Connect, ConnectReasonCode, DecodeError,
    DecodeOptions, Disconnect, LastWill, Packet, ProtocolVersion, PubAck, PubComp, PubRec, PubRel,
    Publish, QoS, QosPid, SubAck, SubAckReasonCode, Subscribe, Subscription, SubscriptionOptions,
    UnsubAck, Unsubscribe,
};
use mqttbytes::v4 as theirs;

const V: ProtocolVersion = ProtocolVersion::V3_1_1;

/// Who sends a packet, which picks the decoder options on our side.
#[derive(Debug, Clone, Copy)]
enum Sender {
    Client,
    Server,
}

fn pid(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).unwrap()
}

fn s(v: &str) -> ByteString {
    ByteString::from(v)
}

fn qos_theirs(q: QoS) -> mqttbytes::QoS {
    match q {
        QoS::AtMostOnce => mqttbytes::QoS::AtMostOnce,
        QoS::AtLeastOnce => mqttbytes::QoS::AtLeastOnce,
        QoS::ExactlyOnce => mqttbytes::QoS::ExactlyOnce,
    }
}

fn encode_ours(p: &Packet) -> BytesMut {
    let mut buf = BytesMut::new();
    p.encode(V, &mut buf).unwrap();
    assert_eq!(
        buf.len(),
        p.encoded_len(V),
        "encoded_len disagrees with encode"
    );
    buf
}

fn decode_ours(bytes: &[u8], from: Sender) -> Result<Packet, DecodeError> {
    let opts = match from {
        Sender::Client => DecodeOptions::server(V),
        Sender::Server => DecodeOptions::client(V),
    };
    let mut buf = BytesMut::from(bytes);
    let p = Packet::decode(&mut buf, &opts)?.expect("a whole frame was buffered");
    assert!(buf.is_empty(), "our decoder left {} bytes", buf.len());
    Ok(p)
}

fn encode_theirs(p: &theirs::Packet) -> BytesMut {
    let mut buf = BytesMut::new();
    let n = match p {
        theirs::Packet::Connect(c) => c.write(&mut buf),
        theirs::Packet::ConnAck(c) => c.write(&mut buf),
        theirs::Packet::Publish(c) => c.write(&mut buf),
        theirs::Packet::PubAck(c) => c.write(&mut buf),
        theirs::Packet::PubRec(c) => c.write(&mut buf),
        theirs::Packet::PubRel(c) => c.write(&mut buf),
        theirs::Packet::PubComp(c) => c.write(&mut buf),
        theirs::Packet::Subscribe(c) => c.write(&mut buf),
        theirs::Packet::SubAck(c) => c.write(&mut buf),
        theirs::Packet::Unsubscribe(c) => c.write(&mut buf),
        theirs::Packet::UnsubAck(c) => c.write(&mut buf),
        theirs::Packet::PingReq => theirs::PingReq.write(&mut buf),
        theirs::Packet::PingResp => theirs::PingResp.write(&mut buf),
        theirs::Packet::Disconnect => theirs::Disconnect.write(&mut buf),
    }
    .unwrap();
    // `Connect::write` returns the remaining length, the others the frame length.
    assert!(n <= buf.len());
    buf
}

fn decode_theirs(bytes: &[u8]) -> theirs::Packet {
    let mut buf = BytesMut::from(bytes);
    let p = theirs::read(&mut buf, usize::MAX).unwrap();
    assert!(buf.is_empty(), "mqttbytes left {} bytes", buf.len());
    p
}

/// The heart of the file: `ours` and `expected` describe the same packet in the two models.
fn crosscheck(ours: Packet, expected: theirs::Packet, from: Sender) {
    // Ours encodes, theirs decodes.
    let ours_bytes = encode_ours(&ours);
    let decoded = decode_theirs(&ours_bytes);
    assert_eq!(
        decoded, expected,
        "mqttbytes decoded our {ours:?} differently"
    );

    // Theirs encodes, ours decodes.
    let their_bytes = encode_theirs(&expected);
    let back = decode_ours(&their_bytes, from)
        .unwrap_or_else(|e| panic!("we refused mqttbytes' {expected:?}: {e}"));
    assert_eq!(back, ours, "we decoded mqttbytes' {expected:?} differently");

    // Both encoders are canonical for 3.1.1.
    assert_eq!(
        &ours_bytes[..],
        &their_bytes[..],
        "byte strings differ for {ours:?}"
    );
}

/// A will: topic, payload, QoS, retain.
type Will = (&'static str, &'static [u8], QoS, bool);

// ---- CONNECT ------------------------------------------------------------------------------

fn connect_pair(
    clean: bool,
    keep_alive: u16,
    client_id: &str,
    will: Option<Will>,
    login: Option<(&str, &str)>,
) -> (Packet, theirs::Packet) {
    let ours = Connect {
        protocol_version: V,
        clean_start: clean,
        keep_alive,
        properties: Default::default(),
        client_id: s(client_id),
        will: will.map(|(topic, payload, qos, retain)| LastWill {
            topic: s(topic),
            payload: Bytes::from_static(payload),
            qos,
            retain,
            properties: Default::default(),
        }),
        username: login.map(|(u, _)| s(u)),
        password: login.map(|(_, p)| Bytes::copy_from_slice(p.as_bytes())),
    };
    let expected = theirs::Connect {
        protocol: mqttbytes::Protocol::V4,
        keep_alive,
        client_id: client_id.to_owned(),
        clean_session: clean,
        last_will: will.map(|(topic, payload, qos, retain)| {
            theirs::LastWill::new(topic, payload, qos_theirs(qos), retain)
        }),
        login: login.map(|(u, p)| theirs::Login::new(u, p)),
    };
    (Packet::from(ours), theirs::Packet::Connect(expected))
}

#[test]
fn connect_all_flag_combinations() {
    let wills: [Option<Will>; 5] = [
        None,
        Some(("last/will", b"", QoS::AtMostOnce, false)),
        Some(("last/will", b"\x00\xffbinary", QoS::AtLeastOnce, true)),
        Some(("d\u{e9}j\u{e0}/vu", b"gone", QoS::ExactlyOnce, false)),
        Some(("w", b"x", QoS::ExactlyOnce, true)),
    ];
    let logins = [None, Some(("user", "p\u{e4}ss")), Some(("\u{1f600}", "x"))];
    for clean in [true, false] {
        for will in wills {
            for login in logins {
                for keep_alive in [0, 60, u16::MAX] {
                    let (ours, expected) =
                        connect_pair(clean, keep_alive, "client-\u{3b1}", will, login);
                    crosscheck(ours, expected, Sender::Client);
                }
            }
        }
    }
}

#[test]
fn connect_empty_client_id_with_clean_session() {
    let (ours, expected) = connect_pair(true, 30, "", None, None);
    crosscheck(ours, expected, Sender::Client);
}

#[test]
fn connect_long_fields_use_multi_byte_remaining_length() {
    let id = "i".repeat(200);
    let payload: &'static [u8] = &[0xA5; 20_000];
    let (ours, expected) = connect_pair(
        true,
        10,
        &id,
        Some(("big/will", payload, QoS::AtLeastOnce, false)),
        Some(("u", "p")),
    );
    crosscheck(ours, expected, Sender::Client);
}

/// Deviation of mqttbytes: an empty user name is not written, so a login of ("", "secret")
/// becomes a password without a user name, which [MQTT-3.1.2-22] forbids. We refuse it.
#[test]
fn connect_mqttbytes_password_without_username_is_refused() {
    let mut c = theirs::Connect::new("c");
    c.login = Some(theirs::Login::new("", "secret"));
    let bytes = encode_theirs(&theirs::Packet::Connect(c));
    let err = decode_ours(&bytes, Sender::Client).unwrap_err();
    assert_eq!(err, DecodeError::PasswordWithoutUsername);
}

/// Deviation of mqttbytes: it reads an empty user name (without password) back as no login
/// at all. The bytes we write are the spec's (flag set, zero-length string); only their
/// model loses the distinction.
#[test]
fn connect_empty_username_reads_as_no_login_in_mqttbytes() {
    let ours = Connect {
        protocol_version: V,
        clean_start: true,
        keep_alive: 5,
        properties: Default::default(),
        client_id: s("c"),
        will: None,
        username: Some(s("")),
        password: None,
    };
    let bytes = encode_ours(&Packet::from(ours.clone()));
    // Connect flags: user name + clean session.
    assert_eq!(bytes[9], 0x82);
    match decode_theirs(&bytes) {
        theirs::Packet::Connect(c) => assert_eq!(c.login, None),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        decode_ours(&bytes, Sender::Client).unwrap(),
        Packet::from(ours)
    );
}

/// Deviation of mqttbytes: the password is a `String`, so a binary password is beyond it.
#[test]
fn connect_binary_password_is_refused_by_mqttbytes_only() {
    let ours = Connect {
        protocol_version: V,
        clean_start: true,
        keep_alive: 5,
        properties: Default::default(),
        client_id: s("c"),
        will: None,
        username: Some(s("u")),
        password: Some(Bytes::from_static(b"\xff\xfe\x00")),
    };
    let bytes = encode_ours(&Packet::from(ours.clone()));
    let mut buf = BytesMut::from(&bytes[..]);
    assert_eq!(
        theirs::read(&mut buf, usize::MAX).unwrap_err(),
        mqttbytes::Error::TopicNotUtf8
    );
    assert_eq!(
        decode_ours(&bytes, Sender::Client).unwrap(),
        Packet::from(ours)
    );
}

// ---- CONNACK ------------------------------------------------------------------------------

#[test]
fn connack_every_return_code() {
    use theirs::ConnectReturnCode as T;
    let codes = [
        (ConnectReasonCode::Success, T::Success),
        (
            ConnectReasonCode::UnsupportedProtocolVersion,
            T::RefusedProtocolVersion,
        ),
        (ConnectReasonCode::ClientIdentifierNotValid, T::BadClientId),
        (ConnectReasonCode::ServerUnavailable, T::ServiceUnavailable),
        (
            ConnectReasonCode::BadUserNameOrPassword,
            T::BadUserNamePassword,
        ),
        (ConnectReasonCode::NotAuthorized, T::NotAuthorized),
    ];
    for (ours_code, their_code) in codes {
        // [MQTT-3.2.2-4] a refusal carries Session Present 0.
        let presents: &[bool] = if ours_code.is_error() {
            &[false]
        } else {
            &[false, true]
        };
        for &session_present in presents {
            let ours = ConnAck {
                session_present,
                reason_code: ours_code,
                properties: Default::default(),
            };
            let expected = theirs::ConnAck::new(their_code, session_present);
            crosscheck(
                Packet::from(ours),
                theirs::Packet::ConnAck(expected),
                Sender::Server,
            );
        }
    }
}

/// MQTT 5 reasons written on a 3.1.1 connection travel as the nearest return code.
#[test]
fn connack_v5_reasons_map_to_v3_return_codes() {
    use theirs::ConnectReturnCode as T;
    let cases = [
        (ConnectReasonCode::Banned, T::NotAuthorized),
        (ConnectReasonCode::BadAuthenticationMethod, T::NotAuthorized),
        (ConnectReasonCode::ServerBusy, T::ServiceUnavailable),
        (ConnectReasonCode::UnspecifiedError, T::ServiceUnavailable),
        (ConnectReasonCode::QuotaExceeded, T::ServiceUnavailable),
    ];
    for (ours_code, their_code) in cases {
        let ours = Packet::from(ConnAck {
            session_present: false,
            reason_code: ours_code,
            properties: Default::default(),
        });
        assert_eq!(
            decode_theirs(&encode_ours(&ours)),
            theirs::Packet::ConnAck(theirs::ConnAck::new(their_code, false)),
            "{ours_code:?}"
        );
    }
}

/// mqttbytes writes Session Present 1 with a refusal; [MQTT-3.2.2-4] forbids it, and we
/// refuse to read it.
#[test]
fn connack_session_present_with_refusal_is_refused() {
    let c = theirs::ConnAck::new(theirs::ConnectReturnCode::NotAuthorized, true);
    let bytes = encode_theirs(&theirs::Packet::ConnAck(c));
    assert_eq!(&bytes[..], &[0x20, 0x02, 0x01, 0x05]);
    assert_eq!(
        decode_ours(&bytes, Sender::Server),
        Err(DecodeError::ConnAckSessionPresentOnError)
    );
}

// ---- PUBLISH ------------------------------------------------------------------------------

fn publish_pair(
    topic: &str,
    qos: QoS,
    packet_id: u16,
    dup: bool,
    retain: bool,
    payload: Bytes,
) -> (Packet, theirs::Packet) {
    let ours = Publish {
        dup,
        qos_pid: QosPid::new(qos, pid(packet_id)),
        retain,
        topic: s(topic),
        properties: Default::default(),
        payload: payload.clone(),
    };
    let mut expected = theirs::Publish::from_bytes(topic, qos_theirs(qos), payload);
    expected.dup = dup;
    expected.retain = retain;
    expected.pkid = if qos == QoS::AtMostOnce { 0 } else { packet_id };
    (Packet::from(ours), theirs::Packet::Publish(expected))
}

#[test]
fn publish_all_qos_dup_retain_and_payload_sizes() {
    let payloads = [
        Bytes::new(),
        Bytes::from_static(b"hello"),
        Bytes::from_static(b"\x00\x01\x02\xfe\xff"),
        Bytes::from(vec![0x5A; 127]),
        Bytes::from(vec![0x5A; 16_500]),
        Bytes::from(vec![0x3C; 2_100_000]),
    ];
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        // [MQTT-3.3.1-2] DUP is 0 on QoS 0.
        let dups: &[bool] = if qos == QoS::AtMostOnce {
            &[false]
        } else {
            &[false, true]
        };
        for &dup in dups {
            for retain in [false, true] {
                for payload in &payloads {
                    for (topic, packet_id) in [("a/b/c", 1), ("\u{20ac}/\u{1f600}", u16::MAX)] {
                        let (ours, expected) =
                            publish_pair(topic, qos, packet_id, dup, retain, payload.clone());
                        crosscheck(ours.clone(), expected.clone(), Sender::Client);
                        crosscheck(ours, expected, Sender::Server);
                    }
                }
            }
        }
    }
}

// ---- PUBACK, PUBREC, PUBREL, PUBCOMP ------------------------------------------------------

#[test]
fn publish_acknowledgements() {
    for id in [1, 2, 0x1234, 0x8000, u16::MAX] {
        let cases: [(Packet, theirs::Packet); 4] = [
            (
                Packet::PubAck(PubAck::new(pid(id))),
                theirs::Packet::PubAck(theirs::PubAck::new(id)),
            ),
            (
                Packet::PubRec(PubRec::new(pid(id))),
                theirs::Packet::PubRec(theirs::PubRec::new(id)),
            ),
            (
                Packet::PubRel(PubRel::new(pid(id))),
                theirs::Packet::PubRel(theirs::PubRel::new(id)),
            ),
            (
                Packet::PubComp(PubComp::new(pid(id))),
                theirs::Packet::PubComp(theirs::PubComp::new(id)),
            ),
        ];
        for (ours, expected) in cases {
            crosscheck(ours.clone(), expected.clone(), Sender::Client);
            crosscheck(ours, expected, Sender::Server);
        }
    }
}

/// On 3.1.1 an acknowledgement is only a packet identifier: an MQTT 5 reason given to our
/// encoder is not written.
#[test]
fn publish_acknowledgement_reason_is_dropped_on_v311() {
    let ack: PubAck = Ack {
        packet_id: pid(7),
        reason_code: mqtt_proto::PubAckReasonCode::QuotaExceeded,
        properties: Default::default(),
    };
    assert_eq!(
        decode_theirs(&encode_ours(&Packet::PubAck(ack))),
        theirs::Packet::PubAck(theirs::PubAck::new(7))
    );
}

// ---- SUBSCRIBE, SUBACK --------------------------------------------------------------------

#[test]
fn subscribe_many_filters() {
    let filters = [
        ("a/b", QoS::AtMostOnce),
        ("sport/tennis/+", QoS::AtLeastOnce),
        ("#", QoS::ExactlyOnce),
        ("+/+/\u{e9}t\u{e9}", QoS::AtLeastOnce),
        ("$SYS/#", QoS::AtMostOnce),
    ];
    for n in 1..=filters.len() {
        let ours = Subscribe {
            packet_id: pid(0x0A0B),
            properties: Default::default(),
            subscriptions: filters[..n]
                .iter()
                .map(|&(f, qos)| Subscription {
                    filter: s(f),
                    options: SubscriptionOptions {
                        qos,
                        ..Default::default()
                    },
                })
                .collect(),
        };
        let expected = theirs::Subscribe {
            pkid: 0x0A0B,
            filters: filters[..n]
                .iter()
                .map(|&(f, qos)| theirs::SubscribeFilter::new(f.to_owned(), qos_theirs(qos)))
                .collect(),
        };
        crosscheck(
            Packet::from(ours),
            theirs::Packet::Subscribe(expected),
            Sender::Client,
        );
    }
}

#[test]
fn suback_grants_and_failure() {
    use theirs::SubscribeReasonCode as T;
    let codes = [
        (
            SubAckReasonCode::GrantedQoS0,
            T::Success(mqttbytes::QoS::AtMostOnce),
        ),
        (
            SubAckReasonCode::GrantedQoS1,
            T::Success(mqttbytes::QoS::AtLeastOnce),
        ),
        (
            SubAckReasonCode::GrantedQoS2,
            T::Success(mqttbytes::QoS::ExactlyOnce),
        ),
        (SubAckReasonCode::UnspecifiedError, T::Failure),
    ];
    for n in 1..=codes.len() {
        for rotate in 0..codes.len() {
            let mut c = codes.to_vec();
            c.rotate_left(rotate);
            c.truncate(n);
            let ours = SubAck {
                packet_id: pid(u16::MAX),
                properties: Default::default(),
                reason_codes: c.iter().map(|x| x.0).collect(),
            };
            let expected = theirs::SubAck::new(u16::MAX, c.iter().map(|x| x.1).collect());
            crosscheck(
                Packet::from(ours),
                theirs::Packet::SubAck(expected),
                Sender::Server,
            );
        }
    }
}

/// MQTT 5 failure reasons written on a 3.1.1 connection become 0x80.
#[test]
fn suback_v5_failures_become_0x80() {
    let ours = SubAck {
        packet_id: pid(3),
        properties: Default::default(),
        reason_codes: [
            SubAckReasonCode::NotAuthorized,
            SubAckReasonCode::GrantedQoS1,
            SubAckReasonCode::TopicFilterInvalid,
            SubAckReasonCode::WildcardSubscriptionsNotSupported,
        ]
        .into_iter()
        .collect(),
    };
    use theirs::SubscribeReasonCode as T;
    assert_eq!(
        decode_theirs(&encode_ours(&Packet::from(ours))),
        theirs::Packet::SubAck(theirs::SubAck::new(
            3,
            vec![
                T::Failure,
                T::Success(mqttbytes::QoS::AtLeastOnce),
                T::Failure,
                T::Failure
            ]
        ))
    );
}

/// mqttbytes writes a SUBSCRIBE or UNSUBSCRIBE without any filter; [MQTT-3.8.3-3] and
/// [MQTT-3.10.3-2] forbid it, and we refuse to read it.
#[test]
fn subscribe_and_unsubscribe_without_filters_are_refused() {
    let mut sub = theirs::Subscribe::empty_subscribe();
    sub.pkid = 1;
    let bytes = encode_theirs(&theirs::Packet::Subscribe(sub));
    assert_eq!(&bytes[..], &[0x82, 0x02, 0x00, 0x01]);
    assert_eq!(
        decode_ours(&bytes, Sender::Client),
        Err(DecodeError::SubscribeWithoutFilters)
    );
    let unsub = theirs::Unsubscribe {
        pkid: 1,
        topics: Vec::new(),
    };
    let bytes = encode_theirs(&theirs::Packet::Unsubscribe(unsub));
    assert_eq!(&bytes[..], &[0xA2, 0x02, 0x00, 0x01]);
    assert_eq!(
        decode_ours(&bytes, Sender::Client),
        Err(DecodeError::UnsubscribeWithoutFilters)
    );
}

// ---- UNSUBSCRIBE, UNSUBACK ----------------------------------------------------------------

#[test]
fn unsubscribe_many_filters() {
    let filters = ["a/b", "sport/+/player1", "#", "\u{4e2d}\u{6587}/+"];
    for n in 1..=filters.len() {
        let ours = Unsubscribe {
            packet_id: pid(9),
            properties: Default::default(),
            filters: filters[..n].iter().map(|f| s(f)).collect(),
        };
        let expected = theirs::Unsubscribe {
            pkid: 9,
            topics: filters[..n].iter().map(|f| (*f).to_owned()).collect(),
        };
        crosscheck(
            Packet::from(ours),
            theirs::Packet::Unsubscribe(expected),
            Sender::Client,
        );
    }
}

#[test]
fn unsuback() {
    for id in [1, 0x0102, u16::MAX] {
        let ours = UnsubAck {
            packet_id: pid(id),
            properties: Default::default(),
            reason_codes: Default::default(),
        };
        crosscheck(
            Packet::from(ours),
            theirs::Packet::UnsubAck(theirs::UnsubAck::new(id)),
            Sender::Server,
        );
    }
}

// ---- PINGREQ, PINGRESP, DISCONNECT --------------------------------------------------------

#[test]
fn pingreq_pingresp_disconnect() {
    crosscheck(Packet::PingReq, theirs::Packet::PingReq, Sender::Client);
    crosscheck(Packet::PingResp, theirs::Packet::PingResp, Sender::Server);
    crosscheck(
        Packet::from(Disconnect::default()),
        theirs::Packet::Disconnect,
        Sender::Client,
    );
}

/// The 14 packet types of 3.1.1, one each, in one buffer: both decoders frame them alike.
#[test]
fn stream_of_every_packet_type() {
    let (connect, connect_t) = connect_pair(
        true,
        60,
        "c",
        Some(("w", b"bye", QoS::AtLeastOnce, true)),
        Some(("u", "p")),
    );
    let (publish, publish_t) = publish_pair(
        "t",
        QoS::ExactlyOnce,
        5,
        true,
        false,
        Bytes::from_static(b"m"),
    );
    let pairs = vec![
        (connect, connect_t),
        (
            Packet::from(ConnAck {
                session_present: true,
                reason_code: ConnectReasonCode::Success,
                properties: Default::default(),
            }),
            theirs::Packet::ConnAck(theirs::ConnAck::new(
                theirs::ConnectReturnCode::Success,
                true,
            )),
        ),
        (publish, publish_t),
        (
            Packet::PubAck(PubAck::new(pid(1))),
            theirs::Packet::PubAck(theirs::PubAck::new(1)),
        ),
        (
            Packet::PubRec(PubRec::new(pid(2))),
            theirs::Packet::PubRec(theirs::PubRec::new(2)),
        ),
        (
            Packet::PubRel(PubRel::new(pid(3))),
            theirs::Packet::PubRel(theirs::PubRel::new(3)),
        ),
        (
            Packet::PubComp(PubComp::new(pid(4))),
            theirs::Packet::PubComp(theirs::PubComp::new(4)),
        ),
        (
            Packet::from(Subscribe {
                packet_id: pid(5),
                properties: Default::default(),
                subscriptions: [Subscription {
                    filter: s("a/#"),
                    options: SubscriptionOptions {
                        qos: QoS::AtLeastOnce,
                        ..Default::default()
                    },
                }]
                .into_iter()
                .collect(),
            }),
            theirs::Packet::Subscribe(theirs::Subscribe {
                pkid: 5,
                filters: vec![theirs::SubscribeFilter::new(
                    "a/#".to_owned(),
                    mqttbytes::QoS::AtLeastOnce,
                )],
            }),
        ),
        (
            Packet::from(SubAck {
                packet_id: pid(5),
                properties: Default::default(),
                reason_codes: [SubAckReasonCode::GrantedQoS1].into_iter().collect(),
            }),
            theirs::Packet::SubAck(theirs::SubAck::new(
                5,
                vec![theirs::SubscribeReasonCode::Success(
                    mqttbytes::QoS::AtLeastOnce,
                )],
            )),
        ),
        (
            Packet::from(Unsubscribe {
                packet_id: pid(6),
                properties: Default::default(),
                filters: [s("a/#")].into_iter().collect(),
            }),
            theirs::Packet::Unsubscribe(theirs::Unsubscribe {
                pkid: 6,
                topics: vec!["a/#".to_owned()],
            }),
        ),
        (
            Packet::from(UnsubAck {
                packet_id: pid(6),
                properties: Default::default(),
                reason_codes: Default::default(),
            }),
            theirs::Packet::UnsubAck(theirs::UnsubAck::new(6)),
        ),
        (Packet::PingReq, theirs::Packet::PingReq),
        (Packet::PingResp, theirs::Packet::PingResp),
        (
            Packet::from(Disconnect::default()),
            theirs::Packet::Disconnect,
        ),
    ];
    assert_eq!(pairs.len(), 14);

    let mut ours_stream = BytesMut::new();
    let mut their_stream = BytesMut::new();
    for (o, t) in &pairs {
        o.encode(V, &mut ours_stream).unwrap();
        their_stream.extend_from_slice(&encode_theirs(t));
    }
    assert_eq!(ours_stream, their_stream);

    // Theirs reads our stream.
    let mut buf = ours_stream.clone();
    for (_, t) in &pairs {
        assert_eq!(&theirs::read(&mut buf, usize::MAX).unwrap(), t);
    }
    assert!(buf.is_empty());

    // Ours reads theirs. The role only matters for direction checks; switch per packet.
    let mut buf = their_stream;
    for (o, _) in &pairs {
        let opts = match o {
            Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp => {
                DecodeOptions::client(V)
            }
            _ => DecodeOptions::server(V),
        };
        assert_eq!(&Packet::decode(&mut buf, &opts).unwrap().unwrap(), o);
    }
    assert!(buf.is_empty());
}
