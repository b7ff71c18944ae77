package engine_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"floh/connectors"
	"floh/connectors/email"
	"floh/connectors/email/smtptest"
	"floh/db"
	"floh/db/dbtest"
	"floh/engine"
	"floh/engine/workflow"
)

// notifyFixture is a runFixture whose registry also has the email connector type, with an
// SMTP sink; mailer says whether SMTP_URL points at the sink.
type notifyFixture struct {
	*runFixture
	sink *smtptest.Sink
}

func setupNotify(t *testing.T, mailer bool) *notifyFixture {
	t.Helper()
	sink := smtptest.Start(t)
	reg, err := connectors.NewRegistry(probeType, scriptedType, email.Type)
	if err != nil {
		t.Fatal(err)
	}
	f := setupRuns(t, func(o *engine.Options) {
		o.Connectors = reg
		if mailer {
			m, err := email.ParseURL(sinkURL(sink))
			if err != nil {
				t.Fatal(err)
			}
			o.Mailer = m
		}
	})
	catchUp(f)
	return &notifyFixture{runFixture: f, sink: sink}
}

// catchUp brings the fake clock to the real time. An attempt's deadline is set on the
// engine's clock and the SMTP client dials with it: a deadline already past on the wall
// clock would fail every dial at once.
func catchUp(f *runFixture) {
	if d := time.Since(f.clock.Now()); d > 0 {
		f.clock.Advance(d)
	}
}

func sinkURL(sink *smtptest.Sink) string {
	return "smtp://" + sink.Addr + "?from=floh@example.test&tls=none"
}

// notify is a notification step.
func notify(id string, config map[string]any) workflow.Step {
	return step(id, workflow.TypeNotification, config)
}

// notifyFlow is start → notify → end, the notification's error edge leading to a transform
// that records it was taken.
func notifyFlow(n workflow.Step, vars ...workflow.Variable) workflow.Definition {
	return workflow.Definition{
		Variables: vars,
		Steps: []workflow.Step{startStep(), n,
			step("handled", workflow.TypeTransform, map[string]any{"set": map[string]any{"handled": "true"}}), endStep()},
		Edges: append(chain("start", n.ID, "end"), edge(n.ID, "handled", workflow.OnError), edge("handled", "end", workflow.OnSuccess)),
	}
}

func inactiveUser(t *testing.T, f *notifyFixture, email string, roles ...string) *db.User {
	t.Helper()
	u := dbtest.User(t, f.db, email, roles...)
	u.Active = false
	if err := db.UpdateUser(f.ctx, f.db.Bun, u); err != nil {
		t.Fatal(err)
	}
	return u
}

