package upstreamtest_test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
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

// send makes one request with the upstream's headers (authtype: Key and
// the bearer token, unless token is empty) and reads the answer. A lost
// answer (the connection closed) is status 0.
func send(t *testing.T, method, url, token, body string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	req.Header.Set("authtype", "Key")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

func createBody(username, name, password string) string {
	b, _ := json.Marshal(map[string]string{"username": username, "name": name, "password": password})
	return string(b)
}

// created decodes the answer of a create that succeeded.
func created(t *testing.T, a answer) map[string]any {
	t.Helper()
	require.Equal(t, http.StatusOK, a.status, a.body)
	var env struct {
		Success bool           `json:"success"`
		Data    map[string]any `json:"data"`
		Code    int            `json:"code"`
	}
	require.NoError(t, json.Unmarshal([]byte(a.body), &env))
	require.True(t, env.Success, a.body)
	require.Equal(t, 200, env.Code, a.body)
	return env.Data
}

func TestCreate(t *testing.T) {
	s := upstreamtest.NewServer(upstreamtest.WithCustomers(40), upstreamtest.WithPageSize(10))
	defer s.Close()
	before := map[string][]string{}
	for field := range sortOrders {
		before[field] = idsOf(all(t, s, "any", field))
	}
	s.ResetCalls()

	const password = "pw-canary-3f9e1a"
	a := send(t, http.MethodPost, s.URL+upstreamtest.PathCreate, "any", createBody("ada@example.com", "Ada Lovelace", password))
	c := created(t, a)
	assert.NotContains(t, a.body, password, "the answer holds the password")
	id, _ := c["_id"].(string)
	require.NotEmpty(t, id, "data %v", c)
	// The list's fields, then what only the create answers.
	assert.Equal(t, "Ada Lovelace", c["name"])
	assert.Equal(t, map[string]any{"email": "ada@example.com"}, c["contact"])
	assert.Equal(t, "ACTIVE", c["status"])
	assert.Equal(t, false, c["verified"])
	assert.Equal(t, "v2", c["subscriptionType"])
	assert.Nil(t, c["lastLogin"])
	assert.Equal(t, c["createdAt"], c["updatedAt"])
	assert.Equal(t, "ada@example.com", c["username"])
	assert.Equal(t, "CUSTOMER", c["userType"])
	assert.NotNil(t, c["accountUsage"])

	assert.Equal(t, int64(1), s.CallsTo(upstreamtest.PathCreate), "create calls")
	assert.Zero(t, s.Calls(), "Calls counts list calls only")
	reqs := s.CreateRequests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "ada@example.com", reqs[0].Username)
	assert.Equal(t, "Ada Lovelace", reqs[0].Name)
	assert.Equal(t, "application/json", reqs[0].ContentType)
	assert.Equal(t, "Key", reqs[0].AuthType)
	assert.True(t, reqs[0].HasBearer)
	assert.True(t, reqs[0].PasswordIs(password), "PasswordIs the password sent")
	assert.False(t, reqs[0].PasswordIs("other"), "PasswordIs another")
	assert.NotContains(t, fmt.Sprintf("%+v", reqs[0]), password, "the noted request holds the password")

	// Last by createdAt, and in its place in every sort, as Add.
	recs := all(t, s, "any", "createdAt")
	require.Len(t, recs, 41)
	assert.Equal(t, id, recs[40]["_id"], "createdAt order: the new customer last")
	for field := range sortOrders {
		got := idsOf(all(t, s, "any", field))
		assert.Len(t, got, 41, "sort %s", field)
		assert.Contains(t, got, id, "sort %s", field)
		var others []string
		for _, g := range got {
			if g != id {
				others = append(others, g)
			}
		}
		assert.Equal(t, before[field], others, "sort %s: others reordered", field)
	}
	// As the list serves it, the record is the create's answer without its
	// create-only fields.
	last := recs[40]
	for _, k := range []string{"username", "userType", "accountUsage"} {
		assert.NotContains(t, last, k, "the list's record")
		delete(c, k)
	}
	assert.Equal(t, c, last, "the list's record")
}

