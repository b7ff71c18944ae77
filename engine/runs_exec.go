package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"
	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"floh/connectors"
	"floh/db"
	"floh/engine/sync"
	"floh/engine/workflow"
)

// Step execution. Every step execution is worked by River jobs of kind run_step: one per
// attempt, plus one to resume a step that waits (a delay's wake-up, a sub-workflow's end).
// Each job is inserted in the transaction of the state change that causes it, so a committed
// transition always has its next job and a rolled-back one has none.
//
// A job first claims its attempt with a conditional UPDATE (db.ClaimStepExecution), and the
// attempt's result is written only if the execution is still as claimed; both happen with
// the run row locked. So a duplicate delivery, a job of a cancelled run, or a job of an
// attempt already made does nothing, and a step execution completes at most once. Retries of
// failed attempts are the engine's: it inserts the next attempt's job, scheduled after the
// backoff, in the transaction that records the failure. River's own retries (MaxAttempts on
// the job) only cover a worker that could not finish: a crash, a lost connection.

const (
	// defaultStepTimeout bounds an attempt of a step that sets no timeout; maxStepTimeout
	// bounds any, and River's job timeout sits just above it.
	defaultStepTimeout = 2 * time.Minute
	maxStepTimeout     = 30 * time.Minute
	// retryBaseDelay is the first backoff; exponential backoff doubles it per attempt up to
	// maxRetryDelay. A Retry-After from the target is honoured up to maxRetryAfter.
	retryBaseDelay = 10 * time.Second
	maxRetryDelay  = 10 * time.Minute
	maxRetryAfter  = time.Hour
	// maxStepAttempts caps retry.maxAttempts.
	maxStepAttempts = 10
	// expressionTimeout is the wall-clock bound on one expression.
	expressionTimeout = time.Second
	// maxSubWorkflowDepth stops a workflow that starts itself from recursing forever.
	maxSubWorkflowDepth = 10
)

// Error codes of failures the engine itself finds in a step.
const (
	codeUndefinedVariable = "UNDEFINED_VARIABLE"
	codeInvalidConfig     = "INVALID_CONFIG"
	codeExpression        = "EXPRESSION_ERROR"
	codeNoEdge            = "NO_EDGE"
	codeStepTimeout       = "STEP_TIMEOUT"
	codeRunTimeout        = "RUN_TIMEOUT"
)

type runStepArgs struct {
	RunID           uuid.UUID `json:"runId"`
	StepExecutionID uuid.UUID `json:"stepExecutionId"`
	// Attempt is the attempt this job makes, from 1; a resume job carries the attempt it
	// resumes.
	Attempt int  `json:"attempt"`
	Resume  bool `json:"resume,omitempty"`
	// Timer, on a resume job of a waiting approval, is timerExpire or timerRemind.
	Timer string `json:"timer,omitempty"`
}

func (runStepArgs) Kind() string { return "run_step" }

// InsertOpts: River retries a job only when its worker returned an error, which the step
// worker does only when it could not reach the database; step failures are the engine's.
func (runStepArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 10} }

type runStepWorker struct {
	river.WorkerDefaults[runStepArgs]
	engine *Engine
}

// Timeout is a backstop above the longest step timeout, which the engine enforces itself on
// its own clock. River rescues the job of a dead process only once its timeout has passed
// too, so it is never longer than RescueStuckJobsAfter.
func (w *runStepWorker) Timeout(*river.Job[runStepArgs]) time.Duration {
	return min(maxStepTimeout+time.Minute, w.engine.rescueAfter)
}

func (w *runStepWorker) Work(ctx context.Context, job *river.Job[runStepArgs]) error {
	return w.engine.workStep(ctx, job.ID, job.Args)
}

// outcome is what a step execution came to.
type outcome struct {
	// on is the edge to follow: success, or a condition's branch; error when err is set.
	on     string
	output any
	// set are variables the step sets (a connector's output, a transform's values).
	set map[string]any
	err *connectors.Error
	// subject, when set, becomes the run's subject (user_create with setAsSubject).
	subject *string
	// call is a connector call's record for the timeline: sanitised params, response or error.
	call map[string]any
	// log is the call's entry for the connector's execution log.
	log *db.Execution
	// note is a timeline entry of the step's own, such as a notification's delivery.
	note *stepNote
	// wait, when set, is the status the step waits in until a resume job finishes it; due
	// is when a delay wakes up, child the sub-workflow run waited for.
	wait  string
	due   *time.Time
	child *uuid.UUID
}

// stepNote is a timeline entry a step adds to its result.
type stepNote struct {
	kind, message string
	data          any
}

func success(output any) outcome { return outcome{on: workflow.OnSuccess, output: output} }

func failure(err *connectors.Error) outcome { return outcome{on: workflow.OnError, err: err} }

func invalidStep(code, format string, args ...any) outcome {
	return failure(connectors.Errorf(connectors.InvalidInput, code, format, args...))
}

// attempt is a claimed attempt of a step that runs outside any transaction: it calls a
// target or the engine's own user functions.
type attempt struct {
	run     *db.Run
	def     *workflow.Definition
	step    *workflow.Step
	se      *db.StepExecution
	config  *workflow.Step // the step with its config rendered
	vars    map[string]any // what the config was rendered over
	timeout time.Duration
}

