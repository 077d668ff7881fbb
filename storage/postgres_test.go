package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage/pgtest"
	"github.com/vigil-go/vigil/testkit"
)

// openPG opens a store on dsn, closed when t ends.
func openPG(t *testing.T, dsn string) Repairable {
	t.Helper()
	s, err := OpenPostgres(context.Background(), dsn, discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// pgQuery runs sql on its own connection to dsn and returns the rows as
// text (NULL as "NULL").
func pgQuery(t *testing.T, dsn, sql string, args ...any) [][]string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		var row []string
		for _, v := range vals {
			if v == nil {
				row = append(row, "NULL")
			} else {
				row = append(row, fmt.Sprint(v))
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// fullState has a record of every kind.
func fullState() *State {
	b := bigBatch(40)
	return &State{
		Announcements: b.PutAnnouncements,
		Replicas:      append(replicaFixtures(), b.PutReplicas...),
		Alerting:      &Alerting{Status: messages.Sick, Escalate: 2, Backoff: 1, LastNotified: at(3)},
		Outbox: []OutboxEntry{
			{Notifier: "slack", ID: "n-1", Kind: messages.Changed, Status: messages.Dead, Replicas: []string{"a:b:c"}, Time: at(9)},
			{Notifier: "webhook", ID: "n-1", Kind: messages.Changed, Status: messages.Dead, Time: at(9)},
		},
		History: []HistoryRecord{{Key: "d/0001/page", Value: []byte("1")}, {Key: "d/0002/page", Value: []byte{0, 1, 2}}},
	}
}

func TestPostgresMigrationFiles(t *testing.T) {
	ms, err := pgMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no embedded migration")
	}
	for i, m := range ms {
		if m.version != i+1 || strings.TrimSpace(m.sql) == "" {
			t.Errorf("migration %d is %s (version %d, %d bytes), want version %d with SQL", i, m.name, m.version, len(m.sql), i+1)
		}
	}
}

// TestPostgresConcurrentOpenMigratesOnce: instances starting together on a
// new database all open it, and each migration runs exactly once.
func TestPostgresConcurrentOpenMigratesOnce(t *testing.T) {
	dsn := pgtest.New(t)
	ms, err := pgMigrations()
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	var logs testkit.Logs
	start := make(chan struct{})
	stores := make([]Repairable, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = OpenPostgres(context.Background(), dsn, logs.Logger())
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: %v", i, err)
			continue
		}
		defer stores[i].Close()
	}
	var want [][]string
	for _, m := range ms {
		want = append(want, []string{fmt.Sprint(m.version), "1"})
	}
	got := pgQuery(t, dsn, "SELECT version, count(*) FROM vigil_schema_migrations GROUP BY version ORDER BY version")
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("vigil_schema_migrations (version, count) = %v, want %v", got, want)
	}
	if applied := logs.With(t, "postgres store: applied schema migration"); len(applied) != len(ms) {
		t.Fatalf("%d migrations applied across the instances, want %d", len(applied), len(ms))
	}
	// Every instance works on the result.
	for i, s := range stores {
		if s != nil {
			mustApply(t, s, Batch{PutReplicas: []Replica{{Key: messages.ReplicaKey{Probe: "p", Node: "n", Replica: fmt.Sprint(i)}}}})
		}
	}
	if got := len(mustLoad(t, stores[0]).Replicas); got != n {
		t.Fatalf("%d replicas stored, want %d", got, n)
	}
}

// TestPostgresOpenUnreachable: a port where nothing listens fails at once,
// a server that never answers fails when ctx ends; both errors wrap
// ErrUnavailable and name host:port.
func TestPostgresOpenUnreachable(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		began := time.Now()
		s, err := OpenPostgres(ctx, "postgres://vigil@"+addr+"/vigil?sslmode=disable", discard())
		took := time.Since(began)
		if err == nil {
			s.Close()
			t.Fatal("opened a store on a port where nothing listens")
		}
		t.Logf("after %v: %v", took, err)
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), addr) {
			t.Errorf("error %q: want one wrapping ErrUnavailable and naming %s", err, addr)
		}
		if took > 5*time.Second {
			t.Errorf("took %v to fail, want at once", took)
		}
	})
	t.Run("silent", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		// Accept connections and never answer them.
		var mu sync.Mutex
		var conns []net.Conn
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
		defer func() {
			mu.Lock()
			defer mu.Unlock()
			for _, c := range conns {
				c.Close()
			}
		}()
		addr := l.Addr().String()
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		began := time.Now()
		s, err := OpenPostgres(ctx, "postgres://vigil@"+addr+"/vigil?sslmode=disable", discard())
		took := time.Since(began)
		if err == nil {
			s.Close()
			t.Fatal("opened a store on a server that never answers")
		}
		t.Logf("after %v: %v", took, err)
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), addr) {
			t.Errorf("error %q: want one wrapping ErrUnavailable and naming %s", err, addr)
		}
		if took > 3*time.Second {
			t.Errorf("took %v to fail, want about ctx's 300ms", took)
		}
	})
}

