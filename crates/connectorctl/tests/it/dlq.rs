//! `connectorctl dlq …` against a real broker, each test in a namespace of its own.

use std::process::{Command, Output};
use std::time::Duration;

use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use platform::amqp::message::{self, get_bool, get_int, get_str};
use platform::amqp::{consumer, Broker, Incoming, Publisher};
use platform::testing::{amqp_url, eventually, TestNamespace};

use super::{assert_one_line_failure, stderr, stdout};

const ORDERS: &str = "order-processor.orders";

fn ctl(ns: &TestNamespace, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_connectorctl"))
        .args(args)
        .env("CONNECTOR__AMQP__URL", amqp_url())
        .env("CONNECTOR__AMQP__NAMESPACE", &ns.namespace)
        .env(
            "CONNECTOR__DATABASE__URL",
            "postgres://postgres@127.0.0.1:1/unused",
        )
        .env("CONNECTOR_CONFIG_DIR", "/nonexistent")
        .output()
        .expect("run connectorctl")
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    stdout(&o)
}

struct Setup {
    ns: TestNamespace,
    broker: Broker,
    publisher: Publisher,
}

async fn setup() -> Setup {
    let ns = TestNamespace::new();
    let broker = ns.broker("connectorctl-it").await;
    let publisher = Publisher::new(broker.clone(), 1, Duration::from_secs(5));
    Setup {
        ns,
        broker,
        publisher,
    }
}

impl Setup {
    /// Dead-letters an event as a consumer of `queue` does after 10 failed attempts.
    async fn dead_letter(&self, queue: &str, id: &str, routing_key: &str, body: &[u8]) {
        let mut headers = FieldTable::default();
        message::set_str(&mut headers, message::STORE_HASH, "abc123");
        let incoming = Incoming {
            body: body.to_vec(),
            routing_key: routing_key.to_owned(),
            message_id: Some(id.to_owned()),
            headers: headers.clone(),
            attempts: 9,
            redelivered: false,
            properties: message::event_properties(id, headers),
        };
        consumer::dead_letter(
            &self.publisher,
            &self.broker,
            queue,
            &incoming,
            10,
            "engage said 500",
        )
        .await
        .expect("dead-lettered");
    }

    async fn count(&self, queue: &str) -> u32 {
        let channel = self
            .broker
            .session()
            .unwrap()
            .connection
            .create_channel()
            .await
            .unwrap();
        let declared = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        let _ = channel.close(200, "done".into()).await;
        declared.message_count()
    }

    /// Takes (and acks) one message, if the queue has any.
    async fn take_one(&self, queue: &str) -> Option<lapin::message::BasicGetMessage> {
        if self.count(queue).await == 0 {
            return None;
        }
        // A consumer, not basic.get: lapin does not surface an empty get promptly.
        let delivery =
            platform::testing::take_message(&self.broker, queue, std::time::Duration::from_secs(2))
                .await?;
        Some(lapin::message::BasicGetMessage {
            delivery,
            message_count: 0,
        })
    }

    fn dlq(&self) -> String {
        self.ns.topology.dead_letter_queue(ORDERS)
    }

