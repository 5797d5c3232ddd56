use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lapin::types::FieldTable;
use platform::amqp::broker::CLOSE_TIMEOUT;
use platform::amqp::message::{self, get_int, get_str};
use platform::amqp::{
    Broker, Consumer, Handler, HandlerError, Incoming, PublishError, Publisher, RetryPolicy,
};
use platform::testing::{amqp_url, eventually, ChaosProxy, TestNamespace};
use tokio_util::sync::CancellationToken;

async fn get_one(broker: &Broker, queue: &str) -> Option<lapin::message::Delivery> {
    platform::testing::take_message(broker, queue, Duration::from_millis(300)).await
}

async fn wait_for_message(
    broker: &Broker,
    queue: &str,
    timeout: Duration,
) -> Option<lapin::message::Delivery> {
    platform::testing::take_message(broker, queue, timeout).await
}

fn publisher(broker: &Broker) -> Arc<Publisher> {
    Arc::new(Publisher::new(broker.clone(), 2, Duration::from_secs(5)))
}

async fn publish_event(publisher: &Publisher, routing_key: &str, body: &[u8], id: &str) {
    let topology = publisher.broker().topology().clone();
    let mut headers = FieldTable::default();
    message::set_str(&mut headers, message::STORE_HASH, "abc123");
    publisher
        .publish(
            &topology.events_exchange(),
            routing_key,
            body,
            message::event_properties(id, headers),
        )
        .await
        .expect("confirmed publish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_publish_lands_in_the_bound_queue_unchanged() {
    let ns = TestNamespace::new();
    let broker = ns.broker("it-publish").await;
    let publisher = publisher(&broker);
    let body = br#"{"scope":"store/order/created","data":{"id":250}}"#;
    publish_event(&publisher, "store.order.created", body, "evt-1").await;
    publish_event(&publisher, "store.customer.created", b"{}", "evt-2").await;
    publish_event(&publisher, "tracking.product_view", b"{}", "evt-3").await;

    let got = get_one(&broker, &ns.topology.queue("order-processor.orders"))
        .await
        .expect("order message");
    assert_eq!(got.data, body);
    assert_eq!(got.routing_key.as_str(), "store.order.created");
    let props = &got.properties;
    assert_eq!(
        props.message_id().as_ref().map(|s| s.as_str()),
        Some("evt-1")
    );
    assert_eq!(props.delivery_mode(), &Some(2));
    let headers = props.headers().clone().unwrap();
    assert_eq!(
        get_str(&headers, message::STORE_HASH).as_deref(),
        Some("abc123")
    );
    assert!(
        get_one(&broker, &ns.topology.queue("order-processor.orders"))
            .await
            .is_none()
    );
    assert!(
        get_one(&broker, &ns.topology.queue("order-processor.contacts"))
            .await
            .is_some()
    );
    assert!(
        get_one(&broker, &ns.topology.queue("tracking-forwarder.events"))
            .await
            .is_some()
    );
    broker.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_nobody_is_bound_for_is_an_error_not_a_success() {
    let ns = TestNamespace::new();
    let broker = ns.broker("it-unroutable").await;
    let publisher = publisher(&broker);
    let err = publisher
        .publish(
            &ns.topology.events_exchange(),
            "nothing.bound.here",
            b"{}",
            message::event_properties("x", FieldTable::default()),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, platform::amqp::PublishError::Unroutable(_)),
        "{err}"
    );
    broker.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declaring_the_topology_twice_is_harmless() {
    let ns = TestNamespace::new();
    let a = ns.broker("it-declare-a").await;
    let b = ns.broker("it-declare-b").await;
    assert!(a.is_connected() && b.is_connected());
    a.close().await;
    b.close().await;
}

/// Fails the first `fail_times` deliveries with the given error, then succeeds.
struct Flaky {
    calls: AtomicU32,
    fail_times: u32,
    error: HandlerError,
    seen: std::sync::Mutex<Vec<(u32, Instant)>>,
}

impl Flaky {
    fn new(fail_times: u32, error: HandlerError) -> Arc<Self> {
        Arc::new(Self {
            calls: AtomicU32::new(0),
            fail_times,
            error,
            seen: Default::default(),
        })
    }
}

impl Handler for Flaky {
    async fn handle(&self, message: &Incoming) -> Result<(), HandlerError> {
        self.seen
            .lock()
            .unwrap()
            .push((message.attempts, Instant::now()));
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if n < self.fail_times {
            Err(self.error.clone())
        } else {
            Ok(())
        }
    }
}

fn fast_policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base: Duration::from_millis(200),
        max: Duration::from_millis(400),
    }
}

