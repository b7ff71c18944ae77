package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// onboardThenFail creates a Floh user, then fails in a condition with no true branch and no
// default: the smallest failed run with something to undo.
const onboardThenFail = `{"name": "Onboard then fail",
	"steps": [{"id": "start", "name": "Start", "type": "start"},
		{"id": "user", "name": "Create user", "type": "user_create", "config": {"email": "rolled.back@example.test", "displayName": "Rolled Back"}},
		{"id": "boom", "name": "Boom", "type": "condition", "config": {"branches": [{"name": "never", "when": "1 > 2"}]}},
		{"id": "end", "name": "End", "type": "end"}],
	"edges": [{"from": "start", "to": "user", "on": "success"}, {"from": "user", "to": "boom", "on": "success"},
		{"from": "boom", "to": "end", "on": "never"}]}`

type planItemView struct {
	StepID  string         `json:"stepId"`
	System  string         `json:"system"`
	Command string         `json:"command"`
	Params  map[string]any `json:"params"`
	Kind    string         `json:"kind"`
	Reason  string         `json:"reason"`
}

func TestDiagnoseRollbackPlanAndRollbackAPI(t *testing.T) {
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
	ts.do(t, c, "POST", "/api/workflows", onboardThenFail, tok...).wantStatus(t, 201).json(t, &wf)
	ts.do(t, c, "POST", "/api/workflows/"+wf.ID+"/publish", nil, tok...).wantStatus(t, 200)
	var started struct {
		RunID string `json:"runId"`
	}
	ts.do(t, c, "POST", "/api/workflows/"+wf.ID+"/start", map[string]any{}, tok...).wantStatus(t, 201).json(t, &started)
	waitRun(t, ts, c, started.RunID, "failed", tok)

	var d struct {
		FailedStepID *string `json:"failedStepId"`
		Error        *struct {
			Message, Code, Class string
		} `json:"error"`
		Variables      map[string]any `json:"variables"`
		CompletedSteps []struct {
			StepID, System, Command string
		} `json:"completedSteps"`
		RollbackPlan []planItemView `json:"rollbackPlan"`
	}
	ts.do(t, c, "GET", "/api/runs/"+started.RunID+"/diagnose", nil, tok...).wantStatus(t, 200).json(t, &d)
	if d.FailedStepID == nil || *d.FailedStepID != "boom" || d.Error == nil || d.Error.Code != "NO_BRANCH" || d.Error.Class != "invalid_input" {
		t.Fatalf("diagnose: failed step %v, error %+v", d.FailedStepID, d.Error)
	}
	if _, ok := d.Variables["run"]; !ok {
		t.Errorf("diagnose leaves out the variables: %v", d.Variables)
	}
	if len(d.CompletedSteps) != 1 || d.CompletedSteps[0].StepID != "user" || d.CompletedSteps[0].System != "Floh" || d.CompletedSteps[0].Command != "user_create" {
		t.Errorf("completed steps: %+v", d.CompletedSteps)
	}
	if len(d.RollbackPlan) != 1 || d.RollbackPlan[0].Kind != "builtin" || d.RollbackPlan[0].Command != "user_delete" ||
		d.RollbackPlan[0].Params["email"] != "rolled.back@example.test" {
		t.Fatalf("diagnose's plan: %+v", d.RollbackPlan)
	}
	var plan struct {
		Items []planItemView `json:"items"`
	}
	ts.do(t, c, "GET", "/api/runs/"+started.RunID+"/rollback-plan", nil, tok...).wantStatus(t, 200).json(t, &plan)
	if len(plan.Items) != 1 || plan.Items[0].StepID != "user" || plan.Items[0].Reason == "" {
		t.Errorf("rollback-plan: %+v", plan.Items)
	}
	ts.do(t, c, "GET", "/api/runs/00000000-0000-0000-0000-000000000000/diagnose", nil, tok...).apiError(t, 404, "not_found")
	ts.do(t, c, "GET", "/api/runs/00000000-0000-0000-0000-000000000000/rollback-plan", nil, tok...).apiError(t, 404, "not_found")

	// Rollback: 201 with the rollback run, linked both ways, once only.
	var rb struct {
		RunID string `json:"runId"`
	}
	ts.do(t, c, "POST", "/api/runs/"+started.RunID+"/rollback", nil, tok...).wantStatus(t, 201).json(t, &rb)
	waitRun(t, ts, c, rb.RunID, "completed", tok)
	var comp struct {
		CompensationOf string `json:"compensationOf"`
	}
	ts.do(t, c, "GET", "/api/runs/"+rb.RunID, nil, tok...).wantStatus(t, 200).json(t, &comp)
	var orig struct {
		CompensatedBy string `json:"compensatedBy"`
	}
	ts.do(t, c, "GET", "/api/runs/"+started.RunID, nil, tok...).wantStatus(t, 200).json(t, &orig)
	if comp.CompensationOf != started.RunID || orig.CompensatedBy != rb.RunID {
		t.Errorf("rollback run %s compensates %q; original compensated by %q", rb.RunID, comp.CompensationOf, orig.CompensatedBy)
	}
	if n := ts.count(t, "SELECT count(*) FROM users WHERE email = 'rolled.back@example.test' AND deleted_at IS NOT NULL"); n != 1 {
		t.Errorf("the created user is not soft-deleted")
	}
	if len(ts.auditEntries(t, "run.rolled_back")) != 1 {
		t.Errorf("the rollback is not audited")
	}
	ts.do(t, c, "POST", "/api/runs/"+started.RunID+"/rollback", nil, tok...).apiError(t, 409, "conflict")
	// A retry would carry on from what the rollback undid.
	if e := ts.do(t, c, "POST", "/api/runs/"+started.RunID+"/retry", nil, tok...).apiError(t, 409, "conflict"); !strings.Contains(e.Message, rb.RunID) {
		t.Errorf("the refused retry does not name the rollback run: %q", e.Message)
	}
	ts.do(t, c, "POST", "/api/runs/00000000-0000-0000-0000-000000000000/rollback", nil, tok...).apiError(t, 404, "not_found")
}

// waitRun polls a run until it reaches status.
func waitRun(t *testing.T, ts *testServer, c *http.Client, id, status string, tok []string) runAPIView {
	t.Helper()
	var run runAPIView
	deadline := time.Now().Add(20 * time.Second)
	for {
		ts.do(t, c, "GET", "/api/runs/"+id, nil, tok...).wantStatus(t, 200).json(t, &run)
		if run.Status == status {
			return run
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s is %s, not %s: %+v", id, run.Status, status, run)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
