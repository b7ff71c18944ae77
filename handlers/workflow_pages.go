package handlers

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"floh/db"
	"floh/engine"
	"floh/engine/lint"
	"floh/engine/workflow"
	"floh/views"
)

// Workflow pages: the list, the create form, one workflow (its document read-only, the live
// lint of its draft, a JSON editor, its versions) and the diff of two of its documents. Until
// the designer lands, the JSON editor is how a draft is changed from a browser.

func workflowStatusBadge(status string) views.Badge {
	switch status {
	case db.WorkflowActive:
		return views.Badge{Label: "active", Tone: "ok"}
	case db.WorkflowDeprecated:
		return views.Badge{Label: "deprecated", Tone: "warn"}
	default:
		return views.Badge{Label: status, Tone: "muted"}
	}
}

var workflowStatusOptions = []views.Option{
	{Value: db.WorkflowDraft, Label: "Draft"}, {Value: db.WorkflowActive, Label: "Active"}, {Value: db.WorkflowDeprecated, Label: "Deprecated"},
}

func (s *Server) listWorkflows(w http.ResponseWriter, r *http.Request) error {
	f, err := workflowFilter(r)
	if err != nil {
		// A hand-edited address still shows the list.
		f = db.WorkflowFilter{Page: db.Page{Page: 1, PageSize: defaultPageSize}}
	}
	ws, total, err := s.engine.ListWorkflows(r.Context(), f)
	if err != nil {
		return err
	}
	p := views.WorkflowsPage{
		Page: s.page(r, "Workflows", "workflows"), Q: f.Q, Status: f.Status, IncludeDeleted: f.IncludeDeleted,
		Statuses: workflowStatusOptions, CanCreate: principalFrom(r).Can(engine.PermWorkflowCreate),
	}
	for _, wf := range ws {
		p.Rows = append(p.Rows, views.WorkflowRow{
			ID: wf.ID.String(), Name: wf.Name, Description: wf.Description, Category: wf.Category,
			Status: workflowStatusBadge(wf.Status), Version: wf.Version, DraftOpen: wf.Draft != nil && wf.Version > 0,
			Updated: s.whenT(wf.UpdatedAt), Deleted: wf.Deleted(),
		})
	}
	p.Pager = views.Pager{Page: f.Page.Page, PageSize: f.Page.PageSize, Total: total, Href: func(n int) string {
		q := url.Values{"q": {f.Q}, "status": {f.Status}, "page": {strconv.Itoa(n)}}
		if f.IncludeDeleted {
			q.Set("includeDeleted", "true")
		}
		return withQuery("/workflows", q)
	}}
	s.render(w, r, http.StatusOK, views.WorkflowsView(p, isPartial(r)))
	return nil
}

func (s *Server) newWorkflow(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, http.StatusOK, views.WorkflowFormView(views.WorkflowFormPage{Page: s.page(r, "Create a workflow", "workflows")}))
	return nil
}

// newDefinition is the document a new workflow starts from: a start step whose success
// leads to an end step, the smallest graph that publishes.
func newDefinition(name, description, category string) workflow.Definition {
	return workflow.Definition{
		Name: name, Description: description, Category: category, Variables: []workflow.Variable{},
		Steps: []workflow.Step{
			{ID: "start", Name: "Start", Type: workflow.TypeStart},
			{ID: "end", Name: "End", Type: workflow.TypeEnd},
		},
		Edges: []workflow.Edge{{From: "start", To: "end", On: workflow.OnSuccess}},
	}
}

func (s *Server) createWorkflow(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return &badRequest{"the form could not be read"}
	}
	values := formValues(r, "name", "description", "category")
	raw, err := json.Marshal(newDefinition(values["name"], strings.TrimSpace(values["description"]), strings.TrimSpace(values["category"])))
	if err != nil {
		return fmt.Errorf("marshal new workflow: %w", err)
	}
	doc, err := s.engine.CreateWorkflow(r.Context(), principalFrom(r).Actor(), raw)
	if err != nil {
		fields, err := workflowFormErrors(err)
		if err != nil {
			return err
		}
		page := s.page(r, "Create a workflow", "workflows")
		page.URL = "/workflows/new"
		s.render(w, r, http.StatusUnprocessableEntity, views.WorkflowFormView(views.WorkflowFormPage{
			Page: page, Form: views.Form{Values: values, Errors: fields},
		}))
		return nil
	}
	s.flash(r, "success", "Created the draft "+doc.Name+". Add its steps from the palette or insert a template, then publish it.")
	return redirect(w, r, "/workflows/"+doc.ID.String()+"/design")
}

