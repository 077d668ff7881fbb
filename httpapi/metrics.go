package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v5"
)

// serveMetrics answers GET /metrics with the Prometheus handler while the
// configuration enables metrics (else 404). With a metrics token, a
// request must carry it; otherwise it gets 401 (gated).
func (s *Server) serveMetrics(c *echo.Context) error {
	site := s.site.Load()
	return gated(c, s.metrics != nil && site.metrics, site.metricsAuth, metricsRealm, s.metrics)
}

// RequestObserver is told the API name and status code of every reporter
// and manager request.
type RequestObserver func(api string, code int)

// counted is the middleware of an API group that tells the observer (when
// there is one) the status code of each of its requests, refused ones
// included.
func (s *Server) counted(api string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		o := s.observer
		if o == nil {
			return next
		}
		return func(c *echo.Context) error {
			err := next(c)
			code := http.StatusOK
			if resp, _ := echo.UnwrapResponse(c.Response()); resp != nil && resp.Status != 0 {
				code = resp.Status
			}
			o(api, code)
			return err
		}
	}
}
