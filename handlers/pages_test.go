package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"

	"floh/db"
	"floh/engine"
)

func wantHTML(t *testing.T, res *result) {
	t.Helper()
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("%s: Content-Type %q, want HTML", res.URL, ct)
	}
	if !strings.Contains(res.Header.Get("Vary"), "HX-Request") {
		t.Errorf("%s: Vary %q, want HX-Request (full page and fragment share the URL)", res.URL, res.Header.Get("Vary"))
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: Cache-Control %q, want no-store", res.URL, res.Header.Get("Cache-Control"))
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options"} {
		if res.Header.Get(h) == "" {
			t.Errorf("%s: no %s header", res.URL, h)
		}
	}
}

var inputTag = regexp.MustCompile(`<input[^>]*>`)

// checkbox finds the checkbox input with this name and value and tells whether it is checked.
func checkbox(body, name, value string) (found, checked bool) {
	for _, tag := range inputTag.FindAllString(body, -1) {
		if strings.Contains(tag, `name="`+name+`"`) && strings.Contains(tag, `value="`+value+`"`) {
			return true, regexp.MustCompile(`\schecked[\s/>=]`).MatchString(tag)
		}
	}
	return false, false
}

func isFullPage(body string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(body)), "<!doctype html>")
}

func TestUsersPageFullAndPartial(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.loginAs(t, "demo-admin")

	full := ts.get(t, c, "/users").wantStatus(t, http.StatusOK)
	wantHTML(t, full)
	if !isFullPage(full.Body) || !strings.Contains(full.Body, `<header`) || !strings.Contains(full.Body, `id="users-table"`) {
		t.Fatalf("GET /users is not the full page with the table:\n%s", full.Body)
	}
	for _, d := range engine.DemoUsers {
		if !strings.Contains(full.Body, d.Email) {
			t.Errorf("user list lacks %s", d.Email)
		}
	}
	if !strings.Contains(full.Body, `data-testid="new-user"`) {
		t.Error("an admin sees no Add user link")
	}

	part := ts.get(t, c, "/users?q=ada", "HX-Request", "true").wantStatus(t, http.StatusOK)
	wantHTML(t, part)
	body := strings.TrimSpace(part.Body)
	if isFullPage(body) || strings.Contains(body, "<header") || strings.Contains(body, "<html") {
		t.Errorf("htmx request got more than the fragment:\n%s", body)
	}
	if !strings.HasPrefix(body, `<div id="users-table">`) || !strings.HasSuffix(body, "</div>") {
		t.Errorf("htmx fragment is not the users table:\n%s", body)
	}
	if !strings.Contains(body, "admin@example.test") || strings.Contains(body, "manager@example.test") {
		t.Errorf("fragment for q=ada does not hold exactly the matching user:\n%s", body)
	}

	// A boosted navigation or a history restore needs the whole page.
	for _, h := range [][]string{{"HX-Request", "true", "HX-Boosted", "true"}, {"HX-Request", "true", "HX-History-Restore-Request", "true"}} {
		if res := ts.get(t, c, "/users", h...).wantStatus(t, http.StatusOK); !isFullPage(res.Body) {
			t.Errorf("%v: got a fragment, want the full page", h)
		}
	}

	// A Resource Manager reads users but is not offered to add one.
	m := ts.get(t, ts.loginAs(t, "demo-manager"), "/users").wantStatus(t, http.StatusOK)
	if strings.Contains(m.Body, `data-testid="new-user"`) {
		t.Error("a Resource Manager is offered the Add user link")
	}
	// A hand-edited bad page size still shows the list.
	ts.get(t, c, "/users?pageSize=9999&page=x").wantStatus(t, http.StatusOK)
}

