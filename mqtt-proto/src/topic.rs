//! Topic name and topic filter rules (MQTT 5 §4.7) and shared subscriptions (§4.8.2).
//!
//! The decoder already guarantees well-formed UTF-8 without U+0000. These functions add the
//! structural rules. A filter that breaks them is answered with SUBACK 0x8F for that entry,
//! not by closing the connection, so they are separate from decoding. Every check is one
//! linear pass, without recursion, however many levels the topic has.

/// Prefix of a shared subscription filter.
pub const SHARE_PREFIX: &str = "$share/";

/// Why a topic name or filter is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// Empty topic or filter.
    #[error("[MQTT-4.7.3-1] topic names and filters are at least one character long")]
    Empty,
    /// Longer than a UTF-8 string can be.
    #[error("[MQTT-4.7.3-3] topic longer than 65,535 bytes")]
    TooLong,
    /// More levels than the configured maximum.
    #[error("topic has more than {0} levels")]
    TooManyLevels(usize),
    /// A wildcard in a topic name.
    #[error("[MQTT-3.3.2-2] topic name contains a wildcard")]
    WildcardInName,
    /// `#` not alone in the last level.
    #[error("[MQTT-4.7.1-1] '#' must be the last character and occupy a whole level")]
    MultiLevelWildcardMisplaced,
    /// `+` not alone in its level.
    #[error("[MQTT-4.7.1-2] '+' must occupy a whole level")]
    SingleLevelWildcardMisplaced,
    /// `$share//…`: empty share name.
    #[error("[MQTT-4.8.2-1] share name is empty")]
    ShareNameEmpty,
    /// Share name containing `+` or `#`.
    #[error("[MQTT-4.8.2-2] share name contains a wildcard")]
    ShareNameInvalid,
    /// `$share/group` with no `/filter`, or an empty filter after it.
    #[error("[MQTT-4.8.2-2] shared subscription has no topic filter")]
    ShareFilterMissing,
}

/// A topic filter split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicFilter<'a> {
    /// The share group of a `$share/{group}/{filter}` subscription.
    pub share_group: Option<&'a str>,
    /// The filter proper (after the share prefix and group).
    pub filter: &'a str,
    /// Whether the filter contains `+` or `#`.
    pub has_wildcards: bool,
    /// Number of levels in the filter.
    pub levels: usize,
}

/// Checks a topic name: non-empty, no wildcards, at most `max_levels` levels.
pub fn validate_topic_name(name: &str, max_levels: usize) -> Result<usize, TopicError> {
    // [MQTT-4.7.3-1] at least one character.
    if name.is_empty() {
        return Err(TopicError::Empty);
    }
    // [MQTT-4.7.3-3] a UTF-8 string holds at most 65,535 bytes.
    if name.len() > usize::from(u16::MAX) {
        return Err(TopicError::TooLong);
    }
    let mut levels = 1;
    for b in name.bytes() {
        match b {
            // [MQTT-3.3.2-2] no wildcards in a topic name.
            b'+' | b'#' => return Err(TopicError::WildcardInName),
            b'/' => {
                levels += 1;
                if levels > max_levels {
                    return Err(TopicError::TooManyLevels(max_levels));
                }
            }
            _ => {}
        }
    }
    Ok(levels)
}

/// Parses and checks a topic filter, including the `$share/{group}/{filter}` form.
pub fn parse_filter(filter: &str, max_levels: usize) -> Result<TopicFilter<'_>, TopicError> {
    // [MQTT-4.7.3-1] at least one character.
    if filter.is_empty() {
        return Err(TopicError::Empty);
    }
    if filter.len() > usize::from(u16::MAX) {
        return Err(TopicError::TooLong);
    }
    let (share_group, rest) = match filter.strip_prefix(SHARE_PREFIX) {
        Some(after) => {
            let Some((group, rest)) = after.split_once('/') else {
                // `$share/ab`: [MQTT-4.8.2-2] the share name is followed by '/' and a filter.
                return Err(if after.is_empty() {
                    TopicError::ShareNameEmpty
                } else {
                    TopicError::ShareFilterMissing
                });
            };
            // [MQTT-4.8.2-1] the share name is at least one character.
            if group.is_empty() {
                return Err(TopicError::ShareNameEmpty);
            }
            // [MQTT-4.8.2-2] the share name contains no '/', '+' or '#'.
            if group.contains(['+', '#']) {
                return Err(TopicError::ShareNameInvalid);
            }
            // [MQTT-4.8.2-2] a topic filter follows; [MQTT-4.7.3-1] it is not empty.
            if rest.is_empty() {
                return Err(TopicError::ShareFilterMissing);
            }
            (Some(group), rest)
        }
        None => (None, filter),
    };
    let (has_wildcards, levels) = check_filter_levels(rest, max_levels)?;
    Ok(TopicFilter {
        share_group,
        filter: rest,
        has_wildcards,
        levels,
    })
}

