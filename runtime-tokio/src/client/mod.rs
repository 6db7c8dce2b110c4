//! An async MQTT 5 / 3.1.1 client on tokio, built on mqtt-core's sans-IO client state
//! machine ([`mqtt_core::Client`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), runtime_tokio::client::Error> {
//! use runtime_tokio::client::{Client, ConnectOptions};
//! use mqtt_proto::{ProtocolVersion, QoS};
//!
//! let options = ConnectOptions::new("127.0.0.1:1883", "demo", ProtocolVersion::V5);
//! let (client, mut messages) = Client::connect(options).await?;
//! client.subscribe("sensors/#", QoS::AtLeastOnce).await?;
//! client.publish("sensors/t1", "21.5", QoS::AtLeastOnce).await?;
//! if let Some(msg) = messages.recv().await {
//!     println!("{}: {:?}", msg.topic, msg.payload);
//! }
//! client.disconnect().await?;
//! # Ok(()) }
//! ```
//!
//! # Shape
//! [`Client::connect`] spawns one driver task (`tokio::spawn`: call it inside a runtime) that
//! owns the `TcpStream` and the state machine. The [`Client`] handle (`Clone + Send`) sends
//! it commands over a bounded channel and gets each answer over a oneshot: [`Client::publish`]
//! resolves on PUBACK (QoS 1) or PUBCOMP (QoS 2), [`Client::subscribe`] on SUBACK and
//! [`Client::unsubscribe`] on UNSUBACK, with their reason codes. Incoming application messages
//! arrive on [`Messages`] ([`Messages::recv`], or as a `Stream`); when the application does
//! not keep up, the driver stops reading the socket (but still answers pings and commands).
//! The driver stops when every [`Client`] handle is dropped.
//!
//! Keep-alive pings and the CONNACK timeout run on a timer armed at the state machine's
//! `poll_timeout`. A connection that drops is not re-established by itself:
//! [`Client::status`] shows it, and [`Client::reconnect`] opens a new connection on the same
//! session, where the state machine retransmits unacknowledged QoS 1/2 messages (with DUP)
//! and PUBREL packets; publish futures then resolve on the new connection's acknowledgements.

mod driver;
mod error;
pub mod manager;

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use bytes::Bytes;
use mqtt_core::client::{ClientOptions, Connected, OutgoingMessage};
use mqtt_proto::{
    ByteString, DisconnectReasonCode, LastWill, ProtocolVersion, Publish, QoS, ReasonCode,
    SubAckReasonCode, SubscribeProperties, Subscription, SubscriptionOptions, UnsubAckReasonCode,
    UnsubscribeProperties,
};
use smallvec::SmallVec;
use tokio::sync::{mpsc, oneshot, watch};

pub use error::Error;
pub use mqtt_core::client::{ClientError, CloseReason, ServerLimits};

use driver::{Command, Driver};

/// The default [`ConnectOptions::max_queued`]: commands that may wait while the broker is
/// unreachable (or the in-flight window is full) before new ones are refused with
/// [`Error::QueueFull`].
pub const DEFAULT_MAX_QUEUED: usize = 10_000;

/// What [`Client::connect`] needs: where the broker is, and the MQTT options.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The broker's address, `host:port`, resolved on every (re)connect.
    pub addr: String,
    /// The MQTT options (client id, version, credentials, will, keep alive, clean start,
    /// session expiry, limits...). `mqtt.max_queued` is the offline queue limit (see
    /// [`ConnectOptions::max_queued`]).
    pub mqtt: ClientOptions,
    /// Incoming messages buffered for [`Messages`] before the driver stops reading.
    pub message_capacity: usize,
    /// Commands buffered between the handles and the driver.
    pub command_capacity: usize,
}

