package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/vigil-go/vigil/messages"
)

type fixedSnapshots struct{ s *messages.Snapshot }

func (f fixedSnapshots) Latest() *messages.Snapshot { return f.s }

func testServer(s *messages.Snapshot) *Server { return New(testOptions(s)) }

// testOptions are the options of testServer, for tests that add to them.
func testOptions(s *messages.Snapshot) Options {
	return Options{Addr: "127.0.0.1:0", Snapshots: fixedSnapshots{s}, Page: Page{Title: "Acme <Status>", URL: "https://status.example.com/"},
		Logger: slog.New(slog.DiscardHandler)}
}

func do(t *testing.T, h http.Handler, method, target string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

func sampleSnapshot() *messages.Snapshot {
	return &messages.Snapshot{Status: messages.Sick, Probes: []messages.ProbeSnapshot{
		{ID: "web", Label: "Web", Status: messages.Sick, Nodes: []*messages.NodeSnapshot{
			{ID: "api", Label: "API", Status: messages.Sick, Replicas: []messages.ReplicaSnapshot{
				{ID: "http://secret-host/", Status: messages.Healthy}, {ID: "tcp://b:1", Status: messages.Sick},
			}},
			{ID: "empty", Label: "Empty", Status: messages.Healthy},
		}},
	}}
}

func TestStatusText(t *testing.T) {
	h := testServer(sampleSnapshot()).Handler()
	for _, path := range []string{"/status/text", "/status/text/", "//status//text//", "/status/text?x=1"} {
		rec := do(t, h, http.MethodGet, path)
		if rec.Code != 200 || rec.Body.String() != "sick" {
			t.Fatalf("GET %s: %d %q", path, rec.Code, rec.Body.String())
		}
		if ct := rec.Header().Get("Content-Type"); ct != "text/plain; charset=UTF-8" && ct != "text/plain; charset=utf-8" {
			t.Fatalf("GET %s: content type %q", path, ct)
		}
	}
	if rec := do(t, h, http.MethodHead, "/status/text"); rec.Code != 200 {
		t.Fatalf("HEAD: %d", rec.Code)
	}
}

func TestStatusReport(t *testing.T) {
	h := testServer(sampleSnapshot()).Handler()
	rec := do(t, h, http.MethodGet, "/status/report/")
	body, _ := io.ReadAll(rec.Body)
	want := `{"health":"sick","page":{"name":"Acme \u003cStatus\u003e","url":"https://status.example.com/"},` +
		`"probes":[{"name":"Web","status":"sick","nodes":[{"name":"API","status":"sick","replicas":["healthy","sick"]},` +
		`{"name":"Empty","status":"healthy","replicas":[]}]}]}` + "\n"
	if rec.Code != 200 || string(body) != want {
		t.Fatalf("report: %d\n%s\nwant\n%s", rec.Code, body, want)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" && ct != "application/json; charset=UTF-8" {
		t.Fatalf("content type %q", ct)
	}
}

func TestUnknownRouteAndWrongMethod(t *testing.T) {
	h := testServer(sampleSnapshot()).Handler()
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/does-not-exist"},
		{http.MethodPost, "/status/text"},
		{http.MethodDelete, "/status/report"},
	} {
		rec := do(t, h, tc.method, tc.path)
		if rec.Code != http.StatusNotFound || rec.Body.Len() != 0 {
			t.Fatalf("%s %s: %d %q, want empty 404", tc.method, tc.path, rec.Code, rec.Body.String())
		}
	}
}

func TestCleanSlashes(t *testing.T) {
	for in, want := range map[string]string{
		"/": "/", "": "/", "//": "/", "/a/": "/a", "//reporter//a/b/": "/reporter/a/b", "/a%2Fb/": "/a%2Fb",
	} {
		if got := cleanSlashes(in); got != want {
			t.Errorf("cleanSlashes(%q) = %q, want %q", in, got, want)
		}
	}
}
