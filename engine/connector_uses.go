package engine

import (
	"context"
	"errors"
	"strings"

	"github.com/google/uuid"

	"floh/db"
)

// ConnectorUse is a live workflow whose open draft or newest published version has steps
// that use a connector instance: connector steps that call it and notification steps that
// send email through it.
type ConnectorUse struct {
	WorkflowID uuid.UUID
	Name       string
	Status     string
	// Version is the workflow's newest published version (0 before the first); Published are
	// its steps that use the connector, Draft those of the open draft.
	Version   int
	Published []StepUse
	Draft     []StepUse
}

// StepUse is one step that names the connector.
type StepUse struct {
	ID, Name, Type string
	// Command is the connector command a connector step calls; "" for a notification.
	Command string
	// ByName is set when the step names the connector by its name rather than its id:
	// renaming the connector breaks such a step.
	ByName bool
}

// ConnectorUses lists the live workflows whose open draft or newest published version has
// steps naming c in their connectorId, resolved as a run resolves it
// (db.FindLiveConnectorByRef): a reference that reads as a UUID names the connector with
// that id, in any spelling uuid.Parse accepts; any other names the live connector with that
// name, case-insensitively. So a name that reads as a UUID is never matched, and a deleted
// connector's name counts only while no live connector has taken it.
func (e *Engine) ConnectorUses(ctx context.Context, c *db.Connector) ([]ConnectorUse, error) {
	id := c.ID.String()
	refs := db.ConnectorRefs{IDs: []string{id, "{" + id + "}", "urn:uuid:" + id, strings.ReplaceAll(id, "-", "")}}
	if _, err := uuid.Parse(c.Name); err != nil {
		holder, err := db.FindLiveConnectorByRef(ctx, e.db.Bun, c.Name)
		switch {
		case err == nil && holder.ID == c.ID, errors.Is(err, db.ErrNotFound):
			refs.Name = c.Name
		case err != nil:
			return nil, err
		}
	}
	steps, err := db.ListConnectorSteps(ctx, e.db.Bun, refs)
	if err != nil {
		return nil, err
	}
	var out []ConnectorUse
	for _, s := range steps {
		if len(out) == 0 || out[len(out)-1].WorkflowID != s.WorkflowID {
			out = append(out, ConnectorUse{WorkflowID: s.WorkflowID, Name: s.WorkflowName, Status: s.Status, Version: s.Version})
		}
		u := &out[len(out)-1]
		_, notID := uuid.Parse(s.Ref)
		step := StepUse{ID: s.StepID, Name: s.StepName, Type: s.StepType, Command: s.Command, ByName: notID != nil}
		if s.InDraft {
			u.Draft = append(u.Draft, step)
		} else {
			u.Published = append(u.Published, step)
		}
	}
	return out, nil
}
