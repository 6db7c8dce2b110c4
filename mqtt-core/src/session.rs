//! Session state that outlives a connection: subscriptions, outbound QoS 1/2 state and queue,
//! inbound QoS 2 packet ids, a delayed will.

use core::num::{NonZeroU16, NonZeroU32};
use std::collections::VecDeque;

use ahash::{AHashMap, AHashSet};
use bytestring::ByteString;
use mqtt_proto::{LastWill, QoS, SubscriptionOptions};
use smallvec::SmallVec;

use crate::auth::ClientInfo;
use crate::ids::ConnId;
use crate::message::SharedMessage;
use crate::time::Timestamp;

/// One subscription of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubEntry {
    /// Options from SUBSCRIBE.
    pub options: SubscriptionOptions,
    /// Subscription Identifier, if the client gave one.
    pub sub_id: Option<NonZeroU32>,
}

/// A message on its way to one session.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub(crate) msg: SharedMessage,
    /// QoS to deliver with: min(published, granted).
    pub(crate) qos: QoS,
    /// RETAIN flag to send.
    pub(crate) retain: bool,
    /// Identifiers of the matching subscriptions.
    pub(crate) sub_ids: SmallVec<[NonZeroU32; 1]>,
}

/// Where an outbound QoS 1/2 message stands: the packet it waits for.
#[allow(clippy::enum_variant_names)] // Each variant names the packet awaited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InflightState {
    /// QoS 1 PUBLISH sent.
    AwaitPubAck,
    /// QoS 2 PUBLISH sent.
    AwaitPubRec,
    /// PUBREL sent.
    AwaitPubComp,
}

#[derive(Debug, Clone)]
pub(crate) struct Inflight {
    pub(crate) delivery: Delivery,
    pub(crate) state: InflightState,
    /// Send order, for re-sending in the original order on resume.
    pub(crate) seq: u64,
}

/// A will waiting for its delay (or the session's end).
#[derive(Debug, Clone)]
pub(crate) struct PendingWill {
    pub(crate) will: LastWill,
    pub(crate) at: Timestamp,
}

#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) client: ClientInfo,
    pub(crate) conn: Option<ConnId>,
    /// Full filter (including any `$share/{group}/` prefix) → subscription.
    pub(crate) subscriptions: AHashMap<ByteString, SubEntry>,
    /// Session Expiry Interval in seconds (0xFFFFFFFF: never).
    pub(crate) expiry_interval: u32,
    /// Armed expiry deadline while disconnected.
    pub(crate) expires_at: Option<Timestamp>,
    pub(crate) inflight: AHashMap<u16, Inflight>,
    /// Inflight identifiers whose re-send after a resume waits for room in the new
    /// connection's window [MQTT-3.3.4-9], in their original order.
    pub(crate) resend: VecDeque<u16>,
    pub(crate) queue: VecDeque<Delivery>,
    next_pid: u16,
    next_seq: u64,
    /// Inbound QoS 2 packet ids that got PUBREC and wait for PUBREL [MQTT-4.3.3-*].
    pub(crate) awaiting_rel: AHashSet<u16>,
    pub(crate) pending_will: Option<PendingWill>,
}

impl Session {
    pub(crate) fn new(client: ClientInfo) -> Self {
        Self {
            client,
            conn: None,
            subscriptions: AHashMap::new(),
            expiry_interval: 0,
            expires_at: None,
            inflight: AHashMap::new(),
            resend: VecDeque::new(),
            queue: VecDeque::new(),
            next_pid: 0,
            next_seq: 0,
            awaiting_rel: AHashSet::new(),
            pending_will: None,
        }
    }

    /// A packet identifier not in use by an outbound message.
    pub(crate) fn alloc_pid(&mut self) -> Option<NonZeroU16> {
        for _ in 0..=u16::MAX {
            self.next_pid = self.next_pid.wrapping_add(1);
            if let Some(pid) = NonZeroU16::new(self.next_pid) {
                if !self.inflight.contains_key(&pid.get()) {
                    return Some(pid);
                }
            }
        }
        None
    }

    pub(crate) fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Queues a delivery, then applies the drop policy ([`Session::trim_queue`]). Returns how
    /// many messages were dropped.
    pub(crate) fn enqueue(&mut self, d: Delivery, max: usize) -> usize {
        self.queue.push_back(d);
        self.trim_queue(max)
    }

    /// Drops messages until at most `max` are queued: the oldest QoS 0 message first, then
    /// the oldest message of any QoS (`Config::max_queued_messages`). Returns how many were
    /// dropped; the caller counts them.
    pub(crate) fn trim_queue(&mut self, max: usize) -> usize {
        let mut dropped = 0;
        while self.queue.len() > max {
            match self.queue.iter().position(|q| q.qos == QoS::AtMostOnce) {
                Some(i) => {
                    self.queue.remove(i);
                }
                None => {
                    self.queue.pop_front();
                }
            }
            dropped += 1;
        }
        dropped
    }

    /// Inflight entries in their original send order.
    pub(crate) fn inflight_in_order(&self) -> Vec<u16> {
        let mut v: Vec<(u64, u16)> = self.inflight.iter().map(|(p, i)| (i.seq, *p)).collect();
        v.sort_unstable();
        v.into_iter().map(|(_, p)| p).collect()
    }
}
