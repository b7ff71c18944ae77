package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"floh/db"
)

const inAppWorkflow = `{"name": "Tell the approvers", "variables": [{"name": "who", "type": "string", "required": true}],
	"steps": [{"id": "start", "name": "Start", "type": "start"},
		{"id": "tell", "name": "Tell", "type": "notification", "config": {"channel": "in_app",
			"to": ["role:Approver"], "subject": "{{who}} needs an account", "body": "Please review the request for {{who}}."}},
		{"id": "end", "name": "End", "type": "end"}],
	"edges": [{"from": "start", "to": "tell", "on": "success"}, {"from": "tell", "to": "end", "on": "success"}]}`

// A notification a workflow step writes reaches its recipient like any other: the header's
// unread count, the list, and mark-as-read.
func TestInAppNotificationFromAStep(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.startEngine(t)
	tok := bearer(ts.token(t, ts.demo(t, "demo-admin"), nil))
	api := ts.client(t)
	var wf workflowView
	ts.do(t, api, "POST", "/api/workflows", inAppWorkflow, tok...).wantStatus(t, 201).json(t, &wf)
	ts.do(t, api, "POST", "/api/workflows/"+wf.ID+"/publish", nil, tok...).wantStatus(t, 200)
	var started struct {
		RunID string `json:"runId"`
	}
	ts.do(t, api, "POST", "/api/workflows/"+wf.ID+"/start", map[string]any{"variables": map[string]any{"who": "<Jane>"}}, tok...).
		wantStatus(t, 201).json(t, &started)
	id, err := uuid.Parse(started.RunID)
	if err != nil {
		t.Fatalf("runId %q: %v", started.RunID, err)
	}
	run := ts.waitRun(t, id, db.RunCompleted)

	approver := ts.loginAs(t, "demo-approver")
	page := ts.get(t, approver, "/notifications").wantStatus(t, http.StatusOK)
	if !strings.Contains(page.Body, `data-testid="unread-count">1<`) {
		t.Errorf("the header counts the unread notification:\n%s", page.Body)
	}
	if !strings.Contains(page.Body, "&lt;Jane&gt; needs an account") || !strings.Contains(page.Body, "Please review the request for &lt;Jane&gt;.") ||
		!strings.Contains(page.Body, `href="/runs/`+run.ID.String()+`"`) {
		t.Errorf("the list shows the notification, escaped, linking its run:\n%s", page.Body)
	}
	var list struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
		Unread int `json:"unread"`
	}
	approverTok := bearer(ts.token(t, ts.demo(t, "demo-approver"), nil))
	ts.get(t, api, "/api/notifications", approverTok...).wantStatus(t, http.StatusOK).json(t, &list)
	if len(list.Items) != 1 || list.Unread != 1 {
		t.Fatalf("API list: %+v", list)
	}
	if !strings.Contains(ts.get(t, approver, "/notifications/unread", "HX-Request", "true").Body, `data-testid="unread-count">1<`) {
		t.Error("the header's refresh counts it")
	}

	ts.postForm(t, approver, "/notifications/"+list.Items[0].ID+"/read", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	page = ts.get(t, approver, "/notifications").wantStatus(t, http.StatusOK)
	if strings.Contains(page.Body, `data-testid="unread-count"`) || strings.Contains(page.Body, `data-testid="read-`+list.Items[0].ID+`"`) {
		t.Errorf("marked read, the count and the button are gone:\n%s", page.Body)
	}
	// Only the role's members were told.
	if n := ts.count(t, "SELECT count(*) FROM notifications n JOIN user_roles r ON r.user_id = n.user_id AND r.role = 'Approver'"); n != ts.count(t, "SELECT count(*) FROM notifications") {
		t.Errorf("someone outside the role was notified")
	}
}
