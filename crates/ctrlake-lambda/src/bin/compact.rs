//! `compact`: the scheduled compaction function for `provided.al2023` (deployed as its own
//! function's `bootstrap`). One JSON log line per invocation; a failed run returns an error so
//! that the schedule's retry policy and alarms see it.

use std::process::ExitCode;

use ctrlake_lambda::compaction::{
    CompactionConfig, CompactionLog, CompactionRequest, compact_scheduled,
};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let config = match CompactionConfig::from_env(|name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("ctrlake-compact: invalid configuration: {error}");
            return ExitCode::FAILURE;
        }
    };
    let config = &config;
    let handler = service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        // A schedule's own event (or `{}`) asks for the defaults; a request that is not valid
        // fails the invocation instead of running over the default days.
        let log = match CompactionRequest::from_payload(event.payload) {
            Ok(request) => {
                compact_scheduled(config, &request, chrono::Utc::now().date_naive()).await
            }
            Err(error) => CompactionLog {
                error: Some(error),
                ..CompactionLog::default()
            },
        };
        let line = serde_json::to_string(&log).unwrap_or_else(|e| format!("{{\"log\":\"{e}\"}}"));
        println!("{line}");
        match log.error {
            Some(error) => Err(lambda_runtime::Error::from(error)),
            None => Ok(serde_json::json!({
                "files_before": log.files_before,
                "files_after": log.files_after,
                "duplicate_rows_removed": log.duplicate_rows_removed,
            })),
        }
    });
    match lambda_runtime::run(handler).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ctrlake-compact: the runtime stopped: {error}");
            ExitCode::FAILURE
        }
    }
}
