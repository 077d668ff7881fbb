package supervisors

import (
	"bytes"
	"context"
	"crypto/sha256"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watcher is the configuration reload actor.
//
// Owns: the hash of the configuration text last loaded, and the debounce
// timer.
//
// Receives: file system events for the configuration file's DIRECTORY (so
// that a Kubernetes ConfigMap update, which swaps the mounted directory's
// "..data" symlink and never writes the file itself, is seen; so are
// editors that save by renaming), and SIGHUP through its Trigger channel.
//
// Sends: after a quiet Debounce, and only when the file's content differs
// from what is running, the file's path to Reload. Reload parses and
// validates the new configuration and applies it, or keeps the running one.
type Watcher struct {
	Path     string
	Debounce time.Duration
	// Trigger forces a check (SIGHUP); it may be nil.
	Trigger <-chan struct{}
	// Reload parses, validates and applies the configuration at Path, or
	// logs why it keeps the running one.
	Reload func(ctx context.Context)
	Logger *slog.Logger

	// seen is the hash of the content last tried (owned by Serve): the same
	// content is not tried twice unless forced by SIGHUP.
	seen [sha256.Size]byte
}

func (w *Watcher) String() string { return "config watcher" }

// Serve watches until ctx ends.
func (w *Watcher) Serve(ctx context.Context) error {
	if data, err := os.ReadFile(w.Path); err == nil {
		w.seen = sha256.Sum256(data)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer fw.Close()
	dir := filepath.Dir(w.Path)
	if err := fw.Add(dir); err != nil {
		return err
	}
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-fw.Events:
			if !ok {
				return nil
			}
			_ = ev // any change in the directory may concern the file (symlink swaps)
			debounce.Reset(w.Debounce)
		case err, ok := <-fw.Errors:
			if ok {
				w.Logger.Warn("config watcher error", "error", err)
			}
		case <-w.Trigger:
			w.Logger.Info("reload requested (SIGHUP)")
			w.check(ctx, true)
		case <-debounce.C:
			w.check(ctx, false)
		}
	}
}

// check reloads when the content changed (or always when forced).
func (w *Watcher) check(ctx context.Context, force bool) {
	data, err := os.ReadFile(w.Path)
	if err != nil {
		w.Logger.Error("config reload: cannot read file", "path", w.Path, "error", err)
		return
	}
	sum := sha256.Sum256(data)
	if !force && bytes.Equal(sum[:], w.seen[:]) {
		return
	}
	w.seen = sum
	w.Reload(ctx)
}
