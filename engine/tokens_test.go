package engine_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"floh/db"
	"floh/engine"
)

func TestTokensCarryAtMostTheOwnersPermissions(t *testing.T) {
	t.Parallel()
	f := setup(t)
	owner, _, _ := f.eng.CreateUser(f.ctx, f.actor(), engine.CreateUserInput{Email: "rm@example.test", Roles: []string{engine.RoleResourceManager}})

	_, err := f.eng.CreateToken(f.ctx, f.actor(), owner.ID, engine.CreateTokenInput{Name: "x", Permissions: []string{"settings:manage"}})
	wantValidation(t, err, "permissions[0]")
	_, err = f.eng.CreateToken(f.ctx, f.actor(), owner.ID, engine.CreateTokenInput{Name: "x", Permissions: []string{"root"}})
	wantValidation(t, err, "permissions[0]")
	_, err = f.eng.CreateToken(f.ctx, f.actor(), owner.ID, engine.CreateTokenInput{Name: " "})
	wantValidation(t, err, "name")
	_, err = f.eng.CreateToken(f.ctx, f.actor(), owner.ID, engine.CreateTokenInput{Name: "x", ExpiresInDays: ptr(400)})
	wantValidation(t, err, "expiresInDays")
	_, err = f.eng.CreateToken(f.ctx, f.actor(), owner.ID, engine.CreateTokenInput{Name: "x", ExpiresInDays: ptr(0)})
	wantValidation(t, err, "expiresInDays")

	all, err := f.eng.CreateToken(f.ctx, f.actor(), owner.ID, engine.CreateTokenInput{Name: "all"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(all.Token, "floh_") || len(all.Token) != 69 || all.Prefix != all.Token[:13] ||
		!all.ExpiresAt.Equal(t0.Add(engine.DefaultTokenDays*24*time.Hour)) || all.Permissions != nil {
		t.Fatalf("token: %+v", all.APIToken)
	}
	stored, _ := db.FindAPIToken(f.ctx, f.db.Bun, all.ID)
	if strings.Contains(string(stored.TokenHash), all.Token) || len(stored.TokenHash) != 32 {
		t.Fatal("the secret must be stored only as a SHA-256 hash")
	}
	read, err := f.eng.CreateToken(f.ctx, f.actor(), owner.ID, engine.CreateTokenInput{Name: "read", Permissions: []string{"user:read", "workflow:read"}, ExpiresInDays: ptr(1)})
	if err != nil {
		t.Fatal(err)
	}

	p, err := f.eng.AuthenticateToken(f.ctx, all.Token, "198.51.100.7")
	if err != nil || !p.Can(engine.PermConnectorManage) || p.Can(engine.PermUserManage) || *p.TokenID != all.ID {
		t.Fatalf("all-permissions token: %v %v", err, p.Permissions.List())
	}
	p, err = f.eng.AuthenticateToken(f.ctx, read.Token, "")
	if err != nil || !p.Can(engine.PermUserRead) || p.Can(engine.PermConnectorRead) {
		t.Fatalf("limited token: %v %v", err, p.Permissions.List())
	}

	// A role downgrade shrinks tokens at once: grants ∩ current permissions.
	if _, err := f.eng.SetUserRoles(f.ctx, f.actor(), owner.ID, []string{engine.RoleRequestor}); err != nil {
		t.Fatal(err)
	}
	p, _ = f.eng.AuthenticateToken(f.ctx, read.Token, "")
	if p.Can(engine.PermUserRead) || !p.Can(engine.PermWorkflowRead) {
		t.Fatalf("after downgrade: %v", p.Permissions.List())
	}

	// Expiry, revocation, deletion of the owner and garbage are all refused alike.
	f.clock.Advance(24 * time.Hour)
	if _, err := f.eng.AuthenticateToken(f.ctx, read.Token, ""); !errors.Is(err, engine.ErrBadToken) {
		t.Fatalf("expired token: %v", err)
	}
	someoneElse := engine.PrincipalFor(dbUser(t, f, f.admin.ID), "")
	if _, err := f.eng.RevokeToken(f.ctx, engine.PrincipalFor(dbUser(t, f, owner.ID), ""), all.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.AuthenticateToken(f.ctx, all.Token, ""); !errors.Is(err, engine.ErrBadToken) {
		t.Fatalf("revoked token: %v", err)
	}
	if _, err := f.eng.AuthenticateToken(f.ctx, "floh_"+strings.Repeat("0", 64), ""); !errors.Is(err, engine.ErrBadToken) {
		t.Fatalf("unknown token: %v", err)
	}
	if _, err := f.eng.AuthenticateToken(f.ctx, "garbage", ""); !errors.Is(err, engine.ErrBadToken) {
		t.Fatalf("malformed token: %v", err)
	}
	fresh, _ := f.eng.CreateToken(f.ctx, f.actor(), owner.ID, engine.CreateTokenInput{Name: "fresh"})
	if _, err := f.eng.DeleteUser(f.ctx, f.actor(), owner.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.AuthenticateToken(f.ctx, fresh.Token, ""); !errors.Is(err, engine.ErrBadToken) {
		t.Fatalf("token of a deleted user: %v", err)
	}
	// Another user's token is invisible to a non-admin; an admin may revoke it.
	requestor := dbUser(t, f, dbtestUser(t, f, "req@example.test", engine.RoleRequestor))
	if _, err := f.eng.RevokeToken(f.ctx, engine.PrincipalFor(requestor, ""), fresh.ID); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("revoking someone else's token: %v", err)
	}
	if _, err := f.eng.RevokeToken(f.ctx, someoneElse, fresh.ID); err != nil {
		t.Fatalf("admin revokes: %v", err)
	}
	created := auditEntries(t, f, db.AuditFilter{Action: "token.created"})
	for _, e := range created {
		if strings.Contains(string(e.After), all.Token) || strings.Contains(string(e.After), fresh.Token) {
			t.Fatalf("audit leaked a secret: %s", e.After)
		}
	}
	if len(auditEntries(t, f, db.AuditFilter{Action: "token.revoked"})) != 2 {
		t.Fatal("revocations are audited")
	}
}

func TestCreateTokenForEmail(t *testing.T) {
	t.Parallel()
	f := setup(t)
	if _, err := f.eng.CreateTokenForEmail(f.ctx, "nobody@example.test", engine.CreateTokenInput{Name: "x"}); err == nil {
		t.Fatal("unknown email must fail")
	}
	tok, err := f.eng.CreateTokenForEmail(f.ctx, "ROOT-admin@example.test", engine.CreateTokenInput{Name: "cli", Permissions: []string{"audit:read"}})
	if err != nil || tok.UserID != f.admin.ID {
		t.Fatalf("token for email: %v", err)
	}
	entry := auditEntries(t, f, db.AuditFilter{Action: "token.created"})[0]
	if entry.Actor != "cli" {
		t.Fatalf("actor of a CLI token: %q", entry.Actor)
	}
	dbtestUser(t, f, "root-admin@example.test", engine.RoleRequestor)
	_, err = f.eng.CreateTokenForEmail(f.ctx, "root-admin@example.test", engine.CreateTokenInput{Name: "x"})
	wantConflict(t, err)
}

func ptr[T any](v T) *T { return &v }
