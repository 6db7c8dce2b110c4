//! Shared subscriptions: `$share/{group}/{filter}` groups and the choice of one member per
//! message (MQTT 5 §4.8.2).

use std::collections::HashMap;
use std::hash::Hash;

use super::trie::FilterTrie;
use super::HashSeed;

/// How a shared group picks the member that receives a message.
///
/// Whatever the strategy, a member that cannot take the message is passed over for the next
/// one in order, so a message is never dropped while any member could take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ShareStrategy {
    /// Each member in turn, in the order they joined.
    #[default]
    RoundRobin,
    /// A member chosen from the caller's seed.
    Random,
    /// A member chosen by a stable hash of the publisher's client id, so one publisher's
    /// messages go to one member while the group is unchanged. Messages without a publisher
    /// (made by the broker) go round robin.
    PublisherHash,
    /// The same member as last time while it can take messages; when it cannot, the next one
    /// available becomes the sticky member.
    Sticky,
}

/// The members of one shared subscription, in the order they joined.
///
/// Lookups by key scan the members, which suits groups of up to a few thousand members;
/// picking a member is O(1) unless members must be skipped.
#[derive(Debug, Clone)]
pub struct SharedGroup<K, V> {
    members: Vec<(K, V)>,
    /// Index of the next member in round-robin order (taken modulo the member count).
    cursor: usize,
    /// Index of the sticky member.
    sticky: Option<usize>,
}

impl<K, V> Default for SharedGroup<K, V> {
    fn default() -> Self {
        Self {
            members: Vec::new(),
            cursor: 0,
            sticky: None,
        }
    }
}

/// SplitMix64's finaliser: spreads a counter or weak seed over all 64 bits.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A hash of a client id that is the same on every build and machine (FNV-1a, then mixed).
pub(crate) fn stable_hash(s: &str) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in s.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3);
    }
    mix(h)
}

/// Maps a uniform 64-bit value onto `0..n` without modulo bias from the low bits.
pub(crate) fn scale(x: u64, n: usize) -> usize {
    usize::try_from((u128::from(x) * n as u128) >> 64).unwrap_or(0)
}

impl<K: Copy + Eq, V> SharedGroup<K, V> {
    /// An empty group.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the group has no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    fn position(&self, key: &K) -> Option<usize> {
        self.members.iter().position(|(k, _)| k == key)
    }

    /// The value stored for member `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.members.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The members in the order they joined.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.members.iter().map(|(k, v)| (k, v))
    }

    /// Adds member `key`, or replaces its value in place [MQTT-3.8.4-3], returning the old one.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        if let Some((_, slot)) = self.members.iter_mut().find(|(k, _)| *k == key) {
            return Some(core::mem::replace(slot, value));
        }
        self.members.push((key, value));
        None
    }

    /// Removes member `key`, returning its value. The round-robin order of the others holds.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let pos = self.position(key)?;
        let (_, value) = self.members.remove(pos);
        if pos < self.cursor {
            self.cursor -= 1;
        }
        self.sticky = match self.sticky {
            Some(s) if s == pos => None,
            Some(s) if s > pos => Some(s - 1),
            other => other,
        };
        if self.members.is_empty() {
            *self = Self::default();
        }
        Some(value)
    }

    /// Chooses the member that receives a message.
    ///
    /// The strategy names a first choice; if `available` refuses it (offline, receive quota
    /// full), the following members are tried in order, wrapping around, and the first one
    /// available is returned. `None` means no member is available. `seed` drives
    /// [`ShareStrategy::Random`] (the core has no RNG: the shard supplies it, and a plain
    /// counter is fine); `publisher` is the publishing client id for
    /// [`ShareStrategy::PublisherHash`].
    pub fn pick(
        &mut self,
        strategy: ShareStrategy,
        publisher: Option<&str>,
        seed: u64,
        mut available: impl FnMut(&K, &V) -> bool,
    ) -> Option<(K, &V)> {
        let n = self.members.len();
        if n == 0 {
            return None;
        }
        let next_in_turn = self.cursor % n;
        let start = match strategy {
            ShareStrategy::RoundRobin => next_in_turn,
            ShareStrategy::Random => scale(mix(seed), n),
            ShareStrategy::PublisherHash => {
                publisher.map_or(next_in_turn, |p| scale(stable_hash(p), n))
            }
            ShareStrategy::Sticky => self.sticky.filter(|&s| s < n).unwrap_or(next_in_turn),
        };
        let chosen = (0..n)
            .map(|offset| (start + offset) % n)
            .find(|&i| self.members.get(i).is_some_and(|(k, v)| available(k, v)))?;
        let takes_turn = match strategy {
            ShareStrategy::RoundRobin | ShareStrategy::Sticky => true,
            ShareStrategy::PublisherHash => publisher.is_none(),
            ShareStrategy::Random => false,
        };
        if takes_turn {
            self.cursor = (chosen + 1) % n;
        }
        if strategy == ShareStrategy::Sticky {
            self.sticky = Some(chosen);
        }
        self.members.get(chosen).map(|(k, v)| (*k, v))
    }

    /// Chooses a member starting from the one at `start` (modulo the member count), passing
    /// over those `available` refuses to the following ones in order. The group's turn and
    /// sticky member are left as they are: the caller applied the strategy already (over the
    /// whole broker, when members sit on several shards).
    pub fn pick_from(
        &self,
        start: usize,
        mut available: impl FnMut(&K, &V) -> bool,
    ) -> Option<(K, &V)> {
        let n = self.members.len();
        (0..n)
            .filter_map(|offset| self.members.get((start % n + offset) % n))
            .find(|(k, v)| available(k, v))
            .map(|(k, v)| (*k, v))
    }
}

