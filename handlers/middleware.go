package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"floh/db"
	"floh/engine"
)

type ctxKey int

const (
	principalKey ctxKey = iota
	requestIDKey
	bearerKey
)

// principalFrom is the authenticated principal of the request, or nil.
func principalFrom(r *http.Request) *engine.Principal {
	p, _ := r.Context().Value(principalKey).(*engine.Principal)
	return p
}

func viaBearer(r *http.Request) bool {
	b, _ := r.Context().Value(bearerKey).(bool)
	return b
}

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(requestIDKey).(string)
	return id
}

// statusRecorder remembers the status for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// requestLog gives each request an id (echoed in X-Request-Id and in error pages) and logs it.
// Query strings are not logged: the OIDC callback carries the authorization code in one.
func (s *Server) requestLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id := hex.EncodeToString(b)
		w.Header().Set("X-Request-Id", id)
		rec := &statusRecorder{ResponseWriter: w}
		start := time.Now()
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
		if strings.HasPrefix(r.URL.Path, "/static/") {
			return
		}
		level := slog.LevelInfo
		if rec.status >= 500 {
			level = slog.LevelError
		}
		s.log.Log(r.Context(), level, "http request", "request_id", id, "method", r.Method,
			"path", r.URL.Path, "status", rec.status, "duration_ms", time.Since(start).Milliseconds())
	})
}

func recoverPanics(s *Server, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.renderError(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// securityHeaders sets a strict CSP: scripts and styles only from /static/, nothing inline.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if !strings.HasPrefix(r.URL.Path, DevOIDCPath+"/") {
			h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
				"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
		}
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// limitBody bounds every request body by maxBody, or by the limit of the route that app
// routes it to (limits, by method and pattern) where one is set.
func limitBody(next http.Handler, app *http.ServeMux, limits map[string]int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			limit := int64(maxBody)
			if _, pattern := app.Handler(r); limits[pattern] > 0 {
				limit = limits[pattern]
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		next.ServeHTTP(w, r)
	})
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Session keys.
const (
	sessUserID = "user_id"
	sessLogin  = "login_at"
	sessSeen   = "seen_at"
	sessFlash  = "flash"
)

// authenticate finds the principal: a Bearer token, or the session's user. The session's
// idle and absolute limits are enforced here against the engine's clock (scs enforces them
// too, on the wall clock, as a backstop).
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if auth := r.Header.Get("Authorization"); auth != "" {
			scheme, token, ok := strings.Cut(auth, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") {
				s.renderError(w, r, errBadAuthHeader)
				return
			}
			p, err := s.engine.AuthenticateToken(ctx, strings.TrimSpace(token), clientIP(r))
			if err != nil {
				if errors.Is(err, engine.ErrBadToken) {
					err = errBadToken
				}
				s.renderError(w, r, err)
				return
			}
			ctx = context.WithValue(ctx, principalKey, p)
			next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, bearerKey, true)))
			return
		}
		p, err := s.sessionPrincipal(r)
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		if p != nil {
			ctx = context.WithValue(ctx, principalKey, p)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (s *Server) sessionPrincipal(r *http.Request) (*engine.Principal, error) {
	ctx := r.Context()
	raw := s.sessions.GetString(ctx, sessUserID)
	if raw == "" {
		return nil, nil
	}
	now := s.engine.Clock().Now()
	login := time.Unix(s.sessions.GetInt64(ctx, sessLogin), 0)
	seen := time.Unix(s.sessions.GetInt64(ctx, sessSeen), 0)
	id, err := uuid.Parse(raw)
	if err != nil || now.Sub(login) >= SessionLifetime || now.Sub(seen) >= SessionIdleTimeout {
		return nil, s.sessions.Destroy(ctx)
	}
	u, err := db.FindUser(ctx, s.db.Bun, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil, s.sessions.Destroy(ctx)
	} else if err != nil {
		return nil, err
	}
	if u.Deleted() || !u.Active {
		return nil, s.sessions.Destroy(ctx)
	}
	return engine.PrincipalFor(u, clientIP(r)), nil
}

// csrf refuses cross-origin state changes on cookie-authenticated requests. Bearer requests
// carry no ambient credentials, so scripts are exempt.
func (s *Server) csrf(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	if origin := s.cfg.BaseURL.Scheme + "://" + s.cfg.BaseURL.Host; s.cfg.BaseURL.Host != "" {
		// Behind a proxy that rewrites Host, the public origin is still the trusted one.
		_ = cop.AddTrustedOrigin(origin)
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, errCrossOrigin)
	}))
	protected := cop.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if viaBearer(r) {
			next.ServeHTTP(w, r)
			return
		}
		protected.ServeHTTP(w, r)
	})
}

// route is one entry of the route table: who may call it and what handles it.
type route struct {
	method  string
	pattern string
	// public routes need no login; the others need a principal holding perm ("" = any).
	public bool
	perm   engine.Permission
	// passive routes are background polls (the session's remaining time, the unread count):
	// they must not count as activity, or an open tab would keep an idle session alive.
	passive bool
	// maxBody raises the request body limit above the default maxBody (file uploads).
	maxBody int64
	h       handlerFunc
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) handlerFunc(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.renderError(w, r, err)
		}
	})
}

// guard checks a route's permission before its handler runs, and records the request as
// session activity unless the route is passive.
func (s *Server) guard(rt route) http.Handler {
	return s.handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p := principalFrom(r)
		if !rt.public {
			if p == nil {
				return errUnauthenticated
			}
			if rt.perm != "" && !p.Can(rt.perm) {
				return &permissionError{perm: rt.perm, token: viaBearer(r)}
			}
		}
		if p != nil && !viaBearer(r) && !rt.passive {
			s.sessions.Put(r.Context(), sessSeen, s.engine.Clock().Now().Unix())
		}
		return rt.h(w, r)
	})
}

// loginURL sends the browser to log in and come back to returnTo.
func loginURL(returnTo string) string {
	return "/api/auth/login?returnTo=" + url.QueryEscape(returnTo)
}
