package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"floh/db"
	"floh/engine/workflow"
)

// Scheduled workflows: a workflow whose active version has a schedule trigger starts a run on
// every tick of its cron (UTC), once however many replicas run.
//
// Every replica registers a gocron cron job for each such workflow. A tick only inserts a
// scheduled_start job that River keeps unique by (workflow, tick), so the replicas firing the
// same tick insert one job between them, and that job starts the run. The run records its
// tick under a unique index, so a job worked twice (its process died after the run committed)
// still starts one run.
//
// A replica registers what it publishes, deprecates or deletes as soon as the change commits,
// and every scheduleReconcileInterval compares what it has registered with the database, for
// what other replicas changed. Until then it may fire a schedule that is gone or changed; the
// job checks the tick against the workflow's active version, so such a tick starts nothing.

// scheduleReconcileInterval is how long a replica may lag behind a schedule published,
// changed or removed on another replica. No tick is lost meanwhile: the replica that made the
// change registered it at once and fires it. A minute costs each replica one small query a
// minute, and is the finest a cron ticks.
const scheduleReconcileInterval = time.Minute

// tickWindow is how late after its tick a schedule's task may read the clock and still know
// which tick fired it: gocron does not say, so the task takes the schedule's one fire time in
// the window before now. Five-field crons fire on whole minutes, so a minute-long window
// never holds two.
const tickWindow = time.Minute

// scheduleActor starts scheduled runs: runs show it as their starter, the audit log as its actor.
var scheduleActor = Actor{Label: "schedule"}

// registeredSchedule is a workflow's cron job in this replica's scheduler.
type registeredSchedule struct {
	cron string
	job  uuid.UUID
}

// startSchedules registers the schedules the database holds and the job that keeps them in
// line with it. Start calls it before it starts sched. A schedule that cannot be registered
// is logged rather than failing the start: the others still run, and the reconciliation
// tries it again.
func (e *Engine) startSchedules(ctx context.Context, sched gocron.Scheduler) error {
	e.scheduleMu.Lock()
	e.sched = sched
	e.scheduleMu.Unlock()
	if err := e.reconcileSchedules(ctx); err != nil {
		e.log.Error("register workflow schedules", "error", err)
	}
	_, err := sched.NewJob(gocron.DurationJob(scheduleReconcileInterval), gocron.NewTask(func(ctx context.Context) {
		if err := e.reconcileSchedules(ctx); err != nil {
			e.log.Error("reconcile workflow schedules", "error", err)
		}
	}), gocron.WithSingletonMode(gocron.LimitModeReschedule))
	if err != nil {
		return fmt.Errorf("schedule the reconciliation of workflow schedules: %w", err)
	}
	return nil
}

// reconcileSchedules makes this replica's cron jobs those of the active scheduled workflows
// in the database. The lock is held across the read, so a change registered by refreshSchedule
// meanwhile is never undone with what was read before it.
func (e *Engine) reconcileSchedules(ctx context.Context) error {
	e.scheduleMu.Lock()
	defer e.scheduleMu.Unlock()
	ws, err := db.ListActiveWorkflows(ctx, e.db.Bun)
	if err != nil {
		return err
	}
	want := map[uuid.UUID]string{}
	var errs []error
	for _, w := range ws {
		def, err := e.definition(ctx, e.db.Bun, w.ID, w.Version)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if cron := def.Schedule(); cron != "" {
			want[w.ID] = cron
		}
	}
	for id := range e.schedules {
		if _, ok := want[id]; !ok {
			errs = append(errs, e.setSchedule(id, ""))
		}
	}
	for id, cron := range want {
		errs = append(errs, e.setSchedule(id, cron))
	}
	return errors.Join(errs...)
}

