#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Property tests: every packet type in every version it exists in round-trips through
//! `encode` and `decode`; arbitrary and mutated bytes never panic the decoder, and whatever
//! it accepts re-encodes to the same packet; `encode_within` trims diagnostics in order.

mod encode_within;
mod proptests;
mod strategies;

use core::num::{NonZeroU16, NonZeroU32};

use mqtt_proto::ProtocolVersion::{V3_1, V3_1_1, V5};
use mqtt_proto::{
    ByteString, Bytes, DecodeOptions, ProtocolVersion, QoS, Role, UserProperties, MAX_VARINT,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

const ALL_VERSIONS: [ProtocolVersion; 3] = [V3_1, V3_1_1, V5];
const SHARE_PREFIX: &str = "$share/";

// ---- value strategies --------------------------------------------------------------------------

fn version() -> impl Strategy<Value = ProtocolVersion> {
    select(ALL_VERSIONS.to_vec())
}

fn role() -> impl Strategy<Value = Role> {
    select(vec![Role::Client, Role::Server])
}

fn qos() -> impl Strategy<Value = QoS> {
    select(vec![QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce])
}

fn nz16() -> impl Strategy<Value = NonZeroU16> {
    (1..=u16::MAX).prop_map(|n| NonZeroU16::new(n).unwrap())
}

fn nz32() -> impl Strategy<Value = NonZeroU32> {
    (1..=u32::MAX).prop_map(|n| NonZeroU32::new(n).unwrap())
}

/// A Subscription Identifier: 1..=268,435,455, biased to each varint width.
fn sub_id() -> impl Strategy<Value = NonZeroU32> {
    prop_oneof![
        1..=127u32,
        128..=16_383u32,
        16_384..=MAX_VARINT,
        Just(MAX_VARINT)
    ]
    .prop_map(|n| NonZeroU32::new(n).unwrap())
}

/// Any character but a control character (U+0000..U+001F, U+007F..U+009F), which the
/// decoder rejects by default. Topic punctuation and a BOM are made likely.
fn text_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => any::<char>().prop_map(|c| if c.is_control() { '.' } else { c }),
        1 => select(vec!['/', '+', '#', '$', ' ', 'a', 'é', '€', '\u{FEFF}', '😀']),
    ]
}

fn text(max: usize) -> impl Strategy<Value = ByteString> {
    vec(text_char(), 0..=max).prop_map(|cs| ByteString::from(cs.into_iter().collect::<String>()))
}

/// A topic name: non-empty and without wildcards [MQTT-3.3.2-2], [MQTT-4.7.3-1].
fn topic_name() -> impl Strategy<Value = ByteString> {
    vec(
        text_char().prop_map(|c| if c == '+' || c == '#' { '/' } else { c }),
        1..=24,
    )
    .prop_map(|cs| ByteString::from(cs.into_iter().collect::<String>()))
}

/// A topic filter as the codec sees it: any string; sometimes a shared subscription.
fn filter() -> impl Strategy<Value = ByteString> {
    prop_oneof![
        3 => text(24),
        1 => text(12).prop_map(|s| ByteString::from(format!("{SHARE_PREFIX}{s}"))),
    ]
}

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..=max).prop_map(Bytes::from)
}

/// User properties, often with a repeated key.
fn user_props() -> impl Strategy<Value = UserProperties> {
    let key = prop_oneof![Just(ByteString::from_static("k")), text(8)];
    vec((key, text(8)), 0..4).prop_map(|v| v.into_iter().collect())
}

/// `s` on MQTT 5; the empty default on 3.x, where properties do not exist.
fn v5_or_default<T, S>(v: ProtocolVersion, s: S) -> BoxedStrategy<T>
where
    T: Default + Clone + core::fmt::Debug + 'static,
    S: Strategy<Value = T> + 'static,
{
    if v.is_v5() {
        s.boxed()
    } else {
        Just(T::default()).boxed()
    }
}

// ---- checks ------------------------------------------------------------------------------------

/// Options for decoding what `sender` wrote, with topic aliases allowed.
fn opts_for(v: ProtocolVersion, sender: Role) -> DecodeOptions {
    let mut opts = match sender {
        Role::Client => DecodeOptions::server(v),
        Role::Server => DecodeOptions::client(v),
    };
    opts.topic_alias_maximum = u16::MAX;
    opts
}
