package engine

import (
	"context"
	"encoding/json"

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
