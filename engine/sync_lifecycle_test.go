package engine_test

import (
	"context"
	"fmt"
	stdsync "sync"
	"testing"
	"time"

	"floh/connectors"
	"floh/db"
	"floh/db/dbtest"
	"floh/engine"
	"floh/engine/sync"
)

// pagedType lists a fixed directory in pages of two and calls the listing's hook before each
// page: tests use it to stop a run between pages, as a process that dies mid-listing would.
var pagedType = &connectors.Type{
	Name: "paged", Label: "Paged", Description: "a directory that lists in pages of two",
	Config: []connectors.Field{{Name: "url", Label: "URL", Kind: connectors.KindString, Required: true}},
	Commands: []connectors.Command{{Name: "listUsers", Label: "List users", SyncCapable: connectors.ResourceUser,
		Outputs: []connectors.Output{{Name: "users", Kind: connectors.KindArray}}}},
	New: func(cfg connectors.Config) (connectors.Connector, error) { return &paged{url: cfg.String("url")}, nil },
}

type pagedDirectory struct {
	mu      stdsync.Mutex
	records []connectors.Record
	// beforePage runs before the page that starts at index i; an error stops the listing.
	beforePage func(ctx context.Context, i int) error
	// cursors are the cursors the listings started from.
	cursors []string
}

var pagedDirectories stdsync.Map // url → *pagedDirectory

type paged struct{ url string }

func (p *paged) dir() *pagedDirectory {
	v, _ := pagedDirectories.Load(p.url)
	return v.(*pagedDirectory)
}

func (p *paged) Test(context.Context) (connectors.TestResult, error) {
	return connectors.TestResult{Message: "paged"}, nil
}

func (p *paged) Execute(context.Context, string, map[string]any) (map[string]any, error) {
	return map[string]any{}, nil
}

func (p *paged) List(ctx context.Context, _ string, opts connectors.ListOptions, yield func(connectors.Page) error) error {
	d := p.dir()
	d.mu.Lock()
	d.cursors = append(d.cursors, opts.Cursor)
	recs := append([]connectors.Record(nil), d.records...)
	hook := d.beforePage
	d.mu.Unlock()
	start := 0
	if opts.Cursor != "" {
		fmt.Sscan(opts.Cursor, &start)
	}
	for i := start; i < len(recs); i += 2 {
		if hook != nil {
			if err := hook(ctx, i); err != nil {
				return err
			}
		}
		page := connectors.Page{Records: recs[i:min(i+2, len(recs))]}
		if i+2 < len(recs) {
			page.NextCursor = fmt.Sprint(i + 2)
		}
		if err := yield(page); err != nil {
			return err
		}
	}
	return nil
}

func setupPaged(t *testing.T, n int) (*syncFixture, *pagedDirectory) {
	t.Helper()
	reg, err := connectors.NewRegistry(pagedType)
	if err != nil {
		t.Fatal(err)
	}
	f := &syncFixture{fixture: setup(t, func(o *engine.Options) { o.Connectors = reg })}
	d := &pagedDirectory{}
	for i := range n {
		d.records = append(d.records, connectors.Record{ExternalID: fmt.Sprintf("id-%02d", i), Email: fmt.Sprintf("p%02d@example.test", i),
			DisplayName: fmt.Sprintf("P%02d", i), Attributes: map[string]any{"department": "Sales"}})
	}
	url := "paged://" + t.Name()
	pagedDirectories.Store(url, d)
	t.Cleanup(func() { pagedDirectories.Delete(url) })
	f.conn, err = f.eng.CreateConnector(f.ctx, f.actor(), engine.ConnectorInput{Name: "Paged", Type: "paged", Config: map[string]any{"url": url}})
	if err != nil {
		t.Fatal(err)
	}
	return f, d
}

