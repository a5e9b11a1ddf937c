-- queue_intervals (Athena / Trino): the queue KPIs per local N-minute interval and queue, plus
-- peak_waiting, as queries/queue_intervals.sql defines them and `ctrlake report intervals`
-- prints them. One row per (interval_start, queue, threshold_s); interval_start is a timestamp
-- with time zone in the report's zone (ctrlake prints it as 2026-03-02T09:15:00+09:00).
--
-- Needs the `contacts` view (queries/athena/contacts.sql, created once). Set the report in
-- `params` and `sl_thresholds` below; nothing else needs editing:
--   tz, from_date, to_date, sl_inclusive, all_queues, by_channel, lookback_days, sl_thresholds
--                 as in queue_daily.sql
--   minutes       the interval length: a divisor of 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)
--
-- A contact counts in the interval of its Queue.EnqueueTimestamp; the metrics are those of
-- queue_daily.sql. peak_waiting: a contact waits during [floor(Enqueue), floor(Dequeue)) at
-- 1-second resolution (contacts without DequeueTimestamp are skipped); a sweep of +1/-1 events
-- per queue, with every interval start added as a 0 event so that an interval inherits the
-- contacts still waiting from earlier ones and gets a row even when nobody was enqueued in it.
-- The peak of an interval is the largest running sum at any of its event seconds.
--
-- Instants are computed in UTC (the lake's timestamps); an instant's interval is found by
-- stepping back by its local wall-clock time's position in the interval, which lands on the
-- local boundary across daylight-saving changes too (the interval divides an hour).
--
-- tests/test_athena.py runs this file (sqlglot, Trino -> DuckDB) over generated and fixture
-- lakes and requires `ctrlake report intervals`'s numbers, cell for cell.
WITH params AS (
    SELECT 'Asia/Tokyo' AS tz,                -- IANA zone of the report
           DATE '2026-03-02' AS from_date,    -- first local day
           DATE '2026-03-02' AS to_date,      -- last local day (inclusive)
           15 AS minutes,                     -- interval length, a divisor of 60
           false AS sl_inclusive,             -- true: a wait equal to X counts as within X
           false AS all_queues,               -- true: every queue together (queue is NULL)
           false AS by_channel,               -- true: a row per channel too
           1 AS lookback_days                 -- UTC days read before the window (see below)
),
sl_thresholds (threshold_s) AS (
    VALUES 20, 60                             -- service-level thresholds, seconds
),
-- The window as UTC instants: local midnight of from_date, and of the day after to_date.
bounds AS (
    SELECT p.*,
           p.minutes * 60000 AS interval_ms,
           CAST(at_timezone(with_timezone(CAST(p.from_date AS timestamp), p.tz), 'UTC') AS timestamp) AS window_start,
           CAST(at_timezone(with_timezone(CAST(CAST(date_add('day', 1, p.to_date) AS date) AS timestamp), p.tz), 'UTC') AS timestamp) AS window_end
    FROM params p
),
scan AS (
    SELECT b.*,
           CAST(CAST(date_add('day', -b.lookback_days, CAST(b.window_start AS date)) AS date) AS varchar) AS dt_scan_from,
           CAST(CAST(date_add('millisecond', -1, b.window_end) AS date) AS varchar) AS dt_to,
           CAST(CAST(date_add('day', 7, CAST(date_add('millisecond', -1, b.window_end) AS date)) AS date) AS varchar) AS callback_dt_to,
           CAST(ceil(CAST(date_diff('millisecond', b.window_start, b.window_end) AS double) / b.interval_ms) AS bigint) AS interval_count
    FROM bounds b
),
queued AS (
    SELECT CAST(at_timezone(with_timezone(c.queue_enqueue_timestamp, 'UTC'), s.tz) AS date) AS date,
           date_add('millisecond',
                    -(date_diff('millisecond', TIMESTAMP '1970-01-01 00:00:00',
                                CAST(at_timezone(with_timezone(c.queue_enqueue_timestamp, 'UTC'), s.tz) AS timestamp))
                      % s.interval_ms),
                    c.queue_enqueue_timestamp) AS interval_start,
           CASE WHEN s.all_queues THEN NULL ELSE c.queue_name END AS queue,
           CASE WHEN s.by_channel THEN c.channel END AS channel,
           CASE WHEN c.queue_duration BETWEEN 0 AND 31622400 THEN c.queue_duration END AS d,
           c.agent_connected_to_agent_timestamp IS NOT NULL AS handled,
           c.next_contact_id,
           c.transfer_completed_timestamp IS NOT NULL AS transferred_out,
           c.initiation_method IN ('TRANSFER', 'QUEUE_TRANSFER') AS transferred_in,
           c.agent_connected_to_agent_timestamp IS NOT NULL
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
      AND c.queue_enqueue_timestamp IS NOT NULL
),
callback_legs AS (
    SELECT DISTINCT c.contact_id
    FROM contacts c
    CROSS JOIN scan s
    WHERE c.dt BETWEEN s.dt_scan_from AND s.callback_dt_to
      AND c.initiation_method = 'CALLBACK'
),
classified AS (
    SELECT q.*,
           NOT q.handled AND l.contact_id IS NOT NULL AS callback_requested,
           NOT q.handled AND q.no_follow_up AS abandoned,
           q.handled AND NOT q.no_follow_up AS transferred_out_by_agent,
           NOT q.handled AND q.next_contact_id IS NOT NULL
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
),
metrics AS (
    SELECT interval_start,
           queue,
           channel,
           threshold_s,
           count(*) AS contacts_queued,
           count(*) FILTER (WHERE handled) AS contacts_handled,
           count(*) FILTER (WHERE handled_incoming) AS contacts_handled_incoming,
           count(*) FILTER (WHERE abandoned) AS contacts_abandoned,
           CAST(round(100 * CAST(count(*) FILTER (WHERE abandoned) AS double) / count(*), 3) AS DECIMAL(10, 3)) AS abandonment_rate_pct,
           CAST(round(avg(d) FILTER (WHERE handled), 3) AS DECIMAL(18, 3)) AS avg_queue_answer_time_s,
           CAST(round(avg(d) FILTER (WHERE abandoned), 3) AS DECIMAL(18, 3)) AS avg_queue_abandon_time_s,
           max(d) AS max_queued_time_s,
           CAST(round(100 * CAST(count(*) FILTER (WHERE (handled OR abandoned OR callback_requested) AND within) AS double) / count(*), 3) AS DECIMAL(10, 3)) AS service_level_pct,
           CAST(round(100 * CAST(count(*) FILTER (WHERE handled AND within) AS double) / count(*), 3) AS DECIMAL(10, 3)) AS answered_within_pct,
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
           sum(greatest(attempts - CASE WHEN handled THEN 1 ELSE 0 END, 0)) AS agent_non_response,
           coalesce(sum(d) FILTER (WHERE handled), 0) AS sum_queue_answer_time_s,
           coalesce(sum(d) FILTER (WHERE abandoned), 0) AS sum_queue_abandon_time_s,
           coalesce(sum(interaction + hold + acw + pause) FILTER (WHERE handled), 0) AS sum_handle_time_s
    FROM per_threshold
    GROUP BY interval_start, queue, channel, threshold_s
),
waits AS (
    SELECT CASE WHEN s.all_queues THEN NULL ELSE c.queue_name END AS queue,
           CASE WHEN s.by_channel THEN c.channel END AS channel,
           date_trunc('second', c.queue_enqueue_timestamp) AS wait_start,
           date_trunc('second', c.queue_dequeue_timestamp) AS wait_end
    FROM contacts c
    CROSS JOIN scan s
    WHERE c.dt BETWEEN s.dt_scan_from AND s.dt_to
      AND c.queue_enqueue_timestamp IS NOT NULL
      AND c.queue_dequeue_timestamp IS NOT NULL
),
grid AS (
    SELECT date_add('millisecond', g.i * s.interval_ms, s.window_start) AS t
    FROM scan s
    CROSS JOIN UNNEST(sequence(0, s.interval_count - 1)) AS g (i)
),
events AS (
    SELECT queue, channel, wait_start AS t, 1 AS delta FROM waits WHERE wait_end > wait_start
    UNION ALL
    SELECT queue, channel, wait_end AS t, -1 AS delta FROM waits WHERE wait_end > wait_start
    UNION ALL
    SELECT q.queue, q.channel, g.t, 0 AS delta
    FROM (SELECT DISTINCT queue, channel FROM waits) q
    CROSS JOIN grid g
),
per_second AS (
    SELECT queue, channel, t, sum(delta) AS delta FROM events GROUP BY queue, channel, t
),
levels AS (
    SELECT queue, channel, t,
           sum(delta) OVER (PARTITION BY queue, channel ORDER BY t ROWS UNBOUNDED PRECEDING) AS waiting
    FROM per_second
),
peaks AS (
    SELECT date_add('millisecond',
                    -(date_diff('millisecond', TIMESTAMP '1970-01-01 00:00:00',
                                CAST(at_timezone(with_timezone(l.t, 'UTC'), s.tz) AS timestamp))
                      % s.interval_ms),
                    l.t) AS interval_start,
           l.queue,
           l.channel,
           max(l.waiting) AS peak_waiting
    FROM levels l
    CROSS JOIN scan s
    WHERE l.t >= s.window_start
      AND l.t < date_add('millisecond', s.interval_count * s.interval_ms, s.window_start)
    GROUP BY 1, 2, 3
),
peaks_per_threshold AS (
    SELECT p.interval_start, p.queue, p.channel, p.peak_waiting, t.threshold_s
    FROM peaks p
    CROSS JOIN sl_thresholds t
),
joined AS (
    SELECT coalesce(m.interval_start, p.interval_start) AS interval_start,
           coalesce(m.queue, p.queue) AS queue,
           coalesce(m.channel, p.channel) AS channel,
           coalesce(m.threshold_s, p.threshold_s) AS threshold_s,
           coalesce(m.contacts_queued, 0) AS contacts_queued,
           coalesce(m.contacts_handled, 0) AS contacts_handled,
           coalesce(m.contacts_handled_incoming, 0) AS contacts_handled_incoming,
           coalesce(m.contacts_abandoned, 0) AS contacts_abandoned,
           m.abandonment_rate_pct,
           m.avg_queue_answer_time_s,
           m.avg_queue_abandon_time_s,
           m.max_queued_time_s,
           m.service_level_pct,
           m.answered_within_pct,
           coalesce(m.contacts_answered_in, 0) AS contacts_answered_in,
           coalesce(m.contacts_abandoned_in, 0) AS contacts_abandoned_in,
           coalesce(m.contacts_removed_from_queue_in, 0) AS contacts_removed_from_queue_in,
           m.avg_handle_time_s,
           m.avg_handle_time_excl_pause_s,
           m.avg_agent_interaction_s,
           m.avg_customer_hold_s,
           m.avg_customer_hold_all_contacts_s,
           m.avg_after_contact_work_s,
           coalesce(m.contacts_put_on_hold, 0) AS contacts_put_on_hold,
           coalesce(m.contacts_transferred_out, 0) AS contacts_transferred_out,
           coalesce(m.contacts_transferred_out_by_agent, 0) AS contacts_transferred_out_by_agent,
           coalesce(m.contacts_transferred_out_from_queue, 0) AS contacts_transferred_out_from_queue,
           coalesce(m.contacts_transferred_in, 0) AS contacts_transferred_in,
           coalesce(m.contacts_callback_requested, 0) AS contacts_callback_requested,
           coalesce(m.agent_non_response, 0) AS agent_non_response,
           coalesce(m.sum_queue_answer_time_s, 0) AS sum_queue_answer_time_s,
           coalesce(m.sum_queue_abandon_time_s, 0) AS sum_queue_abandon_time_s,
           coalesce(m.sum_handle_time_s, 0) AS sum_handle_time_s,
           coalesce(p.peak_waiting, 0) AS peak_waiting
    FROM peaks_per_threshold p
    FULL OUTER JOIN metrics m
      ON m.interval_start = p.interval_start
     AND (m.queue IS NOT DISTINCT FROM p.queue)
     AND (m.channel IS NOT DISTINCT FROM p.channel)
     AND m.threshold_s = p.threshold_s
    WHERE m.threshold_s IS NOT NULL OR p.peak_waiting > 0
)
SELECT at_timezone(with_timezone(j.interval_start, 'UTC'), s.tz) AS interval_start,
       j.queue,
       j.channel,
       j.threshold_s,
       j.contacts_queued,
       j.contacts_handled,
       j.contacts_handled_incoming,
       j.contacts_abandoned,
       j.abandonment_rate_pct,
       j.avg_queue_answer_time_s,
       j.avg_queue_abandon_time_s,
       j.max_queued_time_s,
       j.service_level_pct,
       j.answered_within_pct,
       j.contacts_answered_in,
       j.contacts_abandoned_in,
       j.contacts_removed_from_queue_in,
       j.avg_handle_time_s,
       j.avg_handle_time_excl_pause_s,
       j.avg_agent_interaction_s,
       j.avg_customer_hold_s,
       j.avg_customer_hold_all_contacts_s,
       j.avg_after_contact_work_s,
       j.contacts_put_on_hold,
       j.contacts_transferred_out,
       j.contacts_transferred_out_by_agent,
       j.contacts_transferred_out_from_queue,
       j.contacts_transferred_in,
       j.contacts_callback_requested,
       j.agent_non_response,
       j.sum_queue_answer_time_s,
       j.sum_queue_abandon_time_s,
       j.sum_handle_time_s,
       j.peak_waiting
FROM joined j
CROSS JOIN scan s
ORDER BY j.interval_start, j.queue, j.channel, j.threshold_s
