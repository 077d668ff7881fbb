package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const historyConfig = `
[server]
log_level = "info"
inet = "127.0.0.1:%d"
manager_token = "m"
reporter_token = "r"

` + testBranding + `

[metrics]
poll_interval = 1
poll_retry = 0
poll_delay_dead = 1
poll_delay_sick = 1

[[probe.service]]
id = "db"
label = "Database"
slo = 99.9

[[probe.service.node]]
id = "primary"
label = "Primary"
mode = "poll"
replicas = ["tcp://127.0.0.1:%d"]
`

// historyNow is the part of /status/history the restart test reads.
type historyNow struct {
	Services []struct {
		ID   string `json:"id"`
		Days []struct {
			Date          string  `json:"date"`
			DeadSeconds   float64 `json:"dead_seconds"`
			NoDataSeconds float64 `json:"no_data_seconds"`
		} `json:"days"`
		Incidents []struct {
			Start   string `json:"start"`
			Ongoing bool   `json:"ongoing"`
			Worst   string `json:"worst"`
		} `json:"incidents"`
		ErrorBudget *struct {
			UsedSeconds float64 `json:"used_seconds"`
		} `json:"error_budget"`
	} `json:"services"`
}

// history reads /status/history; ok is false while the server has not
// built its first history yet (just after a start).
func (s *server) history() (h historyNow, ok bool) {
	s.t.Helper()
	code, body := s.request("GET", "/status/history", "", "")
	if err := json.Unmarshal([]byte(body), &h); code != 200 || err != nil {
		s.t.Fatalf("/status/history: %d %v %.300s", code, err, body)
	}
	if strings.Contains(body, `"built":null`) {
		return h, false
	}
	if len(h.Services) != 1 || len(h.Services[0].Days) != 90 {
		s.t.Fatalf("/status/history: %.300s", body)
	}
	return h, true
}

// TestRestartKeepsHistory kills the real binary with SIGKILL during an
// outage and checks that the recorded dead time and the ongoing incident
// come back, and that the time the server was down is no data.
func TestRestartKeepsHistory(t *testing.T) {
	port, closed := freePort(t), freePort(t)
	cfg := writeFile(t, "config.cfg", fmt.Sprintf(historyConfig, port, closed))
	dataDir := filepath.Join(t.TempDir(), "data")

	s := startServer(t, cfg, dataDir, port)
	var before historyNow
	s.waitFor("an ongoing incident with dead time", func() bool {
		var built bool
		if before, built = s.history(); !built {
			return false
		}
		svc := before.Services[0]
		return len(svc.Incidents) == 1 && svc.Incidents[0].Ongoing && svc.Days[89].DeadSeconds >= 1
	})
	// History reaches the store every few seconds: wait for writes made
	// after a flush that holds this much dead time.
	seen := time.Now()
	s.waitFor("a history flush", func() bool {
		s.waitForStoreFlush()
		return time.Since(seen) > 6*time.Second
	})
	s.kill()
	down := time.Now()

	s = startServer(t, cfg, dataDir, port)
	var after historyNow
	s.waitFor("the first history after the restart", func() (built bool) {
		after, built = s.history()
		return built
	})
	svc := after.Services[0]
	if len(svc.Incidents) != 1 || svc.Incidents[0].Start != before.Services[0].Incidents[0].Start || !svc.Incidents[0].Ongoing || svc.Incidents[0].Worst != "dead" {
		t.Fatalf("incidents after SIGKILL: %+v, before %+v", svc.Incidents, before.Services[0].Incidents)
	}
	today := svc.Days[89]
	if today.DeadSeconds < before.Services[0].Days[89].DeadSeconds {
		t.Fatalf("dead time after SIGKILL %v s, before it %v s", today.DeadSeconds, before.Services[0].Days[89].DeadSeconds)
	}
	if today.NoDataSeconds <= before.Services[0].Days[89].NoDataSeconds {
		t.Fatalf("no data today %v s after being down for %v, %v s before", today.NoDataSeconds, time.Since(down), before.Services[0].Days[89].NoDataSeconds)
	}
	if svc.ErrorBudget == nil || svc.ErrorBudget.UsedSeconds < before.Services[0].Days[89].DeadSeconds {
		t.Fatalf("error budget after SIGKILL: %+v", svc.ErrorBudget)
	}
}
