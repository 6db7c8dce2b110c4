//! `ringmq.example.toml` (repository root) parses, shows exactly the defaults, and names every
//! option of `mqtt_core::Config`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use ringmq_config::BrokerConfig;

const EXAMPLE: &str = include_str!("../../ringmq.example.toml");

/// Whether a line is a key or table header, possibly commented out: `key = …`, `# key = …`,
/// `[table]`, `# [[array]]`. Prose comments do not look like that.
fn setting(line: &str) -> Option<&str> {
    let body = line.strip_prefix("# ").unwrap_or(line);
    let is_key = body.split_once(" = ").is_some_and(|(k, _)| {
        !k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    });
    (is_key || body.starts_with('[')).then_some(body)
}

/// The example with every commented-out setting switched on.
fn uncommented() -> String {
    EXAMPLE
        .lines()
        .filter_map(|l| {
            if l.starts_with('#') {
                setting(l)
            } else {
                Some(l)
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The keys the example names, commented out or not.
fn example_keys() -> Vec<&'static str> {
    EXAMPLE
        .lines()
        .filter_map(setting)
        .filter_map(|s| s.split_once(" = ").map(|(k, _)| k))
        .collect()
}

#[test]
fn example_parses_and_yields_exactly_the_defaults() {
    let cfg = BrokerConfig::from_toml_str(EXAMPLE).unwrap();
    assert_eq!(
        format!("{cfg:#?}"),
        format!("{:#?}", BrokerConfig::default())
    );
    cfg.check().unwrap();
}

#[test]
fn example_with_every_commented_setting_switched_on_parses_and_starts() {
    let text = uncommented();
    assert!(
        text.contains("\n[[auth.users]]\nusername = \"alice\""),
        "{text}"
    );
    let cfg = BrokerConfig::from_toml_str(&text).unwrap();
    assert!(cfg.listeners_from_file);
    assert_eq!(cfg.auth.users.len(), 1);
    assert_eq!(cfg.acl.rules.len(), 1);
    assert_eq!(cfg.core.max_keep_alive, Some(600));
    assert_eq!(cfg.core.response_information.as_deref(), Some("responses/"));
    assert!(cfg.allow_anonymous());
    cfg.check().unwrap();
}

/// Field names of a `Debug` rendering: every `name: ` in it, nested structs included.
fn debug_field_names(debug: &str) -> Vec<String> {
    debug
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter_map(|w| w.strip_suffix(':'))
        .filter(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn example_names_every_field_of_mqtt_core_config() {
    let debug = format!("{:?}", mqtt_core::Config::default());
    let fields = debug_field_names(&debug);
    assert!(fields.len() > 30, "{fields:?}");
    let keys = example_keys();
    let missing: Vec<_> = fields
        .iter()
        .filter(|f| match f.as_str() {
            // A table of its own: [retained] max_messages, max_bytes.
            "retained" => false,
            "sys_interval" => !keys.contains(&"interval"),
            _ => !keys.contains(&f.as_str()),
        })
        .collect();
    assert!(missing.is_empty(), "ringmq.example.toml lacks {missing:?}");
}

#[test]
fn example_names_every_runtime_option() {
    let debug = format!("{:?}", ringmq_config::RuntimeConfig::default());
    let keys = example_keys();
    for f in debug_field_names(&debug) {
        assert!(keys.contains(&f.as_str()), "ringmq.example.toml lacks {f}");
    }
    for k in [
        "shards",
        "addr",
        "allow_anonymous",
        "username",
        "password_hash",
        "default",
    ] {
        assert!(keys.contains(&k), "ringmq.example.toml lacks {k}");
    }
    for k in [
        "subscribe_denied_reason",
        "action",
        "topic",
        "permission",
        "client_id",
    ] {
        assert!(keys.contains(&k), "ringmq.example.toml lacks {k}");
    }
}
