package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"floh/db"
)

// apiUser is a user as the API answers it.
type apiUser struct {
	ID             string     `json:"id"`
	Iss            string     `json:"iss"`
	Sub            string     `json:"sub"`
	Email          string     `json:"email"`
	DisplayName    string     `json:"displayName"`
	Confirmed      bool       `json:"confirmed"`
	UpstreamIssuer *string    `json:"upstreamIssuer"`
	UpstreamID     *string    `json:"upstreamId"`
	Active         bool       `json:"active"`
	DeletedAt      *time.Time `json:"deletedAt"`
	Roles          []string   `json:"roles"`
}

type userList struct {
	Items    []apiUser `json:"items"`
	Total    *int      `json:"total"`
	Page     *int      `json:"page"`
	PageSize *int      `json:"pageSize"`
}

func (l userList) has(id string) bool {
	for _, u := range l.Items {
		if u.ID == id {
			return true
		}
	}
	return false
}

// wantAudit finds the newest audit entry for (action, user id) and checks its actor.
func wantAudit(t *testing.T, ts *testServer, action, userID string, actor *db.User) db.AuditEntry {
	t.Helper()
	for _, e := range ts.auditEntries(t, action) {
		if e.EntityID != nil && *e.EntityID == userID {
			if e.Entity != "user" || e.ActorID == nil || *e.ActorID != actor.ID || e.Actor != actor.Email {
				t.Errorf("%s audit entry %+v, want entity user by %s", action, e, actor.Email)
			}
			return e
		}
	}
	t.Fatalf("no %s audit entry for user %s", action, userID)
	return db.AuditEntry{}
}

// absent reports whether an audit state is missing (SQL NULL or JSON null).
func absent(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

func field(t *testing.T, raw json.RawMessage, name string) any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("audit state %s: %v", raw, err)
	}
	return m[name]
}

