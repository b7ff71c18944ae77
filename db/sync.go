package db

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
)

// Sync run statuses (PRODUCT §3).
const (
	SyncPending          = "pending"
	SyncRunning          = "running"
	SyncAwaitingApproval = "awaiting_approval"
	SyncCompleted        = "completed"
	SyncFailed           = "failed"
	SyncCancelled        = "cancelled"
)

// SyncRunActiveConstraint is the unique index that allows one unfinished run per (connector,
// resource type).
const SyncRunActiveConstraint = "sync_runs_one_active"

// SyncRunTickConstraint is the unique index that allows one run per scheduled tick.
const SyncRunTickConstraint = "sync_runs_tick"

// SyncConfigRow is the stored configuration of one (connector, resource type).
type SyncConfigRow struct {
	bun.BaseModel `bun:"table:sync_configs"`

	ConnectorID  uuid.UUID       `bun:"connector_id,pk,type:uuid"`
	ResourceType string          `bun:"resource_type,pk"`
	Config       json.RawMessage `bun:"config,type:jsonb"`
	CreatedAt    time.Time       `bun:"created_at"`
	UpdatedAt    time.Time       `bun:"updated_at"`
}

// FindSyncConfig loads a stored configuration; ErrNotFound when nobody has saved one.
func FindSyncConfig(ctx context.Context, idb bun.IDB, connectorID uuid.UUID, rt string) (*SyncConfigRow, error) {
	row := new(SyncConfigRow)
	err := idb.NewSelect().Model(row).Where("connector_id = ? AND resource_type = ?", connectorID, rt).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("find sync config: %w", notFound(err))
	}
	return row, nil
}

// SaveSyncConfig stores a configuration, creating or replacing it.
func SaveSyncConfig(ctx context.Context, idb bun.IDB, row *SyncConfigRow) error {
	_, err := idb.NewInsert().Model(row).
		On("CONFLICT (connector_id, resource_type) DO UPDATE").
		Set("config = EXCLUDED.config, updated_at = EXCLUDED.updated_at").Exec(ctx)
	if err != nil {
		return fmt.Errorf("save sync config: %w", err)
	}
	return nil
}

// ListSyncConfigs returns every stored configuration of live connectors.
func ListSyncConfigs(ctx context.Context, idb bun.IDB) ([]SyncConfigRow, error) {
	rows := []SyncConfigRow{}
	err := idb.NewSelect().Model(&rows).
		Where("connector_id IN (SELECT id FROM connectors WHERE deleted_at IS NULL)").
		OrderExpr("connector_id, resource_type").Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("list sync configs: %w", err)
	}
	return rows, nil
}

// SyncRun is one run of a (connector, resource type) sync.
type SyncRun struct {
	bun.BaseModel `bun:"table:sync_runs"`

	ID              uuid.UUID       `bun:"id,pk,type:uuid" json:"id"`
	ConnectorID     uuid.UUID       `bun:"connector_id,type:uuid" json:"connectorId"`
	ResourceType    string          `bun:"resource_type" json:"resourceType"`
	Status          string          `bun:"status" json:"status"`
	Phase           string          `bun:"phase" json:"phase"`
	Strategy        string          `bun:"strategy" json:"strategy"`
	DryRun          bool            `bun:"dry_run" json:"dryRun"`
	Trigger         string          `bun:"trigger" json:"trigger"`
	ScheduledFor    *time.Time      `bun:"scheduled_for" json:"scheduledFor,omitempty"`
	ExternalID      *string         `bun:"external_id" json:"externalId,omitempty"`
	StartedBy       *uuid.UUID      `bun:"started_by,type:uuid" json:"startedBy,omitempty"`
	StartedByLabel  string          `bun:"started_by_label" json:"startedByLabel"`
	Config          json.RawMessage `bun:"config,type:jsonb" json:"-"`
	Since           *time.Time      `bun:"since" json:"since,omitempty"`
	Cursor          string          `bun:"cursor" json:"-"`
	Fetched         int             `bun:"fetched" json:"fetched"`
	Expected        *int            `bun:"expected" json:"expected,omitempty"`
	Truncated       bool            `bun:"truncated" json:"truncated"`
	Stats           json.RawMessage `bun:"stats,type:jsonb" json:"stats"`
	Hold            json.RawMessage `bun:"hold,type:jsonb" json:"hold,omitempty"`
	AllowedBy       *string         `bun:"allowed_by" json:"allowedBy,omitempty"`
	AllowedAt       *time.Time      `bun:"allowed_at" json:"allowedAt,omitempty"`
	CancelRequested bool            `bun:"cancel_requested" json:"cancelRequested"`
	Error           *string         `bun:"error" json:"error"`
	CreatedAt       time.Time       `bun:"created_at" json:"createdAt"`
	StartedAt       *time.Time      `bun:"started_at" json:"startedAt,omitempty"`
	FinishedAt      *time.Time      `bun:"finished_at" json:"finishedAt,omitempty"`
	UpdatedAt       time.Time       `bun:"updated_at" json:"updatedAt"`
}

