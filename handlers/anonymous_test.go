package handlers_test

import (
	"net/http"
	"net/url"
	"testing"
)

// loginReturnTo checks that res sends the browser to log in and returns the returnTo.
func loginReturnTo(t *testing.T, loc string) string {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil || u.Host != "" || u.Path != "/api/auth/login" {
		t.Fatalf("Location %q is not the login URL", loc)
	}
	return u.Query().Get("returnTo")
}

func TestAnonymousRequests(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)

	t.Run("page GET redirects to login with the path and query", func(t *testing.T) {
		for _, path := range []string{"/", "/users?q=ada%20l&page=2", "/users/new", "/audit?entity=user", "/settings"} {
			res := ts.get(t, nil, path).wantStatus(t, http.StatusSeeOther)
			if got := loginReturnTo(t, res.Header.Get("Location")); got != path {
				t.Errorf("GET %s: returnTo = %q, want %q", path, got, path)
			}
			if sc := res.Header.Values("Set-Cookie"); len(sc) != 0 {
				t.Errorf("GET %s as anonymous set cookies %v", path, sc)
			}
		}
	})

	t.Run("API GET answers 401 JSON", func(t *testing.T) {
		for _, path := range []string{"/api/users", "/api/auth/me", "/api/auth/session", "/api/audit", "/api/nope"} {
			res := ts.get(t, nil, path)
			if path == "/api/nope" {
				// An unknown API path is not found for anyone; it says nothing about auth.
				res.apiError(t, http.StatusNotFound, "not_found")
				continue
			}
			res.apiError(t, http.StatusUnauthorized, "unauthenticated")
			if res.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("GET %s: Cache-Control %q, want no-store", path, res.Header.Get("Cache-Control"))
			}
		}
	})

	t.Run("htmx request gets HX-Redirect", func(t *testing.T) {
		res := ts.get(t, nil, "/users?q=ada", "HX-Request", "true")
		if res.Status != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401 (htmx does not follow a 303 as a navigation)", res.Status)
		}
		if got := loginReturnTo(t, res.Header.Get("HX-Redirect")); got != "/users?q=ada" {
			t.Errorf("HX-Redirect returnTo = %q, want /users?q=ada", got)
		}
		// A fragment-only request (the header's unread-count poll) returns to the page the
		// browser shows, which htmx names in HX-Current-URL, not to the fragment.
		res = ts.get(t, nil, "/notifications/unread", "HX-Request", "true", "HX-Current-URL", ts.URL+"/incidents?status=open")
		res.wantStatus(t, http.StatusUnauthorized)
		if got := loginReturnTo(t, res.Header.Get("HX-Redirect")); got != "/incidents?status=open" {
			t.Errorf("poll's HX-Redirect returnTo = %q, want /incidents?status=open", got)
		}
		// Another origin's URL in the header is not trusted.
		res = ts.get(t, nil, "/notifications/unread", "HX-Request", "true", "HX-Current-URL", "https://evil.example/x")
		if got := loginReturnTo(t, res.Header.Get("HX-Redirect")); got != "/notifications/unread" {
			t.Errorf("HX-Redirect returnTo = %q for a foreign HX-Current-URL, want the request's own path", got)
		}
	})

	t.Run("form POST goes to login and back to the form's page", func(t *testing.T) {
		res := ts.postForm(t, nil, "/users", url.Values{"email": {"x@example.test"}},
			"Referer", ts.URL+"/users/new", "Origin", ts.URL, "Sec-Fetch-Site", "same-origin")
		res.wantStatus(t, http.StatusSeeOther)
		if got := loginReturnTo(t, res.Header.Get("Location")); got != "/users/new" {
			t.Errorf("returnTo = %q, want /users/new (the page the form was on)", got)
		}
		if n := ts.count(t, "SELECT count(*) FROM users WHERE email = 'x@example.test'"); n != 0 {
			t.Error("an anonymous POST created a user")
		}
	})

	t.Run("bad Authorization headers are 401", func(t *testing.T) {
		ts.get(t, nil, "/api/users", "Authorization", "Bearer floh_0123").apiError(t, http.StatusUnauthorized, "unauthenticated")
		ts.get(t, nil, "/api/users", "Authorization", "Basic YWRtaW46YWRtaW4=").apiError(t, http.StatusUnauthorized, "unauthenticated")
	})

	t.Run("public pages answer", func(t *testing.T) {
		ts.get(t, nil, "/signed-out").wantStatus(t, http.StatusOK)
		ts.get(t, nil, "/api/health").wantStatus(t, http.StatusOK)
	})

	t.Run("after login the browser lands where it was going", func(t *testing.T) {
		c := ts.client(t)
		res := ts.get(t, c, "/users?q=ada").wantStatus(t, http.StatusSeeOther)
		authorize := ts.get(t, c, res.Header.Get("Location")).wantStatus(t, http.StatusFound).location(t)
		callback := ts.signInAtProvider(t, c, authorize, "demo-admin")
		res = ts.get(t, c, callback).wantStatus(t, http.StatusSeeOther)
		if res.Header.Get("Location") != "/users?q=ada" {
			t.Fatalf("after login: Location %q, want /users?q=ada", res.Header.Get("Location"))
		}
		ts.get(t, c, "/users?q=ada").wantStatus(t, http.StatusOK)
	})
}
