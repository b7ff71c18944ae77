package authifi_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"floh/connectors"
	"floh/connectors/authifi"
	"floh/connectors/authifi/authifitest"
)

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

const (
	nih   = "https://auth.nih.gov/affwebservices/public/wsfeddispatcher"
	login = "https://login.example.org"
)

// env is a fake tenant and a connector to it, on one fake clock.
type env struct {
	srv   *authifitest.Server
	conn  *authifi.Connector
	clock *clockwork.FakeClock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	clock := clockwork.NewFakeClockAt(t0)
	srv := authifitest.Start(t, authifitest.Options{Clock: clock})
	return &env{srv: srv, conn: connect(t, srv.Config(), clock), clock: clock}
}

func connect(t *testing.T, cfg connectors.Config, clock clockwork.Clock) *authifi.Connector {
	t.Helper()
	checked, problems := connectors.CheckConfig(authifi.Type, cfg)
	if len(problems) > 0 {
		t.Fatalf("config: %v", problems)
	}
	c, err := authifi.New(checked, authifi.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// exec checks params against the command's schema, as the engine does, and runs it.
func exec(t *testing.T, c *authifi.Connector, command string, params map[string]any) (map[string]any, error) {
	t.Helper()
	cmd := authifi.Type.Command(command)
	if cmd == nil {
		t.Fatalf("no command %s", command)
	}
	checked, err := connectors.CheckParams(cmd, params)
	if err != nil {
		t.Fatalf("%s params: %v", command, err)
	}
	return c.Execute(context.Background(), command, checked)
}

func mustExec(t *testing.T, c *authifi.Connector, command string, params map[string]any) map[string]any {
	t.Helper()
	out, err := exec(t, c, command, params)
	if err != nil {
		t.Fatalf("%s: %v", command, err)
	}
	return out
}

// wantError asserts err is a classified error of class and code.
func wantError(t *testing.T, err error, class connectors.Class, code string) *connectors.Error {
	t.Helper()
	var ce *connectors.Error
	if !errors.As(err, &ce) {
		t.Fatalf("want a %s %s error, got %v", class, code, err)
	}
	if ce.Class != class || ce.Code != code {
		t.Fatalf("want %s %s, got %s %s: %s", class, code, ce.Class, ce.Code, ce.Message)
	}
	return ce
}

// calls counts the server's calls to a path ending in suffix, answered with status (any
// status when 0).
func calls(srv *authifitest.Server, method, suffix string, status int) int {
	n := 0
	for _, c := range srv.Calls() {
		if c.Method == method && strings.HasSuffix(c.Path, suffix) && (status == 0 || c.Status == status) {
			n++
		}
	}
	return n
}

func TestTypeRegistersAndChecks(t *testing.T) {
	reg, err := connectors.NewRegistry(authifi.Type)
	if err != nil {
		t.Fatal(err)
	}
	typ := reg.Type("authifi")
	if typ == nil || typ.Label != "Authifi" {
		t.Fatalf("registry has %v", reg.Names())
	}
	if got := typ.SecretFields(); !slices.Equal(got, []string{"clientSecret"}) {
		t.Errorf("secret fields %v", got)
	}
	want := []string{"createUser", "deleteUser", "assignRoles", "removeRoles", "addToGroup", "removeFromGroup",
		"checkGroupMembership", "setPassword", "linkExternalIdentity", "unlinkExternalIdentity", "listUsers", "listGroups"}
	for _, name := range want {
		cmd := typ.Command(name)
		if cmd == nil {
			t.Errorf("missing command %s", name)
			continue
		}
		if cmd.Param("email") != nil && cmd.Param("issuer") == nil {
			t.Errorf("%s takes email but no issuer", name)
		}
		readOnly := name == "checkGroupMembership" || name == "listUsers" || name == "listGroups"
		if cmd.Mutating == readOnly {
			t.Errorf("%s mutating = %v", name, cmd.Mutating)
		}
	}
	if n := len(typ.Commands); n != len(want) {
		t.Errorf("%d commands, want %d", n, len(want))
	}
	if typ.Command("listUsers").SyncCapable != "user" || typ.Command("listGroups").SyncCapable != "group" {
		t.Error("listUsers/listGroups are not sync-capable for user/group")
	}
	comp := func(name string) connectors.Compensation { return *typ.Command(name).Compensation }
	if c := comp("createUser"); c.Command != "deleteUser" || c.Params["email"] != "{{params.email}}" || c.Params["issuer"] != "{{params.issuer}}" {
		t.Errorf("createUser compensation %+v", c)
	}
	if c := comp("assignRoles"); c.Command != "removeRoles" || c.SubsumedBy != "deleteUser" {
		t.Errorf("assignRoles compensation %+v", c)
	}
	if c := comp("setPassword"); c.SubsumedBy != "deleteUser" || c.Command != "" {
		t.Errorf("setPassword compensation %+v", c)
	}
	if c := comp("linkExternalIdentity"); c.Command != "unlinkExternalIdentity" ||
		!slices.Equal(c.Precedes, []connectors.CommandRef{{Type: "activedirectory", Command: "deleteAccount"}, {Type: "ldap", Command: "deleteAccount"}}) {
		t.Errorf("linkExternalIdentity compensation %+v", c)
	}
	for undo, do := range map[string]string{"removeRoles": "assignRoles", "removeFromGroup": "addToGroup", "addToGroup": "removeFromGroup", "unlinkExternalIdentity": "linkExternalIdentity"} {
		if c := comp(undo); c.Command != do {
			t.Errorf("%s compensation %+v, want %s", undo, c, do)
		}
	}
	if typ.Command("deleteUser").Compensation != nil {
		t.Error("deleteUser cannot be undone, yet declares a compensation")
	}

	good := connectors.Config{"baseUrl": "https://auth.example.com/_api", "tenant": "prod", "tenantId": "42", "clientId": "floh", "clientSecret": "s"}
	if _, problems := connectors.CheckConfig(typ, good); len(problems) > 0 {
		t.Errorf("good config refused: %v", problems)
	}
	for _, bad := range []string{"ftp://auth.example.com", "https://", "auth.example.com/_api", "https://auth.example.com/_api?x=1"} {
		cfg := connectors.Config{"baseUrl": bad, "tenant": "prod", "tenantId": "42", "clientId": "floh", "clientSecret": "s"}
		if _, problems := connectors.CheckConfig(typ, cfg); len(problems) != 1 || problems[0].Field != "baseUrl" {
			t.Errorf("baseUrl %q: problems %v", bad, problems)
		}
	}
	if _, problems := connectors.CheckConfig(typ, connectors.Config{"baseUrl": "https://a.example"}); len(problems) != 4 {
		t.Errorf("missing required fields: %v", problems)
	}

	p, err := connectors.CheckParams(typ.Command("assignRoles"), map[string]any{"email": "a@example.org", "roles": "reader, writer"})
	if err != nil || !slices.Equal(p["roles"].([]string), []string{"reader", "writer"}) {
		t.Errorf("assignRoles params %v, %v", p, err)
	}
	p, err = connectors.CheckParams(typ.Command("listUsers"), map[string]any{"pageSize": "50"})
	if err != nil || p["pageSize"] != 50 {
		t.Errorf("listUsers params %v, %v", p, err)
	}
	if p, err = connectors.CheckParams(typ.Command("listGroups"), map[string]any{}); err != nil || p["pageSize"] != 100 {
		t.Errorf("listGroups default page size: %v, %v", p, err)
	}
	_, err = connectors.CheckParams(typ.Command("setPassword"), map[string]any{"email": "a@example.org"})
	if ce := wantError(t, err, connectors.InvalidInput, "INVALID_PARAMS"); ce.Field != "password" {
		t.Errorf("field %q", ce.Field)
	}
	if got := connectors.Sanitize(typ.Command("setPassword"), map[string]any{"email": "a@example.org", "password": "hunter2hunter2"}); got["password"] != connectors.Masked {
		t.Errorf("password not masked: %v", got)
	}
}

func TestCommandsHappyPath(t *testing.T) {
	e := newEnv(t)
	grp := e.srv.AddGroup(authifitest.Group{ID: "grp-eng", Name: "Engineering"})
	email := "jdoe@example.org"

	out := mustExec(t, e.conn, "createUser", map[string]any{"email": email, "displayName": "J. Doe"})
	id, _ := out["id"].(string)
	if id == "" || out["email"] != email || out["displayName"] != "J. Doe" || out["federated"] != false || out["enabled"] != true || out["identityIssuer"] != "" {
		t.Fatalf("createUser outputs %v", out)
	}
	if _, ok := e.srv.User(id); !ok {
		t.Fatalf("user %s not in Authifi", id)
	}

	out = mustExec(t, e.conn, "assignRoles", map[string]any{"email": email, "roles": []any{"reader", "writer"}})
	if out["userId"] != id || !slices.Equal(out["roles"].([]string), []string{"reader", "writer"}) {
		t.Errorf("assignRoles outputs %v", out)
	}
	out = mustExec(t, e.conn, "removeRoles", map[string]any{"email": email, "roles": "writer"})
	if out["userFound"] != true || !slices.Equal(out["roles"].([]string), []string{"reader"}) {
		t.Errorf("removeRoles outputs %v", out)
	}

	membership := map[string]any{"email": email, "groupId": grp.ID}
	if out = mustExec(t, e.conn, "addToGroup", membership); out["member"] != true || out["userId"] != id || out["groupId"] != grp.ID {
		t.Errorf("addToGroup outputs %v", out)
	}
	if g, _ := e.srv.Group(grp.ID); !slices.Equal(g.Members, []string{id}) {
		t.Errorf("members %v", g.Members)
	}
	if out = mustExec(t, e.conn, "checkGroupMembership", membership); out["member"] != true {
		t.Errorf("checkGroupMembership after add: %v", out)
	}
	mustExec(t, e.conn, "removeFromGroup", membership)
	if out = mustExec(t, e.conn, "checkGroupMembership", membership); out["member"] != false {
		t.Errorf("checkGroupMembership after remove: %v", out)
	}

	mustExec(t, e.conn, "setPassword", map[string]any{"email": email, "password": "correct-horse-battery"})
	if u, _ := e.srv.User(id); u.Password != "correct-horse-battery" {
		t.Error("password not set")
	}

	link := map[string]any{"email": email, "issuer": "ad", "externalId": "S-1-5-21-1004"}
	if out = mustExec(t, e.conn, "linkExternalIdentity", link); out["issuer"] != "ad" || out["externalId"] != "S-1-5-21-1004" {
		t.Errorf("linkExternalIdentity outputs %v", out)
	}
	if u, _ := e.srv.User(id); u.Identities["ad"] != "S-1-5-21-1004" {
		t.Errorf("identities %v", u.Identities)
	}
	mustExec(t, e.conn, "unlinkExternalIdentity", link)
	if u, _ := e.srv.User(id); len(u.Identities) != 0 {
		t.Errorf("identities after unlink %v", u.Identities)
	}

	out = mustExec(t, e.conn, "listUsers", map[string]any{})
	recs := out["records"].([]any)
	if out["count"] != 1 || out["nextCursor"] != "" || recs[0].(map[string]any)["externalId"] != id {
		t.Errorf("listUsers outputs %v", out)
	}
	out = mustExec(t, e.conn, "listGroups", map[string]any{})
	if rec := out["records"].([]any)[0].(map[string]any); out["count"] != 1 || rec["externalId"] != grp.ID || rec["displayName"] != "Engineering" {
		t.Errorf("listGroups outputs %v", out)
	}

	out = mustExec(t, e.conn, "deleteUser", map[string]any{"email": email})
	if out["id"] != id || out["email"] != email || !slices.Equal(out["roles"].([]string), []string{"reader"}) {
		t.Errorf("deleteUser outputs %v, want the deleted user", out)
	}
	if _, ok := e.srv.User(id); ok {
		t.Error("user still in Authifi after deleteUser")
	}
}

func TestTestReportsAndChangesNothing(t *testing.T) {
	e := newEnv(t)
	e.srv.AddUser(authifitest.User{Email: "a@example.org"})
	res, err := e.conn.Test(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Message, "tenant test") || !strings.Contains(res.Message, "client floh") {
		t.Errorf("message %q", res.Message)
	}
	for _, c := range e.srv.Calls() {
		if c.Method != http.MethodGet && !strings.HasSuffix(c.Path, "/oauth/token") {
			t.Errorf("Test made a %s %s", c.Method, c.Path)
		}
	}
	if q := e.srv.Calls()[1].Query; q != "limit=1" {
		t.Errorf("Test listed with %q, want one user", q)
	}
}

func TestErrorsFromTheServersAnswers(t *testing.T) {
	e := newEnv(t)
	local := e.srv.AddUser(authifitest.User{Email: "local@example.org"})
	e.srv.AddUser(authifitest.User{Email: "fed@example.org", IdentityIssuer: nih})
	grp := e.srv.AddGroup(authifitest.Group{ID: "grp-eng", Name: "Engineering", Members: []string{local.ID}})

	cases := []struct {
		name    string
		command string
		params  map[string]any
		class   connectors.Class
		code    string
		says    string
	}{
		{"invalid email (400)", "createUser", map[string]any{"email": "not-an-email"},
			connectors.InvalidInput, "INVALID_FIELD", "not an email address"},
		{"bad cursor (400)", "listUsers", map[string]any{"cursor": "!!"},
			connectors.InvalidInput, "INVALID_FIELD", "cursor"},
		{"weak password (422)", "setPassword", map[string]any{"email": "local@example.org", "password": "short"},
			connectors.InvalidInput, "PASSWORD_POLICY", "at least 12 characters"},
		{"user exists (409)", "createUser", map[string]any{"email": "fed@example.org", "issuer": nih},
			connectors.AlreadyExists, "USER_EXISTS", "user fed@example.org already exists in Authifi (issuer " + nih + ")"},
		{"local user exists (409)", "createUser", map[string]any{"email": "local@example.org"},
			connectors.AlreadyExists, "USER_EXISTS", "user local@example.org already exists in Authifi (a local user"},
		{"member exists (409)", "addToGroup", map[string]any{"email": "local@example.org", "groupId": grp.ID},
			connectors.Conflict, "MEMBER_EXISTS", "already a member of Authifi group grp-eng"},
		{"federated password (409)", "setPassword", map[string]any{"email": "fed@example.org", "password": "long-enough-password"},
			connectors.Conflict, "AUTHIFI_FEDERATED_NO_LOCAL_PASSWORD", "signs in through " + nih},
		{"not a member (404)", "removeFromGroup", map[string]any{"email": "fed@example.org", "groupId": grp.ID},
			connectors.NotFound, "NOT_A_MEMBER", "is not a member of Authifi group grp-eng"},
		{"no group (404)", "addToGroup", map[string]any{"email": "fed@example.org", "groupId": "nope"},
			connectors.NotFound, "GROUP_NOT_FOUND", "no group with id nope"},
		{"no group on check (404)", "checkGroupMembership", map[string]any{"email": "fed@example.org", "groupId": "nope"},
			connectors.NotFound, "GROUP_NOT_FOUND", "no group with id nope"},
		{"no link (404)", "unlinkExternalIdentity", map[string]any{"email": "local@example.org", "issuer": "ad"},
			connectors.NotFound, "IDENTITY_NOT_FOUND", "no identity linked from ad"},
		{"no such email", "deleteUser", map[string]any{"email": "ghost@example.org"},
			connectors.NotFound, "USER_NOT_FOUND", "no Authifi user has the email ghost@example.org"},
		{"no such email under issuer", "assignRoles", map[string]any{"email": "local@example.org", "issuer": nih, "roles": "reader"},
			connectors.NotFound, "USER_NOT_FOUND", "local@example.org (issuer " + nih + ")"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := exec(t, e.conn, tc.command, tc.params)
			ce := wantError(t, err, tc.class, tc.code)
			if !strings.Contains(ce.Message, tc.says) {
				t.Errorf("message %q does not say %q", ce.Message, tc.says)
			}
			if ce.Class.Retryable() {
				t.Error("a refusal is retryable")
			}
		})
	}
	if u, _ := e.srv.User(local.ID); u.Password != "" {
		t.Error("a refused password was stored")
	}
}

func TestPasswordPolicyNamesTheField(t *testing.T) {
	e := newEnv(t)
	e.srv.AddUser(authifitest.User{Email: "local@example.org"})
	_, err := exec(t, e.conn, "setPassword", map[string]any{"email": "local@example.org", "password": "short"})
	if ce := wantError(t, err, connectors.InvalidInput, "PASSWORD_POLICY"); ce.Field != "password" || strings.Contains(ce.Message, "short") {
		t.Errorf("field %q, message %q", ce.Field, ce.Message)
	}
}

func TestTransientFailures(t *testing.T) {
	e := newEnv(t)
	e.srv.AddUser(authifitest.User{Email: "a@example.org"})

	e.srv.RateLimit(1, "/users", 7*time.Second)
	_, err := exec(t, e.conn, "listUsers", map[string]any{})
	ce := wantError(t, err, connectors.RateLimited, "RATE_LIMITED")
	if ce.RetryAfter != 7*time.Second || !ce.Class.Retryable() || !strings.Contains(ce.Message, "7s") {
		t.Errorf("RetryAfter %s, message %q", ce.RetryAfter, ce.Message)
	}

	e.srv.Fail(1, "/users", http.StatusInternalServerError)
	_, err = exec(t, e.conn, "deleteUser", map[string]any{"email": "a@example.org"})
	if ce := wantError(t, err, connectors.TargetError, "INTERNAL_ERROR"); !ce.Class.Retryable() || !strings.Contains(ce.Message, "500") {
		t.Errorf("message %q", ce.Message)
	}

	e.srv.Fail(1, "/oauth/token", http.StatusServiceUnavailable)
	fresh := connect(t, e.srv.Config(), e.clock)
	_, err = exec(t, fresh, "listUsers", map[string]any{})
	wantError(t, err, connectors.TargetError, "SERVICE_UNAVAILABLE")

	// One attempt per call: the engine retries, not the connector.
	before := len(e.srv.Calls())
	e.srv.Fail(1, "/users", http.StatusBadGateway)
	_, err = exec(t, e.conn, "listUsers", map[string]any{})
	wantError(t, err, connectors.TargetError, "INTERNAL_ERROR")
	if n := len(e.srv.Calls()) - before; n != 1 {
		t.Errorf("%d calls for one failed attempt", n)
	}
	mustExec(t, e.conn, "deleteUser", map[string]any{"email": "a@example.org"})
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	cfg := connectors.Config{"baseUrl": "http://" + addr + "/_api", "tenant": "t", "tenantId": "1", "clientId": "floh", "clientSecret": "s3cret-value"}
	c := connect(t, cfg, clockwork.NewFakeClock())

	_, err = exec(t, c, "createUser", map[string]any{"email": "a@example.org"})
	ce := wantError(t, err, connectors.ConnectorDown, "UNREACHABLE")
	if !strings.Contains(ce.Message, addr) || strings.Contains(ce.Message, "s3cret-value") {
		t.Errorf("message %q", ce.Message)
	}
	_, err = c.Test(context.Background())
	wantError(t, err, connectors.ConnectorDown, "UNREACHABLE")
}

func TestContextIsHonoured(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p, _ := connectors.CheckParams(authifi.Type.Command("listUsers"), nil)
	_, err := e.conn.Execute(ctx, "listUsers", p)
	wantError(t, err, connectors.ConnectorDown, "CANCELED")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("%v does not wrap context.Canceled", err)
	}

	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_, err = e.conn.Execute(ctx, "listUsers", p)
	wantError(t, err, connectors.ConnectorDown, "TIMEOUT")
	if n := len(e.srv.Calls()); n != 0 {
		t.Errorf("%d calls reached the server", n)
	}
}

