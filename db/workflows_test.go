package db_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"floh/db"
	"floh/db/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// step is a document step in the test's shorthand.
type step struct {
	id, typ string
	config  map[string]any
}

func document(name string, steps ...step) json.RawMessage {
	doc := map[string]any{"name": name, "variables": []any{}, "edges": []any{}}
	list := []map[string]any{{"id": "start", "name": "Start", "type": "start"}}
	for _, s := range steps {
		list = append(list, map[string]any{"id": s.id, "name": "Step " + s.id, "type": s.typ, "config": s.config})
	}
	doc["steps"] = list
	raw, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return raw
}

func call(id, ref, command string) step {
	return step{id: id, typ: "connector", config: map[string]any{"connectorId": ref, "command": command}}
}

func mail(id, channel, ref string) step {
	return step{id: id, typ: "notification", config: map[string]any{"channel": channel, "to": []any{"role:Admin"}, "connectorId": ref}}
}

// storeWorkflow stores a workflow with its published versions (oldest first) and its open
// draft (nil for none), as the engine leaves them.
func storeWorkflow(t *testing.T, d *db.DB, name, status string, draft json.RawMessage, versions ...json.RawMessage) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	w := &db.Workflow{ID: uuid.New(), Name: name, Status: status, Draft: draft, Version: len(versions),
		CreatedBy: "test", CreatedAt: now, UpdatedAt: now}
	if err := db.InsertWorkflow(ctx, d.Bun, w); err != nil {
		t.Fatal(err)
	}
	for i, v := range versions {
		if err := db.InsertWorkflowVersion(ctx, d.Bun, &db.WorkflowVersion{WorkflowID: w.ID, Version: i + 1, Definition: v,
			PublishedAt: now, PublishedBy: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	return w.ID
}

// useKey names a found step: workflow, document and step id.
func useKey(s db.ConnectorStep) string {
	doc := fmt.Sprintf("v%d", s.Version)
	if s.InDraft {
		doc = "draft"
	}
	return s.WorkflowName + "/" + doc + "/" + s.StepID
}

func TestListConnectorStepsFindsReferencesByIDAndName(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	ctx := context.Background()
	ad := uuid.MustParse("6f1c1a52-3f0e-4d7a-9a43-2b8f0c9d1e77")
	id := ad.String()
	refs := db.ConnectorRefs{IDs: []string{id, "{" + id + "}", "urn:uuid:" + id, strings.ReplaceAll(id, "-", "")}, Name: "Corp AD"}

	// Active with a draft: version 1 used it, but only the newest version and the draft count.
	storeWorkflow(t, d, "Onboarding", db.WorkflowActive,
		document("Onboarding",
			call("create", "corp ad", "createAccount"),                // by name, another case
			mail("tell", "email", "  CORP AD "),                       // a notification trims its reference
			mail("inapp", "in_app", "Corp AD"),                        // in-app sends through no connector
			call("other", "Authifi", "createUser"),                    // another connector
			call("braced", "{"+strings.ToUpper(id)+"}", "addToGroup"), // an id as uuid.Parse reads it
			call("padded", " Corp AD", "setPassword")),                // a connector step does not trim
		document("Onboarding", call("old", id, "createAccount")),
		document("Onboarding", call("create", id, "createAccount"), call("hex", strings.ReplaceAll(id, "-", ""), "setPassword")))
	// A draft never published, naming it by urn; a number is not a reference.
	storeWorkflow(t, d, "access request", db.WorkflowDraft,
		document("access request", call("grant", "urn:uuid:"+id, "addToGroup"),
			step{id: "odd", typ: "connector", config: map[string]any{"connectorId": 42, "command": "x"}}))
	// Deprecated: still listed, its runs may be finishing.
	storeWorkflow(t, d, "Leavers", db.WorkflowDeprecated, nil, document("Leavers", call("disable", "Corp AD", "disableAccount")))
	// Deleted, and one that uses only other connectors: not listed.
	gone := storeWorkflow(t, d, "Gone", db.WorkflowDraft, document("Gone", call("create", id, "createAccount")))
	if _, err := d.Bun.NewUpdate().Model((*db.Workflow)(nil)).Set("deleted_at = now()").Where("id = ?", gone).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	storeWorkflow(t, d, "Unrelated", db.WorkflowDraft, document("Unrelated", call("create", "Authifi", "createUser")))

	steps, err := db.ListConnectorSteps(ctx, d.Bun, refs)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(steps))
	for i, s := range steps {
		got[i] = useKey(s)
	}
	want := []string{
		"access request/draft/grant",
		"Leavers/v1/disable",
		"Onboarding/v2/create", "Onboarding/v2/hex",
		"Onboarding/draft/create", "Onboarding/draft/tell", "Onboarding/draft/braced",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("steps using the connector:\n got %q\nwant %q", got, want)
	}
	first := steps[0]
	if first.Status != db.WorkflowDraft || first.Version != 0 || first.StepType != "connector" || first.Command != "addToGroup" ||
		first.StepName != "Step grant" || first.Ref != "urn:uuid:"+id {
		t.Errorf("access request's step: %+v", first)
	}
	if tell := steps[5]; tell.StepType != "notification" || tell.Command != "" || tell.Ref != "CORP AD" || tell.Status != db.WorkflowActive {
		t.Errorf("the notification step: %+v", tell)
	}

	// Without the name (a deleted connector whose name another one took), only ids count.
	steps, err = db.ListConnectorSteps(ctx, d.Bun, db.ConnectorRefs{IDs: refs.IDs})
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, s := range steps {
		got = append(got, useKey(s))
	}
	want = []string{"access request/draft/grant", "Onboarding/v2/create", "Onboarding/v2/hex", "Onboarding/draft/braced"}
	if !slices.Equal(got, want) {
		t.Fatalf("steps by id only:\n got %q\nwant %q", got, want)
	}
}

// BenchmarkListConnectorSteps looks for one connector among n live workflows, each with a
// 30-step open draft and a 30-step newest version (plus an older one), a tenth of them using
// it in three steps of each document.
func BenchmarkListConnectorSteps(b *testing.B) {
	for _, n := range []int{30, 500} {
		b.Run(strconv.Itoa(n)+" workflows", func(b *testing.B) { benchmarkConnectorSteps(b, n) })
	}
}

func benchmarkConnectorSteps(b *testing.B, n int) {
	d := dbtest.New(b)
	ctx := context.Background()
	id := uuid.New().String()
	refs := db.ConnectorRefs{IDs: []string{id}, Name: "Corp AD"}
	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	for i := range n {
		steps := make([]step, 30)
		for j := range steps {
			ref := "Other " + strconv.Itoa(j%7)
			if i%10 == 0 && j%10 == 0 {
				ref = "corp ad"
			}
			steps[j] = call("s"+strconv.Itoa(j), ref, "createAccount")
		}
		doc := document("Workflow "+strconv.Itoa(i), steps...)
		w := &db.Workflow{ID: uuid.New(), Name: "Workflow " + strconv.Itoa(i), Status: db.WorkflowActive, Draft: doc, Version: 2,
			CreatedBy: "bench", CreatedAt: now, UpdatedAt: now}
		if err := db.InsertWorkflow(ctx, d.Bun, w); err != nil {
			b.Fatal(err)
		}
		for v := 1; v <= 2; v++ {
			if err := db.InsertWorkflowVersion(ctx, d.Bun, &db.WorkflowVersion{WorkflowID: w.ID, Version: v, Definition: doc,
				PublishedAt: now, PublishedBy: "bench"}); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := d.Bun.ExecContext(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	want := (n + 9) / 10 * 3 * 2
	b.ResetTimer()
	for b.Loop() {
		steps, err := db.ListConnectorSteps(ctx, d.Bun, refs)
		if err != nil {
			b.Fatal(err)
		}
		if len(steps) != want {
			b.Fatalf("found %d steps, want %d", len(steps), want)
		}
	}
}
