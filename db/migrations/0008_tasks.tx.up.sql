-- Work for people inside a run: one row per approver slot of an approval step execution, one
-- per manual_task step execution. The step waits (waiting_approval or waiting_response) until
-- its tasks decide it; no worker is held meanwhile.
CREATE TABLE tasks (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind              text NOT NULL CHECK (kind IN ('approval', 'manual_task')),
    run_id            uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_execution_id uuid NOT NULL REFERENCES step_executions (id) ON DELETE CASCADE,
    -- The approver slot, from 0, in the order of the step's approvers; 0 for a manual task.
    slot              integer NOT NULL CHECK (slot >= 0),
    -- single, sequential or parallel for an approval; '' for a manual task.
    mode              text NOT NULL DEFAULT '',
    title             text NOT NULL,
    instructions      text NOT NULL DEFAULT '',
    -- queued: a later slot of a sequential approval, not yet anyone's to decide.
    status            text NOT NULL CHECK (status IN ('queued', 'open', 'on_hold',
                                                      'completed', 'approved', 'rejected', 'expired', 'cancelled')),
    -- Who may act: the user holding the task (a user slot, a claim or an assignment), else any
    -- member of the role. Neither set: only someone with task:assign can give it to someone.
    assignee_id       uuid REFERENCES users (id),
    assignee_role     text,
    hold_reason       text,
    -- The approver's reason, or the manual task's comment.
    comment           text,
    decided_by_id     uuid REFERENCES users (id),
    decided_by_label  text,
    decided_at        timestamptz,
    -- When the approval expires; NULL for none.
    due_at            timestamptz,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    UNIQUE (step_execution_id, slot)
);

-- The inbox: what is still to do, for a user or for the members of a role.
CREATE INDEX tasks_active_assignee ON tasks (assignee_id, created_at) WHERE status IN ('open', 'on_hold');
CREATE INDEX tasks_active_role ON tasks (assignee_role, created_at) WHERE status IN ('open', 'on_hold') AND assignee_id IS NULL;
CREATE INDEX tasks_run ON tasks (run_id);