// workflowFormErrors puts the engine's field errors beside the create form's inputs. The
// form builds the rest of the document, so a problem elsewhere in it is shown at the name,
// with its path, rather than lost.
func workflowFormErrors(err error) ([]views.FieldError, error) {
	var v *engine.ValidationError
	if !errors.As(err, &v) {
		return nil, err
	}
	labels := map[string]string{"name": "Name", "description": "Description", "category": "Category"}
	out := make([]views.FieldError, 0, len(v.Fields))
	for _, fe := range v.Fields {
		if label, ok := labels[fe.Field]; ok {
			out = append(out, views.FieldError{Field: fe.Field, Message: label + " " + fe.Message})
		} else {
			out = append(out, views.FieldError{Field: "name", Message: fe.Field + ": " + fe.Message})
		}
	}
	return out, nil
}

// One workflow's page.

func (s *Server) workflowForPath(r *http.Request) (*engine.WorkflowDoc, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	return s.engine.FindWorkflow(r.Context(), id)
}

func (s *Server) showWorkflow(w http.ResponseWriter, r *http.Request) error {
	doc, err := s.workflowForPath(r)
	if err != nil {
		return err
	}
	shown := 0
	if v := r.URL.Query().Get("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return errNotFoundPage
		}
		shown = n
	}
	p, err := s.workflowPage(r, doc, shown, nil)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, views.WorkflowView(p))
	return nil
}

// workflowPage builds a workflow's page showing version shown, or with 0 the open draft (the
// newest version when none is open). editor is what the JSON editor holds when it comes back
// with errors; nil fills it from the draft.
func (s *Server) workflowPage(r *http.Request, doc *engine.WorkflowDoc, shown int, editor *views.Form) (views.WorkflowPage, error) {
	ctx := r.Context()
	pr := principalFrom(r)
	wf := doc.Workflow
	id := wf.ID.String()
	page := s.page(r, wf.Name, "workflows")
	page.URL = "/workflows/" + id
	p := views.WorkflowPage{
		Page: page,
		Workflow: views.WorkflowSummary{
			ID: id, Name: wf.Name, Status: workflowStatusBadge(wf.Status), Version: wf.Version, DraftOpen: doc.HasDraft,
			Deleted: wf.Deleted(), DeletedAt: s.when(wf.DeletedAt),
		},
	}
	if doc.NextRunAt != nil {
		next := s.when(doc.NextRunAt)
		// A cron ticks on whole minutes: seconds would only be noise.
		next.Exact = doc.NextRunAt.UTC().Format("2006-01-02 15:04 UTC")
		p.Workflow.Schedule = &views.WorkflowSchedule{Cron: doc.Schedule, Next: next}
	}
	versions, err := s.engine.ListWorkflowVersions(ctx, wf.ID)
	if err != nil {
		return p, err
	}
	def := doc.Definition
	switch {
	case shown > 0:
		v, err := s.engine.FindWorkflowVersion(ctx, wf.ID, shown)
		if err != nil {
			return p, err
		}
		def = new(workflow.Definition)
		if err := json.Unmarshal(v.Definition, def); err != nil {
			return p, fmt.Errorf("workflow %s version %d: %w", id, shown, err)
		}
		p.Page.URL += "?version=" + strconv.Itoa(shown)
		p.Page.Title = wf.Name + " · version " + strconv.Itoa(shown)
	case !doc.HasDraft:
		shown = wf.Version
	}
	p.Shown = shown
	for _, v := range versions {
		if v.Version == shown {
			p.ShownPublished, p.ShownBy = s.whenT(v.PublishedAt), v.PublishedBy
		}
	}
	if def != nil {
		d := definitionView(def)
		p.Definition = &d
	}
	draftShown := shown == 0 && doc.HasDraft
	if draftShown && def != nil && !wf.Deleted() {
		p.Linted = true
		p.Findings = lintFindings(s.engine.LintWorkflow(ctx, def), def, "")
	}
	if def != nil {
		label := "Steps of " + wf.Name
		if shown > 0 {
			label += ", version " + strconv.Itoa(shown)
		}
		// Read-only here: a step links to its row in the listing below.
		c := canvasView(label, def, "", func(id string) string { return "#" + stepAnchor(id) }, worstSeverities(p.Findings))
		p.Canvas = &c
	}
	if editor == nil && draftShown && def != nil && !wf.Deleted() && pr.Can(engine.PermWorkflowUpdate) {
		editor = &views.Form{Values: map[string]string{"definition": definitionJSON(def)}}
	}
	p.Editor = editor
	if !wf.Deleted() {
		p.Actions = views.WorkflowActions{
			Publish:   draftShown && pr.Can(engine.PermWorkflowPublish),
			Deprecate: wf.Status == db.WorkflowActive && pr.Can(engine.PermWorkflowPublish),
			Delete:    wf.Status != db.WorkflowActive && pr.Can(engine.PermWorkflowUpdate),
			Templates: draftShown && pr.Can(engine.PermWorkflowUpdate),
		}
		if !doc.HasDraft && shown > 0 && pr.Can(engine.PermWorkflowUpdate) {
			p.Actions.NewDraftFrom = shown
		}
		p.Actions.Start = wf.Status == db.WorkflowActive && pr.Can(engine.PermWorkflowStart)
		// Those who may only start workflows see the runs they started there.
		p.Actions.Runs = wf.Version > 0 && (pr.Can(engine.PermRunRead) || pr.Can(engine.PermWorkflowStart))
		if pr.Can(engine.PermWorkflowUpdate) {
			// The name is the workflow's own: a file exported elsewhere replaces the
			// document, not what admins know the workflow by, unless they clear it.
			p.Import = &views.ImportForm{Form: views.Form{Values: map[string]string{importName: wf.Name}}, DraftOpen: doc.HasDraft}
			if doc.HasDraft {
				p.Import.DraftHref = exportURL(id, "draft")
			}
		}
	}
	s.fillVersions(&p, doc, versions)
	return p, nil
}

