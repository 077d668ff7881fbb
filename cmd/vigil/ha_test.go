package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-go/vigil/storage/pgtest"
	"github.com/vigil-go/vigil/testkit"
)

// clusterConfig is one instance's configuration: port, webhook URL (each
// instance gets its own path, so the receiver knows who sent what), the
// poll target, the DSN and the lease settings (a line each, or "").
const clusterConfig = `
[server]
log_level = "info"
inet = "127.0.0.1:%d"
manager_token = "m"
reporter_token = "r"

` + testBranding + `

[metrics]
poll_interval = 1
poll_retry = 0
poll_delay_dead = 2
poll_delay_sick = 1
push_delay_dead = 2

[notify]
startup_notification = true

[notify.webhook]
hook_url = "%s"

[storage]
dsn = "%s"
%s

[[probe.service]]
id = "web"
label = "Web"

[[probe.service.node]]
id = "api"
label = "API"
mode = "poll"
replicas = ["%s"]

[[probe.service]]
id = "relay"
label = "Relay"

[[probe.service.node]]
id = "socket"
label = "Socket"
mode = "push"
`

// delivery is one webhook request as the receiver saw it.
type delivery struct {
	instance string // the instance whose hook URL was called
	event    string // type/status, e.g. changed/dead
	id       string // X-Vigil-Delivery-Id
	at       time.Time
}

