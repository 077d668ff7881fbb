package deploy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"debug/elf"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	sigsyaml "sigs.k8s.io/yaml"

	"github.com/vigil-go/vigil/testkit"
)

// The container image: the Dockerfile (FROM scratch), the root filesystem
// that deploy/image-rootfs.sh stages from the machine's Debian packages,
// the Taskfile's image task that ties them together, and the image itself
// built and run under Docker.

const (
	imageUser    = "65532:65532"
	imageBinary  = "/usr/local/bin/vigil"
	imageDataDir = "/var/lib/vigil"
	// imageMaxBytes is the size budget of the image (docker image inspect
	// .Size, which counts every layer).
	imageMaxBytes = 30_000_000
)

// requireOrSkip skips the test with the reason, except in CI (CI=true),
// where what is missing is a failure: CI installs it (.ci/run).
func requireOrSkip(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true: "+format, args...)
	}
	t.Skipf(format, args...)
}

// ---------------------------------------------------------------------------
// Dockerfile

type instruction struct {
	line int
	cmd  string // upper case
	args string
}

type stage struct {
	image, name string
	ins         []instruction
}

// parseDockerfile splits a Dockerfile into stages of instructions, joining
// continuation lines and dropping comments, as the builder does.
func parseDockerfile(t *testing.T, data []byte) []stage {
	t.Helper()
	var stages []stage
	var cur strings.Builder
	start := 0
	flush := func() {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			for len(f) > 0 && strings.HasPrefix(f[0], "--") {
				f = f[1:]
			}
			s := stage{}
			switch {
			case len(f) == 1:
				s.image = f[0]
			case len(f) == 3 && strings.EqualFold(f[1], "AS"):
				s.image, s.name = f[0], f[2]
			default:
				t.Fatalf("Dockerfile:%d: cannot read FROM %s", start, in.args)
			}
			stages = append(stages, s)
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("Dockerfile:%d: %s before the first FROM", start, in.cmd)
			}
			return
		}
		stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, in)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		flush()
	}
	flush()
	return stages
}

// jsonForm decodes an exec-form (JSON array) instruction argument.
func jsonForm(t *testing.T, in instruction) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(in.args), &v); err != nil {
		t.Errorf("Dockerfile:%d: %s should use the exec (JSON) form: %v", in.line, in.cmd, err)
	}
	return v
}

// readDockerfile returns the Dockerfile and its one stage.
func readDockerfile(t *testing.T) ([]byte, stage) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	stages := parseDockerfile(t, data)
	if len(stages) != 1 {
		t.Fatalf("Dockerfile: %d stages, want one: the binary is built on the host", len(stages))
	}
	return data, stages[0]
}

// copySources lists the sources of the stage's COPY instructions and the
// flags of each (relative to the build context).
func copySources(s stage) (sources []string, copies [][]string) {
	for _, in := range s.ins {
		if in.cmd != "COPY" {
			continue
		}
		f := strings.Fields(in.args)
		copies = append(copies, f)
		for _, w := range f[:len(f)-1] {
			if !strings.HasPrefix(w, "--") {
				sources = append(sources, w)
			}
		}
	}
	return sources, copies
}

