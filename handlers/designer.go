package handlers

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/google/uuid"

	"floh/db"
	"floh/engine"
	"floh/engine/workflow"
	"floh/views"
)

// The designer (/workflows/{id}/design). The draft lives on the server: every edit is a form
// post that the engine saves at once, keeping the replaced draft for undo. Under htmx an edit
// answers with the whole workspace (canvas, side panel, lint) so the three never disagree;
// without JavaScript it redirects back to the designer with what was saved. Which step is
// selected and which panel is open travel in the address (?step=&panel=) and, on posts, in
// the hidden inputs sel and panel.

// Designer panels.
const (
	panelStep      = "step"
	panelVariables = "variables"
	panelSettings  = "settings"
	panelJSON      = "json"
)

// designSel is what the designer shows: the selected step and the open panel.
type designSel struct{ step, panel string }

func designURL(id uuid.UUID, sel designSel) string {
	q := url.Values{}
	if sel.step != "" {
		q.Set("step", sel.step)
	}
	// The step editor and, with no step selected, the settings are what the designer opens
	// on; only the other panels need naming.
	if sel.panel == panelVariables || sel.panel == panelJSON || (sel.panel == panelSettings && sel.step != "") {
		q.Set("panel", sel.panel)
	}
	u := "/workflows/" + id.String() + "/design"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

func readSel(step, panel string) designSel {
	sel := designSel{step: strings.TrimSpace(step), panel: panel}
	switch panel {
	case panelVariables, panelSettings, panelJSON:
	default:
		sel.panel = panelStep
	}
	return sel
}

func (s *Server) showDesigner(w http.ResponseWriter, r *http.Request) error {
	doc, err := s.workflowForPath(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	p, err := s.designerPage(r, doc, readSel(q.Get("step"), q.Get("panel")), views.Form{}, "")
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, views.DesignerView(p, isPartial(r)))
	return nil
}

// designerPage builds the designer for doc. form holds a refused edit's typed values and
// errors; saved says what the last edit did.
func (s *Server) designerPage(r *http.Request, doc *engine.WorkflowDoc, sel designSel, form views.Form, saved string) (views.DesignerPage, error) {
	ctx := r.Context()
	pr := principalFrom(r)
	def := doc.Definition
	if def == nil {
		def = &workflow.Definition{Name: doc.Name}
	}
	if sel.step != "" && def.Step(sel.step) == nil {
		sel.step = ""
	}
	if sel.panel == panelStep && sel.step == "" {
		sel.panel = panelSettings
	}
	p := views.DesignerPage{
		Page: s.page(r, "Design "+doc.Name, "workflows"),
		ID:   doc.ID.String(), Name: doc.Name, Status: workflowStatusBadge(doc.Status),
		Editable: doc.HasDraft && !doc.Deleted(), Version: doc.Version,
		CanEdit: pr.Can(engine.PermWorkflowUpdate), CanPublish: pr.Can(engine.PermWorkflowPublish),
		Panel: sel.panel, AddAfter: sel.step, Form: form, Saved: saved,
		TypeChoices: options(workflow.VariableTypes),
	}
	p.URL = designURL(doc.ID, sel)
	if values := form.Values; values == nil {
		p.Form.Values = map[string]string{}
	}
	findings := s.engine.LintWorkflow(ctx, def)
	p.Findings = lintFindings(findings, def, "")
	// A finding selects its step in the designer rather than jumping to a row of the page.
	for i := range p.Findings {
		if id := p.Findings[i].StepID; id != "" && def.Step(id) != nil {
			p.Findings[i].StepHref = designURL(doc.ID, designSel{step: id})
		}
	}
	p.Canvas = canvasView("Steps of "+doc.Name, def, sel.step,
		func(id string) string { return designURL(doc.ID, designSel{step: id}) }, worstSeverities(p.Findings))
	for _, t := range workflow.StepTypes {
		p.Palette = append(p.Palette, views.Option{Value: t, Label: workflow.TypeLabel(t)})
	}
	for _, v := range def.Variables {
		p.Variables = append(p.Variables, views.WorkflowVariableRow{Name: v.Name, Type: v.Type, Description: v.Description, Required: v.Required})
		if v.Type == "user" {
			p.SubjectChoices = append(p.SubjectChoices, views.Option{Value: v.Name, Label: v.Name})
		}
	}
	p.Settings = settingsForm(def)
	p.JSON = definitionJSON(def)
	if st := def.Step(sel.step); st != nil {
		step, err := s.designerStep(r, doc.ID, def, st, &p.Form)
		if err != nil {
			return p, err
		}
		p.Step = step
	}
	if p.Editable {
		n, label, err := s.engine.DraftUndo(ctx, doc.ID)
		if err != nil {
			return p, err
		}
		p.Undo, p.UndoLabel = n, label
	}
	return p, nil
}

func settingsForm(def *workflow.Definition) views.Form {
	values := map[string]string{
		"name": def.Name, "description": def.Description, "category": def.Category,
		"subjectVariable": def.SubjectVariable, "errorStrategy": cmp.Or(def.ErrorStrategy, workflow.StrategyStop),
		"triggerType": workflow.TriggerManual,
	}
	if def.Trigger != nil {
		values["triggerType"], values["cron"] = def.Trigger.Type, def.Trigger.Cron
	}
	return views.Form{Values: values}
}

// designerStep builds the editor of step st. The form's values are the step's unless a
// refused edit of this step left what was typed.
func (s *Server) designerStep(r *http.Request, id uuid.UUID, def *workflow.Definition, st *workflow.Step, form *views.Form) (*views.DesignerStep, error) {
	ds := &views.DesignerStep{ID: st.ID, Name: st.Name, Type: st.Type, TypeLabel: workflow.TypeLabel(st.Type),
		Variables: def.VariablesAt(st.ID)}
	typed := form.Values["step"] == st.ID
	if !typed {
		form.Values["name"] = st.Name
	}
	emailConnectors, workflows, err := s.designChoices(r, st.Type, id)
	if err != nil {
		return nil, err
	}
	fields := stepFields(st.Type, emailConnectors, workflows)
	ds.Fields = schemaInputs(fields)
	if !typed {
		configValues(st.Config, fields, form.Values)
	}
	if st.Type == workflow.TypeConnector {
		if err := s.connectorInputs(r, ds, st, form, typed); err != nil {
			return nil, err
		}
	}
	for _, e := range def.Edges {
		if e.From == st.ID {
			to := e.To
			if t := def.Step(e.To); t != nil {
				to = t.Name
			}
			ds.Edges = append(ds.Edges, views.DesignerEdge{On: e.On, To: e.To, ToName: to})
		}
	}
	for _, on := range st.Outcomes() {
		ds.Outcomes = append(ds.Outcomes, views.Option{Value: on, Label: outcomeWords(on)})
	}
	for _, t := range def.Steps {
		if t.Type != workflow.TypeStart {
			ds.Targets = append(ds.Targets, views.Option{Value: t.ID, Label: t.Name})
		}
	}
	return ds, nil
}

func outcomeWords(on string) string {
	switch on {
	case workflow.OnSuccess:
		return "success"
	case workflow.OnError:
		return "error (a technical failure)"
	case workflow.OnRejected:
		return "rejected"
	case workflow.OnExpired:
		return "expired (timed out)"
	}
	return "branch " + on
}

// designChoices lists what a step type's selects offer: the email connectors a notification
// may send through, the other workflows a sub-workflow step may start.
func (s *Server) designChoices(r *http.Request, typ string, self uuid.UUID) (emailConnectors, workflows []views.Option, err error) {
	switch typ {
	case workflow.TypeNotification:
		cs, _, err := s.engine.ListConnectors(r.Context(), db.ConnectorFilter{Type: workflow.EmailConnectorType, Page: db.Page{Page: 1, PageSize: 500}})
		if err != nil {
			return nil, nil, err
		}
		emailConnectors = []views.Option{{Value: "", Label: "The server's SMTP relay (SMTP_URL)"}}
		for _, c := range cs {
			emailConnectors = append(emailConnectors, views.Option{Value: c.ID.String(), Label: c.Name})
		}
	case workflow.TypeSubWorkflow:
		ws, _, err := s.engine.ListWorkflows(r.Context(), db.WorkflowFilter{Page: db.Page{Page: 1, PageSize: 500}})
		if err != nil {
			return nil, nil, err
		}
		workflows = []views.Option{{Value: "", Label: "Choose a workflow"}}
		for _, w := range ws {
			if w.ID != self {
				workflows = append(workflows, views.Option{Value: w.ID.String(), Label: w.Name})
			}
		}
	}
	return emailConnectors, workflows, nil
}

// connectorInputs adds a connector step's instance and command selects and, once both are
// chosen, the command's params by its schema.
func (s *Server) connectorInputs(r *http.Request, ds *views.DesignerStep, st *workflow.Step, form *views.Form, typed bool) error {
	cs, _, err := s.engine.ListConnectors(r.Context(), db.ConnectorFilter{Page: db.Page{Page: 1, PageSize: 500}})
	if err != nil {
		return err
	}
	ref, _ := st.Config["connectorId"].(string)
	instance := views.SchemaField{Name: "connectorId", Field: "connectorId", Label: "Connector", Input: "select", Required: true,
		Options: []views.Option{{Value: "", Label: "Choose a connector"}}}
	for _, c := range cs {
		label := c.Name
		if t := s.engine.ConnectorType(c.Type); t != nil {
			label += " (" + t.Label + ")"
		}
		instance.Options = append(instance.Options, views.Option{Value: c.ID.String(), Label: label})
	}
	chosen := s.connectorByRef(r, ref)
	if ref != "" && chosen == nil {
		// A reference to a deleted connector, or a template: shown as it is, for lint to explain.
		instance.Options = append(instance.Options, views.Option{Value: ref, Label: ref + " (not a connector)"})
	}
	if !typed {
		form.Values["connectorId"] = ref
		if chosen != nil {
			form.Values["connectorId"] = chosen.ID.String()
		}
		form.Values["command"], _ = st.Config["command"].(string)
	}
	ds.Lead = []views.SchemaField{instance}
	if chosen == nil {
		return nil
	}
	t := s.engine.ConnectorType(chosen.Type)
	if t == nil {
		return nil
	}
	command := views.SchemaField{Name: "command", Field: "command", Label: "Command", Input: "select", Required: true,
		Options: []views.Option{{Value: "", Label: "Choose a command"}}}
	for _, c := range t.Commands {
		command.Options = append(command.Options, views.Option{Value: c.Name, Label: cmp.Or(c.Label, c.Name)})
	}
	ds.Lead = append(ds.Lead, command)
	cmd := t.Command(form.Values["command"])
	if cmd == nil {
		return nil
	}
	ds.CommandHelp = cmd.Description
	ds.Params = paramInputs(cmd)
	if !typed {
		params, _ := st.Config["params"].(map[string]any)
		for _, p := range cmd.Params {
			if v, ok := params[p.Name]; ok {
				form.Values["param."+p.Name] = formatValue(p.Kind, v)
			}
		}
	}
	return nil
}

// designEdit saves one edit and answers with the designer: the workspace under htmx, else a
// redirect. A refused edit (422) or a conflict (409) answers with the workspace too, the
// typed values kept and the reason beside the field or at the top.
func (s *Server) designEdit(w http.ResponseWriter, r *http.Request, sel designSel, what string, typed map[string]string, edit func(*workflow.Definition) error) error {
	return s.designEditThen(w, r, sel, what, typed, edit, func() designSel { return sel })
}

// designSaved answers a saved edit.
func (s *Server) designSaved(w http.ResponseWriter, r *http.Request, id uuid.UUID, sel designSel, saved string) error {
	if !isPartial(r) {
		s.flash(r, "success", saved)
		return redirect(w, r, designURL(id, sel))
	}
	doc, err := s.engine.FindWorkflow(r.Context(), id)
	if err != nil {
		return err
	}
	p, err := s.designerPage(r, doc, sel, views.Form{}, saved)
	if err != nil {
		return err
	}
	w.Header().Set("HX-Push-Url", designURL(id, sel))
	s.render(w, r, http.StatusOK, views.DesignerView(p, true))
	return nil
}

// designRefused shows why an edit was not saved, beside the inputs that were typed.
func (s *Server) designRefused(w http.ResponseWriter, r *http.Request, id uuid.UUID, sel designSel, typed map[string]string, err error) error {
	form := views.Form{Values: typed}
	status := http.StatusUnprocessableEntity
	var verr *engine.ValidationError
	var conflict *engine.ConflictError
	switch {
	case errors.As(err, &verr):
		for _, fe := range verr.Fields {
			form.Errors = append(form.Errors, designProblem(fe))
		}
	case errors.As(err, &conflict):
		status = http.StatusConflict
		form = views.Form{Errors: []views.FieldError{{Message: sentence(conflict.Message)}}}
	default:
		return err
	}
	doc, ferr := s.engine.FindWorkflow(r.Context(), id)
	if ferr != nil {
		return ferr
	}
	p, perr := s.designerPage(r, doc, sel, form, "")
	if perr != nil {
		return perr
	}
	s.render(w, r, status, views.DesignerView(p, isPartial(r)))
	return nil
}

// designFieldWords names the inputs an edit's own checks refer to.
var designFieldWords = map[string]string{
	"name": "The name", "type": "The step type", "from": "The step", "to": "The target step",
	"on": "The outcome", "step": "The step", "variable.name": "The variable name",
	"variable.type": "The variable type", "subjectVariable": "The subject variable",
	"errorStrategy": "The error strategy", "triggerType": "The trigger", "cron": "The schedule",
}

// designProblem words a refused edit's problem for the input it is shown beside. The form's
// own checks already name their input; a path into the document ("steps[2].config.timeout")
// is named by its last key.
func designProblem(fe engine.FieldError) views.FieldError {
	field := designErrorField(fe.Field)
	msg := fe.Message
	switch words, named := designFieldWords[field]; {
	case field != fe.Field && field != "name":
		msg = fe.Field[strings.LastIndexByte(fe.Field, '.')+1:] + " " + msg
	case named:
		msg = words + " " + msg
	case strings.HasPrefix(field, cfgPrefix), strings.HasPrefix(field, "param."), field == "definition":
	default:
		msg = documentProblem(fe)
	}
	return views.FieldError{Field: field, Message: sentence(msg)}
}

// designErrorField maps a document path the engine names to the designer input that edits
// it: a step's config key to its cfg. input, a settings field to itself.
func designErrorField(field string) string {
	if _, rest, ok := strings.Cut(field, "].config."); ok {
		if strings.HasPrefix(rest, "params.") {
			return "param." + strings.TrimPrefix(rest, "params.")
		}
		if rest == "connectorId" || rest == "command" {
			return rest
		}
		return cfgPrefix + rest
	}
	if strings.HasPrefix(field, "steps[") && strings.HasSuffix(field, "].name") {
		return "name"
	}
	switch field {
	case "trigger.type":
		return "triggerType"
	case "trigger.cron":
		return "cron"
	}
	return field
}

// formValuesOf keeps everything a form sent, to show it again when the edit is refused.
func formValuesOf(r *http.Request) map[string]string {
	out := map[string]string{}
	for k, v := range r.PostForm {
		if len(v) > 0 {
			out[k] = v[0]
		}
	}
	return out
}

// designForm reads a designer post and the selection it was made from.
func designForm(r *http.Request) (designSel, error) {
	if err := r.ParseForm(); err != nil {
		return designSel{}, &badRequest{"the form could not be read"}
	}
	return readSel(r.PostForm.Get("sel"), r.PostForm.Get("panel")), nil
}

func (s *Server) addDesignStep(w http.ResponseWriter, r *http.Request) error {
	sel, err := designForm(r)
	if err != nil {
		return err
	}
	typ := r.PostForm.Get("type")
	after := strings.TrimSpace(r.PostForm.Get("after"))
	var added string
	what := "add a step (" + workflow.TypeLabel(typ) + ")"
	return s.designEditThen(w, r, sel, what, formValuesOf(r), func(d *workflow.Definition) error {
		if added, err = d.AddStep(typ, r.PostForm.Get("name")); err != nil {
			return err
		}
		// Added after the selected step, the new step goes on its success path: the step
		// it led to now follows the new one, so a chain is built by adding in order.
		if prev := d.Step(after); prev != nil && slices.Contains(prev.Outcomes(), workflow.OnSuccess) {
			next, err := d.Connect(after, workflow.OnSuccess, added)
			if err != nil {
				return err
			}
			if next != "" && slices.Contains(d.Step(added).Outcomes(), workflow.OnSuccess) {
				_, err = d.Connect(added, workflow.OnSuccess, next)
			}
			return err
		}
		return nil
	}, func() designSel { return designSel{step: added, panel: panelStep} })
}

// designEditThen is designEdit where the selection after the edit depends on the edit (the
// step just added).
func (s *Server) designEditThen(w http.ResponseWriter, r *http.Request, sel designSel, what string, typed map[string]string, edit func(*workflow.Definition) error, then func() designSel) error {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return db.ErrNotFound
	}
	if _, err := s.engine.EditDraft(r.Context(), principalFrom(r).Actor(), id, what, edit); err != nil {
		return s.designRefused(w, r, id, sel, typed, err)
	}
	return s.designSaved(w, r, id, then(), "Saved: "+what+".")
}

