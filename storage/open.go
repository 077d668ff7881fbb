package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// Open is the entry point for the server: OpenBolt plus recovery from a
// corrupt file.
//
// When the file cannot be used because it is corrupt (not a bbolt
// database, truncated, bad meta pages, a failed consistency check, a panic
// or fault while reading it, or any stored value that does not decode —
// Open decodes every value once, so a bad value is found here and not at a
// later Load), Open logs an error naming the problem, renames the file to
// "<path>.corrupt-<UTC timestamp>" (it is never deleted), and returns a
// fresh empty store at path, so that the server keeps running.
//
// Every other failure is returned as is and leaves the file alone: another
// process holding the lock (ErrLocked), a schema version from a newer
// binary (ErrSchemaTooNew) or one that cannot be migrated
// (ErrSchemaTooOld), a bbolt file that is not a vigil store, and OS errors
// such as permissions.
//
// Damage done to the file after it was opened is the store's to notice
// (ErrDamaged, Health) and the caller's to repair with Rebuild, which moves
// the file aside the same way as "<path>.damaged-<UTC timestamp>".
func Open(path string, logger *slog.Logger) (Repairable, error) {
	return open(path, logger, defaultOptions())
}

func open(path string, logger *slog.Logger, o options) (Repairable, error) {
	if logger == nil {
		logger = slog.Default()
	}
	s, err := openBolt(path, logger, o)
	if err == nil || !errors.Is(err, ErrCorrupt) {
		return s, err
	}
	aside, mvErr := moveAside(path, "corrupt", o.now())
	if mvErr != nil {
		logger.Error("store is corrupt and could not be moved aside", "path", path, "error", err, "move_err", mvErr)
		return nil, fmt.Errorf("store %s: %w (moving it aside failed: %v)", path, err, mvErr)
	}
	logger.Error("store is corrupt: moved it aside and starting with an empty store; announcements, replica states and alerting state are lost",
		"path", path, "moved_to", aside, "error", err)
	s, err2 := openBolt(path, logger, o)
	if err2 != nil {
		return nil, fmt.Errorf("store %s: create empty store after moving the corrupt one to %s: %w", path, aside, err2)
	}
	return s, nil
}

// moveAside renames path to "<path>.<why>-<UTC timestamp>", adding a
// counter if that name is taken, and syncs the directory. It never
// replaces an existing file.
func moveAside(path, why string, now time.Time) (string, error) {
	base := path + "." + why + "-" + now.UTC().Format("20060102T150405Z")
	for i := 0; ; i++ {
		aside := base
		if i > 0 {
			aside = fmt.Sprintf("%s-%d", base, i)
		}
		if _, err := os.Lstat(aside); err == nil {
			continue
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		if err := os.Rename(path, aside); err != nil {
			return "", err
		}
		syncDir(filepath.Dir(path))
		return aside, nil
	}
}
