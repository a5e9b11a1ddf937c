-- contact_chain: every leg of the customer journey that contact $contact_id belongs to: the
-- legs sharing its InitialContactId (the first leg has none and is its own root), in the order
-- they began. Transfers and callbacks create legs; each has its own queue and agent.
--
-- Parameters: $tz (for display), $contact_id. Reads the whole lake (a chain can span days).
WITH root AS (
    SELECT coalesce(initial_contact_id, contact_id) AS id
    FROM contacts
    WHERE contact_id = $contact_id
)
SELECT c.contact_id,
       c.initial_contact_id,
       c.previous_contact_id,
       c.next_contact_id,
       c.channel,
       c.initiation_method,
       c.queue_name AS queue,
       c.agent_username AS agent,
       local_timestamp(c.initiation_timestamp, $tz) AS initiated,
       local_timestamp(c.queue_enqueue_timestamp, $tz) AS enqueued,
       c.queue_duration AS queue_s,
       local_timestamp(c.agent_connected_to_agent_timestamp, $tz) AS connected_to_agent,
       local_timestamp(c.transfer_completed_timestamp, $tz) AS transfer_completed,
       local_timestamp(c.disconnect_timestamp, $tz) AS disconnected,
       c.disconnect_reason
FROM contacts c
JOIN root r ON c.contact_id = r.id OR c.initial_contact_id = r.id
ORDER BY c.initiation_timestamp, c.contact_id
