-- queue_waiting_spans: the spans of time during which at least one contact waited in a queue
-- on a channel, from the CTRs (table contacts, the newest version of each): a contact waits
-- from its Queue.EnqueueTimestamp to its Queue.DequeueTimestamp. Overlapping and touching
-- waits make one span. agent_activity.sql's phantom_available_s is an agent's available idle
-- time inside the spans of their inbound queues.
--
-- How (a sweep, no self-join): every wait adds +1 at its start and -1 at its end; the count
-- running over a queue's ordered points is how many waited; a span begins where the count
-- leaves 0 and ends where it returns to 0. A contact without both timestamps, or dequeued
-- before it was enqueued (a bad record), does not wait here (choice).
--
-- Columns: queue_arn, channel, start_ms and end_ms (epoch milliseconds), start_time and
-- end_time (UTC), seconds.
-- Parameters: $dt_scan_from, $events_dt_to: the ctr partitions read (a report reads the day
-- before its window and the day after, as for agent events).
WITH waits AS (
    SELECT queue_arn, channel,
           CAST(queue_enqueue_timestamp AS BIGINT) AS wait_start,
           CAST(queue_dequeue_timestamp AS BIGINT) AS wait_end
    FROM contacts
    WHERE dt BETWEEN $dt_scan_from AND $events_dt_to
      AND queue_arn IS NOT NULL
      AND queue_dequeue_timestamp > queue_enqueue_timestamp
),
points AS (
    SELECT queue_arn, channel, t, sum(d) AS d
    FROM (SELECT queue_arn, channel, wait_start AS t, 1 AS d FROM waits
          UNION ALL
          SELECT queue_arn, channel, wait_end, -1 FROM waits) p
    GROUP BY queue_arn, channel, t
),
counts AS (
    SELECT queue_arn, channel, t,
           sum(d) OVER (PARTITION BY queue_arn, channel ORDER BY t
                        ROWS UNBOUNDED PRECEDING) AS waiting
    FROM points
),
edges AS (
    SELECT queue_arn, channel, t, waiting,
           lag(waiting, 1, 0) OVER (PARTITION BY queue_arn, channel ORDER BY t) AS before
    FROM counts
),
-- Starts (the count leaves 0) and ends (it returns to 0) alternate, so a start's next edge
-- is its end.
bounds AS (
    SELECT queue_arn, channel, t, waiting,
           lead(t) OVER (PARTITION BY queue_arn, channel ORDER BY t) AS next_t
    FROM edges
    WHERE (before = 0) <> (waiting = 0)
),
spans AS (
    SELECT queue_arn, channel, t AS start_ms, next_t AS end_ms
    FROM bounds
    WHERE waiting > 0
)
SELECT queue_arn, channel, start_ms, end_ms,
       to_timestamp_millis(start_ms) AT TIME ZONE 'UTC' AS start_time,
       to_timestamp_millis(end_ms) AT TIME ZONE 'UTC' AS end_time,
       CAST((end_ms - start_ms) / 1000.0 AS DECIMAL(18, 3)) AS seconds
FROM spans
