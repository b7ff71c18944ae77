package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"floh/connectors/ldap/ldaptest"
	"floh/db/dbtest"
)

// syncRunView is the API shape of a sync run, as scripts read it.
type syncRunView struct {
	ID              string         `json:"id"`
	ConnectorID     string         `json:"connectorId"`
	ResourceType    string         `json:"resourceType"`
	Status          string         `json:"status"`
	Phase           string         `json:"phase"`
	Strategy        string         `json:"strategy"`
	DryRun          bool           `json:"dryRun"`
	Trigger         string         `json:"trigger"`
	ExternalID      *string        `json:"externalId"`
	Stats           map[string]any `json:"stats"`
	Hold            map[string]any `json:"hold"`
	CancelRequested bool           `json:"cancelRequested"`
	Error           *string        `json:"error"`
}

func (r syncRunView) stat(name string) int {
	n, _ := r.Stats[name].(float64)
	return int(n)
}

type matchView struct {
	ResourceID  string  `json:"resourceId"`
	ExternalID  string  `json:"externalId"`
	Email       string  `json:"email"`
	DisplayName string  `json:"displayName"`
	Status      string  `json:"status"`
	UserID      *string `json:"userId"`
	User        *struct {
		ID    string `json:"id"`
		Email string `json:"email"`
	} `json:"user"`
	Candidates []struct {
		ID    string `json:"id"`
		Email string `json:"email"`
	} `json:"candidates"`
	DecidedBy string `json:"decidedBy"`
}

type syncResourceView struct {
	ID          string         `json:"id"`
	ExternalID  string         `json:"externalId"`
	Email       string         `json:"email"`
	DisplayName string         `json:"displayName"`
	Attributes  map[string]any `json:"attributes"`
	StaleSince  *string        `json:"staleSince"`
}

type listView[T any] struct {
	Items    []T `json:"items"`
	Total    int `json:"total"`
	Page     int `json:"page"`
	PageSize int `json:"pageSize"`
}

// syncAPI drives the sync API with one Bearer token and keeps every body it was answered,
// so a test can check that no answer ever held a secret.
type syncAPI struct {
	ts     *testServer
	auth   []string
	bodies []string
}

func (a *syncAPI) do(t *testing.T, method, path string, body any) *result {
	t.Helper()
	res := a.ts.do(t, nil, method, path, body, a.auth...)
	a.bodies = append(a.bodies, res.Body)
	return res
}

func (a *syncAPI) get(t *testing.T, path string) *result {
	t.Helper()
	return a.do(t, http.MethodGet, path, nil)
}

func (a *syncAPI) post(t *testing.T, path string, body any) *result {
	t.Helper()
	return a.do(t, http.MethodPost, path, body)
}

// start starts a run and returns its id. The server's clock moves on a second first, so
// runs listed newest first come in the order they were started.
func (a *syncAPI) start(t *testing.T, base string, body any) string {
	t.Helper()
	a.ts.Clock.Advance(time.Second)
	var started struct {
		RunID string `json:"runId"`
	}
	res := a.post(t, base+"/run", body).wantStatus(t, http.StatusAccepted)
	res.json(t, &started)
	if started.RunID == "" || res.Header.Get("Location") != "/api/sync-runs/"+started.RunID {
		t.Fatalf("start: %s, Location %q", res.Body, res.Header.Get("Location"))
	}
	return started.RunID
}

