#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Property tests: every packet type in every version it exists in round-trips through
//! `encode` and `decode`; arbitrary and mutated bytes never panic the decoder, and whatever
//! it accepts re-encodes to the same packet; `encode_within` trims diagnostics in order.

use core::num::{NonZeroU16, NonZeroU32};

use mqtt_proto::{
    parse_fixed_header, Ack, AckProperties, AckReason, Auth, AuthProperties, AuthReasonCode,
    ByteString, Bytes, BytesMut, ConnAck, ConnAckProperties, Connect, ConnectProperties,
    ConnectReasonCode, ConnectReturnCode, ControlChars, DecodeOptions, Disconnect,
    DisconnectProperties, DisconnectReasonCode, EncodeError, LastWill, Packet, ProtocolVersion,
    PubAck, PubAckReasonCode, PubRelReasonCode, Publish, PublishProperties, QoS, QosPid,
    RetainHandling, Role, SubAck, SubAckReasonCode, Subscribe, SubscribeProperties, Subscription,
    SubscriptionOptions, UnsubAck, UnsubAckReasonCode, Unsubscribe, UnsubscribeProperties,
    UserProperties, WillProperties, MAX_VARINT,
};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;

use ProtocolVersion::{V3_1, V3_1_1, V5};

const ALL_VERSIONS: [ProtocolVersion; 3] = [V3_1, V3_1_1, V5];
const SHARE_PREFIX: &str = "$share/";

// ---- value strategies --------------------------------------------------------------------------

fn version() -> impl Strategy<Value = ProtocolVersion> {
    select(ALL_VERSIONS.to_vec())
}

fn role() -> impl Strategy<Value = Role> {
    select(vec![Role::Client, Role::Server])
}

fn qos() -> impl Strategy<Value = QoS> {
    select(vec![QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce])
}

fn nz16() -> impl Strategy<Value = NonZeroU16> {
    (1..=u16::MAX).prop_map(|n| NonZeroU16::new(n).unwrap())
}

fn nz32() -> impl Strategy<Value = NonZeroU32> {
    (1..=u32::MAX).prop_map(|n| NonZeroU32::new(n).unwrap())
}

/// A Subscription Identifier: 1..=268,435,455, biased to each varint width.
fn sub_id() -> impl Strategy<Value = NonZeroU32> {
    prop_oneof![
        1..=127u32,
        128..=16_383u32,
        16_384..=MAX_VARINT,
        Just(MAX_VARINT)
    ]
    .prop_map(|n| NonZeroU32::new(n).unwrap())
}

/// Any character but a control character (U+0000..U+001F, U+007F..U+009F), which the
/// decoder rejects by default. Topic punctuation and a BOM are made likely.
fn text_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => any::<char>().prop_map(|c| if c.is_control() { '.' } else { c }),
        1 => select(vec!['/', '+', '#', '$', ' ', 'a', 'é', '€', '\u{FEFF}', '😀']),
    ]
}

fn text(max: usize) -> impl Strategy<Value = ByteString> {
    vec(text_char(), 0..=max).prop_map(|cs| ByteString::from(cs.into_iter().collect::<String>()))
}

/// A topic name: non-empty and without wildcards [MQTT-3.3.2-2], [MQTT-4.7.3-1].
fn topic_name() -> impl Strategy<Value = ByteString> {
    vec(
        text_char().prop_map(|c| if c == '+' || c == '#' { '/' } else { c }),
        1..=24,
    )
    .prop_map(|cs| ByteString::from(cs.into_iter().collect::<String>()))
}

/// A topic filter as the codec sees it: any string; sometimes a shared subscription.
fn filter() -> impl Strategy<Value = ByteString> {
    prop_oneof![
        3 => text(24),
        1 => text(12).prop_map(|s| ByteString::from(format!("{SHARE_PREFIX}{s}"))),
    ]
}

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..=max).prop_map(Bytes::from)
}

/// User properties, often with a repeated key.
fn user_props() -> impl Strategy<Value = UserProperties> {
    let key = prop_oneof![Just(ByteString::from_static("k")), text(8)];
    vec((key, text(8)), 0..4).prop_map(|v| v.into_iter().collect())
}

