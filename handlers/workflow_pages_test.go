package handlers_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"floh/db"
	"floh/engine"
)

// newWorkflow stores a draft straight through the engine.
func (ts *testServer) newWorkflow(t *testing.T, doc string) *engine.WorkflowDoc {
	t.Helper()
	wf, err := ts.Engine.CreateWorkflow(context.Background(), ts.adminActor(t), []byte(doc))
	if err != nil {
		t.Fatalf("create workflow: %v", err)
	}
	return wf
}

func (ts *testServer) publishWorkflow(t *testing.T, id uuid.UUID) {
	t.Helper()
	if _, err := ts.Engine.PublishWorkflow(context.Background(), ts.adminActor(t), id); err != nil {
		t.Fatalf("publish workflow: %v", err)
	}
}

func (ts *testServer) workflow(t *testing.T, id uuid.UUID) *db.Workflow {
	t.Helper()
	wf, err := db.FindWorkflow(context.Background(), ts.DB.Bun, id)
	if err != nil {
		t.Fatal(err)
	}
	return wf
}

// startEnd is a publishable document: start, then end.
func startEnd(name, category string) string {
	return `{"name": "` + name + `", "category": "` + category + `", "variables": [],
		"steps": [{"id": "start", "name": "Start", "type": "start"}, {"id": "end", "name": "End", "type": "end"}],
		"edges": [{"from": "start", "to": "end", "on": "success"}]}`
}

// withNotify is startEnd with a notification step between start and end.
const withNotify = `{"name": "Offboarding", "category": "Leavers", "variables": [{"name": "email", "type": "string", "required": true}],
	"steps": [{"id": "start", "name": "Start", "type": "start"},
		{"id": "tell-it", "name": "Tell IT", "type": "notification", "config": {"channel": "in_app", "to": ["role:Admin"], "subject": "Leaver", "body": "{{email}} leaves"}},
		{"id": "end", "name": "End", "type": "end"}],
	"edges": [{"from": "start", "to": "tell-it", "on": "success"}, {"from": "tell-it", "to": "end", "on": "success"}]}`

var textareaTag = regexp.MustCompile(`(?s)<textarea[^>]*name="definition"[^>]*>(.*?)</textarea>`)

// editorText is what the JSON editor holds, as the browser shows it.
func editorText(t *testing.T, body string) string {
	t.Helper()
	m := textareaTag.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no JSON editor on the page:\n%s", body)
	}
	return html.UnescapeString(m[1])
}

func TestWorkflowsListSearchFilterAndEmptyState(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.loginAs(t, "demo-admin")
	ctx := context.Background()

	empty := ts.get(t, c, "/workflows").wantStatus(t, http.StatusOK)
	wantHTML(t, empty)
	wantContains(t, "the empty list", empty.Body, `data-testid="empty-state"`, "No workflows yet", `href="/workflows/new"`, "Create one",
		`data-testid="nav-workflows"`, `aria-current="page"`, `data-testid="new-workflow"`)

	ts.newWorkflow(t, `{"name": "Onboarding", "description": "New joiners get accounts", "category": "Joiners", "steps": [], "edges": []}`)
	off := ts.newWorkflow(t, startEnd("Offboarding", "Leavers"))
	ts.publishWorkflow(t, off.ID)
	if _, err := ts.Engine.NewDraftFromVersion(ctx, ts.adminActor(t), off.ID, 1); err != nil {
		t.Fatal(err)
	}
	old := ts.newWorkflow(t, startEnd("Old access request", "Access"))
	ts.publishWorkflow(t, old.ID)
	if _, err := ts.Engine.DeprecateWorkflow(ctx, ts.adminActor(t), old.ID); err != nil {
		t.Fatal(err)
	}
	gone := ts.newWorkflow(t, startEnd("Gone", "Joiners"))
	if _, err := ts.Engine.DeleteWorkflow(ctx, ts.adminActor(t), gone.ID); err != nil {
		t.Fatal(err)
	}

	list := ts.get(t, c, "/workflows").wantStatus(t, http.StatusOK)
	wantContains(t, "the list", list.Body, `data-testid="workflow-row-Onboarding"`, `data-testid="workflow-row-Offboarding"`,
		`data-testid="workflow-row-Old access request"`, "New joiners get accounts", "Joiners",
		`badge-muted">draft`, `badge-ok">active`, `badge-warn">deprecated`, `data-testid="draft-open"`, "Showing 1–3 of 3",
		`href="/workflows/`+off.ID.String()+`"`)
	wantLacks(t, "the list", list.Body, "Gone")
	// Only the published workflow with unpublished changes carries the marker.
	if n := strings.Count(list.Body, `data-testid="draft-open"`); n != 1 {
		t.Errorf("%d draft-open markers, want 1 (Offboarding)", n)
	}

	part := ts.get(t, c, "/workflows?q=leavers", "HX-Request", "true").wantStatus(t, http.StatusOK)
	body := strings.TrimSpace(part.Body)
	if isFullPage(body) || !strings.HasPrefix(body, `<div id="workflows-table">`) {
		t.Fatalf("htmx search is not the table fragment:\n%s", body)
	}
	wantContains(t, "q=leavers (a category)", body, "Offboarding")
	wantLacks(t, "q=leavers", body, "Onboarding", "Old access request")

	byStatus := ts.get(t, c, "/workflows?status=deprecated").wantStatus(t, http.StatusOK)
	wantContains(t, "status=deprecated", byStatus.Body, `data-testid="workflow-row-Old access request"`, `<option value="deprecated" selected`)
	wantLacks(t, "status=deprecated", byStatus.Body, `data-testid="workflow-row-Onboarding"`, `data-testid="workflow-row-Offboarding"`)

	withDeleted := ts.get(t, c, "/workflows?q=gone&includeDeleted=true").wantStatus(t, http.StatusOK)
	wantContains(t, "includeDeleted", withDeleted.Body, `data-testid="workflow-row-Gone"`, `badge-bad">deleted`)

	paged := ts.get(t, c, "/workflows?pageSize=2").wantStatus(t, http.StatusOK)
	wantContains(t, "page 1 of 2", paged.Body, "Showing 1–2 of 3", `rel="next"`, "page=2")
	second := ts.get(t, c, "/workflows?pageSize=2&page=2").wantStatus(t, http.StatusOK)
	wantContains(t, "page 2", second.Body, "Showing 3–3 of 3", `data-testid="workflow-row-Onboarding"`, `rel="prev"`)

	none := ts.get(t, c, "/workflows?q=nothing-like-this").wantStatus(t, http.StatusOK)
	wantContains(t, "no match", none.Body, "No workflows match", "Show deleted workflows")
	// A hand-edited address still shows the list.
	ts.get(t, c, "/workflows?status=retired&includeDeleted=maybe&page=x").wantStatus(t, http.StatusOK)

	// Everyone who reads workflows finds them in the navigation; only creators get the button.
	req := ts.get(t, ts.loginAs(t, "demo-requestor"), "/workflows").wantStatus(t, http.StatusOK)
	wantContains(t, "the requestor's list", req.Body, `data-testid="nav-workflows"`, `data-testid="workflow-row-Onboarding"`)
	wantLacks(t, "the requestor's list", req.Body, `data-testid="new-workflow"`)
}

