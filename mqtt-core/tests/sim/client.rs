//! The MQTT 5 client rules each simulated client follows (QoS 1/2 acknowledgements, QoS 2
//! duplicate detection by packet id, re-sending its unacknowledged PUBLISH with DUP after a
//! resumed session, keep alive), and the random things a client does.

use core::num::{NonZeroU16, NonZeroU32};

use bytes::Bytes;
use mqtt_proto::{
    ByteString, Connect, ConnectProperties, ConnectReasonCode, DecodeOptions, Disconnect,
    DisconnectReasonCode, LastWill, Packet, ProtocolVersion, PubAck, PubAckReasonCode, PubComp,
    PubRec, PubRel, Publish, QoS, QosPid, RetainHandling, SubAckReasonCode, Subscribe,
    SubscribeProperties, Subscription, SubscriptionOptions, Unsubscribe,
};
use smallvec::smallvec;

use crate::model::{is_shared, FState, FILTERS, TOPICS};
use crate::sim::{Connack, Mark, Out, Phase, Sim};
use crate::world::Step;

type Replies = Vec<(Packet, Option<Mark>)>;

pub fn pid(p: u16) -> NonZeroU16 {
    NonZeroU16::new(p).expect("packet ids are never 0")
}

fn payload(msg: u32, pad: usize) -> Bytes {
    let mut v = msg.to_le_bytes().to_vec();
    v.resize(4 + pad, 0x5A);
    Bytes::from(v)
}

