package handlers

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"floh/db"
	"floh/engine"
	"floh/engine/lint"
	"floh/engine/workflow"
)

func workflowFilter(r *http.Request) (db.WorkflowFilter, error) {
	p, err := listPage(r)
	if err != nil {
		return db.WorkflowFilter{}, err
	}
	deleted, err := boolParam(r, "includeDeleted")
	if err != nil {
		return db.WorkflowFilter{}, err
	}
	q := r.URL.Query()
	f := db.WorkflowFilter{Q: strings.TrimSpace(q.Get("q")), Status: q.Get("status"), IncludeDeleted: deleted, Page: p}
	switch f.Status {
	case "", db.WorkflowDraft, db.WorkflowActive, db.WorkflowDeprecated:
	default:
		return f, engine.Invalid("status", "must be draft, active or deprecated, not %q", f.Status)
	}
	return f, nil
}

// readDocument reads a request body that is a workflow document at top level.
func readDocument(r *http.Request) ([]byte, error) {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		return nil, &badRequest{msg: "send the definition as JSON with Content-Type: application/json"}
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, mb
		}
		return nil, &badRequest{msg: "could not read the request body"}
	}
	if !json.Valid(raw) {
		return nil, &badRequest{msg: "the request body must be a workflow definition in JSON, and it is not valid JSON"}
	}
	return raw, nil
}

func (s *Server) listWorkflowsAPI(w http.ResponseWriter, r *http.Request) error {
	f, err := workflowFilter(r)
	if err != nil {
		return err
	}
	ws, total, err := s.engine.ListWorkflows(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList(ws, total, f.Page))
}

func (s *Server) createWorkflowAPI(w http.ResponseWriter, r *http.Request) error {
	raw, err := readDocument(r)
	if err != nil {
		return err
	}
	doc, err := s.engine.CreateWorkflow(r.Context(), principalFrom(r).Actor(), raw)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, doc)
}

func (s *Server) showWorkflowAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	doc, err := s.engine.FindWorkflow(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, doc)
}

func (s *Server) updateWorkflowAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	raw, err := readDocument(r)
	if err != nil {
		return err
	}
	doc, err := s.engine.UpdateWorkflow(r.Context(), principalFrom(r).Actor(), id, raw)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, doc)
}

func (s *Server) deleteWorkflowAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	wf, err := s.engine.DeleteWorkflow(r.Context(), principalFrom(r).Actor(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wf)
}

func (s *Server) publishWorkflowAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	doc, err := s.engine.PublishWorkflow(r.Context(), principalFrom(r).Actor(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, doc)
}

func (s *Server) deprecateWorkflowAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	doc, err := s.engine.DeprecateWorkflow(r.Context(), principalFrom(r).Actor(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, doc)
}

func (s *Server) listWorkflowVersionsAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	vs, err := s.engine.ListWorkflowVersions(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": vs})
}

func (s *Server) showWorkflowVersionAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 {
		return engine.Invalid("n", "must be a version number, not %q", r.PathValue("n"))
	}
	v, err := s.engine.FindWorkflowVersion(r.Context(), id, n)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) diffWorkflowAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	v := &engine.ValidationError{}
	for _, name := range []string{"from", "to"} {
		if q.Get(name) == "" {
			v.Add(name, "is required: a version number or \"draft\"")
		}
	}
	if err := v.Err(); err != nil {
		return err
	}
	diff, err := s.engine.DiffWorkflow(r.Context(), id, q.Get("from"), q.Get("to"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, diff)
}

func (s *Server) newWorkflowDraftAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		FromVersion *int `json:"fromVersion"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.FromVersion == nil {
		return engine.Invalid("fromVersion", "is required")
	}
	doc, err := s.engine.NewDraftFromVersion(r.Context(), principalFrom(r).Actor(), id, *in.FromVersion)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, doc)
}

// lintWorkflowAPI answers 200 with the findings for any parseable definition, however broken
// its graph; only a document that is not a definition at all is refused.
func (s *Server) lintWorkflowAPI(w http.ResponseWriter, r *http.Request) error {
	raw, err := readDocument(r)
	if err != nil {
		return err
	}
	def, err := workflow.Parse(raw)
	if err != nil {
		var fe *workflow.FieldError
		var fes workflow.ValidationErrors
		switch {
		case errors.As(err, &fes) && len(fes) > 0:
			return engine.Invalid(fes[0].Field, "%s", fes[0].Message)
		case errors.As(err, &fe):
			return engine.Invalid(fe.Field, "%s", fe.Message)
		}
		return &badRequest{msg: err.Error()}
	}
	findings := s.engine.LintWorkflow(r.Context(), def)
	if findings == nil {
		findings = []lint.Finding{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"findings": findings})
}
