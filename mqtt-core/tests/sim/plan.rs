//! The schedule: random steps drawn from the seed, then the end of the run (everyone comes
//! back and reads everything, retained messages are cleared, everyone leaves, every session
//! expires) with the completeness and leak checks.

use mqtt_proto::{
    ByteString, Bytes, Disconnect, DisconnectReasonCode, Packet, Publish, QoS, QosPid,
};

use crate::model::TOPICS;
use crate::sim::{Counters, Options, Out, Phase, Sim};
use crate::world::Step;

/// Session expiry the clients use when they come back at the end (seconds).
const FINAL_EXPIRY: u32 = 600;
/// Rounds the end of a run may take to go quiet.
const SETTLE_ROUNDS: usize = 20_000;

/// What a run did (printed on a `SEED=` replay).
#[allow(dead_code)] // Read through `Debug`.
#[derive(Debug)]
pub struct Report {
    pub seed: u64,
    pub steps: u64,
    pub shards: usize,
    pub clients: usize,
    pub tight: bool,
    pub fingerprint: u64,
    pub counters: Counters,
    pub published: u64,
    pub deliveries: u64,
    pub retained_deliveries: u64,
    pub obligations: u64,
    pub cancelled: u64,
    /// The broker's own counts, summed over its shards.
    pub takeovers: u64,
    pub dropped: u64,
    pub peer_dropped: u64,
}

#[derive(Debug)]
pub struct Failure {
    pub step: u64,
    pub message: String,
}

pub fn run(opts: Options) -> Result<Report, Failure> {
    let mut sim = Sim::new(opts);
    let result = sim.run_steps().and_then(|()| sim.finish());
    match result {
        Ok(()) => Ok(Report {
            seed: sim.opts.seed,
            steps: sim.step,
            shards: sim.n(),
            clients: sim.clients.len(),
            tight: sim.limits.tight,
            fingerprint: sim.fingerprint,
            counters: sim.counters.clone(),
            published: sim.model.stats.published,
            deliveries: sim.model.stats.deliveries,
            retained_deliveries: sim.model.stats.retained_deliveries,
            obligations: sim.model.stats.obligations,
            cancelled: sim.model.stats.cancelled,
            takeovers: sim.shards.iter().map(|s| s.stats().takeovers).sum(),
            dropped: sim.shards.iter().map(|s| s.stats().dropped).sum(),
            peer_dropped: sim.shards.iter().map(|s| s.stats().peer_dropped).sum(),
        }),
        Err(message) => Err(Failure {
            step: sim.step,
            message,
        }),
    }
}

thread_local! {
    /// The step being simulated, for a panic's report.
    pub static STEP: core::cell::Cell<u64> = const { core::cell::Cell::new(0) };
}

impl Sim {
    fn run_steps(&mut self) -> Step {
        while self.step < self.opts.steps {
            self.step += 1;
            STEP.with(|s| s.set(self.step));
            self.one_step()?;
            self.check_step()?;
        }
        Ok(())
    }

    fn one_step(&mut self) -> Step {
        match self.rng.below(100) {
            0..=37 => {
                let c = self.rng.below(self.clients.len());
                self.client_act(c)
            }
            38..=69 => self.random_read(),
            70..=83 => {
                if !self.deliver_peer()? {
                    self.random_read()?;
                }
                Ok(())
            }
            84..=88 => {
                if !self.deliver_handover()? {
                    self.random_read()?;
                }
                Ok(())
            }
            _ => {
                let ms = match self.rng.below(100) {
                    0..=69 => self.rng.range(1, 500),
                    70..=95 => self.rng.range(500, 5_000),
                    _ => self.rng.range(10_000, 120_000),
                };
                self.advance(ms)
            }
        }
    }

    fn random_read(&mut self) -> Step {
        let c = self.rng.below(self.clients.len());
        self.client_read(c)
    }

