// Package templates holds the workflow templates an admin inserts into an open draft
// ("Templates → Insert from Template", PRODUCT §4) and the insertion itself. It is pure: the
// caller loads the draft, resolves connector instances through a Catalogue, and saves the
// result.
//
// # Templates
//
// A template is a definition fragment (steps and edges, an entry step and exit edges) with
// slots. A connector slot stands for a connector instance of one type: a fragment step whose
// config.connectorId is the slot's name runs on the instance the slot is bound to. A variable
// slot stands for a variable of one type: the fragment's templates ({{employee.email}}) and
// expressions read it under the slot's name, and insertion renames them to the bound
// variable. The five templates live in data/*.json, embedded and checked when the package
// loads, so a template that would not insert cleanly fails every test rather than an admin.
//
// # Insertion rules
//
// Insert merges a template into a draft and never changes the draft it is given:
//
//  1. Bindings. Every slot needs a binding, and every binding a slot ("bindings.<slot>" names
//     the problem). A connector slot takes an instance's id or name whose type is the slot's
//     connector type; the step keeps the reference as given. A variable slot takes the name
//     of one of the draft's variables of the slot's type, or a new name, which is added to the
//     draft's variables (required, with the slot's description). A new name must be usable
//     (letters, digits and _, not a built-in) and must not be a name a draft step sets. Two
//     slots may share a variable when their types agree.
//  2. Step ids. A fragment step whose id the draft already uses is renamed with the first free
//     suffix: createAccount becomes createAccount_2, then createAccount_3; its name gets the
//     same number ("Create AD account (2)"). The fragment's edges, entry and exits follow.
//  3. Outputs. A variable a fragment step sets (a connector's output, a transform's set) whose
//     name the draft already uses, as an input, a step's output or a built-in, is renamed the
//     same way (adAccount becomes adAccount_2), and every template and expression of the
//     fragment that reads it is rewritten, so a second copy never overwrites the first's.
//  4. Connecting. When the draft's one start step has no success edge, or its success edge
//     leads straight to an end step (the blank draft start → end a new workflow begins with),
//     the fragment is spliced in: start's success leads to the fragment's entry, and each exit
//     leads to that end step (with no success edge, to the draft's only end step, or to a new
//     end step when it has none or several). Otherwise the fragment is placed beside the
//     graph, unconnected: its exits are left for the admin to connect, and the result says so.
//     The layered layout draws such a fragment as a component of its own.
//
// Inserting the same template twice works: the second copy is renamed by rules 2 and 3 and,
// the start no longer leading straight to an end, placed beside the first.
package templates

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"floh/engine/workflow"
)

// Slot kinds.
const (
	SlotConnector = "connector"
	SlotVariable  = "variable"
)

// Slot is a hole in a template that an admin binds when inserting it.
type Slot struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	Kind  string `json:"kind"` // SlotConnector or SlotVariable
	// ConnectorType is the connector type a connector slot's instance must have.
	ConnectorType string `json:"connectorType,omitempty"`
	// VariableType is the type a variable slot's variable must have.
	VariableType string `json:"variableType,omitempty"`
	Description  string `json:"description"`
}

// Exit is an outcome of a fragment step that leaves the fragment: connecting the fragment
// gives it an edge to the draft's end.
type Exit struct {
	From string `json:"from"`
	On   string `json:"on"`
}

// Fragment is the part of a definition a template inserts.
type Fragment struct {
	Steps []workflow.Step `json:"steps"`
	Edges []workflow.Edge `json:"edges"`
	// Entry is the step the draft's start leads to when the fragment is connected.
	Entry string `json:"entry"`
	Exits []Exit `json:"exits"`
}

// Template is one workflow template.
type Template struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Category    string `json:"category"`
	Description string `json:"description"`
	Slots       []Slot `json:"slots"`
	Fragment
}

// Slot returns the slot named name, or nil.
func (t *Template) Slot(name string) *Slot {
	for i := range t.Slots {
		if t.Slots[i].Name == name {
			return &t.Slots[i]
		}
	}
	return nil
}

// Definition is the fragment as a definition of its own, named after the template: what a
// preview draws. Its exits lead nowhere.
func (t *Template) Definition() *workflow.Definition {
	d := &workflow.Definition{Name: t.Name, Description: t.Description, Category: t.Category, Variables: []workflow.Variable{}}
	d.Steps = slices.Clone(t.Steps)
	d.Edges = slices.Clone(t.Edges)
	return d
}

//go:embed data/*.json
var data embed.FS

// files are the templates in the order they are offered; the first's category, "Workflow
// Definition", is the one the runbook sends admins to.
var files = []string{
	"provisioning-chain.json",
	"onboarding.json",
	"offboarding.json",
	"access-request.json",
	"post-sync-onboarding.json",
}

