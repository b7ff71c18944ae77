package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"floh/connectors"
	"floh/db"
	"floh/engine"
	esync "floh/engine/sync"
	"floh/views"
)

// The Sync tab (seed 004, the sync user guide): /connectors/{id}/sync/{rt}, one sub-tab per
// resource type the connector's type lists page by page. Its sections, in the guide's order,
// are the status card with Sync now, the configuration, the synced resources, the match
// review (users) and the run history; each is an htmx swap target that the page's own GET
// answers alone when htmx names it (HX-Target). Every change is a post that answers htmx with
// the section it changed and redirects a plain browser back with a flash message.

const (
	// The tab shows two lists above the history, so each page of them is short.
	syncResourcesSize = 20
	syncReviewSize    = 25
	syncChangesSize   = 50
	syncHistorySize   = 20
	syncPickerSize    = 10
	// maxMappingRows bounds the rows a posted form may carry; the engine has no such limit,
	// but a form with more is not one a person filled in.
	maxMappingRows = 100
)

var (
	syncNouns  = map[string]string{connectors.ResourceUser: "users", connectors.ResourceGroup: "groups"}
	syncLabels = map[string]string{connectors.ResourceUser: "Users", connectors.ResourceGroup: "Groups"}
)

func syncTabURL(connectorID, rt string) string {
	return "/connectors/" + connectorID + "/sync/" + rt
}

// firstSyncType is the sub-tab the Sync tab opens on: the first type the connector syncs.
func (s *Server) firstSyncType(c *db.Connector) string {
	if rts := s.engine.SyncResourceTypes(c); len(rts) > 0 {
		return rts[0]
	}
	return connectors.ResourceUser
}

// syncPath reads the connector and resource type of a Sync tab address; a resource type
// other than user or group is a 404. The match routes name the user type in their path.
func (s *Server) syncPath(r *http.Request) (*db.Connector, string, error) {
	rt := r.PathValue("rt")
	if rt == "" {
		rt = connectors.ResourceUser
	}
	if _, ok := syncNouns[rt]; !ok {
		return nil, "", fmt.Errorf("sync resource type %q: %w", rt, errNotFoundPage)
	}
	c, err := s.connectorForPath(r)
	if err != nil {
		return nil, "", err
	}
	return c, rt, nil
}

// syncQuery is the state of the tab's lists, kept in its address: the synced resources' search
// (q, stale, page), the review's (status, mq, mpage) and the history's page (hpage).
type syncQuery struct {
	Q, Stale   string
	Page       int
	Status, MQ string
	MPage      int
	HPage      int
}

// readSyncQuery reads the lists' state. A hand-edited address still shows the tab: values
// that mean nothing fall back to their defaults.
func readSyncQuery(v url.Values) syncQuery {
	q := syncQuery{
		Q: strings.TrimSpace(v.Get("q")), Stale: v.Get("stale"), Status: v.Get("status"), MQ: strings.TrimSpace(v.Get("mq")),
		Page: pageNumber(v.Get("page")), MPage: pageNumber(v.Get("mpage")), HPage: pageNumber(v.Get("hpage")),
	}
	if q.Stale != "true" && q.Stale != "false" {
		q.Stale = ""
	}
	if _, err := engine.MatchStatusesOf(q.Status); err != nil {
		q.Status = ""
	}
	return q
}

// pageNumber reads a page of one of the tab's lists; anything a list would not answer (see
// listPage) shows the first page.
func pageNumber(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxPage {
		return 1
	}
	return n
}

func (q syncQuery) values() url.Values {
	v := url.Values{"q": {q.Q}, "stale": {q.Stale}, "status": {q.Status}, "mq": {q.MQ}}
	for name, n := range map[string]int{"page": q.Page, "mpage": q.MPage, "hpage": q.HPage} {
		if n > 1 {
			v.Set(name, strconv.Itoa(n))
		}
	}
	return v
}

func (q syncQuery) url(base string) string { return withQuery(base, q.values()) }

// keep carries the named values as hidden inputs, so one list's search keeps the others'.
func (q syncQuery) keep(names ...string) []views.HiddenInput {
	v := q.values()
	var out []views.HiddenInput
	for _, n := range names {
		if val := v.Get(n); val != "" {
			out = append(out, views.HiddenInput{Name: n, Value: val})
		}
	}
	return out
}

