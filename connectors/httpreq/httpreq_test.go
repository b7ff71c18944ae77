package httpreq

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"floh/connectors"
)

func TestTypeRegistersAndDocumentsEveryField(t *testing.T) {
	if _, err := connectors.NewRegistry(Type); err != nil {
		t.Fatal(err)
	}
	fields := slices.Clone(Type.Config)
	for _, c := range Type.Commands {
		fields = append(fields, c.Params...)
		for _, o := range c.Outputs {
			if o.Help == "" {
				t.Errorf("%s output %s needs help", c.Name, o.Name)
			}
		}
	}
	for _, f := range fields {
		if f.Label == "" || f.Help == "" {
			t.Errorf("%s needs a label and help", f.Name)
		}
	}
	if !slices.Equal(Type.SecretFields(), []string{"secretHeaders"}) {
		t.Errorf("secret fields: %v", Type.SecretFields())
	}
	cmd := Type.Command("request")
	for method, want := range map[string]bool{"GET": false, "HEAD": false, "OPTIONS": false, "POST": true, "PUT": true, "PATCH": true, "DELETE": true} {
		if got := cmd.IsMutating(map[string]any{"method": method}); got != want {
			t.Errorf("%s mutating: got %v", method, got)
		}
	}
}

func TestCheckParamsNamesTheField(t *testing.T) {
	cmd := Type.Command("request")
	for field, params := range map[string]map[string]any{
		"method":       {"url": "https://api.example.test/"},
		"url":          {"method": "GET"},
		"headers":      {"method": "GET", "url": "x", "headers": "Accept: text/plain"},
		"body":         {"method": "POST", "url": "x", "body": map[string]any{"a": 1.0}},
		"expectStatus": {"method": "GET", "url": "x", "expectStatus": map[string]any{}},
	} {
		_, err := connectors.CheckParams(cmd, params)
		var ce *connectors.Error
		if !errors.As(err, &ce) || ce.Class != connectors.InvalidInput || ce.Field != field {
			t.Errorf("%s: want invalid_input naming it, got %#v", field, err)
		}
	}
	_, err := connectors.CheckParams(cmd, map[string]any{"method": "FETCH", "url": "x"})
	if err == nil || !strings.Contains(err.Error(), "GET") {
		t.Errorf("an unknown method must list the allowed ones: %v", err)
	}
}

func TestValidateConfig(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg   connectors.Config
		field string
		want  string
	}{
		"scheme":            {connectors.Config{"baseUrl": "ftp://files.example.test"}, "baseUrl", "http:// or https://"},
		"relative":          {connectors.Config{"baseUrl": "api/v1"}, "baseUrl", "full URL"},
		"userinfo":          {connectors.Config{"baseUrl": "https://bot:pw@api.example.test"}, "baseUrl", "Secret headers"},
		"plain credential":  {connectors.Config{"headers": map[string]any{"Authorization": "Bearer abc"}}, "headers", "Secret headers"},
		"plain api key":     {connectors.Config{"headers": map[string]any{"X-API-Key": "abc"}}, "headers", "Secret headers"},
		"header name":       {connectors.Config{"headers": map[string]any{"Bad Name": "x"}}, "headers", "not a header name"},
		"header value":      {connectors.Config{"headers": map[string]any{"Accept": 1.0}}, "headers", "must be text"},
		"secret line break": {connectors.Config{"secretHeaders": map[string]any{"X-API-Key": "s3cret\r\nX-Evil: 1"}}, "secretHeaders", "one line"},
		"in both":           {connectors.Config{"headers": map[string]any{"Accept": "a"}, "secretHeaders": map[string]any{"accept": "b"}}, "headers", "both"},
	} {
		_, problems := connectors.CheckConfig(Type, tc.cfg)
		if len(problems) != 1 || problems[0].Field != tc.field || !strings.Contains(problems[0].Message, tc.want) {
			t.Errorf("%s: want a problem with %s mentioning %q, got %+v", name, tc.field, tc.want, problems)
		}
		for _, p := range problems {
			if strings.Contains(p.Message, "s3cret") {
				t.Errorf("%s: the message shows a secret: %s", name, p.Message)
			}
		}
	}
	cfg, problems := connectors.CheckConfig(Type, connectors.Config{"baseUrl": "https://api.example.test/v1"})
	if len(problems) > 0 || cfg["allowPrivateNetworks"] != false {
		t.Fatalf("defaults: %v %v", cfg, problems)
	}
}

