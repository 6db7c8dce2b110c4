//! `ringmq`: the broker binary. The runtime arrives with the runtime issues; for now the binary
//! reports what exists and decodes hex-encoded MQTT packets for inspection.

use bytes::BytesMut;
use mqtt_proto::{DecodeOptions, Packet, ProtocolVersion};

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--version") | Some("-V") => {
            println!("ringmq {}", env!("CARGO_PKG_VERSION"));
            std::process::ExitCode::SUCCESS
        }
        Some("decode") => decode(args.get(1..).unwrap_or_default()),
        _ => {
            println!(
                "ringmq {}: the MQTT codec (mqtt-proto) and the broker logic (mqtt-core) are \
                 complete; the runtimes that serve sockets are not built yet, so there is \
                 nothing to serve.\n\nusage:\n  ringmq decode [--v3|--v311] \
                 HEX...   decode client-to-server packets and print them",
                env!("CARGO_PKG_VERSION")
            );
            std::process::ExitCode::SUCCESS
        }
    }
}

fn decode(args: &[String]) -> std::process::ExitCode {
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
