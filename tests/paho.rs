//! Scenarios driven by Python paho-mqtt 2.x, a client we did not write: each script in
//! `tests/paho/` runs against the broker with `--port N`, asserts, and exits non-zero on
//! failure. paho must be installed (`pip install paho-mqtt`); its absence fails the tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[macro_use]
mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::shared_broker;

/// Fails the test unless `python3` can import paho-mqtt 2.x.
fn require_paho() {
    let out = Command::new("python3")
        .args(["-c", "import paho.mqtt, sys; print(paho.mqtt.__version__)"])
        .output()
        .unwrap_or_else(|e| panic!("python3 is needed for the paho tests: {e}"));
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        out.status.success(),
        "paho-mqtt is not importable: pip install paho-mqtt\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        version.starts_with('2'),
        "paho-mqtt 2.x needed, found {version}: pip install -U paho-mqtt"
    );
}

/// Runs `tests/paho/{script}` against the broker at `port`, within 60 s, failing the test with
/// its output unless it succeeds.
fn run_script(script: &str, port: u16) {
    require_paho();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/paho")
        .join(script);
    let mut child = Command::new("python3")
        .arg(&path)
        .args(["--port", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python3");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait for python3").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("python3 output");
    assert!(
        out.status.success(),
        "{script} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn run_paho(script: &'static str, shards: usize) {
    let port = shared_broker(shards).port();
    tokio::task::spawn_blocking(move || run_script(script, port))
        .await
        .unwrap();
}

scenario! {
    /// QoS 0/1/2 over v3.1.1 and v5, retained messages, v5 properties forwarded unchanged.
    async fn paho_pubsub(shards) {
        run_paho("pubsub.py", shards).await;
    }
}

scenario! {
    /// Topic aliases both ways, seen on the wire by paho.
    async fn paho_topic_alias(shards) {
        run_paho("topic_alias.py", shards).await;
    }
}

scenario! {
    /// Sessions resumed with offline messages (v5 and v3.1.1), and wills.
    async fn paho_session_and_will(shards) {
        run_paho("session_will.py", shards).await;
    }
}
