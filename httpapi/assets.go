package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash/fnv"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/static"
)

// Static files (spec §7.3): the stylesheet, the refresh script, badges,
// fonts, images and robots.txt. Each comes from the embedded tree unless the
// configured assets directory holds a regular file at the same relative
// path (an existing installation's assets.path keeps its fonts and images).
//
// Path parameters are taken from the escaped request path (so "%2F" never
// splits a segment), percent-decoded once and rejected when empty, "." or
// "..", or when they contain a separator, NUL or another control character
// (spec §11 item 17). Override files are opened through os.Root, which also
// refuses symlinks and ".." that would leave the directory.

// embeddedModTime is the Last-Modified of embedded files: the process start,
// which is stable for a running server and independent of the build.
var embeddedModTime = time.Now().UTC().Truncate(time.Second)

// embeddedAssets holds every embedded file, read once at start: its body
// and content-hash entity tag, and for a text file of at least compressMin
// bytes (the stylesheet, the script) brotli and gzip variants built by the
// encoders of the prepared views, so that no request compresses anything.
var embeddedAssets = func() map[string]*prepared {
	var enc encoders
	assets := map[string]*prepared{}
	err := fs.WalkDir(static.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.FS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		base := hex.EncodeToString(sum[:10])
		if t := assetType(p); strings.HasPrefix(t, "text/") || t == "image/svg+xml" || t == "application/json" {
			assets[p] = enc.prepare(b, t, base)
		} else {
			assets[p] = &prepared{variants: []variant{newVariant("", b, `"`+base+`"`)}}
		}
		return nil
	})
	if err != nil {
		panic("httpapi: reading embedded assets: " + err.Error())
	}
	return assets
}()

// assetTypes fixes the media types of common asset extensions, independent
// of the host's mime.types.
var assetTypes = map[string]string{
	".css":   "text/css; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".json":  "application/json",
	".map":   "application/json",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".jpg":   "image/jpeg",
	".jpeg":  "image/jpeg",
	".gif":   "image/gif",
	".webp":  "image/webp",
	".avif":  "image/avif",
	".ico":   "image/x-icon",
	".woff":  "font/woff",
	".woff2": "font/woff2",
	".ttf":   "font/ttf",
	".otf":   "font/otf",
	".eot":   "application/vnd.ms-fontobject",
	".txt":   "text/plain; charset=utf-8",
	".html":  "text/html; charset=utf-8",
	".xml":   "application/xml",
}

func assetType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := assetTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

// assetFile is an opened static file: an override file, or an embedded
// one with its variants.
type assetFile struct {
	content  io.ReadSeeker
	closer   io.Closer
	modTime  time.Time
	etag     string
	embedded *prepared
}

// openAsset finds rel (slash-separated, made of vetted segments) in the
// override directory dir (when set), then in the embedded tree.
func openAsset(dir, rel string) (*assetFile, bool) {
	if dir != "" {
		if f, ok := openOverride(dir, rel); ok {
			return f, true
		}
	}
	p, ok := embeddedAssets[rel]
	if !ok {
		return nil, false
	}
	id := &p.variants[0]
	return &assetFile{content: bytes.NewReader(id.body), closer: io.NopCloser(nil), modTime: embeddedModTime,
		etag: id.etag, embedded: p}, true
}

// openOverride opens dir/rel without ever leaving dir: os.Root refuses
// absolute paths, ".." and symlinks that resolve outside it.
func openOverride(dir, rel string) (*assetFile, bool) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, false
	}
	defer root.Close() // files opened through it stay valid
	f, err := root.Open(filepath.FromSlash(rel))
	if err != nil {
		return nil, false
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		_ = f.Close()
		return nil, false
	}
	// The tag covers the name too: two files of one size extracted at the
	// same instant (say two badges) must not share it.
	h := fnv.New64a()
	_, _ = h.Write([]byte(rel))
	etag := `"o` + strconv.FormatUint(h.Sum64(), 36) + "-" + strconv.FormatInt(st.Size(), 36) + "-" +
		strconv.FormatInt(st.ModTime().UnixNano(), 36) + `"`
	return &assetFile{content: f, closer: f, modTime: st.ModTime(), etag: etag}, true
}

