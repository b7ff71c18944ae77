package handlers_test

import (
	"context"
	"strings"
	"testing"
	"time"
)

type runAPIView struct {
	ID         string         `json:"id"`
	WorkflowID string         `json:"workflowId"`
	Version    int            `json:"version"`
	Status     string         `json:"status"`
	Variables  map[string]any `json:"variables"`
	StartedBy  struct {
		Label string `json:"label"`
	} `json:"startedBy"`
	Steps []struct {
		StepID   string `json:"stepId"`
		Type     string `json:"type"`
		Status   string `json:"status"`
		Attempts int    `json:"attempts"`
	} `json:"steps"`
}

const transformWorkflow = `{"name": "Doubler", "variables": [{"name": "n", "type": "number", "required": true}],
	"steps": [{"id": "start", "name": "Start", "type": "start"},
		{"id": "double", "name": "Double", "type": "transform", "config": {"set": {"twice": "n * 2"}}},
		{"id": "end", "name": "End", "type": "end"}],
	"edges": [{"from": "start", "to": "double", "on": "success"}, {"from": "double", "to": "end", "on": "success"}]}`

func TestRunsAPI(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ctx := context.Background()
	if err := ts.Engine.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ts.Engine.Stop(context.Background()) })
	admin := ts.demo(t, "demo-admin")
	tok := bearer(ts.token(t, admin, nil))
	c := ts.client(t)

	var wf workflowView
	ts.do(t, c, "POST", "/api/workflows", transformWorkflow, tok...).wantStatus(t, 201).json(t, &wf)
	// A draft cannot run.
	ts.do(t, c, "POST", "/api/workflows/"+wf.ID+"/start", map[string]any{"variables": map[string]any{"n": 21}}, tok...).apiError(t, 409, "conflict")
	ts.do(t, c, "POST", "/api/workflows/"+wf.ID+"/publish", nil, tok...).wantStatus(t, 200)

	// Missing or mistyped required variables are refused naming them.
	e := ts.do(t, c, "POST", "/api/workflows/"+wf.ID+"/start", map[string]any{"variables": map[string]any{}}, tok...).apiError(t, 422, "validation_failed")
	if !e.hasField("variables.n") {
		t.Fatalf("missing variable: %+v", e.Details)
	}
	ts.do(t, c, "POST", "/api/workflows/"+wf.ID+"/start", map[string]any{"variables": map[string]any{"n": "many"}}, tok...).apiError(t, 422, "validation_failed")
	if n := ts.count(t, "SELECT count(*) FROM runs"); n != 0 {
		t.Fatalf("%d runs after refused starts", n)
	}

	var started struct {
		RunID string `json:"runId"`
	}
	ts.do(t, c, "POST", "/api/workflows/"+wf.ID+"/start", map[string]any{"variables": map[string]any{"n": 21}}, tok...).wantStatus(t, 201).json(t, &started)
	// The run row is committed before the id is returned.
	var run runAPIView
	ts.do(t, c, "GET", "/api/runs/"+started.RunID, nil, tok...).wantStatus(t, 200).json(t, &run)
	if run.WorkflowID != wf.ID || run.Version != 1 || run.StartedBy.Label != admin.Email {
		t.Fatalf("run: %+v", run)
	}
	deadline := time.Now().Add(20 * time.Second)
	for run.Status != "completed" {
		if run.Status == "failed" || time.Now().After(deadline) {
			t.Fatalf("the run did not complete: %+v", run)
		}
		time.Sleep(20 * time.Millisecond)
		ts.do(t, c, "GET", "/api/runs/"+started.RunID, nil, tok...).wantStatus(t, 200).json(t, &run)
	}
	if run.Variables["twice"] != float64(42) {
		t.Fatalf("variables: %+v", run.Variables)
	}
	var order []string
	for _, s := range run.Steps {
		order = append(order, s.StepID+":"+s.Status)
	}
	if strings.Join(order, " ") != "start:completed double:completed end:completed" {
		t.Fatalf("steps in execution order, start and end included: %v", order)
	}

	// A finished run is not cancelled, retried or edited.
	ts.do(t, c, "POST", "/api/runs/"+run.ID+"/cancel", nil, tok...).apiError(t, 409, "conflict")
	ts.do(t, c, "POST", "/api/runs/"+run.ID+"/retry", nil, tok...).apiError(t, 409, "conflict")
	ts.do(t, c, "PUT", "/api/runs/"+run.ID, map[string]any{"variables": map[string]any{"n": 1}}, tok...).apiError(t, 409, "conflict")

	var timeline struct {
		Items []struct {
			Kind string `json:"kind"`
		} `json:"items"`
	}
	ts.do(t, c, "GET", "/api/runs/"+run.ID+"/timeline", nil, tok...).wantStatus(t, 200).json(t, &timeline)
	if len(timeline.Items) < 3 {
		t.Fatalf("timeline: %+v", timeline)
	}
	var list struct {
		Total int `json:"total"`
	}
	ts.do(t, c, "GET", "/api/runs?status=completed&workflowId="+wf.ID, nil, tok...).wantStatus(t, 200).json(t, &list)
	if list.Total != 1 {
		t.Fatalf("runs list: %+v", list)
	}
	e = ts.do(t, c, "GET", "/api/runs?status=done&workflowId=x", nil, tok...).apiError(t, 422, "validation_failed")
	if !e.hasField("status") || !e.hasField("workflowId") {
		t.Fatalf("bad filters: %+v", e.Details)
	}
}

