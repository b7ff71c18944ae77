package engine_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/uuid"

	"floh/connectors/builtin"
	"floh/connectors/ldap/ldaptest"
	"floh/db"
	"floh/db/dbtest"
	"floh/engine"
	"floh/engine/sync"
)

// syncFixture is an engine with an ldap connector on a slapd of the test's own.
type syncFixture struct {
	*fixture
	slapd *ldaptest.Slapd
	conn  *db.Connector
}

func setupSync(t *testing.T) *syncFixture {
	t.Helper()
	reg, err := builtin.Registry()
	if err != nil {
		t.Fatal(err)
	}
	f := &syncFixture{fixture: setup(t, func(o *engine.Options) { o.Connectors = reg })}
	f.slapd = ldaptest.New(t)
	s := f.slapd
	f.conn, err = f.eng.CreateConnector(f.ctx, f.actor(), engine.ConnectorInput{Name: "Directory", Type: "ldap", Config: map[string]any{
		"url": s.URL, "startTLS": true, "caCert": string(s.CAPEM), "bindDN": s.BindDN, "bindPassword": s.BindPassword,
		"baseDN": s.BaseDN, "userBaseDN": s.UserBaseDN, "groupBaseDN": s.GroupBaseDN, "pageSize": 3,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// person adds an inetOrgPerson; an empty mail leaves the attribute out.
func (f *syncFixture) person(t *testing.T, uid, name, mail string, extra map[string][]string) {
	t.Helper()
	c, err := f.slapd.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := ldap.NewAddRequest("uid="+uid+","+f.slapd.UserBaseDN, nil)
	req.Attribute("objectClass", []string{"inetOrgPerson"})
	req.Attribute("uid", []string{uid})
	req.Attribute("cn", []string{name})
	req.Attribute("sn", []string{name})
	req.Attribute("displayName", []string{name})
	if mail != "" {
		req.Attribute("mail", []string{mail})
	}
	for k, v := range extra {
		req.Attribute(k, v)
	}
	if err := c.Add(req); err != nil {
		t.Fatalf("add %s: %v", uid, err)
	}
}

func (f *syncFixture) modify(t *testing.T, uid, attr, value string) {
	t.Helper()
	c, err := f.slapd.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := ldap.NewModifyRequest("uid="+uid+","+f.slapd.UserBaseDN, nil)
	req.Replace(attr, []string{value})
	if err := c.Modify(req); err != nil {
		t.Fatalf("modify %s: %v", uid, err)
	}
}

func (f *syncFixture) remove(t *testing.T, uid string) {
	t.Helper()
	c, err := f.slapd.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Del(ldap.NewDelRequest("uid="+uid+","+f.slapd.UserBaseDN, nil)); err != nil {
		t.Fatalf("delete %s: %v", uid, err)
	}
}

func (f *syncFixture) configure(t *testing.T, cfg sync.Config) {
	t.Helper()
	if _, err := f.eng.SaveSyncConfig(f.ctx, f.actor(), f.conn.ID, "user", cfg); err != nil {
		t.Fatal(err)
	}
}

// run starts a sync and works it to its end or hold.
func (f *syncFixture) run(t *testing.T, in engine.SyncStart) (*db.SyncRun, sync.Stats) {
	t.Helper()
	r, err := f.eng.StartSync(f.ctx, f.actor(), f.conn.ID, "user", in)
	if err != nil {
		t.Fatal(err)
	}
	return f.work(t, r.ID)
}

func (f *syncFixture) work(t *testing.T, id uuid.UUID) (*db.SyncRun, sync.Stats) {
	t.Helper()
	if err := f.eng.WorkSyncRun(f.ctx, id); err != nil {
		t.Fatal(err)
	}
	r, err := f.eng.SyncRun(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var st sync.Stats
	if err := json.Unmarshal(r.Stats, &st); err != nil {
		t.Fatal(err)
	}
	return r, st
}

func (f *syncFixture) matches(t *testing.T, filter string) map[string]engine.MatchItem {
	t.Helper()
	items, _, err := f.eng.SyncMatches(f.ctx, f.conn.ID, filter, "", db.Page{Page: 1, PageSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]engine.MatchItem{}
	for _, it := range items {
		out[it.DisplayName] = it
	}
	return out
}

func (f *syncFixture) changes(t *testing.T, runID uuid.UUID, kind string) []db.SyncChange {
	t.Helper()
	ch, _, err := f.eng.SyncChanges(f.ctx, runID, kind, db.Page{Page: 1, PageSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func TestSyncFullRunsWriteOnlyChangesAndGuardDeletions(t *testing.T) {
	f := setupSync(t)
	for i := 1; i <= 10; i++ {
		f.person(t, fmt.Sprintf("p%02d", i), fmt.Sprintf("Person %02d", i), fmt.Sprintf("p%02d@example.test", i), map[string][]string{"title": {"Engineer"}})
	}
	f.configure(t, sync.Config{})

	run, st := f.run(t, engine.SyncStart{})
	if run.Status != db.SyncCompleted || st.Fetched != 10 || st.Added != 10 || st.Unmatched != 10 {
		t.Fatalf("first run: %s %+v %v", run.Status, st, run.Error)
	}
	if n := len(f.changes(t, run.ID, "added")); n != 10 {
		t.Fatalf("report: %d added lines, want 10", n)
	}

	run, st = f.run(t, engine.SyncStart{})
	if st.Unchanged != 10 || st.Added+st.Updated+st.Stale != 0 {
		t.Fatalf("unchanged re-sync: %+v", st)
	}
	if n := len(f.changes(t, run.ID, "")); n != 0 {
		t.Fatalf("unchanged re-sync reported %d changes", n)
	}

	f.modify(t, "p03", "sn", "Manager")
	f.remove(t, "p10")
	run, st = f.run(t, engine.SyncStart{})
	if st.Updated != 1 || st.Stale != 1 || st.Unchanged != 8 {
		t.Fatalf("one changed, one gone: %+v", st)
	}
	up := f.changes(t, run.ID, "updated")
	if len(up) != 1 || !strings.Contains(string(up[0].Detail), "attributes.sn") {
		t.Fatalf("updated report: %+v", up)
	}

	// Three of the nine live people gone is a third: over the default 20 %.
	for _, uid := range []string{"p07", "p08", "p09"} {
		f.remove(t, uid)
	}
	run, st = f.run(t, engine.SyncStart{})
	if run.Status != db.SyncAwaitingApproval || st.Stale != 3 {
		t.Fatalf("guard: %s %+v", run.Status, st)
	}
	stale := true
	live, _, err := f.eng.SyncResources(f.ctx, f.conn.ID, "user", "", &stale, db.Page{Page: 1, PageSize: 50})
	if err != nil || len(live) != 1 {
		t.Fatalf("a held run must stale nothing: %d stale (%v)", len(live), err)
	}
	if _, err := f.eng.StartSync(f.ctx, f.actor(), f.conn.ID, "user", engine.SyncStart{}); err == nil {
		t.Fatal("a second run started while one is held")
	}
	if _, err := f.eng.AllowSync(f.ctx, f.actor(), run.ID); err != nil {
		t.Fatal(err)
	}
	run, st = f.work(t, run.ID)
	if run.Status != db.SyncCompleted || st.Stale != 3 {
		t.Fatalf("allowed: %s %+v", run.Status, st)
	}
	live, _, _ = f.eng.SyncResources(f.ctx, f.conn.ID, "user", "", &stale, db.Page{Page: 1, PageSize: 50})
	if len(live) != 4 {
		t.Fatalf("after allow: %d stale, want 4", len(live))
	}
}

func TestSyncDryRunKeepsOnlyItsReport(t *testing.T) {
	f := setupSync(t)
	f.person(t, "a", "Ann", "ann@example.test", nil)
	f.person(t, "b", "Bob", "bob@example.test", nil)
	f.configure(t, sync.Config{CreateUsers: true})
	run, st := f.run(t, engine.SyncStart{DryRun: true})
	if run.Status != db.SyncCompleted || st.Added != 2 || st.Created != 2 {
		t.Fatalf("dry run: %s %+v %v", run.Status, st, run.Error)
	}
	if n := len(f.changes(t, run.ID, "created")); n != 2 {
		t.Fatalf("dry run report: %d created lines", n)
	}
	all, total, err := f.eng.SyncResources(f.ctx, f.conn.ID, "user", "", nil, db.Page{Page: 1, PageSize: 10})
	if err != nil || total != 0 {
		t.Fatalf("a dry run kept %d records (%v)", len(all), err)
	}
	users, _ := db.FindLiveUsersByEmail(f.ctx, f.db.Bun, "ann@example.test")
	if len(users) != 0 {
		t.Fatal("a dry run created a user")
	}
}

func TestSyncMatchingOutcomesAndDecisionsSurviveRuns(t *testing.T) {
	f := setupSync(t)
	f.person(t, "exact", "Exact Person", "Exact.Person@Example.test", nil)
	f.person(t, "twice", "Twice Person", "twice@example.test", nil)
	f.person(t, "noone", "Nobody Here", "nobody@example.test", nil)
	f.person(t, "nomail", "No Mail", "", nil)
	f.person(t, "upstream", "Upstream Person", "other@example.test", nil)
	f.person(t, "skipme", "Skip Me", "skip@example.test", nil)
	exact := dbtest.User(t, f.db, "exact.person@example.test")
	dbtest.User(t, f.db, "twice@example.test")
	dbtest.User(t, f.db, "TWICE@example.test")
	// The upstream person is found by the fallback: their Floh user carries the record's
	// entryUUID as upstream_id, which the run learns on its first pass.
	f.configure(t, sync.Config{UserMatchFallbackStrategies: []string{sync.MatchUpstreamIdentity}})
	f.run(t, engine.SyncStart{})
	m := f.matches(t, "")
	upstreamUser := dbtest.User(t, f.db, "upstream.person@elsewhere.test")
	ext := m["Upstream Person"].ExternalID
	upstreamUser.UpstreamID = &ext
	if err := db.UpdateUser(f.ctx, f.db.Bun, upstreamUser); err != nil {
		t.Fatal(err)
	}
	_, st := f.run(t, engine.SyncStart{})
	m = f.matches(t, "")
	want := map[string]string{
		"Exact Person": "matched_exact", "Twice Person": "ambiguous", "Nobody Here": "unmatched",
		"No Mail": "unmatched", "Upstream Person": "matched_probable", "Skip Me": "unmatched",
	}
	for name, status := range want {
		if m[name].Status != status {
			t.Errorf("%s: %s, want %s", name, m[name].Status, status)
		}
	}
	if m["Exact Person"].UserID == nil || *m["Exact Person"].UserID != exact.ID || len(m["Twice Person"].Candidates) != 2 {
		t.Fatalf("match users: %+v / %+v", m["Exact Person"], m["Twice Person"])
	}
	if st.MatchedExact != 1 || st.MatchedProbable != 1 || st.Ambiguous != 1 || st.Unmatched != 3 {
		t.Fatalf("stats: %+v", st)
	}

	// Decisions: link the ambiguous one, skip another, unlink the exact one.
	pick := m["Twice Person"].Candidates[1].ID
	if _, err := f.eng.LinkMatch(f.ctx, f.actor(), f.conn.ID, m["Twice Person"].ResourceID, pick); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.SkipMatch(f.ctx, f.actor(), f.conn.ID, m["Skip Me"].ResourceID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.UnlinkMatch(f.ctx, f.actor(), f.conn.ID, m["Exact Person"].ResourceID); err != nil {
		t.Fatal(err)
	}
	if got := f.matches(t, "")["Exact Person"].Status; got != "unmatched" {
		t.Fatalf("unlinked: %s", got)
	}
	f.modify(t, "twice", "sn", "Changed")
	f.run(t, engine.SyncStart{})
	m = f.matches(t, "")
	if m["Twice Person"].Status != "manual" || *m["Twice Person"].UserID != pick {
		t.Fatalf("a link must survive runs: %+v", m["Twice Person"])
	}
	if m["Skip Me"].Status != "skipped" || m["Exact Person"].Status != "matched_exact" {
		t.Fatalf("skip kept, unlink rematched: %s, %s", m["Skip Me"].Status, m["Exact Person"].Status)
	}
	ids, err := db.ListExternalIdentities(f.ctx, f.db.Bun, pick)
	if err != nil || len(ids) != 1 || ids[0].Source != "connector_sync" {
		t.Fatalf("the link writes an external identity: %+v %v", ids, err)
	}
	if got := f.matches(t, "matched"); len(got) != 2 {
		t.Fatalf("the Matched filter: %d items", len(got))
	}
}

func addGroup(c *ldap.Conn, base, cn string, members ...string) error {
	req := ldap.NewAddRequest("cn="+cn+","+base, nil)
	req.Attribute("objectClass", []string{"groupOfNames"})
	req.Attribute("cn", []string{cn})
	req.Attribute("member", members)
	return c.Add(req)
}

// A directory's extra user attributes reach the records and, through a mapping, profiles.
func TestSyncLDAPExtraAttributesMapToProfiles(t *testing.T) {
	f := setupSync(t)
	cfg := map[string]any{}
	if err := json.Unmarshal(f.conn.Config, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["userAttributes"] = "title, departmentNumber"
	if _, err := f.eng.UpdateConnector(f.ctx, f.actor(), f.conn.ID, engine.ConnectorInput{Name: f.conn.Name, Type: "ldap", Config: cfg}); err != nil {
		t.Fatal(err)
	}
	f.person(t, "ext", "Extra Person", "extra@example.test", map[string][]string{"title": {"Engineer"}, "departmentNumber": {"42", "43"}})
	u := dbtest.User(t, f.db, "extra@example.test")
	f.configure(t, sync.Config{AttributeMappings: []sync.Mapping{
		{SourcePath: "attributes.title", TargetField: "title", WriteMode: sync.OverwriteAlways, Enabled: true},
		{SourcePath: "attributes.departmentNumber", TargetField: "department", WriteMode: sync.OverwriteAlways, Enabled: true},
	}})
	_, st := f.run(t, engine.SyncStart{})
	prof, err := db.FindProfile(f.ctx, f.db.Bun, u.ID)
	if err != nil || prof.Title == nil || *prof.Title != "Engineer" || prof.Department == nil || *prof.Department != "42" || st.Mapped != 2 {
		t.Fatalf("profile: %+v %+v %v", prof, st, err)
	}
	cfg["userAttributes"] = "title, bad name!"
	_, err = f.eng.UpdateConnector(f.ctx, f.actor(), f.conn.ID, engine.ConnectorInput{Name: f.conn.Name, Type: "ldap", Config: cfg})
	wantValidation(t, err, "config.userAttributes")
}

// External ID matches a record's id against users' sub; Email + Issuer reads the issuer at
// issuerSourcePath, here a directory attribute read through userAttributes.
func TestSyncExternalIDAndEmailIssuerOnLDAP(t *testing.T) {
	f := setupSync(t)
	cfg := map[string]any{}
	if err := json.Unmarshal(f.conn.Config, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["userAttributes"] = "o"
	if _, err := f.eng.UpdateConnector(f.ctx, f.actor(), f.conn.ID, engine.ConnectorInput{Name: f.conn.Name, Type: "ldap", Config: cfg}); err != nil {
		t.Fatal(err)
	}
	f.person(t, "sub", "By Sub", "by.sub@example.test", nil)
	f.person(t, "iss", "By Issuer", "shared@example.test", map[string][]string{"o": {"https://idp.one"}})
	f.configure(t, sync.Config{UserMatchStrategy: sync.MatchExternalID})
	f.run(t, engine.SyncStart{})
	m := f.matches(t, "")
	bySub := dbtest.User(t, f.db, "someone.else@example.test")
	bySub.Sub = m["By Sub"].ExternalID
	if err := db.UpdateUser(f.ctx, f.db.Bun, bySub); err != nil {
		t.Fatal(err)
	}
	one := withIssuer(t, f, "shared@example.test", "https://idp.one")
	withIssuer(t, f, "Shared@example.test", "https://idp.two")
	f.run(t, engine.SyncStart{})
	m = f.matches(t, "")
	if it := m["By Sub"]; it.Status != "matched_exact" || *it.UserID != bySub.ID || it.MatchedBy != sync.MatchExternalID {
		t.Fatalf("external id: %+v", it)
	}
	if m["By Issuer"].Status != "unmatched" {
		t.Fatalf("by issuer under External ID: %+v", m["By Issuer"])
	}
	f.configure(t, sync.Config{UserMatchStrategy: sync.MatchEmailIssuer, IssuerSourcePath: "attributes.o"})
	f.run(t, engine.SyncStart{})
	m = f.matches(t, "")
	if it := m["By Issuer"]; it.Status != "matched_exact" || *it.UserID != one.ID {
		t.Fatalf("email + issuer: %+v", it)
	}
}
