package db

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Subject names what an event or incident is about.
type Subject struct {
	Kind string `bun:"subject_kind" json:"kind"`
	ID   string `bun:"subject_id" json:"id"`
	Name string `bun:"subject_name" json:"name"`
}

// Event is an operational happening (a sync failed, a connector recovered), kept for the
// Events page and for correlating incidents.
type Event struct {
	bun.BaseModel `bun:"table:events"`

	ID       uuid.UUID       `bun:"id,pk,type:uuid,default:gen_random_uuid()" json:"id"`
	At       time.Time       `bun:"at" json:"at"`
	SubType  string          `bun:"sub_type" json:"subType"`
	Action   string          `bun:"action" json:"action"`
	Severity string          `bun:"severity" json:"severity"`
	Subject  Subject         `bun:"embed:" json:"subject"`
	Message  string          `bun:"message" json:"message"`
	Data     json.RawMessage `bun:"data,type:jsonb,notnull" json:"data"`
}

// InsertEvent stores an event.
func InsertEvent(ctx context.Context, idb bun.IDB, e *Event) error {
	if _, err := idb.NewInsert().Model(e).Returning("id").Exec(ctx); err != nil {
		return fmt.Errorf("insert event: %w", err)
	}
	return nil
}

// EventFilter selects events; zero fields do not filter.
type EventFilter struct {
	SubType, Action, Severity string
	SubjectKind, SubjectID    string
	From, To                  *time.Time
	Page                      Page
}

// ListEvents returns one page of events, newest first, and the total.
func ListEvents(ctx context.Context, idb bun.IDB, f EventFilter) ([]Event, int, error) {
	events := []Event{}
	q := idb.NewSelect().Model(&events)
	if f.SubType != "" {
		q = q.Where("sub_type = ?", f.SubType)
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if f.Severity != "" {
		q = q.Where("severity = ?", f.Severity)
	}
	if f.SubjectKind != "" {
		q = q.Where("subject_kind = ?", f.SubjectKind)
	}
	if f.SubjectID != "" {
		q = q.Where("subject_id = ?", f.SubjectID)
	}
	if f.From != nil {
		q = q.Where("at >= ?", *f.From)
	}
	if f.To != nil {
		q = q.Where("at < ?", *f.To)
	}
	total, err := f.Page.apply(q.OrderExpr("at DESC, id")).ScanAndCount(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list events: %w", err)
	}
	return events, int(total), nil
}
