// Package authifitest runs an in-memory Authifi admin API over HTTP, for the authifi
// connector's tests and for fixtures outside go test (a Playwright run). It implements
// docs/authifi-api.md rather than whatever the connector happens to send, so the two cannot
// drift into agreeing with each other. Fault injection adds what a healthy tenant never shows
// on demand: throttling, 5xx answers and rejected tokens.
package authifitest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"floh/connectors"
)

// apiPrefix is where the API lives on the server, so URL looks like a real tenant's baseUrl.
const apiPrefix = "/_api"

// Options configure a server. The zero value is usable.
type Options struct {
	// Tenant is the slug in the token URL; "test" when empty.
	Tenant string
	// TenantID is the id in admin URLs; "42" when empty.
	TenantID string
	// ClientID and ClientSecret are a client registered with the admin scope; "floh" and
	// "floh-secret" when empty. AddClient registers more.
	ClientID     string
	ClientSecret string
	// TokenTTL is the lifetime of issued tokens (expires_in); one hour when zero.
	TokenTTL time.Duration
	// Clock drives token expiry, createdAt/updatedAt and the role cache; the real clock when nil.
	Clock clockwork.Clock
	// Addr is the address to listen on, e.g. "127.0.0.1:8089" for a fixture with a fixed
	// port; a free loopback port when empty.
	Addr string
}

// Server is a running fake Authifi. Its methods are safe for concurrent use.
type Server struct {
	// URL is the API base URL, the connector's baseUrl (http://127.0.0.1:PORT/_api).
	URL string

	opts  Options
	clock clockwork.Clock
	srv   *httptest.Server

	mu      sync.Mutex
	clients map[string]client
	tokens  map[string]token
	users   map[string]*user
	deleted map[string]bool // ids of deleted users: removing their roles is still a 200
	groups  map[string]*Group
	seq     int
	faults  []fault
	calls   []Call
}

type client struct {
	secret     string
	adminScope bool
}

type token struct {
	clientID   string
	adminScope bool
	expires    time.Time
}

// fault is an injected answer for the next matching calls.
type fault struct {
	path string
	// pass is how many matching calls go through before the fault answers.
	pass       int
	remaining  int
	status     int
	retryAfter time.Duration
}

// Call is one request the server received, for tests that count calls.
type Call struct {
	Method string
	Path   string // the URL path, e.g. /_api/tenants/42/users
	Query  string
	Status int
}

// New starts a server. Close it when done. It needs no testing.TB, so fixtures outside go
// test can run it.
func New(opts Options) (*Server, error) {
	if opts.Tenant == "" {
		opts.Tenant = "test"
	}
	if opts.TenantID == "" {
		opts.TenantID = "42"
	}
	if opts.ClientID == "" {
		opts.ClientID = "floh"
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = "floh-secret"
	}
	if opts.TokenTTL == 0 {
		opts.TokenTTL = time.Hour
	}
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("authifitest: listen on %s: %w", addr, err)
	}
	s := &Server{
		opts:    opts,
		clock:   opts.Clock,
		clients: map[string]client{opts.ClientID: {secret: opts.ClientSecret, adminScope: true}},
		tokens:  map[string]token{},
		users:   map[string]*user{},
		deleted: map[string]bool{},
		groups:  map[string]*Group{},
	}
	s.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: s.routes()}}
	s.srv.Start()
	s.URL = s.srv.URL + apiPrefix
	return s, nil
}

// Start starts a server that closes when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Config is a connector config for this server's tenant and default client.
func (s *Server) Config() connectors.Config {
	return connectors.Config{
		"baseUrl":      s.URL,
		"tenant":       s.opts.Tenant,
		"tenantId":     s.opts.TenantID,
		"clientId":     s.opts.ClientID,
		"clientSecret": s.opts.ClientSecret,
	}
}

// AddClient registers a client. Without adminScope its tokens are issued but every admin
// call answers 403 INSUFFICIENT_SCOPE.
func (s *Server) AddClient(id, secret string, adminScope bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[id] = client{secret: secret, adminScope: adminScope}
}

// RevokeTokens invalidates every token issued so far, so the next admin call with one answers
// 401. (Expiry needs no method: advance the clock past TokenTTL.)
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// RateLimit makes the next n calls whose path contains path (every call when path is "")
// answer 429 with Retry-After in whole seconds.
func (s *Server) RateLimit(n int, path string, retryAfter time.Duration) {
	s.inject(fault{path: path, remaining: n, status: http.StatusTooManyRequests, retryAfter: retryAfter})
}

// Fail makes the next n calls whose path contains path (every call when path is "") answer
// status with an error body: a 5xx, or a 401 that no token refresh cures.
func (s *Server) Fail(n int, path string, status int) {
	s.inject(fault{path: path, remaining: n, status: status})
}

// FailAfter lets the next pass calls whose path contains path through, then makes the n after
// them answer status: a listing that fails after its first pages.
func (s *Server) FailAfter(pass, n int, path string, status int) {
	s.inject(fault{path: path, pass: pass, remaining: n, status: status})
}

// ClearFaults drops the injected failures not yet answered: the upstream recovers.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

func (s *Server) inject(f fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// Calls lists the requests received so far, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// TokenFetches counts the requests to the token endpoint.
func (s *Server) TokenFetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if strings.HasSuffix(c.Path, "/oauth/token") {
			n++
		}
	}
	return n
}

