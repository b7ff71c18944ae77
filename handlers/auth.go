package handlers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"floh/db"
	"floh/engine"
	"floh/views"
)

// handshakeTTL bounds how long a login may take at the provider.
const handshakeTTL = 10 * time.Minute

const handshakeCookie = "floh_oidc"

// oidcClient discovers the provider on first use, so the server can start (and mount its own
// development provider) before the provider answers.
type oidcClient struct {
	cfg         OIDCConfig
	redirectURL string

	mu       sync.Mutex
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func newOIDCClient(cfg OIDCConfig, redirectURL string) *oidcClient {
	return &oidcClient{cfg: cfg, redirectURL: redirectURL}
}

func (c *oidcClient) ctx(ctx context.Context) context.Context {
	if c.cfg.HTTPClient != nil {
		return oidc.ClientContext(ctx, c.cfg.HTTPClient)
	}
	return ctx
}

func (c *oidcClient) load(ctx context.Context) (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.oauth != nil {
		return c.oauth, c.verifier, nil
	}
	// go-oidc keeps only the HTTP client of this context for later key fetches, so a
	// deadline here bounds discovery without cutting those short.
	dctx, cancel := context.WithTimeout(c.ctx(context.WithoutCancel(ctx)), 15*time.Second)
	defer cancel()
	provider, err := oidc.NewProvider(dctx, c.cfg.Issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("discover OIDC provider %s: %w", c.cfg.Issuer, err)
	}
	c.oauth = &oauth2.Config{
		ClientID:     c.cfg.ClientID,
		ClientSecret: c.cfg.ClientSecret,
		Endpoint:     provider.Endpoint(),
		RedirectURL:  c.redirectURL,
		Scopes:       []string{oidc.ScopeOpenID, "email", "profile"},
	}
	c.verifier = provider.Verifier(&oidc.Config{ClientID: c.cfg.ClientID})
	return c.oauth, c.verifier, nil
}

// inProcessClient reaches a handler mounted in this server without a network round trip, so
// the development provider works whatever FLOH_BASE_URL resolves to from inside the server.
func inProcessClient(h http.Handler) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec.Result(), nil
	}), Timeout: 15 * time.Second}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// safeReturnTo accepts only a same-origin path; anything else becomes "/". The result is
// checked again after normalisation: "/%2F x" re-encodes to "//%20x", which a browser reads as
// another host.
func safeReturnTo(s string) string {
	if !strings.HasPrefix(s, "/") || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) {
		return "/"
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	out := u.RequestURI()
	if !strings.HasPrefix(out, "/") || strings.HasPrefix(out, "//") || strings.HasPrefix(u.Path, "/api/auth/") {
		return "/"
	}
	return out
}

// login starts the code flow: 302 straight to the provider with state, nonce and PKCE.
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	oauth, _, err := s.oidc.load(r.Context())
	if err != nil {
		s.log.Error("oidc discovery", "request_id", requestID(r), "error", err)
		return s.loginFailed(w, r, http.StatusBadGateway, "The identity provider cannot be reached",
			"Floh could not contact "+s.cfg.OIDC.Issuer+". Try again in a minute; if it persists, check OIDC_ISSUER and the provider's status.")
	}
	state, nonce, verifier := randomToken(), randomToken(), oauth2.GenerateVerifier()
	sess, _ := s.handshake.New(r, handshakeCookie)
	sess.Values["state"] = state
	sess.Values["nonce"] = nonce
	sess.Values["verifier"] = verifier
	sess.Values["return_to"] = safeReturnTo(r.URL.Query().Get("returnTo"))
	if err := sess.Save(r, w); err != nil {
		return fmt.Errorf("save login handshake: %w", err)
	}
	http.Redirect(w, r, oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), http.StatusFound)
	return nil
}