// wait polls a run, as a script would, until its job has taken it as far as it goes.
func (a *syncAPI) wait(t *testing.T, runID string) syncRunView {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var run syncRunView
		a.get(t, "/api/sync-runs/"+runID).wantStatus(t, http.StatusOK).json(t, &run)
		if run.Status != "pending" && run.Status != "running" {
			return run
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s is still %s (%s)", runID, run.Status, run.Phase)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// matches lists the review's lines by display name.
func (a *syncAPI) matches(t *testing.T, base, query string) map[string]matchView {
	t.Helper()
	var list listView[matchView]
	a.get(t, base+"/matches?pageSize=500"+query).wantStatus(t, http.StatusOK).json(t, &list)
	out := map[string]matchView{}
	for _, m := range list.Items {
		out[m.DisplayName] = m
	}
	return out
}

// directory is a slapd with a few people, for the sync API tests.
type directory struct {
	*ldaptest.Slapd
}

func (d directory) add(t *testing.T, uid, name, mail string) {
	t.Helper()
	c, err := d.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := ldap.NewAddRequest("uid="+uid+","+d.UserBaseDN, nil)
	req.Attribute("objectClass", []string{"inetOrgPerson"})
	req.Attribute("uid", []string{uid})
	req.Attribute("cn", []string{name})
	req.Attribute("sn", []string{name})
	req.Attribute("displayName", []string{name})
	if mail != "" {
		req.Attribute("mail", []string{mail})
	}
	if err := c.Add(req); err != nil {
		t.Fatalf("add %s: %v", uid, err)
	}
}

func (d directory) remove(t *testing.T, uid string) {
	t.Helper()
	c, err := d.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Del(ldap.NewDelRequest("uid="+uid+","+d.UserBaseDN, nil)); err != nil {
		t.Fatalf("delete %s: %v", uid, err)
	}
}

// ldapConnector creates, through the API, a connector to the directory; it returns its id.
func ldapConnector(t *testing.T, a *syncAPI, name string, d directory) string {
	t.Helper()
	var c connectorView
	a.post(t, "/api/connectors", map[string]any{"name": name, "type": "ldap", "config": map[string]any{
		"url": d.URL, "startTLS": true, "caCert": string(d.CAPEM), "bindDN": d.BindDN, "bindPassword": d.BindPassword,
		"baseDN": d.BaseDN, "userBaseDN": d.UserBaseDN, "groupBaseDN": d.GroupBaseDN, "pageSize": 2,
	}}).wantStatus(t, http.StatusCreated).json(t, &c)
	return c.ID
}

func TestSyncAPIConfigurationRunsAndReports(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ctx := context.Background()
	if err := ts.Engine.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ts.Engine.Stop(context.Background()) })
	dir := directory{ldaptest.New(t)}
	for _, p := range [][3]string{
		{"ann", "Ann Archer", "ann@example.test"}, {"bob", "Bob Baker", "bob@example.test"},
		{"cat", "Cat Carter", "cat@example.test"}, {"dan", "Dan Dyer", "dan@example.test"},
		{"eve", "Eve Evans", "eve@example.test"}, {"fay", "Fay Fox", ""},
	} {
		dir.add(t, p[0], p[1], p[2])
	}
	admin := &syncAPI{ts: ts, auth: bearer(ts.token(t, ts.demo(t, "demo-admin"), nil))}
	id := ldapConnector(t, admin, "Directory", dir)
	base := "/api/connectors/" + id + "/sync/user"

	// Nobody has configured it: the defaults of PRODUCT §3.
	var cfg map[string]any
	admin.get(t, base+"/config").wantStatus(t, http.StatusOK).json(t, &cfg)
	guard, _ := cfg["deletionGuard"].(map[string]any)
	if cfg["enabled"] != false || cfg["strategy"] != "full" || cfg["staleRetention"] != "7d" || cfg["userMatchStrategy"] != "email" ||
		cfg["issuerSourcePath"] != "attributes.identityIssuer" || cfg["triggerMode"] != "none" ||
		guard["maxPercent"] != float64(20) || guard["maxCount"] != float64(500) || cfg["maxWorkflowRunsPerSync"] != float64(1000) {
		t.Fatalf("default config: %v", cfg)
	}

	// PUT replaces the whole configuration; what it omits takes its default.
	admin.do(t, "PUT", base+"/config", map[string]any{
		"staleRetention": "24h", "userMatchFallbackStrategies": []string{"upstream_identity"},
		"attributeMappings": []map[string]any{{"sourcePath": "attributes.sn", "targetField": "title", "enabled": true}},
	}).wantStatus(t, http.StatusOK).json(t, &cfg)
	mappings, _ := cfg["attributeMappings"].([]any)
	if cfg["staleRetention"] != "24h" || cfg["strategy"] != "full" || len(mappings) != 1 ||
		mappings[0].(map[string]any)["writeMode"] != "overwrite_if_empty" {
		t.Fatalf("saved config: %v", cfg)
	}
	saved := admin.get(t, base+"/config").wantStatus(t, http.StatusOK).Body

	// Bad configurations are refused naming the field, and the stored one stays.
	for _, c := range []struct {
		body  any
		field string
	}{
		{map[string]any{"staleRetention": "24h", "bogus": true}, "bogus"},
		{map[string]any{"enabled": "yes"}, "enabled"},
		{map[string]any{"cron": "every day"}, "cron"},
		{map[string]any{"staleRetention": "a week"}, "staleRetention"},
		{map[string]any{"userMatchStrategy": "email", "userMatchFallbackStrategies": []string{"email"}}, "userMatchFallbackStrategies[0]"},
		{map[string]any{"attributeMappings": []map[string]any{{"sourcePath": "attributes.sn", "targetField": "shoeSize"}}}, "attributeMappings[0].targetField"},
		{map[string]any{"triggerMode": "summary", "postSyncWorkflowId": "00000000-0000-0000-0000-000000000000"}, "postSyncWorkflowId"},
	} {
		e := admin.do(t, "PUT", base+"/config", c.body).apiError(t, http.StatusUnprocessableEntity, "validation_failed")
		if !e.hasField(c.field) {
			t.Errorf("PUT %v: details %+v, want %s", c.body, e.Details, c.field)
		}
	}
	admin.do(t, "PUT", base+"/config", `{"staleRetention": `).apiError(t, http.StatusBadRequest, "bad_request")
	if got := admin.get(t, base+"/config").Body; got != saved {
		t.Fatalf("refused PUTs changed the config:\n%s\nwas\n%s", got, saved)
	}

	// Floh's users: Ann once, Bob twice (ambiguous); nobody else.
	ann := dbtest.User(t, ts.DB, "ann@example.test")
	bob1 := dbtest.User(t, ts.DB, "bob@example.test")
	bob2 := dbtest.User(t, ts.DB, "Bob@Example.test")

	// A bad start is refused before any run exists.
	e := admin.post(t, base+"/run", map[string]any{"strategy": "sideways"}).apiError(t, http.StatusUnprocessableEntity, "validation_failed")
	if !e.hasField("strategy") {
		t.Fatalf("bad strategy: %+v", e)
	}
	admin.post(t, base+"/run", `{"dryRun": tru`).apiError(t, http.StatusBadRequest, "bad_request")
	if n := ts.count(t, "SELECT count(*) FROM sync_runs"); n != 0 {
		t.Fatalf("%d runs after refused starts", n)
	}

	// A dry run keeps nothing but its report.
	dry := admin.wait(t, admin.start(t, base, map[string]any{"dryRun": true}))
	if dry.Status != "completed" || !dry.DryRun || dry.Trigger != "manual" || dry.stat("added") != 6 {
		t.Fatalf("dry run: %+v", dry)
	}
	var resources listView[syncResourceView]
	admin.get(t, base+"/resources").wantStatus(t, http.StatusOK).json(t, &resources)
	if resources.Total != 0 {
		t.Fatalf("a dry run kept %d records", resources.Total)
	}
	var changes listView[map[string]any]
	admin.get(t, "/api/sync-runs/"+dry.ID+"/changes?kind=added&pageSize=4").wantStatus(t, http.StatusOK).json(t, &changes)
	if changes.Total != 6 || len(changes.Items) != 4 || changes.PageSize != 4 || changes.Items[0]["kind"] != "added" {
		t.Fatalf("dry run's report: %+v", changes)
	}

	// A real run, started without a body: the configured strategy.
	first := admin.wait(t, admin.start(t, base, nil))
	if first.Status != "completed" || first.DryRun || first.Strategy != "full" || first.stat("fetched") != 6 || first.stat("added") != 6 ||
		first.stat("matchedExact") != 1 || first.stat("ambiguous") != 1 || first.stat("unmatched") != 4 {
		t.Fatalf("first run: %+v", first)
	}
	var runs listView[syncRunView]
	admin.get(t, base+"/runs").wantStatus(t, http.StatusOK).json(t, &runs)
	if runs.Total != 2 || runs.Items[0].ID != first.ID || runs.Items[1].ID != dry.ID || runs.Page != 1 || runs.PageSize != 50 {
		t.Fatalf("runs, newest first: %+v", runs)
	}
	admin.get(t, "/api/sync-runs/"+first.ID+"/changes?page=2&pageSize=5").wantStatus(t, http.StatusOK).json(t, &changes)
	if changes.Page != 2 || len(changes.Items) == 0 {
		t.Fatalf("second page of the report: %+v", changes)
	}

	// Synced resources: search, stale filter, paging.
	admin.get(t, base+"/resources?q=ARCHER").wantStatus(t, http.StatusOK).json(t, &resources)
	if resources.Total != 1 || resources.Items[0].Email != "ann@example.test" || resources.Items[0].Attributes["dn"] != "uid=ann,"+dir.UserBaseDN {
		t.Fatalf("search: %+v", resources)
	}
	annExternalID := resources.Items[0].ExternalID
	admin.get(t, base+"/resources?stale=false&pageSize=2&page=3").wantStatus(t, http.StatusOK).json(t, &resources)
	if resources.Total != 6 || len(resources.Items) != 2 || resources.Page != 3 {
		t.Fatalf("live records, third page: %+v", resources)
	}
	admin.get(t, base+"/resources?stale=true").wantStatus(t, http.StatusOK).json(t, &resources)
	if resources.Total != 0 {
		t.Fatalf("stale records after one full run: %+v", resources)
	}
	var groups listView[syncResourceView]
	admin.get(t, "/api/connectors/"+id+"/sync/group/resources").wantStatus(t, http.StatusOK).json(t, &groups)
	if groups.Total != 0 {
		t.Fatalf("no group was synced, yet %d are listed", groups.Total)
	}

	// The review.
	m := admin.matches(t, base, "")
	if len(m) != 6 || m["Ann Archer"].Status != "matched_exact" || m["Ann Archer"].User == nil || m["Ann Archer"].User.ID != ann.ID.String() ||
		m["Bob Baker"].Status != "ambiguous" || len(m["Bob Baker"].Candidates) != 2 || m["Fay Fox"].Status != "unmatched" {
		t.Fatalf("matches: %+v", m)
	}
	if got := admin.matches(t, base, "&status=ambiguous"); len(got) != 1 {
		t.Fatalf("the Ambiguous filter: %+v", got)
	}
	if got := admin.matches(t, base, "&status=matched&q=ann"); len(got) != 1 {
		t.Fatalf("the Matched filter searched: %+v", got)
	}

	// Link the ambiguous record to the second Bob.
	var item matchView
	admin.post(t, base+"/matches/"+m["Bob Baker"].ResourceID+"/link", map[string]any{"userId": bob2.ID.String()}).
		wantStatus(t, http.StatusOK).json(t, &item)
	if item.Status != "manual" || item.User == nil || item.User.ID != bob2.ID.String() || item.ResourceID != m["Bob Baker"].ResourceID ||
		item.DecidedBy != "admin@example.test" || len(item.Candidates) != 2 {
		t.Fatalf("linked: %+v", item)
	}
	if n := ts.count(t, "SELECT count(*) FROM external_identities WHERE user_id = ? AND source = 'connector_sync'", bob2.ID); n != 1 {
		t.Fatalf("the link wrote %d external identities", n)
	}
	// Skip one, create a user for another, unlink Ann.
	admin.post(t, base+"/matches/"+m["Cat Carter"].ResourceID+"/skip", nil).wantStatus(t, http.StatusOK).json(t, &item)
	if item.Status != "skipped" || item.UserID != nil {
		t.Fatalf("skipped: %+v", item)
	}
	admin.post(t, base+"/matches/"+m["Dan Dyer"].ResourceID+"/create-user", nil).wantStatus(t, http.StatusOK).json(t, &item)
	if item.Status != "manual" || item.User == nil || item.User.Email != "dan@example.test" {
		t.Fatalf("created: %+v", item)
	}
	if n := ts.count(t, "SELECT count(*) FROM users WHERE email = 'dan@example.test' AND upstream_id = ?", m["Dan Dyer"].ExternalID); n != 1 {
		t.Fatalf("%d users created for Dan", n)
	}
	admin.post(t, base+"/matches/"+m["Ann Archer"].ResourceID+"/unlink", nil).wantStatus(t, http.StatusOK).json(t, &item)
	if item.Status != "unmatched" || item.UserID != nil {
		t.Fatalf("unlinked: %+v", item)
	}
	var skipped struct {
		Skipped int `json:"skipped"`
	}
	admin.post(t, base+"/matches/bulk-skip", map[string]any{"resourceIds": []string{m["Eve Evans"].ResourceID, m["Fay Fox"].ResourceID}}).
		wantStatus(t, http.StatusOK).json(t, &skipped)
	if skipped.Skipped != 2 {
		t.Fatalf("bulk skip: %+v", skipped)
	}

	// Refused decisions name the field and change nothing.
	before := admin.matches(t, base, "")
	bobBaker := m["Bob Baker"].ResourceID
	if _, err := ts.Engine.DeleteUser(ctx, ts.adminActor(t), bob1.ID); err != nil {
		t.Fatal(err)
	}
	for _, body := range []any{
		map[string]any{}, map[string]any{"userId": ""}, map[string]any{"userId": "bob"},
		map[string]any{"userId": "6f1c1a52-0000-4000-8000-000000000000"}, map[string]any{"userId": bob1.ID.String()},
	} {
		e := admin.post(t, base+"/matches/"+bobBaker+"/link", body).apiError(t, http.StatusUnprocessableEntity, "validation_failed")
		if !e.hasField("userId") {
			t.Errorf("link %v: %+v, want userId", body, e)
		}
	}
	admin.post(t, base+"/matches/"+bobBaker+"/link", map[string]any{"userId": bob2.ID.String(), "why": "x"}).
		apiError(t, http.StatusUnprocessableEntity, "validation_failed")
	admin.post(t, base+"/matches/"+bobBaker+"/link", `{"userId": `).apiError(t, http.StatusBadRequest, "bad_request")
	if e := admin.post(t, base+"/matches/"+m["Fay Fox"].ResourceID+"/create-user", nil).apiError(t, http.StatusConflict, "conflict"); !strings.Contains(e.Message, "no email") {
		t.Errorf("create a user without email: %+v", e)
	}
	admin.post(t, base+"/matches/6f1c1a52-0000-4000-8000-000000000000/skip", nil).apiError(t, http.StatusNotFound, "not_found")
	admin.post(t, base+"/matches/not-an-id/skip", nil).apiError(t, http.StatusNotFound, "not_found")
	for _, c := range []struct {
		body  any
		field string
	}{
		{map[string]any{"resourceIds": []string{}}, "resourceIds"},
		{map[string]any{}, "resourceIds"},
		{map[string]any{"resourceIds": []string{bobBaker, "nope"}}, "resourceIds[1]"},
		{map[string]any{"resourceIds": []string{"6f1c1a52-0000-4000-8000-000000000000"}}, "resourceIds"},
	} {
		e := admin.post(t, base+"/matches/bulk-skip", c.body).apiError(t, http.StatusUnprocessableEntity, "validation_failed")
		if !e.hasField(c.field) {
			t.Errorf("bulk skip %v: %+v, want %s", c.body, e, c.field)
		}
	}
	after := admin.matches(t, base, "")
	for name, was := range before {
		if after[name].Status != was.Status {
			t.Errorf("%s went from %s to %s through refused decisions", name, was.Status, after[name].Status)
		}
	}

	// Decisions survive the next run; the unlinked record is matched again.
	second := admin.wait(t, admin.start(t, base, map[string]any{}))
	m = admin.matches(t, base, "")
	if second.Status != "completed" || m["Bob Baker"].Status != "manual" || m["Cat Carter"].Status != "skipped" ||
		m["Dan Dyer"].Status != "manual" || m["Eve Evans"].Status != "skipped" || m["Ann Archer"].Status != "matched_exact" {
		t.Fatalf("after the next run: %+v / %+v", second, m)
	}

	// Sync one record now: the finished run, in the request.
	var rec syncRunView
	admin.post(t, base+"/records", map[string]any{"externalId": annExternalID}).wantStatus(t, http.StatusOK).json(t, &rec)
	if rec.Status != "completed" || rec.Trigger != "record" || rec.ExternalID == nil || *rec.ExternalID != annExternalID || rec.stat("fetched") != 1 {
		t.Fatalf("one record: %+v", rec)
	}
	// A record id the directory cannot hold is the connector's answer, in a failed run.
	admin.post(t, base+"/records", map[string]any{"externalId": "not-a-uuid"}).wantStatus(t, http.StatusOK).json(t, &rec)
	if rec.Status != "failed" || rec.Error == nil || !strings.Contains(*rec.Error, "externalId") {
		t.Fatalf("a malformed record id: %+v", rec)
	}
	for _, body := range []any{map[string]any{}, map[string]any{"externalId": "  "}} {
		if e := admin.post(t, base+"/records", body).apiError(t, http.StatusUnprocessableEntity, "validation_failed"); !e.hasField("externalId") {
			t.Errorf("records %v: %+v", body, e)
		}
	}

	// The deletion guard: half the directory gone holds the run until it is allowed.
	for _, uid := range []string{"dan", "eve", "fay"} {
		dir.remove(t, uid)
	}
	held := admin.wait(t, admin.start(t, base, nil))
	if held.Status != "awaiting_approval" || held.Hold["reason"] != "deletion_guard" || held.stat("stale") != 3 {
		t.Fatalf("held: %+v", held)
	}
	admin.get(t, base+"/resources?stale=true").wantStatus(t, http.StatusOK).json(t, &resources)
	if resources.Total != 0 {
		t.Fatalf("a held run staled %d records", resources.Total)
	}
	if e := admin.post(t, base+"/run", nil).apiError(t, http.StatusConflict, "conflict"); !strings.Contains(e.Message, "awaiting approval") {
		t.Fatalf("start while held: %+v", e)
	}
	var allowed syncRunView
	admin.post(t, "/api/sync-runs/"+held.ID+"/allow", nil).wantStatus(t, http.StatusOK).json(t, &allowed)
	if allowed.ID != held.ID || allowed.Status != "running" {
		t.Fatalf("allowed: %+v", allowed)
	}
	done := admin.wait(t, held.ID)
	if done.Status != "completed" || done.stat("stale") != 3 {
		t.Fatalf("after allow: %+v", done)
	}
	admin.get(t, base+"/resources?stale=true").wantStatus(t, http.StatusOK).json(t, &resources)
	if resources.Total != 3 {
		t.Fatalf("%d stale records after the allowed run, want 3", resources.Total)
	}
	admin.get(t, "/api/sync-runs/"+held.ID+"/changes?kind=stale").wantStatus(t, http.StatusOK).json(t, &changes)
	if changes.Total != 3 {
		t.Fatalf("the allowed run's report: %d stale lines", changes.Total)
	}
	admin.post(t, "/api/sync-runs/"+held.ID+"/allow", nil).apiError(t, http.StatusConflict, "conflict")
	admin.post(t, "/api/sync-runs/"+held.ID+"/cancel", nil).apiError(t, http.StatusConflict, "conflict")

	// Bad list parameters name themselves.
	for path, field := range map[string]string{
		base + "/resources?stale=maybe":                 "stale",
		base + "/resources?stale=1":                     "stale",
		base + "/resources?page=0":                      "page",
		base + "/runs?pageSize=501":                     "pageSize",
		base + "/matches?status=bogus":                  "status",
		"/api/sync-runs/" + held.ID + "/changes?kind=x": "kind",
		"/api/sync-runs/" + held.ID + "/changes?page=a": "page",
	} {
		if e := admin.get(t, path).apiError(t, http.StatusUnprocessableEntity, "validation_failed"); !e.hasField(field) {
			t.Errorf("GET %s: %+v, want %s", path, e, field)
		}
	}

	// What names nothing is a 404, saying what it was when it is not an unknown id.
	for _, path := range []string{
		"/api/connectors/6f1c1a52-0000-4000-8000-000000000000/sync/user/config",
		"/api/connectors/nope/sync/user/runs",
		"/api/sync-runs/6f1c1a52-0000-4000-8000-000000000000",
		"/api/sync-runs/nope/changes",
	} {
		admin.get(t, path).apiError(t, http.StatusNotFound, "not_found")
	}
	if e := admin.get(t, "/api/connectors/"+id+"/sync/widgets/config").apiError(t, http.StatusNotFound, "not_found"); !strings.Contains(e.Message, `"widgets"`) {
		t.Errorf("an unknown resource type: %+v", e)
	}
	admin.post(t, "/api/sync-runs/6f1c1a52-0000-4000-8000-000000000000/allow", nil).apiError(t, http.StatusNotFound, "not_found")
	var delay connectorView
	admin.post(t, "/api/connectors", map[string]any{"name": "Pause", "type": "delay"}).wantStatus(t, http.StatusCreated).json(t, &delay)
	for _, path := range []string{"/sync/user/config", "/sync/group/runs", "/sync/user/matches"} {
		e := admin.get(t, "/api/connectors/"+delay.ID+path).apiError(t, http.StatusNotFound, "not_found")
		if !strings.Contains(e.Message, "No sync resource types are declared for this connector type") {
			t.Errorf("GET %s of a delay connector: %+v", path, e)
		}
	}
	admin.post(t, "/api/connectors/"+delay.ID+"/sync/user/run", nil).apiError(t, http.StatusNotFound, "not_found")

	// Reading needs connector:read, changing connector:manage: a read-only token reads and
	// changes nothing; a Requestor does neither.
	reader := &syncAPI{ts: ts, auth: bearer(ts.token(t, ts.demo(t, "demo-admin"), []string{"connector:read"}))}
	reader.get(t, base+"/config").wantStatus(t, http.StatusOK)
	reader.get(t, "/api/sync-runs/"+held.ID).wantStatus(t, http.StatusOK)
	reader.do(t, "PUT", base+"/config", map[string]any{}).apiError(t, http.StatusForbidden, "forbidden")
	reader.post(t, base+"/run", nil).apiError(t, http.StatusForbidden, "forbidden")
	reader.post(t, base+"/matches/"+bobBaker+"/unlink", nil).apiError(t, http.StatusForbidden, "forbidden")
	requestor := &syncAPI{ts: ts, auth: bearer(ts.token(t, ts.demo(t, "demo-requestor"), nil))}
	requestor.get(t, base+"/config").apiError(t, http.StatusForbidden, "forbidden")
	requestor.get(t, base+"/matches").apiError(t, http.StatusForbidden, "forbidden")
	requestor.get(t, "/api/sync-runs/"+held.ID+"/changes").apiError(t, http.StatusForbidden, "forbidden")
	requestor.post(t, base+"/run", nil).apiError(t, http.StatusForbidden, "forbidden")
	requestor.post(t, "/api/sync-runs/"+held.ID+"/cancel", nil).apiError(t, http.StatusForbidden, "forbidden")
	if m := admin.matches(t, base, ""); m["Bob Baker"].Status != "manual" {
		t.Fatalf("a refused unlink changed the match: %+v", m["Bob Baker"])
	}

	// The directory's bind password never comes back, whatever was asked.
	for _, api := range []*syncAPI{admin, reader, requestor} {
		for _, body := range api.bodies {
			if strings.Contains(body, dir.BindPassword) {
				t.Fatalf("an answer holds the bind password: %s", body)
			}
		}
	}
	if strings.Contains(ts.Logs.String(), dir.BindPassword) {
		t.Fatal("the log holds the bind password")
	}
}

