package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/vigil-go/vigil/messages"
)

func TestMetricsTokenProtection(t *testing.T) {
	o := testOptions(&messages.Snapshot{})
	o.Metrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("vigil_status 0\n")) })
	o.MetricsToken = "scrape-me"
	h := New(o).Handler()
	for _, tc := range []struct {
		auth string
		want int
	}{
		{"", 401}, {"Bearer nope", 401}, {"Bearer scrape-me", 200}, {basic("prometheus", "scrape-me"), 200}, {basic("", "x"), 401},
	} {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("auth %q: %d, want %d", tc.auth, rec.Code, tc.want)
		}
		if tc.want == 200 && rec.Body.String() != "vigil_status 0\n" {
			t.Errorf("body %q", rec.Body.String())
		}
	}
	o = testOptions(&messages.Snapshot{})
	o.Metrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	if rec := do(t, New(o).Handler(), http.MethodGet, "/metrics"); rec.Code != 200 {
		t.Fatalf("unprotected metrics: %d", rec.Code)
	}
}