func TestCredentialsAndScope(t *testing.T) {
	e := newEnv(t)
	bad := e.srv.Config()
	bad["clientSecret"] = "wrong-secret-value"
	c := connect(t, bad, e.clock)
	_, err := exec(t, c, "listUsers", map[string]any{})
	ce := wantError(t, err, connectors.Unauthorized, "INVALID_CLIENT")
	if !strings.Contains(ce.Message, "client floh") || strings.Contains(ce.Message, "wrong-secret-value") || strings.Contains(fmt.Sprint(errors.Unwrap(ce)), "wrong-secret-value") {
		t.Errorf("message %q", ce.Message)
	}
	_, err = c.Test(context.Background())
	wantError(t, err, connectors.Unauthorized, "INVALID_CLIENT")

	e.srv.AddClient("reader", "reader-secret", false)
	narrow := e.srv.Config()
	narrow["clientId"], narrow["clientSecret"] = "reader", "reader-secret"
	c = connect(t, narrow, e.clock)
	_, err = exec(t, c, "createUser", map[string]any{"email": "a@example.org"})
	if ce := wantError(t, err, connectors.Unauthorized, "INSUFFICIENT_SCOPE"); !strings.Contains(ce.Message, "client reader lacks the permission") {
		t.Errorf("message %q", ce.Message)
	}
	_, err = c.Test(context.Background())
	wantError(t, err, connectors.Unauthorized, "INSUFFICIENT_SCOPE")
	if len(e.srv.Users()) != 0 {
		t.Error("a refused call created a user")
	}
}

