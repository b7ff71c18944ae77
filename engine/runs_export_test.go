package engine

import (
	"context"
	"encoding/json"
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
