-- agent_daily: KPIs per local day and agent (../shared kpis.md, "Agent metrics").
--
-- A contact counts for Agent.Username on the local date of Agent.ConnectedToAgentTimestamp
-- (choice), whatever its channel or initiation method (outbound calls and tasks included).
-- Durations are the record's integer seconds; nulls count as 0.
-- Durations above 366 days (31,622,400 s) and counts above 100,000 are ignored (as null):
-- ingest dead-letters them, so only a file from elsewhere can hold one, and a value near
-- 2^63 would overflow the sums and averages.
--
-- Parameters: $tz, $from_date, $to_date, $dt_scan_from, $dt_to (see queue_daily.sql).
WITH handled AS (
    SELECT local_date(agent_connected_to_agent_timestamp, $tz) AS date,
           agent_username AS agent,
           coalesce(CASE WHEN agent_interaction_duration BETWEEN 0 AND 31622400 THEN agent_interaction_duration END, 0) AS interaction,
           coalesce(CASE WHEN agent_customer_hold_duration BETWEEN 0 AND 31622400 THEN agent_customer_hold_duration END, 0) AS hold,
           coalesce(CASE WHEN agent_after_contact_work_duration BETWEEN 0 AND 31622400 THEN agent_after_contact_work_duration END, 0) AS acw,
           coalesce(CASE WHEN agent_pause_duration BETWEEN 0 AND 31622400 THEN agent_pause_duration END, 0) AS pause,
           coalesce(CASE WHEN agent_number_of_holds BETWEEN 0 AND 100000 THEN agent_number_of_holds END, 0) >= 1 AS put_on_hold,
           coalesce(CASE WHEN agent_connection_attempts BETWEEN 0 AND 100000 THEN agent_connection_attempts END, 0) AS attempts
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
