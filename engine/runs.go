package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"floh/connectors"
	"floh/db"
	"floh/engine/workflow"
)

// Runs: starting, reading and steering them. runs_exec.go executes their steps; RUNS.md
// draws the statuses and transitions both files implement.

// DefaultStuckRunTimeout is how long a pending or running run may go without progress before
// it fails (STUCK_RUN_TIMEOUT_MINUTES).
const DefaultStuckRunTimeout = 30 * time.Minute

// Built-in variables: every run has them, inputs and edits cannot set them, and a template or
// expression naming them never fails with UNDEFINED_VARIABLE. initiator and run are stored
// with the run's variables; now is the engine's clock at each evaluation.
const (
	varInitiator = "initiator"
	varRun       = "run"
	varNow       = "now"
)

func isBuiltinVariable(name string) bool {
	return name == varInitiator || name == varRun || name == varNow
}

// StartInput starts a run: the workflow's input variables, and whether every connector step
// answers from mock data.
type StartInput struct {
	Variables map[string]any `json:"variables"`
	UseMocks  bool           `json:"useMocks"`
}

// StartWorkflow starts a run of the workflow's active version. The run row and the job of its
// first step are committed together before it returns, so the returned id can be read at once
// and the run cannot be lost.
func (e *Engine) StartWorkflow(ctx context.Context, a Actor, workflowID uuid.UUID, in StartInput) (*db.Run, error) {
	var run *db.Run
	err := e.inTx(ctx, func(tx bun.Tx) error {
		w, err := db.FindWorkflow(ctx, tx, workflowID)
		if err != nil {
			return err
		}
		if err := startable(w); err != nil {
			return err
		}
		def, err := e.definition(ctx, tx, w.ID, w.Version)
		if err != nil {
			return err
		}
		vars, err := checkInputs(ctx, tx, def, in.Variables)
		if err != nil {
			return err
		}
		initiator, err := initiatorOf(ctx, tx, a)
		if err != nil {
			return err
		}
		run, err = e.createRun(ctx, tx, runSpec{
			workflow: w, def: def, inputs: vars, useMocks: in.UseMocks,
			startedBy: db.RunActor{ID: a.UserID, Label: a.Label}, initiator: initiator,
		})
		if err != nil {
			return err
		}
		return e.audit(ctx, tx, a, "run", run.ID.String(), "run.started", nil, map[string]any{
			"workflowId": w.ID, "version": w.Version, "workflowName": def.Name, "useMocks": in.UseMocks,
		})
	})
	if err != nil {
		return nil, err
	}
	return run, nil
}

// startable refuses workflows that take no new runs.
func startable(w *db.Workflow) error {
	switch {
	case w.Deleted():
		return Conflict("workflow %s is deleted; it cannot start runs", w.Name)
	case w.Status == db.WorkflowDeprecated:
		return Conflict("workflow %s is deprecated; it starts no new runs", w.Name)
	case w.Status != db.WorkflowActive || w.Version == 0:
		return Conflict("workflow %s is a draft; publish it before starting it", w.Name)
	}
	return nil
}

type versionKey struct {
	workflowID uuid.UUID
	version    int
}

// definition returns a published version's document. Versions are immutable, so each is
// parsed once per process; callers must not change what they get.
func (e *Engine) definition(ctx context.Context, idb bun.IDB, workflowID uuid.UUID, version int) (*workflow.Definition, error) {
	key := versionKey{workflowID, version}
	if d, ok := e.definitions.Load(key); ok {
		return d.(*workflow.Definition), nil
	}
	v, err := db.FindWorkflowVersion(ctx, idb, workflowID, version)
	if err != nil {
		return nil, err
	}
	def := new(workflow.Definition)
	if err := json.Unmarshal(v.Definition, def); err != nil {
		return nil, fmt.Errorf("version %d of workflow %s: %w", version, workflowID, err)
	}
	e.definitions.Store(key, def)
	return def, nil
}

