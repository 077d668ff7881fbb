package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vigil-go/vigil/messages"
)

// The PostgreSQL store keeps what the bbolt store keeps, in tables of one
// database (schema: migrations/*.sql, applied by OpenPostgres; see
// postgres_migrate.go), so that several server instances can share it.
//
// What it guarantees:
//
//   - Atomicity: every Apply and Rebuild is one transaction. Records that
//     cannot be stored are found before it starts and left out
//     (RejectedError, for exactly the inputs the bbolt store rejects: both
//     run the same encoding); anything that fails inside the transaction
//     rolls the whole batch back.
//   - Durability: Apply returns nil once PostgreSQL has committed the
//     transaction, which is as durable as the server's administrator made
//     commits (synchronous_commit, fsync, synchronous standbys). The store
//     changes none of these settings.
//   - Writers are serialised: each write transaction first takes
//     pg_advisory_xact_lock(pgWriteLock), so the batches of every process
//     writing the database apply one after the other, in full, as the
//     bbolt store's single writer does, and never deadlock each other.
//   - Load reads one snapshot (a repeatable read, read-only transaction)
//     and returns the same State as the bbolt store would for the same
//     batches: announcements by Seq, replicas in the bbolt store's key
//     order, the outbox by notifier and the history by key (both in byte
//     order), with values decoded by the same code.
//   - A write whose connection breaks before the commit is answered may or
//     may not have committed: Apply returns an error (ErrUnavailable), and
//     the caller rewrites what it holds (Rebuild), as it does after any
//     failed write.
//
// Connection: a pgxpool pool built from the DSN, so the DSN's pool
// settings apply (pool_max_conns, pool_max_conn_lifetime, ...; see
// pgxpool.ParseConfig), as do libpq's (sslmode, connect_timeout,
// target_session_attrs, several hosts...). Health, Load and Apply each use
// one connection at a time; keep pool_max_conns at 2 or more (OpenPostgres
// raises a smaller value to 2) so that a health check never waits for a
// write. Behind PgBouncer in transaction mode add
// default_query_exec_mode=exec (or simple_protocol) to the DSN, since the
// default caches prepared statements per connection.

// ErrUnavailable is wrapped by the errors of the PostgreSQL store when the
// server cannot be reached or does not answer in time: connection refused
// or lost, a timeout, too many connections, the server starting up or
// shutting down, failed authentication or a missing database. The error
// reads "postgres store <host:port/database> is unavailable: <reason>" and
// unwraps to the pgx error. Unlike ErrDamaged nothing needs repairing: the
// same call succeeds once the server answers again. Health reports it, so
// readiness fails while the database is away.
var ErrUnavailable = errors.New("store is unavailable")

// unavailableError is ErrUnavailable with the server and the reason.
type unavailableError struct {
	target string
	err    error
}

func (e *unavailableError) Error() string {
	return "postgres store " + e.target + " is unavailable: " + e.err.Error()
}
func (e *unavailableError) Unwrap() error        { return e.err }
func (e *unavailableError) Is(target error) bool { return target == ErrUnavailable }

const (
	// DefaultPostgresConnectTimeout bounds one connection attempt when the
	// DSN sets no connect_timeout (every call is also bounded by its ctx).
	DefaultPostgresConnectTimeout = 5 * time.Second
	// DefaultPostgresHealthTimeout bounds Health's query.
	DefaultPostgresHealthTimeout = 2 * time.Second
)

// pgWriteLock is the advisory lock key every write transaction takes
// ("vigil" and 2).
const pgWriteLock int64 = 0x76696769_6c000002

// pgPruneHistory deletes the history keys in [$1, $2). Its prefix
// condition is the expression of the range index
// (migrations/0002_history.sql), word for word so that the planner uses
// the index; the exact bounds then pick the rows.
const pgPruneHistory = `DELETE FROM vigil_history
	WHERE substring(key FROM 1 FOR 512) BETWEEN substring($1::bytea FROM 1 FOR 512) AND substring($2::bytea FROM 1 FOR 512)
	AND key >= $1::bytea AND key < $2::bytea`

// pgOptions are the knobs tests turn.
type pgOptions struct {
	healthTimeout time.Duration
	closeTimeout  time.Duration
}