// timelineEntry returns the run's only entry of a kind.
func (f *runFixture) timelineEntry(t *testing.T, id uuid.UUID, kind string) db.TimelineEntry {
	t.Helper()
	tl, err := f.eng.RunTimeline(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var found []db.TimelineEntry
	for _, e := range tl {
		if e.Kind == kind {
			found = append(found, e)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s entry, got %d in %v", kind, len(found), f.timelineKinds(t, id))
	}
	return found[0]
}

func TestEmailNotificationThroughSMTPURL(t *testing.T) {
	t.Parallel()
	f := setupNotify(t, true)
	approver := dbtest.User(t, f.db, "approver@example.test", engine.RoleApprover)
	inactiveUser(t, f, "former-approver@example.test", engine.RoleApprover)
	wf := f.publish(t, notifyFlow(notify("tell", map[string]any{
		"channel": "email",
		"to":      []any{"{{initiator.email}}", "role:approver", approver.ID.String(), "{{contacts}}", "{{initiator}}"},
		"subject": "Account for {{username}}\r\nBcc: evil@example.test",
		"body":    "Hello,\n{{username}} <b>is</b> ready: {{run.diagnoseUrl}}",
	}), workflow.Variable{Name: "username", Type: "string", Required: true}, workflow.Variable{Name: "contacts", Type: "list"}))
	id := f.start(t, wf, map[string]any{"username": "jdoe", "contacts": []any{"Desk <IT-desk@example.test>", "approver@EXAMPLE.test"}})
	f.work(t)
	f.wantStatuses(t, id, "completed: start:completed tell:completed end:completed")

	msg := f.sink.Wait(t, 1, 10*time.Second)[0]
	want := []string{"root-admin@example.test", "approver@example.test", "IT-desk@example.test"}
	if !slices.Equal(msg.To, want) {
		t.Errorf("one message to every recipient once, the inactive role member left out:\n got %v\nwant %v", msg.To, want)
	}
	if got := msg.Envelope.GetHeader("Subject"); got != "Account for jdoe Bcc: evil@example.test" {
		t.Errorf("subject, one line whatever a variable holds: %q", got)
	}
	diagnose := "https://floh.example.test/runs/" + id.String() + "#diagnose"
	if text := strings.ReplaceAll(msg.Envelope.Text, "\r\n", "\n"); !strings.Contains(text, "Hello,\njdoe <b>is</b> ready: "+diagnose) || msg.Envelope.HTML != "" {
		t.Errorf("a text body is sent as text, unescaped, with the absolute diagnose link: text %q html %q", msg.Envelope.Text, msg.Envelope.HTML)
	}

	tell := f.stepNamed(t, id, "tell")
	var out map[string]any
	if err := json.Unmarshal(tell.Output, &out); err != nil || out["channel"] != "email" || len(out["recipients"].([]any)) != 3 {
		t.Errorf("output: %s", tell.Output)
	}
	entry := f.timelineEntry(t, id, "notification_sent")
	if !strings.Contains(string(entry.Data), `"count": 3`) || !strings.Contains(string(entry.Data), "IT-desk@example.test") ||
		strings.Contains(string(entry.Data), "ready") || strings.Contains(entry.Message, "ready") {
		t.Errorf("the timeline names the channel and recipients, never the body: %s %s", entry.Message, entry.Data)
	}

	// A mocked run sends nothing.
	run, err := f.eng.StartWorkflow(f.ctx, f.actor(), wf, engine.StartInput{Variables: map[string]any{"username": "mocked"}, UseMocks: true})
	if err != nil {
		t.Fatal(err)
	}
	f.work(t)
	f.wantStatuses(t, run.ID, "completed: start:completed tell:completed end:completed")
	if n := len(f.sink.Messages()); n != 1 || !strings.Contains(string(f.stepNamed(t, run.ID, "tell").Output), `"mock": true`) {
		t.Errorf("the mocked run sent mail: %d messages in all, output %s", n, f.stepNamed(t, run.ID, "tell").Output)
	}
}

func TestEmailNotificationThroughAnEmailConnector(t *testing.T) {
	t.Parallel()
	f := setupNotify(t, false)
	mail, err := f.eng.CreateConnector(f.ctx, f.actor(), engine.ConnectorInput{Name: "Corp Mail", Type: "email",
		Config: map[string]any{"smtpUrl": sinkURL(f.sink)}})
	if err != nil {
		t.Fatal(err)
	}
	wf := f.publish(t, notifyFlow(notify("tell", map[string]any{
		"channel":     "email",
		"connectorId": "{{mailer}}",
		"to":          "{{initiator.email}}",
		"subject":     "Welcome {{name}}",
		"body": `
			<p>Hello {{name}},</p>
			<p>The run needs you: <a href="{{run.diagnoseUrl}}">diagnose it</a>.</p>`,
	}), workflow.Variable{Name: "name", Type: "string"}, workflow.Variable{Name: "mailer", Type: "string"}))
	hostile := `<script>alert("pwned")</script>`
	id := f.start(t, wf, map[string]any{"name": hostile, "mailer": "corp mail"})
	f.work(t)
	f.wantStatuses(t, id, "completed: start:completed tell:completed end:completed")

	env := f.sink.Wait(t, 1, 10*time.Second)[0].Envelope
	diagnose := "https://floh.example.test/runs/" + id.String() + "#diagnose"
	switch {
	case strings.Contains(env.HTML, "<script>") || !strings.Contains(env.HTML, "<p>Hello &lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;,</p>"):
		t.Errorf("the variable is escaped in the HTML part, the markup kept: %q", env.HTML)
	case !strings.Contains(env.HTML, `<a href="`+diagnose+`">`):
		t.Errorf("the HTML part links the diagnose page: %q", env.HTML)
	case !strings.Contains(env.Text, "Hello "+hostile+",") || !strings.Contains(env.Text, "diagnose it ("+diagnose+")"):
		t.Errorf("the text alternative reads as text, with the link's address: %q", env.Text)
	case env.GetHeader("Subject") != "Welcome "+hostile:
		t.Errorf("the subject is never HTML: %q", env.GetHeader("Subject"))
	}

	// The call is in the connector's execution log, like any connector call of a run.
	xs, _, err := f.eng.ListExecutions(f.ctx, mail.ID, db.Page{Page: 1, PageSize: 10})
	if err != nil || len(xs) != 1 || xs[0].Source != engine.SourceRun || xs[0].Command != "send" || !xs[0].Success {
		t.Fatalf("execution log: %+v %v", xs, err)
	}
	if params := string(xs[0].Params); strings.Contains(params, "Hello") || !strings.Contains(params, "root-admin@example.test") ||
		!strings.Contains(params, "Welcome") {
		t.Errorf("the execution log has the recipients and subject, not the body: %s", params)
	}
	if out := string(f.stepNamed(t, id, "tell").Output); !strings.Contains(out, `"connector": "Corp Mail"`) || !strings.Contains(out, "messageId") {
		t.Errorf("output: %s", out)
	}
	if data := string(f.timelineEntry(t, id, "notification_sent").Data); strings.Contains(data, "Hello") || !strings.Contains(data, "Corp Mail") {
		t.Errorf("timeline: %s", data)
	}
}

func TestInAppNotification(t *testing.T) {
	t.Parallel()
	f := setupNotify(t, false)
	second := dbtest.User(t, f.db, "second-admin@example.test", engine.RoleAdmin)
	inactive := inactiveUser(t, f, "inactive-admin@example.test", engine.RoleAdmin)
	manager := dbtest.User(t, f.db, "manager@example.test")
	requestor := dbtest.User(t, f.db, "Requestor@Example.test", engine.RoleRequestor)
	wf := f.publish(t, notifyFlow(notify("tell", map[string]any{
		"channel": "in_app",
		"to":      []any{"role:Admin", "{{manager}}", "requestor@example.test", "{{initiator}}"},
		"subject": "{{username}} is ready",
		"body":    "<p>Account <b>{{username}}</b> created.</p>",
	}), workflow.Variable{Name: "username", Type: "string"}, workflow.Variable{Name: "manager", Type: "user"}))
	id := f.start(t, wf, map[string]any{"username": "<jdoe>", "manager": manager.ID.String()})
	f.work(t)
	f.wantStatuses(t, id, "completed: start:completed tell:completed end:completed")

	for _, u := range []*db.User{f.admin, second, manager, requestor} {
		ns, total, err := f.eng.ListNotifications(f.ctx, u.ID, true, db.Page{Page: 1, PageSize: 10})
		if err != nil || total != 1 {
			t.Fatalf("%s: %d unread notifications, %v", u.Email, total, err)
		}
		n := ns[0]
		if n.Title != "<jdoe> is ready" || n.Body != "Account <jdoe> created." || n.Link != "/runs/"+id.String() || n.Kind != "workflow" {
			t.Errorf("%s: %+v", u.Email, n)
		}
		if unread, _ := f.eng.UnreadNotifications(f.ctx, u.ID); unread != 1 {
			t.Errorf("%s: unread count %d", u.Email, unread)
		}
	}
	if unread, _ := f.eng.UnreadNotifications(f.ctx, inactive.ID); unread != 0 {
		t.Errorf("an inactive role member was notified")
	}
	entry := f.timelineEntry(t, id, "notification_sent")
	if !strings.Contains(string(entry.Data), `"channel": "in_app"`) || !strings.Contains(string(entry.Data), `"count": 4`) {
		t.Errorf("timeline: %s", entry.Data)
	}
	if n := len(f.sink.Messages()); n != 0 {
		t.Errorf("an in-app notification sent %d email(s)", n)
	}
}

func TestNotificationFailuresTakeTheErrorEdge(t *testing.T) {
	t.Parallel()
	f := setupNotify(t, false)
	deleted := dbtest.User(t, f.db, "deleted@example.test")
	now := f.clock.Now()
	deleted.DeletedAt = &now
	if err := db.UpdateUser(f.ctx, f.db.Bun, deleted); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		config map[string]any
		code   string
		says   []string
	}{
		{"an address no user has, in app", map[string]any{"channel": "in_app", "to": []any{"role:Admin", "nobody@example.test"}, "body": "b"},
			"UNKNOWN_RECIPIENT", []string{"nobody@example.test"}},
		{"unknown role and user", map[string]any{"channel": "email", "to": []any{"role:Auditor", uuid.Nil.String(), deleted.ID.String(), "not an address"}, "body": "b"},
			"UNKNOWN_RECIPIENT", []string{`"Auditor" is not a system role`, "no user has the id " + uuid.Nil.String(), "deleted@example.test", `"not an address"`}},
		{"undefined variable", map[string]any{"channel": "in_app", "to": []any{"role:Admin", "{{initiator.nosuch}}"}, "body": "b"},
			"UNDEFINED_VARIABLE", []string{"initiator.nosuch"}},
		{"nobody", map[string]any{"channel": "email", "to": []any{"role:Requestor", "{{initiator.displayName}}"}, "body": "b"},
			"UNKNOWN_RECIPIENT", []string{`"root-admin" is not an email address`}},
		{"no members", map[string]any{"channel": "email", "to": []any{"role:Requestor", "{{nothing}}"}, "body": "b"},
			"NO_RECIPIENTS", []string{"role:Requestor", "resolve to nobody"}},
		{"no mailer", map[string]any{"channel": "email", "to": "{{initiator.email}}", "body": "b"},
			"EMAIL_NOT_CONFIGURED", []string{"no email connector given and SMTP_URL is not set"}},
		{"not an email connector", map[string]any{"channel": "email", "connectorId": "Directory", "to": "{{initiator.email}}", "body": "b"},
			"NOT_AN_EMAIL_CONNECTOR", []string{"Directory is of type scripted, not email"}},
		{"unknown connector", map[string]any{"channel": "email", "connectorId": "Nope", "to": "{{initiator.email}}", "body": "b"},
			"UNKNOWN_CONNECTOR", []string{`"Nope"`}},
	}
	for _, c := range cases {
		id := f.start(t, f.publish(t, notifyFlow(notify("tell", c.config), workflow.Variable{Name: "nothing", Type: "string"})), nil)
		f.work(t)
		if got, want := f.statuses(t, id), "completed: start:completed tell:failed handled:completed end:completed"; got != want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, want)
			continue
		}
		tell := f.stepNamed(t, id, "tell")
		e := decodeError(t, tell.Error)
		if e.Code != c.code || e.Class != connectors.InvalidInput || tell.Attempts != 1 {
			t.Errorf("%s: %+v after %d attempt(s)", c.name, e, tell.Attempts)
		}
		for _, s := range c.says {
			if !strings.Contains(e.Message, s) {
				t.Errorf("%s: the message %q does not say %q", c.name, e.Message, s)
			}
		}
	}
	ns, _ := f.eng.UnreadNotifications(f.ctx, f.admin.ID)
	if ns != 0 {
		t.Errorf("a notification with an unknown recipient notified the others: %d", ns)
	}
}