// routes maps the contract's endpoints. Everything runs under s.mu: the handlers only touch
// memory, so one lock keeps every answer consistent.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+apiPrefix+"/auth/{tenant}/oauth/token", s.issueToken)
	admin := func(pattern string, h func(*http.Request) (int, any)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if status, body := s.authorize(r); status != 0 {
				writeJSON(w, status, body)
				return
			}
			status, body := h(r)
			writeJSON(w, status, body)
		})
	}
	t := apiPrefix + "/tenants/{tenantId}"
	admin("GET "+t+"/users", s.listUsers)
	admin("POST "+t+"/users", s.createUser)
	admin("GET "+t+"/users/{id}", s.getUser)
	admin("DELETE "+t+"/users/{id}", s.deleteUser)
	admin("POST "+t+"/users/{id}/roles", s.addRoles)
	admin("DELETE "+t+"/users/{id}/roles", s.removeRoles)
	admin("PUT "+t+"/users/{id}/password", s.setPassword)
	admin("POST "+t+"/users/{id}/identities", s.linkIdentity)
	admin("DELETE "+t+"/users/{id}/identities", s.unlinkIdentity)
	admin("GET "+t+"/groups", s.listGroups)
	admin("GET "+t+"/groups/{id}", s.getGroup)
	admin("GET "+t+"/groups/{id}/members", s.listMembers)
	admin("POST "+t+"/groups/{id}/members", s.addMember)
	admin("GET "+t+"/groups/{id}/members/{userId}", s.checkMember)
	admin("DELETE "+t+"/groups/{id}/members/{userId}", s.removeMember)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeFail(w, http.StatusNotFound, "NOT_FOUND", "no endpoint %s %s", r.Method, r.URL.Path)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		s.mu.Lock()
		defer s.mu.Unlock()
		if f := s.takeFault(r.URL.Path); f != nil {
			if f.status == http.StatusTooManyRequests {
				rec.Header().Set("Retry-After", fmt.Sprint(int(f.retryAfter.Seconds())))
			}
			writeFail(rec, f.status, faultCode(f.status), "injected failure")
		} else {
			mux.ServeHTTP(rec, r)
		}
		s.calls = append(s.calls, Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Status: rec.status})
	})
}

func (s *Server) takeFault(path string) *fault {
	for i := range s.faults {
		f := &s.faults[i]
		if f.remaining > 0 && strings.Contains(path, f.path) {
			if f.pass > 0 {
				f.pass--
				return nil
			}
			f.remaining--
			return f
		}
	}
	return nil
}

func faultCode(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "INVALID_TOKEN"
	case status == http.StatusForbidden:
		return "INSUFFICIENT_SCOPE"
	case status == http.StatusTooManyRequests:
		return "RATE_LIMITED"
	case status == http.StatusServiceUnavailable:
		return "SERVICE_UNAVAILABLE"
	case status >= 500:
		return "INTERNAL_ERROR"
	}
	return "INJECTED"
}

// issueToken is the client-credentials grant.
func (s *Server) issueToken(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("tenant") != s.opts.Tenant {
		writeFail(w, http.StatusNotFound, "TENANT_NOT_FOUND", "no tenant %q", r.PathValue("tenant"))
		return
	}
	if err := r.ParseForm(); err != nil {
		writeFail(w, http.StatusBadRequest, "INVALID_REQUEST", "the body is not a form")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		writeFail(w, http.StatusBadRequest, "UNSUPPORTED_GRANT_TYPE", "grant_type %q is not supported", gt)
		return
	}
	id := r.PostForm.Get("client_id")
	c, ok := s.clients[id]
	if !ok || subtle.ConstantTimeCompare([]byte(c.secret), []byte(r.PostForm.Get("client_secret"))) != 1 {
		writeFail(w, http.StatusUnauthorized, "INVALID_CLIENT", "client authentication failed")
		return
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	access := hex.EncodeToString(b)
	s.tokens[access] = token{clientID: id, adminScope: c.adminScope, expires: s.clock.Now().Add(s.opts.TokenTTL)}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": access,
		"token_type":   "Bearer",
		"expires_in":   int(s.opts.TokenTTL.Seconds()),
	})
}

// authorize checks the bearer token, its scope and the tenant; status 0 means go ahead.
func (s *Server) authorize(r *http.Request) (int, any) {
	access, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return fail(http.StatusUnauthorized, "INVALID_TOKEN", "a bearer token is required")
	}
	tok, ok := s.tokens[access]
	if !ok {
		return fail(http.StatusUnauthorized, "INVALID_TOKEN", "the token is not valid")
	}
	if !s.clock.Now().Before(tok.expires) {
		return fail(http.StatusUnauthorized, "INVALID_TOKEN", "the token has expired")
	}
	if !tok.adminScope {
		return fail(http.StatusForbidden, "INSUFFICIENT_SCOPE", "client %s lacks the admin API scope", tok.clientID)
	}
	if r.PathValue("tenantId") != s.opts.TenantID {
		return fail(http.StatusNotFound, "TENANT_NOT_FOUND", "no tenant with id %q", r.PathValue("tenantId"))
	}
	return 0, nil
}

// errorBody is the contract's error envelope.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func fail(status int, code, format string, args ...any) (int, any) {
	var b errorBody
	b.Error.Code = code
	b.Error.Message = fmt.Sprintf(format, args...)
	return status, b
}

func writeFail(w http.ResponseWriter, status int, code, format string, args ...any) {
	_, body := fail(status, code, format, args...)
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	if body == nil {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

// decode reads a JSON request body into v, or returns the 400 to send.
func decode(r *http.Request, v any) (int, any) {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return fail(http.StatusBadRequest, "INVALID_FIELD", "the body is not the expected JSON: %v", err)
	}
	return 0, nil
}

// now is the server's time as the API reports it: UTC, whole seconds.
func (s *Server) now() time.Time { return s.clock.Now().UTC().Truncate(time.Second) }

func (s *Server) nextID(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s_%06d", prefix, s.seq)
}
