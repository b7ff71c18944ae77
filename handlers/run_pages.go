package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"floh/connectors"
	"floh/db"
	"floh/engine"
	"floh/engine/workflow"
	"floh/views"
)

// Run pages: the list, one run with its steps as a live timeline, cancel and retry, and the
// start form a workflow's variables generate.

func runStatusBadge(status string) views.Badge {
	switch status {
	case db.RunPending, db.RunRunning, db.RunWaiting:
		return views.Badge{Label: status, Tone: "info"}
	case db.RunCompleted:
		return views.Badge{Label: status, Tone: "ok"}
	case db.RunFailed:
		return views.Badge{Label: status, Tone: "bad"}
	default:
		return views.Badge{Label: status, Tone: "muted"}
	}
}

func stepStatusBadge(status string) views.Badge {
	label := strings.ReplaceAll(status, "_", " ")
	switch status {
	case db.StepPending, db.StepRunning, db.StepWaitingApproval, db.StepWaitingResponse:
		return views.Badge{Label: label, Tone: "info"}
	case db.StepCompleted:
		return views.Badge{Label: label, Tone: "ok"}
	case db.StepFailed:
		return views.Badge{Label: label, Tone: "bad"}
	default:
		return views.Badge{Label: label, Tone: "muted"}
	}
}

var runStatusOptions = []views.Option{
	{Value: db.RunPending, Label: "Pending"}, {Value: db.RunRunning, Label: "Running"}, {Value: db.RunWaiting, Label: "Waiting"},
	{Value: db.RunCompleted, Label: "Completed"}, {Value: db.RunFailed, Label: "Failed"}, {Value: db.RunCancelled, Label: "Cancelled"},
}

