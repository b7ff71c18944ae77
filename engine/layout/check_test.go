package layout

import (
	"fmt"
	"math"
	"testing"
)

// The properties every diagram must have, checked precisely.

const (
	// boxMargin is the least distance between two boxes.
	boxMargin = 16.0
	// edgeMargin is the least distance between an edge and a box it does not start or end at.
	edgeMargin = 4.0
	// eps absorbs floating-point noise when a point is meant to lie on a border.
	eps = 1e-6
)

type rect struct{ x0, y0, x1, y1 float64 }

func boxRect(b Box) rect { return rect{b.X, b.Y, b.X + b.Width, b.Y + b.Height} }

func (r rect) grow(m float64) rect { return rect{r.x0 - m, r.y0 - m, r.x1 + m, r.y1 + m} }

func (r rect) overlaps(o rect) bool {
	return r.x0 < o.x1 && o.x0 < r.x1 && r.y0 < o.y1 && o.y0 < r.y1
}

// segmentHitsRect reports whether the segment a–b has a point in r: strictly inside r when
// open (touching the border is allowed), inside or on the border otherwise. It clips the
// segment's parameter t ∈ [0, 1] against each axis (Liang–Barsky).
func segmentHitsRect(a, b Point, r rect, open bool) bool {
	t0, t1 := 0.0, 1.0
	clip := func(p, d, lo, hi float64) bool {
		if d == 0 {
			if open {
				return lo < p && p < hi
			}
			return lo <= p && p <= hi
		}
		ta, tb := (lo-p)/d, (hi-p)/d
		if ta > tb {
			ta, tb = tb, ta
		}
		t0, t1 = math.Max(t0, ta), math.Min(t1, tb)
		return true
	}
	if !clip(a.X, b.X-a.X, r.x0, r.x1) || !clip(a.Y, b.Y-a.Y, r.y0, r.y1) {
		return false
	}
	if open {
		return t0 < t1
	}
	return t0 <= t1
}

func TestSegmentHitsRect(t *testing.T) {
	r := rect{0, 0, 10, 10}
	for _, c := range []struct {
		name         string
		a, b         Point
		open, closed bool
	}{
		{"through the middle", Point{-5, 5}, Point{15, 5}, true, true},
		{"diagonal across", Point{-1, -1}, Point{11, 11}, true, true},
		{"clipping a corner", Point{-1, 2}, Point{2, -1}, true, true},
		{"wholly inside", Point{2, 2}, Point{3, 3}, true, true},
		{"along the top border", Point{-5, 0}, Point{15, 0}, false, true},
		{"down the left border", Point{0, -5}, Point{0, 15}, false, true},
		{"ending on the border", Point{5, -5}, Point{5, 0}, false, true},
		{"leaving from the border", Point{5, 10}, Point{8, 30}, false, true},
		{"touching a corner", Point{-1, 1}, Point{1, -1}, false, true},
		{"passing a corner", Point{-1, 0.9}, Point{0.9, -1}, false, false},
		{"short of the box", Point{5, -5}, Point{5, -0.001}, false, false},
		{"beside the box", Point{11, -5}, Point{11, 15}, false, false},
		{"diagonal missing", Point{12, 0}, Point{20, 8}, false, false},
		{"a point inside", Point{4, 4}, Point{4, 4}, true, true},
		{"a point on the border", Point{10, 4}, Point{10, 4}, false, true},
	} {
		if got := segmentHitsRect(c.a, c.b, r, true); got != c.open {
			t.Errorf("%s: open = %v, want %v", c.name, got, c.open)
		}
		if got := segmentHitsRect(c.a, c.b, r, false); got != c.closed {
			t.Errorf("%s: closed = %v, want %v", c.name, got, c.closed)
		}
		// The answer does not depend on the segment's direction.
		if got := segmentHitsRect(c.b, c.a, r, true); got != c.open {
			t.Errorf("%s reversed: open = %v, want %v", c.name, got, c.open)
		}
	}
}

func onBorder(p Point, r rect) bool {
	inX := p.X >= r.x0-eps && p.X <= r.x1+eps
	inY := p.Y >= r.y0-eps && p.Y <= r.y1+eps
	onX := math.Abs(p.X-r.x0) < eps || math.Abs(p.X-r.x1) < eps
	onY := math.Abs(p.Y-r.y0) < eps || math.Abs(p.Y-r.y1) < eps
	return inX && inY && (onX || onY)
}