/// `s` on MQTT 5; the empty default on 3.x, where properties do not exist.
fn v5_or_default<T, S>(v: ProtocolVersion, s: S) -> BoxedStrategy<T>
where
    T: Default + Clone + core::fmt::Debug + 'static,
    S: Strategy<Value = T> + 'static,
{
    if v.is_v5() {
        s.boxed()
    } else {
        Just(T::default()).boxed()
    }
}

// ---- property strategies -----------------------------------------------------------------------

fn connect_props() -> impl Strategy<Value = ConnectProperties> {
    (
        option::of(any::<u32>()),
        option::of(nz16()),
        option::of(nz32()),
        option::of(any::<u16>()),
        option::of(any::<bool>()),
        option::of(any::<bool>()),
        option::of(text(12)),
        option::of(bytes(12)),
        user_props(),
    )
        .prop_map(|(sei, rm, mps, tam, rri, rpi, method, data, user)| {
            ConnectProperties {
                session_expiry_interval: sei,
                receive_maximum: rm,
                maximum_packet_size: mps,
                topic_alias_maximum: tam,
                request_response_information: rri,
                request_problem_information: rpi,
                // [MQTT-3.1.2.11.10] authentication data needs a method.
                authentication_data: data.filter(|_| method.is_some()),
                authentication_method: method,
                user_properties: user,
            }
        })
}

fn will_props() -> impl Strategy<Value = WillProperties> {
    (
        option::of(any::<u32>()),
        option::of(any::<bool>()),
        option::of(any::<u32>()),
        option::of(text(12)),
        option::of(topic_name()),
        option::of(bytes(12)),
        user_props(),
    )
        .prop_map(|(wdi, pfi, mei, ct, rt, cd, user)| WillProperties {
            will_delay_interval: wdi,
            payload_format_indicator: pfi,
            message_expiry_interval: mei,
            content_type: ct,
            response_topic: rt,
            correlation_data: cd,
            user_properties: user,
        })
}

fn connack_props() -> impl Strategy<Value = ConnAckProperties> {
    (
        (
            option::of(any::<u32>()),
            option::of(nz16()),
            option::of(select(vec![QoS::AtMostOnce, QoS::AtLeastOnce])),
            option::of(any::<bool>()),
            option::of(nz32()),
            option::of(text(12)),
            option::of(any::<u16>()),
            option::of(text(24)),
            option::of(any::<bool>()),
        ),
        (
            option::of(any::<bool>()),
            option::of(any::<bool>()),
            option::of(any::<u16>()),
            option::of(text(12)),
            option::of(text(12)),
            option::of(text(12)),
            option::of(bytes(12)),
            user_props(),
        ),
    )
        .prop_map(
            |((sei, rm, mq, ra, mps, aci, tam, rs, wsa), (sia, ssa, ska, ri, sr, am, ad, user))| {
                ConnAckProperties {
                    session_expiry_interval: sei,
                    receive_maximum: rm,
                    maximum_qos: mq,
                    retain_available: ra,
                    maximum_packet_size: mps,
                    assigned_client_identifier: aci,
                    topic_alias_maximum: tam,
                    reason_string: rs,
                    wildcard_subscription_available: wsa,
                    subscription_identifiers_available: sia,
                    shared_subscription_available: ssa,
                    server_keep_alive: ska,
                    response_information: ri,
                    server_reference: sr,
                    authentication_method: am,
                    authentication_data: ad,
                    user_properties: user,
                }
            },
        )
}

/// PUBLISH properties. Subscription identifiers only travel from server to client
/// [MQTT-3.3.4-6].
fn publish_props(sender: Role) -> impl Strategy<Value = PublishProperties> {
    let max_ids = if sender == Role::Server { 4 } else { 0 };
    (
        option::of(any::<bool>()),
        option::of(any::<u32>()),
        option::of(nz16()),
        option::of(topic_name()),
        option::of(bytes(16)),
        user_props(),
        vec(sub_id(), 0..=max_ids),
        option::of(text(12)),
    )
        .prop_map(
            |(pfi, mei, alias, rt, cd, user, ids, ct)| PublishProperties {
                payload_format_indicator: pfi,
                message_expiry_interval: mei,
                topic_alias: alias,
                response_topic: rt,
                correlation_data: cd,
                user_properties: user,
                subscription_identifiers: ids.into_iter().collect(),
                content_type: ct,
            },
        )
}

