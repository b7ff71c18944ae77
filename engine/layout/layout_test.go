package layout

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
)

func boxes(ids ...string) []Node {
	out := make([]Node, len(ids))
	for i, id := range ids {
		out[i] = Node{ID: id, Width: 160, Height: 52}
	}
	return out
}

func chain(ids ...string) []Edge {
	var out []Edge
	for i := 1; i < len(ids); i++ {
		out = append(out, Edge{From: ids[i-1], To: ids[i], Label: "success"})
	}
	return out
}

func boxOf(t *testing.T, d Diagram, id string) Box {
	t.Helper()
	for _, b := range d.Boxes {
		if b.ID == id {
			return b
		}
	}
	t.Fatalf("no box %q", id)
	return Box{}
}

// The shapes workflows take, each laid out and checked.
var shapes = []struct {
	name  string
	nodes []Node
	edges []Edge
}{
	{"zero steps", nil, nil},
	{"one step", boxes("start"), nil},
	{"steps with no edges", boxes("start", "a", "end"), nil},
	{"a chain", boxes("start", "a", "b", "end"), chain("start", "a", "b", "end")},
	{"a retry loop", boxes("start", "a", "b", "c", "end"), append(chain("start", "a", "b", "c", "end"),
		Edge{From: "c", To: "a", Label: "error"})},
	{"a loop back to start", boxes("start", "a", "b"), append(chain("start", "a", "b"),
		Edge{From: "b", To: "start", Label: "again"})},
	{"a self-loop", boxes("start", "a", "end"), append(chain("start", "a", "end"),
		Edge{From: "a", To: "a", Label: "error"})},
	{"three self-loops on one step", boxes("start", "a", "end"), append(chain("start", "a", "end"),
		Edge{From: "a", To: "a", Label: "error"}, Edge{From: "a", To: "a", Label: "expired"},
		Edge{From: "a", To: "a", Label: "a-long-branch-name"})},
	{"success and error to the same step", boxes("start", "a", "b"), append(chain("start", "a", "b"),
		Edge{From: "a", To: "b", Label: "error"})},
	{"two steps leading to each other", boxes("start", "a", "b"), append(chain("start", "a", "b"),
		Edge{From: "b", To: "a", Label: "retry"})},
	{"a back edge listed first", boxes("start", "a", "b"), []Edge{
		{From: "b", To: "a", Label: "retry"}, {From: "a", To: "b", Label: "success"}, {From: "start", To: "a", Label: "success"}}},
	{"five parallel edges over a long span", boxes("start", "a", "b", "c", "d"), append(chain("start", "a", "b", "c", "d"),
		Edge{From: "a", To: "d", Label: "error"}, Edge{From: "a", To: "d", Label: "rejected"},
		Edge{From: "a", To: "d", Label: "expired"}, Edge{From: "a", To: "d", Label: "x"}, Edge{From: "a", To: "d", Label: "y"})},
	{"a long back edge", boxes("start", "a", "b", "c", "d", "e"), append(chain("start", "a", "b", "c", "d", "e"),
		Edge{From: "e", To: "a", Label: "error"}, Edge{From: "d", To: "a", Label: "error"})},
	{"a condition with four branches that meet again", boxes("start", "cond", "a", "b", "c", "d", "end"), []Edge{
		{From: "start", To: "cond", Label: "success"},
		{From: "cond", To: "a", Label: "north"}, {From: "cond", To: "b", Label: "east"},
		{From: "cond", To: "c", Label: "south"}, {From: "cond", To: "d", Label: "other"},
		{From: "a", To: "end", Label: "success"}, {From: "b", To: "end", Label: "success"},
		{From: "c", To: "end", Label: "success"}, {From: "d", To: "end", Label: "success"},
		{From: "a", To: "d", Label: "error"}}},
	{"a fragment beside the graph", boxes("start", "a", "end", "f1", "f2", "f3", "lonely"), append(
		chain("start", "a", "end"), append(chain("f1", "f2", "f3"), Edge{From: "f2", To: "f2", Label: "retry"})...)},
	{"unconnected steps with self-loops", boxes("start", "a", "b"), []Edge{
		{From: "a", To: "a", Label: "error"}, {From: "b", To: "b", Label: "again"}, {From: "b", To: "b", Label: "error"}}},
	{"a cycle with no way in", boxes("start", "end", "a", "b", "c"), append(chain("start", "end"), chain("a", "b", "c", "a")...)},
	{"boxes of different sizes", []Node{
		{ID: "start", Width: 40, Height: 20}, {ID: "wide", Width: 600, Height: 52}, {ID: "tall", Width: 80, Height: 300},
		{ID: "tiny", Width: 1, Height: 1}, {ID: "end", Width: 160, Height: 52}}, []Edge{
		{From: "start", To: "wide", Label: "success"}, {From: "start", To: "tall", Label: "error"},
		{From: "wide", To: "tiny", Label: "success"}, {From: "tall", To: "end", Label: "success"},
		{From: "tiny", To: "end", Label: "success"}, {From: "start", To: "end", Label: "skip"},
		{From: "end", To: "tall", Label: "back"}}},
	{"repeated ids and unknown steps", append(boxes("start", "a", "start"), Node{ID: "a", Width: 999, Height: 999}), []Edge{
		{From: "start", To: "a", Label: "success"}, {From: "a", To: "ghost", Label: "success"}, {From: "ghost", To: "a", Label: "error"}}},
}

