package lint

import (
	"fmt"
	"slices"
	"strings"

	"floh/engine/workflow"
)

// The rules about the graph's shape: where a run starts, where it can go, and where it gets
// stuck.

// lintStart: MISSING_START, MULTIPLE_START.
func lintStart(g *graph) []Finding {
	var starts []string
	for _, s := range g.d.Steps {
		if s.Type == workflow.TypeStart {
			starts = append(starts, s.ID)
		}
	}
	switch {
	case len(starts) == 0:
		return []Finding{errorFinding(CodeMissingStart, "", "the workflow has no start step")}
	case len(starts) > 1:
		return []Finding{errorFinding(CodeMultipleStart, "", "the workflow has %d start steps (%s); keep one", len(starts), quoteAll(starts))}
	}
	return nil
}

// lintEdgeTargets: EDGE_UNKNOWN_STEP, on the edge's from.
func lintEdgeTargets(g *graph) []Finding {
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
		out = append(out, errorFinding(CodeEdgeUnknownStep, from, "edges name steps that do not exist: %s", quoteAll(unknown[from])))
	}
	return out
}

// conditionOutcomes lists what a condition step declares: its branch names, then its
// default, as written (repeats included; DUPLICATE_OUTCOME reports them).
func conditionOutcomes(s *workflow.Step) (branches []string, def string) {
	list, _ := s.Config["branches"].([]any)
	for _, b := range list {
		m, _ := b.(map[string]any)
		if name, ok := m["name"].(string); ok && name != "" {
			branches = append(branches, name)
		}
	}
	def, _ = s.Config["default"].(string)
	return branches, def
}

