package history

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage"
	"github.com/vigil-go/vigil/storage/storagetest"
)

// churn applies n random events, 0 to 20 minutes apart, to every recorder
// in rs (all see the same events), flushing each into its store now and
// then.
func churn(rng *rand.Rand, l Layout, now time.Time, n int, rs []*rig) time.Time {
	for i := range n {
		now = now.Add(time.Duration(rng.Int64N(int64(20 * time.Minute))))
		si := rng.IntN(len(l.Services))
		ni := rng.IntN(len(l.Services[si].Nodes))
		kind := rng.IntN(10)
		st := messages.Status(rng.IntN(3))
		if rng.IntN(3) == 0 {
			st = messages.Healthy
		}
		lat := time.Duration(rng.Int64N(int64(300 * time.Millisecond)))
		for _, g := range rs {
			g.now = now
			switch {
			case kind < 6:
				g.r.Node(si, ni, st, kind != 0, now)
			case kind < 9:
				g.r.Latency(si, ni, lat, now)
			case i%2 == 0:
				g.r.Announced(messages.Announcement{ID: fmt.Sprint("an", i), Title: "Maintenance", Text: "Tonight", Date: now}, now)
			default:
				g.r.Retracted(fmt.Sprint("an", i-3), now)
			}
			if i%7 == 0 {
				g.flush()
			}
		}
	}
	return now
}

// observeAll tells r the status every node has in from, as the state actor
// does after a restart.
func observeAll(r, from *Recorder, now time.Time) {
	for si, sv := range from.services {
		for ni, n := range sv.nodes {
			r.Node(si, ni, n.ser.cur.status(), n.ser.cur != noData, now)
		}
	}
}

func TestRestartReproducesTheView(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			l := webLayout()
			g := newRig(t, l, t0)
			now := churn(rng, l, t0, 400, []*rig{g}) // about 3 days
			g.flush()
			before := g.r.View(now)

			restarted := &rig{t: t, r: New(l, g.store.records(), now), now: now, store: memStore{}}
			for k, v := range g.store {
				restarted.store[k] = v
			}
			if d := viewDiff(before, restarted.r.View(now)); d != "" {
				t.Fatalf("view after restart differs: %s", d)
			}
			// Told the statuses again, the restarted recorder goes on as
			// if nothing happened.
			observeAll(restarted.r, g.r, now)
			for range 5 {
				now = churn(rng, l, now, 60, []*rig{g, restarted})
				if d := viewDiff(g.r.View(now), restarted.r.View(now)); d != "" {
					t.Fatalf("views diverge at %v: %s", now, d)
				}
			}
			// And its store holds what the other's does: a second restart
			// from each gives the same view.
			g.flush()
			restarted.flush()
			a := New(l, g.store.records(), now).View(now)
			b := New(l, restarted.store.records(), now).View(now)
			if d := viewDiff(a, b); d != "" {
				t.Fatalf("stores differ after the restart: %s", d)
			}
		})
	}
}

