package storage

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The PostgreSQL schema is a list of versioned SQL files, embedded in the
// binary (migrations/NNNN_name.sql, applied in version order) and recorded
// in the table vigil_schema_migrations (version, applied_at) once applied.
//
// OpenPostgres applies the missing ones in one transaction that first takes
// pg_advisory_xact_lock(pgMigrationLock): a second instance starting at the
// same time waits for the lock, then finds every version recorded and
// applies nothing, so each file runs exactly once per database, and a
// failing file leaves the schema as it was (PostgreSQL's DDL is
// transactional). A database holding a version this binary does not know
// was written by a newer one: opening it fails with ErrSchemaTooNew and
// changes nothing.
//
// A home-made runner (about sixty lines) rather than golang-migrate or
// goose: those bring a dependency tree and a driver layer for two SQL
// files, and golang-migrate's locking is not ours: it takes a session-level
// advisory lock around its steps and keeps a "dirty" flag for a failed
// migration that an operator must clear by hand, where one transaction
// holding a transaction-level lock either applies every missing file or
// none, releases the lock at commit or rollback, and cannot leave a dirty
// schema or a stale lock behind a crashed process.

// migrationFiles holds the SQL files (read-only, embedded at build time).
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// pgMigrationLock is the advisory lock key that serialises migrations
// ("vigil" and 1). Advisory locks are per database, so databases on one
// server do not wait for each other.
const pgMigrationLock int64 = 0x76696769_6c000001

// pgMigration is one embedded SQL file.
type pgMigration struct {
	version int
	name    string
	sql     string
}

// pgMigrations returns the embedded files in version order. A name must be
// "<version>_<what>.sql" with a positive version, each version once.
func pgMigrations() ([]pgMigration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []pgMigration
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name is not <version>_<what>.sql", e.Name())
		}
		sql, err := fs.ReadFile(migrationFiles, "migrations/"+e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, pgMigration{version: v, name: e.Name(), sql: string(sql)})
	}
	slices.SortFunc(ms, func(a, b pgMigration) int { return a.version - b.version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s have the same version", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// pgMigrate applies the missing migrations (see above) and returns the
// schema version the database is at.
func pgMigrate(ctx context.Context, pool *pgxpool.Pool, ms []pgMigration, logger *slog.Logger) (version int, err error) {
	var done []pgMigration
	err = pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", pgMigrationLock); err != nil {
			return err
		}
		// Read committed: each statement below sees what an instance that
		// held the lock before us committed.
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT to_regclass('vigil_schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
			return err
		}
		if !exists {
			if _, err := tx.Exec(ctx, `CREATE TABLE vigil_schema_migrations (
				version integer PRIMARY KEY,
				applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
				return err
			}
		}
		rows, _ := tx.Query(ctx, "SELECT version FROM vigil_schema_migrations ORDER BY version")
		applied, err := pgx.CollectRows(rows, pgx.RowTo[int])
		if err != nil {
			return err
		}
		for _, v := range applied {
			if !slices.ContainsFunc(ms, func(m pgMigration) bool { return m.version == v }) {
				return fmt.Errorf("database has schema version %d, this binary knows up to %d: %w", v, ms[len(ms)-1].version, ErrSchemaTooNew)
			}
			version = max(version, v)
		}
		for _, m := range ms {
			if slices.Contains(applied, m.version) {
				continue
			}
			// No arguments: pgx sends the file with the simple protocol,
			// which runs several statements.
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO vigil_schema_migrations (version) VALUES ($1)", m.version); err != nil {
				return err
			}
			done = append(done, m)
			version = max(version, m.version)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, m := range done {
		logger.Info("postgres store: applied schema migration", "version", m.version, "file", m.name)
	}
	return version, nil
}
