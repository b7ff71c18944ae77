package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"floh/db"
	"floh/engine/lint"
	"floh/engine/templates"
	"floh/engine/workflow"
)

// TemplateInsertion is a workflow after a template was inserted into its draft: the document
// as GET /api/workflows/{id} shows it, the lint of the new draft, the names insertion changed,
// and where the fragment went.
type TemplateInsertion struct {
	*WorkflowDoc
	Findings  []lint.Finding     `json:"findings"`
	Renamed   []templates.Rename `json:"renamed"`
	Insertion Insertion          `json:"insertion"`
}

// Insertion says what an insertion added and whether it is connected to the graph.
type Insertion struct {
	TemplateID string `json:"templateId"`
	// Steps are the inserted steps' ids, Entry the one the fragment starts at.
	Steps []string `json:"steps"`
	Entry string   `json:"entry"`
	// Connected is true when the start now leads to Entry and the fragment's exits to an end
	// step; otherwise the fragment stands beside the graph and Unconnected are its exits.
	Connected      bool                `json:"connected"`
	Unconnected    []templates.Exit    `json:"unconnected"`
	AddedVariables []workflow.Variable `json:"addedVariables"`
}

// InsertTemplate merges a template into a workflow's open draft with its slots bound
// (templates.Insert has the rules), as one designer edit: saved, audited and undoable like
// any other. It answers the workflow with the lint of its new draft. An unknown template or
// workflow is not found; a workflow without an open draft is a conflict, as for PUT; a bad
// binding is a validation error naming bindings.<slot>.
func (e *Engine) InsertTemplate(ctx context.Context, a Actor, id uuid.UUID, templateID string, bindings map[string]string) (*TemplateInsertion, error) {
	if strings.TrimSpace(templateID) == "" {
		return nil, Invalid("templateId", "is required: the id of a workflow template (GET /api/workflow-templates lists them)")
	}
	tpl, ok := templates.Find(templateID)
	if !ok {
		return nil, fmt.Errorf("workflow template %q: %w", templateID, db.ErrNotFound)
	}
	// Connectors are looked up outside the edit's transaction, as lint looks them up: a
	// connector deleted in between is caught by lint and by the run.
	cat := &instanceCatalogue{ctx: ctx, idb: e.db.Bun}
	var res templates.Result
	doc, err := e.EditDraft(ctx, a, id, "Insert the template "+tpl.Name, func(d *workflow.Definition) error {
		var err error
		res, err = templates.Insert(d, tpl, bindings, cat)
		if cat.err != nil {
			return cat.err
		}
		var fes workflow.ValidationErrors
		if errors.As(err, &fes) {
			return fieldErrors(fes)
		} else if err != nil {
			return err
		}
		// Through the parser too, for the size limits every saved document keeps.
		raw, err := json.Marshal(res.Definition)
		if err != nil {
			return fmt.Errorf("marshal workflow: %w", err)
		}
		merged, err := parseDefinition(raw)
		if err != nil {
			return err
		}
		*d = *merged
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &TemplateInsertion{
		WorkflowDoc: doc,
		Findings:    e.LintWorkflow(ctx, doc.Definition),
		Renamed:     nonNilSlice(res.Renamed),
		Insertion: Insertion{
			TemplateID: tpl.ID, Steps: res.Steps, Entry: res.Entry, Connected: res.Connected,
			Unconnected: nonNilSlice(res.Unconnected), AddedVariables: nonNilSlice(res.AddedVariables),
		},
	}, nil
}

// nonNilSlice makes an empty list [] rather than null in JSON.
func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// instanceCatalogue resolves a template's connector bindings to live instances, by id or
// name as a step's connectorId is resolved. A database error is kept for the caller: the
// catalogue's answer can only say found or not.
type instanceCatalogue struct {
	ctx context.Context
	idb bun.IDB
	err error
}

func (c *instanceCatalogue) Instance(ref string) (templates.Instance, bool) {
	conn, err := db.FindLiveConnectorByRef(c.ctx, c.idb, ref)
	if err != nil {
		if !errors.Is(err, db.ErrNotFound) && c.err == nil {
			c.err = err
		}
		return templates.Instance{}, false
	}
	return templates.Instance{ID: conn.ID.String(), Name: conn.Name, Type: conn.Type}, true
}
