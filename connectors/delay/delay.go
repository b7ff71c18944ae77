// Package delay is the "delay" connector type: a pause inside a workflow step, with nothing
// to connect to.
package delay

import (
	"context"
	"time"

	"github.com/jonboulle/clockwork"

	"floh/connectors"
)

// MaxWait caps a wait. The connector holds a worker while it waits, so it is for short pauses
// (letting a directory replicate before the next call); longer waits are the engine's delay
// step, which persists the wake-up time and frees the worker.
const MaxWait = time.Hour

// Type is the delay connector type. It has no config.
var Type = &connectors.Type{
	Name:        "delay",
	Label:       "Delay",
	Description: "Pauses a workflow for a short time, e.g. to let a directory replicate before the next step. Nothing is contacted.",
	Commands: []connectors.Command{{
		Name:        "wait",
		Label:       "Wait",
		Description: "Waits for the given duration, up to one hour. For longer waits use a delay step, which does not hold a worker.",
		Params: []connectors.Field{{
			Name:        "duration",
			Label:       "Duration",
			Kind:        connectors.KindDuration,
			Required:    true,
			Help:        "How long to wait, as a duration such as 30s, 5m or 1h (at most 1h).",
			Placeholder: "30s",
		}},
		Outputs: []connectors.Output{{
			Name: "waited",
			Kind: connectors.KindDuration,
			Help: "How long the step waited, e.g. 30s.",
		}},
	}},
	New: func(connectors.Config) (connectors.Connector, error) {
		return newConnector(clockwork.NewRealClock()), nil
	},
}

type connector struct {
	clock clockwork.Clock
}

// newConnector takes the clock so tests can advance a fake one instead of sleeping.
func newConnector(clock clockwork.Clock) *connector {
	return &connector{clock: clock}
}

// Test has nothing to reach, so it always succeeds.
func (c *connector) Test(context.Context) (connectors.TestResult, error) {
	return connectors.TestResult{Message: "A delay has nothing to connect to; waits of up to " + MaxWait.String() + " run in the step."}, nil
}

// Execute runs wait.
func (c *connector) Execute(ctx context.Context, command string, params map[string]any) (map[string]any, error) {
	if command != "wait" {
		return nil, connectors.Errorf(connectors.InvalidInput, "UNKNOWN_COMMAND", "the delay connector has no command %q; it has wait", command)
	}
	d, ok := params["duration"].(time.Duration)
	if !ok {
		return nil, &connectors.Error{Class: connectors.InvalidInput, Code: "INVALID_PARAMS", Field: "duration", Message: "wait was not called: duration is required"}
	}
	if d > MaxWait {
		return nil, &connectors.Error{
			Class: connectors.InvalidInput, Code: "DURATION_TOO_LONG", Field: "duration",
			Message: "wait was not called: duration " + d.String() + " is longer than " + MaxWait.String() + "; use a delay step for longer waits",
		}
	}
	start := c.clock.Now()
	timer := c.clock.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.Chan():
		return map[string]any{"waited": d.String()}, nil
	case <-ctx.Done():
		// Retryable on purpose: the wait did not finish because the run was cancelled or the
		// worker is shutting down, and waiting again is harmless.
		return nil, connectors.Wrap(ctx.Err(), connectors.TargetError, "INTERRUPTED",
			"the wait was interrupted after %s of %s: %v", c.clock.Since(start).Round(time.Millisecond), d, ctx.Err())
	}
}
