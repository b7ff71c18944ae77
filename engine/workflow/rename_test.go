package workflow

import (
	"reflect"
	"strings"
	"testing"
)

func TestRenameInTemplates(t *testing.T) {
	renames := map[string]string{"target": "newHire", "account": "account_2"}
	for _, c := range []struct{ in, want string }{
		{"{{target.email}}", "{{newHire.email}}"},
		{"Hello {{ target.displayName }}, your account is {{account.dn}}.", "Hello {{ newHire.displayName }}, your account is {{account_2.dn}}."},
		{"{{target}}", "{{newHire}}"},
		{"{{targets.email}} {{other.target}}", "{{targets.email}} {{other.target}}"},
		{`\{{target.email}} is literal, {{target.email}} is not`, `\{{target.email}} is literal, {{newHire.email}} is not`},
		{"no templates: target.email", "no templates: target.email"},
		{"{{target.email", "{{target.email"}, // does not parse: left as written
		{"{{target.groups.0}}", "{{newHire.groups.0}}"},
	} {
		if got := RenameInTemplates(c.in, renames); got != c.want {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
	nested := map[string]any{"to": []any{"{{target.email}}", "role:Admin"}, "n": 3.0, "deep": map[string]any{"x": "{{account}}"}}
	want := map[string]any{"to": []any{"{{newHire.email}}", "role:Admin"}, "n": 3.0, "deep": map[string]any{"x": "{{account_2}}"}}
	if got := RenameInTemplates(nested, renames); !reflect.DeepEqual(got, want) {
		t.Errorf("nested: got %v", got)
	}
	if nested["to"].([]any)[0] != "{{target.email}}" {
		t.Error("the input was changed")
	}
}

func TestRenameInExpression(t *testing.T) {
	renames := map[string]string{"records": "changed", "resourceType": "kind", "a": "b", "b": "a"}
	for _, c := range []struct{ in, want string }{
		{`resourceType == "user" && len(records) > 0`, `kind == "user" && len(changed) > 0`},
		{`(records[0].email ?? "") != ""`, `(changed[0].email ?? "") != ""`},
		{`a + b`, `b + a`},
		{`other.records + "resourceType"`, `other.records + "resourceType"`},
		{`{records: 1}.records`, `{records: 1}.records`},
		{`all(records, {.email != ""})`, `all(changed, {.email != ""})`},
		{`"é" + a`, `"é" + b`}, // offsets are in runes
	} {
		got, err := RenameInExpression(c.in, renames)
		if err != nil || got != c.want {
			t.Errorf("%q: got %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if _, err := RenameInExpression("a +", renames); err == nil {
		t.Error("an expression that does not parse is an error")
	}
}

func TestRenameVariables(t *testing.T) {
	renames := map[string]string{"target": "person", "adAccount": "adAccount_2", "username": "login"}
	for _, c := range []struct{ in, want Step }{
		{
			Step{ID: "c", Type: TypeConnector, Config: map[string]any{"connectorId": "ad", "command": "createAccount",
				"params": map[string]any{"username": "{{target.email}}"}, "output": "adAccount"}},
			Step{ID: "c", Type: TypeConnector, Config: map[string]any{"connectorId": "ad", "command": "createAccount",
				"params": map[string]any{"username": "{{person.email}}"}, "output": "adAccount_2"}},
		},
		{
			Step{ID: "t", Type: TypeTransform, Config: map[string]any{"set": map[string]any{"username": `lower(target.email)`}}},
			Step{ID: "t", Type: TypeTransform, Config: map[string]any{"set": map[string]any{"login": `lower(person.email)`}}},
		},
		{
			Step{ID: "k", Type: TypeCondition, Config: map[string]any{"branches": []any{map[string]any{"name": "target", "when": `adAccount.enabled`}}, "default": "target"}},
			Step{ID: "k", Type: TypeCondition, Config: map[string]any{"branches": []any{map[string]any{"name": "target", "when": `adAccount_2.enabled`}}, "default": "target"}},
		},
		{Step{ID: "s", Type: TypeStart}, Step{ID: "s", Type: TypeStart}},
	} {
		got, err := RenameVariables(c.in, renames)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %+v, %v\nwant %+v", c.in.ID, got, err, c.want)
		}
	}
	bad := Step{ID: "k", Type: TypeCondition, Config: map[string]any{"branches": []any{map[string]any{"name": "x", "when": "target +"}}}}
	if _, err := RenameVariables(bad, renames); err == nil {
		t.Error("a broken expression is an error")
	}
}

// Renaming never panics, and what a renamed text reads is what the original read, renamed.
func FuzzRename(f *testing.F) {
	for _, seed := range []string{
		"{{target.email}}", `\{{target}} {{ target.a.0 }}`, "{{target", "}}{{x}}", "plain",
		`target.email != "" && len(target.groups) > 0`, `all(target, {.x == other})`, `{target: 1}.target`, `"é" + target`,
	} {
		f.Add(seed)
	}
	renames := map[string]string{"target": "renamed_1", "other": "target"}
	mapped := func(names []string) map[string]bool {
		out := map[string]bool{}
		for _, n := range names {
			root, rest, dotted := strings.Cut(n, ".")
			if to, ok := renames[root]; ok {
				root = to
			}
			if dotted {
				root += "." + rest
			}
			out[root] = true
		}
		return out
	}
	set := func(names []string) map[string]bool {
		out := map[string]bool{}
		for _, n := range names {
			out[n] = true
		}
		return out
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := RenameInTemplates(s, renames).(string)
		if _, err := parseTemplate(s); err == nil {
			if want, have := mapped(TemplateNames(s)), set(TemplateNames(got)); !reflect.DeepEqual(want, have) {
				t.Fatalf("templates %q → %q read %v, want %v", s, got, have, want)
			}
		} else if got != s {
			t.Fatalf("a text whose templates do not parse was changed: %q → %q", s, got)
		}
		names, err := ExpressionNames(s)
		if err != nil {
			return
		}
		renamed, err := RenameInExpression(s, renames)
		if err != nil {
			t.Fatalf("%q parses but does not rename: %v", s, err)
		}
		after, err := ExpressionNames(renamed)
		if err != nil {
			t.Fatalf("%q renamed to %q, which does not parse: %v", s, renamed, err)
		}
		if want, have := mapped(names), set(after); !reflect.DeepEqual(want, have) {
			t.Fatalf("expression %q → %q reads %v, want %v", s, renamed, have, want)
		}
	})
}
