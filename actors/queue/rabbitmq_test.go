package queue_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigil-go/vigil/actors/queue"
	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// These tests use the machine's real RabbitMQ through its management API
// (http://127.0.0.1:15672, guest/guest; VIGIL_RABBITMQ_API overrides the
// URL). They skip when the API is unreachable, except under CI=true where
// that is a failure. The management API publishes queue counts every
// collect_statistics_interval (5 s by default), so every wait on a count
// is bounded by statsWait.

const statsWait = 45 * time.Second

type mgmt struct {
	base   string
	client *http.Client
}

func management(t *testing.T) *mgmt {
	t.Helper()
	base := os.Getenv("VIGIL_RABBITMQ_API")
	if base == "" {
		base = "http://127.0.0.1:15672"
	}
	m := &mgmt{base: strings.TrimSuffix(base, "/"), client: &http.Client{Timeout: 10 * time.Second}}
	status, body, err := m.call("GET", "/api/overview", nil)
	if err != nil || status != 200 {
		msg := fmt.Sprintf("RabbitMQ management API at %s unreachable (status %d, %v, %.200s); "+
			"run `rabbitmq-plugins enable rabbitmq_management`", m.base, status, err, body)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return m
}

func (m *mgmt) call(method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, m.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.SetBasicAuth("guest", "guest")
	req.Header.Set("Content-Type", "application/json")
	resp, err := m.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

func (m *mgmt) must(t *testing.T, method, path string, body any) []byte {
	t.Helper()
	status, b, err := m.call(method, path, body)
	if err != nil || status/100 != 2 {
		t.Fatalf("%s %s: %d %v %s", method, path, status, err, b)
	}
	return b
}

func esc(s string) string { return url.PathEscape(s) }

func (m *mgmt) declare(t *testing.T, vhost, q string) {
	t.Helper()
	m.must(t, "PUT", "/api/queues/"+esc(vhost)+"/"+esc(q), map[string]any{"durable": false, "auto_delete": false})
}

func (m *mgmt) publish(t *testing.T, vhost, q string, n int) {
	t.Helper()
	for i := range n {
		b := m.must(t, "POST", "/api/exchanges/"+esc(vhost)+"/amq.default/publish", map[string]any{
			"properties": map[string]any{}, "routing_key": q, "payload": fmt.Sprintf("job %d", i), "payload_encoding": "string",
		})
		var r struct{ Routed bool }
		if err := json.Unmarshal(b, &r); err != nil || !r.Routed {
			t.Fatalf("publish to %s/%s not routed: %s", vhost, q, b)
		}
	}
}

func (m *mgmt) purge(t *testing.T, vhost, q string) {
	t.Helper()
	m.must(t, "DELETE", "/api/queues/"+esc(vhost)+"/"+esc(q)+"/contents", nil)
}

// ready polls the management API until the queue shows n ready messages,
// so that the test knows the statistics have caught up.
func (m *mgmt) ready(t *testing.T, vhost, q string, n uint64) {
	t.Helper()
	deadline := time.Now().Add(statsWait)
	for {
		_, b, err := m.call("GET", "/api/queues/"+esc(vhost)+"/"+esc(q), nil)
		var body struct {
			Ready *uint64 `json:"messages_ready"`
		}
		if err == nil && json.Unmarshal(b, &body) == nil && body.Ready != nil && *body.Ready == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue %s/%s never showed %d ready messages: %.300s", vhost, q, n, b)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func randomSuffix(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func realPlugin(base, vhost string) config.RabbitMQ {
	return config.RabbitMQ{
		APIURL: base, AuthUsername: "guest", AuthPassword: "guest", Virtualhost: vhost,
		QueueReadyHealthyBelow: 5, QueueNackHealthyBelow: 5, QueueReadyDeadAbove: 10, QueueNackDeadAbove: 10,
	}
}

func TestRealRabbitMQ(t *testing.T) {
	m := management(t)
	vhost := "vigil/test-" + randomSuffix(t) // the "/" proves the escaping
	m.must(t, "PUT", "/api/vhosts/"+esc(vhost), nil)
	t.Cleanup(func() {
		if status, b, err := m.call("DELETE", "/api/vhosts/"+esc(vhost), nil); err != nil || status/100 != 2 {
			t.Errorf("deleting vhost %s: %d %v %s", vhost, status, err, b)
		}
	})
	m.must(t, "PUT", "/api/permissions/"+esc(vhost)+"/guest", map[string]string{"configure": ".*", "write": ".*", "read": ".*"})
	m.declare(t, vhost, "jobs")
	// A stalled queue: a correct reading would make the node dead.
	m.declare(t, vhost, "stuck")
	m.publish(t, vhost, "stuck", 12)

	t.Run("healthy, sick, dead, healthy", func(t *testing.T) {
		p := realPlugin(m.base, vhost)
		p.QueueLoadedRetryDelay = 100 * time.Millisecond
		n := startNode(t, queue.Spec{Plugin: p, Queue: "jobs", Recheck: 250 * time.Millisecond, Timeout: 5 * time.Second,
			Limiter: queue.NewLimiter(4)})
		n.report(t, "10.0.0.1")
		n.waitUpdate(t, "healthy with an empty queue", statsWait, func(u messages.ReplicaUpdated) bool {
			return u.Status == messages.Healthy && u.Queue != nil && u.Queue.Err == "" && u.Queue.Ready == 0
		})

		m.publish(t, vhost, "jobs", 5)
		u := n.waitUpdate(t, "sick at 5 ready", statsWait, func(u messages.ReplicaUpdated) bool {
			return u.Queue != nil && u.Queue.Ready == 5
		})
		if u.Status != messages.Sick || !u.Queue.Loaded || u.Queue.Stalled || !strings.Contains(u.Err, "loaded") {
			t.Fatalf("at 5 ready: %+v queue %+v, want sick", u, u.Queue)
		}

		m.publish(t, vhost, "jobs", 6)
		u = n.waitUpdate(t, "dead at 11 ready", statsWait, func(u messages.ReplicaUpdated) bool {
			return u.Queue != nil && u.Queue.Ready == 11
		})
		if u.Status != messages.Dead || !u.Queue.Stalled || !strings.Contains(u.Err, "stalled (11 ready, 0 unacknowledged)") {
			t.Fatalf("at 11 ready: %+v queue %+v, want dead", u, u.Queue)
		}

		m.purge(t, vhost, "jobs")
		u = n.waitUpdate(t, "healthy after the purge", statsWait, func(u messages.ReplicaUpdated) bool {
			return u.Queue != nil && u.Queue.Ready == 0
		})
		if u.Status != messages.Healthy || u.Err != "" || u.Queue.Loaded || u.Queue.Err != "" {
			t.Fatalf("after the purge: %+v queue %+v, want healthy", u, u.Queue)
		}
		if f := n.counts.Failures(); f > 0 {
			// Only a queue whose statistics were not collected yet may fail.
			t.Logf("%d failed reads (statistics not yet collected)", f)
		}
	})

	t.Run("default vhost written / or %2F", func(t *testing.T) {
		q := "vigil-test-" + randomSuffix(t)
		m.declare(t, "/", q)
		t.Cleanup(func() { _, _, _ = m.call("DELETE", "/api/queues/%2F/"+esc(q), nil) })
		m.publish(t, "/", q, 2)
		m.ready(t, "/", q, 2)
		for _, vh := range []string{"/", "%2F"} {
			r := startChecker(t, queue.Spec{Plugin: realPlugin(m.base, vh), Queue: q, Timeout: 5 * time.Second})
			if rd := r.readOnce(t); rd.Err != "" || rd.Ready != 2 || rd.Loaded {
				t.Fatalf("virtualhost %q: %+v", vh, rd)
			}
		}
	})

	t.Run("vhost with a slash written %2F-encoded", func(t *testing.T) {
		m.ready(t, vhost, "stuck", 12)
		r := startChecker(t, queue.Spec{Plugin: realPlugin(m.base, strings.ReplaceAll(vhost, "/", "%2F")), Queue: "stuck", Timeout: 5 * time.Second})
		if rd := r.readOnce(t); rd.Err != "" || rd.Ready != 12 || !rd.Stalled {
			t.Fatalf("%+v", rd)
		}
	})

	// Failures must not change the status of a node whose queue is stalled.
	failing := func(t *testing.T, p config.RabbitMQ, want string) {
		t.Helper()
		m.ready(t, vhost, "stuck", 12)
		n := startNode(t, queue.Spec{Plugin: p, Queue: "stuck", Recheck: 250 * time.Millisecond, Timeout: 5 * time.Second})
		n.report(t, "10.0.0.2")
		u := n.waitUpdate(t, "an error reading", statsWait, func(u messages.ReplicaUpdated) bool {
			return u.Queue != nil
		})
		if u.Status != messages.Healthy || u.Err != "" || !strings.Contains(u.Queue.Err, want) || u.Queue.Ready != 0 || u.Queue.Stalled {
			t.Fatalf("%+v queue %+v; want healthy with a queue error containing %q", u, u.Queue, want)
		}
		if n.counts.Failures() == 0 {
			t.Fatal("failure not counted")
		}
	}
	t.Run("wrong password", func(t *testing.T) {
		p := realPlugin(m.base, vhost)
		p.AuthPassword = "not-the-password"
		failing(t, p, "HTTP 401")
	})
	t.Run("stopped endpoint", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		failing(t, realPlugin("http://"+addr, vhost), "connection refused")
	})
	t.Run("unknown queue", func(t *testing.T) {
		n := startNode(t, queue.Spec{Plugin: realPlugin(m.base, vhost), Queue: "no-such-queue", Timeout: 5 * time.Second})
		n.report(t, "10.0.0.3")
		u := n.waitUpdate(t, "an error reading", statsWait, func(u messages.ReplicaUpdated) bool { return u.Queue != nil })
		if u.Status != messages.Healthy || !strings.Contains(u.Queue.Err, "HTTP 404") {
			t.Fatalf("%+v queue %+v", u, u.Queue)
		}
	})
}
