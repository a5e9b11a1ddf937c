-- queue_daily: KPIs per local day and queue (../shared kpis.md, "Queue metrics").
--
-- A contact counts on the local date of Queue.EnqueueTimestamp, under Queue.Name; every
-- channel counts. Outbound contacts an agent took are never enqueued: they count only in
-- contacts_handled_outbound, under the queue they name, on the local date of
-- Agent.ConnectedToAgentTimestamp (a queue with only those on a day has a row of zero counts
-- and null averages); no other column sees them. What a contact counts as (handled, abandoned, ...) and its durations come
-- from the view classified_contacts (classified_contacts.sql), shared with queue_intervals.sql
-- and agent_daily.sql. One row per (date, queue, threshold): ctrlake turns the threshold rows
-- into service_level_<X>_pct, answered_within_<X>_pct and the counts behind them
-- (contacts_answered_in_<X>, contacts_abandoned_in_<X>, contacts_removed_from_queue_in_<X>:
-- the service level's numerator) columns.
--
-- Parameters (bound, never pasted):
--   $tz                       IANA time zone of the report, e.g. 'Asia/Tokyo'
--   $from_date, $to_date      first and last local date, 'YYYY-MM-DD'
--   $dt_from, $dt_to          the UTC partitions that overlap those local days
--   $dt_scan_from             $dt_from - the look-back (--lookback, default 1 day): a contact
--                             initiated (dt) before midnight UTC may be enqueued on the first
--                             day of the window (choice: a contact enqueued more days after it
--                             began than the look-back, e.g. a scheduled task, is not found)
--   $callback_dt_to           last partition searched for callback legs ($dt_to + 7 days)
--                             (these three bind the view classified_contacts)
--   $sl_inclusive             true: "D <= X" counts as within X; false (default): "D < X"
--   $all_queues               true: every queue's contacts together, one row per day (queue
--                             is NULL): the center's totals, computed from the contacts as a
--                             queue's are, never from the queues' averages
--   $by_channel               true: a row per channel too (VOICE, CHAT, TASK, ...); false:
--                             channel is NULL, every channel together
-- Table sl_thresholds(threshold_s): the service-level thresholds X in seconds.
WITH classified AS (
    SELECT local_date(CASE WHEN queued THEN enqueued_at ELSE connected_at END, $tz) AS date,
           CASE WHEN $all_queues THEN NULL ELSE queue_name END AS queue,
           CASE WHEN $by_channel THEN channel END AS channel,
           d, handled, abandoned, callback_requested, transferred_out,
           transferred_out_by_agent, transferred_out_from_queue, transferred_in, handled_incoming,
           interaction, hold, acw, pause, put_on_hold, attempts, queued, handled_outbound
    FROM classified_contacts
    WHERE (queued OR handled_outbound)
      AND local_date(CASE WHEN queued THEN enqueued_at ELSE connected_at END, $tz)
          BETWEEN CAST($from_date AS DATE) AND CAST($to_date AS DATE)
),
per_threshold AS (
    SELECT k.*, t.threshold_s,
           CASE WHEN $sl_inclusive THEN k.d <= t.threshold_s ELSE k.d < t.threshold_s END AS within
    -- The thresholds first: without statistics DataFusion builds the left side of a cross
    -- join in memory, and a table of every contact there took 15 s (measured, 10M contacts).
    FROM sl_thresholds t
    CROSS JOIN classified k
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
       CAST(round(100.0 * count(*) FILTER (WHERE abandoned) / nullif(count(*) FILTER (WHERE queued), 0), 3) AS DECIMAL(10, 3)) AS abandonment_rate_pct,
       CAST(round(avg(d) FILTER (WHERE handled), 3) AS DECIMAL(18, 3)) AS avg_queue_answer_time_s,
       CAST(round(avg(d) FILTER (WHERE abandoned), 3) AS DECIMAL(18, 3)) AS avg_queue_abandon_time_s,
       max(d) FILTER (WHERE queued) AS max_queued_time_s,
       CAST(round(100.0 * count(*) FILTER (WHERE (handled OR abandoned OR callback_requested) AND within) / nullif(count(*) FILTER (WHERE queued), 0), 3) AS DECIMAL(10, 3)) AS service_level_pct,
       CAST(round(100.0 * count(*) FILTER (WHERE handled AND within) / nullif(count(*) FILTER (WHERE queued), 0), 3) AS DECIMAL(10, 3)) AS answered_within_pct,
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
