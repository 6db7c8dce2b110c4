//! A topic-filter trie: filter → (key → value), matched against topic names (MQTT 5 §4.7).

use core::fmt;
use std::collections::HashMap;
use std::hash::Hash;

use smallvec::SmallVec;

use super::entries::Entries;
use super::HashSeed;

/// One level of the trie: the filters that continue through it and those that end here.
struct Node<K, V> {
    /// Children by literal level.
    children: HashMap<Box<str>, Node<K, V>, HashSeed>,
    /// The `+` child.
    plus: Option<Box<Node<K, V>>>,
    /// Entries of the filter made of this node's path followed by `/#`.
    hash: Option<Box<Entries<K, V>>>,
    /// Entries of the filter that ends at this node.
    entries: Entries<K, V>,
}

impl<K, V> Node<K, V> {
    fn new(seed: HashSeed) -> Self {
        Self {
            children: HashMap::with_hasher(seed),
            plus: None,
            hash: None,
            entries: Entries::default(),
        }
    }

    fn has_children(&self) -> bool {
        !self.children.is_empty() || self.plus.is_some()
    }

    /// Whether pruning a path through this node must keep it: it holds something besides the
    /// one child on that path.
    fn holds_more_than_path(&self) -> bool {
        !self.entries.is_empty()
            || self.hash.is_some()
            || self.children.len() + usize::from(self.plus.is_some()) > 1
    }

    fn child(&self, level: &str) -> Option<&Node<K, V>> {
        if level == "+" {
            self.plus.as_deref()
        } else {
            self.children.get(level)
        }
    }

    fn child_mut(&mut self, level: &str) -> Option<&mut Node<K, V>> {
        if level == "+" {
            self.plus.as_deref_mut()
        } else {
            self.children.get_mut(level)
        }
    }
}

/// Takes a subtree apart with an explicit stack, so a deep chain cannot overflow the call
/// stack the way recursive drop glue would.
fn dismantle<K, V>(node: &mut Node<K, V>) {
    // Leaves are dropped where they are found; only nodes with children wait on the stack.
    fn detach_children<K, V>(n: &mut Node<K, V>, stack: &mut Vec<Node<K, V>>) {
        let children = n.children.drain().map(|(_, c)| c);
        stack.extend(children.filter(Node::has_children));
        stack.extend(n.plus.take().map(|p| *p).filter(Node::has_children));
    }
    if !node.has_children() {
        return;
    }
    let mut stack = Vec::new();
    detach_children(node, &mut stack);
    while let Some(mut n) = stack.pop() {
        detach_children(&mut n, &mut stack);
    }
}

/// A filter as a path of levels and whether it ends in the multi-level wildcard.
#[derive(Clone, Copy)]
struct FilterPath<'a> {
    /// The levels before a trailing `#`; `None` for the filter `#` alone (no levels).
    prefix: Option<&'a str>,
    /// Ends in `#`: the entries live in the `hash` slot of the last path node.
    multi: bool,
}

impl<'a> FilterPath<'a> {
    fn new(filter: &'a str) -> Self {
        if filter == "#" {
            Self {
                prefix: None,
                multi: true,
            }
        } else if let Some(prefix) = filter.strip_suffix("/#") {
            Self {
                prefix: Some(prefix),
                multi: true,
            }
        } else {
            Self {
                prefix: Some(filter),
                multi: false,
            }
        }
    }

    fn levels(self) -> impl Iterator<Item = &'a str> {
        self.prefix.into_iter().flat_map(|p| p.split('/'))
    }
}

/// Maps topic filters to sets of (key → value) entries and matches topic names against them.
///
/// A key is typically a session id and a value its subscription options. Filters must already
/// be valid ([`mqtt_proto::topic::parse_filter`], without any `$share/{group}/` prefix): the
/// shard validates before inserting. An invalid filter is stored without panicking, but a `#`
/// that is not the last level is then a literal level and will not match as a wildcard.
///
/// Nothing recurses over levels: insert, remove, matching and drop all use loops or an explicit
/// stack. Removing the last entry of a filter prunes the nodes it leaves empty, so memory goes
/// back to what it was before the filter was added.
pub struct FilterTrie<K, V> {
    root: Node<K, V>,
    seed: HashSeed,
    /// Number of (filter, key) entries.
    entries: usize,
    /// Number of filters with at least one entry.
    filters: usize,
    /// Number of nodes below the root.
    nodes: usize,
}

