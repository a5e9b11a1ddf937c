-- agent_configs: the agent's configuration at each event time, from the agent event stream
-- (table agent_events_raw): the routing profile, hierarchy groups, inbound queues and
-- concurrency of the event's current snapshot. One row per agent and event time; copies of
-- an event, or events at the same millisecond, give one row: the last EventId's (choice).
-- agent_activities gives each segment the config_ms of the row it ran under.
--
-- Why a row_number() window and not first_value(... ORDER BY) per group: that aggregate over
-- the list columns was the report's costliest step (measured: 2.5 of 3.3 s).
--
-- Columns: agent_arn, at_ms (epoch milliseconds), event_time (UTC), routing_profile,
-- hierarchy_level1 .. hierarchy_level5 (group names), inbound_queues (list of {arn, name,
-- channels}), concurrency (list of {channel, maximum_slots}).
-- Parameters: $dt_scan_from, $events_dt_to (see agent_status_spans.sql).
SELECT agent_arn, at_ms, to_timestamp_millis(at_ms) AS event_time, routing_profile,
       hierarchy_level1, hierarchy_level2, hierarchy_level3, hierarchy_level4, hierarchy_level5,
       inbound_queues, concurrency
FROM (SELECT agent_arn, CAST(event_timestamp AS BIGINT) AS at_ms,
             agent_routing_profile_name AS routing_profile,
             agent_hierarchy_level1_name AS hierarchy_level1,
             agent_hierarchy_level2_name AS hierarchy_level2,
             agent_hierarchy_level3_name AS hierarchy_level3,
             agent_hierarchy_level4_name AS hierarchy_level4,
             agent_hierarchy_level5_name AS hierarchy_level5,
             inbound_queues, concurrency,
             row_number() OVER (PARTITION BY agent_arn, event_timestamp
                                ORDER BY event_id DESC) AS pick
      FROM agent_events_raw
      WHERE dt BETWEEN $dt_scan_from AND $events_dt_to) ranked
WHERE pick = 1