// pgStore is the PostgreSQL Store. It holds no state of its own beyond the
// pool: every call is one transaction on one pooled connection, so it is
// safe for concurrent use.
type pgStore struct {
	pool   *pgxpool.Pool
	target string
	logger *slog.Logger
	o      pgOptions

	closed atomic.Bool
	once   sync.Once
	err    error
}

// OpenPostgres connects to the PostgreSQL database named by dsn (a URL,
// postgres://user:password@host:port/database?sslmode=..., or libpq
// key=value settings), brings its schema up to date (see
// postgres_migrate.go: several instances opening one database at once
// migrate it exactly once) and returns the store. It needs PostgreSQL 12
// or newer (generated columns) and a database in the UTF8 encoding
// (values are JSON text). It fails with an error wrapping
// ErrUnavailable and naming host:port when the server cannot be reached,
// as soon as the connection is refused or ctx ends, whichever is first;
// with ErrSchemaTooNew when a newer binary migrated the database. A nil
// logger means slog.Default().
//
// The store's guarantees are in the comment at the top of postgres.go.
// Close closes the pool.
func OpenPostgres(ctx context.Context, dsn string, logger *slog.Logger) (Repairable, error) {
	return openPostgres(ctx, dsn, logger, pgOptions{healthTimeout: DefaultPostgresHealthTimeout, closeTimeout: DefaultCloseTimeout})
}

func openPostgres(ctx context.Context, dsn string, logger *slog.Logger, o pgOptions) (Repairable, error) {
	if logger == nil {
		logger = slog.Default()
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgconn leaves the password out of its message.
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultPostgresConnectTimeout
	}
	if cfg.MaxConns < 2 {
		cfg.MaxConns = 2
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "vigil"
	}
	s := &pgStore{target: pgTarget(cfg.ConnConfig), logger: logger, o: o}
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("postgres store %s: %w", s.target, err)
	}
	ms, err := pgMigrations()
	if err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	var enc string
	err = s.pool.QueryRow(ctx, "SHOW server_encoding").Scan(&enc)
	if err == nil && enc != "UTF8" {
		s.pool.Close()
		return nil, fmt.Errorf("postgres store %s: database encoding is %s, the store needs UTF8 (values are JSON text; CREATE DATABASE ... ENCODING 'UTF8')", s.target, enc)
	}
	var version int
	if err == nil {
		version, err = pgMigrate(ctx, s.pool, ms, logger)
	}
	if err != nil {
		s.pool.Close()
		return nil, s.wrap(ctx, "open", err)
	}
	logger.Info("postgres store open", "target", s.target, "schema_version", version)
	return s, nil
}

// pgTarget names the server and database for messages: host:port/database
// (the first host when the DSN names several), never the password.
func pgTarget(c *pgx.ConnConfig) string {
	t := net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port))) + "/" + c.Database
	if n := len(c.Fallbacks); n > 0 {
		t += fmt.Sprintf(" (and %d more host(s))", n)
	}
	return t
}

// wrap turns an error of a database call into the store's: ErrClosed after
// Close; the error wrapping context.Canceled when the caller canceled ctx;
// a plain error naming the server and the operation for a statement the
// server refused or a value that does not decode; and otherwise (no answer,
// a broken connection, a deadline that passed while waiting for the server,
// a connection-level SQLSTATE) an error wrapping ErrUnavailable.
func (s *pgStore) wrap(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if s.closed.Load() {
		return ErrClosed
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		if !errors.Is(err, context.Canceled) {
			err = fmt.Errorf("%w: %w", context.Canceled, err)
		}
		return fmt.Errorf("postgres store %s: %s: %w", s.target, op, err)
	}
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe) && pgUnavailableCode(pe.Code):
	case pe != nil, errors.Is(err, ErrCorrupt), errors.Is(err, ErrSchemaTooNew):
		return fmt.Errorf("postgres store %s: %s: %w", s.target, op, err)
	}
	return &unavailableError{target: s.target, err: err}
}

// pgUnavailableCode reports whether a SQLSTATE says the server, not the
// statement, is the problem: connection exceptions (08), insufficient
// resources (53), operator intervention such as a shutdown (57), system
// errors (58), invalid authorization (28) and a missing database (3D000).
func pgUnavailableCode(code string) bool {
	if code == "3D000" || len(code) < 2 {
		return true
	}
	switch code[:2] {
	case "08", "28", "53", "57", "58":
		return true
	}
	return false
}

