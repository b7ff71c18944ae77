package db

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// AuditEntry is one append-only audit record. ID, PrevHash and Hash are assigned by the
// database trigger that maintains the hash chain.
type AuditEntry struct {
	bun.BaseModel `bun:"table:audit_log"`

	ID       int64           `bun:"id,pk" json:"id"`
	At       time.Time       `bun:"at" json:"at"`
	ActorID  *uuid.UUID      `bun:"actor_id,type:uuid" json:"actorId"`
	Actor    string          `bun:"actor" json:"actor"`
	TokenID  *uuid.UUID      `bun:"token_id,type:uuid" json:"tokenId"`
	Entity   string          `bun:"entity" json:"entity"`
	EntityID *string         `bun:"entity_id" json:"entityId"`
	Action   string          `bun:"action" json:"action"`
	Before   json.RawMessage `bun:"before,type:jsonb,nullzero" json:"before"`
	After    json.RawMessage `bun:"after,type:jsonb,nullzero" json:"after"`
	IP       *string         `bun:"ip" json:"ip"`
	PrevHash []byte          `bun:"prev_hash" json:"-"`
	Hash     []byte          `bun:"hash" json:"-"`
}

// MarshalJSON adds the hashes in hex, which is how an auditor compares them.
func (e AuditEntry) MarshalJSON() ([]byte, error) {
	type plain AuditEntry
	return json.Marshal(struct {
		plain
		PrevHash string `json:"prevHash"`
		Hash     string `json:"hash"`
	}{plain(e), hex.EncodeToString(e.PrevHash), hex.EncodeToString(e.Hash)})
}

// InsertAudit appends an entry; it must run in the transaction of the change it records.
func InsertAudit(ctx context.Context, idb bun.IDB, e *AuditEntry) error {
	_, err := idb.NewInsert().Model(e).ExcludeColumn("id", "prev_hash", "hash").
		Returning("id, prev_hash, hash").Exec(ctx)
	if err != nil {
		return fmt.Errorf("insert audit entry: %w", err)
	}
	return nil
}

// AuditFilter selects audit entries; zero fields do not filter.
type AuditFilter struct {
	Entity   string
	EntityID string
	Action   string
	// Actions keeps entries with any of these actions.
	Actions  []string
	ActorID  *uuid.UUID
	Actor    string // substring of the actor label
	From, To *time.Time
	Page     Page
}

// ListAudit returns one page of entries, newest first, and the total.
func ListAudit(ctx context.Context, idb bun.IDB, f AuditFilter) ([]AuditEntry, int, error) {
	entries := []AuditEntry{}
	q := idb.NewSelect().Model(&entries)
	if f.Entity != "" {
		q = q.Where("entity = ?", f.Entity)
	}
	if f.EntityID != "" {
		q = q.Where("entity_id = ?", f.EntityID)
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if len(f.Actions) > 0 {
		q = q.Where("action IN (?)", bun.In(f.Actions))
	}
	if f.ActorID != nil {
		q = q.Where("actor_id = ?", *f.ActorID)
	}
	if f.Actor != "" {
		q = q.Where("actor ILIKE ?", "%"+escapeLike(f.Actor)+"%")
	}
	if f.From != nil {
		q = q.Where("at >= ?", *f.From)
	}
	if f.To != nil {
		q = q.Where("at < ?", *f.To)
	}
	total, err := f.Page.apply(q.OrderExpr("id DESC")).ScanAndCount(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list audit entries: %w", err)
	}
	return entries, int(total), nil
}

// AuditBreak describes the first entry where the chain does not hold.
type AuditBreak struct {
	ID     int64
	Reason string
}

// VerifyAudit recomputes the chain in the database and returns the total number of entries
// and the first break, if any: an entry whose stored hash differs from its content, whose
// prev_hash is not its predecessor's hash, or a gap in the ids (a deleted entry).
func VerifyAudit(ctx context.Context, idb bun.IDB) (int, *AuditBreak, error) {
	var total int
	if err := idb.NewRaw(`SELECT count(*) FROM audit_log`).Scan(ctx, &total); err != nil {
		return 0, nil, fmt.Errorf("count audit entries: %w", err)
	}
	var rows []struct {
		ID     int64  `bun:"id"`
		Reason string `bun:"reason"`
	}
	err := idb.NewRaw(`
		SELECT id, CASE
			WHEN id <> expected_id THEN 'entry ' || expected_id || ' is missing before this one'
			WHEN prev_hash <> expected_prev THEN 'prev_hash does not match the hash of the entry before'
			ELSE 'stored hash does not match the entry''s content'
		END AS reason
		FROM (
			SELECT a.id, a.prev_hash, a.hash, audit_entry_hash(a) AS computed,
				row_number() OVER (ORDER BY a.id) AS expected_id,
				coalesce(lag(a.hash) OVER (ORDER BY a.id), decode(repeat('00', 32), 'hex')) AS expected_prev
			FROM audit_log a
		) c
		WHERE id <> expected_id OR prev_hash <> expected_prev OR hash <> computed
		ORDER BY id LIMIT 1`).Scan(ctx, &rows)
	if err != nil {
		return 0, nil, fmt.Errorf("verify audit chain: %w", err)
	}
	if len(rows) == 0 {
		return total, nil, nil
	}
	return total, &AuditBreak{ID: rows[0].ID, Reason: rows[0].Reason}, nil
}
