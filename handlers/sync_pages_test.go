package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/uuid"

	"floh/connectors/ldap/ldaptest"
	"floh/db"
	"floh/engine"
	esync "floh/engine/sync"
)

// person is an entry of the test's directory; an empty mail leaves the attribute out.
type person struct{ uid, name, mail string }

// syncDirectory is an ldap connector on a slapd of the test's own, holding people.
func (ts *testServer) syncDirectory(t *testing.T, name string, people ...person) (*db.Connector, *ldaptest.Slapd) {
	t.Helper()
	s := ldaptest.New(t)
	conn, err := s.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, p := range people {
		req := ldap.NewAddRequest("uid="+p.uid+","+s.UserBaseDN, nil)
		req.Attribute("objectClass", []string{"inetOrgPerson"})
		req.Attribute("uid", []string{p.uid})
		req.Attribute("cn", []string{p.name})
		req.Attribute("sn", []string{p.name})
		req.Attribute("displayName", []string{p.name})
		if p.mail != "" {
			req.Attribute("mail", []string{p.mail})
		}
		if err := conn.Add(req); err != nil {
			t.Fatalf("add %s: %v", p.uid, err)
		}
	}
	c := ts.newConnector(t, engine.ConnectorInput{Name: name, Type: "ldap", Config: map[string]any{
		"url": s.URL, "startTLS": true, "caCert": string(s.CAPEM), "bindDN": s.BindDN, "bindPassword": s.BindPassword,
		"baseDN": s.BaseDN, "userBaseDN": s.UserBaseDN, "groupBaseDN": s.GroupBaseDN, "pageSize": 2,
	}})
	return c, s
}

