package engine_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"

	"floh/connectors"
	"floh/connectors/authifi/authifitest"
	"floh/connectors/builtin"
	"floh/connectors/ldap/ldaptest"
	"floh/db"
	"floh/engine"
	"floh/engine/workflow"
)

// The partial-provisioning runbook (seed 000) against real targets: an ldap connector on a
// slapd of the test's own, and the Authifi test server.
type runbookFixture struct {
	*runFixture
	slapd   *ldaptest.Slapd
	authifi *authifitest.Server
	group   string
}

func setupRunbook(t *testing.T) *runbookFixture {
	t.Helper()
	reg, err := builtin.Registry()
	if err != nil {
		t.Fatal(err)
	}
	// The engine runs on a real clock here: the ldap connector checks ctx.Err() before it
	// dials, and an attempt's timeout context from a fake clock blocks in Err until it ends.
	f := &runbookFixture{runFixture: &runFixture{fixture: setup(t, func(o *engine.Options) {
		o.Connectors, o.Clock = reg, clockwork.NewRealClock()
	})}}
	f.slapd = ldaptest.New(t)
	s := f.slapd
	_, err = f.eng.CreateConnector(f.ctx, f.actor(), engine.ConnectorInput{Name: "Directory", Type: "ldap", Config: map[string]any{
		"url": s.URL, "startTLS": true, "caCert": string(s.CAPEM), "bindDN": s.BindDN, "bindPassword": s.BindPassword,
		"baseDN": s.BaseDN, "userBaseDN": s.UserBaseDN, "groupBaseDN": s.GroupBaseDN,
	}})
	if err != nil {
		t.Fatal(err)
	}
	f.authifi = authifitest.Start(t, authifitest.Options{Clock: clockwork.NewRealClock()})
	cfg := map[string]any{}
	for k, v := range f.authifi.Config() {
		cfg[k] = v
	}
	if _, err := f.eng.CreateConnector(f.ctx, f.actor(), engine.ConnectorInput{Name: "Authifi", Type: "authifi", Config: cfg}); err != nil {
		t.Fatal(err)
	}
	// groupOfNames needs a member: the service account stands in for an empty group.
	f.group = "staff"
	add := goldap.NewAddRequest("cn="+f.group+","+s.GroupBaseDN, nil)
	add.Attribute("objectClass", []string{"groupOfNames"})
	add.Attribute("cn", []string{f.group})
	add.Attribute("member", []string{s.BindDN})
	f.ldap(t, func(c *goldap.Conn) error { return c.Add(add) })
	return f
}

func (f *runbookFixture) ldap(t *testing.T, do func(c *goldap.Conn) error) {
	t.Helper()
	c, err := f.slapd.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := do(c); err != nil {
		t.Fatal(err)
	}
}

// accounts lists the uids in the directory's people.
func (f *runbookFixture) accounts(t *testing.T, uid string) int {
	t.Helper()
	n := 0
	f.ldap(t, func(c *goldap.Conn) error {
		res, err := c.Search(goldap.NewSearchRequest(f.slapd.UserBaseDN, goldap.ScopeSingleLevel, goldap.NeverDerefAliases, 0, 0, false,
			"(uid="+goldap.EscapeFilter(uid)+")", []string{"uid"}, nil))
		if err != nil {
			return err
		}
		n = len(res.Entries)
		return nil
	})
	return n
}

func connectorStep(id, connector, command string, params map[string]any) workflow.Step {
	return step(id, workflow.TypeConnector, map[string]any{"connectorId": connector, "command": command, "params": params})
}

