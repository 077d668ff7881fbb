package deploy

import (
	"bytes"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/vigil-go/vigil/agent"
	"github.com/vigil-go/vigil/supervisors"
)

// The Vigil Local agent's example: its own directory, so that the status
// page's kustomization and tests stay as they are.
const (
	localDir       = "kubernetes/vigil-local"
	localUnitFile  = "systemd/vigil-local.service"
	localConfigKey = "vigil-local.cfg"
)

// localManifests is every object of deploy/kubernetes/vigil-local.
type localManifests struct {
	deployment *appsv1.Deployment
	configMap  *corev1.ConfigMap
	secret     *corev1.Secret
	files      map[string][]string // file name -> kinds
}

func loadLocalManifests(t *testing.T) localManifests {
	t.Helper()
	m := localManifests{files: map[string][]string{}}
	eachManifestFile(t, localDir, decodeStrict, func(name string, objs []runtime.Object) {
		for _, obj := range objs {
			switch o := obj.(type) {
			case *appsv1.Deployment:
				setOnce(t, name, &m.deployment, o)
				m.files[name] = append(m.files[name], "Deployment")
			case *corev1.ConfigMap:
				setOnce(t, name, &m.configMap, o)
				m.files[name] = append(m.files[name], "ConfigMap")
			case *corev1.Secret:
				setOnce(t, name, &m.secret, o)
				m.files[name] = append(m.files[name], "Secret")
			default:
				t.Errorf("%s: a %T has no place in the agent's example", name, o)
			}
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	if m.deployment == nil || m.configMap == nil || m.secret == nil {
		t.Fatalf("%s must hold a Deployment, a ConfigMap and an example Secret", localDir)
	}
	return m
}

// localConfig returns the agent's file of the example ConfigMap.
func localConfig(t *testing.T, m localManifests) []byte {
	t.Helper()
	text := m.configMap.Data[localConfigKey]
	if text == "" {
		t.Fatalf("the ConfigMap holds no %s", localConfigKey)
	}
	return []byte(text)
}

// TestLocalManifests checks what deploy/README.md promises of the agent's
// example: strict decoding, a kustomization that lists everything but the
// Secret, the same image as the status page run as `vigil local`, the file
// mounted as a whole ConfigMap directory, the token from the Secret, the
// liveness probe and the Prometheus annotations on [server] inet, and the
// status page's hardening.
func TestLocalManifests(t *testing.T) {
	m := loadLocalManifests(t)
	k := loadKustomization(t, localDir)
	for name, kinds := range m.files {
		listed := slices.Contains(k.Resources, name)
		if secret := slices.Contains(kinds, "Secret"); secret == listed {
			t.Errorf("kustomization.yaml: %s listed = %v (list every manifest but the example Secret)", name, listed)
		}
	}
	for _, r := range k.Resources {
		if _, ok := m.files[r]; !ok {
			t.Errorf("kustomization.yaml lists %s, which is not a manifest here", r)
		}
	}

	d := m.deployment
	pod := d.Spec.Template.Spec
	c := container(t, d)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas = %v, want 1", d.Spec.Replicas)
	}
	page := loadManifests(t)
	if img := container(t, page.deployment).Image; c.Image != img || len(k.Images) != 1 || k.Images[0].Name != img {
		t.Errorf("image %q (kustomize %v), want the status page's %q", c.Image, k.Images, img)
	}
	if len(c.Command) != 0 || len(c.Args) != 3 || c.Args[0] != "local" {
		t.Fatalf("command %q args %q, want the image's entrypoint with local -c FILE", c.Command, c.Args)
	}
	file, _ := argValue(c.Args, "-c", "--config")
	mounts := map[string]corev1.VolumeMount{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.MountPath] = vm
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	cm, ok := mounts[filepath.Dir(file)]
	switch {
	case !ok:
		t.Errorf("nothing mounted at %s", filepath.Dir(file))
	case cm.SubPath != "" || !cm.ReadOnly:
		t.Errorf("config mount %+v: mount the whole ConfigMap, read-only", cm)
	case volumes[cm.Name].ConfigMap == nil || volumes[cm.Name].ConfigMap.Name != m.configMap.Name:
		t.Errorf("%s is not the ConfigMap %s", filepath.Dir(file), m.configMap.Name)
	case filepath.Base(file) != localConfigKey:
		t.Errorf("-c %s: the ConfigMap's key is %s", file, localConfigKey)
	}
	if tmp, ok := mounts["/tmp"]; !ok || volumes[tmp.Name].EmptyDir == nil {
		t.Error("scripts need a writable /tmp on a read-only root filesystem")
	}

	// Every ${NAME} of the file comes from the example Secret.
	text := string(localConfig(t, m))
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	refs := regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`).FindAllStringSubmatch(text, -1)
	if len(refs) == 0 {
		t.Error("the example file should take its token from the environment")
	}
	for _, ref := range refs {
		e, ok := env[ref[1]]
		if !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != m.secret.Name {
			t.Errorf("${%s} does not come from the Secret %s", ref[1], m.secret.Name)
			continue
		}
		if _, ok := m.secret.StringData[e.ValueFrom.SecretKeyRef.Key]; !ok {
			t.Errorf("%s reads key %q, which the example Secret lacks", ref[1], e.ValueFrom.SecretKeyRef.Key)
		}
	}

	// The liveness probe and the annotations are on [server] inet.
	cfg, _, err := agent.Parse([]byte(text), tokenEnviron())
	if err != nil {
		t.Fatal(err)
	}
	ap, err := netip.ParseAddrPort(cfg.Server.Inet)
	if err != nil {
		t.Fatalf("[server] inet %q: %v", cfg.Server.Inet, err)
	}
	port := int(ap.Port())
	if lp := c.LivenessProbe; lp == nil || lp.HTTPGet == nil || lp.HTTPGet.Path != "/healthz" || portNumber(c, lp.HTTPGet.Port) != port {
		t.Errorf("livenessProbe %+v, want GET /healthz on %d", lp, port)
	}
	if c.ReadinessProbe != nil {
		t.Error("readinessProbe: the agent serves no traffic")
	}
	ann := d.Spec.Template.Annotations
	if ann["prometheus.io/port"] != strconv.Itoa(port) || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("prometheus annotations %v, want port %d", ann, port)
	}

	// The status page's hardening.
	psc, sc := pod.SecurityContext, c.SecurityContext
	if psc == nil || sc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("securityContext: want non-root 65532, read-only root, no privilege escalation, ALL dropped, RuntimeDefault seccomp")
	}
	if req, lim := c.Resources.Requests, c.Resources.Limits; req.Memory().IsZero() || lim.Memory().IsZero() {
		t.Errorf("resources: want memory request and limit, got %v %v", req, lim)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("automountServiceAccountToken must be false")
	}
}

// TestLocalExampleConfig: the example file loads with no problem and no
// warning, with the agent's loader and with the real `vigil local check`.
func TestLocalExampleConfig(t *testing.T) {
	m := loadLocalManifests(t)
	data := localConfig(t, m)
	cfg, warnings, err := agent.Parse(data, tokenEnviron())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range warnings {
		t.Errorf("warning: %s", w)
	}
	if cfg.Report.Token != testTokens["VIGIL_REPORTER_TOKEN"] || len(cfg.Probe.Services) == 0 {
		t.Errorf("token %q, %d services", cfg.Report.Token, len(cfg.Probe.Services))
	}

	file := filepath.Join(t.TempDir(), localConfigKey)
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(vigilBinary(t), "local", "check", "-c", file)
	cmd.Env = baseEnviron()
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stdout.String() != file+": configuration is valid\n" || stderr.Len() > 0 {
		t.Errorf("vigil local check: %v\nstdout: %s\nstderr: %s", err, &stdout, &stderr)
	}
}

// TestLocalSystemdUnit checks the agent's unit: the same binary and user as
// the server's, `vigil local`, reload on SIGHUP, no restart on a
// configuration error, and the server's hardening.
func TestLocalSystemdUnit(t *testing.T) {
	data, err := os.ReadFile(localUnitFile)
	if err != nil {
		t.Fatal(err)
	}
	u := parseUnit(t, data)
	serverData, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	server := parseUnit(t, serverData)
	for key, want := range map[string]string{
		"ExecStart":                "/usr/bin/vigil local -c /etc/vigil/vigil-local.cfg",
		"ExecReload":               "/bin/kill -HUP $MAINPID",
		"Restart":                  "on-failure",
		"RestartPreventExitStatus": strconv.Itoa(supervisors.ExitConfig),
		"User":                     server.get("Service", "User"),
		"AmbientCapabilities":      "CAP_NET_RAW",
		"CapabilityBoundingSet":    "CAP_NET_RAW",
	} {
		if got := u.get("Service", key); got != want {
			t.Errorf("[Service] %s=%q, want %q", key, got, want)
		}
	}
	for _, key := range []string{"NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables",
		"ProtectKernelModules", "ProtectControlGroups", "RestrictAddressFamilies", "RestrictNamespaces", "LockPersonality",
		"MemoryDenyWriteExecute", "SystemCallArchitectures", "SystemCallFilter"} {
		if got, want := u.get("Service", key), server.get("Service", key); got != want {
			t.Errorf("[Service] %s=%q, the server's unit has %q", key, got, want)
		}
	}
	if u.get("Service", "StateDirectory") != "" {
		t.Error("StateDirectory: the agent keeps no state")
	}
	if u.get("Install", "WantedBy") != "multi-user.target" || u.get("Unit", "Description") == "" {
		t.Error("[Install] WantedBy or [Unit] Description")
	}

	if analyze, err := exec.LookPath("systemd-analyze"); err == nil {
		path := filepath.Join(t.TempDir(), "vigil-local.service")
		if err := os.WriteFile(path, bytes.ReplaceAll(data, []byte("=/usr/bin/vigil "), []byte("="+vigilBinary(t)+" ")), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
		if err != nil {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if strings.Contains(line, "vigil-local.service") || strings.Contains(line, path) {
				t.Errorf("systemd-analyze verify: %s", line)
			}
		}
	}
}