// refreshSchedule registers the workflow's schedule as the database now has it, after this
// replica changed the workflow. It reads rather than trusting the caller's copy, so two
// publishes committing in one order and refreshing in the other still end on the newest. A
// failure is only logged: the change has committed, and the next reconciliation retries.
func (e *Engine) refreshSchedule(ctx context.Context, id uuid.UUID) {
	ctx = context.WithoutCancel(ctx)
	e.scheduleMu.Lock()
	defer e.scheduleMu.Unlock()
	if e.sched == nil {
		// Not started: Start registers every schedule.
		return
	}
	cron, err := e.activeSchedule(ctx, id)
	if err == nil {
		err = e.setSchedule(id, cron)
	}
	if err != nil {
		e.log.Error("register workflow schedule", "workflow_id", id, "error", err)
	}
}

// activeSchedule is the cron of the workflow's active version, or "" when no schedule starts
// its runs.
func (e *Engine) activeSchedule(ctx context.Context, id uuid.UUID) (string, error) {
	w, err := db.FindWorkflow(ctx, e.db.Bun, id)
	if err != nil {
		return "", err
	}
	if w.Deleted() || w.Status != db.WorkflowActive {
		return "", nil
	}
	def, err := e.definition(ctx, e.db.Bun, w.ID, w.Version)
	if err != nil {
		return "", err
	}
	return def.Schedule(), nil
}

// setSchedule makes cron the workflow's registered schedule; "" removes it. The caller holds
// scheduleMu.
func (e *Engine) setSchedule(id uuid.UUID, cron string) error {
	cur, ok := e.schedules[id]
	if ok && cur.cron == cron {
		return nil
	}
	if ok {
		if err := e.sched.RemoveJob(cur.job); err != nil && !errors.Is(err, gocron.ErrJobNotFound) {
			return fmt.Errorf("remove the schedule of workflow %s: %w", id, err)
		}
		delete(e.schedules, id)
	}
	if cron == "" {
		return nil
	}
	j, err := e.sched.NewJob(gocron.CronJob(cron, false), gocron.NewTask(func(ctx context.Context) {
		e.fireSchedule(ctx, id, cron)
	}), gocron.WithName("workflow "+id.String()+" schedule "+cron))
	if err != nil {
		return fmt.Errorf("schedule workflow %s on %q: %w", id, cron, err)
	}
	e.schedules[id] = registeredSchedule{cron: cron, job: j.ID()}
	return nil
}

// fireSchedule is a tick of a workflow's schedule on this replica: it queues the tick's
// scheduled_start job, unless another replica already has.
func (e *Engine) fireSchedule(ctx context.Context, workflowID uuid.UUID, cron string) {
	now := e.clock.Now().UTC()
	tick, err := workflow.NextFire(cron, now.Add(-tickWindow))
	if err != nil {
		e.log.Error("workflow schedule fired", "workflow_id", workflowID, "cron", cron, "error", err)
		return
	}
	if tick.After(now) {
		// The task ran a whole minute late: which tick it was for is lost. Another replica
		// may have queued it; here it is skipped rather than guessed.
		e.log.Warn("workflow schedule fired too late to tell its tick", "workflow_id", workflowID, "cron", cron, "at", now)
		return
	}
	res, err := e.jobs.Insert(ctx, scheduledStartArgs{WorkflowID: workflowID, Tick: tick}, nil)
	if err != nil {
		e.log.Error("queue scheduled run", "workflow_id", workflowID, "tick", tick, "error", err)
		return
	}
	e.log.Debug("workflow schedule fired", "workflow_id", workflowID, "cron", cron, "tick", tick,
		"duplicate", res.UniqueSkippedAsDuplicate)
}

// scheduledStartArgs is one tick of a workflow's schedule. River keeps it unique by its args,
// all of them, so they hold nothing but the workflow and the tick.
type scheduledStartArgs struct {
	WorkflowID uuid.UUID `json:"workflowId"`
	Tick       time.Time `json:"tick"`
}

func (scheduledStartArgs) Kind() string { return "scheduled_start" }

