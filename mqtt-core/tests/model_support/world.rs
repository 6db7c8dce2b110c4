//! Scripted clients driving the real shard through the harness, checked against the model.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use mqtt_core::{Config, ConnId};
use mqtt_proto::{
    ByteString, Bytes, Disconnect, DisconnectReasonCode, Packet, ProtocolVersion, Publish, QoS,
    QosPid, Subscribe, UnsubAckReasonCode, Unsubscribe,
};

use super::reference::Model;
use super::{qos, Op, CLIENTS, DISCONNECT_EXPIRIES, EXPIRIES, FILTERS, MAX_EXPIRY, TOPICS};
use crate::common::{self, *};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// What an outgoing QoS 1/2 message of a client waits for.
enum Out {
    Ack,
    Rec,
    Comp,
}

#[derive(Debug, Clone)]
struct Sent {
    msgid: u64,
    /// The routing the first transmission made.
    route: usize,
    topic: usize,
    qos: QoS,
    retain: bool,
    state: Out,
    order: u64,
}

#[derive(Debug, Default)]
struct Client {
    conn: Option<ConnId>,
    v5: bool,
    incarnation: u64,
    out: BTreeMap<u16, Sent>,
    /// QoS 2 identifiers received and not yet released by our PUBCOMP.
    received: HashSet<u16>,
    owed: Vec<Packet>,
    next_pid: u16,
    next_order: u64,
    acks: VecDeque<Vec<u8>>,
    /// QoS 1/2 PUBLISH received on this connection and not yet completed by our PUBACK or
    /// PUBCOMP: never more than our Receive Maximum (and the server's `max_inflight`).
    unacked: HashSet<u16>,
    window: usize,
}

impl Client {
    fn alloc(&mut self) -> u16 {
        loop {
            self.next_pid = self.next_pid.wrapping_add(1).max(1);
            if !self.out.contains_key(&self.next_pid) {
                return self.next_pid;
            }
        }
    }

    fn version(&self) -> ProtocolVersion {
        if self.v5 {
            V5
        } else {
            V311
        }
    }
}

/// Application-level deliveries seen by each incarnation.
#[derive(Debug, Default)]
struct Seen {
    live: HashMap<(u64, u64), u32>,
    routes: HashSet<(u64, usize)>,
    last: HashMap<(u64, usize, usize), usize>,
}

pub struct World {
    h: Harness,
    m: Model,
    clients: Vec<Client>,
    seen: Seen,
}

impl World {
    pub fn new() -> Self {
        let config = Config {
            sys_interval: 0,
            max_message_expiry: 0,
            max_session_expiry: MAX_EXPIRY,
            max_queued_messages: 100_000,
            receive_maximum: 1000,
            max_awaiting_rel: 1000,
            ..Config::default()
        };
        Self {
            h: Harness::new(config),
            m: Model::new(),
            clients: (0..CLIENTS).map(|_| Client::default()).collect(),
            seen: Seen::default(),
        }
    }

    fn now(&self) -> u64 {
        self.h.now.0
    }

    pub fn apply(&mut self, op: &Op) {
        match *op {
            Op::Connect {
                c,
                clean,
                expiry,
                v311,
                small_window,
            } => {
                let window = if small_window && !v311 { 2 } else { u16::MAX };
                self.connect(c, clean, EXPIRIES[expiry], !v311, window)
            }
            Op::Subscribe { c, f, qos: q } => self.subscribe(c, f, qos(q)),
            Op::Unsubscribe { c, f } => self.unsubscribe(c, f),
            Op::Publish {
                c,
                t,
                qos: q,
                retain,
            } => self.publish(c, t, qos(q), retain),
            Op::Process { c, ack } => self.process(c, ack),
            Op::Drop { c } => {
                if let Some(conn) = self.clients[c].conn.take() {
                    self.h.drop_conn(conn);
                    self.m.close(c, self.now());
                }
            }
            Op::Disconnect { c, expiry } => {
                self.disconnect(c, expiry.map(|e| DISCONNECT_EXPIRIES[e]))
            }
            Op::Advance { secs } => {
                self.h.advance(secs * 1000);
                self.m.advance(self.now());
            }
        }
        self.check_invariants(op);
    }

