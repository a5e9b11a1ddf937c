-- agent_activity: where every online second of an agent went, per local day and agent (or
-- group), from the agent event stream (../shared agent-events.md): the sums of the segments of
-- agent_activities.sql, which tile each agent's online time from the spans of
-- agent_status_spans.sql and agent_contact_spans.sql, under the configurations of
-- agent_configs.sql, and for phantom_available_s the spans of queue_waiting_spans.sql (every
-- rule is stated in those files). ctrlake computes those five views once for the window and
-- runs this file over them; in `ctrlake sql` they are views of the same files.
--
-- Columns: online_s = the sum of the activity columns (they tile it exactly);
-- occupancy_pct = 100 x (on_contact + ACW) / (on_contact + ACW + available_idle), Connect's
-- occupancy (it ignores concurrency); contacts_connected = distinct contacts that reached
-- CONNECTED that local day; offers_missed = distinct (contact, MISSED/REJECTED state start):
-- offers this agent did not take (Connect's "Agent non-response", which counts per offer);
-- phantom_available_s = seconds of available_idle while at least one contact waited (a CTR's
-- [Queue.EnqueueTimestamp, Queue.DequeueTimestamp), matched by queue ARN) in one of the
-- agent's inbound queues (the routing profile of the agent's latest event), on a channel that
-- queue routes and the profile has slots for (idle, every slot is free): "looked Available
-- while callers waited". No Connect metric; retrospective: a CTR arrives after its contact,
-- so today's figure grows as CTRs come in, and the routing profile's per-queue delays (not in
-- the stream) can explain part of it. Seconds are exact to the millisecond (3 decimals).
--
-- Grouping ($group_by): 'agent' (one row per agent), or 'routing_profile' /
-- 'hierarchy_level1'..'hierarchy_level5' (one row per group, `agents` counting the agents
-- whose time is in it): each span counts in the group the agent was in at its start (as of
-- their latest event), each contact and missed offer in the group at its state start; the
-- sums add agents' seconds, and occupancy is computed from them, never averaged.
--
-- Parameters: $tz, $from_date, $to_date, $group_by, $dt_scan_from and $events_dt_to (the
-- partitions read, see agent_status_spans.sql).
WITH
-- The group ($group_by) each configuration puts the agent in.
config_groups AS (
    SELECT agent_arn, at_ms, inbound_queues, concurrency,
           CASE $group_by
               WHEN 'routing_profile' THEN routing_profile
               WHEN 'hierarchy_level1' THEN hierarchy_level1
               WHEN 'hierarchy_level2' THEN hierarchy_level2
               WHEN 'hierarchy_level3' THEN hierarchy_level3
               WHEN 'hierarchy_level4' THEN hierarchy_level4
               WHEN 'hierarchy_level5' THEN hierarchy_level5
           END AS group_name
    FROM agent_configs
),
-- The window's online segments, each with the configuration of the agent's latest event at
-- its start.
segment_configs AS (
    SELECT a.date, a.agent_arn, a.start_ms, a.end_ms, a.activity,
           CASE WHEN $group_by = 'agent' THEN a.agent_arn
                ELSE coalesce(c.group_name, '(none)') END AS grp,
           c.inbound_queues, c.concurrency
    FROM agent_activities a
    LEFT JOIN config_groups c ON c.agent_arn = a.agent_arn AND c.at_ms = a.config_ms
    WHERE a.activity <> 'offline'
      AND a.date BETWEEN CAST($from_date AS DATE) AND CAST($to_date AS DATE)
),
totals AS (
    SELECT date, grp,
           count(DISTINCT agent_arn) AS agents,
           sum(end_ms - start_ms) AS online_ms,
           sum(CASE WHEN activity = 'available_idle' THEN end_ms - start_ms ELSE 0 END) AS idle_ms,
           sum(CASE WHEN activity = 'connecting' THEN end_ms - start_ms ELSE 0 END) AS connecting_ms,
           sum(CASE WHEN activity = 'on_contact' THEN end_ms - start_ms ELSE 0 END) AS on_contact_ms,
           sum(CASE WHEN activity = 'after_contact_work' THEN end_ms - start_ms ELSE 0 END) AS acw_ms,
           sum(CASE WHEN activity = 'missed_state' THEN end_ms - start_ms ELSE 0 END) AS missed_ms,
           sum(CASE WHEN activity = 'non_productive' THEN end_ms - start_ms ELSE 0 END) AS non_productive_ms
    FROM segment_configs
    GROUP BY date, grp
),
agents AS (
    SELECT DISTINCT agent_arn, agent FROM agent_status_spans
),
-- phantom_available_s: idle while a contact waited in one of the agent's inbound queues on a
-- channel the queue routes and the routing profile has slots for.
idle_configs AS (
    SELECT date, agent_arn, start_ms, end_ms, grp, inbound_queues, concurrency
    FROM segment_configs
    WHERE activity = 'available_idle'
),
idle_queues AS (
    SELECT date, agent_arn, start_ms, end_ms, grp, concurrency IS NULL AS no_slots,
           q['arn'] AS queue_arn, unnest(q['channels']) AS channel
    FROM (SELECT date, agent_arn, start_ms, end_ms, grp, concurrency, unnest(inbound_queues) AS q
          FROM idle_configs) u
),
idle_slots AS (
    SELECT agent_arn, start_ms, s['channel'] AS channel
    FROM (SELECT agent_arn, start_ms, unnest(concurrency) AS s FROM idle_configs) u
    WHERE s['maximum_slots'] > 0
),
eligible AS (
    SELECT q.date, q.agent_arn, q.start_ms, q.end_ms, q.grp, q.queue_arn, q.channel
    FROM idle_queues q
    LEFT JOIN idle_slots s
      ON s.agent_arn = q.agent_arn AND s.start_ms = q.start_ms AND s.channel = q.channel
    WHERE s.channel IS NOT NULL OR q.no_slots
),
-- Each eligible (segment, queue, channel) and each waiting span of that queue that overlaps it
-- meet in the 15-minute buckets both touch: a hash join on the bucket, not a range join of
-- every idle segment with every span of its queue (that join was 2.6 of the report's 6 s on a
-- day of 324 agents). Each meeting is clipped to its bucket, so a pair's pieces are disjoint.
eligible_buckets AS (
    SELECT date, agent_arn, start_ms, end_ms, grp, queue_arn, channel,
           unnest(range(CAST((start_ms - start_ms % 900000) / 900000 AS BIGINT),
                        CAST((end_ms - 1 - (end_ms - 1) % 900000) / 900000 + 1 AS BIGINT))) AS bucket
    FROM eligible
),
waiting_buckets AS (
    SELECT queue_arn, channel, start_ms, end_ms,
           unnest(range(CAST((start_ms - start_ms % 900000) / 900000 AS BIGINT),
                        CAST((end_ms - 1 - (end_ms - 1) % 900000) / 900000 + 1 AS BIGINT))) AS bucket
    FROM queue_waiting_spans
),
waited AS (
    SELECT e.date, e.agent_arn, e.start_ms AS segment, e.grp,
           greatest(e.start_ms, w.start_ms, e.bucket * 900000) AS from_ms,
           least(e.end_ms, w.end_ms, (e.bucket + 1) * 900000) AS to_ms
    FROM eligible_buckets e
    JOIN waiting_buckets w
      ON w.queue_arn = e.queue_arn AND w.channel = e.channel AND w.bucket = e.bucket
     AND w.start_ms < e.end_ms AND w.end_ms > e.start_ms
),
-- Pieces from different queues (or channels) of one segment can overlap: taken in order of
-- their start, each adds only what lies beyond the furthest end of those before it.
waited_ordered AS (
    SELECT date, agent_arn, segment, grp, from_ms, to_ms,
           max(to_ms) OVER (PARTITION BY agent_arn, segment ORDER BY from_ms, to_ms
                            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reached_ms
    FROM waited
),
phantom AS (
    SELECT date, grp,
           sum(greatest(0, to_ms - greatest(from_ms, coalesce(reached_ms, from_ms)))) AS phantom_ms
    FROM waited_ordered
    GROUP BY date, grp
),
-- Connected contacts and missed offers count in the group of the agent when they happened.
state_groups AS (
    SELECT local_date(to_timestamp_millis(s.start_ms), $tz) AS date, s.agent_arn,
           s.contact_id, s.state,
           CASE WHEN $group_by = 'agent' THEN s.agent_arn
                ELSE coalesce(c.group_name, '(none)') END AS grp
    FROM agent_contact_spans s
    -- A segment begins at every contact state start (it is a change of the tiling).
    LEFT JOIN agent_activities l ON l.agent_arn = s.agent_arn AND l.start_ms = s.start_ms
    LEFT JOIN config_groups c ON c.agent_arn = s.agent_arn AND c.at_ms = l.config_ms
    WHERE s.state IN ('CONNECTED', 'MISSED', 'REJECTED')
      AND local_date(to_timestamp_millis(s.start_ms), $tz)
          BETWEEN CAST($from_date AS DATE) AND CAST($to_date AS DATE)
),
connected AS (
    SELECT date, grp, count(DISTINCT agent_arn || '/' || contact_id) AS contacts_connected
    FROM state_groups
    WHERE state = 'CONNECTED'
    GROUP BY date, grp
),
missed AS (
    SELECT date, grp, count(*) AS offers_missed
    FROM state_groups
    WHERE state IN ('MISSED', 'REJECTED')
    GROUP BY date, grp
)
SELECT t.date,
       CASE WHEN $group_by = 'agent' THEN a.agent ELSE t.grp END AS grp,
       t.agents,
       CAST(t.online_ms / 1000.0 AS DECIMAL(18, 3)) AS online_s,
       CAST(t.idle_ms / 1000.0 AS DECIMAL(18, 3)) AS available_idle_s,
       CAST(t.connecting_ms / 1000.0 AS DECIMAL(18, 3)) AS connecting_s,
       CAST(t.on_contact_ms / 1000.0 AS DECIMAL(18, 3)) AS on_contact_s,
       CAST(t.acw_ms / 1000.0 AS DECIMAL(18, 3)) AS after_contact_work_s,
       CAST(t.missed_ms / 1000.0 AS DECIMAL(18, 3)) AS missed_state_s,
       CAST(t.non_productive_ms / 1000.0 AS DECIMAL(18, 3)) AS non_productive_s,
       CAST(round(100.0 * (t.on_contact_ms + t.acw_ms)
                  / nullif(t.on_contact_ms + t.acw_ms + t.idle_ms, 0), 3) AS DECIMAL(10, 3)) AS occupancy_pct,
       coalesce(c.contacts_connected, 0) AS contacts_connected,
       coalesce(m.offers_missed, 0) AS offers_missed,
       CAST(coalesce(p.phantom_ms, 0) / 1000.0 AS DECIMAL(18, 3)) AS phantom_available_s
FROM totals t
LEFT JOIN agents a ON a.agent_arn = t.grp
LEFT JOIN connected c ON c.date = t.date AND c.grp = t.grp
LEFT JOIN missed m ON m.date = t.date AND m.grp = t.grp
LEFT JOIN phantom p ON p.date = t.date AND p.grp = t.grp
WHERE t.date BETWEEN CAST($from_date AS DATE) AND CAST($to_date AS DATE)
ORDER BY 1, 2
