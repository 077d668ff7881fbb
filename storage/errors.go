package storage

import (
	"errors"
	"fmt"
)

var (
	// ErrClosed is returned by Load and Apply after Close.
	ErrClosed = errors.New("storage: store is closed")

	// ErrLocked is wrapped by the error OpenBolt and Open return when
	// another process holds the database file. The error reads
	// "store <path> is locked by another process". It is not corruption:
	// Open never moves a locked file aside.
	ErrLocked = errors.New("locked by another process")

	// ErrCorrupt is wrapped by errors that mean the database file or one of
	// its values cannot be read: not a bbolt file, truncated, bad meta page,
	// a failed integrity check, a panic while reading, or a value that does
	// not decode. Open recovers from it by moving the file aside; OpenBolt
	// and Load only report it.
	ErrCorrupt = errors.New("corrupt store")

	// ErrSchemaTooNew is wrapped by the error returned when the file was
	// written by a newer binary with a schema version this one does not
	// know. The file is left untouched.
	ErrSchemaTooNew = errors.New("schema version is newer than this binary supports")

	// ErrSchemaTooOld is wrapped by the error returned when the file has a
	// schema version this binary has no migration from. The file is left
	// untouched.
	ErrSchemaTooOld = errors.New("schema version is older than this binary can migrate")
)

// corruptError marks err as corruption (errors.Is(err, ErrCorrupt)) while
// keeping the underlying error reachable with errors.Unwrap.
type corruptError struct{ err error }

func (e *corruptError) Error() string        { return ErrCorrupt.Error() + ": " + e.err.Error() }
func (e *corruptError) Unwrap() error        { return e.err }
func (e *corruptError) Is(target error) bool { return target == ErrCorrupt }

// corrupt wraps err as corruption; corrupt(nil) is nil.
func corrupt(err error) error {
	if err == nil || errors.Is(err, ErrCorrupt) {
		return err
	}
	return &corruptError{err}
}

// corruptf formats a corruption error.
func corruptf(format string, args ...any) error {
	return &corruptError{fmt.Errorf(format, args...)}
}
