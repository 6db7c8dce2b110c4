#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;

fn parse(text: &str) -> BrokerConfig {
    BrokerConfig::from_toml_str(text).unwrap()
}

fn err(text: &str) -> String {
    BrokerConfig::from_toml_str(text).unwrap_err().to_string()
}

/// A cheap Argon2 hash of "pw" (8 KiB, 1 pass) so that debug-build tests stay fast.
fn cheap() -> String {
    crate::auth::tests::cheap_hash("pw")
}

#[test]
fn empty_file_is_the_default_configuration() {
    let cfg = parse("");
    assert_eq!(format!("{cfg:?}"), format!("{:?}", BrokerConfig::default()));
    assert_eq!(cfg.listeners[0].addr, DEFAULT_LISTENER);
}

#[test]
fn every_section_sets_its_values() {
    let cfg = parse(
        r#"
        shards = 3
        [[listeners]]
        addr = "0.0.0.0:1884"
        [[listeners]]
        addr = "[::1]:1885"
        [limits]
        max_packet_size = 2048
        receive_maximum = 7
        connect_timeout_ms = 500
        [session]
        max_keep_alive = 60
        max_session_expiry = 0
        [protocol]
        max_qos = 1
        share_strategy = "publisher_hash"
        control_chars = "allow"
        response_information = "resp/"
        [retained]
        max_messages = 5
        [sys]
        interval = 0
        [acl]
        subscribe_denied_reason = "unspecified"
        [runtime]
        channel_capacity = 16
        park_idle_ms = 0
        spin_before_park_us = 50
        "#,
    );
    assert_eq!(cfg.shards, 3);
    assert_eq!(cfg.effective_shards(), 3);
    assert_eq!(
        cfg.listeners
            .iter()
            .map(|l| l.addr.to_string())
            .collect::<Vec<_>>(),
        ["0.0.0.0:1884", "[::1]:1885"]
    );
    assert!(cfg.listeners_from_file);
    let c = &cfg.core;
    assert_eq!(
        (c.max_packet_size, c.receive_maximum, c.connect_timeout_ms),
        (2048, 7, 500)
    );
    assert_eq!((c.max_keep_alive, c.max_session_expiry), (Some(60), 0));
    assert_eq!(c.max_qos, mqtt_proto::QoS::AtLeastOnce);
    assert_eq!(
        c.share_strategy,
        mqtt_core::subscriptions::ShareStrategy::PublisherHash
    );
    assert_eq!(c.control_chars, mqtt_proto::ControlChars::Allow);
    assert_eq!(c.response_information.as_deref(), Some("resp/"));
    assert_eq!((c.retained.max_messages, c.sys_interval), (5, 0));
    assert_eq!(
        c.subscribe_denied_reason,
        mqtt_proto::SubAckReasonCode::UnspecifiedError
    );
    assert_eq!(cfg.runtime.channel_capacity, 16);
    assert_eq!(cfg.runtime.park_idle_ms, 0);
    assert_eq!(cfg.runtime.spin_before_park_us, 50);
    // Untouched keys keep mqtt-core's defaults.
    let d = mqtt_core::Config::default();
    assert_eq!(c.max_inflight, d.max_inflight);
    assert_eq!(c.retained.max_bytes, d.retained.max_bytes);
}

#[test]
fn unknown_key_is_an_error_naming_it() {
    for (text, key) in [
        ("colour = 1", "colour"),
        ("[limits]\nmax_pakcet_size = 10", "max_pakcet_size"),
        ("[[listeners]]\naddr = \"127.0.0.1:1\"\nport = 2", "port"),
        (
            "[[acl.rules]]\naction = \"all\"\ntopic = \"#\"\npermission = \"deny\"\nuser = \"x\"",
            "user",
        ),
        ("[nonsense]\na = 1", "nonsense"),
    ] {
        let e = err(text);
        assert!(e.contains(&format!("unknown field `{key}`")), "{text}: {e}");
    }
}

#[test]
fn bad_values_are_errors_naming_the_key() {
    for (text, key) in [
        ("[protocol]\nmax_qos = 3", "protocol.max_qos"),
        ("[limits]\nreceive_maximum = 0", "limits.receive_maximum"),
        (
            "[limits]\nmax_client_id_len = 22",
            "limits.max_client_id_len",
        ),
        ("[limits]\nmax_packet_size = 0", "limits.max_packet_size"),
        ("[limits]\nmax_inflight = 0", "limits.max_inflight"),
        ("[session]\nmax_keep_alive = 0", "session.max_keep_alive"),
        ("[[listeners]]\naddr = \"localhost\"", "listeners[0].addr"),
        ("listeners = []", "listeners"),
        (
            "[[auth.users]]\nusername = \"u\"\npassword_hash = \"x\"",
            "password_hash",
        ),
        (
            "[runtime]\nchannel_capacity = 0",
            "runtime.channel_capacity",
        ),
        (
            "[runtime]\nspin_before_park_us = 1000001",
            "runtime.spin_before_park_us",
        ),
    ] {
        let e = err(text);
        assert!(
            e.contains(&format!("`{key}`")) || e.contains(key),
            "{text}: {e}"
        );
    }
    // Type and enum errors come from the TOML parser, which quotes the offending line.
    for (text, key) in [
        ("[limits]\nreceive_maximum = 70000", "receive_maximum"),
        ("[protocol]\nshare_strategy = \"fastest\"", "share_strategy"),
        ("[protocol]\nretain_available = \"yes\"", "retain_available"),
        ("[acl]\ndefault = \"maybe\"", "default"),
        (
            "[acl]\nsubscribe_denied_reason = \"nope\"",
            "subscribe_denied_reason",
        ),
    ] {
        let e = err(text);
        assert!(e.contains(key), "{text}: {e}");
    }
    // [MQTT-3.1.3-5] identifiers of 1 to 23 bytes are always accepted.
    assert!(err("[limits]\nmax_client_id_len = 22").contains("MQTT-3.1.3-5"));
}

