package workflow

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"floh/connectors"
)

// catalogue is a fake connector catalogue: refs (ids or names) to types.
type catalogue map[string]*connectors.Type

func (c catalogue) Connector(ref string) (*connectors.Type, bool) {
	t, ok := c[ref]
	return t, ok
}

var directoryType = &connectors.Type{
	Name:  "activedirectory",
	Label: "Active Directory",
	Commands: []connectors.Command{
		{Name: "createAccount", Params: []connectors.Field{
			{Name: "username", Kind: connectors.KindString, Required: true},
			{Name: "ou", Kind: connectors.KindString, Required: true},
			{Name: "enabled", Kind: connectors.KindBoolean},
			{Name: "groups", Kind: connectors.KindStringList},
			{Name: "quota", Kind: connectors.KindInteger},
			{Name: "mode", Kind: connectors.KindString, Enum: []string{"a", "b"}},
		}},
		{Name: "ping"},
	},
}

var testCatalogue = catalogue{"ad": directoryType, "Active Directory": directoryType, "mail": {Name: "email"}}

// lintDoc parses a definition for a lint test.
func lintDoc(t *testing.T, doc string) *Definition {
	t.Helper()
	return mustParse(t, doc)
}

// chain builds a definition: start → the given steps in order on success → end.
func chain(t *testing.T, variables string, steps ...string) *Definition {
	t.Helper()
	all := append([]string{`{"id": "start", "type": "start"}`}, steps...)
	all = append(all, `{"id": "end", "type": "end"}`)
	var parsed []Step
	for _, s := range all {
		var st Step
		if err := json.Unmarshal([]byte(s), &st); err != nil {
			t.Fatalf("bad step %s: %v", s, err)
		}
		parsed = append(parsed, st)
	}
	d := &Definition{Name: "t", Steps: parsed}
	if variables != "" {
		if err := json.Unmarshal([]byte(variables), &d.Variables); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i+1 < len(parsed); i++ {
		d.Edges = append(d.Edges, Edge{From: parsed[i].ID, To: parsed[i+1].ID, On: OnSuccess})
	}
	return d
}

func TestLintClean(t *testing.T) {
	findings := Lint(mustParse(t, provisioning), testCatalogue)
	if len(findings) != 0 {
		t.Errorf("the provisioning definition should lint clean of errors: %+v", findings)
	}
	if findings == nil {
		t.Error("no findings must be an empty list, not nil")
	}
	if HasErrors(findings) {
		t.Error("HasErrors on no findings")
	}
}

func TestLint(t *testing.T) {
	tests := []struct {
		name string
		def  func(t *testing.T) *Definition
		want []Finding
	}{
		{"missing start", func(t *testing.T) *Definition {
			return lintDoc(t, `{"steps": [{"id": "end", "type": "end"}]}`)
		}, []Finding{{"MISSING_START", SeverityError, "", "the workflow has no start step"}}},
		{"no steps at all", func(t *testing.T) *Definition { return &Definition{} },
			[]Finding{{"MISSING_START", SeverityError, "", "the workflow has no start step"}}},
		{"multiple start", func(t *testing.T) *Definition {
			return lintDoc(t, `{"steps": [{"id": "a", "type": "start"}, {"id": "b", "type": "start"}, {"id": "e", "type": "end"}],
				"edges": [{"from": "a", "to": "e", "on": "success"}, {"from": "b", "to": "e", "on": "success"}]}`)
		}, []Finding{{"MULTIPLE_START", SeverityError, "", `the workflow has 2 start steps ("a", "b"); keep one`}}},
		{"edges to unknown steps", func(t *testing.T) *Definition {
			return lintDoc(t, `{"steps": [{"id": "s", "type": "start"}, {"id": "e", "type": "end"}],
				"edges": [{"from": "s", "to": "ghost", "on": "success"}, {"from": "s", "to": "spook", "on": "error"},
					{"from": "s", "to": "ghost", "on": "rejected"}, {"from": "nowhere", "to": "e", "on": "success"}]}`)
		}, []Finding{
			{"EDGE_UNKNOWN_STEP", SeverityError, "s", `edges name steps that do not exist: "ghost", "spook"`},
			{"EDGE_UNKNOWN_STEP", SeverityError, "nowhere", `edges name steps that do not exist: "nowhere"`},
		}},
		{"unknown connectors", func(t *testing.T) *Definition {
			return chain(t, "",
				`{"id": "a", "type": "connector", "config": {"connectorId": "LDAP prod", "command": "ping"}}`,
				`{"id": "b", "type": "connector", "config": {"command": "ping"}}`,
				`{"id": "c", "type": "connector", "config": {"connectorId": 12, "command": "ping"}}`,
				`{"id": "n", "type": "notification", "config": {"channel": "email", "to": ["x@example.test"], "body": "hi", "connectorId": "smtp"}}`,
				`{"id": "ok", "type": "notification", "config": {"channel": "email", "to": ["x@example.test"], "body": "hi", "connectorId": "mail"}}`,
				`{"id": "m", "type": "notification", "config": {"channel": "email", "to": ["x@example.test"], "body": "hi", "connectorId": "ad"}}`)
		}, []Finding{
			{"UNKNOWN_CONNECTOR", SeverityError, "a", `no connector is named or has the id "LDAP prod"`},
			{"UNKNOWN_CONNECTOR", SeverityError, "b", "no connector is chosen"},
			{"UNKNOWN_CONNECTOR", SeverityError, "c", "no connector is chosen"},
			{"UNKNOWN_CONNECTOR", SeverityError, "n", `no connector is named or has the id "smtp"`},
			{"UNKNOWN_CONNECTOR", SeverityError, "m", `"ad" is a connector of type Active Directory, not email; a notification sends email through an email connector`},
		}},
		{"unknown commands", func(t *testing.T) *Definition {
			return chain(t, "",
				`{"id": "a", "type": "connector", "config": {"connectorId": "Active Directory", "command": "deleteEverything"}}`,
				`{"id": "b", "type": "connector", "config": {"connectorId": "ad"}}`)
		}, []Finding{
			{"UNKNOWN_COMMAND", SeverityError, "a", `"deleteEverything" is not a command of Active Directory (commands: createAccount, ping)`},
			{"UNKNOWN_COMMAND", SeverityError, "b", "no command is chosen"},
		}},
		{"params", func(t *testing.T) *Definition {
			return chain(t, `[{"name": "who", "type": "string"}]`,
				`{"id": "missing", "type": "connector", "config": {"connectorId": "ad", "command": "createAccount", "params": {"ou": ""}}}`,
				`{"id": "noParams", "type": "connector", "config": {"connectorId": "ad", "command": "createAccount"}}`,
				`{"id": "types", "type": "connector", "config": {"connectorId": "ad", "command": "createAccount", "params": {
					"username": 42, "ou": "OU=Staff", "enabled": "maybe", "groups": {"a": 1}, "quota": "{{who}}", "mode": "c", "colour": "red"}}}`,
				`{"id": "templated", "type": "connector", "config": {"connectorId": "ad", "command": "createAccount", "params": {
					"username": "{{who}}", "ou": "OU={{who}}", "enabled": "true", "quota": "12", "groups": ["a", "b"], "mode": "a"}}}`)
		}, []Finding{
			{"MISSING_REQUIRED_PARAM", SeverityError, "missing", "createAccount needs username, ou"},
			{"MISSING_REQUIRED_PARAM", SeverityError, "noParams", "createAccount needs username, ou"},
			{"PARAM_TYPE_MISMATCH", SeverityError, "types", `createAccount: "colour" is not a param of createAccount (params: username, ou, enabled, groups, quota, mode); enabled must be true or false, not "maybe"; groups must be a list of text values, not an object; mode must be one of a, b, not "c"; username must be text, not a number`},
		}},
		{"undefined variables", func(t *testing.T) *Definition {
			return chain(t, `[{"name": "firstName", "type": "string"}]`,
				`{"id": "early", "type": "notification", "config": {"channel": "email", "to": ["{{initiator.email}}", "{{manager.email}}"], "body": "{{username}} {{now}} {{run.url}} {{firstName}} {{username}}"}}`,
				`{"id": "names", "type": "transform", "config": {"set": {"username": "lower(firstName) + suffix", "same": "username"}}}`,
				`{"id": "check", "type": "condition", "config": {"branches": [{"name": "yes", "when": "username != \"\" && undefinedThing"}]}}`,
				`{"id": "ad", "type": "connector", "config": {"connectorId": "ad", "command": "ping", "params": {}, "output": "adAccount"}}`,
				`{"id": "after", "type": "notification", "config": {"channel": "email", "to": "{{initiator.email}}", "body": "{{adAccount.dn}} {{username}}"}}`)
		}, []Finding{
			{"UNDEFINED_VARIABLE", SeverityError, "early", "uses variables that no input, built-in or earlier step defines: manager.email, username"},
			{"UNDEFINED_VARIABLE", SeverityError, "names", "uses variables that no input, built-in or earlier step defines: suffix, username"},
			{"UNDEFINED_VARIABLE", SeverityError, "check", "uses variables that no input, built-in or earlier step defines: undefinedThing"},
		}},
		{"duplicate outcomes", func(t *testing.T) *Definition {
			return lintDoc(t, `{"steps": [{"id": "s", "type": "start"}, {"id": "c", "type": "condition", "config": {
					"branches": [{"name": "yes", "when": "true"}, {"name": "yes", "when": "false"}, {"name": "no", "when": "true"}], "default": "no"}},
					{"id": "e", "type": "end"}],
				"edges": [{"from": "s", "to": "c", "on": "success"}, {"from": "s", "to": "e", "on": "success"}, {"from": "s", "to": "e", "on": "success"},
					{"from": "c", "to": "e", "on": "yes"}, {"from": "c", "to": "e", "on": "no"}]}`)
		}, []Finding{
			{"DUPLICATE_OUTCOME", SeverityError, "s", `more than one edge leaves on "success"`},
			{"DUPLICATE_OUTCOME", SeverityError, "c", `the outcome "yes" is declared twice; the outcome "no" is declared twice`},
		}},
		{"cycles", func(t *testing.T) *Definition {
			return lintDoc(t, `{"steps": [{"id": "s", "type": "start"},
					{"id": "a", "type": "delay", "config": {"duration": "1m"}}, {"id": "b", "type": "delay", "config": {"duration": "1m"}},
					{"id": "self", "type": "delay", "config": {"duration": "1m"}},
					{"id": "x", "type": "delay", "config": {"duration": "1m"}}, {"id": "y", "type": "delay", "config": {"duration": "1m"}},
					{"id": "p", "type": "delay", "config": {"duration": "1m"}}, {"id": "e", "type": "end"}],
				"edges": [{"from": "s", "to": "b", "on": "success"}, {"from": "b", "to": "a", "on": "success"}, {"from": "a", "to": "b", "on": "error"},
					{"from": "s", "to": "self", "on": "error"}, {"from": "self", "to": "self", "on": "success"},
					{"from": "s", "to": "x", "on": "rejected"}, {"from": "x", "to": "y", "on": "success"}, {"from": "y", "to": "x", "on": "success"}, {"from": "y", "to": "e", "on": "error"},
					{"from": "s", "to": "p", "on": "expired"}, {"from": "p", "to": "e", "on": "success"}, {"from": "e", "to": "p", "on": "success"}]}`)
		}, []Finding{
			{"CYCLE_WITHOUT_EXIT", SeverityError, "a", `steps "a", "b" loop with no edge out of the loop`},
			{"CYCLE_WITHOUT_EXIT", SeverityError, "self", `steps "self" loop with no edge out of the loop`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Lint(tt.def(t), testCatalogue)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Lint:\n got %+v\nwant %+v", got, tt.want)
			}
			if !HasErrors(got) {
				t.Error("HasErrors = false")
			}
		})
	}
}

func TestLintVariablesFollowPaths(t *testing.T) {
	// start → ad ─success→ ok ─→ end
	//            └─error──→ oops ─→ end
	// start → branch (never sets) → joined, ad's output reaches joined through ok only.
	d := lintDoc(t, `{"steps": [{"id": "start", "type": "start"},
			{"id": "ad", "type": "connector", "config": {"connectorId": "ad", "command": "ping", "output": "acct"}},
			{"id": "ok", "type": "notification", "config": {"channel": "in_app", "to": ["u"], "body": "{{acct.id}}"}},
			{"id": "oops", "type": "notification", "config": {"channel": "in_app", "to": ["u"], "body": "{{acct.id}}"}},
			{"id": "joined", "type": "notification", "config": {"channel": "in_app", "to": ["u"], "body": "{{acct.id}}"}},
			{"id": "user", "type": "user_create", "config": {"email": "a@example.test", "setAsSubject": true}},
			{"id": "subject", "type": "profile_update", "config": {"userId": "{{person.id}}", "fields": {}}},
			{"id": "loopA", "type": "transform", "config": {"set": {"x": "y"}}},
			{"id": "loopB", "type": "transform", "config": {"set": {"y": "x"}}},
			{"id": "end", "type": "end"}],
		"subjectVariable": "person",
		"edges": [{"from": "start", "to": "ad", "on": "success"}, {"from": "ad", "to": "ok", "on": "success"},
			{"from": "ad", "to": "oops", "on": "error"}, {"from": "ok", "to": "joined", "on": "success"},
			{"from": "oops", "to": "joined", "on": "success"}, {"from": "joined", "to": "user", "on": "success"},
			{"from": "user", "to": "subject", "on": "success"}, {"from": "subject", "to": "loopA", "on": "success"},
			{"from": "loopA", "to": "loopB", "on": "success"}, {"from": "loopB", "to": "loopA", "on": "success"},
			{"from": "loopB", "to": "end", "on": "error"}]}`)
	got := Lint(d, testCatalogue)
	want := []Finding{
		{"UNDEFINED_VARIABLE", SeverityError, "oops", "uses variables that no input, built-in or earlier step defines: acct.id"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Lint:\n got %+v\nwant %+v", got, want)
	}
}

func TestLintOneFindingPerStepAndCode(t *testing.T) {
	d := chain(t, "",
		`{"id": "a", "type": "notification", "config": {"channel": "email", "to": ["{{p.a}}", "{{q}}"], "body": "{{p.b}} {{r}}", "subject": "{{q}}"}}`,
		`{"id": "b", "type": "connector", "config": {"connectorId": "ad", "command": "createAccount", "params": {"enabled": 1, "quota": true, "x": 1}}}`)
	counts := map[[2]string]int{}
	for _, f := range Lint(d, testCatalogue) {
		counts[[2]string{f.StepID, f.Code}]++
	}
	for key, n := range counts {
		if n != 1 {
			t.Errorf("%v reported %d times", key, n)
		}
	}
	if counts[[2]string{"a", "UNDEFINED_VARIABLE"}] != 1 || counts[[2]string{"b", "PARAM_TYPE_MISMATCH"}] != 1 || counts[[2]string{"b", "MISSING_REQUIRED_PARAM"}] != 1 {
		t.Errorf("findings: %v", counts)
	}
}

// nilTypeCatalogue says yes to everything and returns no type: lint must not trust it.
type nilTypeCatalogue struct{}

func (nilTypeCatalogue) Connector(string) (*connectors.Type, bool) { return nil, true }

func TestLintNeverPanics(t *testing.T) {
	broken := []string{
		`{}`,
		`{"steps": [], "edges": [{"from": "a", "to": "b", "on": "success"}]}`,
		`{"steps": [{"id": "a", "type": "start"}], "edges": [{"from": "a", "to": "a", "on": "success"}, {"from": "a", "to": "a", "on": "success"}]}`,
		`{"steps": [{"id": "", "type": ""}, {"id": "", "type": "connector"}], "edges": [{"from": "", "to": "", "on": ""}]}`,
		`{"steps": [{"id": "a", "type": "start"}, {"id": "a", "type": "end"}, {"id": "a", "type": "condition"}], "edges": [{"from": "a", "to": "a", "on": "x"}]}`,
		`{"steps": [{"id": "c", "type": "connector", "config": {"connectorId": ["x"], "command": {}, "params": [1, 2], "output": 7}}]}`,
		`{"steps": [{"id": "c", "type": "condition", "config": {"branches": "yes", "default": 3}}, {"id": "d", "type": "condition", "config": {"branches": [null, 1, {"name": 1, "when": 2}, {"when": "((("}]}}]}`,
		`{"steps": [{"id": "t", "type": "transform", "config": {"set": ["a"]}}, {"id": "u", "type": "transform", "config": {"set": {"a": 1, "b": null, "c": "let x = 1; x"}}}]}`,
		`{"steps": [{"id": "u", "type": "user_create", "config": {"setAsSubject": "yes"}}, {"id": "n", "type": "notification", "config": {"connectorId": 5, "to": "{{"}}]}`,
		`{"subjectVariable": "s", "steps": [{"id": "u", "type": "user_create", "config": {"setAsSubject": true}}, {"id": "v", "type": "unknown", "config": {"x": "{{s}}"}}], "edges": [{"from": "u", "to": "v", "on": "success"}, {"from": "v", "to": "u", "on": "success"}]}`,
	}
	for _, doc := range broken {
		d := mustParse(t, doc)
		for _, cat := range []Catalogue{nil, testCatalogue, nilTypeCatalogue{}} {
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("Lint(%s) panicked: %v", doc, r)
					}
				}()
				if findings := Lint(d, cat); findings == nil {
					t.Errorf("Lint(%s) = nil", doc)
				}
			}()
		}
	}
	if findings := Lint(nil, nil); findings == nil || len(findings) != 0 {
		t.Errorf("Lint(nil) = %v", findings)
	}
}

