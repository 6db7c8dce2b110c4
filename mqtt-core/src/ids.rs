//! Identifiers passed between the core and the runtime.

/// A connection, numbered by the runtime; unique within a shard while it is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// A session inside one shard; never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub u64);

/// A shard (one per core).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShardId(pub u16);

/// The shard that owns a key (a client identifier or a topic): a pure function of the key
/// and the number of shards, the same on every shard and every run (FNV-1a, 64 bit).
pub fn shard_for(key: &str, count: u16) -> ShardId {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let n = u64::from(count.max(1));
    ShardId(u16::try_from(h % n).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_for_is_stable_and_in_range() {
        assert_eq!(shard_for("client-1", 1), ShardId(0));
        for n in 1..=16u16 {
            for k in ["a", "b", "client-42", "", "sensor/1/temp"] {
                let s = shard_for(k, n);
                assert!(s.0 < n);
                assert_eq!(s, shard_for(k, n));
            }
        }
        // Spread: 1000 ids over 4 shards put at least 150 on each.
        let mut counts = [0usize; 4];
        for i in 0..1000 {
            counts[usize::from(shard_for(&format!("c{i}"), 4).0)] += 1;
        }
        assert!(counts.iter().all(|c| *c >= 150), "{counts:?}");
    }
}