// TestDockerfile: the image needs no registry (FROM scratch, nothing to
// run at build time), runs as the non-root user with the original's
// command line, and keeps the operator notes.
func TestDockerfile(t *testing.T) {
	data, s := readDockerfile(t)
	if s.image != "scratch" {
		t.Errorf("FROM %s: the image must need no pull; want FROM scratch", s.image)
	}

	var user, expose, volume, workdir string
	var entrypoint, cmd []string
	for _, in := range s.ins {
		switch in.cmd {
		case "USER":
			user = in.args
		case "EXPOSE":
			expose += " " + in.args
		case "VOLUME":
			volume += " " + in.args
		case "WORKDIR":
			workdir = in.args
		case "ENTRYPOINT":
			entrypoint = jsonForm(t, in)
		case "CMD":
			cmd = jsonForm(t, in)
		case "RUN":
			t.Errorf("Dockerfile:%d: RUN needs a shell at build time; stage files in deploy/image-rootfs.sh", in.line)
		case "ADD":
			t.Errorf("Dockerfile:%d: use COPY, not ADD", in.line)
		}
	}
	if user != imageUser {
		t.Errorf("USER %q, want %s (numeric, so that runAsNonRoot can verify it)", user, imageUser)
	}
	if !slices.Contains(strings.Fields(expose), "8080") && !slices.Contains(strings.Fields(expose), "8080/tcp") {
		t.Errorf("EXPOSE %q, want 8080", expose)
	}
	if !slices.Contains(strings.Fields(volume), imageDataDir) && !strings.Contains(volume, `"`+imageDataDir+`"`) {
		t.Errorf("VOLUME %q, want %s", volume, imageDataDir)
	}
	if workdir != "/usr/src/vigil" {
		t.Errorf("WORKDIR %q, want /usr/src/vigil (relative paths resolve as in the original image)", workdir)
	}
	if !slices.Equal(entrypoint, []string{imageBinary}) {
		t.Errorf("ENTRYPOINT %q, want [%q]", entrypoint, imageBinary)
	}
	if want := []string{"-c", "/etc/vigil.cfg", "--data-dir", imageDataDir}; !slices.Equal(cmd, want) {
		t.Errorf("CMD %q, want %q", cmd, want)
	}

	_, copies := copySources(s)
	var root, state bool
	for _, f := range copies {
		switch {
		case slices.Equal(f, []string{"rootfs/", "/"}):
			root = true
		case slices.Equal(f, []string{"--chown=" + imageUser, "state/", imageDataDir + "/"}):
			state = true
		}
	}
	if !root {
		t.Error("want COPY rootfs/ / (the staged root filesystem)")
	}
	if !state {
		t.Errorf("want COPY --chown=%s state/ %s/: a fresh volume there must be writable by the server", imageUser, imageDataDir)
	}
	// The operator notes in the comments.
	for _, want := range []string{`inet = "0.0.0.0:8080"`, "--cap-add NET_RAW", `--sysctl net.ipv4.ping_group_range="0 2147483647"`, "setcap cap_net_raw+ep", "go tool task image"} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("Dockerfile should document %s", want)
		}
	}
}

// ---------------------------------------------------------------------------
// The image task

// taskfile is the part of Taskfile.yml this test reads.
type taskfile struct {
	Env   map[string]string `json:"env"`
	Tasks map[string]struct {
		Vars map[string]string `json:"vars"`
		Cmds []any             `json:"cmds"`
	} `json:"tasks"`
}

// imageTaskCommands returns the image task's shell commands in order and
// the Taskfile's global environment.
func imageTaskCommands(t *testing.T) ([]string, map[string]string, map[string]string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "Taskfile.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var tf taskfile
	if err := sigsyaml.Unmarshal(data, &tf); err != nil {
		t.Fatalf("Taskfile.yml: %v", err)
	}
	task, ok := tf.Tasks["image"]
	if !ok {
		t.Fatal("Taskfile.yml has no image task")
	}
	var cmds []string
	for _, c := range task.Cmds {
		s, ok := c.(string)
		if !ok {
			t.Fatalf("image task: command %v is not a plain shell command", c)
		}
		cmds = append(cmds, s)
	}
	return cmds, tf.Env, task.Vars
}