func (s *Server) updateDesignStep(w http.ResponseWriter, r *http.Request) error {
	sel, err := designForm(r)
	if err != nil {
		return err
	}
	stepID := r.PathValue("step")
	sel.step, sel.panel = stepID, panelStep
	typed := formValuesOf(r)
	typed["step"] = stepID
	doc, err := s.workflowForPath(r)
	if err != nil {
		return err
	}
	var st *workflow.Step
	if doc.Definition != nil {
		st = doc.Definition.Step(stepID)
	}
	if st == nil {
		return s.designRefused(w, r, doc.ID, sel, typed, engine.Conflict("the workflow has no step %q: it may have been deleted in another tab", stepID))
	}
	emailConnectors, workflows, err := s.designChoices(r, st.Type, doc.ID)
	if err != nil {
		return err
	}
	cfg, problems := readConfig(st.Config, stepFields(st.Type, emailConnectors, workflows), r.PostForm)
	if st.Type == workflow.TypeConnector {
		problems = append(problems, s.readConnectorStep(r, st, cfg)...)
	}
	if len(problems) > 0 {
		v := &engine.ValidationError{}
		for _, p := range problems {
			v.Fields = append(v.Fields, engine.FieldError{Field: p.Field, Message: p.Message})
		}
		return s.designRefused(w, r, doc.ID, sel, typed, v)
	}
	name := r.PostForm.Get("name")
	return s.designEdit(w, r, sel, "edit step "+cmp.Or(strings.TrimSpace(name), st.Name), typed, func(d *workflow.Definition) error {
		if err := d.RenameStep(stepID, name); err != nil {
			return err
		}
		return d.SetStepConfig(stepID, cfg)
	})
}