/// One pass over the filter's bytes: wildcard placement and level count.
fn check_filter_levels(filter: &str, max_levels: usize) -> Result<(bool, usize), TopicError> {
    let bytes = filter.as_bytes();
    let mut levels = 1;
    let mut wild = false;
    let mut level_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'/' => {
                levels += 1;
                if levels > max_levels {
                    return Err(TopicError::TooManyLevels(max_levels));
                }
                level_start = i + 1;
            }
            b'+' => {
                // [MQTT-4.7.1-2] '+' fills its level: preceded and followed by '/' or an end.
                let next = bytes.get(i + 1).copied();
                if i != level_start || !matches!(next, None | Some(b'/')) {
                    return Err(TopicError::SingleLevelWildcardMisplaced);
                }
                wild = true;
            }
            b'#' => {
                // [MQTT-4.7.1-1] '#' is alone in the last level.
                if i != level_start || i + 1 != bytes.len() {
                    return Err(TopicError::MultiLevelWildcardMisplaced);
                }
                wild = true;
            }
            _ => {}
        }
    }
    Ok((wild, levels))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 128;

    #[test]
    fn topic_name_wildcards_rejected_mqtt_3_3_2_2() {
        assert_eq!(
            validate_topic_name("a/+/b", MAX),
            Err(TopicError::WildcardInName)
        );
        assert_eq!(
            validate_topic_name("a/#", MAX),
            Err(TopicError::WildcardInName)
        );
        assert_eq!(validate_topic_name("a/b", MAX), Ok(2));
    }

    #[test]
    fn empty_topic_rejected_mqtt_4_7_3_1() {
        assert_eq!(validate_topic_name("", MAX), Err(TopicError::Empty));
        assert_eq!(parse_filter("", MAX), Err(TopicError::Empty));
    }

    #[test]
    fn multi_level_wildcard_placement_mqtt_4_7_1_1() {
        for ok in ["#", "a/#", "a/b/#", "/#"] {
            assert!(parse_filter(ok, MAX).is_ok(), "{ok}");
        }
        for bad in ["a/#/b", "a#", "#/a", "a/b#", "##"] {
            assert_eq!(
                parse_filter(bad, MAX),
                Err(TopicError::MultiLevelWildcardMisplaced),
                "{bad}"
            );
        }
    }

    #[test]
    fn single_level_wildcard_placement_mqtt_4_7_1_2() {
        for ok in ["+", "+/+", "a/+/b", "/+", "+/", "sport/+/player1"] {
            assert!(parse_filter(ok, MAX).is_ok(), "{ok}");
        }
        for bad in ["a+", "+a", "a/b+/c", "++"] {
            assert_eq!(
                parse_filter(bad, MAX),
                Err(TopicError::SingleLevelWildcardMisplaced),
                "{bad}"
            );
        }
    }

    #[test]
    fn shared_filters_bad_inputs_row_20_mqtt_4_8_2_1_and_2() {
        assert_eq!(
            parse_filter("$share/ab", MAX),
            Err(TopicError::ShareFilterMissing)
        );
        assert_eq!(
            parse_filter("$share//t", MAX),
            Err(TopicError::ShareNameEmpty)
        );
        assert_eq!(
            parse_filter("$share/g/", MAX),
            Err(TopicError::ShareFilterMissing)
        );
        assert_eq!(
            parse_filter("$share/", MAX),
            Err(TopicError::ShareNameEmpty)
        );
        assert_eq!(
            parse_filter("$share/g+/t", MAX),
            Err(TopicError::ShareNameInvalid)
        );
        assert_eq!(
            parse_filter("$share/g#/t", MAX),
            Err(TopicError::ShareNameInvalid)
        );
        assert_eq!(
            parse_filter("a/#/b", MAX),
            Err(TopicError::MultiLevelWildcardMisplaced)
        );
        let f = parse_filter("$share/grp/a/+/#", MAX).unwrap();
        assert_eq!(f.share_group, Some("grp"));
        assert_eq!(f.filter, "a/+/#");
        assert!(f.has_wildcards);
        assert_eq!(f.levels, 3);
        // "$share" without the slash is an ordinary filter.
        assert_eq!(parse_filter("$share", MAX).unwrap().share_group, None);
    }

    #[test]
    fn deep_topics_bounded_bad_inputs_row_21() {
        let slashes = "/".repeat(65_535);
        assert_eq!(
            validate_topic_name(&slashes, MAX),
            Err(TopicError::TooManyLevels(MAX))
        );
        assert_eq!(
            parse_filter(&slashes, MAX),
            Err(TopicError::TooManyLevels(MAX))
        );
        let deep = "a/".repeat(127) + "a";
        assert_eq!(validate_topic_name(&deep, MAX), Ok(128));
        let deeper = "a/".repeat(128) + "a";
        assert_eq!(
            validate_topic_name(&deeper, MAX),
            Err(TopicError::TooManyLevels(MAX))
        );
    }
}
