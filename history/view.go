package history

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/vigil-go/vigil/messages"
)

// budgetWindow is the error budget's rolling window.
const budgetWindow = 30 * 24 * time.Hour

// View builds the history as of now (see messages.HistoryView); the time
// since each subject's last change counts as its current status. Nothing
// in the view is shared with the recorder. It resets Changed.
func (r *Recorder) View(now time.Time) *messages.HistoryView {
	r.changed = false
	t := msOf(now)
	v := &viewer{t: t, curH: hourOf(t), today: dayOf(t)}
	v.firstDay = v.today - ringDays + 1
	for i := range v.dates {
		v.dates[i] = time.UnixMilli(int64(v.firstDay+int32(i)) * dayMs).UTC()
	}
	for i := range v.hours {
		v.hours[i] = time.UnixMilli(int64(v.curH-latHours+1+int32(i)) * hourMs).UTC()
	}
	from := int64(v.firstDay) * dayMs

	out := &messages.HistoryView{Built: time.UnixMilli(t).UTC(), Services: make([]messages.ServiceHistory, 0, len(r.services))}
	pageCounts := make([]int, ringDays)
	for _, sv := range r.services {
		counts := make([]int, ringDays)
		order := make(map[string]int, len(sv.nodes))
		for i, n := range sv.nodes {
			order[n.id] = i
		}
		nodeCounts := map[string][]int{} // of the nodes an incident touched
		for _, inc := range sv.incidents {
			if inc.end != 0 && inc.end < from {
				continue
			}
			v.countDays(inc, counts, pageCounts)
			var nodes []string
			for _, id := range inc.nodes {
				if _, ok := order[id]; ok {
					nodes = append(nodes, id)
					if nodeCounts[id] == nil {
						nodeCounts[id] = make([]int, ringDays)
					}
					v.countDays(inc, nodeCounts[id])
				}
			}
			slices.SortFunc(nodes, func(a, b string) int { return cmp.Compare(order[a], order[b]) })
			vi := messages.Incident{Service: sv.id, ServiceLabel: sv.label, Start: time.UnixMilli(inc.start).UTC(),
				Worst: inc.worst, Nodes: nodes}
			if inc.end != 0 {
				vi.End = time.UnixMilli(inc.end).UTC()
			}
			out.Incidents = append(out.Incidents, vi)
		}
		sh := messages.ServiceHistory{ID: sv.id, Label: sv.label, HistorySeries: v.series(&sv.ser, counts),
			Nodes: make([]messages.NodeHistory, 0, len(sv.nodes))}
		if sv.slo > 0 && !math.IsNaN(sv.slo) {
			allowed := math.Round((100 - min(sv.slo, 100)) / 100 * float64(budgetWindow/time.Millisecond))
			sh.Budget = &messages.ErrorBudget{SLO: sv.slo, Allowed: time.Duration(allowed) * time.Millisecond,
				Used: sh.Uptime.D30.Dead}
		}
		none := make([]int, ringDays)
		for _, n := range sv.nodes {
			nc := nodeCounts[n.id]
			if nc == nil {
				nc = none
			}
			nh := messages.NodeHistory{ID: n.id, Label: n.label, Poll: n.lat != nil, HistorySeries: v.series(&n.ser, nc)}
			if n.lat != nil {
				nh.Latency = v.latency(n.lat)
			}
			sh.Nodes = append(sh.Nodes, nh)
		}
		out.Services = append(out.Services, sh)
	}
	out.Page = v.series(&r.page, pageCounts)
	// Newest first; for the same start, configuration order (stable).
	slices.SortStableFunc(out.Incidents, func(a, b messages.Incident) int { return b.Start.Compare(a.Start) })

	for _, an := range r.announcements {
		if an.retracted != 0 && an.published < from {
			continue
		}
		ar := messages.AnnouncementRecord{ID: an.id, Title: an.title, Text: an.text, Published: time.UnixMilli(an.published).UTC()}
		if an.retracted != 0 {
			ar.Retracted = time.UnixMilli(an.retracted).UTC()
		}
		out.Announcements = append(out.Announcements, ar)
	}
	slices.SortFunc(out.Announcements, func(a, b messages.AnnouncementRecord) int {
		if c := b.Published.Compare(a.Published); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

type viewer struct {
	t                     int64
	curH, today, firstDay int32
	dates                 [ringDays]time.Time // of the daily bars
	hours                 [latHours]time.Time // of the latency points
}

// countDays counts inc in every day of the view it was open during.
func (v *viewer) countDays(inc *incident, counts ...[]int) {
	first := max(dayOf(inc.start), v.firstDay)
	last := v.today
	if inc.end != 0 {
		last = min(dayOf(max(inc.end-1, inc.start)), v.today)
	}
	for d := first; d <= last; d++ {
		for _, c := range counts {
			c[d-v.firstDay]++
		}
	}
}

// series is the view of one subject; incidents[i] is the incident count
// of day firstDay+i.
func (v *viewer) series(s *series, incidents []int) messages.HistorySeries {
	var days [ringDays]bucket
	for i := range days {
		days[i] = s.day(v.firstDay + int32(i))
	}
	var hours [ringHours]bucket
	firstHour := v.curH - ringHours + 1
	for i := range hours {
		hours[i] = s.hour(firstHour + int32(i))
	}
	if s.cur != noData && v.t > s.since {
		forPieces(s.since, v.t, dayMs, ringDays, func(d int32, ms uint32) {
			if d >= v.firstDay && d <= v.today {
				days[d-v.firstDay].add(s.cur, ms)
			}
		})
		forPieces(s.since, v.t, hourMs, ringHours, func(h int32, ms uint32) {
			if h >= firstHour && h <= v.curH {
				hours[h-firstHour].add(s.cur, ms)
			}
		})
	}
	out := messages.HistorySeries{Days: make([]messages.HistoryDay, ringDays)}
	for i, b := range days {
		start := int64(v.firstDay+int32(i)) * dayMs
		elapsed := min(v.t-start, dayMs)
		out.Days[i] = messages.HistoryDay{
			Date:      v.dates[i],
			Healthy:   msDur(int64(b.healthy)),
			Sick:      msDur(int64(b.sick)),
			Dead:      msDur(int64(b.dead)),
			NoData:    msDur(max(elapsed-int64(b.observed()), 0)),
			Incidents: incidents[i],
		}
	}
	out.Uptime = messages.Uptimes{
		H24: uptime(hours[ringHours-24:]),
		D7:  uptime(hours[:]),
		D30: uptime(days[ringDays-30:]),
		D90: uptime(days[:]),
	}
	return out
}

func uptime(bs []bucket) messages.Uptime {
	var obs, dead int64
	for _, b := range bs {
		obs += int64(b.observed())
		dead += int64(b.dead)
	}
	return messages.Uptime{Observed: msDur(obs), Dead: msDur(dead)}
}

func (v *viewer) latency(l *latency) []messages.LatencyPoint {
	out := make([]messages.LatencyPoint, latHours)
	for i := range out {
		h := v.curH - latHours + 1 + int32(i)
		s := l.hourSum(h)
		out[i] = messages.LatencyPoint{Start: v.hours[i], Count: uint64(s.count),
			P50: usDur(s.p50), P95: usDur(s.p95), Max: usDur(s.max)}
	}
	return out
}

func msDur(ms int64) time.Duration  { return time.Duration(ms) * time.Millisecond }
func usDur(us uint32) time.Duration { return time.Duration(us) * time.Microsecond }
