package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"floh/db"
	"floh/engine"
	"floh/engine/templates"
)

// templateConnectors creates an Active Directory, an Authifi and, unless told not to, an
// email connector, plus an LDAP one the Active Directory slots must not offer.
func (ts *testServer) templateConnectors(t *testing.T, withMail bool) (ad, authifi, mail *db.Connector) {
	t.Helper()
	ad = ts.newConnector(t, engine.ConnectorInput{Name: "Corp AD", Type: "activedirectory", Config: map[string]any{
		"url": "ldaps://dc1.example.test", "bindDN": "CN=svc,DC=example,DC=test", "bindPassword": "secret", "baseDN": "DC=example,DC=test"}})
	authifi = ts.newConnector(t, engine.ConnectorInput{Name: "Authifi prod", Type: "authifi", Config: map[string]any{
		"baseUrl": "https://auth.example.test/_api", "tenant": "prod", "tenantId": "42", "clientId": "floh", "clientSecret": "secret"}})
	ts.newConnector(t, engine.ConnectorInput{Name: "Lab LDAP", Type: "ldap", Config: map[string]any{
		"url": "ldaps://ldap.example.test", "bindDN": "cn=floh,dc=example,dc=test", "bindPassword": "secret", "baseDN": "dc=example,dc=test"}})
	if withMail {
		mail = ts.newConnector(t, engine.ConnectorInput{Name: "Mail relay", Type: "email", Config: map[string]any{
			"smtpUrl": "smtp://mail.example.test:25", "from": "floh@example.test"}})
	}
	return ad, authifi, mail
}

type insertAnswer struct {
	workflowView
	Findings []struct {
		Code, Severity, StepID string
	} `json:"findings"`
	Renamed []struct {
		Kind, From, To string
	} `json:"renamed"`
	Insertion struct {
		TemplateID     string   `json:"templateId"`
		Steps          []string `json:"steps"`
		Entry          string   `json:"entry"`
		Connected      bool     `json:"connected"`
		Unconnected    []struct{ From, On string }
		AddedVariables []struct{ Name, Type string } `json:"addedVariables"`
	} `json:"insertion"`
}

