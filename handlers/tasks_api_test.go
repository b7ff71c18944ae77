package handlers_test

import (
	"testing"

	"github.com/google/uuid"

	"floh/db"
)

// parallelApprovalWorkflow asks the demo approver and the demo manager, both of whom must
// approve; a rejection ends at "denied".
const parallelApprovalWorkflow = `{"name": "Laptop request", "variables": [],
	"steps": [{"id": "start", "name": "Start", "type": "start"},
		{"id": "approve", "name": "Approve the laptop", "type": "approval",
			"config": {"approvers": ["approver@example.test", "manager@example.test"], "mode": "parallel"}},
		{"id": "end", "name": "End", "type": "end"},
		{"id": "denied", "name": "Denied", "type": "end"}],
	"edges": [{"from": "start", "to": "approve", "on": "success"}, {"from": "approve", "to": "end", "on": "success"},
		{"from": "approve", "to": "denied", "on": "rejected"}]}`

type taskAPIView struct {
	ID           string  `json:"id"`
	Kind         string  `json:"kind"`
	RunID        string  `json:"runId"`
	Status       string  `json:"status"`
	Title        string  `json:"title"`
	WorkflowName string  `json:"workflowName"`
	RequestedBy  string  `json:"requestedBy"`
	Comment      *string `json:"comment"`
}

func TestApprovalsAPIDecidesAParallelApproval(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.startEngine(t)
	c := ts.client(t)
	admin := bearer(ts.token(t, ts.demo(t, "demo-admin"), nil))
	requestor := bearer(ts.token(t, ts.demo(t, "demo-requestor"), nil))
	approver := bearer(ts.token(t, ts.demo(t, "demo-approver"), nil))
	manager := bearer(ts.token(t, ts.demo(t, "demo-manager"), nil))

	var wf workflowView
	ts.do(t, c, "POST", "/api/workflows", parallelApprovalWorkflow, admin...).wantStatus(t, 201).json(t, &wf)
	ts.do(t, c, "POST", "/api/workflows/"+wf.ID+"/publish", nil, admin...).wantStatus(t, 200)

	start := func() string {
		var started struct {
			RunID string `json:"runId"`
		}
		ts.do(t, c, "POST", "/api/workflows/"+wf.ID+"/start", map[string]any{"variables": map[string]any{}}, requestor...).
			wantStatus(t, 201).json(t, &started)
		ts.waitRun(t, uuid.MustParse(started.RunID), db.RunWaiting)
		return started.RunID
	}
	inbox := func(tok []string) []taskAPIView {
		var list struct {
			Items []taskAPIView `json:"items"`
			Total int           `json:"total"`
		}
		ts.do(t, c, "GET", "/api/approvals", nil, tok...).wantStatus(t, 200).json(t, &list)
		return list.Items
	}

	runID := start()
	mine := inbox(approver)
	if len(mine) != 1 || mine[0].RunID != runID || mine[0].Kind != "approval" || mine[0].RequestedBy != "requestor@example.test" ||
		mine[0].WorkflowName != "Laptop request" {
		t.Fatalf("the approver's inbox: %+v", mine)
	}
	if got := inbox(requestor); len(got) != 0 {
		t.Fatalf("the requestor's inbox: %+v", got)
	}
	task := mine[0].ID
	// The requestor may not see or decide it; the approver may not hand it on.
	ts.do(t, c, "GET", "/api/tasks/"+task, nil, requestor...).apiError(t, 404, "not_found")
	ts.do(t, c, "POST", "/api/approvals/"+task+"/decide", map[string]any{"decision": "approve"}, requestor...).apiError(t, 403, "forbidden")
	ts.do(t, c, "POST", "/api/tasks/"+task+"/assign", map[string]any{"userId": ts.demo(t, "demo-manager").ID}, approver...).apiError(t, 403, "forbidden")
	// Bad decisions name their field.
	if e := ts.do(t, c, "POST", "/api/approvals/"+task+"/decide", map[string]any{"decision": "maybe"}, approver...).apiError(t, 422, "validation_failed"); !e.hasField("decision") {
		t.Fatalf("unknown decision: %+v", e.Details)
	}
	if e := ts.do(t, c, "POST", "/api/approvals/"+task+"/decide", map[string]any{"decision": "reject"}, approver...).apiError(t, 422, "validation_failed"); !e.hasField("reason") {
		t.Fatalf("a rejection without a reason: %+v", e.Details)
	}
	ts.do(t, c, "POST", "/api/tasks/"+task+"/hold", map[string]any{}, approver...).apiError(t, 422, "validation_failed")
	// A manual-task action on an approval is a conflict.
	ts.do(t, c, "POST", "/api/tasks/"+task+"/complete", nil, approver...).apiError(t, 409, "conflict")

	var decided taskAPIView
	ts.do(t, c, "POST", "/api/approvals/"+task+"/decide", map[string]any{"decision": "approve", "reason": "ok"}, approver...).
		wantStatus(t, 200).json(t, &decided)
	if decided.Status != "approved" {
		t.Fatalf("decided %+v", decided)
	}
	// Deciding again, or any lifecycle action on the decided task, is a conflict.
	ts.do(t, c, "POST", "/api/approvals/"+task+"/decide", map[string]any{"decision": "approve"}, approver...).apiError(t, 409, "conflict")
	for _, action := range []string{"claim", "unassign", "unhold"} {
		ts.do(t, c, "POST", "/api/tasks/"+task+"/"+action, nil, approver...).apiError(t, 409, "conflict")
	}
	ts.do(t, c, "POST", "/api/tasks/"+task+"/hold", map[string]any{"reason": "wait"}, approver...).apiError(t, 409, "conflict")

	theirs := inbox(manager)
	if len(theirs) != 1 {
		t.Fatalf("the manager's inbox: %+v", theirs)
	}
	ts.do(t, c, "POST", "/api/approvals/"+theirs[0].ID+"/decide", map[string]any{"decision": "approve"}, manager...).wantStatus(t, 200)
	ts.waitRun(t, uuid.MustParse(runID), db.RunCompleted)

	// A rejection routes the rejected edge and keeps its reason.
	rejected := start()
	theirs = inbox(manager)
	ts.do(t, c, "POST", "/api/approvals/"+theirs[0].ID+"/decide", map[string]any{"decision": "reject", "reason": "no budget"}, manager...).
		wantStatus(t, 200).json(t, &decided)
	if decided.Status != "rejected" || decided.Comment == nil || *decided.Comment != "no budget" {
		t.Fatalf("rejected %+v", decided)
	}
	ts.waitRun(t, uuid.MustParse(rejected), db.RunCompleted)
	var run runAPIView
	ts.do(t, c, "GET", "/api/runs/"+rejected, nil, requestor...).wantStatus(t, 200).json(t, &run)
	if last := run.Steps[len(run.Steps)-1]; last.StepID != "denied" {
		t.Fatalf("the rejected run ended at %s", last.StepID)
	}
	// Everything the approver could act on is gone from their inbox.
	if got := inbox(approver); len(got) != 0 {
		t.Fatalf("the approver's inbox after the rejection: %+v", got)
	}
}