// loginFailed shows why a sign-in failed, with a way to start again, and records it as an
// auth event: repeated failures are what admins look for after an incident.
func (s *Server) loginFailed(w http.ResponseWriter, r *http.Request, status int, heading, msg string) error {
	if err := s.engine.RecordLoginFailure(r.Context(), clientIP(r), heading, msg); err != nil {
		s.log.Error("record login failure", "request_id", requestID(r), "error", err)
	}
	s.render(w, r, status, views.ErrorView(views.ErrorPage{
		Page: s.page(r, heading, ""), Status: status, Heading: heading, Message: msg,
		NextHref: "/api/auth/login", NextLabel: "Sign in again",
	}))
	return nil
}

// callback completes the code flow and starts a fresh session.
func (s *Server) callback(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	sess, err := s.handshake.Get(r, handshakeCookie)
	state, _ := sess.Values["state"].(string)
	if err != nil || state == "" {
		return s.loginFailed(w, r, http.StatusBadRequest, "Sign-in expired",
			"This sign-in was started more than 10 minutes ago, in another browser, or was already completed. Start again.")
	}
	// The handshake is single-use whatever happens next.
	sess.Options.MaxAge = -1
	if err := sess.Save(r, w); err != nil {
		return fmt.Errorf("clear login handshake: %w", err)
	}
	if e := q.Get("error"); e != "" {
		desc := q.Get("error_description")
		s.log.Warn("oidc provider refused login", "request_id", requestID(r), "error", e, "description", desc)
		return s.loginFailed(w, r, http.StatusBadRequest, "The identity provider refused the sign-in",
			strings.TrimSpace("The provider answered "+e+". "+desc))
	}
	if q.Get("state") != state {
		return s.loginFailed(w, r, http.StatusBadRequest, "Sign-in could not be verified",
			"The answer from the identity provider does not belong to this sign-in (state mismatch). Start again.")
	}
	stateHash := sha256.Sum256([]byte(state))
	fresh, err := db.ConsumeOIDCState(ctx, s.db.Bun, stateHash[:], s.engine.Clock().Now().Add(handshakeTTL))
	if err != nil {
		return err
	}
	if !fresh {
		return s.loginFailed(w, r, http.StatusBadRequest, "Sign-in already used",
			"This sign-in answer was already used once and cannot be replayed. Start again.")
	}
	oauth, verifier, err := s.oidc.load(ctx)
	if err != nil {
		return err
	}
	codeVerifier, _ := sess.Values["verifier"].(string)
	tok, err := oauth.Exchange(s.oidc.ctx(ctx), q.Get("code"), oauth2.VerifierOption(codeVerifier))
	if err != nil {
		s.log.Warn("oidc code exchange failed", "request_id", requestID(r), "error", err)
		return s.loginFailed(w, r, http.StatusBadGateway, "Sign-in could not be completed",
			"The identity provider did not accept the sign-in code. Start again.")
	}
	rawID, _ := tok.Extra("id_token").(string)
	idTok, err := verifier.Verify(s.oidc.ctx(ctx), rawID)
	nonce, _ := sess.Values["nonce"].(string)
	if err != nil || idTok.Nonce != nonce {
		s.log.Warn("oidc id token rejected", "request_id", requestID(r), "error", err)
		return s.loginFailed(w, r, http.StatusBadGateway, "Sign-in could not be verified",
			"The identity provider's ID token did not verify. Start again; if it persists, check the provider configuration.")
	}
	var claims struct {
		Email          string `json:"email"`
		EmailVerified  bool   `json:"email_verified"`
		Name           string `json:"name"`
		UpstreamIssuer string `json:"upstream_issuer"`
	}
	if err := idTok.Claims(&claims); err != nil {
		return fmt.Errorf("read id token claims: %w", err)
	}
	u, err := s.engine.Login(ctx, engine.LoginClaims{
		Issuer: idTok.Issuer, Subject: idTok.Subject, Email: claims.Email, EmailVerified: claims.EmailVerified,
		Name: claims.Name, UpstreamIssuer: claims.UpstreamIssuer, IP: clientIP(r),
	})
	var refused *engine.LoginRefusedError
	if errors.As(err, &refused) {
		return s.loginFailed(w, r, http.StatusForbidden, "Sign-in refused", refused.Message)
	} else if err != nil {
		return err
	}
	// A new, empty session at login: a session id planted before login is worthless after it,
	// and nothing of a previous user on this browser (a pending flash) carries over.
	if err := s.sessions.Clear(ctx); err != nil {
		return fmt.Errorf("clear session: %w", err)
	}
	if err := s.sessions.RenewToken(ctx); err != nil {
		return fmt.Errorf("renew session: %w", err)
	}
	now := s.engine.Clock().Now().Unix()
	s.sessions.Put(ctx, sessUserID, u.ID.String())
	s.sessions.Put(ctx, sessLogin, now)
	s.sessions.Put(ctx, sessSeen, now)
	returnTo, _ := sess.Values["return_to"].(string)
	http.Redirect(w, r, safeReturnTo(returnTo), http.StatusSeeOther)
	return nil
}