func TestWorkflowTemplatesAPI(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ad, authifi, _ := ts.templateConnectors(t, true)
	admin := ts.demo(t, "demo-admin")
	tok := bearer(ts.token(t, admin, nil))

	// Listed to anyone who reads workflows, with their slots.
	reader := bearer(ts.token(t, ts.demo(t, "demo-approver"), nil))
	var list struct {
		Items []struct {
			ID, Name, Category, Description string
			Slots                           []map[string]string
		} `json:"items"`
	}
	ts.get(t, nil, "/api/workflow-templates", reader...).wantStatus(t, http.StatusOK).json(t, &list)
	if len(list.Items) != 5 || list.Items[0].ID != "provisioning-chain" || list.Items[0].Name != "Provisioning Chain — with failure routing" ||
		list.Items[0].Category != "Workflow Definition" || list.Items[0].Description == "" {
		t.Fatalf("templates: %+v", list.Items)
	}
	if s := list.Items[0].Slots[0]; s["name"] != "activeDirectory" || s["kind"] != "connector" || s["connectorType"] != "activedirectory" || s["label"] == "" || s["variableType"] != "" {
		t.Errorf("a connector slot: %v", s)
	}
	if s := list.Items[0].Slots[2]; s["name"] != "email" || s["kind"] != "variable" || s["variableType"] != "string" || s["description"] == "" {
		t.Errorf("a variable slot: %v", s)
	}

	wf := ts.newWorkflow(t, startEnd("Joiners", ""))
	id := wf.ID.String()
	path := "/api/workflows/" + id + "/insert-template"
	bindings := map[string]any{"activeDirectory": ad.ID.String(), "authifi": "Authifi prod", "email": "email", "displayName": "displayName",
		"username": "username", "initialPassword": "initialPassword", "adGroup": "adGroup", "authifiRoles": "authifiRoles"}
	before := string(ts.workflow(t, wf.ID).Draft)

	// Refusals, each naming what is wrong, and nothing stored.
	ts.do(t, nil, "POST", path, map[string]any{"templateId": "provisioning-chain", "bindings": bindings}, reader...).apiError(t, http.StatusForbidden, "forbidden")
	ts.do(t, nil, "POST", path, map[string]any{"templateId": "teleport", "bindings": bindings}, tok...).apiError(t, http.StatusNotFound, "not_found")
	ts.do(t, nil, "POST", "/api/workflows/00000000-0000-0000-0000-000000000000/insert-template",
		map[string]any{"templateId": "provisioning-chain", "bindings": bindings}, tok...).apiError(t, http.StatusNotFound, "not_found")
	if e := ts.do(t, nil, "POST", path, map[string]any{"bindings": bindings}, tok...).apiError(t, http.StatusUnprocessableEntity, "validation_failed"); !e.hasField("templateId") {
		t.Errorf("no templateId: %+v", e)
	}
	wrong := map[string]any{}
	for k, v := range bindings {
		wrong[k] = v
	}
	wrong["authifi"] = ad.ID.String()
	delete(wrong, "email")
	e := ts.do(t, nil, "POST", path, map[string]any{"templateId": "provisioning-chain", "bindings": wrong}, tok...).apiError(t, http.StatusUnprocessableEntity, "validation_failed")
	if !e.hasField("bindings.authifi") || !e.hasField("bindings.email") || len(e.Details) != 2 {
		t.Errorf("bad bindings: %+v", e)
	}
	wrong["email"] = 7
	if e := ts.do(t, nil, "POST", path, map[string]any{"templateId": "provisioning-chain", "bindings": wrong}, tok...).apiError(t, http.StatusUnprocessableEntity, "validation_failed"); !e.hasField("bindings.email") {
		t.Errorf("a binding that is not text: %+v", e)
	}
	ts.do(t, nil, "POST", path, map[string]any{"templateID": "provisioning-chain"}, tok...).apiError(t, http.StatusUnprocessableEntity, "validation_failed")
	ts.do(t, nil, "POST", path, `{"templateId": `, tok...).wantStatus(t, http.StatusBadRequest)
	if after := string(ts.workflow(t, wf.ID).Draft); after != before {
		t.Fatalf("a refused insertion changed the draft: %s", after)
	}

	// Inserted: the workflow document as GET shows it, with the lint of the new draft.
	var got insertAnswer
	ts.do(t, nil, "POST", path, map[string]any{"templateId": "provisioning-chain", "bindings": bindings}, tok...).wantStatus(t, http.StatusOK).json(t, &got)
	if got.ID != id || got.Name != "Joiners" || got.Status != "draft" || !got.HasDraft || len(got.Definition.Steps) != 11 {
		t.Fatalf("document: %+v", got.workflowView)
	}
	for _, f := range got.Findings {
		if f.Severity != "info" {
			t.Errorf("finding: %+v", f)
		}
	}
	if got.Renamed == nil || len(got.Renamed) != 0 || !got.Insertion.Connected || got.Insertion.Entry != "createFlohUser" ||
		len(got.Insertion.Steps) != 9 || len(got.Insertion.AddedVariables) != 6 || got.Insertion.TemplateID != "provisioning-chain" {
		t.Fatalf("insertion: %+v renamed %v", got.Insertion, got.Renamed)
	}
	var shown workflowView
	ts.get(t, nil, "/api/workflows/"+id, tok...).wantStatus(t, http.StatusOK).json(t, &shown)
	if len(shown.Definition.Steps) != 11 {
		t.Fatalf("GET after insertion: %d steps", len(shown.Definition.Steps))
	}
	if n := len(ts.auditEntries(t, "workflow.updated")); n != 1 {
		t.Errorf("%d workflow.updated audit entries, want 1", n)
	}

	// Again: renamed, beside the graph, and said so.
	var again insertAnswer
	ts.do(t, nil, "POST", path, map[string]any{"templateId": "provisioning-chain", "bindings": bindings}, tok...).wantStatus(t, http.StatusOK).json(t, &again)
	if again.Insertion.Connected || len(again.Insertion.Unconnected) != 1 || again.Insertion.Unconnected[0].From != "notifySuccess_2" ||
		len(again.Renamed) != 11 || again.Renamed[0].Kind != "step" || again.Renamed[0].From != "createFlohUser" || again.Renamed[0].To != "createFlohUser_2" {
		t.Fatalf("second insertion: %+v renamed %+v", again.Insertion, again.Renamed)
	}

	// Published, with no open draft: a conflict, as for PUT.
	ts.publishWorkflow(t, ts.newWorkflow(t, startEnd("Published", "")).ID)
	var pub struct {
		Items []workflowView `json:"items"`
	}
	ts.get(t, nil, "/api/workflows?q=Published", tok...).wantStatus(t, http.StatusOK).json(t, &pub)
	ts.do(t, nil, "POST", "/api/workflows/"+pub.Items[0].ID+"/insert-template",
		map[string]any{"templateId": "access-request", "bindings": map[string]any{"authifi": authifi.Name, "role": "role", "justification": "why"}}, tok...).
		apiError(t, http.StatusConflict, "conflict")
}

