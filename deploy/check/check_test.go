package check

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// root is the repository, deploy/check's grandparent.
const root = "../.."

func readAll(t *testing.T) (map[string][]byte, Gateway) {
	t.Helper()
	gw, err := ReadGateway(root)
	require.NoError(t, err)
	files, err := ReadFiles("..", "../redis")
	require.NoError(t, err)
	return files, gw
}

// TestManifests: every document of deploy/ and deploy/redis/ decodes
// strictly into the Kubernetes API types, and agrees with the gateway.
func TestManifests(t *testing.T) {
	files, gw := readAll(t)
	manifests, err := Decode(files)
	require.NoError(t, err)

	kinds := map[string]int{}
	for _, m := range manifests {
		kinds[m.Object.GetObjectKind().GroupVersionKind().Kind]++
	}
	assert.Equal(t, map[string]int{
		"ConfigMap": 1, "Secret": 2, "Deployment": 2, "Service": 2, "PodDisruptionBudget": 1, "NetworkPolicy": 1,
	}, kinds, "the documents of deploy/ and deploy/redis/")
	for _, err := range Check(manifests, gw) {
		t.Error(err)
	}
}

// TestReadGateway: what the checks rely on is read from the source.
func TestReadGateway(t *testing.T) {
	gw, err := ReadGateway(root)
	require.NoError(t, err)
	for _, name := range []string{"ADDR", "METRICS_ADDR", "SHUTDOWN_DELAY", "REQUEST_TIMEOUT", "BOTPENGUIN_API_KEY",
		"OTEL_SERVICE_NAME", "GOGC", "GOMEMLIMIT", "GOMAXPROCS"} {
		assert.True(t, gw.Variables[name], name)
	}
	assert.False(t, gw.Variables["PORT"], "not a variable of the gateway")
	assert.Equal(t, map[string]bool{
		"BOTPENGUIN_API_KEY": true, "GATEWAY_ACCESS_TOKENS": true, "GATEWAY_WRITE_TOKENS": true,
		"GATEWAY_LOGIN_TOKENS": true, "REDIS_URL": true, "CACHE_KEY_SECRET": true,
	}, gw.Secrets)
	assert.Equal(t, ":8080", gw.Defaults["ADDR"])
	assert.Equal(t, "5s", gw.Defaults["SHUTDOWN_DELAY"])
	assert.Equal(t, "30s", gw.Defaults["REQUEST_TIMEOUT"])
	assert.Equal(t, "0", gw.Defaults["CACHE_TTL"])
	assert.Equal(t, "2", gw.Defaults["UPSTREAM_RETRIES"])
	assert.NotContains(t, gw.Defaults, "CACHE_KEY_SECRET", "p.fail's message is no default")
	assert.True(t, gw.Routes["GET /healthz"])
	assert.True(t, gw.Routes["GET /readyz"])
	assert.Equal(t, 10*time.Second, gw.WriteGrace)
	assert.Equal(t, "8080", gw.ImagePort)
	assert.Equal(t, int64(65532), gw.ImageUser)
}

