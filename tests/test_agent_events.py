"""Agent events through `ctrlake ingest files`: routed by their shape into `agent_events/`
beside the CTRs of the same run, read back by pyarrow and DuckDB, bad ones dead-lettered with
their bytes."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

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
                      "--tz", "Asia/Tokyo", "--format", "csv", "--allow-empty").stdout.decode()
    assert out.splitlines() == [EXPECTED.read_text().splitlines()[0]]


def random_day(seed: int) -> tuple[list[dict], list[dict]]:
    """A random day of a few agents built with the scripted day's agent model: calls, chats
    that overlap, missed and failed offers, breaks, profile changes, heartbeats (some with
    AWS's self-contradicting previous snapshot), times with milliseconds, one agent across
    midnight (Tokyo), and contacts waiting in the queues meanwhile."""
    import random
    import sys

    sys.path.insert(0, str(FIXTURES / "agent-events"))
    from make_scripted_day import INSTANCE, SALES, SUPPORT, Agent

    rng = random.Random(seed)
    day_start = 1772377200000  # 2026-03-02T00:00:00+09:00

    def stamp(at_ms: int) -> str:
        return datetime.datetime.fromtimestamp(at_ms / 1000, datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%S.") + f"{at_ms % 1000:03d}Z"

    events, ctrs = [], []
    for n in range(rng.randint(2, 4)):
        agent = Agent(f"agent{n}.seed{seed}")
        t = day_start + (rng.randint(-40, -5) if n == 0 else rng.randint(480, 600)) * 60_000
        t += rng.randint(0, 999)
        agent.set_status("LOGIN", stamp(t), "Offline")
        t += rng.randint(5_000, 90_000)
        agent.set_status("STATE_CHANGE", stamp(t), "Available")
        serial = 0

        def gap(low=2_000, high=300_000):
            nonlocal t
            t += rng.randint(low, high)
            return stamp(t)

        for _ in range(rng.randint(6, 14)):
            action = rng.choice(["call", "chats", "missed", "error", "break", "profile",
                                 "heartbeats"])
            serial += 1
            cid = f"s{seed}-a{n}-{serial}"
            if action == "call":
                agent.contact(gap(), cid, "CONNECTING")
                agent.contact(gap(1_000, 20_000), cid, "CONNECTED")
                if rng.random() < 0.5:
                    agent.contact(gap(), cid, "CONNECTED_ONHOLD")
                    agent.contact(gap(), cid, "CONNECTED")
                agent.contact(gap(), cid, "ENDED")
                agent.leave(gap(1_000, 90_000), cid)
            elif action == "chats":
                other = cid + "b"
                agent.contact(gap(), cid, "CONNECTING", "CHAT")
                agent.contact(gap(500, 9_000), cid, "CONNECTED", "CHAT")
                agent.contact(gap(), other, "CONNECTING", "CHAT")
                agent.contact(gap(500, 9_000), other, "CONNECTED", "CHAT")
                agent.contact(gap(), cid, "ENDED", "CHAT")
                agent.leave(gap(500, 60_000), cid)
                agent.contact(gap(), other, "ENDED", "CHAT")
                agent.leave(gap(500, 60_000), other)
            elif action == "missed":
                agent.contact(gap(), cid, "CONNECTING")
                agent.contact(gap(5_000, 20_000), cid, "MISSED")
                at = gap(5_000, 200_000)

                def cleared(at=at, cid=cid):
                    agent.status = ("Available", at)
                    agent.contacts.pop(cid)
                agent.emit("STATE_CHANGE", at, cleared)
            elif action == "error":
                agent.contact(gap(), cid, "CONNECTING")
                agent.contact(gap(1_000, 10_000), cid, "ERROR")
                agent.leave(gap(1_000, 60_000), cid)
            elif action == "break":
                agent.set_status("STATE_CHANGE", gap(), "Break")
                agent.set_status("STATE_CHANGE", gap(60_000, 900_000), "Available")
            elif action == "profile":
                profile = "Sales" if agent.profile == "Support" else "Support"
                agent.emit("STATE_CHANGE", gap(), lambda p=profile: setattr(agent, "profile", p))
            else:
                for _ in range(rng.randint(1, 3)):
                    agent.heartbeat(gap(120_000, 120_000))
                    if rng.random() < 0.5:  # AWS's sample: a previous snapshot saying Offline
                        previous = agent.events[-1]["PreviousAgentSnapshot"]
                        previous["AgentStatus"] = dict(previous["AgentStatus"], Name="Offline",
                                                       Type="OFFLINE")
        agent.set_status("LOGOUT", gap(), "Offline")
        if rng.random() < 0.5:
            agent.heartbeat(gap(60_000, 600_000))
        events.extend(agent.events)
    for i in range(rng.randint(10, 25)):
        start = day_start + rng.randint(-60, 16 * 60) * 60_000 + rng.randint(0, 59_999)
        end = start + rng.randint(1_000, 600_000)
        queue = rng.choice([SUPPORT, SALES])
        ctrs.append({
            "ContactId": f"w{seed}-{i}", "Channel": rng.choice(["VOICE", "CHAT"]),
            "InitiationMethod": "INBOUND", "InitiationTimestamp": stamp(start),
            "LastUpdateTimestamp": stamp(end), "DisconnectTimestamp": stamp(end),
            "Queue": {"ARN": queue["ARN"], "Name": queue["Name"], "EnqueueTimestamp": stamp(start),
                      "DequeueTimestamp": stamp(end), "Duration": (end - start) // 1000}})
    assert INSTANCE in events[0]["AgentARN"]
    return events, ctrs


@pytest.mark.parametrize("seed", range(8))
def test_agent_activity_equals_an_independent_implementation(tmp_path, seed):
    import csv
    import io
    import random

    from agent_activity_reference import activity_report as reference

    events, ctrs = random_day(seed)
    lines = [json.dumps(e, separators=(",", ":")) for e in events]
    delivered = random.Random(seed).sample(lines, len(lines)) + lines[: len(lines) // 5]
    source = tmp_path / "events.ndjson"
    source.write_text("\n".join(delivered) + "\n")
    waiting = tmp_path / "ctr.ndjson"
    waiting.write_text("".join(json.dumps(c) + "\n" for c in ctrs))
    lake = tmp_path / "lake"
    ingest([source, waiting], lake)
    for tz in ("Asia/Tokyo", "UTC"):
        report = list(csv.DictReader(io.StringIO(run_ctrlake(
            "report", "agent-activity", "--lake", lake, "--from", "2026-03-01", "--to",
            "2026-03-02", "--tz", tz, "--format", "csv").stdout.decode())))
        expected = reference(events, ctrs, tz, datetime.date(2026, 3, 1),
                             datetime.date(2026, 3, 2))
        assert report, "the day has activity"
        assert report == expected, (seed, tz)
        for row in report:
            assert sum(Decimal(row[c]) for c in ACTIVITIES) == Decimal(row["online_s"]), row


def test_generated_agent_events_agree_with_the_generated_ctrs(tmp_path):
    # `gen --agent-events` writes what the agents' side of the same contacts looks like: every
    # contact an agent handled (report agents) was connected to them (report agent-activity).
    import csv
    import io

    ctr, events = tmp_path / "ctr.ndjson", tmp_path / "agents.ndjson"
    run_ctrlake("gen", "--contacts", "400", "--days", "1", "--start", "2026-03-02",
                "--out", ctr, "--agent-events", events)
    again = tmp_path / "again.ndjson"
    run_ctrlake("gen", "--contacts", "400", "--days", "1", "--start", "2026-03-02",
                "--out", tmp_path / "ctr2.ndjson", "--agent-events", again)
    assert events.read_bytes() == again.read_bytes(), "deterministic"
    lake = tmp_path / "lake"
    summary = ingest([ctr, events], lake)
    assert summary["records dead-lettered"] == 0
    args = ["--lake", lake, "--date", "2026-03-02", "--tz", "Asia/Tokyo", "--format", "csv"]
    handled = {(r["date"], r["agent"]): r["contacts_handled"] for r in csv.DictReader(io.StringIO(
        run_ctrlake("report", "agents", *args).stdout.decode()))}
    activity = list(csv.DictReader(io.StringIO(
        run_ctrlake("report", "agent-activity", *args).stdout.decode())))
    assert len(handled) > 20
    assert {(r["date"], r["agent"]): r["contacts_connected"] for r in activity
            if r["contacts_connected"] != "0"} == handled
    for row in activity:
        assert sum(Decimal(row[c]) for c in ACTIVITIES) == Decimal(row["online_s"]), row
    types = {json.loads(line)["EventType"] for line in events.read_text().splitlines()}
    assert types == {"LOGIN", "STATE_CHANGE", "HEART_BEAT", "LOGOUT"}
    # And the independent implementation agrees on a busy generated day: its many waits
    # overlap in queues where agents sit idle (phantom time), which the random days rarely do.
    from agent_activity_reference import activity_report as reference

    versions = [json.loads(line) for line in ctr.read_text().splitlines()]
    newest = {}
    for record in versions:
        known = newest.get(record["ContactId"])
        if known is None or record["LastUpdateTimestamp"] > known["LastUpdateTimestamp"]:
            newest[record["ContactId"]] = record
    waiting = [r for r in newest.values()
               if (r.get("Queue") or {}).get("ARN") and (r.get("Queue") or {}).get("EnqueueTimestamp")]
    expected = reference([json.loads(line) for line in events.read_text().splitlines()], waiting,
                         "Asia/Tokyo", datetime.date(2026, 3, 2), datetime.date(2026, 3, 2))
    assert activity == expected
    assert sum(Decimal(r["phantom_available_s"]) > 0 for r in activity) > 10


def test_activity_by_routing_profile_and_hierarchy_counts_time_where_the_agent_was(tmp_path):
    # Worked out by hand from the scripted day (fixtures/expected/README.md): sato moves from
    # Support to Sales at 10:20, so her last 600 idle seconds and w4's 120 s of phantom time
    # count under Sales; everything else is Support. All three agents are in Tokyo (Level1).
    lake = tmp_path / "lake"
    ingest([SCRIPTED, WAITING], lake)

    def report(group: str) -> list[str]:
        return run_ctrlake("report", "agent-activity", "--lake", lake, "--from", "2026-03-01",
                           "--to", "2026-03-02", "--tz", "Asia/Tokyo", "--format", "csv",
                           "--group-by", group).stdout.decode().splitlines()

    header = ("date,{},agents,online_s,available_idle_s,connecting_s,on_contact_s,"
              "after_contact_work_s,missed_state_s,non_productive_s,occupancy_pct,"
              "contacts_connected,offers_missed,phantom_available_s")
    assert report("routing_profile") == [
        header.format("routing_profile"),
        "2026-03-01,Support,1,600.000,600.000,0.000,0.000,0.000,0.000,0.000,0.000,0,0,0.000",
        "2026-03-02,Sales,1,600.000,600.000,0.000,0.000,0.000,0.000,0.000,0.000,0,0,120.000",
        "2026-03-02,Support,3,7800.000,4680.000,50.000,1315.000,110.000,145.000,1500.000,"
        "23.342,4,1,360.000",
    ]
    assert report("hierarchy_level1") == [
        header.format("hierarchy_level1"),
        "2026-03-01,Tokyo,1,600.000,600.000,0.000,0.000,0.000,0.000,0.000,0.000,0,0,0.000",
        "2026-03-02,Tokyo,3,8400.000,5280.000,50.000,1315.000,110.000,145.000,1500.000,"
        "21.253,4,1,480.000",
    ]
    # Levels the agents have no group at: one "(none)" row per day.
    assert [line.split(",")[1] for line in report("hierarchy_level2")[1:]] == ["(none)", "(none)"]


def sql_rows(lake, query: str, *options) -> list[dict]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(run_ctrlake(
        "sql", "--lake", lake, "--format", "csv", *options, query).stdout.decode())))


def tokyo(ms: str) -> str:
    """Epoch milliseconds as a Tokyo wall clock, `HH:MM:SS` (with `.mmm` when not whole)."""
    moment = datetime.datetime.fromtimestamp(int(ms) / 1000, ZoneInfo("Asia/Tokyo"))
    return moment.strftime("%H:%M:%S") + (f".{int(ms) % 1000:03d}" if int(ms) % 1000 else "")


def test_the_views_show_the_scripted_days_spans(tmp_path):
    # Each row read off make_scripted_day.py's timeline (and fixtures/expected/README.md).
    lake = tmp_path / "lake"
    ingest([SCRIPTED, WAITING], lake)
    window = ["--from", "2026-03-01", "--to", "2026-03-02", "--tz", "Asia/Tokyo"]
    sato = "agent = 'sato.hanako'"
    statuses = sql_rows(lake, "SELECT status_name, status_type, start_ms, end_ms, seconds FROM "
                        f"agent_status_spans WHERE {sato} ORDER BY start_ms", *window)
    assert [(r["status_name"], r["status_type"], tokyo(r["start_ms"]), tokyo(r["end_ms"]))
            for r in statuses] == [
        ("Offline", "OFFLINE", "08:59:00", "09:00:00"),
        ("Available", "ROUTABLE", "09:00:00", "09:12:00"),
        # After the missed c1 she set herself Available again: a new status start.
        ("Available", "ROUTABLE", "09:12:00", "09:40:00"),
        ("Break", "CUSTOM", "09:40:00", "09:55:00"),
        ("Available", "ROUTABLE", "09:55:00", "10:30:00"),
        # The last status lasts until her last event: the heartbeat after logout.
        ("Offline", "OFFLINE", "10:30:00", "10:32:00"),
    ]
    assert statuses[2]["seconds"] == "1680.000"
    contacts = sql_rows(lake, "SELECT contact_id, channel, state, start_ms, end_ms FROM "
                        f"agent_contact_spans WHERE {sato} AND contact_id IN ('c1', 'c2') "
                        "ORDER BY contact_id, start_ms", *window)
    assert [(r["contact_id"], r["channel"], r["state"], tokyo(r["start_ms"]),
             tokyo(r["end_ms"])) for r in contacts] == [
        ("c1", "VOICE", "CONNECTING", "09:10:00", "09:10:15"),
        ("c1", "VOICE", "MISSED", "09:10:15", "09:12:00"),
        ("c2", "VOICE", "CONNECTING", "09:20:00", "09:20:10"),
        ("c2", "VOICE", "CONNECTED", "09:20:10", "09:25:10"),
        ("c2", "VOICE", "CONNECTED_ONHOLD", "09:25:10", "09:26:10"),
        ("c2", "VOICE", "CONNECTED", "09:26:10", "09:30:10"),
        ("c2", "VOICE", "ENDED", "09:30:10", "09:31:00"),
    ]
    # The tiling of her time, neighbouring segments of one activity merged (heartbeats and
    # other events split segments without changing the activity).
    merged = []
    for r in sql_rows(lake, "SELECT activity, start_ms, end_ms FROM agent_activities "
                      f"WHERE {sato} ORDER BY start_ms", *window):
        if merged and merged[-1][0] == r["activity"] and merged[-1][2] == r["start_ms"]:
            merged[-1][2] = r["end_ms"]
        else:
            merged.append([r["activity"], r["start_ms"], r["end_ms"]])
    assert [(a, tokyo(s), tokyo(e)) for a, s, e in merged] == [
        ("offline", "08:59:00", "09:00:00"),
        ("available_idle", "09:00:00", "09:10:00"),
        ("connecting", "09:10:00", "09:10:15"),
        ("missed_state", "09:10:15", "09:12:00"),
        ("available_idle", "09:12:00", "09:20:00"),
        ("connecting", "09:20:00", "09:20:10"),
        ("on_contact", "09:20:10", "09:30:10"),
        ("after_contact_work", "09:30:10", "09:31:00"),
        ("available_idle", "09:31:00", "09:40:00"),
        ("non_productive", "09:40:00", "09:55:00"),
        ("available_idle", "09:55:00", "10:00:00"),
        ("connecting", "10:00:00", "10:00:05"),
        ("on_contact", "10:00:05", "10:12:00"),
        ("after_contact_work", "10:12:00", "10:13:00"),
        ("available_idle", "10:13:00", "10:30:00"),
        ("offline", "10:30:00", "10:32:00"),
    ]
    # suzuki's Available span crosses local midnight: split there, one part on each day.
    suzuki = sql_rows(lake, "SELECT date, activity, seconds FROM agent_activities WHERE "
                      "agent = 'suzuki.ichiro' AND activity = 'available_idle' ORDER BY start_ms",
                      *window)
    assert [(r["date"], r["seconds"]) for r in suzuki] == [
        ("2026-03-01", "600.000"), ("2026-03-02", "600.000")]
    # When contacts waited, per queue and channel: w1 and w8 are on different channels, so
    # they stay apart; w4 and w5 are in different queues.
    waiting = sql_rows(lake, "SELECT queue_arn, channel, start_ms, end_ms FROM "
                       "queue_waiting_spans ORDER BY queue_arn, channel, start_ms", *window)
    assert [(r["queue_arn"].rsplit("/", 1)[1], r["channel"], tokyo(r["start_ms"]),
             tokyo(r["end_ms"])) for r in waiting] == [
        ("sales", "CHAT", "10:22:00", "10:25:00"),
        ("sales", "VOICE", "10:25:00", "10:27:00"),
        ("support", "CHAT", "09:06:00", "09:09:00"),
        ("support", "VOICE", "09:05:00", "09:08:00"),
        ("support", "VOICE", "09:45:00", "09:47:00"),
        ("support", "VOICE", "10:25:30", "10:26:30"),
        ("support", "VOICE", "13:05:30", "13:05:50"),
        ("support", "VOICE", "13:10:00", "13:12:00"),
    ]


def test_overlapping_and_touching_waits_make_one_waiting_span(tmp_path):
    def wait(contact, start, end, channel="VOICE"):
        return {"ContactId": contact, "Channel": channel, "InitiationMethod": "INBOUND",
                "InitiationTimestamp": start, "LastUpdateTimestamp": end,
                "DisconnectTimestamp": end,
                "Queue": {"ARN": "arn:aws:connect:us-east-1:1:instance/i/queue/q", "Name": "Q",
                          "EnqueueTimestamp": start, "DequeueTimestamp": end, "Duration": 1}}

    waits = [wait("a", "2026-03-02T01:00:00Z", "2026-03-02T01:05:00Z"),
             wait("b", "2026-03-02T01:02:00Z", "2026-03-02T01:03:00Z"),   # inside a
             wait("c", "2026-03-02T01:05:00Z", "2026-03-02T01:06:00Z"),   # touches a
             wait("d", "2026-03-02T01:10:00Z", "2026-03-02T01:10:00Z"),   # zero length
             wait("e", "2026-03-02T01:20:00Z", "2026-03-02T01:15:00Z"),   # dequeued first
             wait("f", "2026-03-02T01:30:00.250Z", "2026-03-02T01:31:00Z")]
    source = tmp_path / "waits.ndjson"
    source.write_text("".join(json.dumps(w) + "\n" for w in waits))
    lake = tmp_path / "lake"
    ingest([source], lake)
    rows = sql_rows(lake, "SELECT start_time, end_time, seconds FROM queue_waiting_spans "
                    "ORDER BY start_ms", "--date", "2026-03-02", "--tz", "UTC")
    assert [(r["start_time"], r["end_time"], r["seconds"]) for r in rows] == [
        ("2026-03-02T01:00:00Z", "2026-03-02T01:06:00Z", "360.000"),
        ("2026-03-02T01:30:00.250Z", "2026-03-02T01:31:00Z", "59.750"),
    ]


@pytest.mark.parametrize("seed", range(4))
def test_the_activities_tile_every_agents_time_without_gap_or_overlap(tmp_path, seed):
    events, ctrs = random_day(seed)
    source = tmp_path / "events.ndjson"
    source.write_text("".join(json.dumps(e) + "\n" for e in events))
    lake = tmp_path / "lake"
    ingest([source], lake)
    window = ["--from", "2026-03-01", "--to", "2026-03-02", "--tz", "Asia/Tokyo"]
    segments = sql_rows(lake, "SELECT agent_arn, date, activity, start_ms, end_ms, seconds "
                        "FROM agent_activities ORDER BY agent_arn, start_ms", *window)
    spans = sql_rows(lake, "SELECT agent_arn, status_type, start_ms, end_ms, seconds "
                     "FROM agent_status_spans ORDER BY agent_arn, start_ms", *window)
    assert segments and spans
    for agent in {s["agent_arn"] for s in spans}:
        mine = [s for s in segments if s["agent_arn"] == agent]
        statuses = [s for s in spans if s["agent_arn"] == agent and s["end_ms"] > s["start_ms"]]
        # Contiguous from the first status to the last, each segment non-empty.
        assert mine[0]["start_ms"] == statuses[0]["start_ms"], agent
        assert mine[-1]["end_ms"] == statuses[-1]["end_ms"], agent
        for before, after in zip(mine, mine[1:]):
            assert before["end_ms"] == after["start_ms"], (agent, before, after)
        assert all(int(s["end_ms"]) > int(s["start_ms"]) for s in mine)
        # Online (any status but Offline) the same as the status spans say.
        online = sum(Decimal(s["seconds"]) for s in mine if s["activity"] != "offline")
        assert online == sum(Decimal(s["seconds"]) for s in statuses
                             if s["status_type"] != "OFFLINE"), agent
    # And each day's online segments are the report's online_s.
    report = sql_rows(lake, "SELECT date, agent, online_s FROM agent_activity", *window)
    by_day = sql_rows(lake, "SELECT date, agent, sum(seconds) AS online FROM agent_activities "
                      "WHERE activity <> 'offline' AND date BETWEEN DATE '2026-03-01' AND "
                      "DATE '2026-03-02' GROUP BY date, agent", *window)
    assert sorted((r["date"], r["agent"], r["online_s"]) for r in report) == sorted(
        (r["date"], r["agent"], r["online"]) for r in by_day)


def test_duckdb_running_the_same_sql_gives_the_same_report(tmp_path):
    # The report's SQL files run by DuckDB (tests/agent_activity_duckdb.py) over the same
    # lake: the scripted day, and a generated day of 400 contacts with its CTRs.
    import agent_activity_duckdb
    from athena_duckdb import cell

    ctr, events = tmp_path / "ctr.ndjson", tmp_path / "agents.ndjson"
    run_ctrlake("gen", "--contacts", "400", "--days", "1", "--start", "2026-03-05",
                "--out", ctr, "--agent-events", events)
    lake = tmp_path / "lake"
    ingest([SCRIPTED, WAITING, ctr, events], lake)
    con = agent_activity_duckdb.connect(lake)
    for first, last, tz, group in [("2026-03-01", "2026-03-02", "Asia/Tokyo", "agent"),
                                   ("2026-03-05", "2026-03-05", "Asia/Tokyo", "agent"),
                                   ("2026-03-05", "2026-03-06", "UTC", "routing_profile"),
                                   ("2026-03-02", "2026-03-05", "America/New_York",
                                    "hierarchy_level2")]:
        params = agent_activity_duckdb.window_params(
            tz, datetime.date.fromisoformat(first), datetime.date.fromisoformat(last), group)
        names, rows = agent_activity_duckdb.agent_activity(con, params)
        keep = [i for i, n in enumerate(names) if not (n == "agents" and group == "agent")]
        expected = [",".join(cell(row[i]) for i in keep) for row in rows]
        ours = run_ctrlake("report", "agent-activity", "--lake", lake, "--from", first, "--to",
                           last, "--tz", tz, "--group-by", group, "--format", "csv"
                           ).stdout.decode().splitlines()[1:]
        assert len(ours) > 1, (first, tz)
        assert ours == expected, (first, tz, group)
