package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/a-h/templ"

	"floh/db"
	"floh/engine"
	"floh/engine/lint"
	"floh/views"
)

// Errors that only the HTTP layer produces.
var (
	errUnauthenticated = errors.New("sign in, or send Authorization: Bearer <token>")
	errBadAuthHeader   = errors.New("the Authorization header must be \"Bearer <token>\"")
	errBadToken        = errors.New("the API token is invalid, expired or revoked")
	errCrossOrigin     = errors.New("cross-origin request refused: state changes must come from Floh's own pages (scripts use a Bearer token)")
	errNotFoundPage    = errors.New("no such page")
)

// badRequest is input that is not well-formed at all (400).
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

// notFoundError is a 404 that says what names nothing, where "not found" would leave the
// caller guessing which part of the address is wrong.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }

// permissionError is a missing permission (403).
type permissionError struct {
	perm  engine.Permission
	token bool // the request used an API token, whose grants may be narrower than the roles
}

func (e *permissionError) Error() string {
	if e.token {
		return "this needs the " + string(e.perm) + " permission, which this API token does not carry"
	}
	return "this needs the " + string(e.perm) + " permission, which your roles do not grant"
}

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

// isPartial tells an htmx request for a fragment from a full page load.
func isPartial(r *http.Request) bool {
	return r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-Boosted") != "true" &&
		r.Header.Get("HX-History-Restore-Request") != "true"
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

type apiErrorBody struct {
	Error apiError `json:"error"`
}

type apiError struct {
	Code    string              `json:"code"`
	Message string              `json:"message"`
	Details []engine.FieldError `json:"details,omitempty"`
	// Findings are the lint findings that refused a publish.
	Findings []lint.Finding `json:"findings,omitempty"`
}

// classify maps an error to its status and the envelope the API answers with.
func classify(err error) (int, apiError) {
	var (
		verr    *engine.ValidationError
		cerr    *engine.ConflictError
		ferr    *engine.ForbiddenError
		perr    *permissionError
		berr    *badRequest
		mberr   *http.MaxBytesError
		lerr    *engine.LoginRefusedError
		lintErr *engine.LintError
		nferr   *notFoundError
		nosync  *engine.NoSyncError
	)
	switch {
	case errors.As(err, &verr):
		return http.StatusUnprocessableEntity, apiError{Code: "validation_failed", Message: verr.Error(), Details: verr.Fields}
	case errors.As(err, &mberr):
		return http.StatusRequestEntityTooLarge, apiError{Code: "payload_too_large", Message: "the request body is larger than 1 MiB"}
	case errors.As(err, &berr):
		return http.StatusBadRequest, apiError{Code: "bad_request", Message: berr.msg}
	case errors.As(err, &cerr):
		return http.StatusConflict, apiError{Code: "conflict", Message: cerr.Message}
	case errors.As(err, &lintErr):
		return http.StatusConflict, apiError{Code: "lint_errors", Message: lintErr.Error(), Findings: lintErr.Findings}
	case errors.As(err, &perr):
		return http.StatusForbidden, apiError{Code: "forbidden", Message: perr.Error()}
	case errors.As(err, &ferr):
		return http.StatusForbidden, apiError{Code: "forbidden", Message: ferr.Message}
	case errors.As(err, &lerr):
		return http.StatusForbidden, apiError{Code: "login_refused", Message: lerr.Message}
	case errors.Is(err, errCrossOrigin):
		return http.StatusForbidden, apiError{Code: "cross_origin", Message: err.Error()}
	case errors.Is(err, errUnauthenticated), errors.Is(err, errBadToken), errors.Is(err, errBadAuthHeader):
		return http.StatusUnauthorized, apiError{Code: "unauthenticated", Message: err.Error()}
	case errors.As(err, &nferr):
		return http.StatusNotFound, apiError{Code: "not_found", Message: nferr.msg}
	case errors.As(err, &nosync):
		return http.StatusNotFound, apiError{Code: "not_found", Message: nosync.Error()}
	case errors.Is(err, db.ErrNotFound), errors.Is(err, errNotFoundPage):
		return http.StatusNotFound, apiError{Code: "not_found", Message: "not found"}
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads the answer.
		return 499, apiError{Code: "canceled", Message: "request canceled"}
	default:
		return http.StatusInternalServerError, apiError{Code: "internal", Message: "something went wrong on our side"}
	}
}

// renderError is the one place errors become responses: the JSON envelope under /api, an
// error page (or a redirect to login) elsewhere.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, err error) {
	status, body := classify(err)
	if status >= 500 && status != 499 {
		s.log.Error("request failed", "request_id", requestID(r), "method", r.Method, "path", r.URL.Path, "error", err)
		body.Message += " (request id " + requestID(r) + ")"
	}
	if status == http.StatusUnauthorized && !isAPI(r) {
		back := r.URL.RequestURI()
		if r.Method != http.MethodGet {
			back = sameOriginReferer(r)
		}
		if r.Header.Get("HX-Request") == "true" {
			// htmx asked for a fragment (e.g. the header's unread-count poll); after login the
			// browser should land on the page it was showing, not on the bare fragment.
			w.Header().Set("HX-Redirect", loginURL(htmxPage(r, back)))
			w.WriteHeader(status)
			return
		}
		http.Redirect(w, r, loginURL(back), http.StatusSeeOther)
		return
	}
	if isAPI(r) || viaBearer(r) {
		_ = writeJSON(w, status, apiErrorBody{body})
		return
	}
	page := views.ErrorPage{Page: s.page(r, "Error", ""), Status: status, NextHref: "/", NextLabel: "Go to the dashboard"}
	switch {
	case errors.Is(err, errCrossOrigin):
		page.Title, page.Heading = "Request refused", "This request came from another site"
		page.Message = "Floh refused it: cross-origin requests cannot change anything. If you clicked a button in Floh, reload the page and try again."
	case status == http.StatusNotFound:
		page.Title, page.Heading = "Page not found", "Page not found"
		page.Message = "There is nothing at this address. It may have been deleted, or the link may be mistyped."
	case status == http.StatusForbidden:
		page.Title, page.Heading = "Not allowed", "You cannot do this"
		page.Message = sentence(body.Message) + " Ask an administrator if you need it."
	case status == http.StatusInternalServerError:
		page.Title, page.Heading = "Something went wrong", "Something went wrong"
		page.Message = "Floh hit an unexpected error and nothing was changed by this request. " +
			"If it keeps happening, give your administrator request id " + requestID(r) + "."
	default:
		page.Title, page.Heading = "Request refused", "This request was refused"
		page.Message = sentence(body.Message)
	}
	if principalFrom(r) == nil {
		page.NextHref, page.NextLabel = "/", "Go to Floh"
	}
	s.render(w, r, status, views.ErrorView(page))
}

