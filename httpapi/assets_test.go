package httpapi

import (
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/static"
)

func assetServer(t *testing.T, snaps Snapshots, assetsDir string) http.Handler {
	t.Helper()
	return New(Options{Addr: "127.0.0.1:0", Snapshots: snaps, Branding: testBranding(), AssetsDir: assetsDir,
		Logger: slog.New(slog.DiscardHandler)}).Handler()
}

func embedded(t *testing.T, name string) string {
	t.Helper()
	b, err := static.FS.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func doWith(t *testing.T, h http.Handler, method, target string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestBadges(t *testing.T) {
	holder := newSwapSnapshots(&messages.Snapshot{})
	s := New(Options{Addr: "127.0.0.1:0", Snapshots: holder, Branding: testBranding(), Logger: slog.New(slog.DiscardHandler)})
	h := s.Handler()
	tags := map[string]string{}
	for i, status := range []messages.Status{messages.Healthy, messages.Sick, messages.Dead} {
		holder.p.Store(&messages.Snapshot{Generation: uint64(i + 1), Status: status})
		showLatest(s)
		for _, kind := range []string{"color", "icon"} {
			for _, path := range []string{"/badge/" + kind, "/badge/" + kind + "/", "/badge/" + kind + "?v=2"} {
				rec := do(t, h, http.MethodGet, path)
				want := embedded(t, "images/badges/"+kind+"-"+status.String()+"-default.svg")
				if rec.Code != 200 || rec.Body.String() != want {
					t.Fatalf("GET %s (%s): %d %q", path, status, rec.Code, rec.Body.String())
				}
				hd := rec.Header()
				if hd.Get("Content-Type") != "image/svg+xml" || hd.Get("ETag") == "" ||
					hd.Get("Last-Modified") != "" || hd.Get("Content-Disposition") != "" || hd.Get("Cache-Control") != cacheControl {
					t.Fatalf("GET %s: headers %v", path, hd)
				}
				tags[kind+status.String()] = hd.Get("ETag")
			}
			rec := doWith(t, h, http.MethodGet, "/badge/"+kind, map[string]string{"If-None-Match": tags[kind+status.String()]})
			if rec.Code != http.StatusNotModified {
				t.Fatalf("conditional badge: %d", rec.Code)
			}
			if rec := do(t, h, http.MethodHead, "/badge/"+kind); rec.Code != 200 {
				t.Fatalf("HEAD badge: %d", rec.Code)
			}
		}
	}
	seen := map[string]bool{}
	for k, tag := range tags {
		if seen[tag] {
			t.Fatalf("badge %s shares its ETag %s", k, tag)
		}
		seen[tag] = true
	}
	for _, path := range []string{"/badge/nope", "/badge/", "/badge/color/x", "/badge/..%2Fbadges%2Fcolor", "/badge/%2e%2e"} {
		if rec := do(t, h, http.MethodGet, path); rec.Code != 404 || rec.Body.Len() != 0 {
			t.Fatalf("GET %s: %d %q", path, rec.Code, rec.Body.String())
		}
	}
	// Every badge variant the route can name is embedded (large ones too).
	for _, kind := range []string{"color", "icon"} {
		for _, status := range []string{"healthy", "sick", "dead"} {
			embedded(t, "images/badges/"+kind+"-"+status+"-default.svg")
		}
	}
	for _, status := range []string{"healthy", "sick", "dead"} {
		embedded(t, "images/badges/icon-"+status+"-large.svg")
	}
}

func TestRobots(t *testing.T) {
	h := assetServer(t, fixedSnapshots{&messages.Snapshot{}}, "")
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		rec := do(t, h, method, "/robots.txt")
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Fatalf("%s robots: %d %v", method, rec.Code, rec.Header())
		}
		if method == http.MethodGet && rec.Body.String() != "User-agent: *\nDisallow:\n" {
			t.Fatalf("robots body %q", rec.Body.String())
		}
	}
}