// lintDuplicateOutcomes: DUPLICATE_OUTCOME, for two edges leaving a step on one outcome, and
// for a condition that declares one outcome twice.
func lintDuplicateOutcomes(g *graph) []Finding {
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
	seen := make(map[[2]string]bool, len(g.d.Edges))
	for _, e := range g.d.Edges {
		key := [2]string{e.From, e.On}
		if seen[key] {
			add(e.From, fmt.Sprintf("more than one edge leaves on %q", e.On))
		}
		seen[key] = true
	}
	for _, s := range g.nodes {
		if s.Type != workflow.TypeCondition {
			continue
		}
		outcomes, def := conditionOutcomes(s)
		if def != "" {
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
		out = append(out, errorFinding(CodeDuplicateOutcome, id, "%s", strings.Join(problems[id], "; ")))
	}
	return out
}

// lintCycles: CYCLE_WITHOUT_EXIT, for a loop of steps (a strongly connected component with an
// edge inside it) that no edge leaves and that holds no end step: a run entering it never
// finishes. One finding per loop, on its first step in document order.
func lintCycles(g *graph) []Finding {
	var loops [][]int
	for c, comp := range g.comps {
		looped, exits := false, false
		for _, n := range comp {
			if g.nodes[n].Type == workflow.TypeEnd {
				exits = true
			}
			for _, a := range g.succ[n] {
				if g.compOf[a.to] == c {
					looped = true
				} else {
					exits = true
				}
			}
		}
		if looped && !exits {
			loops = append(loops, slices.Sorted(slices.Values(comp)))
		}
	}
	// Tarjan finds loops sinks first; report them in document order.
	slices.SortFunc(loops, func(a, b []int) int { return a[0] - b[0] })
	var out []Finding
	for _, loop := range loops {
		ids := make([]string, len(loop))
		for i, n := range loop {
			ids[i] = g.nodes[n].ID
		}
		out = append(out, errorFinding(CodeCycleWithoutExit, ids[0], "steps %s loop with no edge out of the loop", quoteAll(ids)))
	}
	return out
}

// lintScheduledRequired: SCHEDULED_REQUIRED_VARIABLE. A tick has nobody to ask for inputs,
// so publishing refuses a scheduled workflow with a required variable; lint says it while
// the author is editing.
func lintScheduledRequired(g *graph) []Finding {
	if g.d.Trigger == nil || g.d.Trigger.Type != workflow.TriggerSchedule {
		return nil
	}
	var required []string
	for _, v := range g.d.Variables {
		if v.Required {
			required = append(required, v.Name)
		}
	}
	if len(required) == 0 {
		return nil
	}
	return []Finding{errorFinding(CodeScheduledRequiredVariable, "",
		"the workflow starts on a schedule, whose runs get no inputs, yet %s %s %s required; make %s optional or change the trigger",
		plural(len(required), "the variable", "the variables"), quoteAll(required), plural(len(required), "is", "are"), plural(len(required), "it", "them"))}
}

// unique keeps the first of each name, in order.
func unique(names []string) []string {
	var out []string
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// plural picks the word for one thing or for n.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// lintUnreachable: UNREACHABLE_STEP, for steps no path from a start step reaches, along edges
// of any outcome. Without a start step every step would be unreachable, which MISSING_START
// already says.
func lintUnreachable(g *graph) []Finding {
	seen := make([]bool, len(g.nodes))
	var queue []int
	for i, s := range g.nodes {
		if s.Type == workflow.TypeStart {
			seen[i] = true
			queue = append(queue, i)
		}
	}
	if len(queue) == 0 {
		return nil
	}
	for len(queue) > 0 {
		v := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		for _, a := range g.succ[v] {
			if !seen[a.to] {
				seen[a.to] = true
				queue = append(queue, a.to)
			}
		}
	}
	var out []Finding
	for i, s := range g.nodes {
		if !seen[i] {
			out = append(out, warning(CodeUnreachableStep, s.ID, "no path from the start step leads here, so no run ever runs this step; connect it or remove it"))
		}
	}
	return out
}

// lintDeadEnds: DEAD_END, for a step other than end that has no way on when it succeeds: no
// "success" edge, or for a condition, no edge on any of its branches or its default.
func lintDeadEnds(g *graph) []Finding {
	var out []Finding
	for i, s := range g.nodes {
		switch s.Type {
		case workflow.TypeEnd:
		case workflow.TypeCondition:
			branches, def := conditionOutcomes(s)
			if def != "" {
				branches = append(branches, def)
			}
			if len(branches) == 0 {
				out = append(out, warning(CodeDeadEnd, s.ID, "the condition declares no branch and no default, so no edge can lead a run on from it"))
				continue
			}
			if !slices.ContainsFunc(branches, func(b string) bool { return g.routed(i, b) }) {
				out = append(out, warning(CodeDeadEnd, s.ID, "no edge leaves on any of its branches (%s), so every run that gets here stops here", quoteAll(unique(branches))))
			}
		case workflow.TypeApproval:
			if !g.routed(i, workflow.OnSuccess) {
				out = append(out, warning(CodeDeadEnd, s.ID, "no \"success\" edge leaves it, so an approved request goes nowhere; connect \"success\" to the next step or to an end step"))
			}
		default:
			if !g.routed(i, workflow.OnSuccess) {
				out = append(out, warning(CodeDeadEnd, s.ID, "no \"success\" edge leaves it, so a run that gets here stops here instead of reaching an end step; connect \"success\" to the next step or to an end step"))
			}
		}
	}
	return out
}

// lintApprovals: APPROVAL_NO_REJECTION_PATH. What an unrouted rejection does depends on the
// error strategy, and the message says which.
func lintApprovals(g *graph) []Finding {
	consequence := "a rejection fails the run instead of telling anyone"
	if g.d.ErrorStrategy == workflow.StrategyContinue {
		consequence = "with errorStrategy continue, a rejected request goes on along \"success\" as if it were approved"
	}
	var out []Finding
	for i, s := range g.nodes {
		if s.Type == workflow.TypeApproval && !g.routed(i, workflow.OnRejected) {
			out = append(out, warning(CodeApprovalNoRejectionPath, s.ID, "no \"rejected\" edge leaves it: %s; route \"rejected\" to a notification or an end step", consequence))
		}
	}
	return out
}

// lintConditionBranches: CONDITION_MISSING_BRANCH, naming every declared branch and the
// default when they have no edge, and the edges that leave on an outcome the condition does
// not declare, which are usually the same branch misspelt.
func lintConditionBranches(g *graph) []Finding {
	var out []Finding
	for i, s := range g.nodes {
		if s.Type != workflow.TypeCondition {
			continue
		}
		branches, def := conditionOutcomes(s)
		var missing []string
		for _, b := range branches {
			if !g.routed(i, b) && !slices.Contains(missing, fmt.Sprintf("the branch %q", b)) {
				missing = append(missing, fmt.Sprintf("the branch %q", b))
			}
		}
		if def != "" && !g.routed(i, def) && !slices.Contains(branches, def) {
			missing = append(missing, fmt.Sprintf("the default %q", def))
		}
		if len(missing) == 0 {
			continue
		}
		msg := fmt.Sprintf("no edge leaves on %s, so a run taking %s fails", strings.Join(missing, ", "), plural(len(missing), "it", "them"))
		var stray []string
		for _, r := range g.routes[i] {
			if r != workflow.OnError && r != def && !slices.Contains(branches, r) && !slices.Contains(stray, r) {
				stray = append(stray, r)
			}
		}
		if len(stray) > 0 {
			msg += fmt.Sprintf("; edges leave on %s, which the condition does not declare", quoteAll(stray))
		}
		out = append(out, warning(CodeConditionMissingBranch, s.ID, "%s", msg))
	}
	return out
}

// lintErrorEdgesNotify: ERROR_EDGE_WITHOUT_NOTIFICATION. One walk backwards from every
// notification step marks the steps from which some path reaches one; an error edge to any
// other step handles a failure without telling anyone.
func lintErrorEdgesNotify(g *graph) []Finding {
	pred := make([][]int, len(g.nodes))
	for v, arcs := range g.succ {
		for _, a := range arcs {
			pred[a.to] = append(pred[a.to], v)
		}
	}
	notifies := make([]bool, len(g.nodes))
	var queue []int
	for i, s := range g.nodes {
		if s.Type == workflow.TypeNotification {
			notifies[i] = true
			queue = append(queue, i)
		}
	}
	for len(queue) > 0 {
		v := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		for _, p := range pred[v] {
			if !notifies[p] {
				notifies[p] = true
				queue = append(queue, p)
			}
		}
	}
	var out []Finding
	for i, s := range g.nodes {
		var silent []string
		for _, a := range g.succ[i] {
			if a.on == workflow.OnError && !notifies[a.to] && !slices.Contains(silent, g.nodes[a.to].ID) {
				silent = append(silent, g.nodes[a.to].ID)
			}
		}
		if len(silent) > 0 {
			out = append(out, info(CodeErrorEdgeWithoutNotification, s.ID,
				"the \"error\" edge to %s reaches no notification step, so a failure here is handled without telling anyone", quoteAll(silent)))
		}
	}
	return out
}
