package dbtest

import (
	"context"
	"testing"

	"floh/db"
)

// WantCompletedOnce checks what neither several replicas nor a crash may break: the database
// holds runs runs, all completed, each with stepsPerRun step executions (every step visited
// once), and every execution completed in its first attempt and recorded as completed exactly
// once in its run's timeline, as every run's end is. A step worked twice would show as a
// second attempt, a second step_completed, or a next step queued twice (a second iteration).
func WantCompletedOnce(t testing.TB, d *db.DB, runs, stepsPerRun int) {
	t.Helper()
	var got struct {
		runs, completed, executions, firstTime, stepCompletions, twice, runCompletions int
	}
	err := d.Pool.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM runs),
		(SELECT count(*) FROM runs WHERE status = $1),
		(SELECT count(*) FROM step_executions),
		(SELECT count(*) FROM step_executions WHERE status = $2 AND attempts = 1 AND iteration = 1),
		(SELECT count(*) FROM run_timeline WHERE kind = 'step_completed'),
		(SELECT count(*) FROM (SELECT step_execution_id FROM run_timeline WHERE kind = 'step_completed'
			GROUP BY step_execution_id HAVING count(*) > 1) AS twice),
		(SELECT count(*) FROM run_timeline WHERE kind = 'run_completed')`,
		db.RunCompleted, db.StepCompleted).Scan(&got.runs, &got.completed, &got.executions, &got.firstTime,
		&got.stepCompletions, &got.twice, &got.runCompletions)
	if err != nil {
		t.Fatalf("count completions: %v", err)
	}
	steps := runs * stepsPerRun
	if got.runs != runs || got.completed != runs || got.runCompletions != runs || got.executions != steps ||
		got.firstTime != steps || got.stepCompletions != steps || got.twice != 0 {
		t.Fatalf("want %d runs completed once with %d steps each completed once in their first attempt; got %d runs, %d completed, "+
			"%d run_completed entries, %d step executions, %d of them completed in a first attempt of a first iteration, "+
			"%d step_completed entries, %d executions completed more than once",
			runs, stepsPerRun, got.runs, got.completed, got.runCompletions, got.executions, got.firstTime, got.stepCompletions, got.twice)
	}
}
