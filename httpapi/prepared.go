package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/vigil-go/vigil/messages"
)

// Prepared views: the public read routes (/, /status/text, /status/report,
// the badges) are served from bytes rendered ahead of the request.
//
// Owns: one renderer per Server. Its goroutine is the only caller of the
// view functions: it renders every registered view from the latest
// snapshot, builds the compressed variants of each body once, and
// publishes the whole set as one immutable rendering behind an atomic
// pointer. Requests only pick bytes out of the current rendering.
//
// Receives: nothing on a mailbox. It reads the published snapshot
// (Snapshots.Latest, never blocking the state actor) once per RenderEvery
// and renders when the snapshot changed or the UTC year did (the footer), so
// at most once per RenderEvery however often probes publish; and at once
// when the site configuration changed (Server.Reconfigure). A kick
// (buffered, never blocking the sender) wakes it early: the first request,
// a request that must show a write, and a new site configuration.
//
// Read your writes: a reporter or Manager API write that answers 200 first
// raises the must-be-visible watermark to the generation of a snapshot that
// shows its effect (expect). A read whose current rendering is older kicks
// the renderer, which then renders at once (bypassing the cadence), and
// waits for it at most VisibleWait. A read that follows no pending write
// never waits; only the very first request may wait for the first
// rendering. A new site configuration raises a second watermark the same
// way (expectSite), so that reads after Reconfigure show it.
//
// Lifetime: the goroutine runs while the server is served (Serve). A
// handler used on its own (tests) starts it on its first request; it then
// stops after idleStop without requests.

// view renders one public representation of a snapshot with one site
// configuration: the body and its media type. now is the rendering time
// (UTC), for what depends on the clock. It runs on the renderer goroutine
// only, never on a request.
type view func(site *siteConfig, snap *messages.Snapshot, now time.Time) (body []byte, contentType string, err error)

// namedView is one entry of the registry.
type namedView struct {
	name string
	// path is where the view is served (GET and HEAD).
	path   string
	render view
	// tag, when set, gives the entity-tag base of a rendering; otherwise
	// it is a hash of the body (so equal bytes keep their tag).
	tag func(site *siteConfig, snap *messages.Snapshot, now time.Time) string
}

const (
	// RenderEvery is the rendering cadence: the renderer looks at the
	// snapshot this often and renders when it changed.
	RenderEvery = time.Second
	// VisibleWait bounds how long a read waits for a rendering that shows
	// a write answered before it.
	VisibleWait = 2 * time.Second
	// firstWait bounds how long the first request waits for the first
	// rendering (503 after that). A rendering takes milliseconds; the bound
	// is for a machine starved of CPU (a page of 1,000 nodes with history
	// took over 10 s under the race detector on a loaded machine).
	firstWait = 30 * time.Second
	// idleStop stops the goroutine of a renderer that is not pinned by a
	// served server after this long without a request.
	idleStop = time.Minute
)

// rendering is one immutable set of prepared views.
type rendering struct {
	// snap is the snapshot rendered (nil: nothing rendered yet) and site
	// the configuration it was rendered with.
	snap *messages.Snapshot
	site *siteConfig
	gen  uint64
	year int
	at   time.Time
	// views is indexed like renderer.views.
	views []*prepared
	// next is closed when a newer rendering replaces this one.
	next chan struct{}
}

// renderer owns the prepared views of one Server (see above).
type renderer struct {
	snapshots Snapshots
	// site gives the current site configuration.
	site   func() *siteConfig
	views  []namedView
	logger *slog.Logger
	// every, wait and idle are RenderEvery, VisibleWait and idleStop;
	// tests shorten or lengthen them before the first request.
	every, wait, idle time.Duration

	current atomic.Pointer[rendering]
	// visible is the must-be-visible watermark (a snapshot generation),
	// visibleSite the one of site configurations (an epoch).
	visible     atomic.Uint64
	visibleSite atomic.Uint64
	kick        chan struct{}
	// empty stands in for a missing snapshot.
	empty *messages.Snapshot
	// renders counts renderings (tests, benchmarks).
	renders atomic.Uint64

	// Lifecycle: running is set while the goroutine runs; pins counts the
	// served servers that keep it running; lastUse is the last request
	// (Unix nanoseconds).
	running atomic.Bool
	pins    atomic.Int64
	lastUse atomic.Int64
	// exited is closed when the goroutine started last has ended.
	exited atomic.Pointer[chan struct{}]

	// enc is used by the renderer goroutine only.
	enc encoders
}

