package layout

import (
	"floh/engine/workflow"
)

// A step's box holds its name on one line and its type in words below it, with room on the
// left for the type's colour band and on the right for a lint badge. Text is measured, not
// rendered, here, by the widest of the system sans-serif fonts a browser may pick (DejaVu Sans
// on Linux; Segoe UI and San Francisco are narrower): at the canvas's 13px semibold a
// character takes about 8.2px on average, at 12px about 7px.
const (
	boxHeight      = 52.0
	boxMinWidth    = 150.0
	boxMaxWidth    = 280.0
	nameCharWidth  = 8.2
	typeCharWidth  = 7.0
	boxTextInsetL  = 18.0 // colour band and padding
	boxTextInsetR  = 26.0 // lint badge and padding
	ellipsisSuffix = "…"
)

// OfDefinition sizes each step's box from its name (its id when it has none) and its type in
// words, drops edges that name unknown steps, and lays out the definition. Each edge is
// labelled with its outcome.
func OfDefinition(d *workflow.Definition) Diagram {
	if d == nil {
		return Diagram{}
	}
	nodes := make([]Node, 0, len(d.Steps))
	known := make(map[string]bool, len(d.Steps))
	for _, s := range d.Steps {
		known[s.ID] = true
		nodes = append(nodes, Node{ID: s.ID, Width: boxWidth(StepTitle(s), workflow.TypeLabel(s.Type)), Height: boxHeight})
	}
	edges := make([]Edge, 0, len(d.Edges))
	for _, e := range d.Edges {
		if known[e.From] && known[e.To] {
			edges = append(edges, Edge{From: e.From, To: e.To, Label: e.On})
		}
	}
	return Compute(nodes, edges)
}

// StepTitle is what a step's box is titled: its name, or its id when it has none.
func StepTitle(s workflow.Step) string {
	if s.Name != "" {
		return s.Name
	}
	return s.ID
}

// boxWidth is the width of a box showing title and typeLabel, between a minimum that keeps
// boxes alike and a maximum past which the title is shortened (FitTitle).
func boxWidth(title, typeLabel string) float64 {
	text := max(runes(title)*nameCharWidth, runes(typeLabel)*typeCharWidth)
	return min(max(text+boxTextInsetL+boxTextInsetR, boxMinWidth), boxMaxWidth)
}

// FitTitle shortens title with an ellipsis so that it fits a box of width w as boxWidth
// measures it; a title that fits is returned as is.
func FitTitle(title string, w float64) string {
	r := []rune(title)
	// The epsilon keeps a title in the box boxWidth sized for it, despite rounding.
	room := int((w-boxTextInsetL-boxTextInsetR)/nameCharWidth + 1e-9)
	if len(r) <= room {
		return title
	}
	return string(r[:max(room-1, 1)]) + ellipsisSuffix
}

func runes(s string) float64 { return float64(len([]rune(s))) }
