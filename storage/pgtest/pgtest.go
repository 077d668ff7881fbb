// Package pgtest gives a test a PostgreSQL database of its own on a real
// server: New creates an empty database with a random name
// (vigil_test_<16 hex digits>) and drops it, with any connection still
// open to it, when the test ends.
//
// The server is the one named by the environment variable
// VIGIL_TEST_POSTGRES (a DSN for a role that may create databases), by
// default the machine's: postgres://postgres@127.0.0.1:5432/postgres
// without a password. When it cannot be reached the test is skipped with
// the reason, except under CI=true, where it fails: CI starts the server
// (.ci/run), so a missing one there is a broken setup, not a reason to
// test less.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// EnvDSN is the environment variable naming the server's admin DSN.
const EnvDSN = "VIGIL_TEST_POSTGRES"

// DefaultDSN is the admin DSN used when EnvDSN is unset.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable&connect_timeout=5"

// timeout bounds each admin statement (connect, create, drop).
const timeout = 30 * time.Second

// AdminDSN returns the DSN of the server's admin connection (EnvDSN or
// DefaultDSN).
func AdminDSN() string {
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		return dsn
	}
	return DefaultDSN
}

// New creates an empty database for tb and returns its DSN (the admin DSN
// with the new database name). It is dropped when tb ends.
func New(tb testing.TB) string {
	tb.Helper()
	return NewWith(tb, "")
}

// NewWith is New with options appended to CREATE DATABASE, e.g.
// "ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0".
func NewWith(tb testing.TB, options string) string {
	tb.Helper()
	admin := AdminDSN()
	var raw [8]byte
	_, _ = rand.Read(raw[:])
	name := "vigil_test_" + hex.EncodeToString(raw[:])
	if err := exec(admin, "CREATE DATABASE "+name+" "+options); err != nil {
		var ce *pgconn.ConnectError
		if !errors.As(err, &ce) {
			tb.Fatalf("pgtest: create database %s: %v", name, err)
		}
		if os.Getenv("CI") == "true" {
			tb.Fatalf("pgtest: PostgreSQL is not reachable (CI=true: .ci/run should have started it): %v", err)
		}
		tb.Skipf("pgtest: PostgreSQL is not reachable, skipping (start it, or name another server in %s): %v", EnvDSN, err)
	}
	tb.Cleanup(func() {
		if err := exec(admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	dsn, err := withDatabase(admin, name)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// exec runs one statement on a new admin connection.
func exec(admin, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase returns dsn (a URL or libpq key=value settings) naming
// database instead.
func withDatabase(dsn, database string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", errors.New("admin DSN is not a valid URL")
		}
		u.Path = "/" + database
		u.RawPath = ""
		return u.String(), nil
	}
	// In key=value settings a later key wins.
	return dsn + " dbname=" + database, nil
}
