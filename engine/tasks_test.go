package engine_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"floh/db"
	"floh/engine"
	"floh/engine/workflow"
)

// taskFixture is a run fixture with people to act on tasks.
type taskFixture struct {
	*runFixture
	approver, manager, requestor, other *engine.Principal
}

func setupTasks(t *testing.T) *taskFixture {
	t.Helper()
	f := setupRuns(t)
	return &taskFixture{runFixture: f,
		approver:  principal(t, f.fixture, "approver@example.test", engine.RoleApprover),
		manager:   principal(t, f.fixture, "manager@example.test", engine.RoleResourceManager),
		requestor: principal(t, f.fixture, "requestor@example.test", engine.RoleRequestor),
		other:     principal(t, f.fixture, "other-approver@example.test", engine.RoleApprover),
	}
}

func principal(t *testing.T, f *fixture, email string, roles ...string) *engine.Principal {
	t.Helper()
	u := dbUser(t, f, dbtestUser(t, f, email, roles...))
	return &engine.Principal{User: u, Permissions: engine.PermissionsOf(roles)}
}

func (f *taskFixture) adminPrincipal(t *testing.T) *engine.Principal {
	return &engine.Principal{User: dbUser(t, f.fixture, f.admin.ID), Permissions: engine.PermissionsOf([]string{engine.RoleAdmin})}
}

// approvalWorkflow is start → approve → end, with approve's rejected edge to a "denied" end
// and its expired edge to a "lapsed" end.
func approvalWorkflow(cfg map[string]any) workflow.Definition {
	return workflow.Definition{
		Variables: []workflow.Variable{{Name: "manager", Type: "user"}},
		Steps: []workflow.Step{startStep(), step("approve", workflow.TypeApproval, cfg), endStep(),
			step("denied", workflow.TypeEnd, nil), step("lapsed", workflow.TypeEnd, nil)},
		Edges: append(chain("start", "approve", "end"), edge("approve", "denied", workflow.OnRejected),
			edge("approve", "lapsed", workflow.OnExpired)),
	}
}

// taskStatuses reads a step's tasks as "slot:status" in slot order, whatever their status.
func (f *taskFixture) taskStatuses(t *testing.T, runID uuid.UUID, stepID string) string {
	t.Helper()
	ts, err := db.ListStepTasks(f.ctx, f.db.Bun, f.stepNamed(t, runID, stepID).ID)
	if err != nil {
		t.Fatal(err)
	}
	parts := make([]string, len(ts))
	for i, task := range ts {
		parts[i] = task.Status
	}
	return strings.Join(parts, " ")
}

func (f *taskFixture) taskIDs(t *testing.T, runID uuid.UUID, stepID string) []uuid.UUID {
	t.Helper()
	ts, err := db.ListStepTasks(f.ctx, f.db.Bun, f.stepNamed(t, runID, stepID).ID)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]uuid.UUID, len(ts))
	for i, task := range ts {
		ids[i] = task.ID
	}
	return ids
}

func (f *taskFixture) act(t *testing.T, p *engine.Principal, id uuid.UUID, action, comment string) error {
	t.Helper()
	_, err := f.eng.ActOnTask(f.ctx, p, id, action, engine.TaskInput{Comment: comment})
	return err
}

func (f *taskFixture) mustAct(t *testing.T, p *engine.Principal, id uuid.UUID, action, comment string) {
	t.Helper()
	if err := f.act(t, p, id, action, comment); err != nil {
		t.Fatalf("%s %s: %v", p.User.Email, action, err)
	}
	f.work(t)
}

func wantForbidden(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, engine.ErrForbidden) {
		t.Fatalf("want forbidden, got %v", err)
	}
}

func wantNotFound(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("want not found, got %v", err)
	}
}