// request is what a test server saw.
type request struct {
	Method, Path, Body string
	Header             http.Header
}

// server records every request and answers with handler.
func server(t *testing.T, handler http.HandlerFunc) (*httptest.Server, chan request) {
	t.Helper()
	seen := make(chan request, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		seen <- request{Method: r.Method, Path: r.URL.RequestURI(), Body: string(body), Header: r.Header.Clone()}
		handler(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, seen
}

// open builds a connector through the type, as the engine does.
func open(t *testing.T, cfg connectors.Config) connectors.Connector {
	t.Helper()
	checked, problems := connectors.CheckConfig(Type, cfg)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	c, err := Type.New(checked)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func run(t *testing.T, c connectors.Connector, params map[string]any) (map[string]any, error) {
	t.Helper()
	p, err := connectors.CheckParams(Type.Command("request"), params)
	if err != nil {
		t.Fatal(err)
	}
	return c.Execute(context.Background(), "request", p)
}

func wantError(t *testing.T, err error, class connectors.Class, code string) *connectors.Error {
	t.Helper()
	var ce *connectors.Error
	if !errors.As(err, &ce) || ce.Class != class || (code != "" && ce.Code != code) {
		t.Fatalf("want %s %s, got %#v", class, code, err)
	}
	return ce
}

func TestRequestSendsHeadersAndBodyAndParsesJSON(t *testing.T) {
	srv, seen := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/scim+json; charset=utf-8")
		w.Header().Set("X-Request-Id", "r-1")
		w.Header().Set("Set-Cookie", "session=s3cret")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"id": "42", "groups": [1, 2]}`)
	})
	c := open(t, connectors.Config{
		"baseUrl":              srv.URL + "/api/v1",
		"headers":              map[string]any{"Accept": "text/plain", "User-Agent": "floh-test"},
		"secretHeaders":        map[string]any{"X-API-Key": "k-123"},
		"allowPrivateNetworks": true,
	})
	out, err := run(t, c, map[string]any{
		"method":  "POST",
		"url":     "users?notify=true",
		"headers": map[string]any{"Accept": "application/json"},
		"body":    `{"userName": "jdoe"}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	got := <-seen
	switch {
	case got.Method != "POST" || got.Path != "/api/v1/users?notify=true" || got.Body != `{"userName": "jdoe"}`:
		t.Errorf("request: %+v", got)
	case got.Header.Get("Content-Type") != "application/json":
		t.Errorf("a JSON body goes as application/json, got %q", got.Header.Get("Content-Type"))
	case got.Header.Get("Accept") != "application/json" || got.Header.Get("User-Agent") != "floh-test":
		t.Errorf("the step's headers override the connector's: %v", got.Header)
	case got.Header.Get("X-API-Key") != "k-123":
		t.Errorf("secret header missing: %v", got.Header)
	}
	body, _ := out["body"].(map[string]any)
	headers, _ := out["headers"].(map[string]any)
	switch {
	case out["status"] != 201 || out["truncated"] != false:
		t.Errorf("outputs: %v", out)
	case body["id"] != "42" || len(body["groups"].([]any)) != 2:
		t.Errorf("body: %#v", out["body"])
	case headers["X-Request-Id"] != "r-1":
		t.Errorf("headers: %v", headers)
	case headers["Set-Cookie"] != nil:
		t.Errorf("Set-Cookie must not reach the outputs: %v", headers)
	}
	if _, err := json.Marshal(out); err != nil {
		t.Errorf("outputs must be JSON: %v", err)
	}
}

func TestRequestTextAndTruncation(t *testing.T) {
	big := strings.Repeat("a", maxBody+10)
	srv, seen := server(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/text":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "plain answer")
		case "/big":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `"`+big+`"`)
		case "/broken":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"not json`)
		}
	})
	c := open(t, connectors.Config{"allowPrivateNetworks": true})
	out, err := run(t, c, map[string]any{"method": "PUT", "url": srv.URL + "/text", "body": "hello"})
	if err != nil || out["body"] != "plain answer" {
		t.Fatalf("text: %v %v", out, err)
	}
	if got := <-seen; !strings.HasPrefix(got.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("a non-JSON body goes as text/plain, got %q", got.Header.Get("Content-Type"))
	}
	out, err = run(t, c, map[string]any{"method": "GET", "url": srv.URL + "/big"})
	if err != nil || out["truncated"] != true || len(out["body"].(string)) != maxBody {
		t.Fatalf("big: truncated=%v len=%d %v", out["truncated"], len(out["body"].(string)), err)
	}
	out, err = run(t, c, map[string]any{"method": "GET", "url": srv.URL + "/broken"})
	if err != nil || out["body"] != `{"not json` {
		t.Fatalf("invalid JSON stays text: %v %v", out, err)
	}
}

