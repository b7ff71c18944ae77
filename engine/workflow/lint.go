package workflow

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"floh/connectors"
)

// Finding is one lint result (PRODUCT §4). StepID is empty for a finding about the whole
// workflow (MISSING_START).
type Finding struct {
	Code     string `json:"code"`
	Severity string `json:"severity"`
	StepID   string `json:"stepId"`
	Message  string `json:"message"`
}

// Severities. Publishing is refused while an error remains; "lint clean" also means no warning.
const (
	SeverityError   = "error"
	SeverityWarning = "warning"
	SeverityInfo    = "info"
)

// HasErrors reports whether any finding is an error.
func HasErrors(findings []Finding) bool {
	for _, f := range findings {
		if f.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Catalogue resolves a connector reference (an instance id or name) to its type.
type Catalogue interface {
	Connector(ref string) (connectorType *connectors.Type, ok bool)
}

// lintRules are run in order. A rule reads the graph and returns its findings, at most one per
// (step, code), with every problem of that kind in the message. Adding a lint code is adding a
// rule here.
var lintRules = []func(*lintGraph) []Finding{
	lintStart,
	lintEdgeTargets,
	lintConnectors,
	lintVariables,
	lintDuplicateOutcomes,
	lintCycles,
}

// Lint checks a definition against the connector catalogue (nil: no connector is known). It
// never fails and never panics, however broken the document: every rule tolerates missing
// steps, dangling edges, cycles and config values of any type.
func Lint(d *Definition, cat Catalogue) []Finding {
	findings := []Finding{}
	if d == nil {
		return findings
	}
	g := newLintGraph(d, cat)
	seen := map[[2]string]bool{}
	for _, rule := range lintRules {
		for _, f := range rule(g) {
			key := [2]string{f.StepID, f.Code}
			if !seen[key] {
				seen[key] = true
				findings = append(findings, f)
			}
		}
	}
	return findings
}

// lintGraph is a definition indexed for the rules. Where ids repeat (Validate reports that),
// the first step with an id is the one the graph knows.
type lintGraph struct {
	d     *Definition
	cat   Catalogue
	nodes []*Step        // steps with distinct ids, in document order
	index map[string]int // id → position in nodes
	succ  [][]Edge       // edges leaving each node towards a known step
}

func newLintGraph(d *Definition, cat Catalogue) *lintGraph {
	g := &lintGraph{d: d, cat: cat, index: map[string]int{}}
	for i := range d.Steps {
		s := &d.Steps[i]
		if _, dup := g.index[s.ID]; dup {
			continue
		}
		g.index[s.ID] = len(g.nodes)
		g.nodes = append(g.nodes, s)
	}
	g.succ = make([][]Edge, len(g.nodes))
	for _, e := range d.Edges {
		from, okFrom := g.index[e.From]
		_, okTo := g.index[e.To]
		if okFrom && okTo {
			g.succ[from] = append(g.succ[from], e)
		}
	}
	return g
}

func (g *lintGraph) connector(ref string) (*connectors.Type, bool) {
	if g.cat == nil {
		return nil, false
	}
	t, ok := g.cat.Connector(ref)
	return t, ok && t != nil
}

func errorFinding(code, stepID, format string, args ...any) Finding {
	return Finding{Code: code, Severity: SeverityError, StepID: stepID, Message: fmt.Sprintf(format, args...)}
}

// quoteAll quotes names for a message: "a", "b".
func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// lintStart: MISSING_START, MULTIPLE_START.
func lintStart(g *lintGraph) []Finding {
	var starts []string
	for _, s := range g.d.Steps {
		if s.Type == TypeStart {
			starts = append(starts, s.ID)
		}
	}
	switch {
	case len(starts) == 0:
		return []Finding{errorFinding("MISSING_START", "", "the workflow has no start step")}
	case len(starts) > 1:
		return []Finding{errorFinding("MULTIPLE_START", "", "the workflow has %d start steps (%s); keep one", len(starts), quoteAll(starts))}
	}
	return nil
}

// lintEdgeTargets: EDGE_UNKNOWN_STEP, on the edge's from.
func lintEdgeTargets(g *lintGraph) []Finding {
	unknown := map[string][]string{}
	var order []string
	for _, e := range g.d.Edges {
		for _, end := range []string{e.From, e.To} {
			if _, ok := g.index[end]; ok || slices.Contains(unknown[e.From], end) {
				continue
			}
			if _, listed := unknown[e.From]; !listed {
				order = append(order, e.From)
			}
			unknown[e.From] = append(unknown[e.From], end)
		}
	}
	var out []Finding
	for _, from := range order {
		out = append(out, errorFinding("EDGE_UNKNOWN_STEP", from, "edges name steps that do not exist: %s", quoteAll(unknown[from])))
	}
	return out
}

// lintConnectors: UNKNOWN_CONNECTOR, UNKNOWN_COMMAND, MISSING_REQUIRED_PARAM and
// PARAM_TYPE_MISMATCH against the command's schema.
func lintConnectors(g *lintGraph) []Finding {
	var out []Finding
	for _, s := range g.nodes {
		switch s.Type {
		case TypeNotification:
			// An email instance is optional here; SMTP_URL serves when there is none.
			if ref, _ := s.Config["connectorId"].(string); strings.TrimSpace(ref) != "" {
				typ, ok := g.connector(ref)
				switch {
				case !ok:
					out = append(out, errorFinding("UNKNOWN_CONNECTOR", s.ID, "no connector is named or has the id %q", ref))
				case typ.Name != EmailConnectorType:
					out = append(out, errorFinding("UNKNOWN_CONNECTOR", s.ID, "%q is a connector of type %s, not email; a notification sends email through an email connector", ref, typeLabel(typ)))
				}
			}
		case TypeConnector:
			out = append(out, lintConnectorStep(g, s)...)
		}
	}
	return out
}

func lintConnectorStep(g *lintGraph, s *Step) []Finding {
	ref, _ := s.Config["connectorId"].(string)
	if strings.TrimSpace(ref) == "" {
		return []Finding{errorFinding("UNKNOWN_CONNECTOR", s.ID, "no connector is chosen")}
	}
	typ, ok := g.connector(ref)
	if !ok {
		return []Finding{errorFinding("UNKNOWN_CONNECTOR", s.ID, "no connector is named or has the id %q", ref)}
	}
	name, _ := s.Config["command"].(string)
	if strings.TrimSpace(name) == "" {
		return []Finding{errorFinding("UNKNOWN_COMMAND", s.ID, "no command is chosen")}
	}
	cmd := typ.Command(name)
	if cmd == nil {
		commands := make([]string, len(typ.Commands))
		for i, c := range typ.Commands {
			commands[i] = c.Name
		}
		return []Finding{errorFinding("UNKNOWN_COMMAND", s.ID, "%q is not a command of %s (commands: %s)", name, typeLabel(typ), strings.Join(commands, ", "))}
	}
	params, _ := s.Config["params"].(map[string]any)
	var out []Finding
	var missing []string
	for _, f := range cmd.Params {
		if v, ok := params[f.Name]; f.Required && (!ok || v == nil || v == "") {
			missing = append(missing, f.Name)
		}
	}
	if len(missing) > 0 {
		out = append(out, errorFinding("MISSING_REQUIRED_PARAM", s.ID, "%s needs %s", cmd.Name, strings.Join(missing, ", ")))
	}
	if problems := paramProblems(cmd, params); len(problems) > 0 {
		out = append(out, errorFinding("PARAM_TYPE_MISMATCH", s.ID, "%s: %s", cmd.Name, strings.Join(problems, "; ")))
	}
	return out
}

func typeLabel(t *connectors.Type) string {
	if t.Label != "" {
		return t.Label
	}
	return t.Name
}

// paramProblems checks the params a step gives against the command's schema with the
// connector contract's own checker, so lint and the call agree. A value holding a template is
// checked at run time, once rendered. A param the command does not take is reported here too:
// the call would refuse it just the same.
func paramProblems(cmd *connectors.Command, params map[string]any) []string {
	var problems []string
	var fields []connectors.Field
	values := map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(params)) {
		v := params[name]
		f := cmd.Param(name)
		if f == nil {
			names := make([]string, len(cmd.Params))
			for i, p := range cmd.Params {
				names[i] = p.Name
			}
			problems = append(problems, fmt.Sprintf("%q is not a param of %s (params: %s)", name, cmd.Name, strings.Join(names, ", ")))
			continue
		}
		if s, isStr := v.(string); isStr && hasTemplate(s) {
			continue
		}
		// Missing values are MISSING_REQUIRED_PARAM's; only the type is checked here.
		field := *f
		field.Required = false
		fields = append(fields, field)
		values[name] = v
	}
	if len(fields) > 0 {
		_, fieldProblems := connectors.CheckConfig(&connectors.Type{Name: cmd.Name, Config: fields}, values)
		for _, p := range fieldProblems {
			problems = append(problems, p.Message)
		}
	}
	return problems
}

// builtinVariables are defined in every run.
var builtinVariables = []string{"initiator", "run", "now"}

// lintVariables: UNDEFINED_VARIABLE. A name is defined at a step when it is an input, a
// built-in, or set by an earlier step: a connector step's output, a transform's set, a
// user_create that sets the subject. "Earlier" means on some path: the name reaches every step
// that follows its setter along the setter's outcomes other than error (what a step sets only
// exists once it succeeded) and then along any edge. This is exact for DAGs; in a loop, a
// step may use what a later step of the loop sets, as it will on the next turn.
func lintVariables(g *lintGraph) []Finding {
	base := map[string]bool{}
	for _, v := range builtinVariables {
		base[v] = true
	}
	for _, v := range g.d.Variables {
		base[v.Name] = true
	}
	reads := make([][]string, len(g.nodes))
	setters := map[string][]int{}
	for i, s := range g.nodes {
		reads[i] = variablesRead(s)
		for _, name := range g.sets(s) {
			setters[name] = append(setters[name], i)
		}
	}
	// Only names that are read and are not inputs need their reach computed.
	reach := map[string][]bool{}
	var out []Finding
	for i, s := range g.nodes {
		var undefined []string
		for _, ref := range reads[i] {
			root, _, _ := strings.Cut(ref, ".")
			if base[root] {
				continue
			}
			if _, done := reach[root]; !done {
				reach[root] = g.reachedBy(setters[root])
			}
			if !reach[root][i] && !slices.Contains(undefined, ref) {
				undefined = append(undefined, ref)
			}
		}
		if len(undefined) > 0 {
			out = append(out, errorFinding("UNDEFINED_VARIABLE", s.ID,
				"uses variables that no input, built-in or earlier step defines: %s", strings.Join(undefined, ", ")))
		}
	}
	return out
}

// reachedBy marks the steps that follow one of setters: first along a setter's outcomes
// other than error, then along any edge.
func (g *lintGraph) reachedBy(setters []int) []bool {
	seen := make([]bool, len(g.nodes))
	var queue []int
	for _, s := range setters {
		for _, e := range g.succ[s] {
			if to := g.index[e.To]; e.On != OnError && !seen[to] {
				seen[to] = true
				queue = append(queue, to)
			}
		}
	}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, e := range g.succ[v] {
			if to := g.index[e.To]; !seen[to] {
				seen[to] = true
				queue = append(queue, to)
			}
		}
	}
	return seen
}

