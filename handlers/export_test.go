package handlers

// RouteInfo is one entry of the route table as the tests see it.
type RouteInfo struct {
	Method  string
	Pattern string
	// Public routes need no login; the others need a principal holding Perm ("" = any).
	Public bool
	Perm   string
}

// RoutesForTest lists the server's route table, so the route × role test cannot miss a route.
func (s *Server) RoutesForTest() []RouteInfo {
	var out []RouteInfo
	for _, rt := range s.routes() {
		out = append(out, RouteInfo{Method: rt.method, Pattern: rt.pattern, Public: rt.public, Perm: string(rt.perm)})
	}
	return out
}
