-- agent_daily: KPIs per local day and agent (../shared kpis.md, "Agent metrics").
--
-- A contact counts for Agent.Username on the local date of Agent.ConnectedToAgentTimestamp
-- (choice), whatever its channel or initiation method (outbound calls and tasks included).
-- The durations and counts are those of the view classified_contacts (classified_contacts.sql,
-- shared with the queue reports): the record's integer seconds, nulls as 0.
--
-- Grouping ($group_by): 'agent' (a row per Agent.Username), or 'routing_profile' /
-- 'hierarchy_level1'..'hierarchy_level5' (a row per the routing profile or hierarchy group
-- the record names for the agent who took the contact, '(none)' when it names none): the
-- `agent` column holds the group and `agents` counts the agents in it (ctrlake names the
-- column after the group and drops `agents` per agent). Sums add up and averages are over the
-- group's contacts, never averages of agents' averages.
--
-- Parameters: $tz, $from_date, $to_date, $group_by; $dt_scan_from, $dt_to and $callback_dt_to
-- bind the view (see queue_daily.sql).
WITH handled AS (
    SELECT local_date(connected_at, $tz) AS date,
           CASE $group_by
               WHEN 'agent' THEN agent_username
               WHEN 'routing_profile' THEN coalesce(routing_profile, '(none)')
               WHEN 'hierarchy_level1' THEN coalesce(hierarchy_level1, '(none)')
               WHEN 'hierarchy_level2' THEN coalesce(hierarchy_level2, '(none)')
               WHEN 'hierarchy_level3' THEN coalesce(hierarchy_level3, '(none)')
               WHEN 'hierarchy_level4' THEN coalesce(hierarchy_level4, '(none)')
               WHEN 'hierarchy_level5' THEN coalesce(hierarchy_level5, '(none)')
           END AS agent,
           agent_username,
           interaction, hold, acw, pause, put_on_hold, attempts
    FROM classified_contacts
    WHERE connected_at IS NOT NULL
)
SELECT date,
       agent,
       count(DISTINCT agent_username) AS agents,
       count(*) AS contacts_handled,
       CAST(round(avg(interaction + hold + acw + pause), 3) AS DECIMAL(18, 3)) AS avg_handle_time_s,
       CAST(round(avg(interaction + hold + acw), 3) AS DECIMAL(18, 3)) AS avg_handle_time_excl_pause_s,
       CAST(round(avg(hold) FILTER (WHERE put_on_hold), 3) AS DECIMAL(18, 3)) AS avg_customer_hold_s,
       CAST(round(avg(hold), 3) AS DECIMAL(18, 3)) AS avg_customer_hold_all_contacts_s,
       sum(interaction) AS total_agent_interaction_s,
       sum(hold) AS total_customer_hold_s,
       sum(acw) AS total_after_contact_work_s,
       sum(pause) AS total_agent_pause_s,
       count(*) FILTER (WHERE put_on_hold) AS contacts_put_on_hold,
       -- A CTR names only the agent who accepted; who missed the earlier offers needs the
       -- agent event stream (limitation): these are offers missed before this agent answered.
       sum(CASE WHEN attempts > 1 THEN attempts - 1 ELSE 0 END) AS missed_offers_before_answer
FROM handled
WHERE date BETWEEN CAST($from_date AS DATE) AND CAST($to_date AS DATE)
GROUP BY date, agent
ORDER BY date, agent
