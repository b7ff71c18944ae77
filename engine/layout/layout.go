// Package layout places a workflow's steps and edges for drawing: a layered, top-to-bottom
// layout computed with github.com/nulab/autog, with the edges routed here so that the
// drawing keeps two promises the designer makes: no two boxes overlap, and no edge is drawn
// through a box.
//
// It is pure: same input, same output, no I/O. Compute works on any graph a draft can hold —
// cycles, self-loops, several edges between the same two steps, disconnected parts, steps with
// no edge, no step at all — and never panics on one.
//
// How it works, and why not all of it is autog's:
//
//   - Cycles are broken here, not by autog: a depth-first walk from the steps nothing leads to
//     (start, in a workflow), in document order, turns every edge that closes a cycle (a retry
//     loop back to an earlier step) around for layering. The flow then reads downwards from
//     start and a loop is drawn going back up. autog's own cycle breakers do not know which
//     step starts the flow, and its two-node-cycle pre-pass also turns around the second of two
//     parallel edges (success and error to the same step), which could put a step above the
//     one that leads to it.
//   - Layers are assigned by longest path (each step one layer below the lowest step leading
//     to it), not by autog's default network simplex, which in v0.11.0 breaks ties by ranging
//     over a Go map and was seen to put a step above the step leading to it.
//   - autog lays out one connected component at a time, here, because it splits components
//     through Go maps and would then order each component's nodes differently on every call.
//     Components are placed side by side, left to right in document order, tops aligned: a
//     fragment inserted beside a graph is drawn beside it. Steps with no edge (other than to
//     themselves) are stacked in one column at the right.
//   - A tangled component (see maxAutogSlots) is arranged here instead, by a plain barycentre
//     layering, because autog's crossing reduction can take minutes on one.
//   - autog sees one edge per pair of steps; the edges between a pair share its path, spread
//     apart by a few pixels, so success and error edges to the same step stay two lines.
//   - Self-loops are not routed by autog (its README says so): each is drawn here as a small
//     loop off the box's right side, and the box is laid out wider by the loop and its label
//     so that nothing else comes near.
//   - Edges are routed here from autog's node and bend positions (the "virtual nodes" it puts
//     where an edge crosses a layer). Every box of a layer has the same top; an edge leaves its
//     upper step from the bottom side and enters its lower step from the top side at a port of
//     its own (the ports of a side are spread along it, in the order of where the edges go, so
//     they do not cross at the box), runs straight down out of its layer's band, crosses each
//     layer it skips vertically at its bend's position, and crosses the gaps between layers,
//     where no box is, in straight lines kept a stub away from the bands. A box is therefore
//     only ever touched at its border by its own edges. autog's positioning (SinkColoring)
//     checks the spacing of only the last pair of nodes in a layer, so the nodes of each layer
//     are swept left to right once more here to restore the spacing the routing relies on.
//   - An edge's label sits on the first stretch of the edge that crosses a gap between layers
//     (or beside a self-loop), so it is near the step whose outcome it names and never on a
//     box; labels leaving one side of a box alternate in height so neighbours do not collide.
package layout

import (
	"math"
	"strconv"
)

// Node is a box to place, of the given size.
type Node struct {
	ID            string
	Width, Height float64
}

// Edge is a line from one node to another, with a label drawn beside it (an outcome).
type Edge struct {
	From, To, Label string
}

// Point is a position in the drawing; Y grows downwards.
type Point struct{ X, Y float64 }

// Box is a placed node. X, Y is its top-left corner.
type Box struct {
	ID                  string
	X, Y, Width, Height float64
}

// Route is a placed edge: a polyline from From's border to To's border (the arrowhead goes
// at the last point), and the centre of its label.
type Route struct {
	From, To, Label string
	Points          []Point
	LabelAt         Point
}

// Diagram is a laid-out graph. Every box, route point and label lies inside Width × Height,
// with a margin.
type Diagram struct {
	Boxes         []Box
	Routes        []Route
	Width, Height float64
}

