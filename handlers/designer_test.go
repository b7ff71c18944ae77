package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"floh/connectors/authifi/authifitest"
	"floh/engine"
	"floh/engine/workflow"
)

// draftOf reads a workflow's stored draft.
func (ts *testServer) draftOf(t *testing.T, id uuid.UUID) *workflow.Definition {
	t.Helper()
	w := ts.workflow(t, id)
	if w.Draft == nil {
		t.Fatal("the workflow has no draft")
	}
	d := new(workflow.Definition)
	if err := json.Unmarshal(w.Draft, d); err != nil {
		t.Fatal(err)
	}
	return d
}

// designPost posts one designer edit, as a plain form or (htmx) as the page's htmx does.
func (ts *testServer) designPost(t *testing.T, c *http.Client, id uuid.UUID, path string, form url.Values, htmx bool) *result {
	t.Helper()
	h := ts.sameOrigin()
	if htmx {
		h = ts.htmx()
	}
	return ts.postForm(t, c, "/workflows/"+id.String()+"/design"+path, form, h...)
}

func TestDesignerEditsStepsEdgesAndUndo(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.loginAs(t, "demo-admin")
	wf := ts.newWorkflow(t, startEnd("Design me", ""))
	id := wf.ID
	base := "/workflows/" + id.String() + "/design"

	page := ts.get(t, c, base).wantStatus(t, http.StatusOK)
	wantHTML(t, page)
	wantContains(t, "the designer", page.Body, `data-editable="true"`, `data-testid="canvas"`, `data-testid="palette"`, `data-testid="settings-panel"`,
		`data-testid="lint-panel"`, "Nothing to undo", `data-step="start"`, `data-step="end"`)

	// Plain: add a step; the answer is a redirect to the designer with it selected.
	res := ts.designPost(t, c, id, "/steps", url.Values{"type": {"approval"}}, false).wantStatus(t, http.StatusSeeOther)
	if got := res.Header.Get("Location"); got != base+"?step=approval" {
		t.Fatalf("after adding: Location %q", got)
	}
	page = ts.get(t, c, base+"?step=approval").wantStatus(t, http.StatusOK)
	wantContains(t, "the new step's editor", page.Body, "Saved: add a step (Approval).", `data-testid="step-editor"`, `name="cfg.approvers"`,
		"Undo: add a step (Approval)")

	// htmx: add a notification after start; it goes on start's success path.
	res = ts.designPost(t, c, id, "/steps", url.Values{"type": {"notification"}, "after": {"start"}, "sel": {"start"}}, true).wantStatus(t, http.StatusOK)
	wantContains(t, "the workspace", res.Body, `id="designer"`, `data-testid="step-editor"`, "Saved: add a step (Notification).")
	wantLacks(t, "the workspace", res.Body, "<html", `class="site-header"`)
	if got := res.Header.Get("HX-Push-Url"); got != base+"?step=notification" {
		t.Fatalf("HX-Push-Url %q", got)
	}
	d := ts.draftOf(t, id)
	if d.Next("start", "success") != "notification" || d.Next("notification", "success") != "end" {
		t.Fatalf("the notification is not between start and end: %+v", d.Edges)
	}

	// Edit the notification's config through its inputs.
	res = ts.designPost(t, c, id, "/steps/notification", url.Values{"sel": {"notification"}, "name": {"Tell the requester"},
		"cfg.channel": {"email"}, "cfg.to": {"{{initiator.email}}\nrole:Admin\n"}, "cfg.subject": {"Done"}, "cfg.body": {"Hello"}}, true).wantStatus(t, http.StatusOK)
	st := ts.draftOf(t, id).Step("notification")
	if st.Name != "Tell the requester" || st.Config["channel"] != "email" || !slices.Equal(st.Config["to"].([]any), []any{"{{initiator.email}}", "role:Admin"}) || st.Config["body"] != "Hello" {
		t.Fatalf("notification after the edit: %+v", st)
	}
	if _, ok := st.Config["connectorId"]; ok {
		t.Fatal("an empty select stored a connectorId")
	}

	// A taken name is refused beside the name input, what was typed is kept, nothing saved.
	before := ts.workflow(t, id).Draft
	res = ts.designPost(t, c, id, "/steps/notification", url.Values{"sel": {"notification"}, "name": {"End"}, "cfg.channel": {"email"},
		"cfg.to": {"x@example.test"}, "cfg.body": {"Typed body"}}, true).wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "the refused rename", res.Body, `data-testid="error-summary"`, "The name is already the name of step", "Typed body", `id="designer"`)
	if string(ts.workflow(t, id).Draft) != string(before) {
		t.Fatal("a refused edit changed the draft")
	}

	// Connect, redirect an outcome, disconnect; a bad target is refused naming it.
	ts.designPost(t, c, id, "/edges", url.Values{"from": {"approval"}, "on": {"rejected"}, "to": {"end"}}, true).wantStatus(t, http.StatusOK)
	ts.designPost(t, c, id, "/edges", url.Values{"from": {"approval"}, "on": {"success"}, "to": {"notification"}}, true).wantStatus(t, http.StatusOK)
	res = ts.designPost(t, c, id, "/edges", url.Values{"from": {"approval"}, "on": {"success"}, "to": {"end"}}, false).wantStatus(t, http.StatusSeeOther)
	d = ts.draftOf(t, id)
	if d.Next("approval", "rejected") != "end" || d.Next("approval", "success") != "end" || len(d.Edges) != 4 {
		t.Fatalf("edges after connecting: %+v", d.Edges)
	}
	res = ts.designPost(t, c, id, "/edges", url.Values{"from": {"approval"}, "on": {"success"}, "to": {"ghost"}}, true).wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "the bad target", res.Body, "The target step names no step of this workflow")
	ts.designPost(t, c, id, "/edges/delete", url.Values{"from": {"approval"}, "on": {"rejected"}}, true).wantStatus(t, http.StatusOK)
	if ts.draftOf(t, id).Next("approval", "rejected") != "" {
		t.Fatal("the rejected edge is still there")
	}

	// Undo, one edit at a time: the rejected edge comes back.
	page = ts.get(t, c, base)
	wantContains(t, "the undo button", page.Body, "Undo: remove the rejected edge of approval")
	ts.designPost(t, c, id, "/undo", url.Values{}, true).wantStatus(t, http.StatusOK)
	if ts.draftOf(t, id).Next("approval", "rejected") != "end" {
		t.Fatal("undo did not bring the edge back")
	}

	// Delete a step: its edges go with it.
	ts.designPost(t, c, id, "/steps/approval/delete", url.Values{"sel": {"approval"}}, true).wantStatus(t, http.StatusOK)
	d = ts.draftOf(t, id)
	if d.Step("approval") != nil || slices.ContainsFunc(d.Edges, func(e workflow.Edge) bool { return e.From == "approval" || e.To == "approval" }) {
		t.Fatalf("after deleting: %+v", d)
	}

	// Undo until nothing is left: the workflow is back to start → end, then a 409.
	for range 20 {
		if res := ts.designPost(t, c, id, "/undo", url.Values{}, true); res.Status == http.StatusConflict {
			wantContains(t, "nothing to undo", res.Body, "There is no edit of Design me left to undo")
			break
		}
	}
	if d = ts.draftOf(t, id); len(d.Steps) != 2 || d.Next("start", "success") != "end" {
		t.Fatalf("after undoing everything: %+v", d)
	}
	if n := len(ts.auditEntries(t, "workflow.edit_undone")); n == 0 {
		t.Fatal("undos are not audited")
	}
}

