package lint

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"floh/connectors"
	"floh/connectors/builtin"
	"floh/engine/workflow"
)

// catalogue is a fake connector catalogue that resolves as the database does: by id, or by
// name without regard to case.
type catalogue []Instance

func (c catalogue) Connector(ref string) (Instance, bool) {
	for _, inst := range c {
		if inst.ID == ref || strings.EqualFold(inst.Name, ref) {
			return inst, true
		}
	}
	return Instance{}, false
}

// registryType is a connector type of the real registry, so command schemas (params,
// mutating, compensations) are the ones runs use.
func registryType(t testing.TB, name string) *connectors.Type {
	t.Helper()
	reg, err := builtin.Registry()
	if err != nil {
		t.Fatal(err)
	}
	typ := reg.Type(name)
	if typ == nil {
		t.Fatalf("the registry has no connector type %q (it has %v)", name, reg.Names())
	}
	return typ
}

// kindsType is a made-up type whose one command has a param of each kind, for the schema
// checks; the real types do not have every kind on one command.
var kindsType = &connectors.Type{
	Name:  "kinds",
	Label: "Kinds",
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

// testCatalogue: two Active Directory instances, an Authifi, an email and an HTTP instance
// from the registry, and the made-up kinds type.
func testCatalogue(t testing.TB) catalogue {
	ad := registryType(t, "activedirectory")
	return catalogue{
		{ID: "c-ad", Name: "AD", Type: ad},
		{ID: "c-ad-eu", Name: "AD Europe", Type: ad},
		{ID: "c-authifi", Name: "Authifi", Type: registryType(t, "authifi")},
		{ID: "c-mail", Name: "Mail", Type: registryType(t, "email")},
		{ID: "c-hr", Name: "HR API", Type: registryType(t, "http")},
		{ID: "c-kinds", Name: "Kinds", Type: kindsType},
	}
}

// parse reads a definition as the API does.
func parse(t testing.TB, doc string) *workflow.Definition {
	t.Helper()
	d, err := workflow.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, doc)
	}
	return d
}

// chain builds a definition: start → the given steps in order on success → end.
func chain(t testing.TB, variables string, steps ...string) *workflow.Definition {
	t.Helper()
	all := append([]string{`{"id": "start", "type": "start"}`}, steps...)
	all = append(all, `{"id": "end", "type": "end"}`)
	var edges []string
	for i := 0; i+1 < len(all); i++ {
		var from, to struct{ ID string }
		if err := json.Unmarshal([]byte(all[i]), &from); err != nil {
			t.Fatalf("bad step %s: %v", all[i], err)
		}
		if err := json.Unmarshal([]byte(all[i+1]), &to); err != nil {
			t.Fatalf("bad step %s: %v", all[i+1], err)
		}
		edges = append(edges, fmt.Sprintf(`{"from": %q, "to": %q, "on": "success"}`, from.ID, to.ID))
	}
	if variables == "" {
		variables = "[]"
	}
	return parse(t, `{"name": "t", "variables": `+variables+`, "steps": [`+strings.Join(all, ",")+`], "edges": [`+strings.Join(edges, ",")+`]}`)
}

// edge reads an edge written "from -on-> to".
func edge(t testing.TB, e string) workflow.Edge {
	t.Helper()
	from, rest, ok1 := strings.Cut(e, " -")
	on, to, ok2 := strings.Cut(rest, "-> ")
	if !ok1 || !ok2 {
		t.Fatalf("bad edge %q", e)
	}
	return workflow.Edge{From: from, To: to, On: on}
}

// withEdges adds edges written "from -on-> to".
func withEdges(t testing.TB, d *workflow.Definition, edges ...string) *workflow.Definition {
	t.Helper()
	for _, e := range edges {
		d.Edges = append(d.Edges, edge(t, e))
	}
	return d
}

// withoutEdges removes edges written "from -on-> to"; each must exist.
func withoutEdges(t testing.TB, d *workflow.Definition, edges ...string) *workflow.Definition {
	t.Helper()
	for _, e := range edges {
		i := slices.Index(d.Edges, edge(t, e))
		if i < 0 {
			t.Fatalf("no edge %q to remove", e)
		}
		d.Edges = slices.Delete(d.Edges, i, i+1)
	}
	return d
}

func wantFindings(t *testing.T, got, want []Finding) {
	t.Helper()
	if want == nil {
		want = []Finding{}
	}
	if !reflect.DeepEqual(got, want) {
		var b strings.Builder
		for _, f := range got {
			fmt.Fprintf(&b, "\n  %+v", f)
		}
		t.Errorf("Lint found:%s\nwant %+v", b.String(), want)
	}
}

