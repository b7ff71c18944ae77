package db

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
)

// UnconfirmedIssuer is the iss of a user created before their first login.
const UnconfirmedIssuer = "-"

// User is a person Floh knows, confirmed by an OIDC login or pre-provisioned.
type User struct {
	bun.BaseModel `bun:"table:users"`

	ID             uuid.UUID  `bun:"id,pk,type:uuid,default:gen_random_uuid()" json:"id"`
	Iss            string     `bun:"iss" json:"iss"`
	Sub            string     `bun:"sub" json:"sub"`
	Email          string     `bun:"email" json:"email"`
	DisplayName    string     `bun:"display_name" json:"displayName"`
	Confirmed      bool       `bun:"confirmed" json:"confirmed"`
	UpstreamIssuer *string    `bun:"upstream_issuer" json:"upstreamIssuer"`
	UpstreamID     *string    `bun:"upstream_id" json:"upstreamId"`
	Active         bool       `bun:"active" json:"active"`
	CreatedAt      time.Time  `bun:"created_at" json:"createdAt"`
	UpdatedAt      time.Time  `bun:"updated_at" json:"updatedAt"`
	DeletedAt      *time.Time `bun:"deleted_at" json:"deletedAt"`
	Roles          []string   `bun:"roles,scanonly,array" json:"roles"`
}

// Deleted reports whether the user is soft-deleted.
func (u *User) Deleted() bool { return u.DeletedAt != nil }

// rolesColumn aggregates a user's system roles in the same query as the user.
const rolesColumn = `coalesce((SELECT array_agg(r.role ORDER BY r.role) FROM user_roles r WHERE r.user_id = u.id), '{}') AS roles`

func selectUsers(idb bun.IDB, dst any) *bun.SelectQuery {
	return idb.NewSelect().Model(dst).ModelTableExpr("users AS u").ColumnExpr("u.*").ColumnExpr(rolesColumn)
}

// InsertUser stores a new user; ID, CreatedAt and UpdatedAt must be set by the caller.
func InsertUser(ctx context.Context, idb bun.IDB, u *User) error {
	if _, err := idb.NewInsert().Model(u).Returning("id").Exec(ctx); err != nil {
		return fmt.Errorf("insert user: %w", err)
	}
	return nil
}

// UpdateUser writes every column of u but id and created_at.
func UpdateUser(ctx context.Context, idb bun.IDB, u *User) error {
	_, err := idb.NewUpdate().Model(u).ExcludeColumn("id", "created_at").WherePK().Exec(ctx)
	if err != nil {
		return fmt.Errorf("update user: %w", err)
	}
	return nil
}

// FindUser loads a user by id, deleted or not, with its roles.
func FindUser(ctx context.Context, idb bun.IDB, id uuid.UUID) (*User, error) {
	u := new(User)
	if err := selectUsers(idb, u).Where("u.id = ?", id).Scan(ctx); err != nil {
		return nil, fmt.Errorf("find user %s: %w", id, notFound(err))
	}
	return u, nil
}

// FindUserForUpdate loads a user and locks its row until the transaction ends.
func FindUserForUpdate(ctx context.Context, tx bun.Tx, id uuid.UUID) (*User, error) {
	u := new(User)
	if err := selectUsers(tx, u).Where("u.id = ?", id).For("UPDATE OF u").Scan(ctx); err != nil {
		return nil, fmt.Errorf("find user %s: %w", id, notFound(err))
	}
	return u, nil
}

// FindUserByIdentity finds the live user with this (iss, sub).
func FindUserByIdentity(ctx context.Context, idb bun.IDB, iss, sub string) (*User, error) {
	u := new(User)
	err := selectUsers(idb, u).Where("u.iss = ? AND u.sub = ? AND u.deleted_at IS NULL", iss, sub).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("find user by identity: %w", notFound(err))
	}
	return u, nil
}

// FindLiveUsersByEmail lists the live users whose email matches case-insensitively, oldest first.
func FindLiveUsersByEmail(ctx context.Context, idb bun.IDB, email string) ([]User, error) {
	var users []User
	err := selectUsers(idb, &users).
		Where("lower(u.email) = lower(?) AND u.deleted_at IS NULL", email).
		OrderExpr("u.created_at, u.id").Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("find users by email: %w", err)
	}
	return users, nil
}