impl<K, V> fmt::Debug for FilterTrie<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FilterTrie")
            .field("entries", &self.entries)
            .field("filters", &self.filters)
            .field("nodes", &self.nodes)
            .finish_non_exhaustive()
    }
}

impl<K, V> Drop for FilterTrie<K, V> {
    fn drop(&mut self) {
        dismantle(&mut self.root);
    }
}

impl<K: Copy + Eq + Hash, V> Default for FilterTrie<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Copy + Eq + Hash, V> FilterTrie<K, V> {
    /// An empty trie with the fixed default hash seed (deterministic, for tests and tools).
    pub fn new() -> Self {
        Self::with_hasher(HashSeed::default())
    }

    /// An empty trie whose level hash maps are keyed by `seed`.
    ///
    /// Topic levels are chosen by clients, so production shards should pass a random seed to
    /// resist hash flooding. The seed never changes the order in which matches are reported.
    pub fn with_seed(seed: u64) -> Self {
        Self::with_hasher(HashSeed::new(seed))
    }

    pub(crate) fn with_hasher(seed: HashSeed) -> Self {
        Self {
            root: Node::new(seed),
            seed,
            entries: 0,
            filters: 0,
            nodes: 0,
        }
    }

    /// Number of (filter, key) entries.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Whether the trie holds no entries.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Number of distinct filters with at least one entry.
    pub fn filter_count(&self) -> usize {
        self.filters
    }

    /// Number of trie nodes below the root (0 when empty); a measure of memory held.
    pub fn node_count(&self) -> usize {
        self.nodes
    }

    /// Stores `value` for (`filter`, `key`) and returns the value it replaces.
    ///
    /// A new subscription with the same filter replaces the existing one [MQTT-3.8.4-3].
    pub fn insert(&mut self, filter: &str, key: K, value: V) -> Option<V> {
        let path = FilterPath::new(filter);
        let seed = self.seed;
        let mut node = &mut self.root;
        for level in path.levels() {
            if level == "+" {
                if node.plus.is_none() {
                    self.nodes += 1;
                }
                node = node.plus.get_or_insert_with(|| Box::new(Node::new(seed)));
            } else {
                if !node.children.contains_key(level) {
                    node.children.insert(Box::from(level), Node::new(seed));
                    self.nodes += 1;
                }
                node = node.children.get_mut(level)?;
            }
        }
        let slot = if path.multi {
            node.hash.get_or_insert_with(Box::default)
        } else {
            &mut node.entries
        };
        let was_empty = slot.is_empty();
        let previous = slot.insert(key, value);
        if previous.is_none() {
            self.entries += 1;
            if was_empty {
                self.filters += 1;
            }
        }
        previous
    }

    /// Removes (`filter`, `key`) and returns its value, pruning nodes left empty.
    pub fn remove(&mut self, filter: &str, key: &K) -> Option<V> {
        let path = FilterPath::new(filter);
        let mut node = &mut self.root;
        for level in path.levels() {
            node = node.child_mut(level)?;
        }
        let removed = if path.multi {
            let slot = node.hash.as_deref_mut()?;
            let removed = slot.remove(key)?;
            if slot.is_empty() {
                node.hash = None;
                self.filters -= 1;
            }
            removed
        } else {
            let removed = node.entries.remove(key)?;
            if node.entries.is_empty() {
                self.filters -= 1;
            }
            removed
        };
        self.entries -= 1;
        let now_empty = node.entries.is_empty() && node.hash.is_none() && !node.has_children();
        if now_empty {
            self.prune(path);
        }
        Some(removed)
    }