// Spacing, in the drawing's units (CSS pixels at scale 1).
const (
	layerGap     = 64.0 // between layers: edges and their labels cross here
	nodeGap      = 48.0 // between boxes in a layer
	bendGap      = 24.0 // between an edge's vertical run through a layer and anything beside it
	componentGap = 64.0 // between disconnected parts
	padding      = 16.0 // around the drawing
	stub         = 10.0 // an edge's vertical run out of and into a layer's band

	parallelStep   = 8.0  // between parallel edges sharing a path
	parallelSpread = 24.0 // at most, so parallel edges stay within bendGap/2 of their path
	loopReach      = 18.0 // how far a self-loop sticks out of its box
	loopStep       = 10.0 // between nested self-loops of one box
	loopLabelGap   = 6.0  // between a self-loop and its label

	// Labels are measured, not rendered, here: the canvas draws them at 12px (error labels
	// bold), where a character takes up to about 7.6px in the widest system sans-serif font.
	labelCharWidth = 7.6
	labelPad       = 8.0
	labelHeight    = 16.0
)

// labelSize is the room an edge label is given: the canvas draws it centred on
// Route.LabelAt within this size.
func labelSize(label string) (w, h float64) {
	return float64(len([]rune(label)))*labelCharWidth + labelPad, labelHeight
}

// Compute lays out nodes and edges top to bottom. Nodes repeat an ID at most once: a later
// node with the ID of an earlier one is ignored, as are edges naming an ID no node has. Boxes
// come out in reading order (part by part, left to right; within a part, layer by layer from
// the top, each layer left to right; then the column of unconnected nodes), routes in the order
// of the edges kept.
func Compute(nodes []Node, edges []Edge) Diagram {
	return compute(nodes, edges, arrangeAuto)
}

// compute is Compute with the parts arranged as by says.
func compute(nodes []Node, edges []Edge, by arranger) Diagram {
	g := newGraph(nodes, edges)
	g.arranger = by
	if len(g.nodes) == 0 {
		return Diagram{}
	}
	g.breakCycles()
	parts, loners := g.components()

	var d Diagram
	routes := make([]*Route, len(g.edges))
	var all bounds
	x := 0.0
	put := func(boxes []Box, rs []*Route) {
		b := measure(boxes, rs)
		dx, dy := x-b.minX, -b.minY
		shift(boxes, rs, dx, dy)
		b.move(dx, dy)
		all.add(b)
		x = b.maxX + componentGap
		d.Boxes = append(d.Boxes, boxes...)
		for i, r := range rs {
			if r != nil {
				routes[i] = r
			}
		}
	}
	for _, part := range parts {
		put(g.layoutPart(part))
	}
	if len(loners) > 0 {
		put(g.layoutColumn(loners))
	}
	shift(d.Boxes, routes, padding-all.minX, padding-all.minY)
	d.Routes = make([]Route, len(routes))
	for i, r := range routes {
		d.Routes[i] = *r
	}
	d.Width = all.maxX - all.minX + 2*padding
	d.Height = all.maxY - all.minY + 2*padding
	return d
}

// graph is the input cleaned up: unique node ids, edges between known nodes, as indexes.
type graph struct {
	nodes []Node
	edges []edge
	// out lists each node's outgoing edges that are not self-loops, in input order; loops its
	// self-loops.
	out, loops [][]int
	in         []int // count of incoming edges that are not self-loops
	arranger   arranger
}

type edge struct {
	from, to int
	label    string
	// reversed: the edge closes a cycle and is laid out as if it went from to to from.
	reversed bool
}

