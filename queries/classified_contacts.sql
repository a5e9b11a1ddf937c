-- classified_contacts: what the KPIs count each contact as, in one place (../shared kpis.md).
-- queue_daily.sql, queue_intervals.sql and agent_daily.sql read this view, so a definition
-- (handled, abandoned, callback requested, transferred, the durations a KPI sums) changes here
-- and nowhere else. `ctrlake sql` has it too, for analysts who group the contacts their own way.
--
-- One row per de-duplicated contact of the window's partitions that was queued
-- (Queue.EnqueueTimestamp) or connected to an agent (Agent.ConnectedToAgentTimestamp). The
-- reports place a row in a day or interval themselves: the queue reports by `enqueued_at`, the
-- agent report by `connected_at` (both UTC instants).
--
--   queued              Queue.EnqueueTimestamp present
--   handled             queued and connected to an agent
--   abandoned           queued, not handled, and none of NextContactId,
--                       TransferCompletedTimestamp, TransferredToEndpoint present
--   callback_requested  queued, not handled, and the next contact's InitiationMethod is CALLBACK
--                       (the next contact's newest version, looked for up to 7 days later)
--   transferred_out     queued, TransferCompletedTimestamp present
--   handled_outbound    an OUTBOUND contact connected to an agent that names a queue (the
--                       agent's outbound queue) and was never enqueued
--   transferred_out_by_agent
--                       handled, and NextContactId, TransferCompletedTimestamp or
--                       TransferredToEndpoint present
--   transferred_out_from_queue
--                       queued, not handled, NextContactId present and not a callback request:
--                       the flow moved the contact to another queue (choice: a next contact
--                       not found in the look-up is counted here, not as a callback)
--   transferred_in      queued with InitiationMethod TRANSFER or QUEUE_TRANSFER (counted on
--                       the queue that received it)
--   handled_incoming    handled, InitiationMethod not OUTBOUND
--   d                   Queue.Duration in seconds (never Dequeue - Enqueue: for callbacks they
--                       differ)
--   interaction, hold, acw, pause
--                       Agent.AgentInteractionDuration, CustomerHoldDuration,
--                       AfterContactWorkDuration, AgentPauseDuration in seconds, nulls as 0
--   put_on_hold         Agent.NumberOfHolds >= 1
--   attempts            AgentConnectionAttempts, null as 0
--
-- Durations above 366 days (31,622,400 s) and counts above 100,000 are ignored (as null, or 0
-- where nulls count as 0): ingest dead-letters them, so only a file from elsewhere can hold
-- one, and a value near 2^63 would overflow the sums and averages.
--
-- Parameters: $dt_scan_from, $dt_to, $callback_dt_to (see queue_daily.sql).
WITH window_contacts AS (
    SELECT contact_id,
           channel,
           initiation_method,
           queue_name,
           agent_username,
           agent_routing_profile_name AS routing_profile,
           agent_hierarchy_level1_name AS hierarchy_level1,
           agent_hierarchy_level2_name AS hierarchy_level2,
           agent_hierarchy_level3_name AS hierarchy_level3,
           agent_hierarchy_level4_name AS hierarchy_level4,
           agent_hierarchy_level5_name AS hierarchy_level5,
           queue_enqueue_timestamp AS enqueued_at,
           agent_connected_to_agent_timestamp AS connected_at,
           queue_enqueue_timestamp IS NOT NULL AS queued,
           queue_enqueue_timestamp IS NOT NULL
             AND agent_connected_to_agent_timestamp IS NOT NULL AS handled,
           CASE WHEN queue_duration BETWEEN 0 AND 31622400 THEN queue_duration END AS d,
           next_contact_id,
           queue_enqueue_timestamp IS NOT NULL
             AND transfer_completed_timestamp IS NOT NULL AS transferred_out,
           queue_enqueue_timestamp IS NULL
             AND agent_connected_to_agent_timestamp IS NOT NULL
             AND initiation_method = 'OUTBOUND'
             AND queue_name IS NOT NULL AS handled_outbound,
           queue_enqueue_timestamp IS NOT NULL
             AND initiation_method IN ('TRANSFER', 'QUEUE_TRANSFER') AS transferred_in,
           queue_enqueue_timestamp IS NOT NULL
             AND agent_connected_to_agent_timestamp IS NOT NULL
             AND initiation_method IS DISTINCT FROM 'OUTBOUND' AS handled_incoming,
           next_contact_id IS NULL
             AND transfer_completed_timestamp IS NULL
             AND transferred_to_endpoint_address IS NULL
             AND transferred_to_endpoint_type IS NULL AS no_follow_up,
           coalesce(CASE WHEN agent_interaction_duration BETWEEN 0 AND 31622400 THEN agent_interaction_duration END, 0) AS interaction,
           coalesce(CASE WHEN agent_customer_hold_duration BETWEEN 0 AND 31622400 THEN agent_customer_hold_duration END, 0) AS hold,
           coalesce(CASE WHEN agent_after_contact_work_duration BETWEEN 0 AND 31622400 THEN agent_after_contact_work_duration END, 0) AS acw,
           coalesce(CASE WHEN agent_pause_duration BETWEEN 0 AND 31622400 THEN agent_pause_duration END, 0) AS pause,
           coalesce(CASE WHEN agent_number_of_holds BETWEEN 0 AND 100000 THEN agent_number_of_holds END, 0) >= 1 AS put_on_hold,
           coalesce(CASE WHEN agent_connection_attempts BETWEEN 0 AND 100000 THEN agent_connection_attempts END, 0) AS attempts
    FROM contacts
    WHERE dt BETWEEN $dt_scan_from AND $dt_to
      AND (queue_enqueue_timestamp IS NOT NULL OR agent_connected_to_agent_timestamp IS NOT NULL)
),
-- The next legs of the contacts that may have asked for a callback, newest version of each
-- (the rule of contacts.sql, applied only to the few rows that are some contact's
-- NextContactId).
next_legs AS (
    SELECT contact_id,
           first_value(initiation_method ORDER BY last_update_timestamp DESC,
                                                  arrival_timestamp DESC NULLS LAST,
                                                  source_uri DESC,
                                                  source_offset DESC NULLS LAST,
                                                  length(source_sequence_number) DESC NULLS LAST,
                                                  source_sequence_number DESC NULLS LAST) AS initiation_method
    FROM ctr_raw
    WHERE dt BETWEEN $dt_scan_from AND $callback_dt_to
      AND contact_id IN (SELECT next_contact_id
                         FROM ctr_raw
                         WHERE dt BETWEEN $dt_scan_from AND $dt_to
                           AND next_contact_id IS NOT NULL
                           AND queue_enqueue_timestamp IS NOT NULL
                           AND agent_connected_to_agent_timestamp IS NULL)
    GROUP BY contact_id
),
callback_legs AS (
    SELECT contact_id FROM next_legs WHERE initiation_method = 'CALLBACK'
)
SELECT w.*,
       w.queued AND NOT w.handled AND c.contact_id IS NOT NULL AS callback_requested,
       w.queued AND NOT w.handled AND w.no_follow_up AS abandoned,
       w.handled AND NOT w.no_follow_up AS transferred_out_by_agent,
       w.queued AND NOT w.handled AND w.next_contact_id IS NOT NULL
         AND c.contact_id IS NULL AS transferred_out_from_queue
FROM window_contacts w
LEFT JOIN callback_legs c ON c.contact_id = w.next_contact_id
