package state

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"sort"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage"
)

// running is a state actor served in a synctest bubble with a fakeWriter.
type running struct {
	actor *Actor
	pub   *Published
	w     *fakeWriter
	stop  context.CancelFunc
	done  chan struct{}
}

func serveWithWriter(t *testing.T, w *fakeWriter) *running {
	t.Helper()
	r := &running{pub: &Published{}, w: w, done: make(chan struct{})}
	r.actor = New(testConfig(), r.pub, slog.New(slog.DiscardHandler), Options{Writer: w})
	ctx, cancel := context.WithCancel(t.Context())
	r.stop = cancel
	go func() { r.actor.Serve(ctx); close(r.done) }()
	t.Cleanup(func() { cancel(); <-r.done })
	synctest.Wait()
	return r
}

// next returns the next request the actor handed the writer, passing over
// periodic batches that only carry history (time passing changes it).
func (r *running) next(t *testing.T) queuedWrite {
	t.Helper()
	synctest.Wait()
	for {
		select {
		case q := <-r.w.queue:
			if historyOnly(q) {
				continue
			}
			return q
		default:
			t.Fatal("nothing handed to the writer")
			return queuedWrite{}
		}
	}
}

// historyOnly reports whether q is a periodic batch with only history
// records in it.
func historyOnly(q queuedWrite) bool {
	b := q.batch
	b.PutHistory, b.PruneHistory = nil, nil
	return !q.rebuild && q.reply == nil && b.Empty() && !q.batch.Empty()
}

// idle fails when the actor handed the writer anything but history.
func (r *running) idle(t *testing.T, why string) {
	t.Helper()
	synctest.Wait()
	for len(r.w.queue) != 0 {
		if q := <-r.w.queue; !historyOnly(q) {
			t.Fatalf("%s: %d more request(s) handed to the writer, first %+v", why, len(r.w.queue), q)
		}
	}
}

func (r *running) announce(id string) chan error {
	errc := make(chan error, 1)
	go func() {
		errc <- r.actor.AddAnnouncement(context.Background(), messages.Announcement{ID: id, Title: "T " + id})
	}()
	return errc
}

func announcementIDs(s *messages.Snapshot) []string {
	ids := []string{}
	for _, a := range s.Announcements {
		ids = append(ids, a.ID)
	}
	return ids
}

// TestFailedCommandIsNotApplied: a Manager command whose batch the store
// does not take is answered with the error and is neither published nor
// kept; the store is then rebuilt from the model, without it. Once the
// store works, the same command succeeds and shows.
func TestFailedCommandIsNotApplied(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := serveWithWriter(t, newFakeWriter(8))
		errc := r.announce("a1")
		q := r.next(t)
		if len(q.batch.PutAnnouncements) != 1 || q.reply == nil {
			t.Fatalf("command batch %+v", q)
		}
		diskFull := errors.New("disk full")
		q.reply <- diskFull
		if err := <-errc; !errors.Is(err, diskFull) {
			t.Fatalf("AddAnnouncement: %v, want the store's error", err)
		}
		synctest.Wait()
		if ids := announcementIDs(r.pub.Latest()); len(ids) != 0 {
			t.Fatalf("failed announcement published: %v", ids)
		}
		// The store failed: it is rebuilt from the model, which does not
		// have the announcement.
		rb := r.next(t)
		if !rb.rebuild || len(rb.state.Announcements) != 0 {
			t.Fatalf("after a failed command: %+v, want a rebuild without the announcement", rb)
		}
		rb.reply <- nil

		errc = r.announce("a1")
		q = r.next(t)
		q.reply <- nil
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if ids := announcementIDs(r.pub.Latest()); !reflect.DeepEqual(ids, []string{"a1"}) {
			t.Fatalf("published %v, want [a1]", ids)
		}
	})
}

// TestRetractionAndIgnoreWaitForTheStore: a retraction and an ignore
// window show only once stored; a failed one leaves the model as it was.
func TestRetractionAndIgnoreWaitForTheStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := serveWithWriter(t, newFakeWriter(8))
		errc := r.announce("a1")
		r.next(t).reply <- nil
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		remove := make(chan error, 1)
		go func() { remove <- r.actor.RemoveAnnouncement(context.Background(), "a1") }()
		q := r.next(t)
		if !reflect.DeepEqual(q.batch.DeleteAnnouncements, []string{"a1"}) {
			t.Fatalf("retraction batch %+v", q.batch)
		}
		if ids := announcementIDs(r.pub.Latest()); len(ids) != 1 {
			t.Fatal("retraction shown before it is stored")
		}
		q.reply <- &storage.RejectedError{Records: []storage.RejectedRecord{{Kind: "announcement", ID: "a1"}}}
		if err := <-remove; err == nil {
			t.Fatal("retraction the store left out answered nil")
		}
		r.idle(t, "a record the store left out") // no rebuild: it would leave it out again
		if ids := announcementIDs(r.pub.Latest()); len(ids) != 1 {
			t.Fatal("failed retraction applied")
		}

		until := time.Now().Add(time.Hour)
		ignore := make(chan error, 1)
		go func() { ignore <- r.actor.SetIgnore(context.Background(), until) }()
		q = r.next(t)
		if q.batch.Alerting == nil || !q.batch.Alerting.IgnoreUntil.Equal(until) {
			t.Fatalf("ignore batch %+v", q.batch)
		}
		if !r.pub.Latest().IgnoreUntil.IsZero() {
			t.Fatal("ignore window shown before it is stored")
		}
		q.reply <- nil
		if err := <-ignore; err != nil {
			t.Fatal(err)
		}
		if !r.pub.Latest().IgnoreUntil.Equal(until) {
			t.Fatal("stored ignore window not shown")
		}
	})
}