impl ConnectOptions {
    /// Defaults (keep alive 60 s, clean start, no session expiry) for this broker, client
    /// identifier (empty: the server assigns one) and version.
    pub fn new(
        addr: impl Into<String>,
        client_id: impl Into<ByteString>,
        version: ProtocolVersion,
    ) -> Self {
        Self {
            addr: addr.into(),
            mqtt: ClientOptions {
                max_queued: DEFAULT_MAX_QUEUED,
                ..ClientOptions::new(client_id, version)
            },
            message_capacity: 1024,
            command_capacity: 256,
        }
    }

    /// With a user name and password.
    #[must_use]
    pub fn credentials(
        mut self,
        username: impl Into<ByteString>,
        password: impl Into<Bytes>,
    ) -> Self {
        self.mqtt.username = Some(username.into());
        self.mqtt.password = Some(password.into());
        self
    }

    /// With a will message.
    #[must_use]
    pub fn will(mut self, will: LastWill) -> Self {
        self.mqtt.will = Some(will);
        self
    }

    /// With this Keep Alive in seconds (0: no pings).
    #[must_use]
    pub fn keep_alive(mut self, seconds: u16) -> Self {
        self.mqtt.keep_alive = seconds;
        self
    }

    /// With Clean Start (MQTT 5) / Clean Session (MQTT 3) for the first CONNECT.
    #[must_use]
    pub fn clean_start(mut self, clean: bool) -> Self {
        self.mqtt.clean_start = clean;
        self
    }

    /// With this offline queue limit (default [`DEFAULT_MAX_QUEUED`]): publishes,
    /// subscribes and unsubscribes given while the broker is unreachable (or beyond the
    /// in-flight window) wait in a queue of at most `limit` commands, and go out in order
    /// once connected; beyond it a command fails at once with [`Error::QueueFull`]. Each
    /// queued publish holds its payload: size the limit for the memory it may take.
    #[must_use]
    pub fn max_queued(mut self, limit: usize) -> Self {
        self.mqtt.max_queued = limit;
        self
    }

    /// With this Session Expiry Interval in seconds (MQTT 5).
    #[must_use]
    pub fn session_expiry(mut self, seconds: u32) -> Self {
        self.mqtt.session_expiry = seconds;
        self
    }
}

/// The answer to a QoS 1/2 publish: PUBACK's reason (QoS 1), or PUBREC's (QoS 2, on
/// PUBCOMP). A QoS 0 publish resolves with Success once the client took it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubAck {
    /// Reason code (below 0x80: refusals are [`Error::PublishRefused`]).
    pub reason: ReasonCode,
    /// Reason String.
    pub reason_string: Option<ByteString>,
}

/// SUBACK: one reason code per filter, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    /// Granted QoS or failure per filter.
    pub reason_codes: SmallVec<[SubAckReasonCode; 2]>,
    /// Reason String.
    pub reason_string: Option<ByteString>,
}

/// UNSUBACK: one reason code per filter (all Success on MQTT 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    /// Outcome per filter.
    pub reason_codes: SmallVec<[UnsubAckReasonCode; 2]>,
    /// Reason String.
    pub reason_string: Option<ByteString>,
}

/// Where the connection is, as [`Client::status`] shows it.
#[derive(Debug, Clone)]
pub enum Status {
    /// A connection attempt is in progress.
    Connecting,
    /// CONNACK accepted the connection.
    Connected(Box<Connected>),
    /// No connection; with the reason the last one ended (none before the first).
    Disconnected(Option<Error>),
}

impl Status {
    /// Whether a connection is up.
    pub fn is_connected(&self) -> bool {
        matches!(self, Self::Connected(_))
    }
}

/// A handle on one MQTT client: cheap to clone, `Send`, usable from any task.
#[derive(Debug, Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    status: watch::Receiver<Status>,
    version: ProtocolVersion,
}

/// The answer to a command, once the driver has taken it: a future that resolves with the
/// broker's acknowledgement.
#[derive(Debug)]
pub struct Pending<T> {
    rx: oneshot::Receiver<Result<T, Error>>,
}

