package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/jonboulle/clockwork"

	"floh/connectors/authifi/authifitest"
)

// connectorView is the API shape of a connector, as scripts read it.
type connectorView struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	Type        string         `json:"type"`
	Enabled     bool           `json:"enabled"`
	Config      map[string]any `json:"config"`
	SecretsSet  []string       `json:"secretsSet"`
	Health      string         `json:"healthStatus"`
	LastTestOK  *bool          `json:"lastTestOk"`
	DeletedAt   *string        `json:"deletedAt"`
	MockMode    bool           `json:"mockMode"`
	Description string         `json:"description"`
}

type connectorError struct {
	Message string `json:"message"`
	Code    string `json:"code"`
	Class   string `json:"class"`
	Field   string `json:"field"`
}

type executeView struct {
	Success         bool            `json:"success"`
	Data            map[string]any  `json:"data"`
	OutputVariables map[string]any  `json:"outputVariables"`
	Error           *connectorError `json:"error"`
	DurationMS      *int64          `json:"durationMs"`
	Mock            bool            `json:"mock"`
}

func authifiServer(t *testing.T) *authifitest.Server {
	return authifitest.Start(t, authifitest.Options{Clock: clockwork.NewRealClock(), ClientSecret: "Sup3r-Cl1ent-S3cret-9f2c"})
}

// authifiBody is a create/replace body for a connector to the test Authifi server.
func authifiBody(name string, srv *authifitest.Server, secret string) map[string]any {
	cfg := map[string]any{}
	for k, v := range srv.Config() {
		cfg[k] = v
	}
	if secret == "" {
		delete(cfg, "clientSecret")
	} else {
		cfg["clientSecret"] = secret
	}
	return map[string]any{"name": name, "type": "authifi", "description": "Authifi test tenant", "config": cfg}
}

