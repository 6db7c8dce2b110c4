//! The simulated broker and its clients: the state that the driver (`world.rs`), the client
//! rules (`client.rs`), the schedule (`plan.rs`) and the invariant checks (`checks.rs`) share.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use bytes::BytesMut;
use mqtt_core::{Config, Shard, ShardId, ShardMsg, Timestamp};
use mqtt_proto::{ByteString, QoS};

use crate::model::Model;
use crate::rng::Rng;

/// What one run simulates.
#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    pub steps: u64,
    pub shards: u16,
}

/// Limits the run uses, drawn from the seed.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Small queues and buffers: the broker may drop (QoS 0 always, QoS 1/2 on queue
    /// overflow), so completeness is not checked; everything else is.
    pub tight: bool,
    pub sys_interval: u64,
    /// Batches a link between two shards carries at once before the sender's outbox waits.
    pub link_capacity: usize,
}

/// Something the broker does when it consumes a packet the model cares about.
#[derive(Debug, Clone, Copy)]
pub enum Mark {
    Publish { msg: u32, sent_at: u64 },
    Subscribe { sub: u32 },
    Unsubscribe { filter: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connack {
    /// The CONNECT has not been handled yet.
    NotYet,
    /// The broker sent a CONNACK; the model predicted this Session Present.
    Produced(bool),
    /// The client (or the driver, for an abandoned connection) read it.
    Seen,
}

/// One TCP connection as the runtime sees it.
#[derive(Debug)]
pub struct Conn {
    pub shard: usize,
    pub client: usize,
    /// Bytes the client wrote that the shard has not consumed.
    pub inbound: BytesMut,
    /// Bytes the client wrote in all.
    pub written: u64,
    /// Events at stream offsets, fired when the shard has consumed up to them.
    pub marks: VecDeque<(u64, Mark)>,
    /// Handed over, not yet adopted by its new shard.
    pub transit: bool,
    /// The client closed its socket (applied when a handover lands).
    pub client_closed: bool,
    /// The shard closed it; its last bytes are being read.
    pub closing: bool,
    /// A `Transmit` is outstanding.
    pub tx_ready: bool,
    pub clean_start: bool,
    pub expiry: u32,
    pub connack: Connack,
    /// The message id of the will its CONNECT carried.
    pub will: Option<u32>,
    /// Shared filters of the session a Clean Start 1 CONNECT discards: until the broker
    /// handles it, that session is still a member.
    pub doomed: Vec<usize>,
}

/// What the broker must hold for one client id, per the spec.
#[derive(Debug, Clone, Default)]
pub struct SessExp {
    pub exists: bool,
    pub expiry_ms: u64,
    /// The connection the session is bound to.
    pub bound: Option<u64>,
    pub detached_at: Option<u64>,
}

impl SessExp {
    /// Whether the session must exist at `now`: its expiry timer fires at exactly
    /// `detached_at + expiry`, and the driver fires every due timer before any other input.
    pub fn alive(&self, now: Timestamp) -> bool {
        self.exists && self.detached_at.is_none_or(|d| now.0 < d + self.expiry_ms)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No connection.
    Idle,
    /// CONNECT sent, CONNACK not read.
    Connecting,
    Connected,
    /// Stopped reading and writing on a live socket (a hung client).
    Silent,
}

/// A client's own unacknowledged PUBLISH.
#[derive(Debug, Clone)]
pub struct Out {
    pub msg: u32,
    pub qos: QoS,
    pub retain: bool,
    pub topic: usize,
    /// PUBREC received, PUBREL sent.
    pub rel: bool,
    pub seq: u64,
    pub payload_len: usize,
}

/// One simulated MQTT client and its session state (MQTT 5 client rules).
#[derive(Debug)]
pub struct Client {
    pub id: ByteString,
    pub conn: Option<u64>,
    pub phase: Phase,
    /// A connection whose CONNECT is outstanding (no CONNACK seen, not closed).
    pub connecting: Option<u64>,
    pub rx: BytesMut,
    pub slow: bool,
    pub keep_alive: u16,
    pub last_sent: u64,
    pub receive_max: u16,
    pub alias_max: u16,
    pub aliases: HashMap<u16, ByteString>,
    pub server_receive_max: u16,
    /// Packet ids received at QoS 1/2 on this connection and not yet acknowledged.
    pub unacked_in: BTreeSet<u16>,
    pub expiry: u32,
    // Session state, kept across connections while the session lives.
    pub epoch: u32,
    pub out: BTreeMap<u16, Out>,
    pub out_seq: u64,
    pub in_qos2: BTreeSet<u16>,
    pub next_pid: u16,
    pub pending_sub: BTreeMap<u16, u32>,
    pub pending_unsub: BTreeMap<u16, usize>,
}

impl Client {
    pub fn new(i: usize) -> Self {
        Self {
            id: ByteString::from(format!("c{i}")),
            conn: None,
            phase: Phase::Idle,
            connecting: None,
            rx: BytesMut::new(),
            slow: false,
            keep_alive: 0,
            last_sent: 0,
            receive_max: u16::MAX,
            alias_max: 0,
            aliases: HashMap::new(),
            server_receive_max: u16::MAX,
            unacked_in: BTreeSet::new(),
            expiry: 0,
            epoch: 0,
            out: BTreeMap::new(),
            out_seq: 0,
            in_qos2: BTreeSet::new(),
            next_pid: 0,
            pending_sub: BTreeMap::new(),
            pending_unsub: BTreeMap::new(),
        }
    }

    /// A packet identifier no outstanding packet of this client uses.
    pub fn alloc_pid(&mut self) -> Option<u16> {
        for _ in 0..=u16::MAX {
            self.next_pid = self.next_pid.wrapping_add(1);
            let p = self.next_pid;
            if p != 0
                && !self.out.contains_key(&p)
                && !self.pending_sub.contains_key(&p)
                && !self.pending_unsub.contains_key(&p)
            {
                return Some(p);
            }
        }
        None
    }
}

/// Counts for the report.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    pub connects: u64,
    pub handovers: u64,
    pub peer_batches: u64,
    pub resumes: u64,
    pub vanished: u64,
    pub silent: u64,
    pub max_link: usize,
    pub max_outbox: usize,
    pub server_disconnects: u64,
}

#[derive(Debug)]
pub struct Sim {
    pub opts: Options,
    pub limits: Limits,
    pub config: Config,
    pub shards: Vec<Shard>,
    pub now: Timestamp,
    pub rng: Rng,
    pub step: u64,
    pub conns: BTreeMap<u64, Conn>,
    pub next_conn: u64,
    /// In-flight batches per link, `[from * n + to]`, FIFO.
    pub links: Vec<VecDeque<ShardMsg>>,
    /// `PeerReady` outstanding per link: the outbox has messages not yet taken.
    pub ready: Vec<bool>,
    pub handovers: Vec<(u64, usize, BytesMut)>,
    pub clients: Vec<Client>,
    pub sess: Vec<SessExp>,
    pub model: Model,
    pub counters: Counters,
    /// FNV-1a over everything the clients read, to prove a replay is exact.
    pub fingerprint: u64,
    /// `SIM_TRACE=1`: print every packet the clients read and write.
    pub trace: bool,
}

impl Sim {
    pub fn new(opts: Options) -> Self {
        let mut rng = Rng::new(opts.seed);
        let tight = rng.chance(25);
        let clients = 6 + rng.below(11);
        let sys_interval = if rng.chance(30) { 10 } else { 0 };
        let link_capacity = 1 + rng.below(3);
        let mut config = Config {
            // Messages never expire by time here: the clock jumps.
            max_message_expiry: 0,
            sys_interval,
            max_peer_queue: rng.pick(&[2, 8, 10_000]),
            ..Config::default()
        };
        if tight {
            config.max_queued_messages = 1 + rng.below(20);
            config.max_outbound_buffer = 256 + rng.below(4096);
            config.max_inflight = 1 + rng.below(8) as u16;
        } else {
            config.max_queued_messages = 1_000_000;
        }
        let n = opts.shards.max(1);
        let shards = (0..n)
            .map(|i| Shard::with_shards(config.clone(), ShardId(i), n))
            .collect();
        let links = usize::from(n) * usize::from(n);
        Self {
            limits: Limits {
                tight,
                sys_interval,
                link_capacity,
            },
            config,
            shards,
            now: Timestamp(1_000_000),
            rng,
            step: 0,
            conns: BTreeMap::new(),
            next_conn: 0,
            links: (0..links).map(|_| VecDeque::new()).collect(),
            ready: vec![false; links],
            handovers: Vec::new(),
            clients: (0..clients).map(Client::new).collect(),
            sess: vec![SessExp::default(); clients],
            model: Model::new(
                (0..clients)
                    .map(|i| usize::from(mqtt_core::shard_for(&format!("c{i}"), n).0))
                    .collect(),
                !tight,
            ),
            counters: Counters::default(),
            fingerprint: 0xcbf2_9ce4_8422_2325,
            trace: std::env::var("SIM_TRACE").is_ok_and(|v| v == "1"),
            opts,
        }
    }

    pub fn n(&self) -> usize {
        self.shards.len()
    }

    pub fn mix(&mut self, bytes: &[u8]) {
        let mut h = self.fingerprint;
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.fingerprint = h;
    }

    /// The client's connection if it can write to it.
    pub fn writable(&self, c: usize) -> Option<u64> {
        let conn = self.clients[c].conn?;
        let k = self.conns.get(&conn)?;
        (!k.client_closed && !k.closing).then_some(conn)
    }
}