// syncReturn is where an action on the tab comes back to: the tab's own address with the
// lists' state the form carried, never anywhere else.
func syncReturn(raw, base string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Path != base {
		return base
	}
	return readSyncQuery(u.Query()).url(base)
}

// syncPage builds the Sync tab of one connector and resource type for one request.
type syncPage struct {
	s      *Server
	r      *http.Request
	c      *db.Connector
	rt     string
	base   string
	q      syncQuery
	manage bool
}

func (s *Server) newSyncPage(r *http.Request, c *db.Connector, rt string, q syncQuery) *syncPage {
	return &syncPage{s: s, r: r, c: c, rt: rt, base: syncTabURL(c.ID.String(), rt), q: q,
		manage: principalFrom(r).Can(engine.PermConnectorManage)}
}

func (v *syncPage) matchesBase() string {
	return syncTabURL(v.c.ID.String(), connectors.ResourceUser) + "/matches"
}

func (v *syncPage) runHref(id uuid.UUID) string { return v.base + "/runs/" + id.String() }

// tab is the tab's frame: its sub-tabs, the warning of a failed test, or why there is no tab.
func (v *syncPage) tab() *views.SyncTab {
	id := v.c.ID.String()
	t := &views.SyncTab{Noun: syncNouns[v.rt]}
	rts := v.s.engine.SyncResourceTypes(v.c)
	back := views.Link{Label: "Back to the connector’s overview", Href: tabURL(id, "overview")}
	switch {
	case len(rts) == 0:
		t.Missing = &views.SyncMissing{Back: back,
			Message: "No sync resource types are declared for this connector type: " + v.s.typeLabel(v.c.Type) + " has no command that lists users or groups page by page, so there is nothing to sync."}
		return t
	case !slices.Contains(rts, v.rt):
		t.Missing = &views.SyncMissing{Back: back,
			Message: v.s.typeLabel(v.c.Type) + " does not list " + syncNouns[v.rt] + " page by page, so this connector has no sync of " + syncNouns[v.rt] + "."}
		for _, rt := range rts {
			t.Missing.Others = append(t.Missing.Others, views.Link{Label: syncLabels[rt], Href: syncTabURL(id, rt)})
		}
		return t
	case v.c.Deleted():
		t.Missing = &views.SyncMissing{Back: back,
			Message: "This connector is deleted, so it does not sync. Restore it to see and change its sync."}
		return t
	}
	for _, rt := range rts {
		t.SubTabs = append(t.SubTabs, views.Tab{ID: rt, Label: syncLabels[rt], Href: syncTabURL(id, rt), Current: rt == v.rt})
	}
	if v.c.LastTestOK != nil && !*v.c.LastTestOK {
		t.TestFailed = &views.SyncTestWarning{At: v.s.when(v.c.LastTestAt), Href: tabURL(id, "test")}
	}
	return t
}

// full is the connector's page with the whole Sync tab.
func (v *syncPage) full(ctx context.Context) (views.ConnectorPage, error) {
	p, err := v.s.connectorPage(ctx, v.r, v.c, "sync")
	if err != nil {
		return p, err
	}
	p.Page.Title = v.c.Name + " · Sync · " + syncLabels[v.rt]
	p.Page.URL = v.q.url(v.base)
	tab := v.tab()
	p.Sync = tab
	if tab.Missing != nil {
		return p, nil
	}
	if tab.Status, err = v.status(ctx, ""); err != nil {
		return p, err
	}
	if tab.Config, err = v.config(ctx, nil); err != nil {
		return p, err
	}
	if tab.Resources, err = v.resources(ctx); err != nil {
		return p, err
	}
	if v.rt == connectors.ResourceUser {
		rv, err := v.review(ctx)
		if err != nil {
			return p, err
		}
		tab.Review = &rv
	}
	tab.History, err = v.history(ctx)
	return p, err
}

// render answers with the whole page: 404 when the tab does not exist.
func (v *syncPage) render(w http.ResponseWriter, status int, p views.ConnectorPage) {
	if p.Sync != nil && p.Sync.Missing != nil {
		status = http.StatusNotFound
	}
	v.s.renderConnector(w, v.r, status, p)
}

