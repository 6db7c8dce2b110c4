//! The replicated map of shared groups: `(group, filter)` → member count per shard, as every
//! shard last announced it, and the whole-group choice of a member shard.

use ahash::AHashMap;
use bytestring::ByteString;
use smallvec::SmallVec;

use crate::ids::ShardId;
use crate::subscriptions::shared::{index_key, mix, scale, stable_hash};
use crate::subscriptions::{FilterTrie, ShareStrategy};

/// Where a message for a group goes first: a shard, and (for the strategies that name one
/// member) the index of that member among the shard's members as the publishing shard counts
/// them — among its online members when `online`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Choice {
    pub(crate) shard: ShardId,
    pub(crate) member: Option<u64>,
    pub(crate) online: bool,
}

/// One shard's members of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Counts {
    /// Members, online or not.
    pub(crate) members: u32,
    /// Members whose session has a connection.
    pub(crate) online: u32,
}

impl Counts {
    fn weight(self, online: bool) -> u64 {
        u64::from(if online { self.online } else { self.members })
    }
}

/// One shared subscription as the whole broker holds it.
#[derive(Debug)]
pub(crate) struct GroupView {
    pub(crate) group: ByteString,
    pub(crate) filter: ByteString,
    /// Counts of every shard with members, sorted by shard.
    counts: SmallVec<[(ShardId, Counts); 4]>,
    members: u64,
    online: u64,
    /// Next virtual member in round-robin order (taken modulo the weight total).
    cursor: u64,
    /// The shard of the sticky member.
    sticky: Option<ShardId>,
}

impl GroupView {
    fn new(group: ByteString, filter: ByteString) -> Self {
        Self {
            group,
            filter,
            counts: SmallVec::new(),
            members: 0,
            online: 0,
            cursor: 0,
            sticky: None,
        }
    }

    /// The counts of `shard`.
    pub(crate) fn counts(&self, shard: ShardId) -> Counts {
        self.counts
            .iter()
            .find(|(s, _)| *s == shard)
            .map_or(Counts::default(), |(_, c)| *c)
    }

    /// Members over all shards.
    #[cfg(test)]
    pub(crate) fn total(&self) -> u64 {
        self.members
    }

    fn set(&mut self, shard: ShardId, c: Counts) {
        let before = self.counts(shard);
        self.members = self.members - u64::from(before.members) + u64::from(c.members);
        self.online = self.online - u64::from(before.online) + u64::from(c.online);
        match self.counts.binary_search_by_key(&shard, |(s, _)| *s) {
            Ok(i) if c.members == 0 => {
                self.counts.remove(i);
            }
            Ok(i) => {
                if let Some(slot) = self.counts.get_mut(i) {
                    slot.1 = c;
                }
            }
            Err(i) if c.members > 0 => self.counts.insert(i, (shard, c)),
            Err(_) => {}
        }
    }

    /// Whether the strategy weighs shards by their online members (some member is online
    /// somewhere) rather than by all their members.
    fn by_online(&self) -> bool {
        self.online > 0
    }

    /// The shard of virtual member `v` (members numbered shard by shard, in shard order), and
    /// `v`'s index among that shard's members.
    fn locate(&self, v: u64, online: bool) -> Option<Choice> {
        let mut before = 0u64;
        for (shard, c) in &self.counts {
            let n = c.weight(online);
            if v < before + n {
                return Some(Choice {
                    shard: *shard,
                    member: Some(v - before),
                    online,
                });
            }
            before += n;
        }
        None
    }

    fn next_in_turn(&mut self, total: u64) -> u64 {
        let v = self.cursor % total.max(1);
        self.cursor = (v + 1) % total.max(1);
        v
    }

    /// Applies the strategy over the whole group: a virtual member is picked over all online
    /// members (all members when none is online) and mapped to its shard, so each shard is
    /// weighted by its member count. `None` if the group has no members.
    ///
    /// Sticky keeps the shard of the sticky member while it has members online (the member
    /// shard keeps its own sticky member); the shard that ends up taking a message the sticky
    /// shard passed on becomes the sticky shard ([`GroupView::stick`]).
    pub(crate) fn choose(
        &mut self,
        strategy: ShareStrategy,
        publisher: Option<&str>,
        seed: u64,
    ) -> Option<Choice> {
        let online = self.by_online();
        let total = if online { self.online } else { self.members };
        if total == 0 {
            return None;
        }
        let n = usize::try_from(total).unwrap_or(usize::MAX);
        let v = match strategy {
            ShareStrategy::RoundRobin => self.next_in_turn(total),
            ShareStrategy::Random => scale(mix(seed), n) as u64,
            ShareStrategy::PublisherHash => match publisher {
                Some(p) => scale(stable_hash(p), n) as u64,
                None => self.next_in_turn(total),
            },
            ShareStrategy::Sticky => {
                let shard = match self.sticky {
                    Some(s) if self.counts(s).weight(online) > 0 => s,
                    _ => {
                        let v = self.next_in_turn(total);
                        let s = self.locate(v, online)?.shard;
                        self.sticky = Some(s);
                        s
                    }
                };
                return Some(Choice {
                    shard,
                    member: None,
                    online,
                });
            }
        };
        self.locate(v, online)
    }

