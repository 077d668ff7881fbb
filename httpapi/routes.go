package httpapi

import (
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v5"
)

// route is one entry of the route table.
type route struct {
	// methods are space-separated HTTP methods.
	methods string
	path    string
	handler echo.HandlerFunc
	// group is the API whose middleware runs before handler ("" for
	// none); its routes are the ones under "/<group>/".
	group string
}

// API groups.
const (
	public        = ""
	reporterGroup = "reporter"
	managerGroup  = "manager"
)

// routeTable lists every route the server answers; nothing registers a
// route anywhere else. A route whose feature is off (MCP, metrics, an API
// without its actor, health without a readiness check) answers an empty
// 404, as an unknown path does; the configuration can turn MCP and metrics
// on and off while the server runs (Reconfigure).
func (s *Server) routeTable() []route {
	const read = http.MethodGet + " " + http.MethodHead
	// Prepared views (prepared.go): the status page, the status text and
	// report, the badges, each at its path in publicViews. ServeHTTP
	// answers GET and HEAD of exactly these paths (or with one trailing
	// slash) without the router; these routes serve the other spellings
	// that normalisation maps onto them ("//status/text").
	var table []route
	for i, v := range s.views.views {
		table = append(table, route{read, v.path, s.servePrepared(i), public})
	}
	return append(table, []route{
		// Static files (assets.go). Badge kinds other than the prepared
		// ones are looked up per request (an override directory may add
		// some).
		{read, "/robots.txt", s.robots, public},
		{read, "/badge/:kind", s.badge, public},
		{read, "/assets/fonts/:folder/:file", s.assetRoute("/assets/fonts/", "fonts", 2), public},
		{read, "/assets/images/:folder/:file", s.assetRoute("/assets/images/", "images", 2), public},
		{read, "/assets/stylesheets/:file", s.assetRoute("/assets/stylesheets/", "stylesheets", 1), public},
		{read, "/assets/javascripts/:file", s.assetRoute("/assets/javascripts/", "javascripts", 1), public},

		// Operations (health.go, metrics.go) and MCP (mcp.go; the methods
		// of the Streamable HTTP transport).
		{read, "/healthz", s.live, public},
		{read, "/readyz", s.readyz, public},
		{http.MethodGet, "/metrics", s.serveMetrics, public},
		{"POST GET DELETE", MCPPath, s.serveMCP, public},

		// Reporter API (spec §7.4, reporter.go).
		{http.MethodPost, "/reporter/:probe/:node", s.report, reporterGroup},
		{http.MethodDelete, "/reporter/:probe/:node/:replica", s.flush, reporterGroup},

		// Manager API (spec §7.5, manager.go). After a write answered
		// 200, reads show it (readYourWrite).
		{http.MethodGet, "/manager/announcements", s.listAnnouncements, managerGroup},
		{http.MethodPost, "/manager/announcement", s.readYourWrite(s.addAnnouncement), managerGroup},
		{http.MethodDelete, "/manager/announcement/:id", s.readYourWrite(s.removeAnnouncement), managerGroup},
		{http.MethodGet, "/manager/prober/alerts", s.alerts, managerGroup},
		{http.MethodGet, "/manager/prober/alerts/ignored", s.ignored, managerGroup},
		{http.MethodPut, "/manager/prober/alerts/ignored", s.readYourWrite(s.setIgnored), managerGroup},
	}...)
}

// groupMiddleware is the middleware of each API group, outermost first:
// without its actor the group answers 404 (nothing counted or checked);
// every request is counted, refused ones included; Basic auth runs before
// the handler, with the group's token from the current site configuration.
func (s *Server) groupMiddleware() map[string][]echo.MiddlewareFunc {
	return map[string][]echo.MiddlewareFunc{
		reporterGroup: {present(s.reporter != nil), s.counted("reporter"),
			s.basicAuth(func(c *siteConfig) tokenChecker { return c.reporterAuth })},
		managerGroup: {present(s.manager != nil), s.counted("manager"),
			s.basicAuth(func(c *siteConfig) tokenChecker { return c.managerAuth })},
	}
}

