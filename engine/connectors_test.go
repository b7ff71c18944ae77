package engine_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"floh/connectors"
	"floh/db"
	"floh/db/dbtest"
	"floh/engine"
)

// The probe type stands in for a target system whose answers a test decides: its connectors
// are the engine's subject here, not any real system (those are tested in their packages).
// A probe's failures are keyed by its url, so parallel tests do not disturb each other.
var probeFailures sync.Map // url → *connectors.Error

var probeType = &connectors.Type{
	Name: "probe", Label: "Probe", Description: "a controllable test target",
	Config: []connectors.Field{
		{Name: "url", Label: "URL", Kind: connectors.KindString, Required: true},
		{Name: "token", Label: "Token", Kind: connectors.KindString, Required: true, Secret: true},
		{Name: "pageSize", Label: "Page size", Kind: connectors.KindInteger, Default: 100},
	},
	Commands: []connectors.Command{
		{
			Name: "createThing", Label: "Create a thing", Mutating: true,
			Params: []connectors.Field{
				{Name: "name", Label: "Name", Kind: connectors.KindString, Required: true},
				{Name: "count", Label: "Count", Kind: connectors.KindInteger},
				{Name: "password", Label: "Password", Kind: connectors.KindString, Secret: true},
			},
			Outputs:      []connectors.Output{{Name: "id", Kind: connectors.KindString}, {Name: "created", Kind: connectors.KindBoolean}},
			Compensation: &connectors.Compensation{Command: "deleteThing", Params: map[string]string{"name": "{{params.name}}"}},
		},
		{Name: "deleteThing", Label: "Delete a thing", Mutating: true,
			Params: []connectors.Field{{Name: "name", Label: "Name", Kind: connectors.KindString, Required: true}}},
	},
	New: func(cfg connectors.Config) (connectors.Connector, error) { return &probe{cfg: cfg}, nil },
}

type probe struct{ cfg connectors.Config }

func (p *probe) failure() error {
	if e, ok := probeFailures.Load(p.cfg.String("url")); ok {
		return e.(*connectors.Error)
	}
	return nil
}

func (p *probe) Test(context.Context) (connectors.TestResult, error) {
	if err := p.failure(); err != nil {
		return connectors.TestResult{}, err
	}
	return connectors.TestResult{Message: "probe reached with token of length " + strconv.Itoa(len(p.cfg.String("token")))}, nil
}

// probeCalls counts the probe's calls per idempotency key, for the at-most-once tests.
var probeCalls sync.Map // key → *atomic.Int64