impl<T> Future for Pending<T> {
    type Output = Result<T, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(Error::Stopped)))
    }
}

/// Incoming application messages, in arrival order: [`Messages::recv`], or a
/// `futures_core::Stream`. Ends when the client stops.
#[derive(Debug)]
pub struct Messages {
    rx: mpsc::Receiver<Publish>,
}

impl Messages {
    /// The next message; `None` once the client has stopped.
    pub async fn recv(&mut self) -> Option<Publish> {
        self.rx.recv().await
    }
}

impl futures_core::Stream for Messages {
    type Item = Publish;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Publish>> {
        self.rx.poll_recv(cx)
    }
}

impl Client {
    /// Connects: spawns the driver, opens the socket, sends CONNECT and waits for CONNACK.
    /// A refusal is [`Error::ConnectRefused`] with the broker's reason code and string.
    pub async fn connect(options: ConnectOptions) -> Result<(Client, Messages), Error> {
        let (client, messages, _) = Self::connect_with_ack(options).await?;
        Ok((client, messages))
    }

    /// [`Client::connect`], also returning the CONNACK (session present, server limits,
    /// properties).
    pub async fn connect_with_ack(
        options: ConnectOptions,
    ) -> Result<(Client, Messages, Box<Connected>), Error> {
        let (client, messages) = Self::new(options);
        let connected = client.reconnect().await?;
        Ok((client, messages, connected))
    }

    /// A client that is not connected yet: spawns the driver (call it inside a tokio
    /// runtime); [`Client::reconnect`] connects. Commands given before are queued (within
    /// `max_queued`) and go out once connected.
    pub fn new(options: ConnectOptions) -> (Client, Messages) {
        let (commands, command_rx) = mpsc::channel(options.command_capacity.max(1));
        let (message_tx, rx) = mpsc::channel(options.message_capacity.max(1));
        let (status_tx, status) = watch::channel(Status::Disconnected(None));
        let version = options.mqtt.version;
        let driver = Driver::new(options, command_rx, message_tx, status_tx);
        tokio::spawn(driver.run());
        (
            Client {
                commands,
                status,
                version,
            },
            Messages { rx },
        )
    }

