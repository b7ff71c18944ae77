package devoidc

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

const (
	// pendingLifetime bounds both how long a user may take on the sign-in page
	// and how long an issued code stays redeemable (RFC 6749 §4.1.2 advises at
	// most ten minutes for codes).
	pendingLifetime     = 10 * time.Minute
	accessTokenLifetime = time.Hour
	idTokenLifetime     = time.Hour
)

var (
	errAuthRequestNotFound = errors.New("sign-in request not found, expired or already used")
	errUnsupported         = errors.New("not supported by the development provider")
)

// storage is the in-memory op.Storage. A restart loses in-flight sign-ins and
// issued access tokens, which is acceptable for development.
type storage struct {
	client *client
	users  map[string]User
	key    signingKey
	now    func() time.Time

	mu           sync.Mutex
	authRequests map[string]*authRequest
	codes        map[string]string // code → auth request id
	tokens       map[string]*accessToken
}

var (
	_ op.Storage                   = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest = (*storage)(nil)
)

func newStorage(cfg Config, c *client) (*storage, error) {
	thumbprint, err := (&jose.JSONWebKey{Key: &cfg.SigningKey.PublicKey}).Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("devoidc: SigningKey thumbprint: %w", err)
	}
	users := make(map[string]User, len(cfg.Users))
	for _, u := range cfg.Users {
		users[u.Subject] = u
	}
	return &storage{
		client: c,
		users:  users,
		// A kid derived from the key stays the same across restarts, so clients
		// holding a cached JWKS keep verifying tokens.
		key:          signingKey{id: base64.RawURLEncoding.EncodeToString(thumbprint), key: cfg.SigningKey},
		now:          time.Now,
		authRequests: make(map[string]*authRequest),
		codes:        make(map[string]string),
		tokens:       make(map[string]*accessToken),
	}, nil
}

// sweep drops expired entries; called on every insert so memory stays bounded
// without a background goroutine whose lifetime nobody owns. Callers hold mu.
func (s *storage) sweep(now time.Time) {
	for id, req := range s.authRequests {
		if !now.Before(req.expires) {
			s.deleteAuthRequest(id)
		}
	}
	for id, tok := range s.tokens {
		if !now.Before(tok.expires) {
			delete(s.tokens, id)
		}
	}
}

// deleteAuthRequest removes a request and its code. Callers hold mu.
func (s *storage) deleteAuthRequest(id string) {
	if req, ok := s.authRequests[id]; ok {
		delete(s.codes, req.code)
		delete(s.authRequests, id)
	}
}

// pendingAuthRequest returns the live request, or nil. Callers hold mu.
func (s *storage) pendingAuthRequest(id string) *authRequest {
	req, ok := s.authRequests[id]
	if !ok || !s.now().Before(req.expires) {
		return nil
	}
	return req
}

// awaitingSignIn reports whether the sign-in page may be shown for id: once a
// user was chosen, going back to the page cannot switch to another one.
func (s *storage) awaitingSignIn(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	req := s.pendingAuthRequest(id)
	return req != nil && req.subject == ""
}

// completeAuthRequest records that the user chose subject on the sign-in page.
// Choosing the same subject again (a double click) is fine; switching to
// another one is not, since a code may already be out for the first.
func (s *storage) completeAuthRequest(id, subject string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	req := s.pendingAuthRequest(id)
	if req == nil || (req.subject != "" && req.subject != subject) {
		return errAuthRequestNotFound
	}
	if req.subject == "" {
		req.subject = subject
		req.authTime = s.now()
	}
	return nil
}

