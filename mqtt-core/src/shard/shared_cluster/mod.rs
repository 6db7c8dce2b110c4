//! Shared subscriptions across shards (MQTT 5 §4.8.2): the replicated map of member counts,
//! the whole-group choice on the publishing shard, and the hand-off between member shards
//! until one of them can take the message.
//!
//! Each shard keeps its own members in `Shard::shared` and announces its counts for a group
//! (members, and members online) to every other shard whenever they change: join, leave,
//! session end, a member's session connecting or losing its connection. Every shard thus
//! holds a [`ShareView`]: group → counts per shard. A PUBLISH is matched against the view on
//! the publishing shard, which applies the strategy over all members of the group (those
//! online, while any is) and sends the message to the chosen member's shard
//! ([`ShareMsg::Deliver`]). That shard
//! picks a local member; if none can take the message it passes it to the next member shard
//! not yet tried. When every member shard has been tried, a second round looks for a member
//! that can queue it (an offline persistent session, a stuck reader) before it is dropped and
//! counted. With one shard, none of this runs: the local groups are the whole groups.

mod view;

use bytestring::ByteString;
use mqtt_proto::topic::parse_filter;
use mqtt_proto::QoS;
use smallvec::SmallVec;

use view::Counts;
pub(crate) use view::ShareView;

use super::{Connection, Shard, ShardMsgInner};
use crate::auth::{Acl, Action};
use crate::ids::{ConnId, SessionId, ShardId};
use crate::message::SharedMessage;
use crate::session::{Delivery, Session, SubEntry};
use crate::subscriptions::{ShareStrategy, SharedGroup};
use crate::time::Timestamp;

/// Cross-shard messages about shared subscriptions.
#[derive(Debug, Clone)]
pub(crate) enum ShareMsg {
    /// The sender's members of `group` on `filter` now.
    Count {
        group: ByteString,
        filter: ByteString,
        counts: Counts,
    },
    /// A message for one member of a group.
    Deliver(Box<ShareDeliver>),
    /// A sticky group's message was taken on the sender: make it the sticky shard.
    Stick {
        group: ByteString,
        filter: ByteString,
    },
}

/// A message on its way to one member of a group, from shard to shard.
#[derive(Debug, Clone)]
pub(crate) struct ShareDeliver {
    group: ByteString,
    filter: ByteString,
    msg: SharedMessage,
    /// The publishing shard.
    origin: ShardId,
    /// The shard the publishing shard chose.
    first: ShardId,
    /// The member the strategy chose, as its index among `first`'s members (its online
    /// members, with `online`).
    member: Option<u64>,
    online: bool,
    /// Shards already asked in this round.
    tried: ShardSet,
    /// Second round: a member that can queue the message is enough.
    queue: bool,
}

/// A set of shards (a bit per shard).
#[derive(Debug, Clone, Default)]
struct ShardSet(SmallVec<[u64; 1]>);

impl ShardSet {
    fn insert(&mut self, s: ShardId) {
        let word = usize::from(s.0 / 64);
        if self.0.len() <= word {
            self.0.resize(word + 1, 0);
        }
        if let Some(w) = self.0.get_mut(word) {
            *w |= 1 << (s.0 % 64);
        }
    }

    fn contains(&self, s: ShardId) -> bool {
        self.0
            .get(usize::from(s.0 / 64))
            .is_some_and(|w| w & (1 << (s.0 % 64)) != 0)
    }
}

/// What a member must be able to do with a message to be picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Take {
    /// Send it now: connected, room in its output buffer and queue, allowed by the ACL.
    Now,
    /// Hold it: connected or persistent, room in its queue, allowed by the ACL, and the
    /// delivery is QoS 1/2 (an offline session holds no QoS 0).
    Queue,
}

/// The local facts a member's ability to take a message depends on.
struct Takers<'a> {
    sessions: &'a ahash::AHashMap<SessionId, Box<Session>>,
    conns: &'a ahash::AHashMap<ConnId, Box<Connection>>,
    acl: &'a dyn Acl,
    max_queued: usize,
    max_buffer: usize,
    msg: &'a SharedMessage,
}

