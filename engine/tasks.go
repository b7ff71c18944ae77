package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"floh/connectors"
	"floh/db"
	"floh/engine/workflow"
)

// Approvals and manual tasks. An approval step execution opens one task per approver slot, a
// manual_task one task; the step then waits (waiting_approval, waiting_response) without a
// worker until the tasks decide it. Every task change locks the run first, like every other
// change of a run, so a decision, a timeout, a cancellation and a reminder never interleave.
//
// A task is for a user (a user slot, a claim or an assignment: assignee_id) or, while no one
// holds it, for any member of a system role (assignee_role). Only those people act on it;
// someone with task:assign may give it to someone else, and that is audited.

// Timers of a waiting approval, carried by its resume jobs.
const (
	timerExpire = "expire"
	timerRemind = "remind"
)

// maxTaskComment bounds a reason, a hold reason or a comment.
const maxTaskComment = 2000

// Task actions, as the API names them.
const (
	TaskClaim    = "claim"
	TaskAssign   = "assign"
	TaskUnassign = "unassign"
	TaskHold     = "hold"
	TaskUnhold   = "unhold"
	TaskComplete = "complete"
	TaskApprove  = "approve"
	TaskReject   = "reject"
)

// TaskInput is what an action on a task carries.
type TaskInput struct {
	UserID  *uuid.UUID // assign: who gets it
	Comment string     // hold: the reason; complete: the comment; approve/reject: the reason
}

// slotHolder is who an approver slot or a manual task is for.
type slotHolder struct {
	user *db.User
	role string
}

func (h slotHolder) label() string {
	if h.user != nil {
		return h.user.Email
	}
	return "role:" + h.role
}

// openTasks is an approval or manual_task step's attempt: it opens the step's tasks and
// makes the run wait for them. A slot that names no one fails the step.
func (e *Engine) openTasks(ctx context.Context, tx bun.Tx, run *db.Run, step *workflow.Step, se *db.StepExecution, vars map[string]any, tl *timeline) (outcome, error) {
	now := tl.at
	var (
		entries     []any
		kind, mode  string
		title, info string
		wait        = db.StepWaitingResponse
		cfgTimeout  time.Duration
		remindEvery time.Duration
	)
	switch step.Type {
	case workflow.TypeApproval:
		cfg, err := step.ApprovalConfig()
		if err != nil {
			return invalidStep(codeInvalidConfig, "step %s: %v", step.ID, err), nil
		}
		entries, kind, mode, title, wait = cfg.Approvers, db.TaskApproval, cfg.Mode, step.Name, db.StepWaitingApproval
		cfgTimeout, remindEvery = cfg.Timeout, cfg.ReminderEvery
	default:
		cfg, err := step.ManualTaskConfig()
		if err != nil {
			return invalidStep(codeInvalidConfig, "step %s: %v", step.ID, err), nil
		}
		entries, kind = []any{cfg.Assignee}, db.TaskManualTask
		var fail *outcome
		if title, fail = renderText(step, cfg.Title, vars); fail != nil {
			return *fail, nil
		}
		if info, fail = renderText(step, cfg.Instructions, vars); fail != nil {
			return *fail, nil
		}
	}
	var holders []slotHolder
	for _, entry := range entries {
		rendered, fail := renderValue(step, entry, vars)
		if fail != nil {
			return *fail, nil
		}
		hs, ferr := resolveHolders(ctx, tx, rendered)
		if ferr != nil {
			if ferr.Class == "" {
				return outcome{}, errors.New(ferr.Message)
			}
			ferr.Message = fmt.Sprintf("step %s: %s", step.ID, ferr.Message)
			return failure(ferr), nil
		}
		holders = append(holders, hs...)
	}
	if len(holders) == 0 {
		return invalidStep("NO_ASSIGNEE", "step %s names no one to act on it", step.ID), nil
	}
	var due *time.Time
	if cfgTimeout > 0 {
		d := now.Add(cfgTimeout)
		due = &d
	}
	tasks := make([]db.Task, len(holders))
	for i, h := range holders {
		t := db.Task{Kind: kind, RunID: run.ID, StepExecutionID: se.ID, Slot: i, Mode: mode, Title: title, Instructions: info,
			Status: db.TaskOpen, DueAt: due, CreatedAt: now, UpdatedAt: now}
		if mode == workflow.ApprovalSequential && i > 0 {
			t.Status = db.TaskQueued
		}
		if h.user != nil {
			t.AssigneeID = &h.user.ID
		} else {
			t.AssigneeRole = &h.role
		}
		tasks[i] = t
	}
	if err := db.InsertTasks(ctx, tx, tasks); err != nil {
		return outcome{}, err
	}
	for i := range tasks {
		if tasks[i].Status == db.TaskOpen {
			if err := e.announceTask(ctx, tx, run, &tasks[i], false); err != nil {
				return outcome{}, err
			}
		}
	}
	if due != nil {
		if err := e.queueStepJob(ctx, tx, runStepArgs{RunID: run.ID, StepExecutionID: se.ID, Attempt: se.Attempts, Resume: true, Timer: timerExpire}, *due); err != nil {
			return outcome{}, err
		}
	}
	if remindEvery > 0 && (due == nil || now.Add(remindEvery).Before(*due)) {
		if err := e.queueStepJob(ctx, tx, runStepArgs{RunID: run.ID, StepExecutionID: se.ID, Attempt: se.Attempts, Resume: true, Timer: timerRemind}, now.Add(remindEvery)); err != nil {
			return outcome{}, err
		}
	}
	labels := make([]string, len(holders))
	for i, h := range holders {
		labels[i] = h.label()
	}
	msg := fmt.Sprintf("Step %s waits for %s", se.Name, strings.Join(labels, ", "))
	if kind == db.TaskApproval {
		msg = fmt.Sprintf("Step %s waits for approval (%s) by %s", se.Name, mode, strings.Join(labels, ", "))
	}
	data := map[string]any{"assignees": labels}
	if due != nil {
		data["expiresAt"] = *due
		msg += "; it expires at " + due.Format(time.RFC3339)
	}
	tl.add(se, "step_waiting", msg, data)
	return outcome{wait: wait, due: due}, nil
}