func (s *storage) CreateAuthRequest(_ context.Context, in *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	// There is no session to fall back on, so every request needs the page.
	if slices.Contains(in.Prompt, oidc.PromptNone) {
		return nil, oidc.ErrLoginRequired()
	}
	// Discovery only advertises S256; "plain" would let a stolen code be
	// redeemed with the challenge itself.
	var challenge *oidc.CodeChallenge
	if in.CodeChallenge != "" {
		if in.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
			return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
		}
		challenge = &oidc.CodeChallenge{Challenge: in.CodeChallenge, Method: oidc.CodeChallengeMethodS256}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.sweep(now)
	req := &authRequest{
		id:            rand.Text(),
		clientID:      in.ClientID,
		redirectURI:   in.RedirectURI,
		state:         in.State,
		nonce:         in.Nonce,
		scopes:        in.Scopes,
		responseType:  in.ResponseType,
		responseMode:  in.ResponseMode,
		codeChallenge: challenge,
		expires:       now.Add(pendingLifetime),
	}
	s.authRequests[req.id] = req
	return req.snapshot(), nil
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	req := s.pendingAuthRequest(id)
	if req == nil {
		return nil, errAuthRequestNotFound
	}
	return req.snapshot(), nil
}

func (s *storage) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	req := s.pendingAuthRequest(s.codes[code])
	if req == nil {
		return nil, errors.New("code invalid, expired or already used")
	}
	return req.snapshot(), nil
}

func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	req := s.pendingAuthRequest(id)
	if req == nil {
		return errAuthRequestNotFound
	}
	// One sign-in yields one redeemable code: a repeated callback replaces it.
	delete(s.codes, req.code)
	req.code = code
	req.expires = s.now().Add(pendingLifetime)
	s.codes[code] = id
	return nil
}

// DeleteAuthRequest is called once tokens were issued for a code, which is
// what makes a second redemption of the same code fail.
func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleteAuthRequest(id)
	return nil
}

func (s *storage) CreateAccessToken(_ context.Context, request op.TokenRequest) (string, time.Time, error) {
	req, ok := request.(*authRequest)
	if !ok {
		return "", time.Time{}, fmt.Errorf("access tokens for %T are %w", request, errUnsupported)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.sweep(now)
	tok := &accessToken{
		id:       rand.Text(),
		subject:  req.subject,
		clientID: req.clientID,
		scopes:   req.scopes,
		expires:  now.Add(accessTokenLifetime),
	}
	s.tokens[tok.id] = tok
	return tok.id, tok.expires, nil
}

func (s *storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, fmt.Errorf("refresh tokens are %w", errUnsupported)
}

func (s *storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, fmt.Errorf("refresh tokens are %w", errUnsupported)
}

func (s *storage) TerminateSession(_ context.Context, userID, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, tok := range s.tokens {
		if tok.subject == userID && tok.clientID == clientID {
			delete(s.tokens, id)
		}
	}
	return nil
}

func (s *storage) RevokeToken(_ context.Context, tokenID, _, clientID string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, ok := s.tokens[tokenID]
	if !ok {
		// RFC 7009 §2.2: unknown tokens are not an error.
		return nil
	}
	if tok.clientID != clientID {
		return oidc.ErrInvalidClient().WithDescription("token was not issued to this client")
	}
	delete(s.tokens, tokenID)
	return nil
}

func (s *storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) {
	return &s.key, nil
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{s.key}}, nil
}

func (s *storage) GetClientByClientID(_ context.Context, clientID string) (op.Client, error) {
	if clientID != s.client.id {
		return nil, fmt.Errorf("unknown client %q", clientID)
	}
	return s.client, nil
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, clientID, clientSecret string) error {
	idOK := subtle.ConstantTimeCompare([]byte(clientID), []byte(s.client.id))
	secretOK := subtle.ConstantTimeCompare([]byte(clientSecret), []byte(s.client.secret))
	if idOK&secretOK != 1 {
		return errors.New("invalid client credentials")
	}
	return nil
}

// SetUserinfoFromScopes is deprecated in favour of SetUserinfoFromRequest,
// which the OP calls right after it.
func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

func (s *storage) SetUserinfoFromRequest(_ context.Context, info *oidc.UserInfo, request op.IDTokenRequest, scopes []string) error {
	return s.setUserinfo(info, request.GetSubject(), scopes)
}

func (s *storage) SetUserinfoFromToken(_ context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	tok, err := s.liveToken(tokenID, subject)
	if err != nil {
		return err
	}
	return s.setUserinfo(info, tok.subject, tok.scopes)
}