// readConnectorStep reads a connector step's instance, command and params into cfg. A
// changed instance whose type lacks the command clears it, and the params with it: they
// belonged to the old command.
func (s *Server) readConnectorStep(r *http.Request, st *workflow.Step, cfg map[string]any) []views.FieldError {
	ref := strings.TrimSpace(r.PostForm.Get("connectorId"))
	command := strings.TrimSpace(r.PostForm.Get("command"))
	setOrDelete(cfg, "connectorId", ref)
	conn := s.connectorByRef(r, ref)
	if conn == nil {
		setOrDelete(cfg, "command", command)
		return nil
	}
	typ := s.engine.ConnectorType(conn.Type)
	if typ == nil || typ.Command(command) == nil {
		delete(cfg, "command")
		delete(cfg, "params")
		return nil
	}
	cmd := typ.Command(command)
	oldCommand, _ := st.Config["command"].(string)
	cfg["command"] = command
	if oldCommand != command {
		// The params on the form were the old command's inputs.
		delete(cfg, "params")
		return nil
	}
	params, problems := readParams(cmd, r.PostForm)
	if len(params) > 0 {
		cfg["params"] = params
	} else {
		delete(cfg, "params")
	}
	return problems
}

func setOrDelete(cfg map[string]any, key, value string) {
	if value == "" {
		delete(cfg, key)
	} else {
		cfg[key] = value
	}
}

