package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// sameJSON reports whether two documents hold the same JSON values, whatever their layout.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%v: %s", err, a)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return reflect.DeepEqual(x, y)
}

// upload is the import form as a browser posts it: the chosen file (none when name is
// empty) and the other fields.
func upload(name string, content []byte, fields url.Values) multipartForm {
	f := multipartForm{fields: fields, files: map[string]uploadFile{"file": {name: name, content: content}}}
	if f.fields == nil {
		f.fields = url.Values{}
	}
	return f
}

func TestExportWorkflowDocuments(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	wf := ts.newWorkflow(t, strings.Replace(withNotify, `"name": "Offboarding"`, `"name": "Zugänge für Neue / IT"`, 1))
	id := wf.ID.String()
	ts.publishWorkflow(t, wf.ID)
	if _, err := ts.Engine.NewDraftFromVersion(context.Background(), ts.adminActor(t), wf.ID, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Engine.UpdateWorkflow(context.Background(), ts.adminActor(t), wf.ID, []byte(startEnd("Zugänge für Neue / IT", "Joiners"))); err != nil {
		t.Fatal(err)
	}
	// Reading is enough to export: an approver holds workflow:read only.
	c := ts.loginAs(t, "demo-approver")
	admin := ts.loginAs(t, "demo-admin")

	res := ts.get(t, c, "/workflows/"+id+"/export?version=1").wantStatus(t, http.StatusOK)
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want JSON", ct)
	}
	if cd := res.Header.Get("Content-Disposition"); cd != `attachment; filename="zugange-fur-neue-it-v1.json"` {
		t.Errorf("Content-Disposition %q", cd)
	}
	if !strings.HasPrefix(res.Body, "{\n  \"name\": \"Zugänge für Neue / IT\",\n") || !strings.HasSuffix(res.Body, "}\n") {
		t.Errorf("the file is not the indented document, name first:\n%s", res.Body)
	}
	var version struct {
		Definition json.RawMessage `json:"definition"`
	}
	ts.get(t, admin, "/api/workflows/"+id+"/versions/1", bearer(ts.token(t, ts.demo(t, "demo-admin"), nil))...).
		wantStatus(t, http.StatusOK).json(t, &version)
	if !sameJSON(t, []byte(res.Body), version.Definition) {
		t.Errorf("version 1's file differs from the API's document:\n%s\n%s", res.Body, version.Definition)
	}
	for _, key := range []string{`"id": "` + id, "publishedAt", "workflowId", "createdBy"} {
		if strings.Contains(res.Body, key) {
			t.Errorf("the file holds the server's %s", key)
		}
	}

	draft := ts.get(t, c, "/workflows/"+id+"/export?version=draft").wantStatus(t, http.StatusOK)
	if cd := draft.Header.Get("Content-Disposition"); cd != `attachment; filename="zugange-fur-neue-it-draft.json"` {
		t.Errorf("the draft's Content-Disposition %q", cd)
	}
	if !sameJSON(t, []byte(draft.Body), ts.workflow(t, wf.ID).Draft) || strings.Contains(draft.Body, "tell-it") {
		t.Errorf("the draft's file is not the draft:\n%s", draft.Body)
	}

	// The versions panel links every document to its file.
	page := ts.get(t, admin, "/workflows/"+id).wantStatus(t, http.StatusOK)
	wantContains(t, "the versions panel", page.Body, `href="/workflows/`+id+`/export?version=1"`, `href="/workflows/`+id+`/export?version=draft"`,
		`aria-label="Download version 1 as JSON"`, `aria-label="Download open draft as JSON"`)

	// What is not there is a 404; what is not a version at all names the parameter.
	ts.get(t, c, "/workflows/"+id+"/export?version=7").wantStatus(t, http.StatusNotFound)
	ts.get(t, c, "/workflows/"+uuid.NewString()+"/export?version=1").wantStatus(t, http.StatusNotFound)
	for bad, want := range map[string]string{
		"?version=latest": "version: must be a version number, or &#34;draft&#34; for the open draft, not &#34;latest&#34;",
		"?version=0":      "not &#34;0&#34;",
		"?version=-1":     "not &#34;-1&#34;",
		"":                "version: is required",
	} {
		res := ts.get(t, c, "/workflows/"+id+"/export"+bad).wantStatus(t, http.StatusUnprocessableEntity)
		wantContains(t, "export"+bad, res.Body, want)
	}
	ts.publishWorkflow(t, wf.ID)
	ts.get(t, c, "/workflows/"+id+"/export?version=draft").wantStatus(t, http.StatusNotFound)
	ts.get(t, c, "/workflows/"+id+"/export?version=2").wantStatus(t, http.StatusOK)

	// A draft never published: the panel offers its file instead of a version list.
	fresh := ts.newWorkflow(t, startEnd("Fresh", ""))
	page = ts.get(t, admin, "/workflows/"+fresh.ID.String()).wantStatus(t, http.StatusOK)
	wantContains(t, "an unpublished draft", page.Body, `data-testid="export-draft"`, `href="/workflows/`+fresh.ID.String()+`/export?version=draft"`)
}

