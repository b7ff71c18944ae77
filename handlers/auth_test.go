package handlers_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
	"golang.org/x/oauth2"

	"floh/db"
	"floh/engine"
)

// setCookieHeader finds the Set-Cookie line of the named cookie.
func setCookieHeader(t *testing.T, res *result, name string) string {
	t.Helper()
	for _, line := range res.Header.Values("Set-Cookie") {
		if strings.HasPrefix(line, name+"=") {
			return line
		}
	}
	t.Fatalf("%s: no Set-Cookie for %s in %v", res.URL, name, res.Header.Values("Set-Cookie"))
	return ""
}

func TestLoginRedirectsStraightToProviderWithPKCEStateAndNonce(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.client(t)
	res := ts.get(t, c, "/api/auth/login?returnTo=/users")
	if res.Status != http.StatusFound {
		t.Fatalf("status %d, want 302: %s", res.Status, res.Body)
	}
	loc, err := url.Parse(res.location(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != ts.Issuer+"/authorize" {
		t.Errorf("redirects to %s, want the provider's authorize endpoint %s/authorize", got, ts.Issuer)
	}
	q := loc.Query()
	want := map[string]string{
		"response_type": "code", "client_id": clientID, "redirect_uri": ts.URL + "/api/auth/callback",
		"code_challenge_method": "S256",
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if len(q.Get(k)) < 32 {
			t.Errorf("%s = %q, want a long random value", k, q.Get(k))
		}
	}
	if !slices.Contains(strings.Fields(q.Get("scope")), "openid") {
		t.Errorf("scope = %q, want openid", q.Get("scope"))
	}
	// The handshake lives in a short-lived, HttpOnly, Lax cookie scoped to /api/auth.
	line := setCookieHeader(t, res, handshake)
	for _, attr := range []string{"Path=/api/auth", "Max-Age=600", "HttpOnly", "SameSite=Lax"} {
		if !strings.Contains(line, attr) {
			t.Errorf("handshake cookie %q lacks %s", line, attr)
		}
	}
	if strings.Contains(line, "Secure") {
		t.Errorf("handshake cookie %q is Secure on an http base URL; the browser would drop it", line)
	}

	// Every login gets its own state, nonce and verifier.
	again, _ := url.Parse(ts.startLogin(t, ts.client(t), "/"))
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if again.Query().Get(k) == q.Get(k) {
			t.Errorf("two logins share %s %q", k, q.Get(k))
		}
	}
}

func TestLoginSetsSessionAndMeReportsRolesAndPermissions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.client(t)
	callback := ts.signInAtProvider(t, c, ts.startLogin(t, c, "/"), "demo-admin")
	res := ts.get(t, c, callback).wantStatus(t, http.StatusSeeOther)
	line := setCookieHeader(t, res, sessionName)
	for _, attr := range []string{"Path=/", "HttpOnly", "SameSite=Lax"} {
		if !strings.Contains(line, attr) {
			t.Errorf("session cookie %q lacks %s", line, attr)
		}
	}
	// The handshake is single-use: the callback deletes its cookie.
	if v := ts.cookie(c, "/api/auth/callback", handshake); v != "" {
		t.Errorf("handshake cookie still set after the callback")
	}

	var me struct {
		ID, Email, DisplayName, AuthenticatedWith string
		Roles, Permissions                        []string
	}
	ts.get(t, c, "/api/auth/me").wantStatus(t, http.StatusOK).json(t, &me)
	admin := ts.demo(t, "demo-admin")
	if me.ID != admin.ID.String() || me.Email != "admin@example.test" || me.DisplayName != "Ada Admin" {
		t.Errorf("me = %+v, want the demo admin %s", me, admin.ID)
	}
	if !slices.Equal(me.Roles, []string{engine.RoleAdmin}) {
		t.Errorf("roles = %v, want [Admin]", me.Roles)
	}
	if want := engine.PermissionsOf([]string{engine.RoleAdmin}).List(); !slices.Equal(me.Permissions, want) || len(want) != len(engine.AllPermissions) {
		t.Errorf("permissions = %v, want every permission %v", me.Permissions, want)
	}
	if me.AuthenticatedWith != "session" {
		t.Errorf("authenticatedWith = %q, want session", me.AuthenticatedWith)
	}
	if n := len(ts.auditEntries(t, "user.login")); n != 1 {
		t.Errorf("%d user.login audit entries, want 1", n)
	}

	req := ts.loginAs(t, "demo-requestor")
	ts.get(t, req, "/api/auth/me").wantStatus(t, http.StatusOK).json(t, &me)
	if me.Email != "requestor@example.test" || !slices.Equal(me.Roles, []string{engine.RoleRequestor}) ||
		!slices.Equal(me.Permissions, []string{"workflow:read", "workflow:start", "task:read"}) {
		t.Errorf("requestor me = %+v", me)
	}
}