func TestConnectorsAPI(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	srv := authifiServer(t)
	admin := ts.demo(t, "demo-admin")
	tok := bearer(ts.token(t, admin, nil))
	c := ts.client(t)
	secret := srv.Config().String("clientSecret")

	var types struct {
		Items []struct {
			Name         string           `json:"name"`
			ConfigSchema []map[string]any `json:"configSchema"`
			Commands     []map[string]any `json:"commands"`
		} `json:"items"`
	}
	ts.do(t, c, "GET", "/api/connector-types", nil, tok...).wantStatus(t, 200).json(t, &types)
	found := false
	for _, ty := range types.Items {
		if ty.Name == "authifi" {
			found = len(ty.ConfigSchema) == 5 && len(ty.Commands) > 10
		}
	}
	if !found {
		t.Fatalf("connector types: %+v", types)
	}

	// Bad input is a 422 naming the field, and stores nothing.
	bad := authifiBody("Authifi", srv, secret)
	delete(bad["config"].(map[string]any), "tenant")
	e := ts.do(t, c, "POST", "/api/connectors", bad, tok...).apiError(t, 422, "validation_failed")
	if !e.hasField("config.tenant") {
		t.Fatalf("details: %+v", e.Details)
	}
	ts.do(t, c, "POST", "/api/connectors", map[string]any{"name": "x", "type": "authifi", "confg": map[string]any{}}, tok...).apiError(t, 422, "validation_failed")
	if n := ts.count(t, "SELECT count(*) FROM connectors"); n != 0 {
		t.Fatalf("%d connectors stored after bad input", n)
	}

	var created connectorView
	res := ts.do(t, c, "POST", "/api/connectors", authifiBody("Authifi", srv, secret), tok...).wantStatus(t, 201)
	res.json(t, &created)
	if created.ID == "" || created.Type != "authifi" || !created.Enabled || created.Health != "unknown" ||
		len(created.SecretsSet) != 1 || created.SecretsSet[0] != "clientSecret" || created.Config["clientSecret"] != nil {
		t.Fatalf("created: %+v", created)
	}
	if strings.Contains(res.Body, secret) {
		t.Fatalf("the secret came back: %s", res.Body)
	}
	if calls := srv.Calls(); len(calls) != 0 {
		t.Fatalf("creating a connector contacted the target: %+v", calls)
	}
	ts.do(t, c, "POST", "/api/connectors", authifiBody("authifi", srv, secret), tok...).apiError(t, 422, "validation_failed")

	// Replacing without the secret keeps it: the test still authenticates.
	var out struct {
		Success    bool            `json:"success"`
		Message    string          `json:"message"`
		DurationMS *int64          `json:"durationMs"`
		Error      *connectorError `json:"error"`
	}
	ts.do(t, c, "PUT", "/api/connectors/"+created.ID, authifiBody("Authifi prod", srv, ""), tok...).wantStatus(t, 200)
	ts.do(t, c, "POST", "/api/connectors/"+created.ID+"/test", nil, tok...).wantStatus(t, 200).json(t, &out)
	if !out.Success || out.Message == "" || out.DurationMS == nil {
		t.Fatalf("test: %+v", out)
	}
	var got connectorView
	ts.do(t, c, "GET", "/api/connectors/"+created.ID, nil, tok...).wantStatus(t, 200).json(t, &got)
	if got.Name != "Authifi prod" || got.Health != "healthy" || got.LastTestOK == nil || !*got.LastTestOK {
		t.Fatalf("after test: %+v", got)
	}

	// Execute: a real call, a param error before any call, an unknown command.
	var x executeView
	ts.do(t, c, "POST", "/api/connectors/"+created.ID+"/execute", map[string]any{
		"command": "createUser", "params": map[string]any{"email": "jdoe@example.org", "displayName": "J Doe"},
	}, tok...).wantStatus(t, 200).json(t, &x)
	if !x.Success || x.OutputVariables["email"] != "jdoe@example.org" || x.DurationMS == nil {
		t.Fatalf("createUser: %+v", x)
	}
	x = executeView{}
	ts.do(t, c, "POST", "/api/connectors/"+created.ID+"/execute", map[string]any{
		"command": "createUser", "params": map[string]any{"email": "jdoe@example.org"},
	}, tok...).wantStatus(t, 200).json(t, &x)
	if x.Success || x.Error == nil || x.Error.Class != "already_exists" || !strings.Contains(x.Error.Message, "jdoe@example.org") {
		t.Fatalf("existing account: %+v", x.Error)
	}
	x = executeView{}
	ts.do(t, c, "POST", "/api/connectors/"+created.ID+"/execute", map[string]any{
		"command": "assignRoles", "params": map[string]any{"email": "jdoe@example.org", "roles": map[string]any{"admin": true}},
	}, tok...).wantStatus(t, 200).json(t, &x)
	if x.Success || x.Error.Class != "invalid_input" || x.Error.Field != "roles" {
		t.Fatalf("mistyped param: %+v", x.Error)
	}
	e = ts.do(t, c, "POST", "/api/connectors/"+created.ID+"/execute", map[string]any{"command": "dropTable"}, tok...).apiError(t, 422, "validation_failed")
	if !e.hasField("command") {
		t.Fatalf("unknown command: %+v", e)
	}
	x = executeView{}
	useMock := true
	ts.do(t, c, "POST", "/api/connectors/"+created.ID+"/execute", map[string]any{
		"command": "deleteUser", "params": map[string]any{"email": "jdoe@example.org"}, "useMock": useMock,
	}, tok...).wantStatus(t, 200).json(t, &x)
	if !x.Success || !x.Mock {
		t.Fatalf("useMock: %+v", x)
	}

	var logs struct {
		Items []struct {
			Command string `json:"command"`
			Source  string `json:"source"`
			Success bool   `json:"success"`
		} `json:"items"`
		Total int `json:"total"`
	}
	ts.do(t, c, "GET", "/api/connectors/"+created.ID+"/executions?pageSize=2", nil, tok...).wantStatus(t, 200).json(t, &logs)
	if logs.Total != 5 || len(logs.Items) != 2 || logs.Items[0].Command != "deleteUser" || logs.Items[0].Source != "console" {
		t.Fatalf("executions: %+v", logs)
	}

	var list struct {
		Items []connectorView `json:"items"`
		Total int             `json:"total"`
	}
	ts.do(t, c, "GET", "/api/connectors?q=prod&type=authifi", nil, tok...).wantStatus(t, 200).json(t, &list)
	if list.Total != 1 || list.Items[0].ID != created.ID {
		t.Fatalf("list: %+v", list)
	}
	ts.do(t, c, "DELETE", "/api/connectors/"+created.ID, nil, tok...).wantStatus(t, 200)
	ts.do(t, c, "GET", "/api/connectors", nil, tok...).wantStatus(t, 200).json(t, &list)
	if list.Total != 0 {
		t.Fatalf("a deleted connector leaves the list: %+v", list)
	}
	ts.do(t, c, "GET", "/api/connectors?includeDeleted=true", nil, tok...).wantStatus(t, 200).json(t, &list)
	if list.Total != 1 || list.Items[0].DeletedAt == nil {
		t.Fatalf("includeDeleted: %+v", list)
	}
	ts.do(t, c, "POST", "/api/connectors/"+created.ID+"/test", nil, tok...).apiError(t, 409, "conflict")
	ts.do(t, c, "POST", "/api/connectors/"+created.ID+"/restore", nil, tok...).wantStatus(t, 200)

	var rot struct {
		Total, Rotated, Skipped int
		Failed                  []any
	}
	ts.do(t, c, "POST", "/api/connectors/rotate-keys", nil, tok...).wantStatus(t, 200).json(t, &rot)
	if rot.Total != 1 || rot.Skipped != 1 || rot.Rotated != 0 || len(rot.Failed) != 0 {
		t.Fatalf("rotate-keys: %+v", rot)
	}
	if n := len(ts.auditEntries(t, "connector.updated")); n != 1 {
		t.Fatalf("%d connector.updated audit entries", n)
	}
}

