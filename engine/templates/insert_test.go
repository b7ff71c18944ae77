package templates

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"floh/engine/lint"
	"floh/engine/workflow"
)

func mustInsert(t *testing.T, draft *workflow.Definition, id string, bindings map[string]string, c catalogue) Result {
	t.Helper()
	tpl, ok := Find(id)
	if !ok {
		t.Fatalf("no template %s", id)
	}
	res, err := Insert(draft, tpl, bindings, c)
	if err != nil {
		t.Fatalf("insert %s: %v", id, err)
	}
	return res
}

func edgesFrom(d *workflow.Definition, from string) []workflow.Edge {
	var out []workflow.Edge
	for _, e := range d.Edges {
		if e.From == from {
			out = append(out, e)
		}
	}
	return out
}

// Each template, inserted into a blank draft with its slots bound to matching instances, is
// complete enough to publish and lints clean.
func TestEveryTemplateInsertedIntoABlankDraftLintsClean(t *testing.T) {
	c := newCatalogue(t)
	for _, tpl := range All() {
		t.Run(tpl.ID, func(t *testing.T) {
			draft := blank()
			res := mustInsert(t, draft, tpl.ID, bindAll(t, c, tpl), c)
			d := res.Definition
			if problems := d.Validate(false); len(problems) > 0 {
				t.Fatalf("not publishable: %v", problems)
			}
			lintClean(t, d, c)
			if !res.Connected || len(res.Unconnected) != 0 || res.Entry != tpl.Entry || len(res.Renamed) != 0 {
				t.Fatalf("result: %+v", res)
			}
			if got := d.Next("start", workflow.OnSuccess); got != tpl.Entry {
				t.Errorf("start leads to %q, want the entry %s", got, tpl.Entry)
			}
			for _, x := range tpl.Exits {
				if got := d.Next(x.From, x.On); got != "end" {
					t.Errorf("exit %s on %s leads to %q, want end", x.From, x.On, got)
				}
			}
			var slotVars []string
			for _, s := range tpl.Slots {
				if s.Kind == SlotVariable {
					slotVars = append(slotVars, s.Name)
				}
			}
			var added []string
			for _, v := range d.Variables {
				added = append(added, v.Name)
				if s := tpl.Slot(v.Name); s == nil || v.Type != s.VariableType || !v.Required || v.Description != s.Description {
					t.Errorf("variable %+v does not match its slot", v)
				}
			}
			if !slices.Equal(added, slotVars) {
				t.Errorf("variables %v, want one per variable slot %v", added, slotVars)
			}
			for _, st := range d.Steps {
				ref, ok := st.Config["connectorId"].(string)
				if ok && c.instances[ref].ID != ref {
					t.Errorf("step %s runs on %q, not a bound instance id", st.ID, ref)
				}
			}
			if len(d.Steps) != 2+len(tpl.Steps) || len(res.Steps) != len(tpl.Steps) {
				t.Errorf("%d steps, %d inserted", len(d.Steps), len(res.Steps))
			}
			if len(draft.Steps) != 2 || len(draft.Edges) != 1 || draft.Edges[0].To != "end" || len(draft.Variables) != 0 {
				t.Errorf("the draft given was changed: %+v", draft)
			}
		})
	}
}

// Instances may be bound by name as well as by id; the step keeps the reference as given.
func TestInsertBindsConnectorsByName(t *testing.T) {
	c := newCatalogue(t)
	res := mustInsert(t, blank(), "offboarding", map[string]string{
		"activeDirectory": "Corp AD", "authifi": "Authifi prod", "employee": "leaver", "username": "login",
	}, c)
	d := res.Definition
	if ref := d.Step("disableAccount").Config["connectorId"]; ref != "Corp AD" {
		t.Errorf("connectorId %v", ref)
	}
	lintClean(t, d, c)
}

