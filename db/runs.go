package db

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Run statuses.
const (
	RunPending   = "pending"
	RunRunning   = "running"
	RunWaiting   = "waiting"
	RunCompleted = "completed"
	RunFailed    = "failed"
	RunCancelled = "cancelled"
)

// Step execution statuses.
const (
	StepPending         = "pending"
	StepRunning         = "running"
	StepWaitingApproval = "waiting_approval"
	StepWaitingResponse = "waiting_response"
	StepCompleted       = "completed"
	StepFailed          = "failed"
	StepSkipped         = "skipped"
	StepCancelled       = "cancelled"
)

// RunActor is who started a run: a user, or a label such as "system" alone.
type RunActor struct {
	ID    *uuid.UUID `bun:"id,type:uuid" json:"id"`
	Label string     `bun:"label" json:"label"`
}

// Run is one execution of a pinned workflow version.
type Run struct {
	bun.BaseModel `bun:"table:runs"`

	ID           uuid.UUID       `bun:"id,pk,type:uuid" json:"id"`
	WorkflowID   uuid.UUID       `bun:"workflow_id,type:uuid" json:"workflowId"`
	Version      int             `bun:"version" json:"version"`
	WorkflowName string          `bun:"workflow_name" json:"workflowName"`
	Status       string          `bun:"status" json:"status"`
	Variables    json.RawMessage `bun:"variables,type:jsonb" json:"variables"`
	UseMocks     bool            `bun:"use_mocks" json:"useMocks"`
	SubjectType  *string         `bun:"subject_type" json:"subjectType"`
	SubjectID    *string         `bun:"subject_id" json:"subjectId"`
	StartedBy    RunActor        `bun:"embed:started_by_" json:"startedBy"`
	StartedAt    time.Time       `bun:"started_at" json:"startedAt"`
	FinishedAt   *time.Time      `bun:"finished_at" json:"finishedAt"`
	UpdatedAt    time.Time       `bun:"updated_at" json:"updatedAt"`
	Error        json.RawMessage `bun:"error,type:jsonb,nullzero" json:"error"`

	ParentRunID           *uuid.UUID `bun:"parent_run_id,type:uuid" json:"parentRunId,omitempty"`
	ParentStepExecutionID *uuid.UUID `bun:"parent_step_execution_id,type:uuid" json:"-"`
	CompensationOf        *uuid.UUID `bun:"compensation_of,type:uuid" json:"compensationOf,omitempty"`
	// ScheduledFor is the tick of the workflow's schedule that started the run.
	ScheduledFor *time.Time `bun:"scheduled_for" json:"scheduledFor,omitempty"`
	// Definition is set on a rollback run only: the steps built from its original's plan.
	Definition json.RawMessage `bun:"definition,type:jsonb,nullzero" json:"-"`
}

// RunScheduleTickConstraint is the unique index that lets a schedule's tick start one run.
const RunScheduleTickConstraint = "runs_schedule_tick"

// Finished reports whether the run has reached a final status. A failed run may still be
// retried from its failed step.
func (r *Run) Finished() bool {
	return r.Status == RunCompleted || r.Status == RunFailed || r.Status == RunCancelled
}

// InsertRun stores a new run; the caller sets every field.
func InsertRun(ctx context.Context, idb bun.IDB, r *Run) error {
	if _, err := idb.NewInsert().Model(r).Exec(ctx); err != nil {
		return fmt.Errorf("insert run: %w", err)
	}
	return nil
}

// UpdateRun writes the mutable columns of r.
func UpdateRun(ctx context.Context, idb bun.IDB, r *Run) error {
	return UpdateRunWithTimeline(ctx, idb, r, nil, nil)
}

// FindRun loads a run by id.
func FindRun(ctx context.Context, idb bun.IDB, id uuid.UUID) (*Run, error) {
	r := new(Run)
	if err := idb.NewSelect().Model(r).Where("id = ?", id).Scan(ctx); err != nil {
		return nil, fmt.Errorf("find run %s: %w", id, notFound(err))
	}
	return r, nil
}