// fillVersions lists the open draft and the versions, newest first, with the comparison form.
func (s *Server) fillVersions(p *views.WorkflowPage, doc *engine.WorkflowDoc, versions []db.WorkflowVersion) {
	id := doc.ID.String()
	base := "/workflows/" + id
	if doc.HasDraft {
		row := views.WorkflowVersionRow{Href: base, Current: p.Shown == 0, ExportHref: exportURL(id, "draft")}
		if doc.Version > 0 {
			row.ChangesHref = diffURL(id, strconv.Itoa(doc.Version), "draft")
			row.ChangesLabel = "Changes from version " + strconv.Itoa(doc.Version)
		}
		p.Versions = append(p.Versions, row)
	}
	for _, v := range versions {
		row := views.WorkflowVersionRow{
			Version: v.Version, Href: base + "?version=" + strconv.Itoa(v.Version),
			Published: s.whenT(v.PublishedAt), PublishedBy: v.PublishedBy, Current: p.Shown == v.Version,
			ExportHref: exportURL(id, strconv.Itoa(v.Version)),
		}
		if v.Version > 1 {
			row.ChangesHref = diffURL(id, strconv.Itoa(v.Version-1), strconv.Itoa(v.Version))
			row.ChangesLabel = "Changes from version " + strconv.Itoa(v.Version-1)
		}
		p.Versions = append(p.Versions, row)
	}
	p.Refs, p.DiffFrom, p.DiffTo = compareChoices(doc, versions)
}

// compareChoices are the documents of a workflow a diff can name, and the comparison an admin
// most likely wants: the open draft against the newest version, or the newest version against
// the one before.
func compareChoices(doc *engine.WorkflowDoc, versions []db.WorkflowVersion) (refs []views.Option, from, to string) {
	if doc.HasDraft {
		refs = append(refs, views.Option{Value: "draft", Label: refWords("draft")})
	}
	for _, v := range versions {
		n := strconv.Itoa(v.Version)
		refs = append(refs, views.Option{Value: n, Label: refWords(n)})
	}
	switch {
	case doc.HasDraft && doc.Version > 0:
		from, to = strconv.Itoa(doc.Version), "draft"
	case doc.Version > 1:
		from, to = strconv.Itoa(doc.Version-1), strconv.Itoa(doc.Version)
	}
	return refs, from, to
}

func exportURL(id, ref string) string {
	return "/workflows/" + id + "/export?version=" + ref
}

func diffURL(id, from, to string) string {
	return "/workflows/" + id + "/diff?from=" + url.QueryEscape(from) + "&to=" + url.QueryEscape(to)
}

// definitionJSON is the document as the JSON editor shows it: indented, in the order of the
// definition's fields, with empty lists as [] rather than null so they can be filled in.
func definitionJSON(def *workflow.Definition) string {
	d := *def
	if d.Variables == nil {
		d.Variables = []workflow.Variable{}
	}
	if d.Steps == nil {
		d.Steps = []workflow.Step{}
	}
	if d.Edges == nil {
		d.Edges = []workflow.Edge{}
	}
	return indentJSON(d)
}

// stepAnchor is the id of a step's row. Step ids are free text; the anchor keeps what is safe
// in an id and a fragment, so a finding links to its step without escaping.
func stepAnchor(id string) string {
	var b strings.Builder
	b.WriteString("step-")
	for _, c := range id {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteRune(c)
		default:
			fmt.Fprintf(&b, ".%x.", c)
		}
	}
	return b.String()
}

func definitionView(def *workflow.Definition) views.WorkflowDefinition {
	d := views.WorkflowDefinition{
		Description: def.Description, Category: def.Category, SubjectVariable: def.SubjectVariable,
		ErrorStrategy: errorStrategyWords(def.ErrorStrategy), Trigger: triggerWords(def.Trigger),
	}
	for _, v := range def.Variables {
		d.Variables = append(d.Variables, views.WorkflowVariableRow{Name: v.Name, Type: v.Type, Required: v.Required, Description: v.Description})
	}
	href := func(id string) string {
		if def.Step(id) == nil {
			return ""
		}
		return "#" + stepAnchor(id)
	}
	edges := make([]views.WorkflowEdgeRow, len(def.Edges))
	for i, e := range def.Edges {
		edges[i] = views.WorkflowEdgeRow{From: e.From, FromHref: href(e.From), On: e.On, To: e.To, ToHref: href(e.To)}
	}
	d.Edges = edges
	for _, st := range def.Steps {
		row := views.WorkflowStepRow{ID: st.ID, Anchor: stepAnchor(st.ID), Name: st.Name, Type: st.Type, Config: configSummary(st)}
		for _, e := range edges {
			if e.From == st.ID {
				row.Out = append(row.Out, e)
			}
		}
		d.Steps = append(d.Steps, row)
	}
	return d
}

