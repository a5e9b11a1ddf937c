-- agent_contact_spans: every state a contact was in with an agent, as a span (one row per
-- agent, contact and state start), from the agent event stream's snapshots (table
-- agent_events_raw), one of the views agent_activity.sql is built from. Like
-- agent_status_spans.sql it uses the snapshots' StateStartTimestamp, never the gaps
-- between events, and keeps distinct values only, so arrival order, copies of an event and
-- heartbeats change nothing.
-- - Every (contact, state start) the snapshots show begins a span (the current snapshot of
--   every event, the previous snapshot of every event but a heartbeat); what the state and
--   channel were: the latest event's word, its current snapshot's over its previous one's.
-- - A span ends at the contact's next state start. Its last state ends when the contact left
--   the agent: at the first event (not a heartbeat) whose previous snapshot holds the contact
--   and whose current one does not, else at the agent's next event after the contact was last
--   seen, else when it was last seen.
-- - A contact only a previous snapshot shows (an offer that failed between two events) ends
--   at the event that no longer shows it.
--
-- Columns: agent_arn, agent (as in agent_status_spans), contact_id, channel, state (Connect's:
-- INCOMING, PENDING, CONNECTING, CONNECTED, CONNECTED_ONHOLD, MISSED, ERROR, ENDED, REJECTED,
-- PAUSED), start_ms and end_ms (epoch milliseconds), start_time and end_time (UTC), seconds.
-- Parameters: $dt_scan_from, $events_dt_to (see agent_status_spans.sql).
WITH events AS (
    SELECT event_id, event_type, agent_arn, CAST(event_timestamp AS BIGINT) AS at_ms,
           contacts, previous_contacts
    FROM agent_events_raw
    WHERE dt BETWEEN $dt_scan_from AND $events_dt_to
),
current_contacts AS (
    SELECT event_id, agent_arn, at_ms,
           c['contact_id'] AS contact_id, c['channel'] AS channel, c['state'] AS state,
           CAST(c['state_start_timestamp'] AS BIGINT) AS start_ms
    FROM (SELECT event_id, agent_arn, at_ms, unnest(contacts) AS c FROM events) u
),
previous_contacts AS (
    SELECT event_id, agent_arn, at_ms,
           c['contact_id'] AS contact_id, c['channel'] AS channel, c['state'] AS state,
           CAST(c['state_start_timestamp'] AS BIGINT) AS start_ms
    FROM (SELECT event_id, agent_arn, at_ms, unnest(previous_contacts) AS c
          FROM events WHERE event_type <> 'HEART_BEAT') u
),
state_starts AS (
    SELECT agent_arn, contact_id, start_ms,
           first_value(channel ORDER BY at_ms DESC, current DESC) AS channel,
           first_value(state ORDER BY at_ms DESC, current DESC) AS state
    FROM (SELECT agent_arn, contact_id, start_ms, channel, state, at_ms, 1 AS current
          FROM current_contacts
          UNION ALL
          SELECT agent_arn, contact_id, start_ms, channel, state, at_ms, 0
          FROM previous_contacts) seen
    WHERE contact_id IS NOT NULL AND start_ms IS NOT NULL
    GROUP BY agent_arn, contact_id, start_ms
),
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
    SELECT agent_arn, contact_id, max(at_ms) AS seen_ms
    FROM current_contacts
    GROUP BY agent_arn, contact_id
),
contact_ends AS (
    SELECT s.agent_arn, s.contact_id,
           coalesce(l.left_ms, t.next_ms, s.seen_ms) AS end_ms
    FROM last_seen s
    LEFT JOIN left_seen l ON l.agent_arn = s.agent_arn AND l.contact_id = s.contact_id
    LEFT JOIN agent_times t ON t.agent_arn = s.agent_arn AND t.at_ms = s.seen_ms
    UNION ALL
    SELECT l.agent_arn, l.contact_id, l.left_ms
    FROM left_seen l
    WHERE NOT EXISTS (SELECT 1 FROM last_seen s
                      WHERE s.agent_arn = l.agent_arn AND s.contact_id = l.contact_id)
),
spans AS (
    SELECT s.agent_arn, s.contact_id, s.channel, s.state, s.start_ms,
           coalesce(lead(s.start_ms) OVER (PARTITION BY s.agent_arn, s.contact_id
                                           ORDER BY s.start_ms),
                    greatest(e.end_ms, s.start_ms)) AS end_ms
    FROM state_starts s
    JOIN contact_ends e ON e.agent_arn = s.agent_arn AND e.contact_id = s.contact_id
),
agents AS (
    SELECT DISTINCT agent_arn, agent FROM agent_status_spans
)
SELECT s.agent_arn, a.agent, s.contact_id, s.channel, s.state, s.start_ms, s.end_ms,
       to_timestamp_millis(s.start_ms) AT TIME ZONE 'UTC' AS start_time,
       to_timestamp_millis(s.end_ms) AT TIME ZONE 'UTC' AS end_time,
       CAST((s.end_ms - s.start_ms) / 1000.0 AS DECIMAL(18, 3)) AS seconds
FROM spans s
LEFT JOIN agents a ON a.agent_arn = s.agent_arn
