package httpapi

import (
	"bytes"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
)

// Content codings of the prepared views. Each rendering of a view keeps its
// identity body and, when the body is at least compressMin bytes, a brotli
// and a gzip variant, built once by the renderer (never per request). The
// levels keep a whole rendering cheap: for the 1,000-node page (about
// 600 KB) both variants together cost a few tens of milliseconds (see
// BenchmarkRenderAll). zstd is not offered: every browser that accepts it
// also accepts brotli, which is preferred, so it would only cost a third
// encoding per rendering.
const (
	brotliQuality = 5
	gzipLevel     = 6
	// compressMin: smaller bodies (the status text, the badges) are sent
	// as they are; a few hundred bytes gain nothing worth a variant.
	compressMin = 1024
	// cacheControl lets browsers and shared caches reuse a response for as
	// long as the renderer would keep it: one RenderEvery.
	cacheControl = "public, max-age=1"
)

// variant is one encoding of a prepared body, with its header values
// prebuilt (each slice has len == cap, so that no response can append to a
// shared one).
type variant struct {
	coding string // "" for identity
	body   []byte
	etag   string // quoted
	etagH  []string
	length []string
	encH   []string
}

// prepared is one view of one rendering. Header values are prebuilt
// slices with len == cap, never modified: responses share them.
type prepared struct {
	contentType, cacheControl, vary, noSniff []string
	// variants: identity first, then the compressed ones in server
	// preference order (brotli, gzip).
	variants []variant
	// err is a rendering error with no earlier good rendering to serve.
	err error
}

// encoders compress prepared bodies; owned by the renderer goroutine.
type encoders struct {
	br *brotli.Writer
	gz *gzip.Writer
	// yield, when set, replaces runtime.Gosched between chunks (tests).
	yield func()
}

func (e *encoders) brotli(body []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(body) / 8)
	if e.br == nil {
		e.br = brotli.NewWriterLevel(&out, brotliQuality)
	} else {
		e.br.Reset(&out)
	}
	e.feed(e.br, body)
	_ = e.br.Close()
	return out.Bytes()
}

func (e *encoders) gzip(body []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(body) / 6)
	if e.gz == nil {
		e.gz, _ = gzip.NewWriterLevel(&out, gzipLevel) // the level is valid
	} else {
		e.gz.Reset(&out)
	}
	e.feed(e.gz, body)
	_ = e.gz.Close()
	return out.Bytes()
}

// feed writes body to a compressor in chunks of yieldEvery bytes, letting
// requests waiting for a processor run between chunks (yielder).
func (e *encoders) feed(w io.Writer, body []byte) {
	y := yielder{w: w, yield: e.yield}
	for len(body) > 0 {
		n := min(len(body), yieldEvery)
		_, _ = y.Write(body[:n]) // compressors writing to a bytes.Buffer cannot fail
		body = body[n:]
	}
}

// yieldEvery is how many bytes a rendering writes or compresses between
// two yields: about a millisecond of work.
const yieldEvery = 32 << 10

// yielder passes writes on to w and yields the processor (runtime.Gosched)
// after every yieldEvery bytes. A rendering of a large page takes tens of
// milliseconds of CPU; without yielding, requests queued behind it on the
// same processor wait until the scheduler preempts it (10 ms), which is
// what their slowest percentile would show.
type yielder struct {
	w     io.Writer
	n     int
	yield func()
}

func (y *yielder) Write(p []byte) (int, error) {
	n, err := y.w.Write(p)
	if y.n += n; y.n >= yieldEvery {
		y.n = 0
		if y.yield != nil {
			y.yield()
		} else {
			runtime.Gosched()
		}
	}
	return n, err
}

func newVariant(coding string, body []byte, etag string) variant {
	v := variant{coding: coding, body: body, etag: etag, etagH: []string{etag}, length: []string{strconv.Itoa(len(body))}}
	if coding != "" {
		v.encH = []string{coding}
	}
	return v
}

// prepare builds the variants of one body. A compressed variant that does
// not save a tenth of the body is dropped.
func (e *encoders) prepare(body []byte, contentType, base string) *prepared {
	p := &prepared{contentType: []string{contentType}, cacheControl: []string{cacheControl}, noSniff: []string{"nosniff"},
		variants: []variant{newVariant("", body, `"`+base+`"`)}}
	if len(body) < compressMin {
		return p
	}
	for _, c := range []struct {
		name, suffix string
		encode       func([]byte) []byte
	}{{"br", "br", e.brotli}, {"gzip", "gz", e.gzip}} {
		out := c.encode(body)
		if len(out) > len(body)-len(body)/10 {
			continue
		}
		p.variants = append(p.variants, newVariant(c.name, out, `"`+base+"-"+c.suffix+`"`))
	}
	if len(p.variants) > 1 {
		p.vary = []string{"Accept-Encoding"}
	}
	return p
}