fn ack_props() -> impl Strategy<Value = AckProperties> {
    (option::of(text(32)), user_props()).prop_map(|(rs, user)| AckProperties {
        reason_string: rs,
        user_properties: user,
    })
}

fn subscribe_props() -> impl Strategy<Value = SubscribeProperties> {
    (option::of(sub_id()), user_props()).prop_map(|(id, user)| SubscribeProperties {
        subscription_identifier: id,
        user_properties: user,
    })
}

fn unsubscribe_props() -> impl Strategy<Value = UnsubscribeProperties> {
    user_props().prop_map(|user| UnsubscribeProperties {
        user_properties: user,
    })
}

fn disconnect_props() -> impl Strategy<Value = DisconnectProperties> {
    (
        option::of(any::<u32>()),
        option::of(text(24)),
        option::of(text(12)),
        user_props(),
    )
        .prop_map(|(sei, rs, sr, user)| DisconnectProperties {
            session_expiry_interval: sei,
            reason_string: rs,
            server_reference: sr,
            user_properties: user,
        })
}

fn auth_props() -> impl Strategy<Value = AuthProperties> {
    (
        option::of(text(12)),
        option::of(bytes(24)),
        option::of(text(24)),
        user_props(),
    )
        .prop_map(|(am, ad, rs, user)| AuthProperties {
            authentication_method: am,
            authentication_data: ad,
            reason_string: rs,
            user_properties: user,
        })
}

// ---- packet strategies -------------------------------------------------------------------------

fn connect(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let will = (
        topic_name(),
        bytes(32),
        qos(),
        any::<bool>(),
        v5_or_default(v, will_props()),
    )
        .prop_map(|(topic, payload, qos, retain, properties)| LastWill {
            topic,
            payload,
            qos,
            retain,
            properties,
        });
    (
        any::<bool>(),
        any::<u16>(),
        v5_or_default(v, connect_props()),
        text(23),
        option::of(will),
        option::of(text(12)),
        option::of(bytes(12)),
    )
        .prop_map(
            move |(clean_start, keep_alive, properties, client_id, will, username, password)| {
                // [MQTT-3.1.2-22] on 3.x a password needs a user name.
                let password = password.filter(|_| v.is_v5() || username.is_some());
                Packet::from(Connect {
                    protocol_version: v,
                    clean_start,
                    keep_alive,
                    properties,
                    client_id,
                    will,
                    username,
                    password,
                })
            },
        )
}

fn connack(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let code = if v.is_v5() {
        select(ConnectReasonCode::ALL).boxed()
    } else {
        // Only the six codes that come from a 3.x return code survive the trip.
        select(ConnectReturnCode::ALL)
            .prop_map(ConnectReasonCode::from)
            .boxed()
    };
    (any::<bool>(), code, v5_or_default(v, connack_props())).prop_map(
        move |(session_present, reason_code, properties)| {
            Packet::from(ConnAck {
                // 3.1 has no Session Present flag; [MQTT-3.2.2-6] none on a refusal.
                session_present: session_present && v != V3_1 && !reason_code.is_error(),
                reason_code,
                properties,
            })
        },
    )
}

fn publish(v: ProtocolVersion, sender: Role) -> impl Strategy<Value = Packet> {
    (
        any::<bool>(),
        qos(),
        nz16(),
        any::<bool>(),
        topic_name(),
        any::<bool>(),
        v5_or_default(v, publish_props(sender)),
        bytes(300),
    )
        .prop_map(
            |(dup, qos, pid, retain, topic, drop_topic, properties, payload)| {
                let qos_pid = QosPid::new(qos, pid);
                // [MQTT-4.7.3-1] the topic may be empty only when a topic alias stands for it.
                let topic = if drop_topic && properties.topic_alias.is_some() {
                    ByteString::new()
                } else {
                    topic
                };
                Packet::Publish(Publish {
                    // [MQTT-3.3.1-2] no DUP on QoS 0.
                    dup: dup && qos != QoS::AtMostOnce,
                    qos_pid,
                    retain,
                    topic,
                    properties,
                    payload,
                })
            },
        )
}

