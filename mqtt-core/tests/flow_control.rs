//! Flow control towards subscribers: the inflight window (the client's Receive Maximum and
//! `max_inflight`), the session queue and its drop policy, packet identifier reuse, and slow
//! consumers (bad-inputs row 24). Also the CONNECT limits of bad-inputs row 18.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::*;
use mqtt_core::{Config, ConnId};
use mqtt_proto::{Bytes, BytesMut, Packet, PubAck, PubComp, PubRec, Publish, QoS};

fn out_pid(p: &Publish) -> u16 {
    p.qos_pid.packet_id().map_or(0, |n| n.get())
}

/// A subscriber "sub" to `t` at `qos` connected with `c`, and a publisher "pub".
fn setup(config: Config, c: mqtt_proto::Connect, qos: QoS) -> (Harness, ConnId, ConnId) {
    let mut h = Harness::new(config);
    let (s, ack) = h.connect_with(c);
    assert_eq!(ack.reason_code, mqtt_proto::ConnectReasonCode::Success);
    h.subscribe(s, V5, "t", qos);
    let p = h.client("pub", V5);
    (h, s, p)
}

/// Message `i` (its payload is the number), with its own packet id.
fn numbered(i: usize, qos: QoS) -> Publish {
    let id = u16::try_from(i % 65_535).unwrap() + 1;
    publish_bytes("t", i.to_string().into_bytes(), qos, id)
}

fn payloads(ps: &[Publish]) -> Vec<String> {
    ps.iter()
        .map(|p| String::from_utf8(p.payload.to_vec()).unwrap())
        .collect()
}

fn strings(r: core::ops::Range<usize>) -> Vec<String> {
    r.map(|i| i.to_string()).collect()
}

#[test]
fn window_is_the_clients_receive_maximum_and_the_rest_follows_in_order_mqtt_3_3_4_9() {
    let (mut h, s, p) = setup(
        Config::default(),
        connect_limited("sub", Some(3), None, None),
        QoS::AtLeastOnce,
    );
    for i in 0..10 {
        h.send(p, V5, numbered(i, QoS::AtLeastOnce));
    }
    let mut window = h.recv_publishes(s);
    assert_eq!(payloads(&window), strings(0..3));
    let mut seen = payloads(&window);
    // Each PUBACK lets exactly one more in, in publish order.
    while let Some(first) = (!window.is_empty()).then(|| window.remove(0)) {
        h.send(s, V5, Packet::PubAck(PubAck::new(pid(out_pid(&first)))));
        let more = h.recv_publishes(s);
        assert!(more.len() <= 1, "{more:?}");
        seen.extend(payloads(&more));
        window.extend(more);
    }
    assert_eq!(seen, strings(0..10));
}

#[test]
fn window_is_bounded_by_max_inflight_and_a_pubrel_still_holds_its_place_mqtt_4_9_0_2() {
    let config = Config {
        max_inflight: 2,
        ..Config::default()
    };
    // The client allows far more than the broker's own cap.
    let (mut h, s, p) = setup(config, connect("sub", V5), QoS::ExactlyOnce);
    for i in 0..4 {
        h.send(p, V5, numbered(i, QoS::ExactlyOnce));
    }
    let got = h.recv_publishes(s);
    assert_eq!(payloads(&got), strings(0..2));
    let id = out_pid(&got[0]);
    // PUBREC moves it to PUBREL: still unacknowledged until PUBCOMP (§4.9).
    h.send(s, V5, Packet::PubRec(PubRec::new(pid(id))));
    assert!(matches!(h.recv_one(s), Packet::PubRel(_)));
    h.send(s, V5, Packet::PubComp(PubComp::new(pid(id))));
    assert_eq!(payloads(&h.recv_publishes(s)), strings(2..3));
}

#[test]
fn qos0_is_not_held_by_a_full_window() {
    let (mut h, s, p) = setup(
        Config::default(),
        connect_limited("sub", Some(1), None, None),
        QoS::AtLeastOnce,
    );
    h.send(p, V5, numbered(0, QoS::AtLeastOnce));
    assert_eq!(h.recv_publishes(s).len(), 1);
    h.send(p, V5, numbered(1, QoS::AtMostOnce));
    let got = h.recv_publishes(s);
    assert_eq!(payloads(&got), strings(1..2));
    assert_eq!(got[0].qos_pid.qos(), QoS::AtMostOnce);
}

