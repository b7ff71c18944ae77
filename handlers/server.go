// Package handlers is Floh's HTTP layer: routes, middleware, and thin handlers that parse
// input, call the engine and render a page or JSON.
package handlers

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/alexedwards/scs/postgresstore"
	"github.com/alexedwards/scs/v2"
	"github.com/gorilla/sessions"

	"floh/db"
	"floh/engine"
)

const (
	// SessionIdleTimeout and SessionLifetime are the login session's limits (PRODUCT §1).
	SessionIdleTimeout = 8 * time.Hour
	SessionLifetime    = 24 * time.Hour
	// maxBody bounds every request body but a route's that sets its own; larger bodies are
	// answered 413.
	maxBody = 1 << 20
)

// OIDCConfig is the relying party's configuration.
type OIDCConfig struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	// HTTPClient reaches the provider; the development provider is reached in-process.
	HTTPClient *http.Client
}

// Config is everything the HTTP layer needs from main.
type Config struct {
	Engine     *engine.Engine
	DB         *db.DB
	BaseURL    *url.URL
	Production bool
	OIDC       OIDCConfig
	// CookieKeys are gorilla/securecookie hash/block key pairs for the OIDC handshake cookie,
	// current first; a previous pair keeps in-flight logins working across a key rotation.
	CookieKeys [][]byte
	// DevOIDC is the development OpenID Provider, mounted at DevOIDCPath when set.
	DevOIDC http.Handler
	// Settings is shown read-only on the settings page.
	Settings []Setting
	Logger   *slog.Logger
}

// Setting is one line of the settings page: a name and a value that is never a secret.
type Setting struct {
	Name, Value, Help string
}

// DevOIDCPath is where the development provider is mounted; its issuer is BaseURL + this path.
const DevOIDCPath = "/dev/oidc"

// Server is the root http.Handler.
type Server struct {
	cfg       Config
	engine    *engine.Engine
	db        *db.DB
	log       *slog.Logger
	sessions  *scs.SessionManager
	store     *postgresstore.PostgresStore
	handshake *sessions.CookieStore
	oidc      *oidcClient
	secure    bool
	handler   http.Handler
}

// New builds the server and its routes.
func New(cfg Config) *Server {
	s := &Server{
		cfg:    cfg,
		engine: cfg.Engine,
		db:     cfg.DB,
		log:    cfg.Logger,
		secure: cfg.BaseURL.Scheme == "https",
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.sessions = scs.New()
	s.store = postgresstore.NewWithCleanupInterval(cfg.DB.SQL, 10*time.Minute)
	s.sessions.Store = s.store
	s.sessions.Lifetime = SessionLifetime
	s.sessions.IdleTimeout = SessionIdleTimeout
	s.sessions.Cookie.Name = "floh_sid"
	s.sessions.Cookie.HttpOnly = true
	s.sessions.Cookie.SameSite = http.SameSiteLaxMode
	s.sessions.Cookie.Secure = s.secure
	s.sessions.Cookie.Path = "/"
	s.sessions.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		s.renderError(w, r, err)
	}

	s.handshake = sessions.NewCookieStore(cfg.CookieKeys...)
	s.handshake.Options = &sessions.Options{
		Path:     "/api/auth",
		MaxAge:   int(handshakeTTL.Seconds()),
		HttpOnly: true,
		Secure:   s.secure,
		// Lax: the provider's redirect back is a top-level GET navigation, which Lax allows.
		SameSite: http.SameSiteLaxMode,
	}
	// The cookie's Max-Age only asks the browser to drop it; this makes the server refuse a
	// handshake older than that too (securecookie checks the signed timestamp).
	s.handshake.MaxAge(int(handshakeTTL.Seconds()))
	base := strings.TrimRight(cfg.BaseURL.String(), "/")
	oidcCfg := cfg.OIDC
	if cfg.DevOIDC != nil && oidcCfg.HTTPClient == nil && oidcCfg.Issuer == base+DevOIDCPath {
		// The development provider is mounted in this server: reach it in-process, whatever
		// the base URL resolves to from inside the server (a proxy, a container).
		oidcCfg.HTTPClient = inProcessClient(cfg.DevOIDC)
	}
	s.oidc = newOIDCClient(oidcCfg, base+"/api/auth/callback")

	mux := http.NewServeMux()
	mux.Handle("GET /static/", staticHandler())
	if cfg.DevOIDC != nil {
		// The provider has its own pages and CSRF protection; the app's middleware stays out.
		mux.Handle(DevOIDCPath+"/", cfg.DevOIDC)
	}
	app := http.NewServeMux()
	limits := map[string]int64{}
	for _, rt := range s.routes() {
		app.Handle(rt.method+" "+rt.pattern, s.guard(rt))
		if rt.maxBody > 0 {
			limits[rt.method+" "+rt.pattern] = rt.maxBody
		}
	}
	app.Handle("/", s.handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return errNotFoundPage
	}))
	mux.Handle("/", s.sessions.LoadAndSave(s.authenticate(s.csrf(app))))
	s.handler = s.requestLog(recoverPanics(s, securityHeaders(limitBody(mux, app, limits))))
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Close stops the session store's background cleanup.
func (s *Server) Close() { s.store.StopCleanup() }