// A requestor holds no run:read but follows the runs they started (PRODUCT §1): the list
// holds only theirs, and another user's run is not found, through the API and the pages.
func TestRequestorFollowsOwnRuns(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin, requestor := ts.demo(t, "demo-admin"), ts.demo(t, "demo-requestor")
	adminTok, reqTok := bearer(ts.token(t, admin, nil)), bearer(ts.token(t, requestor, nil))
	var wf workflowView
	ts.do(t, nil, "POST", "/api/workflows", transformWorkflow, adminTok...).wantStatus(t, 201).json(t, &wf)
	ts.do(t, nil, "POST", "/api/workflows/"+wf.ID+"/publish", nil, adminTok...).wantStatus(t, 200)
	start := func(tok []string) string {
		var started struct {
			RunID string `json:"runId"`
		}
		ts.do(t, nil, "POST", "/api/workflows/"+wf.ID+"/start", map[string]any{"variables": map[string]any{"n": 1}}, tok...).
			wantStatus(t, 201).json(t, &started)
		return started.RunID
	}
	mine, theirs := start(reqTok), start(adminTok)

	var list struct {
		Total int          `json:"total"`
		Items []runAPIView `json:"items"`
	}
	ts.do(t, nil, "GET", "/api/runs", nil, reqTok...).wantStatus(t, 200).json(t, &list)
	if list.Total != 1 || len(list.Items) != 1 || list.Items[0].ID != mine {
		t.Fatalf("the requestor's list: %+v", list)
	}
	ts.do(t, nil, "GET", "/api/runs", nil, adminTok...).wantStatus(t, 200).json(t, &list)
	if list.Total != 2 {
		t.Fatalf("run:read lists every run: %+v", list)
	}
	for _, path := range []string{"", "/timeline", "/diagnose", "/rollback-plan"} {
		ts.do(t, nil, "GET", "/api/runs/"+mine+path, nil, reqTok...).wantStatus(t, 200)
		ts.do(t, nil, "GET", "/api/runs/"+theirs+path, nil, reqTok...).apiError(t, 404, "not_found")
	}
	// Operating a run still needs run:cancel, their own included.
	ts.do(t, nil, "POST", "/api/runs/"+mine+"/cancel", nil, reqTok...).apiError(t, 403, "forbidden")

	c := ts.loginAs(t, "demo-requestor")
	page := ts.get(t, c, "/runs").wantStatus(t, 200)
	if !strings.Contains(page.Body, mine) || strings.Contains(page.Body, theirs) || !strings.Contains(page.Body, "The runs you started") {
		t.Fatalf("the requestor's runs page lists %s only and links Runs in the navigation:\n%s", mine, page.Body)
	}
	ts.get(t, c, "/runs/"+mine).wantStatus(t, 200)
	ts.get(t, c, "/runs/"+theirs).wantStatus(t, 404)
}
