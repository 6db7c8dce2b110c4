//! Helpers for session, will and model scenarios: CONNECT with Clean Start, Session Expiry and
//! a will; connecting while keeping everything that follows the CONNACK; acknowledgements.

use mqtt_core::ConnId;
use mqtt_proto::{
    ByteString, Bytes, ConnAck, Connect, Disconnect, DisconnectReasonCode, LastWill, Packet,
    PubAck, PubComp, PubRec, PubRel, QoS, WillProperties,
};

use super::{connect, pid, Harness, V5};

/// A v5 CONNECT with this Clean Start and Session Expiry Interval (keep alive 0).
pub fn connect_v5(id: &str, clean_start: bool, expiry: Option<u32>) -> Connect {
    let mut c = connect(id, V5);
    c.clean_start = clean_start;
    c.properties.session_expiry_interval = expiry;
    c
}

/// A will message with no properties.
pub fn will(topic: &str, payload: &'static [u8], qos: QoS, retain: bool) -> LastWill {
    LastWill {
        topic: ByteString::from(topic),
        payload: Bytes::from_static(payload),
        qos,
        retain,
        properties: WillProperties::default(),
    }
}

/// A will with a Will Delay Interval.
pub fn will_delayed(topic: &str, payload: &'static [u8], delay: u32) -> LastWill {
    let mut w = will(topic, payload, QoS::AtMostOnce, false);
    w.properties.will_delay_interval = Some(delay);
    w
}

/// `c` with a will.
pub fn with_will(mut c: Connect, w: LastWill) -> Connect {
    c.will = Some(w);
    c
}

/// A DISCONNECT with this reason and optionally a new Session Expiry Interval.
pub fn disconnect_with(reason: DisconnectReasonCode, expiry: Option<u32>) -> Disconnect {
    let mut d = Disconnect::new(reason);
    d.properties.session_expiry_interval = expiry;
    d
}

/// PUBACK for packet id `n`.
pub fn puback(n: u16) -> Packet {
    Packet::PubAck(PubAck::new(pid(n)))
}

/// PUBREC for packet id `n`.
pub fn pubrec(n: u16) -> Packet {
    Packet::PubRec(PubRec::new(pid(n)))
}

/// PUBREL for packet id `n`.
pub fn pubrel(n: u16) -> Packet {
    Packet::PubRel(PubRel::new(pid(n)))
}

/// PUBCOMP for packet id `n`.
pub fn pubcomp(n: u16) -> Packet {
    Packet::PubComp(PubComp::new(pid(n)))
}

impl Harness {
    /// Connects with `c`; returns the connection, its CONNACK and every packet after it.
    pub fn connect_full(&mut self, c: Connect) -> (ConnId, ConnAck, Vec<Packet>) {
        let conn = self.open();
        let v = c.protocol_version;
        self.send(conn, v, c);
        let mut got = self.recv(conn).into_iter();
        match got.next() {
            Some(Packet::ConnAck(ack)) => (conn, *ack, got.collect()),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Connects with `c`, asserts success and Session Present, returns the connection and the
    /// packets that followed the CONNACK.
    pub fn reconnect(&mut self, c: Connect, session_present: bool) -> (ConnId, Vec<Packet>) {
        let (conn, ack, rest) = self.connect_full(c);
        assert_eq!(
            ack.reason_code,
            mqtt_proto::ConnectReasonCode::Success,
            "{ack:?}"
        );
        assert_eq!(ack.session_present, session_present, "{ack:?}");
        (conn, rest)
    }
}
