-- Foundation: users, roles, tokens, sessions, audit, events, incidents, notifications.

CREATE TABLE users (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    iss             text NOT NULL,
    sub             text NOT NULL,
    email           text NOT NULL,
    display_name    text NOT NULL DEFAULT '',
    confirmed       boolean NOT NULL DEFAULT false,
    upstream_issuer text,
    upstream_id     text,
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    deleted_at      timestamptz
);
-- Identity is (iss, sub) among live users; a soft-deleted user keeps its row and frees the key.
CREATE UNIQUE INDEX users_identity_key ON users (iss, sub) WHERE deleted_at IS NULL;
-- Emails are not unique (two upstream issuers may share one) and compare case-insensitively.
CREATE INDEX users_email_idx ON users (lower(email));
CREATE INDEX users_created_idx ON users (created_at, id);

CREATE TABLE user_profiles (
    user_id           uuid PRIMARY KEY REFERENCES users (id),
    title             text,
    department        text,
    location          text,
    cost_center       text,
    start_date        date,
    custom            jsonb NOT NULL DEFAULT '{}',
    attribute_sources jsonb NOT NULL DEFAULT '{}',
    updated_at        timestamptz NOT NULL
);

CREATE TABLE external_identities (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id               uuid NOT NULL REFERENCES users (id),
    -- The connectors table arrives with its own migration, which adds the foreign key.
    connector_id          uuid NOT NULL,
    external_id           text NOT NULL,
    external_email        text,
    external_display_name text,
    source                text NOT NULL CHECK (source IN ('connector_sync', 'workflow', 'manual')),
    attributes            jsonb NOT NULL DEFAULT '{}',
    verified_at           timestamptz,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    UNIQUE (user_id, connector_id, external_id)
);
CREATE INDEX external_identities_connector_idx ON external_identities (connector_id, external_id);

CREATE TABLE user_roles (
    user_id uuid NOT NULL REFERENCES users (id),
    role    text NOT NULL CHECK (role IN ('Admin', 'Resource Manager', 'Approver', 'Requestor')),
    PRIMARY KEY (user_id, role)
);

CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users (id),
    name         text NOT NULL,
    prefix       text NOT NULL,
    token_hash   bytea NOT NULL UNIQUE,
    -- NULL: the token carries all of its owner's current permissions.
    permissions  text[],
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id, created_at DESC);

-- The scs Postgres store's table (github.com/alexedwards/scs/postgresstore).
CREATE TABLE sessions (
    token  text PRIMARY KEY,
    data   bytea NOT NULL,
    expiry timestamptz NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);

-- A state value is accepted once: the callback records it here, so a replayed callback
-- (same cookie, same state) is refused even before the provider refuses the used code.
CREATE TABLE oidc_consumed_states (
    state_hash bytea PRIMARY KEY,
    expires_at timestamptz NOT NULL
);

-- Audit log: append-only, each entry chained to the previous one by SHA-256.
-- The id and both hashes are assigned by the trigger below under a transaction-scoped lock, so
-- the chain order is the commit order of writers and ids have no gaps.
CREATE TABLE audit_log (
    id        bigint PRIMARY KEY,
    at        timestamptz NOT NULL,
    actor_id  uuid,
    actor     text NOT NULL,
    token_id  uuid,
    entity    text NOT NULL,
    entity_id text,
    action    text NOT NULL,
    before    jsonb,
    after     jsonb,
    ip        text,
    prev_hash bytea NOT NULL,
    hash      bytea NOT NULL
);
CREATE INDEX audit_log_entity_idx ON audit_log (entity, entity_id, id DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, id DESC);
CREATE INDEX audit_log_at_idx ON audit_log (at);

-- The canonical form hashed for an entry. Every column but hash takes part; jsonb::text is
-- normalised by Postgres, and the time is rendered in UTC so the session time zone cannot
-- change the result.
CREATE FUNCTION audit_entry_hash(e audit_log) RETURNS bytea
LANGUAGE sql STABLE AS $fn$
    SELECT sha256(convert_to(concat_ws(chr(31),
        e.id::text,
        to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        coalesce(e.actor_id::text, ''),
        e.actor,
        coalesce(e.token_id::text, ''),
        e.entity,
        coalesce(e.entity_id, ''),
        e.action,
        coalesce(e.before::text, 'null'),
        coalesce(e.after::text, 'null'),
        coalesce(e.ip, ''),
        encode(e.prev_hash, 'hex')), 'UTF8'))
$fn$;

CREATE FUNCTION audit_log_chain() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    last_id   bigint;
    last_hash bytea;
BEGIN
    -- Serialise writers until commit; each statement below takes a fresh snapshot, so the
    -- previous writer's committed row is visible once the lock is granted.
    PERFORM pg_advisory_xact_lock(7413510421);
    SELECT id, hash INTO last_id, last_hash FROM audit_log ORDER BY id DESC LIMIT 1;
    NEW.id := coalesce(last_id, 0) + 1;
    NEW.prev_hash := coalesce(last_hash, decode(repeat('00', 32), 'hex'));
    NEW.hash := audit_entry_hash(NEW);
    RETURN NEW;
END
$fn$;

CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_chain();

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

CREATE TABLE events (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    at           timestamptz NOT NULL,
    sub_type     text NOT NULL CHECK (sub_type IN ('connector_sync', 'connector_health', 'workflow_run', 'compensation', 'auth')),
    action       text NOT NULL CHECK (action IN ('started', 'succeeded', 'failed', 'recovered', 'held', 'allowed')),
    severity     text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    subject_kind text NOT NULL,
    subject_id   text NOT NULL,
    subject_name text NOT NULL DEFAULT '',
    message      text NOT NULL,
    data         jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX events_at_idx ON events (at DESC, id);
CREATE INDEX events_filter_idx ON events (sub_type, action, at DESC);

CREATE TABLE incidents (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind             text NOT NULL,
    severity         text NOT NULL CHECK (severity IN ('warning', 'critical')),
    status           text NOT NULL CHECK (status IN ('open', 'monitoring', 'resolved')),
    subject_kind     text NOT NULL,
    subject_id       text NOT NULL,
    subject_name     text NOT NULL DEFAULT '',
    title            text NOT NULL,
    opened_at        timestamptz NOT NULL,
    monitoring_since timestamptz,
    resolved_at      timestamptz,
    updated_at       timestamptz NOT NULL
);
-- At most one unresolved incident per (kind, subject): new failures extend it.
CREATE UNIQUE INDEX incidents_one_unresolved ON incidents (kind, subject_kind, subject_id)
    WHERE status <> 'resolved';
CREATE INDEX incidents_status_idx ON incidents (status, opened_at DESC);

CREATE TABLE incident_timeline (
    id          bigserial PRIMARY KEY,
    incident_id uuid NOT NULL REFERENCES incidents (id),
    at          timestamptz NOT NULL,
    entry       text NOT NULL CHECK (entry IN ('opened', 'failure', 'monitoring', 'reopened', 'resolved')),
    message     text NOT NULL,
    data        jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX incident_timeline_incident_idx ON incident_timeline (incident_id, id);

CREATE TABLE notifications (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES users (id),
    at         timestamptz NOT NULL,
    kind       text NOT NULL,
    title      text NOT NULL,
    body       text NOT NULL DEFAULT '',
    link       text NOT NULL DEFAULT '',
    read_at    timestamptz
);
CREATE INDEX notifications_user_idx ON notifications (user_id, at DESC);
CREATE INDEX notifications_unread_idx ON notifications (user_id) WHERE read_at IS NULL;
