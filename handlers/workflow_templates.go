package handlers

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"floh/db"
	"floh/engine"
	"floh/engine/templates"
	"floh/engine/workflow"
	"floh/views"
)

// Workflow templates: the API's list and insertion, and the Insert from Template pages (the
// list by category and a template's binding form), which the designer also shows in a dialog.

// templateItem is a template as GET /api/workflow-templates lists it.
type templateItem struct {
	ID          string           `json:"id"`
	Name        string           `json:"name"`
	Category    string           `json:"category"`
	Description string           `json:"description"`
	Slots       []templates.Slot `json:"slots"`
}

func (s *Server) listWorkflowTemplatesAPI(w http.ResponseWriter, r *http.Request) error {
	items := []templateItem{}
	for _, t := range templates.All() {
		items = append(items, templateItem{ID: t.ID, Name: t.Name, Category: t.Category, Description: t.Description, Slots: t.Slots})
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (s *Server) insertTemplateAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		TemplateID string         `json:"templateId"`
		Bindings   map[string]any `json:"bindings"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	// Read by hand so that a binding that is not text is named, which decoding into a map
	// of strings would not do.
	bindings := map[string]string{}
	v := &engine.ValidationError{}
	for _, k := range slices.Sorted(maps.Keys(in.Bindings)) {
		if text, ok := in.Bindings[k].(string); ok {
			bindings[k] = text
		} else {
			v.Add("bindings."+k, "must be text: a connector's id or name, or a variable's name")
		}
	}
	if err := v.Err(); err != nil {
		return err
	}
	res, err := s.engine.InsertTemplate(r.Context(), principalFrom(r).Actor(), id, in.TemplateID, bindings)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

// insertedTarget is where the browser goes after a template is inserted: the designer, to
// see and connect what was inserted.
func insertedTarget(workflowID string) string { return "/workflows/" + workflowID + "/design" }

func templatesHref(workflowID string) string { return "/workflows/" + workflowID + "/templates" }

func templateHref(workflowID, templateID string) string {
	return templatesHref(workflowID) + "/" + templateID
}

// workflowSummary is the header part of a workflow's pages.
func (s *Server) workflowSummary(doc *engine.WorkflowDoc) views.WorkflowSummary {
	return views.WorkflowSummary{
		ID: doc.ID.String(), Name: doc.Name, Status: workflowStatusBadge(doc.Status), Version: doc.Version,
		DraftOpen: doc.HasDraft, Deleted: doc.Deleted(), DeletedAt: s.when(doc.DeletedAt),
	}
}

// noDraftWords says why nothing can be inserted into a workflow now, or "".
func noDraftWords(doc *engine.WorkflowDoc) string {
	switch {
	case doc.Deleted():
		return doc.Name + " is deleted: nothing can be inserted into it."
	case !doc.HasDraft:
		return fmt.Sprintf("%s has no open draft, and templates go into a draft. Open a new draft from version %d on the workflow's page first.", doc.Name, doc.Version)
	}
	return ""
}

// slotNeeds says what a slot asks for, e.g. "Active Directory connector".
func (s *Server) slotNeeds(slot templates.Slot) string {
	if slot.Kind == templates.SlotConnector {
		return s.connectorTypeLabel(slot.ConnectorType) + " connector"
	}
	return slot.Label + " (" + slot.VariableType + ")"
}

func (s *Server) connectorTypeLabel(name string) string {
	if t := s.engine.ConnectorType(name); t != nil {
		return t.Label
	}
	return name
}

func (s *Server) templateCard(workflowID string, t templates.Template) views.TemplateCard {
	card := views.TemplateCard{ID: t.ID, Name: t.Name, Description: t.Description, Href: templateHref(workflowID, t.ID),
		Preview: canvasView("Steps of the template "+t.Name, t.Definition(), "", nil, nil)}
	for _, slot := range t.Slots {
		card.Needs = append(card.Needs, s.slotNeeds(slot))
	}
	return card
}

func (s *Server) listTemplatesPage(w http.ResponseWriter, r *http.Request) error {
	doc, err := s.workflowForPath(r)
	if err != nil {
		return err
	}
	id := doc.ID.String()
	page := s.page(r, "Insert from template · "+doc.Name, "workflows")
	page.URL = templatesHref(id)
	p := views.TemplatePickerPage{
		Page: page, Workflow: s.workflowSummary(doc), Partial: isPartial(r), NoDraft: noDraftWords(doc),
		CanInsert: principalFrom(r).Can(engine.PermWorkflowUpdate),
	}
	for _, category := range templates.Categories() {
		g := views.TemplateGroup{Category: category}
		for _, t := range templates.All() {
			if t.Category == category {
				g.Templates = append(g.Templates, s.templateCard(id, t))
			}
		}
		p.Groups = append(p.Groups, g)
	}
	s.render(w, r, http.StatusOK, views.TemplatePickerView(p))
	return nil
}

// templateForPath is the workflow and the template a binding form's path names.
func (s *Server) templateForPath(r *http.Request) (*engine.WorkflowDoc, templates.Template, error) {
	doc, err := s.workflowForPath(r)
	if err != nil {
		return nil, templates.Template{}, err
	}
	t, ok := templates.Find(r.PathValue("templateId"))
	if !ok {
		return nil, templates.Template{}, errNotFoundPage
	}
	return doc, t, nil
}

// templateFormPage builds the binding form: one select per slot, with what the admin chose
// (form) or, with none, a sensible first choice.
func (s *Server) templateFormPage(r *http.Request, doc *engine.WorkflowDoc, t templates.Template, form *views.Form) (views.TemplateFormPage, error) {
	id := doc.ID.String()
	page := s.page(r, "Insert "+t.Name+" · "+doc.Name, "workflows")
	page.URL = templateHref(id, t.ID)
	p := views.TemplateFormPage{
		Page: page, Workflow: s.workflowSummary(doc), Partial: isPartial(r), Template: s.templateCard(id, t),
		Action: templateHref(id, t.ID), ListHref: templatesHref(id), CancelHref: "/workflows/" + id,
		Refused: noDraftWords(doc),
	}
	defaults := form == nil
	if defaults {
		form = &views.Form{Values: map[string]string{}}
	}
	var def workflow.Definition
	if doc.Definition != nil {
		def = *doc.Definition
	}
	for _, slot := range t.Slots {
		field := views.TemplateSlotField{Name: slot.Name, Label: slot.Label, Description: slot.Description, Connector: slot.Kind == templates.SlotConnector}
		key := "slot." + slot.Name
		if field.Connector {
			field.TypeLabel = s.connectorTypeLabel(slot.ConnectorType)
			field.CreateHref = "/connectors/new?type=" + slot.ConnectorType
			cs, _, err := s.engine.ListConnectors(r.Context(), db.ConnectorFilter{Type: slot.ConnectorType, Page: db.Page{Page: 1, PageSize: maxPageSize}})
			if err != nil {
				return p, err
			}
			for _, c := range cs {
				label := c.Name
				if !c.Enabled {
					label += " (disabled)"
				}
				field.Options = append(field.Options, views.Option{Value: c.ID.String(), Label: label})
			}
			if defaults && len(cs) == 1 {
				form.Values[key] = cs[0].ID.String()
			}
		} else {
			field.TypeLabel = slot.VariableType
			for _, v := range def.Variables {
				if v.Type == slot.VariableType {
					field.Options = append(field.Options, views.Option{Value: v.Name, Label: v.Name})
				}
			}
			if defaults {
				if name, exists := templates.SuggestedVariable(&def, slot); exists {
					form.Values[key] = name
				} else {
					form.Values[key] = views.NewVariable
					form.Values["new."+slot.Name] = name
				}
			}
		}
		p.Slots = append(p.Slots, field)
	}
	p.Form = *form
	return p, nil
}

func (s *Server) templateForm(w http.ResponseWriter, r *http.Request) error {
	doc, t, err := s.templateForPath(r)
	if err != nil {
		return err
	}
	p, err := s.templateFormPage(r, doc, t, nil)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, views.TemplateFormView(p))
	return nil
}

// insertTemplate inserts a template with the form's bindings and goes to the workflow with
// what happened; refused, the form comes back with what was chosen and why.
func (s *Server) insertTemplate(w http.ResponseWriter, r *http.Request) error {
	doc, t, err := s.templateForPath(r)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return &badRequest{"the form could not be read"}
	}
	form := views.Form{Values: map[string]string{}}
	bindings := map[string]string{}
	for _, slot := range t.Slots {
		choice := r.PostFormValue("slot." + slot.Name)
		newName := strings.TrimSpace(r.PostFormValue("new." + slot.Name))
		form.Values["slot."+slot.Name], form.Values["new."+slot.Name] = choice, newName
		if slot.Kind == templates.SlotVariable && choice == views.NewVariable {
			choice = newName
		}
		bindings[slot.Name] = choice
	}
	res, err := s.engine.InsertTemplate(r.Context(), principalFrom(r).Actor(), doc.ID, t.ID, bindings)
	var verr *engine.ValidationError
	var conflict *engine.ConflictError
	status := http.StatusUnprocessableEntity
	refused := ""
	switch {
	case err == nil:
		s.flash(r, "success", insertedWords(t, res))
		return navigate(w, r, insertedTarget(doc.ID.String()))
	case errors.As(err, &conflict):
		status, refused = http.StatusConflict, sentence(conflict.Message)
	case errors.As(err, &verr):
		for _, fe := range verr.Fields {
			if name, ok := strings.CutPrefix(fe.Field, "bindings."); ok && t.Slot(name) != nil {
				slot := t.Slot(name)
				msg := slot.Label + ": " + fe.Message
				switch {
				case bindings[name] != "":
				case slot.Kind == templates.SlotConnector:
					msg = "Choose the connector that plays " + slot.Label + "."
				default:
					msg = slot.Label + ": choose a variable, or name the new one."
				}
				form.Errors = append(form.Errors, views.FieldError{Field: "slot." + name, Message: msg})
			} else {
				refused = strings.TrimSpace(refused + " " + sentence(documentProblem(fe)))
			}
		}
	default:
		return err
	}
	// Re-read the workflow: the conflict may be a draft published meanwhile.
	if doc, err = s.engine.FindWorkflow(r.Context(), doc.ID); err != nil {
		return err
	}
	p, err := s.templateFormPage(r, doc, t, &form)
	if err != nil {
		return err
	}
	if refused != "" {
		p.Refused = refused
	}
	s.render(w, r, status, views.TemplateFormView(p))
	return nil
}

// insertedWords tells the admin what an insertion did: what was added, what was renamed,
// and whether it is connected.
func insertedWords(t templates.Template, res *engine.TemplateInsertion) string {
	in := res.Insertion
	// The canvas shows steps by name: the message names them so, with the id to tell apart
	// a renamed copy.
	step := func(id string) string {
		if st := res.Definition.Step(id); st != nil && st.Name != "" {
			return "“" + st.Name + "” (" + id + ")"
		}
		return id
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Inserted “%s”: %s.", t.Name, plural(len(in.Steps), "step"))
	if in.Connected {
		fmt.Fprintf(&b, " The start now leads to %s, and the template's last step to the end.", step(in.Entry))
	} else {
		exits := make([]string, len(in.Unconnected))
		for i, x := range in.Unconnected {
			exits[i] = step(x.From) + " on " + x.On
		}
		fmt.Fprintf(&b, " It is placed beside the graph, not connected: lead a step of the workflow to %s, and connect %s to where the workflow goes next.", step(in.Entry), strings.Join(exits, " and "))
	}
	// The API answers every rename; a message names the first few.
	const shown = 4
	if n := len(res.Renamed); n > 0 {
		var renames []string
		for _, rn := range res.Renamed[:min(n, shown)] {
			renames = append(renames, rn.From+" → "+rn.To)
		}
		if n > shown {
			renames = append(renames, fmt.Sprintf("and %d more", n-shown))
		}
		fmt.Fprintf(&b, " Renamed %s the draft already used: %s.", plural(n, "name"), strings.Join(renames, ", "))
	}
	if len(in.AddedVariables) > 0 {
		names := make([]string, len(in.AddedVariables))
		for i, v := range in.AddedVariables {
			names[i] = v.Name
		}
		fmt.Fprintf(&b, " New variables: %s.", strings.Join(names, ", "))
	}
	return b.String()
}