// workStep makes one attempt of a step execution, or resumes a waiting one.
func (e *Engine) workStep(ctx context.Context, jobID int64, args runStepArgs) error {
	if args.Resume {
		return e.resumeStep(ctx, args)
	}
	var at *attempt
	err := e.inTx(ctx, func(tx bun.Tx) error {
		now := e.now()
		// Most steps keep the default timeout; one that sets its own corrects due_at below.
		run, se, err := db.ClaimStep(ctx, tx, args.RunID, args.StepExecutionID, args.Attempt, jobID, now, now.Add(defaultStepTimeout))
		if errors.Is(err, db.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		def, err := e.runDefinition(ctx, tx, run)
		if err != nil {
			return err
		}
		// Claiming marks no progress of its own: the transition that queued this attempt
		// already set updated_at, so the run row is written only when it starts running.
		starting := run.Status != db.RunRunning
		run.Status = db.RunRunning
		if starting {
			run.UpdatedAt = now
		}
		tl := &timeline{run: run, at: now}
		step := def.Step(se.StepID)
		vars, err := e.evalVariables(run)
		if err != nil {
			return err
		}
		tvars, err := templateVariables(ctx, tx, def, vars)
		if err != nil {
			return err
		}
		var out outcome
		switch {
		case step == nil:
			out = invalidStep(codeInvalidConfig, "step %s is not in version %d of the workflow", se.StepID, run.Version)
		case step.Type == workflow.TypeConnector || step.Type == workflow.TypeUserCreate || step.Type == workflow.TypeProfileUpdate ||
			step.Type == typeUserDelete || sendsEmail(step):
			rendered, fail := renderStep(step, tvars)
			if fail != nil {
				out = *fail
				break
			}
			timeout, fail := stepTimeout(rendered)
			if fail != nil {
				out = *fail
				break
			}
			// The attempt runs after this transaction commits, so that no lock is held
			// while a target answers.
			if due := now.Add(timeout); !se.DueAt.Equal(due) {
				se.DueAt = &due
				if _, err := db.UpdateStepExecution(ctx, tx, se, db.StepRunning, se.Attempts); err != nil {
					return err
				}
			}
			at = &attempt{run: run, def: def, step: step, se: se, config: rendered, vars: tvars, timeout: timeout}
			if !starting {
				return nil
			}
			return db.UpdateRun(ctx, tx, run)
		default:
			if out, err = e.runInline(ctx, tx, run, step, se, vars, tvars, tl); err != nil {
				return err
			}
		}
		return e.finishStep(ctx, tx, run, def, step, se, out, tl)
	})
	if err != nil || at == nil {
		return err
	}
	out, err := e.runAttempt(ctx, at)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		// Shutting down mid-attempt: River works this job again later, and the same job may
		// take its claim up again. The call was made, so the connector's log keeps it.
		if out.log != nil {
			e.insertExecution(ctx, out.log)
		}
		return ctx.Err()
	}
	return e.inTx(ctx, func(tx bun.Tx) error {
		run, err := db.FindRunForUpdate(ctx, tx, args.RunID)
		if err != nil {
			return err
		}
		// The connector's execution log keeps the call whatever becomes of its result; the
		// result's own statement writes it when it can (see saveRun).
		tl := &timeline{run: run, at: e.now(), log: out.log}
		if run.Status == db.RunRunning {
			// The execution as claimed: finishStep writes it only if the row is still so,
			// which drops the result of an attempt that timed out or was taken over meanwhile.
			if err := e.finishStep(ctx, tx, run, at.def, at.step, at.se, out, tl); err != nil {
				return err
			}
		}
		// Cancelled or failed as stuck while the attempt ran, or its result dropped.
		if tl.log != nil {
			return db.InsertExecution(ctx, tx, tl.log)
		}
		return nil
	})
}

// evalVariables are what templates and expressions see: the run's variables and now.
func (e *Engine) evalVariables(run *db.Run) (map[string]any, error) {
	vars, err := runVariables(run)
	if err != nil {
		return nil, err
	}
	vars[varNow] = e.now().Format(time.RFC3339)
	return vars, nil
}

// renderStep fills in the templates of a step's config. A template naming a variable the run
// does not have fails the step with UNDEFINED_VARIABLE, naming it.
func renderStep(step *workflow.Step, vars map[string]any) (*workflow.Step, *outcome) {
	cfg, err := workflow.Render(step.Config, vars)
	if err != nil {
		return nil, renderFailure(step, err)
	}
	rendered := *step
	rendered.Config, _ = cfg.(map[string]any)
	return &rendered, nil
}

// renderFailure is the step's outcome when its templates could not be rendered.
func renderFailure(step *workflow.Step, err error) *outcome {
	var missing *workflow.MissingVariableError
	if errors.As(err, &missing) {
		out := failure(&connectors.Error{Class: connectors.InvalidInput, Code: codeUndefinedVariable, Field: missing.Name,
			Message: fmt.Sprintf("step %s: %v", step.ID, err)})
		return &out
	}
	out := invalidStep(codeInvalidConfig, "step %s: %v", step.ID, err)
	return &out
}

