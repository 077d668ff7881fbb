package httpapi

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

// The prepared views answer the same whether a request takes the fast
// path (the path as served) or the router (a spelling that normalisation
// maps onto it): status, every header and the body.
func TestFastPathAnswersLikeTheRouter(t *testing.T) {
	s := benchServer(t, fixedSnapshots{largeSnapshot(40, 3)})
	h := s.Handler()
	cur := func() *rendering {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		return s.views.current.Load()
	}()
	for _, v := range s.views.views {
		for _, tc := range []struct {
			method         string
			encoding, inm  string
			fast, viaRoute string
		}{
			{http.MethodGet, "", "", v.path, "/" + v.path},
			{http.MethodGet, "gzip, deflate, br, zstd", "", v.path + "/", "//" + v.path + "//"},
			{http.MethodHead, "gzip", "", v.path, "/" + v.path},
			{http.MethodGet, "gzip", "*", v.path, "/" + v.path},
			{http.MethodGet, "gzip", cur.views[s.views.at(v.path)].variants[0].etag, v.path, "/" + v.path},
			{http.MethodGet, "br", `"nope"`, v.path, "/" + v.path},
		} {
			do := func(path string) *httptest.ResponseRecorder {
				r := httptest.NewRequest(tc.method, path, nil)
				if tc.encoding != "" {
					r.Header.Set("Accept-Encoding", tc.encoding)
				}
				if tc.inm != "" {
					r.Header.Set("If-None-Match", tc.inm)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				return rec
			}
			fast, routed := do(tc.fast), do(tc.viaRoute)
			if fast.Code != routed.Code || !reflect.DeepEqual(fast.Header(), routed.Header()) || fast.Body.String() != routed.Body.String() {
				t.Errorf("%s %s (%q, If-None-Match %q): fast %d %v (%d bytes), router (%s) %d %v (%d bytes)",
					tc.method, tc.fast, tc.encoding, tc.inm, fast.Code, fast.Header(), fast.Body.Len(),
					tc.viaRoute, routed.Code, routed.Header(), routed.Body.Len())
			}
			if fast.Code != http.StatusOK && fast.Code != http.StatusNotModified {
				t.Errorf("%s %s: %d", tc.method, tc.fast, fast.Code)
			}
		}
	}
	// Only GET and HEAD of those paths take it; the rest is routed as before.
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodPost, "/status/report", http.StatusNotFound},
		{http.MethodOptions, "/", http.StatusNotFound},
		{http.MethodGet, "/status/report/x", http.StatusNotFound},
		{http.MethodGet, "/status", http.StatusNotFound},
	} {
		if rec := do(t, h, tc.method, tc.path); rec.Code != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, rec.Code, tc.want)
		}
	}
}

// A prepared view is answered without allocating, whatever the
// Accept-Encoding and If-None-Match.
func TestFastPathDoesNotAllocate(t *testing.T) {
	s := benchServer(t, fixedSnapshots{largeSnapshot(40, 3)})
	h := s.Handler()
	for _, tc := range []struct{ path, encoding, inm string }{
		{"/status/report", "gzip, deflate, br, zstd", ""},
		{"/status/report/", "gzip;q=0.8, br;q=0.9, identity;q=0.1", ""},
		{"/", "gzip", ""},
		{"/status/text/", "", ""},
		{"/badge/icon", "", ""},
		{"/status/report", "br", "*"},
	} {
		r := httptest.NewRequest(http.MethodGet, tc.path, nil)
		if tc.encoding != "" {
			r.Header.Set("Accept-Encoding", tc.encoding)
		}
		if tc.inm != "" {
			r.Header.Set("If-None-Match", tc.inm)
		}
		w := &discardWriter{h: http.Header{}}
		h.ServeHTTP(w, r)
		if n := testing.AllocsPerRun(200, func() {
			clear(w.h)
			h.ServeHTTP(w, r)
		}); n != 0 || (w.code != http.StatusOK && w.code != http.StatusNotModified) {
			t.Errorf("%s (%q): %d, %v allocations per request", tc.path, tc.encoding, w.code, n)
		}
	}
}

func TestQValue(t *testing.T) {
	for in, want := range map[string]int{
		"1": 1000, "1.": 1000, "1.000": 1000, "0": 0, "0.5": 500, ".5": 500, "0.001": 1, "0.0005": 1, "0.9995": 1000,
		"0.123456": 123, "1.001": 0, "2": 0, "10": 0, "": 0, ".": 0, "abc": 0, "0.5x": 0, "-0.5": 0, "5e-1": 0,
	} {
		if got := qValue(in); got != want {
			t.Errorf("qValue(%q) = %d, want %d", in, got, want)
		}
	}
}

// A rendering yields the processor as it goes: once per yieldEvery bytes
// compressed, per coding, and once per yieldEvery bytes written by a
// template.
func TestRenderingYields(t *testing.T) {
	yields := 0
	e := encoders{yield: func() { yields++ }}
	body := bytes.Repeat([]byte("<li class=\"healthy\">replica</li>\n"), 20000)
	p := e.prepare(body, "text/html; charset=utf-8", "x")
	if len(p.variants) != 3 {
		t.Fatalf("%d variants", len(p.variants))
	}
	if want := 2 * (len(body) / yieldEvery); yields != want {
		t.Fatalf("%d yields compressing %d bytes twice, want %d", yields, len(body), want)
	}
	for _, v := range p.variants {
		if got := decode(t, v.coding, v.body); !bytes.Equal(got, body) {
			t.Fatalf("%s variant does not decode to the body", v.coding)
		}
	}

	yields = 0
	var out bytes.Buffer
	y := yielder{w: &out, yield: func() { yields++ }}
	for range 10000 {
		if _, err := y.Write(body[:100]); err != nil {
			t.Fatal(err)
		}
	}
	if want := 10000 * 100 / yieldEvery; yields != want || out.Len() != 10000*100 {
		t.Fatalf("template writes: %d yields, %d bytes; want %d yields", yields, out.Len(), want)
	}
}
