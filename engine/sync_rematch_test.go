package engine_test

import (
	"testing"

	"floh/db"
	"floh/db/dbtest"
	"floh/engine"
	"floh/engine/sync"
)

// Every run matches the undecided records again, and what changed is written and reported:
// a match whose user is gone falls back to unmatched (and loses its identity), an ambiguous
// record whose other candidate is gone becomes a match, and what did not change writes
// nothing.
func TestSyncRematchesWhatChanged(t *testing.T) {
	f, _ := setupPaged(t, 4)
	leaving := dbtest.User(t, f.db, "p00@example.test")
	twin := dbtest.User(t, f.db, "p01@example.test")
	staying := dbtest.User(t, f.db, "P01@example.test")
	f.configure(t, sync.Config{})
	f.run(t, engine.SyncStart{})
	m := f.matches(t, "")
	if m["P00"].Status != "matched_exact" || m["P01"].Status != "ambiguous" || m["P02"].Status != "unmatched" {
		t.Fatalf("first run: %+v", m)
	}
	if ids, err := db.ListExternalIdentities(f.ctx, f.db.Bun, leaving.ID); err != nil || len(ids) != 1 {
		t.Fatalf("the match writes its identity: %+v %v", ids, err)
	}

	for _, u := range []*db.User{leaving, twin} {
		u.Active = false
		if err := db.UpdateUser(f.ctx, f.db.Bun, u); err != nil {
			t.Fatal(err)
		}
	}
	run, st := f.run(t, engine.SyncStart{})
	m = f.matches(t, "")
	if p := m["P00"]; p.Status != "unmatched" || p.UserID != nil || len(p.Candidates) != 0 || p.MatchedBy != "" {
		t.Fatalf("a match whose user left: %+v", p)
	}
	if p := m["P01"]; p.Status != "matched_exact" || p.UserID == nil || *p.UserID != staying.ID {
		t.Fatalf("an ambiguous record left with one candidate: %+v", p)
	}
	if st.MatchedExact != 1 || st.Unmatched != 3 || st.Ambiguous != 0 {
		t.Fatalf("stats: %+v", st)
	}
	lines := f.changes(t, run.ID, "")
	if len(lines) != 2 {
		t.Fatalf("report: %+v, want one unmatched and one matched line", lines)
	}
	for _, l := range lines {
		switch {
		case l.Kind == "unmatched" && l.DisplayName == "P00" && l.UserID == nil:
		case l.Kind == "matched" && l.DisplayName == "P01" && l.UserID != nil && *l.UserID == staying.ID:
		default:
			t.Errorf("report line %+v", l)
		}
	}
	if ids, err := db.ListExternalIdentities(f.ctx, f.db.Bun, leaving.ID); err != nil || len(ids) != 0 {
		t.Fatalf("an unmatched record keeps no identity: %+v %v", ids, err)
	}

	run, _ = f.run(t, engine.SyncStart{})
	if lines := f.changes(t, run.ID, ""); len(lines) != 0 {
		t.Fatalf("a run with nothing changed reported %+v", lines)
	}
}