// stepTimeout is the bound on one attempt of a step.
func stepTimeout(step *workflow.Step) (time.Duration, *outcome) {
	if step.Type != workflow.TypeConnector {
		return defaultStepTimeout, nil
	}
	cfg, err := step.ConnectorConfig()
	if err != nil {
		out := invalidStep(codeInvalidConfig, "step %s: %v", step.ID, err)
		return 0, &out
	}
	switch {
	case cfg.Timeout <= 0:
		return defaultStepTimeout, nil
	case cfg.Timeout > maxStepTimeout:
		return maxStepTimeout, nil
	}
	return cfg.Timeout, nil
}

// runInline works a step that needs no call: it decides in the claiming transaction.
// Expressions see vars; templates see tvars, where user variables also reach the user's fields.
func (e *Engine) runInline(ctx context.Context, tx bun.Tx, run *db.Run, step *workflow.Step, se *db.StepExecution, vars, tvars map[string]any, tl *timeline) (outcome, error) {
	switch step.Type {
	case workflow.TypeStart, workflow.TypeEnd:
		return success(nil), nil
	case workflow.TypeCondition:
		return e.runCondition(ctx, step, vars), nil
	case workflow.TypeTransform:
		return e.runTransform(ctx, step, vars), nil
	case workflow.TypeDelay:
		rendered, fail := renderStep(step, tvars)
		if fail != nil {
			return *fail, nil
		}
		return e.runDelay(ctx, tx, run, rendered, se, tl)
	case workflow.TypeSubWorkflow:
		rendered, fail := renderStep(step, tvars)
		if fail != nil {
			return *fail, nil
		}
		return e.startSubWorkflow(ctx, tx, run, rendered, se, vars, tl)
	case workflow.TypeApproval, workflow.TypeManualTask:
		return e.openTasks(ctx, tx, run, step, se, tvars, tl)
	case workflow.TypeNotification:
		return e.notifyInApp(ctx, tx, run, step, tvars)
	}
	return invalidStep("UNSUPPORTED_STEP", "step %s: %s steps are not supported by this version of Floh", step.ID, step.Type), nil
}

// templateVariables are the variables templates see: vars, with each user variable of the
// definition that holds a user's id made a workflow.UserValue, so {{manager.email}} reads the
// user's email while {{manager}} stays the id. A user deleted since the run started keeps
// only its id.
func templateVariables(ctx context.Context, idb bun.IDB, def *workflow.Definition, vars map[string]any) (map[string]any, error) {
	var out map[string]any
	for _, v := range def.Variables {
		s, _ := vars[v.Name].(string)
		id, err := uuid.Parse(s)
		if v.Type != "user" || err != nil {
			continue
		}
		if out == nil {
			out = maps.Clone(vars)
		}
		u, err := db.FindUser(ctx, idb, id)
		switch {
		case errors.Is(err, db.ErrNotFound):
			out[v.Name] = workflow.UserValue{"id": s}
		case err != nil:
			return nil, err
		default:
			out[v.Name] = workflow.UserValue{"id": s, "email": u.Email, "displayName": u.DisplayName}
		}
	}
	if out == nil {
		return vars, nil
	}
	return out, nil
}

// evaluate runs one expression over vars. A name the run does not have fails with
// UNDEFINED_VARIABLE, like a template would.
func evaluate(ctx context.Context, step *workflow.Step, src string, vars map[string]any) (any, *connectors.Error) {
	names, err := workflow.ExpressionNames(src)
	if err != nil {
		return nil, connectors.Errorf(connectors.InvalidInput, codeExpression, "step %s: %v", step.ID, err)
	}
	for _, n := range names {
		if _, ok := vars[n]; !ok {
			return nil, &connectors.Error{Class: connectors.InvalidInput, Code: codeUndefinedVariable, Field: n,
				Message: fmt.Sprintf("step %s: variable %s is not defined", step.ID, n)}
		}
	}
	prog, err := workflow.Compile(src, slices.Collect(maps.Keys(vars)))
	if err != nil {
		return nil, connectors.Errorf(connectors.InvalidInput, codeExpression, "step %s: %v", step.ID, err)
	}
	ectx, cancel := context.WithTimeout(ctx, expressionTimeout)
	defer cancel()
	v, err := prog.Eval(ectx, vars)
	if err != nil {
		return nil, connectors.Errorf(connectors.InvalidInput, codeExpression, "step %s: %v", step.ID, err)
	}
	return v, nil
}

// runCondition takes the first branch whose expression is true, else the default; with
// neither, the step fails.
func (e *Engine) runCondition(ctx context.Context, step *workflow.Step, vars map[string]any) outcome {
	cfg, err := step.ConditionConfig()
	if err != nil {
		return invalidStep(codeInvalidConfig, "step %s: %v", step.ID, err)
	}
	for _, b := range cfg.Branches {
		v, cerr := evaluate(ctx, step, b.When, vars)
		if cerr != nil {
			return failure(cerr)
		}
		matched, ok := v.(bool)
		if !ok {
			return invalidStep(codeExpression, "step %s: the expression of branch %s gave %s, not true or false", step.ID, b.Name, describeJSON(v))
		}
		if matched {
			return outcome{on: b.Name, output: map[string]any{"branch": b.Name}}
		}
	}
	if cfg.Default == "" {
		return invalidStep("NO_BRANCH", "step %s: no branch matched, and the condition has no default", step.ID)
	}
	return outcome{on: cfg.Default, output: map[string]any{"branch": cfg.Default}}
}

