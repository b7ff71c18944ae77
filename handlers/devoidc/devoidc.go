// Package devoidc is a development OpenID Provider built on zitadel's op
// package. It lets developers and automated tests sign in to floh as one of a
// fixed list of demo users without an external identity provider.
//
// It must never be mounted in production: anyone who can reach it can sign in
// as any of the configured users.
package devoidc

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// User is a demo account offered on the sign-in page.
type User struct {
	Subject string // stable sub claim, e.g. "demo-admin"
	Email   string // email claim; email_verified is always true
	Name    string // name claim
	Note    string // shown on the sign-in page under the name, e.g. "Admin"
}

// Config configures the provider and its single client.
type Config struct {
	Issuer        string   // exactly the URL the provider is reachable at, with its mount path, e.g. "http://127.0.0.1:8080/dev/oidc" (no trailing slash)
	ClientID      string   // the one client allowed to use the provider
	ClientSecret  string   // that client's secret (client_secret_basic or client_secret_post)
	RedirectURIs  []string // exact match required
	Users         []User
	SigningKey    *rsa.PrivateKey // RS256 key for ID tokens; the caller persists it across restarts
	CryptoKey     [32]byte        // op.Config.CryptoKey (used by the OP to encrypt codes/tokens)
	AllowInsecure bool            // allow an http:// issuer (development only; the caller decides)
	Logger        *slog.Logger    // optional; zitadel's own messages go to slog.Default regardless
}

// signInPath is where, below the issuer, the sign-in page lives.
const signInPath = "/login"

// minRSABits keeps callers from persisting a key that go-oidc clients and
// browsers would consider weak.
const minRSABits = 2048