// checkInputs validates a run's input variables against the definition: every name must be
// declared, required ones present, and each value of its declared type. An optional variable
// left out is null, so templates and expressions can use it (lint counts it as defined).
func checkInputs(ctx context.Context, idb bun.IDB, def *workflow.Definition, in map[string]any) (map[string]any, error) {
	v := &ValidationError{}
	out := map[string]any{}
	declared := make([]string, len(def.Variables))
	for i, d := range def.Variables {
		declared[i] = d.Name
	}
	for _, name := range slices.Sorted(maps.Keys(in)) {
		switch {
		case isBuiltinVariable(name):
			v.Add("variables."+name, "is set by Floh for every run and cannot be given")
		case !slices.Contains(declared, name):
			if len(declared) == 0 {
				v.Add("variables."+name, "is not a variable of this workflow, which takes none")
			} else {
				v.Add("variables."+name, "is not a variable of this workflow; it takes %s", strings.Join(declared, ", "))
			}
		}
	}
	for _, d := range def.Variables {
		val, ok := in[d.Name]
		if !ok || val == nil {
			if d.Required {
				v.Add("variables."+d.Name, "is required")
			}
			out[d.Name] = nil
			continue
		}
		if err := checkType(ctx, idb, v, "variables."+d.Name, d.Type, val); err != nil {
			return nil, err
		}
		out[d.Name] = val
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return normalizeJSON(out)
}

// checkType adds a problem to v when val is not of the variable type typ. It returns an error
// only when it could not tell.
func checkType(ctx context.Context, idb bun.IDB, v *ValidationError, field, typ string, val any) error {
	switch typ {
	case "string":
		if _, ok := val.(string); !ok {
			v.Add(field, "must be text, not %s", describeJSON(val))
		}
	case "number":
		switch val.(type) {
		case float64, float32, int, int32, int64, json.Number:
		default:
			v.Add(field, "must be a number, not %s", describeJSON(val))
		}
	case "boolean":
		if _, ok := val.(bool); !ok {
			v.Add(field, "must be true or false, not %s", describeJSON(val))
		}
	case "object":
		if _, ok := val.(map[string]any); !ok {
			v.Add(field, "must be an object, not %s", describeJSON(val))
		}
	case "list":
		if _, ok := val.([]any); !ok {
			v.Add(field, "must be a list, not %s", describeJSON(val))
		}
	case "user":
		s, _ := val.(string)
		id, err := uuid.Parse(s)
		if err != nil {
			v.Add(field, "must be the id of a user, not %s", describeJSON(val))
			return nil
		}
		u, err := db.FindUser(ctx, idb, id)
		switch {
		case errors.Is(err, db.ErrNotFound):
			v.Add(field, "no user has the id %s", id)
		case err != nil:
			return err
		case u.Deleted():
			v.Add(field, "user %s is deleted", u.Email)
		}
	default:
		v.Add(field, "has the unknown type %q in the workflow definition", typ)
	}
	return nil
}

func describeJSON(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("the text %q", x)
	case bool:
		return fmt.Sprintf("%t", x)
	case float64, float32, int, int32, int64, json.Number:
		return fmt.Sprintf("the number %v", x)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", v)
}

// normalizeJSON round-trips variables through JSON so that values given from Go (ints,
// typed slices) look exactly as they will when read back from the database.
func normalizeJSON(vars map[string]any) (map[string]any, error) {
	b, err := json.Marshal(vars)
	if err != nil {
		return nil, fmt.Errorf("encode variables: %w", err)
	}
	out := map[string]any{}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decode variables: %w", err)
	}
	return out, nil
}

// initiatorOf is the initiator variable: who started the run.
func initiatorOf(ctx context.Context, idb bun.IDB, a Actor) (map[string]any, error) {
	init := map[string]any{"id": "", "email": "", "displayName": a.Label}
	if a.UserID == nil {
		return init, nil
	}
	u, err := db.FindUser(ctx, idb, *a.UserID)
	if err != nil {
		return nil, err
	}
	init["id"], init["email"], init["displayName"] = u.ID.String(), u.Email, u.DisplayName
	return init, nil
}