func newGraph(nodes []Node, edges []Edge) *graph {
	g := &graph{}
	index := make(map[string]int, len(nodes))
	for _, n := range nodes {
		if _, dup := index[n.ID]; dup {
			continue
		}
		index[n.ID] = len(g.nodes)
		// A size that is not a positive number would break the arithmetic below.
		if !(n.Width > 0) || math.IsInf(n.Width, 0) {
			n.Width = 1
		}
		if !(n.Height > 0) || math.IsInf(n.Height, 0) {
			n.Height = 1
		}
		g.nodes = append(g.nodes, n)
	}
	g.out = make([][]int, len(g.nodes))
	g.loops = make([][]int, len(g.nodes))
	g.in = make([]int, len(g.nodes))
	for _, e := range edges {
		from, okf := index[e.From]
		to, okt := index[e.To]
		if !okf || !okt {
			continue
		}
		i := len(g.edges)
		g.edges = append(g.edges, edge{from: from, to: to, label: e.Label})
		if from == to {
			g.loops[from] = append(g.loops[from], i)
		} else {
			g.out[from] = append(g.out[from], i)
			g.in[to]++
		}
	}
	return g
}

// breakCycles marks the edges that close a cycle, walking depth first from the nodes nothing
// leads to, in input order, then from any node not reached yet.
func (g *graph) breakCycles() {
	const (
		unseen = iota
		active
		done
	)
	state := make([]int, len(g.nodes))
	var visit func(n int)
	visit = func(n int) {
		state[n] = active
		for _, ei := range g.out[n] {
			switch to := g.edges[ei].to; state[to] {
			case active:
				g.edges[ei].reversed = true
			case unseen:
				visit(to)
			}
		}
		state[n] = done
	}
	for n := range g.nodes {
		if g.in[n] == 0 && state[n] == unseen {
			visit(n)
		}
	}
	for n := range g.nodes {
		if state[n] == unseen {
			visit(n)
		}
	}
}

// components returns the connected parts that have an edge between two nodes, each as its
// nodes in input order, ordered by their first node; and the nodes with no such edge.
func (g *graph) components() (parts [][]int, loners []int) {
	parent := make([]int, len(g.nodes))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	for _, e := range g.edges {
		a, b := find(e.from), find(e.to)
		if a != b {
			parent[max(a, b)] = min(a, b)
		}
	}
	partOf := make(map[int]int)
	for n := range g.nodes {
		if len(g.out[n]) == 0 && g.in[n] == 0 {
			loners = append(loners, n)
			continue
		}
		root := find(n)
		p, ok := partOf[root]
		if !ok {
			p = len(parts)
			partOf[root] = p
			parts = append(parts, nil)
		}
		parts[p] = append(parts[p], n)
	}
	return parts, loners
}

// loopRoom is how much wider than its box node n is laid out, to hold its self-loops and
// their labels.
func (g *graph) loopRoom(n int) float64 {
	k := len(g.loops[n])
	if k == 0 {
		return 0
	}
	_, cols, widest := g.loopLabels(n)
	return loopReach + float64(k-1)*loopStep + float64(cols)*(loopLabelGap+widest)
}

// loopLabels says how node n's self-loop labels are set out right of its loops: in cols
// columns of at most perCol, as many as the box's height holds (so that no label reaches
// into another layer), each column as wide as the widest label.
func (g *graph) loopLabels(n int) (perCol, cols int, widest float64) {
	k := len(g.loops[n])
	perCol = max(1, int(g.nodes[n].Height/labelHeight))
	cols = (k + perCol - 1) / perCol
	for _, ei := range g.loops[n] {
		w, _ := labelSize(g.edges[ei].label)
		widest = max(widest, w)
	}
	return perCol, cols, widest
}

// pair is the pair of nodes, upper first, that one or more edges join; autog sees one edge per
// pair.
type pair struct{ upper, lower int }

func (g *graph) oriented(ei int) pair {
	e := g.edges[ei]
	if e.reversed {
		return pair{e.to, e.from}
	}
	return pair{e.from, e.to}
}

func nodeName(n int) string { return "n" + strconv.Itoa(n) }
