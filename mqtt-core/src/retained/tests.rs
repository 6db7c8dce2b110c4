use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;
use mqtt_proto::QoS;
use proptest::prelude::*;

use super::*;
use crate::message::Message;

fn msg_at(topic: &str, payload: &[u8], expires_at: Option<Timestamp>) -> SharedMessage {
    Arc::new(Message {
        id: Default::default(),
        topic: ByteString::from(topic),
        payload: Bytes::copy_from_slice(payload),
        qos: QoS::AtLeastOnce,
        retain: true,
        properties: Default::default(),
        expires_at,
        publisher: None,
    })
}

fn msg(topic: &str, payload: &[u8]) -> SharedMessage {
    msg_at(topic, payload, None)
}

/// The topics `filter` matches at `now`, sorted.
fn matches(store: &RetainedStore, filter: &str, now: Timestamp) -> Vec<String> {
    let mut out = Vec::new();
    store.for_each_match(filter, now, |m| out.push(m.topic.to_string()));
    out.sort();
    out
}

fn stored(store: &mut RetainedStore, topics: &[&str]) {
    for t in topics {
        assert_eq!(store.set(msg(t, b"x")), Ok(SetOutcome::Stored), "{t}");
    }
    check(store);
}

/// Checks every structural invariant of the store.
fn check(store: &RetainedStore) {
    let free: BTreeSet<NodeId> = store.free.iter().copied().collect();
    assert_eq!(free.len(), store.free.len(), "a slot is freed twice");
    assert!(!free.contains(&ROOT));
    let root = &store.nodes[ROOT];
    assert!(root.msg.is_none() && root.label.is_empty());
    let mut with_msg = 0;
    for (id, node) in store.nodes.iter().enumerate() {
        if free.contains(&id) {
            assert!(node.msg.is_none() && node.children.is_none() && node.label.is_empty());
            continue;
        }
        if let Some(children) = &node.children {
            assert!(!children.is_empty(), "empty child map kept");
            for (key, &child) in children.iter() {
                assert!(!free.contains(&child));
                let c = &store.nodes[child];
                assert_eq!(c.parent, id);
                assert_eq!(first_level(&c.label), &**key);
            }
        }
        if id == ROOT {
            continue;
        }
        assert!(
            node.msg.is_some() || node.child_count() >= 2,
            "node {id} ({:?}) is neither a topic nor a fork",
            node.label
        );
        let parent = &store.nodes[node.parent];
        assert_eq!(parent.child(first_level(&node.label)), Some(id));
        with_msg += usize::from(node.msg.is_some());
    }
    assert_eq!(with_msg, store.by_topic.len());
    assert!(store.node_count() < 2 * store.len().max(1));
    let mut bytes = 0;
    let mut expiry = BTreeSet::new();
    for entry in &store.by_topic {
        let node = &store.nodes[entry.node];
        assert!(Arc::ptr_eq(node.msg.as_ref().unwrap(), &entry.msg));
        // The labels on the way up spell the topic.
        let mut levels = Vec::new();
        let mut id = entry.node;
        while id != ROOT {
            levels.push(&*store.nodes[id].label);
            id = store.nodes[id].parent;
        }
        levels.reverse();
        assert_eq!(levels.join("/"), &*entry.msg.topic);
        bytes += entry.msg.weight();
        if let Some(at) = entry.msg.expires_at {
            expiry.insert((at, entry.node));
        }
    }
    assert_eq!(bytes, store.bytes);
    assert_eq!(expiry, store.expiry);
}

#[test]
fn retained_message_is_stored_and_replaced_mqtt_3_3_1_5() {
    let mut store = RetainedStore::default();
    assert_eq!(store.set(msg("a/b", b"one")), Ok(SetOutcome::Stored));
    assert_eq!(store.get("a/b").unwrap().payload, "one");
    assert_eq!(store.set(msg("a/b", b"two!")), Ok(SetOutcome::Replaced));
    assert_eq!(store.get("a/b").unwrap().payload, "two!");
    assert_eq!((store.len(), store.bytes()), (1, 3 + 4));
    assert_eq!(matches(&store, "a/+", Timestamp::ZERO), ["a/b"]);
    check(&store);
}

