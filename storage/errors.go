package storage

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/vigil-go/vigil/messages"
)

var (
	// ErrClosed is returned by Load, Apply, Rebuild and Health after Close.
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

// ErrDamaged is wrapped by the error every call returns once the store has
// found its file damaged while open: truncated or overwritten in place,
// removed, replaced by another file (renamed over it), or bbolt panicked
// on it. The error reads "store <path> is damaged: <reason>" and unwraps
// to the reason. The store then refuses every Load and Apply at once (it
// never waits on bbolt again), Health reports it, Close still returns
// promptly, and Rebuild is the way out.
var ErrDamaged = errors.New("store is damaged")

// damagedError is ErrDamaged with its path and reason.
type damagedError struct {
	path string
	err  error
}

func (e *damagedError) Error() string {
	return "store " + e.path + " is damaged: " + e.err.Error()
}
func (e *damagedError) Unwrap() error        { return e.err }
func (e *damagedError) Is(target error) bool { return target == ErrDamaged }

// RejectedError is returned by Apply and Rebuild when some records of the
// batch could not be stored (a key longer than bbolt allows, a status that
// would not decode, a time JSON cannot hold, ...). Those records were left
// out; everything else in the batch was committed, atomically and durably,
// as if they had not been in it. Retrying the same records fails the same
// way, so callers log or count them and carry on.
type RejectedError struct {
	Records []RejectedRecord
}

// RejectedRecord is one record left out of a batch.
type RejectedRecord struct {
	// Kind is "announcement", "replica" or "alerting".
	Kind string
	// ID is the announcement's ID (announcements only).
	ID string
	// Replica is the replica's key (replicas only).
	Replica messages.ReplicaKey
	// Err says why it was left out.
	Err error
}

// Key names the record for logs, shortening long ids.
func (r RejectedRecord) Key() string {
	switch r.Kind {
	case "announcement":
		return shorten(r.ID)
	case "replica":
		return shorten(r.Replica.Probe) + ":" + shorten(r.Replica.Node) + ":" + shorten(r.Replica.Replica)
	}
	return r.Kind
}

func (e *RejectedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "storage: %d record(s) not stored, the rest of the batch was", len(e.Records))
	for i, r := range e.Records {
		if i == 5 {
			fmt.Fprintf(&b, "; and %d more", len(e.Records)-i)
			break
		}
		sep := ": "
		if i > 0 {
			sep = "; "
		}
		fmt.Fprintf(&b, "%s%s %q (%v)", sep, r.Kind, r.Key(), r.Err)
	}
	return b.String()
}

// rejectedError is nil without records, so that Apply returns a plain nil.
func rejectedError(rs []RejectedRecord) error {
	if len(rs) == 0 {
		return nil
	}
	return &RejectedError{Records: rs}
}

// shorten cuts an id to 64 bytes for messages, saying how long it was.
func shorten(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…(%d bytes)", s[:cut], len(s))
}
