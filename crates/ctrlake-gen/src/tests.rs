//! Behaviour of the generated stream as ingest and the KPI queries will see it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Read;
use std::sync::OnceLock;

use serde_json::Value;

use super::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn config(contacts: u64, seed: u64, days: u32, format: OutputFormat, gzip: bool) -> GenConfig {
    GenConfig {
        contacts,
        seed,
        days,
        start: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap_or_default(),
        format,
        gzip,
        agents: crate::DEFAULT_AGENTS,
    }
}

fn run(config: &GenConfig) -> Result<(GenSummary, Vec<u8>), GenError> {
    let mut out = Vec::new();
    let summary = generate(config, &mut out)?;
    Ok((summary, out))
}

/// 20k journeys over 3 days, NDJSON, generated once for the tests that inspect content.
fn sample() -> &'static (GenSummary, Vec<u8>) {
    static SAMPLE: OnceLock<(GenSummary, Vec<u8>)> = OnceLock::new();
    SAMPLE.get_or_init(|| {
        run(&config(20_000, 7, 3, OutputFormat::Ndjson, false))
            .unwrap_or_else(|e| panic!("generating the sample failed: {e}"))
    })
}

fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty())
}

fn parse_all(bytes: &[u8]) -> Result<Vec<Value>, serde_json::Error> {
    lines(bytes).map(serde_json::from_slice).collect()
}

