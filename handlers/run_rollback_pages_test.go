package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"

	"floh/db"
	"floh/engine"
)

// partialOnboarding is the runbook's partial provisioning: a Floh user, a directory account,
// a password reset on another (existing) account in a second directory, then adding to a
// group fails. The plan undoes the reset (by hand: only deleting bob's account would undo it,
// and the run did not create bob), deletes the new account and soft-deletes the Floh user, in
// that order.
const partialOnboarding = `{"name": "Partial onboarding", "variables": [],
	"steps": [{"id": "start", "name": "Start", "type": "start"},
		{"id": "user", "name": "Create the Floh user", "type": "user_create", "config": {"email": "jane.new@example.test", "displayName": "Jane New"}},
		{"id": "account", "name": "Create the directory account", "type": "connector",
			"config": {"connectorId": "Directory", "command": "createAccount", "params": {"username": "jane.new", "surname": "New"}}},
		{"id": "reset", "name": "Reset the buddy's password", "type": "connector",
			"config": {"connectorId": "Buddy directory", "command": "setPassword", "params": {"username": "bob", "password": "s3cret-Passw0rd"}}},
		{"id": "group", "name": "Add to the staff group", "type": "connector",
			"config": {"connectorId": "Directory", "command": "addToGroup", "params": {"username": "jane.new", "group": "staff-x"}}},
		{"id": "end", "name": "End", "type": "end"}],
	"edges": [{"from": "start", "to": "user", "on": "success"}, {"from": "user", "to": "account", "on": "success"},
		{"from": "account", "to": "reset", "on": "success"}, {"from": "reset", "to": "group", "on": "success"},
		{"from": "group", "to": "end", "on": "success"}]}`

