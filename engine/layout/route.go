package layout

import (
	"cmp"
	"math"
	"slices"
)

// route draws the edges of a placed part (see the package doc for the rules that keep them off
// the boxes). The routes are indexed by edge; edges outside the part are nil.
func (g *graph) route(part []int, p *placed) []*Route {
	routes := make([]*Route, len(g.edges))
	// The edges of each pair, in input order; pairs in the order of their first edge.
	byPair := map[pair][]int{}
	var pairs []pair
	for ei, e := range g.edges {
		if e.from == e.to || p.box[e.from] == nil {
			continue
		}
		pr := g.oriented(ei)
		if _, ok := byPair[pr]; !ok {
			pairs = append(pairs, pr)
		}
		byPair[pr] = append(byPair[pr], ei)
	}

	// Parallel edges share their pair's path, spread apart around it.
	offset := make([]float64, len(g.edges))
	for _, pr := range pairs {
		es := byPair[pr]
		step := parallelStep
		if m := len(es); m > 1 {
			step = min(parallelStep, parallelSpread/float64(m-1))
		}
		for j, ei := range es {
			offset[ei] = (float64(j) - float64(len(es)-1)/2) * step
		}
	}

	// Ports: each side of a box spreads its edges along it in the order of where they head
	// next, so that they do not cross at the box; parallel edges keep their order at both ends.
	type request struct {
		edge, rank int
		toward     float64
	}
	bottom := make(map[int][]request)
	top := make(map[int][]request)
	centre := func(n int) float64 { return p.box[n].X + p.box[n].Width/2 }
	for _, pr := range pairs {
		chain := p.chains[pr]
		for j, ei := range byPair[pr] {
			down, up := centre(pr.lower), centre(pr.upper)
			if len(chain) > 0 {
				down = p.bend[chain[0]].X + offset[ei]
				up = p.bend[chain[len(chain)-1]].X + offset[ei]
			}
			bottom[pr.upper] = append(bottom[pr.upper], request{edge: ei, rank: j, toward: down})
			top[pr.lower] = append(top[pr.lower], request{edge: ei, rank: j, toward: up})
		}
	}
	upperPort := make([]float64, len(g.edges))
	lowerPort := make([]float64, len(g.edges))
	// labelRank counts the edges leaving a side before this one, to stagger their labels.
	labelRank := make([]int, len(g.edges))
	assign := func(n int, reqs []request, port []float64, leaving func(ei int) bool) {
		slices.SortStableFunc(reqs, func(a, b request) int {
			return cmp.Or(cmp.Compare(a.toward, b.toward), cmp.Compare(a.rank, b.rank), cmp.Compare(a.edge, b.edge))
		})
		b := p.box[n]
		out := 0
		for i, r := range reqs {
			port[r.edge] = b.X + b.Width*float64(i+1)/float64(len(reqs)+1)
			if leaving(r.edge) {
				labelRank[r.edge] = out
				out++
			}
		}
	}
	for _, n := range part {
		assign(n, bottom[n], upperPort, func(ei int) bool { return !g.edges[ei].reversed })
		assign(n, top[n], lowerPort, func(ei int) bool { return g.edges[ei].reversed })
	}

	for _, pr := range pairs {
		ub, lb := p.box[pr.upper], p.box[pr.lower]
		bandBottom := p.bot[p.layer[pr.upper]]
		for _, ei := range byPair[pr] {
			// Every stretch inside a layer's band is vertical, in a column no other box
			// occupies; every slanted stretch crosses a gap between layers, kept stub away
			// from the bands so that it never grazes a box's top or bottom.
			pts := []Point{{upperPort[ei], ub.Y + ub.Height}, {upperPort[ei], bandBottom + stub}}
			for _, b := range p.chains[pr] {
				l, x := p.bendLayer[b], p.bend[b].X+offset[ei]
				pts = append(pts, Point{x, p.top[l] - stub}, Point{x, p.bot[l] + stub})
			}
			pts = append(pts, Point{lowerPort[ei], lb.Y - stub}, Point{lowerPort[ei], lb.Y})
			e := g.edges[ei]
			if e.reversed {
				// Drawn from the lower box's top back up.
				slices.Reverse(pts)
			}
			// The label goes on the first slanted stretch, the one leaving the source's layer.
			t := 0.3
			if labelRank[ei]%2 == 1 {
				t = 0.6
			}
			a, b := pts[1], pts[2]
			routes[ei] = &Route{
				From: g.nodes[e.from].ID, To: g.nodes[e.to].ID, Label: e.label, Points: straighten(pts),
				LabelAt: Point{a.X + t*(b.X-a.X), a.Y + t*(b.Y-a.Y)},
			}
		}
	}
	for _, n := range part {
		g.routeLoops(n, *p.box[n], routes)
	}
	return routes
}

