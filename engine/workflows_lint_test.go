package engine_test

import (
	"slices"
	"testing"

	"floh/engine/lint"
	"floh/engine/workflow"
)

// codesByStep lists each step's finding codes.
func codesByStep(findings []lint.Finding) map[string][]string {
	out := map[string][]string{}
	for _, fd := range findings {
		out[fd.StepID] = append(out[fd.StepID], fd.Code)
	}
	return out
}

// The engine's catalogue knows an instance by its id however a step names it: by id, by name,
// by name in another case. Systems are instances, so those steps are one system.
func TestLintWorkflowKnowsInstancesByIdentity(t *testing.T) {
	t.Parallel()
	f := setup(t)
	dir, err := f.eng.CreateConnector(f.ctx, f.actor(), probeInput("Directory", "probe://lint-directory"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.CreateConnector(f.ctx, f.actor(), probeInput("Cloud", "probe://lint-cloud")); err != nil {
		t.Fatal(err)
	}
	create := func(id, ref string) workflow.Step {
		return step(id, workflow.TypeConnector, map[string]any{"connectorId": ref, "command": "createThing", "params": map[string]any{"name": id}})
	}
	def := workflow.Definition{Name: "Things", Steps: []workflow.Step{startStep(),
		create("byName", "Directory"), create("byID", dir.ID.String()), create("byLowerName", "directory"), endStep()},
		Edges: chain("start", "byName", "byID", "byLowerName", "end")}
	if got := f.eng.LintWorkflow(f.ctx, &def); len(got) != 0 {
		t.Fatalf("one instance named three ways is one system: %+v", got)
	}

	def.Steps = slices.Insert(def.Steps, 4, create("cloud", "Cloud"),
		step("undo", workflow.TypeConnector, map[string]any{"connectorId": "Cloud", "command": "deleteThing", "params": map[string]any{"name": "x"}}))
	def.Edges = chain("start", "byName", "byID", "byLowerName", "cloud", "undo", "end")
	got := codesByStep(f.eng.LintWorkflow(f.ctx, &def))
	chainWarning := "PROVISIONING_CHAIN_NO_ERROR_EDGE"
	want := map[string][]string{
		"byName": {chainWarning}, "byID": {chainWarning}, "byLowerName": {chainWarning}, "cloud": {chainWarning},
		"undo": {chainWarning, "NO_COMPENSATION"},
	}
	if !equalCodes(got, want) {
		t.Fatalf("two instances are two systems: %v, want %v", got, want)
	}

	// A deleted instance is unknown, so its steps are no system: Cloud alone is left.
	if _, err := f.eng.DeleteConnector(f.ctx, f.actor(), dir.ID); err != nil {
		t.Fatal(err)
	}
	got = codesByStep(f.eng.LintWorkflow(f.ctx, &def))
	want = map[string][]string{"byName": {"UNKNOWN_CONNECTOR"}, "byID": {"UNKNOWN_CONNECTOR"}, "byLowerName": {"UNKNOWN_CONNECTOR"}, "undo": {"NO_COMPENSATION"}}
	if !equalCodes(got, want) {
		t.Fatalf("after deleting Directory: %v, want %v", got, want)
	}
}

func equalCodes(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