// Binding a variable slot renames what the fragment reads: templates and expressions alike,
// to an existing variable or a new one.
func TestInsertRenamesVariablePlaceholders(t *testing.T) {
	c := newCatalogue(t)
	draft := blank()
	draft.Variables = []workflow.Variable{{Name: "changed", Type: "list", Required: true}, {Name: "other", Type: "number"}}
	res := mustInsert(t, draft, "post-sync-onboarding", map[string]string{
		"authifi": c.instanceOf(t, "authifi"), "records": "changed", "resourceType": "kind",
	}, c)
	d := res.Definition
	when := d.Step("isNewUser").Config["branches"].([]any)[0].(map[string]any)["when"]
	if when != `kind == "user" && len(changed) > 0 && (changed[0].email ?? "") != ""` {
		t.Errorf("expression: %v", when)
	}
	if email := d.Step("createUser").Config["params"].(map[string]any)["email"]; email != "{{changed.0.email}}" {
		t.Errorf("template: %v", email)
	}
	if len(res.AddedVariables) != 1 || res.AddedVariables[0].Name != "kind" || res.AddedVariables[0].Type != "string" {
		t.Errorf("added %+v, want only kind (changed exists)", res.AddedVariables)
	}
	if len(d.Variables) != 3 || d.Variables[0].Name != "changed" || d.Variables[2].Name != "kind" {
		t.Errorf("variables %+v", d.Variables)
	}
	lintClean(t, d, c)

	// Two slots may share one variable when their types agree.
	res = mustInsert(t, blank(), "provisioning-chain", map[string]string{
		"activeDirectory": c.instanceOf(t, "activedirectory"), "authifi": c.instanceOf(t, "authifi"),
		"email": "login", "username": "login", "displayName": "name", "initialPassword": "pw", "adGroup": "group", "authifiRoles": "roles",
	}, c)
	if params := res.Definition.Step("createAccount").Config["params"].(map[string]any); params["username"] != "{{login}}" || params["email"] != "{{login}}" {
		t.Errorf("params %v", params)
	}
	if len(res.AddedVariables) != 5 {
		t.Errorf("added %+v, want login once", res.AddedVariables)
	}
}

// A draft that already has the fragment's ids and outputs: the fragment's are renamed with
// the first free suffix, and its edges, entry, exits and readers follow.
func TestInsertRenamesCollidingIDsAndOutputs(t *testing.T) {
	c := newCatalogue(t)
	draft := blank()
	draft.Steps = append(draft.Steps,
		workflow.Step{ID: "createAccount", Name: "Old create", Type: workflow.TypeConnector, Config: map[string]any{
			"connectorId": "Corp AD", "command": "createAccount", "params": map[string]any{"username": "x"}, "output": "adAccount"}},
		workflow.Step{ID: "createAccount_2", Name: "Older create", Type: workflow.TypeTransform, Config: map[string]any{"set": map[string]any{"authifiUser": `"x"`}}},
		workflow.Step{ID: "failed", Name: "Failed", Type: workflow.TypeEnd},
	)
	draft.Edges = []workflow.Edge{{From: "start", To: "createAccount", On: "success"}, {From: "createAccount", To: "createAccount_2", On: "success"}, {From: "createAccount_2", To: "end", On: "success"}}
	res := mustInsert(t, draft, "provisioning-chain", bindAll(t, newCatalogue(t), mustFind(t, "provisioning-chain")), c)
	d := res.Definition
	want := []Rename{
		{Kind: RenamedStep, From: "createAccount", To: "createAccount_3"},
		{Kind: RenamedStep, From: "failed", To: "failed_2"},
		{Kind: RenamedVariable, From: "adAccount", To: "adAccount_2"},
		{Kind: RenamedVariable, From: "authifiUser", To: "authifiUser_2"},
	}
	if !slices.Equal(res.Renamed, want) {
		t.Fatalf("renamed %+v, want %+v", res.Renamed, want)
	}
	created := d.Step("createAccount_3")
	if created == nil || created.Name != "Create AD account (3)" || created.Config["output"] != "adAccount_2" {
		t.Fatalf("the renamed step: %+v", created)
	}
	if d.Step("createAccount").Name != "Old create" || d.Step("createAccount").Config["output"] != "adAccount" {
		t.Error("the draft's own step changed")
	}
	if d.Next("createFlohUser", "success") != "createAccount_3" || d.Next("createAccount_3", "success") != "setPassword" ||
		d.Next("createAccount_3", "error") != "notifyAdmins" || d.Next("notifyAdmins", "success") != "failed_2" {
		t.Errorf("edges not rewired: %+v", d.Edges)
	}
	body := d.Step("notifySuccess").Config["body"].(string)
	if !strings.Contains(body, "{{adAccount_2.dn}}") || !strings.Contains(body, "{{authifiUser_2.id}}") {
		t.Errorf("readers of renamed outputs: %q", body)
	}
	// The start leads to a step, not an end: the fragment goes beside.
	if res.Connected || d.Next("start", "success") != "createAccount" {
		t.Errorf("connected %v; start leads to %s", res.Connected, d.Next("start", "success"))
	}
}

