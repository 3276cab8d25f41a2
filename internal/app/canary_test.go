package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/botpenguin-gateway/gateway/internal/app"
	"github.com/botpenguin-gateway/gateway/internal/config"
	"github.com/botpenguin-gateway/gateway/internal/httpserver"
	"github.com/botpenguin-gateway/gateway/internal/redisstore/redistest"
	"github.com/botpenguin-gateway/gateway/internal/telemetry"
	"github.com/botpenguin-gateway/gateway/upstream"
	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

// TestSecretCanaries runs every path of the writes and the login tokens
// with canary secrets (a password, the agency key, the server key, the
// client tokens, the cache key secret, the fake's login tokens), in
// pass-through and server-key mode, with and without Redis, and then
// searches every output the gateway made for them: each debug log line
// (panics included), each line of /metrics, each span (name, status,
// attributes, events), each Redis key and value, and each answer (status,
// headers, body, error messages). A secret must appear nowhere, in any
// encoding; a login token only in the answer of the request that asked
// for it; a mutation's variables in no log line, metric, span or Redis key.
func TestSecretCanaries(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var total scanCounts
	t.Cleanup(func() { t.Logf("canary scan, all modes: %s", total) })
	for _, m := range []canaryMode{
		{name: "pass-through"},
		{name: "pass-through with Redis", redis: true},
		{name: "server-key", serverKey: true},
		{name: "server-key with Redis", serverKey: true, redis: true},
	} {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			h := newCanaryHarness(t, m)
			h.runScenarios(t)
			counts := h.scan(t)
			t.Logf("canary scan, %s: %s", m.name, counts)
			mu.Lock()
			total.add(counts)
			mu.Unlock()
		})
	}
}

// TestCanaryScanFindsEncodedSecrets shows that the scan can fail: a secret
// hidden in each of the encodings the scan knows, or a login token in an
// answer that did not ask for it, is found.
func TestCanaryScanFindsEncodedSecrets(t *testing.T) {
	t.Parallel()
	secret := canary{name: "password", value: "Canary pw+/" + randomHex(8), forbidIn: allKinds}
	key := upstreamtest.LoginKey("661000009e3779b97f4a7c15")
	inner, _ := json.Marshal(map[string]string{"message": "refused " + secret.value})
	stored, _ := json.Marshal(map[string][]byte{"outcome": inner}) // []byte is base64 in JSON
	for name, text := range map[string]string{
		"raw":                  "x" + secret.value + "x",
		"query-escaped":        "?pw=" + url.QueryEscape(secret.value),
		"path-escaped":         "/" + url.PathEscape(secret.value),
		"JSON in base64":       string(stored),
		"hex":                  hex.EncodeToString([]byte("pw: " + secret.value)),
		"JSON-escaped in JSON": `{"line": ` + string(must(json.Marshal(`{"pw": "`+secret.value+`"}`))) + `}`,
	} {
		s := scanner{canaries: []canary{secret}}
		s.check(output{kind: kindLog, label: name, text: text})
		assert.Len(t, s.leaks, 1, "%s: %s", name, text)
	}
	s := scanner{loginKeys: map[string]string{key: "a customer"}}
	s.check(output{kind: kindAnswer, label: "another's answer", text: `{"key":"` + strings.ToUpper(key) + `"}`})
	s.check(output{kind: kindAnswer, label: "the asker's answer", text: `{"key":"` + key + `"}`, allowed: map[string]bool{key: true}})
	s.check(output{kind: kindRedisValue, label: "a cached value", text: hex.EncodeToString([]byte(key))})
	assert.Len(t, s.leaks, 2, "%v", s.leaks)
}

type canaryMode struct {
	name             string
	serverKey, redis bool
}

// harness is one gateway, built by app.New as the binary builds it, with
// everything it outputs captured.
type harness struct {
	mode   canaryMode
	up     *upstreamtest.Server
	gw     *app.Gateway
	srv    *httptest.Server
	logs   *syncBuffer
	spans  *tracetest.SpanRecorder
	redis  *redistest.Server
	clock  *steppedClock
	panics *panicSwitch

	// The credentials: in pass-through mode all are the agency key but
	// other, another agency's key; in server-key mode the client tokens
	// of each list (admin is in both the write and login lists).
	writer, loginer, reader, admin, other string
	// otherTenant is set when other is an agency with its own users.
	otherTenant bool

	password string // every create's password
	varCore  string // in every create's email and name
	canaries []canary

	mu      sync.Mutex
	answers []*recordedAnswer
	seq     atomic.Int64
}

// recordedAnswer is one answer as the client got it, and the login tokens
// it asked for.
type recordedAnswer struct {
	label   string
	text    string
	allowed map[string]bool
}

