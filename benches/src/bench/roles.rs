//! The two loops every mode is made of: a publisher that queues publishes in batches and
//! writes each batch at once, and a subscriber that counts what arrives.

use std::cell::Cell;
use std::io;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mqtt_core::client::{Event, OutgoingMessage};
use mqtt_proto::topic::validate_topic_name;
use mqtt_proto::{Packet, Publish, QoS, QosPid, MAX_PACKET_SIZE};

use super::conn::{Conn, WRITE_BATCH};
use super::error;
use super::stats::Counters;

/// How often a waiting subscriber looks at the run's stop flag.
const STOP_CHECK: Duration = Duration::from_millis(20);

/// When a publisher stops.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PubLimit {
    /// Messages to publish at most.
    pub(crate) count: u64,
    /// No new message at or after this instant.
    pub(crate) until: Option<Instant>,
    /// Give up waiting for acknowledgements (QoS 1/2) at this instant.
    pub(crate) ack_deadline: Instant,
}

/// What a publisher did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PubOutcome {
    /// Messages handed to the client.
    pub(crate) sent: u64,
    /// QoS 1/2 messages completed with a success reason.
    pub(crate) acked: u64,
    /// QoS 1/2 messages the broker refused (reason 0x80 or above) or the client failed.
    pub(crate) refused: u64,
    /// When the last message was written (QoS 0) or completed (QoS 1/2).
    pub(crate) finished: Instant,
    /// Whether it stopped on `ack_deadline` with messages unacknowledged.
    pub(crate) timed_out: bool,
}

/// Publishes `msg` until `limit`. QoS 0 is paced by the socket: a batch of about
/// [`WRITE_BATCH`] bytes of copies of the encoded PUBLISH is queued, then written. QoS 1/2
/// goes through the client and is paced by its window (the broker's Receive Maximum and the
/// client's `max_inflight`), a batch being what the window lets the client encode.
pub(crate) async fn publish(
    conn: &mut Conn,
    msg: &OutgoingMessage,
    limit: PubLimit,
    counters: &Counters,
) -> io::Result<PubOutcome> {
    let qos0 = msg.qos == QoS::AtMostOnce;
    let template = if qos0 {
        Some(encode_qos0(conn, msg)?)
    } else {
        None
    };
    let clock = conn.clock();
    let mut out = PubOutcome {
        sent: 0,
        acked: 0,
        refused: 0,
        finished: Instant::now(),
        timed_out: false,
    };
    loop {
        let sending = out.sent < limit.count && limit.until.is_none_or(|u| Instant::now() < u);
        if let (true, Some(packet)) = (sending, &template) {
            let room = WRITE_BATCH.saturating_sub(conn.raw_len()) / packet.len().max(1) + 1;
            let n = room.min(usize::try_from(limit.count - out.sent).unwrap_or(usize::MAX));
            conn.push_raw(packet, n);
            out.sent += n as u64;
            counters.add_sent(n as u64);
        } else if sending {
            let now = clock.now();
            let before = out.sent;
            while out.sent < limit.count
                && conn.client.transmit_len() < WRITE_BATCH
                && conn.client.queued_len() == 0
            {
                conn.client
                    .publish(msg.clone(), now)
                    .map_err(|e| error(format!("publish: {e}")))?;
                out.sent += 1;
            }
            counters.add_sent(out.sent - before);
        }
        conn.poll_io()?;
        drain_publisher_events(conn, &mut out)?;
        let done = out.acked + out.refused >= out.sent;
        if !sending && (qos0 && !conn.write_pending() || !qos0 && done) {
            out.finished = Instant::now();
            return Ok(out);
        }
        if !sending && Instant::now() >= limit.ack_deadline {
            out.finished = Instant::now();
            out.timed_out = true;
            return Ok(out);
        }
        let window_open = qos0 || conn.client.queued_len() == 0;
        if sending && window_open && !conn.write_pending() {
            // The socket took everything: let the other connections run, then refill.
            tokio::task::yield_now().await;
            continue;
        }
        let wake = if sending {
            limit.until
        } else {
            Some(limit.ack_deadline)
        };
        conn.step(wake).await?;
        drain_publisher_events(conn, &mut out)?;
    }
}

