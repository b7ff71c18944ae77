package workflow

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// The designer's edits. Each is one small change to a draft that the designer saves as it is
// made; a draft may be incomplete, so an edit only refuses what would make the document
// malformed (an edge to nowhere, two steps with one id) and leaves graph advice to lint.

// newStepConfig is the config a step added from the palette starts with: the choices that
// have a sensible default, so the editor opens with them made.
func newStepConfig(typ string) map[string]any {
	switch typ {
	case TypeApproval:
		return map[string]any{"approvers": []any{}, "mode": "single"}
	case TypeNotification:
		return map[string]any{"channel": "in_app", "to": []any{"{{initiator.email}}"}, "subject": "", "body": ""}
	case TypeCondition:
		return map[string]any{"branches": []any{}, "default": "other"}
	case TypeTransform:
		return map[string]any{"set": map[string]any{}}
	case TypeDelay:
		return map[string]any{"duration": "10m"}
	}
	return nil
}

// AddStep appends a step of type typ named name (the type's label when empty) and returns its
// id, derived from the name and unique in the document.
func (d *Definition) AddStep(typ, name string) (string, error) {
	if !slices.Contains(StepTypes, typ) {
		return "", &FieldError{Field: "type", Message: fmt.Sprintf("must be one of %s, not %q", strings.Join(StepTypes, ", "), typ)}
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name = d.uniqueName(TypeLabel(typ))
	}
	id := d.UniqueStepID(stepIDFrom(name))
	d.Steps = append(d.Steps, Step{ID: id, Name: name, Type: typ, Config: newStepConfig(typ)})
	return id, nil
}

// uniqueName numbers a default name ("Approval 2") so that two new steps never share a name,
// which Validate refuses.
func (d *Definition) uniqueName(base string) string {
	taken := map[string]bool{}
	for _, s := range d.Steps {
		taken[strings.ToLower(s.Name)] = true
	}
	name := base
	for n := 2; taken[strings.ToLower(name)]; n++ {
		name = base + " " + strconv.Itoa(n)
	}
	return name
}

// stepIDFrom makes a step id from a name in the style of the contract's examples: lower
// camelCase letters and digits ("Create AD account" → "createAdAccount").
func stepIDFrom(name string) string {
	var b strings.Builder
	upper := false
	for _, r := range name {
		switch {
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			if b.Len() == 0 {
				if unicode.IsDigit(r) {
					b.WriteString("step")
				}
				b.WriteRune(unicode.ToLower(r))
			} else if upper {
				b.WriteRune(unicode.ToUpper(r))
			} else {
				b.WriteRune(unicode.ToLower(r))
			}
			upper = false
		default:
			upper = b.Len() > 0
		}
	}
	if b.Len() == 0 {
		return "step"
	}
	return b.String()
}

// UniqueStepID returns base, or base_2, base_3… when a step already has that id.
func (d *Definition) UniqueStepID(base string) string {
	taken := map[string]bool{}
	for _, s := range d.Steps {
		taken[s.ID] = true
	}
	id := base
	for n := 2; taken[id]; n++ {
		id = base + "_" + strconv.Itoa(n)
	}
	return id
}

// RenameStep changes a step's name; its id, and so every edge and reference, stays.
func (d *Definition) RenameStep(id, name string) error {
	s := d.Step(id)
	if s == nil {
		return stepNotFound(id)
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return &FieldError{Field: "name", Message: "is required: give the step a name admins will recognise"}
	}
	for _, o := range d.Steps {
		if o.ID != id && strings.EqualFold(o.Name, name) {
			return &FieldError{Field: "name", Message: fmt.Sprintf("is already the name of step %q; step names must differ", o.ID)}
		}
	}
	s.Name = name
	return nil
}

// SetStepConfig replaces a step's config.
func (d *Definition) SetStepConfig(id string, config map[string]any) error {
	s := d.Step(id)
	if s == nil {
		return stepNotFound(id)
	}
	if len(config) == 0 {
		config = nil
	}
	s.Config = config
	return nil
}