// spanWords is how long something took: milliseconds below a second, then seconds, minutes
// and hours, two units at most.
func spanWords(d time.Duration) string {
	switch {
	case d < 0:
		return "—"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	case d < time.Hour:
		return fmt.Sprintf("%d min %d s", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
	}
}

// runDuration is how long a run took, or has taken so far while it moves.
func (s *Server) runDuration(run *db.Run) string {
	if run.FinishedAt != nil {
		return spanWords(run.FinishedAt.Sub(run.StartedAt))
	}
	return spanWords(s.engine.Clock().Now().Sub(run.StartedAt)) + " so far"
}

func (s *Server) runRow(run *db.Run) views.RunRow {
	return views.RunRow{
		ID: run.ID.String(), WorkflowID: run.WorkflowID.String(), WorkflowName: run.WorkflowName, Version: run.Version,
		Status: runStatusBadge(run.Status), StartedBy: run.StartedBy.Label, Started: s.whenT(run.StartedAt),
		Duration: s.runDuration(run), Moving: !run.Finished(),
	}
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) error {
	f, err := runFilter(r)
	if err != nil {
		// A hand-edited address still shows the list.
		f = db.RunFilter{Page: db.Page{Page: 1, PageSize: defaultPageSize}}
	}
	principalFrom(r).RunScope(&f)
	runs, total, err := s.engine.ListRuns(r.Context(), f)
	if err != nil {
		return err
	}
	p := views.RunsPage{Page: s.page(r, "Runs", "runs"), Status: f.Status, Statuses: runStatusOptions, OwnOnly: f.StartedByID != nil}
	if f.WorkflowID != nil {
		p.WorkflowID = f.WorkflowID.String()
	}
	if p.Workflows, err = s.workflowOptions(r.Context(), p.WorkflowID); err != nil {
		return err
	}
	href := func(n int) string {
		return withQuery("/runs", url.Values{"status": {f.Status}, "workflowId": {p.WorkflowID}, "page": {strconv.Itoa(n)}})
	}
	for i := range runs {
		row := s.runRow(&runs[i])
		p.Rows = append(p.Rows, row)
		if row.Moving {
			p.Poll = href(f.Page.Page)
		}
	}
	p.Pager = views.Pager{Page: f.Page.Page, PageSize: f.Page.PageSize, Total: total, Href: href}
	s.render(w, r, http.StatusOK, views.RunsView(p, isPartial(r)))
	return nil
}

// workflowOptions are the workflows a run list can be filtered by: every published one, the
// deleted ones too since their runs remain.
func (s *Server) workflowOptions(ctx context.Context, current string) ([]views.Option, error) {
	ws, _, err := s.engine.ListWorkflows(ctx, db.WorkflowFilter{IncludeDeleted: true, Page: db.Page{Page: 1, PageSize: maxPageSize}})
	if err != nil {
		return nil, err
	}
	var out []views.Option
	for _, wf := range ws {
		if wf.Version > 0 || wf.ID.String() == current {
			label := wf.Name
			if wf.Deleted() {
				label += " (deleted)"
			}
			out = append(out, views.Option{Value: wf.ID.String(), Label: label})
		}
	}
	return out, nil
}

// runForPath is the run the path names, if the principal may see it; another user's run is
// not found for one who may only see their own, so its existence does not leak either.
func (s *Server) runForPath(r *http.Request) (*db.Run, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	run, err := s.engine.FindRun(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if !principalFrom(r).CanSeeRun(run) {
		return nil, fmt.Errorf("find run %s: %w", id, db.ErrNotFound)
	}
	return run, nil
}

func (s *Server) showRun(w http.ResponseWriter, r *http.Request) error {
	run, err := s.runForPath(r)
	if err != nil {
		return err
	}
	p, err := s.runPage(r, run)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, views.RunView(p, isPartial(r)))
	return nil
}

func (s *Server) runPage(r *http.Request, run *db.Run) (views.RunPage, error) {
	ctx := r.Context()
	pr := principalFrom(r)
	id := run.ID.String()
	steps, err := s.engine.RunSteps(ctx, run.ID)
	if err != nil {
		return views.RunPage{}, err
	}
	entries, err := s.engine.RunTimeline(ctx, run.ID)
	if err != nil {
		return views.RunPage{}, err
	}
	page := s.page(r, run.WorkflowName+" · run", "runs")
	page.URL = "/runs/" + id
	p := views.RunPage{
		Page: page,
		Run: views.RunSummary{
			ID: id, WorkflowID: run.WorkflowID.String(), WorkflowName: run.WorkflowName, Version: run.Version,
			Status: runStatusBadge(run.Status), StartedBy: run.StartedBy.Label,
			Started: s.whenT(run.StartedAt), Finished: s.when(run.FinishedAt), Duration: s.runDuration(run),
			UseMocks: run.UseMocks,
		},
		Variables: prettyJSON(run.Variables),
	}
	if run.StartedBy.ID != nil && pr.Can(engine.PermUserRead) {
		p.Run.StartedByHref = "/users/" + run.StartedBy.ID.String()
	}
	if e := storedError(run.Error); e != nil {
		p.Run.Error = sentence(e.Message)
	}
	if run.ParentRunID != nil {
		p.Run.ParentRunID = run.ParentRunID.String()
	}
	if run.CompensationOf != nil {
		p.Run.CompensationOf = run.CompensationOf.String()
	}
	if !run.Finished() {
		p.Poll = "/runs/" + id
	}
	canOperate := pr.Can(engine.PermRunCancel)
	p.Actions.Cancel = canOperate && !run.Finished()
	// A sub-workflow's failure is its parent's to handle; the engine refuses to retry it.
	p.Actions.Retry = canOperate && run.Status == db.RunFailed && run.ParentRunID == nil
	def := s.runDefinition(ctx, run)
	tasks, err := s.runTasks(ctx, run.ID)
	if err != nil {
		return views.RunPage{}, err
	}
	for _, se := range steps {
		row := views.RunStepRow{
			Anchor: stepAnchor(se.StepID) + "-" + strconv.Itoa(se.Iteration), StepID: se.StepID, Name: se.Name, Type: se.Type,
			Iteration: se.Iteration, Status: stepStatusBadge(se.Status), Started: s.when(se.StartedAt),
			Finished: s.when(se.FinishedAt), Attempts: se.Attempts, Due: s.when(se.DueAt), Output: prettyJSON(se.Output),
		}
		if se.StartedAt != nil && se.FinishedAt != nil {
			row.Duration = spanWords(se.FinishedAt.Sub(*se.StartedAt))
		}
		if se.ChildRunID != nil {
			row.ChildRunID = se.ChildRunID.String()
		}
		if e := storedError(se.Error); e != nil {
			row.Error = s.stepError(ctx, e, def, se.StepID)
		}
		if se.Status == db.StepFailed {
			p.Actions.RetryStep = se.Name
		}
		s.stepPeople(pr, &row, &se, tasks[se.ID])
		p.Steps = append(p.Steps, row)
	}
	for _, e := range entries {
		p.Timeline = append(p.Timeline, views.RunTimelineRow{
			At: s.whenT(e.At), StepID: deref(e.StepID), Kind: strings.ReplaceAll(e.Kind, "_", " "), Message: e.Message, Data: prettyJSON(e.Data),
		})
	}
	if run.CompensationOf != nil {
		if p.Manual, err = s.manualUndos(ctx, run, entries); err != nil {
			return views.RunPage{}, err
		}
	}
	// A moving run has nothing to diagnose yet, and the panel is not recomputed on every poll.
	if run.Finished() {
		d, err := s.engine.DiagnoseRun(ctx, run.ID)
		if err != nil {
			return views.RunPage{}, err
		}
		// Retrying a rolled-back run would carry on from what its rollback undid.
		p.Actions.Retry = p.Actions.Retry && d.CompensatedBy == nil
		if showsDiagnosis(run, d) {
			if p.Diagnosis, err = s.diagnosis(r, run, d, p.Steps, def); err != nil {
				return views.RunPage{}, err
			}
		}
	}
	return p, nil
}

// runDefinition is what the run executes, to find the connector behind a failed step: a
// rollback run's own definition, else the version the run pinned. nil when it cannot be read,
// since the page shows the error without the links just as well.
func (s *Server) runDefinition(ctx context.Context, run *db.Run) *workflow.Definition {
	raw := run.Definition
	if len(raw) == 0 {
		v, err := s.engine.FindWorkflowVersion(ctx, run.WorkflowID, run.Version)
		if err != nil {
			return nil
		}
		raw = v.Definition
	}
	def := new(workflow.Definition)
	if err := json.Unmarshal(raw, def); err != nil {
		return nil
	}
	return def
}

// stepConnector is the live connector a connector step calls; nil for any other step, or
// when the connector cannot be found (deleted since).
func (s *Server) stepConnector(ctx context.Context, def *workflow.Definition, stepID string) *db.Connector {
	if def == nil {
		return nil
	}
	st := def.Step(stepID)
	if st == nil || st.Type != workflow.TypeConnector {
		return nil
	}
	ref, _ := st.Config["connectorId"].(string)
	if ref == "" {
		return nil
	}
	conn, err := db.FindLiveConnectorByRef(ctx, s.db.Bun, ref)
	if err != nil {
		return nil
	}
	return conn
}

// stepError shows a step's classified error as the connector pages do; for a connector step
// the next steps link to that connector's tabs.
func (s *Server) stepError(ctx context.Context, e *connectors.Error, def *workflow.Definition, stepID string) *views.ConnectorError {
	conn := s.stepConnector(ctx, def, stepID)
	if conn == nil {
		out := connectorError(e, "", nil, nil)
		out.Next = nil
		return out
	}
	t := s.engine.ConnectorType(conn.Type)
	var params []connectors.Field
	if t != nil {
		if cmd := t.Command(stepCommand(def, stepID)); cmd != nil {
			params = cmd.Params
		}
	}
	return connectorError(e, conn.ID.String(), t, params)
}

func stepCommand(def *workflow.Definition, stepID string) string {
	command, _ := def.Step(stepID).Config["command"].(string)
	return command
}

func (s *Server) confirmCancelRun(w http.ResponseWriter, r *http.Request) error {
	run, err := s.runForPath(r)
	if err != nil {
		return err
	}
	id := run.ID.String()
	if run.Finished() {
		s.flash(r, "info", "This run is already "+run.Status+"; there is nothing to cancel.")
		return redirect(w, r, "/runs/"+id)
	}
	s.render(w, r, http.StatusOK, views.ConfirmView(views.ConfirmPage{
		Page:    s.page(r, "Cancel the run of "+run.WorkflowName, "runs"),
		Heading: "Cancel this run of " + run.WorkflowName + "?",
		Consequence: []string{
			"The run stops: its steps that have not finished become cancelled, and no further step runs.",
			"A connector call already in flight finishes at the target, but its result is not recorded.",
			"Steps that completed are not undone: what they created or changed in other systems stays.",
			"Sub-workflow runs it started are cancelled too. A cancelled run cannot be resumed.",
		},
		Action: "/runs/" + id + "/cancel", Button: "Cancel run", CancelHref: "/runs/" + id,
	}))
	return nil
}

func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request) error {
	return s.operateRun(w, r, s.engine.CancelRun, "Cancelled the run. Steps that completed are not undone.")
}