    fn check_invariants(&mut self, op: &Op) {
        let open = self.clients.iter().filter(|c| c.conn.is_some()).count();
        for (i, c) in self.clients.iter().enumerate() {
            if let Some(conn) = c.conn {
                assert!(
                    !self.h.is_closed(conn),
                    "client {i} closed unexpectedly after {op:?}"
                );
            }
        }
        assert_eq!(self.h.shard.connection_count(), open, "after {op:?}");
        let alive = self.m.sessions.iter().flatten().count();
        assert_eq!(self.h.shard.session_count(), alive, "after {op:?}");
        let subs: usize = self.m.sessions.iter().flatten().map(|s| s.subs.len()).sum();
        assert_eq!(self.h.shard.subscription_count(), subs, "after {op:?}");
    }

    fn connect(&mut self, c: usize, clean: bool, expiry: Option<u32>, v5: bool, window: u16) {
        // Takeover: the server closes the old connection (0x8E on v5) [MQTT-3.1.4-3].
        let old = self.clients[c].conn.take();
        if old.is_some() {
            self.m.close(c, self.now());
        }
        let requested = match (v5, clean) {
            (true, _) => expiry.unwrap_or(0),
            (false, true) => 0,
            (false, false) => u32::MAX,
        };
        let (present, inc) = self.m.connect(c, clean, requested, v5);
        let mut connect = connect(&format!("c{c}"), if v5 { V5 } else { V311 });
        connect.clean_start = clean;
        if v5 {
            connect.properties.session_expiry_interval = expiry;
            connect.properties.receive_maximum =
                core::num::NonZeroU16::new(window).filter(|w| w.get() != u16::MAX);
        }
        let (conn, ack, rest) = self.h.connect_full(connect);
        if let Some(old) = old {
            assert!(self.h.is_closed(old), "taken-over connection left open");
            let last = self.h.recv(old).pop();
            if self.clients[c].v5 {
                assert!(
                    matches!(&last, Some(Packet::Disconnect(d)) if d.reason_code == DisconnectReasonCode::SessionTakenOver),
                    "{last:?}"
                );
            }
        }
        assert_eq!(ack.reason_code, mqtt_proto::ConnectReasonCode::Success);
        // [MQTT-3.2.2-2] [MQTT-3.2.2-3]
        assert_eq!(ack.session_present, present, "Session Present of c{c}");
        let cl = &mut self.clients[c];
        cl.conn = Some(conn);
        cl.v5 = v5;
        cl.owed.clear();
        cl.acks.clear();
        cl.unacked.clear();
        cl.window = usize::from(window).min(64);
        cl.incarnation = inc;
        if !present {
            // [MQTT-3.2.2-5] no session on the server: the client discards its own state.
            cl.out.clear();
            cl.received.clear();
        }
        for p in rest {
            self.on_packet(c, p);
        }
        self.resend_own(c);
    }

    /// The client re-sends its unacknowledged PUBLISH and PUBREL [MQTT-4.4.0-1].
    fn resend_own(&mut self, c: usize) {
        let mut pending: Vec<(u64, u16)> = self.clients[c]
            .out
            .iter()
            .map(|(pid, s)| (s.order, *pid))
            .collect();
        pending.sort_unstable();
        for (_, pid) in pending {
            let s = self.clients[c].out[&pid].clone();
            match s.state {
                Out::Comp => self.send(c, pubrel(pid)),
                Out::Rec => {
                    // The server still holds the identifier: acknowledged, not routed again.
                    let p = make_publish(s.topic, s.qos, pid, s.retain, true, s.msgid, s.route);
                    self.send(c, Packet::Publish(p));
                }
                Out::Ack => {
                    // QoS 1: the server cannot tell a re-send from a new message.
                    let r = self.m.route(s.msgid, c, s.topic, s.qos, s.retain);
                    let p = make_publish(s.topic, s.qos, pid, s.retain, true, s.msgid, r);
                    self.send(c, Packet::Publish(p));
                }
            }
        }
    }

