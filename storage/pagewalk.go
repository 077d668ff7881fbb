package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// The bbolt on-disk page format (file format version 2, unchanged since
// boltdb), in native byte order:
//
//	page header (16 bytes): id uint64, flags uint16, count uint16, overflow uint32
//	branch element (16):    pos uint32, ksize uint32, pgid uint64
//	leaf element (16):      flags uint32, pos uint32, ksize uint32, vsize uint32
//	bucket value:           root pgid uint64, sequence uint64, then, when
//	                        root is 0 (inline bucket), a leaf page
//	meta (pages 0 and 1):   magic, version, pageSize, flags uint32; root
//	                        bucket value (16); freelist, pgid, txid,
//	                        checksum uint64
//	freelist page:          count page ids (uint64); when count is 0xFFFF
//	                        the real count is the first uint64
//
// An element's key starts pos bytes after the element itself; a leaf
// value follows its key.
const (
	pageHeaderSize  = 16
	elementSize     = 16
	bucketValueSize = 16

	branchPageFlag   = 0x01
	leafPageFlag     = 0x02
	freelistPageFlag = 0x10
	bucketLeafFlag   = 0x01

	// noFreelist is the meta's freelist page id when the freelist is not
	// synced to disk.
	noFreelist = ^uint64(0)

	// maxTreeDepth bounds nesting of B+tree levels and buckets; a real
	// tree of this store is a handful of levels deep.
	maxTreeDepth = 64
)

var nativeEndian = binary.NativeEndian

// pageWalker checks, on a plain copy of the file, that the page tree bbolt
// is about to read is safe to read: every page reachable from the root is
// below the high-water mark, identifies as itself, is a branch or leaf
// page, is referenced only once (so there is no cycle), every key and
// value lies inside its page, and every branch key equals the first key of
// its child (bbolt finds a node in its parent by that key when it writes:
// a damaged first key passes tx.Check's ordering test, but the next write
// then inserts a duplicate parent entry and breaks the tree); and that the freelist page is a freelist
// page whose ids fit in it. bbolt trusts all of this; reading a damaged
// file without it can fault on memory past the end of the mapping or loop
// forever (tx.Check loops `for i := uint32(0); i <= overflow; i++` over
// the freelist page), and tx.Check does its reading in a goroutine of its
// own where a fault cannot be recovered.
type pageWalker struct {
	data     []byte // the first hwm pages of the file
	pageSize uint64
	hwm      uint64
	seen     []bool
}

// walkPages checks the tree of the meta page that transaction txid read:
// root bucket page root, high-water mark hwm (in pages).
func walkPages(data []byte, pageSize int, hwm, root, txid uint64) error {
	if pageSize < 2*(pageHeaderSize+64) || hwm < 2 || uint64(len(data)) < hwm*uint64(pageSize) {
		return corruptf("page size %d, %d bytes for %d pages", pageSize, len(data), hwm)
	}
	w := &pageWalker{data: data, pageSize: uint64(pageSize), hwm: hwm, seen: make([]bool, hwm)}
	if _, err := w.page(root, 0); err != nil {
		return err
	}
	freelist, err := w.metaFreelist(root, txid)
	if err != nil {
		return err
	}
	return w.freelist(freelist)
}

// metaFreelist finds the meta page bbolt chose (the one with txid, root
// and hwm) and returns its freelist page id.
func (w *pageWalker) metaFreelist(root, txid uint64) (uint64, error) {
	for id := range uint64(2) {
		m := w.data[id*w.pageSize+pageHeaderSize:]
		if nativeEndian.Uint64(m[16:]) == root && nativeEndian.Uint64(m[40:]) == w.hwm && nativeEndian.Uint64(m[48:]) == txid {
			return nativeEndian.Uint64(m[32:]), nil
		}
	}
	return 0, corruptf("no meta page has transaction %d", txid)
}

func (w *pageWalker) freelist(id uint64) error {
	if id == noFreelist {
		return nil
	}
	if id < 2 || id >= w.hwm {
		return corruptf("freelist page %d: out of range [2, %d)", id, w.hwm)
	}
	off := id * w.pageSize
	hdr := w.data[off : off+pageHeaderSize]
	if got := nativeEndian.Uint64(hdr); got != id {
		return corruptf("freelist page %d: header says it is page %d", id, got)
	}
	flags, count, overflow := nativeEndian.Uint16(hdr[8:]), uint64(nativeEndian.Uint16(hdr[10:])), nativeEndian.Uint32(hdr[12:])
	if flags != freelistPageFlag {
		return corruptf("freelist page %d: page type %#x", id, flags)
	}
	last := id + uint64(overflow)
	if last >= w.hwm {
		return corruptf("freelist page %d: %d overflow pages reach past the high-water mark %d", id, overflow, w.hwm)
	}
	for p := id; p <= last; p++ {
		if w.seen[p] {
			return corruptf("freelist page %d: page %d is also in the tree", id, p)
		}
	}
	capacity := ((last+1)*w.pageSize - off - pageHeaderSize) / 8
	if count == 0xFFFF {
		if capacity == 0 {
			return corruptf("freelist page %d: no room for its count", id)
		}
		count = nativeEndian.Uint64(w.data[off+pageHeaderSize:])
		capacity--
	}
	if count > capacity {
		return corruptf("freelist page %d: %d ids do not fit", id, count)
	}
	return nil
}