// TestImageTask: `go tool task image` stages the root filesystem, builds
// the static binary into it from the server's go.mod, and builds the image
// with the staged directory as the context, in that order.
func TestImageTask(t *testing.T) {
	cmds, env, vars := imageTaskCommands(t)
	find := func(what string) (int, string) {
		for i, c := range cmds {
			if strings.Contains(c, what) {
				return i, c
			}
		}
		t.Errorf("image task: no command runs %s", what)
		return -1, ""
	}
	iStage, stageCmd := find("deploy/image-rootfs.sh")
	iBuild, build := find("go build")
	iDocker, dockerBuild := find("docker build")
	if !(iStage < iBuild && iBuild < iDocker) {
		t.Errorf("image task order: stage (%d), go build (%d), docker build (%d)", iStage, iBuild, iDocker)
	}

	const stageDir = "{{shellQuote .STAGE}}"
	if !strings.HasSuffix(stageCmd, " "+stageDir) {
		t.Errorf("image task: %q should stage into %s", stageCmd, stageDir)
	}
	cgoOff := strings.Contains(build, "CGO_ENABLED=0") || (env["CGO_ENABLED"] == "0" && !strings.Contains(build, "CGO_ENABLED="))
	if !cgoOff {
		t.Errorf("image task: %q must build with CGO_ENABLED=0 (the image has no C library)", build)
	}
	for _, want := range []string{"GOWORK=off", "-trimpath", "-o " + stageDir + "/rootfs" + imageBinary, "./cmd/vigil"} {
		if !strings.Contains(build, want) {
			t.Errorf("image task: %q lacks %q", build, want)
		}
	}
	if !strings.HasSuffix(strings.TrimSpace(dockerBuild), " "+stageDir) {
		t.Errorf("image task: %q should build with %s as the context", dockerBuild, stageDir)
	}
	if !strings.Contains(dockerBuild, "-f Dockerfile") || !strings.Contains(dockerBuild, "-t {{shellQuote .IMAGE}}") {
		t.Errorf("image task: %q should build Dockerfile as {{shellQuote .IMAGE}}", dockerBuild)
	}
	if !strings.Contains(vars["IMAGE"], `default "vigil:local"`) {
		t.Errorf("image task: IMAGE = %q, want vigil:local unless given", vars["IMAGE"])
	}
}

// ---------------------------------------------------------------------------
// The staged root filesystem

// requireImagePackages skips (fails in CI) when the Debian packages the
// image takes its files from are missing.
func requireImagePackages(t *testing.T) {
	t.Helper()
	for path, pkg := range map[string]string{
		"/etc/ssl/certs/ca-certificates.crt": "ca-certificates",
		"/usr/share/zoneinfo/UTC":            "tzdata",
		"/bin/busybox":                       "busybox-static",
	} {
		if _, err := os.Stat(path); err != nil {
			requireOrSkip(t, "%s missing: apt-get install %s", path, pkg)
		}
	}
}

// stageRootfs runs deploy/image-rootfs.sh into dir.
func stageRootfs(t *testing.T, dir string) {
	t.Helper()
	script, err := filepath.Abs(filepath.Join(repoRoot, "deploy", "image-rootfs.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sh", script, dir).CombinedOutput(); err != nil {
		t.Fatalf("image-rootfs.sh: %v\n%s", err, out)
	}
}

// TestImageRootfs stages the root filesystem and checks what the image
// relies on: every COPY source exists, busybox is static and /bin/sh and
// the usual applets link to it, the user database names vigil, the CA
// bundle and the time zones load, /tmp is world-writable and sticky, and a
// second run replaces the staged files.
func TestImageRootfs(t *testing.T) {
	requireImagePackages(t)
	dir := t.TempDir()
	stageRootfs(t, dir)
	// A second run starts from scratch inside rootfs/ and state/ and
	// leaves the rest of the directory alone.
	stale := filepath.Join(dir, "rootfs", "stale")
	kept := filepath.Join(dir, "kept")
	for _, p := range []string{stale, kept} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stageRootfs(t, dir)
	if _, err := os.Lstat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file from an earlier run survived in rootfs/: %v", err)
	}
	if _, err := os.Stat(kept); err != nil {
		t.Errorf("a file beside rootfs/ was removed: %v", err)
	}
	root := filepath.Join(dir, "rootfs")

	_, s := readDockerfile(t)
	sources, _ := copySources(s)
	for _, src := range sources {
		if _, err := os.Stat(filepath.Join(dir, src)); err != nil {
			t.Errorf("Dockerfile copies %s, which the staging script does not make: %v", src, err)
		}
	}
	if entries, err := os.ReadDir(filepath.Join(dir, "state")); err != nil || len(entries) > 0 {
		t.Errorf("state/ should be an empty directory: %v %v", entries, err)
	}

	// busybox: static (there is no C library in the image), executable.
	bb := filepath.Join(root, "bin", "busybox")
	if fi, err := os.Stat(bb); err != nil || fi.Mode().Perm()&0o111 == 0 {
		t.Fatalf("bin/busybox: %v (mode %v)", err, fi)
	}
	ef, err := elf.Open(bb)
	if err != nil {
		t.Fatalf("bin/busybox: %v", err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("bin/busybox is dynamically linked (the busybox package's?): install busybox-static")
		}
	}
	ef.Close()
	// The shell and what scripts commonly call, each a link to busybox.
	for _, name := range []string{"sh", "awk", "grep", "sed", "cut", "tr", "head", "tail", "wc", "cat", "test", "[", "printf", "echo", "date", "sleep", "timeout", "env", "id", "df", "ps", "wget", "nc", "nslookup"} {
		found := false
		for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin"} {
			if target, err := os.Readlink(filepath.Join(root, d, name)); err == nil {
				found = true
				if target != "/bin/busybox" {
					t.Errorf("%s/%s -> %s, want /bin/busybox", d, name, target)
				}
			}
		}
		if !found {
			t.Errorf("no %s applet in the image", name)
		}
	}

	// The user database.
	for file, want := range map[string]string{
		"etc/passwd": "vigil:x:65532:65532:",
		"etc/group":  "vigil:x:65532:",
	} {
		data, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(strings.Split(string(data), "\n"), func(l string) bool { return strings.HasPrefix(l, want) }) {
			t.Errorf("%s has no line %s…", file, want)
		}
	}

	// CA certificates and time zones.
	pem, err := os.ReadFile(filepath.Join(root, "etc/ssl/certs/ca-certificates.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		t.Error("etc/ssl/certs/ca-certificates.crt holds no certificate")
	}
	for _, zone := range []string{"UTC", "Europe/Paris", "America/New_York"} {
		data, err := os.ReadFile(filepath.Join(root, "usr/share/zoneinfo", zone))
		if err != nil {
			t.Errorf("zone %s: %v", zone, err)
			continue
		}
		if _, err := time.LoadLocationFromTZData(zone, data); err != nil {
			t.Errorf("zone %s: %v", zone, err)
		}
	}

	// /tmp for scripts: world-writable with the sticky bit.
	if fi, err := os.Stat(filepath.Join(root, "tmp")); err != nil || fi.Mode().Perm() != 0o777 || fi.Mode()&os.ModeSticky == 0 {
		t.Errorf("tmp: %v, want a directory with mode 1777 (got %v)", err, fi)
	}
}