// all is every template, loaded once: a template that does not load is a bug in this
// package, found by its tests, so loading panics like regexp.MustCompile.
var all = mustLoad()

func mustLoad() []Template {
	var out []Template
	for _, name := range files {
		raw, err := data.ReadFile("data/" + name)
		if err != nil {
			panic(err)
		}
		t, err := parse(raw)
		if err != nil {
			panic(fmt.Sprintf("template %s: %v", name, err))
		}
		out = append(out, t)
	}
	return out
}

// All returns every template, in the order they are offered. The caller may not change them.
func All() []Template { return all }

// Find returns the template with id.
func Find(id string) (Template, bool) {
	for _, t := range all {
		if t.ID == id {
			return t, true
		}
	}
	return Template{}, false
}

// Categories lists the templates' categories in the order they are first offered.
func Categories() []string {
	var out []string
	for _, t := range all {
		if !slices.Contains(out, t.Category) {
			out = append(out, t.Category)
		}
	}
	return out
}

// parse reads a template strictly and checks it: see check.
func parse(raw []byte) (Template, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var t Template
	if err := dec.Decode(&t); err != nil {
		return t, err
	}
	return t, check(&t)
}

// check makes sure a template inserts into any draft as the package doc says: a well-formed
// and complete fragment, whose connector references and variables are all its slots (or
// built-ins, or what its own steps set), with an entry and exits among its steps.
func check(t *Template) error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if t.ID == "" || t.Name == "" || t.Category == "" || t.Description == "" {
		add("needs an id, a name, a category and a description")
	}
	slotNames := map[string]bool{}
	for _, s := range t.Slots {
		if slotNames[s.Name] {
			add("slot %q is declared twice", s.Name)
		}
		slotNames[s.Name] = true
		if p := workflow.NameProblem(s.Name); p != "" {
			add("slot %s: %s", s.Name, p)
		}
		if s.Label == "" || s.Description == "" {
			add("slot %s needs a label and a description", s.Name)
		}
		switch {
		case s.Kind == SlotConnector && s.ConnectorType != "" && s.VariableType == "":
		case s.Kind == SlotVariable && slices.Contains(workflow.VariableTypes, s.VariableType) && s.ConnectorType == "":
		default:
			add("slot %s: a connector slot names a connector type, a variable slot a variable type", s.Name)
		}
	}
	// The fragment as a definition of its own, with its variable slots as inputs, must be
	// complete enough to publish: every required config key, templates and expressions that
	// parse. The graph itself is lint's, which the tests run on every template inserted.
	d := t.Definition()
	for _, s := range t.Slots {
		if s.Kind == SlotVariable {
			d.Variables = append(d.Variables, workflow.Variable{Name: s.Name, Type: s.VariableType})
		}
	}
	for _, fe := range d.Validate(false) {
		add("%s", fe.Error())
	}
	ids := map[string]bool{}
	sets := map[string]bool{}
	for _, st := range t.Steps {
		ids[st.ID] = true
		for _, name := range d.Sets(&st) {
			if slotNames[name] {
				add("step %s sets %q, which is a slot", st.ID, name)
			}
			sets[name] = true
		}
	}
	for _, st := range t.Steps {
		if ref, ok := st.Config["connectorId"].(string); ok {
			slot := t.Slot(ref)
			switch {
			case slot == nil || slot.Kind != SlotConnector:
				add("step %s: connectorId %q is not a connector slot", st.ID, ref)
			case st.Type == workflow.TypeNotification && slot.ConnectorType != workflow.EmailConnectorType:
				add("step %s: a notification sends through an email connector, not %s", st.ID, slot.ConnectorType)
			}
		}
		for _, name := range readsOf(st) {
			slot := t.Slot(name)
			if !builtins[name] && !sets[name] && (slot == nil || slot.Kind != SlotVariable) {
				add("step %s reads %q, which is no variable slot, built-in or output of the fragment", st.ID, name)
			}
		}
	}
	for _, e := range t.Edges {
		if !ids[e.From] || !ids[e.To] {
			add("edge %s → %s names a step the fragment does not have", e.From, e.To)
		}
	}
	if !ids[t.Entry] {
		add("entry %q is not a step of the fragment", t.Entry)
	}
	if len(t.Exits) == 0 {
		add("needs at least one exit")
	}
	for _, x := range t.Exits {
		if !ids[x.From] || x.On == "" {
			add("exit %s on %q is not an outcome of a step of the fragment", x.From, x.On)
		}
		for _, e := range t.Edges {
			if e.From == x.From && e.On == x.On {
				add("exit %s on %s already has an edge", x.From, x.On)
			}
		}
	}
	for _, st := range t.Steps {
		if st.Type == workflow.TypeStart {
			add("step %s: a fragment has no start step; the draft has one", st.ID)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// builtins are the variables every run has.
var builtins = map[string]bool{"initiator": true, "run": true, "now": true}
