package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"floh/connectors"
	"floh/db"
	"floh/engine/sync"
)

// A sync run (PRODUCT §3) goes through two phases, each resumable:
//
//  1. fetching: the connector's listing is read page by page into the run's staging table.
//     Each page and the progress that says how far the listing got (its cursor) commit
//     together, so a run taken up again after its process died goes on after the last staged
//     page. Memory holds one page however large the directory.
//  2. applying: one transaction turns the staged listing into the cache (writing only
//     changed records), stales what a complete full listing did not return, purges what is
//     stale past retention, matches users, creates and deactivates users, maps attributes
//     and starts post-sync workflows. Nothing of it is visible until it commits, so the
//     deletion guard or the workflow cap can hold the run with nothing changed (the
//     transaction rolls back, the staged listing stays for Allow), and a dry run rolls it all
//     back but its change report.
//
// The River job that works a run has no timeout (River v0.41 has no heartbeat; a directory
// of a million users takes minutes); a session advisory lock keeps a rescued job from
// working a run its first worker still works.

// Sync run phases, shown beside the progress bar.
const (
	phaseQueued    = "queued"
	phaseFetching  = "fetching"
	phaseApplying  = "applying"
	phaseMatching  = "matching"
	phaseLifecycle = "lifecycle"
	phaseMapping   = "mapping"
	phaseWorkflows = "workflows"
	phaseHeld      = "held"
	phaseDone      = "done"
)

// Sync run triggers.
const (
	syncManual   = "manual"
	syncSchedule = "schedule"
	syncRecord   = "record"
)

// SyncStart starts a run: a dry run changes nothing; Strategy overrides the configured one.
type SyncStart struct {
	DryRun   bool   `json:"dryRun"`
	Strategy string `json:"strategy"`
}

// StartSync starts a run of a (connector, resource type). The run row and its job commit
// together before it returns.
func (e *Engine) StartSync(ctx context.Context, a Actor, connectorID uuid.UUID, rt string, in SyncStart) (*db.SyncRun, error) {
	return e.startSyncRun(ctx, a, connectorID, rt, in, syncManual, nil, nil)
}

func (e *Engine) startSyncRun(ctx context.Context, a Actor, connectorID uuid.UUID, rt string, in SyncStart, trigger string, tick *time.Time, externalID *string) (*db.SyncRun, error) {
	if in.Strategy != "" && in.Strategy != sync.StrategyFull && in.Strategy != sync.StrategyIncremental {
		return nil, Invalid("strategy", "must be full or incremental, not %q", in.Strategy)
	}
	var run *db.SyncRun
	err := e.inTx(ctx, func(tx bun.Tx) error {
		c, err := e.syncTarget(ctx, tx, connectorID, rt)
		if err != nil {
			return err
		}
		if !c.Enabled {
			return Conflict("connector %s is disabled; enable it on its Configuration tab before syncing it", c.Name)
		}
		if active, err := db.FindActiveSyncRun(ctx, tx, connectorID, rt); err == nil {
			return activeRunConflict(c, active)
		} else if !errors.Is(err, db.ErrNotFound) {
			return err
		}
		cfg, err := e.storedSyncConfig(ctx, tx, connectorID, rt)
		if err != nil {
			return err
		}
		strategy := cmp.Or(in.Strategy, cfg.Strategy)
		if trigger == syncRecord {
			// One record is looked up, not listed: nothing else is staled, and whether it
			// changed since the last run does not matter.
			strategy = sync.StrategyIncremental
		}
		raw, err := json.Marshal(cfg)
		if err != nil {
			return err
		}
		now := e.now()
		run = &db.SyncRun{
			ID: uuid.New(), ConnectorID: c.ID, ResourceType: rt, Status: db.SyncPending, Phase: phaseQueued,
			Strategy: strategy, DryRun: in.DryRun, Trigger: trigger, ScheduledFor: tick, ExternalID: externalID,
			StartedBy: a.UserID, StartedByLabel: a.Label, Config: raw, Stats: json.RawMessage(`{}`),
			CreatedAt: now, UpdatedAt: now,
		}
		if strategy == sync.StrategyIncremental && trigger != syncRecord {
			last, err := db.LastSyncRun(ctx, tx, c.ID, rt, true, false)
			if err == nil {
				run.Since = last.StartedAt
			} else if !errors.Is(err, db.ErrNotFound) {
				return err
			}
		}
		if strategy == sync.StrategyFull {
			live, err := db.CountLiveSyncResources(ctx, tx, c.ID, rt)
			if err != nil {
				return err
			}
			run.Expected = &live
		}
		if err := db.InsertSyncRun(ctx, tx, run); err != nil {
			return err
		}
		if trigger != syncRecord {
			if _, err := e.jobs.InsertTx(ctx, tx.Tx, syncRunArgs{RunID: run.ID}, nil); err != nil {
				return fmt.Errorf("queue sync run: %w", err)
			}
		}
		if err := e.syncEvent(ctx, tx, c, run, "started", "info", fmt.Sprintf("Sync of %ss started (%s, %s)", rt, strategy, trigger)); err != nil {
			return err
		}
		return e.audit(ctx, tx, a, "connector", c.ID.String(), "connector.sync_started", nil, map[string]any{
			"runId": run.ID, "resourceType": rt, "strategy": strategy, "dryRun": in.DryRun, "trigger": trigger,
		})
	})
	if db.IsUniqueViolation(err, db.SyncRunActiveConstraint) {
		return nil, Conflict("a sync of this connector's %ss is already running; wait for it to finish or cancel it", rt)
	}
	if err != nil {
		return nil, err
	}
	return run, nil
}