// flohUser adds a Floh user straight through the engine.
func (ts *testServer) flohUser(t *testing.T, email, name string) *db.User {
	t.Helper()
	u, _, err := ts.Engine.CreateUser(context.Background(), ts.adminActor(t), engine.CreateUserInput{Email: email, DisplayName: name})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// waitSync waits until the run stops moving (the engine works it on a real River queue).
func (ts *testServer) waitSync(t *testing.T, id uuid.UUID) *db.SyncRun {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		run, err := db.FindSyncRun(context.Background(), ts.DB.Bun, id)
		if err != nil {
			t.Fatal(err)
		}
		if run.Status != db.SyncPending && run.Status != db.SyncRunning {
			return run
		}
		if time.Now().After(deadline) {
			t.Fatalf("sync run %s is still %s (%s)", id, run.Status, run.Phase)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newestSync is the newest run of a connector's users.
func (ts *testServer) newestSync(t *testing.T, c *db.Connector, rt string) *db.SyncRun {
	t.Helper()
	runs, _, err := db.ListSyncRuns(context.Background(), ts.DB.Bun, c.ID, rt, db.Page{Page: 1, PageSize: 1})
	if err != nil || len(runs) == 0 {
		t.Fatalf("no sync run of %s: %v", c.Name, err)
	}
	return &runs[0]
}

// resourceID is the cached record of a connector with this external-id-free display name.
func (ts *testServer) resourceID(t *testing.T, c *db.Connector, name string) uuid.UUID {
	t.Helper()
	rows, _, err := db.ListSyncResources(context.Background(), ts.DB.Bun, db.SyncResourceFilter{
		ConnectorID: c.ID, ResourceType: "user", Q: name, Page: db.Page{Page: 1, PageSize: 10}})
	if err != nil || len(rows) != 1 {
		t.Fatalf("record %q: %d rows, %v", name, len(rows), err)
	}
	return rows[0].ID
}

func (ts *testServer) resource(t *testing.T, c *db.Connector, name string) *db.SyncResource {
	t.Helper()
	r, err := db.FindSyncResource(context.Background(), ts.DB.Bun, c.ID, "user", ts.resourceID(t, c, name))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (ts *testServer) storedSyncConfig(t *testing.T, c *db.Connector, rt string) *esync.Config {
	t.Helper()
	cfg, err := ts.Engine.SyncConfig(context.Background(), c.ID, rt)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// insertRun stores a sync run in the given state, for the states a page shows (running,
// held, failed) without a directory to make them.
func (ts *testServer) insertRun(t *testing.T, c *db.Connector, mutate func(*db.SyncRun)) *db.SyncRun {
	t.Helper()
	now := ts.Clock.Now()
	run := &db.SyncRun{ID: uuid.New(), ConnectorID: c.ID, ResourceType: "user", Status: db.SyncPending, Phase: "queued",
		Strategy: "full", Trigger: "manual", StartedByLabel: "admin@example.test", Config: json.RawMessage(`{}`),
		Stats: json.RawMessage(`{}`), CreatedAt: now, UpdatedAt: now}
	mutate(run)
	if err := db.InsertSyncRun(context.Background(), ts.DB.Bun, run); err != nil {
		t.Fatal(err)
	}
	return run
}

func syncTab(c *db.Connector) string { return "/connectors/" + c.ID.String() + "/sync/user" }

// htmxFor are the headers of an htmx request for the section with this id.
func (ts *testServer) htmxFor(target string) []string {
	return append(ts.htmx(), "HX-Target", target)
}

func TestSyncTabOnlyOnConnectorsThatSync(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.loginAs(t, "demo-admin")
	dir, _ := ts.syncDirectory(t, "Directory")
	pause := ts.newConnector(t, engine.ConnectorInput{Name: "Pause", Type: "delay"})

	// A directory lists users and groups: a Sync tab, a sub-tab each.
	page := ts.get(t, c, "/connectors/"+dir.ID.String()).wantStatus(t, http.StatusOK)
	wantContains(t, "directory page", page.Body, `data-testid="tab-sync"`, `href="`+syncTab(dir)+`"`)
	body := ts.get(t, c, syncTab(dir)).wantStatus(t, http.StatusOK).Body
	wantContains(t, "sync tab", body, `data-testid="sync-subtab-user"`, `data-testid="sync-subtab-group"`,
		`data-testid="panel-sync"`, `aria-current="page">Users`)
	ts.get(t, c, "/connectors/"+dir.ID.String()+"/sync/group").wantStatus(t, http.StatusOK)
	// ?tab=sync, as links elsewhere name tabs, leads to the first sub-tab.
	res := ts.get(t, c, "/connectors/"+dir.ID.String()+"?tab=sync").wantStatus(t, http.StatusSeeOther)
	if res.Header.Get("Location") != syncTab(dir) {
		t.Errorf("?tab=sync goes to %q", res.Header.Get("Location"))
	}

	// A delay connector lists nothing: no tab, and its address says so with the way back.
	page = ts.get(t, c, "/connectors/"+pause.ID.String()).wantStatus(t, http.StatusOK)
	wantLacks(t, "pause page", page.Body, `data-testid="tab-sync"`)
	body = ts.get(t, c, syncTab(pause)).wantStatus(t, http.StatusNotFound).Body
	missing := section(t, body, "sync-missing")
	wantContains(t, "missing tab", missing, "No sync resource types are declared for this connector type",
		`href="/connectors/`+pause.ID.String()+`?tab=overview"`)
	// Neither a resource type that does not exist.
	ts.get(t, c, "/connectors/"+dir.ID.String()+"/sync/printers").wantStatus(t, http.StatusNotFound)
	// Its posts refuse too, changing nothing.
	ts.postForm(t, c, syncTab(pause)+"/config", url.Values{"strategy": {"full"}}, ts.sameOrigin()...).wantStatus(t, http.StatusNotFound)
	if n := ts.count(t, "SELECT count(*) FROM sync_configs"); n != 0 {
		t.Errorf("%d configurations stored", n)
	}
}

func TestSyncConfigurationFormSavesAndRefusesBadInputBesideItsField(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.loginAs(t, "demo-admin")
	dir, _ := ts.syncDirectory(t, "Directory")
	wf := ts.newWorkflow(t, sweepWorkflow)
	ts.publishWorkflow(t, wf.ID)

	// Nothing saved: the form shows the defaults, unfolded.
	body := ts.get(t, c, syncTab(dir)).wantStatus(t, http.StatusOK).Body
	form := section(t, body, "sync-config-form", `data-testid="sync-resources"`)
	wantContains(t, "default form", body, `data-testid="sync-config-defaults"`)
	if v, _ := inputValue(form, "staleRetention"); v != "7d" {
		t.Errorf("stale retention shows %q, want the default 7d", v)
	}
	wantContains(t, "default form", form, `value="20"`, `value="500"`, `value="1000"`,
		`name="userMatchStrategy" value="email" checked`, `name="strategy" value="full" checked`,
		"Cron schedule (UTC)", "Issuer source path (Email + Issuer only)", "Create users", "Deactivate users",
		"Attribute mappings", ">"+wf.Name+"<", "Per changed record", "Deletion guard max %")

	good := url.Values{
		"enabled": {"true"}, "strategy": {"incremental"}, "cron": {"0 */6 * * *"}, "staleRetention": {"24h"},
		"filters.emailDomains": {"Example.org, @example.com"}, "filters.maxRecords": {"5000"},
		"userMatchStrategy": {"email_issuer"}, "issuerSourcePath": {"attributes.idp"},
		"userMatchFallbackStrategies[0]": {"email"}, "userMatchFallbackStrategies[1]": {""}, "userMatchFallbackStrategies[2]": {"external_id"},
		"createUsers": {"true"}, "createUserDefaults.department": {"New starters"}, "createUserDefaults.custom": {"badge = blue"},
		"deactivateUsers": {"true"}, "mappingCount": {"2"},
		"attributeMappings[0].sourcePath": {"attributes.title"}, "attributeMappings[0].targetField": {"title"},
		"attributeMappings[0].writeMode": {"overwrite_always"}, "attributeMappings[0].enabled": {"true"},
		"attributeMappings[1].sourcePath": {"attributes.ou"}, "attributeMappings[1].targetField": {"custom."},
		"attributeMappings[1].customName": {"unit"}, "attributeMappings[1].writeMode": {"overwrite_if_empty"},
		"postSyncWorkflowId": {wf.ID.String()}, "triggerMode": {"summary"},
		"deletionGuard.maxPercent": {"30"}, "deletionGuard.maxCount": {"100"}, "maxWorkflowRunsPerSync": {"50"},
		"action": {"save"},
	}
	res := ts.postForm(t, c, syncTab(dir)+"/config", good, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != syncTab(dir)+"#sync-config" {
		t.Errorf("saved: Location %q", loc)
	}
	cfg := ts.storedSyncConfig(t, dir, "user")
	want := esync.Config{
		Enabled: true, Strategy: "incremental", Cron: "0 */6 * * *", StaleRetention: "24h",
		Filters:           esync.Filters{EmailDomains: []string{"example.org", "example.com"}, MaxRecords: 5000},
		UserMatchStrategy: "email_issuer", IssuerSourcePath: "attributes.idp", UserMatchFallbackStrategies: []string{"email", "external_id"},
		CreateUsers: true, CreateUserDefaults: map[string]string{"department": "New starters", "custom.badge": "blue"}, DeactivateUsers: true,
		AttributeMappings: []esync.Mapping{
			{SourcePath: "attributes.title", TargetField: "title", WriteMode: "overwrite_always", Enabled: true},
			{SourcePath: "attributes.ou", TargetField: "custom.unit", WriteMode: "overwrite_if_empty", Enabled: false},
		},
		PostSyncWorkflowID: wf.ID.String(), TriggerMode: "summary",
		DeletionGuard: esync.Guard{MaxPercent: 30, MaxCount: 100}, MaxWorkflowRunsPerSync: 50,
	}
	gotJSON, _ := json.Marshal(cfg)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("stored\n%s\nwant\n%s", gotJSON, wantJSON)
	}
	if len(ts.auditEntries(t, "connector.sync_configured")) != 1 {
		t.Error("no audit entry of the save")
	}
	body = ts.get(t, c, syncTab(dir)).wantStatus(t, http.StatusOK).Body
	wantContains(t, "after save", body, `data-testid="flash"`, "Saved the sync configuration of users.",
		"Scheduled: runs on 0 */6 * * * (UTC)")
	// The saved form reads back as saved: the custom target in its select and name beside it.
	form = section(t, body, "sync-config-form", `data-testid="sync-resources"`)
	if v, _ := inputValue(form, "attributeMappings[1].customName"); v != "unit" {
		t.Errorf("custom attribute name reads %q", v)
	}
	wantContains(t, "saved form", form, `name="userMatchFallbackStrategies[2]"`, "badge = blue")

	// Bad input: 422, each message beside its input and in the summary, all typed kept,
	// nothing stored.
	bad := url.Values{}
	for k, v := range good {
		bad[k] = v
	}
	bad.Set("cron", "61 * * * *")
	bad.Set("staleRetention", "7x")
	bad.Set("filters.maxRecords", "lots")
	bad.Set("userMatchFallbackStrategies[2]", "email_issuer")
	bad.Set("attributeMappings[1].targetField", "shoeSize")
	before := ts.count(t, "SELECT count(*) FROM audit_log")
	res = ts.postForm(t, c, syncTab(dir)+"/config", bad, ts.sameOrigin()...).wantStatus(t, http.StatusUnprocessableEntity)
	if !isFullPage(res.Body) {
		t.Error("a plain post's 422 is not the whole page")
	}
	for id, msg := range map[string]string{
		"sync-cron-error":                            "Cron schedule must be five fields",
		"sync-staleRetention-error":                  "Stale retention must be a whole number followed by d",
		"sync-filters-maxRecords-error":              "Max records must be a whole number such as 5000",
		"sync-userMatchFallbackStrategies-2-error":   "Third fallback strategy",
		"sync-attributeMappings-1-targetField-error": "Mapping 2: target field",
	} {
		if !regexp.MustCompile(`id="` + id + `"><span class="visually-hidden">Error:</span> ` + regexp.QuoteMeta(msg)).MatchString(res.Body) {
			t.Errorf("no %q beside its input (%s)", msg, id)
		}
	}
	summary := section(t, res.Body, "error-summary", "</ul>")
	wantInOrder(t, "error summary", summary, `href="#sync-cron"`, `href="#sync-staleRetention"`, `href="#sync-filters-maxRecords"`,
		`href="#sync-userMatchFallbackStrategies-2"`, `href="#sync-attributeMappings-1-targetField"`)
	wantContains(t, "kept", res.Body, `value="61 * * * *"`, `value="7x"`, `value="lots"`, `value="attributes.ou"`)
	if got := ts.storedSyncConfig(t, dir, "user"); got.Cron != "0 */6 * * *" {
		t.Errorf("the refused form was stored: cron %q", got.Cron)
	}
	if ts.count(t, "SELECT count(*) FROM audit_log") != before {
		t.Error("the refused form wrote an audit entry")
	}

	// Under htmx the answer is the section alone, 422 too; a save tells the status card.
	res = ts.postForm(t, c, syncTab(dir)+"/config", bad, ts.htmx()...).wantStatus(t, http.StatusUnprocessableEntity)
	if isFullPage(res.Body) || !strings.HasPrefix(strings.TrimSpace(res.Body), `<section class="card" id="sync-config"`) {
		t.Errorf("htmx 422 is not the section: %.200s", res.Body)
	}
	good.Set("cron", "0 2 * * *")
	res = ts.postForm(t, c, syncTab(dir)+"/config", good, ts.htmx()...).wantStatus(t, http.StatusOK)
	wantContains(t, "htmx save", res.Body, `data-testid="sync-config-saved"`)
	if res.Header.Get("HX-Trigger") != "sync-configured" {
		t.Errorf("HX-Trigger %q", res.Header.Get("HX-Trigger"))
	}
	if ts.storedSyncConfig(t, dir, "user").Cron != "0 2 * * *" {
		t.Error("the htmx save was not stored")
	}

	// Add mapping and Remove change the rows and save nothing.
	rows := url.Values{}
	for k, v := range good {
		rows[k] = v
	}
	rows.Set("action", "add-mapping")
	res = ts.postForm(t, c, syncTab(dir)+"/config", rows, ts.htmx()...).wantStatus(t, http.StatusOK)
	wantContains(t, "added row", res.Body, `data-testid="mapping-2"`)
	rows.Set("action", "remove-mapping:0")
	res = ts.postForm(t, c, syncTab(dir)+"/config", rows, ts.htmx()...).wantStatus(t, http.StatusOK)
	wantLacks(t, "removed row", res.Body, `data-testid="mapping-1"`, "attributes.title")
	if v, _ := inputValue(res.Body, "attributeMappings[0].sourcePath"); v != "attributes.ou" {
		t.Errorf("after removing the first row, the first is %q", v)
	}
	if n := len(ts.storedSyncConfig(t, dir, "user").AttributeMappings); n != 2 {
		t.Errorf("editing rows stored %d mappings", n)
	}

	// The Groups sub-tab has no user sections, and saves what it has.
	body = ts.get(t, c, "/connectors/"+dir.ID.String()+"/sync/group").wantStatus(t, http.StatusOK).Body
	form = section(t, body, "sync-config-form", `data-testid="sync-resources"`)
	wantLacks(t, "group form", form, "userMatchStrategy", "Create users", "Attribute mappings", "Deactivate users")
	wantLacks(t, "group tab", body, `data-testid="sync-review"`)
	ts.postForm(t, c, "/connectors/"+dir.ID.String()+"/sync/group/config",
		url.Values{"strategy": {"full"}, "staleRetention": {"30m"}, "action": {"save"}}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	if got := ts.storedSyncConfig(t, dir, "group"); got.StaleRetention != "30m" {
		t.Errorf("group retention %q", got.StaleRetention)
	}
}

func TestSyncStatusCardProgressPollingHoldAndFailure(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.loginAs(t, "demo-admin")
	dir, _ := ts.syncDirectory(t, "Directory")

	body := ts.get(t, c, syncTab(dir)).wantStatus(t, http.StatusOK).Body
	status := section(t, body, "sync-status", `data-testid="sync-now-card"`)
	wantContains(t, "never synced", status, "Never synced")
	wantLacks(t, "never synced", body, `hx-trigger="every 1s"`)

	// Sync now without a worker: the run is queued, and the card says so and polls.
	res := ts.postForm(t, c, syncTab(dir)+"/run", url.Values{"dryRun": {"true"}}, ts.htmx()...).wantStatus(t, http.StatusOK)
	run := ts.newestSync(t, dir, "user")
	if !run.DryRun || run.Status != db.SyncPending || run.Trigger != "manual" {
		t.Fatalf("started %+v", run)
	}
	wantContains(t, "started", res.Body, "Started a dry run of users", `hx-trigger="every 1s"`,
		`hx-get="`+syncTab(dir)+`/status?watch=`+run.ID.String()+`"`, `data-testid="sync-progress"`, "Waiting to start",
		`data-testid="sync-now-disabled"`, "A sync is running")
	if res.Header.Get("HX-Trigger") != "sync-changed" {
		t.Errorf("HX-Trigger %q", res.Header.Get("HX-Trigger"))
	}
	// Another start is refused while it is queued: 409 under htmx, a flash without.
	res = ts.postForm(t, c, syncTab(dir)+"/run", url.Values{}, ts.htmx()...).wantStatus(t, http.StatusConflict)
	wantContains(t, "second start", res.Body, `data-testid="sync-status-error"`, "is already pending")
	res = ts.postForm(t, c, syncTab(dir)+"/run", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	body = ts.get(t, c, syncTab(dir)).Body
	wantContains(t, "second start, plain", body, `data-testid="flash"`, "is already pending")

	// Reading: 40 of the 100 records before it, as the bar and the words say.
	ctx := context.Background()
	hundred := 100
	now := ts.Clock.Now()
	run.Status, run.Phase, run.Fetched, run.Expected, run.StartedAt = db.SyncRunning, "fetching", 40, &hundred, &now
	if err := db.UpdateSyncRun(ctx, ts.DB.Bun, run); err != nil {
		t.Fatal(err)
	}
	poll := syncTab(dir) + "/status?watch=" + run.ID.String()
	res = ts.get(t, c, poll, ts.htmxFor("sync-status")...).wantStatus(t, http.StatusOK)
	wantContains(t, "reading", res.Body, `max="100" value="40"`, "40 of about 100 records read (40 %)",
		"Reading records from Directory", `hx-trigger="every 1s"`, `data-testid="sync-cancel"`)
	if res.Header.Get("HX-Trigger") != "" {
		t.Error("a poll of a moving run announced a change")
	}
	// An incremental run does not know how many to expect: the bar is indeterminate.
	run.Expected = nil
	if err := db.UpdateSyncRun(ctx, ts.DB.Bun, run); err != nil {
		t.Fatal(err)
	}
	res = ts.get(t, c, poll, ts.htmxFor("sync-status")...)
	wantContains(t, "indeterminate", res.Body, "40 records read so far")
	wantLacks(t, "indeterminate", res.Body, `max="`)
	// Without htmx the status address is the tab.
	if loc := ts.get(t, c, poll).wantStatus(t, http.StatusSeeOther).Header.Get("Location"); loc != syncTab(dir)+"#sync-status" {
		t.Errorf("plain status: %q", loc)
	}

	// Done: the poll's answer stops polling and tells the lists to fetch themselves again.
	stats, _ := json.Marshal(esync.Stats{Fetched: 40, Added: 40, MatchedExact: 3, Unmatched: 37, SkippedNoEmail: 2})
	fin := now.Add(83 * time.Second)
	run.Status, run.Phase, run.Stats, run.FinishedAt = db.SyncCompleted, "done", stats, &fin
	if err := db.UpdateSyncRun(ctx, ts.DB.Bun, run); err != nil {
		t.Fatal(err)
	}
	res = ts.get(t, c, poll, ts.htmxFor("sync-status")...).wantStatus(t, http.StatusOK)
	if res.Header.Get("HX-Trigger") != "sync-changed" {
		t.Errorf("finished poll: HX-Trigger %q", res.Header.Get("HX-Trigger"))
	}
	wantLacks(t, "finished", res.Body, `hx-trigger="every 1s"`, `data-testid="sync-progress"`, `data-testid="sync-cancel"`)
	wantContains(t, "finished", res.Body, "completed", "dry run", "1 min 23 s",
		`data-testid="sync-stats-fetched">40<`, `data-testid="sync-match-stats-matched-exact">3<`,
		`data-testid="sync-lifecycle-stats-skipped-no-email">2<`)

	// A failed run shows its error; the connector's failed test warns on the tab.
	ts.insertRun(t, dir, func(r *db.SyncRun) {
		r.Status, r.Phase, r.Error = db.SyncFailed, "done", ptr("cannot reach the LDAP directory: connection refused")
		r.CreatedAt = r.CreatedAt.Add(time.Second)
	})
	failed := false
	dir.LastTestOK, dir.LastTestAt = &failed, &now
	if err := db.UpdateConnector(ctx, ts.DB.Bun, dir); err != nil {
		t.Fatal(err)
	}
	body = ts.get(t, c, syncTab(dir)).Body
	wantContains(t, "failed", body, `data-testid="sync-run-error"`, "connection refused")
	wantContains(t, "test warning", section(t, body, "sync-test-warning", "</div>"), "<time datetime=", `href="/connectors/`+dir.ID.String()+`?tab=test"`)

	// A held run: its message, Allow (through a confirmation) and Cancel.
	hold, _ := json.Marshal(esync.Hold{Reason: "deletion_guard", Live: 10, Stale: 6, MaxPercent: 20, MaxCount: 500,
		Message: "This run would stale 6 of 10 records, more than the deletion guard allows (20 % or 500)."})
	held := ts.insertRun(t, dir, func(r *db.SyncRun) {
		r.Status, r.Phase, r.Hold, r.Stats = db.SyncAwaitingApproval, "held", hold, json.RawMessage(`{"stale": 6}`)
		r.CreatedAt = r.CreatedAt.Add(2 * time.Second)
	})
	body = ts.get(t, c, syncTab(dir)).Body
	hs := section(t, body, "sync-hold", `data-testid="sync-now-card"`)
	wantContains(t, "held", hs, "would stale 6 of 10 records", `href="`+syncTab(dir)+`/runs/`+held.ID.String()+`/allow"`, `data-testid="sync-cancel"`)
	wantContains(t, "held", body, "A held run awaits approval")
	confirm := ts.get(t, c, syncTab(dir)+"/runs/"+held.ID.String()+"/allow").wantStatus(t, http.StatusOK).Body
	wantContains(t, "allow confirmation", confirm, "it marks 6 of the 10 users stale", "more than the deletion guard allows (20 % or 500)",
		`action="`+syncTab(dir)+`/runs/`+held.ID.String()+`/allow"`)
	ts.postForm(t, c, syncTab(dir)+"/runs/"+held.ID.String()+"/allow", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	if r, _ := db.FindSyncRun(ctx, ts.DB.Bun, held.ID); r.Status != db.SyncRunning || r.AllowedBy == nil {
		t.Errorf("allowed run is %s, allowed by %v", r.Status, r.AllowedBy)
	}
	// Allowing it again is a conflict, said in words.
	ts.postForm(t, c, syncTab(dir)+"/runs/"+held.ID.String()+"/allow", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	wantContains(t, "allowed twice", ts.get(t, c, syncTab(dir)).Body, "not awaiting approval")

	// Cancel it from the card: it stops at its next page.
	res = ts.postForm(t, c, syncTab(dir)+"/runs/"+held.ID.String()+"/cancel", url.Values{}, ts.htmx()...).wantStatus(t, http.StatusOK)
	wantContains(t, "cancelled", res.Body, "Asked the run to stop")
	if r, _ := db.FindSyncRun(ctx, ts.DB.Bun, held.ID); !r.CancelRequested {
		t.Error("cancel not requested")
	}
	// A run of another connector is not this tab's.
	other, _ := ts.syncDirectory(t, "Other directory")
	ts.get(t, c, syncTab(other)+"/runs/"+held.ID.String()).wantStatus(t, http.StatusNotFound)
	ts.postForm(t, c, syncTab(other)+"/runs/"+held.ID.String()+"/cancel", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusNotFound)
}

func ptr[T any](v T) *T { return &v }

// reviewPeople are a directory with one of each case of the review.
var reviewPeople = []person{
	{"ann", "Ann Able", "ann@example.org"},      // one Floh user: matched
	{"pat", "Pat Pair", "pat@example.org"},      // two Floh users differing in case: ambiguous
	{"nomail", "Nemo Nomail", ""},               // no email: unmatched, no Create user
	{"carl", "Carl Create", "carl@example.org"}, // unmatched
	{"dora", "Dora Skip", "dora@example.org"},   // unmatched
	{"eve", "Eve Extra", "eve@example.org"},     // unmatched
}

func TestSyncNowHistoryRunPageAndReview(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.startEngine(t)
	c := ts.loginAs(t, "demo-admin")
	dir, _ := ts.syncDirectory(t, "Directory", reviewPeople...)
	ann := ts.flohUser(t, "ann@example.org", "Ann Able")
	pat1 := ts.flohUser(t, "PAT@example.org", "Pat One")
	ts.flohUser(t, "pat@EXAMPLE.org", "Pat Two")

	// Sync now, plainly: back to the tab with a flash; the run works on the engine's queue.
	res := ts.postForm(t, c, syncTab(dir)+"/run", url.Values{"strategy": {"full"}}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != syncTab(dir) {
		t.Errorf("Location %q", loc)
	}
	run := ts.waitSync(t, ts.newestSync(t, dir, "user").ID)
	if run.Status != db.SyncCompleted {
		t.Fatalf("first sync %s: %v", run.Status, run.Error)
	}
	body := ts.get(t, c, syncTab(dir)).wantStatus(t, http.StatusOK).Body
	wantContains(t, "after the sync", body, "Started a full sync of users.", `data-testid="sync-stats-fetched">6<`)

	// Synced resources: the six, searchable by name, email or external id, filtered by stale.
	resources := section(t, body, "sync-resources-table", "</table>")
	if n := strings.Count(resources, `data-testid="resource-row"`); n != 6 {
		t.Errorf("%d resource rows, want 6", n)
	}
	wantContains(t, "resources", resources, "no email", ">live<")
	part := ts.get(t, c, syncTab(dir)+"?q=CARL@", ts.htmxFor("sync-resources")...).wantStatus(t, http.StatusOK).Body
	if isFullPage(part) || strings.Count(part, `data-testid="resource-row"`) != 1 || !strings.Contains(part, "Carl Create") {
		t.Errorf("search by email, partial:\n%s", part)
	}
	ext := ts.resource(t, dir, "Eve Extra").ExternalID
	part = ts.get(t, c, syncTab(dir)+"?q="+url.QueryEscape(ext[:13]), ts.htmxFor("sync-resources")...).Body
	wantContains(t, "search by external id", part, "Eve Extra")
	part = ts.get(t, c, syncTab(dir)+"?stale=true", ts.htmxFor("sync-resources")...).Body
	wantContains(t, "stale filter", part, "No records match")

	// History and the run's page, with its change report by kind.
	history := section(t, body, "sync-history-table", "</table>")
	wantContains(t, "history", history, "completed", "6 fetched · 6 added · 0 updated · 0 stale · 1 ambiguous · 4 unmatched",
		`href="`+syncTab(dir)+`/runs/`+run.ID.String()+`"`)
	page := ts.get(t, c, syncTab(dir)+"/runs/"+run.ID.String()).wantStatus(t, http.StatusOK).Body
	wantContains(t, "run page", page, "All kinds (", "Added (6)", "Ambiguous (1)", `data-testid="sync-changes-table"`)
	added := ts.get(t, c, syncTab(dir)+"/runs/"+run.ID.String()+"?kind=ambiguous", ts.htmxFor("sync-run")...).Body
	if n := strings.Count(added, `data-testid="sync-change-row"`); n != 1 || !strings.Contains(added, "Pat Pair") {
		t.Errorf("ambiguous changes: %d rows", n)
	}

	// The review: the guide's filters with their counts, the candidates of the ambiguous one.
	review := section(t, body, "sync-review", `data-testid="sync-history"`)
	wantInOrder(t, "filters", review, ">All (6)<", ">Matched (1)<", ">Unmatched (4)<", ">Ambiguous (1)<", ">Skipped (0)<", ">Manual override (0)<")
	amb := ts.get(t, c, syncTab(dir)+"?status=ambiguous", ts.htmxFor("sync-review")...).wantStatus(t, http.StatusOK).Body
	wantContains(t, "ambiguous", amb, "Pat Pair", "2 users match this record", "Pat One", "Pat Two")
	wantLacks(t, "ambiguous", amb, "Ann Able")
	nomail := ts.get(t, c, syncTab(dir)+"?mq=nemo", ts.htmxFor("sync-review")...).Body
	wantLacks(t, "no email", nomail, `data-testid="match-create"`)
	wantContains(t, "no email", nomail, `data-testid="match-skip"`, `data-testid="match-link"`)

	// Link through the picker: it lists active users as the admin types.
	pat := ts.resourceID(t, dir, "Pat Pair")
	ret := syncTab(dir) + "?status=ambiguous"
	picker := syncTab(dir) + "/matches/" + pat.String() + "/link"
	found := ts.get(t, c, picker+"?q=pat+one&return="+url.QueryEscape(ret), ts.htmx()...).wantStatus(t, http.StatusOK).Body
	if isFullPage(found) || !strings.Contains(found, "Pat One") || strings.Contains(found, "Pat Two") {
		t.Errorf("picker results:\n%s", found)
	}
	wantContains(t, "picker", found, `name="userId" value="`+pat1.ID.String()+`"`, `name="return" value="`+ret+`"`)
	// Without JavaScript it is a page of its own.
	pickerPage := ts.get(t, c, picker+"?q=pat&return="+url.QueryEscape(ret)).wantStatus(t, http.StatusOK).Body
	wantContains(t, "picker page", pickerPage, "Link Pat Pair to a Floh user", "Pat One", "Pat Two", `href="`+ret+`#sync-review"`)
	// A bad choice is refused: on the picker's page without htmx, in the section with it.
	res = ts.postForm(t, c, picker, url.Values{"userId": {"nobody"}, "return": {ret}}, ts.sameOrigin()...).wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "bad link", res.Body, `data-testid="picker-error"`, "Choose the user to link the record to.")
	res = ts.postForm(t, c, picker, url.Values{"userId": {uuid.NewString()}, "return": {ret}}, ts.htmx()...).wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "unknown user", res.Body, `data-testid="sync-review-error"`, "No user has the id")
	if r := ts.resource(t, dir, "Pat Pair"); *r.MatchStatus != "ambiguous" {
		t.Errorf("refused link changed the record to %s", *r.MatchStatus)
	}
	res = ts.postForm(t, c, picker, url.Values{"userId": {pat1.ID.String()}, "return": {ret}}, ts.htmx()...).wantStatus(t, http.StatusOK)
	if isFullPage(res.Body) {
		t.Error("htmx link answered the whole page")
	}
	wantContains(t, "linked", res.Body, "Linked Pat Pair to Pat One (PAT@example.org)", ">Ambiguous (0)<")
	if r := ts.resource(t, dir, "Pat Pair"); *r.MatchStatus != "manual" || *r.UserID != pat1.ID {
		t.Errorf("linked record: %s %v", *r.MatchStatus, r.UserID)
	}

	// Skip, plainly: back to the review as it was filtered, with a flash.
	dora := ts.resourceID(t, dir, "Dora Skip")
	back := syncTab(dir) + "?mq=dora&status=unmatched"
	res = ts.postForm(t, c, syncTab(dir)+"/matches/"+dora.String()+"/skip", url.Values{"return": {back}}, ts.sameOrigin()...).
		wantStatus(t, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != syncTab(dir)+"?mq=dora&status=unmatched#sync-review" {
		t.Errorf("skip went to %q", loc)
	}
	wantContains(t, "skipped", ts.get(t, c, loc(res)).Body, "Skipped Dora Skip: later syncs leave it unmatched.")
	// A return address elsewhere is not followed.
	res = ts.postForm(t, c, syncTab(dir)+"/matches/"+dora.String()+"/skip", url.Values{"return": {"https://evil.example/"}}, ts.sameOrigin()...)
	if loc := res.Header.Get("Location"); loc != syncTab(dir)+"#sync-review" {
		t.Errorf("foreign return went to %q", loc)
	}

	// Create user: only with an email.
	carl := ts.resourceID(t, dir, "Carl Create")
	res = ts.postForm(t, c, syncTab(dir)+"/matches/"+carl.String()+"/create-user", url.Values{"return": {syncTab(dir)}}, ts.htmx()...).
		wantStatus(t, http.StatusOK)
	wantContains(t, "created", res.Body, "Created the unconfirmed user carl@example.org and linked Carl Create to it.")
	created := ts.resource(t, dir, "Carl Create")
	if *created.MatchStatus != "manual" || ts.userByID(t, *created.UserID).Email != "carl@example.org" {
		t.Errorf("created: %s", *created.MatchStatus)
	}
	nemo := ts.resourceID(t, dir, "Nemo Nomail")
	res = ts.postForm(t, c, syncTab(dir)+"/matches/"+nemo.String()+"/create-user", url.Values{}, ts.htmx()...).wantStatus(t, http.StatusConflict)
	wantContains(t, "no email", res.Body, "has no email")

	// Unlink Ann: unmatched until the next sync matches her again.
	annID := ts.resourceID(t, dir, "Ann Able")
	ts.postForm(t, c, syncTab(dir)+"/matches/"+annID.String()+"/unlink", url.Values{}, ts.htmx()...).wantStatus(t, http.StatusOK)
	if r := ts.resource(t, dir, "Ann Able"); *r.MatchStatus != "unmatched" || r.UserID != nil {
		t.Errorf("unlinked: %s", *r.MatchStatus)
	}

	// Bulk skip asks first, naming the records; then skips them.
	eve, nemoID := ts.resourceID(t, dir, "Eve Extra"), nemo
	pick := url.Values{"resourceIds": {eve.String(), nemoID.String()}, "return": {syncTab(dir)}}
	res = ts.postForm(t, c, syncTab(dir)+"/matches/bulk-skip", pick, ts.htmx()...).wantStatus(t, http.StatusOK)
	wantContains(t, "bulk confirmation", section(t, res.Body, "bulk-skip-confirm", "</form>"), "Skip 2 records?", "Eve Extra", "Nemo Nomail",
		`name="confirm" value="true"`)
	if r := ts.resource(t, dir, "Eve Extra"); *r.MatchStatus != "unmatched" {
		t.Error("the confirmation already skipped")
	}
	// Without JavaScript the confirmation is on the page, its button focused.
	res = ts.postForm(t, c, syncTab(dir)+"/matches/bulk-skip", pick, ts.sameOrigin()...).wantStatus(t, http.StatusOK)
	if !isFullPage(res.Body) || !strings.Contains(res.Body, `data-url="`+syncTab(dir)+`"`) {
		t.Error("the plain confirmation is not the page at the tab's address")
	}
	pick.Set("confirm", "true")
	res = ts.postForm(t, c, syncTab(dir)+"/matches/bulk-skip", pick, ts.htmx()...).wantStatus(t, http.StatusOK)
	wantContains(t, "bulk skipped", res.Body, "Skipped 2 records")
	for _, name := range []string{"Eve Extra", "Nemo Nomail"} {
		if r := ts.resource(t, dir, name); *r.MatchStatus != "skipped" {
			t.Errorf("%s is %s", name, *r.MatchStatus)
		}
	}
	res = ts.postForm(t, c, syncTab(dir)+"/matches/bulk-skip", url.Values{}, ts.htmx()...).wantStatus(t, http.StatusUnprocessableEntity)
	wantContains(t, "nothing chosen", res.Body, "Choose the records to skip first")

	// The next sync keeps every decision, and matches Ann again. (A minute later, so it is
	// the newest run by its start.)
	ts.Clock.Advance(time.Minute)
	ts.postForm(t, c, syncTab(dir)+"/run", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	second := ts.waitSync(t, ts.newestSync(t, dir, "user").ID)
	if second.ID == run.ID || second.Status != db.SyncCompleted {
		t.Fatalf("second sync %s", second.Status)
	}
	for name, want := range map[string]string{"Pat Pair": "manual", "Dora Skip": "skipped", "Carl Create": "manual",
		"Eve Extra": "skipped", "Nemo Nomail": "skipped", "Ann Able": "matched_exact"} {
		if r := ts.resource(t, dir, name); *r.MatchStatus != want {
			t.Errorf("after the second sync %s is %s, want %s", name, *r.MatchStatus, want)
		}
	}
	if r := ts.resource(t, dir, "Ann Able"); *r.UserID != ann.ID {
		t.Error("Ann matched someone else")
	}
	if n := len(ts.auditEntries(t, "connector.match_linked")); n != 1 {
		t.Errorf("%d link audit entries", n)
	}
}

// loc is a redirect's target as a path of the app.
func loc(res *result) string {
	u, _ := url.Parse(res.Header.Get("Location"))
	return u.RequestURI()
}

func TestSyncPagesForReadersAndAgainstCrossSitePosts(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin := ts.loginAs(t, "demo-admin")
	dir, _ := ts.syncDirectory(t, "Directory", reviewPeople...)
	ts.postForm(t, admin, syncTab(dir)+"/config", url.Values{"strategy": {"full"}, "cron": {"0 3 * * *"}, "action": {"save"}},
		ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	run := ts.insertRun(t, dir, func(r *db.SyncRun) {})

	// Someone who may read connectors but not manage them (a narrowed token) sees the tab
	// with no form, no Sync now, no actions; every post refuses.
	reader := bearer(ts.token(t, ts.demo(t, "demo-admin"), []string{"connector:read"}))
	body := ts.get(t, nil, syncTab(dir), reader...).wantStatus(t, http.StatusOK).Body
	wantContains(t, "reader", body, `data-testid="sync-config-values"`, "0 3 * * *", "needs the connector:manage permission")
	wantLacks(t, "reader", body, `data-testid="sync-config-form"`, `data-testid="sync-now-form"`, `data-testid="sync-cancel"`,
		`data-testid="bulk-skip"`)
	before := ts.count(t, "SELECT count(*) FROM sync_runs")
	for _, path := range []string{"/config", "/run", "/runs/" + run.ID.String() + "/cancel", "/runs/" + run.ID.String() + "/allow",
		"/matches/bulk-skip", "/matches/" + uuid.NewString() + "/skip"} {
		ts.postForm(t, nil, syncTab(dir)+path, url.Values{"strategy": {"incremental"}}, reader...).wantStatus(t, http.StatusForbidden)
	}
	ts.get(t, nil, syncTab(dir)+"/matches/"+uuid.NewString()+"/link", reader...).wantStatus(t, http.StatusForbidden)
	// And an Approver does not see connectors at all.
	approver := ts.loginAs(t, "demo-approver")
	ts.get(t, approver, syncTab(dir)).wantStatus(t, http.StatusForbidden)
	ts.postForm(t, approver, syncTab(dir)+"/run", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusForbidden)

	// A post from another site is refused, whoever's session it rides on.
	ts.postForm(t, admin, syncTab(dir)+"/run", url.Values{}, crossSite...).wantStatus(t, http.StatusForbidden)
	ts.postForm(t, admin, syncTab(dir)+"/config", url.Values{"strategy": {"incremental"}, "action": {"save"}}, crossSite...).
		wantStatus(t, http.StatusForbidden)
	if n := ts.count(t, "SELECT count(*) FROM sync_runs"); n != before {
		t.Errorf("refused posts started runs: %d → %d", before, n)
	}
	if cfg := ts.storedSyncConfig(t, dir, "user"); cfg.Strategy != "full" {
		t.Errorf("refused posts changed the strategy to %s", cfg.Strategy)
	}
}

func TestSyncGroupsShowTheirMemberCounts(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.startEngine(t)
	c := ts.loginAs(t, "demo-admin")
	dir, s := ts.syncDirectory(t, "Directory", person{"ann", "Ann Able", "ann@example.org"}, person{"bob", "Bob Baker", "bob@example.org"})
	conn, err := s.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := ldap.NewAddRequest("cn=staff,"+s.GroupBaseDN, nil)
	req.Attribute("objectClass", []string{"groupOfNames"})
	req.Attribute("cn", []string{"staff"})
	req.Attribute("member", []string{"uid=ann," + s.UserBaseDN, "uid=bob," + s.UserBaseDN})
	if err := conn.Add(req); err != nil {
		t.Fatal(err)
	}
	groups := "/connectors/" + dir.ID.String() + "/sync/group"
	ts.postForm(t, c, groups+"/run", url.Values{}, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	if run := ts.waitSync(t, ts.newestSync(t, dir, "group").ID); run.Status != db.SyncCompleted {
		t.Fatalf("group sync %s", run.Status)
	}
	table := section(t, ts.get(t, c, groups).wantStatus(t, http.StatusOK).Body, "sync-resources-table", "</table>")
	wantContains(t, "groups", table, ">Members<", "staff", `<td class="num">2</td>`)
	wantLacks(t, "groups", table, ">Email<")

	// A disabled connector cannot sync: Sync now says so before anyone presses it.
	dir.Enabled = false
	if err := db.UpdateConnector(context.Background(), ts.DB.Bun, dir); err != nil {
		t.Fatal(err)
	}
	wantContains(t, "disabled", ts.get(t, c, groups).Body, "The connector is disabled: enable it on its Configuration tab")
}