// TestPostgresSchemaTooNew: a database migrated by a newer binary is
// refused and left as it is.
func TestPostgresSchemaTooNew(t *testing.T) {
	dsn := pgtest.New(t)
	s := openPG(t, dsn)
	mustApply(t, s, Batch{Alerting: &Alerting{Escalate: 4}})
	s.Close()
	pgQuery(t, dsn, "INSERT INTO vigil_schema_migrations (version) VALUES (9999)")
	before := pgQuery(t, dsn, "SELECT version FROM vigil_schema_migrations ORDER BY version")
	s2, err := OpenPostgres(context.Background(), dsn, discard())
	if err == nil {
		s2.Close()
		t.Fatal("opened a database with an unknown schema version")
	}
	if !errors.Is(err, ErrSchemaTooNew) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("error %v, want ErrSchemaTooNew", err)
	}
	if after := pgQuery(t, dsn, "SELECT version FROM vigil_schema_migrations ORDER BY version"); !reflect.DeepEqual(after, before) {
		t.Fatalf("versions changed from %v to %v", before, after)
	}
	if got := pgQuery(t, dsn, "SELECT value->>'escalate' FROM vigil_alerting"); !reflect.DeepEqual(got, [][]string{{"4"}}) {
		t.Fatalf("alerting row %v, want it untouched", got)
	}
}