func TestSingleApprovalAnyOneSlotDecides(t *testing.T) {
	t.Parallel()
	f := setupTasks(t)
	wf := f.publish(t, approvalWorkflow(map[string]any{"approvers": []any{"role:Approver", "{{manager.id}}"}}))
	id := f.start(t, wf, map[string]any{"manager": f.manager.User.ID.String()})
	f.work(t)
	f.wantStatuses(t, id, "waiting: start:completed approve:waiting_approval")
	if got := f.taskStatuses(t, id, "approve"); got != "open open" {
		t.Fatalf("tasks %s", got)
	}
	// The requestor is in neither slot: the task is not theirs to see.
	tasks := f.taskIDs(t, id, "approve")
	wantNotFound(t, f.act(t, f.requestor, tasks[0], engine.TaskApprove, ""))
	// A member of the role decides the role's slot; the manager's slot is cancelled.
	f.mustAct(t, f.approver, tasks[0], engine.TaskApprove, "fine by me")
	f.wantStatuses(t, id, "completed: start:completed approve:completed end:completed")
	if got := f.taskStatuses(t, id, "approve"); got != "approved cancelled" {
		t.Fatalf("tasks %s", got)
	}
	wantConflict(t, f.act(t, f.manager, tasks[1], engine.TaskApprove, ""))
	out := f.stepNamed(t, id, "approve").Output
	for _, want := range []string{`"decision": "approved"`, `"approver": "approver@example.test"`, `"reason": "fine by me"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output %s lacks %s", out, want)
		}
	}
}

func TestSequentialApprovalAsksEachSlotInOrder(t *testing.T) {
	t.Parallel()
	f := setupTasks(t)
	wf := f.publish(t, approvalWorkflow(map[string]any{"mode": "sequential",
		"approvers": []any{"approver@example.test", "{{manager}}"}}))
	id := f.start(t, wf, map[string]any{"manager": f.manager.User.ID.String()})
	f.work(t)
	tasks := f.taskIDs(t, id, "approve")
	if got := f.taskStatuses(t, id, "approve"); got != "open queued" {
		t.Fatalf("tasks %s", got)
	}
	// The second approver's turn has not come.
	wantConflict(t, f.act(t, f.manager, tasks[1], engine.TaskApprove, ""))
	mine, _, err := f.eng.ListTasks(f.ctx, f.manager, engine.TaskListInput{Page: db.Page{Page: 1, PageSize: 10}})
	if err != nil || len(mine) != 0 {
		t.Fatalf("the manager's inbox before their turn: %v %v", mine, err)
	}
	f.mustAct(t, f.approver, tasks[0], engine.TaskApprove, "")
	f.wantStatuses(t, id, "waiting: start:completed approve:waiting_approval")
	if got := f.taskStatuses(t, id, "approve"); got != "approved open" {
		t.Fatalf("tasks %s", got)
	}
	mine, _, err = f.eng.ListTasks(f.ctx, f.manager, engine.TaskListInput{Page: db.Page{Page: 1, PageSize: 10}})
	if err != nil || len(mine) != 1 || mine[0].ID != tasks[1] {
		t.Fatalf("the manager's inbox on their turn: %v %v", mine, err)
	}
	if n := f.unread(t, f.manager.User.ID); n != 1 {
		t.Errorf("the manager was told %d times that it is their turn, want 1", n)
	}
	f.mustAct(t, f.manager, tasks[1], engine.TaskApprove, "")
	f.wantStatuses(t, id, "completed: start:completed approve:completed end:completed")
}

func TestParallelApprovalNeedsEverySlotAndTheFirstRejectionRejects(t *testing.T) {
	t.Parallel()
	f := setupTasks(t)
	wf := f.publish(t, approvalWorkflow(map[string]any{"mode": "parallel",
		"approvers": []any{"approver@example.test", "manager@example.test", "role:Approver"}}))

	approved := f.start(t, wf, nil)
	f.work(t)
	tasks := f.taskIDs(t, approved, "approve")
	f.mustAct(t, f.approver, tasks[0], engine.TaskApprove, "")
	f.mustAct(t, f.manager, tasks[1], engine.TaskApprove, "")
	f.wantStatuses(t, approved, "waiting: start:completed approve:waiting_approval")
	f.mustAct(t, f.other, tasks[2], engine.TaskApprove, "")
	f.wantStatuses(t, approved, "completed: start:completed approve:completed end:completed")

	rejected := f.start(t, wf, nil)
	f.work(t)
	tasks = f.taskIDs(t, rejected, "approve")
	f.mustAct(t, f.approver, tasks[0], engine.TaskApprove, "")
	// A rejection needs a reason; without one nothing changes.
	wantValidation(t, f.act(t, f.manager, tasks[1], engine.TaskReject, "  "), "reason")
	if got := f.taskStatuses(t, rejected, "approve"); got != "approved open open" {
		t.Fatalf("tasks after a reasonless rejection %s", got)
	}
	f.mustAct(t, f.manager, tasks[1], engine.TaskReject, "no budget this quarter")
	f.wantStatuses(t, rejected, "completed: start:completed approve:completed denied:completed")
	if got := f.taskStatuses(t, rejected, "approve"); got != "approved rejected cancelled" {
		t.Fatalf("tasks %s", got)
	}
	out := string(f.stepNamed(t, rejected, "approve").Output)
	if !strings.Contains(out, `"decision": "rejected"`) || !strings.Contains(out, `"reason": "no budget this quarter"`) {
		t.Errorf("output %s", out)
	}
	if !f.timelineHas(t, rejected, "manager@example.test rejected Approve: no budget this quarter") {
		t.Error("the timeline does not give the rejection's reason")
	}
}

func TestARejectionWithNoRejectedEdgeFailsTheRunNamingTheOutcome(t *testing.T) {
	t.Parallel()
	f := setupTasks(t)
	wf := f.publish(t, workflow.Definition{
		Steps: []workflow.Step{startStep(), step("approve", workflow.TypeApproval, map[string]any{"approvers": []any{"role:Approver"}}), endStep()},
		Edges: chain("start", "approve", "end"),
	})
	id := f.start(t, wf, nil)
	f.work(t)
	f.mustAct(t, f.approver, f.taskIDs(t, id, "approve")[0], engine.TaskReject, "not this one")
	run := f.run(t, id)
	if run.Status != db.RunFailed || !strings.Contains(string(run.Error), `outcome \"rejected\"`) {
		t.Fatalf("run %s %s", run.Status, run.Error)
	}
}

