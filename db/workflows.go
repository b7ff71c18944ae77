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

// Workflow statuses.
const (
	WorkflowDraft      = "draft"
	WorkflowActive     = "active"
	WorkflowDeprecated = "deprecated"
)

// Workflow is a provisioning workflow: its lifecycle, its open draft and its newest version.
type Workflow struct {
	bun.BaseModel `bun:"table:workflows"`

	ID          uuid.UUID       `bun:"id,pk,type:uuid" json:"id"`
	Name        string          `bun:"name" json:"name"`
	Description string          `bun:"description" json:"description"`
	Category    string          `bun:"category" json:"category"`
	Status      string          `bun:"status" json:"status"`
	Draft       json.RawMessage `bun:"draft,type:jsonb,nullzero" json:"-"`
	Version     int             `bun:"version" json:"version"`
	CreatedBy   string          `bun:"created_by" json:"createdBy"`
	CreatedAt   time.Time       `bun:"created_at" json:"createdAt"`
	UpdatedAt   time.Time       `bun:"updated_at" json:"updatedAt"`
	DeletedAt   *time.Time      `bun:"deleted_at" json:"deletedAt"`
}

// Deleted reports whether the workflow is soft-deleted.
func (w *Workflow) Deleted() bool { return w.DeletedAt != nil }

// WorkflowNameConstraint is the unique index on live workflow names.
const WorkflowNameConstraint = "workflows_name_live"

// InsertWorkflow stores a new workflow; the caller sets every field.
func InsertWorkflow(ctx context.Context, idb bun.IDB, w *Workflow) error {
	if _, err := idb.NewInsert().Model(w).Exec(ctx); err != nil {
		return fmt.Errorf("insert workflow: %w", err)
	}
	return nil
}

// UpdateWorkflow writes every column of w but id, created_by and created_at.
func UpdateWorkflow(ctx context.Context, idb bun.IDB, w *Workflow) error {
	if _, err := idb.NewUpdate().Model(w).ExcludeColumn("id", "created_by", "created_at").WherePK().Exec(ctx); err != nil {
		return fmt.Errorf("update workflow: %w", err)
	}
	return nil
}

// FindWorkflow loads a workflow by id, deleted or not.
func FindWorkflow(ctx context.Context, idb bun.IDB, id uuid.UUID) (*Workflow, error) {
	w := new(Workflow)
	if err := idb.NewSelect().Model(w).Where("id = ?", id).Scan(ctx); err != nil {
		return nil, fmt.Errorf("find workflow %s: %w", id, notFound(err))
	}
	return w, nil
}

// FindWorkflowForUpdate loads a workflow and locks its row until the transaction ends.
func FindWorkflowForUpdate(ctx context.Context, tx bun.Tx, id uuid.UUID) (*Workflow, error) {
	w := new(Workflow)
	if err := tx.NewSelect().Model(w).Where("id = ?", id).For("UPDATE").Scan(ctx); err != nil {
		return nil, fmt.Errorf("find workflow %s: %w", id, notFound(err))
	}
	return w, nil
}

// WorkflowFilter selects workflows for a list.
type WorkflowFilter struct {
	Q              string // substring of the name, description or category
	Status         string
	IncludeDeleted bool
	Page           Page
}

// ListWorkflows returns one page of workflows by name and the total matching the filter.
func ListWorkflows(ctx context.Context, idb bun.IDB, f WorkflowFilter) ([]Workflow, int, error) {
	ws := []Workflow{}
	q := idb.NewSelect().Model(&ws)
	if !f.IncludeDeleted {
		q = q.Where("deleted_at IS NULL")
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.Q != "" {
		like := "%" + escapeLike(strings.ToLower(f.Q)) + "%"
		q = q.Where("(lower(name) LIKE ? OR lower(description) LIKE ? OR lower(category) LIKE ?)", like, like, like)
	}
	total, err := f.Page.apply(q.OrderExpr("lower(name), id")).ScanAndCount(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list workflows: %w", err)
	}
	return ws, int(total), nil
}

// ListActiveWorkflows returns every live active workflow's id, name and active version, for
// the schedules each replica keeps in line with the database.
func ListActiveWorkflows(ctx context.Context, idb bun.IDB) ([]Workflow, error) {
	ws := []Workflow{}
	err := idb.NewSelect().Model(&ws).Column("id", "name", "version").
		Where("status = ? AND deleted_at IS NULL", WorkflowActive).OrderExpr("id").Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("list active workflows: %w", err)
	}
	return ws, nil
}