// runSpec is what a new run is made of, from a start request or a sub_workflow step.
type runSpec struct {
	workflow  *db.Workflow
	def       *workflow.Definition
	inputs    map[string]any
	useMocks  bool
	startedBy db.RunActor
	initiator map[string]any
	// parent is the sub_workflow step execution this run reports back to.
	parent *db.StepExecution
	// compensationOf is the run a rollback run undoes; def is then stored with the run, as no
	// published version holds it.
	compensationOf *uuid.UUID
	// tick is the tick of the workflow's schedule that starts the run.
	tick *time.Time
}

// createRun stores a pending run and its start step with the step's job, in tx.
func (e *Engine) createRun(ctx context.Context, tx bun.Tx, s runSpec) (*db.Run, error) {
	start := startStep(s.def)
	if start == nil {
		return nil, Conflict("version %d of workflow %s has no start step", s.workflow.Version, s.workflow.Name)
	}
	now := e.now()
	run := &db.Run{
		ID: uuid.New(), WorkflowID: s.workflow.ID, Version: s.workflow.Version, WorkflowName: s.def.Name,
		Status: db.RunPending, UseMocks: s.useMocks, StartedBy: s.startedBy, StartedAt: now, UpdatedAt: now,
		ScheduledFor: s.tick,
	}
	if s.parent != nil {
		run.ParentRunID, run.ParentStepExecutionID = &s.parent.RunID, &s.parent.ID
	}
	if s.compensationOf != nil {
		run.CompensationOf, run.Definition = s.compensationOf, mustJSON(s.def)
	}
	vars := maps.Clone(s.inputs)
	vars[varInitiator] = s.initiator
	url := strings.TrimRight(e.baseURL, "/") + "/runs/" + run.ID.String()
	vars[varRun] = map[string]any{"id": run.ID.String(), "url": url, "diagnoseUrl": url + "#diagnose", "workflowName": s.def.Name}
	if err := setVariables(run, vars); err != nil {
		return nil, err
	}
	if sv := s.def.SubjectVariable; sv != "" {
		if val, ok := s.inputs[sv]; ok {
			setSubject(run, variableType(s.def, sv), val)
		}
	}
	if err := db.InsertRun(ctx, tx, run); err != nil {
		return nil, err
	}
	tl := &timeline{run: run, at: now}
	msg := fmt.Sprintf("Run of %s (version %d) started by %s", s.def.Name, run.Version, s.startedBy.Label)
	switch {
	case s.parent != nil:
		msg = fmt.Sprintf("Run of %s (version %d) started by step %s of run %s", s.def.Name, run.Version, s.parent.StepID, s.parent.RunID)
	case s.tick != nil:
		msg = fmt.Sprintf("Run of %s (version %d) started by schedule %s at %s", s.def.Name, run.Version, s.def.Schedule(), s.tick.Format("2006-01-02 15:04 UTC"))
	}
	tl.add(nil, "run_started", msg, map[string]any{"useMocks": s.useMocks})
	if _, err := e.scheduleStep(ctx, tx, run, start, tl); err != nil {
		return nil, err
	}
	return run, tl.save(ctx, tx)
}

func startStep(def *workflow.Definition) *workflow.Step {
	for i := range def.Steps {
		if def.Steps[i].Type == workflow.TypeStart {
			return &def.Steps[i]
		}
	}
	return nil
}

func variableType(def *workflow.Definition, name string) string {
	for _, v := range def.Variables {
		if v.Name == name {
			return v.Type
		}
	}
	return ""
}

// setSubject records what the run is about. A user variable makes the subject a user; other
// scalar types keep their type name.
func setSubject(run *db.Run, typ string, val any) {
	var id string
	switch x := val.(type) {
	case string:
		id = x
	case float64, bool:
		id = fmt.Sprint(x)
	default:
		return
	}
	if typ == "" {
		typ = "string"
	}
	run.SubjectType, run.SubjectID = &typ, &id
}