fn ack<C>(v: ProtocolVersion, codes: &'static [C]) -> impl Strategy<Value = Ack<C>>
where
    C: AckReason + 'static,
{
    (
        nz16(),
        v5_or_default(v, (select(codes), ack_props()).prop_map(Some)),
    )
        .prop_map(|(packet_id, rest)| match rest {
            Some((reason_code, properties)) => Ack {
                packet_id,
                reason_code,
                properties,
            },
            None => Ack::new(packet_id),
        })
}

fn subscribe(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let options = (
        qos(),
        any::<bool>(),
        any::<bool>(),
        select(vec![
            RetainHandling::SendAtSubscribe,
            RetainHandling::SendIfNew,
            RetainHandling::DoNotSend,
        ]),
    );
    let entry = (filter(), options).prop_map(move |(filter, (qos, nl, rap, rh))| {
        let options = if v.is_v5() {
            SubscriptionOptions {
                qos,
                // [MQTT-3.8.3-4] No Local is a protocol error on a shared subscription.
                no_local: nl && !filter.starts_with(SHARE_PREFIX),
                retain_as_published: rap,
                retain_handling: rh,
            }
        } else {
            SubscriptionOptions {
                qos,
                ..SubscriptionOptions::default()
            }
        };
        Subscription { filter, options }
    });
    (
        nz16(),
        v5_or_default(v, subscribe_props()),
        vec(entry, 1..5),
    )
        .prop_map(|(packet_id, properties, subs)| {
            Packet::Subscribe(Subscribe {
                packet_id,
                properties,
                subscriptions: subs.into_iter().collect(),
            })
        })
}

fn suback(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let codes: Vec<SubAckReasonCode> = if v.is_v5() {
        SubAckReasonCode::ALL.to_vec()
    } else {
        vec![
            SubAckReasonCode::GrantedQoS0,
            SubAckReasonCode::GrantedQoS1,
            SubAckReasonCode::GrantedQoS2,
            SubAckReasonCode::UnspecifiedError,
        ]
    };
    (
        nz16(),
        v5_or_default(v, ack_props()),
        vec(select(codes), 1..6),
    )
        .prop_map(|(packet_id, properties, codes)| {
            Packet::SubAck(SubAck {
                packet_id,
                properties,
                reason_codes: codes.into_iter().collect(),
            })
        })
}

fn unsubscribe(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (
        nz16(),
        v5_or_default(v, unsubscribe_props()),
        vec(filter(), 1..5),
    )
        .prop_map(|(packet_id, properties, filters)| {
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                properties,
                filters: filters.into_iter().collect(),
            })
        })
}

