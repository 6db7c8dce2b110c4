//! Publishes a few messages at QoS 1 and prints each PUBACK.
//!
//! Needs a running MQTT broker, e.g. `cargo run --release -- --listen 127.0.0.1:1883
//! --allow-anonymous` in another terminal; then
//! `cargo run -p runtime-tokio --example publisher -- [host:port] [topic]`
//! (defaults: 127.0.0.1:1883, `demo/ticks`).

use std::time::Duration;

use mqtt_proto::{ProtocolVersion, QoS};
use runtime_tokio::client::{Client, ConnectOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:1883".to_owned());
    let topic = args.next().unwrap_or_else(|| "demo/ticks".to_owned());
    let options = ConnectOptions::new(addr, "ringmq-publisher", ProtocolVersion::V5).keep_alive(30);
    let (client, _messages) = Client::connect(options).await?;
    for i in 0..5 {
        let ack = client
            .publish(topic.as_str(), format!("tick {i}"), QoS::AtLeastOnce)
            .await?;
        println!("tick {i}: PUBACK reason 0x{:02X}", ack.reason.0);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    client.disconnect().await?;
    Ok(())
}