func TestAddUserFormKeepsTypedValuesOnError(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.loginAs(t, "demo-admin")
	before := ts.snapshot(t)
	form := url.Values{
		"email": {"not-an-email"}, "displayName": {`Typed "Name" <b>`}, "upstreamIssuer": {"https://idp.example.test"},
		"upstreamId": {"u-42"}, "roles": {"Approver"},
	}
	res := ts.postForm(t, c, "/users", form, ts.sameOrigin()...).wantStatus(t, http.StatusUnprocessableEntity)
	wantHTML(t, res)
	if !isFullPage(res.Body) || !strings.Contains(res.Body, `data-testid="user-form"`) {
		t.Fatalf("422 is not the Add user page:\n%s", res.Body)
	}
	for _, want := range []string{
		`data-testid="error-summary"`, `href="#field-email"`, "Email address ",
		`value="not-an-email"`, `value="Typed &#34;Name&#34; &lt;b&gt;"`, `value="https://idp.example.test"`, `value="u-42"`,
		`aria-invalid="true"`,
	} {
		if !strings.Contains(res.Body, want) {
			t.Errorf("re-rendered form lacks %s", want)
		}
	}
	if strings.Contains(res.Body, `Typed "Name" <b>`) {
		t.Error("a typed value is rendered unescaped")
	}
	if found, checked := checkbox(res.Body, "roles", "Approver"); !found || !checked {
		t.Error("the checked role is not kept")
	}
	if found, checked := checkbox(res.Body, "roles", "Admin"); !found || checked {
		t.Error("an unchecked role came back checked")
	}
	ts.wantUnchanged(t, before)

	// Fixed, it goes through to the new user's page with a flash message.
	form.Set("email", "typed@example.test")
	res = ts.postForm(t, c, "/users", form, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	loc := res.Header.Get("Location")
	if !strings.HasPrefix(loc, "/users/") {
		t.Fatalf("Location %q, want the new user's page", loc)
	}
	page := ts.get(t, c, loc).wantStatus(t, http.StatusOK)
	if !strings.Contains(page.Body, `data-testid="flash"`) || !strings.Contains(page.Body, "typed@example.test") {
		t.Errorf("new user's page has no flash about typed@example.test")
	}
	id, err := uuid.Parse(strings.TrimPrefix(loc, "/users/"))
	if err != nil {
		t.Fatal(err)
	}
	if u := ts.userByID(t, id); u.Email != "typed@example.test" || len(u.Roles) != 1 || u.Roles[0] != "Approver" ||
		u.UpstreamID == nil || *u.UpstreamID != "u-42" {
		t.Errorf("created user = %+v", u)
	}
	// The flash is shown once.
	if again := ts.get(t, c, loc).wantStatus(t, http.StatusOK); strings.Contains(again.Body, `data-testid="flash"`) {
		t.Error("the flash message is shown twice")
	}

	// The roles form refuses to take the Admin role from the only admin, on the same page.
	admin := ts.demo(t, "demo-admin")
	before = ts.snapshot(t)
	res = ts.postForm(t, c, "/users/"+admin.ID.String()+"/roles", url.Values{"roles": {"Requestor"}}, ts.sameOrigin()...).
		wantStatus(t, http.StatusUnprocessableEntity)
	if !strings.Contains(res.Body, `data-testid="error-summary"`) || !strings.Contains(res.Body, `href="#field-roles"`) {
		t.Errorf("roles refusal not shown in the roles form:\n%s", res.Body)
	}
	ts.wantUnchanged(t, before)
}

func TestErrorPages(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin := ts.loginAs(t, "demo-admin")
	req := ts.loginAs(t, "demo-requestor")

	for _, path := range []string{"/no/such/page", "/users/" + uuid.NewString(), "/users/not-a-uuid", "/incidents/" + uuid.NewString()} {
		res := ts.get(t, admin, path).wantStatus(t, http.StatusNotFound)
		wantHTML(t, res)
		if !isFullPage(res.Body) || !strings.Contains(res.Body, `data-testid="error-404"`) || !strings.Contains(res.Body, "Page not found") {
			t.Errorf("GET %s: not the 404 page:\n%s", path, res.Body)
		}
		if !strings.Contains(res.Body, `data-testid="nav-profile"`) {
			t.Errorf("GET %s: the 404 page lost the signed-in header", path)
		}
	}
	// Unknown pages are not found for anyone; there is nothing to sign in for.
	ts.get(t, nil, "/no/such/page").wantStatus(t, http.StatusNotFound)
	// A known path with the wrong method is refused, not served.
	if res := ts.do(t, admin, "DELETE", "/users", nil, ts.sameOrigin()...); res.Status != http.StatusMethodNotAllowed && res.Status != http.StatusNotFound {
		t.Errorf("DELETE /users: status %d, want 405 or 404", res.Status)
	}

	for _, path := range []string{"/users", "/settings", "/audit", "/users/" + ts.demo(t, "demo-admin").ID.String()} {
		res := ts.get(t, req, path).wantStatus(t, http.StatusForbidden)
		wantHTML(t, res)
		if !strings.Contains(res.Body, `data-testid="error-403"`) || !strings.Contains(res.Body, "permission") {
			t.Errorf("GET %s as requestor: not the 403 page:\n%s", path, res.Body)
		}
	}
	// The navigation only offers what the role may open.
	dash := ts.get(t, req, "/").wantStatus(t, http.StatusOK)
	for _, hidden := range []string{`data-testid="nav-users"`, `data-testid="nav-audit"`, `data-testid="nav-settings"`} {
		if strings.Contains(dash.Body, hidden) {
			t.Errorf("requestor's navigation offers %s", hidden)
		}
	}
	if !strings.Contains(ts.get(t, admin, "/").Body, `data-testid="nav-settings"`) {
		t.Error("admin's navigation lacks Settings")
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	type check struct {
		Status string `json:"status"`
	}
	var h struct {
		Status string           `json:"status"`
		Checks map[string]check `json:"checks"`
	}
	ts.get(t, nil, "/api/health").wantStatus(t, http.StatusOK).json(t, &h)
	if h.Status != "ok" || h.Checks["database"].Status != "ok" || h.Checks["incidents"].Status != "ok" {
		t.Errorf("health = %+v, want ok with database and incidents checks", h)
	}
	if _, err := ts.Engine.ReportFailure(context.Background(), engine.Failure{
		Kind: "connector_health", Severity: "critical", Subject: db.Subject{Kind: "connector", ID: "ad", Name: "AD"},
		Title: "AD down", Message: "connection refused",
	}); err != nil {
		t.Fatal(err)
	}
	h = struct {
		Status string           `json:"status"`
		Checks map[string]check `json:"checks"`
	}{}
	ts.get(t, nil, "/api/health").wantStatus(t, http.StatusOK).json(t, &h)
	if h.Status != "degraded" || h.Checks["database"].Status != "ok" || h.Checks["incidents"].Status != "degraded" {
		t.Errorf("health with an open incident = %+v, want degraded (still 200)", h)
	}
}

// Health answers 503 only when the database cannot be reached.
func TestHealthWithoutDatabase(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.DB.Close()
	var h struct {
		Status string `json:"status"`
		Checks map[string]struct {
			Status string `json:"status"`
		} `json:"checks"`
	}
	ts.get(t, nil, "/api/health").wantStatus(t, http.StatusServiceUnavailable).json(t, &h)
	if h.Status != "down" || h.Checks["database"].Status != "down" {
		t.Errorf("health without a database = %+v", h)
	}
}

func TestEditProfileForm(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.loginAs(t, "demo-admin")
	approver := ts.demo(t, "demo-approver")
	edit := "/users/" + approver.ID.String() + "/edit"
	page := ts.get(t, c, edit).wantStatus(t, http.StatusOK)
	if !strings.Contains(page.Body, `data-testid="profile-form"`) || !strings.Contains(page.Body, `data-url="`+edit+`"`) {
		t.Fatal("the edit page has the profile form and names its own address")
	}
	before := ts.snapshot(t)
	bad := url.Values{"title": {"Staff Engineer"}, "department": {"IT"}, "location": {""}, "costCenter": {""}, "startDate": {"31/01/2026"}}
	res := ts.postForm(t, c, "/users/"+approver.ID.String()+"/profile", bad, ts.sameOrigin()...).wantStatus(t, http.StatusUnprocessableEntity)
	for _, want := range []string{`href="#field-startDate"`, "Start date ", `value="Staff Engineer"`, `value="31/01/2026"`, `data-url="` + edit + `"`} {
		if !strings.Contains(res.Body, want) {
			t.Errorf("re-rendered profile form lacks %s", want)
		}
	}
	ts.wantUnchanged(t, before)

	good := url.Values{"title": {"Staff Engineer"}, "department": {"IT"}, "location": {"Berlin"}, "costCenter": {""}, "startDate": {"2026-01-31"}}
	res = ts.postForm(t, c, "/users/"+approver.ID.String()+"/profile", good, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	if res.Header.Get("Location") != "/users/"+approver.ID.String() {
		t.Fatalf("after saving: %s", res.Header.Get("Location"))
	}
	prof, err := db.FindProfile(context.Background(), ts.DB.Bun, approver.ID)
	if err != nil || *prof.Title != "Staff Engineer" || *prof.StartDate != "2026-01-31" || prof.CostCenter != nil ||
		prof.AttributeSources["location"].Source != "manual" {
		t.Fatalf("saved profile: %+v %v", prof, err)
	}
	shown := ts.get(t, c, "/users/"+approver.ID.String()).wantStatus(t, http.StatusOK)
	if !strings.Contains(shown.Body, "Staff Engineer") || !strings.Contains(shown.Body, "set by an admin") {
		t.Error("the user page shows the saved profile and who set it")
	}
	// Emptying a field clears it.
	good.Set("title", "")
	ts.postForm(t, c, "/users/"+approver.ID.String()+"/profile", good, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	if prof, _ := db.FindProfile(context.Background(), ts.DB.Bun, approver.ID); prof.Title != nil {
		t.Errorf("an emptied title is cleared, got %q", *prof.Title)
	}
}

func TestSettingsRotateKeysReportsWhatHappened(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin := ts.demo(t, "demo-admin")
	actor := engine.Actor{UserID: &admin.ID, Label: admin.Email}
	if _, err := ts.Engine.CreateConnector(context.Background(), actor, engine.ConnectorInput{
		Name: "Mail relay", Type: "email", Config: map[string]any{"smtpUrl": "smtp://u:p@mail.example.test:587?from=floh@example.test"},
	}); err != nil {
		t.Fatal(err)
	}
	c := ts.loginAs(t, "demo-admin")
	page := ts.get(t, c, "/settings").wantStatus(t, 200)
	if !strings.Contains(page.Body, `data-testid="rotate-keys"`) {
		t.Fatal("the settings page offers the rotation")
	}
	res := ts.postForm(t, c, "/settings/rotate-keys", url.Values{}, ts.sameOrigin()...)
	if res.Status != http.StatusSeeOther || res.location(t) != ts.URL+"/settings" {
		t.Fatalf("rotate: %d %s", res.Status, res.Header.Get("Location"))
	}
	page = ts.get(t, c, "/settings").wantStatus(t, 200)
	if !strings.Contains(page.Body, "Re-encrypted the secrets of 0 of 1 connectors with the current key; 1 already used it.") {
		t.Fatalf("flash: %s", page.Body)
	}
	if strings.Contains(page.Body, "u:p@") {
		t.Fatal("the SMTP password must not appear")
	}
}
