package db

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// APIToken is a personal token for scripts; only the SHA-256 of the secret is stored.
type APIToken struct {
	bun.BaseModel `bun:"table:api_tokens"`

	ID          uuid.UUID  `bun:"id,pk,type:uuid,default:gen_random_uuid()" json:"id"`
	UserID      uuid.UUID  `bun:"user_id,type:uuid" json:"userId"`
	Name        string     `bun:"name" json:"name"`
	Prefix      string     `bun:"prefix" json:"prefix"`
	TokenHash   []byte     `bun:"token_hash" json:"-"`
	Permissions []string   `bun:"permissions,array" json:"permissions"`
	ExpiresAt   time.Time  `bun:"expires_at" json:"expiresAt"`
	CreatedAt   time.Time  `bun:"created_at" json:"createdAt"`
	LastUsedAt  *time.Time `bun:"last_used_at" json:"lastUsedAt"`
	RevokedAt   *time.Time `bun:"revoked_at" json:"revokedAt"`
}

// InsertAPIToken stores a new token.
func InsertAPIToken(ctx context.Context, idb bun.IDB, t *APIToken) error {
	if _, err := idb.NewInsert().Model(t).Returning("id").Exec(ctx); err != nil {
		return fmt.Errorf("insert api token: %w", err)
	}
	return nil
}

// FindAPITokenByHash finds a token by the hash of its secret, whatever its state.
func FindAPITokenByHash(ctx context.Context, idb bun.IDB, hash []byte) (*APIToken, error) {
	t := new(APIToken)
	if err := idb.NewSelect().Model(t).Where("token_hash = ?", hash).Scan(ctx); err != nil {
		return nil, fmt.Errorf("find api token: %w", notFound(err))
	}
	return t, nil
}

// FindAPIToken loads a token by id.
func FindAPIToken(ctx context.Context, idb bun.IDB, id uuid.UUID) (*APIToken, error) {
	t := new(APIToken)
	if err := idb.NewSelect().Model(t).Where("id = ?", id).Scan(ctx); err != nil {
		return nil, fmt.Errorf("find api token %s: %w", id, notFound(err))
	}
	return t, nil
}

// ListAPITokens lists a user's tokens, newest first.
func ListAPITokens(ctx context.Context, idb bun.IDB, userID uuid.UUID) ([]APIToken, error) {
	tokens := []APIToken{}
	err := idb.NewSelect().Model(&tokens).Where("user_id = ?", userID).OrderExpr("created_at DESC, id").Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("list api tokens: %w", err)
	}
	return tokens, nil
}

// RevokeAPIToken marks a token revoked; revoking twice keeps the first time.
func RevokeAPIToken(ctx context.Context, idb bun.IDB, id uuid.UUID, at time.Time) error {
	_, err := idb.NewUpdate().Model((*APIToken)(nil)).Set("revoked_at = coalesce(revoked_at, ?)", at).
		Where("id = ?", id).Exec(ctx)
	if err != nil {
		return fmt.Errorf("revoke api token: %w", err)
	}
	return nil
}

// TouchAPIToken records a use, at most once a minute per token to spare writes on busy scripts.
func TouchAPIToken(ctx context.Context, idb bun.IDB, id uuid.UUID, at time.Time) error {
	_, err := idb.NewUpdate().Model((*APIToken)(nil)).Set("last_used_at = ?", at).
		Where("id = ? AND (last_used_at IS NULL OR last_used_at < ?)", id, at.Add(-time.Minute)).Exec(ctx)
	if err != nil {
		return fmt.Errorf("touch api token: %w", err)
	}
	return nil
}

// ConsumeOIDCState records a login state as used. It reports false when the state was
// already used, which means the callback is a replay.
func ConsumeOIDCState(ctx context.Context, idb bun.IDB, stateHash []byte, expires time.Time) (bool, error) {
	res, err := idb.NewRaw(`INSERT INTO oidc_consumed_states (state_hash, expires_at) VALUES (?, ?)
		ON CONFLICT (state_hash) DO NOTHING`, stateHash, expires).Exec(ctx)
	if err != nil {
		return false, fmt.Errorf("consume oidc state: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("consume oidc state: %w", err)
	}
	return n == 1, nil
}

// PurgeOIDCStates deletes used states whose handshake can no longer be presented.
func PurgeOIDCStates(ctx context.Context, idb bun.IDB, now time.Time) (int64, error) {
	res, err := idb.NewRaw(`DELETE FROM oidc_consumed_states WHERE expires_at < ?`, now).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("purge oidc states: %w", err)
	}
	return res.RowsAffected()
}
