// Package scimtest runs a SCIM 2.0 service provider (RFC 7643, RFC 7644) built on
// github.com/elimity-com/scim, with in-memory Users and Groups, for the scim connector's tests
// and for local development. It authenticates like a real provider (a bearer token, basic
// credentials, or access tokens from its own OAuth2 client-credentials endpoint), stamps
// meta.lastModified from an injectable clock, and can be told to fail the next calls.
package scimtest

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/elimity-com/scim"
	"github.com/elimity-com/scim/optional"
	"github.com/jonboulle/clockwork"
)

// Options configures a Server. Leave a credential empty to refuse that way of authenticating.
type Options struct {
	// BearerToken is a static token accepted as "Authorization: Bearer <token>".
	BearerToken string
	// Username and Password are accepted as HTTP basic credentials.
	Username, Password string
	// ClientID and ClientSecret are the OAuth2 client the token endpoint (TokenURL) accepts;
	// the access tokens it issues are accepted as bearer tokens until they expire.
	ClientID, ClientSecret string
	// TokenTTL is how long an issued access token lives (default one hour).
	TokenTTL time.Duration
	// MaxResults caps a page, as real service providers do (default 100).
	MaxResults int
	// Clock stamps meta.created and meta.lastModified and expires access tokens (default: the
	// real clock).
	Clock clockwork.Clock
	// Addr is the address to listen on (default 127.0.0.1:0, a free loopback port).
	Addr string
}

// Request is one call the SCIM endpoints received, as tests assert it.
type Request struct {
	Method string
	Path   string // below the base URL, e.g. /Users/42
	Query  url.Values
	// Scheme is the Authorization scheme the client used ("Bearer", "Basic"), never the
	// credential.
	Scheme string
}

// Server is a running SCIM service provider.
type Server struct {
	// URL is the SCIM base URL, ending in /scim/v2.
	URL string
	// TokenURL is the OAuth2 token endpoint (client credentials grant).
	TokenURL string

	opts  Options
	clock clockwork.Clock
	http  *httptest.Server
	api   http.Handler // the elimity-com/scim server, without auth or faults

	mu         sync.Mutex
	tokens     map[string]time.Time // access token → expiry
	issued     int
	requests   []Request
	faultCount int
	fault      int // HTTP status of injected failures
	retryAfter time.Duration
}

// New starts a server. Close it when done. Like httptest.NewServer, it panics if it cannot
// listen.
func New(opts Options) *Server {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.TokenTTL == 0 {
		opts.TokenTTL = time.Hour
	}
	if opts.MaxResults == 0 {
		opts.MaxResults = 100
	}
	s := &Server{opts: opts, clock: opts.Clock, tokens: map[string]time.Time{}}
	st := newStore(opts.Clock)
	api, err := scim.NewServer(&scim.ServerArgs{
		ServiceProviderConfig: &scim.ServiceProviderConfig{
			MaxResults:       opts.MaxResults,
			SupportFiltering: true,
			SupportPatch:     true,
			AuthenticationSchemes: []scim.AuthenticationScheme{
				{Type: scim.AuthenticationTypeOauthBearerToken, Name: "OAuth Bearer Token", Description: "A static token or one from the client-credentials token endpoint.", Primary: true},
				{Type: scim.AuthenticationTypeHTTPBasic, Name: "HTTP Basic", Description: "A username and password."},
			},
		},
		ResourceTypes: []scim.ResourceType{
			{
				ID:          optional.NewString("User"),
				Name:        "User",
				Description: optional.NewString("User Account"),
				Endpoint:    "/Users",
				Schema:      st.users.schema,
				Handler:     &handler{store: st, coll: st.users},
			},
			{
				ID:          optional.NewString("Group"),
				Name:        "Group",
				Description: optional.NewString("Group"),
				Endpoint:    "/Groups",
				Schema:      st.groups.schema,
				Handler:     &handler{store: st, coll: st.groups},
			},
		},
	})
	if err != nil {
		// Only missing arguments fail here, and every argument is given above.
		panic("scimtest: " + err.Error())
	}
	s.api = api

	mux := http.NewServeMux()
	mux.Handle("/scim/", http.StripPrefix("/scim", s.guard(api)))
	mux.HandleFunc("POST /oauth/token", s.issueToken)
	s.http = httptest.NewUnstartedServer(mux)
	if opts.Addr != "" {
		ln, err := net.Listen("tcp", opts.Addr)
		if err != nil {
			panic(fmt.Sprintf("scimtest: listen on %s: %v", opts.Addr, err))
		}
		s.http.Listener = ln
	}
	s.http.Start()
	s.URL = s.http.URL + "/scim/v2"
	s.TokenURL = s.http.URL + "/oauth/token"
	return s
}

// Close stops the server and closes its connections.
func (s *Server) Close() { s.http.Close() }

// FailNext makes the next n calls to the SCIM endpoints answer status (429, 500, 503, ...)
// with a SCIM error, and a Retry-After header when retryAfter is positive. The token endpoint
// is not affected.
func (s *Server) FailNext(n, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faultCount, s.fault, s.retryAfter = n, status, retryAfter
}