func TestLoginRenewsTheSessionToken(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)

	// A session id planted before login (an attacker-chosen value) is replaced.
	planted := "attacker-chosen-session-id-0123456789abcdef"
	c := ts.withCookie(t, "/", sessionName, planted)
	ts.login(t, c, "demo-admin")
	if got := ts.cookie(c, "/", sessionName); got == planted || got == "" {
		t.Fatalf("session cookie after login = %q, want a new value", got)
	}

	// A real session planted in the victim's browser (the attacker's own login) is replaced
	// too, and the planted id does not become the victim's session.
	attacker := ts.loginAs(t, "demo-requestor")
	sid := ts.cookie(attacker, "/", sessionName)
	victim := ts.withCookie(t, "/", sessionName, sid)
	var me struct{ Email string }
	ts.get(t, victim, "/api/auth/me").wantStatus(t, http.StatusOK).json(t, &me)
	if me.Email != "requestor@example.test" {
		t.Fatalf("planted session is %s, want the attacker's", me.Email)
	}
	ts.login(t, victim, "demo-admin")
	after := ts.cookie(victim, "/", sessionName)
	if after == sid {
		t.Fatal("the session id is the same before and after login (session fixation)")
	}
	ts.get(t, victim, "/api/auth/me").wantStatus(t, http.StatusOK).json(t, &me)
	if me.Email != "admin@example.test" {
		t.Errorf("victim is %s after login, want admin@example.test", me.Email)
	}
	ts.get(t, attacker, "/api/auth/me").apiError(t, http.StatusUnauthorized, "unauthenticated")
	if n := ts.count(t, "SELECT count(*) FROM sessions WHERE token = ?", sid); n != 0 {
		t.Errorf("the pre-login session %s is still stored", sid)
	}
}

func TestLoginReturnToAcceptsOnlySameOriginPaths(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	cases := map[string]string{
		"/users?q=ada&page=2":      "/users?q=ada&page=2",
		"":                         "/",
		"//evil.example":           "/",
		"//evil.example/users":     "/",
		"https://evil.example":     "/",
		"https://evil.example/x":   "/",
		`/\evil.example`:           "/",
		"javascript:alert(1)":      "/",
		"users":                    "/",
		"/api/auth/logout":         "/",
		"/api/auth/login?returnTo": "/",
	}
	for returnTo, want := range cases {
		c := ts.client(t)
		callback := ts.signInAtProvider(t, c, ts.startLogin(t, c, returnTo), "demo-manager")
		res := ts.get(t, c, callback).wantStatus(t, http.StatusSeeOther)
		if got := res.Header.Get("Location"); got != want {
			t.Errorf("returnTo %q lands on %q, want %q", returnTo, got, want)
		}
	}
}

