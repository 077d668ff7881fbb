package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v5"
)

// Readiness says whether the server is ready for traffic, and why not.
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
// else 503 with its reason (404 without a check).
func (s *Server) readyz(c *echo.Context) error {
	if s.ready == nil {
		return c.NoContent(http.StatusNotFound)
	}
	if ok, reason := s.ready(); !ok {
		return c.String(http.StatusServiceUnavailable, reason)
	}
	return c.String(http.StatusOK, "ready")
}
