package workflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/go-co-op/gocron/v2"
)

// FieldError is one problem with one field of a definition. Field is a path such as "name",
// "steps[2].config.command" or "edges[0].to"; it is empty when the problem is the document as
// a whole (not JSON at all).
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// ValidationErrors is every problem found at once. errors.As finds each as a *FieldError too.
type ValidationErrors []FieldError

func (v ValidationErrors) Error() string {
	msgs := make([]string, len(v))
	for i := range v {
		msgs[i] = v[i].Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap exposes each problem, so errors.As(err, &fieldErr) finds the first.
func (v ValidationErrors) Unwrap() []error {
	errs := make([]error, len(v))
	for i := range v {
		errs[i] = &v[i]
	}
	return errs
}

// Limits on a document. Real workflows have tens of steps; the limits keep lint's graph
// walks (steps × edges) fast on anything Parse accepts.
const (
	maxDefinitionBytes = 4 << 20
	maxSteps           = 1000
	maxEdges           = 5000
	maxVariables       = 500
)

// shape describes the JSON a definition may hold, so Parse can name the path of an unknown
// field or a value of the wrong type, which encoding/json does not.
type shape struct {
	kind   string // "string", "bool", "object", "list", "any object"
	fields map[string]shape
	elem   *shape
	noun   string // what an object is, for messages ("a step")
}

var (
	textShape = shape{kind: "string"}
	boolShape = shape{kind: "bool"}

	definitionShape = shape{kind: "object", noun: "a workflow definition", fields: map[string]shape{
		"name": textShape, "description": textShape, "category": textShape,
		"subjectVariable": textShape, "errorStrategy": textShape,
		"trigger": {kind: "object", noun: "a trigger", fields: map[string]shape{"type": textShape, "cron": textShape}},
		"variables": {kind: "list", elem: &shape{kind: "object", noun: "a variable", fields: map[string]shape{
			"name": textShape, "type": textShape, "required": boolShape, "description": textShape,
		}}},
		"steps": {kind: "list", elem: &shape{kind: "object", noun: "a step", fields: map[string]shape{
			"id": textShape, "name": textShape, "type": textShape, "config": {kind: "any object"},
		}}},
		"edges": {kind: "list", elem: &shape{kind: "object", noun: "an edge", fields: map[string]shape{
			"from": textShape, "to": textShape, "on": textShape,
		}}},
	}}
)

// Parse reads a definition strictly: unknown fields and values of the wrong JSON type are
// errors naming their path ("steps[2].confg"). It checks the document's shape only; Validate
// checks its meaning. Errors are ValidationErrors.
func Parse(data []byte) (*Definition, error) {
	if len(data) > maxDefinitionBytes {
		return nil, ValidationErrors{{Message: fmt.Sprintf("the definition is larger than %d MiB", maxDefinitionBytes>>20)}}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, ValidationErrors{{Message: jsonProblem(data, err)}}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, ValidationErrors{{Message: "is not valid JSON: there is text after the document"}}
	}
	var problems ValidationErrors
	checkJSONShape(raw, definitionShape, "", &problems)
	if doc, ok := raw.(map[string]any); ok {
		for _, limit := range []struct {
			field string
			max   int
		}{{"steps", maxSteps}, {"edges", maxEdges}, {"variables", maxVariables}} {
			if l, _ := doc[limit.field].([]any); len(l) > limit.max {
				problems = append(problems, FieldError{Field: limit.field, Message: fmt.Sprintf("has %d entries; at most %d are allowed", len(l), limit.max)})
			}
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	d := new(Definition)
	if err := json.Unmarshal(data, d); err != nil {
		return nil, ValidationErrors{{Message: jsonProblem(data, err)}}
	}
	// Empty lists, never null, for everyone who reads the document back.
	if d.Variables == nil {
		d.Variables = []Variable{}
	}
	if d.Steps == nil {
		d.Steps = []Step{}
	}
	if d.Edges == nil {
		d.Edges = []Edge{}
	}
	return d, nil
}

// jsonProblem words a decoding error with its line and column.
func jsonProblem(data []byte, err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		line, col := position(data, syn.Offset)
		return fmt.Sprintf("is not valid JSON: %s (line %d, column %d)", syn.Error(), line, col)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "is not valid JSON: the document is empty or cut short"
	}
	return "is not valid JSON: " + err.Error()
}

func position(data []byte, offset int64) (line, col int) {
	offset = min(max(offset, 0), int64(len(data)))
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1)
	return line, max(col, 1)
}

func checkJSONShape(v any, s shape, at string, problems *ValidationErrors) {
	if v == nil {
		return // null reads as absent
	}
	bad := func(want string) {
		*problems = append(*problems, FieldError{Field: at, Message: "must be " + want + ", not " + describe(v)})
	}
	switch s.kind {
	case "string":
		if _, ok := v.(string); !ok {
			bad("text")
		}
	case "bool":
		if _, ok := v.(bool); !ok {
			bad("true or false")
		}
	case "any object":
		if _, ok := v.(map[string]any); !ok {
			bad("an object")
		}
	case "list":
		l, ok := v.([]any)
		if !ok {
			bad("a list")
			return
		}
		for i, e := range l {
			checkJSONShape(e, *s.elem, fmt.Sprintf("%s[%d]", at, i), problems)
		}
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			bad("an object")
			return
		}
		known := slices.Sorted(maps.Keys(s.fields))
		for _, k := range slices.Sorted(maps.Keys(m)) {
			fs, ok := s.fields[k]
			if !ok {
				*problems = append(*problems, FieldError{Field: joinPath(at, k),
					Message: fmt.Sprintf("is not a field of %s (expected one of: %s)", s.noun, strings.Join(known, ", "))})
				continue
			}
			checkJSONShape(m[k], fs, joinPath(at, k), problems)
		}
	}
}

// Variable types.
var VariableTypes = []string{"string", "number", "boolean", "user", "object", "list"}

// Trigger types.
const (
	TriggerManual   = "manual"
	TriggerSchedule = "schedule"
	TriggerAPI      = "api"
)

// Validate checks a definition's meaning. A draft (draft=true) only has to be well-formed:
// known step, variable, trigger and strategy types, unique non-empty ids and names, edges that
// say from, to and on, and config values of the right JSON type. Publishing (draft=false)
// also needs a name, a step, every step's required config, usable variable names, template and
// expression syntax, and a valid cron and no required variable for a schedule. Graph problems (edges to nowhere, cycles,
// unknown connectors) are Lint's.
func (d *Definition) Validate(draft bool) []FieldError {
	v := &validation{draft: draft}
	if !draft && strings.TrimSpace(d.Name) == "" {
		v.publish("name", "is required")
	}
	if d.ErrorStrategy != "" && d.ErrorStrategy != StrategyStop && d.ErrorStrategy != StrategyContinue {
		v.always("errorStrategy", fmt.Sprintf("must be %s or %s, not %q", StrategyStop, StrategyContinue, d.ErrorStrategy))
	}
	v.trigger(d.Trigger)
	v.variables(d)
	v.steps(d)
	for i, e := range d.Edges {
		at := fmt.Sprintf("edges[%d].", i)
		for _, f := range []struct{ name, value string }{{"from", e.From}, {"to", e.To}, {"on", e.On}} {
			if strings.TrimSpace(f.value) == "" {
				v.always(at+f.name, "is required")
			}
		}
	}
	return v.problems
}

type validation struct {
	draft    bool
	problems []FieldError
}

// always records a problem that makes the document malformed, draft or not.
func (v *validation) always(field, message string) {
	v.problems = append(v.problems, FieldError{Field: field, Message: message})
}

// publish records a problem that only blocks publishing.
func (v *validation) publish(field, message string) {
	if !v.draft {
		v.always(field, message)
	}
}

// cronReference is the instant a schedule's next firing is computed from to tell a schedule
// that never fires (February 30th); the package has no clock and needs none for this.
var cronReference = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func (v *validation) trigger(t *Trigger) {
	if t == nil {
		return
	}
	switch t.Type {
	case TriggerManual, TriggerAPI:
		if t.Cron != "" {
			v.publish("trigger.cron", "is only used by a schedule trigger")
		}
	case TriggerSchedule:
		if problem := CronProblem(t.Cron); problem != "" {
			v.publish("trigger.cron", problem)
		}
	default:
		v.always("trigger.type", fmt.Sprintf("must be one of %s, %s, %s, not %q", TriggerManual, TriggerSchedule, TriggerAPI, t.Type))
	}
}

// CronProblem checks a schedule the way the scheduler reads it: five fields (minute hour
// day-of-month month day-of-week), in UTC, by gocron's parser. Time zones and descriptors
// (@daily) are refused so that every schedule reads the same way in the designer.
func CronProblem(spec string) string {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return "is required for a schedule trigger"
	}
	const form = "must be five fields (minute hour day-of-month month day-of-week, in UTC) such as \"0 6 * * 1-5\""
	if fields := strings.Fields(spec); len(fields) != 5 || strings.Contains(spec, "=") || strings.HasPrefix(spec, "@") {
		return fmt.Sprintf("%s, not %q", form, spec)
	}
	err := gocron.NewDefaultCron(false).IsValid(spec, time.UTC, cronReference)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, gocron.ErrCronJobInvalid):
		return fmt.Sprintf("%q never fires", spec)
	}
	// gocron joins its own sentinel with the parser's error; the parser's says what is wrong.
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		if errs := joined.Unwrap(); len(errs) > 0 {
			err = errs[len(errs)-1]
		}
	}
	return fmt.Sprintf("%s: %q: %v", form, spec, err)
}

