package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"floh/connectors"
	"floh/db"
	"floh/engine/workflow"
)

// Rollback execution. A rollback is a run like any other, on the same durable runner: its
// definition is built from the plan (start → one step per item → end) and stored with the
// run, since no published version holds it. It has no error edges, so the first failed undo
// stops it: what is left stays visible, and RetryRun takes it up from there. Manual items
// are not steps; they go on its timeline for the admin.

// RollbackRun starts the rollback run of a finished run and returns it. The two are linked
// both ways: the new run's compensationOf names the original, whose timeline and view name
// the new one.
func (e *Engine) RollbackRun(ctx context.Context, a Actor, id uuid.UUID) (*db.Run, error) {
	var comp *db.Run
	err := e.inTx(ctx, func(tx bun.Tx) error {
		run, err := db.FindRunForUpdate(ctx, tx, id)
		if err != nil {
			return err
		}
		plan, err := e.rollbackable(ctx, tx, run)
		if err != nil {
			return err
		}
		initiator, err := initiatorOf(ctx, tx, a)
		if err != nil {
			return err
		}
		comp, err = e.createRun(ctx, tx, runSpec{
			workflow: &db.Workflow{ID: run.WorkflowID, Version: run.Version}, def: rollbackDefinition(run, plan),
			inputs: map[string]any{}, startedBy: db.RunActor{ID: a.UserID, Label: a.Label}, initiator: initiator,
			compensationOf: &run.ID,
		})
		if err != nil {
			return err
		}
		now := e.now()
		tl := &timeline{run: comp, at: now}
		for _, it := range plan {
			if it.Kind == PlanManual {
				tl.add(nil, "manual_compensation", "Left for an admin: "+it.Reason, it)
			}
		}
		if err := tl.save(ctx, tx); err != nil {
			return err
		}
		otl := &timeline{run: run, at: now}
		otl.add(nil, "rolled_back", fmt.Sprintf("Rollback run %s started by %s", comp.ID, a.Label), map[string]any{"compensationRunId": comp.ID})
		if err := otl.save(ctx, tx); err != nil {
			return err
		}
		return e.audit(ctx, tx, a, "run", run.ID.String(), "run.rolled_back", nil, map[string]any{"compensationRunId": comp.ID, "plan": plan})
	})
	if err != nil {
		return nil, err
	}
	return comp, nil
}

// PreviewRollback is what RollbackRun would undo now: the run and its plan, or the conflict
// that says why it cannot be rolled back. The confirmation page shows it, so it refuses
// exactly what the rollback would.
func (e *Engine) PreviewRollback(ctx context.Context, id uuid.UUID) (*db.Run, []PlanItem, error) {
	run, err := db.FindRun(ctx, e.db.Bun, id)
	if err != nil {
		return nil, nil, err
	}
	plan, err := e.rollbackable(ctx, e.db.Bun, run)
	if err != nil {
		return nil, nil, err
	}
	return run, plan, nil
}

// rollbackable is the plan of a run that can be rolled back, or a conflict saying why it
// cannot: it is still moving, it is a rollback or a sub-workflow itself, it was rolled back
// already, or nothing it did needs undoing.
func (e *Engine) rollbackable(ctx context.Context, idb bun.IDB, run *db.Run) ([]PlanItem, error) {
	switch {
	case !run.Finished():
		return nil, Conflict("the run is %s; only a finished run can be rolled back (cancel it first)", run.Status)
	case run.CompensationOf != nil:
		return nil, Conflict("this run is the rollback of run %s; retry it rather than rolling it back", run.CompensationOf)
	case run.ParentRunID != nil:
		return nil, Conflict("this run is a sub-workflow of run %s; roll that run back, which undoes this one too", run.ParentRunID)
	}
	by, err := db.FindCompensationRun(ctx, idb, run.ID)
	if err != nil {
		return nil, err
	}
	if by != nil {
		return nil, Conflict("the run was already rolled back by run %s", by)
	}
	done, _, err := e.completedWork(ctx, idb, run, "")
	if err != nil {
		return nil, err
	}
	plan, err := e.plan(ctx, idb, done)
	if err != nil {
		return nil, err
	}
	if len(plan) == 0 {
		return nil, Conflict("nothing to roll back: no completed step of the run changed anything")
	}
	return plan, nil
}