func TestWorkflowsEmptyStateForReaders(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	res := ts.get(t, ts.loginAs(t, "demo-approver"), "/workflows").wantStatus(t, http.StatusOK)
	wantContains(t, "the approver's empty list", res.Body, "No workflows yet", "An administrator or resource manager creates them.")
	wantLacks(t, "the approver's empty list", res.Body, `href="/workflows/new"`)
}

func TestCreateWorkflowForm(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.loginAs(t, "demo-manager")

	form := ts.get(t, c, "/workflows/new").wantStatus(t, http.StatusOK)
	wantContains(t, "the form", form.Body, `data-testid="workflow-form"`, `id="field-name"`, `id="field-description"`, `id="field-category"`)

	bad := ts.postForm(t, c, "/workflows", url.Values{"name": {"  "}, "description": {"Typed <description>"}, "category": {"Joiners"}}, ts.sameOrigin()...).
		wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "the form with errors", bad.Body, `data-testid="error-summary"`, `href="#field-name"`, "Name is required", `id="error-name"`,
		"Typed &lt;description&gt;", `data-url="/workflows/new"`)
	if v, _ := inputValue(bad.Body, "category"); v != "Joiners" {
		t.Errorf("category after a 422 = %q, want what was typed", v)
	}
	if n := ts.count(t, "SELECT count(*) FROM workflows"); n != 0 {
		t.Fatalf("%d workflows stored after a refused form", n)
	}

	res := ts.postForm(t, c, "/workflows", url.Values{"name": {"Onboarding"}, "description": {"New joiners"}, "category": {"Joiners"}}, ts.sameOrigin()...).
		wantStatus(t, http.StatusSeeOther)
	loc := res.Header.Get("Location")
	id, err := uuid.Parse(strings.TrimSuffix(strings.TrimPrefix(loc, "/workflows/"), "/design"))
	if err != nil || !strings.HasSuffix(loc, "/design") {
		t.Fatalf("redirected to %q, want the new workflow's designer", loc)
	}
	wf := ts.workflow(t, id)
	if wf.Status != db.WorkflowDraft || wf.Name != "Onboarding" || wf.Description != "New joiners" || wf.Category != "Joiners" || wf.Draft == nil {
		t.Fatalf("stored %+v", wf)
	}
	var def struct {
		Steps []struct{ ID, Type string }
		Edges []struct{ From, To, On string }
	}
	if err := json.Unmarshal(wf.Draft, &def); err != nil {
		t.Fatal(err)
	}
	if len(def.Steps) != 2 || def.Steps[0].Type != "start" || def.Steps[1].Type != "end" ||
		len(def.Edges) != 1 || def.Edges[0] != (struct{ From, To, On string }{"start", "end", "success"}) {
		t.Fatalf("new draft: %+v", def)
	}

	page := ts.get(t, c, loc).wantStatus(t, http.StatusOK)
	wantContains(t, "the new workflow's designer", page.Body, `data-testid="flash"`, "Created the draft Onboarding", `badge-muted">draft`,
		`data-step="start"`, `data-step="end"`, "Lint: clean", `data-testid="designer-publish"`, `data-testid="palette"`)
	page = ts.get(t, c, "/workflows/"+id.String()).wantStatus(t, http.StatusOK)
	wantContains(t, "the new workflow", page.Body, `data-testid="open-designer"`, `data-testid="step-row-start"`, `data-testid="step-row-end"`,
		"No findings", `data-testid="publish-workflow"`, `data-testid="json-editor"`)

	// The name is taken now.
	dup := ts.postForm(t, c, "/workflows", url.Values{"name": {"Onboarding"}}, ts.sameOrigin()...).wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "a taken name", dup.Body, `data-testid="error-summary"`, "already exists")
}