// Without workers a started run stays queued: the one-run rule, and cancelling a queued run.
func TestSyncAPIQueuedRunConflictsAndCancel(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	dir := directory{ldaptest.New(t)}
	dir.add(t, "ann", "Ann Archer", "ann@example.test")
	manager := &syncAPI{ts: ts, auth: bearer(ts.token(t, ts.demo(t, "demo-manager"), nil))}
	id := ldapConnector(t, manager, "Directory", dir)
	base := "/api/connectors/" + id + "/sync/user"

	runID := manager.start(t, base, map[string]any{"dryRun": true, "strategy": "incremental"})
	var run syncRunView
	manager.get(t, "/api/sync-runs/"+runID).wantStatus(t, http.StatusOK).json(t, &run)
	if run.Status != "pending" || run.Phase != "queued" || !run.DryRun || run.Strategy != "incremental" || run.ConnectorID != id || run.ResourceType != "user" {
		t.Fatalf("queued run: %+v", run)
	}
	// One run at a time per (connector, resource type); the group sync is another pair.
	if e := manager.post(t, base+"/run", nil).apiError(t, http.StatusConflict, "conflict"); !strings.Contains(e.Message, runID) {
		t.Fatalf("second run: %+v", e)
	}
	manager.post(t, base+"/records", map[string]any{"externalId": "b5b0c5d6-9f3c-4c4e-9d55-0f0e1b6f0a1c"}).apiError(t, http.StatusConflict, "conflict")
	groupRun := manager.start(t, "/api/connectors/"+id+"/sync/group", nil)

	manager.post(t, "/api/sync-runs/"+runID+"/allow", nil).apiError(t, http.StatusConflict, "conflict")
	manager.post(t, "/api/sync-runs/"+runID+"/cancel", nil).wantStatus(t, http.StatusOK).json(t, &run)
	if run.Status != "cancelled" || !run.CancelRequested {
		t.Fatalf("cancelled: %+v", run)
	}
	manager.post(t, "/api/sync-runs/"+runID+"/cancel", nil).apiError(t, http.StatusConflict, "conflict")
	// With the user run cancelled, another may start; the group run is still queued.
	manager.start(t, base, nil)
	manager.post(t, "/api/connectors/"+id+"/sync/group/run", nil).apiError(t, http.StatusConflict, "conflict")
	var runs listView[syncRunView]
	manager.get(t, "/api/connectors/"+id+"/sync/group/runs").wantStatus(t, http.StatusOK).json(t, &runs)
	if runs.Total != 1 || runs.Items[0].ID != groupRun {
		t.Fatalf("group runs: %+v", runs)
	}

	// A deleted connector is not synced.
	manager.do(t, "DELETE", "/api/connectors/"+id, nil).wantStatus(t, http.StatusOK)
	manager.do(t, "PUT", base+"/config", map[string]any{}).apiError(t, http.StatusConflict, "conflict")
}
