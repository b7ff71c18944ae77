package workflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Templates in step config strings.
//
// Grammar: "{{ path }}" where path is a variable name followed by dot-separated keys or list
// indexes ("targetUser.email", "groups.0"). Spaces inside the braces are ignored. A string
// that is exactly one template yields the variable's raw value, so "{{groups}}" passes a list
// on as a list; anywhere else the value is interpolated as text.
//
// Escaping: a backslash right before "{{" makes it literal: `\{{x}}` renders as "{{x}}". A
// backslash anywhere else is an ordinary character, so Windows paths and regular expressions
// need no doubling. The price is that a literal backslash cannot directly precede a template;
// no workflow has needed that.
//
// A lone "}}" is literal text; an unclosed "{{" is an error, because it is almost always a
// typo that would otherwise reach a target system verbatim.

// Limits keep rendering linear and bounded whatever a definition or a variable holds.
const (
	// maxTemplateText is the longest config string that may contain templates.
	maxTemplateText = 1 << 20
	// maxTemplatesPerString bounds the work one string can ask for.
	maxTemplatesPerString = 256
	// maxPathLen and maxPathSegments bound one template's path.
	maxPathLen      = 256
	maxPathSegments = 32
	// maxRendered is the longest text an interpolated string may render to: a large list
	// interpolated many times must not grow without bound.
	maxRendered = 1 << 20
	// maxConfigDepth is how deeply maps and lists may nest in a config value.
	maxConfigDepth = 32
)

// MissingVariableError reports a template path that the run's variables do not hold.
type MissingVariableError struct {
	// Name is the path as written in the template, e.g. "targetUser.email".
	Name string
}

func (e *MissingVariableError) Error() string {
	return "variable " + e.Name + " is not defined"
}

// templatePart is a piece of a parsed string: literal text, or a template when path is set.
type templatePart struct {
	text string
	path []string
}

// hasTemplate reports whether s has a "{{", escaped or not: a cheap test before parsing.
func HasTemplate(s string) bool {
	return strings.Contains(s, "{{")
}

// parseTemplate splits s into literal text and templates.
func parseTemplate(s string) ([]templatePart, error) {
	if !HasTemplate(s) {
		return []templatePart{{text: s}}, nil
	}
	if len(s) > maxTemplateText {
		return nil, fmt.Errorf("text with templates is longer than %d bytes", maxTemplateText)
	}
	var parts []templatePart
	var lit strings.Builder
	templates := 0
	rest := s
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			lit.WriteString(rest)
			break
		}
		if i > 0 && rest[i-1] == '\\' {
			lit.WriteString(rest[:i-1])
			lit.WriteString("{{")
			rest = rest[i+2:]
			continue
		}
		lit.WriteString(rest[:i])
		body := rest[i+2:]
		end := strings.Index(body, "}}")
		if end < 0 {
			return nil, fmt.Errorf("template %q is not closed with }}", clip(rest[i:]))
		}
		path, err := parsePath(strings.TrimSpace(body[:end]))
		if err != nil {
			return nil, fmt.Errorf("template %q is invalid: %w", clip(rest[i:i+2+end+2]), err)
		}
		templates++
		if templates > maxTemplatesPerString {
			return nil, fmt.Errorf("text has more than %d templates", maxTemplatesPerString)
		}
		if lit.Len() > 0 {
			parts = append(parts, templatePart{text: lit.String()})
			lit.Reset()
		}
		parts = append(parts, templatePart{path: path})
		rest = body[end+2:]
	}
	if lit.Len() > 0 || len(parts) == 0 {
		parts = append(parts, templatePart{text: lit.String()})
	}
	return parts, nil
}

