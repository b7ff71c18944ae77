package engine_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"floh/connectors/authifi/authifitest"
	"floh/connectors/builtin"
	"floh/db"
	"floh/db/dbtest"
	"floh/engine"
	"floh/engine/sync"
	"floh/engine/workflow"
)

const (
	nihIssuer    = "https://auth.nih.gov/affwebservices/public/wsfeddispatcher"
	googleIssuer = "https://accounts.google.com"
)

// setupAuthifiSync is a sync fixture on an Authifi connector to the Authifi test server,
// which pages by cursor and filters by updatedSince as the documented API does.
func setupAuthifiSync(t *testing.T) (*syncFixture, *authifitest.Server) {
	t.Helper()
	reg, err := builtin.Registry()
	if err != nil {
		t.Fatal(err)
	}
	f := &syncFixture{fixture: setup(t, func(o *engine.Options) { o.Connectors = reg })}
	srv := authifitest.Start(t, authifitest.Options{Clock: f.clock})
	cfg := map[string]any{}
	for k, v := range srv.Config() {
		cfg[k] = v
	}
	f.conn, err = f.eng.CreateConnector(f.ctx, f.actor(), engine.ConnectorInput{Name: "Authifi", Type: "authifi", Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	return f, srv
}

func withIssuer(t *testing.T, f *syncFixture, email, issuer string) *db.User {
	t.Helper()
	u := dbtest.User(t, f.db, email)
	u.UpstreamIssuer = &issuer
	if err := db.UpdateUser(f.ctx, f.db.Bun, u); err != nil {
		t.Fatal(err)
	}
	return u
}

// The guide's worked example: Email + Issuer tells apart two people who share an email
// under different identity providers, and users the sync creates match on the next run.
func TestSyncAuthifiEmailIssuerExample(t *testing.T) {
	f, srv := setupAuthifiSync(t)
	nih := srv.AddUser(authifitest.User{Email: "keats@nih.gov", DisplayName: "John Keats (NIH)", IdentityIssuer: nihIssuer, ExternalID: "nih-1"})
	google := srv.AddUser(authifitest.User{Email: "keats@nih.gov", DisplayName: "John Keats (Google)", IdentityIssuer: googleIssuer, ExternalID: "g-1"})
	srv.AddUser(authifitest.User{Email: "shelley@nih.gov", DisplayName: "Mary Shelley", IdentityIssuer: nihIssuer})
	srv.AddUser(authifitest.User{Email: "", DisplayName: "No Email", IdentityIssuer: nihIssuer})
	keatsNIH := withIssuer(t, f, "keats@nih.gov", nihIssuer)
	keatsGoogle := withIssuer(t, f, "Keats@NIH.gov", googleIssuer)

	f.configure(t, sync.Config{
		UserMatchStrategy: sync.MatchEmailIssuer, CreateUsers: true,
		AttributeMappings: []sync.Mapping{{SourcePath: "attributes.externalId", TargetField: "custom.idpId", WriteMode: sync.OverwriteAlways, Enabled: true}},
	})
	run, st := f.run(t, engine.SyncStart{})
	if run.Status != db.SyncCompleted {
		t.Fatalf("run: %s %v", run.Status, run.Error)
	}
	m := f.matches(t, "")
	for name, want := range map[string]*db.User{"John Keats (NIH)": keatsNIH, "John Keats (Google)": keatsGoogle} {
		it := m[name]
		if it.Status != "matched_exact" || it.UserID == nil || *it.UserID != want.ID {
			t.Errorf("%s: %s → %v, want matched_exact → %s", name, it.Status, it.UserID, want.Email)
		}
	}
	if m["John Keats (NIH)"].ExternalID != nih.ID || m["John Keats (Google)"].ExternalID != google.ID {
		t.Fatal("records keep Authifi's own ids")
	}
	if st.Created != 1 || st.SkippedNoEmail != 1 || st.MatchedExact != 3 || st.Unmatched != 1 {
		t.Fatalf("stats: %+v", st)
	}
	created, err := db.FindLiveUsersByEmail(f.ctx, f.db.Bun, "shelley@nih.gov")
	if err != nil || len(created) != 1 || created[0].Confirmed || created[0].UpstreamIssuer == nil || *created[0].UpstreamIssuer != nihIssuer ||
		created[0].UpstreamID == nil || *created[0].UpstreamID != m["Mary Shelley"].ExternalID {
		t.Fatalf("created user: %+v %v", created, err)
	}
	prof, err := db.FindProfile(f.ctx, f.db.Bun, keatsGoogle.ID)
	if err != nil || string(prof.Custom["idpId"]) != `"g-1"` || prof.AttributeSources["custom.idpId"].Source != f.conn.ID.String() {
		t.Fatalf("mapping: %+v %v", prof, err)
	}

	// The next run finds the created user through the same compound key: nothing changes.
	run, st = f.run(t, engine.SyncStart{})
	if st.Created != 0 || st.MatchedExact != 3 || len(f.changes(t, run.ID, "")) != 0 {
		t.Fatalf("second run: %+v", st)
	}
}

// A listing that fails part-way stales nothing, and a failing scheduled run opens the
// connector's incident, which a success moves to monitoring and an hour resolves.
func TestSyncFailedReadStalesNothingAndOpensIncident(t *testing.T) {
	f, srv := setupAuthifiSync(t)
	// More than one page of the connector's 500.
	for i := range 520 {
		srv.AddUser(authifitest.User{Email: fmt.Sprintf("u%d@example.test", i), DisplayName: fmt.Sprintf("User %d", i), IdentityIssuer: nihIssuer})
	}
	f.configure(t, sync.Config{})
	f.run(t, engine.SyncStart{})

	// The first page comes, then every call fails.
	srv.FailAfter(1, 1000, "/users", 500)
	tick := f.clock.Now().UTC().Truncate(time.Minute)
	runID, err := f.eng.StartScheduledSyncRun(f.ctx, f.conn.ID, "user", tick)
	if err != nil {
		t.Fatal(err)
	}
	run, _ := f.work(t, runID)
	if run.Status != db.SyncFailed || run.Error == nil {
		t.Fatalf("run: %s", run.Status)
	}
	stale := true
	if _, n, _ := f.eng.SyncResources(f.ctx, f.conn.ID, "user", "", &stale, db.Page{Page: 1, PageSize: 10}); n != 0 {
		t.Fatalf("a failed read staled %d records", n)
	}
	inc, err := db.FindUnresolvedIncidentOf(f.ctx, f.db.Bun, "connector", f.conn.ID.String())
	if err != nil || inc.Kind != "connector_sync" || inc.Status != db.IncidentOpen {
		t.Fatalf("incident: %+v %v", inc, err)
	}
	notes, _, err := f.eng.ListNotifications(f.ctx, f.admin.ID, true, db.Page{Page: 1, PageSize: 10})
	if err != nil || len(notes) == 0 {
		t.Fatalf("admins are notified: %v %v", notes, err)
	}

	srv.ClearFaults()
	f.clock.Advance(time.Minute)
	run, _ = f.run(t, engine.SyncStart{})
	if run.Status != db.SyncCompleted {
		t.Fatalf("recovery run: %s %v", run.Status, run.Error)
	}
	inc, _ = db.FindIncident(f.ctx, f.db.Bun, inc.ID)
	if inc.Status != db.IncidentMonitoring {
		t.Fatalf("after a success: %s", inc.Status)
	}
	f.clock.Advance(engine.IncidentQuietPeriod)
	if _, err := f.eng.AgeIncidents(f.ctx); err != nil {
		t.Fatal(err)
	}
	inc, _ = db.FindIncident(f.ctx, f.db.Bun, inc.ID)
	if inc.Status != db.IncidentResolved {
		t.Fatalf("an hour later: %s", inc.Status)
	}
}

// Incremental runs ask for what changed since the last successful run began and never stale.
func TestSyncIncremental(t *testing.T) {
	f, srv := setupAuthifiSync(t)
	a := srv.AddUser(authifitest.User{Email: "a@example.test", DisplayName: "A", IdentityIssuer: nihIssuer})
	srv.AddUser(authifitest.User{Email: "b@example.test", DisplayName: "B", IdentityIssuer: nihIssuer})
	f.configure(t, sync.Config{Strategy: sync.StrategyIncremental})
	f.clock.Advance(time.Minute)
	_, st := f.run(t, engine.SyncStart{})
	if st.Added != 2 {
		t.Fatalf("a first incremental run fetches everything: %+v", st)
	}
	f.clock.Advance(time.Hour)
	srv.AddUser(authifitest.User{Email: "c@example.test", DisplayName: "C", IdentityIssuer: nihIssuer})
	if !srv.RemoveUser(a.ID) {
		t.Fatal("no user to remove")
	}
	run, st := f.run(t, engine.SyncStart{})
	if st.Fetched != 1 || st.Added != 1 || st.Stale != 0 || run.Since == nil {
		t.Fatalf("incremental: %+v since %v", st, run.Since)
	}
	// A full run on demand stales the deleted one.
	_, st = f.run(t, engine.SyncStart{Strategy: sync.StrategyFull})
	if st.Stale != 1 {
		t.Fatalf("full: %+v", st)
	}
}

// Post-sync workflows: one run per changed record, capped; a summary run with the stats.
func TestSyncPostSyncWorkflows(t *testing.T) {
	f, srv := setupAuthifiSync(t)
	for i := range 3 {
		srv.AddUser(authifitest.User{Email: fmt.Sprintf("p%d@example.test", i), DisplayName: fmt.Sprintf("P%d", i), IdentityIssuer: nihIssuer})
	}
	rf := &runFixture{fixture: f.fixture}
	wf := rf.publish(t, workflow.Definition{
		Variables: []workflow.Variable{{Name: "records", Type: "list"}, {Name: "triggerMode", Type: "string"}, {Name: "connectorId", Type: "string"}},
		Steps:     []workflow.Step{startStep(), endStep()}, Edges: chain("start", "end"),
	})
	f.configure(t, sync.Config{PostSyncWorkflowID: wf.String(), TriggerMode: sync.TriggerPerRecord, MaxWorkflowRunsPerSync: 2})
	run, _ := f.run(t, engine.SyncStart{})
	var hold sync.Hold
	if run.Status != db.SyncAwaitingApproval || json.Unmarshal(run.Hold, &hold) != nil || hold.Reason != "workflow_cap" || hold.WorkflowRuns != 3 {
		t.Fatalf("cap: %s %s", run.Status, run.Hold)
	}
	if _, total, _ := f.eng.SyncResources(f.ctx, f.conn.ID, "user", "", nil, db.Page{Page: 1, PageSize: 10}); total != 0 {
		t.Fatal("a held run kept records")
	}
	if _, err := f.eng.AllowSync(f.ctx, f.actor(), run.ID); err != nil {
		t.Fatal(err)
	}
	run, st := f.work(t, run.ID)
	if run.Status != db.SyncCompleted || st.WorkflowRuns != 3 {
		t.Fatalf("allowed: %s %+v", run.Status, st)
	}
	runs, _, err := db.ListRuns(f.ctx, f.db.Bun, db.RunFilter{WorkflowID: &wf, Page: db.Page{Page: 1, PageSize: 10}})
	if err != nil || len(runs) != 3 {
		t.Fatalf("runs: %d %v", len(runs), err)
	}
	var vars map[string]any
	if err := json.Unmarshal(runs[0].Variables, &vars); err != nil {
		t.Fatal(err)
	}
	recs, _ := vars["records"].([]any)
	if len(recs) != 1 || vars["triggerMode"] != "per_record" || vars["connectorId"] != f.conn.ID.String() {
		t.Fatalf("variables: %v", vars)
	}

	summary := rf.publish(t, workflow.Definition{
		Variables: []workflow.Variable{{Name: "stats", Type: "object"}},
		Steps:     []workflow.Step{startStep(), endStep()}, Edges: chain("start", "end"),
	})
	f.configure(t, sync.Config{PostSyncWorkflowID: summary.String(), TriggerMode: sync.TriggerSummary})
	_, st = f.run(t, engine.SyncStart{})
	if st.WorkflowRuns != 1 {
		t.Fatalf("summary: %+v", st)
	}
}

// Attribute mappings write by their mode and record the connector as the field's source.
func TestSyncAttributeMappingModes(t *testing.T) {
	f, srv := setupAuthifiSync(t)
	srv.AddUser(authifitest.User{Email: "m@example.test", DisplayName: "Mapped", IdentityIssuer: nihIssuer, ExternalID: "ext-7"})
	u := dbtest.User(t, f.db, "m@example.test")
	title, dept := "Keep me", " "
	if _, err := f.eng.UpdateProfile(f.ctx, f.actor(), u.ID, engine.ProfilePatch{
		Title: engine.Optional[string]{Set: true, Value: title}, Department: engine.Optional[string]{Set: true, Value: dept},
	}); err != nil {
		t.Fatal(err)
	}
	f.configure(t, sync.Config{AttributeMappings: []sync.Mapping{
		{SourcePath: "attributes.externalId", TargetField: "title", WriteMode: sync.OverwriteIfEmpty, Enabled: true},
		{SourcePath: "attributes.externalId", TargetField: "department", WriteMode: sync.OverwriteIfEmpty, Enabled: true},
		{SourcePath: "displayName", TargetField: "location", WriteMode: sync.OverwriteAlways, Enabled: true},
		{SourcePath: "email", TargetField: "costCenter", WriteMode: sync.NeverOverwrite, Enabled: true},
		{SourcePath: "email", TargetField: "custom.disabled", WriteMode: sync.OverwriteAlways, Enabled: false},
	}})
	_, st := f.run(t, engine.SyncStart{})
	prof, err := db.FindProfile(f.ctx, f.db.Bun, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if *prof.Title != title || prof.Department == nil || *prof.Department != "ext-7" || prof.Location == nil || *prof.Location != "Mapped" || prof.CostCenter != nil {
		t.Fatalf("profile: title %v department %v location %v cost centre %v", prof.Title, prof.Department, prof.Location, prof.CostCenter)
	}
	if _, ok := prof.Custom["disabled"]; ok || st.Mapped != 2 {
		t.Fatalf("mapped %d; custom %v", st.Mapped, prof.Custom)
	}
	if prof.AttributeSources["location"].Source != f.conn.ID.String() || prof.AttributeSources["title"].Source != "manual" {
		t.Fatalf("sources: %+v", prof.AttributeSources)
	}
}

// Configuration problems name their fields.
func TestSyncConfigValidation(t *testing.T) {
	f, _ := setupAuthifiSync(t)
	cases := map[string]sync.Config{
		"cron":                           {Cron: "every day"},
		"staleRetention":                 {StaleRetention: "7 days"},
		"strategy":                       {Strategy: "sometimes"},
		"userMatchStrategy":              {UserMatchStrategy: "name"},
		"userMatchFallbackStrategies[0]": {UserMatchFallbackStrategies: []string{"email"}},
		"attributeMappings[0].targetField": {AttributeMappings: []sync.Mapping{
			{SourcePath: "email", TargetField: "shoeSize", WriteMode: sync.OverwriteAlways}}},
		"postSyncWorkflowId":       {PostSyncWorkflowID: uuid.NewString(), TriggerMode: sync.TriggerSummary},
		"deletionGuard.maxPercent": {DeletionGuard: sync.Guard{MaxPercent: 150}},
		"filters.emailDomains[0]":  {Filters: sync.Filters{EmailDomains: []string{"not a domain"}}},
	}
	for field, cfg := range cases {
		_, err := f.eng.SaveSyncConfig(f.ctx, f.actor(), f.conn.ID, "user", cfg)
		wantValidation(t, err, field)
	}
	got, err := f.eng.SyncConfig(f.ctx, f.conn.ID, "user")
	if err != nil || got.StaleRetention != "7d" || got.DeletionGuard.MaxPercent != 20 || got.MaxWorkflowRunsPerSync != 1000 {
		t.Fatalf("nothing stored, defaults kept: %+v %v", got, err)
	}
}

// Sync one record now: a changed record is rewritten, a record gone upstream is staled.
func TestSyncOneRecord(t *testing.T) {
	f, srv := setupAuthifiSync(t)
	a := srv.AddUser(authifitest.User{Email: "a@example.test", DisplayName: "A", IdentityIssuer: nihIssuer})
	b := srv.AddUser(authifitest.User{Email: "b@example.test", DisplayName: "B", IdentityIssuer: nihIssuer})
	f.configure(t, sync.Config{})
	f.run(t, engine.SyncStart{})
	if !srv.RemoveUser(b.ID) {
		t.Fatal("no user to remove")
	}
	run, err := f.eng.SyncRecord(f.ctx, f.actor(), f.conn.ID, "user", b.ID)
	if err != nil || run.Status != db.SyncCompleted {
		t.Fatalf("record run: %+v %v", run, err)
	}
	if ch := f.changes(t, run.ID, "stale"); len(ch) != 1 || ch[0].ExternalID != b.ID {
		t.Fatalf("stale report: %+v", ch)
	}
	run, err = f.eng.SyncRecord(f.ctx, f.actor(), f.conn.ID, "user", a.ID)
	if err != nil || run.Status != db.SyncCompleted {
		t.Fatalf("record run: %+v %v", run, err)
	}
	_, err = f.eng.SyncRecord(f.ctx, f.actor(), f.conn.ID, "user", "")
	wantValidation(t, err, "externalId")
}
