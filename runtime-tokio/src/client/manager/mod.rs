//! A manager of many named client sessions, to one or more brokers.
//!
//! - [`SessionManager::add_session`], [`SessionManager::remove_session`],
//!   [`SessionManager::session`], [`SessionManager::list`];
//!   [`SessionManager::wait_ready`] and [`SessionManager::wait_all_ready`].
//! - Every session reconnects by itself with exponential [`Backoff`] (cap and jitter). After
//!   a reconnect the filters of its routes are subscribed again. On MQTT 5 that SUBSCRIBE
//!   is queued before the CONNECT, so it goes out ahead of the publishes queued offline,
//!   whether or not the broker kept the session (with Retain Handling 1, so a kept
//!   subscription does not get its retained messages again); on MQTT 3 it follows the
//!   CONNACK when the broker did not keep the session (and always on the first connection).
//! - Routes by topic filter: [`SessionManager::listen`] / [`SessionManager::handle`] across
//!   all sessions, [`SessionManager::listen_to`] / [`SessionManager::handle_to`] for one.
//!   A route's SUBSCRIBE (and the UNSUBSCRIBE of [`Route::stop`]) is handed to the
//!   session's client at once, so it reaches the broker before what the session is asked
//!   to do next; [`Route::subscribed`] waits for its SUBACK. [`Route::stop`] ends a route;
//!   the broker subscription goes away when the last route for that filter on that session
//!   stops. Routes on one filter share one broker subscription, at the highest QoS any of
//!   them asks: a route asking more subscribes the filter again at its QoS, and when the
//!   route asking the most stops, the filter is subscribed again at what the others ask.
//!   On MQTT 5 such a re-subscribe uses Retain Handling 1, so the retained messages are
//!   not sent again (a route added to a filter already subscribed gets none); on MQTT 3
//!   the broker sends them again, to every route on the filter.
//! - [`SessionManager::publish_to`] publishes through one session and waits for the
//!   acknowledgement; [`SessionManager::start_publish_to`] returns once the message is
//!   handed over, with a future of it. While a session is
//!   offline (the broker unreachable) its commands wait in the client's bounded offline
//!   queue ([`SessionOptions::max_queued`], default
//!   [`DEFAULT_MAX_QUEUED`](super::DEFAULT_MAX_QUEUED)) and go out in order once it is
//!   connected; beyond the limit a publish fails at once with
//!   [`Error::QueueFull`].
//! - Lifecycle events ([`SessionEvent`]) on [`SessionManager::events`], and
//!   [`Metrics`] per session and for the whole manager.
//!
//! A route's deliveries are bounded (`route_capacity`): a route that is not read holds up
//! its session's dispatcher, and then the session's socket (backpressure, no loss). Routes
//! match on the topic of each message the broker sends; overlapping subscriptions on one
//! session may make the broker send a message once per subscription.
//!
//! The session tasks keep the manager's state alive: call [`SessionManager::shutdown`] to
//! end them.

use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use mqtt_core::client::OutgoingMessage;
use mqtt_proto::{
    ByteString, Publish, QoS, SubscribeProperties, Subscription, SubscriptionOptions,
};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};

use super::{Client, ConnectOptions, Error, Messages, Pending, PubAck, SubAck};
use mqtt_proto::RetainHandling;

mod backoff;
mod metrics;
mod routes;
mod supervise;

use backoff::random_unit;
pub use backoff::Backoff;
use metrics::Counters;
pub use metrics::Metrics;
use routes::{dispatch, spawn_handler, Routes};
pub use routes::{topic_matches, Listener, Route};
use supervise::supervise;

/// How long a background SUBSCRIBE or UNSUBSCRIBE may wait for its answer before it counts
/// as an error (it stays queued in the client all the same).
const ACK_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed for the DISCONNECT of a removed session.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(2);

/// A session of a [`SessionManager`].
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// The session's name in the manager.
    pub name: String,
    /// Where and how it connects.
    pub connect: ConnectOptions,
    /// Reconnect delays.
    pub backoff: Backoff,
}

impl SessionOptions {
    /// A session with the default [`Backoff`].
    pub fn new(name: impl Into<String>, connect: ConnectOptions) -> Self {
        Self {
            name: name.into(),
            connect,
            backoff: Backoff::default(),
        }
    }