var selectTag = regexp.MustCompile(`(?s)<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>`)
var optionTag = regexp.MustCompile(`<option value="([^"]*)"( selected)?>([^<]*)</option>`)

// selectOptions are a select's options (value → label) and its selected value.
func selectOptions(t *testing.T, body, name string) (map[string]string, string) {
	t.Helper()
	for _, m := range selectTag.FindAllStringSubmatch(body, -1) {
		if m[1] != name {
			continue
		}
		opts, selected := map[string]string{}, ""
		for _, o := range optionTag.FindAllStringSubmatch(m[2], -1) {
			opts[o[1]] = o[3]
			if o[2] != "" {
				selected = o[1]
			}
		}
		return opts, selected
	}
	t.Fatalf("no select %s in:\n%s", name, body)
	return nil, ""
}

func TestTemplatePickerPage(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	wf := ts.newWorkflow(t, startEnd("Joiners", ""))
	id := wf.ID.String()
	c := ts.loginAs(t, "demo-admin")

	// The workflow page offers it for the draft.
	page := ts.get(t, c, "/workflows/"+id).wantStatus(t, http.StatusOK)
	wantContains(t, "the workflow page", page.Body, `data-testid="insert-from-template"`, `href="/workflows/`+id+`/templates"`)

	res := ts.get(t, c, "/workflows/"+id+"/templates").wantStatus(t, http.StatusOK)
	wantHTML(t, res)
	if !isFullPage(res.Body) {
		t.Fatal("the plain request is not a full page")
	}
	wantContains(t, "the template list", res.Body, `<h1 id="template-picker-h">Insert from template</h1>`,
		`data-testid="template-group-workflow-definition"`, `>Workflow Definition</h2>`, `>Onboarding</h2>`, `>Offboarding</h2>`,
		`>Access Request</h2>`, `>Post-sync</h2>`, "Provisioning Chain — with failure routing", "You choose: Active Directory connector, Authifi connector",
		`href="/workflows/`+id+`/templates/provisioning-chain"`, `data-testid="use-post-sync-onboarding"`, `data-url="/workflows/`+id+`/templates"`)
	wantLacks(t, "the plain list", res.Body, `hx-get="/workflows/`+id+`/templates/`)
	// Each template is previewed: a box per step that links nowhere, its error edges marked.
	for _, tpl := range templates.All() {
		preview := previewOf(t, res.Body, tpl.ID)
		if n := strings.Count(preview, `data-testid="canvas-step"`); n != len(tpl.Steps) {
			t.Errorf("%s: %d boxes in the preview, want one per step (%d)", tpl.ID, n, len(tpl.Steps))
		}
		errorEdges := 0
		for _, e := range tpl.Edges {
			if e.On == "error" {
				errorEdges++
			}
		}
		if n := strings.Count(preview, `data-on="error"`); n != errorEdges || strings.Contains(preview, "<a ") {
			t.Errorf("%s: %d error edges drawn, want %d, and no links", tpl.ID, n, errorEdges)
		}
	}
	if strings.Index(res.Body, "Workflow Definition") > strings.Index(res.Body, ">Onboarding</h2>") {
		t.Error("Workflow Definition is not the first category")
	}

	// Asked for by htmx (the designer's dialog): only the picker, whose links swap it.
	part := ts.get(t, c, "/workflows/"+id+"/templates", "HX-Request", "true").wantStatus(t, http.StatusOK)
	wantHTML(t, part)
	if isFullPage(part.Body) || !strings.HasPrefix(strings.TrimSpace(part.Body), `<div id="template-picker"`) {
		t.Fatalf("the htmx answer is not the picker alone:\n%s", part.Body)
	}
	wantContains(t, "the partial list", part.Body, `<h2 id="template-picker-h">`, `hx-get="/workflows/`+id+`/templates/onboarding"`, `hx-target="#template-picker"`)

	// A reader browses but is not offered to insert.
	reader := ts.loginAs(t, "demo-approver")
	res = ts.get(t, reader, "/workflows/"+id+"/templates").wantStatus(t, http.StatusOK)
	wantContains(t, "the reader's list", res.Body, `data-testid="cannot-insert"`, "Provisioning Chain")
	wantLacks(t, "the reader's list", res.Body, `data-testid="use-provisioning-chain"`)
	ts.get(t, reader, "/workflows/"+id+"/templates/onboarding").wantStatus(t, http.StatusForbidden)
	page = ts.get(t, reader, "/workflows/"+id).wantStatus(t, http.StatusOK)
	wantLacks(t, "the reader's workflow page", page.Body, `data-testid="insert-from-template"`)

	// Without an open draft, the list says why nothing can be inserted.
	ts.publishWorkflow(t, wf.ID)
	res = ts.get(t, c, "/workflows/"+id+"/templates").wantStatus(t, http.StatusOK)
	wantContains(t, "a published workflow's list", res.Body, `data-testid="no-draft"`, "has no open draft")
	wantLacks(t, "a published workflow's list", res.Body, `data-testid="use-provisioning-chain"`)

	ts.get(t, c, "/workflows/"+id+"/templates/teleport").wantStatus(t, http.StatusNotFound)
	ts.get(t, c, "/workflows/00000000-0000-0000-0000-000000000000/templates").wantStatus(t, http.StatusNotFound)
}