func TestRelativeURLWithoutBaseIsInvalid(t *testing.T) {
	c := open(t, connectors.Config{})
	_, err := run(t, c, map[string]any{"method": "GET", "url": "users/42"})
	if e := wantError(t, err, connectors.InvalidInput, "INVALID_URL"); e.Field != "url" {
		t.Errorf("field: %s", e.Field)
	}
	_, err = run(t, c, map[string]any{"method": "GET", "url": "file:///etc/passwd"})
	wantError(t, err, connectors.InvalidInput, "INVALID_URL")
	_, err = run(t, c, map[string]any{"method": "GET", "url": "https://api.example.test/", "headers": map[string]any{"X-A": "1\n2"}})
	if e := wantError(t, err, connectors.InvalidInput, "INVALID_HEADERS"); e.Field != "headers" {
		t.Errorf("field: %s", e.Field)
	}
	_, err = run(t, c, map[string]any{"method": "GET", "url": "https://api.example.test/", "expectStatus": "ok"})
	if e := wantError(t, err, connectors.InvalidInput, ""); e.Field != "expectStatus" {
		t.Errorf("field: %s", e.Field)
	}
}

func TestStatusClassification(t *testing.T) {
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/429":
			w.Header().Set("Retry-After", "7")
		case "/503":
			w.Header().Set("Date", "Tue, 01 Sep 2026 10:00:00 GMT")
			w.Header().Set("Retry-After", "Tue, 01 Sep 2026 10:02:00 GMT")
		}
		status := map[string]int{
			"/400": 400, "/422": 422, "/401": 401, "/403": 403, "/404": 404, "/409": 409,
			"/429": 429, "/500": 500, "/503": 503, "/418": 418, "/200": 200, "/204": 204,
		}[r.URL.Path]
		w.WriteHeader(status)
		if status != 204 {
			_, _ = io.WriteString(w, `{"error": "the answer for `+r.URL.Path+`"}`)
		}
	})
	c := open(t, connectors.Config{"baseUrl": srv.URL, "allowPrivateNetworks": true})
	for _, tc := range []struct {
		path   string
		expect any
		class  connectors.Class
		retry  time.Duration
	}{
		{"/400", nil, connectors.InvalidInput, 0},
		{"/422", nil, connectors.InvalidInput, 0},
		{"/401", nil, connectors.Unauthorized, 0},
		{"/403", nil, connectors.Unauthorized, 0},
		{"/404", nil, connectors.NotFound, 0},
		{"/409", nil, connectors.Conflict, 0},
		{"/429", nil, connectors.RateLimited, 7 * time.Second},
		{"/500", nil, connectors.TargetError, 0},
		{"/503", nil, connectors.TargetError, 2 * time.Minute},
		{"/418", nil, connectors.InvalidInput, 0},
		{"/200", "201", connectors.InvalidInput, 0},
		{"/204", []any{"200"}, connectors.InvalidInput, 0},
	} {
		params := map[string]any{"method": "POST", "url": tc.path}
		if tc.expect != nil {
			params["expectStatus"] = tc.expect
		}
		_, err := run(t, c, params)
		e := wantError(t, err, tc.class, "HTTP_"+tc.path[1:])
		if e.RetryAfter != tc.retry {
			t.Errorf("%s: RetryAfter %s, want %s", tc.path, e.RetryAfter, tc.retry)
		}
		if tc.path != "/204" && !strings.Contains(e.Message, "the answer for "+tc.path) {
			t.Errorf("%s: the message should quote the response: %s", tc.path, e.Message)
		}
	}
	for _, expect := range []any{"200, 404", []any{"4xx"}, "404"} {
		out, err := run(t, c, map[string]any{"method": "GET", "url": "/404", "expectStatus": expect})
		if err != nil || out["status"] != 404 {
			t.Errorf("expectStatus %v: %v %v", expect, out, err)
		}
	}
}

