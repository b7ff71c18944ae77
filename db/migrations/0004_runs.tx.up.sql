-- Runs of published workflow versions, their step executions and a timeline. engine/RUNS.md
-- draws the statuses and their transitions; every change of them happens with the run row
-- locked, in the transaction that also inserts the River job it causes.
CREATE TABLE runs (
    id               uuid PRIMARY KEY,
    workflow_id      uuid NOT NULL,
    version          integer NOT NULL,
    -- The workflow's name when the run started, for lists and the run.workflowName variable.
    workflow_name    text NOT NULL,
    status           text NOT NULL CHECK (status IN ('pending', 'running', 'waiting', 'completed', 'failed', 'cancelled')),
    variables        jsonb NOT NULL DEFAULT '{}',
    use_mocks        boolean NOT NULL DEFAULT false,
    -- What the run is about (a user, usually), from the definition's subjectVariable or a
    -- user_create step with setAsSubject, for the runs filters and a user's workflow activity.
    subject_type     text,
    subject_id       text,
    started_by_id    uuid REFERENCES users (id),
    started_by_label text NOT NULL,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz,
    -- The last progress: every step transition sets it, and the stuck-run check reads it.
    updated_at       timestamptz NOT NULL,
    -- {message, code, class} of a failed run.
    error            jsonb,
    -- A sub-workflow run resumes its parent's step when it ends.
    parent_run_id            uuid REFERENCES runs (id),
    parent_step_execution_id uuid,
    -- A rollback run undoes the run it names.
    compensation_of  uuid REFERENCES runs (id),
    FOREIGN KEY (workflow_id, version) REFERENCES workflow_versions (workflow_id, version)
);

CREATE INDEX runs_started ON runs (started_at DESC, id DESC);
CREATE INDEX runs_workflow ON runs (workflow_id, started_at DESC);
CREATE INDEX runs_subject ON runs (subject_type, subject_id, started_at DESC) WHERE subject_id IS NOT NULL;
CREATE INDEX runs_parent ON runs (parent_run_id) WHERE parent_run_id IS NOT NULL;
-- The stuck-run check scans only runs that should be moving.
CREATE INDEX runs_moving ON runs (updated_at) WHERE status IN ('pending', 'running');

-- One row per execution of a step: a step visited again in a cycle gets a new iteration. All
-- attempts of an execution share its idempotency key.
CREATE TABLE step_executions (
    id              uuid PRIMARY KEY,
    run_id          uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    -- Execution order within the run, from 1 (the start step).
    seq             integer NOT NULL,
    step_id         text NOT NULL,
    step_name       text NOT NULL,
    step_type       text NOT NULL,
    iteration       integer NOT NULL CHECK (iteration > 0),
    status          text NOT NULL CHECK (status IN ('pending', 'running', 'waiting_approval', 'waiting_response',
                                                   'completed', 'failed', 'skipped', 'cancelled')),
    -- Attempts started; the job of attempt n claims the row only while it holds n-1.
    attempts        integer NOT NULL DEFAULT 0,
    idempotency_key text NOT NULL,
    -- The River job working the current attempt. The same job, rescued or retried by River
    -- after a crash, may take its claim up again; any other delivery finds nothing to do.
    job_id          bigint,
    -- When something is next expected of this execution: the start of a scheduled retry, the
    -- end of a running attempt's timeout, or a delay's wake-up.
    due_at          timestamptz,
    started_at      timestamptz,
    finished_at     timestamptz,
    output          jsonb,
    -- {message, code, class} of the last failed attempt.
    error           jsonb,
    child_run_id    uuid REFERENCES runs (id),
    UNIQUE (run_id, seq),
    UNIQUE (run_id, step_id, iteration)
);

ALTER TABLE runs ADD FOREIGN KEY (parent_step_execution_id) REFERENCES step_executions (id);

-- Everything that happened in a run, in order. Connector params and responses are stored
-- with secret params masked.
CREATE TABLE run_timeline (
    id                bigserial PRIMARY KEY,
    run_id            uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    at                timestamptz NOT NULL,
    step_id           text,
    step_execution_id uuid REFERENCES step_executions (id) ON DELETE CASCADE,
    kind              text NOT NULL,
    message           text NOT NULL,
    data              jsonb
);

CREATE INDEX run_timeline_run ON run_timeline (run_id, id);
