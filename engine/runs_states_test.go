package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/google/uuid"

	"floh/connectors"
	"floh/engine"
	"floh/engine/workflow"
)

// TestRunStateTransitions has one case per arrow of the diagrams in RUNS.md, named by its
// label: each drives a run to the arrow's source state, checks it, takes the arrow and checks
// where it lands.
func TestRunStateTransitions(t *testing.T) {
	t.Parallel()
	delay := func(strategy string, edgeOut bool) workflow.Definition {
		def := workflow.Definition{ErrorStrategy: strategy,
			Steps: []workflow.Step{startStep(), step("pause", workflow.TypeDelay, map[string]any{"duration": "10m"}), endStep()},
			Edges: chain("start", "pause")}
		if edgeOut {
			def.Edges = append(def.Edges, edge("pause", "end", workflow.OnSuccess))
		}
		return def
	}
	failChild := func(f *runFixture, t *testing.T) uuid.UUID {
		child := f.publish(t, workflow.Definition{Name: "Child", Variables: usernameVar,
			Steps: []workflow.Step{startStep(), createAccount("create", map[string]any{"username": "{{username}}"}, nil), endStep()},
			Edges: chain("start", "create", "end")})
		return f.publish(t, workflow.Definition{
			Steps: []workflow.Step{startStep(),
				step("sub", workflow.TypeSubWorkflow, map[string]any{"workflowId": child.String(), "variables": map[string]any{"username": "c"}}),
				endStep()},
			Edges: chain("start", "sub", "end")})
	}
	permanent := connectors.Errorf(connectors.InvalidInput, "REFUSED", "refused")

	cases := []struct {
		name string
		run  func(t *testing.T, f *runFixture)
	}{
		{"R1 and S1: a start makes a pending run with a pending start step", func(t *testing.T, f *runFixture) {
			id := f.start(t, f.publish(t, provisioning(nil)), map[string]any{"username": "x"})
			f.wantStatuses(t, id, "pending: start:pending")
		}},
		{"R2: the start step's job moves the run to running", func(t *testing.T, f *runFixture) {
			id := f.start(t, f.publish(t, provisioning(nil)), map[string]any{"username": "x"})
			f.workOne(t)
			f.wantStatuses(t, id, "running: start:completed create:pending")
		}},
		{"R3: a delay makes the run wait", func(t *testing.T, f *runFixture) {
			id := f.start(t, f.publish(t, delay("", true)), nil)
			f.workOne(t)
			f.wantStatuses(t, id, "running: start:completed pause:pending")
			f.workOne(t)
			f.wantStatuses(t, id, "waiting: start:completed pause:running")
		}},
		{"R4 and S4: the wake-up resumes the run and completes the delay", func(t *testing.T, f *runFixture) {
			id := f.start(t, f.publish(t, delay("", true)), nil)
			f.work(t)
			f.wantStatuses(t, id, "waiting: start:completed pause:running")
			f.clock.Advance(10 * time.Minute)
			f.workOne(t)
			f.wantStatuses(t, id, "running: start:completed pause:completed end:pending")
		}},
		{"R5: a resume whose outcome has no edge under continue completes the run", func(t *testing.T, f *runFixture) {
			id := f.start(t, f.publish(t, delay(workflow.StrategyContinue, false)), nil)
			f.work(t)
			f.wantStatuses(t, id, "waiting: start:completed pause:running")
			f.clock.Advance(10 * time.Minute)
			f.workOne(t)
			f.wantStatuses(t, id, "completed: start:completed pause:completed")
		}},
		{"R6: a resume whose outcome has no edge under stop fails the run", func(t *testing.T, f *runFixture) {
			id := f.start(t, f.publish(t, delay(workflow.StrategyStop, false)), nil)
			f.work(t)
			f.wantStatuses(t, id, "waiting: start:completed pause:running")
			f.clock.Advance(10 * time.Minute)
			f.workOne(t)
			f.wantStatuses(t, id, "failed: start:completed pause:completed")
		}},
		{"R7: an end step completes the run", func(t *testing.T, f *runFixture) {
			id := f.start(t, f.publish(t, provisioning(nil)), map[string]any{"username": "x"})
			f.workOne(t)
			f.workOne(t)
			f.wantStatuses(t, id, "running: start:completed create:completed end:pending")
			f.workOne(t)
			f.wantStatuses(t, id, "completed: start:completed create:completed end:completed")
		}},
		{"R8 and S5: a permanent failure with no error edge fails the step and the run", func(t *testing.T, f *runFixture) {
			id := f.start(t, f.publish(t, provisioning(nil)), map[string]any{"username": "x"})
			f.workOne(t)
			f.target.fail(permanent)
			f.wantStatuses(t, id, "running: start:completed create:pending")
			f.workOne(t)
			f.wantStatuses(t, id, "failed: start:completed create:failed")
		}},
		{"R9 and S13: a pending run that never moves fails as stuck", func(t *testing.T, f *runFixture) {
			id := f.start(t, f.publish(t, provisioning(nil)), map[string]any{"username": "x"})
			f.resetJobs(t, id)
			f.clock.Advance(31 * time.Minute)
			f.failStuck(t, 1)
			f.wantStatuses(t, id, "failed: start:failed")
		}},
		{"R10 and S14: a running run whose attempt died fails as stuck", func(t *testing.T, f *runFixture) {
			id := f.start(t, f.publish(t, provisioning(nil)), map[string]any{"username": "x"})
			f.workOne(t)
			f.crashMidCall(t)
			f.resetJobs(t, id)
			f.wantStatuses(t, id, "running: start:completed create:running")
			// The attempt's timeout (2 minutes) is when progress was last due.
			f.clock.Advance(31 * time.Minute)
			f.failStuck(t, 0)
			f.clock.Advance(2 * time.Minute)
			f.failStuck(t, 1)
			f.wantStatuses(t, id, "failed: start:completed create:failed")
		}},
		{"R11 and S10: cancelling a pending run cancels its pending step", func(t *testing.T, f *runFixture) {
			id := f.start(t, f.publish(t, provisioning(nil)), map[string]any{"username": "x"})
			f.cancel(t, id)
			f.wantStatuses(t, id, "cancelled: start:cancelled")
		}},
		{"R12: cancelling a running run", func(t *testing.T, f *runFixture) {
			id := f.start(t, f.publish(t, provisioning(nil)), map[string]any{"username": "x"})
			f.workOne(t)
			f.wantStatuses(t, id, "running: start:completed create:pending")
			f.cancel(t, id)
			f.wantStatuses(t, id, "cancelled: start:completed create:cancelled")
		}},
		{"R13 and S11: cancelling a waiting run cancels its running delay", func(t *testing.T, f *runFixture) {
			id := f.start(t, f.publish(t, delay("", true)), nil)
			f.work(t)
			f.wantStatuses(t, id, "waiting: start:completed pause:running")
			f.cancel(t, id)
			f.wantStatuses(t, id, "cancelled: start:completed pause:cancelled")
		}},
		{"R14 and S15: retrying a failed run re-queues its failed step", func(t *testing.T, f *runFixture) {
			id := f.start(t, f.publish(t, provisioning(nil)), map[string]any{"username": "x"})
			f.target.fail(permanent)
			f.work(t)
			f.wantStatuses(t, id, "failed: start:completed create:failed")
			if _, err := f.eng.RetryRun(f.ctx, f.actor(), id); err != nil {
				t.Fatal(err)
			}
			f.wantStatuses(t, id, "running: start:completed create:pending")
		}},
		{"S2: the next attempt's job claims a pending step", func(t *testing.T, f *runFixture) {
			id := f.start(t, f.publish(t, provisioning(nil)), map[string]any{"username": "x"})
			f.workOne(t)
			f.wantStatuses(t, id, "running: start:completed create:pending")
			f.target.release, f.target.entered = make(chan struct{}), make(chan struct{}, 1)
			done := f.workAsync(t)
			<-f.target.entered
			f.wantStatuses(t, id, "running: start:completed create:running")
			close(f.target.release)
			<-done
		}},
		{"S3: the same job takes its claim up again after a crash", func(t *testing.T, f *runFixture) {
			id := f.start(t, f.publish(t, provisioning(nil)), map[string]any{"username": "x"})
			f.workOne(t)
			job, args := f.crashMidCall(t)
			f.wantStatuses(t, id, "running: start:completed create:running")
			// Another job of the same attempt (a duplicate) finds the claim taken.
			if err := f.eng.WorkRunStepJob(f.ctx, job+1_000_000, args); err != nil {
				t.Fatal(err)
			}
			f.wantStatuses(t, id, "running: start:completed create:running")
			f.target.mu.Lock()
			f.target.hang = false
			f.target.mu.Unlock()
			if err := f.eng.WorkRunStepJob(f.ctx, job, args); err != nil {
				t.Fatal(err)
			}
			f.wantStatuses(t, id, "running: start:completed create:completed end:pending")
			calls := f.target.recorded()
			if s := f.stepNamed(t, id, "create"); s.Attempts != 1 || len(calls) != 2 || calls[0].Key != s.IdempotencyKey || calls[1].Key != s.IdempotencyKey {
				t.Fatalf("the resumed claim repeats the same attempt with the same key: %+v %+v", s, calls)
			}
		}},
		{"S6: a transient failure with attempts left schedules the next attempt", func(t *testing.T, f *runFixture) {
			id := f.start(t, f.publish(t, provisioning(map[string]any{"retry": map[string]any{"maxAttempts": 2}})), map[string]any{"username": "x"})
			f.workOne(t)
			f.target.fail(connectors.Errorf(connectors.ConnectorDown, "DOWN", "down"))
			f.workOne(t)
			f.wantStatuses(t, id, "running: start:completed create:pending")
			if s := f.stepNamed(t, id, "create"); s.Attempts != 1 || s.DueAt == nil {
				t.Fatalf("retry scheduled: %+v", s)
			}
		}},
		{"S7: a sub_workflow step waits for its child run", func(t *testing.T, f *runFixture) {
			id := f.start(t, failChild(f, t), nil)
			f.workOne(t)
			f.workOne(t)
			f.wantStatuses(t, id, "waiting: start:completed sub:waiting_response")
		}},
		{"S8: the child's completion completes the sub_workflow step", func(t *testing.T, f *runFixture) {
			id := f.start(t, failChild(f, t), nil)
			f.workOne(t)
			f.workOne(t)
			f.wantStatuses(t, id, "waiting: start:completed sub:waiting_response")
			f.work(t)
			f.wantStatuses(t, id, "completed: start:completed sub:completed end:completed")
		}},
		{"S9: the child's failure fails the sub_workflow step", func(t *testing.T, f *runFixture) {
			id := f.start(t, failChild(f, t), nil)
			f.workOne(t)
			f.workOne(t)
			f.wantStatuses(t, id, "waiting: start:completed sub:waiting_response")
			f.target.fail(permanent)
			f.work(t)
			f.wantStatuses(t, id, "failed: start:completed sub:failed")
		}},
		{"S9: the child's cancellation fails the sub_workflow step", func(t *testing.T, f *runFixture) {
			id := f.start(t, failChild(f, t), nil)
			f.workOne(t)
			f.workOne(t)
			f.cancel(t, *f.stepNamed(t, id, "sub").ChildRunID)
			f.work(t)
			f.wantStatuses(t, id, "failed: start:completed sub:failed")
			if e := decodeError(t, f.stepNamed(t, id, "sub").Error); e.Code != "SUB_WORKFLOW_CANCELLED" {
				t.Fatalf("error: %+v", e)
			}
		}},
		{"S12: cancelling a run cancels its waiting sub_workflow step", func(t *testing.T, f *runFixture) {
			id := f.start(t, failChild(f, t), nil)
			f.workOne(t)
			f.workOne(t)
			f.wantStatuses(t, id, "waiting: start:completed sub:waiting_response")
			f.cancel(t, id)
			f.wantStatuses(t, id, "cancelled: start:completed sub:cancelled")
		}},
		{"S16 and S17: an approval step waits for its task and completes when it is decided", func(t *testing.T, f *runFixture) {
			approver := principal(t, f.fixture, "approver@example.test", engine.RoleApprover)
			id := f.start(t, f.publish(t, approvalWorkflow(map[string]any{"approvers": []any{"role:Approver"}})), nil)
			f.work(t)
			f.wantStatuses(t, id, "waiting: start:completed approve:waiting_approval")
			tf := &taskFixture{runFixture: f}
			tf.mustAct(t, approver, tf.taskIDs(t, id, "approve")[0], engine.TaskApprove, "")
			f.wantStatuses(t, id, "completed: start:completed approve:completed end:completed")
		}},
		{"S18: cancelling a run cancels its waiting approval step", func(t *testing.T, f *runFixture) {
			id := f.start(t, f.publish(t, approvalWorkflow(map[string]any{"approvers": []any{"role:Approver"}})), nil)
			f.work(t)
			f.cancel(t, id)
			f.wantStatuses(t, id, "cancelled: start:completed approve:cancelled")
		}},
		{"S19 and S20: a manual task step waits for its task and completes when it is done", func(t *testing.T, f *runFixture) {
			operator := principal(t, f.fixture, "operator@example.test", engine.RoleRequestor)
			id := f.start(t, f.publish(t, workflow.Definition{
				Steps: []workflow.Step{startStep(), step("badge", workflow.TypeManualTask,
					map[string]any{"assignee": "operator@example.test", "title": "Print a badge"}), endStep()},
				Edges: chain("start", "badge", "end")}), nil)
			f.work(t)
			f.wantStatuses(t, id, "waiting: start:completed badge:waiting_response")
			tf := &taskFixture{runFixture: f}
			tf.mustAct(t, operator, tf.taskIDs(t, id, "badge")[0], engine.TaskComplete, "printed")
			f.wantStatuses(t, id, "completed: start:completed badge:completed end:completed")
		}},
	}
	// Every arrow of the diagrams has its case.
	doc, err := os.ReadFile("RUNS.md")
	if err != nil {
		t.Fatal(err)
	}
	label := regexp.MustCompile(`-->.*: ([RS]\d+) `)
	caseLabel := regexp.MustCompile(`\b[RS]\d+\b`)
	covered := map[string]bool{}
	for _, c := range cases {
		for _, l := range caseLabel.FindAllString(c.name, -1) {
			covered[l] = true
		}
	}
	arrows := label.FindAllStringSubmatch(string(doc), -1)
	if len(arrows) < 20 {
		t.Fatalf("found %d arrows in RUNS.md; has its format changed?", len(arrows))
	}
	for _, m := range arrows {
		if !covered[m[1]] {
			t.Errorf("transition %s of RUNS.md has no test case", m[1])
		}
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, setupRuns(t))
		})
	}
}