func (s *Server) showSync(w http.ResponseWriter, r *http.Request) error {
	c, rt, err := s.syncPath(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	v := s.newSyncPage(r, c, rt, readSyncQuery(r.URL.Query()))
	if isPartial(r) && v.tab().Missing == nil {
		switch r.Header.Get("HX-Target") {
		case views.SyncStatusID:
			st, err := v.status(ctx, "")
			if err != nil {
				return err
			}
			s.render(w, r, http.StatusOK, views.SyncStatusSection(st))
			return nil
		case views.SyncResourcesID:
			res, err := v.resources(ctx)
			if err != nil {
				return err
			}
			s.render(w, r, http.StatusOK, views.SyncResourcesSection(res))
			return nil
		case views.SyncReviewID:
			if rt == connectors.ResourceUser {
				rv, err := v.review(ctx)
				if err != nil {
					return err
				}
				s.render(w, r, http.StatusOK, views.SyncReviewSection(rv))
				return nil
			}
		case views.SyncHistoryID:
			h, err := v.history(ctx)
			if err != nil {
				return err
			}
			s.render(w, r, http.StatusOK, views.SyncHistorySection(h))
			return nil
		}
	}
	p, err := v.full(ctx)
	if err != nil {
		return err
	}
	v.render(w, http.StatusOK, p)
	return nil
}

// syncStatus is the status card's own address, polled every second while a run moves. It is
// passive: an open tab watching a long run does not keep an idle session alive.
func (s *Server) syncStatus(w http.ResponseWriter, r *http.Request) error {
	c, rt, err := s.syncPath(r)
	if err != nil {
		return err
	}
	v := s.newSyncPage(r, c, rt, syncQuery{})
	if !isPartial(r) {
		http.Redirect(w, r, v.base+"#"+views.SyncStatusID, http.StatusSeeOther)
		return nil
	}
	if v.tab().Missing != nil {
		return errNotFoundPage
	}
	st, err := v.status(r.Context(), r.URL.Query().Get("watch"))
	if err != nil {
		return err
	}
	if st.Finished {
		// The run the page watched has stopped: the lists that show its results fetch
		// themselves again.
		w.Header().Set("HX-Trigger", views.SyncChanged)
	}
	s.render(w, r, http.StatusOK, views.SyncStatusSection(st))
	return nil
}

// status is the status card and Sync now. watch is the run the page was watching, if any.
func (v *syncPage) status(ctx context.Context, watch string) (views.SyncStatus, error) {
	cfg, err := v.s.engine.SyncConfig(ctx, v.c.ID, v.rt)
	if err != nil {
		return views.SyncStatus{}, err
	}
	runs, _, err := v.s.engine.SyncRuns(ctx, v.c.ID, v.rt, db.Page{Page: 1, PageSize: 1})
	if err != nil {
		return views.SyncStatus{}, err
	}
	st := views.SyncStatus{
		CanManage: v.manage, StartAction: v.base + "/run", Schedule: scheduleWords(cfg), Self: v.base + "/status",
		Strategies: []views.Option{
			{Value: "", Label: "As configured (" + titleWords(cfg.Strategy) + ")"},
			{Value: esync.StrategyFull, Label: "Full"}, {Value: esync.StrategyIncremental, Label: "Incremental"},
		},
	}
	if len(runs) > 0 {
		run := &runs[0]
		rv := v.runView(run, false)
		st.Run = &rv
		if rv.Moving {
			st.Poll = v.base + "/status?watch=" + run.ID.String()
		}
		switch {
		case run.Status == db.SyncAwaitingApproval:
			st.StartDisabled = "A held run awaits approval: allow or cancel it before starting another."
		case !run.Finished():
			st.StartDisabled = "A sync is running. Wait for it to finish, or cancel it."
		}
		st.Finished = watch != "" && (watch != run.ID.String() || !rv.Moving)
	}
	if !v.c.Enabled && st.StartDisabled == "" {
		st.StartDisabled = "The connector is disabled: enable it on its Configuration tab to sync it."
	}
	if !v.manage {
		st.StartDisabled = "Syncing needs the connector:manage permission."
	}
	return st, nil
}

// scheduleWords says when scheduled syncs run.
func scheduleWords(cfg *esync.Config) string {
	strategy := "Configured strategy: " + titleWords(cfg.Strategy) + "."
	switch {
	case cfg.Cron == "":
		return "Manual only: no schedule is set. " + strategy
	case cfg.Enabled:
		return "Scheduled: runs on " + cfg.Cron + " (UTC). " + strategy
	}
	return "The schedule " + cfg.Cron + " (UTC) is off until Enabled is ticked. " + strategy
}

var syncStatusTones = map[string]string{
	db.SyncPending: "info", db.SyncRunning: "info", db.SyncAwaitingApproval: "warn",
	db.SyncCompleted: "ok", db.SyncFailed: "bad", db.SyncCancelled: "muted",
}

var (
	syncTriggerWords = map[string]string{"manual": "Sync now", "schedule": "schedule", "record": "one record"}
	syncTriggerHow   = map[string]string{"manual": "with Sync now", "schedule": "by the schedule", "record": "for one record"}
)

// syncPhaseWords says what a moving run is doing, for the progress bar.
func syncPhaseWords(phase, connector string) string {
	switch phase {
	case "queued":
		return "Waiting to start"
	case "fetching":
		return "Reading records from " + connector
	case "applying":
		return "Comparing with the stored records and writing the changes"
	case "matching":
		return "Matching records to Floh users"
	case "lifecycle":
		return "Creating users"
	case "mapping":
		return "Copying mapped attributes into profiles"
	case "workflows":
		return "Starting post-sync workflows"
	case "held":
		return "Held for approval"
	}
	return "Finishing"
}

// syncDuration is how long a run took, in the largest units that say it.
func syncDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	case d < time.Hour:
		return fmt.Sprintf("%d min %d s", int(d/time.Minute), int(d%time.Minute/time.Second))
	}
	return fmt.Sprintf("%d h %d min", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// runView is a run for the status card, or with page for its own page.
func (v *syncPage) runView(run *db.SyncRun, page bool) views.SyncRunView {
	var stats esync.Stats
	_ = json.Unmarshal(run.Stats, &stats)
	rv := views.SyncRunView{
		ID: run.ID.String(), Href: v.runHref(run.ID), Trigger: syncTriggerWords[run.Trigger], How: syncTriggerHow[run.Trigger],
		Strategy: run.Strategy,
		Status:   views.Badge{Label: run.Status, Tone: syncStatusTones[run.Status]}, DryRun: run.DryRun,
		Moving: run.Status == db.SyncPending || run.Status == db.SyncRunning, Held: run.Status == db.SyncAwaitingApproval,
		Phase: syncPhaseWords(run.Phase, v.c.Name), StartedBy: run.StartedByLabel, Created: v.s.whenT(run.CreatedAt),
		Started: v.s.when(run.StartedAt), Finished: v.s.when(run.FinishedAt), Fetched: run.Fetched, Truncated: run.Truncated,
		Error: deref(run.Error), WorkflowError: stats.WorkflowError, CancelRequested: run.CancelRequested,
		AllowedBy: deref(run.AllowedBy), Allowed: v.s.when(run.AllowedAt),
	}
	if run.Expected != nil && *run.Expected > 0 {
		rv.Expected = *run.Expected
		rv.Percent = min(100, run.Fetched*100 / *run.Expected)
	}
	if run.StartedAt != nil {
		end := v.s.engine.Clock().Now()
		switch {
		case run.FinishedAt != nil:
			end = *run.FinishedAt
		case rv.Held:
			end = run.UpdatedAt // when it stopped to wait
		}
		rv.Duration = syncDuration(end.Sub(*run.StartedAt))
	}
	if run.Status == db.SyncCompleted || rv.Held {
		rv.Stats = []views.Stat{{Label: "Fetched", Value: stats.Fetched}, {Label: "Added", Value: stats.Added},
			{Label: "Updated", Value: stats.Updated}, {Label: "Unchanged", Value: stats.Unchanged},
			{Label: "Stale", Value: stats.Stale}, {Label: "Purged", Value: stats.Purged}}
		if v.rt == connectors.ResourceUser {
			rv.Matches = []views.Stat{{Label: "Matched (exact)", Value: stats.MatchedExact},
				{Label: "Matched (probable)", Value: stats.MatchedProbable}, {Label: "Ambiguous", Value: stats.Ambiguous},
				{Label: "Unmatched", Value: stats.Unmatched}, {Label: "Skipped", Value: stats.Skipped},
				{Label: "Manual override", Value: stats.Manual}}
			rv.Lifecycle = []views.Stat{{Label: "Created", Value: stats.Created}, {Label: "Deactivated", Value: stats.Deactivated},
				{Label: "Skipped (no email)", Value: stats.SkippedNoEmail}, {Label: "Profiles mapped", Value: stats.Mapped},
				{Label: "Workflow runs", Value: stats.WorkflowRuns}}
		}
	}
	var hold esync.Hold
	if len(run.Hold) > 0 && json.Unmarshal(run.Hold, &hold) == nil && hold.Message != "" {
		if rv.Held {
			rv.Hold = &views.SyncHoldView{Message: hold.Message}
			if v.manage {
				rv.Hold.AllowHref = v.runHref(run.ID) + "/allow"
			}
		} else if run.DryRun {
			rv.GuardNote = hold.Message
		}
	}
	if !run.Finished() && !run.CancelRequested && v.manage {
		rv.CancelAction = v.runHref(run.ID) + "/cancel"
		if page {
			rv.Return = v.runHref(run.ID)
		}
	}
	return rv
}

// startSyncPage is Sync now.
func (s *Server) startSyncPage(w http.ResponseWriter, r *http.Request) error {
	c, rt, err := s.syncPath(r)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return &badRequest{"the form could not be read"}
	}
	v := s.newSyncPage(r, c, rt, syncQuery{})
	in := engine.SyncStart{DryRun: r.PostFormValue("dryRun") == "true", Strategy: r.PostFormValue("strategy")}
	run, err := s.engine.StartSync(r.Context(), principalFrom(r).Actor(), c.ID, rt, in)
	if err != nil {
		return v.statusProblem(w, err)
	}
	notice := "Started a " + run.Strategy + " sync of " + syncNouns[rt] + "."
	if run.DryRun {
		notice = "Started a dry run of " + syncNouns[rt] + ": it reports what a " + run.Strategy + " sync would change, and keeps nothing."
	}
	return v.statusDone(w, notice)
}

