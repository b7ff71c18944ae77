package engine

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"floh/db"
)

const (
	tokenScheme = "floh_"
	// prefixLen is how much of a token is stored and shown to tell tokens apart ("floh_a1b2c3d4").
	prefixLen = len(tokenScheme) + 8
	// DefaultTokenDays and MaxTokenDays bound token lifetimes.
	DefaultTokenDays = 90
	MaxTokenDays     = 365
)

// Principal is who a request acts for and what it may do.
type Principal struct {
	User        *db.User
	Permissions PermissionSet
	// TokenID is set when the request authenticated with an API token.
	TokenID *uuid.UUID
	IP      string
}

// Can reports whether the principal holds p.
func (p *Principal) Can(perm Permission) bool { return p != nil && p.Permissions[perm] }

// CanSeeRun reports whether the principal may read a run: run:read shows every run, and
// everyone sees the runs they started (PRODUCT §1), so a requestor can follow their own.
func (p *Principal) CanSeeRun(run *db.Run) bool {
	return p.Can(PermRunRead) || (p != nil && run.StartedBy.ID != nil && *run.StartedBy.ID == p.User.ID)
}

// RunScope narrows a run list to what the principal may read: every run with run:read,
// else the runs they started.
func (p *Principal) RunScope(f *db.RunFilter) {
	if !p.Can(PermRunRead) {
		f.StartedByID = &p.User.ID
	}
}

// Actor is the principal as the audit log records it.
func (p *Principal) Actor() Actor {
	return Actor{UserID: &p.User.ID, Label: p.User.Email, TokenID: p.TokenID, IP: p.IP}
}

// PrincipalFor builds the principal of a session user from their current roles.
func PrincipalFor(u *db.User, ip string) *Principal {
	return &Principal{User: u, Permissions: PermissionsOf(u.Roles), IP: ip}
}

// CreateTokenInput describes a new API token.
type CreateTokenInput struct {
	Name string `json:"name"`
	// Permissions limits the token; nil means all of the owner's permissions, now and later.
	Permissions []string `json:"permissions"`
	// ExpiresInDays is the lifetime; nil means DefaultTokenDays.
	ExpiresInDays *int `json:"expiresInDays"`
}

// CreatedToken is a new token with its secret, which is never shown again.
type CreatedToken struct {
	db.APIToken
	Token string `json:"token"`
}