func activeRunConflict(c *db.Connector, r *db.SyncRun) error {
	if r.Status == db.SyncAwaitingApproval {
		return Conflict("a sync of %s's %ss (run %s) is awaiting approval: allow or cancel it before starting another", c.Name, r.ResourceType, r.ID)
	}
	return Conflict("a sync of %s's %ss (run %s) is already %s; wait for it to finish or cancel it", c.Name, r.ResourceType, r.ID, r.Status)
}

// SyncRecord syncs one record now: it is looked up by its external id and goes through the
// whole pipeline (a record gone upstream is staled), in this request. The deletion guard does
// not apply: an admin asked for this record.
func (e *Engine) SyncRecord(ctx context.Context, a Actor, connectorID uuid.UUID, rt, externalID string) (*db.SyncRun, error) {
	if externalID == "" {
		return nil, Invalid("externalId", "is required: the id of the record in the upstream system")
	}
	if len(externalID) > 1024 {
		return nil, Invalid("externalId", "must be at most 1024 characters")
	}
	run, err := e.startSyncRun(ctx, a, connectorID, rt, SyncStart{}, syncRecord, nil, &externalID)
	if err != nil {
		return nil, err
	}
	if err := e.workSyncRun(ctx, run.ID); err != nil {
		return nil, err
	}
	return db.FindSyncRun(ctx, e.db.Bun, run.ID)
}

// resumeSyncRuns queues a job for every run left pending or running, when this process
// starts: a run whose process died would otherwise wait for River to rescue its job, an hour
// later. A run another replica is still working keeps its advisory lock, and the extra job
// finds it locked and ends.
func (e *Engine) resumeSyncRuns(ctx context.Context) error {
	runs, err := db.ListUnfinishedSyncRuns(ctx, e.db.Bun)
	if err != nil {
		return err
	}
	for _, r := range runs {
		if _, err := e.jobs.Insert(ctx, syncRunArgs{RunID: r.ID}, nil); err != nil {
			return fmt.Errorf("queue sync run %s: %w", r.ID, err)
		}
	}
	return nil
}

// syncRunArgs is the job that works a sync run.
type syncRunArgs struct {
	RunID uuid.UUID `json:"runId"`
}

func (syncRunArgs) Kind() string { return "sync_run" }

// InsertOpts: a job that fails (the database went away) is retried and resumes the run.
func (syncRunArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 10} }

type syncRunWorker struct {
	river.WorkerDefaults[syncRunArgs]
	engine *Engine
}

// Timeout: none. A sync of a large directory takes minutes; River would otherwise cancel it
// after one.
func (w *syncRunWorker) Timeout(*river.Job[syncRunArgs]) time.Duration { return -1 }

func (w *syncRunWorker) Work(ctx context.Context, job *river.Job[syncRunArgs]) error {
	return w.engine.workSyncRun(ctx, job.Args.RunID)
}

// errSyncCancelled stops a listing when an admin cancels the run.
var errSyncCancelled = errors.New("sync run cancelled")

// errListingFull stops a listing at the configured maxRecords.
var errListingFull = errors.New("maxRecords reached")