#[test]
fn empty_payload_deletes_retained_message_mqtt_3_3_1_6() {
    let mut store = RetainedStore::default();
    stored(&mut store, &["a/b", "a/c"]);
    assert_eq!(store.set(msg("a/b", b"")), Ok(SetOutcome::Deleted));
    assert!(store.get("a/b").is_none());
    assert_eq!(matches(&store, "a/#", Timestamp::ZERO), ["a/c"]);
    assert_eq!((store.len(), store.bytes()), (1, 4));
    check(&store);
}

#[test]
fn empty_payload_is_never_stored_mqtt_3_3_1_7() {
    let mut store = RetainedStore::default();
    assert_eq!(store.set(msg("a/b", b"")), Ok(SetOutcome::NothingToDelete));
    assert!(store.is_empty() && store.get("a/b").is_none());
    assert_eq!(store.node_count(), 0);
    assert!(matches(&store, "#", Timestamp::ZERO).is_empty());
}

#[test]
fn exact_filter_is_one_lookup() {
    let mut store = RetainedStore::default();
    stored(&mut store, &["a/b", "a/b/c", "$SYS/x", "/", "a//b"]);
    let now = Timestamp::ZERO;
    assert_eq!(matches(&store, "a/b", now), ["a/b"]);
    assert_eq!(matches(&store, "$SYS/x", now), ["$SYS/x"]);
    assert_eq!(matches(&store, "/", now), ["/"]);
    assert_eq!(matches(&store, "a//b", now), ["a//b"]);
    assert!(matches(&store, "a", now).is_empty());
    assert!(matches(&store, "a/b/c/d", now).is_empty());
    assert_eq!(store.get("a/b/c").unwrap().topic, "a/b/c");
    assert!(store.get("a/b/").is_none());
}

#[test]
fn single_level_wildcard_matches_exactly_one_level() {
    let mut store = RetainedStore::default();
    stored(&mut store, &["a", "a/b", "a/c", "a/b/c", "x/b", "a/"]);
    let now = Timestamp::ZERO;
    assert_eq!(matches(&store, "a/+", now), ["a/", "a/b", "a/c"]);
    assert_eq!(matches(&store, "+/b", now), ["a/b", "x/b"]);
    assert_eq!(matches(&store, "+", now), ["a"]);
    assert_eq!(matches(&store, "+/+/c", now), ["a/b/c"]);
    assert_eq!(matches(&store, "a/+/+", now), ["a/b/c"]);
    assert!(matches(&store, "+/+/+/+", now).is_empty());
}

#[test]
fn multi_level_wildcard_matches_parent_and_descendants() {
    let mut store = RetainedStore::default();
    stored(&mut store, &["a", "a/b", "a/b/c", "ab", "b/a"]);
    let now = Timestamp::ZERO;
    assert_eq!(matches(&store, "a/#", now), ["a", "a/b", "a/b/c"]);
    assert_eq!(matches(&store, "a/b/#", now), ["a/b", "a/b/c"]);
    assert_eq!(
        matches(&store, "#", now),
        ["a", "a/b", "a/b/c", "ab", "b/a"]
    );
    assert_eq!(
        matches(&store, "+/#", now),
        ["a", "a/b", "a/b/c", "ab", "b/a"]
    );
    assert_eq!(matches(&store, "+/a/#", now), ["b/a"]);
}

#[test]
fn empty_levels_are_levels() {
    let mut store = RetainedStore::default();
    stored(&mut store, &["/", "/a", "a/", "//", "a//b"]);
    let now = Timestamp::ZERO;
    assert_eq!(matches(&store, "+/+", now), ["/", "/a", "a/"]);
    assert_eq!(matches(&store, "/+", now), ["/", "/a"]);
    assert_eq!(matches(&store, "+/", now), ["/", "a/"]);
    assert_eq!(matches(&store, "/#", now), ["/", "//", "/a"]);
    assert_eq!(matches(&store, "a/+/b", now), ["a//b"]);
    assert_eq!(matches(&store, "+/+/+", now), ["//", "a//b"]);
}

