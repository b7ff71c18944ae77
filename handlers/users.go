package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"floh/db"
	"floh/engine"
	"floh/views"
)

func userFilter(r *http.Request) (db.UserFilter, error) {
	p, err := listPage(r)
	if err != nil {
		return db.UserFilter{}, err
	}
	deleted, err := boolParam(r, "includeDeleted")
	if err != nil {
		return db.UserFilter{}, err
	}
	q := r.URL.Query()
	return db.UserFilter{
		Q: strings.TrimSpace(q.Get("q")), Email: strings.TrimSpace(q.Get("email")),
		IncludeDeleted: deleted, Page: p,
	}, nil
}

func (s *Server) listUsersAPI(w http.ResponseWriter, r *http.Request) error {
	f, err := userFilter(r)
	if err != nil {
		return err
	}
	users, total, err := db.ListUsers(r.Context(), s.db.Bun, f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList(users, total, f.Page))
}

func (s *Server) createUserAPI(w http.ResponseWriter, r *http.Request) error {
	var in engine.CreateUserInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	u, created, err := s.engine.CreateUser(r.Context(), principalFrom(r).Actor(), in)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return writeJSON(w, status, u)
}

func (s *Server) showUserAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	u, err := db.FindUser(r.Context(), s.db.Bun, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

func (s *Server) updateUserAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var p engine.UserPatch
	if err := decodeJSON(r, &p); err != nil {
		return err
	}
	u, err := s.engine.UpdateUser(r.Context(), principalFrom(r).Actor(), id, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

func (s *Server) deleteUserAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	u, err := s.engine.DeleteUser(r.Context(), principalFrom(r).Actor(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

func (s *Server) restoreUserAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	u, err := s.engine.RestoreUser(r.Context(), principalFrom(r).Actor(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

func (s *Server) setRolesAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Roles []string `json:"roles"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	u, err := s.engine.SetUserRoles(r.Context(), principalFrom(r).Actor(), id, in.Roles)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

// userForPath loads the user named by the path; deleted users are still readable.
func (s *Server) userForPath(r *http.Request) (*db.User, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	return db.FindUser(r.Context(), s.db.Bun, id)
}

func (s *Server) showProfileAPI(w http.ResponseWriter, r *http.Request) error {
	u, err := s.userForPath(r)
	if err != nil {
		return err
	}
	prof, err := db.FindProfile(r.Context(), s.db.Bun, u.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, prof)
}

func (s *Server) updateProfileAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var p engine.ProfilePatch
	if err := decodeJSON(r, &p); err != nil {
		return err
	}
	prof, err := s.engine.UpdateProfile(r.Context(), principalFrom(r).Actor(), id, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, prof)
}

func (s *Server) listIdentitiesAPI(w http.ResponseWriter, r *http.Request) error {
	u, err := s.userForPath(r)
	if err != nil {
		return err
	}
	ids, err := db.ListExternalIdentities(r.Context(), s.db.Bun, u.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": ids})
}

// Pages.

func userStatus(u *db.User) views.Badge {
	switch {
	case u.Deleted():
		return views.Badge{Label: "deleted", Tone: "bad"}
	case !u.Active:
		return views.Badge{Label: "deactivated", Tone: "warn"}
	default:
		return views.Badge{Label: "active", Tone: "ok"}
	}
}

func confirmedBadge(u *db.User) views.Badge {
	if u.Confirmed {
		return views.Badge{Label: "signed in", Tone: "info"}
	}
	return views.Badge{Label: "pre-provisioned", Tone: "muted"}
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	f, err := userFilter(r)
	if err != nil {
		// A hand-edited address still shows the list.
		f = db.UserFilter{Page: db.Page{Page: 1, PageSize: defaultPageSize}}
	}
	users, total, err := db.ListUsers(r.Context(), s.db.Bun, f)
	if err != nil {
		return err
	}
	p := views.UsersPage{
		Page: s.page(r, "Users", "users"), Q: f.Q, IncludeDeleted: f.IncludeDeleted,
		CanManage: principalFrom(r).Can(engine.PermUserManage),
	}
	for i := range users {
		u := &users[i]
		p.Rows = append(p.Rows, views.UserRow{
			ID: u.ID.String(), Email: u.Email, DisplayName: u.DisplayName, Roles: u.Roles,
			Status: userStatus(u), Confirmed: confirmedBadge(u), Created: s.whenT(u.CreatedAt),
		})
	}
	p.Pager = views.Pager{Page: f.Page.Page, PageSize: f.Page.PageSize, Total: total, Href: func(n int) string {
		q := url.Values{"q": {f.Q}, "page": {strconv.Itoa(n)}}
		if f.IncludeDeleted {
			q.Set("includeDeleted", "true")
		}
		return withQuery("/users", q)
	}}
	s.render(w, r, http.StatusOK, views.UsersView(p, isPartial(r)))
	return nil
}

func (s *Server) showUser(w http.ResponseWriter, r *http.Request) error {
	return s.renderUser(w, r, http.StatusOK, views.Form{})
}

var profileLabels = []struct{ key, label string }{
	{"title", "Title"}, {"department", "Department"}, {"location", "Location"},
	{"costCenter", "Cost center"}, {"startDate", "Start date"},
}

func (s *Server) renderUser(w http.ResponseWriter, r *http.Request, status int, rolesForm views.Form) error {
	ctx := r.Context()
	u, err := s.userForPath(r)
	if err != nil {
		return err
	}
	pr := principalFrom(r)
	prof, err := db.FindProfile(ctx, s.db.Bun, u.ID)
	if err != nil {
		return err
	}
	ids, err := db.ListExternalIdentities(ctx, s.db.Bun, u.ID)
	if err != nil {
		return err
	}
	audit, _, err := db.ListAudit(ctx, s.db.Bun, db.AuditFilter{
		Entity: "user", EntityID: u.ID.String(), Page: db.Page{Page: 1, PageSize: 10},
	})
	if err != nil {
		return err
	}
	page := s.page(r, u.DisplayName, "users")
	page.URL = "/users/" + u.ID.String()
	p := views.UserPage{
		Page:      page,
		CanManage: pr.Can(engine.PermUserManage),
		IsSelf:    pr.User.ID == u.ID,
		RolesForm: rolesForm,
		User: views.UserDetail{
			ID: u.ID.String(), Email: u.Email, DisplayName: u.DisplayName, Iss: u.Iss, Sub: u.Sub,
			UpstreamIssuer: deref(u.UpstreamIssuer), UpstreamID: deref(u.UpstreamID),
			Status: userStatus(u), Confirmed: confirmedBadge(u), Deleted: u.Deleted(), Active: u.Active,
			Created: s.whenT(u.CreatedAt), Updated: s.whenT(u.UpdatedAt), DeletedAt: s.when(u.DeletedAt),
		},
	}
	values := map[string]*string{
		"title": prof.Title, "department": prof.Department, "location": prof.Location,
		"costCenter": prof.CostCenter, "startDate": prof.StartDate,
	}
	for _, f := range profileLabels {
		p.Profile = append(p.Profile, s.profileField(f.label, deref(values[f.key]), prof.AttributeSources[f.key]))
	}
	names := make([]string, 0, len(prof.Custom))
	for k := range prof.Custom {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		p.Custom = append(p.Custom, s.profileField(k, strings.Trim(string(prof.Custom[k]), `"`), prof.AttributeSources["custom."+k]))
	}
	for _, id := range ids {
		p.Identities = append(p.Identities, views.IdentityRow{
			ConnectorID: id.ConnectorID.String(), ExternalID: id.ExternalID, Email: deref(id.ExternalEmail),
			DisplayName: deref(id.ExternalDisplayName), Source: id.Source, Verified: s.when(id.VerifiedAt),
		})
	}
	for _, role := range engine.SystemRoles {
		p.Roles = append(p.Roles, views.RoleChoice{Name: role.Name, Description: role.Description, Checked: slices.Contains(u.Roles, role.Name)})
	}
	p.Audit = s.auditRows(audit)
	if p.Activity, err = s.userActivity(r, u); err != nil {
		return err
	}
	if p.CanManage {
		tokens, err := db.ListAPITokens(ctx, s.db.Bun, u.ID)
		if err != nil {
			return err
		}
		p.Tokens = s.tokenRows(tokens)
	}
	s.render(w, r, status, views.UserView(p))
	return nil
}

func (s *Server) profileField(label, value string, src db.AttributeSource) views.ProfileField {
	f := views.ProfileField{Label: label, Value: value}
	if src.Source != "" {
		f.Source, f.At = sourceLabel(src.Source), s.whenT(src.At)
	}
	return f
}

// sourceLabel says who last wrote a profile field, in words.
func sourceLabel(source string) string {
	switch source {
	case "manual":
		return "set by an admin"
	case "oidc":
		return "from sign-in"
	default:
		return "from connector " + source
	}
}

func roleChoices(checked []string) []views.RoleChoice {
	var out []views.RoleChoice
	for _, role := range engine.SystemRoles {
		out = append(out, views.RoleChoice{Name: role.Name, Description: role.Description, Checked: slices.Contains(checked, role.Name)})
	}
	return out
}

func (s *Server) newUser(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, http.StatusOK, views.UserFormView(views.UserFormPage{
		Page: s.page(r, "Add user", "users"), Roles: roleChoices(nil),
	}))
	return nil
}

// formErrors turns a validation error into the form's error list, or returns err unchanged
// when it is something else.
func formErrors(err error) ([]views.FieldError, error) {
	var v *engine.ValidationError
	if !errors.As(err, &v) {
		return nil, err
	}
	out := make([]views.FieldError, len(v.Fields))
	for i, f := range v.Fields {
		out[i] = views.FieldError{Field: f.Field, Message: fieldLabel(f.Field) + " " + f.Message}
	}
	return out, nil
}

// fieldLabel names a field the way its form label does.
func fieldLabel(field string) string {
	switch field {
	case "email":
		return "Email address"
	case "displayName":
		return "Display name"
	case "upstreamIssuer":
		return "Upstream issuer"
	case "upstreamId":
		return "Upstream id"
	case "name":
		return "Name"
	case "expiresInDays":
		return "Expiry"
	case "roles":
		return "Roles"
	}
	for _, f := range profileLabels {
		if f.key == field {
			return f.label
		}
	}
	if strings.HasPrefix(field, "permissions") {
		return "Permission"
	}
	if strings.HasPrefix(field, "roles[") {
		return "Role"
	}
	return field
}

func formValues(r *http.Request, names ...string) map[string]string {
	vals := map[string]string{}
	for _, n := range names {
		vals[n] = r.PostFormValue(n)
	}
	return vals
}

func optionalForm(r *http.Request, name string) *string {
	v := strings.TrimSpace(r.PostFormValue(name))
	if v == "" {
		return nil
	}
	return &v
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return &badRequest{"the form could not be read"}
	}
	roles := r.PostForm["roles"]
	u, _, err := s.engine.CreateUser(r.Context(), principalFrom(r).Actor(), engine.CreateUserInput{
		Email: r.PostFormValue("email"), DisplayName: r.PostFormValue("displayName"),
		UpstreamIssuer: optionalForm(r, "upstreamIssuer"), UpstreamID: optionalForm(r, "upstreamId"),
		Roles: roles,
	})
	if err != nil {
		fields, err := formErrors(err)
		if err != nil {
			return err
		}
		page := s.page(r, "Add user", "users")
		page.URL = "/users/new"
		s.render(w, r, http.StatusUnprocessableEntity, views.UserFormView(views.UserFormPage{
			Page: page, Roles: roleChoices(roles),
			Form: views.Form{Values: formValues(r, "email", "displayName", "upstreamIssuer", "upstreamId"), Errors: fields},
		}))
		return nil
	}
	s.flash(r, "success", fmt.Sprintf("Added %s. They become a confirmed user at their first sign-in.", u.Email))
	return redirect(w, r, "/users/"+u.ID.String())
}

func (s *Server) editUser(w http.ResponseWriter, r *http.Request) error {
	return s.renderEditUser(w, r, http.StatusOK, views.Form{}, views.Form{})
}

// renderEditUser shows the account and profile forms; a form without values shows what is
// stored.
func (s *Server) renderEditUser(w http.ResponseWriter, r *http.Request, status int, account, profile views.Form) error {
	u, err := s.userForPath(r)
	if err != nil {
		return err
	}
	if u.Deleted() {
		return engine.Conflict("user %s is deleted; restore it before editing it", u.Email)
	}
	if account.Values == nil {
		account.Values = map[string]string{
			"email": u.Email, "displayName": u.DisplayName, "upstreamIssuer": deref(u.UpstreamIssuer),
			"upstreamId": deref(u.UpstreamID), "active": strconv.FormatBool(u.Active),
		}
	}
	if profile.Values == nil {
		prof, err := db.FindProfile(r.Context(), s.db.Bun, u.ID)
		if err != nil {
			return err
		}
		profile.Values = map[string]string{
			"title": deref(prof.Title), "department": deref(prof.Department), "location": deref(prof.Location),
			"costCenter": deref(prof.CostCenter), "startDate": deref(prof.StartDate),
		}
	}
	page := s.page(r, "Edit "+u.DisplayName, "users")
	page.URL = "/users/" + u.ID.String() + "/edit"
	s.render(w, r, status, views.UserFormView(views.UserFormPage{
		Page: page, UserID: u.ID.String(), Name: u.DisplayName, Form: account, Profile: profile,
	}))
	return nil
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return &badRequest{"the form could not be read"}
	}
	patch := engine.UserPatch{
		Email:          engine.Some(r.PostFormValue("email")),
		DisplayName:    engine.Some(r.PostFormValue("displayName")),
		Active:         engine.Some(r.PostFormValue("active") == "true"),
		UpstreamIssuer: engine.Some(r.PostFormValue("upstreamIssuer")),
		UpstreamID:     engine.Some(r.PostFormValue("upstreamId")),
	}
	u, err := s.engine.UpdateUser(r.Context(), principalFrom(r).Actor(), id, patch)
	if err != nil {
		fields, ferr := formErrors(err)
		var conflict *engine.ConflictError
		if errors.As(err, &conflict) {
			fields, ferr = []views.FieldError{{Field: "active", Message: sentence(conflict.Message)}}, nil
		}
		if ferr != nil {
			return ferr
		}
		vals := formValues(r, "email", "displayName", "upstreamIssuer", "upstreamId")
		vals["active"] = strconv.FormatBool(r.PostFormValue("active") == "true")
		return s.renderEditUser(w, r, http.StatusUnprocessableEntity, views.Form{Values: vals, Errors: fields}, views.Form{})
	}
	s.flash(r, "success", "Saved the changes to "+u.Email+".")
	return redirect(w, r, "/users/"+u.ID.String())
}

func (s *Server) updateProfile(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return &badRequest{"the form could not be read"}
	}
	// An emptied field clears the value: the form always sends every field.
	patch := engine.ProfilePatch{
		Title: engine.Some(r.PostFormValue("title")), Department: engine.Some(r.PostFormValue("department")),
		Location: engine.Some(r.PostFormValue("location")), CostCenter: engine.Some(r.PostFormValue("costCenter")),
		StartDate: engine.Some(r.PostFormValue("startDate")),
	}
	if _, err := s.engine.UpdateProfile(r.Context(), principalFrom(r).Actor(), id, patch); err != nil {
		fields, err := formErrors(err)
		if err != nil {
			return err
		}
		vals := map[string]string{}
		for _, f := range profileLabels {
			vals[f.key] = r.PostFormValue(f.key)
		}
		return s.renderEditUser(w, r, http.StatusUnprocessableEntity, views.Form{}, views.Form{Values: vals, Errors: fields})
	}
	s.flash(r, "success", "Saved the profile.")
	return redirect(w, r, "/users/"+id.String())
}

