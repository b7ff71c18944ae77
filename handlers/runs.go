package handlers

import (
	"context"
	"net/http"
	"slices"

	"github.com/google/uuid"

	"floh/db"
	"floh/engine"
)

// runStatuses are the statuses a run list may filter on.
var runStatuses = []string{"pending", "running", "waiting", "completed", "failed", "cancelled"}

func runFilter(r *http.Request) (db.RunFilter, error) {
	p, err := listPage(r)
	if err != nil {
		return db.RunFilter{}, err
	}
	q := r.URL.Query()
	f := db.RunFilter{Status: q.Get("status"), SubjectType: q.Get("subjectType"), SubjectID: q.Get("subjectId"), Page: p}
	v := &engine.ValidationError{}
	if f.Status != "" && !slices.Contains(runStatuses, f.Status) {
		v.Add("status", "must be one of pending, running, waiting, completed, failed, cancelled, not %q", f.Status)
	}
	if s := q.Get("workflowId"); s != "" {
		id, err := uuid.Parse(s)
		if err != nil {
			v.Add("workflowId", "%q is not a workflow id", s)
		} else {
			f.WorkflowID = &id
		}
	}
	return f, v.Err()
}

// runView is a run with its steps in execution order, start and end included (PRODUCT §5),
// and the run that rolled it back, so the link between the two reads both ways.
type runView struct {
	*db.Run
	Steps         []db.StepExecution `json:"steps"`
	CompensatedBy *uuid.UUID         `json:"compensatedBy"`
}

func (s *Server) runView(r *http.Request, run *db.Run) (*runView, error) {
	steps, err := s.engine.RunSteps(r.Context(), run.ID)
	if err != nil {
		return nil, err
	}
	by, err := s.engine.CompensationRunOf(r.Context(), run.ID)
	if err != nil {
		return nil, err
	}
	return &runView{Run: run, Steps: steps, CompensatedBy: by}, nil
}

// startWorkflowAPI answers after the run row is committed, so the id can be read at once.
func (s *Server) startWorkflowAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in engine.StartInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	run, err := s.engine.StartWorkflow(r.Context(), principalFrom(r).Actor(), id, in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"runId": run.ID})
}

func (s *Server) listRunsAPI(w http.ResponseWriter, r *http.Request) error {
	f, err := runFilter(r)
	if err != nil {
		return err
	}
	principalFrom(r).RunScope(&f)
	runs, total, err := s.engine.ListRuns(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList(runs, total, f.Page))
}

func (s *Server) showRunAPI(w http.ResponseWriter, r *http.Request) error {
	run, err := s.runForPath(r)
	if err != nil {
		return err
	}
	v, err := s.runView(r, run)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) updateRunAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Variables map[string]any `json:"variables"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Variables == nil {
		return engine.Invalid("variables", "is required: an object of the variables to change")
	}
	run, err := s.engine.UpdateRunVariables(r.Context(), principalFrom(r).Actor(), id, in.Variables)
	if err != nil {
		return err
	}
	v, err := s.runView(r, run)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) cancelRunAPI(w http.ResponseWriter, r *http.Request) error {
	return s.runAction(w, r, s.engine.CancelRun)
}

func (s *Server) retryRunAPI(w http.ResponseWriter, r *http.Request) error {
	return s.runAction(w, r, s.engine.RetryRun)
}

func (s *Server) runAction(w http.ResponseWriter, r *http.Request, act func(ctx context.Context, a engine.Actor, id uuid.UUID) (*db.Run, error)) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	run, err := act(r.Context(), principalFrom(r).Actor(), id)
	if err != nil {
		return err
	}
	v, err := s.runView(r, run)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) runTimelineAPI(w http.ResponseWriter, r *http.Request) error {
	run, err := s.runForPath(r)
	if err != nil {
		return err
	}
	entries, err := s.engine.RunTimeline(r.Context(), run.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": entries})
}

func (s *Server) diagnoseRunAPI(w http.ResponseWriter, r *http.Request) error {
	run, err := s.runForPath(r)
	if err != nil {
		return err
	}
	d, err := s.engine.DiagnoseRun(r.Context(), run.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

func (s *Server) rollbackPlanAPI(w http.ResponseWriter, r *http.Request) error {
	run, err := s.runForPath(r)
	if err != nil {
		return err
	}
	items, err := s.engine.RollbackPlan(r.Context(), run.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

// rollbackRunAPI answers 201 with the rollback run's id once that run is committed.
func (s *Server) rollbackRunAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	run, err := s.engine.RollbackRun(r.Context(), principalFrom(r).Actor(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"runId": run.ID})
}
