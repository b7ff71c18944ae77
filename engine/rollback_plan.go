package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"floh/connectors"
	"floh/db"
	"floh/engine/workflow"
)

// Diagnose and rollback plan: what a failed run did and how to undo it, the answer to the
// partial-provisioning runbook. The plan is computed from what the run recorded, never from
// the definition: a step's params are the ones its connector_call timeline entry says were
// sent (secrets masked, which no compensation needs), its outputs the execution's output.

// Plan item kinds.
const (
	PlanConnector = "connector" // a connector command undoes the step
	PlanBuiltin   = "builtin"   // Floh undoes its own step (soft-delete a user, restore a profile)
	PlanManual    = "manual"    // nothing can undo it automatically; an admin must
)

// Built-in compensations. A created user is soft-deleted (so it can be restored, as the
// runbook does it); an updated profile gets its previous values back through a profile_update.
const (
	typeUserDelete = "user_delete"
	systemFloh     = "Floh"
)

// PlanItem is one compensation of a rollback plan.
type PlanItem struct {
	// StepID is the original step this item undoes; in a sub-workflow's run it is
	// "<parent step>/<child step>".
	StepID      string         `json:"stepId"`
	System      string         `json:"system"`
	ConnectorID *uuid.UUID     `json:"connectorId,omitempty"`
	Command     string         `json:"command"`
	Params      map[string]any `json:"params"`
	Kind        string         `json:"kind"`
	Reason      string         `json:"reason"`
	// Mock is set when the original call was answered from mock data: its undo is mocked too.
	Mock bool `json:"mock,omitempty"`
}

// CompletedStep is a step that completed before the run stopped, in execution order.
type CompletedStep struct {
	StepID  string `json:"stepId"`
	System  string `json:"system"`
	Command string `json:"command"`
}

// ErrorEnvelope is a failure as diagnose shows it.
type ErrorEnvelope struct {
	Message string `json:"message"`
	Code    string `json:"code"`
	Class   string `json:"class"`
}

// Diagnosis reads like the runbook: what failed and why, what was already done, what to undo.
// For a run that did not fail, FailedStepID and Error are null and the plan undoes whatever
// completed, so the same page serves a completed run someone wants to take back.
type Diagnosis struct {
	RunID          uuid.UUID       `json:"runId"`
	Status         string          `json:"status"`
	FailedStepID   *string         `json:"failedStepId"`
	Error          *ErrorEnvelope  `json:"error"`
	Variables      json.RawMessage `json:"variables"`
	CompletedSteps []CompletedStep `json:"completedSteps"`
	RollbackPlan   []PlanItem      `json:"rollbackPlan"`
	// CompensatedBy is the rollback run of this run, once there is one.
	CompensatedBy *uuid.UUID `json:"compensatedBy"`
}

// DiagnoseRun explains a run.
func (e *Engine) DiagnoseRun(ctx context.Context, id uuid.UUID) (*Diagnosis, error) {
	run, err := db.FindRun(ctx, e.db.Bun, id)
	if err != nil {
		return nil, err
	}
	done, failed, err := e.completedWork(ctx, e.db.Bun, run, "")
	if err != nil {
		return nil, err
	}
	d := &Diagnosis{RunID: run.ID, Status: run.Status, Variables: run.Variables, CompletedSteps: []CompletedStep{}}
	if run.Status == db.RunFailed {
		raw := run.Error
		if failed != nil {
			d.FailedStepID = &failed.StepID
			if len(failed.Error) > 0 {
				raw = failed.Error
			}
		}
		d.Error = envelope(raw)
	}
	for _, w := range done {
		d.CompletedSteps = append(d.CompletedSteps, CompletedStep{StepID: w.stepID, System: w.system(), Command: w.command()})
	}
	if d.RollbackPlan, err = e.plan(ctx, e.db.Bun, done); err != nil {
		return nil, err
	}
	if d.CompensatedBy, err = db.FindCompensationRun(ctx, e.db.Bun, run.ID); err != nil {
		return nil, err
	}
	return d, nil
}

// RollbackPlan lists what undoes a run's completed steps, in the order to run it.
func (e *Engine) RollbackPlan(ctx context.Context, id uuid.UUID) ([]PlanItem, error) {
	run, err := db.FindRun(ctx, e.db.Bun, id)
	if err != nil {
		return nil, err
	}
	done, _, err := e.completedWork(ctx, e.db.Bun, run, "")
	if err != nil {
		return nil, err
	}
	return e.plan(ctx, e.db.Bun, done)
}

