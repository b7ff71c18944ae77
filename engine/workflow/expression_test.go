package workflow

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func exprVars() map[string]any {
	return map[string]any{
		"targetUser": map[string]any{"email": "Jane.Doe@Example.test", "displayName": "Jane Doe", "groups": []any{"staff", "vpn"}},
		"response":   "accepted",
		"count":      3.0,
		"users":      []any{map[string]any{"name": "a", "admin": true}, map[string]any{"name": "b", "admin": false}},
		"now":        "2024-05-01T12:00:00Z",
	}
}

var exprNames = []string{"targetUser", "response", "count", "users", "now", "initiator", "run"}

func TestEval(t *testing.T) {
	tests := []struct {
		src  string
		want any
	}{
		{`response == "accepted"`, true},
		{`count > 2 && len(targetUser.groups) == 2`, true},
		{`"vpn" in targetUser.groups`, true},
		{`lower(split(targetUser.email, "@")[0])`, "jane.doe"},
		{`replace(lower(targetUser.displayName), " ", ".")`, "jane.doe"},
		{`trim("  x ") + upper("y")`, "xY"},
		{`count * 2 + 1`, 7.0},
		{`filter(users, .admin) | map(.name)`, []any{"a"}},
		{`any(users, .name == "b")`, true},
		{`len(filter(users, not .admin))`, 1},
		{`targetUser?.missing ?? "fallback"`, "fallback"},
		{`now > "2024-01-01"`, true},
		{`initiator == nil`, true},
		{`response == "accepted" ? "yes" : "no"`, "yes"},
		{`{"email": targetUser.email}`, map[string]any{"email": "Jane.Doe@Example.test"}},
		{`join(sort(["b", "a"]), ",")`, "a,b"},
		{`sum(1..4)`, 10},
		{`max(count, 10)`, 10},
		{`hasSuffix(targetUser.email, "@Example.test")`, true},
		{`fromJSON("{\"a\": 1}").a`, 1.0},
	}
	for _, tt := range tests {
		p, err := Compile(tt.src, exprNames)
		if err != nil {
			t.Errorf("Compile(%s): %v", tt.src, err)
			continue
		}
		got, err := p.Eval(context.Background(), exprVars())
		if err != nil {
			t.Errorf("Eval(%s): %v", tt.src, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Eval(%s) = %#v, want %#v", tt.src, got, tt.want)
		}
	}
}

func TestCompileRefuses(t *testing.T) {
	tests := []struct {
		src, want string
	}{
		{``, "expression is empty"},
		{`   `, "expression is empty"},
		{`x >`, "expression `x >` is invalid: unexpected token EOF (line 1, column 3)"},
		{`nobody == 1`, "expression `nobody == 1` is invalid: unknown name nobody (line 1, column 1)"},
		{`let x = 1; x`, "let is not supported"},
		{`reduce(users, #acc + 1, 0)`, "function reduce is not available"},
		{`repeat("a", 10)`, "function repeat is not available"},
		{`now()`, "function now is not available"},
		{`date("2024-01-01")`, "function date is not available"},
		{`duration("1h")`, "function duration is not available"},
		{`bitand(1, 2)`, "function bitand is not available"},
		{`unknownFn(count)`, "function unknownFn is not available"},
		{`targetUser.email(count)`, "only functions can be called"},
		{`count(nobody)`, "unknown name nobody"},
		{`all(users, all(users, all(users, true)))`, "nested more than 2 deep"},
		{strings.Repeat("1 + ", maxExpressionLen), "longer than 4096 characters"},
		{strings.Repeat("count + ", 300) + "1", "node"},
	}
	for _, tt := range tests {
		_, err := Compile(tt.src, exprNames)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Compile(%.40q) error = %v, want it to contain %q", tt.src, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("Compile(%.40q) error spans lines: %q", tt.src, err)
		}
	}
	if _, err := Compile(`all(users, any(.groups, # == "x"))`, exprNames); err != nil {
		t.Errorf("predicates nested two deep are allowed: %v", err)
	}
}

func TestEvalErrors(t *testing.T) {
	tests := []struct {
		src, want string
	}{
		{`1..1000000`, "memory budget exceeded"},
		{`map(1..200000, #)`, "memory budget exceeded"},
		{`replace(response, "", "x")`, "non-empty text"},
		{`replace(replace(replace(replace(big, "a", big), "a", big), "a", big), "a", big)`, "more than 1048576 bytes"},
		{`response.x.y`, "failed:"},
	}
	vars := exprVars()
	vars["big"] = strings.Repeat("a", 200)
	for _, tt := range tests {
		p, err := Compile(tt.src, append(exprNames, "big"))
		if err != nil {
			t.Errorf("Compile(%s): %v", tt.src, err)
			continue
		}
		_, err = p.Eval(context.Background(), vars)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Eval(%s) error = %v, want it to contain %q", tt.src, err, tt.want)
		}
	}
}

