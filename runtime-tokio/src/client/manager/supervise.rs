//! Keeping a session connected: connect, resume subscriptions, wait, back off, again.

use super::*;

pub(super) fn subscription(filter: ByteString, qos: QoS, resume: bool) -> Subscription {
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
pub(super) async fn supervise(inner: Arc<Inner>, s: Arc<Session>, backoff: Backoff) {
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

impl Inner {
    /// The subscriptions the routes need on `s` (`resume`: with Retain Handling 1, for a
    /// SUBSCRIBE that may find the subscription still there).
    pub(super) fn subscriptions_for(&self, s: &Session, resume: bool) -> Vec<Subscription> {
        self.filters_for(&s.name)
            .into_iter()
            .map(|(filter, qos)| subscription(filter, qos, resume))
            .collect()
    }

    /// MQTT 5: queues the SUBSCRIBE of every filter the routes need on `s` before the
    /// CONNECT, so that it is the first packet after it (the state machine sends
    /// subscribes before publishes), ahead of the publishes queued while offline and of
    /// those sent again after a session loss. `None` when no route needs one.
    pub(super) fn queue_resubscribe(&self, s: &Session) -> Option<Pending<SubAck>> {
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
    pub(super) async fn resubscribe(&self, s: &Session) {
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
    pub(super) async fn await_resubscribe(&self, s: &Session, ack: &mut Pending<SubAck>) -> bool {
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