// parsePath checks a template's path: an identifier, then keys or indexes without spaces,
// dots or braces.
func parsePath(p string) ([]string, error) {
	if p == "" {
		return nil, errors.New("it names no variable")
	}
	if len(p) > maxPathLen {
		return nil, fmt.Errorf("its path is longer than %d characters", maxPathLen)
	}
	segs := strings.Split(p, ".")
	if len(segs) > maxPathSegments {
		return nil, fmt.Errorf("its path has more than %d parts", maxPathSegments)
	}
	if !isIdentifier(segs[0]) {
		return nil, fmt.Errorf("%q is not a variable name (letters, digits and _, not starting with a digit)", segs[0])
	}
	for _, seg := range segs[1:] {
		if seg == "" {
			return nil, fmt.Errorf("path %q has an empty part", p)
		}
		if i := strings.IndexFunc(seg, func(r rune) bool { return unicode.IsSpace(r) || r == '{' || r == '}' }); i >= 0 {
			return nil, fmt.Errorf("path %q has a space or a brace", p)
		}
	}
	return segs, nil
}

// isIdentifier reports whether s can name a variable: in a template path and as a top-level
// name in an expression.
func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r == '_' || unicode.IsLetter(r) || (i > 0 && unicode.IsDigit(r)) {
			continue
		}
		return false
	}
	return true
}

