-- Workflows: a lifecycle (draft → active → deprecated), the open draft document if any, and
-- immutable numbered versions that runs pin.
CREATE TABLE workflows (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    category    text NOT NULL DEFAULT '',
    status      text NOT NULL CHECK (status IN ('draft', 'active', 'deprecated')),
    -- The document being edited; NULL when nothing is open for editing.
    draft       jsonb,
    -- The newest published version; 0 before the first publish.
    version     integer NOT NULL DEFAULT 0,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    deleted_at  timestamptz
);

CREATE UNIQUE INDEX workflows_name_live ON workflows (lower(name)) WHERE deleted_at IS NULL;

CREATE TABLE workflow_versions (
    workflow_id  uuid NOT NULL REFERENCES workflows (id),
    version      integer NOT NULL CHECK (version > 0),
    definition   jsonb NOT NULL,
    published_at timestamptz NOT NULL,
    published_by text NOT NULL,
    PRIMARY KEY (workflow_id, version)
);

-- A published version never changes: runs and rollbacks read it years later.
CREATE FUNCTION workflow_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'workflow versions are immutable';
END $$;

CREATE TRIGGER workflow_versions_no_update BEFORE UPDATE OR DELETE ON workflow_versions
    FOR EACH ROW EXECUTE FUNCTION workflow_versions_immutable();