func mustFind(t *testing.T, id string) Template {
	t.Helper()
	tpl, ok := Find(id)
	if !ok {
		t.Fatalf("no template %s", id)
	}
	return tpl
}

// Inserting the same template twice: the first is spliced in, the second renamed and placed
// beside, its exit left for the admin; a third copy takes the next suffix.
func TestInsertTheSameTemplateTwice(t *testing.T) {
	c := newCatalogue(t)
	tpl := mustFind(t, "provisioning-chain")
	b := bindAll(t, c, tpl)
	first := mustInsert(t, blank(), tpl.ID, b, c)
	second := mustInsert(t, first.Definition, tpl.ID, b, c)
	d := second.Definition
	if second.Connected || len(second.Unconnected) != 1 || second.Unconnected[0] != (Exit{From: "notifySuccess_2", On: "success"}) {
		t.Fatalf("second: connected %v, unconnected %+v", second.Connected, second.Unconnected)
	}
	if len(second.AddedVariables) != 0 || len(d.Variables) != len(first.Definition.Variables) {
		t.Errorf("the second copy reuses the variables: added %+v", second.AddedVariables)
	}
	if len(second.Renamed) != len(tpl.Steps)+2 || second.Entry != "createFlohUser_2" {
		t.Errorf("renamed %+v, entry %s", second.Renamed, second.Entry)
	}
	for _, id := range second.Steps {
		if !strings.HasSuffix(id, "_2") {
			t.Errorf("inserted step %s has no suffix", id)
		}
	}
	if len(edgesFrom(d, "notifySuccess_2")) != 0 || d.Next("start", "success") != "createFlohUser" {
		t.Errorf("the second copy is connected: %+v", d.Edges)
	}
	if d.Next("assignRoles_2", "error") != "notifyAdmins_2" || !strings.Contains(d.Step("notifySuccess_2").Config["body"].(string), "{{adAccount_2.dn}}") {
		t.Error("the second copy's edges and outputs are its own")
	}
	// Only the second copy's loose exit is wrong with the graph.
	for _, f := range lint.Lint(d, c) {
		if f.Severity == lint.SeverityError {
			t.Errorf("error after the second insertion: %+v", f)
		}
	}
	third := mustInsert(t, d, tpl.ID, b, c)
	if third.Entry != "createFlohUser_3" || third.Definition.Step("createAccount_3").Config["output"] != "adAccount_3" {
		t.Errorf("third: entry %s, renamed %+v", third.Entry, third.Renamed)
	}
}

// Splice or beside, by the draft's start.
func TestInsertConnectsOrPlacesBeside(t *testing.T) {
	c := newCatalogue(t)
	tpl := mustFind(t, "access-request")
	b := bindAll(t, c, tpl)
	start := workflow.Step{ID: "start", Name: "Start", Type: workflow.TypeStart}
	end := func(id string) workflow.Step { return workflow.Step{ID: id, Name: id, Type: workflow.TypeEnd} }
	notify := workflow.Step{ID: "hello", Name: "Hello", Type: workflow.TypeNotification,
		Config: map[string]any{"channel": "in_app", "to": []any{"role:Admin"}, "body": "hi"}}
	for _, c2 := range []struct {
		name      string
		steps     []workflow.Step
		edges     []workflow.Edge
		connected bool
		exitTo    string // where the exit leads when connected
		newEnd    bool
	}{
		{"start → end", []workflow.Step{start, end("done")}, []workflow.Edge{{From: "start", To: "done", On: "success"}}, true, "done", false},
		{"start without a success edge, one end", []workflow.Step{start, end("done")}, nil, true, "done", false},
		{"start without a success edge, no end", []workflow.Step{start}, nil, true, "end", true},
		{"start without a success edge, two ends", []workflow.Step{start, end("end"), end("other")}, nil, true, "end_2", true},
		{"start leads to a step", []workflow.Step{start, notify, end("end")},
			[]workflow.Edge{{From: "start", To: "hello", On: "success"}, {From: "hello", To: "end", On: "success"}}, false, "", false},
		{"start's success edge leads nowhere", []workflow.Step{start, end("end")}, []workflow.Edge{{From: "start", To: "gone", On: "success"}}, false, "", false},
		{"no start", []workflow.Step{end("end")}, nil, false, "", false},
		{"two starts", []workflow.Step{start, {ID: "start2", Type: workflow.TypeStart}, end("end")}, nil, false, "", false},
		{"an empty draft", nil, nil, false, "", false},
	} {
		draft := &workflow.Definition{Name: "d", Steps: c2.steps, Edges: c2.edges}
		res := mustInsert(t, draft, tpl.ID, b, c)
		d := res.Definition
		if res.Connected != c2.connected {
			t.Errorf("%s: connected %v", c2.name, res.Connected)
			continue
		}
		if !c2.connected {
			if len(res.Unconnected) != 1 || d.Next("notifyGranted", "success") != "" || len(d.Steps) != len(c2.steps)+len(tpl.Steps) {
				t.Errorf("%s: beside: %+v", c2.name, res)
			}
			continue
		}
		if d.Next("start", "success") != "approverApproval" || d.Next("notifyGranted", "success") != c2.exitTo {
			t.Errorf("%s: start → %s, exit → %s", c2.name, d.Next("start", "success"), d.Next("notifyGranted", "success"))
		}
		if made := d.Step(c2.exitTo); c2.newEnd != slices.Contains(res.Steps, c2.exitTo) || made == nil || made.Type != workflow.TypeEnd {
			t.Errorf("%s: end step %+v, inserted %v", c2.name, made, res.Steps)
		}
		if len(c2.steps) <= 2 {
			// A draft of a start and at most one end is now a whole workflow.
			lintClean(t, d, c)
		}
	}
}

