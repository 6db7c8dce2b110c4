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
//!   stops.
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

/// How long a background SUBSCRIBE or UNSUBSCRIBE may wait for its answer before it counts
/// as an error (it stays queued in the client all the same).
const ACK_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed for the DISCONNECT of a removed session.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(2);

/// Reconnect delays: `initial × factor^(attempt-1)`, capped at `max`, with "equal jitter"
/// (half the delay fixed, half random) when `jitter` is on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Delay before the first reconnect attempt (before jitter).
    pub initial: Duration,
    /// Longest delay.
    pub max: Duration,
    /// Growth per attempt (1: constant).
    pub factor: u32,
    /// Randomise half of each delay.
    pub jitter: bool,
}

impl Default for Backoff {
    /// 100 ms, doubling, capped at 30 s, with jitter.
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
            factor: 2,
            jitter: true,
        }
    }
}

impl Backoff {
    /// The delay before reconnect attempt `attempt` (1 for the first), with `random` in
    /// `[0, 1]` for the jitter.
    pub fn delay(&self, attempt: u32, random: f64) -> Duration {
        let growth = self.factor.max(1).saturating_pow(attempt.saturating_sub(1));
        let full = self.initial.saturating_mul(growth).min(self.max);
        if !self.jitter {
            return full;
        }
        let r = if random.is_finite() {
            random.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let half = full / 2;
        half + half.mul_f64(r)
    }
}

/// A random number in `[0, 1)`.
fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(SEQ.fetch_add(1, Ordering::Relaxed));
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

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

/// Counters of a session, or of the whole manager.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Messages received.
    pub messages_in: u64,
    /// Payload bytes received.
    pub bytes_in: u64,
    /// Messages published through [`SessionManager::publish_to`].
    pub messages_out: u64,
    /// Payload bytes published through [`SessionManager::publish_to`].
    pub bytes_out: u64,
    /// Failed connections and connection losses, refused publishes and subscriptions.
    pub errors: u64,
    /// Reconnect attempts.
    pub reconnects: u64,
    /// Last message in or out.
    pub last_activity: Option<Instant>,
}

#[derive(Debug, Default)]
struct Counters {
    messages_in: AtomicU64,
    bytes_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_out: AtomicU64,
    errors: AtomicU64,
    reconnects: AtomicU64,
    /// Milliseconds since the manager started, plus one (0: never).
    last_activity_ms: AtomicU64,
}

impl Counters {
    fn touch(&self, now_ms: u64) {
        self.last_activity_ms
            .store(now_ms.saturating_add(1), Ordering::Relaxed);
    }

    fn received(&self, bytes: u64, now_ms: u64) {
        self.messages_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes, Ordering::Relaxed);
        self.touch(now_ms);
    }

    fn sent(&self, bytes: u64, now_ms: u64) {
        self.messages_out.fetch_add(1, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes, Ordering::Relaxed);
        self.touch(now_ms);
    }

    fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    fn reconnect(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self, start: Instant) -> Metrics {
        let last = self.last_activity_ms.load(Ordering::Relaxed);
        Metrics {
            messages_in: self.messages_in.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            messages_out: self.messages_out.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            last_activity: (last > 0)
                .then(|| start + Duration::from_millis(last.saturating_sub(1))),
        }
    }
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
struct RouteEntry {
    id: u64,
    /// `None`: every session.
    session: Option<Arc<str>>,
    filter: ByteString,
    qos: QoS,
    tx: mpsc::Sender<Delivery>,
}

impl RouteEntry {
    fn covers(&self, session: &str) -> bool {
        self.session.as_deref().is_none_or(|s| s == session)
    }
}

