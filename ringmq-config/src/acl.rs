//! `[acl]`: an ordered list of rules, the first matching rule decides, else the default.
//!
//! A rule applies to an action when its `action` is that action's kind (or `all`), its
//! `username` and `client_id` (when given) equal the client's, and its `topic` filter matches:
//!
//! - publish and receive: the filter matches the topic name, with MQTT's rules (`+` one level,
//!   `#` any number of levels including none; a filter starting with a wildcard does not
//!   match a topic starting with `$` [MQTT-4.7.2-1]);
//! - subscribe: the requested filter (after any `$share/{group}/` prefix) is *covered* by the
//!   rule's filter: every topic it can match is matched by the rule's filter. The check is
//!   conservative, level by level: `#` covers anything below it, `+` covers one level that is
//!   not `#`, a literal level covers only itself. So a rule denying subscribe on `a/b` does not
//!   stop a subscription to `a/#`; deny `receive` (or `all`) to keep messages of `a/b` from
//!   reaching such a subscriber.
//!
//! A refused subscription gets SUBACK `[acl] subscribe_denied_reason`; a refused publish gets
//! 0x87 Not authorized in its PUBACK or PUBREC (v5); a refused delivery is skipped.

use mqtt_core::{Acl, Action, AllowAll, ClientInfo, DenyAll};
use serde::Deserialize;

/// Allow or deny.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Allowed.
    #[default]
    Allow,
    /// Refused.
    Deny,
}

/// The actions a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AclAction {
    /// PUBLISH to a topic.
    Publish,
    /// SUBSCRIBE to a filter.
    Subscribe,
    /// Receiving a message on a topic (checked at each delivery).
    Receive,
    /// All three.
    All,
}

/// One `[[acl.rules]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclRule {
    /// Which actions it applies to.
    pub action: AclAction,
    /// A topic filter (no `$share/` prefix).
    pub topic: String,
    /// What it decides.
    pub permission: Permission,
    /// Applies only to this user name.
    #[serde(default)]
    pub username: Option<String>,
    /// Applies only to this client identifier.
    #[serde(default)]
    pub client_id: Option<String>,
}

/// `[acl]`: default permission and ordered rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclConfig {
    /// The permission when no rule matches.
    pub default: Permission,
    /// Rules, first match wins.
    pub rules: Vec<AclRule>,
}

impl AclConfig {
    /// The per-shard [`Acl`]: [`AllowAll`] or [`DenyAll`] when there are no rules.
    pub fn build(&self) -> Box<dyn Acl> {
        match (self.rules.is_empty(), self.default) {
            (true, Permission::Allow) => Box::new(AllowAll),
            (true, Permission::Deny) => Box::new(DenyAll),
            (false, _) => Box::new(RuleAcl {
                default: self.default,
                rules: self.rules.clone(),
            }),
        }
    }

