package storage

import (
	"bytes"
	"context"
	"errors"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-go/vigil/messages"
	bolt "go.etcd.io/bbolt"
)

// hangBound is how long a call on a damaged store may take before the
// test calls it hung. Every call must in fact return at once; the bound
// only keeps a hang from stalling the suite.
const hangBound = 5 * time.Second

// returnsWithin runs fn and fails the test if it has not returned within
// d (it is then left running: it is hung).
func returnsWithin(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		t.Fatalf("%s did not return within %v", what, d)
	}
}

func damagedFiles(t *testing.T, path string) []string {
	t.Helper()
	m, err := filepath.Glob(path + ".damaged-*")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// openFilled opens a store at path holding a representative state and
// returns it with that state.
func openFilled(t *testing.T, path string, o options) (*boltStore, *State) {
	t.Helper()
	s, err := openBolt(path, discard(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	b := bigBatch(300)
	b.PutReplicas = append(b.PutReplicas, replicaFixtures()...)
	mustApply(t, s, b)
	return s.(*boltStore), mustLoad(t, s)
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// liveDamages ruin the file of an open store.
var liveDamages = []struct {
	name string
	do   func(t *testing.T, path string)
	// inPlace: the damaged file is still at the path (and is what Rebuild
	// moves aside); otherwise another file or none is.
	inPlace bool
}{
	{"truncated to zero", func(t *testing.T, path string) {
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
	}, true},
	{"truncated to half", func(t *testing.T, path string) {
		if err := os.Truncate(path, fileSize(t, path)/2); err != nil {
			t.Fatal(err)
		}
	}, true},
	{"overwritten with garbage", func(t *testing.T, path string) {
		b := make([]byte, fileSize(t, path))
		r := rand.New(rand.NewPCG(3, 4))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}, true},
	{"meta pages zeroed", func(t *testing.T, path string) {
		overwrite(t, path, 0, make([]byte, 2*4096))
	}, true},
	{"removed", func(t *testing.T, path string) {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}, false},
	{"another file renamed over it", func(t *testing.T, path string) {
		other := path + ".new"
		if err := os.WriteFile(other, []byte("someone else's file\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(other, path); err != nil {
			t.Fatal(err)
		}
	}, false},
	{"another store renamed over it", func(t *testing.T, path string) {
		other := path + ".new"
		writeState(t, other)
		if err := os.Rename(other, path); err != nil {
			t.Fatal(err)
		}
	}, false},
	{"truncated by one byte", func(t *testing.T, path string) {
		if err := os.Truncate(path, fileSize(t, path)-1); err != nil {
			t.Fatal(err)
		}
	}, true},
	{"metas rolled back to older transactions", func(t *testing.T, path string) {
		// Valid metas (checksums recomputed) that are older than the last
		// commit, as in an older copy written over the file.
		b := readFile(t, path)
		for i := range 2 {
			m := b[pageHeaderSize+i*4096:]
			nativeEndian.PutUint64(m[48:], nativeEndian.Uint64(m[48:])-2)
			sum := fnv.New64a()
			_, _ = sum.Write(m[:metaChecksum])
			nativeEndian.PutUint64(m[metaChecksum:], sum.Sum64())
		}
		overwrite(t, path, 0, b[:2*4096])
	}, true},
}

// TestDamagedWhileOpen damages the file of an open store: the next Apply
// fails with ErrDamaged at once, so do all later calls, Health reports it,
// Rebuild moves what is at the path aside and writes the caller's state to
// a new file, the store works again, and a restart loads that state.
func TestDamagedWhileOpen(t *testing.T) {
	t.Parallel()
	for _, d := range liveDamages {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "state.db")
			o := testOptions()
			fixed := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
			o.now = func() time.Time { return fixed }
			logger, logs := newLogger()
			s, want := openFilled(t, path, o)
			s.logger = logger
			if err := s.Health(); err != nil {
				t.Fatalf("Health before the damage: %v", err)
			}
			d.do(t, path)
			var atPath []byte
			if d.name != "removed" {
				atPath = readFile(t, path)
			}

			var err error
			returnsWithin(t, hangBound, "Apply", func() { err = s.Apply(context.Background(), bigBatch(20)) })
			if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Apply after damage: %v, want ErrDamaged naming the path", err)
			}
			t.Logf("Apply: %v", err)
			returnsWithin(t, hangBound, "second Apply", func() { err = s.Apply(context.Background(), bigBatch(20)) })
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("second Apply: %v, want ErrDamaged", err)
			}
			returnsWithin(t, hangBound, "Load", func() { _, err = s.Load(context.Background()) })
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("Load: %v, want ErrDamaged", err)
			}
			if err := s.Health(); !errors.Is(err, ErrDamaged) {
				t.Fatalf("Health: %v, want ErrDamaged", err)
			}
			if !strings.Contains(logs.String(), "store damaged while open") {
				t.Errorf("no log line for the damage:\n%s", logs)
			}

			var moved string
			returnsWithin(t, hangBound, "Rebuild", func() { moved, err = s.Rebuild(context.Background(), want) })
			if err != nil {
				t.Fatalf("Rebuild: %v", err)
			}
			switch {
			case atPath == nil && moved != "":
				t.Fatalf("nothing was at the path, but Rebuild moved %q", moved)
			case atPath != nil && moved != path+".damaged-20260506T070809Z":
				t.Fatalf("moved to %q", moved)
			case atPath != nil && !bytes.Equal(readFile(t, moved), atPath):
				t.Fatal("the moved-aside file is not what was at the path")
			}
			if err := s.Health(); err != nil {
				t.Fatalf("Health after Rebuild: %v", err)
			}
			if got := mustLoad(t, s); !reflect.DeepEqual(got, want) {
				t.Fatal("state after Rebuild differs from the state given")
			}
			mustApply(t, s, Batch{Alerting: &Alerting{Escalate: 9}})
			want.Alerting = &Alerting{Escalate: 9}
			returnsWithin(t, hangBound, "Close", func() { err = s.Close() })
			if err != nil {
				t.Fatalf("Close: %v", err)
			}

			s2, err := open(path, discard(), o)
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			if got := mustLoad(t, s2); !reflect.DeepEqual(got, want) {
				t.Fatal("state after restart differs")
			}
			if c := corruptFiles(t, path); len(c) != 0 {
				t.Fatalf("the rebuilt file was found corrupt: %v", c)
			}
		})
	}
}

