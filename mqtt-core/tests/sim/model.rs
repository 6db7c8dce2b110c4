//! The reference model: what was published, who was subscribed when, and so what each client
//! must, may and must not receive.
//!
//! Time here is a logical counter (`tick`) advanced at every event the model hears of: a
//! client sending a packet, the broker consuming it (the driver sees the bytes go), a client
//! reading an ack. "Subscribed before published" compares ticks.
//!
//! Obligations ("must receive") are registered when the broker consumes a QoS 1/2 PUBLISH:
//! one per client whose SUBACK for a matching filter was read before that PUBLISH was sent,
//! and one per shared subscription with such a member. They are cancelled, never weakened
//! otherwise, when the subscription may legitimately stop delivering before the message gets
//! there: the client sends UNSUBSCRIBE for that filter (or re-subscribes it at QoS 0), or its
//! session ends (Session Present 0, Clean Start 1). At the end of a run every client
//! reconnects and reads everything; an obligation left is a lost message.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use mqtt_proto::QoS;

pub const TOPICS: &[&str] = &["a/1", "a/2", "a/3/x", "b/1", "b/2/y", "c"];

pub const FILTERS: &[&str] = &[
    "a/1",
    "a/2",
    "b/1",
    "c",
    "a/+",
    "a/#",
    "+/1",
    "#",
    "b/+/y",
    "+/+/x",
    "$share/g1/a/+",
    "$share/g1/a/1",
    "$share/g2/#",
    "$share/g2/b/#",
    "$share/g3/c",
];

pub fn is_shared(f: usize) -> bool {
    FILTERS[f].starts_with("$share/")
}

/// The filter proper of a (possibly shared) filter.
fn proper(filter: &str) -> &str {
    match filter.strip_prefix("$share/") {
        Some(rest) => rest.split_once('/').map_or(rest, |(_, f)| f),
        None => filter,
    }
}

