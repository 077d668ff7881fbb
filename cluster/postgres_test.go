package cluster

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage"
	"github.com/vigil-go/vigil/storage/pgtest"
	"github.com/vigil-go/vigil/testkit"
)

// openDB migrates a fresh database (through the store) and opens the
// cluster's connections to it.
func openDB(t *testing.T) (*DB, string) {
	t.Helper()
	dsn := pgtest.New(t)
	s, err := storage.OpenPostgres(context.Background(), dsn, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	db, err := Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db, dsn
}

func exec(t *testing.T, dsn, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatal(err)
	}
}

// TestPostgresLease: the lease row grants one holder at a time, bumps the
// epoch at every takeover, renews only the current term, and is free
// again once expired or released.
func TestPostgresLease(t *testing.T) {
	db, dsn := openDB(t)
	l, ctx := db.Lease(), context.Background()
	check := func(what string, gotEpoch int64, gotOK bool, gotHolder string, err error, epoch int64, ok bool, holder string) {
		t.Helper()
		if err != nil || gotEpoch != epoch || gotOK != ok || gotHolder != holder {
			t.Fatalf("%s = %d %v %q %v, want %d %v %q", what, gotEpoch, gotOK, gotHolder, err, epoch, ok, holder)
		}
	}
	e, ok, h, err := l.Acquire(ctx, "a", time.Minute)
	check("a takes the free lease", e, ok, h, err, 1, true, "a")
	e, ok, h, err = l.Acquire(ctx, "b", time.Minute)
	check("b while a holds it", e, ok, h, err, 0, false, "a")
	if ok, err := l.Renew(ctx, "a", 1, time.Minute); !ok || err != nil {
		t.Fatalf("a renews: %v %v", ok, err)
	}
	if ok, _ := l.Renew(ctx, "b", 1, time.Minute); ok {
		t.Fatal("b renewed a's lease")
	}
	exec(t, dsn, "UPDATE vigil_leader SET expires_at = clock_timestamp() - interval '1 second'")
	e, ok, h, err = l.Acquire(ctx, "b", time.Minute)
	check("b takes the expired lease", e, ok, h, err, 2, true, "b")
	if ok, _ := l.Renew(ctx, "a", 1, time.Minute); ok {
		t.Fatal("a renewed a term that was taken over")
	}
	e, ok, h, err = l.Acquire(ctx, "b", time.Minute)
	check("b takes its own lease again", e, ok, h, err, 3, true, "b")
	if err := l.Release(ctx, "a", 1); err != nil {
		t.Fatal(err)
	}
	e, ok, h, err = l.Acquire(ctx, "a", time.Minute)
	check("a after releasing a term it no longer had", e, ok, h, err, 0, false, "b")
	if err := l.Release(ctx, "b", 3); err != nil {
		t.Fatal(err)
	}
	e, ok, h, err = l.Acquire(ctx, "a", time.Minute)
	check("a after b released", e, ok, h, err, 4, true, "a")
}

// TestPostgresElectors: two electors on one database; one leads; when its
// elector stops (the process died) the other leads within TTL + Renew.
func TestPostgresElectors(t *testing.T) {
	db, _ := openDB(t)
	o := ElectorOptions{TTL: 3 * time.Second, Renew: time.Second}
	a, b := NewElector("a", db.Lease(), o, quiet()), NewElector("b", db.Lease(), o, quiet())
	stopA := run(a)
	testkit.Eventually(t, 5*time.Second, func() bool { return a.Holds(1) }, "a does not lead")
	stopB := run(b)
	defer stopB()
	testkit.Eventually(t, 5*time.Second, func() bool { return b.Leader() == "a" }, "b does not see a lead")
	if _, ok := b.Leading(); ok {
		t.Fatal("two leaders")
	}
	stopA()
	died := time.Now()
	testkit.Eventually(t, o.TTL+o.Renew+time.Second, func() bool { return b.Holds(2) }, "b did not take over")
	t.Logf("takeover %v after the leader stopped renewing", time.Since(died).Round(time.Millisecond))
	if _, ok := a.Leading(); ok {
		t.Fatal("a still leads")
	}
}

// fakeTarget records the commands applied.
type fakeTarget struct {
	mu      sync.Mutex
	applied []string
	busy    bool
}

func (f *fakeTarget) add(s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.busy {
		return messages.ErrBusy
	}
	f.applied = append(f.applied, s)
	return nil
}

func (f *fakeTarget) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.applied)
}

func (f *fakeTarget) Report(_ context.Context, p, n string, m messages.Report) error {
	err := f.add("report " + p + "/" + n + "/" + m.Replica)
	if err == nil && m.Visible != nil {
		m.Visible <- 1
	}
	return err
}
func (f *fakeTarget) Flush(_ context.Context, p, n string, m messages.Flush) error {
	return f.add("flush " + p + "/" + n + "/" + m.Replica)
}
func (f *fakeTarget) AddAnnouncement(_ context.Context, a messages.Announcement) error {
	return f.add("announce " + a.ID + " " + a.Title)
}
func (f *fakeTarget) RemoveAnnouncement(_ context.Context, id string) error {
	if err := f.add("retract " + id); err != nil {
		return err
	}
	return messages.ErrUnknownAnnouncement
}
func (f *fakeTarget) SetIgnore(_ context.Context, until time.Time) error {
	return f.add("ignore " + until.UTC().Format(time.RFC3339))
}