// InsertOpts: River retries the job only when its worker could not reach the database; a tick
// that no longer applies finishes without a run. The uniqueness holds in every state River
// keeps a job in, completed included, so a replica firing late still finds the first job.
func (scheduledStartArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 10, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

type scheduledStartWorker struct {
	river.WorkerDefaults[scheduledStartArgs]
	engine *Engine
}

func (w *scheduledStartWorker) Work(ctx context.Context, job *river.Job[scheduledStartArgs]) error {
	return w.engine.startScheduled(ctx, job.Args)
}

// startScheduled starts the run of one tick, as the schedule, with no inputs. A tick that no
// longer applies starts nothing and is only logged: the workflow was deprecated or deleted
// since it fired, or a replica fired it from a schedule that a newer version changed.
func (e *Engine) startScheduled(ctx context.Context, args scheduledStartArgs) error {
	tick := args.Tick.UTC()
	var run *db.Run
	skip := ""
	err := e.inTx(ctx, func(tx bun.Tx) error {
		w, err := db.FindWorkflow(ctx, tx, args.WorkflowID)
		if errors.Is(err, db.ErrNotFound) {
			skip = "the workflow does not exist"
			return nil
		} else if err != nil {
			return err
		}
		if err := startable(w); err != nil {
			skip = err.Error()
			return nil
		}
		def, err := e.definition(ctx, tx, w.ID, w.Version)
		if err != nil {
			return err
		}
		if skip = tickProblem(w, def, tick); skip != "" {
			return nil
		}
		vars, err := checkInputs(ctx, tx, def, nil)
		if err != nil {
			return err
		}
		initiator, err := initiatorOf(ctx, tx, scheduleActor)
		if err != nil {
			return err
		}
		run, err = e.createRun(ctx, tx, runSpec{
			workflow: w, def: def, inputs: vars, startedBy: db.RunActor{Label: scheduleActor.Label},
			initiator: initiator, tick: &tick,
		})
		if err != nil {
			return err
		}
		return e.audit(ctx, tx, scheduleActor, "run", run.ID.String(), "run.started", nil, map[string]any{
			"workflowId": w.ID, "version": w.Version, "workflowName": def.Name, "scheduledFor": tick,
		})
	})
	var invalid *ValidationError
	switch {
	case db.IsUniqueViolation(err, db.RunScheduleTickConstraint):
		e.log.Info("scheduled run already started", "workflow_id", args.WorkflowID, "tick", tick)
		return nil
	case errors.As(err, &invalid):
		// Only a version published before its variables were checked against its schedule
		// can get here; a retry would fail the same way.
		e.log.Error("scheduled run not started", "workflow_id", args.WorkflowID, "tick", tick, "error", err)
		return river.JobCancel(err)
	case err != nil:
		return err
	}
	if skip != "" {
		e.log.Info("scheduled tick skipped", "workflow_id", args.WorkflowID, "tick", tick, "reason", skip)
		return nil
	}
	e.log.Info("scheduled run started", "workflow_id", args.WorkflowID, "tick", tick, "run_id", run.ID)
	return nil
}

// tickProblem says why tick is not a tick of the schedule of the workflow's active version
// def, or "" when it is.
func tickProblem(w *db.Workflow, def *workflow.Definition, tick time.Time) string {
	cron := def.Schedule()
	if cron == "" {
		return fmt.Sprintf("version %d of workflow %s does not run on a schedule", w.Version, w.Name)
	}
	next, err := workflow.NextFire(cron, tick.Add(-time.Second))
	if err != nil || !next.Equal(tick) {
		return fmt.Sprintf("%s is not a tick of the schedule %q of version %d of workflow %s",
			tick.Format(time.RFC3339), cron, w.Version, w.Name)
	}
	return ""
}

// fillSchedule sets the schedule of an active workflow's doc from active, the document of its
// active version: its cron, and its next tick on the engine's clock, so every replica shows
// the same. An open draft's trigger is not a schedule until it is published.
func (e *Engine) fillSchedule(doc *WorkflowDoc, active *workflow.Definition) error {
	if doc.Schedule = active.Schedule(); doc.Schedule == "" {
		return nil
	}
	next, err := workflow.NextFire(doc.Schedule, e.clock.Now())
	if err != nil {
		return err
	}
	doc.NextRunAt = &next
	return nil
}
