package workflow

import (
	"errors"
	"slices"
	"testing"
)

func blank() *Definition {
	return &Definition{Name: "W", Steps: []Step{{ID: "start", Name: "Start", Type: TypeStart}, {ID: "end", Name: "End", Type: TypeEnd}},
		Edges: []Edge{{From: "start", To: "end", On: OnSuccess}}}
}

func wantField(t *testing.T, err error, field string) {
	t.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != field {
		t.Fatalf("want a problem with %s, got %v", field, err)
	}
}

func TestAddStepNamesAndIDs(t *testing.T) {
	d := blank()
	a, err := d.AddStep(TypeApproval, "")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := d.AddStep(TypeApproval, "")
	c, _ := d.AddStep(TypeConnector, "Create AD account")
	e, _ := d.AddStep(TypeConnector, "  Create AD account!! ")
	n, _ := d.AddStep(TypeDelay, "42 seconds")
	if got := []string{a, b, c, e, n}; !slices.Equal(got, []string{"approval", "approval2", "createAdAccount", "createAdAccount_2", "step42Seconds"}) {
		t.Fatalf("ids %v", got)
	}
	if d.Step(b).Name != "Approval 2" || d.Step(a).Config["mode"] != "single" {
		t.Fatalf("default name or config: %+v %+v", d.Step(b), d.Step(a))
	}
	if problems := d.Validate(true); len(problems) > 0 {
		t.Fatalf("added steps make a malformed draft: %v", problems)
	}
	_, err = d.AddStep("teleport", "")
	wantField(t, err, "type")
}

func TestRenameDeleteConnect(t *testing.T) {
	d := blank()
	id, _ := d.AddStep(TypeConnector, "Create account")
	wantField(t, d.RenameStep(id, " "), "name")
	wantField(t, d.RenameStep(id, "end"), "name")
	wantField(t, d.RenameStep("nope", "x"), "step")
	if err := d.RenameStep(id, "Create the account"); err != nil || d.Step(id).Name != "Create the account" {
		t.Fatalf("rename: %v", err)
	}

	prev, err := d.Connect("start", OnSuccess, id)
	if err != nil || prev != "end" {
		t.Fatalf("redirecting start's success edge: prev %q, %v", prev, err)
	}
	if _, err := d.Connect(id, OnSuccess, "end"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Connect(id, OnError, "end"); err != nil {
		t.Fatal(err)
	}
	if len(d.Edges) != 3 || d.Next("start", OnSuccess) != id {
		t.Fatalf("edges %+v", d.Edges)
	}
	_, err = d.Connect(id, OnSuccess, "ghost")
	wantField(t, err, "to")
	_, err = d.Connect("ghost", OnSuccess, "end")
	wantField(t, err, "from")
	_, err = d.Connect(id, "", "end")
	wantField(t, err, "on")

	if err := d.Disconnect(id, OnError); err != nil || len(d.Edges) != 2 {
		t.Fatalf("disconnect: %v %+v", err, d.Edges)
	}
	wantField(t, d.Disconnect(id, OnError), "on")

	gone, err := d.DeleteStep(id)
	if err != nil || gone != 2 || d.Step(id) != nil || len(d.Edges) != 0 {
		t.Fatalf("delete took %d edges (%v), left %+v", gone, err, d.Edges)
	}
	_, err = d.DeleteStep(id)
	wantField(t, err, "step")
}

func TestOutcomes(t *testing.T) {
	cond := Step{ID: "c", Type: TypeCondition, Config: map[string]any{
		"branches": []any{map[string]any{"name": "big", "when": "n > 3"}, map[string]any{"name": "small", "when": ""}},
		"default":  "other",
	}}
	for _, tc := range []struct {
		step Step
		want []string
	}{
		{Step{Type: TypeEnd}, nil},
		{Step{Type: TypeStart}, []string{OnSuccess}},
		{Step{Type: TypeConnector}, []string{OnSuccess, OnError}},
		{Step{Type: TypeApproval}, []string{OnSuccess, OnRejected, OnExpired, OnError}},
		{cond, []string{"big", "small", "other", OnError}},
	} {
		if got := tc.step.Outcomes(); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.step.Type, got, tc.want)
		}
	}
}

func TestVariables(t *testing.T) {
	d := blank()
	if err := d.SetVariable("", Variable{Name: "target", Type: "user", Required: true}); err != nil {
		t.Fatal(err)
	}
	d.SubjectVariable = "target"
	wantField(t, d.SetVariable("", Variable{Name: "target", Type: "string"}), "variable.name")
	wantField(t, d.SetVariable("", Variable{Name: "9lives", Type: "string"}), "variable.name")
	wantField(t, d.SetVariable("", Variable{Name: "run", Type: "string"}), "variable.name")
	wantField(t, d.SetVariable("", Variable{Name: "x", Type: "date"}), "variable.type")
	wantField(t, d.SetVariable("ghost", Variable{Name: "x", Type: "string"}), "variable.name")
	if err := d.SetVariable("target", Variable{Name: "person", Type: "user"}); err != nil {
		t.Fatal(err)
	}
	if d.SubjectVariable != "person" || d.Variables[0].Name != "person" {
		t.Fatalf("rename: %+v subject %q", d.Variables, d.SubjectVariable)
	}
	if err := d.DeleteVariable("person"); err != nil || len(d.Variables) != 0 || d.SubjectVariable != "" {
		t.Fatalf("delete: %v %+v %q", err, d.Variables, d.SubjectVariable)
	}
	wantField(t, d.DeleteVariable("person"), "variable.name")
}
