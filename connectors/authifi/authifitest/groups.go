package authifitest

import (
	"net/http"
	"slices"
	"time"
)

// Group is an Authifi group as the server holds it; Members are user ids in the order they
// joined.
type Group struct {
	ID          string
	Name        string
	Description string
	UpdatedAt   time.Time
	Members     []string
}

type wireGroup struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	MemberCount int    `json:"memberCount"`
	UpdatedAt   string `json:"updatedAt"`
}

func wireOfGroup(g *Group) wireGroup {
	return wireGroup{
		ID:          g.ID,
		Name:        g.Name,
		Description: g.Description,
		MemberCount: len(g.Members),
		UpdatedAt:   g.UpdatedAt.UTC().Format(time.RFC3339),
	}
}

// AddGroup stores g (an id and updatedAt when they are zero) and returns it. It panics when
// the id is taken or a member is not a user, since such a fixture is a bug.
func (s *Server) AddGroup(g Group) Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g.ID == "" {
		g.ID = s.nextID("grp")
	}
	if _, ok := s.groups[g.ID]; ok {
		panic("authifitest: AddGroup: group " + g.ID + " exists")
	}
	for _, m := range g.Members {
		if s.users[m] == nil {
			panic("authifitest: AddGroup: member " + m + " is not a user")
		}
	}
	if g.UpdatedAt.IsZero() {
		g.UpdatedAt = s.now()
	}
	g.Members = slices.Clone(g.Members)
	s.groups[g.ID] = &g
	return s.copyGroup(&g)
}

// Group returns the group with this id.
func (s *Server) Group(id string) (Group, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[id]
	if !ok {
		return Group{}, false
	}
	return s.copyGroup(g), true
}

func (s *Server) copyGroup(g *Group) Group {
	c := *g
	c.Members = slices.Clone(g.Members)
	return c
}

func (s *Server) listGroups(r *http.Request) (int, any) {
	q := r.URL.Query()
	p, st, b := parsePage(q)
	if st != 0 {
		return st, b
	}
	since, st, b := parseSince(q)
	if st != 0 {
		return st, b
	}
	var ids []string
	for id, g := range s.groups {
		if !g.UpdatedAt.Before(since) {
			ids = append(ids, id)
		}
	}
	page, next := p.take(ids)
	data := make([]wireGroup, len(page))
	for i, id := range page {
		data[i] = wireOfGroup(s.groups[id])
	}
	return http.StatusOK, listAnswer{Data: data, NextCursor: next}
}

func (s *Server) groupOr404(r *http.Request) (*Group, int, any) {
	g, ok := s.groups[r.PathValue("id")]
	if !ok {
		st, b := fail(http.StatusNotFound, "GROUP_NOT_FOUND", "no group with id %q", r.PathValue("id"))
		return nil, st, b
	}
	return g, 0, nil
}

// getGroup answers GET /groups/{id}, which authifi-api.md leaves out: the group object, as
// GET /users/{id} answers the user object, and 404 GROUP_NOT_FOUND for an unknown id.
func (s *Server) getGroup(r *http.Request) (int, any) {
	g, st, b := s.groupOr404(r)
	if g == nil {
		return st, b
	}
	return http.StatusOK, wireOfGroup(g)
}

type member struct {
	UserID string `json:"userId"`
	Email  string `json:"email"`
}

func (s *Server) listMembers(r *http.Request) (int, any) {
	g, st, b := s.groupOr404(r)
	if g == nil {
		return st, b
	}
	p, st, b := parsePage(r.URL.Query())
	if st != 0 {
		return st, b
	}
	page, next := p.take(slices.Clone(g.Members))
	data := make([]member, len(page))
	for i, id := range page {
		data[i] = member{UserID: id, Email: s.users[id].Email}
	}
	return http.StatusOK, listAnswer{Data: data, NextCursor: next}
}

func (s *Server) addMember(r *http.Request) (int, any) {
	g, st, b := s.groupOr404(r)
	if g == nil {
		return st, b
	}
	var in struct {
		UserID string `json:"userId"`
	}
	if st, b := decode(r, &in); st != 0 {
		return st, b
	}
	if s.users[in.UserID] == nil {
		return fail(http.StatusNotFound, "USER_NOT_FOUND", "no user with id %q", in.UserID)
	}
	if slices.Contains(g.Members, in.UserID) {
		return fail(http.StatusConflict, "MEMBER_EXISTS", "user %s is already a member of group %s", in.UserID, g.ID)
	}
	g.Members = append(g.Members, in.UserID)
	g.UpdatedAt = s.now()
	return http.StatusNoContent, nil
}

func (s *Server) checkMember(r *http.Request) (int, any) {
	g, st, b := s.groupOr404(r)
	if g == nil {
		return st, b
	}
	uid := r.PathValue("userId")
	if !slices.Contains(g.Members, uid) {
		return fail(http.StatusNotFound, "NOT_A_MEMBER", "user %s is not a member of group %s", uid, g.ID)
	}
	return http.StatusOK, member{UserID: uid, Email: s.users[uid].Email}
}

func (s *Server) removeMember(r *http.Request) (int, any) {
	g, st, b := s.groupOr404(r)
	if g == nil {
		return st, b
	}
	uid := r.PathValue("userId")
	i := slices.Index(g.Members, uid)
	if i < 0 {
		return fail(http.StatusNotFound, "NOT_A_MEMBER", "user %s is not a member of group %s", uid, g.ID)
	}
	g.Members = slices.Delete(g.Members, i, i+1)
	g.UpdatedAt = s.now()
	return http.StatusNoContent, nil
}
