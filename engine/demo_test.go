package engine_test

import (
	"encoding/json"
	"strings"
	"testing"

	"floh/db"
	"floh/engine"
)

// auditActions lists the audit entries on an entity, oldest first, as "actor action".
func auditActions(t *testing.T, f *fixture, entity, id string) []string {
	t.Helper()
	entries, _, err := db.ListAudit(f.ctx, f.db.Bun, db.AuditFilter{Entity: entity, EntityID: id, Page: db.Page{Page: 1, PageSize: 100}})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(entries))
	for i, e := range entries {
		out[len(entries)-1-i] = e.Actor + " " + e.Action
	}
	return out
}

func TestEnsureDemoConnectorCreatesOnceAndRepointsIt(t *testing.T) {
	t.Parallel()
	f := setup(t)
	demo := func(url, token string) engine.ConnectorInput {
		return engine.ConnectorInput{Name: "Demo directory", Type: "probe", Description: "the demo",
			Config: map[string]any{"url": url, "token": token}}
	}
	refresh := []string{"url", "token"}
	c, created, err := f.eng.EnsureDemoConnector(f.ctx, demo("probe://first", "s1"), refresh)
	if err != nil || !created || c.ID != engine.DemoConnectorID || c.Name != "Demo directory" {
		t.Fatalf("first start: %v created=%v %+v", err, created, c)
	}

	// The admin renames it, turns it off and changes a setting the demo does not own.
	in := probeInput("My demo", "probe://first")
	in.Config["pageSize"] = 7
	off := false
	in.Enabled = &off
	delete(in.Config, "token")
	if _, err := f.eng.UpdateConnector(f.ctx, f.actor(), c.ID, in); err != nil {
		t.Fatal(err)
	}
	second := demo("probe://second", "the-second-secret")
	second.Config["pageSize"] = 100 // not refreshed: the admin's 7 stays
	c, created, err = f.eng.EnsureDemoConnector(f.ctx, second, refresh)
	if err != nil || created || c.ID != engine.DemoConnectorID {
		t.Fatalf("second start: %v created=%v", err, created)
	}
	var config map[string]any
	if err := json.Unmarshal(c.Config, &config); err != nil {
		t.Fatal(err)
	}
	if c.Name != "My demo" || c.Enabled || config["url"] != "probe://second" || config["pageSize"] != 7.0 || config["token"] != nil {
		t.Fatalf("after the second start: %s enabled=%v %v", c.Name, c.Enabled, config)
	}
	// The new secret is the one the connector uses (once the admin turns it back on).
	on := true
	in.Enabled = &on
	if _, err := f.eng.UpdateConnector(f.ctx, f.actor(), c.ID, in); err != nil {
		t.Fatal(err)
	}
	out, err := f.eng.TestConnector(f.ctx, f.actor(), c.ID, engine.SourceConsole)
	if err != nil || out.Message != "probe reached with token of length 17" {
		t.Fatalf("test after the second start: %+v %v", out, err)
	}
	if n, _ := f.db.Bun.NewSelect().Table("connectors").Count(f.ctx); n != 1 {
		t.Fatalf("%d connectors after two starts, want 1", n)
	}

	// A deleted demo connector comes back.
	if _, err := f.eng.DeleteConnector(f.ctx, f.actor(), c.ID); err != nil {
		t.Fatal(err)
	}
	if c, _, err = f.eng.EnsureDemoConnector(f.ctx, demo("probe://third", "s3"), refresh); err != nil || c.Deleted() {
		t.Fatalf("after a delete: %v %+v", err, c)
	}
	got := strings.Join(auditActions(t, f, "connector", c.ID.String()), ", ")
	want := "system connector.created, root-admin@example.test connector.updated, system connector.updated, root-admin@example.test connector.updated, " +
		"root-admin@example.test connector.deleted, system connector.restored, system connector.updated"
	if got != want {
		t.Errorf("audit:\n got %s\nwant %s", got, want)
	}
	entries, _, _ := db.ListAudit(f.ctx, f.db.Bun, db.AuditFilter{Entity: "connector", Page: db.Page{Page: 1, PageSize: 100}})
	for _, e := range entries {
		if b, _ := json.Marshal(e); strings.Contains(string(b), "the-second-secret") {
			t.Fatalf("the audit holds a secret: %s", b)
		}
	}
}