func TestApprovalExpiresAtItsTimeoutAndRemindsMeanwhile(t *testing.T) {
	t.Parallel()
	f := setupTasks(t)
	wf := f.publish(t, approvalWorkflow(map[string]any{"approvers": []any{"approver@example.test"},
		"timeout": "72h", "reminderEvery": "24h"}))
	id := f.start(t, wf, nil)
	f.work(t)
	if n := f.unread(t, f.approver.User.ID); n != 1 {
		t.Fatalf("%d notifications when the approval opened, want 1", n)
	}
	for day := 1; day <= 2; day++ {
		f.clock.Advance(24 * time.Hour)
		f.work(t)
		if n := f.unread(t, f.approver.User.ID); n != 1+day {
			t.Fatalf("day %d: %d notifications, want %d", day, n, 1+day)
		}
		f.wantStatuses(t, id, "waiting: start:completed approve:waiting_approval")
	}
	// Just before the deadline nothing has expired.
	f.clock.Advance(24*time.Hour - time.Second)
	f.work(t)
	f.wantStatuses(t, id, "waiting: start:completed approve:waiting_approval")
	f.clock.Advance(time.Second)
	f.work(t)
	f.wantStatuses(t, id, "completed: start:completed approve:completed lapsed:completed")
	if got := f.taskStatuses(t, id, "approve"); got != "expired" {
		t.Fatalf("tasks %s", got)
	}
	// No reminder came on the day it expired, and no task is left to act on.
	if n := f.unread(t, f.approver.User.ID); n != 3 {
		t.Errorf("%d notifications in all, want 3 (the opening and two reminders)", n)
	}
	wantConflict(t, f.act(t, f.approver, f.taskIDs(t, id, "approve")[0], engine.TaskApprove, ""))
	if f.work(t) != 0 {
		t.Error("jobs left after the expiry")
	}
}

func TestAnApprovalDecidedBeforeItsTimeoutNeverExpires(t *testing.T) {
	t.Parallel()
	f := setupTasks(t)
	wf := f.publish(t, approvalWorkflow(map[string]any{"approvers": []any{"approver@example.test"}, "timeout": "1h", "reminderEvery": "10m"}))
	id := f.start(t, wf, nil)
	f.work(t)
	f.mustAct(t, f.approver, f.taskIDs(t, id, "approve")[0], engine.TaskApprove, "")
	f.clock.Advance(2 * time.Hour)
	f.work(t)
	f.wantStatuses(t, id, "completed: start:completed approve:completed end:completed")
	if n := f.unread(t, f.approver.User.ID); n != 1 {
		t.Errorf("%d notifications, want only the opening one", n)
	}
}

