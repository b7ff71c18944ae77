package handlers

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"floh/db"
	"floh/engine"
)

// taskBody is what the task actions take: assign names a user, hold a reason, complete a
// comment. Claim, unassign and unhold need no body.
type taskBody struct {
	UserID  *uuid.UUID `json:"userId"`
	Reason  string     `json:"reason"`
	Comment string     `json:"comment"`
}

// decideBody is an approval decision.
type decideBody struct {
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
}

func taskListInput(r *http.Request, kind string) (engine.TaskListInput, error) {
	p, err := listPage(r)
	if err != nil {
		return engine.TaskListInput{}, err
	}
	q := r.URL.Query()
	in := engine.TaskListInput{Kind: kind, Scope: q.Get("scope"), Status: q.Get("status"), Q: strings.TrimSpace(q.Get("q")), Page: p}
	v := &engine.ValidationError{}
	if in.Kind == "" {
		switch k := q.Get("kind"); k {
		case "", db.TaskApproval, db.TaskManualTask:
			in.Kind = k
		default:
			v.Add("kind", "must be approval or manual_task, not %q", k)
		}
	}
	if s := q.Get("runId"); s != "" {
		id, err := uuid.Parse(s)
		if err != nil {
			v.Add("runId", "%q is not a run id", s)
		} else {
			in.RunID = &id
		}
	}
	return in, v.Err()
}

func (s *Server) listTasksAPI(w http.ResponseWriter, r *http.Request) error {
	return s.writeTaskList(w, r, "")
}

func (s *Server) listApprovalsAPI(w http.ResponseWriter, r *http.Request) error {
	return s.writeTaskList(w, r, db.TaskApproval)
}

func (s *Server) writeTaskList(w http.ResponseWriter, r *http.Request, kind string) error {
	in, err := taskListInput(r, kind)
	if err != nil {
		return err
	}
	items, total, err := s.engine.ListTasks(r.Context(), principalFrom(r), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList(items, total, in.Page))
}

func (s *Server) showTaskAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	t, err := s.engine.FindTask(r.Context(), principalFrom(r), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, t)
}

// taskActionAPI serves POST /api/tasks/{id}/{action}.
func (s *Server) taskActionAPI(action string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r, "id")
		if err != nil {
			return err
		}
		var body taskBody
		if r.ContentLength != 0 {
			if err := decodeJSON(r, &body); err != nil {
				return err
			}
		}
		in := engine.TaskInput{UserID: body.UserID, Comment: body.Comment}
		if action == engine.TaskHold {
			in.Comment = body.Reason
		}
		t, err := s.engine.ActOnTask(r.Context(), principalFrom(r), id, action, in)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, t)
	}
}

func (s *Server) decideApprovalAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var body decideBody
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	action := map[string]string{"approve": engine.TaskApprove, "reject": engine.TaskReject}[body.Decision]
	if action == "" {
		return engine.Invalid("decision", "must be approve or reject, not %q", body.Decision)
	}
	t, err := s.engine.FindTask(r.Context(), principalFrom(r), id)
	if err != nil {
		return err
	}
	if t.Kind != db.TaskApproval {
		return fmt.Errorf("approval %s: %w", id, db.ErrNotFound)
	}
	view, err := s.engine.ActOnTask(r.Context(), principalFrom(r), id, action, engine.TaskInput{Comment: body.Reason})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, view)
}
