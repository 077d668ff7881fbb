//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package storage

import "os"

// unlockFile is a no-op where bbolt does not use flock; closing the file
// is all that can be done.
func unlockFile(*os.File) {}
