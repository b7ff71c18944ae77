package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"floh/db"
	"floh/engine/workflow"
)

// Workflow documents as files: any version or the open draft goes out as its definition
// document, and a document comes in as a new workflow or as a workflow's draft. An imported
// document is checked exactly as one typed into the JSON editor or sent to the API, and is
// audited like any other draft change.

// WorkflowDocument reads one document of a workflow: ref is a version number, or "draft" for
// the open draft. A ref that is neither is a validation error on "version"; a version or a
// draft that does not exist is db.ErrNotFound.
func (e *Engine) WorkflowDocument(ctx context.Context, id uuid.UUID, ref string) (*db.Workflow, *workflow.Definition, error) {
	w, err := db.FindWorkflow(ctx, e.db.Bun, id)
	if err != nil {
		return nil, nil, err
	}
	var raw []byte
	switch ref {
	case "":
		return nil, nil, Invalid("version", "is required: a version number, or \"draft\" for the open draft")
	case "draft":
		if w.Draft == nil {
			return nil, nil, fmt.Errorf("workflow %s has no open draft: %w", w.ID, db.ErrNotFound)
		}
		raw = w.Draft
	default:
		n, err := strconv.Atoi(ref)
		if err != nil || n < 1 {
			return nil, nil, Invalid("version", "must be a version number, or \"draft\" for the open draft, not %q", ref)
		}
		v, err := db.FindWorkflowVersion(ctx, e.db.Bun, w.ID, n)
		if err != nil {
			return nil, nil, err
		}
		raw = v.Definition
	}
	def := new(workflow.Definition)
	if err := json.Unmarshal(raw, def); err != nil {
		return nil, nil, fmt.Errorf("workflow %s document %s: %w", w.ID, ref, err)
	}
	return w, def, nil
}

// importDefinition reads an imported document as a draft. A non-empty name replaces the
// document's own, so a file can come in beside the workflow it was exported from, whose name
// is taken.
func importDefinition(raw []byte, name string) (*workflow.Definition, error) {
	def, err := parseShape(raw)
	if err != nil {
		return nil, err
	}
	if name = strings.TrimSpace(name); name != "" {
		def.Name = name
	}
	if err := checkDraft(def); err != nil {
		return nil, err
	}
	return def, nil
}

// ImportWorkflow creates a workflow whose draft is an imported document; name, when not
// empty, replaces the document's name.
func (e *Engine) ImportWorkflow(ctx context.Context, a Actor, raw []byte, name string) (*WorkflowDoc, error) {
	def, err := importDefinition(raw, name)
	if err != nil {
		return nil, err
	}
	return e.insertWorkflow(ctx, a, def, func(tx bun.Tx, w *db.Workflow) error {
		return e.audit(ctx, tx, a, "workflow", w.ID.String(), "workflow.imported", nil, def)
	})
}

// ImportDraft makes an imported document the open draft of a workflow, opening one on a
// published workflow. An open draft may hold someone's unpublished work, so it is replaced
// only when replace is set, and stays recoverable: the import is one designer edit, named
// after source (the file), that undo takes back, and the audit entry keeps the replaced draft
// as its before. A refusal names every problem at once: the document's and the missing
// confirmation.
func (e *Engine) ImportDraft(ctx context.Context, a Actor, id uuid.UUID, raw []byte, source, name string, replace bool) (*WorkflowDoc, error) {
	def, parseErr := importDefinition(raw, name)
	var docProblems *ValidationError
	if parseErr != nil && !errors.As(parseErr, &docProblems) {
		return nil, parseErr
	}
	var w *db.Workflow
	err := e.inTx(ctx, func(tx bun.Tx) error {
		var err error
		if w, err = db.FindWorkflowForUpdate(ctx, tx, id); err != nil {
			return err
		}
		if w.Deleted() {
			return Conflict("workflow %s is deleted", w.Name)
		}
		problems := &ValidationError{}
		if w.Draft != nil && !replace {
			problems.Add("replace", "workflow %s has an open draft, which the import replaces: confirm that it may", w.Name)
		}
		if docProblems != nil {
			problems.Fields = append(problems.Fields, docProblems.Fields...)
		}
		if err := problems.Err(); err != nil {
			return err
		}
		var before any
		replaced := w.Draft
		if replaced != nil {
			before = json.RawMessage(replaced)
		}
		if err := e.saveDraft(ctx, tx, w, def); err != nil {
			return err
		}
		if replaced != nil {
			u := &db.DraftUndo{WorkflowID: w.ID, Draft: replaced, Edit: "Import " + source, CreatedAt: w.UpdatedAt}
			if err := db.PushDraftUndo(ctx, tx, u, undoDepth); err != nil {
				return err
			}
		}
		return e.audit(ctx, tx, a, "workflow", w.ID.String(), "workflow.draft_imported", before, def)
	})
	if err != nil {
		return nil, err
	}
	return &WorkflowDoc{Workflow: w, HasDraft: true, Definition: def}, nil
}
