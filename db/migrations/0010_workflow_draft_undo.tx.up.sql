-- The designer's undo: the drafts that edits replaced, newest last. The engine keeps the last
-- 20 per workflow and drops them when the draft closes (published or deleted). It is a
-- working copy that belongs to the draft; the audit log, which keeps every change forever,
-- is the record.
CREATE TABLE workflow_draft_undo (
    workflow_id uuid NOT NULL REFERENCES workflows (id),
    seq         bigint GENERATED ALWAYS AS IDENTITY,
    draft       jsonb NOT NULL,
    -- The edit that replaced this draft, in words, so the Undo button can say what it undoes.
    edit        text NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (workflow_id, seq)
);