// runTransform sets variables from expressions, each evaluated over the variables as they
// were before the step.
func (e *Engine) runTransform(ctx context.Context, step *workflow.Step, vars map[string]any) outcome {
	cfg, err := step.TransformConfig()
	if err != nil {
		return invalidStep(codeInvalidConfig, "step %s: %v", step.ID, err)
	}
	set := map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(cfg.Set)) {
		if isBuiltinVariable(name) {
			return invalidStep(codeInvalidConfig, "step %s: %s is a built-in variable and cannot be set", step.ID, name)
		}
		v, cerr := evaluate(ctx, step, cfg.Set[name], vars)
		if cerr != nil {
			return failure(cerr)
		}
		set[name] = v
	}
	return outcome{on: workflow.OnSuccess, output: set, set: set}
}

// runDelay makes the run wait without holding a worker: a resume job scheduled for the end of
// the delay finishes the step.
func (e *Engine) runDelay(ctx context.Context, tx bun.Tx, run *db.Run, step *workflow.Step, se *db.StepExecution, tl *timeline) (outcome, error) {
	cfg, err := step.DelayConfig()
	if err != nil {
		return invalidStep(codeInvalidConfig, "step %s: %v", step.ID, err), nil
	}
	wake := tl.at.Add(max(cfg.Duration, 0))
	if err := e.queueStepJob(ctx, tx, runStepArgs{RunID: run.ID, StepExecutionID: se.ID, Attempt: se.Attempts, Resume: true}, wake); err != nil {
		return outcome{}, err
	}
	tl.add(se, "step_waiting", fmt.Sprintf("Step %s waits until %s", se.Name, wake.Format(time.RFC3339)), map[string]any{"until": wake})
	return outcome{wait: db.StepRunning, due: &wake}, nil
}

// startSubWorkflow starts a run of another workflow's active version; the step waits for it.
func (e *Engine) startSubWorkflow(ctx context.Context, tx bun.Tx, run *db.Run, step *workflow.Step, se *db.StepExecution, vars map[string]any, tl *timeline) (outcome, error) {
	cfg, err := step.SubWorkflowConfig()
	if err != nil {
		return invalidStep(codeInvalidConfig, "step %s: %v", step.ID, err), nil
	}
	depth := 1
	for parent := run.ParentRunID; parent != nil; depth++ {
		if depth >= maxSubWorkflowDepth {
			return invalidStep("SUB_WORKFLOW_DEPTH", "step %s: sub-workflows are nested more than %d deep", step.ID, maxSubWorkflowDepth), nil
		}
		p, err := db.FindRun(ctx, tx, *parent)
		if err != nil {
			return outcome{}, err
		}
		parent = p.ParentRunID
	}
	id, err := uuid.Parse(cfg.WorkflowID)
	if err != nil {
		return invalidStep(codeInvalidConfig, "step %s: workflowId %q is not a workflow id", step.ID, cfg.WorkflowID), nil
	}
	w, err := db.FindWorkflow(ctx, tx, id)
	if errors.Is(err, db.ErrNotFound) {
		return invalidStep("UNKNOWN_WORKFLOW", "step %s: no workflow has the id %s", step.ID, id), nil
	}
	if err != nil {
		return outcome{}, err
	}
	if err := startable(w); err != nil {
		return invalidStep("WORKFLOW_NOT_STARTABLE", "step %s: %v", step.ID, err), nil
	}
	def, err := e.definition(ctx, tx, w.ID, w.Version)
	if err != nil {
		return outcome{}, err
	}
	inputs, err := checkInputs(ctx, tx, def, cfg.Variables)
	var v *ValidationError
	if errors.As(err, &v) {
		return invalidStep("INVALID_VARIABLES", "step %s: the variables for %s are invalid: %v", step.ID, w.Name, v), nil
	}
	if err != nil {
		return outcome{}, err
	}
	initiator, _ := vars[varInitiator].(map[string]any)
	child, err := e.createRun(ctx, tx, runSpec{
		workflow: w, def: def, inputs: inputs, useMocks: run.UseMocks, startedBy: run.StartedBy,
		initiator: initiator, parent: se,
	})
	if err != nil {
		var c *ConflictError
		if errors.As(err, &c) {
			return invalidStep("WORKFLOW_NOT_STARTABLE", "step %s: %v", step.ID, c), nil
		}
		return outcome{}, err
	}
	tl.add(se, "step_waiting", fmt.Sprintf("Step %s waits for run %s of %s", se.Name, child.ID, w.Name), map[string]any{"childRunId": child.ID})
	return outcome{wait: db.StepWaitingResponse, child: &child.ID}, nil
}