// clip shortens a template for an error message.
func clip(s string) string {
	const max = 60
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// UserValue is a user variable as templates see it: the user's id where a template names the
// variable alone ({{manager}}), as the run stores it, and the user's fields through a path
// ({{manager.id}}, {{manager.email}}, {{manager.displayName}}).
type UserValue map[string]any

// Render returns v with its templates filled in from vars. It walks maps and lists and returns
// new ones; other values come back unchanged. Map keys are never templated. A string that is
// exactly one template yields the raw value (number, bool, map, list, nil) so types survive;
// text around templates interpolates them: strings as they are, nil as nothing, anything else
// as compact JSON. Errors inside maps and lists name the key path ("params.username: ...") and
// wrap the cause, so errors.As finds a *MissingVariableError.
func Render(v any, vars map[string]any) (any, error) {
	return render(v, vars, "", 0)
}

func render(v any, vars map[string]any, at string, depth int) (any, error) {
	if depth > maxConfigDepth {
		return nil, located(at, fmt.Errorf("values are nested more than %d levels deep", maxConfigDepth))
	}
	switch x := v.(type) {
	case string:
		out, err := renderString(x, vars)
		if err != nil {
			return nil, located(at, err)
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		// Sorted keys make the first error reported deterministic.
		for _, k := range slices.Sorted(maps.Keys(x)) {
			r, err := render(x[k], vars, joinPath(at, k), depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := render(e, vars, at+"["+strconv.Itoa(i)+"]", depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

func joinPath(at, key string) string {
	if at == "" {
		return key
	}
	return at + "." + key
}

func located(at string, err error) error {
	if at == "" {
		return err
	}
	return fmt.Errorf("%s: %w", at, err)
}

func renderString(s string, vars map[string]any) (any, error) {
	if !HasTemplate(s) {
		return s, nil
	}
	parts, err := parseTemplate(s)
	if err != nil {
		return nil, err
	}
	if len(parts) == 1 && parts[0].path != nil {
		v, err := lookup(parts[0].path, vars)
		if err != nil {
			return nil, err
		}
		if u, ok := v.(UserValue); ok {
			return u["id"], nil
		}
		return copyJSON(v), nil
	}
	return interpolate(parts, vars, nil)
}

// RenderText renders s as text: every template is interpolated, even one standing alone, so
// a number or a list reads as it would inside a sentence. For a subject line or a message.
func RenderText(s string, vars map[string]any) (string, error) {
	return renderEscaped(s, vars, nil)
}

// RenderHTML renders s, an HTML document, as RenderText does, but every value a template
// substitutes is HTML-escaped while the text around the templates, the markup, is kept as
// written: a variable holding "<script>" arrives as text, never as markup. Escaping happens
// here, value by value, because once rendered nothing can tell the author's markup from a
// value's. Values are escaped for element content and quoted attributes; a URL attribute
// gets no scheme check, so an href should template only URLs Floh makes, such as
// run.diagnoseUrl.
func RenderHTML(s string, vars map[string]any) (string, error) {
	return renderEscaped(s, vars, html.EscapeString)
}

func renderEscaped(s string, vars map[string]any, escape func(string) string) (string, error) {
	parts, err := parseTemplate(s)
	if err != nil {
		return "", err
	}
	return interpolate(parts, vars, escape)
}

// interpolate writes parts as one text, each template's value as asText gives it, passed
// through escape when escape is set.
func interpolate(parts []templatePart, vars map[string]any, escape func(string) string) (string, error) {
	var b strings.Builder
	for _, p := range parts {
		if p.path == nil {
			b.WriteString(p.text)
		} else {
			v, err := lookup(p.path, vars)
			if err != nil {
				return "", err
			}
			text := asText(v)
			if escape != nil {
				text = escape(text)
			}
			b.WriteString(text)
		}
		if b.Len() > maxRendered {
			return "", fmt.Errorf("text renders to more than %d bytes", maxRendered)
		}
	}
	return b.String(), nil
}

// lookup follows a path through maps (by key) and lists (by index). Any map with string keys
// and any slice work, so values built in Go resolve like decoded JSON.
func lookup(path []string, vars map[string]any) (any, error) {
	missing := func() error { return &MissingVariableError{Name: strings.Join(path, ".")} }
	cur, ok := vars[path[0]]
	if !ok {
		return nil, missing()
	}
	for _, seg := range path[1:] {
		switch c := cur.(type) {
		case map[string]any:
			if cur, ok = c[seg]; !ok {
				return nil, missing()
			}
		case []any:
			i, ok := index(seg, len(c))
			if !ok {
				return nil, missing()
			}
			cur = c[i]
		default:
			rv := reflect.ValueOf(cur)
			switch {
			case rv.Kind() == reflect.Map && rv.Type().Key().Kind() == reflect.String:
				e := rv.MapIndex(reflect.ValueOf(seg).Convert(rv.Type().Key()))
				if !e.IsValid() {
					return nil, missing()
				}
				cur = e.Interface()
			case rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array:
				i, ok := index(seg, rv.Len())
				if !ok {
					return nil, missing()
				}
				cur = rv.Index(i).Interface()
			default:
				return nil, missing()
			}
		}
	}
	return cur, nil
}

// index parses a list index: plain decimal digits, in range.
func index(seg string, n int) (int, bool) {
	for _, r := range seg {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	i, err := strconv.Atoi(seg)
	if err != nil || i >= n {
		return 0, false
	}
	return i, true
}

// asText is how an interpolated value reads: strings as they are, nil as nothing, the rest
// as compact JSON without HTML escaping. A value whose JSON is a string (a time, say) reads as
// that string, unquoted.
func asText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case UserValue:
		return asText(x["id"])
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	out := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(out) > 0 && out[0] == '"' {
		var s string
		if json.Unmarshal(out, &s) == nil {
			return s
		}
	}
	return string(out)
}

// copyJSON deep-copies decoded JSON maps and lists so that a rendered value never aliases the
// run's variables: a connector or a later step may change what it was given. Variables come
// from JSON, so they are trees (no cycles) and Go's decoder bounds their depth.
func copyJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = copyJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = copyJSON(e)
		}
		return out
	}
	return v
}

// TemplateNames lists the variable paths that the templates in v reference ("targetUser.email",
// "groups.0"), sorted and without repeats. Strings whose templates do not parse are skipped:
// Validate reports them.
func TemplateNames(v any) []string {
	seen := map[string]bool{}
	collectTemplateNames(v, seen, 0)
	return slices.Sorted(maps.Keys(seen))
}

func collectTemplateNames(v any, seen map[string]bool, depth int) {
	if depth > maxConfigDepth {
		return
	}
	switch x := v.(type) {
	case string:
		if !HasTemplate(x) {
			return
		}
		parts, err := parseTemplate(x)
		if err != nil {
			return
		}
		for _, p := range parts {
			if p.path != nil {
				seen[strings.Join(p.path, ".")] = true
			}
		}
	case map[string]any:
		for _, e := range x {
			collectTemplateNames(e, seen, depth+1)
		}
	case []any:
		for _, e := range x {
			collectTemplateNames(e, seen, depth+1)
		}
	}
}