fn unsuback(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    // MQTT 3.x UNSUBACK carries no reason codes.
    let codes = if v.is_v5() {
        vec(select(UnsubAckReasonCode::ALL), 1..6).boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    (nz16(), v5_or_default(v, ack_props()), codes).prop_map(|(packet_id, properties, codes)| {
        Packet::UnsubAck(UnsubAck {
            packet_id,
            properties,
            reason_codes: codes.into_iter().collect(),
        })
    })
}

fn disconnect(v: ProtocolVersion, sender: Role) -> impl Strategy<Value = Packet> {
    v5_or_default(
        v,
        (select(DisconnectReasonCode::ALL), disconnect_props()).prop_map(
            move |(reason_code, mut properties)| {
                // [MQTT-3.14.2-2] a server never sends Session Expiry Interval.
                if sender == Role::Server {
                    properties.session_expiry_interval = None;
                }
                Disconnect {
                    reason_code,
                    properties,
                }
            },
        ),
    )
    .prop_map(Packet::Disconnect)
}

fn auth() -> impl Strategy<Value = Packet> {
    (select(AuthReasonCode::ALL), auth_props())
        .prop_map(|(reason_code, properties)| Auth {
            reason_code,
            properties,
        })
        // [MQTT-3.15.2.2.2] only the bare Success form may leave out the method.
        .prop_filter("AUTH needs a method unless bare", |a| {
            a.properties.authentication_method.is_some()
                || (a.reason_code == AuthReasonCode::Success
                    && a.properties == AuthProperties::default())
        })
        .prop_map(Packet::Auth)
}

/// Any valid packet that `sender` may send in `v`.
fn any_packet(v: ProtocolVersion, sender: Role) -> BoxedStrategy<Packet> {
    let both = prop_oneof![
        publish(v, sender),
        ack(v, PubAckReasonCode::ALL).prop_map(Packet::PubAck),
        ack(v, PubAckReasonCode::ALL).prop_map(Packet::PubRec),
        ack(v, PubRelReasonCode::ALL).prop_map(Packet::PubRel),
        ack(v, PubRelReasonCode::ALL).prop_map(Packet::PubComp),
        disconnect(v, sender),
    ];
    let own = match sender {
        Role::Client => prop_oneof![
            connect(v),
            subscribe(v),
            unsubscribe(v),
            Just(Packet::PingReq)
        ]
        .boxed(),
        Role::Server => {
            prop_oneof![connack(v), suback(v), unsuback(v), Just(Packet::PingResp)].boxed()
        }
    };
    if v.is_v5() {
        prop_oneof![both, own, auth()].boxed()
    } else {
        prop_oneof![both, own].boxed()
    }
}

// ---- checks ------------------------------------------------------------------------------------

/// Options for decoding what `sender` wrote, with topic aliases allowed.
fn opts_for(v: ProtocolVersion, sender: Role) -> DecodeOptions {
    let mut opts = match sender {
        Role::Client => DecodeOptions::server(v),
        Role::Server => DecodeOptions::client(v),
    };
    opts.topic_alias_maximum = u16::MAX;
    opts
}

/// `encoded_len` is exact, every strict prefix needs more, and the whole decodes to `p`,
/// consuming exactly its bytes.
fn roundtrip(v: ProtocolVersion, sender: Role, p: &Packet) -> Result<(), TestCaseError> {
    let mut buf = BytesMut::new();
    p.encode(v, &mut buf)
        .map_err(|e| TestCaseError::fail(format!("encode failed: {e}")))?;
    prop_assert_eq!(p.encoded_len(v), buf.len());
    let opts = opts_for(v, sender);
    for cut in [0, 1, 2, buf.len() / 2, buf.len() - 1] {
        let mut part = BytesMut::from(&buf[..cut.min(buf.len() - 1)]);
        let len = part.len();
        prop_assert_eq!(Packet::decode(&mut part, &opts), Ok(None));
        prop_assert_eq!(part.len(), len);
    }
    // Followed by the start of another packet, which stays in the buffer.
    buf.extend_from_slice(&[0xC0]);
    prop_assert_eq!(Packet::decode(&mut buf, &opts), Ok(Some(p.clone())));
    prop_assert_eq!(&buf[..], &[0xC0]);
    Ok(())
}

/// Decodes packets off `bytes` until it needs more or fails. Nothing may panic; an error or
/// "need more" consumes nothing; whatever decodes re-encodes and decodes to itself.
fn decode_stream(bytes: &[u8], opts: &DecodeOptions) -> Result<(), TestCaseError> {
    let mut buf = BytesMut::from(bytes);
    loop {
        let before = buf.len();
        match Packet::decode(&mut buf, opts) {
            Ok(Some(p)) => {
                prop_assert!(buf.len() < before);
                reencode(&p, opts)?;
            }
            Ok(None) | Err(_) => {
                prop_assert_eq!(buf.len(), before);
                return Ok(());
            }
        }
    }
}

fn reencode(p: &Packet, opts: &DecodeOptions) -> Result<(), TestCaseError> {
    let mut out = BytesMut::new();
    p.encode(opts.version, &mut out)
        .map_err(|e| TestCaseError::fail(format!("re-encode of {p:?} failed: {e}")))?;
    prop_assert_eq!(out.len(), p.encoded_len(opts.version));
    prop_assert_eq!(Packet::decode(&mut out, opts), Ok(Some(p.clone())));
    prop_assert!(out.is_empty());
    Ok(())
}

fn fuzz_opts() -> impl Strategy<Value = DecodeOptions> {
    (
        version(),
        role(),
        select(vec![0, 1, u16::MAX]),
        select(vec![ControlChars::Reject, ControlChars::Allow]),
    )
        .prop_map(|(v, sender, tam, cc)| {
            let mut opts = opts_for(v, sender);
            opts.topic_alias_maximum = tam;
            opts.control_chars = cc;
            opts
        })
}

/// The variable byte integer, written out here rather than borrowed from the codec.
fn varint(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut byte = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if n == 0 {
            return out;
        }
    }
}

/// A fixed header byte with the flags its type requires (PUBLISH: any QoS but 3).
fn header_byte() -> impl Strategy<Value = u8> {
    (1u8..=15, 0u8..16).prop_map(|(ty, f)| {
        let flags = match ty {
            3 if f & 0x06 == 0x06 => f & !0x04,
            3 => f,
            6 | 8 | 10 => 0x02,
            _ => 0,
        };
        (ty << 4) | flags
    })
}