// renderValue fills in the templates of one config value.
func renderValue(step *workflow.Step, v any, vars map[string]any) (any, *outcome) {
	out, err := workflow.Render(v, vars)
	if err != nil {
		return nil, renderFailure(step, err)
	}
	return out, nil
}

// renderText renders a text config value; a template yielding something else is written as
// JSON would show it.
func renderText(step *workflow.Step, s string, vars map[string]any) (string, *outcome) {
	v, fail := renderValue(step, s, vars)
	if fail != nil {
		return "", fail
	}
	if str, ok := v.(string); ok {
		return str, nil
	}
	return string(mustJSON(v)), nil
}

// resolveHolders turns one rendered approver or assignee entry into the people it names: a
// user id, a user's email, a user object ({id, ...}, as {{initiator}} or a user variable
// holds), role:Name, or a list of those. A failure without a class is the database's.
func resolveHolders(ctx context.Context, idb bun.IDB, v any) ([]slotHolder, *connectors.Error) {
	switch x := v.(type) {
	case []any:
		var hs []slotHolder
		for _, item := range x {
			h, err := resolveHolders(ctx, idb, item)
			if err != nil {
				return nil, err
			}
			hs = append(hs, h...)
		}
		return hs, nil
	case map[string]any:
		if id, ok := x["id"].(string); ok && id != "" {
			return resolveHolders(ctx, idb, id)
		}
		if email, ok := x["email"].(string); ok && email != "" {
			return resolveHolders(ctx, idb, email)
		}
		return nil, connectors.Errorf(connectors.InvalidInput, "UNKNOWN_ASSIGNEE", "%s names no user (it has no id or email)", describeJSON(x))
	case string:
		s := strings.TrimSpace(x)
		if role, ok := strings.CutPrefix(s, "role:"); ok {
			if !IsSystemRole(role) {
				return nil, connectors.Errorf(connectors.InvalidInput, "UNKNOWN_ROLE", "%q is not a system role (%s)", role, strings.Join(systemRoleNames(), ", "))
			}
			return []slotHolder{{role: role}}, nil
		}
		var user *db.User
		if id, err := uuid.Parse(s); err == nil {
			u, err := db.FindUser(ctx, idb, id)
			if errors.Is(err, db.ErrNotFound) {
				return nil, connectors.Errorf(connectors.InvalidInput, "UNKNOWN_ASSIGNEE", "no user has the id %s", id)
			}
			if err != nil {
				return nil, &connectors.Error{Message: err.Error()}
			}
			user = u
		} else if strings.Contains(s, "@") {
			us, err := db.FindLiveUsersByEmail(ctx, idb, s)
			if err != nil {
				return nil, &connectors.Error{Message: err.Error()}
			}
			if len(us) != 1 {
				return nil, connectors.Errorf(connectors.InvalidInput, "UNKNOWN_ASSIGNEE", "%d users have the email %s; name the user by id", len(us), s)
			}
			user = &us[0]
		} else {
			return nil, connectors.Errorf(connectors.InvalidInput, "UNKNOWN_ASSIGNEE", "%q is neither a user id, an email nor role:Name", s)
		}
		if user.Deleted() || !user.Active {
			return nil, connectors.Errorf(connectors.InvalidInput, "INACTIVE_ASSIGNEE", "user %s is deactivated or deleted", user.Email)
		}
		return []slotHolder{{user: user}}, nil
	}
	return nil, connectors.Errorf(connectors.InvalidInput, "UNKNOWN_ASSIGNEE", "%s names no user", describeJSON(v))
}

