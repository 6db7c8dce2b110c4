//! One MQTT connection: a [`Client`] driven over a tokio [`TcpStream`].
//!
//! Reads go into one reused buffer, up to [`READ_CHUNK`] bytes per call; writes take
//! everything the client encoded since the last write ([`Client::take_transmit`]) and write
//! it with as few `write` calls as the socket allows. The socket is used through readiness
//! (`ready`, `try_read`, `try_write`), so one task owns both directions without locks.
//!
//! QoS 0 publishers may also queue pre-encoded packets ([`Conn::push_raw`]): a QoS 0 PUBLISH
//! leaves no state in the client, so a batch of identical ones is a copy of one encoding.
//! They are written after what the client encoded before them. Subscribers may count QoS 0
//! PUBLISH frames without decoding them ([`Conn::count_qos0`], see [`super::tally`]).

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use mqtt_core::client::Event;
use mqtt_core::{Client, ClientOptions};
use mqtt_proto::{
    DisconnectReasonCode, QoS, SubscribeProperties, Subscription, SubscriptionOptions,
};
use tokio::io::Interest;
use tokio::net::TcpStream;

use super::tally::{self, Tally};
use super::{error, Clock};

/// Bytes read per `read` call at most.
pub(crate) const READ_CHUNK: usize = 64 * 1024;

/// Bytes a publisher encodes before it writes them.
pub(crate) const WRITE_BATCH: usize = 64 * 1024;

/// A connected client and its socket.
#[derive(Debug)]
pub(crate) struct Conn {
    stream: TcpStream,
    /// The client; commands go to it directly, then [`Conn::step`] writes what it encoded.
    pub(crate) client: Client,
    rbuf: BytesMut,
    /// Bytes taken from the client and not yet written.
    out: Bytes,
    /// Pre-encoded packets not yet written, after `out` and the client's.
    raw: BytesMut,
    /// QoS 0 PUBLISH frames counted without the client, when on.
    tally: Option<Tally>,
    /// Frames read in counting mode that go to the client.
    other: BytesMut,
    clock: Clock,
    eof: bool,
}