// arrangers are the two ways a part is arranged (see maxAutogSlots), each forced.
var arrangers = []struct {
	name string
	by   arranger
}{{"autog", arrangeByAutog}, {"own", arrangeByOwn}}

func TestComputeShapes(t *testing.T) {
	for _, a := range arrangers {
		for _, s := range shapes {
			t.Run(a.name+"/"+s.name, func(t *testing.T) {
				d := compute(s.nodes, s.edges, a.by)
				checkDiagram(t, s.nodes, s.edges, d)
				if again := compute(s.nodes, s.edges, a.by); !reflect.DeepEqual(d, again) {
					t.Errorf("a second layout of the same input differs")
				}
			})
		}
	}
}

func TestComputeZeroSteps(t *testing.T) {
	d := Compute(nil, []Edge{{From: "a", To: "b"}})
	if len(d.Boxes) != 0 || len(d.Routes) != 0 || d.Width != 0 || d.Height != 0 {
		t.Errorf("Compute of nothing = %+v, want an empty diagram", d)
	}
}

// The flow reads downwards from the first step; a loop goes back up.
func TestComputeFlowsDownFromStart(t *testing.T) {
	nodes := boxes("start", "a", "b", "c", "end")
	edges := append(chain("start", "a", "b", "c", "end"), Edge{From: "c", To: "a", Label: "error"})
	// The back edge first: the walk from start, not the order of the edges, decides.
	edges = append([]Edge{edges[len(edges)-1]}, edges[:len(edges)-1]...)
	d := Compute(nodes, edges)
	checkDiagram(t, nodes, edges, d)
	y := -1.0
	for _, id := range []string{"start", "a", "b", "c", "end"} {
		b := boxOf(t, d, id)
		if b.Y <= y {
			t.Errorf("%s at y=%v is not below the step before it (y=%v)", id, b.Y, y)
		}
		y = b.Y
	}
	back := d.Routes[0]
	if first, last := back.Points[0], back.Points[len(back.Points)-1]; first.Y != boxOf(t, d, "c").Y || last.Y != boxOf(t, d, "a").Y+boxOf(t, d, "a").Height {
		t.Errorf("the loop c→a runs %v→%v, want from c's top to a's bottom", first, last)
	}
}