/// Milliseconds since the epoch of a CTR timestamp field (null or absent: None).
fn millis(v: &Value) -> Option<i64> {
    let text = v.as_str()?;
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Whole seconds, as durations are counted.
fn secs(v: &Value) -> Option<i64> {
    millis(v).map(|ms| ms.div_euclid(1000))
}

#[test]
fn same_seed_gives_identical_bytes_and_another_seed_differs() -> TestResult {
    let (a_summary, a) = run(&config(2_000, 11, 2, OutputFormat::Ndjson, false))?;
    let (b_summary, b) = run(&config(2_000, 11, 2, OutputFormat::Ndjson, false))?;
    let (_, c) = run(&config(2_000, 12, 2, OutputFormat::Ndjson, false))?;
    assert_eq!(a_summary, b_summary);
    assert!(a == b, "same config must give byte-identical output");
    assert!(a != c, "a different seed must give a different stream");
    Ok(())
}

#[test]
fn every_record_is_an_object_with_id_and_timestamps() -> TestResult {
    let (summary, bytes) = sample();
    assert_eq!(summary.contacts, 20_000);
    assert_eq!(summary.bytes, bytes.len() as u64);
    let records = parse_all(bytes)?;
    assert_eq!(records.len() as u64, summary.records);
    for r in &records {
        let obj = r.as_object().ok_or("record is not a JSON object")?;
        let id = obj.get("ContactId").and_then(Value::as_str).unwrap_or("");
        assert_eq!(id.len(), 36, "ContactId is a uuid: {r}");
        assert!(millis(&r["InitiationTimestamp"]).is_some(), "{id}");
        assert!(millis(&r["LastUpdateTimestamp"]).is_some(), "{id}");
        assert_eq!(r["AWSContactTraceRecordFormatVersion"], "2017-03-10");
        // Present-with-null fields, exactly like real records.
        for key in [
            "Recording",
            "Recordings",
            "TransferredToEndpoint",
            "VoiceIdResult",
        ] {
            assert!(obj.contains_key(key), "{key} missing in {id}");
        }
        assert_eq!(r["ContactDetails"], serde_json::json!({}));
        assert_eq!(r["Campaign"], serde_json::json!({"CampaignId": null}));
    }
    Ok(())
}

#[test]
fn records_per_contact_and_size_match_the_benchmark_profile() {
    let (summary, _) = sample();
    let per_contact = summary.records as f64 / summary.contacts as f64;
    let per_record = summary.bytes as f64 / summary.records as f64;
    assert!(
        (1.1..1.2).contains(&per_contact),
        "{per_contact} records/contact"
    );
    assert!(
        (2_500.0..3_500.0).contains(&per_record),
        "{per_record} B/record"
    );
}

/// Counts of every scenario the brief promises, over the 20k-journey sample.
#[test]
fn every_scenario_occurs_in_20k_contacts() -> TestResult {
    let (summary, bytes) = sample();
    let records = parse_all(bytes)?;
    let by_id: HashMap<&str, &Value> = records
        .iter()
        .filter_map(|r| Some((r["ContactId"].as_str()?, r)))
        .collect();
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    let mut bump = |what: &'static str, yes: bool| {
        if yes {
            *count.entry(what).or_default() += 1;
        }
    };
    let mut queue_names = BTreeSet::new();
    for r in &records {
        let method = r["InitiationMethod"].as_str().unwrap_or("");
        let channel = r["Channel"].as_str().unwrap_or("");
        let queue = &r["Queue"];
        let agent = &r["Agent"];
        let queued = !queue["EnqueueTimestamp"].is_null();
        let handled = queued && !agent.is_null();
        let next = r["NextContactId"].as_str().and_then(|id| by_id.get(id));
        let next_method = next.map(|n| n["InitiationMethod"].as_str().unwrap_or(""));
        let attempts = r["AgentConnectionAttempts"].as_u64().unwrap_or(0);
        let reason = r["DisconnectReason"].as_str().unwrap_or("");
        if let Some(name) = queue["Name"].as_str() {
            queue_names.insert(name.to_owned());
        }
        bump(
            "inbound voice answered",
            method == "INBOUND" && channel == "VOICE" && handled,
        );
        bump(
            "answered with holds",
            handled && agent["NumberOfHolds"].as_u64() > Some(0),
        );
        bump(
            "answered with pause",
            handled && !agent["AgentPauseDuration"].is_null(),
        );
        let abandoned = queued
            && agent.is_null()
            && r["NextContactId"].is_null()
            && r["TransferCompletedTimestamp"].is_null()
            && r["TransferredToEndpoint"].is_null();
        bump("abandoned", abandoned);
        bump("abandoned after a missed offer", abandoned && attempts == 1);
        let ivr = method == "INBOUND" && queue.is_null() && agent.is_null();
        bump(
            "ivr hang-up by flow",
            ivr && reason == "CONTACT_FLOW_DISCONNECT",
        );
        bump(
            "ivr hang-up by customer",
            ivr && reason == "CUSTOMER_DISCONNECT",
        );
        bump("agent transfer out", next_method == Some("TRANSFER"));
        bump(
            "transfer leg",
            method == "TRANSFER" && !r["PreviousContactId"].is_null(),
        );
        bump(
            "external transfer",
            !r["TransferredToEndpoint"].is_null() && !r["TransferCompletedTimestamp"].is_null(),
        );
        bump("queue transfer leg", method == "QUEUE_TRANSFER");
        bump(
            "callback requested",
            agent.is_null() && next_method == Some("CALLBACK"),
        );
        bump("callback answered", method == "CALLBACK" && handled);
        bump(
            "outbound",
            method == "OUTBOUND" && queue.is_null() && !agent.is_null(),
        );
        bump("chat", channel == "CHAT");
        bump("task", channel == "TASK" && method == "API");
        bump("scheduled task", !r["ScheduledTimestamp"].is_null());
        bump("missed offers before answer", handled && attempts > 1);
        bump(
            "milliseconds",
            r["InitiationTimestamp"]
                .as_str()
                .is_some_and(|t| t.contains('.')),
        );
        let addr = r["CustomerEndpoint"]["Address"].as_str().unwrap_or("");
        bump("lost plus", addr.starts_with(' '));
        let (init, disc) = (
            secs(&r["InitiationTimestamp"]),
            secs(&r["DisconnectTimestamp"]),
        );
        if let (Some(init), Some(disc)) = (init, disc) {
            bump(
                "crosses midnight UTC",
                init.div_euclid(86_400) != disc.div_euclid(86_400),
            );
            let tokyo = |s: i64| (s + 9 * 3_600).div_euclid(86_400);
            bump("crosses midnight Tokyo", tokyo(init) != tokyo(disc));
        }
        let attrs = r["Attributes"]
            .as_object()
            .ok_or("Attributes not an object")?;
        bump("large attribute map", attrs.len() >= 100);
        let lower: HashSet<String> = attrs.keys().map(|k| k.to_lowercase()).collect();
        bump("keys differing only in case", lower.len() < attrs.len());
        bump(
            "multi-line value",
            attrs
                .values()
                .any(|v| v.as_str().is_some_and(|s| s.contains('\n'))),
        );
        bump(
            "JSON text value",
            attrs.values().any(|v| {
                v.as_str()
                    .and_then(|s| serde_json::from_str::<Value>(s).ok())
                    .is_some_and(|j| j.is_object())
            }),
        );
    }
    // Re-deliveries: byte-identical to an earlier record. Updates: same ContactId, new bytes.
    let mut seen = HashSet::new();
    let mut duplicates = 0usize;
    let mut versions: HashMap<&str, BTreeSet<i64>> = HashMap::new();
    for (line, r) in lines(bytes).zip(&records) {
        if !seen.insert(line) {
            duplicates += 1;
        }
        let id = r["ContactId"].as_str().unwrap_or("");
        versions
            .entry(id)
            .or_default()
            .insert(millis(&r["LastUpdateTimestamp"]).unwrap_or(0));
    }
    let updated = versions.values().filter(|v| v.len() > 1).count();
    for (what, n) in &count {
        assert!(*n > 0, "{what} never occurs");
    }
    let expected = [
        "abandoned after a missed offer",
        "agent transfer out",
        "callback requested",
        "crosses midnight Tokyo",
        "crosses midnight UTC",
        "external transfer",
        "ivr hang-up by customer",
        "ivr hang-up by flow",
        "keys differing only in case",
        "lost plus",
        "missed offers before answer",
        "queue transfer leg",
        "scheduled task",
    ];
    for what in expected {
        assert!(count.contains_key(what), "{what} never occurs");
    }
    let total = records.len() as f64;
    let share = |what: &str| count.get(what).copied().unwrap_or(0) as f64;
    let journeys = summary.contacts as f64;
    assert!(
        (0.07..0.13).contains(&(updated as f64 / journeys)),
        "updated: {updated}"
    );
    assert!(
        (0.005..0.015).contains(&(duplicates as f64 / total)),
        "duplicates: {duplicates}"
    );
    assert!(
        (0.07..0.13).contains(&(share("milliseconds") / total)),
        "{count:?}"
    );
    assert!(
        (0.01..0.03).contains(&(share("large attribute map") / total)),
        "{count:?}"
    );
    assert!(
        (0.45..0.65).contains(&(share("inbound voice answered") / journeys)),
        "{count:?}"
    );
    assert!(
        (0.05..0.12).contains(&(share("abandoned") / journeys)),
        "{count:?}"
    );
    for name in [
        "サポート窓口",
        "請求・お支払い",
        "Sales",
        "Support",
        "Billing",
    ] {
        assert!(
            queue_names.contains(name),
            "queue {name} missing: {queue_names:?}"
        );
    }
    Ok(())
}

