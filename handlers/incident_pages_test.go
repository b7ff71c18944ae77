package handlers_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"floh/db"
	"floh/engine"
	esync "floh/engine/sync"
)

func TestIncidentShowsItsConnectorsRecentConfigurationChanges(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.loginAs(t, "demo-admin")
	ctx := context.Background()
	dir, _ := ts.syncDirectory(t, "Directory")
	if _, err := ts.Engine.SaveSyncConfig(ctx, ts.adminActor(t), dir.ID, "user", esync.Config{Cron: "0 1 * * *", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	inc, err := ts.Engine.ReportFailure(ctx, engine.Failure{
		Kind: "connector_sync", Severity: "critical", Subject: db.Subject{Kind: "connector", ID: dir.ID.String(), Name: dir.Name},
		Title: "Scheduled sync of Directory is failing", Message: "connection refused",
	})
	if err != nil {
		t.Fatal(err)
	}
	body := ts.get(t, c, "/incidents/"+inc.ID.String()).wantStatus(t, http.StatusOK).Body
	conn := section(t, body, "incident-connector", `data-testid="incident-timeline"`)
	wantInOrder(t, "changes, newest first", conn, "connector.sync_configured", "connector.created")
	wantContains(t, "incident", conn, `href="/connectors/`+dir.ID.String()+`?tab=test"`,
		`href="/connectors/`+dir.ID.String()+`?tab=configuration"`, `href="`+syncTab(dir)+`"`,
		`href="/audit?entity=connector&amp;entityId=`+dir.ID.String()+`"`, "by admin@example.test")
	// Each change opens the audit log at that entry.
	link := regexp.MustCompile(`href="(/audit\?action=connector.sync_configured[^"]*)"`).FindStringSubmatch(conn)
	if link == nil {
		t.Fatalf("no audit link of the change in:\n%s", conn)
	}
	audit := ts.get(t, c, strings.ReplaceAll(link[1], "&amp;", "&")).wantStatus(t, http.StatusOK).Body
	if n := strings.Count(audit, `data-testid="audit-row-`); n != 1 || !strings.Contains(audit, "connector.sync_configured") {
		t.Errorf("the change's audit link lists %d entries", n)
	}

	// Changes older than a week are not recent.
	ts.Clock.Advance(8 * 24 * time.Hour)
	c = ts.loginAs(t, "demo-admin") // the session did not last the week
	body = ts.get(t, c, "/incidents/"+inc.ID.String()).Body
	wantContains(t, "a week later", body, `data-testid="incident-no-changes"`, "No configuration changes in the last 7 days.")

	// An incident about something else has no connector section.
	other, err := ts.Engine.ReportFailure(ctx, engine.Failure{Kind: "compensation", Severity: "critical",
		Subject: db.Subject{Kind: "run", ID: uuid.NewString(), Name: "Onboarding"}, Title: "Rollback failed", Message: "boom"})
	if err != nil {
		t.Fatal(err)
	}
	wantLacks(t, "run incident", ts.get(t, c, "/incidents/"+other.ID.String()).Body, `data-testid="incident-connector"`)
}
