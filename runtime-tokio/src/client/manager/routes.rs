//! Routes by topic filter: matching, the broker subscription of each filter on each session
//! (the first route subscribes, the last `stop()` unsubscribes), and the dispatch of messages.

use super::supervise::subscription;
use super::*;

#[derive(Debug)]
pub(super) struct RouteEntry {
    pub(super) id: u64,
    /// `None`: every session.
    pub(super) session: Option<Arc<str>>,
    pub(super) filter: ByteString,
    pub(super) qos: QoS,
    pub(super) tx: mpsc::Sender<Delivery>,
}

impl RouteEntry {
    pub(super) fn covers(&self, session: &str) -> bool {
        self.session.as_deref().is_none_or(|s| s == session)
    }
}

#[derive(Debug, Default)]
pub(super) struct Routes {
    pub(super) next_id: u64,
    pub(super) list: Vec<RouteEntry>,
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

/// Hands a session's messages to the routes that match them.
pub(super) async fn dispatch(inner: Arc<Inner>, s: Arc<Session>, mut messages: Messages) {
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
    pub(super) inner: Arc<Inner>,
    pub(super) id: u64,
    /// SUBSCRIBEs this route caused that are not answered yet.
    pub(super) pending: watch::Receiver<usize>,
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
    pub(super) route: Route,
    pub(super) rx: mpsc::Receiver<Delivery>,
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

pub(super) fn spawn_handler<F>(mut rx: mpsc::Receiver<Delivery>, callback: F)
where
    F: Fn(Delivery) + Send + 'static,
{
    tokio::spawn(async move {
        while let Some(d) = rx.recv().await {
            callback(d);
        }
    });
}

impl Inner {
    /// The highest QoS the routes on `filter` ask of `session`; `None` when no route needs
    /// the filter there.
    pub(super) fn route_qos(&self, session: &str, filter: &str) -> Option<QoS> {
        lock(&self.routes)
            .list
            .iter()
            .filter(|r| &*r.filter == filter && r.covers(session))
            .map(|r| r.qos)
            .max_by_key(|q| qos_level(*q))
    }

    /// The filters the routes need on `session`, each with the highest QoS asked.
    pub(super) fn filters_for(&self, session: &str) -> Vec<(ByteString, QoS)> {
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

    pub(super) fn add_route(
        self: &Arc<Self>,
        session: Option<&str>,
        filter: ByteString,
        qos: QoS,
    ) -> Result<(Route, mpsc::Receiver<Delivery>), ManagerError> {
        let targets = self.targets(session);
        if let (Some(n), true) = (session, targets.is_empty()) {
            return Err(ManagerError::NoSuchSession(n.to_owned()));
        }
        // Sessions where the filter is not subscribed yet, or only at a lower QoS than this
        // route asks: a SUBSCRIBE to the same filter replaces the subscription, so the
        // broker then sends at the higher QoS [MQTT-3.8.4-3]. `true`: already subscribed.
        let new: Vec<(Arc<Session>, bool)> = targets
            .into_iter()
            .filter_map(|s| match self.route_qos(&s.name, &filter) {
                None => Some((s, false)),
                Some(q) if qos_level(q) < qos_level(qos) => Some((s, true)),
                Some(_) => None,
            })
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
        for (s, upgrade) in new {
            self.subscribe_in_background(s, filter.clone(), qos, upgrade, pending_tx.clone());
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
    /// `resubscribe`: the filter is subscribed already and only its QoS changes, so on
    /// MQTT 5 the broker is asked not to send the retained messages again (Retain Handling
    /// 1), which the routes already on the filter have had.
    pub(super) fn subscribe_in_background(
        self: &Arc<Self>,
        s: Arc<Session>,
        filter: ByteString,
        qos: QoS,
        resubscribe: bool,
        pending: Arc<watch::Sender<usize>>,
    ) {
        let ack = s.client.subscribe_now(
            vec![subscription(filter, qos, resubscribe)],
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

    pub(super) fn remove_route(self: &Arc<Self>, id: u64) {
        let entry = {
            let mut routes = lock(&self.routes);
            let Some(pos) = routes.list.iter().position(|r| r.id == id) else {
                return;
            };
            routes.list.remove(pos)
        };
        for s in self.targets(entry.session.as_deref()) {
            match self.route_qos(&s.name, &entry.filter) {
                None => {}
                // The routes left ask for less: subscribe again at their QoS (the broker
                // replaces the subscription), so it stops sending above what they need.
                // (Outside a runtime the answer cannot be awaited, and the subscription is
                // left as it is: more than the routes need, nothing lost.)
                Some(q) if qos_level(q) < qos_level(entry.qos) => {
                    if tokio::runtime::Handle::try_current().is_ok() {
                        let (done, _) = watch::channel(1);
                        let filter = entry.filter.clone();
                        self.subscribe_in_background(s, filter, q, true, Arc::new(done));
                    }
                    continue;
                }
                Some(_) => continue,
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
}
