-- queue_daily (Athena / Trino): the queue KPIs per local day and queue, as
-- queries/queue_daily.sql defines them and `ctrlake report queues` prints them. One row per
-- (date, queue, threshold_s): service_level_pct, answered_within_pct and the counts behind
-- them (contacts_answered_in, contacts_abandoned_in, contacts_removed_from_queue_in) are for
-- threshold_s (ctrlake's report spreads them into service_level_<X>_pct, ... columns).
--
-- Needs the `contacts` view (queries/athena/contacts.sql, created once). Set the report in
-- `params` and `sl_thresholds` below; nothing else needs editing:
--   tz            IANA time zone of the report; days and intervals are local days in it
--   from_date     first local day
--   to_date       last local day (inclusive)
--   sl_inclusive  false (ctrlake's default): a wait D counts as within X when D < X; true: D <= X
--   all_queues    true: one row per day for every queue together, queue NULL (the center's
--                 totals from its contacts, as `ctrlake report queues --all-queues` prints them)
--   by_channel    true: a row per channel too (`--group-by queue,channel`; with all_queues,
--                 `--group-by channel`); false: channel NULL
--   lookback_days UTC days read before the window (ctrlake's --lookback, default 1): a contact
--                 is found by the UTC day it was initiated, so one enqueued more days after
--                 that (a scheduled task, a late callback) needs more
--   sl_thresholds the service-level thresholds X, in seconds
--
-- Only the UTC day partitions (dt) the window needs are read: the days the local days overlap,
-- lookback_days before them (a contact initiated before midnight UTC can be enqueued after it), and
-- for callback legs the 7 days after them. Timestamps in the lake are UTC (the table's
-- `timestamp` columns); `with_timezone(ts, 'UTC')` makes them instants, `at_timezone` shows
-- them in the report's zone. Percentages use double division (a DECIMAL literal like 100.0
-- would round the quotient to one decimal in Trino).
--
-- tests/test_athena.py runs this file (sqlglot, Trino -> DuckDB) over generated and fixture
-- lakes and requires `ctrlake report queues`'s numbers, cell for cell.
WITH params AS (
    SELECT 'Asia/Tokyo' AS tz,                -- IANA zone of the report
           DATE '2026-03-02' AS from_date,    -- first local day
           DATE '2026-03-02' AS to_date,      -- last local day (inclusive)
           false AS sl_inclusive,             -- true: a wait equal to X counts as within X
           false AS all_queues,               -- true: every queue together (queue is NULL)
           false AS by_channel,               -- true: a row per channel too
           1 AS lookback_days                 -- UTC days read before the window (see below)
),
sl_thresholds (threshold_s) AS (
    VALUES 20, 60                             -- service-level thresholds, seconds
),
-- The window's first instant (local midnight of from_date) and its last millisecond, and the
-- dt partitions they fall in.
bounds AS (
    SELECT p.*,
           CAST(at_timezone(with_timezone(CAST(p.from_date AS timestamp), p.tz), 'UTC') AS date) AS first_dt,
           CAST(at_timezone(date_add('millisecond', -1, with_timezone(CAST(CAST(date_add('day', 1, p.to_date) AS date) AS timestamp), p.tz)), 'UTC') AS date) AS last_dt
    FROM params p
),
scan AS (
    SELECT b.*,
           CAST(CAST(date_add('day', -b.lookback_days, b.first_dt) AS date) AS varchar) AS dt_scan_from,
           CAST(b.last_dt AS varchar) AS dt_to,
           CAST(CAST(date_add('day', 7, b.last_dt) AS date) AS varchar) AS callback_dt_to
    FROM bounds b
),
queued AS (
    SELECT CAST(at_timezone(with_timezone(coalesce(c.queue_enqueue_timestamp, c.agent_connected_to_agent_timestamp), 'UTC'), s.tz) AS date) AS date,
           CASE WHEN s.all_queues THEN NULL ELSE c.queue_name END AS queue,
           CASE WHEN s.by_channel THEN c.channel END AS channel,
           CASE WHEN c.queue_duration BETWEEN 0 AND 31622400 THEN c.queue_duration END AS d,
           c.queue_enqueue_timestamp IS NOT NULL AS queued,
           c.queue_enqueue_timestamp IS NOT NULL
             AND c.agent_connected_to_agent_timestamp IS NOT NULL AS handled,
           c.queue_enqueue_timestamp IS NULL
             AND c.initiation_method = 'OUTBOUND' AS handled_outbound,
           c.next_contact_id,
           c.queue_enqueue_timestamp IS NOT NULL
             AND c.transfer_completed_timestamp IS NOT NULL AS transferred_out,
           c.queue_enqueue_timestamp IS NOT NULL
             AND c.initiation_method IN ('TRANSFER', 'QUEUE_TRANSFER') AS transferred_in,
           c.queue_enqueue_timestamp IS NOT NULL
             AND c.agent_connected_to_agent_timestamp IS NOT NULL
             AND c.initiation_method IS DISTINCT FROM 'OUTBOUND' AS handled_incoming,
           c.next_contact_id IS NULL
             AND c.transfer_completed_timestamp IS NULL
             AND c.transferred_to_endpoint_address IS NULL
             AND c.transferred_to_endpoint_type IS NULL AS no_follow_up,
           coalesce(CASE WHEN c.agent_interaction_duration BETWEEN 0 AND 31622400 THEN c.agent_interaction_duration END, 0) AS interaction,
           coalesce(CASE WHEN c.agent_customer_hold_duration BETWEEN 0 AND 31622400 THEN c.agent_customer_hold_duration END, 0) AS hold,
           coalesce(CASE WHEN c.agent_after_contact_work_duration BETWEEN 0 AND 31622400 THEN c.agent_after_contact_work_duration END, 0) AS acw,
           coalesce(CASE WHEN c.agent_pause_duration BETWEEN 0 AND 31622400 THEN c.agent_pause_duration END, 0) AS pause,
           coalesce(CASE WHEN c.agent_number_of_holds BETWEEN 0 AND 100000 THEN c.agent_number_of_holds END, 0) >= 1 AS put_on_hold,
           coalesce(CASE WHEN c.agent_connection_attempts BETWEEN 0 AND 100000 THEN c.agent_connection_attempts END, 0) AS attempts,
           s.from_date,
           s.to_date,
           s.sl_inclusive
    FROM contacts c
    CROSS JOIN scan s
    WHERE c.dt BETWEEN s.dt_scan_from AND s.dt_to
      -- queued, or an outbound contact an agent took under a queue it names (never enqueued:
      -- it counts only in contacts_handled_outbound, on the day of its agent connection)
      AND (c.queue_enqueue_timestamp IS NOT NULL
           OR (c.initiation_method = 'OUTBOUND' AND c.queue_name IS NOT NULL
               AND c.agent_connected_to_agent_timestamp IS NOT NULL))
),
-- Contacts begun by a callback (newest version), from the day before the window to 7 days
-- after it: an unhandled contact whose NextContactId is one of them requested a callback.
callback_legs AS (
    SELECT DISTINCT c.contact_id
    FROM contacts c
    CROSS JOIN scan s
    WHERE c.dt BETWEEN s.dt_scan_from AND s.callback_dt_to
      AND c.initiation_method = 'CALLBACK'
),
classified AS (
    SELECT q.*,
           q.queued AND NOT q.handled AND l.contact_id IS NOT NULL AS callback_requested,
           q.queued AND NOT q.handled AND q.no_follow_up AS abandoned,
           q.handled AND NOT q.no_follow_up AS transferred_out_by_agent,
           q.queued AND NOT q.handled AND q.next_contact_id IS NOT NULL
             AND l.contact_id IS NULL AS transferred_out_from_queue
    FROM queued q
    LEFT JOIN callback_legs l ON l.contact_id = q.next_contact_id
    WHERE q.date BETWEEN q.from_date AND q.to_date
),
per_threshold AS (
    SELECT k.*,
           t.threshold_s,
           CASE WHEN k.sl_inclusive THEN k.d <= t.threshold_s ELSE k.d < t.threshold_s END AS within
    FROM classified k
    CROSS JOIN sl_thresholds t
)
SELECT date,
       queue,
       channel,
       threshold_s,
       count(*) FILTER (WHERE queued) AS contacts_queued,
       count(*) FILTER (WHERE handled) AS contacts_handled,
       count(*) FILTER (WHERE handled_incoming) AS contacts_handled_incoming,
       count(*) FILTER (WHERE handled_outbound) AS contacts_handled_outbound,
       count(*) FILTER (WHERE abandoned) AS contacts_abandoned,
       CAST(round(100 * CAST(count(*) FILTER (WHERE abandoned) AS double) / nullif(count(*) FILTER (WHERE queued), 0), 3) AS DECIMAL(10, 3)) AS abandonment_rate_pct,
       CAST(round(avg(d) FILTER (WHERE handled), 3) AS DECIMAL(18, 3)) AS avg_queue_answer_time_s,
       CAST(round(avg(d) FILTER (WHERE abandoned), 3) AS DECIMAL(18, 3)) AS avg_queue_abandon_time_s,
       max(d) FILTER (WHERE queued) AS max_queued_time_s,
       CAST(round(100 * CAST(count(*) FILTER (WHERE (handled OR abandoned OR callback_requested) AND within) AS double) / nullif(count(*) FILTER (WHERE queued), 0), 3) AS DECIMAL(10, 3)) AS service_level_pct,
       CAST(round(100 * CAST(count(*) FILTER (WHERE handled AND within) AS double) / nullif(count(*) FILTER (WHERE queued), 0), 3) AS DECIMAL(10, 3)) AS answered_within_pct,
       count(*) FILTER (WHERE handled AND within) AS contacts_answered_in,
       count(*) FILTER (WHERE abandoned AND within) AS contacts_abandoned_in,
       count(*) FILTER (WHERE (handled OR abandoned OR callback_requested) AND within) AS contacts_removed_from_queue_in,
       CAST(round(avg(interaction + hold + acw + pause) FILTER (WHERE handled), 3) AS DECIMAL(18, 3)) AS avg_handle_time_s,
       CAST(round(avg(interaction + hold + acw) FILTER (WHERE handled), 3) AS DECIMAL(18, 3)) AS avg_handle_time_excl_pause_s,
       CAST(round(avg(interaction) FILTER (WHERE handled), 3) AS DECIMAL(18, 3)) AS avg_agent_interaction_s,
       CAST(round(avg(hold) FILTER (WHERE handled AND put_on_hold), 3) AS DECIMAL(18, 3)) AS avg_customer_hold_s,
       CAST(round(avg(hold) FILTER (WHERE handled), 3) AS DECIMAL(18, 3)) AS avg_customer_hold_all_contacts_s,
       CAST(round(avg(acw) FILTER (WHERE handled), 3) AS DECIMAL(18, 3)) AS avg_after_contact_work_s,
       count(*) FILTER (WHERE handled AND put_on_hold) AS contacts_put_on_hold,
       count(*) FILTER (WHERE transferred_out) AS contacts_transferred_out,
       count(*) FILTER (WHERE transferred_out_by_agent) AS contacts_transferred_out_by_agent,
       count(*) FILTER (WHERE transferred_out_from_queue) AS contacts_transferred_out_from_queue,
       count(*) FILTER (WHERE transferred_in) AS contacts_transferred_in,
       count(*) FILTER (WHERE callback_requested) AS contacts_callback_requested,
       coalesce(sum(greatest(attempts - CASE WHEN handled THEN 1 ELSE 0 END, 0)) FILTER (WHERE queued), 0) AS agent_non_response,
       coalesce(sum(d) FILTER (WHERE handled), 0) AS sum_queue_answer_time_s,
       coalesce(sum(d) FILTER (WHERE abandoned), 0) AS sum_queue_abandon_time_s,
       coalesce(sum(interaction + hold + acw + pause) FILTER (WHERE handled), 0) AS sum_handle_time_s
FROM per_threshold
GROUP BY date, queue, channel, threshold_s
ORDER BY date, queue, channel, threshold_s
