package handlers_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func TestAuditVerifyDetectsATamperedRow(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin := ts.demo(t, "demo-admin")
	token := ts.token(t, admin, []string{"audit:read", "user:manage"})
	bearer := []string{"Authorization", "Bearer " + token}
	c := ts.client(t)
	for _, email := range []string{"a@example.test", "b@example.test"} {
		ts.do(t, c, "POST", "/api/users", map[string]any{"email": email}, bearer...).wantStatus(t, http.StatusCreated)
	}

	var ok struct {
		Valid    bool   `json:"valid"`
		Checked  int    `json:"checked"`
		BrokenID *int64 `json:"brokenId"`
		Reason   string `json:"reason"`
	}
	ts.do(t, c, "GET", "/api/audit/verify", nil, bearer...).wantStatus(t, http.StatusOK).json(t, &ok)
	if !ok.Valid || ok.Checked < 3 || ok.BrokenID != nil {
		t.Fatalf("intact chain: %+v", ok)
	}
	last := int64(ok.Checked)

	// An attacker with table rights disables the guard, edits history and re-enables it.
	ctx := context.Background()
	for _, stmt := range []string{
		`ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update`,
		`UPDATE audit_log SET actor = 'someone-else@example.test' WHERE id = ` + strconv.FormatInt(last, 10),
		`ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update`,
	} {
		if _, err := ts.DB.Bun.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	var broken struct {
		Valid    bool   `json:"valid"`
		BrokenID *int64 `json:"brokenId"`
		Reason   string `json:"reason"`
	}
	ts.do(t, c, "GET", "/api/audit/verify", nil, bearer...).wantStatus(t, http.StatusOK).json(t, &broken)
	if broken.Valid || broken.BrokenID == nil || *broken.BrokenID != last || !strings.Contains(broken.Reason, "content") {
		t.Fatalf("tampered chain: %+v", broken)
	}

	// The audit page's button says so too.
	browser := ts.loginAs(t, "demo-admin")
	res := ts.get(t, browser, "/audit/verify", "HX-Request", "true").wantStatus(t, http.StatusOK)
	if !strings.Contains(res.Body, `data-testid="audit-verify-broken"`) || !strings.Contains(res.Body, "#"+strconv.FormatInt(last, 10)) {
		t.Fatalf("verify partial: %s", res.Body)
	}
}

func TestAuditListFilters(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin := ts.demo(t, "demo-admin")
	bearer := []string{"Authorization", "Bearer " + ts.token(t, admin, nil)}
	c := ts.client(t)
	ts.do(t, c, "POST", "/api/users", map[string]any{"email": "f@example.test"}, bearer...).wantStatus(t, http.StatusCreated)

	var list struct {
		Items []struct {
			Action  string  `json:"action"`
			Actor   string  `json:"actor"`
			TokenID *string `json:"tokenId"`
			Hash    string  `json:"hash"`
		} `json:"items"`
		Total int `json:"total"`
	}
	ts.do(t, c, "GET", "/api/audit?action=user.created&actor=admin@", nil, bearer...).wantStatus(t, http.StatusOK).json(t, &list)
	if list.Total != 1 || list.Items[0].Actor != "admin@example.test" || list.Items[0].TokenID == nil || len(list.Items[0].Hash) != 64 {
		t.Fatalf("filtered by action and actor: %+v", list)
	}
	ts.do(t, c, "GET", "/api/audit?entity=api_token", nil, bearer...).wantStatus(t, http.StatusOK).json(t, &list)
	if list.Total != 1 || list.Items[0].Action != "token.created" {
		t.Fatalf("filtered by entity: %+v", list)
	}
	ts.do(t, c, "GET", "/api/audit?from=2999-01-01", nil, bearer...).wantStatus(t, http.StatusOK).json(t, &list)
	if list.Total != 0 {
		t.Fatalf("from the future: %+v", list)
	}
	ts.do(t, c, "GET", "/api/audit?to=tomorrow", nil, bearer...).apiError(t, http.StatusUnprocessableEntity, "validation_failed")
}