// runbookChain is Floh user → AD account → password → group → Authifi user, then more.
func runbookChain(more ...workflow.Step) workflow.Definition {
	steps := []workflow.Step{startStep(),
		step("user", workflow.TypeUserCreate, map[string]any{"email": "{{email}}", "displayName": "Jane Doe"}),
		connectorStep("ad-account", "Directory", "createAccount", map[string]any{"username": "{{username}}", "email": "{{email}}", "surname": "Doe"}),
		connectorStep("ad-password", "Directory", "setPassword", map[string]any{"username": "{{username}}", "password": "correct-horse-battery"}),
		connectorStep("ad-group", "Directory", "addToGroup", map[string]any{"username": "{{username}}", "group": "staff"}),
		connectorStep("authifi-user", "Authifi", "createUser", map[string]any{"email": "{{email}}", "displayName": "Jane Doe"}),
	}
	steps = append(steps, more...)
	ids := make([]string, 0, len(steps)+1)
	for _, s := range steps {
		ids = append(ids, s.ID)
	}
	return workflow.Definition{
		Variables: []workflow.Variable{{Name: "username", Type: "string", Required: true}, {Name: "email", Type: "string", Required: true}},
		Steps:     append(steps, endStep()),
		Edges:     chain(append(ids, "end")...),
	}
}

// planSummary reads a plan as "system command k=v ... | ...", params sorted by name.
func planSummary(items []engine.PlanItem) string {
	var parts []string
	for _, it := range items {
		b, _ := json.Marshal(it.Params) // map keys come out sorted
		parts = append(parts, it.Kind+" "+it.System+" "+it.Command+" "+string(b))
	}
	return strings.Join(parts, " | ")
}

