package templates

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"floh/connectors"
	"floh/connectors/builtin"
	"floh/engine/lint"
	"floh/engine/workflow"
)

// catalogue is a fake connector catalogue over the real connector types: refs (ids and
// names) to instances. It serves Insert and lint alike.
type catalogue struct {
	reg       *connectors.Registry
	instances map[string]Instance
}

func (c catalogue) Instance(ref string) (Instance, bool) {
	in, ok := c.instances[ref]
	return in, ok
}

func (c catalogue) Connector(ref string) (lint.Instance, bool) {
	in, ok := c.instances[ref]
	if !ok {
		return lint.Instance{}, false
	}
	t := c.reg.Type(in.Type)
	return lint.Instance{ID: in.ID, Name: in.Name, Type: t}, t != nil
}

// newCatalogue has one instance per type the templates use, plus a second directory.
func newCatalogue(t *testing.T) catalogue {
	t.Helper()
	reg, err := builtin.Registry()
	if err != nil {
		t.Fatal(err)
	}
	c := catalogue{reg: reg, instances: map[string]Instance{}}
	for _, in := range []Instance{
		{ID: "11111111-1111-1111-1111-111111111111", Name: "Corp AD", Type: "activedirectory"},
		{ID: "22222222-2222-2222-2222-222222222222", Name: "Authifi prod", Type: "authifi"},
		{ID: "33333333-3333-3333-3333-333333333333", Name: "Mail relay", Type: "email"},
		{ID: "44444444-4444-4444-4444-444444444444", Name: "Lab LDAP", Type: "ldap"},
	} {
		c.instances[in.ID], c.instances[in.Name] = in, in
	}
	return c
}

// instanceOf is the id of the catalogue's instance of a type.
func (c catalogue) instanceOf(t *testing.T, typ string) string {
	t.Helper()
	for ref, in := range c.instances {
		if in.Type == typ && ref == in.ID {
			return in.ID
		}
	}
	t.Fatalf("no %s instance in the catalogue", typ)
	return ""
}

// blank is the draft a new workflow starts with.
func blank() *workflow.Definition {
	return &workflow.Definition{
		Name: "New workflow", Variables: []workflow.Variable{},
		Steps: []workflow.Step{{ID: "start", Name: "Start", Type: workflow.TypeStart}, {ID: "end", Name: "End", Type: workflow.TypeEnd}},
		Edges: []workflow.Edge{{From: "start", To: "end", On: workflow.OnSuccess}},
	}
}

// bindAll binds every connector slot to the catalogue's instance of its type and every
// variable slot to a new variable named like the slot.
func bindAll(t *testing.T, c catalogue, tpl Template) map[string]string {
	t.Helper()
	b := map[string]string{}
	for _, s := range tpl.Slots {
		if s.Kind == SlotConnector {
			b[s.Name] = c.instanceOf(t, s.ConnectorType)
		} else {
			b[s.Name] = s.Name
		}
	}
	return b
}

// lintClean fails the test for any error or warning, and returns the findings.
func lintClean(t *testing.T, d *workflow.Definition, c catalogue) []lint.Finding {
	t.Helper()
	findings := lint.Lint(d, c)
	for _, f := range findings {
		if f.Severity == lint.SeverityError || f.Severity == lint.SeverityWarning {
			t.Errorf("%s: %s %s at %q: %s", d.Name, f.Severity, f.Code, f.StepID, f.Message)
		}
	}
	return findings
}