// hookReceiver records every webhook request, per instance; it answers
// 500 to the instances set failing.
type hookReceiver struct {
	mu      sync.Mutex
	all     []delivery
	failing map[string]bool
	srv     *httptest.Server
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{failing: map[string]bool{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct{ Type, Status string }
		_ = json.NewDecoder(r.Body).Decode(&p)
		d := delivery{instance: strings.TrimPrefix(r.URL.Path, "/"), event: p.Type + "/" + p.Status,
			id: r.Header.Get("X-Vigil-Delivery-Id"), at: time.Now()}
		h.mu.Lock()
		fail := h.failing[d.instance]
		if !fail {
			h.all = append(h.all, d)
		} else {
			h.all = append(h.all, delivery{instance: d.instance, event: "failed:" + d.event, id: d.id, at: d.at})
		}
		h.mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) fail(instance string, on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failing[instance] = on
}

// count counts the deliveries of event (every instance when instance is
// ""); event "" counts every request.
func (h *hookReceiver) count(instance, event string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, d := range h.all {
		if (instance == "" || d.instance == instance) && (event == "" || d.event == event) {
			n++
		}
	}
	return n
}

func (h *hookReceiver) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	for _, d := range h.all {
		fmt.Fprintf(&b, "\n  %s %s %s %s", d.at.Format("15:04:05.000"), d.instance, d.event, d.id)
	}
	return b.String()
}

// instance is one cluster binary.
type instance struct {
	*server
	name string
	cfg  string
	port int
}

// startInstance writes name's configuration and starts it; it waits for
// the web server only (not for the database).
func startInstance(t *testing.T, name, dsn, lease, hookURL, target string) *instance {
	t.Helper()
	port := freePort(t)
	cfg := writeFile(t, name+".cfg", fmt.Sprintf(clusterConfig, port, hookURL+"/"+name, dsn, lease, target))
	return &instance{server: startServer(t, cfg, filepath.Join(t.TempDir(), "unused"), port), name: name, cfg: cfg, port: port}
}

// get fetches path; ok is false when the instance does not answer.
func (i *instance) get(path string) (code int, body string, ok bool) {
	resp, err := http.Get(i.base + path)
	if err != nil {
		return 0, "", false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), true
}

// leads reports whether the instance answers vigil_leader 1.
func (i *instance) leads() bool {
	_, body, ok := i.get("/metrics")
	return ok && strings.Contains(body, "\nvigil_leader 1\n")
}

// clusterLeader waits (at most timeout) until exactly one of the live
// instances leads, and returns it.
func clusterLeader(t *testing.T, timeout time.Duration, live ...*instance) *instance {
	t.Helper()
	var leader *instance
	ok := testkit.Within(timeout, func() bool {
		leader = nil
		n := 0
		for _, i := range live {
			if i.leads() {
				leader, n = i, n+1
			}
		}
		return n == 1
	})
	if !ok {
		var logs strings.Builder
		for _, i := range live {
			fmt.Fprintf(&logs, "\n--- %s:\n%s", i.name, i.logs.String())
		}
		t.Fatalf("no single leader among %d instances after %v%s", len(live), timeout, logs.String())
	}
	return leader
}

// pgCount runs a count query on dsn.
func pgCount(t *testing.T, dsn, sql string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func others(all []*instance, not *instance) []*instance {
	var out []*instance
	for _, i := range all {
		if i != not {
			out = append(out, i)
		}
	}
	return out
}

// TestClusterOneVoice runs three binaries on one fresh database with the
// default lease (10 s, renewed every 2 s): they start together and migrate
// it once; one leads; a write on any instance shows on all within 1 s; an
// outage is alerted exactly once, also across a kill -9 of the leader in
// the middle of it (another instance leads within 15 s, and no replica
// changes status because of the failover); the recovery is alerted exactly
// once.
func TestClusterOneVoice(t *testing.T) {
	dsn := pgtest.New(t)
	target, healthy := switchableTarget(t)
	hooks := newHookReceiver(t)

	// Three instances starting at once on a new database migrate it once.
	var wg sync.WaitGroup
	all := make([]*instance, 3)
	for n, name := range []string{"a", "b", "c"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			all[n] = startInstance(t, name, dsn, "", hooks.srv.URL, target.URL+"/health")
		}()
	}
	wg.Wait()
	leader := clusterLeader(t, 20*time.Second, all...)
	applied := 0
	for _, i := range all {
		applied += strings.Count(i.logs.String(), "applied schema migration")
	}
	if migrations := pgCount(t, dsn, "SELECT count(*) FROM vigil_schema_migrations"); applied != migrations || migrations < 3 {
		t.Fatalf("%d migrations applied across the instances, %d recorded", applied, migrations)
	}
	for _, i := range all {
		i.waitFor(i.name+" ready", func() bool { code, _, _ := i.get("/readyz"); return code == 200 })
	}
	want := "leader: " + leaderID(t, leader)
	for _, i := range all { // a follower learns who leads at its next attempt to (every lease_renew)
		i.waitFor(i.name+" /readyz to name the leader", func() bool { _, body, _ := i.get("/readyz"); return strings.Contains(body, want) })
	}

	// A Manager write on a follower shows on every instance within 1 s.
	a := others(all, leader)[0]
	start := time.Now()
	code, body := a.request("POST", "/manager/announcement", "m", `{"title":"Maintenance","text":"tonight"}`)
	if code != 200 {
		t.Fatalf("announcement on %s: %d %s", a.name, code, body)
	}
	for _, i := range all {
		if !testkit.Within(time.Second-time.Since(start), func() bool {
			_, list := i.request("GET", "/manager/announcements", "m", "")
			return strings.Contains(list, `"title":"Maintenance"`)
		}) {
			_, list := i.request("GET", "/manager/announcements", "m", "")
			t.Fatalf("announcement posted to %s not shown on %s within 1 s: %s", a.name, i.name, list)
		}
	}
	t.Logf("announcement posted to follower %s shown on all three in %v", a.name, time.Since(start).Round(time.Millisecond))
	// So does a push report (the leader stores API writes within 100 ms).
	start = time.Now()
	if code, _ := a.request("POST", "/reporter/relay/socket/", "r", `{"replica":"10.0.0.9","interval":60,"load":{"cpu":0.1,"ram":0.1}}`); code != 200 {
		t.Fatalf("push report on %s: %d", a.name, code)
	}
	for _, i := range all {
		if !testkit.Within(time.Second-time.Since(start), func() bool {
			_, alerts, _ := i.get("/status/report")
			return strings.Count(alerts, `"replicas":["`) == 2
		}) {
			_, report, _ := i.get("/status/report")
			t.Fatalf("push report posted to %s not shown on %s within 1 s: %s", a.name, i.name, report)
		}
	}
	t.Logf("push report posted to follower %s shown on all three in %v", a.name, time.Since(start).Round(time.Millisecond))

	// The outage is alerted once, and the delivery is recorded.
	leader.waitFor("the outage alert", func() bool { return hooks.count("", "changed/dead") == 1 })
	leader.waitFor("the delivery to be recorded", func() bool { return pgCount(t, dsn, "SELECT count(*) FROM vigil_outbox") == 0 })

	// kill -9 the leader in the middle of the outage.
	survivors := others(all, leader)
	stopWatch := watchStatus(t, survivors)
	killed := time.Now()
	leader.kill()
	next := clusterLeader(t, 15*time.Second, survivors...)
	t.Logf("kill -9 of %s: %s leads after %v", leader.name, next.name, time.Since(killed).Round(time.Millisecond))
	if d := time.Since(killed); d > 15*time.Second {
		t.Fatalf("new leader after %v, want within 15 s", d)
	}
	next.waitForMetric(deadProbes, 3) // the new leader probes, and confirms the outage
	if seen := stopWatch(); len(seen) != 1 || !seen["dead"] {
		t.Fatalf("page status on the survivors during the failover: %v, want dead throughout", seen)
	}
	if n := hooks.count("", "changed/dead"); n != 1 {
		t.Fatalf("outage alerted %d times across the failover:%s", n, hooks)
	}

	// Recovery: alerted once.
	healthy.Store(true)
	next.waitFor("the recovery alert", func() bool { return hooks.count("", "changed/healthy") == 1 })
	next.waitForMetric(healthyProbes, 3)
	for _, i := range survivors {
		i.waitFor("healthy on "+i.name, func() bool { _, s, _ := i.get("/status/text"); return s == "healthy" })
	}
	if dead, rec := hooks.count("", "changed/dead"), hooks.count("", "changed/healthy"); dead != 1 || rec != 1 {
		t.Fatalf("alerts: %d dead, %d recovery, want 1 and 1:%s", dead, rec, hooks)
	}
	// The push replica's reporter keeps reporting, to a follower.
	f := others(survivors, next)[0]
	if code, _ := f.request("POST", "/reporter/relay/socket/", "r", `{"replica":"10.0.0.9","interval":60,"load":{"cpu":0.1,"ram":0.1}}`); code != 200 {
		t.Fatalf("push report on %s after the failover: %d", f.name, code)
	}
	next.waitFor("the push replica healthy", func() bool {
		_, report, _ := next.get("/status/report")
		return strings.Contains(report, `"name":"Socket","status":"healthy","replicas":["healthy"]`)
	})
}

// leaderID reads the instance's identity from its /readyz body.
func leaderID(t *testing.T, i *instance) string {
	t.Helper()
	_, body, _ := i.get("/readyz")
	line, _, _ := strings.Cut(strings.TrimPrefix(body, "ready\nleader: "), " ")
	if line == "" || !strings.HasPrefix(body, "ready\nleader: ") {
		t.Fatalf("%s /readyz = %q", i.name, body)
	}
	return line
}

// watchStatus samples the general status on live instances until the
// returned function is called, which returns every status seen.
func watchStatus(t *testing.T, live []*instance) func() map[string]bool {
	seen := map[string]bool{}
	var mu sync.Mutex
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, i := range live {
				if code, s, ok := i.get("/status/text"); ok && code == 200 {
					mu.Lock()
					seen[s] = true
					mu.Unlock()
				}
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func() map[string]bool {
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		return seen
	}
}

// TestClusterFencesPausedLeader stops the leader with SIGSTOP while it
// holds an undelivered outage alert (its webhook fails, so it keeps
// retrying its startup notification, which goes first), past its lease:
// another instance takes over and delivers it; the outage ends meanwhile
// and the new leader alerts the recovery. Then SIGCONT: the old leader,
// whose probes, state actor and notifier all resume, sends nothing more,
// not even its retry of the alert it held.
func TestClusterFencesPausedLeader(t *testing.T) {
	dsn := pgtest.New(t)
	target, healthy := switchableTarget(t)
	hooks := newHookReceiver(t)
	const lease = "lease_ttl = 3\nlease_renew = 1"
	hooks.fail("a", true) // a's deliveries fail: it keeps retrying the alert
	first := startInstance(t, "a", dsn, lease, hooks.srv.URL, target.URL+"/health")
	clusterLeader(t, 20*time.Second, first)
	all := []*instance{first,
		startInstance(t, "b", dsn, lease, hooks.srv.URL, target.URL+"/health"),
		startInstance(t, "c", dsn, lease, hooks.srv.URL, target.URL+"/health")}
	old := clusterLeader(t, 20*time.Second, all...)
	if old != first {
		t.Fatalf("%s leads, want a", old.name)
	}
	// a decided the outage alert and holds it undelivered, behind its
	// startup notification that it keeps retrying.
	old.waitFor("the outage alert decided, and a failed delivery", func() bool {
		return strings.Contains(old.logs.String(), "msg=notification epoch=1 actor=state kind=changed status=dead") && hooks.count("a", "") >= 1
	})

	if err := old.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	sent := hooks.count("a", "")
	defer old.cmd.Process.Signal(syscall.SIGCONT)
	next := clusterLeader(t, 20*time.Second, all[1:]...)
	t.Logf("%s paused; %s leads after %v", old.name, next.name, time.Since(paused).Round(time.Millisecond))
	next.waitFor("the new leader to deliver the outage alert", func() bool { return hooks.count(next.name, "changed/dead") == 1 })
	healthy.Store(true)
	next.waitFor("the recovery alert", func() bool { return hooks.count(next.name, "changed/healthy") == 1 })

	if err := old.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	old.waitFor("the old leader to step down", func() bool {
		return strings.Contains(old.logs.String(), "leader's actors stopped: following")
	})
	old.waitFor("the old leader to follow", func() bool {
		_, body, _ := old.get("/readyz")
		return strings.Contains(body, "follower: ") && !old.leads()
	})
	next.waitForMetric(healthyProbes, 3) // time for anything the old leader might still send
	if n := hooks.count("a", ""); n != sent {
		t.Fatalf("the old leader sent %d webhook requests after SIGCONT:%s", n-sent, hooks)
	}
	if dead, rec := hooks.count("", "changed/dead"), hooks.count("", "changed/healthy"); dead != 1 || rec != 1 {
		t.Fatalf("delivered alerts: %d dead, %d recovery, want 1 and 1:%s", dead, rec, hooks)
	}
	t.Logf("old leader resumed %v ago and sent nothing; its log:\n%s\n%s\n%s", time.Since(resumed).Round(time.Millisecond),
		grepLines(old.logs.String(), "leadership lost"), grepLines(old.logs.String(), "not sent"), grepLines(old.logs.String(), "fenced"))
}

// TestClusterDatabaseDown: with the DSN naming a closed port, the server
// keeps running: it logs why, retries, answers /readyz 503 with the reason
// and serves the page without data.
func TestClusterDatabaseDown(t *testing.T) {
	port := freePort(t)
	closed := freePort(t)
	dsn := "postgres://vigil@127.0.0.1:" + strconv.Itoa(closed) + "/vigil?sslmode=disable&connect_timeout=2"
	cfg := writeFile(t, "down.cfg", fmt.Sprintf(clusterConfig, port, "http://127.0.0.1:1/hook", dsn, "", "http://127.0.0.1:1/"))
	s := startServer(t, cfg, filepath.Join(t.TempDir(), "unused"), port)
	s.waitFor("the error to be logged twice (retried)", func() bool {
		return strings.Contains(s.logs.String(), "cannot open the PostgreSQL store; retrying")
	})
	code, body := s.request("GET", "/readyz", "", "")
	want := "127.0.0.1:" + strconv.Itoa(closed) + "/vigil is unavailable"
	if code != 503 || !strings.Contains(body, want) {
		t.Fatalf("/readyz = %d %q, want 503 naming %q", code, body, want)
	}
	if code, page := s.request("GET", "/", "", ""); code != 200 || !strings.Contains(page, "Web") {
		t.Fatalf("page without the database: %d", code)
	}
	if code, text := s.request("GET", "/status/text", "", ""); code != 200 {
		t.Fatalf("/status/text without the database: %d %q", code, text)
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("SIGTERM while waiting for the database: %v\n%s", err, s.logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit within 10 s of SIGTERM")
	}
}

// TestClusterFailoverTimes measures failovers with the default lease: set
// VIGIL_MEASURE_FAILOVER to the number of kills (at least 10 for the
// README's figures). Three instances; each round kills the leader with
// SIGKILL, times until another instance answers vigil_leader 1 and until
// its first probe result, then starts the killed one again.
func TestClusterFailoverTimes(t *testing.T) {
	rounds, _ := strconv.Atoi(os.Getenv("VIGIL_MEASURE_FAILOVER"))
	if rounds <= 0 {
		t.Skip("set VIGIL_MEASURE_FAILOVER=N to measure N failovers")
	}
	dsn := pgtest.New(t)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer target.Close()
	hooks := newHookReceiver(t)
	all := []*instance{}
	for _, name := range []string{"a", "b", "c"} {
		all = append(all, startInstance(t, name, dsn, "", hooks.srv.URL, target.URL+"/health"))
	}
	var leads, probes []time.Duration
	for round := range rounds {
		leader := clusterLeader(t, 30*time.Second, all...)
		for _, i := range all { // every instance up and following before the kill
			i.waitFor("ready", func() bool { code, _, _ := i.get("/readyz"); return code == 200 })
		}
		survivors := others(all, leader)
		before := map[*instance]float64{}
		for _, i := range survivors {
			before[i] = i.metric(healthyProbes)
		}
		killed := time.Now()
		leader.kill()
		next := clusterLeader(t, 30*time.Second, survivors...)
		lead := time.Since(killed)
		next.waitFor("a probe of the new leader", func() bool { return next.metric(healthyProbes) > before[next] })
		probe := time.Since(killed)
		leads, probes = append(leads, lead), append(probes, probe)
		t.Logf("round %d: kill -9 %s, %s leads after %v, probes after %v", round+1, leader.name, next.name,
			lead.Round(time.Millisecond), probe.Round(time.Millisecond))
		restarted := startServer(t, leader.cfg, filepath.Join(t.TempDir(), "unused"), leader.port)
		leader.server = restarted
	}
	summary := func(ds []time.Duration) string {
		s := slices.Clone(ds)
		slices.Sort(s)
		return fmt.Sprintf("min %v, median %v, max %v", s[0].Round(time.Millisecond), s[len(s)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
	}
	t.Logf("%d failovers (lease_ttl 10 s, lease_renew 2 s): new leader %s; first probe %s", rounds, summary(leads), summary(probes))
}

// tcpProxy forwards loopback connections to PostgreSQL until cut.
type tcpProxy struct {
	t      *testing.T
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{t: t, target: target}
	p.listen("127.0.0.1:0")
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) listen(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
}

// cut closes the listener and every connection: the database is gone.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// restore listens again on the same address.
func (p *tcpProxy) restore() { p.listen(p.addr) }

// TestClusterLeaderLosesTheDatabase cuts the leader off PostgreSQL (its
// connections go through a proxy that the test closes) in the middle of
// an outage, then the outage ends: the other instance takes over and
// alerts the recovery; the cut-off leader, whose probes see the recovery
// too, sends nothing, answers /readyz 503 with the reason, and once the
// database is back it follows.
func TestClusterLeaderLosesTheDatabase(t *testing.T) {
	dsn := pgtest.New(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	viaProxy := *u
	viaProxy.Host = proxy.addr
	target, healthy := switchableTarget(t)
	hooks := newHookReceiver(t)
	const lease = "lease_ttl = 3\nlease_renew = 1"
	a := startInstance(t, "a", viaProxy.String()+"&connect_timeout=1", lease, hooks.srv.URL, target.URL+"/health")
	clusterLeader(t, 20*time.Second, a)
	b := startInstance(t, "b", dsn, lease, hooks.srv.URL, target.URL+"/health")
	a.waitFor("the outage alert, delivered and recorded", func() bool {
		return hooks.count("a", "changed/dead") == 1 && pgCount(t, dsn, "SELECT count(*) FROM vigil_outbox") == 0
	})

	proxy.cut()
	cut := time.Now()
	healthy.Store(true)
	next := clusterLeader(t, 20*time.Second, b)
	t.Logf("a cut off the database; b leads after %v", time.Since(cut).Round(time.Millisecond))
	next.waitFor("the recovery alert from b", func() bool { return hooks.count("b", "changed/healthy") == 1 })
	a.waitFor("a to step down", func() bool { return strings.Contains(a.logs.String(), "leadership lost") && !a.leads() })
	a.waitFor("a's /readyz to say why", func() bool {
		code, body, _ := a.get("/readyz")
		return code == 503 && strings.Contains(body, "unavailable")
	})
	b.waitForMetric(healthyProbes, 3)
	if n := hooks.count("a", "changed/healthy"); n != 0 {
		t.Fatalf("the cut-off leader sent the recovery %d times:%s", n, hooks)
	}

	proxy.restore()
	a.waitFor("a to follow once the database is back", func() bool {
		code, body, _ := a.get("/readyz")
		return code == 200 && strings.Contains(body, "follower: ")
	})
	if dead, rec := hooks.count("", "changed/dead"), hooks.count("", "changed/healthy"); dead != 1 || rec != 1 {
		t.Fatalf("alerts: %d dead, %d recovery, want 1 and 1:%s", dead, rec, hooks)
	}
}

// TestClusterReload: a configuration reload reaches the leader's actors
// and the followers' mirror.
func TestClusterReload(t *testing.T) {
	dsn := pgtest.New(t)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer target.Close()
	hooks := newHookReceiver(t)
	all := []*instance{
		startInstance(t, "a", dsn, "", hooks.srv.URL, target.URL+"/health"),
		startInstance(t, "b", dsn, "", hooks.srv.URL, target.URL+"/health"),
	}
	clusterLeader(t, 20*time.Second, all...)
	for _, i := range all {
		i.waitFor("ready", func() bool { code, _, _ := i.get("/readyz"); return code == 200 })
		data, err := os.ReadFile(i.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(i.cfg, []byte(strings.Replace(string(data), `label = "Relay"`, `label = "Relay v2"`, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := i.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range all {
		i.waitFor(i.name+" to show the new label", func() bool {
			_, report, _ := i.get("/status/report")
			return strings.Contains(report, `"name":"Relay v2"`)
		})
	}
}

// TestClusterBadDSN: a DSN that cannot be parsed is a configuration error
// (exit 2), not a database to wait for.
func TestClusterBadDSN(t *testing.T) {
	cfg := writeFile(t, "bad.cfg", fmt.Sprintf(clusterConfig, freePort(t), "http://127.0.0.1:1/hook", "postgres://vigil@127.0.0.1:notaport/vigil", "", "http://127.0.0.1:1/"))
	code, _, stderr := runBinary(t, "-c", cfg)
	if code != 2 || !strings.Contains(stderr, "storage.dsn: ") || strings.Contains(stderr, "retrying") {
		t.Fatalf("exit %d, %q", code, stderr)
	}
}