// provisioningChain is the chain of issue 6: Floh user_create → AD createAccount →
// setPassword → addToGroup → Authifi createUser → assignRoles → a success notification, every
// connector step's "error" edge wired to one shared admin notification.
const provisioningChain = `{
	"name": "Provisioning chain",
	"variables": [
		{"name": "email", "type": "string", "required": true},
		{"name": "displayName", "type": "string", "required": true},
		{"name": "username", "type": "string", "required": true},
		{"name": "initialPassword", "type": "string", "required": true}
	],
	"steps": [
		{"id": "start", "type": "start"},
		{"id": "user", "type": "user_create", "config": {"email": "{{email}}", "displayName": "{{displayName}}"}},
		{"id": "adAccount", "type": "connector", "config": {"connectorId": "AD", "command": "createAccount",
			"params": {"username": "{{username}}", "email": "{{email}}", "displayName": "{{displayName}}", "ou": "Staff"}, "output": "ad"}},
		{"id": "adPassword", "type": "connector", "config": {"connectorId": "AD", "command": "setPassword",
			"params": {"username": "{{username}}", "password": "{{initialPassword}}"}}},
		{"id": "adGroup", "type": "connector", "config": {"connectorId": "AD", "command": "addToGroup",
			"params": {"username": "{{username}}", "group": "Staff"}}},
		{"id": "authifiUser", "type": "connector", "config": {"connectorId": "Authifi", "command": "createUser",
			"params": {"email": "{{email}}", "displayName": "{{displayName}}"}}},
		{"id": "authifiRoles", "type": "connector", "config": {"connectorId": "Authifi", "command": "assignRoles",
			"params": {"email": "{{email}}", "roles": ["staff"]}}},
		{"id": "welcome", "type": "notification", "config": {"channel": "email", "to": ["{{email}}"], "subject": "Welcome", "body": "Your account {{ad.dn}} is ready.", "connectorId": "Mail"}},
		{"id": "tellAdmins", "type": "notification", "config": {"channel": "in_app", "to": ["role:Admin"], "subject": "Provisioning of {{email}} failed", "body": "See {{run.diagnoseUrl}}"}},
		{"id": "end", "type": "end"}
	],
	"edges": [
		{"from": "start", "to": "user", "on": "success"},
		{"from": "user", "to": "adAccount", "on": "success"},
		{"from": "adAccount", "to": "adPassword", "on": "success"},
		{"from": "adPassword", "to": "adGroup", "on": "success"},
		{"from": "adGroup", "to": "authifiUser", "on": "success"},
		{"from": "authifiUser", "to": "authifiRoles", "on": "success"},
		{"from": "authifiRoles", "to": "welcome", "on": "success"},
		{"from": "welcome", "to": "end", "on": "success"},
		{"from": "adAccount", "to": "tellAdmins", "on": "error"},
		{"from": "adPassword", "to": "tellAdmins", "on": "error"},
		{"from": "adGroup", "to": "tellAdmins", "on": "error"},
		{"from": "authifiUser", "to": "tellAdmins", "on": "error"},
		{"from": "authifiRoles", "to": "tellAdmins", "on": "error"},
		{"from": "tellAdmins", "to": "end", "on": "success"}
	]
}`

func chainWarning(step, command, system string, systems int, names string) Finding {
	return Finding{"PROVISIONING_CHAIN_NO_ERROR_EDGE", SeverityWarning, step, fmt.Sprintf(
		"no \"error\" edge leaves it, yet its command %s changes %q, one of the %d systems this workflow changes (%s): a failure here fails the run half-way, leaving what earlier steps changed in place and nobody told; route \"error\" to a notification or a clean-up step",
		command, system, systems, names)}
}

func TestProvisioningChainWithFailureRoutingLintsClean(t *testing.T) {
	findings := Lint(parse(t, provisioningChain), testCatalogue(t))
	wantFindings(t, findings, nil)
	if findings == nil {
		t.Error("no findings must be an empty list, not nil")
	}
}

func TestProvisioningChainMissingOneErrorEdge(t *testing.T) {
	commands := map[string]string{"adAccount": "createAccount", "adPassword": "setPassword", "adGroup": "addToGroup",
		"authifiUser": "createUser", "authifiRoles": "assignRoles"}
	for step, command := range commands {
		t.Run(step, func(t *testing.T) {
			d := withoutEdges(t, parse(t, provisioningChain), step+" -error-> tellAdmins")
			system := "AD"
			if strings.HasPrefix(step, "authifi") {
				system = "Authifi"
			}
			wantFindings(t, Lint(d, testCatalogue(t)), []Finding{chainWarning(step, command, system, 3, `Floh, "AD", "Authifi"`)})
		})
	}
}

