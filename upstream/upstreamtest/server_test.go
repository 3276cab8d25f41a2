package upstreamtest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

type answer struct {
	status int
	header http.Header
	body   string
}

func get(t *testing.T, url, token string, authtype bool) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if authtype {
		req.Header.Set("authtype", "Key")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

type envelope struct {
	Success bool             `json:"success"`
	Message string           `json:"message"`
	Data    []map[string]any `json:"data"`
	Code    int              `json:"code"`
}

func list(t *testing.T, s *upstreamtest.Server, token string, page int, sortField string) []map[string]any {
	t.Helper()
	a := get(t, fmt.Sprintf("%s/customer/list?page=%d&sort=%s", s.URL, page, sortField), token, true)
	require.Equal(t, http.StatusOK, a.status, "page %d sort %s: %s", page, sortField, a.body)
	var env envelope
	require.NoError(t, json.Unmarshal([]byte(a.body), &env))
	require.True(t, env.Success, "page %d: envelope %s", page, a.body)
	require.Equal(t, 200, env.Code, "page %d: envelope %s", page, a.body)
	require.NotNil(t, env.Data, "page %d: envelope %s", page, a.body)
	return env.Data
}

func all(t *testing.T, s *upstreamtest.Server, token, sortField string) []map[string]any {
	var out []map[string]any
	for page := 1; ; page++ {
		data := list(t, s, token, page, sortField)
		if len(data) == 0 {
			return out
		}
		out = append(out, data...)
	}
}

func TestDataset(t *testing.T) {
	s := upstreamtest.NewServer()
	defer s.Close()

	first := list(t, s, "any", 1, "createdAt")
	require.Len(t, first, 20, "page 1")
	c := first[0]
	want := map[string]any{
		"_id": "661000009e3779b97f4a7c15", "name": "Jonas v1", "status": "SUSPENDED", "verified": false,
		"createdAt": "2024-01-02T07:06:04.395Z", "updatedAt": "2024-01-03T00:27:29.395Z",
		"lastLogin": "2024-01-10T06:10:24.395Z", "subscriptionType": "v2", "agencyId": "65f0c0ffee0000000000beef",
	}
	for k, v := range want {
		assert.Equal(t, v, c[k], "record 0 %s", k)
	}
	assert.Equal(t, "jonas+0@monday101.com", c["contact"].(map[string]any)["email"], "record 0 email")

	recs := all(t, s, "any", "createdAt")
	require.Len(t, recs, 300)
	assert.Len(t, list(t, s, "any", 15, "createdAt"), 20, "page 15")
	assert.Empty(t, list(t, s, "any", 16, "createdAt"), "page 16")
	ids := map[string]bool{}
	prev := ""
	for i, r := range recs {
		id := r["_id"].(string)
		assert.False(t, ids[id], "duplicate id at %d", i)
		ids[id] = true
		created := r["createdAt"].(string)
		assert.Greater(t, created, prev, "createdAt not strictly increasing at %d", i)
		prev = created
		_, hasContact := r["contact"]
		assert.Equal(t, i%50 != 49, hasContact, "record %d: contact present", i)
		assert.Equal(t, i%7 == 6, r["lastLogin"] == nil, "record %d: lastLogin = %v", i, r["lastLogin"])
		assert.Equal(t, i%61 == 0, r["status"] == "SUSPENDED", "record %d: status = %v", i, r["status"])
		assert.NotNil(t, r["agencyId"], "record %d has no extra field", i)
	}
	got := s.Records("")
	if assert.Len(t, got, 300, "Records disagrees with the served pages") {
		assert.Equal(t, recs[7]["_id"], got[7]["_id"], "Records disagrees with the served pages")
	}
}

func TestSorts(t *testing.T) {
	s := upstreamtest.NewServer(upstreamtest.WithCustomers(97), upstreamtest.WithPageSize(10))
	defer s.Close()
	str := func(r map[string]any, k string) string { v, _ := r[k].(string); return v }
	less := map[string]func(a, b map[string]any) bool{
		"createdAt": func(a, b map[string]any) bool { return str(a, "createdAt") <= str(b, "createdAt") },
		"updatedAt": func(a, b map[string]any) bool { return str(a, "updatedAt") <= str(b, "updatedAt") },
		"name":      func(a, b map[string]any) bool { return str(a, "name") <= str(b, "name") },
		"lastLogin": func(a, b map[string]any) bool {
			if b["lastLogin"] == nil {
				return true
			}
			return a["lastLogin"] != nil && str(a, "lastLogin") <= str(b, "lastLogin")
		},
	}
	want := idsOf(all(t, s, "tok", "createdAt"))
	sort.Strings(want)
	for field, le := range less {
		t.Run(field, func(t *testing.T) {
			recs := all(t, s, "tok", field)
			for i := 1; i < len(recs); i++ {
				assert.True(t, le(recs[i-1], recs[i]), "records %d and %d out of %s order", i-1, i, field)
			}
			got := idsOf(recs)
			sort.Strings(got)
			assert.Equal(t, want, got, "sort %s does not hold every customer once", field)
		})
	}
	assert.Len(t, list(t, s, "tok", 1, ""), 10, "no sort")
}

func idsOf(recs []map[string]any) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r["_id"].(string))
	}
	return out
}

