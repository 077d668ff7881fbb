package httpapi

import (
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/vigil-go/vigil/messages"
)

func TestHealthAndReadiness(t *testing.T) {
	var ready atomic.Bool
	o := testOptions(&messages.Snapshot{})
	o.Ready = func() (bool, string) {
		if !ready.Load() {
			return false, "waiting for the first probe results"
		}
		return true, ""
	}
	h := New(o).Handler()
	if rec := do(t, h, http.MethodGet, "/healthz"); rec.Code != 200 || rec.Body.String() != "ok" {
		t.Fatalf("healthz %d %q", rec.Code, rec.Body.String())
	}
	if rec := do(t, h, http.MethodGet, "/readyz/"); rec.Code != 503 || rec.Body.String() != "waiting for the first probe results" {
		t.Fatalf("readyz before ready: %d %q", rec.Code, rec.Body.String())
	}
	ready.Store(true)
	if rec := do(t, h, http.MethodGet, "/readyz"); rec.Code != 200 {
		t.Fatalf("readyz when ready: %d", rec.Code)
	}
	if rec := do(t, h, http.MethodHead, "/readyz"); rec.Code != 200 {
		t.Fatalf("HEAD readyz: %d", rec.Code)
	}
}