func (s *Server) retryRun(w http.ResponseWriter, r *http.Request) error {
	return s.operateRun(w, r, s.engine.RetryRun, "Retrying the run from its failed step.")
}

// operateRun cancels or retries a run and returns to its page; a run that moved on meanwhile
// (finished, or no longer failed) is said in words there.
func (s *Server) operateRun(w http.ResponseWriter, r *http.Request, act func(context.Context, engine.Actor, uuid.UUID) (*db.Run, error), done string) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if _, err := act(r.Context(), principalFrom(r).Actor(), id); err != nil {
		return s.backOnConflict(w, r, err, "/runs/"+id.String())
	}
	s.flash(r, "success", done)
	return redirect(w, r, "/runs/"+id.String())
}

// userActivityAPI lists a user's workflow activity: the runs about the user and the runs they
// started, newest first.
func (s *Server) userActivityAPI(w http.ResponseWriter, r *http.Request) error {
	u, err := s.userForPath(r)
	if err != nil {
		return err
	}
	p, err := listPage(r)
	if err != nil {
		return err
	}
	runs, total, err := db.ListUserRuns(r.Context(), s.db.Bun, u.ID, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList(runs, total, p))
}

// activityShown is how many runs the user page lists; the API pages through the rest.
const activityShown = 10

func (s *Server) userActivity(r *http.Request, u *db.User) (views.UserActivity, error) {
	runs, total, err := db.ListUserRuns(r.Context(), s.db.Bun, u.ID, db.Page{Page: 1, PageSize: activityShown})
	if err != nil {
		return views.UserActivity{}, err
	}
	a := views.UserActivity{Total: total, Links: principalFrom(r).Can(engine.PermRunRead)}
	for i := range runs {
		a.Rows = append(a.Rows, s.runRow(&runs[i]))
	}
	return a, nil
}