// Every binding problem is a field error naming bindings.<slot>, all reported at once.
func TestInsertBindingErrors(t *testing.T) {
	c := newCatalogue(t)
	tpl := mustFind(t, "onboarding")
	draft := blank()
	draft.Variables = []workflow.Variable{{Name: "count", Type: "number"}}
	draft.Steps = append(draft.Steps, workflow.Step{ID: "lookup", Type: workflow.TypeConnector,
		Config: map[string]any{"connectorId": "Corp AD", "command": "checkAccountExists", "output": "found"}})
	before, _ := json.Marshal(draft)
	good := bindAll(t, c, tpl)
	for _, cse := range []struct {
		name  string
		edit  func(b map[string]string)
		field string
		want  string
	}{
		{"missing connector", func(b map[string]string) { delete(b, "activeDirectory") }, "bindings.activeDirectory", "is required: the id or name of the connector of type activedirectory that plays Active Directory"},
		{"blank variable", func(b map[string]string) { b["username"] = "  " }, "bindings.username", "is required: choose a variable of type string for AD username"},
		{"unknown slot", func(b map[string]string) { b["printer"] = "x" }, "bindings.printer", "is not a slot of Onboarding"},
		{"unknown connector", func(b map[string]string) { b["authifi"] = "Nope" }, "bindings.authifi", `no connector is named or has the id "Nope"`},
		{"wrong connector type", func(b map[string]string) { b["activeDirectory"] = "Lab LDAP" }, "bindings.activeDirectory", "Lab LDAP is a connector of type ldap; Active Directory needs one of type activedirectory"},
		{"email slot given a directory", func(b map[string]string) { b["mail"] = "Corp AD" }, "bindings.mail", "Email needs one of type email"},
		{"variable of another type", func(b map[string]string) { b["employee"] = "count" }, "bindings.employee", "the variable count is of type number; Joiner needs one of type user"},
		{"unusable name", func(b map[string]string) { b["username"] = "user name" }, "bindings.username", "cannot name a variable"},
		{"reserved name", func(b map[string]string) { b["username"] = "initiator" }, "bindings.username", "is reserved"},
		{"name a step sets", func(b map[string]string) { b["username"] = "found" }, "bindings.username", "found is set by the draft's step lookup"},
		{"two slots, one new name, two types", func(b map[string]string) { b["employee"] = "username" }, "bindings.username", "the variable username is of type user"},
	} {
		b := map[string]string{}
		for k, v := range good {
			b[k] = v
		}
		cse.edit(b)
		_, err := Insert(draft, tpl, b, c)
		var fes workflow.ValidationErrors
		if !errors.As(err, &fes) || len(fes) != 1 || fes[0].Field != cse.field || !strings.Contains(fes[0].Message, cse.want) {
			t.Errorf("%s: %v, want %s: …%s…", cse.name, err, cse.field, cse.want)
		}
	}
	// All at once, and without a catalogue no connector is found.
	_, err := Insert(draft, tpl, map[string]string{"extra": "x"}, nil)
	var fes workflow.ValidationErrors
	if !errors.As(err, &fes) || len(fes) != len(tpl.Slots)+1 {
		t.Errorf("every problem: %v", err)
	}
	_, err = Insert(draft, tpl, good, nil)
	if !errors.As(err, &fes) || len(fes) != 3 || !strings.Contains(fes[0].Message, "no connector") {
		t.Errorf("no catalogue: %v", err)
	}
	if after, _ := json.Marshal(draft); string(after) != string(before) {
		t.Errorf("a refused insertion changed the draft:\n%s\n%s", before, after)
	}
}

