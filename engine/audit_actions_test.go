package engine_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"floh/engine"
)

// TestAuditFilterListsMatchTheEngine reads the engine's own audit calls, so a new action
// cannot be written without being offered as a filter on the audit page.
func TestAuditFilterListsMatchTheEngine(t *testing.T) {
	t.Parallel()
	call := regexp.MustCompile(`e\.audit\([^"]*"([a-z_]+)", [^"]*"([a-z_]+\.[a-z_]+)"`)
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	entities, actions := map[string]bool{}, map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range call.FindAllStringSubmatch(string(src), -1) {
			entities[m[1]], actions[m[2]] = true, true
		}
	}
	if len(actions) == 0 {
		t.Fatal("found no audit calls; has the call shape changed?")
	}
	for a := range actions {
		if !slices.Contains(engine.AuditActions, a) {
			t.Errorf("action %q is written but not in engine.AuditActions", a)
		}
	}
	for _, a := range engine.AuditActions {
		if !actions[a] {
			t.Errorf("engine.AuditActions lists %q, which nothing writes", a)
		}
	}
	for e := range entities {
		if !slices.Contains(engine.AuditEntities, e) {
			t.Errorf("entity %q is written but not in engine.AuditEntities", e)
		}
	}
}
