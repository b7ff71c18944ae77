package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"floh/db"
)

const (
	maxEmailLen = 254
	maxNameLen  = 200
	maxAttrLen  = 500
)

// validateEmail checks an address the way admins type them: one plain address, no display name.
func validateEmail(v *ValidationError, field, email string) string {
	email = strings.TrimSpace(email)
	switch {
	case email == "":
		v.Add(field, "is required")
	case len(email) > maxEmailLen:
		v.Add(field, "must be at most %d characters", maxEmailLen)
	default:
		addr, err := mail.ParseAddress(email)
		if err != nil || addr.Address != email || addr.Name != "" {
			v.Add(field, "%q is not an email address like name@example.com", email)
		}
	}
	return email
}

func validateText(v *ValidationError, field, s string, max int) string {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > max {
		v.Add(field, "must be at most %d characters", max)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 }) {
		v.Add(field, "must not contain control characters")
	}
	return s
}

// CreateUserInput pre-provisions a user who is confirmed at their first login.
type CreateUserInput struct {
	Email          string  `json:"email"`
	DisplayName    string  `json:"displayName"`
	UpstreamIssuer *string `json:"upstreamIssuer"`
	UpstreamID     *string `json:"upstreamId"`
	// FindOrCreate returns the existing live user with this email (and upstream issuer, when
	// given) instead of creating a second one.
	FindOrCreate bool `json:"findOrCreate"`
	// Roles are the new user's system roles (an extension of the contract; optional).
	Roles []string `json:"roles"`
}

// CreateUser creates an unconfirmed user, or with FindOrCreate returns the matching one.
// created reports which happened.
func (e *Engine) CreateUser(ctx context.Context, a Actor, in CreateUserInput) (u *db.User, created bool, err error) {
	v := &ValidationError{}
	in.Email = validateEmail(v, "email", in.Email)
	in.DisplayName = validateText(v, "displayName", in.DisplayName, maxNameLen)
	in.UpstreamIssuer = optionalText(v, "upstreamIssuer", in.UpstreamIssuer)
	in.UpstreamID = optionalText(v, "upstreamId", in.UpstreamID)
	roles := validateRoles(v, in.Roles)
	if err := v.Err(); err != nil {
		return nil, false, err
	}
	if in.DisplayName == "" {
		in.DisplayName = strings.SplitN(in.Email, "@", 2)[0]
	}
	err = e.inTx(ctx, func(tx bun.Tx) error {
		if in.FindOrCreate {
			existing, err := db.FindLiveUsersByEmail(ctx, tx, in.Email)
			if err != nil {
				return err
			}
			if in.UpstreamIssuer != nil {
				existing = slices.DeleteFunc(existing, func(x db.User) bool {
					return x.UpstreamIssuer == nil || *x.UpstreamIssuer != *in.UpstreamIssuer
				})
			}
			switch len(existing) {
			case 0:
			case 1:
				u = &existing[0]
				return nil
			default:
				return Conflict("%d users have the email %s; pass upstreamIssuer to choose one", len(existing), in.Email)
			}
		}
		now := e.now()
		u = &db.User{
			ID: uuid.New(), Iss: db.UnconfirmedIssuer, Sub: uuid.NewString(), Email: in.Email,
			DisplayName: in.DisplayName, UpstreamIssuer: in.UpstreamIssuer, UpstreamID: in.UpstreamID,
			Active: true, CreatedAt: now, UpdatedAt: now, Roles: roles,
		}
		if err := db.InsertUser(ctx, tx, u); err != nil {
			return err
		}
		if err := db.SetUserRoles(ctx, tx, u.ID, roles); err != nil {
			return err
		}
		created = true
		return e.audit(ctx, tx, a, "user", u.ID.String(), "user.created", nil, u)
	})
	if err != nil {
		return nil, false, err
	}
	return u, created, nil
}

func optionalText(v *ValidationError, field string, s *string) *string {
	if s == nil {
		return nil
	}
	t := validateText(v, field, *s, maxAttrLen)
	if t == "" {
		return nil
	}
	return &t
}

