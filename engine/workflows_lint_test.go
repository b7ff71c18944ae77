package engine_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"floh/db"
	"floh/engine"
	"floh/engine/lint"
	"floh/engine/workflow"
)

func (f *fixture) createDraft(t *testing.T, def workflow.Definition) *engine.WorkflowDoc {
	t.Helper()
	raw, err := json.Marshal(def)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := f.eng.CreateWorkflow(f.ctx, f.actor(), raw)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

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

// Publishing from the confirmation publishes the draft that was reviewed, and only that one.
func TestReviewThenPublishTheReviewedDraft(t *testing.T) {
	t.Parallel()
	f := setup(t)
	wait := step("wait", workflow.TypeDelay, map[string]any{"duration": "1m"})
	def := workflow.Definition{Name: "Reviewed", Steps: []workflow.Step{startStep(), wait, endStep()},
		Edges: append(chain("start", "wait", "end"), edge("wait", "end", workflow.OnError))}
	doc := f.createDraft(t, def)

	review, err := f.eng.ReviewPublish(f.ctx, doc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if review.Version != 1 || review.Blocked() || len(review.Problems) != 0 || review.Draft == "" ||
		!equalCodes(codesByStep(review.Findings), map[string][]string{"wait": {"ERROR_EDGE_WITHOUT_NOTIFICATION"}}) {
		t.Fatalf("review: version %d blocked %v problems %v findings %+v", review.Version, review.Blocked(), review.Problems, review.Findings)
	}

	// Someone changes the draft after the review: publishing the reviewed one is refused.
	def.Description = "changed after the review"
	raw, _ := json.Marshal(def)
	if _, err := f.eng.UpdateWorkflow(f.ctx, f.actor(), doc.ID, raw); err != nil {
		t.Fatal(err)
	}
	_, err = f.eng.PublishReviewedDraft(f.ctx, f.actor(), doc.ID, review.Draft)
	if !errors.Is(err, engine.ErrStaleReview) {
		t.Fatalf("publishing a stale review: %v", err)
	}
	wantConflict(t, err)
	if w, _ := db.FindWorkflow(f.ctx, f.db.Bun, doc.ID); w.Version != 0 || w.Draft == nil {
		t.Fatalf("a stale review published: version %d", w.Version)
	}
	_, err = f.eng.PublishReviewedDraft(f.ctx, f.actor(), doc.ID, "")
	wantValidation(t, err, "draft")

	again, err := f.eng.ReviewPublish(f.ctx, doc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if again.Draft == review.Draft {
		t.Fatal("a changed draft has the same digest")
	}
	published, err := f.eng.PublishReviewedDraft(f.ctx, f.actor(), doc.ID, again.Draft)
	if err != nil {
		t.Fatal(err)
	}
	if published.Version != 1 || published.Definition.Description != "changed after the review" {
		t.Fatalf("published version %d: %+v", published.Version, published.Definition)
	}
	_, err = f.eng.ReviewPublish(f.ctx, doc.ID)
	wantConflict(t, err)
}

// A review that publishing would refuse says everything that refuses it: the document's own
// problems and lint's errors.
func TestReviewOfADraftThatCannotPublish(t *testing.T) {
	t.Parallel()
	f := setup(t)
	doc := f.createDraft(t, workflow.Definition{Name: "Needs input",
		Trigger:   &workflow.Trigger{Type: workflow.TriggerSchedule, Cron: "0 6 * * *"},
		Variables: []workflow.Variable{{Name: "username", Type: "string", Required: true}},
		Steps:     []workflow.Step{startStep(), endStep()}, Edges: chain("start", "end")})
	review, err := f.eng.ReviewPublish(f.ctx, doc.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Validate and lint both refuse the required variable; the review says it once.
	if !review.Blocked() || len(review.Problems) != 0 ||
		len(review.Findings) != 1 || review.Findings[0].Code != lint.CodeScheduledRequiredVariable {
		t.Fatalf("review: blocked %v problems %+v findings %+v", review.Blocked(), review.Problems, review.Findings)
	}
	// A problem only Validate knows stays: a schedule's cron that never fires.
	raw, _ := json.Marshal(workflow.Definition{Name: "Needs input", Trigger: &workflow.Trigger{Type: workflow.TriggerSchedule, Cron: "0 6 30 2 *"},
		Variables: []workflow.Variable{{Name: "username", Type: "string", Required: true}},
		Steps:     []workflow.Step{startStep(), endStep()}, Edges: chain("start", "end")})
	if _, err := f.eng.UpdateWorkflow(f.ctx, f.actor(), doc.ID, raw); err != nil {
		t.Fatal(err)
	}
	review, err = f.eng.ReviewPublish(f.ctx, doc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(review.Problems) != 1 || review.Problems[0].Field != "trigger.cron" || len(review.Findings) != 1 {
		t.Fatalf("review: problems %+v findings %+v", review.Problems, review.Findings)
	}

	deleted := f.createDraft(t, workflow.Definition{Name: "Gone", Steps: []workflow.Step{startStep(), endStep()}, Edges: chain("start", "end")})
	if _, err := f.eng.DeleteWorkflow(f.ctx, f.actor(), deleted.ID); err != nil {
		t.Fatal(err)
	}
	_, err = f.eng.ReviewPublish(f.ctx, deleted.ID)
	wantConflict(t, err)
}