// TestCloseDamagedStore: a store damaged while open closes at once without
// Rebuild, and releases the file: the next Open at the path works.
func TestCloseDamagedStore(t *testing.T) {
	t.Parallel()
	for _, d := range liveDamages {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "state.db")
			s, _ := openFilled(t, path, testOptions())
			d.do(t, path)
			var err error
			returnsWithin(t, hangBound, "Apply", func() { err = s.Apply(context.Background(), bigBatch(20)) })
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("Apply: %v, want ErrDamaged", err)
			}
			returnsWithin(t, hangBound, "Close", func() { _ = s.Close() })
			if err := s.Health(); !errors.Is(err, ErrClosed) {
				t.Errorf("Health after Close: %v, want ErrClosed", err)
			}
			if _, err := s.Rebuild(context.Background(), &State{}); !errors.Is(err, ErrClosed) {
				t.Errorf("Rebuild after Close: %v, want ErrClosed", err)
			}
			s2, err := open(path, discard(), testOptions())
			if err != nil {
				t.Fatalf("Open after closing the damaged store: %v", err)
			}
			_ = s2.Close()
		})
	}
}

// TestBboltPanicDoesNotWedge damages the file between Apply's check and
// its write transaction, so that bbolt itself hits the damage: it panics
// while holding its write lock, which it then never releases. The store
// must fail, never call bbolt again, close at once, release the file, and
// rebuild.
func TestBboltPanicDoesNotWedge(t *testing.T) {
	t.Parallel()
	for _, rebuild := range []bool{false, true} {
		t.Run(map[bool]string{false: "close", true: "rebuild"}[rebuild], func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "state.db")
			o := testOptions()
			var once sync.Once
			o.beforeWrite = func() {
				once.Do(func() {
					if err := os.Truncate(path, 0); err != nil {
						t.Error(err)
					}
				})
			}
			s, err := openBolt(path, discard(), o)
			if err != nil {
				t.Fatal(err)
			}
			bs := s.(*boltStore)
			returnsWithin(t, hangBound, "Apply", func() { err = s.Apply(context.Background(), bigBatch(20)) })
			if !errors.Is(err, ErrDamaged) || !bs.h.poisoned.Load() {
				t.Fatalf("Apply: %v (poisoned %v), want ErrDamaged from a bbolt panic", err, bs.h.poisoned.Load())
			}
			t.Logf("Apply: %v", err)
			returnsWithin(t, hangBound, "second Apply", func() { err = s.Apply(context.Background(), bigBatch(20)) })
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("second Apply: %v", err)
			}
			if rebuild {
				want := &State{Alerting: &Alerting{Escalate: 4}}
				returnsWithin(t, hangBound, "Rebuild", func() { _, err = s.Rebuild(context.Background(), want) })
				if err != nil {
					t.Fatalf("Rebuild: %v", err)
				}
				if got := mustLoad(t, s); !reflect.DeepEqual(got, want) {
					t.Fatalf("after Rebuild: %+v", got)
				}
				if len(damagedFiles(t, path)) != 1 {
					t.Fatalf("damaged files: %v", damagedFiles(t, path))
				}
			}
			returnsWithin(t, hangBound, "Close", func() { err = s.Close() })
			if err != nil {
				t.Fatalf("Close: %v", err)
			}
			// The lock is released: the file opens again (Open moves the
			// empty file aside if Rebuild did not replace it).
			s2, err := open(path, discard(), testOptions())
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			_ = s2.Close()
		})
	}
}

