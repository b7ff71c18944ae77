package handlers_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"

	"floh/connectors/builtin"
	"floh/db"
	"floh/db/dbtest"
	"floh/engine"
	"floh/handlers"
	"floh/handlers/devoidc"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// sundayMorning is a fixed start for a test whose expectations name dates.
var sundayMorning = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)

const (
	clientID     = "floh-test"
	clientSecret = "floh-test-client-secret"
	sessionName  = "floh_sid"
	handshake    = "floh_oidc"
)

// One signing key for the whole package: 2048-bit generation is slow enough to matter.
var signingKey = sync.OnceValue(func() *rsa.PrivateKey {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return key
})

// testServer is the whole app on a real listener: its own Postgres database, the engine on a
// fake clock, and the development OpenID Provider mounted in-process, as `floh serve` runs it.
type testServer struct {
	URL    string
	Issuer string
	DB     *db.DB
	Engine *engine.Engine
	Clock  *clockwork.FakeClock
	// T0 is when Clock started.
	T0         time.Time
	Server     *handlers.Server
	CookieKeys [][]byte
	// Logs is everything the server logged.
	Logs *syncBuffer
	// addr is the listener's address; browsers dial it whatever host the URL names.
	addr string
}

// syncBuffer collects the server's log; it is printed only when the test fails.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serverOption changes how newTestServer builds the server.
type serverOption func(*serverOptions)

type serverOptions struct {
	// publicHost is the host of FLOH_BASE_URL when it is not the listener's address, e.g. a
	// name that only a proxy in front of the server knows; browsers still reach the listener.
	publicHost string
	// start is when the server's fake clock starts; zero means now. River schedules jobs on
	// the wall clock with times from the engine's clock, so a clock started in the past would
	// run a step due in an hour at once, and one in the future would run nothing.
	start time.Time
}

func newTestServer(t *testing.T, opts ...serverOption) *testServer {
	t.Helper()
	var o serverOptions
	for _, f := range opts {
		f(&o)
	}
	d := dbtest.New(t)
	logs := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))

	// The listener exists before the handler, so the handler can be built with its URL.
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	if o.publicHost != "" {
		base = "http://" + o.publicHost
	}
	baseURL, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	start := o.start
	if start.IsZero() {
		start = time.Now().UTC().Truncate(time.Second)
	}
	clock := clockwork.NewFakeClockAt(start)
	reg, err := builtin.Registry()
	if err != nil {
		t.Fatal(err)
	}
	var secretKey [32]byte
	_, _ = rand.Read(secretKey[:])
	eng, err := engine.New(engine.Options{DB: d, Clock: clock, BaseURL: base, Logger: logger,
		Connectors: reg, SecretKey: secretKey[:]})
	if err != nil {
		t.Fatal(err)
	}
	issuer := base + handlers.DevOIDCPath
	users := make([]devoidc.User, len(engine.DemoUsers))
	for i, u := range engine.DemoUsers {
		users[i] = devoidc.User{Subject: u.Subject, Email: u.Email, Name: u.Name, Note: u.Role}
	}
	var cryptoKey [32]byte
	_, _ = rand.Read(cryptoKey[:])
	provider, err := devoidc.New(devoidc.Config{
		Issuer: issuer, ClientID: clientID, ClientSecret: clientSecret,
		RedirectURIs: []string{base + "/api/auth/callback"}, Users: users,
		SigningKey: signingKey(), CryptoKey: cryptoKey, AllowInsecure: true, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.SeedDemoUsers(context.Background(), issuer); err != nil {
		t.Fatal(err)
	}
	keys := [][]byte{randomBytes(32), randomBytes(32)}
	h := handlers.New(handlers.Config{
		Engine: eng, DB: d, BaseURL: baseURL,
		// No HTTPClient: the server reaches its own development provider in-process.
		OIDC:       handlers.OIDCConfig{Issuer: issuer, ClientID: clientID, ClientSecret: clientSecret},
		CookieKeys: keys, DevOIDC: provider, Logger: logger,
		Settings: []handlers.Setting{{Name: "FLOH_ENV", Value: "test"}},
	})
	srv.Config.Handler = h
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(h.Close)
	return &testServer{
		URL: base, Issuer: issuer, DB: d, Engine: eng, Clock: clock, T0: start, Server: h, CookieKeys: keys,
		Logs: logs, addr: srv.Listener.Addr().String(),
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// client is a browser without a session: a cookie jar, and no redirect following, so each
// hop can be checked.
func (ts *testServer) client(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, ts.addr)
		}},
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       20 * time.Second,
	}
}

// loginAs signs a new browser in as a demo user (by subject) through the real code flow.
func (ts *testServer) loginAs(t *testing.T, subject string) *http.Client {
	t.Helper()
	c := ts.client(t)
	ts.login(t, c, subject)
	return c
}

