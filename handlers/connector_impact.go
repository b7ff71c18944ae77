package handlers

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"floh/db"
	"floh/engine"
	"floh/engine/workflow"
	"floh/views"
)

// connectorImpact fills the Impact tab: each workflow that uses the connector, with the steps
// of its newest published version and of its open draft that do, each linked to its row on
// the workflow's page.
func (s *Server) connectorImpact(ctx context.Context, c *db.Connector) (views.ConnectorImpact, error) {
	uses, err := s.engine.ConnectorUses(ctx, c)
	if err != nil {
		return views.ConnectorImpact{}, err
	}
	var im views.ConnectorImpact
	for _, u := range uses {
		base := "/workflows/" + u.WorkflowID.String()
		wf := views.ImpactWorkflow{Name: u.Name, Href: base, Status: workflowStatusBadge(u.Status)}
		doc := func(label string, href func(stepID string) string, steps []engine.StepUse) {
			if len(steps) == 0 {
				return
			}
			d := views.ImpactDoc{Label: label}
			for _, st := range steps {
				step := views.ImpactStep{ID: st.ID, Name: st.Name, Href: href(st.ID), Command: st.Command, ByName: st.ByName}
				if st.Type == workflow.TypeNotification {
					step.Command = ""
				}
				d.Steps = append(d.Steps, step)
				im.ByName = im.ByName || st.ByName
			}
			im.Steps += len(d.Steps)
			wf.Docs = append(wf.Docs, d)
		}
		version := base + "?version=" + strconv.Itoa(u.Version)
		doc("Published version "+strconv.Itoa(u.Version), func(id string) string { return version + "#" + stepAnchor(id) }, u.Published)
		// A draft's step opens in the designer, where it can be changed.
		doc("Open draft", func(id string) string { return designURL(u.WorkflowID, designSel{step: id}) }, u.Draft)
		im.Workflows = append(im.Workflows, wf)
	}
	return im, nil
}

// usesWords says on the delete confirmation which workflows use the connector.
func usesWords(im views.ConnectorImpact) string {
	if len(im.Workflows) == 0 {
		return "No workflow uses it: no open draft or newest published version has a step that calls it or sends email through it."
	}
	names := make([]string, 0, 3)
	for _, wf := range im.Workflows[:min(3, len(im.Workflows))] {
		names = append(names, "“"+wf.Name+"”")
	}
	list := strings.Join(names, ", ")
	if more := len(im.Workflows) - len(names); more > 0 {
		list += fmt.Sprintf(" and %d more", more)
	}
	verb := "use"
	if len(im.Workflows) == 1 {
		verb = "uses"
	}
	return fmt.Sprintf("%s %s it (%s in all): %s. Their runs fail at those steps, and their drafts stop passing lint, until the steps name another connector.",
		plural(len(im.Workflows), "workflow"), verb, plural(im.Steps, "step"), list)
}
