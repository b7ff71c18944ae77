package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"floh/db"
	"floh/engine"
	"floh/engine/workflow"
)

// fire is one schedule firing on one replica, as its debug log tells it.
type fire struct {
	workflow  string
	tick      time.Time
	duplicate bool
}

// fireLog collects the firings the engines log, and their warnings and errors for a failing
// test to show.
type fireLog struct {
	mu       sync.Mutex
	fires    []fire
	problems []string
}

func (l *fireLog) Enabled(context.Context, slog.Level) bool { return true }

func (l *fireLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r.Message == "workflow schedule fired" && r.Level == slog.LevelDebug {
		var f fire
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "workflow_id":
				f.workflow = a.Value.String()
			case "tick":
				f.tick = a.Value.Time()
			case "duplicate":
				f.duplicate = a.Value.Bool()
			}
			return true
		})
		l.fires = append(l.fires, f)
	}
	if r.Level >= slog.LevelWarn {
		msg := r.Message
		r.Attrs(func(a slog.Attr) bool { msg += " " + a.String(); return true })
		l.problems = append(l.problems, msg)
	}
	return nil
}

func (l *fireLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *fireLog) WithGroup(string) slog.Handler      { return l }

// of returns the firings of a workflow so far.
func (l *fireLog) of(wf uuid.UUID) []fire {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []fire
	for _, f := range l.fires {
		if f.workflow == wf.String() {
			out = append(out, f)
		}
	}
	return out
}

// scheduleFixture is n engines on one database and one fake clock, as n replicas.
type scheduleFixture struct {
	*fixture
	replicas []*engine.Engine
	log      *fireLog
}

func setupSchedules(t *testing.T, n int) *scheduleFixture {
	t.Helper()
	log := &fireLog{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("warnings and errors:\n%s", strings.Join(log.problems, "\n"))
		}
	})
	logger := slog.New(log)
	key := randomKey(t)
	f := setup(t, func(o *engine.Options) { o.SecretKey, o.Logger = key, logger })
	sf := &scheduleFixture{fixture: f, replicas: []*engine.Engine{f.eng}, log: log}
	for range n - 1 {
		e, err := engine.New(engine.Options{DB: f.db, Clock: f.clock, Connectors: testRegistry(t), SecretKey: key, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		sf.replicas = append(sf.replicas, e)
	}
	return sf
}

// start starts every replica, stopped at cleanup.
func (sf *scheduleFixture) start(t *testing.T) {
	t.Helper()
	for _, e := range sf.replicas {
		if err := e.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.Stop(context.Background()) })
	}
}

// scheduled creates and publishes a start → end workflow on the first replica.
func (sf *scheduleFixture) scheduled(t *testing.T, name, cron string) uuid.UUID {
	t.Helper()
	doc, err := sf.eng.CreateWorkflow(sf.ctx, sf.actor(), scheduleDoc(t, name, cron))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sf.eng.PublishWorkflow(sf.ctx, sf.actor(), doc.ID); err != nil {
		t.Fatal(err)
	}
	return doc.ID
}

