package check

import (
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// gatewayContainer is the name of the gateway's container in its
// Deployment; the other containers (Redis) are not the gateway.
const gatewayContainer = "gateway"

// Check reports where the manifests disagree with each other or with the
// gateway's source.
func Check(manifests []Manifest, gw Gateway) []error {
	c := checker{gw: gw, configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	for _, m := range manifests {
		switch o := m.Object.(type) {
		case *corev1.ConfigMap:
			c.configMaps[o.Name] = o
		case *corev1.Secret:
			c.secrets[o.Name] = o
		case *appsv1.Deployment:
			c.deployments = append(c.deployments, o)
		case *corev1.Service:
			c.services = append(c.services, o)
		case *policyv1.PodDisruptionBudget:
			c.budgets = append(c.budgets, o)
		case *networkingv1.NetworkPolicy:
			c.policies = append(c.policies, o)
		default:
			c.fail(m.File, "%T is a kind the checks do not know", o)
		}
	}
	c.image()
	gateways := 0
	for _, d := range c.deployments {
		c.deployment(d)
		for _, ctr := range d.Spec.Template.Spec.Containers {
			if ctr.Name == gatewayContainer {
				gateways++
				c.gateway(d, ctr)
			}
		}
	}
	if gateways != 1 {
		c.fail("manifests", "%d containers named %q, want the gateway's one", gateways, gatewayContainer)
	}
	for _, s := range c.services {
		c.service(s)
	}
	for _, b := range c.budgets {
		c.budget(b)
	}
	for _, p := range c.policies {
		c.policy(p)
	}
	return c.errs
}

type checker struct {
	gw          Gateway
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	budgets     []*policyv1.PodDisruptionBudget
	policies    []*networkingv1.NetworkPolicy
	errs        []error
}

func (c *checker) fail(what, format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%s: %s", what, fmt.Sprintf(format, args...)))
}

// image: the Dockerfile exposes the port the gateway listens on by default.
func (c *checker) image() {
	if port := portOf(c.gw.Defaults["ADDR"]); port != c.gw.ImagePort {
		c.fail("Dockerfile", "EXPOSE %s, but ADDR defaults to %q", c.gw.ImagePort, c.gw.Defaults["ADDR"])
	}
}

// deployment: what every Deployment here needs, the gateway's and Redis.
func (c *checker) deployment(d *appsv1.Deployment) {
	what := "Deployment " + d.Name
	if !selects(d.Spec.Selector, d.Spec.Template.Labels) {
		c.fail(what, "its selector does not select its own pods")
	}
	pod := d.Spec.Template.Spec
	if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		c.fail(what, "runAsNonRoot must be true")
	}
	for _, ctr := range pod.Containers {
		what := what + ", container " + ctr.Name
		for _, q := range []struct {
			list corev1.ResourceList
			name corev1.ResourceName
			kind string
		}{
			{ctr.Resources.Requests, corev1.ResourceCPU, "requests"},
			{ctr.Resources.Requests, corev1.ResourceMemory, "requests"},
			{ctr.Resources.Limits, corev1.ResourceMemory, "limits"},
		} {
			if v, ok := q.list[q.name]; !ok || v.IsZero() {
				c.fail(what, "no %s.%s", q.kind, q.name)
			}
		}
		if sc := ctr.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			c.fail(what, "needs readOnlyRootFilesystem: true and allowPrivilegeEscalation: false")
		}
		for kind, probe := range map[string]*corev1.Probe{"liveness": ctr.LivenessProbe, "readiness": ctr.ReadinessProbe} {
			if probe == nil {
				c.fail(what, "no %s probe", kind)
				continue
			}
			if port, ok := probePort(probe); ok {
				if _, ok := containerPort(ctr, port); !ok {
					c.fail(what, "the %s probe's port %s is not a port of the container", kind, port.String())
				}
			}
		}
	}
}