func TestEvalHonoursContext(t *testing.T) {
	// Three nested predicates over 1000 items would be 10^9 iterations; two deep over a large
	// list is the slowest an allowed expression gets. The deadline must win regardless.
	items := make([]any, 5000)
	for i := range items {
		items[i] = float64(i)
	}
	p, err := Compile(`all(items, all(items, # >= 0))`, []string{"items"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = p.Eval(ctx, map[string]any{"items": items})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Eval error = %v, want the deadline", err)
	}
	if !strings.Contains(err.Error(), "did not finish in time") {
		t.Errorf("message: %v", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Eval returned after %v", elapsed)
	}

	cancelled, cancelNow := context.WithCancel(context.Background())
	cancelNow()
	if _, err := p.Eval(cancelled, map[string]any{"items": items}); !errors.Is(err, context.Canceled) {
		t.Errorf("Eval on a cancelled context: %v", err)
	}
}

func TestEvalDoesNotAliasVariables(t *testing.T) {
	p, err := Compile(`targetUser`, exprNames)
	if err != nil {
		t.Fatal(err)
	}
	vars := exprVars()
	out, err := p.Eval(context.Background(), vars)
	if err != nil {
		t.Fatal(err)
	}
	out.(map[string]any)["email"] = "changed"
	if vars["targetUser"].(map[string]any)["email"] != "Jane.Doe@Example.test" {
		t.Error("changing a result changed the variables")
	}
}

func TestEvalMissingVariableIsNil(t *testing.T) {
	p, err := Compile(`initiator?.email ?? "nobody"`, exprNames)
	if err != nil {
		t.Fatal(err)
	}
	for _, vars := range []map[string]any{nil, {}} {
		got, err := p.Eval(context.Background(), vars)
		if err != nil || got != "nobody" {
			t.Errorf("Eval(%v) = %v, %v", vars, got, err)
		}
	}
}

func TestExpressionNames(t *testing.T) {
	tests := []struct {
		src  string
		want []string
	}{
		{`response == "accepted"`, []string{"response"}},
		{`targetUser.email != "" && n > 1`, []string{"n", "targetUser"}},
		{`len`, []string{}},
		{`filter(users, .admin && .name == who) | map(.name)`, []string{"users", "who"}},
		{`lower(targetUser.email)`, []string{"targetUser"}},
		{`a[b].c`, []string{"a", "b"}},
		{`{key: value}`, []string{"value"}},
		{`myFunc(arg)`, []string{"arg"}},
		{`let x = y; x + 1`, []string{"y"}},
		{`$env.count`, []string{}},
		{`1 + 2`, []string{}},
		{`now`, []string{"now"}},
		{`x ? y : z`, []string{"x", "y", "z"}},
		{`s[i:j]`, []string{"i", "j", "s"}},
	}
	for _, tt := range tests {
		got, err := ExpressionNames(tt.src)
		if err != nil {
			t.Errorf("ExpressionNames(%s): %v", tt.src, err)
			continue
		}
		if len(got) == 0 && len(tt.want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ExpressionNames(%s) = %v, want %v", tt.src, got, tt.want)
		}
	}
	if _, err := ExpressionNames(`a ==`); err == nil || !strings.Contains(err.Error(), "is invalid") {
		t.Errorf("ExpressionNames of a syntax error: %v", err)
	}
}

func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`a == "x"`, `len(b) > 0 && c`, `filter(b, .x == a) | map(.y)`, `a ?? "d"`, `a ? b : c`,
		`let x = 1; x`, `reduce(b, #acc, 0)`, `1..5`, `{"k": a}`, `[a, b][0]`, `replace(a, "x", "y")`,
		`x >`, `((((`, `"\u00e9"`, `a matches "^x+$"`, `$env.a`, `if a { 1 } else { 2 }`, `now()`,
		`b | sortBy(#)`, `toJSON(fromJSON(a))`, `a.b?.c`, `abs(-1) ** 2 % 3`,
	} {
		f.Add(s)
	}
	names := []string{"a", "b", "c"}
	vars := map[string]any{"a": "text", "b": []any{1.0, "x", map[string]any{"x": "text", "y": 2.0}}, "c": true}
	f.Fuzz(func(t *testing.T, src string) {
		namesRead, nerr := ExpressionNames(src)
		p, err := Compile(src, names)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("Compile(%q) error spans lines: %q", src, err)
			}
			return
		}
		if nerr != nil {
			t.Fatalf("Compile(%q) succeeded but ExpressionNames failed: %v", src, nerr)
		}
		for _, n := range namesRead {
			if n != "a" && n != "b" && n != "c" {
				t.Errorf("Compile(%q) succeeded but it reads %q", src, n)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, _ = p.Eval(ctx, vars)
	})
}
