// Package httpapi is the web layer: an Echo server run as a supervised
// service. Every route is listed once, in routeTable (routes.go). Handlers
// translate HTTP into prepared bytes (the public read routes, rendered ahead
// of requests: prepared.go), snapshot reads, or, for the reporter and
// Manager APIs, messages to an actor, and the answer back into HTTP; they
// never probe and never touch package state.
//
// What a request waits for, and what bounds the wait:
//
//   - Reporter writes (POST and DELETE under /reporter) wait for the node
//     actor's answer. Its mailbox is never waited for (full: 503); the
//     answer is awaited for as long as the request's context lives (until
//     the client goes away, or until the server closes the connection at
//     the end of its graceful shutdown). An accepted write then waits at
//     most writeWait for the state actor to publish it.
//   - Manager writes (POST and DELETE of /manager/announcement, PUT of
//     /manager/prober/alerts/ignored) wait for the state actor to take the
//     change and store it, bounded by the request's context only.
//   - Reads of prepared views (/, /status/text, /status/report, the color
//     and icon badges) wait at most VisibleWait for a rendering that shows a
//     write answered before them, or a configuration applied before them
//     (Reconfigure); the very first one waits at most firstWait for the
//     first rendering. Otherwise they do not wait.
//   - Everything else (Manager reads, MCP, health, metrics, static files)
//     reads the published snapshot, a counter or a file and waits on no
//     actor.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// Snapshots gives the latest published status snapshot.
type Snapshots interface {
	Latest() *messages.Snapshot
}

// Page is the branding the public routes need.
type Page struct {
	Title string
	URL   string
}

// Server is the HTTP service. What a configuration reload may change is
// one immutable siteConfig, swapped whole by Reconfigure; everything else
// (the routes, the renderer and its cache, the MCP handler, the actors'
// doors) lives as long as the Server.
type Server struct {
	addr      string
	snapshots Snapshots
	version   string
	logger    *slog.Logger
	echo      *echo.Echo
	// shutdownTimeout bounds how long in-flight requests may finish.
	shutdownTimeout time.Duration
	// listening, when set, is called with the bound address.
	listening func(net.Addr)

	// site is the configuration read per request and per rendering.
	site atomic.Pointer[siteConfig]
	// epochs numbers the site configurations (Reconfigure).
	epochs atomic.Uint64

	// The actors' doors and the other fixed dependencies; nil leaves the
	// routes that need them answering 404.
	reporter Reporter
	manager  Manager
	metrics  http.Handler
	ready    Readiness
	observer RequestObserver
	mcp      http.Handler

	// pageTmpl renders the status page (page.go).
	pageTmpl *template.Template
	// bootID distinguishes this server's page entity tags.
	bootID string
	// views renders the public read routes ahead of requests (prepared.go).
	views *renderer
	// hist holds the status page's history fragments of the latest
	// recorded history (history.go); memos the other history views
	// (history_views.go).
	hist  historyCache
	memos historyMemos
}

// Options configure a Server.
type Options struct {
	Addr      string
	Snapshots Snapshots

	// Config, when set, is where the site settings come from (page,
	// branding, assets directory, tokens, MCP, metrics), exactly as
	// Reconfigure takes them later; the fields Page to MetricsToken are
	// then ignored. Without it, those fields give them one by one.
	Config *config.Config
	Page   Page
	// Branding is the [branding] table, for the status page.
	Branding config.Branding
	// AssetsDir, when not empty, is a directory whose files override the
	// embedded assets of the same name (assets.path of an existing config).
	AssetsDir string
	// ReporterToken and ManagerToken are the Basic-auth passwords of the
	// reporter and Manager APIs.
	ReporterToken, ManagerToken string
	// MCP serves the MCP endpoint at MCPPath.
	MCP bool
	// MetricsToken, when set, protects /metrics; MCPToken, when set,
	// protects the MCP endpoint.
	MetricsToken, MCPToken string

	// Reporter serves the reporter API (spec §7.4); nil: 404.
	Reporter Reporter
	// Manager serves the Manager API (spec §7.5); nil: 404.
	Manager Manager
	// Metrics (a Prometheus handler) is served at GET /metrics while the
	// configuration enables metrics; nil: 404.
	Metrics http.Handler
	// Ready serves /healthz and /readyz; nil: 404.
	Ready Readiness
	// Observe is told the status code of every reporter and Manager API
	// request; nil: not counted.
	Observe RequestObserver

	// Version is shown in asset cache-busters (?v=<version>).
	Version         string
	Logger          *slog.Logger
	ShutdownTimeout time.Duration
	// Listening is called with the bound address once the listener is open.
	Listening func(net.Addr)
}

