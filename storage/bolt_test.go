package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-go/vigil/messages"
	bolt "go.etcd.io/bbolt"
)

// logBuffer captures slog output.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, nil)), b
}

func testOptions() options {
	o := defaultOptions()
	o.lockTimeout = 100 * time.Millisecond
	return o
}

// fullState writes a representative state through a store at path and
// returns what Load gives back.
func writeState(t *testing.T, path string) *State {
	t.Helper()
	s, err := openBolt(path, discard(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := bigBatch(300)
	b.PutReplicas = append(b.PutReplicas, replicaFixtures()...)
	mustApply(t, s, b)
	return mustLoad(t, s)
}

func corruptFiles(t *testing.T, path string) []string {
	t.Helper()
	m, err := filepath.Glob(path + ".corrupt-*")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawUpdate edits a closed store file with bbolt directly.
func rawUpdate(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func TestBoltReopenKeepsState(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "vigil.db")
	want := writeState(t, path)
	for _, opener := range []struct {
		name string
		open func(string, *slog.Logger) (Repairable, error)
	}{{"OpenBolt", OpenBolt}, {"Open", Open}} {
		s, err := opener.open(path, discard())
		if err != nil {
			t.Fatalf("%s: %v", opener.name, err)
		}
		if got := mustLoad(t, s); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: state after reopen differs", opener.name)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if c := corruptFiles(t, path); len(c) != 0 {
		t.Fatalf("healthy file moved aside: %v", c)
	}
}

func TestBoltReopenUnchangedFile(t *testing.T) {
	t.Parallel()
	// Opening a healthy current file writes nothing.
	path := filepath.Join(t.TempDir(), "vigil.db")
	writeState(t, path)
	before := readFile(t, path)
	s, err := OpenBolt(path, discard())
	if err != nil {
		t.Fatal(err)
	}
	mustLoad(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, readFile(t, path)) {
		t.Fatal("open + load + close changed the file")
	}
}

func TestBoltPermissions(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, "vigil.db")
	s, err := OpenBolt(path, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for p, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, filepath.Dir(dir): 0o700 | os.ModeDir, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), want)
		}
	}
}

func TestBoltLocked(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "vigil.db")
	first, err := openBolt(path, discard(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	mustApply(t, first, Batch{Alerting: &Alerting{Escalate: 1}})

	for _, opener := range []struct {
		name string
		open func(string, *slog.Logger, options) (Repairable, error)
	}{{"openBolt", openBolt}, {"open", open}} {
		start := time.Now()
		s, err := opener.open(path, discard(), testOptions())
		if err == nil {
			s.Close()
			t.Fatalf("%s: second open succeeded", opener.name)
		}
		if !errors.Is(err, ErrLocked) || errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: err = %v, want ErrLocked", opener.name, err)
		}
		if want := "store " + path + " is locked by another process"; err.Error() != want {
			t.Errorf("%s: message %q, want %q", opener.name, err, want)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: took %v to fail", opener.name, d)
		}
	}
	if c := corruptFiles(t, path); len(c) != 0 {
		t.Fatalf("locked file moved aside: %v", c)
	}
	// The first store still works.
	if a := mustLoad(t, first).Alerting; a == nil || a.Escalate != 1 {
		t.Fatalf("first store after failed second open: %+v", a)
	}
}

func TestBoltLockReleasedOnClose(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "vigil.db")
	for range 3 {
		s, err := openBolt(path, discard(), testOptions())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// damage is one way to ruin a store file; it gets the path of a closed,
// healthy store.
type damage struct {
	name string
	do   func(t *testing.T, path string)
}

func overwrite(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func hwm(t *testing.T, path string) int64 {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int64
	_ = db.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil })
	return n
}

