package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/labstack/echo/v5"
)

// EnableMetrics serves h (a Prometheus handler) at GET /metrics. With a
// token, a request must carry it as "Authorization: Bearer <token>" or as
// the password of Basic auth; otherwise it gets 401.
func (s *Server) EnableMetrics(h http.Handler, token string) {
	want := sha256.Sum256([]byte(token))
	s.echo.GET("/metrics", func(c *echo.Context) error {
		if token != "" {
			header := c.Request().Header.Get("Authorization")
			got, ok := strings.CutPrefix(header, "Bearer ")
			if !ok {
				got, ok = basicPassword(header)
			}
			sum := sha256.Sum256([]byte(got))
			if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
				c.Response().Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
				return c.NoContent(http.StatusUnauthorized)
			}
		}
		h.ServeHTTP(c.Response(), c.Request())
		return nil
	})
}

// RequestObserver is told the API name and status code of every reporter
// and manager request.
type RequestObserver func(api string, code int)

// ObserveRequests sets the observer used by the APIs enabled afterwards.
func (s *Server) ObserveRequests(o RequestObserver) { s.observer = o }

// counted wraps an API handler so its status code is observed.
func (s *Server) counted(api string, h echo.HandlerFunc) echo.HandlerFunc {
	o := s.observer
	if o == nil {
		return h
	}
	return func(c *echo.Context) error {
		err := h(c)
		code := http.StatusOK
		if resp, _ := echo.UnwrapResponse(c.Response()); resp != nil && resp.Status != 0 {
			code = resp.Status
		}
		o(api, code)
		return err
	}
}