// workSyncRun works a run from where it is to its end, a hold or a failure. Connector and
// data problems end the run as failed; only a database failure is returned (River retries
// the job, which resumes the run).
func (e *Engine) workSyncRun(ctx context.Context, runID uuid.UUID) error {
	conn, err := e.db.SQL.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var locked bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(hashtextextended($1, 7413))`, runID.String()).Scan(&locked); err != nil {
		return fmt.Errorf("lock sync run: %w", err)
	}
	if !locked {
		return nil
	}
	defer func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtextextended($1, 7413))`, runID.String())
	}()

	run, err := db.FindSyncRun(ctx, e.db.Bun, runID)
	if err != nil {
		return err
	}
	if run.Status != db.SyncPending && run.Status != db.SyncRunning {
		return nil
	}
	c, err := db.FindConnector(ctx, e.db.Bun, run.ConnectorID)
	if err != nil {
		return err
	}
	cfg := sync.Default()
	if err := json.Unmarshal(run.Config, &cfg); err != nil {
		return e.failSync(ctx, c, run, fmt.Errorf("the run's configuration is unreadable: %w", err))
	}
	if run.Status == db.SyncPending {
		now := e.now()
		run.Status, run.Phase, run.StartedAt, run.UpdatedAt = db.SyncRunning, phaseFetching, &now, now
		if err := db.UpdateSyncRun(ctx, e.db.Bun, run); err != nil {
			return err
		}
	}
	found := true
	if run.Phase == phaseQueued || run.Phase == phaseFetching {
		found, err = e.fetchSync(ctx, c, run, &cfg)
		switch {
		case ctx.Err() != nil:
			// The process is stopping: the run stays running, and its job, retried or
			// rescued, goes on after the last staged page.
			return ctx.Err()
		case errors.Is(err, errSyncCancelled):
			return e.finishCancelled(ctx, c, run)
		case err != nil && isDBError(err):
			return err
		case err != nil:
			return e.failSync(ctx, c, run, err)
		}
	}
	return e.applySync(ctx, c, run, &cfg, found)
}

// isDBError tells a failure of Floh's own database, which River should retry, from a
// connector's or the data's.
func isDBError(err error) bool {
	var ce *connectors.Error
	return !errors.As(err, &ce)
}

// fetchSync stages the run's listing, resuming after its last staged page. For a one-record
// run it reports whether the record exists upstream.
func (e *Engine) fetchSync(ctx context.Context, c *db.Connector, run *db.SyncRun, cfg *sync.Config) (bool, error) {
	staged, err := db.CreateStaging(ctx, e.db.Bun, run.ID)
	if err != nil {
		return false, err
	}
	if staged != run.Fetched {
		// The unlogged staging table lost its rows (the database restarted) or holds a page
		// whose progress never committed: the listing starts again.
		if err := db.TruncateStaging(ctx, e.db.Bun, run.ID); err != nil {
			return false, err
		}
		run.Cursor, run.Fetched = "", 0
	}
	inst, _, err := e.instantiate(c)
	if err != nil {
		return false, err
	}
	if run.Trigger == syncRecord {
		return e.fetchRecord(ctx, inst, run)
	}
	lister, ok := inst.(connectors.Lister)
	if !ok {
		return false, connectors.Errorf(connectors.InvalidInput, "NOT_LISTABLE", "the %s connector type cannot list %ss", c.Type, run.ResourceType)
	}
	restarted := false
	for {
		opts := connectors.ListOptions{Cursor: run.Cursor}
		if run.Since != nil {
			opts.Since = *run.Since
		}
		err = listAhead(ctx, func(ctx context.Context, yield func(connectors.Page) error) error {
			return lister.List(ctx, run.ResourceType, opts, yield)
		}, func(p connectors.Page) error {
			// A page listed is staged even when the process stops meanwhile, as it was when
			// listing waited for staging: its commit takes milliseconds, and the run resumes
			// after it.
			return e.stagePage(context.WithoutCancel(ctx), run, cfg, p)
		})
		var ce *connectors.Error
		if errors.As(err, &ce) && ce.Code == "STALE_CURSOR" && !restarted {
			// The entry the listing stopped after is gone upstream: list again from the start.
			restarted = true
			if err := db.TruncateStaging(ctx, e.db.Bun, run.ID); err != nil {
				return false, err
			}
			run.Cursor, run.Fetched = "", 0
			continue
		}
		break
	}
	if errors.Is(err, errListingFull) {
		err = nil
	}
	if err != nil {
		return false, err
	}
	return true, e.setSyncPhase(ctx, run, phaseApplying)
}

