package handlers

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"floh/db"
	"floh/engine"
	"floh/views"
)

// listTokensAPI lists the caller's tokens; with user:manage, ?userId= lists another user's.
func (s *Server) listTokensAPI(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r)
	owner := p.User.ID
	if raw := r.URL.Query().Get("userId"); raw != "" {
		id, err := uuid.Parse(raw)
		if err != nil {
			return engine.Invalid("userId", "must be a user id (UUID)")
		}
		if id != owner && !p.Can(engine.PermUserManage) {
			return &permissionError{perm: engine.PermUserManage, token: viaBearer(r)}
		}
		owner = id
	}
	tokens, err := db.ListAPITokens(r.Context(), s.db.Bun, owner)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": tokens})
}

// errTokenMintsToken refuses token creation with a token: a narrowed or short-lived token could
// otherwise mint itself an unrestricted, long-lived one.
var errTokenMintsToken = engine.Forbidden("an API token cannot create API tokens; sign in, or use `floh token create`")

func (s *Server) createTokenAPI(w http.ResponseWriter, r *http.Request) error {
	if viaBearer(r) {
		return errTokenMintsToken
	}
	var in engine.CreateTokenInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	p := principalFrom(r)
	t, err := s.engine.CreateToken(r.Context(), p.Actor(), p.User.ID, in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, t)
}

func (s *Server) revokeTokenAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	t, err := s.engine.RevokeToken(r.Context(), principalFrom(r), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, t)
}

func (s *Server) systemRoles(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]any{"items": engine.SystemRoles})
}

func (s *Server) tokenRows(tokens []db.APIToken) []views.TokenRow {
	now := s.engine.Clock().Now()
	var rows []views.TokenRow
	for _, t := range tokens {
		row := views.TokenRow{
			ID: t.ID.String(), Name: t.Name, Prefix: t.Prefix, Permissions: "all of the owner's",
			Created: s.whenT(t.CreatedAt), Expires: s.whenT(t.ExpiresAt), LastUsed: s.when(t.LastUsedAt),
		}
		if t.Permissions != nil {
			row.Permissions = strings.Join(t.Permissions, ", ")
		}
		switch {
		case t.RevokedAt != nil:
			row.Status = views.Badge{Label: "revoked", Tone: "muted"}
		case !now.Before(t.ExpiresAt):
			row.Status = views.Badge{Label: "expired", Tone: "muted"}
		default:
			row.Status, row.Revocable = views.Badge{Label: "active", Tone: "ok"}, true
		}
		rows = append(rows, row)
	}
	return rows
}

func (s *Server) showProfile(w http.ResponseWriter, r *http.Request) error {
	return s.renderProfile(w, r, http.StatusOK, nil, views.Form{}, nil)
}

func (s *Server) renderProfile(w http.ResponseWriter, r *http.Request, status int, created *engine.CreatedToken, form views.Form, checked []string) error {
	p := principalFrom(r)
	tokens, err := db.ListAPITokens(r.Context(), s.db.Bun, p.User.ID)
	if err != nil {
		return err
	}
	held := engine.PermissionsOf(p.User.Roles)
	layout := s.page(r, "Your profile", "profile")
	layout.URL = "/profile"
	page := views.ProfilePage{
		Page: layout, Email: p.User.Email, Roles: p.User.Roles,
		Permissions: held.List(), Tokens: s.tokenRows(tokens), TokenForm: form,
		DefaultDays: engine.DefaultTokenDays, MaxDays: engine.MaxTokenDays,
	}
	if created != nil {
		page.NewToken, page.NewTokenName = created.Token, created.Name
	}
	for _, perm := range held.List() {
		page.Choices = append(page.Choices, views.PermissionChoice{Name: perm, Checked: slices.Contains(checked, perm)})
	}
	s.render(w, r, status, views.ProfileView(page))
	return nil
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	if viaBearer(r) {
		return errTokenMintsToken
	}
	if err := r.ParseForm(); err != nil {
		return &badRequest{"the form could not be read"}
	}
	p := principalFrom(r)
	in := engine.CreateTokenInput{Name: r.PostFormValue("name"), Permissions: r.PostForm["permissions"]}
	days := strings.TrimSpace(r.PostFormValue("expiresInDays"))
	var dayErr error
	if days != "" {
		n, err := strconv.Atoi(days)
		if err != nil {
			dayErr = engine.Invalid("expiresInDays", "must be a whole number of days")
		}
		in.ExpiresInDays = &n
	}
	var t *engine.CreatedToken
	err := dayErr
	if err == nil {
		t, err = s.engine.CreateToken(r.Context(), p.Actor(), p.User.ID, in)
	}
	if err != nil {
		fields, err := formErrors(err)
		if err != nil {
			return err
		}
		form := views.Form{Values: formValues(r, "name", "expiresInDays"), Errors: fields}
		return s.renderProfile(w, r, http.StatusUnprocessableEntity, nil, form, in.Permissions)
	}
	// The secret is rendered in this response only, never put in a flash or a redirect.
	return s.renderProfile(w, r, http.StatusCreated, t, views.Form{}, nil)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	t, err := s.engine.RevokeToken(r.Context(), principalFrom(r), id)
	if err != nil {
		return err
	}
	s.flash(r, "success", "Revoked the token “"+t.Name+"”. Scripts using it are refused from now on.")
	return redirect(w, r, "/profile")
}

func (s *Server) revokeUserToken(w http.ResponseWriter, r *http.Request) error {
	userID, err := pathID(r, "id")
	if err != nil {
		return err
	}
	id, err := pathID(r, "tokenId")
	if err != nil {
		return err
	}
	t, err := db.FindAPIToken(r.Context(), s.db.Bun, id)
	if err != nil {
		return err
	}
	if t.UserID != userID {
		return db.ErrNotFound
	}
	if _, err := s.engine.RevokeToken(r.Context(), principalFrom(r), id); err != nil {
		return err
	}
	s.flash(r, "success", "Revoked the token “"+t.Name+"”.")
	return redirect(w, r, "/users/"+userID.String())
}