// gateway: the gateway's container agrees with the gateway's source.
func (c *checker) gateway(d *appsv1.Deployment, ctr corev1.Container) {
	what := "Deployment " + d.Name + ", container " + ctr.Name
	env := c.environment(what, ctr)
	setting := func(name string) string {
		if v := strings.TrimSpace(env[name]); v != "" {
			return v
		}
		return c.gw.Defaults[name]
	}

	// The probes reach the gateway's own routes on ADDR's port.
	addrPort := portOf(setting("ADDR"))
	if addrPort == "" {
		c.fail(what, "ADDR %q has no port", setting("ADDR"))
	}
	for _, p := range []struct {
		kind  string
		probe *corev1.Probe
		path  string
	}{
		{"liveness", ctr.LivenessProbe, "/healthz"},
		{"readiness", ctr.ReadinessProbe, "/readyz"},
	} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			c.fail(what, "the %s probe must be an httpGet of %s", p.kind, p.path)
			continue
		}
		get := p.probe.HTTPGet
		if get.Path != p.path {
			c.fail(what, "the %s probe gets %s, want %s", p.kind, get.Path, p.path)
		}
		if !c.gw.Routes["GET "+get.Path] {
			c.fail(what, "the gateway serves no GET %s (internal/httpserver)", get.Path)
		}
		if get.Scheme != "" && get.Scheme != corev1.URISchemeHTTP {
			c.fail(what, "the %s probe uses %s; the gateway serves plain HTTP (TLS ends at the ingress)", p.kind, get.Scheme)
		}
		if port, ok := containerPort(ctr, get.Port); !ok || strconv.Itoa(int(port)) != addrPort {
			c.fail(what, "the %s probe's port %s is not ADDR's port %s", p.kind, get.Port.String(), addrPort)
		}
	}
	if _, ok := containerPort(ctr, intstr.Parse(addrPort)); !ok {
		c.fail(what, "no container port for ADDR's port %s", addrPort)
	}
	metricsPort := addrPort
	if m := setting("METRICS_ADDR"); m != "" {
		metricsPort = portOf(m)
		if _, ok := containerPort(ctr, intstr.Parse(metricsPort)); !ok {
			c.fail(what, "no container port for METRICS_ADDR's port %q", metricsPort)
		}
	}
	if p, ok := d.Spec.Template.Annotations["prometheus.io/port"]; ok && p != metricsPort {
		c.fail(what, "prometheus.io/port is %s, but /metrics is served on port %s", p, metricsPort)
	}

	// The drain fits in the termination grace period, and readiness
	// notices it within SHUTDOWN_DELAY (README, Deployment).
	delay, err := time.ParseDuration(setting("SHUTDOWN_DELAY"))
	if err != nil {
		c.fail(what, "SHUTDOWN_DELAY: %v", err)
	}
	timeout, err := time.ParseDuration(setting("REQUEST_TIMEOUT"))
	if err != nil {
		c.fail(what, "REQUEST_TIMEOUT: %v", err)
	}
	grace := 30 * time.Second // Kubernetes' default
	if s := d.Spec.Template.Spec.TerminationGracePeriodSeconds; s != nil {
		grace = time.Duration(*s) * time.Second
	}
	if drain := delay + timeout + c.gw.WriteGrace; grace < drain {
		c.fail(what, "terminationGracePeriodSeconds is %s, shorter than the drain: SHUTDOWN_DELAY %s + REQUEST_TIMEOUT %s + %s to write the last answers = %s",
			grace, delay, timeout, c.gw.WriteGrace, drain)
	}
	if r := ctr.ReadinessProbe; r != nil {
		period, threshold := r.PeriodSeconds, r.FailureThreshold
		if period == 0 {
			period = 10
		}
		if threshold == 0 {
			threshold = 3
		}
		if notice := time.Duration(period*threshold) * time.Second; notice >= delay {
			c.fail(what, "the readiness probe notices a drain after %s (periodSeconds × failureThreshold), not within SHUTDOWN_DELAY %s", notice, delay)
		}
	}

	// The Go runtime's soft limit is below the container's hard one.
	if v := setting("GOMEMLIMIT"); v != "" && v != "off" {
		soft, err := goBytes(v)
		limit := ctr.Resources.Limits.Memory()
		switch {
		case err != nil:
			c.fail(what, "GOMEMLIMIT: %v", err)
		case limit.IsZero() || soft >= limit.Value():
			c.fail(what, "GOMEMLIMIT %s is not below the memory limit %s", v, limit)
		}
	}

	// The image's user, if the pod names one.
	var users []*int64
	if sc := d.Spec.Template.Spec.SecurityContext; sc != nil {
		users = append(users, sc.RunAsUser)
	}
	if sc := ctr.SecurityContext; sc != nil {
		users = append(users, sc.RunAsUser)
	}
	for _, uid := range users {
		if uid != nil && *uid != c.gw.ImageUser {
			c.fail(what, "runAsUser %d, but the image's USER is %d", *uid, c.gw.ImageUser)
		}
	}
}

