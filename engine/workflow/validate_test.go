package workflow

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// provisioning is a complete, publishable definition that the tests break one piece at a time.
const provisioning = `{
	"name": "Provisioning",
	"category": "Workflow Definition",
	"subjectVariable": "targetUser",
	"errorStrategy": "stop",
	"trigger": {"type": "schedule", "cron": "0 6 * * 1-5"},
	"variables": [
		{"name": "targetUser", "type": "user"},
		{"name": "firstName", "type": "string"}
	],
	"steps": [
		{"id": "start", "name": "Start", "type": "start"},
		{"id": "names", "name": "Names", "type": "transform", "config": {"set": {"username": "lower(firstName)"}}},
		{"id": "user", "name": "Floh user", "type": "user_create", "config": {"email": "{{username}}@example.test", "setAsSubject": true}},
		{"id": "ad", "name": "AD account", "type": "connector", "config": {"connectorId": "ad", "command": "createAccount",
			"params": {"username": "{{username}}", "ou": "OU=Staff"}, "output": "adAccount", "retry": {"maxAttempts": 3}, "timeout": "30s"}},
		{"id": "check", "name": "Check", "type": "condition", "config": {"branches": [{"name": "big", "when": "len(username) > 3"}], "default": "small"}},
		{"id": "approve", "name": "Approve", "type": "approval", "config": {"approvers": ["role:Approver"], "mode": "single", "timeout": "72h"}},
		{"id": "task", "name": "Task", "type": "manual_task", "config": {"assignee": "role:IT", "title": "Badge for {{targetUser.displayName}}"}},
		{"id": "wait", "name": "Wait", "type": "delay", "config": {"duration": "10m"}},
		{"id": "child", "name": "Child", "type": "sub_workflow", "config": {"workflowId": "w-1", "variables": {"u": "{{targetUser}}"}}},
		{"id": "profile", "name": "Profile", "type": "profile_update", "config": {"userId": "{{targetUser.id}}", "fields": {"title": "Engineer"}}},
		{"id": "notify", "name": "Notify", "type": "notification", "config": {"channel": "email", "to": ["{{initiator.email}}"], "subject": "Done", "body": "{{adAccount.dn}}"}},
		{"id": "end", "name": "End", "type": "end"}
	],
	"edges": [
		{"from": "start", "to": "names", "on": "success"},
		{"from": "names", "to": "user", "on": "success"},
		{"from": "user", "to": "ad", "on": "success"},
		{"from": "ad", "to": "check", "on": "success"},
		{"from": "ad", "to": "notify", "on": "error"},
		{"from": "check", "to": "approve", "on": "big"},
		{"from": "check", "to": "task", "on": "small"},
		{"from": "approve", "to": "wait", "on": "success"},
		{"from": "approve", "to": "notify", "on": "rejected"},
		{"from": "task", "to": "wait", "on": "success"},
		{"from": "wait", "to": "child", "on": "success"},
		{"from": "child", "to": "profile", "on": "success"},
		{"from": "profile", "to": "notify", "on": "success"},
		{"from": "notify", "to": "end", "on": "success"}
	]
}`

func mustParse(t *testing.T, doc string) *Definition {
	t.Helper()
	d, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return d
}

// edited returns the provisioning document with edit applied to its decoded JSON.
func edited(t *testing.T, edit func(doc map[string]any)) *Definition {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(provisioning), &doc); err != nil {
		t.Fatal(err)
	}
	edit(doc)
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return mustParse(t, string(data))
}

func stepConfig(doc map[string]any, i int) map[string]any {
	return doc["steps"].([]any)[i].(map[string]any)["config"].(map[string]any)
}

