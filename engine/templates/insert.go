package templates

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"floh/engine/workflow"
)

// Instance is a connector instance as a binding finds it.
type Instance struct {
	ID, Name, Type string
}

// Catalogue finds live connector instances by id or name, as a step's connectorId does.
type Catalogue interface {
	Instance(ref string) (Instance, bool)
}

// Kinds of rename.
const (
	RenamedStep     = "step"
	RenamedVariable = "variable"
)

// Rename is a name of the template that insertion changed to keep the draft's.
type Rename struct {
	Kind string `json:"kind"` // RenamedStep, or RenamedVariable for a step's output
	From string `json:"from"`
	To   string `json:"to"`
}

// Result is what an insertion made.
type Result struct {
	// Definition is the draft with the template merged in.
	Definition *workflow.Definition
	// Steps are the inserted steps' ids as the new definition has them, in the template's
	// order; a new end step made to connect the fragment comes last.
	Steps   []string
	Entry   string
	Renamed []Rename
	// AddedVariables are the variables made for slots bound to new names.
	AddedVariables []workflow.Variable
	// Connected says the fragment was spliced between the start and an end step; otherwise
	// it was placed beside the graph and Unconnected are its exits, which lead nowhere yet.
	Connected   bool
	Unconnected []Exit
}

// Insert merges t into draft with the slots bound as bindings says (slot name → instance id
// or name, or variable name), by the rules of the package doc. draft is not changed. Binding
// problems are workflow.ValidationErrors naming "bindings.<slot>".
func Insert(draft *workflow.Definition, t Template, bindings map[string]string, cat Catalogue) (Result, error) {
	if draft == nil {
		draft = &workflow.Definition{}
	}
	b, err := bind(draft, t, bindings, cat)
	if err != nil {
		return Result{}, err
	}
	res := Result{AddedVariables: b.added}

	// Step ids: the first free suffix for each id the draft already has.
	used := map[string]bool{}
	draftIDs := map[string]bool{}
	for _, st := range draft.Steps {
		used[st.ID], draftIDs[st.ID] = true, true
	}
	for _, st := range t.Steps {
		used[st.ID] = true
	}
	stepIDs := map[string]string{}
	stepNumbers := map[string]int{}
	for _, st := range t.Steps {
		id := st.ID
		if draftIDs[id] {
			n := freeSuffix(id, used)
			id = suffixed(st.ID, n)
			used[id] = true
			stepNumbers[st.ID] = n
			res.Renamed = append(res.Renamed, Rename{Kind: RenamedStep, From: st.ID, To: id})
		}
		stepIDs[st.ID] = id
	}

	// Outputs: a name the fragment sets that the draft already uses gets a free suffix.
	taken := map[string]bool{}
	for name := range builtins {
		taken[name] = true
	}
	for _, v := range draft.Variables {
		taken[v.Name] = true
	}
	for _, st := range draft.Steps {
		for _, name := range draft.Sets(&st) {
			taken[name] = true
		}
	}
	for _, name := range b.variables {
		taken[name] = true
	}
	names := maps.Clone(taken)
	// A fragment has no subject variable of its own: an empty definition says what its
	// steps set.
	var fragment workflow.Definition
	var fragmentSets []string
	for _, st := range t.Steps {
		for _, name := range fragment.Sets(&st) {
			if !slices.Contains(fragmentSets, name) {
				fragmentSets = append(fragmentSets, name)
			}
			names[name] = true
		}
	}
	for _, s := range t.Slots {
		names[s.Name] = true
	}
	renames := map[string]string{}
	for slot, name := range b.variables {
		if slot != name {
			renames[slot] = name
		}
	}
	for _, name := range fragmentSets {
		if taken[name] {
			to := suffixed(name, freeSuffix(name, names))
			names[to] = true
			renames[name] = to
			res.Renamed = append(res.Renamed, Rename{Kind: RenamedVariable, From: name, To: to})
		}
	}

	def := *draft
	def.Variables = append(slices.Clone(draft.Variables), b.added...)
	def.Steps = slices.Clone(draft.Steps)
	def.Edges = slices.Clone(draft.Edges)
	for _, st := range t.Steps {
		renamed, err := workflow.RenameVariables(st, renames)
		if err != nil {
			return Result{}, fmt.Errorf("template %s: %w", t.ID, err)
		}
		renamed.ID = stepIDs[st.ID]
		if n := stepNumbers[st.ID]; n > 0 && renamed.Name != "" {
			renamed.Name += " (" + strconv.Itoa(n) + ")"
		}
		if ref, ok := renamed.Config["connectorId"].(string); ok {
			if instance, bound := b.connectors[ref]; bound {
				renamed.Config["connectorId"] = instance
			}
		}
		def.Steps = append(def.Steps, renamed)
		res.Steps = append(res.Steps, renamed.ID)
	}
	for _, e := range t.Edges {
		def.Edges = append(def.Edges, workflow.Edge{From: stepIDs[e.From], To: stepIDs[e.To], On: e.On})
	}
	res.Entry = stepIDs[t.Entry]

	end, ok := splice(draft, &def, res.Entry, used)
	if !ok {
		for _, x := range t.Exits {
			res.Unconnected = append(res.Unconnected, Exit{From: stepIDs[x.From], On: x.On})
		}
	} else {
		res.Connected = true
		if def.Step(end) == nil {
			def.Steps = append(def.Steps, workflow.Step{ID: end, Name: "End", Type: workflow.TypeEnd})
			res.Steps = append(res.Steps, end)
		}
		for _, x := range t.Exits {
			def.Edges = append(def.Edges, workflow.Edge{From: stepIDs[x.From], To: end, On: x.On})
		}
	}
	res.Definition = &def
	return res, nil
}

