package authifitest

import (
	"encoding/base64"
	"maps"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// roleCacheTTL is how long Authifi serves a cached role list after reading it: the contract
// says GET /users/{id} may show the old roles for up to 60 s after a change.
const roleCacheTTL = 60 * time.Second

// maxLimit is the largest page the list endpoints serve.
const maxLimit = 500

// User is an Authifi user as the server holds it: the contract's user object plus what the
// API never returns (the password and linked identities), for tests to seed and inspect.
type User struct {
	ID             string
	Email          string
	DisplayName    string
	IdentityIssuer string // "" for a local user
	ExternalID     string
	Federated      bool
	Enabled        bool
	Roles          []string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	Password       string
	Identities     map[string]string // linked identities: issuer → externalId
}

type user struct {
	User
	cachedRoles []string
	cachedAt    time.Time // zero: nothing cached
}

// wireUser is the contract's user object; absent issuer and externalId are null.
type wireUser struct {
	ID             string   `json:"id"`
	Email          string   `json:"email"`
	DisplayName    string   `json:"displayName"`
	IdentityIssuer *string  `json:"identityIssuer"`
	ExternalID     *string  `json:"externalId"`
	Federated      bool     `json:"federated"`
	Enabled        bool     `json:"enabled"`
	Roles          []string `json:"roles"`
	CreatedAt      string   `json:"createdAt"`
	UpdatedAt      string   `json:"updatedAt"`
}

// AddUser stores u as POST /users would (enabled, federated when it has an issuer, an id and
// timestamps when they are zero) and returns it. It panics when (email, identityIssuer) is
// taken, since a fixture that seeds a duplicate is a bug.
func (s *Server) AddUser(u User) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.findUser(u.Email, u.IdentityIssuer) != nil {
		panic("authifitest: AddUser: user " + u.Email + " with issuer " + u.IdentityIssuer + " exists")
	}
	if u.ID == "" {
		u.ID = s.nextID("usr")
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = s.now()
	}
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = u.CreatedAt
	}
	u.Enabled = true
	u.Federated = u.IdentityIssuer != ""
	u.Roles = slices.Clone(u.Roles)
	u.Identities = maps.Clone(u.Identities)
	if u.Identities == nil {
		u.Identities = map[string]string{}
	}
	s.users[u.ID] = &user{User: u}
	delete(s.deleted, u.ID)
	return s.copyUser(s.users[u.ID])
}

// User returns the user with this id as stored (current roles, not the cached ones).
func (s *Server) User(id string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return User{}, false
	}
	return s.copyUser(u), true
}

// Users lists every user by id.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]User, 0, len(s.users))
	for _, id := range slices.Sorted(maps.Keys(s.users)) {
		out = append(out, s.copyUser(s.users[id]))
	}
	return out
}

func (s *Server) copyUser(u *user) User {
	c := u.User
	c.Roles = slices.Clone(u.Roles)
	c.Identities = maps.Clone(u.Identities)
	return c
}

func (s *Server) findUser(email, issuer string) *user {
	for _, u := range s.users {
		if strings.EqualFold(u.Email, email) && u.IdentityIssuer == issuer {
			return u
		}
	}
	return nil
}

// wire renders a user with the given role list.
func wire(u *user, roles []string) wireUser {
	w := wireUser{
		ID:          u.ID,
		Email:       u.Email,
		DisplayName: u.DisplayName,
		Federated:   u.Federated,
		Enabled:     u.Enabled,
		Roles:       append([]string{}, roles...),
		CreatedAt:   u.CreatedAt.UTC().Format(time.RFC3339),
		UpdatedAt:   u.UpdatedAt.UTC().Format(time.RFC3339),
	}
	if u.IdentityIssuer != "" {
		w.IdentityIssuer = &u.IdentityIssuer
	}
	if u.ExternalID != "" {
		w.ExternalID = &u.ExternalID
	}
	return w
}

// read renders a user the way reads see it: through the role cache, filled on a miss and kept
// for roleCacheTTL however the roles change meanwhile.
func (s *Server) read(u *user) wireUser {
	now := s.clock.Now()
	if u.cachedAt.IsZero() || !now.Before(u.cachedAt.Add(roleCacheTTL)) {
		u.cachedRoles, u.cachedAt = slices.Clone(u.Roles), now
	}
	return wire(u, u.cachedRoles)
}

func (s *Server) touch(u *user) { u.UpdatedAt = s.now() }

// listPage is the paging shared by the list endpoints: ids in order, a cursor that is the
// last id served.
type listPage struct {
	limit int
	after string
}