// TestCloseIsBounded: when bbolt cannot close (a write transaction that
// never ends holds its lock), Close gives up waiting after the close
// timeout, releases the file and says so.
func TestCloseIsBounded(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	o := testOptions()
	o.closeTimeout = 100 * time.Millisecond
	s, err := openBolt(path, discard(), o)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := s.(*boltStore).h.db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	returnsWithin(t, hangBound, "Close", func() { err = s.Close() })
	if err == nil || !strings.Contains(err.Error(), "did not close within") {
		t.Fatalf("Close: %v, want a timeout error", err)
	}
	if err := s.Apply(context.Background(), Batch{Alerting: &Alerting{}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Apply after Close: %v", err)
	}
	// The lock was released without bbolt.
	s2, err := openBolt(path, discard(), testOptions())
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	_ = s2.Close()
	_ = tx.Rollback()
}

// TestHealthNoticesDamageWithoutWrites: readiness learns of a replaced
// file even when nothing is written.
func TestHealthNoticesDamageWithoutWrites(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	s, _ := openFilled(t, path, testOptions())
	if err := s.Health(); err != nil {
		t.Fatal(err)
	}
	liveDamages[5].do(t, path)
	err := s.Health()
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "another file was put in its place") {
		t.Fatalf("Health: %v", err)
	}
	if err := s.Apply(context.Background(), Batch{Alerting: &Alerting{}}); !errors.Is(err, ErrDamaged) {
		t.Fatalf("Apply: %v", err)
	}
}

