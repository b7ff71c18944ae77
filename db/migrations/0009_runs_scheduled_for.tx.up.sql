-- A run a schedule started records the tick it was started for. Each tick's job is unique in
-- River, but a job can still be worked twice (its process dies after the run commits, before
-- River hears the job finished); the unique index makes the second start fail, so a tick
-- starts at most one run. The column never changes after the insert, so updates stay HOT.
ALTER TABLE runs ADD COLUMN scheduled_for timestamptz;
CREATE UNIQUE INDEX runs_schedule_tick ON runs (workflow_id, scheduled_for) WHERE scheduled_for IS NOT NULL;
