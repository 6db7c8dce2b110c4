//! Topic aliases (MQTT 5 §3.3.2.3.4): the inbound map a client fills, and the outbound LRU the
//! broker keeps for each client.

use std::collections::BTreeMap;

use ahash::AHashMap;
use bytestring::ByteString;

/// Aliases a client has set for this connection: alias → topic. A new connection starts
/// empty [MQTT-3.3.2-7]; the codec bounds aliases to 1..=our Topic Alias Maximum, so the map
/// never holds more than that many entries. The map is allocated when the first alias is
/// set: a connection that uses none pays one pointer.
#[derive(Debug, Default)]
pub(crate) struct InboundAliases {
    map: Option<Box<AHashMap<u16, ByteString>>>,
}

impl InboundAliases {
    /// Records or replaces an alias (the codec has checked 1..=maximum).
    pub(crate) fn set(&mut self, alias: u16, topic: ByteString) {
        self.map.get_or_insert_default().insert(alias, topic);
    }

    pub(crate) fn get(&self, alias: u16) -> Option<&ByteString> {
        self.map.as_ref()?.get(&alias)
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

/// One alias in use.
#[derive(Debug)]
struct Slot {
    topic: ByteString,
    /// LRU stamp.
    used: u64,
}

/// Least-recently-used outbound aliases, up to the client's Topic Alias Maximum.
///
/// A send is two steps, so that a PUBLISH that turns out not to fit the client's Maximum
/// Packet Size leaves the table as the client knows it: [`OutboundAliases::peek`] says what
/// to send, and [`OutboundAliases::commit`] records it once it was written. The table is
/// allocated with the first alias: a client that allows none, or receives nothing, pays a
/// pointer and its maximum.
#[derive(Debug, Default)]
pub(crate) struct OutboundAliases {
    max: u16,
    table: Option<Box<AliasTable>>,
}

/// The aliases handed out so far.
#[derive(Debug, Default)]
struct AliasTable {
    clock: u64,
    by_topic: AHashMap<ByteString, u16>,
    /// Alias `a` is `slots[a - 1]`; aliases are handed out in order until all are used.
    slots: Vec<Slot>,
    /// LRU stamp → alias.
    lru: BTreeMap<u64, u16>,
}

impl OutboundAliases {
    pub(crate) fn new(max: u16) -> Self {
        Self { max, table: None }
    }

    /// Whether the client takes no aliases (its Topic Alias Maximum is absent or 0): every
    /// PUBLISH to it carries the topic name.
    #[inline]
    pub(crate) fn is_off(&self) -> bool {
        self.max == 0
    }

    /// The alias to use for `topic`, without recording anything.
    pub(crate) fn peek(&self, topic: &ByteString) -> OutboundAlias {
        // [MQTT-3.1.2-27] no aliases when the client's Topic Alias Maximum is absent or 0.
        if self.max == 0 {
            return OutboundAlias::None;
        }
        let Some(t) = &self.table else {
            return OutboundAlias::Assigned(1);
        };
        if let Some(&alias) = t.by_topic.get(topic) {
            return OutboundAlias::Known(alias);
        }
        // [MQTT-3.1.2-26] never above the client's maximum: 1..=max, then the LRU victim.
        if t.slots.len() < usize::from(self.max) {
            return u16::try_from(t.slots.len() + 1)
                .map_or(OutboundAlias::None, OutboundAlias::Assigned);
        }
        match t.lru.first_key_value() {
            Some((_, &victim)) => OutboundAlias::Assigned(victim),
            None => OutboundAlias::None,
        }
    }

    /// Records that `choice` (from [`OutboundAliases::peek`] for `topic`) was sent.
    pub(crate) fn commit(&mut self, topic: &ByteString, choice: OutboundAlias) {
        let alias = match choice {
            OutboundAlias::Known(a) | OutboundAlias::Assigned(a) => a,
            OutboundAlias::None => return,
        };
        let t = self.table.get_or_insert_default();
        t.clock += 1;
        let now = t.clock;
        let index = usize::from(alias).saturating_sub(1);
        match t.slots.get_mut(index) {
            Some(slot) => {
                t.lru.remove(&slot.used);
                slot.used = now;
                if slot.topic != *topic {
                    // Reassigned: the old topic loses its alias.
                    let old = core::mem::replace(&mut slot.topic, topic.clone());
                    t.by_topic.remove(&old);
                    t.by_topic.insert(topic.clone(), alias);
                }
            }
            None => {
                t.slots.push(Slot {
                    topic: topic.clone(),
                    used: now,
                });
                t.by_topic.insert(topic.clone(), alias);
            }
        }
        t.lru.insert(now, alias);
    }

    /// [`OutboundAliases::peek`] and [`OutboundAliases::commit`] in one step.
    #[cfg(test)]
    pub(crate) fn lookup(&mut self, topic: &ByteString) -> OutboundAlias {
        let choice = self.peek(topic);
        self.commit(topic, choice);
        choice
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
        let t = a.table.as_ref().unwrap();
        assert_eq!(t.by_topic.len(), 2);
        assert_eq!(t.lru.len(), 2);
    }

    #[test]
    fn peek_without_commit_changes_nothing() {
        let mut a = OutboundAliases::new(1);
        let (t1, t2) = (ByteString::from("a"), ByteString::from("b"));
        assert_eq!(a.lookup(&t1), OutboundAlias::Assigned(1));
        assert_eq!(a.peek(&t2), OutboundAlias::Assigned(1));
        // Not committed: the client still knows alias 1 as t1.
        assert_eq!(a.peek(&t1), OutboundAlias::Known(1));
        assert_eq!(a.lookup(&t2), OutboundAlias::Assigned(1));
        assert_eq!(a.peek(&t1), OutboundAlias::Assigned(1));
    }

    #[test]
    fn tables_are_allocated_with_the_first_alias() {
        let mut inbound = InboundAliases::default();
        assert_eq!(inbound.get(1), None);
        assert!(inbound.map.is_none());
        inbound.set(1, ByteString::from("a"));
        assert_eq!(inbound.get(1).map(|t| &**t), Some("a"));

        let mut outbound = OutboundAliases::new(4);
        let t = ByteString::from("a");
        assert_eq!(outbound.peek(&t), OutboundAlias::Assigned(1));
        outbound.commit(&t, OutboundAlias::None);
        assert!(outbound.table.is_none(), "nothing sent with an alias yet");
        assert_eq!(outbound.lookup(&t), OutboundAlias::Assigned(1));
        assert!(outbound.table.is_some());
        assert_eq!(outbound.lookup(&t), OutboundAlias::Known(1));
    }

    #[test]
    fn zero_maximum_means_no_aliases_mqtt_3_1_2_27() {
        let mut a = OutboundAliases::new(0);
        assert_eq!(a.lookup(&ByteString::from("a")), OutboundAlias::None);
    }

    #[test]
    fn aliases_stay_within_the_maximum_mqtt_3_1_2_26() {
        let mut a = OutboundAliases::new(3);
        for i in 0..10u32 {
            let t = ByteString::from(format!("t/{i}"));
            match a.lookup(&t) {
                OutboundAlias::Assigned(n) => assert!((1..=3).contains(&n)),
                other => panic!("{other:?}"),
            }
        }
        let t = a.table.as_ref().unwrap();
        assert_eq!(t.slots.len(), 3);
        assert_eq!(t.by_topic.len(), 3);
    }
}
