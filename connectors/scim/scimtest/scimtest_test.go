package scimtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// call sends one request with the bearer token and decodes the answer.
func call(t *testing.T, s *Server, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, out
}

func patchOp(ops ...map[string]any) map[string]any {
	l := make([]any, len(ops))
	for i, o := range ops {
		l[i] = o
	}
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": l}
}

func TestUsersFilterPagingAndUniqueness(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC))
	s := New(Options{BearerToken: "tok", Clock: clock, MaxResults: 2})
	defer s.Close()
	for _, name := range []string{"ann", "bob", "cid"} {
		if _, err := s.AddUser(map[string]any{"userName": name, "externalId": "x-" + name}); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Hour)
	if _, err := s.AddUser(map[string]any{"userName": "dan"}); err != nil {
		t.Fatal(err)
	}

	status, page := call(t, s, http.MethodGet, "/Users?startIndex=2&count=5", nil)
	if status != http.StatusOK || page["totalResults"] != 4.0 || len(page["Resources"].([]any)) != 2 {
		t.Fatalf("page 2 capped at MaxResults 2 of 4: %d %v", status, page)
	}
	if got := page["Resources"].([]any)[0].(map[string]any)["userName"]; got != "bob" {
		t.Fatalf("startIndex 2 begins at bob, got %v", got)
	}

	for filter, want := range map[string]float64{
		`userName eq "BOB"`:                                  1, // userName is not case-exact
		`externalId eq "x-cid"`:                              1,
		`meta.lastModified gt "2024-05-01T10:30:00Z"`:        1,
		`meta.lastModified ge "2024-05-01T10:00:00Z"`:        4,
		`(userName sw "a" or userName sw "d") and active pr`: 0,
	} {
		status, page := call(t, s, http.MethodGet, "/Users?filter="+url.QueryEscape(filter), nil)
		if status != http.StatusOK || page["totalResults"] != want {
			t.Errorf("%s: want %v results, got %d %v", filter, want, status, page["totalResults"])
		}
	}
	if status, body := call(t, s, http.MethodGet, "/Users?filter="+url.QueryEscape(`nosuch eq "x"`), nil); status != http.StatusBadRequest || body["scimType"] != "invalidFilter" {
		t.Errorf("unknown attribute: want 400 invalidFilter, got %d %v", status, body)
	}

	status, body := call(t, s, http.MethodPost, "/Users", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "Ann"})
	if status != http.StatusConflict || body["scimType"] != "uniqueness" {
		t.Fatalf("duplicate userName: want 409 uniqueness, got %d %v", status, body)
	}
	if status, _ := call(t, s, http.MethodGet, "/Users/nope", nil); status != http.StatusNotFound {
		t.Fatalf("unknown id: want 404, got %d", status)
	}
}

