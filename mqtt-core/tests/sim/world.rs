//! The runtime's part: feeding bytes, draining outputs, carrying peer batches over links that
//! are FIFO per (from, to) pair, moving handed-over connections, and the virtual clock.

use bytes::{Bytes, BytesMut};
use mqtt_core::{ConnId, Output, ShardId, Timestamp};
use mqtt_proto::{DecodeOptions, Packet, ProtocolVersion};

use crate::sim::{Conn, Connack, Mark, Phase, Sim};

pub type Step = Result<(), String>;

impl Sim {
    /// Opens a connection the kernel gave to shard `on`.
    pub fn open(&mut self, client: usize, on: usize, clean_start: bool, expiry: u32) -> u64 {
        self.next_conn += 1;
        let id = self.next_conn;
        self.conns.insert(
            id,
            Conn {
                shard: on,
                client,
                inbound: BytesMut::new(),
                written: 0,
                marks: Default::default(),
                transit: false,
                client_closed: false,
                closing: false,
                tx_ready: false,
                clean_start,
                expiry,
                connack: Connack::NotYet,
                will: None,
                doomed: Vec::new(),
            },
        );
        self.shards[on].handle_accept(ConnId(id), None, self.now);
        id
    }

    /// Writes packets on a connection (in order), with the model events their consumption
    /// fires, then lets its shard read.
    pub fn write(&mut self, conn: u64, packets: Vec<(Packet, Option<Mark>)>) -> Step {
        let Some(k) = self.conns.get_mut(&conn) else {
            return Ok(());
        };
        if k.client_closed || k.closing {
            return Ok(());
        }
        let mut buf = BytesMut::new();
        for (p, mark) in packets {
            if self.trace {
                eprintln!(
                    "[{} t={}] c{} conn {conn} -> {p:?}",
                    self.step, self.now.0, k.client
                );
            }
            buf.clear();
            p.encode(ProtocolVersion::V5, &mut buf)
                .map_err(|e| format!("client encode: {e:?}"))?;
            k.inbound.extend_from_slice(&buf);
            k.written += buf.len() as u64;
            if let Some(m) = mark {
                k.marks.push_back((k.written, m));
            }
        }
        let c = k.client;
        self.clients[c].last_sent = self.now.0;
        self.feed(conn)
    }

    /// Hands the connection's unconsumed input to its shard.
    pub fn feed(&mut self, conn: u64) -> Step {
        let Some(k) = self.conns.get_mut(&conn) else {
            return Ok(());
        };
        if k.transit || k.inbound.is_empty() {
            return Ok(());
        }
        let s = k.shard;
        let mut buf = core::mem::take(&mut k.inbound);
        self.shards[s].handle_bytes(ConnId(conn), &mut buf, self.now);
        if let Some(k) = self.conns.get_mut(&conn) {
            if !k.transit {
                k.inbound = buf;
            }
        }
        self.fire_marks(conn);
        self.drain(s)
    }

    /// Fires the model events of every packet the shard has consumed.
    fn fire_marks(&mut self, conn: u64) {
        let Some(k) = self.conns.get_mut(&conn) else {
            return;
        };
        if k.transit {
            return;
        }
        let consumed = k.written - k.inbound.len() as u64;
        let client = k.client;
        while k.marks.front().is_some_and(|(end, _)| *end <= consumed) {
            let Some((_, mark)) = k.marks.pop_front() else {
                break;
            };
            match mark {
                Mark::Publish { msg, sent_at } => self.model.published(msg, sent_at),
                Mark::Subscribe { sub } => self.model.subscribe_consumed(sub),
                Mark::Unsubscribe { filter } => self.model.unsubscribe_done(client, filter),
            }
        }
    }

