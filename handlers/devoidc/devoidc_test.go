package devoidc_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"floh/handlers/devoidc"
)

const (
	mountPath    = "/dev/oidc"
	clientID     = "floh"
	clientSecret = "test-client-secret-that-must-not-be-logged"
	callbackPath = "/auth/callback"
)

var testUsers = []devoidc.User{
	{Subject: "demo-admin", Email: "admin@example.com", Name: "Demo Admin", Note: "Admin"},
	{Subject: "demo-user", Email: "user@example.com", Name: "Demo User"},
}

// One key for the whole package: 2048-bit generation is slow enough to matter.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return key
})

func testConfig(issuer string) devoidc.Config {
	var cryptoKey [32]byte
	_, _ = rand.Read(cryptoKey[:])
	return devoidc.Config{
		Issuer:        issuer,
		ClientID:      clientID,
		ClientSecret:  clientSecret,
		RedirectURIs:  []string{strings.TrimSuffix(issuer, mountPath) + callbackPath},
		Users:         testUsers,
		SigningKey:    testKey(),
		CryptoKey:     cryptoKey,
		AllowInsecure: true,
	}
}

type env struct {
	srv      *httptest.Server
	cfg      devoidc.Config
	browser  *http.Client // follows no redirects, so each hop can be checked
	provider *oidc.Provider
	oauth    *oauth2.Config
	logs     *bytes.Buffer
}

// newEnv mounts the provider below mountPath of a test server, the way floh
// mounts it, and discovers it with go-oidc.
func newEnv(t *testing.T) *env {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	logs := new(bytes.Buffer)
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// zitadel logs through slog.Default only.
	previous := slog.Default()
	slog.SetDefault(logger)
	t.Cleanup(func() { slog.SetDefault(previous) })

	cfg := testConfig(srv.URL + mountPath)
	cfg.Logger = logger
	h, err := devoidc.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mux.Handle(mountPath+"/", h)

	provider, err := oidc.NewProvider(t.Context(), cfg.Issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return &env{
		srv:      srv,
		cfg:      cfg,
		browser:  &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		provider: provider,
		oauth: &oauth2.Config{
			ClientID:     clientID,
			ClientSecret: clientSecret,
			Endpoint:     provider.Endpoint(),
			RedirectURL:  cfg.RedirectURIs[0],
			Scopes:       []string{oidc.ScopeOpenID, "email", "profile"},
		},
		logs: logs,
	}
}

// login is one browser sign-in: what the client keeps and what it gets back.
type login struct {
	verifier, state, nonce string
	code                   string
}

// signIn drives the browser through authorize → sign-in page → callback and
// returns the code delivered to the redirect URI.
func (e *env) signIn(t *testing.T, subject string) login {
	t.Helper()
	l := login{verifier: oauth2.GenerateVerifier(), state: rand.Text(), nonce: rand.Text()}
	authURL := e.oauth.AuthCodeURL(l.state, oidc.Nonce(l.nonce), oauth2.S256ChallengeOption(l.verifier))

	resp := e.get(t, authURL)
	pageURL := e.location(t, resp, http.StatusFound)
	if !strings.HasPrefix(pageURL.String(), e.cfg.Issuer+"/login?") {
		t.Fatalf("authorize redirected to %s, want the sign-in page", pageURL)
	}

	resp = e.get(t, pageURL.String())
	page := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in page: status %d: %s", resp.StatusCode, page)
	}
	for _, u := range testUsers {
		if !strings.Contains(page, `data-testid="devoidc-user-`+u.Subject+`"`) {
			t.Errorf("sign-in page does not list %s:\n%s", u.Subject, page)
		}
	}
	if want := `action="` + mountPath + `/login"`; !strings.Contains(page, want) {
		t.Errorf("sign-in page has no form with %s", want)
	}
	id := pageURL.Query().Get("id")
	if !strings.Contains(page, `name="id" value="`+id+`"`) {
		t.Errorf("sign-in page does not carry auth request id %q", id)
	}

	resp = e.postChoice(t, id, subject)
	next := e.location(t, resp, http.StatusSeeOther)
	for !strings.HasPrefix(next.String(), e.oauth.RedirectURL) {
		if !strings.HasPrefix(next.String(), e.cfg.Issuer+"/") {
			t.Fatalf("redirected to %s, which is neither the provider nor the client", next)
		}
		next = e.location(t, e.get(t, next.String()), http.StatusFound)
	}
	if got := next.Query().Get("state"); got != l.state {
		t.Fatalf("state = %q, want %q", got, l.state)
	}
	l.code = next.Query().Get("code")
	if l.code == "" {
		t.Fatalf("no code in %s", next)
	}
	return l
}