func TestProvisioningChainSystems(t *testing.T) {
	cat := testCatalogue(t)
	step := func(id, ref, command, params string) string {
		return fmt.Sprintf(`{"id": %q, "type": "connector", "config": {"connectorId": %q, "command": %q, "params": %s}}`, id, ref, command, params)
	}
	adCreate := func(ref string) string { return step("adAccount", ref, "createAccount", `{"username": "jdoe"}`) }
	adGroup := func(ref string) string {
		return step("adGroup", ref, "addToGroup", `{"username": "jdoe", "group": "Staff"}`)
	}
	userCreate := `{"id": "user", "type": "user_create", "config": {"email": "jdoe@example.test"}}`
	tests := []struct {
		name string
		def  *workflow.Definition
		want []Finding
	}{
		{"one instance", chain(t, "", adCreate("AD"), adGroup("AD")), nil},
		{"one instance, named by id and by name in another case", chain(t, "", adCreate("c-ad"), adGroup("ad")), nil},
		{"a second system that only reads", chain(t, "", adCreate("AD"), adGroup("AD"),
			step("lookup", "Authifi", "checkGroupMembership", `{"email": "jdoe@example.test", "groupId": "g1"}`),
			step("hr", "HR API", "request", `{"method": "GET", "url": "https://hr.example.test/people/jdoe"}`)), nil},
		{"user_create then AD: Floh is the second system", chain(t, "", userCreate, adCreate("AD"), adGroup("AD")), []Finding{
			chainWarning("adAccount", "createAccount", "AD", 2, `Floh, "AD"`),
			chainWarning("adGroup", "addToGroup", "AD", 2, `Floh, "AD"`),
		}},
		{"profile_update is Floh too", chain(t, "",
			`{"id": "profile", "type": "profile_update", "config": {"userId": "u1", "fields": {"title": "Engineer"}}}`, adCreate("c-ad")), []Finding{
			chainWarning("adAccount", "createAccount", "AD", 2, `Floh, "AD"`),
		}},
		{"two instances of one type are two systems", chain(t, "", adCreate("AD"), adGroup("AD Europe")), []Finding{
			chainWarning("adAccount", "createAccount", "AD", 2, `"AD", "AD Europe"`),
			chainWarning("adGroup", "addToGroup", "AD Europe", 2, `"AD", "AD Europe"`),
		}},
		{"an HTTP POST changes its system", chain(t, "", adCreate("AD"),
			step("hr", "HR API", "request", `{"method": "POST", "url": "https://hr.example.test/people"}`)), []Finding{
			chainWarning("adAccount", "createAccount", "AD", 2, `"AD", "HR API"`),
			chainWarning("hr", "request", "HR API", 2, `"AD", "HR API"`),
			{"NO_COMPENSATION", SeverityInfo, "hr", `the command request on "HR API" declares no compensation: rolling back a run cannot undo it, and leaves it to an admin to undo by hand`},
		}},
		{"an error edge to a missing step still routes the error", withEdges(t, chain(t, "", userCreate, adCreate("AD")), "adAccount -error-> gone"), []Finding{
			{"EDGE_UNKNOWN_STEP", SeverityError, "adAccount", `edges name steps that do not exist: "gone"`},
		}},
		{"a templated instance is no known system", chain(t, `[{"name": "directory", "type": "string"}]`, userCreate,
			step("adAccount", "{{directory}}", "createAccount", `{"username": "jdoe"}`)), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantFindings(t, Lint(tt.def, cat), tt.want)
		})
	}

	t.Run("errorStrategy continue says what happens instead", func(t *testing.T) {
		d := chain(t, "", userCreate, adCreate("AD"))
		d.ErrorStrategy = workflow.StrategyContinue
		got := Lint(d, cat)
		if len(got) != 1 || got[0].Code != "PROVISIONING_CHAIN_NO_ERROR_EDGE" ||
			!strings.Contains(got[0].Message, "a failure here is passed over and the run goes on as if the step had worked") {
			t.Errorf("Lint = %+v", got)
		}
	})
}

