//! What the broker must do, reduced to sessions, subscriptions and routings.

use std::collections::{BTreeMap, HashMap};

use mqtt_proto::QoS;

use super::{matches, CLIENTS, FILTERS, MAX_EXPIRY, TOPICS};

#[derive(Debug)]
pub struct ModelSession {
    pub incarnation: u64,
    pub subs: BTreeMap<usize, QoS>,
    pub connected: bool,
    pub expiry: u32,
    pub connect_expiry_zero: bool,
    pub deadline: Option<u64>,
}

#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub msgid: u64,
    pub publisher: usize,
    pub topic: usize,
    pub retain: bool,
}

#[derive(Debug, Default)]
pub struct Model {
    pub sessions: Vec<Option<ModelSession>>,
    pub next_incarnation: u64,
    pub next_msg: u64,
    pub routes: Vec<Route>,
    /// (incarnation, route) → QoS the session must get it at.
    pub expected: HashMap<(u64, usize), QoS>,
    pub retained: BTreeMap<usize, usize>,
}

impl Model {
    pub fn new() -> Self {
        Self {
            sessions: (0..CLIENTS).map(|_| None).collect(),
            ..Self::default()
        }
    }

    pub fn alive(&self, inc: u64) -> bool {
        self.sessions.iter().flatten().any(|s| s.incarnation == inc)
    }

    /// The connection of client `c` closes; a zero expiry ends the session.
    pub fn close(&mut self, c: usize, now: u64) {
        let Some(s) = self.sessions[c].as_mut() else {
            return;
        };
        s.connected = false;
        if s.expiry == 0 {
            self.sessions[c] = None;
        } else {
            s.deadline = Some(now + u64::from(s.expiry) * 1000);
        }
    }

    /// Returns Session Present and the incarnation now bound to `c`.
    pub fn connect(&mut self, c: usize, clean: bool, requested: u32, v5: bool) -> (bool, u64) {
        if clean {
            self.sessions[c] = None;
        }
        let present = self.sessions[c].is_some();
        if !present {
            self.next_incarnation += 1;
            self.sessions[c] = Some(ModelSession {
                incarnation: self.next_incarnation,
                subs: BTreeMap::new(),
                connected: false,
                expiry: 0,
                connect_expiry_zero: true,
                deadline: None,
            });
        }
        let s = self.sessions[c].as_mut().unwrap();
        s.connected = true;
        s.deadline = None;
        s.expiry = requested.min(MAX_EXPIRY);
        s.connect_expiry_zero = v5 && requested == 0;
        (present, s.incarnation)
    }

    pub fn advance(&mut self, now: u64) {
        for s in &mut self.sessions {
            if s.as_ref()
                .and_then(|s| s.deadline)
                .is_some_and(|d| d <= now)
            {
                *s = None;
            }
        }
    }

    /// The broker routes a message: returns its route number.
    pub fn route(
        &mut self,
        msgid: u64,
        publisher: usize,
        topic: usize,
        q: QoS,
        retain: bool,
    ) -> usize {
        let r = self.routes.len();
        self.routes.push(Route {
            msgid,
            publisher,
            topic,
            retain,
        });
        if retain {
            self.retained.insert(topic, r);
        }
        for s in self.sessions.iter().flatten() {
            let granted = s
                .subs
                .iter()
                .filter(|(f, _)| matches(FILTERS[**f], TOPICS[topic]))
                .map(|(_, g)| *g)
                .max();
            let Some(g) = granted else { continue };
            let d = q.min(g);
            // QoS 0 is not kept for a disconnected session.
            if s.connected || d != QoS::AtMostOnce {
                self.expected.insert((s.incarnation, r), d);
            }
        }
        r
    }
}
