//! The Eclipse Mosquitto command-line clients (`mosquitto_pub`, `mosquitto_sub`, from the
//! `mosquitto-clients` package) through the broker: MQTT 5, 3.1.1 and 3.1 at QoS 0/1/2, and
//! retained messages. Their absence fails the tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[macro_use]
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{shared_broker, topic, uid, WAIT};

fn require(tool: &str) {
    let found = Command::new(tool)
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(
        found.is_ok(),
        "{tool} not found: apt-get install mosquitto-clients"
    );
}

/// A running `mosquitto_sub -v -d` and its output lines.
struct Sub {
    topic: String,
    /// Debug lines read so far (for failure messages).
    seen: Vec<String>,
    /// Message lines read while waiting for something else.
    pending: std::collections::VecDeque<String>,
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Sub {
    /// Starts `mosquitto_sub` for `count` messages and waits until the broker acknowledged
    /// the subscription.
    fn start(port: u16, version: &str, t: &str, qos: u8, count: usize) -> Sub {
        require("mosquitto_sub");
        // Line-buffered, so that the SUBACK line arrives while it runs (piped stdout is
        // block-buffered otherwise).
        let mut child = Command::new("stdbuf")
            .args(["-oL", "mosquitto_sub"])
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-V",
                version,
                "-d",
                "-v",
            ])
            .args(["-i", &uid("msub"), "-t", t, "-q", &qos.to_string()])
            .args(["-C", &count.to_string(), "-W", "10"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto_sub");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut sub = Sub {
            topic: t.to_owned(),
            seen: Vec::new(),
            pending: Default::default(),
            child,
            lines,
        };
        // The broker may send retained messages before the SUBACK (MQTT 5 §3.8.4 permits
        // it), and with `-C 1` mosquitto_sub then exits before the SUBACK: a message also
        // shows the subscription is in place.
        let prefix = format!("{t} ");
        let first = sub.wait_line(|l| l.contains("received SUBACK") || l.starts_with(&prefix));
        if first.starts_with(&prefix) {
            sub.pending.push_back(first);
        }
        sub
    }

    /// The next output line that `f` accepts, within [`WAIT`].
    fn wait_line(&mut self, f: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if f(&l) => return l,
                Ok(l) if l.starts_with(&format!("{} ", self.topic)) => self.pending.push_back(l),
                Ok(l) => self.seen.push(l),
                Err(e) => {
                    let status = self.child.try_wait();
                    panic!(
                        "mosquitto_sub on {}: expected line not seen ({e}); exit {status:?}; output {:?}",
                        self.topic, self.seen
                    )
                }
            }
        }
    }

    /// The next `topic payload` line (the others are debug output).
    fn message(&mut self) -> String {
        if let Some(l) = self.pending.pop_front() {
            return l;
        }
        let prefix = format!("{} ", self.topic);
        self.wait_line(|l| l.starts_with(&prefix))
    }

    /// Waits for `mosquitto_sub` to exit after its message count, successfully.
    fn finish(mut self) {
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "mosquitto_sub exit status {status}");
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("mosquitto_sub did not exit after its messages");
    }
}

impl Drop for Sub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn publish(port: u16, version: &str, t: &str, qos: u8, retain: bool, message: Option<&str>) {
    require("mosquitto_pub");
    let mut cmd = Command::new("mosquitto_pub");
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-V", version]);
    cmd.args(["-i", &uid("mpub"), "-t", t, "-q", &qos.to_string()]);
    match message {
        Some(m) => cmd.args(["-m", m]),
        None => cmd.arg("-n"),
    };
    if retain {
        cmd.arg("-r");
    }
    let out = cmd.output().expect("run mosquitto_pub");
    assert!(
        out.status.success(),
        "mosquitto_pub -V {version} -q {qos} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn pub_sub(port: u16) {
    // (subscriber version, publisher version)
    let pairs = [
        ("mqttv5", "mqttv311"),
        ("mqttv311", "mqttv5"),
        ("mqttv5", "mqttv31"),
        ("mqttv31", "mqttv5"),
    ];
    for (sv, pv) in pairs {
        for qos in 0..=2u8 {
            let t = topic("mosq");
            let mut sub = Sub::start(port, sv, &t, qos, 3);
            for i in 0..3 {
                publish(port, pv, &t, qos, false, Some(&format!("{pv}-q{qos}-{i}")));
            }
            for i in 0..3 {
                assert_eq!(
                    sub.message(),
                    format!("{t} {pv}-q{qos}-{i}"),
                    "{pv} -> {sv} at QoS {qos}"
                );
            }
            sub.finish();
        }
    }

    // Retained: stored, sent to a later subscriber, cleared with an empty retained message.
    let t = topic("mosq-ret");
    publish(port, "mqttv5", &t, 1, true, Some("kept"));
    let mut sub = Sub::start(port, "mqttv311", &t, 1, 1);
    assert_eq!(sub.message(), format!("{t} kept"));
    sub.finish();
    publish(port, "mqttv311", &t, 1, true, None);
    let mut sub = Sub::start(port, "mqttv5", &t, 1, 1);
    publish(port, "mqttv5", &t, 1, false, Some("live"));
    assert_eq!(
        sub.message(),
        format!("{t} live"),
        "no retained message any more"
    );
    sub.finish();
}

scenario! {
    /// mosquitto_sub and mosquitto_pub across versions and QoS levels.
    async fn mosquitto_pub_sub_and_retained(shards) {
        let port = shared_broker(shards).port();
        tokio::task::spawn_blocking(move || pub_sub(port)).await.unwrap();
    }
}
