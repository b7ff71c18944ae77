package engine

import (
	"context"
	"errors"
	"slices"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"floh/db"
)

// Match review (PRODUCT §3): admins' decisions about how a synced user record matches a Floh
// user. Link and Create user set manual, Skip sets skipped; the matcher never touches either
// again. Unlink sets unmatched, which the next run rematches.

// MatchFilters are the review's filters, by the guide's labels, and the outcomes each keeps.
var MatchFilters = []struct {
	Value, Label string
	Statuses     []string
}{
	{"", "All", nil},
	{"matched", "Matched", []string{"matched_exact", "matched_probable"}},
	{"unmatched", "Unmatched", []string{"unmatched"}},
	{"ambiguous", "Ambiguous", []string{"ambiguous"}},
	{"skipped", "Skipped", []string{"skipped"}},
	{"manual", "Manual override", []string{"manual"}},
	{"matched_exact", "Matched (exact)", []string{"matched_exact"}},
	{"matched_probable", "Matched (probable)", []string{"matched_probable"}},
}

// MatchStatusesOf returns the outcomes a review filter keeps.
func MatchStatusesOf(filter string) ([]string, error) {
	for _, f := range MatchFilters {
		if f.Value == filter {
			return f.Statuses, nil
		}
	}
	return nil, Invalid("status", "must be one of matched, matched_exact, matched_probable, unmatched, ambiguous, skipped or manual, not %q", filter)
}

// MatchItem is one line of the review (PRODUCT §3's match list item).
type MatchItem struct {
	ResourceID  uuid.UUID           `json:"resourceId"`
	ExternalID  string              `json:"externalId"`
	Email       string              `json:"email"`
	DisplayName string              `json:"displayName"`
	Status      string              `json:"status"`
	UserID      *uuid.UUID          `json:"userId"`
	User        *db.MatchCandidate  `json:"user,omitempty"`
	Candidates  []db.MatchCandidate `json:"candidates"`
	MatchedBy   string              `json:"matchedBy,omitempty"`
	DecidedBy   string              `json:"decidedBy,omitempty"`
	Stale       bool                `json:"stale"`
}

// SyncMatches lists a page of a connector's user records with their matches.
func (e *Engine) SyncMatches(ctx context.Context, connectorID uuid.UUID, filter, q string, p db.Page) ([]MatchItem, int, error) {
	statuses, err := MatchStatusesOf(filter)
	if err != nil {
		return nil, 0, err
	}
	if _, err := e.syncTarget(ctx, e.db.Bun, connectorID, "user"); err != nil {
		return nil, 0, err
	}
	rows, total, err := db.ListSyncResources(ctx, e.db.Bun, db.SyncResourceFilter{
		ConnectorID: connectorID, ResourceType: "user", Q: q, Statuses: statuses, Page: p,
	})
	if err != nil {
		return nil, 0, err
	}
	items, err := e.matchItems(ctx, rows)
	if err != nil {
		return nil, 0, err
	}
	return items, total, nil
}

// MatchItemOf is the review's line of one user record, as the match actions leave it.
func (e *Engine) MatchItemOf(ctx context.Context, r *db.SyncResource) (MatchItem, error) {
	items, err := e.matchItems(ctx, []db.SyncResource{*r})
	if err != nil {
		return MatchItem{}, err
	}
	return items[0], nil
}

// matchItems turns user records into review lines, with their users and candidates loaded
// in one query.
func (e *Engine) matchItems(ctx context.Context, rows []db.SyncResource) ([]MatchItem, error) {
	var ids []uuid.UUID
	for _, r := range rows {
		ids = append(ids, r.Candidates...)
		if r.UserID != nil {
			ids = append(ids, *r.UserID)
		}
	}
	users, err := db.FindMatchCandidates(ctx, e.db.Bun, ids)
	if err != nil {
		return nil, err
	}
	items := make([]MatchItem, len(rows))
	for i, r := range rows {
		it := MatchItem{ResourceID: r.ID, ExternalID: r.ExternalID, Email: r.Email, DisplayName: r.DisplayName,
			UserID: r.UserID, Candidates: []db.MatchCandidate{}, Stale: r.StaleSince != nil}
		if r.MatchStatus != nil {
			it.Status = *r.MatchStatus
		}
		if r.MatchedBy != nil {
			it.MatchedBy = *r.MatchedBy
		}
		if r.DecidedBy != nil {
			it.DecidedBy = *r.DecidedBy
		}
		if r.UserID != nil {
			if u, ok := users[*r.UserID]; ok {
				it.User = &u
			}
		}
		for _, id := range r.Candidates {
			if u, ok := users[id]; ok {
				it.Candidates = append(it.Candidates, u)
			}
		}
		items[i] = it
	}
	return items, nil
}

