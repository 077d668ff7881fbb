package storage

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-go/vigil/storage/pgtest"
)

// setLease makes the lease row say holder leads at epoch for ttl (a
// negative ttl: the lease has expired).
func setLease(t *testing.T, dsn, holder string, epoch int64, ttl time.Duration) {
	t.Helper()
	pgQuery(t, dsn, "UPDATE vigil_leader SET holder = $1, epoch = $2, expires_at = clock_timestamp() + $3::interval WHERE id = 1",
		holder, epoch, ttl.String())
}

func leaseOf(holder string, epoch int64, ok bool) LeaseFunc {
	return func() (string, int64, bool) { return holder, epoch, ok }
}

// TestFencedWritesNeedTheLease: a fenced store writes only under the
// current lease (holder, epoch, not expired), notifies its channel at
// each commit, and writes nothing otherwise.
func TestFencedWritesNeedTheLease(t *testing.T) {
	dsn := pgtest.New(t)
	s := openPG(t, dsn)
	ctx := context.Background()
	listener, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close(ctx)
	if _, err := listener.Exec(ctx, "LISTEN vigil_state"); err != nil {
		t.Fatal(err)
	}
	announce := func(id string) Batch {
		return Batch{PutAnnouncements: []Announcement{{ID: id, Title: id, Text: id, Date: at(1), Seq: uint64(len(id))}}}
	}

	setLease(t, dsn, "a", 7, time.Minute)
	f, err := Fenced(s, leaseOf("a", 7, true), "vigil_state")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Apply(ctx, announce("one")); err != nil {
		t.Fatalf("apply under the lease: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	n, err := listener.WaitForNotification(wctx)
	cancel()
	if err != nil || n.Channel != "vigil_state" {
		t.Fatalf("notification after the write: %v %v", n, err)
	}
	if _, err := f.Rebuild(ctx, &State{Announcements: announce("two").PutAnnouncements}); err != nil {
		t.Fatalf("rebuild under the lease: %v", err)
	}

	for _, tc := range []struct {
		name  string
		lease LeaseFunc
		setup func()
	}{
		{"older epoch", leaseOf("a", 7, true), func() { setLease(t, dsn, "a", 8, time.Minute) }},
		{"other holder", leaseOf("a", 8, true), func() { setLease(t, dsn, "b", 8, time.Minute) }},
		{"expired", leaseOf("a", 8, true), func() { setLease(t, dsn, "a", 8, -time.Second) }},
		{"local deadline passed", leaseOf("a", 8, false), func() { setLease(t, dsn, "a", 8, time.Minute) }},
	} {
		tc.setup()
		f, _ := Fenced(s, tc.lease, "vigil_state")
		err := f.Apply(ctx, announce("three"))
		if !errors.Is(err, ErrFenced) {
			t.Errorf("%s: apply = %v, want ErrFenced", tc.name, err)
		}
		if _, err := f.Rebuild(ctx, nil); !errors.Is(err, ErrFenced) {
			t.Errorf("%s: rebuild = %v, want ErrFenced", tc.name, err)
		}
	}
	st, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Announcements) != 1 || st.Announcements[0].ID != "two" {
		t.Fatalf("fenced-off writes changed the store: %+v", st.Announcements)
	}
	if err := f.Close(); err != nil || s.Health() != nil {
		t.Fatalf("closing the fenced view closed the store: %v %v", err, s.Health())
	}
}

// TestFenceHoldsOffTakeover: while a transaction that passed the fence is
// open, the lease row cannot be taken over (here by an update that would
// take it whatever its expiry).
func TestFenceHoldsOffTakeover(t *testing.T) {
	dsn := pgtest.New(t)
	openPG(t, dsn)
	ctx := context.Background()
	setLease(t, dsn, "a", 1, time.Minute)
	leader, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer leader.Close(ctx)
	tx, err := leader.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT vigil_fence('a', 1)"); err != nil {
		t.Fatal(err)
	}
	other, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	if _, err := other.Exec(ctx, "SET lock_timeout = '300ms'"); err != nil {
		t.Fatal(err)
	}
	_, err = other.Exec(ctx, "UPDATE vigil_leader SET holder = 'b', epoch = epoch + 1 WHERE id = 1")
	if err == nil || !strings.Contains(err.Error(), "lock timeout") {
		t.Fatalf("takeover during a fenced write: %v, want a lock timeout", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	tag, err := other.Exec(ctx, "UPDATE vigil_leader SET holder = 'b', epoch = epoch + 1 WHERE id = 1")
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("takeover after the write: %v %v", tag, err)
	}
	if _, err := leader.Exec(ctx, "SELECT vigil_fence('a', 1)"); err == nil || !strings.Contains(err.Error(), "VF001") {
		t.Fatalf("old leader's fence after takeover: %v", err)
	}
}

func TestFencedNeedsPostgres(t *testing.T) {
	b, err := OpenBolt(filepath.Join(t.TempDir(), "s.db"), discard())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := Fenced(b, leaseOf("a", 1, true), ""); err == nil {
		t.Fatal("a bbolt store was fenced")
	}
}