// Requests returns the calls the SCIM endpoints received so far, injected failures included.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// TokensIssued counts the access tokens the token endpoint has issued.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued
}

// RevokeTokens invalidates every issued access token, as an administrator of the app would.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// AddUser creates a user from SCIM attributes ({"userName": "jdoe", "active": true, ...}) as
// a POST /Users would, and returns its id.
func (s *Server) AddUser(attrs map[string]any) (string, error) {
	return s.create("/Users", "urn:ietf:params:scim:schemas:core:2.0:User", attrs)
}

// AddGroup creates a group with the given members (user ids) and returns its id.
func (s *Server) AddGroup(displayName string, memberIDs ...string) (string, error) {
	members := make([]any, len(memberIDs))
	for i, id := range memberIDs {
		members[i] = map[string]any{"value": id}
	}
	return s.create("/Groups", "urn:ietf:params:scim:schemas:core:2.0:Group", map[string]any{"displayName": displayName, "members": members})
}

// User returns a user as GET /Users/{id} represents it, or false when there is none.
func (s *Server) User(id string) (map[string]any, bool) { return s.get("/Users/" + url.PathEscape(id)) }

// Group returns a group as GET /Groups/{id} represents it, or false when there is none.
func (s *Server) Group(id string) (map[string]any, bool) {
	return s.get("/Groups/" + url.PathEscape(id))
}

// create and get go through the SCIM server in process, so seeded data passes the same
// validation as data a client sends.
func (s *Server) create(endpoint, schemaID string, attrs map[string]any) (string, error) {
	body := map[string]any{"schemas": []string{schemaID}}
	for k, v := range attrs {
		body[k] = v
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return "", fmt.Errorf("scimtest: encode %s: %w", endpoint, err)
	}
	rec := httptest.NewRecorder()
	s.api.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v2"+endpoint, bytes.NewReader(raw)))
	if rec.Code != http.StatusCreated {
		return "", fmt.Errorf("scimtest: POST %s: %d %s", endpoint, rec.Code, rec.Body)
	}
	var created struct{ ID string }
	if err := json.Unmarshal(rec.Body.Bytes(), &created); err != nil {
		return "", fmt.Errorf("scimtest: decode POST %s: %w", endpoint, err)
	}
	return created.ID, nil
}

func (s *Server) get(path string) (map[string]any, bool) {
	rec := httptest.NewRecorder()
	s.api.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v2"+path, nil))
	if rec.Code != http.StatusOK {
		return nil, false
	}
	var res map[string]any
	return res, json.Unmarshal(rec.Body.Bytes(), &res) == nil
}

// guard records each call, injects the requested failures, then authenticates.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		s.mu.Lock()
		s.requests = append(s.requests, Request{Method: r.Method, Path: strings.TrimPrefix(r.URL.Path, "/v2"), Query: r.URL.Query(), Scheme: scheme})
		fault, retryAfter := 0, time.Duration(0)
		if s.faultCount > 0 {
			s.faultCount--
			fault, retryAfter = s.fault, s.retryAfter
		}
		s.mu.Unlock()
		if fault != 0 {
			if retryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter.Round(time.Second)/time.Second)))
			}
			writeError(w, fault, "", "injected failure")
			return
		}
		if !s.authenticated(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="scimtest"`)
			writeError(w, http.StatusUnauthorized, "", "The credentials were missing or not accepted.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) authenticated(r *http.Request) bool {
	scheme, credential, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	switch strings.ToLower(scheme) {
	case "bearer":
		if s.opts.BearerToken != "" && same(credential, s.opts.BearerToken) {
			return true
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		expiry, ok := s.tokens[credential]
		return ok && s.clock.Now().Before(expiry)
	case "basic":
		user, password, ok := r.BasicAuth()
		return ok && s.opts.Username != "" && same(user, s.opts.Username) && same(password, s.opts.Password)
	}
	return false
}

// issueToken is an OAuth2 token endpoint for the client credentials grant (RFC 6749 §4.4). It
// takes the client's credentials from basic auth (form-encoded, §2.3.1) or from the form, as
// golang.org/x/oauth2 may send either.
func (s *Server) issueToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		id, _ = url.QueryUnescape(u)
		secret, _ = url.QueryUnescape(p)
	}
	if s.opts.ClientID == "" || !same(id, s.opts.ClientID) || !same(secret, s.opts.ClientSecret) {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	token := rand.Text()
	s.mu.Lock()
	s.tokens[token] = s.clock.Now().Add(s.opts.TokenTTL)
	s.issued++
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": token, "token_type": "Bearer", "expires_in": int(s.opts.TokenTTL / time.Second)})
}

func oauthError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}

// writeError answers with a SCIM error body (RFC 7644 §3.12).
func writeError(w http.ResponseWriter, status int, scimType, detail string) {
	body := map[string]any{
		"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:Error"},
		"status":  strconv.Itoa(status),
		"detail":  detail,
	}
	if scimType != "" {
		body["scimType"] = scimType
	}
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// same compares credentials in constant time.
func same(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
