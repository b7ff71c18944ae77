package engine

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// WorkRunStepJob works one run_step job as River's executor would: tests drive the jobs
// themselves so that scheduled ones (retries, delays) fall due on the engine's fake clock
// rather than on River's, which is the wall clock.
func (e *Engine) WorkRunStepJob(ctx context.Context, jobID int64, args json.RawMessage) error {
	var a runStepArgs
	if err := json.Unmarshal(args, &a); err != nil {
		return err
	}
	return e.workStep(ctx, jobID, a)
}

// WorkSyncRun works a sync run to its end, a hold or a failure, as its River job would.
func (e *Engine) WorkSyncRun(ctx context.Context, runID uuid.UUID) error {
	return e.workSyncRun(ctx, runID)
}

// StartScheduledSyncRun starts the run of a sync schedule's tick as its job would, without
// working it, and returns its id.
func (e *Engine) StartScheduledSyncRun(ctx context.Context, connectorID uuid.UUID, rt string, tick time.Time) (uuid.UUID, error) {
	run, err := e.startSyncRun(ctx, syncActor, connectorID, rt, SyncStart{}, syncSchedule, &tick, nil)
	if err != nil {
		return uuid.Nil, err
	}
	return run.ID, nil
}

// WorkSyncTick works the job of one tick of a sync schedule, as River would.
func (e *Engine) WorkSyncTick(ctx context.Context, connectorID uuid.UUID, rt string, tick time.Time) error {
	return e.startScheduledSync(ctx, syncTickArgs{ConnectorID: connectorID, ResourceType: rt, Tick: tick})
}
