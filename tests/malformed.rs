//! Bad input on a raw socket gets the reason code the spec (and `bad-inputs.md`) asks for: a
//! bad packet after a good v5 CONNECT → DISCONNECT with the code, then close; a bad CONNECT →
//! CONNACK with the code, then close; a v3.1.1 offender is just closed. Each case runs on a
//! fresh connection, and the broker keeps serving the others.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[macro_use]
mod common;

use std::net::SocketAddr;

use common::raw::{self, string, Raw, Will};
use common::{shared_broker, uid, v5, WAIT};

/// Sends `bad` after a successful v5 CONNECT; returns the DISCONNECT reason code, checking
/// that the broker sends exactly one DISCONNECT and closes.
async fn disconnect_code(addr: SocketAddr, bad: &[u8]) -> u8 {
    let mut c = raw::connect_v5_ok(addr, &raw::connect_v5(&uid("bad"), 30, &[], None)).await;
    let _ = c.send(bad).await;
    let seen = c.expect_close(WAIT).await;
    assert_eq!(
        seen.len(),
        1,
        "exactly one packet (DISCONNECT) before the close: {seen:?}"
    );
    assert_eq!(seen[0].kind(), raw::DISCONNECT, "{seen:?}");
    seen[0].reason_code()
}

/// Sends `connect` as the first packet; returns the CONNACK reason code (v5 layout: flags,
/// code), checking that the broker closes afterwards.
async fn connack_code(addr: SocketAddr, connect: &[u8]) -> u8 {
    let mut c = Raw::connect(addr).await;
    let _ = c.send(connect).await;
    let seen = c.expect_close(WAIT).await;
    assert_eq!(
        seen.len(),
        1,
        "exactly one CONNACK before the close: {seen:?}"
    );
    assert_eq!(seen[0].kind(), raw::CONNACK, "{seen:?}");
    assert_eq!(
        seen[0].body[0], 0,
        "Session Present 0 on a refused connection [MQTT-3.2.2-6]"
    );
    seen[0].reason_code()
}

/// A v5 CONNECT with a raw property block (already including its length).
fn connect_v5_raw_props(props_block: &[u8]) -> Vec<u8> {
    let mut body = string(b"MQTT");
    body.extend([5, 0x02, 0, 30]);
    body.extend_from_slice(props_block);
    body.extend(string(uid("badc").as_bytes()));
    raw::packet(0x10, &body)
}

/// After the broker refused or closed offenders, a normal client still works.
async fn still_serves(addr: SocketAddr) {
    let t = common::topic("bad-after");
    let mut c = v5::connect(addr, &uid("bad-after")).await;
    c.subscribe_ok(&t, v5::QoS::AtLeastOnce).await;
    c.publish(&t, v5::QoS::AtLeastOnce, false, "ok").await;
    assert_eq!(v5::text(&c.next_publish().await), "ok");
    c.disconnect().await;
}

scenario! {
    /// Framing and fixed-header errors → 0x81 Malformed Packet: a 5-byte remaining length,
    /// QoS 3 [MQTT-3.3.1-4], DUP on QoS 0 [MQTT-3.3.1-2], SUBSCRIBE with reserved flags 0000
    /// [MQTT-3.8.1-1], a surrogate and U+0000 in a topic [MQTT-1.5.4-1] [MQTT-1.5.4-2].
    async fn malformed_gets_0x81_mqtt_3_3_1_4_3_3_1_2_3_8_1_1_1_5_4_1(shards) {
        let addr = shared_broker(shards);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("5-byte remaining length", vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]),
            ("QoS 3", raw::packet(0x36, &[0, 1, b't', 0, 1, 0])),
            ("DUP on QoS 0", raw::packet(0x38, &[0, 1, b't', 0])),
            ("SUBSCRIBE flags 0000", raw::packet(0x80, &[0, 1, 0, 0, 1, b't', 0])),
            ("surrogate in topic", raw::publish_v5(&[b'a', 0xED, 0xA0, 0x80], 0, 0, &[], b"x")),
            ("U+0000 in topic", raw::publish_v5(b"a\0b", 0, 0, &[], b"x")),
            ("unknown property", raw::publish_v5(b"t", 0, 0, &[0x7F, 0], b"x")),
        ];
        for (what, bytes) in cases {
            assert_eq!(disconnect_code(addr, &bytes).await, 0x81, "{what}");
        }
        still_serves(addr).await;
    }
}

scenario! {
    /// Protocol errors → 0x82: a second CONNECT [MQTT-3.1.0-2], a packet only a server sends,
    /// packet id 0 at QoS 1 [MQTT-2.2.1-3], a Subscription Identifier in a client PUBLISH
    /// [MQTT-3.3.4-6], a property given twice.
    async fn protocol_errors_get_0x82_mqtt_3_1_0_2_2_2_1_3_3_3_4_6(shards) {
        let addr = shared_broker(shards);
        let dup_expiry = [raw::prop_u32(0x02, 5), raw::prop_u32(0x02, 6)].concat();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("second CONNECT", raw::connect_v5(&uid("again"), 30, &[], None)),
            ("CONNACK from a client", raw::packet(0x20, &[0, 0, 0])),
            ("SUBACK from a client", raw::packet(0x90, &[0, 1, 0, 0])),
            ("packet id 0", raw::publish_v5(b"t", 1, 0, &[], b"x")),
            ("subscription id", raw::publish_v5(b"t", 0, 0, &raw::prop_varint(0x0B, 1), b"x")),
            ("expiry twice", raw::publish_v5(b"t", 0, 0, &dup_expiry, b"x")),
        ];
        for (what, bytes) in cases {
            assert_eq!(disconnect_code(addr, &bytes).await, 0x82, "{what}");
        }
        still_serves(addr).await;
    }
}