// Finished reports whether the run has stopped for good.
func (r *SyncRun) Finished() bool {
	return r.Status == SyncCompleted || r.Status == SyncFailed || r.Status == SyncCancelled
}

// InsertSyncRun stores a new run.
func InsertSyncRun(ctx context.Context, idb bun.IDB, r *SyncRun) error {
	if _, err := idb.NewInsert().Model(r).Exec(ctx); err != nil {
		return fmt.Errorf("insert sync run: %w", err)
	}
	return nil
}

// FindSyncRun loads a run.
func FindSyncRun(ctx context.Context, idb bun.IDB, id uuid.UUID) (*SyncRun, error) {
	r := new(SyncRun)
	if err := idb.NewSelect().Model(r).Where("id = ?", id).Scan(ctx); err != nil {
		return nil, fmt.Errorf("find sync run %s: %w", id, notFound(err))
	}
	return r, nil
}

// FindSyncRunForUpdate loads a run and locks it until the transaction ends.
func FindSyncRunForUpdate(ctx context.Context, idb bun.IDB, id uuid.UUID) (*SyncRun, error) {
	r := new(SyncRun)
	if err := idb.NewSelect().Model(r).Where("id = ?", id).For("UPDATE").Scan(ctx); err != nil {
		return nil, fmt.Errorf("find sync run %s: %w", id, notFound(err))
	}
	return r, nil
}

// UpdateSyncRun writes a run's state back.
func UpdateSyncRun(ctx context.Context, idb bun.IDB, r *SyncRun) error {
	_, err := idb.NewUpdate().Model(r).WherePK().
		Column("status", "phase", "since", "cursor", "fetched", "expected", "truncated", "stats", "hold",
			"allowed_by", "allowed_at", "cancel_requested", "error", "started_at", "finished_at", "updated_at").
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("update sync run %s: %w", r.ID, err)
	}
	return nil
}

// SetSyncRunPhase records the phase of a running run, for the progress bar; it answers
// whether an admin has asked to cancel the run meanwhile.
func SetSyncRunPhase(ctx context.Context, idb bun.IDB, id uuid.UUID, phase string, at time.Time) (cancel bool, err error) {
	err = idb.NewUpdate().Table("sync_runs").Set("phase = ?, updated_at = ?", phase, at).
		Where("id = ?", id).Returning("cancel_requested").Scan(ctx, &cancel)
	if err != nil {
		return false, fmt.Errorf("set phase of sync run %s: %w", id, err)
	}
	return cancel, nil
}

// ListSyncRuns returns a page of the runs of a (connector, resource type), newest first.
func ListSyncRuns(ctx context.Context, idb bun.IDB, connectorID uuid.UUID, rt string, p Page) ([]SyncRun, int, error) {
	runs := []SyncRun{}
	q := idb.NewSelect().Model(&runs).Where("connector_id = ? AND resource_type = ?", connectorID, rt).
		OrderExpr("created_at DESC, id")
	total, err := p.apply(q).ScanAndCount(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list sync runs: %w", err)
	}
	return runs, int(total), nil
}

// FindActiveSyncRun returns the unfinished run of a (connector, resource type).
func FindActiveSyncRun(ctx context.Context, idb bun.IDB, connectorID uuid.UUID, rt string) (*SyncRun, error) {
	r := new(SyncRun)
	err := idb.NewSelect().Model(r).
		Where("connector_id = ? AND resource_type = ? AND status IN (?)", connectorID, rt,
			bun.In([]string{SyncPending, SyncRunning, SyncAwaitingApproval})).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("find active sync run: %w", notFound(err))
	}
	return r, nil
}