func errorStrategyWords(s string) string {
	switch s {
	case "", workflow.StrategyStop:
		return "stop: a failure no edge routes fails the run"
	case workflow.StrategyContinue:
		return "continue: a failure no edge routes is recorded and the run goes on"
	}
	return s
}

func triggerWords(t *workflow.Trigger) string {
	switch {
	case t == nil || t.Type == "" || t.Type == "manual":
		return "manual: an admin starts each run"
	case t.Type == "schedule" && t.Cron == "":
		return "schedule: no cron expression yet"
	case t.Type == "schedule":
		return "schedule: " + t.Cron + " (UTC)"
	case t.Type == "api":
		return "API: runs start through POST /api/workflows/{id}/start"
	}
	return t.Type
}

const maxConfigSummary = 160

// configSummary says in a line what a step does, from the config keys of its type; a type
// without a summary of its own lists its config keys.
func configSummary(st workflow.Step) string {
	c := st.Config
	str := func(key string) string {
		switch v := c[key].(type) {
		case string:
			return v
		case nil:
			return ""
		default:
			b, _ := json.Marshal(v)
			return string(b)
		}
	}
	list := func(key string) string {
		items, _ := c[key].([]any)
		out := make([]string, 0, len(items))
		for _, it := range items {
			out = append(out, fmt.Sprint(it))
		}
		return strings.Join(out, ", ")
	}
	keys := func(key string) string {
		m, _ := c[key].(map[string]any)
		return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
	}
	var parts []string
	add := func(label, v string) {
		if v != "" {
			parts = append(parts, label+v)
		}
	}
	switch st.Type {
	case workflow.TypeStart, workflow.TypeEnd:
	case workflow.TypeConnector:
		add("", str("command"))
		add("on ", str("connectorId"))
		add("params: ", keys("params"))
		add("output → ", str("output"))
		if c["mock"] == true {
			parts = append(parts, "mock")
		}
	case workflow.TypeApproval:
		add("", str("mode"))
		add("by ", list("approvers"))
		add("timeout ", str("timeout"))
	case workflow.TypeNotification:
		add("", str("channel"))
		add("to ", list("to"))
		add("“", str("subject"))
		if str("subject") != "" {
			parts[len(parts)-1] += "”"
		}
	case workflow.TypeManualTask:
		add("", str("title"))
		add("for ", str("assignee"))
	case workflow.TypeCondition:
		branches, _ := c["branches"].([]any)
		var names []string
		for _, b := range branches {
			if m, ok := b.(map[string]any); ok {
				names = append(names, fmt.Sprint(m["name"]))
			}
		}
		add("branches: ", strings.Join(names, ", "))
		add("default: ", str("default"))
	case workflow.TypeTransform:
		add("sets ", keys("set"))
	case workflow.TypeDelay:
		add("waits ", str("duration"))
	case workflow.TypeSubWorkflow:
		add("runs ", str("workflowId"))
	case workflow.TypeUserCreate:
		add("email ", str("email"))
		add("name ", str("displayName"))
	case workflow.TypeProfileUpdate:
		add("user ", str("userId"))
		add("fields: ", keys("fields"))
	default:
		add("", strings.Join(slices.Sorted(maps.Keys(c)), ", "))
	}
	out := strings.Join(parts, "; ")
	if r := []rune(out); len(r) > maxConfigSummary {
		out = string(r[:maxConfigSummary-1]) + "…"
	}
	return out
}

var severityRank = map[string]int{lint.SeverityError: 0, lint.SeverityWarning: 1, lint.SeverityInfo: 2}

func severityBadge(sev string) views.Badge {
	switch sev {
	case lint.SeverityError:
		return views.Badge{Label: "error", Tone: "bad"}
	case lint.SeverityWarning:
		return views.Badge{Label: "warning", Tone: "warn"}
	}
	return views.Badge{Label: sev, Tone: "info"}
}

// lintFindings shows findings errors first; each links to its step's row when the step
// exists, on the page at page ("" for the page the findings are on).
func lintFindings(findings []lint.Finding, def *workflow.Definition, page string) []views.LintFinding {
	sorted := slices.Clone(findings)
	slices.SortStableFunc(sorted, func(a, b lint.Finding) int {
		return cmp.Compare(severityRank[a.Severity], severityRank[b.Severity])
	})
	out := make([]views.LintFinding, len(sorted))
	for i, f := range sorted {
		out[i] = views.LintFinding{Severity: severityBadge(f.Severity), Code: f.Code, StepID: f.StepID, Message: sentence(f.Message)}
		if f.StepID != "" && def.Step(f.StepID) != nil {
			out[i].StepHref = page + "#" + stepAnchor(f.StepID)
		}
	}
	return out
}

