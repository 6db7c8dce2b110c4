//! Multi-shard harness: N shards in one process, a fake clock, peer links that are FIFO per
//! (from, to) pair and delivered in an order chosen by a seed, and connection handover.
//!
//! Connection ids are global: the harness remembers which shard serves each one and moves
//! it on `Output::Handover`, as a runtime moves the socket.
//!
//! Like a runtime, it keeps each connection's unconsumed input (`inbound`) and feeds it again
//! on `Output::ResumeRead`; on `Output::PeerReady` it takes the shard's outbox for that
//! destination and puts the batch on the link, unless the source shard is in `held` (a link
//! that is not drained; `release` drains it).

use std::collections::{HashMap, HashSet, VecDeque};

use bytes::BytesMut;
use mqtt_core::{AuthRequest, Config, ConnId, Output, Shard, ShardId, ShardMsg, Timestamp};
use mqtt_proto::{ConnAck, Connect, DecodeOptions, Packet, ProtocolVersion};

pub struct Cluster {
    pub shards: Vec<Shard>,
    pub now: Timestamp,
    next_conn: u64,
    /// Which shard serves each open connection.
    pub owner: HashMap<ConnId, usize>,
    rx: HashMap<ConnId, BytesMut>,
    versions: HashMap<ConnId, ProtocolVersion>,
    pub closed: HashSet<ConnId>,
    pub auth_requests: Vec<(usize, AuthRequest)>,
    /// In-flight shard-to-shard messages, FIFO per (from, to).
    links: HashMap<(usize, usize), VecDeque<ShardMsg>>,
    /// Pseudo-random choice of which link delivers next (xorshift).
    rng: u64,
    /// Total peer messages delivered (for "received nothing" assertions).
    pub peer_deliveries: HashMap<usize, u64>,
    pub handovers: u64,
    /// Bytes sent on each connection that its shard has not consumed yet.
    inbound: HashMap<ConnId, BytesMut>,
    /// Shards whose outboxes are not taken (their links are stuck).
    pub held: HashSet<usize>,
    /// `Output::ResumeRead` seen per connection.
    pub resumes: HashMap<ConnId, u64>,
}

impl Cluster {
    pub fn new(config: Config, n: u16, seed: u64) -> Self {
        Self {
            shards: (0..n)
                .map(|i| Shard::with_shards(config.clone(), ShardId(i), n))
                .collect(),
            now: Timestamp(1_000_000),
            next_conn: 0,
            owner: HashMap::new(),
            rx: HashMap::new(),
            versions: HashMap::new(),
            closed: HashSet::new(),
            auth_requests: Vec::new(),
            links: HashMap::new(),
            rng: seed | 1,
            peer_deliveries: HashMap::new(),
            handovers: 0,
            inbound: HashMap::new(),
            held: HashSet::new(),
            resumes: HashMap::new(),
        }
    }

    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    /// Opens a connection that the kernel handed to shard `on`.
    pub fn open(&mut self, on: usize) -> ConnId {
        self.next_conn += 1;
        let id = ConnId(self.next_conn);
        self.owner.insert(id, on);
        self.rx.insert(id, BytesMut::new());
        self.shards[on].handle_accept(id, None, self.now);
        self.settle();
        id
    }

    /// Encodes and sends a packet on a connection, then lets the cluster settle.
    pub fn send(&mut self, conn: ConnId, version: ProtocolVersion, p: impl Into<Packet>) {
        let p = p.into();
        if let Packet::Connect(c) = &p {
            self.versions.insert(conn, c.protocol_version);
        }
        let mut buf = BytesMut::new();
        p.encode(version, &mut buf).expect("encode");
        self.send_bytes(conn, &buf);
    }

    /// Feeds raw bytes to the connection's shard; what it does not consume is kept for the
    /// next call, like a runtime's read buffer.
    pub fn send_bytes(&mut self, conn: ConnId, bytes: &[u8]) {
        if !self.owner.contains_key(&conn) {
            return;
        }
        self.inbound
            .entry(conn)
            .or_default()
            .extend_from_slice(bytes);
        self.feed(conn);
        self.settle();
    }

    /// Hands the connection's buffered input to its shard.
    fn feed(&mut self, conn: ConnId) {
        let Some(&s) = self.owner.get(&conn) else {
            return;
        };
        let mut buf = self.inbound.remove(&conn).unwrap_or_default();
        self.shards[s].handle_bytes(conn, &mut buf, self.now);
        if self.owner.contains_key(&conn) {
            self.inbound.entry(conn).or_default().unsplit(buf);
        }
    }

    /// Bytes sent on `conn` that its shard has not consumed yet.
    pub fn unconsumed(&self, conn: ConnId) -> usize {
        self.inbound.get(&conn).map_or(0, BytesMut::len)
    }

    /// Stops taking shard `s`'s outboxes: its messages to other shards wait.
    pub fn hold(&mut self, s: usize) {
        self.held.insert(s);
    }

    /// Takes shard `s`'s outboxes again (and everything waiting in them), then settles.
    pub fn release(&mut self, s: usize) {
        self.held.remove(&s);
        for to in 0..self.shards.len() {
            self.take_outbox(s, to);
        }
        self.settle();
    }

    /// Moves what shard `from` has for `to` onto the link.
    fn take_outbox(&mut self, from: usize, to: usize) {
        if let Some(msg) = self.shards[from].take_peer(ShardId(to as u16)) {
            self.links.entry((from, to)).or_default().push_back(msg);
        }
    }

