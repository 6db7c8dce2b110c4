#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! The load tool against an in-process ringmq (one shard, a free port): every mode with
//! small counts, through the library API, with the counts checked.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use mqtt_proto::{ProtocolVersion, QoS};
use ringmq_benches::bench::{
    self, Common, ConnOptions, FlowOptions, LatencyOptions, Stop, StressOptions, Topology,
};
use ringmq_config::{BrokerConfig, ListenerConfig};
use runtime_glommio::Broker;

/// One broker for the whole test binary (each glommio executor locks memory).
fn broker() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let cfg = BrokerConfig {
            listeners: vec![ListenerConfig {
                addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            }],
            shards: 1,
            ..BrokerConfig::default()
        };
        let handle = Broker::start(cfg).expect("broker starts");
        let addr = handle.local_addrs()[0];
        // The broker lives as long as the test process.
        std::mem::forget(handle);
        addr
    })
}

fn common(qos: QoS, version: ProtocolVersion) -> Common {
    let mut c = Common::new(broker());
    c.qos = qos;
    c.version = version;
    c
}

fn flow_opts(topology: Topology, publishers: usize, subscribers: usize, stop: Stop) -> FlowOptions {
    FlowOptions {
        topology,
        publishers,
        subscribers,
        stop,
        inflight: 100,
        drain: Duration::from_secs(2),
        timeout: Duration::from_secs(20),
    }
}

#[tokio::test]
async fn stress_qos1_every_client_receives_all_its_messages() {
    let c = common(QoS::AtLeastOnce, ProtocolVersion::V5);
    let opts = StressOptions {
        clients: 4,
        messages: 500,
        timeout: Duration::from_secs(20),
    };
    let r = bench::stress(&c, &opts).await.unwrap();
    assert_eq!(r.total_messages, 2000);
    assert_eq!(r.published, 2000);
    assert_eq!(r.received, 2000);
    assert_eq!(r.completed, 4);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert!(r.publish.min > 0.0 && r.publish.min <= r.publish.median);
    assert!(r.publish.median <= r.publish.max);
    assert!(r.receive.min > 0.0 && r.receive.max >= r.receive.mean);
    assert!(r.aggregate_per_sec > 0.0 && r.wall_secs > 0.0);
    // Cumulative histogram: it ends with every worker.
    assert_eq!(r.publish_histogram.last().unwrap().1, 1.0);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["mode"], "stress");
    assert_eq!(json["received"], 2000);
}

#[tokio::test]
async fn stress_qos0_mqtt311_small_run_delivers_everything() {
    let c = common(QoS::AtMostOnce, ProtocolVersion::V3_1_1);
    let opts = StressOptions {
        clients: 3,
        messages: 200,
        timeout: Duration::from_secs(20),
    };
    let r = bench::stress(&c, &opts).await.unwrap();
    assert_eq!(r.published, 600);
    assert_eq!(r.received, 600);
    assert_eq!(r.completed, 3);
}

#[tokio::test]
async fn p2p_qos1_by_count_received_equals_sent() {
    let c = common(QoS::AtLeastOnce, ProtocolVersion::V5);
    let r = bench::flow(&c, &flow_opts(Topology::P2p, 2, 0, Stop::Count(1000)))
        .await
        .unwrap();
    assert_eq!((r.publishers, r.subscribers), (2, 2));
    assert_eq!(r.sent, 2000);
    assert_eq!(r.acked, 2000);
    assert_eq!(r.expected, 2000);
    assert_eq!(r.received, 2000);
    assert_eq!(r.loss, 0);
    assert!(r.sent_per_sec > 0.0 && r.received_per_sec > 0.0);
}

#[tokio::test]
async fn p2p_qos2_by_duration_received_equals_sent() {
    let c = common(QoS::ExactlyOnce, ProtocolVersion::V5);
    let mut opts = flow_opts(
        Topology::P2p,
        1,
        0,
        Stop::Duration(Duration::from_millis(300)),
    );
    opts.inflight = 10;
    let r = bench::flow(&c, &opts).await.unwrap();
    assert!(r.sent > 0);
    assert_eq!(r.acked, r.sent);
    assert_eq!(r.received, r.sent);
    assert_eq!(r.loss, 0);
}

#[tokio::test]
async fn fanout_qos1_each_subscriber_receives_every_message() {
    let c = common(QoS::AtLeastOnce, ProtocolVersion::V5);
    let r = bench::flow(&c, &flow_opts(Topology::FanOut, 5, 3, Stop::Count(300)))
        .await
        .unwrap();
    // Fan-out has one publisher whatever --publishers says.
    assert_eq!((r.publishers, r.subscribers), (1, 3));
    assert_eq!(r.sent, 300);
    assert_eq!(r.expected, 900);
    assert_eq!(r.received, 900);
}

#[tokio::test]
async fn fanin_qos1_one_subscriber_receives_from_every_publisher() {
    let c = common(QoS::AtLeastOnce, ProtocolVersion::V3_1_1);
    let r = bench::flow(&c, &flow_opts(Topology::FanIn, 3, 5, Stop::Count(200)))
        .await
        .unwrap();
    assert_eq!((r.publishers, r.subscribers), (3, 1));
    assert_eq!(r.sent, 600);
    assert_eq!(r.received, 600);
}

#[tokio::test]
async fn latency_records_every_message_at_the_offered_rate() {
    let c = common(QoS::AtLeastOnce, ProtocolVersion::V5);
    let opts = LatencyOptions {
        rate: 2000.0,
        duration: Duration::from_millis(500),
        pairs: 2,
        warmup: Duration::ZERO,
        drain: Duration::from_secs(2),
    };
    let r = bench::latency(&c, &opts).await.unwrap();
    // 2000 msg/s for 0.5 s, split over two pairs.
    assert_eq!(r.sent, 1000);
    assert_eq!(r.received, 1000);
    assert_eq!(r.latency.count, 1000);
    let l = r.latency;
    assert!(l.p50_us >= 1 && l.p50_us <= l.p99_us && l.p99_us <= l.p999_us);
    assert!(l.p999_us <= l.max_us);
    assert_eq!(r.send_lag.count, 1000);
}

#[tokio::test]
async fn conn_opens_every_connection_and_reads_rss() {
    let c = common(QoS::AtMostOnce, ProtocolVersion::V5);
    let opts = ConnOptions {
        clients: 20,
        rate: 2000.0,
        hold: Duration::from_millis(100),
        // The broker runs in this process.
        pid: Some(std::process::id()),
    };
    let r = bench::connections(&c, &opts).await.unwrap();
    assert_eq!(r.connected, 20, "{:?}", r.first_error);
    assert_eq!(r.failed, 0);
    assert_eq!(r.connect_latency.count, 20);
    assert!(r.rss_before_kib.unwrap() > 0 && r.rss_after_kib.unwrap() > 0);
    assert!(r.kib_per_connection.is_some());
}