    fn send(&mut self, c: usize, p: Packet) {
        let cl = &self.clients[c];
        let conn = cl.conn.unwrap();
        self.h.send(conn, cl.version(), p);
    }

    fn subscribe(&mut self, c: usize, f: usize, q: QoS) {
        let Some(conn) = self.clients[c].conn else {
            return;
        };
        let pid = self.clients[c].alloc();
        let s = Subscribe {
            packet_id: common::pid(pid),
            properties: Default::default(),
            subscriptions: [sub(FILTERS[f], q)].into_iter().collect(),
        };
        self.m.sessions[c].as_mut().unwrap().subs.insert(f, q);
        // Retained messages follow the SUBACK (Retain Handling 0) [MQTT-3.3.1-9].
        self.clients[c].acks.push_back(vec![q as u8]);
        let v = self.clients[c].version();
        self.h.send(conn, v, s);
        self.read(c);
    }

    fn unsubscribe(&mut self, c: usize, f: usize) {
        let Some(conn) = self.clients[c].conn else {
            return;
        };
        let pid = self.clients[c].alloc();
        let existed = self.m.sessions[c]
            .as_mut()
            .unwrap()
            .subs
            .remove(&f)
            .is_some();
        let code = if existed {
            UnsubAckReasonCode::Success
        } else {
            UnsubAckReasonCode::NoSubscriptionExisted
        };
        let u = Unsubscribe {
            packet_id: common::pid(pid),
            properties: Default::default(),
            filters: [ByteString::from(FILTERS[f])].into_iter().collect(),
        };
        let codes = if self.clients[c].v5 {
            vec![code.as_u8()]
        } else {
            vec![]
        };
        self.clients[c].acks.push_back(codes);
        let v = self.clients[c].version();
        self.h.send(conn, v, u);
        self.read(c);
    }

    fn publish(&mut self, c: usize, t: usize, q: QoS, retain: bool) {
        if self.clients[c].conn.is_none() {
            return;
        }
        self.m.next_msg += 1;
        let msgid = self.m.next_msg;
        let r = self.m.route(msgid, c, t, q, retain);
        let cl = &mut self.clients[c];
        let pid = if q == QoS::AtMostOnce { 1 } else { cl.alloc() };
        if q != QoS::AtMostOnce {
            cl.next_order += 1;
            let state = if q == QoS::AtLeastOnce {
                Out::Ack
            } else {
                Out::Rec
            };
            cl.out.insert(
                pid,
                Sent {
                    msgid,
                    route: r,
                    topic: t,
                    qos: q,
                    retain,
                    state,
                    order: cl.next_order,
                },
            );
        }
        let p = make_publish(t, q, pid, retain, false, msgid, r);
        self.send(c, Packet::Publish(p));
    }

    fn disconnect(&mut self, c: usize, expiry: Option<u32>) {
        let Some(conn) = self.clients[c].conn.take() else {
            return;
        };
        let v5 = self.clients[c].v5;
        let mut d = Disconnect::new(DisconnectReasonCode::NormalDisconnection);
        let mut invalid = false;
        if v5 {
            d.properties.session_expiry_interval = expiry;
            let s = self.m.sessions[c].as_mut().unwrap();
            match expiry {
                // §3.14.2.2.2: raising a zero expiry is a Protocol Error; it is not applied.
                Some(e) if s.connect_expiry_zero && e != 0 => invalid = true,
                Some(e) => s.expiry = e.min(MAX_EXPIRY),
                None => {}
            }
        }
        self.h.send(conn, self.clients[c].version(), d);
        assert!(self.h.is_closed(conn));
        let last = self.h.recv(conn).pop();
        if invalid {
            assert!(
                matches!(&last, Some(Packet::Disconnect(d)) if d.reason_code == DisconnectReasonCode::ProtocolError),
                "{last:?}"
            );
        }
        self.m.close(c, self.now());
    }

