//! `ringmq-bench`: an MQTT load generator for comparing brokers (ringmq, Mosquitto, ...).
//!
//! It runs on one thread; pin it to a core of its own (`taskset -c 1 ringmq-bench ...`),
//! away from the broker's. A progress line goes to stderr each second of runs longer than
//! 2 s, the summary to stdout, or with `--json` one JSON object.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::fmt::Display;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use mqtt_proto::{ProtocolVersion, QoS};
use ringmq_benches::bench::{
    self, Common, ConnOptions, FlowOptions, LatencyOptions, Stop, StressOptions, Topology,
};
use serde::Serialize;

#[derive(Debug, Parser)]
#[command(
    name = "ringmq-bench",
    about = "MQTT load generator: stress (mqtt-stresser's method), p2p / fanin / fanout \
             throughput, open-loop latency, and idle connections",
    disable_version_flag = true
)]
struct Cli {
    /// Broker host.
    #[arg(long, global = true, default_value = "127.0.0.1")]
    host: String,
    /// Broker port.
    #[arg(long, global = true, default_value_t = 1883)]
    port: u16,
    /// MQTT protocol level: 5 (MQTT 5.0), 4 (3.1.1) or 3 (3.1).
    #[arg(long = "version", global = true, default_value_t = 5,
          value_parser = clap::value_parser!(u8).range(3..=5))]
    protocol: u8,
    /// QoS of publishes and subscriptions.
    #[arg(long, global = true, default_value_t = 0,
          value_parser = clap::value_parser!(u8).range(0..=2))]
    qos: u8,
    /// Payload size in bytes.
    #[arg(long, global = true, default_value_t = 64)]
    payload: usize,
    /// Print the summary as one JSON object.
    #[arg(long, global = true)]
    json: bool,
    /// No progress line on stderr.
    #[arg(long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// mqtt-stresser's test: N clients each publish M messages to their own topic and
    /// receive them.
    Stress {
        /// Clients (each a publisher and a subscriber).
        #[arg(long, default_value_t = 10)]
        clients: usize,
        /// Messages per client.
        #[arg(long, default_value_t = 10_000)]
        messages: u64,
        /// Seconds allowed once publishing started.
        #[arg(long, default_value_t = 60.0)]
        timeout: f64,
    },
    /// P pairs: publisher i -> subscriber i, each pair on its own topic.
    P2p(FlowArgs),
    /// P publishers -> 1 subscriber on one topic.
    Fanin(FlowArgs),
    /// 1 publisher -> S subscribers on one topic.
    Fanout(FlowArgs),
    /// Open-loop latency at a fixed offered rate (corrected for coordinated omission).
    Latency {
        /// Offered messages per second (all pairs together).
        #[arg(long, default_value_t = 10_000.0)]
        rate: f64,
        /// Seconds of publishing.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Publisher -> subscriber pairs.
        #[arg(long, default_value_t = 1)]
        publishers: usize,
        /// Seconds at the start not recorded.
        #[arg(long, default_value_t = 0.0)]
        warmup: f64,
        /// Seconds to wait for the last messages.
        #[arg(long, default_value_t = 2.0)]
        drain: f64,
    },
    /// Open N connections at a rate, hold them, report connect latency and broker memory.
    Conn {
        /// Connections.
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        /// Connections per second.
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// Seconds to hold them once all are open.
        #[arg(long, default_value_t = 5.0)]
        hold: f64,
        /// The broker's pid, to read its VmRSS from /proc.
        #[arg(long)]
        pid: Option<u32>,
    },
}

#[derive(Debug, Args)]
struct FlowArgs {
    /// Publishers (p2p: pairs).
    #[arg(long, default_value_t = 1)]
    publishers: usize,
    /// Subscribers (fanout).
    #[arg(long, default_value_t = 1)]
    subscribers: usize,
    /// Seconds of publishing (default 10 unless --count).
    #[arg(long, conflicts_with = "count")]
    duration: Option<f64>,
    /// Messages per publisher.
    #[arg(long)]
    count: Option<u64>,
    /// QoS 1/2 publishes in flight per publisher at most. Default: unbounded on MQTT 5,
    /// where the broker's Receive Maximum bounds it; 100 on MQTT 3, which has no Receive
    /// Maximum (brokers close a client over their limit).
    #[arg(long)]
    inflight: Option<u16>,
    /// Seconds to wait for stragglers once nothing arrives.
    #[arg(long, default_value_t = 2.0)]
    drain: f64,
    /// Seconds allowed for publishing by count and for acknowledgements.
    #[arg(long, default_value_t = 120.0)]
    timeout: f64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringmq-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn secs(s: f64) -> io::Result<Duration> {
    Duration::try_from_secs_f64(s)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("bad seconds: {s}")))
}

fn run(cli: &Cli) -> io::Result<()> {
    let addr: SocketAddr = (cli.host.as_str(), cli.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::other(format!("{} resolves to nothing", cli.host)))?;
    let mut common = Common::new(addr);
    common.version = match cli.protocol {
        3 => ProtocolVersion::V3_1,
        4 => ProtocolVersion::V3_1_1,
        _ => ProtocolVersion::V5,
    };
    common.qos = match cli.qos {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    };
    common.payload = cli.payload;
    common.progress = !cli.quiet;
    match &cli.mode {
        Mode::Stress {
            clients,
            messages,
            timeout,
        } => {
            let opts = StressOptions {
                clients: *clients,
                messages: *messages,
                timeout: secs(*timeout)?,
            };
            emit(cli, bench::block_on(bench::stress(&common, &opts))??)
        }
        Mode::P2p(a) => flow(cli, &common, Topology::P2p, a),
        Mode::Fanin(a) => flow(cli, &common, Topology::FanIn, a),
        Mode::Fanout(a) => flow(cli, &common, Topology::FanOut, a),
        Mode::Latency {
            rate,
            duration,
            publishers,
            warmup,
            drain,
        } => {
            let opts = LatencyOptions {
                rate: *rate,
                duration: secs(*duration)?,
                pairs: *publishers,
                warmup: secs(*warmup)?,
                drain: secs(*drain)?,
            };
            emit(cli, bench::block_on(bench::latency(&common, &opts))??)
        }
        Mode::Conn {
            clients,
            rate,
            hold,
            pid,
        } => {
            let opts = ConnOptions {
                clients: *clients,
                rate: *rate,
                hold: secs(*hold)?,
                pid: *pid,
            };
            emit(cli, bench::block_on(bench::connections(&common, &opts))??)
        }
    }
}

fn flow(cli: &Cli, common: &Common, topology: Topology, a: &FlowArgs) -> io::Result<()> {
    let stop = match (a.count, a.duration) {
        (Some(n), _) => Stop::Count(n),
        (None, d) => Stop::Duration(secs(d.unwrap_or(10.0))?),
    };
    let opts = FlowOptions {
        topology,
        publishers: a.publishers,
        subscribers: a.subscribers,
        stop,
        inflight: a.inflight.unwrap_or(common.default_inflight()),
        drain: secs(a.drain)?,
        timeout: secs(a.timeout)?,
    };
    emit(cli, bench::block_on(bench::flow(common, &opts))??)
}

fn emit<R: Serialize + Display>(cli: &Cli, report: R) -> io::Result<()> {
    if cli.json {
        println!(
            "{}",
            serde_json::to_string(&report).map_err(io::Error::other)?
        );
    } else {
        println!("{report}");
    }
    Ok(())
}