    /// Checks every rule's topic filter.
    pub(crate) fn validate(&self) -> Result<(), crate::ConfigError> {
        for (i, rule) in self.rules.iter().enumerate() {
            let key = format!("acl.rules[{i}].topic");
            let parsed = mqtt_proto::topic::parse_filter(&rule.topic, usize::MAX)
                .map_err(|e| crate::ConfigError::invalid(&key, format!("{:?}: {e}", rule.topic)))?;
            if parsed.share_group.is_some() {
                return Err(crate::ConfigError::invalid(
                    &key,
                    format!(
                        "{:?}: write the filter without `$share/{{group}}/`; subscribe rules \
                         see shared subscriptions' filters without it",
                        rule.topic
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The rule-based [`Acl`] (see the module docs). Each check scans the rules in order, so its
/// cost grows with their number.
#[derive(Debug, Clone)]
pub struct RuleAcl {
    default: Permission,
    rules: Vec<AclRule>,
}

impl RuleAcl {
    /// An ACL over `rules` with `default` when none matches.
    pub fn new(default: Permission, rules: Vec<AclRule>) -> Self {
        Self { default, rules }
    }
}

impl AclRule {
    fn applies(&self, client: &ClientInfo, action: Action<'_>) -> bool {
        let kind_ok = match action {
            Action::Publish { .. } => matches!(self.action, AclAction::Publish | AclAction::All),
            Action::Subscribe { .. } => {
                matches!(self.action, AclAction::Subscribe | AclAction::All)
            }
            Action::Receive { .. } => matches!(self.action, AclAction::Receive | AclAction::All),
        };
        if !kind_ok {
            return false;
        }
        if let Some(u) = &self.username {
            if client.username.as_deref() != Some(u.as_str()) {
                return false;
            }
        }
        if let Some(c) = &self.client_id {
            if &*client.client_id != c.as_str() {
                return false;
            }
        }
        match action {
            Action::Publish { topic, .. } | Action::Receive { topic } => {
                topic_matches(&self.topic, topic)
            }
            Action::Subscribe { filter, .. } => filter_covers(&self.topic, filter),
        }
    }
}

impl Acl for RuleAcl {
    fn check(&self, client: &ClientInfo, action: Action<'_>) -> bool {
        let permission = self
            .rules
            .iter()
            .find(|r| r.applies(client, action))
            .map_or(self.default, |r| r.permission);
        permission == Permission::Allow
    }
}

/// Whether the topic filter `filter` matches the topic name `topic` (MQTT 5 §4.7).
pub fn topic_matches(filter: &str, topic: &str) -> bool {
    // [MQTT-4.7.2-1] a filter starting with a wildcard does not match a `$` topic.
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            // `#` matches the parent level too: `a/#` matches `a`.
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Whether every topic that `requested` can match is matched by `rule` (conservative: see
/// the module docs). Both are filters without a `$share/` prefix.
pub fn filter_covers(rule: &str, requested: &str) -> bool {
    // [MQTT-4.7.2-1] a wildcard first level never matches `$` topics, so it covers no `$`
    // filter.
    if requested.starts_with('$') && rule.starts_with(['+', '#']) {
        return false;
    }
    let mut r = rule.split('/');
    let mut q = requested.split('/');
    loop {
        match (r.next(), q.next()) {
            (Some("#"), _) => return true,
            (Some(_), Some("#")) => return false,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use mqtt_proto::{ProtocolVersion, QoS};

    fn client(id: &str, user: Option<&str>) -> ClientInfo {
        ClientInfo {
            client_id: id.into(),
            username: user.map(Into::into),
            peer: None,
            version: ProtocolVersion::V5,
        }
    }

    fn rule(action: AclAction, topic: &str, permission: Permission) -> AclRule {
        AclRule {
            action,
            topic: topic.into(),
            permission,
            username: None,
            client_id: None,
        }
    }

    fn publish(topic: &str) -> Action<'_> {
        Action::Publish {
            topic,
            qos: QoS::AtMostOnce,
            retain: false,
        }
    }

    fn subscribe(filter: &str) -> Action<'_> {
        Action::Subscribe {
            filter,
            qos: QoS::AtMostOnce,
        }
    }

    #[test]
    fn topic_matching_follows_mqtt_wildcards() {
        assert!(topic_matches("a/b", "a/b"));
        assert!(!topic_matches("a/b", "a/b/c"));
        assert!(topic_matches("a/+/c", "a/x/c"));
        assert!(!topic_matches("a/+/c", "a/x/y/c"));
        assert!(topic_matches("a/+", "a/"));
        assert!(topic_matches("a/#", "a"));
        assert!(topic_matches("a/#", "a/b/c"));
        assert!(topic_matches("#", "a/b"));
        assert!(topic_matches("+/+", "/x"));
        assert!(!topic_matches("a/b", "a"));
    }

    #[test]
    fn mqtt_4_7_2_1_wildcard_first_level_does_not_match_dollar_topics() {
        assert!(!topic_matches("#", "$SYS/broker/uptime"));
        assert!(!topic_matches("+/broker/uptime", "$SYS/broker/uptime"));
        assert!(topic_matches("$SYS/#", "$SYS/broker/uptime"));
        assert!(!filter_covers("#", "$SYS/#"));
        assert!(filter_covers("$SYS/#", "$SYS/broker/+"));
    }

    #[test]
    fn filter_coverage_is_conservative_and_correct() {
        assert!(filter_covers("a/b", "a/b"));
        assert!(filter_covers("a/+", "a/b"));
        assert!(filter_covers("a/+", "a/+"));
        assert!(filter_covers("a/#", "a"));
        assert!(filter_covers("a/#", "a/+/c/#"));
        assert!(filter_covers("#", "#"));
        assert!(!filter_covers("a/b", "a/+"));
        assert!(!filter_covers("a/b", "a/#"));
        assert!(!filter_covers("a/+", "a/#"));
        assert!(!filter_covers("a/+/#", "a/#"));
        assert!(!filter_covers("a/b/c", "a/b"));
        assert!(!filter_covers("a/b", "a/b/c"));
    }

    #[test]
    fn first_matching_rule_wins_then_default() {
        let acl = RuleAcl::new(
            Permission::Deny,
            vec![
                rule(AclAction::Publish, "a/secret", Permission::Deny),
                rule(AclAction::Publish, "a/#", Permission::Allow),
            ],
        );
        let c = client("c", None);
        assert!(!acl.check(&c, publish("a/secret")));
        assert!(acl.check(&c, publish("a/public")));
        assert!(!acl.check(&c, publish("b")), "default deny");
        assert!(
            !acl.check(&c, subscribe("a/public")),
            "publish rules ignore subscribe"
        );
    }

    #[test]
    fn subscribe_deny_on_exact_filter_as_paho_test_expects() {
        let acl = RuleAcl::new(
            Permission::Allow,
            vec![rule(
                AclAction::Subscribe,
                "test/nosubscribe",
                Permission::Deny,
            )],
        );
        let c = client("c", None);
        assert!(!acl.check(&c, subscribe("test/nosubscribe")));
        assert!(
            acl.check(&c, subscribe("test/#")),
            "not covered by the rule"
        );
        assert!(acl.check(&c, publish("test/nosubscribe")));
        assert!(acl.check(
            &c,
            Action::Receive {
                topic: "test/nosubscribe"
            }
        ));
    }

    #[test]
    fn action_all_covers_publish_subscribe_and_receive() {
        let acl = RuleAcl::new(
            Permission::Allow,
            vec![rule(AclAction::All, "private/#", Permission::Deny)],
        );
        let c = client("c", None);
        assert!(!acl.check(&c, publish("private/x")));
        assert!(!acl.check(&c, subscribe("private/+")));
        assert!(!acl.check(
            &c,
            Action::Receive {
                topic: "private/x/y"
            }
        ));
        assert!(acl.check(&c, publish("public/x")));
    }

    #[test]
    fn rules_restricted_to_username_or_client_id() {
        let mut by_user = rule(AclAction::All, "admin/#", Permission::Allow);
        by_user.username = Some("root".into());
        let mut by_id = rule(AclAction::Publish, "sensors/#", Permission::Allow);
        by_id.client_id = Some("sensor-1".into());
        let acl = RuleAcl::new(Permission::Deny, vec![by_user, by_id]);
        assert!(acl.check(&client("x", Some("root")), publish("admin/reboot")));
        assert!(!acl.check(&client("x", Some("guest")), publish("admin/reboot")));
        assert!(!acl.check(&client("x", None), publish("admin/reboot")));
        assert!(acl.check(&client("sensor-1", None), publish("sensors/t")));
        assert!(!acl.check(&client("sensor-2", None), publish("sensors/t")));
    }

    #[test]
    fn empty_rule_set_builds_allow_all_or_deny_all() {
        let c = client("c", None);
        let allow = AclConfig::default().build();
        assert!(allow.check(&c, publish("x")));
        let deny = AclConfig {
            default: Permission::Deny,
            rules: vec![],
        }
        .build();
        assert!(!deny.check(&c, publish("x")));
    }

    #[test]
    fn invalid_rule_filters_are_refused_with_their_index() {
        for bad in ["a/#/b", "a+", "", "$share/g/a"] {
            let cfg = AclConfig {
                default: Permission::Allow,
                rules: vec![
                    rule(AclAction::All, "ok", Permission::Allow),
                    rule(AclAction::All, bad, Permission::Allow),
                ],
            };
            let e = cfg.validate().unwrap_err().to_string();
            assert!(e.contains("acl.rules[1].topic"), "{bad}: {e}");
        }
    }
}
