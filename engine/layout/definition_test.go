package layout

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"floh/engine/workflow"
)

// nodesAndEdges is what OfDefinition lays out for d, for checkDiagram.
func nodesAndEdges(d *workflow.Definition) ([]Node, []Edge) {
	var nodes []Node
	for _, s := range d.Steps {
		nodes = append(nodes, Node{ID: s.ID, Width: boxWidth(StepTitle(s), workflow.TypeLabel(s.Type)), Height: boxHeight})
	}
	var edges []Edge
	for _, e := range d.Edges {
		edges = append(edges, Edge{From: e.From, To: e.To, Label: e.On})
	}
	return nodes, edges
}

func readDefinition(t testing.TB, path string) *workflow.Definition {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d workflow.Definition
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &d
}

// The definitions under testdata here and in engine/workflow: real shapes — a provisioning
// chain whose error edges meet at one step, an approval chain with a condition and a loop,
// a retry loop, a self-loop, a fragment beside the graph, a step with no edge, an edge to a
// step that does not exist.
func TestOfDefinitionTestdata(t *testing.T) {
	paths, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	more, err := filepath.Glob("../workflow/testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	paths = append(paths, more...)
	if len(paths) < 3 {
		t.Fatalf("found %d definitions under testdata, want at least this package's 3", len(paths))
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			def := readDefinition(t, path)
			nodes, edges := nodesAndEdges(def)
			d := OfDefinition(def)
			checkDiagram(t, nodes, edges, d)
			for _, r := range d.Routes {
				if r.Label == "" {
					t.Errorf("route %s→%s has no label", r.From, r.To)
				}
			}
		})
	}
}

func TestOfDefinitionStartsAtTheTopLeft(t *testing.T) {
	def := readDefinition(t, "testdata/access_request.json")
	d := OfDefinition(def)
	if d.Boxes[0].ID != "start" {
		t.Errorf("first box %q, want start", d.Boxes[0].ID)
	}
	start := d.Boxes[0]
	for _, b := range d.Boxes[1:] {
		if b.Y <= start.Y {
			t.Errorf("%q at y=%v is not below start (y=%v)", b.ID, b.Y, start.Y)
		}
	}
	// Reading starts at the top left: autog put start at the right, so the drawing is mirrored.
	if mid := start.X + start.Width/2; mid > d.Width/2 {
		t.Errorf("start's middle at x=%v is right of the drawing's middle %v", mid, d.Width/2)
	}
}

func TestOfDefinitionSizesBoxesFromTheirText(t *testing.T) {
	long := strings.Repeat("Provision the account ", 5)
	def := &workflow.Definition{
		Steps: []workflow.Step{
			{ID: "a", Name: "Go", Type: workflow.TypeStart},
			{ID: "b", Name: "Create the AD account", Type: workflow.TypeConnector},
			{ID: "c", Name: long, Type: workflow.TypeConnector},
			{ID: "d", Type: workflow.TypeProfileUpdate},
		},
		Edges: []workflow.Edge{{From: "a", To: "b", On: "success"}, {From: "b", To: "nowhere", On: "error"}},
	}
	d := OfDefinition(def)
	width := map[string]float64{}
	for _, b := range d.Boxes {
		width[b.ID] = b.Width
		if b.Height != boxHeight {
			t.Errorf("box %s is %v high, want %v", b.ID, b.Height, boxHeight)
		}
	}
	if width["a"] != boxMinWidth || width["d"] != boxMinWidth {
		t.Errorf("short titles: widths %v and %v, want the minimum %v", width["a"], width["d"], boxMinWidth)
	}
	if !(width["b"] > boxMinWidth && width["b"] < boxMaxWidth) {
		t.Errorf("a 21-character title: width %v, want between %v and %v", width["b"], boxMinWidth, boxMaxWidth)
	}
	if width["c"] != boxMaxWidth {
		t.Errorf("a long title: width %v, want the maximum %v", width["c"], boxMaxWidth)
	}
	if len(d.Routes) != 1 || d.Routes[0].Label != "success" {
		t.Errorf("routes %+v, want the one edge between known steps, labelled with its outcome", d.Routes)
	}

	if got := FitTitle("Create the AD account", width["b"]); got != "Create the AD account" {
		t.Errorf("FitTitle shortened a title its box was sized for: %q", got)
	}
	got := FitTitle(long, width["c"])
	if !strings.HasSuffix(got, "…") || !strings.HasPrefix(long, strings.TrimSuffix(got, "…")) {
		t.Errorf("FitTitle(long) = %q, want its start and an ellipsis", got)
	}
	if boxWidth(got, "Connector") > boxMaxWidth {
		t.Errorf("the shortened title %q needs %v, more than the box's %v", got, boxWidth(got, "Connector"), boxMaxWidth)
	}
	if StepTitle(def.Steps[3]) != "d" {
		t.Errorf("a step with no name is titled %q, want its id", StepTitle(def.Steps[3]))
	}
}