#[derive(Debug, Default)]
struct Routes {
    next_id: u64,
    list: Vec<RouteEntry>,
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

/// Whether `topic` matches `filter` (`+`, `#`, `$share/group/` prefix; a wildcard first level
/// does not match a `$` topic).
pub fn topic_matches(filter: &str, topic: &str) -> bool {
    let filter = filter
        .strip_prefix("$share/")
        .and_then(|rest| rest.split_once('/'))
        .map_or(filter, |(_, f)| f);
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (None, None) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
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

    /// Whether a route needs `filter` on `session`.
    fn needed(&self, session: &str, filter: &str) -> bool {
        lock(&self.routes)
            .list
            .iter()
            .any(|r| &*r.filter == filter && r.covers(session))
    }

    /// The filters the routes need on `session`, each with the highest QoS asked.
    fn filters_for(&self, session: &str) -> Vec<(ByteString, QoS)> {
        let routes = lock(&self.routes);
        let mut out: Vec<(ByteString, QoS)> = Vec::new();
        for r in routes.list.iter().filter(|r| r.covers(session)) {
            match out.iter_mut().find(|(f, _)| *f == r.filter) {
                Some((_, q)) => {
                    if qos_level(r.qos) > qos_level(*q) {
                        *q = r.qos;
                    }
                }
                None => out.push((r.filter.clone(), r.qos)),
            }
        }
        out
    }

    fn add_route(
        self: &Arc<Self>,
        session: Option<&str>,
        filter: ByteString,
        qos: QoS,
    ) -> Result<(Route, mpsc::Receiver<Delivery>), ManagerError> {
        let targets = self.targets(session);
        if let (Some(n), true) = (session, targets.is_empty()) {
            return Err(ManagerError::NoSuchSession(n.to_owned()));
        }
        let new: Vec<Arc<Session>> = targets
            .into_iter()
            .filter(|s| !self.needed(&s.name, &filter))
            .collect();
        let (tx, rx) = mpsc::channel(self.route_capacity.max(1));
        let (pending_tx, pending) = watch::channel(new.len());
        let id = {
            let mut routes = lock(&self.routes);
            routes.next_id += 1;
            let id = routes.next_id;
            routes.list.push(RouteEntry {
                id,
                session: session.map(Arc::from),
                filter: filter.clone(),
                qos,
                tx,
            });
            id
        };
        let pending_tx = Arc::new(pending_tx);
        for s in new {
            self.subscribe_in_background(s, filter.clone(), qos, pending_tx.clone());
        }
        let route = Route {
            inner: self.clone(),
            id,
            pending,
        };
        Ok((route, rx))
    }

    /// Hands the SUBSCRIBE to the session's client now (so that it goes out before any
    /// command given after), and waits for SUBACK in a task, which counts `pending` down.
    fn subscribe_in_background(
        self: &Arc<Self>,
        s: Arc<Session>,
        filter: ByteString,
        qos: QoS,
        pending: Arc<watch::Sender<usize>>,
    ) {
        let ack = s.client.subscribe_now(
            vec![subscription(filter, qos, false)],
            SubscribeProperties::default(),
        );
        let inner = self.clone();
        tokio::spawn(async move {
            let ok = match timeout(ACK_TIMEOUT, ack).await {
                Ok(Ok(ack)) => ack.reason_codes.iter().all(|c| !c.is_error()),
                _ => false,
            };
            if !ok {
                inner.record(&s, Counters::error);
            }
            pending.send_modify(|n| *n = n.saturating_sub(1));
        });
    }

    fn remove_route(self: &Arc<Self>, id: u64) {
        let entry = {
            let mut routes = lock(&self.routes);
            let Some(pos) = routes.list.iter().position(|r| r.id == id) else {
                return;
            };
            routes.list.remove(pos)
        };
        for s in self.targets(entry.session.as_deref()) {
            if self.needed(&s.name, &entry.filter) {
                continue;
            }
            // Handed to the client now: the UNSUBSCRIBE goes out before anything the
            // session is asked to do after `stop()`.
            let ack = s.client.unsubscribe_now(entry.filter.clone());
            // A listener may be dropped outside the runtime: then the answer is not
            // checked.
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                continue;
            };
            let inner = self.clone();
            runtime.spawn(async move {
                if !matches!(timeout(ACK_TIMEOUT, ack).await, Ok(Ok(_))) {
                    inner.record(&s, Counters::error);
                }
            });
        }
    }

    /// The subscriptions the routes need on `s` (`resume`: with Retain Handling 1, for a
    /// SUBSCRIBE that may find the subscription still there).
    fn subscriptions_for(&self, s: &Session, resume: bool) -> Vec<Subscription> {
        self.filters_for(&s.name)
            .into_iter()
            .map(|(filter, qos)| subscription(filter, qos, resume))
            .collect()
    }