// answer is a decoded answer.
type answer struct {
	status int
	header http.Header
	raw    string
	rec    *recordedAnswer
	Data   map[string]any `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func (a answer) codes() []string {
	var codes []string
	for _, e := range a.Errors {
		code, _ := e.Extensions["code"].(string)
		codes = append(codes, code)
	}
	return codes
}

// allow lets this answer hold the login tokens it asked for.
func (a answer) allow(keys ...string) {
	for _, k := range keys {
		a.rec.allowed[k] = true
	}
}

const (
	createMutation = `mutation Create($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { id name contact { email } } userErrors { field code message } } }`
	createAndSignIn = `mutation CreateAndSignIn($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { id loginToken { key active } } userErrors { field code message } } }`
	pageTokens  = `query PageTokens { customers(page: 1) { nodes { id loginToken { key active } } } }`
	ownerToken  = `query OwnerToken($email: String!) { userLoginToken(email: $email, type: AGENT) { key active } }`
	ownerEmail  = "owner@monday101.com"
	ownerUserID = "651000000000000000000001"
)

func newCanaryHarness(t *testing.T, m canaryMode) *harness {
	t.Helper()
	h := &harness{mode: m, logs: &syncBuffer{}, spans: tracetest.NewSpanRecorder(),
		clock: &steppedClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}, panics: &panicSwitch{},
		password: "Canary pw+/" + randomHex(8), varCore: randomHex(8)}
	secret := func(name, value string) string {
		h.canaries = append(h.canaries, canary{name: name, value: value, forbidIn: allKinds})
		return value
	}
	secret("password", h.password)
	cacheKeySecret := secret("CACHE_KEY_SECRET", "cache-key-canary-"+randomHex(8))
	h.other = secret("another agency's key", "agency-other-canary-"+randomHex(8))
	vars := map[string]string{
		"LOG_LEVEL":        "debug",
		"CACHE_TTL":        "30s",
		"CACHE_KEY_SECRET": cacheKeySecret,
		"UPSTREAM_TIMEOUT": "1s",
		"RATE_LIMIT_RPS":   "1",
		"RATE_LIMIT_BURST": "5",
	}
	upOpts := []upstreamtest.Option{}
	if m.serverKey {
		vars["BOTPENGUIN_API_KEY"] = secret("server key", "server-key-canary-"+randomHex(8))
		h.reader = secret("access token", "access-canary-"+randomHex(8))
		h.writer = secret("write token", "write-canary-"+randomHex(8))
		h.loginer = secret("login token (client)", "login-canary-"+randomHex(8))
		h.admin = secret("write and login token", "admin-canary-"+randomHex(8))
		vars["GATEWAY_ACCESS_TOKENS"] = h.reader
		vars["GATEWAY_WRITE_TOKENS"] = h.writer + "," + h.admin
		vars["GATEWAY_LOGIN_TOKENS"] = h.loginer + "," + h.admin
	} else {
		agency := secret("agency key", "agency-canary-"+randomHex(8))
		h.writer, h.loginer, h.reader, h.admin = agency, agency, agency, agency
		h.otherTenant = true
		upOpts = append(upOpts, upstreamtest.WithTenant(h.other, "other"))
	}
	h.canaries = append(h.canaries,
		canary{name: "a create's email or name", value: h.varCore, forbidIn: kindLog | kindPanic | kindMetric | kindSpan | kindRedisKey},
		canary{name: "a looked-up email", value: ownerEmail, forbidIn: kindLog | kindPanic | kindMetric | kindSpan | kindRedisKey | kindRedisValue},
	)
	h.up = upstreamtest.NewServer(upOpts...)
	t.Cleanup(h.up.Close)
	vars["BOTPENGUIN_BASE_URL"] = h.up.URL
	if m.redis {
		h.redis = redistest.Start(t)
		vars["REDIS_URL"] = h.redis.URL
	}
	cfg, err := config.Load(func(name string) string { return vars[name] })
	require.NoError(t, err)

	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(h.spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	log := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: cfg.LogLevel}))
	h.gw, err = app.New(cfg, app.Deps{
		Logger: log, Registry: prometheus.NewRegistry(), Now: h.clock.Now, TracerProvider: tp,
		UpstreamOptions: []upstream.Option{
			upstream.WithBackoff(time.Millisecond, 2*time.Millisecond),
			// As app.New wraps the transport for tracing, with a panic
			// under it on demand.
			upstream.WithTransportWrapper(func(rt http.RoundTripper) http.RoundTripper {
				return telemetry.UpstreamTransport(panicky{rt, h.panics},
					otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(httpserver.Propagator()))
			}),
		},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.gw.Close(context.Background()) })
	h.srv = httptest.NewUnstartedServer(h.gw)
	h.srv.Config.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn) // as the binary's
	h.srv.Start()
	t.Cleanup(h.srv.Close)
	return h
}

// runScenarios runs every path of the writes and the login tokens.
func (h *harness) runScenarios(t *testing.T) {
	serverKey := h.mode.serverKey

	// A create, then its replay, then the key with another input.
	first := h.create(t, "create", h.writer, createMutation, h.input(1, h.password, "key-1"))
	require.Empty(t, first.codes(), first.raw)
	id := h.customerID(t, first)
	creates := h.up.CreateRequests()
	require.NotEmpty(t, creates)
	require.True(t, creates[len(creates)-1].PasswordIs(h.password), "the canary password went upstream")
	calls := h.up.CallsTo(upstreamtest.PathCreate)
	replay := h.create(t, "idempotent replay", h.writer, createMutation, h.input(1, h.password, "key-1"))
	assert.Equal(t, id, h.customerID(t, replay), replay.raw)
	assert.Equal(t, calls, h.up.CallsTo(upstreamtest.PathCreate), "a replay calls nobody")
	reused := h.create(t, "idempotency key reused", h.writer, createMutation, h.input(2, h.password, "key-1"))
	assert.Equal(t, []string{"IDEMPOTENCY_KEY_REUSED"}, userErrorCodes(reused), reused.raw)

	// A create that reads the new customer's login token.
	signIn := h.create(t, "create and sign in", h.admin, createAndSignIn, h.input(3, h.password, "key-3"))
	require.Empty(t, signIn.codes(), signIn.raw)
	newID := h.customerID(t, signIn)
	signIn.allow(upstreamtest.LoginKey(newID))
	assert.Contains(t, signIn.raw, upstreamtest.LoginKey(newID), "the asker gets its token")
	signInAgain := h.create(t, "create and sign in, replayed", h.admin, createAndSignIn, h.input(3, h.password, "key-3"))
	signInAgain.allow(upstreamtest.LoginKey(newID))
	assert.Equal(t, newID, h.customerID(t, signInAgain))
	if serverKey {
		// A write token without the login scope: created, no token.
		r := h.create(t, "create, token field forbidden", h.writer, createAndSignIn, h.input(4, h.password, ""))
		assert.Equal(t, []string{"FORBIDDEN"}, r.codes(), r.raw)
		assert.Contains(t, r.raw, `"loginToken":null`)
	}

	// Inputs refused before any upstream call.
	calls = h.up.CallsTo(upstreamtest.PathCreate)
	bad := h.input(5, h.password, "")
	bad["input"].(map[string]any)["email"] = "not an email " + h.varCore
	bad["input"].(map[string]any)["name"] = " "
	r := h.create(t, "INVALID email and name", h.writer, createMutation, bad)
	assert.Equal(t, []string{"INVALID", "INVALID"}, userErrorCodes(r), r.raw)
	r = h.create(t, "INVALID password (too long)", h.writer, createMutation, h.input(6, strings.Repeat(h.password, 8), ""))
	assert.Equal(t, []string{"INVALID"}, userErrorCodes(r), r.raw)
	r = h.create(t, "INVALID password (too short)", h.writer, createMutation, h.input(6, h.password[:7], ""))
	assert.Equal(t, []string{"INVALID"}, userErrorCodes(r), r.raw)
	typed := h.input(7, h.password, "")
	typed["input"].(map[string]any)["password"] = map[string]any{"value": h.password}
	r = h.create(t, "password of the wrong type", h.writer, createMutation, typed)
	assert.Equal(t, []string{"BAD_USER_INPUT"}, r.codes(), r.raw)
	unknown := h.input(7, h.password, "")
	unknown["input"].(map[string]any)["passwd"] = h.password
	r = h.create(t, "unknown input field", h.writer, createMutation, unknown)
	assert.Equal(t, []string{"BAD_USER_INPUT"}, r.codes(), r.raw)
	assert.Equal(t, calls, h.up.CallsTo(upstreamtest.PathCreate), "no upstream call for a refused input")

	// The upstream refuses, echoing the password (and the credential).
	echo := "password " + h.password + " refused, see https://partner:" + h.password +
		"@docs.example.com/rules?pw=" + url.QueryEscape(h.password) + "&p=" + url.PathEscape(h.password)
	h.up.SetFault(onCreate(upstreamtest.StatusMessage(409, "A user with this email already exists; "+echo)))
	r = h.create(t, "upstream 409 echoing the password", h.writer, createMutation, h.input(8, h.password, "key-8"))
	assert.Equal(t, []string{"TAKEN"}, userErrorCodes(r), r.raw)
	h.up.SetFault(onCreate(upstreamtest.StatusMessage(400, echo)))
	r = h.create(t, "upstream 400 echoing the password", h.writer, createMutation, h.input(9, h.password, "key-9"))
	assert.Equal(t, []string{"REJECTED"}, userErrorCodes(r), r.raw)
	h.up.SetFault(onCreate(upstreamtest.StatusMessage(422, "name: "+echo)))
	r = h.create(t, "upstream 422 echoing the password", h.writer, createMutation, h.input(10, h.password, ""))
	assert.Equal(t, []string{"REJECTED"}, userErrorCodes(r), r.raw)
	h.up.SetFault(onCreate(echoCredential(401, echo)))
	r = h.create(t, "upstream 401 echoing the credential", h.writer, createMutation, h.input(11, h.password, "key-11"))
	assert.Equal(t, []string{"UNAUTHENTICATED"}, r.codes(), r.raw)

	// The upstream fails: 500, a lost answer, a timeout; a 429 retried.
	h.up.SetFault(onCreate(upstreamtest.StatusMessage(500, "database refused "+echo)))
	r = h.create(t, "upstream 500 echoing the password", h.writer, createMutation, h.input(12, h.password, "key-12"))
	assert.Equal(t, []string{"UPSTREAM_UNAVAILABLE"}, r.codes(), r.raw)
	h.up.SetFault(onCreate(upstreamtest.LoseAnswer()))
	r = h.create(t, "lost answer", h.writer, createMutation, h.input(13, h.password, "key-13"))
	assert.Equal(t, []string{"UPSTREAM_UNAVAILABLE"}, r.codes(), r.raw)
	r = h.create(t, "lost answer, tried again", h.writer, createMutation, h.input(13, h.password, "key-13"))
	assert.Equal(t, []string{"TAKEN"}, userErrorCodes(r), "the first try created it: %s", r.raw)
	h.up.SetFault(onCreate(upstreamtest.Hang()))
	r = h.create(t, "upstream timeout", h.writer, createMutation, h.input(14, h.password, "key-14"))
	assert.Equal(t, []string{"UPSTREAM_UNAVAILABLE"}, r.codes(), r.raw)
	h.up.SetFault(onCreate(upstreamtest.RateLimit("0")))
	r = h.create(t, "upstream 429, retried", h.writer, createMutation, h.input(15, h.password, "key-15"))
	assert.Empty(t, r.codes(), r.raw)
	h.customerID(t, r)
	h.up.SetFault(nil)

	// A panic under the create, holding the request (credential, password).
	h.panics.create.Store(true)
	r = h.create(t, "panic in the create", h.writer, createMutation, h.input(16, h.password, ""))
	assert.Equal(t, []string{"INTERNAL_SERVER_ERROR"}, r.codes(), r.raw)
	assert.False(t, h.panics.create.Load(), "the create panicked")

	// APQ: the mutation by hash; only its text is stored.
	sum := sha256.Sum256([]byte(createMutation))
	ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}
	apqInput := h.input(17, h.password, "key-17")
	r = h.post("APQ hash only", h.writer, map[string]any{"extensions": ext, "variables": apqInput})
	assert.Equal(t, []string{"PERSISTED_QUERY_NOT_FOUND"}, r.codes(), r.raw)
	r = h.post("APQ hash and document", h.writer, map[string]any{"query": createMutation, "extensions": ext, "variables": apqInput})
	assert.Empty(t, r.codes(), r.raw)
	apqID := h.customerID(t, r)
	r = h.post("APQ by hash", h.writer, map[string]any{"extensions": ext, "variables": apqInput})
	assert.Equal(t, apqID, h.customerID(t, r), "replayed through the persisted document: %s", r.raw)

	// GET is refused for a mutation, its variables in the URL.
	calls = h.up.CallsTo(upstreamtest.PathCreate)
	r = h.get(t, "GET of the mutation", h.writer, createMutation, h.input(18, h.password, "key-18"))
	assert.NotEqual(t, http.StatusOK, r.status, r.raw)
	assert.Equal(t, calls, h.up.CallsTo(upstreamtest.PathCreate))

	// The rate limit applies to mutations (the clock stands still).
	h.clock.hold(true)
	limited := 0
	for range 6 {
		r := h.create(t, "rate-limited replay", h.writer, createMutation, h.input(1, h.password, "key-1"))
		if r.status == http.StatusTooManyRequests {
			limited++
		}
	}
	h.clock.hold(false)
	assert.Equal(t, 1, limited, "a burst of 5")

	// Login tokens: a page of customers', a user's by email, retried,
	// refused upstream (echoing the credential), panicking.
	page := h.post("tokens of a page", h.loginer, map[string]any{"query": pageTokens})
	require.Empty(t, page.codes(), page.raw)
	h.allowPageTokens(t, page, "")
	owner := h.post("userLoginToken", h.loginer, map[string]any{"query": ownerToken, "variables": map[string]any{"email": ownerEmail}})
	require.Empty(t, owner.codes(), owner.raw)
	owner.allow(upstreamtest.LoginKey(ownerUserID))
	assert.Contains(t, owner.raw, upstreamtest.LoginKey(ownerUserID))
	h.up.SetFault(onToken(upstreamtest.Times(1, upstreamtest.Status(503))))
	owner = h.post("userLoginToken, retried", h.loginer, map[string]any{"query": ownerToken, "variables": map[string]any{"email": ownerEmail}})
	assert.Empty(t, owner.codes(), owner.raw)
	owner.allow(upstreamtest.LoginKey(ownerUserID))
	h.up.SetFault(onToken(echoCredential(500, "")))
	owner = h.post("userLoginToken, upstream 500 echoing the credential", h.loginer, map[string]any{"query": ownerToken, "variables": map[string]any{"email": ownerEmail}})
	assert.Equal(t, []string{"UPSTREAM_UNAVAILABLE"}, owner.codes(), owner.raw)
	h.up.SetFault(onToken(upstreamtest.Times(1, upstreamtest.Hang())))
	owner = h.post("userLoginToken, upstream timeout, retried", h.loginer, map[string]any{"query": ownerToken, "variables": map[string]any{"email": ownerEmail}})
	assert.Empty(t, owner.codes(), owner.raw)
	owner.allow(upstreamtest.LoginKey(ownerUserID))
	h.up.SetFault(nil)
	r = h.post("userLoginToken, bad email", h.loginer, map[string]any{"query": ownerToken, "variables": map[string]any{"email": "no address " + h.varCore}})
	assert.Equal(t, []string{"BAD_USER_INPUT"}, r.codes(), r.raw)
	h.panics.token.Store(true)
	r = h.post("panic reading a token", h.loginer, map[string]any{"query": ownerToken, "variables": map[string]any{"email": ownerEmail}})
	assert.Equal(t, []string{"INTERNAL_SERVER_ERROR"}, r.codes(), r.raw)
	assert.False(t, h.panics.token.Load(), "the token read panicked")

	if serverKey {
		// A client without the scopes: FORBIDDEN, no upstream call.
		calls, tokenCalls := h.up.CallsTo(upstreamtest.PathCreate), h.up.CallsTo(upstreamtest.PathUserToken)
		r = h.post("tokens of a page, read-only client", h.reader, map[string]any{"query": pageTokens})
		assert.Contains(t, r.codes(), "FORBIDDEN", r.raw)
		r = h.post("userLoginToken, read-only client", h.reader, map[string]any{"query": ownerToken, "variables": map[string]any{"email": ownerEmail}})
		assert.Equal(t, []string{"FORBIDDEN"}, r.codes(), r.raw)
		r = h.create(t, "create, read-only client", h.reader, createMutation, h.input(19, h.password, "key-19"))
		assert.Equal(t, []string{"FORBIDDEN"}, r.codes(), r.raw)
		assert.Equal(t, calls, h.up.CallsTo(upstreamtest.PathCreate))
		assert.Equal(t, tokenCalls, h.up.CallsTo(upstreamtest.PathUserToken))
	}

	h.sameQueryFromAnotherClient(t)

	// The list after the creates (page cache, in Redis too).
	r = h.post("the list", h.reader, map[string]any{"query": `{ customers(page: 16) { nodes { id name } } }`})
	assert.Empty(t, r.codes(), r.raw)
	assert.Contains(t, r.raw, h.varCore, "the new customers are on the last page")
}

// sameQueryFromAnotherClient sends the token query of one client while
// the same query of another is in flight (the coalescer), and again once
// it answered (the answer cache): the other gets its own answer. In
// server-key mode both send the same key upstream, and the other may not
// read tokens; in pass-through mode the other is another agency, with
// users of its own.
func (h *harness) sameQueryFromAnotherClient(t *testing.T) {
	var first, second answer
	if h.mode.serverKey {
		// The first holds its token calls until the other has its answer.
		release := make(chan struct{})
		reached := make(chan string, 100)
		h.up.SetFault(onToken(upstreamtest.Notify(reached, upstreamtest.Block(release))))
		firstDone := make(chan answer, 1)
		go func() {
			firstDone <- h.post("tokens of a page, in flight", h.loginer, map[string]any{"query": pageTokens})
		}()
		select {
		case <-reached: // the first is running its token fields
		case <-time.After(10 * time.Second):
			close(release)
			t.Fatal("the first query never reached its token calls")
		}
		// The other must not wait for the first: joined to it, it would.
		secondDone := make(chan answer, 1)
		go func() {
			secondDone <- h.post("the same query, another client", h.reader, map[string]any{"query": pageTokens})
		}()
		select {
		case second = <-secondDone:
		case <-time.After(10 * time.Second):
			close(release)
			t.Fatal("the other client's identical query waited for the first: it was joined to it")
		}
		close(release)
		first = <-firstDone
		h.up.SetFault(nil)
	} else {
		var wg sync.WaitGroup
		wg.Go(func() { first = h.post("tokens of a page, at once", h.loginer, map[string]any{"query": pageTokens}) })
		wg.Go(func() {
			second = h.post("the same query, another agency", h.other, map[string]any{"query": pageTokens})
		})
		wg.Wait()
	}
	require.Empty(t, first.codes(), first.raw)
	h.allowPageTokens(t, first, "")
	h.checkOtherClient(t, second)
	other := h.reader
	if h.otherTenant {
		other = h.other
	}
	again := h.post("the same query, another client, later", other, map[string]any{"query": pageTokens})
	h.checkOtherClient(t, again)
}

func (h *harness) checkOtherClient(t *testing.T, a answer) {
	t.Helper()
	if h.otherTenant {
		require.Empty(t, a.codes(), a.raw)
		h.allowPageTokens(t, a, "(other)")
		return
	}
	assert.Contains(t, a.codes(), "FORBIDDEN", a.raw)
	assert.NotContains(t, a.raw, `"key"`, "no token for a client without the scope")
}

// allowPageTokens checks that a page's tokens are its customers' and lets
// the answer hold them; tenant is the " (label)" its names end with.
func (h *harness) allowPageTokens(t *testing.T, a answer, tenant string) {
	t.Helper()
	var got struct {
		Customers struct {
			Nodes []struct {
				ID         string
				LoginToken *struct{ Key string }
			}
		}
	}
	b, _ := json.Marshal(a.Data)
	require.NoError(t, json.Unmarshal(b, &got))
	require.NotEmpty(t, got.Customers.Nodes, a.raw)
	for _, n := range got.Customers.Nodes {
		require.NotNil(t, n.LoginToken, n.ID)
		require.Equal(t, upstreamtest.LoginKey(n.ID), n.LoginToken.Key, "%s's own token %s", n.ID, tenant)
		a.allow(n.LoginToken.Key)
	}
}

// input is the variables of the i-th create: its own email and name, the
// password given, and key as idempotency key unless it is empty.
func (h *harness) input(i int, password, key string) map[string]any {
	in := map[string]any{
		"email":    fmt.Sprintf("canary-%s-%d@example.com", h.varCore, i),
		"name":     fmt.Sprintf("Canary %s %d", h.varCore, i),
		"password": password,
	}
	if key != "" {
		in["idempotencyKey"] = key + "-" + h.varCore
	}
	return map[string]any{"input": in}
}

func (h *harness) create(t *testing.T, label, token, mutation string, vars map[string]any) answer {
	t.Helper()
	return h.post(label, token, map[string]any{"query": mutation, "variables": vars})
}

// customerID is the id of the customer a create answered.
func (h *harness) customerID(t *testing.T, a answer) string {
	t.Helper()
	create, _ := a.Data["createCustomer"].(map[string]any)
	customer, _ := create["customer"].(map[string]any)
	id, _ := customer["id"].(string)
	require.NotEmpty(t, id, "a customer was created: %s", a.raw)
	return id
}

func userErrorCodes(a answer) []string {
	create, _ := a.Data["createCustomer"].(map[string]any)
	errs, _ := create["userErrors"].([]any)
	var codes []string
	for _, e := range errs {
		code, _ := e.(map[string]any)["code"].(string)
		codes = append(codes, code)
	}
	return codes
}

func (h *harness) post(label, token string, body map[string]any) answer {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/query", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	return h.do(label, token, req)
}

func (h *harness) get(t *testing.T, label, token, query string, vars map[string]any) answer {
	t.Helper()
	v, err := json.Marshal(vars)
	require.NoError(t, err)
	q := url.Values{"query": {query}, "variables": {string(v)}}
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/query?"+q.Encode(), nil)
	return h.do(label, token, req)
}

// do sends req with token and keeps its answer for the scan. It may run
// on several goroutines at once (the coalescer's scenario).
func (h *harness) do(label, token string, req *http.Request) answer {
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Request-ID", fmt.Sprintf("canary-%d", h.seq.Add(1)))
	h.clock.step()
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		panic(err) // a test bug: the gateway is on loopback
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var text strings.Builder
	fmt.Fprintf(&text, "HTTP %d\n", resp.StatusCode)
	_ = resp.Header.Write(&text)
	text.WriteString("\n")
	text.Write(body)
	rec := &recordedAnswer{label: label, text: text.String(), allowed: map[string]bool{}}
	h.mu.Lock()
	h.answers = append(h.answers, rec)
	h.mu.Unlock()
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(body), rec: rec}
	_ = json.Unmarshal(body, &a)
	return a
}

// scan gathers every output of the gateway and searches it for the
// canaries; it returns how much it scanned.
func (h *harness) scan(t *testing.T) scanCounts {
	t.Helper()
	var c scanCounts
	// Every request has ended and logged once the server is closed; the
	// metrics are read from the handler itself.
	h.srv.Close()
	rec := httptest.NewRecorder()
	h.gw.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	metrics := rec.Body.String()
	require.Contains(t, metrics, `gateway_customer_creates_total{outcome="created"}`)
	require.Contains(t, metrics, `gateway_login_token_reads_total{outcome="ok"}`)
	require.NoError(t, h.gw.Close(context.Background()))

	s := &scanner{canaries: h.canaries, loginKeys: h.loginKeys(t)}
	for i, line := range strings.Split(h.logs.String(), "\n") {
		if line == "" {
			continue
		}
		kind := kindLog
		if strings.Contains(line, `"panic`) {
			kind = kindPanic
			c.panics++
		}
		c.logLines++
		s.check(output{kind: kind, label: fmt.Sprintf("log line %d", i+1), text: line})
	}
	assert.GreaterOrEqual(t, c.panics, 2, "both panics were logged")
	assert.Contains(t, h.logs.String(), `"level":"DEBUG"`, "debug lines are scanned")
	for i, line := range strings.Split(metrics, "\n") {
		if line != "" {
			c.metricLines++
			s.check(output{kind: kindMetric, label: fmt.Sprintf("metric line %d", i+1), text: line})
		}
	}
	for _, span := range h.spans.Ended() {
		c.spans++
		var text strings.Builder
		fmt.Fprintf(&text, "%s\n%s\n", span.Name(), span.Status().Description)
		for _, kv := range span.Attributes() {
			c.spanAttributes++
			fmt.Fprintf(&text, "%s=%s\n", kv.Key, kv.Value.Emit())
		}
		for _, ev := range span.Events() {
			c.spanEvents++
			fmt.Fprintf(&text, "event %s\n", ev.Name)
			for _, kv := range ev.Attributes {
				c.spanAttributes++
				fmt.Fprintf(&text, "%s=%s\n", kv.Key, kv.Value.Emit())
			}
		}
		for _, l := range span.Links() {
			for _, kv := range l.Attributes {
				c.spanAttributes++
				fmt.Fprintf(&text, "%s=%s\n", kv.Key, kv.Value.Emit())
			}
		}
		s.check(output{kind: kindSpan, label: "span " + span.Name(), text: text.String()})
	}
	assert.NotZero(t, c.spanEvents+c.spanAttributes)
	h.mu.Lock()
	for _, a := range h.answers {
		c.answers++
		c.errorMessages += strings.Count(a.text, `"message":`)
		s.check(output{kind: kindAnswer, label: "the answer of " + a.label, text: a.text, allowed: a.allowed})
	}
	h.mu.Unlock()
	if h.redis != nil {
		h.scanRedis(t, s, &c)
	}
	for _, leak := range s.leaks {
		t.Error(leak)
	}
	return c
}

