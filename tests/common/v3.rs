//! An MQTT 3.1.1 client we did not write (rumqttc), wrapped for tests.

use std::net::SocketAddr;
use std::time::Duration;

pub use rumqttc::{
    AsyncClient, ConnAck, ConnectReturnCode, ConnectionError, Event, LastWill, MqttOptions, Packet,
    Publish, QoS, SubscribeReasonCode,
};
use tokio::sync::mpsc;

use super::pump::{Item, Pump};
use super::WAIT;

/// A connected v3.1.1 client.
#[derive(Debug)]
pub struct Client {
    /// Its client id.
    pub id: String,
    /// The request side.
    pub client: AsyncClient,
    /// The receiving side.
    pub pump: Pump<Packet, ConnectionError>,
    /// The broker's CONNACK.
    pub connack: ConnAck,
}

/// Options for `id` at `addr`: clean session, keep alive 30 s.
pub fn options(addr: SocketAddr, id: &str) -> MqttOptions {
    let mut o = MqttOptions::new(id, addr.ip().to_string(), addr.port());
    o.set_keep_alive(Duration::from_secs(30));
    o
}

/// Connects and waits for CONNACK; `Err` is how the connection ended instead.
pub async fn try_connect(opts: MqttOptions) -> Result<Client, ConnectionError> {
    let id = opts.client_id();
    let (client, mut el) = AsyncClient::new(opts, 256);
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(p)) => {
                    if tx.send(Item::Packet(p)).is_err() {
                        return;
                    }
                }
                Ok(Event::Outgoing(_)) => {}
                Err(e) => {
                    for ev in el.state.events.drain(..) {
                        if let Event::Incoming(p) = ev {
                            let _ = tx.send(Item::Packet(p));
                        }
                    }
                    let _ = tx.send(Item::Closed(e));
                    return;
                }
            }
        }
    });
    let mut pump = Pump::new(format!("v3.1.1 client {id}"), rx, task);
    let connack = pump
        .try_wait_for(WAIT, |p| match p {
            Packet::ConnAck(c) => Some(c.clone()),
            _ => None,
        })
        .await;
    match connack {
        Some(connack) => Ok(Client {
            id,
            client,
            pump,
            connack,
        }),
        None => match pump.take_error(Duration::ZERO).await {
            Some(e) => Err(e),
            None => panic!("v3.1.1 client {id}: no CONNACK within {WAIT:?}"),
        },
    }
}

/// Connects with `opts`, failing the test unless the broker accepts.
pub async fn connect_with(opts: MqttOptions) -> Client {
    let id = opts.client_id();
    match try_connect(opts).await {
        Ok(c) => {
            assert_eq!(c.connack.code, ConnectReturnCode::Success, "{id}: CONNACK");
            c
        }
        Err(e) => panic!("v3.1.1 client {id}: connection failed: {e:?}"),
    }
}

/// Connects with a clean session and default options.
pub async fn connect(addr: SocketAddr, id: &str) -> Client {
    connect_with(options(addr, id)).await
}

/// The payload as text.
pub fn text(p: &Publish) -> String {
    String::from_utf8_lossy(&p.payload).into_owned()
}

impl Client {
    /// Subscribes to one filter and returns the SUBACK return code.
    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> SubscribeReasonCode {
        self.client
            .subscribe(filter, qos)
            .await
            .expect("subscribe request");
        self.pump
            .wait_for("SUBACK", |p| match p {
                Packet::SubAck(s) => Some(s.return_codes.first().copied()),
                _ => None,
            })
            .await
            .expect("one return code in SUBACK")
    }

    /// Subscribes and asserts the broker granted `qos`.
    pub async fn subscribe_ok(&mut self, filter: &str, qos: QoS) {
        let code = self.subscribe(filter, qos).await;
        assert_eq!(
            code,
            SubscribeReasonCode::Success(qos),
            "{}: SUBACK for {filter}",
            self.id
        );
    }

    /// Publishes and, at QoS 1 or 2, waits for PUBACK or PUBCOMP.
    pub async fn publish(&mut self, topic: &str, qos: QoS, retain: bool, payload: &str) {
        self.client
            .publish(topic, qos, retain, payload.as_bytes().to_vec())
            .await
            .expect("publish request");
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => {
                self.pump
                    .wait_for("PUBACK", |p| matches!(p, Packet::PubAck(_)).then_some(()))
                    .await
            }
            QoS::ExactlyOnce => {
                self.pump
                    .wait_for("PUBCOMP", |p| matches!(p, Packet::PubComp(_)).then_some(()))
                    .await
            }
        }
    }

    /// The next PUBLISH from the broker, failing the test after [`WAIT`].
    pub async fn next_publish(&mut self) -> Publish {
        self.pump
            .wait_for("PUBLISH", |p| match p {
                Packet::Publish(p) => Some(p.clone()),
                _ => None,
            })
            .await
    }

    /// The next PUBLISH within `within`, if any.
    pub async fn try_next_publish(&mut self, within: Duration) -> Option<Publish> {
        self.pump
            .try_wait_for(within, |p| match p {
                Packet::Publish(p) => Some(p.clone()),
                _ => None,
            })
            .await
    }

    /// Asserts that no PUBLISH arrives within `within`.
    pub async fn assert_no_publish(&mut self, within: Duration) {
        if let Some(p) = self.try_next_publish(within).await {
            panic!("{}: unexpected PUBLISH {p:?}", self.id);
        }
    }

    /// Sends DISCONNECT and waits until the broker closes the connection.
    pub async fn disconnect(mut self) {
        self.client.disconnect().await.expect("disconnect request");
        let _ = self.pump.closed().await;
    }

    /// Closes the socket without DISCONNECT, as a crashed client would.
    pub async fn kill(mut self) {
        self.pump.kill().await;
    }
}
