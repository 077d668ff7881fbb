package state

import (
	"reflect"
	"testing"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// testConfig has two services: web (poll node api with two replicas, script
// node jobs with one script, empty poll node spare) and relay (push node).
func testConfig() *config.Config {
	return &config.Config{Notify: &config.Notify{StartupNotification: true, ReminderBackoffFunction: "none", ReminderBackoffLimit: 3}, Probe: config.Probe{Services: []config.Service{
		{ID: "web", Label: "Web", Nodes: []config.Node{
			{ID: "api", Label: "API", Mode: config.ModePoll, Replicas: []config.Replica{
				{ID: "http://a/", Kind: config.KindHTTP}, {ID: "tcp://b:1", Kind: config.KindTCP},
			}},
			{ID: "jobs", Label: "Jobs", Mode: config.ModeScript, Scripts: []string{"exit 0"}},
			{ID: "spare", Label: "Spare", Mode: config.ModePoll},
		}},
		{ID: "relay", Label: "Relay", Nodes: []config.Node{
			{ID: "socket", Label: "Socket", Mode: config.ModePush},
		}},
	}}}
}

func probed(node, replica string, s messages.Status) messages.ReplicaProbed {
	service := "web"
	return messages.ReplicaProbed{
		Key:    messages.ReplicaKey{Probe: service, Node: node, Replica: replica},
		Result: messages.ProbeResult{Status: s, Latency: 12 * time.Millisecond},
	}
}

func TestModelInitialState(t *testing.T) {
	m := NewModel(testConfig())
	s := m.Snapshot()
	if s.Status != messages.Healthy || !s.Refreshed.IsZero() {
		t.Fatalf("initial: status %v refreshed %v", s.Status, s.Refreshed)
	}
	var ids []string
	for _, p := range s.Probes {
		for _, n := range p.Nodes {
			for _, r := range n.Replicas {
				ids = append(ids, p.ID+":"+n.ID+":"+r.ID)
			}
		}
	}
	want := []string{"web:api:http://a/", "web:api:tcp://b:1", "web:jobs:0"}
	if !reflect.DeepEqual(ids, want) {
		t.Fatalf("replicas %v, want %v", ids, want)
	}
	if n := s.Probes[1].Nodes[0]; len(n.Replicas) != 0 || n.Status != messages.Healthy {
		t.Fatalf("push node starts with replicas or unhealthy: %+v", n)
	}
}

// TestModelSequence feeds a scripted sequence and checks the roll-up and the
// notifications after every step (spec §5.3–5.4).
func TestModelSequence(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	changed := func(s messages.Status, replicas ...string) *messages.Notification {
		if replicas == nil {
			replicas = []string{}
		}
		return &messages.Notification{Kind: messages.Changed, Status: s, Replicas: replicas}
	}
	steps := []struct {
		name        string
		msg         messages.StateMessage
		general     messages.Status
		webStatus   messages.Status
		apiStatus   messages.Status
		notify      *messages.Notification
		refreshedAt bool
	}{
		{"healthy to sick is silent", probed("api", "http://a/", messages.Sick), messages.Sick, messages.Sick, messages.Sick, nil, false},
		{"sick to dead notifies", probed("api", "tcp://b:1", messages.Dead), messages.Dead, messages.Dead, messages.Dead,
			changed(messages.Dead, "web:api:tcp://b:1"), false},
		{"second dead replica is silent", probed("jobs", "0", messages.Dead), messages.Dead, messages.Dead, messages.Dead, nil, true},
		{"still dead", probed("api", "tcp://b:1", messages.Healthy), messages.Dead, messages.Dead, messages.Sick, nil, true},
		{"dead to sick notifies with no replicas", probed("jobs", "0", messages.Healthy), messages.Sick, messages.Sick, messages.Sick,
			changed(messages.Sick), true},
		{"sick to healthy is silent", probed("api", "http://a/", messages.Healthy), messages.Healthy, messages.Healthy, messages.Healthy, nil, true},
		{"unknown replica changes nothing", probed("api", "http://gone/", messages.Dead), messages.Healthy, messages.Healthy, messages.Healthy, nil, true},
		{"healthy to dead notifies", probed("jobs", "0", messages.Dead), messages.Dead, messages.Dead, messages.Healthy,
			changed(messages.Dead, "web:jobs:0"), true},
		{"dead to healthy notifies", probed("jobs", "0", messages.Healthy), messages.Healthy, messages.Healthy, messages.Healthy,
			changed(messages.Healthy), true},
	}
	m := NewModel(testConfig())
	for i, st := range steps {
		now := t0.Add(time.Duration(i) * time.Second)
		got := m.Apply(st.msg, now)
		s := m.Snapshot()
		if s.Status != st.general || s.Probes[0].Status != st.webStatus || s.Probes[0].Nodes[0].Status != st.apiStatus {
			t.Fatalf("%s: general %v web %v api %v; want %v %v %v", st.name, s.Status, s.Probes[0].Status,
				s.Probes[0].Nodes[0].Status, st.general, st.webStatus, st.apiStatus)
		}
		if s.Probes[1].Status != messages.Healthy || s.Probes[0].Nodes[2].Status != messages.Healthy {
			t.Fatalf("%s: nodes without replicas must stay healthy", st.name)
		}
		if st.notify == nil {
			if len(got) != 0 {
				t.Fatalf("%s: unexpected notifications %+v", st.name, got)
			}
		} else {
			want := *st.notify
			want.Time = now
			if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
				t.Fatalf("%s: notifications %+v, want %+v", st.name, got, want)
			}
		}
		if st.refreshedAt != !s.Refreshed.IsZero() {
			t.Fatalf("%s: refreshed %v, want set=%v", st.name, s.Refreshed, st.refreshedAt)
		}
	}
}