// No secret value may appear in any API response, page, log line, audit entry, event,
// incident, notification or execution log: not the connector's config secret, and not a secret
// param of a command.
func TestConnectorSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	srv := authifiServer(t)
	admin := ts.demo(t, "demo-admin")
	tok := bearer(ts.token(t, admin, nil))
	c := ts.client(t)
	browser := ts.loginAs(t, "demo-admin")
	secret := srv.Config().String("clientSecret")
	const wrongSecret = "Wr0ng-Cl1ent-S3cret-Value"
	const password = "N3w-Passw0rd-For-jdoe!"
	secrets := []string{secret, wrongSecret, password}

	var bodies []string
	call := func(method, path string, body any) *result {
		r := ts.do(t, c, method, path, body, tok...)
		bodies = append(bodies, r.Body)
		return r
	}
	var created connectorView
	call("POST", "/api/connectors", authifiBody("Authifi", srv, secret)).wantStatus(t, 201).json(t, &created)
	id := created.ID
	call("POST", "/api/connectors/"+id+"/execute", map[string]any{"command": "createUser", "params": map[string]any{"email": "jdoe@example.org"}}).wantStatus(t, 200)
	call("POST", "/api/connectors/"+id+"/execute", map[string]any{"command": "setPassword", "params": map[string]any{"email": "jdoe@example.org", "password": password}}).wantStatus(t, 200)
	call("POST", "/api/connectors/"+id+"/execute", map[string]any{"command": "setPassword", "params": map[string]any{"email": "nobody@example.org", "password": password}}).wantStatus(t, 200)
	// A wrong secret: two failed tests mark the connector down, open an incident and notify.
	call("PUT", "/api/connectors/"+id, authifiBody("Authifi", srv, wrongSecret)).wantStatus(t, 200)
	for range 2 {
		var out struct{ Success bool }
		call("POST", "/api/connectors/"+id+"/test", nil).wantStatus(t, 200).json(t, &out)
		if out.Success {
			t.Fatal("a wrong client secret must fail the test")
		}
	}
	call("POST", "/api/connectors/"+id+"/execute", map[string]any{"command": "setPassword", "params": map[string]any{"email": "jdoe@example.org", "password": password}}).wantStatus(t, 200)
	for _, p := range []string{"/api/connectors/" + id, "/api/connectors", "/api/connectors/" + id + "/executions",
		"/api/audit?entity=connector", "/api/events", "/api/incidents", "/api/notifications"} {
		call("GET", p, nil).wantStatus(t, 200)
	}
	if n := ts.count(t, "SELECT count(*) FROM incidents WHERE subject_id = ?", id); n != 1 {
		t.Fatalf("the failing tests should have opened an incident (%d)", n)
	}
	pages := []string{"/audit", "/events", "/incidents", "/notifications", "/connectors", "/connectors/" + id}
	for _, tab := range []string{"overview", "configuration", "commands", "test", "logs"} {
		pages = append(pages, "/connectors/"+id+"?tab="+tab)
	}
	for _, p := range pages {
		r := ts.get(t, browser, p)
		if r.Status == http.StatusNotFound || r.Status >= 500 {
			t.Fatalf("%s: %d", p, r.Status)
		}
		bodies = append(bodies, r.Body)
	}

	var dump strings.Builder
	tables := []string{"audit_log", "events", "incidents", "incident_timeline", "notifications", "connector_executions", "sessions", "river_job"}
	for _, table := range tables {
		var rows []string
		if err := ts.DB.Bun.NewRaw("SELECT t::text FROM "+table+" t").Scan(context.Background(), &rows); err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		dump.WriteString(strings.Join(rows, "\n"))
	}
	var cfgRows []string
	if err := ts.DB.Bun.NewRaw("SELECT (to_jsonb(c) - 'secrets')::text FROM connectors c").Scan(context.Background(), &cfgRows); err != nil {
		t.Fatal(err)
	}
	dump.WriteString(strings.Join(cfgRows, "\n"))

	for _, s := range secrets {
		for i, b := range bodies {
			if strings.Contains(b, s) {
				t.Errorf("response %d contains a secret: %s", i, b)
			}
		}
		if strings.Contains(ts.Logs.String(), s) {
			t.Errorf("the server log contains a secret:\n%s", ts.Logs.String())
		}
		if strings.Contains(dump.String(), s) {
			t.Errorf("the database outside the sealed column contains a secret")
		}
	}
}
