package layout

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/nulab/autog"
	agraph "github.com/nulab/autog/graph"
)

// placed is a part after autog and the spacing sweep: every node's and bend's position, by
// layer.
type placed struct {
	box  map[int]*Box // real nodes, by node index
	bend []Point      // bends (autog's virtual nodes): X is the vertical run's position, Y unused
	// bendLayer is each bend's layer; chains the bends of each pair, top to bottom.
	bendLayer []int
	chains    map[pair][]int
	layer     map[int]int // layer of each real node
	top, bot  []float64   // each layer's band: every box's top is top[l], the tallest reaches bot[l]
}

// layoutPart lays out one connected part and routes its edges. The routes are indexed by edge;
// edges outside the part are nil.
func (g *graph) layoutPart(part []int) ([]Box, []*Route) {
	p := g.place(part)
	routes := g.route(part, p)
	boxes := make([]Box, 0, len(part))
	for _, n := range part {
		boxes = append(boxes, *p.box[n])
	}
	// The flow is read from its first step (start): when that lies right of the middle,
	// the part is mirrored, which keeps every property of the drawing, so that reading
	// starts at the top left — and a phone, which shows the left of a wide drawing, shows it.
	if b := measure(boxes, routes); boxes[0].X+boxes[0].Width/2 > (b.minX+b.maxX)/2 {
		mirror(boxes, routes, b.minX+b.maxX)
	}
	slices.SortStableFunc(boxes, func(a, b Box) int {
		return cmp.Or(cmp.Compare(a.Y, b.Y), cmp.Compare(a.X, b.X))
	})
	return boxes, routes
}

// A part is arranged by autog unless it is a tangle or too deep. autog's crossing reduction
// (WMedian's transposition) swaps neighbours until no swap helps, and on a dense tangle that
// takes seconds to minutes (measured here on random drafts of up to 60 steps and 180 edges:
// 500 slots, 3 s; 900 slots, 19 s), while a render on every edit must not hang. So every part
// is first arranged by arrangeOwn, a plain barycentre layering that costs milliseconds, and
// handed to autog only when that arrangement shows a part of at most maxAutogSlots slots
// (steps plus the bends of edges that skip layers) with at most maxAutogCrossings crossings:
// under both, autog took at most about 100 ms on those drafts and a few on workflows people
// draw. And autog v0.11.0 counts crossings with a bit per layer in a uint64, so a part of more
// than 64 layers makes it index out of range: maxAutogLayers. Should autog panic all the same,
// the part keeps arrangeOwn's arrangement.
const (
	maxAutogSlots     = 200
	maxAutogCrossings = 40
	maxAutogLayers    = 64
)

// arranger chooses who arranges a part; tests force one or the other.
type arranger int

const (
	arrangeAuto arranger = iota
	arrangeByAutog
	arrangeByOwn
)

// slot is a step's box or a bend in a layer's row.
type slot struct {
	x, w, h float64
	real    bool
	id      int // node index, or bend index
}

// arrangement is a part's layers, each row left to right, and each pair's bends top to bottom.
type arrangement struct {
	rows   [][]slot
	chains map[pair][]int
	// crossings counts the edges that cross between layers (arrangeOwn only).
	crossings int
}

// place arranges a part's steps in layers, then places them.
func (g *graph) place(part []int) *placed {
	pairs := g.pairsOf(part)
	layer := longestPath(pairs)
	slots := len(part)
	for _, pr := range pairs {
		slots += layer[pr.lower] - layer[pr.upper] - 1
	}
	own := g.arrangeOwn(part, pairs, layer)
	if g.arranger == arrangeByAutog || g.arranger == arrangeAuto &&
		slots <= maxAutogSlots && own.crossings <= maxAutogCrossings && len(own.rows) <= maxAutogLayers {
		if a, ok := g.arrangeAutog(part, pairs); ok {
			return g.finish(a)
		}
	}
	return g.finish(own)
}