    /// Cuts off the chain of nodes that ends at the (empty) last node of `path`.
    fn prune(&mut self, path: FilterPath<'_>) {
        // Nodes on the path are n_0 (root) … n_d. Keep every node up to the deepest one that
        // holds more than the path (the root always), and drop the chain below it.
        let mut cut = 0;
        let mut depth = 0;
        let mut node = &self.root;
        for level in path.levels() {
            if depth > 0 && node.holds_more_than_path() {
                cut = depth;
            }
            let Some(next) = node.child(level) else {
                return;
            };
            node = next;
            depth += 1;
        }
        let mut node = &mut self.root;
        let mut levels = path.levels();
        for level in levels.by_ref().take(cut) {
            let Some(next) = node.child_mut(level) else {
                return;
            };
            node = next;
        }
        let Some(edge) = levels.next() else {
            return;
        };
        let detached = if edge == "+" {
            node.plus.take().map(|p| *p)
        } else {
            node.children.remove(edge)
        };
        if let Some(mut detached) = detached {
            self.nodes -= depth - cut;
            dismantle(&mut detached);
        }
    }

    fn find(&self, filter: &str) -> Option<&Entries<K, V>> {
        let path = FilterPath::new(filter);
        let mut node = &self.root;
        for level in path.levels() {
            node = node.child(level)?;
        }
        if path.multi {
            node.hash.as_deref()
        } else {
            Some(&node.entries)
        }
    }

    /// The value stored for (`filter`, `key`).
    pub fn get(&self, filter: &str, key: &K) -> Option<&V> {
        self.find(filter)?.get(key)
    }

