package lint

import (
	"strings"

	"floh/connectors"
	"floh/engine/workflow"
)

// graph is a definition indexed once for every rule. Where ids repeat (Validate reports
// that), the first step with an id is the one the graph knows.
type graph struct {
	d     *workflow.Definition
	cat   Catalogue
	nodes []*workflow.Step // steps with distinct ids, in document order
	index map[string]int   // id → position in nodes
	// routes are the outcomes of the edges leaving each node, whether or not their target
	// exists; succ are the edges that lead to a known step.
	routes [][]string
	succ   [][]arc
	// conns are the connector steps resolved against the catalogue (nil for other types).
	conns []*connStep
	// comps are the strongly connected components, sinks first (Tarjan's order); compOf
	// places each node.
	comps  [][]int
	compOf []int
	lookup map[string]lookupResult
}

// arc is an edge to a known step.
type arc struct {
	to int
	on string
}

type lookupResult struct {
	inst Instance
	ok   bool
}

// connStep is a connector step as the catalogue resolves it. A connectorId or a command that
// holds a template is only known once a run renders it.
type connStep struct {
	ref, command               string
	refTemplated, cmdTemplated bool
	inst                       Instance
	found                      bool
	// cmd is the command, nil when the instance or the command is unknown or templated.
	cmd      *connectors.Command
	params   map[string]any
	mutating bool
}

func newGraph(d *workflow.Definition, cat Catalogue) *graph {
	g := &graph{d: d, cat: cat, index: make(map[string]int, len(d.Steps)), lookup: map[string]lookupResult{}}
	g.nodes = make([]*workflow.Step, 0, len(d.Steps))
	for i := range d.Steps {
		s := &d.Steps[i]
		if _, dup := g.index[s.ID]; dup {
			continue
		}
		g.index[s.ID] = len(g.nodes)
		g.nodes = append(g.nodes, s)
	}
	g.routes = make([][]string, len(g.nodes))
	g.succ = make([][]arc, len(g.nodes))
	for _, e := range d.Edges {
		from, ok := g.index[e.From]
		if !ok {
			continue
		}
		g.routes[from] = append(g.routes[from], e.On)
		if to, ok := g.index[e.To]; ok {
			g.succ[from] = append(g.succ[from], arc{to: to, on: e.On})
		}
	}
	g.conns = make([]*connStep, len(g.nodes))
	for i, s := range g.nodes {
		if s.Type == workflow.TypeConnector {
			g.conns[i] = g.resolveStep(s)
		}
	}
	g.components()
	return g
}

// routed reports whether an edge leaves node i on outcome on.
func (g *graph) routed(i int, on string) bool {
	for _, r := range g.routes[i] {
		if r == on {
			return true
		}
	}
	return false
}

// connector resolves a reference once per lint, however many steps name it: the engine's
// catalogue asks the database.
func (g *graph) connector(ref string) (Instance, bool) {
	if r, done := g.lookup[ref]; done {
		return r.inst, r.ok
	}
	var r lookupResult
	if g.cat != nil {
		r.inst, r.ok = g.cat.Connector(ref)
		r.ok = r.ok && r.inst.Type != nil
		if r.ok && r.inst.ID == "" {
			// A catalogue that gives no identity: the reference is the best one there is.
			r.inst.ID = ref
		}
		if r.ok && r.inst.Name == "" {
			r.inst.Name = ref
		}
	}
	g.lookup[ref] = r
	return r.inst, r.ok
}

func (g *graph) resolveStep(s *workflow.Step) *connStep {
	c := &connStep{}
	c.ref, _ = s.Config["connectorId"].(string)
	c.command, _ = s.Config["command"].(string)
	c.params, _ = s.Config["params"].(map[string]any)
	c.refTemplated, c.cmdTemplated = workflow.HasTemplate(c.ref), workflow.HasTemplate(c.command)
	if c.refTemplated || strings.TrimSpace(c.ref) == "" {
		return c
	}
	c.inst, c.found = g.connector(c.ref)
	if c.found && !c.cmdTemplated {
		c.cmd = c.inst.Type.Command(c.command)
	}
	if c.cmd != nil {
		c.mutating = c.cmd.IsMutating(c.params)
	}
	return c
}

// components finds the strongly connected components (Tarjan's algorithm), iteratively so
// that a definition with very many steps cannot exhaust the stack. Tarjan emits a component
// after every component reachable from it: reversed, the order is topological.
func (g *graph) components() {
	n := len(g.nodes)
	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	g.compOf = make([]int, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	next := 0
	type frame struct{ node, edge int }
	var call []frame
	for root := range n {
		if index[root] >= 0 {
			continue
		}
		call = append(call[:0], frame{root, 0})
		index[root], low[root] = next, next
		next++
		stack = append(stack, root)
		onStack[root] = true
		for len(call) > 0 {
			top := &call[len(call)-1]
			v := top.node
			if top.edge < len(g.succ[v]) {
				w := g.succ[v][top.edge].to
				top.edge++
				switch {
				case index[w] < 0:
					index[w], low[w] = next, next
					next++
					stack = append(stack, w)
					onStack[w] = true
					call = append(call, frame{w, 0})
				case onStack[w]:
					low[v] = min(low[v], index[w])
				}
				continue
			}
			call = call[:len(call)-1]
			if len(call) > 0 {
				parent := call[len(call)-1].node
				low[parent] = min(low[parent], low[v])
			}
			if low[v] == index[v] {
				var comp []int
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[w] = false
					g.compOf[w] = len(g.comps)
					comp = append(comp, w)
					if w == v {
						break
					}
				}
				g.comps = append(g.comps, comp)
			}
		}
	}
}

// typeLabel names a connector type for a message.
func typeLabel(t *connectors.Type) string {
	if t.Label != "" {
		return t.Label
	}
	return t.Name
}