// Success and error edges between the same two steps are two lines, not one.
func TestComputeSeparatesParallelEdges(t *testing.T) {
	nodes := boxes("start", "a", "b", "c")
	edges := append(chain("start", "a", "b", "c"), Edge{From: "a", To: "b", Label: "error"}, Edge{From: "a", To: "c", Label: "error"}, Edge{From: "a", To: "c", Label: "rejected"})
	d := Compute(nodes, edges)
	checkDiagram(t, nodes, edges, d)
	for i := range d.Routes {
		for j := i + 1; j < len(d.Routes); j++ {
			a, b := d.Routes[i], d.Routes[j]
			if a.From == b.From && a.To == b.To && (a.Points[0] == b.Points[0] || a.Points[len(a.Points)-1] == b.Points[len(b.Points)-1]) {
				t.Errorf("%s→%s %s and %s share an end: %v, %v", a.From, a.To, a.Label, b.Label, a.Points, b.Points)
			}
			if a.LabelAt == b.LabelAt {
				t.Errorf("labels %s and %s at the same place %v", a.Label, b.Label, a.LabelAt)
			}
		}
	}
}

// A disconnected fragment is drawn beside the graph, tops aligned, and steps with no edge in a
// column after both; boxes come part by part.
func TestComputePlacesPartsSideBySide(t *testing.T) {
	nodes := boxes("start", "a", "end", "f1", "f2", "lone1", "lone2")
	edges := append(chain("start", "a", "end"), chain("f1", "f2")...)
	d := Compute(nodes, edges)
	checkDiagram(t, nodes, edges, d)
	var order []string
	for _, b := range d.Boxes {
		order = append(order, b.ID)
	}
	if want := []string{"start", "a", "end", "f1", "f2", "lone1", "lone2"}; !reflect.DeepEqual(order, want) {
		t.Errorf("boxes in order %v, want %v", order, want)
	}
	start, f1, lone1, lone2 := boxOf(t, d, "start"), boxOf(t, d, "f1"), boxOf(t, d, "lone1"), boxOf(t, d, "lone2")
	if f1.Y != start.Y || lone1.Y != start.Y {
		t.Errorf("tops at %v, %v, %v: want the parts aligned at the top", start.Y, f1.Y, lone1.Y)
	}
	if !(f1.X > start.X+start.Width && lone1.X > f1.X+f1.Width) {
		t.Errorf("start at x=%v, f1 at %v, lone1 at %v: want the parts left to right", start.X, f1.X, lone1.X)
	}
	if lone2.X != lone1.X || lone2.Y <= lone1.Y {
		t.Errorf("lone1 %+v, lone2 %+v: want one column", lone1, lone2)
	}
}

// randomDAG is a branchy n-step graph: every step after the first is reached from an earlier
// one, some steps branch two or three ways, and some edges skip many layers.
func randomDAG(seed uint64, n int) ([]Node, []Edge) {
	r := rand.New(rand.NewPCG(seed, 2024))
	outcomes := []string{"success", "error", "rejected", "expired", "accepted", "other"}
	nodes := make([]Node, n)
	for i := range nodes {
		nodes[i] = Node{ID: "s" + strconv.Itoa(i), Width: 140 + float64(r.IntN(101)), Height: 52}
	}
	var edges []Edge
	add := func(from, to int) {
		edges = append(edges, Edge{From: nodes[from].ID, To: nodes[to].ID, Label: outcomes[r.IntN(len(outcomes))]})
	}
	for i := 1; i < n; i++ {
		add(max(0, i-1-r.IntN(3)), i)
	}
	for i := 0; i < n-1; i++ {
		switch k := r.IntN(10); {
		case k < 3: // a branch to a near step
			add(i, i+1+r.IntN(min(4, n-1-i)))
		case k < 5: // a long edge, skipping layers
			add(i, i+1+r.IntN(n-1-i))
		case k == 5: // two more branches
			add(i, i+1+r.IntN(n-1-i))
			add(i, i+1+r.IntN(n-1-i))
		}
	}
	return nodes, edges
}