func (s *Server) setRoles(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return &badRequest{"the form could not be read"}
	}
	roles := r.PostForm["roles"]
	if roles == nil {
		roles = []string{}
	}
	u, err := s.engine.SetUserRoles(r.Context(), principalFrom(r).Actor(), id, roles)
	if err != nil {
		fields, ferr := formErrors(err)
		var conflict *engine.ConflictError
		if errors.As(err, &conflict) {
			fields, ferr = []views.FieldError{{Field: "roles", Message: sentence(conflict.Message)}}, nil
		}
		if ferr != nil {
			return ferr
		}
		return s.renderUser(w, r, http.StatusUnprocessableEntity, views.Form{Errors: fields})
	}
	msg := "Roles of " + u.Email + " saved: " + strings.Join(u.Roles, ", ") + "."
	if len(u.Roles) == 0 {
		msg = u.Email + " now has no role."
	}
	s.flash(r, "success", msg)
	return redirect(w, r, "/users/"+u.ID.String()+"#roles")
}

func (s *Server) confirmDeleteUser(w http.ResponseWriter, r *http.Request) error {
	u, err := s.userForPath(r)
	if err != nil {
		return err
	}
	if u.Deleted() {
		return redirect(w, r, "/users/"+u.ID.String())
	}
	tokens, err := s.liveTokenCount(r.Context(), u.ID)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, views.ConfirmView(views.ConfirmPage{
		Page:    s.page(r, "Delete "+u.Email, "users"),
		Heading: "Delete " + u.DisplayName + " (" + u.Email + ")?",
		Consequence: []string{
			"They can no longer sign in; an open session ends at its next request.",
			tokenConsequence(tokens),
			"Their profile, roles and history are kept: you can restore them from their user page.",
		},
		Action: "/users/" + u.ID.String() + "/delete", Button: "Delete user", CancelHref: "/users/" + u.ID.String(),
	}))
	return nil
}