    /// With these reconnect delays.
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// With this offline queue limit (default [`DEFAULT_MAX_QUEUED`](super::DEFAULT_MAX_QUEUED);
    /// the same as [`ConnectOptions::max_queued`]): while the broker is unreachable at most
    /// `limit` publishes (and route subscribes) wait; [`SessionManager::publish_to`] beyond
    /// it fails at once with [`Error::QueueFull`].
    #[must_use]
    pub fn max_queued(mut self, limit: usize) -> Self {
        self.connect.mqtt.max_queued = limit;
        self
    }
}

/// Where a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Added, not yet connecting.
    Idle,
    /// A connection attempt is in progress.
    Connecting,
    /// CONNACK accepted; subscriptions are being resumed.
    Connected,
    /// Connected and subscribed: ready for use.
    Ready,
    /// The connection ended.
    Disconnected,
    /// Waiting for the next attempt.
    Reconnecting,
    /// Removed from the manager.
    Removed,
}

/// What happens to sessions, in order per session.
#[derive(Debug, Clone)]
pub enum SessionEvent {
    /// A session was added.
    Added(String),
    /// A session was removed.
    Removed(String),
    /// A connection attempt starts.
    Connecting(String),
    /// CONNACK accepted the connection.
    Connected {
        /// The session.
        session: String,
        /// Whether the broker kept the session.
        session_present: bool,
    },
    /// Connected and subscriptions resumed.
    Ready(String),
    /// The connection ended, or an attempt failed.
    Disconnected {
        /// The session.
        session: String,
        /// Why.
        error: Option<Error>,
    },
    /// The next attempt starts after `delay`.
    Reconnecting {
        /// The session.
        session: String,
        /// Attempt number since the last successful connection (1, 2...).
        attempt: u32,
        /// Delay before it.
        delay: Duration,
    },
    /// The session's state changed.
    StateChanged {
        /// The session.
        session: String,
        /// The state before.
        old: SessionState,
        /// The state now.
        new: SessionState,
    },
}

/// A session as [`SessionManager::list`] shows it.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// Its name.
    pub name: String,
    /// Its state.
    pub state: SessionState,
    /// Its counters.
    pub metrics: Metrics,
}

/// A message a route received, with the session it came through.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The session's name.
    pub session: Arc<str>,
    /// The message.
    pub message: Publish,
}

/// Why a manager operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ManagerError {
    /// No session has this name.
    #[error("no session named {0:?}")]
    NoSuchSession(String),
    /// A session has this name already.
    #[error("a session named {0:?} exists already")]
    SessionExists(String),
    /// The wait ran out.
    #[error("timed out")]
    Timeout,
    /// The client failed.
    #[error(transparent)]
    Client(#[from] Error),
}

#[derive(Debug)]
struct Session {
    name: Arc<str>,
    client: Client,
    state: watch::Sender<SessionState>,
    counters: Counters,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Set by [`SessionManager::remove_session`]: the supervisor, which may still run up to
    /// its next pause after being aborted, then neither changes the state nor emits events.
    removed: Mutex<bool>,
}

#[derive(Debug)]
struct Inner {
    start: Instant,
    events: broadcast::Sender<SessionEvent>,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    routes: Mutex<Routes>,
    total: Counters,
    route_capacity: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn qos_level(q: QoS) -> u8 {
    match q {
        QoS::AtMostOnce => 0,
        QoS::AtLeastOnce => 1,
        QoS::ExactlyOnce => 2,
    }
}

fn len64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl Inner {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn emit(&self, event: SessionEvent) {
        let _ = self.events.send(event);
    }

    fn record(&self, s: &Session, f: impl Fn(&Counters)) {
        f(&s.counters);
        f(&self.total);
    }

    /// The session's state changes (with its event), unless the session was removed.
    fn set_state(&self, s: &Session, new: SessionState) {
        let removed = lock(&s.removed);
        if !*removed {
            self.change_state(s, new);
        }
    }

    /// A session event, unless the session was removed: taken under the session's lock, so
    /// that nothing of a removed session follows its `Removed`.
    fn emit_for(&self, s: &Session, event: SessionEvent) {
        let removed = lock(&s.removed);
        if !*removed {
            self.emit(event);
        }
    }

    fn change_state(&self, s: &Session, new: SessionState) {
        let old = s.state.send_replace(new);
        if old != new {
            self.emit(SessionEvent::StateChanged {
                session: s.name.to_string(),
                old,
                new,
            });
        }
    }

    fn get(&self, name: &str) -> Result<Arc<Session>, ManagerError> {
        lock(&self.sessions)
            .get(name)
            .cloned()
            .ok_or_else(|| ManagerError::NoSuchSession(name.to_owned()))
    }

    fn targets(&self, session: Option<&str>) -> Vec<Arc<Session>> {
        let sessions = lock(&self.sessions);
        match session {
            Some(n) => sessions.get(n).cloned().into_iter().collect(),
            None => sessions.values().cloned().collect(),
        }
    }
}

/// Many named sessions, their routes, events and metrics. Cheap to clone, `Send`.
#[derive(Debug, Clone)]
pub struct SessionManager {
    inner: Arc<Inner>,
}

impl Default for SessionManager {
    fn default() -> Self {
        Self::new()
    }
}

impl SessionManager {
    /// An empty manager (routes buffer 1024 deliveries each).
    pub fn new() -> Self {
        Self::with_route_capacity(1024)
    }

