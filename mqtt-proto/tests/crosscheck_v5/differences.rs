//! Where the two codecs differ in form or policy, each difference pinned by a test.

use mqtt_proto::{
    AckProperties, AuthReasonCode, BytesMut, DecodeError, DecodeOptions, Packet, ProtocolVersion,
    PubAck, PubAckReasonCode,
};

use crate::translate_packets::{to_ours, to_theirs};
use crate::{
    decode_ours, decode_theirs, encode_ours, encode_theirs, pid, try_decode_theirs, Sender,
};

// ---- differences in form and policy ------------------------------------------------------

/// Both short forms of a PUBACK-like packet with a failure reason and no properties are
/// legal (§3.4.2.1): we leave the property length off (3 bytes), mqtt5-protocol writes it
/// (4 bytes). Each side reads the other's.
#[test]
fn ack_with_reason_and_no_properties_short_forms() {
    let ack = Packet::PubAck(PubAck {
        packet_id: pid(7),
        reason_code: PubAckReasonCode::QuotaExceeded,
        properties: AckProperties::default(),
    });
    let ours = encode_ours(&ack);
    assert_eq!(&ours[..], &[0x40, 0x03, 0x00, 0x07, 0x97]);
    let theirs = encode_theirs(&to_theirs(&ack));
    assert_eq!(&theirs[..], &[0x40, 0x04, 0x00, 0x07, 0x97, 0x00]);
    assert_eq!(to_ours(&decode_theirs(&ours)), ack);
    assert_eq!(decode_ours(&theirs, Sender::Server).unwrap(), ack);
}

/// Both codecs refuse an AUTH that continues or restarts authentication without an
/// Authentication Method: [MQTT-3.15.2.2.2] makes that a Protocol Error (`vectors/control.rs`
/// pins `F0 01 19` as refused).
#[test]
fn auth_without_method_is_refused_by_both_mqtt_3_15_2_2_2() {
    for reason_code in [
        AuthReasonCode::ContinueAuthentication,
        AuthReasonCode::ReAuthenticate,
    ] {
        let bytes = [0xF0, 0x01, reason_code.as_u8()];
        assert!(try_decode_theirs(&bytes).is_err());
        let mut buf = BytesMut::from(&bytes[..]);
        assert_eq!(
            Packet::decode(&mut buf, &DecodeOptions::client(ProtocolVersion::V5)),
            Err(DecodeError::AuthMethodMissing)
        );
    }
}