// worstSeverities is each step's worst finding, for the canvas's badges.
func worstSeverities(findings []views.LintFinding) map[string]string {
	worst := map[string]string{}
	for _, f := range findings {
		if f.StepID == "" {
			continue
		}
		if w, ok := worst[f.StepID]; !ok || severityRank[f.Severity.Label] < severityRank[w] {
			worst[f.StepID] = f.Severity.Label
		}
	}
	return worst
}

// updateWorkflow saves the JSON editor into the open draft. What was typed always comes back
// when it is not saved: malformed JSON with where it breaks, a document the engine refuses
// with each field's path, a draft published meanwhile with what happened.
func (s *Server) updateWorkflow(w http.ResponseWriter, r *http.Request) error {
	doc, err := s.workflowForPath(r)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return &badRequest{"the form could not be read"}
	}
	typed := r.PostFormValue("definition")
	form := views.Form{Values: map[string]string{"definition": typed}}
	status := http.StatusUnprocessableEntity
	if problem := jsonSyntaxProblem(typed); problem != "" {
		form.Errors = []views.FieldError{{Field: "definition", Message: problem}}
	} else {
		saved, err := s.engine.UpdateWorkflow(r.Context(), principalFrom(r).Actor(), doc.ID, []byte(typed))
		var verr *engine.ValidationError
		var conflict *engine.ConflictError
		switch {
		case err == nil:
			s.flash(r, "success", "Saved the draft of "+saved.Name+".")
			return redirect(w, r, "/workflows/"+saved.ID.String())
		case errors.As(err, &verr):
			for _, fe := range verr.Fields {
				form.Errors = append(form.Errors, views.FieldError{Field: "definition", Message: documentProblem(fe)})
			}
		case errors.As(err, &conflict):
			status = http.StatusConflict
			form.Errors = []views.FieldError{{Field: "definition", Message: sentence(conflict.Message) + " What you typed is kept below."}}
		default:
			return err
		}
	}
	p, err := s.workflowPage(r, doc, 0, &form)
	if err != nil {
		return err
	}
	s.render(w, r, status, views.WorkflowView(p))
	return nil
}

// documentProblem names the place in the document a problem is at, e.g. "steps[2].type";
// a problem of the whole document has no path, and its message reads on from "the definition".
func documentProblem(fe engine.FieldError) string {
	if fe.Field == "" || fe.Field == "definition" {
		return sentence("the definition " + fe.Message)
	}
	return fe.Field + ": " + fe.Message
}

// jsonSyntaxProblem says where a text stops being JSON, by line and column, or "" when it is
// JSON. Whether it is a definition is the engine's to say.
func jsonSyntaxProblem(text string) string {
	if strings.TrimSpace(text) == "" {
		return "The definition is empty: enter a JSON object with at least a name, steps and edges."
	}
	return syntaxProblem("The definition", text)
}

// syntaxProblem says where text stops being JSON, naming it subject ("The file x.json").
func syntaxProblem(subject, text string) string {
	var v any
	err := json.Unmarshal([]byte(text), &v)
	if err == nil {
		return ""
	}
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		line, col := lineColumn(text, int(syn.Offset))
		return fmt.Sprintf("%s is not valid JSON: %s (line %d, column %d).", subject, strings.TrimPrefix(syn.Error(), "json: "), line, col)
	}
	return subject + " is not valid JSON: " + jsonProblem(err) + "."
}

// lineColumn turns a byte offset into a 1-based line and column (in characters).
func lineColumn(text string, offset int) (int, int) {
	offset = min(max(offset, 0), len(text))
	before := text[:offset]
	line := strings.Count(before, "\n") + 1
	col := len([]rune(before[strings.LastIndexByte(before, '\n')+1:]))
	return line, max(col, 1)
}

// confirmPublishWorkflow says what publishing the open draft does and what lint found in it:
// the warnings and info findings to read before publishing, or the errors that refuse it, and
// then no publish button.
func (s *Server) confirmPublishWorkflow(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	review, err := s.engine.ReviewPublish(r.Context(), id)
	var conflict *engine.ConflictError
	if errors.As(err, &conflict) {
		// Published meanwhile, or deleted: the workflow's page shows what it is now.
		s.flash(r, "info", sentence(conflict.Message))
		return redirect(w, r, "/workflows/"+id.String())
	}
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, views.WorkflowPublishView(s.publishReviewPage(r, review), isPartial(r)))
	return nil
}

