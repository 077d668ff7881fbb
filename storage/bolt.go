package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// DefaultLockTimeout is how long OpenBolt waits for the file lock held by
// another process before giving up with ErrLocked.
const DefaultLockTimeout = 2 * time.Second

// options are the knobs tests turn; production uses defaultOptions.
type options struct {
	lockTimeout time.Duration
	schema      schema
	now         func() time.Time
}

func defaultOptions() options {
	return options{lockTimeout: DefaultLockTimeout, schema: currentSchema, now: time.Now}
}

// boltStore is the embedded Store: one bbolt file.
type boltStore struct {
	db     *bolt.DB
	closed atomic.Bool
	once   sync.Once
	err    error
}

// OpenBolt opens (creating if needed) the bbolt database at path: parent
// directories are created 0700 and the file 0600. It waits at most
// DefaultLockTimeout for another process holding the file and then fails
// with an error wrapping ErrLocked ("store <path> is locked by another
// process").
//
// Opening verifies the whole file before using it: the pages fit in the
// file, the page tree is walked with bounds, cycle and separator-key checks
// on a plain copy of the file (walkPages), bbolt's own consistency check
// passes, and, after the schema step, every stored value decodes. The
// schema step initialises a new file, migrates an older schema version
// inside one transaction, or refuses a newer one (ErrSchemaTooNew, file
// untouched); opening a healthy current file writes nothing. A file that
// fails verification is reported with an error wrapping ErrCorrupt and left
// in place; use Open to recover from that. Panics and memory faults raised
// by bbolt while reading a damaged file are turned into ErrCorrupt errors.
//
// The returned store is safe for concurrent use. A nil logger means
// slog.Default().
func OpenBolt(path string, logger *slog.Logger) (Store, error) {
	return openBolt(path, logger, defaultOptions())
}

func openBolt(path string, logger *slog.Logger, o options) (_ Store, err error) {
	if logger == nil {
		logger = slog.Default()
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, os.ErrNotExist)

	// Keep the file bbolt opens so that it can be closed (releasing the
	// lock) if bbolt panics half-way through Open.
	var file *os.File
	var db *bolt.DB
	defer func() {
		if r := recover(); r != nil {
			err = corruptf("panic while opening: %v", r)
			if db != nil {
				closeQuietly(db)
			} else if file != nil {
				// bbolt's memory map of the file, if any, leaks: it is
				// unreachable. Rare and small.
				unlockFile(file)
				_ = file.Close()
			}
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))

	db, err = bolt.Open(path, 0o600, &bolt.Options{
		Timeout: o.lockTimeout,
		// NoSync stays false: every commit is fsynced.
		NoSync: false,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		},
	})
	if err != nil {
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return nil, fmt.Errorf("store %s is %w", path, ErrLocked)
		case isBoltFormatError(err):
			return nil, corrupt(fmt.Errorf("open %s: %w", path, err))
		default:
			return nil, fmt.Errorf("open store %s: %w", path, err)
		}
	}
	if created {
		syncDir(dir)
	}

	if err := verifyStructure(db); err != nil {
		closeQuietly(db)
		return nil, err
	}
	// Write only when needed (new file, other version, missing bucket):
	// opening a healthy current file changes nothing on disk, and a file
	// that is then found corrupt is moved aside exactly as it was.
	var needsPrepare bool
	_ = db.View(func(tx *bolt.Tx) error {
		needsPrepare = o.schema.needsPrepare(tx)
		return nil
	})
	if needsPrepare {
		if err := db.Update(func(tx *bolt.Tx) error {
			return o.schema.prepare(tx, path, logger)
		}); err != nil {
			closeQuietly(db)
			return nil, err
		}
	}
	s := &boltStore{db: db}
	// Decode every value once so that a bad value is found now, when Open
	// can still recover, rather than at some later Load.
	if err := db.View(func(tx *bolt.Tx) error {
		_, err := readState(tx)
		return err
	}); err != nil {
		closeQuietly(db)
		return nil, err
	}
	return s, nil
}

// isBoltFormatError reports whether an error from bolt.Open means the file
// is not a readable bbolt database (as opposed to an OS error such as a
// permission problem, which must not make Open move the file aside).
func isBoltFormatError(err error) bool {
	return errors.Is(err, berrors.ErrInvalid) ||
		errors.Is(err, berrors.ErrVersionMismatch) ||
		errors.Is(err, berrors.ErrChecksum) ||
		errors.Is(err, berrors.ErrInvalidMapping) ||
		// bbolt returns this one unwrapped from fmt.Errorf.
		strings.Contains(err.Error(), "file size too small")
}

