package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"floh/db"
	"floh/engine/lint"
	"floh/engine/workflow"
)

// WorkflowDoc is a workflow as the API shows it: its lifecycle and the document an editor
// opens (the draft when one is open, else the newest version).
type WorkflowDoc struct {
	*db.Workflow
	HasDraft   bool                 `json:"hasDraft"`
	Definition *workflow.Definition `json:"definition"`
	// Schedule is the cron of the active version's schedule trigger and NextRunAt its next
	// tick; both are empty unless the workflow is active and its runs start on a schedule.
	Schedule  string     `json:"schedule,omitempty"`
	NextRunAt *time.Time `json:"nextRunAt,omitempty"`
}

// LintError refuses a publish while lint errors remain; Findings has them all, warnings too.
type LintError struct {
	Findings []lint.Finding
}

func (e *LintError) Error() string {
	n := 0
	for _, f := range e.Findings {
		if f.Severity == lint.SeverityError {
			n++
		}
	}
	return fmt.Sprintf("the workflow cannot be published: lint found %d error(s); fix them and publish again", n)
}

// parseDefinition reads a document and checks it as a draft: a draft may be incomplete, but
// never malformed. Its name is required so the list can show it.
func parseDefinition(raw []byte) (*workflow.Definition, error) {
	def, err := parseShape(raw)
	if err != nil {
		return nil, err
	}
	if err := checkDraft(def); err != nil {
		return nil, err
	}
	return def, nil
}

// parseShape reads a document strictly (unknown fields, wrong JSON types) without judging it
// as a draft, so that an import can set its name first.
func parseShape(raw []byte) (*workflow.Definition, error) {
	def, err := workflow.Parse(raw)
	if err != nil {
		var fe *workflow.FieldError
		var fes workflow.ValidationErrors
		switch {
		case errors.As(err, &fes):
			return nil, fieldErrors(fes)
		case errors.As(err, &fe):
			return nil, Invalid(fe.Field, "%s", fe.Message)
		}
		return nil, Invalid("definition", "%s", err.Error())
	}
	return def, nil
}

// checkDraft checks a document as a draft and trims its name.
func checkDraft(def *workflow.Definition) error {
	problems := def.Validate(true)
	if strings.TrimSpace(def.Name) == "" {
		problems = append(problems, workflow.FieldError{Field: "name", Message: "is required"})
	}
	if len(problems) > 0 {
		return fieldErrors(problems)
	}
	def.Name = strings.TrimSpace(def.Name)
	return nil
}

func fieldErrors(problems []workflow.FieldError) error {
	v := &ValidationError{}
	for _, p := range problems {
		v.Add(p.Field, "%s", p.Message)
	}
	return v.Err()
}

func (e *Engine) workflowDoc(ctx context.Context, idb bun.IDB, w *db.Workflow) (*WorkflowDoc, error) {
	doc := &WorkflowDoc{Workflow: w, HasDraft: w.Draft != nil}
	raw := []byte(w.Draft)
	if raw == nil && w.Version > 0 {
		v, err := db.FindWorkflowVersion(ctx, idb, w.ID, w.Version)
		if err != nil {
			return nil, err
		}
		raw = v.Definition
	}
	if raw != nil {
		doc.Definition = new(workflow.Definition)
		if err := json.Unmarshal(raw, doc.Definition); err != nil {
			return nil, fmt.Errorf("workflow %s document: %w", w.ID, err)
		}
	}
	if w.Status == db.WorkflowActive && !w.Deleted() {
		active, err := e.definition(ctx, idb, w.ID, w.Version)
		if err != nil {
			return nil, err
		}
		if err := e.fillSchedule(doc, active); err != nil {
			return nil, err
		}
	}
	return doc, nil
}

// FindWorkflow loads a workflow with its document.
func (e *Engine) FindWorkflow(ctx context.Context, id uuid.UUID) (*WorkflowDoc, error) {
	w, err := db.FindWorkflow(ctx, e.db.Bun, id)
	if err != nil {
		return nil, err
	}
	return e.workflowDoc(ctx, e.db.Bun, w)
}

