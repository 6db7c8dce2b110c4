//! The start-up handshake between `Broker::start` and the shard threads: each shard reports
//! [`Report::Bound`] once its listeners are bound, then [`Report::Ready`] once its links are
//! up and it accepts connections. `Broker::start` starts the shards one by one (shard 0
//! resolves port 0 for the others), then waits until every one is ready.

use core::net::SocketAddr;
use core::time::Duration;
use std::io;
use std::sync::mpsc::Receiver;
use std::thread::JoinHandle;
use std::time::Instant;

/// What a shard's thread reports to `Broker::start`.
#[derive(Debug)]
pub enum Report {
    /// Every listener is bound; the real addresses, in configuration order.
    Bound(Vec<SocketAddr>),
    /// Links are connected and the shard accepts connections.
    Ready,
    /// The shard could not start.
    Failed(io::Error),
}

/// The error for a shard thread that ended without reporting.
pub fn died(shard: u16) -> io::Error {
    io::Error::other(format!("shard {shard}: its thread ended unexpectedly"))
}

/// Waits for shard `shard`'s listeners: their bound addresses, or why it could not start.
pub fn wait_bound(shard: u16, rx: &Receiver<Report>) -> io::Result<Vec<SocketAddr>> {
    match rx.recv() {
        Ok(Report::Bound(addrs)) => Ok(addrs),
        Ok(Report::Failed(e)) => Err(e),
        Ok(Report::Ready) | Err(_) => Err(died(shard)),
    }
}

/// Waits until every shard (whose listeners are bound) is ready.
pub fn wait_ready(reports: &[Receiver<Report>]) -> io::Result<()> {
    for (i, rx) in (0u16..).zip(reports) {
        match rx.recv() {
            Ok(Report::Ready) => {}
            Ok(Report::Failed(e)) => return Err(e),
            Ok(Report::Bound(_)) | Err(_) => return Err(died(i)),
        }
    }
    Ok(())
}

/// Joins every shard thread, giving up at `deadline` (if any) with `TimedOut`; a thread that
/// panicked is an error naming its shard.
pub fn join_shards(threads: Vec<JoinHandle<()>>, deadline: Option<Instant>) -> io::Result<()> {
    if let Some(deadline) = deadline {
        while threads.iter().any(|t| !t.is_finished()) {
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "shard threads did not stop within the shutdown timeout",
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let mut result = Ok(());
    for (i, t) in (0u16..).zip(threads) {
        if t.join().is_err() {
            result = Err(died(i));
        }
    }
    result
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::mpsc::channel;

    #[test]
    fn joining_times_out_on_a_running_thread_and_names_a_panicked_one() {
        let (stop, stopped) = channel::<()>();
        let running = std::thread::spawn(move || {
            let _ = stopped.recv();
        });
        let deadline = Instant::now() + Duration::from_millis(20);
        let err = join_shards(vec![running], Some(deadline)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        drop(stop);
        #[allow(clippy::panic)]
        let panicked = std::thread::spawn(|| panic!("shard failure (expected by this test)"));
        let fine = std::thread::spawn(|| {});
        let err = join_shards(vec![fine, panicked], None).unwrap_err();
        assert!(err.to_string().contains("shard 1"), "{err}");
    }

    #[test]
    fn a_thread_that_ends_without_reporting_is_an_error_naming_its_shard() {
        let (tx, rx) = channel::<Report>();
        drop(tx);
        let err = wait_bound(3, &rx).unwrap_err();
        assert!(err.to_string().contains("shard 3"), "{err}");
    }

    #[test]
    fn a_failure_is_passed_on_and_readiness_is_awaited_in_order() {
        let (tx, rx) = channel();
        tx.send(Report::Failed(io::Error::other("cannot bind")))
            .unwrap();
        assert!(wait_bound(0, &rx)
            .unwrap_err()
            .to_string()
            .contains("cannot bind"));
        let (a, ra) = channel();
        let (b, rb) = channel();
        a.send(Report::Ready).unwrap();
        b.send(Report::Bound(vec![])).unwrap();
        let err = wait_ready(&[ra, rb]).unwrap_err();
        assert!(err.to_string().contains("shard 1"), "{err}");
    }
}
