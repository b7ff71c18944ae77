package lint

import (
	"slices"
	"strings"

	"floh/engine/workflow"
)

// builtinVariables are defined in every run.
var builtinVariables = []string{"initiator", "run", "now"}

// lintVariables: UNDEFINED_VARIABLE. A name is defined at a step when it is an input, a
// built-in, or set by an earlier step: a connector step's output, a transform's set, a
// user_create that sets the subject. "Earlier" means on some path: the name reaches every step
// that follows its setter along the setter's outcomes other than error (what a step sets only
// exists once it succeeded) and then along any edge. This is exact for DAGs; in a loop, a
// step may use what a later step of the loop sets, as it will on the next turn.
//
// Every step of a strongly connected component is reachable from every other, so all of a
// component's steps see the same names: they flow once over the components in topological
// order, as bit sets of the names steps set.
func lintVariables(g *graph) []Finding {
	base := map[string]bool{}
	for _, v := range builtinVariables {
		base[v] = true
	}
	for _, v := range g.d.Variables {
		base[v.Name] = true
	}
	bit := map[string]int{} // a name some step sets → its bit
	sets := make([][]int, len(g.nodes))
	for i, s := range g.nodes {
		for _, name := range g.d.Sets(s) {
			b, ok := bit[name]
			if !ok {
				b = len(bit)
				bit[name] = b
			}
			sets[i] = append(sets[i], b)
		}
	}
	words := (len(bit) + 63) / 64
	slab := make([]uint64, words*len(g.comps))
	defined := func(c int) []uint64 { return slab[c*words : (c+1)*words] }
	if words > 0 {
		for c := len(g.comps) - 1; c >= 0; c-- {
			in := defined(c)
			// What a step of the component sets along an edge that stays inside reaches the
			// whole component; it depends on nothing upstream, so it is added first.
			for _, v := range g.comps[c] {
				for _, a := range g.succ[v] {
					if g.compOf[a.to] == c && a.on != workflow.OnError {
						setBits(in, sets[v])
					}
				}
			}
			for _, v := range g.comps[c] {
				for _, a := range g.succ[v] {
					to := g.compOf[a.to]
					if to == c {
						continue
					}
					next := defined(to)
					for w := range in {
						next[w] |= in[w]
					}
					if a.on != workflow.OnError {
						setBits(next, sets[v])
					}
				}
			}
		}
	}
	var out []Finding
	for i, s := range g.nodes {
		var undefined []string
		for _, ref := range s.Reads() {
			root, _, _ := strings.Cut(ref, ".")
			if base[root] {
				continue
			}
			if b, ok := bit[root]; ok && defined(g.compOf[i])[b/64]&(1<<(b%64)) != 0 {
				continue
			}
			if !slices.Contains(undefined, ref) {
				undefined = append(undefined, ref)
			}
		}
		if len(undefined) > 0 {
			out = append(out, errorFinding(CodeUndefinedVariable, s.ID,
				"uses variables that no input, built-in or earlier step defines: %s", strings.Join(undefined, ", ")))
		}
	}
	return out
}

func setBits(set []uint64, bitsToSet []int) {
	for _, b := range bitsToSet {
		set[b/64] |= 1 << (b % 64)
	}
}
