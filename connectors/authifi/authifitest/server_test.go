package authifitest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// The connector's tests cover what it sends; these cover parts of the contract it never
// reaches.

// api calls the server as a client would, returning the status and the decoded body.
func api(t *testing.T, s *Server, method, path, token, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func errorCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func accessToken(t *testing.T, s *Server, tenant string) (int, string) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"floh"}, "client_secret": {"floh-secret"}}
	resp, err := http.PostForm(s.URL+"/auth/"+tenant+"/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode == http.StatusOK && out.ExpiresIn != 3600 {
		t.Errorf("expires_in %d", out.ExpiresIn)
	}
	return resp.StatusCode, out.AccessToken
}

func TestContractCorners(t *testing.T) {
	clock := clockwork.NewFakeClock()
	s := Start(t, Options{Clock: clock})
	if st, _ := accessToken(t, s, "other"); st != http.StatusNotFound {
		t.Errorf("token for an unknown tenant: %d", st)
	}
	_, tok := accessToken(t, s, "test")

	if st, body := api(t, s, "GET", "/tenants/42/users", "", ""); st != http.StatusUnauthorized || errorCode(body) != "INVALID_TOKEN" {
		t.Errorf("no token: %d %v", st, body)
	}
	if st, body := api(t, s, "GET", "/tenants/42/users?limit=501", tok, ""); st != http.StatusBadRequest || errorCode(body) != "INVALID_FIELD" {
		t.Errorf("limit 501: %d %v", st, body)
	}
	if st, body := api(t, s, "GET", "/tenants/42/users?limit=500", tok, ""); st != http.StatusOK || body["nextCursor"] != nil {
		t.Errorf("limit 500: %d %v", st, body)
	}
	if st, body := api(t, s, "GET", "/tenants/42/nowhere", tok, ""); st != http.StatusNotFound || errorCode(body) != "NOT_FOUND" {
		t.Errorf("unknown path: %d %v", st, body)
	}

	// Role lists are cached for up to 60 s after a read.
	u := s.AddUser(User{Email: "a@example.org", Roles: []string{"reader"}})
	roles := func() []any {
		_, body := api(t, s, "GET", "/tenants/42/users/"+u.ID, tok, "")
		r, _ := body["roles"].([]any)
		return r
	}
	if got := roles(); !slices.Equal(got, []any{"reader"}) {
		t.Fatalf("roles %v", got)
	}
	if st, body := api(t, s, "POST", "/tenants/42/users/"+u.ID+"/roles", tok, `{"roles":["writer"]}`); st != http.StatusOK || len(body["roles"].([]any)) != 2 {
		t.Errorf("add roles: %d %v", st, body)
	}
	if got := roles(); !slices.Equal(got, []any{"reader"}) {
		t.Errorf("roles within 60 s of the last read: %v, want the cached list", got)
	}
	clock.Advance(61 * time.Second)
	if got := roles(); !slices.Equal(got, []any{"reader", "writer"}) {
		t.Errorf("roles after 60 s: %v", got)
	}

	// A deleted user's leftover roles are removable; a user that never existed is a 404.
	if st, body := api(t, s, "DELETE", "/tenants/42/users/"+u.ID, tok, ""); st != http.StatusOK || body["email"] != "a@example.org" {
		t.Errorf("delete: %d %v", st, body)
	}
	if st, _ := api(t, s, "DELETE", "/tenants/42/users/"+u.ID+"/roles", tok, `{"roles":["reader"]}`); st != http.StatusOK {
		t.Errorf("remove roles of a deleted user: %d", st)
	}
	if st, body := api(t, s, "DELETE", "/tenants/42/users/usr_999999/roles", tok, `{"roles":["reader"]}`); st != http.StatusNotFound || errorCode(body) != "USER_NOT_FOUND" {
		t.Errorf("remove roles of no user: %d %v", st, body)
	}

	clock.Advance(time.Hour)
	if st, body := api(t, s, "GET", "/tenants/42/users", tok, ""); st != http.StatusUnauthorized || body == nil {
		t.Errorf("expired token: %d", st)
	}
}

func TestMembersPage(t *testing.T) {
	s := Start(t, Options{})
	var ids []string
	for _, e := range []string{"a@example.org", "b@example.org", "c@example.org"} {
		ids = append(ids, s.AddUser(User{Email: e}).ID)
	}
	g := s.AddGroup(Group{Name: "G", Members: ids})
	_, tok := accessToken(t, s, "test")
	st, body := api(t, s, "GET", "/tenants/42/groups/"+g.ID+"/members?limit=2", tok, "")
	cursor, _ := body["nextCursor"].(string)
	if st != http.StatusOK || len(body["data"].([]any)) != 2 || cursor == "" {
		t.Fatalf("first page: %d %v", st, body)
	}
	_, body = api(t, s, "GET", "/tenants/42/groups/"+g.ID+"/members?limit=2&cursor="+cursor, tok, "")
	if data := body["data"].([]any); len(data) != 1 || data[0].(map[string]any)["email"] != "c@example.org" {
		t.Errorf("second page %v", body)
	}
	if st, _ := api(t, s, "GET", "/tenants/42/groups/"+g.ID+"/members/"+ids[0], tok, ""); st != http.StatusOK {
		t.Errorf("member check %d", st)
	}
	if _, body := api(t, s, "DELETE", "/tenants/42/users/"+ids[0], tok, ""); body["id"] != ids[0] {
		t.Errorf("delete %v", body)
	}
	if st, body := api(t, s, "GET", "/tenants/42/groups/"+g.ID+"/members/"+ids[0], tok, ""); st != http.StatusNotFound || errorCode(body) != "NOT_A_MEMBER" {
		t.Errorf("a deleted user's membership: %d %v", st, body)
	}
}
