//! A Kinesis API on 127.0.0.1 for the Python suite's tests of `ctrlake ingest kinesis` (the
//! ferrokinesis emulator, in memory). `cargo test` builds it; the tests start it:
//!
//!     local_kinesis [PORT]      # prints "listening on http://127.0.0.1:PORT", serves until
//!                               # stdin closes or the process is killed
//!
//! Streams are created instantly; iterators live 5 minutes, as on AWS.

use std::io::Read;

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("local_kinesis: cannot start a runtime: {error}");
            std::process::exit(1);
        }
    };
    let served = runtime.block_on(async move {
        let options = ferrokinesis::store::StoreOptions {
            create_stream_ms: 0,
            delete_stream_ms: 0,
            update_stream_ms: 0,
            shard_limit: 64,
            ..Default::default()
        };
        let (app, _store) = ferrokinesis::create_app(options);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        println!("listening on http://{}", listener.local_addr()?);
        // Stop when the parent closes stdin (or dies): no server outlives its test.
        let stdin_closed = tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        });
        tokio::select! {
            served = axum::serve(listener, app) => served,
            _ = stdin_closed => Ok(()),
        }
    });
    if let Err(error) = served {
        eprintln!("local_kinesis: {error}");
        std::process::exit(1);
    }
}
