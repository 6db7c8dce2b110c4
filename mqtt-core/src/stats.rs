//! Counters kept by each shard and published under `$SYS`.

/// Monotonic counters of one shard.
///
/// Gauges (connected clients, subscriptions, retained messages) are not kept here: they are
/// read from the structures themselves ([`crate::Shard::subscription_count`] and friends), so
/// they cannot drift.
#[derive(Debug, Clone)]
pub struct Stats {
    /// PUBLISH packets received from clients.
    pub messages_received: u64,
    /// PUBLISH packets sent to clients.
    pub messages_sent: u64,
    /// Bytes decoded.
    pub bytes_received: u64,
    /// Bytes handed to the runtime.
    pub bytes_sent: u64,
    /// Messages dropped by session queue limits, QoS 0 messages dropped because the
    /// receiver's output buffer was full (a slow reader), or messages queued for a session
    /// that ended.
    pub dropped: u64,
    /// Messages dropped because they exceed the receiver's Maximum Packet Size.
    pub dropped_too_large: u64,
    /// Deliveries refused by the ACL's Receive check (at routing, dequeue or re-send).
    pub receive_denied: u64,
    /// Messages that expired before delivery.
    pub expired: u64,
    /// Retained messages not stored because the retained store was at its count or byte
    /// limit (they were still delivered to current subscribers).
    pub retained_refused: u64,
    /// Successful connects.
    pub connects: u64,
    /// Connections closed after CONNACK.
    pub disconnects: u64,
    /// Sessions taken over by a new connection.
    pub takeovers: u64,
    /// Will messages published.
    pub wills: u64,
    /// Sessions removed by expiry.
    pub sessions_expired: u64,
    /// Keep-alive timeouts.
    pub keep_alive_timeouts: u64,
    /// Connections closed because their output was not taken in time.
    pub send_timeouts: u64,
    /// QoS 0 messages dropped because the queue to another shard was full.
    pub peer_dropped: u64,
    /// Connections handed over to their home shard (counted by the shard that gave them).
    pub handovers: u64,
    /// Refusals by reason code (index = code).
    pub rejected: [u64; 256],
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            messages_received: 0,
            messages_sent: 0,
            bytes_received: 0,
            bytes_sent: 0,
            dropped: 0,
            dropped_too_large: 0,
            receive_denied: 0,
            expired: 0,
            retained_refused: 0,
            connects: 0,
            disconnects: 0,
            takeovers: 0,
            wills: 0,
            sessions_expired: 0,
            keep_alive_timeouts: 0,
            send_timeouts: 0,
            peer_dropped: 0,
            handovers: 0,
            rejected: [0; 256],
        }
    }
}

impl Stats {
    /// Adds another shard's counters to these (for broker-wide `$SYS` figures).
    pub fn add(&mut self, other: &Stats) {
        // Destructured so that a new counter cannot be forgotten here.
        let Stats {
            messages_received,
            messages_sent,
            bytes_received,
            bytes_sent,
            dropped,
            dropped_too_large,
            receive_denied,
            expired,
            retained_refused,
            connects,
            disconnects,
            takeovers,
            wills,
            sessions_expired,
            keep_alive_timeouts,
            send_timeouts,
            peer_dropped,
            handovers,
            rejected,
        } = other;
        self.messages_received += messages_received;
        self.messages_sent += messages_sent;
        self.bytes_received += bytes_received;
        self.bytes_sent += bytes_sent;
        self.dropped += dropped;
        self.dropped_too_large += dropped_too_large;
        self.receive_denied += receive_denied;
        self.expired += expired;
        self.retained_refused += retained_refused;
        self.connects += connects;
        self.disconnects += disconnects;
        self.takeovers += takeovers;
        self.wills += wills;
        self.sessions_expired += sessions_expired;
        self.keep_alive_timeouts += keep_alive_timeouts;
        self.send_timeouts += send_timeouts;
        self.peer_dropped += peer_dropped;
        self.handovers += handovers;
        for (a, b) in self.rejected.iter_mut().zip(rejected.iter()) {
            *a += b;
        }
    }

    /// Counts one refusal with this reason code.
    pub(crate) fn reject(&mut self, code: u8) {
        if let Some(n) = self.rejected.get_mut(usize::from(code)) {
            *n += 1;
        }
    }
}
