//go:build !linux

package main

import (
	"errors"
	"os/exec"
)

// dieWithParent is a no-op where the kernel cannot tie a child's life to its
// parent; the benchmark still stops its children on every normal exit and on
// Ctrl-C.
func dieWithParent(*exec.Cmd) {}

// raiseOpenFiles is only implemented on Linux.
func raiseOpenFiles() (uint64, error) {
	return 0, errors.New("raising the open files limit is only implemented on Linux")
}
