package history

import (
	"math"
	"testing"
	"time"

	"github.com/vigil-go/vigil/messages"
)

func TestUptimePercent(t *testing.T) {
	const day = 24 * time.Hour
	cases := []struct {
		name    string
		u       messages.Uptime
		percent string
		ratio   float64
		ok      bool
	}{
		{name: "nothing observed", u: messages.Uptime{}, percent: messages.UptimeNoData},
		{name: "no downtime", u: messages.Uptime{Observed: 90 * day}, percent: "100.00 %", ratio: 1, ok: true},
		{name: "99.999 truncates", u: messages.Uptime{Observed: 100000 * time.Second, Dead: time.Second}, percent: "99.99 %", ratio: 0.99999, ok: true},
		{name: "one millisecond in 90 days", u: messages.Uptime{Observed: 90 * day, Dead: time.Millisecond}, percent: "99.99 %", ratio: 1 - 1/7776000000.0, ok: true},
		{name: "99.995 does not round up", u: messages.Uptime{Observed: 20000 * time.Second, Dead: time.Second}, percent: "99.99 %", ratio: 0.99995, ok: true},
		{name: "half", u: messages.Uptime{Observed: 2 * time.Hour, Dead: time.Hour}, percent: "50.00 %", ratio: 0.5, ok: true},
		{name: "a third", u: messages.Uptime{Observed: 3 * time.Hour, Dead: time.Hour}, percent: "66.66 %", ratio: 2.0 / 3, ok: true},
		{name: "all dead", u: messages.Uptime{Observed: time.Hour, Dead: time.Hour}, percent: "0.00 %", ratio: 0, ok: true},
		{name: "dead beyond observed clamps", u: messages.Uptime{Observed: time.Hour, Dead: 2 * time.Hour}, percent: "0.00 %", ratio: 0, ok: true},
		{name: "400 days of nanoseconds", u: messages.Uptime{Observed: 400 * day, Dead: 400 * day / 10000}, percent: "99.99 %", ratio: 0.9999, ok: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.u.Percent(); got != tc.percent {
				t.Errorf("Percent() = %q, want %q", got, tc.percent)
			}
			r, ok := tc.u.Ratio()
			if ok != tc.ok || math.Abs(r-tc.ratio) > 1e-12 {
				t.Errorf("Ratio() = %v, %v; want %v, %v", r, ok, tc.ratio, tc.ok)
			}
		})
	}
}

func TestErrorBudget(t *testing.T) {
	const day = 24 * time.Hour
	cases := []struct {
		name      string
		slo       float64
		dead      []time.Duration // dead time on each day before today, newest first
		allowed   time.Duration
		used      time.Duration
		remaining time.Duration
		ratio     float64
	}{
		{name: "99.9 unused", slo: 99.9, allowed: 43*time.Minute + 12*time.Second, remaining: 43*time.Minute + 12*time.Second, ratio: 1},
		{name: "99.9 half used", slo: 99.9, dead: []time.Duration{20 * time.Minute, 0, 96 * time.Second},
			allowed: 43*time.Minute + 12*time.Second, used: 21*time.Minute + 36*time.Second, remaining: 21*time.Minute + 36*time.Second, ratio: 0.5},
		{name: "overspent", slo: 99.99, dead: []time.Duration{time.Hour},
			allowed: 4*time.Minute + 19*time.Second + 200*time.Millisecond, used: time.Hour,
			remaining: 4*time.Minute + 19*time.Second + 200*time.Millisecond - time.Hour, ratio: (259.2 - 3600) / 259.2},
		{name: "outside the window", slo: 99, dead: append(make([]time.Duration, 29), time.Hour),
			allowed: 7*time.Hour + 12*time.Minute, remaining: 7*time.Hour + 12*time.Minute, ratio: 1},
		{name: "last day inside the window", slo: 99, dead: append(make([]time.Duration, 28), time.Hour),
			allowed: 7*time.Hour + 12*time.Minute, used: time.Hour, remaining: 6*time.Hour + 12*time.Minute, ratio: 6.2 / 7.2},
		{name: "100 allows nothing", slo: 100, dead: []time.Duration{time.Second}, used: time.Second, remaining: -time.Second, ratio: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := Layout{Services: []ServiceLayout{{ID: "s", SLO: tc.slo, Nodes: []NodeLayout{{ID: "n"}}}, {ID: "none", Nodes: []NodeLayout{{ID: "n"}}}}}
			now := t0.Add(40 * day)
			g := newRig(t, l, now.Add(-40*day))
			for i := len(tc.dead) - 1; i >= 0; i-- { // oldest first
				d := tc.dead[i]
				// Dead from 06:00 on the day i+1 days before today.
				at := now.Truncate(day).Add(-time.Duration(i+1)*day + 6*time.Hour)
				g.now = at
				g.node(0, 0, messages.Dead)
				g.now = at.Add(d)
				g.node(0, 0, messages.Healthy)
			}
			g.now = now
			v := g.view()
			if v.Services[1].Budget != nil {
				t.Errorf("service without slo has a budget")
			}
			b := v.Services[0].Budget
			if b == nil {
				t.Fatal("no budget")
			}
			if b.SLO != tc.slo || b.Allowed != tc.allowed || b.Used != tc.used {
				t.Errorf("budget %+v, want allowed %v used %v", b, tc.allowed, tc.used)
			}
			if b.Remaining() != tc.remaining || math.Abs(b.RemainingRatio()-tc.ratio) > 1e-9 {
				t.Errorf("remaining %v (%v), want %v (%v)", b.Remaining(), b.RemainingRatio(), tc.remaining, tc.ratio)
			}
			if b.Used != v.Services[0].Uptime.D30.Dead {
				t.Errorf("used %v, D30 dead %v", b.Used, v.Services[0].Uptime.D30.Dead)
			}
		})
	}
	if r := (messages.ErrorBudget{}).RemainingRatio(); r != 1 {
		t.Errorf("nothing allowed, nothing used: %v", r)
	}
}
