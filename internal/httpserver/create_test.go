package httpserver_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

const createMutation = `mutation Create($input: CreateCustomerInput!) {
  createCustomer(input: $input) {
    customer { id name contact { email } status }
    userErrors { field message code }
  }
}`

// createPassword is the canary of these tests: no log line or answer may
// hold it.
const createPassword = "pw-CANARY-5e1d0c"

type createAnswer struct {
	CreateCustomer struct {
		Customer *struct {
			ID      string
			Name    string
			Contact struct{ Email *string }
			Status  string
		}
		UserErrors []struct {
			Field   []string
			Message string
			Code    string
		}
	}
}

func createInput(email, key string) map[string]any {
	in := map[string]any{"email": email, "name": "  Ada Lovelace ", "password": createPassword}
	if key != "" {
		in["idempotencyKey"] = key
	}
	return in
}

// create posts createCustomer with auth ("" for the test token).
func (e *env) create(input map[string]any, auth string) (gqlResponse, createAnswer) {
	e.t.Helper()
	if auth == "" {
		auth = "Bearer " + testToken
	}
	r := e.post(map[string]any{"query": createMutation, "variables": map[string]any{"input": input}}, auth)
	assert.NotContains(e.t, r.Raw, createPassword)
	assert.NotContains(e.t, e.logs.String(), createPassword)
	if len(r.Errors) > 0 || r.Data == nil || string(r.Data) == "null" {
		return r, createAnswer{}
	}
	return r, decode[createAnswer](e.t, r)
}

// lastPageQuery is the page of a 40-customer list that is empty until a
// customer is created.
const lastPageQuery = `{ customers(page: 3) { nodes { id contact { email } } } }`

func TestCreateCustomer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"CACHE_TTL": "5m"}, upstreamtest.WithCustomers(40))
	before := e.query(lastPageQuery, nil)
	require.Empty(t, before.Errors, before.Raw)
	require.JSONEq(t, `{"customers":{"nodes":[]}}`, string(before.Data))
	listCalls := e.up.CallsTo(upstreamtest.PathList)
	again := e.query(lastPageQuery, nil)
	require.Equal(t, before.Raw, again.Raw)
	require.Equal(t, listCalls, e.up.CallsTo(upstreamtest.PathList), "answered from the caches")

	r, got := e.create(createInput("ada@example.com", ""), "")
	require.Empty(t, r.Errors, r.Raw)
	c := got.CreateCustomer.Customer
	require.NotNil(t, c, r.Raw)
	assert.Empty(t, got.CreateCustomer.UserErrors)
	assert.Equal(t, "Ada Lovelace", c.Name, "trimmed")
	assert.Equal(t, "ada@example.com", *c.Contact.Email)
	assert.NotEmpty(t, c.ID)
	assert.Equal(t, "no-store", r.Header.Get("Cache-Control"), "a mutation's answer is never stored")
	reqs := e.up.CreateRequests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "ada@example.com", reqs[0].Username)
	assert.Equal(t, "Ada Lovelace", reqs[0].Name)
	assert.True(t, reqs[0].PasswordIs(createPassword))

	// The cached page and answer are gone: the list shows the customer.
	after := e.query(lastPageQuery, nil)
	require.Empty(t, after.Errors, after.Raw)
	assert.Contains(t, after.Raw, c.ID)
	assert.Greater(t, e.up.CallsTo(upstreamtest.PathList), listCalls, "fetched again after the create")
	byID := e.query(`query($id: ID!) { customer(id: $id) { name } }`, map[string]any{"id": c.ID})
	assert.JSONEq(t, `{"customer":{"name":"Ada Lovelace"}}`, string(byID.Data), byID.Raw)

	assert.Contains(t, e.metric("gateway_customer_creates_total"), `outcome="created"} 1`)
	logged := 0
	for _, line := range splitLines(e.logs.String()) {
		if contains(line, `"operation":"Create"`) {
			logged++
			assert.NotContains(t, line, "ada@example.com", "a mutation's log line carries no variables")
			assert.NotContains(t, line, "Lovelace")
		}
	}
	assert.Equal(t, 1, logged, "the create's request line")
}

func TestCreateCustomerChecksInputFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	long := strings.Repeat("x", 101)
	for name, tc := range map[string]struct {
		input  map[string]any
		fields []string
	}{
		"bad email":           {map[string]any{"email": "not-an-address", "name": "A", "password": createPassword}, []string{"email"}},
		"named address":       {map[string]any{"email": "Ada <ada@example.com>", "name": "A", "password": createPassword}, []string{"email"}},
		"email too long":      {map[string]any{"email": strings.Repeat("a", 250) + "@x.io", "name": "A", "password": createPassword}, []string{"email"}},
		"blank name":          {map[string]any{"email": "a@example.com", "name": "   ", "password": createPassword}, []string{"name"}},
		"name too long":       {map[string]any{"email": "a@example.com", "name": long, "password": createPassword}, []string{"name"}},
		"short password":      {map[string]any{"email": "a@example.com", "name": "A", "password": "pw-CANA"}, []string{"password"}},
		"long password":       {map[string]any{"email": "a@example.com", "name": "A", "password": strings.Repeat("p", 129)}, []string{"password"}},
		"empty key":           {map[string]any{"email": "a@example.com", "name": "A", "password": createPassword, "idempotencyKey": ""}, []string{"idempotencyKey"}},
		"key with a newline":  {map[string]any{"email": "a@example.com", "name": "A", "password": createPassword, "idempotencyKey": "a\nb"}, []string{"idempotencyKey"}},
		"everything at once":  {map[string]any{"email": "x", "name": "", "password": "short"}, []string{"email", "name", "password"}},
		"100 characters pass": {map[string]any{"email": "bad@", "name": strings.Repeat("é", 100), "password": strings.Repeat("é", 8)}, []string{"email"}},
	} {
		t.Run(name, func(t *testing.T) {
			r, got := e.create(tc.input, "")
			require.Empty(t, r.Errors, r.Raw)
			assert.Nil(t, got.CreateCustomer.Customer)
			var fields []string
			for _, ue := range got.CreateCustomer.UserErrors {
				assert.Equal(t, "INVALID", ue.Code)
				require.Len(t, ue.Field, 2)
				assert.Equal(t, "input", ue.Field[0])
				fields = append(fields, ue.Field[1])
				if pw, ok := tc.input["password"].(string); ok {
					assert.NotContains(t, ue.Message, pw)
				}
			}
			assert.Equal(t, tc.fields, fields)
		})
	}
	assert.Zero(t, e.up.CallsTo(upstreamtest.PathCreate), "no upstream call for a refused input")
}

func TestCreateCustomerUpstreamRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, upstreamtest.WithCustomers(40))
	first := e.query(`{ customers { nodes { contact { email } } } }`, nil)
	taken := decode[struct {
		Customers struct {
			Nodes []struct{ Contact struct{ Email string } }
		}
	}](t, first).Customers.Nodes[0].Contact.Email

	r, got := e.create(createInput(taken, ""), "")
	require.Empty(t, r.Errors, r.Raw)
	assert.Nil(t, got.CreateCustomer.Customer)
	require.Len(t, got.CreateCustomer.UserErrors, 1)
	assert.Equal(t, "TAKEN", got.CreateCustomer.UserErrors[0].Code)
	assert.Equal(t, []string{"input", "email"}, got.CreateCustomer.UserErrors[0].Field)

	for name, tc := range map[string]struct {
		status  int
		message string
		field   []string
	}{
		"names the name": {422, "name is too long", []string{"input", "name"}},
		"names nothing":  {400, "plan limit reached", nil},
		"names two":      {422, "name and password do not match the policy", nil},
		"echoes secrets": {400, "bad password " + createPassword + " see https://partner:hunter2@api.example.com/docs", []string{"input", "password"}},
	} {
		t.Run(name, func(t *testing.T) {
			e.up.SetFault(upstreamtest.OnPath(upstreamtest.PathCreate, upstreamtest.StatusMessage(tc.status, tc.message)))
			defer e.up.SetFault(nil)
			r, got := e.create(createInput("fresh@example.com", ""), "")
			require.Empty(t, r.Errors, r.Raw)
			assert.Nil(t, got.CreateCustomer.Customer)
			require.Len(t, got.CreateCustomer.UserErrors, 1)
			ue := got.CreateCustomer.UserErrors[0]
			assert.Equal(t, "REJECTED", ue.Code)
			assert.Equal(t, tc.field, ue.Field)
			assert.NotContains(t, ue.Message, "partner", "no user info of a URL")
			assert.NotContains(t, ue.Message, "hunter2")
			assert.Contains(t, ue.Message, strings.Fields(tc.message)[0])
		})
	}
	assert.Contains(t, e.metric("gateway_customer_creates_total"), `outcome="user_error"} 5`)
}