    /// A sticky group's message was taken on `shard`: it becomes the sticky shard.
    pub(crate) fn stick(&mut self, shard: ShardId) {
        if self.counts(shard).members > 0 {
            self.sticky = Some(shard);
        }
    }

    /// The next shard to try after `from`: in cyclic shard order, first those with online
    /// members, then those with members, skipping `from` and what `skip` excludes.
    pub(crate) fn next_after(
        &self,
        from: ShardId,
        skip: impl Fn(ShardId) -> bool,
    ) -> Option<ShardId> {
        let after = self.counts.iter().filter(|(s, _)| *s > from);
        let wrapped = self.counts.iter().filter(|(s, _)| *s < from);
        let order = || after.clone().chain(wrapped.clone());
        let online = order().find(|(s, c)| c.online > 0 && !skip(*s));
        online
            .or_else(|| order().find(|(s, _)| !skip(*s)))
            .map(|(s, _)| *s)
    }
}

/// Every shared group of the broker with its member count per shard, matched by filter.
#[derive(Debug, Default)]
pub(crate) struct ShareView {
    trie: FilterTrie<u64, ()>,
    groups: AHashMap<u64, GroupView>,
    /// `"{group}/{filter}"` → id. A group name has no `/`, so the key is unambiguous.
    index: AHashMap<Box<str>, u64>,
    next_id: u64,
}

impl ShareView {
    /// Number of groups with members somewhere.
    pub(crate) fn len(&self) -> usize {
        self.groups.len()
    }

    /// The group `group` on `filter`.
    pub(crate) fn get(&self, group: &str, filter: &str) -> Option<&GroupView> {
        let id = self.index.get(index_key(group, filter).as_str())?;
        self.groups.get(id)
    }

    /// The group `group` on `filter`, to update its routing state.
    pub(crate) fn get_mut(&mut self, group: &str, filter: &str) -> Option<&mut GroupView> {
        let id = self.index.get(index_key(group, filter).as_str())?;
        self.groups.get_mut(id)
    }

    /// Records the counts of `shard` in `group` on `filter`; returns the counts it had
    /// before. A group left with no members anywhere is forgotten.
    pub(crate) fn set(
        &mut self,
        group: &ByteString,
        filter: &ByteString,
        shard: ShardId,
        counts: Counts,
    ) -> Counts {
        let key = index_key(group, filter);
        let id = match self.index.get(key.as_str()) {
            Some(id) => *id,
            None if counts.members == 0 => return Counts::default(),
            None => {
                self.next_id += 1;
                let id = self.next_id;
                self.index.insert(key.clone().into_boxed_str(), id);
                self.trie.insert(filter, id, ());
                self.groups
                    .insert(id, GroupView::new(group.clone(), filter.clone()));
                id
            }
        };
        let Some(g) = self.groups.get_mut(&id) else {
            return Counts::default();
        };
        let before = g.counts(shard);
        g.set(shard, counts);
        if g.members == 0 {
            self.groups.remove(&id);
            self.index.remove(key.as_str());
            self.trie.remove(filter, &id);
        }
        before
    }

