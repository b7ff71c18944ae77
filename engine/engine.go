// Package engine is Floh's domain layer: every write goes through it, inside one transaction
// with its audit entry, events and jobs.
package engine

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jonboulle/clockwork"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/uptrace/bun"

	"floh/connectors"
	"floh/db"
)

// Mailer sends mail through SMTP_URL. The SMTP implementation lives in connectors/email;
// the engine only needs this much of it.
type Mailer interface {
	// SendMail sends one plain-text message.
	SendMail(ctx context.Context, to []string, subject, body string) error
	// SendMessage sends one message with a text body and, when html is set, an HTML
	// alternative; a failure is a classified *connectors.Error.
	SendMessage(ctx context.Context, to []string, subject, text, html string) error
}

// Options configures an Engine.
type Options struct {
	DB      *db.DB
	Clock   clockwork.Clock // nil: the real clock
	Logger  *slog.Logger    // nil: slog.Default()
	BaseURL string          // absolute URL of the app, for links in emails
	Mailer  Mailer          // nil: notifications are in-app only

	// Connectors are the connector types this server offers.
	Connectors *connectors.Registry
	// SecretKey seals connector secrets (32 bytes); SecretKeyPrevious, during a key rotation,
	// still opens what the old key sealed.
	SecretKey, SecretKeyPrevious []byte
	// MockConnectors puts every connector in mock mode (system level; a call's useMock wins).
	MockConnectors bool
	// HealthInterval is how often enabled connectors are tested; 0 means DefaultHealthInterval.
	HealthInterval time.Duration
	// StuckRunTimeout fails a run that makes no progress for this long
	// (STUCK_RUN_TIMEOUT_MINUTES); 0 means DefaultStuckRunTimeout.
	StuckRunTimeout time.Duration
	// RescueStuckJobsAfter is how long a River job may stay running before River takes its
	// process for dead (crashed or killed) and works the job again; 0 means
	// DefaultRescueStuckJobsAfter. River rescues a job only once its timeout has passed too,
	// so this also bounds the jobs' timeouts: a step attempt still running after this long
	// is cut off and made again. It must exceed the longest step timeout.
	RescueStuckJobsAfter time.Duration
}

// fetchCooldown is the least time between two fetches of a River worker, and between two
// insert notifications of one client: a step transition waits at most this long for its next
// job to be picked up.
const fetchCooldown = 2 * time.Millisecond

// DefaultHealthInterval is how often connectors are tested unless configured otherwise.
const DefaultHealthInterval = 5 * time.Minute

// DefaultRescueStuckJobsAfter is River's own default, above the longest step timeout.
const DefaultRescueStuckJobsAfter = time.Hour

// Engine is the domain service shared by handlers, the CLI and background work.
type Engine struct {
	db      *db.DB
	clock   clockwork.Clock
	log     *slog.Logger
	baseURL string
	mailer  Mailer

	registry       *connectors.Registry
	secrets        *secretBox
	mockAll        bool
	healthInterval time.Duration
	stuckTimeout   time.Duration
	rescueAfter    time.Duration
	// definitions caches parsed workflow versions, which never change once published.
	definitions sync.Map // versionKey → *workflow.Definition

	workers *river.Workers
	// jobs inserts River jobs inside the transaction of the state change that causes them.
	jobs *river.Client[*sql.Tx]
	// runner works the jobs; nil until Start.
	runner *river.Client[pgx.Tx]
	sched  gocron.Scheduler

	// scheduleMu orders changes to schedules, this replica's cron jobs of scheduled
	// workflows (schedules.go), and guards sched while Start sets it.
	scheduleMu sync.Mutex
	schedules  map[uuid.UUID]registeredSchedule
	// syncSchedules are this replica's cron jobs of scheduled syncs (sync_schedule.go).
	syncSchedules map[syncKey]registeredSchedule
}

