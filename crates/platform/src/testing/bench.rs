//! What every benchmark needs beside its own load: the broker's raw confirmed-publish rate
//! measured in the same run (the yardstick throughput is reported against), percentiles and
//! a process's peak resident memory.

use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};

/// The broker's own rate: persistent messages of `body_len` bytes into a fresh quorum queue,
/// `in_flight` publisher confirms outstanding, for `secs` seconds. The queue is deleted
/// afterwards.
pub async fn raw_publish_rate(
    amqp_url: &str,
    body_len: usize,
    in_flight: usize,
    secs: u64,
) -> anyhow::Result<f64> {
    let conn = Connection::connect(amqp_url, ConnectionProperties::default()).await?;
    let ch = conn.create_channel().await?;
    let queue = format!("bench-raw-{}-{}", std::process::id(), uuid::Uuid::new_v4());
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    ch.queue_declare(
        queue.as_str().into(),
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        args,
    )
    .await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    let body = vec![b'x'; body_len];
    let props = BasicProperties::default().with_delivery_mode(2);
    let start = Instant::now();
    let mut pending = FuturesUnordered::new();
    let mut confirmed = 0u64;
    while start.elapsed() < Duration::from_secs(secs) {
        while pending.len() < in_flight {
            let confirm = ch
                .basic_publish(
                    "".into(),
                    queue.as_str().into(),
                    BasicPublishOptions::default(),
                    &body,
                    props.clone(),
                )
                .await?;
            pending.push(confirm);
        }
        if let Some(result) = pending.next().await {
            result?;
            confirmed += 1;
        }
    }
    while let Some(result) = pending.next().await {
        result?;
        confirmed += 1;
    }
    let rate = confirmed as f64 / start.elapsed().as_secs_f64();
    ch.queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await?;
    let _ = conn.close(200, "bench done".into()).await;
    Ok(rate)
}

/// The `q` quantile (0.0–1.0) of ascending `sorted` durations, in milliseconds; 0 when empty.
pub fn percentile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * q.clamp(0.0, 1.0)).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

/// Peak resident memory of process `pid` in MB (`VmHWM`), 0 when it cannot be read.
pub fn peak_rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_from_the_sorted_samples() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&samples, 0.0), 1.0);
        assert_eq!(percentile_ms(&samples, 0.5), 51.0);
        assert_eq!(percentile_ms(&samples, 0.99), 99.0);
        assert_eq!(percentile_ms(&samples, 1.0), 100.0);
        assert_eq!(percentile_ms(&[], 0.5), 0.0);
    }

    #[test]
    fn peak_rss_of_this_process_is_read() {
        assert!(peak_rss_mb(std::process::id()) > 0.0);
    }
}
