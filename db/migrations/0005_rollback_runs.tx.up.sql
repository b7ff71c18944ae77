-- A rollback run executes a definition built from its original's rollback plan rather than a
-- published version; it keeps the original's workflow and version, so lists and filters
-- group the two. NULL for every other run, which reads its workflow version.
ALTER TABLE runs ADD COLUMN definition jsonb;

-- At most one rollback per run: a second request must not undo the same steps twice.
CREATE UNIQUE INDEX runs_compensation_of ON runs (compensation_of) WHERE compensation_of IS NOT NULL;