func (v *validation) variables(d *Definition) {
	seen := map[string]bool{}
	for i, vr := range d.Variables {
		at := fmt.Sprintf("variables[%d].", i)
		switch {
		case strings.TrimSpace(vr.Name) == "":
			v.always(at+"name", "is required")
		case seen[vr.Name]:
			v.always(at+"name", fmt.Sprintf("duplicate variable name %q", vr.Name))
		default:
			if problem := nameProblem(vr.Name); problem != "" {
				v.publish(at+"name", problem)
			}
		}
		seen[vr.Name] = true
		// A tick has nobody to ask for inputs, so a run it starts could never be given a
		// required variable: refusing to publish says so while the author is still there,
		// where a failed tick would only say it in a log.
		if vr.Required && d.Schedule() != "" {
			v.publish(at+"required", "must be false: a scheduled workflow starts its runs with no inputs")
		}
		if !slices.Contains(VariableTypes, vr.Type) {
			v.always(at+"type", fmt.Sprintf("must be one of %s, not %q", strings.Join(VariableTypes, ", "), vr.Type))
		}
	}
	if d.SubjectVariable != "" && !seen[d.SubjectVariable] {
		v.publish("subjectVariable", fmt.Sprintf("names no variable of this workflow: %q", d.SubjectVariable))
	}
}

