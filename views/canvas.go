package views

import (
	"hash/fnv"
	"strconv"
	"strings"
)

// px writes a drawing coordinate: a tenth of a pixel is finer than any screen shows.
func px(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// arrowID names a canvas's arrowhead marker ("" or "-error"). Ids are per document and a page
// may hold several canvases (template previews): the id is derived from the canvas's name and
// steps, so two canvases share one only when they draw the same thing.
func arrowID(c Canvas, kind string) string {
	h := fnv.New32a()
	h.Write([]byte(c.Label))
	for _, s := range c.Steps {
		h.Write([]byte{0})
		h.Write([]byte(s.ID))
	}
	return "canvas-arrow-" + strconv.FormatUint(uint64(h.Sum32()), 36) + kind
}

// stepClasses are a canvas step's classes: its type (for the colour band), selected, findings.
func stepClasses(s CanvasStep) string {
	classes := []string{"canvas-step", "type-" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r == '_' {
			return r
		}
		return -1
	}, s.Type)}
	if s.Selected {
		classes = append(classes, "is-selected")
	}
	if s.Severity != "" {
		classes = append(classes, "has-"+s.Severity)
	}
	return strings.Join(classes, " ")
}

// stepWords is a step's accessible name: what the box shows, what lint found, and where each
// outcome leads — what a sighted admin reads off the lines.
func stepWords(c Canvas, s CanvasStep) string {
	words := s.Name + ", " + s.TypeLabel + " step"
	if s.Severity != "" {
		words += ", lint " + s.Severity
	}
	var leads []string
	for _, e := range c.Edges {
		if e.From != s.ID {
			continue
		}
		to := e.To
		for _, t := range c.Steps {
			if t.ID == e.To {
				to = t.Name
				break
			}
		}
		leads = append(leads, "on "+e.On+" to "+to)
	}
	if len(leads) > 0 {
		words += "; " + strings.Join(leads, ", ")
	}
	return words
}

// bandPath is the colour band along a box's left side, rounded like the box's corners (6).
func bandPath(s CanvasStep) string {
	x, y, h := s.X, s.Y, s.H
	return "M" + px(x+6) + "," + px(y) + " V" + px(y+h) +
		" A6,6 0 0 1 " + px(x) + "," + px(y+h-6) + " V" + px(y+6) +
		" A6,6 0 0 1 " + px(x+6) + "," + px(y) + " Z"
}

// severityGlyph is the badge's mark; the word is in its title and the step's name.
func severityGlyph(severity string) string {
	if severity == "info" {
		return "i"
	}
	return "!"
}