    /// MQTT 5: queues the SUBSCRIBE of every filter the routes need on `s` before the
    /// CONNECT, so that it is the first packet after it (the state machine sends
    /// subscribes before publishes), ahead of the publishes queued while offline and of
    /// those sent again after a session loss. `None` when no route needs one.
    fn queue_resubscribe(&self, s: &Session) -> Option<Pending<SubAck>> {
        let subscriptions = self.subscriptions_for(s, true);
        if subscriptions.is_empty() {
            return None;
        }
        Some(
            s.client
                .subscribe_now(subscriptions, SubscribeProperties::default()),
        )
    }

    /// Subscribes again to every filter the routes need on `s`; gives up if the connection
    /// drops meanwhile (the supervisor then reconnects).
    async fn resubscribe(&self, s: &Session) {
        let subscriptions = self.subscriptions_for(s, false);
        if subscriptions.is_empty() {
            return;
        }
        let mut ack = s
            .client
            .subscribe_now(subscriptions, SubscribeProperties::default());
        self.await_resubscribe(s, &mut ack).await;
    }

    /// Waits for the SUBACK of a resubscribe; `false` if the connection dropped first
    /// (the state machine sends the SUBSCRIBE again on the next connection).
    async fn await_resubscribe(&self, s: &Session, ack: &mut Pending<SubAck>) -> bool {
        tokio::select! {
            r = ack => {
                let ok = matches!(&r, Ok(ack) if ack.reason_codes.iter().all(|c| !c.is_error()));
                if !ok {
                    self.record(s, Counters::error);
                }
                true
            }
            _ = s.client.disconnected() => false,
        }
    }
}

fn subscription(filter: ByteString, qos: QoS, resume: bool) -> Subscription {
    Subscription {
        filter,
        options: SubscriptionOptions {
            qos,
            retain_handling: if resume {
                RetainHandling::SendIfNew
            } else {
                RetainHandling::SendAtSubscribe
            },
            ..SubscriptionOptions::default()
        },
    }
}

/// Keeps one session connected: connect, resume subscriptions, wait for the end, back off,
/// again.
async fn supervise(inner: Arc<Inner>, s: Arc<Session>, backoff: Backoff) {
    let mut attempt: u32 = 0;
    let mut first = true;
    let v5 = s.client.version().is_v5();
    // MQTT 5: the resubscribe queued before CONNECT, until it is answered (kept across
    // failed attempts, so that an outage does not queue one per attempt).
    let mut resume: Option<Pending<SubAck>> = None;
    loop {
        inner.set_state(&s, SessionState::Connecting);
        inner.emit_for(&s, SessionEvent::Connecting(s.name.to_string()));
        if v5 && resume.is_none() {
            resume = inner.queue_resubscribe(&s);
        }
        let error = match s.client.reconnect().await {
            Ok(connected) => {
                attempt = 0;
                inner.set_state(&s, SessionState::Connected);
                inner.emit_for(
                    &s,
                    SessionEvent::Connected {
                        session: s.name.to_string(),
                        session_present: connected.session_present,
                    },
                );
                if let Some(ack) = resume.as_mut() {
                    if inner.await_resubscribe(&s, ack).await {
                        resume = None;
                    }
                } else if !v5 && (first || !connected.session_present) {
                    inner.resubscribe(&s).await;
                }
                first = false;
                if s.client.status().is_connected() {
                    inner.set_state(&s, SessionState::Ready);
                    inner.emit_for(&s, SessionEvent::Ready(s.name.to_string()));
                }
                s.client.disconnected().await
            }
            Err(e) => Some(e),
        };
        if *lock(&s.removed) {
            return;
        }
        inner.record(&s, Counters::error);
        inner.set_state(&s, SessionState::Disconnected);
        inner.emit_for(
            &s,
            SessionEvent::Disconnected {
                session: s.name.to_string(),
                error,
            },
        );
        attempt = attempt.saturating_add(1);
        let delay = backoff.delay(attempt, random_unit());
        inner.record(&s, Counters::reconnect);
        inner.set_state(&s, SessionState::Reconnecting);
        inner.emit_for(
            &s,
            SessionEvent::Reconnecting {
                session: s.name.to_string(),
                attempt,
                delay,
            },
        );
        tokio::time::sleep(delay).await;
    }
}