// runAttempt makes a claimed attempt outside any transaction, as the run's starter. It
// returns an error only when the database failed, so that River works the job again.
func (e *Engine) runAttempt(ctx context.Context, at *attempt) (outcome, error) {
	a := Actor{UserID: at.run.StartedBy.ID, Label: at.run.StartedBy.Label}
	switch at.step.Type {
	case workflow.TypeConnector:
		out, err := e.runConnector(ctx, a, at)
		if err == nil && at.run.CompensationOf != nil {
			e.reportCompensationFailure(ctx, at, out)
		}
		return out, err
	case typeUserDelete:
		return e.runUserDelete(ctx, a, at)
	case workflow.TypeUserCreate:
		return e.runUserCreate(ctx, a, at)
	case workflow.TypeProfileUpdate:
		return e.runProfileUpdate(ctx, a, at)
	case workflow.TypeNotification:
		return e.notifyByEmail(ctx, a, at)
	}
	return invalidStep("UNSUPPORTED_STEP", "step %s: %s steps are not supported by this version of Floh", at.step.ID, at.step.Type), nil
}

// done reports whether ctx has ended without blocking (a fake clock's context blocks in Err
// until it ends).
func done(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

// runConnector calls a connector command with the step's rendered params. The step's mock
// setting wins over the run's useMocks, which wins over the instance's and the system's.
func (e *Engine) runConnector(ctx context.Context, a Actor, at *attempt) (outcome, error) {
	step := at.config
	cfg, err := step.ConnectorConfig()
	if err != nil {
		return invalidStep(codeInvalidConfig, "step %s: %v", step.ID, err), nil
	}
	c, err := db.FindLiveConnectorByRef(ctx, e.db.Bun, cfg.ConnectorID)
	if errors.Is(err, db.ErrNotFound) {
		return invalidStep("UNKNOWN_CONNECTOR", "step %s: no connector is named or has the id %q", step.ID, cfg.ConnectorID), nil
	}
	if err != nil {
		return outcome{}, err
	}
	t := e.registry.Type(c.Type)
	if t == nil {
		return invalidStep("UNKNOWN_TYPE", "step %s: connector type %q is not available in this version of Floh", step.ID, c.Type), nil
	}
	cmd := t.Command(cfg.Command)
	if cmd == nil {
		return invalidStep("UNKNOWN_COMMAND", "step %s: %q is not a command of %s", step.ID, cfg.Command, t.Label), nil
	}
	useMock := cfg.Mock
	if useMock == nil && at.run.UseMocks {
		useMock = &at.run.UseMocks
	}
	// The timeout runs on the engine's clock. Every attempt carries the execution's
	// idempotency key, so a target that knows it can drop an attempt it has already seen.
	actx, cancel := clockwork.WithTimeout(ctx, e.clock, at.timeout)
	defer cancel()
	actx = connectors.WithIdempotencyKey(actx, at.se.IdempotencyKey)
	res, x := e.executeCommand(actx, a, c, cmd, cfg.Params, useMock, SourceRun)
	if res.Error != nil && done(actx) && !done(ctx) {
		res.Error = connectors.Errorf(connectors.ConnectorDown, codeStepTimeout,
			"step %s did not finish within %s: %s", step.ID, at.timeout, res.Error.Message)
	}
	call := map[string]any{
		"connectorId": c.ID, "connector": c.Name, "command": cmd.Name, "attempt": at.se.Attempts,
		"params": connectors.Sanitize(cmd, cfg.Params), "mock": res.Mock, "durationMs": res.DurationMS,
	}
	if res.Error != nil {
		call["error"] = res.Error
	} else {
		call["response"] = boundedJSON(res.Data)
	}
	if res.Error != nil {
		out := failure(res.Error)
		out.call, out.log = call, x
		return out, nil
	}
	out := success(res.OutputVariables)
	out.call, out.log = call, x
	if cfg.Output != "" {
		out.set = map[string]any{cfg.Output: res.OutputVariables}
	}
	return out, nil
}

// boundedJSON keeps a response for the timeline unless it is too large to be useful there.
func boundedJSON(v any) any {
	b, err := json.Marshal(v)
	if err != nil || len(b) > maxLoggedOutput {
		return map[string]any{"truncated": true, "bytes": len(b)}
	}
	return v
}

// runUserCreate creates the user through CreateUser, audited as the run's starter. It finds
// the user an earlier attempt of this step created instead of making a second one.
func (e *Engine) runUserCreate(ctx context.Context, a Actor, at *attempt) (outcome, error) {
	step := at.config
	cfg, err := step.UserCreateConfig()
	if err != nil {
		return invalidStep(codeInvalidConfig, "step %s: %v", step.ID, err), nil
	}
	u, created, err := e.CreateUser(ctx, a, CreateUserInput{Email: cfg.Email, DisplayName: cfg.DisplayName, FindOrCreate: true})
	if fail := userFailure(step, err); fail != nil || err != nil {
		if fail != nil {
			return *fail, nil
		}
		return outcome{}, err
	}
	user := map[string]any{"id": u.ID.String(), "email": u.Email, "displayName": u.DisplayName, "created": created}
	out := success(user)
	if cfg.SetAsSubject {
		id := u.ID.String()
		out.subject = &id
		if sv := at.def.SubjectVariable; sv != "" {
			out.set = map[string]any{sv: id}
		}
	}
	return out, nil
}

// runProfileUpdate applies the step's fields through UpdateProfile. Its output keeps the
// values it replaced, so a rollback can restore them.
func (e *Engine) runProfileUpdate(ctx context.Context, a Actor, at *attempt) (outcome, error) {
	step := at.config
	cfg, err := step.ProfileUpdateConfig()
	if err != nil {
		return invalidStep(codeInvalidConfig, "step %s: %v", step.ID, err), nil
	}
	id, err := uuid.Parse(cfg.UserID)
	if err != nil {
		return invalidStep(codeInvalidConfig, "step %s: userId %q is not a user id", step.ID, cfg.UserID), nil
	}
	before, err := db.FindProfile(ctx, e.db.Bun, id)
	if err != nil {
		return outcome{}, err
	}
	beforeJSON, err := json.Marshal(before)
	if err != nil {
		return outcome{}, fmt.Errorf("encode profile: %w", err)
	}
	var old map[string]any
	if err := json.Unmarshal(beforeJSON, &old); err != nil {
		return outcome{}, fmt.Errorf("decode profile: %w", err)
	}
	oldCustom, _ := old["custom"].(map[string]any)
	var p ProfilePatch
	previous := map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(cfg.Fields)) {
		val := cfg.Fields[name]
		if slices.Contains(sync.ProfileFields, name) {
			previous[name] = old[name]
			o := Optional[string]{Set: true, Null: val == nil}
			if s, ok := val.(string); ok {
				o.Value = s
			} else if val != nil {
				return invalidStep(codeInvalidConfig, "step %s: fields.%s must be text, not %s", step.ID, name, describeJSON(val)), nil
			}
			switch name {
			case "title":
				p.Title = o
			case "department":
				p.Department = o
			case "location":
				p.Location = o
			case "costCenter":
				p.CostCenter = o
			case "startDate":
				p.StartDate = o
			}
			continue
		}
		previous[name] = oldCustom[name]
		raw, err := json.Marshal(val)
		if err != nil {
			return invalidStep(codeInvalidConfig, "step %s: fields.%s: %v", step.ID, name, err), nil
		}
		if p.Custom == nil {
			p.Custom = map[string]json.RawMessage{}
		}
		p.Custom[name] = raw
	}
	_, err = e.UpdateProfile(ctx, a, id, p)
	if fail := userFailure(step, err); fail != nil || err != nil {
		if fail != nil {
			return *fail, nil
		}
		return outcome{}, err
	}
	return success(map[string]any{"userId": id.String(), "fields": cfg.Fields, "previous": previous}), nil
}

