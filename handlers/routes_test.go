package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"floh/db"
	"floh/engine"
	"floh/handlers"
)

// sweepIDs are real ids for the path parameters of the route table.
type sweepIDs struct {
	user, token, notification, incident, connector, workflow, run, task string
	// syncConnector is a connector whose type syncs users, syncRun one of its runs and
	// syncResource one of its user records: the sync routes reach their handlers with them.
	syncConnector, syncRun, syncResource string
}

func (ids sweepIDs) fill(t *testing.T, pattern string) string {
	t.Helper()
	path := strings.TrimSuffix(pattern, "{$}")
	var id string
	switch {
	case strings.HasPrefix(path, "/api/users/"), strings.HasPrefix(path, "/users/"):
		id = ids.user
	case strings.HasPrefix(path, "/api/auth/tokens/"), strings.HasPrefix(path, "/profile/tokens/"):
		id = ids.token
	case strings.HasPrefix(path, "/api/notifications/"), strings.HasPrefix(path, "/notifications/"):
		id = ids.notification
	case strings.HasPrefix(path, "/api/incidents/"), strings.HasPrefix(path, "/incidents/"):
		id = ids.incident
	case (strings.HasPrefix(path, "/api/connectors/") || strings.HasPrefix(path, "/connectors/")) && strings.Contains(path, "/sync/"):
		id = ids.syncConnector
	case strings.HasPrefix(path, "/api/connectors/"), strings.HasPrefix(path, "/connectors/"):
		id = ids.connector
	case strings.HasPrefix(path, "/api/workflows/"), strings.HasPrefix(path, "/workflows/"):
		id = ids.workflow
	case strings.HasPrefix(path, "/api/runs/"), strings.HasPrefix(path, "/runs/"):
		id = ids.run
	case strings.HasPrefix(path, "/api/tasks/"), strings.HasPrefix(path, "/api/approvals/"), strings.HasPrefix(path, "/tasks/"):
		id = ids.task
	}
	path = strings.ReplaceAll(path, "{n}", "1")
	path = strings.ReplaceAll(path, "{id}", id)
	path = strings.ReplaceAll(path, "{tokenId}", ids.token)
	path = strings.ReplaceAll(path, "{templateId}", "access-request")
	path = strings.ReplaceAll(path, "{step}", "end")
	path = strings.ReplaceAll(path, "{rt}", "user")
	path = strings.ReplaceAll(path, "{runId}", ids.syncRun)
	path = strings.ReplaceAll(path, "{resourceId}", ids.syncResource)
	if strings.ContainsAny(path, "{}") || strings.Contains(path, "//") {
		t.Fatalf("route %s: the sweep does not know how to fill %q; add its parameter to sweepIDs", pattern, path)
	}
	return path
}

// sweepWorkflow is a publishable workflow: start, then end.
const sweepWorkflow = `{"name": "Sweep workflow", "variables": [], "edges": [{"from": "start", "to": "end", "on": "success"}],
	"steps": [{"id": "start", "name": "Start", "type": "start"}, {"id": "end", "name": "End", "type": "end"}]}`

