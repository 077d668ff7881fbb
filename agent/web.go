package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigil-go/vigil/supervisors"
)

// web is the agent's own HTTP endpoint on [server] inet: GET /healthz
// (200 while the process runs) and GET /metrics (the agent's registry).
// Every other path is an empty 404. It owns its listener; a bind failure
// stops the agent (exit code 3) instead of a restart loop.
type web struct {
	addr      string
	handler   http.Handler
	listening func(net.Addr)
}

func newWeb(addr string, m *Instruments, listening func(net.Addr)) *web {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotFound) })
	return &web{addr: addr, handler: mux, listening: listening}
}

func (w *web) String() string { return "web " + w.addr }

// Serve listens until ctx ends, then shuts down within 5 s.
func (w *web) Serve(ctx context.Context) error {
	ln, err := net.Listen("tcp", w.addr)
	if err != nil {
		return &supervisors.FatalError{Err: fmt.Errorf("cannot listen on %s: %w", w.addr, err), Code: supervisors.ExitBind}
	}
	if w.listening != nil {
		w.listening(ln.Addr())
	}
	srv := &http.Server{Handler: w.handler, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return ctx.Err()
}