func TestTemplatesLoad(t *testing.T) {
	all := All()
	if len(all) != 5 {
		t.Fatalf("%d templates, want the five of PRODUCT §4", len(all))
	}
	ids := map[string]bool{}
	for _, tpl := range all {
		if ids[tpl.ID] {
			t.Errorf("template id %s twice", tpl.ID)
		}
		ids[tpl.ID] = true
		got, ok := Find(tpl.ID)
		if !ok || got.Name != tpl.Name {
			t.Errorf("Find(%s) = %v, %v", tpl.ID, got.Name, ok)
		}
	}
	chain, ok := Find("provisioning-chain")
	if !ok || chain.Name != "Provisioning Chain — with failure routing" || chain.Category != "Workflow Definition" {
		t.Fatalf("the provisioning chain: %+v", chain)
	}
	if _, ok := Find("nope"); ok {
		t.Error("Find of an unknown id")
	}
	if cats := Categories(); cats[0] != "Workflow Definition" || len(cats) != 5 {
		t.Errorf("categories: %v", cats)
	}
	// The files on disk parse as the package loaded them.
	for _, name := range files {
		raw, err := data.ReadFile("data/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parse(raw); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// The provisioning chain is the one PRODUCT §4 spells out step by step.
func TestProvisioningChainShape(t *testing.T) {
	chain, _ := Find("provisioning-chain")
	var path []string
	for at := chain.Entry; at != ""; {
		st := stepOf(chain, at)
		what := st.Type
		if st.Type == workflow.TypeConnector {
			what = st.Config["connectorId"].(string) + "." + st.Config["command"].(string)
		}
		path = append(path, what)
		at = nextOf(chain, at, workflow.OnSuccess)
	}
	want := []string{"user_create", "activeDirectory.createAccount", "activeDirectory.setPassword", "activeDirectory.addToGroup",
		"authifi.createUser", "authifi.assignRoles", "notification"}
	if !slices.Equal(path, want) {
		t.Fatalf("success path %v, want %v", path, want)
	}
	admin := ""
	for _, st := range chain.Steps {
		if st.Type != workflow.TypeConnector {
			continue
		}
		to := nextOf(chain, st.ID, workflow.OnError)
		if to == "" || (admin != "" && to != admin) {
			t.Errorf("%s's error edge leads to %q, want the one shared admin notification", st.ID, to)
		}
		admin = to
	}
	if n := stepOf(chain, admin); n.Type != workflow.TypeNotification || !slices.Contains(n.Config["to"].([]any), "role:Admin") {
		t.Errorf("the error edges lead to %+v, not a notification to admins", n)
	}
}

func stepOf(t Template, id string) workflow.Step {
	for _, st := range t.Steps {
		if st.ID == id {
			return st
		}
	}
	return workflow.Step{}
}

func nextOf(t Template, from, on string) string {
	for _, e := range t.Edges {
		if e.From == from && e.On == on {
			return e.To
		}
	}
	return ""
}

// Every template's connector steps use real commands with the params their schemas take:
// the fragment is checked against the registry on its own, before any insertion.
func TestTemplatesUseRealCommands(t *testing.T) {
	reg, err := builtin.Registry()
	if err != nil {
		t.Fatal(err)
	}
	for _, tpl := range All() {
		for _, st := range tpl.Steps {
			if st.Type != workflow.TypeConnector {
				continue
			}
			slot := tpl.Slot(st.Config["connectorId"].(string))
			typ := reg.Type(slot.ConnectorType)
			if typ == nil {
				t.Fatalf("%s: slot %s has the unknown connector type %s", tpl.ID, slot.Name, slot.ConnectorType)
			}
			cmd := typ.Command(st.Config["command"].(string))
			if cmd == nil {
				t.Errorf("%s/%s: %s has no command %v", tpl.ID, st.ID, typ.Name, st.Config["command"])
				continue
			}
			params, _ := st.Config["params"].(map[string]any)
			for name := range params {
				if cmd.Param(name) == nil {
					t.Errorf("%s/%s: %s takes no param %s", tpl.ID, st.ID, cmd.Name, name)
				}
			}
		}
	}
}

// check refuses what would not insert cleanly, naming the problem.
func TestCheckRefusesBrokenTemplates(t *testing.T) {
	raw, err := data.ReadFile("data/provisioning-chain.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		edit func(doc map[string]any)
		want string
	}{
		{"unknown field", func(d map[string]any) { d["slotz"] = 1 }, "unknown field"},
		{"no category", func(d map[string]any) { d["category"] = "" }, "needs an id, a name, a category"},
		{"duplicate slot", func(d map[string]any) { d["slots"] = append(d["slots"].([]any), d["slots"].([]any)[0]) }, "declared twice"},
		{"bad slot kind", func(d map[string]any) { slot(d, 0)["kind"] = "widget" }, "a connector slot names a connector type"},
		{"unbound connector", func(d map[string]any) { config(d, 1)["connectorId"] = "Corp AD" }, `connectorId "Corp AD" is not a connector slot`},
		{"unknown variable", func(d map[string]any) { config(d, 0)["email"] = "{{mail}}" }, `reads "mail"`},
		{"missing required config", func(d map[string]any) { delete(config(d, 1), "command") }, "config.command: is required"},
		{"edge to nowhere", func(d map[string]any) {
			d["edges"] = append(d["edges"].([]any), map[string]any{"from": "createAccount", "to": "gone", "on": "expired"})
		}, "names a step the fragment does not have"},
		{"bad entry", func(d map[string]any) { d["entry"] = "gone" }, `entry "gone"`},
		{"exit with an edge", func(d map[string]any) { d["exits"] = []any{map[string]any{"from": "createAccount", "on": "success"}} }, "already has an edge"},
		{"no exit", func(d map[string]any) { d["exits"] = []any{} }, "at least one exit"},
		{"a start step", func(d map[string]any) {
			d["steps"] = append(d["steps"].([]any), map[string]any{"id": "begin", "name": "Begin", "type": "start"})
		}, "has no start step"},
		{"output named like a slot", func(d map[string]any) { config(d, 1)["output"] = "email" }, `sets "email", which is a slot`},
	} {
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		c.edit(doc)
		edited, _ := json.Marshal(doc)
		_, err := parse(edited)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to say %q", c.name, err, c.want)
		}
	}
}

func slot(doc map[string]any, i int) map[string]any {
	return doc["slots"].([]any)[i].(map[string]any)
}

func config(doc map[string]any, i int) map[string]any {
	return doc["steps"].([]any)[i].(map[string]any)["config"].(map[string]any)
}