func TestAuthAndParams(t *testing.T) {
	s := upstreamtest.NewServer(upstreamtest.WithToken("good"))
	defer s.Close()
	const unauth = `{"code":401,"data":null,"message":"Unauthorized","success":false}`
	tests := []struct {
		name     string
		query    string
		token    string
		authtype bool
		status   int
		body     string
	}{
		{"ok", "page=1&sort=name", "good", true, 200, ""},
		{"no authtype", "page=1", "good", false, 401, unauth},
		{"no bearer", "page=1", "", true, 401, unauth},
		{"wrong token", "page=1", "bad", true, 401, unauth},
		{"page 0", "page=0", "good", true, 400, `{"code":400,"data":null,"message":"page must be a positive integer","success":false}`},
		{"page x", "page=x", "good", true, 400, ""},
		{"bad sort", "page=1&sort=email", "good", true, 400, `{"code":400,"data":null,"message":"unknown sort field","success":false}`},
		{"past the end", "page=999", "good", true, 200, `{"success":true,"message":"","data":[],"code":200}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := get(t, s.URL+"/customer/list?"+tt.query, tt.token, tt.authtype)
			assert.Equal(t, tt.status, a.status, a.body)
			if tt.body != "" {
				assert.Equal(t, tt.body, a.body)
			}
		})
	}
	assert.Equal(t, int64(len(tests)), s.Calls())
	reqs := s.Requests()
	if assert.Len(t, reqs, len(tests)) {
		assert.Equal(t, upstreamtest.Request{Page: "1", Sort: "name", AuthType: "Key", HasBearer: true}, reqs[0])
		assert.Empty(t, reqs[1].AuthType, "no authtype")
		assert.False(t, reqs[2].HasBearer, "no bearer")
	}
	s.ResetCalls()
	assert.Zero(t, s.Calls(), "ResetCalls did not reset")
	assert.Empty(t, s.Requests(), "ResetCalls did not reset")
}

func TestTenants(t *testing.T) {
	s := upstreamtest.NewServer(upstreamtest.WithToken("main"),
		upstreamtest.WithTenant("tok-a", "acme"), upstreamtest.WithTenant("tok-b", "globex"))
	defer s.Close()
	seen := map[string]string{}
	for _, tok := range []string{"main", "tok-a", "tok-b"} {
		for _, r := range all(t, s, tok, "createdAt") {
			id := r["_id"].(string)
			other, ok := seen[id]
			require.False(t, ok, "id %s seen by %s and %s", id, other, tok)
			seen[id] = tok
		}
	}
	a := list(t, s, "tok-a", 1, "createdAt")[0]
	assert.True(t, strings.HasSuffix(a["name"].(string), " (acme)"), "tenant record = %v", a)
	assert.True(t, strings.HasSuffix(a["contact"].(map[string]any)["email"].(string), "@acme.monday101.com"), "tenant record = %v", a)
	rs := s.Requests()
	assert.Empty(t, rs[0].Tenant, "the first request's tenant")
	assert.Equal(t, "acme", rs[len(rs)-1].Tenant, "the last request's tenant")
	assert.Equal(t, list(t, s, "tok-b", 1, "createdAt")[0]["_id"], s.Records("tok-b")[0]["_id"], "Records(tok-b)")
}

func TestWithRecord(t *testing.T) {
	s := upstreamtest.NewServer(upstreamtest.WithRecord(func(i int, rec map[string]any) {
		switch i {
		case 0:
			delete(rec, "contact")
		case 1:
			rec["createdAt"] = "garbage"
		}
	}))
	defer s.Close()
	recs := list(t, s, "x", 1, "createdAt")
	assert.NotContains(t, recs[0], "contact", "record 0 still has a contact")
	assert.Equal(t, "garbage", recs[1]["createdAt"], "record 1 createdAt")
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name       string
		fault      upstreamtest.Fault
		status     int
		body       string
		retryAfter string
	}{
		{"status", upstreamtest.Status(503), 503, `{"code":503,"data":null,"message":"Service Unavailable","success":false}`, ""},
		{"rate limit", upstreamtest.RateLimit("7"), 429, `{"code":429,"data":null,"message":"Too Many Requests","success":false}`, "7"},
		{"envelope error", upstreamtest.EnvelopeError(401, "Invalid key"), 200, `{"code":401,"data":null,"message":"Invalid key","success":false}`, ""},
		{"garbage", upstreamtest.Garbage(), 200, "<html><body>502 Bad Gateway</body></html>", ""},
		{"bad envelope", upstreamtest.BadEnvelope(), 200, `{"success":true,"message":"","data":{"customers":[]},"code":200}`, ""},
		{"stall", upstreamtest.Stall(time.Millisecond), 200, "", ""},
	}
	s := upstreamtest.NewServer()
	defer s.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.SetFault(tt.fault)
			defer s.SetFault(nil)
			a := get(t, s.URL+"/customer/list?page=1", "x", true)
			assert.Equal(t, tt.status, a.status, a.body)
			if tt.body != "" {
				assert.Equal(t, tt.body, a.body)
			}
			assert.Equal(t, tt.retryAfter, a.header.Get("Retry-After"), "Retry-After")
		})
	}
}

func TestTimesChainRatio(t *testing.T) {
	s := upstreamtest.NewServer()
	defer s.Close()
	statuses := func(n int) string {
		var out []string
		for range n {
			out = append(out, fmt.Sprint(get(t, s.URL+"/customer/list", "x", true).status))
		}
		return strings.Join(out, " ")
	}
	s.SetFault(upstreamtest.Chain(upstreamtest.Times(2, upstreamtest.Status(502)), upstreamtest.Times(1, upstreamtest.Status(403))))
	assert.Equal(t, "502 502 403 200 200", statuses(5), "Times/Chain statuses")
	s.SetFault(upstreamtest.Ratio(0.5, upstreamtest.Status(500), 42))
	first := statuses(40)
	s.SetFault(upstreamtest.Ratio(0.5, upstreamtest.Status(500), 42))
	assert.Equal(t, first, statuses(40), "Ratio with one seed differs")
	n := strings.Count(first, "500")
	assert.True(t, n >= 8 && n <= 32, "Ratio 0.5 failed %d of 40 calls", n)
	assert.Equal(t, int64(85), s.Calls())
}

func TestCloseReleasesHungRequests(t *testing.T) {
	s := upstreamtest.NewServer()
	arrived := make(chan string, 1)
	s.SetFault(upstreamtest.Notify(arrived, upstreamtest.Hang()))
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/customer/list?page=3", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	assert.Equal(t, "3", <-arrived, "the page Notify sent")
	s.Close() // must not wait for the client
	<-done
}

func TestBlock(t *testing.T) {
	s := upstreamtest.NewServer()
	defer s.Close()
	release := make(chan struct{})
	arrived := make(chan string, 1)
	s.SetFault(upstreamtest.Notify(arrived, upstreamtest.Block(release)))
	done := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/customer/list", nil)
		req.Header.Set("authtype", "Key")
		req.Header.Set("Authorization", "Bearer x")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-arrived
	select {
	case status := <-done:
		require.FailNow(t, "answered before release", "HTTP %d", status)
	default:
	}
	close(release)
	assert.Equal(t, 200, <-done, "HTTP status after release")
}

func TestAdd(t *testing.T) {
	s := upstreamtest.NewServer(upstreamtest.WithCustomers(40), upstreamtest.WithPageSize(10),
		upstreamtest.WithTenant("tok-a", "acme"))
	defer s.Close()
	before := map[string][]string{}
	for field := range sortOrders {
		before[field] = idsOf(all(t, s, "any", field))
	}
	tenantBefore := idsOf(all(t, s, "tok-a", "createdAt"))

	rec := s.Add("any", upstreamtest.Customer{Name: "Ada Lovelace", Email: "ada@example.com"})
	id, _ := rec["_id"].(string)
	require.NotEmpty(t, id, "Add = %v", rec)
	require.Equal(t, "Ada Lovelace", rec["name"], "Add = %v", rec)
	require.Equal(t, "ada@example.com", rec["contact"].(map[string]any)["email"], "Add = %v", rec)
	require.Equal(t, "ACTIVE", rec["status"], "Add = %v", rec)
	require.Equal(t, false, rec["verified"], "Add = %v", rec)
	require.Nil(t, rec["lastLogin"], "Add = %v", rec)
	require.Equal(t, rec["createdAt"], rec["updatedAt"], "Add = %v", rec)

	// Last by createdAt, on a page of its own (40 + 1 at 10 a page).
	recs := all(t, s, "any", "createdAt")
	require.Len(t, recs, 41, "createdAt order")
	require.Equal(t, id, recs[40]["_id"], "createdAt order: the new customer last")
	require.Greater(t, recs[40]["createdAt"].(string), recs[39]["createdAt"].(string), "createdAt order")
	got := list(t, s, "any", 5, "createdAt")
	if assert.Len(t, got, 1, "page 5: want the new customer alone") {
		assert.Equal(t, id, got[0]["_id"], "page 5: want the new customer alone")
	}
	// In every sort, in its place: the others keep their order around it.
	for field := range sortOrders {
		got := idsOf(all(t, s, "any", field))
		at := slices.Index(got, id)
		if assert.GreaterOrEqual(t, at, 0, "sort %s: no new customer", field) {
			assert.Len(t, got, 41, "sort %s", field)
			assert.Equal(t, before[field], slices.Delete(slices.Clone(got), at, at+1), "sort %s: others reordered", field)
		}
	}
	ids := idsOf(all(t, s, "any", "lastLogin"))
	assert.Equal(t, id, ids[40], "lastLogin: never logged in, want it last, got %d", slices.Index(ids, id))
	records := s.Records("")
	if assert.Len(t, records, 41, "Records") {
		assert.Equal(t, id, records[40]["_id"], "Records: the new customer last")
	}
	// Another tenant's dataset is untouched; an Add there gets its own ids.
	assert.Equal(t, tenantBefore, idsOf(all(t, s, "tok-a", "createdAt")), "tenant acme changed")
	recA := s.Add("tok-a", upstreamtest.Customer{Name: "Grace Hopper"})
	assert.NotEqual(t, id, recA["_id"], "tenant Add = %v", recA)
	assert.NotContains(t, recA, "contact", "tenant Add = %v", recA)
	assert.True(t, strings.HasPrefix(recA["_id"].(string), "6611"), "tenant Add = %v", recA)
}

// Adding while the server serves: run with -race.
func TestAddWhileServing(t *testing.T) {
	s := upstreamtest.NewServer(upstreamtest.WithCustomers(30))
	defer s.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 20 {
			s.Add("x", upstreamtest.Customer{Name: fmt.Sprintf("New %02d", i)})
		}
	}()
	for range 20 {
		assert.Len(t, list(t, s, "x", 1, "name"), 20, "page 1")
	}
	<-done
	got := all(t, s, "x", "createdAt")
	if assert.Len(t, got, 50, "after 20 adds") {
		assert.Equal(t, "New 19", got[49]["name"], "after 20 adds: the last")
	}
}

// sortOrders are the upstream's sort fields.
var sortOrders = map[string]bool{"createdAt": true, "updatedAt": true, "name": true, "lastLogin": true}

func TestRequestsKeepsTheLastThousand(t *testing.T) {
	s := upstreamtest.NewServer()
	t.Cleanup(s.Close)
	const sent = 2500 // past the point where older notes are dropped
	for page := 1; page <= sent; page++ {
		get(t, fmt.Sprintf("%s/customer/list?page=%d", s.URL, page), "", true)
	}
	reqs := s.Requests()
	require.Len(t, reqs, 1000)
	for i, r := range reqs {
		require.Equal(t, strconv.Itoa(sent-1000+1+i), r.Page, "request %d of the last thousand, oldest first", i)
	}
	assert.Equal(t, int64(sent), s.Calls())
}