// WorkflowVersion is an immutable published definition.
type WorkflowVersion struct {
	bun.BaseModel `bun:"table:workflow_versions"`

	WorkflowID  uuid.UUID       `bun:"workflow_id,pk,type:uuid" json:"workflowId"`
	Version     int             `bun:"version,pk" json:"version"`
	Definition  json.RawMessage `bun:"definition,type:jsonb" json:"definition"`
	PublishedAt time.Time       `bun:"published_at" json:"publishedAt"`
	PublishedBy string          `bun:"published_by" json:"publishedBy"`
}

// InsertWorkflowVersion stores a published version.
func InsertWorkflowVersion(ctx context.Context, idb bun.IDB, v *WorkflowVersion) error {
	if _, err := idb.NewInsert().Model(v).Exec(ctx); err != nil {
		return fmt.Errorf("insert workflow version: %w", err)
	}
	return nil
}

// FindWorkflowVersion loads one version of a workflow.
func FindWorkflowVersion(ctx context.Context, idb bun.IDB, workflowID uuid.UUID, version int) (*WorkflowVersion, error) {
	v := new(WorkflowVersion)
	err := idb.NewSelect().Model(v).Where("workflow_id = ? AND version = ?", workflowID, version).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("find version %d of workflow %s: %w", version, workflowID, notFound(err))
	}
	return v, nil
}

// ListWorkflowVersions returns a workflow's versions, newest first, without their documents.
func ListWorkflowVersions(ctx context.Context, idb bun.IDB, workflowID uuid.UUID) ([]WorkflowVersion, error) {
	vs := []WorkflowVersion{}
	err := idb.NewSelect().Model(&vs).ExcludeColumn("definition").
		Where("workflow_id = ?", workflowID).OrderExpr("version DESC").Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("list versions of workflow %s: %w", workflowID, err)
	}
	return vs, nil
}

// DraftUndo is a draft an edit replaced, kept so the edit can be undone.
type DraftUndo struct {
	bun.BaseModel `bun:"table:workflow_draft_undo"`

	WorkflowID uuid.UUID       `bun:"workflow_id,pk,type:uuid"`
	Seq        int64           `bun:"seq,pk,autoincrement"`
	Draft      json.RawMessage `bun:"draft,type:jsonb"`
	Edit       string          `bun:"edit"`
	CreatedAt  time.Time       `bun:"created_at"`
}

// PushDraftUndo keeps the draft an edit replaced and drops all but the newest keep entries.
func PushDraftUndo(ctx context.Context, idb bun.IDB, u *DraftUndo, keep int) error {
	if _, err := idb.NewInsert().Model(u).ExcludeColumn("seq").Exec(ctx); err != nil {
		return fmt.Errorf("keep draft for undo: %w", err)
	}
	_, err := idb.NewDelete().Model((*DraftUndo)(nil)).
		Where("workflow_id = ?", u.WorkflowID).
		Where("seq NOT IN (?)", idb.NewSelect().Model((*DraftUndo)(nil)).Column("seq").
			Where("workflow_id = ?", u.WorkflowID).OrderExpr("seq DESC").Limit(int64(keep))).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("trim undo of workflow %s: %w", u.WorkflowID, err)
	}
	return nil
}

// PopDraftUndo removes and returns the newest kept draft of a workflow; ErrNotFound when
// there is nothing to undo.
func PopDraftUndo(ctx context.Context, idb bun.IDB, workflowID uuid.UUID) (*DraftUndo, error) {
	u := new(DraftUndo)
	err := idb.NewDelete().Model(u).
		Where("workflow_id = ? AND seq = (?)", workflowID, idb.NewSelect().Model((*DraftUndo)(nil)).
			ColumnExpr("max(seq)").Where("workflow_id = ?", workflowID)).
		Returning("*").Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("undo draft of workflow %s: %w", workflowID, notFound(err))
	}
	return u, nil
}

// DraftUndoState says how many edits of a workflow's draft can be undone and what the newest
// one was.
func DraftUndoState(ctx context.Context, idb bun.IDB, workflowID uuid.UUID) (n int, newest string, err error) {
	var rows []DraftUndo
	err = idb.NewSelect().Model(&rows).Column("seq", "edit").
		Where("workflow_id = ?", workflowID).OrderExpr("seq DESC").Scan(ctx)
	if err != nil {
		return 0, "", fmt.Errorf("undo state of workflow %s: %w", workflowID, err)
	}
	if len(rows) > 0 {
		newest = rows[0].Edit
	}
	return len(rows), newest, nil
}