func TestAssetsServing(t *testing.T) {
	h := assetServer(t, fixedSnapshots{&messages.Snapshot{}}, "")
	css := embedded(t, "stylesheets/status.css")
	for _, tc := range []struct{ path, ctype, file string }{
		{"/assets/stylesheets/status.css", "text/css; charset=utf-8", "stylesheets/status.css"},
		{"/assets/stylesheets/status.css?v=1.2.3", "text/css; charset=utf-8", "stylesheets/status.css"},
		{"/assets/javascripts/status.js?v=1", "text/javascript; charset=utf-8", "javascripts/status.js"},
		{"/assets/images/badges/icon-dead-large.svg", "image/svg+xml", "images/badges/icon-dead-large.svg"},
		{"//assets//images/badges/color-sick-default.svg/", "image/svg+xml", "images/badges/color-sick-default.svg"},
	} {
		rec := do(t, h, http.MethodGet, tc.path)
		if rec.Code != 200 || rec.Body.String() != embedded(t, tc.file) || rec.Header().Get("Content-Type") != tc.ctype {
			t.Fatalf("GET %s: %d %v", tc.path, rec.Code, rec.Header())
		}
		if rec.Header().Get("ETag") == "" || rec.Header().Get("Last-Modified") == "" {
			t.Fatalf("GET %s: validators missing: %v", tc.path, rec.Header())
		}
	}

	rec := do(t, h, http.MethodGet, "/assets/stylesheets/status.css")
	etag, lastMod := rec.Header().Get("ETag"), rec.Header().Get("Last-Modified")
	if rec := doWith(t, h, http.MethodGet, "/assets/stylesheets/status.css", map[string]string{"If-None-Match": etag}); rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Fatalf("If-None-Match: %d", rec.Code)
	}
	if rec := doWith(t, h, http.MethodGet, "/assets/stylesheets/status.css", map[string]string{"If-Modified-Since": lastMod}); rec.Code != http.StatusNotModified {
		t.Fatalf("If-Modified-Since: %d", rec.Code)
	}
	if rec := doWith(t, h, http.MethodGet, "/assets/stylesheets/status.css", map[string]string{"If-None-Match": `"nope"`}); rec.Code != 200 {
		t.Fatalf("stale If-None-Match: %d", rec.Code)
	}
	rec = doWith(t, h, http.MethodGet, "/assets/stylesheets/status.css", map[string]string{"Range": "bytes=2-11"})
	if rec.Code != http.StatusPartialContent || rec.Body.String() != css[2:12] || !strings.HasPrefix(rec.Header().Get("Content-Range"), "bytes 2-11/") {
		t.Fatalf("Range: %d %q %v", rec.Code, rec.Body.String(), rec.Header())
	}
	if rec := do(t, h, http.MethodHead, "/assets/stylesheets/status.css"); rec.Code != 200 || rec.Body.Len() != 0 {
		t.Fatalf("HEAD: %d %d", rec.Code, rec.Body.Len())
	}

	for _, path := range []string{
		"/assets/stylesheets/missing.css",
		"/assets/javascripts/missing.js",
		"/assets/fonts/open_sans/open_sans_regular.woff2", // no webfont embedded
		"/assets/images/color-sick-default.svg",           // images need a folder
		"/assets/images/badges",                           // a directory
		"/assets/stylesheets",
		"/assets/images/badges/x/color-sick-default.svg", // too deep
		"/assets/templates/status.html",
		"/assets/public/robots.txt",
	} {
		if rec := do(t, h, http.MethodGet, path); rec.Code != 404 || rec.Body.Len() != 0 {
			t.Fatalf("GET %s: %d %q", path, rec.Code, rec.Body.String())
		}
	}
}

