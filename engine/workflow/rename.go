package workflow

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/expr-lang/expr/ast"
)

// Renaming variables. Inserting a template into a draft renames the variables its steps read
// (a slot's placeholder becomes the variable it is bound to, an output that would collide with
// one of the draft's gets a new name), so the rename must understand both languages a step's
// config reads variables in: templates in strings, and expressions in conditions and
// transforms. Only the variable a path starts with is renamed ("target" in target.email);
// keys further down a path, literal text and escaped templates are left as written.

// NameProblem says why s cannot name a variable (not an identifier, or reserved), or "".
func NameProblem(s string) string { return nameProblem(s) }

// RenameVariables returns a copy of the step with every variable named by a key of renames
// read under its new name, and every variable it sets renamed the same way (a connector's
// output, a transform's set). renames maps old names to new; names not in it are kept. The
// renaming is simultaneous: {"a": "b", "b": "a"} swaps. An expression that does not parse is
// an error, since what it reads cannot be known.
func RenameVariables(s Step, renames map[string]string) (Step, error) {
	out := s
	if s.Config == nil {
		return out, nil
	}
	out.Config = copyJSON(s.Config).(map[string]any)
	if len(renames) == 0 {
		return out, nil
	}
	for _, k := range slices.Sorted(maps.Keys(out.Config)) {
		v := out.Config[k]
		switch {
		case s.Type == TypeCondition && k == "branches":
			branches, _ := v.([]any)
			for i, b := range branches {
				m, _ := b.(map[string]any)
				when, ok := m["when"].(string)
				if !ok {
					continue
				}
				renamed, err := RenameInExpression(when, renames)
				if err != nil {
					return s, fmt.Errorf("step %s: branches[%d].when: %w", s.ID, i, err)
				}
				m["when"] = renamed
			}
		case s.Type == TypeTransform && k == "set":
			set, ok := v.(map[string]any)
			if !ok {
				continue
			}
			renamedSet := make(map[string]any, len(set))
			for _, name := range slices.Sorted(maps.Keys(set)) {
				val := set[name]
				if src, ok := val.(string); ok {
					renamed, err := RenameInExpression(src, renames)
					if err != nil {
						return s, fmt.Errorf("step %s: set.%s: %w", s.ID, name, err)
					}
					val = renamed
				}
				renamedSet[renamedName(name, renames)] = val
			}
			out.Config[k] = renamedSet
		case s.Type == TypeConnector && k == "output":
			if name, ok := v.(string); ok {
				out.Config[k] = renamedName(name, renames)
			}
		default:
			out.Config[k] = RenameInTemplates(v, renames)
		}
	}
	return out, nil
}

func renamedName(name string, renames map[string]string) string {
	if to, ok := renames[name]; ok {
		return to
	}
	return name
}

// RenameInTemplates returns v with the templates of its strings renamed, walking maps and
// lists as Render does. A string whose templates do not parse is left as it is: nothing in it
// can be known to be a variable.
func RenameInTemplates(v any, renames map[string]string) any {
	return renameInTemplates(v, renames, 0)
}

func renameInTemplates(v any, renames map[string]string, depth int) any {
	if depth > maxConfigDepth {
		return v
	}
	switch x := v.(type) {
	case string:
		return renameInString(x, renames)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = renameInTemplates(e, renames, depth+1)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = renameInTemplates(e, renames, depth+1)
		}
		return out
	}
	return v
}

// renameInString rewrites the first segment of each template's path, following the grammar
// parseTemplate reads: an escaped "\{{" is literal, and spaces inside the braces are kept.
func renameInString(s string, renames map[string]string) string {
	if !HasTemplate(s) {
		return s
	}
	if _, err := parseTemplate(s); err != nil {
		return s
	}
	var b strings.Builder
	rest := s
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			b.WriteString(rest)
			return b.String()
		}
		if i > 0 && rest[i-1] == '\\' {
			b.WriteString(rest[:i+2])
			rest = rest[i+2:]
			continue
		}
		b.WriteString(rest[:i+2])
		body := rest[i+2:]
		end := strings.Index(body, "}}")
		inner := body[:end]
		lead := len(inner) - len(strings.TrimLeft(inner, " \t\r\n"))
		path := strings.TrimSpace(inner)
		root, tail, dotted := strings.Cut(path, ".")
		b.WriteString(inner[:lead])
		b.WriteString(renamedName(root, renames))
		if dotted {
			b.WriteString("." + tail)
		}
		b.WriteString(inner[lead+len(path):])
		b.WriteString("}}")
		rest = body[end+2:]
	}
}

// RenameInExpression returns src with the variables it reads renamed. Member names
// (target.email), map keys and function names are not variables and are kept.
func RenameInExpression(src string, renames map[string]string) (string, error) {
	tree, err := parseExpression(src)
	if err != nil {
		return "", err
	}
	type span struct {
		from, to  int
		old, name string
	}
	var spans []span
	var walk func(n ast.Node)
	walk = func(n ast.Node) {
		switch x := n.(type) {
		case nil:
			return
		case *ast.IdentifierNode:
			if to, ok := renames[x.Value]; ok && x.Value != "$env" {
				loc := x.Location()
				spans = append(spans, span{from: loc.From, to: loc.To, old: x.Value, name: to})
			}
			return
		case *ast.CallNode:
			if _, ok := x.Callee.(*ast.IdentifierNode); ok {
				for _, a := range x.Arguments {
					walk(a)
				}
				return
			}
		}
		for _, c := range children(n) {
			walk(c)
		}
	}
	walk(tree.Node)
	if len(spans) == 0 {
		return src, nil
	}
	// expr locates tokens in runes; edit from the end so earlier offsets stay valid.
	runes := []rune(src)
	slices.SortFunc(spans, func(a, b span) int { return b.from - a.from })
	for _, sp := range spans {
		if sp.from < 0 || sp.to > len(runes) || sp.from >= sp.to || string(runes[sp.from:sp.to]) != sp.old {
			return "", fmt.Errorf("expression `%s`: cannot locate a variable to rename", quoted(src))
		}
		runes = slices.Concat(runes[:sp.from], []rune(sp.name), runes[sp.to:])
	}
	return string(runes), nil
}