// statusDone answers an action of the status card: htmx gets the card, a plain browser the
// page with the message.
func (v *syncPage) statusDone(w http.ResponseWriter, notice string) error {
	if !isPartial(v.r) {
		v.s.flash(v.r, "success", notice)
		return redirect(w, v.r, v.base)
	}
	st, err := v.status(v.r.Context(), "")
	if err != nil {
		return err
	}
	st.Notice = notice
	w.Header().Set("HX-Trigger", views.SyncChanged)
	v.s.render(w, v.r, http.StatusOK, views.SyncStatusSection(st))
	return nil
}

// statusProblem answers a refused action of the status card (a run already going, a bad
// strategy) with the reason, beside the card under htmx.
func (v *syncPage) statusProblem(w http.ResponseWriter, err error) error {
	status, msg, ok := actionProblem(err)
	if !ok {
		return err
	}
	if !isPartial(v.r) {
		v.s.flash(v.r, "error", msg)
		return redirect(w, v.r, v.base)
	}
	st, serr := v.status(v.r.Context(), "")
	if serr != nil {
		return serr
	}
	st.Error = msg
	v.s.render(w, v.r, status, views.SyncStatusSection(st))
	return nil
}

// actionProblem is what an admin reads when an action is refused for a reason they can act
// on: bad input (422), or a state that changed under them (409). A record or user gone
// meanwhile is such a state too. Anything else is not theirs to fix.
func actionProblem(err error) (int, string, bool) {
	var (
		verr *engine.ValidationError
		cerr *engine.ConflictError
		nerr *engine.NoSyncError
	)
	switch {
	case errors.As(err, &verr):
		msgs := make([]string, len(verr.Fields))
		for i, f := range verr.Fields {
			msgs[i] = sentence(f.Message)
		}
		return http.StatusUnprocessableEntity, strings.Join(msgs, " "), true
	case errors.As(err, &cerr):
		return http.StatusConflict, sentence(cerr.Message), true
	case errors.As(err, &nerr):
		return http.StatusConflict, sentence(nerr.Error()), true
	case errors.Is(err, db.ErrNotFound):
		return http.StatusConflict, "That record or user no longer exists; the list below is up to date.", true
	}
	return 0, "", false
}

