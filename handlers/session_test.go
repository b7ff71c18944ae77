package handlers_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

type sessionInfo struct {
	MaxSessionLifetime       *int `json:"maxSessionLifetime"`
	MaxIdleSessionLifetime   *int `json:"maxIdleSessionLifetime"`
	RemainingSessionLifetime *int `json:"remainingSessionLifetime"`
	RemainingIdleLifetime    *int `json:"remainingIdleLifetime"`
}

// wantSession checks GET /api/auth/session (or the given response) against the remaining
// lifetimes in seconds.
func wantSession(t *testing.T, res *result, remaining, idle time.Duration) {
	t.Helper()
	var got sessionInfo
	res.wantStatus(t, http.StatusOK).json(t, &got)
	if got.MaxSessionLifetime == nil || got.MaxIdleSessionLifetime == nil || got.RemainingSessionLifetime == nil || got.RemainingIdleLifetime == nil {
		t.Fatalf("session info lacks a field: %s", res.Body)
	}
	if *got.MaxSessionLifetime != 86400 || *got.MaxIdleSessionLifetime != 28800 {
		t.Errorf("limits = %d s / %d s idle, want 86400 / 28800", *got.MaxSessionLifetime, *got.MaxIdleSessionLifetime)
	}
	if *got.RemainingSessionLifetime != int(remaining.Seconds()) || *got.RemainingIdleLifetime != int(idle.Seconds()) {
		t.Errorf("remaining = %d s, idle %d s; want %d s, idle %d s", *got.RemainingSessionLifetime,
			*got.RemainingIdleLifetime, int(remaining.Seconds()), int(idle.Seconds()))
	}
}

// wantSignedOut checks that c's session no longer authenticates, for the API and for pages.
func wantSignedOut(t *testing.T, ts *testServer, c *http.Client, sid string) {
	t.Helper()
	ts.get(t, c, "/api/auth/me").apiError(t, http.StatusUnauthorized, "unauthenticated")
	ts.get(t, c, "/users").wantStatus(t, http.StatusSeeOther)
	if n := ts.count(t, "SELECT count(*) FROM sessions WHERE token = ?", sid); n != 0 {
		t.Errorf("session %s is still stored", sid)
	}
	// Presenting the old id again does not bring it back.
	ts.get(t, ts.withCookie(t, "/", sessionName, sid), "/api/auth/me").apiError(t, http.StatusUnauthorized, "unauthenticated")
}

func TestSessionInfoAndIdleTimeout(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.loginAs(t, "demo-admin")
	sid := ts.cookie(c, "/", sessionName)
	h := time.Hour

	wantSession(t, ts.get(t, c, "/api/auth/session"), 24*h, 8*h)
	// Polling the session is not activity: the idle time keeps running down.
	ts.Clock.Advance(h)
	wantSession(t, ts.get(t, c, "/api/auth/session"), 23*h, 7*h)
	ts.Clock.Advance(h)
	wantSession(t, ts.get(t, c, "/api/auth/session"), 22*h, 6*h)
	// Extending is activity: the idle limit restarts, the absolute one does not move.
	wantSession(t, ts.do(t, c, "POST", "/api/auth/session/extend", nil, ts.sameOrigin()...), 22*h, 8*h)
	wantSession(t, ts.get(t, c, "/api/auth/session"), 22*h, 8*h)

	ts.Clock.Advance(8*h - time.Minute)
	wantSession(t, ts.get(t, c, "/api/auth/session"), 14*h+time.Minute, time.Minute)
	ts.Clock.Advance(time.Minute)
	ts.get(t, c, "/api/auth/session").apiError(t, http.StatusUnauthorized, "unauthenticated")
	wantSignedOut(t, ts, c, sid)
}

func TestSessionIdleTimeoutEndsAnyRequest(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.loginAs(t, "demo-manager")
	sid := ts.cookie(c, "/", sessionName)
	ts.get(t, c, "/users").wantStatus(t, http.StatusOK)
	ts.Clock.Advance(8 * time.Hour)
	// A page after 8 idle hours goes to login again.
	res := ts.get(t, c, "/users").wantStatus(t, http.StatusSeeOther)
	if got := loginReturnTo(t, res.Header.Get("Location")); got != "/users" {
		t.Errorf("returnTo = %q", got)
	}
	wantSignedOut(t, ts, c, sid)
}

