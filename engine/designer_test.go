package engine_test

import (
	"fmt"
	"testing"

	"floh/engine/workflow"
)

// An edit saves at once and can be undone; undo goes back one edit at a time, at most 20
// deep, and a refused edit neither saves nor takes an undo slot.
func TestEditDraftAndUndo(t *testing.T) {
	f := setup(t)
	doc, err := f.eng.CreateWorkflow(f.ctx, f.actor(), []byte(`{"name": "Onboard", "steps": [
		{"id": "start", "name": "Start", "type": "start"}, {"id": "end", "name": "End", "type": "end"}],
		"edges": [{"from": "start", "to": "end", "on": "success"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	id := doc.ID
	if n, _, err := f.eng.DraftUndo(f.ctx, id); err != nil || n != 0 {
		t.Fatalf("a new draft has %d edits to undo (%v)", n, err)
	}
	_, _, err = f.eng.UndoDraftEdit(f.ctx, f.actor(), id)
	wantConflict(t, err)

	var added string
	if _, err := f.eng.EditDraft(f.ctx, f.actor(), id, "Add an approval", func(d *workflow.Definition) error {
		added, err = d.AddStep(workflow.TypeApproval, "Manager approval")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// A refused edit: the step name is taken. Nothing is saved and no undo slot is used.
	_, err = f.eng.EditDraft(f.ctx, f.actor(), id, "Rename", func(d *workflow.Definition) error {
		return d.RenameStep(added, "End")
	})
	wantValidation(t, err, "name")
	// An edit that leaves a malformed draft (an edge without an outcome) is refused too.
	_, err = f.eng.EditDraft(f.ctx, f.actor(), id, "Bad edge", func(d *workflow.Definition) error {
		d.Edges = append(d.Edges, workflow.Edge{From: "start", To: "end"})
		return nil
	})
	wantValidation(t, err, "edges[1].on")

	n, last, err := f.eng.DraftUndo(f.ctx, id)
	if err != nil || n != 1 || last != "Add an approval" {
		t.Fatalf("undo state %d %q %v", n, last, err)
	}
	saved, err := f.eng.FindWorkflow(f.ctx, id)
	if err != nil || saved.Definition.Step(added) == nil || len(saved.Definition.Edges) != 1 {
		t.Fatalf("saved draft %+v %v", saved.Definition, err)
	}

	back, what, err := f.eng.UndoDraftEdit(f.ctx, f.actor(), id)
	if err != nil || what != "Add an approval" || back.Definition.Step(added) != nil {
		t.Fatalf("undo: %q %+v %v", what, back.Definition, err)
	}
	saved, _ = f.eng.FindWorkflow(f.ctx, id)
	if saved.Definition.Step(added) != nil {
		t.Fatal("the undone draft was not saved")
	}

	// 25 edits keep the newest 20, which undo in reverse order.
	for i := range 25 {
		if _, err := f.eng.EditDraft(f.ctx, f.actor(), id, fmt.Sprintf("edit %d", i), func(d *workflow.Definition) error {
			d.Description = fmt.Sprintf("v%d", i)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if n, last, _ := f.eng.DraftUndo(f.ctx, id); n != 20 || last != "edit 24" {
		t.Fatalf("after 25 edits: %d kept, newest %q", n, last)
	}
	for i := 24; i >= 5; i-- {
		doc, what, err := f.eng.UndoDraftEdit(f.ctx, f.actor(), id)
		if err != nil || what != fmt.Sprintf("edit %d", i) || doc.Definition.Description != fmt.Sprintf("v%d", i-1) {
			t.Fatalf("undo %d: %q %q %v", i, what, doc.Definition.Description, err)
		}
	}
	_, _, err = f.eng.UndoDraftEdit(f.ctx, f.actor(), id)
	wantConflict(t, err)

	// Publishing closes the draft and its undo with it.
	if _, err := f.eng.EditDraft(f.ctx, f.actor(), id, "Describe", func(d *workflow.Definition) error {
		d.Description = "ready"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.PublishWorkflow(f.ctx, f.actor(), id); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := f.eng.DraftUndo(f.ctx, id); n != 0 {
		t.Fatalf("a published workflow keeps %d undo entries", n)
	}
	_, err = f.eng.EditDraft(f.ctx, f.actor(), id, "After publish", func(*workflow.Definition) error { return nil })
	wantConflict(t, err)

	var audit int
	if err := f.db.Bun.NewSelect().Table("audit_log").ColumnExpr("count(*)").
		Where("action = ? AND entity_id = ?", "workflow.edit_undone", id.String()).Scan(f.ctx, &audit); err != nil {
		t.Fatal(err)
	}
	if audit != 21 {
		t.Fatalf("%d undos audited, want 21", audit)
	}
}