func TestOfDefinitionOfNothing(t *testing.T) {
	for _, def := range []*workflow.Definition{nil, {}} {
		if d := OfDefinition(def); len(d.Boxes) != 0 || len(d.Routes) != 0 {
			t.Errorf("OfDefinition(%+v) = %+v, want an empty diagram", def, d)
		}
	}
}

// definition100 is a 100-step workflow as people draw them, only longer: a chain of steps
// where every tenth is a condition whose two branches meet again and every seventh an
// approval, with a retry loop back every 25 steps. With shared failure routing, every
// connector's error edge and every approval's rejected edge go to one of two shared
// notifications, as in the provisioning-chain template: some 80 edges then run down most of
// the drawing (over 3,000 slots). Without, each goes two steps on. Either way the drawing is
// some 90 layers deep, more than autog can take (maxAutogLayers): arrangeOwn lays it out.
func definition100(shared bool) *workflow.Definition {
	d := &workflow.Definition{Name: "Big"}
	step := func(id, typ string) { d.Steps = append(d.Steps, workflow.Step{ID: id, Name: "Step " + id, Type: typ}) }
	edge := func(from, to, on string) { d.Edges = append(d.Edges, workflow.Edge{From: from, To: to, On: on}) }
	failure := func(i int, shared string) string {
		if shared != "" {
			return shared
		}
		return "s" + strconv.Itoa(i+2)
	}
	notifyAdmins, refused := "", ""
	step("start", workflow.TypeStart)
	if shared {
		notifyAdmins, refused = "notifyAdmins", "refused"
		step(notifyAdmins, workflow.TypeNotification)
		step(refused, workflow.TypeNotification)
	}
	prev := "start"
	for i := 0; len(d.Steps) < 97; i++ {
		id := "s" + strconv.Itoa(i)
		switch {
		case i%10 == 9:
			step(id, workflow.TypeCondition)
			step(id+"a", workflow.TypeTransform)
			step(id+"b", workflow.TypeManualTask)
			edge(prev, id, "success")
			edge(id, id+"a", "yes")
			edge(id, id+"b", "other")
			join := "s" + strconv.Itoa(i+1)
			edge(id+"a", join, "success")
			edge(id+"b", join, "success")
			prev = ""
		case i%7 == 6:
			step(id, workflow.TypeApproval)
			edge(id, failure(i, refused), "rejected")
		default:
			step(id, workflow.TypeConnector)
			edge(id, failure(i, notifyAdmins), "error")
		}
		if prev != "" {
			edge(prev, id, "success")
		}
		if i%25 == 24 {
			edge(id, "s"+strconv.Itoa(i-3), "retry")
		}
		prev = id
	}
	for len(d.Steps) < 99 {
		id := "s" + strconv.Itoa(len(d.Steps)+1000)
		step(id, workflow.TypeDelay)
		edge(prev, id, "success")
		prev = id
	}
	step("end", workflow.TypeEnd)
	edge(prev, "end", "success")
	if shared {
		edge(notifyAdmins, "end", "success")
		edge(refused, "end", "success")
	}
	return d
}

func TestOfDefinition100(t *testing.T) {
	for _, shared := range []bool{true, false} {
		def := definition100(shared)
		if len(def.Steps) != 100 {
			t.Fatalf("the generated definition has %d steps, want 100", len(def.Steps))
		}
		nodes, edges := nodesAndEdges(def)
		checkDiagram(t, nodes, edges, OfDefinition(def))
		// Forced on autog, which panics on a part this deep, the layout falls back.
		checkDiagram(t, nodes, edges, compute(nodes, edges, arrangeByAutog))
	}
}

// BenchmarkOfDefinition is a workflow as people draw them, laid out by autog.
func BenchmarkOfDefinition(b *testing.B) {
	def := readDefinition(b, "testdata/access_request.json")
	for b.Loop() {
		OfDefinition(def)
	}
}

func BenchmarkOfDefinition100(b *testing.B) {
	for _, shared := range []bool{true, false} {
		name := "local error edges"
		if shared {
			name = "shared error step"
		}
		b.Run(name, func(b *testing.B) {
			def := definition100(shared)
			for b.Loop() {
				OfDefinition(def)
			}
		})
	}
}
