package scim_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"floh/connectors"
	"floh/connectors/scim"
	"floh/connectors/scim/scimtest"
)

// The credentials scimtest accepts; tests check none of them ever reaches a message.
const (
	bearerToken  = "bearer-s3cret"
	username     = "provisioner"
	password     = "basic-s3cret"
	clientID     = "floh"
	clientSecret = "client-s3cret"
)

var secrets = []string{bearerToken, password, clientSecret}

func start(t *testing.T, opts scimtest.Options) *scimtest.Server {
	t.Helper()
	opts.BearerToken, opts.Username, opts.Password = bearerToken, username, password
	opts.ClientID, opts.ClientSecret = clientID, clientSecret
	s := scimtest.New(opts)
	t.Cleanup(s.Close)
	return s
}

func bearerConfig(s *scimtest.Server) connectors.Config {
	return connectors.Config{"baseUrl": s.URL, "authType": "bearer", "bearerToken": bearerToken}
}

// connect builds a connector the way the engine does: config checked against the schema and
// Validate, then New.
func connect(t *testing.T, cfg connectors.Config) connectors.Connector {
	t.Helper()
	checked, problems := connectors.CheckConfig(scim.Type, cfg)
	if len(problems) > 0 {
		t.Fatalf("config refused: %v", problems)
	}
	c, err := scim.Type.New(checked)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// execute runs a command the way the engine does: params checked, then one call. A failure
// comes back as the envelope, checked for leaked secrets.
func execute(t *testing.T, c connectors.Connector, command string, params map[string]any) (map[string]any, *connectors.Error) {
	t.Helper()
	checked, err := connectors.CheckParams(scim.Type.Command(command), params)
	if err != nil {
		t.Fatalf("%s params refused: %v", command, err)
	}
	out, err := c.Execute(context.Background(), command, checked)
	if err != nil {
		e := connectors.Classify(err)
		noSecrets(t, e)
		return nil, e
	}
	return out, nil
}

func mustExecute(t *testing.T, c connectors.Connector, command string, params map[string]any) map[string]any {
	t.Helper()
	out, err := execute(t, c, command, params)
	if err != nil {
		t.Fatalf("%s: %s (%s/%s)", command, err.Message, err.Class, err.Code)
	}
	return out
}

func wantError(t *testing.T, err *connectors.Error, class connectors.Class, code string, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s/%s, got success", class, code)
	}
	if err.Class != class || (code != "" && err.Code != code) {
		t.Fatalf("want %s/%s, got %s/%s: %s", class, code, err.Class, err.Code, err.Message)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Message, f) {
			t.Errorf("message %q lacks %q", err.Message, f)
		}
	}
}

func noSecrets(t *testing.T, err *connectors.Error) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(err.Message, s) {
			t.Errorf("message leaks a secret: %s", err.Message)
		}
	}
}

// compensate renders a command's compensation as the engine does (every template renders to a
// string: JSON text for anything that is not one) and runs it.
func compensate(t *testing.T, c connectors.Connector, command string, params, outputs map[string]any) map[string]any {
	t.Helper()
	comp := scim.Type.Command(command).Compensation
	rendered := map[string]any{}
	for name, tmpl := range comp.Params {
		source, key, _ := strings.Cut(strings.Trim(tmpl, "{}"), ".")
		v := map[string]map[string]any{"params": params, "outputs": outputs}[source][key]
		if s, ok := v.(string); ok {
			rendered[name] = s
			continue
		}
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		rendered[name] = string(raw)
	}
	return mustExecute(t, c, comp.Command, rendered)
}

