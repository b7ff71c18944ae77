package engine_test

import (
	"encoding/json"
	"errors"
	"testing"

	"floh/db"
	"floh/engine"
)

func TestCreateUserValidatesAndFindsOrCreates(t *testing.T) {
	t.Parallel()
	f := setup(t)
	_, _, err := f.eng.CreateUser(f.ctx, f.actor(), engine.CreateUserInput{Email: "not an email"})
	wantValidation(t, err, "email")
	_, _, err = f.eng.CreateUser(f.ctx, f.actor(), engine.CreateUserInput{Email: "x@example.test", Roles: []string{"Superuser"}})
	wantValidation(t, err, "roles[0]")
	if n, _ := f.db.Bun.NewSelect().Table("users").Count(f.ctx); n != 1 {
		t.Fatalf("a refused create wrote users: %d rows", n)
	}

	u, created, err := f.eng.CreateUser(f.ctx, f.actor(), engine.CreateUserInput{Email: "Jo@Example.test", Roles: []string{engine.RoleApprover}})
	if err != nil || !created {
		t.Fatalf("create: %v created=%v", err, created)
	}
	if u.Iss != db.UnconfirmedIssuer || u.Confirmed || u.Email != "Jo@Example.test" || u.DisplayName != "Jo" {
		t.Fatalf("pre-provisioned user: %+v", u)
	}
	again, created, err := f.eng.CreateUser(f.ctx, f.actor(), engine.CreateUserInput{Email: "jo@example.TEST", FindOrCreate: true})
	if err != nil || created || again.ID != u.ID {
		t.Fatalf("findOrCreate matched case-insensitively: %v created=%v id=%v", err, created, again.ID)
	}
	// Emails are not unique: a second user with the same address is allowed without findOrCreate.
	issuer := "https://upstream.example.test"
	second, created, err := f.eng.CreateUser(f.ctx, f.actor(), engine.CreateUserInput{Email: "jo@example.test", UpstreamIssuer: &issuer})
	if err != nil || !created || second.ID == u.ID {
		t.Fatalf("second user with the same email: %v", err)
	}
	_, _, err = f.eng.CreateUser(f.ctx, f.actor(), engine.CreateUserInput{Email: "jo@example.test", FindOrCreate: true})
	wantConflict(t, err)
	found, _, err := f.eng.CreateUser(f.ctx, f.actor(), engine.CreateUserInput{Email: "jo@example.test", UpstreamIssuer: &issuer, FindOrCreate: true})
	if err != nil || found.ID != second.ID {
		t.Fatalf("findOrCreate with upstream issuer: %v", err)
	}
}

