//! `ringmq`: the broker binary. Without a subcommand it runs the broker, on the glommio
//! runtime by default on Linux (falling back to tokio where io_uring is unavailable) and on
//! tokio elsewhere (`--runtime` picks); `decode` prints hex-encoded packets and `hash-password` makes password hashes for
//! `[[auth.users]]`.

use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod decode;
mod serve;

/// A thread-per-core MQTT 5.0 / 3.1.1 / 3.1 broker.
#[derive(Debug, Parser)]
#[command(name = "ringmq", version, about)]
struct Cli {
    /// TOML configuration file (every key is described in ringmq.example.toml).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Listen on ADDR (IP:PORT); repeatable. Replaces the file's listeners.
    #[arg(long, value_name = "ADDR")]
    listen: Vec<SocketAddr>,
    /// Number of shards (0: one per core). Overrides the file's `shards`.
    #[arg(long, value_name = "N")]
    shards: Option<usize>,
    /// Log level or filter (error, warn, info, debug, trace, or a tracing filter such as
    /// `info,runtime_glommio=debug`). Default: `RUST_LOG` if set, else info.
    #[arg(long, value_name = "LEVEL")]
    log: Option<String>,
    /// Let clients without a user name connect, whatever the listeners.
    #[arg(long)]
    allow_anonymous: bool,
    /// The runtime that drives the shards. Default: glommio on Linux (tokio if io_uring is
    /// unavailable there), tokio elsewhere.
    #[arg(long, value_enum, value_name = "RUNTIME")]
    runtime: Option<Runtime>,
    #[command(subcommand)]
    command: Option<Command>,
}

/// The runtimes the broker can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Runtime {
    /// io_uring, one executor per core (Linux only).
    Glommio,
    /// epoll/kqueue/IOCP, one current-thread tokio runtime per shard.
    Tokio,
}

impl Runtime {
    /// The name `--runtime` takes.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Glommio => "glommio",
            Self::Tokio => "tokio",
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode client-to-server packets given in hex and print them.
    Decode {
        /// `--v3` or `--v311` to pick the protocol version (default 5), then hex strings.
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "HEX"
        )]
        args: Vec<String>,
    },
    /// Read a password from standard input and print its Argon2id hash (a PHC string) for
    /// `password_hash` in [[auth.users]].
    HashPassword,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Decode { args }) => decode::run(&args),
        Some(Command::HashPassword) => hash_password(),
        None => serve::run(serve::Options {
            config: cli.config,
            listen: cli.listen,
            shards: cli.shards,
            log: cli.log,
            allow_anonymous: cli.allow_anonymous,
            runtime: cli.runtime,
        }),
    }
}

/// `ringmq hash-password`: one password from stdin (its first line, without the line end).
fn hash_password() -> ExitCode {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("password (shown as typed): ");
        let _ = std::io::stderr().flush();
    }
    let mut line = Vec::new();
    if let Err(e) = stdin.lock().read_until(b'\n', &mut line) {
        eprintln!("ringmq: cannot read standard input: {e}");
        return ExitCode::FAILURE;
    }
    let line = line.strip_suffix(b"\n").unwrap_or(&line);
    let password = line.strip_suffix(b"\r").unwrap_or(line);
    if password.is_empty() {
        eprintln!("ringmq: empty password");
        return ExitCode::from(2);
    }
    match ringmq_config::hash_password(password) {
        Ok(phc) => {
            println!("{phc}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ringmq: {e}");
            ExitCode::FAILURE
        }
    }
}