// scanRedis reads every key and value Redis holds.
func (h *harness) scanRedis(t *testing.T, s *scanner, c *scanCounts) {
	t.Helper()
	opts, err := goredis.ParseURL(h.redis.URL)
	require.NoError(t, err)
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	ctx := context.Background()
	var sawIdempotency, sawDocument bool
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		c.redisKeys++
		s.check(output{kind: kindRedisKey, label: "Redis key", text: key})
		var values []string
		switch typ := rdb.Type(ctx, key).Val(); typ {
		case "string":
			values = []string{rdb.Get(ctx, key).Val()}
		case "hash":
			for k, v := range rdb.HGetAll(ctx, key).Val() {
				values = append(values, k, v)
			}
		case "list":
			values = rdb.LRange(ctx, key, 0, -1).Val()
		case "set":
			values = rdb.SMembers(ctx, key).Val()
		case "zset":
			values = rdb.ZRange(ctx, key, 0, -1).Val()
		case "none": // expired since the scan saw it
		default:
			t.Errorf("Redis key %s of type %s: the scan cannot read it", key, typ)
		}
		for _, v := range values {
			c.redisValues++
			s.check(output{kind: kindRedisValue, label: "the Redis value of " + key, text: v})
			sawDocument = sawDocument || v == createMutation
		}
		sawIdempotency = sawIdempotency || strings.Contains(key, "idem:")
	}
	require.NoError(t, iter.Err())
	assert.True(t, sawIdempotency, "idempotency records are in Redis")
	assert.True(t, sawDocument, "the persisted mutation is in Redis, as its text")
}