func TestTokenCachedUntilShortlyBeforeExpiry(t *testing.T) {
	e := newEnv(t)
	for range 10 {
		mustExec(t, e.conn, "listUsers", map[string]any{})
	}
	if n := e.srv.TokenFetches(); n != 1 {
		t.Fatalf("%d token fetches for 10 calls", n)
	}
	e.clock.Advance(59 * time.Minute)
	mustExec(t, e.conn, "listUsers", map[string]any{})
	if n := e.srv.TokenFetches(); n != 1 {
		t.Fatalf("refetched %d times with a minute of the hour-long token left", n-1)
	}
	// 15 s before expiry: too close to trust the token to outlive the call.
	e.clock.Advance(45 * time.Second)
	mustExec(t, e.conn, "listUsers", map[string]any{})
	mustExec(t, e.conn, "listUsers", map[string]any{})
	if n := e.srv.TokenFetches(); n != 2 {
		t.Errorf("%d token fetches on the brink of expiry, want 2", n)
	}
	if n := calls(e.srv, http.MethodGet, "/users", http.StatusUnauthorized); n != 0 {
		t.Errorf("%d calls went out with an expired token", n)
	}
}

func TestTokenSharedAcrossGoroutines(t *testing.T) {
	e := newEnv(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	p, _ := connectors.CheckParams(authifi.Type.Command("listUsers"), nil)
	for range 16 {
		wg.Go(func() {
			if _, err := e.conn.Execute(context.Background(), "listUsers", p); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := e.srv.TokenFetches(); n != 1 {
		t.Errorf("%d token fetches for 16 concurrent calls", n)
	}
}

func TestUnauthorizedRefreshesOnce(t *testing.T) {
	t.Run("expired at Authifi before our clock says so", func(t *testing.T) {
		serverClock := clockwork.NewFakeClockAt(t0)
		srv := authifitest.Start(t, authifitest.Options{Clock: serverClock})
		c := connect(t, srv.Config(), clockwork.NewFakeClockAt(t0))
		mustExec(t, c, "listUsers", map[string]any{})
		serverClock.Advance(2 * time.Hour)
		mustExec(t, c, "listUsers", map[string]any{})
		if n := srv.TokenFetches(); n != 2 {
			t.Errorf("%d token fetches, want 2", n)
		}
		if n := calls(srv, http.MethodGet, "/users", http.StatusUnauthorized); n != 1 {
			t.Errorf("%d 401s, want 1", n)
		}
	})
	t.Run("revoked", func(t *testing.T) {
		e := newEnv(t)
		e.srv.AddUser(authifitest.User{Email: "a@example.org"})
		mustExec(t, e.conn, "listUsers", map[string]any{})
		e.srv.RevokeTokens()
		out := mustExec(t, e.conn, "deleteUser", map[string]any{"email": "a@example.org"})
		if out["email"] != "a@example.org" || e.srv.TokenFetches() != 2 {
			t.Errorf("outputs %v after %d token fetches", out, e.srv.TokenFetches())
		}
	})
	t.Run("rejected twice", func(t *testing.T) {
		e := newEnv(t)
		e.srv.Fail(2, "/users", http.StatusUnauthorized)
		_, err := exec(t, e.conn, "listUsers", map[string]any{})
		if ce := wantError(t, err, connectors.Unauthorized, "INVALID_TOKEN"); !strings.Contains(ce.Message, "client floh") {
			t.Errorf("message %q", ce.Message)
		}
		if f, n := e.srv.TokenFetches(), calls(e.srv, http.MethodGet, "/users", 0); f != 2 || n != 2 {
			t.Errorf("%d token fetches and %d calls, want one refresh and one retry", f, n)
		}
	})
}

func TestPaging(t *testing.T) {
	e := newEnv(t)
	for i := range 7 {
		e.srv.AddUser(authifitest.User{Email: fmt.Sprintf("u%d@example.org", i), IdentityIssuer: nih, Roles: []string{"reader"}})
	}

	var sizes []int
	var ids []string
	err := e.conn.List(context.Background(), connectors.ResourceUser, connectors.ListOptions{PageSize: 3}, func(p connectors.Page) error {
		sizes = append(sizes, len(p.Records))
		for _, r := range p.Records {
			ids = append(ids, r.ExternalID)
			if r.Attributes["identityIssuer"] != nih || !slices.Equal(r.Attributes["roles"].([]string), []string{"reader"}) || !strings.HasSuffix(r.Email, "@example.org") {
				t.Errorf("record %+v", r)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sizes, []int{3, 3, 1}) {
		t.Errorf("page sizes %v", sizes)
	}
	slices.Sort(ids)
	if len(slices.Compact(ids)) != 7 {
		t.Errorf("ids %v", ids)
	}
	for _, c := range e.srv.Calls() {
		if strings.HasSuffix(c.Path, "/users") && !strings.Contains(c.Query, "limit=3") {
			t.Errorf("listed with %q", c.Query)
		}
	}

	// The console's one page at a time, resumed by cursor.
	first := mustExec(t, e.conn, "listUsers", map[string]any{"pageSize": 5})
	cursor, _ := first["nextCursor"].(string)
	if first["count"] != 5 || cursor == "" {
		t.Fatalf("first page %v", first)
	}
	second := mustExec(t, e.conn, "listUsers", map[string]any{"pageSize": 5, "cursor": cursor})
	if second["count"] != 2 || second["nextCursor"] != "" {
		t.Errorf("second page %v", second)
	}

	// A yield error stops the listing.
	stop := errors.New("stop")
	pages := 0
	err = e.conn.List(context.Background(), connectors.ResourceUser, connectors.ListOptions{PageSize: 2}, func(connectors.Page) error {
		pages++
		return stop
	})
	if !errors.Is(err, stop) || pages != 1 {
		t.Errorf("err %v after %d pages", err, pages)
	}

	_, err = exec(t, e.conn, "listUsers", map[string]any{"pageSize": 501})
	if ce := wantError(t, err, connectors.InvalidInput, "INVALID_PARAMS"); ce.Field != "pageSize" {
		t.Errorf("field %q", ce.Field)
	}
}

func TestListSince(t *testing.T) {
	e := newEnv(t)
	for i := range 4 {
		e.srv.AddUser(authifitest.User{Email: fmt.Sprintf("u%d@example.org", i)})
	}
	e.srv.AddGroup(authifitest.Group{ID: "old", Name: "Old"})
	e.clock.Advance(time.Hour)
	mustExec(t, e.conn, "assignRoles", map[string]any{"email": "u1@example.org", "roles": "reader"})
	mustExec(t, e.conn, "assignRoles", map[string]any{"email": "u3@example.org", "roles": "reader"})
	e.srv.AddGroup(authifitest.Group{ID: "new", Name: "New"})

	since := t0.Add(30 * time.Minute)
	var emails, groups []string
	err := e.conn.List(context.Background(), connectors.ResourceUser, connectors.ListOptions{Since: since}, func(p connectors.Page) error {
		for _, r := range p.Records {
			emails = append(emails, r.Email)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(emails)
	if !slices.Equal(emails, []string{"u1@example.org", "u3@example.org"}) {
		t.Errorf("changed since: %v", emails)
	}
	err = e.conn.List(context.Background(), connectors.ResourceGroup, connectors.ListOptions{Since: since}, func(p connectors.Page) error {
		for _, r := range p.Records {
			groups = append(groups, r.ExternalID)
		}
		return nil
	})
	if err != nil || !slices.Equal(groups, []string{"new"}) {
		t.Errorf("groups changed since: %v, %v", groups, err)
	}

	out := mustExec(t, e.conn, "listUsers", map[string]any{"since": since.Format(time.RFC3339)})
	if out["count"] != 2 {
		t.Errorf("listUsers since: %v", out)
	}
	_, err = exec(t, e.conn, "listUsers", map[string]any{"since": "yesterday"})
	if ce := wantError(t, err, connectors.InvalidInput, "INVALID_PARAMS"); ce.Field != "since" {
		t.Errorf("field %q", ce.Field)
	}
	err = e.conn.List(context.Background(), connectors.ResourceUser, connectors.ListOptions{Filter: "(uid=*)"}, func(connectors.Page) error { return nil })
	wantError(t, err, connectors.InvalidInput, "INVALID_PARAMS")
}

func TestEmailAmbiguity(t *testing.T) {
	e := newEnv(t)
	a := e.srv.AddUser(authifitest.User{Email: "jdoe@example.org", IdentityIssuer: nih})
	b := e.srv.AddUser(authifitest.User{Email: "jdoe@example.org", IdentityIssuer: login})

	_, err := exec(t, e.conn, "deleteUser", map[string]any{"email": "jdoe@example.org"})
	ce := wantError(t, err, connectors.Conflict, "AMBIGUOUS_EMAIL")
	if !strings.Contains(ce.Message, nih) || !strings.Contains(ce.Message, login) || ce.Field != "issuer" {
		t.Errorf("message %q, field %q", ce.Message, ce.Field)
	}
	_, err = exec(t, e.conn, "linkExternalIdentity", map[string]any{"email": "jdoe@example.org", "issuer": "ad", "externalId": "x"})
	if ce := wantError(t, err, connectors.Conflict, "AMBIGUOUS_EMAIL"); ce.Field != "userIssuer" {
		t.Errorf("link names %q to choose with", ce.Field)
	}
	if len(e.srv.Users()) != 2 {
		t.Fatal("an ambiguous delete deleted something")
	}

	out := mustExec(t, e.conn, "deleteUser", map[string]any{"email": "JDoe@Example.org", "issuer": login})
	if out["id"] != b.ID {
		t.Errorf("deleted %v, want %s", out["id"], b.ID)
	}
	if _, ok := e.srv.User(a.ID); !ok {
		t.Error("the other issuer's user was deleted")
	}
	// With one left, the email alone is enough.
	mustExec(t, e.conn, "linkExternalIdentity", map[string]any{"email": "jdoe@example.org", "issuer": "ad", "externalId": "x"})
}

func TestRemoveRolesIsIdempotent(t *testing.T) {
	e := newEnv(t)
	u := e.srv.AddUser(authifitest.User{Email: "a@example.org", Roles: []string{"reader"}})
	e.clock.Advance(time.Minute)

	out := mustExec(t, e.conn, "removeRoles", map[string]any{"email": "a@example.org", "roles": "writer"})
	if out["userFound"] != true || !slices.Equal(out["roles"].([]string), []string{"reader"}) {
		t.Errorf("removing a role the user lacks: %v", out)
	}
	if got, _ := e.srv.User(u.ID); !got.UpdatedAt.Equal(u.UpdatedAt) {
		t.Error("a no-op removal changed updatedAt")
	}
	mustExec(t, e.conn, "removeRoles", map[string]any{"email": "a@example.org", "roles": "reader"})
	mustExec(t, e.conn, "removeRoles", map[string]any{"email": "a@example.org", "roles": "reader"})

	// The runbook's cleanup pass: removeRoles after deleteUser is a no-op, not a failure.
	mustExec(t, e.conn, "deleteUser", map[string]any{"email": "a@example.org"})
	out = mustExec(t, e.conn, "removeRoles", map[string]any{"email": "a@example.org", "roles": "reader"})
	if out["userFound"] != false || len(out["roles"].([]string)) != 0 {
		t.Errorf("after deleteUser: %v", out)
	}
}

// TestGetRecord fetches users and groups one at a time: each is the record List yields for it;
// an id Authifi does not have is RECORD_NOT_FOUND, another 404 (an unknown tenant) is not; and
// an id that cannot be a path segment is refused before any call.
func TestGetRecord(t *testing.T) {
	e := newEnv(t)
	a := e.srv.AddUser(authifitest.User{Email: "keats@nih.gov", DisplayName: "John Keats", IdentityIssuer: nih, ExternalID: "jk-1", Roles: []string{"reader"}})
	b := e.srv.AddUser(authifitest.User{Email: "local@example.org"})
	e.srv.AddGroup(authifitest.Group{Name: "Poets", Description: "Romantics", Members: []string{a.ID, b.ID}})
	e.clock.Advance(time.Minute)

	listed := map[string][]connectors.Record{}
	for _, rt := range []string{connectors.ResourceUser, connectors.ResourceGroup} {
		err := e.conn.List(context.Background(), rt, connectors.ListOptions{}, func(p connectors.Page) error {
			listed[rt] = append(listed[rt], p.Records...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(listed[connectors.ResourceUser]) != 2 || len(listed[connectors.ResourceGroup]) != 1 {
		t.Fatalf("listed %v", listed)
	}
	for rt, records := range listed {
		for _, want := range records {
			got, err := e.conn.GetRecord(context.Background(), rt, want.ExternalID)
			if err != nil {
				t.Fatalf("GetRecord(%s, %s): %v", rt, want.ExternalID, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("GetRecord(%s, %s) =\n%#v\nList yields\n%#v", rt, want.ExternalID, got, want)
			}
		}
	}

	for rt, id := range map[string]string{connectors.ResourceUser: "usr_999999", connectors.ResourceGroup: a.ID} {
		_, err := e.conn.GetRecord(context.Background(), rt, id)
		if ce := wantError(t, err, connectors.NotFound, connectors.CodeRecordNotFound); !strings.Contains(ce.Message, id) || !strings.Contains(ce.Message, rt) {
			t.Errorf("message %q does not name the %s %s", ce.Message, rt, id)
		}
	}
	mustExec(t, e.conn, "deleteUser", map[string]any{"email": "local@example.org"})
	_, err := e.conn.GetRecord(context.Background(), connectors.ResourceUser, b.ID)
	wantError(t, err, connectors.NotFound, connectors.CodeRecordNotFound)
	// An id with a slash and a query in it stays one path segment: Authifi looks for that id.
	_, err = e.conn.GetRecord(context.Background(), connectors.ResourceUser, "usr_1/roles?x=1")
	wantError(t, err, connectors.NotFound, connectors.CodeRecordNotFound)

	cfg := e.srv.Config()
	cfg["tenantId"] = "7"
	_, err = connect(t, cfg, e.clock).GetRecord(context.Background(), connectors.ResourceUser, a.ID)
	wantError(t, err, connectors.NotFound, "TENANT_NOT_FOUND")

	before := len(e.srv.Calls())
	for _, bad := range []string{"", "  ", "..", "usr_1\n"} {
		_, err := e.conn.GetRecord(context.Background(), connectors.ResourceUser, bad)
		if ce := wantError(t, err, connectors.InvalidInput, connectors.CodeInvalidExternalID); ce.Field != "externalId" {
			t.Errorf("externalId %q: field %q", bad, ce.Field)
		}
	}
	_, err = e.conn.GetRecord(context.Background(), "device", a.ID)
	wantError(t, err, connectors.InvalidInput, "INVALID_PARAMS")
	if n := len(e.srv.Calls()) - before; n != 0 {
		t.Errorf("refused ids made %d calls", n)
	}
}
