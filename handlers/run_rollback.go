package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"

	"floh/connectors"
	"floh/db"
	"floh/engine"
	"floh/engine/workflow"
	"floh/views"
)

// The diagnose panel of a run page and the rollback confirmation: the partial-provisioning
// runbook for one run (what failed and why, what was already done, what to undo) and the
// button that undoes it. The engine decides the plan and whether a run can be rolled back;
// these only show it.

// systemFloh names Floh itself as the system of a step that is not a connector call, as the
// engine's diagnosis does.
const systemFloh = "Floh"

// showsDiagnosis is whether a finished run's page has the panel: a failed run always, since
// that is where its failure notification links; any other run only when there is something
// to undo or it was undone already. A rollback run or a sub-workflow run is never undone on
// its own, so only its failure is worth the panel.
func showsDiagnosis(run *db.Run, d *engine.Diagnosis) bool {
	if run.Status == db.RunFailed {
		return true
	}
	own := run.CompensationOf == nil && run.ParentRunID == nil
	return own && (len(d.RollbackPlan) > 0 || d.CompensatedBy != nil)
}

// diagnosis builds the panel. rows are the page's step rows: the failed one carries the
// error already worded for an admin, and is marked Diagnosed, since the panel now shows it.
func (s *Server) diagnosis(r *http.Request, run *db.Run, d *engine.Diagnosis, rows []views.RunStepRow, def *workflow.Definition) (*views.RunDiagnosis, error) {
	ctx := r.Context()
	names := map[string]string{}
	for _, row := range rows {
		names[row.StepID] = row.Name
	}
	out := &views.RunDiagnosis{}
	if d.Error != nil {
		f := &views.RunFailure{}
		if d.FailedStepID != nil {
			// The last execution of the step with an error: a loop may have run it before.
			for i, row := range slices.Backward(rows) {
				if row.StepID == *d.FailedStepID && row.Error != nil {
					f.StepName, f.StepHref, f.ChildRunID, f.Error = row.Name, "#"+row.Anchor, row.ChildRunID, row.Error
					f.System, f.Command = s.stepSystem(ctx, def, row.StepID, row.Type)
					rows[i].Diagnosed = true
					break
				}
			}
		}
		if f.Error == nil {
			// The run failed outside any step (it timed out, say): its own error says why.
			f.Error = connectorError(&connectors.Error{Message: d.Error.Message, Code: d.Error.Code, Class: connectors.Class(d.Error.Class)}, "", nil, nil)
			f.Error.Next = nil
		}
		out.Failure = f
	}
	for _, c := range d.CompletedSteps {
		out.Done = append(out.Done, views.RunDoneStep{Name: stepName(names, c.StepID), StepID: c.StepID, System: c.System, Command: c.Command})
	}
	if d.CompensatedBy != nil {
		comp, err := s.engine.FindRun(ctx, *d.CompensatedBy)
		if err != nil {
			return nil, err
		}
		row := s.runRow(comp)
		out.CompensatedBy = &row
		return out, nil
	}
	if run.CompensationOf != nil || run.ParentRunID != nil {
		// Neither is rolled back on its own; the panel says what to do instead.
		return out, nil
	}
	out.Plan = rollbackItems(d.RollbackPlan, names)
	if len(out.Plan) > 0 {
		if principalFrom(r).Can(engine.PermRunCancel) {
			out.Rollback = "/runs/" + run.ID.String() + "/rollback"
		} else {
			out.NoPermission = true
		}
	}
	return out, nil
}

// stepSystem names the system a step acts on and what it asks of it: a connector step's
// connector and command, Floh and the step's type for any other step.
func (s *Server) stepSystem(ctx context.Context, def *workflow.Definition, stepID, typ string) (system, command string) {
	if conn := s.stepConnector(ctx, def, stepID); conn != nil {
		return conn.Name, stepCommand(def, stepID)
	}
	return systemFloh, typ
}

// stepName is a step's name, or its id when the run has no step by that id: a sub-workflow's
// steps are "<parent step>/<child step>".
func stepName(names map[string]string, id string) string {
	if n, ok := names[id]; ok {
		return n
	}
	return id
}

var planKinds = map[string]views.Badge{
	engine.PlanConnector: {Label: "connector", Tone: "info"},
	engine.PlanBuiltin:   {Label: "built-in", Tone: "info"},
	engine.PlanManual:    {Label: "by hand", Tone: "warn"},
}

