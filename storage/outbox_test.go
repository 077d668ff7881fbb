package storage

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vigil-go/vigil/messages"
)

func outboxFixture(notifier, id string, kind messages.NotificationKind, status messages.Status) OutboxEntry {
	return OutboxEntry{Notifier: notifier, ID: id, Kind: kind, Status: status,
		Replicas: []string{"web:api:http://a/", "web:api:ünïcode"}, Escalated: 2, Time: at(7)}
}

func openOutboxStore(t *testing.T, path string) Store {
	t.Helper()
	s, err := OpenBolt(path, discard())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestOutboxSlots: one slot per notifier, a put replaces the slot, a
// delete empties it (unknown ones are no-ops), and the slots survive a
// reopen exactly.
func TestOutboxSlots(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openOutboxStore(t, path)
	slack := outboxFixture("slack", "n-1", messages.Changed, messages.Dead)
	hook := outboxFixture("webhook", "n-1", messages.Changed, messages.Dead)
	mustApply(t, s, Batch{PutOutbox: []OutboxEntry{hook, slack}, Alerting: &Alerting{Status: messages.Dead, Backoff: 1}})
	if got := mustLoad(t, s).Outbox; !reflect.DeepEqual(got, []OutboxEntry{slack, hook}) {
		t.Fatalf("outbox %+v, want both slots in notifier order", got)
	}
	newer := outboxFixture("slack", "n-2", messages.Reminder, messages.Dead)
	newer.Replicas = nil
	mustApply(t, s, Batch{PutOutbox: []OutboxEntry{newer}, DeleteOutbox: []string{"webhook", "email"}})
	got := mustLoad(t, s).Outbox
	if len(got) != 1 || got[0].ID != "n-2" || got[0].Kind != messages.Reminder {
		t.Fatalf("outbox %+v, want only the newer slack slot", got)
	}
	if n := got[0].Notification(); n.Replicas == nil || len(n.Replicas) != 0 || n.ID != "n-2" || !n.Time.Equal(at(7)) {
		t.Fatalf("notification %+v, want an empty replica list and the stored id and time", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openOutboxStore(t, path)
	defer s.Close()
	if again := mustLoad(t, s).Outbox; !reflect.DeepEqual(again, got) {
		t.Fatalf("after reopen %+v, want %+v", again, got)
	}
}

// TestOutboxRejectsWhatCannotLoad: an entry without a notifier, or with a
// status or kind that would not decode, is left out of its batch; the
// rest commits.
func TestOutboxRejectsWhatCannotLoad(t *testing.T) {
	s := openOutboxStore(t, filepath.Join(t.TempDir(), "state.db"))
	defer s.Close()
	good := outboxFixture("slack", "ok", messages.Changed, messages.Healthy)
	err := s.Apply(context.Background(), Batch{PutOutbox: []OutboxEntry{
		outboxFixture("", "no-notifier", messages.Changed, messages.Dead),
		outboxFixture("email", "bad-status", messages.Changed, messages.Status(9)),
		outboxFixture("matrix", "bad-kind", messages.NotificationKind(9), messages.Dead),
		good,
	}})
	var re *RejectedError
	if !errors.As(err, &re) || len(re.Records) != 3 {
		t.Fatalf("Apply: %v, want three rejected records", err)
	}
	if got := mustLoad(t, s).Outbox; !reflect.DeepEqual(got, []OutboxEntry{good}) {
		t.Fatalf("outbox %+v, want only the storable entry", got)
	}
}

// TestOutboxBucketAddedOnOpen: a file written before the outbox existed
// (same schema version, no outbox bucket) opens with an empty outbox and
// takes outbox writes.
func TestOutboxBucketAddedOnOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openOutboxStore(t, path)
	mustApply(t, s, Batch{Alerting: &Alerting{Status: messages.Dead, Backoff: 1}})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketOutbox) }); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s = openOutboxStore(t, path)
	defer s.Close()
	st := mustLoad(t, s)
	if st.Alerting == nil || st.Alerting.Status != messages.Dead || len(st.Outbox) != 0 {
		t.Fatalf("loaded %+v, want the alerting state and an empty outbox", st)
	}
	e := outboxFixture("webhook", "n-1", messages.Changed, messages.Dead)
	mustApply(t, s, Batch{PutOutbox: []OutboxEntry{e}})
	if got := mustLoad(t, s).Outbox; !reflect.DeepEqual(got, []OutboxEntry{e}) {
		t.Fatalf("outbox %+v", got)
	}
}

// TestRebuildWritesOutbox: a rebuild from the caller's state keeps its
// outbox and drops slots the caller does not hold.
func TestRebuildWritesOutbox(t *testing.T) {
	s, err := OpenBolt(filepath.Join(t.TempDir(), "state.db"), discard())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustApply(t, s, Batch{PutOutbox: []OutboxEntry{outboxFixture("email", "old", messages.Changed, messages.Dead)}})
	keep := outboxFixture("webhook", "new", messages.Changed, messages.Healthy)
	if _, err := s.Rebuild(context.Background(), &State{Outbox: []OutboxEntry{keep}}); err != nil {
		t.Fatal(err)
	}
	if got := mustLoad(t, s).Outbox; !reflect.DeepEqual(got, []OutboxEntry{keep}) {
		t.Fatalf("outbox after rebuild %+v, want only the caller's entry", got)
	}
}