func TestTemplateFormBindsAndInserts(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ad, authifi, _ := ts.templateConnectors(t, false)
	wf := ts.newWorkflow(t, `{"name": "Joiners", "variables": [{"name": "email", "type": "string"}, {"name": "count", "type": "number"},
		{"name": "displayName", "type": "number"}],
		"steps": [{"id": "start", "name": "Start", "type": "start"}, {"id": "end", "name": "End", "type": "end"}],
		"edges": [{"from": "start", "to": "end", "on": "success"}]}`)
	id := wf.ID.String()
	form := "/workflows/" + id + "/templates/provisioning-chain"
	c := ts.loginAs(t, "demo-manager")

	res := ts.get(t, c, form).wantStatus(t, http.StatusOK)
	wantHTML(t, res)
	wantContains(t, "the form", res.Body, `data-testid="template-form"`, `action="/workflows/`+id+`/templates/provisioning-chain"`,
		`<label for="field-slot.activeDirectory">`, "A connector of type Active Directory.", "A variable of type list.")
	// Each connector select offers only its type's instances; the only one is chosen.
	opts, selected := selectOptions(t, res.Body, "slot.activeDirectory")
	if len(opts) != 2 || opts[ad.ID.String()] != "Corp AD" || selected != ad.ID.String() {
		t.Errorf("Active Directory choices %v, selected %q", opts, selected)
	}
	if opts, selected := selectOptions(t, res.Body, "slot.authifi"); len(opts) != 2 || selected != authifi.ID.String() {
		t.Errorf("Authifi choices %v, selected %q", opts, selected)
	}
	// Each variable select offers only the draft's variables of its type, and a new one: the
	// draft's email is chosen, displayName is a number so a new name is offered.
	if opts, selected := selectOptions(t, res.Body, "slot.email"); len(opts) != 2 || opts["email"] != "email" || selected != "email" {
		t.Errorf("email choices %v, selected %q", opts, selected)
	}
	if opts, selected := selectOptions(t, res.Body, "slot.displayName"); len(opts) != 2 || opts["email"] == "" || selected != "+new" {
		t.Errorf("displayName choices %v, selected %q", opts, selected)
	}
	wantContains(t, "the form", res.Body, `name="new.displayName" value="displayName_2"`, `name="new.username" value="username"`)

	// The htmx form is the panel alone, posting into itself.
	part := ts.get(t, c, form, "HX-Request", "true").wantStatus(t, http.StatusOK)
	if isFullPage(part.Body) || !strings.Contains(part.Body, `hx-post="/workflows/`+id+`/templates/provisioning-chain"`) {
		t.Fatalf("htmx form:\n%s", part.Body)
	}

	// Refused: the form comes back with every problem beside its field and the choices kept.
	before := string(ts.workflow(t, wf.ID).Draft)
	values := url.Values{"slot.activeDirectory": {""}, "slot.authifi": {authifi.ID.String()}, "slot.email": {"email"},
		"slot.displayName": {"+new"}, "new.displayName": {"display name"}, "slot.username": {"+new"}, "new.username": {"login"},
		"slot.initialPassword": {"+new"}, "new.initialPassword": {"pw"}, "slot.adGroup": {"+new"}, "new.adGroup": {"group"},
		"slot.authifiRoles": {"+new"}, "new.authifiRoles": {"roles"}}
	res = ts.postForm(t, c, form, values, ts.sameOrigin()...).wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "a refused insertion", res.Body, `data-testid="error-summary"`, `href="#field-slot.activeDirectory"`,
		`id="error-slot.activeDirectory"`, "Choose the connector that plays Active Directory.", `id="error-slot.displayName"`, "cannot name a variable",
		`name="new.displayName" value="display name"`, `name="new.username" value="login"`, `aria-invalid="true"`)
	if _, selected := selectOptions(t, res.Body, "slot.authifi"); selected != authifi.ID.String() {
		t.Errorf("the Authifi choice was lost: %q", selected)
	}
	part = ts.postForm(t, c, form, values, append(ts.sameOrigin(), "HX-Request", "true")...).wantStatus(t, http.StatusUnprocessableEntity)
	if isFullPage(part.Body) || !strings.Contains(part.Body, `data-testid="error-summary"`) {
		t.Fatalf("htmx 422:\n%s", part.Body)
	}
	if after := string(ts.workflow(t, wf.ID).Draft); after != before {
		t.Fatalf("a refused insertion changed the draft")
	}

	// Inserted: to the designer, saying what happened.
	values.Set("slot.activeDirectory", ad.ID.String())
	values.Set("new.displayName", "fullName")
	res = ts.postForm(t, c, form, values, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != "/workflows/"+id+"/design" {
		t.Fatalf("inserted: redirected to %q", loc)
	}
	page := ts.get(t, c, "/workflows/"+id+"/design").wantStatus(t, http.StatusOK)
	wantContains(t, "after inserting", page.Body, "Inserted “Provisioning Chain — with failure routing”: 9 steps.",
		"The start now leads to “Create Floh user” (createFlohUser)", "New variables: fullName, login, pw, group, roles.", `data-step="createAccount"`)
	var def struct {
		Steps []struct {
			ID     string
			Config map[string]any
		}
	}
	if err := json.Unmarshal(ts.workflow(t, wf.ID).Draft, &def); err != nil || len(def.Steps) != 11 {
		t.Fatalf("draft: %v %+v", err, def)
	}

	// Again, by htmx (the designer's dialog): renamed, beside the graph, and a full load of the
	// designer, whose htmx answers are only its workspace.
	res = ts.postForm(t, c, form, values, append(ts.sameOrigin(), "HX-Request", "true")...).wantStatus(t, http.StatusNoContent)
	if loc := res.Header.Get("HX-Redirect"); loc != "/workflows/"+id+"/design" {
		t.Fatalf("htmx insert: HX-Redirect %q", loc)
	}
	page = ts.get(t, c, "/workflows/"+id).wantStatus(t, http.StatusOK)
	wantContains(t, "after inserting again", page.Body, "placed beside the graph, not connected", "“Tell the requester (2)” (notifySuccess_2) on success",
		"Renamed 11 names the draft already used: createFlohUser → createFlohUser_2, createAccount → createAccount_2", "and 7 more.")

	// Published meanwhile: the form says why it was not inserted.
	ts.publishWorkflow(t, wf.ID)
	res = ts.postForm(t, c, form, values, ts.sameOrigin()...).wantStatus(t, http.StatusConflict)
	wantContains(t, "inserting into a published workflow", res.Body, `data-testid="insert-refused"`, "no open draft")
}

// With no instance of a slot's type, the form says so and links to creating one.
func TestTemplateFormWithoutInstances(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.templateConnectors(t, false)
	wf := ts.newWorkflow(t, startEnd("Joiners", ""))
	c := ts.loginAs(t, "demo-admin")
	res := ts.get(t, c, "/workflows/"+wf.ID.String()+"/templates/onboarding").wantStatus(t, http.StatusOK)
	wantContains(t, "the onboarding form", res.Body, `data-testid="no-instances-mail"`, "There is no Email (SMTP) connector yet.",
		`href="/connectors/new?type=email"`, `id="field-slot.mail"`)
	res = ts.postForm(t, c, "/workflows/"+wf.ID.String()+"/templates/onboarding", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "the onboarding form refused", res.Body, "Choose the connector that plays Email.", `href="#field-slot.mail"`)
}

// previewOf is a template card's preview: from its data-testid to the end of its drawing.
func previewOf(t *testing.T, body, templateID string) string {
	t.Helper()
	start := strings.Index(body, `data-testid="preview-`+templateID+`"`)
	end := strings.Index(body[max(start, 0):], "</svg>")
	if start < 0 || end < 0 {
		t.Fatalf("no preview of %s on the page", templateID)
	}
	return body[start : start+end]
}