// syncRunForPath loads the run of a run address, which must be of the tab's connector and
// resource type.
func (s *Server) syncRunForPath(r *http.Request, c *db.Connector, rt string) (*db.SyncRun, error) {
	id, err := pathID(r, "runId")
	if err != nil {
		return nil, err
	}
	run, err := s.engine.SyncRun(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if run.ConnectorID != c.ID || run.ResourceType != rt {
		return nil, fmt.Errorf("sync run %s of another tab: %w", id, db.ErrNotFound)
	}
	return run, nil
}

// cancelSyncPage cancels a run: a queued or held one at once, a running one at its next page.
func (s *Server) cancelSyncPage(w http.ResponseWriter, r *http.Request) error {
	c, rt, err := s.syncPath(r)
	if err != nil {
		return err
	}
	run, err := s.syncRunForPath(r, c, rt)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return &badRequest{"the form could not be read"}
	}
	v := s.newSyncPage(r, c, rt, syncQuery{})
	cancelled, err := s.engine.CancelSync(r.Context(), principalFrom(r).Actor(), run.ID)
	if err != nil {
		if back := r.PostFormValue("return"); back == v.runHref(run.ID) && !isPartial(r) {
			return s.backOnConflict(w, r, err, back)
		}
		return v.statusProblem(w, err)
	}
	notice := "Cancelled the run: nothing of it was applied."
	if cancelled.Status == db.SyncRunning {
		notice = "Asked the run to stop: it stops after the page it is reading, and nothing of it is applied."
	}
	if back := r.PostFormValue("return"); back == v.runHref(run.ID) && !isPartial(r) {
		s.flash(r, "success", notice)
		return redirect(w, r, back)
	}
	return v.statusDone(w, notice)
}

