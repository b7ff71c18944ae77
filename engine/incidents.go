package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"floh/db"
)

// IncidentQuietPeriod is how long a monitoring incident must stay free of failures before it
// is resolved.
const IncidentQuietPeriod = time.Hour

// Event sub-types and actions (PRODUCT §7).
var (
	EventSubTypes = []string{"connector_sync", "connector_health", "workflow_run", "compensation", "auth"}
	EventActions  = []string{"started", "succeeded", "failed", "recovered", "held", "allowed"}
)

// RecordEvent stores an operational event. Data must already be free of secrets.
func (e *Engine) RecordEvent(ctx context.Context, ev db.Event) (*db.Event, error) {
	if ev.At.IsZero() {
		ev.At = e.now()
	}
	if ev.Severity == "" {
		ev.Severity = "info"
	}
	if len(ev.Data) == 0 {
		ev.Data = json.RawMessage(`{}`)
	}
	if err := db.InsertEvent(ctx, e.db.Bun, &ev); err != nil {
		return nil, err
	}
	return &ev, nil
}

// Failure is a failure of some subject that should be tracked as an incident.
type Failure struct {
	Kind     string // e.g. connector_health, connector_sync, compensation
	Severity string // warning or critical
	Subject  db.Subject
	Title    string // the incident's title when this failure opens one
	Message  string
	Data     any    // details for the timeline, already sanitised
	Link     string // where admins should look, relative to the app (e.g. /connectors/{id})
}

// ReportFailure opens an incident for the failure's (kind, subject), or adds the failure to the
// unresolved one; a monitoring incident goes back to open. Admins are notified when an
// incident opens or reopens, not for every repeated failure.
func (e *Engine) ReportFailure(ctx context.Context, f Failure) (*db.Incident, error) {
	if f.Severity != "warning" && f.Severity != "critical" {
		return nil, fmt.Errorf("report failure: severity %q is not warning or critical", f.Severity)
	}
	data, err := json.Marshal(f.Data)
	if err != nil {
		return nil, fmt.Errorf("report failure: %w", err)
	}
	if f.Data == nil {
		data = json.RawMessage(`{}`)
	}
	var inc *db.Incident
	err = e.inTx(ctx, func(tx bun.Tx) error {
		now := e.now()
		var err error
		inc, err = db.FindUnresolvedIncidentForUpdate(ctx, tx, f.Kind, f.Subject)
		entry := "failure"
		switch {
		case errors.Is(err, db.ErrNotFound):
			inc = &db.Incident{
				Kind: f.Kind, Severity: f.Severity, Status: db.IncidentOpen, Subject: f.Subject,
				Title: f.Title, OpenedAt: now, UpdatedAt: now,
			}
			if err := db.InsertIncident(ctx, tx, inc); err != nil {
				return err
			}
			entry = "opened"
		case err != nil:
			return err
		default:
			if inc.Status == db.IncidentMonitoring {
				inc.Status, inc.MonitoringSince, entry = db.IncidentOpen, nil, "reopened"
			}
			if f.Severity == "critical" {
				inc.Severity = "critical"
			}
			inc.Subject.Name, inc.UpdatedAt = f.Subject.Name, now
			if err := db.UpdateIncident(ctx, tx, inc); err != nil {
				return err
			}
		}
		if err := db.InsertIncidentEntry(ctx, tx, &db.IncidentEntry{
			IncidentID: inc.ID, At: now, Entry: entry, Message: f.Message, Data: data,
		}); err != nil {
			return err
		}
		if entry == "failure" {
			return nil
		}
		verb := "Incident opened"
		if entry == "reopened" {
			verb = "Incident reopened"
		}
		return e.notifyAdmins(ctx, tx, Notice{
			Kind:  "incident",
			Title: fmt.Sprintf("%s: %s", verb, inc.Title),
			Body:  f.Message,
			Link:  "/incidents/" + inc.ID.String(),
		})
	})
	if err != nil {
		return nil, err
	}
	return inc, nil
}

// ReportRecovery moves the open incident of (kind, subject), if any, to monitoring: it resolves
// after IncidentQuietPeriod without another failure. It reports whether an incident moved.
func (e *Engine) ReportRecovery(ctx context.Context, kind string, s db.Subject, message string) (bool, error) {
	moved := false
	err := e.inTx(ctx, func(tx bun.Tx) error {
		var err error
		moved, err = e.reportRecoveryTx(ctx, tx, kind, s, message)
		return err
	})
	return moved, err
}

// reportRecoveryTx is ReportRecovery inside the transaction of the success it reports.
func (e *Engine) reportRecoveryTx(ctx context.Context, tx bun.Tx, kind string, s db.Subject, message string) (bool, error) {
	inc, err := db.FindUnresolvedIncidentForUpdate(ctx, tx, kind, s)
	if errors.Is(err, db.ErrNotFound) {
		return false, nil
	} else if err != nil || inc.Status != db.IncidentOpen {
		return false, err
	}
	now := e.now()
	inc.Status, inc.MonitoringSince, inc.UpdatedAt = db.IncidentMonitoring, &now, now
	if err := db.UpdateIncident(ctx, tx, inc); err != nil {
		return false, err
	}
	return true, db.InsertIncidentEntry(ctx, tx, &db.IncidentEntry{
		IncidentID: inc.ID, At: now, Entry: "monitoring", Message: message, Data: json.RawMessage(`{}`),
	})
}

// AgeIncidents resolves the monitoring incidents that have been quiet for IncidentQuietPeriod
// and returns how many it resolved. Safe to run on every replica at once.
func (e *Engine) AgeIncidents(ctx context.Context) (int, error) {
	n := 0
	err := e.inTx(ctx, func(tx bun.Tx) error {
		now := e.now()
		incidents, err := db.ListIncidentsToResolve(ctx, tx, now.Add(-IncidentQuietPeriod))
		if err != nil {
			return err
		}
		for i := range incidents {
			inc := &incidents[i]
			inc.Status, inc.ResolvedAt, inc.UpdatedAt = db.IncidentResolved, &now, now
			if err := db.UpdateIncident(ctx, tx, inc); err != nil {
				return err
			}
			msg := fmt.Sprintf("Resolved after %s without a new failure.", IncidentQuietPeriod)
			if err := db.InsertIncidentEntry(ctx, tx, &db.IncidentEntry{
				IncidentID: inc.ID, At: now, Entry: "resolved", Message: msg, Data: json.RawMessage(`{}`),
			}); err != nil {
				return err
			}
		}
		n = len(incidents)
		return nil
	})
	return n, err
}