var damages = []damage{
	{"random bytes", func(t *testing.T, path string) {
		b := make([]byte, 64<<10)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}},
	{"short garbage", func(t *testing.T, path string) {
		if err := os.WriteFile(path, []byte("not a database\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}},
	{"truncated below two pages", func(t *testing.T, path string) {
		if err := os.Truncate(path, 5000); err != nil {
			t.Fatal(err)
		}
	}},
	{"truncated to half its pages", func(t *testing.T, path string) {
		if err := os.Truncate(path, hwm(t, path)/2/4096*4096); err != nil {
			t.Fatal(err)
		}
	}},
	{"both meta pages damaged", func(t *testing.T, path string) {
		overwrite(t, path, 16, bytes.Repeat([]byte{0xAB}, 64))
		overwrite(t, path, 4096+16, bytes.Repeat([]byte{0xCD}, 64))
	}},
	{"data pages zeroed", func(t *testing.T, path string) {
		n := hwm(t, path)
		overwrite(t, path, 2*4096, make([]byte, n-2*4096))
	}},
	{"value is not JSON", func(t *testing.T, path string) {
		rawUpdate(t, path, func(tx *bolt.Tx) error {
			return tx.Bucket(bucketReplicas).Put([]byte{1, 'p', 1, 'n', 1, 'r'}, []byte("{not json"))
		})
	}},
	{"value has wrong type", func(t *testing.T, path string) {
		rawUpdate(t, path, func(tx *bolt.Tx) error {
			return tx.Bucket(bucketAlerting).Put(alertingKey, []byte(`{"status":"on fire"}`))
		})
	}},
	{"announcement key malformed", func(t *testing.T, path string) {
		rawUpdate(t, path, func(tx *bolt.Tx) error {
			return tx.Bucket(bucketAnnouncements).Put([]byte("abc"), []byte(`{"id":"x"}`))
		})
	}},
	{"replica key malformed", func(t *testing.T, path string) {
		rawUpdate(t, path, func(tx *bolt.Tx) error {
			return tx.Bucket(bucketReplicas).Put([]byte{200, 'x'}, []byte(`{}`))
		})
	}},
	{"announcement index entry missing", func(t *testing.T, path string) {
		rawUpdate(t, path, func(tx *bolt.Tx) error {
			return tx.Bucket(bucketAnnouncementIDs).Delete(announcementIDKey("ann-3"))
		})
	}},
	{"announcement index entry points at another announcement", func(t *testing.T, path string) {
		rawUpdate(t, path, func(tx *bolt.Tx) error {
			return tx.Bucket(bucketAnnouncementIDs).Put(announcementIDKey("ann-3"), seqKey(1))
		})
	}},
	{"schema version malformed", func(t *testing.T, path string) {
		rawUpdate(t, path, func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte("1"))
		})
	}},
}

func TestOpenRecoversFromCorruption(t *testing.T) {
	t.Parallel()
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "vigil.db")
			writeState(t, path)
			d.do(t, path)
			damaged := readFile(t, path)

			// The raw opener reports it and leaves the file alone.
			if s, err := openBolt(path, discard(), testOptions()); !errors.Is(err, ErrCorrupt) {
				if s != nil {
					s.Close()
				}
				t.Fatalf("openBolt: err = %v, want ErrCorrupt", err)
			}
			if !bytes.Equal(damaged, readFile(t, path)) {
				t.Fatal("openBolt changed the damaged file")
			}

			logger, logs := newLogger()
			s, err := open(path, logger, testOptions())
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			if st := mustLoad(t, s); !reflect.DeepEqual(st, &State{}) {
				t.Fatalf("recovered store is not empty: %d announcements, %d replicas", len(st.Announcements), len(st.Replicas))
			}
			aside := corruptFiles(t, path)
			if len(aside) != 1 {
				t.Fatalf("corrupt files: %v", aside)
			}
			if !bytes.Equal(readFile(t, aside[0]), damaged) {
				t.Error("the moved-aside file is not the damaged file")
			}
			log := logs.String()
			for _, want := range []string{"level=ERROR", "store is corrupt", path, aside[0], "corrupt store"} {
				if !strings.Contains(log, want) {
					t.Errorf("log lacks %q:\n%s", want, log)
				}
			}
			t.Logf("log: %s", log)

			// The fresh store works and persists.
			mustApply(t, s, Batch{Alerting: &Alerting{Escalate: 5}})
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2, err := open(path, discard(), testOptions())
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			if a := mustLoad(t, s2).Alerting; a == nil || a.Escalate != 5 {
				t.Fatalf("after reopen: %+v", a)
			}
			if n := len(corruptFiles(t, path)); n != 1 {
				t.Fatalf("%d corrupt files after healthy reopen", n)
			}
		})
	}
}