/// Index of a group in [`SharedSubscriptions`]'s slab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct GroupId(usize);

#[derive(Debug)]
struct GroupSlot<K, V> {
    name: Box<str>,
    filter: Box<str>,
    group: SharedGroup<K, V>,
}

/// The `$share/{group}/{filter}` subscriptions of one shard, matched by filter.
///
/// Each (group, filter) pair is one shared subscription with its own members, independent of
/// a plain subscription to the same filter and of the same group on other filters
/// (bad-inputs row 29). Groups live in a slab; the trie maps each filter to the groups on it.
/// Takes the group name and filter proper as [`mqtt_proto::topic::parse_filter`] splits them
/// out of an already-validated `$share/…` filter.
#[derive(Debug)]
pub struct SharedSubscriptions<K, V> {
    trie: FilterTrie<GroupId, ()>,
    slots: Vec<Option<GroupSlot<K, V>>>,
    free: Vec<GroupId>,
    /// `"{group}/{filter}"` → slot. A group name has no `/`, so the key is unambiguous.
    index: HashMap<Box<str>, GroupId, HashSeed>,
    seed: HashSeed,
    members: usize,
}

impl<K: Copy + Eq, V> Default for SharedSubscriptions<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

/// The `"{group}/{filter}"` key of a shared group (a group name has no `/`).
pub(crate) fn index_key(group: &str, filter: &str) -> String {
    let mut key = String::with_capacity(group.len() + 1 + filter.len());
    key.push_str(group);
    key.push('/');
    key.push_str(filter);
    key
}

impl<K: Copy + Eq, V> SharedSubscriptions<K, V> {
    /// An empty table with the fixed default hash seed.
    pub fn new() -> Self {
        Self::with_hasher(HashSeed::default())
    }

    /// An empty table whose hash maps are keyed by `seed` (see [`FilterTrie::with_seed`]).
    pub fn with_seed(seed: u64) -> Self {
        Self::with_hasher(HashSeed::new(seed))
    }

    fn with_hasher(seed: HashSeed) -> Self {
        Self {
            trie: FilterTrie::with_hasher(seed),
            slots: Vec::new(),
            free: Vec::new(),
            index: HashMap::with_hasher(seed),
            seed,
            members: 0,
        }
    }

    /// Number of groups, each a (group name, filter) pair with at least one member.
    pub fn group_count(&self) -> usize {
        self.index.len()
    }

    /// Number of memberships over all groups.
    pub fn len(&self) -> usize {
        self.members
    }

    /// Whether there are no shared subscriptions.
    pub fn is_empty(&self) -> bool {
        self.members == 0
    }

    /// Trie nodes held (0 when empty).
    pub fn node_count(&self) -> usize {
        self.trie.node_count()
    }

    /// The group `group` on exactly `filter`.
    pub fn group(&self, group: &str, filter: &str) -> Option<&SharedGroup<K, V>> {
        let id = self.index.get(index_key(group, filter).as_str())?;
        Some(&self.slots.get(id.0)?.as_ref()?.group)
    }

    /// The group `group` on exactly `filter`, to pick a member.
    pub fn group_mut(&mut self, group: &str, filter: &str) -> Option<&mut SharedGroup<K, V>> {
        let id = self.index.get(index_key(group, filter).as_str())?;
        Some(&mut self.slots.get_mut(id.0)?.as_mut()?.group)
    }