#[test]
fn wildcard_first_level_skips_dollar_topics_mqtt_4_7_2_1() {
    let mut store = RetainedStore::default();
    stored(
        &mut store,
        &["$SYS", "$SYS/broker/uptime", "$x/a", "a/$SYS", "a"],
    );
    let now = Timestamp::ZERO;
    assert_eq!(matches(&store, "#", now), ["a", "a/$SYS"]);
    assert_eq!(matches(&store, "+", now), ["a"]);
    assert_eq!(matches(&store, "+/#", now), ["a", "a/$SYS"]);
    assert!(matches(&store, "+/broker/uptime", now).is_empty());
    // A filter naming the `$` level matches, wildcards after it too.
    assert_eq!(
        matches(&store, "$SYS/#", now),
        ["$SYS", "$SYS/broker/uptime"]
    );
    assert_eq!(
        matches(&store, "$SYS/+/uptime", now),
        ["$SYS/broker/uptime"]
    );
    assert_eq!(matches(&store, "a/+", now), ["a/$SYS"]);
}

#[test]
fn expired_message_is_never_matched_even_before_expire() {
    let mut store = RetainedStore::default();
    store
        .set(msg_at("a/b", b"x", Some(Timestamp(100))))
        .unwrap();
    store.set(msg("a/c", b"x")).unwrap();
    assert_eq!(matches(&store, "a/+", Timestamp(99)), ["a/b", "a/c"]);
    assert_eq!(matches(&store, "a/b", Timestamp(99)), ["a/b"]);
    assert_eq!(matches(&store, "a/+", Timestamp(100)), ["a/c"]);
    assert!(matches(&store, "a/b", Timestamp(100)).is_empty());
    assert!(matches(&store, "#", Timestamp(100)).len() == 1);
    assert_eq!(store.len(), 2);
}

#[test]
fn expire_removes_expired_messages_and_updates_next_expiry() {
    let mut store = RetainedStore::default();
    assert_eq!(store.next_expiry(), None);
    store.set(msg_at("a", b"x", Some(Timestamp(300)))).unwrap();
    store.set(msg_at("b", b"x", Some(Timestamp(100)))).unwrap();
    store.set(msg_at("c", b"x", Some(Timestamp(100)))).unwrap();
    store.set(msg("d", b"x")).unwrap();
    assert_eq!(store.next_expiry(), Some(Timestamp(100)));
    assert_eq!(store.expire(Timestamp(99)), 0);
    assert_eq!(store.expire(Timestamp(100)), 2);
    assert_eq!(store.next_expiry(), Some(Timestamp(300)));
    assert!(store.get("b").is_none() && store.get("c").is_none());
    check(&store);
    // Replacing with a message that never expires drops its deadline.
    store.set(msg("a", b"y")).unwrap();
    assert_eq!(store.next_expiry(), None);
    // Replacing with a later deadline moves it.
    store.set(msg_at("d", b"y", Some(Timestamp(500)))).unwrap();
    store.set(msg_at("d", b"z", Some(Timestamp(700)))).unwrap();
    assert_eq!(store.next_expiry(), Some(Timestamp(700)));
    // Deleting drops it too.
    store.set(msg("d", b"")).unwrap();
    assert_eq!(store.next_expiry(), None);
    assert_eq!(store.expire(Timestamp(10_000)), 0);
    assert_eq!(store.len(), 1);
    check(&store);
}

#[test]
fn count_limit_refuses_new_topic_and_changes_nothing() {
    let mut store = RetainedStore::new(RetainedLimits {
        max_messages: 2,
        max_bytes: 1000,
    });
    stored(&mut store, &["a", "b"]);
    assert_eq!(store.set(msg("c", b"x")), Err(RetainedError::CountLimit));
    assert!(store.get("c").is_none());
    assert_eq!((store.len(), store.bytes(), store.node_count()), (2, 4, 2));
    // A replacement keeps the count, so it is accepted at the limit.
    assert_eq!(store.set(msg("a", b"yy")), Ok(SetOutcome::Replaced));
    // Deleting makes room.
    assert_eq!(store.set(msg("b", b"")), Ok(SetOutcome::Deleted));
    assert_eq!(store.set(msg("c", b"x")), Ok(SetOutcome::Stored));
    check(&store);
}

