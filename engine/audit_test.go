package engine_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"floh/db"
	"floh/engine"
)

func auditEntries(t *testing.T, f *fixture, filter db.AuditFilter) []db.AuditEntry {
	t.Helper()
	if filter.Page.Page == 0 {
		filter.Page = db.Page{Page: 1, PageSize: 500}
	}
	entries, _, err := db.ListAudit(f.ctx, f.db.Bun, filter)
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

func TestAuditChainVerifiesAndDetectsTampering(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, email := range []string{"a@example.test", "b@example.test", "c@example.test"} {
		if _, _, err := f.eng.CreateUser(f.ctx, f.actor(), engine.CreateUserInput{Email: email}); err != nil {
			t.Fatal(err)
		}
	}
	total, brk, err := db.VerifyAudit(f.ctx, f.db.Bun)
	if err != nil || brk != nil || total != 3 {
		t.Fatalf("intact chain: total=%d break=%v err=%v", total, brk, err)
	}
	entries := auditEntries(t, f, db.AuditFilter{})
	for i := 0; i < len(entries)-1; i++ {
		// Newest first: each entry's prev_hash is the next (older) entry's hash.
		if string(entries[i].PrevHash) != string(entries[i+1].Hash) {
			t.Fatalf("entry %d is not chained to entry %d", entries[i].ID, entries[i+1].ID)
		}
	}

	// The database refuses changes outright.
	if _, err := f.db.Bun.ExecContext(f.ctx, `UPDATE audit_log SET actor = 'mallory' WHERE id = 2`); err == nil ||
		!strings.Contains(err.Error(), "append-only") {
		t.Fatalf("update of audit_log: want append-only refusal, got %v", err)
	}
	if _, err := f.db.Bun.ExecContext(f.ctx, `DELETE FROM audit_log WHERE id = 2`); err == nil {
		t.Fatal("delete from audit_log was allowed")
	}
	if _, err := f.db.Bun.ExecContext(f.ctx, `TRUNCATE audit_log`); err == nil {
		t.Fatal("truncate of audit_log was allowed")
	}

	// With the trigger disabled (as an attacker with table ownership could), a change is
	// still found by verification.
	tx, err := f.db.Bun.BeginTx(f.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(f.ctx, `ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(f.ctx, `UPDATE audit_log SET after = jsonb_set(after, '{email}', '"mallory@example.test"') WHERE id = 2`); err != nil {
		t.Fatal(err)
	}
	_, brk, err = db.VerifyAudit(f.ctx, tx)
	if err != nil || brk == nil || brk.ID != 2 || !strings.Contains(brk.Reason, "content") {
		t.Fatalf("tampered content: want break at 2, got %+v err=%v", brk, err)
	}
	if _, err := tx.ExecContext(f.ctx, `DELETE FROM audit_log WHERE id = 2`); err != nil {
		t.Fatal(err)
	}
	_, brk, err = db.VerifyAudit(f.ctx, tx)
	if err != nil || brk == nil || brk.ID != 3 || !strings.Contains(brk.Reason, "missing") {
		t.Fatalf("deleted entry: want break at 3, got %+v err=%v", brk, err)
	}
}

func TestAuditChainHoldsUnderConcurrentWriters(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := f.eng.CreateUser(f.ctx, f.actor(), engine.CreateUserInput{Email: "user" + string(rune('a'+i)) + "@example.test"})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	total, brk, err := db.VerifyAudit(f.ctx, f.db.Bun)
	if err != nil || brk != nil || total != 20 {
		t.Fatalf("total=%d break=%+v err=%v", total, brk, err)
	}
}

func TestAuditRecordsActorAndStates(t *testing.T) {
	t.Parallel()
	f := setup(t)
	u, _, err := f.eng.CreateUser(f.ctx, f.actor(), engine.CreateUserInput{Email: "pat@example.test", DisplayName: "Pat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.UpdateUser(f.ctx, f.actor(), u.ID, engine.UserPatch{DisplayName: engine.Some("Patricia")}); err != nil {
		t.Fatal(err)
	}
	entries := auditEntries(t, f, db.AuditFilter{Entity: "user", EntityID: u.ID.String(), Action: "user.updated"})
	if len(entries) != 1 {
		t.Fatalf("want 1 update entry, got %d", len(entries))
	}
	e := entries[0]
	if e.ActorID == nil || *e.ActorID != f.admin.ID || e.Actor != f.admin.Email || e.IP == nil || *e.IP != "192.0.2.1" {
		t.Fatalf("actor not recorded: %+v", e)
	}
	var before, after db.User
	if err := json.Unmarshal(e.Before, &before); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(e.After, &after); err != nil {
		t.Fatal(err)
	}
	if before.DisplayName != "Pat" || after.DisplayName != "Patricia" {
		t.Fatalf("before/after: %q → %q", before.DisplayName, after.DisplayName)
	}
}
