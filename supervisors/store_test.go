package supervisors

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-go/vigil/actors/persist"
	"github.com/vigil-go/vigil/actors/state"
	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage"
)

// gatedStore holds its first Apply until release is closed.
type gatedStore struct {
	storage.Repairable
	once    sync.Once
	held    chan struct{} // closed once the first Apply is held
	release chan struct{}
}

func newGatedStore(s storage.Repairable) *gatedStore {
	return &gatedStore{Repairable: s, held: make(chan struct{}), release: make(chan struct{})}
}

func (g *gatedStore) Apply(ctx context.Context, b storage.Batch) error {
	first := false
	g.once.Do(func() { first = true })
	if first {
		close(g.held)
		<-g.release
	}
	return g.Repairable.Apply(ctx, b)
}

func openBolt(t *testing.T) storage.Repairable {
	t.Helper()
	db, err := storage.OpenBolt(filepath.Join(t.TempDir(), "state.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// storeConfig has one poll replica and an alert policy without notifiers.
func storeConfig() *config.Config {
	cfg := treeConfig("")
	cfg.Notify = &config.Notify{ReminderBackoffFunction: "none"}
	cfg.Probe.Services[0].Nodes[0].Replicas = cfg.Probe.Services[0].Nodes[0].Replicas[:1]
	return cfg
}

func storedStatus(t *testing.T, db storage.Store, key messages.ReplicaKey) (messages.Status, bool) {
	t.Helper()
	st, err := db.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range st.Replicas {
		if r.Key == key {
			return r.Status, true
		}
	}
	return 0, false
}

// TestShutdownLeavesNewestStateOnDisk: while the store writer is busy with
// one batch and holds an older one queued, the state actor stops with a
// newer status pending. Its last batch goes through the same writer, after
// the queued one, so the newest status is what the disk keeps.
func TestShutdownLeavesNewestStateOnDisk(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		logger := slog.New(slog.DiscardHandler)
		db := openBolt(t)
		store := newGatedStore(db)
		w := persist.New(store, logger)
		a := state.New(storeConfig(), &state.Published{}, logger, state.Options{Store: store, Writer: w})
		writerCtx, stopWriter := context.WithCancel(t.Context())
		stateCtx, stopState := context.WithCancel(t.Context())
		writerDone, stateDone := make(chan struct{}), make(chan struct{})
		go func() { w.Serve(writerCtx); close(writerDone) }()
		go func() { a.Serve(stateCtx); close(stateDone) }()

		key := messages.ReplicaKey{Probe: "web", Node: "api", Replica: "http://a/"}
		probe := func(s messages.Status) {
			a.Inbox() <- messages.ReplicaProbed{Key: key, Result: messages.ProbeResult{Status: s, Latency: time.Millisecond}}
			synctest.Wait()
		}
		probe(messages.Dead) // notified: handed over at once, and held by the store
		<-store.held
		probe(messages.Healthy) // notified: queued behind it
		probe(messages.Sick)    // healthy to sick is not notified: pending
		stopState()
		synctest.Wait()
		close(store.release)
		<-stateDone
		stopWriter() // the tree's order: the writer stops after the state actor
		<-writerDone

		if got, ok := storedStatus(t, db, key); !ok || got != messages.Sick {
			t.Fatalf("stored status %v (found %v), want the newest, sick", got, ok)
		}
	})
}

// lastWriter is a service of Root that, once told to stop, waits for the
// test's go-ahead and then writes a batch through the tree's store writer.
type lastWriter struct {
	writer   *persist.Writer
	batch    storage.Batch
	stopping chan struct{}
	goAhead  chan struct{}
	result   chan error
}

func (l *lastWriter) Serve(ctx context.Context) error {
	<-ctx.Done()
	close(l.stopping)
	<-l.goAhead
	wctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	reply := make(chan error, 1)
	if err := l.writer.Write(wctx, l.batch, reply); err != nil {
		l.result <- err
		return ctx.Err()
	}
	select {
	case err := <-reply:
		l.result <- err
	case <-wctx.Done():
		l.result <- errors.New("the store writer had stopped before every actor of Root")
	}
	return ctx.Err()
}

// TestTreeStopsStoreWriterAfterRoot: however long the services of Root
// take to stop, the store writer still writes what they hand it; it stops
// after them.
func TestTreeStopsStoreWriterAfterRoot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openBolt(t)
		tree, err := Build(storeConfig(), Deps{Logger: slog.New(slog.DiscardHandler), Store: db,
			ProbeFactory: &fakeFactory{probes: map[string]*switchable{}}, DisableWeb: true})
		if err != nil {
			t.Fatal(err)
		}
		key := messages.ReplicaKey{Probe: "web", Node: "api", Replica: "last"}
		last := &lastWriter{writer: tree.writer, stopping: make(chan struct{}), goAhead: make(chan struct{}), result: make(chan error, 1),
			batch: storage.Batch{PutReplicas: []storage.Replica{{Key: key, Status: messages.Dead}}}}
		tree.Root.Add(last)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- tree.Serve(ctx) }()
		synctest.Wait()
		cancel()
		<-last.stopping
		synctest.Wait() // every other actor has stopped, or waits on something that will not come
		close(last.goAhead)
		if err := <-last.result; err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got, ok := storedStatus(t, db, key); !ok || got != messages.Dead {
			t.Fatalf("batch written during the shutdown not stored: %v %v", got, ok)
		}
	})
}
