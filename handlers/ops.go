package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"floh/db"
	"floh/engine"
	"floh/views"
)

func auditFilter(r *http.Request) (db.AuditFilter, views.AuditFilter, error) {
	q := r.URL.Query()
	typed := views.AuditFilter{
		Entity: strings.TrimSpace(q.Get("entity")), EntityID: strings.TrimSpace(q.Get("entityId")),
		Action: strings.TrimSpace(q.Get("action")), Actor: strings.TrimSpace(q.Get("actor")),
		From: q.Get("from"), To: q.Get("to"),
	}
	f := db.AuditFilter{Entity: typed.Entity, EntityID: typed.EntityID, Action: typed.Action, Actor: typed.Actor}
	v := &engine.ValidationError{}
	var err error
	if f.Page, err = listPage(r); err != nil {
		return f, typed, err
	}
	f.From = timeParam(r, "from", v)
	f.To = timeParam(r, "to", v)
	return f, typed, v.Err()
}

func (s *Server) listAuditAPI(w http.ResponseWriter, r *http.Request) error {
	f, _, err := auditFilter(r)
	if err != nil {
		return err
	}
	entries, total, err := db.ListAudit(r.Context(), s.db.Bun, f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList(entries, total, f.Page))
}

type verifyResponse struct {
	Valid    bool   `json:"valid"`
	Checked  int    `json:"checked"`
	BrokenID *int64 `json:"brokenId,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

func (s *Server) verifyAuditResult(r *http.Request) (views.AuditVerifyResult, error) {
	total, brk, err := db.VerifyAudit(r.Context(), s.db.Bun)
	if err != nil {
		return views.AuditVerifyResult{}, err
	}
	res := views.AuditVerifyResult{Checked: total, Valid: brk == nil}
	if brk != nil {
		res.BrokenID, res.Reason = brk.ID, brk.Reason
	}
	return res, nil
}

func (s *Server) verifyAuditAPI(w http.ResponseWriter, r *http.Request) error {
	res, err := s.verifyAuditResult(r)
	if err != nil {
		return err
	}
	out := verifyResponse{Valid: res.Valid, Checked: res.Checked, Reason: res.Reason}
	if !res.Valid {
		out.BrokenID = &res.BrokenID
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) verifyAudit(w http.ResponseWriter, r *http.Request) error {
	res, err := s.verifyAuditResult(r)
	if err != nil {
		return err
	}
	if isPartial(r) {
		s.render(w, r, http.StatusOK, views.AuditVerifyView(res))
		return nil
	}
	return s.renderAudit(w, r, &res)
}

func (s *Server) auditRows(entries []db.AuditEntry) []views.AuditRow {
	var rows []views.AuditRow
	for _, e := range entries {
		row := views.AuditRow{
			ID: e.ID, At: s.whenT(e.At), Actor: e.Actor, ViaToken: e.TokenID != nil, Entity: e.Entity,
			EntityID: deref(e.EntityID), Action: e.Action, IP: deref(e.IP),
			Before: prettyJSON(e.Before), After: prettyJSON(e.After),
		}
		if e.ActorID != nil {
			row.ActorID = e.ActorID.String()
		}
		rows = append(rows, row)
	}
	return rows
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	return s.renderAudit(w, r, nil)
}

func (s *Server) renderAudit(w http.ResponseWriter, r *http.Request, verify *views.AuditVerifyResult) error {
	f, typed, ferr := auditFilter(r)
	status := http.StatusOK
	page := views.AuditPage{
		Page: s.page(r, "Audit log", "audit"), Filter: typed, Verify: verify,
		Entities: entityOptions(engine.AuditEntities), Actions: plainOptions(engine.AuditActions),
	}
	if ferr != nil {
		fields, err := formErrors(ferr)
		if err != nil {
			return err
		}
		page.Form.Errors = fields
		status = http.StatusUnprocessableEntity
		f = db.AuditFilter{Entity: f.Entity, EntityID: f.EntityID, Action: f.Action, Actor: f.Actor, Page: db.Page{Page: 1, PageSize: defaultPageSize}}
	}
	entries, total, err := db.ListAudit(r.Context(), s.db.Bun, f)
	if err != nil {
		return err
	}
	page.Rows = s.auditRows(entries)
	page.Pager = views.Pager{Page: f.Page.Page, PageSize: f.Page.PageSize, Total: total, Href: func(n int) string {
		return withQuery("/audit", url.Values{
			"entity": {typed.Entity}, "entityId": {typed.EntityID}, "action": {typed.Action}, "actor": {typed.Actor},
			"from": {typed.From}, "to": {typed.To}, "page": {strconv.Itoa(n)},
		})
	}}
	s.render(w, r, status, views.AuditView(page, isPartial(r)))
	return nil
}

func eventFilter(r *http.Request) (db.EventFilter, error) {
	q := r.URL.Query()
	f := db.EventFilter{SubType: q.Get("subType"), Action: q.Get("action"), Severity: q.Get("severity")}
	v := &engine.ValidationError{}
	var err error
	if f.Page, err = listPage(r); err != nil {
		return f, err
	}
	if f.SubType != "" && !slices.Contains(engine.EventSubTypes, f.SubType) {
		v.Add("subType", "must be one of %s", strings.Join(engine.EventSubTypes, ", "))
	}
	if f.Action != "" && !slices.Contains(engine.EventActions, f.Action) {
		v.Add("action", "must be one of %s", strings.Join(engine.EventActions, ", "))
	}
	f.From = timeParam(r, "from", v)
	f.To = timeParam(r, "to", v)
	return f, v.Err()
}

func (s *Server) listEventsAPI(w http.ResponseWriter, r *http.Request) error {
	f, err := eventFilter(r)
	if err != nil {
		return err
	}
	events, total, err := db.ListEvents(r.Context(), s.db.Bun, f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList(events, total, f.Page))
}

// titleWords turns an identifier into the label admins read: connector_sync → Connector Sync.
func titleWords(id string) string {
	words := strings.Split(id, "_")
	for i, w := range words {
		if w != "" {
			words[i] = strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return strings.Join(words, " ")
}

func options(values []string) []views.Option {
	out := make([]views.Option, len(values))
	for i, v := range values {
		out[i] = views.Option{Value: v, Label: titleWords(v)}
	}
	return out
}

// entityOptions names audit entities as the pages call them.
func entityOptions(values []string) []views.Option {
	labels := map[string]string{"api_token": "API token"}
	out := options(values)
	for i := range out {
		if l, ok := labels[out[i].Value]; ok {
			out[i].Label = l
		}
	}
	return out
}

// plainOptions offers identifiers as they are (audit actions read best as written).
func plainOptions(values []string) []views.Option {
	out := make([]views.Option, len(values))
	for i, v := range values {
		out[i] = views.Option{Value: v, Label: v}
	}
	return out
}

var actionTones = map[string]string{
	"started": "info", "succeeded": "ok", "failed": "bad", "recovered": "ok", "held": "warn", "allowed": "info",
}

var severityTones = map[string]string{"info": "muted", "warning": "warn", "critical": "bad"}

func (s *Server) eventRows(events []db.Event) []views.EventRow {
	var rows []views.EventRow
	for _, e := range events {
		subject := e.Subject.Name
		if subject == "" {
			subject = e.Subject.Kind + " " + e.Subject.ID
		}
		rows = append(rows, views.EventRow{
			At: s.whenT(e.At), SubType: titleWords(e.SubType),
			Action:   views.Badge{Label: titleWords(e.Action), Tone: actionTones[e.Action]},
			Severity: views.Badge{Label: e.Severity, Tone: severityTones[e.Severity]},
			Subject:  subject, SubjectHref: subjectHref(e.Subject), Message: e.Message, Data: prettyJSON(e.Data),
		})
	}
	return rows
}

// datetimeLocal shows a query time in the form a datetime-local input accepts.
func datetimeLocal(t *time.Time, typed string) string {
	if t == nil {
		return typed
	}
	return t.UTC().Format("2006-01-02T15:04")
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) error {
	f, ferr := eventFilter(r)
	status := http.StatusOK
	q := r.URL.Query()
	page := views.EventsPage{
		Page: s.page(r, "Events", "events"), SubType: f.SubType, Action: f.Action,
		From: datetimeLocal(f.From, q.Get("from")), To: datetimeLocal(f.To, q.Get("to")),
		SubTypes: options(engine.EventSubTypes), Actions: options(engine.EventActions),
	}
	if ferr != nil {
		fields, err := formErrors(ferr)
		if err != nil {
			return err
		}
		page.Form.Errors, status = fields, http.StatusUnprocessableEntity
		f = db.EventFilter{Page: db.Page{Page: 1, PageSize: defaultPageSize}}
	}
	events, total, err := db.ListEvents(r.Context(), s.db.Bun, f)
	if err != nil {
		return err
	}
	page.Rows = s.eventRows(events)
	page.Pager = views.Pager{Page: f.Page.Page, PageSize: f.Page.PageSize, Total: total, Href: func(n int) string {
		return withQuery("/events", url.Values{"subType": {page.SubType}, "action": {page.Action},
			"from": {q.Get("from")}, "to": {q.Get("to")}, "page": {strconv.Itoa(n)}})
	}}
	s.render(w, r, status, views.EventsView(page, isPartial(r)))
	return nil
}

// subjectHref is the page of an event's or incident's subject, or "" when it has none. Only a
// subject id that can name a connector is linked: a stale or foreign id would lead to a 404.
func subjectHref(s db.Subject) string {
	if s.Kind == "connector" {
		if _, err := uuid.Parse(s.ID); err == nil {
			return "/connectors/" + s.ID
		}
	}
	return ""
}

var incidentStatuses = []string{db.IncidentOpen, db.IncidentMonitoring, db.IncidentResolved}

var incidentTones = map[string]string{db.IncidentOpen: "bad", db.IncidentMonitoring: "warn", db.IncidentResolved: "ok"}

func incidentFilter(r *http.Request) (db.IncidentFilter, error) {
	f := db.IncidentFilter{Status: r.URL.Query().Get("status")}
	var err error
	if f.Page, err = listPage(r); err != nil {
		return f, err
	}
	if f.Status != "" && !slices.Contains(incidentStatuses, f.Status) {
		return f, engine.Invalid("status", "must be open, monitoring or resolved")
	}
	return f, nil
}

func (s *Server) listIncidentsAPI(w http.ResponseWriter, r *http.Request) error {
	f, err := incidentFilter(r)
	if err != nil {
		return err
	}
	incidents, total, err := db.ListIncidents(r.Context(), s.db.Bun, f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList(incidents, total, f.Page))
}

func (s *Server) showIncidentAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	inc, err := db.FindIncident(r.Context(), s.db.Bun, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, inc)
}

func (s *Server) incidentRow(inc *db.Incident) views.IncidentRow {
	subject := inc.Subject.Name
	if subject == "" {
		subject = inc.Subject.Kind + " " + inc.Subject.ID
	}
	return views.IncidentRow{
		ID: inc.ID.String(), Title: inc.Title, Kind: titleWords(inc.Kind), Subject: subject, SubjectHref: subjectHref(inc.Subject),
		Status:   views.Badge{Label: inc.Status, Tone: incidentTones[inc.Status]},
		Severity: views.Badge{Label: inc.Severity, Tone: severityTones[inc.Severity]},
		Opened:   s.whenT(inc.OpenedAt), Resolved: s.when(inc.ResolvedAt),
	}
}

func (s *Server) listIncidents(w http.ResponseWriter, r *http.Request) error {
	f, err := incidentFilter(r)
	if err != nil {
		f = db.IncidentFilter{Page: db.Page{Page: 1, PageSize: defaultPageSize}}
	}
	incidents, total, err := db.ListIncidents(r.Context(), s.db.Bun, f)
	if err != nil {
		return err
	}
	page := views.IncidentsPage{Page: s.page(r, "Incidents", "incidents"), Status: f.Status, Statuses: options(incidentStatuses)}
	for i := range incidents {
		page.Rows = append(page.Rows, s.incidentRow(&incidents[i]))
	}
	page.Pager = views.Pager{Page: f.Page.Page, PageSize: f.Page.PageSize, Total: total, Href: func(n int) string {
		return withQuery("/incidents", url.Values{"status": {f.Status}, "page": {strconv.Itoa(n)}})
	}}
	s.render(w, r, http.StatusOK, views.IncidentsView(page, isPartial(r)))
	return nil
}

var timelineTones = map[string]string{
	"opened": "bad", "failure": "bad", "reopened": "bad", "monitoring": "warn", "resolved": "ok",
}

func (s *Server) showIncident(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	inc, err := db.FindIncident(r.Context(), s.db.Bun, id)
	if err != nil {
		return err
	}
	page := views.IncidentPage{
		Page: s.page(r, inc.Title, "incidents"), Incident: s.incidentRow(inc), Monitoring: s.when(inc.MonitoringSince),
	}
	for _, e := range inc.Timeline {
		page.Timeline = append(page.Timeline, views.TimelineEntry{
			At: s.whenT(e.At), Entry: views.Badge{Label: e.Entry, Tone: timelineTones[e.Entry]},
			Message: e.Message, Data: prettyJSON(e.Data),
		})
	}
	if page.Connector, err = s.incidentConnector(r, inc); err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, views.IncidentView(page))
	return nil
}

// Recent configuration changes of an incident's connector: the newest ones of the last week.
const (
	incidentChangeDays  = 7
	incidentChangeLimit = 10
)

// incidentConnector is what an incident about a connector links to: the connector's recent
// configuration changes from the audit log (a change is the first suspect when a connector
// that worked starts failing), its Test and Configuration tabs, and for a sync incident its
// Sync tab. nil when the subject is no connector Floh knows.
func (s *Server) incidentConnector(r *http.Request, inc *db.Incident) (*views.IncidentConnector, error) {
	if inc.Subject.Kind != "connector" {
		return nil, nil
	}
	id, err := uuid.Parse(inc.Subject.ID)
	if err != nil {
		return nil, nil
	}
	ctx := r.Context()
	c, err := db.FindConnector(ctx, s.db.Bun, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	since := s.engine.Clock().Now().Add(-incidentChangeDays * 24 * time.Hour)
	entries, _, err := db.ListAudit(ctx, s.db.Bun, db.AuditFilter{
		Entity: "connector", EntityID: c.ID.String(), Actions: engine.ConnectorConfigActions, From: &since,
		Page: db.Page{Page: 1, PageSize: incidentChangeLimit},
	})
	if err != nil {
		return nil, err
	}
	audit := principalFrom(r).Can(engine.PermAuditRead)
	out := &views.IncidentConnector{
		Name: c.Name, Days: incidentChangeDays, TestHref: tabURL(c.ID.String(), "test"), ConfigHref: tabURL(c.ID.String(), "configuration"),
	}
	if audit {
		out.AuditHref = withQuery("/audit", url.Values{"entity": {"connector"}, "entityId": {c.ID.String()}})
	}
	for _, e := range entries {
		ch := views.IncidentChange{At: s.whenT(e.At), Actor: e.Actor, Action: e.Action}
		if audit {
			// The audit page's filters narrowed to this entry's second.
			from := e.At.UTC().Truncate(time.Second)
			ch.Href = withQuery("/audit", url.Values{"entity": {"connector"}, "entityId": {c.ID.String()}, "action": {e.Action},
				"from": {from.Format(time.RFC3339)}, "to": {from.Add(time.Second).Format(time.RFC3339)}})
		}
		out.Changes = append(out.Changes, ch)
	}
	if inc.Kind == "connector_sync" {
		for _, rt := range s.engine.SyncResourceTypes(c) {
			out.Sync = append(out.Sync, views.Link{Label: "Sync tab: " + syncLabels[rt], Href: syncTabURL(c.ID.String(), rt)})
		}
	}
	return out, nil
}