// DeleteStep removes a step and every edge into or out of it, and returns how many edges
// went with it.
func (d *Definition) DeleteStep(id string) (int, error) {
	i := slices.IndexFunc(d.Steps, func(s Step) bool { return s.ID == id })
	if i < 0 {
		return 0, stepNotFound(id)
	}
	d.Steps = slices.Delete(d.Steps, i, i+1)
	before := len(d.Edges)
	d.Edges = slices.DeleteFunc(d.Edges, func(e Edge) bool { return e.From == id || e.To == id })
	return before - len(d.Edges), nil
}

// Connect routes outcome on of from to to. A step leaves on each outcome along one edge, so
// an edge already leaving from on that outcome is redirected rather than doubled (lint's
// DUPLICATE_OUTCOME); the step it led to is returned, or "".
func (d *Definition) Connect(from, on, to string) (string, error) {
	if d.Step(from) == nil {
		return "", &FieldError{Field: "from", Message: fmt.Sprintf("names no step of this workflow: %q", from)}
	}
	if d.Step(to) == nil {
		return "", &FieldError{Field: "to", Message: fmt.Sprintf("names no step of this workflow: %q", to)}
	}
	on = strings.TrimSpace(on)
	if on == "" {
		return "", &FieldError{Field: "on", Message: "is required: choose the outcome this edge follows"}
	}
	for i, e := range d.Edges {
		if e.From == from && e.On == on {
			d.Edges[i].To = to
			return e.To, nil
		}
	}
	d.Edges = append(d.Edges, Edge{From: from, To: to, On: on})
	return "", nil
}

// Disconnect removes the edge leaving from on outcome on.
func (d *Definition) Disconnect(from, on string) error {
	n := len(d.Edges)
	d.Edges = slices.DeleteFunc(d.Edges, func(e Edge) bool { return e.From == from && e.On == on })
	if len(d.Edges) == n {
		return &FieldError{Field: "on", Message: fmt.Sprintf("step %q has no %q edge", from, on)}
	}
	return nil
}

// Outcomes lists the outcomes a step of this type can leave on, in the order an editor
// offers them: a condition's branches and default, an approval's rejected and expired.
func (s *Step) Outcomes() []string {
	switch s.Type {
	case TypeEnd:
		return nil
	case TypeStart, TypeTransform, TypeDelay:
		return []string{OnSuccess}
	case TypeApproval:
		return []string{OnSuccess, OnRejected, OnExpired, OnError}
	case TypeManualTask:
		return []string{OnSuccess, OnExpired, OnError}
	case TypeCondition:
		// A half-written condition still offers the branches it names.
		cfg, _ := s.ConditionConfig()
		var out []string
		for _, b := range cfg.Branches {
			if b.Name != "" && !slices.Contains(out, b.Name) {
				out = append(out, b.Name)
			}
		}
		if cfg.Default != "" && !slices.Contains(out, cfg.Default) {
			out = append(out, cfg.Default)
		}
		return append(out, OnError)
	}
	return []string{OnSuccess, OnError}
}

// SetVariable adds a variable, or replaces the one named old (a rename when v.Name differs).
func (d *Definition) SetVariable(old string, v Variable) error {
	v.Name = strings.TrimSpace(v.Name)
	if v.Name == "" {
		return &FieldError{Field: "variable.name", Message: "is required"}
	}
	if problem := nameProblem(v.Name); problem != "" {
		return &FieldError{Field: "variable.name", Message: problem}
	}
	if !slices.Contains(VariableTypes, v.Type) {
		return &FieldError{Field: "variable.type", Message: fmt.Sprintf("must be one of %s, not %q", strings.Join(VariableTypes, ", "), v.Type)}
	}
	at := -1
	for i, o := range d.Variables {
		switch {
		case o.Name == old && old != "":
			at = i
		case o.Name == v.Name:
			return &FieldError{Field: "variable.name", Message: fmt.Sprintf("%q is already a variable of this workflow", v.Name)}
		}
	}
	if old != "" && at < 0 {
		return &FieldError{Field: "variable.name", Message: fmt.Sprintf("the workflow has no variable %q", old)}
	}
	if at < 0 {
		d.Variables = append(d.Variables, v)
		return nil
	}
	d.Variables[at] = v
	if old != v.Name && d.SubjectVariable == old {
		d.SubjectVariable = v.Name
	}
	return nil
}

