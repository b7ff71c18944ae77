package handlers

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"floh/connectors"
	"floh/engine/workflow"
	"floh/views"
)

// The step editor's inputs. Each step type's config keys (PRODUCT §4) are described once
// here, with how a value is shown in a form and read back from one; a connector step's params
// come from its command's schema instead. Config keys the editor does not show are kept as
// they are, so the JSON view can hold what the form has no input for.

// designField is one config key as an input. Key may be a dotted path into a nested object
// ("retry.maxAttempts"); the form name is "cfg." + Key.
type designField struct {
	key, label, help, placeholder string
	input                         string // text, textarea, select or checkbox
	options                       []views.Option
	required                      bool
	// value says how the key is stored: "text" (a string), "lines" (a list of strings, one
	// per line), "flag" (true, or absent), "count" (a whole number), "object" (JSON),
	// "branches" (name: expression lines) or "assignments" (name = expression lines).
	value string
}

const cfgPrefix = "cfg."

var (
	modeOptions    = []views.Option{{Value: "single", Label: "Single: any one approver decides"}, {Value: "sequential", Label: "Sequential: each approver in order"}, {Value: "parallel", Label: "Parallel: every approver must approve"}}
	channelOptions = []views.Option{{Value: "in_app", Label: "In-app notification"}, {Value: "email", Label: "Email"}}
	backoffOptions = []views.Option{{Value: "", Label: "None: retry at once"}, {Value: "fixed", Label: "Fixed"}, {Value: "exponential", Label: "Exponential"}}
	durationHelp   = "A duration such as 30s, 10m, 72h."
	recipientHelp  = "One per line: a user id, an email, {{variable}} or role:Name."
)

// stepFields lists the inputs of a step type; a connector step's connector, command and param
// inputs are built by connectorFields.
func stepFields(typ string, emailConnectors, workflows []views.Option) []designField {
	switch typ {
	case workflow.TypeConnector:
		return []designField{
			{key: "output", label: "Output variable", value: "text", input: "text", help: "The variable that receives the command's outputs, for later steps: {{output.field}}."},
			{key: "retry.maxAttempts", label: "Attempts", value: "count", input: "text", help: "How many times the call is tried, the first included (1 to 100)."},
			{key: "retry.backoff", label: "Backoff between attempts", value: "text", input: "select", options: backoffOptions},
			{key: "timeout", label: "Timeout", value: "text", input: "text", help: durationHelp + " Empty: the engine's default."},
			{key: "mock", label: "Always use the connector's mock", value: "flag", input: "checkbox", help: "Runs call the mock data instead of the system, whatever the run's mode."},
		}
	case workflow.TypeApproval:
		return []designField{
			{key: "approvers", label: "Approvers", value: "lines", input: "textarea", required: true, help: "One slot per line: a user id, an email, {{manager.id}} or role:Approver."},
			{key: "mode", label: "Mode", value: "text", input: "select", options: modeOptions},
			{key: "timeout", label: "Timeout", value: "text", input: "text", help: durationHelp + " After it, the step takes its expired edge."},
			{key: "reminderEvery", label: "Remind every", value: "text", input: "text", help: durationHelp},
		}
	case workflow.TypeManualTask:
		return []designField{
			{key: "assignee", label: "Assignee", value: "text", input: "text", required: true, help: "A user id, an email, {{variable}} or role:Name."},
			{key: "title", label: "Title", value: "text", input: "text", required: true},
			{key: "instructions", label: "Instructions", value: "text", input: "textarea"},
		}
	case workflow.TypeNotification:
		return []designField{
			{key: "channel", label: "Channel", value: "text", input: "select", options: channelOptions, required: true},
			{key: "to", label: "To", value: "lines", input: "textarea", required: true, help: recipientHelp},
			{key: "subject", label: "Subject", value: "text", input: "text"},
			{key: "body", label: "Body", value: "text", input: "textarea", required: true, help: "Start with < to send HTML; {{variables}} are filled in."},
			{key: "connectorId", label: "Send email through", value: "text", input: "select", options: emailConnectors},
		}
	case workflow.TypeCondition:
		return []designField{
			{key: "branches", label: "Branches", value: "branches", input: "textarea", required: true, placeholder: "accepted: decision == \"yes\"",
				help: "One per line, name: expression. The first true one names the outcome."},
			{key: "default", label: "Default outcome", value: "text", input: "text", help: "The outcome when no branch is true."},
		}
	case workflow.TypeTransform:
		return []designField{
			{key: "set", label: "Set", value: "assignments", input: "textarea", required: true, placeholder: "username = lower(targetUser.email)",
				help: "One per line, variable = expression."},
		}
	case workflow.TypeDelay:
		return []designField{{key: "duration", label: "Wait for", value: "text", input: "text", required: true, help: durationHelp}}
	case workflow.TypeSubWorkflow:
		return []designField{
			{key: "workflowId", label: "Workflow", value: "text", input: "select", options: workflows, required: true},
			{key: "variables", label: "Its inputs", value: "object", input: "textarea", placeholder: `{"targetUser": "{{targetUser.id}}"}`, help: "A JSON object of the workflow's inputs; values may be {{templates}}."},
		}
	case workflow.TypeUserCreate:
		return []designField{
			{key: "email", label: "Email", value: "text", input: "text", required: true},
			{key: "displayName", label: "Display name", value: "text", input: "text"},
			{key: "setAsSubject", label: "The new user becomes the run's subject", value: "flag", input: "checkbox"},
		}
	case workflow.TypeProfileUpdate:
		return []designField{
			{key: "userId", label: "User", value: "text", input: "text", required: true, help: "A user id or {{variable.id}}."},
			{key: "fields", label: "Fields", value: "object", input: "textarea", required: true, placeholder: `{"department": "{{department}}"}`, help: "A JSON object of profile fields; values may be {{templates}}."},
		}
	}
	return nil
}