func TestCreateRefusals(t *testing.T) {
	s := upstreamtest.NewServer(upstreamtest.WithToken("good"), upstreamtest.WithCustomers(60),
		upstreamtest.WithTenant("tok-a", "acme"))
	defer s.Close()
	const unauth = `{"code":401,"data":null,"message":"Unauthorized","success":false}`
	ok := createBody("new@example.com", "New", "password-1")
	tests := []struct {
		name, method, token, body string
		status                    int
		want                      string // the whole body, or "" for any
	}{
		{"no bearer", http.MethodPost, "", ok, 401, unauth},
		{"wrong token", http.MethodPost, "bad", ok, 401, unauth},
		{"GET", http.MethodGet, "good", "", 405, ""},
		{"not JSON", http.MethodPost, "good", "username=a", 400, `{"code":400,"data":null,"message":"body must be a JSON object of strings: username, name, password","success":false}`},
		{"wrong type", http.MethodPost, "good", `{"username":1,"name":"N","password":"p"}`, 400, ""},
		{"no username", http.MethodPost, "good", `{"name":"N","password":"password-1"}`, 422, `{"code":422,"data":null,"message":"username is required","success":false}`},
		{"not an email", http.MethodPost, "good", createBody("ada", "N", "password-1"), 422, `{"code":422,"data":null,"message":"username must be an email address","success":false}`},
		{".invalid domain", http.MethodPost, "good", createBody("ada@mail.INVALID", "N", "password-1"), 422, `{"code":422,"data":null,"message":"username: this email domain does not accept mail","success":false}`},
		{"blank name", http.MethodPost, "good", createBody("ada@example.com", "  ", "password-1"), 422, `{"code":422,"data":null,"message":"name is required","success":false}`},
		{"no password", http.MethodPost, "good", `{"username":"ada@example.com","name":"N"}`, 422, `{"code":422,"data":null,"message":"password is required","success":false}`},
		{"email taken", http.MethodPost, "good", createBody("jonas+0@monday101.com", "N", "password-1"), 409, `{"code":409,"data":null,"message":"A user with this email already exists","success":false}`},
		{"email taken, other case", http.MethodPost, "good", createBody("JONAS+0@Monday101.com", "N", "password-1"), 409, ""},
		{"email of the agent", http.MethodPost, "good", createBody("owner@monday101.com", "N", "password-1"), 409, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := send(t, tt.method, s.URL+upstreamtest.PathCreate, tt.token, tt.body)
			assert.Equal(t, tt.status, a.status, a.body)
			if tt.want != "" {
				assert.Equal(t, tt.want, a.body)
			}
		})
	}
	assert.Len(t, s.Records(""), 60, "a refused create changed the dataset")
	assert.Equal(t, int64(len(tests)), s.CallsTo(upstreamtest.PathCreate), "create calls")

	// Emails are taken per dataset: a tenant may use the default one's.
	c := created(t, send(t, http.MethodPost, s.URL+upstreamtest.PathCreate, "tok-a", createBody("jonas+0@monday101.com", "Jonas (acme)", "password-1")))
	assert.True(t, strings.HasPrefix(c["_id"].(string), "6611"), "tenant create = %v", c)
	assert.Equal(t, "acme", s.CreateRequests()[len(tests)].Tenant)
	assert.Len(t, s.Records(""), 60, "a tenant's create changed the default dataset")
}

// Two creates of one email at once: one customer. Run with -race.
func TestCreateSameEmailAtOnce(t *testing.T) {
	s := upstreamtest.NewServer(upstreamtest.WithCustomers(5))
	defer s.Close()
	const n = 8
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- send(t, http.MethodPost, s.URL+upstreamtest.PathCreate, "x",
				createBody("same@example.com", fmt.Sprintf("Same %d", i), "password-1")).status
		}()
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for st := range statuses {
		count[st]++
	}
	assert.Equal(t, map[int]int{200: 1, 409: n - 1}, count, "statuses")
	assert.Len(t, s.Records(""), 6, "customers")
}