    /// Adds `key` to group `group` on `filter`, or replaces its value [MQTT-3.8.4-3].
    pub fn subscribe(&mut self, group: &str, filter: &str, key: K, value: V) -> Option<V> {
        let index_key = index_key(group, filter);
        let id = match self.index.get(index_key.as_str()) {
            Some(&id) => id,
            None => {
                let slot = GroupSlot {
                    name: Box::from(group),
                    filter: Box::from(filter),
                    group: SharedGroup::new(),
                };
                let id = self.allocate(slot);
                self.index.insert(index_key.into_boxed_str(), id);
                self.trie.insert(filter, id, ());
                id
            }
        };
        let slot = self.slots.get_mut(id.0)?.as_mut()?;
        let previous = slot.group.insert(key, value);
        if previous.is_none() {
            self.members += 1;
        }
        previous
    }

    fn allocate(&mut self, slot: GroupSlot<K, V>) -> GroupId {
        if let Some(id) = self.free.pop() {
            if let Some(free) = self.slots.get_mut(id.0) {
                *free = Some(slot);
                return id;
            }
        }
        self.slots.push(Some(slot));
        GroupId(self.slots.len() - 1)
    }

    /// Removes `key` from group `group` on `filter`, returning its value. A group left empty
    /// is removed and its trie path pruned.
    pub fn unsubscribe(&mut self, group: &str, filter: &str, key: &K) -> Option<V> {
        let index_key = index_key(group, filter);
        let id = *self.index.get(index_key.as_str())?;
        let slot = self.slots.get_mut(id.0)?.as_mut()?;
        let removed = slot.group.remove(key)?;
        self.members -= 1;
        if slot.group.is_empty() {
            self.index.remove(index_key.as_str());
            self.trie.remove(filter, &id);
            if let Some(slot) = self.slots.get_mut(id.0) {
                *slot = None;
            }
            self.free.push(id);
            if self.index.is_empty() {
                // Back to baseline: no slab, free list or index capacity kept.
                self.slots = Vec::new();
                self.free = Vec::new();
                self.index = HashMap::with_hasher(self.seed);
            }
        }
        Some(removed)
    }

    /// Calls `f` with the name and members of every group whose filter matches `topic`.
    ///
    /// A group is one shared subscription, so each receives the message once; the caller picks
    /// a member with [`SharedGroup::pick`], which needs `&mut` for its round-robin turn.
    pub fn for_each_matching_group(
        &mut self,
        topic: &str,
        mut f: impl FnMut(&str, &mut SharedGroup<K, V>),
    ) {
        self.for_each_match(topic, |group, _, members| f(group, members));
    }

