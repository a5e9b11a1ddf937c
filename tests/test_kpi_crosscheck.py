"""Independent cross-check of the KPI reports against DuckDB on a generated day of ~100k contacts.

The SQL below was written from `shared/docs/kpis.md` and `fixtures/expected/README.md` only (not
from `queries/*.sql` or the query crate), so the two implementations share no code. Every cell of
`ctrlake report ... --format csv` is compared with DuckDB's result over the same Parquet files:
numbers as decimals (`12.5` == `12.500`; DuckDB's side always has exactly 3 places), an empty
cell only against NULL, and the rows in the same order.

Choices taken from the expected README (repeated here so a reader can check them):
- de-duplication: per contact_id the greatest last_update_timestamp (ms), ties to the
  later-ingested copy (greatest arrival_timestamp, then source_uri, then source_offset);
- rows exist only for a (local date, queue) with >= 1 enqueued contact, a (local date, agent)
  with >= 1 connected contact, an (interval, queue) with >= 1 enqueue or peak_waiting >= 1;
- means and percentages: the exact rational rounded half-up to 3 decimals in integer arithmetic
  (no floating point); means over zero contacts and rates over zero queued contacts are NULL;
- sorting: date / interval start, then queue or agent by UTF-8 byte order;
- callback look-up: the winning version of the contact named by NextContactId, in the whole lake
  (`dt_range` narrows the partitions read; only the benchmark uses it);
- peak_waiting: per queue, at 1-second resolution over [floor(enqueue), floor(dequeue)),
  contacts without a dequeue timestamp skipped, counting contacts enqueued before the interval.

The SQL builders are plain functions (no pytest state), so `scripts/bench_reports.py` times the
very same statements.
"""

from __future__ import annotations

import csv
import datetime as _dt
import functools
import io
import re
import subprocess
from decimal import Decimal, InvalidOperation
from pathlib import Path

DEFAULT_SL = (20, 60)

# --------------------------------------------------------------------------------------------
# SQL (DuckDB dialect). Everything is computed from the winning version of each contact.
# --------------------------------------------------------------------------------------------