#[test]
fn other_packets_are_not_delayed_by_a_full_window_mqtt_3_3_4_10() {
    let (mut h, s, p) = setup(
        Config::default(),
        connect_limited("sub", Some(1), None, None),
        QoS::AtLeastOnce,
    );
    h.send(p, V5, numbered(0, QoS::AtLeastOnce));
    h.send(p, V5, numbered(1, QoS::AtLeastOnce));
    assert_eq!(h.recv_publishes(s).len(), 1);
    h.send(s, V5, Packet::PingReq);
    assert_eq!(h.recv_one(s), Packet::PingResp);
    let ack = h.subscribe(s, V5, "u", QoS::AtMostOnce);
    assert_eq!(ack.reason_codes.len(), 1);
    // The queued message is still waiting, and no other packet came.
    h.recv_none(s);
}

#[test]
fn packet_ids_wrap_and_skip_ids_in_use_mqtt_2_2_1_4() {
    let (mut h, s, p) = setup(
        Config::default(),
        connect_limited("sub", Some(2), None, None),
        QoS::AtLeastOnce,
    );
    // The first message stays unacknowledged the whole time.
    h.send(p, V5, numbered(0, QoS::AtLeastOnce));
    let held = out_pid(&h.recv_publishes(s)[0]);
    let mut last = 0u16;
    let mut wrapped = false;
    for i in 1..=65_600 {
        h.send(p, V5, numbered(i, QoS::AtLeastOnce));
        let got = h.recv_publishes(s);
        assert_eq!(got.len(), 1);
        let id = out_pid(&got[0]);
        assert!(id != 0 && id != held, "message {i} got id {id}");
        wrapped |= id < last;
        last = id;
        h.send(s, V5, Packet::PubAck(PubAck::new(pid(id))));
    }
    assert!(wrapped, "65,600 messages must wrap the 16-bit space");
    // The held one is still in flight and can still be acknowledged.
    h.send(s, V5, Packet::PubAck(PubAck::new(pid(held))));
    h.recv_none(s);
    assert!(!h.is_closed(s));
}

#[test]
fn full_queue_drops_qos0_first_then_the_oldest_counted_bad_input_24() {
    let config = Config {
        max_queued_messages: 3,
        ..Config::default()
    };
    let (mut h, s, p) = setup(
        config,
        connect_limited("sub", Some(1), None, None),
        QoS::AtLeastOnce,
    );
    let send = |h: &mut Harness, name: &str, qos: QoS| {
        h.send(p, V5, publish_bytes("t", name.as_bytes().to_vec(), qos, 1));
    };
    send(&mut h, "a", QoS::AtLeastOnce); // in flight
    send(&mut h, "b", QoS::AtLeastOnce); // queued: b
    send(&mut h, "c", QoS::AtMostOnce); // queued behind b: b c
    send(&mut h, "d", QoS::AtLeastOnce); // b c d (full)
    send(&mut h, "e", QoS::AtLeastOnce); // QoS 0 goes first: b d e
    send(&mut h, "f", QoS::AtLeastOnce); // then the oldest: d e f
    assert_eq!(h.shard.stats().dropped, 2);
    let mut got = h.recv_publishes(s);
    let mut seen = payloads(&got);
    while let Some(m) = got.pop() {
        h.send(s, V5, Packet::PubAck(PubAck::new(pid(out_pid(&m)))));
        got = h.recv_publishes(s);
        seen.extend(payloads(&got));
    }
    assert_eq!(seen, ["a", "d", "e", "f"]);
}

/// Bytes of a QoS 0 PUBLISH on topic "t" with a `payload`-byte payload, on v5.
fn qos0_len(payload: usize) -> usize {
    let mut b = BytesMut::new();
    Packet::Publish(publish_bytes("t", vec![0; payload], QoS::AtMostOnce, 0))
        .encode(V5, &mut b)
        .unwrap();
    b.len()
}

#[test]
fn slow_reader_output_is_bounded_and_qos0_beyond_it_dropped_bad_input_24() {
    let config = Config {
        max_outbound_buffer: 4096,
        ..Config::default()
    };
    let (mut h, s, p) = setup(config, connect("sub", V5), QoS::AtMostOnce);
    let fast = h.client("fast", V5);
    h.subscribe(fast, V5, "t", QoS::AtMostOnce);
    h.reading.insert(s, false);
    for _ in 0..100 {
        h.send(
            p,
            V5,
            publish_bytes("t", vec![b'x'; 500], QoS::AtMostOnce, 0),
        );
    }
    // Written while the buffer is under 4096 bytes: the last write may cross it.
    let fits = 4096usize.div_ceil(qos0_len(500));
    assert_eq!(h.shard.stats().dropped, (100 - fits) as u64);
    // Nobody else slows down or loses anything.
    assert_eq!(h.recv_publishes(fast).len(), 100);
    assert!(!h.is_closed(s));
    h.resume_reading(s);
    assert_eq!(h.recv_publishes(s).len(), fits);
    // Reading again, it gets new messages.
    h.send(p, V5, publish("t", b"later", QoS::AtMostOnce, 0));
    assert_eq!(h.recv_publishes(s).len(), 1);
}

