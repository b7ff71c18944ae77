package engine

import (
	"context"
	"slices"
	"strings"

	"floh/db"
)

// TaskActions are the actions a principal may take on a task as it stands. The Tasks page
// offers exactly these, so a button never leads to a refusal the page could have foreseen; a
// refusal can still come when someone else acts first. It follows actOnTask's rules.
type TaskActions struct {
	Claim, Assign, Unassign, Hold, Unhold, Complete, Approve, Reject bool
}

// Any reports whether the principal may do anything with the task.
func (a TaskActions) Any() bool {
	return a != TaskActions{}
}

// ActionsOn says what the principal may do with the task now: nothing on an ended or queued
// task; the holder, or a member of the task's role while no one holds it, works it; someone
// with task:assign may give it to anyone, take it, hold it and release it.
func ActionsOn(p *Principal, t *db.Task) TaskActions {
	var a TaskActions
	if !t.Active() || t.Status == db.TaskQueued {
		return a
	}
	mine, assigner := mayAct(p, t), p.Can(PermTaskAssign)
	if !mine && !assigner {
		return a
	}
	approval := t.Kind == db.TaskApproval
	decider := !approval || p.Can(PermApprovalDecide)
	a.Claim = t.AssigneeID == nil && decider
	a.Assign = assigner
	a.Unassign = t.AssigneeID != nil && t.AssigneeRole != nil && (*t.AssigneeID == p.User.ID || assigner)
	a.Hold = t.Status == db.TaskOpen
	a.Unhold = t.Status == db.TaskOnHold
	decide := t.Status == db.TaskOpen && mine && decider
	a.Complete = decide && !approval
	a.Approve, a.Reject = decide && approval, decide && approval
	return a
}

// TaskIsFor reports whether the task is on the principal's own list: they hold it, or no one
// does and it is for a role they have.
func TaskIsFor(p *Principal, t *db.Task) bool {
	return mayAct(p, t)
}

// CountMyTasksByKind counts the open and held tasks a principal may act on, by kind
// (approval, manual_task).
func (e *Engine) CountMyTasksByKind(ctx context.Context, p *Principal) (map[string]int, error) {
	return db.CountOpenTasksByKind(ctx, e.db.Bun, p.User.ID, p.User.Roles)
}

// TaskAssignees are the active users a task of this kind can be given to: those whose roles
// let them decide approvals, or for a manual task see tasks. Assign refuses anyone else.
func (e *Engine) TaskAssignees(ctx context.Context, kind string) ([]db.User, error) {
	need := PermTaskRead
	if kind == db.TaskApproval {
		need = PermApprovalDecide
	}
	var out []db.User
	for _, r := range SystemRoles {
		if !slices.Contains(r.Permissions, need) {
			continue
		}
		users, err := db.ListActiveUsersWithRole(ctx, e.db.Bun, r.Name)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			if !slices.ContainsFunc(out, func(o db.User) bool { return o.ID == u.ID }) {
				out = append(out, u)
			}
		}
	}
	slices.SortFunc(out, func(a, b db.User) int { return strings.Compare(strings.ToLower(a.Email), strings.ToLower(b.Email)) })
	return out, nil
}
