package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"floh/db"
	"floh/db/dbtest"
	"floh/engine"
	"floh/engine/workflow"
)

// BenchmarkStepTransitions measures durable step transitions per second: runs of a workflow
// with five no-op connector steps (the probe answers at once) worked by real River clients,
// one engine instance and three on one database. Every step is a claimed River job, a locked
// run row, a recorded attempt and the next job inserted in the same transaction. The database
// commits as production's does (fsync and synchronous_commit on), so the figure includes
// the cost of making each transition durable.
//
// It reports two rates. steps/s counts step executions completed (start, the five connector
// steps and end). transitions/s counts the durable status changes of steps, each its own
// commit: a connector step's claim (pending → running, committed before the call so that a
// crash cannot lose it) and its completion are two; start and end go from pending to
// completed in one commit, one each.
func BenchmarkStepTransitions(b *testing.B) {
	const runsPerOp, connectorSteps = 50, 5
	for _, instances := range []int{1, 3} {
		b.Run(fmt.Sprintf("instances=%d", instances), func(b *testing.B) {
			key := randomKey(b)
			f := setupOn(b, dbtest.NewDurable(b), func(o *engine.Options) { o.SecretKey = key })
			wf := noopChain(b, f, "probe://bench", connectorSteps)
			startReplicas(b, f, key, instances)

			pg := postmasterPID(b, f)
			goCPU, pgCPU := processCPU(b, 0), postgresCPU(b, pg)
			b.ResetTimer()
			for range b.N {
				for range runsPerOp {
					if _, err := f.eng.StartWorkflow(f.ctx, f.actor(), wf, engine.StartInput{}); err != nil {
						b.Fatal(err)
					}
				}
				waitAllFinished(b, f, 5*time.Minute)
			}
			b.StopTimer()
			var failed int
			if err := f.db.Pool.QueryRow(f.ctx, `SELECT count(*) FROM runs WHERE status <> $1`, db.RunCompleted).Scan(&failed); err != nil || failed != 0 {
				b.Fatalf("%d runs did not complete (%v)", failed, err)
			}
			steps := float64(b.N * runsPerOp * (connectorSteps + 2))
			b.ReportMetric(steps/b.Elapsed().Seconds(), "steps/s")
			transitions := float64(b.N * runsPerOp * (2*connectorSteps + 2))
			b.ReportMetric(transitions/b.Elapsed().Seconds(), "transitions/s")
			// CPU per step, which the machine's other work does not skew as it does the rate:
			// on 2 cores, 1,000 steps/s leaves 2 ms of CPU per step for Go and Postgres together.
			b.ReportMetric(float64((processCPU(b, 0)-goCPU).Microseconds())/steps, "go-cpu-µs/step")
			b.ReportMetric(float64((postgresCPU(b, pg)-pgCPU).Microseconds())/steps, "pg-cpu-µs/step")
		})
	}
}

// noopChain publishes start → n connector steps on a probe connector → end.
func noopChain(t testing.TB, f *fixture, url string, n int) uuid.UUID {
	t.Helper()
	if _, err := f.eng.CreateConnector(f.ctx, f.actor(), probeInput("Noop", url)); err != nil {
		t.Fatal(err)
	}
	def := workflow.Definition{Name: "Noop chain", Steps: []workflow.Step{{ID: "start", Name: "Start", Type: workflow.TypeStart}}}
	prev := "start"
	for i := range n {
		id := fmt.Sprintf("c%d", i)
		def.Steps = append(def.Steps, workflow.Step{ID: id, Name: id, Type: workflow.TypeConnector,
			Config: map[string]any{"connectorId": "Noop", "command": "createThing", "params": map[string]any{"name": id}}})
		def.Edges = append(def.Edges, workflow.Edge{From: prev, To: id, On: workflow.OnSuccess})
		prev = id
	}
	def.Steps = append(def.Steps, workflow.Step{ID: "end", Name: "End", Type: workflow.TypeEnd})
	def.Edges = append(def.Edges, workflow.Edge{From: prev, To: "end", On: workflow.OnSuccess})
	raw, err := json.Marshal(def)
	if err != nil {
		t.Fatal(err)
	}
	wf, err := f.eng.CreateWorkflow(f.ctx, f.actor(), raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.PublishWorkflow(f.ctx, f.actor(), wf.ID); err != nil {
		t.Fatal(err)
	}
	return wf.ID
}

// startReplicas starts f's engine and n-1 more on the same database, stopped at cleanup.
func startReplicas(t testing.TB, f *fixture, key []byte, n int) {
	t.Helper()
	engines := []*engine.Engine{f.eng}
	for range n - 1 {
		e, err := engine.New(engine.Options{DB: f.db, Clock: f.clock, Connectors: testRegistry(t), SecretKey: key})
		if err != nil {
			t.Fatal(err)
		}
		engines = append(engines, e)
	}
	for _, e := range engines {
		if err := e.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.Stop(context.Background()) })
	}
}

// waitAllFinished polls until no run is pending, running or waiting (River works in real time).
func waitAllFinished(t testing.TB, f *fixture, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var open int
		if err := f.db.Pool.QueryRow(f.ctx, `SELECT count(*) FROM runs WHERE status IN ('pending', 'running', 'waiting')`).Scan(&open); err != nil {
			t.Fatal(err)
		}
		if open == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d runs still open after %s", open, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// postmasterPID is the PID of f's PostgreSQL server, the parent of the backend serving us.
func postmasterPID(t testing.TB, f *fixture) int {
	t.Helper()
	var backend int
	if err := f.db.Pool.QueryRow(f.ctx, `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		t.Fatal(err)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", backend))
	if err != nil {
		t.Fatal(err)
	}
	return statField(t, stat, 4)
}

// postgresCPU is the CPU time the server and its processes have used.
func postgresCPU(t testing.TB, postmaster int) time.Duration {
	t.Helper()
	total := processCPU(t, postmaster)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || statField(t, stat, 4) != postmaster {
			continue // gone meanwhile, or not the server's
		}
		total += processCPU(t, pid)
	}
	return total
}

// processCPU is the user and system time of a process (0: this one), from /proc.
func processCPU(t testing.TB, pid int) time.Duration {
	t.Helper()
	path := "/proc/self/stat"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/stat", pid)
	}
	stat, err := os.ReadFile(path)
	if err != nil {
		return 0 // a backend that ended between listing and reading
	}
	// utime and stime are fields 14 and 15, in clock ticks of 10 ms on Linux.
	ticks := statField(t, stat, 14) + statField(t, stat, 15)
	return time.Duration(ticks) * 10 * time.Millisecond
}

// statField is field n (from 1) of /proc/<pid>/stat; the command in field 2 may hold spaces,
// so fields are counted after its closing parenthesis.
func statField(t testing.TB, stat []byte, n int) int {
	t.Helper()
	rest := stat[bytes.LastIndexByte(stat, ')')+2:]
	fields := strings.Fields(string(rest))
	v, err := strconv.Atoi(fields[n-3])
	if err != nil {
		t.Fatalf("/proc stat field %d: %v", n, err)
	}
	return v
}