// connectorByRef finds the live connector a step's connectorId names, as a run resolves it
// (an id, else a name in any case), or nil.
func (s *Server) connectorByRef(r *http.Request, ref string) *db.Connector {
	if ref == "" {
		return nil
	}
	c, err := db.FindLiveConnectorByRef(r.Context(), s.db.Bun, ref)
	if err != nil {
		return nil
	}
	return c
}

func (s *Server) deleteDesignStep(w http.ResponseWriter, r *http.Request) error {
	sel, err := designForm(r)
	if err != nil {
		return err
	}
	stepID := r.PathValue("step")
	if sel.step == stepID {
		sel = designSel{panel: panelSettings}
	}
	return s.designEdit(w, r, sel, "delete step "+stepID, formValuesOf(r), func(d *workflow.Definition) error {
		_, err := d.DeleteStep(stepID)
		return err
	})
}

func (s *Server) connectDesignSteps(w http.ResponseWriter, r *http.Request) error {
	sel, err := designForm(r)
	if err != nil {
		return err
	}
	from, on, to := r.PostForm.Get("from"), r.PostForm.Get("on"), r.PostForm.Get("to")
	sel.step, sel.panel = from, panelStep
	return s.designEdit(w, r, sel, fmt.Sprintf("connect %s on %s to %s", from, on, to), formValuesOf(r), func(d *workflow.Definition) error {
		_, err := d.Connect(from, on, to)
		return err
	})
}