// pairsOf lists the pairs of a part's edges in input order.
func (g *graph) pairsOf(part []int) []pair {
	var pairs []pair
	seen := map[pair]bool{}
	for _, n := range part {
		for _, ei := range g.out[n] {
			if pr := g.oriented(ei); !seen[pr] {
				seen[pr] = true
				pairs = append(pairs, pr)
			}
		}
	}
	return pairs
}

// longestPath puts each node one layer below the lowest node with an edge to it, as autog's
// LayeringLongestPath does.
func longestPath(pairs []pair) map[int]int {
	above := map[int][]int{}
	for _, pr := range pairs {
		above[pr.lower] = append(above[pr.lower], pr.upper)
	}
	layer := map[int]int{}
	var visit func(n int) int
	visit = func(n int) int {
		if l, ok := layer[n]; ok {
			return l
		}
		l := 0
		for _, u := range above[n] {
			l = max(l, visit(u)+1)
		}
		layer[n] = l
		return l
	}
	for _, pr := range pairs {
		visit(pr.upper)
		visit(pr.lower)
	}
	return layer
}

// arrangeAutog runs autog on a part and reads its layers back; ok is false when autog
// panicked.
func (g *graph) arrangeAutog(part []int, pairs []pair) (a arrangement, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	sizes := make(map[string]agraph.Size, len(part))
	for _, n := range part {
		sizes[nodeName(n)] = agraph.Size{W: g.nodes[n].Width + g.loopRoom(n), H: g.nodes[n].Height}
	}
	src := make(agraph.EdgeSlice, len(pairs))
	for i, pr := range pairs {
		src[i] = []string{nodeName(pr.upper), nodeName(pr.lower)}
	}
	out := autog.Layout(src,
		autog.WithNodeSize(sizes),
		autog.WithLayerSpacing(layerGap),
		autog.WithNodeSpacing(nodeGap),
		autog.WithOutputVirtualNodes(true),
		// The input is acyclic already (breakCycles); the depth-first breaker is the
		// deterministic one, should autog still find a cycle.
		autog.WithCycleBreaking(autog.CycleBreakingDepthFirst),
		// Longest path puts each step one layer below the lowest step leading to it. autog's
		// default, network simplex, draws shorter edges but in v0.11.0 breaks ties by ranging
		// over a Go map (a layout could change from one render to the next) and was seen to
		// put a step above the step leading to it.
		autog.WithLayering(autog.LayeringLongestPath),
	)

	// Layers, from the distinct tops autog gave.
	var tops []float64
	for _, n := range out.Nodes {
		tops = append(tops, n.Y)
	}
	slices.Sort(tops)
	tops = slices.Compact(tops)
	layerAt := func(y float64) int {
		l, found := slices.BinarySearch(tops, y)
		if !found {
			l-- // a bend's y is inside its layer's band, below its top
		}
		return max(l, 0)
	}
	a = arrangement{rows: make([][]slot, len(tops)), chains: map[pair][]int{}}
	bends := 0
	bendsAt := map[[2]float64][]int{}
	for _, n := range out.Nodes {
		l := layerAt(n.Y)
		if idx, ok := strings.CutPrefix(n.ID, "n"); ok {
			i, _ := strconv.Atoi(idx)
			a.rows[l] = append(a.rows[l], slot{x: n.X, w: n.W, h: n.H, real: true, id: i})
			continue
		}
		key := [2]float64{float64(l), n.X}
		bendsAt[key] = append(bendsAt[key], bends)
		a.rows[l] = append(a.rows[l], slot{x: n.X, id: bends})
		bends++
	}
	for _, row := range a.rows {
		slices.SortStableFunc(row, func(a, b slot) int { return cmp.Compare(a.x, b.x) })
	}
	// Which bends each pair's edge goes through: autog's polyline bends sit at its virtual
	// nodes' x.
	byName := make(map[[2]string]pair, len(pairs))
	for _, pr := range pairs {
		byName[[2]string{nodeName(pr.upper), nodeName(pr.lower)}] = pr
	}
	for _, e := range out.Edges {
		pr := byName[[2]string{e.FromID, e.ToID}]
		for _, pt := range e.Points[1 : len(e.Points)-1] {
			key := [2]float64{float64(layerAt(pt[1])), pt[0]}
			if q := bendsAt[key]; len(q) > 0 {
				a.chains[pr] = append(a.chains[pr], q[0])
				bendsAt[key] = q[1:]
			}
		}
	}
	// The routing needs every edge to go down, through a bend in each layer it skips: an
	// arrangement that breaks this is not used.
	layerOf := map[int]int{}
	for l, row := range a.rows {
		for _, s := range row {
			if s.real {
				layerOf[s.id] = l
			}
		}
	}
	for _, pr := range pairs {
		if span := layerOf[pr.lower] - layerOf[pr.upper]; span < 1 || len(a.chains[pr]) != span-1 {
			return a, false
		}
	}
	return a, true
}

