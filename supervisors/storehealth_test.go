package supervisors

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage"
	"github.com/vigil-go/vigil/storage/storagetest"
	"github.com/vigil-go/vigil/testkit"
)

// heldRebuild holds its first Rebuild until release is closed.
type heldRebuild struct {
	storage.Repairable
	once    sync.Once
	held    chan struct{}
	release chan struct{}
}

func (h *heldRebuild) Rebuild(ctx context.Context, st *storage.State) (string, error) {
	h.once.Do(func() {
		close(h.held)
		<-h.release
	})
	return h.Repairable.Rebuild(ctx, st)
}

// flaky fails every Apply while fail is set ("disk full").
type flaky struct {
	storage.Repairable
	fail atomic.Bool
}

func (f *flaky) Apply(ctx context.Context, b storage.Batch) error {
	if f.fail.Load() {
		return errors.New("no space left on device")
	}
	return f.Repairable.Apply(ctx, b)
}

func (f *flaky) Rebuild(ctx context.Context, st *storage.State) (string, error) {
	if f.fail.Load() {
		return "", errors.New("no space left on device")
	}
	return f.Repairable.Rebuild(ctx, st)
}

// startWeb runs tree (built to report its address on addrs) and returns
// its base URL and a function that stops it (SIGTERM), which the test's
// end also calls.
func startWeb(t *testing.T, tree *Tree, addrs chan net.Addr) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tree.Serve(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("tree stopped with %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("tree did not stop")
			}
		})
	}
	t.Cleanup(stop)
	select {
	case a := <-addrs:
		return "http://" + a.String(), stop
	case <-time.After(5 * time.Second):
		t.Fatal("the web server did not listen")
		return "", stop
	}
}

func request(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("", token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// readiness polls /readyz until its code is want and its body contains
// reason; it returns the body.
func readiness(t *testing.T, base string, want int, reason string) string {
	t.Helper()
	var code int
	var body string
	testkit.Eventually(t, 10*time.Second, func() bool {
		code, body = get(t, base, "/readyz", "")
		return code == want && strings.Contains(body, reason)
	}, "/readyz answers %d %q, want %d with %q", code, body, want, reason)
	return body
}

// TestStoreDamagedWhileRunning: the store file is truncated in place under
// a running tree. Readiness says so at once; the next writes find the
// damage and the store is rebuilt from the state in memory (the damaged
// file moved aside), after which readiness is back and writes are durable:
// a reopened store has everything, also what was written before the
// damage.
func TestStoreDamagedWhileRunning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := storage.OpenBolt(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	store := &heldRebuild{Repairable: db, held: make(chan struct{}), release: make(chan struct{})}
	cfg := storeConfig()
	addrs := make(chan net.Addr, 1)
	tree, err := Build(cfg, Deps{Logger: slog.New(slog.DiscardHandler), Store: store, Listening: func(a net.Addr) { addrs <- a },
		ProbeFactory: &fakeFactory{probes: map[string]*switchable{}}})
	if err != nil {
		t.Fatal(err)
	}
	base, stop := startWeb(t, tree, addrs)
	readiness(t, base, http.StatusOK, "ready")
	if err := tree.State.AddAnnouncement(t.Context(), messages.Announcement{ID: "before", Title: "Before"}); err != nil {
		t.Fatal(err)
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	body := readiness(t, base, http.StatusServiceUnavailable, "truncated")
	if !strings.HasPrefix(body, "state store: ") {
		t.Fatalf("readiness reason %q does not name the store", body)
	}
	select {
	case <-store.held: // probe results written since found the damage
	case <-time.After(10 * time.Second):
		t.Fatal("no rebuild after the damage")
	}
	if code, _ := get(t, base, "/readyz", ""); code != http.StatusServiceUnavailable {
		t.Fatalf("readiness %d while the rebuild runs", code)
	}
	close(store.release)
	readiness(t, base, http.StatusOK, "ready")
	if got := tree.writer.Damage(); got != 1 {
		t.Fatalf("damage counted %d times, want 1", got)
	}
	if err := tree.State.AddAnnouncement(t.Context(), messages.Announcement{ID: "after", Title: "After"}); err != nil {
		t.Fatal(err)
	}
	aside, _ := filepath.Glob(path + ".damaged-*")
	if len(aside) != 1 {
		t.Fatalf("damaged file moved aside as %v, want one file", aside)
	}

	// A restart reads everything back.
	stop()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := storage.OpenBolt(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	st, err := again.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range st.Announcements {
		ids = append(ids, a.ID)
	}
	if strings.Join(ids, ",") != "before,after" || len(st.Replicas) != 1 || st.Alerting == nil {
		t.Fatalf("reopened store: announcements %v, %d replicas, alerting %v; want before,after, 1, set", ids, len(st.Replicas), st.Alerting)
	}
}

// TestManagerWriteAllOrNothing: while the store fails (a full disk), a
// Manager API change is answered 503 and shows nowhere (page, report,
// announcement list, snapshot), and readiness says why; once the store
// works again readiness is back and the same change succeeds and shows.
func TestManagerWriteAllOrNothing(t *testing.T) {
	store := &flaky{Repairable: storagetest.New(t)}
	cfg := storeConfig()
	cfg.Server.ManagerToken = "m"
	addrs := make(chan net.Addr, 1)
	tree, err := Build(cfg, Deps{Logger: slog.New(slog.DiscardHandler), Store: store, Listening: func(a net.Addr) { addrs <- a },
		ProbeFactory: &fakeFactory{probes: map[string]*switchable{}}})
	if err != nil {
		t.Fatal(err)
	}
	base, _ := startWeb(t, tree, addrs)
	readiness(t, base, http.StatusOK, "ready")

	const title = "Disk replacement tonight"
	post := func() (int, string) {
		return request(t, http.MethodPost, base+"/manager/announcement", "m", `{"title":"`+title+`","text":"Expect a short outage."}`)
	}
	shown := func() []string {
		var where []string
		if _, page := get(t, base, "/", ""); strings.Contains(page, title) {
			where = append(where, "page")
		}
		if _, report := get(t, base, "/status/report", ""); strings.Contains(report, title) {
			where = append(where, "report")
		}
		if _, list := get(t, base, "/manager/announcements", "m"); strings.Contains(list, title) {
			where = append(where, "announcement list")
		}
		if len(tree.Published.Latest().Announcements) > 0 {
			where = append(where, "snapshot")
		}
		return where
	}

	store.fail.Store(true)
	if code, body := post(); code != http.StatusServiceUnavailable {
		t.Fatalf("announcement on a failing store: %d %q, want 503", code, body)
	}
	if where := shown(); len(where) > 0 {
		t.Fatalf("announcement answered 503 is shown in: %v", where)
	}
	readiness(t, base, http.StatusServiceUnavailable, "no space left on device")
	if where := shown(); len(where) > 0 {
		t.Fatalf("announcement answered 503 is shown later in: %v", where)
	}

	store.fail.Store(false)
	readiness(t, base, http.StatusOK, "ready")
	if code, body := post(); code != http.StatusOK {
		t.Fatalf("announcement once the store works: %d %q", code, body)
	}
	if where := shown(); strings.Join(where, ",") != "page,announcement list,snapshot" {
		t.Fatalf("stored announcement shown in %v, want the page, the list and the snapshot", where)
	}
	st, err := store.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Announcements) != 1 || st.Announcements[0].Title != title {
		t.Fatalf("stored announcements %+v, want the one answered 200", st.Announcements)
	}
}