func (s *Server) endSession(r *http.Request) error {
	if p := principalFrom(r); p != nil && !viaBearer(r) {
		if err := s.engine.Logout(r.Context(), p.Actor()); err != nil {
			return err
		}
	}
	return s.sessions.Destroy(r.Context())
}

// logoutAPI ends the session of a cookie-authenticated script or page.
func (s *Server) logoutAPI(w http.ResponseWriter, r *http.Request) error {
	if err := s.endSession(r); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// logoutPage is the header's Sign out button.
func (s *Server) logoutPage(w http.ResponseWriter, r *http.Request) error {
	if err := s.endSession(r); err != nil {
		return err
	}
	return redirect(w, r, "/signed-out")
}

func (s *Server) signedOut(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, http.StatusOK, views.SignedOut(views.SignedOutPage{
		Page: s.page(r, "Signed out", ""), LoginHref: "/api/auth/login",
	}))
	return nil
}

type meResponse struct {
	ID          string   `json:"id"`
	Email       string   `json:"email"`
	DisplayName string   `json:"displayName"`
	Roles       []string `json:"roles"`
	Permissions []string `json:"permissions"`
	// AuthenticatedWith is "session" or "token".
	AuthenticatedWith string `json:"authenticatedWith"`
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r)
	via := "session"
	if viaBearer(r) {
		via = "token"
	}
	return writeJSON(w, http.StatusOK, meResponse{
		ID: p.User.ID.String(), Email: p.User.Email, DisplayName: p.User.DisplayName,
		Roles: p.User.Roles, Permissions: p.Permissions.List(), AuthenticatedWith: via,
	})
}

type sessionInfo struct {
	MaxSessionLifetime       int `json:"maxSessionLifetime"`
	MaxIdleSessionLifetime   int `json:"maxIdleSessionLifetime"`
	RemainingSessionLifetime int `json:"remainingSessionLifetime"`
	RemainingIdleLifetime    int `json:"remainingIdleLifetime"`
}

func (s *Server) sessionInfo(w http.ResponseWriter, r *http.Request) error {
	if viaBearer(r) {
		return &badRequest{"API tokens have no session; see expiresAt in /api/auth/tokens"}
	}
	ctx := r.Context()
	now := s.engine.Clock().Now()
	login := time.Unix(s.sessions.GetInt64(ctx, sessLogin), 0)
	seen := time.Unix(s.sessions.GetInt64(ctx, sessSeen), 0)
	return writeJSON(w, http.StatusOK, sessionInfo{
		MaxSessionLifetime:       int(SessionLifetime.Seconds()),
		MaxIdleSessionLifetime:   int(SessionIdleTimeout.Seconds()),
		RemainingSessionLifetime: max(0, int(login.Add(SessionLifetime).Sub(now).Seconds())),
		RemainingIdleLifetime:    max(0, int(seen.Add(SessionIdleTimeout).Sub(now).Seconds())),
	})
}

// extendSession counts as activity: the idle limit restarts, the absolute limit stays.
func (s *Server) extendSession(w http.ResponseWriter, r *http.Request) error {
	if viaBearer(r) {
		return &badRequest{"API tokens have no session to extend"}
	}
	s.sessions.Put(r.Context(), sessSeen, s.engine.Clock().Now().Unix())
	return s.sessionInfo(w, r)
}
