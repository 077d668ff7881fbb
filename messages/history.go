package messages

import (
	"fmt"
	"math/bits"
	"time"
)

// HistoryView is an immutable summary of the recorded history: uptime bars,
// error budgets, incidents and the announcement log. Built by: the state
// actor's history recorder (package history), at most once a minute and
// when an incident or announcement changes. Travels: inside Snapshot (the
// same pointer is shared by every snapshot until the next rebuild).
// Received by: the web layer (page, /history, /status/history, feeds, MCP)
// and the metrics (error budgets).
//
// All times are UTC. A day runs from 00:00 to 24:00 UTC.
type HistoryView struct {
	// Built is when the view was computed.
	Built time.Time
	// Page is the whole page (every service).
	Page HistorySeries
	// Services in configuration order.
	Services []ServiceHistory
	// Incidents of the last 90 days, newest first (by start); an ongoing
	// one has a zero End.
	Incidents []Incident
	// Announcements published in the last 90 days (or still published),
	// newest first.
	Announcements []AnnouncementRecord
}

// HistoryDays is how many daily bars a series holds.
const HistoryDays = 90

// HistorySeries is the history of one subject: the page, a service or a
// node.
type HistorySeries struct {
	// Uptime over the last 24 hours, 7, 30 and 90 days.
	Uptime Uptimes
	// Days holds HistoryDays entries, oldest first; the last one is today
	// (so far).
	Days []HistoryDay
}

// Uptimes are the uptime ratios of the usual windows. H24 and D7 come
// from hourly buckets: the current hour so far and the 23 (D7: 167) hours
// before it. D30 and D90 come from daily buckets: today so far and the 29
// (D90: 89) days before it, so D90 covers exactly the Days bars.
type Uptimes struct {
	H24, D7, D30, D90 Uptime
}

// Uptime is the time observed in a window and the part of it spent dead.
// Uptime = 1 − Dead ÷ Observed; time without data is not observed, and
// sick time counts as up (degraded).
type Uptime struct {
	Observed, Dead time.Duration
}

// HistoryDay is one daily bar.
type HistoryDay struct {
	// Date is the day's 00:00 UTC.
	Date                        time.Time
	Healthy, Sick, Dead, NoData time.Duration
	// Incidents counts the incidents that were open at some time during
	// the day: of every service for the page, of the service for a
	// service, and those that touched the node for a node.
	Incidents int
}

// ServiceHistory is the history of one service and of its nodes.
type ServiceHistory struct {
	ID, Label string
	HistorySeries
	// Budget is nil unless the service has an slo.
	Budget *ErrorBudget
	// Nodes in configuration order.
	Nodes []NodeHistory
}

// NodeHistory is the history of one node.
type NodeHistory struct {
	ID, Label string
	// Poll is true for poll nodes, which have latency.
	Poll bool
	HistorySeries
	// Latency holds the last 24 hours, one point per hour, oldest first
	// (empty for nodes that are not poll nodes).
	Latency []LatencyPoint
}

// LatencyPoint summarises the probe latencies of one hour or day.
type LatencyPoint struct {
	// Start is the start of the hour (or day).
	Start time.Time
	// Count is how many latencies were recorded; the others are zero when
	// it is 0.
	Count         uint64
	P50, P95, Max time.Duration
}

// ErrorBudget is a service's error budget over a 30-day rolling window:
// the same window as Uptimes.D30 (today so far and the 29 days before), so
// Used equals the service's Uptime.D30.Dead.
type ErrorBudget struct {
	// SLO is the objective in percent (e.g. 99.9).
	SLO float64
	// Allowed is the dead time the objective allows in the window:
	// (1 − SLO/100) × 30 days. Used is the dead time recorded in it.
	Allowed, Used time.Duration
}

// Incident is a period in which a service was not healthy.
type Incident struct {
	Service, ServiceLabel string
	Start                 time.Time
	// End is zero while the incident is ongoing.
	End time.Time
	// Worst is sick or dead.
	Worst Status
	// Nodes lists the ids of the nodes that were not healthy during the
	// incident, in configuration order.
	Nodes []string
}

// AnnouncementRecord is an announcement and when it was published and
// retracted (zero while still published).
type AnnouncementRecord struct {
	ID, Title, Text      string
	Published, Retracted time.Time
}

// Ratio returns 1 − Dead ÷ Observed, and false when nothing was observed
// (then the ratio is meaningless and 0 is returned).
func (u Uptime) Ratio() (float64, bool) {
	if u.Observed <= 0 {
		return 0, false
	}
	dead := min(max(u.Dead, 0), u.Observed)
	return 1 - float64(dead)/float64(u.Observed), true
}

// UptimeNoData is what Percent returns for a window in which nothing was
// observed.
const UptimeNoData = "no data"

// Percent formats the uptime as a percentage with two decimals, truncated
// rather than rounded, so that any downtime at all shows below 100 %
// (99.999 % is "99.99 %"; no downtime is "100.00 %"). A window with
// nothing observed is UptimeNoData.
func (u Uptime) Percent() string {
	if u.Observed <= 0 {
		return UptimeNoData
	}
	obs := uint64(u.Observed)
	up := obs - uint64(min(max(u.Dead, 0), u.Observed))
	// up × 10000 ÷ observed in 128 bits: 90 days of nanoseconds times
	// 10000 overflows 64 bits. The quotient is at most 10000.
	hi, lo := bits.Mul64(up, 10000)
	hundredths, _ := bits.Div64(hi, lo, obs)
	return fmt.Sprintf("%d.%02d %%", hundredths/100, hundredths%100)
}

// Remaining is the dead time still allowed in the window: Allowed − Used,
// negative once the budget is overspent.
func (b ErrorBudget) Remaining() time.Duration {
	return b.Allowed - b.Used
}

// RemainingRatio is Remaining ÷ Allowed: 1 with no dead time, 0 when the
// budget is used up, negative when it is overspent. With nothing allowed
// (an objective of 100 %) it is 1 without dead time and 0 with any.
func (b ErrorBudget) RemainingRatio() float64 {
	if b.Allowed <= 0 {
		if b.Used > 0 {
			return 0
		}
		return 1
	}
	return float64(b.Remaining()) / float64(b.Allowed)
}