func (s *Server) disconnectDesignSteps(w http.ResponseWriter, r *http.Request) error {
	sel, err := designForm(r)
	if err != nil {
		return err
	}
	from, on := r.PostForm.Get("from"), r.PostForm.Get("on")
	return s.designEdit(w, r, sel, fmt.Sprintf("remove the %s edge of %s", on, from), formValuesOf(r), func(d *workflow.Definition) error {
		return d.Disconnect(from, on)
	})
}

func (s *Server) saveDesignVariable(w http.ResponseWriter, r *http.Request) error {
	sel, err := designForm(r)
	if err != nil {
		return err
	}
	sel.panel = panelVariables
	old := r.PostForm.Get("old")
	v := workflow.Variable{Name: strings.TrimSpace(r.PostForm.Get("variable.name")), Type: r.PostForm.Get("variable.type"),
		Required: r.PostForm.Get("variable.required") == "true", Description: strings.TrimSpace(r.PostForm.Get("variable.description"))}
	what := "add variable " + v.Name
	if old != "" {
		what = "change variable " + old
	}
	return s.designEdit(w, r, sel, what, formValuesOf(r), func(d *workflow.Definition) error {
		return d.SetVariable(old, v)
	})
}

func (s *Server) deleteDesignVariable(w http.ResponseWriter, r *http.Request) error {
	sel, err := designForm(r)
	if err != nil {
		return err
	}
	sel.panel = panelVariables
	name := r.PostForm.Get("variable.name")
	return s.designEdit(w, r, sel, "remove variable "+name, formValuesOf(r), func(d *workflow.Definition) error {
		return d.DeleteVariable(name)
	})
}

