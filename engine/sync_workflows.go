package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"floh/db"
	"floh/engine/sync"
)

// syncActor starts post-sync workflow runs and scheduled syncs.
var syncActor = Actor{Label: "sync"}

// startPostSync starts the configured post-sync workflow inside the apply transaction, so a
// run that rolls back starts nothing: one run per added or updated record (per_record), or
// one with the run's stats (summary). Each run gets the variables of PRODUCT §3 that its
// workflow declares. More per-record runs than maxWorkflowRunsPerSync hold the sync for an
// admin, like the deletion guard. A workflow that cannot start (deprecated since, or with a
// required variable the sync does not give) does not fail the sync: stats say why.
func (e *Engine) startPostSync(ctx context.Context, tx bun.Tx, c *db.Connector, run *db.SyncRun, cfg *sync.Config, stats *sync.Stats) (*sync.Hold, error) {
	n := 1
	if cfg.TriggerMode == sync.TriggerPerRecord {
		var err error
		if n, err = db.CountChangedRecords(ctx, tx); err != nil {
			return nil, err
		}
		if n > cfg.MaxWorkflowRunsPerSync && run.AllowedAt == nil {
			return &sync.Hold{
				Reason: "workflow_cap", WorkflowRuns: n, Cap: cfg.MaxWorkflowRunsPerSync,
				Message: fmt.Sprintf("This run would start %d post-sync workflow runs, more than maxWorkflowRunsPerSync (%d). Nothing was changed: allow the run to start them all, or cancel it.",
					n, cfg.MaxWorkflowRunsPerSync),
			}, nil
		}
		if n == 0 {
			return nil, nil
		}
	}
	wid, err := uuid.Parse(cfg.PostSyncWorkflowID)
	if err != nil {
		stats.WorkflowError = fmt.Sprintf("postSyncWorkflowId %q is not a workflow id", cfg.PostSyncWorkflowID)
		return nil, nil
	}
	w, err := db.FindWorkflow(ctx, tx, wid)
	if errors.Is(err, db.ErrNotFound) {
		stats.WorkflowError = "the post-sync workflow no longer exists"
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if err := startable(w); err != nil {
		stats.WorkflowError = err.Error()
		return nil, nil
	}
	def, err := e.definition(ctx, tx, w.ID, w.Version)
	if err != nil {
		return nil, err
	}
	initiator, err := initiatorOf(ctx, tx, syncActor)
	if err != nil {
		return nil, err
	}
	base := map[string]any{
		"connectorId": c.ID.String(), "resourceType": run.ResourceType, "workflowId": w.ID.String(), "triggerMode": cfg.TriggerMode,
	}
	start := func(extra string, value any) error {
		all := map[string]any{extra: value}
		for k, v := range base {
			all[k] = v
		}
		vars := map[string]any{}
		for _, d := range def.Variables {
			if v, ok := all[d.Name]; ok {
				vars[d.Name] = v
			}
		}
		inputs, err := checkInputs(ctx, tx, def, vars)
		var invalid *ValidationError
		if errors.As(err, &invalid) {
			stats.WorkflowError = fmt.Sprintf("workflow %s cannot start from a sync: %v", w.Name, err)
			return errStopWorkflows
		} else if err != nil {
			return err
		}
		if _, err := e.createRun(ctx, tx, runSpec{
			workflow: w, def: def, inputs: inputs, startedBy: db.RunActor{Label: syncActor.Label}, initiator: initiator,
		}); err != nil {
			return err
		}
		stats.WorkflowRuns++
		return nil
	}
	if cfg.TriggerMode == sync.TriggerSummary {
		return nil, ignoreStop(start("stats", statsVariable(stats)))
	}
	var after int64
	for {
		recs, last, err := db.ListChangedRecords(ctx, tx, after, 500)
		if err != nil || len(recs) == 0 {
			return nil, err
		}
		for _, r := range recs {
			if err := start("records", []any{recordVariable(r)}); err != nil {
				return nil, ignoreStop(err)
			}
		}
		after = last
	}
}

var errStopWorkflows = errors.New("post-sync workflow cannot start")

func ignoreStop(err error) error {
	if errors.Is(err, errStopWorkflows) {
		return nil
	}
	return err
}

func recordVariable(r db.ReportedRecord) map[string]any {
	attrs := map[string]any{}
	_ = json.Unmarshal(r.Attributes, &attrs)
	out := map[string]any{
		"change": r.Kind, "externalId": r.ExternalID, "username": r.Username, "email": r.Email,
		"displayName": r.DisplayName, "attributes": attrs,
	}
	if r.UserID != nil {
		out["userId"] = r.UserID.String()
	}
	return out
}

func statsVariable(s *sync.Stats) map[string]any {
	out := map[string]any{}
	_ = json.Unmarshal(mustJSON(s), &out)
	return out
}
