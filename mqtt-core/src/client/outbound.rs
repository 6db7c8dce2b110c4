//! The client's session state for what it sends: QoS 1/2 messages in flight, commands waiting
//! for a connection or for room in the window, and packet identifiers.

use core::num::NonZeroU16;
use std::collections::VecDeque;

use ahash::AHashMap;
use mqtt_proto::{Packet, PubAckReasonCode, Publish};

use super::event::PacketToken;

/// A command not yet sent: a PUBLISH, SUBSCRIBE or UNSUBSCRIBE whose packet identifier is
/// given when it is sent.
#[derive(Debug)]
pub(crate) struct Queued {
    pub(crate) token: PacketToken,
    pub(crate) packet: Packet,
}

/// Where an outbound QoS 1/2 message is in its flow: the packet it awaits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// QoS 1, PUBLISH sent, PUBACK awaited [MQTT-4.3.2-3].
    Unacked,
    /// QoS 2, PUBLISH sent, PUBREC awaited [MQTT-4.3.3-3].
    Unreceived,
    /// QoS 2, PUBREL sent after a PUBREC with this reason, PUBCOMP awaited [MQTT-4.3.3-5].
    Released(PubAckReasonCode),
}

/// A QoS 1/2 message the server has not completed.
#[derive(Debug)]
pub(crate) struct Inflight {
    pub(crate) token: PacketToken,
    /// Send order, for resending in order [MQTT-4.6.0-1].
    pub(crate) seq: u64,
    pub(crate) stage: Stage,
    /// The PUBLISH with its topic (never an alias) and packet identifier.
    pub(crate) packet: Packet,
}

/// Outbound session state.
#[derive(Debug, Default)]
pub(crate) struct Outbound {
    /// By packet identifier.
    pub(crate) inflight: AHashMap<u16, Inflight>,
    /// Publishes not yet sent, in order.
    pub(crate) waiting: VecDeque<Queued>,
    /// Subscribes and unsubscribes not yet sent, in order.
    pub(crate) control: VecDeque<Queued>,
    /// Subscribes and unsubscribes sent, by packet identifier, awaiting SUBACK / UNSUBACK.
    pub(crate) control_acks: AHashMap<u16, Queued>,
    next_pid: u16,
    next_seq: u64,
}

impl Outbound {
    /// Commands waiting to be sent.
    pub(crate) fn queued_len(&self) -> usize {
        self.waiting.len() + self.control.len()
    }

    /// A packet identifier no inflight message or unanswered command uses [MQTT-2.2.1-3].
    pub(crate) fn alloc_pid(&mut self) -> Option<NonZeroU16> {
        for _ in 0..u16::MAX {
            self.next_pid = self.next_pid.checked_add(1).unwrap_or(1);
            let pid = self.next_pid;
            if !self.inflight.contains_key(&pid) && !self.control_acks.contains_key(&pid) {
                return NonZeroU16::new(pid);
            }
        }
        None
    }

    /// Records a QoS 1/2 PUBLISH just sent.
    pub(crate) fn insert(&mut self, pid: NonZeroU16, token: PacketToken, packet: Packet) {
        let stage = match &packet {
            Packet::Publish(p) if p.qos_pid.qos() == mqtt_proto::QoS::ExactlyOnce => {
                Stage::Unreceived
            }
            _ => Stage::Unacked,
        };
        self.next_seq += 1;
        let entry = Inflight {
            token,
            seq: self.next_seq,
            stage,
            packet,
        };
        self.inflight.insert(pid.get(), entry);
    }

    /// Inflight packet identifiers in the order their PUBLISH was first sent.
    pub(crate) fn in_order(&self) -> Vec<u16> {
        let mut v: Vec<(u64, u16)> = self.inflight.iter().map(|(p, e)| (e.seq, *p)).collect();
        v.sort_unstable();
        v.into_iter().map(|(_, p)| p).collect()
    }

    /// The connection ended: SUBSCRIBE / UNSUBSCRIBE not answered go back to the front of
    /// their queue, to be sent again on the next connection (they are not resent with their
    /// old identifiers: only PUBLISH and PUBREL are [MQTT-4.4.0-1]).
    pub(crate) fn requeue_control(&mut self) {
        let mut unanswered: Vec<Queued> = self.control_acks.drain().map(|(_, q)| q).collect();
        unanswered.sort_unstable_by_key(|q| q.token);
        for q in unanswered.into_iter().rev() {
            self.control.push_front(q);
        }
    }
}

/// The PUBLISH inside a stored packet.
pub(crate) fn publish_mut(packet: &mut Packet) -> Option<&mut Publish> {
    match packet {
        Packet::Publish(p) => Some(p),
        _ => None,
    }
}