// confirmAllowSync asks before releasing a held run, saying exactly what it will do.
func (s *Server) confirmAllowSync(w http.ResponseWriter, r *http.Request) error {
	c, rt, err := s.syncPath(r)
	if err != nil {
		return err
	}
	run, err := s.syncRunForPath(r, c, rt)
	if err != nil {
		return err
	}
	v := s.newSyncPage(r, c, rt, syncQuery{})
	if run.Status != db.SyncAwaitingApproval {
		s.flash(r, "error", "This run is "+run.Status+", not awaiting approval: there is nothing to allow.")
		return redirect(w, r, v.runHref(run.ID))
	}
	var hold esync.Hold
	_ = json.Unmarshal(run.Hold, &hold)
	noun := syncNouns[rt]
	var says []string
	switch hold.Reason {
	case "workflow_cap":
		says = append(says, fmt.Sprintf("The run completes and starts %d post-sync workflow runs, more than the cap of %d per sync.", hold.WorkflowRuns, hold.Cap))
	default:
		what := fmt.Sprintf("The run applies the listing it read: it marks %d of the %d %s stale", hold.Stale, hold.Live, noun)
		if hold.Deactivate > 0 {
			what += fmt.Sprintf(" and deactivates %d Floh users", hold.Deactivate)
		}
		says = append(says, what+fmt.Sprintf(", more than the deletion guard allows (%d %% or %d).", hold.MaxPercent, hold.MaxCount))
		says = append(says, "Stale records are deleted from Floh once they have been stale for the stale retention; a later sync that sees them again restores them.")
	}
	says = append(says, "Check that the upstream really changed this much (a broken filter or a partial export looks the same), or cancel the run instead: nothing has been changed yet.")
	page := views.ConfirmPage{
		Page:        s.page(r, "Allow the held sync of "+c.Name, "connectors"),
		Heading:     "Allow the held sync of " + c.Name + "’s " + noun + "?",
		Consequence: says,
		Action:      v.runHref(run.ID) + "/allow", Button: "Allow the run", CancelHref: v.base,
		Details: &views.Link{Label: "See the run and what it read", Href: v.runHref(run.ID)},
	}
	s.render(w, r, http.StatusOK, views.ConfirmView(page))
	return nil
}

func (s *Server) allowSyncPage(w http.ResponseWriter, r *http.Request) error {
	c, rt, err := s.syncPath(r)
	if err != nil {
		return err
	}
	run, err := s.syncRunForPath(r, c, rt)
	if err != nil {
		return err
	}
	v := s.newSyncPage(r, c, rt, syncQuery{})
	if _, err := s.engine.AllowSync(r.Context(), principalFrom(r).Actor(), run.ID); err != nil {
		return s.backOnConflict(w, r, err, v.base)
	}
	s.flash(r, "success", "Allowed the held run: it is applying its changes now.")
	return redirect(w, r, v.base)
}