// ---- round trips -------------------------------------------------------------------------------

fn per_version<S, F>(f: F) -> impl Strategy<Value = (ProtocolVersion, Packet)>
where
    S: Strategy<Value = Packet>,
    F: Fn(ProtocolVersion) -> S + Clone,
{
    version().prop_flat_map(move |v| (Just(v), f(v)))
}

fn per_version_and_role<S, F>(f: F) -> impl Strategy<Value = (ProtocolVersion, Role, Packet)>
where
    S: Strategy<Value = Packet>,
    F: Fn(ProtocolVersion, Role) -> S + Clone,
{
    (version(), role()).prop_flat_map(move |(v, r)| (Just(v), Just(r), f(v, r)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn connect_roundtrip((v, p) in per_version(connect)) {
        roundtrip(v, Role::Client, &p)?;
    }

    #[test]
    fn connect_in_its_own_version((v, p) in per_version(connect), other in version()) {
        // CONNECT is written and read in the version it names, whatever the options say.
        roundtrip(other, Role::Client, &p)?;
        let mut a = BytesMut::new();
        let mut b = BytesMut::new();
        p.encode(v, &mut a).unwrap();
        p.encode(other, &mut b).unwrap();
        prop_assert_eq!(a, b);
    }

    #[test]
    fn connack_roundtrip((v, p) in per_version(connack)) {
        roundtrip(v, Role::Server, &p)?;
    }

    #[test]
    fn publish_roundtrip((v, r, p) in per_version_and_role(publish)) {
        roundtrip(v, r, &p)?;
    }

    #[test]
    fn puback_roundtrip((v, r, p) in per_version_and_role(
        |v, _| ack(v, PubAckReasonCode::ALL).prop_map(Packet::PubAck))
    ) {
        roundtrip(v, r, &p)?;
    }

    #[test]
    fn pubrec_roundtrip((v, r, p) in per_version_and_role(
        |v, _| ack(v, PubAckReasonCode::ALL).prop_map(Packet::PubRec))
    ) {
        roundtrip(v, r, &p)?;
    }

    #[test]
    fn pubrel_roundtrip((v, r, p) in per_version_and_role(
        |v, _| ack(v, PubRelReasonCode::ALL).prop_map(Packet::PubRel))
    ) {
        roundtrip(v, r, &p)?;
    }

    #[test]
    fn pubcomp_roundtrip((v, r, p) in per_version_and_role(
        |v, _| ack(v, PubRelReasonCode::ALL).prop_map(Packet::PubComp))
    ) {
        roundtrip(v, r, &p)?;
    }

    #[test]
    fn subscribe_roundtrip((v, p) in per_version(subscribe)) {
        roundtrip(v, Role::Client, &p)?;
    }

    #[test]
    fn suback_roundtrip((v, p) in per_version(suback)) {
        roundtrip(v, Role::Server, &p)?;
    }

    #[test]
    fn unsubscribe_roundtrip((v, p) in per_version(unsubscribe)) {
        roundtrip(v, Role::Client, &p)?;
    }

    #[test]
    fn unsuback_roundtrip((v, p) in per_version(unsuback)) {
        roundtrip(v, Role::Server, &p)?;
    }

    #[test]
    fn ping_roundtrip(v in version()) {
        roundtrip(v, Role::Client, &Packet::PingReq)?;
        roundtrip(v, Role::Server, &Packet::PingResp)?;
    }

    #[test]
    fn disconnect_roundtrip((v, r, p) in per_version_and_role(disconnect)) {
        roundtrip(v, r, &p)?;
    }

    #[test]
    fn auth_roundtrip(p in auth(), r in role()) {
        roundtrip(V5, r, &p)?;
    }

    #[test]
    fn packet_streams_roundtrip(
        (v, r, packets) in (version(), role()).prop_flat_map(|(v, r)| {
            (Just(v), Just(r), vec(any_packet(v, r), 1..6))
        })
    ) {
        // Several packets back to back decode in order.
        let mut buf = BytesMut::new();
        for p in &packets {
            p.encode(v, &mut buf).unwrap();
        }
        let opts = opts_for(v, r);
        for p in &packets {
            prop_assert_eq!(Packet::decode(&mut buf, &opts), Ok(Some(p.clone())));
        }
        prop_assert!(buf.is_empty());
    }
}

// ---- hostile input ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..2048), opts in fuzz_opts()) {
        decode_stream(&bytes, &opts)?;
    }

    #[test]
    fn random_body_behind_valid_header(
        first in header_byte(),
        body in vec(any::<u8>(), 0..600),
        opts in fuzz_opts(),
    ) {
        let mut bytes = vec![first];
        bytes.extend(varint(body.len()));
        bytes.extend(&body);
        decode_stream(&bytes, &opts)?;
    }

    #[test]
    fn mutated_packets_never_panic(
        (v, r, p) in (version(), role()).prop_flat_map(|(v, r)| (Just(v), Just(r), any_packet(v, r))),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in option::of(any::<prop::sample::Index>()),
        cc in select(vec![ControlChars::Reject, ControlChars::Allow]),
    ) {
        let mut opts = opts_for(v, r);
        opts.control_chars = cc;
        let mut buf = BytesMut::new();
        p.encode(v, &mut buf).unwrap();
        let h = parse_fixed_header(&buf, &opts).unwrap().unwrap();
        let mut body = buf[h.header_len..].to_vec();
        if let Some(cut) = cut {
            body.truncate(cut.index(body.len() + 1));
        }
        if !body.is_empty() {
            for (at, byte) in &edits {
                let i = at.index(body.len());
                body[i] = *byte;
            }
        }
        // Keep the frame intact: same header byte, remaining length of the new body.
        let mut bytes = vec![buf[0]];
        bytes.extend(varint(body.len()));
        bytes.extend(&body);
        decode_stream(&bytes, &opts)?;
    }
}