func TestCallbackReplayIsRefused(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.client(t)
	callback := ts.signInAtProvider(t, c, ts.startLogin(t, c, "/users"), "demo-admin")
	hs := ts.cookie(c, "/api/auth/callback", handshake)
	if hs == "" {
		t.Fatal("no handshake cookie")
	}
	res := ts.get(t, c, callback).wantStatus(t, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != "/users" {
		t.Fatalf("first callback lands on %q, want /users", loc)
	}

	// The same callback URL with the same handshake cookie, e.g. from a captured request.
	replay := ts.withCookie(t, "/api/auth", handshake, hs)
	res = ts.get(t, replay, callback).wantStatus(t, http.StatusBadRequest)
	if !strings.Contains(res.Body, "already used") {
		t.Errorf("replay page does not say the sign-in was already used:\n%s", res.Body)
	}
	if ts.cookie(replay, "/", sessionName) != "" {
		t.Error("the replayed callback set a session cookie")
	}
	// The original browser no longer holds the handshake either.
	res = ts.get(t, c, callback).wantStatus(t, http.StatusBadRequest)
	if !strings.Contains(res.Body, "Sign-in expired") {
		t.Errorf("callback without handshake does not say the sign-in expired:\n%s", res.Body)
	}
	events, _, err := db.ListEvents(context.Background(), ts.DB.Bun, db.EventFilter{SubType: "auth", Action: "failed", Page: db.Page{Page: 1, PageSize: 10}})
	replayed := slices.ContainsFunc(events, func(e db.Event) bool {
		return strings.Contains(e.Message, "already used") && e.Severity == "warning" && e.Subject.ID == "127.0.0.1"
	})
	if err != nil || !replayed {
		t.Errorf("the refused replay is recorded as an auth/failed event: %v %+v", err, events)
	}
	if n := len(ts.auditEntries(t, "user.login")); n != 1 {
		t.Errorf("%d logins audited, want 1", n)
	}
}

func TestCallbackWithWrongStateIsRefused(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.client(t)
	callback := ts.signInAtProvider(t, c, ts.startLogin(t, c, "/"), "demo-admin")
	u, _ := url.Parse(callback)
	q := u.Query()
	q.Set("state", "not-the-state-of-this-login")
	u.RawQuery = q.Encode()
	res := ts.get(t, c, u.String()).wantStatus(t, http.StatusBadRequest)
	if !strings.Contains(res.Body, "state mismatch") {
		t.Errorf("page does not explain the state mismatch:\n%s", res.Body)
	}
	if ts.cookie(c, "/", sessionName) != "" {
		t.Error("a callback with a wrong state set a session cookie")
	}
	// The handshake was spent on the refused attempt: the genuine answer cannot be used now.
	ts.get(t, c, callback).wantStatus(t, http.StatusBadRequest)
	if n := len(ts.auditEntries(t, "user.login")); n != 0 {
		t.Errorf("%d logins audited, want 0", n)
	}

	// A callback in a browser that never started this login (login CSRF) is refused as well.
	other := ts.client(t)
	ts.get(t, other, callback).wantStatus(t, http.StatusBadRequest)
	if ts.cookie(other, "/", sessionName) != "" {
		t.Error("a callback without handshake set a session cookie")
	}

	// The provider's own refusal is shown, not a session.
	c2 := ts.client(t)
	authorize, _ := url.Parse(ts.startLogin(t, c2, "/"))
	res = ts.get(t, c2, "/api/auth/callback?error=access_denied&error_description=user+cancelled&state="+
		url.QueryEscape(authorize.Query().Get("state"))).wantStatus(t, http.StatusBadRequest)
	if !strings.Contains(res.Body, "access_denied") {
		t.Errorf("provider error not shown:\n%s", res.Body)
	}
}

// The handshake cookie is encrypted and authenticated with the server's keys, so a browser
// cannot change the PKCE verifier or the nonce it carries: a tampered cookie is simply not
// accepted. To show that the verifier and nonce are actually checked, the test plays a server
// that lost its handshake integrity: it holds the keys, rewrites the cookie, and expects the
// provider to refuse the code (wrong verifier) and the app to refuse the ID token (wrong nonce).
func TestHandshakeCookieIsTamperProofAndPKCEAndNonceAreChecked(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	codecs := securecookie.CodecsFromPairs(ts.CookieKeys...)

	// rewrite runs a login up to the callback and changes one handshake value.
	rewrite := func(key, value string) (*http.Client, string) {
		c := ts.client(t)
		callback := ts.signInAtProvider(t, c, ts.startLogin(t, c, "/"), "demo-admin")
		values := map[any]any{}
		if err := securecookie.DecodeMulti(handshake, ts.cookie(c, "/api/auth/callback", handshake), &values, codecs...); err != nil {
			t.Fatalf("decode handshake: %v", err)
		}
		if _, ok := values[key]; !ok {
			t.Fatalf("handshake has no %q: %v", key, values)
		}
		values[key] = value
		enc, err := securecookie.EncodeMulti(handshake, values, codecs...)
		if err != nil {
			t.Fatal(err)
		}
		return ts.withCookie(t, "/api/auth", handshake, enc), callback
	}

	t.Run("wrong PKCE verifier", func(t *testing.T) {
		c, callback := rewrite("verifier", oauth2.GenerateVerifier())
		res := ts.get(t, c, callback).wantStatus(t, http.StatusBadGateway)
		if !strings.Contains(res.Body, "did not accept the sign-in code") {
			t.Errorf("page does not say the provider refused the code:\n%s", res.Body)
		}
		if ts.cookie(c, "/", sessionName) != "" {
			t.Error("a refused code exchange set a session cookie")
		}
	})
	t.Run("wrong nonce", func(t *testing.T) {
		c, callback := rewrite("nonce", "not-the-nonce-of-this-login")
		res := ts.get(t, c, callback).wantStatus(t, http.StatusBadGateway)
		if !strings.Contains(res.Body, "ID token did not verify") {
			t.Errorf("page does not say the ID token did not verify:\n%s", res.Body)
		}
		if ts.cookie(c, "/", sessionName) != "" {
			t.Error("an ID token with a wrong nonce set a session cookie")
		}
	})
	t.Run("tampered cookie", func(t *testing.T) {
		c := ts.client(t)
		callback := ts.signInAtProvider(t, c, ts.startLogin(t, c, "/"), "demo-admin")
		hs := []byte(ts.cookie(c, "/api/auth/callback", handshake))
		hs[len(hs)/2] ^= 1
		forged := ts.withCookie(t, "/api/auth", handshake, string(hs))
		res := ts.get(t, forged, callback).wantStatus(t, http.StatusBadRequest)
		if !strings.Contains(res.Body, "Sign-in expired") {
			t.Errorf("a tampered handshake is not treated as absent:\n%s", res.Body)
		}
	})
	t.Run("untampered still works", func(t *testing.T) {
		c, callback := rewrite("return_to", "/users")
		res := ts.get(t, c, callback).wantStatus(t, http.StatusSeeOther)
		if res.Header.Get("Location") != "/users" {
			t.Errorf("Location = %q", res.Header.Get("Location"))
		}
	})
	if n := len(ts.auditEntries(t, "user.login")); n != 1 {
		t.Errorf("%d logins audited, want only the untampered one", n)
	}
}

func TestDeletedUserCannotSignIn(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin := ts.demo(t, "demo-admin")
	req := ts.demo(t, "demo-requestor")
	if _, err := ts.Engine.DeleteUser(context.Background(), engine.Actor{UserID: &admin.ID, Label: admin.Email}, req.ID); err != nil {
		t.Fatal(err)
	}
	c := ts.client(t)
	callback := ts.signInAtProvider(t, c, ts.startLogin(t, c, "/"), "demo-requestor")
	res := ts.get(t, c, callback).wantStatus(t, http.StatusForbidden)
	if !strings.Contains(res.Body, "deleted") {
		t.Errorf("refusal does not say the account is deleted:\n%s", res.Body)
	}
	if ts.cookie(c, "/", sessionName) != "" {
		t.Error("a refused login set a session cookie")
	}
	if n := ts.count(t, "SELECT count(*) FROM users WHERE lower(email) = 'requestor@example.test'"); n != 1 {
		t.Errorf("%d requestor users, want the deleted one only", n)
	}
}

// The server reaches its own development provider in-process, so sign-in works even when the
// public base URL does not resolve from inside the server (e.g. a name only a proxy knows).
func TestDevProviderIsReachedInProcess(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(o *serverOptions) { o.publicHost = "floh.invalid" })
	c := ts.loginAs(t, "demo-approver")
	var me struct{ Email string }
	ts.get(t, c, "/api/auth/me").wantStatus(t, http.StatusOK).json(t, &me)
	if me.Email != "approver@example.test" {
		t.Errorf("me = %q", me.Email)
	}
}