def _lit(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _day_start(tz: str, day: _dt.date) -> str:
    """The instant local midnight of `day` in `tz` (TIMESTAMPTZ expression)."""
    return f"timezone({_lit(tz)}, TIMESTAMP {_lit(day.isoformat() + ' 00:00:00')})"


def _window(tz: str, first: _dt.date, last: _dt.date) -> tuple[str, str]:
    """[start, end) instants of the local days first..last (inclusive)."""
    return _day_start(tz, first), _day_start(tz, last + _dt.timedelta(days=1))


def _fmt3(p: str, q: str) -> str:
    """p / q rounded half-up to 3 decimals as text, NULL when q is 0 or NULL.

    Exact for non-negative integers p, q: r = round_half_up(1000 p / q) = (2000 p + q) div 2q.
    """
    r = f"((2000 * CAST(({p}) AS HUGEINT) + ({q})) // (2 * ({q})))"
    return (f"CASE WHEN ({q}) > 0 THEN CAST({r} // 1000 AS VARCHAR) || '.' || "
            f"lpad(CAST({r} % 1000 AS VARCHAR), 3, '0') END")


def contacts_cte(lake, dt_range: tuple[_dt.date, _dt.date] | None = None) -> str:
    """`c`: one row per contact (the winning version), with short names for the KPI columns."""
    glob = f"{Path(lake)}/ctr/*/*.parquet"
    where = ""
    if dt_range is not None:
        where = (f"WHERE dt BETWEEN DATE {_lit(dt_range[0].isoformat())} "
                 f"AND DATE {_lit(dt_range[1].isoformat())}")
    return f"""c AS (
  SELECT contact_id, next_contact_id, initiation_method, queue_name, channel,
         queue_enqueue_timestamp AS enq, queue_dequeue_timestamp AS deq, queue_duration AS d,
         agent_username, agent_connected_to_agent_timestamp AS conn,
         agent_interaction_duration AS ait, agent_customer_hold_duration AS hold,
         agent_after_contact_work_duration AS acw, agent_pause_duration AS pause,
         agent_number_of_holds AS holds, agent_connection_attempts AS att,
         transfer_completed_timestamp AS tct,
         transferred_to_endpoint_address AS tte_address, transferred_to_endpoint_type AS tte_type
  FROM read_parquet({_lit(glob)}, hive_partitioning = true)
  {where}
  QUALIFY row_number() OVER (
    PARTITION BY contact_id
    ORDER BY last_update_timestamp DESC, arrival_timestamp DESC NULLS LAST,
             source_uri DESC NULLS LAST, source_offset DESC NULLS LAST) = 1
)"""


def _channel_filter(channel: str | None, alias: str = "c.") -> str:
    return "" if channel is None else f" AND {alias}channel = {_lit(channel)}"


def _queued_flags_cte(enq_from: str, enq_to: str, channel: str | None = None) -> str:
    """`f`: queued contacts enqueued in [enq_from, enq_to) with their per-contact KPI terms
    (of one channel only, when given)."""
    return f"""f AS (
  SELECT c.queue_name AS queue, c.enq, c.d,
         c.conn IS NOT NULL AS handled,
         c.conn IS NULL AND c.next_contact_id IS NULL AND c.tct IS NULL
           AND c.tte_address IS NULL AND c.tte_type IS NULL AS abandoned,
         c.conn IS NULL AND coalesce(n.initiation_method = 'CALLBACK', false) AS callback,
         coalesce(c.ait, 0) + coalesce(c.hold, 0) + coalesce(c.acw, 0) + coalesce(c.pause, 0) AS aht,
         coalesce(c.ait, 0) + coalesce(c.hold, 0) + coalesce(c.acw, 0) AS aht_excl_pause,
         coalesce(c.ait, 0) AS ait, coalesce(c.hold, 0) AS hold, coalesce(c.acw, 0) AS acw,
         coalesce(c.holds, 0) >= 1 AS on_hold,
         c.tct IS NOT NULL AS transferred,
         c.conn IS NOT NULL AND (c.next_contact_id IS NOT NULL OR c.tct IS NOT NULL
           OR c.tte_address IS NOT NULL OR c.tte_type IS NOT NULL) AS transferred_by_agent,
         c.conn IS NULL AND c.next_contact_id IS NOT NULL
           AND NOT coalesce(n.initiation_method = 'CALLBACK', false) AS transferred_from_queue,
         c.initiation_method IN ('TRANSFER', 'QUEUE_TRANSFER') AS transferred_in,
         c.conn IS NOT NULL AND c.initiation_method <> 'OUTBOUND' AS incoming,
         greatest(0, coalesce(c.att, 0) - CASE WHEN c.conn IS NOT NULL THEN 1 ELSE 0 END) AS nr
  FROM c LEFT JOIN c AS n ON n.contact_id = c.next_contact_id
  WHERE c.enq IS NOT NULL AND c.enq >= {enq_from} AND c.enq < {enq_to}{_channel_filter(channel)}
)"""


# Queue metric columns that are counts (0, never NULL, on an interval row without enqueues).
_QUEUE_COUNTS = ("contacts_queued", "contacts_handled", "contacts_handled_incoming",
                 "contacts_abandoned", "contacts_put_on_hold", "contacts_transferred_out",
                 "contacts_transferred_out_by_agent", "contacts_transferred_out_from_queue",
                 "contacts_transferred_in",
                 "contacts_callback_requested", "agent_non_response",
                 "sum_queue_answer_time_s", "sum_queue_abandon_time_s", "sum_handle_time_s")


def is_count(name: str) -> bool:
    """Whether a queue metric is a count or a sum (0, never NULL, on a row without enqueues)."""
    return name in _QUEUE_COUNTS or name.startswith(
        ("contacts_answered_in_", "contacts_abandoned_in_", "contacts_removed_from_queue_in_"))


def queue_metric_columns(sl=DEFAULT_SL, inclusive=False) -> list[tuple[str, str]]:
    """(name, aggregate over `f`) for every queue metric, in report order."""
    op = "<=" if inclusive else "<"
    n_h = "count(*) FILTER (WHERE handled)"
    n_a = "count(*) FILTER (WHERE abandoned)"
    cols = [
        ("contacts_queued", "count(*)"),
        ("contacts_handled", n_h),
        ("contacts_handled_incoming", "count(*) FILTER (WHERE incoming)"),
        ("contacts_abandoned", n_a),
        ("abandonment_rate_pct", _fmt3(f"100 * {n_a}", "count(*)")),
        ("avg_queue_answer_time_s", _fmt3("sum(d) FILTER (WHERE handled)", n_h)),
        ("avg_queue_abandon_time_s", _fmt3("sum(d) FILTER (WHERE abandoned)", n_a)),
        ("max_queued_time_s", "max(d)"),
    ]
    for x in sl:
        cols.append((f"service_level_{x}_pct", _fmt3(
            f"100 * count(*) FILTER (WHERE (handled OR abandoned OR callback) AND d {op} {x})",
            "count(*)")))
    for x in sl:
        cols.append((f"answered_within_{x}_pct", _fmt3(
            f"100 * count(*) FILTER (WHERE handled AND d {op} {x})", "count(*)")))
    # The counts behind those percentages, one column per threshold.
    for x in sl:
        cols.append((f"contacts_answered_in_{x}", f"count(*) FILTER (WHERE handled AND d {op} {x})"))
    for x in sl:
        cols.append((f"contacts_abandoned_in_{x}",
                     f"count(*) FILTER (WHERE abandoned AND d {op} {x})"))
    for x in sl:
        cols.append((f"contacts_removed_from_queue_in_{x}",
                     f"count(*) FILTER (WHERE (handled OR abandoned OR callback) AND d {op} {x})"))
    cols += [
        ("avg_handle_time_s", _fmt3("sum(aht) FILTER (WHERE handled)", n_h)),
        ("avg_handle_time_excl_pause_s", _fmt3("sum(aht_excl_pause) FILTER (WHERE handled)", n_h)),
        ("avg_agent_interaction_s", _fmt3("sum(ait) FILTER (WHERE handled)", n_h)),
        # Connect's AVG_HOLD_TIME: over the handled contacts that went on hold.
        ("avg_customer_hold_s", _fmt3("sum(hold) FILTER (WHERE handled AND on_hold)",
                                      "count(*) FILTER (WHERE handled AND on_hold)")),
        ("avg_customer_hold_all_contacts_s", _fmt3("sum(hold) FILTER (WHERE handled)", n_h)),
        ("avg_after_contact_work_s", _fmt3("sum(acw) FILTER (WHERE handled)", n_h)),
        ("contacts_put_on_hold", "count(*) FILTER (WHERE handled AND on_hold)"),
        ("contacts_transferred_out", "count(*) FILTER (WHERE transferred)"),
        ("contacts_transferred_out_by_agent", "count(*) FILTER (WHERE transferred_by_agent)"),
        ("contacts_transferred_out_from_queue", "count(*) FILTER (WHERE transferred_from_queue)"),
        ("contacts_transferred_in", "count(*) FILTER (WHERE transferred_in)"),
        ("contacts_callback_requested", "count(*) FILTER (WHERE callback)"),
        ("agent_non_response", "coalesce(sum(nr), 0)"),
        ("sum_queue_answer_time_s", "coalesce(sum(d) FILTER (WHERE handled), 0)"),
        ("sum_queue_abandon_time_s", "coalesce(sum(d) FILTER (WHERE abandoned), 0)"),
        ("sum_handle_time_s", "coalesce(sum(aht) FILTER (WHERE handled), 0)"),
    ]
    return cols


def queue_daily_sql(lake, tz, first, last, sl=DEFAULT_SL, inclusive=False, dt_range=None,
                    channel=None) -> str:
    start, end = _window(tz, first, last)
    columns = queue_metric_columns(sl, inclusive)
    metrics = ",\n       ".join(f"{expr} AS {name}" for name, expr in columns)
    # The report's columns, with the outbound count after contacts_handled_incoming. Outbound
    # contacts an agent took under a queue they name are never enqueued: they count only there,
    # on the local date of the agent connection, and a queue with only those has a row of zero
    # counts and null averages.
    final = []
    for name, _ in columns:
        final.append(f"coalesce(q.{name}, 0) AS {name}" if is_count(name) else f"q.{name}")
        if name == "contacts_handled_incoming":
            final.append("coalesce(o.n, 0) AS contacts_handled_outbound")
    final_columns = ",\n       ".join(final)
    tzl = _lit(tz)
    return f"""WITH {contacts_cte(lake, dt_range)},
{_queued_flags_cte(start, end, channel)},
q AS (
  SELECT strftime(timezone({tzl}, enq), '%Y-%m-%d') AS date, queue,
         {metrics}
  FROM f
  GROUP BY 1, 2
),
o AS (
  SELECT strftime(timezone({tzl}, conn), '%Y-%m-%d') AS date, queue_name AS queue, count(*) AS n
  FROM c
  WHERE enq IS NULL AND initiation_method = 'OUTBOUND' AND queue_name IS NOT NULL
    AND conn IS NOT NULL AND conn >= {start} AND conn < {end}{_channel_filter(channel, "")}
  GROUP BY 1, 2
)
SELECT coalesce(q.date, o.date) AS date, coalesce(q.queue, o.queue) AS queue,
       {final_columns}
FROM q FULL OUTER JOIN o ON o.date = q.date AND o.queue = q.queue
ORDER BY 1, 2"""


def agent_daily_sql(lake, tz, first, last, dt_range=None) -> str:
    start, end = _window(tz, first, last)
    return f"""WITH {contacts_cte(lake, dt_range)}
SELECT strftime(timezone({_lit(tz)}, conn), '%Y-%m-%d') AS date, agent_username AS agent,
       count(*) AS contacts_handled,
       {_fmt3("sum(coalesce(ait, 0) + coalesce(hold, 0) + coalesce(acw, 0) + coalesce(pause, 0))",
              "count(*)")} AS avg_handle_time_s,
       {_fmt3("sum(coalesce(ait, 0) + coalesce(hold, 0) + coalesce(acw, 0))",
              "count(*)")} AS avg_handle_time_excl_pause_s,
       {_fmt3("sum(coalesce(hold, 0)) FILTER (WHERE coalesce(holds, 0) >= 1)",
              "count(*) FILTER (WHERE coalesce(holds, 0) >= 1)")} AS avg_customer_hold_s,
       {_fmt3("sum(coalesce(hold, 0))", "count(*)")} AS avg_customer_hold_all_contacts_s,
       coalesce(sum(coalesce(ait, 0)), 0) AS total_agent_interaction_s,
       coalesce(sum(coalesce(hold, 0)), 0) AS total_customer_hold_s,
       coalesce(sum(coalesce(acw, 0)), 0) AS total_after_contact_work_s,
       coalesce(sum(coalesce(pause, 0)), 0) AS total_agent_pause_s,
       count(*) FILTER (WHERE coalesce(holds, 0) >= 1) AS contacts_put_on_hold,
       coalesce(sum(att - 1) FILTER (WHERE att > 1), 0) AS missed_offers_before_answer
FROM c
WHERE conn IS NOT NULL AND conn >= {start} AND conn < {end}
GROUP BY 1, 2
ORDER BY 1, 2"""


def queue_intervals_sql(lake, tz, first, last, minutes=15, sl=DEFAULT_SL, inclusive=False,
                        dt_range=None) -> str:
    """Intervals of `minutes` whose start lies in the local days first..last."""
    assert 60 % minutes == 0, minutes
    start, end = _window(tz, first, last)
    step_ms = minutes * 60_000
    tzl = _lit(tz)
    metric_cols = queue_metric_columns(sl, inclusive)
    metrics = ",\n       ".join(f"{expr} AS {name}" for name, expr in metric_cols)
    final = ",\n       ".join(
        f"coalesce(m.{name}, 0) AS {name}" if is_count(name) else f"m.{name}"
        for name, _ in metric_cols)
    # Interval of an enqueue: its local wall time floored to `minutes` (time_bucket's origin is a
    # midnight), mapped back to an instant by subtracting the same wall-clock distance.
    return f"""WITH {contacts_cte(lake, dt_range)},
{_queued_flags_cte(start, end)},
iv AS (
  SELECT s AS start_ms, s + {step_ms} AS end_ms
  FROM range(epoch_ms({start}), epoch_ms({end}), {step_ms}) AS t(s)
),
m AS (
  SELECT epoch_ms(enq) - (epoch_ms(timezone({tzl}, enq))
           - epoch_ms(time_bucket(INTERVAL {minutes} MINUTE, timezone({tzl}, enq)))) AS start_ms,
         queue,
         {metrics}
  FROM f
  GROUP BY 1, 2
),
w AS (  -- waiting spans [a, b) in epoch seconds that touch the window
  SELECT queue_name AS queue, epoch_ms(enq) // 1000 AS a, epoch_ms(deq) // 1000 AS b
  FROM c
  WHERE enq IS NOT NULL AND deq IS NOT NULL
    AND epoch_ms(enq) // 1000 < epoch_ms({end}) // 1000
    AND epoch_ms(deq) // 1000 > epoch_ms({start}) // 1000
),
ev AS (
  SELECT queue, t, sum(delta) AS delta
  FROM (SELECT queue, a AS t, 1 AS delta FROM w UNION ALL SELECT queue, b AS t, -1 AS delta FROM w)
  GROUP BY 1, 2
),
seg AS (  -- constant waiting count `level` during [s, e)
  SELECT queue, t AS s, lead(t) OVER (PARTITION BY queue ORDER BY t) AS e,
         sum(delta) OVER (PARTITION BY queue ORDER BY t
                          ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS level
  FROM ev
),
pk AS (
  SELECT iv.start_ms, seg.queue, max(seg.level) AS peak
  FROM seg JOIN iv ON seg.s * 1000 < iv.end_ms AND seg.e * 1000 > iv.start_ms
  WHERE seg.level > 0
  GROUP BY 1, 2
),
keys AS (SELECT start_ms, queue FROM m UNION SELECT start_ms, queue FROM pk),
labelled AS (
  SELECT k.start_ms, k.queue,
         timezone({tzl}, to_timestamp(k.start_ms // 1000)) AS local_start,
         epoch(timezone({tzl}, to_timestamp(k.start_ms // 1000)))::BIGINT - k.start_ms // 1000 AS off_s
  FROM keys AS k
)
SELECT strftime(l.local_start, '%Y-%m-%dT%H:%M:%S')
         || CASE WHEN l.off_s < 0 THEN '-' ELSE '+' END
         || lpad(CAST(abs(l.off_s) // 3600 AS VARCHAR), 2, '0') || ':'
         || lpad(CAST(abs(l.off_s) % 3600 // 60 AS VARCHAR), 2, '0') AS interval_start,
       l.queue,
       {final},
       coalesce(pk.peak, 0) AS peak_waiting
FROM labelled AS l
LEFT JOIN m ON m.start_ms = l.start_ms AND m.queue = l.queue
LEFT JOIN pk ON pk.start_ms = l.start_ms AND pk.queue = l.queue
ORDER BY l.start_ms, l.queue"""


def run_duckdb(sql: str, threads: int | None = None) -> tuple[list[str], list[list[str]]]:
    """(header, rows as text: NULL -> '') of one statement."""
    import duckdb

    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    cur = con.execute(sql)
    header = [d[0] for d in cur.description]
    rows = [["" if v is None else str(v) for v in row] for row in cur.fetchall()]
    con.close()
    return header, rows


# --------------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------------


def _cell_equal(got: str, want: str) -> bool:
    if got == "" or want == "":
        return got == want
    try:
        return Decimal(got) == Decimal(want)
    except InvalidOperation:
        return got == want


def compare_report(csv_text: str, header: list[str], rows: list[list[str]], keys: int = 2,
                   columns: list[str] | None = None, limit: int = 40) -> list[str]:
    """Differences between ctrlake's CSV and DuckDB's rows; [] when they agree.

    `keys` leading columns identify a row; `columns` (default: DuckDB's header) are compared.
    """
    parsed = list(csv.reader(io.StringIO(csv_text)))
    problems = []
    if not parsed:
        return ["ctrlake printed nothing (no header)"]
    got_header, got_rows = parsed[0], parsed[1:]
    if columns is None:
        columns = header
        if got_header != header:
            problems.append(f"header differs:\n  ctrlake {got_header}\n  duckdb  {header}")
    missing_cols = [c for c in columns if c not in got_header]
    if missing_cols:
        problems.append(f"columns missing in ctrlake's output: {missing_cols}")
    cols = [c for c in columns if c in got_header]
    gi = {c: got_header.index(c) for c in cols}
    wi = {c: header.index(c) for c in cols}

    def key_of(row, index):
        return tuple(row[index[c]] for c in header[:keys])

    got = {}
    for row in got_rows:
        if len(row) != len(got_header):
            problems.append(f"ctrlake row with {len(row)} cells, header has {len(got_header)}: {row}")
            continue
        got[key_of(row, gi)] = row
    want = {key_of(row, wi): row for row in rows}
    want_order = [key_of(row, wi) for row in rows]
    byte_order = sorted(want_order, key=lambda k: tuple(part.encode() for part in k))
    assert want_order == byte_order, "DuckDB's rows are not in UTF-8 byte order (test bug)"

    extra = [k for k in got if k not in want]
    absent = [k for k in want if k not in got]
    if extra:
        problems.append(f"{len(extra)} rows only in ctrlake, e.g. {extra[:5]}")
    if absent:
        problems.append(f"{len(absent)} rows only in DuckDB, e.g. {absent[:5]}")
    got_order = [key_of(row, gi) for row in got_rows if len(row) == len(got_header)]
    common_got = [k for k in got_order if k in want]
    common_want = [k for k in want_order if k in got]
    if common_got != common_want:
        first = next(i for i, (a, b) in enumerate(zip(common_got, common_want)) if a != b)
        problems.append(f"row order differs at row {first + 1}: ctrlake {common_got[first]}, "
                        f"duckdb {common_want[first]}")
    cells = []
    for k in common_want:
        for c in cols[keys:]:
            g, w = got[k][gi[c]], want[k][wi[c]]
            if not _cell_equal(g, w):
                cells.append(f"  row {k} column {c}: ctrlake {g!r}, duckdb {w!r}")
    if cells:
        problems.append(f"{len(cells)} cells differ:\n" + "\n".join(cells[:limit]))
    return problems


# --------------------------------------------------------------------------------------------
# Edge-case supplement. The generator's versions of a contact differ only in
# LastUpdateTimestamp and never use TransferredToEndpoint without a transfer, so on its own the
# generated day cannot tell which version wins or whether that rule is applied. These records,
# in their own queues and agents (small rows, so one wrong contact moves a number), have
# versions whose KPI fields differ, ties at the second and the millisecond, ties across two
# files (the newer file modification time = later arrival wins), callback legs whose winning
# version is or is not CALLBACK, a NextContactId that resolves to nothing, endpoint-only
# transfers, null/absent durations, thresholds at 19/20/21/59/60/61 s and ms timestamps.
# --------------------------------------------------------------------------------------------

EDGE_QUEUES = ("XC Alpha", "XC Beta", "XC ベータ", "xc alpha")
EDGE_AGENTS = ("XC.agent3", "xc.Agent1", "xc.agent2", "xc.エージェント")


def _iso(t: _dt.datetime) -> str:
    if t.microsecond:
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _edge_version(rng, cid, t0, status, method="INBOUND"):
    """One CTR version of contact `cid` (dict) with KPI fields drawn for `status`."""
    ms = lambda: _dt.timedelta(milliseconds=rng.choice([0, 0, 1, 500, 999, rng.randint(1, 999)]))
    enq = t0 + _dt.timedelta(seconds=rng.randint(0, 40)) + ms()
    d = rng.choice([0, 19, 20, 21, 59, 60, 61, rng.randint(0, 1200), rng.randint(0, 200)])
    deq = enq + _dt.timedelta(seconds=d) + ms() if rng.random() > 0.08 else None
    rec = {
        "AWSContactTraceRecordFormatVersion": "2017-03-10", "ContactId": cid,
        "Channel": "VOICE", "InitiationMethod": method, "InitiationTimestamp": _iso(t0),
        "Queue": {"Name": rng.choice(EDGE_QUEUES), "EnqueueTimestamp": _iso(enq),
                  "DequeueTimestamp": _iso(deq) if deq else None, "Duration": d},
        "Agent": None, "NextContactId": None, "TransferCompletedTimestamp": None,
        "TransferredToEndpoint": None, "AgentConnectionAttempts": rng.randint(0, 3),
    }
    if rng.random() < 0.1:
        del rec["AgentConnectionAttempts"]
    if status in ("handled", "handled_tct", "not_queued"):
        agent = {
            "Username": rng.choice(EDGE_AGENTS),
            "ConnectedToAgentTimestamp": _iso((deq or enq) + ms()),
            "AgentInteractionDuration": rng.randint(0, 900),
            "CustomerHoldDuration": rng.choice([None, 0, rng.randint(1, 300)]),
            "AfterContactWorkDuration": rng.choice([None, rng.randint(0, 200)]),
            "AgentPauseDuration": rng.choice([None, 0, rng.randint(1, 120)]),
            "NumberOfHolds": rng.choice([None, 0, 1, 2]),
        }
        for key in ("AgentPauseDuration", "NumberOfHolds", "CustomerHoldDuration"):
            if rng.random() < 0.15:
                del agent[key]
        rec["Agent"] = agent
        rec["AgentConnectionAttempts"] = rng.randint(1, 4)
    if status == "not_queued":
        rec["Queue"] = None
        rec["InitiationMethod"] = "OUTBOUND"
    if status in ("handled_tct", "tct"):
        rec["TransferCompletedTimestamp"] = _iso(t0 + _dt.timedelta(seconds=1500))
    if status in ("endpoint", "handled_tct") and rng.random() < 0.7:
        rec["TransferredToEndpoint"] = {"Address": "+81300000000", "Type": "TELEPHONE_NUMBER"}
    if status == "next_missing":
        rec["NextContactId"] = cid.replace("xc", "no", 1)
    return rec


def edge_records(seed: int = 11, contacts: int = 1500) -> tuple[list[dict], list[dict]]:
    """(records of file a, records of file b): versions of edge contacts, deterministic."""
    import random

    rng = random.Random(seed)
    day = _dt.datetime(2026, 3, 2, tzinfo=_dt.timezone.utc)
    file_a, file_b = [], []
    statuses = ["handled", "handled", "abandoned", "endpoint", "next_missing", "tct",
                "handled_tct", "callback", "not_queued"]
    for i in range(contacts):
        cid = f"xc000000-0000-4000-8000-{i:012d}"
        # Cluster around Tokyo midnight (15:00Z) and UTC midnight so versions can move a contact
        # to another local day or interval; otherwise anywhere in the day.
        base = rng.choice([15 * 3600 - 120, 24 * 3600 - 1800, rng.randint(0, 86_000)])
        t0 = day + _dt.timedelta(seconds=base + rng.randint(0, 120))
        leg = None
        versions = []
        n = rng.choice([1, 2, 2, 3, 4])
        for _ in range(n):
            status = rng.choice(statuses)
            rec = _edge_version(rng, cid, t0, status)
            if status == "callback":
                leg = leg or cid.replace("xc", "cb", 1)
                rec["NextContactId"] = leg
            versions.append(rec)
        # Last-update times: distinct, equal to the second, or differing only in milliseconds.
        lu = t0 + _dt.timedelta(hours=1)
        for rec in versions:
            pick = rng.random()
            if pick < 0.25 and rec is not versions[0]:
                pass  # exact tie with the previous version
            elif pick < 0.45:
                lu = lu.replace(microsecond=0) + _dt.timedelta(milliseconds=rng.choice([250, 999]))
            else:
                lu = lu.replace(microsecond=0) + _dt.timedelta(seconds=rng.randint(1, 7200))
            rec["LastUpdateTimestamp"] = _iso(lu)
        rng.shuffle(versions)
        for rec in versions:
            (file_b if rng.random() < 0.3 else file_a).append(rec)
        if leg:
            leg_t0 = t0 + _dt.timedelta(seconds=rng.randint(60, 600))
            leg_lu = leg_t0 + _dt.timedelta(hours=2)
            for k in range(rng.choice([1, 2, 3])):
                method = rng.choice(["CALLBACK", "CALLBACK", "TRANSFER", "QUEUE_TRANSFER"])
                rec = _edge_version(rng, leg, leg_t0, "handled", method)
                if k and rng.random() < 0.4:
                    rec["LastUpdateTimestamp"] = _iso(leg_lu)  # tie: file order / arrival decide
                else:
                    leg_lu += _dt.timedelta(seconds=rng.randint(1, 600))
                    rec["LastUpdateTimestamp"] = _iso(leg_lu)
                (file_b if rng.random() < 0.3 else file_a).append(rec)
    return file_a, file_b


def write_edge_files(root: Path) -> list[Path]:
    """Writes the supplement as two NDJSON files; b gets an older modification time than a."""
    import json
    import os

    paths = []
    file_a, file_b = edge_records()
    for name, records, mtime in (("xc-edge-a.ndjson", file_a, 1_772_500_000),
                                 ("xc-edge-b.ndjson", file_b, 1_772_400_000)):
        path = Path(root) / name
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                        encoding="utf-8")
        os.utime(path, (mtime, mtime))
        paths.append(path)
    return paths


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------

