//! Subscription tables: a topic-filter trie and shared subscription groups.
//!
//! [`FilterTrie`] maps each topic filter to the sessions subscribed to it and finds every
//! subscription that matches a topic name (MQTT 5 §4.7). [`SharedSubscriptions`] holds the
//! `$share/{group}/{filter}` subscriptions (§4.8.2) and picks one member of each matching group
//! by a [`ShareStrategy`].
//!
//! Both take filters that were already checked with [`mqtt_proto::topic::parse_filter`] (the
//! shard validates before inserting); the shared table takes the group and the filter proper
//! that `parse_filter` splits out. Neither recurses over topic levels, so a topic or filter of
//! 65,535 levels costs time in proportion to its length and constant stack.
//!
//! Matching order depends only on the structure of the trie and the order of inserts and
//! removals, never on hash values, so a seeded simulation replays identically on any machine.

mod entries;
pub mod shared;
pub mod trie;

pub use shared::{ShareStrategy, SharedGroup, SharedSubscriptions};
pub use trie::FilterTrie;

use core::hash::BuildHasher;

/// Seed used by the `new()` constructors; pass a random one with `with_seed` in production.
const DEFAULT_SEED: u64 = 0x5EED_0F72_193A_11E5;

/// A small [`BuildHasher`]: ahash keyed by one 64-bit seed.
///
/// Topic levels come from clients, so the runtime should seed it randomly against hash
/// flooding; the seed never changes matching order (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HashSeed(u64);

impl HashSeed {
    /// A hasher keyed by `seed`.
    pub(crate) const fn new(seed: u64) -> Self {
        Self(seed)
    }
}

impl Default for HashSeed {
    fn default() -> Self {
        Self(DEFAULT_SEED)
    }
}

impl BuildHasher for HashSeed {
    type Hasher = ahash::AHasher;

    fn build_hasher(&self) -> ahash::AHasher {
        ahash::RandomState::with_seeds(
            self.0,
            0x243F_6A88_85A3_08D3,
            0x1319_8A2E_0370_7344,
            0xA409_3822_299F_31D0,
        )
        .build_hasher()
    }
}
