package handlers_test

import (
	"strings"
	"testing"
)

type workflowView struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Status     string `json:"status"`
	Version    int    `json:"version"`
	HasDraft   bool   `json:"hasDraft"`
	Definition struct {
		Name  string           `json:"name"`
		Steps []map[string]any `json:"steps"`
	} `json:"definition"`
}

// A draft may be incomplete and still saves (this one has no start yet); publishing needs a
// graph without lint errors.
const draftWithoutStart = `{"name": "Onboarding", "description": "New joiners", "variables": [],
	"steps": [{"id": "end", "name": "End", "type": "end"}], "edges": []}`

const publishable = `{"name": "Onboarding", "description": "New joiners", "variables": [{"name": "email", "type": "string", "required": true}],
	"steps": [{"id": "start", "name": "Start", "type": "start"}, {"id": "end", "name": "End", "type": "end"}],
	"edges": [{"from": "start", "to": "end", "on": "success"}]}`

func TestWorkflowsAPILifecycle(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin := ts.demo(t, "demo-admin")
	tok := bearer(ts.token(t, admin, nil))
	c := ts.client(t)

	// Malformed documents are refused naming the field; nothing is stored.
	e := ts.do(t, c, "POST", "/api/workflows", `{"name": "x", "steps": [{"id": "a", "type": "teleport"}], "edges": []}`, tok...).apiError(t, 422, "validation_failed")
	if !e.hasField("steps[0].type") {
		t.Fatalf("unknown step type: %+v", e.Details)
	}
	ts.do(t, c, "POST", "/api/workflows", `{"name": "x", "stepz": []}`, tok...).apiError(t, 422, "validation_failed")
	ts.do(t, c, "POST", "/api/workflows", `{"name": `, tok...).wantStatus(t, 400)
	ts.do(t, c, "POST", "/api/workflows", `{"steps": [], "edges": []}`, tok...).apiError(t, 422, "validation_failed")
	if n := ts.count(t, "SELECT count(*) FROM workflows"); n != 0 {
		t.Fatalf("%d workflows stored after bad input", n)
	}

	var wf workflowView
	ts.do(t, c, "POST", "/api/workflows", draftWithoutStart, tok...).wantStatus(t, 201).json(t, &wf)
	if wf.ID == "" || wf.Status != "draft" || !wf.HasDraft || wf.Version != 0 || len(wf.Definition.Steps) != 1 {
		t.Fatalf("created: %+v", wf)
	}
	id := wf.ID

	// Publishing an incomplete draft is refused with the findings.
	var refused struct {
		Error struct {
			Code     string `json:"code"`
			Findings []struct {
				Code, Severity, StepID, Message string
			} `json:"findings"`
		} `json:"error"`
	}
	ts.do(t, c, "POST", "/api/workflows/"+id+"/publish", nil, tok...).wantStatus(t, 409).json(t, &refused)
	if refused.Error.Code != "lint_errors" || len(refused.Error.Findings) == 0 || refused.Error.Findings[0].Code != "MISSING_START" {
		t.Fatalf("refused publish: %+v", refused)
	}

	ts.do(t, c, "PUT", "/api/workflows/"+id, publishable, tok...).wantStatus(t, 200)
	ts.do(t, c, "POST", "/api/workflows/"+id+"/publish", nil, tok...).wantStatus(t, 200).json(t, &wf)
	if wf.Status != "active" || wf.Version != 1 || wf.HasDraft {
		t.Fatalf("published: %+v", wf)
	}
	// Published: no edits in place, no delete while active.
	ts.do(t, c, "PUT", "/api/workflows/"+id, publishable, tok...).apiError(t, 409, "conflict")
	ts.do(t, c, "DELETE", "/api/workflows/"+id, nil, tok...).apiError(t, 409, "conflict")

	// A new draft from version 1, changed and published as version 2.
	ts.do(t, c, "POST", "/api/workflows/"+id+"/draft", map[string]any{"fromVersion": 7}, tok...).apiError(t, 422, "validation_failed")
	ts.do(t, c, "POST", "/api/workflows/"+id+"/draft", map[string]any{"fromVersion": 1}, tok...).wantStatus(t, 201)
	ts.do(t, c, "POST", "/api/workflows/"+id+"/draft", map[string]any{"fromVersion": 1}, tok...).apiError(t, 409, "conflict")
	changed := strings.Replace(publishable, `"description": "New joiners"`, `"description": "New joiners and movers"`, 1)
	changed = strings.Replace(changed, `{"id": "end", "name": "End", "type": "end"}`,
		`{"id": "wait", "name": "Wait", "type": "delay", "config": {"duration": "1m"}}, {"id": "end", "name": "End", "type": "end"}`, 1)
	changed = strings.Replace(changed, `[{"from": "start", "to": "end", "on": "success"}]`,
		`[{"from": "start", "to": "wait", "on": "success"}, {"from": "wait", "to": "end", "on": "success"}]`, 1)
	ts.do(t, c, "PUT", "/api/workflows/"+id, changed, tok...).wantStatus(t, 200)

	var diff struct {
		Steps struct {
			Added   []map[string]any `json:"added"`
			Removed []map[string]any `json:"removed"`
			Changed []map[string]any `json:"changed"`
		} `json:"steps"`
		Edges struct {
			Added   []map[string]any `json:"added"`
			Removed []map[string]any `json:"removed"`
		} `json:"edges"`
		Settings struct {
			Changed []map[string]any `json:"changed"`
		} `json:"settings"`
	}
	ts.do(t, c, "GET", "/api/workflows/"+id+"/diff?from=1&to=draft", nil, tok...).wantStatus(t, 200).json(t, &diff)
	if len(diff.Steps.Added) != 1 || diff.Steps.Added[0]["id"] != "wait" || len(diff.Edges.Added) != 2 || len(diff.Edges.Removed) != 1 ||
		len(diff.Settings.Changed) != 1 || diff.Settings.Changed[0]["field"] != "description" {
		t.Fatalf("diff: %+v", diff)
	}
	ts.do(t, c, "GET", "/api/workflows/"+id+"/diff?from=1&to=9", nil, tok...).apiError(t, 422, "validation_failed")

	ts.do(t, c, "POST", "/api/workflows/"+id+"/publish", nil, tok...).wantStatus(t, 200).json(t, &wf)
	if wf.Version != 2 {
		t.Fatalf("second publish: %+v", wf)
	}
	var versions struct {
		Items []struct {
			Version     int    `json:"version"`
			PublishedBy string `json:"publishedBy"`
		} `json:"items"`
	}
	ts.do(t, c, "GET", "/api/workflows/"+id+"/versions", nil, tok...).wantStatus(t, 200).json(t, &versions)
	if len(versions.Items) != 2 || versions.Items[0].Version != 2 || versions.Items[1].PublishedBy != admin.Email {
		t.Fatalf("versions: %+v", versions)
	}
	var v1 struct {
		Definition struct {
			Steps []map[string]any `json:"steps"`
		} `json:"definition"`
	}
	ts.do(t, c, "GET", "/api/workflows/"+id+"/versions/1", nil, tok...).wantStatus(t, 200).json(t, &v1)
	if len(v1.Definition.Steps) != 2 {
		t.Fatalf("version 1 is unchanged: %+v", v1)
	}

	ts.do(t, c, "POST", "/api/workflows/"+id+"/deprecate", nil, tok...).wantStatus(t, 200).json(t, &wf)
	if wf.Status != "deprecated" {
		t.Fatalf("deprecated: %+v", wf)
	}
	ts.do(t, c, "DELETE", "/api/workflows/"+id, nil, tok...).wantStatus(t, 200)
	var list struct{ Total int }
	ts.do(t, c, "GET", "/api/workflows", nil, tok...).wantStatus(t, 200).json(t, &list)
	if list.Total != 0 {
		t.Fatalf("a deleted workflow leaves the list: %+v", list)
	}
	for _, action := range []string{"workflow.created", "workflow.updated", "workflow.published", "workflow.draft_created", "workflow.deprecated", "workflow.deleted"} {
		if len(ts.auditEntries(t, action)) == 0 {
			t.Errorf("no %s audit entry", action)
		}
	}
}

