package handlers

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"floh/db"
	"floh/engine"
	"floh/views"
)

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	pr := principalFrom(r)
	first, _, _ := strings.Cut(pr.User.DisplayName, " ")
	page := views.DashboardPage{
		Page:     s.page(r, "Dashboard", "dashboard"),
		Greeting: "Hello, " + first,
		NoRoles:  len(pr.User.Roles) == 0,
	}
	if pr.Can(engine.PermEventRead) {
		page.ShowIncidents, page.ShowEvents = true, true
		open, total, err := db.ListIncidents(ctx, s.db.Bun, db.IncidentFilter{Status: db.IncidentOpen, Page: db.Page{Page: 1, PageSize: 5}})
		if err != nil {
			return err
		}
		for i := range open {
			page.OpenIncidents = append(page.OpenIncidents, s.incidentRow(&open[i]))
		}
		page.Cards = append(page.Cards, views.StatCard{Label: "Open incidents", Value: strconv.Itoa(total), Href: "/incidents?status=open"})
		since := s.engine.Clock().Now().Add(-24 * time.Hour)
		_, failed, err := db.ListEvents(ctx, s.db.Bun, db.EventFilter{Action: "failed", From: &since, Page: db.Page{Page: 1, PageSize: 1}})
		if err != nil {
			return err
		}
		page.Cards = append(page.Cards, views.StatCard{Label: "Failures in the last 24 hours", Value: strconv.Itoa(failed), Href: "/events?action=failed"})
		events, _, err := db.ListEvents(ctx, s.db.Bun, db.EventFilter{Page: db.Page{Page: 1, PageSize: 8}})
		if err != nil {
			return err
		}
		page.RecentEvents = s.eventRows(events)
	}
	if pr.Can(engine.PermUserRead) {
		_, total, err := db.ListUsers(ctx, s.db.Bun, db.UserFilter{Page: db.Page{Page: 1, PageSize: 1}})
		if err != nil {
			return err
		}
		page.Cards = append(page.Cards, views.StatCard{Label: "Users", Value: strconv.Itoa(total), Href: "/users"})
	}
	unread, _, err := s.engine.ListNotifications(ctx, pr.User.ID, true, db.Page{Page: 1, PageSize: 5})
	if err != nil {
		return err
	}
	page.Notifications = s.notificationRows(unread)
	s.render(w, r, http.StatusOK, views.DashboardView(page))
	return nil
}

func (s *Server) showSettings(w http.ResponseWriter, r *http.Request) error {
	page := views.SettingsPage{Page: s.page(r, "Settings", "settings")}
	for _, st := range s.cfg.Settings {
		page.Settings = append(page.Settings, views.SettingRow{Name: st.Name, Value: st.Value, Help: st.Help})
	}
	for _, role := range engine.SystemRoles {
		page.Roles = append(page.Roles, role.Name)
	}
	for _, perm := range engine.AllPermissions {
		row := views.PermissionRow{Permission: string(perm)}
		for _, role := range engine.SystemRoles {
			row.Granted = append(row.Granted, slices.Contains(role.Permissions, perm))
		}
		page.Permissions = append(page.Permissions, row)
	}
	s.render(w, r, http.StatusOK, views.SettingsView(page))
	return nil
}

// rotateKeys re-seals every connector's secrets with the current key and says what happened.
func (s *Server) rotateKeys(w http.ResponseWriter, r *http.Request) error {
	res, err := s.engine.RotateConnectorKeys(r.Context(), principalFrom(r).Actor())
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("Re-encrypted the secrets of %d of %d connectors with the current key; %d already used it.", res.Rotated, res.Total, res.Skipped)
	kind := "success"
	if len(res.Failed) > 0 {
		names := make([]string, len(res.Failed))
		for i, f := range res.Failed {
			names[i] = f.Name
		}
		kind = "error"
		msg += fmt.Sprintf(" Neither key opens the secrets of %s: enter them again on each connector's Configuration tab.", strings.Join(names, ", "))
	}
	s.flash(r, kind, msg)
	return redirect(w, r, "/settings")
}

type healthCheck struct {
	Status    string `json:"status"`
	LatencyMs int64  `json:"latencyMs,omitempty"`
	Message   string `json:"message,omitempty"`
}

// health answers 503 only when the database cannot be reached: a load balancer should stop
// sending traffic then, and only then. Open incidents make it "degraded" but still 200.
func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	checks := map[string]healthCheck{}
	start := time.Now()
	if err := s.db.Ping(ctx); err != nil {
		checks["database"] = healthCheck{Status: "down", Message: "the database does not answer"}
		s.log.Error("health: database unreachable", "error", err)
		return writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "down", "checks": checks})
	}
	checks["database"] = healthCheck{Status: "ok", LatencyMs: time.Since(start).Milliseconds()}
	status := "ok"
	open, err := db.CountUnresolvedIncidents(ctx, s.db.Bun)
	switch {
	case err != nil:
		checks["incidents"] = healthCheck{Status: "unknown", Message: "could not count incidents"}
		status = "degraded"
	case open > 0:
		checks["incidents"] = healthCheck{Status: "degraded", Message: strconv.Itoa(open) + " unresolved incident(s)"}
		status = "degraded"
	default:
		checks["incidents"] = healthCheck{Status: "ok"}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"status": status, "checks": checks})
}
