//! Retained messages: the last retained message of each topic, matched against new subscriptions.
//!
//! [`RetainedStore`] keeps one message per topic (MQTT 5 §3.3.1.3) under a count and a byte
//! limit. A filter without wildcards is answered with one hash lookup. A wildcard filter walks a
//! tree of topic levels with an explicit stack, so a topic of 65,535 levels costs heap, never
//! call stack.
//!
//! The tree is path-compressed: a run of levels that leads to a single topic is one node, and
//! every node other than the root holds a message or has at least two children. The tree
//! therefore has fewer than two nodes per stored message however deep the topics are, and its
//! memory stays proportional to the limits. Removing a message prunes and re-merges the tree, so
//! it shrinks back as messages go.
//!
//! Expiry is kept in an ordered index, so the shard arms one timer from
//! [`RetainedStore::next_expiry`] and calls [`RetainedStore::expire`] when it fires. An expired
//! message is never matched, even before `expire` has removed it.

use std::borrow::Borrow;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::hash::{Hash, Hasher};

use ahash::RandomState;
use smallvec::SmallVec;

use crate::message::SharedMessage;
use crate::time::Timestamp;

#[cfg(test)]
mod tests;

/// Limits on what a [`RetainedStore`] holds.
///
/// Beyond the messages themselves the store spends a bounded overhead per message: under two
/// tree nodes of 40 bytes, a slot in the topic index and in a child map, an expiry entry if the
/// message expires, and at most two copies of the topic's bytes (tree labels and child keys).
/// So memory stays proportional to both limits, whatever the shape of the topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetainedLimits {
    /// Most messages stored at once. Default 100,000.
    pub max_messages: usize,
    /// Most bytes stored at once, counted as topic plus payload of each message
    /// ([`Message::weight`](crate::Message::weight)). Default 256 MiB.
    pub max_bytes: usize,
}

impl Default for RetainedLimits {
    fn default() -> Self {
        Self {
            max_messages: 100_000,
            max_bytes: 256 * 1024 * 1024,
        }
    }
}

/// What [`RetainedStore::set`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOutcome {
    /// The topic had no retained message; this one is now stored [MQTT-3.3.1-5].
    Stored,
    /// The message replaced the topic's previous retained message [MQTT-3.3.1-5].
    Replaced,
    /// The empty payload removed the topic's retained message [MQTT-3.3.1-6].
    Deleted,
    /// The empty payload found nothing to remove; it is not stored itself [MQTT-3.3.1-7].
    NothingToDelete,
}

/// Why [`RetainedStore::set`] refused a message. The store is unchanged; the broker counts the
/// message as a dropped retained message (it is still delivered to current subscribers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RetainedError {
    /// A new topic would exceed [`RetainedLimits::max_messages`].
    #[error("retained store already holds its maximum number of messages")]
    CountLimit,
    /// The message would take the store over [`RetainedLimits::max_bytes`].
    #[error("retained message would exceed the retained store's byte limit")]
    ByteLimit,
}

/// Index of a node in the arena.
type NodeId = usize;

/// The root node: the empty topic prefix. It never holds a message.
const ROOT: NodeId = 0;

/// Children of a node, keyed by the first level of each child's label.
type ChildMap = HashMap<Box<str>, NodeId, RandomState>;

/// Maps and sets with more than this capacity shrink once they are three quarters empty.
const SHRINK_ABOVE: usize = 64;

/// One node of the level tree.
#[derive(Debug, Default)]
struct Node {
    /// The levels on the edge from the parent, joined by `/` (at least one level). The first
    /// level is this node's key in its parent's [`ChildMap`]. Empty for the root.
    label: Box<str>,
    /// The parent; the root's parent is itself.
    parent: NodeId,
    /// Children; `None` when there are none, so a leaf carries no map.
    children: Option<Box<ChildMap>>,
    /// The retained message of the topic this node spells, if any.
    msg: Option<SharedMessage>,
}