// ---------------------------------------------------------------------------
// The image under Docker

// docker runs the docker command line and returns its trimmed standard
// output; a failure includes standard error.
func docker(ctx context.Context, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// mustDocker is docker with a two-minute bound that fails the test.
func mustDocker(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := docker(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// requireDocker skips (fails in CI) unless a Docker daemon answers.
func requireDocker(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		requireOrSkip(t, "docker not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	v, err := docker(ctx, "version", "--format", "{{.Server.Version}}")
	if err != nil {
		requireOrSkip(t, "no Docker daemon: %v", err)
	}
	t.Logf("Docker daemon %s", v)
}

// imageTestConfig is the server's configuration in the test container: a
// script node that must be healthy (busybox sh and applets, as vigil),
// another that must be dead (so that a report of results that never came
// cannot pass), a TCP node on the server's own port and an ICMP node on
// loopback (unprivileged ICMP sockets in the container's network
// namespace).
const imageTestConfig = `
[server]
log_level = "info"
inet = "0.0.0.0:8080"
manager_token = "${VIGIL_MANAGER_TOKEN}"
reporter_token = "${VIGIL_REPORTER_TOKEN}"

[assets]
path = "./res/assets/"

[branding]
page_title = "Image test"
page_url = "http://127.0.0.1:8080"
company_name = "Image test"
icon_color = "#1d4ed8"
icon_url = "http://127.0.0.1:8080/assets/images/brand/icon.svg"
logo_color = "#1d4ed8"
logo_url = "http://127.0.0.1:8080/assets/images/brand/logo.svg"
website_url = "https://example.com/"
support_url = "mailto:support@example.com"

[metrics]
poll_interval = 10
poll_retry = 0
poll_delay_dead = 2
poll_delay_sick = 1
script_interval = 10
script_timeout = 5

[[probe.service]]
id = "container"
label = "Container"

[[probe.service.node]]
id = "script"
label = "Script"
mode = "script"
scripts = [
  "exit 0",
  '''
  [ "$(id -u)" = 65532 ] || exit 2
  echo ok > /tmp/probe && grep -q ok /tmp/probe
  date +%s | awk '$1 > 0 { ok = 1 } END { exit !ok }'
  ''',
]

[[probe.service.node]]
id = "failing"
label = "Failing script"
mode = "script"
scripts = ["exit 2"]

[[probe.service.node]]
id = "tcp"
label = "Listener"
mode = "poll"
replicas = ["tcp://127.0.0.1:8080"]

[[probe.service.node]]
id = "icmp"
label = "Loopback ping"
mode = "poll"
replicas = ["icmp://127.0.0.1"]

[[probe.service.node]]
id = "site"
label = "Private site"
mode = "local"
`

// imageAgentConfig is a Vigil Local file for the agent run of the image:
// it reports one script replica to the server container (%s is its URL).
const imageAgentConfig = `
[server]
log_level = "info"

[report]
endpoint = "%s"
token = "${VIGIL_REPORTER_TOKEN}"

[metrics]
interval = 2

[[probe.service]]
id = "container"

[[probe.service.node]]
id = "site"
mode = "script"
scripts = ["exit 0"]
`

// announcement is an item of GET /manager/announcements.
type announcement struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

// report is the part of /status/report the test reads.
type report struct {
	Probes []struct {
		Nodes []struct {
			Name     string   `json:"name"`
			Status   string   `json:"status"`
			Replicas []string `json:"replicas"`
		} `json:"nodes"`
	} `json:"probes"`
}

// imageContainer is one running test container and the base URL of its
// published port.
type imageContainer struct {
	name string
	base string // http://127.0.0.1:<port>
}

// TestImage builds the image with `go tool task image` (under a unique
// name, from a temporary staging directory) and runs it as the README says,
// publishing the port on 127.0.0.1 only: the page and /readyz answer, the
// script node is healthy and the failing one dead, ICMP works unprivileged,
// the server is process 1 and runs as vigil (65532), `docker stop` ends it
// with exit code 0, and an announcement posted through the Manager API is
// still there in a new container on the same volume. The same image runs
// the Vigil Local agent (`vigil local`), whose report reaches the server.
// The image is under 30 MB.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the container image")
	}
	requireImagePackages(t)
	requireDocker(t)

	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("vigil-test-%d-%s", os.Getpid(), hex.EncodeToString(suffix))
	image, volume := id+":image", id+"-data"
	names := []string{id + "-1", id + "-2", id + "-agent"}
	// Cleanups run last-in first-out: containers, then the volume, then
	// the image.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := docker(ctx, "image", "rm", "--force", image); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, n := range names {
			if t.Failed() {
				if logs, err := exec.CommandContext(ctx, "docker", "logs", n).CombinedOutput(); err == nil {
					t.Logf("docker logs %s:\n%s", n, logs)
				}
			}
			_, _ = docker(ctx, "rm", "--force", "--volumes", n)
		}
		if _, err := docker(ctx, "volume", "rm", "--force", volume); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})

	// Build with the task, as the README says.
	started := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "tool", "task", "image", "IMAGE="+image, "STAGE="+t.TempDir())
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go tool task image: %v\n%s", err, out)
	}
	t.Logf("go tool task image: %s", time.Since(started).Round(100*time.Millisecond))

	// What the image says about itself.
	var inspected []struct {
		Size   int64
		Config struct {
			User         string
			Entrypoint   []string
			Cmd          []string
			WorkingDir   string
			ExposedPorts map[string]struct{}
			Volumes      map[string]struct{}
		}
	}
	if err := json.Unmarshal([]byte(mustDocker(t, "image", "inspect", image)), &inspected); err != nil || len(inspected) != 1 {
		t.Fatalf("docker image inspect: %v %d", err, len(inspected))
	}
	img := inspected[0]
	t.Logf("image size: %d bytes (%.1f MB)", img.Size, float64(img.Size)/1e6)
	if img.Size >= imageMaxBytes {
		t.Errorf("image is %d bytes, the budget is %d", img.Size, imageMaxBytes)
	}
	if c := img.Config; c.User != imageUser || !slices.Equal(c.Entrypoint, []string{imageBinary}) ||
		!slices.Equal(c.Cmd, []string{"-c", "/etc/vigil.cfg", "--data-dir", imageDataDir}) {
		t.Errorf("image config: user %q entrypoint %q cmd %q", c.User, c.Entrypoint, c.Cmd)
	}
	if _, ok := img.Config.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("image exposes %v, want 8080/tcp", img.Config.ExposedPorts)
	}
	if _, ok := img.Config.Volumes[imageDataDir]; !ok {
		t.Errorf("image volumes %v, want %s", img.Config.Volumes, imageDataDir)
	}

	// The configuration must be readable by vigil inside the container,
	// whatever the umask.
	cfg := filepath.Join(t.TempDir(), "vigil.cfg")
	if err := os.WriteFile(cfg, []byte(imageTestConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	mounts := []string{"-v", cfg + ":/etc/vigil.cfg:ro", "-v", volume + ":" + imageDataDir}
	env := []string{"-e", "VIGIL_MANAGER_TOKEN=" + testTokens["VIGIL_MANAGER_TOKEN"], "-e", "VIGIL_REPORTER_TOKEN=" + testTokens["VIGIL_REPORTER_TOKEN"]}

	// `vigil check` through the image's entrypoint.
	check := mustDocker(t, slices.Concat([]string{"run", "--rm", "--name", id + "-check"}, mounts, env, []string{image, "check", "-c", "/etc/vigil.cfg"})...)
	if !strings.Contains(check, "configuration is valid") {
		t.Errorf("vigil check in the image: %q", check)
	}

	run := func(name string) imageContainer {
		t.Helper()
		mustDocker(t, slices.Concat([]string{"run", "--detach", "--name", name, "--publish", "127.0.0.1::8080"}, mounts, env, []string{image})...)
		port := mustDocker(t, "port", name, "8080/tcp")
		hostPort, _, _ := strings.Cut(port, "\n")
		if !strings.HasPrefix(hostPort, "127.0.0.1:") {
			t.Fatalf("docker port %s: %q, want 127.0.0.1:<port>", name, port)
		}
		c := imageContainer{name: name, base: "http://" + hostPort}
		code, body := 0, ""
		if !testkit.Within(time.Minute, func() bool {
			code, body = httpGet(c.base+"/readyz", "")
			return code == http.StatusOK
		}) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			state, _ := docker(ctx, "inspect", "--format", "{{.State.Status}} exit {{.State.ExitCode}}", name)
			t.Fatalf("%s: /readyz not 200 within a minute: %d %q (container %s)", name, code, body, state)
		}
		return c
	}
	stop := func(c imageContainer) {
		t.Helper()
		started := time.Now()
		mustDocker(t, "stop", "--time", "15", c.name)
		if code := mustDocker(t, "inspect", "--format", "{{.State.ExitCode}}", c.name); code != "0" {
			t.Errorf("%s: exit code %s after docker stop (SIGTERM), want 0 (137 means it was killed after the grace period)", c.name, code)
		}
		t.Logf("%s: docker stop took %s", c.name, time.Since(started).Round(10*time.Millisecond))
	}

	c := run(names[0])

	// The page and the probes.
	if code, body := httpGet(c.base+"/", ""); code != http.StatusOK || !strings.Contains(body, "Image test") {
		t.Errorf("GET /: %d, want 200 with the page title", code)
	}
	nodes := map[string]string{}
	replicas := map[string][]string{}
	testkit.Eventually(t, 30*time.Second, func() bool {
		_, body := httpGet(c.base+"/status/report", "")
		var r report
		if json.Unmarshal([]byte(body), &r) != nil {
			return false
		}
		clear(nodes)
		for _, p := range r.Probes {
			for _, n := range p.Nodes {
				nodes[n.Name], replicas[n.Name] = n.Status, n.Replicas
			}
		}
		return nodes["Failing script"] == "dead"
	}, "the failing script node is not dead: %v (scripts never ran?)", nodes)
	for node, want := range map[string]string{"Script": "healthy", "Listener": "healthy", "Loopback ping": "healthy"} {
		if nodes[node] != want {
			t.Errorf("node %s: %s (replicas %v), want %s", node, nodes[node], replicas[node], want)
		}
	}
	if got := replicas["Script"]; !slices.Equal(got, []string{"healthy", "healthy"}) {
		t.Errorf("script replicas %v, want both healthy", got)
	}

	// The agent from the same image, on the host's network so that it
	// reaches the server's published port.
	agentCfg := filepath.Join(t.TempDir(), "vigil-local.cfg")
	if err := os.WriteFile(agentCfg, []byte(fmt.Sprintf(imageAgentConfig, c.base)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(agentCfg, 0o644); err != nil {
		t.Fatal(err)
	}
	agent := imageContainer{name: names[2]}
	mustDocker(t, slices.Concat([]string{"run", "--detach", "--name", agent.name, "--network", "host",
		"-v", agentCfg + ":/etc/vigil-local.cfg:ro"}, env, []string{image, "local", "-c", "/etc/vigil-local.cfg"})...)
	testkit.Eventually(t, 30*time.Second, func() bool {
		_, body := httpGet(c.base+"/status/report", "")
		var r report
		if json.Unmarshal([]byte(body), &r) != nil {
			return false
		}
		for _, p := range r.Probes {
			for _, n := range p.Nodes {
				if n.Name == "Private site" {
					return n.Status == "healthy" && slices.Equal(n.Replicas, []string{"healthy"})
				}
			}
		}
		return false
	}, "the agent's report did not reach the server (its local node has no healthy replica)")
	stop(agent)

	// Who runs: the server is process 1 of the container, as vigil.
	status := mustDocker(t, "exec", c.name, "cat", "/proc/1/status")
	fields := map[string][]string{}
	for _, line := range strings.Split(status, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.Fields(v)
		}
	}
	if name := fields["Name"]; !slices.Equal(name, []string{"vigil"}) {
		t.Errorf("process 1 is %v, want vigil", name)
	}
	for _, k := range []string{"Uid", "Gid"} {
		if !slices.Equal(fields[k], []string{"65532", "65532", "65532", "65532"}) {
			t.Errorf("process 1 %s: %v, want 65532 (real, effective, saved, filesystem)", k, fields[k])
		}
	}
	if got := mustDocker(t, "exec", c.name, "id", "-un"); got != "vigil" {
		t.Errorf("id -un in the container: %q, want vigil", got)
	}
	// Docker (20.10 and later) opens unprivileged ICMP to every group in
	// the container's network namespace; deploy/README.md relies on it.
	if got := strings.Fields(mustDocker(t, "exec", c.name, "cat", "/proc/sys/net/ipv4/ping_group_range")); !slices.Equal(got, []string{"0", "2147483647"}) {
		t.Errorf("net.ipv4.ping_group_range in the container: %v, want 0 2147483647 (Docker's default since 20.10)", got)
	}

	// State: an announcement, on the volume.
	// Basic auth where only the password counts.
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(":"+testTokens["VIGIL_MANAGER_TOKEN"]))
	title := "Maintenance " + id
	announced := postJSON(t, c.base+"/manager/announcement", auth, fmt.Sprintf(`{"title":%q,"text":"Planned."}`, title))
	var added struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(announced), &added); err != nil || added.ID == "" {
		t.Fatalf("POST /manager/announcement: %q %v", announced, err)
	}
	stop(c)

	// A new container on the same volume.
	c = run(names[1])
	code, body := httpGet(c.base+"/manager/announcements", auth)
	var list []announcement
	if err := json.Unmarshal([]byte(body), &list); code != http.StatusOK || err != nil {
		t.Fatalf("GET /manager/announcements: %d %q %v", code, body, err)
	}
	if !slices.Contains(list, announcement{ID: added.ID, Title: title}) {
		t.Errorf("announcement %s not listed after the restart: %s", added.ID, body)
	}
	if code, body := httpGet(c.base+"/", ""); code != http.StatusOK || !strings.Contains(body, title) {
		t.Errorf("GET / after the restart: %d, want the announcement %q on the page", code, title)
	}
	stop(c)
}

// httpGet returns the status and body (up to 1 MiB) of a GET; status 0
// and the error text when the request fails.
func httpGet(url, auth string) (int, string) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err.Error()
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(body)
}

// postJSON posts body and returns the response body; anything but 200
// fails the test.
func postJSON(t *testing.T, url, auth, body string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", auth)
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %s", url, resp.StatusCode, out)
	}
	return string(out)
}
