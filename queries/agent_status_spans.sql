-- agent_status_spans: every agent status as a span (one row per agent and status start), from
-- the agent event stream (table agent_events_raw, every delivered copy; ../shared
-- agent-events.md), one of the views agent_activity.sql is built from.
--
-- Durations come from the snapshots' StartTimestamp, never from the gaps between events, and
-- copies of an event (the same EventId) add nothing: every step keeps distinct values (status
-- starts, event times), so the spans do not depend on the order events arrived in, on
-- redeliveries, or on heartbeats (which repeat what is known). Copies are not removed first:
-- a sort of every event by id cost most of the report's memory.
-- - Every status start an agent's snapshots show begins a span: the current snapshot of every
--   event, the previous snapshot of every event but a heartbeat (whose previous snapshot AWS's
--   own sample contradicts). What a status was: the latest event's word on that start, and
--   within one event its current snapshot's over its previous one's.
-- - A span ends where the agent's next status begins. The last known status lasts until the
--   agent's last event (a heartbeat says it still holds).
-- - A status without a Type (AWS's older examples) is ROUTABLE when named Available, OFFLINE
--   when named Offline, CUSTOM otherwise (choice).
--
-- Columns: agent_arn, agent (the username of the agent's latest event), status_name,
-- status_type (ROUTABLE, CUSTOM or OFFLINE), start_ms and end_ms (epoch milliseconds, UTC),
-- start_time and end_time (the same as UTC timestamps), seconds (exact to the millisecond).
-- Spans are not split at midnight: agent_activities is, in the report's zone.
--
-- Parameters: $dt_scan_from, $events_dt_to: the agent_events partitions read (a report reads
-- the partition before its window's first, for spans begun the day before, and the one after
-- its last, for spans that end the next day).
WITH events AS (
    SELECT event_id, event_type, agent_arn, agent_username,
           CAST(event_timestamp AS BIGINT) AS at_ms,
           status_name, status_type, status_start_timestamp,
           previous_status_name, previous_status_type, previous_status_start_timestamp
    FROM agent_events_raw
    WHERE dt BETWEEN $dt_scan_from AND $events_dt_to
),
agents AS (
    SELECT agent_arn,
           first_value(agent_username ORDER BY at_ms DESC, event_id DESC) AS agent,
           max(at_ms) AS last_event_ms
    FROM events
    GROUP BY agent_arn
),
status_seen AS (
    SELECT agent_arn, CAST(status_start_timestamp AS BIGINT) AS start_ms,
           status_name AS name, status_type AS type, at_ms, 1 AS current
    FROM events
    WHERE status_start_timestamp IS NOT NULL
    UNION ALL
    SELECT agent_arn, CAST(previous_status_start_timestamp AS BIGINT),
           previous_status_name, previous_status_type, at_ms, 0
    FROM events
    WHERE previous_status_start_timestamp IS NOT NULL AND event_type <> 'HEART_BEAT'
),
status_starts AS (
    SELECT agent_arn, start_ms,
           first_value(name ORDER BY at_ms DESC, current DESC) AS name,
           first_value(type ORDER BY at_ms DESC, current DESC) AS type
    FROM status_seen
    GROUP BY agent_arn, start_ms
),
spans AS (
    SELECT s.agent_arn, a.agent, s.name AS status_name,
           coalesce(s.type, CASE s.name WHEN 'Available' THEN 'ROUTABLE'
                                        WHEN 'Offline' THEN 'OFFLINE'
                                        ELSE 'CUSTOM' END) AS status_type,
           s.start_ms,
           coalesce(lead(s.start_ms) OVER (PARTITION BY s.agent_arn ORDER BY s.start_ms),
                    greatest(a.last_event_ms, s.start_ms)) AS end_ms
    FROM status_starts s
    JOIN agents a ON a.agent_arn = s.agent_arn
)
SELECT agent_arn, agent, status_name, status_type, start_ms, end_ms,
       to_timestamp_millis(start_ms) AT TIME ZONE 'UTC' AS start_time,
       to_timestamp_millis(end_ms) AT TIME ZONE 'UTC' AS end_time,
       CAST((end_ms - start_ms) / 1000.0 AS DECIMAL(18, 3)) AS seconds
FROM spans