func TestUsersAPILifecycle(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.loginAs(t, "demo-admin")
	admin := ts.demo(t, "demo-admin")

	// Create: 201 with the user; findOrCreate with the same email (other case) answers 200
	// with the same user and writes nothing.
	var u apiUser
	ts.do(t, c, "POST", "/api/users", map[string]any{
		"email": "Grace.Hopper@example.test", "displayName": "Grace Hopper", "upstreamIssuer": "https://ad.example.test", "upstreamId": "S-1-5-21",
	}).wantStatus(t, http.StatusCreated).json(t, &u)
	if _, err := uuid.Parse(u.ID); err != nil || u.Email != "Grace.Hopper@example.test" || u.Confirmed || u.Iss != "-" ||
		!u.Active || u.DeletedAt != nil || len(u.Roles) != 0 || u.UpstreamID == nil || *u.UpstreamID != "S-1-5-21" {
		t.Fatalf("created user = %+v", u)
	}
	created := wantAudit(t, ts, "user.created", u.ID, admin)
	if !absent(created.Before) || field(t, created.After, "email") != "Grace.Hopper@example.test" {
		t.Errorf("user.created before %s after %s", created.Before, created.After)
	}
	before := ts.snapshot(t)
	var again apiUser
	ts.do(t, c, "POST", "/api/users", map[string]any{"email": "grace.hopper@EXAMPLE.test", "findOrCreate": true}).
		wantStatus(t, http.StatusOK).json(t, &again)
	if again.ID != u.ID {
		t.Errorf("findOrCreate returned %s, want the existing %s", again.ID, u.ID)
	}
	ts.wantUnchanged(t, before)
	// Without findOrCreate a second user with the same email is allowed (emails are not unique).
	var twin apiUser
	ts.do(t, c, "POST", "/api/users", map[string]any{"email": "grace.hopper@example.test"}).
		wantStatus(t, http.StatusCreated).json(t, &twin)
	if twin.ID == u.ID {
		t.Error("a plain create returned the existing user")
	}
	// Now two users share the email: findOrCreate must be told which one.
	ts.do(t, c, "POST", "/api/users", map[string]any{"email": "grace.hopper@example.test", "findOrCreate": true}).
		apiError(t, http.StatusConflict, "conflict")
	ts.do(t, c, "POST", "/api/users", map[string]any{"email": "grace.hopper@example.test", "findOrCreate": true, "upstreamIssuer": "https://ad.example.test"}).
		wantStatus(t, http.StatusOK).json(t, &again)
	if again.ID != u.ID {
		t.Errorf("findOrCreate with upstreamIssuer returned %s, want %s", again.ID, u.ID)
	}

	// Get and patch.
	var got apiUser
	ts.get(t, c, "/api/users/"+u.ID).wantStatus(t, http.StatusOK).json(t, &got)
	if got.ID != u.ID || got.DisplayName != "Grace Hopper" {
		t.Errorf("get = %+v", got)
	}
	ts.do(t, c, "PATCH", "/api/users/"+u.ID, map[string]any{"displayName": "Rear Admiral Hopper", "upstreamId": nil}).
		wantStatus(t, http.StatusOK).json(t, &got)
	if got.DisplayName != "Rear Admiral Hopper" || got.Email != u.Email || got.UpstreamID != nil || got.UpstreamIssuer == nil {
		t.Errorf("patched = %+v: want the new name, upstreamId cleared, the rest kept", got)
	}
	updated := wantAudit(t, ts, "user.updated", u.ID, admin)
	if field(t, updated.Before, "displayName") != "Grace Hopper" || field(t, updated.After, "displayName") != "Rear Admiral Hopper" {
		t.Errorf("user.updated before %s after %s", updated.Before, updated.After)
	}

	// Delete is soft: the user is still readable, hidden from the list unless asked for.
	ts.do(t, c, "DELETE", "/api/users/"+u.ID, nil).wantStatus(t, http.StatusOK).json(t, &got)
	if got.DeletedAt == nil {
		t.Fatalf("deleted user has no deletedAt: %+v", got)
	}
	ts.get(t, c, "/api/users/"+u.ID).wantStatus(t, http.StatusOK).json(t, &got)
	if got.DeletedAt == nil {
		t.Error("GET after delete: deletedAt not set")
	}
	var list userList
	ts.get(t, c, "/api/users?q=hopper").wantStatus(t, http.StatusOK).json(t, &list)
	if list.has(u.ID) || !list.has(twin.ID) {
		t.Errorf("default list: %+v, want the deleted user hidden and its twin shown", list.Items)
	}
	ts.get(t, c, "/api/users?q=hopper&includeDeleted=true").wantStatus(t, http.StatusOK).json(t, &list)
	if !list.has(u.ID) || *list.Total != 2 {
		t.Errorf("includeDeleted list: %+v, want both", list.Items)
	}
	deleted := wantAudit(t, ts, "user.deleted", u.ID, admin)
	if field(t, deleted.Before, "deletedAt") != nil || field(t, deleted.After, "deletedAt") == nil {
		t.Errorf("user.deleted before %s after %s", deleted.Before, deleted.After)
	}
	// A deleted user cannot be changed until restored, nor deleted twice.
	ts.do(t, c, "PATCH", "/api/users/"+u.ID, map[string]any{"displayName": "x"}).apiError(t, http.StatusConflict, "conflict")
	ts.do(t, c, "DELETE", "/api/users/"+u.ID, nil).apiError(t, http.StatusConflict, "conflict")

	// Restore.
	ts.do(t, c, "POST", "/api/users/"+u.ID+"/restore", nil).wantStatus(t, http.StatusOK).json(t, &got)
	if got.DeletedAt != nil {
		t.Errorf("restored user still has deletedAt: %+v", got)
	}
	wantAudit(t, ts, "user.restored", u.ID, admin)
	ts.do(t, c, "POST", "/api/users/"+u.ID+"/restore", nil).apiError(t, http.StatusConflict, "conflict")

	// Restore conflict: while a user was deleted, another user took its login identity.
	victim := ts.demo(t, "demo-approver")
	ts.do(t, c, "DELETE", "/api/users/"+victim.ID.String(), nil).wantStatus(t, http.StatusOK)
	now := time.Now().UTC().Truncate(time.Microsecond)
	taker := &db.User{ID: uuid.New(), Iss: victim.Iss, Sub: victim.Sub, Email: "new-approver@example.test",
		DisplayName: "New Approver", Confirmed: true, Active: true, CreatedAt: now, UpdatedAt: now}
	if err := db.InsertUser(context.Background(), ts.DB.Bun, taker); err != nil {
		t.Fatal(err)
	}
	before = ts.snapshot(t)
	e := ts.do(t, c, "POST", "/api/users/"+victim.ID.String()+"/restore", nil).apiError(t, http.StatusConflict, "conflict")
	if e.Message == "" {
		t.Error("restore conflict without a message")
	}
	ts.wantUnchanged(t, before)
}