impl Takers<'_> {
    fn can_take(&self, sid: SessionId, entry: &SubEntry, how: Take) -> bool {
        let Some(s) = self.sessions.get(&sid) else {
            return false;
        };
        // A member the ACL would refuse at delivery cannot take it (bad-inputs row 26).
        let may_take = || {
            s.queue.len() < self.max_queued
                && self.acl.check(
                    &s.client,
                    Action::Receive {
                        topic: &self.msg.topic,
                    },
                )
        };
        match how {
            // A stuck reader (output buffer full) is passed over.
            Take::Now => {
                s.conn
                    .and_then(|c| self.conns.get(&c))
                    .is_some_and(|c| c.tx.len() < self.max_buffer)
                    && may_take()
            }
            Take::Queue => {
                self.msg.qos.min(entry.options.qos) != QoS::AtMostOnce
                    && (s.conn.is_some() || s.expiry_interval > 0)
                    && may_take()
            }
        }
    }

    /// The index in `g` of its `k`-th member (modulo), counting only connected members if
    /// `online` (as the publishing shard counted them).
    fn position(&self, g: &SharedGroup<SessionId, SubEntry>, k: u64, online: bool) -> usize {
        let connected = |sid: &SessionId| self.sessions.get(sid).is_some_and(|s| s.conn.is_some());
        let n = if online {
            g.iter().filter(|(sid, _)| connected(sid)).count()
        } else {
            g.len()
        };
        let Some(k) = u64::try_from(n).ok().filter(|n| *n > 0).map(|n| k % n) else {
            return 0;
        };
        let k = usize::try_from(k).unwrap_or(0);
        if !online {
            return k;
        }
        g.iter()
            .enumerate()
            .filter(|(_, (sid, _))| connected(sid))
            .nth(k)
            .map_or(0, |(i, _)| i)
    }

    /// A member of `g` that can take the message: from member index `start` if given, else
    /// by the strategy, passing over those that cannot to the following ones.
    fn pick(
        &self,
        g: &mut SharedGroup<SessionId, SubEntry>,
        how: Take,
        start: Option<usize>,
        strategy: ShareStrategy,
        seed: u64,
    ) -> Option<(SessionId, SubEntry)> {
        let ok = |sid: &SessionId, e: &SubEntry| self.can_take(*sid, e, how);
        let publisher = self.msg.publisher.as_deref();
        match start {
            Some(i) => g.pick_from(i, ok),
            None => g.pick(strategy, publisher, seed, ok),
        }
        .map(|(k, v)| (k, *v))
    }
}

/// The copy a picked member receives.
fn delivery(msg: &SharedMessage, entry: &SubEntry) -> Delivery {
    Delivery {
        msg: msg.clone(),
        qos: msg.qos.min(entry.options.qos),
        retain: entry.options.retain_as_published && msg.retain,
        sub_ids: entry.sub_id.into_iter().collect(),
    }
}

/// The outcome of routing a message to the shared groups that match it.
#[derive(Debug, Default)]
pub(crate) struct SharedRoute {
    /// Members of this shard picked, with their copies (delivered by the caller).
    pub(crate) local: SmallVec<[(SessionId, Delivery); 2]>,
    /// Groups whose message went to another shard.
    pub(crate) sent: usize,
}

/// Where a group's message ended on one shard.
enum Arrival {
    Placed(SessionId, Delivery),
    Passed,
    Dropped,
}