// backOnConflict answers a page's form post that clashed with the current state (deleting
// what is already deleted, cancelling a finished run) by going back to the page with the reason
// as a flash; any other error goes on to renderError.
func (s *Server) backOnConflict(w http.ResponseWriter, r *http.Request, err error, back string) error {
	var conflict *engine.ConflictError
	if !errors.As(err, &conflict) {
		return err
	}
	s.flash(r, "error", sentence(conflict.Message))
	return redirect(w, r, back)
}

// sameOriginReferer is where a refused form post came from, to return there after login.
func sameOriginReferer(r *http.Request) string {
	ref, err := url.Parse(r.Referer())
	if err != nil || ref.Host != r.Host {
		return "/"
	}
	return safeReturnTo(ref.RequestURI())
}

// htmxPage is the same-origin page an htmx request was made from (HX-Current-URL), or fallback.
func htmxPage(r *http.Request, fallback string) string {
	cur, err := url.Parse(r.Header.Get("HX-Current-URL"))
	if err != nil || cur.Host != r.Host || cur.Path == "" {
		return fallback
	}
	return safeReturnTo(cur.RequestURI())
}

// render writes a templ component as HTML.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Vary", "HX-Request")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := c.Render(r.Context(), w); err != nil {
		s.log.Error("render page", "request_id", requestID(r), "path", r.URL.Path, "error", err)
	}
}

// page builds the layout data every page needs.
func (s *Server) page(r *http.Request, title, section string) views.Page {
	p := views.Page{Title: title, Section: section, Development: !s.cfg.Production}
	pr := principalFrom(r)
	if pr == nil {
		return p
	}
	p.User = &views.CurrentUser{Name: pr.User.DisplayName, Email: pr.User.Email, Roles: strings.Join(pr.User.Roles, ", ")}
	if p.User.Roles == "" {
		p.User.Roles = "no roles"
	}
	for _, item := range navigation {
		if item.perms == nil || slices.ContainsFunc(item.perms, pr.Can) {
			nav := views.NavItem{Section: item.section, Label: item.label, Href: item.href}
			if item.section == "tasks" {
				count := s.taskCount(r.Context(), pr)
				nav.Count = &count
			}
			p.Nav = append(p.Nav, nav)
		}
	}
	if n, err := s.engine.UnreadNotifications(r.Context(), pr.User.ID); err == nil {
		p.Unread = n
	}
	if f := s.sessions.PopString(r.Context(), sessFlash); f != "" {
		kind, msg, _ := strings.Cut(f, "|")
		p.Flash = &views.Flash{Kind: kind, Message: msg}
	}
	return p
}

// navigation lists the built pages; the ones the user may not open are left out. An item
// with several permissions shows for any of them: Runs lists every run with run:read, and
// the runs they started to those who may start workflows.
var navigation = []struct {
	section, label, href string
	perms                []engine.Permission
}{
	{"dashboard", "Dashboard", "/", nil},
	{"users", "Users", "/users", []engine.Permission{engine.PermUserRead}},
	{"connectors", "Connectors", "/connectors", []engine.Permission{engine.PermConnectorRead}},
	{"workflows", "Workflows", "/workflows", []engine.Permission{engine.PermWorkflowRead}},
	{"runs", "Runs", "/runs", []engine.Permission{engine.PermRunRead, engine.PermWorkflowStart}},
	{"tasks", "Tasks", "/tasks", []engine.Permission{engine.PermTaskRead}},
	{"incidents", "Incidents", "/incidents", []engine.Permission{engine.PermEventRead}},
	{"events", "Events", "/events", []engine.Permission{engine.PermEventRead}},
	{"audit", "Audit log", "/audit", []engine.Permission{engine.PermAuditRead}},
	{"settings", "Settings", "/settings", []engine.Permission{engine.PermSettingsManage}},
}

// flash stores a message for the next page the user sees.
func (s *Server) flash(r *http.Request, kind, msg string) {
	s.sessions.Put(r.Context(), sessFlash, kind+"|"+msg)
}

// redirect answers a form post: a 303 to the next page (htmx follows it as a full navigation).
func redirect(w http.ResponseWriter, r *http.Request, to string) error {
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Location", to)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// navigate answers a form post with a full page load of to, under htmx too. redirect's
// HX-Location fetches the next page as an htmx request, and a page that answers htmx with a
// fragment of itself (the designer's workspace) would then have only that fragment in the body.
func navigate(w http.ResponseWriter, r *http.Request, to string) error {
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Redirect", to)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}
