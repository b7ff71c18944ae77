package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"floh/connectors"
)

const (
	// requestTimeout bounds one HTTP request, token requests included, whatever the caller's
	// context allows.
	requestTimeout = 30 * time.Second
	// maxBody bounds what we read from the application: a page of resources is far smaller.
	maxBody = 32 << 20
	// maxDetail bounds how much of the application's error detail reaches a message.
	maxDetail = 500

	mediaType  = "application/scim+json"
	userSchema = "urn:ietf:params:scim:schemas:core:2.0:User"
	patchOp    = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
)

// connector is one configured SCIM application. It is safe for concurrent use.
type connector struct {
	base     string // the SCIM base URL without a trailing slash
	authType string
	client   *http.Client

	bearerToken        string
	username, password string
	tokens             *tokenCache // oauth2_client_credentials only
}

var (
	_ connectors.Connector    = (*connector)(nil)
	_ connectors.Lister       = (*connector)(nil)
	_ connectors.RecordGetter = (*connector)(nil)
)

func newConnector(cfg connectors.Config) (connectors.Connector, error) {
	// A transport of our own, so one application's idle connections are not shared with, or
	// closed by, anything else in the process.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	client := &http.Client{Transport: transport, Timeout: requestTimeout}
	c := &connector{
		base:        strings.TrimRight(cfg.String("baseUrl"), "/"),
		authType:    cfg.String("authType"),
		client:      client,
		bearerToken: cfg.String("bearerToken"),
		username:    cfg.String("username"),
		password:    cfg.String("password"),
	}
	if c.authType == authOAuth2 {
		c.tokens = &tokenCache{client: client, cfg: clientcredentials.Config{
			ClientID:     cfg.String("clientId"),
			ClientSecret: cfg.String("clientSecret"),
			TokenURL:     cfg.String("tokenUrl"),
		}}
	}
	return c, nil
}

// credentials names how we authenticate, for messages: never the secret itself.
func (c *connector) credentials() string {
	switch c.authType {
	case authBasic:
		return "the username and password of " + c.username
	case authOAuth2:
		return "an OAuth2 token for client " + c.tokens.cfg.ClientID
	}
	return "the bearer token"
}

// tokenCache holds one client-credentials access token and fetches a new one when it expires
// or the application refuses it. Fetching under the lock means concurrent calls wait for one
// token request instead of each making their own.
type tokenCache struct {
	cfg    clientcredentials.Config
	client *http.Client

	mu    sync.Mutex
	token *oauth2.Token
}

func (t *tokenCache) get(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	// Valid is false for a nil token, and a little before expiry, so a token never lapses
	// in flight.
	if t.token.Valid() {
		return t.token.AccessToken, nil
	}
	token, err := t.cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, t.client))
	if err != nil {
		return "", t.explain(err)
	}
	t.token = token
	return token.AccessToken, nil
}

// drop forgets the token after the application refused it (revoked, or rotated keys), so the
// next call fetches a fresh one.
func (t *tokenCache) drop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.token = nil
}

// explain classifies a token endpoint failure. The endpoint's own error code and description
// are kept; its raw body is not, since we cannot know what it contains.
func (t *tokenCache) explain(err error) *connectors.Error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		e := connectors.Classify(err)
		return connectors.Wrap(err, e.Class, e.Code, "cannot get an OAuth2 token from %s: %s", t.cfg.TokenURL, cause(err))
	}
	reason := re.ErrorCode
	if re.ErrorDescription != "" {
		reason += ": " + re.ErrorDescription
	}
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	if reason == "" {
		reason = fmt.Sprintf("HTTP %d", status)
	}
	switch {
	case status == http.StatusTooManyRequests:
		e := connectors.Wrap(err, connectors.RateLimited, "RATE_LIMITED", "the token endpoint %s is throttling requests: %s", t.cfg.TokenURL, reason)
		e.RetryAfter = retryAfter(re.Response.Header)
		return e
	case status >= 500:
		return connectors.Wrap(err, connectors.TargetError, "TOKEN_ENDPOINT_ERROR", "the token endpoint %s failed: %s", t.cfg.TokenURL, reason)
	}
	return connectors.Wrap(err, connectors.Unauthorized, "TOKEN_REFUSED", "the token endpoint %s refused client %s (check clientId and clientSecret): %s", t.cfg.TokenURL, t.cfg.ClientID, reason)
}

// statusError is an error answer from the application (RFC 7644 §3.12).
type statusError struct {
	status     int
	scimType   string
	detail     string
	retryAfter time.Duration
}

func (e *statusError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.status, e.scimType, e.detail)
}

