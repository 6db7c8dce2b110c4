//! Shared by the client test files (`client_async.rs`, `client_manager.rs`): the brokers the
//! client is tested against (ringmq on tokio, ringmq on glommio, Mosquitto started by the
//! test), restarting one on the same port, and a TCP proxy between client and broker that
//! can swallow one direction, cut every connection, and refuse new ones.
//!
//! Mosquitto: `RINGMQ_MOSQUITTO` (a path) or the usual install places. When the binary is
//! absent the Mosquitto cases print a NOTICE and pass, unless `RINGMQ_REQUIRE_PEERS=1` is
//! set (CI): then they fail.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// Generous limit of every wait for something that should happen.
pub const WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tokio,
    #[cfg(target_os = "linux")]
    Glommio,
    Mosquitto,
}

/// Who may connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// Anonymous clients welcome.
    Open,
    /// Anonymous clients refused; ringmq has user `alice` / `secret`.
    Users,
}

enum Guard {
    Tokio(#[allow(dead_code)] runtime_tokio::BrokerHandle),
    #[cfg(target_os = "linux")]
    Glommio(#[allow(dead_code)] runtime_glommio::BrokerHandle),
    Mosquitto(Child, PathBuf),
    Stopped,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Guard::Mosquitto(child, dir) = self {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A running broker; stopped when dropped.
pub struct Target {
    pub kind: Kind,
    pub addr: SocketAddr,
    setup: Setup,
    guard: Guard,
}

/// Glommio executors lock memory (8 MiB per process here; each test broker has one
/// executor with 64 KiB of I/O memory): at most two glommio cases at a time, each with one
/// broker at a time (a restart stops the old one first).
#[cfg(target_os = "linux")]
pub static GLOMMIO: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

pub fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(SEQ.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.finish()
}

/// A unique name for client ids and topics.
pub fn uid(prefix: &str) -> String {
    format!("{prefix}-{:x}", random() & 0xFF_FFFF_FFFF)
}

/// Whether missing peers (Mosquitto) fail the tests instead of skipping them.
pub fn peers_required() -> bool {
    std::env::var("RINGMQ_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

fn ringmq_config(setup: Setup, addr: SocketAddr) -> ringmq_config::BrokerConfig {
    let mut config = ringmq_config::BrokerConfig::default();
    let mut listener = config.listeners[0].clone();
    listener.addr = addr;
    config.listeners = vec![listener];
    config.shards = 1;
    config.runtime.shutdown_timeout_ms = 2_000;
    config.runtime.io_memory = 64 * 1024;
    if setup == Setup::Users {
        config.auth.allow_anonymous = Some(false);
        let hash = ringmq_config::hash_password(b"secret").unwrap();
        config.auth.users = vec![ringmq_config::User::new("alice", &hash).unwrap()];
    }
    config
}

fn any_port() -> SocketAddr {
    ([127, 0, 0, 1], 0).into()
}

impl Target {
    /// Starts a broker of this kind on a free loopback port; `None` (after a notice) if
    /// Mosquitto is not installed and peers are not required.
    pub fn start(kind: Kind, setup: Setup) -> Option<Target> {
        let (guard, addr) = Self::launch(kind, setup, None).unwrap()?;
        Some(Target {
            kind,
            addr,
            setup,
            guard,
        })
    }

    /// Stops the broker (ringmq: graceful shutdown; Mosquitto: killed) and starts a new
    /// one of the same kind on the same port, with no session of the old one.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            match Self::launch(self.kind, self.setup, Some(self.addr)) {
                Ok(Some((guard, addr))) => {
                    assert_eq!(addr, self.addr);
                    self.guard = guard;
                    return;
                }
                Ok(None) => unreachable!("the broker ran before"),
                Err(e) if std::time::Instant::now() < deadline => {
                    eprintln!("restart on {}: {e}; again", self.addr);
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("cannot restart on {}: {e}", self.addr),
            }
        }
    }

    /// Stops the broker; the port is left free.
    pub fn stop(&mut self) {
        self.guard = Guard::Stopped;
    }

    fn launch(
        kind: Kind,
        setup: Setup,
        at: Option<SocketAddr>,
    ) -> std::io::Result<Option<(Guard, SocketAddr)>> {
        let addr = at.unwrap_or_else(any_port);
        Ok(match kind {
            Kind::Tokio => {
                let b = runtime_tokio::Broker::start(ringmq_config(setup, addr))?;
                let addr = b.local_addrs()[0];
                Some((Guard::Tokio(b), addr))
            }
            #[cfg(target_os = "linux")]
            Kind::Glommio => {
                let b = runtime_glommio::Broker::start(ringmq_config(setup, addr))?;
                let addr = b.local_addrs()[0];
                Some((Guard::Glommio(b), addr))
            }
            Kind::Mosquitto => start_mosquitto(setup, at),
        })
    }
}

/// `RINGMQ_MOSQUITTO` (a path) if set, else the usual install places.
fn mosquitto_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("RINGMQ_MOSQUITTO") {
        let path = PathBuf::from(path);
        return path.exists().then_some(path);
    }
    [
        "/usr/sbin/mosquitto",
        "/usr/bin/mosquitto",
        "/usr/local/sbin/mosquitto",
        "/opt/homebrew/sbin/mosquitto",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// Mosquitto on `at`, or on a random free port in 20000-40000.
fn start_mosquitto(setup: Setup, at: Option<SocketAddr>) -> Option<(Guard, SocketAddr)> {
    let Some(binary) = mosquitto_binary() else {
        assert!(
            !peers_required(),
            "RINGMQ_REQUIRE_PEERS=1 but mosquitto is not installed"
        );
        eprintln!("NOTICE: mosquitto is not installed: Mosquitto client tests skipped");
        return None;
    };
    for _ in 0..10 {
        let addr = at.unwrap_or_else(|| {
            let port = 20_000 + u16::try_from(random() % 20_000).unwrap();
            ([127, 0, 0, 1], port).into()
        });
        if at.is_none() && std::net::TcpListener::bind(addr).is_err() {
            continue;
        }
        let dir = std::env::temp_dir().join(uid("ringmq-mosquitto"));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("mosquitto.conf");
        let anonymous = setup == Setup::Open;
        let port = addr.port();
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous {anonymous}\npersistence false\n\
                 log_dest stderr\nlog_type error\n"
            ),
        )
        .unwrap();
        let child = Command::new(&binary)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut guard = Guard::Mosquitto(child, dir);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Guard::Mosquitto(child, _) = &mut guard {
                if child.try_wait().unwrap().is_some() {
                    break; // lost a race for the port (or it is not free yet)
                }
            }
            if std::net::TcpStream::connect(addr).is_ok() {
                return Some((guard, addr));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if at.is_some() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    panic!("mosquitto did not start");
}

/// Runs each case (an `async fn(Kind)`) against every broker kind (`#[macro_use]`).
macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        mod tokio_broker {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Kind::Tokio).await;
                }
            )*
        }
        #[cfg(target_os = "linux")]
        mod glommio_broker {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let _permit = super::client_common::GLOMMIO.acquire().await.unwrap();
                    super::$name(super::Kind::Glommio).await;
                }
            )*
        }
        mod mosquitto {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Kind::Mosquitto).await;
                }
            )*
        }
    };
}