// verifyStructure checks the B+tree of the whole file: the high-water mark
// fits in the file, the page tree is safe to read (walkPages, on a copy of
// the file read with plain reads), and then bbolt's consistency check
// (double-freed, unreachable or multiply referenced pages, key order)
// passes.
func verifyStructure(db *bolt.DB) error {
	f, err := os.Open(db.Path())
	if err != nil {
		return fmt.Errorf("open store %s: %w", db.Path(), err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat store %s: %w", db.Path(), err)
	}
	pageSize := db.Info().PageSize
	return db.View(func(tx *bolt.Tx) error {
		if tx.Size() > info.Size() {
			return corruptf("file is %d bytes but its pages reach %d bytes (truncated)", info.Size(), tx.Size())
		}
		data := make([]byte, tx.Size())
		if _, err := f.ReadAt(data, 0); err != nil {
			return fmt.Errorf("read store %s: %w", db.Path(), err)
		}
		root := uint64(tx.Cursor().Bucket().RootPage())
		if err := walkPages(data, pageSize, uint64(tx.Size())/uint64(pageSize), root, uint64(tx.ID())); err != nil {
			return err
		}
		var problems []string
		for err := range tx.Check() {
			if len(problems) < 5 {
				problems = append(problems, err.Error())
			}
		}
		if len(problems) > 0 {
			return corruptf("consistency check: %s", strings.Join(problems, "; "))
		}
		return nil
	})
}

func closeQuietly(db *bolt.DB) {
	defer func() { _ = recover() }()
	_ = db.Close()
}

// syncDir fsyncs a directory so that a file created or renamed in it
// survives a crash. Errors are ignored: not every filesystem supports it.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// guard turns a panic or memory fault raised while reading a damaged file
// into an ErrCorrupt error. Use as:
//
//	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
//	defer guard(&err)
func guard(err *error) {
	if r := recover(); r != nil {
		*err = corruptf("panic: %v", r)
	}
}

func (s *boltStore) mapErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// Load reads the whole state in one read transaction: announcements by
// Seq, replicas in key order, alerting or nil. A value that does not decode
// is an error wrapping ErrCorrupt (Open has already decoded every value
// once, so this means the file was damaged while running).
func (s *boltStore) Load(ctx context.Context) (st *State, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard(&err)
	err = s.db.View(func(tx *bolt.Tx) error {
		var err error
		st, err = readState(tx)
		return err
	})
	if err != nil {
		return nil, s.mapErr(err)
	}
	return st, nil
}

// readState decodes everything in the current layout.
func readState(tx *bolt.Tx) (*State, error) {
	st := &State{}
	ab, rb, lb := tx.Bucket(bucketAnnouncements), tx.Bucket(bucketReplicas), tx.Bucket(bucketAlerting)
	if ab == nil || rb == nil || lb == nil {
		return nil, corruptf("missing bucket")
	}
	if err := ab.ForEach(func(k, v []byte) error {
		a, err := decodeAnnouncement(k, v)
		st.Announcements = append(st.Announcements, a)
		return err
	}); err != nil {
		return nil, err
	}
	if err := rb.ForEach(func(k, v []byte) error {
		r, err := decodeReplica(k, v)
		st.Replicas = append(st.Replicas, r)
		return err
	}); err != nil {
		return nil, err
	}
	a, err := decodeAlerting(lb.Get(alertingKey))
	if err != nil {
		return nil, err
	}
	st.Alerting = a
	return st, nil
}

// Apply writes the batch in one bbolt read-write transaction, in this
// order: announcement puts, announcement deletes, replica puts, replica
// deletes, alerting. A put replaces the announcement with the same Seq and
// any announcement with the same ID; deleting an unknown ID or replica is
// not an error. The batch is encoded before the transaction starts, and
// any error rolls the whole batch back.
//
// bbolt fsyncs the file on commit (NoSync is false), so the batch is
// durable when Apply returns nil: a crash or power loss afterwards does not
// lose it. An empty batch writes nothing.
func (s *boltStore) Apply(ctx context.Context, b Batch) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return ErrClosed
	}
	if b.Empty() {
		return nil
	}
	e, err := encodeBatch(b)
	if err != nil {
		return err
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard(&err)
	return s.mapErr(s.db.Update(func(tx *bolt.Tx) error { return applyBatch(tx, e) }))
}

func applyBatch(tx *bolt.Tx, e *encodedBatch) error {
	ab, rb, lb := tx.Bucket(bucketAnnouncements), tx.Bucket(bucketReplicas), tx.Bucket(bucketAlerting)
	if ab == nil || rb == nil || lb == nil {
		return corruptf("missing bucket")
	}
	if len(e.putAnnouncements) > 0 || len(e.deleteAnnouncements) > 0 {
		// ID → key, by scanning: there are a few hundred announcements at
		// most, and they change rarely.
		byID := map[string][]byte{}
		if err := ab.ForEach(func(k, v []byte) error {
			id, err := announcementID(v)
			byID[id] = append([]byte(nil), k...)
			return err
		}); err != nil {
			return err
		}
		for _, a := range e.putAnnouncements {
			if old, ok := byID[a.id]; ok && string(old) != string(a.key) {
				if err := ab.Delete(old); err != nil {
					return err
				}
			}
			if prev := ab.Get(a.key); prev != nil {
				if id, err := announcementID(prev); err == nil && id != a.id {
					delete(byID, id)
				}
			}
			if err := ab.Put(a.key, a.value); err != nil {
				return fmt.Errorf("put announcement %q: %w", a.id, err)
			}
			byID[a.id] = a.key
		}
		for _, id := range e.deleteAnnouncements {
			if k, ok := byID[id]; ok {
				if err := ab.Delete(k); err != nil {
					return err
				}
				delete(byID, id)
			}
		}
	}
	for _, r := range e.putReplicas {
		if err := rb.Put(r.key, r.value); err != nil {
			return fmt.Errorf("put replica: %w", err)
		}
	}
	for _, k := range e.deleteReplicas {
		if err := rb.Delete(k); err != nil {
			return err
		}
	}
	if e.alerting != nil {
		if err := lb.Put(alertingKey, e.alerting); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the file and releases its lock. It waits for running
// transactions; later calls return the first call's result.
func (s *boltStore) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		s.err = s.db.Close()
	})
	return s.err
}
