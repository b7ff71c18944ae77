package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"floh/db"
	"floh/engine/sync"
	"floh/engine/workflow"
)

// Scheduled syncs work like scheduled workflows (schedules.go): every replica registers a
// gocron cron job (UTC) for each enabled sync configuration with a cron; a tick only inserts
// a sync_tick job that River keeps unique by (connector, resource type, tick), and that job
// starts the run, which records its tick under a unique index. A replica registers what it
// saves at once and reconciles with the database every scheduleReconcileInterval.

type syncKey struct {
	connectorID uuid.UUID
	rt          string
}

// startSyncSchedules registers the stored sync schedules and the job that keeps them in line
// with the database.
func (e *Engine) startSyncSchedules(ctx context.Context, sched gocron.Scheduler) error {
	if err := e.reconcileSyncSchedules(ctx); err != nil {
		e.log.Error("register sync schedules", "error", err)
	}
	_, err := sched.NewJob(gocron.DurationJob(scheduleReconcileInterval), gocron.NewTask(func(ctx context.Context) {
		if err := e.reconcileSyncSchedules(ctx); err != nil {
			e.log.Error("reconcile sync schedules", "error", err)
		}
	}), gocron.WithSingletonMode(gocron.LimitModeReschedule))
	if err != nil {
		return fmt.Errorf("schedule sync schedule reconciliation: %w", err)
	}
	return nil
}

// reconcileSyncSchedules makes this replica's sync cron jobs those the database holds.
func (e *Engine) reconcileSyncSchedules(ctx context.Context) error {
	rows, err := db.ListSyncConfigs(ctx, e.db.Bun)
	if err != nil {
		return err
	}
	want := map[syncKey]string{}
	for _, r := range rows {
		if cron := scheduleOf(r.Config); cron != "" {
			want[syncKey{r.ConnectorID, r.ResourceType}] = cron
		}
	}
	e.scheduleMu.Lock()
	defer e.scheduleMu.Unlock()
	var errs []error
	for k, cron := range want {
		errs = append(errs, e.setSyncSchedule(k, cron))
	}
	for k := range e.syncSchedules {
		if _, ok := want[k]; !ok {
			errs = append(errs, e.setSyncSchedule(k, ""))
		}
	}
	return errors.Join(errs...)
}

// scheduleOf is the cron a stored configuration runs on: "" unless enabled with a cron.
func scheduleOf(raw []byte) string {
	cfg := sync.Default()
	if err := json.Unmarshal(raw, &cfg); err != nil || !cfg.Enabled {
		return ""
	}
	return cfg.Cron
}

// refreshSyncSchedule registers a configuration's schedule after it was saved here.
func (e *Engine) refreshSyncSchedule(ctx context.Context, connectorID uuid.UUID, rt string) {
	e.scheduleMu.Lock()
	defer e.scheduleMu.Unlock()
	if e.sched == nil {
		return
	}
	cron := ""
	if row, err := db.FindSyncConfig(ctx, e.db.Bun, connectorID, rt); err == nil {
		cron = scheduleOf(row.Config)
	}
	if err := e.setSyncSchedule(syncKey{connectorID, rt}, cron); err != nil {
		e.log.Error("register sync schedule", "connector_id", connectorID, "resource_type", rt, "error", err)
	}
}

// setSyncSchedule makes cron the registered schedule of k; "" removes it. The caller holds
// scheduleMu.
func (e *Engine) setSyncSchedule(k syncKey, cron string) error {
	cur, ok := e.syncSchedules[k]
	if ok && cur.cron == cron {
		return nil
	}
	if ok {
		if err := e.sched.RemoveJob(cur.job); err != nil && !errors.Is(err, gocron.ErrJobNotFound) {
			return fmt.Errorf("remove the sync schedule of %s %s: %w", k.connectorID, k.rt, err)
		}
		delete(e.syncSchedules, k)
	}
	if cron == "" {
		return nil
	}
	j, err := e.sched.NewJob(gocron.CronJob(cron, false), gocron.NewTask(func(ctx context.Context) {
		e.fireSyncSchedule(ctx, k, cron)
	}), gocron.WithName("sync "+k.connectorID.String()+" "+k.rt+" "+cron))
	if err != nil {
		return fmt.Errorf("schedule the sync of %s %s on %q: %w", k.connectorID, k.rt, cron, err)
	}
	e.syncSchedules[k] = registeredSchedule{cron: cron, job: j.ID()}
	return nil
}

// fireSyncSchedule is a tick of a sync schedule on this replica: it queues the tick's job,
// unless another replica already has.
func (e *Engine) fireSyncSchedule(ctx context.Context, k syncKey, cron string) {
	now := e.clock.Now().UTC()
	tick, err := workflow.NextFire(cron, now.Add(-tickWindow))
	if err != nil || tick.After(now) {
		e.log.Warn("sync schedule fired too late to tell its tick", "connector_id", k.connectorID, "resource_type", k.rt, "cron", cron, "at", now)
		return
	}
	if _, err := e.jobs.Insert(ctx, syncTickArgs{ConnectorID: k.connectorID, ResourceType: k.rt, Tick: tick}, nil); err != nil {
		e.log.Error("queue scheduled sync", "connector_id", k.connectorID, "resource_type", k.rt, "tick", tick, "error", err)
	}
}

// syncTickArgs is one tick of a sync schedule; River keeps it unique by all of its args.
type syncTickArgs struct {
	ConnectorID  uuid.UUID `json:"connectorId"`
	ResourceType string    `json:"resourceType"`
	Tick         time.Time `json:"tick"`
}

func (syncTickArgs) Kind() string { return "sync_tick" }

func (syncTickArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 10, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

type syncTickWorker struct {
	river.WorkerDefaults[syncTickArgs]
	engine *Engine
}

func (w *syncTickWorker) Work(ctx context.Context, job *river.Job[syncTickArgs]) error {
	return w.engine.startScheduledSync(ctx, job.Args)
}

// startScheduledSync starts the run of one tick. A tick that no longer applies (the schedule
// changed or was turned off since), or that finds a run still going, starts nothing.
func (e *Engine) startScheduledSync(ctx context.Context, args syncTickArgs) error {
	tick := args.Tick.UTC()
	row, err := db.FindSyncConfig(ctx, e.db.Bun, args.ConnectorID, args.ResourceType)
	if errors.Is(err, db.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	cron := scheduleOf(row.Config)
	if cron == "" {
		return nil
	}
	if next, err := workflow.NextFire(cron, tick.Add(-time.Second)); err != nil || !next.Equal(tick) {
		e.log.Info("sync tick skipped: the schedule changed", "connector_id", args.ConnectorID, "tick", tick)
		return nil
	}
	_, err = e.startSyncRun(ctx, syncActor, args.ConnectorID, args.ResourceType, SyncStart{}, syncSchedule, &tick, nil)
	var conflict *ConflictError
	var noSync *NoSyncError
	switch {
	case db.IsUniqueViolation(err, db.SyncRunTickConstraint):
		return nil
	case errors.As(err, &conflict), errors.As(err, &noSync), errors.Is(err, db.ErrNotFound):
		e.log.Info("scheduled sync not started", "connector_id", args.ConnectorID, "resource_type", args.ResourceType, "tick", tick, "reason", err)
		return nil
	}
	return err
}
