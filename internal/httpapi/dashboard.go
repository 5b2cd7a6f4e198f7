package httpapi

import "net/http"

// dashboardRoutes registers the JSON endpoints the dashboard needs beyond
// the contract's (people at risk, timelines, audit listing, policies).
func (s *Server) dashboardRoutes(handle func(pattern string, h http.HandlerFunc)) {
}