// showSyncRun is one run's page: its summary and its change report, paged and by kind.
func (s *Server) showSyncRun(w http.ResponseWriter, r *http.Request) error {
	c, rt, err := s.syncPath(r)
	if err != nil {
		return err
	}
	run, err := s.syncRunForPath(r, c, rt)
	if err != nil {
		return err
	}
	ctx := r.Context()
	v := s.newSyncPage(r, c, rt, syncQuery{})
	tab := v.tab()
	if tab.Missing != nil {
		return errNotFoundPage
	}
	q := r.URL.Query()
	kind := q.Get("kind")
	if !slices.Contains(db.SyncChangeKinds, kind) {
		kind = ""
	}
	pg := db.Page{Page: pageNumber(q.Get("page")), PageSize: syncChangesSize}
	changes, total, err := s.engine.SyncChanges(ctx, run.ID, kind, pg)
	if err != nil {
		return err
	}
	counts, err := db.CountSyncChanges(ctx, s.db.Bun, run.ID)
	if err != nil {
		return err
	}
	href := v.runHref(run.ID)
	self := withQuery(href, url.Values{"kind": {kind}, "page": {q.Get("page")}})
	rp := views.SyncRunPage{Run: v.runView(run, true), BackHref: v.base + "#" + views.SyncHistoryID, Kind: kind, Action: href}
	if rp.Run.Moving {
		rp.Poll = self
	}
	all := 0
	for _, n := range counts {
		all += n
	}
	rp.Kinds = append(rp.Kinds, views.Option{Value: "", Label: fmt.Sprintf("All kinds (%d)", all)})
	for _, k := range db.SyncChangeKinds {
		rp.Kinds = append(rp.Kinds, views.Option{Value: k, Label: fmt.Sprintf("%s (%d)", titleWords(k), counts[k])})
	}
	for _, ch := range changes {
		row := views.SyncChangeRow{Kind: changeBadge(ch.Kind), DisplayName: ch.DisplayName, ExternalID: ch.ExternalID,
			Detail: changeWords(ch.Kind, ch.Detail)}
		if ch.UserID != nil {
			row.UserHref = "/users/" + ch.UserID.String()
		}
		rp.Changes = append(rp.Changes, row)
	}
	rp.Pager = views.Pager{Page: pg.Page, PageSize: pg.PageSize, Total: total, Href: func(n int) string {
		return withQuery(href, url.Values{"kind": {kind}, "page": {strconv.Itoa(n)}})
	}}
	if isPartial(r) && r.Header.Get("HX-Target") == views.SyncRunID {
		s.render(w, r, http.StatusOK, views.SyncRunSection(tab, rp))
		return nil
	}
	p, err := s.connectorPage(ctx, r, c, "sync")
	if err != nil {
		return err
	}
	p.Page.Title = c.Name + " · Sync run · " + syncLabels[rt]
	p.Page.URL = self
	tab.Run = &rp
	p.Sync = tab
	s.renderConnector(w, r, http.StatusOK, p)
	return nil
}

var changeTones = map[string]string{
	"added": "ok", "updated": "info", "stale": "warn", "purged": "bad", "matched": "ok", "ambiguous": "warn",
	"unmatched": "muted", "created": "ok", "deactivated": "bad", "mapped": "info",
}

func changeBadge(kind string) views.Badge {
	return views.Badge{Label: kind, Tone: changeTones[kind]}
}

// changeWords says what a change report line's detail records.
func changeWords(kind string, raw json.RawMessage) string {
	var d struct {
		Fields     []string `json:"fields"`
		Restored   bool     `json:"restored"`
		Status     string   `json:"status"`
		Strategy   string   `json:"strategy"`
		Candidates int      `json:"candidates"`
		Email      string   `json:"email"`
		Field      string   `json:"field"`
		Value      any      `json:"value"`
	}
	_ = json.Unmarshal(raw, &d)
	var parts []string
	switch kind {
	case "updated":
		if len(d.Fields) > 0 {
			parts = append(parts, "Changed: "+strings.Join(d.Fields, ", ")+".")
		}
		if d.Restored {
			parts = append(parts, "Seen again after being stale.")
		}
	case "matched", "ambiguous", "unmatched":
		if d.Status != "" {
			parts = append(parts, matchBadge(d.Status).Label)
		}
		if d.Strategy != "" {
			parts = append(parts, "by "+d.Strategy)
		}
		if d.Candidates > 1 {
			parts = append(parts, fmt.Sprintf("(%d candidates)", d.Candidates))
		}
	case "deactivated":
		if d.Email != "" {
			parts = append(parts, "Deactivated "+d.Email+".")
		}
	case "mapped":
		if d.Field != "" {
			parts = append(parts, fmt.Sprintf("%s set to %v.", d.Field, d.Value))
		}
	}
	return strings.Join(parts, " ")
}

