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
use tracing_subscriber::EnvFilter;

use crate::Runtime;

/// What the command line says about running the broker.
#[derive(Debug)]
pub(crate) struct Options {
    pub config: Option<PathBuf>,
    pub listen: Vec<SocketAddr>,
    pub shards: Option<usize>,
    pub log: Option<String>,
    pub allow_anonymous: bool,
    /// `None`: glommio on Linux, falling back to tokio without io_uring; tokio elsewhere.
    pub runtime: Option<Runtime>,
}

/// A running broker on either runtime.
#[derive(Debug)]
enum Handle {
    #[cfg(target_os = "linux")]
    Glommio(runtime_glommio::BrokerHandle),
    Tokio(runtime_tokio::BrokerHandle),
}

impl Handle {
    fn local_addrs(&self) -> &[SocketAddr] {
        match self {
            #[cfg(target_os = "linux")]
            Self::Glommio(h) => h.local_addrs(),
            Self::Tokio(h) => h.local_addrs(),
        }
    }

    fn shutdown(self) -> std::io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            Self::Glommio(h) => h.shutdown(),
            Self::Tokio(h) => h.shutdown(),
        }
    }
}

/// Whether glommio's start-up error says that io_uring is unavailable: `io_uring_setup`
/// failing with ENOSYS (kernel without io_uring) or EPERM (disabled by
/// `kernel.io_uring_disabled` or a seccomp filter, as in many containers). Glommio reports
/// the OS error in its text ("... (os error 38)").
#[cfg(any(target_os = "linux", test))]
fn io_uring_unavailable(e: &std::io::Error) -> bool {
    let text = e.to_string();
    matches!(e.raw_os_error(), Some(1 | 38))
        || text.contains("(os error 38)")
        || text.contains("(os error 1)")
}

/// Waits for SIGINT or SIGTERM: with signal-hook's iterator on Unix; with flags polled every
/// 100 ms elsewhere (the iterator does not exist on Windows, where Ctrl-C raises SIGINT).
struct Stop {
    #[cfg(unix)]
    signals: signal_hook::iterator::Signals,
    #[cfg(not(unix))]
    flag: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Stop {
    /// Registers the handlers.
    fn new() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            Ok(Self {
                signals: signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?,
            })
        }
        #[cfg(not(unix))]
        {
            let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            for sig in [SIGINT, SIGTERM] {
                signal_hook::flag::register(sig, flag.clone())?;
            }
            Ok(Self { flag })
        }
    }

    /// Blocks until a signal arrives; the signal, if known.
    fn wait(&mut self) -> Option<i32> {
        #[cfg(unix)]
        {
            self.signals.forever().next()
        }
        #[cfg(not(unix))]
        {
            while !self.flag.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            None
        }
    }
}

/// Starts the broker on the chosen runtime (see [`Options::runtime`]).
fn start(cfg: BrokerConfig, runtime: Option<Runtime>) -> std::io::Result<(Handle, Runtime)> {
    match runtime {
        #[cfg(target_os = "linux")]
        Some(Runtime::Glommio) => {
            runtime_glommio::Broker::start(cfg).map(|h| (Handle::Glommio(h), Runtime::Glommio))
        }
        #[cfg(not(target_os = "linux"))]
        Some(Runtime::Glommio) => Err(std::io::Error::other(
            "the glommio runtime needs Linux (io_uring); use --runtime tokio",
        )),
        Some(Runtime::Tokio) => {
            runtime_tokio::Broker::start(cfg).map(|h| (Handle::Tokio(h), Runtime::Tokio))
        }
        #[cfg(target_os = "linux")]
        None => match runtime_glommio::Broker::start(cfg.clone()) {
            Ok(h) => Ok((Handle::Glommio(h), Runtime::Glommio)),
            Err(e) if io_uring_unavailable(&e) => {
                tracing::warn!("io_uring is unavailable ({e}): falling back to the tokio runtime");
                runtime_tokio::Broker::start(cfg).map(|h| (Handle::Tokio(h), Runtime::Tokio))
            }
            Err(e) => Err(e),
        },
        #[cfg(not(target_os = "linux"))]
        None => runtime_tokio::Broker::start(cfg).map(|h| (Handle::Tokio(h), Runtime::Tokio)),
    }
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
    // Registered before the shards start, so a signal during start-up is not lost.
    let mut signals = match Stop::new() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let shards = cfg.effective_shards();
    let anonymous = cfg.allow_anonymous();
    let users = cfg.auth.users.len();
    let (handle, runtime) = match start(cfg, opts.runtime) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!("cannot start the broker: {e}");
            return ExitCode::FAILURE;
        }
    };
    for addr in handle.local_addrs() {
        tracing::info!(
            "listening on {addr} (mqtt, {shards} shards, {} runtime)",
            runtime.name()
        );
    }
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        anonymous,
        users,
        "ringmq started"
    );
    let signal = signals.wait();
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::io_uring_unavailable;

    #[test]
    fn io_uring_errors_are_recognised_and_others_are_not() {
        // As `runtime_glommio::Broker::start` words them (the OS error inside glommio's text).
        for code in [1, 38] {
            let os = std::io::Error::from_raw_os_error(code);
            let wrapped =
                std::io::Error::other(format!("shard 0: glommio executor failed to start: {os}"));
            assert!(io_uring_unavailable(&wrapped), "{wrapped}");
            assert!(io_uring_unavailable(&os), "{os}");
        }
        let memlock = std::io::Error::other(
            "shard 0: glommio cannot start for lack of locked memory (Cannot allocate memory \
             (os error 12))",
        );
        assert!(!io_uring_unavailable(&memlock));
        let bind = std::io::Error::other("shard 0: cannot bind 127.0.0.1:1883: Address in use");
        assert!(!io_uring_unavailable(&bind));
    }
}
