package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage"
	"github.com/vigil-go/vigil/storage/pgtest"
)

// TestMigrateStore moves an embedded store into PostgreSQL with the real
// binary: everything arrives; a second copy onto a database that holds
// state is refused unless --force; a running server's store (locked) and
// a database an instance leads are refused; and an instance started on
// the database shows what the embedded store held.
func TestMigrateStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	src, err := storage.OpenBolt(filepath.Join(dir, "state.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	want := &storage.State{
		Announcements: []storage.Announcement{{ID: "a1", Title: "Maintenance", Text: "tonight", Date: at, Seq: 1}},
		Replicas: []storage.Replica{
			{Key: messages.ReplicaKey{Probe: "relay", Node: "socket", Replica: "10.0.0.9"}, Status: messages.Healthy,
				Updated: at, Reported: at, Interval: time.Hour, Load: &messages.Load{CPU: 0.1, RAM: 0.2}, Position: 2},
		},
		Alerting: &storage.Alerting{Status: messages.Dead, Escalate: 1, Backoff: 2, LastNotified: at},
		Outbox:   []storage.OutboxEntry{{Notifier: "webhook", ID: "n-1", Kind: messages.Changed, Status: messages.Dead, Replicas: []string{"web:api:x"}, Time: at}},
		History:  []storage.HistoryRecord{{Key: "d/0001/page", Value: []byte{1, 2, 3}}},
	}
	if _, err := src.Rebuild(ctx, want); err != nil {
		t.Fatal(err)
	}
	dsn := pgtest.New(t)

	// The store is locked while its server runs.
	code, _, stderr := runBinary(t, "migrate-store", "--from", dir, "--to", dsn)
	if code != 1 || !strings.Contains(stderr, "locked") {
		t.Fatalf("locked store: exit %d, %q", code, stderr)
	}
	src.Close()

	code, stdout, stderr := runBinary(t, "migrate-store", "--from", dir, "--to", dsn)
	if code != 0 || !strings.Contains(stdout, "copied 1 announcements, 1 replicas, the alerting state, 1 undelivered notifications and 1 history records") {
		t.Fatalf("migrate: exit %d\n%s%s", code, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, "@") {
		t.Fatalf("output shows the DSN's credentials: %s", stdout)
	}
	dst, err := storage.OpenPostgres(ctx, dsn, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	got, err := dst.Load(ctx)
	dst.Close()
	if err != nil {
		t.Fatal(err)
	}
	normalise := func(st *storage.State) string {
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if normalise(utc(got)) != normalise(utc(want)) {
		t.Fatalf("PostgreSQL holds\n%s\nwant\n%s", normalise(utc(got)), normalise(utc(want)))
	}

	code, _, stderr = runBinary(t, "migrate-store", "--from", dir, "--to", dsn)
	if code != 1 || !strings.Contains(stderr, "already holds 5 records: --force replaces them") {
		t.Fatalf("non-empty target: exit %d, %q", code, stderr)
	}
	if code, _, stderr = runBinary(t, "migrate-store", "--from", dir, "--to", dsn, "--force"); code != 0 {
		t.Fatalf("--force: exit %d, %q", code, stderr)
	}
	if code, _, _ = runBinary(t, "migrate-store", "--to", dsn); code != 2 {
		t.Fatalf("without --from: exit %d, want 2", code)
	}

	// An instance on the database shows what was moved, and while it
	// leads the command refuses to write.
	hooks := newHookReceiver(t)
	target := httptest.NewServer(nil)
	defer target.Close()
	i := startInstance(t, "a", dsn, "", hooks.srv.URL, target.URL)
	clusterLeader(t, 20*time.Second, i)
	i.waitFor("the moved announcement", func() bool {
		_, list := i.request("GET", "/manager/announcements", "m", "")
		return strings.Contains(list, `"title":"Maintenance"`)
	})
	code, _, stderr = runBinary(t, "migrate-store", "--from", dir, "--to", dsn, "--force")
	if code != 1 || !strings.Contains(stderr, "leads the cluster on this database: stop every instance first") {
		t.Fatalf("with a leader: exit %d, %q", code, stderr)
	}
}

// utc returns st with its times in UTC (a stored time comes back in the
// local zone of the database session).
func utc(st *storage.State) *storage.State {
	c := *st
	c.Announcements = append([]storage.Announcement(nil), st.Announcements...)
	for i := range c.Announcements {
		c.Announcements[i].Date = c.Announcements[i].Date.UTC()
	}
	c.Replicas = append([]storage.Replica(nil), st.Replicas...)
	for i := range c.Replicas {
		r := &c.Replicas[i]
		r.Updated, r.Reported = r.Updated.UTC(), r.Reported.UTC()
	}
	a := *st.Alerting
	a.LastNotified, a.IgnoreUntil = a.LastNotified.UTC(), a.IgnoreUntil.UTC()
	c.Alerting = &a
	c.Outbox = append([]storage.OutboxEntry(nil), st.Outbox...)
	for i := range c.Outbox {
		c.Outbox[i].Time = c.Outbox[i].Time.UTC()
	}
	return &c
}
