-- queue_intervals: the queue KPIs per local N-minute interval and queue, plus peak_waiting
-- (../shared kpis.md, "Intervals and queue depth").
--
-- Intervals are keyed by their local start with its offset ('2026-03-02T09:15:00+09:00'); a
-- contact counts in the interval of its Queue.EnqueueTimestamp. The metrics are queue_daily.sql's,
-- over the same view classified_contacts.
--
-- peak_waiting: a contact waits during [floor(Enqueue), floor(Dequeue)) at 1-second resolution
-- (contacts without DequeueTimestamp are skipped). A sweep: +1 at each wait start, -1 at each
-- wait end, a running sum per queue gives how many wait after every event second; every
-- interval start is added as a 0 event, so an interval inherits the contacts still waiting from
-- earlier ones and gets a row even when nobody was enqueued in it. The peak of an interval is
-- the largest running sum at any of its event seconds.
--
-- Parameters: $tz, $minutes, $from_date, $to_date, $dt_scan_from, $dt_to, $callback_dt_to,
-- $sl_inclusive, $all_queues, $by_channel (see queue_daily.sql), and the window as epoch milliseconds:
-- $window_start_ms (first local midnight), $interval_ms, $interval_count.
-- Table sl_thresholds(threshold_s).
WITH classified AS (
    SELECT local_interval_start(enqueued_at, $tz, $minutes) AS interval_start,
           CASE WHEN $all_queues THEN NULL ELSE queue_name END AS queue,
           CASE WHEN $by_channel THEN channel END AS channel,
           d, handled, abandoned, callback_requested, transferred_out,
           transferred_out_by_agent, transferred_out_from_queue, transferred_in, handled_incoming,
           interaction, hold, acw, pause, put_on_hold, attempts
    FROM classified_contacts
    WHERE queued
      AND local_date(enqueued_at, $tz) BETWEEN CAST($from_date AS DATE) AND CAST($to_date AS DATE)
),
per_threshold AS (
    SELECT k.*, t.threshold_s,
           CASE WHEN $sl_inclusive THEN k.d <= t.threshold_s ELSE k.d < t.threshold_s END AS within
    -- The thresholds first: without statistics DataFusion builds the left side of a cross
    -- join in memory, and a table of every contact there took 15 s (measured, 10M contacts).
    FROM sl_thresholds t
    CROSS JOIN classified k
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
           CAST(round(100.0 * count(*) FILTER (WHERE abandoned) / count(*), 3) AS DECIMAL(10, 3)) AS abandonment_rate_pct,
           CAST(round(avg(d) FILTER (WHERE handled), 3) AS DECIMAL(18, 3)) AS avg_queue_answer_time_s,
           CAST(round(avg(d) FILTER (WHERE abandoned), 3) AS DECIMAL(18, 3)) AS avg_queue_abandon_time_s,
           max(d) AS max_queued_time_s,
           CAST(round(100.0 * count(*) FILTER (WHERE (handled OR abandoned OR callback_requested) AND within) / count(*), 3) AS DECIMAL(10, 3)) AS service_level_pct,
           CAST(round(100.0 * count(*) FILTER (WHERE handled AND within) / count(*), 3) AS DECIMAL(10, 3)) AS answered_within_pct,
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
    SELECT CASE WHEN $all_queues THEN NULL ELSE queue_name END AS queue,
           CASE WHEN $by_channel THEN channel END AS channel,
           to_unixtime(date_trunc('second', queue_enqueue_timestamp)) AS wait_start,
           to_unixtime(date_trunc('second', queue_dequeue_timestamp)) AS wait_end
    FROM contacts
    WHERE dt BETWEEN $dt_scan_from AND $dt_to
      AND queue_enqueue_timestamp IS NOT NULL
      AND queue_dequeue_timestamp IS NOT NULL
),
grid AS (
    SELECT CAST(($window_start_ms + i * $interval_ms) / 1000 AS BIGINT) AS t
    FROM (SELECT unnest(range(0, $interval_count)) AS i)
),
-- The queues that get grid events: those of any version with a wait (a superset of the
-- newest versions' queues; a queue with no newest-version wait only adds zero rows, which
-- the final WHERE drops). Read from ctr_raw so that `contacts` is evaluated once for `waits`:
-- DataFusion computes a CTE again for every reference.
wait_queues AS (
    SELECT DISTINCT CASE WHEN $all_queues THEN NULL ELSE queue_name END AS queue,
                    CASE WHEN $by_channel THEN channel END AS channel
    FROM ctr_raw
    WHERE dt BETWEEN $dt_scan_from AND $dt_to
      AND queue_enqueue_timestamp IS NOT NULL
      AND queue_dequeue_timestamp IS NOT NULL
),
events AS (
    SELECT queue,
           channel,
           unnest(make_array(wait_start, wait_end)) AS t,
           unnest(make_array(1, -1)) AS delta
    FROM waits
    WHERE wait_end > wait_start
    UNION ALL
    SELECT q.queue, q.channel, g.t, 0 AS delta FROM wait_queues q CROSS JOIN grid g
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
    SELECT local_interval_start(to_timestamp_seconds(t), $tz, $minutes) AS interval_start,
           queue,
           channel,
           max(waiting) AS peak_waiting
    FROM levels
    WHERE t >= $window_start_ms / 1000
      AND t < ($window_start_ms + $interval_count * $interval_ms) / 1000
    GROUP BY 1, 2, 3
),
peaks_per_threshold AS (
    SELECT p.interval_start, p.queue, p.channel, p.peak_waiting, s.threshold_s
    FROM peaks p
    CROSS JOIN sl_thresholds s
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
-- Rows in the order of the instants their intervals start: on a day that sets clocks back the
-- two 01:xx hours have the same text but different offsets ('01:15-04:00' then '01:15-05:00').
SELECT * FROM joined ORDER BY to_timestamp(interval_start), queue, channel, threshold_s
