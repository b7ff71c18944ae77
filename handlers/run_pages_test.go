package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"floh/db"
	"floh/engine"
)

// startEngine runs the engine's workers for the test, so runs move and finish.
func (ts *testServer) startEngine(t *testing.T) {
	t.Helper()
	if err := ts.Engine.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ts.Engine.Stop(context.Background()) })
}

// startRun starts a run of an active workflow straight through the engine.
func (ts *testServer) startRun(t *testing.T, workflowID uuid.UUID, vars map[string]any) *db.Run {
	t.Helper()
	run, err := ts.Engine.StartWorkflow(context.Background(), ts.adminActor(t), workflowID, engine.StartInput{Variables: vars})
	if err != nil {
		t.Fatalf("start run: %v", err)
	}
	return run
}

// waitRun waits until the run has the status (the engine runs on a real River queue).
func (ts *testServer) waitRun(t *testing.T, id uuid.UUID, status string) *db.Run {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		run, err := db.FindRun(context.Background(), ts.DB.Bun, id)
		if err != nil {
			t.Fatal(err)
		}
		if run.Status == status {
			return run
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s is %s, want %s", id, run.Status, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// failingWorkflow calls a connector in mock mode whose mock data answers with an error that
// retrying cannot fix, so the run fails at once.
const failingWorkflow = `{"name": "Pause that fails", "variables": [],
	"steps": [{"id": "start", "name": "Start", "type": "start"},
		{"id": "pause", "name": "Pause a moment", "type": "connector", "config": {"connectorId": "Pause", "command": "wait", "params": {"duration": "0s"}}},
		{"id": "end", "name": "End", "type": "end"}],
	"edges": [{"from": "start", "to": "pause", "on": "success"}, {"from": "pause", "to": "end", "on": "success"}]}`

func (ts *testServer) failingConnector(t *testing.T) *db.Connector {
	t.Helper()
	c, err := ts.Engine.CreateConnector(context.Background(), ts.adminActor(t), engine.ConnectorInput{
		Name: "Pause", Type: "delay", MockMode: true,
		MockData: map[string]any{"wait": map[string]any{"error": map[string]any{
			"class": "invalid_input", "code": "BAD_DURATION", "message": "the directory refuses a pause of 0s",
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRunsListFiltersLiveRefreshAndEmptyState(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.loginAs(t, "demo-admin")

	empty := ts.get(t, c, "/runs").wantStatus(t, http.StatusOK)
	wantHTML(t, empty)
	wantContains(t, "the empty list", empty.Body, `data-testid="empty-state"`, "No runs yet", `href="/workflows"`,
		`data-testid="nav-runs"`, `aria-current="page"`)
	wantLacks(t, "the empty list", empty.Body, "hx-trigger=\"every 5s\"")

	ts.startEngine(t)
	ts.failingConnector(t)
	doubler := ts.newWorkflow(t, transformWorkflow)
	ts.publishWorkflow(t, doubler.ID)
	failing := ts.newWorkflow(t, failingWorkflow)
	ts.publishWorkflow(t, failing.ID)
	ok1 := ts.startRun(t, doubler.ID, map[string]any{"n": 1})
	ok2 := ts.startRun(t, doubler.ID, map[string]any{"n": 2})
	bad := ts.startRun(t, failing.ID, nil)
	ts.waitRun(t, ok1.ID, db.RunCompleted)
	ts.waitRun(t, ok2.ID, db.RunCompleted)
	ts.waitRun(t, bad.ID, db.RunFailed)

	list := ts.get(t, c, "/runs").wantStatus(t, http.StatusOK)
	wantContains(t, "the list", list.Body, `data-testid="run-row-`+ok1.ID.String()+`"`, `data-testid="run-row-`+bad.ID.String()+`"`,
		`href="/runs/`+ok2.ID.String()+`"`, `badge-ok">completed`, `badge-bad">failed`, "admin@example.test", "Showing 1–3 of 3",
		`<option value="`+doubler.ID.String()+`">Doubler</option>`)
	// Every run shown has finished: the table does not poll.
	wantLacks(t, "the finished list", list.Body, `data-testid="runs-live"`, "every 5s")

	failed := ts.get(t, c, "/runs?status=failed").wantStatus(t, http.StatusOK)
	wantContains(t, "status=failed", failed.Body, `data-testid="run-row-`+bad.ID.String()+`"`, `<option value="failed" selected`)
	wantLacks(t, "status=failed", failed.Body, `data-testid="run-row-`+ok1.ID.String()+`"`)

	part := ts.get(t, c, "/runs?workflowId="+doubler.ID.String(), "HX-Request", "true").wantStatus(t, http.StatusOK)
	body := strings.TrimSpace(part.Body)
	if isFullPage(body) || !strings.HasPrefix(body, `<div id="runs-table"`) {
		t.Fatalf("the filtered htmx request is not the table fragment:\n%s", body)
	}
	wantContains(t, "workflowId", body, ok1.ID.String(), ok2.ID.String())
	wantLacks(t, "workflowId", body, bad.ID.String())

	paged := ts.get(t, c, "/runs?pageSize=2").wantStatus(t, http.StatusOK)
	wantContains(t, "page 1", paged.Body, "Showing 1–2 of 3", `rel="next"`)
	wantContains(t, "page 2", ts.get(t, c, "/runs?pageSize=2&page=2").Body, "Showing 3–3 of 3", `rel="prev"`)

	none := ts.get(t, c, "/runs?status=cancelled").wantStatus(t, http.StatusOK)
	wantContains(t, "no match", none.Body, "No runs match", "Clear the status or workflow filter")
	// A hand-edited address still shows the list.
	ts.get(t, c, "/runs?status=done&workflowId=nope&page=x").wantStatus(t, http.StatusOK)
}

func TestRunsRefreshWhileRunsMove(t *testing.T) {
	t.Parallel()
	// The engine is not started here: the run stays pending, as one queued behind others.
	ts := newTestServer(t)
	c := ts.loginAs(t, "demo-admin")
	wf := ts.newWorkflow(t, transformWorkflow)
	ts.publishWorkflow(t, wf.ID)
	run := ts.startRun(t, wf.ID, map[string]any{"n": 3})

	list := ts.get(t, c, "/runs?status=pending").wantStatus(t, http.StatusOK)
	wantContains(t, "a pending run", list.Body, `badge-info">pending`, `data-testid="runs-live"`,
		`hx-get="/runs?page=1&amp;status=pending"`, `hx-trigger="every 5s"`, "so far")

	page := ts.get(t, c, "/runs/"+run.ID.String()).wantStatus(t, http.StatusOK)
	wantContains(t, "a pending run's page", page.Body, `data-testid="run-live"`, `hx-get="/runs/`+run.ID.String()+`"`,
		`hx-trigger="every 2s"`, `data-testid="cancel-run"`, "not yet")
	wantLacks(t, "a pending run's page", page.Body, `data-testid="retry-run"`)
	live := strings.TrimSpace(ts.get(t, c, "/runs/"+run.ID.String(), "HX-Request", "true").wantStatus(t, http.StatusOK).Body)
	if isFullPage(live) || !strings.HasPrefix(live, `<div id="run-live"`) {
		t.Fatalf("the live refresh is not the run's live part:\n%s", live)
	}

	// Cancel goes through a confirmation that says what happens.
	confirm := ts.get(t, c, "/runs/"+run.ID.String()+"/cancel").wantStatus(t, http.StatusOK)
	wantContains(t, "the cancel confirmation", confirm.Body, `data-testid="confirm-button"`, "Cancel this run of Doubler?",
		"Steps that completed are not undone", `action="/runs/`+run.ID.String()+`/cancel"`)
	// Who may read runs but not operate them gets no button, and a 403 on the post.
	approver := ts.loginAs(t, "demo-approver")
	wantLacks(t, "the approver's view", ts.get(t, approver, "/runs/"+run.ID.String()).wantStatus(t, http.StatusOK).Body, `data-testid="cancel-run"`)
	ts.postForm(t, approver, "/runs/"+run.ID.String()+"/cancel", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusForbidden)

	res := ts.postForm(t, c, "/runs/"+run.ID.String()+"/cancel", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	if loc := res.location(t); !strings.HasSuffix(loc, "/runs/"+run.ID.String()) {
		t.Fatalf("after cancel: Location %s", loc)
	}
	ts.waitRun(t, run.ID, db.RunCancelled)
	after := ts.get(t, c, "/runs/"+run.ID.String()).wantStatus(t, http.StatusOK)
	wantContains(t, "the cancelled run", after.Body, "Cancelled the run.", `badge-muted">cancelled`, `badge-muted">cancelled</span>`)
	// A finished run stops the polling and offers nothing.
	wantLacks(t, "the cancelled run", after.Body, `data-testid="run-live"`, "every 2s", `data-testid="cancel-run"`)
	if n := len(ts.auditEntries(t, "run.cancelled")); n != 1 {
		t.Fatalf("%d run.cancelled audit entries, want 1", n)
	}
	// Cancelling again says why nothing happened.
	ts.postForm(t, c, "/runs/"+run.ID.String()+"/cancel", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	wantContains(t, "a second cancel", ts.get(t, c, "/runs/"+run.ID.String()).Body, "The run is already cancelled.")
	ts.get(t, c, "/runs/"+uuid.NewString()).wantStatus(t, http.StatusNotFound)
}

func TestRunPageOfCompletedAndFailedRunsAndRetry(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.startEngine(t)
	c := ts.loginAs(t, "demo-admin")
	ts.failingConnector(t)
	doubler := ts.newWorkflow(t, transformWorkflow)
	ts.publishWorkflow(t, doubler.ID)
	failing := ts.newWorkflow(t, failingWorkflow)
	ts.publishWorkflow(t, failing.ID)

	done := ts.startRun(t, doubler.ID, map[string]any{"n": 21})
	ts.waitRun(t, done.ID, db.RunCompleted)
	page := ts.get(t, c, "/runs/"+done.ID.String()).wantStatus(t, http.StatusOK)
	wantHTML(t, page)
	b := page.Body
	wantContains(t, "the completed run", b, `data-testid="run-workflow">Doubler`, `Doubler</a>, version 1`, `badge-ok">completed`,
		`href="/workflows/`+doubler.ID.String()+`?version=1"`, ", version 1", "admin@example.test",
		`data-testid="step-start"`, `data-testid="step-double"`, `data-testid="step-end"`, "1 attempt", "took",
		`&#34;twice&#34;: 42`, `id="run-variables"`, `id="run-timeline"`, "Run of Doubler (version 1) started by admin@example.test")
	// Start, the transform and end, in execution order.
	if i, j, k := strings.Index(b, `data-testid="step-start"`), strings.Index(b, `data-testid="step-double"`), strings.Index(b, `data-testid="step-end"`); !(i < j && j < k) {
		t.Fatalf("steps out of order: %d %d %d", i, j, k)
	}
	wantLacks(t, "the completed run", b, `data-testid="run-live"`, `data-testid="cancel-run"`, `data-testid="retry-run"`, `data-testid="connector-error"`)

	bad := ts.startRun(t, failing.ID, nil)
	ts.waitRun(t, bad.ID, db.RunFailed)
	fb := ts.get(t, c, "/runs/"+bad.ID.String()).wantStatus(t, http.StatusOK).Body
	wantContains(t, "the failed run", fb, `badge-bad">failed`, `data-testid="run-error">The directory refuses a pause of 0s.`,
		`data-testid="step-pause"`, `badge-bad">failed`, `data-testid="connector-error"`, "Rejected input", "BAD_DURATION",
		"No: retrying the same call gives the same answer.", "Correct the value the message names",
		`data-testid="retry-run"`, "Retry from the failed step", "Pause a moment")
	wantLacks(t, "the failed run", fb, `data-testid="cancel-run"`, `data-testid="run-live"`)

	res := ts.postForm(t, c, "/runs/"+bad.ID.String()+"/retry", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	if loc := res.location(t); !strings.HasSuffix(loc, "/runs/"+bad.ID.String()) {
		t.Fatalf("after retry: Location %s", loc)
	}
	if n := len(ts.auditEntries(t, "run.retried")); n != 1 {
		t.Fatalf("%d run.retried audit entries, want 1", n)
	}
	// The mock answers the same, so the retried step fails again, on its second attempt.
	deadline := time.Now().Add(20 * time.Second)
	for {
		steps, err := ts.Engine.RunSteps(context.Background(), bad.ID)
		if err != nil {
			t.Fatal(err)
		}
		if steps[1].Attempts == 2 && steps[1].Status == db.StepFailed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the retried step: %+v", steps[1])
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.waitRun(t, bad.ID, db.RunFailed)
	wantContains(t, "the retried run", ts.get(t, c, "/runs/"+bad.ID.String()).Body, "2 attempts", "Retry from step Pause a moment requested by admin@example.test")
}

const startFormWorkflow = `{"name": "Grant access", "subjectVariable": "who", "variables": [
		{"name": "ticket_id", "type": "string", "required": true, "description": "The service desk ticket"},
		{"name": "days", "type": "number", "required": true},
		{"name": "urgent", "type": "boolean"},
		{"name": "who", "type": "user", "required": true, "description": "Who gets the access"},
		{"name": "extra", "type": "object"},
		{"name": "groups", "type": "list"}],
	"steps": [{"id": "start", "name": "Start", "type": "start"}, {"id": "end", "name": "End", "type": "end"}],
	"edges": [{"from": "start", "to": "end", "on": "success"}]}`

func TestStartFormKeepsValuesOn422AndStartsARun(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.loginAs(t, "demo-admin")
	target, _, err := ts.Engine.CreateUser(context.Background(), ts.adminActor(t), engine.CreateUserInput{Email: "jane@example.test", DisplayName: "Jane"})
	if err != nil {
		t.Fatal(err)
	}
	wf := ts.newWorkflow(t, startFormWorkflow)
	id := wf.ID.String()

	// A draft cannot start: the form sends the admin back saying why.
	res := ts.get(t, c, "/workflows/"+id+"/start").wantStatus(t, http.StatusSeeOther)
	if !strings.HasSuffix(res.location(t), "/workflows/"+id) {
		t.Fatalf("draft start form: Location %s", res.location(t))
	}
	draft := ts.get(t, c, "/workflows/"+id).Body
	wantContains(t, "the draft after the refused form", draft, "Grant access is a draft: publish it before starting it.")
	wantLacks(t, "the draft", draft, `data-testid="start-workflow"`)

	ts.publishWorkflow(t, wf.ID)
	detail := ts.get(t, c, "/workflows/"+id).Body
	wantContains(t, "the active workflow", detail, `data-testid="start-workflow"`, `href="/workflows/`+id+`/start"`,
		`data-testid="workflow-runs"`, `href="/runs?workflowId=`+id+`"`)

	form := ts.get(t, c, "/workflows/"+id+"/start").wantStatus(t, http.StatusOK)
	wantHTML(t, form)
	wantContains(t, "the start form", form.Body, "<h1>Start Grant access</h1>", `action="/workflows/`+id+`/start"`,
		`name="variables.ticket_id"`, "Ticket id", "The service desk ticket", `type="number" id="field-variables.days"`,
		`type="checkbox" id="field-variables.urgent"`, "Who gets the access", "email address or Floh user id",
		`<textarea id="field-variables.extra"`, `<textarea id="field-variables.groups"`, `name="useMocks"`,
		"Use mock data for every connector", `<span class="visually-hidden">(required)</span>`)

	// What cannot be read is refused beside its input, with the empty required ones, and what
	// was typed comes back.
	bad := url.Values{"variables.days": {"many"}, "variables.who": {"nobody@example.test"}, "variables.extra": {`{"a":`}, "useMocks": {"true"}}
	refused := ts.postForm(t, c, "/workflows/"+id+"/start", bad, ts.sameOrigin()...).wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "the refused form", refused.Body, `data-testid="error-summary"`,
		`href="#field-variables.days"`, "Days must be a number, such as 42 or 2.5.", `value="many"`,
		"Who: no user has the email address nobody@example.test.", `value="nobody@example.test"`,
		"Extra is not valid JSON", `{&#34;a&#34;:</textarea>`, "Ticket id is required.",
		`id="error-variables.days"`, `name="useMocks" value="true" checked`)
	if n := ts.count(t, "SELECT count(*) FROM runs"); n != 0 {
		t.Fatalf("%d runs after a refused form", n)
	}

	// What the form reads but the engine refuses comes back the same way.
	typed := url.Values{"variables.ticket_id": {"SD-1"}, "variables.days": {"3"}, "variables.who": {target.ID.String()}, "variables.extra": {"[1, 2]"}}
	refused = ts.postForm(t, c, "/workflows/"+id+"/start", typed, ts.sameOrigin()...).wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "the engine's refusal", refused.Body, "Extra must be an object, not a list.", `href="#field-variables.extra"`,
		`value="SD-1"`, `value="3"`, "[1, 2]</textarea>")

	good := url.Values{"variables.ticket_id": {"SD-1"}, "variables.days": {"2.5"}, "variables.urgent": {"true"},
		"variables.who": {"JANE@example.test"}, "variables.groups": {`["vpn"]`}, "useMocks": {"true"}}
	res = ts.postForm(t, c, "/workflows/"+id+"/start", good, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	loc := res.location(t)
	runID, err := uuid.Parse(loc[strings.LastIndex(loc, "/")+1:])
	if err != nil || !strings.Contains(loc, "/runs/") {
		t.Fatalf("after start: Location %s", loc)
	}
	run, err := db.FindRun(context.Background(), ts.DB.Bun, runID)
	if err != nil {
		t.Fatal(err)
	}
	var vars map[string]any
	if err := json.Unmarshal(run.Variables, &vars); err != nil {
		t.Fatal(err)
	}
	// The email was resolved to the user's id, which makes the user the run's subject.
	if vars["who"] != target.ID.String() || vars["days"] != 2.5 || vars["urgent"] != true || vars["ticket_id"] != "SD-1" ||
		vars["extra"] != nil || !run.UseMocks || run.SubjectID == nil || *run.SubjectID != target.ID.String() {
		t.Fatalf("run: useMocks %v subject %v variables %v", run.UseMocks, run.SubjectID, vars)
	}
	wantContains(t, "the new run's page", ts.get(t, c, loc).Body, "Started Grant access.", "mock data")

	// The user page and the API list the run as the user's workflow activity; the admin
	// started it, so it is the admin's activity too.
	var list struct {
		Items []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"items"`
		Total int `json:"total"`
	}
	ts.get(t, c, "/api/users/"+target.ID.String()+"/workflow-activity").wantStatus(t, http.StatusOK).json(t, &list)
	if list.Total != 1 || list.Items[0].ID != runID.String() {
		t.Fatalf("the target's activity: %+v", list)
	}
	admin := ts.demo(t, "demo-admin")
	ts.get(t, c, "/api/users/"+admin.ID.String()+"/workflow-activity?pageSize=1").wantStatus(t, http.StatusOK).json(t, &list)
	if list.Total != 1 || len(list.Items) != 1 {
		t.Fatalf("the admin's activity: %+v", list)
	}
	manager := ts.demo(t, "demo-manager")
	ts.get(t, c, "/api/users/"+manager.ID.String()+"/workflow-activity").wantStatus(t, http.StatusOK).json(t, &list)
	if list.Total != 0 || list.Items == nil {
		t.Fatalf("the manager's activity: %+v", list)
	}
	ts.get(t, c, "/api/users/"+uuid.NewString()+"/workflow-activity").apiError(t, http.StatusNotFound, "not_found")
	userPage := ts.get(t, c, "/users/"+target.ID.String()).wantStatus(t, http.StatusOK).Body
	wantContains(t, "the user page", userPage, `data-testid="workflow-activity"`, "Workflow activity",
		`href="/runs/`+runID.String()+`"`, "Grant access", `badge-info">pending`)
	wantContains(t, "a user without runs", ts.get(t, c, "/users/"+manager.ID.String()).Body, "No workflow activity")

	// A requestor may start workflows and follow the runs they started, but not others'.
	reqClient := ts.loginAs(t, "demo-requestor")
	req := ts.get(t, reqClient, "/workflows/"+id).Body
	wantContains(t, "the requestor's view", req, `data-testid="start-workflow"`, `data-testid="workflow-runs"`, `data-testid="nav-runs"`)
	wantLacks(t, "the requestor's runs", ts.get(t, reqClient, "/runs?workflowId="+id).Body, runID.String())
}