func TestLintErrors(t *testing.T) {
	cat := testCatalogue(t)
	tests := []struct {
		name string
		def  func(t *testing.T) *workflow.Definition
		want []Finding
	}{
		{"missing start", func(t *testing.T) *workflow.Definition {
			return parse(t, `{"steps": [{"id": "end", "type": "end"}]}`)
		}, []Finding{{"MISSING_START", SeverityError, "", "the workflow has no start step"}}},
		{"no steps at all", func(t *testing.T) *workflow.Definition { return &workflow.Definition{} },
			[]Finding{{"MISSING_START", SeverityError, "", "the workflow has no start step"}}},
		{"multiple start", func(t *testing.T) *workflow.Definition {
			return parse(t, `{"steps": [{"id": "a", "type": "start"}, {"id": "b", "type": "start"}, {"id": "e", "type": "end"}],
				"edges": [{"from": "a", "to": "e", "on": "success"}, {"from": "b", "to": "e", "on": "success"}]}`)
		}, []Finding{{"MULTIPLE_START", SeverityError, "", `the workflow has 2 start steps ("a", "b"); keep one`}}},
		{"edges to unknown steps", func(t *testing.T) *workflow.Definition {
			return parse(t, `{"steps": [{"id": "s", "type": "start"}, {"id": "e", "type": "end"}],
				"edges": [{"from": "s", "to": "ghost", "on": "success"}, {"from": "s", "to": "spook", "on": "error"},
					{"from": "s", "to": "ghost", "on": "rejected"}, {"from": "nowhere", "to": "e", "on": "success"}]}`)
		}, []Finding{
			{"EDGE_UNKNOWN_STEP", SeverityError, "s", `edges name steps that do not exist: "ghost", "spook"`},
			{"EDGE_UNKNOWN_STEP", SeverityError, "nowhere", `edges name steps that do not exist: "nowhere"`},
			{"UNREACHABLE_STEP", SeverityWarning, "e", "no path from the start step leads here, so no run ever runs this step; connect it or remove it"},
		}},
		{"unknown connectors", func(t *testing.T) *workflow.Definition {
			return chain(t, `[{"name": "mailer", "type": "string"}]`,
				`{"id": "a", "type": "connector", "config": {"connectorId": "LDAP prod", "command": "ping"}}`,
				`{"id": "b", "type": "connector", "config": {"command": "ping"}}`,
				`{"id": "c", "type": "connector", "config": {"connectorId": 12, "command": "ping"}}`,
				`{"id": "n", "type": "notification", "config": {"channel": "email", "to": ["x@example.test"], "body": "hi", "connectorId": "smtp"}}`,
				`{"id": "ok", "type": "notification", "config": {"channel": "email", "to": ["x@example.test"], "body": "hi", "connectorId": "mail"}}`,
				`{"id": "m", "type": "notification", "config": {"channel": "email", "to": ["x@example.test"], "body": "hi", "connectorId": "ad"}}`,
				`{"id": "t", "type": "notification", "config": {"channel": "email", "to": ["x@example.test"], "body": "hi", "connectorId": "{{mailer}}"}}`)
		}, []Finding{
			{"UNKNOWN_CONNECTOR", SeverityError, "a", `no connector is named or has the id "LDAP prod"`},
			{"UNKNOWN_CONNECTOR", SeverityError, "b", "no connector is chosen"},
			{"UNKNOWN_CONNECTOR", SeverityError, "c", "no connector is chosen"},
			{"UNKNOWN_CONNECTOR", SeverityError, "n", `no connector is named or has the id "smtp"`},
			{"UNKNOWN_CONNECTOR", SeverityError, "m", `"ad" is a connector of type Active Directory, not email; a notification sends email through an email connector`},
		}},
		{"templated connectors are the run's to resolve", func(t *testing.T) *workflow.Definition {
			return chain(t, `[{"name": "team", "type": "object"}]`,
				`{"id": "a", "type": "connector", "config": {"connectorId": "{{team.directory}}", "command": "createAccount", "params": {"nonsense": 1}}}`,
				`{"id": "b", "type": "connector", "config": {"connectorId": "{{team.directory}}"}}`,
				`{"id": "c", "type": "connector", "config": {"connectorId": "{{team.directory}}", "command": "x", "params": {"u": "{{nobody}}"}}}`,
				`{"id": "d", "type": "connector", "config": {"connectorId": "AD", "command": "{{team.command}}", "params": {"nonsense": 1}}}`,
				`{"id": "e", "type": "connector", "config": {"connectorId": "nope", "command": "{{team.command}}"}}`)
		}, []Finding{
			{"UNKNOWN_COMMAND", SeverityError, "b", "no command is chosen"},
			{"UNKNOWN_CONNECTOR", SeverityError, "e", `no connector is named or has the id "nope"`},
			{"UNDEFINED_VARIABLE", SeverityError, "c", "uses variables that no input, built-in or earlier step defines: nobody"},
		}},
		{"unknown commands", func(t *testing.T) *workflow.Definition {
			return chain(t, "",
				`{"id": "a", "type": "connector", "config": {"connectorId": "Kinds", "command": "deleteEverything"}}`,
				`{"id": "b", "type": "connector", "config": {"connectorId": "c-kinds"}}`)
		}, []Finding{
			{"UNKNOWN_COMMAND", SeverityError, "a", `"deleteEverything" is not a command of Kinds (commands: createAccount, ping)`},
			{"UNKNOWN_COMMAND", SeverityError, "b", "no command is chosen"},
		}},
		{"params", func(t *testing.T) *workflow.Definition {
			return chain(t, `[{"name": "who", "type": "string"}]`,
				`{"id": "missing", "type": "connector", "config": {"connectorId": "kinds", "command": "createAccount", "params": {"ou": ""}}}`,
				`{"id": "noParams", "type": "connector", "config": {"connectorId": "kinds", "command": "createAccount"}}`,
				`{"id": "types", "type": "connector", "config": {"connectorId": "kinds", "command": "createAccount", "params": {
					"username": 42, "ou": "OU=Staff", "enabled": "maybe", "groups": {"a": 1}, "quota": "{{who}}", "mode": "c", "colour": "red"}}}`,
				`{"id": "templated", "type": "connector", "config": {"connectorId": "kinds", "command": "createAccount", "params": {
					"username": "{{who}}", "ou": "OU={{who}}", "enabled": "true", "quota": "12", "groups": ["a", "b"], "mode": "a"}}}`)
		}, []Finding{
			{"MISSING_REQUIRED_PARAM", SeverityError, "missing", "the command createAccount needs username, ou"},
			{"MISSING_REQUIRED_PARAM", SeverityError, "noParams", "the command createAccount needs username, ou"},
			{"PARAM_TYPE_MISMATCH", SeverityError, "types", `the command createAccount would refuse these params: "colour" is not a param of createAccount (params: username, ou, enabled, groups, quota, mode); enabled must be true or false, not "maybe"; groups must be a list of text values, not an object; mode must be one of a, b, not "c"; username must be text, not a number`},
		}},
		{"undefined variables", func(t *testing.T) *workflow.Definition {
			return chain(t, `[{"name": "firstName", "type": "string"}]`,
				`{"id": "early", "type": "notification", "config": {"channel": "email", "to": ["{{initiator.email}}", "{{manager.email}}"], "body": "{{username}} {{now}} {{run.url}} {{firstName}} {{username}}"}}`,
				`{"id": "names", "type": "transform", "config": {"set": {"username": "lower(firstName) + suffix", "same": "username"}}}`,
				`{"id": "check", "type": "condition", "config": {"branches": [{"name": "yes", "when": "username != \"\" && undefinedThing"}]}}`,
				`{"id": "ad", "type": "connector", "config": {"connectorId": "kinds", "command": "ping", "params": {}, "output": "adAccount"}}`,
				`{"id": "after", "type": "notification", "config": {"channel": "email", "to": "{{initiator.email}}", "body": "{{adAccount.dn}} {{username}}"}}`)
		}, []Finding{
			{"UNDEFINED_VARIABLE", SeverityError, "early", "uses variables that no input, built-in or earlier step defines: manager.email, username"},
			{"UNDEFINED_VARIABLE", SeverityError, "names", "uses variables that no input, built-in or earlier step defines: suffix, username"},
			{"UNDEFINED_VARIABLE", SeverityError, "check", "uses variables that no input, built-in or earlier step defines: undefinedThing"},
			// chain wires the condition on "success", which a condition never takes; the steps
			// after it are still reachable, as paths follow edges of any outcome.
			{"DEAD_END", SeverityWarning, "check", `no edge leaves on any of its branches ("yes"), so every run that gets here stops here`},
			{"CONDITION_MISSING_BRANCH", SeverityWarning, "check", `no edge leaves on the branch "yes", so a run taking it fails; edges leave on "success", which the condition does not declare`},
		}},
		{"duplicate outcomes", func(t *testing.T) *workflow.Definition {
			return parse(t, `{"steps": [{"id": "s", "type": "start"}, {"id": "c", "type": "condition", "config": {
					"branches": [{"name": "yes", "when": "true"}, {"name": "yes", "when": "false"}, {"name": "no", "when": "true"}], "default": "no"}},
					{"id": "e", "type": "end"}],
				"edges": [{"from": "s", "to": "c", "on": "success"}, {"from": "s", "to": "e", "on": "success"}, {"from": "s", "to": "e", "on": "success"},
					{"from": "c", "to": "e", "on": "yes"}, {"from": "c", "to": "e", "on": "no"}]}`)
		}, []Finding{
			{"DUPLICATE_OUTCOME", SeverityError, "s", `more than one edge leaves on "success"`},
			{"DUPLICATE_OUTCOME", SeverityError, "c", `the outcome "yes" is declared twice; the outcome "no" is declared twice`},
		}},
		{"cycles", func(t *testing.T) *workflow.Definition {
			return parse(t, `{"steps": [{"id": "s", "type": "start"},
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
			{"DEAD_END", SeverityWarning, "a", `no "success" edge leaves it, so a run that gets here stops here instead of reaching an end step; connect "success" to the next step or to an end step`},
			{"ERROR_EDGE_WITHOUT_NOTIFICATION", SeverityInfo, "s", `the "error" edge to "self" reaches no notification step, so a failure here is handled without telling anyone`},
			{"ERROR_EDGE_WITHOUT_NOTIFICATION", SeverityInfo, "a", `the "error" edge to "b" reaches no notification step, so a failure here is handled without telling anyone`},
			{"ERROR_EDGE_WITHOUT_NOTIFICATION", SeverityInfo, "y", `the "error" edge to "e" reaches no notification step, so a failure here is handled without telling anyone`},
		}},
		{"a scheduled workflow with required variables", func(t *testing.T) *workflow.Definition {
			d := chain(t, `[{"name": "email", "type": "string", "required": true}, {"name": "team", "type": "string"}, {"name": "site", "type": "string", "required": true}]`)
			d.Trigger = &workflow.Trigger{Type: workflow.TriggerSchedule, Cron: "0 6 * * 1-5"}
			return d
		}, []Finding{
			{"SCHEDULED_REQUIRED_VARIABLE", SeverityError, "", `the workflow starts on a schedule, whose runs get no inputs, yet the variables "email", "site" are required; make them optional or change the trigger`},
		}},
		{"a schedule without its cron yet, and one required variable", func(t *testing.T) *workflow.Definition {
			d := chain(t, `[{"name": "email", "type": "string", "required": true}]`)
			d.Trigger = &workflow.Trigger{Type: workflow.TriggerSchedule}
			return d
		}, []Finding{
			{"SCHEDULED_REQUIRED_VARIABLE", SeverityError, "", `the workflow starts on a schedule, whose runs get no inputs, yet the variable "email" is required; make it optional or change the trigger`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Lint(tt.def(t), cat)
			wantFindings(t, got, tt.want)
			if !HasErrors(got) {
				t.Error("HasErrors = false")
			}
		})
	}
}

// Each warning and info code, where it applies and where it must not.
func TestLintWarningsAndInfos(t *testing.T) {
	cat := testCatalogue(t)
	const (
		unreachable = "no path from the start step leads here, so no run ever runs this step; connect it or remove it"
		deadEnd     = `no "success" edge leaves it, so a run that gets here stops here instead of reaching an end step; connect "success" to the next step or to an end step`
		noRejection = `no "rejected" edge leaves it: a rejection fails the run instead of telling anyone; route "rejected" to a notification or an end step`
	)
	delay := func(id string) string {
		return fmt.Sprintf(`{"id": %q, "type": "delay", "config": {"duration": "1m"}}`, id)
	}
	notify := func(id string) string {
		return fmt.Sprintf(`{"id": %q, "type": "notification", "config": {"channel": "in_app", "to": ["role:Admin"], "body": "failed"}}`, id)
	}
	approval := `{"id": "approve", "type": "approval", "config": {"approvers": ["role:Approver"]}}`
	condition := `{"id": "check", "type": "condition", "config": {"branches": [{"name": "big", "when": "true"}, {"name": "small", "when": "false"}], "default": "other"}}`
	silentError := func(from, to string) Finding {
		return Finding{"ERROR_EDGE_WITHOUT_NOTIFICATION", SeverityInfo, from, fmt.Sprintf(`the "error" edge to %q reaches no notification step, so a failure here is handled without telling anyone`, to)}
	}
	tests := []struct {
		name string
		def  func(t *testing.T) *workflow.Definition
		want []Finding
	}{
		// UNREACHABLE_STEP
		{"a step nothing leads to", func(t *testing.T) *workflow.Definition {
			return withEdges(t, chain(t, "", delay("wait")), "island -success-> end")
		}, []Finding{{"EDGE_UNKNOWN_STEP", SeverityError, "island", `edges name steps that do not exist: "island"`}}},
		{"an island of steps", func(t *testing.T) *workflow.Definition {
			d := chain(t, "", delay("wait"))
			d.Steps = append(d.Steps, workflow.Step{ID: "lost", Type: workflow.TypeDelay, Config: map[string]any{"duration": "1m"}},
				workflow.Step{ID: "lost2", Type: workflow.TypeDelay, Config: map[string]any{"duration": "1m"}})
			return withEdges(t, d, "lost -success-> lost2", "lost2 -success-> end")
		}, []Finding{{"UNREACHABLE_STEP", SeverityWarning, "lost", unreachable}, {"UNREACHABLE_STEP", SeverityWarning, "lost2", unreachable}}},
		{"reached only through an error edge", func(t *testing.T) *workflow.Definition {
			d := chain(t, "", delay("wait"))
			d.Steps = append(d.Steps, workflow.Step{ID: "alert", Type: workflow.TypeNotification, Config: map[string]any{"channel": "in_app", "to": []any{"role:Admin"}, "body": "x"}})
			return withEdges(t, d, "wait -error-> alert", "alert -success-> end")
		}, nil},
		{"no start: MISSING_START says it all", func(t *testing.T) *workflow.Definition {
			return parse(t, `{"steps": [{"id": "a", "type": "delay", "config": {"duration": "1m"}}, {"id": "e", "type": "end"}],
				"edges": [{"from": "a", "to": "e", "on": "success"}]}`)
		}, []Finding{{"MISSING_START", SeverityError, "", "the workflow has no start step"}}},

		// DEAD_END
		{"a step with only an error edge", func(t *testing.T) *workflow.Definition {
			d := chain(t, "", delay("wait"), notify("alert"))
			return withEdges(t, withoutEdges(t, d, "wait -success-> alert"), "wait -error-> alert")
		}, []Finding{{"DEAD_END", SeverityWarning, "wait", deadEnd}}},
		{"a start step that leads nowhere", func(t *testing.T) *workflow.Definition {
			return parse(t, `{"steps": [{"id": "s", "type": "start"}]}`)
		}, []Finding{{"DEAD_END", SeverityWarning, "s", deadEnd}}},
		{"an approval with no approved path", func(t *testing.T) *workflow.Definition {
			d := withoutEdges(t, chain(t, "", approval), "approve -success-> end")
			return withEdges(t, d, "approve -rejected-> end")
		}, []Finding{{"DEAD_END", SeverityWarning, "approve", `no "success" edge leaves it, so an approved request goes nowhere; connect "success" to the next step or to an end step`}}},
		{"a condition with no branch wired", func(t *testing.T) *workflow.Definition {
			return withoutEdges(t, chain(t, "", condition), "check -success-> end")
		}, []Finding{
			{"UNREACHABLE_STEP", SeverityWarning, "end", unreachable},
			{"DEAD_END", SeverityWarning, "check", `no edge leaves on any of its branches ("big", "small", "other"), so every run that gets here stops here`},
			{"CONDITION_MISSING_BRANCH", SeverityWarning, "check", `no edge leaves on the branch "big", the branch "small", the default "other", so a run taking them fails`},
		}},
		{"a condition that declares nothing", func(t *testing.T) *workflow.Definition {
			return withEdges(t, chain(t, "", `{"id": "check", "type": "condition", "config": {}}`), "check -yes-> end")
		}, []Finding{
			{"DEAD_END", SeverityWarning, "check", "the condition declares no branch and no default, so no edge can lead a run on from it"},
		}},
		{"end steps, and a condition wired on its branches only", func(t *testing.T) *workflow.Definition {
			d := withoutEdges(t, chain(t, "", condition), "check -success-> end")
			return withEdges(t, d, "check -big-> end", "check -small-> end", "check -other-> end")
		}, nil},
		{"a success edge to a missing step is EDGE_UNKNOWN_STEP's", func(t *testing.T) *workflow.Definition {
			d := withoutEdges(t, chain(t, "", delay("wait")), "wait -success-> end")
			return withEdges(t, d, "wait -success-> gone", "wait -error-> end")
		}, []Finding{
			{"EDGE_UNKNOWN_STEP", SeverityError, "wait", `edges name steps that do not exist: "gone"`},
			silentError("wait", "end"),
		}},

		// APPROVAL_NO_REJECTION_PATH
		{"an approval without a rejected edge", func(t *testing.T) *workflow.Definition {
			return chain(t, "", approval)
		}, []Finding{{"APPROVAL_NO_REJECTION_PATH", SeverityWarning, "approve", noRejection}}},
		{"an approval without a rejected edge, continuing past failures", func(t *testing.T) *workflow.Definition {
			d := chain(t, "", approval)
			d.ErrorStrategy = workflow.StrategyContinue
			return d
		}, []Finding{{"APPROVAL_NO_REJECTION_PATH", SeverityWarning, "approve",
			`no "rejected" edge leaves it: with errorStrategy continue, a rejected request goes on along "success" as if it were approved; route "rejected" to a notification or an end step`}}},
		{"an approval whose rejection is routed", func(t *testing.T) *workflow.Definition {
			d := chain(t, "", approval, notify("tell"))
			return withEdges(t, d, "approve -rejected-> tell")
		}, nil},

		// CONDITION_MISSING_BRANCH
		{"a condition missing a branch and its default, with a misspelt edge", func(t *testing.T) *workflow.Definition {
			d := withoutEdges(t, chain(t, "", condition), "check -success-> end")
			return withEdges(t, d, "check -big-> end", "check -smal-> end", "check -error-> end")
		}, []Finding{
			{"CONDITION_MISSING_BRANCH", SeverityWarning, "check", `no edge leaves on the branch "small", the default "other", so a run taking them fails; edges leave on "smal", which the condition does not declare`},
			silentError("check", "end"),
		}},

		// ERROR_EDGE_WITHOUT_NOTIFICATION
		{"an error edge straight to the end", func(t *testing.T) *workflow.Definition {
			return withEdges(t, chain(t, "", delay("wait")), "wait -error-> end")
		}, []Finding{silentError("wait", "end")}},
		{"an error edge whose path reaches a notification", func(t *testing.T) *workflow.Definition {
			d := chain(t, "", delay("wait"), delay("cool"), notify("tell"))
			return withEdges(t, d, "wait -error-> cool")
		}, nil},

		// NO_COMPENSATION
		{"a mutating step without compensation", func(t *testing.T) *workflow.Definition {
			return chain(t, "", `{"id": "gone", "type": "connector", "config": {"connectorId": "AD", "command": "deleteAccount", "params": {"username": "jdoe"}}}`)
		}, []Finding{{"NO_COMPENSATION", SeverityInfo, "gone", `the command deleteAccount on "AD" declares no compensation: rolling back a run cannot undo it, and leaves it to an admin to undo by hand`}}},
		{"steps that compensate, or change nothing", func(t *testing.T) *workflow.Definition {
			return chain(t, "",
				`{"id": "create", "type": "connector", "config": {"connectorId": "AD", "command": "createAccount", "params": {"username": "jdoe"}}}`,
				`{"id": "exists", "type": "connector", "config": {"connectorId": "AD", "command": "checkAccountExists", "params": {"username": "jdoe"}}}`,
				`{"id": "read", "type": "connector", "config": {"connectorId": "HR API", "command": "request", "params": {"method": "GET", "url": "https://hr.example.test"}}}`,
				`{"id": "user", "type": "user_create", "config": {"email": "jdoe@example.test"}}`)
		}, []Finding{chainWarning("create", "createAccount", "AD", 2, `"AD", Floh`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantFindings(t, Lint(tt.def(t), cat), tt.want)
		})
	}
}

func TestLintVariablesFollowPaths(t *testing.T) {
	// start → ad ─success→ ok ─→ joined; ad ─error→ oops ─→ joined: ad's output reaches
	// joined through ok, but not oops. Then a user becomes the subject, and two transforms
	// loop, each reading what the other sets.
	d := parse(t, `{"steps": [{"id": "start", "type": "start"},
			{"id": "ad", "type": "connector", "config": {"connectorId": "kinds", "command": "ping", "output": "acct"}},
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
	wantFindings(t, Lint(d, testCatalogue(t)), []Finding{
		{"UNDEFINED_VARIABLE", SeverityError, "oops", "uses variables that no input, built-in or earlier step defines: acct.id"},
		{"ERROR_EDGE_WITHOUT_NOTIFICATION", SeverityInfo, "loopB", `the "error" edge to "end" reaches no notification step, so a failure here is handled without telling anyone`},
	})
}

// A name set inside a loop reaches the steps after the loop, and every step of the loop on
// the next turn; what a step before the loop sets does not reach its own error path.
func TestLintVariablesThroughLoops(t *testing.T) {
	d := parse(t, `{"steps": [{"id": "start", "type": "start"},
			{"id": "setup", "type": "connector", "config": {"connectorId": "kinds", "command": "ping", "output": "acct"}},
			{"id": "poll", "type": "connector", "config": {"connectorId": "kinds", "command": "ping", "output": "status", "params": {}}},
			{"id": "wait", "type": "delay", "config": {"duration": "1m"}},
			{"id": "done", "type": "notification", "config": {"channel": "in_app", "to": ["u"], "body": "{{status.state}} {{acct.id}}"}},
			{"id": "failed", "type": "notification", "config": {"channel": "in_app", "to": ["u"], "body": "{{status.state}} {{acct.id}}"}},
			{"id": "end", "type": "end"}],
		"edges": [{"from": "start", "to": "setup", "on": "success"}, {"from": "setup", "to": "poll", "on": "success"},
			{"from": "setup", "to": "failed", "on": "error"}, {"from": "poll", "to": "wait", "on": "success"},
			{"from": "wait", "to": "poll", "on": "success"}, {"from": "wait", "to": "done", "on": "error"},
			{"from": "poll", "to": "done", "on": "error"}, {"from": "done", "to": "end", "on": "success"},
			{"from": "failed", "to": "end", "on": "success"}]}`)
	wantFindings(t, Lint(d, testCatalogue(t)), []Finding{
		{"UNDEFINED_VARIABLE", SeverityError, "failed", "uses variables that no input, built-in or earlier step defines: acct.id, status.state"},
	})
}

func TestLintOneFindingPerStepAndCode(t *testing.T) {
	d := chain(t, "",
		`{"id": "a", "type": "notification", "config": {"channel": "email", "to": ["{{p.a}}", "{{q}}"], "body": "{{p.b}} {{r}}", "subject": "{{q}}"}}`,
		`{"id": "b", "type": "connector", "config": {"connectorId": "kinds", "command": "createAccount", "params": {"enabled": 1, "quota": true, "x": 1}}}`,
		`{"id": "c", "type": "condition", "config": {"branches": [{"name": "x", "when": "true"}, {"name": "y", "when": "true"}]}}`)
	withEdges(t, d, "b -error-> end", "b -error-> c")
	counts := map[[2]string]int{}
	for _, f := range Lint(d, testCatalogue(t)) {
		counts[[2]string{f.StepID, f.Code}]++
	}
	for key, n := range counts {
		if n != 1 {
			t.Errorf("%v reported %d times", key, n)
		}
	}
	for _, key := range [][2]string{{"a", "UNDEFINED_VARIABLE"}, {"b", "PARAM_TYPE_MISMATCH"}, {"b", "MISSING_REQUIRED_PARAM"},
		{"b", "DUPLICATE_OUTCOME"}, {"b", "ERROR_EDGE_WITHOUT_NOTIFICATION"}, {"c", "CONDITION_MISSING_BRANCH"}} {
		if counts[key] != 1 {
			t.Errorf("no %v finding: %v", key, counts)
		}
	}
}

// nilTypeCatalogue says yes to everything and returns no type: lint must not trust it.
type nilTypeCatalogue struct{}

func (nilTypeCatalogue) Connector(string) (Instance, bool) { return Instance{}, true }

// brokenDocuments are parseable definitions with every kind of nonsense in them.
var brokenDocuments = []string{
	`{}`,
	`{"steps": [], "edges": [{"from": "a", "to": "b", "on": "success"}]}`,
	`{"steps": [{"id": "a", "type": "start"}], "edges": [{"from": "a", "to": "a", "on": "success"}, {"from": "a", "to": "a", "on": "success"}]}`,
	`{"steps": [{"id": "", "type": ""}, {"id": "", "type": "connector"}], "edges": [{"from": "", "to": "", "on": ""}]}`,
	`{"steps": [{"id": "a", "type": "start"}, {"id": "a", "type": "end"}, {"id": "a", "type": "condition"}], "edges": [{"from": "a", "to": "a", "on": "x"}]}`,
	`{"steps": [{"id": "c", "type": "connector", "config": {"connectorId": ["x"], "command": {}, "params": [1, 2], "output": 7}}]}`,
	`{"steps": [{"id": "c", "type": "connector", "config": {"connectorId": "AD", "command": "createAccount", "params": {"username": null, "attributes": [1]}}}]}`,
	`{"steps": [{"id": "h", "type": "connector", "config": {"connectorId": "HR API", "command": "request", "params": {"method": 7}}}, {"id": "u", "type": "user_create"}]}`,
	`{"steps": [{"id": "c", "type": "condition", "config": {"branches": "yes", "default": 3}}, {"id": "d", "type": "condition", "config": {"branches": [null, 1, {"name": 1, "when": 2}, {"when": "((("}]}}]}`,
	`{"steps": [{"id": "t", "type": "transform", "config": {"set": ["a"]}}, {"id": "u", "type": "transform", "config": {"set": {"a": 1, "b": null, "c": "let x = 1; x"}}}]}`,
	`{"steps": [{"id": "u", "type": "user_create", "config": {"setAsSubject": "yes"}}, {"id": "n", "type": "notification", "config": {"connectorId": 5, "to": "{{"}}]}`,
	`{"subjectVariable": "s", "steps": [{"id": "u", "type": "user_create", "config": {"setAsSubject": true}}, {"id": "v", "type": "unknown", "config": {"x": "{{s}}"}}], "edges": [{"from": "u", "to": "v", "on": "success"}, {"from": "v", "to": "u", "on": "success"}]}`,
	`{"trigger": {"type": "schedule"}, "variables": [{"name": "", "required": true}, {"name": "", "required": true}], "steps": [{"id": "a", "type": "approval"}], "edges": [{"from": "a", "to": "a", "on": "rejected"}]}`,
}

func TestLintNeverPanics(t *testing.T) {
	for _, doc := range brokenDocuments {
		d := parse(t, doc)
		for _, cat := range []Catalogue{nil, testCatalogue(t), nilTypeCatalogue{}} {
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

// countingCatalogue counts the lookups of each reference.
type countingCatalogue struct {
	catalogue
	asked map[string]int
}

func (c *countingCatalogue) Connector(ref string) (Instance, bool) {
	c.asked[ref]++
	return c.catalogue.Connector(ref)
}

func TestLintAsksTheCatalogueOncePerReference(t *testing.T) {
	cat := &countingCatalogue{catalogue: testCatalogue(t), asked: map[string]int{}}
	Lint(parse(t, provisioningChain), cat)
	want := map[string]int{"AD": 1, "Authifi": 1, "Mail": 1}
	if !reflect.DeepEqual(cat.asked, want) {
		t.Errorf("asked %v, want %v", cat.asked, want)
	}
}

func TestLintLargeGraph(t *testing.T) {
	// The largest definition Parse accepts, a chain listed backwards where every step sets a
	// variable the next reads.
	const steps = 1000
	var b strings.Builder
	b.WriteString(`{"steps": [{"id": "s0", "type": "start"}`)
	for i := 1; i < steps; i++ {
		fmt.Fprintf(&b, `, {"id": "s%d", "type": "transform", "config": {"set": {"v%d": "v%d"}}}`, i, i, i-1)
	}
	b.WriteString(`], "edges": [`)
	for i := steps - 1; i > 0; i-- {
		if i < steps-1 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `{"from": "s%d", "to": "s%d", "on": "success"}`, i-1, i)
	}
	b.WriteString(`]}`)
	got := Lint(parse(t, b.String()), nil)
	wantFindings(t, got, []Finding{
		{"UNDEFINED_VARIABLE", SeverityError, "s1", "uses variables that no input, built-in or earlier step defines: v0"},
		{"DEAD_END", SeverityWarning, fmt.Sprintf("s%d", steps-1), `no "success" edge leaves it, so a run that gets here stops here instead of reaching an end step; connect "success" to the next step or to an end step`},
	})
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