// LastSyncRun returns the newest run of a (connector, resource type); with success only the
// newest completed run that was not a dry run, and with full only a full one.
func LastSyncRun(ctx context.Context, idb bun.IDB, connectorID uuid.UUID, rt string, success, full bool) (*SyncRun, error) {
	r := new(SyncRun)
	q := idb.NewSelect().Model(r).Where("connector_id = ? AND resource_type = ?", connectorID, rt)
	if success {
		q = q.Where("status = ? AND NOT dry_run AND trigger <> 'record'", SyncCompleted)
	}
	if full {
		q = q.Where("strategy = 'full'")
	}
	if err := q.OrderExpr("created_at DESC, id").Limit(1).Scan(ctx); err != nil {
		return nil, fmt.Errorf("find last sync run: %w", notFound(err))
	}
	return r, nil
}

// ListUnfinishedSyncRuns returns the runs that are pending or running, for a restarted
// process to take up again.
func ListUnfinishedSyncRuns(ctx context.Context, idb bun.IDB) ([]SyncRun, error) {
	runs := []SyncRun{}
	err := idb.NewSelect().Model(&runs).Where("status IN (?)", bun.In([]string{SyncPending, SyncRunning})).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("list unfinished sync runs: %w", err)
	}
	return runs, nil
}

// CountLiveSyncResources counts the records of a (connector, resource type) that are not stale.
func CountLiveSyncResources(ctx context.Context, idb bun.IDB, connectorID uuid.UUID, rt string) (int, error) {
	n, err := idb.NewSelect().Table("sync_resources").
		Where("connector_id = ? AND resource_type = ? AND stale_since IS NULL", connectorID, rt).Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("count sync resources: %w", err)
	}
	return int(n), nil
}

// SyncChange is one line of a run's per-record change report.
type SyncChange struct {
	bun.BaseModel `bun:"table:sync_changes"`

	ID          int64           `bun:"id,pk,autoincrement" json:"-"`
	RunID       uuid.UUID       `bun:"run_id,type:uuid" json:"-"`
	Kind        string          `bun:"kind" json:"kind"`
	ResourceID  *uuid.UUID      `bun:"resource_id,type:uuid" json:"resourceId,omitempty"`
	ExternalID  string          `bun:"external_id" json:"externalId"`
	DisplayName string          `bun:"display_name" json:"displayName"`
	UserID      *uuid.UUID      `bun:"user_id,type:uuid" json:"userId,omitempty"`
	Detail      json.RawMessage `bun:"detail,type:jsonb" json:"detail"`
}

// SyncChangeKinds are the kinds of line a change report holds.
var SyncChangeKinds = []string{"added", "updated", "stale", "purged", "matched", "ambiguous", "unmatched", "created", "deactivated", "mapped"}

// ListSyncChanges returns a page of a run's change report, optionally of one kind, in the
// order the run made them.
func ListSyncChanges(ctx context.Context, idb bun.IDB, runID uuid.UUID, kind string, p Page) ([]SyncChange, int, error) {
	changes := []SyncChange{}
	q := idb.NewSelect().Model(&changes).Where("run_id = ?", runID)
	if kind != "" {
		q = q.Where("kind = ?", kind)
	}
	total, err := p.apply(q.OrderExpr("id")).ScanAndCount(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list sync changes: %w", err)
	}
	return changes, int(total), nil
}

// CountSyncChanges counts a run's report lines by kind.
func CountSyncChanges(ctx context.Context, idb bun.IDB, runID uuid.UUID) (map[string]int, error) {
	var rows []struct {
		Kind string `bun:"kind"`
		N    int    `bun:"n"`
	}
	err := idb.NewSelect().Table("sync_changes").ColumnExpr("kind, count(*) AS n").
		Where("run_id = ?", runID).Group("kind").Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("count sync changes: %w", err)
	}
	out := map[string]int{}
	for _, r := range rows {
		out[r.Kind] = r.N
	}
	return out, nil
}

