//! decode → encode → decode: every packet the decoder accepts must encode, `encoded_len` must
//! equal the bytes written, and decoding the encoding must give the same packet.
//!
//! Input: `[selector] [stream]` (see `fuzz/README.md`). Packets are encoded in the selected
//! version; CONNECT is encoded in its own protocol version.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringmq_fuzz::{assert_roundtrip, decode_whole, options};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, stream)) = data.split_first() else {
        return;
    };
    let opts = options(selector);
    let out = decode_whole(stream, &opts);
    for p in &out.packets {
        let first = assert_roundtrip(p, opts.version, &opts);
        // Encoding is deterministic and appends: a second encode after the first writes the
        // same bytes again.
        let mut twice = first.clone();
        if p.encode(opts.version, &mut twice).is_err() {
            panic!("second encode failed");
        }
        assert_eq!(&twice[..first.len()], &first[..]);
        assert_eq!(&twice[first.len()..], &first[..]);
    }
});