// ListWorkflows returns one page of workflows (without documents).
func (e *Engine) ListWorkflows(ctx context.Context, f db.WorkflowFilter) ([]db.Workflow, int, error) {
	return db.ListWorkflows(ctx, e.db.Bun, f)
}

// CreateWorkflow saves a new draft from a definition document.
func (e *Engine) CreateWorkflow(ctx context.Context, a Actor, raw []byte) (*WorkflowDoc, error) {
	def, err := parseDefinition(raw)
	if err != nil {
		return nil, err
	}
	return e.insertWorkflow(ctx, a, def, func(tx bun.Tx, w *db.Workflow) error {
		return e.audit(ctx, tx, a, "workflow", w.ID.String(), "workflow.created", nil, def)
	})
}

// insertWorkflow stores a new workflow whose draft is def, and audits it with audit in the
// same transaction.
func (e *Engine) insertWorkflow(ctx context.Context, a Actor, def *workflow.Definition, audit func(bun.Tx, *db.Workflow) error) (*WorkflowDoc, error) {
	doc, err := json.Marshal(def)
	if err != nil {
		return nil, fmt.Errorf("marshal workflow: %w", err)
	}
	now := e.now()
	w := &db.Workflow{
		ID: uuid.New(), Name: def.Name, Description: def.Description, Category: def.Category,
		Status: db.WorkflowDraft, Draft: doc, CreatedBy: a.Label, CreatedAt: now, UpdatedAt: now,
	}
	err = e.inTx(ctx, func(tx bun.Tx) error {
		if err := db.InsertWorkflow(ctx, tx, w); err != nil {
			return workflowNameTaken(err, w.Name)
		}
		return audit(tx, w)
	})
	if err != nil {
		return nil, err
	}
	return &WorkflowDoc{Workflow: w, HasDraft: true, Definition: def}, nil
}

func workflowNameTaken(err error, name string) error {
	if db.IsUniqueViolation(err, db.WorkflowNameConstraint) {
		return Invalid("name", "a workflow named %q already exists; choose another name", name)
	}
	return err
}

// UpdateWorkflow replaces the open draft. A published workflow without a draft is not
// edited in place: a new draft is made from a version first.
func (e *Engine) UpdateWorkflow(ctx context.Context, a Actor, id uuid.UUID, raw []byte) (*WorkflowDoc, error) {
	def, err := parseDefinition(raw)
	if err != nil {
		return nil, err
	}
	return e.EditDraft(ctx, a, id, "Edit the document", func(d *workflow.Definition) error {
		*d = *def
		return nil
	})
}

// undoDepth is how many edits of a draft can be undone.
const undoDepth = 20