func TestDesignerConfigInputsAndConnectorSchema(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.loginAs(t, "demo-admin")
	srv := authifitest.Start(t, authifitest.Options{})
	conn := ts.newConnector(t, engine.ConnectorInput{Name: "Authifi", Type: "authifi", Config: authifiConfig(srv, srv.Config().String("clientSecret"))})
	wf := ts.newWorkflow(t, startEnd("Connect me", ""))
	id := wf.ID

	ts.designPost(t, c, id, "/steps", url.Values{"type": {"connector"}, "name": {"Create in Authifi"}, "after": {"start"}}, false).wantStatus(t, http.StatusSeeOther)
	page := ts.get(t, c, "/workflows/"+id.String()+"/design?step=createInAuthifi").wantStatus(t, http.StatusOK)
	wantContains(t, "a connector step without a connector", page.Body, `name="connectorId"`, "Authifi (Authifi)")
	wantLacks(t, "a connector step without a connector", page.Body, `name="command"`)

	// Choosing the instance offers its commands; choosing a command, its params.
	form := url.Values{"sel": {"createInAuthifi"}, "name": {"Create in Authifi"}, "connectorId": {conn.ID.String()}}
	res := ts.designPost(t, c, id, "/steps/createInAuthifi", form, true).wantStatus(t, http.StatusOK)
	wantContains(t, "the command select", res.Body, `name="command"`, `value="createUser"`)
	form.Set("command", "createUser")
	res = ts.designPost(t, c, id, "/steps/createInAuthifi", form, true).wantStatus(t, http.StatusOK)
	wantContains(t, "the command's params", res.Body, `data-testid="params"`, `name="param.email"`, `name="param.displayName"`, `data-testid="variable-picker"`, "{{initiator.email}}")

	form.Set("param.email", "{{initiator.email}}")
	form.Set("param.displayName", "New Person")
	form.Set("cfg.output", "authifiUser")
	form.Set("cfg.retry.maxAttempts", "3")
	form.Set("cfg.retry.backoff", "exponential")
	ts.designPost(t, c, id, "/steps/createInAuthifi", form, true).wantStatus(t, http.StatusOK)
	st := ts.draftOf(t, id).Step("createInAuthifi")
	params, _ := st.Config["params"].(map[string]any)
	retry, _ := st.Config["retry"].(map[string]any)
	if st.Config["connectorId"] != conn.ID.String() || st.Config["command"] != "createUser" || params["email"] != "{{initiator.email}}" ||
		params["displayName"] != "New Person" || st.Config["output"] != "authifiUser" || retry["maxAttempts"] != float64(3) || retry["backoff"] != "exponential" {
		t.Fatalf("connector step after the edit: %+v", st.Config)
	}

	// A count that is not a number: refused beside its input, typed values kept.
	form.Set("cfg.retry.maxAttempts", "many")
	res = ts.designPost(t, c, id, "/steps/createInAuthifi", form, true).wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "the refused count", res.Body, "Attempts must be a whole number of at least 1", `value="many"`)

	// Condition branches and transform assignments are read line by line; a bad line is named.
	ts.designPost(t, c, id, "/steps", url.Values{"type": {"condition"}, "name": {"Which way"}}, false).wantStatus(t, http.StatusSeeOther)
	res = ts.designPost(t, c, id, "/steps/whichWay", url.Values{"name": {"Which way"}, "cfg.branches": {"big: n > 3\nno colon here"}}, true).wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "the bad branch", res.Body, "Branches must be one branch per line as name: expression; &#34;no colon here&#34; is not")
	ts.designPost(t, c, id, "/steps/whichWay", url.Values{"name": {"Which way"}, "cfg.branches": {"big: n > 3\nsmall: n <= 3"}, "cfg.default": {"other"}}, true).wantStatus(t, http.StatusOK)
	cond := ts.draftOf(t, id).Step("whichWay")
	if got := cond.Outcomes(); !slices.Equal(got, []string{"big", "small", "other", "error"}) {
		t.Fatalf("condition outcomes %v (config %+v)", got, cond.Config)
	}
	page = ts.get(t, c, "/workflows/"+id.String()+"/design?step=whichWay")
	wantContains(t, "the branches as the connect form's outcomes", page.Body, `value="big"`, "branch small")
}

