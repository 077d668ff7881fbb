package history

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage"
	"github.com/vigil-go/vigil/storage/storagetest"
	bolt "go.etcd.io/bbolt"
)

// sizeReport is what a simulated run left in the store.
type sizeReport struct {
	subjects          int
	fileBytes         int64
	compactBytes      int64        // the same records compacted (pages full, no free pages)
	records           map[byte]int // by kind (h, d, i, a, m)
	keyBytes, valueBy map[byte]int
	flushes, puts     int
}

// simulateStore runs services × nodes poll nodes for days on a fake clock:
// a latency every 60 s per node, three outages a day per node (sick or
// dead for 1 to 30 minutes), a Flush every 10 minutes written with its
// prune ranges into a real bbolt store.
func simulateStore(tb testing.TB, services, nodes, days int) sizeReport {
	l := bigLayout(services, nodes)
	ctx := context.Background()
	st := storagetest.New(tb)
	start := t0
	r := New(l, nil, start)
	n := services * nodes
	rng := rand.New(rand.NewPCG(3, 4))
	type change struct {
		minute, node int
		st           messages.Status
	}
	rep := sizeReport{subjects: n + services + 1}
	for i := range n {
		r.Node(i/nodes, i%nodes, messages.Healthy, true, start)
	}
	for day := range days {
		var changes []change
		for node := range n {
			for range 3 {
				m := rng.IntN(1440 - 31)
				bad := messages.Sick
				if rng.IntN(3) == 0 {
					bad = messages.Dead
				}
				changes = append(changes, change{m, node, bad}, change{m + 1 + rng.IntN(30), node, messages.Healthy})
			}
		}
		slices.SortStableFunc(changes, func(a, b change) int { return a.minute - b.minute })
		ci := 0
		dayStart := start.Add(time.Duration(day) * 24 * time.Hour)
		for m := range 1440 {
			minute := dayStart.Add(time.Duration(m) * time.Minute)
			for ; ci < len(changes) && changes[ci].minute == m; ci++ {
				c := changes[ci]
				r.Node(c.node/nodes, c.node%nodes, c.st, true, minute)
			}
			for node := range n {
				at := minute.Add(time.Duration(node) * time.Minute / time.Duration(n))
				r.Latency(node/nodes, node%nodes, time.Duration(5+rng.IntN(200))*time.Millisecond, at)
			}
			if m%10 == 9 {
				puts, prune := r.Flush(minute.Add(time.Minute - time.Millisecond))
				if err := st.Apply(ctx, storage.Batch{PutHistory: puts, PruneHistory: prune}); err != nil {
					tb.Fatal(err)
				}
				rep.flushes++
				rep.puts += len(puts)
			}
		}
	}
	loaded, err := st.Load(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	rep.records, rep.keyBytes, rep.valueBy = map[byte]int{}, map[byte]int{}, map[byte]int{}
	for _, rec := range loaded.History {
		rep.records[rec.Key[0]]++
		rep.keyBytes[rec.Key[0]] += len(rec.Key)
		rep.valueBy[rec.Key[0]] += len(rec.Value)
	}
	// The store's file is state.db in one of this test's temporary
	// directories (storagetest does not say which).
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(tb.TempDir()), "*", "state.db"))
	files = slices.DeleteFunc(files, func(f string) bool { return strings.Contains(f, "compact") })
	if len(files) != 1 {
		tb.Fatalf("store files: %v", files)
	}
	fi, err := os.Stat(files[0])
	if err != nil {
		tb.Fatal(err)
	}
	rep.fileBytes = fi.Size()
	rep.compactBytes = compactedSize(tb, files[0])
	// And the recorder restarts from it with the same view.
	end := start.Add(time.Duration(days)*24*time.Hour - time.Millisecond) // the last Flush
	if d := viewDiff(r.View(end), New(l, loaded.History, end).View(end)); d != "" {
		tb.Fatalf("view after reload: %s", d)
	}
	return rep
}