// A variable slot suggests the draft's variable of its name and type, else a free new name.
func TestSuggestedVariable(t *testing.T) {
	draft := blank()
	draft.Variables = []workflow.Variable{{Name: "email", Type: "string"}, {Name: "username", Type: "number"}, {Name: "username_2", Type: "list"}}
	draft.Steps = append(draft.Steps, workflow.Step{ID: "c", Type: workflow.TypeConnector, Config: map[string]any{"output": "adGroup"}})
	for _, c := range []struct {
		slot   Slot
		name   string
		exists bool
	}{
		{Slot{Name: "email", Kind: SlotVariable, VariableType: "string"}, "email", true},
		{Slot{Name: "username", Kind: SlotVariable, VariableType: "string"}, "username_3", false},
		{Slot{Name: "adGroup", Kind: SlotVariable, VariableType: "string"}, "adGroup_2", false},
		{Slot{Name: "role", Kind: SlotVariable, VariableType: "string"}, "role", false},
	} {
		if name, exists := SuggestedVariable(draft, c.slot); name != c.name || exists != c.exists {
			t.Errorf("%s: %s %v, want %s %v", c.slot.Name, name, exists, c.name, c.exists)
		}
	}
}

// The provisioning chain bound to an AD and an Authifi instance lints clean; without one
// connector step's error edge, lint names exactly that step, and nothing else.
func TestProvisioningChainWithoutAnErrorEdge(t *testing.T) {
	c := newCatalogue(t)
	tpl := mustFind(t, "provisioning-chain")
	res := mustInsert(t, blank(), tpl.ID, bindAll(t, c, tpl), c)
	lintClean(t, res.Definition, c)
	removed := 0
	for _, st := range tpl.Steps {
		if st.Type != workflow.TypeConnector {
			continue
		}
		removed++
		d := *res.Definition
		d.Edges = slices.DeleteFunc(slices.Clone(d.Edges), func(e workflow.Edge) bool { return e.From == st.ID && e.On == workflow.OnError })
		var warnings []lint.Finding
		for _, f := range lint.Lint(&d, c) {
			if f.Severity == lint.SeverityError || f.Severity == lint.SeverityWarning {
				warnings = append(warnings, f)
			}
		}
		if len(warnings) != 1 || warnings[0].Code != "PROVISIONING_CHAIN_NO_ERROR_EDGE" || warnings[0].StepID != st.ID {
			t.Errorf("without %s's error edge: %+v", st.ID, warnings)
		}
	}
	if removed != 5 {
		t.Fatalf("%d connector steps, want the chain's five", removed)
	}
}

// A second copy placed beside the graph is only wrong where it is not connected: its steps
// are unreachable and its exit leads nowhere.
func TestASecondCopyBesideTheGraphIsOnlyUnconnected(t *testing.T) {
	c := newCatalogue(t)
	tpl := mustFind(t, "provisioning-chain")
	b := bindAll(t, c, tpl)
	first := mustInsert(t, blank(), tpl.ID, b, c)
	second := mustInsert(t, first.Definition, tpl.ID, b, c)
	for _, f := range lint.Lint(second.Definition, c) {
		switch {
		case f.Severity == lint.SeverityInfo:
		case f.Code == "UNREACHABLE_STEP" && strings.HasSuffix(f.StepID, "_2"):
		case f.Code == "DEAD_END" && f.StepID == "notifySuccess_2":
		default:
			t.Errorf("finding %+v", f)
		}
	}
	// Connected by hand as the flash tells the admin, it is clean again.
	d := second.Definition
	for i, e := range d.Edges {
		if e.From == "notifySuccess" {
			d.Edges[i].To = second.Entry
		}
	}
	d.Edges = append(d.Edges, workflow.Edge{From: "notifySuccess_2", To: "end", On: workflow.OnSuccess})
	lintClean(t, d, c)
}