#[test]
fn byte_limit_refuses_and_changes_nothing() {
    let mut store = RetainedStore::new(RetainedLimits {
        max_messages: 100,
        max_bytes: 10,
    });
    assert_eq!(store.set(msg("a", b"1234")), Ok(SetOutcome::Stored));
    assert_eq!(store.set(msg("b", b"12345")), Err(RetainedError::ByteLimit));
    assert_eq!(store.set(msg("b", b"1234")), Ok(SetOutcome::Stored));
    assert_eq!(store.bytes(), 10);
    // A replacement within the bytes succeeds; one over them keeps the old message.
    assert_eq!(store.set(msg("a", b"4321")), Ok(SetOutcome::Replaced));
    assert_eq!(store.set(msg("a", b"12345")), Err(RetainedError::ByteLimit));
    assert_eq!(store.get("a").unwrap().payload, "4321");
    assert_eq!(store.set(msg("a", b"12")), Ok(SetOutcome::Replaced));
    assert_eq!(store.bytes(), 8);
    // A single message larger than the limit is refused outright.
    let mut tiny = RetainedStore::new(RetainedLimits {
        max_messages: 100,
        max_bytes: 3,
    });
    assert_eq!(tiny.set(msg("abc", b"d")), Err(RetainedError::ByteLimit));
    assert!(tiny.is_empty() && tiny.node_count() == 0);
    check(&store);
}

#[test]
fn tree_is_path_compressed() {
    let mut store = RetainedStore::default();
    stored(&mut store, &["a/b/c/d"]);
    assert_eq!(store.node_count(), 1);
    stored(&mut store, &["a/b/x"]); // forks inside the label: a/b, c/d, x
    assert_eq!(store.node_count(), 3);
    stored(&mut store, &["a"]); // ends inside the label a/b: a, b, c/d, x
    assert_eq!(store.node_count(), 4);
    stored(&mut store, &["a/b/c/d/e/f"]); // extends a leaf
    assert_eq!(store.node_count(), 5);
    stored(&mut store, &["q/r"]);
    assert_eq!(store.node_count(), 6);
    store.remove("a/b/x").unwrap(); // b merges with c/d
    check(&store);
    assert_eq!(store.node_count(), 4);
    store.remove("a/b/c/d").unwrap(); // a's child becomes b/c/d/e/f
    check(&store);
    assert_eq!(store.node_count(), 3);
    assert_eq!(matches(&store, "a/+/c/#", Timestamp::ZERO), ["a/b/c/d/e/f"]);
    assert_eq!(
        matches(&store, "a/#", Timestamp::ZERO),
        ["a", "a/b/c/d/e/f"]
    );
}

#[cfg(target_pointer_width = "64")]
#[test]
fn node_is_forty_bytes() {
    // The per-message overhead documented on `RetainedLimits` relies on it.
    assert_eq!(std::mem::size_of::<Node>(), 40);
}

#[test]
fn removing_everything_prunes_to_zero_nodes() {
    let mut store = RetainedStore::default();
    let topics: Vec<String> = (0..300)
        .map(|i| format!("site/{}/dev/{}/t/{}", i % 7, i % 13, i))
        .chain((0..50).map(|i| format!("site/{}", i)))
        .collect();
    for t in &topics {
        store
            .set(msg_at(t, b"payload", Some(Timestamp(1000))))
            .unwrap();
    }
    check(&store);
    assert_eq!(store.len(), topics.len());
    for t in topics.iter().skip(1).step_by(2) {
        store.remove(t).unwrap();
    }
    check(&store);
    for t in topics.iter().step_by(2).skip(1) {
        assert_eq!(store.set(msg(t, b"")), Ok(SetOutcome::Deleted));
    }
    check(&store);
    assert_eq!((store.len(), store.node_count()), (1, 1));
    assert_eq!(store.expire(Timestamp(1000)), 1);
    assert_eq!((store.len(), store.bytes(), store.node_count()), (0, 0, 0));
    assert_eq!(store.next_expiry(), None);
    assert!(store.nodes.len() == 1 && store.free.is_empty());
    assert!(store.remove("site/1").is_none());
    check(&store);
}

