-- Every step transition updates its run's row (variables, updated_at) and its step
-- execution's. Those updates stay HOT (no new index entries, the cheapest update Postgres
-- makes) only when no indexed column changes and the page has room for the new version.
-- runs_moving indexed updated_at, which every transition changes; the stuck-run check needs
-- the index only to find the few runs that should be moving, and filters their updated_at.
DROP INDEX runs_moving;
CREATE INDEX runs_moving ON runs (started_at) WHERE status IN ('pending', 'running');
ALTER TABLE runs SET (fillfactor = 70);
ALTER TABLE step_executions SET (fillfactor = 80);