// login signs the browser c in as subject and checks it lands on "/" with a session.
func (ts *testServer) login(t *testing.T, c *http.Client, subject string) {
	t.Helper()
	callback := ts.signInAtProvider(t, c, ts.startLogin(t, c, "/"), subject)
	res := ts.get(t, c, callback)
	if res.Status != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("callback: status %d, Location %q, want 303 to /: %s", res.Status, res.Header.Get("Location"), res.Body)
	}
	if ts.cookie(c, "/", sessionName) == "" {
		t.Fatalf("no %s cookie after login", sessionName)
	}
}

// startLogin is GET /api/auth/login; it returns the provider's authorize URL.
func (ts *testServer) startLogin(t *testing.T, c *http.Client, returnTo string) string {
	t.Helper()
	res := ts.get(t, c, "/api/auth/login?returnTo="+url.QueryEscape(returnTo))
	if res.Status != http.StatusFound {
		t.Fatalf("GET /api/auth/login: status %d, want 302: %s", res.Status, res.Body)
	}
	return res.Header.Get("Location")
}

var signInID = regexp.MustCompile(`name="id" value="([^"]+)"`)

// signInAtProvider goes from the authorize URL through the provider's sign-in page, picks the
// user, and returns the app's callback URL (code and state) without requesting it.
func (ts *testServer) signInAtProvider(t *testing.T, c *http.Client, authorizeURL, subject string) string {
	t.Helper()
	res := ts.get(t, c, authorizeURL)
	if res.Status != http.StatusFound {
		t.Fatalf("authorize: status %d, want 302: %s", res.Status, res.Body)
	}
	page := res.location(t)
	if !strings.HasPrefix(page, ts.Issuer+"/login?") {
		t.Fatalf("authorize redirected to %s, want the sign-in page", page)
	}
	res = ts.get(t, c, page)
	if res.Status != http.StatusOK {
		t.Fatalf("sign-in page: status %d: %s", res.Status, res.Body)
	}
	if !strings.Contains(res.Body, `data-testid="devoidc-user-`+subject+`"`) {
		t.Fatalf("sign-in page does not offer %s", subject)
	}
	m := signInID.FindStringSubmatch(res.Body)
	if m == nil {
		t.Fatalf("sign-in page has no auth request id:\n%s", res.Body)
	}
	res = ts.postForm(t, c, ts.Issuer+"/login", url.Values{"id": {m[1]}, "subject": {subject}})
	if res.Status != http.StatusSeeOther {
		t.Fatalf("sign-in choice: status %d, want 303: %s", res.Status, res.Body)
	}
	next := res.location(t)
	for hops := 0; !strings.HasPrefix(next, ts.URL+"/api/auth/callback?"); hops++ {
		if !strings.HasPrefix(next, ts.Issuer+"/") || hops > 5 {
			t.Fatalf("redirected to %s, which is neither the provider nor the app's callback", next)
		}
		res = ts.get(t, c, next)
		if res.Status != http.StatusFound {
			t.Fatalf("GET %s: status %d, want 302: %s", next, res.Status, res.Body)
		}
		next = res.location(t)
	}
	return next
}

// cookie is the value of the named cookie the browser c would send to path.
func (ts *testServer) cookie(c *http.Client, path, name string) string {
	u, _ := url.Parse(ts.URL + path)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// withCookie is a fresh browser that holds only the given cookie, e.g. a stolen session id.
func (ts *testServer) withCookie(t *testing.T, path, name, value string) *http.Client {
	t.Helper()
	c := ts.client(t)
	u, _ := url.Parse(ts.URL + path)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: path}})
	return c
}

// result is a read response.
type result struct {
	Status int
	Header http.Header
	Body   string
	URL    *url.URL
}

func (r *result) location(t *testing.T) string {
	t.Helper()
	loc := r.Header.Get("Location")
	if loc == "" {
		t.Fatalf("%s: status %d without Location", r.URL, r.Status)
	}
	u, err := r.URL.Parse(loc)
	if err != nil {
		t.Fatalf("%s: Location %q: %v", r.URL, loc, err)
	}
	return u.String()
}

func (r *result) json(t *testing.T, v any) {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s: Content-Type %q, want JSON (status %d): %s", r.URL, ct, r.Status, r.Body)
	}
	if err := json.Unmarshal([]byte(r.Body), v); err != nil {
		t.Fatalf("%s: decode %s: %v", r.URL, r.Body, err)
	}
}

// apiError is the API's error envelope.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"details"`
}

// apiError checks the status and returns the error envelope.
func (r *result) apiError(t *testing.T, status int, code string) apiError {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d: %s", r.URL, r.Status, status, r.Body)
	}
	var body struct {
		Error apiError `json:"error"`
	}
	r.json(t, &body)
	if body.Error.Code != code || body.Error.Message == "" {
		t.Fatalf("%s: error %+v, want code %q with a message", r.URL, body.Error, code)
	}
	return body.Error
}

// hasField reports whether the error's details name field.
func (e apiError) hasField(field string) bool {
	return slices.ContainsFunc(e.Details, func(d struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	}) bool {
		return d.Field == field && d.Message != ""
	})
}

