//! The consumer's Prometheus endpoint: `GET /metrics` on the address given, in the OpenMetrics
//! text format (`prometheus-client`), built from the live [`ConsumerStatus`] at every scrape.
//!
//! Per shard: records, bytes, dead letters, flushes, files, `MillisBehindLatest`, the age of
//! the checkpoint, iterators renewed and calls retried — what an operator alerts on (lag
//! growing, checkpoints not moving, dead letters appearing).

use std::net::SocketAddr;
use std::sync::Arc;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::consumer::ConsumerStatus;

type ShardLabels = Vec<(&'static str, String)>;

/// A counter: its name (after the prefix), help text, and value from a shard's status.
type CounterSpec = (&'static str, &'static str, fn(&crate::ShardStatus) -> u64);

/// The metrics of every shard as OpenMetrics text.
pub fn render(status: &ConsumerStatus, stream: &str) -> String {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut registry = Registry::with_prefix("ctrlake_kinesis");
    let counters: [CounterSpec; 8] = [
        (
            "records",
            "Records read and written (as rows or dead letters)",
            |s| s.records,
        ),
        (
            "bytes",
            "Bytes of Parquet and dead-letter files written",
            |s| s.bytes,
        ),
        ("dead_letters", "Records dead-lettered", |s| s.dead_letters),
        (
            "flushes",
            "Flushes (files written, then the checkpoint moved)",
            |s| s.flushes,
        ),
        ("files", "Lake files written", |s| s.files),
        (
            "iterators_renewed",
            "Shard iterators taken again after they expired",
            |s| s.iterators_renewed,
        ),
        (
            "retries",
            "Calls retried after throttling or a network error",
            |s| s.retries,
        ),
        (
            "retention_gaps",
            "Checkpointed records the stream no longer held: records may have been lost",
            |s| s.retention_gaps,
        ),
    ];
    let shards = status.snapshot();
    let labels = |shard: &str| -> ShardLabels {
        vec![("stream", stream.to_owned()), ("shard", shard.to_owned())]
    };
    for (name, help, value) in counters {
        let family = Family::<ShardLabels, Counter>::default();
        for (shard, state) in &shards {
            family.get_or_create(&labels(shard)).inc_by(value(state));
        }
        registry.register(name, help, family);
    }
    let lag = Family::<ShardLabels, Gauge>::default();
    let age = Family::<ShardLabels, Gauge>::default();
    let closed = Family::<ShardLabels, Gauge>::default();
    for (shard, state) in &shards {
        if let Some(millis) = state.millis_behind {
            lag.get_or_create(&labels(shard)).set(millis);
        }
        if let Some(written) = state.checkpoint_ms {
            age.get_or_create(&labels(shard))
                .set((now_ms - written).max(0) / 1000);
        }
        closed
            .get_or_create(&labels(shard))
            .set(i64::from(state.closed));
    }
    registry.register(
        "millis_behind_latest",
        "MillisBehindLatest of the shard's last GetRecords answer",
        lag,
    );
    registry.register(
        "checkpoint_age_seconds",
        "Seconds since the shard's checkpoint last moved",
        age,
    );
    registry.register(
        "shard_closed",
        "1 once a closed shard is read to its end",
        closed,
    );
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut text, &registry);
    text
}

/// Serves `GET /metrics` on `address` until `shutdown` turns true. Binding fails here, before
/// the consumer starts, so that a taken port is reported at once.
pub async fn serve(
    address: SocketAddr,
    status: Arc<ConsumerStatus>,
    stream: String,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use axum::http::header::CONTENT_TYPE;
    let listener = tokio::net::TcpListener::bind(address).await?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let status = Arc::clone(&status);
            let stream = stream.clone();
            async move {
                (
                    [(
                        CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    render(&status, &stream),
                )
            }
        }),
    );
    Ok(tokio::spawn(async move {
        let stopped = async move {
            while !*shutdown.borrow() {
                if shutdown.changed().await.is_err() {
                    break;
                }
            }
        };
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await;
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shard_has_its_counters_and_gauges() {
        let status = ConsumerStatus::default();
        status.update("shardId-000000000001", |s| {
            s.records = 42;
            s.dead_letters = 2;
            s.millis_behind = Some(1500);
            s.checkpoint_ms = Some(chrono::Utc::now().timestamp_millis() - 3_000);
        });
        let text = render(&status, "ctr");
        for line in [
            r#"ctrlake_kinesis_records_total{stream="ctr",shard="shardId-000000000001"} 42"#,
            r#"ctrlake_kinesis_dead_letters_total{stream="ctr",shard="shardId-000000000001"} 2"#,
            r#"ctrlake_kinesis_millis_behind_latest{stream="ctr",shard="shardId-000000000001"} 1500"#,
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        assert!(text.contains("ctrlake_kinesis_checkpoint_age_seconds{"));
        assert!(text.ends_with("# EOF\n"));
    }
}
