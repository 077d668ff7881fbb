package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vigil-go/vigil/cluster"
	"github.com/vigil-go/vigil/storage"
	"github.com/vigil-go/vigil/supervisors"
)

// vigil migrate-store --from DIR --to DSN [--force]
//
// copies what an embedded store holds (DIR/state.db, or the file DIR
// names) into the PostgreSQL database DSN names, so that an existing
// installation keeps its announcements, replica statuses, alerting state,
// undelivered notifications, push and local replicas and history when it
// moves to several instances. The server that uses DIR must be stopped
// (its store is locked while it runs), and so must every instance on DSN:
// the command holds the cluster's leader lease while it writes, and
// refuses when an instance holds it. A target that already holds state is
// refused unless --force, which replaces it. Exit codes: 0 copied, 2 usage,
// 1 anything else.

// migrateTimeout bounds the whole copy.
const migrateTimeout = 5 * time.Minute

// migrateLease is how long the command's lease lasts; it is released at
// the end.
const migrateLease = time.Minute

func migrateStore(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vigil migrate-store", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "data directory of the embedded store (holding state.db), or the file itself")
	to := fs.String("to", "", "PostgreSQL DSN, e.g. postgres://vigil:PASSWORD@db:5432/vigil (or \"$VIGIL_STORAGE_DSN\")")
	force := fs.Bool("force", false, "replace what the target database already holds")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage:\n  vigil migrate-store --from DIR --to DSN [--force]\n\nCopies an embedded store into PostgreSQL. Stop the server and every instance on DSN first.\n\nOptions:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return supervisors.ExitOK
		}
		return supervisors.ExitConfig
	}
	if *from == "" || *to == "" || fs.NArg() > 0 {
		fs.Usage()
		fmt.Fprintln(stderr, "vigil migrate-store: --from and --to are required")
		return supervisors.ExitConfig
	}
	if err := migrate(*from, *to, *force, stdout); err != nil {
		fmt.Fprintf(stderr, "vigil migrate-store: %v\n", err)
		return supervisors.ExitFatal
	}
	return supervisors.ExitOK
}

func migrate(from, dsn string, force bool, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), migrateTimeout)
	defer cancel()
	path := from
	if fi, err := os.Stat(from); err != nil {
		return err
	} else if fi.IsDir() {
		path = filepath.Join(from, "state.db")
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no embedded store: %w", err)
	}
	quiet := slog.New(slog.DiscardHandler)
	src, err := storage.OpenBolt(path, quiet)
	if err != nil {
		if errors.Is(err, storage.ErrLocked) {
			return fmt.Errorf("%w: stop the server that uses it first", err)
		}
		return err
	}
	defer src.Close()
	st, err := src.Load(ctx)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}

	dst, err := storage.OpenPostgres(ctx, dsn, quiet)
	if err != nil {
		return err
	}
	defer dst.Close()
	db, err := cluster.Open(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	// Hold the leader lease while writing: no instance writes meanwhile,
	// and none starts leading before the copy is whole.
	lease, me := db.Lease(), "vigil migrate-store "+cluster.NewIdentity()
	epoch, ok, holder, err := lease.Acquire(ctx, me, migrateLease)
	switch {
	case err != nil:
		return fmt.Errorf("taking the leader lease: %w", err)
	case !ok:
		return fmt.Errorf("instance %s leads the cluster on this database: stop every instance first", holder)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = lease.Release(rctx, me, epoch)
	}()

	cur, err := dst.Load(ctx)
	if err != nil {
		return err
	}
	if n := stateSize(cur); n > 0 && !force {
		return fmt.Errorf("%s already holds %d records: --force replaces them", target(dsn), n)
	}
	_, err = dst.Rebuild(ctx, st)
	var rejected *storage.RejectedError
	if errors.As(err, &rejected) {
		fmt.Fprintf(stdout, "warning: %v\n", err)
	} else if err != nil {
		return err
	}
	alerting := "no alerting state"
	if st.Alerting != nil {
		alerting = "the alerting state"
	}
	fmt.Fprintf(stdout, "copied %d announcements, %d replicas, %s, %d undelivered notifications and %d history records from %s to %s\n",
		len(st.Announcements), len(st.Replicas), alerting, len(st.Outbox), len(st.History), path, target(dsn))
	return nil
}

// stateSize counts the records of st.
func stateSize(st *storage.State) int {
	n := len(st.Announcements) + len(st.Replicas) + len(st.Outbox) + len(st.History)
	if st.Alerting != nil {
		n++
	}
	return n
}

// target names a DSN's server and database, without its password.
func target(dsn string) string {
	c, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "the database"
	}
	return net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port))) + "/" + c.Database
}
