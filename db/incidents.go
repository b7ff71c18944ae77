package db

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Incident statuses.
const (
	IncidentOpen       = "open"
	IncidentMonitoring = "monitoring"
	IncidentResolved   = "resolved"
)

// Incident groups the failures of one subject until it has been healthy for a while.
type Incident struct {
	bun.BaseModel `bun:"table:incidents"`

	ID              uuid.UUID       `bun:"id,pk,type:uuid,default:gen_random_uuid()" json:"id"`
	Kind            string          `bun:"kind" json:"kind"`
	Severity        string          `bun:"severity" json:"severity"`
	Status          string          `bun:"status" json:"status"`
	Subject         Subject         `bun:"embed:" json:"subject"`
	Title           string          `bun:"title" json:"title"`
	OpenedAt        time.Time       `bun:"opened_at" json:"openedAt"`
	MonitoringSince *time.Time      `bun:"monitoring_since" json:"monitoringSince"`
	ResolvedAt      *time.Time      `bun:"resolved_at" json:"resolvedAt"`
	UpdatedAt       time.Time       `bun:"updated_at" json:"updatedAt"`
	Timeline        []IncidentEntry `bun:"-" json:"timeline,omitempty"`
}

// IncidentEntry is one line of an incident's timeline.
type IncidentEntry struct {
	bun.BaseModel `bun:"table:incident_timeline"`

	ID         int64           `bun:"id,pk,autoincrement" json:"id"`
	IncidentID uuid.UUID       `bun:"incident_id,type:uuid" json:"-"`
	At         time.Time       `bun:"at" json:"at"`
	Entry      string          `bun:"entry" json:"entry"`
	Message    string          `bun:"message" json:"message"`
	Data       json.RawMessage `bun:"data,type:jsonb,notnull" json:"data"`
}

// FindUnresolvedIncidentForUpdate finds and locks the unresolved incident of a (kind, subject).
func FindUnresolvedIncidentForUpdate(ctx context.Context, tx bun.Tx, kind string, s Subject) (*Incident, error) {
	inc := new(Incident)
	err := tx.NewSelect().Model(inc).
		Where("kind = ? AND subject_kind = ? AND subject_id = ? AND status <> ?", kind, s.Kind, s.ID, IncidentResolved).
		For("UPDATE").Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("find unresolved incident: %w", notFound(err))
	}
	return inc, nil
}

// InsertIncident stores a new incident.
func InsertIncident(ctx context.Context, idb bun.IDB, inc *Incident) error {
	if _, err := idb.NewInsert().Model(inc).Returning("id").Exec(ctx); err != nil {
		return fmt.Errorf("insert incident: %w", err)
	}
	return nil
}

// UpdateIncident writes an incident's mutable columns.
func UpdateIncident(ctx context.Context, idb bun.IDB, inc *Incident) error {
	_, err := idb.NewUpdate().Model(inc).
		Column("severity", "status", "subject_name", "title", "monitoring_since", "resolved_at", "updated_at").
		WherePK().Exec(ctx)
	if err != nil {
		return fmt.Errorf("update incident: %w", err)
	}
	return nil
}

// InsertIncidentEntry appends to an incident's timeline.
func InsertIncidentEntry(ctx context.Context, idb bun.IDB, e *IncidentEntry) error {
	if _, err := idb.NewInsert().Model(e).Returning("id").Exec(ctx); err != nil {
		return fmt.Errorf("insert incident entry: %w", err)
	}
	return nil
}

// FindIncident loads an incident with its timeline, oldest entry first.
func FindIncident(ctx context.Context, idb bun.IDB, id uuid.UUID) (*Incident, error) {
	inc := new(Incident)
	if err := idb.NewSelect().Model(inc).Where("id = ?", id).Scan(ctx); err != nil {
		return nil, fmt.Errorf("find incident %s: %w", id, notFound(err))
	}
	inc.Timeline = []IncidentEntry{}
	if err := idb.NewSelect().Model(&inc.Timeline).Where("incident_id = ?", id).OrderExpr("id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("load incident timeline: %w", err)
	}
	return inc, nil
}

// IncidentFilter selects incidents; zero fields do not filter.
type IncidentFilter struct {
	Status   string
	Severity string
	Kind     string
	Page     Page
}

// ListIncidents returns one page of incidents, unresolved first, then newest first.
func ListIncidents(ctx context.Context, idb bun.IDB, f IncidentFilter) ([]Incident, int, error) {
	incidents := []Incident{}
	q := idb.NewSelect().Model(&incidents)
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.Severity != "" {
		q = q.Where("severity = ?", f.Severity)
	}
	if f.Kind != "" {
		q = q.Where("kind = ?", f.Kind)
	}
	total, err := f.Page.apply(q.OrderExpr("status = 'resolved', opened_at DESC, id")).ScanAndCount(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list incidents: %w", err)
	}
	return incidents, int(total), nil
}

// ListIncidentsToResolve lists, locked, the monitoring incidents quiet since before cutoff.
func ListIncidentsToResolve(ctx context.Context, tx bun.Tx, cutoff time.Time) ([]Incident, error) {
	var incidents []Incident
	err := tx.NewSelect().Model(&incidents).
		Where("status = ? AND monitoring_since <= ?", IncidentMonitoring, cutoff).
		OrderExpr("monitoring_since").For("UPDATE SKIP LOCKED").Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("list incidents to resolve: %w", err)
	}
	return incidents, nil
}

// CountUnresolvedIncidents counts open and monitoring incidents, for the header and health.
func CountUnresolvedIncidents(ctx context.Context, idb bun.IDB) (int, error) {
	n, err := idb.NewSelect().Model((*Incident)(nil)).Where("status <> ?", IncidentResolved).Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("count unresolved incidents: %w", err)
	}
	return int(n), nil
}