#[test]
fn topic_of_65535_levels() {
    let mut store = RetainedStore::default();
    let topic = "/".repeat(65_534); // 65,535 empty levels
    store.set(msg(&topic, b"deep")).unwrap();
    let mut deep_plus = String::from("+");
    deep_plus.push_str(&topic);
    let mut deep_hash = topic.clone();
    deep_hash.push('#');
    let mut too_deep = topic.clone();
    too_deep.push_str("/+");
    let now = Timestamp::ZERO;
    for filter in ["#", "/#", "+/#", &deep_plus, &deep_hash, &topic] {
        assert_eq!(matches(&store, filter, now).len(), 1, "{}", filter.len());
    }
    assert!(matches(&store, &too_deep, now).is_empty());
    // A sibling that parts at the very last level.
    let mut sibling = topic.clone();
    sibling.pop();
    sibling.push_str("/x");
    store.set(msg(&sibling, b"deep")).unwrap();
    assert_eq!(matches(&store, &deep_hash, now).len(), 2);
    assert_eq!(matches(&store, "#", now).len(), 2);
    check(&store);
    store.remove(&topic).unwrap();
    store.remove(&sibling).unwrap();
    assert_eq!(store.node_count(), 0);
}

#[test]
fn deep_chain_of_nested_topics() {
    // Every level is a topic, so the tree is a chain of 1,000 nodes.
    let depth = 1_000;
    let mut store = RetainedStore::default();
    let mut topic = String::from("l");
    let mut topics = Vec::new();
    for _ in 0..depth {
        topics.push(topic.clone());
        topic.push_str("/l");
    }
    for t in &topics {
        store.set(msg(t, b"x")).unwrap();
    }
    assert_eq!(store.node_count(), depth);
    assert_eq!(matches(&store, "#", Timestamp::ZERO).len(), depth);
    assert_eq!(matches(&store, "l/#", Timestamp::ZERO).len(), depth);
    assert_eq!(matches(&store, "+/+/+", Timestamp::ZERO), ["l/l/l"]);
    // Removing every other one merges the gaps away.
    for t in topics.iter().step_by(2) {
        store.remove(t).unwrap();
    }
    assert_eq!(store.node_count(), depth / 2);
    check(&store);
    for t in topics.iter().skip(1).step_by(2) {
        store.remove(t).unwrap();
    }
    assert_eq!(store.node_count(), 0);
}

// ---- model-based property test ----