func TestLintLargeGraph(t *testing.T) {
	// The largest definition Parse accepts, a chain listed backwards where every step sets a
	// variable the next reads: lint's walks stay polynomial and small.
	d := &Definition{Name: "big"}
	d.Steps = append(d.Steps, Step{ID: "s0", Type: TypeStart})
	for i := 1; i < maxSteps; i++ {
		d.Steps = append(d.Steps, Step{ID: fmt.Sprintf("s%d", i), Type: TypeTransform,
			Config: map[string]any{"set": map[string]any{fmt.Sprintf("v%d", i): fmt.Sprintf("v%d", i-1)}}})
	}
	for i := maxSteps - 1; i > 0; i-- {
		d.Edges = append(d.Edges, Edge{From: fmt.Sprintf("s%d", i-1), To: fmt.Sprintf("s%d", i), On: OnSuccess})
	}
	got := Lint(d, nil)
	want := []Finding{{"UNDEFINED_VARIABLE", SeverityError, "s1", "uses variables that no input, built-in or earlier step defines: v0"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Lint = %+v", got)
	}
}

func TestHasErrors(t *testing.T) {
	if HasErrors([]Finding{{Severity: SeverityWarning}, {Severity: SeverityInfo}}) {
		t.Error("warnings and infos are not errors")
	}
	if !HasErrors([]Finding{{Severity: SeverityWarning}, {Severity: SeverityError}}) {
		t.Error("an error is an error")
	}
	out, _ := json.Marshal(Finding{Code: "C", Severity: SeverityError, StepID: "s", Message: "m"})
	if string(out) != `{"code":"C","severity":"error","stepId":"s","message":"m"}` {
		t.Errorf("JSON: %s", out)
	}
}