// loginKeys are the login tokens of every user the fake knows, the
// customers created by the scenarios included: its staff (ids 65<10+k>…
// 1 and 2 of dataset k) and customers.
func (h *harness) loginKeys(t *testing.T) map[string]string {
	t.Helper()
	keys := map[string]string{}
	datasets := []string{h.loginer}
	if h.otherTenant {
		datasets = append(datasets, h.other)
	}
	if h.mode.serverKey {
		datasets = []string{h.serverKey()}
	}
	for k, tok := range datasets {
		for n := 1; n <= 2; n++ {
			id := fmt.Sprintf("65%02x%020x", 0x10+k, n)
			keys[upstreamtest.LoginKey(id)] = "staff " + id
		}
		for _, rec := range h.up.Records(tok) {
			id, _ := rec["_id"].(string)
			keys[upstreamtest.LoginKey(id)] = "customer " + id
		}
	}
	require.Contains(t, keys, upstreamtest.LoginKey(ownerUserID))
	require.Greater(t, len(keys), 300)
	return keys
}

func (h *harness) serverKey() string {
	for _, c := range h.canaries {
		if c.name == "server key" {
			return c.value
		}
	}
	return ""
}

// onCreate applies f to the next create only.
func onCreate(f upstreamtest.Fault) upstreamtest.Fault {
	return upstreamtest.OnPath(upstreamtest.PathCreate, upstreamtest.Times(1, f))
}

