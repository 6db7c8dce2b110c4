//! The home shard: a session lives on `shard_for(client_id, shard_count)`. A CONNECT decoded
//! on another shard is not handled there: the connection is handed over to the home shard
//! ([`Output::Handover`]) with the CONNECT's original bytes followed by everything read after
//! it, and the home shard handles it as if it had arrived there
//! ([`Shard::handle_handover`]). Takeover, session resume, session expiry and the will then
//! all happen on the home shard, with no cross-shard locking.
//!
//! A v5 client that sends an empty client identifier is given one that hashes to the shard
//! it connected to (see `assign_client_id`), so it is never handed over.

use bytes::{Bytes, BytesMut};
use mqtt_proto::Packet;

use super::{ConnState, Connection, Output, Shard};
use crate::ids::{shard_for, ConnId, ShardId};

/// With several shards, a copy of the CONNECT frame at the start of `buf` while `c` awaits it
/// and the whole frame is buffered: the bytes a handover carries. One copy per connection, at
/// most `max_connect_packet_size` bytes.
pub(crate) fn connect_frame(shard_count: u16, c: &Connection, buf: &BytesMut) -> Option<Bytes> {
    if shard_count <= 1 || !matches!(c.state, ConnState::AwaitingConnect) {
        return None;
    }
    let h = mqtt_proto::parse_fixed_header(buf, &c.decode).ok()??;
    buf.get(..h.packet_len()).map(Bytes::copy_from_slice)
}

impl Shard {
    /// The shard that owns `client_id`.
    pub(crate) fn home_of(&self, client_id: &str) -> ShardId {
        shard_for(client_id, self.shard_count)
    }

    /// If `packet` is the CONNECT of a client whose home is another shard, hands the
    /// connection over (the CONNECT's bytes in `frame`, then all of `buf`) and returns true.
    /// A CONNECT that this shard refuses anyway (an empty or too long identifier) stays here.
    pub(crate) fn hand_over_if_foreign(
        &mut self,
        conn: ConnId,
        packet: &Packet,
        frame: Option<Bytes>,
        buf: &mut BytesMut,
    ) -> bool {
        let (Some(frame), Packet::Connect(connect)) = (frame, packet) else {
            return false;
        };
        let id = &connect.client_id;
        if id.is_empty() || id.len() > self.config.max_client_id_len {
            return false;
        }
        let to = self.home_of(id);
        if to == self.id {
            return false;
        }
        let Some(c) = self.conns.remove(&conn) else {
            return false;
        };
        self.cancel_conn_timers(conn, &c);
        let mut buffered = BytesMut::with_capacity(frame.len() + buf.len());
        buffered.extend_from_slice(&frame);
        buffered.extend_from_slice(buf);
        buf.clear();
        self.stats.handovers += 1;
        self.push_output(Output::Handover { conn, to, buffered });
        true
    }
}
