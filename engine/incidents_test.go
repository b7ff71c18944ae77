package engine_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"floh/connectors/email"
	"floh/connectors/email/smtptest"
	"floh/db"
	"floh/engine"
)

func timelineEntries(inc *db.Incident) []string {
	var out []string
	for _, e := range inc.Timeline {
		out = append(out, e.Entry)
	}
	return out
}

func TestIncidentLifecycle(t *testing.T) {
	t.Parallel()
	f := setup(t)
	conn := db.Subject{Kind: "connector", ID: "c-1", Name: "Corp AD"}
	fail := engine.Failure{
		Kind: "connector_sync", Severity: "warning", Subject: conn, Title: "Corp AD sync failing",
		Message: "bind failed: invalid credentials", Data: map[string]any{"code": 49},
	}
	inc, err := f.eng.ReportFailure(f.ctx, fail)
	if err != nil || inc.Status != db.IncidentOpen || !inc.OpenedAt.Equal(t0) {
		t.Fatalf("open: %v %+v", err, inc)
	}
	f.clock.Advance(10 * time.Minute)
	fail.Severity = "critical"
	again, err := f.eng.ReportFailure(f.ctx, fail)
	if err != nil || again.ID != inc.ID || again.Severity != "critical" {
		t.Fatalf("a second failure extends the incident and raises its severity: %v %+v", err, again)
	}
	// Another subject gets its own incident.
	other, err := f.eng.ReportFailure(f.ctx, engine.Failure{Kind: "connector_sync", Severity: "warning",
		Subject: db.Subject{Kind: "connector", ID: "c-2"}, Title: "other", Message: "x"})
	if err != nil || other.ID == inc.ID {
		t.Fatalf("other subject: %v", err)
	}

	f.clock.Advance(5 * time.Minute)
	if moved, err := f.eng.ReportRecovery(f.ctx, "connector_sync", conn, "sync succeeded"); err != nil || !moved {
		t.Fatalf("recovery: %v %v", moved, err)
	}
	if moved, err := f.eng.ReportRecovery(f.ctx, "connector_sync", db.Subject{Kind: "connector", ID: "none"}, "ok"); err != nil || moved {
		t.Fatalf("recovery without an incident: %v %v", moved, err)
	}
	// 59 minutes later it is still monitoring; a failure now reopens it.
	f.clock.Advance(59 * time.Minute)
	if n, err := f.eng.AgeIncidents(f.ctx); err != nil || n != 0 {
		t.Fatalf("aged too early: %d %v", n, err)
	}
	if _, err := f.eng.ReportFailure(f.ctx, fail); err != nil {
		t.Fatal(err)
	}
	got, _ := db.FindIncident(f.ctx, f.db.Bun, inc.ID)
	if got.Status != db.IncidentOpen || got.MonitoringSince != nil {
		t.Fatalf("a failure while monitoring reopens: %+v", got)
	}
	// Success, then an hour without failure: resolved.
	if _, err := f.eng.ReportRecovery(f.ctx, "connector_sync", conn, "sync succeeded again"); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour)
	if n, err := f.eng.AgeIncidents(f.ctx); err != nil || n != 1 {
		t.Fatalf("age: %d %v", n, err)
	}
	got, _ = db.FindIncident(f.ctx, f.db.Bun, inc.ID)
	want := []string{"opened", "failure", "monitoring", "reopened", "monitoring", "resolved"}
	if got.Status != db.IncidentResolved || got.ResolvedAt == nil || !slices.Equal(timelineEntries(got), want) {
		t.Fatalf("resolved: %s %v", got.Status, timelineEntries(got))
	}
	var data map[string]any
	if err := json.Unmarshal(got.Timeline[0].Data, &data); err != nil || data["code"] != float64(49) {
		t.Fatalf("timeline data: %s", got.Timeline[0].Data)
	}
	// A new failure after resolution opens a new incident.
	next, err := f.eng.ReportFailure(f.ctx, fail)
	if err != nil || next.ID == inc.ID {
		t.Fatalf("after resolution a new incident opens: %v", err)
	}
	// Admins were told about each opening and the reopening, not about repeats.
	ns, _, err := db.ListNotifications(f.ctx, f.db.Bun, f.admin.ID, false, db.Page{Page: 1, PageSize: 50})
	if err != nil {
		t.Fatal(err)
	}
	var titles []string
	for _, n := range ns {
		titles = append(titles, n.Title)
	}
	if len(ns) != 4 || !strings.HasPrefix(titles[0], "Incident opened") || ns[0].Link != "/incidents/"+next.ID.String() {
		t.Fatalf("notifications: %v", titles)
	}
}

func TestHousekeepingJobAgesIncidentsOnTheInjectedClock(t *testing.T) {
	t.Parallel()
	f := setup(t)
	s := db.Subject{Kind: "connector", ID: "c-9"}
	inc, err := f.eng.ReportFailure(f.ctx, engine.Failure{Kind: "connector_health", Severity: "warning", Subject: s, Title: "down", Message: "refused"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.ReportRecovery(f.ctx, "connector_health", s, "up"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	if err := f.eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.eng.Stop(context.Background()) }()
	// Move the fake clock past the quiet period minute by minute, as the scheduler sees it,
	// and wait for the job's effect (never for real minutes).
	deadline := time.Now().Add(20 * time.Second)
	for {
		_ = f.clock.BlockUntilContext(ctx, 1)
		f.clock.Advance(time.Minute)
		got, _ := db.FindIncident(f.ctx, f.db.Bun, inc.ID)
		if got.Status == db.IncidentResolved {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the housekeeping job did not resolve the incident; clock at %s", f.clock.Now())
		}
	}
}

func TestNotifyAdminsSendsDurableEmail(t *testing.T) {
	t.Parallel()
	sink := smtptest.Start(t)
	mailer, err := email.ParseURL("smtp://" + sink.Addr + "?from=floh@example.test&tls=none")
	if err != nil {
		t.Fatal(err)
	}
	f := setup(t, func(o *engine.Options) { o.Mailer = mailer })
	second := dbtestUser(t, f, "second-admin@example.test", engine.RoleAdmin)
	dbtestUser(t, f, "approver@example.test", engine.RoleApprover)
	if err := f.eng.NotifyAdmins(f.ctx, engine.Notice{Kind: "test", Title: "Corp AD is down", Body: "Two health checks failed.", Link: "/incidents/x"}); err != nil {
		t.Fatal(err)
	}
	// Queued in the same transaction; nothing is sent until the worker runs.
	if n, _ := db.CountUnreadNotifications(f.ctx, f.db.Bun, second); n != 1 {
		t.Fatalf("in-app notification for the second admin: %d", n)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	if err := f.eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.eng.Stop(context.Background()) }()
	var rcpts []string
	for _, m := range sink.Wait(t, 2, 15*time.Second) {
		rcpts = append(rcpts, m.To...)
		if m.Envelope.GetHeader("Subject") != "[Floh] Corp AD is down" || !strings.Contains(m.Envelope.Text, "Two health checks failed.") ||
			!strings.Contains(m.Envelope.Text, "https://floh.example.test/incidents/x") {
			t.Fatalf("email: subject %q body %q", m.Envelope.GetHeader("Subject"), m.Envelope.Text)
		}
	}
	slices.Sort(rcpts)
	if !slices.Equal(rcpts, []string{"root-admin@example.test", "second-admin@example.test"}) {
		t.Fatalf("recipients: %v", rcpts)
	}
}
