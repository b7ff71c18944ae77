// Package httpreq is the "http" connector type: one HTTP request with a method, URL, headers
// and body from the step, against any API. (Named httpreq so it does not shadow net/http.)
package httpreq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"floh/connectors"
)

const (
	// maxBody caps how much of a response is kept: outputs live in the run's variables and
	// timeline, so a multi-megabyte download would bloat every step that follows.
	maxBody = 1 << 20
	// maxRedirects is how many redirects a request follows; each is dialled through the same
	// guard as the first.
	maxRedirects = 5
)

// Type is the http connector type.
//
// Credentials go in secretHeaders, a separate Secret field: the engine stores it encrypted and
// never returns it, so an API key is write-only, while the plain headers field stays visible
// for the admin to read. Validate refuses credential-looking names (Authorization, Cookie,
// *token*, *api-key*, ...) in the plain field, so a key cannot land there by accident. Secret
// headers are sent to the host of the request's URL only: a redirect to another host drops
// them.
var Type = &connectors.Type{
	Name:        "http",
	Label:       "HTTP request",
	Description: "Calls an HTTP API with any method, URL, headers and body. Private, loopback and link-local destinations are refused unless allowed.",
	Config: []connectors.Field{
		{
			Name: "baseUrl", Label: "Base URL", Kind: connectors.KindString,
			Help: "Requests with a relative URL go under it: with https://api.example.com/v1, users/42 is https://api.example.com/v1/users/42 " +
				"and /users/42 is https://api.example.com/users/42. The connection test fetches it. Leave empty when every request gives a full URL.",
			Placeholder: "https://api.example.com/v1",
		},
		{
			Name: "headers", Label: "Headers", Kind: connectors.KindObject,
			Help:        `Headers sent with every request, as a JSON object: {"Accept": "application/json"}. Every admin can read them: put credentials in Secret headers.`,
			Placeholder: `{"Accept": "application/json"}`,
		},
		{
			Name: "secretHeaders", Label: "Secret headers", Kind: connectors.KindObject, Secret: true,
			Help: `Headers that carry credentials, as a JSON object: {"Authorization": "Bearer ..."} or {"X-API-Key": "..."}. ` +
				"Stored encrypted and never shown again; sent only to the host of the request's URL, never to another host a redirect points to.",
			Placeholder: `{"Authorization": "Bearer ..."}`,
		},
		{
			Name: "allowPrivateNetworks", Label: "Allow private networks", Kind: connectors.KindBoolean, Default: false,
			Help: "Off: requests to loopback (127.0.0.1, ::1), private (10.x, 172.16-31.x, 192.168.x, fc00::/7), link-local (169.254.x, " +
				"including the cloud metadata service) and other non-public addresses are refused, after DNS and on every redirect. " +
				"Turn on only for an API inside your own network.",
		},
	},
	Commands: []connectors.Command{{
		Name:        "request",
		Label:       "HTTP request",
		Description: "Sends one HTTP request and returns the response's status, headers and body.",
		Params: []connectors.Field{
			{
				Name: "method", Label: "Method", Kind: connectors.KindString, Required: true,
				Enum: []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"},
				Help: "The HTTP method. GET, HEAD and OPTIONS only read, so they are not rolled back or confirmed as changes.",
			},
			{
				Name: "url", Label: "URL", Kind: connectors.KindString, Required: true,
				Help:        "A full http:// or https:// URL, or a path relative to the connector's base URL.",
				Placeholder: "users/{{outputs.account.id}}",
			},
			{
				Name: "headers", Label: "Headers", Kind: connectors.KindObject,
				Help: `Headers for this request, as a JSON object; they override the connector's headers of the same name. ` +
					"Step params appear in run timelines: keep credentials in the connector's Secret headers.",
				Placeholder: `{"If-Match": "*"}`,
			},
			{
				Name: "body", Label: "Body", Kind: connectors.KindText,
				Help: "The request body. Sent as application/json when it is valid JSON and no Content-Type header is given, otherwise as text/plain.",
			},
			{
				Name: "expectStatus", Label: "Expected status", Kind: connectors.KindStringList, Default: []string{"2xx"},
				Help: "The statuses that count as success: codes such as 200 or 204, or classes such as 2xx, separated by commas. " +
					"Any other status fails the step, classified by the status (404 not found, 409 conflict, 429 rate limited, 5xx target error, ...).",
				Placeholder: "200, 201",
			},
		},
		Outputs: []connectors.Output{
			{Name: "status", Kind: connectors.KindInteger, Help: "The response status code, e.g. 201."},
			{Name: "headers", Kind: connectors.KindObject, Help: "The response headers, each as one text value (Set-Cookie is left out)."},
			{Name: "body", Kind: connectors.KindObject, Help: "The response body: the parsed JSON value when the response is JSON, otherwise the text."},
			{Name: "truncated", Kind: connectors.KindBoolean, Help: "True when the body was longer than 1 MiB and only its first 1 MiB was kept (as text)."},
		},
		Mutating:     true,
		MutatingNote: "GET, HEAD and OPTIONS requests only read; other methods change the target.",
		MutatingWhen: mutatingMethod,
	}},
	Validate: func(cfg connectors.Config) []connectors.FieldError {
		_, problems := configure(cfg)
		return problems
	},
	New: func(cfg connectors.Config) (connectors.Connector, error) {
		return newConnector(cfg, nonPublic)
	},
}