    /// The peer closed the socket.
    pub fn drop_conn(&mut self, conn: ConnId) {
        if let Some(&s) = self.owner.get(&conn) {
            self.shards[s].handle_closed(conn, self.now);
        }
        self.settle();
    }

    /// Drains every shard's outputs and delivers every peer message (random interleaving,
    /// FIFO per link) until nothing moves.
    pub fn settle(&mut self) {
        while self.step() {}
    }

    /// Encodes and sends a packet on a connection WITHOUT settling: the shard handles it now,
    /// while its outputs and peer messages wait for [`Cluster::step`] or [`Cluster::settle`].
    /// Several inputs can so be interleaved with the peer traffic they cause.
    pub fn send_quiet(&mut self, conn: ConnId, version: ProtocolVersion, p: impl Into<Packet>) {
        let mut buf = BytesMut::new();
        p.into().encode(version, &mut buf).expect("encode");
        if !self.owner.contains_key(&conn) {
            return;
        }
        self.inbound
            .entry(conn)
            .or_default()
            .extend_from_slice(&buf);
        self.feed(conn);
    }

    /// Takes every shard's outputs, then delivers at most one peer message (from a link
    /// chosen at random). False once nothing moved.
    pub fn step(&mut self) -> bool {
        let mut moved = self.drain_outputs();
        if let Some(((from, to), msg)) = self.pop_link() {
            *self.peer_deliveries.entry(to).or_default() += 1;
            self.shards[to].handle_peer(ShardId(from as u16), msg, self.now);
            moved = true;
        }
        moved
    }

    /// A pseudo-random number from the cluster's seed (for tests that pick interleavings).
    pub fn roll(&mut self, below: u64) -> u64 {
        self.random() % below.max(1)
    }

    /// Delivers at most one peer message, chosen at random among non-empty links.
    fn pop_link(&mut self) -> Option<((usize, usize), ShardMsg)> {
        let mut keys: Vec<(usize, usize)> = self
            .links
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(k, _)| *k)
            .collect();
        if keys.is_empty() {
            return None;
        }
        keys.sort_unstable();
        let k = keys[(self.random() % keys.len() as u64) as usize];
        self.links
            .get_mut(&k)
            .and_then(|q| q.pop_front())
            .map(|m| (k, m))
    }

    fn drain_outputs(&mut self) -> bool {
        let mut moved = false;
        for i in 0..self.shards.len() {
            while let Some(o) = self.shards[i].poll_output() {
                moved = true;
                match o {
                    Output::Transmit(c) => {
                        if let Some(b) = self.shards[i].take_transmit(c, self.now) {
                            self.rx.entry(c).or_default().extend_from_slice(&b);
                        }
                    }
                    Output::Close { conn, last } => {
                        self.rx.entry(conn).or_default().extend_from_slice(&last);
                        if self.owner.get(&conn) == Some(&i) {
                            self.closed.insert(conn);
                            self.owner.remove(&conn);
                        }
                    }
                    Output::Auth(req) => self.auth_requests.push((i, *req)),
                    Output::PeerReady(to) => {
                        if !self.held.contains(&i) {
                            self.take_outbox(i, usize::from(to.0));
                        }
                    }
                    Output::Handover {
                        conn,
                        to,
                        mut buffered,
                    } => {
                        let to = usize::from(to.0);
                        self.handovers += 1;
                        self.owner.insert(conn, to);
                        self.shards[to].handle_handover(conn, None, &mut buffered, self.now);
                        if self.owner.contains_key(&conn) {
                            self.inbound.entry(conn).or_default().unsplit(buffered);
                        }
                    }
                    Output::ResumeRead(conn) => {
                        *self.resumes.entry(conn).or_default() += 1;
                        self.feed(conn);
                    }
                }
            }
        }
        moved
    }

    /// Moves the clock forward, firing timers on every shard in deadline order.
    pub fn advance(&mut self, ms: u64) {
        let target = Timestamp(self.now.0 + ms);
        loop {
            let next = self
                .shards
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.poll_timeout().map(|t| (t, i)))
                .min();
            match next {
                Some((t, i)) if t <= target => {
                    if t > self.now {
                        self.now = t;
                    }
                    self.shards[i].handle_timeout(self.now);
                    self.settle();
                }
                _ => break,
            }
        }
        self.now = target;
        for i in 0..self.shards.len() {
            self.shards[i].handle_timeout(self.now);
        }
        self.settle();
    }

    /// Decodes everything `conn` received so far.
    pub fn recv(&mut self, conn: ConnId) -> Vec<Packet> {
        let v = *self.versions.get(&conn).unwrap_or(&ProtocolVersion::V5);
        let mut opts = DecodeOptions::client(v);
        opts.topic_alias_maximum = u16::MAX;
        let buf = self.rx.entry(conn).or_default();
        let mut out = Vec::new();
        while let Some(p) = Packet::decode(buf, &opts).expect("the broker sent a valid packet") {
            out.push(p);
        }
        out
    }

    pub fn is_closed(&self, conn: ConnId) -> bool {
        self.closed.contains(&conn)
    }

    /// Connects on shard `on` and returns the connection and its CONNACK.
    pub fn connect_on(&mut self, on: usize, connect: Connect) -> (ConnId, ConnAck) {
        let conn = self.open(on);
        let v = connect.protocol_version;
        self.send(conn, v, connect);
        match self.recv(conn).into_iter().next() {
            Some(Packet::ConnAck(a)) => (conn, *a),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }
}
