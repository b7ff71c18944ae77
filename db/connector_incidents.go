package db

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"
)

// FindUnresolvedIncidentOf returns the newest open or monitoring incident about a subject, of
// any kind, for the subject's own page to link to it.
func FindUnresolvedIncidentOf(ctx context.Context, idb bun.IDB, subjectKind, subjectID string) (*Incident, error) {
	inc := new(Incident)
	err := idb.NewSelect().Model(inc).
		Where("subject_kind = ? AND subject_id = ? AND status <> ?", subjectKind, subjectID, IncidentResolved).
		OrderExpr("opened_at DESC, id").Limit(1).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("find unresolved incident of %s %s: %w", subjectKind, subjectID, notFound(err))
	}
	return inc, nil
}

// ListUnresolvedIncidentsOf returns, for each of the subjects that has one, its newest open or
// monitoring incident, keyed by subject id: one query for a whole list page.
func ListUnresolvedIncidentsOf(ctx context.Context, idb bun.IDB, subjectKind string, subjectIDs []string) (map[string]Incident, error) {
	out := map[string]Incident{}
	if len(subjectIDs) == 0 {
		return out, nil
	}
	var incidents []Incident
	err := idb.NewSelect().Model(&incidents).
		DistinctOn("subject_id").
		Where("subject_kind = ? AND subject_id IN (?) AND status <> ?", subjectKind, bun.In(subjectIDs), IncidentResolved).
		OrderExpr("subject_id, opened_at DESC, id").Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("list unresolved incidents of %s: %w", subjectKind, err)
	}
	for _, inc := range incidents {
		out[inc.Subject.ID] = inc
	}
	return out, nil
}