// tokenOf decodes a get-user-token answer that succeeded.
func tokenOf(t *testing.T, a answer) (key string, active bool) {
	t.Helper()
	require.Equal(t, http.StatusOK, a.status, a.body)
	var env struct {
		Success bool `json:"success"`
		Data    struct {
			PermanentToken struct {
				Key    string `json:"key"`
				Active bool   `json:"active"`
			} `json:"permanentToken"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(a.body), &env))
	require.True(t, env.Success, a.body)
	return env.Data.PermanentToken.Key, env.Data.PermanentToken.Active
}

func TestUserToken(t *testing.T) {
	s := upstreamtest.NewServer(upstreamtest.WithCustomers(60), upstreamtest.WithTenant("tok-a", "acme"))
	defer s.Close()
	get := func(token string, q url.Values) answer {
		return send(t, http.MethodGet, s.URL+upstreamtest.PathUserToken+"?"+q.Encode(), token, "")
	}
	recs := s.Records("")

	// By id: every customer, its token active when its status is ACTIVE.
	for _, i := range []int{0, 1, 3, 59} {
		id := recs[i]["_id"].(string)
		key, active := tokenOf(t, get("x", url.Values{"userId": {id}}))
		assert.Equal(t, upstreamtest.LoginKey(id), key, "customer %d", i)
		assert.Equal(t, recs[i]["status"] == "ACTIVE", active, "customer %d (%s)", i, recs[i]["status"])
	}
	key := upstreamtest.LoginKey(recs[1]["_id"].(string))
	_, err := hex.DecodeString(key)
	assert.NoError(t, err, "the key is hex")
	assert.Len(t, key, 64, "the key is an HMAC-SHA256")
	assert.NotEqual(t, key, upstreamtest.LoginKey(recs[2]["_id"].(string)), "two customers, one key")

	// By email and type, case-insensitively; the staff by theirs.
	email := recs[1]["contact"].(map[string]any)["email"].(string)
	got, _ := tokenOf(t, get("x", url.Values{"email": {strings.ToUpper(email)}, "type": {"CUSTOMER"}}))
	assert.Equal(t, key, got, "customer by email")
	agent, active := tokenOf(t, get("x", url.Values{"email": {"owner@monday101.com"}, "type": {"AGENT"}}))
	assert.Equal(t, upstreamtest.LoginKey("651000000000000000000001"), agent, "agent")
	assert.True(t, active, "agent")
	custom, _ := tokenOf(t, get("x", url.Values{"email": {"support@monday101.com"}, "type": {"CUSTOM_USER"}}))
	assert.Equal(t, upstreamtest.LoginKey("651000000000000000000002"), custom, "custom user")
	byID, _ := tokenOf(t, get("x", url.Values{"userId": {"651000000000000000000001"}}))
	assert.Equal(t, agent, byID, "agent by id")

	// A created customer has a token at once.
	c := created(t, send(t, http.MethodPost, s.URL+upstreamtest.PathCreate, "x", createBody("new@example.com", "New", "password-1")))
	got, active = tokenOf(t, get("x", url.Values{"email": {"new@example.com"}, "type": {"CUSTOMER"}}))
	assert.Equal(t, upstreamtest.LoginKey(c["_id"].(string)), got, "created customer")
	assert.True(t, active, "created customer")

	const notFound = `{"code":404,"data":null,"message":"User not found","success":false}`
	const badQuery = `{"code":400,"data":null,"message":"give userId, or email and type (AGENT, CUSTOM_USER or CUSTOMER)","success":false}`
	for _, tt := range []struct {
		name   string
		token  string
		q      url.Values
		status int
		body   string
	}{
		{"unknown id", "x", url.Values{"userId": {"6610ffffffffffffffffffff"}}, 404, notFound},
		{"unknown email", "x", url.Values{"email": {"nobody@monday101.com"}, "type": {"CUSTOMER"}}, 404, notFound},
		{"customer as agent", "x", url.Values{"email": {email}, "type": {"AGENT"}}, 404, notFound},
		{"agent as customer", "x", url.Values{"email": {"owner@monday101.com"}, "type": {"CUSTOMER"}}, 404, notFound},
		{"another tenant's customer", "tok-a", url.Values{"userId": {recs[1]["_id"].(string)}}, 404, notFound},
		{"another tenant's agent", "tok-a", url.Values{"email": {"owner@monday101.com"}, "type": {"AGENT"}}, 404, notFound},
		{"nothing", "x", url.Values{}, 400, badQuery},
		{"email without type", "x", url.Values{"email": {email}}, 400, badQuery},
		{"unknown type", "x", url.Values{"email": {email}, "type": {"ADMIN"}}, 400, badQuery},
		{"id and email", "x", url.Values{"userId": {"a"}, "email": {email}, "type": {"CUSTOMER"}}, 400, badQuery},
		{"no bearer", "", url.Values{"userId": {recs[1]["_id"].(string)}}, 401, `{"code":401,"data":null,"message":"Unauthorized","success":false}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := get(tt.token, tt.q)
			assert.Equal(t, tt.status, a.status, a.body)
			assert.Equal(t, tt.body, a.body)
		})
	}
	acme, _ := tokenOf(t, get("tok-a", url.Values{"email": {"owner@acme.monday101.com"}, "type": {"AGENT"}}))
	assert.Equal(t, upstreamtest.LoginKey("651100000000000000000001"), acme, "the tenant's agent")
	assert.NotEqual(t, agent, acme, "two tenants' agents, one key")

	reqs := s.TokenRequests()
	require.NotEmpty(t, reqs)
	assert.Equal(t, upstreamtest.TokenRequest{UserID: recs[0]["_id"].(string), AuthType: "Key", HasBearer: true}, reqs[0])
	assert.Equal(t, "acme", reqs[len(reqs)-1].Tenant)
	assert.Equal(t, int64(len(reqs)), s.CallsTo(upstreamtest.PathUserToken))
	s.ResetCalls()
	for _, p := range []string{upstreamtest.PathList, upstreamtest.PathCreate, upstreamtest.PathUserToken} {
		assert.Zero(t, s.CallsTo(p), "ResetCalls: %s", p)
	}
	assert.Empty(t, s.TokenRequests(), "ResetCalls")
	assert.Empty(t, s.CreateRequests(), "ResetCalls")
}