func TestUsersAPIRolesAndSelfProtection(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.loginAs(t, "demo-admin")
	admin := ts.demo(t, "demo-admin")
	aid := admin.ID.String()

	// The only admin cannot remove their own Admin role, deactivate or delete themselves.
	before := ts.snapshot(t)
	ts.do(t, c, "PUT", "/api/users/"+aid+"/roles", map[string]any{"roles": []string{"Requestor"}}).apiError(t, http.StatusConflict, "conflict")
	ts.do(t, c, "PUT", "/api/users/"+aid+"/roles", map[string]any{"roles": []string{}}).apiError(t, http.StatusConflict, "conflict")
	ts.do(t, c, "DELETE", "/api/users/"+aid, nil).apiError(t, http.StatusConflict, "conflict")
	ts.do(t, c, "PATCH", "/api/users/"+aid, map[string]any{"active": false}).apiError(t, http.StatusConflict, "conflict")
	ts.wantUnchanged(t, before)
	if u := ts.userByID(t, admin.ID); len(u.Roles) != 1 || u.Deleted() || !u.Active {
		t.Fatalf("the only admin changed: %+v", u)
	}

	// Roles are replaced as a set, sorted and without duplicates, and audited before/after.
	mgr := ts.demo(t, "demo-manager")
	var got apiUser
	ts.do(t, c, "PUT", "/api/users/"+mgr.ID.String()+"/roles", map[string]any{"roles": []string{"Requestor", "Admin", "Requestor"}}).
		wantStatus(t, http.StatusOK).json(t, &got)
	if len(got.Roles) != 2 || got.Roles[0] != "Admin" || got.Roles[1] != "Requestor" {
		t.Errorf("roles = %v, want [Admin Requestor]", got.Roles)
	}
	entry := wantAudit(t, ts, "user.roles_changed", mgr.ID.String(), admin)
	if r, _ := field(t, entry.Before, "roles").([]any); len(r) != 1 || r[0] != "Resource Manager" {
		t.Errorf("roles_changed before = %s", entry.Before)
	}
	if r, _ := field(t, entry.After, "roles").([]any); len(r) != 2 {
		t.Errorf("roles_changed after = %s", entry.After)
	}
	// With a second admin, either may take the Admin role from the other — but still not from
	// themselves, and the second admin's session sees the change at once.
	mc := ts.loginAs(t, "demo-manager")
	ts.get(t, mc, "/api/audit").wantStatus(t, http.StatusOK)
	ts.do(t, mc, "PUT", "/api/users/"+mgr.ID.String()+"/roles", map[string]any{"roles": []string{}}).apiError(t, http.StatusConflict, "conflict")
	ts.do(t, c, "PUT", "/api/users/"+mgr.ID.String()+"/roles", map[string]any{"roles": []string{"Approver"}}).wantStatus(t, http.StatusOK)
	ts.get(t, mc, "/api/audit").apiError(t, http.StatusForbidden, "forbidden")
	ts.get(t, mc, "/api/users").apiError(t, http.StatusForbidden, "forbidden")
	// Setting the same roles again changes and audits nothing.
	n := len(ts.auditEntries(t, "user.roles_changed"))
	ts.do(t, c, "PUT", "/api/users/"+mgr.ID.String()+"/roles", map[string]any{"roles": []string{"Approver"}}).wantStatus(t, http.StatusOK)
	if m := len(ts.auditEntries(t, "user.roles_changed")); m != n {
		t.Errorf("an unchanged role set was audited (%d → %d)", n, m)
	}

	// Deleting a signed-in user ends their session at the next request.
	ts.do(t, c, "DELETE", "/api/users/"+mgr.ID.String(), nil).wantStatus(t, http.StatusOK)
	ts.get(t, mc, "/api/auth/me").apiError(t, http.StatusUnauthorized, "unauthenticated")
	// A deactivated user's session ends too.
	rc := ts.loginAs(t, "demo-requestor")
	ts.do(t, c, "PATCH", "/api/users/"+ts.demo(t, "demo-requestor").ID.String(), map[string]any{"active": false}).wantStatus(t, http.StatusOK)
	ts.get(t, rc, "/api/auth/me").apiError(t, http.StatusUnauthorized, "unauthenticated")
}

