package authifi

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
	"time"

	"github.com/jonboulle/clockwork"

	"floh/connectors"
)

const (
	// requestTimeout bounds one HTTP exchange, so a target that accepts the connection and
	// never answers still fails as connector_down when the caller's ctx has no deadline.
	requestTimeout = 30 * time.Second
	// renewMargin is how long before expiry a cached token is replaced, so a token does not
	// expire between the check and Authifi's; short-lived tokens use half their lifetime.
	renewMargin = 30 * time.Second
	// maxBody caps what is read of an answer: a full page of 500 users is far below it.
	maxBody = 8 << 20
)

// Options are what tests inject; the zero value is what production uses.
type Options struct {
	// Clock decides when a cached token is due for renewal; the real clock when nil.
	Clock clockwork.Clock
	// HTTPClient makes the calls; one with a 30 s timeout when nil.
	HTTPClient *http.Client
}

// Connector is a configured Authifi tenant. It is safe for concurrent use: the access token
// is shared by every call.
type Connector struct {
	base         string // baseUrl without a trailing slash
	host         string
	tenant       string
	tenantID     string
	clientID     string
	clientSecret string
	http         *http.Client
	clock        clockwork.Clock

	// tokenLock guards token and renewAt. It is a one-slot channel rather than a mutex so
	// that a caller waiting while another fetches a token can give up when its ctx ends, and
	// so that concurrent callers with no token wait for one fetch instead of each making one.
	tokenLock chan struct{}
	token     string
	renewAt   time.Time // zero: Authifi gave no expiry, so keep the token until a 401
}

var (
	_ connectors.Connector    = (*Connector)(nil)
	_ connectors.Lister       = (*Connector)(nil)
	_ connectors.RecordGetter = (*Connector)(nil)
)

// New builds a connector from a checked config (secrets in clear). It contacts nothing.
func New(cfg connectors.Config, opts Options) (*Connector, error) {
	if problems := validate(cfg); len(problems) > 0 {
		return nil, fmt.Errorf("authifi config: %s", problems[0].Message)
	}
	base := strings.TrimRight(cfg.String("baseUrl"), "/")
	u, _ := url.Parse(base)
	c := &Connector{
		base:         base,
		host:         u.Host,
		tenant:       cfg.String("tenant"),
		tenantID:     cfg.String("tenantId"),
		clientID:     cfg.String("clientId"),
		clientSecret: cfg.String("clientSecret"),
		http:         opts.HTTPClient,
		clock:        opts.Clock,
		tokenLock:    make(chan struct{}, 1),
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: requestTimeout}
	}
	if c.clock == nil {
		c.clock = clockwork.NewRealClock()
	}
	return c, nil
}

// accessToken returns the cached token, fetching a new one when there is none, when it is due
// for renewal, or when it is the token Authifi just rejected.
func (c *Connector) accessToken(ctx context.Context, rejected string) (string, error) {
	select {
	case c.tokenLock <- struct{}{}:
	case <-ctx.Done():
		return "", c.classify(ctx, ctx.Err(), "wait for an Authifi access token")
	}
	defer func() { <-c.tokenLock }()
	if c.token != "" && c.token != rejected && (c.renewAt.IsZero() || c.clock.Now().Before(c.renewAt)) {
		return c.token, nil
	}
	c.token = ""
	// The lifetime counts from before the request: the token may be older than its answer.
	start := c.clock.Now()
	tok, ttl, err := c.fetchToken(ctx)
	if err != nil {
		return "", err
	}
	c.token, c.renewAt = tok, time.Time{}
	if ttl > 0 {
		c.renewAt = start.Add(ttl - min(renewMargin, ttl/2))
	}
	return tok, nil
}

// fetchToken makes the client-credentials grant. Its 4xx answers mean the connector's config
// is wrong (a bad secret, tenant or URL), which an admin fixes as unauthorized, whatever the
// status.
func (c *Connector) fetchToken(ctx context.Context) (string, time.Duration, error) {
	const what = "fetch an Authifi access token"
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {c.clientID},
		"client_secret": {c.clientSecret},
	}
	tokenURL := c.base + "/auth/" + url.PathEscape(c.tenant) + "/oauth/token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, c.classify(ctx, err, what)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	data, err := c.do(req)
	var ae *apiError
	if errors.As(err, &ae) && ae.status >= 400 && ae.status < 500 && ae.status != http.StatusTooManyRequests {
		return "", 0, connectors.Wrap(ae, connectors.Unauthorized, ae.codeOr(),
			"%s: Authifi refused client %s for tenant %s (%d %s: %s); check baseUrl, tenant, clientId and clientSecret",
			what, c.clientID, c.tenant, ae.status, ae.codeOr(), ae.detail())
	}
	if err != nil {
		return "", 0, c.classify(ctx, err, what)
	}
	var answer struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.Unmarshal(data, &answer); err != nil || answer.AccessToken == "" {
		return "", 0, connectors.Errorf(connectors.TargetError, "BAD_RESPONSE", "%s: Authifi's token answer has no access_token", what)
	}
	if answer.TokenType != "" && !strings.EqualFold(answer.TokenType, "Bearer") {
		return "", 0, connectors.Errorf(connectors.TargetError, "BAD_RESPONSE", "%s: Authifi issued a %q token, not a bearer token", what, answer.TokenType)
	}
	return answer.AccessToken, time.Duration(answer.ExpiresIn) * time.Second, nil
}

// request is one admin call.
type request struct {
	method string
	path   string // under /tenants/{tenantId}, with ids already escaped
	query  url.Values
	body   any
	what   string // the operation, named for an admin: "create Authifi user jdoe@example.org"
}

