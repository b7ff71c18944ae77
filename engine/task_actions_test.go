package engine_test

import (
	"testing"

	"github.com/google/uuid"

	"floh/db"
	"floh/engine"
)

// ActionsOn is what the Tasks page offers: each case is one kind of viewer and task, and the
// actions the engine would accept from them.
func TestActionsOnOffersWhatTheEngineAccepts(t *testing.T) {
	t.Parallel()
	person := func(roles ...string) *engine.Principal {
		return engine.PrincipalFor(&db.User{ID: uuid.New(), Roles: roles}, "")
	}
	approver, manager, requestor := person(engine.RoleApprover), person(engine.RoleResourceManager), person(engine.RoleRequestor)
	other := uuid.New()
	role := func(r string) *string { return &r }
	task := func(kind, status string, holder *uuid.UUID, forRole *string) *db.Task {
		return &db.Task{Kind: kind, Status: status, AssigneeID: holder, AssigneeRole: forRole}
	}
	cases := []struct {
		name string
		p    *engine.Principal
		t    *db.Task
		want engine.TaskActions
	}{
		{"an approver on an open approval of their role", approver, task(db.TaskApproval, db.TaskOpen, nil, role(engine.RoleApprover)),
			engine.TaskActions{Claim: true, Hold: true, Approve: true, Reject: true}},
		{"an approver holding a role's approval", approver, task(db.TaskApproval, db.TaskOpen, &approver.User.ID, role(engine.RoleApprover)),
			engine.TaskActions{Unassign: true, Hold: true, Approve: true, Reject: true}},
		{"an approver on their own approval slot, on hold", approver, task(db.TaskApproval, db.TaskOnHold, &approver.User.ID, nil),
			engine.TaskActions{Unhold: true}},
		{"an approver on someone else's approval", approver, task(db.TaskApproval, db.TaskOpen, &other, nil), engine.TaskActions{}},
		{"an approver on an approval of another role", approver, task(db.TaskApproval, db.TaskOpen, nil, role(engine.RoleAdmin)), engine.TaskActions{}},
		{"a manager on someone else's approval", manager, task(db.TaskApproval, db.TaskOpen, &other, role(engine.RoleApprover)),
			engine.TaskActions{Assign: true, Unassign: true, Hold: true}},
		{"a manager on an unheld approval of another role", manager, task(db.TaskApproval, db.TaskOpen, nil, role(engine.RoleApprover)),
			engine.TaskActions{Claim: true, Assign: true, Hold: true}},
		{"a requestor on an approval slot of their own", requestor, task(db.TaskApproval, db.TaskOpen, &requestor.User.ID, nil),
			engine.TaskActions{Hold: true}},
		{"a requestor on a manual task of their role", requestor, task(db.TaskManualTask, db.TaskOpen, nil, role(engine.RoleRequestor)),
			engine.TaskActions{Claim: true, Hold: true, Complete: true}},
		{"a queued approval", approver, task(db.TaskApproval, db.TaskQueued, &approver.User.ID, nil), engine.TaskActions{}},
		{"a decided approval", manager, task(db.TaskApproval, db.TaskApproved, &manager.User.ID, nil), engine.TaskActions{}},
	}
	for _, c := range cases {
		if got := engine.ActionsOn(c.p, c.t); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
		if got := engine.ActionsOn(c.p, c.t); got.Any() != (c.want != engine.TaskActions{}) {
			t.Errorf("%s: Any() = %v", c.name, got.Any())
		}
	}
}