impl Node {
    /// The child whose label starts with the level `key`.
    fn child(&self, key: &str) -> Option<NodeId> {
        self.children.as_ref()?.get(key).copied()
    }

    /// How many children there are.
    fn child_count(&self) -> usize {
        self.children.as_ref().map_or(0, |c| c.len())
    }

    /// The children with their keys, in no particular order.
    fn children(&self) -> impl Iterator<Item = (&str, NodeId)> + '_ {
        self.children
            .iter()
            .flat_map(|c| c.iter().map(|(k, &id)| (&**k, id)))
    }

    /// Adds a child under `key`.
    fn insert_child(&mut self, key: Box<str>, id: NodeId) {
        self.children.get_or_insert_default().insert(key, id);
    }

    /// Points the existing key `key` at another child.
    fn redirect_child(&mut self, key: &str, id: NodeId) {
        if let Some(slot) = self.children.as_mut().and_then(|c| c.get_mut(key)) {
            *slot = id;
        }
    }

    /// Removes the child under `key`, dropping or shrinking the map as it empties.
    fn remove_child(&mut self, key: &str) {
        if let Some(map) = self.children.as_mut() {
            map.remove(key);
            if map.is_empty() {
                self.children = None;
            } else if map.capacity() > SHRINK_ABOVE && map.len() * 4 < map.capacity() {
                map.shrink_to(map.len() * 2);
            }
        }
    }
}

/// A stored message together with its node; hashed and compared by topic only, so the set of
/// entries is looked up with a `&str` and holds no second copy of the topic.
#[derive(Debug, Clone)]
struct Entry {
    msg: SharedMessage,
    node: NodeId,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        *self.msg.topic == *other.msg.topic
    }
}

impl Eq for Entry {}

impl Hash for Entry {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Must hash exactly like the `str` it borrows as.
        str::hash(&self.msg.topic, state);
    }
}

impl Borrow<str> for Entry {
    fn borrow(&self) -> &str {
        &self.msg.topic
    }
}

/// One pending step of a wildcard walk.
#[derive(Debug, Clone, Copy)]
enum Step<'f> {
    /// At this node, with these filter levels (at least one) left to match.
    Match(NodeId, &'f str),
    /// Everything at and below this node matches.
    All(NodeId),
}

/// How two level paths share a prefix of whole levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Overlap {
    /// The paths are equal.
    Same,
    /// The left path is a prefix of the right one, which has a `/` at this byte.
    LeftPrefix(usize),
    /// The right path is a prefix of the left one, which has a `/` at this byte.
    RightPrefix(usize),
    /// The paths part at a level; both have a `/` at this byte ending their common levels, or
    /// (`None`) they differ in the first level.
    Fork(Option<usize>),
}

/// The retained message store of one shard.
///
/// `get`, `set`, `remove` and an exact-topic `for_each_match` cost one hash lookup plus, for
/// `set` and `remove`, a walk along the topic's levels and a log-time expiry index update. A
/// wildcard `for_each_match` visits only the nodes its filter can reach: every child where a
/// level is `+`, the whole subtree below a `#`. `expire` costs log time per removed message.
///
/// Node slots freed by removals are reused; the slot array itself is released when the store
/// empties.
pub struct RetainedStore {
    limits: RetainedLimits,
    /// Every stored message, found by topic.
    by_topic: HashSet<Entry, RandomState>,
    /// The level tree; slot [`ROOT`] is the root. Free slots are listed in `free`.
    nodes: Vec<Node>,
    free: Vec<NodeId>,
    /// `(expires_at, node)` for every stored message that expires.
    expiry: BTreeSet<(Timestamp, NodeId)>,
    /// Sum of the stored messages' weights.
    bytes: usize,
    /// Stands in for a node that is not in the arena. Node ids only ever come from the arena,
    /// so this is never reached; it exists so that a bug costs a wrong answer, not a panic.
    spare: Node,
}

impl fmt::Debug for RetainedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetainedStore")
            .field("limits", &self.limits)
            .field("len", &self.len())
            .field("bytes", &self.bytes)
            .field("nodes", &self.node_count())
            .finish_non_exhaustive()
    }
}