func TestPostgresRefusesOtherEncodings(t *testing.T) {
	dsn := pgtest.NewWith(t, "ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
	s, err := OpenPostgres(context.Background(), dsn, discard())
	if err == nil {
		s.Close()
		t.Fatal("opened a LATIN1 database")
	}
	if !strings.Contains(err.Error(), "LATIN1") || errors.Is(err, ErrUnavailable) {
		t.Fatalf("error %v, want one naming the encoding", err)
	}
	if got := pgQuery(t, dsn, "SELECT to_regclass('vigil_schema_migrations') IS NULL"); got[0][0] != "true" {
		t.Fatal("the refused database was migrated")
	}
}

// TestPostgresReopenKeepsState: what one instance stored, the next one
// loads, without migrating again.
func TestPostgresReopenKeepsState(t *testing.T) {
	dsn := pgtest.New(t)
	s := openPG(t, dsn)
	mustApply(t, s, stateBatch(fullState()))
	want := mustLoad(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var logs testkit.Logs
	s2, err := OpenPostgres(context.Background(), dsn, logs.Logger())
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := mustLoad(t, s2); !reflect.DeepEqual(got, want) {
		t.Fatalf("after reopen:\n got %+v\nwant %+v", got, want)
	}
	if n := len(logs.With(t, "postgres store: applied schema migration")); n != 0 {
		t.Fatalf("reopening applied %d migrations", n)
	}
}

// TestPostgresRebuild: Rebuild replaces everything in one transaction,
// leaves out what bbolt leaves out, and ends with what a bbolt store
// rebuilt from the same state holds.
func TestPostgresRebuild(t *testing.T) {
	s := openPG(t, pgtest.New(t))
	ref, err := OpenBolt(t.TempDir()+"/ref.db", discard())
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	ctx := context.Background()
	for _, st := range []Repairable{s, ref} {
		mustApply(t, st, stateBatch(fullState()))
	}

	next := &State{
		Announcements: []Announcement{ann("fresh", 7)},
		Replicas: []Replica{
			{Key: messages.ReplicaKey{Probe: "only", Node: "one", Replica: "left"}, Status: messages.Dead, Updated: at(1)},
			{Key: messages.ReplicaKey{Probe: "bad", Node: "status"}, Status: 9},
		},
		History: []HistoryRecord{{Key: "z", Value: []byte("z")}},
	}
	for _, st := range []Repairable{s, ref} {
		moved, err := st.Rebuild(ctx, next)
		var rej *RejectedError
		if moved != "" || !errors.As(err, &rej) || len(rej.Records) != 1 || rej.Records[0].Replica.Probe != "bad" {
			t.Fatalf("Rebuild: moved %q, %v; want nothing moved and the bad replica rejected", moved, err)
		}
	}
	got, want := mustLoad(t, s), mustLoad(t, ref)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after Rebuild:\n got %+v\nwant %+v", got, want)
	}
	if len(got.Replicas) != 1 || got.Alerting != nil || got.Outbox != nil || len(got.History) != 1 {
		t.Fatalf("after Rebuild: %+v, want only the new state", got)
	}
	if _, err := s.Rebuild(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if st := mustLoad(t, s); !reflect.DeepEqual(st, &State{}) {
		t.Fatalf("after Rebuild(nil): %+v", st)
	}
	if err := s.Health(); err != nil {
		t.Fatalf("Health: %v", err)
	}
}

// TestPostgresFailedBatchChangesNothing: a batch the database refuses
// halfway (here: a trigger fails its history insert, the last statement,
// after the announcements, replicas and alerting state went in) leaves
// every table as it was.
func TestPostgresFailedBatchChangesNothing(t *testing.T) {
	dsn := pgtest.New(t)
	s := openPG(t, dsn)
	mustApply(t, s, Batch{PutReplicas: replicaFixtures()[:2], Alerting: &Alerting{Escalate: 1}})
	pgQuery(t, dsn, `CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'history refused'; END $$`)
	pgQuery(t, dsn, "CREATE TRIGGER boom BEFORE INSERT ON vigil_history FOR EACH ROW EXECUTE FUNCTION boom()")
	b := bigBatch(100)
	b.PutHistory = []HistoryRecord{{Key: "k", Value: []byte("v")}}
	err := s.Apply(context.Background(), b)
	if err == nil || errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "history refused") {
		t.Fatalf("Apply: %v, want the trigger's error", err)
	}
	t.Log(err)
	if got := pgQuery(t, dsn, "SELECT count(*) FROM vigil_replicas"); got[0][0] != "2" {
		t.Fatalf("%s replicas stored, want the 2 from before the failed batch", got[0][0])
	}
	if got := pgQuery(t, dsn, "SELECT count(*) FROM vigil_announcements"); got[0][0] != "0" {
		t.Fatalf("%s announcements stored, want none", got[0][0])
	}
	if got := pgQuery(t, dsn, "SELECT value->>'escalate' FROM vigil_alerting"); got[0][0] != "1" {
		t.Fatalf("alerting escalate %s, want 1", got[0][0])
	}
}

// TestPostgresWritersOfTwoInstances: two instances writing the same rows
// in opposite orders at once never deadlock: every batch commits whole.
func TestPostgresWritersOfTwoInstances(t *testing.T) {
	dsn := pgtest.New(t)
	a, b := openPG(t, dsn), openPG(t, dsn)
	var keys []messages.ReplicaKey
	for i := range 50 {
		keys = append(keys, messages.ReplicaKey{Probe: "p", Node: "n", Replica: fmt.Sprint(i)})
	}
	batch := func(ks []messages.ReplicaKey, writer, round int) Batch {
		var rs []Replica
		for _, k := range ks {
			rs = append(rs, Replica{Key: k, Position: uint64(writer), Updated: at(int64(round))})
		}
		return Batch{PutReplicas: rs, Alerting: &Alerting{Escalate: writer}}
	}
	reversed := slices.Clone(keys)
	slices.Reverse(reversed)
	var wg sync.WaitGroup
	for w, s := range []Repairable{a, b} {
		ks := [][]messages.ReplicaKey{keys, reversed}[w]
		wg.Go(func() {
			for round := range 20 {
				if err := s.Apply(context.Background(), batch(ks, w, round)); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	// The last batch to commit wrote every replica and the alerting state.
	st := mustLoad(t, a)
	last := st.Alerting.Escalate
	for _, r := range st.Replicas {
		if r.Position != uint64(last) {
			t.Fatalf("replica %v written by %d, but the last batch came from %d: batches interleaved", r.Key, r.Position, last)
		}
	}
}

// TestPostgresPruneUsesIndex: the prune statement's prefix condition
// matches the range index, so pruning does not scan the table.
func TestPostgresPruneUsesIndex(t *testing.T) {
	dsn := pgtest.New(t)
	s := openPG(t, dsn)
	var b Batch
	for i := range 2000 {
		b.PutHistory = append(b.PutHistory, HistoryRecord{Key: fmt.Sprintf("d/%06d/page", i), Value: []byte("x")})
	}
	mustApply(t, s, b)
	pgQuery(t, dsn, "ANALYZE vigil_history")
	plan := pgQuery(t, dsn, "EXPLAIN "+strings.NewReplacer("$1::bytea", `'\x642f'::bytea`, "$2::bytea", `'\x642f303030303130'::bytea`).Replace(pgPruneHistory))
	var text strings.Builder
	for _, row := range plan {
		text.WriteString(row[0] + "\n")
	}
	if !strings.Contains(text.String(), "vigil_history_key_prefix") {
		t.Fatalf("prune plan does not use the prefix index:\n%s", text.String())
	}
	mustApply(t, s, Batch{PruneHistory: []KeyRange{{From: "d/", To: "d/000010"}}})
	if got := mustLoad(t, s).History; len(got) != 1990 || got[0].Key != "d/000010/page" {
		t.Fatalf("after prune: %d records from %q", len(got), got[0].Key)
	}
}

// proxy forwards TCP connections from a loopback port to target, and can
// cut them (refusing new ones) or freeze them (accepting, never
// forwarding), then come back on the same port.
type proxy struct {
	t      *testing.T
	target string
	addr   string

	mu     sync.Mutex
	l      net.Listener
	frozen bool
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target}
	p.start("127.0.0.1:0")
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) start(addr string) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.l, p.addr, p.frozen = l, l.Addr().String(), false
	p.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, c)
			frozen := p.frozen
			p.mu.Unlock()
			if frozen {
				continue // held open, never answered
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

// cut closes the listener and every connection.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		p.l.Close()
		p.l = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// freeze cuts every connection and then accepts new ones without ever
// answering them.
func (p *proxy) freeze() {
	p.cut()
	p.start(p.addr)
	p.mu.Lock()
	p.frozen = true
	p.mu.Unlock()
}

// TestPostgresOutageAndRecovery: while the server is away (connections
// cut, or a server that stops answering), Health, Load and Apply fail
// within their bounds with ErrUnavailable naming the server; once it is
// back the same store works again, with nothing lost.
func TestPostgresOutageAndRecovery(t *testing.T) {
	dsn := pgtest.New(t)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)))
	proxied := fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", cfg.User, p.addr, cfg.Database)
	s, err := openPostgres(context.Background(), proxied, discard(), pgOptions{healthTimeout: 500 * time.Millisecond, closeTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	mustApply(t, s, Batch{Alerting: &Alerting{Escalate: 1}})
	if err := s.Health(); err != nil {
		t.Fatalf("Health: %v", err)
	}

	unavailable := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), p.addr) {
			t.Fatalf("%s: %v, want an error wrapping ErrUnavailable naming %s", what, err, p.addr)
		}
	}
	bounded := func(what string, limit time.Duration, call func() error) {
		t.Helper()
		began := time.Now()
		err := call()
		if took := time.Since(began); took > limit {
			t.Errorf("%s took %v, want at most %v", what, took, limit)
		}
		unavailable(what, err)
	}

	for _, outage := range []struct {
		name  string
		start func()
	}{{"cut", p.cut}, {"frozen", p.freeze}} {
		outage.start()
		bounded(outage.name+": Health", 3*time.Second, s.Health)
		bounded(outage.name+": Apply", 3*time.Second, func() error {
			callCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancel()
			return s.Apply(callCtx, Batch{Alerting: &Alerting{Escalate: 99}})
		})
		bounded(outage.name+": Load", 3*time.Second, func() error {
			callCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancel()
			_, err := s.Load(callCtx)
			return err
		})

		p.cut()
		p.start(p.addr)
		testkit.Eventually(t, 10*time.Second, func() bool { return s.Health() == nil }, "%s: store healthy again after the outage", outage.name)
		mustApply(t, s, Batch{PutReplicas: []Replica{{Key: messages.ReplicaKey{Probe: outage.name}}}})
	}
	st := mustLoad(t, s)
	if len(st.Replicas) != 2 || st.Alerting == nil || st.Alerting.Escalate != 1 {
		t.Fatalf("after the outages: %+v, want the batches from before and after them and none from during", st)
	}
}

