package db

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
)

// Task kinds.
const (
	TaskApproval   = "approval"
	TaskManualTask = "manual_task"
)

// Task statuses. Queued, open and on_hold are active; the others are terminal.
const (
	TaskQueued    = "queued"
	TaskOpen      = "open"
	TaskOnHold    = "on_hold"
	TaskCompleted = "completed"
	TaskApproved  = "approved"
	TaskRejected  = "rejected"
	TaskExpired   = "expired"
	TaskCancelled = "cancelled"
)

// Task is one person's part in a run: an approver slot of an approval step, or a manual task.
type Task struct {
	bun.BaseModel `bun:"table:tasks,alias:t"`

	ID              uuid.UUID  `bun:"id,pk,type:uuid,default:gen_random_uuid()" json:"id"`
	Kind            string     `bun:"kind" json:"kind"`
	RunID           uuid.UUID  `bun:"run_id,type:uuid" json:"runId"`
	StepExecutionID uuid.UUID  `bun:"step_execution_id,type:uuid" json:"stepExecutionId"`
	Slot            int        `bun:"slot" json:"slot"`
	Mode            string     `bun:"mode" json:"mode,omitempty"`
	Title           string     `bun:"title" json:"title"`
	Instructions    string     `bun:"instructions" json:"instructions"`
	Status          string     `bun:"status" json:"status"`
	AssigneeID      *uuid.UUID `bun:"assignee_id,type:uuid" json:"assigneeId"`
	AssigneeRole    *string    `bun:"assignee_role" json:"assigneeRole"`
	HoldReason      *string    `bun:"hold_reason" json:"holdReason"`
	Comment         *string    `bun:"comment" json:"comment"`
	DecidedByID     *uuid.UUID `bun:"decided_by_id,type:uuid" json:"decidedById"`
	DecidedByLabel  *string    `bun:"decided_by_label" json:"decidedBy"`
	DecidedAt       *time.Time `bun:"decided_at" json:"decidedAt"`
	DueAt           *time.Time `bun:"due_at" json:"dueAt"`
	CreatedAt       time.Time  `bun:"created_at" json:"createdAt"`
	UpdatedAt       time.Time  `bun:"updated_at" json:"updatedAt"`
}

// Active reports whether the task still waits for someone.
func (t *Task) Active() bool {
	return t.Status == TaskQueued || t.Status == TaskOpen || t.Status == TaskOnHold
}

// TaskView is a task with what its inbox shows around it: the run, the step and the people.
type TaskView struct {
	Task `bun:",extend"`

	WorkflowName  string     `bun:"workflow_name" json:"workflowName"`
	StepID        string     `bun:"step_id" json:"stepId"`
	StepName      string     `bun:"step_name" json:"stepName"`
	RunStatus     string     `bun:"run_status" json:"runStatus"`
	RequestedByID *uuid.UUID `bun:"requested_by_id,type:uuid" json:"requestedById"`
	RequestedBy   string     `bun:"requested_by" json:"requestedBy"`
	AssigneeEmail *string    `bun:"assignee_email" json:"assigneeEmail"`
	AssigneeName  *string    `bun:"assignee_name" json:"assigneeName"`
	SubjectType   *string    `bun:"subject_type" json:"subjectType"`
	SubjectID     *string    `bun:"subject_id" json:"subjectId"`
	RunStartedAt  time.Time  `bun:"run_started_at" json:"runStartedAt"`
	// Slots is how many tasks the step execution opened: an approval's approvers, so a slot
	// reads "approver 2 of 3".
	Slots int `bun:"slots" json:"slots"`
}

// InsertTasks stores the tasks of a step execution in one statement.
func InsertTasks(ctx context.Context, idb bun.IDB, ts []Task) error {
	if len(ts) == 0 {
		return nil
	}
	if _, err := idb.NewInsert().Model(&ts).Returning("id").Exec(ctx); err != nil {
		return fmt.Errorf("insert tasks: %w", err)
	}
	return nil
}

// UpdateTask writes a task's mutable columns.
func UpdateTask(ctx context.Context, idb bun.IDB, t *Task) error {
	_, err := idb.NewUpdate().Model(t).
		Column("status", "assignee_id", "assignee_role", "hold_reason", "comment", "decided_by_id", "decided_by_label",
			"decided_at", "due_at", "updated_at").
		WherePK().Exec(ctx)
	if err != nil {
		return fmt.Errorf("update task %s: %w", t.ID, err)
	}
	return nil
}

// FindTask loads a task by id.
func FindTask(ctx context.Context, idb bun.IDB, id uuid.UUID) (*Task, error) {
	t := new(Task)
	if err := idb.NewSelect().Model(t).Where("t.id = ?", id).Scan(ctx); err != nil {
		return nil, fmt.Errorf("find task %s: %w", id, notFound(err))
	}
	return t, nil
}

// FindTaskView loads a task with its inbox context.
func FindTaskView(ctx context.Context, idb bun.IDB, id uuid.UUID) (*TaskView, error) {
	v := new(TaskView)
	if err := selectTaskViews(idb, v).Where("t.id = ?", id).Scan(ctx); err != nil {
		return nil, fmt.Errorf("find task %s: %w", id, notFound(err))
	}
	return v, nil
}