func TestUsersAPIProfileAndIdentities(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.loginAs(t, "demo-admin")
	admin := ts.demo(t, "demo-admin")
	var u apiUser
	ts.do(t, c, "POST", "/api/users", map[string]any{"email": "lin@example.test"}).wantStatus(t, http.StatusCreated).json(t, &u)

	type profile struct {
		UserID           string                     `json:"userId"`
		Title            *string                    `json:"title"`
		Department       *string                    `json:"department"`
		StartDate        *string                    `json:"startDate"`
		Custom           map[string]json.RawMessage `json:"custom"`
		AttributeSources map[string]struct {
			Source string    `json:"source"`
			At     time.Time `json:"at"`
		} `json:"attributeSources"`
	}
	var p profile
	ts.get(t, c, "/api/users/"+u.ID+"/profile").wantStatus(t, http.StatusOK).json(t, &p)
	if p.UserID != u.ID || p.Title != nil || len(p.Custom) != 0 || len(p.AttributeSources) != 0 {
		t.Errorf("new profile = %+v, want empty", p)
	}
	ts.do(t, c, "PATCH", "/api/users/"+u.ID+"/profile", map[string]any{
		"title": "Engineer", "department": "Platform", "startDate": "2026-01-31", "custom": map[string]any{"badge": 42},
	}).wantStatus(t, http.StatusOK).json(t, &p)
	ts.get(t, c, "/api/users/"+u.ID+"/profile").wantStatus(t, http.StatusOK).json(t, &p)
	if p.Title == nil || *p.Title != "Engineer" || p.StartDate == nil || *p.StartDate != "2026-01-31" || string(p.Custom["badge"]) != "42" {
		t.Errorf("profile = %+v", p)
	}
	for _, f := range []string{"title", "department", "startDate", "custom.badge"} {
		src := p.AttributeSources[f]
		if src.Source != "manual" || !src.At.Equal(ts.T0) {
			t.Errorf("attributeSources[%s] = %+v, want manual at %s (the engine's clock)", f, src, ts.T0)
		}
	}
	if _, ok := p.AttributeSources["location"]; ok {
		t.Error("an untouched field has a source")
	}
	entry := wantAudit(t, ts, "user.profile_updated", u.ID, admin)
	if field(t, entry.Before, "title") != nil || field(t, entry.After, "title") != "Engineer" {
		t.Errorf("profile audit before %s after %s", entry.Before, entry.After)
	}
	// null clears a field; absent fields are kept.
	ts.Clock.Advance(time.Hour)
	p = profile{}
	ts.do(t, c, "PATCH", "/api/users/"+u.ID+"/profile", map[string]any{"title": nil, "custom": map[string]any{"badge": nil}}).
		wantStatus(t, http.StatusOK).json(t, &p)
	if p.Title != nil || p.Department == nil || *p.Department != "Platform" || len(p.Custom) != 0 {
		t.Errorf("after clearing: %+v", p)
	}
	if !p.AttributeSources["title"].At.Equal(ts.T0.Add(time.Hour)) || !p.AttributeSources["department"].At.Equal(ts.T0) {
		t.Errorf("sources after clearing: %+v", p.AttributeSources)
	}
	// A patch of the user's own fields records manual as their source too.
	ts.do(t, c, "PATCH", "/api/users/"+u.ID, map[string]any{"email": "lin.w@example.test"}).wantStatus(t, http.StatusOK)
	ts.get(t, c, "/api/users/"+u.ID+"/profile").wantStatus(t, http.StatusOK).json(t, &p)
	if p.AttributeSources["email"].Source != "manual" {
		t.Errorf("email source = %+v, want manual", p.AttributeSources["email"])
	}

	var ids struct {
		Items []map[string]any `json:"items"`
	}
	res := ts.get(t, c, "/api/users/"+u.ID+"/external-identities").wantStatus(t, http.StatusOK)
	res.json(t, &ids)
	if ids.Items == nil || len(ids.Items) != 0 {
		t.Errorf("external identities = %s, want an empty list", res.Body)
	}
	ts.get(t, c, "/api/users/"+uuid.NewString()+"/external-identities").apiError(t, http.StatusNotFound, "not_found")
	ts.get(t, c, "/api/users/"+uuid.NewString()+"/profile").apiError(t, http.StatusNotFound, "not_found")
}