func (e *env) get(t *testing.T, rawURL string) *http.Response {
	t.Helper()
	resp, err := e.browser.Get(rawURL)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	return resp
}

func (e *env) postChoice(t *testing.T, id, subject string) *http.Response {
	t.Helper()
	resp, err := e.browser.PostForm(e.srv.URL+mountPath+"/login", url.Values{"id": {id}, "subject": {subject}})
	if err != nil {
		t.Fatalf("POST sign-in: %v", err)
	}
	return resp
}

func (e *env) location(t *testing.T, resp *http.Response, wantStatus int) *url.URL {
	t.Helper()
	body := readBody(t, resp)
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s: status %d, want %d: %s", resp.Request.Method, resp.Request.URL, resp.StatusCode, wantStatus, body)
	}
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("%s %s: %v", resp.Request.Method, resp.Request.URL, err)
	}
	return loc
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return string(b)
}

func TestCodeFlow(t *testing.T) {
	e := newEnv(t)
	l := e.signIn(t, "demo-admin")

	ctx := t.Context()
	token, err := e.oauth.Exchange(ctx, l.code, oauth2.VerifierOption(l.verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	rawIDToken, ok := token.Extra("id_token").(string)
	if !ok {
		t.Fatal("token response has no id_token")
	}
	idToken, err := e.provider.Verifier(&oidc.Config{ClientID: clientID}).Verify(ctx, rawIDToken)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
		Name          string `json:"name"`
	}
	if err := idToken.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if idToken.Subject != "demo-admin" || idToken.Nonce != l.nonce ||
		claims.Email != "admin@example.com" || !claims.EmailVerified || claims.Name != "Demo Admin" {
		t.Errorf("ID token sub=%q nonce=%q claims=%+v, want demo-admin, %q, admin@example.com verified, Demo Admin",
			idToken.Subject, idToken.Nonce, claims, l.nonce)
	}
	if err := idToken.VerifyAccessToken(token.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}

	info, err := e.provider.UserInfo(ctx, oauth2.StaticTokenSource(token))
	if err != nil {
		t.Fatalf("UserInfo: %v", err)
	}
	var infoClaims struct {
		Name string `json:"name"`
	}
	if err := info.Claims(&infoClaims); err != nil {
		t.Fatal(err)
	}
	if info.Subject != "demo-admin" || info.Email != "admin@example.com" || !info.EmailVerified || infoClaims.Name != "Demo Admin" {
		t.Errorf("userinfo = %+v name=%q", info, infoClaims.Name)
	}

	for _, secret := range []string{clientSecret, l.code, token.AccessToken, rawIDToken, l.verifier} {
		if strings.Contains(e.logs.String(), secret) {
			t.Errorf("logs contain a secret:\n%s", e.logs)
		}
	}
}

func TestWrongVerifierRefused(t *testing.T) {
	e := newEnv(t)
	l := e.signIn(t, "demo-user")
	_, err := e.oauth.Exchange(t.Context(), l.code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
	assertGrantError(t, err)
}

func TestCodeReuseRefused(t *testing.T) {
	e := newEnv(t)
	// client_secret_post here; TestCodeFlow covers client_secret_basic.
	e.oauth.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	l := e.signIn(t, "demo-user")
	if _, err := e.oauth.Exchange(t.Context(), l.code, oauth2.VerifierOption(l.verifier)); err != nil {
		t.Fatalf("first Exchange: %v", err)
	}
	_, err := e.oauth.Exchange(t.Context(), l.code, oauth2.VerifierOption(l.verifier))
	assertGrantError(t, err)
}

func TestWrongClientSecretRefused(t *testing.T) {
	e := newEnv(t)
	l := e.signIn(t, "demo-user")
	e.oauth.ClientSecret = "wrong"
	_, err := e.oauth.Exchange(t.Context(), l.code, oauth2.VerifierOption(l.verifier))
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || (re.ErrorCode != "invalid_client" && re.ErrorCode != "unauthorized_client") {
		t.Fatalf("Exchange with a wrong secret: err = %v, want invalid_client", err)
	}
}

func assertGrantError(t *testing.T, err error) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("Exchange: err = %v, want an *oauth2.RetrieveError", err)
	}
	if re.ErrorCode != "invalid_grant" {
		t.Fatalf("Exchange: error = %q (%s), want invalid_grant", re.ErrorCode, re.ErrorDescription)
	}
}