#[test]
fn durations_are_consistent_with_timestamps() -> TestResult {
    let (_, bytes) = sample();
    let mut callbacks = 0;
    for r in parse_all(bytes)? {
        let id = r["ContactId"].as_str().unwrap_or("").to_owned();
        let init = secs(&r["InitiationTimestamp"]).ok_or("no initiation")?;
        let disconnect = secs(&r["DisconnectTimestamp"]).ok_or("no disconnect")?;
        let lut = millis(&r["LastUpdateTimestamp"]).ok_or("no last update")?;
        assert!(disconnect >= init, "{id}");
        assert!(lut > disconnect * 1000, "{id}: emitted before it ended");
        let queue = &r["Queue"];
        if let (Some(enq), Some(deq)) = (
            secs(&queue["EnqueueTimestamp"]),
            secs(&queue["DequeueTimestamp"]),
        ) {
            let duration = queue["Duration"].as_i64().ok_or("no Queue.Duration")?;
            assert!(enq >= init && deq >= enq && disconnect >= deq, "{id}");
            if r["InitiationMethod"] == "CALLBACK" {
                // The callback delay counts as queue time: Duration > Dequeue - Enqueue.
                assert_eq!(duration, deq - init, "{id}");
                assert!(duration > deq - enq, "{id}");
                callbacks += 1;
            } else {
                assert_eq!(duration, deq - enq, "{id}");
            }
        }
        let agent = &r["Agent"];
        if agent.is_null() {
            continue;
        }
        let connected = secs(&agent["ConnectedToAgentTimestamp"]).ok_or("no connect")?;
        let acw_start = secs(&agent["AfterContactWorkStartTimestamp"]).ok_or("no ACW start")?;
        let acw_end = secs(&agent["AfterContactWorkEndTimestamp"]).ok_or("no ACW end")?;
        let n = |k: &str| agent[k].as_i64().unwrap_or(0);
        if let Some(deq) = secs(&queue["DequeueTimestamp"]) {
            assert_eq!(connected, deq, "{id}: answered when dequeued");
        }
        assert_eq!(
            n("AgentInteractionDuration") + n("CustomerHoldDuration") + n("AgentPauseDuration"),
            acw_start - connected,
            "{id}"
        );
        assert_eq!(n("AfterContactWorkDuration"), acw_end - acw_start, "{id}");
        assert!(
            n("LongestHoldDuration") <= n("CustomerHoldDuration"),
            "{id}"
        );
        assert_eq!(
            n("NumberOfHolds") > 0,
            n("CustomerHoldDuration") > 0,
            "{id}"
        );
        assert!(disconnect >= connected && lut > acw_end * 1000, "{id}");
        if let Some(done) = secs(&r["TransferCompletedTimestamp"]) {
            assert_eq!(
                done, acw_start,
                "{id}: the agent leaves when the transfer completes"
            );
        }
    }
    assert!(callbacks > 0);
    Ok(())
}

