package engine

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"floh/db"
)

// LoginClaims are the verified facts of an OIDC login.
type LoginClaims struct {
	Issuer        string
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	// UpstreamIssuer is the identity provider behind a federating one (claim
	// "upstream_issuer"), used to pick the right pre-provisioned user.
	UpstreamIssuer string
	IP             string
}

// LoginRefusedError is a login the provider accepted but Floh refuses; the message is for
// the person trying to log in.
type LoginRefusedError struct{ Message string }

func (e *LoginRefusedError) Error() string { return e.Message }

// Login finds or creates the user for an OIDC login: the live user with this (iss, sub); else
// the pre-provisioned user whose email (and upstream issuer, when it has one) matches, which
// is confirmed now; else a new user without roles. The login is audited.
func (e *Engine) Login(ctx context.Context, c LoginClaims) (*db.User, error) {
	var u *db.User
	err := e.inTx(ctx, func(tx bun.Tx) error {
		now := e.now()
		actor := func(u *db.User) Actor { return Actor{UserID: &u.ID, Label: u.Email, IP: c.IP} }
		found, err := db.FindUserByIdentity(ctx, tx, c.Issuer, c.Subject)
		switch {
		case err == nil:
			u = found
			if !u.Active {
				return &LoginRefusedError{"Your Floh account is deactivated. Ask an administrator to reactivate it."}
			}
			before := *u
			var changed []string
			if c.Email != "" && c.Email != u.Email {
				u.Email, changed = c.Email, append(changed, "email")
			}
			if c.Name != "" && c.Name != u.DisplayName {
				u.DisplayName, changed = c.Name, append(changed, "displayName")
			}
			if len(changed) > 0 {
				u.UpdatedAt = now
				if err := db.UpdateUser(ctx, tx, u); err != nil {
					return err
				}
				if err := e.recordSources(ctx, tx, u.ID, "oidc", now, changed...); err != nil {
					return err
				}
				if err := e.audit(ctx, tx, actor(u), "user", u.ID.String(), "user.updated", before, u); err != nil {
					return err
				}
			}
		case errors.Is(err, db.ErrNotFound):
			if u, err = e.confirmOrCreate(ctx, tx, c); err != nil {
				return err
			}
		default:
			return err
		}
		return e.audit(ctx, tx, actor(u), "user", u.ID.String(), "user.login", nil,
			map[string]any{"iss": c.Issuer, "sub": c.Subject})
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

func (e *Engine) confirmOrCreate(ctx context.Context, tx bun.Tx, c LoginClaims) (*db.User, error) {
	now := e.now()
	if c.EmailVerified && c.Email != "" {
		candidates, err := db.FindLiveUsersByEmail(ctx, tx, c.Email)
		if err != nil {
			return nil, err
		}
		candidates = slices.DeleteFunc(candidates, func(x db.User) bool {
			return x.Iss != db.UnconfirmedIssuer ||
				(x.UpstreamIssuer != nil && *x.UpstreamIssuer != c.UpstreamIssuer)
		})
		if len(candidates) > 0 {
			// Oldest first: the first pre-provisioned record is the one admins have worked with.
			u := &candidates[0]
			before := *u
			u.Iss, u.Sub, u.Confirmed, u.UpdatedAt = c.Issuer, c.Subject, true, now
			if c.Name != "" {
				u.DisplayName = c.Name
			}
			if err := db.UpdateUser(ctx, tx, u); err != nil {
				return nil, err
			}
			a := Actor{UserID: &u.ID, Label: u.Email, IP: c.IP}
			return u, e.audit(ctx, tx, a, "user", u.ID.String(), "user.confirmed", before, u)
		}
	}
	if deleted, err := db.HasDeletedUserWithIdentity(ctx, tx, c.Issuer, c.Subject); err != nil {
		return nil, err
	} else if deleted {
		return nil, &LoginRefusedError{"Your Floh account has been deleted. Ask an administrator to restore it."}
	}
	name := c.Name
	if name == "" {
		name = strings.SplitN(c.Email, "@", 2)[0]
	}
	u := &db.User{
		ID: uuid.New(), Iss: c.Issuer, Sub: c.Subject, Email: c.Email, DisplayName: name,
		Confirmed: true, Active: true, CreatedAt: now, UpdatedAt: now, Roles: []string{},
	}
	if c.UpstreamIssuer != "" {
		u.UpstreamIssuer = &c.UpstreamIssuer
	}
	if err := db.InsertUser(ctx, tx, u); err != nil {
		return nil, err
	}
	if err := e.recordSources(ctx, tx, u.ID, "oidc", now, "email", "displayName"); err != nil {
		return nil, err
	}
	a := Actor{UserID: &u.ID, Label: u.Email, IP: c.IP}
	return u, e.audit(ctx, tx, a, "user", u.ID.String(), "user.created", nil, u)
}

// RecordLoginFailure records a sign-in that did not succeed as an auth event. Successful
// sign-ins are in the audit log; only failures go to the event log, where admins look for them.
func (e *Engine) RecordLoginFailure(ctx context.Context, ip, reason, detail string) error {
	data, err := json.Marshal(map[string]string{"reason": reason, "ip": ip})
	if err != nil {
		return err
	}
	_, err = e.RecordEvent(ctx, db.Event{
		SubType: "auth", Action: "failed", Severity: "warning",
		Subject: db.Subject{Kind: "sign-in", ID: ip, Name: "sign-in from " + ip},
		Message: reason + ": " + detail, Data: data,
	})
	return err
}

// Logout records the end of a session.
func (e *Engine) Logout(ctx context.Context, a Actor) error {
	if a.UserID == nil {
		return nil
	}
	return e.audit(ctx, e.db.Bun, a, "user", a.UserID.String(), "user.logout", nil, nil)
}

// DemoUser is one of the development sign-in page's users.
type DemoUser struct {
	Subject, Email, Name, Role string
}

// DemoUsers are the four users of PRODUCT §1, one per system role.
var DemoUsers = []DemoUser{
	{"demo-admin", "admin@example.test", "Ada Admin", RoleAdmin},
	{"demo-manager", "manager@example.test", "Max Manager", RoleResourceManager},
	{"demo-approver", "approver@example.test", "Alex Approver", RoleApprover},
	{"demo-requestor", "requestor@example.test", "Riley Requestor", RoleRequestor},
}

// SeedDemoUsers makes sure each demo user exists as a confirmed user of the development
// provider and holds its role. It is idempotent. When the provider's issuer moved (another
// FLOH_BASE_URL), the demo users move with it instead of being created twice.
func (e *Engine) SeedDemoUsers(ctx context.Context, issuer string) error {
	system := Actor{Label: "system"}
	return e.inTx(ctx, func(tx bun.Tx) error {
		for _, d := range DemoUsers {
			u, err := db.FindUserByIdentity(ctx, tx, issuer, d.Subject)
			if errors.Is(err, db.ErrNotFound) {
				u, err = e.seedDemoUser(ctx, tx, issuer, d)
			}
			if err != nil {
				return err
			}
			if !slices.Contains(u.Roles, d.Role) {
				roles := append(slices.Clone(u.Roles), d.Role)
				slices.Sort(roles)
				if err := db.SetUserRoles(ctx, tx, u.ID, roles); err != nil {
					return err
				}
				if err := e.audit(ctx, tx, system, "user", u.ID.String(), "user.roles_changed",
					map[string]any{"roles": u.Roles}, map[string]any{"roles": roles}); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func (e *Engine) seedDemoUser(ctx context.Context, tx bun.Tx, issuer string, d DemoUser) (*db.User, error) {
	now := e.now()
	moved, err := db.FindLiveDevUser(ctx, tx, d.Subject, d.Email)
	if err == nil {
		before := *moved
		moved.Iss, moved.UpdatedAt = issuer, now
		if err := db.UpdateUser(ctx, tx, moved); err != nil {
			return nil, err
		}
		return moved, e.audit(ctx, tx, Actor{Label: "system"}, "user", moved.ID.String(), "user.updated", before, moved)
	} else if !errors.Is(err, db.ErrNotFound) {
		return nil, err
	}
	u := &db.User{
		ID: uuid.New(), Iss: issuer, Sub: d.Subject, Email: d.Email, DisplayName: d.Name,
		Confirmed: true, Active: true, CreatedAt: now, UpdatedAt: now, Roles: []string{},
	}
	if err := db.InsertUser(ctx, tx, u); err != nil {
		return nil, err
	}
	return u, e.audit(ctx, tx, Actor{Label: "system"}, "user", u.ID.String(), "user.created", nil, u)
}