func newRenderer(snapshots Snapshots, site func() *siteConfig, logger *slog.Logger, views []namedView) *renderer {
	r := &renderer{
		snapshots: snapshots, site: site, views: views, logger: logger,
		every: RenderEvery, wait: VisibleWait, idle: idleStop,
		kick: make(chan struct{}, 1), empty: &messages.Snapshot{},
	}
	r.current.Store(&rendering{next: make(chan struct{})})
	return r
}

// index returns the registry position of the view called name.
func (r *renderer) index(name string) int {
	for i, v := range r.views {
		if v.name == name {
			return i
		}
	}
	panic("httpapi: no view " + name)
}

// at returns the registry position of the view served at path p, as
// requested (one trailing slash allowed), or -1.
func (r *renderer) at(p string) int {
	if len(p) > 1 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	for i := range r.views {
		if r.views[i].path == p {
			return i
		}
	}
	return -1
}

// expect raises the must-be-visible watermark to gen: reads from now on
// wait (bounded) for a rendering of generation gen or newer.
func (r *renderer) expect(gen uint64) {
	for {
		cur := r.visible.Load()
		if cur >= gen || r.visible.CompareAndSwap(cur, gen) {
			return
		}
	}
}

// expectSite makes reads from now on wait (bounded) for a rendering made
// with site configuration epoch or a newer one, and wakes the renderer,
// which renders it at once.
func (r *renderer) expectSite(epoch uint64) {
	for {
		cur := r.visibleSite.Load()
		if cur >= epoch || r.visibleSite.CompareAndSwap(cur, epoch) {
			break
		}
	}
	r.poke()
}

// shows tells whether rendering cur may serve a read that must show
// generation gen and site configuration epoch.
func (cur *rendering) shows(gen, epoch uint64) bool {
	return cur.snap != nil && cur.gen >= gen && cur.site.epoch >= epoch
}

// poke wakes the renderer without ever blocking.
func (r *renderer) poke() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

var errNotRendered = errors.New("no rendering yet")

// ready returns the rendering a request is served from: the current one,
// unless it is older than a watermark (then a newer one, waited for at
// most r.wait) or there is none yet (waited for at most firstWait).
func (r *renderer) ready(ctx context.Context) (*rendering, error) {
	r.touch()
	cur := r.current.Load()
	need, needSite := r.visible.Load(), r.visibleSite.Load()
	if cur.shows(need, needSite) {
		return cur, nil
	}
	r.poke()
	bound := r.wait
	if cur.snap == nil {
		bound = firstWait
	}
	timer := time.NewTimer(bound)
	defer timer.Stop()
	for {
		select {
		case <-cur.next:
			cur = r.current.Load()
			if cur.shows(need, needSite) {
				return cur, nil
			}
		case <-timer.C:
			return r.late(cur, need, needSite)
		case <-ctx.Done():
			if cur.snap == nil {
				return nil, ctx.Err()
			}
			return cur, nil
		}
	}
}

// late settles a read whose wait ran out: it gets the newest rendering
// there is. A watermark that no rendering reached in time is dropped to
// what is rendered, so that later reads do not all wait for it.
func (r *renderer) late(cur *rendering, need, needSite uint64) (*rendering, error) {
	if cur.snap == nil {
		return nil, errNotRendered
	}
	if cur.gen < need && r.visible.CompareAndSwap(need, cur.gen) {
		r.logger.Warn("a write was not rendered in time; serving the latest rendering", "want", need, "rendered", cur.gen)
	}
	if cur.site.epoch < needSite && r.visibleSite.CompareAndSwap(needSite, cur.site.epoch) {
		r.logger.Warn("a new configuration was not rendered in time; serving the latest rendering")
	}
	return cur, nil
}

// touch records a request and starts the goroutine when it is not running.
// A renderer started here after having stopped has an old rendering: the
// watermark makes this request wait for a fresh one. While a served server
// pins the renderer, the goroutine runs whatever requests do, and touch
// only reads.
func (r *renderer) touch() {
	if r.pins.Load() > 0 {
		return
	}
	r.lastUse.Store(time.Now().UnixNano())
	if r.running.Load() || !r.running.CompareAndSwap(false, true) {
		return
	}
	if r.current.Load().snap != nil {
		r.expect(r.latest().Generation)
	}
	r.start()
}

// start runs the goroutine; the caller has just set running.
func (r *renderer) start() {
	exited := make(chan struct{})
	r.exited.Store(&exited)
	go r.run(exited)
}

// waitStopped waits at most d for the goroutine to end.
func (r *renderer) waitStopped(d time.Duration) {
	p := r.exited.Load()
	if p == nil {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-*p:
	case <-timer.C:
	}
}

