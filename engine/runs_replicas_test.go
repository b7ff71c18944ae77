package engine_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"floh/db/dbtest"
	"floh/engine"
)

// Three engine instances on one database, with real River: 200 runs complete, no step
// execution is worked twice, and the connector sees each step's one idempotency key once.
func TestThreeReplicasCompleteEveryStepOnce(t *testing.T) {
	t.Parallel()
	const runs, connectorSteps = 200, 3
	key := randomKey(t)
	f := setup(t, func(o *engine.Options) { o.SecretKey = key })
	wf := noopChain(t, f, "probe://replicas-"+t.Name(), connectorSteps)
	startReplicas(t, f, key, 3)
	for range runs {
		if _, err := f.eng.StartWorkflow(f.ctx, f.actor(), wf, engine.StartInput{}); err != nil {
			t.Fatal(err)
		}
	}
	waitAllFinished(t, f, 2*time.Minute)

	dbtest.WantCompletedOnce(t, f.db, runs, connectorSteps+2)
	rows, err := f.db.Pool.Query(f.ctx, `SELECT idempotency_key FROM step_executions WHERE step_type = 'connector'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	keys := 0
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		keys++
		n, ok := probeCalls.Load(k)
		if !ok || n.(*atomic.Int64).Load() != 1 {
			t.Fatalf("step with key %s was called %v times", k, fmt.Sprint(n))
		}
	}
	if keys != runs*connectorSteps {
		t.Fatalf("%d connector step executions, want %d", keys, runs*connectorSteps)
	}
}
