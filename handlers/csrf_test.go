package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestCrossOriginStateChangesAreRefused(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin := ts.loginAs(t, "demo-admin")
	target := ts.demo(t, "demo-requestor")
	tid := target.ID.String()
	newUser := map[string]any{"email": "csrf@example.test", "displayName": "Csrf Victim"}

	refusals := []struct {
		name, method, path string
		body               any
		headers            []string
	}{
		{"create user, cross-site", "POST", "/api/users", newUser, crossSite},
		{"create user, same-site sibling", "POST", "/api/users", newUser,
			[]string{"Origin", "http://app.localhost", "Sec-Fetch-Site", "same-site"}},
		{"create user, old browser: Origin only", "POST", "/api/users", newUser, []string{"Origin", "https://evil.example"}},
		{"create user, Sec-Fetch-Site only", "POST", "/api/users", newUser, []string{"Sec-Fetch-Site", "cross-site"}},
		{"delete user", "DELETE", "/api/users/" + tid, nil, crossSite},
		{"set roles", "PUT", "/api/users/" + tid + "/roles", map[string]any{"roles": []string{"Admin"}}, crossSite},
		{"patch user", "PATCH", "/api/users/" + tid, map[string]any{"displayName": "Pwned"}, crossSite},
		{"create token", "POST", "/api/auth/tokens", map[string]any{"name": "stolen"}, crossSite},
		{"logout", "POST", "/api/auth/logout", nil, crossSite},
		{"form: add user", "POST", "/users", url.Values{"email": {"csrf@example.test"}}, crossSite},
		{"form: set roles", "POST", "/users/" + tid + "/roles", url.Values{"roles": {"Admin"}}, crossSite},
		{"form: delete user", "POST", "/users/" + tid + "/delete", url.Values{}, crossSite},
		{"form: sign out", "POST", "/logout", url.Values{}, crossSite},
	}
	before := ts.snapshot(t)
	for _, r := range refusals {
		res := ts.do(t, admin, r.method, r.path, r.body, r.headers...)
		if strings.HasPrefix(r.path, "/api/") {
			res.apiError(t, http.StatusForbidden, "cross_origin")
		} else {
			res.wantStatus(t, http.StatusForbidden)
			if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") || !strings.Contains(res.Body, "cross-origin") {
				t.Errorf("%s: want the HTML error page explaining the refusal, got %s", r.name, res.Body)
			}
		}
	}
	ts.wantUnchanged(t, before)
	if u := ts.userByID(t, target.ID); u.DisplayName != target.DisplayName || len(u.Roles) != 1 || u.Deleted() {
		t.Errorf("target changed by refused requests: %+v", u)
	}
	// The cross-site logout did not end the session.
	ts.get(t, admin, "/api/auth/me").wantStatus(t, http.StatusOK)

	// Reads are not state changes; a cross-site GET is answered.
	ts.get(t, admin, "/api/users", crossSite...).wantStatus(t, http.StatusOK)

	// A script with a Bearer token carries no ambient credentials: exempt, whatever the headers.
	tok := ts.token(t, ts.demo(t, "demo-admin"), nil)
	var created struct{ ID string }
	ts.do(t, nil, "POST", "/api/users", newUser, append(bearer(tok), crossSite...)...).
		wantStatus(t, http.StatusCreated).json(t, &created)
	entries := ts.auditEntries(t, "user.created")
	if len(entries) == 0 || entries[0].EntityID == nil || *entries[0].EntityID != created.ID || entries[0].TokenID == nil {
		t.Errorf("user.created by token not audited with its token: %+v", entries)
	}

	// The app's own pages: same-origin browser requests pass, JSON and forms alike.
	ts.do(t, admin, "POST", "/api/users", map[string]any{"email": "same-origin@example.test"}, ts.sameOrigin()...).
		wantStatus(t, http.StatusCreated)
	res := ts.postForm(t, admin, "/users", url.Values{"email": {"form@example.test"}, "displayName": {"Form User"}}, ts.sameOrigin()...)
	res.wantStatus(t, http.StatusSeeOther)
	if !strings.HasPrefix(res.Header.Get("Location"), "/users/") {
		t.Errorf("add user form: Location %q, want the new user's page", res.Header.Get("Location"))
	}
	// A browser that sends only Origin, matching the app, passes too.
	ts.do(t, admin, "PATCH", "/api/users/"+tid, map[string]any{"displayName": "Riley R."}, "Origin", ts.URL).
		wantStatus(t, http.StatusOK)
	if n := ts.count(t, "SELECT count(*) FROM users WHERE email IN ('csrf@example.test', 'same-origin@example.test', 'form@example.test')"); n != 3 {
		t.Errorf("%d users created by the allowed requests, want 3", n)
	}
}