// TestOpenSurvivesRandomDamage scribbles over random parts of data pages:
// whatever bbolt makes of it, Open must neither crash the process nor fail.
func TestOpenSurvivesRandomDamage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pristine := filepath.Join(dir, "pristine.db")
	writeState(t, pristine)
	good := readFile(t, pristine)
	n := hwm(t, pristine)
	iterations := 150
	if testing.Short() {
		iterations = 20
	}
	recovered := 0
	for i := range iterations {
		r := rand.New(rand.NewPCG(uint64(i), 42))
		b := bytes.Clone(good)
		for range 1 + r.IntN(4) {
			off := 2*4096 + r.Int64N(n-2*4096-64)
			for j := range 1 + r.IntN(64) {
				b[off+int64(j)] = byte(r.Uint32())
			}
		}
		path := filepath.Join(dir, "damaged.db")
		for _, m := range corruptFiles(t, path) {
			_ = os.Remove(m)
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := open(path, discard(), testOptions())
		if errors.Is(err, ErrSchemaTooNew) || errors.Is(err, ErrSchemaTooOld) {
			// The damage hit the version number: refusing and leaving the
			// file alone is right, it could be a newer binary's file.
			if !bytes.Equal(b, readFile(t, path)) {
				t.Fatalf("iteration %d: refused and changed the file", i)
			}
			continue
		}
		if err != nil {
			t.Fatalf("iteration %d: Open: %v", i, err)
		}
		if _, err := s.Load(context.Background()); err != nil {
			t.Fatalf("iteration %d: Load after Open: %v", i, err)
		}
		// Damage that passed every check must not break writing either.
		if err := s.Apply(context.Background(), bigBatch(50)); err != nil {
			t.Fatalf("iteration %d: Apply after Open: %v", i, err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("iteration %d: Close: %v", i, err)
		}
		if s, err = openBolt(path, discard(), testOptions()); err != nil {
			t.Fatalf("iteration %d: reopen after Apply: %v", i, err)
		}
		if testing.Verbose() && len(corruptFiles(t, path)) > 0 {
			_, err := openBolt(corruptFiles(t, path)[0], discard(), testOptions())
			t.Logf("iteration %d: %v", i, err)
		}
		if len(corruptFiles(t, path)) > 0 {
			recovered++
		}
		_ = s.Close()
	}
	t.Logf("%d of %d damaged files detected and moved aside", recovered, iterations)
}

func TestMoveAsideNeverOverwrites(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "vigil.db")
	o := testOptions()
	fixed := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	o.now = func() time.Time { return fixed }
	for i := range 3 {
		if err := os.WriteFile(path, []byte{byte(i), 'x'}, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := open(path, discard(), o)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	want := []string{
		path + ".corrupt-20260304T050607Z",
		path + ".corrupt-20260304T050607Z-1",
		path + ".corrupt-20260304T050607Z-2",
	}
	for i, p := range want {
		if b := readFile(t, p); !bytes.Equal(b, []byte{byte(i), 'x'}) {
			t.Errorf("%s holds %q", p, b)
		}
	}
}

func TestLoadReportsValueCorruptedWhileOpen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "vigil.db")
	s, err := openBolt(path, discard(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustApply(t, s, Batch{PutAnnouncements: []Announcement{ann("a", 1)}})
	if err := s.(*boltStore).h.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAnnouncements).Put(seqKey(1), []byte("garbage"))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(context.Background()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Load: %v, want ErrCorrupt", err)
	}
	// Writing other announcements does not read the damaged one.
	mustApply(t, s, Batch{PutAnnouncements: []Announcement{ann("b", 2)}})
	// Replacing the damaged value drops its index entry (its ID cannot be
	// read from it), so the store is consistent again.
	mustApply(t, s, Batch{PutAnnouncements: []Announcement{ann("c", 1)}})
	if got := ids(mustLoad(t, s).Announcements); got != "c@1 b@2" {
		t.Fatalf("after replacing the damaged value: %s", got)
	}
	if err := s.(*boltStore).h.view(verifyAnnouncementIndex); err != nil {
		t.Fatal(err)
	}
}

func setVersion(t *testing.T, path string, v uint64) {
	t.Helper()
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchemaVersion, binary.BigEndian.AppendUint64(nil, v))
	})
}

