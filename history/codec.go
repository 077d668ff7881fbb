package history

import (
	"encoding/binary"
	"errors"
	"math"

	"github.com/vigil-go/vigil/messages"
)

// Record values start with a version byte; this package writes version 1
// and refuses any other. Numbers are unsigned varints, times are unix
// milliseconds and strings are a varint length and their bytes.
//
// Hourly and daily buckets:
//
//	version, flags, healthy ms, sick ms, dead ms
//	[flagOpen]    state (1 healthy, 2 sick, 3 dead), since (ms into the bucket)
//	[flagLatency] count, p50 µs, p95 µs, max µs
//	[flagHist]    min µs, bins used, then per bin: index gap, count
//
// flagOpen is set on the record of the hour of the last Flush: the status
// the subject had then and since when (New accounts that time up to the
// Flush). flagHist is set while the hour or day is open.
//
// Incidents: version, start, end (0 while ongoing), worst status
// (messages.Status), node count, node ids.
//
// Announcements: version, published, retracted (0 while published),
// title, text.
//
// Meta (m/flush): version, time of the last Flush.
const recordVersion = 1

const (
	flagOpen = 1 << iota
	flagLatency
	flagHist
	flagsKnown = flagOpen | flagLatency | flagHist
)

// errCorrupt is returned for any value this package cannot decode.
var errCorrupt = errors.New("history record: corrupt or unknown version")

// bucketRecord is a decoded hourly or daily record.
type bucketRecord struct {
	b      bucket
	open   state  // noData: no open status
	since  uint32 // with open: ms from the bucket's start
	hasLat bool
	lat    latSum
	hist   *hist // with hasLat, while the bucket is open
}

func appendBucketRecord(dst []byte, r *bucketRecord) []byte {
	flags := uint64(0)
	if r.open != noData {
		flags |= flagOpen
	}
	if r.hasLat {
		flags |= flagLatency
		if r.hist != nil {
			flags |= flagHist
		}
	}
	dst = append(dst, recordVersion)
	dst = binary.AppendUvarint(dst, flags)
	dst = binary.AppendUvarint(dst, uint64(r.b.healthy))
	dst = binary.AppendUvarint(dst, uint64(r.b.sick))
	dst = binary.AppendUvarint(dst, uint64(r.b.dead))
	if r.open != noData {
		dst = append(dst, byte(r.open))
		dst = binary.AppendUvarint(dst, uint64(r.since))
	}
	if r.hasLat {
		dst = binary.AppendUvarint(dst, uint64(r.lat.count))
		dst = binary.AppendUvarint(dst, uint64(r.lat.p50))
		dst = binary.AppendUvarint(dst, uint64(r.lat.p95))
		dst = binary.AppendUvarint(dst, uint64(r.lat.max))
		if h := r.hist; h != nil {
			dst = binary.AppendUvarint(dst, uint64(h.min))
			used := 0
			for _, c := range h.bins {
				if c > 0 {
					used++
				}
			}
			dst = binary.AppendUvarint(dst, uint64(used))
			prev := -1
			for i, c := range h.bins {
				if c > 0 {
					dst = binary.AppendUvarint(dst, uint64(i-prev-1))
					dst = binary.AppendUvarint(dst, uint64(c))
					prev = i
				}
			}
		}
	}
	return dst
}

// decodeBucketRecord decodes a bucket of length ms (an hour or a day).
func decodeBucketRecord(v []byte, length uint32) (bucketRecord, error) {
	var r bucketRecord
	d := decoder{b: v}
	d.version()
	flags := d.uvarint()
	if flags&^flagsKnown != 0 || (flags&flagHist != 0 && flags&flagLatency == 0) {
		d.fail()
	}
	r.b.healthy, r.b.sick, r.b.dead = d.u32(), d.u32(), d.u32()
	if r.b.observed() > uint64(length) {
		d.fail()
	}
	if flags&flagOpen != 0 {
		r.open = state(d.byte())
		r.since = d.u32()
		if r.open == noData || r.open >= nStates || r.since >= length {
			d.fail()
		}
	}
	if flags&flagLatency != 0 {
		r.hasLat = true
		r.lat = latSum{count: d.u32(), p50: d.u32(), p95: d.u32(), max: d.u32()}
		l := r.lat
		if (l.count == 0 && l != latSum{}) || l.p50 > l.p95 || l.p95 > l.max {
			d.fail()
		}
	}
	if flags&flagHist != 0 {
		h := &hist{count: r.lat.count, max: r.lat.max, min: d.u32()}
		used := d.uvarint()
		if used > nBins || h.min > r.lat.p50 {
			d.fail()
		}
		var total uint64
		next := 0
		for range used {
			gap, c := d.uvarint(), d.u32()
			if d.err != nil || gap >= uint64(nBins-next) || c == 0 {
				d.fail()
				break
			}
			i := next + int(gap)
			h.bins[i] = c
			total += uint64(c)
			next = i + 1
		}
		if total != uint64(h.count) {
			d.fail()
		}
		r.hist = h
	}
	d.end()
	if d.err != nil {
		return bucketRecord{}, d.err
	}
	return r, nil
}