// SyncResources lists a page of a (connector, resource type)'s cached records.
func (e *Engine) SyncResources(ctx context.Context, connectorID uuid.UUID, rt, q string, stale *bool, p db.Page) ([]db.SyncResource, int, error) {
	if _, err := e.syncTarget(ctx, e.db.Bun, connectorID, rt); err != nil {
		return nil, 0, err
	}
	return db.ListSyncResources(ctx, e.db.Bun, db.SyncResourceFilter{ConnectorID: connectorID, ResourceType: rt, Q: q, Stale: stale, Page: p})
}

// auditMatch writes the audit entry of a decision, given the record's match before and after.
type auditMatch func(tx bun.Tx, before, after any) error

// decideMatch loads a connector's user record for an admin's decision and writes it with its
// audit entry.
func (e *Engine) decideMatch(ctx context.Context, a Actor, connectorID, resourceID uuid.UUID, audit auditMatch, decide func(tx bun.Tx, r *db.SyncResource) error) (*db.SyncResource, error) {
	var r *db.SyncResource
	err := e.inTx(ctx, func(tx bun.Tx) error {
		if _, err := e.syncTarget(ctx, tx, connectorID, "user"); err != nil {
			return err
		}
		var err error
		if r, err = db.FindSyncResourceForUpdate(ctx, tx, connectorID, "user", resourceID); err != nil {
			return err
		}
		before := matchState(r)
		if err := decide(tx, r); err != nil {
			return err
		}
		now := e.now()
		r.DecidedBy, r.DecidedAt = &a.Label, &now
		if err := db.UpdateSyncResourceMatch(ctx, tx, r); err != nil {
			return err
		}
		return audit(tx, before, matchState(r))
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func matchState(r *db.SyncResource) map[string]any {
	return map[string]any{"resourceId": r.ID, "externalId": r.ExternalID, "status": r.MatchStatus, "userId": r.UserID}
}

func strPtr(s string) *string { return &s }

// LinkMatch links a user record to a live user of the admin's choosing (manual).
func (e *Engine) LinkMatch(ctx context.Context, a Actor, connectorID, resourceID, userID uuid.UUID) (*db.SyncResource, error) {
	return e.decideMatch(ctx, a, connectorID, resourceID, func(tx bun.Tx, before, after any) error {
		return e.audit(ctx, tx, a, "connector", connectorID.String(), "connector.match_linked", before, after)
	}, func(tx bun.Tx, r *db.SyncResource) error {
		u, err := db.FindUser(ctx, tx, userID)
		if errors.Is(err, db.ErrNotFound) {
			return Invalid("userId", "no user has the id %s", userID)
		} else if err != nil {
			return err
		}
		if u.Deleted() || !u.Active {
			return Invalid("userId", "%s is deleted or inactive; link the record to an active user", u.Email)
		}
		r.MatchStatus, r.UserID, r.MatchedBy = strPtr("manual"), &u.ID, strPtr("admin")
		return db.LinkExternalIdentity(ctx, tx, r, u.ID, e.now())
	})
}

// SkipMatch marks a user record as intentionally not matched (skipped).
func (e *Engine) SkipMatch(ctx context.Context, a Actor, connectorID, resourceID uuid.UUID) (*db.SyncResource, error) {
	return e.decideMatch(ctx, a, connectorID, resourceID, func(tx bun.Tx, before, after any) error {
		return e.audit(ctx, tx, a, "connector", connectorID.String(), "connector.match_skipped", before, after)
	}, func(tx bun.Tx, r *db.SyncResource) error {
		r.MatchStatus, r.UserID, r.MatchedBy = strPtr("skipped"), nil, strPtr("admin")
		return db.UnlinkExternalIdentity(ctx, tx, r, nil)
	})
}

// UnlinkMatch removes a record's link; it is unmatched until the next run rematches it.
func (e *Engine) UnlinkMatch(ctx context.Context, a Actor, connectorID, resourceID uuid.UUID) (*db.SyncResource, error) {
	return e.decideMatch(ctx, a, connectorID, resourceID, func(tx bun.Tx, before, after any) error {
		return e.audit(ctx, tx, a, "connector", connectorID.String(), "connector.match_unlinked", before, after)
	}, func(tx bun.Tx, r *db.SyncResource) error {
		r.MatchStatus, r.UserID, r.Candidates, r.MatchedBy = strPtr("unmatched"), nil, []uuid.UUID{}, nil
		return db.UnlinkExternalIdentity(ctx, tx, r, nil)
	})
}

// CreateUserForMatch creates an unconfirmed user from a record's email and display name and
// links the record to it (manual).
func (e *Engine) CreateUserForMatch(ctx context.Context, a Actor, connectorID, resourceID uuid.UUID) (*db.SyncResource, error) {
	return e.decideMatch(ctx, a, connectorID, resourceID, func(tx bun.Tx, before, after any) error {
		return e.audit(ctx, tx, a, "connector", connectorID.String(), "connector.match_user_created", before, after)
	}, func(tx bun.Tx, r *db.SyncResource) error {
		if r.Email == "" {
			return Conflict("record %s has no email; a user needs one. Link it to an existing user instead", r.ExternalID)
		}
		cfg, err := e.storedSyncConfig(ctx, tx, connectorID, "user")
		if err != nil {
			return err
		}
		rules, err := matchRules(cfg)
		if err != nil {
			return err
		}
		issuer, err := db.ResourcePathValue(ctx, tx, r.ID, rules[0].IssuerField, rules[0].IssuerKeys)
		if err != nil {
			return err
		}
		now := e.now()
		u := &db.User{ID: uuid.New(), Iss: db.UnconfirmedIssuer, Sub: uuid.NewString(), Email: r.Email, DisplayName: r.DisplayName,
			UpstreamID: &r.ExternalID, Active: true, CreatedAt: now, UpdatedAt: now}
		if issuer != "" {
			u.UpstreamIssuer = &issuer
		}
		if err := db.InsertUser(ctx, tx, u); err != nil {
			return err
		}
		if err := e.audit(ctx, tx, a, "user", u.ID.String(), "user.created", nil, u); err != nil {
			return err
		}
		r.MatchStatus, r.UserID, r.Candidates, r.MatchedBy = strPtr("manual"), &u.ID, []uuid.UUID{u.ID}, strPtr("admin")
		return db.LinkExternalIdentity(ctx, tx, r, u.ID, now)
	})
}

// maxBulkSkip bounds one bulk skip, which is one transaction.
const maxBulkSkip = 1000

// BulkSkipMatches skips several user records at once, all or none.
func (e *Engine) BulkSkipMatches(ctx context.Context, a Actor, connectorID uuid.UUID, ids []uuid.UUID) (int, error) {
	if len(ids) == 0 {
		return 0, Invalid("resourceIds", "choose at least one record to skip")
	}
	if len(ids) > maxBulkSkip {
		return 0, Invalid("resourceIds", "at most %d records can be skipped at once, not %d", maxBulkSkip, len(ids))
	}
	slices.SortFunc(ids, func(x, y uuid.UUID) int { return slices.Compare(x[:], y[:]) })
	ids = slices.Compact(ids)
	err := e.inTx(ctx, func(tx bun.Tx) error {
		if _, err := e.syncTarget(ctx, tx, connectorID, "user"); err != nil {
			return err
		}
		rows, err := db.ListSyncResourcesByID(ctx, tx, connectorID, "user", ids)
		if err != nil {
			return err
		}
		if len(rows) != len(ids) {
			return Invalid("resourceIds", "%d of the %d records are not user records of this connector", len(ids)-len(rows), len(ids))
		}
		now := e.now()
		for i := range rows {
			r := &rows[i]
			r.MatchStatus, r.UserID, r.MatchedBy, r.DecidedBy, r.DecidedAt = strPtr("skipped"), nil, strPtr("admin"), &a.Label, &now
			if err := db.UpdateSyncResourceMatch(ctx, tx, r); err != nil {
				return err
			}
			if err := db.UnlinkExternalIdentity(ctx, tx, r, nil); err != nil {
				return err
			}
		}
		return e.audit(ctx, tx, a, "connector", connectorID.String(), "connector.match_bulk_skipped", nil, map[string]any{"resourceIds": ids})
	})
	if err != nil {
		return 0, err
	}
	return len(ids), nil
}
