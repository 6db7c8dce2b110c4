//! The `ringmq` binary end to end: flags, configuration errors, serving, signals.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::num::NonZeroU16;
use std::path::PathBuf;
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mqtt_proto::{
    ConnAck, Connect, ConnectProperties, ConnectReasonCode, DecodeOptions, DisconnectReasonCode,
    Packet, ProtocolVersion, QoS, SubAckReasonCode, Subscribe, SubscribeProperties, Subscription,
    SubscriptionOptions,
};

const BIN: &str = env!("CARGO_BIN_EXE_ringmq");

/// Argon2id of "secret" with tiny parameters (8 KiB, 1 pass), cheap in a debug build.
const SECRET_HASH: &str =
    "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0$WHwbVkQ5XzAMaltcqwxy+X9v0VxYTVTjS9BRTrowawM";

/// A configuration file in the temp directory, removed on drop.
struct TempConfig(PathBuf);

impl TempConfig {
    fn new(name: &str, text: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("ringmq-cli-{}-{name}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        Self(path)
    }
}

impl Drop for TempConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs the binary to completion with `args` and `stdin`.
fn run(args: &[&str], stdin: &str) -> (ExitStatus, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A running broker process; killed on drop if still running.
struct Broker {
    child: Child,
    addr: SocketAddr,
    lines: mpsc::Receiver<String>,
    /// The lines logged up to "listening on".
    startup: Vec<String>,
}

impl Broker {
    /// Starts `ringmq --listen 127.0.0.1:0 ARGS` and waits for its "listening on" line.
    fn start(args: &[&str]) -> Self {
        Self::spawn(Self::command(args))
    }

    /// The command [`Broker::start`] runs.
    fn command(args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(["--listen", "127.0.0.1:0", "--shards", "2"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs `cmd` (from [`Broker::command`]) and waits for its "listening on" line.
    fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd.spawn().unwrap();
        let lines = forward_lines(child.stderr.take().unwrap());
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut startup = Vec::new();
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = lines.recv_timeout(left).unwrap_or_else(|e| {
                let _ = child.kill();
                panic!(
                    "no listening line from ringmq: {e:?}; log:\n{}",
                    startup.join("\n")
                )
            });
            let found = line.split("listening on ").nth(1).map(|rest| {
                assert!(rest.contains("(mqtt, 2 shards, "), "{line}");
                rest.split(' ').next().unwrap().parse().unwrap()
            });
            startup.push(line);
            if let Some(addr) = found {
                break addr;
            }
        };
        Self {
            child,
            addr,
            lines,
            startup,
        }
    }

    /// Sends SIGTERM and waits up to `limit` for the exit status.
    fn terminate(&mut self, limit: Duration) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "ringmq still running {limit:?} after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything logged so far.
    fn log(&self) -> String {
        self.startup
            .iter()
            .cloned()
            .chain(self.lines.try_iter())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads stderr on a thread (so the pipe never fills) and passes on its lines.
fn forward_lines(stderr: ChildStderr) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A raw MQTT 5 client over TCP.
struct Client {
    stream: TcpStream,
    buf: BytesMut,
}

impl Client {
    fn connect(addr: SocketAddr, id: &str, user: Option<(&str, &str)>) -> (Self, ConnAck) {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut c = Self {
            stream,
            buf: BytesMut::new(),
        };
        c.send(&Packet::Connect(Box::new(Connect {
            protocol_version: ProtocolVersion::V5,
            clean_start: true,
            keep_alive: 60,
            properties: ConnectProperties::default(),
            client_id: id.into(),
            will: None,
            username: user.map(|(u, _)| u.into()),
            password: user.map(|(_, p)| mqtt_proto::Bytes::copy_from_slice(p.as_bytes())),
        })));
        match c.recv() {
            Some(Packet::ConnAck(ack)) => (c, *ack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    fn send(&mut self, p: &Packet) {
        let mut out = BytesMut::new();
        p.encode(ProtocolVersion::V5, &mut out).unwrap();
        self.stream.write_all(&out).unwrap();
    }

    /// The next packet, or `None` when the broker closed the connection.
    fn recv(&mut self) -> Option<Packet> {
        let opts = DecodeOptions::client(ProtocolVersion::V5);
        loop {
            if let Some(p) = Packet::decode(&mut self.buf, &opts).unwrap() {
                return Some(p);
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    fn subscribe(&mut self, filter: &str) -> SubAckReasonCode {
        self.send(&Packet::Subscribe(Subscribe {
            packet_id: NonZeroU16::new(1).unwrap(),
            properties: SubscribeProperties::default(),
            subscriptions: [Subscription {
                filter: filter.into(),
                options: SubscriptionOptions {
                    qos: QoS::AtLeastOnce,
                    ..SubscriptionOptions::default()
                },
            }]
            .into_iter()
            .collect(),
        }));
        match self.recv() {
            Some(Packet::SubAck(ack)) => ack.reason_codes[0],
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }
}

#[test]
fn version_flag_prints_the_package_version() {
    let (status, out, _) = run(&["--version"], "");
    assert!(status.success());
    assert_eq!(out.trim(), format!("ringmq {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn unknown_config_key_exits_2_naming_the_key() {
    let cfg = TempConfig::new("unknown", "[limits]\nmax_pakcet_size = 10\n");
    let (status, _, err) = run(&["--config", cfg.0.to_str().unwrap()], "");
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("unknown field `max_pakcet_size`"), "{err}");
}

#[test]
fn invalid_config_value_exits_2_naming_the_key() {
    let cfg = TempConfig::new("invalid", "[protocol]\nmax_qos = 3\n");
    let (status, _, err) = run(&["--config", cfg.0.to_str().unwrap()], "");
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("protocol.max_qos"), "{err}");
}

#[test]
fn missing_config_file_exits_2() {
    let (status, _, err) = run(&["--config", "/nonexistent/ringmq.toml"], "");
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("/nonexistent/ringmq.toml"), "{err}");
}

#[test]
fn non_loopback_listener_without_users_exits_2_saying_how_to_fix_it() {
    let (status, _, err) = run(&["--listen", "0.0.0.0:0"], "");
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains("allow_anonymous") && err.contains("[[auth.users]]"),
        "{err}"
    );
}

#[test]
fn hash_password_prints_an_argon2id_phc_string() {
    let (status, out, err) = run(&["hash-password"], "s3cret\n");
    assert!(status.success(), "{err}");
    assert!(
        out.trim().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{out}"
    );
    let (status, _, err) = run(&["hash-password"], "");
    assert_eq!(status.code(), Some(2), "{err}");
}

#[test]
fn decode_subcommand_prints_a_pingreq() {
    let (status, out, _) = run(&["decode", "c000"], "");
    assert!(status.success());
    assert!(out.contains("PingReq"), "{out}");
}

#[test]
fn listen_connack_then_sigterm_sends_disconnect_0x8b_and_exits_0() {
    let mut broker = Broker::start(&[]);
    let (mut client, ack) = Client::connect(broker.addr, "cli-sigterm", None);
    assert_eq!(ack.reason_code, ConnectReasonCode::Success);
    let status = broker.terminate(Duration::from_secs(10));
    match client.recv() {
        Some(Packet::Disconnect(d)) => {
            assert_eq!(d.reason_code, DisconnectReasonCode::ServerShuttingDown);
        }
        other => panic!("expected DISCONNECT 0x8B, got {other:?}"),
    }
    assert!(status.success(), "exit {status:?}; log:\n{}", broker.log());
}

#[test]
fn runtime_tokio_serves_a_message_and_stops_on_sigterm() {
    let mut broker = Broker::start(&["--runtime", "tokio"]);
    let (mut sub, _) = Client::connect(broker.addr, "cli-tokio-sub", None);
    assert_eq!(sub.subscribe("cli/tokio"), SubAckReasonCode::GrantedQoS1);
    let (mut publisher, _) = Client::connect(broker.addr, "cli-tokio-pub", None);
    publisher.send(&Packet::Publish(mqtt_proto::Publish {
        dup: false,
        qos_pid: mqtt_proto::QosPid::AtMostOnce,
        retain: false,
        topic: "cli/tokio".into(),
        payload: mqtt_proto::Bytes::from_static(b"on tokio"),
        properties: mqtt_proto::PublishProperties::default(),
    }));
    match sub.recv() {
        Some(Packet::Publish(p)) => assert_eq!(&p.payload[..], b"on tokio"),
        other => panic!("expected PUBLISH, got {other:?}"),
    }
    let status = broker.terminate(Duration::from_secs(10));
    match sub.recv() {
        Some(Packet::Disconnect(d)) => {
            assert_eq!(d.reason_code, DisconnectReasonCode::ServerShuttingDown);
        }
        other => panic!("expected DISCONNECT 0x8B, got {other:?}"),
    }
    let log = broker.log();
    assert!(status.success(), "exit {status:?}; log:\n{log}");
}

#[test]
fn the_startup_line_names_the_runtime() {
    for (args, name) in [
        (&["--runtime", "tokio"][..], "tokio runtime"),
        (&["--runtime", "glommio"][..], "glommio runtime"),
    ] {
        let mut child = Command::new(BIN)
            .args(["--listen", "127.0.0.1:0", "--shards", "1"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = forward_lines(child.stderr.take().unwrap());
        let line = loop {
            let line = lines.recv_timeout(Duration::from_secs(30)).unwrap();
            if line.contains("listening on ") {
                break line;
            }
        };
        let _ = child.kill();
        let _ = child.wait();
        assert!(line.contains(name), "{line}");
    }
}

#[test]
fn a_bad_runtime_exits_2_naming_the_choices() {
    let (status, _, err) = run(&["--runtime", "uring", "--listen", "127.0.0.1:0"], "");
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("--runtime"), "{err}");
    assert!(err.contains("glommio") && err.contains("tokio"), "{err}");
}

#[test]
fn configured_users_and_acl_apply_end_to_end() {
    let cfg = TempConfig::new(
        "auth",
        &format!(
            "[[auth.users]]\nusername = \"alice\"\npassword_hash = \"{SECRET_HASH}\"\n\
             [[acl.rules]]\naction = \"subscribe\"\ntopic = \"test/nosubscribe\"\n\
             permission = \"deny\"\n"
        ),
    );
    // No listeners in the file and --listen on loopback: anonymous clients are allowed.
    let broker = Broker::start(&["--config", cfg.0.to_str().unwrap()]);
    let (_, ack) = Client::connect(broker.addr, "anon", None);
    assert_eq!(ack.reason_code, ConnectReasonCode::Success);
    let (_, ack) = Client::connect(broker.addr, "bad", Some(("alice", "wrong")));
    assert_eq!(ack.reason_code, ConnectReasonCode::BadUserNameOrPassword);
    let (_, ack) = Client::connect(broker.addr, "ghost", Some(("mallory", "secret")));
    assert_eq!(ack.reason_code, ConnectReasonCode::BadUserNameOrPassword);
    let (mut alice, ack) = Client::connect(broker.addr, "alice", Some(("alice", "secret")));
    assert_eq!(ack.reason_code, ConnectReasonCode::Success);
    assert_eq!(
        alice.subscribe("test/nosubscribe"),
        SubAckReasonCode::NotAuthorized
    );
    assert_eq!(alice.subscribe("test/other"), SubAckReasonCode::GrantedQoS1);
}

#[test]
fn file_listeners_turn_anonymous_access_off() {
    let cfg = TempConfig::new(
        "named",
        &format!(
            "[[listeners]]\naddr = \"127.0.0.1:0\"\n\
             [[auth.users]]\nusername = \"alice\"\npassword_hash = \"{SECRET_HASH}\"\n"
        ),
    );
    let broker = Broker::start(&["--config", cfg.0.to_str().unwrap()]);
    let (_, ack) = Client::connect(broker.addr, "anon", None);
    assert_eq!(ack.reason_code, ConnectReasonCode::NotAuthorized);
    let (_, ack) = Client::connect(broker.addr, "alice", Some(("alice", "secret")));
    assert_eq!(ack.reason_code, ConnectReasonCode::Success);
}

/// Takes io_uring away from the process `cmd` starts: a seccomp filter, installed in the child
/// between fork and exec, fails `io_uring_setup`, `io_uring_enter` and `io_uring_register` with
/// `errno` (ENOSYS: a kernel without io_uring; EPERM: Docker's default seccomp profile or
/// `kernel.io_uring_disabled`). Everything else is allowed; the test process is untouched.
#[cfg(target_os = "linux")]
fn without_io_uring(cmd: &mut Command, errno: i32) {
    use seccompiler::{BpfProgram, SeccompAction, SeccompFilter};
    use std::os::unix::process::CommandExt;

    let rules = [
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
    ]
    .into_iter()
    .map(|nr| (nr, vec![]))
    .collect();
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(u32::try_from(errno).unwrap()),
        std::env::consts::ARCH.try_into().unwrap(),
    )
    .unwrap();
    // Built before the fork: the child only installs it.
    let program: BpfProgram = filter.try_into().unwrap();
    #[allow(unsafe_code)]
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // work is allowed: `apply_filter` makes two system calls (prctl NO_NEW_PRIVS, seccomp) on
    // a program built before the fork, and the error path builds an `io::Error` from a raw
    // errno, which does not allocate.
    unsafe {
        cmd.pre_exec(move || {
            seccompiler::apply_filter(&program)
                .map_err(|_| std::io::Error::from_raw_os_error(libc::EPERM))
        });
    }
}

/// Without io_uring (ENOSYS or EPERM), the default runtime falls back to tokio, says so in
/// the log, serves MQTT on both shards, and shuts down gracefully on SIGTERM.
#[cfg(target_os = "linux")]
#[test]
fn without_io_uring_the_default_runtime_falls_back_to_tokio_and_says_so() {
    for (errno, name) in [(libc::ENOSYS, "ENOSYS"), (libc::EPERM, "EPERM")] {
        let mut cmd = Broker::command(&[]);
        without_io_uring(&mut cmd, errno);
        let mut broker = Broker::spawn(cmd);
        let log = broker.log();
        assert!(
            log.contains("io_uring is unavailable")
                && log.contains("falling back to the tokio runtime"),
            "{name}: no fallback warning in:\n{log}"
        );
        let listening = log.lines().find(|l| l.contains("listening on ")).unwrap();
        assert!(listening.contains("tokio runtime"), "{name}: {listening}");
        // An independent client (rumqttc, MQTT 3.1.1) subscribes and receives its own message.
        let options = rumqttc::MqttOptions::new(
            format!("fallback-rumqttc-{name}"),
            "127.0.0.1",
            broker.addr.port(),
        );
        let (rumq, mut events) = rumqttc::Client::new(options, 10);
        rumq.subscribe("fallback/rumqttc", rumqttc::QoS::AtLeastOnce)
            .unwrap();
        let mut published = false;
        loop {
            match events.recv_timeout(Duration::from_secs(10)) {
                Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(ack)))) => {
                    assert_eq!(
                        ack.return_codes,
                        [rumqttc::SubscribeReasonCode::Success(
                            rumqttc::QoS::AtLeastOnce
                        )],
                        "{name}"
                    );
                    rumq.publish(
                        "fallback/rumqttc",
                        rumqttc::QoS::AtLeastOnce,
                        false,
                        &b"via rumqttc"[..],
                    )
                    .unwrap();
                    published = true;
                }
                Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)))) => {
                    assert!(published, "{name}: a message before the SUBACK");
                    assert_eq!(&p.payload[..], b"via rumqttc", "{name}");
                    break;
                }
                Ok(Ok(_)) => {}
                other => panic!("{name}: rumqttc: {other:?}"),
            }
        }
        let (mut sub, ack) = Client::connect(broker.addr, &format!("fallback-sub-{name}"), None);
        assert_eq!(ack.reason_code, ConnectReasonCode::Success, "{name}");
        assert_eq!(sub.subscribe("fallback/t"), SubAckReasonCode::GrantedQoS1);
        let (mut publisher, _) =
            Client::connect(broker.addr, &format!("fallback-pub-{name}"), None);
        publisher.send(&Packet::Publish(mqtt_proto::Publish {
            dup: false,
            qos_pid: mqtt_proto::QosPid::AtMostOnce,
            retain: false,
            topic: "fallback/t".into(),
            payload: mqtt_proto::Bytes::from_static(b"no io_uring"),
            properties: mqtt_proto::PublishProperties::default(),
        }));
        match sub.recv() {
            Some(Packet::Publish(p)) => assert_eq!(&p.payload[..], b"no io_uring", "{name}"),
            other => panic!("{name}: expected PUBLISH, got {other:?}"),
        }
        let status = broker.terminate(Duration::from_secs(10));
        match sub.recv() {
            Some(Packet::Disconnect(d)) => {
                assert_eq!(d.reason_code, DisconnectReasonCode::ServerShuttingDown);
            }
            other => panic!("{name}: expected DISCONNECT 0x8B, got {other:?}"),
        }
        assert!(status.success(), "{name}: exit {status:?}");
    }
}

/// Asked for glommio explicitly, without io_uring, the broker does not fall back: it exits 1
/// with an error that names io_uring.
#[cfg(target_os = "linux")]
#[test]
fn without_io_uring_an_explicit_glommio_runtime_fails_with_a_clear_error() {
    let mut cmd = Command::new(BIN);
    cmd.args(["--listen", "127.0.0.1:0", "--runtime", "glommio"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    without_io_uring(&mut cmd, libc::EPERM);
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("falling back"), "{err}");
    assert!(!err.contains("listening on"), "{err}");
    assert!(err.contains("io_uring"), "{err}");
}