// TestPeriodicBatchWaitsForCommand: while a command is in flight, the
// periodic flush holds what changed, so that no batch queued behind the
// command carries an older alerting state than the command wrote.
func TestPeriodicBatchWaitsForCommand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := serveWithWriter(t, newFakeWriter(8))
		ignore := make(chan error, 1)
		go func() { ignore <- r.actor.SetIgnore(context.Background(), time.Now().Add(time.Hour)) }()
		q := r.next(t)
		r.actor.Inbox() <- probed("jobs", "0", messages.Dead) // a notified change: flushed at once, normally
		time.Sleep(3 * FlushEvery)
		r.idle(t, "with a command in flight")
		q.reply <- nil
		if err := <-ignore; err != nil {
			t.Fatal(err)
		}
		p := r.next(t)
		if p.reply != nil || p.batch.Alerting == nil || p.batch.Alerting.IgnoreUntil.IsZero() {
			t.Fatalf("held batch %+v, want the alerting state with the ignore window", p.batch)
		}
	})
}

// TestStaleStoreIsRebuilt: when the writer says the store is stale, the
// actor hands it the whole model, holds periodic batches until it is
// stored, and retries a failed rebuild with a growing delay.
func TestStaleStoreIsRebuilt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := serveWithWriter(t, newFakeWriter(8))
		errc := r.announce("a1")
		r.next(t).reply <- nil
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		r.actor.Inbox() <- probed("api", "http://a/", messages.Sick)
		r.actor.Inbox() <- messages.ReplicaUpdated{Key: messages.ReplicaKey{Probe: "relay", Node: "socket", Replica: "r1"}, Status: messages.Healthy, Reported: time.Now(), Interval: time.Minute}
		synctest.Wait()
		r.w.stale <- struct{}{}
		rb := r.next(t)
		if !rb.rebuild || rb.reply == nil {
			t.Fatalf("after a stale signal: %+v, want a rebuild", rb)
		}
		var keys []string
		for _, rep := range rb.state.Replicas {
			keys = append(keys, rep.Key.String()+"="+rep.Status.String())
		}
		sort.Strings(keys)
		if want := []string{"relay:socket:r1=healthy", "web:api:http://a/=sick"}; !reflect.DeepEqual(keys, want) {
			t.Fatalf("rebuild replicas %v, want %v", keys, want)
		}
		if len(rb.state.Announcements) != 1 || rb.state.Announcements[0].ID != "a1" || rb.state.Announcements[0].Seq == 0 || rb.state.Alerting == nil {
			t.Fatalf("rebuild state %+v", rb.state)
		}

		// Fails twice: retried after 1 s, then 2 s; periodic batches wait.
		r.actor.Inbox() <- probed("api", "http://a/", messages.Healthy)
		start := time.Now()
		for i, wait := range []time.Duration{time.Second, 2 * time.Second} {
			rb.reply <- errors.New("disk full")
			synctest.Wait()
			time.Sleep(wait - time.Nanosecond)
			r.idle(t, "before the retry")
			time.Sleep(FlushEvery)
			rb = r.next(t)
			if !rb.rebuild {
				t.Fatalf("retry %d: %+v, want a rebuild", i+1, rb)
			}
		}
		if waited := time.Since(start); waited < 3*time.Second {
			t.Fatalf("retries came %v after the first failure", waited)
		}
		rb.reply <- nil
		time.Sleep(3 * FlushEvery)
		r.idle(t, "after the rebuild, nothing changed")
		r.actor.Inbox() <- probed("api", "http://a/", messages.Dead)
		if p := r.next(t); p.rebuild || len(p.batch.PutReplicas) != 1 {
			t.Fatalf("after the rebuild: %+v, want a periodic batch", p)
		}
	})
}

