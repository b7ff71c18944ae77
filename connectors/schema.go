package connectors

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// FieldError is one problem with one config field or param.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// CheckParams checks params against a command's schema before any call and returns them
// normalised: defaults filled in, numbers as int, booleans as bool, durations as
// time.Duration. A template renders every value as a string, so "42" is accepted for an integer
// and "true" for a boolean; "abc" is not. The error is invalid_input naming the first field at
// fault, with every problem in its message.
func CheckParams(cmd *Command, params map[string]any) (map[string]any, error) {
	out, problems := check(cmd.Params, params, "param")
	if len(problems) == 0 {
		return out, nil
	}
	msgs := make([]string, len(problems))
	for i, p := range problems {
		msgs[i] = p.Message
	}
	return nil, &Error{
		Class:   InvalidInput,
		Code:    "INVALID_PARAMS",
		Field:   problems[0].Field,
		Message: fmt.Sprintf("%s was not called: %s", cmd.Name, strings.Join(msgs, "; ")),
	}
}

// CheckConfig checks an instance's config (secrets included, in clear) against its type's
// schema, then the type's own Validate. It returns the config with defaults filled in.
func CheckConfig(t *Type, cfg Config) (Config, []FieldError) {
	out, problems := check(t.Config, cfg, "field")
	if len(problems) > 0 {
		return nil, problems
	}
	if t.Validate != nil {
		if problems := t.Validate(Config(out)); len(problems) > 0 {
			return nil, problems
		}
	}
	return Config(out), nil
}

// check is the schema walk shared by params and config. noun names what the values are in
// messages about unknown names.
func check(fields []Field, values map[string]any, noun string) (map[string]any, []FieldError) {
	var problems []FieldError
	out := make(map[string]any, len(fields))
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.Name
	}
	unknown := make([]string, 0)
	for name := range values {
		if !slices.Contains(names, name) {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	for _, name := range unknown {
		problems = append(problems, FieldError{Field: name, Message: fmt.Sprintf("unknown %s %q (expected one of: %s)", noun, name, strings.Join(names, ", "))})
	}
	for _, f := range fields {
		v, present := values[f.Name]
		if !present || v == nil || v == "" {
			if f.Required {
				problems = append(problems, FieldError{Field: f.Name, Message: f.Name + " is required"})
			} else if f.Default != nil {
				out[f.Name] = f.Default
			}
			continue
		}
		nv, err := coerce(f, v)
		if err != "" {
			problems = append(problems, FieldError{Field: f.Name, Message: f.Name + " " + err})
			continue
		}
		out[f.Name] = nv
	}
	return out, problems
}

// coerce converts a decoded JSON value to the field's kind, or says why it cannot.
func coerce(f Field, v any) (any, string) {
	switch f.Kind {
	case KindString, KindText:
		s, ok := v.(string)
		if !ok {
			return nil, "must be text, not " + describe(v)
		}
		if len(f.Enum) > 0 && !slices.Contains(f.Enum, s) {
			return nil, fmt.Sprintf("must be one of %s, not %q", strings.Join(f.Enum, ", "), s)
		}
		return s, ""
	case KindInteger:
		switch n := v.(type) {
		case float64:
			if n != math.Trunc(n) || math.Abs(n) > 1<<53 {
				return nil, fmt.Sprintf("must be a whole number, not %v", n)
			}
			return int(n), ""
		case int:
			return n, ""
		case int64:
			return int(n), ""
		case string:
			i, err := strconv.Atoi(strings.TrimSpace(n))
			if err != nil {
				return nil, fmt.Sprintf("must be a whole number, not %q", n)
			}
			return i, ""
		}
		return nil, "must be a whole number, not " + describe(v)
	case KindBoolean:
		switch b := v.(type) {
		case bool:
			return b, ""
		case string:
			switch strings.ToLower(strings.TrimSpace(b)) {
			case "true":
				return true, ""
			case "false":
				return false, ""
			}
			return nil, fmt.Sprintf("must be true or false, not %q", b)
		}
		return nil, "must be true or false, not " + describe(v)
	case KindStringList:
		switch l := v.(type) {
		case []string:
			return l, ""
		case string:
			// A comma-separated string is how a form or a template gives a list.
			var items []string
			for _, s := range strings.Split(l, ",") {
				if s = strings.TrimSpace(s); s != "" {
					items = append(items, s)
				}
			}
			return items, ""
		case float64:
			// A lone number for a list of codes ("expectStatus": 200) means a list of one.
			if l == math.Trunc(l) {
				return []string{strconv.FormatFloat(l, 'f', -1, 64)}, ""
			}
		case []any:
			items := make([]string, len(l))
			for i, e := range l {
				switch v := e.(type) {
				case string:
					items[i] = v
				case float64:
					if v != math.Trunc(v) {
						return nil, fmt.Sprintf("must be a list of text values; item %d is %v", i+1, v)
					}
					items[i] = strconv.FormatFloat(v, 'f', -1, 64)
				default:
					return nil, fmt.Sprintf("must be a list of text values; item %d is %s", i+1, describe(e))
				}
			}
			return items, ""
		}
		return nil, "must be a list of text values, not " + describe(v)
	case KindObject:
		if m, ok := v.(map[string]any); ok {
			return m, ""
		}
		return nil, "must be an object, not " + describe(v)
	case KindArray:
		switch l := v.(type) {
		case []any:
			return l, ""
		case string:
			// A template renders a list output as its JSON text: this is how a compensation
			// passes one on ({{outputs.inverseOperations}}).
			var items []any
			if err := json.Unmarshal([]byte(l), &items); err != nil || items == nil {
				return nil, "must be a list or its JSON text, not text that is not a JSON array"
			}
			return items, ""
		}
		return nil, "must be a list, not " + describe(v)
	case KindDuration:
		switch d := v.(type) {
		case string:
			dur, err := time.ParseDuration(strings.TrimSpace(d))
			if err != nil || dur < 0 {
				return nil, fmt.Sprintf("must be a duration such as 30s or 5m, not %q", d)
			}
			return dur, ""
		case time.Duration:
			return d, ""
		}
		return nil, "must be a duration such as 30s or 5m, not " + describe(v)
	}
	return nil, fmt.Sprintf("has an unknown type %q in the schema", f.Kind)
}

// describe names a JSON value's type for a message.
func describe(v any) string {
	switch v.(type) {
	case string:
		return "text"
	case float64, int, int64:
		return "a number"
	case bool:
		return "true/false"
	case []any, []string:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// Sanitize returns a copy of params with every secret param masked, for execution logs and
// timelines.
func Sanitize(cmd *Command, params map[string]any) map[string]any {
	out := make(map[string]any, len(params))
	for k, v := range params {
		if f := cmd.Param(k); f != nil && f.Secret {
			out[k] = Masked
			continue
		}
		out[k] = v
	}
	return out
}

// Masked replaces a secret value wherever one would otherwise be shown.
const Masked = "••••••"