func TestOpenRefusesWithoutTouching(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		prepare func(t *testing.T, path string)
		is      error
		msg     string
	}{
		{"newer schema version", func(t *testing.T, path string) {
			writeState(t, path)
			setVersion(t, path, currentSchema.version+1)
		}, ErrSchemaTooNew, fmt.Sprintf("has schema version %d, this binary knows up to %d", currentSchema.version+1, currentSchema.version)},
		{"schema version without migration", func(t *testing.T, path string) {
			writeState(t, path)
			setVersion(t, path, 0)
		}, ErrSchemaTooOld, "no migration from 0 to 1"},
		{"foreign bbolt file", func(t *testing.T, path string) {
			rawUpdate(t, path, func(tx *bolt.Tx) error {
				_, err := tx.CreateBucket([]byte("someone-elses"))
				return err
			})
		}, nil, "not a vigil store"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "vigil.db")
			tc.prepare(t, path)
			before := readFile(t, path)
			for _, opener := range []struct {
				name string
				open func(string, *slog.Logger) (Repairable, error)
			}{{"OpenBolt", OpenBolt}, {"Open", Open}} {
				s, err := opener.open(path, discard())
				if err == nil {
					s.Close()
					t.Fatalf("%s succeeded", opener.name)
				}
				if errors.Is(err, ErrCorrupt) || (tc.is != nil && !errors.Is(err, tc.is)) || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("%s: err = %v", opener.name, err)
				}
				t.Logf("%s: %v", opener.name, err)
			}
			if !bytes.Equal(before, readFile(t, path)) {
				t.Fatal("file changed")
			}
			if c := corruptFiles(t, path); len(c) != 0 {
				t.Fatalf("moved aside: %v", c)
			}
		})
	}
}

// v0Announcement is the simulated version 0 layout: announcements in a
// bucket named "announcement", keyed by ID, without Seq.
type v0Announcement struct {
	ID    string    `json:"id"`
	Title string    `json:"title"`
	Text  string    `json:"text"`
	Date  time.Time `json:"date"`
}

var bucketV0Announcements = []byte("announcement")

// migrateV0 is a version 0 → 1 migration: move announcements to the
// Seq-keyed bucket, numbering them by date.
func migrateV0(tx *bolt.Tx, _ *slog.Logger) error {
	old := tx.Bucket(bucketV0Announcements)
	if old == nil {
		return nil
	}
	var as []v0Announcement
	if err := old.ForEach(func(_, v []byte) error {
		var a v0Announcement
		if err := json.Unmarshal(v, &a); err != nil {
			return err
		}
		as = append(as, a)
		return nil
	}); err != nil {
		return err
	}
	// bbolt iterates by key (ID); publication order is by date.
	sortV0(as)
	nb, err := tx.CreateBucketIfNotExists(bucketAnnouncements)
	if err != nil {
		return err
	}
	for i, a := range as {
		v, err := json.Marshal(Announcement{ID: a.ID, Title: a.Title, Text: a.Text, Date: a.Date, Seq: uint64(i + 1)})
		if err != nil {
			return err
		}
		if err := nb.Put(seqKey(uint64(i+1)), v); err != nil {
			return err
		}
	}
	return tx.DeleteBucket(bucketV0Announcements)
}

func sortV0(as []v0Announcement) {
	for i := 1; i < len(as); i++ {
		for j := i; j > 0 && as[j].Date.Before(as[j-1].Date); j-- {
			as[j], as[j-1] = as[j-1], as[j]
		}
	}
}