func (s *Server) saveDesignSettings(w http.ResponseWriter, r *http.Request) error {
	sel, err := designForm(r)
	if err != nil {
		return err
	}
	sel.panel = panelSettings
	f := r.PostForm
	return s.designEdit(w, r, sel, "change the settings", formValuesOf(r), func(d *workflow.Definition) error {
		d.Name, d.Description, d.Category = strings.TrimSpace(f.Get("name")), strings.TrimSpace(f.Get("description")), strings.TrimSpace(f.Get("category"))
		d.SubjectVariable, d.ErrorStrategy = f.Get("subjectVariable"), f.Get("errorStrategy")
		if sv := d.SubjectVariable; sv != "" && !slices.ContainsFunc(d.Variables, func(v workflow.Variable) bool { return v.Name == sv && v.Type == "user" }) {
			return &workflow.FieldError{Field: "subjectVariable", Message: fmt.Sprintf("must name a variable of type user; %q is not one", sv)}
		}
		switch t := f.Get("triggerType"); t {
		case "", workflow.TriggerManual:
			d.Trigger = nil
		default:
			d.Trigger = &workflow.Trigger{Type: t}
			if t == workflow.TriggerSchedule {
				d.Trigger.Cron = strings.TrimSpace(f.Get("cron"))
			}
		}
		return nil
	})
}