// Health implements Repairable: nil when the database answers a trivial
// query within DefaultPostgresHealthTimeout, ErrClosed after Close, and
// otherwise an error wrapping ErrUnavailable. It never reports ErrDamaged:
// there is no file to repair, and nothing Rebuild could do that waiting
// for the server would not.
func (s *pgStore) Health() error {
	if s.closed.Load() {
		return ErrClosed
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.o.healthTimeout)
	defer cancel()
	var one int
	if err := s.pool.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		if s.closed.Load() {
			return ErrClosed
		}
		return &unavailableError{target: s.target, err: err}
	}
	return nil
}

// Load implements Store: everything, from one snapshot.
func (s *pgStore) Load(ctx context.Context) (*State, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
	var st *State
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		st, err = pgReadState(ctx, tx)
		return err
	})
	if err != nil {
		return nil, s.wrap(ctx, "load", err)
	}
	return st, nil
}

// pgReadState reads and decodes every table. A value that does not decode
// is an error wrapping ErrCorrupt.
func pgReadState(ctx context.Context, tx pgx.Tx) (*State, error) {
	st := &State{}
	rows, _ := tx.Query(ctx, "SELECT seq, value FROM vigil_announcements ORDER BY seq")
	var seq uint64
	var id, value []byte
	if _, err := pgx.ForEachRow(rows, []any{&seq, &value}, func() error {
		a, err := decodeAnnouncement(seqKey(seq), value)
		st.Announcements = append(st.Announcements, a)
		return err
	}); err != nil {
		return nil, err
	}

	var probe, node, replica []byte
	var keys [][]byte
	rows, _ = tx.Query(ctx, "SELECT probe, node, replica, value FROM vigil_replicas")
	if _, err := pgx.ForEachRow(rows, []any{&probe, &node, &replica, &value}, func() error {
		key := messages.ReplicaKey{Probe: string(probe), Node: string(node), Replica: string(replica)}
		var r Replica
		if err := json.Unmarshal(value, &r); err != nil {
			return corruptf("replica %s: %w", key, err)
		}
		r.Key = key
		st.Replicas = append(st.Replicas, r)
		keys = append(keys, pgReplicaOrderKey(key))
		return nil
	}); err != nil {
		return nil, err
	}
	pgSortReplicas(st.Replicas, keys)

	err := tx.QueryRow(ctx, "SELECT value FROM vigil_alerting").Scan(&value)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return nil, err
	default:
		if st.Alerting, err = decodeAlerting(value); err != nil {
			return nil, err
		}
	}

	rows, _ = tx.Query(ctx, "SELECT notifier, value FROM vigil_outbox ORDER BY notifier")
	if _, err := pgx.ForEachRow(rows, []any{&id, &value}, func() error {
		var o OutboxEntry
		if err := json.Unmarshal(value, &o); err != nil {
			return corruptf("outbox %q: %w", shorten(string(id)), err)
		}
		o.Notifier = string(id)
		st.Outbox = append(st.Outbox, o)
		return nil
	}); err != nil {
		return nil, err
	}

	rows, _ = tx.Query(ctx, "SELECT key, value FROM vigil_history ORDER BY key")
	if _, err := pgx.ForEachRow(rows, []any{&id, &value}, func() error {
		st.History = append(st.History, HistoryRecord{Key: string(id), Value: append([]byte{}, value...)})
		return nil
	}); err != nil {
		return nil, err
	}
	return st, nil
}

