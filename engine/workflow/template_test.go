package workflow

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func templateVars() map[string]any {
	return map[string]any{
		"targetUser": map[string]any{"email": "jdoe@example.test", "id": "u-1", "age": 42.0, "manager": nil},
		"groups":     []any{"staff", "vpn"},
		"count":      3.0,
		"enabled":    true,
		"nothing":    nil,
		"typed":      map[string]string{"k": "v"},
		"typedList":  []string{"a", "b"},
		"when":       time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
		"html":       map[string]any{"a": "<b>&"},
	}
}

func TestRender(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"plain text", "hello", "hello"},
		{"exact string", "{{targetUser.email}}", "jdoe@example.test"},
		{"exact keeps number", "{{count}}", 3.0},
		{"exact keeps bool", "{{ enabled }}", true},
		{"exact keeps list", "{{groups}}", []any{"staff", "vpn"}},
		{"exact keeps map", "{{targetUser}}", map[string]any{"email": "jdoe@example.test", "id": "u-1", "age": 42.0, "manager": nil}},
		{"exact null", "{{nothing}}", nil},
		{"list index", "{{groups.1}}", "vpn"},
		{"typed map", "{{typed.k}}", "v"},
		{"typed slice", "{{typedList.1}}", "b"},
		{"interpolate string", "Hi {{targetUser.email}}!", "Hi jdoe@example.test!"},
		{"interpolate number", "n={{count}}", "n=3"},
		{"interpolate bool", "on: {{enabled}}", "on: true"},
		{"interpolate list as compact JSON", "g={{groups}}", `g=["staff","vpn"]`},
		{"interpolate map without HTML escaping", "x {{html}}", `x {"a":"<b>&"}`},
		{"interpolate null as nothing", "[{{nothing}}]", "[]"},
		{"interpolate time unquoted", "at {{when}}", "at 2024-05-01T12:00:00Z"},
		{"two templates", "{{targetUser.id}}:{{targetUser.email}}", "u-1:jdoe@example.test"},
		{"space around exact is text", " {{count}}", " 3"},
		{"escaped braces", `\{{targetUser.email}}`, "{{targetUser.email}}"},
		{"escape next to template", `\{{a}} {{count}}`, "{{a}} 3"},
		{"backslash elsewhere is literal", `C:\dir\{{count}}`, `C:\dir{{count}}`},
		{"lone closing braces", "a }} b", "a }} b"},
		{"map walked, keys untouched", map[string]any{"{{count}}": "{{count}}", "n": 1.0}, map[string]any{"{{count}}": 3.0, "n": 1.0}},
		{"list walked", []any{"{{groups.0}}", true, nil}, []any{"staff", true, nil}},
		{"nested", map[string]any{"a": []any{map[string]any{"b": "x{{count}}"}}}, map[string]any{"a": []any{map[string]any{"b": "x3"}}}},
		{"other values unchanged", 12.5, 12.5},
		{"nil", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Render(tt.in, templateVars())
			if err != nil {
				t.Fatalf("Render(%#v): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Render(%#v) = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
}

func TestRenderTextAndHTML(t *testing.T) {
	vars := templateVars()
	vars["hostile"] = `<script>alert("x")</script> & 'co'`
	for _, tt := range []struct {
		in, text, html string
	}{
		{"{{count}}", "3", "3"},
		{"{{groups}}", `["staff","vpn"]`, `[&#34;staff&#34;,&#34;vpn&#34;]`},
		{"{{nothing}}", "", ""},
		{"<p>Hi {{hostile}}</p>", `<p>Hi <script>alert("x")</script> & 'co'</p>`,
			`<p>Hi &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#39;co&#39;</p>`},
		{`<a href="{{targetUser.email}}">\{{x}}</a>`, `<a href="jdoe@example.test">{{x}}</a>`, `<a href="jdoe@example.test">{{x}}</a>`},
		{"no templates <b>", "no templates <b>", "no templates <b>"},
	} {
		text, err := RenderText(tt.in, vars)
		if err != nil || text != tt.text {
			t.Errorf("RenderText(%q) = %q, %v; want %q", tt.in, text, err, tt.text)
		}
		h, err := RenderHTML(tt.in, vars)
		if err != nil || h != tt.html {
			t.Errorf("RenderHTML(%q) = %q, %v; want %q", tt.in, h, err, tt.html)
		}
	}
	var missing *MissingVariableError
	if _, err := RenderHTML("<p>{{nosuch.x}}</p>", vars); !errors.As(err, &missing) || missing.Name != "nosuch.x" {
		t.Errorf("RenderHTML of a missing variable: %v", err)
	}
	if _, err := RenderText("{{", vars); err == nil {
		t.Error("RenderText of an unclosed template succeeded")
	}
}

func TestRenderMissing(t *testing.T) {
	tests := []struct {
		in   any
		name string // the MissingVariableError's Name
		msg  string
	}{
		{"{{nobody}}", "nobody", "variable nobody is not defined"},
		{"Hi {{targetUser.phone}}", "targetUser.phone", "variable targetUser.phone is not defined"},
		{"{{groups.2}}", "groups.2", "variable groups.2 is not defined"},
		{"{{groups.-1}}", "groups.-1", "variable groups.-1 is not defined"},
		{"{{groups.x}}", "groups.x", "variable groups.x is not defined"},
		{"{{count.x}}", "count.x", "variable count.x is not defined"},
		{"{{targetUser.manager.id}}", "targetUser.manager.id", "variable targetUser.manager.id is not defined"},
		{"{{typed.nope}}", "typed.nope", "variable typed.nope is not defined"},
		{map[string]any{"params": map[string]any{"username": "{{who.name}}"}}, "who.name", "params.username: variable who.name is not defined"},
		{[]any{"ok", "{{x}}"}, "x", "[1]: variable x is not defined"},
	}
	for _, tt := range tests {
		_, err := Render(tt.in, templateVars())
		var mv *MissingVariableError
		if !errors.As(err, &mv) {
			t.Errorf("Render(%#v) error = %v, want a *MissingVariableError", tt.in, err)
			continue
		}
		if mv.Name != tt.name || err.Error() != tt.msg {
			t.Errorf("Render(%#v): name %q, message %q; want %q, %q", tt.in, mv.Name, err.Error(), tt.name, tt.msg)
		}
	}
}

func TestRenderInvalid(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"{{x", "is not closed"},
		{"a {{ }} b", "names no variable"},
		{"{{1abc}}", "is not a variable name"},
		{"{{a..b}}", "empty part"},
		{"{{a b}}", "is not a variable name"},
		{"{{a.b c}}", "space or a brace"},
		{"{{{a}}}", "is not a variable name"},
		{"{{" + strings.Repeat("a", maxPathLen+1) + "}}", "longer than"},
		{"{{a" + strings.Repeat(".b", maxPathSegments) + "}}", "more than"},
		{strings.Repeat("{{count}}", maxTemplatesPerString+1), "more than 256 templates"},
		{"{{count}}" + strings.Repeat("x", maxTemplateText), "longer than"},
	}
	for _, tt := range tests {
		_, err := Render(tt.in, templateVars())
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Render(%.40q) error = %v, want it to contain %q", tt.in, err, tt.want)
		}
		var mv *MissingVariableError
		if errors.As(err, &mv) {
			t.Errorf("Render(%.40q): a syntax error must not be a missing variable", tt.in)
		}
	}
}