// environment is the gateway container's environment, each variable
// checked: one the gateway reads, and a secret only from a Secret.
func (c *checker) environment(what string, ctr corev1.Container) map[string]string {
	env := map[string]string{}
	set := func(name, value, from string, fromSecret bool) {
		if !c.gw.Variables[name] {
			c.fail(what, "%s (%s) is not a variable the gateway reads", name, from)
		}
		if c.gw.Secrets[name] && !fromSecret {
			c.fail(what, "%s is a secret, but comes from %s: keep it in a Secret", name, from)
		}
		env[name] = value
	}
	for _, src := range ctr.EnvFrom {
		if src.Prefix != "" {
			c.fail(what, "envFrom prefix %q renames the gateway's variables", src.Prefix)
		}
		switch {
		case src.ConfigMapRef != nil:
			name := src.ConfigMapRef.Name
			cm, ok := c.configMaps[name]
			if !ok {
				c.fail(what, "no ConfigMap %s in the manifests", name)
				continue
			}
			for _, k := range slices.Sorted(maps.Keys(cm.Data)) {
				set(k, cm.Data[k], "ConfigMap "+name, false)
			}
		case src.SecretRef != nil:
			name := src.SecretRef.Name
			s, ok := c.secrets[name]
			if !ok {
				c.fail(what, "no Secret %s in the manifests", name)
				continue
			}
			for _, k := range slices.Sorted(maps.Keys(s.StringData)) {
				set(k, s.StringData[k], "Secret "+name, true)
			}
			for _, k := range slices.Sorted(maps.Keys(s.Data)) {
				set(k, string(s.Data[k]), "Secret "+name, true)
			}
		}
	}
	for _, e := range ctr.Env {
		switch from := e.ValueFrom; {
		case from == nil:
			set(e.Name, e.Value, "env", false)
		case from.SecretKeyRef != nil:
			ref := from.SecretKeyRef
			s, ok := c.secrets[ref.Name]
			if !ok {
				c.fail(what, "%s: no Secret %s in the manifests", e.Name, ref.Name)
				continue
			}
			value, ok := s.StringData[ref.Key]
			if !ok {
				value = string(s.Data[ref.Key])
			}
			set(e.Name, value, "Secret "+ref.Name, true)
		case from.ConfigMapKeyRef != nil:
			ref := from.ConfigMapKeyRef
			cm, ok := c.configMaps[ref.Name]
			if !ok {
				c.fail(what, "%s: no ConfigMap %s in the manifests", e.Name, ref.Name)
				continue
			}
			set(e.Name, cm.Data[ref.Key], "ConfigMap "+ref.Name, false)
		default: // a field or resource of the pod: not a secret
			set(e.Name, "", "env", false)
		}
	}
	return env
}

// service selects pods of a Deployment here, on ports they have.
func (c *checker) service(s *corev1.Service) {
	what := "Service " + s.Name
	if len(s.Spec.Selector) == 0 {
		c.fail(what, "no selector")
		return
	}
	d := c.selected(&metav1.LabelSelector{MatchLabels: s.Spec.Selector})
	if d == nil {
		c.fail(what, "selects no Deployment's pods")
		return
	}
	for _, p := range s.Spec.Ports {
		if !podPort(d, p.TargetPort) {
			c.fail(what, "targetPort %s is not a port of Deployment %s", p.TargetPort.String(), d.Name)
		}
	}
}

