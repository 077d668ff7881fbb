package httpapi

import (
	"time"

	"github.com/vigil-go/vigil/messages"
)

// historyFor makes a recorded history for the services and nodes of snap
// as of now, the same for the same arguments: every day healthy except a
// few per service (a blip of seconds, a dozen minutes, a three-hour outage,
// a degraded day), the first service without data for its first 20 days,
// the first node of each service carrying its service's bad days, an
// ongoing incident for each service that is not healthy now, hourly
// latencies for poll nodes (one hour without probes), an error budget for
// every second service, and snap's announcements with an older, withdrawn
// one.
func historyFor(snap *messages.Snapshot, now time.Time) *messages.HistoryView {
	now = now.UTC()
	today := dayStart(now)
	h := &messages.HistoryView{Built: now}
	type bad struct {
		day        int // 0 = today, 1 = yesterday, …
		dead, sick time.Duration
	}
	var all []messages.Incident
	for si := range snap.Probes {
		p := &snap.Probes[si]
		bads := []bad{
			{day: 3 + si*7%40, dead: 30 * time.Second},
			{day: 9 + si*11%50, dead: 12*time.Minute + 36*time.Second},
			{day: 20 + si*13%60, sick: 47 * time.Minute},
		}
		if si%2 == 1 {
			bads = append(bads, bad{day: 1 + si%5, dead: 3*time.Hour + 5*time.Minute})
		}
		if p.Status != messages.Healthy {
			ongoing := 13 * time.Minute
			b := bad{day: 0}
			if p.Status == messages.Dead {
				b.dead = ongoing
			} else {
				b.sick = ongoing
			}
			bads = append(bads, b)
		}
		noData := 0
		if si == 0 {
			noData = 20
		}
		series := func(withBad bool) messages.HistorySeries {
			days := make([]messages.HistoryDay, messages.HistoryDays)
			for k := range days {
				back := messages.HistoryDays - 1 - k
				d := messages.HistoryDay{Date: today.AddDate(0, 0, -back), Healthy: 24 * time.Hour}
				if back == 0 {
					d.Healthy = now.Sub(today)
				}
				if k < noData {
					d.NoData, d.Healthy = d.Healthy, 0
				}
				if withBad {
					for _, b := range bads {
						if b.day == back && d.Healthy > b.dead+b.sick {
							d.Healthy -= b.dead + b.sick
							d.Dead += b.dead
							d.Sick += b.sick
							d.Incidents++
						}
					}
				}
				days[k] = d
			}
			return messages.HistorySeries{Days: days, Uptime: windowsOf(days, now)}
		}
		sh := messages.ServiceHistory{ID: p.ID, Label: p.Label, HistorySeries: series(true)}
		if si%2 == 1 {
			sh.Budget = budgetOf30(sh.Days, 99.9)
		}
		for ni, n := range p.Nodes {
			nh := messages.NodeHistory{ID: n.ID, Label: n.Label, Poll: n.Mode == "poll", HistorySeries: series(ni == 0)}
			if nh.Poll {
				for hr := range 24 {
					start := now.Truncate(time.Hour).Add(time.Duration(hr-23) * time.Hour)
					pt := messages.LatencyPoint{Start: start}
					if hr != 5 || ni%3 != 0 {
						base := time.Duration(40+7*ni+(hr*13+ni*5)%30) * time.Millisecond
						pt.Count, pt.P50, pt.P95, pt.Max = 30, base, base*2+time.Duration(hr%4)*9*time.Millisecond, base*3
					}
					nh.Latency = append(nh.Latency, pt)
				}
			}
			sh.Nodes = append(sh.Nodes, nh)
		}
		h.Services = append(h.Services, sh)
		var nodes []string
		if len(p.Nodes) > 0 {
			nodes = []string{p.Nodes[0].ID}
		}
		for _, b := range bads {
			start := today.AddDate(0, 0, -b.day).Add(10 * time.Hour)
			worst := messages.Dead
			if b.dead == 0 {
				worst = messages.Sick
			}
			in := messages.Incident{Service: p.ID, ServiceLabel: p.Label, Start: start, End: start.Add(b.dead + b.sick), Worst: worst, Nodes: nodes}
			if b.day == 0 {
				in.Start, in.End = now.Add(-(b.dead + b.sick)), time.Time{}
			}
			all = append(all, in)
		}
	}
	// Newest first.
	for i := range all {
		for j := i + 1; j < len(all); j++ {
			if all[j].Start.After(all[i].Start) {
				all[i], all[j] = all[j], all[i]
			}
		}
	}
	h.Incidents = all
	page := make([]messages.HistoryDay, messages.HistoryDays)
	for k := range page {
		page[k].Date = today.AddDate(0, 0, -(messages.HistoryDays - 1 - k))
		for _, s := range h.Services {
			d := s.Days[k]
			page[k].Dead = max(page[k].Dead, d.Dead)
			page[k].Sick = max(page[k].Sick, d.Sick)
			page[k].Incidents += d.Incidents
		}
		page[k].Healthy = h.Services[len(h.Services)-1].Days[k].Healthy + h.Services[len(h.Services)-1].Days[k].Dead +
			h.Services[len(h.Services)-1].Days[k].Sick - page[k].Dead - page[k].Sick
	}
	h.Page = messages.HistorySeries{Days: page, Uptime: windowsOf(page, now)}
	for i := len(snap.Announcements) - 1; i >= 0; i-- {
		a := snap.Announcements[i]
		h.Announcements = append(h.Announcements, messages.AnnouncementRecord{ID: a.ID, Title: a.Title, Text: a.Text, Published: a.Date})
	}
	h.Announcements = append(h.Announcements, messages.AnnouncementRecord{
		ID: "6f1d4c9e-2b7a-4f25-9c1e-3d8b7a6e5f40", Title: "Scheduled database maintenance",
		Text:      "The database is upgraded on Saturday from 02:00 to 03:00 UTC.\nNo downtime is expected.",
		Published: today.AddDate(0, 0, -12).Add(9 * time.Hour), Retracted: today.AddDate(0, 0, -10).Add(3 * time.Hour),
	})
	return h
}

// windowsOf sums the last 1, 7, 30 and 90 days of days.
func windowsOf(days []messages.HistoryDay, _ time.Time) messages.Uptimes {
	sum := func(n int) messages.Uptime {
		var u messages.Uptime
		for _, d := range days[len(days)-n:] {
			u.Observed += d.Healthy + d.Sick + d.Dead
			u.Dead += d.Dead
		}
		return u
	}
	return messages.Uptimes{H24: sum(1), D7: sum(7), D30: sum(30), D90: sum(90)}
}

// budgetOf30 is the error budget of an objective over the last 30 days.
func budgetOf30(days []messages.HistoryDay, slo float64) *messages.ErrorBudget {
	b := &messages.ErrorBudget{SLO: slo, Allowed: time.Duration((1 - slo/100) * float64(30*24*time.Hour)).Round(time.Second)}
	for _, d := range days[len(days)-30:] {
		b.Used += d.Dead
	}
	return b
}

// withHistory returns snap with the history historyFor makes.
func withHistory(snap *messages.Snapshot, now time.Time) *messages.Snapshot {
	snap.History = historyFor(snap, now)
	return snap
}