// redate re-signs a handshake cookie as if the server had issued it at the given time. A
// securecookie value is base64("date|ciphertext|mac") with the MAC over "name|date|ciphertext";
// the test holds the hash key, so it can move the date without touching the content.
func redate(t *testing.T, ts *testServer, cookie string, at time.Time) string {
	t.Helper()
	raw, err := base64.URLEncoding.DecodeString(cookie)
	if err != nil {
		t.Fatal(err)
	}
	parts := bytes.SplitN(raw, []byte("|"), 3)
	if len(parts) != 3 {
		t.Fatalf("handshake cookie is not date|value|mac")
	}
	body := strconv.FormatInt(at.Unix(), 10) + "|" + string(parts[1])
	mac := hmac.New(sha256.New, ts.CookieKeys[0])
	mac.Write([]byte(handshake + "|" + body))
	return base64.URLEncoding.EncodeToString(append([]byte(body+"|"), mac.Sum(nil)...))
}

// The handshake is short-lived on the server too, not only in the browser: a captured
// handshake cookie older than ten minutes is refused, including after the record of its
// consumed state has been purged.
func TestHandshakeCookieExpiresAfterTenMinutes(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)

	// Control: a nine-minute-old handshake re-signed by the test still works.
	c := ts.client(t)
	callback := ts.signInAtProvider(t, c, ts.startLogin(t, c, "/"), "demo-admin")
	hs := ts.cookie(c, "/api/auth/callback", handshake)
	ok := ts.withCookie(t, "/api/auth", handshake, redate(t, ts, hs, time.Now().Add(-9*time.Minute)))
	ts.get(t, ok, callback).wantStatus(t, http.StatusSeeOther)

	// An eleven-minute-old handshake of a login nobody completed.
	c = ts.client(t)
	callback = ts.signInAtProvider(t, c, ts.startLogin(t, c, "/"), "demo-admin")
	hs = ts.cookie(c, "/api/auth/callback", handshake)
	stale := ts.withCookie(t, "/api/auth", handshake, redate(t, ts, hs, time.Now().Add(-11*time.Minute)))
	res := ts.get(t, stale, callback).wantStatus(t, http.StatusBadRequest)
	if !strings.Contains(res.Body, "Sign-in expired") {
		t.Errorf("a stale handshake is not refused as expired:\n%s", res.Body)
	}

	// A completed login replayed after housekeeping purged its consumed state.
	c = ts.client(t)
	callback = ts.signInAtProvider(t, c, ts.startLogin(t, c, "/"), "demo-manager")
	hs = ts.cookie(c, "/api/auth/callback", handshake)
	ts.get(t, c, callback).wantStatus(t, http.StatusSeeOther)
	ts.Clock.Advance(11 * time.Minute)
	if n, err := db.PurgeOIDCStates(context.Background(), ts.DB.Bun, ts.Clock.Now()); err != nil || n == 0 {
		t.Fatalf("purge consumed states: %d, %v", n, err)
	}
	replay := ts.withCookie(t, "/api/auth", handshake, redate(t, ts, hs, time.Now().Add(-11*time.Minute)))
	res = ts.get(t, replay, callback).wantStatus(t, http.StatusBadRequest)
	if ts.cookie(replay, "/", sessionName) != "" {
		t.Error("a replayed callback set a session cookie")
	}
	if n := len(ts.auditEntries(t, "user.login")); n != 2 {
		t.Errorf("%d logins audited, want the 2 genuine ones", n)
	}
}