func systemRoleNames() []string {
	names := make([]string, len(SystemRoles))
	for i, r := range SystemRoles {
		names[i] = r.Name
	}
	return names
}

// announceTask tells the people a task is for that it waits for them.
func (e *Engine) announceTask(ctx context.Context, tx bun.Tx, run *db.Run, t *db.Task, reminder bool) error {
	users, err := taskPeople(ctx, tx, t)
	if err != nil {
		return err
	}
	n := Notice{Kind: "task", Title: "Task: " + t.Title, Link: "/tasks"}
	if t.Kind == db.TaskApproval {
		n = Notice{Kind: "approval", Title: "Approval needed: " + t.Title, Link: "/tasks?tab=approvals"}
	}
	n.Body = fmt.Sprintf("%s (run of %s started by %s) waits for you.", t.Title, run.WorkflowName, run.StartedBy.Label)
	if reminder {
		n.Title = "Reminder: " + n.Title
		n.Body = fmt.Sprintf("%s (run of %s started by %s) has waited for you since %s.", t.Title, run.WorkflowName, run.StartedBy.Label,
			t.CreatedAt.Format("2006-01-02 15:04 UTC"))
	}
	return e.notifyUsers(ctx, tx, users, n)
}

// taskPeople are the users a task is for: its holder, or the active members of its role.
func taskPeople(ctx context.Context, idb bun.IDB, t *db.Task) ([]db.User, error) {
	if t.AssigneeID != nil {
		u, err := db.FindUser(ctx, idb, *t.AssigneeID)
		if err != nil {
			return nil, err
		}
		if u.Deleted() || !u.Active {
			return nil, nil
		}
		return []db.User{*u}, nil
	}
	if t.AssigneeRole != nil {
		return db.ListActiveUsersWithRole(ctx, idb, *t.AssigneeRole)
	}
	return nil, nil
}