// EditDraft applies one edit to the open draft and saves the result, keeping the draft it
// replaced so that the edit can be undone; what names the edit in words ("Delete step
// Notify"). The result must still be a well-formed draft: nothing is saved otherwise. A
// *workflow.FieldError from edit is a validation error naming its field.
func (e *Engine) EditDraft(ctx context.Context, a Actor, id uuid.UUID, what string, edit func(*workflow.Definition) error) (*WorkflowDoc, error) {
	var doc *WorkflowDoc
	err := e.inTx(ctx, func(tx bun.Tx) error {
		w, def, err := openDraft(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := edit(def); err != nil {
			var fe *workflow.FieldError
			if errors.As(err, &fe) {
				return Invalid(fe.Field, "%s", fe.Message)
			}
			return err
		}
		if err := checkDraft(def); err != nil {
			return err
		}
		before := w.Draft
		if err := e.saveDraft(ctx, tx, w, def); err != nil {
			return err
		}
		u := &db.DraftUndo{WorkflowID: w.ID, Draft: before, Edit: what, CreatedAt: w.UpdatedAt}
		if err := db.PushDraftUndo(ctx, tx, u, undoDepth); err != nil {
			return err
		}
		doc = &WorkflowDoc{Workflow: w, HasDraft: true, Definition: def}
		return e.audit(ctx, tx, a, "workflow", w.ID.String(), "workflow.updated", json.RawMessage(before), def)
	})
	if err != nil {
		return nil, err
	}
	return doc, nil
}

// UndoDraftEdit puts back the draft the newest kept edit replaced and returns what that edit
// was. It answers a conflict when there is nothing left to undo.
func (e *Engine) UndoDraftEdit(ctx context.Context, a Actor, id uuid.UUID) (*WorkflowDoc, string, error) {
	var doc *WorkflowDoc
	var what string
	err := e.inTx(ctx, func(tx bun.Tx) error {
		w, _, err := openDraft(ctx, tx, id)
		if err != nil {
			return err
		}
		u, err := db.PopDraftUndo(ctx, tx, w.ID)
		if errors.Is(err, db.ErrNotFound) {
			return Conflict("there is no edit of %s left to undo (the last %d are kept)", w.Name, undoDepth)
		} else if err != nil {
			return err
		}
		def := new(workflow.Definition)
		if err := json.Unmarshal(u.Draft, def); err != nil {
			return fmt.Errorf("workflow %s undo: %w", w.ID, err)
		}
		before := w.Draft
		if err := e.saveDraft(ctx, tx, w, def); err != nil {
			return err
		}
		what, doc = u.Edit, &WorkflowDoc{Workflow: w, HasDraft: true, Definition: def}
		return e.audit(ctx, tx, a, "workflow", w.ID.String(), "workflow.edit_undone", json.RawMessage(before),
			map[string]any{"undid": u.Edit, "definition": def})
	})
	if err != nil {
		return nil, "", err
	}
	return doc, what, nil
}

// DraftUndo says how many edits of a workflow's draft can be undone and what the newest was.
func (e *Engine) DraftUndo(ctx context.Context, id uuid.UUID) (int, string, error) {
	return db.DraftUndoState(ctx, e.db.Bun, id)
}

// openDraft locks a workflow whose draft is open for editing and reads the draft.
func openDraft(ctx context.Context, tx bun.Tx, id uuid.UUID) (*db.Workflow, *workflow.Definition, error) {
	w, err := db.FindWorkflowForUpdate(ctx, tx, id)
	if err != nil {
		return nil, nil, err
	}
	if w.Deleted() {
		return nil, nil, Conflict("workflow %s is deleted", w.Name)
	}
	if w.Draft == nil {
		return nil, nil, Conflict("workflow %s is published (version %d) and has no open draft; create a draft from a version first", w.Name, w.Version)
	}
	def := new(workflow.Definition)
	if err := json.Unmarshal(w.Draft, def); err != nil {
		return nil, nil, fmt.Errorf("workflow %s draft: %w", w.ID, err)
	}
	return w, def, nil
}

// saveDraft writes def as w's draft; the list's name, description and category follow it.
func (e *Engine) saveDraft(ctx context.Context, tx bun.Tx, w *db.Workflow, def *workflow.Definition) error {
	doc, err := json.Marshal(def)
	if err != nil {
		return fmt.Errorf("marshal workflow: %w", err)
	}
	w.Name, w.Description, w.Category, w.Draft, w.UpdatedAt = def.Name, def.Description, def.Category, doc, e.now()
	if err := db.UpdateWorkflow(ctx, tx, w); err != nil {
		return workflowNameTaken(err, w.Name)
	}
	return nil
}

// DeleteWorkflow soft-deletes a draft or a deprecated workflow; an active one keeps running
// and must be deprecated first.
func (e *Engine) DeleteWorkflow(ctx context.Context, a Actor, id uuid.UUID) (*db.Workflow, error) {
	var w *db.Workflow
	err := e.inTx(ctx, func(tx bun.Tx) error {
		var err error
		if w, err = db.FindWorkflowForUpdate(ctx, tx, id); err != nil {
			return err
		}
		switch {
		case w.Deleted():
			return Conflict("workflow %s is already deleted", w.Name)
		case w.Status == db.WorkflowActive:
			return Conflict("workflow %s is active; deprecate it before deleting it", w.Name)
		}
		now := e.now()
		w.DeletedAt, w.UpdatedAt = &now, now
		if err := db.UpdateWorkflow(ctx, tx, w); err != nil {
			return err
		}
		if err := db.ClearDraftUndo(ctx, tx, w.ID); err != nil {
			return err
		}
		return e.audit(ctx, tx, a, "workflow", w.ID.String(), "workflow.deleted", map[string]string{"name": w.Name, "status": w.Status}, nil)
	})
	if err != nil {
		return nil, err
	}
	e.refreshSchedule(ctx, id)
	return w, nil
}

// connectorCatalogue lets lint look live connector instances up by id or name; an instance
// is known by its id, however a step names it.
type connectorCatalogue struct {
	e   *Engine
	ctx context.Context
	idb bun.IDB
}

func (c connectorCatalogue) Connector(ref string) (lint.Instance, bool) {
	conn, err := db.FindLiveConnectorByRef(c.ctx, c.idb, ref)
	if err != nil {
		return lint.Instance{}, false
	}
	t := c.e.registry.Type(conn.Type)
	return lint.Instance{ID: conn.ID.String(), Name: conn.Name, Type: t}, t != nil
}

// LintWorkflow lints a definition against the live connectors.
func (e *Engine) LintWorkflow(ctx context.Context, def *workflow.Definition) []lint.Finding {
	return lint.Lint(def, connectorCatalogue{e: e, ctx: ctx, idb: e.db.Bun})
}

// PublishReview is what publishing the open draft would do, for the confirmation an admin
// reads before publishing: the version it makes, the document's own problems and every lint
// finding.
type PublishReview struct {
	*WorkflowDoc
	// Version is the version publishing makes.
	Version int
	// Problems are what Validate finds missing for publishing; Findings are the draft's lint.
	Problems []workflow.FieldError
	Findings []lint.Finding
	// Draft identifies the reviewed draft, for PublishReviewedDraft.
	Draft string
}

// Blocked reports whether publishing would be refused.
func (r *PublishReview) Blocked() bool {
	return len(r.Problems) > 0 || lint.HasErrors(r.Findings)
}

// ErrStaleReview refuses a publish whose draft changed after it was reviewed; it comes with
// a ConflictError that says so.
var ErrStaleReview = errors.New("the draft changed after it was reviewed")

// draftDigest identifies a draft's document as the database holds it.
func draftDigest(draft []byte) string {
	sum := sha256.Sum256(draft)
	return hex.EncodeToString(sum[:16])
}

// ReviewPublish says what publishing a workflow's open draft would do, without doing it.
func (e *Engine) ReviewPublish(ctx context.Context, id uuid.UUID) (*PublishReview, error) {
	doc, err := e.FindWorkflow(ctx, id)
	if err != nil {
		return nil, err
	}
	switch {
	case doc.Deleted():
		return nil, Conflict("workflow %s is deleted", doc.Name)
	case !doc.HasDraft || doc.Definition == nil:
		return nil, Conflict("workflow %s has no open draft to publish", doc.Name)
	}
	problems := doc.Definition.Validate(false)
	findings := e.LintWorkflow(ctx, doc.Definition)
	// Validate refuses a scheduled workflow's required variables (the API's 422 on publish) and
	// lint says the same while the draft is edited: the review names it once, as lint does.
	if slices.ContainsFunc(findings, func(f lint.Finding) bool { return f.Code == lint.CodeScheduledRequiredVariable }) {
		problems = slices.DeleteFunc(problems, func(p workflow.FieldError) bool {
			return strings.HasPrefix(p.Field, "variables[") && strings.HasSuffix(p.Field, "].required")
		})
	}
	return &PublishReview{
		WorkflowDoc: doc, Version: doc.Version + 1, Problems: problems, Findings: findings,
		Draft: draftDigest(doc.Workflow.Draft),
	}, nil
}

// PublishWorkflow turns the open draft into the next immutable version and makes the
// workflow active. It is refused with every finding while lint errors remain.
func (e *Engine) PublishWorkflow(ctx context.Context, a Actor, id uuid.UUID) (*WorkflowDoc, error) {
	return e.publish(ctx, a, id, "")
}

// PublishReviewedDraft publishes as PublishWorkflow does, but only the draft a PublishReview
// identified as draft: one changed since (by another tab, another admin) may hold warnings
// nobody has read, and is refused with ErrStaleReview.
func (e *Engine) PublishReviewedDraft(ctx context.Context, a Actor, id uuid.UUID, draft string) (*WorkflowDoc, error) {
	if draft == "" {
		return nil, Invalid("draft", "is required: review the draft before publishing it")
	}
	return e.publish(ctx, a, id, draft)
}

func (e *Engine) publish(ctx context.Context, a Actor, id uuid.UUID, reviewed string) (*WorkflowDoc, error) {
	var doc *WorkflowDoc
	err := e.inTx(ctx, func(tx bun.Tx) error {
		w, err := db.FindWorkflowForUpdate(ctx, tx, id)
		if err != nil {
			return err
		}
		if w.Deleted() {
			return Conflict("workflow %s is deleted", w.Name)
		}
		if w.Draft == nil {
			return Conflict("workflow %s has no open draft to publish", w.Name)
		}
		if reviewed != "" && draftDigest(w.Draft) != reviewed {
			return fmt.Errorf("%w: %w", Conflict("the draft of %s changed after you reviewed it; review it again before publishing", w.Name), ErrStaleReview)
		}
		def := new(workflow.Definition)
		if err := json.Unmarshal(w.Draft, def); err != nil {
			return fmt.Errorf("workflow %s draft: %w", w.ID, err)
		}
		if problems := def.Validate(false); len(problems) > 0 {
			return fieldErrors(problems)
		}
		findings := lint.Lint(def, connectorCatalogue{e: e, ctx: ctx, idb: tx})
		if lint.HasErrors(findings) {
			return &LintError{Findings: findings}
		}
		now := e.now()
		v := &db.WorkflowVersion{WorkflowID: w.ID, Version: w.Version + 1, Definition: w.Draft, PublishedAt: now, PublishedBy: a.Label}
		if err := db.InsertWorkflowVersion(ctx, tx, v); err != nil {
			return err
		}
		w.Version, w.Status, w.Draft, w.UpdatedAt = v.Version, db.WorkflowActive, nil, now
		if err := db.UpdateWorkflow(ctx, tx, w); err != nil {
			return err
		}
		if err := db.ClearDraftUndo(ctx, tx, w.ID); err != nil {
			return err
		}
		doc = &WorkflowDoc{Workflow: w, Definition: def}
		// Not e.definition: it caches, and this version is not committed yet.
		if err := e.fillSchedule(doc, def); err != nil {
			return err
		}
		return e.audit(ctx, tx, a, "workflow", w.ID.String(), "workflow.published", nil,
			map[string]any{"name": w.Name, "version": v.Version, "findings": findings})
	})
	if err != nil {
		return nil, err
	}
	e.refreshSchedule(ctx, id)
	return doc, nil
}

// DeprecateWorkflow stops new runs of an active workflow; running ones finish.
func (e *Engine) DeprecateWorkflow(ctx context.Context, a Actor, id uuid.UUID) (*WorkflowDoc, error) {
	var w *db.Workflow
	err := e.inTx(ctx, func(tx bun.Tx) error {
		var err error
		if w, err = db.FindWorkflowForUpdate(ctx, tx, id); err != nil {
			return err
		}
		if w.Deleted() || w.Status != db.WorkflowActive {
			return Conflict("only an active workflow can be deprecated; %s is %s", w.Name, w.Status)
		}
		w.Status, w.UpdatedAt = db.WorkflowDeprecated, e.now()
		if err := db.UpdateWorkflow(ctx, tx, w); err != nil {
			return err
		}
		return e.audit(ctx, tx, a, "workflow", w.ID.String(), "workflow.deprecated", nil, map[string]any{"name": w.Name, "version": w.Version})
	})
	if err != nil {
		return nil, err
	}
	e.refreshSchedule(ctx, id)
	return e.workflowDoc(ctx, e.db.Bun, w)
}

// NewDraftFromVersion opens a draft copied from a published version. An open draft is never
// overwritten: it may hold someone's unpublished work.
func (e *Engine) NewDraftFromVersion(ctx context.Context, a Actor, id uuid.UUID, version int) (*WorkflowDoc, error) {
	var doc *WorkflowDoc
	err := e.inTx(ctx, func(tx bun.Tx) error {
		w, err := db.FindWorkflowForUpdate(ctx, tx, id)
		if err != nil {
			return err
		}
		if w.Deleted() {
			return Conflict("workflow %s is deleted", w.Name)
		}
		if w.Draft != nil {
			return Conflict("workflow %s already has an open draft; publish it or edit it instead", w.Name)
		}
		v, err := db.FindWorkflowVersion(ctx, tx, w.ID, version)
		if errors.Is(err, db.ErrNotFound) {
			return Invalid("fromVersion", "workflow %s has no version %d (newest: %d)", w.Name, version, w.Version)
		} else if err != nil {
			return err
		}
		w.Draft, w.UpdatedAt = v.Definition, e.now()
		if err := db.UpdateWorkflow(ctx, tx, w); err != nil {
			return err
		}
		if doc, err = e.workflowDoc(ctx, tx, w); err != nil {
			return err
		}
		return e.audit(ctx, tx, a, "workflow", w.ID.String(), "workflow.draft_created", nil, map[string]any{"fromVersion": version})
	})
	if err != nil {
		return nil, err
	}
	return doc, nil
}

// ListWorkflowVersions lists a workflow's versions, newest first.
func (e *Engine) ListWorkflowVersions(ctx context.Context, id uuid.UUID) ([]db.WorkflowVersion, error) {
	if _, err := db.FindWorkflow(ctx, e.db.Bun, id); err != nil {
		return nil, err
	}
	return db.ListWorkflowVersions(ctx, e.db.Bun, id)
}

// FindWorkflowVersion loads one version with its document.
func (e *Engine) FindWorkflowVersion(ctx context.Context, id uuid.UUID, version int) (*db.WorkflowVersion, error) {
	return db.FindWorkflowVersion(ctx, e.db.Bun, id, version)
}

// definitionAt reads the document a diff names: a version number or "draft".
func (e *Engine) definitionAt(ctx context.Context, w *db.Workflow, field, ref string) (*workflow.Definition, error) {
	var raw []byte
	if ref == "draft" {
		if w.Draft == nil {
			return nil, Invalid(field, "workflow %s has no open draft", w.Name)
		}
		raw = w.Draft
	} else {
		n, err := strconv.Atoi(ref)
		if err != nil || n < 1 {
			return nil, Invalid(field, "must be a version number or \"draft\", not %q", ref)
		}
		v, err := db.FindWorkflowVersion(ctx, e.db.Bun, w.ID, n)
		if errors.Is(err, db.ErrNotFound) {
			return nil, Invalid(field, "workflow %s has no version %d (newest: %d)", w.Name, n, w.Version)
		} else if err != nil {
			return nil, err
		}
		raw = v.Definition
	}
	def := new(workflow.Definition)
	if err := json.Unmarshal(raw, def); err != nil {
		return nil, fmt.Errorf("workflow %s document %s: %w", w.ID, ref, err)
	}
	return def, nil
}

// DiffWorkflow compares two documents of a workflow: version numbers or "draft".
func (e *Engine) DiffWorkflow(ctx context.Context, id uuid.UUID, from, to string) (workflow.DiffResult, error) {
	w, err := db.FindWorkflow(ctx, e.db.Bun, id)
	if err != nil {
		return workflow.DiffResult{}, err
	}
	a, err := e.definitionAt(ctx, w, "from", from)
	if err != nil {
		return workflow.DiffResult{}, err
	}
	b, err := e.definitionAt(ctx, w, "to", to)
	if err != nil {
		return workflow.DiffResult{}, err
	}
	return workflow.Diff(a, b), nil
}