    /// The entries of exactly `filter` (no wildcard matching).
    pub fn subscribers<'a>(&'a self, filter: &str) -> impl Iterator<Item = (&'a K, &'a V)> + 'a {
        self.find(filter)
            .into_iter()
            .flat_map(|e| e.as_slice().iter().map(|(k, v)| (k, v)))
    }

    /// Number of entries on exactly `filter`.
    pub fn count_for(&self, filter: &str) -> usize {
        self.find(filter).map_or(0, Entries::len)
    }

    /// Calls `f` for every entry whose filter matches the topic name `topic` (MQTT 5 §4.7).
    ///
    /// `+` matches one level and `#` the rest, including none (`a/#` matches `a`). Empty levels
    /// are levels. A topic starting with `$` is not matched by a filter starting with `+` or `#`
    /// [MQTT-4.7.2-1]. Each matching entry is reported once, in an order fixed by the trie's
    /// contents and history. Uses an explicit stack (inline for tries up to about 16 levels
    /// deep, so matching does not allocate) and visits each node at most once.
    #[inline]
    pub fn for_each_match(&self, topic: &str, mut f: impl FnMut(&K, &V)) {
        self.for_each_matching_filter(topic, |entries| {
            for (k, v) in entries {
                f(k, v);
            }
        });
    }

    /// As [`FilterTrie::for_each_match`], one call per matching filter with that filter's
    /// entries (never empty). A key appears at most once in one call, so the entries of a
    /// single call need no de-duplication.
    pub fn for_each_matching_filter(&self, topic: &str, mut f: impl FnMut(&[(K, V)])) {
        let mut emit = |entries: &Entries<K, V>| {
            if !entries.is_empty() {
                f(entries.as_slice());
            }
        };
        let end = topic.len();
        // [MQTT-4.7.2-1] no leading wildcard for topics beginning with '$'.
        let dollar = topic.starts_with('$');
        // Each item is a node and where the topic's next level starts; a start past the end
        // means every level has been consumed.
        let mut stack: SmallVec<[(&Node<K, V>, usize); 16]> = SmallVec::new();
        stack.push((&self.root, 0));
        while let Some((node, start)) = stack.pop() {
            if start > end {
                emit(&node.entries);
                // `#` also matches the parent level: `a/#` matches `a`.
                if let Some(hash) = &node.hash {
                    emit(hash);
                }
                continue;
            }
            // Only the root sees start 0.
            let wild = !(dollar && start == 0);
            if wild {
                if let Some(hash) = &node.hash {
                    emit(hash);
                }
            }
            if !node.has_children() {
                continue;
            }
            let rest = topic.get(start..).unwrap_or_default();
            // A plain scan: levels are short, and `str::find` costs more to set up.
            let (level, next) = match rest.bytes().position(|b| b == b'/') {
                Some(i) => (rest.get(..i).unwrap_or_default(), start + i + 1),
                None => (rest, end + 1),
            };
            if wild {
                if let Some(plus) = &node.plus {
                    stack.push((plus, next));
                }
            }
            if let Some(child) = node.children.get(level) {
                stack.push((child, next));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn matches<V>(trie: &FilterTrie<u32, V>, topic: &str) -> Vec<u32> {
        let mut out = Vec::new();
        trie.for_each_match(topic, |k, _| out.push(*k));
        out.sort_unstable();
        out
    }

    /// One filter, key 0: whether it matches `topic`.
    fn one(filter: &str, topic: &str) -> bool {
        let mut t = FilterTrie::new();
        t.insert(filter, 0u32, 0u32);
        matches(&t, topic) == [0]
    }

    #[test]
    fn multi_level_wildcard_examples_spec_4_7_1_2() {
        let f = "sport/tennis/player1/#";
        assert!(one(f, "sport/tennis/player1"));
        assert!(one(f, "sport/tennis/player1/ranking"));
        assert!(one(f, "sport/tennis/player1/score/wimbledon"));
        assert!(!one(f, "sport/tennis/player2"));
        assert!(!one(f, "sport/tennis"));
        assert!(one("sport/#", "sport"));
        assert!(one("#", "sport/tennis"));
        assert!(one("#", "/"));
    }

    #[test]
    fn single_level_wildcard_examples_spec_4_7_1_3() {
        let f = "sport/tennis/+";
        assert!(one(f, "sport/tennis/player1"));
        assert!(one(f, "sport/tennis/player2"));
        assert!(!one(f, "sport/tennis/player1/ranking"));
        assert!(!one("sport/+", "sport"));
        assert!(one("sport/+", "sport/"));
        assert!(one("+/+", "/finance"));
        assert!(one("/+", "/finance"));
        assert!(!one("+", "/finance"));
        assert!(one("+/tennis/#", "sport/tennis"));
        assert!(one("+", "sport"));
    }

    #[test]
    fn dollar_topics_not_matched_by_leading_wildcards_mqtt_4_7_2_1() {
        assert!(!one("#", "$SYS/monitor/Clients"));
        assert!(!one("#", "$SYS"));
        assert!(!one("+/monitor/Clients", "$SYS/monitor/Clients"));
        assert!(!one("+", "$SYS"));
        assert!(!one("+/#", "$SYS/x"));
        assert!(one("$SYS/#", "$SYS/monitor/Clients"));
        assert!(one("$SYS/#", "$SYS/x"));
        assert!(one("$SYS/#", "$SYS"));
        assert!(one("$SYS/monitor/+", "$SYS/monitor/Clients"));
        // Only the first level is special.
        assert!(one("a/+", "a/$b"));
        assert!(one("a/#", "a/$b"));
    }

    #[test]
    fn empty_levels_are_levels_spec_4_7_3() {
        assert!(one("a//b", "a//b"));
        assert!(!one("a/b", "a//b"));
        assert!(one("a/+/b", "a//b"));
        assert!(one("/a", "/a"));
        assert!(!one("a", "/a"));
        assert!(one("+/a", "/a"));
        assert!(one("a/", "a/"));
        assert!(!one("a", "a/"));
        assert!(one("a/+", "a/"));
        assert!(one("a/#", "a/"));
        assert!(one("a/#", "a//"));
        assert!(one("+/+", "/"));
        assert!(!one("+", "/"));
    }

    #[test]
    fn overlapping_filters_each_reported_once() {
        let mut t = FilterTrie::new();
        let filters = ["a/b", "a/+", "a/#", "+/b", "#", "+/+", "a/b/#", "b/#", "a"];
        for (i, f) in filters.iter().enumerate() {
            t.insert(f, i as u32, 0);
        }
        assert_eq!(matches(&t, "a/b"), [0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(matches(&t, "a"), [2, 4, 8]);
        assert_eq!(matches(&t, "$x/b"), Vec::<u32>::new());
    }

    #[test]
    fn resubscribe_replaces_mqtt_3_8_4_3() {
        let mut t = FilterTrie::new();
        assert_eq!(t.insert("a/+", 1u32, 10u32), None);
        assert_eq!(t.insert("a/+", 1, 11), Some(10));
        assert_eq!(t.insert("a/#", 1, 12), None);
        assert_eq!(t.len(), 2);
        assert_eq!(t.filter_count(), 2);
        assert_eq!(t.get("a/+", &1), Some(&11));
        let mut seen = Vec::new();
        t.for_each_match("a/x", |k, v| seen.push((*k, *v)));
        seen.sort_unstable();
        assert_eq!(seen, [(1, 11), (1, 12)]);
    }

    #[test]
    fn subscribers_and_count_for_are_exact() {
        let mut t = FilterTrie::new();
        t.insert("a/+", 1u32, ());
        t.insert("a/+", 2, ());
        t.insert("a/b", 3, ());
        t.insert("a/#", 4, ());
        assert_eq!(t.count_for("a/+"), 2);
        assert_eq!(t.count_for("a/b"), 1);
        assert_eq!(t.count_for("a/#"), 1);
        assert_eq!(t.count_for("a"), 0);
        assert_eq!(t.count_for("x/y"), 0);
        let mut keys: Vec<u32> = t.subscribers("a/+").map(|(k, _)| *k).collect();
        keys.sort_unstable();
        assert_eq!(keys, [1, 2]);
        assert_eq!(t.subscribers("a").count(), 0);
        assert_eq!(t.get("a/#", &4), Some(&()));
        assert_eq!(t.get("a/#", &1), None);
    }

    #[test]
    fn plain_and_wildcard_filters_are_independent() {
        let mut t = FilterTrie::new();
        t.insert("a", 1u32, 'p');
        t.insert("a/#", 1, 'h');
        t.insert("a/+", 1, 's');
        assert_eq!(t.remove("a", &1), Some('p'));
        assert_eq!(t.remove("a", &1), None);
        assert_eq!(t.get("a/#", &1), Some(&'h'));
        assert_eq!(t.get("a/+", &1), Some(&'s'));
        assert_eq!(t.remove("a/#", &1), Some('h'));
        assert_eq!(matches(&t, "a/x").len(), 1);
        assert_eq!(t.remove("a/+", &1), Some('s'));
        assert_eq!((t.len(), t.filter_count(), t.node_count()), (0, 0, 0));
    }

    #[test]
    fn remove_prunes_to_baseline() {
        let mut t = FilterTrie::new();
        let filters: Vec<String> = (0..10_000)
            .map(|i| match i % 4 {
                0 => format!("a/{i}/b"),
                1 => format!("a/+/{i}/#"),
                2 => format!("{}/x/{i}", i % 7),
                _ => format!("+/{}/+", i % 13),
            })
            .collect();
        for (i, f) in filters.iter().enumerate() {
            t.insert(f, i as u32, i);
            t.insert(f, u32::MAX, i);
        }
        assert!(t.node_count() > 0);
        for (i, f) in filters.iter().enumerate().rev() {
            assert_eq!(t.remove(f, &(i as u32)), Some(i));
        }
        for f in &filters {
            t.remove(f, &u32::MAX);
        }
        assert_eq!(t.len(), 0);
        assert_eq!(t.filter_count(), 0);
        assert_eq!(t.node_count(), 0);
        assert!(t.root.children.is_empty() && t.root.plus.is_none() && t.root.hash.is_none());
    }

    #[test]
    fn remove_keeps_nodes_still_in_use() {
        let mut t = FilterTrie::new();
        t.insert("a/b/c/d", 1u32, ());
        t.insert("a/b", 2, ());
        t.insert("a/+/c", 3, ());
        let nodes = t.node_count();
        t.insert("a/b/x/y/z", 4, ());
        assert_eq!(t.node_count(), nodes + 3);
        t.remove("a/b/x/y/z", &4);
        assert_eq!(t.node_count(), nodes);
        t.remove("a/b/c/d", &1);
        // Left: a, a/b, a/+, a/+/c.
        assert_eq!(t.node_count(), 4);
        assert_eq!(matches(&t, "a/b/c"), [3]);
        assert_eq!(t.get("a/b", &2), Some(&()));
        assert_eq!(t.get("a/+/c", &3), Some(&()));
        assert_eq!(t.remove("nope/x", &3), None);
        assert_eq!(t.remove("a/b", &9), None);
    }

    #[test]
    fn deep_topic_and_filter_bounded_stack_bad_inputs_row_21() {
        let topic = "/".repeat(65_535);
        let mut t = FilterTrie::new();
        t.insert("#", 1u32, ());
        t.insert("+/#", 2, ());
        t.insert("/#", 3, ());
        t.insert(&topic, 4, ());
        t.insert(&format!("{}#", "+/".repeat(30_000)), 5, ());
        t.insert(&"+/".repeat(40_000), 6, ());
        assert_eq!(matches(&t, &topic), [1, 2, 3, 4, 5]);
        assert_eq!(matches(&t, &topic[1..]), [1, 2, 3, 5]);
        // Removing the deepest filter prunes its whole chain without recursion.
        let before = t.node_count();
        t.remove(&topic, &4);
        assert_eq!(t.node_count(), before - 65_535);
        // The rest is dropped with the trie, also without recursion.
    }

    /// The rules of MQTT 5 §4.7, written out level by level.
    fn reference_match(filter: &str, topic: &str) -> bool {
        let f: Vec<&str> = filter.split('/').collect();
        let t: Vec<&str> = topic.split('/').collect();
        if topic.starts_with('$') && matches!(f[0], "+" | "#") {
            return false;
        }
        let mut i = 0;
        loop {
            match (f.get(i), t.get(i)) {
                (Some(&"#"), _) => return true,
                (Some(&"+"), Some(_)) => {}
                (Some(a), Some(b)) if a == b => {}
                (None, None) => return true,
                _ => return false,
            }
            i += 1;
        }
    }

    fn filter_strategy() -> impl Strategy<Value = String> {
        let level = prop::sample::select(vec!["a", "b", "$s", "", "+"]);
        (prop::collection::vec(level, 1..5), any::<bool>()).prop_map(|(levels, hash)| {
            let mut f = levels.join("/");
            if hash {
                f.push_str("/#");
            }
            f
        })
    }

    fn topic_strategy() -> impl Strategy<Value = String> {
        let level = prop::sample::select(vec!["a", "b", "$s", ""]);
        prop::collection::vec(level, 1..6).prop_map(|l| l.join("/"))
    }

    proptest! {
        #[test]
        fn matching_agrees_with_reference(
            filters in prop::collection::vec(
                prop_oneof![filter_strategy(), Just("#".to_owned())], 0..40),
            topics in prop::collection::vec(topic_strategy(), 1..20),
        ) {
            let mut t = FilterTrie::new();
            for (i, f) in filters.iter().enumerate() {
                t.insert(f, i as u32, ());
            }
            for topic in &topics {
                let expect: Vec<u32> = filters
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| reference_match(f, topic))
                    .map(|(i, _)| i as u32)
                    .collect();
                prop_assert_eq!(matches(&t, topic), expect, "topic {:?}", topic);
            }
        }

        #[test]
        fn insert_remove_agree_with_model(
            ops in prop::collection::vec((any::<bool>(), filter_strategy(), 0u32..4, any::<u8>()), 0..200),
        ) {
            let mut t = FilterTrie::new();
            let mut model: HashMap<(String, u32), u8> = HashMap::new();
            for (insert, f, k, v) in ops {
                if insert {
                    prop_assert_eq!(t.insert(&f, k, v), model.insert((f.clone(), k), v));
                } else {
                    prop_assert_eq!(t.remove(&f, &k), model.remove(&(f.clone(), k)));
                }
                prop_assert_eq!(t.len(), model.len());
                prop_assert_eq!(t.get(&f, &k), model.get(&(f.clone(), k)));
            }
            let mut filters: Vec<&String> = model.keys().map(|(f, _)| f).collect();
            filters.sort();
            filters.dedup();
            prop_assert_eq!(t.filter_count(), filters.len());
            for f in &filters {
                let n = model.keys().filter(|(g, _)| g == *f).count();
                prop_assert_eq!(t.count_for(f), n);
            }
            for (f, k) in model.keys() {
                prop_assert!(t.remove(f, k).is_some());
            }
            prop_assert_eq!((t.len(), t.filter_count(), t.node_count()), (0, 0, 0));
        }
    }
}