// schemaInputs shows design fields as the form's inputs.
func schemaInputs(fields []designField) []views.SchemaField {
	out := make([]views.SchemaField, len(fields))
	for i, f := range fields {
		out[i] = views.SchemaField{Name: cfgPrefix + f.key, Field: f.key, Label: f.label, Help: f.help,
			Placeholder: f.placeholder, Input: f.input, Options: f.options, Required: f.required}
	}
	return out
}

// configValues shows a step's config in the fields' inputs.
func configValues(cfg map[string]any, fields []designField, values map[string]string) {
	for _, f := range fields {
		v, ok := lookupKey(cfg, f.key)
		if !ok {
			continue
		}
		values[cfgPrefix+f.key] = showValue(f.value, v)
	}
}

func showValue(kind string, v any) string {
	switch kind {
	case "lines":
		if l, ok := v.([]any); ok {
			lines := make([]string, len(l))
			for i, e := range l {
				lines[i] = fmt.Sprint(e)
			}
			return strings.Join(lines, "\n")
		}
	case "branches":
		if l, ok := v.([]any); ok {
			lines := make([]string, 0, len(l))
			for _, e := range l {
				m, _ := e.(map[string]any)
				lines = append(lines, fmt.Sprintf("%v: %v", m["name"], m["when"]))
			}
			return strings.Join(lines, "\n")
		}
	case "assignments":
		if m, ok := v.(map[string]any); ok {
			lines := make([]string, 0, len(m))
			for _, k := range slices.Sorted(maps.Keys(m)) {
				lines = append(lines, fmt.Sprintf("%s = %v", k, m[k]))
			}
			return strings.Join(lines, "\n")
		}
	case "flag":
		if b, ok := v.(bool); ok {
			return strconv.FormatBool(b)
		}
	}
	return formatValue(connectors.KindObject, v)
}

// readConfig builds a step's new config from the form: it starts from the stored config, so
// keys without an input stay, and sets or removes each field's key. Problems name the input.
func readConfig(stored map[string]any, fields []designField, form url.Values) (map[string]any, []views.FieldError) {
	cfg := cloneConfig(stored)
	var problems []views.FieldError
	for _, f := range fields {
		raw := strings.TrimSpace(form.Get(cfgPrefix + f.key))
		if f.value == "flag" {
			raw = strings.TrimSpace(strings.ToLower(raw))
			if raw == "true" || raw == "on" {
				setKey(cfg, f.key, true)
			} else {
				deleteKey(cfg, f.key)
			}
			continue
		}
		if raw == "" {
			deleteKey(cfg, f.key)
			continue
		}
		v, problem := readValue(f.value, raw)
		if problem != "" {
			problems = append(problems, views.FieldError{Field: cfgPrefix + f.key, Message: f.label + " " + problem})
			continue
		}
		setKey(cfg, f.key, v)
	}
	return cfg, problems
}

