package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage/pgtest"
)

// impls are the Store implementations every contract test runs against.
var impls = []struct {
	name string
	open func(t *testing.T) Store
}{
	{"bolt", func(t *testing.T) Store {
		s, err := OpenBolt(filepath.Join(t.TempDir(), "vigil.db"), discard())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
	// A database of its own on the machine's PostgreSQL (pgtest: skipped
	// when the server is missing, except under CI=true).
	{"postgres", func(t *testing.T) Store {
		s, err := OpenPostgres(context.Background(), pgtest.New(t), discard())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
}

func forEachImpl(t *testing.T, fn func(t *testing.T, s Store)) {
	t.Helper()
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			s := impl.open(t)
			t.Cleanup(func() { _ = s.Close() })
			fn(t, s)
		})
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func mustApply(t *testing.T, s Store, b Batch) {
	t.Helper()
	if err := s.Apply(context.Background(), b); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func mustLoad(t *testing.T, s Store) *State {
	t.Helper()
	st, err := s.Load(context.Background())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return st
}

// at is a UTC time (UTC round-trips with reflect.DeepEqual).
func at(sec int64) time.Time { return time.Unix(1_700_000_000+sec, 123456789).UTC() }

func ann(id string, seq uint64) Announcement {
	return Announcement{ID: id, Title: "title " + id, Text: "text of " + id + " ✓", Date: at(int64(seq % 100_000)), Seq: seq}
}

func ids(as []Announcement) string {
	var s []string
	for _, a := range as {
		s = append(s, fmt.Sprintf("%s@%d", a.ID, a.Seq))
	}
	return strings.Join(s, " ")
}

func TestContractEmptyLoad(t *testing.T) {
	forEachImpl(t, func(t *testing.T, s Store) {
		if st := mustLoad(t, s); !reflect.DeepEqual(st, &State{}) {
			t.Fatalf("empty store loads %+v, want an empty State", st)
		}
		mustApply(t, s, Batch{}) // empty batch is a no-op
		if st := mustLoad(t, s); !reflect.DeepEqual(st, &State{}) {
			t.Fatalf("after empty batch: %+v", st)
		}
	})
}

func TestContractAnnouncements(t *testing.T) {
	steps := []struct {
		name  string
		batch Batch
		want  string // ID@Seq in Load order
	}{
		{"put out of order", Batch{PutAnnouncements: []Announcement{ann("c", 3), ann("a", 1), ann("b", 2)}}, "a@1 b@2 c@3"},
		{"delete middle", Batch{DeleteAnnouncements: []string{"b"}}, "a@1 c@3"},
		{"delete unknown", Batch{DeleteAnnouncements: []string{"nope"}}, "a@1 c@3"},
		{"re-put same ID with new Seq moves it", Batch{PutAnnouncements: []Announcement{ann("a", 10)}}, "c@3 a@10"},
		{"put same Seq other ID replaces", Batch{PutAnnouncements: []Announcement{ann("d", 3)}}, "d@3 a@10"},
		{"put then delete in one batch", Batch{PutAnnouncements: []Announcement{ann("e", 5)}, DeleteAnnouncements: []string{"e"}}, "d@3 a@10"},
		{"big Seq sorts numerically", Batch{PutAnnouncements: []Announcement{ann("z", 1<<40), ann("y", 256), ann("x", 0)}}, "x@0 d@3 a@10 y@256 z@1099511627776"},
		{"delete several", Batch{DeleteAnnouncements: []string{"x", "y", "z", "d"}}, "a@10"},
	}
	forEachImpl(t, func(t *testing.T, s Store) {
		for _, step := range steps {
			mustApply(t, s, step.batch)
			st := mustLoad(t, s)
			if got := ids(st.Announcements); got != step.want {
				t.Fatalf("%s: got %q, want %q", step.name, got, step.want)
			}
		}
		// Every field round-trips.
		if got, want := mustLoad(t, s).Announcements[0], ann("a", 10); !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip: got %+v, want %+v", got, want)
		}
	})
}

// replicaFixtures have keys that a naive "probe:node:replica" or
// "probe/node/replica" encoding would collide, and every field set or
// zero.
func replicaFixtures() []Replica {
	return []Replica{
		{Key: messages.ReplicaKey{Probe: "a:b", Node: "c", Replica: ""}, Status: messages.Healthy, Updated: at(1)},
		{Key: messages.ReplicaKey{Probe: "a", Node: "b:c", Replica: ""}, Status: messages.Sick, Err: "slow", Updated: at(2)},
		{Key: messages.ReplicaKey{Probe: "a:b:c", Node: "", Replica: ""}, Status: messages.Dead, Updated: at(3)},
		{Key: messages.ReplicaKey{Probe: "", Node: "", Replica: ""}, Status: messages.Healthy},
		{Key: messages.ReplicaKey{Probe: "web/api", Node: "eu/1", Replica: "https://example.com:8443/health?x=1"},
			Status: messages.Healthy, Latency: 1234567 * time.Nanosecond, HasLatency: true, Updated: at(4), Position: 7},
		{Key: messages.ReplicaKey{Probe: "サービス", Node: "nœud-ü", Replica: "🚀\x00nul"},
			Status: messages.Sick, Err: "über-slow: 5s > 2s", Latency: 0, HasLatency: true, Updated: at(5)},
		{Key: messages.ReplicaKey{Probe: "push", Node: "host", Replica: "worker-1"}, Status: messages.Healthy,
			Updated: at(6), Reported: at(6), Interval: 30 * time.Second, Load: &messages.Load{CPU: 0.1, RAM: 0.7300000000000001}, Position: 1},
		{Key: messages.ReplicaKey{Probe: "push", Node: "host", Replica: "worker-2"}, Status: messages.Dead,
			Updated: at(7), Reported: time.Time{}, Interval: 0, Load: &messages.Load{}, Position: 2},
		{Key: messages.ReplicaKey{Probe: "local", Node: "host", Replica: "disk"}, Status: messages.Healthy,
			Reported: at(8), Interval: time.Minute, Position: 3},
	}
}

func byKey(rs []Replica) map[messages.ReplicaKey]Replica {
	m := make(map[messages.ReplicaKey]Replica, len(rs))
	for _, r := range rs {
		m[r.Key] = r
	}
	return m
}

func TestContractReplicasRoundTrip(t *testing.T) {
	forEachImpl(t, func(t *testing.T, s Store) {
		want := replicaFixtures()
		mustApply(t, s, Batch{PutReplicas: want})
		got := mustLoad(t, s).Replicas
		if len(got) != len(want) {
			t.Fatalf("got %d replicas, want %d (keys collided?)", len(got), len(want))
		}
		if g, w := byKey(got), byKey(want); !reflect.DeepEqual(g, w) {
			for k, wr := range w {
				if !reflect.DeepEqual(g[k], wr) {
					t.Errorf("replica %q:\n got %+v\nwant %+v", k, g[k], wr)
				}
			}
			t.FailNow()
		}
		// Loading twice gives the same order (key order for both stores).
		if again := mustLoad(t, s).Replicas; !reflect.DeepEqual(again, got) {
			t.Fatal("replica order is not stable")
		}
	})
}

func TestContractReplicasUpdateAndDelete(t *testing.T) {
	forEachImpl(t, func(t *testing.T, s Store) {
		rs := replicaFixtures()
		mustApply(t, s, Batch{PutReplicas: rs})
		updated := rs[0]
		updated.Status, updated.Err = messages.Dead, "gone"
		mustApply(t, s, Batch{
			PutReplicas:    []Replica{updated},
			DeleteReplicas: []messages.ReplicaKey{rs[1].Key, rs[5].Key, {Probe: "unknown", Node: "x", Replica: "y"}},
		})
		got := byKey(mustLoad(t, s).Replicas)
		if len(got) != len(rs)-2 {
			t.Fatalf("got %d replicas, want %d", len(got), len(rs)-2)
		}
		if _, ok := got[rs[1].Key]; ok {
			t.Error("deleted replica still there")
		}
		if _, ok := got[rs[5].Key]; ok {
			t.Error("deleted unicode replica still there")
		}
		if !reflect.DeepEqual(got[rs[0].Key], updated) {
			t.Errorf("update: got %+v, want %+v", got[rs[0].Key], updated)
		}
		// A look-alike key was not touched by the deletes.
		if !reflect.DeepEqual(got[rs[2].Key], rs[2]) {
			t.Errorf("look-alike key changed: %+v", got[rs[2].Key])
		}
	})
}

func TestContractAlerting(t *testing.T) {
	first := &Alerting{Status: messages.Sick, Escalate: 1, Backoff: 2, LastNotified: at(10)}
	second := &Alerting{Status: messages.Dead, Escalate: 0, Backoff: 0, IgnoreUntil: at(20)}
	steps := []struct {
		name  string
		batch Batch
		want  *Alerting
	}{
		{"set", Batch{Alerting: first}, first},
		{"other changes leave it", Batch{PutAnnouncements: []Announcement{ann("a", 1)}}, first},
		{"replace, zero times stay zero", Batch{Alerting: second}, second},
		{"replace with zero value", Batch{Alerting: &Alerting{}}, &Alerting{}},
	}
	forEachImpl(t, func(t *testing.T, s Store) {
		if a := mustLoad(t, s).Alerting; a != nil {
			t.Fatalf("alerting before any save: %+v, want nil", a)
		}
		for _, step := range steps {
			mustApply(t, s, step.batch)
			if got := mustLoad(t, s).Alerting; !reflect.DeepEqual(got, step.want) {
				t.Fatalf("%s: got %+v, want %+v", step.name, got, step.want)
			}
		}
	})
}

func bigBatch(n int) Batch {
	var b Batch
	for i := range n {
		b.PutReplicas = append(b.PutReplicas, Replica{
			Key:    messages.ReplicaKey{Probe: fmt.Sprintf("p%d", i%7), Node: fmt.Sprintf("n%d", i%13), Replica: fmt.Sprintf("r%d", i)},
			Status: messages.Status(i % 3), Updated: at(int64(i)), Position: uint64(i),
		})
	}
	for i := range n / 10 {
		b.PutAnnouncements = append(b.PutAnnouncements, ann(fmt.Sprintf("ann-%d", i), uint64(i+1)))
	}
	b.Alerting = &Alerting{Status: messages.Sick, Escalate: 3}
	return b
}

// TestContractBadRecordsAreLeftOut: a record that cannot be stored is
// left out and reported; the rest of its batch is stored exactly as if it
// had not been in it.
func TestContractBadRecordsAreLeftOut(t *testing.T) {
	long := strings.Repeat("x", maxKeySize)
	cases := []struct {
		name string
		// edit spoils one record; drop removes it instead.
		edit, drop func(*Batch)
		// kind of the rejected record ("" when nothing is rejected).
		kind string
	}{
		{"invalid replica status",
			func(b *Batch) { b.PutReplicas[len(b.PutReplicas)-1].Status = 9 },
			func(b *Batch) { b.PutReplicas = b.PutReplicas[:len(b.PutReplicas)-1] }, "replica"},
		{"unencodable time",
			func(b *Batch) { b.PutAnnouncements[3].Date = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
			func(b *Batch) { b.PutAnnouncements = append(b.PutAnnouncements[:3:3], b.PutAnnouncements[4:]...) }, "announcement"},
		{"replica key too long",
			func(b *Batch) { b.PutReplicas[5].Key.Replica = long },
			func(b *Batch) { b.PutReplicas = append(b.PutReplicas[:5:5], b.PutReplicas[6:]...) }, "replica"},
		{"announcement id too long",
			func(b *Batch) { b.PutAnnouncements[2].ID = long },
			func(b *Batch) { b.PutAnnouncements = append(b.PutAnnouncements[:2:2], b.PutAnnouncements[3:]...) }, "announcement"},
		{"invalid alerting status",
			func(b *Batch) { b.Alerting = &Alerting{Status: 200} },
			func(b *Batch) { b.Alerting = nil }, "alerting"},
		{"deleting a key too long to exist is a no-op",
			func(b *Batch) {
				b.DeleteReplicas = append(b.DeleteReplicas, messages.ReplicaKey{Probe: long})
				b.DeleteAnnouncements = append(b.DeleteAnnouncements, long+"x")
			},
			func(*Batch) {}, ""},
	}
	for _, tc := range cases {
		forEachImpl(t, func(t *testing.T, s Store) {
			t.Log(tc.name)
			ref := impls[0].open(t)
			defer ref.Close()
			// Both start from the same state; s gets the spoilt batch,
			// ref the batch without the spoilt record.
			for _, st := range []Store{s, ref} {
				mustApply(t, st, bigBatch(500))
			}
			spoilt, clean := bigBatch(600), bigBatch(600)
			for _, b := range []*Batch{&spoilt, &clean} {
				b.DeleteAnnouncements = []string{"ann-0"}
				b.DeleteReplicas = []messages.ReplicaKey{bigBatch(1).PutReplicas[0].Key}
				b.Alerting = &Alerting{Status: messages.Dead}
			}
			tc.edit(&spoilt)
			tc.drop(&clean)
			err := s.Apply(context.Background(), spoilt)
			var rej *RejectedError
			switch {
			case tc.kind == "" && err != nil:
				t.Fatalf("%s: Apply: %v", tc.name, err)
			case tc.kind != "" && !errors.As(err, &rej):
				t.Fatalf("%s: Apply: %v, want a *RejectedError", tc.name, err)
			case tc.kind != "" && (len(rej.Records) != 1 || rej.Records[0].Kind != tc.kind):
				t.Fatalf("%s: rejected %+v, want one %s", tc.name, rej.Records, tc.kind)
			}
			if err != nil && len(err.Error()) > 1000 {
				t.Errorf("%s: error message is %d bytes long", tc.name, len(err.Error()))
			}
			mustApply(t, ref, clean)
			if got, want := mustLoad(t, s), mustLoad(t, ref); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: stored state differs from the batch without the bad record", tc.name)
			}
		})
	}
}

// TestContractOversizedReplicaID: one push replica with an id far over the
// key limit does not keep the other changes of its batch from the disk.
func TestContractOversizedReplicaID(t *testing.T) {
	forEachImpl(t, func(t *testing.T, s Store) {
		huge := messages.ReplicaKey{Probe: "push", Node: "host", Replica: strings.Repeat("r", 40<<10)}
		b := Batch{Alerting: &Alerting{Status: messages.Sick, Escalate: 2}}
		for i := range 10 {
			b.PutReplicas = append(b.PutReplicas, Replica{Key: messages.ReplicaKey{Probe: "push", Node: "host", Replica: fmt.Sprint("worker-", i)},
				Status: messages.Healthy, Updated: at(int64(i)), Position: uint64(i)})
		}
		b.PutReplicas = append(b.PutReplicas[:5:5], append([]Replica{{Key: huge, Status: messages.Healthy}}, b.PutReplicas[5:]...)...)
		err := s.Apply(context.Background(), b)
		var rej *RejectedError
		if !errors.As(err, &rej) || len(rej.Records) != 1 || rej.Records[0].Replica != huge {
			t.Fatalf("Apply: %v, want the huge replica rejected", err)
		}
		t.Logf("Apply: %v", err)
		st := mustLoad(t, s)
		if len(st.Replicas) != 10 || st.Alerting == nil || st.Alerting.Escalate != 2 {
			t.Fatalf("stored %d replicas and alerting %+v, want the 10 good replicas and the alerting state", len(st.Replicas), st.Alerting)
		}
		// And later batches are not affected by it.
		mustApply(t, s, Batch{PutReplicas: b.PutReplicas[:1]})
	})
}

func TestContractTimesKeepInstant(t *testing.T) {
	forEachImpl(t, func(t *testing.T, s Store) {
		zone := time.FixedZone("CEST", 2*3600)
		local := time.Date(2026, 7, 1, 12, 0, 0, 5, zone)
		now := time.Now() // has a monotonic reading
		mustApply(t, s, Batch{
			PutAnnouncements: []Announcement{{ID: "a", Date: local, Seq: 1}},
			Alerting:         &Alerting{LastNotified: now},
		})
		st := mustLoad(t, s)
		if got := st.Announcements[0].Date; !got.Equal(local) {
			t.Errorf("zoned time: got %v, want %v", got, local)
		}
		if got := st.Alerting.LastNotified; !got.Equal(now) {
			t.Errorf("time.Now(): got %v, want %v", got, now)
		}
	})
}

func TestContractClosedAndCanceled(t *testing.T) {
	forEachImpl(t, func(t *testing.T, s Store) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.Load(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Load with canceled ctx: %v", err)
		}
		if err := s.Apply(ctx, Batch{Alerting: &Alerting{}}); !errors.Is(err, context.Canceled) {
			t.Errorf("Apply with canceled ctx: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if _, err := s.Load(context.Background()); !errors.Is(err, ErrClosed) {
			t.Errorf("Load after Close: %v", err)
		}
		if err := s.Apply(context.Background(), Batch{Alerting: &Alerting{}}); !errors.Is(err, ErrClosed) {
			t.Errorf("Apply after Close: %v", err)
		}
	})
}

func TestContractConcurrent(t *testing.T) {
	forEachImpl(t, func(t *testing.T, s Store) {
		const writers, each = 4, 20
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					k := messages.ReplicaKey{Probe: "p", Node: fmt.Sprint(w), Replica: fmt.Sprint(i)}
					if err := s.Apply(context.Background(), Batch{
						PutReplicas: []Replica{{Key: k, Updated: at(int64(i))}},
						Alerting:    &Alerting{Escalate: i},
					}); err != nil {
						t.Error(err)
						return
					}
				}
			})
			wg.Go(func() {
				for range each {
					if _, err := s.Load(context.Background()); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if n := len(mustLoad(t, s).Replicas); n != writers*each {
			t.Fatalf("got %d replicas, want %d", n, writers*each)
		}
	})
}

func TestContractHistory(t *testing.T) {
	forEachImpl(t, func(t *testing.T, s Store) {
		rec := func(k, v string) HistoryRecord { return HistoryRecord{Key: k, Value: []byte(v)} }
		mustApply(t, s, Batch{PutHistory: []HistoryRecord{
			rec("d/0002/page", "2"), rec("d/0001/page", "1"), rec("d/0001/svc", "s1"),
			rec("h/0010/page", "h10"), rec("i/0001/svc", "inc"),
		}})
		// Replace one record, prune the day-1 records and an empty range.
		mustApply(t, s, Batch{
			PutHistory:   []HistoryRecord{rec("d/0002/page", "2b"), rec("d/0003/page", "3")},
			PruneHistory: []KeyRange{{From: "d/", To: "d/0002"}, {From: "x/", To: "y/"}},
		})
		got := mustLoad(t, s).History
		want := []HistoryRecord{rec("d/0002/page", "2b"), rec("d/0003/page", "3"), rec("h/0010/page", "h10"), rec("i/0001/svc", "inc")}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("history = %q, want %q", got, want)
		}
		// A prune range is half-open: To itself stays.
		mustApply(t, s, Batch{PruneHistory: []KeyRange{{From: "d/0002/page", To: "d/0003/page"}}})
		if got := mustLoad(t, s).History; len(got) != 3 || got[0].Key != "d/0003/page" {
			t.Fatalf("after half-open prune: %q", got)
		}
		// An empty key cannot be stored; the rest of the batch is.
		err := s.Apply(context.Background(), Batch{PutHistory: []HistoryRecord{rec("", "x"), rec("h/0011/page", "h11")}})
		var re *RejectedError
		if !errors.As(err, &re) || len(re.Records) != 1 || re.Records[0].Kind != "history" {
			t.Fatalf("empty key: err = %v", err)
		}
		if got := mustLoad(t, s).History; len(got) != 4 {
			t.Fatalf("after rejected record: %q", got)
		}
	})
}

// TestContractLongKeys: keys as long as the store accepts, of bytes that
// do not compress, are stored, found, replaced and deleted like short
// ones (a networked store must not cap them lower, e.g. at an index
// entry's size).
func TestContractLongKeys(t *testing.T) {
	random := func(n int, seed byte) string {
		b := make([]byte, n)
		x := uint32(seed) + 1
		for i := range b {
			x = x*1664525 + 1013904223
			b[i] = byte(x >> 24)
		}
		return string(b)
	}
	// The longest key of each kind: a replica key is each id with a
	// uvarint length (3 bytes from 16 KiB), an announcement's index key a
	// zero byte and the ID.
	rk := messages.ReplicaKey{Probe: "p", Node: "n", Replica: random(maxKeySize-7, 1)}
	if k, err := replicaKey(rk); err != nil || len(k) != maxKeySize {
		t.Fatalf("replica key is %d bytes (%v), want exactly the limit", len(k), err)
	}
	annID := strings.Repeat("ä", (maxKeySize-1)/2) + "x" // valid UTF-8: IDs come back through JSON
	notifier, histKey := random(maxKeySize, 2), random(maxKeySize, 3)
	forEachImpl(t, func(t *testing.T, s Store) {
		mustApply(t, s, Batch{
			PutAnnouncements: []Announcement{ann(annID, 1), ann("short", 2)},
			PutReplicas:      []Replica{{Key: rk, Status: messages.Sick, Updated: at(1)}},
			PutOutbox:        []OutboxEntry{{Notifier: notifier, ID: "n", Status: messages.Dead, Time: at(2)}},
			PutHistory:       []HistoryRecord{{Key: histKey, Value: []byte("v1")}},
		})
		// Replace each by key.
		mustApply(t, s, Batch{
			PutAnnouncements: []Announcement{ann(annID, 3)},
			PutReplicas:      []Replica{{Key: rk, Status: messages.Dead, Updated: at(3)}},
			PutOutbox:        []OutboxEntry{{Notifier: notifier, ID: "n2", Status: messages.Dead, Time: at(3)}},
			PutHistory:       []HistoryRecord{{Key: histKey, Value: []byte("v2")}},
		})
		st := mustLoad(t, s)
		if got := ids(st.Announcements); got != "short@2 "+annID+"@3" {
			t.Errorf("announcements %.80q…", got)
		}
		if len(st.Replicas) != 1 || st.Replicas[0].Key != rk || st.Replicas[0].Status != messages.Dead {
			t.Errorf("replicas: %d, want the long one replaced", len(st.Replicas))
		}
		if len(st.Outbox) != 1 || st.Outbox[0].Notifier != notifier || st.Outbox[0].ID != "n2" {
			t.Errorf("outbox: %d entries, want the long one replaced", len(st.Outbox))
		}
		if len(st.History) != 1 || st.History[0].Key != histKey || string(st.History[0].Value) != "v2" {
			t.Errorf("history: %d records, want the long one replaced", len(st.History))
		}
		mustApply(t, s, Batch{
			DeleteAnnouncements: []string{annID},
			DeleteReplicas:      []messages.ReplicaKey{rk},
			DeleteOutbox:        []string{notifier},
			PruneHistory:        []KeyRange{{From: histKey, To: histKey + "\x00"}},
		})
		st = mustLoad(t, s)
		if ids(st.Announcements) != "short@2" || len(st.Replicas) != 0 || len(st.Outbox) != 0 || len(st.History) != 0 {
			t.Errorf("after deleting the long keys: %d announcements, %d replicas, %d outbox, %d history",
				len(st.Announcements), len(st.Replicas), len(st.Outbox), len(st.History))
		}
	})
}

// TestContractLastPutWins: a batch that puts one key twice stores the
// last, and a delete in the same batch comes after the puts.
func TestContractLastPutWins(t *testing.T) {
	k := messages.ReplicaKey{Probe: "p", Node: "n", Replica: "r"}
	gone := messages.ReplicaKey{Probe: "p", Node: "n", Replica: "gone"}
	forEachImpl(t, func(t *testing.T, s Store) {
		mustApply(t, s, Batch{
			PutReplicas: []Replica{{Key: k, Err: "first"}, {Key: gone}, {Key: k, Err: "second"}},
			PutOutbox: []OutboxEntry{{Notifier: "slack", ID: "first"}, {Notifier: "email", ID: "e"},
				{Notifier: "slack", ID: "second"}},
			PutHistory:     []HistoryRecord{{Key: "h", Value: []byte("first")}, {Key: "h", Value: []byte("second")}},
			DeleteReplicas: []messages.ReplicaKey{gone},
			DeleteOutbox:   []string{"email"},
		})
		st := mustLoad(t, s)
		if len(st.Replicas) != 1 || st.Replicas[0].Err != "second" {
			t.Errorf("replicas %+v, want only the second put of r", st.Replicas)
		}
		if len(st.Outbox) != 1 || st.Outbox[0].ID != "second" {
			t.Errorf("outbox %+v, want only the second slack entry", st.Outbox)
		}
		if len(st.History) != 1 || string(st.History[0].Value) != "second" {
			t.Errorf("history %q, want the second value", st.History)
		}
	})
}

// TestContractOutbox: slots are kept by notifier and loaded in notifier
// (byte) order; entries that would not load are left out.
func TestContractOutbox(t *testing.T) {
	entry := func(notifier, id string, status messages.Status) OutboxEntry {
		return OutboxEntry{Notifier: notifier, ID: id, Kind: messages.Changed, Status: status,
			Replicas: []string{"web:api:ünïcode"}, Escalated: 1, Time: at(7)}
	}
	forEachImpl(t, func(t *testing.T, s Store) {
		good := []OutboxEntry{entry("webhook", "1", messages.Dead), entry("Slack", "1", messages.Sick), entry("email", "1", messages.Healthy)}
		err := s.Apply(context.Background(), Batch{PutOutbox: append(slices.Clone(good),
			entry("", "no-notifier", messages.Dead), entry("matrix", "bad-status", 9))})
		var re *RejectedError
		if !errors.As(err, &re) || len(re.Records) != 2 {
			t.Fatalf("Apply: %v, want two rejected entries", err)
		}
		want := []OutboxEntry{good[1], good[2], good[0]} // "Slack" < "email" < "webhook"
		if got := mustLoad(t, s).Outbox; !reflect.DeepEqual(got, want) {
			t.Fatalf("outbox %+v, want %+v", got, want)
		}
	})
}

// TestContractHistoryValues: empty and nil values load as empty, and keys
// load in byte order (not by collation or length).
func TestContractHistoryValues(t *testing.T) {
	forEachImpl(t, func(t *testing.T, s Store) {
		mustApply(t, s, Batch{PutHistory: []HistoryRecord{
			{Key: "b", Value: nil}, {Key: "a", Value: []byte{}}, {Key: "B", Value: []byte{0}},
			{Key: "a\x00", Value: []byte("nul")}, {Key: "\xff", Value: []byte("high")}, {Key: "é", Value: []byte("e")},
		}})
		got := mustLoad(t, s).History
		var keys []string
		for _, r := range got {
			keys = append(keys, r.Key)
		}
		if want := []string{"B", "a", "a\x00", "b", "é", "\xff"}; !reflect.DeepEqual(keys, want) {
			t.Fatalf("keys %q, want %q", keys, want)
		}
		for _, r := range got {
			if r.Value == nil {
				t.Errorf("record %q loads a nil value, want an empty one", r.Key)
			}
		}
	})
}

// TestContractSeqRange: every uint64 is a Seq, in numeric order.
func TestContractSeqRange(t *testing.T) {
	forEachImpl(t, func(t *testing.T, s Store) {
		mustApply(t, s, Batch{PutAnnouncements: []Announcement{ann("max", math.MaxUint64), ann("top", 1<<63), ann("low", 1<<63-1), ann("zero", 0)}})
		if got, want := ids(mustLoad(t, s).Announcements), "zero@0 low@9223372036854775807 top@9223372036854775808 max@18446744073709551615"; got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
}