// ListStepTasks lists the tasks of a step execution by slot.
func ListStepTasks(ctx context.Context, idb bun.IDB, stepExecutionID uuid.UUID) ([]Task, error) {
	ts := []Task{}
	if err := idb.NewSelect().Model(&ts).Where("t.step_execution_id = ?", stepExecutionID).OrderExpr("t.slot").Scan(ctx); err != nil {
		return nil, fmt.Errorf("list step tasks: %w", err)
	}
	return ts, nil
}

// EndActiveTasks gives every active task of a step execution a terminal status, and returns
// the tasks it ended.
func EndActiveTasks(ctx context.Context, idb bun.IDB, stepExecutionID uuid.UUID, status string, at time.Time) ([]Task, error) {
	ts := []Task{}
	_, err := idb.NewUpdate().Model(&ts).
		Set("status = ?, updated_at = ?", status, at).
		Where("step_execution_id = ? AND status IN (?)", stepExecutionID, bun.In([]string{TaskQueued, TaskOpen, TaskOnHold})).
		Returning("*").Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("end tasks: %w", err)
	}
	return ts, nil
}

// CancelRunTasks cancels every active task of a run.
func CancelRunTasks(ctx context.Context, idb bun.IDB, runID uuid.UUID, at time.Time) error {
	_, err := idb.NewUpdate().Model((*Task)(nil)).
		Set("status = ?, updated_at = ?", TaskCancelled, at).
		Where("run_id = ? AND status IN (?)", runID, bun.In([]string{TaskQueued, TaskOpen, TaskOnHold})).Exec(ctx)
	if err != nil {
		return fmt.Errorf("cancel run tasks: %w", err)
	}
	return nil
}

// forUser keeps the tasks a user may act on: held by them, or held by no one and for one of
// their roles. Its arguments are the user's id and their roles as an array.
const forUser = "(t.assignee_id = ? OR (t.assignee_id IS NULL AND t.assignee_role = ANY(?::text[])))"

// TaskFilter selects tasks for an inbox.
type TaskFilter struct {
	Kind string
	// Statuses to include; empty means the active ones people act on (open, on_hold).
	Statuses []string
	// For, when set, keeps the tasks this user may act on: held by them, or unheld and for a
	// role they have.
	For *uuid.UUID
	// Roles are For's system roles.
	Roles []string
	RunID *uuid.UUID
	Q     string
	// RecentFirst orders by the last change, newest first (a list of decided tasks), instead
	// of longest waiting first.
	RecentFirst bool
	Page
}

// ListTasks returns one page of tasks, oldest first (the longest waiting comes first), and the
// total.
func ListTasks(ctx context.Context, idb bun.IDB, f TaskFilter) ([]TaskView, int, error) {
	vs := []TaskView{}
	q := selectTaskViews(idb, &vs)
	if f.Kind != "" {
		q = q.Where("t.kind = ?", f.Kind)
	}
	statuses := f.Statuses
	if len(statuses) == 0 {
		statuses = []string{TaskOpen, TaskOnHold}
	}
	q = q.Where("t.status IN (?)", bun.In(statuses))
	if f.For != nil {
		q = q.Where(forUser, *f.For, pgdialect.Array(f.Roles))
	}
	if f.RunID != nil {
		q = q.Where("t.run_id = ?", *f.RunID)
	}
	if f.Q != "" {
		like := "%" + escapeLike(f.Q) + "%"
		q = q.Where("(t.title ILIKE ? OR r.workflow_name ILIKE ? OR r.started_by_label ILIKE ?)", like, like, like)
	}
	if f.RecentFirst {
		q = q.OrderExpr("t.updated_at DESC, t.slot, t.id")
	} else {
		q = q.OrderExpr("t.created_at, t.slot, t.id")
	}
	total, err := f.Page.apply(q).ScanAndCount(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list tasks: %w", err)
	}
	return vs, int(total), nil
}

// CountOpenTasksByKind counts the open and held tasks a user may act on, by kind, for the tabs
// of the Tasks page.
func CountOpenTasksByKind(ctx context.Context, idb bun.IDB, userID uuid.UUID, roles []string) (map[string]int, error) {
	var rows []struct {
		Kind  string `bun:"kind"`
		Count int    `bun:"count"`
	}
	err := idb.NewSelect().Model((*Task)(nil)).ColumnExpr("t.kind, count(*) AS count").
		Where("t.status IN (?)", bun.In([]string{TaskOpen, TaskOnHold})).
		Where(forUser, userID, pgdialect.Array(roles)).
		GroupExpr("t.kind").Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("count open tasks by kind: %w", err)
	}
	out := map[string]int{}
	for _, r := range rows {
		out[r.Kind] = r.Count
	}
	return out, nil
}

func selectTaskViews(idb bun.IDB, dst any) *bun.SelectQuery {
	return idb.NewSelect().Model(dst).
		ColumnExpr("t.*").
		ColumnExpr("r.workflow_name, r.status AS run_status, r.started_by_id AS requested_by_id, r.started_by_label AS requested_by").
		ColumnExpr("r.subject_type, r.subject_id, r.started_at AS run_started_at").
		ColumnExpr("se.step_id, se.step_name").
		ColumnExpr("(SELECT count(*) FROM tasks s WHERE s.step_execution_id = t.step_execution_id) AS slots").
		ColumnExpr("u.email AS assignee_email, u.display_name AS assignee_name").
		Join("JOIN runs r ON r.id = t.run_id").
		Join("JOIN step_executions se ON se.id = t.step_execution_id").
		Join("LEFT JOIN users u ON u.id = t.assignee_id")
}