// choose picks the variant for the request's Accept-Encoding (RFC 9110
// §12.5.3): the highest q-value wins, ties go to the server's order
// (brotli, gzip, identity); q=0 excludes a coding; "*" stands for every
// coding not listed; identity is acceptable unless excluded and ranks
// below any listed coding; with no field, or nothing acceptable, identity.
// It reads the fields in place: nothing is allocated.
func (p *prepared) choose(fields []string) *variant {
	if len(p.variants) == 1 || len(fields) == 0 {
		return &p.variants[0]
	}
	const unlisted = -1
	qBr, qGzip, qIdentity, qStar := unlisted, unlisted, unlisted, unlisted
	for _, field := range fields {
		for field != "" {
			item := field
			if i := strings.IndexByte(field, ','); i >= 0 {
				item, field = field[:i], field[i+1:]
			} else {
				field = ""
			}
			name, params, _ := strings.Cut(item, ";")
			switch name = strings.TrimSpace(name); {
			case strings.EqualFold(name, "gzip"), strings.EqualFold(name, "x-gzip"):
				qGzip = parseQ(params)
			case strings.EqualFold(name, "br"):
				qBr = parseQ(params)
			case strings.EqualFold(name, "identity"):
				qIdentity = parseQ(params)
			case name == "*":
				qStar = parseQ(params)
			}
		}
	}
	resolve := func(q int) int {
		if q == unlisted {
			return qStar
		}
		return q
	}
	// Identity: acceptable unless excluded, below any listed coding.
	best, bestQ := &p.variants[0], qIdentity
	if bestQ == unlisted {
		bestQ = 1
		if qStar == 0 {
			bestQ = 0
		}
	}
	// Compressed variants win ties, in the server's order.
	for i := len(p.variants) - 1; i >= 1; i-- {
		v := &p.variants[i]
		q := resolve(qGzip)
		if v.coding == "br" {
			q = resolve(qBr)
		}
		if q > 0 && q >= bestQ {
			best, bestQ = v, q
		}
	}
	return best
}

// parseQ reads the q parameter of an Accept-Encoding item, in thousandths
// (1000 when absent; 0 when malformed, which excludes the item).
func parseQ(params string) int {
	for params != "" {
		param := params
		if i := strings.IndexByte(params, ';'); i >= 0 {
			param, params = params[:i], params[i+1:]
		} else {
			params = ""
		}
		k, v, ok := strings.Cut(param, "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
			return qValue(strings.TrimSpace(v))
		}
	}
	return 1000
}

// qValue parses a q-value (digits, a point, digits; within 0 and 1) in
// thousandths, rounded; 0 when malformed or above 1.
func qValue(v string) int {
	whole, frac, _ := strings.Cut(v, ".")
	if whole == "" && frac == "" {
		return 0
	}
	q := 0
	for i := 0; i < len(whole); i++ {
		c := whole[i]
		if c < '0' || c > '9' {
			return 0
		}
		q = q*10 + int(c-'0')*1000
		if q > 1000 {
			return 0
		}
	}
	scale := 100
	for i := 0; i < len(frac); i++ {
		c := frac[i]
		if c < '0' || c > '9' {
			return 0
		}
		d := int(c - '0')
		switch {
		case q >= 1000 && d != 0:
			return 0 // above 1
		case i < 3:
			q += d * scale
			scale /= 10
		case i == 3 && d >= 5:
			q++
		}
	}
	return min(q, 1000)
}

// notModified evaluates If-None-Match (RFC 9110 §13.1.2, weak comparison):
// it reports whether a listed tag is the tag of any variant of p, and the
// tag to answer with: the selected variant's when listed, else the matched
// one (so "If-None-Match: <identity tag>" from the page's refresh script
// is answered 304 whichever coding the request would get).
func (p *prepared) notModified(fields []string, selected *variant) (string, bool) {
	matched := ""
	for _, field := range fields {
		for rest := field; rest != ""; {
			rest = strings.TrimLeft(rest, " \t,")
			if rest == "" {
				break
			}
			if rest[0] == '*' {
				return selected.etag, true
			}
			rest = strings.TrimPrefix(rest, "W/")
			if rest == "" || rest[0] != '"' {
				break // malformed: ignore the rest of the field
			}
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				break
			}
			tag := rest[:end+2]
			rest = rest[end+2:]
			if tag == selected.etag {
				return tag, true
			}
			if matched == "" {
				for i := range p.variants {
					if p.variants[i].etag == tag {
						matched = tag
						break
					}
				}
			}
		}
	}
	return matched, matched != ""
}

// write answers one request from a prepared view: 304 when If-None-Match
// matches, else 200 with the chosen variant (headers only for HEAD). Every
// header value is a prebuilt slice: nothing is allocated.
func (p *prepared) write(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	v := p.choose(r.Header["Accept-Encoding"])
	h["Cache-Control"] = p.cacheControl
	if p.vary != nil {
		h["Vary"] = p.vary
	}
	if inm := r.Header["If-None-Match"]; len(inm) > 0 {
		if tag, ok := p.notModified(inm, v); ok {
			h["Etag"] = p.etagH(tag, v)
			w.WriteHeader(http.StatusNotModified)
			return nil
		}
	}
	h["Etag"] = v.etagH
	h["Content-Type"] = p.contentType
	h["X-Content-Type-Options"] = p.noSniff
	h["Content-Length"] = v.length
	if v.encH != nil {
		h["Content-Encoding"] = v.encH
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	_, err := w.Write(v.body)
	return err
}

// etagH is the prebuilt ETag header value of tag, one of p's variants'.
func (p *prepared) etagH(tag string, selected *variant) []string {
	if tag == selected.etag {
		return selected.etagH
	}
	for i := range p.variants {
		if p.variants[i].etag == tag {
			return p.variants[i].etagH
		}
	}
	return []string{tag}
}
