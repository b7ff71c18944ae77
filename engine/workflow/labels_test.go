package workflow

import "testing"

func TestTypeLabelNamesEveryStepType(t *testing.T) {
	seen := map[string]string{}
	for _, typ := range StepTypes {
		label := TypeLabel(typ)
		if label == typ || label == "" {
			t.Errorf("TypeLabel(%q) = %q, want words", typ, label)
		}
		if other, dup := seen[label]; dup {
			t.Errorf("TypeLabel(%q) = TypeLabel(%q) = %q", typ, other, label)
		}
		seen[label] = typ
	}
	if got := TypeLabel("role_grant"); got != "role_grant" {
		t.Errorf("TypeLabel of an unknown type = %q, want it as typed", got)
	}
}