/// Hands a session's messages to the routes that match them.
async fn dispatch(inner: Arc<Inner>, s: Arc<Session>, mut messages: Messages) {
    while let Some(message) = messages.recv().await {
        let now = inner.now_ms();
        let bytes = len64(message.payload.len());
        inner.record(&s, |c| c.received(bytes, now));
        let targets: Vec<mpsc::Sender<Delivery>> = lock(&inner.routes)
            .list
            .iter()
            .filter(|r| r.covers(&s.name) && topic_matches(&r.filter, &message.topic))
            .map(|r| r.tx.clone())
            .collect();
        for tx in targets {
            let delivery = Delivery {
                session: s.name.clone(),
                message: message.clone(),
            };
            // A stopped route's receiver is gone: nothing to do.
            let _ = tx.send(delivery).await;
        }
    }
}

/// One route: [`Route::stop`] ends it.
#[derive(Debug)]
pub struct Route {
    inner: Arc<Inner>,
    id: u64,
    /// SUBSCRIBEs this route caused that are not answered yet.
    pending: watch::Receiver<usize>,
}

impl Route {
    /// Waits until the broker answered every SUBSCRIBE this route caused (one per session
    /// that did not have the filter yet; queued ones are answered once their session
    /// connects). A refused filter counts as answered (and as an error in the metrics).
    pub async fn subscribed(&self, limit: Duration) -> Result<(), ManagerError> {
        let mut rx = self.pending.clone();
        let done = timeout(limit, rx.wait_for(|n| *n == 0)).await.is_ok();
        if done {
            Ok(())
        } else {
            Err(ManagerError::Timeout)
        }
    }

    /// Ends the route: its listener ends, and the broker subscription goes away when no
    /// other route needs the filter on that session.
    pub fn stop(&self) {
        self.inner.remove_route(self.id);
    }
}

/// The messages of a route, as [`Listener::recv`] or a `Stream`. Dropping it stops the route.
#[derive(Debug)]
pub struct Listener {
    route: Route,
    rx: mpsc::Receiver<Delivery>,
}

impl Listener {
    /// The next message; `None` once the route stopped.
    pub async fn recv(&mut self) -> Option<Delivery> {
        self.rx.recv().await
    }

    /// Stops the route (as dropping the listener does).
    pub fn stop(&self) {
        self.route.stop();
    }

    /// See [`Route::subscribed`].
    pub async fn subscribed(&self, limit: Duration) -> Result<(), ManagerError> {
        self.route.subscribed(limit).await
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.route.stop();
    }
}

impl futures_core::Stream for Listener {
    type Item = Delivery;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Delivery>> {
        self.rx.poll_recv(cx)
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

fn spawn_handler<F>(mut rx: mpsc::Receiver<Delivery>, callback: F)
where
    F: Fn(Delivery) + Send + 'static,
{
    tokio::spawn(async move {
        while let Some(d) = rx.recv().await {
            callback(d);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_topics() {
        assert!(topic_matches("a/b", "a/b"));
        assert!(!topic_matches("a/b", "a/c"));
        assert!(topic_matches("a/+", "a/c"));
        assert!(!topic_matches("a/+", "a/c/d"));
        assert!(topic_matches("a/#", "a"));
        assert!(topic_matches("a/#", "a/c/d"));
        assert!(topic_matches("#", "x/y"));
        assert!(!topic_matches("#", "$SYS/x"));
        assert!(!topic_matches("+/x", "$SYS/x"));
        assert!(topic_matches("$SYS/#", "$SYS/x"));
        assert!(topic_matches("$share/g/a/+", "a/b"));
        assert!(!topic_matches("a/b", "a/b/c"));
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            factor: 2,
            jitter: false,
        };
        let delays: Vec<u128> = (1..=6).map(|a| b.delay(a, 0.5).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        let j = Backoff { jitter: true, ..b };
        assert_eq!(j.delay(3, 0.0), Duration::from_millis(200));
        assert_eq!(j.delay(3, 1.0), Duration::from_millis(400));
        assert_eq!(j.delay(3, f64::NAN), Duration::from_millis(200));
        assert_eq!(j.delay(40, 1.0), Duration::from_secs(1));
        let r = random_unit();
        assert!((0.0..1.0).contains(&r));
    }
}