// TestStopAnswersCommandsInFlight: a stopping actor waits for the reply to
// a command in flight, applies and answers it, then writes its last
// request: a rebuild when the store needs one.
func TestStopAnswersCommandsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := serveWithWriter(t, newFakeWriter(8))
		errc := r.announce("a1")
		q := r.next(t)
		r.w.stale <- struct{}{} // held behind the command
		synctest.Wait()
		r.stop()
		synctest.Wait()
		q.reply <- nil
		if err := <-errc; err != nil {
			t.Fatalf("command in flight at the stop: %v", err)
		}
		last := r.next(t)
		if !last.rebuild || len(last.state.Announcements) != 1 {
			t.Fatalf("last request %+v, want a rebuild with the announcement", last)
		}
		last.reply <- nil
		<-r.done
	})
}

// TestStopRebuildsWhenLastBatchFails: when the last batch of a stopping
// actor fails (the store was damaged at the last moment), the actor
// rebuilds the store from its whole state before it returns.
func TestStopRebuildsWhenLastBatchFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := serveWithWriter(t, newFakeWriter(8))
		r.actor.Inbox() <- probed("jobs", "0", messages.Sick) // not notified: pending
		synctest.Wait()
		r.stop()
		last := r.next(t)
		if last.rebuild || last.reply == nil {
			t.Fatalf("last request %+v, want the pending batch", last)
		}
		last.reply <- storage.ErrDamaged
		rb := r.next(t)
		if !rb.rebuild || len(rb.state.Replicas) != 1 || rb.state.Replicas[0].Status != messages.Sick {
			t.Fatalf("after a failed last batch: %+v, want a rebuild with the sick replica", rb)
		}
		rb.reply <- nil
		<-r.done
	})
}

// TestFullStateRoundTrip: a model restored from FullState shows what the
// original showed.
func TestFullStateRoundTrip(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m := NewModel(testConfig())
	m.Apply(messages.AnnouncementAdd{Announcement: messages.Announcement{ID: "a1", Title: "One", Date: now}}, now)
	m.Apply(messages.AnnouncementAdd{Announcement: messages.Announcement{ID: "a2", Title: "Two", Date: now}}, now)
	m.Apply(messages.AnnouncementRemove{ID: "a1"}, now)
	m.Apply(probed("api", "tcp://b:1", messages.Dead), now)
	for _, id := range []string{"r2", "r1"} {
		m.Apply(messages.ReplicaUpdated{Key: messages.ReplicaKey{Probe: "relay", Node: "socket", Replica: id}, Status: messages.Sick, Reported: now, Interval: time.Minute}, now)
	}
	m.Apply(messages.IgnoreSet{Until: now.Add(time.Hour)}, now)
	st := m.FullState(time.Now())
	if len(st.Announcements) != 1 || st.Announcements[0].Seq != 2 {
		t.Fatalf("announcements %+v, want a2 with Seq 2", st.Announcements)
	}
	if len(st.Replicas) != 3 {
		t.Fatalf("replicas %+v, want the three with a result", st.Replicas)
	}
	back := NewModel(testConfig())
	back.Restore(st)
	want, got := m.Snapshot(), back.Snapshot()
	for _, s := range []*messages.Snapshot{want, got} {
		s.Generation, s.Refreshed = 0, time.Time{}
	}
	if !reflect.DeepEqual(got.Announcements, want.Announcements) || !got.IgnoreUntil.Equal(want.IgnoreUntil) || got.Status != want.Status {
		t.Fatalf("restored %+v\nwant %+v", got, want)
	}
	if !reflect.DeepEqual(got.Probes, want.Probes) {
		t.Fatalf("restored probes %+v\nwant %+v", got.Probes, want.Probes)
	}
	back.Apply(messages.AnnouncementAdd{Announcement: messages.Announcement{ID: "a3"}}, now)
	if st := back.FullState(time.Now()); st.Announcements[1].Seq <= st.Announcements[0].Seq {
		t.Fatalf("a new announcement after a restore does not come last: %+v", st.Announcements)
	}
}

// TestSecondRetractionInFlightIsUnknown: two retractions of one
// announcement both wait for the store; the first stored retracts it, the
// second is answered ErrUnknownAnnouncement, as it would be had it come
// after the first was applied.
func TestSecondRetractionInFlightIsUnknown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := serveWithWriter(t, newFakeWriter(8))
		errc := r.announce("a1")
		r.next(t).reply <- nil
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		first, second := make(chan error, 1), make(chan error, 1)
		go func() { first <- r.actor.RemoveAnnouncement(context.Background(), "a1") }()
		q1 := r.next(t)
		go func() { second <- r.actor.RemoveAnnouncement(context.Background(), "a1") }()
		q2 := r.next(t)
		q1.reply <- nil
		if err := <-first; err != nil {
			t.Fatalf("first retraction: %v", err)
		}
		q2.reply <- nil
		if err := <-second; !errors.Is(err, messages.ErrUnknownAnnouncement) {
			t.Fatalf("second retraction: %v, want ErrUnknownAnnouncement", err)
		}
		if ids := announcementIDs(r.pub.Latest()); len(ids) != 0 {
			t.Fatalf("published %v after the retraction", ids)
		}
	})
}
