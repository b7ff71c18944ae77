package engine

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Schedules is what this replica has registered: each scheduled workflow's cron.
func (e *Engine) Schedules() map[uuid.UUID]string {
	e.scheduleMu.Lock()
	defer e.scheduleMu.Unlock()
	out := make(map[uuid.UUID]string, len(e.schedules))
	for id, s := range e.schedules {
		out[id] = s.cron
	}
	return out
}

// SchedulerJobs counts the jobs of the started engine's scheduler. Between ticks each waits
// on one timer of the clock, so once a fake clock has that many waiters, every job has
// re-armed after its last tick and the clock can move on without one being skipped.
func (e *Engine) SchedulerJobs() int { return len(e.sched.Jobs()) }

// WorkScheduledStart works a scheduled_start job as River would.
func (e *Engine) WorkScheduledStart(ctx context.Context, workflowID uuid.UUID, tick time.Time) error {
	return e.startScheduled(ctx, scheduledStartArgs{WorkflowID: workflowID, Tick: tick})
}