func TestRenderBounds(t *testing.T) {
	big := strings.Repeat("x", 10_000)
	_, err := Render(strings.Repeat("{{big}}", 200), map[string]any{"big": big})
	if err == nil || !strings.Contains(err.Error(), "renders to more than") {
		t.Errorf("a string rendering to 2 MB: error = %v", err)
	}
	var deep any = "{{count}}"
	for range maxConfigDepth + 1 {
		deep = []any{deep}
	}
	if _, err := Render(deep, templateVars()); err == nil || !strings.Contains(err.Error(), "nested more than") {
		t.Errorf("deeply nested config: error = %v", err)
	}
}

func TestRenderDoesNotAlias(t *testing.T) {
	vars := templateVars()
	out, err := Render(map[string]any{"g": "{{groups}}", "u": "{{targetUser}}"}, vars)
	if err != nil {
		t.Fatal(err)
	}
	m := out.(map[string]any)
	m["g"].([]any)[0] = "changed"
	m["u"].(map[string]any)["email"] = "changed"
	if vars["groups"].([]any)[0] != "staff" || vars["targetUser"].(map[string]any)["email"] != "jdoe@example.test" {
		t.Error("changing a rendered value changed the variables")
	}
	in := map[string]any{"a": "{{count}}"}
	if _, err := Render(in, vars); err != nil || in["a"] != "{{count}}" {
		t.Errorf("Render changed its input: %v %v", in, err)
	}
}