// overrideLayout builds base/config.cfg (a secret outside the assets
// directory) and base/assets/ with override files and hostile symlinks.
func overrideLayout(t *testing.T) (base, assets string) {
	t.Helper()
	base = t.TempDir()
	assets = filepath.Join(base, "assets")
	write := func(rel, content string) {
		p := filepath.Join(base, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("config.cfg", "manager_token = \"SECRET-TOKEN\"\n")
	write("assets/stylesheets/custom.css", "body { color: teal; }\n")
	write("assets/stylesheets/status.css", "/* overridden */\n")
	write("assets/fonts/open_sans/open_sans_regular.woff2", "wOF2-font-bytes")
	write("assets/images/brand/logo.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>")
	write("assets/images/badges/color-healthy-default.svg", "<svg><!-- custom healthy --></svg>")
	write("assets/public/robots.txt", "User-agent: *\nDisallow: /\n")
	write("assets/stylesheets/a b%.css", "spaced")
	if err := os.MkdirAll(filepath.Join(assets, "javascripts", "dir.js"), 0o755); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"assets/stylesheets/evil.css":   "../../config.cfg",                // file outside
		"assets/stylesheets/abs.css":    filepath.Join(base, "config.cfg"), // absolute, outside
		"assets/images/out":             "../..",                           // directory outside
		"assets/images/brand/alias.svg": "logo.svg",                        // inside: fine
	}
	for link, target := range links {
		if err := os.Symlink(target, filepath.Join(base, filepath.FromSlash(link))); err != nil {
			t.Skipf("symlinks unavailable: %v", err)
		}
	}
	return base, assets
}

func TestAssetsOverrideDir(t *testing.T) {
	_, assets := overrideLayout(t)
	holder := newSwapSnapshots(&messages.Snapshot{Status: messages.Healthy})
	s := New(Options{Addr: "127.0.0.1:0", Snapshots: holder, Branding: testBranding(), AssetsDir: assets,
		Logger: slog.New(slog.DiscardHandler)})
	h := s.Handler()
	for _, tc := range []struct{ path, body, ctype string }{
		{"/assets/stylesheets/custom.css", "body { color: teal; }\n", "text/css; charset=utf-8"},
		{"/assets/stylesheets/status.css", "/* overridden */\n", "text/css; charset=utf-8"},
		{"/assets/fonts/open_sans/open_sans_regular.woff2", "wOF2-font-bytes", "font/woff2"},
		{"/assets/images/brand/logo.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>", "image/svg+xml"},
		{"/assets/images/brand/alias.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>", "image/svg+xml"},
		{"/assets/javascripts/status.js", embedded(t, "javascripts/status.js"), "text/javascript; charset=utf-8"},
		{"/badge/color", "<svg><!-- custom healthy --></svg>", "image/svg+xml"},
		{"/robots.txt", "User-agent: *\nDisallow: /\n", "text/plain; charset=utf-8"},
		// Escaped names are decoded exactly once.
		{"/assets/stylesheets/a%20b%25.css", "spaced", "text/css; charset=utf-8"},
		{"/assets/stylesheets/custom%2Ecss", "body { color: teal; }\n", "text/css; charset=utf-8"},
		{"/assets/images/%62rand/logo.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>", "image/svg+xml"},
	} {
		rec := do(t, h, http.MethodGet, tc.path)
		if rec.Code != 200 || rec.Body.String() != tc.body || rec.Header().Get("Content-Type") != tc.ctype {
			t.Fatalf("GET %s: %d %q %v", tc.path, rec.Code, rec.Body.String(), rec.Header())
		}
		if rec.Header().Get("ETag") == "" {
			t.Fatalf("GET %s: no ETag", tc.path)
		}
		if hasLM := rec.Header().Get("Last-Modified") != ""; hasLM == strings.HasPrefix(tc.path, "/badge/") {
			t.Fatalf("GET %s: Last-Modified %q", tc.path, rec.Header().Get("Last-Modified"))
		}
		if rec := doWith(t, h, http.MethodGet, tc.path, map[string]string{"If-None-Match": rec.Header().Get("ETag")}); rec.Code != http.StatusNotModified {
			t.Fatalf("GET %s conditional: %d", tc.path, rec.Code)
		}
	}
	// A badge absent from the override falls back to the embedded one.
	holder.p.Store(&messages.Snapshot{Generation: 1, Status: messages.Dead})
	showLatest(s)
	if rec := do(t, h, http.MethodGet, "/badge/color"); rec.Body.String() != embedded(t, "images/badges/color-dead-default.svg") {
		t.Fatalf("fallback badge %q", rec.Body.String())
	}
	// A directory with a file's name is not served, nor is the embedded file
	// shadowed by nothing.
	if rec := do(t, h, http.MethodGet, "/assets/javascripts/dir.js"); rec.Code != 404 {
		t.Fatalf("directory served: %d", rec.Code)
	}
	// A changed override file changes its ETag.
	rec1 := do(t, h, http.MethodGet, "/assets/stylesheets/custom.css")
	p := filepath.Join(assets, "stylesheets", "custom.css")
	if err := os.WriteFile(p, []byte("body { color: navy; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(2 * time.Second)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	rec2 := do(t, h, http.MethodGet, "/assets/stylesheets/custom.css")
	if rec2.Body.String() != "body { color: navy; }\n" || rec1.Header().Get("ETag") == rec2.Header().Get("ETag") {
		t.Fatalf("override change: %q %s %s", rec2.Body.String(), rec1.Header().Get("ETag"), rec2.Header().Get("ETag"))
	}
}

func TestAssetsTraversal(t *testing.T) {
	_, assets := overrideLayout(t)
	attacks := []string{
		"/assets/stylesheets/..%2F..%2F..%2Fconfig.cfg",
		"/assets/stylesheets/..%2F..%2Fconfig.cfg",
		"/assets/stylesheets/..%2fconfig.cfg",
		"/assets/stylesheets/%2e%2e%2f%2e%2e%2fconfig.cfg",
		"/assets/stylesheets/%2E%2E%2F%2E%2E%2Fconfig.cfg",
		"/assets/stylesheets/%2e%2e",
		"/assets/stylesheets/%2e",
		"/assets/stylesheets/..",
		"/assets/stylesheets/.",
		"/assets/stylesheets/../../config.cfg",
		"/assets/stylesheets/..%5c..%5cconfig.cfg",
		"/assets/stylesheets/..%5Cconfig.cfg",
		"/assets/stylesheets/custom.css%00",
		"/assets/stylesheets/%00",
		"/assets/stylesheets/custom.css%00.png",
		"/assets/stylesheets/custom%0a.css",
		"/assets/stylesheets/custom%7f.css",
		"/assets/stylesheets/%252e%252e%252fconfig.cfg", // decoded once only
		"//etc/passwd",
		"/assets/stylesheets//etc/passwd",
		"/assets/stylesheets/%2Fetc%2Fpasswd",
		"/assets/stylesheets/%2F" + strings.TrimPrefix(filepath.ToSlash(filepath.Join(filepath.Dir(assets), "config.cfg")), "/"),
		"/assets/stylesheets/evil.css",  // symlink to a file outside
		"/assets/stylesheets/abs.css",   // absolute symlink outside
		"/assets/images/out/config.cfg", // symlinked directory outside
		"/assets/images/out/etc",
		"/assets/images/..%2F..%2F/config.cfg",
		"/assets/images/%2e%2e/config.cfg",
		"/assets/images/brand/..%2F..%2F..%2Fconfig.cfg",
		"/assets/images/%2e%2e/%2e%2e",
		"/assets/fonts/..%2F..%2F/config.cfg",
		"/assets/fonts/%2e%2e/config.cfg",
		"/assets/fonts/open_sans/..%2F..%2F..%2Fconfig.cfg",
		"/assets/javascripts/..%2F..%2Fconfig.cfg",
		"/badge/..%2F..%2F..%2Fconfig",
		"/assets/stylesheets/..%2F..%2F..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
	}
	for _, dir := range []string{"", assets} {
		h := assetServer(t, fixedSnapshots{&messages.Snapshot{}}, dir)
		for _, path := range attacks {
			rec := do(t, h, http.MethodGet, path)
			if rec.Code != http.StatusNotFound || rec.Body.Len() != 0 {
				t.Errorf("dir=%q GET %s: %d %q", dir, path, rec.Code, rec.Body.String())
			}
		}
	}
}

func TestCheckSegment(t *testing.T) {
	for _, ok := range []string{"status.css", "open_sans", "a b.css", "x..y", "...", "é.svg", "a:b"} {
		if err := checkSegment(ok); err != nil {
			t.Errorf("checkSegment(%q) rejected", ok)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "/etc", `a\b`, `\x`, "a\x00b", "a\nb", "\x7f", "\x1b[31m"} {
		if checkSegment(bad) == nil {
			t.Errorf("checkSegment(%q) accepted", bad)
		}
	}
}

func TestEmbeddedETagsCoverFS(t *testing.T) {
	n := 0
	err := fs.WalkDir(static.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
			if a := embeddedAssets[p]; a == nil || a.variants[0].etag == "" {
				t.Errorf("no ETag for %s", p)
			}
		}
		return err
	})
	if err != nil || n < 10 {
		t.Fatalf("walk: %v, %d files", err, n)
	}
}

// TestEmbeddedAssetsCompressed: the stylesheet and the script go out in
// the best coding the client accepts, decode to the embedded bytes, carry
// a tag of their own coding and revalidate; a range is served from the
// identity body only.
func TestEmbeddedAssetsCompressed(t *testing.T) {
	h := assetServer(t, fixedSnapshots{&messages.Snapshot{}}, "")
	for _, file := range []string{"stylesheets/status.css", "javascripts/status.js"} {
		path := "/assets/" + file + "?v=1"
		want := embedded(t, file)
		tags := map[string]bool{}
		for _, tc := range []struct{ accept, coding string }{
			{"", ""},
			{"gzip, deflate, br, zstd", "br"},
			{"gzip", "gzip"},
			{"br;q=0.5, gzip", "gzip"},
			{"identity", ""},
			{"br;q=0, gzip;q=0", ""},
		} {
			rec := doWith(t, h, http.MethodGet, path, map[string]string{"Accept-Encoding": tc.accept})
			hd := rec.Header()
			if rec.Code != 200 || hd.Get("Content-Encoding") != tc.coding || hd.Get("Vary") != "Accept-Encoding" {
				t.Fatalf("GET %s (Accept-Encoding %q): %d %v, want coding %q", path, tc.accept, rec.Code, hd, tc.coding)
			}
			if got := string(decode(t, tc.coding, rec.Body.Bytes())); got != want {
				t.Fatalf("GET %s (%q): body decodes to %d bytes, want the embedded %d", path, tc.accept, len(got), len(want))
			}
			if tc.coding != "" && (hd.Get("Content-Length") != strconv.Itoa(rec.Body.Len()) || rec.Body.Len() > len(want)*2/3) {
				t.Fatalf("GET %s (%q): Content-Length %q for %d coded bytes of %d", path, tc.accept, hd.Get("Content-Length"), rec.Body.Len(), len(want))
			}
			tags[tc.coding+" "+hd.Get("ETag")] = true
			if rec := doWith(t, h, http.MethodGet, path, map[string]string{"Accept-Encoding": tc.accept, "If-None-Match": hd.Get("ETag")}); rec.Code != http.StatusNotModified ||
				rec.Body.Len() != 0 || rec.Header().Get("Content-Encoding") != "" {
				t.Fatalf("revalidation (%q): %d %v", tc.accept, rec.Code, rec.Header())
			}
		}
		if len(tags) != 3 {
			t.Errorf("%s: want one tag per coding (3), got %v", file, tags)
		}
		rec := doWith(t, h, http.MethodGet, path, map[string]string{"Accept-Encoding": "br", "Range": "bytes=0-9"})
		if rec.Code != 200 || rec.Header().Get("Content-Range") != "" || string(decode(t, "br", rec.Body.Bytes())) != want {
			t.Fatalf("Range with br: %d %v", rec.Code, rec.Header())
		}
		rec = doWith(t, h, http.MethodHead, path, map[string]string{"Accept-Encoding": "br"})
		if rec.Code != 200 || rec.Body.Len() != 0 || rec.Header().Get("Content-Encoding") != "br" || rec.Header().Get("Content-Length") == "" {
			t.Fatalf("HEAD with br: %d %v", rec.Code, rec.Header())
		}
	}
	// Small files (the logo, the badges) are not worth a variant.
	rec := doWith(t, h, http.MethodGet, "/assets/images/brand/logo.svg", map[string]string{"Accept-Encoding": "br, gzip"})
	if rec.Code != 200 || rec.Header().Get("Content-Encoding") != "" || rec.Header().Get("Vary") != "" {
		t.Fatalf("logo: %d %v", rec.Code, rec.Header())
	}
}