func TestImportWorkflowFromAFile(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	orig := ts.newWorkflow(t, withNotify)
	ts.publishWorkflow(t, orig.ID)
	c := ts.loginAs(t, "demo-manager")
	exported := []byte(ts.get(t, c, "/workflows/"+orig.ID.String()+"/export?version=1").wantStatus(t, http.StatusOK).Body)
	workflows := func() int { return ts.count(t, "SELECT count(*) FROM workflows") }

	form := ts.get(t, c, "/workflows/new").wantStatus(t, http.StatusOK)
	wantContains(t, "the new workflow page", form.Body, `data-testid="workflow-form"`, `data-testid="import-form"`, `action="/workflows/import"`,
		`enctype="multipart/form-data"`, `type="file"`, `id="field-file"`, `accept=".json,application/json"`, `id="field-importName"`)

	// The name in the file is taken: said at the name, the file kept for the next try.
	res := ts.do(t, c, "POST", "/workflows/import", upload("offboarding-v1.json", exported, nil), ts.sameOrigin()...).
		wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "a taken name", res.Body, `data-testid="error-summary"`, `href="#field-importName"`, "Name: A workflow named",
		"already exists", `id="error-importName"`, `data-testid="carried-file"`, "offboarding-v1.json", `data-url="/workflows/new"`)
	carried := hiddenFields(res.Body)
	if !sameJSON(t, []byte(carried.Get("document")), exported) || carried.Get("filename") != "offboarding-v1.json" {
		t.Fatalf("the file is not carried back: %v", carried)
	}
	if n := workflows(); n != 1 {
		t.Fatalf("%d workflows after a refused import", n)
	}

	// Another name, no new file: the carried one is imported.
	carried.Set("importName", "Offboarding (copy)")
	res = ts.do(t, c, "POST", "/workflows/import", upload("", nil, carried), ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	id, err := uuid.Parse(strings.TrimPrefix(res.Header.Get("Location"), "/workflows/"))
	if err != nil {
		t.Fatalf("redirected to %q", res.Header.Get("Location"))
	}
	copied := ts.workflow(t, id)
	if copied.Name != "Offboarding (copy)" || copied.Category != "Leavers" || copied.Version != 0 {
		t.Fatalf("imported %+v", copied)
	}
	want := bytes.Replace(exported, []byte(`"name": "Offboarding"`), []byte(`"name": "Offboarding (copy)"`), 1)
	if !sameJSON(t, copied.Draft, want) {
		t.Errorf("the draft is not the file:\n%s", copied.Draft)
	}
	page := ts.get(t, c, "/workflows/"+id.String()).wantStatus(t, http.StatusOK)
	wantContains(t, "the imported workflow", page.Body, "Imported offboarding-v1.json as a new draft, Offboarding (copy).", `data-testid="step-row-tell-it"`)
	entries := ts.auditEntries(t, "workflow.imported")
	if len(entries) != 1 || *entries[0].EntityID != id.String() || !strings.Contains(string(entries[0].After), "Offboarding (copy)") {
		t.Fatalf("audit: %+v", entries)
	}

	// Each problem of the file is said at the file, and nothing is stored. A file that must
	// be fixed is not carried back.
	big := append([]byte(`{"name": "Big", "description": "`), bytes.Repeat([]byte("x"), 1<<20)...)
	cases := []struct {
		what, file string
		content    []byte
		fields     url.Values
		want       []string
		carry      bool
	}{
		{"no file", "", nil, url.Values{"importName": {"Typed name"}}, []string{"Choose a JSON file to import"}, false},
		{"an empty file", "empty.json", []byte(" \n"), nil, []string{"The file empty.json is empty"}, false},
		{"malformed JSON", "broken.json", []byte("{\n  \"name\": \"Broken\",\n  \"steps\": [}\n}"), nil,
			[]string{"The file broken.json is not valid JSON", "line 3, column 13", "Fix it and choose it again"}, false},
		{"an unknown step type", "teleport.json", bytes.Replace(exported, []byte(`"type": "end"`), []byte(`"type": "teleport"`), 1),
			url.Values{"importName": {"Teleport"}}, []string{"teleport.json: steps[2].type"}, false},
		{"not a definition", "list.json", []byte(`[1, 2]`), nil, []string{"list.json: The definition"}, false},
		{"a file over 1 MiB", "photo.json", big, url.Values{"importName": {"Typed name"}},
			[]string{"The file photo.json is larger than 1 MiB", "check that this is the file you exported"}, false},
		{"no name anywhere", "nameless.json", bytes.Replace(exported, []byte(`"name": "Offboarding",`), nil, 1), nil,
			[]string{`href="#field-importName"`, "the file names no workflow; type a name"}, true},
	}
	for _, tc := range cases {
		res := ts.do(t, c, "POST", "/workflows/import", upload(tc.file, tc.content, tc.fields), ts.sameOrigin()...).
			wantStatus(t, http.StatusUnprocessableEntity)
		wantContains(t, tc.what, res.Body, append(tc.want, `data-testid="error-summary"`)...)
		if !tc.carry {
			wantContains(t, tc.what, res.Body, `href="#field-file"`, `id="error-file"`)
		}
		if got := hiddenFields(res.Body).Get("document") != ""; got != tc.carry {
			t.Errorf("%s: the file carried back: %v, want %v", tc.what, got, tc.carry)
		}
		if v, _ := inputValue(res.Body, "importName"); v != tc.fields.Get("importName") {
			t.Errorf("%s: the name field holds %q, want what was typed %q", tc.what, v, tc.fields.Get("importName"))
		}
	}
	if n := workflows(); n != 2 {
		t.Fatalf("%d workflows after refused imports, want 2", n)
	}
	// A client that posts no multipart body gets the form, not an error page.
	res = ts.postForm(t, c, "/workflows/import", url.Values{"importName": {"x"}}, ts.sameOrigin()...).wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "a form without a file", res.Body, "Choose a JSON file to import")

	// A file saved by a Windows editor starts with a byte order mark.
	bom := append([]byte("\xEF\xBB\xBF"), []byte(startEnd("From Windows", ""))...)
	ts.do(t, c, "POST", "/workflows/import", upload("windows.json", bom, nil), ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	if n := ts.count(t, "SELECT count(*) FROM workflows WHERE name = 'From Windows'"); n != 1 {
		t.Errorf("the file with a byte order mark was not imported")
	}
}