func TestTypeDeclaration(t *testing.T) {
	reg, err := connectors.NewRegistry(scim.Type)
	if err != nil {
		t.Fatal(err)
	}
	if reg.Type("scim") == nil || scim.Type.Label != "SCIM 2.0" {
		t.Fatalf("registry: %v", reg.Names())
	}
	if got := scim.Type.SecretFields(); !slices.Equal(got, []string{"bearerToken", "password", "clientSecret"}) {
		t.Errorf("secret fields: %v", got)
	}
	for name, want := range map[string]struct {
		mutating bool
		sync     string
		undo     string
	}{
		"createUser":        {true, "", "deleteUser"},
		"getUser":           {false, "", ""},
		"deleteUser":        {true, "", ""},
		"deactivateUser":    {true, "", "updateUser"},
		"updateUser":        {true, "", "updateUser"},
		"addGroupMember":    {true, "", "removeGroupMember"},
		"removeGroupMember": {true, "", "addGroupMember"},
		"listUsers":         {false, connectors.ResourceUser, ""},
		"listGroups":        {false, connectors.ResourceGroup, ""},
	} {
		cmd := scim.Type.Command(name)
		if cmd == nil {
			t.Errorf("no command %s", name)
			continue
		}
		undo := ""
		if cmd.Compensation != nil {
			undo = cmd.Compensation.Command
		}
		if cmd.Mutating != want.mutating || cmd.SyncCapable != want.sync || undo != want.undo {
			t.Errorf("%s: mutating %v, syncCapable %q, compensation %q", name, cmd.Mutating, cmd.SyncCapable, undo)
		}
	}

	_, err = connectors.CheckParams(scim.Type.Command("createUser"), map[string]any{"email": "j@example.test"})
	var ce *connectors.Error
	if !errors.As(err, &ce) || ce.Class != connectors.InvalidInput || ce.Field != "userName" {
		t.Errorf("createUser without userName: %v", err)
	}
	// A compensation hands operations over as the JSON text a template renders.
	params, err := connectors.CheckParams(scim.Type.Command("updateUser"), map[string]any{
		"id": "42", "operations": `[{"op":"replace","path":"active","value":true}]`,
	})
	if err != nil || len(params["operations"].([]any)) != 1 {
		t.Errorf("updateUser with operations as JSON text: %v %v", params, err)
	}
	_, err = connectors.CheckParams(scim.Type.Command("listUsers"), map[string]any{"count": "many"})
	if !errors.As(err, &ce) || ce.Field != "count" {
		t.Errorf("listUsers count many: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg   connectors.Config
		field string
	}{
		"bearer without token":   {connectors.Config{"baseUrl": "https://app.test/scim/v2", "authType": "bearer"}, "bearerToken"},
		"basic without password": {connectors.Config{"baseUrl": "https://app.test/scim/v2", "authType": "basic", "username": "u"}, "password"},
		"oauth2 without token url": {connectors.Config{"baseUrl": "https://app.test/scim/v2", "authType": "oauth2_client_credentials",
			"clientId": "c", "clientSecret": "s"}, "tokenUrl"},
		"oauth2 with an ftp token url": {connectors.Config{"baseUrl": "https://app.test/scim/v2", "authType": "oauth2_client_credentials",
			"tokenUrl": "ftp://login.test/token", "clientId": "c", "clientSecret": "s"}, "tokenUrl"},
		"ldap base url":           {connectors.Config{"baseUrl": "ldap://app.test", "authType": "bearer", "bearerToken": "t"}, "baseUrl"},
		"credentials in base url": {connectors.Config{"baseUrl": "https://u:p@app.test/scim", "authType": "bearer", "bearerToken": "t"}, "baseUrl"},
		"unknown auth type":       {connectors.Config{"baseUrl": "https://app.test/scim", "authType": "ntlm"}, "authType"},
	} {
		t.Run(name, func(t *testing.T) {
			_, problems := connectors.CheckConfig(scim.Type, tc.cfg)
			if len(problems) != 1 || problems[0].Field != tc.field {
				t.Fatalf("want one problem with %s, got %v", tc.field, problems)
			}
			if strings.Contains(problems[0].Message, "p@") {
				t.Errorf("message repeats the URL's credentials: %s", problems[0].Message)
			}
		})
	}
	for _, authType := range []string{"bearer", "basic", "oauth2_client_credentials"} {
		cfg := connectors.Config{"baseUrl": "https://app.test/scim/v2", "authType": authType}
		_, problems := connectors.CheckConfig(scim.Type, cfg)
		if len(problems) == 0 || !strings.Contains(problems[0].Message, "when authType is "+authType) {
			t.Errorf("%s without credentials: %v", authType, problems)
		}
	}
}

func TestAuthentication(t *testing.T) {
	s := start(t, scimtest.Options{})
	for _, name := range []string{"ann", "bob"} {
		if _, err := s.AddUser(map[string]any{"userName": name}); err != nil {
			t.Fatal(err)
		}
	}
	good := map[string]connectors.Config{
		"bearer":                    bearerConfig(s),
		"basic":                     {"baseUrl": s.URL, "authType": "basic", "username": username, "password": password},
		"oauth2_client_credentials": {"baseUrl": s.URL, "authType": "oauth2_client_credentials", "tokenUrl": s.TokenURL, "clientId": clientID, "clientSecret": clientSecret},
	}
	wrong := map[string]struct {
		field, value, code string
	}{
		"bearer":                    {"bearerToken", "not-the-token", "UNAUTHORIZED"},
		"basic":                     {"password", "not-the-password", "UNAUTHORIZED"},
		"oauth2_client_credentials": {"clientSecret", "not-the-secret", "TOKEN_REFUSED"},
	}
	for authType, cfg := range good {
		t.Run(authType, func(t *testing.T) {
			res, err := connect(t, cfg).Test(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(res.Message, s.URL) || !strings.Contains(res.Message, "holds 2 users") {
				t.Errorf("test message: %s", res.Message)
			}

			bad := maps.Clone(cfg)
			bad[wrong[authType].field] = wrong[authType].value
			_, err = connect(t, bad).Test(context.Background())
			var ce *connectors.Error
			if !errors.As(err, &ce) {
				t.Fatalf("wrong %s: %v", wrong[authType].field, err)
			}
			wantError(t, ce, connectors.Unauthorized, wrong[authType].code)
			noSecrets(t, ce)
			if strings.Contains(ce.Message, wrong[authType].value) {
				t.Errorf("message repeats the credential: %s", ce.Message)
			}
		})
	}
}

func TestOAuth2TokenIsCachedAndRenewedWhenRefused(t *testing.T) {
	s := start(t, scimtest.Options{})
	c := connect(t, connectors.Config{"baseUrl": s.URL, "authType": "oauth2_client_credentials", "tokenUrl": s.TokenURL, "clientId": clientID, "clientSecret": clientSecret})
	for range 3 {
		mustExecute(t, c, "listUsers", nil)
	}
	if n := s.TokensIssued(); n != 1 {
		t.Fatalf("three calls with one token: %d tokens issued", n)
	}
	s.RevokeTokens()
	_, err := execute(t, c, "listUsers", nil)
	wantError(t, err, connectors.Unauthorized, "UNAUTHORIZED", "an OAuth2 token for client "+clientID)
	mustExecute(t, c, "listUsers", nil)
	if n := s.TokensIssued(); n != 2 {
		t.Fatalf("a refused token is replaced on the next call: %d tokens issued", n)
	}
}

func TestUserCommands(t *testing.T) {
	s := start(t, scimtest.Options{})
	c := connect(t, bearerConfig(s))

	params := map[string]any{"userName": "jdoe", "email": "jdoe@example.test", "displayName": "J Doe", "externalId": "floh-1", "active": "true"}
	created := mustExecute(t, c, "createUser", params)
	id, _ := created["id"].(string)
	if id == "" || created["userName"] != "jdoe" || created["email"] != "jdoe@example.test" || created["active"] != true || created["externalId"] != "floh-1" {
		t.Fatalf("createUser outputs: %v", created)
	}
	if got := mustExecute(t, c, "getUser", map[string]any{"id": id}); got["displayName"] != "J Doe" || got["resource"].(map[string]any)["id"] != id {
		t.Fatalf("getUser outputs: %v", got)
	}

	_, err := execute(t, c, "createUser", map[string]any{"userName": "JDOE"})
	wantError(t, err, connectors.AlreadyExists, "ALREADY_EXISTS", "user JDOE already exists in the SCIM app at "+s.URL+": ", `userName "JDOE" is already in use`)

	deactivated := mustExecute(t, c, "deactivateUser", map[string]any{"id": id})
	if u, _ := s.User(id); u["active"] != false || deactivated["previousActive"] != true {
		t.Fatalf("deactivateUser: user %v, outputs %v", u, deactivated)
	}
	want := []any{map[string]any{"op": "replace", "path": "active", "value": true}}
	if !reflect.DeepEqual(deactivated["inverseOperations"], want) {
		t.Fatalf("inverse of deactivateUser: %v", deactivated["inverseOperations"])
	}
	compensate(t, c, "deactivateUser", map[string]any{"id": id}, deactivated)
	if u, _ := s.User(id); u["active"] != true {
		t.Fatalf("undoing deactivateUser reactivates: %v", u)
	}

	// Deactivating a user who was already inactive is undone by leaving them inactive.
	inactive, _ := s.AddUser(map[string]any{"userName": "idle", "active": false})
	out := mustExecute(t, c, "deactivateUser", map[string]any{"id": inactive})
	compensate(t, c, "deactivateUser", map[string]any{"id": inactive}, out)
	if u, _ := s.User(inactive); u["active"] != false {
		t.Fatalf("undoing deactivateUser of an inactive user: %v", u)
	}

	compensate(t, c, "createUser", params, created) // deleteUser id={{outputs.id}}
	if _, ok := s.User(id); ok {
		t.Fatal("undoing createUser deletes the user")
	}
	_, err = execute(t, c, "getUser", map[string]any{"id": id})
	wantError(t, err, connectors.NotFound, "NOT_FOUND", "user "+id+" was not found in the SCIM app at "+s.URL)
	_, err = execute(t, c, "deleteUser", map[string]any{"id": id})
	wantError(t, err, connectors.NotFound, "NOT_FOUND")
	_, err = execute(t, c, "deactivateUser", map[string]any{"id": id})
	wantError(t, err, connectors.NotFound, "NOT_FOUND")
}

// withoutMeta is a user as GET returns it, minus what the server changes on every write.
func withoutMeta(t *testing.T, s *scimtest.Server, id string) map[string]any {
	t.Helper()
	u, ok := s.User(id)
	if !ok {
		t.Fatalf("no user %s", id)
	}
	delete(u, "meta")
	return u
}

func TestUpdateUserAndItsInverse(t *testing.T) {
	s := start(t, scimtest.Options{})
	c := connect(t, bearerConfig(s))
	id, err := s.AddUser(map[string]any{
		"userName": "jdoe", "displayName": "J Doe", "title": "Engineer", "active": true,
		"name": map[string]any{"givenName": "J"},
		"emails": []any{
			map[string]any{"value": "j@work.test", "type": "work", "primary": true},
			map[string]any{"value": "j@home.test", "type": "home"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	before := withoutMeta(t, s, id)

	ops := []any{
		map[string]any{"op": "replace", "path": "displayName", "value": "Jane Doe"},
		map[string]any{"op": "add", "path": "name.familyName", "value": "Doe"},
		map[string]any{"op": "replace", "path": `emails[type eq "work"].value`, "value": "jane@work.test"},
		map[string]any{"op": "remove", "path": `emails[type eq "home"]`},
		map[string]any{"op": "remove", "path": "title"},
		map[string]any{"op": "Add", "value": map[string]any{"nickName": "JD", "password": "Secr3t!"}},
	}
	out := mustExecute(t, c, "updateUser", map[string]any{"id": id, "operations": ops})
	after := withoutMeta(t, s, id)
	if after["displayName"] != "Jane Doe" || after["nickName"] != "JD" || after["title"] != nil ||
		after["name"].(map[string]any)["familyName"] != "Doe" || len(after["emails"].([]any)) != 1 {
		t.Fatalf("updated user: %v", after)
	}
	if out["displayName"] != "Jane Doe" || out["email"] != "jane@work.test" {
		t.Errorf("updateUser outputs the user after the patch: %v", out)
	}
	inverse := out["inverseOperations"].([]any)
	for _, op := range inverse {
		if strings.EqualFold(op.(map[string]any)["path"].(string), "password") {
			t.Errorf("a password cannot be restored, so the inverse leaves it alone: %v", inverse)
		}
	}

	compensate(t, c, "updateUser", map[string]any{"id": id}, out)
	if restored := withoutMeta(t, s, id); !reflect.DeepEqual(restored, before) {
		t.Fatalf("the inverse patch restores the user:\nbefore   %v\nrestored %v", before, restored)
	}

	requests := len(s.Requests())
	if out := mustExecute(t, c, "updateUser", map[string]any{"id": id, "operations": []any{}}); len(out["inverseOperations"].([]any)) != 0 {
		t.Errorf("empty operations: %v", out)
	}
	_, err2 := execute(t, c, "updateUser", map[string]any{"id": id, "operations": []any{map[string]any{"op": "remove"}}})
	wantError(t, err2, connectors.InvalidInput, "INVALID_OPERATIONS", "operation 1 (remove) needs a path")
	if err2.Field != "operations" {
		t.Errorf("field: %q", err2.Field)
	}
	if n := len(s.Requests()); n != requests {
		t.Errorf("nothing to do and malformed operations make no call: %d requests", n-requests)
	}

	_, err2 = execute(t, c, "updateUser", map[string]any{"id": id, "operations": []any{map[string]any{"op": "replace", "path": "nosuch", "value": "x"}}})
	wantError(t, err2, connectors.InvalidInput, "INVALID_PATH", "rejected the request for user "+id)
}

func TestGroupMembership(t *testing.T) {
	s := start(t, scimtest.Options{})
	c := connect(t, bearerConfig(s))
	ann, _ := s.AddUser(map[string]any{"userName": "ann"})
	bob, _ := s.AddUser(map[string]any{"userName": "bob"})
	gid, err := s.AddGroup("staff", ann)
	if err != nil {
		t.Fatal(err)
	}
	members := func() []string {
		g, _ := s.Group(gid)
		var ids []string
		for _, m := range g["members"].([]any) {
			ids = append(ids, m.(map[string]any)["value"].(string))
		}
		return ids
	}

	params := map[string]any{"groupId": gid, "userId": bob}
	out := mustExecute(t, c, "addGroupMember", params)
	if !slices.Equal(members(), []string{ann, bob}) || out["groupId"] != gid || out["userId"] != bob {
		t.Fatalf("addGroupMember: members %v, outputs %v", members(), out)
	}
	_, cerr := execute(t, c, "addGroupMember", params)
	wantError(t, cerr, connectors.Conflict, "ALREADY_MEMBER", "user "+bob+" is already a member of group "+gid)

	compensate(t, c, "addGroupMember", params, out)
	if !slices.Equal(members(), []string{ann}) {
		t.Fatalf("undoing addGroupMember: %v", members())
	}
	_, cerr = execute(t, c, "removeGroupMember", params)
	wantError(t, cerr, connectors.NotFound, "NOT_A_MEMBER", "user "+bob+" is not a member of group "+gid)

	removed := mustExecute(t, c, "removeGroupMember", map[string]any{"groupId": gid, "userId": ann})
	compensate(t, c, "removeGroupMember", map[string]any{"groupId": gid, "userId": ann}, removed)
	if !slices.Equal(members(), []string{ann}) {
		t.Fatalf("undoing removeGroupMember: %v", members())
	}

	_, cerr = execute(t, c, "addGroupMember", map[string]any{"groupId": "no-such-group", "userId": bob})
	wantError(t, cerr, connectors.NotFound, "NOT_FOUND", "group no-such-group")
	_, cerr = execute(t, c, "addGroupMember", map[string]any{"groupId": gid, "userId": "no-such-user"})
	wantError(t, cerr, connectors.InvalidInput, "INVALID_VALUE", "no-such-user")
}

func TestListPaging(t *testing.T) {
	// The server caps pages at 3 even when asked for more, as real applications do.
	s := start(t, scimtest.Options{MaxResults: 3})
	c := connect(t, bearerConfig(s))
	var names []string
	for _, n := range []string{"u1", "u2", "u3", "u4", "u5", "u6", "u7"} {
		if _, err := s.AddUser(map[string]any{"userName": n, "externalId": "ext-" + n, "active": true,
			"emails": []any{map[string]any{"value": n + "@other.test"}, map[string]any{"value": n + "@example.test", "primary": true}}}); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}

	var got []string
	var cursors []string
	err := c.(connectors.Lister).List(context.Background(), connectors.ResourceUser, connectors.ListOptions{PageSize: 5}, func(p connectors.Page) error {
		for _, r := range p.Records {
			got = append(got, r.Username)
		}
		cursors = append(cursors, p.NextCursor)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, names) || !slices.Equal(cursors, []string{"4", "7", ""}) {
		t.Fatalf("pages of at most 3: users %v, cursors %v", got, cursors)
	}
	var starts []string
	for _, r := range s.Requests() {
		starts = append(starts, r.Query.Get("startIndex")+"/"+r.Query.Get("count"))
	}
	if !slices.Equal(starts, []string{"1/5", "4/5", "7/5"}) {
		t.Errorf("startIndex/count sent: %v", starts)
	}

	out := mustExecute(t, c, "listUsers", map[string]any{"count": 2, "cursor": "4"})
	records := out["records"].([]any)
	if out["count"] != 2 || out["totalResults"] != 7 || out["nextCursor"] != "6" || records[0].(map[string]any)["username"] != "u4" {
		t.Fatalf("listUsers page: %v", out)
	}
	rec := records[0].(map[string]any)
	u4, _ := s.User(rec["externalId"].(string))
	attrs := rec["attributes"].(map[string]any)
	if u4["userName"] != "u4" || rec["email"] != "u4@example.test" || attrs["active"] != true || attrs["externalId"] != "ext-u4" ||
		attrs["meta"].(map[string]any)["lastModified"] == nil || attrs["id"] != nil || attrs["userName"] != nil {
		t.Fatalf("record: %v", rec)
	}
	last := mustExecute(t, c, "listUsers", map[string]any{"count": 3, "cursor": "7"})
	if last["count"] != 1 || last["nextCursor"] != "" {
		t.Fatalf("last page: %v", last)
	}

	// Stopping early: the error from yield ends the listing and comes back as is.
	stop := errors.New("enough")
	pages := 0
	err = c.(connectors.Lister).List(context.Background(), connectors.ResourceUser, connectors.ListOptions{PageSize: 2}, func(connectors.Page) error {
		pages++
		return stop
	})
	if err != stop || pages != 1 {
		t.Fatalf("yield's error: %v after %d pages", err, pages)
	}
}

func TestListGroups(t *testing.T) {
	s := start(t, scimtest.Options{})
	c := connect(t, bearerConfig(s))
	ann, _ := s.AddUser(map[string]any{"userName": "ann"})
	bob, _ := s.AddUser(map[string]any{"userName": "bob"})
	gid, _ := s.AddGroup("staff", ann, bob)
	if _, err := s.AddGroup("empty"); err != nil {
		t.Fatal(err)
	}
	var records []connectors.Record
	err := c.(connectors.Lister).List(context.Background(), connectors.ResourceGroup, connectors.ListOptions{}, func(p connectors.Page) error {
		records = append(records, p.Records...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != 2 || records[0].ExternalID != gid || records[0].DisplayName != "staff" ||
		!reflect.DeepEqual(records[0].Attributes["members"], []string{ann, bob}) || records[1].Attributes["members"] != nil {
		t.Fatalf("group records: %+v", records)
	}
	out := mustExecute(t, c, "listGroups", map[string]any{"filter": `displayName eq "empty"`})
	if out["count"] != 1 || out["records"].([]any)[0].(map[string]any)["displayName"] != "empty" {
		t.Fatalf("listGroups with a filter: %v", out)
	}
}

func TestListFilterAndSince(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	clock := clockwork.NewFakeClockAt(t0)
	s := start(t, scimtest.Options{Clock: clock})
	c := connect(t, bearerConfig(s))
	ann, _ := s.AddUser(map[string]any{"userName": "ann"})
	if _, err := s.AddUser(map[string]any{"userName": "abe"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddUser(map[string]any{"userName": "bob"}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	if _, err := s.AddUser(map[string]any{"userName": "cid"}); err != nil {
		t.Fatal(err)
	}
	mustExecute(t, c, "updateUser", map[string]any{"id": ann, "operations": []any{map[string]any{"op": "replace", "path": "displayName", "value": "Ann"}}})

	list := func(opts connectors.ListOptions) []string {
		t.Helper()
		var names []string
		err := c.(connectors.Lister).List(context.Background(), connectors.ResourceUser, opts, func(p connectors.Page) error {
			for _, r := range p.Records {
				names = append(names, r.Username)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	if got := list(connectors.ListOptions{Filter: `userName sw "a"`}); !slices.Equal(got, []string{"ann", "abe"}) {
		t.Errorf("filter: %v", got)
	}
	// Since is at or after, to the second: a change at exactly Since is included.
	since := t0.Add(time.Hour).Add(400 * time.Millisecond)
	if got := list(connectors.ListOptions{Since: since}); !slices.Equal(got, []string{"ann", "cid"}) {
		t.Errorf("since: %v", got)
	}
	if got := list(connectors.ListOptions{Filter: `userName sw "a"`, Since: since}); !slices.Equal(got, []string{"ann"}) {
		t.Errorf("filter and since: %v", got)
	}
	reqs := s.Requests()
	if f := reqs[len(reqs)-1].Query.Get("filter"); f != `(userName sw "a") and meta.lastModified ge "2024-05-01T11:00:00Z"` {
		t.Errorf("filter sent: %s", f)
	}

	out := mustExecute(t, c, "listUsers", map[string]any{"since": "2024-05-01T10:30:00+00:00"})
	if out["totalResults"] != 2 {
		t.Errorf("listUsers since: %v", out)
	}
	_, err := execute(t, c, "listUsers", map[string]any{"since": "yesterday"})
	wantError(t, err, connectors.InvalidInput, "INVALID_PARAMS", "RFC 3339")
	if err.Field != "since" {
		t.Errorf("field: %q", err.Field)
	}
	_, err = execute(t, c, "listUsers", map[string]any{"filter": `userName zz "a"`})
	wantError(t, err, connectors.InvalidInput, "INVALID_FILTER", "rejected the request for the list of users", "filter syntax was invalid")
	_, err = execute(t, c, "listUsers", map[string]any{"cursor": "page-2"})
	wantError(t, err, connectors.InvalidInput, "INVALID_CURSOR")
}

func TestFailures(t *testing.T) {
	s := start(t, scimtest.Options{})
	c := connect(t, bearerConfig(s))
	id, _ := s.AddUser(map[string]any{"userName": "ann"})
	get := map[string]any{"id": id}

	s.FailNext(1, http.StatusTooManyRequests, 7*time.Second)
	before := len(s.Requests())
	_, err := execute(t, c, "getUser", get)
	wantError(t, err, connectors.RateLimited, "RATE_LIMITED", "the SCIM app at "+s.URL+" is throttling")
	if err.RetryAfter != 7*time.Second {
		t.Errorf("RetryAfter: %s", err.RetryAfter)
	}
	if n := len(s.Requests()) - before; n != 1 {
		t.Errorf("one attempt per call, the engine retries: %d requests", n)
	}
	mustExecute(t, c, "getUser", get)

	for _, status := range []int{http.StatusInternalServerError, http.StatusServiceUnavailable} {
		s.FailNext(1, status, 0)
		_, err := execute(t, c, "getUser", get)
		wantError(t, err, connectors.TargetError, "HTTP_"+strconv.Itoa(status), "injected failure")
		if !err.Class.Retryable() {
			t.Errorf("%d is retryable", status)
		}
	}

	// A port nothing listens on.
	ln, lerr := net.Listen("tcp", "127.0.0.1:0")
	if lerr != nil {
		t.Fatal(lerr)
	}
	closed := "http://" + ln.Addr().String() + "/scim/v2"
	ln.Close()
	down := connect(t, connectors.Config{"baseUrl": closed, "authType": "bearer", "bearerToken": bearerToken})
	_, err = execute(t, down, "getUser", get)
	wantError(t, err, connectors.ConnectorDown, "UNREACHABLE", "cannot reach the SCIM app at "+closed)
	wrongPath := connect(t, connectors.Config{"baseUrl": s.URL + "/v3", "authType": "bearer", "bearerToken": bearerToken})
	var ce *connectors.Error
	_, terr := wrongPath.Test(context.Background())
	if !errors.As(terr, &ce) || ce.Class != connectors.NotFound || !strings.Contains(ce.Message, "is baseUrl the SCIM base URL") {
		t.Errorf("Test against a URL with no /Users: %v", terr)
	}
	_, terr = down.Test(context.Background())
	if !errors.As(terr, &ce) || ce.Class != connectors.ConnectorDown {
		t.Errorf("Test against a closed port: %v", terr)
	}

	// The caller's deadline is honoured.
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_, xerr := c.Execute(ctx, "getUser", get)
	if ce := connectors.Classify(xerr); ce.Class != connectors.ConnectorDown || ce.Code != "TIMEOUT" {
		t.Errorf("expired context: %s/%s %v", ce.Class, ce.Code, ce.Message)
	}

	_, err = execute(t, c, "getUser", map[string]any{"id": "a/b?c"})
	wantError(t, err, connectors.NotFound, "NOT_FOUND", "user a/b?c was not found")

	if _, xerr := c.Execute(context.Background(), "resetPassword", nil); connectors.Classify(xerr).Class != connectors.InvalidInput {
		t.Errorf("unknown command: %v", xerr)
	}
}

// TestGetRecord fetches users and groups one at a time: each is the record List yields for
// it; an id the application does not have, or no longer has, is RECORD_NOT_FOUND naming it;
// an id that cannot be a path segment, or SCIM's reserved bulkId, is refused before any call.
func TestGetRecord(t *testing.T) {
	s := start(t, scimtest.Options{})
	c := connect(t, bearerConfig(s))
	getter := c.(connectors.RecordGetter)
	ann, err := s.AddUser(map[string]any{"userName": "ann", "displayName": "Ann Lee", "externalId": "e-ann", "active": true,
		"emails": []any{map[string]any{"value": "ann@other.test"}, map[string]any{"value": "ann@example.test", "primary": true}}})
	if err != nil {
		t.Fatal(err)
	}
	bob, _ := s.AddUser(map[string]any{"userName": "bob"})
	if _, err := s.AddGroup("staff", ann, bob); err != nil {
		t.Fatal(err)
	}

	for _, rt := range []string{connectors.ResourceUser, connectors.ResourceGroup} {
		var listed []connectors.Record
		err := c.(connectors.Lister).List(context.Background(), rt, connectors.ListOptions{}, func(p connectors.Page) error {
			listed = append(listed, p.Records...)
			return nil
		})
		if err != nil || len(listed) == 0 {
			t.Fatalf("listing %ss: %d, %v", rt, len(listed), err)
		}
		for _, want := range listed {
			got, err := getter.GetRecord(context.Background(), rt, want.ExternalID)
			if err != nil {
				t.Fatalf("GetRecord(%s, %s): %v", rt, want.ExternalID, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("GetRecord(%s, %s) =\n%#v\nList yields\n%#v", rt, want.ExternalID, got, want)
			}
		}
	}

	toErr := func(err error) *connectors.Error {
		if err == nil {
			return nil
		}
		e := connectors.Classify(err)
		noSecrets(t, e)
		return e
	}
	_, err = getter.GetRecord(context.Background(), connectors.ResourceGroup, ann)
	wantError(t, toErr(err), connectors.NotFound, connectors.CodeRecordNotFound, "group "+ann)
	mustExecute(t, c, "deleteUser", map[string]any{"id": bob})
	_, err = getter.GetRecord(context.Background(), connectors.ResourceUser, bob)
	wantError(t, toErr(err), connectors.NotFound, connectors.CodeRecordNotFound, "user "+bob)
	// A slash in an id stays in its segment rather than reaching another endpoint.
	_, err = getter.GetRecord(context.Background(), connectors.ResourceUser, ann+"/x")
	wantError(t, toErr(err), connectors.NotFound, connectors.CodeRecordNotFound, ann+"/x")

	before := len(s.Requests())
	for _, bad := range []string{"", " ", ".", "..", "a\tb", "bulkId"} {
		_, err := getter.GetRecord(context.Background(), connectors.ResourceUser, bad)
		e := toErr(err)
		wantError(t, e, connectors.InvalidInput, connectors.CodeInvalidExternalID)
		if e.Field != "externalId" {
			t.Errorf("externalId %q: field %q", bad, e.Field)
		}
	}
	_, err = getter.GetRecord(context.Background(), "device", ann)
	wantError(t, toErr(err), connectors.InvalidInput, "UNKNOWN_RESOURCE_TYPE")
	if n := len(s.Requests()) - before; n != 0 {
		t.Errorf("refused ids made %d requests", n)
	}

	// A failing application is not a missing record.
	s.FailNext(1, http.StatusServiceUnavailable, 0)
	_, err = getter.GetRecord(context.Background(), connectors.ResourceUser, ann)
	wantError(t, toErr(err), connectors.TargetError, "")
}
