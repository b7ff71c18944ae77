package db

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Connector health statuses.
const (
	HealthUnknown = "unknown"
	HealthHealthy = "healthy"
	HealthDown    = "down"
)

// Connector is a configured instance of a connector type. Its JSON form is the API's: secret
// values are not part of it, only the names of the secret fields that are set.
type Connector struct {
	bun.BaseModel `bun:"table:connectors"`

	ID           uuid.UUID       `bun:"id,pk,type:uuid" json:"id"`
	Name         string          `bun:"name" json:"name"`
	Type         string          `bun:"type" json:"type"`
	Description  string          `bun:"description" json:"description"`
	Enabled      bool            `bun:"enabled" json:"enabled"`
	Config       json.RawMessage `bun:"config,type:jsonb" json:"config"`
	Secrets      []byte          `bun:"secrets" json:"-"`
	SecretsKeyID *string         `bun:"secrets_key_id" json:"-"`
	SecretFields []string        `bun:"secret_fields,array" json:"secretsSet"`
	MockMode     bool            `bun:"mock_mode" json:"mockMode"`
	MockData     json.RawMessage `bun:"mock_data,type:jsonb" json:"mockData"`

	HealthStatus    string          `bun:"health_status" json:"healthStatus"`
	HealthSince     *time.Time      `bun:"health_since" json:"healthSince"`
	HealthFailures  int             `bun:"health_failures" json:"healthFailures"`
	HealthCheckedAt *time.Time      `bun:"health_checked_at" json:"-"`
	LastTestAt      *time.Time      `bun:"last_test_at" json:"lastTestAt"`
	LastTestOK      *bool           `bun:"last_test_ok" json:"lastTestOk"`
	LastTestMS      *int            `bun:"last_test_ms" json:"lastTestDurationMs"`
	LastError       json.RawMessage `bun:"last_error,type:jsonb,nullzero" json:"lastError"`

	CreatedAt time.Time  `bun:"created_at" json:"createdAt"`
	UpdatedAt time.Time  `bun:"updated_at" json:"updatedAt"`
	DeletedAt *time.Time `bun:"deleted_at" json:"deletedAt"`
}

// Deleted reports whether the connector is soft-deleted.
func (c *Connector) Deleted() bool { return c.DeletedAt != nil }

// ConnectorNameConstraint is the unique index on live connector names.
const ConnectorNameConstraint = "connectors_name_live"

// InsertConnector stores a new connector; the caller sets every field.
func InsertConnector(ctx context.Context, idb bun.IDB, c *Connector) error {
	if _, err := idb.NewInsert().Model(c).Exec(ctx); err != nil {
		return fmt.Errorf("insert connector: %w", err)
	}
	return nil
}

// UpdateConnector writes every column of c but id and created_at.
func UpdateConnector(ctx context.Context, idb bun.IDB, c *Connector) error {
	if _, err := idb.NewUpdate().Model(c).ExcludeColumn("id", "created_at").WherePK().Exec(ctx); err != nil {
		return fmt.Errorf("update connector: %w", err)
	}
	return nil
}

// FindConnector loads a connector by id, deleted or not.
func FindConnector(ctx context.Context, idb bun.IDB, id uuid.UUID) (*Connector, error) {
	c := new(Connector)
	if err := idb.NewSelect().Model(c).Where("id = ?", id).Scan(ctx); err != nil {
		return nil, fmt.Errorf("find connector %s: %w", id, notFound(err))
	}
	return c, nil
}

// FindConnectorForUpdate loads a connector and locks its row until the transaction ends.
func FindConnectorForUpdate(ctx context.Context, tx bun.Tx, id uuid.UUID) (*Connector, error) {
	c := new(Connector)
	if err := tx.NewSelect().Model(c).Where("id = ?", id).For("UPDATE").Scan(ctx); err != nil {
		return nil, fmt.Errorf("find connector %s: %w", id, notFound(err))
	}
	return c, nil
}

// ConnectorFilter selects connectors for a list.
type ConnectorFilter struct {
	Q              string // substring of the name or description
	Type           string
	IncludeDeleted bool
	Page           Page
}

// ListConnectors returns one page of connectors by name and the total matching the filter.
func ListConnectors(ctx context.Context, idb bun.IDB, f ConnectorFilter) ([]Connector, int, error) {
	cs := []Connector{}
	q := idb.NewSelect().Model(&cs)
	if !f.IncludeDeleted {
		q = q.Where("deleted_at IS NULL")
	}
	if f.Type != "" {
		q = q.Where("type = ?", f.Type)
	}
	if f.Q != "" {
		like := "%" + escapeLike(strings.ToLower(f.Q)) + "%"
		q = q.Where("(lower(name) LIKE ? OR lower(description) LIKE ?)", like, like)
	}
	total, err := f.Page.apply(q.OrderExpr("lower(name), id")).ScanAndCount(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list connectors: %w", err)
	}
	return cs, int(total), nil
}

