package engine_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"floh/connectors"
	"floh/db"
	"floh/db/dbtest"
	"floh/engine"
	"floh/engine/workflow"
)

// The scripted type stands in for a target system the runner calls: each instance (keyed by
// its url) answers from a script the test sets, and records every call with the idempotency
// key it carried.
var scripts sync.Map // url → *script

type script struct {
	mu sync.Mutex
	// failures answer the next calls, in order; then calls succeed.
	failures []*connectors.Error
	// hang blocks a call until its context ends.
	hang bool
	// release, when set, blocks a call until it is closed.
	release chan struct{}
	// entered receives once per call, before it blocks.
	entered chan struct{}
	calls   []scriptedCall
}

type scriptedCall struct {
	Command string
	Params  map[string]any
	Key     string
}

func (s *script) fail(errs ...*connectors.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, errs...)
}

func (s *script) recorded() []scriptedCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

var scriptedType = &connectors.Type{
	Name: "scripted", Label: "Scripted", Description: "a target whose answers a test scripts",
	Config: []connectors.Field{{Name: "url", Label: "URL", Kind: connectors.KindString, Required: true}},
	Commands: []connectors.Command{{
		Name: "createAccount", Label: "Create an account", Mutating: true,
		Params: []connectors.Field{
			{Name: "username", Label: "Username", Kind: connectors.KindString, Required: true},
			{Name: "password", Label: "Password", Kind: connectors.KindString, Secret: true},
			{Name: "groups", Label: "Groups", Kind: connectors.KindStringList},
		},
		Outputs: []connectors.Output{{Name: "accountId", Kind: connectors.KindString}, {Name: "username", Kind: connectors.KindString}},
	}},
	New: func(cfg connectors.Config) (connectors.Connector, error) {
		return &scripted{url: cfg.String("url")}, nil
	},
}

type scripted struct{ url string }

func (s *scripted) Test(context.Context) (connectors.TestResult, error) {
	return connectors.TestResult{Message: "scripted"}, nil
}

func (s *scripted) Execute(ctx context.Context, command string, params map[string]any) (map[string]any, error) {
	v, _ := scripts.Load(s.url)
	sc := v.(*script)
	sc.mu.Lock()
	sc.calls = append(sc.calls, scriptedCall{Command: command, Params: params, Key: connectors.IdempotencyKey(ctx)})
	var fail *connectors.Error
	if len(sc.failures) > 0 {
		fail, sc.failures = sc.failures[0], sc.failures[1:]
	}
	hang, release, entered := sc.hang, sc.release, sc.entered
	sc.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if hang {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if release != nil {
		<-release
	}
	if fail != nil {
		return nil, fail
	}
	username, _ := params["username"].(string)
	return map[string]any{"accountId": "acc-" + username, "username": username, "raw": "not a declared output"}, nil
}

// runFixture is a fixture with a scripted connector named Directory.
type runFixture struct {
	*fixture
	target *script
}

func setupRuns(t *testing.T, opts ...func(*engine.Options)) *runFixture {
	t.Helper()
	reg, err := connectors.NewRegistry(probeType, scriptedType)
	if err != nil {
		t.Fatal(err)
	}
	f := setup(t, append([]func(*engine.Options){func(o *engine.Options) { o.Connectors = reg }}, opts...)...)
	url := "scripted://" + t.Name()
	sc := &script{}
	scripts.Store(url, sc)
	t.Cleanup(func() { scripts.Delete(url) })
	_, err = f.eng.CreateConnector(f.ctx, f.actor(), engine.ConnectorInput{Name: "Directory", Type: "scripted", Config: map[string]any{"url": url}})
	if err != nil {
		t.Fatal(err)
	}
	return &runFixture{fixture: f, target: sc}
}

// Definition builders.

func startStep() workflow.Step {
	return workflow.Step{ID: "start", Name: "Start", Type: workflow.TypeStart}
}
func endStep() workflow.Step { return workflow.Step{ID: "end", Name: "End", Type: workflow.TypeEnd} }

func step(id, typ string, config map[string]any) workflow.Step {
	return workflow.Step{ID: id, Name: strings.ToUpper(id[:1]) + id[1:], Type: typ, Config: config}
}

// createAccount is a connector step on Directory.
func createAccount(id string, params map[string]any, extra map[string]any) workflow.Step {
	cfg := map[string]any{"connectorId": "Directory", "command": "createAccount", "params": params, "output": id}
	for k, v := range extra {
		cfg[k] = v
	}
	return step(id, workflow.TypeConnector, cfg)
}

func edge(from, to, on string) workflow.Edge { return workflow.Edge{From: from, To: to, On: on} }

// chain links steps with success edges, in order.
func chain(ids ...string) []workflow.Edge {
	var es []workflow.Edge
	for i := 1; i < len(ids); i++ {
		es = append(es, edge(ids[i-1], ids[i], workflow.OnSuccess))
	}
	return es
}

var usernameVar = []workflow.Variable{{Name: "username", Type: "string", Required: true}}

// publish stores an active workflow with the definition as its version 1.
func (f *runFixture) publish(t *testing.T, def workflow.Definition) uuid.UUID {
	t.Helper()
	if def.Name == "" {
		def.Name = t.Name()
	}
	raw, err := json.Marshal(def)
	if err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now()
	w := &db.Workflow{ID: uuid.New(), Name: def.Name + " " + uuid.NewString()[:8], Status: db.WorkflowActive, Version: 1,
		CreatedBy: "test", CreatedAt: now, UpdatedAt: now}
	if err := db.InsertWorkflow(f.ctx, f.db.Bun, w); err != nil {
		t.Fatal(err)
	}
	v := &db.WorkflowVersion{WorkflowID: w.ID, Version: 1, Definition: raw, PublishedAt: now, PublishedBy: "test"}
	if err := db.InsertWorkflowVersion(f.ctx, f.db.Bun, v); err != nil {
		t.Fatal(err)
	}
	return w.ID
}

func (f *runFixture) start(t *testing.T, wf uuid.UUID, vars map[string]any) uuid.UUID {
	t.Helper()
	run, err := f.eng.StartWorkflow(f.ctx, f.actor(), wf, engine.StartInput{Variables: vars})
	if err != nil {
		t.Fatal(err)
	}
	return run.ID
}

// dueJob claims the oldest run_step job that is due on the fake clock, as River's fetch
// would; ok is false when none is due.
func (f *runFixture) dueJob(t testing.TB) (id int64, args json.RawMessage, ok bool) {
	t.Helper()
	id, args, ok, err := f.nextDueJob()
	if err != nil {
		t.Fatal(err)
	}
	return id, args, ok
}

func (f *runFixture) nextDueJob() (id int64, args json.RawMessage, ok bool, err error) {
	err = f.db.Bun.NewRaw(`UPDATE river_job SET state = 'running', attempt = attempt + 1, attempted_at = now()
		WHERE id = (SELECT id FROM river_job WHERE kind = 'run_step'
			AND (state = 'available' OR (state = 'scheduled' AND scheduled_at <= ?)) ORDER BY id LIMIT 1)
		RETURNING id, args`, f.clock.Now()).Scan(f.ctx, &id, &args)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, false, nil
	}
	return id, args, err == nil, err
}

func (f *runFixture) completeJob(t testing.TB, id int64) {
	t.Helper()
	if err := f.finishJob(id); err != nil {
		t.Fatal(err)
	}
}

func (f *runFixture) finishJob(id int64) error {
	_, err := f.db.Bun.NewRaw(`UPDATE river_job SET state = 'completed', finalized_at = now() WHERE id = ?`, id).Exec(f.ctx)
	return err
}