// serveAsset answers with rel, or an empty 404. Without lastModified only
// the ETag validates the response (badges).
func (s *Server) serveAsset(c *echo.Context, rel, contentType string, lastModified bool) error {
	f, ok := openAsset(s.site.Load().assetsDir, rel)
	if !ok {
		return c.NoContent(http.StatusNotFound)
	}
	defer f.closer.Close()
	w := c.Response()
	h := w.Header()
	if contentType == "" {
		contentType = assetType(rel)
	}
	h.Set(echo.HeaderContentType, contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	content, etag := f.content, f.etag
	if p := f.embedded; p != nil && p.vary != nil {
		h.Set("Vary", "Accept-Encoding")
		if v := p.choose(c.Request().Header["Accept-Encoding"]); v.coding != "" {
			// A coded body goes whole: ServeContent would cut ranges of
			// it and leave Content-Length out.
			content, etag = bytes.NewReader(v.body), v.etag
			h.Set("Content-Encoding", v.coding)
			h.Set("Content-Length", strconv.Itoa(len(v.body)))
			c.Request().Header.Del("Range")
		}
	}
	if etag != "" {
		h.Set("ETag", etag)
	}
	mod := f.modTime
	if !lastModified {
		mod = time.Time{}
	}
	http.ServeContent(w, c.Request(), path.Base(rel), mod, content)
	return nil
}

// assetRoute serves /assets/<kind>/<n segments> from <dir>/<segments>.
func (s *Server) assetRoute(prefix, dir string, n int) echo.HandlerFunc {
	return func(c *echo.Context) error {
		parts, ok := pathParams(c.Request(), prefix, n)
		if !ok {
			return c.NoContent(http.StatusNotFound)
		}
		return s.serveAsset(c, dir+"/"+strings.Join(parts, "/"), "", true)
	}
}

// badge serves /badge/<kind>: the <kind> badge of the general status.
func (s *Server) badge(c *echo.Context) error {
	parts, ok := pathParams(c.Request(), "/badge/", 1)
	if !ok {
		return c.NoContent(http.StatusNotFound)
	}
	status := messages.Healthy
	if snap := s.snapshots.Latest(); snap != nil {
		status = snap.Status
	}
	return s.serveAsset(c, badgeFile(parts[0], status), "image/svg+xml", false)
}

// robots serves /robots.txt.
func (s *Server) robots(c *echo.Context) error {
	return s.serveAsset(c, "public/robots.txt", "text/plain; charset=utf-8", true)
}

var errBadSegment = errors.New("bad path segment")

// pathParams returns the n segments that follow prefix in the escaped
// request path, each percent-decoded exactly once and vetted by
// checkSegment. Working on the escaped form keeps "%2F" inside its segment.
func pathParams(r *http.Request, prefix string, n int) ([]string, bool) {
	raw := r.URL.RawPath
	if raw == "" {
		raw = r.URL.EscapedPath()
	}
	rest, ok := strings.CutPrefix(raw, prefix)
	if !ok {
		return nil, false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != n {
		return nil, false
	}
	for i, p := range parts {
		d, err := url.PathUnescape(p)
		if err == nil {
			err = checkSegment(d)
		}
		if err != nil {
			return nil, false
		}
		parts[i] = d
	}
	return parts, true
}

// checkSegment accepts one decoded file or folder name: not empty, not "."
// or "..", no separator, NUL or control character, and local on this OS
// (filepath.IsLocal also refuses absolute and Windows-reserved names).
func checkSegment(seg string) error {
	if seg == "" || seg == "." || seg == ".." {
		return errBadSegment
	}
	for i := 0; i < len(seg); i++ {
		if b := seg[i]; b == '/' || b == '\\' || b < 0x20 || b == 0x7f {
			return errBadSegment
		}
	}
	if !filepath.IsLocal(seg) {
		return errBadSegment
	}
	return nil
}