// SyncResource is one cached upstream record and, for users, its match.
type SyncResource struct {
	bun.BaseModel `bun:"table:sync_resources"`

	ID           uuid.UUID       `bun:"id,pk,type:uuid" json:"id"`
	ConnectorID  uuid.UUID       `bun:"connector_id,type:uuid" json:"connectorId"`
	ResourceType string          `bun:"resource_type" json:"resourceType"`
	ExternalID   string          `bun:"external_id" json:"externalId"`
	Username     string          `bun:"username" json:"username"`
	Email        string          `bun:"email" json:"email"`
	DisplayName  string          `bun:"display_name" json:"displayName"`
	Attributes   json.RawMessage `bun:"attributes,type:jsonb" json:"attributes"`
	FirstSeenAt  time.Time       `bun:"first_seen_at" json:"firstSeenAt"`
	SyncedAt     time.Time       `bun:"synced_at" json:"syncedAt"`
	StaleSince   *time.Time      `bun:"stale_since" json:"staleSince"`
	MatchStatus  *string         `bun:"match_status" json:"matchStatus,omitempty"`
	UserID       *uuid.UUID      `bun:"user_id,type:uuid" json:"userId,omitempty"`
	Candidates   []uuid.UUID     `bun:"candidates,type:uuid[],array" json:"candidates,omitempty"`
	MatchedBy    *string         `bun:"matched_by" json:"matchedBy,omitempty"`
	DecidedBy    *string         `bun:"decided_by" json:"decidedBy,omitempty"`
	DecidedAt    *time.Time      `bun:"decided_at" json:"decidedAt,omitempty"`
}

// SyncResourceFilter selects cached records.
type SyncResourceFilter struct {
	ConnectorID  uuid.UUID
	ResourceType string
	// Q searches display name, email and external id, in any case.
	Q string
	// Stale: nil all, true only stale records, false only live ones.
	Stale *bool
	// Statuses keeps only records with one of these match outcomes.
	Statuses []string
	Page     Page
}

// ListSyncResources returns one page of cached records, by display name.
func ListSyncResources(ctx context.Context, idb bun.IDB, f SyncResourceFilter) ([]SyncResource, int, error) {
	rows := []SyncResource{}
	q := idb.NewSelect().Model(&rows).Where("connector_id = ? AND resource_type = ?", f.ConnectorID, f.ResourceType)
	if f.Q != "" {
		like := "%" + escapeLike(f.Q) + "%"
		q = q.Where("(display_name ILIKE ? OR email ILIKE ? OR external_id ILIKE ?)", like, like, like)
	}
	if f.Stale != nil {
		if *f.Stale {
			q = q.Where("stale_since IS NOT NULL")
		} else {
			q = q.Where("stale_since IS NULL")
		}
	}
	if len(f.Statuses) > 0 {
		q = q.Where("match_status IN (?)", bun.In(f.Statuses))
	}
	total, err := f.Page.apply(q.OrderExpr("lower(display_name), external_id")).ScanAndCount(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list sync resources: %w", err)
	}
	return rows, int(total), nil
}

// FindSyncResource loads a cached record of a (connector, resource type).
func FindSyncResource(ctx context.Context, idb bun.IDB, connectorID uuid.UUID, rt string, id uuid.UUID) (*SyncResource, error) {
	r := new(SyncResource)
	err := idb.NewSelect().Model(r).Where("id = ? AND connector_id = ? AND resource_type = ?", id, connectorID, rt).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("find sync resource %s: %w", id, notFound(err))
	}
	return r, nil
}

// FindSyncResourceForUpdate loads a cached record of a (connector, resource type) and locks it.
func FindSyncResourceForUpdate(ctx context.Context, idb bun.IDB, connectorID uuid.UUID, rt string, id uuid.UUID) (*SyncResource, error) {
	r := new(SyncResource)
	err := idb.NewSelect().Model(r).Where("id = ? AND connector_id = ? AND resource_type = ?", id, connectorID, rt).
		For("UPDATE").Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("find sync resource %s: %w", id, notFound(err))
	}
	return r, nil
}

// UpdateSyncResourceMatch writes an admin's decision about a record's match.
func UpdateSyncResourceMatch(ctx context.Context, idb bun.IDB, r *SyncResource) error {
	_, err := idb.NewUpdate().Model(r).WherePK().
		Column("match_status", "user_id", "candidates", "matched_by", "decided_by", "decided_at").Exec(ctx)
	if err != nil {
		return fmt.Errorf("update match of %s: %w", r.ExternalID, err)
	}
	return nil
}

// ListSyncResourcesByID loads records of a (connector, resource type) by id, locking them.
func ListSyncResourcesByID(ctx context.Context, idb bun.IDB, connectorID uuid.UUID, rt string, ids []uuid.UUID) ([]SyncResource, error) {
	rows := []SyncResource{}
	err := idb.NewSelect().Model(&rows).
		Where("connector_id = ? AND resource_type = ? AND id IN (?)", connectorID, rt, bun.In(ids)).
		OrderExpr("id").For("UPDATE").Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("list sync resources by id: %w", err)
	}
	return rows, nil
}