func TestTemplateNames(t *testing.T) {
	in := map[string]any{
		"to":      []any{"{{initiator.email}}", "role:Admin", "{{ manager.email }}"},
		"body":    "Hello {{targetUser.displayName}}, {{targetUser.displayName}} and {{groups.0}}",
		"escaped": `\{{notAVariable}}`,
		"broken":  "{{unclosed",
		"n":       12.0,
		"nested":  map[string]any{"x": []any{map[string]any{"y": "{{deep.value}}"}}},
	}
	want := []string{"deep.value", "groups.0", "initiator.email", "manager.email", "targetUser.displayName"}
	if got := TemplateNames(in); !reflect.DeepEqual(got, want) {
		t.Errorf("TemplateNames = %v, want %v", got, want)
	}
	if got := TemplateNames("no templates"); len(got) != 0 {
		t.Errorf("TemplateNames(plain) = %v", got)
	}
}

func FuzzRender(f *testing.F) {
	for _, s := range []string{
		"", "plain", "{{a}}", "{{ a.b.0 }}", "x {{a}} y {{b}}", `\{{a}}`, "{{", "}}", "{{}}", "{{a",
		"{{a.}}", "{{{a}}}", "{{a}}{{a}}", "{{ a b }}", "\\\\{{a}}", "{{é.ü}}", "{{a.b\n}}", "{{\xff}}", "x {{h}}",
	} {
		f.Add(s)
	}
	vars := map[string]any{
		"a": map[string]any{"b": []any{1.0, "two", nil}, "c": "{{a}}"},
		"b": "text",
		"é": map[string]any{"ü": true},
		"h": "<i>&",
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := Render(s, vars)
		names := TemplateNames(s)
		if err != nil {
			return
		}
		// Whatever renders cleanly names only variables that exist, and templates in values
		// are never rendered again.
		for _, n := range names {
			if _, err := lookup(strings.Split(n, "."), vars); err != nil {
				t.Errorf("Render(%q) succeeded but TemplateNames lists missing %q", s, n)
			}
		}
		if str, ok := out.(string); ok && len(str) > maxRendered {
			t.Errorf("Render(%q) produced %d bytes", s, len(str))
		}
		// The escaping mode renders the same templates and never lets a value's markup through.
		h, err := RenderHTML(s, vars)
		if err != nil {
			t.Errorf("Render(%q) succeeded but RenderHTML failed: %v", s, err)
		}
		if !strings.Contains(s, "<") && strings.Contains(h, "<") {
			t.Errorf("RenderHTML(%q) = %q lets a value's markup through", s, h)
		}
	})
}

func TestRenderUserValueIsTheIDAloneAndTheUserThroughAPath(t *testing.T) {
	vars := map[string]any{"manager": UserValue{"id": "u-7", "email": "boss@example.test", "displayName": "The Boss"}}
	for tmpl, want := range map[string]any{
		"{{manager}}":                     "u-7",
		"{{manager.id}}":                  "u-7",
		"{{manager.email}}":               "boss@example.test",
		"Ask {{manager.displayName}}":     "Ask The Boss",
		"id={{manager}}":                  "id=u-7",
		"{{manager.email}} ({{manager}})": "boss@example.test (u-7)",
	} {
		got, err := Render(tmpl, vars)
		if err != nil || got != want {
			t.Errorf("%s: got %v %v, want %v", tmpl, got, err, want)
		}
	}
	var missing *MissingVariableError
	if _, err := Render("{{manager.phone}}", vars); !errors.As(err, &missing) || missing.Name != "manager.phone" {
		t.Errorf("a field users do not have: %v", err)
	}
}