// resumeTasks handles a waiting approval's timer: the expiry, which ends the step with the
// expired outcome, or a reminder to those who still have to decide.
func (e *Engine) resumeTasks(ctx context.Context, tx bun.Tx, run *db.Run, def *workflow.Definition, se *db.StepExecution, args runStepArgs) error {
	now := e.now()
	tl := &timeline{run: run, at: now}
	switch args.Timer {
	case timerExpire:
		if se.DueAt == nil || now.Before(*se.DueAt) {
			return nil
		}
		ended, err := db.EndActiveTasks(ctx, tx, se.ID, db.TaskExpired, now)
		if err != nil {
			return err
		}
		decisions, err := e.decisions(ctx, tx, se.ID)
		if err != nil {
			return err
		}
		tl.add(se, "approval_expired", fmt.Sprintf("Step %s expired with no decision from %d approver(s)", se.Name, len(ended)), nil)
		run.Status, run.UpdatedAt = db.RunRunning, now
		out := outcome{on: workflow.OnExpired, output: map[string]any{"decision": "expired", "approvals": decisions}}
		return e.finishStep(ctx, tx, run, def, def.Step(se.StepID), se, out, tl)
	case timerRemind:
		tasks, err := db.ListStepTasks(ctx, tx, se.ID)
		if err != nil {
			return err
		}
		reminded := 0
		for i := range tasks {
			if tasks[i].Status != db.TaskOpen {
				continue
			}
			if err := e.announceTask(ctx, tx, run, &tasks[i], true); err != nil {
				return err
			}
			reminded++
		}
		if reminded == 0 {
			return nil
		}
		tl.add(se, "approval_reminder", fmt.Sprintf("Reminded %d approver(s) of step %s", reminded, se.Name), nil)
		step := def.Step(se.StepID)
		if step != nil {
			if cfg, err := step.ApprovalConfig(); err == nil && cfg.ReminderEvery > 0 {
				next := now.Add(cfg.ReminderEvery)
				if se.DueAt == nil || next.Before(*se.DueAt) {
					if err := e.queueStepJob(ctx, tx, runStepArgs{RunID: run.ID, StepExecutionID: se.ID, Attempt: se.Attempts, Resume: true, Timer: timerRemind}, next); err != nil {
						return err
					}
				}
			}
		}
		return tl.save(ctx, tx)
	}
	return nil
}

// approvalRecord is one slot's decision in an approval step's output.
type approvalRecord struct {
	Slot     int        `json:"slot"`
	Approver string     `json:"approver"`
	Decision string     `json:"decision"`
	Reason   string     `json:"reason,omitempty"`
	At       *time.Time `json:"at,omitempty"`
}

// decisions lists the slots of an approval step execution and what each decided.
func (e *Engine) decisions(ctx context.Context, idb bun.IDB, stepExecutionID uuid.UUID) ([]approvalRecord, error) {
	tasks, err := db.ListStepTasks(ctx, idb, stepExecutionID)
	if err != nil {
		return nil, err
	}
	out := make([]approvalRecord, len(tasks))
	for i, t := range tasks {
		r := approvalRecord{Slot: t.Slot, Decision: t.Status, At: t.DecidedAt}
		switch {
		case t.DecidedByLabel != nil:
			r.Approver = *t.DecidedByLabel
		case t.AssigneeRole != nil:
			r.Approver = "role:" + *t.AssigneeRole
		}
		if t.Comment != nil {
			r.Reason = *t.Comment
		}
		out[i] = r
	}
	return out, nil
}

// TaskScope is whose tasks a list shows.
const (
	TaskScopeMine = "mine"
	TaskScopeAll  = "all"
)

// TaskStatusDecided lists every task that has ended (decided, completed, expired or
// cancelled), the most recently ended first.
const TaskStatusDecided = "decided"

// TaskListInput selects tasks for a principal's inbox.
type TaskListInput struct {
	Kind   string
	Scope  string // mine (the default) or all, which needs task:assign
	Status string // "" for the active ones, one status, or decided for the ended ones
	RunID  *uuid.UUID
	Q      string
	db.Page
}

// ListTasks lists the tasks a principal may see: theirs and their roles', or with task:assign
// every task.
func (e *Engine) ListTasks(ctx context.Context, p *Principal, in TaskListInput) ([]db.TaskView, int, error) {
	f := db.TaskFilter{Kind: in.Kind, RunID: in.RunID, Q: in.Q, Page: in.Page}
	var v ValidationError
	switch in.Scope {
	case "", TaskScopeMine:
		f.For, f.Roles = &p.User.ID, p.User.Roles
	case TaskScopeAll:
		if !p.Can(PermTaskAssign) {
			return nil, 0, Forbidden("listing every task needs the task:assign permission")
		}
	default:
		v.Add("scope", "must be mine or all, not %q", in.Scope)
	}
	switch in.Status {
	case "":
	case TaskStatusDecided:
		f.Statuses, f.RecentFirst = []string{db.TaskCompleted, db.TaskApproved, db.TaskRejected, db.TaskExpired, db.TaskCancelled}, true
	case db.TaskOpen, db.TaskOnHold, db.TaskQueued, db.TaskCompleted, db.TaskApproved, db.TaskRejected, db.TaskExpired, db.TaskCancelled:
		f.Statuses = []string{in.Status}
	default:
		v.Add("status", "must be one of open, on_hold, queued, completed, approved, rejected, expired, cancelled, decided, not %q", in.Status)
	}
	if err := v.Err(); err != nil {
		return nil, 0, err
	}
	return db.ListTasks(ctx, e.db.Bun, f)
}