scenario! {
    /// Topic errors: a wildcard in a topic name → 0x90 [MQTT-3.3.2-2]; topic alias 0
    /// [MQTT-3.3.2-8] or above our Topic Alias Maximum (64) [MQTT-3.3.2-9] → 0x94; a
    /// remaining length above the maximum packet size → 0x95 before the body arrives.
    async fn topic_and_size_errors_mqtt_3_3_2_2_8_9(shards) {
        let addr = shared_broker(shards);
        let cases: Vec<(&str, Vec<u8>, u8)> = vec![
            ("+ in topic", raw::publish_v5(b"a/+", 0, 0, &[], b"x"), 0x90),
            ("# in topic", raw::publish_v5(b"a/#", 1, 7, &[], b"x"), 0x90),
            ("alias 0", raw::publish_v5(b"t", 0, 0, &raw::prop_u16(0x23, 0), b"x"), 0x94),
            ("alias 65", raw::publish_v5(b"t", 0, 0, &raw::prop_u16(0x23, 65), b"x"), 0x94),
            // 2 MiB announced (limit 1 MiB), only the header sent.
            ("too large", vec![0x30, 0x80, 0x80, 0x80, 0x01], 0x95),
        ];
        for (what, bytes, code) in cases {
            assert_eq!(disconnect_code(addr, &bytes).await, code, "{what}");
        }
        still_serves(addr).await;
    }
}

scenario! {
    /// A bad CONNECT gets a CONNACK with its reason code: a property twice or Receive Maximum
    /// 0 or Maximum Packet Size 0 → 0x82; an unknown property, the reserved flag
    /// [MQTT-3.1.2-3] or will QoS 3 [MQTT-3.1.2-12] → 0x81; an unknown protocol level →
    /// 0x84 (or the v3 return code 0x01) [MQTT-3.1.2-2].
    async fn bad_connect_gets_connack_code_mqtt_3_1_2_2_3_12(shards) {
        let addr = shared_broker(shards);
        let block = |p: Vec<u8>| [raw::varint(p.len()), p].concat();
        let cases: Vec<(&str, Vec<u8>, u8)> = vec![
            (
                "Session Expiry twice",
                connect_v5_raw_props(&block([raw::prop_u32(0x11, 1), raw::prop_u32(0x11, 2)].concat())),
                0x82,
            ),
            ("Receive Maximum 0", connect_v5_raw_props(&block(raw::prop_u16(0x21, 0))), 0x82),
            ("Maximum Packet Size 0", connect_v5_raw_props(&block(raw::prop_u32(0x27, 0))), 0x82),
            ("unknown property 0x7F", connect_v5_raw_props(&block(vec![0x7F, 0])), 0x81),
            ("truncated property", connect_v5_raw_props(&[3, 0x11, 0, 0]), 0x81),
        ];
        for (what, bytes, code) in cases {
            assert_eq!(connack_code(addr, &bytes).await, code, "{what}");
        }
        // Reserved flag bit 0 set.
        let mut reserved = raw::connect_v5(&uid("rsv"), 30, &[], None);
        reserved[9] |= 0x01;
        assert_eq!(connack_code(addr, &reserved).await, 0x81, "reserved CONNECT flag");
        let will = Will { topic: "w", payload: b"x", qos: 3, props: &[] };
        let bad_will = raw::connect_v5(&uid("wq3"), 30, &[], Some(will));
        assert_eq!(connack_code(addr, &bad_will).await, 0x81, "will QoS 3");
        let mut level = raw::connect_v5(&uid("lvl"), 30, &[], None);
        level[8] = 6;
        let code = connack_code(addr, &level).await;
        assert!(code == 0x84 || code == 0x01, "unknown protocol level: CONNACK code 0x{code:02X}");
        still_serves(addr).await;
    }
}

scenario! {
    /// A v3.1.1 client breaking the protocol is closed without a packet, and a first packet
    /// that is not CONNECT closes the connection [MQTT-3.1.0-1].
    async fn v311_offender_and_non_connect_first_are_closed_mqtt_3_1_0_1(shards) {
        let addr = shared_broker(shards);
        for bad in [raw::packet(0x36, &[0, 1, b't', 0, 1, 0]), raw::packet(0x20, &[0, 0])] {
            let mut c = Raw::connect(addr).await;
            c.send(&raw::connect_v311(&uid("bad3"), 30, None)).await.unwrap();
            let ack = c.expect_kind(raw::CONNACK, "CONNACK").await;
            assert_eq!(ack.body, vec![0, 0]);
            let _ = c.send(&bad).await;
            assert!(c.expect_close(WAIT).await.is_empty(), "closed without a packet");
        }
        for first in [vec![0xC0, 0x00], raw::publish_v5(b"t", 0, 0, &[], b"x")] {
            let mut c = Raw::connect(addr).await;
            let _ = c.send(&first).await;
            assert!(c.expect_close(WAIT).await.is_empty(), "closed without a packet");
        }
        still_serves(addr).await;
    }
}