// splice leads the draft's start to entry in def, the draft with the fragment merged, when
// it may (see the package doc) and returns the end step the exits lead to: one of the
// draft's, or a free id for a new one. ok is false when the fragment goes beside the graph.
func splice(draft, def *workflow.Definition, entry string, used map[string]bool) (end string, ok bool) {
	var start string
	starts := 0
	var ends []string
	for _, st := range draft.Steps {
		switch st.Type {
		case workflow.TypeStart:
			start = st.ID
			starts++
		case workflow.TypeEnd:
			ends = append(ends, st.ID)
		}
	}
	if starts != 1 {
		return "", false
	}
	// The draft's edges come first in def, in their order.
	for i, e := range def.Edges[:len(draft.Edges)] {
		if e.From != start || e.On != workflow.OnSuccess {
			continue
		}
		target := draft.Step(e.To)
		if target == nil || target.Type != workflow.TypeEnd {
			return "", false
		}
		def.Edges[i].To = entry
		return e.To, true
	}
	def.Edges = append(def.Edges, workflow.Edge{From: start, To: entry, On: workflow.OnSuccess})
	if len(ends) == 1 {
		return ends[0], true
	}
	end = "end"
	if used[end] {
		end = suffixed(end, freeSuffix(end, used))
	}
	used[end] = true
	return end, true
}

// SuggestedVariable is what a variable slot binds to unless the admin chooses otherwise: the
// draft's variable of the slot's name and type when there is one (exists), else a new name
// the draft does not use: the slot's, or the first free suffix of it.
func SuggestedVariable(draft *workflow.Definition, slot Slot) (name string, exists bool) {
	used := map[string]bool{}
	for name := range builtins {
		used[name] = true
	}
	for _, v := range draft.Variables {
		if v.Name == slot.Name && v.Type == slot.VariableType {
			return v.Name, true
		}
		used[v.Name] = true
	}
	for _, st := range draft.Steps {
		for _, n := range draft.Sets(&st) {
			used[n] = true
		}
	}
	if !used[slot.Name] {
		return slot.Name, false
	}
	return suffixed(slot.Name, freeSuffix(slot.Name, used)), false
}

// freeSuffix is the first n from 2 with name_n unused.
func freeSuffix(name string, used map[string]bool) int {
	n := 2
	for used[suffixed(name, n)] {
		n++
	}
	return n
}

func suffixed(name string, n int) string { return name + "_" + strconv.Itoa(n) }

// binding is the slots resolved against a draft.
type binding struct {
	connectors map[string]string // connector slot → the instance reference given
	variables  map[string]string // variable slot → the variable it reads
	added      []workflow.Variable
}

// bind checks every binding and resolves it. Every problem is reported at once.
func bind(draft *workflow.Definition, t Template, bindings map[string]string, cat Catalogue) (*binding, error) {
	b := &binding{connectors: map[string]string{}, variables: map[string]string{}}
	var errs workflow.ValidationErrors
	fail := func(slot, format string, args ...any) {
		errs = append(errs, workflow.FieldError{Field: "bindings." + slot, Message: fmt.Sprintf(format, args...)})
	}
	types := map[string]string{}
	for _, v := range draft.Variables {
		types[v.Name] = v.Type
	}
	setBy := map[string]string{}
	for _, st := range draft.Steps {
		for _, name := range draft.Sets(&st) {
			if _, ok := setBy[name]; !ok {
				setBy[name] = st.ID
			}
		}
	}
	for _, s := range t.Slots {
		ref := strings.TrimSpace(bindings[s.Name])
		if ref == "" {
			if s.Kind == SlotConnector {
				fail(s.Name, "is required: the id or name of the connector of type %s that plays %s", s.ConnectorType, s.Label)
			} else {
				fail(s.Name, "is required: choose a variable of type %s for %s, or name a new one", s.VariableType, s.Label)
			}
			continue
		}
		if s.Kind == SlotConnector {
			var inst Instance
			found := false
			if cat != nil {
				inst, found = cat.Instance(ref)
			}
			switch {
			case !found:
				fail(s.Name, "no connector is named or has the id %q", ref)
			case inst.Type != s.ConnectorType:
				fail(s.Name, "%s is a connector of type %s; %s needs one of type %s", inst.Name, inst.Type, s.Label, s.ConnectorType)
			default:
				b.connectors[s.Name] = ref
			}
			continue
		}
		typ, exists := types[ref]
		switch {
		case exists && typ != s.VariableType:
			fail(s.Name, "the variable %s is of type %s; %s needs one of type %s, or a new name", ref, typ, s.Label, s.VariableType)
		case exists:
			b.variables[s.Name] = ref
		case workflow.NameProblem(ref) != "":
			fail(s.Name, "%s", workflow.NameProblem(ref))
		case setBy[ref] != "":
			fail(s.Name, "%s is set by the draft's step %s; choose another name for a new variable", ref, setBy[ref])
		default:
			v := workflow.Variable{Name: ref, Type: s.VariableType, Required: true, Description: s.Description}
			b.added = append(b.added, v)
			types[ref] = v.Type
			b.variables[s.Name] = ref
		}
	}
	var unknown []string
	for k := range bindings {
		if t.Slot(k) == nil {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		names := make([]string, len(t.Slots))
		for i, s := range t.Slots {
			names[i] = s.Name
		}
		fail(k, "is not a slot of %s (its slots: %s)", t.Name, strings.Join(names, ", "))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return b, nil
}

// readsOf lists the variables a step's templates and expressions read, by their first name.
func readsOf(st workflow.Step) []string {
	var out []string
	for _, path := range st.Reads() {
		root, _, _ := strings.Cut(path, ".")
		if !slices.Contains(out, root) {
			out = append(out, root)
		}
	}
	return out
}
