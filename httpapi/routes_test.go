package httpapi

import (
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/vigil-go/vigil/messages"
)

// The router holds exactly the routes of the route table, each once.
func TestRouteTableIsEveryRoute(t *testing.T) {
	s := reconfigServer(siteTestConfig(nil), &observed{})
	var want, got []string
	seen := map[string]bool{}
	for _, rt := range s.routeTable() {
		for _, m := range strings.Fields(rt.methods) {
			key := m + " " + rt.path
			if seen[key] {
				t.Errorf("%s listed twice", key)
			}
			seen[key] = true
			want = append(want, key)
		}
	}
	for _, ri := range s.echo.Router().Routes() {
		got = append(got, ri.Method+" "+ri.Path)
	}
	sort.Strings(want)
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("registered routes:\n%s\nroute table:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The API groups' middleware runs for their routes only: an unknown path
// or method under /reporter or /manager is an empty 404 without a
// challenge, and is not counted; an API without its actor is a 404 too.
func TestGroupsAnswerUnknownPathsWith404(t *testing.T) {
	obs := &observed{}
	h := reconfigServer(siteTestConfig(nil), obs).Handler()
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/reporter/web/api"},
		{http.MethodPost, "/reporter/web"},
		{http.MethodPost, "/reporter/web/api/x/y"},
		{http.MethodGet, "/reporter"},
		{http.MethodGet, "/manager/unknown"},
		{http.MethodPost, "/manager/announcements"},
		{http.MethodGet, "/manager"},
	} {
		for _, auth := range []string{"", basic("", "wrong")} {
			rec := authed(t, h, tc.method, tc.path, auth)
			if rec.Code != 404 || rec.Body.Len() != 0 || rec.Header().Get("WWW-Authenticate") != "" {
				t.Errorf("%s %s (auth %q): %d %q %v, want an empty 404", tc.method, tc.path, auth, rec.Code, rec.Body.String(), rec.Header())
			}
		}
	}
	if n := obs.count(); n != 0 {
		t.Errorf("%d unknown API requests counted", n)
	}

	bare := New(Options{Addr: "127.0.0.1:0", Snapshots: fixedSnapshots{&messages.Snapshot{}}, ReporterToken: "r", ManagerToken: "m",
		Observe: obs.observe, Logger: slog.New(slog.DiscardHandler)}).Handler()
	for _, tc := range []struct{ method, path, auth string }{
		{http.MethodPost, "/reporter/web/api", basic("", "r")},
		{http.MethodDelete, "/reporter/web/api/x", ""},
		{http.MethodGet, "/manager/announcements", basic("", "m")},
		{http.MethodGet, "/manager/prober/alerts", ""},
		{http.MethodGet, "/healthz", ""},
		{http.MethodGet, "/metrics", ""},
	} {
		rec := authed(t, bare, tc.method, tc.path, tc.auth)
		if rec.Code != 404 || rec.Body.Len() != 0 || rec.Header().Get("WWW-Authenticate") != "" {
			t.Errorf("%s %s without its actor: %d %v, want an empty 404", tc.method, tc.path, rec.Code, rec.Header())
		}
	}
	if n := obs.count(); n != 0 {
		t.Errorf("%d requests counted for APIs that are not there", n)
	}
}

// Basic auth of both APIs (spec §7.2): 401 without usable credentials and
// 403 with a wrong password, both challenging; any username, an empty one
// included; each API its own token.
func TestGroupBasicAuth(t *testing.T) {
	obs := &observed{}
	h := reconfigServer(siteTestConfig(nil), obs).Handler()
	for _, tc := range []struct {
		name, path, auth string
		want             int
	}{
		{"no header", "/manager/prober/alerts", "", 401},
		{"other scheme", "/manager/prober/alerts", "Bearer m1", 401},
		{"lowercase scheme", "/manager/prober/alerts", strings.Replace(basic("", "m1"), "Basic", "basic", 1), 401},
		{"garbled", "/manager/prober/alerts", "Basic %%%", 401},
		{"no colon", "/manager/prober/alerts", "Basic bTE=", 401},
		{"wrong password", "/manager/prober/alerts", basic("", "m2"), 403},
		{"the other API's token", "/manager/prober/alerts", basic("", "r1"), 403},
		{"empty user", "/manager/prober/alerts", basic("", "m1"), 200},
		{"any user", "/manager/prober/alerts", basic("ops", "m1"), 200},
		{"reporter, wrong password", "/reporter/web/api/x", basic("", "m1"), 403},
		{"reporter, no header", "/reporter/web/api/x", "", 401},
	} {
		method := http.MethodGet
		if strings.HasPrefix(tc.path, "/reporter") {
			method = http.MethodDelete
		}
		rec := authed(t, h, method, tc.path, tc.auth)
		challenge := rec.Header().Get("WWW-Authenticate")
		if rec.Code != tc.want || (tc.want >= 400) != (challenge == realm) {
			t.Errorf("%s: %d (WWW-Authenticate %q), want %d", tc.name, rec.Code, challenge, tc.want)
		}
		if tc.want >= 400 && rec.Body.Len() != 0 {
			t.Errorf("%s: body %q", tc.name, rec.Body.String())
		}
	}
	if n := obs.count(); n != 11 {
		t.Errorf("%d requests counted, want 11 (refused ones too)", n)
	}
}
