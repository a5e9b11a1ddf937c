-- contact_chain_root: the root of the journey contact $contact_id belongs to: the
-- InitialContactId of its newest version (contacts.sql's rule: newest LastUpdateTimestamp, then
-- later arrival, then later position in the source), or its own id when that version has none.
-- No row when the lake has no such contact. `ctrlake contacts --chain` runs this first and binds
-- the result to contact_chain.sql's $root_id.
--
-- Parameters: $contact_id. Reads the whole lake (a chain can span days); the equality on
-- contact_id lets the scan skip every file whose bloom filter rules the id out.
SELECT coalesce(initial_contact_id, contact_id) AS root_id
FROM ctr_raw
WHERE contact_id = $contact_id
ORDER BY last_update_timestamp DESC,
         arrival_timestamp DESC NULLS LAST,
         source_uri DESC,
         source_offset DESC NULLS LAST,
         length(source_sequence_number) DESC NULLS LAST,
         source_sequence_number DESC NULLS LAST
LIMIT 1