// listAhead lists pages through list and stages each through stage in a goroutine of its
// own, so that the connector reads the next page from upstream while the last is hashed and
// copied into staging: done one after the other, each left the other's core idle (listing
// 1,000,000 people from slapd and staging them took 32 s in turn on two cores). Pages are
// staged one at a time, in order, and at most one more is held, listed ahead. Once staging
// fails (a database error, a cancel, maxRecords) the listing stops at its next page, which is
// dropped unstaged, and the staging error is the answer; a listing that fails leaves what it
// listed before staged.
func listAhead(ctx context.Context, list func(context.Context, func(connectors.Page) error) error, stage func(connectors.Page) error) error {
	listCtx, stopListing := context.WithCancelCause(ctx)
	defer stopListing(nil)
	pages := make(chan connectors.Page)
	var stageErr error
	staged := make(chan struct{})
	go func() {
		defer close(staged)
		for p := range pages {
			if stageErr = stage(p); stageErr != nil {
				stopListing(stageErr)
				return
			}
		}
	}()
	listErr := list(listCtx, func(p connectors.Page) error {
		select {
		case pages <- p:
			return nil
		case <-listCtx.Done():
			return context.Cause(listCtx)
		}
	})
	close(pages)
	<-staged
	if stageErr != nil {
		return stageErr
	}
	return listErr
}

// fetchRecord stages the one record of a record run, if it exists upstream.
func (e *Engine) fetchRecord(ctx context.Context, inst connectors.Connector, run *db.SyncRun) (bool, error) {
	getter, ok := inst.(connectors.RecordGetter)
	if !ok {
		return false, connectors.Errorf(connectors.InvalidInput, "NOT_GETTABLE", "this connector type cannot fetch one %s by its id; run a full sync instead", run.ResourceType)
	}
	rec, err := getter.GetRecord(ctx, run.ResourceType, *run.ExternalID)
	var ce *connectors.Error
	found := true
	switch {
	case errors.As(err, &ce) && ce.Code == "RECORD_NOT_FOUND":
		found = false
	case err != nil:
		return false, err
	}
	var recs []db.StagedRecord
	if found {
		sr, err := stagedRecord(rec)
		if err != nil {
			return false, err
		}
		recs = append(recs, sr)
	}
	err = db.StagePage(ctx, e.db, run.ID, 0, recs, func(tx bun.Tx) error {
		run.Fetched, run.Phase, run.UpdatedAt = len(recs), phaseApplying, e.now()
		return db.UpdateSyncRun(ctx, tx, run)
	})
	return found, err
}

func stagedRecord(r connectors.Record) (db.StagedRecord, error) {
	raw, h, err := sync.Encode(r)
	if err != nil {
		return db.StagedRecord{}, connectors.Errorf(connectors.TargetError, "UNREADABLE_RECORD", "record %s cannot be stored: %v", r.ExternalID, err)
	}
	return db.StagedRecord{ExternalID: r.ExternalID, Username: r.Username, Email: r.Email, DisplayName: r.DisplayName, Attributes: raw, Hash: h}, nil
}

// stagePage keeps what the filters keep of one page, stages it with the run's progress, and
// stops the listing when the run is cancelled or maxRecords is reached.
func (e *Engine) stagePage(ctx context.Context, run *db.SyncRun, cfg *sync.Config, p connectors.Page) error {
	recs := make([]db.StagedRecord, 0, len(p.Records))
	full := false
	for _, r := range p.Records {
		if r.ExternalID == "" || !cfg.Filters.Keep(r) {
			continue
		}
		if max := cfg.Filters.MaxRecords; max > 0 && run.Fetched+len(recs) >= max {
			full = true
			break
		}
		sr, err := stagedRecord(r)
		if err != nil {
			return err
		}
		recs = append(recs, sr)
	}
	if max := cfg.Filters.MaxRecords; max > 0 && run.Fetched+len(recs) >= max && p.NextCursor != "" {
		full = true
	}
	var cancel bool
	err := db.StagePage(ctx, e.db, run.ID, run.Fetched, recs, func(tx bun.Tx) error {
		var err error
		cancel, err = db.RecordSyncProgress(ctx, tx, run.ID, p.NextCursor, run.Fetched+len(recs), full, e.now())
		return err
	})
	if err != nil {
		return err
	}
	run.Cursor, run.Fetched, run.Truncated = p.NextCursor, run.Fetched+len(recs), run.Truncated || full
	switch {
	case cancel:
		return errSyncCancelled
	case full:
		return errListingFull
	}
	return nil
}

func (e *Engine) setSyncPhase(ctx context.Context, run *db.SyncRun, phase string) error {
	cancel, err := db.SetSyncRunPhase(ctx, e.db.Bun, run.ID, phase, e.now())
	if err != nil {
		return err
	}
	run.Phase = phase
	if cancel {
		return errSyncCancelled
	}
	return nil
}

// errSyncHold and errDryRun roll the apply transaction back on purpose.
var (
	errSyncHold = errors.New("sync run holds for approval")
	errDryRun   = errors.New("dry run")
)