func (s *Server) publishReviewPage(r *http.Request, rv *engine.PublishReview) views.WorkflowPublishPage {
	id := rv.ID.String()
	page := s.page(r, "Publish "+rv.Name, "workflows")
	page.URL = "/workflows/" + id + "/publish"
	p := views.WorkflowPublishPage{
		Page: page,
		Workflow: views.WorkflowSummary{
			ID: id, Name: rv.Name, Status: workflowStatusBadge(rv.Status), Version: rv.WorkflowDoc.Version, DraftOpen: rv.HasDraft,
		},
		Version: rv.Version, Schedule: rv.Definition.Schedule(), Blocked: rv.Blocked(), Draft: rv.Draft,
	}
	for _, fe := range rv.Problems {
		p.Problems = append(p.Problems, views.FieldError{Field: fe.Field, Message: fe.Message})
	}
	var errs, notes []lint.Finding
	for _, f := range rv.Findings {
		if f.Severity == lint.SeverityError {
			errs = append(errs, f)
		} else {
			notes = append(notes, f)
		}
	}
	p.Errors = lintFindings(errs, rv.Definition, "/workflows/"+id)
	p.Notes = lintFindings(notes, rv.Definition, "/workflows/"+id)
	return p
}

// publishWorkflow publishes the open draft. From the confirmation page the form names the
// draft that was reviewed, and a draft changed since goes back to the confirmation; errors
// that remain refuse it with the workflow's page listing them.
func (s *Server) publishWorkflow(w http.ResponseWriter, r *http.Request) error {
	doc, err := s.workflowForPath(r)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return &badRequest{"the form could not be read"}
	}
	id := doc.ID.String()
	var published *engine.WorkflowDoc
	if reviewed := r.PostFormValue("draft"); reviewed != "" {
		published, err = s.engine.PublishReviewedDraft(r.Context(), principalFrom(r).Actor(), doc.ID, reviewed)
	} else {
		published, err = s.engine.PublishWorkflow(r.Context(), principalFrom(r).Actor(), doc.ID)
	}
	var lintErr *engine.LintError
	var verr *engine.ValidationError
	var conflict *engine.ConflictError
	switch {
	case err == nil:
		s.flash(r, "success", fmt.Sprintf("Published version %d of %s. New runs use it; runs already started keep their version.", published.Version, published.Name))
		return redirect(w, r, "/workflows/"+id)
	case errors.Is(err, engine.ErrStaleReview) && errors.As(err, &conflict):
		s.flash(r, "error", sentence(conflict.Message))
		return redirect(w, r, "/workflows/"+id+"/publish")
	case errors.As(err, &conflict):
		s.flash(r, "error", sentence(conflict.Message))
		return redirect(w, r, "/workflows/"+id)
	case !errors.As(err, &lintErr) && !errors.As(err, &verr):
		return err
	}
	p, err := s.workflowPage(r, doc, 0, nil)
	if err != nil {
		return err
	}
	if lintErr != nil {
		p.Findings = lintFindings(lintErr.Findings, doc.Definition, "")
		errs := 0
		for _, f := range lintErr.Findings {
			if f.Severity == lint.SeverityError {
				errs++
			}
		}
		p.Refused = fmt.Sprintf("Lint found %s in the draft. Publishing is refused until no error remains; warnings and info findings do not block.", plural(errs, "error"))
	} else {
		p.Refused = "The draft is incomplete: fix these places in its document and publish again."
		for _, fe := range verr.Fields {
			p.Problems = append(p.Problems, views.FieldError{Field: fe.Field, Message: fe.Message})
		}
	}
	s.render(w, r, http.StatusUnprocessableEntity, views.WorkflowView(p))
	return nil
}

func (s *Server) confirmDeprecateWorkflow(w http.ResponseWriter, r *http.Request) error {
	doc, err := s.workflowForPath(r)
	if err != nil {
		return err
	}
	id := doc.ID.String()
	if doc.Deleted() || doc.Status != db.WorkflowActive {
		s.flash(r, "info", "Only an active workflow can be deprecated; "+doc.Name+" is "+statusWord(doc.Workflow)+".")
		return redirect(w, r, "/workflows/"+id)
	}
	consequences := []string{
		fmt.Sprintf("No new run of %s can start: starting it from a page, the API or a schedule is refused.", doc.Name),
		fmt.Sprintf("Runs already running finish, on the version they started with (the newest is version %d).", doc.Version),
		"Its versions stay readable. To use it again, open a new draft from a version and publish it.",
	}
	if doc.HasDraft {
		consequences = append(consequences, "Its open draft is kept and can still be edited.")
	}
	s.render(w, r, http.StatusOK, views.ConfirmView(views.ConfirmPage{
		Page:        s.page(r, "Deprecate "+doc.Name, "workflows"),
		Heading:     "Deprecate the workflow " + doc.Name + "?",
		Consequence: consequences,
		Action:      "/workflows/" + id + "/deprecate", Button: "Deprecate workflow", CancelHref: "/workflows/" + id,
	}))
	return nil
}

func statusWord(wf *db.Workflow) string {
	if wf.Deleted() {
		return "deleted"
	}
	return wf.Status
}

