package storage

import (
	"bytes"
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

// DefaultCloseTimeout bounds Close. A store whose bbolt cannot close in
// time (its write lock held by a transaction that will never end) has its
// file descriptor closed and its lock released without bbolt.
const DefaultCloseTimeout = 5 * time.Second

// options are the knobs tests turn; production uses defaultOptions.
type options struct {
	lockTimeout  time.Duration
	closeTimeout time.Duration
	schema       schema
	now          func() time.Time
	// beforeWrite, when set, runs between the file check and the write
	// transaction of Apply (tests damage the file there).
	beforeWrite func()
}

func defaultOptions() options {
	return options{lockTimeout: DefaultLockTimeout, closeTimeout: DefaultCloseTimeout, schema: currentSchema, now: time.Now}
}

// boltStore is the embedded Store: one bbolt file, through a handle that
// Rebuild can replace.
//
// mu serialises the writers (Apply, Rebuild and Close) and keeps readers
// (Load) off a handle while Rebuild or Close replaces or closes it. hmu
// guards h for Health, which must not wait for a running write; Rebuild
// and Close take it briefly to swap h or mark the store closed. failure is
// set once damage is found and cleared by Rebuild; a failed store never
// calls into its bbolt again (bbolt may hold its locks after a panic).
type boltStore struct {
	path   string
	logger *slog.Logger
	o      options

	mu  sync.RWMutex
	hmu sync.Mutex
	h   *handle

	failure atomic.Pointer[damagedError]
	closed  atomic.Bool
	once    sync.Once
	err     error
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
// passes, and, after the schema step, every stored value decodes and the
// announcement index matches the announcements. The schema step
// initialises a new file, migrates an older schema version inside one
// transaction, or refuses a newer one (ErrSchemaTooNew, file untouched);
// opening a healthy current file writes nothing. A file that fails
// verification is reported with an error wrapping ErrCorrupt and left in
// place; use Open to recover from that. Panics and memory faults raised by
// bbolt while reading a damaged file are turned into ErrCorrupt errors.
//
// While open, the store checks its file before and after every write and
// fails with ErrDamaged rather than write to a file that was damaged,
// removed or replaced under it (see Repairable).
//
// The returned store is safe for concurrent use. A nil logger means
// slog.Default().
func OpenBolt(path string, logger *slog.Logger) (Repairable, error) {
	return openBolt(path, logger, defaultOptions())
}

func openBolt(path string, logger *slog.Logger, o options) (Repairable, error) {
	if logger == nil {
		logger = slog.Default()
	}
	h, err := openHandle(path, logger, o)
	if err != nil {
		return nil, err
	}
	return &boltStore{path: path, logger: logger, o: o, h: h}, nil
}

// openHandle opens and verifies the file at path (see OpenBolt).
func openHandle(path string, logger *slog.Logger, o options) (_ *handle, err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, os.ErrNotExist)

	// Keep the file bbolt opens so that it can be closed (releasing the
	// lock) if bbolt panics: bbolt may then hold its own locks, so its
	// Close could wait for ever.
	var file *os.File
	defer func() {
		if r := recover(); r != nil {
			err = corruptf("panic while opening: %v", r)
			if file != nil {
				// bbolt's memory map of the file, if any, leaks: it is
				// unreachable. Rare and small.
				unlockFile(file)
				_ = file.Close()
			}
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))

	db, err := bolt.Open(path, 0o600, &bolt.Options{
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
	// Decode every value once so that a bad value is found now, when Open
	// can still recover, rather than at some later Load.
	var txid uint64
	if err := db.View(func(tx *bolt.Tx) error {
		txid = uint64(tx.ID())
		if _, err := readState(tx); err != nil {
			return err
		}
		return verifyAnnouncementIndex(tx)
	}); err != nil {
		closeQuietly(db)
		return nil, err
	}
	info, err := file.Stat()
	if err != nil {
		closeQuietly(db)
		return nil, fmt.Errorf("stat store %s: %w", path, err)
	}
	h := &handle{db: db, file: file, pageSize: db.Info().PageSize}
	h.size.Store(info.Size())
	h.txid.Store(txid)
	return h, nil
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

func mapErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
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

// fail marks the store damaged (the first reason found wins) and returns
// the error every call now returns.
func (s *boltStore) fail(reason error) error {
	d := &damagedError{path: s.path, err: reason}
	if s.failure.CompareAndSwap(nil, d) {
		s.logger.Error("store damaged while open: refusing writes until it is rebuilt", "path", s.path, "error", reason.Error())
		return d
	}
	return s.failure.Load()
}

// failed returns the damage error, or nil.
func (s *boltStore) failed() error {
	if d := s.failure.Load(); d != nil {
		return d
	}
	return nil
}

// Health implements Repairable.
func (s *boltStore) Health() error {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if s.closed.Load() {
		return ErrClosed
	}
	if err := s.failed(); err != nil {
		return err
	}
	if _, err := s.h.check(s.path); err != nil {
		return s.fail(err)
	}
	return nil
}

// Load reads the whole state in one read transaction: announcements by
// Seq, replicas in key order, alerting or nil. A value that does not decode
// is an error wrapping ErrCorrupt (Open has already decoded every value
// once, so this means the file was damaged while running). A damaged file
// (see Repairable) fails the store.
func (s *boltStore) Load(ctx context.Context) (*State, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if err := s.failed(); err != nil {
		return nil, err
	}
	h := s.h
	if _, err := h.check(s.path); err != nil {
		return nil, s.fail(err)
	}
	var st *State
	err := h.view(func(tx *bolt.Tx) error {
		var err error
		st, err = readState(tx)
		return err
	})
	if h.poisoned.Load() {
		return nil, s.fail(err)
	}
	if err != nil {
		return nil, mapErr(err)
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
	if st.Outbox, err = readOutbox(tx); err != nil {
		return nil, err
	}
	if st.History, err = readHistory(tx); err != nil {
		return nil, err
	}
	return st, nil
}

// Apply writes the batch in one bbolt read-write transaction, in this
// order: announcement puts, announcement deletes, replica puts, replica
// deletes, alerting. A put replaces the announcement with the same Seq and
// any announcement with the same ID; deleting an unknown ID or replica is
// not an error. Each announcement change reads and writes only that
// announcement's records (and those of an announcement it replaces).
//
// The batch is encoded before the transaction starts. A record that cannot
// be stored is left out and reported in a *RejectedError while the rest
// commits; any other error rolls the whole batch back.
//
// Before writing, Apply checks that the file at the store's path is still
// the one it opened and looks whole (see handle.check); after writing, that
// it still is. Otherwise it fails the store and returns the error wrapping
// ErrDamaged, as it does when bbolt panics: a batch that gets ErrDamaged
// may or may not be in the old file, and is not in the store.
//
// bbolt fsyncs the file on commit (NoSync is false), so the batch is
// durable when Apply returns nil: a crash or power loss afterwards does not
// lose it. An empty batch writes nothing.
func (s *boltStore) Apply(ctx context.Context, b Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return ErrClosed
	}
	if err := s.failed(); err != nil {
		return err
	}
	if b.Empty() {
		return nil
	}
	e, rejected := encodeBatch(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return ErrClosed
	}
	if err := s.failed(); err != nil {
		return err
	}
	if e.empty() {
		return rejectedError(rejected)
	}
	if err := s.write(s.h, func(tx *bolt.Tx) error { return applyBatch(tx, e) }); err != nil {
		return err
	}
	return rejectedError(rejected)
}

// write runs fn in a write transaction on h between two file checks;
// damage fails the store. The caller holds mu.
func (s *boltStore) write(h *handle, fn func(tx *bolt.Tx) error) error {
	if _, err := h.check(s.path); err != nil {
		return s.fail(err)
	}
	if s.o.beforeWrite != nil {
		s.o.beforeWrite()
	}
	err := h.update(fn)
	if h.poisoned.Load() {
		return s.fail(err)
	}
	size, cerr := h.checkFile(s.path)
	if cerr != nil {
		return s.fail(cerr)
	}
	if err != nil {
		return mapErr(err)
	}
	h.size.Store(size)
	return nil
}

func applyBatch(tx *bolt.Tx, e *encodedBatch) error {
	ab, idx := tx.Bucket(bucketAnnouncements), tx.Bucket(bucketAnnouncementIDs)
	rb, lb := tx.Bucket(bucketReplicas), tx.Bucket(bucketAlerting)
	if ab == nil || idx == nil || rb == nil || lb == nil {
		return corruptf("missing bucket")
	}
	for _, a := range e.putAnnouncements {
		if err := putAnnouncement(ab, idx, a); err != nil {
			return err
		}
	}
	for _, id := range e.deleteAnnouncements {
		ik := announcementIDKey(id)
		if len(ik) > maxKeySize {
			continue // cannot have been stored
		}
		if k := idx.Get(ik); k != nil {
			k = bytes.Clone(k)
			if err := ab.Delete(k); err != nil {
				return err
			}
			if err := idx.Delete(ik); err != nil {
				return err
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
	if err := applyOutbox(tx, e); err != nil {
		return err
	}
	return applyHistory(tx, e)
}

// putAnnouncement stores a under its Seq and indexes its ID, replacing the
// announcement with the same ID (found through the index) and the one with
// the same Seq (whose ID is read from its value alone).
func putAnnouncement(ab, idx *bolt.Bucket, a kv) error {
	ik := announcementIDKey(a.id)
	if old := idx.Get(ik); old != nil && !bytes.Equal(old, a.key) {
		if err := ab.Delete(bytes.Clone(old)); err != nil {
			return err
		}
	}
	if prev := ab.Get(a.key); prev != nil {
		if id, err := announcementID(prev); err == nil {
			if id != a.id {
				if err := idx.Delete(announcementIDKey(id)); err != nil {
					return err
				}
			}
		} else if err := unindex(idx, a.key); err != nil {
			// The value being replaced does not decode (damaged while
			// open): drop whatever index entry points at it.
			return err
		}
	}
	if err := ab.Put(a.key, a.value); err != nil {
		return fmt.Errorf("put announcement %q: %w", shorten(a.id), err)
	}
	return idx.Put(ik, a.key)
}

// unindex deletes the index entries that point at key, by scanning the
// index; only used when the announcement at key cannot be decoded.
func unindex(idx *bolt.Bucket, key []byte) error {
	var stale [][]byte
	if err := idx.ForEach(func(ik, k []byte) error {
		if bytes.Equal(k, key) {
			stale = append(stale, bytes.Clone(ik))
		}
		return nil
	}); err != nil {
		return err
	}
	for _, ik := range stale {
		if err := idx.Delete(ik); err != nil {
			return err
		}
	}
	return nil
}

// clearData empties every data bucket (Rebuild of a healthy store).
func clearData(tx *bolt.Tx) error {
	for _, name := range dataBuckets {
		if tx.Bucket(name) != nil {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
	}
	return ensureBuckets(tx)
}

// Rebuild implements Repairable.
func (s *boltStore) Rebuild(ctx context.Context, st *State) (moved string, err error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	e, rejected := encodeBatch(stateBatch(st))
	write := func(tx *bolt.Tx) error {
		if err := clearData(tx); err != nil {
			return err
		}
		return applyBatch(tx, e)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return "", ErrClosed
	}
	old := s.h
	if s.failed() == nil {
		if err := s.write(old, write); !errors.Is(err, ErrDamaged) {
			if err == nil {
				s.logger.Warn("store contents replaced by the state in memory", "path", s.path)
			}
			if err != nil {
				return "", err
			}
			return "", rejectedError(rejected)
		}
	}

	// Damaged: start a new file at the path.
	moved, err = moveAside(s.path, "damaged", s.o.now())
	if errors.Is(err, os.ErrNotExist) {
		moved, err = "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store %s: move the damaged file aside: %w", s.path, err)
	}
	h, err := openHandle(s.path, s.logger, s.o)
	if err != nil {
		return moved, fmt.Errorf("store %s: create a new file: %w", s.path, err)
	}
	if err := h.update(write); err != nil {
		closeHandle(h)
		return moved, fmt.Errorf("store %s: write the state to the new file: %w", s.path, err)
	}
	size, err := h.check(s.path)
	if err != nil {
		closeHandle(h)
		return moved, fmt.Errorf("store %s: new file: %w", s.path, err)
	}
	h.size.Store(size)

	s.hmu.Lock()
	if s.closed.Load() {
		// Close gave up waiting for us and released the old file.
		s.hmu.Unlock()
		closeHandle(h)
		return moved, ErrClosed
	}
	s.h = h
	s.failure.Store(nil)
	s.hmu.Unlock()
	closeHandle(old)
	s.logger.Error("store rebuilt from the state in memory", "path", s.path, "moved_to", moved,
		"announcements", len(e.putAnnouncements), "replicas", len(e.putReplicas))
	return moved, rejectedError(rejected)
}

// Close closes the file and releases its lock. It waits for a running
// Apply or Rebuild, for at most the close timeout (DefaultCloseTimeout);
// a store whose bbolt panicked, or that does not close in time, has its
// descriptor closed and its lock released without bbolt (its memory map
// then leaks, which is small and rare). Later calls return the first
// call's result.
func (s *boltStore) Close() error {
	s.once.Do(func() {
		s.hmu.Lock()
		s.closed.Store(true)
		s.hmu.Unlock()
		done := make(chan error, 1)
		go func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			done <- s.h.close()
		}()
		t := time.NewTimer(s.o.closeTimeout)
		defer t.Stop()
		select {
		case s.err = <-done:
		case <-t.C:
			s.hmu.Lock()
			h := s.h
			s.hmu.Unlock()
			_ = h.forceClose()
			s.err = fmt.Errorf("store %s: did not close within %v; released the file without waiting", s.path, s.o.closeTimeout)
			s.logger.Error("store did not close in time: released the file without waiting", "path", s.path, "timeout", s.o.closeTimeout)
		}
	})
	return s.err
}
