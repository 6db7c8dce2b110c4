//! Runs a rumqttc event loop on a task and hands its incoming packets over in order.
//!
//! The pump never reconnects: the first error ends it (rumqttc would otherwise reconnect on
//! the next poll, which would take a session back over in the takeover tests). Packets that
//! rumqttc parsed in the same read as the error are handed over before it.

use std::collections::VecDeque;
use std::fmt::Debug;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::WAIT;

/// What the event-loop task reports.
#[derive(Debug)]
pub enum Item<P, E> {
    /// A packet from the broker.
    Packet(P),
    /// The connection ended with this error.
    Closed(E),
}

/// The receiving end of one client connection.
#[derive(Debug)]
pub struct Pump<P, E> {
    name: String,
    rx: mpsc::UnboundedReceiver<Item<P, E>>,
    /// Packets received but not yet taken, in arrival order.
    buf: VecDeque<P>,
    closed: Option<E>,
    task: Option<JoinHandle<()>>,
}

impl<P: Debug, E: Debug> Pump<P, E> {
    /// Wraps the channel fed by `task`.
    pub fn new(
        name: String,
        rx: mpsc::UnboundedReceiver<Item<P, E>>,
        task: JoinHandle<()>,
    ) -> Self {
        Self {
            name,
            rx,
            buf: VecDeque::new(),
            closed: None,
            task: Some(task),
        }
    }

    /// The first packet (buffered or new) that `f` accepts, within `within`; every other
    /// packet stays buffered in order. `None` on timeout or when the connection ends.
    pub async fn try_wait_for<T>(
        &mut self,
        within: Duration,
        mut f: impl FnMut(&P) -> Option<T>,
    ) -> Option<T> {
        for i in 0..self.buf.len() {
            if let Some(t) = f(&self.buf[i]) {
                self.buf.remove(i);
                return Some(t);
            }
        }
        let deadline = Instant::now() + within;
        while self.closed.is_none() {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Err(_) => return None,
                Ok(None) => return None,
                Ok(Some(Item::Closed(e))) => self.closed = Some(e),
                Ok(Some(Item::Packet(p))) => match f(&p) {
                    Some(t) => return Some(t),
                    None => self.buf.push_back(p),
                },
            }
        }
        None
    }

    /// Like [`Pump::try_wait_for`] within [`WAIT`], failing the test when nothing matches.
    pub async fn wait_for<T>(&mut self, what: &str, f: impl FnMut(&P) -> Option<T>) -> T {
        match self.try_wait_for(WAIT, f).await {
            Some(t) => t,
            None => panic!(
                "{}: no {what} within {WAIT:?}; connection error: {:?}; unclaimed packets: {:?}",
                self.name, self.closed, self.buf
            ),
        }
    }

    /// Waits until the connection ends (within `within`) and returns the error it ended with;
    /// packets received before stay buffered.
    pub async fn closed_within(&mut self, within: Duration) -> Option<&E> {
        let _ = self.try_wait_for(within, |_| None::<()>).await;
        self.closed.as_ref()
    }

    /// Like [`Pump::closed_within`] with [`WAIT`], failing the test if the connection stays up.
    pub async fn closed(&mut self) -> &E {
        let name = self.name.clone();
        match self.closed_within(WAIT).await {
            Some(e) => e,
            None => panic!("{name}: the connection is still open after {WAIT:?}"),
        }
    }

    /// Waits until the connection ends (within `within`) and takes the error it ended with.
    pub async fn take_error(&mut self, within: Duration) -> Option<E> {
        let _ = self.closed_within(within).await;
        self.closed.take()
    }

    /// Packets received and not yet taken.
    pub fn unclaimed(&self) -> &VecDeque<P> {
        &self.buf
    }

    /// Stops the event loop and waits until it is dropped, which closes the socket without
    /// DISCONNECT.
    pub async fn kill(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl<P, E> Drop for Pump<P, E> {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
