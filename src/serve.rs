//! Running the broker: configuration, logging, start, signals, graceful shutdown.
//!
//! Exit status: 0 after a graceful shutdown, 2 for a configuration error, 1 when the runtime
//! fails to start or to stop.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use ringmq_config::{BrokerConfig, ConfigError, ListenerConfig};
use signal_hook::consts::signal::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tracing_subscriber::EnvFilter;

/// What the command line says about running the broker.
#[derive(Debug)]
pub(crate) struct Options {
    pub config: Option<PathBuf>,
    pub listen: Vec<SocketAddr>,
    pub shards: Option<usize>,
    pub log: Option<String>,
    pub allow_anonymous: bool,
}

/// Sets up logging on stderr: `--log`, else `RUST_LOG`, else `info`.
fn init_logging(log: Option<&str>) -> Result<(), String> {
    let filter = match log {
        Some(level) => EnvFilter::try_new(level).map_err(|e| format!("--log {level}: {e}"))?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    Ok(())
}

/// The file's configuration with the command line's overrides, checked.
fn load(opts: &Options) -> Result<BrokerConfig, ConfigError> {
    let mut cfg = match &opts.config {
        Some(path) => BrokerConfig::from_file(path)?,
        None => BrokerConfig::default(),
    };
    if !opts.listen.is_empty() {
        cfg.listeners = opts
            .listen
            .iter()
            .map(|&addr| ListenerConfig { addr })
            .collect();
    }
    if let Some(n) = opts.shards {
        cfg.shards = n;
    }
    if opts.allow_anonymous {
        cfg.auth.allow_anonymous = Some(true);
    }
    cfg.check()?;
    Ok(cfg)
}

/// Runs the broker until SIGINT or SIGTERM.
pub(crate) fn run(opts: Options) -> ExitCode {
    if let Err(e) = init_logging(opts.log.as_deref()) {
        eprintln!("ringmq: {e}");
        return ExitCode::from(2);
    }
    let cfg = match load(&opts) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("ringmq: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    // Registered before the executors start, so a signal during start-up is not lost.
    let mut signals = match Signals::new([SIGINT, SIGTERM]) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let shards = cfg.effective_shards();
    let anonymous = cfg.allow_anonymous();
    let users = cfg.auth.users.len();
    let handle = match runtime_glommio::Broker::start(cfg) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!("cannot start the broker: {e}");
            return ExitCode::FAILURE;
        }
    };
    for addr in handle.local_addrs() {
        tracing::info!("listening on {addr} (mqtt, {shards} shards)");
    }
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        anonymous,
        users,
        "ringmq started"
    );
    let signal = signals.forever().next();
    tracing::info!(?signal, "shutting down");
    match handle.shutdown() {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("shutdown failed: {e}");
            ExitCode::FAILURE
        }
    }
}
