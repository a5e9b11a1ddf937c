-- contact_chain: every leg of a customer journey: the legs sharing the InitialContactId $root_id
-- (the first leg has none and is the root itself; contact_chain_root.sql finds the root of a
-- given contact), in the order they began. Transfers and callbacks create legs; each has its
-- own queue and agent.
--
-- Parameters: $tz (for display), $root_id. Reads the whole lake (a chain can span days).
--
-- The `contacts` view would de-duplicate the whole lake first (a filter on contact_id cannot
-- reach its scan), so the same rule (contacts.sql: newest LastUpdateTimestamp, then later
-- arrival, then later position in the source) is applied here to the few contacts involved:
-- `candidates` are the contacts any of whose versions is the root or names it; their newest
-- versions that belong to the chain are shown.
--
-- Every look-up is an equality on one id column (or a join on a few ids, which DataFusion passes
-- to the scan as an IN list), so each scan reads only the files whose bloom filters may hold
-- the ids. Measured on a 10M-contact lake (2,180 files), root look-up included: 10.9 s and
-- 0.85 GB before the bloom filters and this form, 3.6 s and 0.6 GB now; most of what is left is
-- opening every file's footer, once per scan.
WITH candidates AS (
    SELECT contact_id FROM ctr_raw WHERE contact_id = $root_id
    UNION
    SELECT contact_id FROM ctr_raw WHERE initial_contact_id = $root_id
),
ordered AS (
    SELECT r.*,
           lag(r.contact_id) OVER (
               PARTITION BY r.dt
               ORDER BY r.contact_id,
                        r.last_update_timestamp DESC,
                        r.arrival_timestamp DESC NULLS LAST,
                        r.source_uri DESC,
                        r.source_offset DESC NULLS LAST,
                        length(r.source_sequence_number) DESC NULLS LAST,
                        r.source_sequence_number DESC NULLS LAST
           ) AS contact_before
    FROM candidates c
    JOIN ctr_raw r ON r.contact_id = c.contact_id
),
chain AS (
    -- The instant under its own name: the local text shown has the column's name.
    SELECT *, initiation_timestamp AS initiated_instant
    FROM ordered
    WHERE (contact_before IS DISTINCT FROM contact_id)
      AND (contact_id = $root_id OR initial_contact_id = $root_id)
)
SELECT c.contact_id,
       c.initial_contact_id,
       c.previous_contact_id,
       c.next_contact_id,
       c.channel,
       c.initiation_method,
       c.queue_name,
       c.agent_username,
       local_timestamp(c.initiation_timestamp, $tz) AS initiation_timestamp,
       local_timestamp(c.queue_enqueue_timestamp, $tz) AS queue_enqueue_timestamp,
       c.queue_duration,
       local_timestamp(c.agent_connected_to_agent_timestamp, $tz) AS agent_connected_to_agent_timestamp,
       local_timestamp(c.transfer_completed_timestamp, $tz) AS transfer_completed_timestamp,
       local_timestamp(c.disconnect_timestamp, $tz) AS disconnect_timestamp,
       c.disconnect_reason
FROM chain c
ORDER BY initiated_instant, contact_id