// applySync is the apply phase, in one transaction.
func (e *Engine) applySync(ctx context.Context, c *db.Connector, run *db.SyncRun, cfg *sync.Config, found bool) error {
	var (
		stats sync.Stats
		hold  *sync.Hold
	)
	full := run.Strategy == sync.StrategyFull && run.Trigger != syncRecord
	rt := run.ResourceType
	err := e.inTx(ctx, func(tx bun.Tx) error {
		now := e.now()
		var err error
		if stats.Fetched, err = db.PrepareApply(ctx, tx, run.ID, c.ID, rt); err != nil {
			return err
		}
		if stats.Added, err = db.WriteAdded(ctx, tx, c.ID, rt, now); err != nil {
			return fmt.Errorf("write added records: %w", err)
		}
		if stats.Updated, err = db.WriteUpdated(ctx, tx, now); err != nil {
			return fmt.Errorf("write updated records: %w", err)
		}
		stats.Unchanged = stats.Fetched - stats.Added - stats.Updated
		switch {
		case full && !run.Truncated:
			stats.Stale, err = db.MarkStale(ctx, tx, c.ID, rt, nil, now)
		case run.Trigger == syncRecord && !found:
			stats.Stale, err = db.MarkStale(ctx, tx, c.ID, rt, run.ExternalID, now)
		}
		if err != nil {
			return fmt.Errorf("mark stale records: %w", err)
		}
		retention, err := sync.ParseRetention(cfg.StaleRetention)
		if err != nil {
			return connectors.Errorf(connectors.InvalidInput, "INVALID_CONFIG", "staleRetention: %v", err)
		}
		if stats.Purged, err = db.PurgeStale(ctx, tx, c.ID, rt, now.Add(-retention)); err != nil {
			return fmt.Errorf("purge stale records: %w", err)
		}
		if rt == connectors.ResourceUser {
			if err := e.setSyncPhase(ctx, run, phaseMatching); err != nil {
				return err
			}
			if err := e.matchAndLifecycle(ctx, tx, c, run, cfg, &stats, full, now); err != nil {
				return err
			}
		}
		if run.Trigger != syncRecord && run.AllowedAt == nil {
			live := 0
			if run.Expected != nil {
				live = *run.Expected
			}
			if h := cfg.DeletionGuard.Check(live, stats.Stale, stats.Deactivated); h != nil {
				if !run.DryRun {
					hold = h
					return errSyncHold
				}
				run.Hold = mustJSON(h)
			}
		}
		if rt == connectors.ResourceUser && len(cfg.AttributeMappings) > 0 {
			if err := e.setSyncPhase(ctx, run, phaseMapping); err != nil {
				return err
			}
			if stats.Mapped, err = applyMappings(ctx, tx, c.ID, cfg, now); err != nil {
				return err
			}
		}
		if rt == connectors.ResourceUser {
			counts, err := db.CountMatchStatuses(ctx, tx, c.ID)
			if err != nil {
				return err
			}
			stats.MatchedExact, stats.MatchedProbable, stats.Ambiguous = counts["matched_exact"], counts["matched_probable"], counts["ambiguous"]
			stats.Unmatched, stats.Skipped, stats.Manual = counts["unmatched"], counts["skipped"], counts["manual"]
		}
		if !run.DryRun && cfg.TriggerMode != sync.TriggerNone && cfg.PostSyncWorkflowID != "" {
			if err := e.setSyncPhase(ctx, run, phaseWorkflows); err != nil {
				return err
			}
			if hold, err = e.startPostSync(ctx, tx, c, run, cfg, &stats); err != nil {
				return err
			} else if hold != nil {
				return errSyncHold
			}
		}
		// Lock the run until commit, and honour a cancel that came in meanwhile: a cancel
		// after this point finds the run completed.
		if cancel, err := db.SetSyncRunPhase(ctx, tx, run.ID, run.Phase, now); err != nil {
			return err
		} else if cancel {
			return errSyncCancelled
		}
		if run.DryRun {
			rows, err := db.ReportRows(ctx, tx)
			if err != nil {
				return err
			}
			_, err = db.CopySyncChanges(ctx, e.db, run.ID, rows)
			rows.Close()
			if err != nil {
				return err
			}
			return errDryRun
		}
		if err := db.SaveReport(ctx, tx, run.ID); err != nil {
			return err
		}
		return e.finishSync(ctx, tx, c, run, stats)
	})
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, errSyncCancelled):
		return e.finishCancelled(ctx, c, run)
	case errors.Is(err, errSyncHold):
		return e.holdSync(ctx, c, run, stats, hold)
	case errors.Is(err, errDryRun):
		return e.inTx(ctx, func(tx bun.Tx) error { return e.finishSync(ctx, tx, c, run, stats) })
	case err != nil && !isDBError(err):
		return e.failSync(ctx, c, run, err)
	case err != nil:
		// A statement of the pipeline failed: retrying it would fail the same way, so the
		// run fails with what Postgres said, and the connector's data is left as it was.
		e.log.Error("sync apply failed", "run_id", run.ID, "error", err)
		return e.failSync(ctx, c, run, fmt.Errorf("applying the listing failed: %w", err))
	}
	return nil
}

