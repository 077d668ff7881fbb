package history

import (
	"math"
	"unsafe"

	"github.com/vigil-go/vigil/messages"
)

const (
	hourMs = 3_600_000
	dayMs  = 86_400_000

	// ringHours is how many hourly buckets are kept, in memory and in the
	// store: the current hour and the 167 before it (7 days).
	ringHours = 168
	// ringDays is how many daily buckets are kept in memory: the view's
	// bars (today and the 89 days before).
	ringDays = messages.HistoryDays
	// retainDays is how many daily buckets the store keeps (today and the
	// 399 days before); incidents and announcements are kept as long.
	retainDays = 400
)

func hourOf(ms int64) int32 { return int32(ms / hourMs) }
func dayOf(ms int64) int32  { return int32(ms / dayMs) }

// state is a subject's status with "no data" as its zero value; the worst
// of several is their maximum, and no data loses to any status.
type state uint8

const (
	noData state = iota
	stHealthy
	stSick
	stDead
	nStates
)

func toState(st messages.Status, hasData bool) state {
	switch {
	case !hasData:
		return noData
	case st == messages.Healthy:
		return stHealthy
	case st == messages.Sick:
		return stSick
	}
	return stDead
}

func (s state) status() messages.Status { return messages.Status(s - 1) }

// bucket is the time, in milliseconds, a subject spent in each status
// during one hour or day; no data is the rest of the elapsed time.
type bucket struct {
	healthy, sick, dead uint32
}

func (b *bucket) add(s state, ms uint32) {
	switch s {
	case stHealthy:
		b.healthy += ms
	case stSick:
		b.sick += ms
	case stDead:
		b.dead += ms
	}
}

func (b bucket) observed() uint64 { return uint64(b.healthy) + uint64(b.sick) + uint64(b.dead) }

// series is the history of one subject kept in memory: hourly and daily
// buckets in rings indexed by hour (day) modulo their length, the current
// status, and since when that status has not been accounted yet. The time
// from since to now is added to the buckets lazily (settle): when the
// status changes, and at the first Flush of every hour.
//
// The small fields come first: the hot paths (Node, Latency) touch only
// them, next to the node's own fields.
type series struct {
	since int64 // ms
	cur   state
	// hourTop and dayTop are the newest hour and day in the rings; the
	// slots of older ones than hourTop−167 (dayTop−89) are stale.
	hourTop, dayTop int32
	// The hours and days whose records changed since the last Flush
	// (lo > hi: none).
	dirtyHourLo, dirtyHourHi int32
	dirtyDayLo, dirtyDayHi   int32
	hours                    [ringHours]bucket
	days                     [ringDays]bucket
}

func (s *series) clean() {
	s.dirtyHourLo, s.dirtyHourHi = math.MaxInt32, math.MinInt32
	s.dirtyDayLo, s.dirtyDayHi = math.MaxInt32, math.MinInt32
}

func (s *series) markHour(h int32) {
	s.dirtyHourLo, s.dirtyHourHi = min(s.dirtyHourLo, h), max(s.dirtyHourHi, h)
}

func (s *series) markDay(d int32) {
	s.dirtyDayLo, s.dirtyDayHi = min(s.dirtyDayLo, d), max(s.dirtyDayHi, d)
}

func (s *series) hour(h int32) bucket {
	if h > s.hourTop || h <= s.hourTop-ringHours || h < 0 {
		return bucket{}
	}
	return s.hours[h%ringHours]
}

func (s *series) day(d int32) bucket {
	if d > s.dayTop || d <= s.dayTop-ringDays || d < 0 {
		return bucket{}
	}
	return s.days[d%ringDays]
}

// hourSlot is the slot of hour h, moving the ring forward to it; nil when
// h is too old for the ring.
func (s *series) hourSlot(h int32) *bucket {
	if h > s.hourTop {
		if h-s.hourTop >= ringHours {
			s.hours = [ringHours]bucket{}
		} else {
			for x := s.hourTop + 1; x <= h; x++ {
				s.hours[x%ringHours] = bucket{}
			}
		}
		s.hourTop = h
	}
	if h <= s.hourTop-ringHours || h < 0 {
		return nil
	}
	return &s.hours[h%ringHours]
}

func (s *series) daySlot(d int32) *bucket {
	if d > s.dayTop {
		if d-s.dayTop >= ringDays {
			s.days = [ringDays]bucket{}
		} else {
			for x := s.dayTop + 1; x <= d; x++ {
				s.days[x%ringDays] = bucket{}
			}
		}
		s.dayTop = d
	}
	if d <= s.dayTop-ringDays || d < 0 {
		return nil
	}
	return &s.days[d%ringDays]
}

// settle accounts the time from since to `to` to the current status,
// split exactly at hour and day boundaries. A clock that went back
// (to < since) accounts nothing.
func (s *series) settle(to int64) {
	from := s.since
	if to <= from {
		return
	}
	s.since = to
	if s.cur == noData {
		return
	}
	forPieces(from, to, hourMs, ringHours, func(h int32, ms uint32) {
		if b := s.hourSlot(h); b != nil {
			b.add(s.cur, ms)
			s.markHour(h)
		}
	})
	forPieces(from, to, dayMs, ringDays, func(d int32, ms uint32) {
		if b := s.daySlot(d); b != nil {
			b.add(s.cur, ms)
			s.markDay(d)
		}
	})
}

// set settles the time up to now and changes the status; the hour of now
// is marked because its record carries the open status.
func (s *series) set(st state, now int64) {
	s.settle(now)
	s.cur = st
	s.markHour(hourOf(max(now, s.since)))
}

// forPieces calls fn with each unit (hour or day) that [from, to)
// overlaps and the milliseconds of the overlap, oldest first, skipping
// units more than keep before the last one.
func forPieces(from, to, unit int64, keep int32, fn func(u int32, ms uint32)) {
	if to <= from {
		return
	}
	last := (to - 1) / unit
	from = max(from, (last-int64(keep)+1)*unit)
	for from < to {
		u := from / unit
		end := min((u+1)*unit, to)
		fn(int32(u), uint32(end-from))
		from = end
	}
}

// Sizes of the per-subject state, for the memory report in the tests.
const (
	sizeofSeries  = int(unsafe.Sizeof(series{}))
	sizeofLatency = int(unsafe.Sizeof(latency{}))
)
