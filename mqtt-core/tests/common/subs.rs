//! Helpers for subscription, retained, shared-subscription, ACL and `$SYS` scenarios.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use mqtt_core::{Acl, Action, ClientInfo, ConnId};
use mqtt_proto::{
    ByteString, Bytes, Packet, ProtocolVersion, Publish, PublishProperties, QoS, QosPid,
    RetainHandling, SubAck, SubAckReasonCode, Subscribe, SubscribeProperties, Subscription,
    SubscriptionOptions, UnsubAck, Unsubscribe,
};

use super::{pid, Harness};

/// A subscription entry with default options at `qos`.
pub fn sub(filter: &str, qos: QoS) -> Subscription {
    Subscription {
        filter: ByteString::from(filter),
        options: SubscriptionOptions {
            qos,
            ..Default::default()
        },
    }
}

/// A subscription entry with every option given.
pub fn sub_with(
    filter: &str,
    qos: QoS,
    no_local: bool,
    retain_as_published: bool,
    retain_handling: RetainHandling,
) -> Subscription {
    Subscription {
        filter: ByteString::from(filter),
        options: SubscriptionOptions {
            qos,
            no_local,
            retain_as_published,
            retain_handling,
        },
    }
}

/// A retained PUBLISH.
pub fn retained(topic: &str, payload: &'static [u8], qos: QoS, packet_id: u16) -> Publish {
    Publish {
        dup: false,
        qos_pid: QosPid::new(qos, pid(packet_id.max(1))),
        retain: true,
        topic: ByteString::from(topic),
        properties: PublishProperties::default(),
        payload: Bytes::from_static(payload),
    }
}

/// SUBACK reason code bytes, for compact assertions.
pub fn codes(ack: &SubAck) -> Vec<u8> {
    ack.reason_codes.iter().map(|c| c.as_u8()).collect()
}

/// The granted code for `qos`.
pub fn granted(qos: QoS) -> SubAckReasonCode {
    SubAckReasonCode::granted(qos)
}

/// (topic, payload) of each PUBLISH, for compact assertions.
pub fn topics_payloads(ps: &[Publish]) -> Vec<(String, Vec<u8>)> {
    ps.iter()
        .map(|p| (p.topic.to_string(), p.payload.to_vec()))
        .collect()
}

impl Harness {
    /// Sends one SUBSCRIBE and returns its SUBACK and every packet that followed it.
    pub fn subscribe_many(
        &mut self,
        conn: ConnId,
        v: ProtocolVersion,
        subs: Vec<Subscription>,
        sub_id: Option<u32>,
    ) -> (SubAck, Vec<Packet>) {
        let s = Subscribe {
            packet_id: pid(11),
            properties: SubscribeProperties {
                subscription_identifier: sub_id.and_then(core::num::NonZeroU32::new),
                ..Default::default()
            },
            subscriptions: subs.into_iter().collect(),
        };
        self.send(conn, v, s);
        let mut got = self.recv(conn).into_iter();
        match got.next() {
            Some(Packet::SubAck(a)) => {
                assert_eq!(a.packet_id.get(), 11);
                (a, got.collect())
            }
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// Subscribes to one filter; returns the SUBACK and the retained PUBLISHes that followed.
    pub fn subscribe_retained(
        &mut self,
        conn: ConnId,
        v: ProtocolVersion,
        s: Subscription,
    ) -> (SubAck, Vec<Publish>) {
        let (ack, rest) = self.subscribe_many(conn, v, vec![s], None);
        (ack, super::publishes(rest))
    }

    /// Sends one UNSUBSCRIBE and returns the UNSUBACK.
    pub fn unsubscribe(&mut self, conn: ConnId, v: ProtocolVersion, filters: &[&str]) -> UnsubAck {
        let u = Unsubscribe {
            packet_id: pid(12),
            properties: Default::default(),
            filters: filters.iter().map(|f| ByteString::from(*f)).collect(),
        };
        self.send(conn, v, u);
        match self.recv(conn).into_iter().next() {
            Some(Packet::UnsubAck(a)) => {
                assert_eq!(a.packet_id.get(), 12);
                a
            }
            other => panic!("expected UNSUBACK, got {other:?}"),
        }
    }

    /// Publishes and consumes the publisher's own ack packets (if any); returns them.
    pub fn publish_from(&mut self, conn: ConnId, v: ProtocolVersion, p: Publish) -> Vec<Packet> {
        let qos2 = p.qos_pid.qos() == QoS::ExactlyOnce;
        let id = p.qos_pid.packet_id();
        self.send(conn, v, p);
        let mut got = self.recv(conn);
        if qos2 {
            if let (Some(Packet::PubRec(_)), Some(id)) = (got.first(), id) {
                self.send(conn, v, Packet::PubRel(mqtt_proto::PubRel::new(id)));
                got.extend(self.recv(conn));
            }
        }
        got
    }
}

/// One ACL question as the ACL saw it: (client id, user name, action and topic).
pub type Asked = (String, Option<String>, String);

/// A rule set shared between a test and the shard, so rules can change while it runs.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// `(client id, topic)` pairs denied for Receive.
    pub deny_receive: Arc<Mutex<HashSet<(String, String)>>>,
    /// `(client id, topic)` pairs denied for Publish.
    pub deny_publish: Arc<Mutex<HashSet<(String, String)>>>,
    /// `(client id, filter)` pairs denied for Subscribe.
    pub deny_subscribe: Arc<Mutex<HashSet<(String, String)>>>,
    /// Every (client id, username, action) the ACL was asked about.
    pub seen: Arc<Mutex<Vec<Asked>>>,
}

impl Rules {
    pub fn deny_receive(&self, client: &str, topic: &str) {
        self.deny_receive
            .lock()
            .unwrap()
            .insert((client.to_owned(), topic.to_owned()));
    }

    pub fn allow_receive(&self, client: &str, topic: &str) {
        self.deny_receive
            .lock()
            .unwrap()
            .remove(&(client.to_owned(), topic.to_owned()));
    }

    pub fn deny_publish(&self, client: &str, topic: &str) {
        self.deny_publish
            .lock()
            .unwrap()
            .insert((client.to_owned(), topic.to_owned()));
    }

    pub fn deny_subscribe(&self, client: &str, filter: &str) {
        self.deny_subscribe
            .lock()
            .unwrap()
            .insert((client.to_owned(), filter.to_owned()));
    }

    pub fn seen(&self) -> Vec<Asked> {
        self.seen.lock().unwrap().clone()
    }
}

impl Acl for Rules {
    fn check(&self, client: &ClientInfo, action: Action<'_>) -> bool {
        let id = client.client_id.to_string();
        let (set, what, desc) = match action {
            Action::Publish { topic, .. } => {
                (&self.deny_publish, topic, format!("publish {topic}"))
            }
            Action::Subscribe { filter, .. } => {
                (&self.deny_subscribe, filter, format!("subscribe {filter}"))
            }
            Action::Receive { topic } => (&self.deny_receive, topic, format!("receive {topic}")),
        };
        self.seen.lock().unwrap().push((
            id.clone(),
            client.username.as_ref().map(|u| u.to_string()),
            desc,
        ));
        !set.lock().unwrap().contains(&(id, what.to_owned()))
    }
}
