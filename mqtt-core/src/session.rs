//! Session state that outlives a connection: subscriptions, outbound QoS 1/2 state and queue,
//! inbound QoS 2 packet ids, a delayed will.

use core::hash::{BuildHasher, Hasher};
use core::num::{NonZeroU16, NonZeroU32};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::OnceLock;

use ahash::{AHasher, RandomState};
use bytestring::ByteString;
use mqtt_proto::{LastWill, QoS, SubscriptionOptions};
use smallvec::SmallVec;

use crate::auth::ClientInfo;
use crate::ids::{ConnId, SessionId};
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
    pub(crate) will: Box<LastWill>,
    pub(crate) at: Timestamp,
}

/// aHash with keys drawn once per process, so a session's maps carry no hasher state of
/// their own (an `ahash::RandomState` is 32 bytes per map). The keys are as unpredictable to
/// a client as per-map keys; a client can only fill its own maps, each bounded by a limit.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ProcessKeys;

impl BuildHasher for ProcessKeys {
    type Hasher = AHasher;

    fn build_hasher(&self) -> AHasher {
        static KEYS: OnceLock<RandomState> = OnceLock::new();
        KEYS.get_or_init(RandomState::new).build_hasher()
    }
}

/// A map of one session, with no hasher state of its own ([`ProcessKeys`]).
pub(crate) type SessionMap<K, V> = HashMap<K, V, ProcessKeys>;

/// Hashes packet identifiers with one multiplication (Fibonacci hashing): no state, and
/// cheaper than aHash on the QoS 1/2 path, which looks identifiers up several times per
/// message. Identifiers a client chooses (inbound QoS 2) can be made to collide, but that set
/// is bounded by `Config::max_awaiting_rel`, and so is the probing.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PidKeys;

impl BuildHasher for PidKeys {
    type Hasher = PidHasher;

    fn build_hasher(&self) -> PidHasher {
        PidHasher(0)
    }
}

/// See [`PidKeys`].
#[derive(Debug)]
pub(crate) struct PidHasher(u64);

