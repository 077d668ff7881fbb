package deploy

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"

	"github.com/vigil-go/vigil/actors/notifier/providers"
	"github.com/vigil-go/vigil/config"
)

// The high-availability example: three instances on one PostgreSQL
// database, in a directory of its own.
const haDir = "kubernetes/ha"

// haDecoder is the strict decoder with the PodDisruptionBudget's API too.
var haDecoder = func() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{appsv1.AddToScheme, corev1.AddToScheme, policyv1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}()

// haManifests is every object of deploy/kubernetes/ha.
type haManifests struct {
	deployment *appsv1.Deployment
	service    *corev1.Service
	configMap  *corev1.ConfigMap
	secret     *corev1.Secret
	pdb        *policyv1.PodDisruptionBudget
	kinds      map[string][]string // file name -> kinds
}

func decodeHA(data []byte) ([]runtime.Object, error) {
	var objs []runtime.Object
	for i, doc := range splitYAML(data) {
		obj, _, err := haDecoder.Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		objs = append(objs, obj)
	}
	return objs, nil
}

func loadHAManifests(t *testing.T) haManifests {
	t.Helper()
	m := haManifests{kinds: map[string][]string{}}
	eachManifestFile(t, haDir, decodeHA, func(name string, objs []runtime.Object) {
		for _, obj := range objs {
			switch o := obj.(type) {
			case *appsv1.Deployment:
				setOnce(t, name, &m.deployment, o)
			case *corev1.Service:
				setOnce(t, name, &m.service, o)
			case *corev1.ConfigMap:
				setOnce(t, name, &m.configMap, o)
			case *corev1.Secret:
				setOnce(t, name, &m.secret, o)
			case *policyv1.PodDisruptionBudget:
				setOnce(t, name, &m.pdb, o)
			default:
				t.Errorf("%s: a %T has no place in the example", name, o)
			}
			m.kinds[name] = append(m.kinds[name], fmt.Sprintf("%T", obj))
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	if m.deployment == nil || m.service == nil || m.configMap == nil || m.secret == nil || m.pdb == nil {
		t.Fatalf("%s must hold a Deployment, a Service, a ConfigMap, a PodDisruptionBudget and an example Secret", haDir)
	}
	return m
}

// haEnviron is the container's environment: the test tokens (the
// example's are published, and warned about) and the example DSN.
func haEnviron(m haManifests) []string {
	return append(tokenEnviron(), "VIGIL_STORAGE_DSN="+m.secret.StringData["dsn"])
}

// TestHAManifests checks what the README promises of the three-instance
// example: strict decoding, a kustomization of everything but the Secret,
// three replicas rolling one at a time, one per node, a disruption budget
// that keeps two, the DSN from the Secret and no volume for state, the
// status page's probes and hardening, and a config that loads with the
// server's own loader and runs on PostgreSQL.
func TestHAManifests(t *testing.T) {
	m := loadHAManifests(t)
	k := loadKustomization(t, haDir)
	for name, kinds := range m.kinds {
		listed := slices.Contains(k.Resources, name)
		if secret := slices.Contains(kinds, "*v1.Secret"); secret == listed {
			t.Errorf("kustomization.yaml: %s listed = %v (list every manifest but the example Secret)", name, listed)
		}
	}

	d := m.deployment
	spec, pod, c := d.Spec, d.Spec.Template.Spec, container(t, d)
	labels := spec.Template.Labels
	if spec.Replicas == nil || *spec.Replicas != 3 {
		t.Errorf("replicas = %v, want 3", spec.Replicas)
	}
	ru := spec.Strategy.RollingUpdate
	if spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 1 ||
		ru.MaxSurge == nil || ru.MaxSurge.IntValue() != 0 {
		t.Errorf("strategy %+v, want RollingUpdate, one pod at a time without surge (the anti-affinity is required)", spec.Strategy)
	}
	aa := pod.Affinity
	if aa == nil || aa.PodAntiAffinity == nil || len(aa.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Fatal("want one required pod anti-affinity term")
	}
	term := aa.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0]
	if term.TopologyKey != "kubernetes.io/hostname" || term.LabelSelector == nil || !matches(term.LabelSelector.MatchLabels, labels) {
		t.Errorf("anti-affinity %+v, want one pod per node (hostname) selecting these pods", term)
	}
	if p := m.pdb.Spec; p.Selector == nil || !matches(p.Selector.MatchLabels, labels) || p.MaxUnavailable == nil || p.MaxUnavailable.IntValue() != 1 {
		t.Errorf("PodDisruptionBudget %+v, want at most one of these pods disrupted", p)
	}
	if !matches(m.service.Spec.Selector, labels) {
		t.Error("the Service does not select the pods")
	}

	// No state on disk: no claim, no --data-dir.
	if _, ok := argValue(c.Args, "--data-dir"); ok {
		t.Error("--data-dir: the state is in PostgreSQL")
	}
	for _, v := range pod.Volumes {
		if v.PersistentVolumeClaim != nil {
			t.Errorf("volume %s claims storage: the state is in PostgreSQL", v.Name)
		}
	}
	checkHTTPProbe(t, c, "livenessProbe", c.LivenessProbe, "/healthz")
	checkHTTPProbe(t, c, "readinessProbe", c.ReadinessProbe, "/readyz")
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container securityContext %+v, want the status page's hardening", sc)
	}
	if g := pod.TerminationGracePeriodSeconds; g == nil || *g < 12 {
		t.Errorf("terminationGracePeriodSeconds = %v: the last write and the release of the lease need 12 s at most", g)
	}
	page := loadManifests(t)
	if img := container(t, page.deployment).Image; c.Image != img || len(k.Images) != 1 || k.Images[0].Name != img {
		t.Errorf("image %q, want the status page's %q", c.Image, img)
	}

	// The config: every ${NAME} from the Secret, and it loads on PostgreSQL.
	file, _ := argValue(c.Args, "-c", "--config")
	text := m.configMap.Data[filepath.Base(file)]
	if text == "" {
		t.Fatalf("the ConfigMap has no %s", filepath.Base(file))
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	for _, ref := range regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`).FindAllStringSubmatch(text, -1) {
		e, ok := env[ref[1]]
		if !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != m.secret.Name {
			t.Errorf("${%s} does not come from the Secret %s", ref[1], m.secret.Name)
			continue
		}
		if _, ok := m.secret.StringData[e.ValueFrom.SecretKeyRef.Key]; !ok {
			t.Errorf("%s reads key %q, which the example Secret lacks", ref[1], e.ValueFrom.SecretKeyRef.Key)
		}
	}
	cfg := &config.Config{}
	warnings, err := config.Decode([]byte(text), haEnviron(m), cfg, providers.Kinds().Notifiers()...)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	for _, w := range warnings {
		t.Errorf("warning: %s: %s", w.Path, w.Message)
	}
	if cfg.Storage.DSN != m.secret.StringData["dsn"] {
		t.Errorf("storage.dsn = %q, want the Secret's", cfg.Storage.DSN)
	}
	// Within 15 s: the lease, plus one attempt of another instance.
	if failover := cfg.Storage.LeaseTTL + cfg.Storage.LeaseRenew; failover > 15e9 {
		t.Errorf("lease_ttl + lease_renew = %v: a takeover would take longer than 15 s", failover)
	}
}

// matches reports whether selector selects labels.
func matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// TestHAKustomizeBuild renders the example with kubectl when installed.
func TestHAKustomizeBuild(t *testing.T) {
	objs, err := decodeHA(kustomize(t, haDir))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if _, ok := o.(*corev1.Secret); ok {
			t.Error("rendered output holds a Secret")
		}
	}
}