// A run whose process stops mid-listing keeps what it staged and goes on after its last
// staged page when its job is worked again.
func TestSyncResumesAfterTheLastStagedPage(t *testing.T) {
	f, d := setupPaged(t, 7)
	f.configure(t, sync.Config{})
	run, err := f.eng.StartSync(f.ctx, f.actor(), f.conn.ID, "user", engine.SyncStart{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(f.ctx)
	d.beforePage = func(_ context.Context, i int) error {
		if i == 4 {
			stop()
			return ctx.Err()
		}
		return nil
	}
	if err := f.eng.WorkSyncRun(ctx, run.ID); err == nil {
		t.Fatal("a stopped process must leave the run to its job")
	}
	mid, _ := f.eng.SyncRun(f.ctx, run.ID)
	if mid.Status != db.SyncRunning || mid.Fetched != 4 {
		t.Fatalf("after the stop: %s, %d fetched", mid.Status, mid.Fetched)
	}
	d.beforePage = nil
	done, st := f.work(t, run.ID)
	if done.Status != db.SyncCompleted || st.Fetched != 7 || st.Added != 7 {
		t.Fatalf("resumed: %s %+v", done.Status, st)
	}
	if d.cursors[len(d.cursors)-1] != "4" {
		t.Fatalf("the listing resumed from %q, want the cursor after the second page", d.cursors)
	}
}

// Deactivate users soft-deletes a user whose only live match went stale in a full run, never
// one another connector still matches, nor an admin; the guard counts what it would do.
func TestSyncDeactivateUsers(t *testing.T) {
	f, d := setupPaged(t, 10)
	gone := dbtest.User(t, f.db, "p00@example.test")
	elsewhere := dbtest.User(t, f.db, "p01@example.test")
	admin := dbtest.User(t, f.db, "p02@example.test", engine.RoleAdmin)
	f.configure(t, sync.Config{DeactivateUsers: true, DeletionGuard: sync.Guard{MaxPercent: 100, MaxCount: 1000}})
	f.run(t, engine.SyncStart{})

	other, od := setupPagedOn(t, f, "Other")
	od.records = []connectors.Record{{ExternalID: "x1", Email: "p01@example.test", DisplayName: "P01 elsewhere"}}
	if _, err := f.eng.SaveSyncConfig(f.ctx, f.actor(), other.ID, "user", sync.Config{}); err != nil {
		t.Fatal(err)
	}
	r, err := f.eng.StartSync(f.ctx, f.actor(), other.ID, "user", engine.SyncStart{})
	if err != nil {
		t.Fatal(err)
	}
	f.work(t, r.ID)

	d.records = d.records[3:]
	run, st := f.run(t, engine.SyncStart{})
	if run.Status != db.SyncCompleted || st.Stale != 3 || st.Deactivated != 1 {
		t.Fatalf("deactivation: %s %+v", run.Status, st)
	}
	for _, c := range []struct {
		u       *db.User
		deleted bool
	}{{gone, true}, {elsewhere, false}, {admin, false}} {
		u, _ := db.FindUser(f.ctx, f.db.Bun, c.u.ID)
		if u.Deleted() != c.deleted {
			t.Errorf("%s deleted: %v, want %v", u.Email, u.Deleted(), c.deleted)
		}
	}
	if ch := f.changes(t, run.ID, "deactivated"); len(ch) != 1 || *ch[0].UserID != gone.ID {
		t.Fatalf("report: %+v", ch)
	}
}

// setupPagedOn adds a second paged connector to a fixture.
func setupPagedOn(t *testing.T, f *syncFixture, name string) (*db.Connector, *pagedDirectory) {
	t.Helper()
	d := &pagedDirectory{}
	url := "paged://" + t.Name() + "/" + name
	pagedDirectories.Store(url, d)
	t.Cleanup(func() { pagedDirectories.Delete(url) })
	c, err := f.eng.CreateConnector(f.ctx, f.actor(), engine.ConnectorInput{Name: name, Type: "paged", Config: map[string]any{"url": url}})
	if err != nil {
		t.Fatal(err)
	}
	return c, d
}

// Filters keep records by email domain; a listing cut at maxRecords is truncated and stales
// nothing; stale records are purged once past retention.
func TestSyncFiltersAndRetention(t *testing.T) {
	f, d := setupPaged(t, 6)
	d.records[0].Email = "p00@elsewhere.test"
	f.configure(t, sync.Config{Filters: sync.Filters{EmailDomains: []string{"@Example.TEST"}}, StaleRetention: "1h",
		DeletionGuard: sync.Guard{MaxPercent: 100, MaxCount: 1000}})
	_, st := f.run(t, engine.SyncStart{})
	if st.Fetched != 5 {
		t.Fatalf("email domains: %+v", st)
	}
	f.configure(t, sync.Config{Filters: sync.Filters{MaxRecords: 3}, StaleRetention: "1h",
		DeletionGuard: sync.Guard{MaxPercent: 100, MaxCount: 1000}})
	run, st := f.run(t, engine.SyncStart{})
	if !run.Truncated || st.Fetched != 3 || st.Stale != 0 {
		t.Fatalf("maxRecords: truncated %v %+v", run.Truncated, st)
	}
	f.configure(t, sync.Config{StaleRetention: "1h", DeletionGuard: sync.Guard{MaxPercent: 100, MaxCount: 1000}})
	d.records = d.records[:4]
	_, st = f.run(t, engine.SyncStart{})
	if st.Stale != 2 {
		t.Fatalf("stale: %+v", st)
	}
	f.clock.Advance(59 * time.Minute)
	if _, st = f.run(t, engine.SyncStart{}); st.Purged != 0 {
		t.Fatalf("purged before retention: %+v", st)
	}
	f.clock.Advance(time.Minute)
	if _, st = f.run(t, engine.SyncStart{}); st.Purged != 2 {
		t.Fatalf("purged at retention: %+v", st)
	}
}

// Groups are cached with their members and never matched.
func TestSyncGroups(t *testing.T) {
	f := setupSync(t)
	f.person(t, "g1", "Grace", "grace@example.test", nil)
	c, err := f.slapd.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := addGroup(c, f.slapd.GroupBaseDN, "engineers", "uid=g1,"+f.slapd.UserBaseDN); err != nil {
		t.Fatal(err)
	}
	r, err := f.eng.StartSync(f.ctx, f.actor(), f.conn.ID, "group", engine.SyncStart{})
	if err != nil {
		t.Fatal(err)
	}
	run, st := f.work(t, r.ID)
	if run.Status != db.SyncCompleted || st.Added != 1 || st.Unmatched != 0 {
		t.Fatalf("groups: %s %+v %v", run.Status, st, run.Error)
	}
	groups, _, err := f.eng.SyncResources(f.ctx, f.conn.ID, "group", "engin", nil, db.Page{Page: 1, PageSize: 10})
	if err != nil || len(groups) != 1 || groups[0].MatchStatus != nil {
		t.Fatalf("group records: %+v %v", groups, err)
	}
	if _, _, err := f.eng.SyncMatches(f.ctx, f.conn.ID, "", "", db.Page{Page: 1, PageSize: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.SaveSyncConfig(f.ctx, f.actor(), f.conn.ID, "group", sync.Config{CreateUsers: true}); err == nil {
		t.Fatal("user lifecycle on groups was accepted")
	}
}

// A scheduled tick fired by two replicas starts one run; a tick the cron no longer has
// starts none.
func TestSyncScheduledTickStartsOneRun(t *testing.T) {
	f, _ := setupPaged(t, 2)
	f.configure(t, sync.Config{Enabled: true, Cron: "*/30 * * * *"})
	tick := f.clock.Now().UTC().Truncate(time.Hour)
	for range 2 {
		if err := f.eng.WorkSyncTick(f.ctx, f.conn.ID, "user", tick); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.eng.WorkSyncTick(f.ctx, f.conn.ID, "user", tick.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	runs, total, err := f.eng.SyncRuns(f.ctx, f.conn.ID, "user", db.Page{Page: 1, PageSize: 10})
	if err != nil || total != 1 || runs[0].Trigger != "schedule" || !runs[0].ScheduledFor.Equal(tick) {
		t.Fatalf("runs: %d %+v %v", total, runs, err)
	}
	f.work(t, runs[0].ID)
	if err := f.eng.WorkSyncTick(f.ctx, f.conn.ID, "user", tick); err != nil {
		t.Fatal(err)
	}
	if _, total, _ = f.eng.SyncRuns(f.ctx, f.conn.ID, "user", db.Page{Page: 1, PageSize: 10}); total != 1 {
		t.Fatalf("a late duplicate of a finished tick started run %d", total)
	}
}
