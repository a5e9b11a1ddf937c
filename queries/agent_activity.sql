-- agent_activity: where every online second of an agent went, per local day and agent, from
-- the agent event stream (../shared agent-events.md), and the spans it is built from.
--
-- Durations come from the snapshots' StartTimestamp / StateStartTimestamp, never from the gaps
-- between events, and copies of an event (EventId) add nothing, so the result does not depend
-- on the order events arrived in, on redeliveries, or on heartbeats (which repeat what is
-- known):
-- - Status spans: every status start an agent's snapshots show (the current snapshot of every
--   event, the previous snapshot of every event but a heartbeat, whose previous snapshot AWS's
--   own sample contradicts) begins a span that ends where the agent's next status begins. The
--   last known status lasts until the agent's last event (a heartbeat says it still holds).
--   A status without a Type (AWS's older examples) is ROUTABLE when named Available, OFFLINE
--   when named Offline, CUSTOM otherwise (choice).
-- - Contact state spans: every (contact, state start) the snapshots show begins a span that
--   ends at the contact's next state start; its last state ends when the contact leaves the
--   agent: at the first event (not a heartbeat) whose previous snapshot holds the contact and
--   whose current one does not, else at the agent's next event after the contact was last
--   seen, else when it was last seen.
-- - Activities tile each agent's online time (any status but OFFLINE): at each instant the
--   agent's contacts and status decide one activity, in Connect's "Agent Activity" priority
--   (real-time metrics: Error > Missed > Rejected > On contact > ACW > Incoming > custom status
--   > Available):
--     missed_state        a contact MISSED, REJECTED or ERROR: the agent is not routable until
--                         the contact is cleared (Connect's "Error status time" is the ERROR part)
--     on_contact          a contact CONNECTED, CONNECTED_ONHOLD or PAUSED
--     after_contact_work  a contact ENDED (Connect starts ACW there)
--     connecting          a contact CONNECTING, INCOMING or PENDING (offered, ringing; queued
--                         callbacks)
--     non_productive      a CUSTOM status and no contact (Connect's Non-Productive Time also
--                         counts custom-status time while on a contact: choice)
--     available_idle      ROUTABLE and no contact (Connect's "Agent idle time" also counts
--                         time with only ERROR contacts: here that is missed_state)
--   A contact in a state none of these names (a state added after this was written) counts
--   as on_contact: the agent is busy with it (choice).
-- - A span crossing local midnight is split there; each part counts on its own local day.
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
-- Parameters: $tz, $from_date, $to_date, $dt_scan_from (the partition before the window's
-- first), $events_dt_to (the partition after the window's last: a span that begins in the
-- window may end the next day). Table local_days(date, start_ms, end_ms): the window's local
-- days as epoch-millisecond ranges.
-- Copies of an event (redeliveries, replays: the same EventId) change nothing: every step
-- below keeps distinct values (status and state starts, event times), so they are not removed
-- first (a sort of every event by id cost most of this query's memory).
WITH events AS (
    SELECT e.event_id, e.event_type, e.agent_arn, e.agent_username,
           CAST(e.event_timestamp AS BIGINT) AS at_ms,
           -- The group a row's time counts in ($group_by): the agent's routing profile or
           -- hierarchy group at that moment (as of their latest event), or the agent.
           CASE $group_by
               WHEN 'routing_profile' THEN e.agent_routing_profile_name
               WHEN 'hierarchy_level1' THEN e.agent_hierarchy_level1_name
               WHEN 'hierarchy_level2' THEN e.agent_hierarchy_level2_name
               WHEN 'hierarchy_level3' THEN e.agent_hierarchy_level3_name
               WHEN 'hierarchy_level4' THEN e.agent_hierarchy_level4_name
               WHEN 'hierarchy_level5' THEN e.agent_hierarchy_level5_name
           END AS group_name,
           e.status_name, e.status_type, e.status_start_timestamp,
           e.previous_status_name, e.previous_status_type, e.previous_status_start_timestamp,
           e.contacts, e.previous_contacts, e.inbound_queues, e.concurrency
    FROM agent_events_raw e
    WHERE e.dt BETWEEN $dt_scan_from AND $events_dt_to
),
agents AS (
    SELECT agent_arn,
           first_value(agent_username ORDER BY at_ms DESC, event_id DESC) AS agent,
           max(at_ms) AS last_event_ms
    FROM events
    GROUP BY agent_arn
),
-- What the snapshots say of each status start: the latest event's word, and within one event
-- its current snapshot's over its previous one's.
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
status_spans AS (
    SELECT s.agent_arn, s.start_ms,
           coalesce(lead(s.start_ms) OVER (PARTITION BY s.agent_arn ORDER BY s.start_ms),
                    greatest(a.last_event_ms, s.start_ms)) AS end_ms,
           s.name,
           coalesce(s.type, CASE s.name WHEN 'Available' THEN 'ROUTABLE'
                                        WHEN 'Offline' THEN 'OFFLINE'
                                        ELSE 'CUSTOM' END) AS type
    FROM status_starts s
    JOIN agents a ON a.agent_arn = s.agent_arn
),
current_contacts AS (
    SELECT event_id, agent_arn, at_ms,
           c['contact_id'] AS contact_id, c['state'] AS state,
           CAST(c['state_start_timestamp'] AS BIGINT) AS start_ms
    FROM (SELECT event_id, agent_arn, at_ms, unnest(contacts) AS c FROM events) u
),
previous_contacts AS (
    SELECT event_id, agent_arn, at_ms,
           c['contact_id'] AS contact_id, c['state'] AS state,
           CAST(c['state_start_timestamp'] AS BIGINT) AS start_ms
    FROM (SELECT event_id, agent_arn, at_ms, unnest(previous_contacts) AS c
          FROM events WHERE event_type <> 'HEART_BEAT') u
),
contact_state_starts AS (
    SELECT agent_arn, contact_id, start_ms,
           first_value(state ORDER BY at_ms DESC, current DESC) AS state
    FROM (SELECT agent_arn, contact_id, start_ms, state, at_ms, 1 AS current
          FROM current_contacts
          UNION ALL
          SELECT agent_arn, contact_id, start_ms, state, at_ms, 0 FROM previous_contacts) seen
    WHERE contact_id IS NOT NULL AND start_ms IS NOT NULL
    GROUP BY agent_arn, contact_id, start_ms
),
-- When each contact left the agent (see the header).
left_seen AS (
    SELECT p.agent_arn, p.contact_id, min(p.at_ms) AS left_ms
    FROM previous_contacts p
    WHERE NOT EXISTS (SELECT 1 FROM current_contacts c
                      WHERE c.event_id = p.event_id AND c.contact_id = p.contact_id)
    GROUP BY p.agent_arn, p.contact_id
),
agent_times AS (
    SELECT agent_arn, at_ms,
           lead(at_ms) OVER (PARTITION BY agent_arn ORDER BY at_ms) AS next_ms
    FROM (SELECT DISTINCT agent_arn, at_ms FROM events) t
),
last_seen AS (
    SELECT c.agent_arn, c.contact_id, max(c.at_ms) AS seen_ms
    FROM current_contacts c
    GROUP BY c.agent_arn, c.contact_id
),
contact_ends AS (
    SELECT s.agent_arn, s.contact_id,
           coalesce(l.left_ms, t.next_ms, s.seen_ms) AS end_ms
    FROM last_seen s
    LEFT JOIN left_seen l ON l.agent_arn = s.agent_arn AND l.contact_id = s.contact_id
    LEFT JOIN agent_times t ON t.agent_arn = s.agent_arn AND t.at_ms = s.seen_ms
    UNION ALL
    -- Contacts only a previous snapshot shows (an offer that failed between two events).
    SELECT l.agent_arn, l.contact_id, l.left_ms
    FROM left_seen l
    WHERE NOT EXISTS (SELECT 1 FROM last_seen s
                      WHERE s.agent_arn = l.agent_arn AND s.contact_id = l.contact_id)
),
contact_spans AS (
    SELECT s.agent_arn, s.contact_id, s.state, s.start_ms,
           coalesce(lead(s.start_ms) OVER (PARTITION BY s.agent_arn, s.contact_id ORDER BY s.start_ms),
                    greatest(e.end_ms, s.start_ms)) AS end_ms
    FROM contact_state_starts s
    JOIN contact_ends e ON e.agent_arn = s.agent_arn AND e.contact_id = s.contact_id
),
-- The agent's configuration at each event time (ties: the last EventId; a copy of an event
-- is one of its rows). A window, not first_value(... ORDER BY) per group: that aggregate over
-- the list columns was this query's costliest step (measured: 2.5 of 3.3 s).
config_points AS (
    SELECT agent_arn, at_ms, group_name, inbound_queues, concurrency
    FROM (SELECT agent_arn, at_ms, group_name, inbound_queues, concurrency,
                 row_number() OVER (PARTITION BY agent_arn, at_ms ORDER BY event_id DESC) AS pick
          FROM events) ranked
    WHERE pick = 1
),
-- Every change on an agent's timeline: a status begins or ends, a contact enters a state (+1
-- in its category) or leaves it (-1), an event may change the configuration, a local day
-- begins or ends. Sums and maxima running over the ordered changes then give, between two
-- changes, the status, how many contacts are in each category, and the configuration (a
-- sweep: no range joins, which made this query 9x slower than DuckDB's run of it).
changes AS (
    SELECT agent_arn, start_ms AS t, 1 AS status_start, 0 AS event_point,
           0 AS d_missed, 0 AS d_connected, 0 AS d_ended, 0 AS d_connecting, 0 AS d_other
    FROM status_spans
    UNION ALL
    SELECT agent_arn, end_ms, 0, 0, 0, 0, 0, 0, 0 FROM status_spans
    UNION ALL
    SELECT DISTINCT agent_arn, at_ms, 0, 1, 0, 0, 0, 0, 0 FROM events
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
    FROM (SELECT agent_arn, start_ms AS t, state, 1 AS sign FROM contact_spans
          UNION ALL
          SELECT agent_arn, end_ms, state, -1 FROM contact_spans) c
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
),
activities AS (
    SELECT l.agent_arn, l.start_ms, l.end_ms, l.config_ms,
           CASE WHEN l.missed > 0 THEN 'missed_state'
                WHEN l.connected > 0 THEN 'on_contact'
                WHEN l.ended > 0 THEN 'after_contact_work'
                WHEN l.connecting > 0 THEN 'connecting'
                WHEN st.type = 'CUSTOM' THEN 'non_productive'
                WHEN l.other = 0 THEN 'available_idle'
                ELSE 'on_contact'
           END AS activity
    FROM timeline l
    JOIN status_spans st ON st.agent_arn = l.agent_arn AND st.start_ms = l.status_ms
    WHERE l.end_ms IS NOT NULL AND l.start_ms < st.end_ms AND st.type <> 'OFFLINE'
),
-- Each segment with the configuration of the agent's latest event at its start.
segment_configs AS (
    SELECT a.agent_arn, a.start_ms, a.end_ms, a.activity,
           CASE WHEN $group_by = 'agent' THEN a.agent_arn
                ELSE coalesce(c.group_name, '(none)') END AS grp,
           c.inbound_queues, c.concurrency
    FROM activities a
    LEFT JOIN config_points c ON c.agent_arn = a.agent_arn AND c.at_ms = a.config_ms
),
-- Every segment lies within one local day (each day's start is a boundary).
per_day AS (
    SELECT d.date, a.grp, a.agent_arn, a.activity, a.end_ms - a.start_ms AS ms
    FROM segment_configs a
    JOIN local_days d ON d.start_ms <= a.start_ms AND a.start_ms < d.end_ms
),
totals AS (
    SELECT date, grp,
           count(DISTINCT agent_arn) AS agents,
           sum(ms) AS online_ms,
           sum(CASE WHEN activity = 'available_idle' THEN ms ELSE 0 END) AS idle_ms,
           sum(CASE WHEN activity = 'connecting' THEN ms ELSE 0 END) AS connecting_ms,
           sum(CASE WHEN activity = 'on_contact' THEN ms ELSE 0 END) AS on_contact_ms,
           sum(CASE WHEN activity = 'after_contact_work' THEN ms ELSE 0 END) AS acw_ms,
           sum(CASE WHEN activity = 'missed_state' THEN ms ELSE 0 END) AS missed_ms,
           sum(CASE WHEN activity = 'non_productive' THEN ms ELSE 0 END) AS non_productive_ms
    FROM per_day
    GROUP BY date, grp
),
-- phantom_available_s: idle while a contact waited in one of the agent's inbound queues on a
-- channel the queue routes and the routing profile has slots for.
idle_configs AS (
    SELECT agent_arn, start_ms, end_ms, grp, inbound_queues, concurrency
    FROM segment_configs
    WHERE activity = 'available_idle'
),
idle_queues AS (
    SELECT agent_arn, start_ms, end_ms, grp, concurrency IS NULL AS no_slots,
           q['arn'] AS queue_arn, unnest(q['channels']) AS channel
    FROM (SELECT agent_arn, start_ms, end_ms, grp, concurrency, unnest(inbound_queues) AS q
          FROM idle_configs) u
),
idle_slots AS (
    SELECT agent_arn, start_ms, s['channel'] AS channel
    FROM (SELECT agent_arn, start_ms, unnest(concurrency) AS s FROM idle_configs) u
    WHERE s['maximum_slots'] > 0
),
eligible AS (
    SELECT q.agent_arn, q.start_ms, q.end_ms, q.grp, q.queue_arn, q.channel
    FROM idle_queues q
    LEFT JOIN idle_slots s
      ON s.agent_arn = q.agent_arn AND s.start_ms = q.start_ms AND s.channel = q.channel
    WHERE s.channel IS NOT NULL OR q.no_slots
),
waits AS (
    SELECT queue_arn, channel,
           CAST(queue_enqueue_timestamp AS BIGINT) AS wait_start,
           CAST(queue_dequeue_timestamp AS BIGINT) AS wait_end
    FROM contacts
    WHERE dt BETWEEN $dt_scan_from AND $events_dt_to
      AND queue_arn IS NOT NULL
      AND queue_enqueue_timestamp IS NOT NULL
      AND queue_dequeue_timestamp IS NOT NULL
),
waited AS (
    SELECT DISTINCT e.agent_arn, e.start_ms AS segment, e.grp,
           greatest(e.start_ms, w.wait_start) AS from_ms,
           least(e.end_ms, w.wait_end) AS to_ms
    FROM eligible e
    JOIN waits w
      ON w.queue_arn = e.queue_arn AND w.channel = e.channel
     AND w.wait_start < e.end_ms AND w.wait_end > e.start_ms
),
-- Overlapping waits count once: taken in order of their start, each adds only what lies
-- beyond the furthest end of those before it in its segment.
waited_ordered AS (
    SELECT agent_arn, segment, grp, from_ms, to_ms,
           max(to_ms) OVER (PARTITION BY agent_arn, segment ORDER BY from_ms, to_ms
                            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reached_ms
    FROM waited
),
-- (Merging the waits into islands with a running sum of "starts past the reach", then summing
-- the islands, gave DataFusion 55 a different total than the same islands summed alone:
-- measured on a generated day; the form below agrees with DuckDB and the Python reference.)
phantom AS (
    SELECT d.date, w.grp,
           sum(greatest(0, w.to_ms - greatest(w.from_ms, coalesce(w.reached_ms, w.from_ms)))) AS phantom_ms
    FROM waited_ordered w
    JOIN local_days d ON d.start_ms <= w.segment AND w.segment < d.end_ms
    GROUP BY d.date, w.grp
),
-- Connected contacts and missed offers count in the group of the agent when they happened.
state_groups AS (
    SELECT d.date, s.agent_arn, s.contact_id, s.state,
           CASE WHEN $group_by = 'agent' THEN s.agent_arn
                ELSE coalesce(c.group_name, '(none)') END AS grp
    FROM contact_state_starts s
    JOIN local_days d ON d.start_ms <= s.start_ms AND s.start_ms < d.end_ms
    LEFT JOIN timeline l ON l.agent_arn = s.agent_arn AND l.start_ms = s.start_ms
    LEFT JOIN config_points c ON c.agent_arn = s.agent_arn AND c.at_ms = l.config_ms
    WHERE s.state IN ('CONNECTED', 'MISSED', 'REJECTED')
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