impl Conn {
    /// Opens a TCP connection and sends CONNECT; returns once CONNACK accepted it, with the
    /// time from CONNECT to CONNACK.
    pub(crate) async fn open(
        addr: SocketAddr,
        options: ClientOptions,
        clock: Clock,
    ) -> io::Result<(Self, Duration)> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut conn = Self {
            stream,
            client: Client::new(options),
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            out: Bytes::new(),
            raw: BytesMut::new(),
            tally: None,
            other: BytesMut::new(),
            clock,
            eof: false,
        };
        let start = Instant::now();
        conn.client
            .connect(clock.now())
            .map_err(|e| error(format!("connect: {e}")))?;
        loop {
            conn.step(None).await?;
            while let Some(ev) = conn.client.poll_event() {
                match ev {
                    Event::Connected(_) => return Ok((conn, start.elapsed())),
                    Event::Disconnected(why) => {
                        return Err(error(format!("connection refused or closed: {why:?}")))
                    }
                    _ => {}
                }
            }
        }
    }

    /// Subscribes to one filter and waits for a SUBACK granting it.
    pub(crate) async fn subscribe(&mut self, filter: &str, qos: QoS) -> io::Result<()> {
        let sub = Subscription {
            filter: filter.into(),
            options: SubscriptionOptions {
                qos,
                ..SubscriptionOptions::default()
            },
        };
        let now = self.clock.now();
        let token = self
            .client
            .subscribe([sub], SubscribeProperties::default(), now)
            .map_err(|e| error(format!("subscribe: {e}")))?;
        loop {
            self.step(None).await?;
            while let Some(ev) = self.client.poll_event() {
                match ev {
                    Event::Subscribed {
                        token: t,
                        reason_codes,
                        ..
                    } if t == token => {
                        if reason_codes.iter().any(|c| c.is_error()) {
                            return Err(error(format!(
                                "SUBACK refused {filter}: {reason_codes:?}"
                            )));
                        }
                        return Ok(());
                    }
                    Event::Disconnected(why) => {
                        return Err(error(format!("closed while subscribing: {why:?}")))
                    }
                    _ => {}
                }
            }
        }
    }

    /// Writes what is pending, then waits until the socket is readable (and reads once),
    /// writable while bytes are pending, the client's timer falls or `deadline` passes.
    /// Drain [`Client::poll_event`] afterwards.
    pub(crate) async fn step(&mut self, deadline: Option<Instant>) -> io::Result<()> {
        self.flush()?;
        if self.eof {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let interest = if self.out.is_empty() {
            Interest::READABLE
        } else {
            Interest::READABLE | Interest::WRITABLE
        };
        let timer = self.client.poll_timeout().map(|t| self.clock.instant(t));
        let wake = match (deadline, timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let ready = match wake {
            Some(at) => {
                let at = tokio::time::Instant::from_std(at);
                match tokio::time::timeout_at(at, self.stream.ready(interest)).await {
                    Ok(r) => Some(r?),
                    Err(_) => None,
                }
            }
            None => Some(self.stream.ready(interest).await?),
        };
        if ready.is_some_and(|r| r.is_readable() || r.is_read_closed()) {
            self.read()?;
        }
        self.client.handle_timeout(self.clock.now());
        self.flush()
    }

    /// Reads and writes what the socket takes now, without waiting.
    pub(crate) fn poll_io(&mut self) -> io::Result<()> {
        self.flush()?;
        self.read()?;
        self.flush()
    }

    /// One `read` into the buffer, its whole packets handed to the client.
    fn read(&mut self) -> io::Result<()> {
        if self.eof {
            return Ok(());
        }
        self.rbuf.reserve(READ_CHUNK);
        match self.stream.try_read_buf(&mut self.rbuf) {
            Ok(0) => self.eof = true,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
        let now = self.clock.now();
        if let Some(t) = &mut self.tally {
            let used = tally::scan(&self.rbuf, t, &mut self.other);
            self.rbuf.advance(used);
            if !self.other.is_empty() {
                self.client.handle_bytes(&mut self.other, now);
            }
        } else if !self.rbuf.is_empty() {
            self.client.handle_bytes(&mut self.rbuf, now);
        }
        if self.eof {
            self.client.handle_closed(now);
        }
        Ok(())
    }

    /// Writes pending bytes until done or the socket is full.
    fn flush(&mut self) -> io::Result<()> {
        loop {
            if self.out.is_empty() {
                match self.client.take_transmit() {
                    Some(b) => self.out = b,
                    None if !self.raw.is_empty() => self.out = self.raw.split().freeze(),
                    None => return Ok(()),
                }
            }
            match self.stream.try_write(&self.out) {
                Ok(n) => self.out.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether bytes wait to be written (in the client, taken from it, or pre-encoded).
    pub(crate) fn write_pending(&self) -> bool {
        !self.out.is_empty() || self.client.transmit_len() > 0 || !self.raw.is_empty()
    }

    /// Queues `n` copies of a pre-encoded packet (one that leaves no state in the client: a
    /// QoS 0 PUBLISH).
    pub(crate) fn push_raw(&mut self, packet: &[u8], n: usize) {
        self.raw.reserve(packet.len() * n);
        for _ in 0..n {
            self.raw.extend_from_slice(packet);
        }
    }

    /// From now on, counts QoS 0 PUBLISH frames instead of handing them to the client
    /// (collecting their payloads' first 8 bytes if `want_stamps`); read them with
    /// [`Conn::tally`].
    pub(crate) fn count_qos0(&mut self, want_stamps: bool) {
        self.tally = Some(Tally {
            want_stamps,
            v5: self.client.options().version.is_v5(),
            ..Tally::default()
        });
    }

    /// What counting mode found since last reset.
    pub(crate) fn tally(&mut self) -> Option<&mut Tally> {
        self.tally.as_mut()
    }

    /// Bytes queued by [`Conn::push_raw`] and not yet handed to the socket.
    pub(crate) fn raw_len(&self) -> usize {
        self.raw.len()
    }

    /// Writes what is pending, sends DISCONNECT and writes it (for at most `within` in
    /// all) and closes.
    pub(crate) async fn close(mut self, within: Duration) {
        let deadline = Instant::now() + within;
        // Pre-encoded packets go before the DISCONNECT the client is about to encode.
        while !self.raw.is_empty() && Instant::now() < deadline {
            if self.step(Some(deadline)).await.is_err() {
                return;
            }
            while self.client.poll_event().is_some() {}
        }
        let now = self.clock.now();
        if self.client.is_connected()
            && self
                .client
                .disconnect(DisconnectReasonCode::NormalDisconnection, None, now)
                .is_err()
        {
            return;
        }
        while self.write_pending() && Instant::now() < deadline {
            if self.step(Some(deadline)).await.is_err() {
                return;
            }
            while self.client.poll_event().is_some() {}
        }
    }

    /// The run's clock.
    pub(crate) fn clock(&self) -> Clock {
        self.clock
    }
}