func TestDesignerVariablesSettingsAndJSON(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.loginAs(t, "demo-admin")
	wf := ts.newWorkflow(t, startEnd("Settings", ""))
	id := wf.ID

	ts.designPost(t, c, id, "/variables", url.Values{"variable.name": {"target"}, "variable.type": {"user"}, "variable.required": {"true"}}, true).wantStatus(t, http.StatusOK)
	res := ts.designPost(t, c, id, "/variables", url.Values{"variable.name": {"9lives"}, "variable.type": {"string"}}, true).wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "a bad variable name", res.Body, "The variable name &#34;9lives&#34; cannot name a variable", `value="9lives"`)
	ts.designPost(t, c, id, "/variables", url.Values{"old": {"target"}, "variable.name": {"person"}, "variable.type": {"user"}, "variable.required": {"true"}}, false).wantStatus(t, http.StatusSeeOther)
	if d := ts.draftOf(t, id); len(d.Variables) != 1 || d.Variables[0].Name != "person" || !d.Variables[0].Required {
		t.Fatalf("variables %+v", d.Variables)
	}

	settings := url.Values{"name": {"Settings renamed"}, "description": {"d"}, "category": {"Joiners"}, "subjectVariable": {"person"},
		"errorStrategy": {"continue"}, "triggerType": {"api"}}
	ts.designPost(t, c, id, "/settings", settings, true).wantStatus(t, http.StatusOK)
	d := ts.draftOf(t, id)
	if d.Name != "Settings renamed" || d.Category != "Joiners" || d.SubjectVariable != "person" || d.ErrorStrategy != "continue" || d.Trigger == nil || d.Trigger.Type != "api" {
		t.Fatalf("settings %+v", d)
	}
	if w := ts.workflow(t, id); w.Name != "Settings renamed" || w.Category != "Joiners" {
		t.Fatalf("the list's name and category did not follow: %+v", w)
	}
	bad := url.Values{"name": {""}, "errorStrategy": {"explode"}, "triggerType": {"manual"}}
	res = ts.designPost(t, c, id, "/settings", bad, true).wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "bad settings", res.Body, "The name is required", "The error strategy must be stop or continue")

	// Deleting the subject variable clears the subject.
	ts.designPost(t, c, id, "/variables/delete", url.Values{"variable.name": {"person"}}, true).wantStatus(t, http.StatusOK)
	if d := ts.draftOf(t, id); len(d.Variables) != 0 || d.SubjectVariable != "" {
		t.Fatalf("after removing the variable: %+v", d)
	}

	// The JSON view: a syntax error names line and column; a good document replaces the draft.
	res = ts.designPost(t, c, id, "/json", url.Values{"definition": {"{\n  \"name\": \"x\",\n  oops\n}"}}, true).wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "the JSON error", res.Body, "line 3, column 3", "oops")
	ts.designPost(t, c, id, "/json", url.Values{"definition": {startEnd("From JSON", "Leavers")}}, true).wantStatus(t, http.StatusOK)
	if d := ts.draftOf(t, id); d.Name != "From JSON" || d.Category != "Leavers" {
		t.Fatalf("after the JSON save: %+v", d)
	}
}