// ErrBind marks a listener that could not be opened; it is not retried.
var ErrBind = errors.New("cannot listen")

// New builds the server and its routes.
func New(o Options) *Server {
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 5 * time.Second
	}
	s := &Server{
		addr: o.Addr, snapshots: o.Snapshots, version: o.Version,
		logger: o.Logger.With("actor", "web"), shutdownTimeout: o.ShutdownTimeout,
		listening: o.Listening,
		reporter:  o.Reporter, manager: o.Manager, metrics: o.Metrics, ready: o.Ready, observer: o.Observe,
		pageTmpl: pageTemplate,
		// The boot id keeps entity tags of an earlier process (whose
		// generations restarted from zero) from matching this one's.
		bootID: strconv.FormatInt(time.Now().UnixNano(), 36),
	}
	s.site.Store(o.site())
	s.views = newRenderer(o.Snapshots, s.site.Load, s.logger, s.publicViews())
	s.mcp = s.newMCPHandler()
	s.echo = s.routes()
	return s
}

// Handler returns the server's handler (ServeHTTP), for tests and servers
// other than Serve's. Its prepared views are rendered while Serve runs, or
// else from its first request on.
func (s *Server) Handler() http.Handler { return s }

func (s *Server) String() string { return "web " + s.addr }

// Connection limits of the listening server, against slow and idle
// clients (slowloris and the like); each connection costs one goroutine and
// its buffers, never a probe's time:
//
//   - ReadHeaderTimeout 5 s: the request line and headers must arrive
//     within 5 s of the connection being ready (a header dribbled byte by
//     byte is cut there).
//   - ReadTimeout 30 s: the whole request, body included (bodies are at
//     most MaxBodyBytes).
//   - WriteTimeout 30 s: from the end of the headers to the end of the
//     response; the largest prepared page goes out compressed, so only a
//     client slower than a few KB/s hits it. MCP answers are single
//     responses too (the endpoint is stateless, mcp.go).
//   - IdleTimeout 60 s: a keep-alive connection with no new request is
//     closed.
//   - MaxHeaderBytes 32 KiB: request line and headers together (net/http
//     answers 431 beyond it).
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 60 * time.Second
	MaxHeaderBytes    = 32 << 10
)

// limit applies the connection limits above to hs.
func limit(hs *http.Server) {
	hs.ReadHeaderTimeout = ReadHeaderTimeout
	hs.ReadTimeout = ReadTimeout
	hs.WriteTimeout = WriteTimeout
	hs.IdleTimeout = IdleTimeout
	hs.MaxHeaderBytes = MaxHeaderBytes
}

// Serve listens on the configured address until ctx ends, then shuts down
// gracefully. A bind failure is returned wrapped in ErrBind. While it runs,
// the prepared views are kept rendered.
func (s *Server) Serve(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("%w on %s: %w", ErrBind, s.addr, err)
	}
	s.logger.Info("listening", "addr", ln.Addr().String())
	if s.listening != nil {
		s.listening(ln.Addr())
	}
	// While served, the renderer keeps the views rendered without waiting
	// for requests; when Serve ends, it is given (bounded) time to stop.
	release := s.views.pin()
	defer func() {
		release()
		s.views.waitStopped(s.shutdownTimeout)
	}()
	sc := echo.StartConfig{
		Listener:        ln,
		HideBanner:      true,
		HidePort:        true,
		GracefulTimeout: s.shutdownTimeout,
		BeforeServeFunc: func(hs *http.Server) error {
			limit(hs)
			return nil
		},
	}
	err = sc.Start(ctx, s)
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return ctx.Err()
}
