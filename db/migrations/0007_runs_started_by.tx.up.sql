-- Everyone sees the runs they started (PRODUCT §1): a requestor's run list filters on this.
CREATE INDEX runs_started_by ON runs (started_by_id, started_at DESC) WHERE started_by_id IS NOT NULL;
