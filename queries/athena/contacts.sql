-- contacts (Athena / Trino): one row per contact, the newest delivered version, over the Glue
-- table `ctr` that infra/template.yaml (or infra/athena/create_table.sql) creates.
--
-- The rule is queries/contacts.sql's, which ctrlake applies: within a dt partition (every
-- version of a contact shares one: the UTC date of its InitiationTimestamp), the version with
-- the latest LastUpdateTimestamp wins; ties go to the later-arrived copy, then the later
-- position in its source. Trino sorts NULLs last in both directions, as written out here.
-- Filter on dt when querying the view (WHERE dt BETWEEN '2026-03-01' AND '2026-03-07'): the
-- partition projection then reads only those days.
--
-- `version_rank` is always 1 (Trino has no SELECT * EXCEPT); select the columns you need.
-- tests/test_athena.py parses this file as Trino SQL (sqlglot), runs it in DuckDB over a lake
-- and checks it picks the same version of every contact as ctrlake's `contacts`.
CREATE OR REPLACE VIEW contacts AS
SELECT *
FROM (
    SELECT ctr.*,
           row_number() OVER (
               PARTITION BY dt, contact_id
               ORDER BY last_update_timestamp DESC,
                        arrival_timestamp DESC NULLS LAST,
                        source_uri DESC,
                        source_offset DESC NULLS LAST,
                        length(source_sequence_number) DESC NULLS LAST,
                        source_sequence_number DESC NULLS LAST
           ) AS version_rank
    FROM ctr
)
WHERE version_rank = 1