// LinkExternalIdentity records that a user is a connector's record (source connector_sync),
// and removes what the sync had recorded for that record under any other user.
func LinkExternalIdentity(ctx context.Context, idb bun.IDB, r *SyncResource, userID uuid.UUID, at time.Time) error {
	if err := UnlinkExternalIdentity(ctx, idb, r, &userID); err != nil {
		return err
	}
	_, err := idb.NewRaw(`
		INSERT INTO external_identities (user_id, connector_id, external_id, external_email, external_display_name,
		    source, attributes, verified_at, created_at, updated_at)
		VALUES (?, ?, ?, nullif(?, ''), nullif(?, ''), 'connector_sync', ?, ?, ?, ?)
		ON CONFLICT (user_id, connector_id, external_id) DO UPDATE SET
		    external_email = EXCLUDED.external_email, external_display_name = EXCLUDED.external_display_name,
		    attributes = EXCLUDED.attributes, verified_at = EXCLUDED.verified_at, updated_at = EXCLUDED.updated_at`,
		userID, r.ConnectorID, r.ExternalID, r.Email, r.DisplayName, r.Attributes, at, at, at).Exec(ctx)
	if err != nil {
		return fmt.Errorf("link external identity %s: %w", r.ExternalID, err)
	}
	return nil
}

// UnlinkExternalIdentity removes the connector_sync identities of a record, but the one of
// keep when given.
func UnlinkExternalIdentity(ctx context.Context, idb bun.IDB, r *SyncResource, keep *uuid.UUID) error {
	q := idb.NewDelete().Table("external_identities").
		Where("connector_id = ? AND external_id = ? AND source = 'connector_sync'", r.ConnectorID, r.ExternalID)
	if keep != nil {
		q = q.Where("user_id <> ?", *keep)
	}
	if _, err := q.Exec(ctx); err != nil {
		return fmt.Errorf("unlink external identity %s: %w", r.ExternalID, err)
	}
	return nil
}

// MatchCandidate is a Floh user a record could be, as the review shows it.
type MatchCandidate struct {
	ID          uuid.UUID `bun:"id" json:"id"`
	Email       string    `bun:"email" json:"email"`
	DisplayName string    `bun:"display_name" json:"displayName"`
}

// FindMatchCandidates loads the users named by records' matches and candidates.
func FindMatchCandidates(ctx context.Context, idb bun.IDB, ids []uuid.UUID) (map[uuid.UUID]MatchCandidate, error) {
	out := map[uuid.UUID]MatchCandidate{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []MatchCandidate
	err := idb.NewSelect().Table("users").Column("id", "email", "display_name").
		Where("id IN (?)", bun.In(ids)).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("find match candidates: %w", err)
	}
	for _, r := range rows {
		out[r.ID] = r
	}
	return out, nil
}

// StagingTable is the name of a run's staging table. Each run stages into its own unlogged
// table, dropped when the run ends: dropping is instant however many rows it holds, and
// unlogged rows cost no WAL.
func StagingTable(runID uuid.UUID) string {
	return "sync_staging_" + hex.EncodeToString(runID[:])
}

// CreateStaging makes a run's staging table if it does not exist yet, and returns how many
// rows it holds: a resumed run finds what it staged before.
func CreateStaging(ctx context.Context, idb bun.IDB, runID uuid.UUID) (int, error) {
	t := bun.Ident(StagingTable(runID))
	_, err := idb.NewRaw(`CREATE UNLOGGED TABLE IF NOT EXISTS ? (
	    seq          integer NOT NULL,
	    external_id  text NOT NULL,
	    username     text NOT NULL,
	    email        text NOT NULL,
	    display_name text NOT NULL,
	    attributes   jsonb NOT NULL,
	    hash         bytea NOT NULL)`, t).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("create staging table: %w", err)
	}
	var n int
	if err := idb.NewRaw("SELECT count(*) FROM ?", t).Scan(ctx, &n); err != nil {
		return 0, fmt.Errorf("count staged records: %w", err)
	}
	return n, nil
}

// TruncateStaging empties a run's staging table, for a run that must list from the start.
func TruncateStaging(ctx context.Context, idb bun.IDB, runID uuid.UUID) error {
	if _, err := idb.NewRaw("TRUNCATE ?", bun.Ident(StagingTable(runID))).Exec(ctx); err != nil {
		return fmt.Errorf("truncate staging table: %w", err)
	}
	return nil
}

