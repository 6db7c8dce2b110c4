//! Client-side helpers over the multi-shard [`Cluster`]: ids and topics placed on a chosen
//! shard, connecting on the home shard, subscribing, publishing, and receiving with acks.

use mqtt_core::{shard_for, ConnId, ShardId};
use mqtt_proto::{
    ByteString, Packet, ProtocolVersion, PubAck, PubComp, PubRec, PubRel, Publish, QoS,
    RetainHandling, SubAck, Subscribe, SubscribeProperties, Subscription, SubscriptionOptions,
    UnsubAck, Unsubscribe,
};

use super::{connect, pid, Cluster};

/// A name `{prefix}{k}` (first k ≥ 0) that `shard_for` puts on shard `on` of `n`: a client
/// id homed there, or a topic owned there.
pub fn name_on(prefix: &str, on: usize, n: u16) -> String {
    (0..)
        .map(|k| format!("{prefix}{k}"))
        .find(|s| shard_for(s, n) == ShardId(on as u16))
        .unwrap()
}

/// A subscription entry with a Retain Handling.
pub fn sub_rh(filter: &str, qos: QoS, rh: RetainHandling) -> Subscription {
    Subscription {
        filter: ByteString::from(filter),
        options: SubscriptionOptions {
            qos,
            retain_handling: rh,
            ..Default::default()
        },
    }
}

/// A SUBSCRIBE with packet id `id` and the given entries.
pub fn subscribe_packet(id: u16, subs: Vec<Subscription>) -> Subscribe {
    Subscribe {
        packet_id: pid(id),
        properties: SubscribeProperties::default(),
        subscriptions: subs.into_iter().collect(),
    }
}

impl Cluster {
    /// Number of shards.
    pub fn n(&self) -> u16 {
        self.shards.len() as u16
    }

    /// Connects `id` (clean start, v5) on its home shard and asserts success.
    pub fn client(&mut self, id: &str) -> ConnId {
        self.client_with(connect(id, ProtocolVersion::V5))
    }

    /// Connects with `c` on the client id's home shard and asserts success.
    pub fn client_with(&mut self, c: mqtt_proto::Connect) -> ConnId {
        let home = usize::from(shard_for(&c.client_id, self.n()).0);
        let (conn, ack) = self.connect_on(home, c);
        assert_eq!(
            ack.reason_code,
            mqtt_proto::ConnectReasonCode::Success,
            "{ack:?}"
        );
        conn
    }

    /// Connects with `c` on the client id's home shard, asserts success, and returns the
    /// connection with the PUBLISHes that followed the CONNACK (a resumed session's queue).
    pub fn resume_with(&mut self, c: mqtt_proto::Connect) -> (ConnId, Vec<Publish>) {
        let home = usize::from(shard_for(&c.client_id, self.n()).0);
        let conn = self.open(home);
        self.send(conn, c.protocol_version, c);
        let mut got = self.recv(conn).into_iter();
        match got.next() {
            Some(Packet::ConnAck(a)) => assert_eq!(
                a.reason_code,
                mqtt_proto::ConnectReasonCode::Success,
                "{a:?}"
            ),
            other => panic!("expected CONNACK, got {other:?}"),
        }
        let pubs: Vec<Publish> = super::publishes(got.collect());
        self.ack_publishes(conn, &pubs);
        (conn, pubs)
    }

    /// Sends one SUBSCRIBE (v5), settles, and returns its SUBACK and the PUBLISHes received
    /// (retained ones may come before or after the SUBACK), acknowledged.
    pub fn subscribe_all(
        &mut self,
        conn: ConnId,
        subs: Vec<Subscription>,
    ) -> (SubAck, Vec<Publish>) {
        self.send(conn, ProtocolVersion::V5, subscribe_packet(7, subs));
        let mut ack = None;
        let mut pubs = Vec::new();
        for p in self.recv(conn) {
            match p {
                Packet::SubAck(a) => ack = Some(a),
                Packet::Publish(p) => pubs.push(p),
                other => panic!("unexpected {other:?}"),
            }
        }
        self.ack_publishes(conn, &pubs);
        pubs.extend(self.take_publishes(conn));
        (ack.expect("a SUBACK"), pubs)
    }