func TestParse(t *testing.T) {
	d := mustParse(t, provisioning)
	if d.Name != "Provisioning" || len(d.Steps) != 12 || len(d.Edges) != 14 || d.Trigger.Cron != "0 6 * * 1-5" {
		t.Errorf("Parse read %+v", d)
	}
	if d.Steps[3].Config["retry"].(map[string]any)["maxAttempts"] != 3.0 {
		t.Errorf("config: %v", d.Steps[3].Config)
	}
	empty := mustParse(t, `{"name": "x", "steps": null}`)
	if empty.Steps == nil || empty.Edges == nil || empty.Variables == nil {
		t.Error("lists must be empty, not nil")
	}
	if out, _ := json.Marshal(empty); !strings.Contains(string(out), `"steps":[]`) {
		t.Errorf("marshalled: %s", out)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		doc  string
		want []FieldError
	}{
		{`{"name": "x", "steps": [{"id": "a", "type": "start"}, {"id": "b"}, {"id": "c", "confg": {}}]}`,
			[]FieldError{{"steps[2].confg", "is not a field of a step (expected one of: config, id, name, type)"}}},
		{`{"nme": "x", "trigger": {"type": "schedule", "crn": "x"}}`,
			[]FieldError{{"nme", "is not a field of a workflow definition (expected one of: category, description, edges, errorStrategy, name, steps, subjectVariable, trigger, variables)"},
				{"trigger.crn", "is not a field of a trigger (expected one of: cron, type)"}}},
		{`{"name": 1, "steps": {}, "edges": [{"from": "a", "to": ["b"]}], "variables": [{"name": "v", "required": "yes"}]}`,
			[]FieldError{{"edges[0].to", "must be text, not a list"}, {"name", "must be text, not a number"},
				{"steps", "must be a list, not an object"}, {"variables[0].required", "must be true or false, not text"}}},
		{`{"steps": [{"id": "a", "config": "x"}], "edges": [1]}`,
			[]FieldError{{"edges[0]", "must be an object, not a number"}, {"steps[0].config", "must be an object, not text"}}},
		{`[]`, []FieldError{{"", "must be an object, not a list"}}},
		{`{"name": "x",}`, []FieldError{{"", "is not valid JSON: invalid character '}' looking for beginning of object key string (line 1, column 14)"}}},
		{"{\n\"name\": \"x\"\n\"steps\": []}", []FieldError{{"", "is not valid JSON: invalid character '\"' after object key:value pair (line 3, column 1)"}}},
		{``, []FieldError{{"", "is not valid JSON: the document is empty or cut short"}}},
		{`{"name": "x"`, []FieldError{{"", "is not valid JSON: the document is empty or cut short"}}},
		{`{"name": "x"} {}`, []FieldError{{"", "is not valid JSON: there is text after the document"}}},
		{`{"name": "x"}}`, []FieldError{{"", "is not valid JSON: there is text after the document"}}},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.doc))
		var errs ValidationErrors
		if !errors.As(err, &errs) {
			t.Errorf("Parse(%s) = %v, want ValidationErrors", tt.doc, err)
			continue
		}
		if !reflect.DeepEqual([]FieldError(errs), tt.want) {
			t.Errorf("Parse(%s):\n got %q\nwant %q", tt.doc, errs, tt.want)
		}
		var fe *FieldError
		if !errors.As(err, &fe) || *fe != tt.want[0] {
			t.Errorf("Parse(%s): errors.As(*FieldError) = %v", tt.doc, fe)
		}
	}
	tooMany := `{"steps": [` + strings.TrimSuffix(strings.Repeat(`{"id": "s"},`, maxSteps+1), ",") + `], "edges": [` +
		strings.TrimSuffix(strings.Repeat(`{},`, maxEdges+1), ",") + `]}`
	_, err := Parse([]byte(tooMany))
	want := ValidationErrors{{"steps", "has 1001 entries; at most 1000 are allowed"}, {"edges", "has 5001 entries; at most 5000 are allowed"}}
	var errs ValidationErrors
	if !errors.As(err, &errs) || !reflect.DeepEqual(errs, want) {
		t.Errorf("too many steps and edges: %v", err)
	}
	if _, err := Parse(make([]byte, maxDefinitionBytes+1)); err == nil || !strings.Contains(err.Error(), "larger than 4 MiB") {
		t.Errorf("oversized: %v", err)
	}
}