func TestPostgresHealthAndClose(t *testing.T) {
	s := openPG(t, pgtest.New(t))
	if err := s.Health(); err != nil {
		t.Fatalf("Health: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Health(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Health after Close: %v", err)
	}
	if _, err := s.Rebuild(context.Background(), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Rebuild after Close: %v", err)
	}
}

// TestPostgresHealthDoesNotWaitForWrites: while another process holds the
// write lock, an Apply waits for it (writers are serialised across
// processes) and Health still answers at once.
func TestPostgresHealthDoesNotWaitForWrites(t *testing.T) {
	dsn := pgtest.New(t)
	s := openPG(t, dsn)
	ctx := context.Background()
	other, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	if _, err := other.Exec(ctx, "SELECT pg_advisory_lock($1)", pgWriteLock); err != nil {
		t.Fatal(err)
	}
	applied := make(chan error, 1)
	applyCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	go func() { applied <- s.Apply(applyCtx, Batch{Alerting: &Alerting{Escalate: 5}}) }()
	// The Apply is waiting for the lock once the server shows it.
	testkit.Eventually(t, 10*time.Second, func() bool {
		var waiting bool
		err := other.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted)").Scan(&waiting)
		return err == nil && waiting
	}, "Apply waits for the write lock")
	began := time.Now()
	if err := s.Health(); err != nil {
		t.Fatalf("Health during a waiting write: %v", err)
	}
	if took := time.Since(began); took > time.Second {
		t.Errorf("Health took %v during a waiting write", took)
	}
	select {
	case err := <-applied:
		t.Fatalf("Apply returned (%v) while another process held the write lock", err)
	default:
	}
	if _, err := other.Exec(ctx, "SELECT pg_advisory_unlock($1)", pgWriteLock); err != nil {
		t.Fatal(err)
	}
	if err := <-applied; err != nil {
		t.Fatalf("Apply after the lock was released: %v", err)
	}
	if a := mustLoad(t, s).Alerting; a == nil || a.Escalate != 5 {
		t.Fatalf("alerting %+v, want the waiting batch stored", a)
	}
}