func TestEnsureDemoConnectorRefusesATakenName(t *testing.T) {
	t.Parallel()
	f := setup(t)
	if _, err := f.eng.CreateConnector(f.ctx, f.actor(), probeInput("Demo directory", "probe://mine")); err != nil {
		t.Fatal(err)
	}
	_, _, err := f.eng.EnsureDemoConnector(f.ctx, probeInput("Demo directory", "probe://demo"), []string{"url", "token"})
	wantConflict(t, err)
	if !strings.Contains(err.Error(), `another connector is named "Demo directory"`) {
		t.Errorf("message %q", err)
	}
	if _, err := db.FindConnector(f.ctx, f.db.Bun, engine.DemoConnectorID); err == nil {
		t.Error("the demo connector was created beside the admin's")
	}
}

func TestSeedDemoDirectoryUsersIsIdempotentAndKeepsCase(t *testing.T) {
	t.Parallel()
	f := setup(t)
	kept, _, err := f.eng.CreateUser(f.ctx, f.actor(), engine.CreateUserInput{Email: "kept@corp.example.test", DisplayName: "Renamed by an admin"})
	if err != nil {
		t.Fatal(err)
	}
	gone, _, _ := f.eng.CreateUser(f.ctx, f.actor(), engine.CreateUserInput{Email: "gone@corp.example.test"})
	if _, err := f.eng.DeleteUser(f.ctx, f.actor(), gone.ID); err != nil {
		t.Fatal(err)
	}
	users := []engine.DemoDirectoryUser{
		{Email: "sam.lee@corp.example.test", DisplayName: "Sam Lee"},
		{Email: "SAM.LEE@CORP.EXAMPLE.TEST", DisplayName: "Sam Lee (duplicate)"},
		{Email: "kept@corp.example.test", DisplayName: "Kept"},
		{Email: "gone@corp.example.test", DisplayName: "Gone"},
		{Email: "x@alumni.example.test", DisplayName: "X", UpstreamID: "a7b3c0de-0000-4000-8000-000000000001"},
		{Email: "y@contractors.example.test", DisplayName: "Y", UpstreamID: "a7b3c0de-0000-4000-8000-000000000001"},
	}
	created, err := f.eng.SeedDemoDirectoryUsers(f.ctx, users)
	if err != nil || created != 4 {
		t.Fatalf("first seed: %v, created %d, want 4", err, created)
	}
	if created, err = f.eng.SeedDemoDirectoryUsers(f.ctx, users); err != nil || created != 0 {
		t.Fatalf("second seed: %v, created %d, want 0", err, created)
	}
	var rows []db.User
	if err := f.db.Bun.NewSelect().Model(&rows).Where("email ILIKE '%example.test' AND email NOT LIKE 'root-admin%'").OrderExpr("email").Scan(f.ctx); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 6 {
		t.Fatalf("%d users, want 6", len(rows))
	}
	sharing := 0
	for _, u := range rows {
		if u.UpstreamID != nil && *u.UpstreamID == "a7b3c0de-0000-4000-8000-000000000001" {
			sharing++
		}
		if u.ID != kept.ID && u.ID != gone.ID && (u.Iss != db.UnconfirmedIssuer || u.Confirmed || !u.Active) {
			t.Errorf("seeded user %+v: want pre-provisioned, unconfirmed, active", u)
		}
	}
	if sharing != 2 || dbUser(t, f, kept.ID).DisplayName != "Renamed by an admin" || dbUser(t, f, gone.ID).DeletedAt == nil {
		t.Errorf("%d users share the upstream id; the admin's user and deletion must stand", sharing)
	}
	if got := auditActions(t, f, "user", ""); len(got) != 2+1+4 || got[len(got)-1] != "system user.created" {
		t.Errorf("audit %v: want the admin's three entries and four by the system", got)
	}

	_, err = f.eng.SeedDemoDirectoryUsers(f.ctx, []engine.DemoDirectoryUser{{Email: "fine@example.test"}, {Email: "not an email"}})
	wantValidation(t, err, "users[1].email")
}