// CountMyTasks counts the open and held tasks a principal may act on, of both kinds.
func (e *Engine) CountMyTasks(ctx context.Context, p *Principal) (int, error) {
	byKind, err := e.CountMyTasksByKind(ctx, p)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range byKind {
		n += c
	}
	return n, nil
}

// FindTask loads a task the principal may see; another's task is not found, so ids do not leak.
func (e *Engine) FindTask(ctx context.Context, p *Principal, id uuid.UUID) (*db.TaskView, error) {
	t, err := db.FindTaskView(ctx, e.db.Bun, id)
	if err != nil {
		return nil, err
	}
	if !maySee(p, &t.Task) {
		return nil, fmt.Errorf("task %s: %w", id, db.ErrNotFound)
	}
	return t, nil
}

// maySee reports whether the principal may see a task: it is theirs to work, it is for a
// role they have (a colleague may hold it), or they hand out tasks.
func maySee(p *Principal, t *db.Task) bool {
	return mayAct(p, t) || inRole(p, t) || p.Can(PermTaskAssign)
}

func inRole(p *Principal, t *db.Task) bool {
	return t.AssigneeRole != nil && slices.Contains(p.User.Roles, *t.AssigneeRole)
}

// mayAct reports whether the task is the principal's to work: they hold it, or no one does and
// it is for a role they have.
func mayAct(p *Principal, t *db.Task) bool {
	if t.AssigneeID != nil {
		return *t.AssigneeID == p.User.ID
	}
	return inRole(p, t)
}

// ActOnTask performs one action on a task and, when the action decides its step, moves the
// run on. It answers 409 (ConflictError) on a task that has ended or is not in a state for
// the action, and not found for a task the principal may not see.
func (e *Engine) ActOnTask(ctx context.Context, p *Principal, id uuid.UUID, action string, in TaskInput) (*db.TaskView, error) {
	if err := checkTaskInput(action, in); err != nil {
		return nil, err
	}
	first, err := db.FindTask(ctx, e.db.Bun, id)
	if err != nil {
		return nil, err
	}
	err = e.inTx(ctx, func(tx bun.Tx) error {
		run, err := db.FindRunForUpdate(ctx, tx, first.RunID)
		if err != nil {
			return err
		}
		// Read again under the run's lock: every change of a task holds it.
		t, err := db.FindTask(ctx, tx, id)
		if err != nil {
			return err
		}
		if !maySee(p, t) {
			return fmt.Errorf("task %s: %w", id, db.ErrNotFound)
		}
		return e.actOnTask(ctx, tx, p, run, t, action, in)
	})
	if err != nil {
		return nil, err
	}
	return db.FindTaskView(ctx, e.db.Bun, id)
}

func checkTaskInput(action string, in TaskInput) error {
	var v ValidationError
	comment := strings.TrimSpace(in.Comment)
	switch action {
	case TaskAssign:
		if in.UserID == nil {
			v.Add("userId", "is required: the user to give the task to")
		}
	case TaskHold:
		if comment == "" {
			v.Add("reason", "is required: say why the task is on hold")
		}
	case TaskReject:
		if comment == "" {
			v.Add("reason", "is required: say why the request is rejected")
		}
	case TaskClaim, TaskUnassign, TaskUnhold, TaskComplete, TaskApprove:
	default:
		return fmt.Errorf("task action %q: %w", action, db.ErrNotFound)
	}
	if len(comment) > maxTaskComment {
		field := "reason"
		if action == TaskComplete {
			field = "comment"
		}
		v.Add(field, "is %d characters long; the most is %d", len(comment), maxTaskComment)
	}
	return v.Err()
}