var matchBadges = map[string]views.Badge{
	"matched_exact":    {Label: "Matched (exact)", Tone: "ok"},
	"matched_probable": {Label: "Matched (probable)", Tone: "ok"},
	"ambiguous":        {Label: "Ambiguous", Tone: "warn"},
	"unmatched":        {Label: "Unmatched", Tone: "bad"},
	"skipped":          {Label: "Skipped", Tone: "muted"},
	"manual":           {Label: "Manual override", Tone: "info"},
}

func matchBadge(status string) views.Badge {
	if b, ok := matchBadges[status]; ok {
		return b
	}
	return views.Badge{Label: "not matched yet", Tone: "muted"}
}

// resources is the Synced resources section.
func (v *syncPage) resources(ctx context.Context) (views.SyncResources, error) {
	var stale *bool
	if v.q.Stale != "" {
		b := v.q.Stale == "true"
		stale = &b
	}
	pg := db.Page{Page: v.q.Page, PageSize: syncResourcesSize}
	rows, total, err := v.s.engine.SyncResources(ctx, v.c.ID, v.rt, v.q.Q, stale, pg)
	if err != nil {
		return views.SyncResources{}, err
	}
	res := views.SyncResources{
		Action: v.base, Q: v.q.Q, Stale: v.q.Stale, Groups: v.rt == connectors.ResourceGroup, Self: v.q.url(v.base),
		Keep: v.q.keep("status", "mq", "mpage", "hpage"), Never: total == 0 && v.q.Q == "" && v.q.Stale == "",
	}
	for _, row := range rows {
		res.Rows = append(res.Rows, views.SyncResourceRow{
			DisplayName: row.DisplayName, Email: row.Email, ExternalID: row.ExternalID, Username: row.Username,
			Synced: v.s.whenT(row.SyncedAt), StaleSince: v.s.when(row.StaleSince), Stale: row.StaleSince != nil,
			Members: memberCount(row.Attributes),
		})
	}
	res.Pager = views.Pager{Page: pg.Page, PageSize: pg.PageSize, Total: total, Href: func(n int) string {
		q := v.q
		q.Page = n
		return q.url(v.base) + "#" + views.SyncResourcesID
	}}
	return res, nil
}

// memberCount is how many members a group record lists: LDAP's member, SCIM's members; -1
// when it lists none of them.
func memberCount(raw json.RawMessage) int {
	var attrs map[string]json.RawMessage
	if json.Unmarshal(raw, &attrs) != nil {
		return -1
	}
	for _, key := range []string{"member", "members"} {
		var list []json.RawMessage
		if json.Unmarshal(attrs[key], &list) == nil && attrs[key] != nil {
			return len(list)
		}
	}
	return -1
}

// history is the run history section.
func (v *syncPage) history(ctx context.Context) (views.SyncHistory, error) {
	pg := db.Page{Page: v.q.HPage, PageSize: syncHistorySize}
	runs, total, err := v.s.engine.SyncRuns(ctx, v.c.ID, v.rt, pg)
	if err != nil {
		return views.SyncHistory{}, err
	}
	h := views.SyncHistory{Self: v.q.url(v.base)}
	for i := range runs {
		run := &runs[i]
		rv := v.runView(run, false)
		started := rv.Started
		if started.ISO == "" {
			started = rv.Created
		}
		h.Rows = append(h.Rows, views.SyncRunRow{Href: rv.Href, Started: started, Trigger: rv.Trigger,
			Strategy: run.Strategy, DryRun: run.DryRun, Status: rv.Status, Duration: rv.Duration, Counts: runCounts(run)})
	}
	h.Pager = views.Pager{Page: pg.Page, PageSize: pg.PageSize, Total: total, Href: func(n int) string {
		q := v.q
		q.HPage = n
		return q.url(v.base) + "#" + views.SyncHistoryID
	}}
	return h, nil
}

// runCounts sums a run up in a line of the history.
func runCounts(run *db.SyncRun) string {
	var st esync.Stats
	_ = json.Unmarshal(run.Stats, &st)
	switch run.Status {
	case db.SyncCompleted:
		line := fmt.Sprintf("%d fetched · %d added · %d updated · %d stale", st.Fetched, st.Added, st.Updated, st.Stale)
		if run.ResourceType == connectors.ResourceUser {
			line += fmt.Sprintf(" · %d ambiguous · %d unmatched", st.Ambiguous, st.Unmatched)
		}
		return line
	case db.SyncAwaitingApproval:
		return fmt.Sprintf("held: would stale %d", st.Stale)
	case db.SyncPending, db.SyncRunning:
		return fmt.Sprintf("%d read so far", run.Fetched)
	}
	return ""
}
