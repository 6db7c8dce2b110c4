//! Decoding a stream: one byte at a time, several packets in one buffer, and fields that
//! are slices of the buffer rather than copies.

use mqtt_proto::ProtocolVersion::{V3_1, V3_1_1, V5};
use mqtt_proto::{BytesMut, DecodeOptions, Packet, PubAck, PubRel, QosPid};

use crate::connect::connect;
use crate::publish::{publish, publish_v5_props_bytes, publish_v5_props_expected};
use crate::{cat, from_client, pid};

// ---- streaming -------------------------------------------------------------------------------

/// Feeds `bytes` one at a time: `Ok(None)` and nothing consumed until the last byte.
#[track_caller]
fn feed_bytewise(bytes: &[u8], opts: &DecodeOptions, expected: &Packet) {
    let mut buf = BytesMut::new();
    for (i, &byte) in bytes.iter().enumerate() {
        buf.extend_from_slice(&[byte]);
        let got = Packet::decode(&mut buf, opts);
        if i + 1 < bytes.len() {
            assert_eq!(got, Ok(None), "after {} of {} bytes", i + 1, bytes.len());
            assert_eq!(
                buf.len(),
                i + 1,
                "consumed input before the frame was whole"
            );
            assert_eq!(&buf[..], &bytes[..=i]);
        } else {
            assert_eq!(got, Ok(Some(expected.clone())));
            assert!(buf.is_empty());
        }
    }
}

#[test]
fn streaming_one_byte_at_a_time() {
    let connect = {
        let bytes = cat(&[
            &[0x10, 0x10],
            &[0x00, 0x04],
            b"MQTT",
            &[0x05, 0x02, 0x00, 0x3C, 0x00],
            &[0x00, 0x03],
            b"abc",
        ]);
        (bytes, connect(V5, "abc"))
    };
    feed_bytewise(&connect.0, &from_client(V5), &connect.1.into());

    let mut opts = from_client(V5);
    opts.topic_alias_maximum = 10;
    feed_bytewise(
        &publish_v5_props_bytes(),
        &opts,
        &publish_v5_props_expected().into(),
    );

    // A two-byte remaining length split between the bytes.
    let payload: &'static [u8] = &[7; 200];
    let bytes = cat(&[&[0x30, 0xCC, 0x01], &[0x00, 0x01, b'x'], &[0x00], payload]);
    feed_bytewise(
        &bytes,
        &from_client(V5),
        &publish(QosPid::AtMostOnce, "x", payload).into(),
    );

    for v in [V3_1, V3_1_1, V5] {
        feed_bytewise(&[0xC0, 0x00], &from_client(v), &Packet::PingReq);
        feed_bytewise(
            &[0x40, 0x02, 0x00, 0x01],
            &from_client(v),
            &Packet::PubAck(PubAck::new(pid(1))),
        );
    }
}

#[test]
fn empty_buffer_needs_more() {
    let mut buf = BytesMut::new();
    assert_eq!(Packet::decode(&mut buf, &from_client(V5)), Ok(None));
}

#[test]
fn two_packets_in_one_buffer() {
    let first = publish_v5_props_bytes();
    let second = [0x62, 0x02, 0x00, 0x09]; // PUBREL 9
    let third = [0xC0, 0x00]; // PINGREQ
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&first);
    buf.extend_from_slice(&second);
    buf.extend_from_slice(&third);
    buf.extend_from_slice(&[0x30]); // the first byte of a fourth packet
    let mut opts = from_client(V5);
    opts.topic_alias_maximum = 10;
    assert_eq!(
        Packet::decode(&mut buf, &opts),
        Ok(Some(publish_v5_props_expected().into()))
    );
    assert_eq!(buf.len(), second.len() + third.len() + 1);
    assert_eq!(
        Packet::decode(&mut buf, &opts),
        Ok(Some(Packet::PubRel(PubRel::new(pid(9)))))
    );
    assert_eq!(Packet::decode(&mut buf, &opts), Ok(Some(Packet::PingReq)));
    assert_eq!(Packet::decode(&mut buf, &opts), Ok(None));
    assert_eq!(&buf[..], &[0x30]);
}

// ---- zero copy -------------------------------------------------------------------------------

#[track_caller]
fn assert_inside(region: core::ops::Range<usize>, what: &str, slice: &[u8]) {
    let start = slice.as_ptr() as usize;
    assert!(
        region.contains(&start) && start + slice.len() <= region.end,
        "{what} was copied out of the receive buffer"
    );
}

#[test]
fn decoded_fields_are_slices_of_the_buffer() {
    let bytes = publish_v5_props_bytes();
    let mut buf = BytesMut::with_capacity(256);
    buf.extend_from_slice(&bytes);
    let base = buf.as_ptr() as usize;
    let region = base..base + buf.len();
    let mut opts = from_client(V5);
    opts.topic_alias_maximum = 10;
    let Some(Packet::Publish(p)) = Packet::decode(&mut buf, &opts).unwrap() else {
        panic!("expected a PUBLISH");
    };
    assert_inside(region.clone(), "payload", &p.payload);
    assert_eq!(p.payload.as_ptr() as usize, base + bytes.len() - 2);
    assert_inside(region.clone(), "topic", p.topic.as_bytes());
    assert_eq!(p.topic.as_ptr() as usize, base + 4);
    let props = &p.properties;
    assert_inside(
        region.clone(),
        "correlation data",
        props.correlation_data.as_ref().unwrap(),
    );
    assert_inside(
        region.clone(),
        "response topic",
        props.response_topic.as_ref().unwrap().as_bytes(),
    );
    for (k, v) in &props.user_properties {
        assert_inside(region.clone(), "user property key", k.as_bytes());
        assert_inside(region.clone(), "user property value", v.as_bytes());
    }

    // The same for a CONNECT's will payload and password.
    let bytes = cat(&[
        &[0x10, 0x23],
        &[0x00, 0x04],
        b"MQTT",
        &[0x04, 0xEE, 0x00, 0x0A],
        &[0x00, 0x02],
        b"id",
        &[0x00, 0x03],
        b"w/t",
        &[0x00, 0x03],
        b"bye",
        &[0x00, 0x04],
        b"user",
        &[0x00, 0x03, 1, 2, 0xFF],
    ]);
    let mut buf = BytesMut::from(&bytes[..]);
    let base = buf.as_ptr() as usize;
    let region = base..base + buf.len();
    let Some(Packet::Connect(c)) = Packet::decode(&mut buf, &from_client(V3_1_1)).unwrap() else {
        panic!("expected a CONNECT");
    };
    let will = c.will.as_ref().unwrap();
    assert_inside(region.clone(), "will payload", &will.payload);
    assert_inside(region.clone(), "will topic", will.topic.as_bytes());
    assert_inside(region.clone(), "client id", c.client_id.as_bytes());
    assert_inside(region, "password", c.password.as_ref().unwrap());
}