func writeV0(t *testing.T, path string) {
	t.Helper()
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(keySchemaVersion, binary.BigEndian.AppendUint64(nil, 0)); err != nil {
			return err
		}
		b, err := tx.CreateBucket(bucketV0Announcements)
		if err != nil {
			return err
		}
		for _, a := range []v0Announcement{
			{ID: "aaa-newest", Title: "third", Date: at(300)},
			{ID: "zzz-oldest", Title: "first", Date: at(100)},
			{ID: "mmm", Title: "second", Text: "ünïcode", Date: at(200)},
		} {
			v, _ := json.Marshal(a)
			if err := b.Put([]byte(a.ID), v); err != nil {
				return err
			}
		}
		return nil
	})
}

func TestMigrationFromV0(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "vigil.db")
	writeV0(t, path)
	o := testOptions()
	o.schema = schema{version: 2, migrations: []migration{0: migrateV0, 1: indexAnnouncements}}

	logger, logs := newLogger()
	s, err := open(path, logger, o)
	if err != nil {
		t.Fatal(err)
	}
	want := []Announcement{
		{ID: "zzz-oldest", Title: "first", Date: at(100), Seq: 1},
		{ID: "mmm", Title: "second", Text: "ünïcode", Date: at(200), Seq: 2},
		{ID: "aaa-newest", Title: "third", Date: at(300), Seq: 3},
	}
	st := mustLoad(t, s)
	if !reflect.DeepEqual(st.Announcements, want) {
		t.Fatalf("migrated announcements:\n got %+v\nwant %+v", st.Announcements, want)
	}
	if len(st.Replicas) != 0 || st.Alerting != nil {
		t.Fatalf("migrated state has extra data: %+v", st)
	}
	mustApply(t, s, Batch{PutAnnouncements: []Announcement{ann("new", 4)}}) // buckets of v2 exist
	// The index was built: retracting a migrated announcement by ID works.
	mustApply(t, s, Batch{DeleteAnnouncements: []string{"mmm"}})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "migrated store") || !strings.Contains(logs.String(), "from_schema_version=0") {
		t.Errorf("no migration log line:\n%s", logs)
	}

	// The file is now version 2 without the old bucket, and reopening does
	// not migrate again.
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.View(func(tx *bolt.Tx) error {
		if v, ok := schemaVersion(tx); !ok || v != 2 {
			t.Errorf("schema version %d %v, want 2", v, ok)
		}
		if tx.Bucket(bucketV0Announcements) != nil {
			t.Error("old bucket still there")
		}
		return nil
	})
	db.Close()
	logger, logs = newLogger()
	s, err = open(path, logger, o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := ids(mustLoad(t, s).Announcements); got != "zzz-oldest@1 aaa-newest@3 new@4" {
		t.Fatalf("after reopen: %s", got)
	}
	if strings.Contains(logs.String(), "migrated") {
		t.Errorf("migrated twice:\n%s", logs)
	}
}

func TestMigrationIsAtomic(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "vigil.db")
	writeV0(t, path)
	before := readFile(t, path)
	o := testOptions()
	o.schema = schema{version: 2, migrations: []migration{
		migrateV0,
		func(*bolt.Tx, *slog.Logger) error { return errors.New("boom") },
	}}
	s, err := open(path, discard(), o)
	if err == nil {
		s.Close()
		t.Fatal("open succeeded")
	}
	if !strings.Contains(err.Error(), "migrate schema version 1 to 2: boom") || errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v", err)
	}
	if !bytes.Equal(before, readFile(t, path)) {
		t.Fatal("a failed migration changed the file (the first step was not rolled back)")
	}
	if c := corruptFiles(t, path); len(c) != 0 {
		t.Fatalf("moved aside: %v", c)
	}
}

func TestOpenOSErrorIsNotCorruption(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "vigil.db")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, discard())
	if err == nil {
		s.Close()
		t.Fatal("Open of a directory succeeded")
	}
	if errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want a plain OS error", err)
	}
	if c := corruptFiles(t, path); len(c) != 0 {
		t.Fatalf("moved aside: %v", c)
	}
}