// do makes one request. in, when not nil, is sent as JSON; a 2xx answer with a body is decoded
// into out. It returns a *statusError for an error answer and a classified *connectors.Error
// for anything else.
func (c *connector) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	target := c.base + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return connectors.Wrap(err, connectors.InvalidInput, "INVALID_BODY", "cannot encode the request to %s: %v", path, err)
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return connectors.Wrap(err, connectors.InvalidInput, "INVALID_URL", "cannot build a request for %s%s: %v", c.base, path, err)
	}
	req.Header.Set("Accept", mediaType+", application/json")
	if in != nil {
		req.Header.Set("Content-Type", mediaType)
	}
	if err := c.authorize(ctx, req); err != nil {
		return err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		e := connectors.Classify(err)
		return connectors.Wrap(err, e.Class, e.Code, "cannot reach the SCIM app at %s: %s", c.base, cause(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		e := connectors.Classify(err)
		return connectors.Wrap(err, e.Class, e.Code, "the SCIM app at %s broke off its answer to %s %s: %s", c.base, method, path, cause(err))
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if out == nil || len(bytes.TrimSpace(raw)) == 0 {
			return nil
		}
		if err := json.Unmarshal(raw, out); err != nil {
			return connectors.Wrap(err, connectors.TargetError, "INVALID_RESPONSE", "the SCIM app at %s answered %s %s with something that is not SCIM JSON: %v", c.base, method, path, err)
		}
		return nil
	}
	if resp.StatusCode == http.StatusUnauthorized && c.tokens != nil {
		c.tokens.drop()
	}
	return parseError(resp, raw)
}

func (c *connector) authorize(ctx context.Context, req *http.Request) error {
	switch c.authType {
	case authBearer:
		req.Header.Set("Authorization", "Bearer "+c.bearerToken)
	case authBasic:
		req.SetBasicAuth(c.username, c.password)
	case authOAuth2:
		token, err := c.tokens.get(ctx)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return nil
}

// parseError reads a SCIM error body, falling back to the HTTP status text for answers that
// are not SCIM (a proxy's HTML page, say).
func parseError(resp *http.Response, raw []byte) *statusError {
	e := &statusError{status: resp.StatusCode, retryAfter: retryAfter(resp.Header)}
	var body struct {
		ScimType string `json:"scimType"`
		Detail   string `json:"detail"`
	}
	if json.Unmarshal(raw, &body) == nil {
		e.scimType, e.detail = body.ScimType, strings.TrimSpace(body.Detail)
	}
	if e.detail == "" {
		e.detail = http.StatusText(resp.StatusCode)
	}
	if len(e.detail) > maxDetail {
		e.detail = e.detail[:maxDetail] + "…"
	}
	return e
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(time.Until(at), 0)
	}
	return 0
}

// explain turns a failed call into the envelope, naming what the call was about ("user
// jdoe") and where, so an admin knows what to fix.
func (c *connector) explain(err error, subject string) *connectors.Error {
	var se *statusError
	if !errors.As(err, &se) {
		return connectors.Classify(err)
	}
	at := "the SCIM app at " + c.base
	var e *connectors.Error
	switch {
	case se.status == http.StatusBadRequest:
		e = connectors.Errorf(connectors.InvalidInput, scimCode(se.scimType, "BAD_REQUEST"), "%s rejected the request for %s: %s", at, subject, se.detail)
	case se.status == http.StatusUnauthorized:
		e = connectors.Errorf(connectors.Unauthorized, "UNAUTHORIZED", "%s did not accept %s (HTTP 401): %s", at, c.credentials(), se.detail)
	case se.status == http.StatusForbidden:
		e = connectors.Errorf(connectors.Unauthorized, "FORBIDDEN", "%s does not allow %s to act on %s (HTTP 403): %s", at, c.credentials(), subject, se.detail)
	case se.status == http.StatusNotFound:
		e = connectors.Errorf(connectors.NotFound, "NOT_FOUND", "%s was not found in %s: %s", subject, at, se.detail)
	case se.status == http.StatusConflict && se.scimType == "uniqueness":
		e = connectors.Errorf(connectors.AlreadyExists, "ALREADY_EXISTS", "%s already exists in %s: %s", subject, at, se.detail)
	case se.status == http.StatusConflict, se.status == http.StatusPreconditionFailed:
		e = connectors.Errorf(connectors.Conflict, scimCode(se.scimType, "CONFLICT"), "%s conflicts with what %s holds: %s", subject, at, se.detail)
	case se.status == http.StatusTooManyRequests:
		e = connectors.Errorf(connectors.RateLimited, "RATE_LIMITED", "%s is throttling requests (HTTP 429): %s", at, se.detail)
	case se.status >= 500:
		e = connectors.Errorf(connectors.TargetError, "HTTP_"+strconv.Itoa(se.status), "%s failed on %s (HTTP %d): %s", at, subject, se.status, se.detail)
	default:
		e = connectors.Errorf(connectors.TargetError, "UNEXPECTED_STATUS", "%s answered HTTP %d for %s: %s", at, se.status, subject, se.detail)
	}
	e.Err, e.RetryAfter = se, se.retryAfter
	return e
}

// scimCode turns a scimType such as invalidFilter into a code such as INVALID_FILTER.
func scimCode(scimType, fallback string) string {
	if scimType == "" {
		return fallback
	}
	var b strings.Builder
	for i, r := range scimType {
		if r >= 'A' && r <= 'Z' && i > 0 {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

// cause drops url.Error's "Get "https://…":" prefix: the message already says where.
func cause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