func TestSessionActivityKeepsItAliveUntilTheAbsoluteLimit(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.loginAs(t, "demo-admin")
	sid := ts.cookie(c, "/", sessionName)
	for i := 1; i <= 3; i++ {
		ts.Clock.Advance(7 * time.Hour)
		ts.get(t, c, "/api/auth/me").wantStatus(t, http.StatusOK)
	}
	wantSession(t, ts.get(t, c, "/api/auth/session"), 3*time.Hour, 8*time.Hour)
	ts.Clock.Advance(3*time.Hour - time.Second)
	ts.get(t, c, "/users").wantStatus(t, http.StatusOK)
	ts.Clock.Advance(time.Second)
	// 24 hours after login, however active the session was.
	ts.get(t, c, "/api/auth/me").apiError(t, http.StatusUnauthorized, "unauthenticated")
	wantSignedOut(t, ts, c, sid)

	// Signing in again starts a new full session.
	ts.login(t, c, "demo-admin")
	wantSession(t, ts.get(t, c, "/api/auth/session"), 24*time.Hour, 8*time.Hour)
}

func TestLogoutDestroysTheSessionAndIsAudited(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin := ts.demo(t, "demo-admin")
	c := ts.loginAs(t, "demo-admin")
	sid := ts.cookie(c, "/", sessionName)

	res := ts.do(t, c, "POST", "/api/auth/logout", nil, ts.sameOrigin()...).wantStatus(t, http.StatusNoContent)
	if line := setCookieHeader(t, res, sessionName); ts.cookie(c, "/", sessionName) != "" {
		t.Errorf("logout did not clear the session cookie: %s", line)
	}
	wantSignedOut(t, ts, c, sid)
	entries := ts.auditEntries(t, "user.logout")
	if len(entries) != 1 || entries[0].ActorID == nil || *entries[0].ActorID != admin.ID ||
		entries[0].Actor != admin.Email || entries[0].EntityID == nil || *entries[0].EntityID != admin.ID.String() {
		t.Fatalf("user.logout audit = %+v, want one entry by %s", entries, admin.Email)
	}

	// The header's Sign out button: a form post that lands on the signed-out page.
	m := ts.loginAs(t, "demo-manager")
	msid := ts.cookie(m, "/", sessionName)
	res = ts.postForm(t, m, "/logout", nil, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	if res.Header.Get("Location") != "/signed-out" {
		t.Errorf("sign out lands on %q, want /signed-out", res.Header.Get("Location"))
	}
	wantSignedOut(t, ts, m, msid)
	if n := len(ts.auditEntries(t, "user.logout")); n != 2 {
		t.Errorf("%d logouts audited, want 2", n)
	}
	ts.get(t, m, "/signed-out").wantStatus(t, http.StatusOK)

	// Logging out of a session that has already ended is harmless and audits nothing.
	ts.do(t, m, "POST", "/api/auth/logout", nil, ts.sameOrigin()...).apiError(t, http.StatusUnauthorized, "unauthenticated")
	ts.postForm(t, m, "/logout", nil, ts.sameOrigin()...).wantStatus(t, http.StatusSeeOther)
	if n := len(ts.auditEntries(t, "user.logout")); n != 2 {
		t.Errorf("%d logouts audited after logging out twice, want 2", n)
	}
}

// Every page's header refreshes the unread-notifications link every minute. That background
// poll is not the user's activity: an open, unattended tab must not keep the session alive.
func TestBackgroundPollsDoNotKeepAnIdleSessionAlive(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.loginAs(t, "demo-approver")
	sid := ts.cookie(c, "/", sessionName)
	page := ts.get(t, c, "/").wantStatus(t, http.StatusOK)
	if !strings.Contains(page.Body, `hx-get="/notifications/unread"`) {
		t.Fatal("the header no longer polls /notifications/unread; update this test to the new poll")
	}
	for range 8 {
		ts.Clock.Advance(time.Hour - time.Second)
		ts.get(t, c, "/notifications/unread", "HX-Request", "true").wantStatus(t, http.StatusOK)
		ts.get(t, c, "/api/auth/session").wantStatus(t, http.StatusOK)
	}
	ts.Clock.Advance(8 * time.Second)
	// The tab's next poll finds the session gone and sends the tab to sign in, back to its page.
	res := ts.get(t, c, "/notifications/unread", "HX-Request", "true", "HX-Current-URL", ts.URL+"/users?q=ada")
	res.wantStatus(t, http.StatusUnauthorized)
	if got := loginReturnTo(t, res.Header.Get("HX-Redirect")); got != "/users?q=ada" {
		t.Errorf("HX-Redirect returnTo = %q, want the page the tab shows", got)
	}
	wantSignedOut(t, ts, c, sid)
}