func TestModelWithoutNotifySendsNothing(t *testing.T) {
	cfg := testConfig()
	cfg.Notify = nil
	m := NewModel(cfg)
	if _, ok := m.StartupNotification(time.Now()); ok {
		t.Fatal("startup notification without [notify]")
	}
	if got := m.Apply(probed("jobs", "0", messages.Dead), time.Now()); len(got) != 0 {
		t.Fatalf("notification without [notify]: %+v", got)
	}
}

func TestModelStartupNotification(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	n, ok := NewModel(testConfig()).StartupNotification(now)
	want := messages.Notification{Kind: messages.Startup, Status: messages.Healthy, Replicas: []string{}, Time: now}
	if !ok || !reflect.DeepEqual(n, want) {
		t.Fatalf("startup %+v %v", n, ok)
	}
	cfg := testConfig()
	cfg.Notify.StartupNotification = false
	if _, ok := NewModel(cfg).StartupNotification(now); ok {
		t.Fatal("startup_notification = false still notifies")
	}
}

// reminderTimes drives an outage with a tick every 10 s for the given
// duration and returns when reminders fired (seconds after the change) and
// their escalation counters.
func reminderTimes(t *testing.T, n *config.Notify, d time.Duration, during func(m *Model, at time.Time)) (secs, escalated []int) {
	t.Helper()
	cfg := testConfig()
	cfg.Notify = n
	m := NewModel(cfg)
	t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	if got := m.Apply(probed("jobs", "0", messages.Dead), t0); len(got) != 1 || got[0].Kind != messages.Changed {
		t.Fatalf("outage start: %+v", got)
	}
	for at := t0.Add(10 * time.Second); !at.After(t0.Add(d)); at = at.Add(10 * time.Second) {
		if during != nil {
			during(m, at)
		}
		for _, r := range m.Apply(messages.Tick{At: at}, at) {
			if r.Kind != messages.Reminder || r.Status != messages.Dead || !reflect.DeepEqual(r.Replicas, []string{"web:jobs:0"}) {
				t.Fatalf("bad reminder %+v", r)
			}
			secs = append(secs, int(at.Sub(t0).Seconds()))
			escalated = append(escalated, r.Escalated)
		}
	}
	return secs, escalated
}

