// Package httpapi is the web layer: an Echo server run as a supervised
// service. Handlers only translate HTTP into prepared bytes (the public read
// routes, rendered ahead of requests: prepared.go), snapshot reads, or, for
// the reporter and manager APIs, messages; they never probe and never touch
// package state. A write waits (bounded) for its actor's answer; a read waits
// only for a rendering that must show a write answered before it.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"sync"
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

// Server is the HTTP service.
type Server struct {
	addr      string
	snapshots Snapshots
	page      Page
	branding  config.Branding
	assetsDir string
	version   string
	logger    *slog.Logger
	echo      *echo.Echo
	// ShutdownTimeout bounds how long in-flight requests may finish.
	shutdownTimeout time.Duration
	// listening, when set, is called with the bound address.
	listening func(net.Addr)
	// observer counts API requests (nil: not counted).
	observer RequestObserver
	// current, when set, replaces echo as the handler (SetHandler).
	current atomic.Pointer[http.Handler]

	// pageTmpl renders the status page (page.go).
	pageTmpl *template.Template
	// bootID distinguishes this server's page entity tags.
	bootID string
	// views renders the public read routes ahead of requests (prepared.go).
	views *renderer
	// handler is what Handler returns; SetHandler recognises it.
	handler *serverHandler

	// mu guards serving and the renderer pinned for the handler in use.
	mu          sync.Mutex
	serving     bool
	active      *renderer
	unpinActive func()
}

// Options configure a Server.
type Options struct {
	Addr      string
	Snapshots Snapshots
	Page      Page
	// Branding is the [branding] table, for the status page.
	Branding config.Branding
	// AssetsDir, when not empty, is a directory whose files override the
	// embedded assets of the same name (assets.path of an existing config).
	AssetsDir string
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
		addr: o.Addr, snapshots: o.Snapshots, page: o.Page,
		branding: o.Branding, assetsDir: o.AssetsDir, version: o.Version,
		logger: o.Logger.With("actor", "web"), shutdownTimeout: o.ShutdownTimeout,
		listening: o.Listening,
	}
	s.views = newRenderer(o.Snapshots, s.logger, s.publicViews())
	s.active = s.views
	s.handler = &serverHandler{s: s}
	s.echo = s.routes()
	return s
}

// serverHandler is the handler of one Server.
type serverHandler struct{ s *Server }

func (h *serverHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.s.echo.ServeHTTP(w, r) }

// Handler returns the server's routes as a handler: for tests, and for
// SetHandler on the server that listens. Its prepared views are rendered
// while a served server uses it, or else from its first request on.
func (s *Server) Handler() http.Handler { return s.handler }

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
//     client slower than a few KB/s hits it. MCP streams are exempt (they
//     stay open while the session lives).
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
// the prepared views of the handler in use are kept rendered.
func (s *Server) Serve(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("%w on %s: %w", ErrBind, s.addr, err)
	}
	s.logger.Info("listening", "addr", ln.Addr().String())
	if s.listening != nil {
		s.listening(ln.Addr())
	}
	s.setServing(true)
	defer s.setServing(false)
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
	err = sc.Start(ctx, http.HandlerFunc(s.serveHTTP))
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return ctx.Err()
}

// setServing pins the renderer of the handler in use while Serve runs;
// when Serve ends, it waits (bounded) for that renderer to stop.
func (s *Server) setServing(on bool) {
	s.mu.Lock()
	s.serving = on
	s.repin()
	active := s.active
	s.mu.Unlock()
	if !on && active != nil {
		active.waitStopped(s.shutdownTimeout)
	}
}

// repin moves the pin to s.active (s.mu held).
func (s *Server) repin() {
	if s.unpinActive != nil {
		s.unpinActive()
		s.unpinActive = nil
	}
	if s.serving && s.active != nil {
		s.unpinActive = s.active.pin()
	}
}

// SetHandler replaces the handler that serves requests on the running
// listener (used by configuration reloads; in-flight requests finish on the
// old one). A handler from another Server's Handler brings its prepared
// views along: they are kept rendered from now on, and the replaced ones
// stop.
func (s *Server) SetHandler(h http.Handler) {
	s.current.Store(&h)
	var next *renderer
	if sh, ok := h.(*serverHandler); ok {
		next = sh.s.views
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active = next
	s.repin()
}

// serveHTTP dispatches to the current handler.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if cleanSlashes(r.URL.Path) == MCPPath {
		// An MCP stream lives as long as its session, not one request.
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Time{})
		_ = rc.SetWriteDeadline(time.Time{})
	}
	if h := s.current.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	s.echo.ServeHTTP(w, r)
}