/// The PUBLISH of a QoS 0 message as the client would encode it on this connection (no
/// topic alias: the client assigns none unless asked to).
fn encode_qos0(conn: &Conn, msg: &OutgoingMessage) -> io::Result<Vec<u8>> {
    // [MQTT-3.3.2-2] the topic name is checked as the client would.
    validate_topic_name(&msg.topic, usize::MAX).map_err(|e| error(format!("topic: {e:?}")))?;
    let options = conn.client.options();
    let max = conn
        .client
        .server_limits()
        .map_or(MAX_PACKET_SIZE, |l| l.maximum_packet_size);
    let packet = Packet::Publish(Publish {
        dup: false,
        qos_pid: QosPid::AtMostOnce,
        retain: msg.retain,
        topic: msg.topic.clone(),
        properties: msg.properties.clone(),
        payload: msg.payload.clone(),
    });
    let mut buf = BytesMut::new();
    packet
        .encode_within(options.version, max, &mut buf)
        .map_err(|e| error(format!("encode: {e}")))?;
    Ok(buf.to_vec())
}

fn drain_publisher_events(conn: &mut Conn, out: &mut PubOutcome) -> io::Result<()> {
    while let Some(ev) = conn.client.poll_event() {
        match ev {
            Event::Published { reason, .. } if reason.0 < 0x80 => out.acked += 1,
            Event::Published { .. } | Event::Failed { .. } => out.refused += 1,
            Event::Disconnected(why) => {
                return Err(error(format!("publisher disconnected: {why:?}")))
            }
            _ => {}
        }
    }
    Ok(())
}

/// When a subscriber stops.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SubLimit<'a> {
    /// Stop after this many messages.
    pub(crate) expected: u64,
    /// Stop when this becomes true (checked every few milliseconds while idle).
    pub(crate) stop: &'a Cell<bool>,
    /// Stop at this instant in any case.
    pub(crate) deadline: Instant,
}

/// What a subscriber received.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SubOutcome {
    /// Messages received.
    pub(crate) received: u64,
    /// When the last one arrived.
    pub(crate) last: Option<Instant>,
    /// Whether it stopped on the deadline short of `expected`.
    pub(crate) timed_out: bool,
}

/// Receives messages until `limit`. With `on_stamp`, each message's payload's first 8 bytes
/// (big-endian) are given to it with the message's arrival time. QoS 0 messages are counted
/// without decoding ([`Conn::count_qos0`]).
pub(crate) async fn receive(
    conn: &mut Conn,
    limit: SubLimit<'_>,
    counters: &Counters,
    mut on_stamp: Option<&mut dyn FnMut(u64, Instant)>,
) -> io::Result<SubOutcome> {
    conn.count_qos0(on_stamp.is_some());
    let mut out = SubOutcome {
        received: 0,
        last: None,
        timed_out: false,
    };
    loop {
        if out.received >= limit.expected || limit.stop.get() {
            return Ok(out);
        }
        let now = Instant::now();
        if now >= limit.deadline {
            out.timed_out = true;
            return Ok(out);
        }
        conn.step(Some(limit.deadline.min(now + STOP_CHECK)))
            .await?;
        let arrived = Instant::now();
        let mut n = 0;
        if let Some(t) = conn.tally() {
            n += t.count;
            t.count = 0;
            if let Some(f) = on_stamp.as_mut() {
                for s in t.stamps.drain(..) {
                    f(s, arrived);
                }
            }
        }
        while let Some(ev) = conn.client.poll_event() {
            match ev {
                Event::Message(p) => {
                    n += 1;
                    let stamp = p.payload.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok());
                    if let (Some(f), Some(s)) = (on_stamp.as_mut(), stamp) {
                        f(u64::from_be_bytes(s), arrived);
                    }
                }
                Event::Disconnected(why) => {
                    return Err(error(format!("subscriber disconnected: {why:?}")))
                }
                _ => {}
            }
        }
        if n > 0 {
            out.received += n;
            out.last = Some(arrived);
            counters.add_received(n);
        }
    }
}
