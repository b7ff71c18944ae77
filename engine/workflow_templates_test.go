package engine_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"floh/connectors/builtin"
	"floh/db"
	"floh/engine"
	"floh/engine/lint"
	"floh/engine/workflow"
)

// templateFixture has an engine with the real connector types and one instance of each type
// the templates use.
type templateFixture struct {
	*fixture
	ad, authifi, mail string // instance ids
}

func setupTemplates(t *testing.T) *templateFixture {
	t.Helper()
	reg, err := builtin.Registry()
	if err != nil {
		t.Fatal(err)
	}
	f := &templateFixture{fixture: setup(t, func(o *engine.Options) { o.Connectors = reg })}
	create := func(name, typ string, cfg map[string]any) string {
		c, err := f.eng.CreateConnector(f.ctx, f.actor(), engine.ConnectorInput{Name: name, Type: typ, Config: cfg})
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		return c.ID.String()
	}
	f.ad = create("Corp AD", "activedirectory", map[string]any{"url": "ldaps://dc1.example.test", "bindDN": "CN=svc,DC=example,DC=test",
		"bindPassword": "secret", "baseDN": "DC=example,DC=test"})
	f.authifi = create("Authifi", "authifi", map[string]any{"baseUrl": "https://auth.example.test/_api", "tenant": "prod", "tenantId": "42",
		"clientId": "floh", "clientSecret": "secret"})
	f.mail = create("Mail", "email", map[string]any{"smtpUrl": "smtp://mail.example.test:25", "from": "floh@example.test"})
	return f
}