#[test]
fn legs_link_by_previous_next_and_initial_ids() -> TestResult {
    let (_, bytes) = sample();
    let records = parse_all(bytes)?;
    let by_id: HashMap<&str, &Value> = records
        .iter()
        .filter_map(|r| Some((r["ContactId"].as_str()?, r)))
        .collect();
    let mut chains = 0;
    for r in &records {
        let Some(next_id) = r["NextContactId"].as_str() else {
            continue;
        };
        let next = by_id.get(next_id).ok_or("NextContactId points nowhere")?;
        let id = r["ContactId"].as_str().ok_or("no id")?;
        assert_eq!(next["PreviousContactId"].as_str(), Some(id));
        let initial = r["InitialContactId"].as_str().unwrap_or(id);
        assert_eq!(next["InitialContactId"].as_str(), Some(initial));
        assert_eq!(next["CustomerEndpoint"], r["CustomerEndpoint"]);
        assert!(millis(&next["InitiationTimestamp"]) >= millis(&r["InitiationTimestamp"]));
        chains += 1;
    }
    assert!(chains > 100, "{chains} chained legs");
    Ok(())
}

#[test]
fn stream_is_ordered_by_last_update_except_redeliveries() -> TestResult {
    let (_, bytes) = sample();
    let mut seen = HashSet::new();
    let mut latest = i64::MIN;
    let mut initiation_inversions = 0;
    let mut last_init = i64::MIN;
    for line in lines(bytes) {
        let r: Value = serde_json::from_slice(line)?;
        let lut = millis(&r["LastUpdateTimestamp"]).ok_or("no last update")?;
        let init = millis(&r["InitiationTimestamp"]).ok_or("no initiation")?;
        if seen.insert(line) {
            assert!(lut >= latest, "{} emitted out of order", r["ContactId"]);
            latest = lut;
        }
        if init < last_init {
            initiation_inversions += 1;
        }
        last_init = init;
    }
    // Like a real stream: ordered by emission, so not by initiation.
    assert!(initiation_inversions > 1_000, "{initiation_inversions}");
    Ok(())
}