func TestValidateComplete(t *testing.T) {
	d := mustParse(t, provisioning)
	for _, draft := range []bool{true, false} {
		if problems := d.Validate(draft); len(problems) != 0 {
			t.Errorf("Validate(draft=%v) = %v", draft, problems)
		}
	}
	if problems := (&Definition{}).Validate(true); len(problems) != 0 {
		t.Errorf("an empty draft saves: %v", problems)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(doc map[string]any)
		draft []FieldError // problems in draft mode (also reported when publishing)
		extra []FieldError // problems only when publishing
	}{
		{"no name", func(d map[string]any) { d["name"] = "  " }, nil, []FieldError{{"name", "is required"}}},
		{"no steps", func(d map[string]any) { d["steps"] = []any{}; d["edges"] = []any{} }, nil, []FieldError{{"steps", "needs at least one step"}}},
		{"empty transform", func(d map[string]any) { stepConfig(d, 1)["set"] = map[string]any{} }, nil, []FieldError{{"steps[1].config.set", "needs at least one variable"}}},
		{"error strategy", func(d map[string]any) { d["errorStrategy"] = "retry" }, []FieldError{{"errorStrategy", `must be stop or continue, not "retry"`}}, nil},
		{"trigger type", func(d map[string]any) { d["trigger"] = map[string]any{"type": "hourly"} },
			[]FieldError{{"trigger.type", `must be one of manual, schedule, api, not "hourly"`}}, nil},
		{"cron missing", func(d map[string]any) { d["trigger"] = map[string]any{"type": "schedule"} },
			nil, []FieldError{{"trigger.cron", "is required for a schedule trigger"}}},
		{"cron six fields", func(d map[string]any) { d["trigger"].(map[string]any)["cron"] = "0 0 6 * * *" },
			nil, []FieldError{{"trigger.cron", `must be five fields (minute hour day-of-month month day-of-week, in UTC) such as "0 6 * * 1-5", not "0 0 6 * * *"`}}},
		{"cron descriptor", func(d map[string]any) { d["trigger"].(map[string]any)["cron"] = "@daily" },
			nil, []FieldError{{"trigger.cron", `must be five fields (minute hour day-of-month month day-of-week, in UTC) such as "0 6 * * 1-5", not "@daily"`}}},
		{"cron time zone", func(d map[string]any) { d["trigger"].(map[string]any)["cron"] = "TZ=Europe/Paris 0 6 * *" },
			nil, []FieldError{{"trigger.cron", `must be five fields (minute hour day-of-month month day-of-week, in UTC) such as "0 6 * * 1-5", not "TZ=Europe/Paris 0 6 * *"`}}},
		{"cron out of range", func(d map[string]any) { d["trigger"].(map[string]any)["cron"] = "61 6 * * *" },
			nil, []FieldError{{"trigger.cron", `must be five fields (minute hour day-of-month month day-of-week, in UTC) such as "0 6 * * 1-5": "61 6 * * *": end of range (61) above maximum (59): 61`}}},
		{"cron never", func(d map[string]any) { d["trigger"].(map[string]any)["cron"] = "0 0 30 2 *" },
			nil, []FieldError{{"trigger.cron", `"0 0 30 2 *" never fires`}}},
		{"required variable on a schedule", func(d map[string]any) {
			d["variables"].([]any)[1].(map[string]any)["required"] = true
		}, nil, []FieldError{{"variables[1].required", "must be false: a scheduled workflow starts its runs with no inputs"}}},
		{"required variable on a manual trigger", func(d map[string]any) {
			d["trigger"] = map[string]any{"type": "manual"}
			d["variables"].([]any)[1].(map[string]any)["required"] = true
		}, nil, nil},
		{"cron on a manual trigger", func(d map[string]any) { d["trigger"] = map[string]any{"type": "manual", "cron": "0 6 * * *"} },
			nil, []FieldError{{"trigger.cron", "is only used by a schedule trigger"}}},
		{"variables", func(d map[string]any) {
			d["variables"] = []any{
				map[string]any{"name": "", "type": "string"},
				map[string]any{"name": "a", "type": "text"},
				map[string]any{"name": "a", "type": "list"},
				map[string]any{"name": "first name", "type": "string"},
				map[string]any{"name": "now", "type": "string"},
				map[string]any{"name": "targetUser", "type": "user"},
				map[string]any{"name": "firstName", "type": "string"},
			}
		}, []FieldError{
			{"variables[0].name", "is required"},
			{"variables[1].type", `must be one of string, number, boolean, user, object, list, not "text"`},
			{"variables[2].name", `duplicate variable name "a"`},
		}, []FieldError{
			{"variables[3].name", `"first name" cannot name a variable: use letters, digits and _, not starting with a digit`},
			{"variables[4].name", `"now" is reserved and cannot name a variable`},
		}},
		{"subject variable", func(d map[string]any) { d["subjectVariable"] = "who" }, nil, []FieldError{{"subjectVariable", `names no variable of this workflow: "who"`}}},
		{"step ids and types", func(d map[string]any) {
			steps := d["steps"].([]any)
			steps[1].(map[string]any)["id"] = ""
			steps[2].(map[string]any)["id"] = "start"
			steps[3].(map[string]any)["type"] = "script"
		}, []FieldError{
			{"steps[1].id", "is required"},
			{"steps[2].id", `duplicate step id "start"`},
			{"steps[3].type", `must be one of start, end, connector, approval, manual_task, notification, condition, transform, user_create, profile_update, delay, sub_workflow, not "script"`},
		}, nil},
		{"edges", func(d map[string]any) {
			d["edges"] = []any{map[string]any{"from": "", "to": "b", "on": " "}, map[string]any{"from": "a", "to": "b", "on": "success"}}
		}, []FieldError{{"edges[0].from", "is required"}, {"edges[0].on", "is required"}}, nil},
		{"required config keys", func(d map[string]any) {
			for _, s := range d["steps"].([]any) {
				s.(map[string]any)["config"] = map[string]any{}
			}
		}, nil, []FieldError{
			{"steps[1].config.set", "is required"},
			{"steps[2].config.email", "is required"},
			{"steps[3].config.connectorId", "is required"},
			{"steps[3].config.command", "is required"},
			{"steps[4].config.branches", "is required"},
			{"steps[5].config.approvers", "is required"},
			{"steps[6].config.assignee", "is required"},
			{"steps[6].config.title", "is required"},
			{"steps[7].config.duration", "is required"},
			{"steps[8].config.workflowId", "is required"},
			{"steps[9].config.userId", "is required"},
			{"steps[9].config.fields", "is required"},
			{"steps[10].config.channel", "is required"},
			{"steps[10].config.to", "is required"},
			{"steps[10].config.body", "is required"},
		}},
		{"config types", func(d map[string]any) {
			stepConfig(d, 3)["retry"] = map[string]any{"maxAttempts": -1}
			stepConfig(d, 3)["timeout"] = "30 seconds"
			stepConfig(d, 4)["branches"] = []any{map[string]any{"when": "true"}}
			stepConfig(d, 5)["approvers"] = []any{"role:Approver", 3.0}
			stepConfig(d, 5)["mode"] = "any"
			stepConfig(d, 7)["duration"] = 600.0
			stepConfig(d, 10)["channel"] = "sms"
			d["steps"].([]any)[0].(map[string]any)["config"] = map[string]any{"x": 1.0}
		}, []FieldError{
			{"steps[0].config.x", "is not a setting of this step"},
			{"steps[3].config.timeout", `must be a positive duration such as 30s or 10m, not "30 seconds"`},
			{"steps[3].config.retry.maxAttempts", "must be a whole number from 1 to 100, not -1"},
			{"steps[4].config.branches[0].name", "is required"},
			{"steps[5].config.approvers[1]", "must be a non-empty text, not a number"},
			{"steps[5].config.mode", `must be one of single, sequential, parallel, not "any"`},
			{"steps[7].config.duration", "must be a duration such as 30s or 10m, not a number"},
			{"steps[10].config.channel", `must be one of email, in_app, not "sms"`},
		}, nil},
		{"names that cannot be used", func(d map[string]any) {
			stepConfig(d, 1)["set"] = map[string]any{"user name": "1", "ok": "2"}
			stepConfig(d, 3)["output"] = "ad-account"
		}, nil, []FieldError{
			{"steps[1].config.set.user name", `"user name" cannot name a variable: use letters, digits and _, not starting with a digit`},
			{"steps[3].config.output", `"ad-account" cannot name a variable: use letters, digits and _, not starting with a digit`},
		}},
		{"syntax", func(d map[string]any) {
			stepConfig(d, 1)["set"] = map[string]any{"username": "lower(firstName"}
			stepConfig(d, 3)["params"] = map[string]any{"username": "{{username", "groups": []any{"ok", "{{ }}"}}
			stepConfig(d, 4)["branches"] = []any{map[string]any{"name": "big", "when": "len(username) >"}}
			stepConfig(d, 10)["body"] = `Literal \{{ is fine`
		}, nil, []FieldError{
			{"steps[1].config.set.username", "expression `lower(firstName` is invalid: unexpected token EOF (line 1, column 15)"},
			{"steps[3].config.params.groups[1]", `template "{{ }}" is invalid: it names no variable`},
			{"steps[3].config.params.username", `template "{{username" is not closed with }}`},
			{"steps[4].config.branches[0].when", "expression `len(username) >` is invalid: unexpected token EOF (line 1, column 15)"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := edited(t, tt.edit)
			check := func(draft bool, want []FieldError) {
				got := d.Validate(draft)
				if !sameProblems(got, want) {
					t.Errorf("Validate(draft=%v):\n got %q\nwant %q", draft, got, want)
				}
			}
			check(true, tt.draft)
			check(false, append(slices.Clone(tt.draft), tt.extra...))
		})
	}
}

// sameProblems compares problem lists regardless of order; a wanted message ending without
// its parenthesised tail (the list of expected keys) matches by prefix.
func sameProblems(got, want []FieldError) bool {
	if len(got) != len(want) {
		return false
	}
	used := make([]bool, len(got))
	for _, w := range want {
		found := false
		for i, g := range got {
			if !used[i] && g.Field == w.Field && strings.HasPrefix(g.Message, w.Message) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(provisioning))
	for _, s := range []string{
		`{}`, `{"name": "x"}`, `[]`, `null`, `{"steps": [{"id": "a", "type": "start"}], "edges": [{"from": "a", "to": "a", "on": "success"}]}`,
		`{"steps": [{"id": "a", "type": "connector", "config": {"retry": {"maxAttempts": 1e308}}}]}`,
		`{"steps": [{"id": "c", "type": "condition", "config": {"branches": [{"name": "x", "when": "((("}]}}]}`,
		`{"trigger": {"type": "schedule", "cron": "*/0 * * * *"}}`, `{"name": "\u0000"}`, `{"steps": [null, 1]}`,
		`{"steps": [{"id": "t", "type": "transform", "config": {"set": {"a": "{{b}}"}}}], "variables": [{"name": "v"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data)
		if err != nil {
			var errs ValidationErrors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("Parse error is not ValidationErrors: %v", err)
			}
			return
		}
		for _, draft := range []bool{true, false} {
			for _, p := range d.Validate(draft) {
				if p.Message == "" {
					t.Errorf("Validate: empty message for %q", p.Field)
				}
			}
		}
		// A parsed document reads back as itself.
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("re-Parse of %s: %v", out, err)
		}
		if out2, _ := json.Marshal(again); string(out2) != string(out) {
			t.Errorf("round trip changed the document:\n%s\n%s", out, out2)
		}
		if diff := Diff(d, again); len(diff.Steps.Changed)+len(diff.Steps.Added)+len(diff.Edges.Added)+len(diff.Settings.Changed) != 0 {
			t.Errorf("a document differs from itself read back: %+v", diff)
		}
		for i := range d.Steps {
			s := &d.Steps[i]
			_, _ = s.ConnectorConfig()
			_, _ = s.ConditionConfig()
			_, _ = s.TransformConfig()
			_, _ = s.DelayConfig()
			_, _ = s.SubWorkflowConfig()
			_, _ = s.UserCreateConfig()
			_, _ = s.ProfileUpdateConfig()
			_, _ = Render(s.Config, map[string]any{})
			_ = TemplateNames(s.Config)
		}
	})
}
