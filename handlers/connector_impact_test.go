package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"floh/engine"
)

// calling is a draft whose connector steps call wait on each connector reference in refs, and
// whose notification (when mailRef is set) sends email through mailRef.
func calling(name string, mailRef string, refs ...string) string {
	steps := `{"id": "start", "name": "Start", "type": "start"}`
	edges, prev := "", "start"
	for i, ref := range refs {
		id := "wait-" + string(rune('a'+i))
		steps += `, {"id": "` + id + `", "name": "Wait ` + string(rune('A'+i)) + `", "type": "connector",
			"config": {"connectorId": "` + ref + `", "command": "wait", "params": {"duration": "0s"}}}`
		edges += `{"from": "` + prev + `", "to": "` + id + `", "on": "success"}, `
		prev = id
	}
	if mailRef != "" {
		steps += `, {"id": "tell", "name": "Tell IT", "type": "notification",
			"config": {"channel": "email", "to": ["it@example.test"], "subject": "Done", "body": "Done", "connectorId": "` + mailRef + `"}}`
		edges += `{"from": "` + prev + `", "to": "tell", "on": "success"}, `
		prev = "tell"
	}
	steps += `, {"id": "end", "name": "End", "type": "end"}`
	edges += `{"from": "` + prev + `", "to": "end", "on": "success"}`
	return `{"name": "` + name + `", "variables": [], "steps": [` + steps + `], "edges": [` + edges + `]}`
}

func TestConnectorImpactTabPlainAndHtmx(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ctx := context.Background()
	conn := ts.newConnector(t, engine.ConnectorInput{Name: "Pause", Type: "delay"})
	id := conn.ID.String()
	unused := ts.newConnector(t, engine.ConnectorInput{Name: "Idle", Type: "delay"})

	// Onboarding: version 1 calls it by id; its open draft by name and sends email through it.
	onb := ts.newWorkflow(t, calling("Onboarding", "", id))
	ts.publishWorkflow(t, onb.ID)
	if _, err := ts.Engine.NewDraftFromVersion(ctx, ts.adminActor(t), onb.ID, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Engine.UpdateWorkflow(ctx, ts.adminActor(t), onb.ID, []byte(calling("Onboarding", "pause", "PAUSE", "Idle"))); err != nil {
		t.Fatal(err)
	}
	access := ts.newWorkflow(t, calling("Access request", "", "Idle", id))
	gone := ts.newWorkflow(t, calling("Gone", "", id))
	if _, err := ts.Engine.DeleteWorkflow(ctx, ts.adminActor(t), gone.ID); err != nil {
		t.Fatal(err)
	}
	ts.newWorkflow(t, calling("Unrelated", "", "Idle"))
	c := ts.loginAs(t, "demo-manager")

	page := ts.get(t, c, "/connectors/"+id+"?tab=impact").wantStatus(t, http.StatusOK)
	wantHTML(t, page)
	if !isFullPage(page.Body) {
		t.Fatal("a plain request for the Impact tab is not the whole page")
	}
	o, a := onb.ID.String(), access.ID.String()
	wantContains(t, "the Impact tab", page.Body, `data-testid="tab-impact"`, `aria-current="page">Impact`, `data-testid="impact-table"`,
		"2 workflows use it, in 4 steps.", `data-testid="impact-by-name"`,
		`data-testid="impact-row-Onboarding"`, `href="/workflows/`+o+`"`, `badge-ok">active`,
		`data-testid="impact-doc-Published version 1"`, `href="/workflows/`+o+`?version=1#step-wait-a"`,
		`data-testid="impact-doc-Open draft"`, `href="/workflows/`+o+`/design?step=wait-a"`, `href="/workflows/`+o+`/design?step=tell"`, "sends email through it", `calls <span class="mono">wait</span>`,
		`data-testid="impact-row-Access request"`, `badge-muted">draft`, `href="/workflows/`+a+`/design?step=wait-b"`, "Wait B",
		`data-url="/connectors/`+id+`?tab=impact"`)
	wantLacks(t, "the Impact tab", page.Body, "impact-row-Gone", "impact-row-Unrelated", `href="/workflows/`+o+`#step-wait-b"`,
		`href="/workflows/`+a+`#step-wait-a"`)
	// Access request's rows come before Onboarding's: the list is by name.
	if strings.Index(page.Body, "impact-row-Access request") > strings.Index(page.Body, "impact-row-Onboarding") {
		t.Error("the workflows are not listed by name")
	}
	// The draft's steps name it by name; version 1's and Access request's by id.
	if n := strings.Count(page.Body, `badge-warn">by name`); n != 3 {
		t.Errorf("%d “by name” badges, want 3 (the legend and the draft's two steps)", n)
	}

	frag := ts.get(t, c, "/connectors/"+id+"?tab=impact", "HX-Request", "true").wantStatus(t, http.StatusOK)
	body := strings.TrimSpace(frag.Body)
	if isFullPage(body) || !strings.HasPrefix(body, `<div id="connector-tabs">`) {
		t.Fatalf("an htmx tab request is not the tabs fragment:\n%s", body)
	}
	wantContains(t, "the htmx Impact tab", body, `data-testid="panel-impact"`, `data-testid="impact-row-Onboarding"`)

	// Idle is named by Onboarding's draft and Access request only by name.
	idle := ts.get(t, c, "/connectors/"+unused.ID.String()+"?tab=impact").wantStatus(t, http.StatusOK)
	wantContains(t, "Idle's Impact tab", idle.Body, "3 workflows use it, in 3 steps.", "impact-row-Unrelated")

	spare := ts.newConnector(t, engine.ConnectorInput{Name: "Spare", Type: "delay"})
	empty := ts.get(t, c, "/connectors/"+spare.ID.String()+"?tab=impact").wantStatus(t, http.StatusOK)
	wantContains(t, "an unused connector", empty.Body, `data-testid="impact-empty"`, "No workflow uses this connector", "safe to change or delete")
	wantLacks(t, "an unused connector", empty.Body, `data-testid="impact-table"`)

	// The delete confirmation says who uses it and links here.
	confirm := ts.get(t, c, "/connectors/"+id+"/delete").wantStatus(t, http.StatusOK)
	wantContains(t, "the delete confirmation", confirm.Body, "2 workflows use it (4 steps in all): “Access request”, “Onboarding”.",
		"Their runs fail at those steps", `data-testid="confirm-details"`, `href="/connectors/`+id+`?tab=impact"`)
	confirm = ts.get(t, c, "/connectors/"+spare.ID.String()+"/delete").wantStatus(t, http.StatusOK)
	wantContains(t, "the delete confirmation of an unused connector", confirm.Body, "No workflow uses it")
	wantLacks(t, "the delete confirmation of an unused connector", confirm.Body, `data-testid="confirm-details"`)
}
