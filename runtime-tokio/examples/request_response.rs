//! Request/response over MQTT 5: the requester publishes with a Response Topic and
//! Correlation Data; the responder answers on that topic with the same Correlation Data.
//! Both run in this process.
//!
//! Needs a running MQTT broker, e.g. `cargo run --release -- --listen 127.0.0.1:1883
//! --allow-anonymous` in another terminal; then
//! `cargo run -p runtime-tokio --example request_response -- [host:port]`
//! (default 127.0.0.1:1883).

use mqtt_core::client::OutgoingMessage;
use mqtt_proto::{ByteString, Bytes, ProtocolVersion, PublishProperties, QoS};
use runtime_tokio::client::{Client, ConnectOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:1883".to_owned());

    // The responder: answers every request on its Response Topic.
    let options = ConnectOptions::new(addr.as_str(), "ringmq-responder", ProtocolVersion::V5);
    let (responder, mut requests) = Client::connect(options).await?;
    responder
        .subscribe("demo/rpc/square", QoS::AtLeastOnce)
        .await?;
    tokio::spawn(async move {
        while let Some(req) = requests.recv().await {
            let Some(reply_to) = req.properties.response_topic.clone() else {
                continue;
            };
            let n: i64 = String::from_utf8_lossy(&req.payload).parse().unwrap_or(0);
            let props = PublishProperties {
                correlation_data: req.properties.correlation_data.clone(),
                ..PublishProperties::default()
            };
            let answer = OutgoingMessage::new(reply_to, (n * n).to_string(), QoS::AtLeastOnce)
                .properties(props);
            if let Err(e) = responder.publish_message(answer).await {
                eprintln!("responder: {e}");
            }
        }
    });

    // The requester: its own response topic, one correlation id per request.
    let options = ConnectOptions::new(addr.as_str(), "ringmq-requester", ProtocolVersion::V5);
    let (requester, mut responses) = Client::connect(options).await?;
    let reply_topic = "demo/rpc/replies/ringmq-requester";
    requester.subscribe(reply_topic, QoS::AtLeastOnce).await?;
    for n in 1..=3_i64 {
        let props = PublishProperties {
            response_topic: Some(ByteString::from(reply_topic)),
            correlation_data: Some(Bytes::from(format!("req-{n}"))),
            ..PublishProperties::default()
        };
        let request = OutgoingMessage::new("demo/rpc/square", n.to_string(), QoS::AtLeastOnce)
            .properties(props);
        requester.publish_message(request).await?;
        let Some(resp) = responses.recv().await else {
            break;
        };
        println!(
            "{n}^2 = {} (correlation {:?})",
            String::from_utf8_lossy(&resp.payload),
            resp.properties.correlation_data
        );
    }
    requester.disconnect().await?;
    Ok(())
}
