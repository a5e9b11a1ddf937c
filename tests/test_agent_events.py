"""Agent events through `ctrlake ingest files`: routed by their shape into `agent_events/`
beside the CTRs of the same run, read back by pyarrow and DuckDB, bad ones dead-lettered with
their bytes."""

from __future__ import annotations

import json

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds

from conftest import CTR_FILES, FIXTURES, ingest, read_dead_letters, run_ctrlake

EVENTS = FIXTURES / "agent-events" / "aws-examples.ndjson"


def agent_events(lake) -> pa.Table:
    return ds.dataset(lake / "agent_events", format="parquet", partitioning="hive").to_table()


def test_agent_events_and_ctrs_ingest_together_into_their_tables(tmp_path):
    lake = tmp_path / "lake"
    ctr_lines = sum(1 for p in CTR_FILES for line in p.read_text().splitlines() if line.strip())
    summary = ingest([EVENTS, *CTR_FILES], lake)
    assert summary["records read"] == 5 + ctr_lines
    table = agent_events(lake)
    assert table.num_rows == 5
    assert sorted(table.column("event_id").to_pylist()) == [f"EventId-{i}" for i in range(1, 6)]
    assert sorted(set(table.column("dt").to_pylist())) == ["2019-01-02", "2019-05-25", "2019-08-13"]
    schema = table.schema
    assert schema.field("event_timestamp").type == pa.timestamp("ms", tz="UTC")
    contact = schema.field("contacts").type.value_type
    assert pa.types.is_struct(contact)
    assert contact.field("state_start_timestamp").type == pa.timestamp("ms", tz="UTC")
    # The CTR table is the one it was: only CTRs in it.
    count = run_ctrlake("sql", "--lake", lake, "--format", "csv",
                        "SELECT count(*) AS n FROM ctr_raw").stdout.decode().splitlines()[1]
    assert int(count) == ctr_lines - len(read_dead_letters(lake))


def test_duckdb_reads_the_snapshots_lists_of_structs(tmp_path):
    lake = tmp_path / "lake"
    ingest([EVENTS], lake)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    rows = con.execute(f"""
        SELECT event_id, c.state, c.state_start_timestamp, c.queue_name
        FROM read_parquet('{lake}/agent_events/*/*.parquet', hive_partitioning = true),
             unnest(contacts) AS u(c)
        ORDER BY event_id""").fetchall()
    assert [(r[0], r[1], r[3]) for r in rows] == [("EventId-1", "ENDED", "BasicQueue")]
    assert rows[0][2].isoformat() == "2019-05-25T18:55:27.017000+00:00"
    previous = con.execute(f"""
        SELECT event_id, previous_contacts[1].state, previous_status_type,
               len(previous_contacts), previous_contacts IS NULL
        FROM read_parquet('{lake}/agent_events/*/*.parquet')
        ORDER BY event_id""").fetchall()
    assert previous == [
        ("EventId-1", "CONNECTED", None, 1, False),
        ("EventId-2", "ENDED", None, 1, False),
        ("EventId-3", None, "OFFLINE", 0, False),
        ("EventId-4", "ERROR", "ROUTABLE", 1, False),
        ("EventId-5", None, None, None, True),
    ]
    slots = con.execute(f"""
        SELECT s.channel, s.available_slots, s.maximum_slots
        FROM read_parquet('{lake}/agent_events/*/*.parquet'), unnest(concurrency) AS u(s)
        WHERE event_id = 'EventId-3'""").fetchall()
    assert slots == [("VOICE", 1, 1), ("CHAT", 3, 3)]
    raw = con.execute(f"""
        SELECT raw_json FROM read_parquet('{lake}/agent_events/*/*.parquet')
        WHERE event_id = 'EventId-5'""").fetchall()[0][0]
    assert json.loads(raw)["CurrentAgentSnapshot"]["Proficiency"][0]["Value"] == "Japanese"


def test_a_bad_agent_event_is_dead_lettered_and_the_rest_ingested(tmp_path):
    events = [json.loads(line) for line in EVENTS.read_text().splitlines()]
    events[1]["AgentARN"] = ""
    events[3]["CurrentAgentSnapshot"]["Contacts"] = "none"
    source = tmp_path / "events.ndjson"
    lines = [json.dumps(e, separators=(",", ":")) for e in events]
    source.write_text("\n".join(lines) + "\n")
    lake = tmp_path / "lake"
    ingest([source], lake)
    assert sorted(agent_events(lake).column("event_id").to_pylist()) == [
        "EventId-1", "EventId-3", "EventId-5"]
    letters = sorted(read_dead_letters(lake), key=lambda d: d["source_offset"])
    assert [d["reason"] for d in letters] == ["missing_event_key", "bad_nesting"]
    assert "`AgentARN`" in letters[0]["detail"]
    assert "`CurrentAgentSnapshot.Contacts`" in letters[1]["detail"]
    assert letters[0]["record"] == lines[1]


SCRIPTED = FIXTURES / "agent-events" / "scripted-day.ndjson"
WAITING = FIXTURES / "agent-events" / "scripted-day-ctr.ndjson"
EXPECTED = FIXTURES / "expected" / "agent_activity_asia_tokyo.csv"
ACTIVITIES = ["available_idle_s", "connecting_s", "on_contact_s", "after_contact_work_s",
              "missed_state_s", "non_productive_s"]


def activity_report(lake) -> str:
    return run_ctrlake("report", "agent-activity", "--lake", lake, "--from", "2026-03-01",
                       "--to", "2026-03-02", "--tz", "Asia/Tokyo", "--format", "csv"
                       ).stdout.decode()


def test_the_scripted_day_gives_the_hand_worked_activity(tmp_path):
    lake = tmp_path / "lake"
    ingest([SCRIPTED, WAITING], lake)
    assert activity_report(lake) == EXPECTED.read_text()


def test_order_copies_and_heartbeats_do_not_change_the_activity(tmp_path):
    import random

    lines = SCRIPTED.read_text().splitlines()
    variants = {
        "shuffled": random.Random(7).sample(lines, len(lines)),
        "every event twice, in two files": lines + lines[::-1],
        "no heartbeats": [line for line in lines if '"EventType":"HEART_BEAT"' not in line],
    }
    assert len(variants["no heartbeats"]) < len(lines)
    for name, variant in variants.items():
        source = tmp_path / f"{len(name)}.ndjson"
        source.write_text("\n".join(variant) + "\n")
        lake = tmp_path / f"lake-{len(name)}"
        ingest([source, WAITING], lake)
        assert activity_report(lake) == EXPECTED.read_text(), name


def test_the_activities_tile_each_agents_online_time():
    import csv
    import io
    from decimal import Decimal

    for row in csv.DictReader(io.StringIO(EXPECTED.read_text())):
        assert sum(Decimal(row[c]) for c in ACTIVITIES) == Decimal(row["online_s"]), row


def test_a_lake_without_agent_events_has_no_activity_rows(tmp_path):
    lake = tmp_path / "lake"
    ingest(CTR_FILES, lake)
    out = run_ctrlake("report", "agent-activity", "--lake", lake, "--date", "2026-03-02",
                      "--tz", "Asia/Tokyo", "--format", "csv").stdout.decode()
    assert out.splitlines() == [EXPECTED.read_text().splitlines()[0]]