// pin keeps the goroutine running (and starts it) until release is
// called; Serve pins its server's renderer.
func (r *renderer) pin() (release func()) {
	r.pins.Add(1)
	if r.running.CompareAndSwap(false, true) {
		r.start()
	}
	var done atomic.Bool
	return func() {
		if done.CompareAndSwap(false, true) {
			r.pins.Add(-1)
			r.lastUse.Store(0)
			r.poke()
		}
	}
}

// idleNow tells whether nothing keeps the goroutine running.
func (r *renderer) idleNow() bool {
	return r.pins.Load() == 0 && time.Since(time.Unix(0, r.lastUse.Load())) >= r.idle
}

// stopping tells the goroutine whether to end. A request or pin racing with
// the decision either sees running cleared (and starts a new goroutine) or
// is seen by the second look.
func (r *renderer) stopping() bool {
	if !r.idleNow() {
		return false
	}
	r.running.Store(false)
	if !r.idleNow() && r.running.CompareAndSwap(false, true) {
		return false
	}
	return true
}

// run is the renderer goroutine; it closes exited when it ends.
func (r *renderer) run(exited chan struct{}) {
	defer close(exited)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
		case <-r.kick:
		}
		if r.stopping() {
			return
		}
		timer.Reset(r.step(time.Now()))
	}
}

func (r *renderer) latest() *messages.Snapshot {
	if s := r.snapshots.Latest(); s != nil {
		return s
	}
	return r.empty
}

// step renders when due and returns how long to sleep until the next look.
func (r *renderer) step(now time.Time) time.Duration {
	now = now.UTC()
	cur := r.current.Load()
	snap := r.latest()
	site := r.site()
	if cur.snap == snap && cur.site == site && cur.year == now.Year() {
		return r.every
	}
	// A new site configuration, like a write to show, skips the cadence.
	urgent := cur.snap == nil || r.visible.Load() > cur.gen || cur.site != site
	if since := now.Sub(cur.at); !urgent && since < r.every {
		return r.every - since
	}
	r.render(site, snap, now)
	return r.every
}

// render builds every view for snap and site and publishes the set.
func (r *renderer) render(site *siteConfig, snap *messages.Snapshot, now time.Time) {
	prev := r.current.Load()
	next := &rendering{snap: snap, site: site, gen: snap.Generation, year: now.Year(), at: now,
		views: make([]*prepared, len(r.views)), next: make(chan struct{})}
	for i, v := range r.views {
		var old *prepared
		if prev.views != nil {
			old = prev.views[i]
		}
		next.views[i] = r.prepare(v, old, site, snap, now)
	}
	r.renders.Add(1)
	r.current.Store(next)
	close(prev.next)
}

// prepare renders one view. A failed rendering keeps the previous good one
// (logged); with none, requests get the error. Bytes equal to the previous
// rendering's keep its variants and entity tags.
func (r *renderer) prepare(v namedView, old *prepared, site *siteConfig, snap *messages.Snapshot, now time.Time) *prepared {
	body, contentType, err := v.render(site, snap, now)
	if err != nil {
		r.logger.Error("rendering failed", "view", v.name, "error", err)
		if old != nil && old.err == nil {
			return old
		}
		return &prepared{err: err}
	}
	if old != nil && old.err == nil && old.contentType[0] == contentType && bytes.Equal(old.variants[0].body, body) {
		return old
	}
	var base string
	if v.tag != nil {
		base = v.tag(site, snap, now)
	} else {
		sum := sha256.Sum256(body)
		base = base64.RawURLEncoding.EncodeToString(sum[:12])
	}
	return r.enc.prepare(body, contentType, base)
}

// writeWait bounds how long a reporter API write waits for the state actor
// to publish it.
const writeWait = 2 * time.Second

// awaitPublished waits (at most writeWait) for the generation of the
// snapshot that shows an accepted reporter write, and makes reads wait for
// its rendering. It waits on the state actor, never on rendering. Should
// the state actor not answer in time, the write is still answered (it was
// accepted) and shows up with a later rendering.
func (s *Server) awaitPublished(ctx context.Context, visible <-chan uint64) {
	timer := time.NewTimer(writeWait)
	defer timer.Stop()
	select {
	case gen := <-visible:
		s.views.expect(gen)
	case <-timer.C:
		s.logger.Warn("a reporter write was not published in time", "wait", writeWait)
	case <-ctx.Done():
	}
}

// readYourWrite wraps a Manager API write: after a 200, the next reads wait
// for a rendering of the latest snapshot, which shows the change (the state
// actor publishes a change before it answers).
func (s *Server) readYourWrite(h echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		err := h(c)
		if resp, _ := echo.UnwrapResponse(c.Response()); err == nil && resp != nil && resp.Status == http.StatusOK {
			s.views.expect(s.snapshots.Latest().Generation)
		}
		return err
	}
}
