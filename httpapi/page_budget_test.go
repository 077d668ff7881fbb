package httpapi

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vigil-go/vigil/messages"
)

// budgetSnapshot is a big installation during an incident: nodes spread over
// services of 50, every mode and metric represented, about 2 % of the
// nodes degraded and 1 % down, replicas named, timed and loaded at random
// (from a fixed seed, so sizes are reproducible).
func budgetSnapshot(nodes, replicasPerNode int) *messages.Snapshot {
	rng := rand.New(rand.NewPCG(1, 2))
	regions := []string{"eu-west", "eu-central", "us-east", "us-west", "ap-south", "ap-northeast"}
	roles := []string{"api", "web", "worker", "db", "cache", "queue", "search", "gateway"}
	modes := []string{"poll", "poll", "push", "script", "local"}
	snap := &messages.Snapshot{Generation: 1, Status: messages.Dead, Refreshed: time.Date(2025, 7, 4, 4, 15, 15, 0, time.UTC),
		Announcements: []messages.Announcement{{ID: "a", Title: "Degraded API in eu-west",
			Text: "Some requests fail since 04:02 UTC.\nWe are on it.", Date: time.Date(2025, 7, 4, 4, 9, 0, 0, time.UTC)}}}
	for n := 0; n < nodes; n++ {
		if n%50 == 0 {
			role := roles[(n/50)%len(roles)]
			snap.Probes = append(snap.Probes, messages.ProbeSnapshot{ID: fmt.Sprintf("%s-%d", role, n/50),
				Label: fmt.Sprintf("%s cluster %d", role, n/50+1), Status: messages.Healthy})
		}
		p := &snap.Probes[len(snap.Probes)-1]
		mode := modes[n%len(modes)]
		node := &messages.NodeSnapshot{ID: fmt.Sprintf("n%d", n), Mode: mode, Status: messages.Healthy,
			Label: fmt.Sprintf("%s-%s-%03d", roles[n%len(roles)], regions[(n/7)%len(regions)], n)}
		if n%10 == 3 {
			node.LinkURL = fmt.Sprintf("https://docs.example.com/runbooks/%s", node.ID)
			node.LinkLabel = "Runbook"
		}
		status := messages.Healthy
		switch x := rng.IntN(100); {
		case x < 1:
			status = messages.Dead
		case x < 3:
			status = messages.Sick
		}
		for r := 0; r < replicasPerNode; r++ {
			rs := messages.ReplicaSnapshot{ID: fmt.Sprintf("10.%d.%d.%d", n/250, n%250, r), Status: messages.Healthy}
			if r == 0 {
				rs.Status = status
			}
			switch mode {
			case "push":
				rs.Load = &messages.Load{CPU: rng.Float64(), RAM: rng.Float64()}
			default:
				rs.HasLatency, rs.Latency = true, time.Duration(5+rng.IntN(400))*time.Millisecond
			}
			switch rs.Status {
			case messages.Sick:
				rs.Err = fmt.Sprintf("response took %dms (sick above 1500ms)", 1500+rng.IntN(900))
			case messages.Dead:
				rs.Err = "connection refused"
			}
			node.Replicas = append(node.Replicas, rs)
		}
		node.Status = status
		p.Nodes = append(p.Nodes, node)
		p.Status = messages.Worst(p.Status, status)
	}
	return snap
}

// pageSize renders snap and returns its size as served and gzipped with
// compress/gzip's default level.
func pageSize(t *testing.T, snap *messages.Snapshot) (identity, gzipped int) {
	t.Helper()
	body := getPage(t, pageServer(fixedSnapshots{snap}, testBranding()).Handler())
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return len(body), buf.Len()
}

// TestPageSizeBudget keeps large pages light: 1,000 nodes within 200 KB
// (25 KB gzipped), with 90 days of history within 550 KB (35 KB gzipped),
// 10,000 replicas over 1,000 nodes within 1 MB.
func TestPageSizeBudget(t *testing.T) {
	const kb = 1000
	id, gz := pageSize(t, budgetSnapshot(1000, 1))
	t.Logf("1,000 nodes: %d bytes, %d gzipped (%d bytes a node)", id, gz, id/1000)
	if id > 200*kb || gz > 25*kb {
		t.Errorf("1,000 nodes: %d bytes (budget 200 KB), %d gzipped (budget 25 KB)", id, gz)
	}
	// With 90 days of history for every service and node.
	snap := budgetSnapshot(1000, 1)
	snap.History = historyFor(snap, time.Date(2026, 11, 30, 16, 20, 0, 0, time.UTC))
	hid, hgz := pageSize(t, snap)
	t.Logf("1,000 nodes with history: %d bytes, %d gzipped (%d bytes a node)", hid, hgz, hid/1000)
	if hid > 550*kb || hgz > 35*kb {
		t.Errorf("1,000 nodes with history: %d bytes (budget 550 KB), %d gzipped (budget 35 KB)", hid, hgz)
	}
	id, gz = pageSize(t, budgetSnapshot(1000, 10))
	t.Logf("10,000 replicas on 1,000 nodes: %d bytes, %d gzipped", id, gz)
	if id > 1000*kb {
		t.Errorf("10,000 replicas: %d bytes (budget 1 MB)", id)
	}
}