    async fn command<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, Error>>) -> Command,
    ) -> Result<Pending<T>, Error> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| Error::Stopped)?;
        Ok(Pending { rx })
    }

    /// Hands a command to the driver without waiting, so that commands given one after the
    /// other from synchronous code keep their order; when the channel is full the command
    /// is sent from a task (inside a runtime) and may pass later ones.
    fn command_now<T: Send + 'static>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, Error>>) -> Command,
    ) -> Pending<T> {
        let (tx, rx) = oneshot::channel();
        match self.commands.try_send(make(tx)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(cmd)) => {
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    let commands = self.commands.clone();
                    runtime.spawn(async move {
                        let _ = commands.send(cmd).await;
                    });
                }
            }
            // The driver has stopped: the dropped reply makes `Pending` say so.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
        Pending { rx }
    }

    /// [`Client::subscribe_many`] without waiting for the driver to take the command.
    pub(crate) fn subscribe_now(
        &self,
        subscriptions: Vec<Subscription>,
        properties: SubscribeProperties,
    ) -> Pending<SubAck> {
        self.command_now(|reply| Command::Subscribe(subscriptions, properties, reply))
    }

    /// [`Client::unsubscribe`] without waiting for the driver to take the command.
    pub(crate) fn unsubscribe_now(&self, filter: ByteString) -> Pending<UnsubAck> {
        self.command_now(|reply| {
            Command::Unsubscribe(vec![filter], UnsubscribeProperties::default(), reply)
        })
    }

    /// The protocol version this client speaks.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// Opens a new connection on the same session (closing the current one if any) and
    /// waits for CONNACK. Unacknowledged QoS 1/2 messages are sent again once the broker
    /// resumes the session (see [`mqtt_core::client`]).
    pub async fn reconnect(&self) -> Result<Box<Connected>, Error> {
        self.command(Command::Connect).await?.await
    }

    /// Publishes and waits for PUBACK (QoS 1) or PUBCOMP (QoS 2).
    pub async fn publish(
        &self,
        topic: impl Into<ByteString>,
        payload: impl Into<Bytes>,
        qos: QoS,
    ) -> Result<PubAck, Error> {
        self.publish_message(OutgoingMessage::new(topic, payload, qos))
            .await
    }

    /// Publishes a message with RETAIN or properties and waits for its acknowledgement.
    pub async fn publish_message(&self, msg: OutgoingMessage) -> Result<PubAck, Error> {
        self.start_publish(msg).await?.await
    }

    /// Hands the message to the driver and returns at once with a future of its
    /// acknowledgement: many publishes can be in flight.
    pub async fn start_publish(&self, msg: OutgoingMessage) -> Result<Pending<PubAck>, Error> {
        self.command(|reply| Command::Publish(msg, reply)).await
    }

    /// Subscribes to one filter with default options and waits for SUBACK. A filter the
    /// broker refuses is a failure code in [`SubAck::reason_codes`], not an error.
    pub async fn subscribe(
        &self,
        filter: impl Into<ByteString>,
        qos: QoS,
    ) -> Result<SubAck, Error> {
        let sub = Subscription {
            filter: filter.into(),
            options: SubscriptionOptions {
                qos,
                ..SubscriptionOptions::default()
            },
        };
        self.subscribe_many(vec![sub], SubscribeProperties::default())
            .await
    }

    /// Subscribes to several filters (with their options and properties); waits for SUBACK.
    pub async fn subscribe_many(
        &self,
        subscriptions: Vec<Subscription>,
        properties: SubscribeProperties,
    ) -> Result<SubAck, Error> {
        self.command(|reply| Command::Subscribe(subscriptions, properties, reply))
            .await?
            .await
    }

    /// Unsubscribes from one filter and waits for UNSUBACK.
    pub async fn unsubscribe(&self, filter: impl Into<ByteString>) -> Result<UnsubAck, Error> {
        self.unsubscribe_many(vec![filter.into()], UnsubscribeProperties::default())
            .await
    }

    /// Unsubscribes from several filters; waits for UNSUBACK.
    pub async fn unsubscribe_many(
        &self,
        filters: Vec<ByteString>,
        properties: UnsubscribeProperties,
    ) -> Result<UnsubAck, Error> {
        self.command(|reply| Command::Unsubscribe(filters, properties, reply))
            .await?
            .await
    }

    /// Disconnects cleanly: DISCONNECT (Normal disconnection, so no will), flushed before
    /// the socket closes. The session stays with the handle for a later
    /// [`Client::reconnect`].
    pub async fn disconnect(&self) -> Result<(), Error> {
        self.disconnect_with(DisconnectReasonCode::NormalDisconnection, None)
            .await
    }

    /// Disconnects with this reason code and (MQTT 5) a new Session Expiry Interval.
    pub async fn disconnect_with(
        &self,
        reason: DisconnectReasonCode,
        session_expiry: Option<u32>,
    ) -> Result<(), Error> {
        self.command(|reply| Command::Disconnect(reason, session_expiry, reply))
            .await?
            .await
    }

    /// The connection status now.
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// A receiver of status changes (connecting, connected, disconnected with the reason).
    pub fn watch_status(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// Waits until the connection is down, and returns why.
    pub async fn disconnected(&self) -> Option<Error> {
        let mut rx = self.status.clone();
        let status = rx
            .wait_for(|s| matches!(s, Status::Disconnected(_)))
            .await
            .ok()?;
        match &*status {
            Status::Disconnected(e) => e.clone(),
            _ => None,
        }
    }
}
