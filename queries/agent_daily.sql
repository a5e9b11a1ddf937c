-- agent_daily: KPIs per local day and agent (../shared kpis.md, "Agent metrics").
--
-- A contact counts for Agent.Username on the local date of Agent.ConnectedToAgentTimestamp
-- (choice), whatever its channel or initiation method (outbound calls and tasks included).
-- Durations are the record's integer seconds; nulls count as 0.
--
-- Parameters: $tz, $from_date, $to_date, $dt_scan_from, $dt_to (see queue_daily.sql).
WITH handled AS (
    SELECT local_date(agent_connected_to_agent_timestamp, $tz) AS date,
           agent_username AS agent,
           coalesce(agent_interaction_duration, 0) AS interaction,
           coalesce(agent_customer_hold_duration, 0) AS hold,
           coalesce(agent_after_contact_work_duration, 0) AS acw,
           coalesce(agent_pause_duration, 0) AS pause,
           coalesce(agent_number_of_holds, 0) >= 1 AS put_on_hold,
           coalesce(agent_connection_attempts, 0) AS attempts
    FROM contacts
    WHERE dt BETWEEN $dt_scan_from AND $dt_to
      AND agent_connected_to_agent_timestamp IS NOT NULL
)
SELECT date,
       agent,
       count(*) AS contacts_handled,
       CAST(round(avg(interaction + hold + acw + pause), 3) AS DECIMAL(18, 3)) AS avg_handle_time_s,
       sum(interaction) AS total_agent_interaction_s,
       sum(hold) AS total_customer_hold_s,
       sum(acw) AS total_after_contact_work_s,
       count(*) FILTER (WHERE put_on_hold) AS contacts_put_on_hold,
       -- A CTR names only the agent who accepted; who missed the earlier offers needs the
       -- agent event stream (limitation): these are offers missed before this agent answered.
       sum(CASE WHEN attempts > 1 THEN attempts - 1 ELSE 0 END) AS missed_offers_before_answer
FROM handled
WHERE date BETWEEN CAST($from_date AS DATE) AND CAST($to_date AS DATE)
GROUP BY date, agent
ORDER BY date, agent