// pgReplicaOrderKey is the bbolt store's key of a replica (replicaKey,
// without its length limit), whose byte order Load returns replicas in.
func pgReplicaOrderKey(k messages.ReplicaKey) []byte {
	var b []byte
	for _, s := range [...]string{k.Probe, k.Node, k.Replica} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// pgSortReplicas sorts rs by keys (keys[i] is rs[i]'s order key).
func pgSortReplicas(rs []Replica, keys [][]byte) {
	idx := make([]int, len(rs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return bytes.Compare(keys[a], keys[b]) })
	sorted := make([]Replica, len(rs))
	for i, j := range idx {
		sorted[i] = rs[j]
	}
	copy(rs, sorted)
}

// Apply implements Store: the batch in one transaction, in the bbolt
// store's order (announcement puts, announcement deletes, replica puts,
// replica deletes, alerting, outbox puts then deletes, history puts then
// prunes), with the same outcome: a put replaces the announcement with the
// same Seq and any with the same ID, the last put of a key in a batch wins,
// deleting what is not there is a no-op. Records that cannot be stored are
// left out (*RejectedError) and the rest commits; any other error rolls the
// whole batch back. An empty batch writes nothing.
func (s *pgStore) Apply(ctx context.Context, b Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return ErrClosed
	}
	if b.Empty() {
		return nil
	}
	e, rejected := encodeBatch(b)
	if e.empty() {
		return rejectedError(rejected)
	}
	if err := s.write(ctx, "apply", false, e); err != nil {
		return err
	}
	return rejectedError(rejected)
}

// Rebuild implements Repairable: in one transaction, every table is
// emptied and st written (moved is always ""). Records of st that cannot
// be stored are left out and reported with a *RejectedError, as by Apply.
// On error nothing changed.
func (s *pgStore) Rebuild(ctx context.Context, st *State) (moved string, err error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if s.closed.Load() {
		return "", ErrClosed
	}
	e, rejected := encodeBatch(stateBatch(st))
	if err := s.write(ctx, "rebuild", true, e); err != nil {
		return "", err
	}
	s.logger.Warn("store contents replaced by the state in memory", "target", s.target,
		"announcements", len(e.putAnnouncements), "replicas", len(e.putReplicas))
	return "", rejectedError(rejected)
}

// write runs e (after emptying every table when clear is set) in one
// read-committed transaction that first takes the write lock. The
// statements go in one pipeline: a round trip for the batch, one for BEGIN
// and one for COMMIT.
func (s *pgStore) write(ctx context.Context, op string, clear bool, e *encodedBatch) error {
	return s.writeFenced(ctx, op, clear, e, nil)
}

// writeFenced is write, checking the fence (when not nil) right after
// taking the write lock and notifying its channel at the end, both in the
// transaction (postgres_fence.go).
func (s *pgStore) writeFenced(ctx context.Context, op string, clear bool, e *encodedBatch, f *pgFence) error {
	q := &pgx.Batch{}
	q.Queue("SELECT pg_advisory_xact_lock($1)", pgWriteLock)
	f.queueCheck(q)
	if clear {
		for _, t := range [...]string{"vigil_announcements", "vigil_replicas", "vigil_alerting", "vigil_outbox", "vigil_history"} {
			q.Queue("DELETE FROM " + t)
		}
	}
	pgQueueBatch(q, e)
	f.queueNotify(q)
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted, AccessMode: pgx.ReadWrite}, func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, q).Close()
	})
	return s.wrap(ctx, op, err)
}