// incidentRecord is a decoded incident; its service is in the key.
type incidentRecord struct {
	start, end int64
	worst      messages.Status
	nodes      []string
}

func appendIncidentRecord(dst []byte, r *incidentRecord) []byte {
	dst = append(dst, recordVersion)
	dst = binary.AppendUvarint(dst, uint64(r.start))
	dst = binary.AppendUvarint(dst, uint64(r.end))
	dst = append(dst, byte(r.worst))
	dst = binary.AppendUvarint(dst, uint64(len(r.nodes)))
	for _, n := range r.nodes {
		dst = appendString(dst, n)
	}
	return dst
}

func decodeIncidentRecord(v []byte) (incidentRecord, error) {
	var r incidentRecord
	d := decoder{b: v}
	d.version()
	r.start, r.end = d.time(), d.time()
	r.worst = messages.Status(d.byte())
	if (r.end != 0 && r.end < r.start) || (r.worst != messages.Sick && r.worst != messages.Dead) {
		d.fail()
	}
	n := d.uvarint()
	if n > uint64(len(d.b)) { // every id takes at least its length byte
		d.fail()
	}
	if d.err == nil && n > 0 {
		r.nodes = make([]string, 0, n)
		for range n {
			r.nodes = append(r.nodes, d.string())
		}
	}
	d.end()
	if d.err != nil {
		return incidentRecord{}, d.err
	}
	return r, nil
}

// announcementRecord is a decoded announcement; its id is in the key.
type announcementRecord struct {
	published, retracted int64
	title, text          string
}

func appendAnnouncementRecord(dst []byte, r *announcementRecord) []byte {
	dst = append(dst, recordVersion)
	dst = binary.AppendUvarint(dst, uint64(r.published))
	dst = binary.AppendUvarint(dst, uint64(r.retracted))
	dst = appendString(dst, r.title)
	return appendString(dst, r.text)
}

func decodeAnnouncementRecord(v []byte) (announcementRecord, error) {
	var r announcementRecord
	d := decoder{b: v}
	d.version()
	r.published, r.retracted = d.time(), d.time()
	r.title, r.text = d.string(), d.string()
	d.end()
	if d.err != nil {
		return announcementRecord{}, d.err
	}
	return r, nil
}

func appendMetaRecord(dst []byte, flushed int64) []byte {
	dst = append(dst, recordVersion)
	return binary.AppendUvarint(dst, uint64(flushed))
}

func decodeMetaRecord(v []byte) (int64, error) {
	d := decoder{b: v}
	d.version()
	t := d.time()
	d.end()
	return t, d.err
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// decoder reads a value; the first problem sets err, after which every
// read returns zero.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() { d.err = errCorrupt }

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) version() {
	if d.byte() != recordVersion {
		d.fail()
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) u32() uint32 {
	v := d.uvarint()
	if v > math.MaxUint32 {
		d.fail()
		return 0
	}
	return uint32(v)
}

// maxTime bounds decoded times (ms) far beyond any real clock, so that
// arithmetic on them cannot overflow.
const maxTime = 1 << 50

func (d *decoder) time() int64 {
	v := d.uvarint()
	if v > maxTime {
		d.fail()
		return 0
	}
	return int64(v)
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) end() {
	if d.err == nil && len(d.b) != 0 {
		d.fail()
	}
}