// matchAndLifecycle matches the connector's user records and applies Create users,
// identities and Deactivate users.
func (e *Engine) matchAndLifecycle(ctx context.Context, tx bun.Tx, c *db.Connector, run *db.SyncRun, cfg *sync.Config, stats *sync.Stats, full bool, now time.Time) error {
	rules, err := matchRules(cfg)
	if err != nil {
		return err
	}
	if _, err := db.MatchUsers(ctx, tx, c.ID, rules); err != nil {
		return fmt.Errorf("match users: %w", err)
	}
	if cfg.CreateUsers {
		if err := e.setSyncPhase(ctx, run, phaseLifecycle); err != nil {
			return err
		}
		defaults, err := newUserDefaults(cfg.CreateUserDefaults)
		if err != nil {
			return err
		}
		if stats.Created, err = db.CreateSyncUsers(ctx, tx, c.ID, rules[0], defaults, now); err != nil {
			return fmt.Errorf("create users: %w", err)
		}
		if stats.SkippedNoEmail, err = db.CountUnmatchedWithoutEmail(ctx, tx, c.ID); err != nil {
			return err
		}
	}
	if err := db.SyncIdentities(ctx, tx, c.ID, now); err != nil {
		return err
	}
	if cfg.DeactivateUsers && full && !run.Truncated {
		if stats.Deactivated, err = db.DeactivateSyncUsers(ctx, tx, now); err != nil {
			return fmt.Errorf("deactivate users: %w", err)
		}
	}
	return nil
}

func matchRules(cfg *sync.Config) ([]db.MatchRule, error) {
	p, err := sync.ParsePath(cfg.IssuerSourcePath)
	if err != nil {
		return nil, connectors.Errorf(connectors.InvalidInput, "INVALID_CONFIG", "issuerSourcePath: %v", err)
	}
	var rules []db.MatchRule
	for _, s := range append([]string{cfg.UserMatchStrategy}, cfg.UserMatchFallbackStrategies...) {
		rules = append(rules, db.MatchRule{Strategy: s, IssuerField: p.Field, IssuerKeys: p.Keys})
	}
	return rules, nil
}

func newUserDefaults(d map[string]string) (db.NewUserDefaults, error) {
	out := db.NewUserDefaults{}
	custom := map[string]string{}
	for k, v := range d {
		v := v
		switch k {
		case "title":
			out.Title = &v
		case "department":
			out.Department = &v
		case "location":
			out.Location = &v
		case "costCenter":
			out.CostCenter = &v
		case "startDate":
			out.StartDate = &v
		default:
			custom[k[len("custom."):]] = v
		}
	}
	raw, err := json.Marshal(custom)
	out.Custom = raw
	return out, err
}

var mappingColumns = map[string]string{"title": "title", "department": "department", "location": "location", "costCenter": "cost_center", "startDate": "start_date"}

func applyMappings(ctx context.Context, tx bun.Tx, connectorID uuid.UUID, cfg *sync.Config, now time.Time) (int, error) {
	total := 0
	for i, m := range cfg.AttributeMappings {
		if !m.Enabled || m.WriteMode == sync.NeverOverwrite {
			continue
		}
		p, err := sync.ParsePath(m.SourcePath)
		if err != nil {
			return 0, connectors.Errorf(connectors.InvalidInput, "INVALID_CONFIG", "attributeMappings[%d].sourcePath: %v", i, err)
		}
		t := db.MappingTarget{Name: m.TargetField, Column: mappingColumns[m.TargetField], Date: m.TargetField == "startDate"}
		if t.Column == "" {
			t.Custom = m.TargetField[len("custom."):]
		}
		n, err := db.ApplyMapping(ctx, tx, connectorID, p.Field, p.Keys, t, m.WriteMode == sync.OverwriteIfEmpty, now)
		if err != nil {
			return 0, fmt.Errorf("map %s to %s: %w", m.SourcePath, m.TargetField, err)
		}
		total += n
	}
	return total, nil
}