func parsePage(q url.Values) (listPage, int, any) {
	p := listPage{limit: 100}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxLimit {
			st, b := fail(http.StatusBadRequest, "INVALID_FIELD", "limit must be a whole number from 1 to %d, not %q", maxLimit, l)
			return p, st, b
		}
		p.limit = n
	}
	if c := q.Get("cursor"); c != "" {
		after, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil || len(after) == 0 {
			st, b := fail(http.StatusBadRequest, "INVALID_FIELD", "cursor %q was not issued by this server", c)
			return p, st, b
		}
		p.after = string(after)
	}
	return p, 0, nil
}

// take returns the sorted ids after the cursor, at most limit of them, and the next cursor
// (nil on the last page).
func (p listPage) take(ids []string) ([]string, *string) {
	slices.Sort(ids)
	start, _ := slices.BinarySearch(ids, p.after)
	if start < len(ids) && ids[start] == p.after {
		start++
	}
	rest := ids[start:]
	if len(rest) <= p.limit {
		return rest, nil
	}
	next := base64.RawURLEncoding.EncodeToString([]byte(rest[p.limit-1]))
	return rest[:p.limit], &next
}

func parseSince(q url.Values) (time.Time, int, any) {
	v := q.Get("updatedSince")
	if v == "" {
		return time.Time{}, 0, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		st, b := fail(http.StatusBadRequest, "INVALID_FIELD", "updatedSince must be an RFC 3339 time, not %q", v)
		return t, st, b
	}
	return t, 0, nil
}

type listAnswer struct {
	Data       any     `json:"data"`
	NextCursor *string `json:"nextCursor"`
}

// listUsers filters by email (case-insensitive), issuer (the contract's issuer param; exact
// identityIssuer) and updatedSince, then pages.
func (s *Server) listUsers(r *http.Request) (int, any) {
	q := r.URL.Query()
	p, st, b := parsePage(q)
	if st != 0 {
		return st, b
	}
	since, st, b := parseSince(q)
	if st != 0 {
		return st, b
	}
	email, issuer := q.Get("email"), q.Get("issuer")
	var ids []string
	for id, u := range s.users {
		switch {
		case email != "" && !strings.EqualFold(u.Email, email),
			issuer != "" && u.IdentityIssuer != issuer,
			u.UpdatedAt.Before(since):
			continue
		}
		ids = append(ids, id)
	}
	page, next := p.take(ids)
	data := make([]wireUser, len(page))
	for i, id := range page {
		data[i] = s.read(s.users[id])
	}
	return http.StatusOK, listAnswer{Data: data, NextCursor: next}
}

func (s *Server) userOr404(r *http.Request) (*user, int, any) {
	u, ok := s.users[r.PathValue("id")]
	if !ok {
		st, b := fail(http.StatusNotFound, "USER_NOT_FOUND", "no user with id %q", r.PathValue("id"))
		return nil, st, b
	}
	return u, 0, nil
}

func (s *Server) getUser(r *http.Request) (int, any) {
	u, st, b := s.userOr404(r)
	if u == nil {
		return st, b
	}
	return http.StatusOK, s.read(u)
}

func (s *Server) createUser(r *http.Request) (int, any) {
	var in struct {
		Email          string `json:"email"`
		DisplayName    string `json:"displayName"`
		IdentityIssuer string `json:"identityIssuer"`
		ExternalID     string `json:"externalId"`
	}
	if st, b := decode(r, &in); st != 0 {
		return st, b
	}
	if a, err := mail.ParseAddress(in.Email); err != nil || a.Address != in.Email {
		return fail(http.StatusBadRequest, "INVALID_FIELD", "email %q is not an email address", in.Email)
	}
	if s.findUser(in.Email, in.IdentityIssuer) != nil {
		return fail(http.StatusConflict, "USER_EXISTS", "a user with email %s and identityIssuer %q exists", in.Email, in.IdentityIssuer)
	}
	now := s.now()
	u := &user{User: User{
		ID:             s.nextID("usr"),
		Email:          in.Email,
		DisplayName:    in.DisplayName,
		IdentityIssuer: in.IdentityIssuer,
		ExternalID:     in.ExternalID,
		Federated:      in.IdentityIssuer != "",
		Enabled:        true,
		Roles:          []string{},
		CreatedAt:      now,
		UpdatedAt:      now,
		Identities:     map[string]string{},
	}}
	s.users[u.ID] = u
	return http.StatusCreated, wire(u, u.Roles)
}

// RemoveUser deletes a user as DELETE /users/{id} would, for tests of what a listing no
// longer returns; it reports whether the user existed.
func (s *Server) RemoveUser(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if ok {
		s.remove(u)
	}
	return ok
}

