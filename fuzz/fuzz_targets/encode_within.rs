//! `encode_within`: fit a decoded packet to a peer's Maximum Packet Size.
//!
//! Input: `[selector] [max_hi] [max_lo] [stream]` (see `fuzz/README.md`). Every packet decoded
//! from the stream is encoded with `encode_within(version, max, buf)` where `buf` already
//! holds a few bytes. Checks: a packet that fits is written exactly as `encode` writes it; a
//! trimmed one is at most `max` bytes and decodes to the packet without its reason string (and
//! user properties); PUBLISH, CONNECT, SUBSCRIBE and UNSUBSCRIBE are never trimmed; on
//! `PacketTooLarge` nothing is appended and the reported size is the smallest possible one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mqtt_proto::{BytesMut, EncodeError, Packet};
use ringmq_fuzz::{decode_whole, options, strip, trimmable};

const PREFIX: &[u8] = b"pre";

fuzz_target!(|data: &[u8]| {
    let [selector, hi, lo, stream @ ..] = data else {
        return;
    };
    let max = u32::from(u16::from_be_bytes([*hi, *lo]));
    let opts = options(*selector);
    let v = opts.version;
    let out = decode_whole(stream, &opts);
    for p in &out.packets {
        let full = p.encoded_len(v);
        let mut buf = BytesMut::from(PREFIX);
        match p.encode_within(v, max, &mut buf) {
            Ok(()) => {
                assert_eq!(&buf[..PREFIX.len()], PREFIX, "prefix overwritten");
                let written = buf.len() - PREFIX.len();
                assert!(written <= max as usize, "wrote {written} > max {max}");
                let mut frame = buf.split_off(PREFIX.len());
                let encoded = frame.clone();
                let q = match Packet::decode(&mut frame, &opts) {
                    Ok(Some(q)) => q,
                    other => panic!("encode_within output does not decode: {other:?}"),
                };
                assert!(
                    frame.is_empty(),
                    "trailing bytes after the re-decoded frame"
                );
                assert_eq!(q.encoded_len(v), written);
                if full <= max as usize {
                    // It fit: nothing may be trimmed.
                    assert_eq!(written, full);
                    assert_eq!(&q, p);
                    let mut plain = BytesMut::new();
                    assert!(p.encode(v, &mut plain).is_ok());
                    assert_eq!(plain, encoded, "encode_within differs from encode");
                } else {
                    assert!(trimmable(p), "application data trimmed: {p:#?}");
                    let no_reason = strip(p, true, false);
                    let bare = strip(p, true, true);
                    assert!(
                        q == no_reason || q == bare,
                        "trimmed packet {q:#?} is not {p:#?} without diagnostics"
                    );
                    // The least trimming that fits was chosen.
                    if q == bare && no_reason != bare {
                        assert!(no_reason.encoded_len(v) > max as usize);
                    }
                }
            }
            Err(EncodeError::PacketTooLarge { size, max: m }) => {
                assert_eq!(&buf[..], PREFIX, "bytes appended on error");
                assert_eq!(m, max);
                assert!(size > max as usize);
                assert!(full > max as usize, "fits ({full} <= {max}) but refused");
                let smallest = if trimmable(p) {
                    strip(p, true, true).encoded_len(v)
                } else {
                    full
                };
                assert_eq!(size, smallest, "reported size is not the smallest encoding");
            }
            Err(e) => panic!("a decoded packet failed encode_within: {e:?}\n{p:#?}"),
        }
    }
});