// budget selects a Deployment's pods, and lets one go at a time.
func (c *checker) budget(b *policyv1.PodDisruptionBudget) {
	what := "PodDisruptionBudget " + b.Name
	d := c.selected(b.Spec.Selector)
	if d == nil {
		c.fail(what, "selects no Deployment's pods")
		return
	}
	replicas := int32(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	switch {
	case b.Spec.MaxUnavailable != nil && b.Spec.MaxUnavailable.IntValue() < 1 && b.Spec.MaxUnavailable.Type == intstr.Int:
		c.fail(what, "maxUnavailable below 1 blocks every node drain")
	case b.Spec.MinAvailable != nil && b.Spec.MinAvailable.Type == intstr.Int && b.Spec.MinAvailable.IntVal >= replicas:
		c.fail(what, "minAvailable %d with %d replicas blocks every node drain", b.Spec.MinAvailable.IntVal, replicas)
	}
}

// policy selects a Deployment's pods, and lets in pods of a Deployment,
// on ports they have.
func (c *checker) policy(p *networkingv1.NetworkPolicy) {
	what := "NetworkPolicy " + p.Name
	d := c.selected(&p.Spec.PodSelector)
	if d == nil {
		c.fail(what, "selects no Deployment's pods")
		return
	}
	for _, rule := range p.Spec.Ingress {
		for _, peer := range rule.From {
			if peer.PodSelector != nil && c.selected(peer.PodSelector) == nil {
				c.fail(what, "lets in no Deployment's pods")
			}
		}
		for _, port := range rule.Ports {
			if port.Port != nil && !podPort(d, *port.Port) {
				c.fail(what, "port %s is not a port of Deployment %s", port.Port.String(), d.Name)
			}
		}
	}
}

// selected is the Deployment whose pods sel selects, or nil.
func (c *checker) selected(sel *metav1.LabelSelector) *appsv1.Deployment {
	for _, d := range c.deployments {
		if selects(sel, d.Spec.Template.Labels) {
			return d
		}
	}
	return nil
}

// selects: a non-empty selector that matches these labels.
func selects(sel *metav1.LabelSelector, podLabels map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && !s.Empty() && s.Matches(labels.Set(podLabels))
}

// containerPort is the number of a container's port, given by name or
// number; ok only if the container declares it.
func containerPort(ctr corev1.Container, port intstr.IntOrString) (int32, bool) {
	for _, p := range ctr.Ports {
		if (port.Type == intstr.String && p.Name == port.StrVal) || (port.Type == intstr.Int && p.ContainerPort == port.IntVal) {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

func podPort(d *appsv1.Deployment, port intstr.IntOrString) bool {
	return slices.ContainsFunc(d.Spec.Template.Spec.Containers, func(ctr corev1.Container) bool {
		_, ok := containerPort(ctr, port)
		return ok
	})
}

func probePort(p *corev1.Probe) (intstr.IntOrString, bool) {
	switch {
	case p.HTTPGet != nil:
		return p.HTTPGet.Port, true
	case p.TCPSocket != nil:
		return p.TCPSocket.Port, true
	}
	return intstr.IntOrString{}, false
}

// portOf is the port of a listen address such as ":8080", or "".
func portOf(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return port
}

// goBytes reads GOMEMLIMIT's syntax: bytes, with B, KiB, MiB, GiB or TiB.
func goBytes(v string) (int64, error) {
	m := regexp.MustCompile(`^(\d+)(B|KiB|MiB|GiB|TiB)?$`).FindStringSubmatch(v)
	if m == nil {
		return 0, fmt.Errorf("%q is not a size such as 230MiB", v)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	shift := map[string]uint{"": 0, "B": 0, "KiB": 10, "MiB": 20, "GiB": 30, "TiB": 40}[m[2]]
	return n << shift, err
}