// ListConnectorsWithSecrets returns every connector, deleted or not, that has sealed secrets,
// locked for a key rotation.
func ListConnectorsWithSecrets(ctx context.Context, tx bun.Tx) ([]Connector, error) {
	cs := []Connector{}
	if err := tx.NewSelect().Model(&cs).Where("secrets IS NOT NULL").OrderExpr("id").For("UPDATE").Scan(ctx); err != nil {
		return nil, fmt.Errorf("list connectors with secrets: %w", err)
	}
	return cs, nil
}

// ClaimConnectorsForHealthCheck marks the live, enabled, unmocked connectors not checked since
// before cutoff as checked now and returns their ids. SKIP LOCKED lets replicas share the work
// without testing a connector twice in one interval.
func ClaimConnectorsForHealthCheck(ctx context.Context, idb bun.IDB, now, cutoff time.Time) ([]uuid.UUID, error) {
	var ids []uuid.UUID
	err := idb.NewRaw(`
		UPDATE connectors SET health_checked_at = ?
		WHERE id IN (
			SELECT id FROM connectors
			WHERE deleted_at IS NULL AND enabled AND NOT mock_mode
			  AND (health_checked_at IS NULL OR health_checked_at <= ?)
			FOR UPDATE SKIP LOCKED)
		RETURNING id`, now, cutoff).Scan(ctx, &ids)
	if err != nil {
		return nil, fmt.Errorf("claim connectors for health check: %w", err)
	}
	return ids, nil
}

// Execution is one recorded connector call, already sanitised.
type Execution struct {
	bun.BaseModel `bun:"table:connector_executions"`

	ID          int64           `bun:"id,pk,autoincrement" json:"id"`
	ConnectorID uuid.UUID       `bun:"connector_id,type:uuid" json:"connectorId"`
	At          time.Time       `bun:"at" json:"at"`
	Source      string          `bun:"source" json:"source"`
	Actor       string          `bun:"actor" json:"actor"`
	Command     string          `bun:"command" json:"command"`
	Params      json.RawMessage `bun:"params,type:jsonb" json:"params"`
	Mock        bool            `bun:"mock" json:"mock"`
	Success     bool            `bun:"success" json:"success"`
	DurationMS  int             `bun:"duration_ms" json:"durationMs"`
	Output      json.RawMessage `bun:"output,type:jsonb,nullzero" json:"output,omitempty"`
	Error       json.RawMessage `bun:"error,type:jsonb,nullzero" json:"error,omitempty"`
}

// InsertExecution records a connector call. Every step of a run makes one, so its statement
// keeps its parameters (see params).
func InsertExecution(ctx context.Context, idb bun.IDB, x *Execution) error {
	err := params(idb).QueryRowContext(ctx, `INSERT INTO connector_executions (connector_id, at, source, actor, command,
		params, mock, success, duration_ms, output, error) VALUES ($1, $2, $3, $4, $5, coalesce($6::jsonb, '{}'), $7, $8, $9, $10, $11) RETURNING id`,
		x.ConnectorID, x.At, x.Source, x.Actor, x.Command, jsonParam(x.Params), x.Mock, x.Success, x.DurationMS,
		jsonParam(x.Output), jsonParam(x.Error)).Scan(&x.ID)
	if err != nil {
		return fmt.Errorf("insert connector execution: %w", err)
	}
	return nil
}

// ListExecutions returns one page of a connector's calls, newest first.
func ListExecutions(ctx context.Context, idb bun.IDB, connectorID uuid.UUID, p Page) ([]Execution, int, error) {
	xs := []Execution{}
	q := idb.NewSelect().Model(&xs).Where("connector_id = ?", connectorID).OrderExpr("at DESC, id DESC")
	total, err := p.apply(q).ScanAndCount(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list connector executions: %w", err)
	}
	return xs, int(total), nil
}

// PurgeExecutions deletes the calls recorded before cutoff.
func PurgeExecutions(ctx context.Context, idb bun.IDB, cutoff time.Time) (int64, error) {
	res, err := idb.NewDelete().Model((*Execution)(nil)).Where("at < ?", cutoff).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("purge connector executions: %w", err)
	}
	return res.RowsAffected()
}

// FindLiveConnectorByRef finds a live connector by id or, failing that, by name
// (case-insensitive): workflow steps may name their connector either way.
func FindLiveConnectorByRef(ctx context.Context, idb bun.IDB, ref string) (*Connector, error) {
	c := new(Connector)
	q := idb.NewSelect().Model(c).Where("deleted_at IS NULL")
	if id, err := uuid.Parse(ref); err == nil {
		q = q.Where("id = ?", id)
	} else {
		q = q.Where("lower(name) = lower(?)", ref)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("find connector %q: %w", ref, notFound(err))
	}
	return c, nil
}