func TestWorkflowPageShowsTheDefinitionAndLint(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	wf := ts.newWorkflow(t, `{"name": "Broken", "subjectVariable": "email", "errorStrategy": "continue",
		"trigger": {"type": "schedule", "cron": "0 6 * * *"},
		"variables": [{"name": "email", "type": "string", "required": true, "description": "Work address"}],
		"steps": [{"id": "start", "name": "Start", "type": "start"},
			{"id": "wait", "name": "Wait for replication", "type": "delay", "config": {"duration": "10m"}},
			{"id": "end", "name": "End", "type": "end"}],
		"edges": [{"from": "start", "to": "wait", "on": "success"}, {"from": "wait", "to": "nowhere", "on": "success"}]}`)
	c := ts.loginAs(t, "demo-admin")
	page := ts.get(t, c, "/workflows/"+wf.ID.String()).wantStatus(t, http.StatusOK)
	wantHTML(t, page)
	wantContains(t, "the page", page.Body,
		"Work address", "continue: a failure no edge routes", "schedule: 0 6 * * *",
		`id="step-wait"`, "Wait for replication", "waits 10m", `data-testid="edges-table"`, "no such step",
		`data-testid="lint"`, `data-testid="finding-EDGE_UNKNOWN_STEP"`, `href="#step-wait"`, `badge-bad">error`,
		"Publishing is refused until the errors are fixed", "not published yet", `data-testid="delete-workflow"`)

	// Readers see the same document without any action or the editor.
	ro := ts.get(t, ts.loginAs(t, "demo-approver"), "/workflows/"+wf.ID.String()).wantStatus(t, http.StatusOK)
	wantContains(t, "the approver's page", ro.Body, `data-testid="lint"`, `id="step-wait"`)
	wantLacks(t, "the approver's page", ro.Body, `data-testid="json-editor"`, `data-testid="publish-workflow"`, `data-testid="delete-workflow"`)

	ts.get(t, c, "/workflows/"+uuid.NewString()).wantStatus(t, http.StatusNotFound)
	ts.get(t, c, "/workflows/not-an-id").wantStatus(t, http.StatusNotFound)
}

func TestWorkflowJSONEditor(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	wf := ts.newWorkflow(t, startEnd("Onboarding", "Joiners"))
	id := wf.ID.String()
	c := ts.loginAs(t, "demo-admin")

	page := ts.get(t, c, "/workflows/"+id).wantStatus(t, http.StatusOK)
	wantContains(t, "the editor", page.Body, `<label for="field-definition">`, `aria-describedby="hint-definition"`)
	shown := editorText(t, page.Body)
	if !strings.Contains(shown, "\n  \"steps\": [") || !strings.Contains(shown, `"name": "Onboarding"`) {
		t.Fatalf("the editor does not hold the indented draft:\n%s", shown)
	}
	before := ts.workflow(t, wf.ID).Draft

	// Malformed JSON: where it breaks, the text kept, nothing saved.
	typed := "{\n  \"name\": \"Onboarding\",\n  \"steps\": [}\n}"
	res := ts.postForm(t, c, "/workflows/"+id, url.Values{"definition": {typed}}, ts.sameOrigin()...).wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "malformed JSON", res.Body, `data-testid="error-summary"`, `href="#field-definition"`, "not valid JSON", "line 3, column 13",
		`aria-invalid="true"`, `data-url="/workflows/`+id+`"`)
	if got := editorText(t, res.Body); got != typed {
		t.Errorf("the editor holds %q after a 422, want what was typed %q", got, typed)
	}

	// A document the engine refuses: each problem with its path.
	typed = strings.Replace(shown, `"type": "end"`, `"type": "teleport"`, 1)
	res = ts.postForm(t, c, "/workflows/"+id, url.Values{"definition": {typed}}, ts.sameOrigin()...).wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "an unknown step type", res.Body, `data-testid="error-summary"`, "steps[1].type")
	if got := editorText(t, res.Body); got != typed {
		t.Errorf("the editor lost the typed text after a 422")
	}
	ts.postForm(t, c, "/workflows/"+id, url.Values{"definition": {""}}, ts.sameOrigin()...).wantStatus(t, http.StatusUnprocessableEntity)
	if after := ts.workflow(t, wf.ID).Draft; string(after) != string(before) {
		t.Fatalf("a refused save changed the draft:\n%s", after)
	}

	// A good document is saved, and the page shows it.
	res = ts.postForm(t, c, "/workflows/"+id, url.Values{"definition": {withNotify}}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != "/workflows/"+id {
		t.Fatalf("saved: redirected to %q", loc)
	}
	saved := ts.workflow(t, wf.ID)
	if saved.Name != "Offboarding" || !strings.Contains(string(saved.Draft), "tell-it") {
		t.Fatalf("saved: %s %s", saved.Name, saved.Draft)
	}
	page = ts.get(t, c, "/workflows/"+id).wantStatus(t, http.StatusOK)
	wantContains(t, "after saving", page.Body, "Saved the draft of Offboarding", `data-testid="step-row-tell-it"`, "in_app; to role:Admin")

	// Once published there is no draft to save into: the typed text comes back with why.
	ts.publishWorkflow(t, wf.ID)
	res = ts.postForm(t, c, "/workflows/"+id, url.Values{"definition": {withNotify}}, ts.sameOrigin()...).wantStatus(t, http.StatusConflict)
	wantContains(t, "saving a published workflow", res.Body, `data-testid="error-summary"`, "no open draft", "What you typed is kept below")
	if got := editorText(t, res.Body); got != withNotify {
		t.Errorf("the editor lost the typed text after a conflict")
	}
}

