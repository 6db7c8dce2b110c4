//! Decode an arbitrary byte stream with options chosen by the first byte; never panic.
//!
//! Input: `[selector] [stream]` (see `fuzz/README.md`). The stream is decoded in one buffer
//! until `Ok(None)` or an error. With selector bit 7 set it is also fed one byte at a time,
//! which must give the same packets and the same error: how bytes are split across reads
//! must not matter.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mqtt_proto::topic;
use mqtt_proto::Packet;
use ringmq_fuzz::{decode_bytewise, decode_whole, options, sel};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, stream)) = data.split_first() else {
        return;
    };
    let opts = options(selector);
    let whole = decode_whole(stream, &opts);
    // Topic rules are checked after decoding, by the session: run them too.
    for p in &whole.packets {
        match p {
            Packet::Subscribe(s) => {
                for f in &s.subscriptions {
                    let _ = topic::parse_filter(&f.filter, 32);
                }
            }
            Packet::Unsubscribe(u) => {
                for f in &u.filters {
                    let _ = topic::parse_filter(f, 32);
                }
            }
            Packet::Publish(p) => {
                let _ = topic::validate_topic_name(&p.topic, 32);
            }
            _ => {}
        }
    }
    if selector & sel::INCREMENTAL != 0 {
        let bytewise = decode_bytewise(stream, &opts);
        assert_eq!(
            whole.packets, bytewise.packets,
            "packets differ when fed bytewise"
        );
        assert_eq!(
            whole.error, bytewise.error,
            "errors differ when fed bytewise"
        );
        if whole.error.is_none() {
            assert_eq!(whole.left, bytewise.left);
        }
    }
});
