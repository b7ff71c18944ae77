package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"floh/db"
	"floh/engine"
)

// approvalDoc is a workflow whose approval step routes a rejection to a step of its own, so
// a test can tell the two paths apart. config is the approval's config as JSON.
func approvalDoc(name, config string) string {
	return fmt.Sprintf(`{"name": %q, "variables": [],
	"steps": [{"id": "start", "name": "Start", "type": "start"},
		{"id": "approve", "name": "Access approval", "type": "approval", "config": %s},
		{"id": "regret", "name": "Note the rejection", "type": "transform", "config": {"set": {"rejected": "true"}}},
		{"id": "end", "name": "End", "type": "end"}],
	"edges": [{"from": "start", "to": "approve", "on": "success"}, {"from": "approve", "to": "end", "on": "success"},
		{"from": "approve", "to": "regret", "on": "rejected"}, {"from": "regret", "to": "end", "on": "success"}]}`, name, config)
}

// manualTaskDoc is a workflow with one manual task for the Approver role.
const manualTaskDoc = `{"name": "Desk phone", "variables": [{"name": "email", "type": "string", "required": true}],
	"steps": [{"id": "start", "name": "Start", "type": "start"},
		{"id": "phone", "name": "Set up the phone", "type": "manual_task", "config": {"assignee": "role:Approver",
			"title": "Set up a desk phone for {{email}}", "instructions": "Create an extension for {{email}} in the PBX."}},
		{"id": "end", "name": "End", "type": "end"}],
	"edges": [{"from": "start", "to": "phone", "on": "success"}, {"from": "phone", "to": "end", "on": "success"}]}`

// startRunAs starts a run as a demo user, so the run's requester is that user.
func (ts *testServer) startRunAs(t *testing.T, workflowID uuid.UUID, subject string, vars map[string]any) *db.Run {
	t.Helper()
	u := ts.demo(t, subject)
	run, err := ts.Engine.StartWorkflow(context.Background(), engine.Actor{UserID: &u.ID, Label: u.Email}, workflowID, engine.StartInput{Variables: vars})
	if err != nil {
		t.Fatalf("start run: %v", err)
	}
	return run
}

// waitingTasks returns a run's tasks, queued ones included, once it waits for them, by slot.
func (ts *testServer) waitingTasks(t *testing.T, run *db.Run) []db.TaskView {
	t.Helper()
	ts.waitRun(t, run.ID, db.RunWaiting)
	items, _, err := db.ListTasks(context.Background(), ts.DB.Bun, db.TaskFilter{RunID: &run.ID,
		Statuses: []string{db.TaskQueued, db.TaskOpen}, Page: db.Page{Page: 1, PageSize: 10}})
	if err != nil || len(items) == 0 {
		t.Fatalf("tasks of run %s: %v %v", run.ID, items, err)
	}
	return items
}

func (ts *testServer) task(t *testing.T, id uuid.UUID) *db.Task {
	t.Helper()
	task, err := db.FindTask(context.Background(), ts.DB.Bun, id)
	if err != nil {
		t.Fatal(err)
	}
	return task
}

// htmx are the headers of an htmx form post from the app's own page.
func (ts *testServer) htmx() []string {
	return append(ts.sameOrigin(), "HX-Request", "true")
}

// card is the task's card in a page: from its start to the next card.
func card(t *testing.T, body string, id uuid.UUID) string {
	t.Helper()
	i := strings.Index(body, `id="task-`+id.String()+`"`)
	if i < 0 {
		t.Fatalf("no card of task %s in:\n%s", id, body)
	}
	out := body[i:]
	if j := strings.Index(out, `<li class="card task-card`); j > 0 {
		out = out[:j]
	}
	return out
}

// wantCardFragment checks that an htmx answer is the card alone (with its out-of-band counts),
// not a page.
func wantCardFragment(t *testing.T, res *result, id uuid.UUID) {
	t.Helper()
	body := strings.TrimSpace(res.Body)
	if isFullPage(body) || !strings.HasPrefix(body, `<li class="card task-card`) || !strings.Contains(body, `id="task-`+id.String()+`"`) {
		t.Fatalf("%s: not the card fragment of %s:\n%s", res.URL, id, body)
	}
	wantContains(t, "the fragment's out-of-band counts", body, `id="nav-tasks-count" hx-get="/tasks/count"`, `id="task-tabs"`, `hx-swap-oob="true"`)
}