// DeleteVariable removes a variable. Steps that use it are left as they are: lint names them
// (UNDEFINED_VARIABLE), and undo brings the variable back.
func (d *Definition) DeleteVariable(name string) error {
	n := len(d.Variables)
	d.Variables = slices.DeleteFunc(d.Variables, func(v Variable) bool { return v.Name == name })
	if len(d.Variables) == n {
		return &FieldError{Field: "variable.name", Message: fmt.Sprintf("the workflow has no variable %q", name)}
	}
	if d.SubjectVariable == name {
		d.SubjectVariable = ""
	}
	return nil
}

func stepNotFound(id string) error {
	return &FieldError{Field: "step", Message: fmt.Sprintf("the workflow has no step %q (it may have been deleted in another tab)", id)}
}

// builtinPaths are the built-in variables' fields, as a variable picker offers them.
var builtinPaths = []string{
	"initiator.id", "initiator.email", "initiator.displayName",
	"run.id", "run.url", "run.diagnoseUrl", "run.workflowName", "now",
}

// VariablesAt lists the template paths a step may use, for a picker: the built-ins, the
// inputs (a user input with its fields) and what the steps it follows set (any step with a
// path to it, so it errs towards offering; lint has the exact rule).
func (d *Definition) VariablesAt(stepID string) []string {
	out := slices.Clone(builtinPaths)
	for _, v := range d.Variables {
		out = append(out, v.Name)
		if v.Type == "user" {
			out = append(out, v.Name+".id", v.Name+".email", v.Name+".displayName")
		}
	}
	into := map[string][]string{}
	for _, e := range d.Edges {
		into[e.To] = append(into[e.To], e.From)
	}
	seen := map[string]bool{stepID: true}
	queue := []string{stepID}
	var before []string
	for len(queue) > 0 {
		at := queue[0]
		queue = queue[1:]
		for _, from := range into[at] {
			if !seen[from] {
				seen[from] = true
				before = append(before, from)
				queue = append(queue, from)
			}
		}
	}
	for _, s := range d.Steps {
		if !slices.Contains(before, s.ID) {
			continue
		}
		for _, name := range d.Sets(&s) {
			if !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	return out
}

// Sets lists the variables a step sets when it succeeds: a connector step's output, a
// transform's names, the subject a user_create step sets.
func (d *Definition) Sets(s *Step) []string {
	switch s.Type {
	case TypeConnector:
		if out, _ := s.Config["output"].(string); out != "" {
			return []string{out}
		}
	case TypeTransform:
		set, _ := s.Config["set"].(map[string]any)
		return slices.Sorted(maps.Keys(set))
	case TypeUserCreate:
		if subject, _ := s.Config["setAsSubject"].(bool); subject && d.SubjectVariable != "" {
			return []string{d.SubjectVariable}
		}
	}
	return nil
}

// Reads lists what a step's config reads: expression names for conditions and
// transforms, template paths for everything else. Expressions that do not parse are Validate's.
func (s *Step) Reads() []string {
	var exprs []string
	switch s.Type {
	case TypeCondition:
		branches, _ := s.Config["branches"].([]any)
		for _, b := range branches {
			m, _ := b.(map[string]any)
			if when, ok := m["when"].(string); ok {
				exprs = append(exprs, when)
			}
		}
	case TypeTransform:
		set, _ := s.Config["set"].(map[string]any)
		for _, name := range slices.Sorted(maps.Keys(set)) {
			if src, ok := set[name].(string); ok {
				exprs = append(exprs, src)
			}
		}
	default:
		return TemplateNames(s.Config)
	}
	var names []string
	for _, src := range exprs {
		read, err := ExpressionNames(src)
		if err != nil {
			continue
		}
		for _, n := range read {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	return names
}
