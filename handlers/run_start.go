package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode"

	"github.com/google/uuid"

	"floh/db"
	"floh/engine"
	"floh/engine/workflow"
	"floh/views"
)

// The start form: one input per input variable of the workflow's active version, by type. The
// form names each input variables.<name>, as the engine names its field errors, so a refused
// start puts every message beside its input.

const (
	useMocksField = "useMocks"
	varPrefix     = "variables."
)

// startableWorkflow loads the workflow of the path and its active version's definition; a workflow
// that takes no runs sends the admin back to its page saying why.
func (s *Server) startableWorkflow(w http.ResponseWriter, r *http.Request) (*engine.WorkflowDoc, *workflow.Definition, bool, error) {
	doc, err := s.workflowForPath(r)
	if err != nil {
		return nil, nil, false, err
	}
	back := "/workflows/" + doc.ID.String()
	if doc.Deleted() || doc.Status != db.WorkflowActive || doc.Version == 0 {
		msg := doc.Name + " is a draft: publish it before starting it."
		switch {
		case doc.Deleted():
			msg = doc.Name + " is deleted: it cannot start runs."
		case doc.Status == db.WorkflowDeprecated:
			msg = doc.Name + " is deprecated: it starts no new runs."
		}
		s.flash(r, "info", msg)
		return nil, nil, false, redirect(w, r, back)
	}
	v, err := s.engine.FindWorkflowVersion(r.Context(), doc.ID, doc.Version)
	if err != nil {
		return nil, nil, false, err
	}
	def := new(workflow.Definition)
	if err := json.Unmarshal(v.Definition, def); err != nil {
		return nil, nil, false, fmt.Errorf("workflow %s version %d: %w", doc.ID, doc.Version, err)
	}
	return doc, def, true, nil
}

func (s *Server) startForm(w http.ResponseWriter, r *http.Request) error {
	doc, def, ok, err := s.startableWorkflow(w, r)
	if !ok {
		return err
	}
	s.render(w, r, http.StatusOK, views.RunStartView(s.startPage(r, doc, def, views.Form{})))
	return nil
}

func (s *Server) startPage(r *http.Request, doc *engine.WorkflowDoc, def *workflow.Definition, form views.Form) views.RunStartPage {
	id := doc.ID.String()
	page := s.page(r, "Start "+doc.Name, "workflows")
	page.URL = "/workflows/" + id + "/start"
	p := views.RunStartPage{
		Page:     page,
		Workflow: views.WorkflowSummary{ID: id, Name: doc.Name, Status: workflowStatusBadge(doc.Status), Version: doc.Version},
		Form:     form,
	}
	for _, v := range def.Variables {
		p.Fields = append(p.Fields, variableField(v))
	}
	return p
}

// variableField is the input of one variable: text, number, a checkbox, an email-or-id box
// for a user, JSON for an object or a list.
func variableField(v workflow.Variable) views.SchemaField {
	f := views.SchemaField{Name: varPrefix + v.Name, Field: v.Name, Label: variableLabel(v.Name), Help: v.Description, Required: v.Required, Kind: v.Type}
	switch v.Type {
	case "number":
		f.Input, f.KindHint = "number", "A number"
	case "boolean":
		f.Input = "checkbox"
	case "user":
		f.Input, f.KindHint, f.Placeholder = "text", "A user: their email address or Floh user id", "name@example.com"
	case "object":
		f.Input, f.KindHint, f.Placeholder = "textarea", "A JSON object", `{"key": "value"}`
	case "list":
		f.Input, f.Kind, f.KindHint, f.Placeholder = "textarea", "array", "A JSON list", `["first", "second"]`
	default:
		f.Input = "text"
	}
	return f
}

// variableLabel makes a label of a variable's name: "targetUser" and "target_user" both read
// "Target user".
func variableLabel(name string) string {
	var b strings.Builder
	prev := rune(0)
	for i, c := range name {
		switch {
		case c == '_' || c == '-' || c == '.':
			c = ' '
		case i > 0 && unicode.IsUpper(c) && unicode.IsLower(prev):
			b.WriteRune(' ')
			c = unicode.ToLower(c)
		case i > 0 && unicode.IsUpper(c):
			c = unicode.ToLower(c)
		}
		if i == 0 {
			c = unicode.ToUpper(c)
		}
		b.WriteRune(c)
		prev = c
	}
	return b.String()
}