func TestImportFileAsTheDraft(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	wf := ts.newWorkflow(t, startEnd("Offboarding", "Leavers"))
	id := wf.ID.String()
	ts.publishWorkflow(t, wf.ID)
	c := ts.loginAs(t, "demo-admin")
	file := []byte(strings.Replace(withNotify, `"name": "Offboarding"`, `"name": "Offboarding (staging)"`, 1))

	// A published workflow without a draft: the import opens one, keeping the workflow's name.
	page := ts.get(t, c, "/workflows/"+id).wantStatus(t, http.StatusOK)
	wantContains(t, "the import card", page.Body, `data-testid="import"`, "Open a draft from a JSON file", `action="/workflows/`+id+`/import"`,
		`enctype="multipart/form-data"`, "Runs keep using version 1")
	if v, _ := inputValue(page.Body, "importName"); v != "Offboarding" {
		t.Errorf("the name field holds %q, want the workflow's name", v)
	}
	wantLacks(t, "without a draft", page.Body, `id="field-replace"`)
	res := ts.do(t, c, "POST", "/workflows/"+id+"/import", upload("staging.json", file, url.Values{"importName": {"Offboarding"}}), ts.sameOrigin()...).
		wantStatus(t, http.StatusSeeOther)
	page = ts.get(t, c, res.Header.Get("Location")).wantStatus(t, http.StatusOK)
	wantContains(t, "a draft opened from a file", page.Body, "Imported staging.json as the draft of Offboarding.", "Runs keep using version 1 until you publish it",
		`data-testid="step-row-tell-it"`, `data-testid="draft-open"`)
	got := ts.workflow(t, wf.ID)
	want := strings.Replace(withNotify, `"name": "Offboarding (staging)"`, `"name": "Offboarding"`, 1)
	if got.Name != "Offboarding" || got.Version != 1 || !sameJSON(t, got.Draft, []byte(want)) {
		t.Fatalf("after the import: %s version %d draft %s", got.Name, got.Version, got.Draft)
	}
	opened := ts.auditEntries(t, "workflow.draft_imported")
	if len(opened) != 1 || opened[0].Before != nil {
		t.Fatalf("audit of opening a draft: %+v", opened)
	}

	// Now a draft is open: replacing it needs the box ticked. Unticked, nothing changes and
	// the file waits in the form; a broken file is said at the same time.
	page = ts.get(t, c, "/workflows/"+id).wantStatus(t, http.StatusOK)
	wantContains(t, "with a draft open", page.Body, "Replace the draft with a JSON file", `id="field-replace"`,
		`data-testid="download-draft-first"`, `href="/workflows/`+id+`/export?version=draft"`)
	second := []byte(startEnd("Offboarding v3", "Leavers"))
	res = ts.do(t, c, "POST", "/workflows/"+id+"/import", upload("second.json", second, url.Values{"importName": {""}}), ts.sameOrigin()...).
		wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "an unconfirmed replacement", res.Body, `href="#field-replace"`, `id="error-replace"`, "has an open draft, which the import replaces: tick “Replace the open draft” to confirm.",
		`data-testid="carried-file"`, `data-url="/workflows/`+id+`"`, `data-testid="json-editor"`)
	broken := bytes.Replace(second, []byte(`"type": "end"`), []byte(`"type": "teleport"`), 1)
	both := ts.do(t, c, "POST", "/workflows/"+id+"/import", upload("broken.json", broken, nil), ts.sameOrigin()...).
		wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "an unconfirmed broken file", both.Body, `href="#field-replace"`, "broken.json: steps[1].type")
	if after := ts.workflow(t, wf.ID); string(after.Draft) != string(got.Draft) {
		t.Fatalf("a refused import changed the draft:\n%s", after.Draft)
	}

	// Confirmed, with the carried file and the name cleared: the file's name is taken.
	fields := hiddenFields(res.Body)
	fields.Set("replace", "true")
	fields.Set("importName", "")
	res = ts.do(t, c, "POST", "/workflows/"+id+"/import", upload("", nil, fields), ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	page = ts.get(t, c, res.Header.Get("Location")).wantStatus(t, http.StatusOK)
	wantContains(t, "a replaced draft", page.Body, "Imported second.json as the draft of Offboarding v3.", "The import can be undone like any edit of the draft")
	replaced := ts.workflow(t, wf.ID)
	if replaced.Name != "Offboarding v3" || !sameJSON(t, replaced.Draft, second) {
		t.Fatalf("after replacing: %s %s", replaced.Name, replaced.Draft)
	}
	entries := ts.auditEntries(t, "workflow.draft_imported")
	if len(entries) != 2 || !sameJSON(t, entries[0].Before, got.Draft) || !strings.Contains(string(entries[0].After), "Offboarding v3") {
		t.Fatalf("the replaced draft is not in the audit log: %+v", entries[0])
	}

	// Another workflow's name is taken, said at the name; a deleted workflow takes no draft.
	other := ts.newWorkflow(t, startEnd("Joiners", ""))
	res = ts.do(t, c, "POST", "/workflows/"+other.ID.String()+"/import", upload("second.json", second, url.Values{"replace": {"true"}}), ts.sameOrigin()...).
		wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "a name taken by another workflow", res.Body, `href="#field-importName"`, "already exists", `data-testid="carried-file"`)
	if _, err := ts.Engine.DeleteWorkflow(context.Background(), ts.adminActor(t), other.ID); err != nil {
		t.Fatal(err)
	}
	res = ts.do(t, c, "POST", "/workflows/"+other.ID.String()+"/import", upload("joiners.json", []byte(startEnd("Joiners", "")), url.Values{"replace": {"true"}}),
		ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	wantContains(t, "importing into a deleted workflow", ts.get(t, c, res.Header.Get("Location")).Body, "flash-error", "is deleted")
	wantLacks(t, "a deleted workflow's page", ts.get(t, c, "/workflows/"+other.ID.String()).Body, `data-testid="import"`)

	// Those who may only read see no import form.
	wantLacks(t, "the approver's page", ts.get(t, ts.loginAs(t, "demo-approver"), "/workflows/"+id).Body, `data-testid="import"`)
}
