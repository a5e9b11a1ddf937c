//! Measures generation speed: `cargo run --release -p ctrlake-gen --example throughput -- [contacts] [days] [out.ndjson]`.
//! Without an output path the stream goes to a sink, so only generation is timed; a path
//! ending in `.gz` is written gzip-compressed.

use std::time::Instant;

use ctrlake_gen::{GenConfig, OutputFormat, generate};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let contacts = args.next().map_or(Ok(200_000), |a| a.parse())?;
    let days = args.next().map_or(Ok(7), |a| a.parse())?;
    let path = args.next();
    let config = GenConfig {
        contacts,
        seed: 42,
        days,
        start: chrono::NaiveDate::from_ymd_opt(2026, 3, 2).ok_or("bad date")?,
        format: OutputFormat::Ndjson,
        gzip: path.as_deref().is_some_and(|p| p.ends_with(".gz")),
        agents: ctrlake_gen::DEFAULT_AGENTS,
    };
    let started = Instant::now();
    let summary = match path {
        Some(path) => generate(&config, std::fs::File::create(path)?)?,
        None => generate(&config, std::io::sink())?,
    };
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} contacts -> {} records ({:.3} records/contact), {} bytes ({:.0} B/record) in {:.2} s: {:.0} MB/s, {:.0} records/s",
        summary.contacts,
        summary.records,
        summary.records as f64 / summary.contacts.max(1) as f64,
        summary.bytes,
        summary.bytes as f64 / summary.records.max(1) as f64,
        secs,
        summary.bytes as f64 / secs / 1e6,
        summary.records as f64 / secs
    );
    Ok(())
}