func (s *storage) SetIntrospectionFromToken(_ context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	tok, err := s.liveToken(tokenID, subject)
	if err != nil {
		return err
	}
	// Only the client the token was issued to may introspect it.
	if tok.clientID != clientID {
		return errors.New("token was not issued to this client")
	}
	info := new(oidc.UserInfo)
	if err := s.setUserinfo(info, tok.subject, tok.scopes); err != nil {
		return err
	}
	resp.SetUserInfo(info)
	resp.Scope = tok.scopes
	resp.ClientID = tok.clientID
	resp.Audience = oidc.Audience{tok.clientID}
	resp.Expiration = oidc.FromTime(tok.expires)
	return nil
}

func (s *storage) liveToken(tokenID, subject string) (*accessToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, ok := s.tokens[tokenID]
	if !ok || tok.subject != subject || !s.now().Before(tok.expires) {
		return nil, errors.New("access token invalid or expired")
	}
	return tok, nil
}

func (s *storage) setUserinfo(info *oidc.UserInfo, subject string, scopes []string) error {
	user, ok := s.users[subject]
	if !ok {
		return fmt.Errorf("unknown user %q", subject)
	}
	info.Subject = user.Subject
	for _, scope := range scopes {
		switch scope {
		case oidc.ScopeEmail:
			info.Email = user.Email
			info.EmailVerified = true
		case oidc.ScopeProfile:
			info.Name = user.Name
		}
	}
	return nil
}

// GetPrivateClaimsFromScopes only matters for JWT access tokens, which this
// provider does not issue.
func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// The JWT profile grant cannot be switched off in zitadel's op; with no keys
// registered here it always fails.
func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, fmt.Errorf("the JWT profile grant is %w", errUnsupported)
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, fmt.Errorf("the JWT profile grant is %w", errUnsupported)
}

func (s *storage) Health(context.Context) error {
	return nil
}

// authRequest is one pending sign-in. The OP reads it without holding the
// storage lock, so storage hands out snapshots rather than the stored value.
type authRequest struct {
	id            string
	clientID      string
	redirectURI   string
	state         string
	nonce         string
	scopes        []string
	responseType  oidc.ResponseType
	responseMode  oidc.ResponseMode
	codeChallenge *oidc.CodeChallenge
	expires       time.Time

	subject  string // set once the user picked an account
	authTime time.Time
	code     string
}

var _ op.LogAuthRequest = (*authRequest)(nil)

func (a *authRequest) snapshot() *authRequest {
	c := *a
	return &c
}

func (a *authRequest) GetID() string                         { return a.id }
func (a *authRequest) GetACR() string                        { return "" }
func (a *authRequest) GetAMR() []string                      { return nil }
func (a *authRequest) GetAudience() []string                 { return []string{a.clientID} }
func (a *authRequest) GetAuthTime() time.Time                { return a.authTime }
func (a *authRequest) GetClientID() string                   { return a.clientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return a.codeChallenge }
func (a *authRequest) GetNonce() string                      { return a.nonce }
func (a *authRequest) GetRedirectURI() string                { return a.redirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType    { return a.responseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode    { return a.responseMode }
func (a *authRequest) GetScopes() []string                   { return a.scopes }
func (a *authRequest) GetState() string                      { return a.state }
func (a *authRequest) GetSubject() string                    { return a.subject }
func (a *authRequest) Done() bool                            { return a.subject != "" }

// LogValue keeps zitadel's error logs free of the request id, state, nonce and
// code, any of which would help someone replay a sign-in.
func (a *authRequest) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("client_id", a.clientID),
		slog.String("redirect_uri", a.redirectURI),
		slog.Any("scopes", a.scopes),
		slog.String("subject", a.subject),
	)
}

type accessToken struct {
	id       string
	subject  string
	clientID string
	scopes   []string
	expires  time.Time
}

type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.id }

type publicKey struct{ signingKey }

func (k publicKey) ID() string                         { return k.id }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return &k.key.PublicKey }