func mutatingMethod(params map[string]any) bool {
	m, _ := params["method"].(string)
	switch strings.ToUpper(strings.TrimSpace(m)) {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// settings is a checked config.
type settings struct {
	base    *url.URL // nil without a base URL; its path ends in "/"
	headers http.Header
	secret  http.Header
	private bool
}

func configure(cfg connectors.Config) (*settings, []connectors.FieldError) {
	s := &settings{private: cfg.Bool("allowPrivateNetworks")}
	var problems []connectors.FieldError
	if raw := strings.TrimSpace(cfg.String("baseUrl")); raw != "" {
		u, err := url.Parse(raw)
		switch {
		case err != nil || !u.IsAbs() || u.Host == "":
			problems = append(problems, connectors.FieldError{Field: "baseUrl", Message: "baseUrl must be a full URL such as https://api.example.com/v1"})
		case u.Scheme != "http" && u.Scheme != "https":
			problems = append(problems, connectors.FieldError{Field: "baseUrl", Message: fmt.Sprintf("baseUrl must start with http:// or https://, not %s://", u.Scheme)})
		case u.User != nil:
			problems = append(problems, connectors.FieldError{Field: "baseUrl", Message: "baseUrl must not carry a user or password, since it is not secret: put an Authorization header in Secret headers"})
		default:
			// A base is a directory: without the slash, RFC 3986 would resolve users/42
			// against https://api.example.com/v1 to https://api.example.com/users/42.
			if !strings.HasSuffix(u.Path, "/") {
				u.Path += "/"
			}
			s.base = u
		}
	}
	var p []connectors.FieldError
	s.headers, p = headerConfig(cfg["headers"], "headers", false)
	problems = append(problems, p...)
	s.secret, p = headerConfig(cfg["secretHeaders"], "secretHeaders", true)
	problems = append(problems, p...)
	for _, name := range slices.Sorted(maps.Keys(s.secret)) {
		if _, ok := s.headers[name]; ok {
			problems = append(problems, connectors.FieldError{Field: "headers", Message: fmt.Sprintf("headers and secretHeaders both set %s; keep it in one", name)})
		}
	}
	return s, problems
}

// headerConfig checks a headers object from the config. Messages about secret headers name
// the header, never its value.
func headerConfig(v any, field string, secret bool) (http.Header, []connectors.FieldError) {
	obj, _ := v.(map[string]any)
	h := make(http.Header, len(obj))
	var problems []connectors.FieldError
	for _, name := range slices.Sorted(maps.Keys(obj)) {
		value, ok := obj[name].(string)
		switch {
		case !validName(name):
			problems = append(problems, connectors.FieldError{Field: field, Message: fmt.Sprintf("%s: %q is not a header name", field, name)})
		case !ok:
			problems = append(problems, connectors.FieldError{Field: field, Message: fmt.Sprintf("%s: the value of %s must be text", field, name)})
		case !validValue(value):
			problems = append(problems, connectors.FieldError{Field: field, Message: fmt.Sprintf("%s: the value of %s must be one line without control characters", field, name)})
		case !secret && credentialHeader(name):
			problems = append(problems, connectors.FieldError{Field: field, Message: fmt.Sprintf("%s looks like a credential: put it in Secret headers, which are stored encrypted and never shown", name)})
		default:
			h.Set(name, value)
		}
	}
	return h, problems
}

// validName reports whether name is an RFC 9110 token.
func validName(name string) bool {
	return name != "" && strings.IndexFunc(name, func(r rune) bool {
		return r > 0x7e || !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune("!#$%&'*+-.^_`|~", r))
	}) < 0
}

// validValue refuses control characters, which would split or smuggle headers.
func validValue(v string) bool {
	return strings.IndexFunc(v, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) < 0
}

// credentialHeader reports names that usually carry credentials.
func credentialHeader(name string) bool {
	n := strings.ToLower(name)
	if n == "authorization" || n == "proxy-authorization" || n == "cookie" {
		return true
	}
	for _, s := range []string{"token", "secret", "password", "api-key", "apikey", "api_key"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

type connector struct {
	settings *settings
	client   *http.Client
}

// newConnector builds the connector. kind decides which addresses are refused unless the
// config allows private networks; the type passes nonPublic, tests a narrower rule.
func newConnector(cfg connectors.Config, kind func(netip.Addr) string) (*connector, error) {
	s, problems := configure(cfg)
	if len(problems) > 0 {
		return nil, errors.New(problems[0].Message)
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	if !s.private {
		dialer.Control = guard(kind)
	}
	transport := &http.Transport{
		// No proxy from the environment: the guard must see the real destination, not a proxy.
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: time.Minute,
		// One attempt per call, as the contract says: no pool outlives it.
		DisableKeepAlives: true,
	}
	client := &http.Client{
		Transport: transport,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			if req.URL.Host != via[0].URL.Host {
				for name := range s.secret {
					req.Header.Del(name)
				}
			}
			return nil
		},
	}
	return &connector{settings: s, client: client}, nil
}

// Test fetches the base URL with HEAD (GET when HEAD is not allowed), which changes nothing.
// Any answer but an authentication failure, a throttle or a server error shows the API is
// reachable with these credentials.
func (c *connector) Test(ctx context.Context) (connectors.TestResult, error) {
	if c.settings.base == nil {
		return connectors.TestResult{Message: "No base URL is configured, so there is nothing to test: each request gives its full URL."}, nil
	}
	method := http.MethodHead
	resp, err := c.do(ctx, method, c.settings.base, nil, "")
	if err == nil && (resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode == http.StatusNotImplemented) {
		resp.Body.Close()
		method = http.MethodGet
		resp, err = c.do(ctx, method, c.settings.base, nil, "")
	}
	if err != nil {
		return connectors.TestResult{}, classify(err)
	}
	defer resp.Body.Close()
	s := resp.StatusCode
	if s == http.StatusUnauthorized || s == http.StatusForbidden || s == http.StatusTooManyRequests || s >= 500 {
		return connectors.TestResult{}, statusError(method, resp, "")
	}
	return connectors.TestResult{
		Message: fmt.Sprintf("%s %s answered %s.", method, resp.Request.URL.Redacted(), resp.Status),
		Data:    map[string]any{"status": s},
	}, nil
}

// Execute runs request.
func (c *connector) Execute(ctx context.Context, command string, params map[string]any) (map[string]any, error) {
	if command != "request" {
		return nil, connectors.Errorf(connectors.InvalidInput, "UNKNOWN_COMMAND", "the http connector has no command %q; it has request", command)
	}
	method, _ := params["method"].(string)
	raw, _ := params["url"].(string)
	u, err := c.resolve(raw)
	if err != nil {
		return nil, invalid("url", "INVALID_URL", err.Error())
	}
	header, err := paramHeaders(params["headers"])
	if err != nil {
		return nil, invalid("headers", "INVALID_HEADERS", err.Error())
	}
	expect, _ := params["expectStatus"].([]string)
	if err := checkExpect(expect); err != nil {
		return nil, invalid("expectStatus", "INVALID_PARAMS", err.Error())
	}
	body, _ := params["body"].(string)
	resp, err := c.do(ctx, method, u, header, body)
	if err != nil {
		return nil, classify(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, connectors.Classify(err)
	}
	truncated := len(data) > maxBody
	if truncated {
		data = data[:maxBody]
	}
	if !expected(expect, resp.StatusCode) {
		want := "2xx"
		if len(expect) > 0 {
			want = strings.Join(expect, ", ")
		}
		detail := ", expected " + want
		if s := snippet(data); s != "" {
			detail += ": " + s
		}
		return nil, statusError(method, resp, detail)
	}
	return map[string]any{
		"status":    resp.StatusCode,
		"headers":   responseHeaders(resp.Header),
		"body":      decodeBody(resp.Header.Get("Content-Type"), data, truncated),
		"truncated": truncated,
	}, nil
}

func invalid(field, code, msg string) *connectors.Error {
	return &connectors.Error{Class: connectors.InvalidInput, Code: code, Field: field, Message: "request was not sent: " + msg}
}

// resolve makes the url param absolute against the base URL.
func (c *connector) resolve(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("url %q is not a URL", raw)
	}
	if !u.IsAbs() {
		if c.settings.base == nil {
			return nil, fmt.Errorf("url %q is relative and the connector has no base URL", raw)
		}
		u = c.settings.base.ResolveReference(u)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("url must start with http:// or https://, not %s://", u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("url %q has no host", raw)
	}
	return u, nil
}

// paramHeaders checks the step's headers param.
func paramHeaders(v any) (http.Header, error) {
	obj, _ := v.(map[string]any)
	h := make(http.Header, len(obj))
	for _, name := range slices.Sorted(maps.Keys(obj)) {
		value, ok := obj[name].(string)
		switch {
		case !validName(name):
			return nil, fmt.Errorf("headers: %q is not a header name", name)
		case !ok:
			return nil, fmt.Errorf("headers: the value of %s must be text", name)
		case !validValue(value):
			return nil, fmt.Errorf("headers: the value of %s must be one line without control characters", name)
		}
		h.Set(name, value)
	}
	return h, nil
}

// checkExpect accepts status codes (200) and classes (2xx).
func checkExpect(expect []string) error {
	for _, e := range expect {
		if len(e) == 3 && e[0] >= '1' && e[0] <= '5' && strings.EqualFold(e[1:], "xx") {
			continue
		}
		if n, err := strconv.Atoi(e); err != nil || n < 100 || n > 599 {
			return fmt.Errorf("expectStatus %q must be a status code such as 200 or a class such as 2xx", e)
		}
	}
	return nil
}

// expected reports whether status matches expect; an empty expect means 2xx.
func expected(expect []string, status int) bool {
	if len(expect) == 0 {
		return status >= 200 && status < 300
	}
	code := strconv.Itoa(status)
	for _, e := range expect {
		if e == code || len(e) == 3 && e[0] == code[0] && strings.EqualFold(e[1:], "xx") {
			return true
		}
	}
	return false
}

// do sends one request with the config's headers, the secret headers, then the step's.
func (c *connector) do(ctx context.Context, method string, u *url.URL, header http.Header, body string) (*http.Response, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, invalid("method", "INVALID_PARAMS", err.Error())
	}
	for _, h := range []http.Header{c.settings.headers, c.settings.secret, header} {
		for name, values := range h {
			req.Header[name] = slices.Clone(values)
		}
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		if json.Valid([]byte(body)) {
			req.Header.Set("Content-Type", "application/json")
		} else {
			req.Header.Set("Content-Type", "text/plain; charset=utf-8")
		}
	}
	return c.client.Do(req)
}

// classify turns a failure to get a response into the envelope.
func classify(err error) *connectors.Error {
	var r *refusal
	if errors.As(err, &r) {
		return &connectors.Error{
			Class: connectors.InvalidInput, Code: "PRIVATE_NETWORK_REFUSED", Field: "url", Err: err,
			Message: fmt.Sprintf("refused to connect: %v. Private, loopback and link-local destinations are blocked; "+
				"turn on Allow private networks (allowPrivateNetworks) in the connector's config to reach an API inside your network", r),
		}
	}
	return connectors.Classify(err)
}

// statusError classifies a response whose status was not expected. detail ends the message.
func statusError(method string, resp *http.Response, detail string) *connectors.Error {
	s := resp.StatusCode
	msg := fmt.Sprintf("%s %s answered %s%s", method, resp.Request.URL.Redacted(), resp.Status, detail)
	var class connectors.Class
	switch {
	case s == http.StatusBadRequest || s == http.StatusUnprocessableEntity:
		class = connectors.InvalidInput
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		class = connectors.Unauthorized
	case s == http.StatusNotFound || s == http.StatusGone:
		class = connectors.NotFound
	case s == http.StatusConflict || s == http.StatusPreconditionFailed:
		class = connectors.Conflict
	case s == http.StatusTooManyRequests:
		class = connectors.RateLimited
	case s == http.StatusRequestTimeout || s >= 500:
		class = connectors.TargetError
	default:
		// Another 4xx rejects the request; a 1xx, 2xx or 3xx other than the expected one means
		// the step's expectation is wrong. Neither improves with a retry, and retrying a POST
		// that did succeed would repeat it.
		class = connectors.InvalidInput
	}
	return &connectors.Error{
		Class: class, Code: "HTTP_" + strconv.Itoa(s), Message: msg,
		RetryAfter: retryAfter(resp.Header),
	}
}

// retryAfter reads Retry-After, in seconds or as an HTTP date.
func retryAfter(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		return time.Duration(max(secs, 0)) * time.Second
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	// Against the server's own Date when it sent one, so a skew between its clock and ours
	// neither stretches nor cancels the wait.
	now := time.Now()
	if date, err := http.ParseTime(h.Get("Date")); err == nil {
		now = date
	}
	return max(at.Sub(now), 0)
}

// responseHeaders flattens the headers for the outputs. Set-Cookie is left out: outputs are
// shown in run timelines, and a session cookie is a credential.
func responseHeaders(h http.Header) map[string]any {
	out := make(map[string]any, len(h))
	for name, values := range h {
		if name != "Set-Cookie" {
			out[name] = strings.Join(values, ", ")
		}
	}
	return out
}

// decodeBody returns the parsed JSON for a complete JSON response, the text otherwise.
func decodeBody(contentType string, data []byte, truncated bool) any {
	if mt, _, err := mime.ParseMediaType(contentType); err == nil && !truncated && len(data) > 0 &&
		(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		var v any
		if json.Unmarshal(data, &v) == nil {
			return v
		}
	}
	return strings.ToValidUTF8(string(data), "\uFFFD")
}

// snippet is the start of a response body for an error message.
func snippet(data []byte) string {
	const limit = 300
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(data), "\uFFFD")), " ")
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
