//! Subscribes to a filter and prints what arrives, as a `Stream`, until Ctrl-C... or
//! `count` messages.
//!
//! Needs a running MQTT broker, e.g. `cargo run --release -- --listen 127.0.0.1:1883
//! --allow-anonymous` in another terminal; then
//! `cargo run -p runtime-tokio --example subscriber -- [host:port] [filter] [count]`
//! (defaults: 127.0.0.1:1883, `demo/#`, 5).

use mqtt_proto::{ProtocolVersion, QoS};
use runtime_tokio::client::{Client, ConnectOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:1883".to_owned());
    let filter = args.next().unwrap_or_else(|| "demo/#".to_owned());
    let count: usize = args.next().map_or(Ok(5), |c| c.parse())?;
    let options = ConnectOptions::new(addr, "ringmq-subscriber", ProtocolVersion::V5)
        .keep_alive(30)
        .session_expiry(300);
    let (client, mut messages) = Client::connect(options).await?;
    let ack = client.subscribe(filter.as_str(), QoS::AtLeastOnce).await?;
    println!("subscribed to {filter}: {:?}", ack.reason_codes);
    for _ in 0..count {
        let Some(msg) = messages.recv().await else {
            break;
        };
        println!(
            "{} [{:?}]: {}",
            msg.topic,
            msg.qos_pid.qos(),
            String::from_utf8_lossy(&msg.payload)
        );
    }
    client.disconnect().await?;
    Ok(())
}