    /// Reads what arrived (without answering).
    fn read(&mut self, c: usize) -> usize {
        let conn = self.clients[c].conn.unwrap();
        let got = self.h.recv(conn);
        let n = got.len();
        for p in got {
            self.on_packet(c, p);
        }
        n
    }

    fn process(&mut self, c: usize, ack: bool) {
        if self.clients[c].conn.is_none() {
            return;
        }
        self.read(c);
        if ack {
            self.flush_owed(c);
        }
    }

    /// Sends every owed acknowledgement, in the order the packets arrived [MQTT-4.6.0-2..4].
    fn flush_owed(&mut self, c: usize) {
        let owed = std::mem::take(&mut self.clients[c].owed);
        for p in owed {
            match &p {
                // After PUBCOMP the identifier is free for a new message [MQTT-4.3.3-12].
                Packet::PubComp(a) => {
                    self.clients[c].received.remove(&a.packet_id.get());
                    self.clients[c].unacked.remove(&a.packet_id.get());
                }
                Packet::PubAck(a) => {
                    self.clients[c].unacked.remove(&a.packet_id.get());
                }
                Packet::PubRel(a) => {
                    if let Some(s) = self.clients[c].out.get_mut(&a.packet_id.get()) {
                        s.state = Out::Comp;
                    }
                }
                _ => {}
            }
            self.send(c, p);
        }
    }

    fn on_packet(&mut self, c: usize, p: Packet) {
        match p {
            Packet::Publish(p) => self.on_publish(c, p),
            Packet::PubRel(a) => self.clients[c].owed.push(pubcomp(a.packet_id.get())),
            Packet::PubAck(a) => {
                let s = self.clients[c].out.remove(&a.packet_id.get());
                assert!(
                    matches!(
                        s,
                        Some(Sent {
                            state: Out::Ack,
                            ..
                        })
                    ),
                    "{s:?}"
                );
            }
            Packet::PubRec(a) => {
                let pid = a.packet_id.get();
                let s = self.clients[c].out.get(&pid);
                assert!(
                    matches!(
                        s,
                        Some(Sent {
                            state: Out::Rec,
                            ..
                        })
                    ),
                    "{s:?}"
                );
                self.clients[c].owed.push(pubrel(pid));
            }
            Packet::PubComp(a) => {
                let s = self.clients[c].out.remove(&a.packet_id.get());
                assert!(
                    matches!(
                        s,
                        Some(Sent {
                            state: Out::Comp,
                            ..
                        })
                    ),
                    "{s:?}"
                );
            }
            Packet::SubAck(a) => {
                let want = self.clients[c].acks.pop_front();
                let got: Vec<u8> = a.reason_codes.iter().map(|r| r.as_u8()).collect();
                assert_eq!(Some(got), want, "SUBACK of c{c}");
            }
            Packet::UnsubAck(a) => {
                let want = self.clients[c].acks.pop_front();
                let got: Vec<u8> = a.reason_codes.iter().map(|r| r.as_u8()).collect();
                assert_eq!(Some(got), want, "UNSUBACK of c{c}");
            }
            other => panic!("c{c} got {other:?}"),
        }
    }

