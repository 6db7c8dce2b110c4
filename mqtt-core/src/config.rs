//! Broker limits and options. Every limit has a default that protects the broker
//! (`shared/bad-inputs.md`), and every one is configurable.

use bytestring::ByteString;
use mqtt_proto::{ControlChars, QoS, SubAckReasonCode};

use crate::retained::RetainedLimits;
use crate::subscriptions::ShareStrategy;

/// Options of one shard (all shards of a broker share one `Config`).
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest packet accepted from clients, header included (advertised in CONNACK).
    pub max_packet_size: u32,
    /// Largest packet accepted before CONNECT completes (bad-inputs row 5).
    pub max_connect_packet_size: u32,
    /// Receive Maximum advertised to clients: QoS 1/2 PUBLISH they may have unacknowledged.
    pub receive_maximum: u16,
    /// Highest QoS accepted from clients (advertised as Maximum QoS when below 2).
    pub max_qos: QoS,
    /// Whether retained messages are supported.
    pub retain_available: bool,
    /// Topic Alias Maximum advertised to clients (0 disables inbound aliases).
    pub topic_alias_maximum: u16,
    /// Whether wildcard subscriptions are allowed.
    pub wildcard_subscriptions: bool,
    /// Whether subscription identifiers are supported.
    pub subscription_identifiers: bool,
    /// Whether shared subscriptions are supported.
    pub shared_subscriptions: bool,
    /// Strategy used to pick a member of a shared subscription group.
    pub share_strategy: ShareStrategy,
    /// Largest keep alive accepted, in seconds; a client asking for more (or for 0, meaning
    /// none) is given this as Server Keep Alive. `None` accepts any value including 0.
    pub max_keep_alive: Option<u16>,
    /// Largest Session Expiry Interval granted, in seconds (0xFFFFFFFF means never expire).
    pub max_session_expiry: u32,
    /// Cap on Message Expiry Interval, in seconds. It also bounds how long a message without
    /// one waits in session queues (a protection against unbounded retention); a retained
    /// message published without an expiry is still kept until replaced. 0 disables the cap.
    pub max_message_expiry: u32,
    /// Outbound QoS 1/2 messages in flight per session (also bounded by the client's Receive
    /// Maximum).
    pub max_inflight: u16,
    /// Messages queued per session beyond the inflight window; over it QoS 0 is dropped first,
    /// then the oldest message (counted).
    pub max_queued_messages: usize,
    /// Inbound QoS 2 packet ids awaiting PUBREL per session; more is 0x93.
    pub max_awaiting_rel: usize,
    /// Most levels in a topic name or filter.
    pub max_topic_levels: usize,
    /// Longest client identifier accepted, in bytes.
    pub max_client_id_len: usize,
    /// Most subscriptions per session; more is SUBACK 0x97.
    pub max_subscriptions_per_client: usize,
    /// Time allowed from accept to a complete CONNECT, in milliseconds.
    pub connect_timeout_ms: u64,
    /// Bytes of encoded output held for one connection before QoS 0 is dropped and QoS 1/2
    /// waits in the session queue.
    pub max_outbound_buffer: usize,
    /// A connection whose output has waited this long without being taken is closed
    /// (milliseconds).
    pub send_timeout_ms: u64,
    /// A session belongs to the user name that created it: a connection with the same client
    /// identifier but another user name is refused (0x87 / return code 5) instead of taking
    /// the session over (bad-inputs row 27).
    pub bind_session_to_username: bool,
    /// Assign an identifier to a v5 client that sends an empty one (else CONNACK 0x85).
    pub assign_client_id: bool,
    /// Response Information sent when a client requests it.
    pub response_information: Option<ByteString>,
    /// Answer QoS 1/2 PUBLISH with 0x10 No matching subscribers when nobody receives it.
    pub no_matching_subscribers_reason: bool,
    /// Check that payloads flagged as UTF-8 are UTF-8 (0x99 otherwise).
    pub validate_payload_format: bool,
    /// Policy for control characters in strings.
    pub control_chars: ControlChars,
    /// Retained message limits.
    pub retained: RetainedLimits,
    /// Interval between `$SYS` publications, in seconds (0 disables them).
    pub sys_interval: u64,
    /// Most user properties in one packet.
    pub max_user_properties: usize,
    /// Messages queued for one other shard before backpressure: beyond it a QoS 0 message
    /// is dropped (counted in `Stats::peer_dropped`), and QoS 1/2 and protocol messages still
    /// go in while the shard stops reading PUBLISH packets from its clients until the queue
    /// drains.
    pub max_peer_queue: usize,
    /// SUBACK reason code for a subscription the ACL refuses: 0x87 Not authorized by default;
    /// deployments that do not reveal authorization decisions use 0x80 Unspecified error.
    /// (v3.1.1 has only 0x80 Failure.)
    pub subscribe_denied_reason: SubAckReasonCode,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_packet_size: 1024 * 1024,
            max_connect_packet_size: 64 * 1024,
            receive_maximum: 100,
            max_qos: QoS::ExactlyOnce,
            retain_available: true,
            topic_alias_maximum: 64,
            wildcard_subscriptions: true,
            subscription_identifiers: true,
            shared_subscriptions: true,
            share_strategy: ShareStrategy::RoundRobin,
            max_keep_alive: None,
            max_session_expiry: 7 * 24 * 3600,
            max_message_expiry: 24 * 3600,
            max_inflight: 64,
            max_queued_messages: 1000,
            max_awaiting_rel: 100,
            max_topic_levels: 128,
            max_client_id_len: 256,
            max_subscriptions_per_client: 1000,
            connect_timeout_ms: 10_000,
            max_outbound_buffer: 1024 * 1024,
            send_timeout_ms: 30_000,
            bind_session_to_username: true,
            assign_client_id: true,
            response_information: None,
            no_matching_subscribers_reason: false,
            validate_payload_format: false,
            control_chars: ControlChars::Reject,
            retained: RetainedLimits::default(),
            sys_interval: 10,
            max_user_properties: mqtt_proto::DEFAULT_MAX_USER_PROPERTIES,
            max_peer_queue: 10_000,
            subscribe_denied_reason: SubAckReasonCode::NotAuthorized,
        }
    }
}