func (p *probe) Execute(ctx context.Context, command string, params map[string]any) (map[string]any, error) {
	if key := connectors.IdempotencyKey(ctx); key != "" {
		n, _ := probeCalls.LoadOrStore(key, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
	}
	if err := p.failure(); err != nil {
		return nil, err
	}
	return map[string]any{"id": "thing-" + params["name"].(string), "created": true, "extra": p.cfg.Int("pageSize")}, nil
}

func testRegistry(t testing.TB) *connectors.Registry {
	reg, err := connectors.NewRegistry(probeType)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func randomKey(t testing.TB) []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func probeInput(name, url string) engine.ConnectorInput {
	return engine.ConnectorInput{Name: name, Type: "probe", Description: "for tests",
		Config: map[string]any{"url": url, "token": "s3cret-token-value"}}
}

func TestCreateConnectorValidates(t *testing.T) {
	t.Parallel()
	f := setup(t)
	cases := []struct {
		field string
		in    engine.ConnectorInput
	}{
		{"name", engine.ConnectorInput{Type: "probe", Config: map[string]any{"url": "u", "token": "t"}}},
		{"type", engine.ConnectorInput{Name: "x", Type: "nosuch"}},
		{"config.url", engine.ConnectorInput{Name: "x", Type: "probe", Config: map[string]any{"token": "t"}}},
		{"config.token", engine.ConnectorInput{Name: "x", Type: "probe", Config: map[string]any{"url": "u"}}},
		{"config.pageSize", engine.ConnectorInput{Name: "x", Type: "probe", Config: map[string]any{"url": "u", "token": "t", "pageSize": "ten"}}},
		{"config.nope", engine.ConnectorInput{Name: "x", Type: "probe", Config: map[string]any{"url": "u", "token": "t", "nope": 1}}},
		{"mockData.unknownCommand", engine.ConnectorInput{Name: "x", Type: "probe", Config: map[string]any{"url": "u", "token": "t"},
			MockData: map[string]any{"unknownCommand": map[string]any{"outputs": map[string]any{}}}}},
		{"mockData.createThing.error.class", engine.ConnectorInput{Name: "x", Type: "probe", Config: map[string]any{"url": "u", "token": "t"},
			MockData: map[string]any{"createThing": map[string]any{"error": map[string]any{"class": "oops", "message": "m"}}}}},
	}
	for _, c := range cases {
		_, err := f.eng.CreateConnector(f.ctx, f.actor(), c.in)
		wantValidation(t, err, c.field)
	}
	n, _, err := f.eng.ListConnectors(f.ctx, db.ConnectorFilter{Page: db.Page{Page: 1, PageSize: 10}})
	if err != nil || len(n) != 0 {
		t.Fatalf("nothing should be stored after rejected input: %v %v", n, err)
	}
}

func TestConnectorSecretsAreWriteOnly(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c, err := f.eng.CreateConnector(f.ctx, f.actor(), probeInput("Directory", "probe://secrets"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(c.Config), "s3cret") || len(c.SecretFields) != 1 || c.SecretFields[0] != "token" {
		t.Fatalf("config %s secretsSet %v", c.Config, c.SecretFields)
	}
	var cfg map[string]any
	_ = json.Unmarshal(c.Config, &cfg)
	if cfg["pageSize"] != float64(100) {
		t.Fatalf("defaults are stored: %v", cfg)
	}
	body, _ := json.Marshal(c)
	if strings.Contains(string(body), "s3cret") {
		t.Fatalf("API shape leaks the secret: %s", body)
	}
	var raw []byte
	if err := f.db.Bun.NewRaw("SELECT secrets FROM connectors WHERE id = ?", c.ID).Scan(f.ctx, &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw) == 0 || strings.Contains(string(raw), "s3cret") {
		t.Fatal("the secret must be stored sealed")
	}

	// An update without the secret, or with null, keeps it; the test proves the connector
	// still gets the stored value.
	in := probeInput("Directory renamed", "probe://secrets")
	delete(in.Config, "token")
	if _, err := f.eng.UpdateConnector(f.ctx, f.actor(), c.ID, in); err != nil {
		t.Fatal(err)
	}
	in.Config["token"] = nil
	if _, err := f.eng.UpdateConnector(f.ctx, f.actor(), c.ID, in); err != nil {
		t.Fatal(err)
	}
	out, err := f.eng.TestConnector(f.ctx, f.actor(), c.ID, engine.SourceConsole)
	if err != nil || !out.Success || out.Message != "probe reached with token of length 18" {
		t.Fatalf("test after updates: %+v %v", out, err)
	}
	in.Config["token"] = "new"
	if _, err := f.eng.UpdateConnector(f.ctx, f.actor(), c.ID, in); err != nil {
		t.Fatal(err)
	}
	out, _ = f.eng.TestConnector(f.ctx, f.actor(), c.ID, engine.SourceConsole)
	if out.Message != "probe reached with token of length 3" {
		t.Fatalf("a new secret value replaces the old: %+v", out)
	}

	entries, _, err := db.ListAudit(f.ctx, f.db.Bun, db.AuditFilter{Entity: "connector", Page: db.Page{Page: 1, PageSize: 50}})
	if err != nil || len(entries) != 4 {
		t.Fatalf("audit entries: %d %v", len(entries), err)
	}
	for _, e := range entries {
		b, _ := json.Marshal(e)
		if strings.Contains(string(b), "s3cret") || strings.Contains(string(b), `"new"`) {
			t.Fatalf("audit leaks a secret: %s", b)
		}
	}
	if !strings.Contains(string(entries[0].After), `"secretsChanged": ["token"]`) {
		t.Fatalf("the audit says which secret changed: %s", entries[0].After)
	}

	in.Type = "other"
	_, err = f.eng.UpdateConnector(f.ctx, f.actor(), c.ID, in)
	wantValidation(t, err, "type")
}

func TestConnectorNamesDeleteRestore(t *testing.T) {
	t.Parallel()
	f := setup(t)
	a, err := f.eng.CreateConnector(f.ctx, f.actor(), probeInput("Corp AD", "probe://a"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.eng.CreateConnector(f.ctx, f.actor(), probeInput("corp ad", "probe://b"))
	wantValidation(t, err, "name")
	if _, err := f.eng.DeleteConnector(f.ctx, f.actor(), a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.CreateConnector(f.ctx, f.actor(), probeInput("Corp AD", "probe://b")); err != nil {
		t.Fatalf("a deleted connector frees its name: %v", err)
	}
	_, err = f.eng.RestoreConnector(f.ctx, f.actor(), a.ID)
	var ce *engine.ConflictError
	if !asConflict(err, &ce) || !strings.Contains(ce.Message, "rename") {
		t.Fatalf("restoring onto a taken name: %v", err)
	}
	if _, err := f.eng.ExecuteConnector(f.ctx, f.actor(), a.ID, engine.ExecuteInput{Command: "createThing"}, engine.SourceConsole); !asConflict(err, &ce) {
		t.Fatalf("a deleted connector refuses calls: %v", err)
	}
}

func asConflict(err error, target **engine.ConflictError) bool {
	c, ok := err.(*engine.ConflictError)
	if ok {
		*target = c
	}
	return ok
}

func TestRotateConnectorKeys(t *testing.T) {
	t.Parallel()
	oldKey, newKey := randomKey(t), randomKey(t)
	f := setup(t, func(o *engine.Options) { o.SecretKey = oldKey })
	c, err := f.eng.CreateConnector(f.ctx, f.actor(), probeInput("Rotating", "probe://rotate"))
	if err != nil {
		t.Fatal(err)
	}
	withKeys := func(current, previous []byte) *engine.Engine {
		eng, err := engine.New(engine.Options{DB: f.db, Clock: f.clock, Connectors: testRegistry(t), SecretKey: current, SecretKeyPrevious: previous})
		if err != nil {
			t.Fatal(err)
		}
		return eng
	}

	// Without the old key, the secret cannot be read: the test says so instead of failing obscurely.
	out, err := withKeys(newKey, nil).TestConnector(f.ctx, f.actor(), c.ID, engine.SourceConsole)
	if err != nil || out.Success || out.Error.Code != "SECRETS_UNREADABLE" {
		t.Fatalf("unreadable secrets: %+v %v", out, err)
	}
	in := probeInput("Rotating", "probe://rotate")
	delete(in.Config, "token")
	_, err = withKeys(newKey, nil).UpdateConnector(f.ctx, f.actor(), c.ID, in)
	wantValidation(t, err, "config.token")
	if !strings.Contains(err.Error(), "cannot be decrypted") {
		t.Fatalf("the message says why the secret is needed again: %v", err)
	}
	res, err := withKeys(randomKey(t), nil).RotateConnectorKeys(f.ctx, f.actor())
	if err != nil || res.Total != 1 || res.Rotated != 0 || len(res.Failed) != 1 || res.Failed[0].Name != "Rotating" {
		t.Fatalf("a wrong key rotates nothing and names the connector: %+v %v", res, err)
	}

	rotating := withKeys(newKey, oldKey)
	res, err = rotating.RotateConnectorKeys(f.ctx, f.actor())
	if err != nil || res.Total != 1 || res.Rotated != 1 || res.Skipped != 0 || len(res.Failed) != 0 {
		t.Fatalf("rotate: %+v %v", res, err)
	}
	res, _ = rotating.RotateConnectorKeys(f.ctx, f.actor())
	if res.Skipped != 1 || res.Rotated != 0 {
		t.Fatalf("a second rotation skips: %+v", res)
	}
	out, err = withKeys(newKey, nil).TestConnector(f.ctx, f.actor(), c.ID, engine.SourceConsole)
	if err != nil || !out.Success {
		t.Fatalf("after rotation the new key alone reads the secret: %+v %v", out, err)
	}
}

func TestExecuteConnector(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c, err := f.eng.CreateConnector(f.ctx, f.actor(), probeInput("Exec", "probe://exec"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(in engine.ExecuteInput) *engine.ExecuteResult {
		t.Helper()
		res, err := f.eng.ExecuteConnector(f.ctx, f.actor(), c.ID, in, engine.SourceConsole)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	_, err = f.eng.ExecuteConnector(f.ctx, f.actor(), c.ID, engine.ExecuteInput{Command: "nope"}, engine.SourceConsole)
	wantValidation(t, err, "command")

	res := run(engine.ExecuteInput{Command: "createThing", Params: map[string]any{"count": "many"}})
	if res.Success || res.Error.Class != connectors.InvalidInput || res.Error.Field != "count" && res.Error.Field != "name" {
		t.Fatalf("bad params: %+v", res.Error)
	}
	if !strings.Contains(res.Error.Message, "name is required") || !strings.Contains(res.Error.Message, "count must be a whole number") {
		t.Fatalf("every problem is named: %s", res.Error.Message)
	}

	res = run(engine.ExecuteInput{Command: "createThing", Params: map[string]any{"name": "jdoe", "count": 2, "password": "Hunter2!"}})
	if !res.Success || res.Data["id"] != "thing-jdoe" || res.OutputVariables["created"] != true || res.OutputVariables["extra"] != nil || res.Mock {
		t.Fatalf("call: %+v", res)
	}

	probeFailures.Store("probe://exec", connectors.Errorf(connectors.AlreadyExists, "EXISTS", "account jdoe already exists"))
	res = run(engine.ExecuteInput{Command: "createThing", Params: map[string]any{"name": "jdoe"}})
	probeFailures.Delete("probe://exec")
	if res.Success || res.Error.Class != connectors.AlreadyExists || res.Error.Message != "account jdoe already exists" {
		t.Fatalf("classified failure: %+v", res)
	}

	// Mock mode answers from the mock data and never reaches the target.
	probeFailures.Store("probe://exec", connectors.Errorf(connectors.ConnectorDown, "DOWN", "unreachable"))
	in := probeInput("Exec", "probe://exec")
	in.MockMode = true
	in.MockData = map[string]any{
		"createThing": map[string]any{"outputs": map[string]any{"id": "mocked"}},
		"deleteThing": map[string]any{"error": map[string]any{"class": "not_found", "code": "GONE", "message": "no such thing"}},
	}
	if _, err := f.eng.UpdateConnector(f.ctx, f.actor(), c.ID, in); err != nil {
		t.Fatal(err)
	}
	res = run(engine.ExecuteInput{Command: "createThing", Params: map[string]any{"name": "x"}})
	if !res.Success || !res.Mock || res.Data["id"] != "mocked" {
		t.Fatalf("mock outputs: %+v", res)
	}
	res = run(engine.ExecuteInput{Command: "deleteThing", Params: map[string]any{"name": "x"}})
	if res.Success || res.Error.Class != connectors.NotFound || res.Error.Code != "GONE" {
		t.Fatalf("mock error: %+v", res)
	}
	real := false
	res = run(engine.ExecuteInput{Command: "createThing", Params: map[string]any{"name": "x"}, UseMock: &real})
	if res.Success || res.Mock || res.Error.Class != connectors.ConnectorDown {
		t.Fatalf("useMock=false reaches the target: %+v", res)
	}
	probeFailures.Delete("probe://exec")

	disabled := false
	in.MockMode, in.Enabled = false, &disabled
	if _, err := f.eng.UpdateConnector(f.ctx, f.actor(), c.ID, in); err != nil {
		t.Fatal(err)
	}
	res = run(engine.ExecuteInput{Command: "createThing", Params: map[string]any{"name": "x"}})
	if res.Success || res.Error.Class != connectors.ConnectorDown || !strings.Contains(res.Error.Message, "disabled") {
		t.Fatalf("a disabled connector refuses calls: %+v", res)
	}

	xs, total, err := f.eng.ListExecutions(f.ctx, c.ID, db.Page{Page: 1, PageSize: 50})
	if err != nil || total != 7 {
		t.Fatalf("executions: %d %v", total, err)
	}
	for _, x := range xs {
		b, _ := json.Marshal(x)
		if strings.Contains(string(b), "Hunter2!") {
			t.Fatalf("an execution log holds a secret param: %s", b)
		}
	}
	if !strings.Contains(string(xs[len(xs)-2].Params), connectors.Masked) {
		t.Fatalf("secret params are masked: %s", xs[len(xs)-2].Params)
	}
}

func TestConnectorHealth(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c, err := f.eng.CreateConnector(f.ctx, f.actor(), probeInput("Flaky", "probe://health"))
	if err != nil {
		t.Fatal(err)
	}
	check := func(want int) {
		t.Helper()
		n, err := f.eng.CheckConnectorHealth(f.ctx)
		if err != nil || n != want {
			t.Fatalf("health check tested %d (%v), want %d", n, err, want)
		}
	}
	status := func() *db.Connector {
		got, err := f.eng.FindConnector(f.ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	check(1)
	if s := status(); s.HealthStatus != db.HealthHealthy || s.LastTestOK == nil || !*s.LastTestOK {
		t.Fatalf("healthy after a good test: %+v", s)
	}
	check(0) // tested once per interval, however often the job fires

	probeFailures.Store("probe://health", connectors.Errorf(connectors.ConnectorDown, "UNREACHABLE", "cannot reach probe://health"))
	f.clock.Advance(engine.DefaultHealthInterval)
	check(1)
	if s := status(); s.HealthStatus != db.HealthHealthy || s.HealthFailures != 1 {
		t.Fatalf("one failure is not down yet: %+v", s)
	}
	f.clock.Advance(engine.DefaultHealthInterval)
	check(1)
	s := status()
	if s.HealthStatus != db.HealthDown || !s.HealthSince.Equal(f.clock.Now().UTC()) || !strings.Contains(string(s.LastError), "UNREACHABLE") {
		t.Fatalf("two failures mark it down: %+v", s)
	}
	incs, _, err := db.ListIncidents(f.ctx, f.db.Bun, db.IncidentFilter{Page: db.Page{Page: 1, PageSize: 10}})
	if err != nil || len(incs) != 1 || incs[0].Status != db.IncidentOpen || incs[0].Subject.ID != c.ID.String() || incs[0].Kind != "connector_health" {
		t.Fatalf("an incident opens: %+v %v", incs, err)
	}
	unread, err := f.eng.UnreadNotifications(f.ctx, f.admin.ID)
	if err != nil || unread != 1 {
		t.Fatalf("admins are notified once: %d %v", unread, err)
	}
	f.clock.Advance(engine.DefaultHealthInterval)
	check(1)
	if unread, _ := f.eng.UnreadNotifications(f.ctx, f.admin.ID); unread != 1 {
		t.Fatalf("a third failure does not notify again: %d", unread)
	}

	probeFailures.Delete("probe://health")
	f.clock.Advance(engine.DefaultHealthInterval)
	check(1)
	if s := status(); s.HealthStatus != db.HealthHealthy || s.HealthFailures != 0 || s.LastError != nil {
		t.Fatalf("recovered: %+v", s)
	}
	inc, err := db.FindIncident(f.ctx, f.db.Bun, incs[0].ID)
	if err != nil || inc.Status != db.IncidentMonitoring {
		t.Fatalf("the incident moves to monitoring: %+v %v", inc, err)
	}
	evs, _, err := db.ListEvents(f.ctx, f.db.Bun, db.EventFilter{SubType: "connector_health", Page: db.Page{Page: 1, PageSize: 10}})
	if err != nil || len(evs) != 2 || evs[0].Action != "recovered" || evs[1].Action != "failed" {
		t.Fatalf("events: %+v %v", evs, err)
	}
}

func TestFormSecretsAreBoundToTheUserAndExpire(t *testing.T) {
	t.Parallel()
	f := setup(t)
	other := dbtest.User(t, f.db, "other@example.test", engine.RoleAdmin)
	sealed := f.eng.SealFormSecrets(f.admin.ID, map[string]string{"bindPassword": "Adm1nPassw0rd!"})
	if strings.Contains(sealed, "Adm1n") {
		t.Fatal("sealed text shows the secret")
	}
	got, err := f.eng.OpenFormSecrets(f.admin.ID, sealed)
	if err != nil || got["bindPassword"] != "Adm1nPassw0rd!" {
		t.Fatalf("open: %v %v", got, err)
	}
	if _, err := f.eng.OpenFormSecrets(other.ID, sealed); err == nil {
		t.Fatal("another user cannot open it")
	}
	if _, err := f.eng.OpenFormSecrets(f.admin.ID, sealed[:len(sealed)-4]+"AAAA"); err == nil {
		t.Fatal("a tampered seal does not open")
	}
	f.clock.Advance(61 * time.Minute)
	if _, err := f.eng.OpenFormSecrets(f.admin.ID, sealed); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("it expires: %v", err)
	}
}

// FLOH_MOCK_CONNECTORS: every connector answers from mock data and nothing reaches a target,
// unless a call asks for the real one.
func TestSystemMockMode(t *testing.T) {
	t.Parallel()
	f := setup(t, func(o *engine.Options) { o.MockConnectors = true })
	c, err := f.eng.CreateConnector(f.ctx, f.actor(), probeInput("Mocked", "probe://system-mock"))
	if err != nil {
		t.Fatal(err)
	}
	probeFailures.Store("probe://system-mock", connectors.Errorf(connectors.ConnectorDown, "DOWN", "unreachable"))
	defer probeFailures.Delete("probe://system-mock")
	res, err := f.eng.ExecuteConnector(f.ctx, f.actor(), c.ID, engine.ExecuteInput{Command: "createThing", Params: map[string]any{"name": "x"}}, engine.SourceConsole)
	if err != nil || !res.Success || !res.Mock || res.Data["id"] != "mock-id" || res.Data["created"] != true {
		t.Fatalf("system mock: %+v %v", res, err)
	}
	out, err := f.eng.TestConnector(f.ctx, f.actor(), c.ID, engine.SourceConsole)
	if err != nil || !out.Success || !out.Mock {
		t.Fatalf("a mocked test contacts nothing: %+v %v", out, err)
	}
	if n, _ := f.eng.CheckConnectorHealth(f.ctx); n != 0 {
		t.Fatalf("the health monitor rests in system mock mode (tested %d)", n)
	}
	real := false
	res, _ = f.eng.ExecuteConnector(f.ctx, f.actor(), c.ID, engine.ExecuteInput{Command: "createThing", Params: map[string]any{"name": "x"}, UseMock: &real}, engine.SourceConsole)
	if res.Success || res.Mock || res.Error.Class != connectors.ConnectorDown {
		t.Fatalf("useMock=false wins over the system setting: %+v", res)
	}
}
