-- queue_daily: KPIs per local day and queue (../shared kpis.md, "Queue metrics").
--
-- A contact counts on the local date of Queue.EnqueueTimestamp, under Queue.Name; every
-- channel counts. Durations are seconds from the record (Queue.Duration, never
-- dequeue - enqueue: for callbacks they differ). One row per (date, queue, threshold): ctrlake
-- turns the threshold rows into service_level_<X>_pct / answered_within_<X>_pct columns.
--
-- Durations above 366 days (31,622,400 s) and counts above 100,000 are ignored (as null):
-- ingest dead-letters them, so only a file from elsewhere can hold one, and a value near
-- 2^63 would overflow the sums and averages.
--
-- Parameters (bound, never pasted):
--   $tz                       IANA time zone of the report, e.g. 'Asia/Tokyo'
--   $from_date, $to_date      first and last local date, 'YYYY-MM-DD'
--   $dt_from, $dt_to          the UTC partitions that overlap those local days
--   $dt_scan_from             $dt_from - 1 day: a contact initiated (dt) before midnight UTC
--                             may be enqueued on the first day of the window (choice: a
--                             contact enqueued more than a day after it began is not found)
--   $callback_dt_to           last partition searched for callback legs ($dt_to + 7 days)
--   $sl_inclusive             true: "D <= X" counts as within X; false (default): "D < X"
--   $all_queues               true: every queue's contacts together, one row per day (queue
--                             is NULL): the center's totals, computed from the contacts as a
--                             queue's are, never from the queues' averages
-- Table sl_thresholds(threshold_s): the service-level thresholds X in seconds.
WITH queued AS (
    SELECT local_date(queue_enqueue_timestamp, $tz) AS date,
           CASE WHEN $all_queues THEN NULL ELSE queue_name END AS queue,
           CASE WHEN queue_duration BETWEEN 0 AND 31622400 THEN queue_duration END AS d,
           agent_connected_to_agent_timestamp IS NOT NULL AS handled,
           next_contact_id,
           transfer_completed_timestamp IS NOT NULL AS transferred_out,
           next_contact_id IS NULL
             AND transfer_completed_timestamp IS NULL
             AND transferred_to_endpoint_address IS NULL
             AND transferred_to_endpoint_type IS NULL AS no_follow_up,
           coalesce(CASE WHEN agent_interaction_duration BETWEEN 0 AND 31622400 THEN agent_interaction_duration END, 0) AS interaction,
           coalesce(CASE WHEN agent_customer_hold_duration BETWEEN 0 AND 31622400 THEN agent_customer_hold_duration END, 0) AS hold,
           coalesce(CASE WHEN agent_after_contact_work_duration BETWEEN 0 AND 31622400 THEN agent_after_contact_work_duration END, 0) AS acw,
           coalesce(CASE WHEN agent_pause_duration BETWEEN 0 AND 31622400 THEN agent_pause_duration END, 0) AS pause,
           coalesce(CASE WHEN agent_number_of_holds BETWEEN 0 AND 100000 THEN agent_number_of_holds END, 0) >= 1 AS put_on_hold,
           coalesce(CASE WHEN agent_connection_attempts BETWEEN 0 AND 100000 THEN agent_connection_attempts END, 0) AS attempts
    FROM contacts
    WHERE dt BETWEEN $dt_scan_from AND $dt_to
      AND queue_enqueue_timestamp IS NOT NULL
),
-- The next legs of this window's contacts, newest version of each (same rule as the contacts
-- view, applied only to the few rows that are some contact's NextContactId).
next_legs AS (
    SELECT contact_id,
           first_value(initiation_method ORDER BY last_update_timestamp DESC,
                                                  arrival_timestamp DESC NULLS LAST,
                                                  source_uri DESC,
                                                  source_offset DESC NULLS LAST,
                                                  length(source_sequence_number) DESC NULLS LAST,
                                                  source_sequence_number DESC NULLS LAST) AS initiation_method
    FROM ctr_raw
    WHERE dt BETWEEN $dt_scan_from AND $callback_dt_to
      AND contact_id IN (SELECT next_contact_id
                         FROM ctr_raw
                         WHERE dt BETWEEN $dt_scan_from AND $dt_to
                           AND next_contact_id IS NOT NULL
                           AND queue_enqueue_timestamp IS NOT NULL
                           AND agent_connected_to_agent_timestamp IS NULL)
    GROUP BY contact_id
),
callback_legs AS (
    SELECT contact_id FROM next_legs WHERE initiation_method = 'CALLBACK'
),
classified AS (
    SELECT q.*,
           NOT q.handled AND c.contact_id IS NOT NULL AS callback_requested,
           NOT q.handled AND q.no_follow_up AS abandoned
    FROM queued q
    LEFT JOIN callback_legs c ON c.contact_id = q.next_contact_id
    WHERE q.date BETWEEN CAST($from_date AS DATE) AND CAST($to_date AS DATE)
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
       threshold_s,
       count(*) AS contacts_queued,
       count(*) FILTER (WHERE handled) AS contacts_handled,
       count(*) FILTER (WHERE abandoned) AS contacts_abandoned,
       CAST(round(100.0 * count(*) FILTER (WHERE abandoned) / count(*), 3) AS DECIMAL(10, 3)) AS abandonment_rate_pct,
       CAST(round(avg(d) FILTER (WHERE handled), 3) AS DECIMAL(18, 3)) AS avg_queue_answer_time_s,
       CAST(round(avg(d) FILTER (WHERE abandoned), 3) AS DECIMAL(18, 3)) AS avg_queue_abandon_time_s,
       max(d) AS max_queued_time_s,
       CAST(round(100.0 * count(*) FILTER (WHERE (handled OR abandoned OR callback_requested) AND within) / count(*), 3) AS DECIMAL(10, 3)) AS service_level_pct,
       CAST(round(100.0 * count(*) FILTER (WHERE handled AND within) / count(*), 3) AS DECIMAL(10, 3)) AS answered_within_pct,
       CAST(round(avg(interaction + hold + acw + pause) FILTER (WHERE handled), 3) AS DECIMAL(18, 3)) AS avg_handle_time_s,
       CAST(round(avg(interaction) FILTER (WHERE handled), 3) AS DECIMAL(18, 3)) AS avg_agent_interaction_s,
       CAST(round(avg(hold) FILTER (WHERE handled), 3) AS DECIMAL(18, 3)) AS avg_customer_hold_s,
       CAST(round(avg(acw) FILTER (WHERE handled), 3) AS DECIMAL(18, 3)) AS avg_after_contact_work_s,
       count(*) FILTER (WHERE handled AND put_on_hold) AS contacts_put_on_hold,
       count(*) FILTER (WHERE transferred_out) AS contacts_transferred_out,
       count(*) FILTER (WHERE callback_requested) AS contacts_callback_requested,
       sum(greatest(attempts - CASE WHEN handled THEN 1 ELSE 0 END, 0)) AS agent_non_response
FROM per_threshold
GROUP BY date, queue, threshold_s
ORDER BY date, queue, threshold_s