func TestUsersAPIListPaging(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.loginAs(t, "demo-manager") // user:read is enough to list
	admin := ts.loginAs(t, "demo-admin")
	for i := range 7 {
		ts.do(t, admin, "POST", "/api/users", map[string]any{"email": "page" + strconv.Itoa(i) + "@example.test"}).
			wantStatus(t, http.StatusCreated)
		ts.Clock.Advance(time.Second) // newest first is by creation time
	}
	var l userList
	ts.get(t, c, "/api/users").wantStatus(t, http.StatusOK).json(t, &l)
	if l.Total == nil || l.Page == nil || l.PageSize == nil || *l.Total != 11 || *l.Page != 1 || *l.PageSize != 50 || len(l.Items) != 11 {
		t.Fatalf("default list: total %v page %v pageSize %v items %d", l.Total, l.Page, l.PageSize, len(l.Items))
	}
	seen := map[string]bool{}
	for page := 1; page <= 3; page++ {
		ts.get(t, c, "/api/users?pageSize=4&page="+strconv.Itoa(page)).wantStatus(t, http.StatusOK).json(t, &l)
		want := min(4, 11-(page-1)*4)
		if *l.Total != 11 || *l.Page != page || *l.PageSize != 4 || len(l.Items) != want {
			t.Errorf("page %d: total %d page %d pageSize %d items %d, want %d items", page, *l.Total, *l.Page, *l.PageSize, len(l.Items), want)
		}
		for _, u := range l.Items {
			if seen[u.ID] {
				t.Errorf("user %s on two pages", u.Email)
			}
			seen[u.ID] = true
		}
	}
	if len(seen) != 11 {
		t.Errorf("paging saw %d users, want 11", len(seen))
	}
	ts.get(t, c, "/api/users?pageSize=4&page=9").wantStatus(t, http.StatusOK).json(t, &l)
	if l.Items == nil || len(l.Items) != 0 || *l.Total != 11 {
		t.Errorf("past the end: %+v", l)
	}
	ts.get(t, c, "/api/users?pageSize=500").wantStatus(t, http.StatusOK)
	e := ts.get(t, c, "/api/users?pageSize=501").apiError(t, http.StatusUnprocessableEntity, "validation_failed")
	if !e.hasField("pageSize") {
		t.Errorf("details %+v do not name pageSize", e.Details)
	}
	// Filters: q matches email or name, email is exact and case-insensitive.
	ts.get(t, c, "/api/users?q=PAGE1").wantStatus(t, http.StatusOK).json(t, &l)
	if *l.Total != 1 || l.Items[0].Email != "page1@example.test" {
		t.Errorf("q=PAGE1: %+v", l.Items)
	}
	ts.get(t, c, "/api/users?email=ADMIN@example.test").wantStatus(t, http.StatusOK).json(t, &l)
	if *l.Total != 1 || l.Items[0].Email != "admin@example.test" {
		t.Errorf("email=ADMIN@example.test: %+v", l.Items)
	}
	ts.get(t, c, "/api/users?q=%25").wantStatus(t, http.StatusOK).json(t, &l)
	if *l.Total != 0 {
		t.Errorf("q=%% matched %d users; LIKE wildcards must be literal", *l.Total)
	}
}