func TestDiagnoseAndPlanTheRunbookChain(t *testing.T) {
	t.Parallel()
	f := setupRunbook(t)
	f.authifi.Fail(1, "/users", http.StatusServiceUnavailable)
	runID := f.start(t, f.publish(t, runbookChain()), map[string]any{"username": "jdoe", "email": "jdoe@example.test"})
	f.work(t)
	f.wantStatuses(t, runID, "failed: start:completed user:completed ad-account:completed ad-password:completed ad-group:completed authifi-user:failed")

	d, err := f.eng.DiagnoseRun(f.ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	if d.FailedStepID == nil || *d.FailedStepID != "authifi-user" {
		t.Errorf("failedStepId %v, want authifi-user", d.FailedStepID)
	}
	if d.Error == nil || d.Error.Class != string(connectors.TargetError) || d.Error.Message == "" {
		t.Errorf("error %+v, want a target_error with its message", d.Error)
	}
	var vars map[string]any
	if err := json.Unmarshal(d.Variables, &vars); err != nil || vars["username"] != "jdoe" {
		t.Errorf("variables %s: %v", d.Variables, err)
	}
	var done []string
	for _, s := range d.CompletedSteps {
		done = append(done, s.StepID+"@"+s.System+"."+s.Command)
	}
	if got, want := strings.Join(done, " "), "user@Floh.user_create ad-account@Directory.createAccount ad-password@Directory.setPassword ad-group@Directory.addToGroup"; got != want {
		t.Errorf("completed steps\n got %s\nwant %s", got, want)
	}

	userID := f.stepNamed(t, runID, "user")
	var user struct{ ID string }
	if err := json.Unmarshal(userID.Output, &user); err != nil {
		t.Fatal(err)
	}
	want := `connector Directory deleteAccount {"username":"jdoe"} | builtin Floh user_delete {"email":"jdoe@example.test","userId":"` + user.ID + `"}`
	if got := planSummary(d.RollbackPlan); got != want {
		t.Errorf("plan\n got %s\nwant %s", got, want)
	}
	if r := d.RollbackPlan[0].Reason; !strings.Contains(r, "setPassword (step ad-password), addToGroup (step ad-group)") {
		t.Errorf("the deleteAccount item does not say what it also undoes: %s", r)
	}
	plan, err := f.eng.RollbackPlan(f.ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	if got := planSummary(plan); got != want {
		t.Errorf("rollback-plan differs from diagnose's:\n got %s\nwant %s", got, want)
	}
}

func TestPlanUnlinksBeforeTheDirectoryDelete(t *testing.T) {
	t.Parallel()
	f := setupRunbook(t)
	def := runbookChain(
		connectorStep("authifi-roles", "Authifi", "assignRoles", map[string]any{"email": "{{email}}", "roles": []any{"staff"}}),
		connectorStep("authifi-link", "Authifi", "linkExternalIdentity", map[string]any{"email": "{{email}}", "issuer": "ad", "externalId": "{{username}}"}),
		// The group does not exist: the chain fails here, after everything else was done.
		connectorStep("ad-group-2", "Directory", "addToGroup", map[string]any{"username": "{{username}}", "group": "no-such-group"}),
	)
	runID := f.start(t, f.publish(t, def), map[string]any{"username": "rroe", "email": "rroe@example.test"})
	f.work(t)
	if got := f.run(t, runID).Status; got != "failed" {
		t.Fatalf("run %s: %s", got, f.statuses(t, runID))
	}
	plan, err := f.eng.RollbackPlan(f.ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range plan {
		got = append(got, it.StepID+":"+it.Command)
	}
	// assignRoles is subsumed by deleteUser; the AD password and group by deleteAccount.
	want := "authifi-link:unlinkExternalIdentity authifi-user:deleteUser ad-account:deleteAccount user:user_delete"
	if strings.Join(got, " ") != want {
		t.Errorf("plan\n got %s\nwant %s\n%s", strings.Join(got, " "), want, planSummary(plan))
	}
	if p := plan[0].Params; p["email"] != "rroe@example.test" || p["issuer"] != "ad" || p["externalId"] != "rroe" {
		t.Errorf("unlink params %v", p)
	}
}

// The cross-system order is declared on the AD type (Authifi's unlink precedes
// activedirectory deleteAccount), so this chain uses an activedirectory connector; it answers
// from mock data, which the plan carries over to the undo. The link is made before the AD
// account, so the reverse order alone would delete the account first.
func TestPlanHonoursPrecedesAgainstReverseOrder(t *testing.T) {
	t.Parallel()
	f := setupRunbook(t)
	_, err := f.eng.CreateConnector(f.ctx, f.actor(), engine.ConnectorInput{Name: "AD", Type: "activedirectory", MockMode: true,
		Config: map[string]any{"url": "ldaps://dc.example.test", "bindDN": "CN=floh,DC=example,DC=test", "bindPassword": "x", "baseDN": "DC=example,DC=test"}})
	if err != nil {
		t.Fatal(err)
	}
	def := workflow.Definition{
		Variables: []workflow.Variable{{Name: "email", Type: "string", Required: true}},
		Steps: []workflow.Step{startStep(),
			connectorStep("authifi-user", "Authifi", "createUser", map[string]any{"email": "{{email}}"}),
			connectorStep("authifi-link", "Authifi", "linkExternalIdentity", map[string]any{"email": "{{email}}", "issuer": "ad", "externalId": "mjones"}),
			connectorStep("ad-account", "AD", "createAccount", map[string]any{"username": "mjones"}),
			endStep()},
		Edges: chain("start", "authifi-user", "authifi-link", "ad-account", "end"),
	}
	runID := f.start(t, f.publish(t, def), map[string]any{"email": "mjones@example.test"})
	f.work(t)
	f.wantStatuses(t, runID, "completed: start:completed authifi-user:completed authifi-link:completed ad-account:completed end:completed")

	d, err := f.eng.DiagnoseRun(f.ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	if d.FailedStepID != nil || d.Error != nil {
		t.Errorf("a completed run has failedStepId %v and error %+v", d.FailedStepID, d.Error)
	}
	var got []string
	for _, it := range d.RollbackPlan {
		got = append(got, it.System+"."+it.Command)
	}
	if want := "Authifi.unlinkExternalIdentity AD.deleteAccount Authifi.deleteUser"; strings.Join(got, " ") != want {
		t.Errorf("plan\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	if !d.RollbackPlan[1].Mock || d.RollbackPlan[0].Mock {
		t.Errorf("only the mocked AD call's undo is mocked: %+v", d.RollbackPlan)
	}
}

// A mutating command with no compensation is left to an admin, with its recorded params; a
// user the run found rather than created is not the run's to delete.
func TestPlanManualItemsAndFoundUsers(t *testing.T) {
	t.Parallel()
	f := setupRunbook(t)
	dbtestUser(t, f.fixture, "existing@example.test")
	def := workflow.Definition{
		Steps: []workflow.Step{startStep(),
			step("user", workflow.TypeUserCreate, map[string]any{"email": "existing@example.test"}),
			connectorStep("ad-delete", "Directory", "deleteAccount", map[string]any{"username": "nobody"}),
			endStep()},
		Edges: chain("start", "user", "ad-delete", "end"),
	}
	runID := f.start(t, f.publish(t, def), nil)
	f.work(t)
	plan, err := f.eng.RollbackPlan(f.ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	// deleteAccount of a missing account fails, so the run fails before anything changed.
	if len(plan) != 0 {
		t.Errorf("plan %s, want nothing: the user existed and the delete failed", planSummary(plan))
	}
	f.ldap(t, func(c *goldap.Conn) error {
		add := goldap.NewAddRequest("uid=nobody,"+f.slapd.UserBaseDN, nil)
		add.Attribute("objectClass", []string{"inetOrgPerson"})
		add.Attribute("uid", []string{"nobody"})
		add.Attribute("cn", []string{"nobody"})
		add.Attribute("sn", []string{"nobody"})
		return c.Add(add)
	})
	runID = f.start(t, f.publish(t, def), nil)
	f.work(t)
	plan, err = f.eng.RollbackPlan(f.ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := planSummary(plan), `manual Directory deleteAccount {"username":"nobody"}`; got != want {
		t.Errorf("plan\n got %s\nwant %s", got, want)
	}
}

// A deleted connector is not called by any step, so what it did is left to an admin until
// it is restored.
func TestPlanLeavesTheUndoThroughADeletedConnectorToAnAdmin(t *testing.T) {
	t.Parallel()
	f := setupRunbook(t)
	def := workflow.Definition{
		Steps: []workflow.Step{startStep(),
			connectorStep("ad-account", "Directory", "createAccount", map[string]any{"username": "gone", "surname": "Gone"}),
			connectorStep("ad-group", "Directory", "addToGroup", map[string]any{"username": "gone", "group": "no-such-group"}),
			endStep()},
		Edges: chain("start", "ad-account", "ad-group", "end"),
	}
	runID := f.start(t, f.publish(t, def), nil)
	f.work(t)
	conn, err := db.FindLiveConnectorByRef(f.ctx, f.db.Bun, "Directory")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.DeleteConnector(f.ctx, f.actor(), conn.ID); err != nil {
		t.Fatal(err)
	}
	plan, err := f.eng.RollbackPlan(f.ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := planSummary(plan), `manual Directory createAccount {"surname":"Gone","username":"gone"}`; got != want || !strings.Contains(plan[0].Reason, "was deleted") {
		t.Errorf("plan with the connector deleted\n got %s (%s)\nwant %s", got, plan[0].Reason, want)
	}
	if _, err := f.eng.RestoreConnector(f.ctx, f.actor(), conn.ID); err != nil {
		t.Fatal(err)
	}
	plan, err = f.eng.RollbackPlan(f.ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := planSummary(plan), `connector Directory deleteAccount {"username":"gone"}`; got != want {
		t.Errorf("plan with the connector restored\n got %s\nwant %s", got, want)
	}
}

func TestRollbackUndoesTheRunbookChain(t *testing.T) {
	t.Parallel()
	f := setupRunbook(t)
	f.authifi.Fail(1, "/users", http.StatusServiceUnavailable)
	runID := f.start(t, f.publish(t, runbookChain()), map[string]any{"username": "jdoe", "email": "jdoe@example.test"})
	f.work(t)
	if f.accounts(t, "jdoe") != 1 {
		t.Fatal("the chain did not create the account it should leave behind")
	}
	var user struct{ ID string }
	if err := json.Unmarshal(f.stepNamed(t, runID, "user").Output, &user); err != nil {
		t.Fatal(err)
	}
	// The preview is the plan the rollback runs: deleteAccount, then the soft-delete.
	_, preview, err := f.eng.PreviewRollback(f.ctx, runID)
	if err != nil || len(preview) != 2 || preview[0].Command != "deleteAccount" || preview[1].Command != "user_delete" {
		t.Fatalf("preview: %+v (%v)", preview, err)
	}

	comp, err := f.eng.RollbackRun(f.ctx, f.actor(), runID)
	if err != nil {
		t.Fatal(err)
	}
	if comp.CompensationOf == nil || *comp.CompensationOf != runID {
		t.Errorf("the rollback run's compensationOf is %v, want %s", comp.CompensationOf, runID)
	}
	f.work(t)
	f.wantStatuses(t, comp.ID, "completed: start:completed undo-1:completed undo-2:completed end:completed")
	if n := f.accounts(t, "jdoe"); n != 0 {
		t.Errorf("%d accounts jdoe left in the directory", n)
	}
	if u := dbUser(t, f.fixture, uuid.MustParse(user.ID)); !u.Deleted() {
		t.Error("the Floh user is not soft-deleted")
	}
	by, err := f.eng.CompensationRunOf(f.ctx, runID)
	if err != nil || by == nil || *by != comp.ID {
		t.Errorf("the original names %v as its rollback (%v), want %s", by, err, comp.ID)
	}
	if kinds := f.timelineKinds(t, runID); kinds[len(kinds)-1] != "rolled_back" {
		t.Errorf("the original's timeline ends with %v", kinds)
	}
	var audited int
	if err := f.db.Bun.NewRaw(`SELECT count(*) FROM audit_log WHERE action = 'run.rolled_back' AND entity_id = ?`, runID.String()).Scan(f.ctx, &audited); err != nil || audited != 1 {
		t.Errorf("%d run.rolled_back audit entries (%v)", audited, err)
	}

	_, err = f.eng.RollbackRun(f.ctx, f.actor(), runID)
	wantConflict(t, err)
	_, err = f.eng.RollbackRun(f.ctx, f.actor(), comp.ID)
	wantConflict(t, err)

	// A retry would carry on from what the rollback undid: refused, naming the rollback run.
	_, err = f.eng.RetryRun(f.ctx, f.actor(), runID)
	wantConflict(t, err)
	if !strings.Contains(err.Error(), "rolled back by run "+comp.ID.String()) {
		t.Errorf("the refusal does not name the rollback run: %v", err)
	}
	if run := f.run(t, runID); run.Status != db.RunFailed {
		t.Errorf("the refused retry left the run %s", run.Status)
	}
}

func TestRollbackUnlinksBeforeDeletingTheAccount(t *testing.T) {
	t.Parallel()
	f := setupRunbook(t)
	def := runbookChain(
		connectorStep("authifi-roles", "Authifi", "assignRoles", map[string]any{"email": "{{email}}", "roles": []any{"staff"}}),
		connectorStep("authifi-link", "Authifi", "linkExternalIdentity", map[string]any{"email": "{{email}}", "issuer": "ad", "externalId": "{{username}}"}),
		connectorStep("ad-group-2", "Directory", "addToGroup", map[string]any{"username": "{{username}}", "group": "no-such-group"}),
	)
	runID := f.start(t, f.publish(t, def), map[string]any{"username": "rroe", "email": "rroe@example.test"})
	f.work(t)
	if len(f.authifi.Users()) != 1 || len(f.authifi.Users()[0].Identities) != 1 {
		t.Fatalf("the chain did not create and link the Authifi user: %+v", f.authifi.Users())
	}
	comp, err := f.eng.RollbackRun(f.ctx, f.actor(), runID)
	if err != nil {
		t.Fatal(err)
	}
	f.work(t)
	var ran []string
	for _, s := range f.steps(t, comp.ID) {
		ran = append(ran, s.Name+":"+s.Status)
	}
	want := "Start:completed Undo authifi-link: unlinkExternalIdentity on Authifi:completed Undo authifi-user: deleteUser on Authifi:completed " +
		"Undo ad-account: deleteAccount on Directory:completed Undo user: user_delete on Floh:completed End:completed"
	if got := strings.Join(ran, " "); got != want {
		t.Errorf("rollback steps\n got %s\nwant %s", got, want)
	}
	if users := f.authifi.Users(); len(users) != 0 {
		t.Errorf("Authifi users left: %+v", users)
	}
	if n := f.accounts(t, "rroe"); n != 0 {
		t.Errorf("%d accounts rroe left in the directory", n)
	}
}

// An undo the target answers with a 5xx stops the rollback there and pages: a critical
// incident on the original run, with both run ids and the sanitised call. RetryRun finishes it.
func TestFailedCompensationOpensACriticalIncident(t *testing.T) {
	t.Parallel()
	f := setupRunbook(t)
	def := workflow.Definition{
		Variables: []workflow.Variable{{Name: "email", Type: "string", Required: true}},
		Steps: []workflow.Step{startStep(),
			step("user", workflow.TypeUserCreate, map[string]any{"email": "{{email}}"}),
			connectorStep("authifi-user", "Authifi", "createUser", map[string]any{"email": "{{email}}"}),
			endStep()},
		Edges: chain("start", "user", "authifi-user", "end"),
	}
	runID := f.start(t, f.publish(t, def), map[string]any{"email": "kpage@example.test"})
	f.work(t)
	f.wantStatuses(t, runID, "completed: start:completed user:completed authifi-user:completed end:completed")

	comp, err := f.eng.RollbackRun(f.ctx, f.actor(), runID)
	if err != nil {
		t.Fatal(err)
	}
	f.authifi.Fail(1, "/users", http.StatusServiceUnavailable)
	f.work(t)
	f.wantStatuses(t, comp.ID, "failed: start:completed undo-1:failed")
	var inc struct {
		Severity string
		Title    string
		Data     json.RawMessage
	}
	err = f.db.Bun.NewRaw(`SELECT i.severity, i.title, e.data FROM incidents i JOIN incident_timeline e ON e.incident_id = i.id
		WHERE i.kind = 'compensation' AND i.subject_kind = 'run' AND i.subject_id = ?`, runID.String()).Scan(f.ctx, &inc.Severity, &inc.Title, &inc.Data)
	if err != nil {
		t.Fatalf("no compensation incident on run %s: %v", runID, err)
	}
	var data struct {
		RunID, RollbackRunID string
		Call                 struct {
			Command string
			Error   connectors.Error
		}
	}
	if err := json.Unmarshal(inc.Data, &data); err != nil {
		t.Fatal(err)
	}
	if inc.Severity != "critical" || data.RunID != runID.String() || data.RollbackRunID != comp.ID.String() ||
		data.Call.Command != "deleteUser" || data.Call.Error.Class != connectors.TargetError {
		t.Errorf("incident %s %q: %s", inc.Severity, inc.Title, inc.Data)
	}

	if _, err := f.eng.RetryRun(f.ctx, f.actor(), comp.ID); err != nil {
		t.Fatal(err)
	}
	f.work(t)
	f.wantStatuses(t, comp.ID, "completed: start:completed undo-1:completed undo-2:completed end:completed")
	if users := f.authifi.Users(); len(users) != 0 {
		t.Errorf("Authifi users left: %+v", users)
	}
}

func TestRollbackRefusesUnfinishedAndEmptyRuns(t *testing.T) {
	t.Parallel()
	f := setupRunbook(t)
	def := workflow.Definition{Steps: []workflow.Step{startStep(), endStep()}, Edges: chain("start", "end")}
	runID := f.start(t, f.publish(t, def), nil)
	_, err := f.eng.RollbackRun(f.ctx, f.actor(), runID)
	wantConflict(t, err) // pending
	// The preview the confirmation page shows refuses alike.
	_, _, err = f.eng.PreviewRollback(f.ctx, runID)
	wantConflict(t, err)
	f.work(t)
	_, err = f.eng.RollbackRun(f.ctx, f.actor(), runID)
	wantConflict(t, err) // completed, but nothing to undo
	_, _, err = f.eng.PreviewRollback(f.ctx, runID)
	wantConflict(t, err)
	if by, err := f.eng.CompensationRunOf(f.ctx, runID); err != nil || by != nil {
		t.Errorf("a refused rollback left a rollback run %v (%v)", by, err)
	}
}