// sets lists the variables a step sets when it succeeds.
func (g *lintGraph) sets(s *Step) []string {
	switch s.Type {
	case TypeConnector:
		if out, _ := s.Config["output"].(string); out != "" {
			return []string{out}
		}
	case TypeTransform:
		set, _ := s.Config["set"].(map[string]any)
		return slices.Sorted(maps.Keys(set))
	case TypeUserCreate:
		if subject, _ := s.Config["setAsSubject"].(bool); subject && g.d.SubjectVariable != "" {
			return []string{g.d.SubjectVariable}
		}
	}
	return nil
}

// variablesRead lists what a step's config reads: expression names for conditions and
// transforms, template paths for everything else. Expressions that do not parse are Validate's.
func variablesRead(s *Step) []string {
	var exprs []string
	switch s.Type {
	case TypeCondition:
		branches, _ := s.Config["branches"].([]any)
		for _, b := range branches {
			m, _ := b.(map[string]any)
			if when, ok := m["when"].(string); ok {
				exprs = append(exprs, when)
			}
		}
	case TypeTransform:
		set, _ := s.Config["set"].(map[string]any)
		for _, name := range slices.Sorted(maps.Keys(set)) {
			if src, ok := set[name].(string); ok {
				exprs = append(exprs, src)
			}
		}
	default:
		return TemplateNames(s.Config)
	}
	var names []string
	for _, src := range exprs {
		read, err := ExpressionNames(src)
		if err != nil {
			continue
		}
		for _, n := range read {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	return names
}

// lintDuplicateOutcomes: DUPLICATE_OUTCOME, for two edges leaving a step on one outcome, and
// for a condition that declares one outcome twice.
func lintDuplicateOutcomes(g *lintGraph) []Finding {
	problems := map[string][]string{}
	var order []string
	add := func(stepID, problem string) {
		if _, listed := problems[stepID]; !listed {
			order = append(order, stepID)
		}
		if !slices.Contains(problems[stepID], problem) {
			problems[stepID] = append(problems[stepID], problem)
		}
	}
	seen := map[[2]string]bool{}
	for _, e := range g.d.Edges {
		key := [2]string{e.From, e.On}
		if seen[key] {
			add(e.From, fmt.Sprintf("more than one edge leaves on %q", e.On))
		}
		seen[key] = true
	}
	for _, s := range g.nodes {
		if s.Type != TypeCondition {
			continue
		}
		var outcomes []string
		branches, _ := s.Config["branches"].([]any)
		for _, b := range branches {
			m, _ := b.(map[string]any)
			if name, ok := m["name"].(string); ok && name != "" {
				outcomes = append(outcomes, name)
			}
		}
		if def, ok := s.Config["default"].(string); ok && def != "" {
			outcomes = append(outcomes, def)
		}
		for i, o := range outcomes {
			if slices.Contains(outcomes[:i], o) {
				add(s.ID, fmt.Sprintf("the outcome %q is declared twice", o))
			}
		}
	}
	var out []Finding
	for _, id := range order {
		out = append(out, errorFinding("DUPLICATE_OUTCOME", id, "%s", strings.Join(problems[id], "; ")))
	}
	return out
}

// lintCycles: CYCLE_WITHOUT_EXIT, for a loop of steps (a strongly connected component with an
// edge inside it) that no edge leaves and that holds no end step: a run entering it never
// finishes. One finding per loop, on its first step in document order.
func lintCycles(g *lintGraph) []Finding {
	comps := g.components()
	for _, comp := range comps {
		slices.Sort(comp)
	}
	// Tarjan finds loops in reverse topological order; report them in document order.
	slices.SortFunc(comps, func(a, b []int) int { return a[0] - b[0] })
	var out []Finding
	for _, comp := range comps {
		in := map[int]bool{}
		for _, n := range comp {
			in[n] = true
		}
		looped, exits := false, false
		for _, n := range comp {
			if g.nodes[n].Type == TypeEnd {
				exits = true
			}
			for _, e := range g.succ[n] {
				if in[g.index[e.To]] {
					looped = true
				} else {
					exits = true
				}
			}
		}
		if !looped || exits {
			continue
		}
		ids := make([]string, len(comp))
		for i, n := range comp {
			ids[i] = g.nodes[n].ID
		}
		out = append(out, errorFinding("CYCLE_WITHOUT_EXIT", ids[0], "steps %s loop with no edge out of the loop", quoteAll(ids)))
	}
	return out
}

// components returns the strongly connected components (Tarjan's algorithm), iteratively so
// that a definition with very many steps cannot exhaust the stack.
func (g *lintGraph) components() [][]int {
	n := len(g.nodes)
	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	var comps [][]int
	next := 0
	type frame struct{ node, edge int }
	for root := range n {
		if index[root] >= 0 {
			continue
		}
		call := []frame{{root, 0}}
		index[root], low[root] = next, next
		next++
		stack = append(stack, root)
		onStack[root] = true
		for len(call) > 0 {
			top := &call[len(call)-1]
			v := top.node
			if top.edge < len(g.succ[v]) {
				w := g.index[g.succ[v][top.edge].To]
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
					comp = append(comp, w)
					if w == v {
						break
					}
				}
				comps = append(comps, comp)
			}
		}
	}
	return comps
}
