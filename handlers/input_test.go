package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestBadInputIsRefusedAndWritesNothing(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.loginAs(t, "demo-admin")
	uid := ts.demo(t, "demo-requestor").ID.String()
	huge := `{"email": "` + strings.Repeat("a", 1<<20) + `@example.test"}`

	cases := []struct {
		name, method, path string
		body               any
		headers            []string
		status             int
		code               string
		field              string // a field the details must name
	}{
		{"malformed JSON", "POST", "/api/users", `{"email": "a@example.test",}`, nil, 400, "bad_request", ""},
		{"truncated JSON", "POST", "/api/users", `{"email": "a@exa`, nil, 400, "bad_request", ""},
		{"empty body", "POST", "/api/users", ``, nil, 400, "bad_request", ""},
		{"not an object", "POST", "/api/users", `["a@example.test"]`, nil, 400, "bad_request", ""},
		{"two JSON values", "POST", "/api/users", `{"email": "a@example.test"} {}`, nil, 400, "bad_request", ""},
		{"not JSON content type", "POST", "/api/users", `{"email": "a@example.test"}`, []string{"Content-Type", "text/plain"}, 400, "bad_request", ""},
		{"unknown field", "POST", "/api/users", `{"email": "a@example.test", "emial": "typo"}`, nil, 422, "validation_failed", "emial"},
		{"wrong type", "POST", "/api/users", `{"email": 42}`, nil, 422, "validation_failed", "email"},
		{"wrong type, bool", "POST", "/api/users", `{"email": "a@example.test", "findOrCreate": "yes"}`, nil, 422, "validation_failed", "findOrCreate"},
		{"invalid email", "POST", "/api/users", `{"email": "not-an-email"}`, nil, 422, "validation_failed", "email"},
		{"email with display name", "POST", "/api/users", `{"email": "Ada <ada@example.test>"}`, nil, 422, "validation_failed", "email"},
		{"missing email", "POST", "/api/users", `{"displayName": "Nobody"}`, nil, 422, "validation_failed", "email"},
		{"unknown role", "POST", "/api/users", `{"email": "a@example.test", "roles": ["Root"]}`, nil, 422, "validation_failed", "roles[0]"},
		{"body over 1 MiB", "POST", "/api/users", huge, nil, 413, "payload_too_large", ""},
		{"patch: unknown field", "PATCH", "/api/users/" + uid, `{"nickname": "x"}`, nil, 422, "validation_failed", "nickname"},
		{"patch: wrong type", "PATCH", "/api/users/" + uid, `{"active": "no"}`, nil, 422, "validation_failed", "active"},
		{"patch: null email", "PATCH", "/api/users/" + uid, `{"email": null}`, nil, 422, "validation_failed", "email"},
		{"roles: missing", "PUT", "/api/users/" + uid + "/roles", `{}`, nil, 422, "validation_failed", "roles"},
		{"roles: wrong type", "PUT", "/api/users/" + uid + "/roles", `{"roles": "Admin"}`, nil, 422, "validation_failed", "roles"},
		{"profile: bad date", "PATCH", "/api/users/" + uid + "/profile", `{"startDate": "31/01/2026"}`, nil, 422, "validation_failed", "startDate"},
		{"profile: bad custom name", "PATCH", "/api/users/" + uid + "/profile", `{"custom": {"1bad": "x"}}`, nil, 422, "validation_failed", "custom.1bad"},
		{"token: unknown permission", "POST", "/api/auth/tokens", `{"name": "x", "permissions": ["root"]}`, nil, 422, "validation_failed", "permissions[0]"},
		{"token: too long", "POST", "/api/auth/tokens", `{"name": "x", "expiresInDays": 5000}`, nil, 422, "validation_failed", "expiresInDays"},
		{"token: zero days", "POST", "/api/auth/tokens", `{"name": "x", "expiresInDays": 0}`, nil, 422, "validation_failed", "expiresInDays"},
		{"unknown id", "GET", "/api/users/" + uuid.NewString(), nil, nil, 404, "not_found", ""},
		{"unknown id: patch", "PATCH", "/api/users/" + uuid.NewString(), `{"displayName": "x"}`, nil, 404, "not_found", ""},
		{"unknown id: delete", "DELETE", "/api/users/" + uuid.NewString(), nil, nil, 404, "not_found", ""},
		{"unknown id: roles", "PUT", "/api/users/" + uuid.NewString() + "/roles", `{"roles": []}`, nil, 404, "not_found", ""},
		{"unknown id: profile", "PATCH", "/api/users/" + uuid.NewString() + "/profile", `{"title": "x"}`, nil, 404, "not_found", ""},
		{"unknown id: restore", "POST", "/api/users/" + uuid.NewString() + "/restore", nil, nil, 404, "not_found", ""},
		{"unknown token", "DELETE", "/api/auth/tokens/" + uuid.NewString(), nil, nil, 404, "not_found", ""},
		{"unknown incident", "GET", "/api/incidents/" + uuid.NewString(), nil, nil, 404, "not_found", ""},
		{"malformed id", "GET", "/api/users/not-a-uuid", nil, nil, 404, "not_found", ""},
		{"malformed id: patch", "PATCH", "/api/users/12345", `{"displayName": "x"}`, nil, 404, "not_found", ""},
		{"malformed id: delete", "DELETE", "/api/users/' OR 1=1 --", nil, nil, 404, "not_found", ""},
		{"bad page size", "GET", "/api/users?pageSize=501", nil, nil, 422, "validation_failed", "pageSize"},
		{"bad page", "GET", "/api/users?page=0", nil, nil, 422, "validation_failed", "page"},
		{"page past the last one a list answers", "GET", "/api/users?page=9223372036854775807", nil, nil, 422, "validation_failed", "page"},
		{"bad flag", "GET", "/api/users?includeDeleted=maybe", nil, nil, 422, "validation_failed", "includeDeleted"},
		{"bad audit time", "GET", "/api/audit?from=yesterday", nil, nil, 422, "validation_failed", "from"},
		{"bad event sub-type", "GET", "/api/events?subType=nope", nil, nil, 422, "validation_failed", "subType"},
		{"bad incident status", "GET", "/api/incidents?status=nope", nil, nil, 422, "validation_failed", "status"},
	}
	before := ts.snapshot(t)
	for _, tc := range cases {
		path := strings.ReplaceAll(tc.path, " ", "%20")
		res := ts.do(t, c, tc.method, path, tc.body, tc.headers...)
		if res.Status != tc.status {
			t.Errorf("%s: status %d, want %d: %.300s", tc.name, res.Status, tc.status, res.Body)
			continue
		}
		e := res.apiError(t, tc.status, tc.code)
		if tc.field != "" && !e.hasField(tc.field) {
			t.Errorf("%s: details %+v do not name %q", tc.name, e.Details, tc.field)
		}
	}
	ts.wantUnchanged(t, before)
	// The session survived every refusal, including the 413.
	ts.get(t, c, "/api/auth/me").wantStatus(t, http.StatusOK)
}