func TestPatch(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC))
	s := New(Options{BearerToken: "tok", Clock: clock})
	defer s.Close()
	id, err := s.AddUser(map[string]any{
		"userName": "jdoe", "displayName": "J Doe", "active": true,
		"name":   map[string]any{"givenName": "J"},
		"emails": []any{map[string]any{"value": "j@work.test", "type": "work"}, map[string]any{"value": "j@home.test", "type": "home"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	status, u := call(t, s, http.MethodPatch, "/Users/"+id, patchOp(
		map[string]any{"op": "replace", "path": "active", "value": false},
		map[string]any{"op": "Add", "path": "name.familyName", "value": "Doe"},
		map[string]any{"op": "replace", "path": `emails[type eq "work"].value`, "value": "jdoe@work.test"},
		map[string]any{"op": "remove", "path": `emails[type eq "home"]`},
		map[string]any{"op": "replace", "value": map[string]any{"displayName": "Jane Doe", "nickName": "JD"}},
	))
	if status != http.StatusOK {
		t.Fatalf("patch: %d %v", status, u)
	}
	emails := u["emails"].([]any)
	if u["active"] != false || u["displayName"] != "Jane Doe" || u["nickName"] != "JD" ||
		u["name"].(map[string]any)["familyName"] != "Doe" || u["name"].(map[string]any)["givenName"] != "J" ||
		len(emails) != 1 || emails[0].(map[string]any)["value"] != "jdoe@work.test" {
		t.Fatalf("patched user: %v", u)
	}
	if u["meta"].(map[string]any)["lastModified"] != "2024-05-01T10:01:00Z" {
		t.Fatalf("lastModified follows the clock: %v", u["meta"])
	}
	if status, body := call(t, s, http.MethodPatch, "/Users/"+id, patchOp(map[string]any{"op": "remove", "path": `emails[type eq "other"]`})); status != http.StatusBadRequest || body["scimType"] != "noTarget" {
		t.Fatalf("a filter that selects nothing: want 400 noTarget, got %d %v", status, body)
	}
	if status, _ := call(t, s, http.MethodPatch, "/Users/"+id, patchOp(map[string]any{"op": "replace", "path": "active", "value": false})); status != http.StatusNoContent {
		t.Fatalf("a patch that changes nothing: want 204, got %d", status)
	}
}

func TestGroupMembers(t *testing.T) {
	s := New(Options{BearerToken: "tok"})
	defer s.Close()
	ann, _ := s.AddUser(map[string]any{"userName": "ann"})
	bob, _ := s.AddUser(map[string]any{"userName": "bob", "displayName": "Bob B"})
	gid, err := s.AddGroup("staff", ann)
	if err != nil {
		t.Fatal(err)
	}
	status, g := call(t, s, http.MethodPatch, "/Groups/"+gid, patchOp(map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": bob}}}))
	if status != http.StatusOK || len(g["members"].([]any)) != 2 || g["members"].([]any)[1].(map[string]any)["display"] != "Bob B" {
		t.Fatalf("add member: %d %v", status, g)
	}
	if status, _ := call(t, s, http.MethodPatch, "/Groups/"+gid, patchOp(map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": bob}}})); status != http.StatusNoContent {
		t.Fatalf("adding a member again changes nothing: want 204, got %d", status)
	}
	if status, body := call(t, s, http.MethodPatch, "/Groups/"+gid, patchOp(map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": "ghost"}}})); status != http.StatusBadRequest || !strings.Contains(body["detail"].(string), "ghost") {
		t.Fatalf("unknown member: want 400 naming it, got %d %v", status, body)
	}
	status, page := call(t, s, http.MethodGet, "/Groups?filter="+url.QueryEscape(`id eq "`+gid+`" and members[value eq "`+bob+`"]`), nil)
	if status != http.StatusOK || page["totalResults"] != 1.0 {
		t.Fatalf("membership filter: %d %v", status, page)
	}
	if status, _ := call(t, s, http.MethodDelete, "/Users/"+ann, nil); status != http.StatusNoContent {
		t.Fatalf("delete user: %d", status)
	}
	if g, _ := s.Group(gid); len(g["members"].([]any)) != 1 {
		t.Fatalf("a deleted user leaves its groups: %v", g)
	}
}

func TestAuthAndFaults(t *testing.T) {
	s := New(Options{BearerToken: "tok", Username: "admin", Password: "pw", ClientID: "cli", ClientSecret: "sec"})
	defer s.Close()
	get := func(set func(*http.Request)) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/Users", nil)
		set(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := get(func(r *http.Request) { r.SetBasicAuth("admin", "pw") }); resp.StatusCode != http.StatusOK {
		t.Errorf("basic: %d", resp.StatusCode)
	}
	if resp := get(func(r *http.Request) { r.SetBasicAuth("admin", "nope") }); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: %d", resp.StatusCode)
	}
	if resp := get(func(*http.Request) {}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no credentials: %d", resp.StatusCode)
	}

	resp, err := http.PostForm(s.TokenURL, url.Values{"grant_type": {"client_credentials"}, "client_id": {"cli"}, "client_secret": {"sec"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp := get(func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok.AccessToken) }); resp.StatusCode != http.StatusOK || s.TokensIssued() != 1 {
		t.Errorf("issued token: %d, %d issued", resp.StatusCode, s.TokensIssued())
	}
	s.RevokeTokens()
	if resp := get(func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok.AccessToken) }); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked token: %d", resp.StatusCode)
	}

	s.FailNext(2, http.StatusTooManyRequests, 7*time.Second)
	for range 2 {
		if resp := get(func(r *http.Request) { r.Header.Set("Authorization", "Bearer tok") }); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "7" {
			t.Errorf("injected 429: %d %q", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	if resp := get(func(r *http.Request) { r.Header.Set("Authorization", "Bearer tok") }); resp.StatusCode != http.StatusOK {
		t.Errorf("after the injected failures: %d", resp.StatusCode)
	}
}