func envelope(raw json.RawMessage) *ErrorEnvelope {
	var env connectors.Error
	if len(raw) == 0 || json.Unmarshal(raw, &env) != nil {
		return nil
	}
	return &ErrorEnvelope{Message: env.Message, Code: env.Code, Class: string(env.Class)}
}

// work is a completed step and what it recorded.
type work struct {
	stepID string
	se     db.StepExecution
	// call is the connector_call record of the attempt that succeeded, for connector steps.
	call *callRecord
}

// callRecord is the timeline data the runner writes for each connector call.
type callRecord struct {
	ConnectorID uuid.UUID      `json:"connectorId"`
	Connector   string         `json:"connector"`
	Command     string         `json:"command"`
	Params      map[string]any `json:"params"`
	Mock        bool           `json:"mock"`
	Error       any            `json:"error"`
}

func (w *work) system() string {
	if w.call != nil {
		return w.call.Connector
	}
	return systemFloh
}

func (w *work) command() string {
	if w.call != nil {
		return w.call.Command
	}
	return w.se.Type
}

// completedWork lists the completed steps of a run in execution order, start and end left
// out, with those of its sub-workflow runs in place of the step that ran them; and the step
// that failed the run, if one did. prefix qualifies a sub-workflow's step ids.
func (e *Engine) completedWork(ctx context.Context, idb bun.IDB, run *db.Run, prefix string) ([]work, *db.StepExecution, error) {
	steps, err := db.ListStepExecutions(ctx, idb, run.ID)
	if err != nil {
		return nil, nil, err
	}
	timeline, err := db.ListTimeline(ctx, idb, run.ID)
	if err != nil {
		return nil, nil, err
	}
	calls := map[uuid.UUID]*callRecord{}
	for _, t := range timeline {
		if t.Kind != "connector_call" || t.StepExecutionID == nil {
			continue
		}
		c := new(callRecord)
		if err := json.Unmarshal(t.Data, c); err != nil {
			return nil, nil, fmt.Errorf("connector call of run %s: %w", run.ID, err)
		}
		if c.Error == nil {
			calls[*t.StepExecutionID] = c
		}
	}
	var (
		done   []work
		failed *db.StepExecution
	)
	for i := range steps {
		se := steps[i]
		if se.Status == db.StepFailed {
			failed = &steps[i]
		}
		if se.ChildRunID != nil && se.Type == workflow.TypeSubWorkflow {
			// A child run's steps are undone whether the child completed or failed midway.
			child, err := db.FindRun(ctx, idb, *se.ChildRunID)
			if err != nil {
				return nil, nil, err
			}
			sub, _, err := e.completedWork(ctx, idb, child, prefix+se.StepID+"/")
			if err != nil {
				return nil, nil, err
			}
			done = append(done, sub...)
			continue
		}
		if se.Status != db.StepCompleted || se.Type == workflow.TypeStart || se.Type == workflow.TypeEnd {
			continue
		}
		done = append(done, work{stepID: prefix + se.StepID, se: se, call: calls[se.ID]})
	}
	return done, failed, nil
}

// planned is a plan item with what the planner needs to drop and order it.
type planned struct {
	PlanItem
	// typ is the connector type; original the command it undoes and its recorded params.
	typ      string
	original *connectors.Command
	params   map[string]any
	// subsumedBy is the compensating command that also undoes this item, from the original
	// command's declaration; absorbs lists the steps whose items this one made unnecessary.
	subsumedBy string
	absorbs    []string
}

// plan turns completed work into the rollback plan: compensations of the mutating steps in
// reverse order, without those another item already undoes, reordered where a command must
// be undone before another system's.
func (e *Engine) plan(ctx context.Context, idb bun.IDB, done []work) ([]PlanItem, error) {
	var items []*planned
	for _, w := range slices.Backward(done) {
		p, err := e.compensate(ctx, idb, &w)
		if err != nil {
			return nil, err
		}
		if p != nil {
			items = append(items, p)
		}
	}
	items = dropSubsumed(items)
	items = orderPrecedes(items)
	out := make([]PlanItem, len(items))
	for i, p := range items {
		out[i] = p.PlanItem
		if len(p.absorbs) > 0 {
			out[i].Reason += "; this also undoes " + strings.Join(p.absorbs, ", ")
		}
	}
	return out, nil
}