    /// Does everything shard `i` asked for.
    pub fn drain(&mut self, i: usize) -> Step {
        while let Some(o) = self.shards[i].poll_output() {
            match o {
                Output::Transmit(conn) => self.on_transmit(conn.0)?,
                Output::Close { conn, last } => self.on_close(conn.0, last)?,
                Output::Auth(req) => {
                    return Err(format!("unexpected deferred authentication: {req:?}"));
                }
                Output::PeerReady(to) => {
                    let to = usize::from(to.0);
                    let l = i * self.n() + to;
                    self.ready[l] = true;
                    self.take_outbox(i, to)?;
                }
                Output::Handover { conn, to, buffered } => {
                    let to = usize::from(to.0);
                    let Some(k) = self.conns.get_mut(&conn.0) else {
                        return Err(format!("handover of unknown connection {}", conn.0));
                    };
                    if k.shard != i {
                        return Err(format!(
                            "shard {i} handed over conn {} it did not own",
                            conn.0
                        ));
                    }
                    k.transit = true;
                    k.shard = to;
                    k.tx_ready = false;
                    self.counters.handovers += 1;
                    self.handovers.push((conn.0, to, buffered));
                }
                Output::ResumeRead(conn) => {
                    self.counters.resumes += 1;
                    self.feed(conn.0)?;
                }
                #[allow(unreachable_patterns)]
                other => return Err(format!("output the simulation does not handle: {other:?}")),
            }
        }
        Ok(())
    }

    fn on_transmit(&mut self, conn: u64) -> Step {
        let Some(k) = self.conns.get_mut(&conn) else {
            return Err(format!("Transmit for unknown connection {conn}"));
        };
        k.tx_ready = true;
        if k.connack == Connack::NotYet {
            self.connack_produced(conn);
        }
        Ok(())
    }

    /// The broker answered a CONNECT: from here the session is bound to `conn`. Records the
    /// Session Present the spec demands, checked when the CONNACK is read.
    fn connack_produced(&mut self, conn: u64) {
        let Some(k) = self.conns.get_mut(&conn) else {
            return;
        };
        for f in core::mem::take(&mut k.doomed) {
            self.model.unsubscribe_done(k.client, f);
        }
        let s = &mut self.sess[k.client];
        let predicted = !k.clean_start && s.alive(self.now);
        s.exists = true;
        s.expiry_ms = u64::from(k.expiry) * 1000;
        s.bound = Some(conn);
        s.detached_at = None;
        k.connack = Connack::Produced(predicted);
    }

    fn on_close(&mut self, conn: u64, last: Bytes) -> Step {
        let Some(k) = self.conns.get_mut(&conn) else {
            return Err(format!("Close for unknown connection {conn}"));
        };
        if k.connack == Connack::NotYet && !last.is_empty() {
            self.connack_produced(conn);
        }
        let Some(k) = self.conns.get_mut(&conn) else {
            return Ok(());
        };
        k.closing = true;
        let c = k.client;
        for f in core::mem::take(&mut k.doomed) {
            self.model.unsubscribe_done(c, f);
        }
        // Unconsumed packets are lost with the socket.
        for (_, mark) in core::mem::take(&mut k.marks) {
            if let Mark::Unsubscribe { filter } = mark {
                self.model.unsubscribe_done(c, filter);
            }
        }
        let connack = k.connack;
        if let (Some(will), false) = (k.will, connack == Connack::NotYet) {
            // Published now if the close is abnormal (no will delay is used).
            let tick = self.model.next_tick();
            self.model.published(will, tick);
        }
        let s = &mut self.sess[c];
        if s.bound == Some(conn) {
            s.bound = None;
            s.detached_at = Some(self.now.0);
            if s.expiry_ms == 0 {
                s.exists = false;
            }
        }
        if self.clients[c].conn == Some(conn) {
            if self.clients[c].phase != Phase::Silent {
                self.mix(&last);
                self.clients[c].rx.extend_from_slice(&last);
                self.client_process(c)?;
            }
            self.connection_lost(c);
        } else if matches!(connack, Connack::Produced(_)) {
            self.ghost_connack(c, conn, &last)?;
        }
        if self.clients[c].connecting == Some(conn) {
            self.clients[c].connecting = None;
        }
        self.conns.remove(&conn);
        Ok(())
    }

    /// The CONNACK of a connection its client gave up before reading it: the client learns
    /// whether its session survived (else it would re-send into a new session).
    fn ghost_connack(&mut self, c: usize, conn: u64, last: &[u8]) -> Step {
        let mut buf = BytesMut::from(last);
        let opts = DecodeOptions::client(ProtocolVersion::V5);
        let ack = match Packet::decode(&mut buf, &opts) {
            Ok(Some(Packet::ConnAck(a))) => a,
            other => {
                return Err(format!(
                    "conn {conn}: expected a CONNACK first, got {other:?}"
                ))
            }
        };
        let Some(k) = self.conns.get_mut(&conn) else {
            return Ok(());
        };
        let Connack::Produced(predicted) = k.connack else {
            return Ok(());
        };
        k.connack = Connack::Seen;
        if ack.session_present != predicted {
            return Err(format!(
                "client {c} conn {conn}: Session Present {} where the spec gives {predicted}",
                ack.session_present
            ));
        }
        if !ack.session_present {
            self.reset_session(c);
        }
        Ok(())
    }