    /// An empty manager whose routes buffer `capacity` deliveries each.
    pub fn with_route_capacity(capacity: usize) -> Self {
        let (events, _) = broadcast::channel(1024);
        Self {
            inner: Arc::new(Inner {
                start: Instant::now(),
                events,
                sessions: Mutex::default(),
                routes: Mutex::default(),
                total: Counters::default(),
                route_capacity: capacity,
            }),
        }
    }

    /// Lifecycle events from now on.
    pub fn events(&self) -> broadcast::Receiver<SessionEvent> {
        self.inner.events.subscribe()
    }

    /// Adds a session and starts connecting it (in the background: see
    /// [`SessionManager::wait_ready`]). Returns its client.
    pub fn add_session(&self, options: SessionOptions) -> Result<Client, ManagerError> {
        let SessionOptions {
            name,
            connect,
            backoff,
        } = options;
        let (state, _) = watch::channel(SessionState::Idle);
        let session = {
            let mut sessions = lock(&self.inner.sessions);
            if sessions.contains_key(&name) {
                return Err(ManagerError::SessionExists(name));
            }
            let (client, messages) = Client::new(connect);
            let session = Arc::new(Session {
                name: Arc::from(name.as_str()),
                client,
                state,
                counters: Counters::default(),
                tasks: Mutex::default(),
                removed: Mutex::new(false),
            });
            sessions.insert(name.clone(), session.clone());
            (session, messages)
        };
        let (session, messages) = session;
        self.inner.emit(SessionEvent::Added(name));
        let supervisor = tokio::spawn(supervise(self.inner.clone(), session.clone(), backoff));
        let dispatcher = tokio::spawn(dispatch(self.inner.clone(), session.clone(), messages));
        lock(&session.tasks).extend([supervisor, dispatcher]);
        Ok(session.client.clone())
    }

    /// Removes a session: stops reconnecting, disconnects cleanly, ends its own routes.
    pub async fn remove_session(&self, name: &str) -> Result<(), ManagerError> {
        let session = lock(&self.inner.sessions)
            .remove(name)
            .ok_or_else(|| ManagerError::NoSuchSession(name.to_owned()))?;
        *lock(&session.removed) = true;
        let tasks: Vec<JoinHandle<()>> = lock(&session.tasks).drain(..).collect();
        for t in tasks {
            t.abort();
        }
        let _ = timeout(REMOVE_TIMEOUT, session.client.disconnect()).await;
        lock(&self.inner.routes)
            .list
            .retain(|r| r.session.as_deref() != Some(name));
        self.inner.change_state(&session, SessionState::Removed);
        self.inner.emit(SessionEvent::Removed(name.to_owned()));
        Ok(())
    }

    /// Removes every session.
    pub async fn shutdown(&self) {
        let names: Vec<String> = lock(&self.inner.sessions).keys().cloned().collect();
        for n in names {
            let _ = self.remove_session(&n).await;
        }
    }

    /// A session's client.
    pub fn session(&self, name: &str) -> Option<Client> {
        lock(&self.inner.sessions)
            .get(name)
            .map(|s| s.client.clone())
    }

