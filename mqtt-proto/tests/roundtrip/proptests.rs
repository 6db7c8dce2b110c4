//! The `proptest!` suites: every packet type round-trips, and hostile input never panics
//! the decoder. Proptest keeps the failures it has seen here in
//! `tests/proptest-regressions/proptests.txt` and replays them first.

use mqtt_proto::ProtocolVersion::V5;
use mqtt_proto::{
    parse_fixed_header, BytesMut, ControlChars, DecodeOptions, Packet, ProtocolVersion,
    PubAckReasonCode, PubRelReasonCode, Role,
};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;

use crate::strategies::{
    ack, any_packet, auth, connack, connect, disconnect, publish, suback, subscribe, unsuback,
    unsubscribe,
};
use crate::{opts_for, role, version};

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