impl Default for RetainedStore {
    fn default() -> Self {
        Self::new(RetainedLimits::default())
    }
}

impl RetainedStore {
    /// An empty store with these limits.
    pub fn new(limits: RetainedLimits) -> Self {
        Self {
            limits,
            by_topic: HashSet::default(),
            nodes: vec![Node::default()],
            free: Vec::new(),
            expiry: BTreeSet::new(),
            bytes: 0,
            spare: Node::default(),
        }
    }

    /// The limits the store enforces.
    pub fn limits(&self) -> RetainedLimits {
        self.limits
    }

    /// Number of stored messages (expired ones included until [`expire`](Self::expire) runs).
    pub fn len(&self) -> usize {
        self.by_topic.len()
    }

    /// Whether no message is stored.
    pub fn is_empty(&self) -> bool {
        self.by_topic.is_empty()
    }

    /// Sum of the stored messages' [`weight`](crate::Message::weight)s.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Number of nodes in the level tree, not counting the root: zero when the store is empty,
    /// and fewer than two per stored message.
    pub fn node_count(&self) -> usize {
        self.nodes.len().saturating_sub(1 + self.free.len())
    }

    /// Stores, replaces or deletes the retained message of `msg.topic`.
    ///
    /// An empty payload deletes the topic's retained message and is not stored itself
    /// [MQTT-3.3.1-6], [MQTT-3.3.1-7] (MQTT 3.1.1: [MQTT-3.3.1-10], [MQTT-3.3.1-11]); anything
    /// else replaces the previous message [MQTT-3.3.1-5]. The caller passes only messages published with RETAIN set, with a valid
    /// topic name.
    ///
    /// A new topic is refused when the store already holds
    /// [`max_messages`](RetainedLimits::max_messages); a replacement keeps the count, so it is
    /// accepted at that limit as long as the bytes after it stay within
    /// [`max_bytes`](RetainedLimits::max_bytes). When refused, nothing changes (the old message
    /// stays).
    pub fn set(&mut self, msg: SharedMessage) -> Result<SetOutcome, RetainedError> {
        // [MQTT-3.3.1-6] a zero-byte retained message removes the topic's retained message;
        // [MQTT-3.3.1-7] and is not stored itself.
        if msg.payload.is_empty() {
            return Ok(match self.remove(&msg.topic) {
                Some(_) => SetOutcome::Deleted,
                None => SetOutcome::NothingToDelete,
            });
        }
        let weight = msg.weight();
        // [MQTT-3.3.1-5] replace any existing retained message for this topic.
        if let Some(old) = self.by_topic.get(&*msg.topic) {
            let (node, old_expiry) = (old.node, old.msg.expires_at);
            let bytes = self
                .bytes
                .saturating_sub(old.msg.weight())
                .saturating_add(weight);
            if bytes > self.limits.max_bytes {
                return Err(RetainedError::ByteLimit);
            }
            if let Some(at) = old_expiry {
                self.expiry.remove(&(at, node));
            }
            if let Some(at) = msg.expires_at {
                self.expiry.insert((at, node));
            }
            self.node_mut(node).msg = Some(msg.clone());
            self.by_topic.replace(Entry { msg, node });
            self.bytes = bytes;
            return Ok(SetOutcome::Replaced);
        }
        if self.by_topic.len() >= self.limits.max_messages {
            return Err(RetainedError::CountLimit);
        }
        let bytes = self.bytes.saturating_add(weight);
        if bytes > self.limits.max_bytes {
            return Err(RetainedError::ByteLimit);
        }
        let node = self.insert_path(&msg.topic);
        if let Some(at) = msg.expires_at {
            self.expiry.insert((at, node));
        }
        self.node_mut(node).msg = Some(msg.clone());
        self.by_topic.insert(Entry { msg, node });
        self.bytes = bytes;
        Ok(SetOutcome::Stored)
    }

