//! `encode_within` drops the reason string, then the user properties, until a packet fits;
//! it never trims a PUBLISH.

use core::num::NonZeroU16;

use mqtt_proto::ProtocolVersion::V5;
use mqtt_proto::{
    AckProperties, ByteString, Bytes, BytesMut, Disconnect, DisconnectProperties,
    DisconnectReasonCode, EncodeError, Packet, ProtocolVersion, PubAck, PubAckReasonCode, Publish,
    PublishProperties, QosPid, Role, SubAck, SubAckReasonCode, UserProperties,
};

use crate::{opts_for, ALL_VERSIONS};

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