// work works every due run_step job, including the ones they queue, and returns how many.
func (f *runFixture) work(t testing.TB) int {
	t.Helper()
	n, err := f.workErr()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// workAsync works the due jobs on another goroutine, for a test that must act while a call
// is in flight; the channel reports when it is done.
func (f *runFixture) workAsync(t *testing.T) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := f.workErr(); err != nil {
			t.Error(err)
		}
	}()
	return done
}

func (f *runFixture) workErr() (int, error) {
	n := 0
	for ; ; n++ {
		id, args, ok, err := f.nextDueJob()
		if err != nil || !ok {
			return n, err
		}
		if err := f.eng.WorkRunStepJob(f.ctx, id, args); err != nil {
			return n, fmt.Errorf("job %d %s: %w", id, args, err)
		}
		if err := f.finishJob(id); err != nil {
			return n, err
		}
		if n > 500 {
			return n, errors.New("the runner keeps queueing jobs")
		}
	}
}

func (f *runFixture) run(t testing.TB, id uuid.UUID) *db.Run {
	t.Helper()
	r, err := f.eng.FindRun(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *runFixture) steps(t testing.TB, id uuid.UUID) []db.StepExecution {
	t.Helper()
	ss, err := f.eng.RunSteps(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return ss
}

// statuses reads a run as "run-status: step:status step:status ...".
func (f *runFixture) statuses(t testing.TB, id uuid.UUID) string {
	t.Helper()
	parts := []string{f.run(t, id).Status + ":"}
	for _, s := range f.steps(t, id) {
		parts = append(parts, s.StepID+":"+s.Status)
	}
	return strings.Join(parts, " ")
}

func (f *runFixture) wantStatuses(t testing.TB, id uuid.UUID, want string) {
	t.Helper()
	if got := f.statuses(t, id); got != want {
		t.Fatalf("statuses:\n got %s\nwant %s", got, want)
	}
}

func (f *runFixture) stepNamed(t testing.TB, runID uuid.UUID, stepID string) db.StepExecution {
	t.Helper()
	for _, s := range f.steps(t, runID) {
		if s.StepID == stepID {
			return s
		}
	}
	t.Fatalf("run %s has no execution of step %s", runID, stepID)
	return db.StepExecution{}
}

func (f *runFixture) variables(t testing.TB, id uuid.UUID) map[string]any {
	t.Helper()
	vars := map[string]any{}
	if err := json.Unmarshal(f.run(t, id).Variables, &vars); err != nil {
		t.Fatal(err)
	}
	return vars
}

func decodeError(t testing.TB, raw json.RawMessage) connectors.Error {
	t.Helper()
	var e connectors.Error
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("error %s: %v", raw, err)
	}
	return e
}

func (f *runFixture) timelineKinds(t testing.TB, id uuid.UUID) []string {
	t.Helper()
	tl, err := f.eng.RunTimeline(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	kinds := make([]string, len(tl))
	for i, e := range tl {
		kinds[i] = e.Kind
	}
	return kinds
}

// provisioning is start → create (connector) → end, the create step templating its params.
func provisioning(extra map[string]any) workflow.Definition {
	return workflow.Definition{
		Variables: []workflow.Variable{{Name: "username", Type: "string", Required: true}, {Name: "password", Type: "string"}},
		Steps: []workflow.Step{startStep(),
			createAccount("create", map[string]any{"username": "{{username}}", "password": "{{password}}", "groups": []any{"staff"}}, extra),
			endStep()},
		Edges: chain("start", "create", "end"),
	}
}

func TestStartWorkflowCommitsTheRunAndItsFirstJob(t *testing.T) {
	t.Parallel()
	f := setupRuns(t)
	wf := f.publish(t, provisioning(nil))
	run, err := f.eng.StartWorkflow(f.ctx, f.actor(), wf, engine.StartInput{Variables: map[string]any{"username": "jdoe"}, UseMocks: true})
	if err != nil {
		t.Fatal(err)
	}
	// Another connection sees the run and the job of its start step at once.
	var status string
	var jobs int
	if err := f.db.Pool.QueryRow(f.ctx, `SELECT status FROM runs WHERE id = $1`, run.ID).Scan(&status); err != nil || status != db.RunPending {
		t.Fatalf("run row: %q %v", status, err)
	}
	if err := f.db.Pool.QueryRow(f.ctx, `SELECT count(*) FROM river_job WHERE kind = 'run_step' AND args->>'runId' = $1`, run.ID.String()).Scan(&jobs); err != nil || jobs != 1 {
		t.Fatalf("jobs: %d %v", jobs, err)
	}
	f.wantStatuses(t, run.ID, "pending: start:pending")
	if run.StartedBy.ID == nil || *run.StartedBy.ID != f.admin.ID || run.StartedBy.Label != f.admin.Email || !run.UseMocks || run.Version != 1 {
		t.Fatalf("run: %+v", run)
	}
	vars := f.variables(t, run.ID)
	initiator, _ := vars["initiator"].(map[string]any)
	meta, _ := vars["run"].(map[string]any)
	url := "https://floh.example.test/runs/" + run.ID.String()
	if initiator["id"] != f.admin.ID.String() || initiator["email"] != f.admin.Email || initiator["displayName"] != f.admin.DisplayName ||
		meta["id"] != run.ID.String() || meta["url"] != url || meta["diagnoseUrl"] != url+"#diagnose" || meta["workflowName"] != t.Name() {
		t.Fatalf("built-in variables: %v", vars)
	}
	entries, _, err := db.ListAudit(f.ctx, f.db.Bun, db.AuditFilter{Entity: "run", Action: "run.started", Page: db.Page{Page: 1, PageSize: 5}})
	if err != nil || len(entries) != 1 || *entries[0].EntityID != run.ID.String() {
		t.Fatalf("audit: %v %v", entries, err)
	}
}

func TestStartWorkflowRefusesWhatCannotRun(t *testing.T) {
	t.Parallel()
	f := setupRuns(t)
	def := provisioning(nil)
	def.Variables = []workflow.Variable{
		{Name: "username", Type: "string", Required: true}, {Name: "age", Type: "number"}, {Name: "admin", Type: "boolean"},
		{Name: "manager", Type: "user"}, {Name: "attrs", Type: "object"}, {Name: "groups", Type: "list"},
	}
	wf := f.publish(t, def)
	deleted := dbtest.User(t, f.db, "gone@example.test")
	now := f.clock.Now()
	deleted.DeletedAt = &now
	if err := db.UpdateUser(f.ctx, f.db.Bun, deleted); err != nil {
		t.Fatal(err)
	}
	for field, vars := range map[string]map[string]any{
		"variables.username": {},
		"variables.age":      {"username": "x", "age": "ten"},
		"variables.admin":    {"username": "x", "admin": "yes"},
		"variables.manager":  {"username": "x", "manager": "not-a-uuid"},
		"variables.attrs":    {"username": "x", "attrs": []any{}},
		"variables.groups":   {"username": "x", "groups": map[string]any{}},
		"variables.nosuch":   {"username": "x", "nosuch": 1},
		"variables.run":      {"username": "x", "run": "mine"},
	} {
		_, err := f.eng.StartWorkflow(f.ctx, f.actor(), wf, engine.StartInput{Variables: vars})
		wantValidation(t, err, field)
	}
	for _, manager := range []string{uuid.NewString(), deleted.ID.String()} {
		_, err := f.eng.StartWorkflow(f.ctx, f.actor(), wf, engine.StartInput{Variables: map[string]any{"username": "x", "manager": manager}})
		wantValidation(t, err, "variables.manager")
	}
	ok := map[string]any{"username": "x", "age": 42, "admin": true, "manager": f.admin.ID.String(),
		"attrs": map[string]any{"a": 1}, "groups": []any{"g"}}
	if _, err := f.eng.StartWorkflow(f.ctx, f.actor(), wf, engine.StartInput{Variables: ok}); err != nil {
		t.Fatalf("every type given right: %v", err)
	}

	for _, status := range []string{db.WorkflowDraft, db.WorkflowDeprecated, "deleted"} {
		id := f.publish(t, provisioning(nil))
		w, err := db.FindWorkflow(f.ctx, f.db.Bun, id)
		if err != nil {
			t.Fatal(err)
		}
		switch status {
		case db.WorkflowDraft:
			w.Status, w.Version = db.WorkflowDraft, 0
		case "deleted":
			w.Status, w.DeletedAt = db.WorkflowDeprecated, &now
		default:
			w.Status = status
		}
		if err := db.UpdateWorkflow(f.ctx, f.db.Bun, w); err != nil {
			t.Fatal(err)
		}
		_, err = f.eng.StartWorkflow(f.ctx, f.actor(), id, engine.StartInput{Variables: map[string]any{"username": "x"}})
		wantConflict(t, err)
	}
	if _, err := f.eng.StartWorkflow(f.ctx, f.actor(), uuid.New(), engine.StartInput{}); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("unknown workflow: %v", err)
	}
	var runs int
	if err := f.db.Bun.NewRaw(`SELECT count(*) FROM runs`).Scan(f.ctx, &runs); err != nil || runs != 1 {
		t.Fatalf("only the valid start made a run: %d %v", runs, err)
	}
}

func TestConnectorStepRunsWithTemplatedParams(t *testing.T) {
	t.Parallel()
	f := setupRuns(t)
	id := f.start(t, f.publish(t, provisioning(nil)), map[string]any{"username": "jdoe", "password": "Sup3r-secret"})
	if n := f.work(t); n != 3 {
		t.Fatalf("worked %d jobs, want one per step", n)
	}
	f.wantStatuses(t, id, "completed: start:completed create:completed end:completed")
	create := f.stepNamed(t, id, "create")
	if create.Attempts != 1 || string(create.Output) != `{"username": "jdoe", "accountId": "acc-jdoe"}` || create.Type != "connector" || create.Name != "Create" {
		t.Fatalf("create: %+v output %s", create, create.Output)
	}
	calls := f.target.recorded()
	if len(calls) != 1 || calls[0].Params["username"] != "jdoe" || calls[0].Params["password"] != "Sup3r-secret" ||
		!slices.Equal(calls[0].Params["groups"].([]string), []string{"staff"}) {
		t.Fatalf("calls: %+v", calls)
	}
	if calls[0].Key == "" || calls[0].Key != create.IdempotencyKey {
		t.Fatalf("the call carries the execution's idempotency key: %q vs %q", calls[0].Key, create.IdempotencyKey)
	}
	vars := f.variables(t, id)
	if account, _ := vars["create"].(map[string]any); account["accountId"] != "acc-jdoe" {
		t.Fatalf("the output is stored under the step's output name: %v", vars)
	}
	run := f.run(t, id)
	if run.FinishedAt == nil || !run.FinishedAt.Equal(f.clock.Now().UTC().Truncate(time.Microsecond)) || run.Error != nil {
		t.Fatalf("run: %+v", run)
	}
	tl, err := f.eng.RunTimeline(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(tl)
	if strings.Contains(string(body), "Sup3r-secret") || !strings.Contains(string(body), connectors.Masked) {
		t.Fatalf("the timeline masks secret params: %s", body)
	}
	if !slices.Contains(f.timelineKinds(t, id), "connector_call") || !strings.Contains(string(body), "acc-jdoe") {
		t.Fatalf("the timeline has the call and its response: %s", body)
	}
	var source, actor string
	if err := f.db.Bun.NewRaw(`SELECT source, actor FROM connector_executions`).Scan(f.ctx, &source, &actor); err != nil ||
		source != engine.SourceRun || actor != f.admin.Email {
		t.Fatalf("execution log: %s %s %v", source, actor, err)
	}
}

func TestMockModePrecedence(t *testing.T) {
	t.Parallel()
	no, yes := false, true
	cases := []struct {
		name         string
		system, inst bool // the system's and the instance's mock mode
		useMocks     bool
		stepMock     *bool
		want         bool
	}{
		{"nothing set calls the target", false, false, false, nil, false},
		{"the system's mock mode mocks", true, false, false, nil, true},
		{"the instance's mock mode mocks", false, true, false, nil, true},
		{"the run's useMocks mocks", false, false, true, nil, true},
		{"the step's mock: true mocks", false, false, false, &yes, true},
		{"the step's mock: false wins over useMocks", false, false, true, &no, false},
		{"the step's mock: false wins over the instance", false, true, false, &no, false},
		{"the step's mock: false wins over the system", true, false, false, &no, false},
	}
	for _, c := range cases {
		f := setupRuns(t, func(o *engine.Options) { o.MockConnectors = c.system })
		if c.inst {
			conns, _, err := f.eng.ListConnectors(f.ctx, db.ConnectorFilter{Page: db.Page{Page: 1, PageSize: 1}})
			if err != nil {
				t.Fatal(err)
			}
			in := engine.ConnectorInput{Name: "Directory", Type: "scripted", Config: map[string]any{"url": "scripted://" + t.Name()}, MockMode: true}
			if _, err := f.eng.UpdateConnector(f.ctx, f.actor(), conns[0].ID, in); err != nil {
				t.Fatal(err)
			}
		}
		extra := map[string]any{}
		if c.stepMock != nil {
			extra["mock"] = *c.stepMock
		}
		run, err := f.eng.StartWorkflow(f.ctx, f.actor(), f.publish(t, provisioning(extra)),
			engine.StartInput{Variables: map[string]any{"username": "m"}, UseMocks: c.useMocks})
		if err != nil {
			t.Fatal(err)
		}
		f.work(t)
		called := len(f.target.recorded()) > 0
		if called == c.want || f.run(t, run.ID).Status != db.RunCompleted {
			t.Errorf("%s: target called %t, run %s", c.name, called, f.run(t, run.ID).Status)
		}
	}
}

func TestOutcomesRouteAlongEdges(t *testing.T) {
	t.Parallel()
	f := setupRuns(t)
	def := provisioning(nil)
	def.Steps = append(def.Steps, step("cleanup", workflow.TypeTransform, map[string]any{"set": map[string]any{"handled": "true"}}))
	def.Edges = append(def.Edges, edge("create", "cleanup", workflow.OnError), edge("cleanup", "end", workflow.OnSuccess))
	id := f.start(t, f.publish(t, def), map[string]any{"username": "jdoe"})
	f.target.fail(connectors.Errorf(connectors.AlreadyExists, "EXISTS", "jdoe exists"))
	f.work(t)
	f.wantStatuses(t, id, "completed: start:completed create:failed cleanup:completed end:completed")
	if e := decodeError(t, f.stepNamed(t, id, "create").Error); e.Code != "EXISTS" || e.Class != connectors.AlreadyExists || e.Message != "jdoe exists" {
		t.Fatalf("the failed step keeps its error: %+v", e)
	}
	if f.variables(t, id)["handled"] != true {
		t.Fatal("the error path ran")
	}
}

func TestErrorStrategy(t *testing.T) {
	t.Parallel()
	f := setupRuns(t)
	withNext := func(strategy string, successEdge bool) workflow.Definition {
		def := workflow.Definition{ErrorStrategy: strategy, Variables: usernameVar,
			Steps: []workflow.Step{startStep(), createAccount("create", map[string]any{"username": "{{username}}"}, nil),
				step("after", workflow.TypeTransform, map[string]any{"set": map[string]any{"after": "1"}}), endStep()},
			Edges: []workflow.Edge{edge("start", "create", workflow.OnSuccess), edge("after", "end", workflow.OnSuccess)},
		}
		if successEdge {
			def.Edges = append(def.Edges, edge("create", "after", workflow.OnSuccess))
		}
		return def
	}
	cases := []struct {
		name string
		def  workflow.Definition
		want string
	}{
		{"stop fails the run", withNext(workflow.StrategyStop, true), "failed: start:completed create:failed"},
		{"the default is stop", withNext("", true), "failed: start:completed create:failed"},
		{"continue takes the success edge", withNext(workflow.StrategyContinue, true),
			"completed: start:completed create:failed after:completed end:completed"},
		{"continue without a success edge ends the run", withNext(workflow.StrategyContinue, false), "completed: start:completed create:failed"},
	}
	for _, c := range cases {
		id := f.start(t, f.publish(t, c.def), map[string]any{"username": "x"})
		f.target.fail(connectors.Errorf(connectors.Unauthorized, "DENIED", "bind refused"))
		f.work(t)
		if got := f.statuses(t, id); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
		run := f.run(t, id)
		if run.Status == db.RunFailed {
			if e := decodeError(t, run.Error); e.Code != "DENIED" || e.Class != connectors.Unauthorized || e.Message != "bind refused" {
				t.Errorf("%s: the run fails with the step's error: %s", c.name, run.Error)
			}
		}
	}

	// A success with no edge out is a dead end: stop fails the run and says so.
	def := withNext(workflow.StrategyStop, false)
	id := f.start(t, f.publish(t, def), map[string]any{"username": "x"})
	f.work(t)
	f.wantStatuses(t, id, "failed: start:completed create:completed")
	if e := decodeError(t, f.run(t, id).Error); e.Code != "NO_EDGE" || !strings.Contains(e.Message, `step create has no edge for its outcome "success"`) {
		t.Fatalf("dead end: %+v", e)
	}
}

func TestConditionTakesTheFirstTrueBranch(t *testing.T) {
	t.Parallel()
	f := setupRuns(t)
	mark := func(id string) workflow.Step {
		return step(id, workflow.TypeTransform, map[string]any{"set": map[string]any{"path": fmt.Sprintf("%q", id)}})
	}
	def := workflow.Definition{
		Variables: []workflow.Variable{{Name: "amount", Type: "number", Required: true}},
		Steps: []workflow.Step{startStep(),
			step("size", workflow.TypeCondition, map[string]any{
				"branches": []any{map[string]any{"name": "big", "when": "amount > 100"}, map[string]any{"name": "small", "when": "amount > 0"}},
				"default":  "none"}),
			mark("bigPath"), mark("smallPath"), mark("nonePath"), endStep()},
		Edges: []workflow.Edge{edge("start", "size", workflow.OnSuccess),
			edge("size", "bigPath", "big"), edge("size", "smallPath", "small"), edge("size", "nonePath", "none"),
			edge("bigPath", "end", workflow.OnSuccess), edge("smallPath", "end", workflow.OnSuccess), edge("nonePath", "end", workflow.OnSuccess)},
	}
	wf := f.publish(t, def)
	for amount, want := range map[float64]string{500: "bigPath", 5: "smallPath", 0: "nonePath"} {
		id := f.start(t, wf, map[string]any{"amount": amount})
		f.work(t)
		f.wantStatuses(t, id, "completed: start:completed size:completed "+want+":completed end:completed")
		if out := string(f.stepNamed(t, id, "size").Output); out != fmt.Sprintf(`{"branch": %q}`, strings.TrimSuffix(want, "Path")) {
			t.Errorf("amount %v: condition output %s", amount, out)
		}
	}

	// With no branch true and no default, the condition fails.
	delete(def.Steps[1].Config, "default")
	id := f.start(t, f.publish(t, def), map[string]any{"amount": 0})
	f.work(t)
	f.wantStatuses(t, id, "failed: start:completed size:failed")
	if e := decodeError(t, f.stepNamed(t, id, "size").Error); e.Code != "NO_BRANCH" {
		t.Fatalf("error: %+v", e)
	}
}

func TestTransformFeedsLaterTemplates(t *testing.T) {
	t.Parallel()
	f := setupRuns(t)
	def := workflow.Definition{
		Variables: []workflow.Variable{{Name: "firstName", Type: "string", Required: true}, {Name: "lastName", Type: "string", Required: true}},
		Steps: []workflow.Step{startStep(),
			step("names", workflow.TypeTransform, map[string]any{"set": map[string]any{
				"username": `lower(firstName) + "." + lower(lastName)`,
				"who":      "initiator.email", "link": "run.diagnoseUrl", "wf": "run.workflowName", "at": "now"}}),
			createAccount("create", map[string]any{"username": "{{username}}"}, nil), endStep()},
		Edges: chain("start", "names", "create", "end"),
	}
	id := f.start(t, f.publish(t, def), map[string]any{"firstName": "Jane", "lastName": "Doe"})
	f.work(t)
	f.wantStatuses(t, id, "completed: start:completed names:completed create:completed end:completed")
	if calls := f.target.recorded(); len(calls) != 1 || calls[0].Params["username"] != "jane.doe" {
		t.Fatalf("calls: %+v", calls)
	}
	vars := f.variables(t, id)
	if vars["who"] != f.admin.Email || vars["link"] != "https://floh.example.test/runs/"+id.String()+"#diagnose" ||
		vars["wf"] != t.Name() || vars["at"] != f.clock.Now().UTC().Format(time.RFC3339) {
		t.Fatalf("built-in variables seen by expressions: %v", vars)
	}
}

func TestUndefinedVariablesFailTheStepNamingThem(t *testing.T) {
	t.Parallel()
	f := setupRuns(t)
	cases := map[string]workflow.Step{
		"manager.email": createAccount("s", map[string]any{"username": "{{manager.email}}"}, nil),
		"nosuch":        step("s", workflow.TypeTransform, map[string]any{"set": map[string]any{"x": `nosuch + "!"`}}),
	}
	for name, s := range cases {
		def := workflow.Definition{Variables: usernameVar, Steps: []workflow.Step{startStep(), s, endStep()}, Edges: chain("start", "s", "end")}
		id := f.start(t, f.publish(t, def), map[string]any{"username": "x"})
		f.work(t)
		f.wantStatuses(t, id, "failed: start:completed s:failed")
		e := decodeError(t, f.stepNamed(t, id, "s").Error)
		if e.Code != "UNDEFINED_VARIABLE" || e.Class != connectors.InvalidInput || !strings.Contains(e.Message, name) {
			t.Errorf("%s: %+v", name, e)
		}
	}
	if calls := f.target.recorded(); len(calls) != 0 {
		t.Fatalf("nothing is called with a missing variable: %+v", calls)
	}
}

func TestExpressionErrorsFailTheStep(t *testing.T) {
	t.Parallel()
	f := setupRuns(t)
	cases := map[string]workflow.Step{
		"not true or false": step("s", workflow.TypeCondition, map[string]any{
			"branches": []any{map[string]any{"name": "yes", "when": `username + "!"`}}, "default": "no"}),
		"is invalid": step("s", workflow.TypeTransform, map[string]any{"set": map[string]any{"x": "username +"}}),
		"failed":     step("s", workflow.TypeTransform, map[string]any{"set": map[string]any{"x": "int(username)"}}),
	}
	for want, s := range cases {
		def := workflow.Definition{Variables: usernameVar, Steps: []workflow.Step{startStep(), s, endStep()},
			Edges: []workflow.Edge{edge("start", "s", workflow.OnSuccess), edge("s", "end", workflow.OnSuccess),
				edge("s", "end", "yes"), edge("s", "end", "no")}}
		id := f.start(t, f.publish(t, def), map[string]any{"username": "x"})
		f.work(t)
		f.wantStatuses(t, id, "failed: start:completed s:failed")
		e := decodeError(t, f.stepNamed(t, id, "s").Error)
		if e.Code != "EXPRESSION_ERROR" || e.Class != connectors.InvalidInput || !strings.Contains(e.Message, want) {
			t.Errorf("%s: %+v", want, e)
		}
	}
}

func TestUserCreateAndProfileUpdate(t *testing.T) {
	t.Parallel()
	f := setupRuns(t)
	def := workflow.Definition{
		SubjectVariable: "person",
		Variables: []workflow.Variable{{Name: "email", Type: "string", Required: true}, {Name: "dept", Type: "string", Required: true},
			{Name: "person", Type: "user"}},
		Steps: []workflow.Step{startStep(),
			step("user", workflow.TypeUserCreate, map[string]any{"email": "{{email}}", "displayName": "New {{dept}} hire", "setAsSubject": true}),
			step("profile", workflow.TypeProfileUpdate, map[string]any{"userId": "{{person}}",
				"fields": map[string]any{"department": "{{dept}}", "badge": "B-{{email}}"}}),
			endStep()},
		Edges: chain("start", "user", "profile", "end"),
	}
	id := f.start(t, f.publish(t, def), map[string]any{"email": "new.hire@example.test", "dept": "Sales"})
	f.work(t)
	f.wantStatuses(t, id, "completed: start:completed user:completed profile:completed end:completed")
	run := f.run(t, id)
	users, err := db.FindLiveUsersByEmail(f.ctx, f.db.Bun, "new.hire@example.test")
	if err != nil || len(users) != 1 || users[0].DisplayName != "New Sales hire" {
		t.Fatalf("user: %+v %v", users, err)
	}
	u := users[0]
	if run.SubjectType == nil || *run.SubjectType != "user" || *run.SubjectID != u.ID.String() || f.variables(t, id)["person"] != u.ID.String() {
		t.Fatalf("setAsSubject: %v %v %v", run.SubjectType, run.SubjectID, f.variables(t, id)["person"])
	}
	prof, err := db.FindProfile(f.ctx, f.db.Bun, u.ID)
	if err != nil || prof.Department == nil || *prof.Department != "Sales" || string(prof.Custom["badge"]) != `"B-new.hire@example.test"` {
		t.Fatalf("profile: %+v %v", prof, err)
	}
	if out := string(f.stepNamed(t, id, "profile").Output); !strings.Contains(out, `"previous": {"badge": null, "department": null}`) {
		t.Fatalf("profile_update keeps the values it replaced: %s", out)
	}
	for _, action := range []string{"user.created", "user.profile_updated"} {
		entries, _, err := db.ListAudit(f.ctx, f.db.Bun, db.AuditFilter{Action: action, Page: db.Page{Page: 1, PageSize: 5}})
		if err != nil || len(entries) != 1 || entries[0].Actor != f.admin.Email || *entries[0].ActorID != f.admin.ID {
			t.Fatalf("%s audited as the run's starter: %+v %v", action, entries, err)
		}
	}
	runs, total, err := f.eng.ListRuns(f.ctx, db.RunFilter{SubjectType: "user", SubjectID: u.ID.String(), Page: db.Page{Page: 1, PageSize: 10}})
	if err != nil || total != 1 || runs[0].ID != id {
		t.Fatalf("runs about the user: %v %d %v", runs, total, err)
	}
}

func TestDelayWaitsWithoutHoldingAWorker(t *testing.T) {
	t.Parallel()
	f := setupRuns(t)
	def := workflow.Definition{Steps: []workflow.Step{startStep(), step("pause", workflow.TypeDelay, map[string]any{"duration": "10m"}), endStep()},
		Edges: chain("start", "pause", "end")}
	id := f.start(t, f.publish(t, def), nil)
	f.work(t)
	f.wantStatuses(t, id, "waiting: start:completed pause:running")
	if due := f.stepNamed(t, id, "pause").DueAt; due == nil || !due.Equal(f.clock.Now().Add(10*time.Minute)) {
		t.Fatalf("the wake-up: %v", due)
	}
	f.clock.Advance(9 * time.Minute)
	if n := f.work(t); n != 0 {
		t.Fatalf("woke %d jobs early", n)
	}
	f.clock.Advance(time.Minute)
	f.work(t)
	f.wantStatuses(t, id, "completed: start:completed pause:completed end:completed")
}

func TestSubWorkflowResumesItsParent(t *testing.T) {
	t.Parallel()
	f := setupRuns(t)
	child := f.publish(t, workflow.Definition{Name: "Child", Variables: usernameVar,
		Steps: []workflow.Step{startStep(), createAccount("create", map[string]any{"username": "{{username}}"}, nil),
			step("greet", workflow.TypeTransform, map[string]any{"set": map[string]any{"greeting": `"hello " + username`}}), endStep()},
		Edges: chain("start", "create", "greet", "end")})
	parentDef := workflow.Definition{Variables: usernameVar,
		Steps: []workflow.Step{startStep(),
			step("sub", workflow.TypeSubWorkflow, map[string]any{"workflowId": child.String(), "variables": map[string]any{"username": "{{username}}-child"}}),
			endStep()},
		Edges: chain("start", "sub", "end")}
	parent := f.publish(t, parentDef)

	id := f.start(t, parent, map[string]any{"username": "jdoe"})
	id2, args, _ := f.dueJob(t)
	if err := f.eng.WorkRunStepJob(f.ctx, id2, args); err != nil {
		t.Fatal(err)
	}
	f.completeJob(t, id2)
	id2, args, _ = f.dueJob(t)
	if err := f.eng.WorkRunStepJob(f.ctx, id2, args); err != nil {
		t.Fatal(err)
	}
	f.completeJob(t, id2)
	f.wantStatuses(t, id, "waiting: start:completed sub:waiting_response")
	sub := f.stepNamed(t, id, "sub")
	if sub.ChildRunID == nil {
		t.Fatal("the step names its child run")
	}
	childRun := f.run(t, *sub.ChildRunID)
	if childRun.ParentRunID == nil || *childRun.ParentRunID != id || childRun.WorkflowID != child || childRun.Status != db.RunPending {
		t.Fatalf("child run: %+v", childRun)
	}
	f.work(t)
	f.wantStatuses(t, childRun.ID, "completed: start:completed create:completed greet:completed end:completed")
	f.wantStatuses(t, id, "completed: start:completed sub:completed end:completed")
	out := map[string]any{}
	if err := json.Unmarshal(f.stepNamed(t, id, "sub").Output, &out); err != nil {
		t.Fatal(err)
	}
	if out["username"] != "jdoe-child" || out["greeting"] != "hello jdoe-child" || out["run"] != nil || out["initiator"] != nil {
		t.Fatalf("the parent gets the child's variables: %v", out)
	}

	// A failing child fails the parent's step with its error.
	f.target.fail(connectors.Errorf(connectors.InvalidInput, "BAD_NAME", "username refused"))
	id = f.start(t, parent, map[string]any{"username": "bad"})
	f.work(t)
	f.wantStatuses(t, id, "failed: start:completed sub:failed")
	if e := decodeError(t, f.stepNamed(t, id, "sub").Error); e.Code != "SUB_WORKFLOW_FAILED" || e.Class != connectors.InvalidInput ||
		!strings.Contains(e.Message, "username refused") {
		t.Fatalf("sub error: %+v", e)
	}
	_, err := f.eng.RetryRun(f.ctx, f.actor(), *f.stepNamed(t, id, "sub").ChildRunID)
	wantConflict(t, err)
}

func TestTransientFailuresRetryWithOneIdempotencyKey(t *testing.T) {
	t.Parallel()
	f := setupRuns(t)
	id := f.start(t, f.publish(t, provisioning(map[string]any{"retry": map[string]any{"maxAttempts": 3, "backoff": "exponential"}})),
		map[string]any{"username": "jdoe"})
	down := connectors.Errorf(connectors.ConnectorDown, "UNREACHABLE", "cannot reach the directory")
	f.target.fail(down, down)
	f.work(t)
	f.wantStatuses(t, id, "running: start:completed create:pending")
	create := f.stepNamed(t, id, "create")
	if create.Attempts != 1 || create.DueAt == nil || !create.DueAt.Equal(f.clock.Now().Add(10*time.Second)) {
		t.Fatalf("after attempt 1: %+v", create)
	}
	f.clock.Advance(10 * time.Second)
	f.work(t)
	create = f.stepNamed(t, id, "create")
	if create.Attempts != 2 || !create.DueAt.Equal(f.clock.Now().Add(20*time.Second)) {
		t.Fatalf("exponential backoff after attempt 2: %+v", create)
	}
	f.clock.Advance(19 * time.Second)
	if n := f.work(t); n != 0 {
		t.Fatal("the retry ran before its backoff")
	}
	f.clock.Advance(time.Second)
	f.work(t)
	f.wantStatuses(t, id, "completed: start:completed create:completed end:completed")
	create = f.stepNamed(t, id, "create")
	if create.Attempts != 3 || create.Error != nil {
		t.Fatalf("completed: %+v", create)
	}
	calls := f.target.recorded()
	if len(calls) != 3 {
		t.Fatalf("calls: %d", len(calls))
	}
	for _, c := range calls {
		if c.Key != create.IdempotencyKey {
			t.Fatalf("every attempt carries one key: %+v vs %s", calls, create.IdempotencyKey)
		}
	}
	if kinds := f.timelineKinds(t, id); strings.Count(strings.Join(kinds, " "), "attempt_failed") != 2 {
		t.Fatalf("timeline: %v", kinds)
	}
}

func TestOnlyTransientClassesRetry(t *testing.T) {
	t.Parallel()
	f := setupRuns(t)
	wf := f.publish(t, provisioning(map[string]any{"retry": map[string]any{"maxAttempts": 3}}))
	for _, class := range connectors.Classes {
		id := f.start(t, wf, map[string]any{"username": "x"})
		f.target.fail(connectors.Errorf(class, "X", "failed as %s", class))
		f.work(t)
		create := f.stepNamed(t, id, "create")
		if class.Retryable() {
			if create.Status != db.StepPending || create.Attempts != 1 {
				t.Errorf("%s retries: %+v", class, create)
			}
			f.clock.Advance(time.Minute)
			f.work(t)
			f.wantStatuses(t, id, "completed: start:completed create:completed end:completed")
			continue
		}
		if create.Status != db.StepFailed || create.Attempts != 1 || f.run(t, id).Status != db.RunFailed {
			t.Errorf("%s does not retry: %+v", class, create)
		}
	}
}

func TestExhaustedRetriesTakeTheErrorEdge(t *testing.T) {
	t.Parallel()
	f := setupRuns(t)
	def := provisioning(map[string]any{"retry": map[string]any{"maxAttempts": 2, "backoff": "fixed"}})
	def.Steps = append(def.Steps, step("report", workflow.TypeTransform, map[string]any{"set": map[string]any{"reported": "true"}}))
	def.Edges = append(def.Edges, edge("create", "report", workflow.OnError), edge("report", "end", workflow.OnSuccess))
	id := f.start(t, f.publish(t, def), map[string]any{"username": "x"})
	boom := connectors.Errorf(connectors.TargetError, "HTTP_500", "server error")
	f.target.fail(boom, boom)
	f.work(t)
	if due := f.stepNamed(t, id, "create").DueAt; !due.Equal(f.clock.Now().Add(10 * time.Second)) {
		t.Fatalf("fixed backoff: %v", due)
	}
	f.clock.Advance(10 * time.Second)
	f.work(t)
	f.wantStatuses(t, id, "completed: start:completed create:failed report:completed end:completed")
	if create := f.stepNamed(t, id, "create"); create.Attempts != 2 || decodeError(t, create.Error).Code != "HTTP_500" {
		t.Fatalf("create: %+v", create)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	f := setupRuns(t)
	id := f.start(t, f.publish(t, provisioning(map[string]any{"retry": map[string]any{"maxAttempts": 2, "backoff": "fixed"}})),
		map[string]any{"username": "x"})
	limited := connectors.Errorf(connectors.RateLimited, "RATE_LIMITED", "slow down")
	limited.RetryAfter = 5 * time.Minute
	f.target.fail(limited)
	f.work(t)
	if due := f.stepNamed(t, id, "create").DueAt; !due.Equal(f.clock.Now().Add(5 * time.Minute)) {
		t.Fatalf("the retry waits for Retry-After: %v", due)
	}
	f.clock.Advance(4 * time.Minute)
	if n := f.work(t); n != 0 {
		t.Fatal("retried before Retry-After")
	}
	f.clock.Advance(time.Minute)
	f.work(t)
	f.wantStatuses(t, id, "completed: start:completed create:completed end:completed")
}

func TestStepTimeoutBoundsEachAttempt(t *testing.T) {
	t.Parallel()
	f := setupRuns(t)
	id := f.start(t, f.publish(t, provisioning(map[string]any{"timeout": "30s", "retry": map[string]any{"maxAttempts": 2}})),
		map[string]any{"username": "x"})
	f.target.hang, f.target.entered = true, make(chan struct{}, 2)
	done := f.workAsync(t)
	<-f.target.entered
	if due := f.stepNamed(t, id, "create").DueAt; due == nil || !due.Equal(f.clock.Now().Add(30*time.Second)) {
		t.Fatalf("a running attempt is due by its timeout: %v", due)
	}
	f.clock.Advance(30 * time.Second)
	<-done
	create := f.stepNamed(t, id, "create")
	if e := decodeError(t, create.Error); create.Status != db.StepPending || e.Code != "STEP_TIMEOUT" || e.Class != connectors.ConnectorDown ||
		!strings.Contains(e.Message, "did not finish within 30s") {
		t.Fatalf("timed out attempt: %+v %s", create, create.Error)
	}
	// The retry times out too, and the step fails.
	f.clock.Advance(10 * time.Second)
	done = f.workAsync(t)
	<-f.target.entered
	f.clock.Advance(30 * time.Second)
	<-done
	f.wantStatuses(t, id, "failed: start:completed create:failed")
}

func TestCancelRun(t *testing.T) {
	t.Parallel()
	f := setupRuns(t)
	def := workflow.Definition{Variables: usernameVar,
		Steps: []workflow.Step{startStep(), step("pause", workflow.TypeDelay, map[string]any{"duration": "1h"}),
			createAccount("create", map[string]any{"username": "{{username}}"}, nil), endStep()},
		Edges: chain("start", "pause", "create", "end")}
	id := f.start(t, f.publish(t, def), map[string]any{"username": "x"})
	f.work(t)
	f.wantStatuses(t, id, "waiting: start:completed pause:running")
	run, err := f.eng.CancelRun(f.ctx, f.actor(), id)
	if err != nil || run.Status != db.RunCancelled || run.FinishedAt == nil {
		t.Fatalf("cancel: %+v %v", run, err)
	}
	f.clock.Advance(time.Hour)
	f.work(t)
	f.wantStatuses(t, id, "cancelled: start:completed pause:cancelled")
	if len(f.target.recorded()) != 0 {
		t.Fatal("a cancelled run calls nothing")
	}
	_, err = f.eng.CancelRun(f.ctx, f.actor(), id)
	wantConflict(t, err)
	entries, _, _ := db.ListAudit(f.ctx, f.db.Bun, db.AuditFilter{Action: "run.cancelled", Page: db.Page{Page: 1, PageSize: 5}})
	if len(entries) != 1 {
		t.Fatalf("audit: %v", entries)
	}

	// A call in flight when the run is cancelled finishes, but its result is dropped.
	id = f.start(t, f.publish(t, provisioning(nil)), map[string]any{"username": "y"})
	f.target.release, f.target.entered = make(chan struct{}), make(chan struct{}, 1)
	done := f.workAsync(t)
	<-f.target.entered
	if _, err := f.eng.CancelRun(f.ctx, f.actor(), id); err != nil {
		t.Fatal(err)
	}
	close(f.target.release)
	<-done
	f.wantStatuses(t, id, "cancelled: start:completed create:cancelled")
	// The call was made, so the connector's execution log keeps it though its result is dropped.
	var logged int
	if err := f.db.Pool.QueryRow(f.ctx, `SELECT count(*) FROM connector_executions`).Scan(&logged); err != nil || logged != 1 {
		t.Fatalf("the execution log holds %d calls (%v), want the dropped one", logged, err)
	}
}

func TestCancelParentCancelsChild(t *testing.T) {
	t.Parallel()
	f := setupRuns(t)
	child := f.publish(t, workflow.Definition{Name: "Child",
		Steps: []workflow.Step{startStep(), step("pause", workflow.TypeDelay, map[string]any{"duration": "1h"}), endStep()},
		Edges: chain("start", "pause", "end")})
	parent := f.publish(t, workflow.Definition{
		Steps: []workflow.Step{startStep(), step("sub", workflow.TypeSubWorkflow, map[string]any{"workflowId": child.String()}), endStep()},
		Edges: chain("start", "sub", "end")})
	id := f.start(t, parent, nil)
	f.work(t)
	childID := *f.stepNamed(t, id, "sub").ChildRunID
	f.wantStatuses(t, childID, "waiting: start:completed pause:running")
	if _, err := f.eng.CancelRun(f.ctx, f.actor(), id); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour)
	f.work(t)
	f.wantStatuses(t, id, "cancelled: start:completed sub:cancelled")
	f.wantStatuses(t, childID, "cancelled: start:completed pause:cancelled")
}

func TestRetryRunFromTheFailedStep(t *testing.T) {
	t.Parallel()
	f := setupRuns(t)
	id := f.start(t, f.publish(t, provisioning(nil)), map[string]any{"username": "x"})
	f.target.fail(connectors.Errorf(connectors.Unauthorized, "DENIED", "the service account lacks rights"))
	f.work(t)
	f.wantStatuses(t, id, "failed: start:completed create:failed")
	_, err := f.eng.UpdateRunVariables(f.ctx, f.actor(), id, map[string]any{"username": "z"})
	wantConflict(t, err)

	run, err := f.eng.RetryRun(f.ctx, f.actor(), id)
	if err != nil || run.Status != db.RunRunning || run.Error != nil || run.FinishedAt != nil {
		t.Fatalf("retry: %+v %v", run, err)
	}
	f.wantStatuses(t, id, "running: start:completed create:pending")
	f.work(t)
	f.wantStatuses(t, id, "completed: start:completed create:completed end:completed")
	create := f.stepNamed(t, id, "create")
	calls := f.target.recorded()
	if create.Attempts != 2 || len(calls) != 2 || calls[0].Key != calls[1].Key || calls[1].Key != create.IdempotencyKey {
		t.Fatalf("the retry is a new attempt of the same execution: %+v %+v", create, calls)
	}
	_, err = f.eng.RetryRun(f.ctx, f.actor(), id)
	wantConflict(t, err)
	entries, _, _ := db.ListAudit(f.ctx, f.db.Bun, db.AuditFilter{Action: "run.retried", Page: db.Page{Page: 1, PageSize: 5}})
	if len(entries) != 1 {
		t.Fatalf("audit: %v", entries)
	}
}

func TestUpdateRunVariables(t *testing.T) {
	t.Parallel()
	f := setupRuns(t)
	id := f.start(t, f.publish(t, provisioning(nil)), map[string]any{"username": "typo"})
	for field, vars := range map[string]map[string]any{
		"variables.username": {"username": 7},
		"variables.run":      {"run": map[string]any{}},
		"variables.now":      {"now": "later"},
	} {
		_, err := f.eng.UpdateRunVariables(f.ctx, f.actor(), id, vars)
		wantValidation(t, err, field)
	}
	_, err := f.eng.UpdateRunVariables(f.ctx, f.actor(), id, map[string]any{"username": nil})
	wantValidation(t, err, "variables.username")
	run, err := f.eng.UpdateRunVariables(f.ctx, f.actor(), id, map[string]any{"username": "fixed", "note": "checked by hand"})
	if err != nil || run.Status != db.RunPending {
		t.Fatalf("update: %+v %v", run, err)
	}
	f.work(t)
	if calls := f.target.recorded(); len(calls) != 1 || calls[0].Params["username"] != "fixed" {
		t.Fatalf("later steps see the edit: %+v", calls)
	}
	if f.variables(t, id)["note"] != "checked by hand" {
		t.Fatal("an undeclared variable can be set")
	}
	_, err = f.eng.UpdateRunVariables(f.ctx, f.actor(), id, map[string]any{"username": "late"})
	wantConflict(t, err)
}

func TestStuckRunsFail(t *testing.T) {
	t.Parallel()
	f := setupRuns(t)
	// This run's first job is lost, so it never moves.
	never := f.start(t, f.publish(t, provisioning(nil)), map[string]any{"username": "x"})
	f.resetJobs(t, never)
	// A delay that outlasts the timeout is waiting, not stuck.
	waiting := f.start(t, f.publish(t, workflow.Definition{
		Steps: []workflow.Step{startStep(), step("pause", workflow.TypeDelay, map[string]any{"duration": "2h"}), endStep()},
		Edges: chain("start", "pause", "end")}), nil)
	// A retry scheduled beyond the timeout is expected progress.
	limited := connectors.Errorf(connectors.RateLimited, "RATE_LIMITED", "come back in 45 minutes")
	limited.RetryAfter = 45 * time.Minute
	f.target.fail(limited)
	retrying := f.start(t, f.publish(t, provisioning(map[string]any{"retry": map[string]any{"maxAttempts": 2}})), map[string]any{"username": "y"})
	f.work(t)

	f.clock.Advance(29 * time.Minute)
	if n, err := f.eng.FailStuckRuns(f.ctx); err != nil || n != 0 {
		t.Fatalf("nothing is stuck yet: %d %v", n, err)
	}
	f.clock.Advance(2 * time.Minute)
	if n, err := f.eng.FailStuckRuns(f.ctx); err != nil || n != 1 {
		t.Fatalf("stuck runs failed: %d %v", n, err)
	}
	f.wantStatuses(t, never, "failed: start:failed")
	if e := decodeError(t, f.run(t, never).Error); e.Message != "Run timed out (no progress for 30 minutes)" || e.Code != "RUN_TIMEOUT" {
		t.Fatalf("stuck error: %+v", e)
	}
	f.wantStatuses(t, waiting, "waiting: start:completed pause:running")
	f.wantStatuses(t, retrying, "running: start:completed create:pending")
	// Its job was lost; once its due time is as old as the timeout, the retrying run is stuck too.
	f.resetJobs(t, retrying)
	f.clock.Advance(45 * time.Minute)
	if n, _ := f.eng.FailStuckRuns(f.ctx); n != 1 {
		t.Fatalf("the retrying run is stuck once its retry is overdue: %d", n)
	}
	f.wantStatuses(t, retrying, "failed: start:completed create:failed")

	// The timeout is configurable, and RetryRun takes a stuck run up again.
	g := setupRuns(t, func(o *engine.Options) { o.StuckRunTimeout = 5 * time.Minute })
	id := g.start(t, g.publish(t, provisioning(nil)), map[string]any{"username": "z"})
	g.resetJobs(t, id)
	g.clock.Advance(6 * time.Minute)
	if n, _ := g.eng.FailStuckRuns(g.ctx); n != 1 {
		t.Fatal("a 5-minute timeout")
	}
	if e := decodeError(t, g.run(t, id).Error); e.Message != "Run timed out (no progress for 5 minutes)" {
		t.Fatalf("message: %s", e.Message)
	}
	if _, err := g.eng.RetryRun(g.ctx, g.actor(), id); err != nil {
		t.Fatal(err)
	}
	g.work(t)
	g.wantStatuses(t, id, "completed: start:completed create:completed end:completed")
}

// resetJobs discards a run's queued jobs, as if a worker had lost them.
func (f *runFixture) resetJobs(t *testing.T, runID uuid.UUID) {
	t.Helper()
	if _, err := f.db.Bun.NewRaw(`DELETE FROM river_job WHERE kind = 'run_step' AND args->>'runId' = ?`, runID.String()).Exec(f.ctx); err != nil {
		t.Fatal(err)
	}
}

func TestDuplicateDeliveryCompletesNothingTwice(t *testing.T) {
	t.Parallel()
	f := setupRuns(t)
	id := f.start(t, f.publish(t, provisioning(nil)), map[string]any{"username": "x"})
	startJob, startArgs, _ := f.dueJob(t)
	if err := f.eng.WorkRunStepJob(f.ctx, startJob, startArgs); err != nil {
		t.Fatal(err)
	}
	f.completeJob(t, startJob)

	// A second job with the same args (a duplicate delivery) arrives while the first is mid-call.
	createJob, createArgs, _ := f.dueJob(t)
	var dup int64
	if err := f.db.Bun.NewRaw(`INSERT INTO river_job (args, kind, max_attempts, queue, state, metadata)
		SELECT args, kind, max_attempts, queue, 'running', metadata FROM river_job WHERE id = ? RETURNING id`, createJob).Scan(f.ctx, &dup); err != nil {
		t.Fatal(err)
	}
	f.target.release, f.target.entered = make(chan struct{}), make(chan struct{}, 1)
	done := make(chan error)
	go func() { done <- f.eng.WorkRunStepJob(f.ctx, createJob, createArgs) }()
	<-f.target.entered
	if err := f.eng.WorkRunStepJob(f.ctx, dup, createArgs); err != nil {
		t.Fatal(err)
	}
	close(f.target.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	f.completeJob(t, createJob)
	timeline := len(f.timelineKinds(t, id))
	// Redelivering either job, or the start step's, now finds nothing to do.
	for _, job := range []int64{dup, createJob, startJob} {
		args := createArgs
		if job == startJob {
			args = startArgs
		}
		if err := f.eng.WorkRunStepJob(f.ctx, job, args); err != nil {
			t.Fatal(err)
		}
	}
	f.completeJob(t, dup)
	if len(f.target.recorded()) != 1 || len(f.timelineKinds(t, id)) != timeline {
		t.Fatalf("the duplicate made a call or an event: %d calls", len(f.target.recorded()))
	}
	f.work(t)
	f.wantStatuses(t, id, "completed: start:completed create:completed end:completed")
	if create := f.stepNamed(t, id, "create"); create.Attempts != 1 {
		t.Fatalf("attempts: %d", create.Attempts)
	}
	var ends int
	if err := f.db.Bun.NewRaw(`SELECT count(*) FROM run_timeline WHERE run_id = ? AND kind = 'step_completed'`, id).Scan(f.ctx, &ends); err != nil || ends != 3 {
		t.Fatalf("each step completed once: %d %v", ends, err)
	}
}

func TestListRunsAndTimeline(t *testing.T) {
	t.Parallel()
	f := setupRuns(t)
	a := f.publish(t, provisioning(nil))
	b := f.publish(t, provisioning(nil))
	first := f.start(t, a, map[string]any{"username": "x"})
	f.work(t)
	f.clock.Advance(time.Second)
	second := f.start(t, b, map[string]any{"username": "y"})
	page := db.Page{Page: 1, PageSize: 10}
	runs, total, err := f.eng.ListRuns(f.ctx, db.RunFilter{Page: page})
	if err != nil || total != 2 || runs[0].ID != second || runs[1].ID != first {
		t.Fatalf("newest first: %v %d %v", runs, total, err)
	}
	runs, total, _ = f.eng.ListRuns(f.ctx, db.RunFilter{Status: db.RunCompleted, Page: page})
	if total != 1 || runs[0].ID != first {
		t.Fatalf("by status: %v", runs)
	}
	runs, total, _ = f.eng.ListRuns(f.ctx, db.RunFilter{WorkflowID: &b, Page: page})
	if total != 1 || runs[0].ID != second {
		t.Fatalf("by workflow: %v", runs)
	}
	want := []string{"run_started", "step_queued", "step_started", "step_completed", "step_queued", "step_started", "connector_call",
		"step_completed", "step_queued", "step_started", "step_completed", "run_completed"}
	if got := f.timelineKinds(t, first); !slices.Equal(got, want) {
		t.Fatalf("timeline:\n got %v\nwant %v", got, want)
	}
	if _, err := f.eng.RunSteps(f.ctx, uuid.New()); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("steps of no run: %v", err)
	}
	if _, err := f.eng.RunTimeline(f.ctx, uuid.New()); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("timeline of no run: %v", err)
	}
}

func TestRiverWorksRunsAndStopLetsAStepFinish(t *testing.T) {
	t.Parallel()
	f := setupRuns(t)
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	if err := f.eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = f.eng.Stop(context.Background())
		}
	}()
	wf := f.publish(t, provisioning(nil))
	id := f.start(t, wf, map[string]any{"username": "x"})
	f.waitFor(t, id, db.RunCompleted)

	f.target.release, f.target.entered = make(chan struct{}), make(chan struct{}, 1)
	id = f.start(t, wf, map[string]any{"username": "y"})
	<-f.target.entered
	stop := make(chan error)
	go func() { stop <- f.eng.Stop(context.Background()) }()
	// Stop waits for the step in flight (a short real-time look: River's shutdown is on the
	// wall clock), then lets it finish and record its result rather than cancelling it.
	select {
	case err := <-stop:
		t.Fatalf("Stop returned while a step was in flight: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(f.target.release)
	if err := <-stop; err != nil {
		t.Fatal(err)
	}
	stopped = true
	if s := f.stepNamed(t, id, "create"); s.Status != db.StepCompleted {
		t.Fatalf("the running step finished before shutdown: %s", s.Status)
	}
}

// waitFor polls until River has moved the run to status (real time: River works on its own).
func (f *runFixture) waitFor(t *testing.T, id uuid.UUID, status string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for f.run(t, id).Status != status {
		if time.Now().After(deadline) {
			t.Fatalf("run %s: %s", id, f.statuses(t, id))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