func runVariables(run *db.Run) (map[string]any, error) {
	vars := map[string]any{}
	if err := json.Unmarshal(run.Variables, &vars); err != nil {
		return nil, fmt.Errorf("variables of run %s: %w", run.ID, err)
	}
	return vars, nil
}

func setVariables(run *db.Run, vars map[string]any) error {
	b, err := json.Marshal(vars)
	if err != nil {
		return fmt.Errorf("encode variables of run %s: %w", run.ID, err)
	}
	run.Variables = b
	return nil
}

// scheduleStep adds the run's next step execution and the job of its first attempt, in tx.
func (e *Engine) scheduleStep(ctx context.Context, tx bun.Tx, run *db.Run, step *workflow.Step, tl *timeline) (*db.StepExecution, error) {
	name := step.Name
	if name == "" {
		name = step.ID
	}
	se := &db.StepExecution{ID: uuid.New(), RunID: run.ID, StepID: step.ID, Name: name, Type: step.Type, Status: db.StepPending}
	if err := db.InsertNextStepExecution(ctx, tx, se); err != nil {
		return nil, err
	}
	if err := e.queueStepJob(ctx, tx, runStepArgs{RunID: run.ID, StepExecutionID: se.ID, Attempt: 1}, time.Time{}); err != nil {
		return nil, err
	}
	tl.add(se, "step_queued", fmt.Sprintf("Step %s queued", name), nil)
	return se, nil
}

// queueStepJob inserts a step job in tx; a zero at means now.
func (e *Engine) queueStepJob(ctx context.Context, tx bun.Tx, args runStepArgs, at time.Time) error {
	if _, err := e.jobs.InsertTx(ctx, tx.Tx, args, &river.InsertOpts{ScheduledAt: at}); err != nil {
		return fmt.Errorf("queue step job: %w", err)
	}
	return nil
}

// timeline collects a transaction's timeline entries and writes them in one insert.
type timeline struct {
	run     *db.Run
	at      time.Time
	entries []db.TimelineEntry
	// log is a connector call's execution log entry, written with the run's update.
	log *db.Execution
}

func (t *timeline) add(se *db.StepExecution, kind, message string, data any) {
	entry := db.TimelineEntry{RunID: t.run.ID, At: t.at, Kind: kind, Message: message}
	if se != nil {
		entry.StepID, entry.StepExecutionID = &se.StepID, &se.ID
	}
	if data != nil {
		if b, err := json.Marshal(data); err == nil {
			entry.Data = b
		}
	}
	t.entries = append(t.entries, entry)
}

func (t *timeline) save(ctx context.Context, idb bun.IDB) error {
	err := db.InsertTimeline(ctx, idb, t.entries)
	t.entries = nil
	return err
}

// FindRun loads a run.
func (e *Engine) FindRun(ctx context.Context, id uuid.UUID) (*db.Run, error) {
	return db.FindRun(ctx, e.db.Bun, id)
}

// ListRuns returns one page of runs, newest first, and the total.
func (e *Engine) ListRuns(ctx context.Context, f db.RunFilter) ([]db.Run, int, error) {
	return db.ListRuns(ctx, e.db.Bun, f)
}

// RunSteps returns a run's step executions in execution order, start and end included.
func (e *Engine) RunSteps(ctx context.Context, id uuid.UUID) ([]db.StepExecution, error) {
	if _, err := db.FindRun(ctx, e.db.Bun, id); err != nil {
		return nil, err
	}
	return db.ListStepExecutions(ctx, e.db.Bun, id)
}

// RunTimeline returns every event of a run, oldest first.
func (e *Engine) RunTimeline(ctx context.Context, id uuid.UUID) ([]db.TimelineEntry, error) {
	if _, err := db.FindRun(ctx, e.db.Bun, id); err != nil {
		return nil, err
	}
	return db.ListTimeline(ctx, e.db.Bun, id)
}