// UserPatch changes some of a user's fields; absent fields are kept.
type UserPatch struct {
	Email          Optional[string] `json:"email"`
	DisplayName    Optional[string] `json:"displayName"`
	Active         Optional[bool]   `json:"active"`
	UpstreamIssuer Optional[string] `json:"upstreamIssuer"`
	UpstreamID     Optional[string] `json:"upstreamId"`
}

// UpdateUser applies a patch to a live user.
func (e *Engine) UpdateUser(ctx context.Context, a Actor, id uuid.UUID, p UserPatch) (*db.User, error) {
	v := &ValidationError{}
	if p.Email.Set {
		if p.Email.Null {
			v.Add("email", "is required")
		} else {
			p.Email.Value = validateEmail(v, "email", p.Email.Value)
		}
	}
	if p.DisplayName.Set {
		if p.DisplayName.Null {
			p.DisplayName.Value = ""
		}
		p.DisplayName.Value = validateText(v, "displayName", p.DisplayName.Value, maxNameLen)
		if p.DisplayName.Value == "" {
			v.Add("displayName", "is required")
		}
	}
	if p.Active.Set && p.Active.Null {
		v.Add("active", "must be true or false")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	var u *db.User
	err := e.inTx(ctx, func(tx bun.Tx) error {
		var err error
		if u, err = db.FindUserForUpdate(ctx, tx, id); err != nil {
			return err
		}
		if u.Deleted() {
			return Conflict("user %s is deleted; restore it before changing it", u.Email)
		}
		before := *u
		now := e.now()
		var sources []string
		if p.Email.Set && p.Email.Value != u.Email {
			u.Email = p.Email.Value
			sources = append(sources, "email")
		}
		if p.DisplayName.Set && p.DisplayName.Value != u.DisplayName {
			u.DisplayName = p.DisplayName.Value
			sources = append(sources, "displayName")
		}
		if p.Active.Set && p.Active.Value != u.Active {
			if !p.Active.Value {
				if err := e.refuseSelfLockout(ctx, tx, a, u, "deactivate"); err != nil {
					return err
				}
			}
			u.Active = p.Active.Value
		}
		if p.UpstreamIssuer.Set {
			u.UpstreamIssuer = optionalText(v, "upstreamIssuer", nullToEmpty(p.UpstreamIssuer))
		}
		if p.UpstreamID.Set {
			u.UpstreamID = optionalText(v, "upstreamId", nullToEmpty(p.UpstreamID))
		}
		if err := v.Err(); err != nil {
			return err
		}
		u.UpdatedAt = now
		if err := db.UpdateUser(ctx, tx, u); err != nil {
			return err
		}
		if err := e.recordSources(ctx, tx, u.ID, "manual", now, sources...); err != nil {
			return err
		}
		return e.audit(ctx, tx, a, "user", u.ID.String(), "user.updated", before, u)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

func nullToEmpty(o Optional[string]) *string {
	if o.Null {
		return nil
	}
	return &o.Value
}

// refuseSelfLockout keeps admins from removing their own access or the last admin's.
func (e *Engine) refuseSelfLockout(ctx context.Context, tx bun.Tx, a Actor, u *db.User, verb string) error {
	if a.UserID != nil && *a.UserID == u.ID {
		return Conflict("you cannot %s your own account; ask another admin", verb)
	}
	if slices.Contains(u.Roles, RoleAdmin) {
		return e.requireAnotherAdmin(ctx, tx, u.ID, verb)
	}
	return nil
}

func (e *Engine) requireAnotherAdmin(ctx context.Context, tx bun.Tx, id uuid.UUID, verb string) error {
	admins, err := db.ListActiveUsersWithRole(ctx, tx, RoleAdmin)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(admins, func(x db.User) bool { return x.ID != id }) {
		return Conflict("cannot %s the last active admin; give another user the Admin role first", verb)
	}
	return nil
}

// DeleteUser soft-deletes a user: they can no longer log in or use tokens, and their row stays
// for audit and restore.
func (e *Engine) DeleteUser(ctx context.Context, a Actor, id uuid.UUID) (*db.User, error) {
	var u *db.User
	err := e.inTx(ctx, func(tx bun.Tx) error {
		var err error
		if u, err = db.FindUserForUpdate(ctx, tx, id); err != nil {
			return err
		}
		if u.Deleted() {
			return Conflict("user %s is already deleted", u.Email)
		}
		if err := e.refuseSelfLockout(ctx, tx, a, u, "delete"); err != nil {
			return err
		}
		before := *u
		now := e.now()
		u.DeletedAt, u.UpdatedAt = &now, now
		if err := db.UpdateUser(ctx, tx, u); err != nil {
			return err
		}
		return e.audit(ctx, tx, a, "user", u.ID.String(), "user.deleted", before, u)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// RestoreUser undoes a soft delete, unless another live user took the identity meanwhile.
func (e *Engine) RestoreUser(ctx context.Context, a Actor, id uuid.UUID) (*db.User, error) {
	var u *db.User
	err := e.inTx(ctx, func(tx bun.Tx) error {
		var err error
		if u, err = db.FindUserForUpdate(ctx, tx, id); err != nil {
			return err
		}
		if !u.Deleted() {
			return Conflict("user %s is not deleted", u.Email)
		}
		if other, err := db.FindUserByIdentity(ctx, tx, u.Iss, u.Sub); err == nil {
			return Conflict("another user (%s) now has this login identity; delete it first", other.Email)
		} else if !errors.Is(err, db.ErrNotFound) {
			return err
		}
		before := *u
		u.DeletedAt, u.UpdatedAt = nil, e.now()
		if err := db.UpdateUser(ctx, tx, u); err != nil {
			return err
		}
		return e.audit(ctx, tx, a, "user", u.ID.String(), "user.restored", before, u)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// SetUserRoles replaces a user's system roles.
func (e *Engine) SetUserRoles(ctx context.Context, a Actor, id uuid.UUID, roles []string) (*db.User, error) {
	v := &ValidationError{}
	if roles == nil {
		v.Add("roles", "is required (an empty list removes every role)")
	}
	clean := validateRoles(v, roles)
	if err := v.Err(); err != nil {
		return nil, err
	}
	var u *db.User
	err := e.inTx(ctx, func(tx bun.Tx) error {
		var err error
		if u, err = db.FindUserForUpdate(ctx, tx, id); err != nil {
			return err
		}
		if u.Deleted() {
			return Conflict("user %s is deleted; restore it before changing its roles", u.Email)
		}
		if slices.Equal(u.Roles, clean) {
			return nil
		}
		if slices.Contains(u.Roles, RoleAdmin) && !slices.Contains(clean, RoleAdmin) {
			if a.UserID != nil && *a.UserID == u.ID {
				return Conflict("you cannot remove your own Admin role; ask another admin")
			}
			if err := e.requireAnotherAdmin(ctx, tx, u.ID, "remove the Admin role from"); err != nil {
				return err
			}
		}
		before := map[string]any{"roles": u.Roles}
		if err := db.SetUserRoles(ctx, tx, u.ID, clean); err != nil {
			return err
		}
		u.Roles = clean
		return e.audit(ctx, tx, a, "user", u.ID.String(), "user.roles_changed", before, map[string]any{"roles": clean})
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// validateRoles checks role names and returns them sorted without duplicates.
func validateRoles(v *ValidationError, roles []string) []string {
	clean := []string{}
	for i, r := range roles {
		if !IsSystemRole(r) {
			v.Add(fmt.Sprintf("roles[%d]", i), "%q is not a system role (Admin, Resource Manager, Approver, Requestor)", r)
		} else if !slices.Contains(clean, r) {
			clean = append(clean, r)
		}
	}
	slices.Sort(clean)
	return clean
}

// ProfilePatch changes some profile fields; absent fields are kept, null clears.
type ProfilePatch struct {
	Title      Optional[string] `json:"title"`
	Department Optional[string] `json:"department"`
	Location   Optional[string] `json:"location"`
	CostCenter Optional[string] `json:"costCenter"`
	StartDate  Optional[string] `json:"startDate"`
	// Custom merges into the custom attributes; a null value removes the attribute.
	Custom map[string]json.RawMessage `json:"custom"`
}

var customAttrName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,62}$`)

// UpdateProfile applies a patch to a live user's profile and records "manual" as the source of
// each field it changes.
func (e *Engine) UpdateProfile(ctx context.Context, a Actor, id uuid.UUID, p ProfilePatch) (*db.Profile, error) {
	v := &ValidationError{}
	texts := []struct {
		name string
		in   Optional[string]
	}{{"title", p.Title}, {"department", p.Department}, {"location", p.Location}, {"costCenter", p.CostCenter}}
	for _, t := range texts {
		if t.in.Set && !t.in.Null {
			validateText(v, t.name, t.in.Value, maxAttrLen)
		}
	}
	if p.StartDate.Set && !p.StartDate.Null && p.StartDate.Value != "" {
		if _, err := time.Parse(time.DateOnly, p.StartDate.Value); err != nil {
			v.Add("startDate", "%q is not a date like 2026-01-31", p.StartDate.Value)
		}
	}
	for name, raw := range p.Custom {
		if !customAttrName.MatchString(name) {
			v.Add("custom."+name, "attribute names start with a letter and use letters, digits and _ (at most 63)")
		} else if len(raw) > 4096 {
			v.Add("custom."+name, "value must be at most 4096 bytes of JSON")
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	var prof *db.Profile
	err := e.inTx(ctx, func(tx bun.Tx) error {
		u, err := db.FindUserForUpdate(ctx, tx, id)
		if err != nil {
			return err
		}
		if u.Deleted() {
			return Conflict("user %s is deleted; restore it before changing its profile", u.Email)
		}
		if prof, err = db.FindProfile(ctx, tx, id); err != nil {
			return err
		}
		before := *prof
		before.Custom = maps.Clone(prof.Custom)
		before.AttributeSources = maps.Clone(prof.AttributeSources)
		now := e.now()
		changed := []string{}
		set := func(name string, dst **string, in Optional[string]) {
			if !in.Set {
				return
			}
			var val *string
			if !in.Null && strings.TrimSpace(in.Value) != "" {
				s := strings.TrimSpace(in.Value)
				val = &s
			}
			if !equalPtr(*dst, val) {
				*dst = val
				changed = append(changed, name)
			}
		}
		set("title", &prof.Title, p.Title)
		set("department", &prof.Department, p.Department)
		set("location", &prof.Location, p.Location)
		set("costCenter", &prof.CostCenter, p.CostCenter)
		set("startDate", &prof.StartDate, p.StartDate)
		for name, raw := range p.Custom {
			old, had := prof.Custom[name]
			if string(raw) == "null" {
				if had {
					delete(prof.Custom, name)
					changed = append(changed, "custom."+name)
				}
				continue
			}
			if !had || string(old) != string(raw) {
				prof.Custom[name] = raw
				changed = append(changed, "custom."+name)
			}
		}
		if len(changed) == 0 {
			return nil
		}
		for _, f := range changed {
			prof.AttributeSources[f] = db.AttributeSource{Source: "manual", At: now}
		}
		prof.UpdatedAt = now
		if err := db.SaveProfile(ctx, tx, prof); err != nil {
			return err
		}
		return e.audit(ctx, tx, a, "user", id.String(), "user.profile_updated", before, prof)
	})
	if err != nil {
		return nil, err
	}
	return prof, nil
}

// recordSources marks user fields (email, displayName) as last written by source.
func (e *Engine) recordSources(ctx context.Context, tx bun.Tx, id uuid.UUID, source string, at time.Time, fields ...string) error {
	if len(fields) == 0 {
		return nil
	}
	prof, err := db.FindProfile(ctx, tx, id)
	if err != nil {
		return err
	}
	for _, f := range fields {
		prof.AttributeSources[f] = db.AttributeSource{Source: source, At: at}
	}
	prof.UpdatedAt = at
	return db.SaveProfile(ctx, tx, prof)
}

func equalPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