fn spawn_consumer<H: Handler>(
    broker: &Broker,
    queue: &str,
    policy: RetryPolicy,
    handler: Arc<H>,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let stop = CancellationToken::new();
    let consumer = Consumer::new(broker.clone(), publisher(broker), queue, 8, policy, handler);
    let task = tokio::spawn(consumer.run(stop.clone()));
    (stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fatal_handler_error_dead_letters_with_its_reason() {
    let ns = TestNamespace::new();
    let broker = ns.broker("it-fatal").await;
    let handler = Flaky::new(u32::MAX, HandlerError::fatal("payload has no order id"));
    let (stop, task) = spawn_consumer(
        &broker,
        "order-processor.orders",
        fast_policy(5),
        handler.clone(),
    );
    publish_event(
        &publisher(&broker),
        "store.order.created",
        b"{\"poison\":true}",
        "evt-poison",
    )
    .await;

    let dead = wait_for_message(
        &broker,
        &ns.topology.dead_letter_queue("order-processor.orders"),
        Duration::from_secs(10),
    )
    .await
    .expect("dead letter");
    let headers = dead.properties.headers().clone().unwrap();
    assert_eq!(
        get_str(&headers, message::DEAD_REASON).as_deref(),
        Some("payload has no order id")
    );
    assert_eq!(
        get_str(&headers, message::ORIGINAL_ROUTING_KEY).as_deref(),
        Some("store.order.created")
    );
    assert_eq!(get_int(&headers, message::ATTEMPTS), Some(1));
    assert!(get_str(&headers, message::FIRST_FAILURE_AT).is_some());
    assert_eq!(dead.data, b"{\"poison\":true}");
    assert_eq!(
        dead.properties.message_id().as_ref().map(|s| s.as_str()),
        Some("evt-poison")
    );
    // Fatal means one attempt, no retries.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(handler.calls.load(Ordering::SeqCst), 1);
    stop.cancel();
    task.await.unwrap();
    broker.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_error_comes_back_after_its_delay() {
    let ns = TestNamespace::new();
    let broker = ns.broker("it-transient").await;
    let handler = Flaky::new(1, HandlerError::transient("engage answered 503"));
    let (stop, task) = spawn_consumer(
        &broker,
        "order-processor.contacts",
        fast_policy(5),
        handler.clone(),
    );
    publish_event(
        &publisher(&broker),
        "store.customer.created",
        b"{}",
        "evt-t",
    )
    .await;

    assert!(
        eventually(Duration::from_secs(10), || async {
            handler.calls.load(Ordering::SeqCst) >= 2
        })
        .await
    );
    let seen = handler.seen.lock().unwrap().clone();
    assert_eq!(seen[0].0, 0, "first delivery has no failed attempts");
    assert_eq!(seen[1].0, 1, "the retry knows one attempt failed");
    let gap = seen[1].1 - seen[0].1;
    assert!(
        gap >= Duration::from_millis(190),
        "retried after {gap:?}, before its 200 ms delay"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        handler.calls.load(Ordering::SeqCst),
        2,
        "succeeded, so no third call"
    );
    assert!(get_one(
        &broker,
        &ns.topology.dead_letter_queue("order-processor.contacts")
    )
    .await
    .is_none());
    stop.cancel();
    task.await.unwrap();
    broker.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_errors_stop_after_the_maximum_attempts_and_dead_letter_once() {
    let ns = TestNamespace::new();
    let broker = ns.broker("it-exhaust").await;
    let handler = Flaky::new(u32::MAX, HandlerError::transient("timeout"));
    let (stop, task) = spawn_consumer(
        &broker,
        "order-processor.orders",
        fast_policy(3),
        handler.clone(),
    );
    publish_event(&publisher(&broker), "store.order.updated", b"{}", "evt-x").await;

    let dlq = ns.topology.dead_letter_queue("order-processor.orders");
    let dead = wait_for_message(&broker, &dlq, Duration::from_secs(10))
        .await
        .expect("dead letter");
    let headers = dead.properties.headers().clone().unwrap();
    assert_eq!(get_int(&headers, message::ATTEMPTS), Some(3));
    assert!(get_str(&headers, message::DEAD_REASON)
        .unwrap()
        .contains("timeout"));
    assert_eq!(
        get_str(&headers, message::ORIGINAL_ROUTING_KEY).as_deref(),
        Some("store.order.updated")
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(handler.calls.load(Ordering::SeqCst), 3);
    assert!(
        get_one(&broker, &dlq).await.is_none(),
        "exactly one dead letter"
    );
    stop.cancel();
    task.await.unwrap();
    broker.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_cut_mid_run_recovers_and_loses_nothing() {
    let ns = TestNamespace::new();
    let proxy = ChaosProxy::start("127.0.0.1:5672").await;
    let broker = Broker::start(proxy.amqp_url().into(), "it-cut", ns.topology.clone());
    assert!(broker.wait_connected(Duration::from_secs(10)).await);
    let handler = Flaky::new(0, HandlerError::fatal("unused"));
    let (stop, task) = spawn_consumer(
        &broker,
        "order-processor.orders",
        fast_policy(3),
        handler.clone(),
    );
    let publisher = publisher(&broker);
    publish_event(&publisher, "store.order.created", b"{}", "before-cut").await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            handler.calls.load(Ordering::SeqCst) == 1
        })
        .await
    );

    proxy.set_down(true);
    assert!(eventually(Duration::from_secs(10), || async { !broker.is_connected() }).await);
    let err = publisher
        .publish(
            &ns.topology.events_exchange(),
            "store.order.created",
            b"{}",
            message::event_properties("x", FieldTable::default()),
        )
        .await;
    assert!(err.is_err(), "no success while the broker is unreachable");

    // A message published meanwhile by someone else is still consumed after recovery.
    let direct = ns.broker("it-cut-direct").await;
    publish_event(
        &self::publisher(&direct),
        "store.order.created",
        b"{}",
        "during-cut",
    )
    .await;
    proxy.set_down(false);
    assert!(eventually(Duration::from_secs(15), || async { broker.is_connected() }).await);
    assert!(
        eventually(Duration::from_secs(15), || async {
            handler.calls.load(Ordering::SeqCst) >= 2
        })
        .await
    );
    publish_event(&publisher, "store.order.created", b"{}", "after-cut").await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            handler.calls.load(Ordering::SeqCst) >= 3
        })
        .await
    );
    stop.cancel();
    task.await.unwrap();
    broker.close().await;
    direct.close().await;
    let _ = amqp_url();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_stops_answering_fails_a_publish_in_time_and_lets_a_close_return() {
    let ns = TestNamespace::new();
    let proxy = ChaosProxy::start("127.0.0.1:5672").await;
    let broker = Broker::start(proxy.amqp_url().into(), "it-stall", ns.topology.clone());
    assert!(broker.wait_connected(Duration::from_secs(10)).await);
    // No channel is open yet: the publish must open its channels through the stall too.
    proxy.set_stalled(true);
    let timeout = Duration::from_millis(500);
    let publisher = Publisher::new(broker.clone(), 2, timeout);
    let started = Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        publisher.publish(
            &ns.topology.events_exchange(),
            "store.order.created",
            b"{}",
            message::event_properties("stalled", FieldTable::default()),
        ),
    )
    .await
    .expect("the publish returns while the broker does not answer");
    assert!(
        matches!(result, Err(PublishError::Timeout(t)) if t == timeout),
        "{result:?}"
    );
    assert!(started.elapsed() < timeout * 3, "{:?}", started.elapsed());

    let closing = Instant::now();
    tokio::time::timeout(Duration::from_secs(15), broker.close())
        .await
        .expect("close returns although the broker never confirms it");
    assert!(
        closing.elapsed() < CLOSE_TIMEOUT + Duration::from_secs(2),
        "{:?}",
        closing.elapsed()
    );
    proxy.set_stalled(false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_parking_queue_for_dropped_views_is_bounded() {
    use lapin::options::QueueDeclareOptions;
    use lapin::types::AMQPValue;
    let ns = TestNamespace::new();
    let broker = ns.broker("it-dropped").await;
    // The broker refuses a re-declaration whose arguments differ from the queue's, so a
    // declaration with the bound succeeds only if the queue has exactly that bound.
    let declare = |max_length: i64| {
        let broker = broker.clone();
        let queue = ns.topology.dropped_queue();
        async move {
            let channel = broker
                .session()
                .unwrap()
                .connection
                .create_channel()
                .await?;
            let mut args = FieldTable::default();
            args.insert(
                "x-queue-type".into(),
                AMQPValue::LongString("quorum".into()),
            );
            args.insert("x-max-length".into(), AMQPValue::LongLongInt(max_length));
            let options = QueueDeclareOptions {
                durable: true,
                ..Default::default()
            };
            channel
                .queue_declare(queue.as_str().into(), options, args)
                .await?;
            let _ = channel.close(200, "declared".into()).await;
            Ok::<_, lapin::Error>(())
        }
    };
    declare(platform::amqp::topology::DROPPED_MAX_LENGTH)
        .await
        .expect("the queue has the bound");
    assert!(declare(DROPPED_MAX_LENGTH_OTHER).await.is_err());
    broker.close().await;
}

/// Any bound but the topology's.
const DROPPED_MAX_LENGTH_OTHER: i64 = platform::amqp::topology::DROPPED_MAX_LENGTH + 1;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_the_message_in_hand_finish() {
    struct Slow(AtomicU32, AtomicU32);
    impl Handler for Slow {
        async fn handle(&self, _: &Incoming) -> Result<(), HandlerError> {
            self.1.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(300)).await;
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }
    let ns = TestNamespace::new();
    let broker = ns.broker("it-drain").await;
    let handler = Arc::new(Slow(AtomicU32::new(0), AtomicU32::new(0)));
    let (stop, task) = spawn_consumer(
        &broker,
        "order-processor.orders",
        fast_policy(3),
        handler.clone(),
    );
    publish_event(&publisher(&broker), "store.order.created", b"{}", "slow").await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            handler.1.load(Ordering::SeqCst) == 1
        })
        .await
    );
    stop.cancel();
    task.await.unwrap();
    assert_eq!(
        handler.0.load(Ordering::SeqCst),
        1,
        "the in-flight message finished"
    );
    assert!(
        get_one(&broker, &ns.topology.queue("order-processor.orders"))
            .await
            .is_none(),
        "and was acked"
    );
    broker.close().await;
}