// New builds an Engine. It does not start background work; see Start.
func New(opts Options) (*Engine, error) {
	e := &Engine{
		db:      opts.DB,
		clock:   opts.Clock,
		log:     opts.Logger,
		baseURL: opts.BaseURL,
		mailer:  opts.Mailer,

		registry:       opts.Connectors,
		mockAll:        opts.MockConnectors,
		healthInterval: opts.HealthInterval,
		stuckTimeout:   opts.StuckRunTimeout,
		rescueAfter:    opts.RescueStuckJobsAfter,
		schedules:      map[uuid.UUID]registeredSchedule{},
		syncSchedules:  map[syncKey]registeredSchedule{},
	}
	if e.registry == nil {
		return nil, errors.New("engine: no connector registry")
	}
	if e.healthInterval <= 0 {
		e.healthInterval = DefaultHealthInterval
	}
	if e.stuckTimeout <= 0 {
		e.stuckTimeout = DefaultStuckRunTimeout
	}
	if e.rescueAfter <= 0 {
		e.rescueAfter = DefaultRescueStuckJobsAfter
	}
	var err error
	if e.secrets, err = newSecretBox(opts.SecretKey, opts.SecretKeyPrevious); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if e.clock == nil {
		e.clock = clockwork.NewRealClock()
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	e.workers = river.NewWorkers()
	river.AddWorker(e.workers, &notifyEmailWorker{engine: e})
	river.AddWorker(e.workers, &runStepWorker{engine: e})
	river.AddWorker(e.workers, &scheduledStartWorker{engine: e})
	river.AddWorker(e.workers, &syncRunWorker{engine: e})
	river.AddWorker(e.workers, &syncTickWorker{engine: e})
	// The insert client's FetchCooldown also limits how often its inserts NOTIFY the workers:
	// left at River's 100 ms, a step's next job would wait for that, or for the next poll.
	jobs, err := river.NewClient(riverdatabasesql.New(e.db.SQL), &river.Config{Workers: e.workers, Logger: e.log, FetchCooldown: fetchCooldown})
	if err != nil {
		return nil, fmt.Errorf("river insert client: %w", err)
	}
	e.jobs = jobs
	return e, nil
}

// Clock is the engine's clock, shared with the session and scheduling code.
func (e *Engine) Clock() clockwork.Clock { return e.clock }

// now is the current time at the database's precision, so values read back compare equal.
func (e *Engine) now() time.Time {
	return e.clock.Now().UTC().Truncate(time.Microsecond)
}

// Start runs the River job worker and the gocron scheduler, with the schedules of the
// scheduled workflows, until Stop.
func (e *Engine) Start(ctx context.Context) error {
	runner, err := river.NewClient(riverpgxv5.New(e.db.Pool), &river.Config{
		Queues:        map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 10}},
		Workers:       e.workers,
		FetchCooldown: fetchCooldown,
		// Inserts notify the workers at most once per fetchCooldown, so a job inserted just
		// after another may go unannounced; the poll bounds how long it can wait (River's
		// default of 1 s stalled a run's next step that long). An idle poll is one query.
		FetchPollInterval: 100 * time.Millisecond,
		Logger:            e.log,
		// A job stays running after its process died until River's leader rescues it; the
		// step worker then takes its claim up again (RUNS.md, S3).
		RescueStuckJobsAfter: e.rescueAfter,
		// River refuses a rescue sooner than the timeout of jobs whose worker sets none
		// (notification emails), so a shorter rescue shortens that timeout too.
		JobTimeout: min(river.JobTimeoutDefault, e.rescueAfter),
	})
	if err != nil {
		return fmt.Errorf("river client: %w", err)
	}
	if err := runner.Start(ctx); err != nil {
		return fmt.Errorf("start river: %w", err)
	}
	e.runner = runner

	sched, err := gocron.NewScheduler(gocron.WithClock(e.clock), gocron.WithLocation(time.UTC))
	if err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	// Housekeeping is idempotent and row-locked, so every replica may run it on its own tick.
	_, err = sched.NewJob(gocron.DurationJob(time.Minute), gocron.NewTask(func() {
		e.housekeeping(context.WithoutCancel(ctx))
	}), gocron.WithSingletonMode(gocron.LimitModeReschedule))
	if err != nil {
		return fmt.Errorf("schedule housekeeping: %w", err)
	}
	_, err = sched.NewJob(gocron.DurationJob(e.healthInterval), gocron.NewTask(func() {
		if _, err := e.CheckConnectorHealth(context.WithoutCancel(ctx)); err != nil {
			e.log.Error("connector health check", "error", err)
		}
	}), gocron.WithSingletonMode(gocron.LimitModeReschedule))
	if err != nil {
		return fmt.Errorf("schedule connector health checks: %w", err)
	}
	if err := e.startSchedules(ctx, sched); err != nil {
		return err
	}
	if err := e.startSyncSchedules(ctx, sched); err != nil {
		return err
	}
	if err := e.resumeSyncRuns(ctx); err != nil {
		e.log.Error("resume sync runs", "error", err)
	}
	sched.Start()
	return nil
}

// Stop lets running jobs finish (up to ctx's deadline), then stops the scheduler.
func (e *Engine) Stop(ctx context.Context) error {
	var errs []error
	if e.sched != nil {
		errs = append(errs, e.sched.Shutdown())
	}
	if e.runner != nil {
		errs = append(errs, e.runner.Stop(ctx))
	}
	return errors.Join(errs...)
}

func (e *Engine) housekeeping(ctx context.Context) {
	if _, err := e.AgeIncidents(ctx); err != nil {
		e.log.Error("age incidents", "error", err)
	}
	if _, err := db.PurgeOIDCStates(ctx, e.db.Bun, e.now()); err != nil {
		e.log.Error("purge oidc states", "error", err)
	}
	if _, err := db.PurgeExecutions(ctx, e.db.Bun, e.now().Add(-executionRetention)); err != nil {
		e.log.Error("purge connector executions", "error", err)
	}
	if _, err := e.FailStuckRuns(ctx); err != nil {
		e.log.Error("fail stuck runs", "error", err)
	}
}

func (e *Engine) inTx(ctx context.Context, fn func(tx bun.Tx) error) error {
	return e.db.Bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error { return fn(tx) })
}

// Actor is who caused a change, as the audit log records it.
type Actor struct {
	UserID  *uuid.UUID
	Label   string // email, or "system" / "cli"
	TokenID *uuid.UUID
	IP      string
}

// audit appends an entry in tx. before and after are marshalled as JSON; nil means absent.
func (e *Engine) audit(ctx context.Context, tx bun.IDB, a Actor, entity, entityID, action string, before, after any) error {
	entry := &db.AuditEntry{
		At:      e.now(),
		ActorID: a.UserID,
		Actor:   a.Label,
		TokenID: a.TokenID,
		Entity:  entity,
		Action:  action,
	}
	if entityID != "" {
		entry.EntityID = &entityID
	}
	if a.IP != "" {
		entry.IP = &a.IP
	}
	var err error
	if entry.Before, err = jsonOrNil(before); err != nil {
		return err
	}
	if entry.After, err = jsonOrNil(after); err != nil {
		return err
	}
	return db.InsertAudit(ctx, tx, entry)
}

func jsonOrNil(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("marshal audit state: %w", err)
	}
	return b, nil
}
