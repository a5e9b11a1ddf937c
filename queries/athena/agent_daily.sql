-- agent_daily (Athena / Trino): the agent KPIs per local day and agent, as
-- queries/agent_daily.sql defines them and `ctrlake report agents` prints them.
--
-- Needs the `contacts` view (queries/athena/contacts.sql, created once). Set the report in
-- `params` below; nothing else needs editing:
--   tz            IANA time zone of the report
--   from_date     first local day
--   to_date       last local day (inclusive)
--   group_by      'agent' (a row per agent), or 'routing_profile' / 'hierarchy_level1'..5: the
--                 `agent` column then holds the group ('(none)' when the record names none) and
--                 `agents` counts the agents in it (ctrlake's `report agents --group-by`)
--   lookback_days UTC days read before the window (ctrlake's --lookback, default 1): a contact
--                 is found by the UTC day it was initiated
--
-- A contact counts for Agent.Username on the local date of Agent.ConnectedToAgentTimestamp,
-- whatever its channel or initiation method. Durations are the record's integer seconds; nulls
-- count as 0; durations above 366 days and counts above 100,000 are ignored (as null).
-- missed_offers_before_answer: a CTR names only the agent who accepted, so these are offers
-- missed (by anyone) before this agent answered; who missed them needs the agent event stream.
--
-- tests/test_athena.py runs this file (sqlglot, Trino -> DuckDB) over generated and fixture
-- lakes and requires `ctrlake report agents`'s numbers, cell for cell.
WITH params AS (
    SELECT 'Asia/Tokyo' AS tz,                -- IANA zone of the report
           DATE '2026-03-02' AS from_date,    -- first local day
           DATE '2026-03-02' AS to_date,      -- last local day (inclusive)
           'agent' AS group_by,               -- agent, routing_profile, hierarchy_level1..5
           1 AS lookback_days                 -- UTC days read before the window (see below)
),
-- The dt partitions the local days overlap, and lookback_days before them.
scan AS (
    SELECT p.*,
           CAST(CAST(date_add('day', -p.lookback_days, CAST(at_timezone(with_timezone(CAST(p.from_date AS timestamp), p.tz), 'UTC') AS date)) AS date) AS varchar) AS dt_scan_from,
           CAST(CAST(at_timezone(date_add('millisecond', -1, with_timezone(CAST(CAST(date_add('day', 1, p.to_date) AS date) AS timestamp), p.tz)), 'UTC') AS date) AS varchar) AS dt_to
    FROM params p
),
handled AS (
    SELECT CAST(at_timezone(with_timezone(c.agent_connected_to_agent_timestamp, 'UTC'), s.tz) AS date) AS date,
           CASE s.group_by
               WHEN 'agent' THEN c.agent_username
               WHEN 'routing_profile' THEN coalesce(c.agent_routing_profile_name, '(none)')
               WHEN 'hierarchy_level1' THEN coalesce(c.agent_hierarchy_level1_name, '(none)')
               WHEN 'hierarchy_level2' THEN coalesce(c.agent_hierarchy_level2_name, '(none)')
               WHEN 'hierarchy_level3' THEN coalesce(c.agent_hierarchy_level3_name, '(none)')
               WHEN 'hierarchy_level4' THEN coalesce(c.agent_hierarchy_level4_name, '(none)')
               WHEN 'hierarchy_level5' THEN coalesce(c.agent_hierarchy_level5_name, '(none)')
           END AS agent,
           c.agent_username,
           coalesce(CASE WHEN c.agent_interaction_duration BETWEEN 0 AND 31622400 THEN c.agent_interaction_duration END, 0) AS interaction,
           coalesce(CASE WHEN c.agent_customer_hold_duration BETWEEN 0 AND 31622400 THEN c.agent_customer_hold_duration END, 0) AS hold,
           coalesce(CASE WHEN c.agent_after_contact_work_duration BETWEEN 0 AND 31622400 THEN c.agent_after_contact_work_duration END, 0) AS acw,
           coalesce(CASE WHEN c.agent_pause_duration BETWEEN 0 AND 31622400 THEN c.agent_pause_duration END, 0) AS pause,
           coalesce(CASE WHEN c.agent_number_of_holds BETWEEN 0 AND 100000 THEN c.agent_number_of_holds END, 0) >= 1 AS put_on_hold,
           coalesce(CASE WHEN c.agent_connection_attempts BETWEEN 0 AND 100000 THEN c.agent_connection_attempts END, 0) AS attempts,
           s.from_date,
           s.to_date
    FROM contacts c
    CROSS JOIN scan s
    WHERE c.dt BETWEEN s.dt_scan_from AND s.dt_to
      AND c.agent_connected_to_agent_timestamp IS NOT NULL
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
       sum(CASE WHEN attempts > 1 THEN attempts - 1 ELSE 0 END) AS missed_offers_before_answer
FROM handled
WHERE date BETWEEN from_date AND to_date
GROUP BY date, agent
ORDER BY date, agent
