package storage

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"runtime/debug"
	"strings"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// handle is one open bbolt file and what the store knows about it to
// notice damage done to it from outside while it is open.
type handle struct {
	db *bolt.DB
	// file is the descriptor bbolt reads (through its memory map) and
	// writes.
	file     *os.File
	pageSize int
	// size is the file's size after the last write: bbolt never shrinks
	// its file, so a smaller file was truncated by someone else.
	size atomic.Int64
	// txid is the last committed transaction.
	txid atomic.Uint64
	// poisoned is set when bbolt panicked. bbolt may then hold its write
	// lock for ever (it panics again while rolling back, before unlocking),
	// so the db is never called again: the handle is released by closing
	// the descriptor (forceClose).
	poisoned atomic.Bool
}

// The bbolt meta page (see pagewalk.go for its layout).
const (
	metaMagic    = 0xED0CDAED
	metaVersion  = 2
	metaChecksum = 56 // offset of the checksum, which covers the bytes before it
	metaSize     = 64
)

// check tells whether path still names this handle's file and whether the
// file looks whole: not truncated below its size after the last write,
// and with a valid meta page (magic, version, checksum) that is at least
// as new as the last commit and whose pages fit in the file. bbolt panics,
// holding its write lock, on a file without a valid meta page or with
// pages past its end; this check lets a write fail cleanly instead. It
// costs two stats and one read of the two metas. It returns the file's
// size.
func (h *handle) check(path string) (int64, error) {
	size, err := h.checkFile(path)
	if err != nil {
		return 0, err
	}
	return size, h.checkMeta(size)
}

// checkFile is check without the metas: enough right after a commit,
// which bbolt has just made through the metas it checked.
func (h *handle) checkFile(path string) (int64, error) {
	// Read the size after the last write before the file's: a write that
	// ends in between makes the file bigger than want, never smaller.
	want := h.size.Load()
	fi, err := h.file.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat the open file: %w", err)
	}
	pi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return 0, errors.New("the file was removed")
	case err != nil:
		return 0, err
	case !os.SameFile(fi, pi):
		return 0, errors.New("another file was put in its place")
	}
	size := fi.Size()
	if size < want {
		return 0, fmt.Errorf("the file was truncated to %d bytes (it had %d)", size, want)
	}
	return size, nil
}

func (h *handle) checkMeta(size int64) error {
	// Read the last commit before the pages: a commit that ends in between
	// makes the file newer than want, never older.
	want := h.txid.Load()
	// One read from the first meta to the end of the second.
	buf := make([]byte, h.pageSize+metaSize)
	if _, err := h.file.ReadAt(buf, pageHeaderSize); err != nil {
		return fmt.Errorf("read the meta pages: %w", err)
	}
	var problems []string
	for i := range 2 {
		m := buf[i*h.pageSize:]
		if err := validMeta(m); err != nil {
			problems = append(problems, fmt.Sprintf("meta page %d: %v", i, err))
			continue
		}
		pages, txid := nativeEndian.Uint64(m[40:]), nativeEndian.Uint64(m[48:])
		if txid < want {
			problems = append(problems, fmt.Sprintf("meta page %d: transaction %d is older than the last commit %d", i, txid, want))
			continue
		}
		if pages > uint64(size)/uint64(h.pageSize) {
			problems = append(problems, fmt.Sprintf("meta page %d: %d pages do not fit in %d bytes", i, pages, size))
			continue
		}
		return nil
	}
	return errors.New("the file was overwritten: " + strings.Join(problems, "; "))
}

// validMeta checks a meta as bbolt does before trusting it.
func validMeta(m []byte) error {
	if got := nativeEndian.Uint32(m); got != metaMagic {
		return fmt.Errorf("magic %#x", got)
	}
	if got := nativeEndian.Uint32(m[4:]); got != metaVersion {
		return fmt.Errorf("version %d", got)
	}
	sum := fnv.New64a()
	_, _ = sum.Write(m[:metaChecksum])
	if sum.Sum64() != nativeEndian.Uint64(m[metaChecksum:]) {
		return errors.New("checksum mismatch")
	}
	return nil
}

// update runs fn in a write transaction and records the commit. A panic
// (or memory fault) raised by bbolt poisons the handle and is returned as
// corruption.
func (h *handle) update(fn func(tx *bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			h.poisoned.Store(true)
			err = corruptf("panic: %v", r)
		}
	}()
	var txid uint64
	err = h.db.Update(func(tx *bolt.Tx) error {
		txid = uint64(tx.ID())
		return fn(tx)
	})
	if err == nil {
		h.txid.Store(txid)
	}
	return err
}

// view runs fn in a read transaction; a panic poisons the handle, as in
// update.
func (h *handle) view(fn func(tx *bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			h.poisoned.Store(true)
			err = corruptf("panic: %v", r)
		}
	}()
	return h.db.View(fn)
}

// close closes bbolt, or, when it is poisoned, only the descriptor.
func (h *handle) close() error {
	if h.poisoned.Load() {
		return h.forceClose()
	}
	return h.db.Close()
}

// forceClose releases the file without bbolt: it drops the lock and
// closes the descriptor. bbolt's memory map of the file leaks.
func (h *handle) forceClose() error {
	unlockFile(h.file)
	return h.file.Close()
}

// closeHandle closes a handle that is being discarded, ignoring errors.
func closeHandle(h *handle) { _ = h.close() }
