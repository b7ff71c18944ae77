package handlers

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"floh/engine/workflow"
	"floh/views"
)

var pathData = regexp.MustCompile(`^M-?\d+\.\d,-?\d+\.\d( L-?\d+\.\d,-?\d+\.\d)+$`)

func TestCanvasView(t *testing.T) {
	def := &workflow.Definition{
		Steps: []workflow.Step{
			{ID: "start", Name: "Start", Type: workflow.TypeStart},
			{ID: "ad", Name: "Create the Active Directory account for the new joiner", Type: workflow.TypeConnector},
			{ID: "task", Type: workflow.TypeManualTask},
			{ID: "end", Name: "End", Type: workflow.TypeEnd},
		},
		Edges: []workflow.Edge{
			{From: "start", To: "ad", On: "success"}, {From: "ad", To: "task", On: "success"},
			{From: "ad", To: "task", On: "error"}, {From: "task", To: "end", On: "success"}, {From: "task", To: "gone", On: "error"},
		},
	}
	c := canvasView("Steps of Joiner", def, "ad", func(id string) string { return "/design?step=" + id },
		map[string]string{"ad": "warning", "ghost": "error"})
	if c.Label != "Steps of Joiner" || c.Width <= 0 || c.Height <= 0 {
		t.Errorf("canvas %q %v×%v", c.Label, c.Width, c.Height)
	}
	if len(c.Steps) != 4 || c.Steps[0].ID != "start" || c.Steps[3].ID != "end" {
		t.Fatalf("steps %+v, want the four from start to end", c.Steps)
	}
	for _, s := range c.Steps {
		if s.Href != "/design?step="+s.ID || s.Selected != (s.ID == "ad") || s.W <= 0 || s.H <= 0 {
			t.Errorf("step %+v", s)
		}
		switch s.ID {
		case "ad":
			if s.TypeLabel != "Connector" || s.Severity != "warning" || s.Name != def.Steps[1].Name ||
				!strings.HasSuffix(s.Shown, "…") || !strings.HasPrefix(s.Name, strings.TrimSuffix(s.Shown, "…")) {
				t.Errorf("ad: %+v", s)
			}
		case "task":
			if s.TypeLabel != "Manual task" || s.Name != "task" || s.Shown != "task" || s.Severity != "" {
				t.Errorf("a step with no name: %+v", s)
			}
		}
	}
	if len(c.Edges) != 4 {
		t.Fatalf("edges %+v, want the four between known steps", c.Edges)
	}
	for _, e := range c.Edges {
		if e.Error != (e.On == "error") || !pathData.MatchString(e.Path) {
			t.Errorf("edge %+v", e)
		}
	}

	preview := canvasView("Preview", def, "", nil, nil)
	for _, s := range preview.Steps {
		if s.Href != "" || s.Selected || s.Severity != "" {
			t.Errorf("a preview's step %+v, want no link, selection or badge", s)
		}
	}
	if empty := canvasView("Nothing", &workflow.Definition{}, "", nil, nil); len(empty.Steps) != 0 || len(empty.Edges) != 0 {
		t.Errorf("canvas of no steps: %+v", empty)
	}
}

// The selected step is ringed and current; a preview's steps are images, not links.
func TestCanvasSVG(t *testing.T) {
	def := &workflow.Definition{
		Steps: []workflow.Step{{ID: "start", Name: "Start", Type: workflow.TypeStart}, {ID: "end", Name: "End", Type: workflow.TypeEnd}},
		Edges: []workflow.Edge{{From: "start", To: "end", On: "success"}},
	}
	render := func(c views.Canvas) string {
		var b strings.Builder
		if err := views.CanvasSVG(c).Render(context.Background(), &b); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	selected := render(canvasView("Steps", def, "end", func(id string) string { return "#" + id }, nil))
	if strings.Count(selected, `aria-current="true"`) != 1 || strings.Count(selected, `class="canvas-ring"`) != 1 {
		t.Errorf("one step selected, the canvas marks %d current and rings %d:\n%s",
			strings.Count(selected, `aria-current="true"`), strings.Count(selected, `class="canvas-ring"`), selected)
	}
	if !strings.Contains(selected, `<a href="#end" class="canvas-step type-end is-selected" aria-label="End, End step" aria-current="true"`) {
		t.Errorf("the selected step is not a current link:\n%s", selected)
	}
	preview := render(canvasView("Preview", def, "", nil, nil))
	if strings.Contains(preview, "<a ") || strings.Count(preview, `role="img"`) != 2 {
		t.Errorf("a preview has links or lacks its two step images:\n%s", preview)
	}
	if !strings.Contains(preview, `aria-label="Start, Start step; on success to End"`) {
		t.Errorf("a preview's step does not say where it leads:\n%s", preview)
	}

	// Two canvases on one page (template previews) do not share their arrowheads' ids.
	markerIDs := regexp.MustCompile(`<marker id="([^"]+)"`)
	a, b := markerIDs.FindAllStringSubmatch(selected, -1), markerIDs.FindAllStringSubmatch(preview, -1)
	if len(a) != 2 || len(b) != 2 || a[0][1] == b[0][1] || a[1][1] == b[1][1] || a[0][1] == a[1][1] {
		t.Fatalf("marker ids %v and %v, want two per canvas, all different", a, b)
	}
	if !strings.Contains(preview, `marker-end="url(#`+b[0][1]+`)"`) {
		t.Errorf("the preview's edge does not end in its own arrowhead %s:\n%s", b[0][1], preview)
	}
}