func TestPublishWorkflowPage(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	wf := ts.newWorkflow(t, `{"name": "Onboarding", "steps": [{"id": "start", "name": "Start", "type": "start"},
		{"id": "end", "name": "End", "type": "end"}], "edges": [{"from": "start", "to": "nowhere", "on": "success"}]}`)
	id := wf.ID.String()
	c := ts.loginAs(t, "demo-manager")

	// Refused: the page says why and lists the errors, each linked to its step.
	res := ts.postForm(t, c, "/workflows/"+id+"/publish", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "a refused publish", res.Body, `data-testid="publish-refused"`, "The draft was not published", "EDGE_UNKNOWN_STEP",
		`href="#step-start"`, `data-testid="finding-EDGE_UNKNOWN_STEP"`, `data-url="/workflows/`+id+`"`)
	if got := ts.workflow(t, wf.ID); got.Status != db.WorkflowDraft || got.Version != 0 {
		t.Fatalf("after a refused publish: %s version %d", got.Status, got.Version)
	}
	if n := ts.count(t, "SELECT count(*) FROM workflow_versions"); n != 0 {
		t.Fatalf("%d versions after a refused publish", n)
	}

	// A draft without a step is not a document to publish: its own problems, by path.
	empty := ts.newWorkflow(t, `{"name": "Empty", "steps": [], "edges": []}`)
	res = ts.postForm(t, c, "/workflows/"+empty.ID.String()+"/publish", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "publishing an empty draft", res.Body, `data-testid="publish-refused"`, "The draft is incomplete", "steps</span>: needs at least one step",
		`href="#field-definition"`)

	// Fixed and published: a flash names the version, the page shows it active.
	if _, err := ts.Engine.UpdateWorkflow(context.Background(), ts.adminActor(t), wf.ID, []byte(startEnd("Onboarding", ""))); err != nil {
		t.Fatal(err)
	}
	res = ts.postForm(t, c, "/workflows/"+id+"/publish", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	page := ts.get(t, c, res.Header.Get("Location")).wantStatus(t, http.StatusOK)
	wantContains(t, "after publishing", page.Body, "Published version 1 of Onboarding", `badge-ok">active`, "version 1",
		`data-testid="version-row-1"`, `data-testid="deprecate-workflow"`, `data-testid="new-draft"`, `name="fromVersion" value="1"`)
	wantLacks(t, "after publishing", page.Body, `data-testid="publish-workflow"`, `data-testid="json-editor"`, `data-testid="delete-workflow"`)
	if got := ts.workflow(t, wf.ID); got.Status != db.WorkflowActive || got.Version != 1 || got.Draft != nil {
		t.Fatalf("published: %s version %d draft %s", got.Status, got.Version, got.Draft)
	}

	// Nothing left to publish: said, not a 500.
	res = ts.postForm(t, c, "/workflows/"+id+"/publish", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	page = ts.get(t, c, res.Header.Get("Location")).wantStatus(t, http.StatusOK)
	wantContains(t, "publishing without a draft", page.Body, `flash-error`, "no open draft to publish")
}

// withWarnings is a publishable draft that lint warns about: a step no path reaches, and an
// error edge that tells nobody.
const withWarnings = `{"name": "Joiners", "variables": [],
	"steps": [{"id": "start", "name": "Start", "type": "start"},
		{"id": "wait", "name": "Wait", "type": "delay", "config": {"duration": "10m"}},
		{"id": "spare", "name": "Spare", "type": "delay", "config": {"duration": "1m"}},
		{"id": "end", "name": "End", "type": "end"}],
	"edges": [{"from": "start", "to": "wait", "on": "success"}, {"from": "wait", "to": "end", "on": "success"},
		{"from": "wait", "to": "end", "on": "error"}, {"from": "spare", "to": "end", "on": "success"}]}`

var reviewedDraft = regexp.MustCompile(`<input type="hidden" name="draft" value="([0-9a-f]+)">`)

// TestPublishConfirmationPage: the workflow page's Publish goes to a confirmation that says
// what publishing does and lists the warnings and info findings, each linked to its step;
// while errors remain it lists them instead, with no publish button.
func TestPublishConfirmationPage(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	wf := ts.newWorkflow(t, withWarnings)
	id := wf.ID.String()
	c := ts.loginAs(t, "demo-manager")

	page := ts.get(t, c, "/workflows/"+id).wantStatus(t, http.StatusOK)
	wantContains(t, "the workflow page", page.Body, `<a class="btn btn-primary" href="/workflows/`+id+`/publish" data-testid="publish-workflow">`)

	res := ts.get(t, c, "/workflows/"+id+"/publish").wantStatus(t, http.StatusOK)
	wantHTML(t, res)
	wantContains(t, "the confirmation", res.Body, `<html lang="en">`, `data-url="/workflows/`+id+`/publish"`,
		"Publish Joiners as version 1?", `data-testid="publish-consequences"`, "Version 1 becomes the active version",
		"It is the first version", "Lint found 1 warning and 1 info finding.",
		`data-testid="finding-UNREACHABLE_STEP"`, `href="/workflows/`+id+`#step-spare"`,
		`data-testid="finding-ERROR_EDGE_WITHOUT_NOTIFICATION"`, `href="/workflows/`+id+`#step-wait"`,
		`action="/workflows/`+id+`/publish"`, `data-testid="confirm-button"`, "Publish version 1")
	wantLacks(t, "the confirmation", res.Body, `data-testid="publish-blocked"`)
	if ts.workflow(t, wf.ID).Version != 0 {
		t.Fatal("the confirmation published")
	}
	m := reviewedDraft.FindStringSubmatch(res.Body)
	if m == nil {
		t.Fatalf("no reviewed draft in the form:\n%s", res.Body)
	}

	// The same card alone for htmx (a dialog on the designer).
	part := ts.get(t, c, "/workflows/"+id+"/publish", "HX-Request", "true").wantStatus(t, http.StatusOK)
	wantHTML(t, part)
	wantContains(t, "the partial", part.Body, `id="publish-review"`, "Publish Joiners as version 1?", `data-testid="confirm-button"`)
	wantLacks(t, "the partial", part.Body, `<html`, `class="site-header"`)

	// The draft changes after the review: the publish goes back to the confirmation.
	if _, err := ts.Engine.UpdateWorkflow(context.Background(), ts.adminActor(t), wf.ID, []byte(strings.Replace(withWarnings, `"10m"`, `"20m"`, 1))); err != nil {
		t.Fatal(err)
	}
	stale := ts.postForm(t, c, "/workflows/"+id+"/publish", url.Values{"draft": {m[1]}}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	if loc := stale.Header.Get("Location"); loc != "/workflows/"+id+"/publish" {
		t.Fatalf("a stale review went to %q", loc)
	}
	if ts.workflow(t, wf.ID).Version != 0 {
		t.Fatal("a stale review published")
	}
	res = ts.get(t, c, "/workflows/"+id+"/publish").wantStatus(t, http.StatusOK)
	wantContains(t, "back at the confirmation", res.Body, "flash-error", "changed after you reviewed it")
	m = reviewedDraft.FindStringSubmatch(res.Body)

	// Published from the confirmation: the flash names the version.
	done := ts.postForm(t, c, "/workflows/"+id+"/publish", url.Values{"draft": {m[1]}}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	page = ts.get(t, c, done.Header.Get("Location")).wantStatus(t, http.StatusOK)
	wantContains(t, "after publishing", page.Body, "Published version 1 of Joiners")
	if got := ts.workflow(t, wf.ID); got.Version != 1 || got.Draft != nil {
		t.Fatalf("published: version %d draft %s", got.Version, got.Draft)
	}

	// Nothing left to publish: back to the workflow, which says so. Through htmx too.
	res = ts.get(t, c, "/workflows/"+id+"/publish").wantStatus(t, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != "/workflows/"+id {
		t.Fatalf("no draft: redirected to %q", loc)
	}
	page = ts.get(t, c, "/workflows/"+id).wantStatus(t, http.StatusOK)
	wantContains(t, "no draft to publish", page.Body, "no open draft to publish")
	hx := ts.get(t, c, "/workflows/"+id+"/publish", "HX-Request", "true").wantStatus(t, http.StatusNoContent)
	if loc := hx.Header.Get("HX-Location"); loc != "/workflows/"+id {
		t.Fatalf("no draft through htmx: HX-Location %q", loc)
	}

	// A second version says what happens to runs on the first.
	if _, err := ts.Engine.NewDraftFromVersion(context.Background(), ts.adminActor(t), wf.ID, 1); err != nil {
		t.Fatal(err)
	}
	res = ts.get(t, c, "/workflows/"+id+"/publish").wantStatus(t, http.StatusOK)
	wantContains(t, "publishing version 2", res.Body, "Publish Joiners as version 2?", "Runs already started keep version 1")

	// Readers may not publish, so they may not see the confirmation either.
	ts.get(t, ts.loginAs(t, "demo-approver"), "/workflows/"+id+"/publish").wantStatus(t, http.StatusForbidden)
	ts.get(t, c, "/workflows/"+uuid.NewString()+"/publish").wantStatus(t, http.StatusNotFound)
}

func TestPublishConfirmationRefusesWhileErrorsRemain(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	wf := ts.newWorkflow(t, `{"name": "Nightly", "trigger": {"type": "schedule", "cron": "0 2 30 2 *"},
		"variables": [{"name": "email", "type": "string", "required": true}],
		"steps": [{"id": "start", "name": "Start", "type": "start"}, {"id": "spare", "name": "Spare", "type": "delay", "config": {"duration": "1m"}},
			{"id": "end", "name": "End", "type": "end"}],
		"edges": [{"from": "start", "to": "nowhere", "on": "success"}, {"from": "spare", "to": "end", "on": "success"}]}`)
	id := wf.ID.String()
	c := ts.loginAs(t, "demo-admin")
	for _, h := range [][]string{nil, {"HX-Request", "true"}} {
		res := ts.get(t, c, "/workflows/"+id+"/publish", h...).wantStatus(t, http.StatusOK)
		wantContains(t, "a refused confirmation", res.Body, "Nightly cannot be published yet", `data-testid="publish-blocked"`,
			"Publishing is refused while these 3 errors remain", `<span class="mono">trigger.cron</span>: &#34;0 2 30 2 *&#34; never fires`,
			"SCHEDULED_REQUIRED_VARIABLE", `href="/workflows/`+id+`#step-start"`, "EDGE_UNKNOWN_STEP",
			"Also found", `data-testid="finding-UNREACHABLE_STEP"`, `data-testid="back-to-draft"`)
		wantLacks(t, "a refused confirmation", res.Body, `data-testid="confirm-button"`, `name="draft"`)
	}
	// Posting anyway is refused as before, with the findings on the workflow's page.
	res := ts.postForm(t, c, "/workflows/"+id+"/publish", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "a refused publish", res.Body, `data-testid="publish-refused"`)
	if ts.workflow(t, wf.ID).Version != 0 {
		t.Fatal("a draft with errors was published")
	}
}

func TestNewDraftVersionsAndDiff(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	wf := ts.newWorkflow(t, startEnd("Offboarding", "Leavers"))
	id := wf.ID.String()
	ts.publishWorkflow(t, wf.ID)
	c := ts.loginAs(t, "demo-admin")

	res := ts.postForm(t, c, "/workflows/"+id+"/draft", url.Values{"fromVersion": {"1"}}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	page := ts.get(t, c, res.Header.Get("Location")).wantStatus(t, http.StatusOK)
	wantContains(t, "a new draft", page.Body, "Opened a draft of Offboarding from version 1", `data-testid="json-editor"`,
		`data-testid="draft-open"`, "Runs keep using version 1", `data-testid="version-row-draft"`, `data-testid="publish-workflow"`, "version 2")
	if got := ts.workflow(t, wf.ID); got.Draft == nil || got.Status != db.WorkflowActive {
		t.Fatalf("after a new draft: %+v", got)
	}
	// A second draft would overwrite the first: refused, said.
	res = ts.postForm(t, c, "/workflows/"+id+"/draft", url.Values{"fromVersion": {"1"}}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	page = ts.get(t, c, res.Header.Get("Location")).wantStatus(t, http.StatusOK)
	wantContains(t, "a second draft", page.Body, "flash-error", "already has an open draft")

	// Change the draft, then publish it as version 2.
	ts.postForm(t, c, "/workflows/"+id, url.Values{"definition": {withNotify}}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	diff := ts.get(t, c, "/workflows/"+id+"/diff?from=1&to=draft").wantStatus(t, http.StatusOK)
	wantHTML(t, diff)
	wantContains(t, "version 1 → draft", diff.Body, `data-testid="diff"`, `data-testid="step-added-tell-it"`, "Tell IT",
		`data-testid="edge-added"`, `data-testid="edge-removed"`, "start", `data-testid="setting-changed-variables"`, "email (string, required)")
	ts.publishWorkflow(t, wf.ID)

	// Version 1 is still readable, and says it is not the newest.
	v1 := ts.get(t, c, "/workflows/"+id+"?version=1").wantStatus(t, http.StatusOK)
	wantContains(t, "version 1", v1.Body, `data-testid="shown-note"`, "You are looking at version 1", `data-testid="step-row-end"`,
		"New draft from version 1", `name="fromVersion" value="1"`)
	wantLacks(t, "version 1", v1.Body, `data-testid="step-row-tell-it"`, `data-testid="json-editor"`, `data-testid="lint"`)
	v2 := ts.get(t, c, "/workflows/"+id).wantStatus(t, http.StatusOK)
	wantContains(t, "the newest version", v2.Body, `data-testid="step-row-tell-it"`, `data-testid="version-row-2"`, `data-testid="version-row-1"`,
		"Changes from version 1", `data-testid="compare-form"`)
	ts.get(t, c, "/workflows/"+id+"?version=9").wantStatus(t, http.StatusNotFound)
	ts.get(t, c, "/workflows/"+id+"?version=latest").wantStatus(t, http.StatusNotFound)

	// The diff the other way round, as a reader; without from and to it compares the two newest.
	reader := ts.loginAs(t, "demo-requestor")
	back := ts.get(t, reader, "/workflows/"+id+"/diff?from=2&to=1").wantStatus(t, http.StatusOK)
	wantContains(t, "version 2 → 1", back.Body, `data-testid="step-removed-tell-it"`)
	dflt := ts.get(t, reader, "/workflows/"+id+"/diff").wantStatus(t, http.StatusOK)
	wantContains(t, "the default diff", dflt.Body, `data-testid="step-added-tell-it"`, `<option value="1" selected`, `<option value="2" selected`)
	same := ts.get(t, reader, "/workflows/"+id+"/diff?from=2&to=2").wantStatus(t, http.StatusOK)
	wantContains(t, "a version with itself", same.Body, "No differences")
	// A reference that names nothing is a form error, not a 500.
	bad := ts.get(t, reader, "/workflows/"+id+"/diff?from=draft&to=2").wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "no draft", bad.Body, `data-testid="error-summary"`, `href="#field-from"`, "has no open draft")
	bad = ts.get(t, reader, "/workflows/"+id+"/diff?from=1&to=7").wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "no version 7", bad.Body, `href="#field-to"`, "has no version 7")
	bad = ts.get(t, reader, "/workflows/"+id+"/diff?from=1").wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "no to", bad.Body, `href="#field-to"`, "To: choose a version")
}

func TestDeprecateAndDeleteWorkflowPages(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.loginAs(t, "demo-admin")
	active := ts.newWorkflow(t, startEnd("Offboarding", "Leavers"))
	id := active.ID.String()
	ts.publishWorkflow(t, active.ID)

	// An active workflow is deprecated first; deleting it is refused and said.
	res := ts.get(t, c, "/workflows/"+id+"/delete").wantStatus(t, http.StatusSeeOther)
	page := ts.get(t, c, res.Header.Get("Location")).wantStatus(t, http.StatusOK)
	wantContains(t, "delete an active workflow", page.Body, "deprecate it before deleting it")
	res = ts.postForm(t, c, "/workflows/"+id+"/delete", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	page = ts.get(t, c, res.Header.Get("Location")).wantStatus(t, http.StatusOK)
	wantContains(t, "delete an active workflow", page.Body, "flash-error", "deprecate it before deleting it")
	if ts.workflow(t, active.ID).Deleted() {
		t.Fatal("an active workflow was deleted")
	}

	confirm := ts.get(t, c, "/workflows/"+id+"/deprecate").wantStatus(t, http.StatusOK)
	wantContains(t, "the deprecate confirmation", confirm.Body, `data-testid="confirm"`, "Deprecate the workflow Offboarding?",
		"No new run of Offboarding can start", "Runs already running finish", `action="/workflows/`+id+`/deprecate"`, `data-testid="confirm-button"`)
	if got := ts.workflow(t, active.ID); got.Status != db.WorkflowActive {
		t.Fatal("the confirmation page deprecated the workflow")
	}
	res = ts.postForm(t, c, "/workflows/"+id+"/deprecate", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	page = ts.get(t, c, res.Header.Get("Location")).wantStatus(t, http.StatusOK)
	wantContains(t, "deprecated", page.Body, "Deprecated Offboarding", `badge-warn">deprecated`, `data-testid="delete-workflow"`, `data-testid="new-draft"`)
	wantLacks(t, "deprecated", page.Body, `data-testid="deprecate-workflow"`)
	if got := ts.workflow(t, active.ID); got.Status != db.WorkflowDeprecated {
		t.Fatalf("status %s, want deprecated", got.Status)
	}
	// Deprecating twice is said, not a 500.
	res = ts.get(t, c, "/workflows/"+id+"/deprecate").wantStatus(t, http.StatusSeeOther)
	ts.postForm(t, c, "/workflows/"+id+"/deprecate", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)

	confirm = ts.get(t, c, "/workflows/"+id+"/delete").wantStatus(t, http.StatusOK)
	wantContains(t, "the delete confirmation", confirm.Body, "Delete the workflow Offboarding?", "Its published version is kept",
		"becomes free for a new workflow", `action="/workflows/`+id+`/delete"`)
	res = ts.postForm(t, c, "/workflows/"+id+"/delete", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != "/workflows" {
		t.Fatalf("deleted: redirected to %q, want the list", loc)
	}
	list := ts.get(t, c, "/workflows").wantStatus(t, http.StatusOK)
	wantContains(t, "after deleting", list.Body, "Deleted the workflow Offboarding", "No workflows yet")
	if !ts.workflow(t, active.ID).Deleted() {
		t.Fatal("not deleted")
	}
	gone := ts.get(t, c, "/workflows/"+id).wantStatus(t, http.StatusOK)
	wantContains(t, "a deleted workflow", gone.Body, `data-testid="deleted-note"`, `badge-bad">deleted`)
	wantLacks(t, "a deleted workflow", gone.Body, `data-testid="delete-workflow"`, `data-testid="new-draft"`, `data-testid="json-editor"`)

	// A draft that was never published says so on its confirmation.
	draft := ts.newWorkflow(t, startEnd("Onboarding", ""))
	confirm = ts.get(t, c, "/workflows/"+draft.ID.String()+"/delete").wantStatus(t, http.StatusOK)
	wantContains(t, "deleting a draft", confirm.Body, "never published, so no run used it")
	ts.postForm(t, c, "/workflows/"+draft.ID.String()+"/delete", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	if !ts.workflow(t, draft.ID).Deleted() {
		t.Fatal("the draft was not deleted")
	}
}

// A scheduled workflow's page says when it runs next, on the engine's clock, and so does its
// JSON; a manual one, a draft and a deprecated one say nothing of it.
func TestWorkflowPageShowsTheNextScheduledRun(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(o *serverOptions) { o.start = sundayMorning })
	c := ts.loginAs(t, "demo-admin")
	doc := strings.Replace(startEnd("Weekday report", "Reports"), `"variables": []`,
		`"trigger": {"type": "schedule", "cron": "0 6 * * 1-5"}, "variables": []`, 1)
	wf := ts.newWorkflow(t, doc)
	id := wf.ID.String()

	draft := ts.get(t, c, "/workflows/"+id).wantStatus(t, http.StatusOK)
	wantContains(t, "the draft", draft.Body, "schedule: 0 6 * * 1-5 (UTC)")
	wantLacks(t, "the draft", draft.Body, `data-testid="workflow-schedule"`)

	ts.publishWorkflow(t, wf.ID)
	// The clock starts on a Sunday, so the next weekday 06:00 is Monday's.
	page := ts.get(t, c, "/workflows/"+id).wantStatus(t, http.StatusOK)
	wantContains(t, "the active workflow", page.Body, `data-testid="workflow-schedule"`,
		`Runs on schedule <span class="mono">0 6 * * 1-5</span> (UTC) · next run`,
		`<time datetime="2026-11-23T06:00:00Z" title="in 22 hours" data-testid="next-run">2026-11-23 06:00 UTC</time>`)
	// Readers see it too.
	ro := ts.get(t, ts.loginAs(t, "demo-approver"), "/workflows/"+id).wantStatus(t, http.StatusOK)
	wantContains(t, "the approver's page", ro.Body, `data-testid="next-run">2026-11-23 06:00 UTC`)

	var got struct {
		Schedule  string     `json:"schedule"`
		NextRunAt *time.Time `json:"nextRunAt"`
	}
	ts.do(t, c, "GET", "/api/workflows/"+id, nil).wantStatus(t, http.StatusOK).json(t, &got)
	if got.Schedule != "0 6 * * 1-5" || got.NextRunAt == nil || !got.NextRunAt.Equal(time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)) {
		t.Fatalf("API: schedule %q, nextRunAt %v", got.Schedule, got.NextRunAt)
	}

	// The clock moves on: at Monday's tick the next is Tuesday's. (The session has expired
	// by then.)
	ts.Clock.Advance(22 * time.Hour)
	c = ts.loginAs(t, "demo-admin")
	page = ts.get(t, c, "/workflows/"+id).wantStatus(t, http.StatusOK)
	wantContains(t, "on Monday at 06:00", page.Body, `data-testid="next-run">2026-11-24 06:00 UTC`)

	if _, err := ts.Engine.DeprecateWorkflow(context.Background(), ts.adminActor(t), wf.ID); err != nil {
		t.Fatal(err)
	}
	page = ts.get(t, c, "/workflows/"+id).wantStatus(t, http.StatusOK)
	wantLacks(t, "deprecated", page.Body, `data-testid="workflow-schedule"`)
	raw := ts.do(t, c, "GET", "/api/workflows/"+id, nil).wantStatus(t, http.StatusOK)
	if strings.Contains(raw.Body, "nextRunAt") {
		t.Fatalf("a deprecated workflow has a next run: %s", raw.Body)
	}

	manual := ts.newWorkflow(t, startEnd("By hand", ""))
	ts.publishWorkflow(t, manual.ID)
	page = ts.get(t, c, "/workflows/"+manual.ID.String()).wantStatus(t, http.StatusOK)
	wantLacks(t, "a manual workflow", page.Body, `data-testid="workflow-schedule"`)
}

func TestDiffPageNamesTheChangedConfigKeys(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	wf := ts.newWorkflow(t, withNotify)
	ts.publishWorkflow(t, wf.ID)
	ctx := context.Background()
	if _, err := ts.Engine.NewDraftFromVersion(ctx, ts.adminActor(t), wf.ID, 1); err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(withNotify, `"subject": "Leaver", "body": "{{email}} leaves"`, `"subject": "Leaver today", "body": "{{email}} leaves"`, 1)
	changed = strings.Replace(changed, `"name": "Tell IT"`, `"name": "Tell the IT desk"`, 1)
	if _, err := ts.Engine.UpdateWorkflow(ctx, ts.adminActor(t), wf.ID, []byte(changed)); err != nil {
		t.Fatal(err)
	}
	res := ts.get(t, ts.loginAs(t, "demo-approver"), "/workflows/"+wf.ID.String()+"/diff?from=1&to=draft").wantStatus(t, http.StatusOK)
	wantContains(t, "a changed step", res.Body, `data-testid="step-changed-tell-it"`, "name, config (subject) changed",
		"No settings changed; no steps added, 0 removed, 1 changed")
}