fn random_qos(sim: &mut Sim) -> QoS {
    match sim.rng.below(10) {
        0..=2 => QoS::AtMostOnce,
        3..=6 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

impl Sim {
    /// One random action of client `c`.
    pub fn client_act(&mut self, c: usize) -> Step {
        match self.clients[c].phase {
            Phase::Idle => {
                if self.clients[c].connecting.is_none() && self.rng.chance(60) {
                    self.random_connect(c)?;
                }
                Ok(())
            }
            Phase::Connecting => {
                if self.rng.chance(3) {
                    self.vanish(c)
                } else {
                    self.client_read(c)
                }
            }
            Phase::Silent => match self.rng.below(10) {
                0..=4 => {
                    self.abandon(c);
                    self.random_connect(c)
                }
                5..=6 => self.vanish(c),
                _ => Ok(()),
            },
            Phase::Connected => match self.rng.below(100) {
                0..=39 => self.publish(c),
                40..=49 => self.subscribe(c),
                50..=55 => self.unsubscribe(c),
                56..=59 => {
                    self.clients[c].slow = !self.clients[c].slow;
                    Ok(())
                }
                60..=61 => self.disconnect(c),
                62..=63 => self.vanish(c),
                64 => {
                    self.counters.silent += 1;
                    self.clients[c].phase = Phase::Silent;
                    Ok(())
                }
                65..=67 => {
                    // A new connection while the old one is still open: a takeover.
                    self.abandon(c);
                    self.random_connect(c)
                }
                68..=69 => match self.writable(c) {
                    Some(conn) => self.write(conn, vec![(Packet::PingReq, None)]),
                    None => Ok(()),
                },
                _ => self.client_read(c),
            },
        }
    }

    fn random_connect(&mut self, c: usize) -> Step {
        if self.clients[c].connecting.is_some() {
            return Ok(());
        }
        let clean = self.rng.chance(20);
        let expiry = self.rng.pick(&[0, 5, 60, 600, 600]);
        let on = self.rng.below(self.n());
        self.connect(c, on, clean, expiry)
    }

    /// Opens a connection on shard `on` and sends CONNECT. Any current connection must have
    /// been abandoned or lost first.
    pub fn connect(&mut self, c: usize, on: usize, clean_start: bool, expiry: u32) -> Step {
        let keep_alive = self.rng.pick(&[0u16, 0, 20, 60]);
        let receive_max = self.rng.pick(&[u16::MAX, 2, 10]);
        let alias_max = self.rng.pick(&[0u16, 4]);
        let mut doomed = Vec::new();
        if clean_start {
            // Until the broker handles this CONNECT, the old session keeps its shared
            // memberships: a group's message may go there and end with it.
            for f in 0..FILTERS.len() {
                if is_shared(f) && self.model.fstate[c][f] != FState::None {
                    self.model.lingering[c][f] += 1;
                    doomed.push(f);
                }
            }
            // The client discards its session state when it asks for a clean start.
            self.reset_session(c);
        }
        let conn = self.open(c, on, clean_start, expiry);
        if let Some(k) = self.conns.get_mut(&conn) {
            k.doomed = doomed;
        }
        self.counters.connects += 1;
        let will = if self.rng.chance(20) {
            let topic = self.rng.below(TOPICS.len());
            let qos = random_qos(self);
            let retain = self.rng.chance(15);
            let msg = self.model.new_msg(topic, qos, retain, c);
            self.model.msgs[msg as usize].will = true;
            if let Some(k) = self.conns.get_mut(&conn) {
                k.will = Some(msg);
            }
            Some(LastWill {
                topic: ByteString::from(TOPICS[topic]),
                payload: payload(msg, 0),
                qos,
                retain,
                properties: Default::default(),
            })
        } else {
            None
        };
        let cl = &mut self.clients[c];
        cl.conn = Some(conn);
        cl.connecting = Some(conn);
        cl.phase = Phase::Connecting;
        cl.rx.clear();
        cl.aliases.clear();
        cl.unacked_in.clear();
        cl.slow = false;
        cl.keep_alive = keep_alive;
        cl.receive_max = receive_max;
        cl.alias_max = alias_max;
        cl.expiry = expiry;
        let connect = Connect {
            protocol_version: ProtocolVersion::V5,
            clean_start,
            keep_alive,
            properties: ConnectProperties {
                session_expiry_interval: (expiry > 0).then_some(expiry),
                receive_maximum: (receive_max != u16::MAX)
                    .then(|| NonZeroU16::new(receive_max))
                    .flatten(),
                topic_alias_maximum: (alias_max > 0).then_some(alias_max),
                ..Default::default()
            },
            client_id: cl.id.clone(),
            will,
            username: None,
            password: None,
        };
        self.write(conn, vec![(Packet::Connect(Box::new(connect)), None)])
    }

    /// Walks away from the current connection without closing it (the broker will take it
    /// over, or time it out).
    pub fn abandon(&mut self, c: usize) {
        if self.clients[c].conn.is_some() {
            self.connection_lost(c);
        }
    }

    /// Closes the socket without DISCONNECT.
    pub fn vanish(&mut self, c: usize) -> Step {
        let Some(conn) = self.clients[c].conn else {
            return Ok(());
        };
        self.counters.vanished += 1;
        self.connection_lost(c);
        self.close_socket(conn)
    }

    fn disconnect(&mut self, c: usize) -> Step {
        let Some(conn) = self.writable(c) else {
            return Ok(());
        };
        let d = Disconnect::new(DisconnectReasonCode::NormalDisconnection);
        self.write(conn, vec![(Packet::Disconnect(d), None)])?;
        if self.clients[c].conn == Some(conn) {
            self.connection_lost(c);
        }
        self.close_socket(conn)
    }

    /// The client has no connection any more (its session may live on).
    pub fn connection_lost(&mut self, c: usize) {
        if self.trace {
            eprintln!("[{} t={}] c{c} connection lost", self.step, self.now.0);
        }
        let cl = &mut self.clients[c];
        // Acknowledgements that were to come on it never will (the client does not re-send
        // SUBSCRIBE or UNSUBSCRIBE; the subscription is `Maybe` in the model).
        cl.pending_sub.clear();
        cl.pending_unsub.clear();
        cl.conn = None;
        cl.phase = Phase::Idle;
        cl.rx.clear();
        cl.aliases.clear();
        cl.unacked_in.clear();
        cl.slow = false;
        self.model.connection_lost(c);
    }

    /// The session is gone (or the client asked for a clean start): forget its state.
    pub fn reset_session(&mut self, c: usize) {
        let cl = &mut self.clients[c];
        cl.epoch += 1;
        cl.out.clear();
        cl.in_qos2.clear();
        cl.pending_sub.clear();
        cl.pending_unsub.clear();
        self.model.session_lost(c);
    }

    pub fn publish(&mut self, c: usize) -> Step {
        let Some(conn) = self.writable(c) else {
            return Ok(());
        };
        let topic = self.rng.below(TOPICS.len());
        let mut qos = random_qos(self);
        let retain = self.rng.chance(15);
        let pad = self.rng.below(24);
        let cl = &self.clients[c];
        if qos != QoS::AtMostOnce && cl.out.len() >= usize::from(cl.server_receive_max) {
            qos = QoS::AtMostOnce;
        }
        let msg = self.model.new_msg(topic, qos, retain, c);
        let mut qos_pid = QosPid::AtMostOnce;
        let sent_at = self.model.next_tick();
        if qos != QoS::AtMostOnce {
            let cl = &mut self.clients[c];
            let Some(p) = cl.alloc_pid() else {
                return Ok(());
            };
            cl.out_seq += 1;
            let seq = cl.out_seq;
            cl.out.insert(
                p,
                Out {
                    msg,
                    qos,
                    retain,
                    topic,
                    rel: false,
                    seq,
                    payload_len: pad,
                },
            );
            qos_pid = QosPid::new(qos, pid(p));
        }
        let p = Publish {
            dup: false,
            qos_pid,
            retain,
            topic: ByteString::from(TOPICS[topic]),
            properties: Default::default(),
            payload: payload(msg, pad),
        };
        self.write(
            conn,
            vec![(Packet::Publish(p), Some(Mark::Publish { msg, sent_at }))],
        )
    }

    fn subscribe(&mut self, c: usize) -> Step {
        let Some(conn) = self.writable(c) else {
            return Ok(());
        };
        let f = self.rng.below(FILTERS.len());
        let qos = random_qos(self);
        let no_local = !is_shared(f) && self.rng.chance(15);
        let rh = self.rng.below(3) as u8;
        let Some(p) = self.clients[c].alloc_pid() else {
            return Ok(());
        };
        let epoch = self.clients[c].epoch;
        let sub = self.model.subscribe_sent(c, epoch, f, qos, no_local, rh);
        self.clients[c].pending_sub.insert(p, sub);
        let s = Subscribe {
            packet_id: pid(p),
            properties: SubscribeProperties {
                subscription_identifier: NonZeroU32::new(sub),
                ..Default::default()
            },
            subscriptions: smallvec![Subscription {
                filter: ByteString::from(FILTERS[f]),
                options: SubscriptionOptions {
                    qos,
                    no_local,
                    retain_as_published: false,
                    retain_handling: match rh {
                        0 => RetainHandling::SendAtSubscribe,
                        1 => RetainHandling::SendIfNew,
                        _ => RetainHandling::DoNotSend,
                    },
                },
            }],
        };
        self.write(
            conn,
            vec![(Packet::Subscribe(s), Some(Mark::Subscribe { sub }))],
        )
    }

    fn unsubscribe(&mut self, c: usize) -> Step {
        let Some(conn) = self.writable(c) else {
            return Ok(());
        };
        let held: Vec<usize> = (0..FILTERS.len())
            .filter(|f| self.model.fstate[c][*f] != FState::None)
            .collect();
        let f = if held.is_empty() || self.rng.chance(10) {
            self.rng.below(FILTERS.len())
        } else {
            held[self.rng.below(held.len())]
        };
        let Some(p) = self.clients[c].alloc_pid() else {
            return Ok(());
        };
        self.model.unsubscribe_sent(c, f);
        self.clients[c].pending_unsub.insert(p, f);
        let u = Unsubscribe {
            packet_id: pid(p),
            properties: Default::default(),
            filters: smallvec![ByteString::from(FILTERS[f])],
        };
        self.write(
            conn,
            vec![(
                Packet::Unsubscribe(u),
                Some(Mark::Unsubscribe { filter: f }),
            )],
        )
    }

    /// Sends PINGREQ where a live client would, so none times out over `until`.
    pub fn keep_alive_pings(&mut self, until: u64) -> Step {
        for c in 0..self.clients.len() {
            let cl = &self.clients[c];
            if cl.phase != Phase::Connected || cl.keep_alive == 0 {
                continue;
            }
            if until.saturating_sub(cl.last_sent) < u64::from(cl.keep_alive) * 500 {
                continue;
            }
            if let Some(conn) = self.writable(c) {
                self.write(conn, vec![(Packet::PingReq, None)])?;
            }
        }
        Ok(())
    }

    /// The client reads what its socket has, unless it is a slow or hung reader.
    pub fn client_read(&mut self, c: usize) -> Step {
        let cl = &self.clients[c];
        if cl.slow || cl.phase == Phase::Silent {
            return Ok(());
        }
        let Some(conn) = cl.conn else {
            return Ok(());
        };
        let Some(k) = self.conns.get_mut(&conn) else {
            return Ok(());
        };
        if !k.tx_ready || k.transit || k.closing {
            return Ok(());
        }
        k.tx_ready = false;
        let s = k.shard;
        if let Some(bytes) = self.shards[s].take_transmit(mqtt_core::ConnId(conn), self.now) {
            self.mix(&bytes);
            self.clients[c].rx.extend_from_slice(&bytes);
        }
        self.drain(s)?;
        self.client_process(c)
    }

    /// Handles every whole packet the client has read, then writes its answers at once.
    pub fn client_process(&mut self, c: usize) -> Step {
        let mut opts = DecodeOptions::client(ProtocolVersion::V5);
        opts.topic_alias_maximum = self.clients[c].alias_max;
        let mut rx = core::mem::take(&mut self.clients[c].rx);
        let mut replies = Replies::new();
        let mut acked = Vec::new();
        loop {
            match Packet::decode(&mut rx, &opts) {
                Ok(Some(p)) => {
                    if self.trace {
                        eprintln!("[{} t={}] c{c} <- {p:?}", self.step, self.now.0);
                    }
                    self.on_packet(c, p, &mut replies, &mut acked)?
                }
                Ok(None) => break,
                Err(e) => return Err(format!("client {c} read malformed bytes: {e:?}")),
            }
        }
        self.clients[c].rx = rx;
        if !replies.is_empty() {
            if let Some(conn) = self.writable(c) {
                self.write(conn, replies)?;
            }
        }
        for p in acked {
            self.clients[c].unacked_in.remove(&p);
        }
        Ok(())
    }

    fn on_packet(
        &mut self,
        c: usize,
        p: Packet,
        replies: &mut Replies,
        acked: &mut Vec<u16>,
    ) -> Step {
        match p {
            Packet::ConnAck(a) => {
                let Some(conn) = self.clients[c].conn else {
                    return Err(format!("client {c}: CONNACK without a connection"));
                };
                let Some(k) = self.conns.get_mut(&conn) else {
                    return Err(format!("client {c}: CONNACK on a forgotten connection"));
                };
                let Connack::Produced(predicted) = k.connack else {
                    return Err(format!("client {c}: a second CONNACK on conn {conn}"));
                };
                k.connack = Connack::Seen;
                self.clients[c].connecting = None;
                if a.reason_code != ConnectReasonCode::Success {
                    return Err(format!("client {c}: CONNACK {:?}", a.reason_code));
                }
                if a.session_present != predicted {
                    return Err(format!(
                        "client {c} conn {conn}: Session Present {} where the spec gives \
                         {predicted} [MQTT-3.2.2-2/3]",
                        a.session_present
                    ));
                }
                if !a.session_present {
                    self.reset_session(c);
                }
                let cl = &mut self.clients[c];
                cl.phase = Phase::Connected;
                cl.server_receive_max = a.properties.receive_maximum.map_or(u16::MAX, |r| r.get());
                if a.session_present {
                    // [MQTT-4.4.0-1] re-send unacknowledged PUBLISH (DUP) and PUBREL, in order.
                    let mut outs: Vec<(u16, Out)> =
                        cl.out.iter().map(|(p, o)| (*p, o.clone())).collect();
                    outs.sort_by_key(|(_, o)| o.seq);
                    for (p, o) in outs {
                        if o.rel {
                            replies.push((Packet::PubRel(PubRel::new(pid(p))), None));
                        } else {
                            // `u32::MAX`: an empty retained PUBLISH deleting a retained message.
                            let deletion = o.msg == u32::MAX;
                            let sent_at = self.model.next_tick();
                            let publish = Publish {
                                dup: true,
                                qos_pid: QosPid::new(o.qos, pid(p)),
                                retain: o.retain,
                                topic: ByteString::from(TOPICS[o.topic]),
                                properties: Default::default(),
                                payload: if deletion {
                                    Bytes::new()
                                } else {
                                    payload(o.msg, o.payload_len)
                                },
                            };
                            let mark = (!deletion).then_some(Mark::Publish {
                                msg: o.msg,
                                sent_at,
                            });
                            replies.push((Packet::Publish(publish), mark));
                        }
                    }
                }
                Ok(())
            }
            Packet::Publish(p) => self.on_publish(c, p, replies, acked),
            Packet::PubAck(a) => {
                let p = a.packet_id.get();
                match self.clients[c].out.get(&p) {
                    Some(o) if o.qos == QoS::AtLeastOnce => {
                        if a.reason_code != PubAckReasonCode::Success {
                            return Err(format!("client {c}: PUBACK {:?}", a.reason_code));
                        }
                        self.clients[c].out.remove(&p);
                        Ok(())
                    }
                    other => Err(format!("client {c}: PUBACK {p} for {other:?}")),
                }
            }
            Packet::PubRec(a) => {
                let p = a.packet_id.get();
                match self.clients[c].out.get_mut(&p) {
                    Some(o) if o.qos == QoS::ExactlyOnce => {
                        if a.reason_code != PubAckReasonCode::Success {
                            return Err(format!("client {c}: PUBREC {:?}", a.reason_code));
                        }
                        o.rel = true;
                        replies.push((Packet::PubRel(PubRel::new(pid(p))), None));
                        Ok(())
                    }
                    other => Err(format!("client {c}: PUBREC {p} for {other:?}")),
                }
            }
            Packet::PubComp(a) => {
                let p = a.packet_id.get();
                match self.clients[c].out.get(&p) {
                    Some(o) if o.rel => {
                        self.clients[c].out.remove(&p);
                        Ok(())
                    }
                    other => Err(format!("client {c}: PUBCOMP {p} for {other:?}")),
                }
            }
            Packet::PubRel(a) => {
                let p = a.packet_id.get();
                // A PUBREL re-sent on a new connection does not count against its Receive
                // Maximum (MQTT 5 §4.9: the quota counts PUBLISH packets sent on it).
                self.clients[c].in_qos2.remove(&p);
                replies.push((Packet::PubComp(PubComp::new(pid(p))), None));
                acked.push(p);
                Ok(())
            }
            Packet::SubAck(a) => {
                let p = a.packet_id.get();
                let Some(sub) = self.clients[c].pending_sub.remove(&p) else {
                    return Err(format!("client {c}: SUBACK {p} for no SUBSCRIBE"));
                };
                let code = a.reason_codes.first().copied();
                let granted = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
                    .into_iter()
                    .find(|q| code == Some(SubAckReasonCode::granted(*q)));
                let asked = self.model.subs[sub as usize - 1].qos;
                if granted != Some(asked) {
                    return Err(format!(
                        "client {c}: SUBACK {code:?} for a QoS {asked:?} ask"
                    ));
                }
                self.model.suback(c, sub, granted);
                Ok(())
            }
            Packet::UnsubAck(a) => {
                let p = a.packet_id.get();
                match self.clients[c].pending_unsub.remove(&p) {
                    Some(_) => Ok(()),
                    None => Err(format!("client {c}: UNSUBACK {p} for no UNSUBSCRIBE")),
                }
            }
            Packet::PingResp => Ok(()),
            Packet::Disconnect(_) => {
                self.counters.server_disconnects += 1;
                Ok(())
            }
            other => Err(format!("client {c}: the server sent {other:?}")),
        }
    }

    fn check_receive_max(&self, c: usize) -> Step {
        let cl = &self.clients[c];
        if cl.unacked_in.len() > usize::from(cl.receive_max) {
            return Err(format!(
                "client {c}: {} QoS 1/2 PUBLISH unacknowledged, Receive Maximum {} \
                 [MQTT-3.3.4-9]",
                cl.unacked_in.len(),
                cl.receive_max
            ));
        }
        Ok(())
    }

    fn on_publish(
        &mut self,
        c: usize,
        p: Publish,
        replies: &mut Replies,
        acked: &mut Vec<u16>,
    ) -> Step {
        if self.clients[c].phase != Phase::Connected {
            return Err(format!("client {c}: PUBLISH before CONNACK"));
        }
        let mut topic = p.topic.clone();
        if let Some(a) = p.properties.topic_alias {
            let aliases = &mut self.clients[c].aliases;
            if topic.is_empty() {
                match aliases.get(&a.get()) {
                    Some(t) => topic = t.clone(),
                    None => return Err(format!("client {c}: topic alias {a} never set")),
                }
            } else {
                aliases.insert(a.get(), topic.clone());
            }
        }
        let sub_ids: Vec<u32> = p
            .properties
            .subscription_identifiers
            .iter()
            .map(|s| s.get())
            .collect();
        let qos = p.qos_pid.qos();
        let deliver = match p.qos_pid {
            QosPid::AtMostOnce => true,
            QosPid::AtLeastOnce(id) | QosPid::ExactlyOnce(id) => {
                let n = id.get();
                let cl = &mut self.clients[c];
                if !cl.unacked_in.insert(n) && !p.dup {
                    return Err(format!(
                        "client {c}: PUBLISH reuses packet id {n} still unacknowledged"
                    ));
                }
                self.check_receive_max(c)?;
                let cl = &mut self.clients[c];
                if qos == QoS::AtLeastOnce {
                    replies.push((Packet::PubAck(PubAck::new(id)), None));
                    acked.push(n);
                    true
                } else {
                    replies.push((Packet::PubRec(PubRec::new(id)), None));
                    if cl.in_qos2.contains(&n) {
                        if !p.dup {
                            return Err(format!(
                                "client {c}: QoS 2 packet id {n} reused before PUBREL"
                            ));
                        }
                        false
                    } else {
                        cl.in_qos2.insert(n);
                        true
                    }
                }
            }
        };
        if !deliver || p.payload.is_empty() {
            // A duplicate, or a retained-message deletion at the end of the run.
            return Ok(());
        }
        let Some(id) = p.payload.get(..4) else {
            return Err(format!("client {c}: foreign payload {:?}", p.payload));
        };
        let id = u32::from_le_bytes([id[0], id[1], id[2], id[3]]);
        let epoch = self.clients[c].epoch;
        self.model
            .delivered(c, epoch, id, &topic, qos, p.retain, &sub_ids)
            .map_err(|e| format!("client {c}: {e}"))
    }
}
