package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/google/uuid"

	"floh/connectors"
	"floh/db"
	"floh/engine"
	"floh/views"
)

// The Match reconciliation review of a user sync, with its actions: Link (through a user
// picker that searches as the admin types, or is a page of its own without JavaScript), Skip,
// Create user, Unlink and Bulk skip. Each action answers htmx with the section and redirects a
// plain browser back to the review as it was filtered, with a flash message.

// maxBulkNames bounds the records the bulk skip's confirmation names; it counts the rest.
const maxBulkNames = 10

// review is the match review section.
func (v *syncPage) review(ctx context.Context) (views.SyncReview, error) {
	pg := db.Page{Page: v.q.MPage, PageSize: syncReviewSize}
	items, total, err := v.s.engine.SyncMatches(ctx, v.c.ID, v.q.Status, v.q.MQ, pg)
	if err != nil {
		return views.SyncReview{}, err
	}
	counts, err := db.CountMatchStatuses(ctx, v.s.db.Bun, v.c.ID)
	if err != nil {
		return views.SyncReview{}, err
	}
	ret := v.q.url(v.base)
	rv := views.SyncReview{
		Action: v.base, Status: v.q.Status, Q: v.q.MQ, CanManage: v.manage, Return: ret,
		BulkAction: v.matchesBase() + "/bulk-skip", Keep: v.q.keep("q", "stale", "page", "hpage"),
	}
	all := 0
	for _, n := range counts {
		all += n
	}
	rv.Never = all == 0
	for _, f := range engine.MatchFilters {
		n := all
		if f.Statuses != nil {
			n = 0
			for _, st := range f.Statuses {
				n += counts[st]
			}
		}
		rv.Filters = append(rv.Filters, views.Option{Value: f.Value, Label: fmt.Sprintf("%s (%d)", f.Label, n)})
	}
	for _, it := range items {
		rv.Rows = append(rv.Rows, v.matchRow(it))
	}
	rv.Pager = views.Pager{Page: pg.Page, PageSize: pg.PageSize, Total: total, Href: func(n int) string {
		q := v.q
		q.MPage = n
		return q.url(v.base) + "#" + views.SyncReviewID
	}}
	return rv, nil
}

func userRef(u db.MatchCandidate) views.SyncUserRef {
	name := u.DisplayName
	if name == "" {
		name = u.Email
	}
	return views.SyncUserRef{ID: u.ID.String(), Name: name, Email: u.Email, Href: "/users/" + u.ID.String()}
}

func (v *syncPage) matchRow(it engine.MatchItem) views.SyncMatchRow {
	base := v.matchesBase() + "/" + it.ResourceID.String()
	row := views.SyncMatchRow{
		ResourceID: it.ResourceID.String(), DisplayName: it.DisplayName, Email: it.Email, ExternalID: it.ExternalID,
		Status: matchBadge(it.Status), MatchedBy: it.MatchedBy, DecidedBy: it.DecidedBy, Stale: it.Stale,
		ActionBase: base, PickerAction: base + "/link",
		CanSkip:   it.Status != "skipped",
		CanCreate: it.Email != "" && it.UserID == nil,
		CanUnlink: it.UserID != nil || it.Status == "skipped",
	}
	if it.User != nil {
		ref := userRef(*it.User)
		row.User = &ref
	} else {
		for _, c := range it.Candidates {
			row.Candidates = append(row.Candidates, userRef(c))
		}
	}
	return row
}

// recordName names a record in a message.
func recordName(r *db.SyncResource) string {
	if r.DisplayName != "" {
		return r.DisplayName
	}
	return r.ExternalID
}

// matchTarget reads a match action's connector, record and the review address to come back to.
func (s *Server) matchTarget(r *http.Request) (*syncPage, uuid.UUID, error) {
	c, rt, err := s.syncPath(r)
	if err != nil {
		return nil, uuid.Nil, err
	}
	rid := uuid.Nil
	if r.PathValue("resourceId") != "" {
		if rid, err = pathID(r, "resourceId"); err != nil {
			return nil, uuid.Nil, err
		}
	}
	if err := r.ParseForm(); err != nil {
		return nil, uuid.Nil, &badRequest{"the form could not be read"}
	}
	base := syncTabURL(c.ID.String(), rt)
	back, _ := url.Parse(syncReturn(r.Form.Get("return"), base))
	v := s.newSyncPage(r, c, rt, readSyncQuery(back.Query()))
	if v.tab().Missing != nil {
		return nil, uuid.Nil, errNotFoundPage
	}
	return v, rid, nil
}