// arrangeOwn arranges a part too big for autog: longest-path layers, a bend for each layer an
// edge skips, rows ordered by a few barycentre sweeps (each slot moves towards the mean
// position of its neighbours in the layer above, then below), and each slot pulled towards the
// mean centre of its neighbours, as far as the spacing of its row lets it.
func (g *graph) arrangeOwn(part []int, pairs []pair, layer map[int]int) arrangement {
	depth := 0
	for _, l := range layer {
		depth = max(depth, l+1)
	}
	a := arrangement{rows: make([][]slot, depth), chains: map[pair][]int{}}
	for _, n := range part {
		l := layer[n]
		a.rows[l] = append(a.rows[l], slot{w: g.nodes[n].Width + g.loopRoom(n), h: g.nodes[n].Height, real: true, id: n})
	}
	// Items: a node is its index, a bend len(g.nodes) + its index; links join each item to
	// its neighbours in the layers above and below.
	item := func(s slot) int {
		if s.real {
			return s.id
		}
		return len(g.nodes) + s.id
	}
	type link struct{ upper, lower int }
	var links []link
	bends := 0
	for _, pr := range pairs {
		prev := pr.upper
		for l := layer[pr.upper] + 1; l < layer[pr.lower]; l++ {
			a.rows[l] = append(a.rows[l], slot{id: bends})
			a.chains[pr] = append(a.chains[pr], bends)
			links = append(links, link{prev, len(g.nodes) + bends})
			prev = len(g.nodes) + bends
			bends++
		}
		links = append(links, link{prev, pr.lower})
	}
	items := len(g.nodes) + bends
	up, down := make([][]int, items), make([][]int, items)
	for _, k := range links {
		down[k.upper] = append(down[k.upper], k.lower)
		up[k.lower] = append(up[k.lower], k.upper)
	}

	pos := make([]float64, items)
	index := func(row []slot) {
		for i, s := range row {
			pos[item(s)] = float64(i)
		}
	}
	for _, row := range a.rows {
		index(row)
	}
	mean := func(of []int, at []float64, or float64) float64 {
		if len(of) == 0 {
			return or
		}
		sum := 0.0
		for _, it := range of {
			sum += at[it]
		}
		return sum / float64(len(of))
	}
	key := make([]float64, items)
	sweep := func(l int, by [][]int) {
		row := a.rows[l]
		for _, s := range row {
			key[item(s)] = mean(by[item(s)], pos, pos[item(s)])
		}
		slices.SortStableFunc(row, func(a, b slot) int { return cmp.Compare(key[item(a)], key[item(b)]) })
		index(row)
	}
	for range 4 {
		for l := 1; l < depth; l++ {
			sweep(l, up)
		}
		for l := depth - 2; l >= 0; l-- {
			sweep(l, down)
		}
	}
	for l := 0; l+1 < depth; l++ {
		// The links between two layers, by upper position then lower: two cross when their
		// lower positions are out of order.
		var lower []int
		for _, s := range a.rows[l] {
			below := make([]int, 0, len(down[item(s)]))
			for _, v := range down[item(s)] {
				below = append(below, int(pos[v]))
			}
			slices.Sort(below)
			lower = append(lower, below...)
		}
		a.crossings += inversions(lower)
	}

	centre := make([]float64, items)
	want := make([]float64, 0)
	left, right := make([]float64, 0), make([]float64, 0)
	place := func(row []slot, by [][]int) {
		gap := func(i int) float64 {
			if row[i-1].real && row[i].real {
				return nodeGap
			}
			return bendGap
		}
		want, left, right = want[:0], left[:0], right[:0]
		for _, s := range row {
			c := 0.0
			if by != nil {
				c = mean(by[item(s)], centre, centre[item(s)])
			}
			want = append(want, c-s.w/2)
		}
		left = append(left, want...)
		for i := 1; i < len(row); i++ {
			left[i] = max(left[i], left[i-1]+row[i-1].w+gap(i))
		}
		right = append(right, want...)
		for i := len(row) - 2; i >= 0; i-- {
			right[i] = min(right[i], right[i+1]-row[i].w-gap(i+1))
		}
		// Both satisfy the spacing, so does their mean, which balances the pulls.
		for i := range row {
			row[i].x = (left[i] + right[i]) / 2
			centre[item(row[i])] = row[i].x + row[i].w/2
		}
	}
	for _, row := range a.rows {
		place(row, nil)
	}
	for range 4 {
		for l := 1; l < depth; l++ {
			place(a.rows[l], up)
		}
		for l := depth - 2; l >= 0; l-- {
			place(a.rows[l], down)
		}
	}
	return a
}