func (s *Server) saveDesignJSON(w http.ResponseWriter, r *http.Request) error {
	sel, err := designForm(r)
	if err != nil {
		return err
	}
	sel.panel = panelJSON
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return db.ErrNotFound
	}
	text := r.PostForm.Get("definition")
	typed := map[string]string{"definition": text}
	// Like the workflow page's editor: where the text stops being JSON first, by line and
	// column; then the engine's problems, each naming its path.
	if problem := jsonSyntaxProblem(text); problem != "" {
		return s.designRefused(w, r, id, sel, typed, engine.Invalid("definition", "%s", problem))
	}
	if _, err := s.engine.UpdateWorkflow(r.Context(), principalFrom(r).Actor(), id, []byte(text)); err != nil {
		return s.designRefused(w, r, id, sel, typed, onDefinition(err))
	}
	return s.designSaved(w, r, id, sel, "Saved: the document.")
}

// onDefinition puts every problem of a refused document on the JSON view's text box,
// naming its path, as the box is the only input there is.
func onDefinition(err error) error {
	var verr *engine.ValidationError
	if !errors.As(err, &verr) {
		return err
	}
	out := &engine.ValidationError{}
	for _, fe := range verr.Fields {
		out.Fields = append(out.Fields, engine.FieldError{Field: "definition", Message: documentProblem(fe)})
	}
	return out
}

func (s *Server) undoDesignEdit(w http.ResponseWriter, r *http.Request) error {
	sel, err := designForm(r)
	if err != nil {
		return err
	}
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return db.ErrNotFound
	}
	_, what, err := s.engine.UndoDraftEdit(r.Context(), principalFrom(r).Actor(), id)
	if err != nil {
		return s.designRefused(w, r, id, sel, nil, err)
	}
	return s.designSaved(w, r, id, sel, "Undone: "+what+".")
}