// workOne works the next due job, which must exist.
func (f *runFixture) workOne(t *testing.T) {
	t.Helper()
	id, args, ok := f.dueJob(t)
	if !ok {
		t.Fatal("no job is due")
	}
	if err := f.eng.WorkRunStepJob(f.ctx, id, args); err != nil {
		t.Fatal(err)
	}
	f.completeJob(t, id)
}

// crashMidCall works the next due job, a connector step's, and ends its context while the
// call is in flight, as a worker dying would; the job stays claimed.
func (f *runFixture) crashMidCall(t *testing.T) (int64, json.RawMessage) {
	t.Helper()
	f.target.mu.Lock()
	f.target.hang, f.target.entered = true, make(chan struct{}, 1)
	f.target.mu.Unlock()
	job, args, ok := f.dueJob(t)
	if !ok {
		t.Fatal("no job is due")
	}
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- f.eng.WorkRunStepJob(ctx, job, args) }()
	<-f.target.entered
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("an interrupted attempt hands its job back to River: %v", err)
	}
	return job, args
}

func (f *runFixture) cancel(t *testing.T, id uuid.UUID) {
	t.Helper()
	if _, err := f.eng.CancelRun(f.ctx, f.actor(), id); err != nil {
		t.Fatal(err)
	}
}

func (f *runFixture) failStuck(t *testing.T, want int) {
	t.Helper()
	if n, err := f.eng.FailStuckRuns(f.ctx); err != nil || n != want {
		t.Fatalf("stuck runs failed: %d %v, want %d", n, err, want)
	}
}