// TestCheckCatches breaks the manifests one way at a time: each must be
// refused, with a message that says what is wrong.
func TestCheckCatches(t *testing.T) {
	for name, tc := range map[string]struct {
		file, old, new string
		want           string
	}{
		"unknown field": {"../deployment.yaml", "readinessProbe:", "readinesProbe:",
			`unknown field "spec.template.spec.containers[0].readinesProbe"`},
		"field in the wrong place": {"../service.yaml", "  selector:", "  podSelector:",
			`unknown field "spec.podSelector"`},
		"duplicate field": {"../poddisruptionbudget.yaml", "  maxUnavailable: 1", "  maxUnavailable: 1\n  maxUnavailable: 2",
			`"maxUnavailable" already set`},
		"unknown kind": {"../poddisruptionbudget.yaml", "kind: PodDisruptionBudget", "kind: DisruptionBudget",
			`no kind "DisruptionBudget"`},
		"a variable the gateway does not read": {"../configmap.yaml", `  ADDR: ":8080"`, `  ADDR: ":8080"` + "\n  PORT: \"8080\"",
			"PORT (ConfigMap botpenguin-gateway-config) is not a variable the gateway reads"},
		"a secret in the ConfigMap": {"../configmap.yaml", `  LOG_LEVEL: "info"`, `  LOG_LEVEL: "info"` + "\n  CACHE_KEY_SECRET: \"\"",
			"CACHE_KEY_SECRET is a secret, but comes from ConfigMap botpenguin-gateway-config"},
		"a missing Secret": {"../deployment.yaml", "name: botpenguin-gateway-secrets", "name: gateway-secrets",
			"no Secret gateway-secrets in the manifests"},
		"liveness on another path": {"../deployment.yaml", "path: /healthz", "path: /health",
			"the liveness probe gets /health, want /healthz"},
		"readiness on liveness": {"../deployment.yaml", "path: /readyz", "path: /healthz",
			"the readiness probe gets /healthz, want /readyz"},
		"probe on the metrics port": {"../deployment.yaml", "              path: /readyz\n              port: http", "              path: /readyz\n              port: metrics",
			"the readiness probe's port metrics is not ADDR's port 8080"},
		"ADDR moved, not the probes": {"../configmap.yaml", `ADDR: ":8080"`, `ADDR: ":8081"`,
			"the liveness probe's port http is not ADDR's port 8081"},
		"metrics annotation": {"../deployment.yaml", `prometheus.io/port: "9090"`, `prometheus.io/port: "8080"`,
			"prometheus.io/port is 8080, but /metrics is served on port 9090"},
		"grace period too short": {"../deployment.yaml", "terminationGracePeriodSeconds: 50", "terminationGracePeriodSeconds: 44",
			"terminationGracePeriodSeconds is 44s, shorter than the drain: SHUTDOWN_DELAY 5s + REQUEST_TIMEOUT 30s + 10s to write the last answers = 45s"},
		"grace period unset": {"../deployment.yaml", "terminationGracePeriodSeconds: 50", "",
			"terminationGracePeriodSeconds is 30s"},
		"longer REQUEST_TIMEOUT": {"../configmap.yaml", `REQUEST_TIMEOUT: "30s"`, `REQUEST_TIMEOUT: "1m"`,
			"REQUEST_TIMEOUT 1m0s"},
		"readiness too slow for the delay": {"../deployment.yaml", "            periodSeconds: 2\n            timeoutSeconds: 1\n            failureThreshold: 2", "            periodSeconds: 2\n            timeoutSeconds: 1\n            failureThreshold: 3",
			"the readiness probe notices a drain after 6s"},
		"GOMEMLIMIT over the limit": {"../configmap.yaml", `GOMEMLIMIT: "230MiB"`, `GOMEMLIMIT: "256MiB"`,
			"GOMEMLIMIT 256MiB is not below the memory limit 256Mi"},
		"no memory limit": {"../deployment.yaml", "            limits:\n              memory: 256Mi\n", "",
			"container gateway: no limits.memory"},
		"root": {"../deployment.yaml", "runAsUser: 65532", "runAsUser: 0",
			"runAsUser 0, but the image's USER is 65532"},
		"writable root filesystem": {"../redis/redis.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false",
			"container redis: needs readOnlyRootFilesystem: true"},
		"service selects nothing": {"../service.yaml", "    app.kubernetes.io/name: botpenguin-gateway\n  ports:", "    app: gateway\n  ports:",
			"Service botpenguin-gateway: selects no Deployment's pods"},
		"service to no port": {"../service.yaml", "targetPort: http", "targetPort: web",
			"targetPort web is not a port of Deployment botpenguin-gateway"},
		"budget blocks drains": {"../poddisruptionbudget.yaml", "maxUnavailable: 1", "minAvailable: 2",
			"minAvailable 2 with 2 replicas blocks every node drain"},
		"Redis open to all": {"../redis/redis.yaml", "              app.kubernetes.io/name: botpenguin-gateway\n      ports:", "              app: frontend\n      ports:",
			"NetworkPolicy botpenguin-gateway-redis: lets in no Deployment's pods"},
	} {
		t.Run(name, func(t *testing.T) {
			files, gw := readAll(t)
			text := string(files[tc.file])
			require.Equal(t, 1, strings.Count(text, tc.old), "%s holds %q once", tc.file, tc.old)
			files[tc.file] = []byte(strings.Replace(text, tc.old, tc.new, 1))

			manifests, err := Decode(files)
			if err != nil {
				assert.ErrorContains(t, err, tc.want)
				return
			}
			errs := Check(manifests, gw)
			require.NotEmpty(t, errs, "no problem found")
			var all []string
			for _, err := range errs {
				all = append(all, err.Error())
			}
			assert.Contains(t, strings.Join(all, "\n"), tc.want)
		})
	}
}

// TestCheckCatchesImageDrift: the Dockerfile's EXPOSE follows ADDR's
// default.
func TestCheckCatchesImageDrift(t *testing.T) {
	files, gw := readAll(t)
	manifests, err := Decode(files)
	require.NoError(t, err)
	gw.ImagePort = "80"
	errs := Check(manifests, gw)
	require.Len(t, errs, 1)
	assert.EqualError(t, errs[0], `Dockerfile: EXPOSE 80, but ADDR defaults to ":8080"`)
}