// New returns the provider as an http.Handler that serves requests whose URL
// path still includes the mount path (the caller does mux.Handle("/dev/oidc/", h)):
// discovery at <Issuer>/.well-known/openid-configuration, authorize, token,
// userinfo, keys, end_session, and the sign-in page at <Issuer>/login.
func New(cfg Config) (http.Handler, error) {
	issuer, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	// The issuer's path is where the caller mounts us; the OP itself routes
	// relative to "/", so that prefix has to be stripped before it sees a request.
	mountPath := issuer.Path
	appRoot := (&url.URL{Scheme: issuer.Scheme, Host: issuer.Host, Path: "/"}).String()

	store, err := newStorage(cfg, &client{
		id:           cfg.ClientID,
		secret:       cfg.ClientSecret,
		redirectURIs: slices.Clone(cfg.RedirectURIs),
		// Logging out of floh should land back on floh; nothing else is trusted.
		postLogoutRedirectURIs: []string{appRoot},
		loginURL:               cfg.Issuer + signInPath,
	})
	if err != nil {
		return nil, err
	}

	opts := []op.Option{}
	if cfg.AllowInsecure {
		opts = append(opts, op.WithAllowInsecure())
	}
	provider, err := op.NewProvider(&op.Config{
		CryptoKey:                cfg.CryptoKey,
		CryptoKeyId:              "devoidc",
		DefaultLogoutRedirectURI: appRoot,
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		SupportedUILocales:       []language.Tag{language.English},
		SupportedScopes:          []string{oidc.ScopeOpenID, oidc.ScopeEmail, oidc.ScopeProfile},
		SupportedClaims: []string{
			"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp",
			"at_hash", "c_hash", "email", "email_verified", "name",
		},
	}, store, op.StaticIssuer(cfg.Issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("devoidc: creating provider: %w", err)
	}

	page := &signInPage{
		users:    slices.Clone(cfg.Users),
		store:    store,
		action:   mountPath + signInPath,
		callback: op.AuthCallbackURL(provider),
		logger:   logger,
	}
	// op.AuthCallbackURL reads the issuer from the request context, which only
	// the OP's own routes set; without the interceptor the callback URL would
	// lose the issuer (and with it the mount path).
	choose := op.NewIssuerInterceptor(provider.IssuerFromRequest).HandlerFunc(page.choose)

	mux := http.NewServeMux()
	mux.HandleFunc("GET "+mountPath+signInPath, page.show)
	mux.Handle("POST "+mountPath+signInPath, http.NewCrossOriginProtection().Handler(choose))
	mux.Handle(mountPath+"/", http.StripPrefix(mountPath, provider))

	logger.Warn("devoidc: development OpenID Provider enabled; anyone who can reach it can sign in as a demo user, never use it in production",
		"issuer", cfg.Issuer, "users", len(cfg.Users))
	return mux, nil
}

// validate reports the first problem with cfg, and returns the parsed issuer.
func (cfg Config) validate() (*url.URL, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("devoidc: Issuer is required")
	}
	issuer, err := url.Parse(cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("devoidc: Issuer %q is not a URL: %w", cfg.Issuer, err)
	}
	switch {
	case issuer.Scheme != "https" && issuer.Scheme != "http":
		return nil, fmt.Errorf("devoidc: Issuer %q must be an http(s) URL", cfg.Issuer)
	case issuer.Scheme == "http" && !cfg.AllowInsecure:
		return nil, fmt.Errorf("devoidc: Issuer %q uses http; set AllowInsecure to allow that", cfg.Issuer)
	case issuer.Host == "":
		return nil, fmt.Errorf("devoidc: Issuer %q has no host", cfg.Issuer)
	case issuer.RawQuery != "" || issuer.Fragment != "" || issuer.User != nil:
		return nil, fmt.Errorf("devoidc: Issuer %q must not have user info, a query or a fragment", cfg.Issuer)
	case strings.HasSuffix(cfg.Issuer, "/"):
		// Clients compare the discovered issuer byte for byte with the one they
		// were given, so silently trimming would only move the failure there.
		return nil, fmt.Errorf("devoidc: Issuer %q must not end with a slash", cfg.Issuer)
	case issuer.RawPath != "" || strings.ContainsAny(issuer.Path, "{} ") || (issuer.Path != "" && path.Clean(issuer.Path) != issuer.Path):
		// The path becomes part of ServeMux patterns, which would reject or
		// reinterpret anything but a plain, clean path.
		return nil, fmt.Errorf("devoidc: Issuer %q must have a plain path like /dev/oidc", cfg.Issuer)
	}

	if cfg.ClientID == "" {
		return nil, errors.New("devoidc: ClientID is required")
	}
	if cfg.ClientSecret == "" {
		return nil, errors.New("devoidc: ClientSecret is required")
	}
	if len(cfg.RedirectURIs) == 0 {
		return nil, errors.New("devoidc: at least one redirect URI is required")
	}
	for _, raw := range cfg.RedirectURIs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
			return nil, fmt.Errorf("devoidc: redirect URI %q must be an absolute http(s) URL without a fragment", raw)
		}
	}

	if len(cfg.Users) == 0 {
		return nil, errors.New("devoidc: at least one user is required")
	}
	seen := make(map[string]bool, len(cfg.Users))
	for i, u := range cfg.Users {
		switch {
		case u.Subject == "":
			return nil, fmt.Errorf("devoidc: user %d has no Subject", i)
		case strings.Contains(u.Subject, ":"):
			// zitadel encodes opaque access tokens as "<token id>:<subject>".
			return nil, fmt.Errorf("devoidc: user subject %q must not contain ':'", u.Subject)
		case seen[u.Subject]:
			return nil, fmt.Errorf("devoidc: user subject %q is listed twice", u.Subject)
		case u.Email == "":
			return nil, fmt.Errorf("devoidc: user %q has no Email", u.Subject)
		case u.Name == "":
			return nil, fmt.Errorf("devoidc: user %q has no Name", u.Subject)
		}
		seen[u.Subject] = true
	}

	if cfg.SigningKey == nil {
		return nil, errors.New("devoidc: SigningKey is required")
	}
	if err := cfg.SigningKey.Validate(); err != nil {
		return nil, fmt.Errorf("devoidc: SigningKey is invalid: %w", err)
	}
	if bits := cfg.SigningKey.N.BitLen(); bits < minRSABits {
		return nil, fmt.Errorf("devoidc: SigningKey has %d bits, at least %d are required", bits, minRSABits)
	}
	// An all-zero key almost always means the caller forgot to set it, and it
	// would make every code and access token forgeable.
	if cfg.CryptoKey == [32]byte{} {
		return nil, errors.New("devoidc: CryptoKey is required (it is all zeros)")
	}
	return issuer, nil
}