// rollbackItems shows a plan in its order; names are the original run's step names by id.
func rollbackItems(plan []engine.PlanItem, names map[string]string) []views.RollbackItem {
	out := make([]views.RollbackItem, 0, len(plan))
	for _, it := range plan {
		item := views.RollbackItem{
			Undoes: stepName(names, it.StepID), System: it.System, Command: it.Command, Kind: planKinds[it.Kind],
			Manual: it.Kind == engine.PlanManual, Mock: it.Mock, Reason: reasonText(it.Reason),
		}
		for _, k := range slices.Sorted(maps.Keys(it.Params)) {
			item.Params = append(item.Params, views.Param{Name: k, Value: paramText(it.Params[k])})
		}
		out = append(out, item)
	}
	return out
}

// reasonText ends a plan item's reason with a full stop. Unlike sentence it keeps the first
// letter as it is: a reason may begin with a command's name (setPassword on ...).
func reasonText(reason string) string {
	if reason == "" || strings.HasSuffix(reason, ".") {
		return reason
	}
	return reason + "."
}

// paramText is a param's value as an admin would type it: a string as it is, anything else
// as JSON.
func paramText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// manualUndos are the items a rollback run left for an admin: the engine puts them on the
// run's timeline, as they are not steps. They name the original run's steps.
func (s *Server) manualUndos(ctx context.Context, run *db.Run, entries []db.TimelineEntry) ([]views.RollbackItem, error) {
	var plan []engine.PlanItem
	for _, e := range entries {
		if e.Kind != "manual_compensation" {
			continue
		}
		var it engine.PlanItem
		if err := json.Unmarshal(e.Data, &it); err != nil {
			return nil, fmt.Errorf("manual compensation of run %s: %w", e.RunID, err)
		}
		plan = append(plan, it)
	}
	if len(plan) == 0 {
		return nil, nil
	}
	names, err := s.stepNames(ctx, *run.CompensationOf)
	if err != nil {
		return nil, err
	}
	return rollbackItems(plan, names), nil
}

// stepNames are a run's step names by step id.
func (s *Server) stepNames(ctx context.Context, runID uuid.UUID) (map[string]string, error) {
	steps, err := s.engine.RunSteps(ctx, runID)
	if err != nil {
		return nil, err
	}
	names := make(map[string]string, len(steps))
	for _, se := range steps {
		names[se.StepID] = se.Name
	}
	return names, nil
}

// planDigest identifies a plan. The confirmation form carries it, and the rollback goes ahead
// only while the plan is still the one the admin read: a run retried and failed again since
// has more to undo.
func planDigest(plan []engine.PlanItem) string {
	b, _ := json.Marshal(plan) // plain maps, strings and numbers from JSON: it cannot fail
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

func (s *Server) confirmRollbackRun(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	run, plan, err := s.engine.PreviewRollback(r.Context(), id)
	if err != nil {
		// Nothing to undo, undone already, still moving: the run's page says why.
		return s.backOnConflict(w, r, err, "/runs/"+id.String())
	}
	names, err := s.stepNames(r.Context(), id)
	if err != nil {
		return err
	}
	p := views.RollbackConfirmPage{
		Page: s.page(r, "Roll back the run of "+run.WorkflowName, "runs"), RunID: id.String(), WorkflowName: run.WorkflowName,
		Plan: rollbackItems(plan, names), Previewed: planDigest(plan),
	}
	for _, it := range p.Plan {
		if it.Manual {
			p.Manual++
		} else {
			p.Automatic++
		}
		p.Mock = p.Mock || it.Mock
	}
	s.render(w, r, http.StatusOK, views.RollbackConfirmView(p))
	return nil
}

// rollbackRun starts the rollback run and opens its page. A plan that changed since the
// confirmation was shown goes back to the confirmation, which shows the new one.
func (s *Server) rollbackRun(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	back := "/runs/" + id.String()
	_, plan, err := s.engine.PreviewRollback(r.Context(), id)
	if err != nil {
		return s.backOnConflict(w, r, err, back)
	}
	if r.PostFormValue("plan") != planDigest(plan) {
		return s.backOnConflict(w, r, engine.Conflict("what the rollback would undo changed since you looked: check the undo steps again"), back+"/rollback")
	}
	// The engine checks again in its transaction: a retry started in between is refused.
	comp, err := s.engine.RollbackRun(r.Context(), principalFrom(r).Actor(), id)
	if err != nil {
		return s.backOnConflict(w, r, err, back)
	}
	manual := 0
	for _, it := range plan {
		if it.Kind == engine.PlanManual {
			manual++
		}
	}
	msg := "Started the rollback of run " + id.String() + "."
	if auto := len(plan) - manual; auto > 0 {
		msg += " It runs " + plural(auto, "undo step") + " in order; this page follows them."
	}
	switch manual {
	case 0:
	case 1:
		msg += " 1 item is left for you to do by hand: it is listed on this page."
	default:
		msg += " " + plural(manual, "item") + " are left for you to do by hand: they are listed on this page."
	}
	s.flash(r, "success", msg)
	return redirect(w, r, "/runs/"+comp.ID.String())
}
