//! Counting QoS 0 PUBLISH frames without decoding them.
//!
//! A subscriber only counts what arrives (and, for latency, reads the first 8 bytes of each
//! payload). A QoS 0 PUBLISH asks nothing of the client, so a subscriber's connection skips
//! the full decode for those frames: it reads the fixed header and, where a stamp is wanted,
//! walks to the payload. Every other frame (QoS 1/2 PUBLISH, acknowledgements, PINGRESP,
//! DISCONNECT) goes to the client, in order, as usual. This keeps a subscriber's cost per
//! message a fraction of a broker's, so that fan-out runs measure the broker.

use bytes::BytesMut;

/// PUBLISH, in the high nibble of the first byte.
const PUBLISH: u8 = 3;

/// What the counted frames held.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// QoS 0 PUBLISH frames counted since last taken.
    pub(crate) count: u64,
    /// Their payloads' first 8 bytes (big-endian), if wanted and present.
    pub(crate) stamps: Vec<u64>,
    /// Whether to collect stamps.
    pub(crate) want_stamps: bool,
    /// MQTT 5 (a properties block precedes the payload).
    pub(crate) v5: bool,
}

enum Frame {
    Incomplete,
    Malformed,
    /// First byte, fixed header length, remaining length.
    Whole(u8, usize, usize),
}

fn frame(buf: &[u8]) -> Frame {
    let Some(&first) = buf.first() else {
        return Frame::Incomplete;
    };
    let mut len = 0usize;
    for i in 1..=4 {
        let Some(&b) = buf.get(i) else {
            return Frame::Incomplete;
        };
        len |= usize::from(b & 0x7f) << (7 * (i - 1));
        if b & 0x80 == 0 {
            return Frame::Whole(first, i + 1, len);
        }
    }
    Frame::Malformed
}

/// A variable byte integer at the front of `b`: (value, its length).
fn varint(b: &[u8]) -> Option<(usize, usize)> {
    let mut v = 0usize;
    for i in 0..4 {
        let byte = *b.get(i)?;
        v |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// The payload of a PUBLISH body (variable header and payload) without a packet identifier.
fn qos0_payload(body: &[u8], v5: bool) -> Option<&[u8]> {
    let topic_len = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
    let mut at = 2 + topic_len;
    if v5 {
        let (props, n) = varint(body.get(at..)?)?;
        at += n + props;
    }
    body.get(at..)
}

/// Scans the whole frames at the front of `buf`: QoS 0 PUBLISH frames are counted in
/// `tally`; the others are appended to `other`, in order, for the client. Returns how many
/// bytes were scanned; a partial frame at the end is left. A malformed frame header goes to
/// the client with everything after it (it closes the connection).
pub(crate) fn scan(buf: &[u8], tally: &mut Tally, other: &mut BytesMut) -> usize {
    let mut at = 0;
    loop {
        let rest = buf.get(at..).unwrap_or_default();
        let (first, header, len) = match frame(rest) {
            Frame::Incomplete => return at,
            Frame::Malformed => {
                other.extend_from_slice(rest);
                return buf.len();
            }
            Frame::Whole(f, h, l) => (f, h, l),
        };
        let Some(whole) = rest.get(..header + len) else {
            return at;
        };
        if first >> 4 == PUBLISH && (first >> 1) & 0x03 == 0 {
            tally.count += 1;
            if tally.want_stamps {
                let stamp = whole
                    .get(header..)
                    .and_then(|body| qos0_payload(body, tally.v5))
                    .and_then(|p| p.get(..8))
                    .and_then(|b| <[u8; 8]>::try_from(b).ok());
                if let Some(s) = stamp {
                    tally.stamps.push(u64::from_be_bytes(s));
                }
            }
        } else {
            other.extend_from_slice(whole);
        }
        at += whole.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use mqtt_proto::{
        ByteString, Packet, ProtocolVersion, PubAck, Publish, PublishProperties, QosPid,
    };
    use std::num::NonZeroU16;

    fn publish(qos_pid: QosPid, payload: &'static [u8], v: ProtocolVersion) -> BytesMut {
        let mut props = PublishProperties::default();
        if v.is_v5() {
            props.content_type = Some(ByteString::from_static("x/y"));
        }
        let p = Packet::Publish(Publish {
            dup: false,
            qos_pid,
            retain: false,
            topic: ByteString::from_static("a/b"),
            properties: props,
            payload: Bytes::from_static(payload),
        });
        let mut b = BytesMut::new();
        p.encode(v, &mut b).unwrap();
        b
    }

    #[test]
    fn counts_qos0_publish_and_passes_other_frames_in_order() {
        for v in [ProtocolVersion::V5, ProtocolVersion::V3_1_1] {
            let pid = NonZeroU16::new(7).unwrap();
            let mut buf = BytesMut::new();
            buf.extend_from_slice(&publish(QosPid::AtMostOnce, b"\0\0\0\0\0\0\0\x05zz", v));
            let q1 = publish(QosPid::AtLeastOnce(pid), b"one", v);
            buf.extend_from_slice(&q1);
            let mut ack = BytesMut::new();
            Packet::PubAck(PubAck::new(pid))
                .encode(v, &mut ack)
                .unwrap();
            buf.extend_from_slice(&ack);
            buf.extend_from_slice(&publish(QosPid::AtMostOnce, b"short", v));
            let partial = publish(QosPid::AtMostOnce, b"tail", v);
            let whole_len = buf.len();
            buf.extend_from_slice(&partial[..3]);

            let mut tally = Tally {
                want_stamps: true,
                v5: v.is_v5(),
                ..Tally::default()
            };
            let mut other = BytesMut::new();
            let used = scan(&buf, &mut tally, &mut other);
            assert_eq!(used, whole_len, "the partial frame stays");
            assert_eq!(tally.count, 2);
            // Only the payload of 8 bytes or more yields a stamp.
            assert_eq!(tally.stamps, vec![5]);
            let mut expected = q1.clone();
            expected.extend_from_slice(&ack);
            assert_eq!(other, expected);
        }
    }

    #[test]
    fn malformed_length_goes_to_the_client() {
        let buf = [0x30, 0xff, 0xff, 0xff, 0xff, 0x01];
        let mut tally = Tally::default();
        let mut other = BytesMut::new();
        assert_eq!(scan(&buf, &mut tally, &mut other), buf.len());
        assert_eq!(tally.count, 0);
        assert_eq!(&other[..], &buf[..]);
    }
}