func TestModelReminders(t *testing.T) {
	cases := []struct {
		name      string
		notify    config.Notify
		until     time.Duration
		secs      []int
		escalated []int
	}{
		{"linear 300 limit 3", config.Notify{ReminderInterval: 300 * time.Second, ReminderBackoffFunction: "linear", ReminderBackoffLimit: 3},
			3900 * time.Second, []int{300, 900, 1800, 2700, 3600}, []int{0, 0, 0, 0, 0}},
		{"none", config.Notify{ReminderInterval: 120 * time.Second, ReminderBackoffFunction: "none", ReminderBackoffLimit: 3},
			400 * time.Second, []int{120, 240, 360}, []int{0, 0, 0}},
		{"square limit 2", config.Notify{ReminderInterval: 60 * time.Second, ReminderBackoffFunction: "square", ReminderBackoffLimit: 2},
			700 * time.Second, []int{60, 300, 540}, []int{0, 0, 0}},
		{"escalate", config.Notify{ReminderInterval: 60 * time.Second, ReminderBackoffFunction: "none", ReminderEscalate: true},
			200 * time.Second, []int{60, 120, 180}, []int{1, 2, 3}},
		{"no interval, no reminders", config.Notify{ReminderBackoffFunction: "none"}, 2 * time.Hour, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.notify
			secs, esc := reminderTimes(t, &n, tc.until, nil)
			if !reflect.DeepEqual(secs, tc.secs) || !reflect.DeepEqual(esc, tc.escalated) {
				t.Fatalf("reminders at %v escalated %v, want %v %v", secs, esc, tc.secs, tc.escalated)
			}
		})
	}
}

func TestModelTickRefreshesOnlyAfterFirstRound(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m := NewModel(testConfig())
	m.Apply(messages.Tick{At: t0}, t0)
	if !m.Snapshot().Refreshed.IsZero() {
		t.Fatal("tick before the first round must not mark the page refreshed")
	}
	m.Apply(probed("api", "http://a/", messages.Healthy), t0)
	m.Apply(probed("api", "tcp://b:1", messages.Healthy), t0)
	m.Apply(probed("jobs", "0", messages.Healthy), t0)
	later := t0.Add(10 * time.Second)
	m.Apply(messages.Tick{At: later}, later)
	if got := m.Snapshot().Refreshed; !got.Equal(later) {
		t.Fatalf("refreshed %v, want %v", got, later)
	}
}

func TestModelSnapshotIsImmutableAndShared(t *testing.T) {
	m := NewModel(testConfig())
	m.Apply(probed("api", "http://a/", messages.Sick), time.Now())
	s1 := m.Snapshot()
	m.Apply(probed("jobs", "0", messages.Dead), time.Now())
	s2 := m.Snapshot()
	if s1.Probes[0].Nodes[1].Replicas[0].Status != messages.Healthy {
		t.Fatal("published snapshot changed after a later message")
	}
	if s1.Probes[0].Nodes[0] != s2.Probes[0].Nodes[0] {
		t.Fatal("unchanged node should be shared between snapshots")
	}
	if s1.Probes[0].Nodes[1] == s2.Probes[0].Nodes[1] {
		t.Fatal("changed node must get a new snapshot")
	}
	if s2.Generation <= s1.Generation {
		t.Fatal("generation must increase")
	}
	if got := s2.Probes[0].Nodes[0].Replicas[0]; !got.HasLatency || got.Latency != 12*time.Millisecond {
		t.Fatalf("latency not recorded: %+v", got)
	}
}