func tokenConsequence(n int) string {
	switch n {
	case 0:
		return "They have no active API token."
	case 1:
		return "Their active API token stops working."
	default:
		return fmt.Sprintf("Their %d active API tokens stop working.", n)
	}
}

func (s *Server) liveTokenCount(ctx context.Context, id uuid.UUID) (int, error) {
	tokens, err := db.ListAPITokens(ctx, s.db.Bun, id)
	if err != nil {
		return 0, err
	}
	now := s.engine.Clock().Now()
	n := 0
	for _, t := range tokens {
		if t.RevokedAt == nil && now.Before(t.ExpiresAt) {
			n++
		}
	}
	return n, nil
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	u, err := s.engine.DeleteUser(r.Context(), principalFrom(r).Actor(), id)
	if err != nil {
		return s.backOnConflict(w, r, err, "/users/"+id.String())
	}
	s.flash(r, "success", "Deleted "+u.Email+". You can restore them from this page.")
	return redirect(w, r, "/users/"+u.ID.String())
}

func (s *Server) restoreUser(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	u, err := s.engine.RestoreUser(r.Context(), principalFrom(r).Actor(), id)
	if err != nil {
		return s.backOnConflict(w, r, err, "/users/"+id.String())
	}
	s.flash(r, "success", "Restored "+u.Email+". They can sign in again.")
	return redirect(w, r, "/users/"+u.ID.String())
}
