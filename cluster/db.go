package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DB is the cluster's own connections to the shared database: the lease,
// the commands table and the notifications. They are apart from the
// store's pool, so that a renewal never waits behind a large state write.
// The schema is the store's (storage.OpenPostgres migrates it; open the
// store first).
type DB struct {
	pool *pgxpool.Pool
	// conn is the configuration of the listener's dedicated connection.
	conn *pgx.ConnConfig
}

// connectTimeout bounds a connection attempt when the DSN sets none.
const connectTimeout = 5 * time.Second

// Open prepares connections to the database dsn names; it connects
// lazily (no error for a server that is down).
func Open(dsn string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	cfg.MaxConns = 4
	cfg.ConnConfig.RuntimeParams["application_name"] = "vigil-cluster"
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return &DB{pool: pool, conn: cfg.ConnConfig.Copy()}, nil
}

// CheckDSN reports whether dsn can be parsed (it does not connect): a DSN
// that cannot is a configuration error, not a database to wait for.
func CheckDSN(dsn string) error {
	_, err := pgxpool.ParseConfig(dsn)
	return err
}

// Close closes the connections.
func (db *DB) Close() { db.pool.Close() }

// Lease is the lease kept in the table vigil_leader (one row). Times are
// the database server's clock_timestamp(), the one clock the instances
// share.
func (db *DB) Lease() LeaseBackend { return pgLease{db.pool} }

type pgLease struct{ pool *pgxpool.Pool }

// Acquire takes the row when the lease has expired or is id's own: after
// its local deadline passed, an instance takes its lease back, always in a
// new epoch, which fences off the writes of its previous term (the epoch
// it held need not be compared: only id sets holder = id).
func (l pgLease) Acquire(ctx context.Context, id string, ttl time.Duration) (int64, bool, string, error) {
	var epoch int64
	err := l.pool.QueryRow(ctx, `UPDATE vigil_leader
		SET holder = $1, epoch = epoch + 1, expires_at = clock_timestamp() + make_interval(secs => $2)
		WHERE id = 1 AND (expires_at < clock_timestamp() OR holder = $1)
		RETURNING epoch`, id, ttl.Seconds()).Scan(&epoch)
	if err == nil {
		return epoch, true, id, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, false, "", err
	}
	var holder string
	err = l.pool.QueryRow(ctx, `SELECT CASE WHEN expires_at > clock_timestamp() THEN holder ELSE '' END
		FROM vigil_leader WHERE id = 1`).Scan(&holder)
	return 0, false, holder, err
}

func (l pgLease) Renew(ctx context.Context, id string, epoch int64, ttl time.Duration) (bool, error) {
	tag, err := l.pool.Exec(ctx, `UPDATE vigil_leader SET expires_at = clock_timestamp() + make_interval(secs => $3)
		WHERE id = 1 AND holder = $1 AND epoch = $2 AND expires_at > clock_timestamp()`, id, epoch, ttl.Seconds())
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

func (l pgLease) Release(ctx context.Context, id string, epoch int64) error {
	_, err := l.pool.Exec(ctx, `UPDATE vigil_leader SET expires_at = '-infinity'
		WHERE id = 1 AND holder = $1 AND epoch = $2`, id, epoch)
	return err
}
