//! `ringmq decode`: decodes hex-encoded MQTT packets for inspection.

use bytes::BytesMut;
use mqtt_proto::{DecodeOptions, Packet, ProtocolVersion};

/// Decodes hex-encoded client-to-server packets and prints them; `--v3` and `--v311` pick
/// the protocol version (default 5).
pub(crate) fn run(args: &[String]) -> std::process::ExitCode {
    let mut opts = DecodeOptions::server(ProtocolVersion::V5);
    opts.topic_alias_maximum = u16::MAX;
    let mut buf = BytesMut::new();
    for a in args {
        match a.as_str() {
            "--v3" => opts.version = ProtocolVersion::V3_1,
            "--v311" => opts.version = ProtocolVersion::V3_1_1,
            hex => match parse_hex(hex) {
                Some(b) => buf.extend_from_slice(&b),
                None => {
                    eprintln!("not hex: {hex}");
                    return std::process::ExitCode::from(2);
                }
            },
        }
    }
    loop {
        match Packet::decode(&mut buf, &opts) {
            Ok(Some(p)) => println!("{p:#?}"),
            Ok(None) => {
                if !buf.is_empty() {
                    println!("incomplete: {} bytes buffered", buf.len());
                }
                return std::process::ExitCode::SUCCESS;
            }
            Err(e) => {
                println!("error: {e} (reason code {:#04x})", e.reason_code().0);
                return std::process::ExitCode::from(1);
            }
        }
    }
}

/// Bytes of a hex string, or `None` if it is not hex.
fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}