// Faults apply to every endpoint, or to one with OnPath; LoseAnswer lets
// the call act and drops its answer.
func TestFaultsOnEveryEndpoint(t *testing.T) {
	s := upstreamtest.NewServer(upstreamtest.WithCustomers(10))
	defer s.Close()
	id := s.Records("")[1]["_id"].(string)
	create := func(email string) answer {
		return send(t, http.MethodPost, s.URL+upstreamtest.PathCreate, "x", createBody(email, "N", "password-1"))
	}
	token := func() answer {
		return send(t, http.MethodGet, s.URL+upstreamtest.PathUserToken+"?userId="+id, "x", "")
	}
	listPage := func() answer { return send(t, http.MethodGet, s.URL+upstreamtest.PathList+"?page=1", "x", "") }

	s.SetFault(upstreamtest.Status(503))
	assert.Equal(t, 503, create("a@example.com").status, "create")
	assert.Equal(t, 503, token().status, "token")
	assert.Equal(t, 503, listPage().status, "list")
	assert.Len(t, s.Records(""), 10, "a failed create created")

	s.SetFault(upstreamtest.OnPath(upstreamtest.PathCreate, upstreamtest.Chain(
		upstreamtest.Times(1, upstreamtest.RateLimit("1")),
		upstreamtest.Times(1, upstreamtest.StatusMessage(422, "name: too long")))))
	a := create("b@example.com")
	assert.Equal(t, 429, a.status, "create")
	assert.Equal(t, "1", a.header.Get("Retry-After"))
	a = create("b@example.com")
	assert.Equal(t, 422, a.status, "create")
	assert.Equal(t, `{"code":422,"data":null,"message":"name: too long","success":false}`, a.body)
	assert.Equal(t, 200, token().status, "token: OnPath(create) applies to it")
	assert.Equal(t, 200, listPage().status, "list: OnPath(create) applies to it")
	assert.Equal(t, 200, create("b@example.com").status, "create after the faults")

	s.SetFault(upstreamtest.LoseAnswer())
	assert.Zero(t, create("lost@example.com").status, "create: want no answer")
	assert.Len(t, s.Records(""), 12, "LoseAnswer: the create happened")
	assert.Zero(t, token().status, "token: want no answer")
	assert.Zero(t, listPage().status, "list: want no answer")
	s.SetFault(nil)
	assert.Equal(t, 409, create("lost@example.com").status, "the lost create's customer exists")

	assert.Equal(t, int64(6), s.CallsTo(upstreamtest.PathCreate), "create calls")
	assert.Equal(t, int64(3), s.CallsTo(upstreamtest.PathUserToken), "token calls")
	assert.Equal(t, int64(3), s.Calls(), "list calls")
}

// The latency holds every endpoint's answer: with an hour of it, a call
// that has arrived is let go only by Close, with no answer (an empty body).
func TestLatencyAppliesToEveryEndpoint(t *testing.T) {
	s := upstreamtest.NewServer(upstreamtest.WithLatency(time.Hour))
	done := make(chan string, 2)
	go func() {
		done <- send(t, http.MethodPost, s.URL+upstreamtest.PathCreate, "x", createBody("a@example.com", "A", "password-1")).body
	}()
	go func() {
		done <- send(t, http.MethodGet, s.URL+upstreamtest.PathUserToken+"?userId=x", "x", "").body
	}()
	require.Eventually(t, func() bool {
		return s.CallsTo(upstreamtest.PathCreate) == 1 && s.CallsTo(upstreamtest.PathUserToken) == 1
	}, time.Minute, time.Millisecond, "the calls never arrived")
	s.Close()
	assert.Empty(t, <-done, "an answer within the latency")
	assert.Empty(t, <-done, "an answer within the latency")
	assert.Len(t, s.Records(""), 300, "the create ran before its latency")
}