func TestCreateCustomerIsNeverRetriedOnceSent(t *testing.T) {
	t.Parallel()
	for name, fault := range map[string]upstreamtest.Fault{
		"a 502":          upstreamtest.Status(http.StatusBadGateway),
		"a lost answer":  upstreamtest.LoseAnswer(),
		"a bad envelope": upstreamtest.BadEnvelope(),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, map[string]string{"UPSTREAM_RETRIES": "3"})
			e.up.SetFault(upstreamtest.OnPath(upstreamtest.PathCreate, fault))
			r, _ := e.create(createInput("once@example.com", "key-1"), "")
			require.Len(t, r.Errors, 1, r.Raw)
			assert.Contains(t, []string{"UPSTREAM_UNAVAILABLE", "UPSTREAM_BAD_RESPONSE"}, r.codes()[0])
			assert.EqualValues(t, 1, e.up.CallsTo(upstreamtest.PathCreate), "sent once")
			assert.Contains(t, e.metric("gateway_customer_creates_total"), `outcome="upstream_error"} 1`)
		})
	}

	t.Run("a 429 is retried: the upstream did not act", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, map[string]string{"UPSTREAM_RETRIES": "3"})
		e.up.SetFault(upstreamtest.OnPath(upstreamtest.PathCreate, upstreamtest.Times(1, upstreamtest.RateLimit("0"))))
		r, got := e.create(createInput("later@example.com", ""), "")
		require.Empty(t, r.Errors, r.Raw)
		require.NotNil(t, got.CreateCustomer.Customer)
		assert.EqualValues(t, 2, e.up.CallsTo(upstreamtest.PathCreate))
	})
}

func TestCreateCustomerIdempotency(t *testing.T) {
	t.Parallel()

	t.Run("a repeat replays, another input is refused, another client is apart", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, nil)
		_, first := e.create(createInput("idem@example.com", "key-1"), "")
		require.NotNil(t, first.CreateCustomer.Customer)
		_, again := e.create(createInput("idem@example.com", "key-1"), "")
		assert.Equal(t, first, again, "the kept outcome")
		assert.EqualValues(t, 1, e.up.CallsTo(upstreamtest.PathCreate))

		changed := createInput("idem@example.com", "key-1")
		changed["password"] = createPassword + "!"
		_, reused := e.create(changed, "")
		require.Len(t, reused.CreateCustomer.UserErrors, 1)
		assert.Equal(t, "IDEMPOTENCY_KEY_REUSED", reused.CreateCustomer.UserErrors[0].Code)
		assert.Equal(t, []string{"input", "idempotencyKey"}, reused.CreateCustomer.UserErrors[0].Field)
		assert.EqualValues(t, 1, e.up.CallsTo(upstreamtest.PathCreate))

		// The key is the client's own: another agency key runs its create.
		_, other := e.create(createInput("idem@example.com", "key-1"), "Bearer tok-other-agency")
		require.Len(t, other.CreateCustomer.UserErrors, 1)
		assert.Equal(t, "TAKEN", other.CreateCustomer.UserErrors[0].Code, "the fake's default dataset is shared")
		assert.EqualValues(t, 2, e.up.CallsTo(upstreamtest.PathCreate))

		// A kept refusal is replayed too.
		_, takenAgain := e.create(createInput("idem@example.com", "key-1"), "Bearer tok-other-agency")
		assert.Equal(t, other, takenAgain)
		assert.EqualValues(t, 2, e.up.CallsTo(upstreamtest.PathCreate))
		m := e.metric("gateway_customer_creates_total")
		assert.Contains(t, m, `outcome="idempotent_replay"} 2`)
	})

	t.Run("a retry after a lost answer creates one customer", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, nil, upstreamtest.WithCustomers(40))
		e.up.SetFault(upstreamtest.OnPath(upstreamtest.PathCreate, upstreamtest.Times(1, upstreamtest.LoseAnswer())))
		lost, _ := e.create(createInput("lost@example.com", "key-lost"), "")
		require.Equal(t, []string{"UPSTREAM_UNAVAILABLE"}, lost.codes(), lost.Raw)
		// Not kept: the retry asks the upstream, which has the customer.
		r, retried := e.create(createInput("lost@example.com", "key-lost"), "")
		require.Empty(t, r.Errors, r.Raw)
		require.Len(t, retried.CreateCustomer.UserErrors, 1)
		assert.Equal(t, "TAKEN", retried.CreateCustomer.UserErrors[0].Code)
		page := e.query(lastPageQuery, nil)
		assert.Equal(t, 1, strings.Count(page.Raw, "lost@example.com"), "one customer: %s", page.Raw)
	})

	t.Run("two identical creates in flight create one customer", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, nil)
		release := make(chan struct{})
		arrived := make(chan string, 4)
		e.up.SetFault(upstreamtest.OnPath(upstreamtest.PathCreate, upstreamtest.Notify(arrived, upstreamtest.Block(release))))
		var wg sync.WaitGroup
		answers := make([]createAnswer, 2)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, answers[0] = e.create(createInput("twice@example.com", "key-twice"), "")
		}()
		<-arrived // the first is at the upstream
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, answers[1] = e.create(createInput("twice@example.com", "key-twice"), "")
		}()
		// The second waits for the first rather than calling: it cannot be
		// seen waiting, so give it the time to call if it would.
		select {
		case <-arrived:
			t.Fatal("the second create reached the upstream")
		case <-time.After(100 * time.Millisecond):
		}
		close(release)
		wg.Wait()
		require.NotNil(t, answers[0].CreateCustomer.Customer)
		assert.Equal(t, answers[0], answers[1])
		assert.EqualValues(t, 1, e.up.CallsTo(upstreamtest.PathCreate))
	})
}