    /// Subscribes to one filter at `qos`, asserts it is granted, and returns what arrived.
    pub fn sub(&mut self, conn: ConnId, filter: &str, qos: QoS) -> Vec<Publish> {
        let (ack, pubs) = self.subscribe_all(conn, vec![super::sub(filter, qos)]);
        assert_eq!(
            ack.reason_codes.as_slice(),
            [mqtt_proto::SubAckReasonCode::granted(qos)]
        );
        pubs
    }

    /// Unsubscribes (v5) and returns the UNSUBACK.
    pub fn unsub(&mut self, conn: ConnId, filters: &[&str]) -> UnsubAck {
        let u = Unsubscribe {
            packet_id: pid(8),
            properties: Default::default(),
            filters: filters.iter().map(|f| ByteString::from(*f)).collect(),
        };
        self.send(conn, ProtocolVersion::V5, u);
        match self.recv(conn).as_slice() {
            [Packet::UnsubAck(a)] => a.clone(),
            other => panic!("expected UNSUBACK, got {other:?}"),
        }
    }

    /// Publishes (v5) and completes the publisher's side of the QoS flow.
    pub fn publish_from(&mut self, conn: ConnId, p: Publish) {
        let qos2 = p.qos_pid.qos() == QoS::ExactlyOnce;
        let id = p.qos_pid.packet_id();
        self.send(conn, ProtocolVersion::V5, p);
        let got = self.recv(conn);
        if let (true, Some(id)) = (qos2, id) {
            assert!(
                matches!(got.as_slice(), [Packet::PubRec(_)]),
                "expected PUBREC, got {got:?}"
            );
            self.send(conn, ProtocolVersion::V5, Packet::PubRel(PubRel::new(id)));
            let _ = self.recv(conn);
        }
    }

    /// Acknowledges received PUBLISHes (PUBACK, or PUBREC for QoS 2).
    fn ack_publishes(&mut self, conn: ConnId, pubs: &[Publish]) {
        for p in pubs {
            match (p.qos_pid.qos(), p.qos_pid.packet_id()) {
                (QoS::AtLeastOnce, Some(id)) => {
                    self.send(conn, ProtocolVersion::V5, Packet::PubAck(PubAck::new(id)));
                }
                (QoS::ExactlyOnce, Some(id)) => {
                    self.send(conn, ProtocolVersion::V5, Packet::PubRec(PubRec::new(id)));
                }
                _ => {}
            }
        }
    }

    /// Every PUBLISH received so far and those the acks release, in order, with the
    /// receiver's side of each QoS flow completed. Panics on any other packet but PUBREL.
    pub fn take_publishes(&mut self, conn: ConnId) -> Vec<Publish> {
        let (others, pubs) = self.take_all(conn);
        assert!(others.is_empty(), "unexpected {others:?}");
        pubs
    }

    /// As [`Cluster::take_publishes`], returning the other packets (SUBACK, …) apart.
    pub fn take_all(&mut self, conn: ConnId) -> (Vec<Packet>, Vec<Publish>) {
        let mut all = Vec::new();
        let mut others = Vec::new();
        loop {
            let got = self.recv(conn);
            if got.is_empty() {
                return (others, all);
            }
            let mut pubs = Vec::new();
            for p in got {
                match p {
                    Packet::Publish(p) => pubs.push(p),
                    Packet::PubRel(r) => {
                        let comp = Packet::PubComp(PubComp::new(r.packet_id));
                        self.send(conn, ProtocolVersion::V5, comp);
                    }
                    other => others.push(other),
                }
            }
            self.ack_publishes(conn, &pubs);
            all.extend(pubs);
        }
    }

    /// The payloads of what `conn` received (acknowledged), as strings.
    pub fn payloads(&mut self, conn: ConnId) -> Vec<String> {
        self.take_publishes(conn)
            .iter()
            .map(|p| String::from_utf8(p.payload.to_vec()).unwrap())
            .collect()
    }

    /// Peer messages (batches) each shard has received so far.
    pub fn deliveries(&self) -> Vec<u64> {
        (0..self.shards.len())
            .map(|i| self.peer_deliveries.get(&i).copied().unwrap_or(0))
            .collect()
    }

    /// Asserts no cross-shard routing work is left on any shard.
    pub fn assert_routing_idle(&self) {
        for (i, s) in self.shards.iter().enumerate() {
            assert_eq!(s.routing_in_progress(), 0, "shard {i}");
        }
    }
}