// userFailure turns a refusal of the engine's user functions into a step failure; nil means
// err is nil or a database error.
func userFailure(step *workflow.Step, err error) *outcome {
	var (
		v *ValidationError
		c *ConflictError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &v):
		out := invalidStep("INVALID_USER", "step %s: %v", step.ID, v)
		return &out
	case errors.As(err, &c):
		out := failure(connectors.Errorf(connectors.Conflict, "USER_CONFLICT", "step %s: %v", step.ID, c))
		return &out
	case errors.Is(err, db.ErrNotFound):
		out := failure(connectors.Errorf(connectors.NotFound, "USER_NOT_FOUND", "step %s: %v", step.ID, err))
		return &out
	}
	return nil
}

// resumeStep finishes a waiting step: a delay that has elapsed, or a sub_workflow whose run
// has ended; or handles a waiting approval's timer.
func (e *Engine) resumeStep(ctx context.Context, args runStepArgs) error {
	return e.inTx(ctx, func(tx bun.Tx) error {
		run, err := db.FindRunForUpdate(ctx, tx, args.RunID)
		if err != nil {
			return err
		}
		if run.Status != db.RunWaiting {
			return nil
		}
		se, err := db.FindStepExecution(ctx, tx, args.StepExecutionID)
		if err != nil {
			return err
		}
		if se.Attempts != args.Attempt {
			return nil
		}
		def, err := e.runDefinition(ctx, tx, run)
		if err != nil {
			return err
		}
		if args.Timer != "" {
			if se.Status != db.StepWaitingApproval {
				return nil
			}
			return e.resumeTasks(ctx, tx, run, def, se, args)
		}
		var out outcome
		switch {
		case se.Status == db.StepRunning && se.Type == workflow.TypeDelay:
			out = success(map[string]any{"waitedUntil": se.DueAt})
		case se.Status == db.StepWaitingResponse && se.ChildRunID != nil:
			child, err := db.FindRun(ctx, tx, *se.ChildRunID)
			if err != nil {
				return err
			}
			if out, err = childOutcome(child); err != nil || !child.Finished() {
				return err
			}
		default:
			return nil
		}
		now := e.now()
		run.Status, run.UpdatedAt = db.RunRunning, now
		return e.finishStep(ctx, tx, run, def, def.Step(se.StepID), se, out, &timeline{run: run, at: now})
	})
}