func TestCreateCustomerNeedsTheWriteScope(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		vars map[string]string
		auth string
		code string
	}{
		"an access token (read only)": {map[string]string{"BOTPENGUIN_API_KEY": serverKey, "GATEWAY_ACCESS_TOKENS": accessToken}, accessToken, "FORBIDDEN"},
		"a login token":               {map[string]string{"BOTPENGUIN_API_KEY": serverKey, "GATEWAY_LOGIN_TOKENS": accessToken}, accessToken, "FORBIDDEN"},
		"no token, anonymous allowed": {map[string]string{"BOTPENGUIN_API_KEY": serverKey, "ALLOW_UNAUTHENTICATED": "true"}, "", "FORBIDDEN"},
		"READ_ONLY, server-key mode":  {map[string]string{"BOTPENGUIN_API_KEY": serverKey, "GATEWAY_WRITE_TOKENS": accessToken, "READ_ONLY": "true"}, accessToken, "FORBIDDEN"},
		"READ_ONLY, pass-through":     {map[string]string{"READ_ONLY": "true"}, testToken, "FORBIDDEN"},
		"no token, pass-through":      {nil, "", "UNAUTHENTICATED"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.vars)
			auth := "" // no Authorization header
			if tc.auth != "" {
				auth = "Bearer " + tc.auth
			}
			body := map[string]any{"query": createMutation, "variables": map[string]any{"input": createInput("scope@example.com", "")}}
			r := e.post(body, auth)
			assert.Equal(t, []string{tc.code}, r.codes(), r.Raw)
			assert.Zero(t, e.up.CallsTo(upstreamtest.PathCreate))
		})
	}

	t.Run("a write token creates", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, map[string]string{"BOTPENGUIN_API_KEY": serverKey, "GATEWAY_WRITE_TOKENS": accessToken})
		r, got := e.create(createInput("writer@example.com", ""), "Bearer "+accessToken)
		require.Empty(t, r.Errors, r.Raw)
		assert.NotNil(t, got.CreateCustomer.Customer)
	})
}

func TestMutationsOverHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"RATE_LIMIT_RPS": "0.001", "RATE_LIMIT_BURST": "3"})

	t.Run("GET is refused", func(t *testing.T) {
		u := e.gw.URL + "/query?" + url.Values{"query": {`mutation { createCustomer(input: {email: "get@example.com", name: "G", password: "12345678"}) { userErrors { code } } }`}}.Encode()
		req, err := http.NewRequest(http.MethodGet, u, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+testToken)
		r := e.do(req)
		assert.Equal(t, http.StatusMethodNotAllowed, r.Status, r.Raw)
		assert.Equal(t, "POST", r.Header.Get("Allow"))
		assert.Equal(t, []string{"BAD_REQUEST"}, r.codes(), r.Raw)
		assert.Contains(t, r.Errors[0].Message, "GET requests only allow query operations")
		assert.Zero(t, e.up.CallsTo(upstreamtest.PathCreate))
	})

	t.Run("a persisted mutation runs by its hash", func(t *testing.T) {
		ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hashOf(createMutation)}}
		vars := map[string]any{"input": createInput("apq@example.com", "key-apq")}
		r := e.post(map[string]any{"query": createMutation, "variables": vars, "extensions": ext}, "Bearer "+testToken)
		require.Empty(t, r.Errors, r.Raw)
		again := e.post(map[string]any{"variables": vars, "extensions": ext}, "Bearer "+testToken)
		require.Empty(t, again.Errors, again.Raw)
		assert.Equal(t, r.Data, again.Data, "the replay of the same key")
		assert.EqualValues(t, 1, e.up.CallsTo(upstreamtest.PathCreate))
	})

	t.Run("a trusted mutation runs by its id", func(t *testing.T) {
		trusted := newEnv(t, map[string]string{"TRUSTED_DOCUMENTS": writeManifest(t, map[string]any{
			"format": "apollo-persisted-query-manifest", "version": 1,
			"operations": []any{map[string]any{"id": hashOf(createMutation), "name": "Create", "type": "mutation", "body": createMutation}},
		})})
		vars := map[string]any{"input": createInput("trusted@example.com", "")}
		r := trusted.post(map[string]any{"variables": vars, "extensions": persisted(hashOf(createMutation))}, "Bearer "+testToken)
		require.Empty(t, r.Errors, r.Raw)
		assert.Contains(t, r.Raw, "trusted@example.com")
		assert.EqualValues(t, 1, trusted.up.CallsTo(upstreamtest.PathCreate))
	})

	t.Run("the rate limit applies to mutations", func(t *testing.T) {
		e := newEnv(t, map[string]string{"RATE_LIMIT_RPS": "0.001", "RATE_LIMIT_BURST": "2"})
		var statuses []int
		for i := range 4 {
			input := createInput(fmt.Sprintf("rl%d@example.com", i), "")
			r := e.post(map[string]any{"query": createMutation, "variables": map[string]any{"input": input}}, "Bearer "+testToken)
			statuses = append(statuses, r.Status)
		}
		// The first create proves the token, which then has a bucket of its own.
		assert.Equal(t, []int{200, 200, 200, 429}, statuses)
		assert.EqualValues(t, 3, e.up.CallsTo(upstreamtest.PathCreate))
	})
}

func TestCreateCustomerIsPricedAsAnUpstreamCall(t *testing.T) {
	t.Parallel()
	// 10 for the call, 1 for customer, 1 for its id, 1 for userErrors and
	// 1 for its code: 14.
	q := `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { customer { id } userErrors { code } } }`
	for limit, want := range map[string][]string{"13": {"COMPLEXITY_LIMIT_EXCEEDED"}, "14": nil} {
		e := newEnv(t, map[string]string{"MAX_COMPLEXITY": limit})
		r := e.post(map[string]any{"query": q, "variables": map[string]any{"input": createInput("priced@example.com", "")}}, "Bearer "+testToken)
		assert.Equal(t, want, r.codes(), "limit %s: %s", limit, r.Raw)
	}
}

// Without a key, two identical creates at once still make one customer:
// the upstream refuses the second email (TAKEN), and the gateway never
// shares a mutation's execution between them.
func TestTwoCreatesWithoutAKeyMakeOneCustomer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, upstreamtest.WithCustomers(40))
	release := make(chan struct{})
	arrived := make(chan string, 4)
	e.up.SetFault(upstreamtest.OnPath(upstreamtest.PathCreate, upstreamtest.Notify(arrived, upstreamtest.Block(release))))
	answers := make([]createAnswer, 2)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Go(func() { _, answers[i] = e.create(createInput("both@example.com", ""), "") })
	}
	for range 2 { // both reach the upstream: not coalesced
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			close(release)
			t.Fatal("the second create never reached the upstream")
		}
	}
	close(release)
	wg.Wait()
	var created, taken int
	for _, a := range answers {
		switch {
		case a.CreateCustomer.Customer != nil:
			created++
		case len(a.CreateCustomer.UserErrors) == 1 && a.CreateCustomer.UserErrors[0].Code == "TAKEN":
			taken++
		}
	}
	assert.Equal(t, 1, created)
	assert.Equal(t, 1, taken)
	page := e.query(lastPageQuery, nil)
	assert.Equal(t, 1, strings.Count(page.Raw, "both@example.com"), page.Raw)
}

// A body the transport cannot decode is refused without repeating it:
// it may hold a password (gqlgen's own transport repeats it).
func TestAnUndecodableBodyIsNotRepeated(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	body := `{"query":"mutation { __typename }","variables":{"input":{"password":"` + createPassword + `"}},"operationName":7}`
	req, err := http.NewRequest(http.MethodPost, e.gw.URL+"/query", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testToken)
	r := e.do(req)
	assert.Equal(t, http.StatusBadRequest, r.Status, r.Raw)
	assert.Contains(t, r.Raw, "could not be decoded")
	assert.NotContains(t, r.Raw, createPassword)
	assert.NotContains(t, e.logs.String(), createPassword)
}