func TestComputeRandomDAGs(t *testing.T) {
	for _, a := range arrangers {
		for seed := uint64(1); seed <= 8; seed++ {
			t.Run(fmt.Sprint(a.name, "/seed ", seed), func(t *testing.T) {
				nodes, edges := randomDAG(seed, 50)
				d := compute(nodes, edges, a.by)
				checkDiagram(t, nodes, edges, d)
				// Every edge goes down: the graph has no cycle to draw back up.
				for _, r := range d.Routes {
					if r.Points[0].Y >= r.Points[len(r.Points)-1].Y {
						t.Errorf("%s→%s goes from %v up to %v", r.From, r.To, r.Points[0], r.Points[len(r.Points)-1])
					}
				}
				if again := compute(nodes, edges, a.by); !reflect.DeepEqual(d, again) {
					t.Errorf("a second layout of the same input differs")
				}
			})
		}
	}
}

// Any graph at all, as a hand-edited draft may hold: cycles, self-loops, parallel edges,
// several parts, steps with no edge.
func TestComputeRandomGraphs(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		n := 1 + r.IntN(30)
		nodes := make([]Node, n)
		for i := range nodes {
			nodes[i] = Node{ID: "s" + strconv.Itoa(i), Width: 60 + float64(r.IntN(200)), Height: 30 + float64(r.IntN(40))}
		}
		var edges []Edge
		for range r.IntN(2 * n) {
			edges = append(edges, Edge{From: nodes[r.IntN(n)].ID, To: nodes[r.IntN(n)].ID, Label: []string{"success", "error", "x"}[r.IntN(3)]})
		}
		for _, a := range arrangers {
			t.Run(fmt.Sprintf("%s/seed %d, %d steps, %d edges", a.name, seed, n, len(edges)), func(t *testing.T) {
				checkDiagram(t, nodes, edges, compute(nodes, edges, a.by))
			})
		}
	}
}

func TestComputeTreatsBadSizesAsTiny(t *testing.T) {
	nodes := []Node{{ID: "a", Width: math.NaN(), Height: -3}, {ID: "b", Width: math.Inf(1), Height: 0}}
	d := Compute(nodes, []Edge{{From: "a", To: "b", Label: "success"}})
	checkDiagram(t, nodes, []Edge{{From: "a", To: "b", Label: "success"}}, d)
	for _, b := range d.Boxes {
		if b.Width != 1 || b.Height != 1 {
			t.Errorf("box %q is %v×%v, want 1×1", b.ID, b.Width, b.Height)
		}
	}
}

// FuzzCompute lays out arbitrary graphs: the first byte is the number of nodes (their sizes
// vary), each further pair of bytes an edge; every diagram must keep its promises.
func FuzzCompute(f *testing.F) {
	f.Add([]byte{3, 0, 1, 1, 2, 2, 0})
	f.Add([]byte{5, 0, 1, 1, 1, 1, 2, 1, 2, 2, 4, 4, 1})
	f.Add([]byte{8, 0, 1, 1, 2, 2, 3, 3, 4, 5, 6, 6, 5, 7, 7, 0, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		n := int(data[0])%48 + 1
		nodes := make([]Node, n)
		for i := range nodes {
			nodes[i] = Node{ID: "n" + strconv.Itoa(i), Width: 60 + float64(i*37%150), Height: 30 + float64(i*13%40)}
		}
		var edges []Edge
		for i := 1; i+1 < len(data) && len(edges) < 150; i += 2 {
			edges = append(edges, Edge{From: nodes[int(data[i])%n].ID, To: nodes[int(data[i+1])%n].ID, Label: []string{"success", "error", "rejected"}[i%3]})
		}
		checkDiagram(t, nodes, edges, Compute(nodes, edges))
	})
}