func readValue(kind, raw string) (any, string) {
	switch kind {
	case "lines":
		items := []any{}
		for line := range strings.Lines(raw) {
			if line = strings.TrimSpace(line); line != "" {
				items = append(items, line)
			}
		}
		return items, ""
	case "count":
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 {
			return nil, fmt.Sprintf("must be a whole number of at least 1, not %q", raw)
		}
		return n, ""
	case "object":
		return convertValue(connectors.Field{Kind: connectors.KindObject}, raw)
	case "branches":
		branches := []any{}
		for line := range strings.Lines(raw) {
			if line = strings.TrimSpace(line); line == "" {
				continue
			}
			name, when, ok := strings.Cut(line, ":")
			if !ok || strings.TrimSpace(name) == "" || strings.TrimSpace(when) == "" {
				return nil, fmt.Sprintf("must be one branch per line as name: expression; %q is not", line)
			}
			branches = append(branches, map[string]any{"name": strings.TrimSpace(name), "when": strings.TrimSpace(when)})
		}
		return branches, ""
	case "assignments":
		set := map[string]any{}
		for line := range strings.Lines(raw) {
			if line = strings.TrimSpace(line); line == "" {
				continue
			}
			name, expr, ok := strings.Cut(line, "=")
			if !ok || strings.TrimSpace(name) == "" || strings.TrimSpace(expr) == "" {
				return nil, fmt.Sprintf("must be one per line as variable = expression; %q is not", line)
			}
			set[strings.TrimSpace(name)] = strings.TrimSpace(expr)
		}
		return set, ""
	}
	return raw, ""
}

// cloneConfig copies a config deeply enough that setting a nested key leaves the stored
// document alone.
func cloneConfig(cfg map[string]any) map[string]any {
	out := make(map[string]any, len(cfg))
	for k, v := range cfg {
		if m, ok := v.(map[string]any); ok {
			v = maps.Clone(m)
		}
		out[k] = v
	}
	return out
}

func lookupKey(cfg map[string]any, key string) (any, bool) {
	parent, leaf, nested := strings.Cut(key, ".")
	if !nested {
		v, ok := cfg[key]
		return v, ok
	}
	m, _ := cfg[parent].(map[string]any)
	v, ok := m[leaf]
	return v, ok
}

func setKey(cfg map[string]any, key string, v any) {
	parent, leaf, nested := strings.Cut(key, ".")
	if !nested {
		cfg[key] = v
		return
	}
	m, _ := cfg[parent].(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	m[leaf] = v
	cfg[parent] = m
}

func deleteKey(cfg map[string]any, key string) {
	parent, leaf, nested := strings.Cut(key, ".")
	if !nested {
		delete(cfg, key)
		return
	}
	if m, ok := cfg[parent].(map[string]any); ok {
		delete(m, leaf)
		if len(m) == 0 {
			delete(cfg, parent)
		}
	}
}

// paramInputs shows a command's params as inputs. Any param may hold a {{template}} filled
// in at run time, so every input takes text: a number or a flag is typed as such, or as a
// template.
func paramInputs(cmd *connectors.Command) []views.SchemaField {
	out := make([]views.SchemaField, 0, len(cmd.Params))
	for _, p := range cmd.Params {
		sf := schemaField("param.", p, true)
		switch sf.Input {
		case "number", "checkbox", "password":
			sf.Input = "text"
		case "select":
			if p.Kind == connectors.KindBoolean {
				sf.Input = "text"
				sf.Options = nil
			}
		}
		if p.Secret {
			sf.Help = strings.TrimSpace(sf.Help + " Use a {{variable}}: a secret typed here would be stored in the workflow document.")
		}
		out = append(out, sf)
	}
	return out
}

// readParams reads a command's params from the form: a template stays text for the run to
// fill in; anything else is converted to the param's kind. Empty params are left out.
func readParams(cmd *connectors.Command, form url.Values) (map[string]any, []views.FieldError) {
	params := map[string]any{}
	var problems []views.FieldError
	for _, p := range cmd.Params {
		raw := form.Get("param." + p.Name)
		if strings.TrimSpace(raw) == "" {
			continue
		}
		if strings.Contains(raw, "{{") {
			params[p.Name] = strings.TrimSpace(raw)
			continue
		}
		v, problem := convertValue(p, raw)
		if problem != "" {
			problems = append(problems, views.FieldError{Field: "param." + p.Name, Message: fieldName(p) + " " + problem})
			continue
		}
		params[p.Name] = v
	}
	return params, problems
}
