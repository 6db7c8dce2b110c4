//! The (key → value) set stored on one filter: a vector, indexed by a hash map once it grows.

use std::collections::HashMap;
use std::hash::Hash;

use super::HashSeed;

/// Above this many entries, key lookups go through a hash index.
const INDEX_ABOVE: usize = 16;
/// At or below this many entries, the index is dropped again.
const UNINDEX_AT: usize = INDEX_ABOVE / 2;

/// Entries of one filter, kept contiguous so matching walks a slice.
///
/// Most filters have one or a few subscribers, found by a linear scan; a filter with many
/// subscribers gets a key → position index, so insert and remove stay O(1). Removal swaps the
/// last entry into the hole, so the order is deterministic but not insertion order.
#[derive(Debug)]
pub(crate) struct Entries<K, V> {
    items: Vec<(K, V)>,
    #[allow(
        clippy::box_collection,
        reason = "boxed, an unused index costs 8 bytes on every node instead of 40"
    )]
    index: Option<Box<HashMap<K, usize, HashSeed>>>,
}

impl<K, V> Default for Entries<K, V> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            index: None,
        }
    }
}

impl<K, V> Entries<K, V> {
    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are no entries.
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The entries, in storage order.
    pub(crate) fn as_slice(&self) -> &[(K, V)] {
        &self.items
    }
}

impl<K: Copy + Eq + Hash, V> Entries<K, V> {
    fn position(&self, key: &K) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.items.iter().position(|(k, _)| k == key),
        }
    }

    /// The value stored for `key`.
    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        let pos = self.position(key)?;
        self.items.get(pos).map(|(_, v)| v)
    }

    /// Stores `value` for `key`, returning the value it replaces.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        if let Some(pos) = self.position(&key) {
            if let Some((_, slot)) = self.items.get_mut(pos) {
                return Some(core::mem::replace(slot, value));
            }
        }
        self.items.push((key, value));
        let len = self.items.len();
        match &mut self.index {
            Some(index) => {
                index.insert(key, len - 1);
            }
            None if len > INDEX_ABOVE => {
                let mut index = HashMap::with_capacity_and_hasher(len, HashSeed::default());
                index.extend(self.items.iter().enumerate().map(|(i, (k, _))| (*k, i)));
                self.index = Some(Box::new(index));
            }
            None => {}
        }
        None
    }

    /// Removes `key`, returning its value.
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let pos = self.position(key)?;
        if pos >= self.items.len() {
            return None;
        }
        let (_, value) = self.items.swap_remove(pos);
        if let Some(index) = &mut self.index {
            index.remove(key);
            if let Some((moved, _)) = self.items.get(pos) {
                index.insert(*moved, pos);
            }
        }
        let len = self.items.len();
        if len <= UNINDEX_AT {
            self.index = None;
        }
        if len == 0 {
            // Give the buffer back: a filter left with no entries keeps no memory.
            self.items = Vec::new();
        }
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_kept_consistent_across_growth_and_shrink() {
        let mut e = Entries::default();
        for k in 0u32..100 {
            assert_eq!(e.insert(k, k * 10), None);
        }
        assert!(e.index.is_some());
        assert_eq!(e.insert(7, 1), Some(70));
        for k in (0u32..100).step_by(3) {
            assert!(e.remove(&k).is_some());
            assert_eq!(e.remove(&k), None);
        }
        for k in 0u32..100 {
            let expect = match k {
                7 => Some(1),
                _ if k % 3 == 0 => None,
                _ => Some(k * 10),
            };
            assert_eq!(e.get(&k).copied(), expect, "key {k}");
        }
        for k in 0u32..100 {
            e.remove(&k);
        }
        assert!(e.is_empty());
        assert!(e.index.is_none());
        assert_eq!(e.items.capacity(), 0);
    }
}
