package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"floh/connectors"
	"floh/engine"
	"floh/views"
)

// This file turns connector schemas into form inputs and form values back into typed values,
// and puts the engine's field errors and classified connector errors into words for pages.

// Form names: config fields are posted as config.<name>, command params as param.<name>.
const (
	configPrefix = "config."
	paramPrefix  = "param."
)

// kindWords names a kind the way a hint under a label does.
func kindWords(k connectors.Kind) string {
	switch k {
	case connectors.KindString:
		// Plain text needs no hint.
		return ""
	case connectors.KindText:
		return "several lines allowed"
	case connectors.KindInteger:
		return "whole number"
	case connectors.KindBoolean:
		return "true or false"
	case connectors.KindStringList:
		return "list: one per line, or separated by commas"
	case connectors.KindObject:
		return "JSON object"
	case connectors.KindArray:
		return "JSON array"
	case connectors.KindDuration:
		return "duration such as 30s, 5m or 1h"
	}
	return string(k)
}

// outputKindWords names the kind of a command's output.
func outputKindWords(k connectors.Kind) string {
	switch k {
	case connectors.KindString, connectors.KindText:
		return "text"
	case connectors.KindInteger:
		return "whole number"
	case connectors.KindBoolean:
		return "true or false"
	case connectors.KindStringList:
		return "list of text"
	case connectors.KindObject:
		return "object"
	case connectors.KindArray:
		return "list"
	case connectors.KindDuration:
		return "duration"
	}
	return string(k)
}

// schemaField describes one field as a form input. An optional boolean param without a
// default is a three-way choice, not a checkbox: an unticked box would send false, and for a
// command "not given" and false differ (SCIM createUser with active=false makes an inactive
// user). Config booleans are always stored, so a checkbox says it all there.
func schemaField(prefix string, f connectors.Field, param bool) views.SchemaField {
	sf := views.SchemaField{
		Name: prefix + f.Name, Field: f.Name, Label: f.Label, Help: f.Help, Placeholder: f.Placeholder,
		Kind: string(f.Kind), KindHint: kindWords(f.Kind), Required: f.Required, Secret: f.Secret,
	}
	if sf.Label == "" {
		sf.Label = f.Name
	}
	if f.Default != nil {
		sf.Default = formatValue(f.Kind, f.Default)
	}
	switch {
	case f.Secret:
		sf.Input = "password"
	case len(f.Enum) > 0:
		sf.Input = "select"
		if !f.Required || f.Default == nil {
			sf.Options = append(sf.Options, views.Option{Value: "", Label: "Not set"})
		}
		for _, e := range f.Enum {
			sf.Options = append(sf.Options, views.Option{Value: e, Label: e})
		}
		sf.KindHint = "one of " + strings.Join(f.Enum, ", ")
	case f.Kind == connectors.KindBoolean && param && !f.Required && f.Default == nil:
		sf.Input = "select"
		sf.Options = []views.Option{{Value: "", Label: "Not set"}, {Value: "true", Label: "true"}, {Value: "false", Label: "false"}}
	case f.Kind == connectors.KindBoolean:
		sf.Input, sf.KindHint = "checkbox", ""
	case f.Kind == connectors.KindInteger:
		sf.Input = "number"
	case f.Kind == connectors.KindText, f.Kind == connectors.KindObject, f.Kind == connectors.KindArray, f.Kind == connectors.KindStringList:
		sf.Input = "textarea"
	default:
		sf.Input = "text"
	}
	if sf.Placeholder == "" {
		switch f.Kind {
		case connectors.KindObject:
			sf.Placeholder = `{"name": "value"}`
		case connectors.KindArray:
			sf.Placeholder = `[ ... ]`
		}
	}
	return sf
}

// schemaFields describes fields as inputs; secretState says, for a secret field, whether it
// has a value ("set", "entered" or "not set").
func schemaFields(prefix string, fields []connectors.Field, param bool, secretState func(name string) string) []views.SchemaField {
	out := make([]views.SchemaField, len(fields))
	for i, f := range fields {
		out[i] = schemaField(prefix, f, param)
		if f.Secret && secretState != nil {
			out[i].SecretState = secretState(f.Name)
		}
	}
	return out
}