func (e *Engine) actOnTask(ctx context.Context, tx bun.Tx, p *Principal, run *db.Run, t *db.Task, action string, in TaskInput) error {
	now := e.now()
	a := p.Actor()
	comment := strings.TrimSpace(in.Comment)
	if !t.Active() {
		return Conflict("the task is already %s", t.Status)
	}
	if t.Status == db.TaskQueued {
		return Conflict("the task is not up yet: an earlier approver of this sequential approval decides first")
	}
	isApproval := t.Kind == db.TaskApproval
	before := taskState(t)
	auditAction := "task." + action
	var (
		message string
		decided bool
	)
	if (action == TaskHold || action == TaskUnhold) && !mayAct(p, t) && !p.Can(PermTaskAssign) {
		return Conflict("someone else has claimed the task")
	}
	switch action {
	case TaskClaim:
		if t.AssigneeID != nil {
			if *t.AssigneeID == p.User.ID {
				return nil
			}
			return Conflict("someone else has claimed the task; someone with task:assign can reassign it")
		}
		if isApproval && !p.Can(PermApprovalDecide) {
			return Forbidden("claiming an approval needs the approval:decide permission")
		}
		t.AssigneeID = &p.User.ID
		message = fmt.Sprintf("%s claimed the task %s", a.Label, t.Title)
	case TaskAssign:
		if !p.Can(PermTaskAssign) {
			return Forbidden("assigning a task needs the task:assign permission")
		}
		u, err := db.FindUser(ctx, tx, *in.UserID)
		if errors.Is(err, db.ErrNotFound) || (err == nil && (u.Deleted() || !u.Active)) {
			return Invalid("userId", "no active user has the id %s", *in.UserID)
		}
		if err != nil {
			return err
		}
		perms := PermissionsOf(u.Roles)
		if isApproval && !perms[PermApprovalDecide] {
			return Invalid("userId", "%s cannot decide approvals (no role with approval:decide)", u.Email)
		}
		if !isApproval && !perms[PermTaskRead] {
			return Invalid("userId", "%s cannot see tasks (no role with task:read)", u.Email)
		}
		t.AssigneeID = &u.ID
		message = fmt.Sprintf("%s assigned the task %s to %s", a.Label, t.Title, u.Email)
	case TaskUnassign:
		if t.AssigneeID == nil {
			return Conflict("the task is not held by anyone")
		}
		if t.AssigneeRole == nil {
			return Conflict("the task is for its assignee alone and has no role to go back to; assign it to someone else instead")
		}
		if *t.AssigneeID != p.User.ID && !p.Can(PermTaskAssign) {
			return Forbidden("releasing someone else's task needs the task:assign permission")
		}
		t.AssigneeID = nil
		message = fmt.Sprintf("%s released the task %s back to role %s", a.Label, t.Title, *t.AssigneeRole)
	case TaskHold:
		if t.Status == db.TaskOnHold {
			return Conflict("the task is already on hold")
		}
		t.Status, t.HoldReason = db.TaskOnHold, &comment
		message = fmt.Sprintf("%s put the task %s on hold: %s", a.Label, t.Title, comment)
	case TaskUnhold:
		if t.Status != db.TaskOnHold {
			return Conflict("the task is not on hold")
		}
		t.Status, t.HoldReason = db.TaskOpen, nil
		message = fmt.Sprintf("%s took the task %s off hold", a.Label, t.Title)
	case TaskComplete, TaskApprove, TaskReject:
		if (action == TaskComplete) == isApproval {
			if isApproval {
				return Conflict("the task is an approval: approve or reject it")
			}
			return Conflict("the task is a manual task: complete it")
		}
		if !mayAct(p, t) {
			if t.AssigneeID != nil && inRole(p, t) {
				return Conflict("someone else has claimed the task")
			}
			return Forbidden("only the task's assignee or a member of its role can decide it; assign it to yourself first")
		}
		if isApproval && !p.Can(PermApprovalDecide) {
			return Forbidden("deciding an approval needs the approval:decide permission")
		}
		if t.Status == db.TaskOnHold {
			return Conflict("the task is on hold (%s); take it off hold first", deref(t.HoldReason))
		}
		status := map[string]string{TaskComplete: db.TaskCompleted, TaskApprove: db.TaskApproved, TaskReject: db.TaskRejected}[action]
		t.Status, t.AssigneeID, t.DecidedAt = status, &p.User.ID, &now
		t.DecidedByID, t.DecidedByLabel = &p.User.ID, &a.Label
		if comment != "" {
			t.Comment = &comment
		}
		decided = true
		switch action {
		case TaskComplete:
			message = fmt.Sprintf("%s completed the task %s", a.Label, t.Title)
		case TaskApprove:
			message = fmt.Sprintf("%s approved %s", a.Label, t.Title)
		default:
			message = fmt.Sprintf("%s rejected %s: %s", a.Label, t.Title, comment)
		}
		if comment != "" && action != TaskReject {
			message += ": " + comment
		}
	}
	t.UpdatedAt = now
	if err := db.UpdateTask(ctx, tx, t); err != nil {
		return err
	}
	if err := e.audit(ctx, tx, a, "task", t.ID.String(), auditAction, before, taskState(t)); err != nil {
		return err
	}
	if action == TaskAssign {
		// The new holder learns of it as the first holder did when the task opened.
		if err := e.announceTask(ctx, tx, run, t, false); err != nil {
			return err
		}
	}
	se, err := db.FindStepExecution(ctx, tx, t.StepExecutionID)
	if err != nil {
		return err
	}
	tl := &timeline{run: run, at: now}
	tl.add(se, "task_"+action, message, map[string]any{"taskId": t.ID, "slot": t.Slot})
	if !decided {
		return tl.save(ctx, tx)
	}
	return e.decideStep(ctx, tx, run, se, t, tl)
}

