package handlers_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// node helpers over a parsed page.

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}

// findAll lists, in document order, the elements under n for which match holds.
func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	for c := range n.Descendants() {
		if c.Type == html.ElementNode && match(c) {
			out = append(out, c)
		}
	}
	return out
}

func byTestID(id string) func(*html.Node) bool {
	return func(n *html.Node) bool { return attr(n, "data-testid") == id }
}

func textOf(n *html.Node) string {
	var b strings.Builder
	for c := range n.Descendants() {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	}
	return b.String()
}

func parsePage(t *testing.T, body string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// tenSteps is a ten-step draft with a condition, an error edge, a retry loop, a self-loop and
// an edge to a step that does not exist (a lint error on "provision").
const tenSteps = `{"name": "Joiner", "variables": [{"name": "email", "type": "string", "required": true}],
	"steps": [
		{"id": "start", "name": "Start", "type": "start"},
		{"id": "check", "name": "Is a contractor?", "type": "condition", "config": {"branches": [{"name": "contractor", "when": "email != ''"}], "default": "staff"}},
		{"id": "approve", "name": "Manager approves", "type": "approval", "config": {"approvers": ["role:Approver"], "mode": "single"}},
		{"id": "provision", "name": "Provision the account", "type": "transform", "config": {"set": {"x": "1"}}},
		{"id": "wait", "name": "Wait", "type": "delay", "config": {"duration": "10m"}},
		{"id": "task", "name": "Hand over a laptop", "type": "manual_task", "config": {"title": "Laptop", "assignee": "role:Admin"}},
		{"id": "notify", "name": "Tell the admins", "type": "notification", "config": {"channel": "in_app", "to": ["role:Admin"], "subject": "Failed", "body": "See {{run.url}}"}},
		{"id": "refused", "name": "Tell the requester", "type": "notification", "config": {"channel": "in_app", "to": ["role:Admin"], "subject": "No", "body": "No"}},
		{"id": "profile", "name": "Update the profile", "type": "profile_update", "config": {"userId": "{{initiator.id}}", "fields": {"x": "y"}}},
		{"id": "end", "name": "End", "type": "end"}],
	"edges": [
		{"from": "start", "to": "check", "on": "success"},
		{"from": "check", "to": "approve", "on": "contractor"},
		{"from": "check", "to": "provision", "on": "staff"},
		{"from": "approve", "to": "provision", "on": "success"},
		{"from": "approve", "to": "refused", "on": "rejected"},
		{"from": "provision", "to": "task", "on": "success"},
		{"from": "provision", "to": "notify", "on": "error"},
		{"from": "provision", "to": "nowhere", "on": "expired"},
		{"from": "task", "to": "profile", "on": "success"},
		{"from": "task", "to": "wait", "on": "error"},
		{"from": "wait", "to": "task", "on": "success"},
		{"from": "profile", "to": "profile", "on": "error"},
		{"from": "profile", "to": "end", "on": "success"},
		{"from": "notify", "to": "end", "on": "success"},
		{"from": "refused", "to": "end", "on": "success"}]}`

func TestWorkflowPageDrawsTheGraph(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	wf := ts.newWorkflow(t, tenSteps)
	c := ts.loginAs(t, "demo-admin")
	page := ts.get(t, c, "/workflows/"+wf.ID.String()).wantStatus(t, http.StatusOK)
	wantHTML(t, page)
	if g, s := strings.Index(page.Body, `data-testid="graph"`), strings.Index(page.Body, `data-testid="settings"`); g < 0 || g > s {
		t.Errorf("the graph is at %d, the settings at %d: want the graph above the definition", g, s)
	}
	doc := parsePage(t, page.Body)
	svgs := findAll(doc, func(n *html.Node) bool { return n.Data == "svg" })
	if len(svgs) != 1 {
		t.Fatalf("%d svg elements, want the canvas", len(svgs))
	}
	svg := svgs[0]
	if attr(svg, "role") != "group" || attr(svg, "aria-label") != "Steps of Joiner" || !strings.HasPrefix(attr(svg, "viewBox"), "0 0 ") {
		t.Errorf("svg role=%q aria-label=%q viewBox=%q", attr(svg, "role"), attr(svg, "aria-label"), attr(svg, "viewBox"))
	}

	steps := findAll(svg, byTestID("canvas-step"))
	var ids []string
	for _, s := range steps {
		ids = append(ids, attr(s, "data-step"))
		if s.Data != "a" || attr(s, "href") != "#step-"+attr(s, "data-step") {
			t.Errorf("step %s is <%s href=%q>, want a link to its row", attr(s, "data-step"), s.Data, attr(s, "href"))
		}
		if hasAttr(s, "aria-current") {
			t.Errorf("step %s is marked current on a page that selects none", attr(s, "data-step"))
		}
	}
	want := []string{"start", "check", "approve", "provision", "wait", "task", "notify", "refused", "profile", "end"}
	if sorted := slices.Sorted(slices.Values(ids)); !slices.Equal(sorted, slices.Sorted(slices.Values(want))) {
		t.Fatalf("canvas steps %v, want one box per step %v", ids, want)
	}
	if ids[0] != "start" || ids[len(ids)-1] != "end" {
		t.Errorf("steps in the order %v: want start first and end last (Tab goes top to bottom)", ids)
	}

	edges := findAll(svg, byTestID("canvas-edge"))
	if len(edges) != 14 {
		t.Errorf("%d edges drawn, want the 14 between known steps", len(edges))
	}
	var errorEdges int
	for _, e := range edges {
		isError := strings.Contains(attr(e, "class"), "is-error")
		if (attr(e, "data-on") == "error") != isError {
			t.Errorf("edge %s→%s on %s has class %q", attr(e, "data-from"), attr(e, "data-to"), attr(e, "data-on"), attr(e, "class"))
		}
		if strings.TrimSpace(textOf(e)) != attr(e, "data-on") {
			t.Errorf("edge %s→%s is labelled %q, want its outcome %q", attr(e, "data-from"), attr(e, "data-to"), textOf(e), attr(e, "data-on"))
		}
		paths := findAll(e, func(n *html.Node) bool { return n.Data == "path" })
		if len(paths) != 1 || !strings.HasPrefix(attr(paths[0], "d"), "M") {
			t.Fatalf("edge %s→%s has paths %v", attr(e, "data-from"), attr(e, "data-to"), paths)
		}
		if isError {
			errorEdges++
			marker := strings.TrimSuffix(strings.TrimPrefix(attr(paths[0], "marker-end"), "url(#"), ")")
			markers := findAll(svg, func(n *html.Node) bool { return n.Data == "marker" && attr(n, "id") == marker })
			if len(markers) != 1 || !strings.Contains(attr(markers[0], "class"), "is-error") {
				t.Errorf("error edge %s→%s ends in %q, not the error arrowhead", attr(e, "data-from"), attr(e, "data-to"), attr(paths[0], "marker-end"))
			}
		}
	}
	if errorEdges != 3 {
		t.Errorf("%d error edges marked, want 3 (provision, task, profile)", errorEdges)
	}

	// The step with an edge to nowhere has a lint error: badged, and said in its name.
	for _, s := range steps {
		badges := findAll(s, byTestID("canvas-badge"))
		if attr(s, "data-step") != "provision" {
			continue
		}
		if len(badges) != 1 {
			t.Fatalf("provision has %d badges, want 1", len(badges))
		}
		titles := findAll(badges[0], func(n *html.Node) bool { return n.Data == "title" })
		if !strings.Contains(attr(badges[0], "class"), "is-error") || len(titles) != 1 || textOf(titles[0]) != "Lint: error" {
			t.Errorf("provision's badge %q says %q", attr(badges[0], "class"), textOf(badges[0]))
		}
		if label := attr(s, "aria-label"); label != "Provision the account, Transform step, lint error; on success to Hand over a laptop, on error to Tell the admins" {
			t.Errorf("provision's aria-label %q", label)
		}
	}

	// A published version is drawn too, named with its number and without lint badges.
	fixed := strings.Replace(tenSteps, `{"from": "provision", "to": "nowhere", "on": "expired"},`, "", 1)
	if _, err := ts.Engine.UpdateWorkflow(t.Context(), ts.adminActor(t), wf.ID, []byte(fixed)); err != nil {
		t.Fatal(err)
	}
	ts.publishWorkflow(t, wf.ID)
	v1 := ts.get(t, ts.loginAs(t, "demo-approver"), "/workflows/"+wf.ID.String()+"?version=1").wantStatus(t, http.StatusOK)
	wantContains(t, "version 1", v1.Body, `aria-label="Steps of Joiner, version 1"`, `data-step="provision"`)
	wantLacks(t, "version 1", v1.Body, `data-testid="canvas-badge"`)
}

func TestWorkflowPageWithoutStepsSaysSo(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	wf := ts.newWorkflow(t, `{"name": "Blank", "variables": [], "steps": [], "edges": []}`)
	page := ts.get(t, ts.loginAs(t, "demo-admin"), "/workflows/"+wf.ID.String()).wantStatus(t, http.StatusOK)
	wantContains(t, "the page", page.Body, `data-testid="graph"`, `data-testid="canvas-empty"`, "No steps to draw yet.")
	wantLacks(t, "the page", page.Body, "<svg")
}
