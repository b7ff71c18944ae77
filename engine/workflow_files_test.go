package engine_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"floh/db"
)

const importStartEnd = `{"name": "Joiners", "variables": [], "edges": [{"from": "start", "to": "end", "on": "success"}],
	"steps": [{"id": "start", "name": "Start", "type": "start"}, {"id": "end", "name": "End", "type": "end"}]}`

func TestImportDraftIsConfirmedAndUndoable(t *testing.T) {
	t.Parallel()
	f := setup(t)
	wf, err := f.eng.CreateWorkflow(f.ctx, f.actor(), []byte(importStartEnd))
	if err != nil {
		t.Fatal(err)
	}
	before, err := db.FindWorkflow(f.ctx, f.db.Bun, wf.ID)
	if err != nil {
		t.Fatal(err)
	}
	file := []byte(strings.Replace(importStartEnd, `"name": "Start"`, `"name": "Begin"`, 1))

	// Unconfirmed with a broken file: both problems at once, nothing changed.
	broken := []byte(strings.Replace(string(file), `"type": "end"`, `"type": "teleport"`, 1))
	_, err = f.eng.ImportDraft(f.ctx, f.actor(), wf.ID, broken, "broken.json", "", false)
	wantValidation(t, err, "replace")
	wantValidation(t, err, "steps[1].type")
	_, err = f.eng.ImportDraft(f.ctx, f.actor(), wf.ID, file, "joiners.json", "", false)
	wantValidation(t, err, "replace")
	if after, _ := db.FindWorkflow(f.ctx, f.db.Bun, wf.ID); string(after.Draft) != string(before.Draft) {
		t.Fatalf("a refused import changed the draft: %s", after.Draft)
	}

	// Confirmed, under another name: the draft is the file, and undo takes the import back.
	doc, err := f.eng.ImportDraft(f.ctx, f.actor(), wf.ID, file, "joiners.json", "  Joiners 2 ", true)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Name != "Joiners 2" || doc.Definition.Steps[0].Name != "Begin" {
		t.Fatalf("imported %s with first step %q", doc.Name, doc.Definition.Steps[0].Name)
	}
	n, label, err := f.eng.DraftUndo(f.ctx, wf.ID)
	if err != nil || n != 1 || label != "Import joiners.json" {
		t.Fatalf("undo after the import: %d %q %v", n, label, err)
	}
	undone, what, err := f.eng.UndoDraftEdit(f.ctx, f.actor(), wf.ID)
	if err != nil || what != "Import joiners.json" {
		t.Fatalf("undo: %q %v", what, err)
	}
	var got, want any
	if err := json.Unmarshal(undone.Workflow.Draft, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(before.Draft, &want); err != nil {
		t.Fatal(err)
	}
	if undone.Name != "Joiners" || !reflect.DeepEqual(got, want) {
		t.Fatalf("undoing the import left %s: %s", undone.Name, undone.Workflow.Draft)
	}

	// Opening a draft on a published workflow replaces nothing, so there is nothing to undo.
	if _, err := f.eng.PublishWorkflow(f.ctx, f.actor(), wf.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.ImportDraft(f.ctx, f.actor(), wf.ID, file, "joiners.json", "", false); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := f.eng.DraftUndo(f.ctx, wf.ID); n != 0 {
		t.Errorf("%d edits to undo after opening a draft from a file, want none", n)
	}
}

func TestImportWorkflowTakesTheGivenName(t *testing.T) {
	t.Parallel()
	f := setup(t)
	if _, err := f.eng.CreateWorkflow(f.ctx, f.actor(), []byte(importStartEnd)); err != nil {
		t.Fatal(err)
	}
	_, err := f.eng.ImportWorkflow(f.ctx, f.actor(), []byte(importStartEnd), "")
	wantValidation(t, err, "name")
	nameless := []byte(strings.Replace(importStartEnd, `"name": "Joiners", `, "", 1))
	_, err = f.eng.ImportWorkflow(f.ctx, f.actor(), nameless, " ")
	wantValidation(t, err, "name")
	doc, err := f.eng.ImportWorkflow(f.ctx, f.actor(), nameless, "Joiners (copy)")
	if err != nil {
		t.Fatal(err)
	}
	if doc.Name != "Joiners (copy)" || doc.Definition.Name != "Joiners (copy)" || !doc.HasDraft {
		t.Fatalf("imported %+v", doc.Workflow)
	}
}
