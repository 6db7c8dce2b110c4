//! The broker's configuration, shared by the runtimes and the `ringmq` binary: the TOML file
//! format ([`BrokerConfig::from_toml_str`], documented key by key in `ringmq.example.toml` at
//! the repository root), the anonymous-access rule, password authentication
//! ([`PasswordAuthenticator`]) and the rule-based ACL ([`RuleAcl`]).
//!
//! # File layout
//! ```toml
//! shards = 0                      # 0: one shard per core
//! [[listeners]]                   # none named: 127.0.0.1:1883
//! addr = "0.0.0.0:1883"
//! [auth]                          # allow_anonymous, [[auth.users]]
//! [acl]                           # default, subscribe_denied_reason, [[acl.rules]]
//! [limits]                        # packet sizes, quotas, timeouts
//! [session]                       # expiry, keep alive, client ids
//! [protocol]                      # features advertised to clients
//! [retained]                      # retained store limits
//! [sys]                           # $SYS publication interval
//! [runtime]                       # io_memory, shutdown timeout, channel capacity
//! ```
//! Every key is optional; an absent key takes the default of [`mqtt_core::Config`] (or of
//! [`RuntimeConfig`]). An unknown key is an error that names it, and so is a value out of
//! range.
//!
//! # Anonymous access
//! With no configuration file the broker listens on 127.0.0.1:1883 and lets anonymous clients
//! in, because loopback is safe. Once a file names listeners, or a listener is not a loopback
//! address, anonymous access must be switched on explicitly (`[auth] allow_anonymous = true`
//! or `--allow-anonymous`); see [`BrokerConfig::allow_anonymous`] and
//! [`BrokerConfig::check`].

use core::net::SocketAddr;
use std::path::Path;

mod acl;
mod auth;
mod file;

pub use acl::{filter_covers, topic_matches, AclAction, AclConfig, AclRule, Permission, RuleAcl};
pub use auth::{hash_password, AuthConfig, PasswordAuthenticator, User};

/// Everything a runtime needs to start a broker.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// TCP listeners (each shard binds each one with SO_REUSEPORT).
    pub listeners: Vec<ListenerConfig>,
    /// Whether the configuration file named the listeners. Then anonymous access is off
    /// unless switched on explicitly.
    pub listeners_from_file: bool,
    /// Number of shards; 0 means one per available core (see [`Self::effective_shards`]).
    pub shards: usize,
    /// The shards' options and limits.
    pub core: mqtt_core::Config,
    /// Runtime options.
    pub runtime: RuntimeConfig,
    /// Who may connect.
    pub auth: AuthConfig,
    /// What connected clients may do.
    pub acl: AclConfig,
}

/// One listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// Address to bind (port 0 picks a free port, the same one on every shard).
    pub addr: SocketAddr,
}

/// Options of the runtime around the shards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// io_uring registered-buffer memory per executor, in bytes (glommio `io_memory`).
    pub io_memory: usize,
    /// Graceful shutdown: how long to wait for clients' output to flush, in milliseconds.
    pub shutdown_timeout_ms: u64,
    /// Capacity of each channel between two shards, in messages.
    pub channel_capacity: usize,
    /// A connection with nothing to read or write for this long, in milliseconds, is parked:
    /// the runtime keeps only its socket, watched by one epoll set per shard, and frees its
    /// task and readiness poll until it has input or output again (0: never park). Both
    /// runtimes park; tokio only on Linux (elsewhere the setting is ignored).
    pub park_idle_ms: u64,
    /// How long an executor keeps polling for work before it sleeps in the kernel, in
    /// microseconds (glommio `spin_before_park`). Spinning saves the wake-up (tens of µs on a
    /// virtual machine) on the next packet, at the price of a busy core while idle.
    /// 0 (default): sleep at once.
    pub spin_before_park_us: u64,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            io_memory: 64 * 1024,
            shutdown_timeout_ms: 5_000,
            channel_capacity: 1024,
            park_idle_ms: 2_000,
            spin_before_park_us: 0,
        }
    }
}

