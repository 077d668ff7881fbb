//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package storage

import (
	"os"
	"syscall"
)

// unlockFile releases the flock bbolt took on f. Closing f is not enough
// when bbolt panicked half-way through Open: its memory map keeps the open
// file description, and with it the lock, alive.
func unlockFile(f *os.File) {
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