// routes builds the router from the route table. Paths are normalised
// before routing (spec §7.1): runs of slashes are merged and a trailing
// slash is dropped.
func (s *Server) routes() *echo.Echo {
	e := echo.NewWithConfig(echo.Config{
		Logger:           s.logger,
		HTTPErrorHandler: errorHandler,
		// Group middleware runs for the group's routes only: an unknown
		// path under /reporter or /manager is an empty 404, never a 401.
		NoGroupAutoRegister404Routes: true,
	})
	e.Pre(normalisePath)
	groups := map[string]*echo.Group{}
	for name, mw := range s.groupMiddleware() {
		groups[name] = e.Group("/"+name, mw...)
	}
	for _, rt := range s.routeTable() {
		for _, method := range strings.Fields(rt.methods) {
			if rt.group == public {
				e.Add(method, rt.path, rt.handler)
				continue
			}
			sub, ok := strings.CutPrefix(rt.path, "/"+rt.group+"/")
			g := groups[rt.group]
			if !ok || g == nil {
				panic("httpapi: route " + rt.path + " outside its group " + rt.group)
			}
			g.Add(method, "/"+sub, rt.handler)
		}
	}
	return e
}

// present answers 404, as for an unknown path, when ok is false.
func present(ok bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if ok {
			return next
		}
		return func(c *echo.Context) error { return c.NoContent(http.StatusNotFound) }
	}
}

// publicViews is the registry of prepared views, each served at its path
// (routeTable). A new public representation is one more entry here; the
// renderer builds it with the others, once per snapshot or site
// configuration change.
func (s *Server) publicViews() []namedView {
	return append([]namedView{
		{name: "page", path: "/", render: s.renderPage, tag: s.pageRevision},
		{name: "text", path: "/status/text", render: renderText},
		{name: "report", path: "/status/report", render: renderReport},
		{name: "badge-color", path: "/badge/color", render: renderBadge("color")},
		{name: "badge-icon", path: "/badge/icon", render: renderBadge("icon")},
	}, s.historyViews()...)
}

// servePrepared is the route of view i (after path normalisation).
func (s *Server) servePrepared(i int) echo.HandlerFunc {
	return func(c *echo.Context) error {
		return s.answerPrepared(c.Response(), c.Request(), i)
	}
}

// ServeHTTP answers a request. GET and HEAD of a prepared view's path, as
// sent (one trailing slash allowed, nothing escaped), are answered from
// the current rendering at once; every other request goes through the
// router, whose answer for those paths would be the same (same headers,
// statuses and bodies; path normalisation only maps other spellings onto
// them). Those small responses are most of a status page's traffic, and
// the router and its middleware would be most of their cost.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.URL.RawPath == "" {
		if i := s.views.at(r.URL.Path); i >= 0 {
			_ = s.answerPrepared(w, r, i) // a failed write leaves nothing to answer
			return
		}
	}
	s.echo.ServeHTTP(w, r)
}

// answerPrepared answers GET and HEAD of view i from the current rendering
// (see renderer.ready for when a request waits).
func (s *Server) answerPrepared(w http.ResponseWriter, r *http.Request, i int) error {
	cur, err := s.views.ready(r.Context())
	if err != nil {
		w.Header()["Retry-After"] = retryAfter
		w.WriteHeader(http.StatusServiceUnavailable)
		return nil
	}
	p := cur.views[i]
	if p.err != nil {
		w.Header()["Content-Type"] = textPlain
		w.WriteHeader(http.StatusInternalServerError)
		_, err := io.WriteString(w, "Template Error: "+p.err.Error())
		return err
	}
	return p.write(w, r)
}

// Header values of answerPrepared's errors (never modified; len == cap).
var (
	retryAfter = []string{"1"}
	textPlain  = []string{echo.MIMETextPlainCharsetUTF8}
)

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