func TestModelPushReplicasOrderAndFlush(t *testing.T) {
	m := NewModel(testConfig())
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	key := func(r string) messages.ReplicaKey {
		return messages.ReplicaKey{Probe: "relay", Node: "socket", Replica: r}
	}
	for _, r := range []string{"b", "a", "c"} {
		m.Apply(messages.ReplicaUpdated{Key: key(r), Status: messages.Healthy, Load: &messages.Load{CPU: 0.5}, Reported: now}, now)
	}
	got := m.Apply(messages.ReplicaUpdated{Key: key("a"), Status: messages.Dead, Reported: now}, now)
	if len(got) != 1 || !reflect.DeepEqual(got[0].Replicas, []string{"relay:socket:a"}) {
		t.Fatalf("dead push replica notification %+v", got)
	}
	ids := func() (out []string) {
		for _, r := range m.Snapshot().Probes[1].Nodes[0].Replicas {
			out = append(out, r.ID+"="+r.Status.String())
		}
		return out
	}
	if want := []string{"b=healthy", "a=dead", "c=healthy"}; !reflect.DeepEqual(ids(), want) {
		t.Fatalf("replicas %v, want %v", ids(), want)
	}
	if l := m.Snapshot().Probes[1].Nodes[0].Replicas[0].Load; l == nil || l.CPU != 0.5 {
		t.Fatalf("load not kept: %+v", l)
	}
	got = m.Apply(messages.ReplicaRemoved{Key: key("a")}, now)
	if len(got) != 1 || got[0].Status != messages.Healthy {
		t.Fatalf("flushing the dead replica must notify recovery: %+v", got)
	}
	if want := []string{"b=healthy", "c=healthy"}; !reflect.DeepEqual(ids(), want) {
		t.Fatalf("after flush %v, want %v", ids(), want)
	}
	// The index still finds c after the shift.
	m.Apply(messages.ReplicaUpdated{Key: key("c"), Status: messages.Sick, Reported: now}, now)
	if want := []string{"b=healthy", "c=sick"}; !reflect.DeepEqual(ids(), want) {
		t.Fatalf("after update %v, want %v", ids(), want)
	}
	// Reports for nodes that do not exist are ignored.
	m.Apply(messages.ReplicaUpdated{Key: messages.ReplicaKey{Probe: "relay", Node: "nope", Replica: "x"}, Status: messages.Dead}, now)
	if m.Status() != messages.Sick {
		t.Fatalf("status %v", m.Status())
	}
}

func TestModelReconfigureKeepsStatuses(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m := NewModel(testConfig())
	m.Apply(probed("api", "http://a/", messages.Sick), now)
	m.Apply(probed("api", "tcp://b:1", messages.Dead), now)
	m.Apply(messages.ReplicaUpdated{Key: messages.ReplicaKey{Probe: "relay", Node: "socket", Replica: "r1"}, Status: messages.Healthy, Reported: now}, now)
	m.Apply(messages.AnnouncementAdd{Announcement: messages.Announcement{ID: "a1", Title: "T"}}, now)
	m.TakeBatch()

	// New layout: tcp://b:1 removed, http://c/ added, the script node gone.
	cfg := testConfig()
	api := &cfg.Probe.Services[0].Nodes[0]
	api.Replicas = []config.Replica{{ID: "http://a/", Kind: config.KindHTTP}, {ID: "http://c/", Kind: config.KindHTTP}}
	cfg.Probe.Services[0].Nodes = append(cfg.Probe.Services[0].Nodes[:1], cfg.Probe.Services[0].Nodes[2])
	notes := m.Reconfigure(cfg, now)
	if len(notes) != 1 || notes[0].Kind != messages.Changed || notes[0].Status != messages.Sick {
		t.Fatalf("removing the dead replica must be a dead->sick change: %+v", notes)
	}
	s := m.Snapshot()
	var got []string
	for _, p := range s.Probes {
		for _, n := range p.Nodes {
			for _, r := range n.Replicas {
				got = append(got, p.ID+":"+n.ID+":"+r.ID+"="+r.Status.String())
			}
		}
	}
	want := []string{"web:api:http://a/=sick", "web:api:http://c/=healthy", "relay:socket:r1=healthy"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after reconfigure %v, want %v", got, want)
	}
	if len(s.Announcements) != 1 || s.Announcements[0].ID != "a1" {
		t.Fatalf("announcements lost: %+v", s.Announcements)
	}
	b := m.TakeBatch()
	deleted := map[string]bool{}
	for _, k := range b.DeleteReplicas {
		deleted[k.String()] = true
	}
	if !deleted["web:api:tcp://b:1"] || !deleted["web:jobs:0"] || len(deleted) != 2 {
		t.Fatalf("store deletes %v", deleted)
	}
	// The new replica counts as not yet probed.
	if m.unprobed != 1 {
		t.Fatalf("unprobed %d, want 1", m.unprobed)
	}
}
