//! `bootstrap`: the Lambda function for `provided.al2023`. Reads its configuration once (an
//! invalid one fails the init phase with one log line), then serves invocations: one JSON log
//! line each, `batchItemFailures` for shard batches that could not be written.

use std::process::ExitCode;

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;
use ctrlake_lambda::{Config, IngestFunction};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let config = match Config::from_env(|name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("ctrlake-lambda: invalid configuration: {error}");
            return ExitCode::FAILURE;
        }
    };
    let function = IngestFunction::new(config);
    let function = &function;
    let handler = service_fn(move |event: LambdaEvent<KinesisEvent>| async move {
        let (response, log) = function.handle(&event.payload).await;
        match serde_json::to_string(&log) {
            Ok(line) => println!("{line}"),
            Err(error) => eprintln!("ctrlake-lambda: log line: {error}"),
        }
        Ok::<KinesisEventResponse, lambda_runtime::Error>(response)
    });
    match lambda_runtime::run(handler).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ctrlake-lambda: the runtime stopped: {error}");
            ExitCode::FAILURE
        }
    }
}