// mockDirectory is an LDAP connector in mock mode whose addToGroup answers that the group does
// not exist; mockData adds more answers.
func (ts *testServer) mockDirectory(t *testing.T, name string, mockData map[string]any) *db.Connector {
	t.Helper()
	data := map[string]any{"addToGroup": map[string]any{"error": map[string]any{
		"class": "not_found", "code": "GROUP_NOT_FOUND", "message": "no group named staff-x in the directory under ou=groups,dc=example,dc=test",
	}}}
	for k, v := range mockData {
		data[k] = v
	}
	c, err := ts.Engine.CreateConnector(context.Background(), ts.adminActor(t), engine.ConnectorInput{
		Name: name, Type: "ldap", MockMode: true, MockData: data,
		Config: map[string]any{"url": "ldap://127.0.0.1:9", "bindDN": "cn=floh,dc=example,dc=test", "bindPassword": "bind-secret",
			"baseDN": "dc=example,dc=test"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var planInput = regexp.MustCompile(`name="plan" value="([0-9a-f]+)"`)

// previewedPlan is the plan digest the confirmation page's form carries.
func previewedPlan(t *testing.T, body string) string {
	t.Helper()
	m := planInput.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the confirmation has no plan input:\n%s", body)
	}
	return m[1]
}

// wantInOrder checks that the snippets appear in body in this order.
func wantInOrder(t *testing.T, what, body string, snippets ...string) {
	t.Helper()
	at := 0
	for _, s := range snippets {
		i := strings.Index(body[at:], s)
		if i < 0 {
			t.Fatalf("%s: %q missing, or not after %q", what, s, body[:at][max(0, at-80):])
		}
		at += i + len(s)
	}
}

// section is the HTML of the element whose data-testid is id, up to the next element with
// one of the ends (a crude cut that is enough to scope assertions to a part of the page).
func section(t *testing.T, body, id string, ends ...string) string {
	t.Helper()
	i := strings.Index(body, `data-testid="`+id+`"`)
	if i < 0 {
		t.Fatalf("no %s in:\n%s", id, body)
	}
	out := body[i:]
	for _, e := range ends {
		if j := strings.Index(out, e); j > 0 {
			out = out[:j]
		}
	}
	return out
}

func TestDiagnosePanelAndRollbackOfAFailedRun(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.startEngine(t)
	c := ts.loginAs(t, "demo-admin")
	ts.mockDirectory(t, "Directory", nil)
	buddy := ts.mockDirectory(t, "Buddy directory", nil)
	wf := ts.newWorkflow(t, partialOnboarding)
	ts.publishWorkflow(t, wf.ID)
	run := ts.startRun(t, wf.ID, nil)
	ts.waitRun(t, run.ID, db.RunFailed)
	id := run.ID.String()
	// The second directory is deleted: no step calls it any more, so its reset is left to an
	// admin.
	if _, err := ts.Engine.DeleteConnector(context.Background(), ts.adminActor(t), buddy.ID); err != nil {
		t.Fatal(err)
	}

	page := ts.get(t, c, "/runs/"+id).wantStatus(t, http.StatusOK)
	wantHTML(t, page)
	b := page.Body
	// The summary points at the panel, the failed step says it in a line and points there too:
	// the class, message and advice are shown once, in the panel.
	wantContains(t, "the summary", b, `data-testid="diagnose-link"`, `href="#diagnose"`)
	wantContains(t, "the failed step", section(t, b, "step-group", `data-testid="step-end"`),
		`data-testid="step-error-short"`, "Not found:", "No group named staff-x", "Why, and what to do")
	if n := strings.Count(b, `data-testid="connector-error"`); n != 1 {
		t.Fatalf("the error is shown %d times, want once (in the panel)", n)
	}

	d := section(t, b, "diagnose", `data-testid="run-data"`)
	wantContains(t, "what failed", d, `id="diagnose"`, "<h2 id=\"diagnose-h\">Diagnosis</h2>", "What failed and why",
		`href="#step-group-1" data-testid="diagnose-step">Add to the staff group</a>`,
		`data-testid="diagnose-system">Directory <span class="muted">(<code>addToGroup</code>)`,
		`data-testid="error-class">Not found`, `data-testid="error-code">GROUP_NOT_FOUND`,
		"No group named staff-x in the directory under ou=groups,dc=example,dc=test.",
		"No: retrying the same call gives the same answer.", "Check the name or id: the target has no such object.")
	// What was done, in execution order, each with its system and command.
	wantInOrder(t, "what was done", section(t, d, "diagnose-done", "</ol>"),
		"Create the Floh user", "<code>user_create</code> on Floh",
		"Create the directory account", "<code>createAccount</code> on Directory",
		"Reset the buddy&#39;s password", "<code>setPassword</code> on Buddy directory")
	// What to undo, in the order the rollback runs it: the reset by hand, then the account,
	// then the Floh user.
	plan := section(t, d, "rollback-plan", "</ol>")
	if n := strings.Count(plan, `data-testid="plan-item"`); n != 3 {
		t.Fatalf("%d plan items, want 3:\n%s", n, plan)
	}
	wantInOrder(t, "the plan", plan,
		`badge-warn">by hand`, "Undo <code>setPassword</code> on Buddy directory", "done by step Reset the buddy&#39;s password", "<code>username=bob</code>",
		">connector Buddy directory was deleted: undo setPassword by hand, or restore the connector to let Floh undo it.", `data-testid="plan-manual"`, "An admin must undo it at Buddy directory",
		`badge-info">connector`, "<code>deleteAccount</code> on Directory", "undoes step Create the directory account", "<code>username=jane.new</code>",
		"deleteAccount undoes it", `data-testid="plan-mock"`,
		`badge-info">built-in`, "<code>user_delete</code> on Floh", "<code>email=jane.new@example.test</code>", "soft-delete it (it can be restored)")
	wantContains(t, "the rollback offer", d, "A rollback undoes what the run changed, in this order:",
		`href="/runs/`+id+`/rollback" data-testid="rollback-run"`)
	if strings.Contains(b, "s3cret-Passw0rd") {
		t.Fatal("the page shows the password the run set")
	}

	// Who may read runs but not operate them sees the panel without the button, and may not
	// open the confirmation or post it.
	approver := ts.loginAs(t, "demo-approver")
	ab := ts.get(t, approver, "/runs/"+id).wantStatus(t, http.StatusOK).Body
	wantContains(t, "the approver's panel", ab, `data-testid="diagnose"`, `data-testid="rollback-plan"`, `data-testid="rollback-permission"`)
	wantLacks(t, "the approver's panel", ab, `data-testid="rollback-run"`)
	ts.get(t, approver, "/runs/"+id+"/rollback").wantStatus(t, http.StatusForbidden)
	ts.postForm(t, approver, "/runs/"+id+"/rollback", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusForbidden)
	// A post from another site is refused before anything is looked at.
	ts.postForm(t, c, "/runs/"+id+"/rollback", url.Values{}, crossSite...).
		wantStatus(t, http.StatusForbidden)

	// The confirmation lists exactly the panel's plan and says what happens.
	confirm := ts.get(t, c, "/runs/"+id+"/rollback").wantStatus(t, http.StatusOK)
	wantHTML(t, confirm)
	cb := confirm.Body
	wantContains(t, "the confirmation", cb, "Roll back this run of Partial onboarding?", `action="/runs/`+id+`/rollback"`,
		`data-testid="confirm-button">Start the rollback`, `href="/runs/`+id+`#diagnose"`,
		"Floh runs the 2 undo steps marked connector or built-in", "The item marked by hand is not done by Floh:", "you must undo it yourself",
		"answer from mock data too", "stops at the first undo step that fails", "A run is rolled back once.")
	if got, want := section(t, cb, "rollback-plan", "</ol>"), plan; got != want {
		t.Fatalf("the confirmation's plan differs from the panel's:\n%s\n---\n%s", got, want)
	}
	digest := previewedPlan(t, cb)
	if n := ts.count(t, "SELECT count(*) FROM runs WHERE compensation_of = ?", run.ID); n != 0 {
		t.Fatalf("%d rollback runs after only looking", n)
	}

	// A post whose plan is not the one shown goes back to the confirmation, which shows the
	// current plan.
	res := ts.postForm(t, c, "/runs/"+id+"/rollback", url.Values{"plan": {"0123"}}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	if loc := res.location(t); !strings.HasSuffix(loc, "/runs/"+id+"/rollback") {
		t.Fatalf("after a stale post: Location %s", loc)
	}
	wantContains(t, "back on the confirmation", ts.get(t, c, "/runs/"+id+"/rollback").Body,
		"What the rollback would undo changed since you looked: check the undo steps again.")
	if n := ts.count(t, "SELECT count(*) FROM runs WHERE compensation_of = ?", run.ID); n != 0 {
		t.Fatalf("%d rollback runs after a stale post", n)
	}

	// Confirming starts the rollback run and opens it, with what it does and what it leaves.
	res = ts.postForm(t, c, "/runs/"+id+"/rollback", url.Values{"plan": {digest}}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	loc := res.location(t)
	compID, err := uuid.Parse(loc[strings.LastIndex(loc, "/")+1:])
	if err != nil || !strings.Contains(loc, "/runs/") || compID == run.ID {
		t.Fatalf("after the rollback: Location %s", loc)
	}
	ts.waitRun(t, compID, db.RunCompleted)
	comp := ts.get(t, c, loc).wantStatus(t, http.StatusOK).Body
	wantContains(t, "the rollback run", comp, "Started the rollback of run "+id+". It runs 2 undo steps in order; this page follows them.",
		"1 item is left for you to do by hand: it is listed on this page.",
		"Undoes run", `href="/runs/`+id+`"`, "Rollback of Partial onboarding",
		"Undo account: deleteAccount on Directory", "Undo user: user_delete on Floh",
		`data-testid="manual-undo"`, "Left for you to do by hand", "<code>setPassword</code> on Buddy directory", "done by step Reset the buddy&#39;s password",
		"<code>username=bob</code>", "An admin must undo it at Buddy directory")
	// A completed rollback has nothing to diagnose.
	wantLacks(t, "the rollback run", comp, `data-testid="diagnose"`, `data-testid="rollback-run"`)
	if n := ts.count(t, "SELECT count(*) FROM users WHERE email = 'jane.new@example.test' AND deleted_at IS NOT NULL"); n != 1 {
		t.Fatal("the Floh user the run created is not soft-deleted")
	}
	if n := len(ts.auditEntries(t, "run.rolled_back")); n != 1 {
		t.Fatalf("%d run.rolled_back audit entries, want 1", n)
	}

	// The original links to its rollback instead of offering another, and is not retried:
	// that would carry on from what the rollback undid.
	ob := ts.get(t, c, "/runs/"+id).wantStatus(t, http.StatusOK).Body
	wantContains(t, "the rolled-back run's summary", section(t, ob, "run-summary", `data-testid="run-steps"`),
		`data-testid="run-rolled-back-by"`, `href="/runs/`+compID.String()+`"`)
	wantLacks(t, "the rolled-back run", ob, `data-testid="retry-run"`)
	after := section(t, ob, "diagnose", `data-testid="run-data"`)
	wantContains(t, "the rolled-back run", after, `data-testid="diagnose-rolled-back"`,
		`href="/runs/`+compID.String()+`" class="mono" data-testid="compensated-by"`, `badge-ok">completed`)
	wantLacks(t, "the rolled-back run", after, `data-testid="rollback-run"`, `data-testid="rollback-plan"`)

	// Once is all: the confirmation and the post go back to the run, saying why.
	res = ts.get(t, c, "/runs/"+id+"/rollback").wantStatus(t, http.StatusSeeOther)
	if loc := res.location(t); !strings.HasSuffix(loc, "/runs/"+id) {
		t.Fatalf("the confirmation of a rolled-back run: Location %s", loc)
	}
	wantContains(t, "after a second look", ts.get(t, c, "/runs/"+id).Body, "The run was already rolled back by run "+compID.String()+".")
	ts.postForm(t, c, "/runs/"+id+"/rollback", url.Values{"plan": {digest}}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	wantContains(t, "after a second rollback", ts.get(t, c, "/runs/"+id).Body, "The run was already rolled back by run "+compID.String()+".")
	// htmx follows the same way back.
	hx := ts.postForm(t, c, "/runs/"+id+"/rollback", url.Values{"plan": {digest}}, append(ts.sameOrigin(), "HX-Request", "true")...).
		wantStatus(t, http.StatusNoContent)
	if got := hx.Header.Get("HX-Location"); got != "/runs/"+id {
		t.Fatalf("htmx post: HX-Location %q", got)
	}
	if n := ts.count(t, "SELECT count(*) FROM runs WHERE compensation_of = ?", run.ID); n != 1 {
		t.Fatalf("%d rollback runs, want 1", n)
	}
	// A rollback run is not rolled back itself.
	ts.get(t, c, "/runs/"+compID.String()+"/rollback").wantStatus(t, http.StatusSeeOther)
	wantContains(t, "the rollback's own confirmation", ts.get(t, c, loc).Body, "This run is the rollback of run "+id+"; retry it rather than rolling it back.")
	ts.get(t, c, "/runs/"+uuid.NewString()+"/rollback").wantStatus(t, http.StatusNotFound)
	ts.postForm(t, c, "/runs/"+uuid.NewString()+"/rollback", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusNotFound)
}

// pauseForAnHour waits in a delay step the fake clock never ends.
const pauseForAnHour = `{"name": "Wait an hour", "variables": [],
	"steps": [{"id": "start", "name": "Start", "type": "start"}, {"id": "wait", "name": "Wait an hour", "type": "delay", "config": {"duration": "1h"}},
		{"id": "end", "name": "End", "type": "end"}],
	"edges": [{"from": "start", "to": "wait", "on": "success"}, {"from": "wait", "to": "end", "on": "success"}]}`

// onboardOnly creates a Floh user and completes: a completed run with something to undo.
const onboardOnly = `{"name": "Onboard only", "variables": [],
	"steps": [{"id": "start", "name": "Start", "type": "start"},
		{"id": "user", "name": "Create the Floh user", "type": "user_create", "config": {"email": "kept@example.test", "displayName": "Kept"}},
		{"id": "end", "name": "End", "type": "end"}],
	"edges": [{"from": "start", "to": "user", "on": "success"}, {"from": "user", "to": "end", "on": "success"}]}`

func TestDiagnosePanelOfRunsWithNothingOrSomethingElseToUndo(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.startEngine(t)
	c := ts.loginAs(t, "demo-admin")
	ts.failingConnector(t)
	// Its undo fails too, with an error retrying cannot fix.
	ts.mockDirectory(t, "Directory", map[string]any{"deleteAccount": map[string]any{"error": map[string]any{
		"class": "invalid_input", "code": "NOT_ALLOWED_ON_NONLEAF", "message": "the entry has children",
	}}})
	ts.mockDirectory(t, "Buddy directory", nil)
	publish := func(doc string) uuid.UUID {
		wf := ts.newWorkflow(t, doc)
		ts.publishWorkflow(t, wf.ID)
		return wf.ID
	}
	doubler, failing, waiter, onboard, partial := publish(transformWorkflow), publish(failingWorkflow), publish(pauseForAnHour),
		publish(onboardOnly), publish(partialOnboarding)

	// A completed run that changed nothing has no panel, and no confirmation.
	done := ts.startRun(t, doubler, map[string]any{"n": 2})
	ts.waitRun(t, done.ID, db.RunCompleted)
	wantLacks(t, "a completed run", ts.get(t, c, "/runs/"+done.ID.String()).Body, `id="diagnose"`)
	ts.get(t, c, "/runs/"+done.ID.String()+"/rollback").wantStatus(t, http.StatusSeeOther)
	wantContains(t, "its refused confirmation", ts.get(t, c, "/runs/"+done.ID.String()).Body,
		"Nothing to roll back: no completed step of the run changed anything.")

	// A run that failed before changing anything: the panel says so, and offers no rollback.
	bad := ts.startRun(t, failing, nil)
	ts.waitRun(t, bad.ID, db.RunFailed)
	d := section(t, ts.get(t, c, "/runs/"+bad.ID.String()).Body, "diagnose", `data-testid="run-data"`)
	wantContains(t, "a failed run with nothing done", d, "What failed and why", "Pause a moment", "Rejected input", "BAD_DURATION",
		`data-testid="diagnose-nothing-done"`, `data-testid="diagnose-nothing-to-undo"`, "retry the run from the failed step")
	wantLacks(t, "a failed run with nothing done", d, `data-testid="rollback-run"`, `data-testid="rollback-plan"`)
	ts.postForm(t, c, "/runs/"+bad.ID.String()+"/rollback", url.Values{"plan": {"x"}}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	wantContains(t, "its refused rollback", ts.get(t, c, "/runs/"+bad.ID.String()).Body, "Nothing to roll back")

	// A run still moving has no panel yet; its rollback is refused with the reason.
	waiting := ts.startRun(t, waiter, nil)
	ts.waitRun(t, waiting.ID, db.RunWaiting)
	wantLacks(t, "a waiting run", ts.get(t, c, "/runs/"+waiting.ID.String()).Body, `id="diagnose"`)
	ts.get(t, c, "/runs/"+waiting.ID.String()+"/rollback").wantStatus(t, http.StatusSeeOther)
	wantContains(t, "a waiting run's refused confirmation", ts.get(t, c, "/runs/"+waiting.ID.String()).Body,
		"The run is waiting; only a finished run can be rolled back (cancel it first).")

	// A completed run that created a user: the panel offers to undo it, without a failure.
	kept := ts.startRun(t, onboard, nil)
	ts.waitRun(t, kept.ID, db.RunCompleted)
	d = section(t, ts.get(t, c, "/runs/"+kept.ID.String()).Body, "diagnose", `data-testid="run-data"`)
	wantContains(t, "a completed run with something to undo", d, "Undo this run", "What was already done", "<code>user_create</code> on Floh",
		"<code>user_delete</code> on Floh", `data-testid="rollback-run"`)
	wantLacks(t, "a completed run with something to undo", d, "What failed and why", `data-testid="connector-error"`)

	// A rollback whose undo fails: its page diagnoses it and says to retry it, not roll it back.
	partialRun := ts.startRun(t, partial, nil)
	ts.waitRun(t, partialRun.ID, db.RunFailed)
	digest := previewedPlan(t, ts.get(t, c, "/runs/"+partialRun.ID.String()+"/rollback").wantStatus(t, http.StatusOK).Body)
	res := ts.postForm(t, c, "/runs/"+partialRun.ID.String()+"/rollback", url.Values{"plan": {digest}}, ts.sameOrigin()...).
		wantStatus(t, http.StatusSeeOther)
	loc := res.location(t)
	compID := uuid.MustParse(loc[strings.LastIndex(loc, "/")+1:])
	ts.waitRun(t, compID, db.RunFailed)
	cb := ts.get(t, c, loc).Body
	d = section(t, cb, "diagnose", `data-testid="manual-undo"`)
	// The failed undo's system is its connector, which only the rollback's own definition names.
	wantContains(t, "a failed rollback", d, "What failed and why", "Undo account: deleteAccount on Directory",
		`data-testid="diagnose-system">Directory`, "NOT_ALLOWED_ON_NONLEAF", `data-testid="diagnose-rollback-run"`,
		`href="/runs/`+partialRun.ID.String()+`"`, "retry this run from it")
	wantLacks(t, "a failed rollback", d, `data-testid="rollback-run"`, `data-testid="rollback-plan"`)
	wantContains(t, "a failed rollback's actions", cb, `data-testid="retry-run"`)
	// The reset it leaves by hand was answered from mock data: there is nothing to undo.
	wantContains(t, "a failed rollback's by-hand list", section(t, cb, "manual-undo", `data-testid="run-data"`),
		"Undo <code>setPassword</code> on Buddy directory", "it changed nothing at Buddy directory, so there is nothing to undo by hand")
	wantLacks(t, "a failed rollback's by-hand list", cb, `data-testid="plan-manual"`)
}