func TestManualTaskLifecycleFromTheInbox(t *testing.T) {
	t.Parallel()
	f := setupTasks(t)
	wf := f.publish(t, workflow.Definition{
		Variables: []workflow.Variable{{Name: "username", Type: "string"}},
		Steps: []workflow.Step{startStep(), step("badge", workflow.TypeManualTask, map[string]any{
			"assignee": "role:Approver", "title": "Print a badge for {{username}}", "instructions": "Desk 4, bring ID"}), endStep()},
		Edges: chain("start", "badge", "end"),
	})
	id := f.start(t, wf, map[string]any{"username": "jdoe"})
	f.work(t)
	f.wantStatuses(t, id, "waiting: start:completed badge:waiting_response")
	inbox, total, err := f.eng.ListTasks(f.ctx, f.approver, engine.TaskListInput{Page: db.Page{Page: 1, PageSize: 10}})
	if err != nil || total != 1 || inbox[0].Title != "Print a badge for jdoe" || inbox[0].Instructions != "Desk 4, bring ID" {
		t.Fatalf("inbox %+v %d %v", inbox, total, err)
	}
	task := inbox[0].ID
	// An approval action on a manual task, or completing it while someone else holds it, is refused.
	wantConflict(t, f.act(t, f.approver, task, engine.TaskApprove, ""))
	f.mustAct(t, f.approver, task, engine.TaskClaim, "")
	wantConflict(t, f.act(t, f.other, task, engine.TaskClaim, ""))
	wantConflict(t, f.act(t, f.other, task, engine.TaskComplete, ""))
	wantConflict(t, f.act(t, f.other, task, engine.TaskHold, "mine now"))
	if n, _ := f.eng.CountMyTasks(f.ctx, f.other); n != 0 {
		t.Errorf("the other approver still counts %d tasks after the claim", n)
	}
	// Release it to the role, and the other approver takes it.
	f.mustAct(t, f.approver, task, engine.TaskUnassign, "")
	f.mustAct(t, f.other, task, engine.TaskClaim, "")
	// Hold needs a reason; a held task cannot be completed until it is resumed.
	wantValidation(t, f.act(t, f.other, task, engine.TaskHold, ""), "reason")
	f.mustAct(t, f.other, task, engine.TaskHold, "printer is out of ribbon")
	wantConflict(t, f.act(t, f.other, task, engine.TaskHold, "again"))
	wantConflict(t, f.act(t, f.other, task, engine.TaskComplete, "done"))
	f.mustAct(t, f.other, task, engine.TaskUnhold, "")
	wantConflict(t, f.act(t, f.other, task, engine.TaskUnhold, ""))
	f.mustAct(t, f.other, task, engine.TaskComplete, "badge handed over")
	f.wantStatuses(t, id, "completed: start:completed badge:completed end:completed")
	if out := string(f.stepNamed(t, id, "badge").Output); !strings.Contains(out, `"comment": "badge handed over"`) {
		t.Errorf("output %s", out)
	}
	// Every lifecycle endpoint answers 409 on the completed task.
	for _, action := range []string{engine.TaskClaim, engine.TaskUnassign, engine.TaskHold, engine.TaskUnhold, engine.TaskComplete} {
		wantConflict(t, f.act(t, f.other, task, action, "late"))
	}
	_, err = f.eng.ActOnTask(f.ctx, f.adminPrincipal(t), task, engine.TaskAssign, engine.TaskInput{UserID: &f.approver.User.ID})
	wantConflict(t, err)
}

func TestAssigningIsForTaskAssignAndIsAudited(t *testing.T) {
	t.Parallel()
	f := setupTasks(t)
	wf := f.publish(t, approvalWorkflow(map[string]any{"approvers": []any{"approver@example.test"}}))
	id := f.start(t, wf, nil)
	f.work(t)
	task := f.taskIDs(t, id, "approve")[0]
	assign := func(p *engine.Principal, to uuid.UUID) error {
		_, err := f.eng.ActOnTask(f.ctx, p, task, engine.TaskAssign, engine.TaskInput{UserID: &to})
		return err
	}
	// The approver may not hand their approval on, and a requestor cannot decide approvals.
	wantForbidden(t, assign(f.approver, f.other.User.ID))
	wantValidation(t, assign(f.adminPrincipal(t), f.requestor.User.ID), "userId")
	wantValidation(t, assign(f.adminPrincipal(t), uuid.New()), "userId")
	_, err := f.eng.ActOnTask(f.ctx, f.adminPrincipal(t), task, engine.TaskAssign, engine.TaskInput{})
	wantValidation(t, err, "userId")
	if err := assign(f.adminPrincipal(t), f.other.User.ID); err != nil {
		t.Fatal(err)
	}
	// The first approver no longer sees it; a slot for one person cannot be released to nobody.
	wantNotFound(t, f.act(t, f.approver, task, engine.TaskApprove, ""))
	wantConflict(t, f.act(t, f.other, task, engine.TaskUnassign, ""))
	entries, _, err := db.ListAudit(f.ctx, f.db.Bun, db.AuditFilter{Entity: "task", Action: "task.assign", Page: db.Page{Page: 1, PageSize: 10}})
	if err != nil || len(entries) != 1 {
		t.Fatalf("audit %v %v", entries, err)
	}
	if !strings.Contains(string(entries[0].Before), f.approver.User.ID.String()) || !strings.Contains(string(entries[0].After), f.other.User.ID.String()) {
		t.Errorf("audit before %s after %s", entries[0].Before, entries[0].After)
	}
	f.mustAct(t, f.other, task, engine.TaskApprove, "")
	f.wantStatuses(t, id, "completed: start:completed approve:completed end:completed")
}