func TestRedirectsAreFollowedAndSecretHeadersStayWithTheirHost(t *testing.T) {
	other, seenOther := server(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "elsewhere")
	})
	srv, seen := server(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/old":
			http.Redirect(w, r, "/new", http.StatusFound)
		case "/away":
			http.Redirect(w, r, other.URL+"/landing", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		default:
			_, _ = io.WriteString(w, "moved here")
		}
	})
	c := open(t, connectors.Config{
		"baseUrl": srv.URL, "allowPrivateNetworks": true,
		"headers": map[string]any{"Accept": "text/plain"}, "secretHeaders": map[string]any{"X-API-Key": "k-123"},
	})
	out, err := run(t, c, map[string]any{"method": "GET", "url": "/old"})
	if err != nil || out["body"] != "moved here" {
		t.Fatalf("same host: %v %v", out, err)
	}
	<-seen
	if got := <-seen; got.Header.Get("X-API-Key") != "k-123" {
		t.Errorf("a redirect on the same host keeps the secret header: %v", got.Header)
	}
	out, err = run(t, c, map[string]any{"method": "GET", "url": "/away"})
	if err != nil || out["body"] != "elsewhere" {
		t.Fatalf("other host: %v %v", out, err)
	}
	if got := <-seenOther; got.Header.Get("X-API-Key") != "" || got.Header.Get("Accept") != "text/plain" {
		t.Errorf("another host gets the plain headers but not the secret ones: %v", got.Header)
	}
	_, err = run(t, c, map[string]any{"method": "GET", "url": "/loop"})
	if e := wantError(t, err, connectors.TargetError, ""); !strings.Contains(e.Message, "redirects") {
		t.Errorf("message: %s", e.Message)
	}
}

func TestUnreachableIsConnectorDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	c := open(t, connectors.Config{"baseUrl": "http://" + addr, "allowPrivateNetworks": true})
	_, err = run(t, c, map[string]any{"method": "GET", "url": "/"})
	wantError(t, err, connectors.ConnectorDown, "")
	_, err = c.Test(context.Background())
	wantError(t, err, connectors.ConnectorDown, "")
}