    fn work(&self) -> String {
        self.ns.topology.queue(ORDERS)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_list_shows_each_dead_letter_and_leaves_it_in_the_queue() {
    let s = setup().await;
    s.dead_letter(ORDERS, "evt-1", "store.order.created", b"{\"a\":1}")
        .await;
    s.dead_letter(ORDERS, "evt-2", "store.order.updated", b"{\"a\":2}")
        .await;

    let first = ok(ctl(&s.ns, &["dlq", "list", ORDERS, "--json"]));
    let rows: serde_json::Value = serde_json::from_str(&first).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{first}");
    let one = rows.iter().find(|r| r["event_id"] == "evt-1").unwrap();
    assert_eq!(one["scope"], "store/order/created");
    assert_eq!(one["store"], "abc123");
    assert_eq!(one["reason"], "engage said 500");
    assert_eq!(one["attempts"], 10);
    assert!(one["first_failure_at"].as_str().unwrap().starts_with("20"));

    let dlq = s.dlq();
    assert!(
        eventually(Duration::from_secs(5), || async {
            s.count(&dlq).await == 2
        })
        .await
    );
    let second = ok(ctl(
        &s.ns,
        &["dlq", "list", &format!("{ORDERS}.dlq"), "--json"],
    ));
    let again: serde_json::Value = serde_json::from_str(&second).unwrap();
    let mut ids: Vec<_> = again
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["event_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["evt-1", "evt-2"]);

    let table = ok(ctl(&s.ns, &["dlq", "list", ORDERS]));
    assert!(table.starts_with("EVENT ID"), "{table}");
    assert!(table.contains("evt-2") && table.contains("store/order/updated"));
    assert!(table.contains("engage said 500") && table.contains("abc123"));

    let limited = ok(ctl(&s.ns, &["dlq", "list", ORDERS, "--limit", "1"]));
    assert!(limited.contains("showing 1 of 2"), "{limited}");
    assert!(
        eventually(Duration::from_secs(5), || async {
            s.count(&dlq).await == 2
        })
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_replay_republishes_with_the_original_key_marked_as_a_replay() {
    let s = setup().await;
    let body = br#"{"scope":"store/order/created","data":{"id":250}}"#;
    s.dead_letter(ORDERS, "evt-1", "store.order.created", body)
        .await;
    assert!(s.take_one(&s.work()).await.is_none());

    let out = ok(ctl(&s.ns, &["dlq", "replay", ORDERS]));
    assert!(out.contains("replayed 1 message(s)"), "{out}");

    let work = s.work();
    assert!(
        eventually(Duration::from_secs(5), || async {
            s.count(&work).await == 1
        })
        .await
    );
    let got = s.take_one(&work).await.expect("replayed message");
    assert_eq!(got.delivery.data, body);
    assert_eq!(got.delivery.routing_key.as_str(), "store.order.created");
    let props = &got.delivery.properties;
    assert_eq!(
        props.message_id().as_ref().map(|s| s.as_str()),
        Some("evt-1")
    );
    let headers = props.headers().clone().unwrap();
    assert!(get_bool(&headers, message::REPLAY));
    assert_eq!(get_int(&headers, message::ATTEMPTS), Some(0));
    assert_eq!(
        get_str(&headers, message::STORE_HASH).as_deref(),
        Some("abc123")
    );
    assert_eq!(s.count(&s.dlq()).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_replay_with_an_id_replays_only_that_message() {
    let s = setup().await;
    for id in ["evt-1", "evt-2", "evt-3"] {
        s.dead_letter(ORDERS, id, "store.order.updated", b"{}")
            .await;
    }
    let out = ok(ctl(&s.ns, &["dlq", "replay", ORDERS, "--id", "evt-2"]));
    assert!(out.contains("replayed 1 message(s)"), "{out}");

    let work = s.work();
    assert!(
        eventually(Duration::from_secs(5), || async {
            s.count(&work).await == 1
        })
        .await
    );
    let got = s.take_one(&work).await.unwrap();
    assert_eq!(
        got.delivery
            .properties
            .message_id()
            .as_ref()
            .map(|s| s.as_str()),
        Some("evt-2")
    );
    let dlq = s.dlq();
    assert!(
        eventually(Duration::from_secs(5), || async {
            s.count(&dlq).await == 2
        })
        .await
    );
    let left = ok(ctl(&s.ns, &["dlq", "list", ORDERS]));
    assert!(left.contains("evt-1") && left.contains("evt-3") && !left.contains("evt-2"));

    assert_one_line_failure(
        &ctl(&s.ns, &["dlq", "replay", ORDERS, "--id", "evt-9"]),
        "no message evt-9",
    );
    let out = ok(ctl(&s.ns, &["dlq", "replay", ORDERS, "--limit", "1"]));
    assert!(out.contains("replayed 1 message(s)"), "{out}");
    assert!(
        eventually(Duration::from_secs(5), || async {
            s.count(&dlq).await == 1
        })
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_purge_refuses_without_yes_and_empties_the_queue_with_it() {
    let s = setup().await;
    s.dead_letter(ORDERS, "evt-1", "store.order.created", b"{}")
        .await;
    s.dead_letter(ORDERS, "evt-2", "store.order.created", b"{}")
        .await;
    assert_one_line_failure(
        &ctl(&s.ns, &["dlq", "purge", ORDERS]),
        "refusing to purge without --yes",
    );
    assert_eq!(s.count(&s.dlq()).await, 2);
    let out = ok(ctl(&s.ns, &["dlq", "purge", ORDERS, "--yes"]));
    assert!(out.contains("purged 2 message(s)"), "{out}");
    assert_eq!(s.count(&s.dlq()).await, 0);
    let empty = ok(ctl(&s.ns, &["dlq", "list", ORDERS]));
    assert!(empty.contains("is empty"), "{empty}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_commands_reject_an_unknown_queue() {
    let ns = TestNamespace::new();
    for args in [
        &["dlq", "list", "orders"][..],
        &["dlq", "replay", "order-processor.orders.retry.10s"],
        &["dlq", "purge", "nope", "--yes"],
    ] {
        assert_one_line_failure(&ctl(&ns, args), "unknown queue");
    }
    assert_eq!(ctl(&ns, &["dlq", "list"]).status.code(), Some(2));
    let help = ctl(&ns, &["dlq", "replay", "--help"]);
    assert!(help.status.success());
    assert!(stdout(&help).contains("--id"));
}
