package history

import (
	"math"
	"math/bits"
	"time"
)

// Latency histograms: log-spaced bins over microseconds, four bins per
// power of two (each bin is at most 25 % wider than its lower bound), from
// 1 µs to maxLatencyUs (about 134 s; longer latencies fall in the last
// bin, their exact value still counts as the maximum). Quantiles are the
// middle of their bin, clamped to the smallest and largest latency seen,
// so they are within about 12 % of the exact value (exact when every
// latency is the same).
const (
	subBits      = 2
	subBins      = 1 << subBits
	maxLatencyUs = 1<<27 - 1
	// nBins: subBins for 0..3 µs, then subBins per power of two from
	// 2^2 to 2^26.
	nBins = subBins + (27-subBits)*subBins
)

// binOf is the bin of a latency in microseconds (at most maxLatencyUs).
func binOf(us uint32) int {
	if us < subBins {
		return int(us)
	}
	n := bits.Len32(us) // 3..27
	return subBins + (n-subBits-1)*subBins + int((us>>(n-subBits-1))&(subBins-1))
}

// binBounds is the range [lo, hi) of microseconds in bin i.
func binBounds(i int) (lo, hi uint32) {
	if i < subBins {
		return uint32(i), uint32(i) + 1
	}
	k := i - subBins
	shift := uint(k / subBins)
	m := uint32(k % subBins)
	return (subBins + m) << shift, (subBins + m + 1) << shift
}

// hist is the histogram of one open hour or day.
type hist struct {
	count, min, max uint32 // min and max in µs; 0 while count is 0
	bins            [nBins]uint32
}

// latSum is the summary of one hour or day; all zero without latencies.
type latSum struct {
	count, p50, p95, max uint32 // µs
}

// toMicros converts a latency, clamping it to what a uint32 holds.
func toMicros(d time.Duration) uint32 {
	us := d.Microseconds()
	if us <= 0 {
		return 0
	}
	if us > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(us)
}

func (h *hist) add(us uint32) {
	h.bins[binOf(min(us, maxLatencyUs))]++
	if h.count == 0 || us < h.min {
		h.min = us
	}
	h.max = max(h.max, us)
	if h.count < math.MaxUint32 {
		h.count++
	}
}

// quantile is the latency of nearest rank ⌈q × count⌉ (q in percent).
func (h *hist) quantile(q uint64) uint32 {
	if h.count == 0 {
		return 0
	}
	rank := max((uint64(h.count)*q+99)/100, 1)
	var seen uint64
	for i := range h.bins {
		seen += uint64(h.bins[i])
		if seen >= rank {
			lo, hi := binBounds(i)
			return min(max(lo+(hi-lo)/2, h.min), h.max)
		}
	}
	return h.max
}

func (h *hist) summary() latSum {
	if h.count == 0 {
		return latSum{}
	}
	return latSum{count: h.count, p50: h.quantile(50), p95: h.quantile(95), max: h.max}
}

// latency is what a poll node keeps of its latencies: the histograms of
// the open hour and day, the summaries of the 24 hours before (the view's
// points), and the summary of the day before (until its record is
// written).
type latency struct {
	hour, day int32 // of hh and dh
	hh, dh    hist
	hoursTop  int32 // newest hour in hours; slots older than hoursTop−23 are stale
	prevDay   int32
	prevSum   latSum
	hours     [latHours]latSum
}

const latHours = 24

func newLatency(now int64) *latency {
	h := hourOf(now)
	return &latency{hour: h, day: dayOf(now), hoursTop: h - 1, prevDay: -1}
}

// setHour stores the summary of a closed hour.
func (l *latency) setHour(h int32, s latSum) {
	if h > l.hoursTop {
		if n := h - l.hoursTop; n >= latHours {
			l.hours = [latHours]latSum{}
		} else {
			for x := l.hoursTop + 1; x <= h; x++ {
				l.hours[x%latHours] = latSum{}
			}
		}
		l.hoursTop = h
	}
	if h > l.hoursTop-latHours {
		l.hours[h%latHours] = s
	}
}

// hourSum is the summary of hour h (open or closed).
func (l *latency) hourSum(h int32) latSum {
	if h == l.hour {
		return l.hh.summary()
	}
	if h > l.hoursTop || h <= l.hoursTop-latHours {
		return latSum{}
	}
	return l.hours[h%latHours]
}

// daySum is the summary of day d when this node still holds it, and
// whether the record of d carries the histogram (d is the open day).
func (l *latency) daySum(d int32) (latSum, *hist) {
	switch d {
	case l.day:
		if l.dh.count == 0 {
			return latSum{}, nil
		}
		return l.dh.summary(), &l.dh
	case l.prevDay:
		return l.prevSum, nil
	}
	return latSum{}, nil
}

// roll closes the open hour and day when h and d are later ones; the
// records of the closed ones are marked for rewriting (summary only).
func (l *latency) roll(h, d int32, s *series) {
	if h != l.hour {
		if l.hh.count > 0 {
			l.setHour(l.hour, l.hh.summary())
			s.markHour(l.hour)
			l.hh = hist{}
		}
		l.hour = h
	}
	if d != l.day {
		if l.dh.count > 0 {
			l.prevDay, l.prevSum = l.day, l.dh.summary()
			s.markDay(l.day)
			l.dh = hist{}
		}
		l.day = d
	}
}
