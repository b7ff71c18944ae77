package workflow

import (
	"bytes"
	"encoding/json"
)

// DiffResult is what changed from one version of a definition to another. Every list is empty
// rather than null in JSON.
type DiffResult struct {
	Steps    StepsDiff    `json:"steps"`
	Edges    EdgesDiff    `json:"edges"`
	Settings SettingsDiff `json:"settings"`
}

// StepsDiff matches steps by id.
type StepsDiff struct {
	Added   []Step       `json:"added"`
	Removed []Step       `json:"removed"`
	Changed []StepChange `json:"changed"`
}

// StepChange is a step whose name, type or config changed.
type StepChange struct {
	ID     string `json:"id"`
	Before Step   `json:"before"`
	After  Step   `json:"after"`
}

// EdgesDiff compares edges as (from, to, on) triples; moving an edge is a removal and an
// addition.
type EdgesDiff struct {
	Added   []Edge `json:"added"`
	Removed []Edge `json:"removed"`
}

// SettingsDiff lists the top-level fields that changed.
type SettingsDiff struct {
	Changed []SettingChange `json:"changed"`
}

// SettingChange is one changed top-level field: name, description, category,
// subjectVariable, errorStrategy, trigger or variables.
type SettingChange struct {
	Field  string `json:"field"`
	Before any    `json:"before"`
	After  any    `json:"after"`
}

// Diff compares a (before) with b (after); nil reads as an empty definition, so Diff(nil, d)
// shows everything in d as added. Defaults compare equal to their spelling out: no
// errorStrategy is "stop", no trigger is a manual one.
func Diff(a, b *Definition) DiffResult {
	if a == nil {
		a = &Definition{}
	}
	if b == nil {
		b = &Definition{}
	}
	r := DiffResult{
		Steps:    StepsDiff{Added: []Step{}, Removed: []Step{}, Changed: []StepChange{}},
		Edges:    EdgesDiff{Added: []Edge{}, Removed: []Edge{}},
		Settings: SettingsDiff{Changed: []SettingChange{}},
	}
	diffSteps(a.Steps, b.Steps, &r.Steps)
	r.Edges.Removed = edgesMissing(a.Edges, b.Edges)
	r.Edges.Added = edgesMissing(b.Edges, a.Edges)
	r.Settings.Changed = diffSettings(a, b)
	return r
}

// stepKey tells apart steps that share an id (a broken draft): the n-th step with an id in
// one version matches the n-th in the other.
type stepKey struct {
	id string
	n  int
}

func keyed(steps []Step) ([]stepKey, map[stepKey]Step) {
	count := map[string]int{}
	keys := make([]stepKey, len(steps))
	byKey := make(map[stepKey]Step, len(steps))
	for i, s := range steps {
		keys[i] = stepKey{s.ID, count[s.ID]}
		count[s.ID]++
		byKey[keys[i]] = s
	}
	return keys, byKey
}

func diffSteps(before, after []Step, d *StepsDiff) {
	beforeKeys, beforeBy := keyed(before)
	afterKeys, afterBy := keyed(after)
	for i, k := range beforeKeys {
		if _, ok := afterBy[k]; !ok {
			d.Removed = append(d.Removed, before[i])
		}
	}
	for i, k := range afterKeys {
		old, ok := beforeBy[k]
		switch {
		case !ok:
			d.Added = append(d.Added, after[i])
		case !sameStep(old, after[i]):
			d.Changed = append(d.Changed, StepChange{ID: k.id, Before: old, After: after[i]})
		}
	}
}

func sameStep(a, b Step) bool {
	return a.Name == b.Name && a.Type == b.Type && sameJSON(emptyAsNil(a.Config), emptyAsNil(b.Config))
}

// emptyAsNil makes an empty config and no config compare equal.
func emptyAsNil(m map[string]any) any {
	if len(m) == 0 {
		return nil
	}
	return m
}

// sameJSON compares values as JSON: map key order and number spelling (1 vs 1.0) do not
// matter, so a config decoded from storage equals one built in Go.
func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// edgesMissing lists the edges of from that to lacks, counting repeats.
func edgesMissing(from, to []Edge) []Edge {
	left := map[Edge]int{}
	for _, e := range to {
		left[e]++
	}
	missing := []Edge{}
	for _, e := range from {
		if left[e] > 0 {
			left[e]--
			continue
		}
		missing = append(missing, e)
	}
	return missing
}

func diffSettings(a, b *Definition) []SettingChange {
	changed := []SettingChange{}
	text := func(field, before, after string) {
		if before != after {
			changed = append(changed, SettingChange{Field: field, Before: before, After: after})
		}
	}
	text("name", a.Name, b.Name)
	text("description", a.Description, b.Description)
	text("category", a.Category, b.Category)
	text("subjectVariable", a.SubjectVariable, b.SubjectVariable)
	if effectiveStrategy(a) != effectiveStrategy(b) {
		changed = append(changed, SettingChange{Field: "errorStrategy", Before: a.ErrorStrategy, After: b.ErrorStrategy})
	}
	if effectiveTrigger(a) != effectiveTrigger(b) {
		changed = append(changed, SettingChange{Field: "trigger", Before: a.Trigger, After: b.Trigger})
	}
	if va, vb := variableList(a), variableList(b); !sameJSON(va, vb) {
		changed = append(changed, SettingChange{Field: "variables", Before: va, After: vb})
	}
	return changed
}

func effectiveStrategy(d *Definition) string {
	if d.ErrorStrategy == "" {
		return StrategyStop
	}
	return d.ErrorStrategy
}

func effectiveTrigger(d *Definition) Trigger {
	if d.Trigger == nil {
		return Trigger{Type: TriggerManual}
	}
	return *d.Trigger
}

func variableList(d *Definition) []Variable {
	if d.Variables == nil {
		return []Variable{}
	}
	return d.Variables
}