// ClearDraftUndo forgets a workflow's kept drafts: its draft has closed.
func ClearDraftUndo(ctx context.Context, idb bun.IDB, workflowID uuid.UUID) error {
	if _, err := idb.NewDelete().Model((*DraftUndo)(nil)).Where("workflow_id = ?", workflowID).Exec(ctx); err != nil {
		return fmt.Errorf("clear undo of workflow %s: %w", workflowID, err)
	}
	return nil
}

// ConnectorRefs are the texts by which a step's connectorId names one connector, compared
// case-insensitively.
type ConnectorRefs struct {
	// IDs are the connector's id in every spelling a reference may use, in lower case.
	IDs []string
	// Name is the connector's name; "" when a reference by name does not reach it.
	Name string
}

// ConnectorStep is a connector step, or an email notification step, of a live workflow's
// open draft or newest published version whose connectorId is one of a connector's refs.
type ConnectorStep struct {
	WorkflowID   uuid.UUID `bun:"workflow_id"`
	WorkflowName string    `bun:"workflow_name"`
	Status       string    `bun:"status"`
	// Version is the workflow's newest published version: the document of a step not InDraft.
	Version  int    `bun:"version"`
	InDraft  bool   `bun:"in_draft"`
	StepID   string `bun:"step_id"`
	StepName string `bun:"step_name"`
	StepType string `bun:"step_type"`
	Command  string `bun:"command"`
	Ref      string `bun:"ref"`
}

// ListConnectorSteps finds the steps that name a connector in the documents runs use or will
// use: every live workflow's open draft and newest published version (older versions only
// finish the runs already on them). One pass over the workflows, a primary-key lookup per
// published version, and the steps expanded in place: cheap for hundreds of workflows. Rows
// come by workflow name, the published version's steps before the draft's, each in document
// order.
func ListConnectorSteps(ctx context.Context, idb bun.IDB, refs ConnectorRefs) ([]ConnectorStep, error) {
	steps := []ConnectorStep{}
	err := idb.NewRaw(`
		WITH docs AS (
			SELECT w.id, w.name, w.status, w.version, true AS in_draft, w.draft AS doc
			FROM workflows w
			WHERE w.deleted_at IS NULL AND w.draft IS NOT NULL
			UNION ALL
			SELECT w.id, w.name, w.status, w.version, false, v.definition
			FROM workflows w
			JOIN workflow_versions v ON v.workflow_id = w.id AND v.version = w.version
			WHERE w.deleted_at IS NULL
		)
		SELECT d.id AS workflow_id, d.name AS workflow_name, d.status, d.version, d.in_draft,
			coalesce(s.step->>'id', '') AS step_id, coalesce(s.step->>'name', '') AS step_name,
			s.step->>'type' AS step_type, coalesce(s.step->'config'->>'command', '') AS command, r.ref
		FROM docs d
		CROSS JOIN LATERAL jsonb_array_elements(
			CASE jsonb_typeof(d.doc->'steps') WHEN 'array' THEN d.doc->'steps' ELSE '[]'::jsonb END
		) WITH ORDINALITY AS s(step, ord)
		-- As the runner reads it: a notification trims its reference, a connector step does not.
		CROSS JOIN LATERAL (SELECT CASE s.step->>'type'
			WHEN 'notification' THEN btrim(s.step->'config'->>'connectorId')
			ELSE s.step->'config'->>'connectorId' END AS ref) r
		WHERE (s.step->>'type' = 'connector'
		       OR (s.step->>'type' = 'notification' AND s.step->'config'->>'channel' = 'email'))
		  AND jsonb_typeof(s.step->'config'->'connectorId') = 'string'
		  AND (lower(r.ref) IN (?) OR (? <> '' AND lower(r.ref) = lower(?)))
		ORDER BY lower(d.name), d.id, d.in_draft, s.ord`,
		bun.In(refs.IDs), refs.Name, refs.Name).Scan(ctx, &steps)
	if err != nil {
		return nil, fmt.Errorf("list steps using a connector: %w", err)
	}
	return steps, nil
}