// writeV1 builds a schema version 1 file by hand: announcements keyed by
// Seq without the ID index. It holds two announcements with one ID (which
// version 1 never wrote, but a damaged or edited file may hold).
func writeV1(t *testing.T, path string) *State {
	t.Helper()
	want := &State{
		Announcements: []Announcement{ann("a", 1), ann("b", 2), ann("c", 5), ann("", 6)},
		Replicas:      replicaFixtures(),
		Alerting:      &Alerting{Status: messages.Sick, Escalate: 2},
	}
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(keySchemaVersion, binary.BigEndian.AppendUint64(nil, 1)); err != nil {
			return err
		}
		ab, _ := tx.CreateBucket(bucketAnnouncements)
		rb, _ := tx.CreateBucket(bucketReplicas)
		lb, _ := tx.CreateBucket(bucketAlerting)
		for _, a := range append([]Announcement{ann("c", 3)}, want.Announcements...) { // c@3: an older duplicate
			v, _ := json.Marshal(a)
			if err := ab.Put(seqKey(a.Seq), v); err != nil {
				return err
			}
		}
		for _, r := range want.Replicas {
			k, _ := replicaKey(r.Key)
			v, _ := json.Marshal(r)
			if err := rb.Put(k, v); err != nil {
				return err
			}
		}
		v, _ := json.Marshal(want.Alerting)
		return lb.Put(alertingKey, v)
	})
	return want
}

func TestMigrationFromV1IndexesAnnouncements(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "vigil.db")
	want := writeV1(t, path)
	logger, logs := newLogger()
	s, err := open(path, logger, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	got := mustLoad(t, s)
	if ids(got.Announcements) != ids(want.Announcements) || !reflect.DeepEqual(byKey(got.Replicas), byKey(want.Replicas)) || !reflect.DeepEqual(got.Alerting, want.Alerting) {
		t.Fatalf("migrated state: %s, %d replicas, %+v", ids(got.Announcements), len(got.Replicas), got.Alerting)
	}
	for _, want := range []string{"migrated store", "from_schema_version=1", "to_schema_version=2", "dropped an announcement with the ID of a later one"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	// Announcements are found by ID through the index.
	mustApply(t, s, Batch{DeleteAnnouncements: []string{"c", ""}, PutAnnouncements: []Announcement{ann("a", 9)}})
	if got := ids(mustLoad(t, s).Announcements); got != "b@2 a@9" {
		t.Fatalf("after changes: %s", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopening verifies the index and does not migrate again.
	before := readFile(t, path)
	logger, logs = newLogger()
	s, err = open(path, logger, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if strings.Contains(logs.String(), "migrated") || len(corruptFiles(t, path)) != 0 {
		t.Fatalf("reopen migrated again or found the file corrupt:\n%s", logs)
	}
	if !bytes.Equal(before, readFile(t, path)) {
		t.Fatal("reopening the migrated file changed it")
	}
}

// TestAnnouncementChangesTouchOneRecord: publishing or retracting one
// announcement does not read the others; a stored announcement whose value
// no longer decodes is not in the way.
func TestAnnouncementChangesTouchOneRecord(t *testing.T) {
	t.Parallel()
	s, err := openBolt(filepath.Join(t.TempDir(), "vigil.db"), discard(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var b Batch
	for i := range 50 {
		b.PutAnnouncements = append(b.PutAnnouncements, ann(fmt.Sprint("old-", i), uint64(i+1)))
	}
	mustApply(t, s, b)
	// Spoil every stored value but one: version 1 decoded them all to find
	// an ID, and failed.
	if err := s.(*boltStore).h.db.Update(func(tx *bolt.Tx) error {
		ab := tx.Bucket(bucketAnnouncements)
		for i := range 49 {
			if err := ab.Put(seqKey(uint64(i+1)), []byte("not json")); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, Batch{PutAnnouncements: []Announcement{ann("new", 100)}})
	mustApply(t, s, Batch{DeleteAnnouncements: []string{"new", "old-49"}})
	mustApply(t, s, Batch{PutAnnouncements: []Announcement{ann("newer", 101)}, DeleteAnnouncements: []string{"old-3"}})
	var left []string
	_ = s.(*boltStore).h.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAnnouncementIDs).ForEach(func(k, _ []byte) error {
			left = append(left, string(k[1:]))
			return nil
		})
	})
	if len(left) != 49 || !slices.Contains(left, "newer") || slices.Contains(left, "old-3") || slices.Contains(left, "old-49") {
		t.Fatalf("index holds %d ids: %v", len(left), left)
	}
}