// republish publishes a new version of wf whose schedule is cron.
func (sf *scheduleFixture) republish(t *testing.T, wf uuid.UUID, cron string) *engine.WorkflowDoc {
	t.Helper()
	doc, err := sf.eng.NewDraftFromVersion(sf.ctx, sf.actor(), wf, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sf.eng.UpdateWorkflow(sf.ctx, sf.actor(), wf, scheduleDoc(t, doc.Name, cron)); err != nil {
		t.Fatal(err)
	}
	out, err := sf.eng.PublishWorkflow(sf.ctx, sf.actor(), wf)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func scheduleDoc(t *testing.T, name, cron string) []byte {
	t.Helper()
	def := workflow.Definition{
		Name: name, Trigger: &workflow.Trigger{Type: workflow.TriggerSchedule, Cron: cron},
		Variables: []workflow.Variable{{Name: "note", Type: "string"}},
		Steps:     []workflow.Step{startStep(), endStep()},
		Edges:     chain("start", "end"),
	}
	raw, err := json.Marshal(def)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// settle waits until every started replica's scheduler has re-armed its timers after the last
// tick, so that the clock can move on without one missing a tick.
func (sf *scheduleFixture) settle(t *testing.T) {
	t.Helper()
	n := 0
	for _, e := range sf.replicas {
		n += e.SchedulerJobs()
	}
	ctx, cancel := context.WithTimeout(sf.ctx, 20*time.Second)
	defer cancel()
	if err := sf.clock.BlockUntilContext(ctx, n); err != nil {
		t.Fatalf("the schedulers did not re-arm their %d timers: %v", n, err)
	}
}

// minute moves the clock on by a minute, once every timer waits for it.
func (sf *scheduleFixture) minute(t *testing.T) {
	t.Helper()
	sf.settle(t)
	sf.clock.Advance(time.Minute)
}

// waitFires waits (in real time: gocron runs each task on its own goroutine) until the
// replicas have fired wf's schedule n times in all.
func (sf *scheduleFixture) waitFires(t *testing.T, wf uuid.UUID, n int) []fire {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		fs := sf.log.of(wf)
		if len(fs) >= n {
			return fs
		}
		if time.Now().After(deadline) {
			t.Fatalf("the schedule of %s fired %d times, want %d", wf, len(fs), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (sf *scheduleFixture) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := sf.db.Pool.QueryRow(sf.ctx, query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitRuns waits until wf has n runs, all finished (River works them in real time).
func (sf *scheduleFixture) waitRuns(t *testing.T, wf uuid.UUID, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		total := sf.count(t, `SELECT count(*) FROM runs WHERE workflow_id = $1`, wf)
		open := sf.count(t, `SELECT count(*) FROM runs WHERE workflow_id = $1 AND status NOT IN ('completed', 'failed', 'cancelled')`, wf)
		if total >= n && open == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("workflow %s has %d runs (%d open), want %d finished", wf, total, open, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (sf *scheduleFixture) scheduledRuns(t *testing.T, wf uuid.UUID) []db.Run {
	t.Helper()
	runs, _, err := sf.eng.ListRuns(sf.ctx, db.RunFilter{WorkflowID: &wf, Page: db.Page{Page: 1, PageSize: 100}})
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

// The test: three schedulers on one database, a fake clock advanced over ten ticks,
// exactly ten runs.
func TestThreeSchedulersStartOneRunPerTick(t *testing.T) {
	t.Parallel()
	sf := setupSchedules(t, 3)
	wf := sf.scheduled(t, "Every minute", "* * * * *")
	sf.start(t)
	for _, e := range sf.replicas {
		if got := e.Schedules()[wf]; got != "* * * * *" {
			t.Fatalf("a replica registered %q at start", got)
		}
	}
	const ticks = 10
	for i := 1; i <= ticks; i++ {
		sf.minute(t)
		// Every replica fires every tick; the clock moves on only once all three have read it.
		sf.waitFires(t, wf, 3*i)
	}
	sf.waitRuns(t, wf, ticks)

	if n := sf.count(t, `SELECT count(*) FROM river_job WHERE kind = 'scheduled_start'`); n != ticks {
		t.Errorf("%d scheduled_start jobs, want one per tick: %d", n, ticks)
	}
	fires := sf.log.of(wf)
	perTick, queued := map[time.Time]int{}, 0
	for _, f := range fires {
		perTick[f.tick]++
		if !f.duplicate {
			queued++
		}
	}
	if len(fires) != 3*ticks || queued != ticks {
		t.Errorf("%d firings, %d of them queued a job; want %d and %d", len(fires), queued, 3*ticks, ticks)
	}
	runs := sf.scheduledRuns(t, wf)
	if len(runs) != ticks {
		t.Fatalf("%d runs, want %d", len(runs), ticks)
	}
	seen := map[time.Time]bool{}
	for _, r := range runs {
		if r.ScheduledFor == nil || r.StartedBy.Label != "schedule" || r.StartedBy.ID != nil || r.Status != db.RunCompleted {
			t.Fatalf("run %s: scheduledFor %v, started by %+v, %s", r.ID, r.ScheduledFor, r.StartedBy, r.Status)
		}
		seen[r.ScheduledFor.UTC()] = true
	}
	for i := 1; i <= ticks; i++ {
		tick := t0.Add(time.Duration(i) * time.Minute)
		if !seen[tick] || perTick[tick] != 3 {
			t.Errorf("tick %s: a run %v, fired by %d replicas", tick, seen[tick], perTick[tick])
		}
	}
}

func TestScheduledRunRecordsItsTick(t *testing.T) {
	t.Parallel()
	sf := setupSchedules(t, 1)
	wf := sf.scheduled(t, "Nightly", "0 2 * * *")
	tick := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	if err := sf.eng.WorkScheduledStart(sf.ctx, wf, tick); err != nil {
		t.Fatal(err)
	}
	// The same job worked again (its process died before River heard it finished).
	if err := sf.eng.WorkScheduledStart(sf.ctx, wf, tick); err != nil {
		t.Fatal(err)
	}
	runs := sf.scheduledRuns(t, wf)
	if len(runs) != 1 {
		t.Fatalf("%d runs for one tick", len(runs))
	}
	r := runs[0]
	if !r.ScheduledFor.Equal(tick) || r.StartedBy.Label != "schedule" || r.Version != 1 {
		t.Fatalf("run: scheduledFor %v, started by %+v, version %d", r.ScheduledFor, r.StartedBy, r.Version)
	}
	vars := map[string]any{}
	if err := json.Unmarshal(r.Variables, &vars); err != nil {
		t.Fatal(err)
	}
	if init := vars["initiator"].(map[string]any); init["displayName"] != "schedule" || init["id"] != "" || vars["note"] != nil {
		t.Fatalf("variables: %v", vars)
	}
	tl, err := sf.eng.RunTimeline(sf.ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := "Run of Nightly (version 1) started by schedule 0 2 * * * at 2026-11-23 02:00 UTC"
	if len(tl) == 0 || tl[0].Message != want {
		t.Fatalf("first timeline entry %+v, want %q", tl, want)
	}
	entries := auditEntries(t, sf.fixture, db.AuditFilter{Action: "run.started"})
	if len(entries) != 1 || entries[0].Actor != "schedule" || entries[0].ActorID != nil {
		t.Fatalf("audit: %+v", entries)
	}
}

// A tick that no longer applies when its job is worked starts nothing, and the job finishes:
// it is not an error River would retry.
func TestTicksThatNoLongerApplyStartNothing(t *testing.T) {
	t.Parallel()
	sf := setupSchedules(t, 1)
	at8 := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

	deprecated := sf.scheduled(t, "Deprecated", "* * * * *")
	if _, err := sf.eng.DeprecateWorkflow(sf.ctx, sf.actor(), deprecated); err != nil {
		t.Fatal(err)
	}
	changed := sf.scheduled(t, "Changed", "* * * * *")
	sf.republish(t, changed, "*/5 * * * *")
	manual, err := sf.eng.CreateWorkflow(sf.ctx, sf.actor(), []byte(`{"name": "Manual", "variables": [],
		"steps": [{"id": "start", "name": "Start", "type": "start"}, {"id": "end", "name": "End", "type": "end"}],
		"edges": [{"from": "start", "to": "end", "on": "success"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sf.eng.PublishWorkflow(sf.ctx, sf.actor(), manual.ID); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		wf   uuid.UUID
		tick time.Time
	}{
		{"deprecated since the tick", deprecated, at8(1)},
		{"a tick of the old schedule only", changed, at8(1)},
		{"no longer scheduled", manual.ID, at8(1)},
		{"no such workflow", uuid.New(), at8(1)},
	} {
		if err := sf.eng.WorkScheduledStart(sf.ctx, tc.wf, tc.tick); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if n := sf.count(t, `SELECT count(*) FROM runs`); n != 0 {
		t.Fatalf("%d runs started by ticks that no longer apply", n)
	}
	// A tick of the new schedule starts the new version.
	if err := sf.eng.WorkScheduledStart(sf.ctx, changed, at8(5)); err != nil {
		t.Fatal(err)
	}
	if runs := sf.scheduledRuns(t, changed); len(runs) != 1 || runs[0].Version != 2 {
		t.Fatalf("runs of the new schedule: %+v", runs)
	}
}

func TestDeprecateRemovesTheSchedule(t *testing.T) {
	t.Parallel()
	sf := setupSchedules(t, 1)
	sf.start(t)
	wf := sf.scheduled(t, "Every minute", "* * * * *")
	if got := sf.eng.Schedules()[wf]; got != "* * * * *" {
		t.Fatalf("publishing registered %q", got)
	}
	sf.minute(t)
	sf.waitFires(t, wf, 1)
	sf.waitRuns(t, wf, 1)

	if _, err := sf.eng.DeprecateWorkflow(sf.ctx, sf.actor(), wf); err != nil {
		t.Fatal(err)
	}
	if got, ok := sf.eng.Schedules()[wf]; ok {
		t.Fatalf("the deprecated workflow is still scheduled on %q", got)
	}
	for range 3 {
		sf.minute(t)
	}
	sf.settle(t)
	if fs := sf.log.of(wf); len(fs) != 1 {
		t.Fatalf("the schedule fired %d times, once before the deprecation", len(fs))
	}
	if n := sf.count(t, `SELECT count(*) FROM runs WHERE workflow_id = $1`, wf); n != 1 {
		t.Fatalf("%d runs, want the one before the deprecation", n)
	}
	// Deleting it (deprecated first) leaves nothing scheduled either.
	if _, err := sf.eng.DeleteWorkflow(sf.ctx, sf.actor(), wf); err != nil {
		t.Fatal(err)
	}
	if len(sf.eng.Schedules()) != 0 {
		t.Fatalf("schedules after delete: %v", sf.eng.Schedules())
	}
}

func TestRepublishReplacesTheSchedule(t *testing.T) {
	t.Parallel()
	sf := setupSchedules(t, 1)
	sf.start(t)
	wf := sf.scheduled(t, "Every minute", "* * * * *")
	doc := sf.republish(t, wf, "*/5 * * * *")
	if got := sf.eng.Schedules()[wf]; got != "*/5 * * * *" {
		t.Fatalf("after the republish the replica has %q", got)
	}
	if doc.Schedule != "*/5 * * * *" || doc.NextRunAt == nil || !doc.NextRunAt.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("the published version's schedule: %q, next %v", doc.Schedule, doc.NextRunAt)
	}
	for range 5 {
		sf.minute(t)
	}
	fs := sf.waitFires(t, wf, 1)
	if len(fs) != 1 || !fs[0].tick.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("firings %+v, want one at 08:05", fs)
	}
	sf.waitRuns(t, wf, 1)
	if runs := sf.scheduledRuns(t, wf); len(runs) != 1 || runs[0].Version != 2 {
		t.Fatalf("runs %+v, want one of version 2", runs)
	}
}

// A replica learns of schedules published, changed and removed on another one within a
// reconciliation interval.
func TestReplicasReconcileSchedulesChangedElsewhere(t *testing.T) {
	t.Parallel()
	sf := setupSchedules(t, 2)
	sf.start(t)
	other := sf.replicas[1]
	waitSchedule := func(want string) {
		t.Helper()
		sf.minute(t)
		deadline := time.Now().Add(20 * time.Second)
		for {
			got := other.Schedules()
			if len(got) == 0 && want == "" || len(got) == 1 && got[firstKey(got)] == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the other replica has %v, want %q", got, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	wf := sf.scheduled(t, "Published elsewhere", "0 6 * * 1-5")
	if len(other.Schedules()) != 0 {
		t.Fatal("the other replica knew at once")
	}
	waitSchedule("0 6 * * 1-5")
	sf.republish(t, wf, "30 7 * * *")
	waitSchedule("30 7 * * *")
	if _, err := sf.eng.DeprecateWorkflow(sf.ctx, sf.actor(), wf); err != nil {
		t.Fatal(err)
	}
	waitSchedule("")
}

func firstKey(m map[uuid.UUID]string) uuid.UUID {
	for k := range m {
		return k
	}
	return uuid.Nil
}

func TestNextRunOfAScheduledWorkflow(t *testing.T) {
	t.Parallel()
	sf := setupSchedules(t, 1)
	// t0 is a Sunday: the next weekday 06:00 is Monday's.
	wf := sf.scheduled(t, "Weekdays", "0 6 * * 1-5")
	doc, err := sf.eng.FindWorkflow(sf.ctx, wf)
	if err != nil {
		t.Fatal(err)
	}
	monday := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	if doc.Schedule != "0 6 * * 1-5" || doc.NextRunAt == nil || !doc.NextRunAt.Equal(monday) {
		t.Fatalf("schedule %q, next run %v, want %s", doc.Schedule, doc.NextRunAt, monday)
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"nextRunAt":"2026-11-23T06:00:00Z"`) {
		t.Fatalf("JSON: %s", out)
	}

	// At the tick itself the next one is Tuesday's.
	sf.clock.Advance(monday.Sub(t0))
	if doc, err = sf.eng.FindWorkflow(sf.ctx, wf); err != nil {
		t.Fatal(err)
	}
	if !doc.NextRunAt.Equal(monday.AddDate(0, 0, 1)) {
		t.Fatalf("next run at Monday 06:00: %v", doc.NextRunAt)
	}

	// An open draft's new cron is not the schedule until it is published.
	if _, err := sf.eng.NewDraftFromVersion(sf.ctx, sf.actor(), wf, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := sf.eng.UpdateWorkflow(sf.ctx, sf.actor(), wf, scheduleDoc(t, "Weekdays", "0 0 1 * *")); err != nil {
		t.Fatal(err)
	}
	if doc, err = sf.eng.FindWorkflow(sf.ctx, wf); err != nil {
		t.Fatal(err)
	}
	if doc.Schedule != "0 6 * * 1-5" || doc.Definition.Schedule() != "0 0 1 * *" {
		t.Fatalf("with a draft open: schedule %q, draft's %q", doc.Schedule, doc.Definition.Schedule())
	}

	// A deprecated workflow has no next run; nor has one that is not scheduled.
	if doc, err = sf.eng.DeprecateWorkflow(sf.ctx, sf.actor(), wf); err != nil {
		t.Fatal(err)
	}
	if doc.Schedule != "" || doc.NextRunAt != nil {
		t.Fatalf("deprecated: schedule %q, next run %v", doc.Schedule, doc.NextRunAt)
	}
	draft, err := sf.eng.CreateWorkflow(sf.ctx, sf.actor(), scheduleDoc(t, "Draft only", "* * * * *"))
	if err != nil {
		t.Fatal(err)
	}
	if draft.NextRunAt != nil {
		t.Fatalf("a draft has a next run: %v", draft.NextRunAt)
	}
}

func TestScheduledWorkflowsTakeNoRequiredVariables(t *testing.T) {
	t.Parallel()
	sf := setupSchedules(t, 1)
	def := workflow.Definition{
		Name: "Needs input", Trigger: &workflow.Trigger{Type: workflow.TriggerSchedule, Cron: "0 6 * * *"},
		Variables: []workflow.Variable{{Name: "username", Type: "string", Required: true}},
		Steps:     []workflow.Step{startStep(), endStep()}, Edges: chain("start", "end"),
	}
	raw, err := json.Marshal(def)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := sf.eng.CreateWorkflow(sf.ctx, sf.actor(), raw)
	if err != nil {
		t.Fatalf("a draft saves: %v", err)
	}
	_, err = sf.eng.PublishWorkflow(sf.ctx, sf.actor(), doc.ID)
	wantValidation(t, err, "variables[0].required")
	if !strings.Contains(fmt.Sprint(err), "no inputs") {
		t.Fatalf("the refusal does not say why: %v", err)
	}
}