    /// Calls `f` with every group whose filter matches `topic`, in the trie's order.
    pub(crate) fn for_each_match(&mut self, topic: &str, mut f: impl FnMut(&mut GroupView)) {
        let groups = &mut self.groups;
        self.trie.for_each_match(topic, |id, ()| {
            if let Some(g) = groups.get_mut(id) {
                f(g);
            }
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn s(i: u16) -> ShardId {
        ShardId(i)
    }

    fn c(members: u32, online: u32) -> Counts {
        Counts { members, online }
    }

    fn view(counts: &[(u16, u32, u32)]) -> ShareView {
        let mut v = ShareView::default();
        for (shard, m, o) in counts {
            v.set(&"g".into(), &"t/+".into(), s(*shard), c(*m, *o));
        }
        v
    }

    fn picks(g: &mut GroupView, strategy: ShareStrategy, n: usize) -> Vec<(u16, u64)> {
        (0..n)
            .map(|i| g.choose(strategy, None, i as u64).unwrap())
            .map(|c| (c.shard.0, c.member.unwrap()))
            .collect()
    }

    #[test]
    fn round_robin_weights_shards_by_member_count() {
        let mut v = view(&[(2, 1, 1), (0, 2, 2)]);
        let g = v.get_mut("g", "t/+").unwrap();
        let got = picks(g, ShareStrategy::RoundRobin, 6);
        assert_eq!(got, [(0, 0), (0, 1), (2, 0), (0, 0), (0, 1), (2, 0)]);
    }

    #[test]
    fn online_members_are_weighed_while_any_is_online() {
        // Shard 0: 3 members, 1 online; shard 1: 1 member, online.
        let mut v = view(&[(0, 3, 1), (1, 1, 1)]);
        let g = v.get_mut("g", "t/+").unwrap();
        assert_eq!(
            picks(g, ShareStrategy::RoundRobin, 4),
            [(0, 0), (1, 0), (0, 0), (1, 0)]
        );
        assert!(g.choose(ShareStrategy::RoundRobin, None, 0).unwrap().online);
        // Nobody online: every member counts (a persistent one may queue).
        g.set(s(0), c(3, 0));
        g.set(s(1), c(1, 0));
        let choice = g.choose(ShareStrategy::RoundRobin, None, 0).unwrap();
        assert!(!choice.online);
        let got = picks(g, ShareStrategy::RoundRobin, 4);
        assert_eq!(got.iter().filter(|(sh, _)| *sh == 0).count(), 3, "{got:?}");
    }

    #[test]
    fn random_and_publisher_hash_cover_members_in_proportion() {
        let mut v = view(&[(0, 3, 3), (1, 1, 1)]);
        let g = v.get_mut("g", "t/+").unwrap();
        let mut per_shard = [0u32; 2];
        for seed in 0..4000u64 {
            let c = g.choose(ShareStrategy::Random, None, seed).unwrap();
            per_shard[usize::from(c.shard.0)] += 1;
        }
        assert!((2800..3200).contains(&per_shard[0]), "{per_shard:?}");
        let a = g.choose(ShareStrategy::PublisherHash, Some("p-1"), 1);
        for seed in 0..20 {
            assert_eq!(g.choose(ShareStrategy::PublisherHash, Some("p-1"), seed), a);
        }
    }

    #[test]
    fn sticky_keeps_its_shard_while_it_has_online_members() {
        let mut v = view(&[(0, 1, 1), (1, 1, 1)]);
        let g = v.get_mut("g", "t/+").unwrap();
        let first = g.choose(ShareStrategy::Sticky, None, 0).unwrap().shard;
        for _ in 0..5 {
            assert_eq!(
                g.choose(ShareStrategy::Sticky, None, 0).unwrap().shard,
                first
            );
        }
        let other = if first == s(0) { s(1) } else { s(0) };
        g.stick(other);
        assert_eq!(
            g.choose(ShareStrategy::Sticky, None, 0).unwrap().shard,
            other
        );
        g.set(other, c(1, 0));
        assert_eq!(
            g.choose(ShareStrategy::Sticky, None, 0).unwrap().shard,
            first
        );
    }

    #[test]
    fn next_after_prefers_online_wraps_and_skips() {
        let v = view(&[(0, 1, 1), (2, 4, 0), (5, 1, 1)]);
        let g = v.get("g", "t/+").unwrap();
        assert_eq!(g.next_after(s(0), |_| false), Some(s(5)));
        assert_eq!(g.next_after(s(5), |_| false), Some(s(0)));
        assert_eq!(g.next_after(s(3), |x| x == s(5)), Some(s(0)));
        assert_eq!(g.next_after(s(0), |x| x == s(5)), Some(s(2)));
        assert_eq!(g.next_after(s(0), |x| x != s(0)), None);
    }

    #[test]
    fn counts_replace_and_empty_groups_are_forgotten() {
        let mut v = view(&[(0, 2, 2), (1, 1, 0)]);
        assert_eq!(v.get("g", "t/+").unwrap().total(), 3);
        let before = v.set(&"g".into(), &"t/+".into(), s(0), c(1, 1));
        assert_eq!(before, c(2, 2));
        assert_eq!(v.get("g", "t/+").unwrap().total(), 2);
        v.set(&"g".into(), &"t/+".into(), s(0), c(0, 0));
        v.set(&"g".into(), &"t/+".into(), s(1), c(0, 0));
        assert_eq!(v.len(), 0);
        assert_eq!(v.trie.node_count(), 0);
        let mut hits = 0;
        v.for_each_match("t/x", |_| hits += 1);
        assert_eq!(hits, 0);
    }
}