// sweepBodies are valid-enough bodies for the routes that read one; others get none (or an
// empty form). The sweep is about authorization, but no route may answer 500 to them.
var sweepBodies = map[string]any{
	"POST /api/auth/tokens":                    map[string]any{"name": "sweep"},
	"POST /api/users":                          map[string]any{"email": "sweep@example.test", "findOrCreate": true},
	"PATCH /api/users/{id}":                    map[string]any{"displayName": "Target User"},
	"PUT /api/users/{id}/roles":                map[string]any{"roles": []string{"Requestor"}},
	"PATCH /api/users/{id}/profile":            map[string]any{"title": "Engineer"},
	"POST /profile/tokens":                     url.Values{"name": {"sweep"}},
	"POST /users":                              url.Values{"email": {"sweep-form@example.test"}, "displayName": {"Sweep"}},
	"POST /users/{id}":                         url.Values{"email": {"target@example.test"}, "displayName": {"Target User"}, "active": {"true"}},
	"POST /users/{id}/roles":                   url.Values{"roles": {"Requestor"}},
	"POST /users/{id}/profile":                 url.Values{"title": {"Engineer"}},
	"POST /notifications/{id}/read":            url.Values{},
	"POST /notifications/read-all":             url.Values{},
	"POST /users/{id}/delete":                  url.Values{},
	"POST /users/{id}/restore":                 url.Values{},
	"POST /profile/tokens/{id}/revoke":         url.Values{},
	"POST /users/{id}/tokens/{tokenId}/revoke": url.Values{},
	"POST /logout":                             url.Values{},
	"POST /settings/rotate-keys":               url.Values{},
	"POST /api/connectors":                     map[string]any{"name": "Sweep", "type": "delay"},
	"PUT /api/connectors/{id}":                 map[string]any{"name": "Sweep target", "type": "delay"},
	"POST /api/workflows":                      sweepWorkflow,
	"PUT /api/workflows/{id}":                  sweepWorkflow,
	"POST /api/workflows/lint":                 sweepWorkflow,
	"POST /api/workflows/{id}/draft":           map[string]any{"fromVersion": 1},
	"POST /api/workflows/{id}/start":           map[string]any{"variables": map[string]any{}},
	"PUT /api/runs/{id}":                       map[string]any{"variables": map[string]any{"note": "sweep"}},
	"POST /api/tasks/{id}/assign":              map[string]any{"userId": "00000000-0000-0000-0000-000000000000"},
	"POST /api/tasks/{id}/hold":                map[string]any{"reason": "sweep"},
	"POST /api/tasks/{id}/complete":            map[string]any{"comment": "sweep"},
	"POST /api/approvals/{id}/decide":          map[string]any{"decision": "reject", "reason": "sweep"},
	"POST /tasks/{id}/claim":                   url.Values{},
	"POST /tasks/{id}/assign":                  url.Values{"userId": {"00000000-0000-0000-0000-000000000000"}},
	"POST /tasks/{id}/unassign":                url.Values{},
	"POST /tasks/{id}/hold":                    url.Values{"reason": {"sweep"}},
	"POST /tasks/{id}/unhold":                  url.Values{},
	"POST /tasks/{id}/complete":                url.Values{"comment": {"sweep"}},
	"POST /tasks/{id}/approve":                 url.Values{},
	"POST /tasks/{id}/reject":                  url.Values{"reason": {"sweep"}},
	"POST /workflows":                          url.Values{"name": {"Sweep form workflow"}},
	"POST /workflows/{id}":                     url.Values{"definition": {sweepWorkflow}},
	"POST /workflows/{id}/publish":             url.Values{},
	"POST /workflows/{id}/deprecate":           url.Values{},
	"POST /workflows/{id}/delete":              url.Values{},
	"POST /workflows/{id}/draft":               url.Values{"fromVersion": {"1"}},
	"POST /workflows/import": multipartForm{fields: url.Values{"importName": {"Sweep import"}},
		files: map[string]uploadFile{"file": {name: "sweep.json", content: []byte(sweepWorkflow)}}},
	"POST /workflows/{id}/import": multipartForm{fields: url.Values{"replace": {"true"}},
		files: map[string]uploadFile{"file": {name: "sweep.json", content: []byte(sweepWorkflow)}}},
	"POST /workflows/{id}/start":        url.Values{},
	"POST /runs/{id}/cancel":            url.Values{},
	"POST /runs/{id}/retry":             url.Values{},
	"POST /runs/{id}/rollback":          url.Values{},
	"POST /api/connectors/{id}/execute": map[string]any{"command": "wait", "params": map[string]any{"duration": "0s"}},
	"POST /connectors/new":              url.Values{"step": {"details"}, "type": {"delay"}, "name": {"Sweep wizard"}},
	"POST /connectors":                  url.Values{"step": {"review"}, "type": {"delay"}, "name": {"Sweep form"}},
	"POST /connectors/{id}":             url.Values{"name": {"Sweep target"}, "enabled": {"true"}},
	"POST /connectors/{id}/test":        url.Values{},
	"POST /connectors/{id}/execute":     url.Values{"command": {"wait"}, "param.duration": {"0s"}},
	"POST /connectors/{id}/delete":      url.Values{},
	"POST /connectors/{id}/restore":     url.Values{},

	// Resource sync. The sweep's directory is unreachable, so a record synced now answers
	// 200 with a failed run (or 409 while a run is queued); its one record has no email, so
	// Create user is a 409 and the Resource Manager's sweep adds no user.
	"PUT /api/connectors/{id}/sync/{rt}/config":                     map[string]any{"staleRetention": "24h"},
	"POST /api/connectors/{id}/sync/{rt}/run":                       map[string]any{"dryRun": true},
	"POST /api/connectors/{id}/sync/{rt}/records":                   map[string]any{"externalId": "0b8f4c8e-4f7a-4a53-9c2e-1d9d2b8f1a11"},
	"POST /api/connectors/{id}/sync/user/matches/{resourceId}/link": map[string]any{"userId": "00000000-0000-0000-0000-000000000000"},
	"POST /api/connectors/{id}/sync/user/matches/bulk-skip":         map[string]any{"resourceIds": []string{"00000000-0000-0000-0000-000000000000"}},

	// The Sync tab's pages, on the same directory: Sync now and the picker meet the queued
	// run, the record has no email (Create user is refused), and the bulk skip's record does
	// not exist, so nothing there adds a user.
	"POST /connectors/{id}/sync/{rt}/config":                           url.Values{"strategy": {"full"}, "action": {"save"}},
	"POST /connectors/{id}/sync/{rt}/run":                              url.Values{"dryRun": {"true"}},
	"POST /connectors/{id}/sync/{rt}/runs/{runId}/cancel":              url.Values{},
	"POST /connectors/{id}/sync/{rt}/runs/{runId}/allow":               url.Values{},
	"POST /connectors/{id}/sync/user/matches/{resourceId}/link":        url.Values{"userId": {"00000000-0000-0000-0000-000000000000"}},
	"POST /connectors/{id}/sync/user/matches/{resourceId}/skip":        url.Values{},
	"POST /connectors/{id}/sync/user/matches/{resourceId}/create-user": url.Values{},
	"POST /connectors/{id}/sync/user/matches/{resourceId}/unlink":      url.Values{},
	"POST /connectors/{id}/sync/user/matches/bulk-skip":                url.Values{"resourceIds": {"00000000-0000-0000-0000-000000000003"}},

	// Insert from Template: a delay connector is no Authifi, so both answer 422.
	"POST /api/workflows/{id}/insert-template":    map[string]any{"templateId": "access-request", "bindings": map[string]any{"authifi": "Sweep target", "role": "role", "justification": "justification"}},
	"POST /workflows/{id}/templates/{templateId}": url.Values{"slot.authifi": {"Sweep target"}, "slot.role": {"+new"}, "new.role": {"role"}, "slot.justification": {"+new"}, "new.justification": {"justification"}},
}