// FindRunForUpdate loads a run and locks its row until the transaction ends: every change of
// a run or of its step executions holds this lock, so they never interleave.
func FindRunForUpdate(ctx context.Context, tx bun.Tx, id uuid.UUID) (*Run, error) {
	r, rs := new(Run), new(runScan)
	err := tx.Tx.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = $1 FOR UPDATE`, id).Scan(rs.dest(r)...)
	if err != nil {
		return nil, fmt.Errorf("find run %s: %w", id, notFound(err))
	}
	rs.done(r)
	return r, nil
}

// runColumns are the columns runScan reads, in its order.
const runColumns = `id, workflow_id, version, workflow_name, status, variables, use_mocks, subject_type, subject_id,
	started_by_id, started_by_label, started_at, finished_at, updated_at, error, parent_run_id, parent_step_execution_id,
	compensation_of, definition, scheduled_for`

// runScan holds a run's JSON columns while a row is scanned: database/sql cannot scan a NULL
// into a json.RawMessage.
type runScan struct{ variables, err, definition []byte }

func (rs *runScan) dest(r *Run) []any {
	return []any{&r.ID, &r.WorkflowID, &r.Version, &r.WorkflowName, &r.Status, &rs.variables, &r.UseMocks,
		&r.SubjectType, &r.SubjectID, &r.StartedBy.ID, &r.StartedBy.Label, &r.StartedAt, &r.FinishedAt, &r.UpdatedAt, &rs.err,
		&r.ParentRunID, &r.ParentStepExecutionID, &r.CompensationOf, &rs.definition, &r.ScheduledFor}
}

func (rs *runScan) done(r *Run) {
	r.Variables, r.Error, r.Definition = rs.variables, rs.err, rs.definition
}

// qualified prefixes each column of a column list with a table alias.
func qualified(alias, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// RunFilter selects runs for a list.
type RunFilter struct {
	Status      string
	WorkflowID  *uuid.UUID
	SubjectType string
	SubjectID   string
	// StartedByID, when set, keeps the runs that user started.
	StartedByID *uuid.UUID
	Page        Page
}

// ListRuns returns one page of runs, newest first, and the total matching the filter.
func ListRuns(ctx context.Context, idb bun.IDB, f RunFilter) ([]Run, int, error) {
	rs := []Run{}
	q := idb.NewSelect().Model(&rs)
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.WorkflowID != nil {
		q = q.Where("workflow_id = ?", *f.WorkflowID)
	}
	if f.SubjectType != "" {
		q = q.Where("subject_type = ?", f.SubjectType)
	}
	if f.SubjectID != "" {
		q = q.Where("subject_id = ?", f.SubjectID)
	}
	if f.StartedByID != nil {
		q = q.Where("started_by_id = ?", *f.StartedByID)
	}
	total, err := f.Page.apply(q.OrderExpr("started_at DESC, id DESC")).ScanAndCount(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list runs: %w", err)
	}
	return rs, int(total), nil
}

// ListUserRuns returns one page of a user's workflow activity, newest first, and the total:
// the runs whose subject is the user, and the runs the user started.
func ListUserRuns(ctx context.Context, idb bun.IDB, userID uuid.UUID, p Page) ([]Run, int, error) {
	rs := []Run{}
	q := idb.NewSelect().Model(&rs).WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
		return q.Where("subject_type = 'user' AND subject_id = ?", userID.String()).WhereOr("started_by_id = ?", userID)
	})
	total, err := p.apply(q.OrderExpr("started_at DESC, id DESC")).ScanAndCount(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list runs of user %s: %w", userID, err)
	}
	return rs, int(total), nil
}

// ListActiveChildRuns returns the sub-workflow runs of parent that have not finished.
func ListActiveChildRuns(ctx context.Context, idb bun.IDB, parent uuid.UUID) ([]uuid.UUID, error) {
	var ids []uuid.UUID
	err := idb.NewSelect().Model((*Run)(nil)).Column("id").
		Where("parent_run_id = ?", parent).Where("status IN (?)", bun.In([]string{RunPending, RunRunning, RunWaiting})).
		OrderExpr("started_at, id").Scan(ctx, &ids)
	if err != nil {
		return nil, fmt.Errorf("list child runs of %s: %w", parent, err)
	}
	return ids, nil
}

// LockStuckRun finds one pending or running run that has made no progress since cutoff, and
// locks it. Progress is the run's last transition, or later when one of its steps is
// expected to act later (a scheduled retry, a running attempt's timeout). SKIP LOCKED lets
// replicas share the check and never waits on a run that is moving right now.
func LockStuckRun(ctx context.Context, tx bun.Tx, cutoff time.Time) (*Run, error) {
	r := new(Run)
	err := tx.NewSelect().Model(r).
		Where("status IN (?)", bun.In([]string{RunPending, RunRunning})).
		Where("updated_at < ?", cutoff).
		Where(`NOT EXISTS (SELECT 1 FROM step_executions s WHERE s.run_id = run.id
			AND s.status IN (?) AND s.due_at >= ?)`, bun.In([]string{StepPending, StepRunning}), cutoff).
		OrderExpr("updated_at").Limit(1).For("UPDATE SKIP LOCKED").Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("find a stuck run: %w", notFound(err))
	}
	return r, nil
}

// StepExecution is one execution of a step in a run.
type StepExecution struct {
	bun.BaseModel `bun:"table:step_executions"`

	ID             uuid.UUID       `bun:"id,pk,type:uuid" json:"id"`
	RunID          uuid.UUID       `bun:"run_id,type:uuid" json:"runId"`
	Seq            int             `bun:"seq" json:"seq"`
	StepID         string          `bun:"step_id" json:"stepId"`
	Name           string          `bun:"step_name" json:"name"`
	Type           string          `bun:"step_type" json:"type"`
	Iteration      int             `bun:"iteration" json:"iteration"`
	Status         string          `bun:"status" json:"status"`
	Attempts       int             `bun:"attempts" json:"attempts"`
	IdempotencyKey string          `bun:"idempotency_key" json:"idempotencyKey"`
	JobID          *int64          `bun:"job_id" json:"-"`
	DueAt          *time.Time      `bun:"due_at" json:"dueAt"`
	StartedAt      *time.Time      `bun:"started_at" json:"startedAt"`
	FinishedAt     *time.Time      `bun:"finished_at" json:"finishedAt"`
	Output         json.RawMessage `bun:"output,type:jsonb,nullzero" json:"output"`
	Error          json.RawMessage `bun:"error,type:jsonb,nullzero" json:"error"`
	ChildRunID     *uuid.UUID      `bun:"child_run_id,type:uuid" json:"childRunId,omitempty"`
}

// Active reports whether the execution still has work ahead of it.
func (s *StepExecution) Active() bool {
	switch s.Status {
	case StepPending, StepRunning, StepWaitingApproval, StepWaitingResponse:
		return true
	}
	return false
}

// InsertNextStepExecution stores s as the run's next step execution: it sets s.Seq (after
// the run's last) and s.Iteration (how many times the run has reached the step, this one
// included), and the idempotency key every attempt of it carries, which is a plain UUID
// derived from (run, step, iteration) alone, so it fits any header and is the same however
// often it is computed. The caller sets the other fields and holds the run's lock.
func InsertNextStepExecution(ctx context.Context, idb bun.IDB, s *StepExecution) error {
	err := params(idb).QueryRowContext(ctx, `WITH pos AS (
			SELECT coalesce(max(seq), 0) + 1 AS seq, count(*) FILTER (WHERE step_id = $3) + 1 AS iteration
			FROM step_executions WHERE run_id = $2)
		INSERT INTO step_executions (id, run_id, seq, step_id, step_name, step_type, iteration, status, idempotency_key)
		SELECT $1, $2, pos.seq, $3, $4, $5, pos.iteration, $6, md5($2::text || '/' || $3 || '/' || pos.iteration)::uuid::text
		FROM pos RETURNING seq, iteration, idempotency_key`,
		s.ID, s.RunID, s.StepID, s.Name, s.Type, s.Status).Scan(&s.Seq, &s.Iteration, &s.IdempotencyKey)
	if err != nil {
		return fmt.Errorf("insert step execution in run %s: %w", s.RunID, err)
	}
	return nil
}

// ClaimStep locks run runID (see FindRunForUpdate) and, if the run is pending or running,
// starts attempt n of its step execution id for River job jobID; it returns both as they are
// then. Only the job of the next attempt finds the execution claimable, or the same job again
// (River rescues or retries a job whose worker died mid-attempt); a duplicate delivery, a
// finished or waiting run's job or a job of an attempt already made gets ErrNotFound. The
// attempt is due to end at due, which the caller may correct once it knows the step.
//
// One statement does what a step's claim needs (lock, claim, and the step_started entry in the
// run's timeline), so each step saves two round trips. Postgres takes the run's lock before
// it updates the execution, and re-reads an execution changed after the statement began.
func ClaimStep(ctx context.Context, tx bun.Tx, runID, id uuid.UUID, n int, jobID int64, now, due time.Time) (*Run, *StepExecution, error) {
	r, rs, se, ss := new(Run), new(runScan), new(StepExecution), new(stepExecutionScan)
	err := tx.Tx.QueryRowContext(ctx, `WITH run AS (SELECT `+runColumns+` FROM runs WHERE id = $1 FOR UPDATE),
		claim AS (UPDATE step_executions AS se
			SET status = 'running', attempts = $3, job_id = $4, due_at = $6, started_at = coalesce(se.started_at, $5)
			FROM run WHERE se.id = $2 AND se.run_id = run.id AND run.status IN ('pending', 'running')
				AND ((se.status = 'pending' AND se.attempts = $3 - 1) OR (se.status = 'running' AND se.attempts = $3 AND se.job_id = $4))
			RETURNING se.*),
		started AS (INSERT INTO run_timeline (run_id, at, step_id, step_execution_id, kind, message, data)
			SELECT run_id, $5, step_id, id, 'step_started', format('Step %s started (attempt %s)', step_name, attempts),
				jsonb_build_object('attempt', attempts) FROM claim)
		SELECT `+qualified("run", runColumns)+`, `+qualified("claim", stepExecutionColumns)+` FROM run, claim`,
		runID, id, n, jobID, now, due).Scan(append(rs.dest(r), ss.dest(se)...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("claim step execution %s: %w", id, notFound(err))
	}
	rs.done(r)
	ss.done(se)
	return r, se, nil
}

// UpdateStepExecution writes the mutable columns of s if the row still has status and
// attempts as the caller last saw them, and reports whether it did: a run cancelled or a step
// taken over meanwhile keeps what it has.
func UpdateStepExecution(ctx context.Context, idb bun.IDB, s *StepExecution, status string, attempts int) (bool, error) {
	res, err := params(idb).ExecContext(ctx, `UPDATE step_executions SET status = $2, attempts = $3, job_id = $4,
		due_at = $5, started_at = $6, finished_at = $7, output = $8, error = $9, child_run_id = $10
		WHERE id = $1 AND status = $11 AND attempts = $12`,
		s.ID, s.Status, s.Attempts, s.JobID, s.DueAt, s.StartedAt, s.FinishedAt, jsonParam(s.Output), jsonParam(s.Error),
		s.ChildRunID, status, attempts)
	if err != nil {
		return false, fmt.Errorf("update step execution %s: %w", s.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("update step execution %s: %w", s.ID, err)
	}
	return n == 1, nil
}

// FindStepExecution loads a step execution by id.
func FindStepExecution(ctx context.Context, idb bun.IDB, id uuid.UUID) (*StepExecution, error) {
	s, ss := new(StepExecution), new(stepExecutionScan)
	err := params(idb).QueryRowContext(ctx, `SELECT `+stepExecutionColumns+` FROM step_executions WHERE id = $1`, id).Scan(ss.dest(s)...)
	if err != nil {
		return nil, fmt.Errorf("find step execution %s: %w", id, notFound(err))
	}
	ss.done(s)
	return s, nil
}

// stepExecutionColumns are the columns stepExecutionScan reads, in its order.
const stepExecutionColumns = `id, run_id, seq, step_id, step_name, step_type, iteration, status, attempts,
	idempotency_key, job_id, due_at, started_at, finished_at, output, error, child_run_id`

// stepExecutionScan holds an execution's JSON columns while a row is scanned.
type stepExecutionScan struct{ output, err []byte }

func (ss *stepExecutionScan) dest(s *StepExecution) []any {
	return []any{&s.ID, &s.RunID, &s.Seq, &s.StepID, &s.Name, &s.Type, &s.Iteration, &s.Status, &s.Attempts,
		&s.IdempotencyKey, &s.JobID, &s.DueAt, &s.StartedAt, &s.FinishedAt, &ss.output, &ss.err, &s.ChildRunID}
}

func (ss *stepExecutionScan) done(s *StepExecution) { s.Output, s.Error = ss.output, ss.err }

// ListStepExecutions returns a run's step executions in execution order.
func ListStepExecutions(ctx context.Context, idb bun.IDB, runID uuid.UUID) ([]StepExecution, error) {
	ss := []StepExecution{}
	if err := idb.NewSelect().Model(&ss).Where("run_id = ?", runID).OrderExpr("seq").Scan(ctx); err != nil {
		return nil, fmt.Errorf("list steps of run %s: %w", runID, err)
	}
	return ss, nil
}

// TimelineEntry is one event of a run.
type TimelineEntry struct {
	bun.BaseModel `bun:"table:run_timeline"`

	ID              int64           `bun:"id,pk,autoincrement" json:"id"`
	RunID           uuid.UUID       `bun:"run_id,type:uuid" json:"runId"`
	At              time.Time       `bun:"at" json:"at"`
	StepID          *string         `bun:"step_id" json:"stepId"`
	StepExecutionID *uuid.UUID      `bun:"step_execution_id,type:uuid" json:"stepExecutionId"`
	Kind            string          `bun:"kind" json:"kind"`
	Message         string          `bun:"message" json:"message"`
	Data            json.RawMessage `bun:"data,type:jsonb,nullzero" json:"data"`
}

// InsertTimeline appends entries to runs' timelines.
func InsertTimeline(ctx context.Context, idb bun.IDB, entries []TimelineEntry) error {
	if len(entries) == 0 {
		return nil
	}
	if _, err := params(idb).ExecContext(ctx, `INSERT INTO run_timeline (run_id, at, step_id, step_execution_id, kind, message, data)
		`+timelineRows, timelineArgs(entries)...); err != nil {
		return fmt.Errorf("insert run timeline: %w", err)
	}
	return nil
}

// UpdateRunWithTimeline writes the mutable columns of r and appends entries to its timeline,
// and x, when set, to its connector's execution log, in one statement: every step transition
// does these, and a round trip saved there is one saved per step.
func UpdateRunWithTimeline(ctx context.Context, idb bun.IDB, r *Run, entries []TimelineEntry, x *Execution) error {
	args := append(timelineArgs(entries), r.Status, jsonParam(r.Variables), r.SubjectType, r.SubjectID, r.FinishedAt,
		r.UpdatedAt, jsonParam(r.Error), r.ID)
	if x == nil {
		x = &Execution{}
	}
	connector := uuid.NullUUID{UUID: x.ConnectorID, Valid: x.ConnectorID != uuid.Nil}
	args = append(args, connector, x.At, x.Source, x.Actor, x.Command, jsonParam(x.Params), x.Mock, x.Success, x.DurationMS,
		jsonParam(x.Output), jsonParam(x.Error))
	_, err := params(idb).ExecContext(ctx, `WITH run AS (UPDATE runs SET status = $8, variables = $9, subject_type = $10,
			subject_id = $11, finished_at = $12, updated_at = $13, error = $14 WHERE id = $15),
		execution AS (INSERT INTO connector_executions (connector_id, at, source, actor, command, params, mock, success,
				duration_ms, output, error)
			SELECT $16, $17, $18, $19, $20, coalesce($21::jsonb, '{}'), $22, $23, $24, $25, $26 WHERE $16::uuid IS NOT NULL)
		INSERT INTO run_timeline (run_id, at, step_id, step_execution_id, kind, message, data) `+timelineRows, args...)
	if err != nil {
		return fmt.Errorf("update run %s: %w", r.ID, err)
	}
	return nil
}

// timelineRows selects the rows of timelineArgs ($1 to $7). The entries travel as one array
// per column, so the statement's text is the same however many there are.
const timelineRows = `SELECT r, a, s, e, k, m, d::jsonb
	FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::uuid[], $5::text[], $6::text[], $7::text[]) AS t (r, a, s, e, k, m, d)`

func timelineArgs(entries []TimelineEntry) []any {
	n := len(entries)
	runs, ats, kinds, messages := make([]uuid.UUID, n), make([]time.Time, n), make([]string, n), make([]string, n)
	steps, executions, data := make([]*string, n), make([]*uuid.UUID, n), make([]*string, n)
	for i, e := range entries {
		runs[i], ats[i], kinds[i], messages[i], steps[i], executions[i] = e.RunID, e.At, e.Kind, e.Message, e.StepID, e.StepExecutionID
		if len(e.Data) > 0 {
			d := string(e.Data)
			data[i] = &d
		}
	}
	return []any{runs, ats, steps, executions, kinds, messages, data}
}

// ListTimeline returns a run's timeline, oldest first.
func ListTimeline(ctx context.Context, idb bun.IDB, runID uuid.UUID) ([]TimelineEntry, error) {
	es := []TimelineEntry{}
	if err := idb.NewSelect().Model(&es).Where("run_id = ?", runID).OrderExpr("id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("timeline of run %s: %w", runID, err)
	}
	return es, nil
}

// FindCompensationRun returns the id of the rollback run of a run, or nil when it has none.
func FindCompensationRun(ctx context.Context, idb bun.IDB, id uuid.UUID) (*uuid.UUID, error) {
	var ids []uuid.UUID
	err := idb.NewSelect().Model((*Run)(nil)).Column("id").Where("compensation_of = ?", id).
		OrderExpr("started_at, id").Limit(1).Scan(ctx, &ids)
	if err != nil {
		return nil, fmt.Errorf("find the rollback of run %s: %w", id, err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return &ids[0], nil
}