// deleteUser answers with the user as it was, memberships and links gone with it.
func (s *Server) deleteUser(r *http.Request) (int, any) {
	u, st, b := s.userOr404(r)
	if u == nil {
		return st, b
	}
	s.remove(u)
	return http.StatusOK, wire(u, u.Roles)
}

func (s *Server) remove(u *user) {
	delete(s.users, u.ID)
	s.deleted[u.ID] = true
	for _, g := range s.groups {
		if i := slices.Index(g.Members, u.ID); i >= 0 {
			g.Members = slices.Delete(g.Members, i, i+1)
			g.UpdatedAt = s.now()
		}
	}
}

func decodeRoles(r *http.Request) ([]string, int, any) {
	var in struct {
		Roles []string `json:"roles"`
	}
	if st, b := decode(r, &in); st != 0 {
		return nil, st, b
	}
	if len(in.Roles) == 0 || slices.Contains(in.Roles, "") {
		st, b := fail(http.StatusBadRequest, "INVALID_FIELD", "roles must be a non-empty list of role slugs")
		return nil, st, b
	}
	return in.Roles, 0, nil
}

func (s *Server) addRoles(r *http.Request) (int, any) {
	u, st, b := s.userOr404(r)
	if u == nil {
		return st, b
	}
	roles, st, b := decodeRoles(r)
	if st != 0 {
		return st, b
	}
	changed := false
	for _, role := range roles {
		if !slices.Contains(u.Roles, role) {
			u.Roles = append(u.Roles, role)
			changed = true
		}
	}
	if changed {
		s.touch(u)
	}
	return http.StatusOK, map[string]any{"roles": append([]string{}, u.Roles...)}
}

// removeRoles is idempotent: roles the user lacks, and a deleted user's leftovers, are a 200.
func (s *Server) removeRoles(r *http.Request) (int, any) {
	roles, st, b := decodeRoles(r)
	if st != 0 {
		return st, b
	}
	if s.deleted[r.PathValue("id")] {
		return http.StatusOK, map[string]any{"roles": []string{}}
	}
	u, st, b := s.userOr404(r)
	if u == nil {
		return st, b
	}
	kept := slices.DeleteFunc(slices.Clone(u.Roles), func(role string) bool { return slices.Contains(roles, role) })
	if len(kept) != len(u.Roles) {
		u.Roles = kept
		s.touch(u)
	}
	return http.StatusOK, map[string]any{"roles": append([]string{}, u.Roles...)}
}

// minPasswordLength is the tenant's password policy.
const minPasswordLength = 12

func (s *Server) setPassword(r *http.Request) (int, any) {
	u, st, b := s.userOr404(r)
	if u == nil {
		return st, b
	}
	var in struct {
		Password string `json:"password"`
	}
	if st, b := decode(r, &in); st != 0 {
		return st, b
	}
	if in.Password == "" {
		return fail(http.StatusBadRequest, "INVALID_FIELD", "password is required")
	}
	if u.Federated {
		return fail(http.StatusConflict, "AUTHIFI_FEDERATED_NO_LOCAL_PASSWORD", "user %s signs in through %s and has no local password", u.ID, u.IdentityIssuer)
	}
	if len(in.Password) < minPasswordLength {
		return fail(http.StatusUnprocessableEntity, "PASSWORD_POLICY", "the password must be at least %d characters", minPasswordLength)
	}
	u.Password = in.Password
	s.touch(u)
	return http.StatusNoContent, nil
}

// linkIdentity links (or relinks) the identity of an issuer; one link per issuer.
func (s *Server) linkIdentity(r *http.Request) (int, any) {
	u, st, b := s.userOr404(r)
	if u == nil {
		return st, b
	}
	var in struct {
		Issuer     string `json:"issuer"`
		ExternalID string `json:"externalId"`
	}
	if st, b := decode(r, &in); st != 0 {
		return st, b
	}
	if in.Issuer == "" {
		return fail(http.StatusBadRequest, "INVALID_FIELD", "issuer is required")
	}
	u.Identities[in.Issuer] = in.ExternalID
	s.touch(u)
	return http.StatusCreated, map[string]any{"issuer": in.Issuer, "externalId": in.ExternalID}
}

func (s *Server) unlinkIdentity(r *http.Request) (int, any) {
	u, st, b := s.userOr404(r)
	if u == nil {
		return st, b
	}
	issuer := r.URL.Query().Get("issuer")
	if issuer == "" {
		return fail(http.StatusBadRequest, "INVALID_FIELD", "issuer is required")
	}
	if _, ok := u.Identities[issuer]; !ok {
		return fail(http.StatusNotFound, "IDENTITY_NOT_FOUND", "user %s has no identity linked from %s", u.ID, issuer)
	}
	delete(u.Identities, issuer)
	s.touch(u)
	return http.StatusNoContent, nil
}