func TestDesignerWithoutDraftAndPermissions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin := ts.loginAs(t, "demo-admin")
	wf := ts.newWorkflow(t, startEnd("Published", ""))
	ts.publishWorkflow(t, wf.ID)

	page := ts.get(t, admin, "/workflows/"+wf.ID.String()+"/design").wantStatus(t, http.StatusOK)
	wantContains(t, "a workflow without a draft", page.Body, `data-testid="designer-no-draft"`, "Open a draft from version 1", `data-step="start"`)
	wantLacks(t, "a workflow without a draft", page.Body, `data-testid="palette"`, `data-testid="designer-undo"`, `data-editable`)
	res := ts.designPost(t, admin, wf.ID, "/steps", url.Values{"type": {"delay"}}, true).wantStatus(t, http.StatusConflict)
	wantContains(t, "an edit without a draft", res.Body, "has no open draft")

	// workflow:read shows the designer without its edit controls; an edit is refused.
	draft := ts.newWorkflow(t, startEnd("Someone's draft", ""))
	approver := ts.loginAs(t, "demo-approver")
	page = ts.get(t, approver, "/workflows/"+draft.ID.String()+"/design").wantStatus(t, http.StatusOK)
	wantLacks(t, "a reader's designer", page.Body, `data-testid="palette"`, `data-testid="designer-undo"`, `data-editable`)
	before := ts.workflow(t, draft.ID).Draft
	ts.designPost(t, approver, draft.ID, "/steps", url.Values{"type": {"delay"}}, true).wantStatus(t, http.StatusForbidden)
	ts.postForm(t, admin, "/workflows/"+draft.ID.String()+"/design/steps", url.Values{"type": {"delay"}}, crossSite...).wantStatus(t, http.StatusForbidden)
	if string(ts.workflow(t, draft.ID).Draft) != string(before) {
		t.Fatal("a refused edit changed the draft")
	}
	if !strings.Contains(ts.get(t, admin, "/workflows/"+uuid.NewString()+"/design").Body, "error-404") {
		t.Fatal("an unknown workflow's designer is not a 404")
	}
}