// checkDiagram asserts what a diagram of nodes and edges promises: a box per distinct node of
// its size, a route per edge between known nodes in input order, no two boxes closer than
// boxMargin, no edge through a box (its own boxes only touched at their border), no label on
// a box, everything inside the drawing.
func checkDiagram(t *testing.T, nodes []Node, edges []Edge, d Diagram) {
	t.Helper()
	want := map[string]Node{}
	for _, n := range nodes {
		if _, dup := want[n.ID]; !dup {
			want[n.ID] = n
		}
	}
	if len(d.Boxes) != len(want) {
		t.Fatalf("%d boxes for %d nodes", len(d.Boxes), len(want))
	}
	boxes := map[string]Box{}
	for _, b := range d.Boxes {
		n, ok := want[b.ID]
		if !ok {
			t.Fatalf("box %q for no node", b.ID)
		}
		if _, dup := boxes[b.ID]; dup {
			t.Fatalf("two boxes for %q", b.ID)
		}
		if n.Width > 0 && n.Height > 0 && (b.Width != n.Width || b.Height != n.Height) {
			t.Errorf("box %q is %v×%v, want %v×%v", b.ID, b.Width, b.Height, n.Width, n.Height)
		}
		boxes[b.ID] = b
		if b.X < 0 || b.Y < 0 || b.X+b.Width > d.Width || b.Y+b.Height > d.Height {
			t.Errorf("box %q %+v outside the %v×%v drawing", b.ID, b, d.Width, d.Height)
		}
	}
	for i := range d.Boxes {
		for j := i + 1; j < len(d.Boxes); j++ {
			a, b := d.Boxes[i], d.Boxes[j]
			if boxRect(a).grow(boxMargin / 2).overlaps(boxRect(b).grow(boxMargin / 2)) {
				t.Errorf("boxes %q %+v and %q %+v are closer than %v", a.ID, a, b.ID, b, boxMargin)
			}
		}
	}

	var kept []Edge
	for _, e := range edges {
		if _, ok := want[e.From]; ok {
			if _, ok := want[e.To]; ok {
				kept = append(kept, e)
			}
		}
	}
	if len(d.Routes) != len(kept) {
		t.Fatalf("%d routes for %d edges", len(d.Routes), len(kept))
	}
	for i, r := range d.Routes {
		name := fmt.Sprintf("route %d %s→%s (%s)", i, r.From, r.To, r.Label)
		if r.From != kept[i].From || r.To != kept[i].To || r.Label != kept[i].Label {
			t.Errorf("%s, want edge %+v", name, kept[i])
			continue
		}
		if len(r.Points) < 2 {
			t.Errorf("%s has %d points", name, len(r.Points))
			continue
		}
		from, to := boxRect(boxes[r.From]), boxRect(boxes[r.To])
		if first := r.Points[0]; !onBorder(first, from) {
			t.Errorf("%s starts at %v, not on %s's border %+v", name, first, r.From, from)
		}
		if last := r.Points[len(r.Points)-1]; !onBorder(last, to) {
			t.Errorf("%s ends at %v, not on %s's border %+v", name, last, r.To, to)
		}
		for _, p := range r.Points {
			if p.X < 0 || p.Y < 0 || p.X > d.Width || p.Y > d.Height {
				t.Errorf("%s point %v outside the %v×%v drawing", name, p, d.Width, d.Height)
			}
		}
		for k := 1; k < len(r.Points); k++ {
			a, b := r.Points[k-1], r.Points[k]
			for _, box := range d.Boxes {
				own := box.ID == r.From || box.ID == r.To
				var hit bool
				if own {
					hit = segmentHitsRect(a, b, boxRect(box).grow(-eps), true)
				} else {
					hit = segmentHitsRect(a, b, boxRect(box).grow(edgeMargin), false)
				}
				if hit {
					t.Errorf("%s segment %v–%v crosses box %q %+v", name, a, b, box.ID, box)
				}
			}
		}
		w, h := labelSize(r.Label)
		label := rect{r.LabelAt.X - w/2, r.LabelAt.Y - h/2, r.LabelAt.X + w/2, r.LabelAt.Y + h/2}
		for _, box := range d.Boxes {
			if label.overlaps(boxRect(box)) {
				t.Errorf("%s label at %v sits on box %q %+v", name, r.LabelAt, box.ID, box)
			}
		}
		if label.x0 < 0 || label.y0 < 0 || label.x1 > d.Width || label.y1 > d.Height {
			t.Errorf("%s label %+v outside the %v×%v drawing", name, label, d.Width, d.Height)
		}
	}
}