// ---- encode_within -----------------------------------------------------------------------------

fn long_user_props() -> UserProperties {
    (0..3)
        .map(|i| {
            (
                ByteString::from(format!("key-{i}")),
                ByteString::from("v".repeat(20)),
            )
        })
        .collect()
}

fn encoded(p: &Packet, v: ProtocolVersion) -> BytesMut {
    let mut out = BytesMut::new();
    p.encode(v, &mut out).unwrap();
    out
}

/// `full` carries a reason string and user properties; `no_reason` is it without the reason
/// string, `bare` without either. `encode_within` must pick the first that fits.
#[track_caller]
fn check_trimming(full: &Packet, no_reason: &Packet, bare: &Packet, sender: Role) {
    let v = V5;
    let (l0, l1, l2) = (
        full.encoded_len(v),
        no_reason.encoded_len(v),
        bare.encoded_len(v),
    );
    assert!(l0 > l1 && l1 > l2, "{l0} > {l1} > {l2}");
    let opts = opts_for(v, sender);
    for (max, expected) in [
        (usize::MAX, full),
        (l0, full),
        (l0 - 1, no_reason),
        (l1, no_reason),
        (l1 - 1, bare),
        (l2, bare),
    ] {
        let max = u32::try_from(max).unwrap_or(u32::MAX);
        let mut out = BytesMut::from(&b"head"[..]);
        full.encode_within(v, max, &mut out).unwrap();
        assert_eq!(&out[..4], b"head");
        assert_eq!(&out[4..], &encoded(expected, v)[..], "max {max}");
        let mut frame = out.split_off(4);
        assert!(frame.len() <= max as usize);
        assert_eq!(
            Packet::decode(&mut frame, &opts),
            Ok(Some(expected.clone()))
        );
    }
    // Too small even for the bare packet: an error, and nothing appended.
    let max = u32::try_from(l2 - 1).unwrap();
    let mut out = BytesMut::from(&b"head"[..]);
    assert_eq!(
        full.encode_within(v, max, &mut out),
        Err(EncodeError::PacketTooLarge { size: l2, max })
    );
    assert_eq!(&out[..], b"head");
}

fn ack_props_with(reason: bool, user: bool) -> AckProperties {
    AckProperties {
        reason_string: reason.then(|| ByteString::from("r".repeat(100))),
        user_properties: if user {
            long_user_props()
        } else {
            UserProperties::new()
        },
    }
}