func TestLintAPIAnswersForAnyParseableDefinition(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := bearer(ts.token(t, ts.demo(t, "demo-admin"), nil))
	c := ts.client(t)
	var out struct {
		Findings []struct {
			Code     string `json:"code"`
			Severity string `json:"severity"`
			StepID   string `json:"stepId"`
		} `json:"findings"`
	}
	broken := `{"name": "Broken", "steps": [{"id": "a", "name": "A", "type": "connector", "config": {"connectorId": "nope", "command": "x"}}],
		"edges": [{"from": "a", "to": "ghost", "on": "success"}, {"from": "a", "to": "a", "on": "success"}]}`
	ts.do(t, c, "POST", "/api/workflows/lint", broken, tok...).wantStatus(t, 200).json(t, &out)
	codes := map[string]bool{}
	for _, f := range out.Findings {
		codes[f.Code] = true
	}
	for _, want := range []string{"MISSING_START", "EDGE_UNKNOWN_STEP", "UNKNOWN_CONNECTOR", "DUPLICATE_OUTCOME"} {
		if !codes[want] {
			t.Errorf("lint did not report %s: %+v", want, out.Findings)
		}
	}
	ts.do(t, c, "POST", "/api/workflows/lint", publishable, tok...).wantStatus(t, 200).json(t, &out)
	for _, f := range out.Findings {
		if f.Severity == "error" {
			t.Errorf("a clean workflow has an error finding: %+v", f)
		}
	}
}
