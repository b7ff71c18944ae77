package handlers

import (
	"strconv"
	"strings"

	"floh/engine/layout"
	"floh/engine/workflow"
	"floh/views"
)

// canvasView draws def as its graph: positions from layout.OfDefinition, the step named
// selected highlighted, each step a link to href(step id) (href nil: no links, for
// previews), and each step's worst lint severity from severities (by step id) badged.
func canvasView(label string, def *workflow.Definition, selected string, href func(stepID string) string, severities map[string]string) views.Canvas {
	d := layout.OfDefinition(def)
	c := views.Canvas{Label: label, Width: d.Width, Height: d.Height}
	if len(d.Boxes) == 0 {
		return c
	}
	for _, b := range d.Boxes {
		st := def.Step(b.ID)
		title := layout.StepTitle(*st)
		s := views.CanvasStep{
			ID: st.ID, Name: title, Shown: layout.FitTitle(title, b.Width),
			Type: st.Type, TypeLabel: workflow.TypeLabel(st.Type),
			X: b.X, Y: b.Y, W: b.Width, H: b.Height,
			Selected: selected != "" && st.ID == selected, Severity: severities[st.ID],
		}
		if href != nil {
			s.Href = href(st.ID)
		}
		c.Steps = append(c.Steps, s)
	}
	for _, r := range d.Routes {
		c.Edges = append(c.Edges, views.CanvasEdge{
			From: r.From, To: r.To, On: r.Label, Error: r.Label == workflow.OnError,
			Path: svgPath(r.Points), LabelX: r.LabelAt.X, LabelY: r.LabelAt.Y,
		})
	}
	return c
}

// svgPath is a polyline as SVG path data.
func svgPath(points []layout.Point) string {
	var b strings.Builder
	for i, p := range points {
		if i == 0 {
			b.WriteString("M")
		} else {
			b.WriteString(" L")
		}
		b.WriteString(strconv.FormatFloat(p.X, 'f', 1, 64))
		b.WriteString(",")
		b.WriteString(strconv.FormatFloat(p.Y, 'f', 1, 64))
	}
	return b.String()
}