func (s *Server) deprecateWorkflow(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	doc, err := s.engine.DeprecateWorkflow(r.Context(), principalFrom(r).Actor(), id)
	if err != nil {
		return s.backOnConflict(w, r, err, "/workflows/"+id.String())
	}
	s.flash(r, "success", "Deprecated "+doc.Name+". No new run can start it; runs already running finish.")
	return redirect(w, r, "/workflows/"+id.String())
}

func (s *Server) confirmDeleteWorkflow(w http.ResponseWriter, r *http.Request) error {
	doc, err := s.workflowForPath(r)
	if err != nil {
		return err
	}
	id := doc.ID.String()
	if doc.Deleted() || doc.Status == db.WorkflowActive {
		msg := doc.Name + " is already deleted."
		if !doc.Deleted() {
			msg = doc.Name + " is active: deprecate it before deleting it, so that no new run starts it."
		}
		s.flash(r, "info", msg)
		return redirect(w, r, "/workflows/"+id)
	}
	var consequences []string
	if doc.Version == 0 {
		consequences = []string{
			"The draft leaves the workflow list and can no longer be edited or published. It was never published, so no run used it.",
		}
	} else {
		versions := "Its published version is kept for the audit trail and for the runs that used it."
		if doc.Version > 1 {
			versions = fmt.Sprintf("Its %d published versions are kept for the audit trail and for the runs that used them.", doc.Version)
		}
		consequences = []string{"It leaves the workflow list and can no longer be edited, published or started.", versions}
		if doc.HasDraft {
			consequences = append(consequences, "Its open draft, never published, goes with it.")
		}
	}
	consequences = append(consequences,
		"Its name “"+doc.Name+"” becomes free for a new workflow.",
		"Floh's pages cannot restore it; “Show deleted workflows” on the list still finds it.")
	s.render(w, r, http.StatusOK, views.ConfirmView(views.ConfirmPage{
		Page:        s.page(r, "Delete "+doc.Name, "workflows"),
		Heading:     "Delete the workflow " + doc.Name + "?",
		Consequence: consequences,
		Action:      "/workflows/" + id + "/delete", Button: "Delete workflow", CancelHref: "/workflows/" + id,
	}))
	return nil
}

func (s *Server) deleteWorkflow(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	wf, err := s.engine.DeleteWorkflow(r.Context(), principalFrom(r).Actor(), id)
	if err != nil {
		return s.backOnConflict(w, r, err, "/workflows/"+id.String())
	}
	s.flash(r, "success", "Deleted the workflow "+wf.Name+".")
	return redirect(w, r, "/workflows")
}

// newWorkflowDraft opens a draft copied from a published version.
func (s *Server) newWorkflowDraft(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return &badRequest{"the form could not be read"}
	}
	back := "/workflows/" + id.String()
	version, err := strconv.Atoi(r.PostFormValue("fromVersion"))
	if err != nil || version < 1 {
		s.flash(r, "error", "Choose the version to copy into the new draft.")
		return redirect(w, r, back)
	}
	doc, err := s.engine.NewDraftFromVersion(r.Context(), principalFrom(r).Actor(), id, version)
	var verr *engine.ValidationError
	var conflict *engine.ConflictError
	switch {
	case errors.As(err, &conflict):
		s.flash(r, "error", sentence(conflict.Message))
		return redirect(w, r, back)
	case errors.As(err, &verr):
		msg := verr.Error()
		if len(verr.Fields) > 0 {
			msg = verr.Fields[0].Message
		}
		s.flash(r, "error", sentence(msg))
		return redirect(w, r, back)
	case err != nil:
		return err
	}
	s.flash(r, "success", fmt.Sprintf("Opened a draft of %s from version %d. Runs keep using version %d until you publish it.", doc.Name, version, doc.Version))
	return redirect(w, r, back)
}