// ---------------------------------------------------------------------------------------
// A proxy that can swallow one direction, cut connections and refuse new ones

pub const PASS: u8 = 0;
/// Swallow what the client sends.
pub const DROP_UP: u8 = 1;
/// Swallow what the broker sends.
pub const DROP_DOWN: u8 = 2;

pub struct Proxy {
    pub addr: SocketAddr,
    mode: Arc<AtomicU8>,
    /// New connections to close at once (`usize::MAX`: all).
    refuse: Arc<AtomicUsize>,
    conns: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(AtomicU8::new(PASS));
        let refuse = Arc::new(AtomicUsize::new(0));
        let conns: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (m, r, c) = (mode.clone(), refuse.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let refused = r
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| match n {
                        0 => None,
                        usize::MAX => Some(usize::MAX),
                        n => Some(n - 1),
                    })
                    .is_ok();
                if refused {
                    drop(client);
                    continue;
                }
                let Ok(broker) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let (crd, cwr) = client.into_split();
                let (brd, bwr) = broker.into_split();
                let up = tokio::spawn(pipe(crd, bwr, m.clone(), DROP_UP));
                let down = tokio::spawn(pipe(brd, cwr, m.clone(), DROP_DOWN));
                let mut conns = c.lock().unwrap();
                conns.push(up.abort_handle());
                conns.push(down.abort_handle());
            }
        })
        .abort_handle();
        Proxy {
            addr,
            mode,
            refuse,
            conns,
            accept,
        }
    }

    pub fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    /// Closes the next `n` connections at once (`usize::MAX`: until told otherwise).
    pub fn refuse(&self, n: usize) {
        self.refuse.store(n, Ordering::SeqCst);
    }

    /// Closes every proxied connection (both sockets).
    pub fn cut(&self) {
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

async fn pipe(
    mut rd: tokio::net::tcp::OwnedReadHalf,
    mut wr: tokio::net::tcp::OwnedWriteHalf,
    mode: Arc<AtomicU8>,
    drop_when: u8,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match rd.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if mode.load(Ordering::SeqCst) == drop_when {
            continue;
        }
        if wr.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
