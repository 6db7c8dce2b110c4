//! The driver task: owns the socket and the state machine, takes commands from the handles,
//! answers them on oneshots, and hands incoming messages to [`Messages`](super::Messages).

use core::time::Duration;
use std::collections::{HashMap, VecDeque};
use std::io;

use bytes::{Buf, BytesMut};
use mqtt_core::client::{Client as Core, CloseReason, Connected, Event, PacketToken};
use mqtt_core::Timestamp;
use mqtt_proto::{
    DisconnectReasonCode, Publish, QoS, ReasonCode, SubscribeProperties, Subscription,
    UnsubscribeProperties,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{timeout, Instant};

use super::{ConnectOptions, Error, OutgoingMessage, PubAck, Status, SubAck, UnsubAck};

/// Time allowed to flush what is left (a DISCONNECT) before the socket closes.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);
/// Above this many unwritten bytes the driver takes no new command until the socket drains.
const TX_LIMIT: usize = 1 << 20;
/// Read buffer reservation per read.
const READ_CHUNK: usize = 16 * 1024;

type Reply<T> = oneshot::Sender<Result<T, Error>>;

/// A command from a [`Client`](super::Client) handle.
#[derive(Debug)]
pub(super) enum Command {
    Connect(Reply<Box<Connected>>),
    Publish(OutgoingMessage, Reply<PubAck>),
    Subscribe(Vec<Subscription>, SubscribeProperties, Reply<SubAck>),
    Unsubscribe(
        Vec<mqtt_proto::ByteString>,
        UnsubscribeProperties,
        Reply<UnsubAck>,
    ),
    Disconnect(DisconnectReasonCode, Option<u32>, Reply<()>),
}

/// A command waiting for the broker's answer.
#[derive(Debug)]
enum Waiting {
    Publish(Reply<PubAck>),
    Subscribe(Reply<SubAck>),
    Unsubscribe(Reply<UnsubAck>),
}

impl Waiting {
    fn fail(self, e: Error) {
        match self {
            Self::Publish(r) => drop(r.send(Err(e))),
            Self::Subscribe(r) => drop(r.send(Err(e))),
            Self::Unsubscribe(r) => drop(r.send(Err(e))),
        }
    }
}

#[derive(Debug)]
struct Conn {
    rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
}

/// What woke the driver.
// A short-lived local: boxing the command would cost an allocation per command.
#[allow(clippy::large_enum_variant)]
enum Step {
    Command(Option<Command>),
    Read(io::Result<usize>),
    Wrote(io::Result<usize>),
    Timer,
    Delivered,
}

#[derive(Debug)]
pub(super) struct Driver {
    options: ConnectOptions,
    core: Core,
    commands: mpsc::Receiver<Command>,
    messages: mpsc::Sender<Publish>,
    status: watch::Sender<Status>,
    start: Instant,
    conn: Option<Conn>,
    rbuf: BytesMut,
    /// Bytes for the current connection, not yet written.
    tx: BytesMut,
    /// Messages received and not yet taken by [`Messages`](super::Messages).
    inbox: VecDeque<Publish>,
    messages_closed: bool,
    waiting: HashMap<PacketToken, Waiting>,
    connect_reply: Option<Reply<Box<Connected>>>,
    disconnect_reply: Option<Reply<()>>,
    /// The state machine ended the connection: flush and close the socket.
    closing: bool,
    /// The I/O error that ended the connection, if one did.
    io_error: Option<io::Error>,
}

impl Driver {
    pub(super) fn new(
        options: ConnectOptions,
        commands: mpsc::Receiver<Command>,
        messages: mpsc::Sender<Publish>,
        status: watch::Sender<Status>,
    ) -> Self {
        Self {
            core: Core::new(options.mqtt.clone()),
            options,
            commands,
            messages,
            status,
            start: Instant::now(),
            conn: None,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            tx: BytesMut::new(),
            inbox: VecDeque::new(),
            messages_closed: false,
            waiting: HashMap::new(),
            connect_reply: None,
            disconnect_reply: None,
            closing: false,
            io_error: None,
        }
    }

    fn now(&self) -> Timestamp {
        Timestamp(u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) async fn run(mut self) {
        loop {
            let deadline = self
                .core
                .poll_timeout()
                .map(|t| self.start + Duration::from_millis(t.0));
            let accepting = self.tx.len() < TX_LIMIT;
            let delivering = !self.inbox.is_empty();
            let (rd, wr) = match &mut self.conn {
                Some(c) => (Some(&mut c.rd), Some(&mut c.wr)),
                None => (None, None),
            };
            let reading = rd.is_some() && !delivering;
            let writing = wr.is_some() && !self.tx.is_empty();
            let step = tokio::select! {
                cmd = self.commands.recv(), if accepting => Step::Command(cmd),
                n = read(rd, &mut self.rbuf), if reading => Step::Read(n),
                n = write(wr, &self.tx), if writing => Step::Wrote(n),
                () = sleep(deadline), if deadline.is_some() => Step::Timer,
                permit = self.messages.reserve(), if delivering => {
                    match permit {
                        Ok(p) => {
                            if let Some(m) = self.inbox.pop_front() {
                                p.send(m);
                            }
                        }
                        Err(_) => {
                            self.messages_closed = true;
                            self.inbox.clear();
                        }
                    }
                    Step::Delivered
                }
            };
            let now = self.now();
            match step {
                Step::Command(None) => {
                    // Every handle is gone: leave cleanly.
                    if self.core.is_connected() || self.conn.is_some() {
                        let _ = self.core.disconnect(
                            DisconnectReasonCode::NormalDisconnection,
                            None,
                            now,
                        );
                        self.pump();
                        self.core.handle_closed(now);
                        self.pump();
                    }
                    self.close_connection().await;
                    return;
                }
                Step::Command(Some(cmd)) => self.command(cmd, now).await,
                Step::Read(Ok(0)) => self.core.handle_closed(now),
                Step::Read(Ok(_)) => self.core.handle_bytes(&mut self.rbuf, now),
                Step::Wrote(Ok(n)) => self.tx.advance(n),
                Step::Read(Err(e)) | Step::Wrote(Err(e)) => {
                    self.io_error = Some(e);
                    self.core.handle_closed(now);
                }
                Step::Timer => self.core.handle_timeout(now),
                Step::Delivered => {}
            }
            self.pump();
            if self.closing {
                self.close_connection().await;
            }
        }
    }

    async fn command(&mut self, cmd: Command, now: Timestamp) {
        match cmd {
            Command::Connect(reply) => self.connect(reply, now).await,
            Command::Publish(msg, reply) => {
                let qos = msg.qos;
                match self.core.publish(msg, now) {
                    Ok(_) if qos == QoS::AtMostOnce => {
                        let _ = reply.send(Ok(PubAck {
                            reason: ReasonCode::SUCCESS,
                            reason_string: None,
                        }));
                    }
                    Ok(token) => {
                        self.waiting.insert(token, Waiting::Publish(reply));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(self.refused(e)));
                    }
                }
            }
            Command::Subscribe(subs, props, reply) => match self.core.subscribe(subs, props, now) {
                Ok(token) => {
                    self.waiting.insert(token, Waiting::Subscribe(reply));
                }
                Err(e) => {
                    let _ = reply.send(Err(self.refused(e)));
                }
            },
            Command::Unsubscribe(filters, props, reply) => {
                match self.core.unsubscribe(filters, props, now) {
                    Ok(token) => {
                        self.waiting.insert(token, Waiting::Unsubscribe(reply));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(self.refused(e)));
                    }
                }
            }
            Command::Disconnect(reason, expiry, reply) => {
                match self.core.disconnect(reason, expiry, now) {
                    Ok(()) => {
                        if let Some(old) = self.disconnect_reply.replace(reply) {
                            let _ = old.send(Ok(()));
                        }
                    }
                    Err(e) => {
                        let _ = reply.send(Err(self.refused(e)));
                    }
                }
            }
        }
    }

    /// Closes the current connection if any, opens a new socket and sends CONNECT; `reply`
    /// is answered on CONNACK (or the connection's end).
    async fn connect(&mut self, reply: Reply<Box<Connected>>, now: Timestamp) {
        if self.conn.is_some() {
            self.core.handle_closed(now);
            self.pump();
            self.close_connection().await;
        }
        self.status.send_replace(Status::Connecting);
        let limit = Duration::from_millis(self.options.mqtt.connect_timeout_ms.max(1));
        let stream = match timeout(limit, TcpStream::connect(self.options.addr.as_str())).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return self.connect_failed(reply, Error::io(e)),
            Err(_) => {
                let e = io::Error::new(io::ErrorKind::TimedOut, "TCP connect timed out");
                return self.connect_failed(reply, Error::io(e));
            }
        };
        let _ = stream.set_nodelay(true);
        let (rd, wr) = stream.into_split();
        let now = self.now();
        if let Err(e) = self.core.connect(now) {
            return self.connect_failed(reply, Error::from(e));
        }
        self.conn = Some(Conn { rd, wr });
        self.io_error = None;
        if let Some(old) = self.connect_reply.replace(reply) {
            let _ = old.send(Err(Error::Closed(CloseReason::Closed)));
        }
    }

    fn refused(&self, e: mqtt_core::client::ClientError) -> Error {
        Error::refused(e, self.options.mqtt.max_queued)
    }

    fn connect_failed(&mut self, reply: Reply<Box<Connected>>, e: Error) {
        self.status
            .send_replace(Status::Disconnected(Some(e.clone())));
        let _ = reply.send(Err(e));
    }

    /// Moves what the state machine encoded to `tx` and acts on its events.
    fn pump(&mut self) {
        self.take_transmit();
        while let Some(event) = self.core.poll_event() {
            self.event(event);
        }
        self.take_transmit();
    }

    fn take_transmit(&mut self) {
        if let Some(bytes) = self.core.take_transmit() {
            if self.conn.is_some() {
                self.tx.extend_from_slice(&bytes);
            }
        }
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::Connected(c) => {
                self.status.send_replace(Status::Connected(c.clone()));
                if let Some(r) = self.connect_reply.take() {
                    let _ = r.send(Ok(c));
                }
            }
            Event::Message(p) => {
                if !self.messages_closed {
                    self.inbox.push_back(p);
                }
            }
            Event::Published {
                token,
                reason,
                reason_string,
            } => {
                if let Some(Waiting::Publish(r)) = self.waiting.remove(&token) {
                    let answer = if reason.0 >= 0x80 {
                        Err(Error::PublishRefused {
                            reason,
                            reason_string,
                        })
                    } else {
                        Ok(PubAck {
                            reason,
                            reason_string,
                        })
                    };
                    let _ = r.send(answer);
                }
            }
            Event::Failed { token, error } => {
                if let Some(w) = self.waiting.remove(&token) {
                    w.fail(Error::refused(error, self.options.mqtt.max_queued));
                }
            }
            Event::Subscribed {
                token,
                reason_codes,
                reason_string,
            } => {
                if let Some(Waiting::Subscribe(r)) = self.waiting.remove(&token) {
                    let _ = r.send(Ok(SubAck {
                        reason_codes,
                        reason_string,
                    }));
                }
            }
            Event::Unsubscribed {
                token,
                reason_codes,
                reason_string,
            } => {
                if let Some(Waiting::Unsubscribe(r)) = self.waiting.remove(&token) {
                    let _ = r.send(Ok(UnsubAck {
                        reason_codes,
                        reason_string,
                    }));
                }
            }
            // Enhanced authentication is not offered by this client yet.
            Event::Auth { .. } => {}
            Event::Disconnected(reason) => {
                self.closing = true;
                let error = match (reason, self.io_error.take()) {
                    (CloseReason::Closed, Some(e)) => Error::io(e),
                    (reason, _) => Error::from(reason),
                };
                if let Some(r) = self.connect_reply.take() {
                    let _ = r.send(Err(error.clone()));
                }
                self.status.send_replace(Status::Disconnected(Some(error)));
            }
        }
    }

    /// Writes what is left for the connection (a DISCONNECT, say) and closes the socket.
    async fn close_connection(&mut self) {
        self.closing = false;
        if let Some(mut conn) = self.conn.take() {
            if !self.tx.is_empty() {
                let _ = timeout(FLUSH_TIMEOUT, conn.wr.write_all(&self.tx)).await;
            }
            let _ = timeout(FLUSH_TIMEOUT, conn.wr.shutdown()).await;
        }
        self.tx.clear();
        self.rbuf.clear();
        if let Some(r) = self.disconnect_reply.take() {
            let _ = r.send(Ok(()));
        }
    }
}

async fn read(rd: Option<&mut OwnedReadHalf>, buf: &mut BytesMut) -> io::Result<usize> {
    match rd {
        Some(rd) => {
            buf.reserve(READ_CHUNK);
            rd.read_buf(buf).await
        }
        None => core::future::pending().await,
    }
}

async fn write(wr: Option<&mut OwnedWriteHalf>, tx: &[u8]) -> io::Result<usize> {
    match wr {
        Some(wr) => wr.write(tx).await,
        None => core::future::pending().await,
    }
}

async fn sleep(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => core::future::pending().await,
    }
}