// finishSync completes a run: its stats, events, and the connector's sync incident moves to
// monitoring.
func (e *Engine) finishSync(ctx context.Context, tx bun.Tx, c *db.Connector, run *db.SyncRun, stats sync.Stats) error {
	now := e.now()
	run.Status, run.Phase, run.Stats, run.FinishedAt, run.UpdatedAt = db.SyncCompleted, phaseDone, mustJSON(stats), &now, now
	if err := db.UpdateSyncRun(ctx, tx, run); err != nil {
		return err
	}
	what := "Sync"
	if run.DryRun {
		what = "Dry run"
	}
	msg := fmt.Sprintf("%s of %ss completed: %d fetched, %d added, %d updated, %d stale", what, run.ResourceType, stats.Fetched, stats.Added, stats.Updated, stats.Stale)
	if err := e.syncEvent(ctx, tx, c, run, "succeeded", "info", msg); err != nil {
		return err
	}
	if err := db.DropStaging(ctx, tx, run.ID); err != nil {
		return err
	}
	if run.DryRun {
		return nil
	}
	_, err := e.reportRecoveryTx(ctx, tx, "connector_sync", connectorSubject(c), msg)
	return err
}

// holdSync leaves a run awaiting approval with nothing committed, and tells the admins.
func (e *Engine) holdSync(ctx context.Context, c *db.Connector, run *db.SyncRun, stats sync.Stats, h *sync.Hold) error {
	return e.inTx(ctx, func(tx bun.Tx) error {
		now := e.now()
		run.Status, run.Phase, run.Stats, run.Hold, run.UpdatedAt = db.SyncAwaitingApproval, phaseHeld, mustJSON(stats), mustJSON(h), now
		if err := db.UpdateSyncRun(ctx, tx, run); err != nil {
			return err
		}
		if err := e.syncEvent(ctx, tx, c, run, "held", "warning", h.Message); err != nil {
			return err
		}
		return e.notifyAdmins(ctx, tx, Notice{
			Kind: "sync_held", Title: fmt.Sprintf("Sync of %s's %ss awaits approval", c.Name, run.ResourceType),
			Body: h.Message, Link: syncTabLink(c.ID, run.ResourceType),
		})
	})
}

func syncTabLink(connectorID uuid.UUID, rt string) string {
	return "/connectors/" + connectorID.String() + "/sync/" + rt
}

// failSync ends a run as failed with nothing of it applied. A failed scheduled run opens or
// extends the connector's sync incident.
func (e *Engine) failSync(ctx context.Context, c *db.Connector, run *db.SyncRun, cause error) error {
	msg := cause.Error()
	err := e.inTx(ctx, func(tx bun.Tx) error {
		now := e.now()
		run.Status, run.Phase, run.Error, run.FinishedAt, run.UpdatedAt = db.SyncFailed, phaseDone, &msg, &now, now
		if err := db.UpdateSyncRun(ctx, tx, run); err != nil {
			return err
		}
		if err := db.DropStaging(ctx, tx, run.ID); err != nil {
			return err
		}
		return e.syncEvent(ctx, tx, c, run, "failed", "critical", fmt.Sprintf("Sync of %ss failed: %s", run.ResourceType, msg))
	})
	if err != nil {
		return err
	}
	if run.Trigger == syncSchedule {
		_, err = e.ReportFailure(ctx, Failure{
			Kind: "connector_sync", Severity: "critical", Subject: connectorSubject(c),
			Title:   fmt.Sprintf("Scheduled sync of %s is failing", c.Name),
			Message: fmt.Sprintf("The scheduled %s sync of %ss failed: %s", run.Strategy, run.ResourceType, msg),
			Data:    map[string]any{"runId": run.ID, "resourceType": run.ResourceType},
			Link:    syncTabLink(c.ID, run.ResourceType),
		})
	}
	return err
}

func (e *Engine) finishCancelled(ctx context.Context, c *db.Connector, run *db.SyncRun) error {
	return e.inTx(ctx, func(tx bun.Tx) error {
		now := e.now()
		run.Status, run.Phase, run.FinishedAt, run.UpdatedAt = db.SyncCancelled, phaseDone, &now, now
		if err := db.UpdateSyncRun(ctx, tx, run); err != nil {
			return err
		}
		return db.DropStaging(ctx, tx, run.ID)
	})
}

func connectorSubject(c *db.Connector) db.Subject {
	return db.Subject{Kind: "connector", ID: c.ID.String(), Name: c.Name}
}

