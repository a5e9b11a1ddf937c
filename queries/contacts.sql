-- contacts: one row per contact (ContactId), the newest delivered version.
--
-- Amazon Connect delivers a CTR at least once and re-delivers it whenever something changes
-- (attributes, after-contact work), with a later LastUpdateTimestamp. The newest version wins,
-- compared at millisecond precision ('...:45.250Z' is newer than '...:45Z'). When versions tie
-- on LastUpdateTimestamp (exact re-deliveries), the later-arrived copy wins (choice), then the
-- later position in its source, so the result is deterministic.
--
-- Every version of a contact lives in the same dt partition (the UTC date of its
-- InitiationTimestamp), so grouping by (dt, contact_id) is exact and lets a filter on dt reach
-- the Parquet scan (partition pruning) through this view.
CREATE VIEW contacts AS
WITH newest AS (
    SELECT dt, contact_id, max(last_update_timestamp) AS last_update_timestamp
    FROM ctr_raw
    GROUP BY dt, contact_id
),
candidates AS (
    SELECT r.*
    FROM ctr_raw r
    JOIN newest n
      ON r.dt = n.dt
     AND r.contact_id = n.contact_id
     AND r.last_update_timestamp = n.last_update_timestamp
),
ranked AS (
    SELECT *,
           row_number() OVER (
               PARTITION BY dt, contact_id
               ORDER BY arrival_timestamp DESC NULLS LAST,
                        source_uri DESC,
                        source_offset DESC NULLS LAST,
                        length(source_sequence_number) DESC NULLS LAST,
                        source_sequence_number DESC NULLS LAST
           ) AS version_rank
    FROM candidates
)
SELECT * EXCLUDE (version_rank)
FROM ranked
WHERE version_rank = 1