    /// As [`for_each_matching_group`](Self::for_each_matching_group), also passing the filter.
    pub fn for_each_match(
        &mut self,
        topic: &str,
        mut f: impl FnMut(&str, &str, &mut SharedGroup<K, V>),
    ) {
        let slots = &mut self.slots;
        self.trie.for_each_match(topic, |id, ()| {
            if let Some(Some(slot)) = slots.get_mut(id.0) {
                f(&slot.name, &slot.filter, &mut slot.group);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscriptions::FilterTrie;

    fn group(n: u32) -> SharedGroup<u32, char> {
        let mut g = SharedGroup::new();
        for k in 0..n {
            g.insert(k, char::from(b'a' + k as u8));
        }
        g
    }

    fn pick_n(g: &mut SharedGroup<u32, char>, s: ShareStrategy, n: usize) -> Vec<u32> {
        (0..n)
            .map(|i| g.pick(s, None, i as u64, |_, _| true).unwrap().0)
            .collect()
    }

    #[test]
    fn round_robin_cycles_members_in_join_order() {
        let mut g = group(3);
        assert_eq!(
            pick_n(&mut g, ShareStrategy::RoundRobin, 7),
            [0, 1, 2, 0, 1, 2, 0]
        );
        assert_eq!(
            g.pick(ShareStrategy::RoundRobin, None, 0, |_, _| true),
            Some((1, &'b'))
        );
    }

    #[test]
    fn round_robin_order_survives_joins_and_leaves() {
        let mut g = group(4);
        assert_eq!(pick_n(&mut g, ShareStrategy::RoundRobin, 2), [0, 1]);
        g.remove(&0); // next is still 2
        assert_eq!(pick_n(&mut g, ShareStrategy::RoundRobin, 1), [2]);
        g.remove(&3); // next wraps to 1
        g.insert(9, 'z');
        assert_eq!(pick_n(&mut g, ShareStrategy::RoundRobin, 4), [9, 1, 2, 9]);
    }

    #[test]
    fn unavailable_member_passed_to_next_for_every_strategy() {
        for s in [
            ShareStrategy::RoundRobin,
            ShareStrategy::Random,
            ShareStrategy::PublisherHash,
            ShareStrategy::Sticky,
        ] {
            let mut g = group(5);
            for seed in 0..50u64 {
                let (k, _) = g.pick(s, Some("pub"), seed, |k, _| *k == 3).unwrap();
                assert_eq!(k, 3, "{s:?}");
                let (k, _) = g.pick(s, Some("pub"), seed, |k, _| k % 2 == 1).unwrap();
                assert!(k % 2 == 1, "{s:?}");
            }
        }
    }

    #[test]
    fn fallback_tries_following_members_in_order() {
        let mut g = group(4);
        // Turn is on 0; 0 and 1 are busy, so 2 takes it and the turn moves to 3.
        let got = g.pick(ShareStrategy::RoundRobin, None, 0, |k, _| *k >= 2);
        assert_eq!(got, Some((2, &'c')));
        assert_eq!(pick_n(&mut g, ShareStrategy::RoundRobin, 2), [3, 0]);
    }

    #[test]
    fn none_only_when_no_member_available() {
        let mut g = group(3);
        for s in [ShareStrategy::RoundRobin, ShareStrategy::Sticky] {
            assert_eq!(g.pick(s, None, 1, |_, _| false), None);
        }
        let mut asked = Vec::new();
        g.pick(ShareStrategy::Random, None, 7, |k, _| {
            asked.push(*k);
            false
        });
        asked.sort_unstable();
        assert_eq!(asked, [0, 1, 2], "every member is asked once");
        let mut empty: SharedGroup<u32, ()> = SharedGroup::new();
        assert_eq!(
            empty.pick(ShareStrategy::RoundRobin, None, 0, |_, _| true),
            None
        );
    }

    #[test]
    fn sticky_keeps_member_while_available() {
        let mut g = group(3);
        assert_eq!(pick_n(&mut g, ShareStrategy::Sticky, 4), [0, 0, 0, 0]);
        let got = g.pick(ShareStrategy::Sticky, None, 0, |k, _| *k != 0);
        assert_eq!(got.map(|p| p.0), Some(1));
        assert_eq!(pick_n(&mut g, ShareStrategy::Sticky, 3), [1, 1, 1]);
        g.remove(&1);
        assert_eq!(pick_n(&mut g, ShareStrategy::Sticky, 2), [2, 2]);
        g.remove(&0); // index shift keeps the sticky member
        assert_eq!(pick_n(&mut g, ShareStrategy::Sticky, 2), [2, 2]);
    }

    #[test]
    fn publisher_hash_is_stable() {
        let mut g = group(8);
        let mut h = group(8);
        for publisher in ["a", "client-1", "sensor/7", ""] {
            let first = g.pick(ShareStrategy::PublisherHash, Some(publisher), 0, |_, _| {
                true
            });
            let first = first.unwrap().0;
            for seed in 0..20 {
                let again = g.pick(
                    ShareStrategy::PublisherHash,
                    Some(publisher),
                    seed,
                    |_, _| true,
                );
                assert_eq!(again.unwrap().0, first);
                let other = h.pick(ShareStrategy::PublisherHash, Some(publisher), 99, |_, _| {
                    true
                });
                assert_eq!(other.unwrap().0, first);
            }
        }
        // Pinned across builds and machines: FNV-1a("a") is the published test vector.
        assert_eq!(stable_hash("a"), mix(0xAF63_DC4C_8601_EC8C));
        let spread: std::collections::HashSet<u32> = (0..200)
            .map(|i| {
                let p = format!("client-{i}");
                g.pick(ShareStrategy::PublisherHash, Some(&p), 0, |_, _| true)
                    .unwrap()
                    .0
            })
            .collect();
        assert_eq!(spread.len(), 8);
    }

    #[test]
    fn random_follows_the_seed_and_covers_members() {
        let mut g = group(5);
        let a = g
            .pick(ShareStrategy::Random, None, 42, |_, _| true)
            .unwrap()
            .0;
        let b = g
            .pick(ShareStrategy::Random, None, 42, |_, _| true)
            .unwrap()
            .0;
        assert_eq!(a, b);
        let mut seen = pick_n(&mut g, ShareStrategy::Random, 100);
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(
            seen,
            [0, 1, 2, 3, 4],
            "a plain counter seed reaches every member"
        );
    }

    #[test]
    fn resubscribe_replaces_in_place_mqtt_3_8_4_3() {
        let mut s = SharedSubscriptions::new();
        assert_eq!(s.subscribe("g", "t/+", 1u32, 'a'), None);
        assert_eq!(s.subscribe("g", "t/+", 2, 'b'), None);
        assert_eq!(s.subscribe("g", "t/+", 1, 'c'), Some('a'));
        assert_eq!(s.len(), 2);
        let members: Vec<_> = s
            .group("g", "t/+")
            .unwrap()
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect();
        assert_eq!(members, [(1, 'c'), (2, 'b')]);
    }

    #[test]
    fn groups_matched_once_each_and_cursors_persist_mqtt_4_8_2() {
        let mut s = SharedSubscriptions::new();
        s.subscribe("g1", "t/+", 1u32, ());
        s.subscribe("g1", "t/+", 2, ());
        s.subscribe("g2", "t/+", 3, ());
        s.subscribe("g1", "t/#", 4, ()); // same group name, another filter: another group
        s.subscribe("g3", "x", 5, ());
        assert_eq!(s.group_count(), 4);
        let mut delivered = Vec::new();
        for _ in 0..2 {
            s.for_each_match("t/a", |name, filter, g| {
                let k = g
                    .pick(ShareStrategy::RoundRobin, None, 0, |_, _| true)
                    .unwrap()
                    .0;
                delivered.push((name.to_owned(), filter.to_owned(), k));
            });
        }
        delivered.sort();
        let expect = [
            ("g1", "t/#", 4),
            ("g1", "t/#", 4),
            ("g1", "t/+", 1),
            ("g1", "t/+", 2),
            ("g2", "t/+", 3),
            ("g2", "t/+", 3),
        ];
        let expect: Vec<_> = expect
            .iter()
            .map(|(a, b, k)| (a.to_string(), b.to_string(), *k))
            .collect();
        assert_eq!(delivered, expect);
        let mut names = Vec::new();
        s.for_each_matching_group("$SYS/a", |name, _| names.push(name.to_owned()));
        assert!(
            names.is_empty(),
            "[MQTT-4.7.2-1] applies to the filter of a shared subscription"
        );
    }

    #[test]
    fn unsubscribe_removes_empty_groups_and_prunes() {
        let mut s = SharedSubscriptions::new();
        for i in 0..1000u32 {
            s.subscribe(&format!("g{}", i % 10), &format!("a/{}/+", i % 37), i, i);
        }
        assert!(s.group_count() > 0 && s.node_count() > 0);
        assert_eq!(s.unsubscribe("g0", "a/0/+", &12345), None);
        assert_eq!(s.unsubscribe("nope", "a/0/+", &0), None);
        for i in 0..1000u32 {
            let got = s.unsubscribe(&format!("g{}", i % 10), &format!("a/{}/+", i % 37), &i);
            assert_eq!(got, Some(i));
        }
        assert_eq!((s.len(), s.group_count(), s.node_count()), (0, 0, 0));
        assert!(s.slots.is_empty() && s.free.is_empty());
        assert!(s.is_empty());
    }

    #[test]
    fn shared_and_plain_subscriptions_independent_bad_inputs_row_29() {
        // SUBSCRIBE $share/g/t and SUBSCRIBE t from the same session, then UNSUBSCRIBE t.
        let mut plain: FilterTrie<u32, ()> = FilterTrie::new();
        let mut shared: SharedSubscriptions<u32, ()> = SharedSubscriptions::new();
        shared.subscribe("g", "t", 1, ());
        plain.insert("t", 1, ());
        assert_eq!(plain.remove("t", &1), Some(()));
        assert_eq!((plain.len(), plain.node_count()), (0, 0), "no leak");
        let mut hits = 0;
        shared.for_each_matching_group("t", |name, g| {
            assert_eq!(name, "g");
            assert!(g
                .pick(ShareStrategy::RoundRobin, None, 0, |_, _| true)
                .is_some());
            hits += 1;
        });
        assert_eq!(hits, 1, "the shared subscription still delivers");
        assert_eq!(shared.unsubscribe("g", "t", &1), Some(()));
        assert_eq!((shared.group_count(), shared.node_count()), (0, 0));
    }
}
