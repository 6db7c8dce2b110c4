//! The TOML file's shape (serde) and its conversion into a checked [`BrokerConfig`].
//!
//! Every section and key is optional; absent keys take [`mqtt_core::Config::default`]'s (or
//! [`RuntimeConfig::default`]'s) values. The conversion builds `mqtt_core::Config` with a
//! struct literal, so a field added to it does not compile until it is configurable here.

use core::net::SocketAddr;

use mqtt_core::subscriptions::ShareStrategy;
use mqtt_proto::{ControlChars, QoS, SubAckReasonCode};
use serde::Deserialize;

use crate::{
    AclConfig, AclRule, AuthConfig, BrokerConfig, ConfigError, ListenerConfig, Permission,
    RuntimeConfig, User,
};

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct FileConfig {
    shards: Option<usize>,
    listeners: Option<Vec<ListenerFile>>,
    auth: AuthFile,
    acl: AclFile,
    limits: LimitsFile,
    session: SessionFile,
    protocol: ProtocolFile,
    retained: RetainedFile,
    sys: SysFile,
    runtime: RuntimeFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListenerFile {
    addr: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct AuthFile {
    allow_anonymous: Option<bool>,
    users: Vec<UserFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserFile {
    username: String,
    password_hash: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct AclFile {
    default: Permission,
    subscribe_denied_reason: Option<DeniedReason>,
    rules: Vec<AclRule>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum DeniedReason {
    NotAuthorized,
    Unspecified,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct LimitsFile {
    max_packet_size: Option<u32>,
    max_connect_packet_size: Option<u32>,
    receive_maximum: Option<u16>,
    max_inflight: Option<u16>,
    max_queued_messages: Option<usize>,
    max_awaiting_rel: Option<usize>,
    max_topic_levels: Option<usize>,
    max_client_id_len: Option<usize>,
    max_subscriptions_per_client: Option<usize>,
    max_user_properties: Option<usize>,
    max_outbound_buffer: Option<usize>,
    max_peer_queue: Option<usize>,
    connect_timeout_ms: Option<u64>,
    send_timeout_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct SessionFile {
    max_session_expiry: Option<u32>,
    max_keep_alive: Option<u16>,
    max_message_expiry: Option<u32>,
    assign_client_id: Option<bool>,
    bind_session_to_username: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ProtocolFile {
    max_qos: Option<u8>,
    retain_available: Option<bool>,
    topic_alias_maximum: Option<u16>,
    wildcard_subscriptions: Option<bool>,
    subscription_identifiers: Option<bool>,
    shared_subscriptions: Option<bool>,
    share_strategy: Option<StrategyFile>,
    response_information: Option<String>,
    no_matching_subscribers_reason: Option<bool>,
    validate_payload_format: Option<bool>,
    control_chars: Option<ControlCharsFile>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StrategyFile {
    RoundRobin,
    Random,
    PublisherHash,
    Sticky,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ControlCharsFile {
    Reject,
    Allow,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RetainedFile {
    max_messages: Option<usize>,
    max_bytes: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct SysFile {
    interval: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RuntimeFile {
    io_memory: Option<usize>,
    shutdown_timeout_ms: Option<u64>,
    channel_capacity: Option<usize>,
    park_idle_ms: Option<u64>,
    spin_before_park_us: Option<u64>,
}

/// Refuses values below `min` for `key`.
fn at_least<T: PartialOrd + Copy + core::fmt::Display>(
    key: &str,
    value: Option<T>,
    min: T,
    why: &str,
) -> Result<Option<T>, ConfigError> {
    match value {
        Some(v) if v < min => Err(ConfigError::invalid(
            key,
            format!("{v} (must be at least {min}{why})"),
        )),
        other => Ok(other),
    }
}

/// Refuses values above `max` for `key`.
fn at_most<T: PartialOrd + Copy + core::fmt::Display>(
    key: &str,
    value: Option<T>,
    max: T,
) -> Result<Option<T>, ConfigError> {
    match value {
        Some(v) if v > max => Err(ConfigError::invalid(
            key,
            format!("{v} (must be at most {max})"),
        )),
        other => Ok(other),
    }
}

impl FileConfig {
    /// Checks every value and builds the configuration.
    pub(crate) fn into_config(self) -> Result<BrokerConfig, ConfigError> {
        let d = BrokerConfig::default();
        let listeners_from_file = self.listeners.is_some();
        let listeners = match self.listeners {
            None => d.listeners,
            Some(list) => {
                if list.is_empty() {
                    return Err(ConfigError::invalid(
                        "listeners",
                        "empty (remove the key for the default 127.0.0.1:1883)",
                    ));
                }
                list.iter()
                    .enumerate()
                    .map(|(i, l)| {
                        l.addr
                            .parse::<SocketAddr>()
                            .map(|addr| ListenerConfig { addr })
                            .map_err(|e| {
                                ConfigError::invalid(
                                    &format!("listeners[{i}].addr"),
                                    format!("{:?}: {e} (expected IP:PORT)", l.addr),
                                )
                            })
                    })
                    .collect::<Result<_, _>>()?
            }
        };
        let auth = self.auth.into_auth()?;
        let acl = AclConfig {
            default: self.acl.default,
            rules: self.acl.rules,
        };
        acl.validate()?;
        let core = core_config(
            self.limits,
            self.session,
            self.protocol,
            self.retained,
            self.sys,
            self.acl.subscribe_denied_reason,
        )?;
        let r = self.runtime;
        let rd = d.runtime;
        let runtime = RuntimeConfig {
            io_memory: at_least("runtime.io_memory", r.io_memory, 4096, "")?
                .unwrap_or(rd.io_memory),
            shutdown_timeout_ms: r.shutdown_timeout_ms.unwrap_or(rd.shutdown_timeout_ms),
            channel_capacity: at_least("runtime.channel_capacity", r.channel_capacity, 1, "")?
                .unwrap_or(rd.channel_capacity),
            park_idle_ms: r.park_idle_ms.unwrap_or(rd.park_idle_ms),
            spin_before_park_us: at_most(
                "runtime.spin_before_park_us",
                r.spin_before_park_us,
                1_000_000,
            )?
            .unwrap_or(rd.spin_before_park_us),
        };
        Ok(BrokerConfig {
            listeners,
            listeners_from_file,
            shards: self.shards.unwrap_or(d.shards),
            core,
            runtime,
            auth,
            acl,
        })
    }
}

impl AuthFile {
    fn into_auth(self) -> Result<AuthConfig, ConfigError> {
        let mut users: Vec<User> = Vec::with_capacity(self.users.len());
        for u in &self.users {
            if users.iter().any(|known| known.username == u.username) {
                return Err(ConfigError::invalid(
                    "auth.users.username",
                    format!("{:?} is listed twice", u.username),
                ));
            }
            users.push(User::new(&u.username, &u.password_hash)?);
        }
        Ok(AuthConfig {
            allow_anonymous: self.allow_anonymous,
            users,
        })
    }
}

/// Builds the shards' options: every field of `mqtt_core::Config`, named so that a new one
/// fails to compile here.
fn core_config(
    l: LimitsFile,
    s: SessionFile,
    p: ProtocolFile,
    r: RetainedFile,
    sys: SysFile,
    denied: Option<DeniedReason>,
) -> Result<mqtt_core::Config, ConfigError> {
    let d = mqtt_core::Config::default();
    let max_qos = match p.max_qos {
        None => d.max_qos,
        Some(0) => QoS::AtMostOnce,
        Some(1) => QoS::AtLeastOnce,
        Some(2) => QoS::ExactlyOnce,
        Some(n) => {
            return Err(ConfigError::invalid(
                "protocol.max_qos",
                format!("{n} (must be 0, 1 or 2)"),
            ))
        }
    };
    let packet_size = |key: &str, v: Option<u32>| match v {
        Some(n) if n == 0 || n > mqtt_proto::MAX_PACKET_SIZE => Err(ConfigError::invalid(
            key,
            format!("{n} (must be 1 to {})", mqtt_proto::MAX_PACKET_SIZE),
        )),
        other => Ok(other),
    };
    Ok(mqtt_core::Config {
        max_packet_size: packet_size("limits.max_packet_size", l.max_packet_size)?
            .unwrap_or(d.max_packet_size),
        max_connect_packet_size: packet_size(
            "limits.max_connect_packet_size",
            l.max_connect_packet_size,
        )?
        .unwrap_or(d.max_connect_packet_size),
        receive_maximum: at_least(
            "limits.receive_maximum",
            l.receive_maximum,
            1,
            ": 0 is a protocol error, MQTT 5 §3.2.2.3.3",
        )?
        .unwrap_or(d.receive_maximum),
        max_qos,
        retain_available: p.retain_available.unwrap_or(d.retain_available),
        topic_alias_maximum: p.topic_alias_maximum.unwrap_or(d.topic_alias_maximum),
        wildcard_subscriptions: p.wildcard_subscriptions.unwrap_or(d.wildcard_subscriptions),
        subscription_identifiers: p
            .subscription_identifiers
            .unwrap_or(d.subscription_identifiers),
        shared_subscriptions: p.shared_subscriptions.unwrap_or(d.shared_subscriptions),
        share_strategy: p.share_strategy.map_or(d.share_strategy, |st| match st {
            StrategyFile::RoundRobin => ShareStrategy::RoundRobin,
            StrategyFile::Random => ShareStrategy::Random,
            StrategyFile::PublisherHash => ShareStrategy::PublisherHash,
            StrategyFile::Sticky => ShareStrategy::Sticky,
        }),
        max_keep_alive: at_least(
            "session.max_keep_alive",
            s.max_keep_alive,
            1,
            "; leave it out to accept any keep alive",
        )?
        .or(d.max_keep_alive),
        max_session_expiry: s.max_session_expiry.unwrap_or(d.max_session_expiry),
        max_message_expiry: s.max_message_expiry.unwrap_or(d.max_message_expiry),
        max_inflight: at_least("limits.max_inflight", l.max_inflight, 1, "")?
            .unwrap_or(d.max_inflight),
        max_queued_messages: l.max_queued_messages.unwrap_or(d.max_queued_messages),
        max_awaiting_rel: l.max_awaiting_rel.unwrap_or(d.max_awaiting_rel),
        max_topic_levels: at_least("limits.max_topic_levels", l.max_topic_levels, 1, "")?
            .unwrap_or(d.max_topic_levels),
        max_client_id_len: at_least(
            "limits.max_client_id_len",
            l.max_client_id_len,
            23,
            ": [MQTT-3.1.3-5] a server accepts identifiers of 1 to 23 bytes",
        )?
        .unwrap_or(d.max_client_id_len),
        max_subscriptions_per_client: l
            .max_subscriptions_per_client
            .unwrap_or(d.max_subscriptions_per_client),
        connect_timeout_ms: at_least("limits.connect_timeout_ms", l.connect_timeout_ms, 1, "")?
            .unwrap_or(d.connect_timeout_ms),
        max_outbound_buffer: l.max_outbound_buffer.unwrap_or(d.max_outbound_buffer),
        send_timeout_ms: at_least("limits.send_timeout_ms", l.send_timeout_ms, 1, "")?
            .unwrap_or(d.send_timeout_ms),
        bind_session_to_username: s
            .bind_session_to_username
            .unwrap_or(d.bind_session_to_username),
        assign_client_id: s.assign_client_id.unwrap_or(d.assign_client_id),
        response_information: p
            .response_information
            .map(Into::into)
            .or(d.response_information),
        no_matching_subscribers_reason: p
            .no_matching_subscribers_reason
            .unwrap_or(d.no_matching_subscribers_reason),
        validate_payload_format: p
            .validate_payload_format
            .unwrap_or(d.validate_payload_format),
        control_chars: p.control_chars.map_or(d.control_chars, |c| match c {
            ControlCharsFile::Reject => ControlChars::Reject,
            ControlCharsFile::Allow => ControlChars::Allow,
        }),
        retained: mqtt_core::retained::RetainedLimits {
            max_messages: r.max_messages.unwrap_or(d.retained.max_messages),
            max_bytes: r.max_bytes.unwrap_or(d.retained.max_bytes),
        },
        sys_interval: sys.interval.unwrap_or(d.sys_interval),
        max_user_properties: l.max_user_properties.unwrap_or(d.max_user_properties),
        max_peer_queue: at_least("limits.max_peer_queue", l.max_peer_queue, 1, "")?
            .unwrap_or(d.max_peer_queue),
        subscribe_denied_reason: denied.map_or(d.subscribe_denied_reason, |r| match r {
            DeniedReason::NotAuthorized => SubAckReasonCode::NotAuthorized,
            DeniedReason::Unspecified => SubAckReasonCode::UnspecifiedError,
        }),
    })
}