func TestCancellingARunCancelsItsTasks(t *testing.T) {
	t.Parallel()
	f := setupTasks(t)
	wf := f.publish(t, approvalWorkflow(map[string]any{"mode": "sequential", "approvers": []any{"approver@example.test", "role:Approver"}}))
	id := f.start(t, wf, nil)
	f.work(t)
	if _, err := f.eng.CancelRun(f.ctx, f.actor(), id); err != nil {
		t.Fatal(err)
	}
	if got := f.taskStatuses(t, id, "approve"); got != "cancelled cancelled" {
		t.Fatalf("tasks %s", got)
	}
	wantConflict(t, f.act(t, f.approver, f.taskIDs(t, id, "approve")[0], engine.TaskApprove, ""))
	if n, _ := f.eng.CountMyTasks(f.ctx, f.approver); n != 0 {
		t.Errorf("%d tasks still counted", n)
	}
}

func TestAnApproverThatNamesNoOneFailsTheStepClearly(t *testing.T) {
	t.Parallel()
	f := setupTasks(t)
	for _, c := range []struct{ approver, code string }{
		{"role:Auditor", "UNKNOWN_ROLE"},
		{"nobody@example.test", "UNKNOWN_ASSIGNEE"},
		{uuid.NewString(), "UNKNOWN_ASSIGNEE"},
		{"jdoe", "UNKNOWN_ASSIGNEE"},
	} {
		wf := f.publish(t, approvalWorkflow(map[string]any{"approvers": []any{c.approver}}))
		id := f.start(t, wf, nil)
		f.work(t)
		run := f.run(t, id)
		if run.Status != db.RunFailed || !strings.Contains(string(run.Error), c.code) {
			t.Errorf("%s: run %s %s", c.approver, run.Status, run.Error)
		}
	}
}

func TestTaskListsShowMineAndAllOnlyWithTaskAssign(t *testing.T) {
	t.Parallel()
	f := setupTasks(t)
	wf := f.publish(t, approvalWorkflow(map[string]any{"mode": "parallel", "approvers": []any{"role:Approver", "manager@example.test"}}))
	f.start(t, wf, nil)
	f.work(t)
	count := func(p *engine.Principal, scope string) int {
		t.Helper()
		_, n, err := f.eng.ListTasks(f.ctx, p, engine.TaskListInput{Scope: scope, Page: db.Page{Page: 1, PageSize: 10}})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if a, m, r := count(f.approver, ""), count(f.manager, ""), count(f.requestor, ""); a != 1 || m != 1 || r != 0 {
		t.Errorf("mine: approver %d, manager %d, requestor %d", a, m, r)
	}
	if n := count(f.manager, engine.TaskScopeAll); n != 2 {
		t.Errorf("all, for the manager: %d", n)
	}
	_, _, err := f.eng.ListTasks(f.ctx, f.approver, engine.TaskListInput{Scope: engine.TaskScopeAll, Page: db.Page{Page: 1, PageSize: 10}})
	wantForbidden(t, err)
	_, _, err = f.eng.ListTasks(f.ctx, f.approver, engine.TaskListInput{Status: "done", Page: db.Page{Page: 1, PageSize: 10}})
	wantValidation(t, err, "status")
}

func (f *taskFixture) unread(t *testing.T, userID uuid.UUID) int {
	t.Helper()
	n, err := f.eng.UnreadNotifications(f.ctx, userID)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *taskFixture) timelineHas(t *testing.T, runID uuid.UUID, message string) bool {
	t.Helper()
	tl, err := f.eng.RunTimeline(f.ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range tl {
		if e.Message == message {
			return true
		}
	}
	return false
}