#[test]
fn slow_reader_queues_qos1_up_to_the_limit_then_drops_the_oldest_bad_input_24() {
    let config = Config {
        max_outbound_buffer: 4096,
        max_queued_messages: 10,
        ..Config::default()
    };
    let (mut h, s, p) = setup(config, connect("sub", V5), QoS::AtLeastOnce);
    h.reading.insert(s, false);
    for i in 0..100 {
        let mut m = publish_bytes("t", vec![b'x'; 500], QoS::AtLeastOnce, 1);
        m.payload = Bytes::from(format!("{i:0>500}"));
        h.send(p, V5, m);
    }
    let written = h.shard.stats().messages_sent as usize;
    assert!(written < 10, "{written} written into a 4 KiB buffer");
    assert_eq!(h.shard.stats().dropped as usize, 100 - written - 10);
    h.resume_reading(s);
    let mut got = h.recv_publishes(s);
    let mut seen: Vec<usize> = Vec::new();
    while !got.is_empty() {
        for m in &got {
            seen.push(std::str::from_utf8(&m.payload).unwrap().parse().unwrap());
            h.send(s, V5, Packet::PubAck(PubAck::new(pid(out_pid(m)))));
        }
        got = h.recv_publishes(s);
    }
    // What was written, then the ten newest.
    let mut expected: Vec<usize> = (0..written).collect();
    expected.extend(90..100);
    assert_eq!(seen, expected);
}

#[test]
fn stuck_reader_is_closed_after_the_send_timeout_others_unaffected_bad_input_24() {
    let config = Config {
        send_timeout_ms: 5_000,
        ..Config::default()
    };
    let (mut h, s, p) = setup(config, connect("sub", V5), QoS::AtLeastOnce);
    let fast = h.client("fast", V5);
    h.subscribe(fast, V5, "t", QoS::AtMostOnce);
    h.reading.insert(s, false);
    h.send(p, V5, numbered(0, QoS::AtLeastOnce));
    h.advance(4_999);
    assert!(!h.is_closed(s));
    h.advance(1);
    assert!(h.is_closed(s));
    assert_eq!(h.shard.stats().send_timeouts, 1);
    h.send(p, V5, numbered(1, QoS::AtLeastOnce));
    assert_eq!(h.recv(p).len(), 2, "both PUBACKs");
    assert_eq!(payloads(&h.recv_publishes(fast)), strings(0..2));
    assert!(!h.is_closed(p) && !h.is_closed(fast));
}

#[test]
fn a_reader_that_keeps_reading_is_never_timed_out() {
    let config = Config {
        send_timeout_ms: 5_000,
        ..Config::default()
    };
    let (mut h, s, p) = setup(config, connect("sub", V5), QoS::AtMostOnce);
    for i in 0..20 {
        h.send(p, V5, numbered(i, QoS::AtMostOnce));
        h.advance(1_000);
    }
    assert_eq!(h.recv_publishes(s).len(), 20);
    assert!(!h.is_closed(s));
}

/// A v5 CONNECT whose only property is `id` with a zero value of `len` bytes.
fn connect_with_zero_property(id: u8, len: usize) -> Vec<u8> {
    let mut body = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 5, 0x02, 0x00, 0x00];
    body.push(u8::try_from(1 + len).unwrap());
    body.push(id);
    body.extend(std::iter::repeat_n(0, len));
    body.extend([0x00, 0x01, b'c']);
    let mut frame = vec![0x10, u8::try_from(body.len()).unwrap()];
    frame.extend(body);
    frame
}

#[test]
fn receive_maximum_or_maximum_packet_size_zero_in_connect_is_refused_bad_input_18() {
    // Receive Maximum (0x21) 0 and Maximum Packet Size (0x27) 0 are Protocol Errors
    // (§3.1.2.11.3, §3.1.2.11.4): CONNACK 0x82, then the connection is closed.
    for (id, len) in [(0x21, 2), (0x27, 4)] {
        let mut h = Harness::with_defaults();
        let c = h.open();
        h.send_bytes(c, &connect_with_zero_property(id, len));
        assert!(h.is_closed(c), "property {id:#04x}");
        assert_eq!(
            h.recv_connack(c).reason_code,
            mqtt_proto::ConnectReasonCode::ProtocolError
        );
        assert_eq!(h.shard.session_count(), 0);
        assert_eq!(h.shard.stats().rejected[0x82], 1);
    }
}
