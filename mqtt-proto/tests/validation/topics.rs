//! Topic names and filters.

use mqtt_proto::topic::{parse_filter, validate_topic_name, TopicError};

// ---- topic names and filters (what topic.rs's unit tests leave out) --------------------------

#[test]
fn topic_longer_than_65535_bytes_is_refused_mqtt_4_7_3_3() {
    let max = "a".repeat(65_535);
    assert_eq!(validate_topic_name(&max, 128), Ok(1));
    assert!(parse_filter(&max, 128).is_ok());
    let over = "a".repeat(65_536);
    assert_eq!(validate_topic_name(&over, 128), Err(TopicError::TooLong));
    assert_eq!(parse_filter(&over, 128), Err(TopicError::TooLong));
}

#[test]
fn topic_names_may_be_slashes_dollars_spaces_and_bom_mqtt_4_7_3_1() {
    assert_eq!(validate_topic_name("/", 128), Ok(2));
    assert_eq!(validate_topic_name("$SYS/broker", 128), Ok(2));
    assert_eq!(validate_topic_name(" ", 128), Ok(1));
    assert_eq!(validate_topic_name("\u{FEFF}a", 128), Ok(1));
    assert_eq!(validate_topic_name("a//b", 128), Ok(3));
}

#[test]
fn filter_level_cap_boundary_mqtt_4_7_1() {
    let at_cap = "+/".repeat(3) + "#";
    assert_eq!(parse_filter(&at_cap, 4).unwrap().levels, 4);
    assert_eq!(parse_filter(&at_cap, 3), Err(TopicError::TooManyLevels(3)));
    // The share prefix and group are not levels of the filter.
    let f = parse_filter("$share/g/a/b", 2).unwrap();
    assert_eq!((f.share_group, f.filter, f.levels), (Some("g"), "a/b", 2));
    assert_eq!(
        parse_filter("$share/g/a/b/c", 2),
        Err(TopicError::TooManyLevels(2))
    );
}

#[test]
fn shared_filter_body_follows_the_wildcard_rules_mqtt_4_8_2_2() {
    let f = parse_filter("$share/g/#", 128).unwrap();
    assert_eq!((f.filter, f.has_wildcards), ("#", true));
    assert!(parse_filter("$share/g/+/x", 128).is_ok());
    assert_eq!(
        parse_filter("$share/g/a/#/b", 128),
        Err(TopicError::MultiLevelWildcardMisplaced)
    );
    assert_eq!(
        parse_filter("$share/g/a+", 128),
        Err(TopicError::SingleLevelWildcardMisplaced)
    );
    let f = parse_filter("$share/g/$SYS/x", 128).unwrap();
    assert!(!f.has_wildcards);
    // Wildcards inside a topic name are refused whatever their place.
    for name in ["+", "#", "a/+/b", "a#", "$share/g/+"] {
        assert_eq!(
            validate_topic_name(name, 128),
            Err(TopicError::WildcardInName)
        );
    }
}
