-- Connector resource sync (PRODUCT §3): configuration per (connector, resource type), runs,
-- the cache of synced records with their match to Floh users, and each run's change report.

CREATE TABLE sync_configs (
    connector_id  uuid NOT NULL REFERENCES connectors (id),
    resource_type text NOT NULL CHECK (resource_type IN ('user', 'group')),
    config        jsonb NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (connector_id, resource_type)
);

CREATE TABLE sync_runs (
    id               uuid PRIMARY KEY,
    connector_id     uuid NOT NULL REFERENCES connectors (id),
    resource_type    text NOT NULL CHECK (resource_type IN ('user', 'group')),
    status           text NOT NULL CHECK (status IN ('pending', 'running', 'awaiting_approval', 'completed', 'failed', 'cancelled')),
    phase            text NOT NULL,
    strategy         text NOT NULL CHECK (strategy IN ('full', 'incremental')),
    dry_run          boolean NOT NULL DEFAULT false,
    trigger          text NOT NULL CHECK (trigger IN ('manual', 'schedule', 'record')),
    scheduled_for    timestamptz,
    -- The one record a 'record' run syncs.
    external_id      text,
    started_by       uuid REFERENCES users (id),
    started_by_label text NOT NULL,
    -- The configuration the run was started with: a change while it runs applies to the next.
    config           jsonb NOT NULL,
    -- Incremental runs fetch what changed at or after since (the start of the last success).
    since            timestamptz,
    -- Progress, persisted with each staged page: a resumed run goes on after cursor.
    cursor           text NOT NULL DEFAULT '',
    fetched          integer NOT NULL DEFAULT 0,
    -- The live records before the run, which a full run expects to see again (progress bar).
    expected         integer,
    truncated        boolean NOT NULL DEFAULT false,
    stats            jsonb NOT NULL DEFAULT '{}',
    -- Why a run holds for approval, and who allowed it.
    hold             jsonb,
    allowed_by       text,
    allowed_at       timestamptz,
    cancel_requested boolean NOT NULL DEFAULT false,
    error            text,
    created_at       timestamptz NOT NULL,
    started_at       timestamptz,
    finished_at      timestamptz,
    updated_at       timestamptz NOT NULL
);
-- One run at a time per (connector, resource type), a held one included: its staged listing
-- is what Allow commits.
CREATE UNIQUE INDEX sync_runs_one_active ON sync_runs (connector_id, resource_type)
    WHERE status IN ('pending', 'running', 'awaiting_approval');
CREATE INDEX sync_runs_recent ON sync_runs (connector_id, resource_type, created_at DESC, id);
-- A scheduled tick starts at most one run, however many replicas fire it.
CREATE UNIQUE INDEX sync_runs_tick ON sync_runs (connector_id, resource_type, scheduled_for)
    WHERE scheduled_for IS NOT NULL;

CREATE TABLE sync_resources (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    connector_id  uuid NOT NULL REFERENCES connectors (id),
    resource_type text NOT NULL CHECK (resource_type IN ('user', 'group')),
    external_id   text NOT NULL,
    username      text NOT NULL DEFAULT '',
    email         text NOT NULL DEFAULT '',
    display_name  text NOT NULL DEFAULT '',
    attributes    jsonb NOT NULL DEFAULT '{}',
    hash          bytea NOT NULL,
    first_seen_at timestamptz NOT NULL,
    -- When the record was last written: added, changed, or seen again after being stale.
    -- An unchanged record is not rewritten; a full run that completes confirms every record
    -- that is not stale (sync_configs' last full run says when).
    synced_at     timestamptz NOT NULL,
    stale_since   timestamptz,
    -- Users only: the match to a Floh user.
    match_status  text CHECK (match_status IN ('matched_exact', 'matched_probable', 'ambiguous', 'unmatched', 'skipped', 'manual')),
    user_id       uuid REFERENCES users (id),
    candidates    uuid[] NOT NULL DEFAULT '{}',
    -- The strategy that found the user, 'created' for a user the sync created, 'admin' for
    -- an admin's decision.
    matched_by    text,
    decided_by    text,
    decided_at    timestamptz,
    UNIQUE (connector_id, resource_type, external_id)
);
CREATE INDEX sync_resources_user_idx ON sync_resources (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX sync_resources_status_idx ON sync_resources (connector_id, resource_type, match_status);

-- The per-record change report of a run. A dry run's report is all it keeps.
CREATE TABLE sync_changes (
    id           bigserial PRIMARY KEY,
    run_id       uuid NOT NULL REFERENCES sync_runs (id),
    kind         text NOT NULL CHECK (kind IN ('added', 'updated', 'stale', 'purged',
                     'matched', 'ambiguous', 'unmatched', 'created', 'deactivated', 'mapped')),
    resource_id  uuid,
    external_id  text NOT NULL,
    display_name text NOT NULL DEFAULT '',
    user_id      uuid,
    detail       jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX sync_changes_run_idx ON sync_changes (run_id, kind, id);

-- A date from text that may not be one: attribute mappings write startDate from whatever the
-- upstream holds, and one bad value must not fail the whole run.
CREATE FUNCTION floh_try_date(v text) RETURNS date
LANGUAGE plpgsql IMMUTABLE AS $fn$
BEGIN
    IF v IS NULL OR v !~ '^\d{4}-\d{2}-\d{2}' THEN
        RETURN NULL;
    END IF;
    RETURN substr(v, 1, 10)::date;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$fn$;