#[test]
fn updates_come_later_with_changed_attributes() -> TestResult {
    let (_, bytes) = sample();
    // Per ContactId: every LastUpdateTimestamp delivered so far, and the newest version.
    let mut seen: HashMap<String, (BTreeSet<i64>, Value)> = HashMap::new();
    let (mut updates, mut days_later, mut same_second) = (0, 0, 0);
    for r in parse_all(bytes)? {
        let id = r["ContactId"].as_str().unwrap_or("").to_owned();
        let new = millis(&r["LastUpdateTimestamp"]).ok_or("no last update")?;
        let Some((luts, newest)) = seen.get_mut(&id) else {
            seen.insert(id, (BTreeSet::from([new]), r));
            continue;
        };
        if !luts.insert(new) {
            continue; // a re-delivery, possibly arriving after a newer version
        }
        updates += 1;
        let old = millis(&newest["LastUpdateTimestamp"]).ok_or("no last update")?;
        assert!(
            new > old,
            "{id}: a later version must have a later LastUpdateTimestamp"
        );
        assert_ne!(newest["Attributes"], r["Attributes"], "{id}");
        assert_eq!(newest["Queue"], r["Queue"], "{id}: only attributes change");
        if new - old > 86_400_000 {
            days_later += 1;
        }
        if new / 1000 == old / 1000 {
            same_second += 1;
        }
        *newest = r;
    }
    assert!(
        updates > 1_500 && days_later > 100 && same_second > 10,
        "{updates} updates, {days_later} a day or more later, {same_second} in the same second"
    );
    Ok(())
}

#[test]
fn firehose_records_are_concatenated_and_split_back() -> TestResult {
    let (ndjson_summary, ndjson) = run(&config(3_000, 5, 2, OutputFormat::Ndjson, false))?;
    let (summary, firehose) = run(&config(3_000, 5, 2, OutputFormat::Firehose, false))?;
    assert!(
        !firehose.contains(&b'\n'),
        "Firehose objects have no delimiter"
    );
    assert!(firehose.windows(2).any(|w| w == b"}{"));
    let stripped: Vec<u8> = ndjson.iter().copied().filter(|&b| b != b'\n').collect();
    assert!(
        stripped == firehose,
        "same records, only the framing differs"
    );
    let split: Vec<Value> = serde_json::Deserializer::from_slice(&firehose)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()?;
    assert_eq!(split.len() as u64, summary.records);
    assert_eq!(split, parse_all(&ndjson)?);
    assert_eq!(summary.bytes + summary.records, ndjson_summary.bytes);
    Ok(())
}

#[test]
fn gzip_output_decodes_to_the_plain_bytes() -> TestResult {
    let (plain_summary, plain) = run(&config(2_000, 3, 1, OutputFormat::Firehose, false))?;
    let (summary, gz) = run(&config(2_000, 3, 1, OutputFormat::Firehose, true))?;
    assert_eq!(summary, plain_summary, "bytes are counted before gzip");
    assert!(gz.len() < plain.len() / 4);
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice()).read_to_end(&mut decoded)?;
    assert!(decoded == plain);
    Ok(())
}

#[test]
fn zero_contacts_is_an_empty_stream_and_zero_days_an_error() -> TestResult {
    let (summary, out) = run(&config(0, 1, 1, OutputFormat::Ndjson, false))?;
    assert_eq!((summary.records, summary.bytes, out.len()), (0, 0, 0));
    let (_, gz) = run(&config(0, 1, 1, OutputFormat::Ndjson, true))?;
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice()).read_to_end(&mut decoded)?;
    assert!(decoded.is_empty());
    let err = run(&config(10, 1, 0, OutputFormat::Ndjson, false));
    assert!(matches!(err, Err(GenError::InvalidConfig(_))), "{err:?}");
    Ok(())
}

#[test]
fn write_failures_report_what_was_written() {
    struct Full;
    impl std::io::Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let err = generate(&config(5_000, 1, 1, OutputFormat::Ndjson, false), Full);
    match err {
        Err(GenError::Io {
            records, source, ..
        }) => {
            assert!(records > 0, "the buffer fills before the first failure");
            assert_eq!(source.to_string(), "disk full");
        }
        other => panic!("expected an I/O error, got {other:?}"),
    }
}