// DropStaging removes a run's staging table.
func DropStaging(ctx context.Context, idb bun.IDB, runID uuid.UUID) error {
	if _, err := idb.NewRaw("DROP TABLE IF EXISTS ?", bun.Ident(StagingTable(runID))).Exec(ctx); err != nil {
		return fmt.Errorf("drop staging table: %w", err)
	}
	return nil
}

// StagedRecord is one upstream record as a run stages it.
type StagedRecord struct {
	ExternalID, Username, Email, DisplayName string
	Attributes                               []byte // JSON
	Hash                                     []byte
}

// StagePage copies one page of records into a run's staging table and, in the same
// transaction, calls then (which records the run's progress), so the staged rows and the
// progress that says how far they go commit together.
func StagePage(ctx context.Context, d *DB, runID uuid.UUID, firstSeq int, recs []StagedRecord, then func(tx bun.Tx) error) error {
	conn, err := d.Bun.Conn(ctx)
	if err != nil {
		return fmt.Errorf("stage page: %w", err)
	}
	defer conn.Close()
	return conn.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if len(recs) > 0 {
			err := conn.Conn.Raw(func(dc any) error {
				_, err := dc.(*stdlib.Conn).Conn().CopyFrom(ctx, pgx.Identifier{StagingTable(runID)},
					[]string{"seq", "external_id", "username", "email", "display_name", "attributes", "hash"},
					pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) {
						r := recs[i]
						return []any{firstSeq + i, r.ExternalID, r.Username, r.Email, r.DisplayName, string(r.Attributes), r.Hash}, nil
					}))
				return err
			})
			if err != nil {
				return fmt.Errorf("copy %d records into staging: %w", len(recs), err)
			}
		}
		return then(tx)
	})
}

// CopySyncChanges copies report rows from an open query into sync_changes on a connection of
// its own. A dry run's transaction rolls back everything it did but its report, which this
// writes outside it first.
func CopySyncChanges(ctx context.Context, d *DB, runID uuid.UUID, rows *sql.Rows) (int64, error) {
	src := &changeRows{rows: rows, runID: runID}
	n, err := d.Pool.CopyFrom(ctx, pgx.Identifier{"sync_changes"},
		[]string{"run_id", "kind", "resource_id", "external_id", "display_name", "user_id", "detail"}, src)
	if err == nil {
		err = src.err
	}
	if err != nil {
		return 0, fmt.Errorf("copy the change report: %w", err)
	}
	return n, nil
}

type changeRows struct {
	rows  *sql.Rows
	runID uuid.UUID
	vals  []any
	err   error
}

func (c *changeRows) Next() bool {
	if !c.rows.Next() {
		c.err = c.rows.Err()
		return false
	}
	var (
		kind, ext, name string
		res, user       *uuid.UUID
		detail          string
	)
	if err := c.rows.Scan(&kind, &res, &ext, &name, &user, &detail); err != nil {
		c.err = err
		return false
	}
	c.vals = []any{c.runID, kind, res, ext, name, user, detail}
	return true
}

func (c *changeRows) Values() ([]any, error) { return c.vals, nil }

func (c *changeRows) Err() error { return c.err }

// RecordSyncProgress records how far a run's listing got, in the transaction that staged
// the page; it answers whether an admin has asked to cancel the run.
func RecordSyncProgress(ctx context.Context, idb bun.IDB, id uuid.UUID, cursor string, fetched int, truncated bool, at time.Time) (cancel bool, err error) {
	err = idb.NewUpdate().Table("sync_runs").
		Set("cursor = ?, fetched = ?, truncated = truncated OR ?, phase = 'fetching', updated_at = ?", cursor, fetched, truncated, at).
		Where("id = ?", id).Returning("cancel_requested").Scan(ctx, &cancel)
	if err != nil {
		return false, fmt.Errorf("record progress of sync run %s: %w", id, err)
	}
	return cancel, nil
}

// ResourcePathValue reads a path of a cached record as text ("" when absent), the way the
// matcher reads it.
func ResourcePathValue(ctx context.Context, idb bun.IDB, id uuid.UUID, field string, keys []string) (string, error) {
	expr, args := PathExpr("r", field, keys)
	var v sql.NullString
	err := idb.NewRaw("SELECT "+expr+" FROM sync_resources r WHERE r.id = ?", append(args, id)...).Scan(ctx, &v)
	if err != nil {
		return "", fmt.Errorf("read %s of record %s: %w", field, id, notFound(err))
	}
	return v.String, nil
}