func (f *templateFixture) blankDraft(t *testing.T, name string) uuid.UUID {
	t.Helper()
	wf, err := f.eng.CreateWorkflow(f.ctx, f.actor(), []byte(`{"name": "`+name+`", "variables": [],
		"steps": [{"id": "start", "name": "Start", "type": "start"}, {"id": "end", "name": "End", "type": "end"}],
		"edges": [{"from": "start", "to": "end", "on": "success"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return wf.ID
}

func (f *templateFixture) chainBindings() map[string]string {
	return map[string]string{"activeDirectory": f.ad, "authifi": f.authifi, "email": "email", "displayName": "displayName",
		"username": "username", "initialPassword": "initialPassword", "adGroup": "adGroup", "authifiRoles": "authifiRoles"}
}

func (f *templateFixture) storedDraft(t *testing.T, id uuid.UUID) string {
	t.Helper()
	w, err := db.FindWorkflow(f.ctx, f.db.Bun, id)
	if err != nil {
		t.Fatal(err)
	}
	return string(w.Draft)
}

func TestInsertTemplateSavesAuditsAndLints(t *testing.T) {
	t.Parallel()
	f := setupTemplates(t)
	id := f.blankDraft(t, "Joiners")
	got, err := f.eng.InsertTemplate(f.ctx, f.actor(), id, "provisioning-chain", f.chainBindings())
	if err != nil {
		t.Fatal(err)
	}
	if !got.Insertion.Connected || got.Insertion.Entry != "createFlohUser" || len(got.Insertion.Steps) != 9 ||
		len(got.Renamed) != 0 || len(got.Insertion.AddedVariables) != 6 || got.Insertion.TemplateID != "provisioning-chain" {
		t.Fatalf("insertion: %+v renamed %+v", got.Insertion, got.Renamed)
	}
	for _, fd := range got.Findings {
		if fd.Severity != lint.SeverityInfo {
			t.Errorf("finding after insertion: %+v", fd)
		}
	}
	stored := new(workflow.Definition)
	if err := json.Unmarshal([]byte(f.storedDraft(t, id)), stored); err != nil {
		t.Fatal(err)
	}
	if len(stored.Steps) != 11 || stored.Next("start", "success") != "createFlohUser" || stored.Step("createAccount").Config["connectorId"] != f.ad {
		t.Fatalf("stored draft: %+v", stored)
	}
	if !got.HasDraft || got.Definition == nil || len(got.Definition.Steps) != 11 || got.Name != "Joiners" {
		t.Fatalf("document: %+v", got.WorkflowDoc)
	}
	entries, _, err := db.ListAudit(f.ctx, f.db.Bun, db.AuditFilter{Entity: "workflow", Action: "workflow.updated", Page: db.Page{Page: 1, PageSize: 5}})
	if err != nil || len(entries) != 1 || *entries[0].EntityID != id.String() {
		t.Fatalf("audit: %+v %v", entries, err)
	}
	if before := string(entries[0].Before); !strings.Contains(before, `"to": "end"`) && !strings.Contains(before, `"to":"end"`) {
		t.Errorf("the audit keeps the draft before: %s", before)
	}

	// The second copy is renamed and placed beside the first, unconnected.
	afterFirst := f.storedDraft(t, id)
	again, err := f.eng.InsertTemplate(f.ctx, f.actor(), id, "provisioning-chain", f.chainBindings())
	if err != nil {
		t.Fatal(err)
	}
	if again.Insertion.Connected || again.Insertion.Entry != "createFlohUser_2" || len(again.Insertion.Unconnected) != 1 ||
		len(again.Renamed) != 11 || len(again.Insertion.AddedVariables) != 0 || len(again.Definition.Steps) != 20 {
		t.Fatalf("second insertion: %+v renamed %+v", again.Insertion, again.Renamed)
	}

	// Each insertion is one edit to undo.
	_, what, err := f.eng.UndoDraftEdit(f.ctx, f.actor(), id)
	if err != nil || what != "Insert the template Provisioning Chain — with failure routing" || f.storedDraft(t, id) != afterFirst {
		t.Fatalf("undo: %q %v", what, err)
	}
}

func TestInsertTemplateRefusals(t *testing.T) {
	t.Parallel()
	f := setupTemplates(t)
	id := f.blankDraft(t, "Refusals")
	before := f.storedDraft(t, id)
	b := f.chainBindings()

	_, err := f.eng.InsertTemplate(f.ctx, f.actor(), id, " ", b)
	wantValidation(t, err, "templateId")
	if _, err := f.eng.InsertTemplate(f.ctx, f.actor(), id, "teleport", b); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("unknown template: %v", err)
	}
	if _, err := f.eng.InsertTemplate(f.ctx, f.actor(), uuid.New(), "onboarding", b); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("unknown workflow: %v", err)
	}
	b["activeDirectory"] = f.mail
	delete(b, "email")
	b["extra"] = "x"
	_, err = f.eng.InsertTemplate(f.ctx, f.actor(), id, "provisioning-chain", b)
	for _, field := range []string{"bindings.activeDirectory", "bindings.email", "bindings.extra"} {
		wantValidation(t, err, field)
	}
	// A draft that would grow past the size limit is refused as a whole.
	var steps []string
	for i := range 995 {
		steps = append(steps, fmt.Sprintf(`{"id": "s%d", "type": "end"}`, i))
	}
	big, err := f.eng.CreateWorkflow(f.ctx, f.actor(), []byte(`{"name": "Big", "steps": [`+strings.Join(steps, ",")+`], "edges": []}`))
	if err != nil {
		t.Fatal(err)
	}
	bigBefore := f.storedDraft(t, big.ID)
	_, err = f.eng.InsertTemplate(f.ctx, f.actor(), big.ID, "provisioning-chain", f.chainBindings())
	wantValidation(t, err, "steps")

	// A connector deleted since is not bound.
	if _, err := f.eng.DeleteConnector(f.ctx, f.actor(), uuid.MustParse(f.authifi)); err != nil {
		t.Fatal(err)
	}
	_, err = f.eng.InsertTemplate(f.ctx, f.actor(), id, "access-request", map[string]string{"authifi": f.authifi, "role": "role", "justification": "why"})
	wantValidation(t, err, "bindings.authifi")
	if f.storedDraft(t, big.ID) != bigBefore || f.storedDraft(t, id) != before {
		t.Fatal("a refused insertion changed a draft")
	}

	// Published without a draft, or deleted: a conflict, as for PUT.
	pub := f.blankDraft(t, "Published")
	if _, err := f.eng.PublishWorkflow(f.ctx, f.actor(), pub); err != nil {
		t.Fatal(err)
	}
	_, err = f.eng.InsertTemplate(f.ctx, f.actor(), pub, "access-request", map[string]string{"authifi": f.ad, "role": "r", "justification": "j"})
	wantConflict(t, err)
	if _, err := f.eng.DeleteWorkflow(f.ctx, f.actor(), id); err != nil {
		t.Fatal(err)
	}
	_, err = f.eng.InsertTemplate(f.ctx, f.actor(), id, "provisioning-chain", f.chainBindings())
	wantConflict(t, err)
}
