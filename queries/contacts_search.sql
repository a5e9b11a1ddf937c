-- contacts_search: de-duplicated contacts of a local time window, with every timestamp to the
-- second (and the milliseconds a record carries), in the report's time zone, and the links of
-- the transfer / callback chain (InitialContactId, PreviousContactId, NextContactId). Columns
-- keep the names of the `contacts` table (a timestamp is its local text, with its offset), so
-- that what `ctrlake contacts` shows can be queried by the same name in `ctrlake sql`.
--
-- Parameters: $tz, $from_date, $to_date, $dt_scan_from, $dt_to (see queue_daily.sql), and the
-- optional filters $queue, $agent, $channel, $initiation_method, $customer, $contact_id (NULL
-- means "any"). A contact is in the window when it was initiated on one of its local days.
SELECT contact_id,
       initial_contact_id,
       previous_contact_id,
       next_contact_id,
       channel,
       initiation_method,
       queue_name,
       agent_username,
       customer_endpoint_address,
       local_timestamp(initiation_timestamp, $tz) AS initiation_timestamp,
       local_timestamp(connected_to_system_timestamp, $tz) AS connected_to_system_timestamp,
       local_timestamp(queue_enqueue_timestamp, $tz) AS queue_enqueue_timestamp,
       local_timestamp(queue_dequeue_timestamp, $tz) AS queue_dequeue_timestamp,
       queue_duration,
       local_timestamp(agent_connected_to_agent_timestamp, $tz) AS agent_connected_to_agent_timestamp,
       agent_interaction_duration,
       agent_customer_hold_duration,
       agent_number_of_holds,
       agent_after_contact_work_duration,
       local_timestamp(transfer_completed_timestamp, $tz) AS transfer_completed_timestamp,
       local_timestamp(disconnect_timestamp, $tz) AS disconnect_timestamp,
       disconnect_reason,
       local_timestamp(last_update_timestamp, $tz) AS last_update_timestamp
-- The instant under its own name: the local text shown has the column's name.
FROM (SELECT *, initiation_timestamp AS initiated_instant FROM contacts) c
WHERE dt BETWEEN $dt_scan_from AND $dt_to
  AND local_date(initiation_timestamp, $tz) BETWEEN CAST($from_date AS DATE) AND CAST($to_date AS DATE)
  AND ($queue IS NULL OR queue_name = $queue)
  AND ($agent IS NULL OR agent_username = $agent)
  AND ($channel IS NULL OR channel = $channel)
  AND ($initiation_method IS NULL OR initiation_method = $initiation_method)
  AND ($customer IS NULL OR customer_endpoint_address = $customer)
  AND ($contact_id IS NULL OR contact_id = $contact_id)
-- The instant, not its local text (a DST fall-back repeats local hours).
ORDER BY initiated_instant, contact_id