// compensate is the plan item that undoes one completed step, or nil when it changed nothing.
func (e *Engine) compensate(ctx context.Context, idb bun.IDB, w *work) (*planned, error) {
	switch w.se.Type {
	case workflow.TypeConnector:
		return e.compensateCall(ctx, idb, w)
	case workflow.TypeUserCreate:
		var out struct {
			ID      string `json:"id"`
			Email   string `json:"email"`
			Created bool   `json:"created"`
		}
		if err := json.Unmarshal(w.se.Output, &out); err != nil {
			return nil, fmt.Errorf("output of step %s: %w", w.stepID, err)
		}
		if !out.Created {
			// The step found a user who existed before the run: not the run's to delete.
			return nil, nil
		}
		return &planned{PlanItem: PlanItem{
			StepID: w.stepID, System: systemFloh, Command: typeUserDelete, Kind: PlanBuiltin,
			Params: map[string]any{"userId": out.ID, "email": out.Email},
			Reason: fmt.Sprintf("Step %s created the Floh user %s: soft-delete it (it can be restored)", w.stepID, out.Email),
		}}, nil
	case workflow.TypeProfileUpdate:
		var out struct {
			UserID   string         `json:"userId"`
			Previous map[string]any `json:"previous"`
		}
		if err := json.Unmarshal(w.se.Output, &out); err != nil {
			return nil, fmt.Errorf("output of step %s: %w", w.stepID, err)
		}
		return &planned{PlanItem: PlanItem{
			StepID: w.stepID, System: systemFloh, Command: workflow.TypeProfileUpdate, Kind: PlanBuiltin,
			Params: map[string]any{"userId": out.UserID, "fields": out.Previous},
			Reason: fmt.Sprintf("Step %s changed the profile fields %s: put back the values they had",
				w.stepID, strings.Join(slices.Sorted(maps.Keys(out.Previous)), ", ")),
		}}, nil
	}
	// Conditions, transforms, delays change nothing outside the run; role_grant needs no undo
	// for a retry (its onDuplicate skip forgives it).
	return nil, nil
}

func (e *Engine) compensateCall(ctx context.Context, idb bun.IDB, w *work) (*planned, error) {
	call := w.call
	if call == nil {
		return manual(w, "", nil, "Floh has no record of the call this step made: check the target by hand"), nil
	}
	c, err := db.FindConnector(ctx, idb, call.ConnectorID)
	if errors.Is(err, db.ErrNotFound) {
		return manual(w, call.Connector, nil, fmt.Sprintf("connector %s no longer exists: undo %s by hand", call.Connector, call.Command)), nil
	}
	if err != nil {
		return nil, err
	}
	if c.Deleted() {
		// Steps call live connectors only: an undo through this one would fail.
		return manual(w, call.Connector, &c.ID, fmt.Sprintf("connector %s was deleted: undo %s by hand, or restore the connector to let Floh undo it", call.Connector, call.Command)), nil
	}
	t := e.registry.Type(c.Type)
	var cmd *connectors.Command
	if t != nil {
		cmd = t.Command(call.Command)
	}
	if cmd == nil {
		return manual(w, call.Connector, &c.ID, fmt.Sprintf("%s is not a command this version of Floh knows: undo it by hand", call.Command)), nil
	}
	if !cmd.IsMutating(call.Params) {
		return nil, nil
	}
	comp := cmd.Compensation
	p := &planned{typ: c.Type, original: cmd, params: call.Params}
	p.PlanItem = PlanItem{StepID: w.stepID, System: call.Connector, ConnectorID: &c.ID, Mock: call.Mock}
	if comp != nil {
		p.subsumedBy = comp.SubsumedBy
	}
	switch {
	case comp == nil:
		p.PlanItem = manual(w, call.Connector, &c.ID, fmt.Sprintf("%s on %s declares no compensation: undo it by hand", cmd.Name, call.Connector)).PlanItem
	case comp.Command == "":
		// Only the subsuming compensation undoes it; if the plan has none, an admin must.
		p.PlanItem = manual(w, call.Connector, &c.ID, fmt.Sprintf("%s on %s is undone only by %s of the same subject, which this run did not make necessary: undo it by hand",
			cmd.Name, call.Connector, comp.SubsumedBy)).PlanItem
	default:
		params, err := renderCompensation(comp, call.Params, w.se.Output)
		if err != nil {
			return nil, fmt.Errorf("compensation of step %s: %w", w.stepID, err)
		}
		var missing []string
		if undo := t.Command(comp.Command); undo != nil {
			for _, f := range undo.Params {
				if _, ok := params[f.Name]; f.Required && !ok {
					missing = append(missing, f.Name)
				}
			}
		}
		if len(missing) > 0 {
			p.PlanItem = manual(w, call.Connector, &c.ID, fmt.Sprintf("%s on %s would be undone by %s, but the run recorded no %s: undo it by hand",
				cmd.Name, call.Connector, comp.Command, strings.Join(missing, ", "))).PlanItem
			break
		}
		p.Command, p.Params, p.Kind = comp.Command, params, PlanConnector
		p.Reason = fmt.Sprintf("Step %s ran %s on %s: %s undoes it", w.stepID, cmd.Name, call.Connector, comp.Command)
	}
	p.Mock = call.Mock
	return p, nil
}