func TestUnregisteredRedirectURIRefused(t *testing.T) {
	e := newEnv(t)
	evil := "http://evil.example/callback"
	e.oauth.RedirectURL = evil
	resp := e.get(t, e.oauth.AuthCodeURL("state", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status = %d, want 400: %s", resp.StatusCode, body)
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		t.Errorf("redirected to %s, want no redirect", loc)
	}
}

func TestPlainPKCERefused(t *testing.T) {
	e := newEnv(t)
	resp := e.get(t, e.oauth.AuthCodeURL("state", oauth2.SetAuthURLParam("code_challenge", oauth2.GenerateVerifier())))
	loc := e.location(t, resp, http.StatusFound)
	if !strings.HasPrefix(loc.String(), e.oauth.RedirectURL) || loc.Query().Get("error") != "invalid_request" {
		t.Errorf("redirected to %s, want the client with error=invalid_request", loc)
	}
}

func TestSignInPageErrors(t *testing.T) {
	e := newEnv(t)

	resp := e.get(t, e.cfg.Issuer+"/login?id=unknown")
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `<a href="/">`) {
		t.Errorf("unknown id: status %d, want 400 with a link to /: %s", resp.StatusCode, body)
	}

	resp = e.postChoice(t, "unknown", "demo-admin")
	if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("POST unknown id: status %d, want 400: %s", resp.StatusCode, body)
	}

	authURL := e.oauth.AuthCodeURL("state", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	id := e.location(t, e.get(t, authURL), http.StatusFound).Query().Get("id")

	resp = e.postChoice(t, id, "nobody")
	if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("POST unknown user: status %d, want 400: %s", resp.StatusCode, body)
	}

	req, _ := http.NewRequest(http.MethodPost, e.cfg.Issuer+"/login",
		strings.NewReader(url.Values{"id": {id}, "subject": {"demo-admin"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := e.browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST: status %d, want 403: %s", resp.StatusCode, body)
	}

	// The rejected attempts above must not have spent the request.
	resp = e.get(t, e.cfg.Issuer+"/login?id="+url.QueryEscape(id))
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK {
		t.Errorf("sign-in page after rejected POSTs: status %d: %s", resp.StatusCode, body)
	}
}

func TestSignInPageAccessibilityBasics(t *testing.T) {
	e := newEnv(t)
	authURL := e.oauth.AuthCodeURL("state", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	resp := e.get(t, e.location(t, e.get(t, authURL), http.StatusFound).String())
	page := readBody(t, resp)
	for _, want := range []string{
		`<html lang="en">`, `<title>Floh development sign-in</title>`, `<main>`,
		`never be used in production`, `:focus-visible`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("sign-in page lacks %q", want)
		}
	}
	if n := strings.Count(page, "<h1"); n != 1 {
		t.Errorf("sign-in page has %d h1 elements, want 1", n)
	}
	// Every button must have text of its own to be named by assistive tech.
	for _, m := range regexp.MustCompile(`(?s)<button[^>]*>(.*?)</button>`).FindAllStringSubmatch(page, -1) {
		if strings.TrimSpace(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(m[1], "")) == "" {
			t.Errorf("button without text: %s", m[0])
		}
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "style-src 'sha256-") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
}

func TestEndSessionReturnsToApp(t *testing.T) {
	e := newEnv(t)
	endSession, err := url.Parse(e.cfg.Issuer + "/end_session")
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"client_id": {clientID}, "post_logout_redirect_uri": {e.srv.URL + "/"}, "state": {"s"}}
	endSession.RawQuery = q.Encode()
	loc := e.location(t, e.get(t, endSession.String()), http.StatusFound)
	if want := e.srv.URL + "/?state=s"; loc.String() != want {
		t.Errorf("end_session redirected to %s, want %s", loc, want)
	}

	q.Set("post_logout_redirect_uri", "http://evil.example/")
	endSession.RawQuery = q.Encode()
	resp := e.get(t, endSession.String())
	if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("end_session to an unregistered URI: status %d, want 400: %s", resp.StatusCode, body)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	smallKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	const issuer = "http://127.0.0.1:8080/dev/oidc"
	tests := []struct {
		name   string
		change func(*devoidc.Config)
		want   string
	}{
		{"no issuer", func(c *devoidc.Config) { c.Issuer = "" }, "Issuer is required"},
		{"relative issuer", func(c *devoidc.Config) { c.Issuer = "/dev/oidc" }, "must be an http(s) URL"},
		{"trailing slash", func(c *devoidc.Config) { c.Issuer = issuer + "/" }, "must not end with a slash"},
		{"issuer with odd path", func(c *devoidc.Config) { c.Issuer = "http://127.0.0.1:8080/dev/{oidc}" }, "plain path"},
		{"issuer with unclean path", func(c *devoidc.Config) { c.Issuer = "http://127.0.0.1:8080/dev//oidc" }, "plain path"},
		{"issuer with query", func(c *devoidc.Config) { c.Issuer = issuer + "?x=1" }, "query"},
		{"http without AllowInsecure", func(c *devoidc.Config) { c.AllowInsecure = false }, "set AllowInsecure"},
		{"no client id", func(c *devoidc.Config) { c.ClientID = "" }, "ClientID is required"},
		{"no client secret", func(c *devoidc.Config) { c.ClientSecret = "" }, "ClientSecret is required"},
		{"no redirect URI", func(c *devoidc.Config) { c.RedirectURIs = nil }, "at least one redirect URI"},
		{"relative redirect URI", func(c *devoidc.Config) { c.RedirectURIs = []string{"/auth/callback"} }, "absolute http(s) URL"},
		{"no users", func(c *devoidc.Config) { c.Users = nil }, "at least one user"},
		{"user without subject", func(c *devoidc.Config) { c.Users = []devoidc.User{{Email: "a@example.com", Name: "A"}} }, "no Subject"},
		{"subject with colon", func(c *devoidc.Config) { c.Users = []devoidc.User{{Subject: "a:b", Email: "a@example.com", Name: "A"}} }, "must not contain ':'"},
		{"duplicate subject", func(c *devoidc.Config) { c.Users = append(c.Users, testUsers[0]) }, "listed twice"},
		{"user without email", func(c *devoidc.Config) { c.Users = []devoidc.User{{Subject: "a", Name: "A"}} }, "no Email"},
		{"user without name", func(c *devoidc.Config) { c.Users = []devoidc.User{{Subject: "a", Email: "a@example.com"}} }, "no Name"},
		{"no signing key", func(c *devoidc.Config) { c.SigningKey = nil }, "SigningKey is required"},
		{"small signing key", func(c *devoidc.Config) { c.SigningKey = smallKey }, "at least 2048"},
		{"zero crypto key", func(c *devoidc.Config) { c.CryptoKey = [32]byte{} }, "CryptoKey is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(issuer)
			tt.change(&cfg)
			h, err := devoidc.New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: handler %v, err = %v, want an error containing %q", h, err, tt.want)
			}
		})
	}

	if _, err := devoidc.New(testConfig(issuer)); err != nil {
		t.Fatalf("New with a valid config: %v", err)
	}
}

func TestIssuerWithoutPath(t *testing.T) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	cfg := testConfig(srv.URL)
	cfg.RedirectURIs = []string{srv.URL + callbackPath}
	h, err := devoidc.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mux.Handle("/", h)
	if _, err := oidc.NewProvider(t.Context(), srv.URL); err != nil {
		t.Fatalf("discovery at the root: %v", err)
	}
}