func (s sizeReport) log(tb testing.TB) {
	tb.Helper()
	var b strings.Builder
	total, kv := 0, 0
	for _, k := range []byte("hdiam") {
		if s.records[k] == 0 {
			continue
		}
		c := s.records[k]
		total += c
		kv += s.keyBytes[k] + s.valueBy[k]
		b.WriteString("\n  " + string(k) + ": ")
		b.WriteString(strings.Join([]string{strconv.Itoa(c), "records,", strconv.Itoa(c / s.subjects), "per subject, key",
			strconv.Itoa(s.keyBytes[k] / c), "B + value", strconv.Itoa(s.valueBy[k] / c), "B"}, " "))
	}
	tb.Logf("%d subjects, %d flushes writing %d records (%d per flush); stored %d records, %d B of keys and values (%d B each), file %d B (%d B per record), compacted %d B (%d B per record)%s",
		s.subjects, s.flushes, s.puts, s.puts/max(s.flushes, 1), total, kv, kv/max(total, 1), s.fileBytes, s.fileBytes/int64(max(total, 1)),
		s.compactBytes, s.compactBytes/int64(max(total, 1)), b.String())
}

// compactedSize copies the (idle) store file and compacts the copy with
// bbolt, which fills every page: the smallest file the same records take.
func compactedSize(tb testing.TB, path string) int64 {
	tb.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	src, dst := filepath.Join(dir, "copy.db"), filepath.Join(dir, "compact.db")
	if err := os.WriteFile(src, raw, 0o600); err != nil {
		tb.Fatal(err)
	}
	from, err := bolt.Open(src, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	defer from.Close()
	logFill(tb, "store", from)
	to, err := bolt.Open(dst, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	if err := bolt.Compact(to, from, 64<<20); err != nil {
		tb.Fatal(err)
	}
	logFill(tb, "compacted", to)
	if err := to.Close(); err != nil {
		tb.Fatal(err)
	}
	fi, err := os.Stat(dst)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size()
}

// logFill logs how full the history bucket's pages are and how many
// pages of the file are free.
func logFill(tb testing.TB, name string, db *bolt.DB) {
	tb.Helper()
	err := db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("history"))
		if b == nil {
			return nil
		}
		st := b.Stats()
		tb.Logf("%s: history bucket %d leaf pages (%d B, %.0f %% in use), %d branch pages; file %d pages, %d free",
			name, st.LeafPageN, st.LeafAlloc, 100*float64(st.LeafInuse)/float64(max(st.LeafAlloc, 1)), st.BranchPageN,
			tx.Size()/int64(db.Info().PageSize), db.Stats().FreePageN)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// TestStorageSize runs a small fleet (2 services × 5 nodes) for 10 days
// and checks the record counts against the retention: per subject 168
// hourly records (7 days) and one daily record per day.
func TestStorageSize(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates 10 days")
	}
	rep := simulateStore(t, 2, 5, 10)
	rep.log(t)
	if got, want := rep.records['h'], rep.subjects*ringHours; got != want {
		t.Errorf("%d hourly records, want %d (%d subjects × %d)", got, want, rep.subjects, ringHours)
	}
	if got, want := rep.records['d'], rep.subjects*10; got != want {
		t.Errorf("%d daily records, want %d", got, want)
	}
	if per := rep.fileBytes / int64(rep.records['h']+rep.records['d']); per > 400 {
		t.Errorf("file holds %d B per record", per)
	}
}

// BenchmarkStorageSize90Days is the full simulation: 20 services × 50 poll
// nodes for 90 days. Run it once:
//
//	go test -run '^$' -bench StorageSize -benchtime 1x ./history/
func BenchmarkStorageSize90Days(b *testing.B) {
	for b.Loop() {
		rep := simulateStore(b, 20, 50, 90)
		rep.log(b)
		b.ReportMetric(float64(rep.fileBytes)/(1<<20), "file-MiB")
		b.ReportMetric(float64(rep.records['h']+rep.records['d']), "bucket-records")
	}
}