/// MQTT topic matching (no `$` topics are used here).
pub fn matches(filter: &str, topic: &str) -> bool {
    let mut fl = filter.split('/');
    let mut tl = topic.split('/');
    loop {
        match (fl.next(), tl.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Msg {
    pub topic: usize,
    pub qos: QoS,
    pub retain: bool,
    pub publisher: usize,
    /// Tick the broker first consumed it (0: not yet).
    pub proc_first: u64,
    pub proc_last: u64,
    /// Times the broker routed it (a QoS 1 re-send with DUP is routed again).
    pub instances: u32,
    /// A will message: published by the broker if the connection ends abnormally, which
    /// the model does not always know, so nothing is owed for it.
    pub will: bool,
}

#[derive(Debug, Clone)]
pub struct Sub {
    pub client: usize,
    pub epoch: u32,
    pub filter: usize,
    pub qos: QoS,
    pub no_local: bool,
    pub retain_handling: u8,
    /// Tick the broker consumed the SUBSCRIBE (0: not yet).
    pub processed_at: u64,
}

/// What a client believes about one filter of its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FState {
    None,
    /// SUBSCRIBE sent, SUBACK not read yet.
    Pending(u32),
    /// SUBACK read at tick `at`.
    Confirmed {
        sub: u32,
        at: u64,
        granted: QoS,
    },
    /// The connection died before the SUBACK: it may or may not exist.
    Maybe(u32),
}

impl FState {
    fn sub(self) -> Option<u32> {
        match self {
            Self::None => None,
            Self::Pending(s) | Self::Maybe(s) | Self::Confirmed { sub: s, .. } => Some(s),
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct ModelStats {
    pub published: u64,
    pub deliveries: u64,
    pub retained_deliveries: u64,
    pub obligations: u64,
    pub cancelled: u64,
}

#[derive(Debug)]
pub struct Model {
    pub tick: u64,
    pub msgs: Vec<Msg>,
    pub subs: Vec<Sub>,
    /// `[client][filter]`.
    pub fstate: Vec<Vec<FState>>,
    /// UNSUBSCRIBE sent and not yet consumed, `[client][filter]`: the broker may still pick
    /// that member of a shared group.
    pub lingering: Vec<Vec<u32>>,
    /// Plain obligations: `[client]` msg → mask of the filters that made it one.
    pub pending: Vec<BTreeMap<u32, u32>>,
    /// Shared obligations: `[filter]` msgs.
    pub group_pending: Vec<BTreeSet<u32>>,
    /// Live deliveries per (client, message) and per (shared filter, message): in all, at
    /// QoS 0, at QoS 2.
    seen_plain: HashMap<(usize, u32), [u32; 3]>,
    seen_group: HashMap<(usize, u32), [u32; 3]>,
    /// Last first-publication tick seen per (subscriber, publisher, topic, delivered QoS).
    order: HashMap<(usize, usize, usize, QoS), u64>,
    match_table: Vec<Vec<bool>>,
    /// Home shard of each client.
    homes: Vec<usize>,
    /// (subscription, message) pairs delivered live, and as retained messages.
    live_via: HashSet<(u32, u32)>,
    retained_via: HashSet<(u32, u32)>,
    /// Completeness is checked (limits generous enough that the broker drops nothing).
    pub check_delivery: bool,
    pub stats: ModelStats,
}

impl Model {
    pub fn new(homes: Vec<usize>, check_delivery: bool) -> Self {
        let clients = homes.len();
        let match_table = FILTERS
            .iter()
            .map(|f| TOPICS.iter().map(|t| matches(proper(f), t)).collect())
            .collect();
        Self {
            tick: 0,
            msgs: Vec::new(),
            subs: Vec::new(),
            fstate: vec![vec![FState::None; FILTERS.len()]; clients],
            lingering: vec![vec![0; FILTERS.len()]; clients],
            pending: vec![BTreeMap::new(); clients],
            group_pending: vec![BTreeSet::new(); FILTERS.len()],
            seen_plain: HashMap::new(),
            seen_group: HashMap::new(),
            order: HashMap::new(),
            match_table,
            homes,
            live_via: HashSet::new(),
            retained_via: HashSet::new(),
            check_delivery,
            stats: ModelStats::default(),
        }
    }

    pub fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    pub fn new_msg(&mut self, topic: usize, qos: QoS, retain: bool, publisher: usize) -> u32 {
        self.msgs.push(Msg {
            topic,
            qos,
            retain,
            publisher,
            proc_first: 0,
            proc_last: 0,
            instances: 0,
            will: false,
        });
        self.stats.published += 1;
        (self.msgs.len() - 1) as u32
    }

    /// The broker consumed a PUBLISH of message `id` that its client sent at tick `sent_at`.
    pub fn published(&mut self, id: u32, sent_at: u64) {
        let tick = self.next_tick();
        let m = &mut self.msgs[id as usize];
        let first = m.instances == 0;
        if first {
            m.proc_first = tick;
        }
        // A QoS 2 re-send is not routed again: the broker still holds its packet id.
        if !first && m.qos == QoS::ExactlyOnce {
            return;
        }
        m.instances += 1;
        m.proc_last = tick;
        if !self.check_delivery || m.qos == QoS::AtMostOnce || m.will {
            return;
        }
        let (t, publisher) = (m.topic, m.publisher);
        for c in 0..self.fstate.len() {
            let mut mask = 0u32;
            for f in 0..FILTERS.len() {
                if is_shared(f) || !self.match_table[f][t] {
                    continue;
                }
                if let FState::Confirmed { sub, at, granted } = self.fstate[c][f] {
                    let no_local = self.subs[sub as usize - 1].no_local && c == publisher;
                    if at < sent_at && granted != QoS::AtMostOnce && !no_local {
                        mask |= 1 << f;
                    }
                }
            }
            if mask != 0 {
                *self.pending[c].entry(id).or_insert(0) |= mask;
                self.stats.obligations += 1;
            }
        }
        for f in 0..FILTERS.len() {
            if !is_shared(f) || !self.match_table[f][t] {
                continue;
            }
            let mut confirmed = false;
            let mut eligible = true;
            for c in 0..self.fstate.len() {
                if self.lingering[c][f] > 0 {
                    eligible = false;
                }
                match self.fstate[c][f] {
                    FState::None => {}
                    FState::Confirmed { at, granted, .. } => {
                        confirmed |= at < sent_at;
                        eligible &= granted != QoS::AtMostOnce;
                    }
                    FState::Pending(s) | FState::Maybe(s) => {
                        eligible &= self.subs[s as usize - 1].qos != QoS::AtMostOnce;
                    }
                }
            }
            if confirmed && eligible {
                self.group_pending[f].insert(id);
                self.stats.obligations += 1;
            }
        }
    }

    /// The client sends SUBSCRIBE for `filter`; returns the subscription identifier.
    pub fn subscribe_sent(
        &mut self,
        client: usize,
        epoch: u32,
        filter: usize,
        qos: QoS,
        no_local: bool,
        retain_handling: u8,
    ) -> u32 {
        if qos == QoS::AtMostOnce && self.fstate[client][filter] != FState::None {
            // A downgrade to QoS 0: what is still on its way may now come at QoS 0.
            self.cancel_filter(client, filter);
        }
        self.subs.push(Sub {
            client,
            epoch,
            filter,
            qos,
            no_local,
            retain_handling,
            processed_at: 0,
        });
        let id = self.subs.len() as u32;
        self.fstate[client][filter] = FState::Pending(id);
        id
    }

    pub fn subscribe_consumed(&mut self, sub: u32) {
        let tick = self.next_tick();
        self.subs[sub as usize - 1].processed_at = tick;
    }

    /// SUBACK read: `granted` is `None` for a refusal.
    pub fn suback(&mut self, client: usize, sub: u32, granted: Option<QoS>) {
        let at = self.next_tick();
        let f = self.subs[sub as usize - 1].filter;
        if self.fstate[client][f] != FState::Pending(sub) {
            return;
        }
        self.fstate[client][f] = match granted {
            Some(granted) => FState::Confirmed { sub, at, granted },
            None => FState::None,
        };
    }

    pub fn unsubscribe_sent(&mut self, client: usize, filter: usize) {
        self.lingering[client][filter] += 1;
        self.cancel_filter(client, filter);
        self.fstate[client][filter] = FState::None;
    }

    /// The broker consumed an UNSUBSCRIBE, or its connection died before it did.
    pub fn unsubscribe_done(&mut self, client: usize, filter: usize) {
        self.lingering[client][filter] -= 1;
    }

    fn cancel_filter(&mut self, client: usize, filter: usize) {
        if is_shared(filter) {
            self.stats.cancelled += self.group_pending[filter].len() as u64;
            self.group_pending[filter].clear();
            return;
        }
        let bit = 1u32 << filter;
        let before = self.pending[client].len();
        self.pending[client].retain(|_, mask| {
            *mask &= !bit;
            *mask != 0
        });
        self.stats.cancelled += (before - self.pending[client].len()) as u64;
    }

    /// The connection died: SUBACKs not read may or may not have been sent.
    pub fn connection_lost(&mut self, client: usize) {
        for st in &mut self.fstate[client] {
            if let FState::Pending(s) = *st {
                *st = FState::Maybe(s);
            }
        }
    }

    /// The client's session ended: its subscriptions, and what was owed to them, are gone.
    pub fn session_lost(&mut self, client: usize) {
        for f in 0..FILTERS.len() {
            if self.fstate[client][f].sub().is_some() && is_shared(f) {
                self.cancel_filter(client, f);
            }
            self.fstate[client][f] = FState::None;
        }
        self.stats.cancelled += self.pending[client].len() as u64;
        self.pending[client].clear();
    }

    /// A client's application got message `id` (after its QoS 2 duplicate detection).
    #[allow(clippy::too_many_arguments)]
    pub fn delivered(
        &mut self,
        client: usize,
        epoch: u32,
        id: u32,
        topic: &str,
        qos: QoS,
        retain: bool,
        sub_ids: &[u32],
    ) -> Result<(), String> {
        let Some(m) = self.msgs.get(id as usize) else {
            return Err(format!("message {id} was never published"));
        };
        if m.instances == 0 {
            return Err(format!(
                "message {id} delivered before the broker consumed it"
            ));
        }
        if TOPICS[m.topic] != topic {
            return Err(format!(
                "message {id} published on {} arrived on {topic}",
                TOPICS[m.topic]
            ));
        }
        if qos > m.qos {
            return Err(format!(
                "message {id} published at {:?} arrived at {qos:?}",
                m.qos
            ));
        }
        if sub_ids.is_empty() {
            return Err(format!(
                "message {id} arrived without a subscription identifier"
            ));
        }
        let mut shared = None;
        let mut plain = 0;
        let mut all_no_local = true;
        for &s in sub_ids {
            let Some(sub) = self.subs.get((s as usize).wrapping_sub(1)) else {
                return Err(format!("message {id} carries unknown subscription id {s}"));
            };
            if sub.client != client {
                return Err(format!(
                    "message {id} carries sub id {s} of client {}",
                    sub.client
                ));
            }
            if sub.epoch != epoch {
                return Err(format!(
                    "message {id} carries sub id {s} of an ended session (epoch {} now {epoch})",
                    sub.epoch
                ));
            }
            if !self.match_table[sub.filter][m.topic] {
                return Err(format!("message {id} ({topic}) for non-matching sub {s}"));
            }
            if sub.processed_at == 0 {
                return Err(format!(
                    "message {id} for sub {s} the broker never consumed"
                ));
            }
            // A message is matched where its subscriber lives: on the publisher's shard at
            // once, on another shard when the forwarded copy arrives there, which may be
            // after a later SUBSCRIBE (the subscriber cannot tell the difference). A shared
            // group's message may travel from shard to shard looking for a member that can
            // take it, so it may find one that joined meanwhile.
            let local = self.homes[client] == self.homes[m.publisher] && !is_shared(sub.filter);
            if !retain && local && sub.processed_at > m.proc_last {
                return Err(format!(
                    "message {id} (published tick {}) for sub {s} made later (tick {})",
                    m.proc_last, sub.processed_at
                ));
            }
            all_no_local &= sub.no_local;
            if is_shared(sub.filter) {
                if shared.replace(sub.filter).is_some() {
                    return Err(format!(
                        "message {id}: one copy for two shared subscriptions"
                    ));
                }
            } else {
                plain += 1;
            }
        }
        if shared.is_some() && plain > 0 {
            return Err(format!("message {id}: a shared copy carries plain sub ids"));
        }
        if retain {
            self.stats.retained_deliveries += 1;
            if !m.retain {
                return Err(format!(
                    "message {id} not published retained arrived RETAIN 1"
                ));
            }
            if shared.is_some() {
                return Err(format!(
                    "retained message {id} sent for a shared subscription"
                ));
            }
            for &s in sub_ids {
                if self.subs[s as usize - 1].retain_handling == 2 {
                    return Err(format!(
                        "retained message {id} sent despite Retain Handling 2"
                    ));
                }
                // A QoS 1 message its publisher re-sent was routed twice: one copy may be
                // the retained one and the other live.
                if self.live_via.contains(&(s, id)) && m.instances == 1 {
                    return Err(format!(
                        "message {id} came twice for subscription {s}, live then retained \
                         (a retained message racing a live publish)"
                    ));
                }
                // A QoS 1 retained message may come again (re-sent after a reconnect).
                if !self.retained_via.insert((s, id)) && qos != QoS::AtLeastOnce {
                    return Err(format!(
                        "retained message {id} came twice for sub {s} at {qos:?}"
                    ));
                }
            }
            return Ok(());
        }
        self.stats.deliveries += 1;
        for &s in sub_ids {
            if self.retained_via.contains(&(s, id)) && m.instances == 1 {
                return Err(format!(
                    "message {id} came twice for subscription {s}, retained then live (a \
                     retained message racing a live publish)"
                ));
            }
            self.live_via.insert((s, id));
        }
        if plain > 0 && all_no_local && client == m.publisher {
            return Err(format!(
                "message {id} came back to its publisher despite No Local"
            ));
        }
        let (publisher, t, proc_first, instances, mqos) =
            (m.publisher, m.topic, m.proc_first, m.instances, m.qos);
        let seen = match shared {
            None => {
                self.pending[client].remove(&id);
                self.seen_plain.entry((client, id)).or_default()
            }
            Some(f) => {
                self.group_pending[f].remove(&id);
                self.seen_group.entry((f, id)).or_default()
            }
        };
        seen[0] += 1;
        match qos {
            QoS::AtMostOnce => seen[1] += 1,
            QoS::ExactlyOnce => seen[2] += 1,
            QoS::AtLeastOnce => {}
        }
        let (n, at_0, at_2) = (seen[0], seen[1], seen[2]);
        if at_2 > 1 {
            return Err(format!("QoS 2 message {id} delivered {at_2} times"));
        }
        if at_0 > instances {
            return Err(format!(
                "QoS 0 delivery of message {id} (published {mqos:?}, routed {instances}x) \
                 {at_0} times"
            ));
        }
        if shared.is_none() && n == 1 {
            // [MQTT-4.6.0-5/6] per publisher, topic and QoS, in the order the broker received
            // them. (Across QoS levels the spec asks nothing: a QoS 0 message may overtake a
            // QoS 1 re-send that waits for the Receive Maximum after a resume.) A QoS 1
            // message its publisher re-sent after a reconnect was received again, later.
            let last = self.order.entry((client, publisher, t, qos)).or_insert(0);
            if proc_first < *last && instances == 1 {
                return Err(format!(
                    "out of order: message {id} from client {publisher} on {} (received tick \
                     {proc_first}) after one received at tick {last}",
                    TOPICS[t]
                ));
            }
            *last = (*last).max(proc_first);
        }
        Ok(())
    }

    /// Obligations left unmet, described (for the end-of-run check).
    pub fn missing(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (c, p) in self.pending.iter().enumerate() {
            for (&id, &mask) in p {
                let m = &self.msgs[id as usize];
                let filters: Vec<&str> = (0..FILTERS.len())
                    .filter(|f| mask & (1 << f) != 0)
                    .map(|f| FILTERS[f])
                    .collect();
                out.push(format!(
                    "client {c} never got message {id} ({} {:?} from client {}, tick {}) for {filters:?}",
                    TOPICS[m.topic], m.qos, m.publisher, m.proc_first
                ));
            }
        }
        for (f, p) in self.group_pending.iter().enumerate() {
            for &id in p {
                let m = &self.msgs[id as usize];
                out.push(format!(
                    "no member of {} got message {id} ({} {:?} from client {}, tick {})",
                    FILTERS[f], TOPICS[m.topic], m.qos, m.publisher, m.proc_first
                ));
            }
        }
        out
    }
}
