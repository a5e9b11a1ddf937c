-- agent_configs: the agent's configuration from each event that can change it, from the agent
-- event stream (table agent_events_raw): the routing profile, hierarchy groups, inbound queues
-- and concurrency of the event's current snapshot. agent_activities gives each segment the
-- config_ms of the row it ran under (the latest at or before its start).
--
-- Which events: every event but a heartbeat (a heartbeat repeats what is known, and changes
-- nothing here either; a configuration change is published as a STATE_CHANGE), and the
-- agent's earliest event whatever its type, so an agent whose window holds only heartbeats
-- still has a configuration. Leaving heartbeats out halved this view on a generated day of
-- 1,000 agents (800k events: 800k rows, 2.5 s and 1.5 GB peak to 350k rows, 1.7 s and
-- 1.0 GB), and the segments split at its rows with it. Copies of an event, or events of one
-- agent at the same millisecond,
-- give one row: the last EventId's (choice). A row_number() window picks it, not
-- first_value(... ORDER BY) per group: that aggregate over the list columns was the report's
-- costliest step (measured: 2.5 of 3.3 s).
--
-- Columns: agent_arn, at_ms (epoch milliseconds), event_time (UTC), event_type,
-- routing_profile, hierarchy_level1 .. hierarchy_level5 (group names), inbound_queues (list of
-- {arn, name, channels}), concurrency (list of {channel, maximum_slots}).
-- Parameters: $dt_scan_from, $events_dt_to (see agent_status_spans.sql).
WITH events AS (
    SELECT agent_arn, CAST(event_timestamp AS BIGINT) AS at_ms, event_id, event_type,
           agent_routing_profile_name, agent_hierarchy_level1_name,
           agent_hierarchy_level2_name, agent_hierarchy_level3_name,
           agent_hierarchy_level4_name, agent_hierarchy_level5_name,
           inbound_queues, concurrency
    FROM agent_events_raw
    WHERE dt BETWEEN $dt_scan_from AND $events_dt_to
),
firsts AS (
    SELECT agent_arn, min(at_ms) AS at_ms
    FROM events
    GROUP BY agent_arn
),
points AS (
    SELECT * FROM events WHERE event_type <> 'HEART_BEAT'
    UNION ALL
    SELECT e.*
    FROM events e
    JOIN firsts f ON f.agent_arn = e.agent_arn AND f.at_ms = e.at_ms
    WHERE e.event_type = 'HEART_BEAT'
)
SELECT agent_arn, at_ms, to_timestamp_millis(at_ms) AT TIME ZONE 'UTC' AS event_time, event_type,
       routing_profile, hierarchy_level1, hierarchy_level2, hierarchy_level3, hierarchy_level4,
       hierarchy_level5, inbound_queues, concurrency
FROM (SELECT agent_arn, at_ms, event_type,
             agent_routing_profile_name AS routing_profile,
             agent_hierarchy_level1_name AS hierarchy_level1,
             agent_hierarchy_level2_name AS hierarchy_level2,
             agent_hierarchy_level3_name AS hierarchy_level3,
             agent_hierarchy_level4_name AS hierarchy_level4,
             agent_hierarchy_level5_name AS hierarchy_level5,
             inbound_queues, concurrency,
             row_number() OVER (PARTITION BY agent_arn, at_ms ORDER BY event_id DESC) AS pick
      FROM points) ranked
WHERE pick = 1