func (s *Server) startRun(w http.ResponseWriter, r *http.Request) error {
	doc, def, ok, err := s.startableWorkflow(w, r)
	if !ok {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return &badRequest{"the form could not be read"}
	}
	form := views.Form{Values: map[string]string{}}
	if r.PostFormValue(useMocksField) == "true" {
		form.Values[useMocksField] = "true"
	}
	vars := map[string]any{}
	labels := map[string]string{}
	for _, v := range def.Variables {
		name := varPrefix + v.Name
		labels[name] = variableLabel(v.Name)
		raw := r.PostFormValue(name)
		form.Values[name] = raw
		val, msg, err := s.formVariable(r, v, raw)
		if err != nil {
			return err
		}
		if msg != "" {
			form.Errors = append(form.Errors, views.FieldError{Field: name, Message: fieldMessage(labels[name], msg)})
		} else if val != nil {
			vars[v.Name] = val
		}
	}
	if len(form.Errors) > 0 {
		// What could not be read is refused before the engine sees it; say at once which
		// required inputs are empty too, so one round of corrections suffices.
		for _, v := range def.Variables {
			name := varPrefix + v.Name
			if v.Required && v.Type != "boolean" && strings.TrimSpace(form.Values[name]) == "" {
				form.Errors = append(form.Errors, views.FieldError{Field: name, Message: labels[name] + " is required."})
			}
		}
		s.render(w, r, http.StatusUnprocessableEntity, views.RunStartView(s.startPage(r, doc, def, form)))
		return nil
	}
	run, err := s.engine.StartWorkflow(r.Context(), principalFrom(r).Actor(), doc.ID, engine.StartInput{Variables: vars, UseMocks: form.Values[useMocksField] == "true"})
	var verr *engine.ValidationError
	var conflict *engine.ConflictError
	switch {
	case errors.As(err, &verr):
		for _, fe := range verr.Fields {
			label, ok := labels[fe.Field]
			if !ok {
				// Not an input of the form (the engine knows a variable the form does not):
				// shown in the summary with its name.
				form.Errors = append(form.Errors, views.FieldError{Field: fe.Field, Message: sentence(fe.Field + ": " + fe.Message)})
				continue
			}
			form.Errors = append(form.Errors, views.FieldError{Field: fe.Field, Message: fieldMessage(label, fe.Message)})
		}
		s.render(w, r, http.StatusUnprocessableEntity, views.RunStartView(s.startPage(r, doc, def, form)))
		return nil
	case errors.As(err, &conflict):
		s.flash(r, "error", sentence(conflict.Message))
		return redirect(w, r, "/workflows/"+doc.ID.String())
	case err != nil:
		return err
	}
	s.flash(r, "success", "Started "+doc.Name+". This page follows the run until it finishes.")
	return redirect(w, r, "/runs/"+run.ID.String())
}

// fieldMessage puts the input's label in front of the engine's message: "is required" reads
// "Target user is required.", "no user has the id …" reads "Target user: no user has …".
func fieldMessage(label, msg string) string {
	if strings.HasPrefix(msg, "is ") || strings.HasPrefix(msg, "must ") {
		return sentence(label + " " + msg)
	}
	return sentence(label + ": " + msg)
}

// formVariable reads one input as the variable's type. An empty input is not given (nil); msg
// says what is wrong with an input that cannot be read; err is a failure to look a user up.
func (s *Server) formVariable(r *http.Request, v workflow.Variable, raw string) (val any, msg string, err error) {
	if v.Type == "boolean" {
		return raw == "true", "", nil
	}
	text := strings.TrimSpace(raw)
	if text == "" {
		return nil, "", nil
	}
	switch v.Type {
	case "number":
		n, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, "must be a number, such as 42 or 2.5", nil
		}
		return n, "", nil
	case "object", "list":
		var x any
		if err := json.Unmarshal([]byte(text), &x); err != nil {
			return nil, "is not valid JSON: " + strings.TrimPrefix(err.Error(), "json: "), nil
		}
		return x, "", nil
	case "user":
		return s.resolveUser(r, text)
	case "string":
		return raw, "", nil
	}
	return text, "", nil
}

// resolveUser turns what was typed for a user variable into a user id: an id is passed on as
// it is (the engine checks it names a live user); an email address names one live user.
func (s *Server) resolveUser(r *http.Request, text string) (any, string, error) {
	if _, err := uuid.Parse(text); err == nil {
		return text, "", nil
	}
	if !strings.Contains(text, "@") {
		return nil, "must be the email address or the id of a user", nil
	}
	users, err := db.FindLiveUsersByEmail(r.Context(), s.db.Bun, text)
	if err != nil {
		return nil, "", err
	}
	switch len(users) {
	case 0:
		return nil, "no user has the email address " + text, nil
	case 1:
		return users[0].ID.String(), "", nil
	default:
		return nil, strconv.Itoa(len(users)) + " users have the email address " + text + "; give the id of the one meant", nil
	}
}
