//! Packet identifiers on SUBSCRIBE, UNSUBSCRIBE and the acknowledgements, and the reason
//! codes acknowledgements carry.

use mqtt_proto::{DecodeError, DecodeOptions, PacketType};

use crate::{
    accept, client, reject, server, subscribe3, subscribe5, unsubscribe3, unsubscribe5, V311, V5,
};

// ---- packet identifiers on the other packets --------------------------------------------------

#[test]
fn packet_id_0_on_subscribe_unsubscribe_and_acks_is_0x82_mqtt_2_2_1_3() {
    let e = DecodeError::PacketIdZero;
    reject(&subscribe5(0, &[], &[(b"t", 0)]), &server(V5), e, 0x82);
    reject(&subscribe3(0, &[(b"t", 0)]), &server(V311), e, 0x82);
    reject(&unsubscribe5(0, &[], &[b"t"]), &server(V5), e, 0x82);
    reject(&unsubscribe3(0, &[b"t"]), &server(V311), e, 0x82);
    for v in [V5, V311] {
        for first in [0x40, 0x50, 0x62, 0x70] {
            reject(&[first, 0x02, 0x00, 0x00], &server(v), e, 0x82);
            reject(&[first, 0x02, 0x00, 0x00], &client(v), e, 0x82);
        }
        reject(&[0x90, 0x03, 0x00, 0x00, 0x00], &client(v), e, 0x82);
    }
    reject(&[0x90, 0x04, 0x00, 0x00, 0x00, 0x00], &client(V5), e, 0x82);
    reject(&[0xB0, 0x04, 0x00, 0x00, 0x00, 0x00], &client(V5), e, 0x82);
    reject(&[0xB0, 0x02, 0x00, 0x00], &client(V311), e, 0x82);
}

// ---- reason codes in acknowledgements ---------------------------------------------------------

#[test]
fn invalid_reason_codes_in_acks_are_0x81_mqtt_2_4() {
    use PacketType::*;
    let inv = |packet, code| DecodeError::InvalidReasonCode { packet, code };
    let cases: Vec<(Vec<u8>, DecodeOptions, DecodeError)> = vec![
        (vec![0x40, 0x03, 0, 1, 0x92], server(V5), inv(PubAck, 0x92)),
        (vec![0x40, 0x03, 0, 1, 0x01], client(V5), inv(PubAck, 0x01)),
        (vec![0x50, 0x03, 0, 1, 0x92], server(V5), inv(PubRec, 0x92)),
        (vec![0x62, 0x03, 0, 1, 0x10], server(V5), inv(PubRel, 0x10)),
        (vec![0x70, 0x03, 0, 1, 0x80], client(V5), inv(PubComp, 0x80)),
        (
            vec![0x90, 0x04, 0, 1, 0, 0x03],
            client(V5),
            inv(SubAck, 0x03),
        ),
        (
            vec![0x90, 0x05, 0, 1, 0, 0x01, 0x04],
            client(V5),
            inv(SubAck, 0x04),
        ),
        // 0x8F is MQTT 5 only; 3.1.1 knows 0x00..0x02 and 0x80.
        (
            vec![0x90, 0x03, 0, 1, 0x8F],
            client(V311),
            inv(SubAck, 0x8F),
        ),
        (
            vec![0x90, 0x03, 0, 1, 0x03],
            client(V311),
            inv(SubAck, 0x03),
        ),
        (
            vec![0xB0, 0x04, 0, 1, 0, 0x01],
            client(V5),
            inv(UnsubAck, 0x01),
        ),
        (vec![0xE0, 0x01, 0x05], server(V5), inv(Disconnect, 0x05)),
        (vec![0xE0, 0x01, 0x01], client(V5), inv(Disconnect, 0x01)),
        (vec![0xF0, 0x01, 0x01], server(V5), inv(Auth, 0x01)),
        (vec![0x20, 0x03, 0, 0x01, 0], client(V5), inv(ConnAck, 0x01)),
        (vec![0x20, 0x03, 0, 0x8B, 0], client(V5), inv(ConnAck, 0x8B)),
        (vec![0x20, 0x02, 0, 0x06], client(V311), inv(ConnAck, 0x06)),
        (vec![0x20, 0x02, 0, 0x80], client(V311), inv(ConnAck, 0x80)),
    ];
    for (bytes, opts, want) in cases {
        reject(&bytes, &opts, want, 0x81);
    }
    // The valid neighbours decode.
    accept(&[0x90, 0x04, 0, 1, 0, 0x8F], &client(V5));
    accept(&[0x90, 0x03, 0, 1, 0x80], &client(V311));
    accept(&[0x70, 0x03, 0, 1, 0x92], &client(V5));
    accept(&[0xE0, 0x01, 0x04], &server(V5));
}

#[test]
fn ack_without_reason_codes_is_0x81_mqtt_3_9_3_1() {
    let e = DecodeError::EmptyAckList;
    reject(&[0x90, 0x03, 0x00, 0x01, 0x00], &client(V5), e, 0x81);
    reject(&[0x90, 0x02, 0x00, 0x01], &client(V311), e, 0x81);
    reject(&[0xB0, 0x03, 0x00, 0x01, 0x00], &client(V5), e, 0x81);
    // A 3.1.1 UNSUBACK has no reason codes at all.
    accept(&[0xB0, 0x02, 0x00, 0x01], &client(V311));
}
