-- agent_activities: one tiling of each agent's time into activities (one row per segment),
-- from the spans of agent_status_spans.sql and agent_contact_spans.sql, one of the views
-- agent_activity.sql is built from. Its segments tile the time from the agent's first known
-- status to their last event without gap or overlap, and those not 'offline' tile their
-- online time (any status but OFFLINE).
--
-- At each instant the agent's status and contacts decide one activity, in Connect's "Agent
-- Activity" priority (real-time metrics: Error > Missed > Rejected > On contact > ACW >
-- Incoming > custom status > Available):
--   offline             an OFFLINE status (whatever contacts are still shown)
--   missed_state        a contact MISSED, REJECTED or ERROR: the agent is not routable until the
--                       contact is cleared (Connect's "Error status time" is the ERROR part)
--   on_contact          a contact CONNECTED, CONNECTED_ONHOLD or PAUSED
--   after_contact_work  a contact ENDED (Connect starts ACW there)
--   connecting          a contact CONNECTING, INCOMING or PENDING (offered, ringing; queued
--                       callbacks)
--   non_productive      a CUSTOM status and no contact (Connect's Non-Productive Time also
--                       counts custom-status time while on a contact: choice)
--   available_idle      ROUTABLE and no contact (Connect's "Agent idle time" also counts time
--                       with only ERROR contacts: here that is missed_state)
-- A contact in a state none of these names (one added after this was written) counts as
-- on_contact: the agent is busy with it (choice).
--
-- How (a sweep: no range joins, which made this 9x slower than DuckDB's run of it): every
-- change on an agent's timeline (a status begins or ends, a contact enters a state, +1 in its
-- category, or leaves it, -1; an event that may change the configuration, a row of
-- agent_configs; a local day begins or ends) is a point; sums and maxima running over the ordered points give, between
-- two points, the status, how many contacts are in each category and the latest event.
--
-- Columns: date (the local day in $tz: segments are split at local midnight), agent_arn, agent,
-- activity, status_name, start_ms and end_ms (epoch milliseconds), start_time and end_time
-- (UTC), seconds, config_ms: the at_ms of the agent's latest agent_configs row at the
-- segment's start (routing profile, hierarchy, queues, concurrency) it ran under.
-- Parameters: $tz, $dt_scan_from, $events_dt_to; table local_days(date, start_ms, end_ms).
WITH event_points AS (
    SELECT agent_arn, at_ms FROM agent_configs
),
agents AS (
    SELECT DISTINCT agent_arn, agent FROM agent_status_spans
),
changes AS (
    SELECT agent_arn, start_ms AS t, 1 AS status_start, 0 AS event_point,
           0 AS d_missed, 0 AS d_connected, 0 AS d_ended, 0 AS d_connecting, 0 AS d_other
    FROM agent_status_spans
    UNION ALL
    SELECT agent_arn, end_ms, 0, 0, 0, 0, 0, 0, 0 FROM agent_status_spans
    UNION ALL
    SELECT agent_arn, at_ms, 0, 1, 0, 0, 0, 0, 0 FROM event_points
    UNION ALL
    SELECT a.agent_arn, d.start_ms, 0, 0, 0, 0, 0, 0, 0 FROM agents a CROSS JOIN local_days d
    UNION ALL
    SELECT a.agent_arn, d.end_ms, 0, 0, 0, 0, 0, 0, 0 FROM agents a CROSS JOIN local_days d
    UNION ALL
    SELECT agent_arn, t, 0, 0,
           sign * CASE WHEN state IN ('MISSED', 'REJECTED', 'ERROR') THEN 1 ELSE 0 END,
           sign * CASE WHEN state IN ('CONNECTED', 'CONNECTED_ONHOLD', 'PAUSED') THEN 1 ELSE 0 END,
           sign * CASE WHEN state = 'ENDED' THEN 1 ELSE 0 END,
           sign * CASE WHEN state IN ('CONNECTING', 'INCOMING', 'PENDING') THEN 1 ELSE 0 END,
           sign * CASE WHEN state IN ('MISSED', 'REJECTED', 'ERROR', 'CONNECTED',
                                      'CONNECTED_ONHOLD', 'PAUSED', 'ENDED', 'CONNECTING',
                                      'INCOMING', 'PENDING') THEN 0 ELSE 1 END
    FROM (SELECT agent_arn, start_ms AS t, state, 1 AS sign FROM agent_contact_spans
          UNION ALL
          SELECT agent_arn, end_ms, state, -1 FROM agent_contact_spans) c
),
change_points AS (
    SELECT agent_arn, t,
           max(status_start) AS status_start, max(event_point) AS event_point,
           sum(d_missed) AS d_missed, sum(d_connected) AS d_connected, sum(d_ended) AS d_ended,
           sum(d_connecting) AS d_connecting, sum(d_other) AS d_other
    FROM changes
    GROUP BY agent_arn, t
),
timeline AS (
    SELECT agent_arn, t AS start_ms,
           lead(t) OVER (PARTITION BY agent_arn ORDER BY t) AS end_ms,
           max(CASE WHEN status_start = 1 THEN t END)
               OVER (PARTITION BY agent_arn ORDER BY t ROWS UNBOUNDED PRECEDING) AS status_ms,
           max(CASE WHEN event_point = 1 THEN t END)
               OVER (PARTITION BY agent_arn ORDER BY t ROWS UNBOUNDED PRECEDING) AS config_ms,
           sum(d_missed) OVER (PARTITION BY agent_arn ORDER BY t ROWS UNBOUNDED PRECEDING) AS missed,
           sum(d_connected) OVER (PARTITION BY agent_arn ORDER BY t ROWS UNBOUNDED PRECEDING) AS connected,
           sum(d_ended) OVER (PARTITION BY agent_arn ORDER BY t ROWS UNBOUNDED PRECEDING) AS ended,
           sum(d_connecting) OVER (PARTITION BY agent_arn ORDER BY t ROWS UNBOUNDED PRECEDING) AS connecting,
           sum(d_other) OVER (PARTITION BY agent_arn ORDER BY t ROWS UNBOUNDED PRECEDING) AS other
    FROM change_points
)
SELECT local_date(to_timestamp_millis(l.start_ms), $tz) AS date,
       l.agent_arn, st.agent,
       CASE WHEN st.status_type = 'OFFLINE' THEN 'offline'
            WHEN l.missed > 0 THEN 'missed_state'
            WHEN l.connected > 0 THEN 'on_contact'
            WHEN l.ended > 0 THEN 'after_contact_work'
            WHEN l.connecting > 0 THEN 'connecting'
            WHEN st.status_type = 'CUSTOM' THEN 'non_productive'
            WHEN l.other = 0 THEN 'available_idle'
            ELSE 'on_contact'
       END AS activity,
       st.status_name, l.start_ms, l.end_ms,
       to_timestamp_millis(l.start_ms) AT TIME ZONE 'UTC' AS start_time,
       to_timestamp_millis(l.end_ms) AT TIME ZONE 'UTC' AS end_time,
       CAST((l.end_ms - l.start_ms) / 1000.0 AS DECIMAL(18, 3)) AS seconds,
       l.config_ms
FROM timeline l
JOIN agent_status_spans st ON st.agent_arn = l.agent_arn AND st.start_ms = l.status_ms
WHERE l.end_ms IS NOT NULL AND l.start_ms < st.end_ms