// reviewDone answers an action that succeeded.
func (v *syncPage) reviewDone(w http.ResponseWriter, notice string) error {
	if !isPartial(v.r) {
		v.s.flash(v.r, "success", notice)
		return redirect(w, v.r, v.q.url(v.base)+"#"+views.SyncReviewID)
	}
	rv, err := v.review(v.r.Context())
	if err != nil {
		return err
	}
	rv.Notice = notice
	v.s.render(w, v.r, http.StatusOK, views.SyncReviewSection(rv))
	return nil
}

// reviewProblem answers an action that was refused: under htmx the section with the reason,
// else back to the review with it.
func (v *syncPage) reviewProblem(w http.ResponseWriter, err error) error {
	status, msg, ok := actionProblem(err)
	if !ok {
		return err
	}
	if !isPartial(v.r) {
		v.s.flash(v.r, "error", msg)
		return redirect(w, v.r, v.q.url(v.base)+"#"+views.SyncReviewID)
	}
	rv, rerr := v.review(v.r.Context())
	if rerr != nil {
		return rerr
	}
	rv.Error = msg
	v.s.render(w, v.r, status, views.SyncReviewSection(rv))
	return nil
}

func (s *Server) skipMatchPage(w http.ResponseWriter, r *http.Request) error {
	v, rid, err := s.matchTarget(r)
	if err != nil {
		return err
	}
	res, err := s.engine.SkipMatch(r.Context(), principalFrom(r).Actor(), v.c.ID, rid)
	if err != nil {
		return v.reviewProblem(w, err)
	}
	return v.reviewDone(w, "Skipped "+recordName(res)+": later syncs leave it unmatched.")
}

func (s *Server) unlinkMatchPage(w http.ResponseWriter, r *http.Request) error {
	v, rid, err := s.matchTarget(r)
	if err != nil {
		return err
	}
	res, err := s.engine.UnlinkMatch(r.Context(), principalFrom(r).Actor(), v.c.ID, rid)
	if err != nil {
		return v.reviewProblem(w, err)
	}
	return v.reviewDone(w, "Unlinked "+recordName(res)+": it is unmatched until the next sync matches it again.")
}

func (s *Server) createUserForMatchPage(w http.ResponseWriter, r *http.Request) error {
	v, rid, err := s.matchTarget(r)
	if err != nil {
		return err
	}
	res, err := s.engine.CreateUserForMatch(r.Context(), principalFrom(r).Actor(), v.c.ID, rid)
	if err != nil {
		return v.reviewProblem(w, err)
	}
	return v.reviewDone(w, "Created the unconfirmed user "+res.Email+" and linked "+recordName(res)+" to it.")
}

