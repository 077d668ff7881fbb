// Package storagetest gives tests a real store to write to. There is no
// in-memory twin of the store: a test gets the embedded bbolt store in its
// own temporary directory, so that what tests exercise is what the server
// runs, and the store's write path exists once.
package storagetest

import (
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/vigil-go/vigil/storage"
)

// New opens an empty store in tb's temporary directory; it is closed when
// the test ends. It is the server's store, so it also implements
// storage.Repairable (Health, Rebuild); its path is tb.TempDir()/state.db.
func New(tb testing.TB) storage.Repairable {
	tb.Helper()
	s, err := storage.OpenBolt(filepath.Join(tb.TempDir(), "state.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}
