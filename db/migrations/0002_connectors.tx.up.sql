-- Connector instances. Secret config fields never live in `config`: they are sealed together
-- (AES-256-GCM, the connector id as additional data) in `secrets`, and `secret_fields` names
-- the ones that are set so pages can say "set" without decrypting anything.
CREATE TABLE connectors (
    id              uuid PRIMARY KEY,
    name            text NOT NULL,
    type            text NOT NULL,
    description     text NOT NULL DEFAULT '',
    enabled         boolean NOT NULL DEFAULT true,
    config          jsonb NOT NULL DEFAULT '{}',
    secrets         bytea,
    secrets_key_id  text,
    secret_fields   text[] NOT NULL DEFAULT '{}',
    mock_mode       boolean NOT NULL DEFAULT false,
    mock_data       jsonb NOT NULL DEFAULT '{}',
    health_status   text NOT NULL DEFAULT 'unknown' CHECK (health_status IN ('unknown', 'healthy', 'down')),
    health_since    timestamptz,
    health_failures integer NOT NULL DEFAULT 0,
    -- When a health check last claimed this connector; replicas claim with SKIP LOCKED so each
    -- connector is tested once per interval however many replicas run.
    health_checked_at timestamptz,
    last_test_at    timestamptz,
    last_test_ok    boolean,
    last_test_ms    integer,
    last_error      jsonb,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    deleted_at      timestamptz
);

-- Names are unique among live connectors; a deleted one frees its name.
CREATE UNIQUE INDEX connectors_name_live ON connectors (lower(name)) WHERE deleted_at IS NULL;

-- Recent calls, sanitised (secret params masked), for the Logs tab.
CREATE TABLE connector_executions (
    id           bigserial PRIMARY KEY,
    connector_id uuid NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
    at           timestamptz NOT NULL,
    source       text NOT NULL CHECK (source IN ('console', 'test', 'health', 'run')),
    actor        text NOT NULL,
    command      text NOT NULL,
    params       jsonb NOT NULL DEFAULT '{}',
    mock         boolean NOT NULL DEFAULT false,
    success      boolean NOT NULL,
    duration_ms  integer NOT NULL,
    output       jsonb,
    error        jsonb
);

CREATE INDEX connector_executions_recent ON connector_executions (connector_id, at DESC, id DESC);
CREATE INDEX connector_executions_at ON connector_executions (at);