func (e *Engine) syncEvent(ctx context.Context, tx bun.Tx, c *db.Connector, run *db.SyncRun, action, severity, msg string) error {
	data := mustJSON(map[string]any{"runId": run.ID, "resourceType": run.ResourceType, "strategy": run.Strategy, "dryRun": run.DryRun, "trigger": run.Trigger})
	return db.InsertEvent(ctx, tx, &db.Event{
		At: e.now(), SubType: "connector_sync", Action: action, Severity: severity,
		Subject: connectorSubject(c), Message: msg, Data: data,
	})
}

// AllowSync releases a run held by the deletion guard or the workflow cap: it applies what it
// staged, past the guard.
func (e *Engine) AllowSync(ctx context.Context, a Actor, runID uuid.UUID) (*db.SyncRun, error) {
	var run *db.SyncRun
	err := e.inTx(ctx, func(tx bun.Tx) error {
		var err error
		if run, err = db.FindSyncRunForUpdate(ctx, tx, runID); err != nil {
			return err
		}
		if run.Status != db.SyncAwaitingApproval {
			return Conflict("run %s is %s, not awaiting approval; only a held run can be allowed", run.ID, run.Status)
		}
		c, err := db.FindConnector(ctx, tx, run.ConnectorID)
		if err != nil {
			return err
		}
		now := e.now()
		run.Status, run.Phase, run.AllowedBy, run.AllowedAt, run.UpdatedAt = db.SyncRunning, phaseApplying, &a.Label, &now, now
		if err := db.UpdateSyncRun(ctx, tx, run); err != nil {
			return err
		}
		if _, err := e.jobs.InsertTx(ctx, tx.Tx, syncRunArgs{RunID: run.ID}, nil); err != nil {
			return fmt.Errorf("queue sync run: %w", err)
		}
		if err := e.syncEvent(ctx, tx, c, run, "allowed", "warning", fmt.Sprintf("%s allowed the held sync of %ss", a.Label, run.ResourceType)); err != nil {
			return err
		}
		return e.audit(ctx, tx, a, "connector", c.ID.String(), "connector.sync_allowed", nil, map[string]any{"runId": run.ID, "hold": run.Hold})
	})
	if err != nil {
		return nil, err
	}
	return run, nil
}

// CancelSync cancels a run: one that is queued or held ends at once (a held run's staged
// listing is dropped, nothing applied); a running one stops at its next page or phase.
func (e *Engine) CancelSync(ctx context.Context, a Actor, runID uuid.UUID) (*db.SyncRun, error) {
	var run *db.SyncRun
	err := e.inTx(ctx, func(tx bun.Tx) error {
		var err error
		if run, err = db.FindSyncRunForUpdate(ctx, tx, runID); err != nil {
			return err
		}
		if run.Finished() {
			return Conflict("run %s has already %s", run.ID, run.Status)
		}
		now := e.now()
		if run.Status == db.SyncRunning {
			run.CancelRequested, run.UpdatedAt = true, now
		} else {
			run.Status, run.Phase, run.CancelRequested, run.FinishedAt, run.UpdatedAt = db.SyncCancelled, phaseDone, true, &now, now
			if err := db.DropStaging(ctx, tx, run.ID); err != nil {
				return err
			}
		}
		if err := db.UpdateSyncRun(ctx, tx, run); err != nil {
			return err
		}
		return e.audit(ctx, tx, a, "connector", run.ConnectorID.String(), "connector.sync_cancelled", nil, map[string]any{"runId": run.ID})
	})
	if err != nil {
		return nil, err
	}
	return run, nil
}

// SyncRun loads a run.
func (e *Engine) SyncRun(ctx context.Context, id uuid.UUID) (*db.SyncRun, error) {
	return db.FindSyncRun(ctx, e.db.Bun, id)
}

// SyncRuns lists a (connector, resource type)'s runs, newest first.
func (e *Engine) SyncRuns(ctx context.Context, connectorID uuid.UUID, rt string, p db.Page) ([]db.SyncRun, int, error) {
	if _, err := e.syncTarget(ctx, e.db.Bun, connectorID, rt); err != nil {
		return nil, 0, err
	}
	return db.ListSyncRuns(ctx, e.db.Bun, connectorID, rt, p)
}

// SyncChanges lists a page of a run's change report, optionally of one kind.
func (e *Engine) SyncChanges(ctx context.Context, runID uuid.UUID, kind string, p db.Page) ([]db.SyncChange, int, error) {
	if kind != "" && !slices.Contains(db.SyncChangeKinds, kind) {
		return nil, 0, Invalid("kind", "must be one of %v, not %q", db.SyncChangeKinds, kind)
	}
	if _, err := db.FindSyncRun(ctx, e.db.Bun, runID); err != nil {
		return nil, 0, err
	}
	return db.ListSyncChanges(ctx, e.db.Bun, runID, kind, p)
}