// call makes one admin call and decodes a JSON answer into out (when non-nil). A 401 gets a
// fresh token and one more try, since a cached token can be revoked or expire early; any
// other failure is returned classified, for the engine to retry or not.
func (c *Connector) call(ctx context.Context, r request, out any) error {
	tok, err := c.accessToken(ctx, "")
	if err != nil {
		return err
	}
	err = c.send(ctx, tok, r, out)
	var ae *apiError
	if errors.As(err, &ae) && ae.status == http.StatusUnauthorized {
		if tok, err = c.accessToken(ctx, tok); err != nil {
			return err
		}
		err = c.send(ctx, tok, r, out)
	}
	return c.classify(ctx, err, r.what)
}

// send makes one attempt with a given token.
func (c *Connector) send(ctx context.Context, token string, r request, out any) error {
	u := c.base + "/tenants/" + url.PathEscape(c.tenantID) + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	data, err := c.do(req)
	if err != nil {
		return err
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return connectors.Wrap(err, connectors.TargetError, "BAD_RESPONSE", "%s: Authifi's answer is not the expected JSON", r.what)
		}
	}
	return nil
}

// do sends req and returns the body of a 2xx answer, an *apiError for any other status, or
// the transport's error.
func (c *Connector) do(req *http.Request) ([]byte, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		return data, nil
	}
	ae := &apiError{status: resp.StatusCode, retryAfter: c.retryAfter(resp.Header.Get("Retry-After"))}
	var envelope struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(data, &envelope) == nil && len(envelope.Error) > 0 {
		var body struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		// The contract's envelope; a bare OAuth error string ("invalid_client") is read as the
		// code too, since token endpoints often answer that way.
		if json.Unmarshal(envelope.Error, &body) == nil {
			ae.code, ae.message = body.Code, body.Message
		} else {
			_ = json.Unmarshal(envelope.Error, &ae.code)
		}
	}
	return nil, ae
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func (c *Connector) retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(c.clock.Now()), 0)
	}
	return 0
}

// apiError is a non-2xx answer from Authifi.
type apiError struct {
	status     int
	code       string
	message    string
	retryAfter time.Duration
}

func (e *apiError) Error() string {
	return fmt.Sprintf("Authifi answered %d %s: %s", e.status, e.codeOr(), e.detail())
}

// codeOr is Authifi's error code, or HTTP_<status> when the answer had none.
func (e *apiError) codeOr() string {
	if e.code != "" {
		return e.code
	}
	return "HTTP_" + strconv.Itoa(e.status)
}

func (e *apiError) detail() string {
	if e.message != "" {
		return e.message
	}
	return strings.ToLower(http.StatusText(e.status))
}

// classify turns any failure of an admin call into the envelope, per the last section of
// authifi-api.md, keeping Authifi's code.
func (c *Connector) classify(ctx context.Context, err error, what string) error {
	if err == nil {
		return nil
	}
	var ce *connectors.Error
	if errors.As(err, &ce) {
		return ce
	}
	var ae *apiError
	if !errors.As(err, &ae) {
		if errors.Is(ctx.Err(), context.Canceled) {
			return connectors.Wrap(err, connectors.ConnectorDown, "CANCELED", "%s: the call was cancelled before Authifi answered", what)
		}
		e := connectors.Classify(err)
		e.Message = fmt.Sprintf("%s at %s: %s", what, c.host, e.Message)
		return e
	}
	code, detail := ae.codeOr(), ae.detail()
	var e *connectors.Error
	switch s := ae.status; {
	case s == http.StatusBadRequest || s == http.StatusUnprocessableEntity:
		e = connectors.Errorf(connectors.InvalidInput, code, "%s: Authifi rejected a value: %s (%s)", what, detail, code)
	case s == http.StatusUnauthorized:
		e = connectors.Errorf(connectors.Unauthorized, code, "%s: Authifi rejected a freshly fetched access token (%s: %s); check that client %s is enabled in tenant %s", what, code, detail, c.clientID, c.tenant)
	case s == http.StatusForbidden:
		e = connectors.Errorf(connectors.Unauthorized, code, "%s: client %s lacks the permission in Authifi (%s: %s); grant it the admin API scope", what, c.clientID, code, detail)
	case s == http.StatusNotFound:
		e = connectors.Errorf(connectors.NotFound, code, "%s: %s (%s)", what, detail, code)
	case s == http.StatusConflict && code == "USER_EXISTS":
		e = connectors.Errorf(connectors.AlreadyExists, code, "%s: %s (%s)", what, detail, code)
	case s == http.StatusConflict:
		e = connectors.Errorf(connectors.Conflict, code, "%s: %s (%s)", what, detail, code)
	case s == http.StatusTooManyRequests && ae.retryAfter > 0:
		e = connectors.Errorf(connectors.RateLimited, code, "%s: Authifi is throttling calls; it asked to wait %s", what, ae.retryAfter)
	case s == http.StatusTooManyRequests:
		e = connectors.Errorf(connectors.RateLimited, code, "%s: Authifi is throttling calls", what)
	default:
		e = connectors.Errorf(connectors.TargetError, code, "%s: Authifi failed with %d %s (%s)", what, s, detail, code)
	}
	e.RetryAfter, e.Err = ae.retryAfter, ae
	return e
}

// explain replaces the message of err when it carries code, for the codes a command can say
// more about than Authifi's own text.
func explain(err error, code, format string, args ...any) error {
	var ce *connectors.Error
	if errors.As(err, &ce) && ce.Code == code {
		ce.Message = fmt.Sprintf(format, args...)
	}
	return err
}

// hasCode reports whether err is a classified error with this code.
func hasCode(err error, code string) bool {
	var ce *connectors.Error
	return errors.As(err, &ce) && ce.Code == code
}