    fn on_publish(&mut self, c: usize, p: Publish) {
        let text = std::str::from_utf8(&p.payload).unwrap();
        let (msgid, r) = text.split_once(':').unwrap();
        let (msgid, r): (u64, usize) = (msgid.parse().unwrap(), r.parse().unwrap());
        let route = self.m.routes[r];
        assert_eq!(route.msgid, msgid);
        assert_eq!(p.topic, TOPICS[route.topic]);
        let inc = self.clients[c].incarnation;
        let q = p.qos_pid.qos();
        // [MQTT-3.3.1-2] DUP is 0 on QoS 0.
        assert!(!(p.dup && q == QoS::AtMostOnce));
        let live = !p.retain;
        if live {
            let want = self.m.expected.get(&(inc, r));
            assert_eq!(
                want,
                Some(&q),
                "c{c} (incarnation {inc}) got route {r} {route:?}"
            );
        } else {
            assert!(route.retain, "RETAIN 1 on a message not published retained");
        }
        if let Some(pid) = p.qos_pid.packet_id() {
            // [MQTT-3.3.4-9] the server keeps within our Receive Maximum.
            let cl = &mut self.clients[c];
            cl.unacked.insert(pid.get());
            assert!(
                cl.unacked.len() <= cl.window,
                "c{c}: window of {} exceeded",
                cl.window
            );
        }
        let fresh = match p.qos_pid {
            QosPid::AtMostOnce => true,
            QosPid::AtLeastOnce(pid) => {
                self.clients[c].owed.push(puback(pid.get()));
                true
            }
            QosPid::ExactlyOnce(pid) => {
                self.clients[c].owed.push(pubrec(pid.get()));
                // [MQTT-4.3.3-10] a repeat of an identifier not yet released is no new message.
                self.clients[c].received.insert(pid.get())
            }
        };
        if !(fresh && live) {
            return;
        }
        let n = self.seen.live.entry((inc, msgid)).or_default();
        *n += 1;
        if q == QoS::ExactlyOnce {
            assert_eq!(*n, 1, "QoS 2 message {msgid} delivered twice to c{c}");
        }
        // Per-publisher order per topic, over first deliveries of each routing.
        if self.seen.routes.insert((inc, r)) {
            let key = (inc, route.publisher, route.topic);
            if let Some(prev) = self.seen.last.insert(key, r) {
                assert!(
                    prev < r,
                    "c{c} got route {r} after {prev} from the same publisher"
                );
            }
        }
    }

    /// Every client reconnects (Clean Start 0) and acknowledges until nothing moves.
    pub fn settle(&mut self) {
        for c in 0..CLIENTS {
            if self.clients[c].conn.is_none() {
                self.connect(c, false, Some(MAX_EXPIRY), true, u16::MAX);
            }
        }
        for _ in 0..100 {
            let mut moved = 0;
            for c in 0..CLIENTS {
                moved += self.read(c) + self.clients[c].owed.len();
                self.flush_owed(c);
            }
            if moved == 0 {
                return;
            }
        }
        panic!("the exchange did not settle");
    }

    pub fn check_delivery(&self) {
        for ((inc, r), q) in &self.m.expected {
            if *q == QoS::AtMostOnce || !self.m.alive(*inc) {
                continue;
            }
            let msgid = self.m.routes[*r].msgid;
            let n = self.seen.live.get(&(*inc, msgid)).copied().unwrap_or(0);
            // At least once for QoS 1, exactly once for QoS 2.
            assert!(
                n >= 1,
                "message {msgid} (route {r}) never reached incarnation {inc}"
            );
        }
        for c in &self.clients {
            assert!(c.out.is_empty(), "unacknowledged: {:?}", c.out);
        }
    }

    /// Everyone leaves; once the sessions have expired nothing may be left.
    pub fn teardown(&mut self) {
        for c in 0..CLIENTS {
            if let Some(conn) = self.clients[c].conn.take() {
                self.h.drop_conn(conn);
            }
        }
        self.h.advance(u64::from(MAX_EXPIRY) * 1000 + 1);
        let s = &self.h.shard;
        assert_eq!(s.session_count(), 0);
        assert_eq!(s.connection_count(), 0);
        assert_eq!(s.subscription_count(), 0);
        assert_eq!(s.subscription_nodes(), 0);
        assert_eq!(s.retained_count(), self.m.retained.len());
        assert_eq!(s.poll_timeout(), None, "a timer was left behind");
    }
}

fn make_publish(
    t: usize,
    q: QoS,
    pid: u16,
    retain: bool,
    dup: bool,
    msgid: u64,
    r: usize,
) -> Publish {
    Publish {
        dup: dup && q != QoS::AtMostOnce,
        qos_pid: QosPid::new(q, common::pid(pid)),
        retain,
        topic: ByteString::from(TOPICS[t]),
        properties: Default::default(),
        payload: Bytes::from(format!("{msgid}:{r}")),
    }
}