    /// Moves shard `from`'s outbox for `to` onto the link if the link has room.
    pub fn take_outbox(&mut self, from: usize, to: usize) -> Step {
        let l = from * self.n() + to;
        if !self.ready[l] || self.links[l].len() >= self.limits.link_capacity {
            return Ok(());
        }
        self.ready[l] = false;
        if let Some(msg) = self.shards[from].take_peer(ShardId(to as u16)) {
            self.links[l].push_back(msg);
            self.counters.max_link = self.counters.max_link.max(self.links[l].len());
        }
        // Taking may resume paused connections.
        self.drain(from)
    }

    /// Delivers the oldest batch of a random non-empty link. False if all are empty.
    pub fn deliver_peer(&mut self) -> Result<bool, String> {
        let busy: Vec<usize> = (0..self.links.len())
            .filter(|l| !self.links[*l].is_empty())
            .collect();
        if busy.is_empty() {
            return Ok(false);
        }
        let l = busy[self.rng.below(busy.len())];
        let Some(msg) = self.links[l].pop_front() else {
            return Ok(false);
        };
        let (from, to) = (l / self.n(), l % self.n());
        self.counters.peer_batches += 1;
        self.shards[to].handle_peer(ShardId(from as u16), msg, self.now);
        self.drain(to)?;
        self.take_outbox(from, to)?;
        Ok(true)
    }

    /// Lands a random pending handover. False if none.
    pub fn deliver_handover(&mut self) -> Result<bool, String> {
        if self.handovers.is_empty() {
            return Ok(false);
        }
        let (conn, to, mut buf) = self.handovers.remove(self.rng.below(self.handovers.len()));
        let Some(k) = self.conns.get_mut(&conn) else {
            return Err(format!("handover of forgotten connection {conn}"));
        };
        k.transit = false;
        buf.extend_from_slice(&k.inbound);
        k.inbound = BytesMut::new();
        let closed = k.client_closed;
        self.shards[to].handle_handover(ConnId(conn), None, &mut buf, self.now);
        if let Some(k) = self.conns.get_mut(&conn) {
            if !k.transit {
                k.inbound = buf;
            }
        }
        self.fire_marks(conn);
        self.drain(to)?;
        if closed && self.conns.get(&conn).is_some_and(|k| !k.transit) {
            self.shards[to].handle_closed(ConnId(conn), self.now);
            self.drain(to)?;
        }
        Ok(true)
    }

    /// The client closes its socket.
    pub fn close_socket(&mut self, conn: u64) -> Step {
        let Some(k) = self.conns.get_mut(&conn) else {
            return Ok(());
        };
        k.client_closed = true;
        if k.transit {
            return Ok(());
        }
        let s = k.shard;
        self.shards[s].handle_closed(ConnId(conn), self.now);
        self.drain(s)
    }

    /// Moves the clock forward by `ms`, in slices short enough for live clients to keep their
    /// keep alive, firing every timer in deadline order.
    pub fn advance(&mut self, ms: u64) -> Step {
        let target = self.now.0 + ms;
        while self.now.0 < target {
            let slice_end = target.min(self.now.0 + 10_000);
            self.keep_alive_pings(slice_end)?;
            loop {
                let next = (0..self.n())
                    .filter_map(|i| self.shards[i].poll_timeout().map(|t| (t, i)))
                    .min();
                match next {
                    Some((t, i)) if t.0 <= slice_end => {
                        self.now = Timestamp(self.now.0.max(t.0));
                        self.shards[i].handle_timeout(self.now);
                        self.drain(i)?;
                    }
                    _ => break,
                }
            }
            self.now = Timestamp(slice_end);
            for i in 0..self.n() {
                self.shards[i].handle_timeout(self.now);
                self.drain(i)?;
            }
        }
        Ok(())
    }
}