// FindUsersHoldingEmails returns which of emails some user holds exactly, letter case
// included, deleted or not. It looks them up through the case-insensitive email index.
func FindUsersHoldingEmails(ctx context.Context, idb bun.IDB, emails []string) ([]string, error) {
	if len(emails) == 0 {
		return nil, nil
	}
	lower := make([]string, len(emails))
	for i, e := range emails {
		lower[i] = strings.ToLower(e)
	}
	var held []string
	err := idb.NewSelect().Table("users").Column("email").
		Where("lower(email) IN (?)", bun.In(lower)).Where("email IN (?)", bun.In(emails)).Scan(ctx, &held)
	if err != nil {
		return nil, fmt.Errorf("find users holding emails: %w", err)
	}
	return held, nil
}

// UserFilter selects users for a list.
type UserFilter struct {
	Q              string // substring of email or display name
	Email          string // exact, case-insensitive
	IncludeDeleted bool
	// ActiveOnly keeps the users that may be linked to a record: live and not deactivated.
	ActiveOnly bool
	Page       Page
}

// ListUsers returns one page of users, newest first, and the total matching the filter.
func ListUsers(ctx context.Context, idb bun.IDB, f UserFilter) ([]User, int, error) {
	users := []User{}
	q := selectUsers(idb, &users)
	if !f.IncludeDeleted {
		q = q.Where("u.deleted_at IS NULL")
	}
	if f.Email != "" {
		q = q.Where("lower(u.email) = lower(?)", f.Email)
	}
	if f.ActiveOnly {
		q = q.Where("u.active AND u.deleted_at IS NULL")
	}
	if f.Q != "" {
		like := "%" + escapeLike(strings.ToLower(f.Q)) + "%"
		q = q.Where("(lower(u.email) LIKE ? OR lower(u.display_name) LIKE ?)", like, like)
	}
	total, err := f.Page.apply(q.OrderExpr("u.created_at DESC, u.id DESC")).ScanAndCount(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list users: %w", err)
	}
	return users, int(total), nil
}

// escapeLike makes a user's search text literal inside a LIKE pattern.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// SetUserRoles replaces a user's system roles.
func SetUserRoles(ctx context.Context, idb bun.IDB, userID uuid.UUID, roles []string) error {
	if _, err := idb.NewDelete().TableExpr("user_roles").Where("user_id = ?", userID).Exec(ctx); err != nil {
		return fmt.Errorf("clear user roles: %w", err)
	}
	if len(roles) == 0 {
		return nil
	}
	_, err := idb.NewRaw(`INSERT INTO user_roles (user_id, role) SELECT ?, unnest(?::text[])`, userID, pgdialect.Array(roles)).Exec(ctx)
	if err != nil {
		return fmt.Errorf("insert user roles: %w", err)
	}
	return nil
}

// ListActiveUsersWithRole lists the live, active users holding a system role.
func ListActiveUsersWithRole(ctx context.Context, idb bun.IDB, role string) ([]User, error) {
	var users []User
	err := selectUsers(idb, &users).
		Where("u.deleted_at IS NULL AND u.active").
		Where("EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = u.id AND r.role = ?)", role).
		OrderExpr("u.email").Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("list users with role %s: %w", role, err)
	}
	return users, nil
}

// Profile holds a user's HR attributes and where each value came from.
type Profile struct {
	bun.BaseModel `bun:"table:user_profiles"`

	UserID           uuid.UUID                  `bun:"user_id,pk,type:uuid" json:"userId"`
	Title            *string                    `bun:"title" json:"title"`
	Department       *string                    `bun:"department" json:"department"`
	Location         *string                    `bun:"location" json:"location"`
	CostCenter       *string                    `bun:"cost_center" json:"costCenter"`
	StartDate        *string                    `bun:"start_date,type:date" json:"startDate"`
	Custom           map[string]json.RawMessage `bun:"custom,type:jsonb,notnull" json:"custom"`
	AttributeSources map[string]AttributeSource `bun:"attribute_sources,type:jsonb,notnull" json:"attributeSources"`
	UpdatedAt        time.Time                  `bun:"updated_at" json:"updatedAt"`
}