// inversions counts the pairs i < j with xs[i] > xs[j], by merge sort; xs is sorted after.
func inversions(xs []int) int {
	if len(xs) < 2 {
		return 0
	}
	mid := len(xs) / 2
	left, right := slices.Clone(xs[:mid]), slices.Clone(xs[mid:])
	n := inversions(left) + inversions(right)
	i, j := 0, 0
	for k := range xs {
		if j == len(right) || (i < len(left) && left[i] <= right[j]) {
			xs[k] = left[i]
			i++
		} else {
			xs[k] = right[j]
			n += len(left) - i
			j++
		}
	}
	return n
}

// finish turns an arrangement into positions: layers stacked layerGap apart, every box of a
// layer with the same top, and each row swept left to right once more to restore the
// spacing the routing relies on (autog's SinkColoring checks the spacing of only the last pair
// of a layer).
func (g *graph) finish(a arrangement) *placed {
	p := &placed{box: map[int]*Box{}, chains: a.chains, layer: map[int]int{}}
	for _, row := range a.rows {
		for _, s := range row {
			if !s.real {
				p.bend = append(p.bend, Point{})
				p.bendLayer = append(p.bendLayer, 0)
			}
		}
	}
	y := 0.0
	for l, row := range a.rows {
		p.top = append(p.top, y)
		h := 0.0
		for i := range row {
			if i > 0 {
				gap := bendGap
				if row[i-1].real && row[i].real {
					gap = nodeGap
				}
				row[i].x = max(row[i].x, row[i-1].x+row[i-1].w+gap)
			}
			s := row[i]
			if !s.real {
				p.bend[s.id], p.bendLayer[s.id] = Point{X: s.x}, l
				continue
			}
			n := g.nodes[s.id]
			p.box[s.id] = &Box{ID: n.ID, X: s.x, Y: y, Width: n.Width, Height: n.Height}
			p.layer[s.id] = l
			h = max(h, s.h)
		}
		p.bot = append(p.bot, y+h)
		y += h + layerGap
	}
	return p
}