// formatValue shows a stored or default value as the admin would type it.
func formatValue(k connectors.Kind, v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int:
		return strconv.Itoa(x)
	case []string:
		return strings.Join(x, "\n")
	case []any:
		if k == connectors.KindStringList {
			items := make([]string, len(x))
			for i, e := range x {
				items[i] = fmt.Sprint(e)
			}
			return strings.Join(items, "\n")
		}
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// convertValue turns what was typed into a value of the field's kind, or says what is wrong.
// Pages send typed values to the engine, as the API does; the engine's schema check then has
// the last word (an enum, a required field, a duration's syntax).
func convertValue(f connectors.Field, raw string) (any, string) {
	switch f.Kind {
	case connectors.KindText:
		return raw, ""
	case connectors.KindInteger:
		n, err := strconv.Atoi(strings.TrimSpace(raw))
		if err != nil {
			return nil, fmt.Sprintf("must be a whole number, such as 42, not %q", raw)
		}
		return n, ""
	case connectors.KindBoolean:
		switch strings.ToLower(strings.TrimSpace(raw)) {
		case "true", "on":
			return true, ""
		case "false":
			return false, ""
		}
		return nil, fmt.Sprintf("must be true or false, not %q", raw)
	case connectors.KindStringList:
		items := []string{}
		for _, line := range strings.Split(raw, "\n") {
			for _, s := range strings.Split(line, ",") {
				if s = strings.TrimSpace(s); s != "" {
					items = append(items, s)
				}
			}
		}
		return items, ""
	case connectors.KindObject:
		var m map[string]any
		if err := json.Unmarshal([]byte(raw), &m); err != nil || m == nil {
			return nil, `must be a JSON object, such as {"name": "value"}: ` + jsonProblem(err)
		}
		return m, ""
	case connectors.KindArray:
		var l []any
		if err := json.Unmarshal([]byte(raw), &l); err != nil || l == nil {
			return nil, `must be a JSON array, such as ["a", "b"]: ` + jsonProblem(err)
		}
		return l, ""
	}
	return strings.TrimSpace(raw), ""
}

// jsonProblem says why a JSON text did not parse, without Go's package prefixes.
func jsonProblem(err error) string {
	if err == nil {
		return "it is null"
	}
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Sprintf("%s (at character %d)", strings.TrimPrefix(syn.Error(), "json: "), syn.Offset)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return "it is a JSON " + typ.Value
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// convertFields reads the fields from typed (keyed by prefix+name) and secrets (keyed by
// name), converting each to its kind. Empty values are left out, so defaults apply and the
// engine reports a missing required field; for a secret on update, empty keeps the stored one.
func convertFields(fields []connectors.Field, prefix string, typed, secrets map[string]string) (map[string]any, []views.FieldError) {
	out := map[string]any{}
	var problems []views.FieldError
	for _, f := range fields {
		raw := typed[prefix+f.Name]
		if f.Secret {
			raw = secrets[f.Name]
		}
		if strings.TrimSpace(raw) == "" {
			continue
		}
		v, problem := convertValue(f, raw)
		if problem != "" {
			problems = append(problems, views.FieldError{Field: prefix + f.Name, Message: fieldName(f) + " " + problem})
			continue
		}
		out[f.Name] = v
	}
	return out, problems
}

func fieldName(f connectors.Field) string {
	if f.Label != "" {
		return f.Label
	}
	return f.Name
}

// typedFields collects what was typed into the non-secret inputs of fields. A checkbox sends
// nothing when unticked, so a boolean shown as one reads as "false" when absent.
func typedFields(form url.Values, prefix string, fields []connectors.Field, param bool) map[string]string {
	typed := map[string]string{}
	for _, f := range fields {
		if f.Secret {
			continue
		}
		name := prefix + f.Name
		v := form.Get(name)
		if schemaField(prefix, f, param).Input == "checkbox" {
			v = strconv.FormatBool(v == "true")
		}
		typed[name] = v
	}
	return typed
}

// typedSecrets collects the secret values typed into fields; empty ones are left out.
func typedSecrets(form url.Values, prefix string, fields []connectors.Field) map[string]string {
	out := map[string]string{}
	for _, f := range fields {
		if v := form.Get(prefix + f.Name); f.Secret && v != "" {
			out[f.Name] = v
		}
	}
	return out
}

// connectorFormErrors turns the engine's field errors on a connector into messages beside
// the right inputs: name, description, type, config.<field> (by its label) and every
// mockData.<command>... problem on the mock data box, naming the path. Other errors pass
// through unchanged.
func connectorFormErrors(err error, t *connectors.Type) ([]views.FieldError, error) {
	var v *engine.ValidationError
	if !errors.As(err, &v) {
		return nil, err
	}
	out := make([]views.FieldError, 0, len(v.Fields))
	for _, fe := range v.Fields {
		out = append(out, connectorFieldError(fe, t))
	}
	return out, nil
}

func connectorFieldError(fe engine.FieldError, t *connectors.Type) views.FieldError {
	switch {
	case fe.Field == "name":
		return views.FieldError{Field: "name", Message: "Name " + fe.Message}
	case fe.Field == "description":
		return views.FieldError{Field: "description", Message: "Description " + fe.Message}
	case fe.Field == "type":
		return views.FieldError{Field: "type", Message: "Type " + fe.Message}
	case fe.Field == "mockData" || strings.HasPrefix(fe.Field, "mockData."):
		path := strings.TrimPrefix(strings.TrimPrefix(fe.Field, "mockData"), ".")
		if path == "" {
			return views.FieldError{Field: "mockData", Message: "Mock data " + fe.Message}
		}
		return views.FieldError{Field: "mockData", Message: "Mock data, " + path + ": " + fe.Message}
	case strings.HasPrefix(fe.Field, configPrefix):
		name := strings.TrimPrefix(fe.Field, configPrefix)
		label := name
		if t != nil {
			if i := slices.IndexFunc(t.Config, func(f connectors.Field) bool { return f.Name == name }); i >= 0 {
				label = fieldName(t.Config[i])
			}
		}
		return views.FieldError{Field: fe.Field, Message: labelled(label, name, fe.Message)}
	}
	return views.FieldError{Field: fe.Field, Message: fe.Field + " " + fe.Message}
}

// labelled puts a field's label in front of a message, replacing the field's name where the
// message starts with it ("baseUrl must be a URL" becomes "Admin API URL must be a URL").
func labelled(label, name, msg string) string {
	if rest, ok := strings.CutPrefix(msg, name+" "); ok {
		return label + " " + rest
	}
	return label + ": " + msg
}

// classWords are the error classes as an admin reads them.
var classWords = map[connectors.Class]string{
	connectors.InvalidInput:  "Rejected input",
	connectors.AlreadyExists: "Already exists",
	connectors.Conflict:      "Conflicting value",
	connectors.NotFound:      "Not found",
	connectors.Unauthorized:  "Credentials refused",
	connectors.ConnectorDown: "Cannot reach the target",
	connectors.TargetError:   "The target failed",
	connectors.RateLimited:   "Rate limited",
}

// classAdvice says what to do next about each class.
var classAdvice = map[connectors.Class]string{
	connectors.InvalidInput:  "Correct the value the message names and run it again.",
	connectors.AlreadyExists: "The object is already there: look it up with a read command, or use another name.",
	connectors.Conflict:      "The target holds a value that conflicts with this call, e.g. an existing membership. Look at the object at the target before trying again.",
	connectors.NotFound:      "Check the name or id: the target has no such object.",
	connectors.Unauthorized:  "Check the credentials and the account’s permissions at the target on the Configuration tab, then test the connection.",
	connectors.ConnectorDown: "Check the address, the network path and the certificate on the Configuration tab, then test the connection.",
	connectors.TargetError:   "The target answered with an internal error. Test the connection; if it persists, look at the target’s own logs.",
	connectors.RateLimited:   "The target asked Floh to slow down. Wait a little and try again; workflow steps wait as long as the target asks.",
}

// connectorError shows a classified failure as an admin needs it: the class in words, the
// code, the message, the field at fault by its label, and links to what to do next. params
// are the command's params (nil for a test or a config problem).
func connectorError(e *connectors.Error, connectorID string, t *connectors.Type, params []connectors.Field) *views.ConnectorError {
	if e == nil {
		return nil
	}
	out := &views.ConnectorError{
		Class: classWords[e.Class], ClassID: string(e.Class), Code: e.Code, Message: sentence(e.Message),
		Advice: classAdvice[e.Class], Retryable: e.Class.Retryable(),
	}
	if out.Class == "" {
		out.Class = titleWords(string(e.Class))
	}
	if out.Code == "" {
		out.Code = "—"
	}
	configTab := views.Link{Label: "Check the Configuration tab", Href: tabURL(connectorID, "configuration")}
	testTab := views.Link{Label: "Test the connection", Href: tabURL(connectorID, "test")}
	logsTab := views.Link{Label: "See earlier calls in the Logs tab", Href: tabURL(connectorID, "logs")}
	configField := false
	if e.Field != "" {
		out.Field = e.Field
		if i := slices.IndexFunc(params, func(f connectors.Field) bool { return f.Name == e.Field }); i >= 0 {
			out.Field = fieldName(params[i]) + " (" + e.Field + ")"
		} else if t != nil {
			if i := slices.IndexFunc(t.Config, func(f connectors.Field) bool { return f.Name == e.Field }); i >= 0 {
				out.Field, configField = "setting "+fieldName(t.Config[i])+" ("+e.Field+")", true
			}
		}
	}
	switch {
	case e.Code == "DISABLED":
		out.Advice = "The connector is disabled. Enable it on the Configuration tab."
		out.Next = []views.Link{configTab}
	case e.Code == "INVALID_CONFIG" || e.Code == "SECRETS_UNREADABLE" || configField:
		out.Advice = "The connector’s own settings are at fault. Correct them on the Configuration tab, then test the connection."
		out.Next = []views.Link{configTab, testTab}
	case e.Class == connectors.Unauthorized:
		out.Next = []views.Link{configTab, testTab}
	case e.Class == connectors.ConnectorDown:
		out.Next = []views.Link{testTab, configTab}
	case e.Class == connectors.TargetError:
		out.Next = []views.Link{testTab, logsTab}
	case e.Class == connectors.RateLimited:
		out.Next = []views.Link{logsTab}
	}
	return out
}

// storedError reads the error envelope a connector's health or an execution log kept.
func storedError(raw json.RawMessage) *connectors.Error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var e connectors.Error
	if err := json.Unmarshal(raw, &e); err != nil || (e.Message == "" && e.Class == "") {
		return nil
	}
	return &e
}

// durationWords shows a call's duration: milliseconds below a second, seconds above.
func durationWords(ms int64) string {
	if ms < 1000 {
		return strconv.FormatInt(ms, 10) + " ms"
	}
	return strconv.FormatFloat(float64(ms)/1000, 'f', 1, 64) + " s"
}

func tabURL(id, tab string) string {
	return "/connectors/" + id + "?tab=" + tab
}