func TestApprovalsTabDecideInPlaceAndWithoutJavaScript(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.startEngine(t)
	wf := ts.newWorkflow(t, approvalDoc("Access request",
		`{"approvers": ["approver@example.test", "manager@example.test"], "mode": "parallel", "timeout": "72h"}`))
	ts.publishWorkflow(t, wf.ID)
	run := ts.startRunAs(t, wf.ID, "demo-requestor", nil)
	tasks := ts.waitingTasks(t, run)
	if len(tasks) != 2 {
		t.Fatalf("%d tasks, want one per approver", len(tasks))
	}
	mine, managers := tasks[0].ID, tasks[1].ID
	ap := ts.loginAs(t, "demo-approver")

	page := ts.get(t, ap, "/tasks?tab=approvals").wantStatus(t, http.StatusOK)
	wantHTML(t, page)
	wantContains(t, "the approvals tab", page.Body, `data-testid="nav-tasks"`, `data-testid="nav-tasks-count">1<`,
		`href="/tasks?tab=approvals" data-testid="tab-approvals" aria-current="page"`, `data-url="/tasks?tab=approvals"`)
	wantLacks(t, "the approver's tab", page.Body, managers.String(), `id="field-scope"`)
	c := card(t, page.Body, mine)
	wantContains(t, "the approver's card", c, "Access approval", `href="/runs/`+run.ID.String()+`"`, ">Access request<",
		"requestor@example.test", `data-testid="task-holder">You<`, "in 3 days", "Approver 1 of 2: all must approve",
		`data-testid="task-approve"`, `data-testid="task-reject"`, `data-testid="task-hold"`, `badge-info">open<`)
	wantLacks(t, "the approver's card", c, `data-testid="task-assign"`, `data-testid="task-claim"`, `data-testid="task-complete"`)

	// The Tasks tab holds no manual task: its empty state points to the approval.
	empty := ts.get(t, ap, "/tasks").wantStatus(t, http.StatusOK)
	wantContains(t, "the empty tasks tab", empty.Body, "Nothing waits for you", "1 approval waits for you on the Approvals tab")

	// The header's count refreshes itself.
	count := ts.get(t, ap, "/tasks/count", "HX-Request", "true").wantStatus(t, http.StatusOK)
	if body := strings.TrimSpace(count.Body); !strings.HasPrefix(body, `<span id="nav-tasks-count"`) || !strings.Contains(body, ">1<") {
		t.Errorf("GET /tasks/count is not the count:\n%s", body)
	}

	back := url.Values{"back": {"/tasks?tab=approvals"}}
	// A rejection without a reason comes back with the reason's error beside its field: under
	// htmx the card alone, without JavaScript the whole list. The task is untouched.
	rejectPath := "/tasks/" + mine.String() + "/reject"
	res := ts.postForm(t, ap, rejectPath, url.Values{"reason": {"  "}, "back": back["back"]}, ts.htmx()...).
		wantStatus(t, http.StatusUnprocessableEntity)
	wantCardFragment(t, res, mine)
	field := "field-reject-reason-" + mine.String()
	wantContains(t, "the refused rejection", res.Body, `data-testid="error-summary"`, `href="#`+field+`"`,
		"The reason is required", `<details class="task-action" data-testid="task-reject" open`, `id="`+field+`"`, `aria-invalid="true"`)
	res = ts.postForm(t, ap, rejectPath, url.Values{"reason": {""}, "back": back["back"]}, ts.sameOrigin()...).
		wantStatus(t, http.StatusUnprocessableEntity)
	if !isFullPage(res.Body) {
		t.Fatalf("the refused rejection without JavaScript is not the page:\n%s", res.Body)
	}
	wantContains(t, "the refused rejection's page", card(t, res.Body, mine), "The reason is required", `aria-invalid="true"`)
	wantContains(t, "the refused rejection's page", res.Body, `data-url="/tasks?tab=approvals"`, `data-testid="task-list"`)
	if got := ts.task(t, mine); got.Status != db.TaskOpen || got.Comment != nil {
		t.Fatalf("task after refused rejections: %+v", got)
	}

	// Approving under htmx answers with the card in its new state, nothing left to do, and the
	// counts out of band.
	res = ts.postForm(t, ap, "/tasks/"+mine.String()+"/approve", back, ts.htmx()...).wantStatus(t, http.StatusOK)
	wantCardFragment(t, res, mine)
	wantContains(t, "the approved card", res.Body, `badge-ok">approved<`, "Approved “Access approval”.", `data-swap-focus`,
		"Approved by approver@example.test")
	wantLacks(t, "the approved card", res.Body, `data-testid="task-approve"`, `data-testid="task-reject"`, `data-testid="nav-tasks-count">`)
	if got := ts.task(t, mine); got.Status != db.TaskApproved {
		t.Fatalf("task status %s, want approved", got.Status)
	}

	// Approving again is a conflict, said in place under htmx and as a flash without it.
	res = ts.postForm(t, ap, "/tasks/"+mine.String()+"/approve", back, ts.htmx()...).wantStatus(t, http.StatusConflict)
	wantCardFragment(t, res, mine)
	wantContains(t, "the conflict", res.Body, `flash-error task-notice" role="alert"`, "Nothing changed: the task is already approved.")
	res = ts.postForm(t, ap, "/tasks/"+mine.String()+"/approve", back, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != "/tasks?tab=approvals" {
		t.Fatalf("conflict without JavaScript: Location %q", loc)
	}
	wantContains(t, "the list after the conflict", ts.get(t, ap, "/tasks?tab=approvals").Body,
		`data-testid="flash"`, "Nothing changed: the task is already approved.")

	// The run page says who still has to decide; the approver, done, gets no link to act.
	runPage := ts.get(t, ap, "/runs/"+run.ID.String()).wantStatus(t, http.StatusOK)
	wantContains(t, "the waiting run's page", runPage.Body, `data-testid="step-people"`,
		"Waiting for approval by manager@example.test: every approver must approve.", `data-testid="step-tasks"`)
	wantLacks(t, "the waiting run's page for the approver", runPage.Body, `data-testid="step-act"`)
	manager := ts.loginAs(t, "demo-manager")
	wantContains(t, "the waiting run's page for the manager", ts.get(t, manager, "/runs/"+run.ID.String()).Body,
		`data-testid="step-act">Decide in Tasks<`, "runId="+run.ID.String())

	// The manager approves without JavaScript: back to the list the form came from, with a
	// flash; the run completes, and its page says who approved.
	res = ts.postForm(t, manager, "/tasks/"+managers.String()+"/approve", url.Values{"back": {"/tasks?tab=approvals&status=open"}},
		ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != "/tasks?tab=approvals&status=open" {
		t.Fatalf("approve without JavaScript: Location %q", loc)
	}
	wantContains(t, "the list after approving", ts.get(t, manager, "/tasks?tab=approvals&status=open").Body, "Approved “Access approval”.")
	ts.waitRun(t, run.ID, db.RunCompleted)
	wantContains(t, "the completed run's page", ts.get(t, manager, "/runs/"+run.ID.String()).Body,
		"Approved by approver@example.test and manager@example.test.")

	// What was decided stays findable.
	decided := ts.get(t, ap, "/tasks?tab=approvals&status=decided").wantStatus(t, http.StatusOK)
	wantContains(t, "the decided list", card(t, decided.Body, mine), "Approved by approver@example.test", `badge-ok">approved<`)

	// A form's way back is the Tasks page, never another site.
	res = ts.postForm(t, manager, "/tasks/"+managers.String()+"/approve", url.Values{"back": {"https://evil.example/tasks"}},
		ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != "/tasks" {
		t.Errorf("foreign back: Location %q, want /tasks", loc)
	}
}

func TestRejectionRoutesTheRejectedEdgeAndShowsItsReasonOnTheRunPage(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.startEngine(t)
	wf := ts.newWorkflow(t, approvalDoc("Finance share", `{"approvers": ["role:Approver"]}`))
	ts.publishWorkflow(t, wf.ID)
	run := ts.startRunAs(t, wf.ID, "demo-requestor", nil)
	id := ts.waitingTasks(t, run)[0].ID
	ap := ts.loginAs(t, "demo-approver")
	req := ts.loginAs(t, "demo-requestor")

	c := card(t, ts.get(t, ap, "/tasks?tab=approvals").Body, id)
	wantContains(t, "a role's approval", c, "Anyone with the Approver role", `data-testid="task-claim"`, `data-testid="task-approve"`)
	wantLacks(t, "a lone approver's card", c, `data-testid="task-slot"`)

	// While it waits, the run page says for whom, and links the approver to the Tasks page.
	runPath := "/runs/" + run.ID.String()
	wantContains(t, "the run page for the approver", ts.get(t, ap, runPath).Body,
		"Waiting for approval by anyone with the Approver role.", `data-testid="step-act">Decide in Tasks<`)
	waiting := ts.get(t, req, runPath).wantStatus(t, http.StatusOK).Body
	wantContains(t, "the run page for its requester", waiting, "Waiting for approval by anyone with the Approver role.")
	wantLacks(t, "the run page for its requester", waiting, `data-testid="step-act"`)

	ts.postForm(t, ap, "/tasks/"+id.String()+"/reject", url.Values{"reason": {"No budget this quarter"}, "back": {"/tasks?tab=approvals"}},
		ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	wantContains(t, "the flash", ts.get(t, ap, "/tasks?tab=approvals").Body, "Rejected “Access approval”.")
	ts.waitRun(t, run.ID, db.RunCompleted)
	steps, err := db.ListStepExecutions(context.Background(), ts.DB.Bun, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	var routed bool
	for _, s := range steps {
		routed = routed || (s.StepID == "regret" && s.Status == db.StepCompleted)
	}
	if !routed {
		t.Fatalf("the rejection did not route the rejected edge: %+v", steps)
	}
	// The requester reads the decision and its reason on the step, not only in the timeline.
	done := ts.get(t, req, runPath).wantStatus(t, http.StatusOK).Body
	step := section(t, done, "step-approve", `data-testid="step-regret"`)
	wantContains(t, "the rejected step", step, "Rejected by approver@example.test: “No budget this quarter”")
}

func TestManualTaskClaimHoldReleaseAssignAndComplete(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.startEngine(t)
	wf := ts.newWorkflow(t, manualTaskDoc)
	ts.publishWorkflow(t, wf.ID)
	run := ts.startRun(t, wf.ID, map[string]any{"email": "jane@example.com"})
	id := ts.waitingTasks(t, run)[0].ID
	path := func(action string) string { return "/tasks/" + id.String() + "/" + action }
	back := url.Values{"back": {"/tasks"}}
	ap := ts.loginAs(t, "demo-approver")

	c := card(t, ts.get(t, ap, "/tasks").wantStatus(t, http.StatusOK).Body, id)
	wantContains(t, "the manual task", c, "Set up a desk phone for jane@example.com", "Create an extension for jane@example.com in the PBX.",
		"Set up the phone", `data-testid="task-claim"`, `data-testid="task-complete"`, `data-testid="task-hold"`, "admin@example.test")
	wantLacks(t, "the manual task", c, `data-testid="task-approve"`, `data-testid="task-unassign"`)

	res := ts.postForm(t, ap, path("claim"), back, ts.htmx()...).wantStatus(t, http.StatusOK)
	wantCardFragment(t, res, id)
	wantContains(t, "the claimed card", res.Body, "You claimed", `data-testid="task-holder">You<`, `data-testid="task-unassign"`)
	wantLacks(t, "the claimed card", res.Body, `data-testid="task-claim"`)

	// A hold needs a reason.
	res = ts.postForm(t, ap, path("hold"), url.Values{"reason": {""}, "back": {"/tasks"}}, ts.htmx()...).
		wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "the refused hold", res.Body, `data-testid="task-hold" open`, "The reason is required", `id="field-hold-reason-`+id.String()+`"`)
	ts.postForm(t, ap, path("hold"), url.Values{"reason": {"Waiting for the PBX licence"}, "back": {"/tasks"}}, ts.sameOrigin()...).
		wantStatus(t, http.StatusSeeOther)
	c = card(t, ts.get(t, ap, "/tasks").Body, id)
	wantContains(t, "the held card", c, `badge-warn">on hold<`, "Waiting for the PBX licence", `data-testid="task-unhold"`)
	wantLacks(t, "the held card", c, `data-testid="task-complete"`, `data-testid="task-hold"`)

	// Completing a held task is a conflict, said in place.
	res = ts.postForm(t, ap, path("complete"), back, ts.htmx()...).wantStatus(t, http.StatusConflict)
	wantContains(t, "the refused completion", res.Body, "Nothing changed: the task is on hold (Waiting for the PBX licence); take it off hold first.")

	res = ts.postForm(t, ap, path("unhold"), back, ts.htmx()...).wantStatus(t, http.StatusOK)
	wantContains(t, "the resumed card", res.Body, "is open again", `badge-info">open<`)
	res = ts.postForm(t, ap, path("unassign"), back, ts.htmx()...).wantStatus(t, http.StatusOK)
	wantContains(t, "the released card", res.Body, "Released", "to anyone with the Approver role", "Anyone with the Approver role")

	// Someone with task:assign finds it among everyone's and gives it to someone.
	manager := ts.loginAs(t, "demo-manager")
	wantLacks(t, "the manager's own list", ts.get(t, manager, "/tasks").Body, id.String())
	all := ts.get(t, manager, "/tasks?scope=all").wantStatus(t, http.StatusOK).Body
	requestor := ts.demo(t, "demo-requestor")
	wantContains(t, "everyone's tasks", all, `id="field-scope"`, `<option value="all" selected`)
	wantContains(t, "the manager's card", card(t, all, id), `data-testid="task-assign"`,
		`<option value="`+requestor.ID.String()+`">Riley Requestor (requestor@example.test)</option>`)
	res = ts.postForm(t, manager, path("assign"), url.Values{"userId": {"someone"}, "back": {"/tasks?scope=all"}}, ts.htmx()...).
		wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "the refused assignment", res.Body, `data-testid="task-assign" open`, "The person: &#34;someone&#34; is not a user id.")
	res = ts.postForm(t, manager, path("assign"), url.Values{"userId": {requestor.ID.String()}, "back": {"/tasks?scope=all"}}, ts.htmx()...).
		wantStatus(t, http.StatusOK)
	wantContains(t, "the assigned card", res.Body, "Gave “Set up a desk phone for jane@example.com” to Riley Requestor (requestor@example.test); they are notified.",
		`data-testid="task-holder">Riley Requestor (requestor@example.test)<`)
	if n := ts.count(t, "SELECT count(*) FROM notifications WHERE user_id = ? AND title LIKE 'Task:%'", requestor.ID); n != 1 {
		t.Errorf("the new holder has %d task notifications, want 1", n)
	}

	// The requester of a task need not see its run: the card does not link there.
	req := ts.loginAs(t, "demo-requestor")
	c = card(t, ts.get(t, req, "/tasks").Body, id)
	wantContains(t, "the requestor's card", c, `data-testid="task-complete"`, ">Desk phone<")
	wantLacks(t, "the requestor's card", c, `href="/runs/`, `data-testid="task-assign"`)
	res = ts.postForm(t, req, path("complete"), url.Values{"comment": {"Extension 4711"}, "back": {"/tasks"}}, ts.htmx()...).
		wantStatus(t, http.StatusOK)
	wantContains(t, "the completed card", res.Body, "Completed “Set up a desk phone for jane@example.com”. The run moves on.",
		"Completed by requestor@example.test", "Extension 4711")
	ts.waitRun(t, run.ID, db.RunCompleted)
	wantContains(t, "the run page", ts.get(t, manager, "/runs/"+run.ID.String()).Body, "Completed by requestor@example.test: “Extension 4711”")

	// The approver, in the task's role, acting on a page loaded before: told on the list.
	res = ts.postForm(t, ap, path("complete"), back, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	wantContains(t, "the flash", ts.get(t, ap, res.Header.Get("Location")).Body, "Nothing changed: the task is already completed.")
}

func TestTasksPagePermissionsCSRFAndACancelledRun(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.startEngine(t)
	wf := ts.newWorkflow(t, approvalDoc("Server access", `{"approvers": ["role:Approver"]}`))
	ts.publishWorkflow(t, wf.ID)
	run := ts.startRun(t, wf.ID, nil)
	id := ts.waitingTasks(t, run)[0].ID
	path := func(action string) string { return "/tasks/" + id.String() + "/" + action }
	back := url.Values{"back": {"/tasks?tab=approvals"}}

	// A requestor sees none of it, not even by asking for everyone's, and cannot act on it.
	req := ts.loginAs(t, "demo-requestor")
	for _, p := range []string{"/tasks?tab=approvals", "/tasks?tab=approvals&scope=all", "/tasks?tab=approvals&status=decided"} {
		page := ts.get(t, req, p).wantStatus(t, http.StatusOK).Body
		wantContains(t, p, page, `data-testid="nav-tasks"`, `data-testid="no-decide"`, `data-testid="empty-state"`)
		wantLacks(t, p, page, id.String(), `id="field-scope"`)
	}
	for _, action := range []string{"assign", "approve", "reject"} {
		res := ts.postForm(t, req, path(action), url.Values{"reason": {"x"}, "back": back["back"]}, ts.sameOrigin()...).
			wantStatus(t, http.StatusForbidden)
		wantContains(t, "the requestor's "+action, res.Body, `data-testid="error-403"`)
	}
	for _, action := range []string{"claim", "hold"} {
		res := ts.postForm(t, req, path(action), url.Values{"reason": {"x"}, "back": back["back"]}, ts.sameOrigin()...).
			wantStatus(t, http.StatusSeeOther)
		wantContains(t, "the requestor's "+action, ts.get(t, req, res.Header.Get("Location")).Body, "not on your list")
	}
	if got := ts.task(t, id); got.Status != db.TaskOpen || got.AssigneeID != nil || got.HoldReason != nil {
		t.Fatalf("the requestor's refused actions changed the task: %+v", got)
	}

	// The approver has no scope filter; the manager sees it among everyone's only.
	ap := ts.loginAs(t, "demo-approver")
	wantLacks(t, "the approver's page", ts.get(t, ap, "/tasks?tab=approvals&scope=all").Body, `id="field-scope"`)
	manager := ts.loginAs(t, "demo-manager")
	wantLacks(t, "the manager's own approvals", ts.get(t, manager, "/tasks?tab=approvals").Body, id.String())
	wantContains(t, "everyone's approvals", card(t, ts.get(t, manager, "/tasks?tab=approvals&scope=all").Body, id),
		`data-testid="task-assign"`, `data-testid="task-claim"`)

	// A cross-site form post is refused before it reaches the task.
	res := ts.postForm(t, ap, path("approve"), back, crossSite...).wantStatus(t, http.StatusForbidden)
	wantContains(t, "the cross-site post", res.Body, "cross-origin")
	if got := ts.task(t, id); got.Status != db.TaskOpen {
		t.Fatalf("a cross-site post changed the task: %+v", got)
	}

	// The run is cancelled while the approver reads the page: the rejection is refused in place.
	if _, err := ts.Engine.CancelRun(context.Background(), ts.adminActor(t), run.ID); err != nil {
		t.Fatal(err)
	}
	res = ts.postForm(t, ap, path("reject"), url.Values{"reason": {"Too late"}, "back": back["back"]}, ts.htmx()...).
		wantStatus(t, http.StatusConflict)
	wantCardFragment(t, res, id)
	wantContains(t, "the cancelled task", res.Body, "Nothing changed: the task is already cancelled.", `badge-muted">cancelled<`,
		"No longer needed")
	wantLacks(t, "the cancelled task", res.Body, `data-testid="task-approve"`)
}

func TestSequentialApprovalSaysWhoIsNextAndOpensTheNextSlot(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.startEngine(t)
	wf := ts.newWorkflow(t, approvalDoc("Payroll access", `{"approvers": ["approver@example.test", "manager@example.test"], "mode": "sequential"}`))
	ts.publishWorkflow(t, wf.ID)
	run := ts.startRun(t, wf.ID, nil)
	tasks := ts.waitingTasks(t, run)
	runPath := "/runs/" + run.ID.String()
	manager := ts.loginAs(t, "demo-manager")
	wantContains(t, "the run page", ts.get(t, manager, runPath).Body,
		"Waiting for approval by approver@example.test, then by manager@example.test.", `badge-muted">queued<`)
	// The manager's slot is queued: not on their list yet.
	wantLacks(t, "the manager's list", ts.get(t, manager, "/tasks?tab=approvals").Body, tasks[1].ID.String())

	ap := ts.loginAs(t, "demo-approver")
	wantContains(t, "the first slot", card(t, ts.get(t, ap, "/tasks?tab=approvals").Body, tasks[0].ID), "Approver 1 of 2, in order")
	ts.postForm(t, ap, "/tasks/"+tasks[0].ID.String()+"/approve", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	wantContains(t, "the second slot", card(t, ts.get(t, manager, "/tasks?tab=approvals").Body, tasks[1].ID), "Approver 2 of 2, in order")
	wantContains(t, "the run page", ts.get(t, manager, runPath).Body,
		"Waiting for approval by manager@example.test, the last approver in order.", `data-testid="step-act">Decide in Tasks<`)
}