/// The listener used when none is configured.
pub const DEFAULT_LISTENER: SocketAddr = SocketAddr::V4(core::net::SocketAddrV4::new(
    core::net::Ipv4Addr::LOCALHOST,
    1883,
));

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            listeners: vec![ListenerConfig {
                addr: DEFAULT_LISTENER,
            }],
            listeners_from_file: false,
            shards: 0,
            core: mqtt_core::Config::default(),
            runtime: RuntimeConfig::default(),
            auth: AuthConfig::default(),
            acl: AclConfig::default(),
        }
    }
}

/// Most shards [`BrokerConfig::check`] accepts.
pub const MAX_SHARDS: usize = 1024;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// Not TOML, an unknown key, or a value of the wrong type (the message names the key).
    #[error("{0}")]
    Parse(String),
    /// A value of the right type but out of range.
    #[error("invalid value for `{key}`: {message}")]
    Invalid {
        /// The key, as `section.key`.
        key: String,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// Anonymous access is off and nobody else could log in.
    #[error(
        "anonymous access is off ({0}) and no users are configured: set `allow_anonymous = \
         true` in [auth] (or pass --allow-anonymous), or add [[auth.users]] entries with \
         password hashes made by `ringmq hash-password`"
    )]
    NobodyCanConnect(&'static str),
    /// Password hashing failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
}

impl ConfigError {
    pub(crate) fn invalid(key: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

/// Whether an address is a loopback address (IPv4-mapped IPv6 included).
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().to_canonical().is_loopback()
}

impl BrokerConfig {
    /// Parses a TOML configuration (see the crate docs and `ringmq.example.toml`).
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let raw: file::FileConfig =
            toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        raw.into_config()
    }

    /// Reads and parses a TOML configuration file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml_str(&text).map_err(|e| match e {
            ConfigError::Parse(m) => ConfigError::Parse(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Whether clients without a user name may connect: `[auth] allow_anonymous` when set;
    /// otherwise true only if the file named no listeners and every listener is loopback.
    pub fn allow_anonymous(&self) -> bool {
        self.auth
            .allow_anonymous
            .unwrap_or_else(|| self.implicit_anonymous_refusal().is_none())
    }

    /// Why anonymous access is off by default, if it is.
    fn implicit_anonymous_refusal(&self) -> Option<&'static str> {
        if self.listeners_from_file {
            Some("the configuration names listeners")
        } else if !self.listeners.iter().all(|l| is_loopback(&l.addr)) {
            Some("a listener is not a loopback address")
        } else {
            None
        }
    }

    /// The number of shards to run: [`Self::shards`], or one per available core when 0.
    pub fn effective_shards(&self) -> usize {
        if self.shards > 0 {
            self.shards
        } else {
            std::thread::available_parallelism().map_or(1, usize::from)
        }
    }

    /// Checks the final configuration (after command-line overrides) just before start:
    /// at least one listener, at most [`MAX_SHARDS`] shards, and somebody able to connect.
    /// Warns (through `tracing`) when anonymous clients may connect through a listener that
    /// is not loopback.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.listeners.is_empty() {
            return Err(ConfigError::invalid(
                "listeners",
                "at least one listener is needed",
            ));
        }
        if self.shards > MAX_SHARDS {
            return Err(ConfigError::invalid(
                "shards",
                format!(
                    "{} (at most {MAX_SHARDS}; 0 means one per core)",
                    self.shards
                ),
            ));
        }
        if self.allow_anonymous() {
            for l in self.listeners.iter().filter(|l| !is_loopback(&l.addr)) {
                tracing::warn!(
                    addr = %l.addr,
                    "anonymous clients may connect through a listener that is not loopback"
                );
            }
        } else if self.auth.users.is_empty() {
            let why = match self.auth.allow_anonymous {
                Some(_) => "`allow_anonymous = false`",
                None => self
                    .implicit_anonymous_refusal()
                    .unwrap_or("`allow_anonymous = false`"),
            };
            return Err(ConfigError::NobodyCanConnect(why));
        }
        Ok(())
    }

    /// The authenticator for one shard (each shard builds its own, on its own thread).
    pub fn authenticator(&self) -> Box<dyn mqtt_core::Authenticator> {
        Box::new(PasswordAuthenticator::new(
            self.allow_anonymous(),
            &self.auth.users,
        ))
    }

    /// The ACL for one shard.
    pub fn acl(&self) -> Box<dyn mqtt_core::Acl> {
        self.acl.build()
    }
}

#[cfg(test)]
mod tests;
