//! Topic aliases (MQTT 5 §3.3.2.3.4): the inbound map a client fills, and the outbound LRU the
//! broker keeps for each client.

use std::collections::BTreeMap;

use ahash::AHashMap;
use bytestring::ByteString;

/// Aliases a client has set for this connection: alias → topic.
#[derive(Debug, Default)]
pub(crate) struct InboundAliases {
    map: AHashMap<u16, ByteString>,
}

impl InboundAliases {
    /// Records or replaces an alias (the codec has checked 1..=maximum).
    pub(crate) fn set(&mut self, alias: u16, topic: ByteString) {
        self.map.insert(alias, topic);
    }

    pub(crate) fn get(&self, alias: u16) -> Option<&ByteString> {
        self.map.get(&alias)
    }
}

/// What to put in an outbound PUBLISH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutboundAlias {
    /// The client knows this alias: send an empty topic and the alias.
    Known(u16),
    /// A new (or reassigned) alias: send the topic and the alias.
    Assigned(u16),
    /// No aliases for this client.
    None,
}

/// Least-recently-used outbound aliases, up to the client's Topic Alias Maximum.
#[derive(Debug, Default)]
pub(crate) struct OutboundAliases {
    max: u16,
    clock: u64,
    by_topic: AHashMap<ByteString, (u16, u64)>,
    by_alias: AHashMap<u16, ByteString>,
    lru: BTreeMap<u64, u16>,
}

impl OutboundAliases {
    pub(crate) fn new(max: u16) -> Self {
        Self {
            max,
            ..Self::default()
        }
    }

    /// Chooses the alias for `topic`, assigning or evicting as needed.
    pub(crate) fn lookup(&mut self, topic: &ByteString) -> OutboundAlias {
        if self.max == 0 {
            return OutboundAlias::None;
        }
        self.clock += 1;
        let now = self.clock;
        if let Some((alias, used)) = self.by_topic.get_mut(topic) {
            self.lru.remove(used);
            *used = now;
            self.lru.insert(now, *alias);
            return OutboundAlias::Known(*alias);
        }
        let alias = if self.by_alias.len() < usize::from(self.max) {
            // Aliases 1..=max are handed out in order until all are used.
            u16::try_from(self.by_alias.len() + 1).unwrap_or(self.max)
        } else {
            let Some((_, victim)) = self.lru.pop_first() else {
                return OutboundAlias::None;
            };
            if let Some(old) = self.by_alias.remove(&victim) {
                self.by_topic.remove(&old);
            }
            victim
        };
        self.by_alias.insert(alias, topic.clone());
        self.by_topic.insert(topic.clone(), (alias, now));
        self.lru.insert(now, alias);
        OutboundAlias::Assigned(alias)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_assigns_then_reuses_then_evicts_least_recent() {
        let mut a = OutboundAliases::new(2);
        let (t1, t2, t3) = (
            ByteString::from("a"),
            ByteString::from("b"),
            ByteString::from("c"),
        );
        assert_eq!(a.lookup(&t1), OutboundAlias::Assigned(1));
        assert_eq!(a.lookup(&t2), OutboundAlias::Assigned(2));
        assert_eq!(a.lookup(&t1), OutboundAlias::Known(1));
        // t2 is least recently used: its alias goes to t3.
        assert_eq!(a.lookup(&t3), OutboundAlias::Assigned(2));
        assert_eq!(a.lookup(&t2), OutboundAlias::Assigned(1));
        assert_eq!(a.lookup(&t3), OutboundAlias::Known(2));
    }

    #[test]
    fn zero_maximum_means_no_aliases_mqtt_3_3_2_10() {
        let mut a = OutboundAliases::new(0);
        assert_eq!(a.lookup(&ByteString::from("a")), OutboundAlias::None);
    }
}
