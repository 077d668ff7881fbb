// Package deploy holds no code: its tests check the deployment files next to
// it (Kubernetes manifests, the systemd unit) and the container image (the
// repository's Dockerfile, the staged root filesystem, and the image built
// and run under Docker), so that a mistake in any of them fails CI.
package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/vigil-go/vigil/actors/notifier/providers"
	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/supervisors"
)

const (
	repoRoot  = ".."
	k8sDir    = "kubernetes"
	unitFile  = "systemd/vigil.service"
	sysusers  = "systemd/vigil.sysusers"
	httpPort  = 8080
	configKey = "config.cfg"
)

// Values the example config gets for its ${NAME} references.
var testTokens = map[string]string{
	"VIGIL_MANAGER_TOKEN":  "test-manager-token",
	"VIGIL_REPORTER_TOKEN": "test-reporter-token",
}

// ---------------------------------------------------------------------------
// Kubernetes

// manifests is every object of deploy/kubernetes, decoded strictly.
type manifests struct {
	deployment *appsv1.Deployment
	service    *corev1.Service
	configMap  *corev1.ConfigMap
	pvc        *corev1.PersistentVolumeClaim
	secret     *corev1.Secret
	files      map[string][]runtime.Object // file name -> objects
}

// decoder is the API server's strict decoder for the kinds used here:
// unknown fields, duplicate fields and wrongly-cased field names are errors,
// as with `kubectl apply --validate=strict`.
var decoder = func() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{appsv1.AddToScheme, corev1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}()

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// splitYAML returns the non-empty documents of a multi-document YAML file.
func splitYAML(data []byte) [][]byte {
	var docs [][]byte
	for _, doc := range docSeparator.Split(string(data), -1) {
		empty := true
		for _, line := range strings.Split(doc, "\n") {
			if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
				empty = false
				break
			}
		}
		if !empty {
			docs = append(docs, []byte(doc))
		}
	}
	return docs
}

// eachManifestFile decodes every manifest file of dir (*.yaml or *.yml;
// kustomization.yaml and subdirectories are skipped) and hands each file's
// objects to each; a file of another kind or that does not decode is an
// error.
func eachManifestFile(t *testing.T, dir string, decode func([]byte) ([]runtime.Object, error), each func(name string, objs []runtime.Object)) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name == "kustomization.yaml" {
			continue
		}
		if ext := filepath.Ext(name); ext != ".yaml" && ext != ".yml" {
			t.Errorf("%s: unexpected file in %s (manifests are *.yaml)", name, dir)
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decode(data)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		each(name, objs)
	}
}

// decodeStrict decodes every document of a manifest file into its typed
// Kubernetes object and checks that the kind is one this directory may hold.
func decodeStrict(data []byte) ([]runtime.Object, error) {
	var objs []runtime.Object
	for i, doc := range splitYAML(data) {
		obj, gvk, err := decoder.Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		switch obj.(type) {
		case *appsv1.Deployment, *corev1.Service, *corev1.ConfigMap, *corev1.PersistentVolumeClaim, *corev1.Secret:
		default:
			return nil, fmt.Errorf("document %d: unexpected kind %s", i, gvk)
		}
		objs = append(objs, obj)
	}
	if len(objs) == 0 {
		return nil, errors.New("no Kubernetes object")
	}
	return objs, nil
}

// kustomization is the part of kustomize's Kustomization used here.
// Decoding is strict: a key not declared below fails the test (extend the
// struct when a new kustomize feature is used).
type kustomization struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Namespace  string            `json:"namespace,omitempty"`
	Resources  []string          `json:"resources"`
	Labels     []kustomizeLabels `json:"labels,omitempty"`
	Images     []kustomizeImage  `json:"images,omitempty"`
}

type kustomizeLabels struct {
	Pairs            map[string]string `json:"pairs"`
	IncludeSelectors bool              `json:"includeSelectors,omitempty"`
	IncludeTemplates bool              `json:"includeTemplates,omitempty"`
}

type kustomizeImage struct {
	Name    string `json:"name"`
	NewName string `json:"newName,omitempty"`
	NewTag  string `json:"newTag,omitempty"`
	Digest  string `json:"digest,omitempty"`
}