    /// The message stored for exactly `topic`, with one hash lookup.
    ///
    /// It may have expired: check [`Message::is_expired`](crate::Message::is_expired), or use
    /// [`for_each_match`](Self::for_each_match), which skips expired messages.
    pub fn get(&self, topic: &str) -> Option<&SharedMessage> {
        self.by_topic.get(topic).map(|e| &e.msg)
    }

    /// Removes and returns the message stored for `topic`, pruning the tree.
    pub fn remove(&mut self, topic: &str) -> Option<SharedMessage> {
        let Entry { msg, node } = self.by_topic.take(topic)?;
        if let Some(at) = msg.expires_at {
            self.expiry.remove(&(at, node));
        }
        self.bytes = self.bytes.saturating_sub(msg.weight());
        self.node_mut(node).msg = None;
        self.prune(node);
        if self.by_topic.is_empty() {
            self.reset();
        } else if self.by_topic.capacity() > SHRINK_ABOVE
            && self.by_topic.len() * 4 < self.by_topic.capacity()
        {
            self.by_topic.shrink_to(self.by_topic.len() * 2);
        }
        Some(msg)
    }

    /// Calls `f` with every stored message, unexpired at `now`, whose topic matches `filter`.
    ///
    /// `filter` is a valid topic filter and not a `$share/` one (shared subscriptions get no
    /// retained messages). `+` matches one level and `#` any number of levels including the
    /// parent's (`a/#` matches `a`); empty levels are levels. A filter starting with `+` or `#`
    /// does not match topics starting with `$` [MQTT-4.7.2-1]. The order of the calls is
    /// unspecified.
    pub fn for_each_match(&self, filter: &str, now: Timestamp, mut f: impl FnMut(&SharedMessage)) {
        if !filter.contains(['+', '#']) {
            if let Some(entry) = self.by_topic.get(filter) {
                if !entry.msg.is_expired(now) {
                    f(&entry.msg);
                }
            }
            return;
        }
        let mut emit = |node: &Node| {
            if let Some(msg) = &node.msg {
                if !msg.is_expired(now) {
                    f(msg);
                }
            }
        };
        let mut stack: SmallVec<[Step<'_>; 16]> = SmallVec::new();
        stack.push(Step::Match(ROOT, filter));
        while let Some(step) = stack.pop() {
            match step {
                Step::All(id) => {
                    let node = self.node(id);
                    emit(node);
                    stack.extend(node.children().map(|(_, child)| Step::All(child)));
                }
                Step::Match(id, rest) => {
                    let node = self.node(id);
                    let at_root = id == ROOT;
                    let (level, after) = split_level(rest);
                    match level {
                        "#" => {
                            // `a/#` also matches `a` itself (the root spells no topic).
                            if !at_root {
                                emit(node);
                            }
                            stack.extend(
                                node.children()
                                    // [MQTT-4.7.2-1] `#` first does not match `$` topics.
                                    .filter(|&(key, _)| !(at_root && key.starts_with('$')))
                                    .map(|(_, child)| Step::All(child)),
                            );
                        }
                        "+" => {
                            for (key, child) in node.children() {
                                // [MQTT-4.7.2-1] `+` first does not match `$` topics.
                                if at_root && key.starts_with('$') {
                                    continue;
                                }
                                self.enter(child, after, &mut stack, &mut emit);
                            }
                        }
                        _ => {
                            if let Some(child) = node.child(level) {
                                self.enter(child, after, &mut stack, &mut emit);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Removes every message expired at `now` and returns how many there were.
    pub fn expire(&mut self, now: Timestamp) -> usize {
        let mut removed = 0;
        while let Some(&(at, node)) = self.expiry.first() {
            if at > now {
                break;
            }
            let topic = self.node(node).msg.as_ref().map(|m| m.topic.clone());
            if let Some(topic) = topic {
                if self.remove(&topic).is_some() {
                    removed += 1;
                }
            }
            // Normally gone already; this guarantees the loop advances.
            self.expiry.remove(&(at, node));
        }
        removed
    }

    /// The earliest time at which a stored message expires, for the shard's timer.
    pub fn next_expiry(&self) -> Option<Timestamp> {
        self.expiry.first().map(|&(at, _)| at)
    }

    /// Matches the rest of `child`'s label, after its first level, against the filter levels
    /// `filter` (`None` when the filter has no levels left); pushes or emits what matches.
    fn enter<'f>(
        &self,
        child: NodeId,
        mut filter: Option<&'f str>,
        stack: &mut SmallVec<[Step<'f>; 16]>,
        emit: &mut impl FnMut(&Node),
    ) {
        let node = self.node(child);
        let mut label = split_level(&node.label).1;
        loop {
            match (label, filter) {
                (None, None) => return emit(node),
                (None, Some(rest)) => return stack.push(Step::Match(child, rest)),
                // The topic has levels left and the filter has none.
                (Some(_), None) => return,
                (Some(l), Some(f)) => {
                    let (f_level, f_after) = split_level(f);
                    if f_level == "#" {
                        // Everything below this point shares the levels matched so far.
                        return stack.push(Step::All(child));
                    }
                    let (l_level, l_after) = split_level(l);
                    if f_level != "+" && f_level != l_level {
                        return;
                    }
                    label = l_after;
                    filter = f_after;
                }
            }
        }
    }

    /// Finds or makes the node that spells `topic`, splitting a compressed label if the topic
    /// ends or parts inside it.
    fn insert_path(&mut self, topic: &str) -> NodeId {
        let mut cur = ROOT;
        let mut rem = topic;
        loop {
            let (first, after) = split_level(rem);
            let Some(child) = self.node(cur).child(first) else {
                return self.add_leaf(cur, rem);
            };
            // The child's label starts with `first` too; compare what follows.
            let label_tail = split_level(&self.node(child).label).1;
            match (label_tail, after) {
                (None, None) => return child,
                (None, Some(r)) => {
                    cur = child;
                    rem = r;
                }
                (Some(l), None) => {
                    let child_label = Box::from(l);
                    return self.split(cur, child, first, rem, child_label, None);
                }
                (Some(l), Some(r)) => match overlap(l, r) {
                    Overlap::Same => return child,
                    Overlap::LeftPrefix(at) => {
                        cur = child;
                        rem = split_around(r, at).1;
                    }
                    Overlap::RightPrefix(at) => {
                        let child_label = Box::from(split_around(l, at).1);
                        return self.split(cur, child, first, rem, child_label, None);
                    }
                    Overlap::Fork(None) => {
                        let child_label = Box::from(l);
                        return self.split(cur, child, first, first, child_label, Some(r));
                    }
                    Overlap::Fork(Some(at)) => {
                        let (common, r_rest) = split_around(r, at);
                        let child_label = Box::from(split_around(l, at).1);
                        let middle = join(first, common);
                        return self.split(cur, child, first, &middle, child_label, Some(r_rest));
                    }
                },
            }
        }
    }

    /// Puts a new node labelled `middle` between `parent` and its child `child` (under key
    /// `key`), relabels the child `child_label`, and hangs a new leaf `leaf` off the new node
    /// if given. Returns the leaf, or else the new node.
    fn split(
        &mut self,
        parent: NodeId,
        child: NodeId,
        key: &str,
        middle: &str,
        child_label: Box<str>,
        leaf: Option<&str>,
    ) -> NodeId {
        let mid = self.alloc(Node {
            label: Box::from(middle),
            parent,
            children: None,
            msg: None,
        });
        self.node_mut(parent).redirect_child(key, mid);
        let child_key = Box::from(first_level(&child_label));
        let moved = self.node_mut(child);
        moved.label = child_label;
        moved.parent = mid;
        self.node_mut(mid).insert_child(child_key, child);
        match leaf {
            Some(label) => self.add_leaf(mid, label),
            None => mid,
        }
    }

    /// Adds a leaf labelled `label` under `parent`.
    fn add_leaf(&mut self, parent: NodeId, label: &str) -> NodeId {
        let id = self.alloc(Node {
            label: Box::from(label),
            parent,
            children: None,
            msg: None,
        });
        self.node_mut(parent)
            .insert_child(Box::from(first_level(label)), id);
        id
    }

    /// Restores the tree's shape after `id` lost its message: a node with neither message nor
    /// children goes (and its parent is looked at next), and a node with no message and one
    /// child is merged into that child.
    fn prune(&mut self, mut id: NodeId) {
        while id != ROOT {
            let node = self.node(id);
            if node.msg.is_some() {
                return;
            }
            match node.child_count() {
                0 => {
                    let node = self.take(id);
                    self.node_mut(node.parent)
                        .remove_child(first_level(&node.label));
                    id = node.parent;
                }
                1 => return self.merge_into_child(id),
                _ => return,
            }
        }
    }

    /// Replaces `id`, which has no message and one child, by that child.
    fn merge_into_child(&mut self, id: NodeId) {
        let Some((_, child)) = self.node(id).children().next() else {
            return;
        };
        let node = self.take(id);
        let merged = join(&node.label, &self.node(child).label);
        let lifted = self.node_mut(child);
        lifted.label = merged;
        lifted.parent = node.parent;
        self.node_mut(node.parent)
            .redirect_child(first_level(&node.label), child);
    }

    /// Puts a node in a free slot, or a new one.
    fn alloc(&mut self, node: Node) -> NodeId {
        match self.free.pop() {
            Some(id) => {
                *self.node_mut(id) = node;
                id
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        }
    }

    /// Takes a node out of the arena, freeing its slot.
    fn take(&mut self, id: NodeId) -> Node {
        self.free.push(id);
        std::mem::take(self.node_mut(id))
    }

    /// Releases the arena's slots once the store is empty, so memory returns to its baseline.
    fn reset(&mut self) {
        self.nodes.truncate(1);
        self.free.clear();
        if self.nodes.capacity() > SHRINK_ABOVE {
            self.nodes.shrink_to_fit();
            self.free.shrink_to_fit();
        }
        self.by_topic.shrink_to_fit();
    }

    fn node(&self, id: NodeId) -> &Node {
        self.nodes.get(id).unwrap_or(&self.spare)
    }

    fn node_mut(&mut self, id: NodeId) -> &mut Node {
        match self.nodes.get_mut(id) {
            Some(node) => node,
            None => &mut self.spare,
        }
    }
}

/// The first level of a path and the levels after it, if there are any.
fn split_level(path: &str) -> (&str, Option<&str>) {
    match path.split_once('/') {
        Some((level, rest)) => (level, Some(rest)),
        None => (path, None),
    }
}

/// The first level of a path.
fn first_level(path: &str) -> &str {
    split_level(path).0
}

/// Splits `path` around the `/` at byte `at`, which the caller found there.
fn split_around(path: &str, at: usize) -> (&str, &str) {
    let (head, tail) = path.split_at_checked(at).unwrap_or((path, ""));
    (head, tail.strip_prefix('/').unwrap_or(tail))
}

/// `a/b` as a new label.
fn join(a: &str, b: &str) -> Box<str> {
    let mut s = String::with_capacity(a.len() + 1 + b.len());
    s.push_str(a);
    s.push('/');
    s.push_str(b);
    s.into_boxed_str()
}

/// Compares two level paths by whole levels.
fn overlap(a: &str, b: &str) -> Overlap {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    let n = x.iter().zip(y).take_while(|(p, q)| p == q).count();
    match (x.get(n), y.get(n)) {
        (None, None) => Overlap::Same,
        (None, Some(b'/')) => Overlap::LeftPrefix(n),
        (Some(b'/'), None) => Overlap::RightPrefix(n),
        _ => Overlap::Fork(
            x.get(..n)
                .and_then(|common| common.iter().rposition(|&c| c == b'/')),
        ),
    }
}