func (r *result) wantStatus(t *testing.T, status int) *result {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d: %s", r.URL, r.Status, status, r.Body)
	}
	return r
}

// do sends one request. target is a path of the app or an absolute URL; body is nil, a
// string or []byte (sent as is), url.Values (a form), a multipartForm or anything else (sent
// as JSON).
func (ts *testServer) do(t *testing.T, c *http.Client, method, target string, body any, h ...string) *result {
	t.Helper()
	if strings.HasPrefix(target, "/") {
		target = ts.URL + target
	}
	var rd io.Reader
	contentType := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, contentType = strings.NewReader(b), "application/json"
	case []byte:
		rd, contentType = bytes.NewReader(b), "application/json"
	case url.Values:
		rd, contentType = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	case multipartForm:
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for k, vs := range b.fields {
			for _, v := range vs {
				if err := mw.WriteField(k, v); err != nil {
					t.Fatal(err)
				}
			}
		}
		for field, f := range b.files {
			part, err := mw.CreateFormFile(field, f.name)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := part.Write(f.content); err != nil {
				t.Fatal(err)
			}
		}
		if err := mw.Close(); err != nil {
			t.Fatal(err)
		}
		rd, contentType = &buf, mw.FormDataContentType()
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd, contentType = bytes.NewReader(raw), "application/json"
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(h); i += 2 {
		req.Header.Set(h[i], h[i+1])
	}
	if c == nil {
		c = ts.client(t)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, target, err)
	}
	return &result{Status: resp.StatusCode, Header: resp.Header, Body: string(b), URL: req.URL}
}

// multipartForm is a multipart/form-data body, as a form with a file input posts it: its
// fields, and its files by field name. A file input with nothing chosen is a file with no name.
type multipartForm struct {
	fields url.Values
	files  map[string]uploadFile
}

type uploadFile struct {
	name    string
	content []byte
}

func (ts *testServer) get(t *testing.T, c *http.Client, target string, h ...string) *result {
	t.Helper()
	return ts.do(t, c, http.MethodGet, target, nil, h...)
}

func (ts *testServer) postForm(t *testing.T, c *http.Client, target string, form url.Values, h ...string) *result {
	t.Helper()
	return ts.do(t, c, http.MethodPost, target, form, h...)
}

// sameOrigin are the headers a browser sends on a form post or fetch from the app's own page.
func (ts *testServer) sameOrigin() []string {
	return []string{"Origin", ts.URL, "Sec-Fetch-Site", "same-origin"}
}

// crossSite are the headers a browser sends when another site makes it post to the app.
var crossSite = []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}

// bearer is the Authorization header of an API token.
func bearer(token string) []string { return []string{"Authorization", "Bearer " + token} }

// demo is the seeded demo user with this subject.
func (ts *testServer) demo(t *testing.T, subject string) *db.User {
	t.Helper()
	u, err := db.FindUserByIdentity(context.Background(), ts.DB.Bun, ts.Issuer, subject)
	if err != nil {
		t.Fatalf("demo user %s: %v", subject, err)
	}
	return u
}

// userByID reads a user straight from the database.
func (ts *testServer) userByID(t *testing.T, id uuid.UUID) *db.User {
	t.Helper()
	u, err := db.FindUser(context.Background(), ts.DB.Bun, id)
	if err != nil {
		t.Fatalf("user %s: %v", id, err)
	}
	return u
}

// token creates an API token owned by u; nil perms means all of the owner's permissions.
func (ts *testServer) token(t *testing.T, u *db.User, perms []string) string {
	t.Helper()
	tok, err := ts.Engine.CreateToken(context.Background(), engine.Actor{UserID: &u.ID, Label: u.Email}, u.ID,
		engine.CreateTokenInput{Name: "test token", Permissions: perms})
	if err != nil {
		t.Fatalf("create token for %s: %v", u.Email, err)
	}
	return tok.Token
}

// count runs a SELECT count(*) query.
func (ts *testServer) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := ts.DB.Bun.NewRaw(query, args...).Scan(context.Background(), &n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// snapshot counts the rows every write touches, to show a refused request changed nothing.
func (ts *testServer) snapshot(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"users", "user_roles", "user_profiles", "audit_log", "api_tokens"} {
		out[table] = ts.count(t, "SELECT count(*) FROM "+table)
	}
	out["deleted users"] = ts.count(t, "SELECT count(*) FROM users WHERE deleted_at IS NOT NULL")
	return out
}

func (ts *testServer) wantUnchanged(t *testing.T, before map[string]int) {
	t.Helper()
	after := ts.snapshot(t)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s: %d rows before, %d after; the refused request wrote", k, v, after[k])
		}
	}
}

// auditEntries lists the audit entries with this action, newest first.
func (ts *testServer) auditEntries(t *testing.T, action string) []db.AuditEntry {
	t.Helper()
	entries, _, err := db.ListAudit(context.Background(), ts.DB.Bun, db.AuditFilter{Action: action, Page: db.Page{Page: 1, PageSize: 100}})
	if err != nil {
		t.Fatal(err)
	}
	return entries
}