func (v *validation) steps(d *Definition) {
	if len(d.Steps) == 0 {
		v.publish("steps", "needs at least one step")
	}
	seen := map[string]bool{}
	for i := range d.Steps {
		s := &d.Steps[i]
		at := fmt.Sprintf("steps[%d].", i)
		switch {
		case strings.TrimSpace(s.ID) == "":
			v.always(at+"id", "is required")
		case seen[s.ID]:
			v.always(at+"id", fmt.Sprintf("duplicate step id %q", s.ID))
		}
		seen[s.ID] = true
		read, ok := configReaders[s.Type]
		if !ok {
			v.always(at+"type", fmt.Sprintf("must be one of %s, not %q", strings.Join(StepTypes, ", "), s.Type))
			continue
		}
		r := newConfigReader(s.Config)
		read(r)
		r.finish()
		for _, p := range r.problems {
			if p.incomplete {
				v.publish(at+"config."+p.field, p.message)
			} else {
				v.always(at+"config."+p.field, p.message)
			}
		}
		if !v.draft {
			v.syntax(s, at+"config")
		}
	}
}

// syntax checks the templates and expressions in a step's config, which would otherwise
// fail only when a run reaches the step.
func (v *validation) syntax(s *Step, at string) {
	for _, k := range slices.Sorted(maps.Keys(s.Config)) {
		val := s.Config[k]
		switch {
		case s.Type == TypeCondition && k == "branches":
			branches, _ := val.([]any)
			for i, b := range branches {
				m, _ := b.(map[string]any)
				if when, ok := m["when"].(string); ok && when != "" {
					if _, err := ExpressionNames(when); err != nil {
						v.always(fmt.Sprintf("%s.branches[%d].when", at, i), err.Error())
					}
				}
			}
		case s.Type == TypeTransform && k == "set":
			set, _ := val.(map[string]any)
			for _, name := range slices.Sorted(maps.Keys(set)) {
				if src, ok := set[name].(string); ok {
					if _, err := ExpressionNames(src); err != nil {
						v.always(at+".set."+name, err.Error())
					}
				}
			}
		default:
			v.templates(val, at+"."+k, 1)
		}
	}
}

// templates reports template syntax errors in a config value, and values nested deeper than
// Render will go.
func (v *validation) templates(val any, at string, depth int) {
	if depth > maxConfigDepth {
		v.always(at, fmt.Sprintf("is nested more than %d levels deep", maxConfigDepth))
		return
	}
	switch x := val.(type) {
	case string:
		if _, err := parseTemplate(x); err != nil {
			v.always(at, err.Error())
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			v.templates(x[k], at+"."+k, depth+1)
		}
	case []any:
		for i, e := range x {
			v.templates(e, fmt.Sprintf("%s[%d]", at, i), depth+1)
		}
	}
}