// linkMatchPage links a record to the user chosen in the picker. Without JavaScript a refusal
// comes back to the picker's page, where the choice was made.
func (s *Server) linkMatchPage(w http.ResponseWriter, r *http.Request) error {
	v, rid, err := s.matchTarget(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	uid, err := uuid.Parse(r.PostForm.Get("userId"))
	if err != nil {
		err = engine.Invalid("userId", "choose the user to link the record to")
	} else {
		_, err = s.engine.LinkMatch(ctx, principalFrom(r).Actor(), v.c.ID, rid, uid)
	}
	if err != nil {
		var verr *engine.ValidationError
		if errors.As(err, &verr) && !isPartial(r) {
			_, msg, _ := actionProblem(err)
			return v.renderPicker(w, http.StatusUnprocessableEntity, rid, r.PostForm.Get("q"), msg)
		}
		return v.reviewProblem(w, err)
	}
	res, err := db.FindSyncResource(ctx, s.db.Bun, v.c.ID, connectors.ResourceUser, rid)
	if err != nil {
		return err
	}
	u, err := db.FindUser(ctx, s.db.Bun, uid)
	if err != nil {
		return err
	}
	return v.reviewDone(w, fmt.Sprintf("Linked %s to %s (%s): later syncs keep this link.", recordName(res), u.DisplayName, u.Email))
}

// bulkSkipPage skips the chosen records, once the admin has confirmed it: the first post
// answers with the confirmation, naming the records, and only its button skips them.
func (s *Server) bulkSkipPage(w http.ResponseWriter, r *http.Request) error {
	v, _, err := s.matchTarget(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	var ids []uuid.UUID
	for _, raw := range r.PostForm["resourceIds"] {
		id, err := uuid.Parse(raw)
		if err != nil {
			return v.reviewProblem(w, engine.Invalid("resourceIds", "%q is not a record of this review", raw))
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return v.reviewProblem(w, engine.Invalid("resourceIds", "choose the records to skip first: tick the box beside each"))
	}
	if r.PostForm.Get("confirm") != "true" {
		confirm := &views.SyncBulkConfirm{}
		for _, id := range ids {
			confirm.IDs = append(confirm.IDs, id.String())
			if len(confirm.Names) == maxBulkNames {
				confirm.More++
				continue
			}
			res, err := db.FindSyncResource(ctx, s.db.Bun, v.c.ID, connectors.ResourceUser, id)
			if errors.Is(err, db.ErrNotFound) {
				return v.reviewProblem(w, engine.Invalid("resourceIds", "one of the chosen records is no longer in this review"))
			} else if err != nil {
				return err
			}
			confirm.Names = append(confirm.Names, recordName(res))
		}
		return v.renderReview(w, http.StatusOK, func(rv *views.SyncReview) { rv.Confirm = confirm })
	}
	n, err := s.engine.BulkSkipMatches(ctx, principalFrom(r).Actor(), v.c.ID, ids)
	if err != nil {
		return v.reviewProblem(w, err)
	}
	return v.reviewDone(w, fmt.Sprintf("Skipped %s: later syncs leave them unmatched.", plural(n, "record")))
}

// renderReview answers with the review changed by edit: htmx the section, a plain browser the
// page (it names the review's address, so a reload does not post again).
func (v *syncPage) renderReview(w http.ResponseWriter, status int, edit func(*views.SyncReview)) error {
	ctx := v.r.Context()
	if isPartial(v.r) {
		rv, err := v.review(ctx)
		if err != nil {
			return err
		}
		edit(&rv)
		v.s.render(w, v.r, status, views.SyncReviewSection(rv))
		return nil
	}
	p, err := v.full(ctx)
	if err != nil {
		return err
	}
	edit(p.Sync.Review)
	v.render(w, status, p)
	return nil
}

// syncPicker is the user picker of one record: the users matching what was typed, or with
// nothing typed the users the record could be. htmx gets the list; a plain browser a page.
func (s *Server) syncPicker(w http.ResponseWriter, r *http.Request) error {
	v, rid, err := s.matchTarget(r)
	if err != nil {
		return err
	}
	return v.renderPicker(w, http.StatusOK, rid, r.URL.Query().Get("q"), "")
}

func (v *syncPage) renderPicker(w http.ResponseWriter, status int, rid uuid.UUID, q, problem string) error {
	ctx := v.r.Context()
	res, err := db.FindSyncResource(ctx, v.s.db.Bun, v.c.ID, connectors.ResourceUser, rid)
	if err != nil {
		return err
	}
	ret := v.q.url(v.base)
	p := views.SyncPicker{
		ConnectorName: v.c.Name, Q: q, Action: v.matchesBase() + "/" + rid.String() + "/link", Return: ret,
		BackHref: ret + "#" + views.SyncReviewID, Error: problem,
	}
	var item engine.MatchItem
	item.ResourceID, item.ExternalID, item.Email, item.DisplayName = res.ID, res.ExternalID, res.Email, res.DisplayName
	if res.MatchStatus != nil {
		item.Status = *res.MatchStatus
	}
	p.Record = v.matchRow(item)
	if q == "" {
		cands, err := db.FindMatchCandidates(ctx, v.s.db.Bun, res.Candidates)
		if err != nil {
			return err
		}
		for _, id := range res.Candidates {
			if c, ok := cands[id]; ok {
				p.Users = append(p.Users, userRef(c))
			}
		}
	} else {
		users, total, err := db.ListUsers(ctx, v.s.db.Bun, db.UserFilter{Q: q, ActiveOnly: true, Page: db.Page{Page: 1, PageSize: syncPickerSize}})
		if err != nil {
			return err
		}
		for _, u := range users {
			p.Users = append(p.Users, userRef(db.MatchCandidate{ID: u.ID, Email: u.Email, DisplayName: u.DisplayName}))
		}
		p.More = total - len(users)
	}
	if isPartial(v.r) {
		v.s.render(w, v.r, status, views.SyncPickerResults(p))
		return nil
	}
	p.Page = v.s.page(v.r, "Link "+recordName(res)+" · "+v.c.Name, "connectors")
	p.Page.URL = withQuery(p.Action, url.Values{"q": {q}, "return": {ret}})
	v.s.render(w, v.r, status, views.SyncPickerView(p))
	return nil
}