// page checks page id and everything below it, and returns the page's
// first key (nil when it has none).
func (w *pageWalker) page(id uint64, depth int) ([]byte, error) {
	if depth > maxTreeDepth {
		return nil, corruptf("page %d: tree deeper than %d levels", id, maxTreeDepth)
	}
	if id < 2 || id >= w.hwm {
		return nil, corruptf("page %d: out of range [2, %d)", id, w.hwm)
	}
	off := id * w.pageSize
	hdr := w.data[off : off+pageHeaderSize]
	if got := nativeEndian.Uint64(hdr); got != id {
		return nil, corruptf("page %d: header says it is page %d", id, got)
	}
	flags, count, overflow := nativeEndian.Uint16(hdr[8:]), nativeEndian.Uint16(hdr[10:]), nativeEndian.Uint32(hdr[12:])
	last := id + uint64(overflow)
	if last >= w.hwm {
		return nil, corruptf("page %d: %d overflow pages reach past the high-water mark %d", id, overflow, w.hwm)
	}
	for p := id; p <= last; p++ {
		if w.seen[p] {
			return nil, corruptf("page %d: referenced more than once", p)
		}
		w.seen[p] = true
	}
	buf := w.data[off : (last+1)*w.pageSize]
	where := fmt.Sprintf("page %d", id)
	switch flags {
	case branchPageFlag:
		if count == 0 {
			return nil, corruptf("%s: empty branch page", where)
		}
		if err := elementsFit(buf, count, where); err != nil {
			return nil, err
		}
		var first []byte
		for i := range uint64(count) {
			e := pageHeaderSize + i*elementSize
			pos, ksize := nativeEndian.Uint32(buf[e:]), nativeEndian.Uint32(buf[e+4:])
			child := nativeEndian.Uint64(buf[e+8:])
			start := e + uint64(pos)
			if start+uint64(ksize) > uint64(len(buf)) {
				return nil, corruptf("%s: key %d outside the page", where, i)
			}
			key := buf[start : start+uint64(ksize)]
			if i == 0 {
				first = key
			}
			childFirst, err := w.page(child, depth+1)
			if err != nil {
				return nil, err
			}
			if !bytes.Equal(key, childFirst) {
				return nil, corruptf("%s: key %d is %x but the first key of its child page %d is %x", where, i, key, child, childFirst)
			}
		}
		return first, nil
	case leafPageFlag:
		return w.leaf(buf, count, depth, where)
	default:
		return nil, corruptf("%s: page type %#x, want branch or leaf", where, flags)
	}
}

// leaf checks the elements of a leaf page (buf starts at its header),
// walks the buckets it holds, and returns its first key.
func (w *pageWalker) leaf(buf []byte, count uint16, depth int, where string) ([]byte, error) {
	if err := elementsFit(buf, count, where); err != nil {
		return nil, err
	}
	var first []byte
	for i := range uint64(count) {
		e := pageHeaderSize + i*elementSize
		flags := nativeEndian.Uint32(buf[e:])
		pos, ksize, vsize := nativeEndian.Uint32(buf[e+4:]), nativeEndian.Uint32(buf[e+8:]), nativeEndian.Uint32(buf[e+12:])
		start := e + uint64(pos)
		end := start + uint64(ksize) + uint64(vsize)
		if end > uint64(len(buf)) {
			return nil, corruptf("%s: element %d outside the page", where, i)
		}
		if i == 0 {
			first = buf[start : start+uint64(ksize)]
		}
		if flags&bucketLeafFlag == 0 {
			continue
		}
		v := buf[start+uint64(ksize) : end]
		if len(v) < bucketValueSize {
			return nil, corruptf("%s: bucket %d header is %d bytes", where, i, len(v))
		}
		root := nativeEndian.Uint64(v)
		if root != 0 {
			if _, err := w.page(root, depth+1); err != nil {
				return nil, err
			}
			continue
		}
		inline := v[bucketValueSize:]
		if len(inline) < pageHeaderSize {
			return nil, corruptf("%s: inline bucket %d is %d bytes", where, i, len(inline))
		}
		if f := nativeEndian.Uint16(inline[8:]); f != leafPageFlag {
			return nil, corruptf("%s: inline bucket %d has page type %#x", where, i, f)
		}
		if depth+1 > maxTreeDepth {
			return nil, corruptf("%s: buckets nested deeper than %d levels", where, maxTreeDepth)
		}
		if _, err := w.leaf(inline, nativeEndian.Uint16(inline[10:]), depth+1, fmt.Sprintf("%s inline bucket %d", where, i)); err != nil {
			return nil, err
		}
	}
	return first, nil
}

func elementsFit(buf []byte, count uint16, where string) error {
	if pageHeaderSize+uint64(count)*elementSize > uint64(len(buf)) {
		return corruptf("%s: %d elements do not fit in %d bytes", where, count, len(buf))
	}
	return nil
}
