package lint

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"floh/engine/workflow"
)

// parseCorpus seeds f with the corpus of workflow's FuzzParse: whatever once broke the parser
// is worth linting too. A corpus file is "go test fuzz v1" and one []byte("...") line.
func parseCorpus(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("..", "workflow", "testdata", "fuzz", "FuzzParse", "*"))
	if err != nil {
		f.Fatal(err)
	}
	if len(files) == 0 {
		f.Fatal("no corpus in ../workflow/testdata/fuzz/FuzzParse")
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if quoted, ok := strings.CutPrefix(line, "[]byte("); ok {
				s, err := strconv.Unquote(strings.TrimSuffix(quoted, ")"))
				if err != nil {
					f.Fatalf("%s: %v", name, err)
				}
				f.Add([]byte(s))
			}
		}
	}
}

// FuzzLint parses arbitrary bytes as the API does and lints whatever parses: lint must not
// panic, must answer a list, and must keep to one finding per (step, code) with a known
// severity and a message.
func FuzzLint(f *testing.F) {
	parseCorpus(f)
	f.Add([]byte(provisioningChain))
	for _, doc := range brokenDocuments {
		f.Add([]byte(doc))
	}
	f.Add([]byte(generated(40)))
	cat := testCatalogue(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := workflow.Parse(data)
		if err != nil {
			return
		}
		for _, c := range []Catalogue{cat, nil} {
			findings := Lint(d, c)
			if findings == nil {
				t.Fatal("Lint returned nil")
			}
			seen := map[[2]string]bool{}
			for _, fd := range findings {
				key := [2]string{fd.StepID, fd.Code}
				if seen[key] {
					t.Errorf("two %s findings on step %q", fd.Code, fd.StepID)
				}
				seen[key] = true
				switch fd.Severity {
				case SeverityError, SeverityWarning, SeverityInfo:
				default:
					t.Errorf("%s has severity %q", fd.Code, fd.Severity)
				}
				if fd.Message == "" || fd.Code == "" {
					t.Errorf("a finding without code or message: %+v", fd)
				}
			}
		}
	})
}

// generated is a definition of about n steps, shaped as real ones are: a spine of connector
// steps on two systems, each with an error edge to a shared notification, every tenth step a
// condition whose branches rejoin the spine, every seventh an approval whose rejection is
// routed, transforms and outputs that later steps read.
func generated(n int) string {
	var steps, edges []string
	step := func(s string, args ...any) { steps = append(steps, fmt.Sprintf(s, args...)) }
	edge := func(from, on, to string) {
		edges = append(edges, fmt.Sprintf(`{"from": %q, "to": %q, "on": %q}`, from, to, on))
	}
	step(`{"id": "start", "name": "Start", "type": "start"}`)
	step(`{"id": "alert", "name": "Tell the admins", "type": "notification", "config": {"channel": "in_app", "to": ["role:Admin"], "subject": "Provisioning of {{email}} failed", "body": "{{run.diagnoseUrl}}"}}`)
	step(`{"id": "end", "name": "End", "type": "end"}`)
	edge("alert", "success", "end")
	prev, lastSet := "start", "email"
	for i := 1; len(steps) < n; i++ {
		id := fmt.Sprintf("s%d", i)
		switch {
		case i%10 == 0:
			step(`{"id": %q, "type": "condition", "config": {"branches": [{"name": "big", "when": "len(string(%s)) > 3"}], "default": "small"}}`, id, lastSet)
			join := id + "join"
			step(`{"id": %q, "type": "delay", "config": {"duration": "1m"}}`, join)
			edge(prev, "success", id)
			edge(id, "big", join)
			edge(id, "small", join)
			prev = join
			continue
		case i%7 == 0:
			step(`{"id": %q, "type": "approval", "config": {"approvers": ["role:Approver", "{{initiator.id}}"], "mode": "sequential", "timeout": "72h"}}`, id)
			edge(id, "rejected", "alert")
		case i%5 == 0:
			step(`{"id": %q, "type": "transform", "config": {"set": {"username%d": "lower(email) + \"-%d\""}}}`, id, i, i)
			lastSet = fmt.Sprintf("username%d", i)
		case i%2 == 0:
			step(`{"id": %q, "type": "connector", "config": {"connectorId": "Authifi", "command": "assignRoles", "params": {"email": "{{email}}", "roles": ["r%d"]}, "output": "username%d", "retry": {"maxAttempts": 3}}}`, id, i, i)
			edge(id, "error", "alert")
			lastSet = fmt.Sprintf("username%d", i)
		default:
			step(`{"id": %q, "type": "connector", "config": {"connectorId": "AD", "command": "addToGroup", "params": {"username": "{{displayName}}", "group": "g%d"}, "output": "username%d"}}`, id, i, i)
			edge(id, "error", "alert")
			lastSet = fmt.Sprintf("username%d", i)
		}
		edge(prev, "success", id)
		prev = id
	}
	edge(prev, "success", "end")
	return `{"name": "Generated", "variables": [{"name": "email", "type": "string", "required": true}, {"name": "displayName", "type": "string"}],
		"steps": [` + strings.Join(steps, ",\n") + `], "edges": [` + strings.Join(edges, ",\n") + `]}`
}

func TestGeneratedDefinitionLintsClean(t *testing.T) {
	// The benchmark lints what a real workflow holds, not a pile of findings.
	d := parse(t, generated(500))
	if len(d.Steps) != 500 {
		t.Fatalf("%d steps", len(d.Steps))
	}
	wantFindings(t, Lint(d, testCatalogue(t)), nil)
}

// BenchmarkLint500 lints a 500-step definition with connector steps on two systems,
// conditions and approvals; the target is under 5 ms a lint.
func BenchmarkLint500(b *testing.B) {
	d := parse(b, generated(500))
	cat := testCatalogue(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		Lint(d, cat)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/lint")
}