try:
    import pytest

    from conftest import CTR_FILES, FIXTURES, ctrlake_bin, ingest, run_ctrlake
except ImportError:  # imported by scripts/bench_reports.py for the SQL only
    pytest = None

if pytest is not None:

    @functools.lru_cache(maxsize=None)
    def _report_commands() -> frozenset:
        """Subcommands listed by `ctrlake report --help` (empty when the binary is missing)."""
        path = ctrlake_bin()
        if not path.is_file():
            return frozenset()
        out = subprocess.run([str(path), "report", "--help"], capture_output=True, text=True,
                             timeout=60).stdout
        section = out.split("Commands:", 1)[-1].split("\n\n", 1)[0]
        return frozenset(re.findall(r"^\s+([a-z][a-z0-9-]*)\s", section, re.M))

    def _needs(command):
        return pytest.mark.skipif(
            command not in _report_commands(),
            reason=f"`ctrlake report {command}` is not in this binary ({ctrlake_bin()}) yet; "
                   "rebuild once the report exists")

    GEN = dict(contacts=100_000, days=1, start="2026-03-02", seed=11)
    INTERVAL_DAY = _dt.date(2026, 3, 2)

    @pytest.fixture(scope="session")
    def day_lake(bin_path, tmp_path_factory) -> Path:
        """One generated day (100k contacts, ~117k CTR versions) plus the edge-case supplement
        (`write_edge_files`), ingested once per session."""
        root = tmp_path_factory.mktemp("kpi_crosscheck")
        data = root / "ctr.ndjson"
        run_ctrlake("gen", "--contacts", GEN["contacts"], "--days", GEN["days"],
                    "--start", GEN["start"], "--seed", GEN["seed"], "--out", data)
        edges = write_edge_files(root)
        lake = root / "lake"
        summary = ingest([data, *edges], lake)
        assert summary["records dead-lettered"] == 0, summary
        data.unlink()  # ~370 MB; the lake is all the tests need
        return lake

    @pytest.fixture(scope="session")
    def golden_lake(bin_path, tmp_path_factory) -> Path:
        """The lake the golden files of fixtures/expected/ were worked out on (CTR fixtures only)."""
        lake = tmp_path_factory.mktemp("kpi_golden") / "lake"
        ingest(CTR_FILES, lake)
        return lake

    @functools.lru_cache(maxsize=None)
    def _data_window(lake: Path, tz: str) -> tuple[_dt.date, _dt.date]:
        """First and last local date holding an enqueue or an agent connection."""
        import duckdb

        tzl = _lit(tz)
        row = duckdb.connect().execute(f"""
            SELECT min(d), max(d) FROM (
              SELECT CAST(timezone({tzl}, queue_enqueue_timestamp) AS DATE) AS d
              FROM read_parquet({_lit(str(lake) + '/ctr/*/*.parquet')})
              UNION ALL
              SELECT CAST(timezone({tzl}, agent_connected_to_agent_timestamp) AS DATE)
              FROM read_parquet({_lit(str(lake) + '/ctr/*/*.parquet')}))""").fetchone()
        return row[0], row[1]

    def _window_args(first, last):
        return ["--from", first.isoformat(), "--to", last.isoformat()]

    def _check(proc, header, rows, what, keys=2):
        text = proc.stdout.decode()
        assert rows, f"{what}: DuckDB returned no rows (test bug)"
        problems = compare_report(text, header, rows, keys=keys)
        assert not problems, f"{what}: ctrlake and DuckDB disagree\n" + "\n".join(problems)

    # --- the SQL itself against the hand-computed golden files ---------------------------------

    GOLDEN = [
        ("queue_daily_asia_tokyo.csv", "queues", "Asia/Tokyo", False),
        ("queue_daily_utc.csv", "queues", "UTC", False),
        ("queue_daily_asia_tokyo_le.csv", "queues", "Asia/Tokyo", True),
        ("agent_daily_asia_tokyo.csv", "agents", "Asia/Tokyo", False),
        ("queue_intervals_15m_asia_tokyo_2026-03-02.csv", "intervals", "Asia/Tokyo", False),
    ]

    @pytest.mark.parametrize("name,report,tz,inclusive", GOLDEN, ids=[g[0] for g in GOLDEN])
    def test_duckdb_sql_reproduces_golden_files(golden_lake, name, report, tz, inclusive):
        """The cross-check SQL gives the hand-computed golden files byte for byte."""
        expected = (FIXTURES / "expected" / name).read_text(encoding="utf-8")
        first, last = _dt.date(2022, 1, 1), _dt.date(2026, 3, 31)
        if report == "queues":
            sql = queue_daily_sql(golden_lake, tz, first, last, inclusive=inclusive)
        elif report == "agents":
            sql = agent_daily_sql(golden_lake, tz, first, last)
        else:
            sql = queue_intervals_sql(golden_lake, tz, INTERVAL_DAY, INTERVAL_DAY, 15, sl=(20,))
        header, rows = run_duckdb(sql)
        want_header = expected.splitlines()[0].split(",")
        idx = [header.index(c) for c in want_header]
        lines = [",".join(want_header)] + [",".join(row[i] for i in idx) for row in rows]
        assert "".join(line + "\n" for line in lines) == expected

    # --- ctrlake against DuckDB on 100k generated contacts -------------------------------------

    QUEUE_CASES = [("Asia/Tokyo", False), ("Asia/Tokyo", True), ("UTC", False), ("UTC", True)]

    @pytest.mark.parametrize("tz,inclusive", QUEUE_CASES,
                             ids=[f"{tz}-{'le' if inc else 'lt'}" for tz, inc in QUEUE_CASES])
    def test_report_queues_matches_duckdb(day_lake, tz, inclusive):
        first, last = _data_window(day_lake, tz)
        args = ["report", "queues", "--lake", day_lake, *_window_args(first, last), "--tz", tz,
                "--format", "csv"]
        if inclusive:
            args.append("--sl-inclusive")
        proc = run_ctrlake(*args)
        header, rows = run_duckdb(queue_daily_sql(day_lake, tz, first, last, inclusive=inclusive))
        _check(proc, header, rows, f"report queues {tz} {first}..{last} {'<=' if inclusive else '<'}")

    def test_grouping_by_channel_equals_filtering_by_channel(day_lake):
        """Each channel's rows of `report queues --group-by queue,channel` are the cross-check
        SQL run on that channel's contacts alone: voice and chat are never averaged together."""
        tz = "Asia/Tokyo"
        first, last = _data_window(day_lake, tz)
        proc = run_ctrlake("report", "queues", "--lake", day_lake, *_window_args(first, last),
                           "--tz", tz, "--group-by", "queue,channel", "--format", "csv")
        grouped = list(csv.reader(io.StringIO(proc.stdout.decode())))
        header, body = grouped[0], grouped[1:]
        at = header.index("channel")
        channels = sorted({row[at] for row in body})
        assert {"VOICE", "CHAT", "TASK"} <= set(channels), channels
        for channel in channels:
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(header[:at] + header[at + 1:])
            writer.writerows(r[:at] + r[at + 1:] for r in body if r[at] == channel)
            duck_header, rows = run_duckdb(queue_daily_sql(day_lake, tz, first, last,
                                                           channel=channel))
            assert rows, channel
            problems = compare_report(out.getvalue(), duck_header, rows, keys=2)
            assert not problems, f"{channel}: " + "\n".join(problems)

    def test_report_queues_custom_thresholds_match_duckdb(day_lake):
        tz, sl = "Asia/Tokyo", (10, 30, 120)
        first, last = _data_window(day_lake, tz)
        proc = run_ctrlake("report", "queues", "--lake", day_lake, *_window_args(first, last),
                           "--tz", tz, "--sl", ",".join(map(str, sl)), "--format", "csv")
        header, rows = run_duckdb(queue_daily_sql(day_lake, tz, first, last, sl=sl))
        _check(proc, header, rows, f"report queues {tz} --sl 10,30,120")

    @_needs("agents")
    @pytest.mark.parametrize("tz", ["Asia/Tokyo", "UTC"])
    def test_report_agents_matches_duckdb(day_lake, tz):
        first, last = _data_window(day_lake, tz)
        proc = run_ctrlake("report", "agents", "--lake", day_lake, *_window_args(first, last),
                           "--tz", tz, "--format", "csv")
        header, rows = run_duckdb(agent_daily_sql(day_lake, tz, first, last))
        _check(proc, header, rows, f"report agents {tz} {first}..{last}")

    # 2026-03-03 Tokyo starts at 15:00Z, mid-traffic: contacts enqueued on 03-02 are still waiting
    # at midnight, and a late night interval has waiting contacts but no enqueue.
    INTERVAL_CASES = [(15, "Asia/Tokyo", INTERVAL_DAY), (60, "Asia/Tokyo", INTERVAL_DAY),
                      (15, "Asia/Tokyo", _dt.date(2026, 3, 3))]

    @_needs("intervals")
    @pytest.mark.parametrize("minutes,tz,day", INTERVAL_CASES,
                             ids=[f"{m}m-{tz}-{d}" for m, tz, d in INTERVAL_CASES])
    def test_report_intervals_matches_duckdb(day_lake, minutes, tz, day):
        proc = run_ctrlake("report", "intervals", "--lake", day_lake, "--date", day.isoformat(),
                           "--tz", tz, "--minutes", minutes, "--format", "csv")
        header, rows = run_duckdb(queue_intervals_sql(day_lake, tz, day, day, minutes))
        _check(proc, header, rows, f"report intervals {minutes} min {tz} {day}")


def test_edge_supplement_makes_dedup_and_endpoint_rules_matter(day_lake):
    """Self-check of the test data: picking the oldest version, or ignoring
    TransferredToEndpoint, changes the DuckDB result (so the comparisons above test those rules)."""
    tz = "Asia/Tokyo"
    first, last = _data_window(day_lake, tz)
    sql = queue_daily_sql(day_lake, tz, first, last)
    _, rows = run_duckdb(sql)
    for old, new in (("ORDER BY last_update_timestamp DESC", "ORDER BY last_update_timestamp ASC"),
                     ("source_offset DESC NULLS LAST", "source_offset ASC NULLS LAST"),
                     ("arrival_timestamp DESC NULLS LAST", "arrival_timestamp ASC NULLS LAST"),
                     ("AND c.tte_address IS NULL AND c.tte_type IS NULL", "")):
        assert old in sql
        _, mutated = run_duckdb(sql.replace(old, new))
        assert mutated != rows, f"the test data cannot tell {old!r} from {new!r}"