// AttributeSource records the last writer of one profile field.
type AttributeSource struct {
	// Source is a connector id, "oidc" or "manual".
	Source string    `json:"source"`
	At     time.Time `json:"at"`
}

// FindProfile loads a user's profile; a user who never had one gets an empty profile.
func FindProfile(ctx context.Context, idb bun.IDB, userID uuid.UUID) (*Profile, error) {
	p := &Profile{UserID: userID}
	err := idb.NewSelect().Model(p).
		ColumnExpr("user_id, title, department, location, cost_center, to_char(start_date, 'YYYY-MM-DD') AS start_date, custom, attribute_sources, updated_at").
		WherePK().Scan(ctx)
	if err := notFound(err); err == ErrNotFound {
		return &Profile{UserID: userID, Custom: map[string]json.RawMessage{}, AttributeSources: map[string]AttributeSource{}}, nil
	} else if err != nil {
		return nil, fmt.Errorf("find profile: %w", err)
	}
	return p, nil
}

// SaveProfile inserts or replaces a user's profile.
func SaveProfile(ctx context.Context, idb bun.IDB, p *Profile) error {
	_, err := idb.NewInsert().Model(p).On("CONFLICT (user_id) DO UPDATE").
		Set("title = EXCLUDED.title, department = EXCLUDED.department, location = EXCLUDED.location").
		Set("cost_center = EXCLUDED.cost_center, start_date = EXCLUDED.start_date, custom = EXCLUDED.custom").
		Set("attribute_sources = EXCLUDED.attribute_sources, updated_at = EXCLUDED.updated_at").
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("save profile: %w", err)
	}
	return nil
}

// ExternalIdentity links a user to an account in a connected system.
type ExternalIdentity struct {
	bun.BaseModel `bun:"table:external_identities"`

	ID                  uuid.UUID       `bun:"id,pk,type:uuid,default:gen_random_uuid()" json:"id"`
	UserID              uuid.UUID       `bun:"user_id,type:uuid" json:"userId"`
	ConnectorID         uuid.UUID       `bun:"connector_id,type:uuid" json:"connectorId"`
	ExternalID          string          `bun:"external_id" json:"externalId"`
	ExternalEmail       *string         `bun:"external_email" json:"externalEmail"`
	ExternalDisplayName *string         `bun:"external_display_name" json:"externalDisplayName"`
	Source              string          `bun:"source" json:"source"`
	Attributes          json.RawMessage `bun:"attributes,type:jsonb,notnull" json:"attributes"`
	VerifiedAt          *time.Time      `bun:"verified_at" json:"verifiedAt"`
	CreatedAt           time.Time       `bun:"created_at" json:"createdAt"`
	UpdatedAt           time.Time       `bun:"updated_at" json:"updatedAt"`
}

// ListExternalIdentities lists a user's external identities, newest first.
func ListExternalIdentities(ctx context.Context, idb bun.IDB, userID uuid.UUID) ([]ExternalIdentity, error) {
	ids := []ExternalIdentity{}
	err := idb.NewSelect().Model(&ids).Where("user_id = ?", userID).OrderExpr("created_at DESC, id").Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("list external identities: %w", err)
	}
	return ids, nil
}

// HasDeletedUserWithIdentity reports whether a soft-deleted user holds (iss, sub).
func HasDeletedUserWithIdentity(ctx context.Context, idb bun.IDB, iss, sub string) (bool, error) {
	ok, err := idb.NewSelect().Model((*User)(nil)).
		Where("iss = ? AND sub = ? AND deleted_at IS NOT NULL", iss, sub).Exists(ctx)
	if err != nil {
		return false, fmt.Errorf("look up deleted identity: %w", err)
	}
	return ok, nil
}

// FindLiveDevUser finds a demo user created by a development provider at another base URL.
func FindLiveDevUser(ctx context.Context, idb bun.IDB, sub, email string) (*User, error) {
	u := new(User)
	err := selectUsers(idb, u).
		Where("u.sub = ? AND lower(u.email) = lower(?) AND u.iss LIKE '%/dev/oidc' AND u.deleted_at IS NULL", sub, email).
		OrderExpr("u.created_at").Limit(1).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("find demo user: %w", notFound(err))
	}
	return u, nil
}