func TestRestartGapIsNoData(t *testing.T) {
	l := webLayout()
	cases := []struct {
		name          string
		flushAt, down time.Duration // after 10:00, when the node went healthy
		wantToday     times         // node "a" at 12:00
	}{
		// Healthy 10:00–10:20, down 10:20–10:50 (restart in the same hour),
		// healthy again from 10:50.
		{name: "same hour", flushAt: 20 * time.Minute, down: 30 * time.Minute,
			wantToday: times{healthy: 20*time.Minute + 70*time.Minute, noData: 10*time.Hour + 30*time.Minute}},
		// Flush at 10:59, down until 11:30.
		{name: "across an hour", flushAt: 59 * time.Minute, down: 31 * time.Minute,
			wantToday: times{healthy: 59*time.Minute + 30*time.Minute, noData: 10*time.Hour + 31*time.Minute}},
		// Flush exactly at 11:00, down until 11:40.
		{name: "flush on the hour", flushAt: time.Hour, down: 40 * time.Minute,
			wantToday: times{healthy: time.Hour + 20*time.Minute, noData: 10*time.Hour + 40*time.Minute}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newRig(t, l, t0.Add(9*time.Hour))
			g.flush()
			g.at(time.Hour).node(0, 0, messages.Healthy) // 10:00
			g.flush()
			g.at(tc.flushAt).flush()
			g.at(3*time.Second).node(0, 0, messages.Dead) // lost: after the last Flush
			g.at(tc.down - 3*time.Second).restart(l)
			g.node(0, 0, messages.Healthy)
			g.flush()
			g.now = t0.Add(12 * time.Hour)
			a := g.view().Services[0].Nodes[0]
			if got := dayTimes(today(a.HistorySeries)); got != tc.wantToday {
				t.Errorf("today %+v, want %+v", got, tc.wantToday)
			}
			// The stored hourly and daily buckets agree with the view.
			g.flush()
			var sum time.Duration
			for h := 9; h <= 12; h++ {
				b := storedBucket(t, g.store, false, t0.Add(time.Duration(h)*time.Hour), nodeSubject("web", "a"))
				sum += time.Duration(b.observed()) * time.Millisecond
			}
			day := storedBucket(t, g.store, true, t0, nodeSubject("web", "a"))
			if day := time.Duration(day.observed()) * time.Millisecond; sum != tc.wantToday.healthy || day != sum {
				t.Errorf("stored hours hold %v and the day %v, want %v", sum, day, tc.wantToday.healthy)
			}
		})
	}
}

// TestRestartTwiceInOneHour: the open status New accounts is cleared from
// the stored records, so a second restart does not count it again.
func TestRestartTwiceInOneHour(t *testing.T) {
	l := webLayout()
	g := newRig(t, l, t0.Add(10*time.Hour))
	g.node(0, 1, messages.Healthy)
	g.at(10 * time.Minute).flush() // 10:10
	g.at(5 * time.Minute).restart(l)
	g.at(5 * time.Minute).flush() // 10:20: node b has no data
	g.at(5 * time.Minute).restart(l)
	g.at(5 * time.Minute)
	b := g.view().Services[0].Nodes[1]
	if got := dayTimes(today(b.HistorySeries)); got.healthy != 10*time.Minute {
		t.Errorf("healthy %v after two restarts, want 10m", got.healthy)
	}
}

func TestRestartFromBolt(t *testing.T) {
	ctx := context.Background()
	st := storagetest.New(t)
	l := webLayout()
	r := New(l, nil, t0)
	now := t0
	write := func() {
		t.Helper()
		puts, prune := r.Flush(now)
		if err := st.Apply(ctx, storage.Batch{PutHistory: puts, PruneHistory: prune}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 48 * 12 { // two days, every 5 minutes
		now = now.Add(5 * time.Minute)
		r.Node(0, 0, []messages.Status{messages.Healthy, messages.Sick, messages.Dead}[i/5%3], true, now)
		r.Node(1, 0, messages.Healthy, true, now)
		r.Latency(0, 0, time.Duration(i%40)*time.Millisecond, now)
		write()
	}
	r.Announced(messages.Announcement{ID: "x/1", Title: "Planned", Text: "Upgrade", Date: now}, now)
	write()
	want := r.View(now)
	loaded, err := st.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := New(l, loaded.History, now).View(now)
	if d := viewDiff(want, got); d != "" {
		t.Fatalf("view from bolt differs: %s", d)
	}
	if len(got.Incidents) == 0 || len(got.Announcements) != 1 {
		t.Fatalf("restored %d incidents and %d announcements", len(got.Incidents), len(got.Announcements))
	}
}

// TestRecordsRebuildTheView: Records is everything a store rebuilt from
// memory needs, and afterwards Flush returns only later changes.
func TestRecordsRebuildTheView(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	l := webLayout()
	g := newRig(t, l, t0)
	now := churn(rng, l, t0, 600, []*rig{g}) // about 4 days, flushed now and then
	recs := g.r.Records(now)
	if d := viewDiff(g.r.View(now), New(l, recs, now).View(now)); d != "" {
		t.Fatalf("view from Records differs: %s", d)
	}
	if puts, prune := g.r.Flush(now.Add(time.Second)); len(puts) != 1 || puts[0].Key != keyMeta || prune != nil {
		t.Errorf("Flush after Records: %d puts (%v), prune %v", len(puts), puts, prune)
	}
}
