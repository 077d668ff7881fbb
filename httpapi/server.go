// Package httpapi is the web layer: an Echo server run as a supervised
// service. Handlers only translate HTTP into snapshot reads (or, for the
// reporter and manager APIs, messages); they never probe, never wait on an
// actor and never touch package state.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
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
	// pageCache holds the rendering of the latest generation seen.
	pageCache atomic.Pointer[renderedPage]
	// renders counts template executions (tests check the cache with it).
	renders atomic.Uint64
	// bootID distinguishes this process's page entity tags.
	bootID string
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
	s.echo = s.routes()
	return s
}

// Handler exposes the router, for tests that call it directly.
func (s *Server) Handler() http.Handler { return s.echo }

func (s *Server) String() string { return "web " + s.addr }

// Serve listens on the configured address until ctx ends, then shuts down
// gracefully. A bind failure is returned wrapped in ErrBind.
func (s *Server) Serve(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("%w on %s: %w", ErrBind, s.addr, err)
	}
	s.logger.Info("listening", "addr", ln.Addr().String())
	if s.listening != nil {
		s.listening(ln.Addr())
	}
	sc := echo.StartConfig{
		Listener:        ln,
		HideBanner:      true,
		HidePort:        true,
		GracefulTimeout: s.shutdownTimeout,
		BeforeServeFunc: func(hs *http.Server) error {
			hs.ReadHeaderTimeout = 10 * time.Second
			hs.IdleTimeout = 120 * time.Second
			return nil
		},
	}
	err = sc.Start(ctx, http.HandlerFunc(s.serveHTTP))
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return ctx.Err()
}

// SetHandler replaces the handler that serves requests on the running
// listener (used by configuration reloads; in-flight requests finish on the
// old one).
func (s *Server) SetHandler(h http.Handler) { s.current.Store(&h) }

// serveHTTP dispatches to the current handler.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if h := s.current.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	s.echo.ServeHTTP(w, r)
}