    /// Runs the runtime and the clients (no clock) until nothing moves: every handover lands,
    /// every link is empty, every client has read everything. With `back`, every client
    /// without a connection reconnects (Clean Start 0), and hung ones are replaced.
    fn settle(&mut self, back: bool) -> Step {
        for _ in 0..SETTLE_ROUNDS {
            let mut moved = false;
            while self.deliver_handover()? {
                moved = true;
            }
            while self.deliver_peer()? {
                moved = true;
            }
            for l in 0..self.links.len() {
                if self.ready[l] && self.links[l].len() < self.limits.link_capacity {
                    self.take_outbox(l / self.n(), l % self.n())?;
                    moved = true;
                }
            }
            for c in 0..self.clients.len() {
                self.clients[c].slow = false;
                let cl = &self.clients[c];
                let idle = cl.phase == Phase::Idle && cl.connecting.is_none();
                if back && (cl.phase == Phase::Silent || idle) {
                    self.abandon(c);
                    let on = self.rng.below(self.n());
                    self.connect(c, on, false, FINAL_EXPIRY)?;
                    moved = true;
                }
                let ready = self.clients[c]
                    .conn
                    .and_then(|k| self.conns.get(&k))
                    .is_some_and(|k| k.tx_ready && !k.transit);
                if ready {
                    self.client_read(c)?;
                    moved = true;
                }
            }
            self.check_step()?;
            if !moved {
                return Ok(());
            }
        }
        Err(format!(
            "the broker did not go quiet in {SETTLE_ROUNDS} rounds"
        ))
    }

    pub fn finish(&mut self) -> Step {
        self.step += 1;
        STEP.with(|s| s.set(self.step));
        self.settle(true)?;
        for (c, cl) in self.clients.iter().enumerate() {
            if cl.phase != Phase::Connected {
                return Err(format!("client {c} did not come back: {:?}", cl.phase));
            }
            if !cl.out.is_empty() || !cl.pending_sub.is_empty() || !cl.pending_unsub.is_empty() {
                return Err(format!(
                    "client {c} still waits for acknowledgements: publish {:?}, subscribe \
                     {:?}, unsubscribe {:?}",
                    cl.out, cl.pending_sub, cl.pending_unsub
                ));
            }
        }
        if let Some((id, k)) = self.conns.iter().find(|(_, k)| !k.inbound.is_empty()) {
            return Err(format!(
                "conn {id}: {} bytes of input never consumed (paused for good?)",
                k.inbound.len()
            ));
        }
        let missing = self.model.missing();
        if !missing.is_empty() {
            let shown: Vec<&String> = missing.iter().take(8).collect();
            let occupancy: Vec<_> = self.shards.iter().map(|s| s.occupancy()).collect();
            return Err(format!(
                "{} messages lost (QoS 1/2 never delivered to a subscriber whose session \
                 outlived them), e.g. {shown:#?}; shards: {occupancy:?}",
                missing.len()
            ));
        }
        self.clear_retained()?;
        self.settle(false)?;
        for c in 0..self.clients.len() {
            if let Some(conn) = self.writable(c) {
                let d = Disconnect::new(DisconnectReasonCode::NormalDisconnection);
                self.write(conn, vec![(Packet::Disconnect(d), None)])?;
            }
            if let Some(conn) = self.clients[c].conn {
                self.connection_lost(c);
                self.close_socket(conn)?;
            }
        }
        self.settle(false)?;
        self.advance(u64::from(FINAL_EXPIRY) * 1000 + 100_000)?;
        self.settle(false)?;
        self.check_step()?;
        self.check_empty()
    }

    /// Client 0 deletes every retained message (empty retained PUBLISH, QoS 1).
    fn clear_retained(&mut self) -> Step {
        let Some(conn) = self.writable(0) else {
            return Err("client 0 cannot write".into());
        };
        let mut packets = Vec::new();
        for (t, topic) in TOPICS.iter().enumerate() {
            let cl = &mut self.clients[0];
            let Some(p) = cl.alloc_pid() else {
                return Err("client 0 out of packet ids".into());
            };
            cl.out_seq += 1;
            cl.out.insert(
                p,
                Out {
                    msg: u32::MAX,
                    qos: QoS::AtLeastOnce,
                    retain: true,
                    topic: t,
                    rel: false,
                    seq: cl.out_seq,
                    payload_len: 0,
                },
            );
            let publish = Publish {
                dup: false,
                qos_pid: QosPid::new(QoS::AtLeastOnce, crate::client::pid(p)),
                retain: true,
                topic: ByteString::from(*topic),
                properties: Default::default(),
                payload: Bytes::new(),
            };
            packets.push((Packet::Publish(publish), None));
        }
        self.write(conn, packets)
    }
}