func TestEveryRouteChecksItsPermissionForEveryRole(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ctx := context.Background()
	routes := ts.Server.RoutesForTest()
	if len(routes) < 40 {
		t.Fatalf("only %d routes in the table", len(routes))
	}

	admin := ts.demo(t, "demo-admin")
	actor := engine.Actor{UserID: &admin.ID, Label: admin.Email}
	target, _, err := ts.Engine.CreateUser(ctx, actor, engine.CreateUserInput{Email: "target@example.test", DisplayName: "Target User", Roles: []string{engine.RoleRequestor}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ts.Engine.CreateToken(ctx, actor, target.ID, engine.CreateTokenInput{Name: "target's script"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.Engine.NotifyAdmins(ctx, engine.Notice{Kind: "test", Title: "Hello admins"}); err != nil {
		t.Fatal(err)
	}
	notes, _, err := db.ListNotifications(ctx, ts.DB.Bun, admin.ID, false, db.Page{Page: 1, PageSize: 1})
	if err != nil || len(notes) != 1 {
		t.Fatalf("notification: %v %v", notes, err)
	}
	inc, err := ts.Engine.ReportFailure(ctx, engine.Failure{
		Kind: "connector_health", Severity: "warning", Subject: db.Subject{Kind: "connector", ID: "ad-1", Name: "Active Directory"},
		Title: "Active Directory unreachable", Message: "dial tcp: connection refused",
	})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ts.Engine.CreateConnector(ctx, actor, engine.ConnectorInput{Name: "Sweep target", Type: "delay"})
	if err != nil {
		t.Fatal(err)
	}
	wf, err := ts.Engine.CreateWorkflow(ctx, actor, []byte(sweepWorkflow))
	if err != nil {
		t.Fatal(err)
	}
	// A run needs a published workflow of its own: the sweep publishes, deprecates and
	// deletes the draft above.
	runWF, err := ts.Engine.CreateWorkflow(ctx, actor, []byte(strings.Replace(sweepWorkflow, "Sweep workflow", "Sweep runs", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Engine.PublishWorkflow(ctx, actor, runWF.ID); err != nil {
		t.Fatal(err)
	}
	run, err := ts.Engine.StartWorkflow(ctx, actor, runWF.ID, engine.StartInput{})
	if err != nil {
		t.Fatal(err)
	}
	// A task on the run's first step, for any Approver: the sweep acts on it as every role.
	steps, err := db.ListStepExecutions(ctx, ts.DB.Bun, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	approver := engine.RoleApprover
	task := db.Task{Kind: db.TaskApproval, RunID: run.ID, StepExecutionID: steps[0].ID, Mode: "single", Title: "Sweep approval",
		Status: db.TaskOpen, AssigneeRole: &approver, CreatedAt: ts.Clock.Now(), UpdatedAt: ts.Clock.Now()}
	if err := db.InsertTasks(ctx, ts.DB.Bun, []db.Task{task}); err != nil {
		t.Fatal(err)
	}
	tasks, _, err := db.ListTasks(ctx, ts.DB.Bun, db.TaskFilter{Page: db.Page{Page: 1, PageSize: 1}})
	if err != nil || len(tasks) != 1 {
		t.Fatalf("task: %v %v", tasks, err)
	}
	// A directory nobody listens at: creating its connector contacts nothing, and the run
	// queued on it stays queued, since this server works no jobs.
	dir, err := ts.Engine.CreateConnector(ctx, actor, engine.ConnectorInput{Name: "Sweep directory", Type: "ldap", Config: map[string]any{
		"url": "ldap://127.0.0.1:1", "bindDN": "cn=floh,dc=example,dc=test", "bindPassword": "sweep-secret", "baseDN": "dc=example,dc=test",
	}})
	if err != nil {
		t.Fatal(err)
	}
	syncRun, err := ts.Engine.StartSync(ctx, actor, dir.ID, "user", engine.SyncStart{})
	if err != nil {
		t.Fatal(err)
	}
	var syncResource string
	err = ts.DB.Bun.NewRaw(`INSERT INTO sync_resources (connector_id, resource_type, external_id, display_name, hash,
		first_seen_at, synced_at, match_status) VALUES (?, 'user', 'sweep-person', 'Sweep Person', '\x00', now(), now(), 'unmatched')
		RETURNING id`, dir.ID).Scan(ctx, &syncResource)
	if err != nil {
		t.Fatal(err)
	}
	ids := sweepIDs{user: target.ID.String(), token: tok.ID.String(), notification: notes[0].ID.String(),
		incident: inc.ID.String(), connector: conn.ID.String(), workflow: wf.ID.String(), run: run.ID.String(),
		task: tasks[0].ID.String(), syncConnector: dir.ID.String(), syncRun: syncRun.ID.String(), syncResource: syncResource}

	type role struct {
		name, subject string
		perms         engine.PermissionSet
	}
	// Admin last: only it may change users, so the others' sweeps must leave them as they were.
	roles := []role{{name: "anonymous"}}
	for _, d := range slices.Backward(engine.DemoUsers) {
		roles = append(roles, role{name: d.Role, subject: d.Subject, perms: engine.PermissionsOf([]string{d.Role})})
	}
	userTables := func() map[string]int {
		s := ts.snapshot(t)
		delete(s, "audit_log")
		delete(s, "api_tokens")
		return s
	}
	before := userTables()
	tried := map[string]int{}
	for _, r := range roles {
		if r.name == engine.RoleAdmin {
			ts.wantUnchanged(t, before)
		}
		var c *http.Client
		login := func() *http.Client {
			if r.subject == "" {
				return ts.client(t)
			}
			return ts.loginAs(t, r.subject)
		}
		c = login()
		for _, rt := range routes {
			key := rt.Method + " " + rt.Pattern
			path := ids.fill(t, rt.Pattern)
			body := sweepBodies[key]
			client := c
			if strings.Contains(rt.Pattern, "logout") {
				// Logging out ends the session the rest of the sweep uses.
				client = login()
			}
			res := ts.do(t, client, rt.Method, path, body)
			tried[key]++
			checkRouteAuth(t, r.name, r.perms, rt, res)
		}
	}
	for _, rt := range routes {
		if n := tried[rt.Method+" "+rt.Pattern]; n != len(roles) {
			t.Errorf("%s %s tried %d times, want once per role", rt.Method, rt.Pattern, n)
		}
	}
	for key := range sweepBodies {
		if tried[key] == 0 {
			t.Errorf("sweepBodies has %q, which is not in the route table", key)
		}
	}
}

// checkRouteAuth is the sweep's assertion for one route and one role.
func checkRouteAuth(t *testing.T, role string, perms engine.PermissionSet, rt handlers.RouteInfo, res *result) {
	t.Helper()
	what := role + ": " + rt.Method + " " + rt.Pattern
	api := strings.HasPrefix(rt.Pattern, "/api/")
	if res.Status >= 500 {
		t.Errorf("%s: status %d: %s", what, res.Status, res.Body)
		return
	}
	toLogin := res.Status == http.StatusSeeOther && strings.HasPrefix(res.Header.Get("Location"), "/api/auth/login")
	denied := res.Status == http.StatusUnauthorized || res.Status == http.StatusForbidden || toLogin
	switch {
	case rt.Public:
		if denied {
			t.Errorf("%s is public but answered %d %s", what, res.Status, res.Header.Get("Location"))
		}
	case perms == nil: // anonymous
		if api && res.Status != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", what, res.Status)
		}
		if !api && !toLogin {
			t.Errorf("%s: status %d Location %q, want 303 to login", what, res.Status, res.Header.Get("Location"))
		}
	case rt.Perm != "" && !perms[engine.Permission(rt.Perm)]:
		if res.Status != http.StatusForbidden {
			t.Errorf("%s needs %s, which %s lacks: status %d, want 403", what, rt.Perm, role, res.Status)
		} else if api && !strings.Contains(res.Body, `"code":"forbidden"`) {
			t.Errorf("%s: 403 without the forbidden code: %s", what, res.Body)
		} else if !api && !strings.Contains(res.Body, `data-testid="error-403"`) {
			t.Errorf("%s: 403 without the error page: %s", what, res.Body)
		}
	default:
		if denied {
			t.Errorf("%s: %s holds %q but got %d %s: %s", what, role, rt.Perm, res.Status, res.Header.Get("Location"), res.Body)
		}
	}
}

// The role × permission table of PRODUCT §1, as GET /api/system-roles reports it.
func TestSystemRolesMatchTheProductTable(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	want := map[string][]string{
		"Admin": {"user:read", "user:manage", "connector:read", "connector:manage", "workflow:read",
			"workflow:create", "workflow:update", "workflow:publish", "workflow:start", "run:read", "run:cancel",
			"task:read", "task:assign", "approval:decide", "audit:read", "event:read", "settings:manage"},
		"Resource Manager": {"user:read", "connector:read", "connector:manage", "workflow:read",
			"workflow:create", "workflow:update", "workflow:publish", "workflow:start", "run:read", "run:cancel",
			"task:read", "task:assign", "approval:decide", "audit:read", "event:read"},
		"Approver":  {"workflow:read", "run:read", "task:read", "approval:decide"},
		"Requestor": {"workflow:read", "workflow:start", "task:read"},
	}
	var got struct {
		Items []struct {
			Name        string   `json:"name"`
			Permissions []string `json:"permissions"`
		} `json:"items"`
	}
	ts.get(t, ts.loginAs(t, "demo-requestor"), "/api/system-roles").wantStatus(t, http.StatusOK).json(t, &got)
	if len(got.Items) != len(want) {
		t.Fatalf("%d roles, want %d", len(got.Items), len(want))
	}
	for _, r := range got.Items {
		w := slices.Clone(want[r.Name])
		g := slices.Clone(r.Permissions)
		slices.Sort(w)
		slices.Sort(g)
		if !slices.Equal(g, w) {
			t.Errorf("%s: permissions %v, want %v", r.Name, g, w)
		}
	}
	// Every route names a real permission (or none).
	for _, rt := range ts.Server.RoutesForTest() {
		if rt.Perm != "" && !engine.IsPermission(rt.Perm) {
			t.Errorf("%s %s needs unknown permission %q", rt.Method, rt.Pattern, rt.Perm)
		}
		if rt.Public && rt.Perm != "" {
			t.Errorf("%s %s is public yet names permission %q", rt.Method, rt.Pattern, rt.Perm)
		}
	}
}

func TestBearerTokenPermissions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin := ts.demo(t, "demo-admin")

	// Token grants narrow the owner's permissions: an Admin's user:read token only reads.
	readOnly := ts.token(t, admin, []string{"user:read"})
	var list struct{ Total int }
	ts.get(t, nil, "/api/users", bearer(readOnly)...).wantStatus(t, http.StatusOK).json(t, &list)
	if list.Total != len(engine.DemoUsers) {
		t.Errorf("total = %d, want the %d demo users", list.Total, len(engine.DemoUsers))
	}
	before := ts.snapshot(t)
	ts.do(t, nil, "POST", "/api/users", map[string]any{"email": "new@example.test"}, bearer(readOnly)...).
		apiError(t, http.StatusForbidden, "forbidden")
	ts.get(t, nil, "/api/audit", bearer(readOnly)...).apiError(t, http.StatusForbidden, "forbidden")
	ts.wantUnchanged(t, before)
	var me struct {
		Permissions       []string
		AuthenticatedWith string
	}
	ts.get(t, nil, "/api/auth/me", bearer(readOnly)...).wantStatus(t, http.StatusOK).json(t, &me)
	if !slices.Equal(me.Permissions, []string{"user:read"}) || me.AuthenticatedWith != "token" {
		t.Errorf("token me = %+v, want only user:read via token", me)
	}
	// Nor can it mint itself a wider token: a token cannot create tokens (its owner signs in,
	// or uses `floh token create`), or the narrowing above would be one request away.
	ts.do(t, nil, "POST", "/api/auth/tokens", map[string]any{"name": "escalate"}, bearer(readOnly)...).
		apiError(t, http.StatusForbidden, "forbidden")
	ts.do(t, nil, "POST", "/api/auth/tokens", map[string]any{"name": "escalate", "permissions": []string{"user:read"}}, bearer(readOnly)...).
		apiError(t, http.StatusForbidden, "forbidden")
	ts.postForm(t, nil, "/profile/tokens", url.Values{"name": {"escalate"}}, bearer(readOnly)...).
		apiError(t, http.StatusForbidden, "forbidden")
	ts.wantUnchanged(t, before)
	// A token has no session to inspect.
	ts.get(t, nil, "/api/auth/session", bearer(readOnly)...).apiError(t, http.StatusBadRequest, "bad_request")

	// A token never carries more than its owner holds now: removing the owner's role takes
	// the permission away at the next request.
	manager := ts.demo(t, "demo-manager")
	managerToken := ts.token(t, manager, nil)
	ts.get(t, nil, "/api/users", bearer(managerToken)...).wantStatus(t, http.StatusOK)
	adminClient := ts.loginAs(t, "demo-admin")
	ts.do(t, adminClient, "PUT", "/api/users/"+manager.ID.String()+"/roles", map[string]any{"roles": []string{}}).
		wantStatus(t, http.StatusOK)
	ts.get(t, nil, "/api/users", bearer(managerToken)...).apiError(t, http.StatusForbidden, "forbidden")
	ts.get(t, nil, "/api/auth/me", bearer(managerToken)...).wantStatus(t, http.StatusOK).json(t, &me)
	if len(me.Permissions) != 0 {
		t.Errorf("permissions after losing every role = %v, want none", me.Permissions)
	}

	// Nor can a token be created with a permission its owner lacks.
	req := ts.loginAs(t, "demo-requestor")
	ts.do(t, req, "POST", "/api/auth/tokens", map[string]any{"name": "escalate", "permissions": []string{"user:read"}}).
		apiError(t, http.StatusUnprocessableEntity, "validation_failed")
	reqToken := ts.token(t, ts.demo(t, "demo-requestor"), nil)
	ts.get(t, nil, "/api/users", bearer(reqToken)...).apiError(t, http.StatusForbidden, "forbidden")

	// A revoked token, and the token of a deleted user, no longer authenticate.
	var created struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	ts.do(t, adminClient, "POST", "/api/auth/tokens", map[string]any{"name": "to revoke"}).
		wantStatus(t, http.StatusCreated).json(t, &created)
	ts.get(t, nil, "/api/users", bearer(created.Token)...).wantStatus(t, http.StatusOK)
	ts.do(t, adminClient, "DELETE", "/api/auth/tokens/"+created.ID, nil).wantStatus(t, http.StatusOK)
	ts.get(t, nil, "/api/users", bearer(created.Token)...).apiError(t, http.StatusUnauthorized, "unauthenticated")

	approver := ts.demo(t, "demo-approver")
	approverToken := ts.token(t, approver, nil)
	ts.get(t, nil, "/api/auth/me", bearer(approverToken)...).wantStatus(t, http.StatusOK)
	ts.do(t, adminClient, "DELETE", "/api/users/"+approver.ID.String(), nil).wantStatus(t, http.StatusOK)
	ts.get(t, nil, "/api/auth/me", bearer(approverToken)...).apiError(t, http.StatusUnauthorized, "unauthenticated")

	// The token's secret is not stored and not listed.
	var tokens struct {
		Items []map[string]json.RawMessage `json:"items"`
	}
	ts.get(t, adminClient, "/api/auth/tokens").wantStatus(t, http.StatusOK).json(t, &tokens)
	if len(tokens.Items) < 2 {
		t.Fatalf("admin has %d tokens listed, want at least 2", len(tokens.Items))
	}
	for _, item := range tokens.Items {
		for _, k := range []string{"token", "tokenHash"} {
			if _, ok := item[k]; ok {
				t.Errorf("token list shows %q", k)
			}
		}
	}
}

// routePermissions is who may call each route, decided from PRODUCT §1 and api.md. The sweep
// above checks that the server enforces its route table; this pins the table itself, so that
// loosening a route's permission, or adding a route, is a visible decision in this file.
var routePermissions = map[string]string{
	"GET /api/health":        "public",
	"GET /api/auth/login":    "public",
	"GET /api/auth/callback": "public",
	"GET /signed-out":        "public",
	"POST /logout":           "public",

	"POST /api/auth/logout":            "",
	"GET /api/auth/me":                 "",
	"GET /api/auth/session":            "",
	"POST /api/auth/session/extend":    "",
	"GET /api/auth/tokens":             "",
	"POST /api/auth/tokens":            "",
	"DELETE /api/auth/tokens/{id}":     "",
	"GET /api/system-roles":            "",
	"GET /{$}":                         "",
	"GET /profile":                     "",
	"POST /profile/tokens":             "",
	"POST /profile/tokens/{id}/revoke": "",

	"GET /api/notifications":            "",
	"POST /api/notifications/{id}/read": "",
	"POST /api/notifications/read-all":  "",
	"GET /notifications":                "",
	"GET /notifications/unread":         "",
	"POST /notifications/{id}/read":     "",
	"POST /notifications/read-all":      "",

	"GET /api/users":                           "user:read",
	"POST /api/users":                          "user:manage",
	"GET /api/users/{id}":                      "user:read",
	"PATCH /api/users/{id}":                    "user:manage",
	"DELETE /api/users/{id}":                   "user:manage",
	"POST /api/users/{id}/restore":             "user:manage",
	"PUT /api/users/{id}/roles":                "user:manage",
	"GET /api/users/{id}/profile":              "user:read",
	"PATCH /api/users/{id}/profile":            "user:manage",
	"GET /api/users/{id}/external-identities":  "user:read",
	"GET /api/users/{id}/workflow-activity":    "user:read",
	"GET /users":                               "user:read",
	"GET /users/new":                           "user:manage",
	"POST /users":                              "user:manage",
	"GET /users/{id}":                          "user:read",
	"GET /users/{id}/edit":                     "user:manage",
	"POST /users/{id}":                         "user:manage",
	"POST /users/{id}/roles":                   "user:manage",
	"POST /users/{id}/profile":                 "user:manage",
	"GET /users/{id}/delete":                   "user:manage",
	"POST /users/{id}/delete":                  "user:manage",
	"POST /users/{id}/restore":                 "user:manage",
	"POST /users/{id}/tokens/{tokenId}/revoke": "user:manage",

	"GET /api/audit":          "audit:read",
	"GET /api/audit/verify":   "audit:read",
	"GET /audit":              "audit:read",
	"GET /audit/verify":       "audit:read",
	"GET /api/events":         "event:read",
	"GET /events":             "event:read",
	"GET /api/incidents":      "event:read",
	"GET /api/incidents/{id}": "event:read",

	"GET /api/workflows":                              "workflow:read",
	"POST /api/workflows":                             "workflow:create",
	"POST /api/workflows/lint":                        "workflow:read",
	"GET /api/workflows/{id}":                         "workflow:read",
	"PUT /api/workflows/{id}":                         "workflow:update",
	"DELETE /api/workflows/{id}":                      "workflow:update",
	"POST /api/workflows/{id}/publish":                "workflow:publish",
	"POST /api/workflows/{id}/deprecate":              "workflow:publish",
	"GET /api/workflows/{id}/versions":                "workflow:read",
	"GET /api/workflows/{id}/versions/{n}":            "workflow:read",
	"GET /api/workflows/{id}/diff":                    "workflow:read",
	"POST /api/workflows/{id}/draft":                  "workflow:update",
	"POST /api/workflows/{id}/start":                  "workflow:start",
	"GET /api/runs":                                   "",
	"GET /api/runs/{id}":                              "",
	"PUT /api/runs/{id}":                              "run:cancel",
	"POST /api/runs/{id}/cancel":                      "run:cancel",
	"POST /api/runs/{id}/retry":                       "run:cancel",
	"GET /api/runs/{id}/timeline":                     "",
	"GET /api/runs/{id}/diagnose":                     "",
	"GET /api/runs/{id}/rollback-plan":                "",
	"POST /api/runs/{id}/rollback":                    "run:cancel",
	"GET /api/tasks":                                  "task:read",
	"GET /api/tasks/{id}":                             "task:read",
	"POST /api/tasks/{id}/claim":                      "task:read",
	"POST /api/tasks/{id}/assign":                     "task:assign",
	"POST /api/tasks/{id}/unassign":                   "task:read",
	"POST /api/tasks/{id}/hold":                       "task:read",
	"POST /api/tasks/{id}/unhold":                     "task:read",
	"POST /api/tasks/{id}/complete":                   "task:read",
	"GET /api/approvals":                              "task:read",
	"POST /api/approvals/{id}/decide":                 "approval:decide",
	"GET /tasks":                                      "task:read",
	"GET /tasks/count":                                "task:read",
	"POST /tasks/{id}/claim":                          "task:read",
	"POST /tasks/{id}/assign":                         "task:assign",
	"POST /tasks/{id}/unassign":                       "task:read",
	"POST /tasks/{id}/hold":                           "task:read",
	"POST /tasks/{id}/unhold":                         "task:read",
	"POST /tasks/{id}/complete":                       "task:read",
	"POST /tasks/{id}/approve":                        "approval:decide",
	"POST /tasks/{id}/reject":                         "approval:decide",
	"GET /workflows":                                  "workflow:read",
	"GET /workflows/new":                              "workflow:create",
	"POST /workflows":                                 "workflow:create",
	"GET /workflows/{id}":                             "workflow:read",
	"POST /workflows/{id}":                            "workflow:update",
	"GET /workflows/{id}/publish":                     "workflow:publish",
	"POST /workflows/{id}/publish":                    "workflow:publish",
	"GET /workflows/{id}/deprecate":                   "workflow:publish",
	"POST /workflows/{id}/deprecate":                  "workflow:publish",
	"GET /workflows/{id}/delete":                      "workflow:update",
	"POST /workflows/{id}/delete":                     "workflow:update",
	"POST /workflows/{id}/draft":                      "workflow:update",
	"GET /workflows/{id}/design":                      "workflow:read",
	"POST /workflows/{id}/design/steps":               "workflow:update",
	"POST /workflows/{id}/design/steps/{step}":        "workflow:update",
	"POST /workflows/{id}/design/steps/{step}/delete": "workflow:update",
	"POST /workflows/{id}/design/edges":               "workflow:update",
	"POST /workflows/{id}/design/edges/delete":        "workflow:update",
	"POST /workflows/{id}/design/variables":           "workflow:update",
	"POST /workflows/{id}/design/variables/delete":    "workflow:update",
	"POST /workflows/{id}/design/settings":            "workflow:update",
	"POST /workflows/{id}/design/json":                "workflow:update",
	"POST /workflows/{id}/design/undo":                "workflow:update",
	"GET /workflows/{id}/diff":                        "workflow:read",
	"GET /workflows/{id}/export":                      "workflow:read",
	"POST /workflows/import":                          "workflow:create",
	"POST /workflows/{id}/import":                     "workflow:update",
	"GET /workflows/{id}/start":                       "workflow:start",
	"POST /workflows/{id}/start":                      "workflow:start",
	"GET /runs":                                       "",
	"GET /runs/{id}":                                  "",
	"GET /runs/{id}/cancel":                           "run:cancel",
	"POST /runs/{id}/cancel":                          "run:cancel",
	"POST /runs/{id}/retry":                           "run:cancel",
	"GET /runs/{id}/rollback":                         "run:cancel",
	"POST /runs/{id}/rollback":                        "run:cancel",

	"GET /api/connector-types":            "connector:read",
	"GET /api/connectors":                 "connector:read",
	"POST /api/connectors":                "connector:manage",
	"POST /api/connectors/rotate-keys":    "settings:manage",
	"GET /api/connectors/{id}":            "connector:read",
	"PUT /api/connectors/{id}":            "connector:manage",
	"DELETE /api/connectors/{id}":         "connector:manage",
	"POST /api/connectors/{id}/restore":   "connector:manage",
	"POST /api/connectors/{id}/test":      "connector:manage",
	"POST /api/connectors/{id}/execute":   "connector:manage",
	"GET /api/connectors/{id}/executions": "connector:read",

	"GET /api/connectors/{id}/sync/{rt}/config":                            "connector:read",
	"PUT /api/connectors/{id}/sync/{rt}/config":                            "connector:manage",
	"POST /api/connectors/{id}/sync/{rt}/run":                              "connector:manage",
	"GET /api/connectors/{id}/sync/{rt}/runs":                              "connector:read",
	"POST /api/connectors/{id}/sync/{rt}/records":                          "connector:manage",
	"GET /api/connectors/{id}/sync/{rt}/resources":                         "connector:read",
	"GET /api/connectors/{id}/sync/user/matches":                           "connector:read",
	"POST /api/connectors/{id}/sync/user/matches/bulk-skip":                "connector:manage",
	"POST /api/connectors/{id}/sync/user/matches/{resourceId}/link":        "connector:manage",
	"POST /api/connectors/{id}/sync/user/matches/{resourceId}/skip":        "connector:manage",
	"POST /api/connectors/{id}/sync/user/matches/{resourceId}/create-user": "connector:manage",
	"POST /api/connectors/{id}/sync/user/matches/{resourceId}/unlink":      "connector:manage",
	"GET /api/sync-runs/{runId}":                                           "connector:read",
	"GET /api/sync-runs/{runId}/changes":                                   "connector:read",
	"POST /api/sync-runs/{runId}/allow":                                    "connector:manage",
	"POST /api/sync-runs/{runId}/cancel":                                   "connector:manage",
	"GET /connectors":                                                      "connector:read",
	"GET /connectors/new":                                                  "connector:manage",
	"POST /connectors/new":                                                 "connector:manage",
	"POST /connectors":                                                     "connector:manage",
	"GET /connectors/{id}":                                                 "connector:read",
	"POST /connectors/{id}":                                                "connector:manage",
	"POST /connectors/{id}/test":                                           "connector:manage",
	"POST /connectors/{id}/execute":                                        "connector:manage",
	"GET /connectors/{id}/delete":                                          "connector:manage",
	"POST /connectors/{id}/delete":                                         "connector:manage",
	"POST /connectors/{id}/restore":                                        "connector:manage",
	"GET /connectors/{id}/sync/{rt}":                                       "connector:read",
	"GET /connectors/{id}/sync/{rt}/status":                                "connector:read",
	"POST /connectors/{id}/sync/{rt}/config":                               "connector:manage",
	"POST /connectors/{id}/sync/{rt}/run":                                  "connector:manage",
	"GET /connectors/{id}/sync/{rt}/runs/{runId}":                          "connector:read",
	"POST /connectors/{id}/sync/{rt}/runs/{runId}/cancel":                  "connector:manage",
	"GET /connectors/{id}/sync/{rt}/runs/{runId}/allow":                    "connector:manage",
	"POST /connectors/{id}/sync/{rt}/runs/{runId}/allow":                   "connector:manage",
	"GET /connectors/{id}/sync/user/matches/{resourceId}/link":             "connector:manage",
	"POST /connectors/{id}/sync/user/matches/{resourceId}/link":            "connector:manage",
	"POST /connectors/{id}/sync/user/matches/{resourceId}/skip":            "connector:manage",
	"POST /connectors/{id}/sync/user/matches/{resourceId}/create-user":     "connector:manage",
	"POST /connectors/{id}/sync/user/matches/{resourceId}/unlink":          "connector:manage",
	"POST /connectors/{id}/sync/user/matches/bulk-skip":                    "connector:manage",
	"GET /incidents":                                                       "event:read",
	"GET /incidents/{id}":                                                  "event:read",

	"GET /settings":              "settings:manage",
	"POST /settings/rotate-keys": "settings:manage",

	"GET /api/workflow-templates":                 "workflow:read",
	"POST /api/workflows/{id}/insert-template":    "workflow:update",
	"GET /workflows/{id}/templates":               "workflow:read",
	"GET /workflows/{id}/templates/{templateId}":  "workflow:update",
	"POST /workflows/{id}/templates/{templateId}": "workflow:update",
}

func TestRouteTableHoldsTheDecidedPermissions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	seen := map[string]bool{}
	for _, rt := range ts.Server.RoutesForTest() {
		key := rt.Method + " " + rt.Pattern
		if seen[key] {
			t.Errorf("%s is in the route table twice", key)
		}
		seen[key] = true
		want, ok := routePermissions[key]
		if !ok {
			t.Errorf("%s is not in routePermissions: decide who may call it and add it there", key)
			continue
		}
		got := rt.Perm
		if rt.Public {
			got = "public"
		}
		if got != want {
			t.Errorf("%s needs %q, want %q", key, got, want)
		}
	}
	for key := range routePermissions {
		if !seen[key] {
			t.Errorf("%s is in routePermissions but not in the route table", key)
		}
	}
}