// rollbackDefinition chains the plan's automatic items from start to end.
func rollbackDefinition(run *db.Run, plan []PlanItem) *workflow.Definition {
	def := &workflow.Definition{Name: "Rollback of " + run.WorkflowName, ErrorStrategy: workflow.StrategyStop,
		Steps: []workflow.Step{{ID: "start", Name: "Start", Type: workflow.TypeStart}}}
	prev := "start"
	for i, it := range plan {
		st := workflow.Step{ID: fmt.Sprintf("undo-%d", i+1), Name: fmt.Sprintf("Undo %s: %s on %s", it.StepID, it.Command, it.System)}
		// Recorded values are already rendered: escape them so the runner's own rendering
		// passes any "{{" in them through as text.
		params, _ := escapeTemplates(it.Params).(map[string]any)
		switch {
		case it.Kind == PlanConnector:
			// mock is always set, so the undo of a real call is real whatever mock mode says now.
			st.Type, st.Config = workflow.TypeConnector, map[string]any{
				"connectorId": it.ConnectorID.String(), "command": it.Command, "params": params, "mock": it.Mock}
		case it.Kind == PlanBuiltin && it.Command == typeUserDelete:
			st.Type, st.Config = typeUserDelete, map[string]any{"userId": params["userId"]}
		case it.Kind == PlanBuiltin && it.Command == workflow.TypeProfileUpdate:
			st.Type, st.Config = workflow.TypeProfileUpdate, map[string]any{"userId": params["userId"], "fields": params["fields"]}
		default:
			continue
		}
		def.Steps = append(def.Steps, st)
		def.Edges = append(def.Edges, workflow.Edge{From: prev, To: st.ID, On: workflow.OnSuccess})
		prev = st.ID
	}
	def.Steps = append(def.Steps, workflow.Step{ID: "end", Name: "End", Type: workflow.TypeEnd})
	def.Edges = append(def.Edges, workflow.Edge{From: prev, To: "end", On: workflow.OnSuccess})
	return def
}

// escapeTemplates makes every "{{" in v's strings literal for workflow.Render.
func escapeTemplates(v any) any {
	switch x := v.(type) {
	case string:
		return strings.ReplaceAll(x, "{{", `\{{`)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[k] = escapeTemplates(val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = escapeTemplates(val)
		}
		return out
	}
	return v
}

// runDefinition is the definition a run executes: its own for a rollback run, else its
// pinned workflow version.
func (e *Engine) runDefinition(ctx context.Context, idb bun.IDB, run *db.Run) (*workflow.Definition, error) {
	if len(run.Definition) == 0 {
		return e.definition(ctx, idb, run.WorkflowID, run.Version)
	}
	def := new(workflow.Definition)
	if err := json.Unmarshal(run.Definition, def); err != nil {
		return nil, fmt.Errorf("definition of run %s: %w", run.ID, err)
	}
	return def, nil
}

// runUserDelete soft-deletes the user a rolled-back run created. A user already deleted
// counts as done, so a retried rollback gets past it.
func (e *Engine) runUserDelete(ctx context.Context, a Actor, at *attempt) (outcome, error) {
	step := at.config
	s, _ := step.Config["userId"].(string)
	id, err := uuid.Parse(s)
	if err != nil {
		return invalidStep(codeInvalidConfig, "step %s: userId %q is not a user id", step.ID, s), nil
	}
	u, err := db.FindUser(ctx, e.db.Bun, id)
	if fail := userFailure(step, err); fail != nil {
		return *fail, nil
	}
	if err != nil {
		return outcome{}, err
	}
	out := map[string]any{"userId": id.String(), "email": u.Email}
	if u.Deleted() {
		out["alreadyDeleted"] = true
		return success(out), nil
	}
	_, err = e.DeleteUser(ctx, a, id)
	if fail := userFailure(step, err); fail != nil {
		return *fail, nil
	}
	if err != nil {
		return outcome{}, err
	}
	return success(out), nil
}

// reportCompensationFailure pages on-call, as the runbook's escalation does by hand: an undo
// the target failed with a server error opens a critical incident on the original run,
// carrying both run ids and the sanitised call and answer. Any other failure is the admin's
// to read on the rollback run. A failure to report is logged, not returned: returning would
// make River work the job again and repeat a call that has already been made.
func (e *Engine) reportCompensationFailure(ctx context.Context, at *attempt, out outcome) {
	if out.err == nil || out.err.Class != connectors.TargetError {
		return
	}
	original := *at.run.CompensationOf
	_, err := e.ReportFailure(ctx, Failure{
		Kind: "compensation", Severity: "critical",
		Subject: db.Subject{Kind: "run", ID: original.String(), Name: at.run.WorkflowName},
		Title:   fmt.Sprintf("Rollback of run %s failed", original),
		Message: fmt.Sprintf("Step %s of rollback run %s failed: %s", at.se.Name, at.run.ID, out.err.Message),
		Data:    map[string]any{"runId": original, "rollbackRunId": at.run.ID, "stepId": at.se.StepID, "call": out.call},
		Link:    "/runs/" + at.run.ID.String(),
	})
	if err != nil {
		e.log.Error("report a failed compensation", "run", at.run.ID, "error", err)
	}
}
