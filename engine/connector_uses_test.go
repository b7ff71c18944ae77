package engine_test

import (
	"encoding/json"
	"slices"
	"strconv"
	"testing"

	"floh/db"
	"floh/engine"
)

// usesOf is what ConnectorUses finds for c, as "workflow/draft|vN/step" (with "~" for a step
// naming it by name).
func usesOf(t *testing.T, f *fixture, c *db.Connector) []string {
	t.Helper()
	uses, err := f.eng.ConnectorUses(f.ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	add := func(wf, doc string, steps []engine.StepUse) {
		for _, s := range steps {
			key := wf + "/" + doc + "/" + s.ID
			if s.ByName {
				key += "~"
			}
			out = append(out, key)
		}
	}
	for _, u := range uses {
		add(u.Name, "v"+strconv.Itoa(u.Version), u.Published)
		add(u.Name, "draft", u.Draft)
	}
	return out
}

func draftCalling(t *testing.T, name string, refs ...string) []byte {
	t.Helper()
	steps := []map[string]any{{"id": "start", "name": "Start", "type": "start"}}
	for i, ref := range refs {
		steps = append(steps, map[string]any{"id": "call" + string(rune('a'+i)), "name": "Call", "type": "connector",
			"config": map[string]any{"connectorId": ref, "command": "createThing", "params": map[string]any{"name": "x"}}})
	}
	raw, err := json.Marshal(map[string]any{"name": name, "steps": steps, "edges": []any{}})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestConnectorUsesResolveReferencesAsARunDoes(t *testing.T) {
	t.Parallel()
	f := setup(t)
	old, err := f.eng.CreateConnector(f.ctx, f.actor(), probeInput("Directory", "probe://uses-old"))
	if err != nil {
		t.Fatal(err)
	}
	// A name that reads as a UUID: a run looks a reference to it up by id, never by name.
	odd, err := f.eng.CreateConnector(f.ctx, f.actor(), probeInput("0b0e6e5c-2a46-4c37-9d3f-6f9a0c1d2e3f", "probe://uses-odd"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.CreateWorkflow(f.ctx, f.actor(), draftCalling(t, "Joiners", "DIRECTORY", old.ID.String(), odd.Name)); err != nil {
		t.Fatal(err)
	}
	if got, want := usesOf(t, f, old), []string{"Joiners/draft/calla~", "Joiners/draft/callb"}; !slices.Equal(got, want) {
		t.Fatalf("uses of Directory = %q, want %q", got, want)
	}
	if got := usesOf(t, f, odd); len(got) != 0 {
		t.Fatalf("a name that reads as a UUID is never resolved by name, yet found %q", got)
	}

	// Deleted, its name taken by a new connector: references by name now reach the new one.
	if _, err := f.eng.DeleteConnector(f.ctx, f.actor(), old.ID); err != nil {
		t.Fatal(err)
	}
	gone, err := f.eng.FindConnector(f.ctx, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := usesOf(t, f, gone), []string{"Joiners/draft/calla~", "Joiners/draft/callb"}; !slices.Equal(got, want) {
		t.Fatalf("a deleted connector whose name is free keeps its references by name: %q, want %q", got, want)
	}
	taken, err := f.eng.CreateConnector(f.ctx, f.actor(), probeInput("directory", "probe://uses-new"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := usesOf(t, f, gone), []string{"Joiners/draft/callb"}; !slices.Equal(got, want) {
		t.Fatalf("uses of the deleted Directory = %q, want %q", got, want)
	}
	if got, want := usesOf(t, f, taken), []string{"Joiners/draft/calla~"}; !slices.Equal(got, want) {
		t.Fatalf("uses of the new directory = %q, want %q", got, want)
	}
}