/// A reference matcher: split both and compare level by level.
fn naive_matches(filter: &str, topic: &str) -> bool {
    // [MQTT-4.7.2-1]
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let f: Vec<&str> = filter.split('/').collect();
    let t: Vec<&str> = topic.split('/').collect();
    let mut i = 0;
    loop {
        match (f.get(i), t.get(i)) {
            (Some(&"#"), _) => return true,
            (None, None) => return true,
            (Some(&"+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
        i += 1;
    }
}

const LEVELS: &[&str] = &["a", "b", "", "$s", "ab"];

fn topic_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(LEVELS), 1..6).prop_map(|l| l.join("/"))
}

fn filter_strategy() -> impl Strategy<Value = String> {
    let level = prop_oneof![
        3 => prop::sample::select(LEVELS),
        2 => Just("+"),
    ];
    (prop::collection::vec(level, 0..6), any::<bool>()).prop_filter_map(
        "empty filter",
        |(mut levels, hash)| {
            if hash {
                levels.push("#");
            }
            (!levels.is_empty()).then(|| levels.join("/"))
        },
    )
}

#[derive(Debug, Clone)]
enum Op {
    Set {
        topic: String,
        len: usize,
        expires: Option<u64>,
    },
    Remove(String),
    Expire(u64),
    Match(String, u64),
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (topic_strategy(), 0..6usize, prop::option::of(0..50u64))
            .prop_map(|(topic, len, expires)| Op::Set { topic, len, expires }),
        2 => topic_strategy().prop_map(Op::Remove),
        1 => (0..50u64).prop_map(Op::Expire),
        4 => (filter_strategy(), 0..50u64).prop_map(|(f, now)| Op::Match(f, now)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn store_agrees_with_a_model(ops in prop::collection::vec(op_strategy(), 1..60)) {
        let limits = RetainedLimits { max_messages: 12, max_bytes: 80 };
        let mut store = RetainedStore::new(limits);
        // topic -> (payload length, expiry)
        let mut model: BTreeMap<String, (usize, Option<u64>)> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Set { topic, len, expires } => {
                    let payload = vec![b'p'; len];
                    let got = store.set(msg_at(&topic, &payload, expires.map(Timestamp)));
                    let used: usize = model.iter().map(|(t, (l, _))| t.len() + l).sum();
                    let want = if len == 0 {
                        Ok(match model.remove(&topic) {
                            Some(_) => SetOutcome::Deleted,
                            None => SetOutcome::NothingToDelete,
                        })
                    } else if let Some(old) = model.get(&topic) {
                        if used - topic.len() - old.0 + topic.len() + len > limits.max_bytes {
                            Err(RetainedError::ByteLimit)
                        } else {
                            model.insert(topic.clone(), (len, expires));
                            Ok(SetOutcome::Replaced)
                        }
                    } else if model.len() >= limits.max_messages {
                        Err(RetainedError::CountLimit)
                    } else if used + topic.len() + len > limits.max_bytes {
                        Err(RetainedError::ByteLimit)
                    } else {
                        model.insert(topic.clone(), (len, expires));
                        Ok(SetOutcome::Stored)
                    };
                    prop_assert_eq!(got, want);
                }
                Op::Remove(topic) => {
                    let got = store.remove(&topic).map(|m| m.payload.len());
                    prop_assert_eq!(got, model.remove(&topic).map(|(l, _)| l));
                }
                Op::Expire(now) => {
                    let before = model.len();
                    model.retain(|_, (_, e)| e.is_none_or(|e| e > now));
                    prop_assert_eq!(store.expire(Timestamp(now)), before - model.len());
                }
                Op::Match(filter, now) => {
                    let want: Vec<String> = model
                        .iter()
                        .filter(|(t, (_, e))| {
                            e.is_none_or(|e| e > now) && naive_matches(&filter, t)
                        })
                        .map(|(t, _)| t.clone())
                        .collect();
                    prop_assert_eq!(matches(&store, &filter, Timestamp(now)), want);
                }
            }
            check(&store);
            prop_assert_eq!(store.len(), model.len());
            prop_assert_eq!(
                store.next_expiry(),
                model.values().filter_map(|(_, e)| e.map(Timestamp)).min()
            );
            for (t, (l, _)) in &model {
                prop_assert_eq!(store.get(t).map(|m| m.payload.len()), Some(*l));
            }
        }
        let topics: Vec<String> = model.keys().cloned().collect();
        for t in topics {
            prop_assert!(store.remove(&t).is_some());
        }
        prop_assert_eq!(store.node_count(), 0);
        prop_assert_eq!(store.bytes(), 0);
    }

    #[test]
    fn wildcard_walk_matches_naive_reference(
        topics in prop::collection::btree_set(topic_strategy(), 0..40),
        filters in prop::collection::vec(filter_strategy(), 1..20),
    ) {
        let mut store = RetainedStore::default();
        for t in &topics {
            store.set(msg(t, b"x")).unwrap();
        }
        check(&store);
        for filter in &filters {
            let want: Vec<String> =
                topics.iter().filter(|t| naive_matches(filter, t)).cloned().collect();
            prop_assert_eq!(matches(&store, filter, Timestamp::ZERO), want);
        }
    }
}