impl Shard {
    /// A local member joined or left `group` on `filter`, or a member's session gained or
    /// lost its connection: records this shard's counts and announces them to every other
    /// shard if they changed. Returns whether a SUBACK for the change must wait until every
    /// shard has applied it: when this shard had no member before, or while an earlier
    /// barrier is still out (it may be the one announcing this group).
    pub(crate) fn share_members_changed(&mut self, group: &str, filter: &str) -> bool {
        if self.shard_count <= 1 {
            return false;
        }
        let counts = self
            .shared
            .group(group, filter)
            .map_or(Counts::default(), |g| {
                let online = g
                    .iter()
                    .filter(|(sid, _)| self.sessions.get(sid).is_some_and(|s| s.conn.is_some()))
                    .count();
                Counts {
                    members: u32::try_from(g.len()).unwrap_or(u32::MAX),
                    online: u32::try_from(online).unwrap_or(u32::MAX),
                }
            });
        let group = ByteString::from(group);
        let filter = ByteString::from(filter);
        let before = self.share_view.set(&group, &filter, self.id, counts);
        if before == counts {
            // A re-subscribe changes no count, but an earlier announcement may still be on
            // its way (its SUBACK lost with its connection): wait for it as well (found by
            // the simulation, seed 62 on 3 shards).
            return self.subscribe_barriers_in_progress() > 0;
        }
        self.broadcast_peer(ShardMsgInner::Share(ShareMsg::Count {
            group,
            filter,
            counts,
        }));
        (before.members == 0 && counts.members > 0) || self.subscribe_barriers_in_progress() > 0
    }

    /// Session `sid` gained or lost its connection: the online counts of its groups change.
    pub(crate) fn share_online_changed(&mut self, sid: SessionId) {
        if self.shard_count <= 1 || self.shared.is_empty() {
            return;
        }
        let Some(s) = self.sessions.get(&sid) else {
            return;
        };
        let mut groups: SmallVec<[(ByteString, ByteString); 2]> = s
            .subscriptions
            .keys()
            .filter(|f| f.starts_with("$share/"))
            .filter_map(|f| {
                let p = parse_filter(f, usize::MAX).ok()?;
                Some((ByteString::from(p.share_group?), ByteString::from(p.filter)))
            })
            .collect();
        // Announced in a fixed order, whatever the hash map's.
        groups.sort_unstable();
        for (group, filter) in groups {
            self.share_members_changed(&group, &filter);
        }
    }

    /// Routes a message published on this shard to every matching shared group: one member
    /// per group over the whole broker. Members picked here are returned for the caller to
    /// deliver after the plain subscribers, in the order groups matched.
    pub(crate) fn route_shared(&mut self, msg: &SharedMessage, now: Timestamp) -> SharedRoute {
        let seed = self.next_random();
        if self.shard_count <= 1 {
            return self.route_shared_here(msg, seed);
        }
        let strategy = self.config.share_strategy;
        let publisher = msg.publisher.as_deref();
        let mut chosen: SmallVec<[(ByteString, ByteString, view::Choice); 2]> = SmallVec::new();
        self.share_view.for_each_match(&msg.topic, |g| {
            if let Some(c) = g.choose(strategy, publisher, seed) {
                chosen.push((g.group.clone(), g.filter.clone(), c));
            }
        });
        let mut out = SharedRoute::default();
        for (group, filter, c) in chosen {
            let sd = ShareDeliver {
                group,
                filter,
                msg: msg.clone(),
                origin: self.id,
                first: c.shard,
                member: c.member,
                online: c.online,
                tried: ShardSet::default(),
                queue: false,
            };
            if c.shard != self.id {
                self.send_peer(
                    c.shard,
                    ShardMsgInner::Share(ShareMsg::Deliver(Box::new(sd))),
                );
                out.sent += 1;
                continue;
            }
            match self.share_arrive(sd, now) {
                Arrival::Placed(sid, d) => out.local.push((sid, d)),
                Arrival::Passed => out.sent += 1,
                Arrival::Dropped => {}
            }
        }
        out
    }

    /// One shard: each matching local group picks a member that can take the message now,
    /// else one that can queue it, else the message is dropped for that group and counted.
    fn route_shared_here(&mut self, msg: &SharedMessage, seed: u64) -> SharedRoute {
        // No shared subscription at all (the common case): no walk of the empty table.
        if self.shared.is_empty() {
            return SharedRoute::default();
        }
        let strategy = self.config.share_strategy;
        let takers = Takers {
            sessions: &self.sessions,
            conns: &self.conns,
            acl: &*self.acl,
            max_queued: self.config.max_queued_messages,
            max_buffer: self.config.max_outbound_buffer,
            msg,
        };
        let mut out = SharedRoute::default();
        let mut unplaced = 0u64;
        self.shared.for_each_matching_group(&msg.topic, |_, g| {
            let picked = takers
                .pick(g, Take::Now, None, strategy, seed)
                .or_else(|| takers.pick(g, Take::Queue, None, strategy, seed));
            match picked {
                Some((sid, entry)) => out.local.push((sid, delivery(msg, &entry))),
                None => unplaced += 1,
            }
        });
        self.stats.dropped += unplaced;
        out
    }