// loadKustomization decodes kustomization.yaml strictly: unknown and
// duplicate keys fail, and a round trip through the struct must give back
// the same document (which catches keys that encoding/json would accept
// in the wrong case).
func loadKustomization(t *testing.T, dir string) kustomization {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := sigsyaml.UnmarshalStrict(data, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	var orig, back any
	js, err := sigsyaml.YAMLToJSONStrict(data)
	if err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if err := json.Unmarshal(js, &orig); err != nil {
		t.Fatal(err)
	}
	rt, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(rt, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(orig, back) {
		t.Fatalf("kustomization.yaml does not survive a strict round trip (a key in the wrong case?):\n file: %s\n read: %s", js, rt)
	}
	return k
}

// loadManifests decodes every *.yaml of deploy/kubernetes except the
// kustomization, strictly.
func loadManifests(t *testing.T) manifests {
	t.Helper()
	m := manifests{files: map[string][]runtime.Object{}}
	eachManifestFile(t, k8sDir, decodeStrict, func(name string, objs []runtime.Object) {
		m.files[name] = objs
		for _, obj := range objs {
			switch o := obj.(type) {
			case *appsv1.Deployment:
				setOnce(t, name, &m.deployment, o)
			case *corev1.Service:
				setOnce(t, name, &m.service, o)
			case *corev1.ConfigMap:
				setOnce(t, name, &m.configMap, o)
			case *corev1.PersistentVolumeClaim:
				setOnce(t, name, &m.pvc, o)
			case *corev1.Secret:
				setOnce(t, name, &m.secret, o)
			}
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	if m.deployment == nil || m.service == nil || m.configMap == nil || m.pvc == nil || m.secret == nil {
		t.Fatalf("%s must hold a Deployment, a Service, a ConfigMap, a PersistentVolumeClaim and an example Secret", k8sDir)
	}
	return m
}

func setOnce[T any](t *testing.T, file string, dst **T, v *T) {
	t.Helper()
	if *dst != nil {
		t.Errorf("%s: a second %T; the test expects one of each kind", file, v)
	}
	*dst = v
}

// TestManifestsDecodeStrictly: every manifest decodes into its API type
// with the API server's strict decoder, and the kustomization lists every
// manifest that exists (and nothing else) except the example Secret.
func TestManifestsDecodeStrictly(t *testing.T) {
	m := loadManifests(t)
	k := loadKustomization(t, k8sDir)

	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("kustomization.yaml: apiVersion/kind = %s/%s", k.APIVersion, k.Kind)
	}
	listed := map[string]bool{}
	for _, r := range k.Resources {
		if listed[r] {
			t.Errorf("kustomization.yaml lists %s twice", r)
		}
		listed[r] = true
		if _, err := os.Stat(filepath.Join(k8sDir, r)); err != nil {
			t.Errorf("kustomization.yaml lists %s: %v", r, err)
		}
	}
	for name, objs := range m.files {
		isSecret := slices.ContainsFunc(objs, func(o runtime.Object) bool { _, ok := o.(*corev1.Secret); return ok })
		switch {
		case isSecret && listed[name]:
			t.Errorf("kustomization.yaml lists %s: `kubectl apply -k` would overwrite real tokens with the example's", name)
		case !isSecret && !listed[name]:
			t.Errorf("%s is not listed in kustomization.yaml", name)
		}
	}
	// The image name that the Deployment uses is the one kustomize rewrites.
	var names []string
	for _, img := range k.Images {
		names = append(names, img.Name)
	}
	if img := m.deployment.Spec.Template.Spec.Containers[0].Image; len(k.Images) > 0 && !slices.Contains(names, img) {
		t.Errorf("kustomization.yaml images %v do not include the Deployment's image %q", names, img)
	}
}

// TestStrictDecodingCatchesTypos proves the decoder is strict: a misspelt
// field, a field in the wrong case and a duplicate field all fail.
func TestStrictDecodingCatchesTypos(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(k8sDir, "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeStrict(data); err != nil {
		t.Fatalf("deployment.yaml as is: %v", err)
	}
	for name, mutate := range map[string]func(string) string{
		"misspelt field": func(s string) string { return strings.Replace(s, "readinessProbe:", "readynessProbe:", 1) },
		"wrong case":     func(s string) string { return strings.Replace(s, "readinessProbe:", "ReadinessProbe:", 1) },
		"duplicate key": func(s string) string {
			return strings.Replace(s, "  replicas: 1\n", "  replicas: 1\n  replicas: 2\n", 1)
		},
		"wrong type": func(s string) string { return strings.Replace(s, "  replicas: 1\n", "  replicas: one\n", 1) },
	} {
		bad := mutate(string(data))
		if bad == string(data) {
			t.Fatalf("%s: the mutation did not apply; update the test", name)
		}
		if _, err := decodeStrict([]byte(bad)); err == nil {
			t.Errorf("%s: decoded without error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// container returns the Deployment's vigil container.
func container(t *testing.T, d *appsv1.Deployment) *corev1.Container {
	t.Helper()
	cs := d.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("Deployment: %d containers, want 1", len(cs))
	}
	return &cs[0]
}

// portNumber resolves a probe or Service port (number or name) against the
// container's ports.
func portNumber(c *corev1.Container, p intstr.IntOrString) int {
	if p.Type == intstr.Int {
		return int(p.IntVal)
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort)
		}
	}
	return -1
}

func checkHTTPProbe(t *testing.T, c *corev1.Container, what string, p *corev1.Probe, path string) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("%s: want an httpGet probe on %s", what, path)
		return
	}
	if p.HTTPGet.Path != path {
		t.Errorf("%s: path %q, want %q", what, p.HTTPGet.Path, path)
	}
	if got := portNumber(c, p.HTTPGet.Port); got != httpPort {
		t.Errorf("%s: port %s resolves to %d, want %d", what, p.HTTPGet.Port.String(), got, httpPort)
	}
	if p.HTTPGet.Scheme != "" && p.HTTPGet.Scheme != corev1.URISchemeHTTP {
		t.Errorf("%s: scheme %s, want HTTP", what, p.HTTPGet.Scheme)
	}
}

// argValue returns the value following flag in args.
func argValue(args []string, flags ...string) (string, bool) {
	for i, a := range args {
		if slices.Contains(flags, a) && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

// TestDeployment checks the properties deploy/README.md promises.
func TestDeployment(t *testing.T) {
	m := loadManifests(t)
	d := m.deployment
	spec := d.Spec
	pod := spec.Template.Spec
	c := container(t, d)

	if spec.Replicas == nil || *spec.Replicas != 1 {
		t.Errorf("replicas = %v, want 1 (the store is a locked local file)", spec.Replicas)
	}
	if spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("strategy = %q, want Recreate", spec.Strategy.Type)
	}
	if spec.Selector == nil || len(spec.Selector.MatchLabels) == 0 {
		t.Fatal("no selector.matchLabels")
	}
	for k, v := range spec.Selector.MatchLabels {
		if spec.Template.Labels[k] != v {
			t.Errorf("pod template lacks selector label %s=%s", k, v)
		}
	}

	// Arguments: the config inside the ConfigMap mount, the data dir on the PVC.
	wantArgs := []string{"-c", "/etc/vigil/config.cfg", "--data-dir", "/var/lib/vigil"}
	if !slices.Equal(c.Args, wantArgs) || len(c.Command) != 0 {
		t.Errorf("command %q args %q, want the image's entrypoint with args %q", c.Command, c.Args, wantArgs)
	}
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != httpPort || c.Ports[0].Name != "http" {
		t.Errorf("ports = %+v, want one port named http on %d", c.Ports, httpPort)
	}

	// Probes.
	checkHTTPProbe(t, c, "livenessProbe", c.LivenessProbe, "/healthz")
	checkHTTPProbe(t, c, "readinessProbe", c.ReadinessProbe, "/readyz")
	if c.StartupProbe != nil {
		checkHTTPProbe(t, c, "startupProbe", c.StartupProbe, "/healthz")
	}

	// Resources.
	req, lim := c.Resources.Requests, c.Resources.Limits
	if req.Cpu().IsZero() || req.Memory().IsZero() || lim.Memory().IsZero() {
		t.Errorf("resources: want cpu and memory requests and a memory limit, got requests %v limits %v", req, lim)
	} else if lim.Memory().Cmp(*req.Memory()) < 0 {
		t.Errorf("memory limit %s below the request %s", lim.Memory(), req.Memory())
	}

	// Security.
	psc, sc := pod.SecurityContext, c.SecurityContext
	if psc == nil || sc == nil {
		t.Fatal("pod and container securityContext are required")
	}
	isTrue := func(b *bool) bool { return b != nil && *b }
	is := func(p *int64, v int64) bool { return p != nil && *p == v }
	if !isTrue(psc.RunAsNonRoot) || !isTrue(sc.RunAsNonRoot) {
		t.Error("runAsNonRoot must be true for the pod and the container")
	}
	if !is(psc.RunAsUser, 65532) || (sc.RunAsUser != nil && *sc.RunAsUser != 65532) {
		t.Error("runAsUser must be 65532 (the image's nonroot user)")
	}
	if !is(psc.FSGroup, 65532) {
		t.Error("fsGroup must be 65532 so that the volume is writable")
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		t.Error("readOnlyRootFilesystem must be true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation must be false")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("privileged must not be set")
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Error("capabilities must drop ALL")
	} else if len(sc.Capabilities.Add) > 0 {
		t.Errorf("capabilities add %v: NET_RAW does nothing for a non-root user without file capabilities", sc.Capabilities.Add)
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("seccompProfile must be RuntimeDefault")
	}
	for _, s := range psc.Sysctls {
		// Only sysctls that every kubelet allows (the "safe" set) are
		// acceptable in an example meant to apply anywhere.
		if s.Name != "net.ipv4.ping_group_range" {
			t.Errorf("sysctl %s is not one this example should need", s.Name)
		} else if s.Value != "0 2147483647" {
			t.Errorf("sysctl %s = %q, want \"0 2147483647\"", s.Name, s.Value)
		}
	}
	if g := pod.TerminationGracePeriodSeconds; g == nil || *g != 15 {
		t.Errorf("terminationGracePeriodSeconds = %v, want 15", g)
	}
	if pod.HostNetwork {
		t.Error("hostNetwork must stay off (the sysctl is per network namespace)")
	}

	// Volumes.
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.MountPath] = vm
		if vm.SubPath != "" || vm.SubPathExpr != "" {
			if v := volumes[vm.Name]; v.ConfigMap != nil {
				t.Errorf("ConfigMap volume %s mounted with subPath: such mounts never receive updates", vm.Name)
			}
		}
	}
	configDir, _ := argValue(c.Args, "-c", "--config")
	configDir, configFile := filepath.Dir(configDir), filepath.Base(configDir)
	cm, ok := mounts[configDir]
	switch {
	case !ok:
		t.Errorf("no volume mounted at %s (the config's directory)", configDir)
	case volumes[cm.Name].ConfigMap == nil:
		t.Errorf("%s is not a ConfigMap volume", configDir)
	default:
		src := volumes[cm.Name].ConfigMap
		if src.Name != m.configMap.Name {
			t.Errorf("config volume uses ConfigMap %q, the manifest defines %q", src.Name, m.configMap.Name)
		}
		if len(src.Items) > 0 {
			t.Error("config volume lists items: mount the whole ConfigMap")
		}
		if _, ok := m.configMap.Data[configFile]; !ok {
			t.Errorf("ConfigMap has no key %q for -c %s/%s", configFile, configDir, configFile)
		}
		if !cm.ReadOnly {
			t.Error("config volume should be mounted readOnly")
		}
	}
	dataDir, _ := argValue(c.Args, "--data-dir")
	if dataDir != "/var/lib/vigil" {
		t.Errorf("--data-dir %q, want /var/lib/vigil", dataDir)
	}
	dm, ok := mounts[dataDir]
	switch {
	case !ok:
		t.Errorf("nothing mounted at %s", dataDir)
	case volumes[dm.Name].PersistentVolumeClaim == nil:
		t.Errorf("%s is not a PersistentVolumeClaim volume", dataDir)
	case volumes[dm.Name].PersistentVolumeClaim.ClaimName != m.pvc.Name:
		t.Errorf("data volume claims %q, the manifest defines %q", volumes[dm.Name].PersistentVolumeClaim.ClaimName, m.pvc.Name)
	case dm.ReadOnly:
		t.Errorf("%s is mounted read-only", dataDir)
	}
	for _, vm := range c.VolumeMounts {
		if _, ok := volumes[vm.Name]; !ok {
			t.Errorf("mount %s names an undefined volume %q", vm.MountPath, vm.Name)
		}
	}

	// Tokens: every ${NAME} in the config is an env var fed from the Secret
	// the example defines, with a key that exists.
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	refs := regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`).FindAllStringSubmatch(m.configMap.Data[configKey], -1)
	if len(refs) == 0 {
		t.Error("the example config should take its tokens from the environment")
	}
	for _, ref := range refs {
		e, ok := env[ref[1]]
		switch {
		case !ok:
			t.Errorf("config references ${%s}, the container has no such variable", ref[1])
		case e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil:
			t.Errorf("%s should come from a Secret", ref[1])
		case e.ValueFrom.SecretKeyRef.Name != m.secret.Name:
			t.Errorf("%s reads Secret %q, the example defines %q", ref[1], e.ValueFrom.SecretKeyRef.Name, m.secret.Name)
		default:
			key := e.ValueFrom.SecretKeyRef.Key
			if _, ok := m.secret.StringData[key]; !ok {
				if _, ok := m.secret.Data[key]; !ok {
					t.Errorf("%s reads key %q, which the example Secret lacks", ref[1], key)
				}
			}
		}
	}

	// Prometheus annotations point at the metrics endpoint.
	ann := spec.Template.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != strconv.Itoa(httpPort) || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("prometheus annotations = %v", ann)
	}
}

func TestServiceAndClaim(t *testing.T) {
	m := loadManifests(t)
	s, c := m.service, container(t, m.deployment)
	if s.Spec.Type != "" && s.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("Service type %s, want ClusterIP", s.Spec.Type)
	}
	for k, v := range s.Spec.Selector {
		if m.deployment.Spec.Template.Labels[k] != v {
			t.Errorf("Service selector %s=%s does not match the pod labels", k, v)
		}
	}
	if len(s.Spec.Selector) == 0 {
		t.Error("Service has no selector")
	}
	if len(s.Spec.Ports) != 1 {
		t.Fatalf("Service ports = %+v, want one", s.Spec.Ports)
	}
	p := s.Spec.Ports[0]
	if p.Port != 80 || p.Name != "http" || portNumber(c, p.TargetPort) != httpPort {
		t.Errorf("Service port %+v, want http: 80 -> the container's %d", p, httpPort)
	}

	pvc := m.pvc.Spec
	if !slices.Equal(pvc.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}) {
		t.Errorf("PVC access modes %v, want ReadWriteOnce", pvc.AccessModes)
	}
	if q := pvc.Resources.Requests[corev1.ResourceStorage]; q.Cmp(resource.MustParse("1Gi")) != 0 {
		t.Errorf("PVC size %s, want 1Gi", q.String())
	}
}

// exampleConfig returns the config.cfg of the example ConfigMap.
func exampleConfig(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(k8sDir, "configmap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeStrict(data)
	if err != nil {
		t.Fatalf("configmap.yaml: %v", err)
	}
	cm, ok := objs[0].(*corev1.ConfigMap)
	if !ok || cm.Data[configKey] == "" {
		t.Fatalf("configmap.yaml holds no %s", configKey)
	}
	return []byte(cm.Data[configKey])
}

func tokenEnviron() []string {
	var env []string
	for k, v := range testTokens {
		env = append(env, k+"="+v)
	}
	return env
}

// TestExampleConfigLoads validates the ConfigMap's config with the server's
// own loader and notifier checks: no problem, no warning.
func TestExampleConfigLoads(t *testing.T) {
	data := exampleConfig(t)
	cfg := &config.Config{}
	warnings, err := config.Decode(data, tokenEnviron(), cfg, providers.Kinds().Notifiers()...)
	if err != nil {
		t.Fatalf("config.Decode: %v", err)
	}
	for _, w := range warnings {
		t.Errorf("warning: %s: %s", w.Path, w.Message)
	}
	for _, p := range providers.Kinds().Check(cfg) {
		t.Errorf("notifier problem: %s", p)
	}
	if cfg.Server.ManagerToken != testTokens["VIGIL_MANAGER_TOKEN"] || cfg.Server.ReporterToken != testTokens["VIGIL_REPORTER_TOKEN"] {
		t.Errorf("tokens not interpolated from the environment: manager %q reporter %q", cfg.Server.ManagerToken, cfg.Server.ReporterToken)
	}
	if cfg.Server.Inet != "0.0.0.0:"+strconv.Itoa(httpPort) {
		t.Errorf("server.inet = %s, want 0.0.0.0:%d (reachable from the kubelet and the Service)", cfg.Server.Inet, httpPort)
	}
	if !cfg.Storage.Enabled {
		t.Error("[storage] disabled in the example: the PVC would be useless")
	}
	if len(cfg.Probe.Services) == 0 {
		t.Error("the example config probes nothing")
	}
}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// vigilBinary builds ./cmd/vigil once for the whole test binary.
func vigilBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "vigil-deploy-test-"); buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "vigil")
		cmd := exec.Command("go", "build", "-o", buildBin, "./cmd/vigil")
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/vigil: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// baseEnviron is a small environment for the server: PATH and HOME only,
// plus the tokens.
func baseEnviron() []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, tokenEnviron()...)
}

// TestExampleConfigPassesVigilCheck runs the real `vigil check` on the
// ConfigMap's config.
func TestExampleConfigPassesVigilCheck(t *testing.T) {
	bin := vigilBinary(t)
	file := filepath.Join(t.TempDir(), configKey)
	if err := os.WriteFile(file, exampleConfig(t), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "check", "-c", file)
	cmd.Env = baseEnviron()
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("vigil check: %v\nstdout: %s\nstderr: %s", err, &stdout, &stderr)
	}
	if !strings.Contains(stdout.String(), "configuration is valid") {
		t.Errorf("vigil check stdout: %q", &stdout)
	}
	if stderr.Len() > 0 {
		t.Errorf("vigil check printed warnings: %s", &stderr)
	}
}

// TestExampleConfigServes starts the real server on the ConfigMap's config
// (listening on loopback instead of 0.0.0.0) and checks what the
// Deployment relies on: /healthz answers within the startup probe's budget,
// /readyz turns 200 once the first probe round is in, /metrics answers on
// the annotated path, state.db is in --data-dir, and SIGTERM ends the
// process with exit code 0 within terminationGracePeriodSeconds.
func TestExampleConfigServes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the server")
	}
	m := loadManifests(t)
	c := container(t, m.deployment)
	bin := vigilBinary(t)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	want := fmt.Sprintf(`inet = "0.0.0.0:%d"`, httpPort)
	text := string(exampleConfig(t))
	if strings.Count(text, want) != 1 {
		t.Fatalf("the example config should contain %s once", want)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, configKey)
	if err := os.WriteFile(file, []byte(strings.Replace(text, want, fmt.Sprintf("inet = %q", addr), 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")
	var logs bytes.Buffer
	cmd := exec.Command(bin, "-c", file, "--data-dir", dataDir)
	cmd.Env = baseEnviron()
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("server output:\n%s", logs.String())
		}
	}()

	client := &http.Client{Timeout: 3 * time.Second}
	get := func(path string) (int, string) {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		return resp.StatusCode, string(body)
	}

	sp := c.StartupProbe
	budget := 30 * time.Second
	if sp != nil {
		budget = time.Duration(sp.PeriodSeconds*sp.FailureThreshold) * time.Second
	}
	deadline := time.Now().Add(budget)
	for {
		if code, _ := get("/healthz"); code == http.StatusOK {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("server exited before /healthz answered: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz not 200 within the startup probe's %s", budget)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, body := get("/readyz"); code != http.StatusOK && code != http.StatusServiceUnavailable {
		t.Errorf("/readyz: %d %q, want 200 or 503", code, body)
	}
	// Ready once the first round is in: every replica starts within 10 s,
	// a dead one is tried poll_retry + 1 times, and the page is aggregated
	// every 10 s. Unreachable targets (no cluster here) still count.
	cfg := &config.Config{}
	if _, err := config.Decode(exampleConfig(t), tokenEnviron(), cfg); err != nil {
		t.Fatal(err)
	}
	mt := cfg.Metrics
	readyBudget := 20*time.Second + time.Duration(mt.PollRetry+1)*(mt.PollDelayDead+mt.PollRetryWait)
	readyBy := time.Now().Add(readyBudget)
	for {
		code, body := get("/readyz")
		if code == http.StatusOK {
			break
		}
		if time.Now().After(readyBy) {
			t.Errorf("/readyz not 200 within %s: %d %q", readyBudget, code, body)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code, body := get(m.deployment.Spec.Template.Annotations["prometheus.io/path"]); code != http.StatusOK || !strings.Contains(body, "# TYPE") {
		t.Errorf("metrics path: %d, want 200 with Prometheus text", code)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "state.db")); err != nil {
		t.Errorf("state.db not in --data-dir: %v", err)
	}

	grace := 30 * time.Second
	if g := m.deployment.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("after SIGTERM: %v, want exit code 0", err)
		}
	case <-time.After(grace):
		t.Errorf("still running %s after SIGTERM (terminationGracePeriodSeconds)", grace)
	}
}

// kustomize renders the kustomization in dir with kubectl (offline); the
// test is skipped where kubectl is not installed.
func kustomize(t *testing.T, dir string) []byte {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed")
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(kubectl, "kustomize", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, &stderr)
	}
	return stdout.Bytes()
}

// TestKustomizeBuild renders the kustomization with kubectl (offline) when
// kubectl is installed, and decodes the result strictly too.
func TestKustomizeBuild(t *testing.T) {
	out := kustomize(t, k8sDir)
	objs, err := decodeStrict(out)
	if err != nil {
		t.Fatalf("rendered output: %v\n%s", err, out)
	}
	k := loadKustomization(t, k8sDir)
	kinds := map[string]bool{}
	for _, o := range objs {
		kinds[reflect.TypeOf(o).Elem().Name()] = true
		if d, ok := o.(*appsv1.Deployment); ok && len(k.Images) > 0 {
			want := k.Images[0].NewName + ":" + k.Images[0].NewTag
			if got := d.Spec.Template.Spec.Containers[0].Image; got != want {
				t.Errorf("rendered image %q, want %q", got, want)
			}
		}
	}
	for _, kind := range []string{"Deployment", "Service", "ConfigMap", "PersistentVolumeClaim"} {
		if !kinds[kind] {
			t.Errorf("rendered output has no %s", kind)
		}
	}
	if kinds["Secret"] {
		t.Error("rendered output holds a Secret")
	}
}

// ---------------------------------------------------------------------------
// Modules

// moduleVersions lists, for the server module's packages and their tests,
// the module and version each package comes from, as the go command selects
// them with the extra environment given.
func moduleVersions(t *testing.T, env ...string) map[string]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-test", "-f", "{{with .Module}}{{.Path}} {{.Version}}{{end}}", "./...")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", env, err, stderr.Bytes())
	}
	versions := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if path, version, ok := strings.Cut(line, " "); ok {
			versions[path] = version
		} else if line != "" {
			versions[line] = ""
		}
	}
	return versions
}

// TestWorkspaceKeepsServerVersions: go.work joins the server module with
// the tools and deploy modules, and a workspace selects the highest version
// that any of them requires. The image and `go install` build from the
// server's go.mod alone, so for every module that the server's packages and
// tests use the workspace must select the version the server module selects
// on its own: otherwise the tests would run against other code than ships.
// Raise the version in the server's go.mod (or hold the tool back) when this
// fails.
func TestWorkspaceKeepsServerVersions(t *testing.T) {
	cmd := exec.Command("go", "env", "GOWORK")
	cmd.Dir = repoRoot
	gowork, err := cmd.Output()
	if err != nil {
		t.Fatalf("go env GOWORK: %v", err)
	}
	if g := strings.TrimSpace(string(gowork)); g == "" || g == "off" {
		t.Skip("not in workspace mode")
	}
	workspace, alone := moduleVersions(t), moduleVersions(t, "GOWORK=off")
	if len(alone) < 2 {
		t.Fatalf("go list found only %v", alone)
	}
	for path, v := range alone {
		if w, ok := workspace[path]; !ok {
			t.Errorf("%s: %s on its own, absent in the workspace", path, v)
		} else if w != v {
			t.Errorf("%s: the workspace selects %s, the server module %s", path, w, v)
		}
	}
	for path, w := range workspace {
		if _, ok := alone[path]; !ok {
			t.Errorf("%s %s: used in the workspace only", path, w)
		}
	}
}

// ---------------------------------------------------------------------------
// systemd

// unit is a parsed systemd unit file: section -> key -> values in order.
type unit map[string]map[string][]string

func parseUnit(t *testing.T, data []byte) unit {
	t.Helper()
	u := unit{}
	section := ""
	var pending string
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if pending != "" {
			line = pending + " " + line
			pending = ""
		}
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			pending = strings.TrimSuffix(line, `\`)
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			if !slices.Contains([]string{"Unit", "Service", "Install"}, section) {
				t.Errorf("%s:%d: unexpected section [%s]", unitFile, n+1, section)
			}
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			t.Errorf("%s:%d: not a key=value line inside a section: %q", unitFile, n+1, line)
			continue
		}
		key = strings.TrimSpace(key)
		u[section][key] = append(u[section][key], strings.TrimSpace(value))
	}
	return u
}

func (u unit) get(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

func TestSystemdUnit(t *testing.T) {
	data, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	u := parseUnit(t, data)
	for key, want := range map[string]string{
		"ExecStart":                "/usr/bin/vigil -c /etc/vigil/vigil.cfg --data-dir /var/lib/vigil",
		"ExecReload":               "/bin/kill -HUP $MAINPID",
		"Restart":                  "on-failure",
		"RestartPreventExitStatus": strconv.Itoa(supervisors.ExitConfig),
		"StateDirectory":           "vigil",
		"AmbientCapabilities":      "CAP_NET_RAW",
		"CapabilityBoundingSet":    "CAP_NET_RAW",
		"NoNewPrivileges":          "yes",
		"ProtectSystem":            "strict",
		"ProtectHome":              "yes",
		"PrivateTmp":               "yes",
		"PrivateDevices":           "yes",
		"ProtectKernelTunables":    "yes",
		"ProtectKernelModules":     "yes",
		"ProtectKernelLogs":        "yes",
		"ProtectControlGroups":     "yes",
		"RestrictAddressFamilies":  "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
		"RestrictNamespaces":       "yes",
		"LockPersonality":          "yes",
		"MemoryDenyWriteExecute":   "yes",
		"SystemCallArchitectures":  "native",
		"SystemCallFilter":         "@system-service",
		"LimitNOFILE":              "65536",
	} {
		if got := u.get("Service", key); got != want {
			t.Errorf("[Service] %s=%q, want %q", key, got, want)
		}
	}
	// The data directory of ExecStart is the StateDirectory.
	args := strings.Fields(u.get("Service", "ExecStart"))
	if dir, _ := argValue(args, "--data-dir"); dir != "/var/lib/"+u.get("Service", "StateDirectory") {
		t.Errorf("--data-dir %q is not /var/lib/$StateDirectory", dir)
	}
	// A dedicated unprivileged user, static or dynamic.
	if user := u.get("Service", "User"); (user == "" || user == "root") && u.get("Service", "DynamicUser") != "yes" {
		t.Errorf("User=%q: run as the vigil user or with DynamicUser=yes", user)
	}
	// §11 item 33: no setcap on a (wrong) path before start.
	if len(u["Service"]["ExecStartPre"]) > 0 {
		t.Error("ExecStartPre: use AmbientCapabilities, not setcap")
	}
	for key, values := range u["Service"] {
		for _, v := range values {
			if strings.Contains(v, "setcap") {
				t.Errorf("[Service] %s=%s: use AmbientCapabilities, not setcap", key, v)
			}
		}
	}
	if u.get("Install", "WantedBy") != "multi-user.target" {
		t.Errorf("[Install] WantedBy=%q", u.get("Install", "WantedBy"))
	}
	if u.get("Unit", "Description") == "" {
		t.Error("[Unit] Description missing")
	}
}

// TestSystemdAnalyzeVerify runs systemd's own checker on the unit when it
// is installed: unknown keys and bad values are reported as warnings, so
// any output about the unit fails. ExecStart points at a real binary (the
// checker requires the command to exist).
func TestSystemdAnalyzeVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	bin := vigilBinary(t)
	data, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("ExecStart=/usr/bin/vigil ")) {
		t.Fatal("ExecStart does not run /usr/bin/vigil")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "vigil.service")
	if err := os.WriteFile(path, bytes.ReplaceAll(data, []byte("=/usr/bin/vigil "), []byte("="+bin+" ")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		if strings.Contains(line, "vigil.service") || strings.Contains(line, path) {
			t.Errorf("systemd-analyze verify: %s", line)
		} else {
			t.Logf("systemd-analyze verify (other unit): %s", line)
		}
	}

	if sysusersBin, err := exec.LookPath("systemd-sysusers"); err == nil {
		abs, err := filepath.Abs(sysusers)
		if err != nil {
			t.Fatal(err)
		}
		// A relative argument would be taken as a name to look up in the
		// sysusers.d directories.
		if out, err := exec.Command(sysusersBin, "--dry-run", abs).CombinedOutput(); err != nil || bytes.Contains(out, []byte(abs+":")) {
			t.Errorf("systemd-sysusers --dry-run %s: %v\n%s", sysusers, err, out)
		}
	}
}