// TestCommandsReachTheLeader: commands queued by followers are applied in
// order by the leader's consumer, woken by the notification, and deleted
// under its lease; a busy target keeps them queued; without the lease
// nothing is deleted; an announcement already published is not
// published again.
func TestCommandsReachTheLeader(t *testing.T) {
	db, dsn := openDB(t)
	q, ctx := db.Queue(), context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	load := &messages.Load{CPU: 0.5, RAM: 0.25}
	for _, err := range []error{
		q.Report(ctx, "svc", "node", messages.Report{Replica: "r1", Interval: 30 * time.Second, Load: load, At: at}),
		q.AddAnnouncement(ctx, messages.Announcement{ID: "a1", Title: "Maintenance", Text: "tonight", Date: at}),
		q.AddAnnouncement(ctx, messages.Announcement{ID: "old", Title: "Published before", Text: "x", Date: at}),
		q.RemoveAnnouncement(ctx, "gone"),
		q.SetIgnore(ctx, at.Add(time.Hour)),
		q.Report(ctx, "svc", "node", messages.Report{Replica: "r1", Interval: 60 * time.Second, Load: load, At: at.Add(time.Second)}),
		q.Flush(ctx, "svc", "node", "r2"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	reports, err := q.PendingReports(ctx)
	if err != nil || len(reports) != 1 || !reports[0].At.Equal(at.Add(time.Second)) || reports[0].Interval != time.Minute || *reports[0].Load != *load {
		t.Fatalf("pending reports = %+v, %v; want r1's newest", reports, err)
	}

	// The lease: held by "leader" at epoch 1.
	exec(t, dsn, "UPDATE vigil_leader SET holder = 'leader', epoch = 1, expires_at = clock_timestamp() + interval '1 minute'")
	leading := true
	var mu sync.Mutex
	lease := func() (string, int64, bool) { mu.Lock(); defer mu.Unlock(); return "leader", 1, leading }
	target := &fakeTarget{busy: true}
	listener := NewListener(db, quiet())
	shown := make(chan struct{}, 16)
	c := &Consumer{Queue: q, Target: target, Signals: listener.Commands(), Lease: lease, Logger: quiet(),
		Published: func(id string) bool { return id == "old" }, PollEvery: time.Hour,
		Shown: func() { shown <- struct{}{} }}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = listener.Serve(ctx) }()
	done := make(chan error, 1)
	go func() { done <- c.Serve(ctx) }()

	// Busy: nothing applied, everything stays queued.
	testkit.Eventually(t, 5*time.Second, func() bool { return pending(t, q) == 7 }, "commands lost while the target is busy")
	target.mu.Lock()
	target.busy = false
	target.mu.Unlock()
	// A new command wakes the consumer, which applies everything in order.
	if err := q.Report(ctx, "svc", "node", messages.Report{Replica: "r3", Interval: time.Second, Health: new(messages.Sick), At: at}); err != nil {
		t.Fatal(err)
	}
	want := []string{"report svc/node/r1", "announce a1 Maintenance", "retract gone", "ignore 2026-01-02T04:04:05Z",
		"report svc/node/r1", "flush svc/node/r2", "report svc/node/r3"}
	// Bounds are generous: the suite shares one PostgreSQL with other
	// packages' tests under the race detector.
	if !testkit.Within(20*time.Second, func() bool { return slices.Equal(target.list(), want) }) {
		t.Fatalf("applied %v, want %v", target.list(), want)
	}
	testkit.Eventually(t, 20*time.Second, func() bool { return pending(t, q) == 0 }, "applied commands not deleted")
	<-shown

	// Without the lease, applied commands stay queued and the consumer
	// stops.
	mu.Lock()
	leading = false
	mu.Unlock()
	if err := q.Flush(ctx, "svc", "node", "r9"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("consumer: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the consumer went on without the lease")
	}
	if n := pending(t, q); n != 1 {
		t.Fatalf("%d commands queued, want the one applied without the lease", n)
	}
	// And the database refuses the deletion to a stale term.
	exec(t, dsn, "UPDATE vigil_leader SET epoch = 2")
	if err := q.Done(ctx, func() (string, int64, bool) { return "leader", 1, true }, []int64{1, 2, 3}); !errors.Is(err, storage.ErrFenced) {
		t.Fatalf("Done in a stale term = %v, want ErrFenced", err)
	}
}

func pending(t *testing.T, q *Queue) int {
	t.Helper()
	cmds, err := q.Pending(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	return len(cmds)
}

// TestListenerReconnects: the listener relays notifications, and after
// its connection is killed it reconnects and signals both channels (what
// was sent meanwhile is lost, so readers read again).
func TestListenerReconnects(t *testing.T) {
	db, dsn := openDB(t)
	l := NewListener(db, quiet())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = l.Serve(ctx) }()
	wait := func(ch <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("no signal: %s", what)
		}
	}
	wait(l.State(), "state after connecting")
	wait(l.Commands(), "commands after connecting")
	exec(t, dsn, "NOTIFY "+StateChannel)
	wait(l.State(), "state notification")
	select {
	case <-l.Commands():
		t.Fatal("a state notification signalled commands")
	default:
	}
	exec(t, dsn, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = current_database() AND pid <> pg_backend_pid()")
	wait(l.State(), "state after reconnecting")
	wait(l.Commands(), "commands after reconnecting")
	exec(t, dsn, "NOTIFY "+CommandsChannel)
	wait(l.Commands(), "commands notification after reconnecting")
}