func TestEmailNotificationRetriesAnUnreachableRelay(t *testing.T) {
	t.Parallel()
	mailer, err := email.ParseURL("smtp://127.0.0.1:1?from=floh@example.test&tls=none")
	if err != nil {
		t.Fatal(err)
	}
	f := setupRuns(t, func(o *engine.Options) { o.Mailer = mailer })
	catchUp(f)
	id := f.start(t, f.publish(t, notifyFlow(notify("tell", map[string]any{"channel": "email", "to": "{{initiator.email}}", "body": "b"}))), nil)
	f.work(t)
	f.wantStatuses(t, id, "running: start:completed tell:pending")
	for _, wait := range []time.Duration{10 * time.Second, 20 * time.Second} {
		f.clock.Advance(wait)
		f.work(t)
	}
	f.wantStatuses(t, id, "completed: start:completed tell:failed handled:completed end:completed")
	tell := f.stepNamed(t, id, "tell")
	if e := decodeError(t, tell.Error); tell.Attempts != 3 || e.Class != connectors.ConnectorDown {
		t.Fatalf("after %d attempts: %+v", tell.Attempts, e)
	}
}

// A workflow's error edge leads to a notification that links the run's diagnose page: the
// admins are told what failed and where to look.
func TestFailureNotificationEndToEnd(t *testing.T) {
	t.Parallel()
	f := setupNotify(t, true)
	dbtest.User(t, f.db, "second-admin@example.test", engine.RoleAdmin)
	def := provisioning(nil)
	def.Steps = append(def.Steps, notify("alert", map[string]any{
		"channel": "email",
		"to":      []any{"role:Admin"},
		"subject": "{{run.workflowName}} failed for {{username}}",
		"body":    "Creating {{username}} failed. Diagnose: {{run.diagnoseUrl}}",
	}), step("failed", workflow.TypeEnd, nil))
	def.Edges = append(def.Edges, edge("create", "alert", workflow.OnError), edge("alert", "failed", workflow.OnSuccess))
	id := f.start(t, f.publish(t, def), map[string]any{"username": "jdoe", "password": "Sup3r-secret"})
	f.target.fail(connectors.Errorf(connectors.AlreadyExists, "EXISTS", "jdoe exists"))
	f.work(t)
	f.wantStatuses(t, id, "completed: start:completed create:failed alert:completed failed:completed")
	msg := f.sink.Wait(t, 1, 10*time.Second)[0]
	if !slices.Equal(msg.To, []string{"root-admin@example.test", "second-admin@example.test"}) ||
		msg.Envelope.GetHeader("Subject") != "TestFailureNotificationEndToEnd failed for jdoe" ||
		!strings.Contains(msg.Envelope.Text, "Diagnose: https://floh.example.test/runs/"+id.String()+"#diagnose") ||
		strings.Contains(msg.Envelope.Text, "Sup3r-secret") {
		t.Fatalf("failure email: to %v subject %q text %q", msg.To, msg.Envelope.GetHeader("Subject"), msg.Envelope.Text)
	}
}