// Without allowPrivateNetworks nothing reaches a non-public address, however it is named.
func TestPrivateDestinationsAreRefused(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	c := open(t, connectors.Config{})
	for _, u := range []string{
		srv.URL,
		"http://localhost:" + strconv.Itoa(port) + "/",
		"http://[::1]:" + strconv.Itoa(port) + "/",
		"http://[::ffff:127.0.0.1]:" + strconv.Itoa(port) + "/",
		"http://10.0.0.1/",
		"http://192.168.1.1:8080/",
		"http://169.254.169.254/latest/meta-data/",
		"http://0.0.0.0:" + strconv.Itoa(port) + "/",
	} {
		_, err := run(t, c, map[string]any{"method": "GET", "url": u})
		e := wantError(t, err, connectors.InvalidInput, "PRIVATE_NETWORK_REFUSED")
		if e.Field != "url" || !strings.Contains(e.Message, "allowPrivateNetworks") {
			t.Errorf("%s: the refusal must name the url and say how to allow it: %+v", u, e)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("%d request(s) reached the server", n)
	}
	res, err := open(t, connectors.Config{}).Test(context.Background())
	if err != nil || !strings.Contains(res.Message, "nothing to test") {
		t.Fatalf("test without a base URL: %+v %v", res, err)
	}
	_, err = open(t, connectors.Config{"baseUrl": srv.URL}).Test(context.Background())
	wantError(t, err, connectors.InvalidInput, "PRIVATE_NETWORK_REFUSED")
}

// A redirect from an allowed host to a refused one is caught at its own dial. The test treats
// 127.0.0.1 as public so that a local server can play the public API.
func TestRedirectToAPrivateAddressIsRefused(t *testing.T) {
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	})
	loopbackIsPublic := func(a netip.Addr) string {
		if a == netip.MustParseAddr("127.0.0.1") {
			return ""
		}
		return nonPublic(a)
	}
	c, err := newConnector(connectors.Config{"baseUrl": srv.URL}, loopbackIsPublic)
	if err != nil {
		t.Fatal(err)
	}
	_, err = run(t, c, map[string]any{"method": "GET", "url": "/"})
	if e := wantError(t, err, connectors.InvalidInput, "PRIVATE_NETWORK_REFUSED"); !strings.Contains(e.Message, "169.254.169.254") {
		t.Errorf("message: %s", e.Message)
	}
}

func TestNonPublic(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1": "loopback", "127.9.9.9": "loopback", "::1": "loopback", "::ffff:127.0.0.1": "loopback",
		"10.1.2.3": "private", "172.16.0.1": "private", "172.31.255.255": "private", "192.168.0.1": "private",
		"fc00::1": "private", "fd12:3456::1": "private",
		"169.254.169.254": "link-local", "fe80::1": "link-local", "fe80::1%eth0": "link-local",
		"0.0.0.0": "unspecified", "::": "unspecified",
		"224.0.0.1": "multicast", "ff02::1": "multicast",
		"100.64.0.1": "shared (carrier-grade NAT)", "192.0.2.1": "documentation", "2001:db8::1": "documentation",
		"255.255.255.255": "reserved", "0.1.2.3": "this-network",
		"64:ff9b::a00:1": "private", "2002:a00:1::1": "private", // 10.0.0.1 through NAT64 and 6to4
		"8.8.8.8": "", "1.1.1.1": "", "172.32.0.1": "", "2606:4700:4700::1111": "", "64:ff9b::808:808": "",
	} {
		if got := nonPublic(netip.MustParseAddr(addr)); got != want {
			t.Errorf("%s: got %q, want %q", addr, got, want)
		}
	}
}

func TestTestFetchesTheBaseURLWithoutChangingIt(t *testing.T) {
	srv, seen := server(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/noauth/":
			w.WriteHeader(http.StatusUnauthorized)
		case r.URL.Path == "/gethonly/" && r.Method == http.MethodHead:
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	})
	res, err := open(t, connectors.Config{"baseUrl": srv.URL + "/v1", "allowPrivateNetworks": true}).Test(context.Background())
	if err != nil || !strings.Contains(res.Message, "HEAD "+srv.URL+"/v1/ answered 200 OK") {
		t.Fatalf("%+v %v", res, err)
	}
	if got := <-seen; got.Method != http.MethodHead {
		t.Errorf("method: %s", got.Method)
	}
	res, err = open(t, connectors.Config{"baseUrl": srv.URL + "/gethonly", "allowPrivateNetworks": true}).Test(context.Background())
	if err != nil || !strings.HasPrefix(res.Message, "GET ") {
		t.Fatalf("GET when HEAD is not allowed: %+v %v", res, err)
	}
	if a, b := <-seen, <-seen; a.Method != http.MethodHead || b.Method != http.MethodGet {
		t.Errorf("methods: %s, %s", a.Method, b.Method)
	}
	_, err = open(t, connectors.Config{"baseUrl": srv.URL + "/noauth", "allowPrivateNetworks": true}).Test(context.Background())
	wantError(t, err, connectors.Unauthorized, "HTTP_401")
}