// childOutcome is what a sub-workflow run's end means for the step that started it: its
// variables (but the built-in ones) as output, or its error.
func childOutcome(child *db.Run) (outcome, error) {
	switch child.Status {
	case db.RunCompleted:
		vars, err := runVariables(child)
		if err != nil {
			return outcome{}, err
		}
		delete(vars, varInitiator)
		delete(vars, varRun)
		return success(vars), nil
	case db.RunFailed:
		var env connectors.Error
		_ = json.Unmarshal(child.Error, &env)
		if !env.Class.Valid() {
			env.Class = connectors.TargetError
		}
		return failure(&connectors.Error{Class: env.Class, Code: "SUB_WORKFLOW_FAILED",
			Message: fmt.Sprintf("sub-workflow run %s of %s failed: %s", child.ID, child.WorkflowName, env.Message)}), nil
	case db.RunCancelled:
		return failure(connectors.Errorf(connectors.TargetError, "SUB_WORKFLOW_CANCELLED",
			"sub-workflow run %s of %s was cancelled", child.ID, child.WorkflowName)), nil
	}
	return outcome{}, nil
}

// retryPolicy is how many attempts a step may make and how long it waits between them.
func retryPolicy(step *workflow.Step) (maxAttempts int, backoff string) {
	if sendsEmail(step) {
		return emailAttempts, workflow.BackoffExponential
	}
	if step == nil || step.Type != workflow.TypeConnector {
		return 1, ""
	}
	cfg, err := step.ConnectorConfig()
	if err != nil {
		return 1, ""
	}
	return max(1, min(cfg.Retry.MaxAttempts, maxStepAttempts)), cfg.Retry.Backoff
}

// retryDelay is the wait before attempt n+1 after attempt n failed: fixed or exponential
// (the default), capped, and never shorter than the target's Retry-After.
func retryDelay(backoff string, n int, retryAfter time.Duration) time.Duration {
	d := retryBaseDelay
	if backoff != workflow.BackoffFixed {
		for i := 1; i < n && d < maxRetryDelay; i++ {
			d *= 2
		}
	}
	d = min(d, maxRetryDelay)
	return max(d, min(retryAfter, maxRetryAfter))
}

// finishStep records an attempt's outcome on a claimed step execution of a locked run, and
// moves the run on: a retry scheduled, the next step queued, a wait, or the run's end. It
// writes nothing if the execution is no longer as claimed.
func (e *Engine) finishStep(ctx context.Context, tx bun.Tx, run *db.Run, def *workflow.Definition, step *workflow.Step, se *db.StepExecution, out outcome, tl *timeline) error {
	now := tl.at
	claimedStatus, claimedAttempts := se.Status, se.Attempts
	run.UpdatedAt = now
	if out.call != nil {
		tl.add(se, "connector_call", fmt.Sprintf("%s.%s called (attempt %d)", out.call["connector"], out.call["command"], se.Attempts), out.call)
	}
	if out.note != nil {
		tl.add(se, out.note.kind, out.note.message, out.note.data)
	}
	if out.wait != "" {
		run.Status = db.RunWaiting
		se.Status, se.DueAt, se.ChildRunID = out.wait, out.due, out.child
		if ok, err := db.UpdateStepExecution(ctx, tx, se, claimedStatus, claimedAttempts); !ok || err != nil {
			return err
		}
		return e.saveRun(ctx, tx, run, tl)
	}
	if out.err != nil {
		se.Error = mustJSON(out.err)
		maxAttempts, backoff := retryPolicy(step)
		if out.err.Class.Retryable() && se.Attempts < maxAttempts {
			delay := retryDelay(backoff, se.Attempts, out.err.RetryAfter)
			next := now.Add(delay)
			se.Status, se.DueAt = db.StepPending, &next
			if ok, err := db.UpdateStepExecution(ctx, tx, se, claimedStatus, claimedAttempts); !ok || err != nil {
				return err
			}
			if err := e.queueStepJob(ctx, tx, runStepArgs{RunID: run.ID, StepExecutionID: se.ID, Attempt: se.Attempts + 1}, next); err != nil {
				return err
			}
			tl.add(se, "attempt_failed", fmt.Sprintf("Attempt %d of %d of step %s failed: %s; retrying in %s",
				se.Attempts, maxAttempts, se.Name, out.err.Message, delay), map[string]any{"error": out.err, "retryAt": next})
			return e.saveRun(ctx, tx, run, tl)
		}
		se.Status = db.StepFailed
		tl.add(se, "step_failed", fmt.Sprintf("Step %s failed: %s", se.Name, out.err.Message), map[string]any{"error": out.err})
	} else {
		se.Status, se.Error = db.StepCompleted, nil
		if out.output != nil {
			se.Output = mustJSON(out.output)
		}
		if len(out.set) > 0 || out.subject != nil {
			vars, err := runVariables(run)
			if err != nil {
				return err
			}
			maps.Copy(vars, out.set)
			if err := setVariables(run, vars); err != nil {
				return err
			}
		}
		if out.subject != nil {
			typ := "user"
			run.SubjectType, run.SubjectID = &typ, out.subject
		}
		msg := fmt.Sprintf("Step %s completed", se.Name)
		if step != nil && step.Type == workflow.TypeCondition {
			msg = fmt.Sprintf("Step %s took branch %s", se.Name, out.on)
		}
		tl.add(se, "step_completed", msg, nil)
	}
	se.DueAt, se.FinishedAt = nil, &now
	if ok, err := db.UpdateStepExecution(ctx, tx, se, claimedStatus, claimedAttempts); !ok || err != nil {
		return err
	}
	if err := e.route(ctx, tx, run, def, step, se, out, tl); err != nil {
		return err
	}
	return e.saveRun(ctx, tx, run, tl)
}