    /// A group's message reached this shard (from the publishing shard, another member
    /// shard, or this one): a local member takes it, or it goes on to the next member shard
    /// not yet tried; after every member shard, a second round for a member that can queue
    /// it; after that it is dropped and counted.
    fn share_arrive(&mut self, mut sd: ShareDeliver, now: Timestamp) -> Arrival {
        loop {
            sd.tried.insert(self.id);
            let how = if sd.queue { Take::Queue } else { Take::Now };
            let start = sd.member.take();
            if let Some((sid, entry)) = self.share_pick_here(&sd, how, start) {
                if self.config.share_strategy == ShareStrategy::Sticky && sd.first != self.id {
                    self.share_stick(&sd);
                }
                return Arrival::Placed(sid, delivery(&sd.msg, &entry));
            }
            let me = self.id;
            let next = self
                .share_view
                .get(&sd.group, &sd.filter)
                .and_then(|g| g.next_after(me, |s| sd.tried.contains(s)));
            match next {
                Some(to) => {
                    self.send_peer(to, ShardMsgInner::Share(ShareMsg::Deliver(Box::new(sd))));
                    return Arrival::Passed;
                }
                None if !sd.queue && sd.msg.qos != QoS::AtMostOnce && !sd.msg.is_expired(now) => {
                    sd.queue = true;
                    sd.tried = ShardSet::default();
                }
                None => {
                    // No member anywhere could take it.
                    self.stats.dropped += 1;
                    return Arrival::Dropped;
                }
            }
        }
    }

    /// A local member of the group that can take the message `how`, trying first the one
    /// the publishing shard chose (`start`, counted among online members if `sd.online`).
    fn share_pick_here(
        &mut self,
        sd: &ShareDeliver,
        how: Take,
        start: Option<u64>,
    ) -> Option<(SessionId, SubEntry)> {
        let seed = self.next_random();
        let strategy = self.config.share_strategy;
        let takers = Takers {
            sessions: &self.sessions,
            conns: &self.conns,
            acl: &*self.acl,
            max_queued: self.config.max_queued_messages,
            max_buffer: self.config.max_outbound_buffer,
            msg: &sd.msg,
        };
        let g = self.shared.group_mut(&sd.group, &sd.filter)?;
        let start = start.map(|k| takers.position(g, k, sd.online));
        takers.pick(g, how, start, strategy, seed)
    }

    /// A sticky group's message was taken here rather than where the publishing shard sent
    /// it: this shard becomes the group's sticky shard there.
    fn share_stick(&mut self, sd: &ShareDeliver) {
        if sd.origin == self.id {
            if let Some(g) = self.share_view.get_mut(&sd.group, &sd.filter) {
                g.stick(self.id);
            }
        } else {
            let msg = ShareMsg::Stick {
                group: sd.group.clone(),
                filter: sd.filter.clone(),
            };
            self.send_peer(sd.origin, ShardMsgInner::Share(msg));
        }
    }

    /// A shared-subscription message from shard `from`.
    pub(crate) fn handle_share(&mut self, from: ShardId, msg: ShareMsg, now: Timestamp) {
        match msg {
            ShareMsg::Count {
                group,
                filter,
                counts,
            } => {
                self.share_view.set(&group, &filter, from, counts);
            }
            ShareMsg::Deliver(sd) => {
                if let Arrival::Placed(sid, d) = self.share_arrive(*sd, now) {
                    self.deliver(sid, d, now);
                }
            }
            ShareMsg::Stick { group, filter } => {
                if let Some(g) = self.share_view.get_mut(&group, &filter) {
                    g.stick(from);
                }
            }
        }
    }

    /// Shared groups with members somewhere in the broker, as this shard knows them.
    pub fn shared_group_view_count(&self) -> usize {
        self.share_view.len()
    }
}