    /// Every session, sorted by name.
    pub fn list(&self) -> Vec<SessionInfo> {
        let mut out: Vec<SessionInfo> = lock(&self.inner.sessions)
            .values()
            .map(|s| SessionInfo {
                name: s.name.to_string(),
                state: *s.state.borrow(),
                metrics: s.counters.snapshot(self.inner.start),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// A session's state.
    pub fn state(&self, name: &str) -> Option<SessionState> {
        lock(&self.inner.sessions)
            .get(name)
            .map(|s| *s.state.borrow())
    }

    /// A session's counters.
    pub fn metrics(&self, name: &str) -> Option<Metrics> {
        lock(&self.inner.sessions)
            .get(name)
            .map(|s| s.counters.snapshot(self.inner.start))
    }

    /// Counters of every session since the manager started (removed ones included).
    pub fn total_metrics(&self) -> Metrics {
        self.inner.total.snapshot(self.inner.start)
    }

    /// Waits until the session is [`SessionState::Ready`].
    pub async fn wait_ready(&self, name: &str, limit: Duration) -> Result<(), ManagerError> {
        let mut rx = self.inner.get(name)?.state.subscribe();
        let result = match timeout(limit, rx.wait_for(|s| *s == SessionState::Ready)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(ManagerError::NoSuchSession(name.to_owned())),
            Err(_) => Err(ManagerError::Timeout),
        };
        result
    }

    /// Waits until every session is ready.
    pub async fn wait_all_ready(&self, limit: Duration) -> Result<(), ManagerError> {
        let deadline = Instant::now() + limit;
        let names: Vec<String> = lock(&self.inner.sessions).keys().cloned().collect();
        for n in names {
            let left = deadline.saturating_duration_since(Instant::now());
            self.wait_ready(&n, left).await?;
        }
        Ok(())
    }

    /// Publishes through one session and waits for its acknowledgement (while the session
    /// is offline the message waits in its bounded queue).
    pub async fn publish_to(
        &self,
        session: &str,
        msg: OutgoingMessage,
    ) -> Result<PubAck, ManagerError> {
        self.start_publish_to(session, msg).await?.await
    }

    /// Hands the message to the session's client and returns at once with a future of its
    /// acknowledgement: publishes started one after the other go out in that order (also
    /// after waiting in the offline queue). A full offline queue resolves the future at
    /// once with [`Error::QueueFull`].
    pub async fn start_publish_to(
        &self,
        session: &str,
        msg: OutgoingMessage,
    ) -> Result<
        impl core::future::Future<Output = Result<PubAck, ManagerError>> + Send + 'static,
        ManagerError,
    > {
        let s = self.inner.get(session)?;
        let bytes = len64(msg.payload.len());
        let inner = self.inner.clone();
        let pending = match s.client.start_publish(msg).await {
            Ok(p) => p,
            Err(e) => {
                inner.record(&s, Counters::error);
                return Err(e.into());
            }
        };
        Ok(async move {
            let result = pending.await;
            match &result {
                Ok(_) => {
                    let now = inner.now_ms();
                    inner.record(&s, |c| c.sent(bytes, now));
                }
                Err(_) => inner.record(&s, Counters::error),
            }
            result.map_err(ManagerError::from)
        })
    }

    /// Messages matching `filter` from every session (present and future ones once they
    /// reconnect).
    pub fn listen(
        &self,
        filter: impl Into<ByteString>,
        qos: QoS,
    ) -> Result<Listener, ManagerError> {
        let (route, rx) = self.inner.add_route(None, filter.into(), qos)?;
        Ok(Listener { route, rx })
    }

    /// Messages matching `filter` from one session.
    pub fn listen_to(
        &self,
        session: &str,
        filter: impl Into<ByteString>,
        qos: QoS,
    ) -> Result<Listener, ManagerError> {
        let (route, rx) = self.inner.add_route(Some(session), filter.into(), qos)?;
        Ok(Listener { route, rx })
    }

    /// Calls `callback` for every message matching `filter`, from every session.
    pub fn handle<F>(
        &self,
        filter: impl Into<ByteString>,
        qos: QoS,
        callback: F,
    ) -> Result<Route, ManagerError>
    where
        F: Fn(Delivery) + Send + 'static,
    {
        let (route, rx) = self.inner.add_route(None, filter.into(), qos)?;
        spawn_handler(rx, callback);
        Ok(route)
    }

    /// Calls `callback` for every message matching `filter` from one session.
    pub fn handle_to<F>(
        &self,
        session: &str,
        filter: impl Into<ByteString>,
        qos: QoS,
        callback: F,
    ) -> Result<Route, ManagerError>
    where
        F: Fn(Delivery) + Send + 'static,
    {
        let (route, rx) = self.inner.add_route(Some(session), filter.into(), qos)?;
        spawn_handler(rx, callback);
        Ok(route)
    }
}
