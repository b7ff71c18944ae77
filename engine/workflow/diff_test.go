package workflow

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestDiffIdentical(t *testing.T) {
	a := mustParse(t, provisioning)
	b := mustParse(t, provisioning)
	got, err := json.Marshal(Diff(a, b))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"steps":{"added":[],"removed":[],"changed":[]},"edges":{"added":[],"removed":[]},"settings":{"changed":[]}}`
	if string(got) != want {
		t.Errorf("Diff of equal versions:\n got %s\nwant %s", got, want)
	}
	if got, _ := json.Marshal(Diff(nil, nil)); string(got) != want {
		t.Errorf("Diff(nil, nil) = %s", got)
	}
}

func TestDiff(t *testing.T) {
	a := &Definition{
		Name:      "Onboarding",
		Variables: []Variable{{Name: "user", Type: "user"}},
		Steps: []Step{
			{ID: "start", Type: TypeStart},
			{ID: "wait", Name: "Wait", Type: TypeDelay, Config: map[string]any{"duration": "10m"}},
			{ID: "ad", Name: "AD", Type: TypeConnector, Config: map[string]any{"connectorId": "ad", "command": "createAccount", "retry": map[string]any{"maxAttempts": 3}}},
			{ID: "gone", Type: TypeEnd},
		},
		Edges: []Edge{{"start", "wait", OnSuccess}, {"wait", "ad", OnSuccess}, {"ad", "gone", OnSuccess}, {"ad", "gone", OnSuccess}},
	}
	b := &Definition{
		Name:          "Onboarding v2",
		Description:   "now with email",
		ErrorStrategy: StrategyContinue,
		Trigger:       &Trigger{Type: TriggerSchedule, Cron: "0 6 * * *"},
		Variables:     []Variable{{Name: "user", Type: "user", Required: true}},
		Steps: []Step{
			{ID: "start", Type: TypeStart, Config: map[string]any{}},
			{ID: "wait", Name: "Wait longer", Type: TypeDelay, Config: map[string]any{"duration": "10m"}},
			// Decoded from JSON: 3.0 where a had 3, the same config.
			{ID: "ad", Name: "AD", Type: TypeConnector, Config: map[string]any{"command": "createAccount", "connectorId": "ad", "retry": map[string]any{"maxAttempts": 3.0}}},
			{ID: "mail", Type: TypeNotification},
			{ID: "end", Type: TypeEnd},
		},
		Edges: []Edge{{"start", "wait", OnSuccess}, {"wait", "ad", OnSuccess}, {"ad", "gone", OnSuccess}, {"ad", "mail", OnSuccess}, {"mail", "end", OnSuccess}},
	}
	got := Diff(a, b)
	want := DiffResult{
		Steps: StepsDiff{
			Added:   []Step{b.Steps[3], b.Steps[4]},
			Removed: []Step{a.Steps[3]},
			Changed: []StepChange{{ID: "wait", Before: a.Steps[1], After: b.Steps[1]}},
		},
		Edges: EdgesDiff{
			Added:   []Edge{{"ad", "mail", OnSuccess}, {"mail", "end", OnSuccess}},
			Removed: []Edge{{"ad", "gone", OnSuccess}},
		},
		Settings: SettingsDiff{Changed: []SettingChange{
			{Field: "name", Before: "Onboarding", After: "Onboarding v2"},
			{Field: "description", Before: "", After: "now with email"},
			{Field: "errorStrategy", Before: "", After: StrategyContinue},
			{Field: "trigger", Before: (*Trigger)(nil), After: b.Trigger},
			{Field: "variables", Before: a.Variables, After: b.Variables},
		}},
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("Diff:\n got %s\nwant %s", g, w)
	}
	out, _ := json.Marshal(got.Settings.Changed[3])
	if string(out) != `{"field":"trigger","before":null,"after":{"type":"schedule","cron":"0 6 * * *"}}` {
		t.Errorf("trigger change JSON: %s", out)
	}
	out, _ = json.Marshal(got.Steps.Changed[0])
	if string(out) != `{"id":"wait","before":{"id":"wait","name":"Wait","type":"delay","config":{"duration":"10m"}},"after":{"id":"wait","name":"Wait longer","type":"delay","config":{"duration":"10m"}}}` {
		t.Errorf("step change JSON: %s", out)
	}
}

func TestDiffDefaults(t *testing.T) {
	a := &Definition{Name: "x"}
	b := &Definition{Name: "x", ErrorStrategy: StrategyStop, Trigger: &Trigger{Type: TriggerManual}, Variables: []Variable{}, Steps: []Step{}, Edges: []Edge{}}
	if d := Diff(a, b); len(d.Settings.Changed) != 0 {
		t.Errorf("spelt-out defaults are no change: %+v", d.Settings.Changed)
	}
	d := Diff(nil, mustParse(t, provisioning))
	if len(d.Steps.Added) != 12 || len(d.Edges.Added) != 14 || len(d.Steps.Removed) != 0 {
		t.Errorf("Diff(nil, d): %d steps, %d edges added", len(d.Steps.Added), len(d.Edges.Added))
	}
	var fields []string
	for _, c := range d.Settings.Changed {
		fields = append(fields, c.Field)
	}
	if want := []string{"name", "category", "subjectVariable", "trigger", "variables"}; !reflect.DeepEqual(fields, want) {
		t.Errorf("settings changed from nothing: %v, want %v", fields, want)
	}
}

func TestDiffDuplicateIDs(t *testing.T) {
	a := &Definition{Steps: []Step{{ID: "x", Type: TypeDelay}, {ID: "x", Type: TypeEnd}}}
	b := &Definition{Steps: []Step{{ID: "x", Type: TypeDelay}}}
	d := Diff(a, b)
	if len(d.Steps.Removed) != 1 || d.Steps.Removed[0].Type != TypeEnd || len(d.Steps.Changed) != 0 || len(d.Steps.Added) != 0 {
		t.Errorf("duplicate ids: %+v", d.Steps)
	}
}