// straighten drops the points in the middle of a straight vertical run.
func straighten(pts []Point) []Point {
	out := pts[:1]
	for i := 1; i < len(pts)-1; i++ {
		prev, next := out[len(out)-1], pts[i+1]
		if prev.X == pts[i].X && pts[i].X == next.X {
			continue
		}
		out = append(out, pts[i])
	}
	return append(out, pts[len(pts)-1])
}

// routeLoops draws node n's self-loops off the right side of its box b, nested, their labels
// right of the outermost loop (see loopLabels), in the room loopRoom kept free.
func (g *graph) routeLoops(n int, b Box, routes []*Route) {
	k := len(g.loops[n])
	if k == 0 {
		return
	}
	perCol, _, widest := g.loopLabels(n)
	dy := min(8, b.Height/float64(2*k+2))
	right, mid := b.X+b.Width, b.Y+b.Height/2
	outer := right + loopReach + float64(k-1)*loopStep
	for i, ei := range g.loops[n] {
		x := right + loopReach + float64(i)*loopStep
		d := dy * float64(i+1)
		col, row := i/perCol, i%perCol
		inCol := min(perCol, k-col*perCol)
		e := g.edges[ei]
		routes[ei] = &Route{
			From: b.ID, To: b.ID, Label: e.label,
			Points: []Point{{right, mid - d}, {x, mid - d}, {x, mid + d}, {right, mid + d}},
			LabelAt: Point{
				outer + float64(col)*(loopLabelGap+widest) + loopLabelGap + widest/2,
				mid + (float64(row)-float64(inCol-1)/2)*labelHeight,
			},
		}
	}
}

// layoutColumn stacks nodes that no edge joins to another, in input order.
func (g *graph) layoutColumn(nodes []int) ([]Box, []*Route) {
	routes := make([]*Route, len(g.edges))
	boxes := make([]Box, 0, len(nodes))
	y := 0.0
	for _, n := range nodes {
		b := Box{ID: g.nodes[n].ID, Y: y, Width: g.nodes[n].Width, Height: g.nodes[n].Height}
		boxes = append(boxes, b)
		g.routeLoops(n, b, routes)
		y += b.Height + layerGap
	}
	return boxes, routes
}

// bounds is the extent of a drawing.
type bounds struct {
	minX, minY, maxX, maxY float64
	set                    bool
}

func (b *bounds) point(x, y float64) {
	if !b.set {
		*b = bounds{minX: x, minY: y, maxX: x, maxY: y, set: true}
		return
	}
	b.minX, b.minY = math.Min(b.minX, x), math.Min(b.minY, y)
	b.maxX, b.maxY = math.Max(b.maxX, x), math.Max(b.maxY, y)
}

func (b *bounds) add(o bounds) {
	if o.set {
		b.point(o.minX, o.minY)
		b.point(o.maxX, o.maxY)
	}
}

func (b *bounds) move(dx, dy float64) {
	b.minX, b.maxX, b.minY, b.maxY = b.minX+dx, b.maxX+dx, b.minY+dy, b.maxY+dy
}

// measure is the extent of boxes and routes, labels included.
func measure(boxes []Box, routes []*Route) bounds {
	var b bounds
	for _, x := range boxes {
		b.point(x.X, x.Y)
		b.point(x.X+x.Width, x.Y+x.Height)
	}
	for _, r := range routes {
		if r == nil {
			continue
		}
		for _, p := range r.Points {
			b.point(p.X, p.Y)
		}
		w, h := labelSize(r.Label)
		b.point(r.LabelAt.X-w/2, r.LabelAt.Y-h/2)
		b.point(r.LabelAt.X+w/2, r.LabelAt.Y+h/2)
	}
	return b
}

// mirror flips boxes and routes left to right about the vertical line x = axis/2.
func mirror(boxes []Box, routes []*Route, axis float64) {
	for i := range boxes {
		boxes[i].X = axis - boxes[i].X - boxes[i].Width
	}
	for _, r := range routes {
		if r == nil {
			continue
		}
		for i := range r.Points {
			r.Points[i].X = axis - r.Points[i].X
		}
		r.LabelAt.X = axis - r.LabelAt.X
	}
}

func shift(boxes []Box, routes []*Route, dx, dy float64) {
	for i := range boxes {
		boxes[i].X += dx
		boxes[i].Y += dy
	}
	for _, r := range routes {
		if r == nil {
			continue
		}
		for i := range r.Points {
			r.Points[i].X += dx
			r.Points[i].Y += dy
		}
		r.LabelAt.X += dx
		r.LabelAt.Y += dy
	}
}