// TestHealthDuringWrites: Health, reading the meta pages while commits
// rewrite them, never mistakes a healthy store for a damaged one.
func TestHealthDuringWrites(t *testing.T) {
	t.Parallel()
	s, _ := openFilled(t, filepath.Join(t.TempDir(), "state.db"), testOptions())
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for i := range 60 {
			b := bigBatch(1 + i%50)
			if err := s.Apply(context.Background(), b); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := s.Health(); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
}

// TestRebuildHealthyStore replaces the contents in place: no file moved.
func TestRebuildHealthyStore(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	s, _ := openFilled(t, path, testOptions())
	want := &State{
		Announcements: []Announcement{ann("x", 7), ann("y", 9)},
		Replicas:      replicaFixtures()[:3],
	}
	moved, err := s.Rebuild(context.Background(), want)
	if err != nil || moved != "" {
		t.Fatalf("Rebuild: moved %q, %v", moved, err)
	}
	got := mustLoad(t, s)
	if ids(got.Announcements) != "x@7 y@9" || !reflect.DeepEqual(byKey(got.Replicas), byKey(want.Replicas)) || got.Alerting != nil {
		t.Fatalf("after Rebuild: %s, %d replicas, alerting %+v", ids(got.Announcements), len(got.Replicas), got.Alerting)
	}
	// The index was rebuilt too.
	mustApply(t, s, Batch{DeleteAnnouncements: []string{"x"}})
	if got := ids(mustLoad(t, s).Announcements); got != "y@9" {
		t.Fatalf("after retracting x: %s", got)
	}
	if m := damagedFiles(t, path); len(m) != 0 {
		t.Fatalf("healthy file moved aside: %v", m)
	}
	// An empty state empties the store.
	if _, err := s.Rebuild(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if got := mustLoad(t, s); !reflect.DeepEqual(got, &State{}) {
		t.Fatalf("after Rebuild(nil): %+v", got)
	}
}

// TestRebuildLeavesOutBadRecords: records of the state that cannot be
// stored are reported; the store is rebuilt and healthy.
func TestRebuildLeavesOutBadRecords(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	s, want := openFilled(t, path, testOptions())
	liveDamages[0].do(t, path)
	if err := s.Apply(context.Background(), Batch{Alerting: &Alerting{}}); !errors.Is(err, ErrDamaged) {
		t.Fatalf("Apply: %v", err)
	}
	huge := Replica{Key: messages.ReplicaKey{Probe: "push", Node: "n", Replica: strings.Repeat("x", 40<<10)}}
	st := *want
	st.Replicas = append(append([]Replica(nil), want.Replicas...), huge)
	_, err := s.Rebuild(context.Background(), &st)
	var rej *RejectedError
	if !errors.As(err, &rej) || len(rej.Records) != 1 || rej.Records[0].Replica != huge.Key {
		t.Fatalf("Rebuild: %v, want the huge replica rejected", err)
	}
	if err := s.Health(); err != nil {
		t.Fatal(err)
	}
	if got := mustLoad(t, s); !reflect.DeepEqual(got, want) {
		t.Fatal("state after Rebuild differs")
	}
}

// TestFailedWriteChangesNothing: a batch whose transaction fails is
// rolled back as a whole (records are left out only before it starts).
func TestFailedWriteChangesNothing(t *testing.T) {
	t.Parallel()
	s, before := openFilled(t, filepath.Join(t.TempDir(), "state.db"), testOptions())
	e, rejected := encodeBatch(bigBatch(600))
	if len(rejected) != 0 {
		t.Fatal(rejected)
	}
	boom := errors.New("boom")
	s.mu.Lock()
	err := s.write(s.h, func(tx *bolt.Tx) error {
		if err := applyBatch(tx, e); err != nil {
			return err
		}
		return boom
	})
	s.mu.Unlock()
	if !errors.Is(err, boom) {
		t.Fatalf("write: %v", err)
	}
	if err := s.Health(); err != nil {
		t.Fatalf("a failed transaction is not damage: %v", err)
	}
	if after := mustLoad(t, s); !reflect.DeepEqual(after, before) {
		t.Fatal("a failed transaction changed the state")
	}
}