// onToken applies f to every login token call.
func onToken(f upstreamtest.Fault) upstreamtest.Fault {
	return upstreamtest.OnPath(upstreamtest.PathUserToken, f)
}

// echoCredential answers status with a message that repeats the request's
// Authorization header, and more.
func echoCredential(status int, more string) upstreamtest.Fault {
	return func(w http.ResponseWriter, r *http.Request) bool {
		body, _ := json.Marshal(map[string]any{"success": false, "code": status, "data": nil,
			"message": "refused " + r.Header.Get("Authorization") + " " + more})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
		return true
	}
}

// panicSwitch makes the next upstream create or token read panic.
type panicSwitch struct{ create, token atomic.Bool }

// panicky panics on demand, with what a careless transport would panic
// with: the request it sends (the credential, the password), or the answer
// it got (a login token).
type panicky struct {
	next http.RoundTripper
	sw   *panicSwitch
}

func (p panicky) RoundTrip(r *http.Request) (*http.Response, error) {
	switch {
	case r.URL.Path == upstreamtest.PathCreate && p.sw.create.CompareAndSwap(true, false):
		dump, _ := httputil.DumpRequestOut(r, true)
		panic("upstream create failed: " + string(dump))
	case r.URL.Path == upstreamtest.PathUserToken && p.sw.token.CompareAndSwap(true, false):
		resp, err := p.next.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		panic(fmt.Errorf("unexpected answer to %s: %s", r.Header.Get("Authorization"), body))
	}
	return p.next.RoundTrip(r)
}

