//! One session manager, two brokers: a route across both sessions, a publish through each,
//! and the lifecycle events.
//!
//! Needs two MQTT brokers running (any MQTT 5 broker; the same one twice also works). For
//! example, two ringmq brokers in two terminals:
//!
//! ```text
//! cargo run --release -- --listen 127.0.0.1:21883 --allow-anonymous
//! cargo run --release -- --listen 127.0.0.1:21884 --allow-anonymous --runtime tokio
//! cargo run -p runtime-tokio --example session_manager -- 127.0.0.1:21883 127.0.0.1:21884
//! ```
//!
//! Arguments: `[host:port] [host:port]` (defaults: 127.0.0.1:1883, then the first again).
//! A broker that is not reachable makes `wait_all_ready` time out after 10 s.

use std::time::Duration;

use mqtt_core::client::OutgoingMessage;
use mqtt_proto::{ProtocolVersion, QoS};
use runtime_tokio::client::manager::{SessionEvent, SessionManager, SessionOptions};
use runtime_tokio::client::ConnectOptions;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let first = args.next().unwrap_or_else(|| "127.0.0.1:1883".to_owned());
    let second = args.next().unwrap_or_else(|| first.clone());

    let manager = SessionManager::new();
    let mut events = manager.events();
    tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            if !matches!(event, SessionEvent::StateChanged { .. }) {
                println!("event: {event:?}");
            }
        }
    });
    // Routes first: each session subscribes them when it connects.
    let mut readings = manager.listen("demo/manager/#", QoS::AtLeastOnce)?;
    for (name, addr) in [("east", first), ("west", second)] {
        let options =
            ConnectOptions::new(addr, format!("ringmq-manager-{name}"), ProtocolVersion::V5)
                .keep_alive(30);
        manager.add_session(SessionOptions::new(name, options))?;
    }
    manager.wait_all_ready(Duration::from_secs(10)).await?;
    for name in ["east", "west"] {
        let msg = OutgoingMessage::new(format!("demo/manager/{name}"), "hello", QoS::AtLeastOnce);
        manager.publish_to(name, msg).await?;
    }
    for _ in 0..2 {
        if let Ok(Some(d)) = tokio::time::timeout(Duration::from_secs(5), readings.recv()).await {
            println!(
                "via {}: {} = {:?}",
                d.session, d.message.topic, d.message.payload
            );
        }
    }
    for info in manager.list() {
        println!("{}: {:?} {:?}", info.name, info.state, info.metrics);
    }
    manager.shutdown().await;
    Ok(())
}