#[test]
fn too_many_shards_fail_the_start_check() {
    let cfg = parse("shards = 1025");
    assert!(cfg.check().unwrap_err().to_string().contains("`shards`"));
    parse("shards = 1024").check().unwrap();
}

#[test]
fn duplicate_user_is_refused() {
    let h = cheap();
    let text = format!(
        "[[auth.users]]\nusername = \"u\"\npassword_hash = \"{h}\"\n\
         [[auth.users]]\nusername = \"u\"\npassword_hash = \"{h}\"\n"
    );
    assert!(err(&text).contains("listed twice"));
}

fn with_listener(addr: &str) -> BrokerConfig {
    BrokerConfig {
        listeners: vec![ListenerConfig {
            addr: addr.parse().unwrap(),
        }],
        ..BrokerConfig::default()
    }
}

#[test]
fn anonymous_default_on_without_file_listeners_and_loopback_only() {
    assert!(BrokerConfig::default().allow_anonymous());
    assert!(parse("[limits]\nmax_inflight = 5").allow_anonymous());
    // `--listen` on loopback, no listeners in the file.
    assert!(with_listener("127.0.0.1:0").allow_anonymous());
    assert!(with_listener("[::1]:0").allow_anonymous());
    assert!(with_listener("[::ffff:127.0.0.2]:0").allow_anonymous());
    BrokerConfig::default().check().unwrap();
}

#[test]
fn anonymous_default_off_once_the_file_names_listeners() {
    let cfg = parse("[[listeners]]\naddr = \"127.0.0.1:1883\"");
    assert!(!cfg.allow_anonymous());
    let e = cfg.check().unwrap_err().to_string();
    assert!(e.contains("configuration names listeners"), "{e}");
    assert!(
        e.contains("allow_anonymous = true") && e.contains("ringmq hash-password"),
        "{e}"
    );
}

#[test]
fn anonymous_default_off_for_a_non_loopback_listener() {
    let cfg = with_listener("0.0.0.0:1883");
    assert!(!cfg.allow_anonymous());
    let e = cfg.check().unwrap_err().to_string();
    assert!(e.contains("not a loopback address"), "{e}");
}

#[test]
fn anonymous_explicit_setting_wins() {
    let cfg = parse("[auth]\nallow_anonymous = true\n[[listeners]]\naddr = \"0.0.0.0:1883\"");
    assert!(cfg.allow_anonymous());
    cfg.check().unwrap();
    let cfg = parse("[auth]\nallow_anonymous = false");
    assert!(!cfg.allow_anonymous());
    assert!(cfg
        .check()
        .unwrap_err()
        .to_string()
        .contains("`allow_anonymous = false`"));
}

#[test]
fn anonymous_off_with_users_starts() {
    let h = cheap();
    let cfg = parse(&format!(
        "[[listeners]]\naddr = \"0.0.0.0:1883\"\n\
         [[auth.users]]\nusername = \"u\"\npassword_hash = \"{h}\"\n"
    ));
    assert!(!cfg.allow_anonymous());
    cfg.check().unwrap();
}

#[test]
fn authenticator_follows_the_anonymous_rule_and_users() {
    use mqtt_core::{AuthDecision, AuthRequest, AuthStep, ConnId};
    use mqtt_proto::{Bytes, ConnectReasonCode};
    let req = |user: Option<&str>, pw: &'static str| AuthRequest {
        conn: ConnId(1),
        client_id: "c".into(),
        username: user.map(Into::into),
        password: Some(Bytes::from_static(pw.as_bytes())),
        peer: None,
        step: AuthStep::Connect,
        method: None,
        data: None,
    };
    let h = cheap();
    let cfg = parse(&format!(
        "[[listeners]]\naddr = \"127.0.0.1:1883\"\n\
         [[auth.users]]\nusername = \"u\"\npassword_hash = \"{h}\"\n"
    ));
    let mut a = cfg.authenticator();
    assert_eq!(
        a.authenticate(&req(Some("u"), "pw")),
        AuthDecision::Allow { data: None }
    );
    assert_eq!(
        a.authenticate(&req(Some("u"), "pw2")),
        AuthDecision::Deny(ConnectReasonCode::BadUserNameOrPassword)
    );
    assert_eq!(
        a.authenticate(&req(None, "")),
        AuthDecision::Deny(ConnectReasonCode::NotAuthorized)
    );
    let mut anon = BrokerConfig::default().authenticator();
    assert_eq!(
        anon.authenticate(&req(None, "")),
        AuthDecision::Allow { data: None }
    );
}

#[test]
fn acl_section_builds_the_rule_acl() {
    use mqtt_core::{Action, ClientInfo};
    let cfg = parse(
        r#"
        [acl]
        default = "deny"
        [[acl.rules]]
        action = "subscribe"
        topic = "test/nosubscribe"
        permission = "deny"
        [[acl.rules]]
        action = "all"
        topic = "test/#"
        permission = "allow"
        "#,
    );
    let acl = cfg.acl();
    let c = ClientInfo {
        client_id: "c".into(),
        username: None,
        peer: None,
        version: mqtt_proto::ProtocolVersion::V5,
    };
    let sub = |filter| Action::Subscribe {
        filter,
        qos: mqtt_proto::QoS::AtMostOnce,
    };
    assert!(!acl.check(&c, sub("test/nosubscribe")));
    assert!(acl.check(&c, sub("test/other")));
    assert!(!acl.check(&c, sub("other")));
}
