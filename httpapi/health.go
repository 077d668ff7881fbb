package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v5"
)

// Readiness says whether the server is ready for traffic, and why not (or,
// when ready, anything else worth saying, e.g. which instance leads).
type Readiness func() (ready bool, reason string)

// live answers GET/HEAD /healthz: the process answers (200), when the
// server has a readiness check (else 404).
func (s *Server) live(c *echo.Context) error {
	if s.ready == nil {
		return c.NoContent(http.StatusNotFound)
	}
	return c.String(http.StatusOK, "ok")
}

// readyz answers GET/HEAD /readyz: 200 once the readiness check says so,
// else 503 with its reason (404 without a check). A ready check may say
// more (a cluster instance names the leader): that follows "ready" on a
// line of its own.
func (s *Server) readyz(c *echo.Context) error {
	if s.ready == nil {
		return c.NoContent(http.StatusNotFound)
	}
	ok, reason := s.ready()
	switch {
	case !ok:
		return c.String(http.StatusServiceUnavailable, reason)
	case reason != "":
		return c.String(http.StatusOK, "ready\n"+reason)
	}
	return c.String(http.StatusOK, "ready")
}