#[test]
fn encode_within_trims_suback() {
    let make = |reason, user| {
        Packet::SubAck(SubAck {
            packet_id: NonZeroU16::new(7).unwrap(),
            properties: ack_props_with(reason, user),
            reason_codes: [
                SubAckReasonCode::GrantedQoS1,
                SubAckReasonCode::NotAuthorized,
            ]
            .into_iter()
            .collect(),
        })
    };
    check_trimming(
        &make(true, true),
        &make(false, true),
        &make(false, false),
        Role::Server,
    );
}

#[test]
fn encode_within_trims_puback() {
    for code in [PubAckReasonCode::Success, PubAckReasonCode::NotAuthorized] {
        let make = |reason, user| {
            Packet::PubAck(PubAck {
                packet_id: NonZeroU16::new(9).unwrap(),
                reason_code: code,
                properties: ack_props_with(reason, user),
            })
        };
        check_trimming(
            &make(true, true),
            &make(false, true),
            &make(false, false),
            Role::Client,
        );
    }
    // Fully trimmed, a successful PUBACK takes its two-byte short form.
    let p = Packet::PubAck(PubAck {
        packet_id: NonZeroU16::new(9).unwrap(),
        reason_code: PubAckReasonCode::Success,
        properties: ack_props_with(true, true),
    });
    let mut out = BytesMut::new();
    p.encode_within(V5, 4, &mut out).unwrap();
    assert_eq!(&out[..], &[0x40, 0x02, 0x00, 0x09]);
}

#[test]
fn encode_within_trims_disconnect() {
    // Server Reference is not a diagnostic: it stays.
    let make = |reason, user| {
        let p = ack_props_with(reason, user);
        Packet::Disconnect(Disconnect {
            reason_code: DisconnectReasonCode::UseAnotherServer,
            properties: DisconnectProperties {
                session_expiry_interval: None,
                reason_string: p.reason_string,
                server_reference: Some(ByteString::from_static("other:1883")),
                user_properties: p.user_properties,
            },
        })
    };
    check_trimming(
        &make(true, true),
        &make(false, true),
        &make(false, false),
        Role::Server,
    );
    // A normal DISCONNECT trimmed of everything has no body at all.
    let make = |reason, user| {
        let p = ack_props_with(reason, user);
        Packet::Disconnect(Disconnect {
            reason_code: DisconnectReasonCode::NormalDisconnection,
            properties: DisconnectProperties {
                session_expiry_interval: None,
                reason_string: p.reason_string,
                server_reference: None,
                user_properties: p.user_properties,
            },
        })
    };
    check_trimming(
        &make(true, true),
        &make(false, true),
        &make(false, false),
        Role::Client,
    );
    assert_eq!(&encoded(&make(false, false), V5)[..], &[0xE0, 0x00]);
}

#[test]
fn encode_within_never_trims_publish() {
    let p = Packet::Publish(Publish {
        dup: false,
        qos_pid: QosPid::AtLeastOnce(NonZeroU16::new(1).unwrap()),
        retain: false,
        topic: ByteString::from_static("a/b"),
        properties: PublishProperties {
            user_properties: long_user_props(),
            ..PublishProperties::default()
        },
        payload: Bytes::from(vec![0x5A; 1000]),
    });
    for v in ALL_VERSIONS {
        let len = p.encoded_len(v);
        let mut out = BytesMut::from(&b"head"[..]);
        p.encode_within(v, u32::try_from(len).unwrap(), &mut out)
            .unwrap();
        assert_eq!(&out[4..], &encoded(&p, v)[..]);
        for max in [len - 1, 100, 0] {
            let max = u32::try_from(max).unwrap();
            let mut out = BytesMut::from(&b"head"[..]);
            assert_eq!(
                p.encode_within(v, max, &mut out),
                Err(EncodeError::PacketTooLarge { size: len, max })
            );
            assert_eq!(&out[..], b"head", "nothing appended");
        }
    }
    // Its user properties are application data: they are not dropped to make it fit.
    let bare = match &p {
        Packet::Publish(p) => Packet::Publish(Publish {
            properties: PublishProperties::default(),
            ..p.clone()
        }),
        _ => unreachable!(),
    };
    let max = u32::try_from(bare.encoded_len(V5)).unwrap();
    let mut out = BytesMut::new();
    assert_eq!(
        p.encode_within(V5, max, &mut out),
        Err(EncodeError::PacketTooLarge {
            size: p.encoded_len(V5),
            max
        })
    );
    assert!(out.is_empty());
}
