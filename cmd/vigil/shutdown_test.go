package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// TestExitAfterGrace: the hard bound on a shutdown fires grace after the
// stop signal, and never when the shutdown finishes first.
func TestExitAfterGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const grace = 10 * time.Second
		// A shutdown that hangs.
		ctx, signal := context.WithCancel(t.Context())
		fired := make(chan time.Duration, 1)
		hung := make(chan struct{})
		defer close(hung)
		time.Sleep(time.Minute) // running: no bound before the signal
		start := time.Now()
		signal()
		go exitAfterGrace(ctx, hung, grace, func() { fired <- time.Since(start) })
		if got := <-fired; got != grace {
			t.Fatalf("hung shutdown ended %v after the signal, want %v", got, grace)
		}

		// A shutdown that finishes in time.
		ctx, signal = context.WithCancel(t.Context())
		finished := make(chan struct{})
		done := make(chan struct{})
		go func() {
			exitAfterGrace(ctx, finished, grace, func() { t.Error("bound fired on a finished shutdown") })
			close(done)
		}()
		signal()
		time.Sleep(grace - time.Second)
		close(finished)
		<-done
		time.Sleep(time.Minute)
		synctest.Wait()
	})
}

// TestSIGTERMWithDamagedStore: the store file is truncated under the
// running binary, which then gets SIGTERM. It exits cleanly within the
// shutdown grace, and the next run finds what the first one held (the
// stopping server rebuilt the damaged store from its state in memory).
func TestSIGTERMWithDamagedStore(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer target.Close()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer hook.Close()
	port := freePort(t)
	cfg := writeFile(t, "config.cfg", fmt.Sprintf(restartConfig, port, hook.URL, target.URL+"/health"))
	dataDir := filepath.Join(t.TempDir(), "data")
	db := filepath.Join(dataDir, "state.db")

	s := startServer(t, cfg, dataDir, port)
	if code, body := s.request("POST", "/manager/announcement", "m", `{"title":"Kept","text":"across damage"}`); code != 200 {
		t.Fatalf("announcement: %d %s", code, body)
	}
	s.waitForStoreFlush()
	fi, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(db, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s.cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { exited <- s.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v; log:\n%s", err, s.logs.String())
		}
	case <-time.After(shutdownGrace + 2*time.Second):
		t.Fatalf("still running %v after SIGTERM (grace %v); log:\n%s", time.Since(start), shutdownGrace, s.logs.String())
	}
	t.Logf("stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	logs := s.logs.String()
	for _, want := range []string{"store damaged", "store rebuilt from the state in memory", "msg=stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if aside, _ := filepath.Glob(db + ".damaged-*"); len(aside) != 1 {
		t.Errorf("damaged file moved aside as %v, want one file", aside)
	}

	s = startServer(t, cfg, dataDir, port)
	if _, list := s.request("GET", "/manager/announcements", "m", ""); !strings.Contains(list, `"title":"Kept"`) {
		t.Fatalf("announcement lost with the damaged store: %s; log:\n%s", list, s.logs.String())
	}
	if strings.Contains(s.logs.String(), "corrupt") {
		t.Fatalf("the next run found a corrupt store:\n%s", s.logs.String())
	}
}