// diffWorkflow compares two documents of a workflow. Without from and to it compares what an
// admin most likely wants (as the versions list preselects); a reference that names nothing
// comes back as an error beside its select.
func (s *Server) diffWorkflow(w http.ResponseWriter, r *http.Request) error {
	doc, err := s.workflowForPath(r)
	if err != nil {
		return err
	}
	versions, err := s.engine.ListWorkflowVersions(r.Context(), doc.ID)
	if err != nil {
		return err
	}
	id := doc.ID.String()
	refs, from, to := compareChoices(doc, versions)
	q := r.URL.Query()
	if q.Get("from") != "" || q.Get("to") != "" {
		from, to = q.Get("from"), q.Get("to")
	}
	page := s.page(r, "Compare versions of "+doc.Name, "workflows")
	page.URL = "/workflows/" + id + "/diff"
	if from != "" || to != "" {
		page.URL = diffURL(id, from, to)
	}
	p := views.WorkflowDiffPage{
		Page: page, Workflow: views.WorkflowSummary{ID: id, Name: doc.Name, Status: workflowStatusBadge(doc.Status), Version: doc.Version},
		From: from, To: to, FromLabel: refWords(from), ToLabel: refWords(to), Refs: refs,
	}
	if from == "" && to == "" {
		s.render(w, r, http.StatusOK, views.WorkflowDiffView(p))
		return nil
	}
	if from == "" {
		p.Form.Errors = append(p.Form.Errors, views.FieldError{Field: "from", Message: "From: choose a version, or the open draft."})
	}
	if to == "" {
		p.Form.Errors = append(p.Form.Errors, views.FieldError{Field: "to", Message: "To: choose a version, or the open draft."})
	}
	var diff workflow.DiffResult
	if len(p.Form.Errors) == 0 {
		diff, err = s.engine.DiffWorkflow(r.Context(), doc.ID, from, to)
		var verr *engine.ValidationError
		if errors.As(err, &verr) {
			for _, fe := range verr.Fields {
				label := "From"
				if fe.Field == "to" {
					label = "To"
				}
				p.Form.Errors = append(p.Form.Errors, views.FieldError{Field: fe.Field, Message: label + ": " + sentence(fe.Message)})
			}
		} else if err != nil {
			return err
		}
	}
	if len(p.Form.Errors) > 0 {
		s.render(w, r, http.StatusUnprocessableEntity, views.WorkflowDiffView(p))
		return nil
	}
	p.Diff = diffView(diff)
	s.render(w, r, http.StatusOK, views.WorkflowDiffView(p))
	return nil
}

// refWords names a document of a workflow: "the open draft", "version 2".
func refWords(ref string) string {
	switch ref {
	case "":
		return ""
	case "draft":
		return "the open draft"
	}
	return "version " + ref
}

var settingLabels = map[string]string{
	"name": "Name", "description": "Description", "category": "Category", "subjectVariable": "Subject variable",
	"errorStrategy": "On an unrouted failure", "trigger": "Trigger", "variables": "Variables",
}

func diffView(d workflow.DiffResult) *views.WorkflowDiff {
	out := &views.WorkflowDiff{}
	for _, c := range d.Settings.Changed {
		out.Settings = append(out.Settings, views.SettingDiff{
			Field: c.Field, Label: cmp.Or(settingLabels[c.Field], c.Field),
			Before: settingWords(c.Field, c.Before), After: settingWords(c.Field, c.After),
		})
	}
	for _, st := range d.Steps.Added {
		out.StepsAdded = append(out.StepsAdded, diffStep(st))
	}
	for _, st := range d.Steps.Removed {
		out.StepsRemoved = append(out.StepsRemoved, diffStep(st))
	}
	for _, c := range d.Steps.Changed {
		var what []string
		if c.Before.Name != c.After.Name {
			what = append(what, "name")
		}
		if c.Before.Type != c.After.Type {
			what = append(what, "type")
		}
		if keys := changedKeys(c.Before.Config, c.After.Config); len(keys) > 0 {
			what = append(what, "config ("+strings.Join(keys, ", ")+")")
		}
		out.StepsChanged = append(out.StepsChanged, views.DiffStepChange{
			ID: c.ID, Before: diffStep(c.Before), After: diffStep(c.After), Changed: strings.Join(what, ", ") + " changed",
		})
	}
	for _, e := range d.Edges.Added {
		out.EdgesAdded = append(out.EdgesAdded, views.WorkflowEdgeRow{From: e.From, On: e.On, To: e.To})
	}
	for _, e := range d.Edges.Removed {
		out.EdgesRemoved = append(out.EdgesRemoved, views.WorkflowEdgeRow{From: e.From, On: e.On, To: e.To})
	}
	return out
}

// changedKeys lists the config keys whose values differ between two versions of a step, so
// the admin knows where to look in the two JSON documents shown side by side.
func changedKeys(before, after map[string]any) []string {
	var keys []string
	for k := range maps.Keys(before) {
		if a, ok := after[k]; !ok || !reflect.DeepEqual(before[k], a) {
			keys = append(keys, k)
		}
	}
	for k := range maps.Keys(after) {
		if _, ok := before[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func diffStep(st workflow.Step) views.DiffStep {
	ds := views.DiffStep{ID: st.ID, Name: st.Name, Type: st.Type}
	if len(st.Config) > 0 {
		ds.Config = indentJSON(st.Config)
	}
	return ds
}

// settingWords shows a changed setting's value as the settings card does.
func settingWords(field string, v any) string {
	switch x := v.(type) {
	case string:
		if field == "errorStrategy" {
			return errorStrategyWords(x)
		}
		return x
	case *workflow.Trigger:
		return triggerWords(x)
	case []workflow.Variable:
		if len(x) == 0 {
			return "none"
		}
		lines := make([]string, len(x))
		for i, vr := range x {
			lines[i] = vr.Name + " (" + vr.Type
			if vr.Required {
				lines[i] += ", required"
			}
			lines[i] += ")"
		}
		return strings.Join(lines, "\n")
	case nil:
		return ""
	}
	return indentJSON(v)
}