// CreateToken creates an API token owned by owner. The requested permissions must be held by
// the owner now.
func (e *Engine) CreateToken(ctx context.Context, a Actor, ownerID uuid.UUID, in CreateTokenInput) (*CreatedToken, error) {
	v := &ValidationError{}
	in.Name = validateText(v, "name", in.Name, 100)
	if in.Name == "" {
		v.Add("name", "is required, e.g. \"nightly export script\"")
	}
	days := DefaultTokenDays
	if in.ExpiresInDays != nil {
		days = *in.ExpiresInDays
	}
	if days < 1 || days > MaxTokenDays {
		v.Add("expiresInDays", "must be between 1 and %d days", MaxTokenDays)
	}
	for i, p := range in.Permissions {
		if !IsPermission(p) {
			v.Add(fmt.Sprintf("permissions[%d]", i), "%q is not a permission", p)
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	var out *CreatedToken
	err := e.inTx(ctx, func(tx bun.Tx) error {
		owner, err := db.FindUser(ctx, tx, ownerID)
		if err != nil {
			return err
		}
		if owner.Deleted() || !owner.Active {
			return Conflict("user %s is deleted or deactivated and cannot own tokens", owner.Email)
		}
		held := PermissionsOf(owner.Roles)
		var perms []string
		if in.Permissions != nil {
			perms = []string{}
			for i, p := range in.Permissions {
				if !held[Permission(p)] {
					v.Add(fmt.Sprintf("permissions[%d]", i), "%s does not hold %s", owner.Email, p)
				} else if !slices.Contains(perms, p) {
					perms = append(perms, p)
				}
			}
			if err := v.Err(); err != nil {
				return err
			}
		}
		secret, err := newTokenSecret()
		if err != nil {
			return err
		}
		now := e.now()
		t := db.APIToken{
			ID: uuid.New(), UserID: owner.ID, Name: in.Name, Prefix: secret[:prefixLen],
			TokenHash: hashToken(secret), Permissions: perms,
			ExpiresAt: now.Add(time.Duration(days) * 24 * time.Hour), CreatedAt: now,
		}
		if err := db.InsertAPIToken(ctx, tx, &t); err != nil {
			return err
		}
		out = &CreatedToken{APIToken: t, Token: secret}
		return e.audit(ctx, tx, a, "api_token", t.ID.String(), "token.created", nil, t)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CreateTokenForEmail is the CLI's path: the owner is the one live user with this email.
func (e *Engine) CreateTokenForEmail(ctx context.Context, email string, in CreateTokenInput) (*CreatedToken, error) {
	users, err := db.FindLiveUsersByEmail(ctx, e.db.Bun, email)
	if err != nil {
		return nil, err
	}
	switch len(users) {
	case 0:
		return nil, Invalid("email", "no user has the email %s (users appear after their first login or when an admin adds them)", email)
	case 1:
	default:
		ids := make([]string, len(users))
		for i, u := range users {
			ids[i] = u.ID.String()
		}
		return nil, Conflict("%d users have the email %s (%s); tokens need exactly one", len(users), email, strings.Join(ids, ", "))
	}
	return e.CreateToken(ctx, Actor{Label: "cli"}, users[0].ID, in)
}

func newTokenSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return tokenScheme + hex.EncodeToString(b), nil
}

func hashToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// ErrBadToken is any token that does not authenticate: unknown, revoked, expired, or its owner
// gone. The reasons are not told apart to the caller.
var ErrBadToken = errors.New("invalid, expired or revoked API token")

// AuthenticateToken turns a bearer secret into a principal whose permissions are the token's
// grants intersected with the owner's current permissions.
func (e *Engine) AuthenticateToken(ctx context.Context, secret, ip string) (*Principal, error) {
	if !strings.HasPrefix(secret, tokenScheme) || len(secret) != len(tokenScheme)+64 {
		return nil, ErrBadToken
	}
	t, err := db.FindAPITokenByHash(ctx, e.db.Bun, hashToken(secret))
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrBadToken
	} else if err != nil {
		return nil, err
	}
	now := e.now()
	if t.RevokedAt != nil || !now.Before(t.ExpiresAt) {
		return nil, ErrBadToken
	}
	owner, err := db.FindUser(ctx, e.db.Bun, t.UserID)
	if err != nil {
		return nil, err
	}
	if owner.Deleted() || !owner.Active {
		return nil, ErrBadToken
	}
	perms := PermissionsOf(owner.Roles)
	if t.Permissions != nil {
		perms = perms.Intersect(t.Permissions)
	}
	if err := db.TouchAPIToken(ctx, e.db.Bun, t.ID, now); err != nil {
		return nil, err
	}
	return &Principal{User: owner, Permissions: perms, TokenID: &t.ID, IP: ip}, nil
}

// RevokeToken revokes a token. Owners revoke their own; user:manage revokes anyone's.
func (e *Engine) RevokeToken(ctx context.Context, p *Principal, id uuid.UUID) (*db.APIToken, error) {
	var t *db.APIToken
	err := e.inTx(ctx, func(tx bun.Tx) error {
		var err error
		if t, err = db.FindAPIToken(ctx, tx, id); err != nil {
			return err
		}
		if t.UserID != p.User.ID && !p.Can(PermUserManage) {
			// Someone else's token is reported as absent, so ids cannot be probed.
			return fmt.Errorf("api token %s: %w", id, db.ErrNotFound)
		}
		if t.RevokedAt != nil {
			return nil
		}
		before := *t
		now := e.now()
		if err := db.RevokeAPIToken(ctx, tx, id, now); err != nil {
			return err
		}
		t.RevokedAt = &now
		return e.audit(ctx, tx, p.Actor(), "api_token", id.String(), "token.revoked", before, t)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}