// route follows the outcome's edge. With no matching edge, the errorStrategy decides: stop
// fails the run; continue takes the step's success edge if it has one, else ends the run.
// An end step ends the run.
func (e *Engine) route(ctx context.Context, tx bun.Tx, run *db.Run, def *workflow.Definition, step *workflow.Step, se *db.StepExecution, out outcome, tl *timeline) error {
	if step != nil && step.Type == workflow.TypeEnd && out.err == nil {
		return e.finishRun(ctx, tx, run, db.RunCompleted, nil, tl, "Run completed")
	}
	next := def.Next(se.StepID, out.on)
	if next == "" {
		if def.ErrorStrategy != workflow.StrategyContinue {
			fail := out.err
			if fail == nil {
				fail = connectors.Errorf(connectors.InvalidInput, codeNoEdge, "step %s has no edge for its outcome %q", se.StepID, out.on)
			}
			return e.finishRun(ctx, tx, run, db.RunFailed, fail, tl, "Run failed: "+fail.Message)
		}
		if out.on != workflow.OnSuccess {
			next = def.Next(se.StepID, workflow.OnSuccess)
		}
		if next == "" {
			return e.finishRun(ctx, tx, run, db.RunCompleted, nil, tl,
				fmt.Sprintf("Run completed: step %s has no edge for its outcome %q, and the workflow continues past failures", se.StepID, out.on))
		}
	}
	nextStep := def.Step(next)
	if nextStep == nil {
		fail := connectors.Errorf(connectors.InvalidInput, codeNoEdge, "step %s leads to step %s, which does not exist", se.StepID, next)
		return e.finishRun(ctx, tx, run, db.RunFailed, fail, tl, "Run failed: "+fail.Message)
	}
	_, err := e.scheduleStep(ctx, tx, run, nextStep, tl)
	return err
}

// finishRun ends a locked run. A sub-workflow run queues the job that resumes its parent's
// step.
func (e *Engine) finishRun(ctx context.Context, tx bun.Tx, run *db.Run, status string, fail *connectors.Error, tl *timeline, message string) error {
	now := tl.at
	run.Status, run.FinishedAt, run.UpdatedAt = status, &now, now
	run.Error = nil
	if fail != nil {
		run.Error = mustJSON(map[string]any{"message": fail.Message, "code": fail.Code, "class": fail.Class})
	}
	tl.add(nil, "run_"+status, message, nil)
	if run.ParentStepExecutionID == nil {
		return nil
	}
	parent, err := db.FindStepExecution(ctx, tx, *run.ParentStepExecutionID)
	if err != nil {
		return err
	}
	return e.queueStepJob(ctx, tx, runStepArgs{RunID: parent.RunID, StepExecutionID: parent.ID, Attempt: parent.Attempts, Resume: true}, time.Time{})
}

func (e *Engine) saveRun(ctx context.Context, tx bun.Tx, run *db.Run, tl *timeline) error {
	err := db.UpdateRunWithTimeline(ctx, tx, run, tl.entries, tl.log)
	tl.entries, tl.log = nil, nil
	return err
}

// mustJSON encodes values the engine built itself, which always encode.
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode %T: %v", v, err))
	}
	return b
}

// FailStuckRuns fails every pending or running run that has made no progress for the stuck
// timeout, and returns how many. A waiting run is never stuck: a delay has its wake-up job, a
// sub-workflow's run is checked itself and resumes its parent when it fails.
func (e *Engine) FailStuckRuns(ctx context.Context) (int, error) {
	minutes := int(e.stuckTimeout.Minutes())
	fail := connectors.Errorf(connectors.TargetError, codeRunTimeout, "Run timed out (no progress for %d minutes)", minutes)
	n := 0
	for {
		found := false
		err := e.inTx(ctx, func(tx bun.Tx) error {
			now := e.now()
			run, err := db.LockStuckRun(ctx, tx, now.Add(-e.stuckTimeout))
			if errors.Is(err, db.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			found = true
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
				se.Status, se.Error, se.FinishedAt, se.DueAt = db.StepFailed, mustJSON(fail), &now, nil
				if _, err := db.UpdateStepExecution(ctx, tx, se, status, attempts); err != nil {
					return err
				}
				tl.add(se, "step_failed", fmt.Sprintf("Step %s failed: %s", se.Name, fail.Message), map[string]any{"error": fail})
			}
			if err := e.finishRun(ctx, tx, run, db.RunFailed, fail, tl, fail.Message); err != nil {
				return err
			}
			return e.saveRun(ctx, tx, run, tl)
		})
		if err != nil || !found {
			return n, err
		}
		n++
	}
}
