package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// configMapDir lays out a directory the way the kubelet mounts a ConfigMap:
// DIR/..<ts>/config.cfg, DIR/..data -> ..<ts>, DIR/config.cfg ->
// ..data/config.cfg. swap performs the kubelet's atomic update.
type configMapDir struct {
	t     *testing.T
	dir   string
	gen   int
	older string
}

func newConfigMapDir(t *testing.T, content string) *configMapDir {
	c := &configMapDir{t: t, dir: t.TempDir()}
	c.swap(content)
	if err := os.Symlink(filepath.Join("..data", "config.cfg"), filepath.Join(c.dir, "config.cfg")); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *configMapDir) path() string { return filepath.Join(c.dir, "config.cfg") }

func (c *configMapDir) swap(content string) {
	c.t.Helper()
	c.gen++
	ts := fmt.Sprintf("..2026_11_25_00_00_%02d.%d", c.gen, c.gen)
	if err := os.Mkdir(filepath.Join(c.dir, ts), 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.dir, ts, "config.cfg"), []byte(content), 0o644); err != nil {
		c.t.Fatal(err)
	}
	tmp := filepath.Join(c.dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		c.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(c.dir, "..data")); err != nil {
		c.t.Fatal(err)
	}
	if c.older != "" {
		os.RemoveAll(filepath.Join(c.dir, c.older))
	}
	c.older = ts
}

const reloadExtraService = `
[[probe.service]]
id = "extra"
label = "Extra service"

[[probe.service.node]]
id = "tcp"
label = "TCP"
mode = "poll"
replicas = ["tcp://127.0.0.1:%d"]
`

func (s *server) probeNames() []string {
	_, body := s.request("GET", "/status/report", "", "")
	var rep report
	json.Unmarshal([]byte(body), &rep)
	var names []string
	for _, p := range rep.Probes {
		names = append(names, p.Name)
	}
	return names
}

// TestHotReloadConfigMapSwap runs the binary on a ConfigMap-style
// directory and updates it the way the kubelet does.
func TestHotReloadConfigMapSwap(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer target.Close()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer hook.Close()
	port := freePort(t)
	base := fmt.Sprintf(restartConfig, port, hook.URL, target.URL+"/health")
	dir := newConfigMapDir(t, base)
	s := startServer(t, dir.path(), filepath.Join(t.TempDir(), "data"), port)
	s.waitFor("initial report", func() bool { return strings.Join(s.probeNames(), ",") == "Web,Relay" })
	s.waitFor("healthy", func() bool { return s.status() == "healthy" })
	if code, _ := s.request("POST", "/reporter/relay/socket/", "r", `{"replica":"keep-me","interval":60,"load":{"cpu":0.1,"ram":0.1}}`); code != 200 {
		t.Fatal("push report refused")
	}

	// 1. A valid update adds a service; the push replica survives.
	dir.swap(base + fmt.Sprintf(reloadExtraService, port))
	s.waitFor("new service after the ConfigMap swap", func() bool { return strings.Join(s.probeNames(), ",") == "Web,Relay,Extra service" })
	_, alerts := s.request("GET", "/status/report", "", "")
	if !strings.Contains(alerts, `"name":"Relay","status":"healthy","nodes":[{"name":"Socket","status":"healthy","replicas":["healthy"]}]`) {
		t.Fatalf("push replica lost by the reload: %s", alerts)
	}

	// 2. An invalid update is refused; the running configuration stays.
	dir.swap(strings.Replace(base, `inet = "127.0.0.1`, `inet = "localhost`, 1))
	s.waitFor("failed reload counted", func() bool {
		_, m := s.request("GET", "/metrics", "", "")
		return strings.Contains(m, `vigil_config_reloads_total{result="failure"} 1`)
	})
	if got := strings.Join(s.probeNames(), ","); got != "Web,Relay,Extra service" {
		t.Fatalf("invalid config changed the running one: %s", got)
	}
	if !strings.Contains(s.logs.String(), "configuration reload failed") {
		t.Fatalf("failure not logged:\n%s", s.logs.String())
	}

	// 3. SIGHUP reloads the (now valid again) file on demand.
	if err := os.WriteFile(filepath.Join(dir.dir, dir.older, "config.cfg"), []byte(base), 0o644); err != nil {
		t.Fatal(err)
	}
	s.cmd.Process.Signal(syscall.SIGHUP)
	s.waitFor("service removed after SIGHUP", func() bool { return strings.Join(s.probeNames(), ",") == "Web,Relay" })
	_, m := s.request("GET", "/metrics", "", "")
	if !strings.Contains(m, `vigil_config_reloads_total{result="success"} 2`) {
		t.Fatalf("reload counters wrong:\n%s", grepLines(m, "vigil_config_reloads_total"))
	}
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
