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