// CancelRun stops a run that has not finished: the run and its unfinished steps become
// cancelled, its sub-workflow runs are cancelled too, and jobs still queued for it find
// nothing to do. A connector call in flight finishes, but its result is not recorded.
func (e *Engine) CancelRun(ctx context.Context, a Actor, id uuid.UUID) (*db.Run, error) {
	var run *db.Run
	err := e.inTx(ctx, func(tx bun.Tx) error {
		var err error
		if run, err = db.FindRunForUpdate(ctx, tx, id); err != nil {
			return err
		}
		if run.Finished() {
			return Conflict("the run is already %s", run.Status)
		}
		before := run.Status
		if err := e.cancelRun(ctx, tx, run, "Cancelled by "+a.Label); err != nil {
			return err
		}
		return e.audit(ctx, tx, a, "run", run.ID.String(), "run.cancelled",
			map[string]string{"status": before}, map[string]string{"status": run.Status})
	})
	if err != nil {
		return nil, err
	}
	return run, nil
}

// cancelRun cancels a locked run, its unfinished steps and its unfinished sub-workflow runs.
func (e *Engine) cancelRun(ctx context.Context, tx bun.Tx, run *db.Run, reason string) error {
	now := e.now()
	tl := &timeline{run: run, at: now}
	steps, err := db.ListStepExecutions(ctx, tx, run.ID)
	if err != nil {
		return err
	}
	for i := range steps {
		se := &steps[i]
		if !se.Active() {
			continue
		}
		status, attempts := se.Status, se.Attempts
		se.Status, se.FinishedAt, se.DueAt = db.StepCancelled, &now, nil
		if _, err := db.UpdateStepExecution(ctx, tx, se, status, attempts); err != nil {
			return err
		}
		tl.add(se, "step_cancelled", fmt.Sprintf("Step %s cancelled", se.Name), nil)
	}
	if err := db.CancelRunTasks(ctx, tx, run.ID, now); err != nil {
		return err
	}
	children, err := db.ListActiveChildRuns(ctx, tx, run.ID)
	if err != nil {
		return err
	}
	for _, id := range children {
		child, err := db.FindRunForUpdate(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := e.cancelRun(ctx, tx, child, "Its parent run was cancelled"); err != nil {
			return err
		}
	}
	if err := e.finishRun(ctx, tx, run, db.RunCancelled, nil, tl, reason); err != nil {
		return err
	}
	return e.saveRun(ctx, tx, run, tl)
}

// RetryRun resumes a failed run from its failed step, as a new attempt of the same step
// execution (so with the same idempotency key).
func (e *Engine) RetryRun(ctx context.Context, a Actor, id uuid.UUID) (*db.Run, error) {
	var run *db.Run
	err := e.inTx(ctx, func(tx bun.Tx) error {
		var err error
		if run, err = db.FindRunForUpdate(ctx, tx, id); err != nil {
			return err
		}
		if run.Status != db.RunFailed {
			return Conflict("only a failed run can be retried; this one is %s", run.Status)
		}
		if run.ParentRunID != nil {
			return Conflict("this run is a sub-workflow of run %s, which has already handled its failure; retry that run instead", run.ParentRunID)
		}
		// A retry would carry on from state the rollback has undone. RollbackRun locks this
		// run too, so the two cannot cross.
		by, err := db.FindCompensationRun(ctx, tx, run.ID)
		if err != nil {
			return err
		}
		if by != nil {
			return Conflict("this run was rolled back by run %s; start the workflow again instead of retrying it", by)
		}
		steps, err := db.ListStepExecutions(ctx, tx, run.ID)
		if err != nil {
			return err
		}
		var se *db.StepExecution
		for i := len(steps) - 1; i >= 0 && se == nil; i-- {
			if steps[i].Status == db.StepFailed {
				se = &steps[i]
			}
		}
		if se == nil {
			return Conflict("the run has no failed step to retry: %s", errorMessage(run.Error))
		}
		now := e.now()
		se.Status, se.FinishedAt, se.DueAt = db.StepPending, nil, nil
		if _, err := db.UpdateStepExecution(ctx, tx, se, db.StepFailed, se.Attempts); err != nil {
			return err
		}
		if err := e.queueStepJob(ctx, tx, runStepArgs{RunID: run.ID, StepExecutionID: se.ID, Attempt: se.Attempts + 1}, time.Time{}); err != nil {
			return err
		}
		run.Status, run.FinishedAt, run.Error, run.UpdatedAt = db.RunRunning, nil, nil, now
		if err := db.UpdateRun(ctx, tx, run); err != nil {
			return err
		}
		tl := &timeline{run: run, at: now}
		tl.add(se, "run_retried", fmt.Sprintf("Retry from step %s requested by %s", se.Name, a.Label), nil)
		if err := tl.save(ctx, tx); err != nil {
			return err
		}
		return e.audit(ctx, tx, a, "run", run.ID.String(), "run.retried", nil, map[string]any{"stepId": se.StepID, "attempt": se.Attempts + 1})
	})
	if err != nil {
		return nil, err
	}
	return run, nil
}

func errorMessage(raw json.RawMessage) string {
	var env connectors.Error
	if len(raw) == 0 || json.Unmarshal(raw, &env) != nil {
		return "no error was recorded"
	}
	return env.Message
}

// UpdateRunVariables changes variables of a run that is pending or running, for the steps it
// has not run yet. Each given variable is set; null clears a declared variable and removes
// any other. Declared variables keep their types and required ones cannot be cleared;
// built-in ones cannot be changed.
func (e *Engine) UpdateRunVariables(ctx context.Context, a Actor, id uuid.UUID, vars map[string]any) (*db.Run, error) {
	var run *db.Run
	err := e.inTx(ctx, func(tx bun.Tx) error {
		var err error
		if run, err = db.FindRunForUpdate(ctx, tx, id); err != nil {
			return err
		}
		if run.Status != db.RunPending && run.Status != db.RunRunning {
			return Conflict("variables can be changed only while a run is pending or running; this one is %s", run.Status)
		}
		def, err := e.runDefinition(ctx, tx, run)
		if err != nil {
			return err
		}
		current, err := runVariables(run)
		if err != nil {
			return err
		}
		v := &ValidationError{}
		before, after := map[string]any{}, map[string]any{}
		for _, name := range slices.Sorted(maps.Keys(vars)) {
			val, field := vars[name], "variables."+name
			if isBuiltinVariable(name) {
				v.Add(field, "is set by Floh for every run and cannot be changed")
				continue
			}
			for _, d := range def.Variables {
				if d.Name != name {
					continue
				}
				if val == nil && d.Required {
					v.Add(field, "is required")
				} else if val != nil {
					if err := checkType(ctx, tx, v, field, d.Type, val); err != nil {
						return err
					}
				}
			}
			before[name], after[name] = current[name], val
			if val == nil && !slices.ContainsFunc(def.Variables, func(d workflow.Variable) bool { return d.Name == name }) {
				delete(current, name)
			} else {
				current[name] = val
			}
		}
		if err := v.Err(); err != nil {
			return err
		}
		if current, err = normalizeJSON(current); err != nil {
			return err
		}
		if err := setVariables(run, current); err != nil {
			return err
		}
		now := e.now()
		run.UpdatedAt = now
		if err := db.UpdateRun(ctx, tx, run); err != nil {
			return err
		}
		tl := &timeline{run: run, at: now}
		tl.add(nil, "variables_updated", fmt.Sprintf("Variables %s changed by %s", strings.Join(slices.Sorted(maps.Keys(vars)), ", "), a.Label), nil)
		if err := tl.save(ctx, tx); err != nil {
			return err
		}
		return e.audit(ctx, tx, a, "run", run.ID.String(), "run.variables_updated", before, after)
	})
	if err != nil {
		return nil, err
	}
	return run, nil
}