// manual is an item an admin has to do: the original command with its recorded params.
func manual(w *work, system string, connectorID *uuid.UUID, reason string) *planned {
	if system == "" {
		system = w.system()
	}
	params := map[string]any{}
	if w.call != nil && w.call.Params != nil {
		params = w.call.Params
	}
	return &planned{PlanItem: PlanItem{
		StepID: w.stepID, System: system, ConnectorID: connectorID, Command: w.command(), Params: params,
		Kind: PlanManual, Reason: reason,
	}}
}

// renderCompensation fills in a compensation's param templates from the original call's
// params and outputs. A template naming a param the call did not have leaves its param out
// (an optional issuer, say); the caller checks that the required ones are there.
func renderCompensation(comp *connectors.Compensation, params map[string]any, output json.RawMessage) (map[string]any, error) {
	outputs := map[string]any{}
	if len(output) > 0 {
		if err := json.Unmarshal(output, &outputs); err != nil {
			return nil, fmt.Errorf("outputs: %w", err)
		}
	}
	vars := map[string]any{"params": params, "outputs": outputs}
	out := map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(comp.Params)) {
		v, err := workflow.Render(comp.Params[name], vars)
		var mv *workflow.MissingVariableError
		if errors.As(err, &mv) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("param %s: %w", name, err)
		}
		if v == nil || v == "" {
			continue
		}
		out[name] = v
	}
	return out, nil
}

// dropSubsumed removes the items another item of the plan already undoes: an item whose
// command declares subsumedBy S goes when the plan holds a compensation running S on the
// same connector instance for the same subject, that is every param the two share has the
// same value (setPassword username=jdoe is undone by deleteAccount username=jdoe). A manual
// item that is subsumed goes too: its only undo is in the plan.
func dropSubsumed(items []*planned) []*planned {
	var kept []*planned
	for _, p := range items {
		var by *planned
		for _, q := range items {
			if q != p && p.subsumedBy != "" && q.Kind == PlanConnector && q.Command == p.subsumedBy &&
				q.ConnectorID != nil && p.ConnectorID != nil && *q.ConnectorID == *p.ConnectorID && sameSubject(q.Params, p.params) {
				by = q
				break
			}
		}
		if by != nil {
			by.absorbs = append(by.absorbs, fmt.Sprintf("%s (step %s)", p.original.Name, p.StepID))
			continue
		}
		kept = append(kept, p)
	}
	for _, p := range kept {
		slices.Reverse(p.absorbs) // in execution order, as the runbook lists them
	}
	return kept
}

// sameSubject reports whether the compensation's params name the subject the original call
// acted on: they share at least one param, and every shared param has the same value.
func sameSubject(comp, original map[string]any) bool {
	shared := 0
	for k, v := range comp {
		o, ok := original[k]
		if !ok {
			continue
		}
		if fmt.Sprint(o) != fmt.Sprint(v) {
			return false
		}
		shared++
	}
	return shared > 0
}

// orderPrecedes reorders the plan so that an item whose original command's compensation
// declares precedes {type, command} runs before every item running that command on a
// connector of that type (Authifi's unlink before AD's deleteAccount). Otherwise the reverse
// execution order stays: each turn takes the first item nothing left must precede.
func orderPrecedes(items []*planned) []*planned {
	before := func(a, b *planned) bool {
		if a.original == nil || a.original.Compensation == nil || b.Kind != PlanConnector {
			return false
		}
		return slices.Contains(a.original.Compensation.Precedes, connectors.CommandRef{Type: b.typ, Command: b.Command})
	}
	rest := slices.Clone(items)
	out := make([]*planned, 0, len(items))
	for len(rest) > 0 {
		pick := 0 // a cycle of declarations cannot be honoured: keep the reverse order then
		for i, b := range rest {
			if !slices.ContainsFunc(rest, func(a *planned) bool { return a != b && before(a, b) }) {
				pick = i
				break
			}
		}
		out = append(out, rest[pick])
		rest = slices.Delete(rest, pick, pick+1)
	}
	return out
}

// CompensationRunOf returns the rollback run of a run, or nil when it has none.
func (e *Engine) CompensationRunOf(ctx context.Context, id uuid.UUID) (*uuid.UUID, error) {
	return db.FindCompensationRun(ctx, e.db.Bun, id)
}