func TestDeleteRestoreAndLockoutProtection(t *testing.T) {
	t.Parallel()
	f := setup(t)
	u, _, _ := f.eng.CreateUser(f.ctx, f.actor(), engine.CreateUserInput{Email: "leaver@example.test"})
	deleted, err := f.eng.DeleteUser(f.ctx, f.actor(), u.ID)
	if err != nil || deleted.DeletedAt == nil || !deleted.DeletedAt.Equal(t0) {
		t.Fatalf("delete: %v %+v", err, deleted)
	}
	_, err = f.eng.DeleteUser(f.ctx, f.actor(), u.ID)
	wantConflict(t, err)
	_, err = f.eng.UpdateUser(f.ctx, f.actor(), u.ID, engine.UserPatch{DisplayName: engine.Some("x")})
	wantConflict(t, err)
	restored, err := f.eng.RestoreUser(f.ctx, f.actor(), u.ID)
	if err != nil || restored.DeletedAt != nil {
		t.Fatalf("restore: %v", err)
	}

	// Restore refuses when a live user took the identity meanwhile.
	if _, err := f.eng.DeleteUser(f.ctx, f.actor(), u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Bun.NewRaw(`INSERT INTO users (iss, sub, email, created_at, updated_at) VALUES (?, ?, 'other@example.test', now(), now())`,
		restored.Iss, restored.Sub).Exec(f.ctx); err != nil {
		t.Fatal(err)
	}
	_, err = f.eng.RestoreUser(f.ctx, f.actor(), u.ID)
	wantConflict(t, err)

	// The only admin cannot lock everyone out.
	_, err = f.eng.DeleteUser(f.ctx, f.actor(), f.admin.ID)
	wantConflict(t, err)
	_, err = f.eng.SetUserRoles(f.ctx, engine.Actor{Label: "cli"}, f.admin.ID, []string{engine.RoleApprover})
	wantConflict(t, err)
	_, err = f.eng.UpdateUser(f.ctx, engine.Actor{Label: "cli"}, f.admin.ID, engine.UserPatch{Active: engine.Some(false)})
	wantConflict(t, err)
	second, _, _ := f.eng.CreateUser(f.ctx, f.actor(), engine.CreateUserInput{Email: "admin2@example.test", Roles: []string{engine.RoleAdmin}})
	if _, err := f.eng.SetUserRoles(f.ctx, engine.Actor{Label: "cli"}, f.admin.ID, []string{engine.RoleApprover}); err != nil {
		t.Fatalf("with a second admin, the first may lose the role: %v", err)
	}
	// Admins cannot remove their own access even when others remain.
	_, err = f.eng.SetUserRoles(f.ctx, engine.Actor{UserID: &second.ID, Label: second.Email}, second.ID, []string{})
	wantConflict(t, err)
}

func TestSetRolesAndProfileAreAudited(t *testing.T) {
	t.Parallel()
	f := setup(t)
	u, _, _ := f.eng.CreateUser(f.ctx, f.actor(), engine.CreateUserInput{Email: "pm@example.test"})
	got, err := f.eng.SetUserRoles(f.ctx, f.actor(), u.ID, []string{engine.RoleRequestor, engine.RoleApprover, engine.RoleRequestor})
	if err != nil || len(got.Roles) != 2 || got.Roles[0] != engine.RoleApprover {
		t.Fatalf("roles deduplicated and sorted: %v %v", err, got.Roles)
	}
	_, err = f.eng.SetUserRoles(f.ctx, f.actor(), u.ID, nil)
	wantValidation(t, err, "roles")

	_, err = f.eng.UpdateProfile(f.ctx, f.actor(), u.ID, engine.ProfilePatch{StartDate: engine.Some("31/01/2026")})
	wantValidation(t, err, "startDate")
	_, err = f.eng.UpdateProfile(f.ctx, f.actor(), u.ID, engine.ProfilePatch{Custom: map[string]json.RawMessage{"bad name": []byte(`1`)}})
	wantValidation(t, err, "custom.bad name")

	f.clock.Advance(3600e9)
	prof, err := f.eng.UpdateProfile(f.ctx, f.actor(), u.ID, engine.ProfilePatch{
		Title: engine.Some("Engineer"), StartDate: engine.Some("2026-02-01"),
		Custom: map[string]json.RawMessage{"badge": []byte(`"B-12"`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if *prof.Title != "Engineer" || *prof.StartDate != "2026-02-01" || string(prof.Custom["badge"]) != `"B-12"` {
		t.Fatalf("profile: %+v", prof)
	}
	src := prof.AttributeSources["title"]
	if src.Source != "manual" || !src.At.Equal(t0.Add(3600e9)) || prof.AttributeSources["custom.badge"].Source != "manual" {
		t.Fatalf("attribute sources: %+v", prof.AttributeSources)
	}
	reread, err := db.FindProfile(f.ctx, f.db.Bun, u.ID)
	if err != nil || *reread.StartDate != "2026-02-01" || reread.AttributeSources["startDate"].Source != "manual" {
		t.Fatalf("profile read back: %+v %v", reread, err)
	}
	// Null clears a field and removes a custom attribute.
	prof, err = f.eng.UpdateProfile(f.ctx, f.actor(), u.ID, engine.ProfilePatch{
		Title: engine.Optional[string]{Set: true, Null: true}, Custom: map[string]json.RawMessage{"badge": []byte(`null`)},
	})
	if err != nil || prof.Title != nil || len(prof.Custom) != 0 {
		t.Fatalf("clear: %v %+v", err, prof)
	}
	actions := map[string]int{}
	for _, e := range auditEntries(t, f, db.AuditFilter{EntityID: u.ID.String()}) {
		actions[e.Action]++
	}
	if actions["user.created"] != 1 || actions["user.roles_changed"] != 1 || actions["user.profile_updated"] != 2 {
		t.Fatalf("audit actions: %v", actions)
	}
}

func TestLoginConfirmsPreProvisionedUser(t *testing.T) {
	t.Parallel()
	f := setup(t)
	issuer := "https://idp.example.test"
	pre, _, _ := f.eng.CreateUser(f.ctx, f.actor(), engine.CreateUserInput{Email: "New.Hire@example.test", Roles: []string{engine.RoleRequestor}})

	// An unverified email never confirms a pre-provisioned user.
	u, err := f.eng.Login(f.ctx, engine.LoginClaims{Issuer: issuer, Subject: "s-1", Email: "new.hire@example.test", Name: "New Hire"})
	if err != nil || u.ID == pre.ID || len(u.Roles) != 0 {
		t.Fatalf("unverified login must create a separate user without roles: %v %+v", err, u)
	}
	u, err = f.eng.Login(f.ctx, engine.LoginClaims{Issuer: issuer, Subject: "s-2", Email: "new.hire@example.test", EmailVerified: true, Name: "New Hire"})
	if err != nil || u.ID != pre.ID || !u.Confirmed || u.Iss != issuer || u.Sub != "s-2" || u.Roles[0] != engine.RoleRequestor {
		t.Fatalf("verified login confirms the pre-provisioned user: %v %+v", err, u)
	}
	// The next login finds it by (iss, sub) and keeps its name in sync.
	u, err = f.eng.Login(f.ctx, engine.LoginClaims{Issuer: issuer, Subject: "s-2", Email: "new.hire@example.test", EmailVerified: true, Name: "N. Hire"})
	if err != nil || u.ID != pre.ID || u.DisplayName != "N. Hire" {
		t.Fatalf("returning login: %v %+v", err, u)
	}
	prof, _ := db.FindProfile(f.ctx, f.db.Bun, u.ID)
	if prof.AttributeSources["displayName"].Source != "oidc" {
		t.Fatalf("display name source: %+v", prof.AttributeSources)
	}

	// A pre-provisioned user with an upstream issuer is confirmed only through that issuer.
	up := "https://corp-ad.example.test"
	scoped, _, _ := f.eng.CreateUser(f.ctx, f.actor(), engine.CreateUserInput{Email: "scoped@example.test", UpstreamIssuer: &up})
	other, err := f.eng.Login(f.ctx, engine.LoginClaims{Issuer: issuer, Subject: "s-3", Email: "scoped@example.test", EmailVerified: true, UpstreamIssuer: "https://other.example.test"})
	if err != nil || other.ID == scoped.ID {
		t.Fatalf("other upstream issuer must not confirm: %v", err)
	}
	match, err := f.eng.Login(f.ctx, engine.LoginClaims{Issuer: issuer, Subject: "s-4", Email: "scoped@example.test", EmailVerified: true, UpstreamIssuer: up})
	if err != nil || match.ID != scoped.ID {
		t.Fatalf("matching upstream issuer confirms: %v", err)
	}

	// Deactivated and deleted users are refused with a message for them.
	if _, err := f.eng.UpdateUser(f.ctx, f.actor(), pre.ID, engine.UserPatch{Active: engine.Some(false)}); err != nil {
		t.Fatal(err)
	}
	_, err = f.eng.Login(f.ctx, engine.LoginClaims{Issuer: issuer, Subject: "s-2", Email: "new.hire@example.test", EmailVerified: true})
	var refused *engine.LoginRefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("deactivated login: %v", err)
	}
	if _, err := f.eng.DeleteUser(f.ctx, f.actor(), match.ID); err != nil {
		t.Fatal(err)
	}
	_, err = f.eng.Login(f.ctx, engine.LoginClaims{Issuer: issuer, Subject: "s-4", Email: "scoped@example.test", EmailVerified: true, UpstreamIssuer: up})
	if !errors.As(err, &refused) {
		t.Fatalf("deleted login: %v", err)
	}
	logins := auditEntries(t, f, db.AuditFilter{Action: "user.login"})
	if len(logins) != 5 {
		t.Fatalf("want 5 audited logins, got %d", len(logins))
	}
}

func TestSeedDemoUsersIsIdempotentAndFollowsTheIssuer(t *testing.T) {
	t.Parallel()
	f := setup(t)
	first := "http://127.0.0.1:8080/dev/oidc"
	for range 2 {
		if err := f.eng.SeedDemoUsers(f.ctx, first); err != nil {
			t.Fatal(err)
		}
	}
	users, total, err := db.ListUsers(f.ctx, f.db.Bun, db.UserFilter{Page: db.Page{Page: 1, PageSize: 50}})
	if err != nil || total != 5 {
		t.Fatalf("4 demo users + the fixture admin, got %d (%v)", total, err)
	}
	var adminID string
	for _, u := range users {
		if u.Email == "admin@example.test" {
			adminID = u.ID.String()
			if u.Iss != first || len(u.Roles) != 1 || u.Roles[0] != engine.RoleAdmin {
				t.Fatalf("demo admin: %+v", u)
			}
		}
	}
	moved := "http://localhost:9999/dev/oidc"
	if err := f.eng.SeedDemoUsers(f.ctx, moved); err != nil {
		t.Fatal(err)
	}
	u, err := db.FindUserByIdentity(f.ctx, f.db.Bun, moved, "demo-admin")
	if err != nil || u.ID.String() != adminID {
		t.Fatalf("the demo admin moved with the issuer instead of being duplicated: %v", err)
	}
}