impl Hasher for PidHasher {
    fn write_u16(&mut self, pid: u16) {
        self.0 = (self.0 ^ u64::from(pid)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Packet identifier → entry.
pub(crate) type PidMap<V> = HashMap<u16, V, PidKeys>;

/// The shard's sessions, boxed for the reasons given for `ConnTable`.
pub(crate) type SessionTable = ahash::AHashMap<SessionId, Box<Session>>;

#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) client: ClientInfo,
    pub(crate) conn: Option<ConnId>,
    /// Full filter (including any `$share/{group}/` prefix) → subscription.
    pub(crate) subscriptions: SubMap,
    /// Session Expiry Interval in seconds (0xFFFFFFFF: never).
    pub(crate) expiry_interval: u32,
    /// Armed expiry deadline while disconnected.
    pub(crate) expires_at: Option<Timestamp>,
    pub(crate) inflight: PidMap<Inflight>,
    /// Inflight identifiers whose re-send after a resume waits for room in the new
    /// connection's window [MQTT-3.3.4-9], in their original order.
    pub(crate) resend: PidQueue,
    pub(crate) queue: VecDeque<Delivery>,
    next_pid: u16,
    next_seq: u64,
    /// Inbound QoS 2 packet ids that got PUBREC and wait for PUBREL [MQTT-4.3.3-*].
    pub(crate) awaiting_rel: PidSet,
    /// Boxed: few sessions have one, and an empty slot then costs a pointer.
    pub(crate) pending_will: Option<Box<PendingWill>>,
}

impl Session {
    pub(crate) fn new(client: ClientInfo) -> Self {
        Self {
            client,
            conn: None,
            subscriptions: SubMap::default(),
            expiry_interval: 0,
            expires_at: None,
            inflight: PidMap::default(),
            resend: PidQueue::default(),
            queue: VecDeque::new(),
            next_pid: 0,
            next_seq: 0,
            awaiting_rel: PidSet::default(),
            pending_will: None,
        }
    }

    /// Gives back the memory of the outbound queue, the inflight table and the inbound QoS 2
    /// set where they are empty. Called at a quiet moment of the session's connection (see
    /// `Shard::release_idle`), never on the hot path: a busy session keeps reusing what it
    /// grew, and what a burst grew goes once the burst is over.
    pub(crate) fn release_idle(&mut self) {
        if self.queue.is_empty() {
            self.queue = VecDeque::new();
        }
        if self.inflight.is_empty() {
            self.inflight = PidMap::default();
        }
        self.awaiting_rel.release_if_empty();
        self.subscriptions.release_if_empty();
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

/// Packet identifiers in order; allocated only while it holds some (re-sends after a
/// resume wait here rarely, and briefly).
// The box is the point: one pointer in every session rather than a 32-byte deque.
#[allow(clippy::box_collection)]
#[derive(Debug, Default)]
pub(crate) struct PidQueue(Option<Box<VecDeque<u16>>>);

impl PidQueue {
    pub(crate) fn push_back(&mut self, pid: u16) {
        self.0.get_or_insert_default().push_back(pid);
    }

    /// The first identifier; the memory goes with the last one.
    pub(crate) fn pop_front(&mut self) -> Option<u16> {
        let q = self.0.as_mut()?;
        let pid = q.pop_front();
        if q.is_empty() {
            self.0 = None;
        }
        pid
    }

    pub(crate) fn retain(&mut self, keep: impl FnMut(&u16) -> bool) {
        if let Some(q) = self.0.as_mut() {
            q.retain(keep);
            if q.is_empty() {
                self.0 = None;
            }
        }
    }

    pub(crate) fn clear(&mut self) {
        self.0 = None;
    }

    pub(crate) fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |q| q.len())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

/// A session's subscriptions (full filter → entry), allocated with the first: an idle
/// client that subscribes to nothing pays a pointer rather than a 32-byte table.
// The box is the point, as for `PidQueue`.
#[allow(clippy::box_collection)]
#[derive(Debug, Default)]
pub(crate) struct SubMap(Option<Box<SessionMap<ByteString, SubEntry>>>);

impl SubMap {
    pub(crate) fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |m| m.len())
    }

    pub(crate) fn contains_key(&self, filter: &str) -> bool {
        self.0.as_ref().is_some_and(|m| m.contains_key(filter))
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &ByteString> {
        self.0.iter().flat_map(|m| m.keys())
    }

    /// Adds or replaces the subscription to `filter`; the entry it replaced.
    pub(crate) fn insert(&mut self, filter: ByteString, entry: SubEntry) -> Option<SubEntry> {
        self.0.get_or_insert_default().insert(filter, entry)
    }

    /// Removes the subscription to `filter`; the memory goes once none is left.
    pub(crate) fn remove(&mut self, filter: &str) -> Option<SubEntry> {
        let m = self.0.as_mut()?;
        let old = m.remove(filter);
        if m.is_empty() {
            self.0 = None;
        }
        old
    }

    /// Gives the memory back when no subscription is left.
    pub(crate) fn release_if_empty(&mut self) {
        if self.0.as_ref().is_some_and(|m| m.is_empty()) {
            self.0 = None;
        }
    }
}

/// A set of packet identifiers, allocated only once it was used: most sessions never
/// receive QoS 2, and an empty set here costs a pointer rather than a 32-byte table.
// The box is the point, as for `PidQueue`.
#[allow(clippy::box_collection)]
#[derive(Debug, Default)]
pub(crate) struct PidSet(Option<Box<HashSet<u16, PidKeys>>>);

impl PidSet {
    pub(crate) fn contains(&self, pid: &u16) -> bool {
        self.0.as_ref().is_some_and(|s| s.contains(pid))
    }

    /// Adds `pid`; whether it was new.
    pub(crate) fn insert(&mut self, pid: u16) -> bool {
        self.0.get_or_insert_default().insert(pid)
    }

    /// Removes `pid`; whether it was there. The memory stays until
    /// [`PidSet::release_if_empty`] (a busy QoS 2 session reuses it).
    pub(crate) fn remove(&mut self, pid: &u16) -> bool {
        self.0.as_mut().is_some_and(|s| s.remove(pid))
    }

    pub(crate) fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |s| s.len())
    }

    #[cfg(test)]
    fn clear(&mut self) {
        if let Some(s) = self.0.as_mut() {
            s.clear();
        }
    }

    /// Gives the memory back when the set is empty.
    pub(crate) fn release_if_empty(&mut self) {
        if self.0.as_ref().is_some_and(|s| s.is_empty()) {
            self.0 = None;
        }
    }

    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.0.as_ref().map_or(0, |s| s.capacity())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session::new(ClientInfo {
            client_id: ByteString::from_static("c"),
            username: None,
            peer: None,
            version: mqtt_proto::ProtocolVersion::V5,
        })
    }

    /// Regression guard: every client has a `Session` (boxed in the shard's table).
    #[test]
    fn session_stays_small() {
        let size = core::mem::size_of::<Session>();
        assert!(size <= 248, "Session is {size} bytes");
    }

    #[test]
    fn pid_queue_holds_memory_only_while_not_empty() {
        let mut q = PidQueue::default();
        assert!(q.is_empty() && q.0.is_none());
        q.push_back(1);
        q.push_back(2);
        q.push_back(3);
        q.retain(|&p| p != 2);
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop_front(), Some(1));
        assert_eq!(q.pop_front(), Some(3));
        assert!(q.is_empty() && q.0.is_none());
        assert_eq!(q.pop_front(), None);
        q.push_back(4);
        q.retain(|_| false);
        assert!(q.is_empty() && q.0.is_none());
    }

    #[test]
    fn release_idle_gives_back_only_empty_collections() {
        let mut s = session();
        for pid in 1..=100u16 {
            s.awaiting_rel.insert(pid);
        }
        s.awaiting_rel.clear();
        s.inflight.reserve(100);
        s.queue.reserve(100);
        s.queue.push_back(Delivery {
            msg: std::sync::Arc::new(crate::message::Message {
                id: crate::message::MessageId::default(),
                topic: ByteString::from_static("t"),
                payload: bytes::Bytes::new(),
                qos: QoS::AtLeastOnce,
                retain: false,
                properties: Default::default(),
                expires_at: None,
                publisher: None,
            }),
            qos: QoS::AtLeastOnce,
            retain: false,
            sub_ids: SmallVec::new(),
        });
        s.release_idle();
        assert_eq!(s.awaiting_rel.capacity(), 0);
        assert_eq!(s.inflight.capacity(), 0);
        assert!(
            s.queue.capacity() >= 100,
            "a queue still holding messages is kept"
        );
        s.queue.clear();
        s.release_idle();
        assert_eq!(s.queue.capacity(), 0);
    }
}