// pgQueueBatch queues the statements of e. Announcements go one by one,
// since each put may replace others of the same batch; the other records
// go as arrays, one statement per kind, deduplicated so that the last put
// of a key wins (ON CONFLICT DO UPDATE must not meet a key twice).
func pgQueueBatch(q *pgx.Batch, e *encodedBatch) {
	for _, a := range e.putAnnouncements {
		seq := binary.BigEndian.Uint64(a.key)
		q.Queue("DELETE FROM vigil_announcements WHERE seq = $1 OR id_digest = sha256($2::bytea)", seq, nonNil(a.id))
		q.Queue("INSERT INTO vigil_announcements (seq, id, value) VALUES ($1, $2::bytea, $3::text::json)", seq, nonNil(a.id), string(a.value))
	}
	if len(e.deleteAnnouncements) > 0 {
		ids := make([][]byte, len(e.deleteAnnouncements))
		for i, id := range e.deleteAnnouncements {
			ids[i] = nonNil(id)
		}
		q.Queue("DELETE FROM vigil_announcements WHERE id_digest IN (SELECT sha256(i) FROM unnest($1::bytea[]) AS u(i))", ids)
	}

	if rs := lastByKey(e.putReplicas); len(rs) > 0 {
		var probes, nodes, replicas [][]byte
		values := make([]string, 0, len(rs))
		for _, r := range rs {
			k, _ := parseReplicaKey(r.key) // encodeBatch made it
			probes, nodes, replicas = append(probes, nonNil(k.Probe)), append(nodes, nonNil(k.Node)), append(replicas, nonNil(k.Replica))
			values = append(values, string(r.value))
		}
		q.Queue(`INSERT INTO vigil_replicas (probe, node, replica, value)
			SELECT p, n, r, v::json FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::text[]) AS u(p, n, r, v)
			ON CONFLICT (digest) DO UPDATE SET value = excluded.value`, probes, nodes, replicas, values)
	}
	if len(e.deleteReplicas) > 0 {
		var probes, nodes, replicas [][]byte
		for _, key := range e.deleteReplicas {
			k, _ := parseReplicaKey(key)
			probes, nodes, replicas = append(probes, nonNil(k.Probe)), append(nodes, nonNil(k.Node)), append(replicas, nonNil(k.Replica))
		}
		q.Queue(`DELETE FROM vigil_replicas WHERE digest IN
			(SELECT vigil_replica_digest(p, n, r) FROM unnest($1::bytea[], $2::bytea[], $3::bytea[]) AS u(p, n, r))`, probes, nodes, replicas)
	}

	if e.alerting != nil {
		q.Queue(`INSERT INTO vigil_alerting (singleton, value) VALUES (true, $1::text::json)
			ON CONFLICT (singleton) DO UPDATE SET value = excluded.value`, string(e.alerting))
	}

	if outs := lastByKey(e.putOutbox); len(outs) > 0 {
		keys, values := make([][]byte, len(outs)), make([]string, len(outs))
		for i, o := range outs {
			keys[i], values[i] = o.key, string(o.value)
		}
		q.Queue(`INSERT INTO vigil_outbox (notifier, value)
			SELECT n, v::json FROM unnest($1::bytea[], $2::text[]) AS u(n, v)
			ON CONFLICT (digest) DO UPDATE SET value = excluded.value`, keys, values)
	}
	if len(e.deleteOutbox) > 0 {
		q.Queue("DELETE FROM vigil_outbox WHERE digest IN (SELECT sha256(n) FROM unnest($1::bytea[]) AS u(n))", e.deleteOutbox)
	}

	if hs := lastByKey(e.putHistory); len(hs) > 0 {
		keys, values := make([][]byte, len(hs)), make([][]byte, len(hs))
		for i, h := range hs {
			keys[i], values[i] = h.key, nonNil(h.value)
		}
		q.Queue(`INSERT INTO vigil_history (key, value)
			SELECT k, v FROM unnest($1::bytea[], $2::bytea[]) AS u(k, v)
			ON CONFLICT (digest) DO UPDATE SET value = excluded.value`, keys, values)
	}
	for _, kr := range e.pruneHistory {
		q.Queue(pgPruneHistory, nonNil(kr.From), nonNil(kr.To))
	}
}

// lastByKey keeps the last record of each key, in order of last
// appearance.
func lastByKey(kvs []kv) []kv {
	if len(kvs) < 2 {
		return kvs
	}
	last := make(map[string]int, len(kvs))
	for i, r := range kvs {
		last[string(r.key)] = i
	}
	if len(last) == len(kvs) {
		return kvs
	}
	out := make([]kv, 0, len(last))
	for i, r := range kvs {
		if last[string(r.key)] == i {
			out = append(out, r)
		}
	}
	return out
}

// nonNil is s's bytes, never nil (pgx sends a nil []byte as NULL).
func nonNil[T ~string | ~[]byte](s T) []byte {
	if len(s) == 0 {
		return []byte{}
	}
	return []byte(s)
}

// Close closes the pool. It waits for running calls to return their
// connections, for at most DefaultCloseTimeout; past that it returns an
// error and the pool finishes closing in the background. Later calls
// return the first call's result.
func (s *pgStore) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		done := make(chan struct{})
		go func() {
			s.pool.Close()
			close(done)
		}()
		t := time.NewTimer(s.o.closeTimeout)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			s.err = fmt.Errorf("postgres store %s: calls still running after %v; the pool closes when they end", s.target, s.o.closeTimeout)
			s.logger.Error("store did not close in time", "target", s.target, "timeout", s.o.closeTimeout)
		}
	})
	return s.err
}