// decideStep moves a waiting approval or manual task step on after one of its tasks was
// decided: the step completes, routes rejected, or waits for its other slots.
func (e *Engine) decideStep(ctx context.Context, tx bun.Tx, run *db.Run, se *db.StepExecution, t *db.Task, tl *timeline) error {
	if se.Status != db.StepWaitingApproval && se.Status != db.StepWaitingResponse {
		return Conflict("the step is %s and no longer waits for its tasks", se.Status)
	}
	def, err := e.runDefinition(ctx, tx, run)
	if err != nil {
		return err
	}
	now := tl.at
	var out outcome
	switch {
	case t.Kind == db.TaskManualTask:
		out = success(map[string]any{"completedBy": deref(t.DecidedByLabel), "comment": deref(t.Comment), "completedAt": now})
	case t.Status == db.TaskRejected || t.Mode == workflow.ApprovalSingle:
		// One rejection rejects in every mode; in single mode one approval approves.
		if _, err := db.EndActiveTasks(ctx, tx, se.ID, db.TaskCancelled, now); err != nil {
			return err
		}
		out = outcome{on: workflow.OnSuccess}
		if t.Status == db.TaskRejected {
			out.on = workflow.OnRejected
		}
	default:
		tasks, err := db.ListStepTasks(ctx, tx, se.ID)
		if err != nil {
			return err
		}
		var next *db.Task
		for i := range tasks {
			if tasks[i].Status != db.TaskApproved {
				next = &tasks[i]
				break
			}
		}
		if next != nil {
			if next.Status == db.TaskQueued {
				next.Status, next.UpdatedAt = db.TaskOpen, now
				if err := db.UpdateTask(ctx, tx, next); err != nil {
					return err
				}
				if err := e.announceTask(ctx, tx, run, next, false); err != nil {
					return err
				}
				tl.add(se, "approval_next", fmt.Sprintf("Step %s now waits for approver %d of %d", se.Name, next.Slot+1, len(tasks)), nil)
			}
			run.UpdatedAt = now
			return e.saveRun(ctx, tx, run, tl)
		}
		out = outcome{on: workflow.OnSuccess}
	}
	if t.Kind == db.TaskApproval {
		decisions, err := e.decisions(ctx, tx, se.ID)
		if err != nil {
			return err
		}
		decision := "approved"
		if out.on == workflow.OnRejected {
			decision = "rejected"
		}
		output := map[string]any{"decision": decision, "approvals": decisions}
		if t.Comment != nil && out.on == workflow.OnRejected {
			output["reason"] = *t.Comment
		}
		out.output = output
	}
	run.Status, run.UpdatedAt = db.RunRunning, now
	return e.finishStep(ctx, tx, run, def, def.Step(se.StepID), se, out, tl)
}

// taskState is what the audit log records of a task before and after a change.
func taskState(t *db.Task) map[string]any {
	return map[string]any{"status": t.Status, "assigneeId": t.AssigneeID, "assigneeRole": t.AssigneeRole, "holdReason": t.HoldReason}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