// steppedClock is the rate limit's clock: each request moves it on an hour
// (a full bucket), unless it is held.
type steppedClock struct {
	mu   sync.Mutex
	now  time.Time
	held bool
}

func (c *steppedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *steppedClock) step() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.held {
		c.now = c.now.Add(time.Hour)
	}
}

func (c *steppedClock) hold(held bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held = held
	c.now = c.now.Add(time.Hour)
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// scanCounts is how much the scan read, by kind of output.
type scanCounts struct {
	logLines, panics, metricLines                  int
	spans, spanAttributes, spanEvents              int
	redisKeys, redisValues, answers, errorMessages int
}

func (c *scanCounts) add(o scanCounts) {
	c.logLines += o.logLines
	c.panics += o.panics
	c.metricLines += o.metricLines
	c.spans += o.spans
	c.spanAttributes += o.spanAttributes
	c.spanEvents += o.spanEvents
	c.redisKeys += o.redisKeys
	c.redisValues += o.redisValues
	c.answers += o.answers
	c.errorMessages += o.errorMessages
}

func (c scanCounts) String() string {
	return fmt.Sprintf("%d log lines (debug level; %d of them panics), %d metric lines, %d spans with %d attributes and %d events, "+
		"%d Redis keys and %d values, %d answers with %d error messages",
		c.logLines, c.panics, c.metricLines, c.spans, c.spanAttributes, c.spanEvents,
		c.redisKeys, c.redisValues, c.answers, c.errorMessages)
}
