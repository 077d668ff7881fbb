package httpapi

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v5"
)

// routes builds the router. Paths are normalised before routing (spec
// §7.1): runs of slashes are merged and a trailing slash is dropped.
func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.Logger = s.logger
	e.HTTPErrorHandler = errorHandler
	e.Pre(normalisePath)

	// Prepared views (prepared.go): the status page, the status text and
	// report, the badges.
	s.initPage()
	for _, v := range s.views.views {
		getAndHead(e, v.path, s.servePrepared(s.views.index(v.name)))
	}

	// Static surface (assets.go). Badge kinds other than the prepared ones
	// are looked up per request (an override directory may add some).
	getAndHead(e, "/robots.txt", s.robots)
	getAndHead(e, "/badge/:kind", s.badge)
	getAndHead(e, "/assets/fonts/:folder/:file", s.assetRoute("/assets/fonts/", "fonts", 2))
	getAndHead(e, "/assets/images/:folder/:file", s.assetRoute("/assets/images/", "images", 2))
	getAndHead(e, "/assets/stylesheets/:file", s.assetRoute("/assets/stylesheets/", "stylesheets", 1))
	getAndHead(e, "/assets/javascripts/:file", s.assetRoute("/assets/javascripts/", "javascripts", 1))
	return e
}

// publicViews is the registry of prepared views: name, route and View. A
// new public representation is one more entry; the renderer builds it with
// the others, once per snapshot change.
func (s *Server) publicViews() []namedView {
	return []namedView{
		{name: "page", path: "/", render: s.renderPage, tag: s.pageRevision},
		{name: "text", path: "/status/text", render: renderText},
		{name: "report", path: "/status/report", render: s.renderReport},
		{name: "badge-color", path: "/badge/color", render: s.renderBadge("color")},
		{name: "badge-icon", path: "/badge/icon", render: s.renderBadge("icon")},
	}
}

// servePrepared answers GET and HEAD of the view at index i from the
// current rendering (see renderer.ready for when a request waits).
func (s *Server) servePrepared(i int) echo.HandlerFunc {
	return func(c *echo.Context) error {
		cur, err := s.views.ready(c.Request().Context())
		if err != nil {
			c.Response().Header().Set("Retry-After", "1")
			return c.NoContent(http.StatusServiceUnavailable)
		}
		p := cur.views[i]
		if p.err != nil {
			return c.String(http.StatusInternalServerError, "Template Error: "+p.err.Error())
		}
		return p.write(c)
	}
}

// getAndHead registers h for GET and HEAD.
func getAndHead(e *echo.Echo, path string, h echo.HandlerFunc) {
	e.GET(path, h)
	e.HEAD(path, h)
}

// normalisePath merges repeated slashes and removes a trailing slash on both
// the decoded and the raw path, leaving the query untouched.
func normalisePath(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		r := c.Request()
		if r.Method == http.MethodOptions {
			// No CORS and no automatic OPTIONS answers (spec §7.1).
			return c.NoContent(http.StatusNotFound)
		}
		// Slashes are merged in the raw path when there is one, so that an
		// escaped "%2F%2F" inside a segment (a Vigil Local replica id such
		// as icmp://host) stays two slashes in the decoded segment.
		if raw := r.URL.RawPath; raw != "" {
			if p, err := url.PathUnescape(cleanSlashes(raw)); err == nil {
				r.URL.RawPath, r.URL.Path = cleanSlashes(raw), p
				return next(c)
			}
		}
		r.URL.Path = cleanSlashes(r.URL.Path)
		r.URL.RawPath = ""
		return next(c)
	}
}

func cleanSlashes(p string) string {
	if p == "" {
		return "/"
	}
	if !strings.Contains(p, "//") && (len(p) <= 1 || p[len(p)-1] != '/') {
		return p
	}
	var b strings.Builder
	b.Grow(len(p))
	prev := byte(0)
	for i := 0; i < len(p); i++ {
		if p[i] == '/' && prev == '/' {
			continue
		}
		b.WriteByte(p[i])
		prev = p[i]
	}
	out := b.String()
	if len(out) > 1 && out[len(out)-1] == '/' {
		out = out[:len(out)-1]
	}
	if out == "" {
		out = "/"
	}
	return out
}

// errorHandler answers every routing failure (unknown path, wrong method)
// with an empty 404, as the original does, and other errors with their code.
func errorHandler(c *echo.Context, err error) {
	if resp, _ := echo.UnwrapResponse(c.Response()); resp != nil && resp.Committed {
		return
	}
	code := http.StatusInternalServerError
	if sc, ok := err.(echo.HTTPStatusCoder); ok {
		code = sc.StatusCode()
	}
	if code == http.StatusMethodNotAllowed {
		code = http.StatusNotFound
	}
	_ = c.NoContent(code)
}
