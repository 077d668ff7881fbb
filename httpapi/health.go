package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v5"
)

// Readiness says whether the server is ready for traffic, and why not.
type Readiness func() (ready bool, reason string)

// EnableHealth registers GET/HEAD /healthz (the process answers: 200) and
// /readyz (200 once ready() says so, else 503 with the reason). Call it
// before Serve.
func (s *Server) EnableHealth(ready Readiness) {
	live := func(c *echo.Context) error { return c.String(http.StatusOK, "ok") }
	readyz := func(c *echo.Context) error {
		if ok, reason := ready(); !ok {
			return c.String(http.StatusServiceUnavailable, reason)
		}
		return c.String(http.StatusOK, "ready")
	}
	getAndHead(s.echo, "/healthz", live)
	getAndHead(s.echo, "/readyz", readyz)
}
