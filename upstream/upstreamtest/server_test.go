package upstreamtest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

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
	if err != nil {
		t.Fatal(err)
	}
	if authtype {
		req.Header.Set("authtype", "Key")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
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
	if a.status != http.StatusOK {
		t.Fatalf("page %d sort %s: HTTP %d %s", page, sortField, a.status, a.body)
	}
	var env envelope
	if err := json.Unmarshal([]byte(a.body), &env); err != nil {
		t.Fatal(err)
	}
	if !env.Success || env.Code != 200 || env.Data == nil {
		t.Fatalf("page %d: envelope %s", page, a.body)
	}
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
	if len(first) != 20 {
		t.Fatalf("page 1 has %d records, want 20", len(first))
	}
	c := first[0]
	want := map[string]any{
		"_id": "661000009e3779b97f4a7c15", "name": "Jonas v1", "status": "SUSPENDED", "verified": false,
		"createdAt": "2024-01-02T07:06:04.395Z", "updatedAt": "2024-01-03T00:27:29.395Z",
		"lastLogin": "2024-01-10T06:10:24.395Z", "subscriptionType": "v2", "agencyId": "65f0c0ffee0000000000beef",
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("record 0 %s = %v, want %v", k, c[k], v)
		}
	}
	if email := c["contact"].(map[string]any)["email"]; email != "jonas+0@monday101.com" {
		t.Errorf("record 0 email = %v", email)
	}

	recs := all(t, s, "any", "createdAt")
	if len(recs) != 300 {
		t.Fatalf("got %d records, want 300", len(recs))
	}
	if got := list(t, s, "any", 15, "createdAt"); len(got) != 20 {
		t.Errorf("page 15 has %d records, want 20", len(got))
	}
	if got := list(t, s, "any", 16, "createdAt"); len(got) != 0 {
		t.Errorf("page 16 has %d records, want 0", len(got))
	}
	ids := map[string]bool{}
	prev := ""
	for i, r := range recs {
		id := r["_id"].(string)
		if ids[id] {
			t.Errorf("duplicate id at %d", i)
		}
		ids[id] = true
		created := r["createdAt"].(string)
		if created <= prev {
			t.Errorf("createdAt not strictly increasing at %d: %s after %s", i, created, prev)
		}
		prev = created
		_, hasContact := r["contact"]
		if hasContact != (i%50 != 49) {
			t.Errorf("record %d: contact present = %v", i, hasContact)
		}
		if (r["lastLogin"] == nil) != (i%7 == 6) {
			t.Errorf("record %d: lastLogin = %v", i, r["lastLogin"])
		}
		if (r["status"] == "SUSPENDED") != (i%61 == 0) {
			t.Errorf("record %d: status = %v", i, r["status"])
		}
		if r["agencyId"] == nil {
			t.Errorf("record %d has no extra field", i)
		}
	}
	if got := s.Records(""); len(got) != 300 || got[7]["_id"] != recs[7]["_id"] {
		t.Errorf("Records disagrees with the served pages")
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
				if !le(recs[i-1], recs[i]) {
					t.Errorf("records %d and %d out of %s order", i-1, i, field)
				}
			}
			got := idsOf(recs)
			sort.Strings(got)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("sort %s does not hold every customer once", field)
			}
		})
	}
	if got := list(t, s, "tok", 1, ""); len(got) != 10 {
		t.Errorf("no sort: %d records, want 10", len(got))
	}
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
			if a.status != tt.status || (tt.body != "" && a.body != tt.body) {
				t.Errorf("HTTP %d %s; want %d %s", a.status, a.body, tt.status, tt.body)
			}
		})
	}
	if got := s.Calls(); got != int64(len(tests)) {
		t.Errorf("Calls = %d, want %d", got, len(tests))
	}
	reqs := s.Requests()
	if len(reqs) != len(tests) || reqs[0] != (upstreamtest.Request{Page: "1", Sort: "name", AuthType: "Key", HasBearer: true}) ||
		reqs[1].AuthType != "" || reqs[2].HasBearer {
		t.Errorf("Requests = %+v", reqs)
	}
	s.ResetCalls()
	if s.Calls() != 0 || len(s.Requests()) != 0 {
		t.Error("ResetCalls did not reset")
	}
}

func TestTenants(t *testing.T) {
	s := upstreamtest.NewServer(upstreamtest.WithToken("main"),
		upstreamtest.WithTenant("tok-a", "acme"), upstreamtest.WithTenant("tok-b", "globex"))
	defer s.Close()
	seen := map[string]string{}
	for _, tok := range []string{"main", "tok-a", "tok-b"} {
		for _, r := range all(t, s, tok, "createdAt") {
			id := r["_id"].(string)
			if other, ok := seen[id]; ok {
				t.Fatalf("id %s seen by %s and %s", id, other, tok)
			}
			seen[id] = tok
		}
	}
	a := list(t, s, "tok-a", 1, "createdAt")[0]
	if !strings.HasSuffix(a["name"].(string), " (acme)") || !strings.HasSuffix(a["contact"].(map[string]any)["email"].(string), "@acme.monday101.com") {
		t.Errorf("tenant record = %v", a)
	}
	if rs := s.Requests(); rs[len(rs)-1].Tenant != "acme" || rs[0].Tenant != "" {
		t.Errorf("request tenants = %q, %q; want \"\", acme", rs[0].Tenant, rs[len(rs)-1].Tenant)
	}
	if got := s.Records("tok-b")[0]["_id"]; got != list(t, s, "tok-b", 1, "createdAt")[0]["_id"] {
		t.Errorf("Records(tok-b) = %v", got)
	}
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
	if _, ok := recs[0]["contact"]; ok {
		t.Error("record 0 still has a contact")
	}
	if recs[1]["createdAt"] != "garbage" {
		t.Errorf("record 1 createdAt = %v", recs[1]["createdAt"])
	}
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
			if a.status != tt.status || (tt.body != "" && a.body != tt.body) || a.header.Get("Retry-After") != tt.retryAfter {
				t.Errorf("HTTP %d %s (Retry-After %q)", a.status, a.body, a.header.Get("Retry-After"))
			}
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
	if got, want := statuses(5), "502 502 403 200 200"; got != want {
		t.Errorf("Times/Chain statuses = %s, want %s", got, want)
	}
	s.SetFault(upstreamtest.Ratio(0.5, upstreamtest.Status(500), 42))
	first := statuses(40)
	s.SetFault(upstreamtest.Ratio(0.5, upstreamtest.Status(500), 42))
	if second := statuses(40); first != second {
		t.Errorf("Ratio with one seed differs:\n%s\n%s", first, second)
	}
	if n := strings.Count(first, "500"); n < 8 || n > 32 {
		t.Errorf("Ratio 0.5 failed %d of 40 calls", n)
	}
	if s.Calls() != 85 {
		t.Errorf("Calls = %d, want 85", s.Calls())
	}
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
	if page := <-arrived; page != "3" {
		t.Errorf("Notify sent %q, want 3", page)
	}
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
		t.Fatalf("answered before release: %d", status)
	default:
	}
	close(release)
	if status := <-done; status != 200 {
		t.Errorf("after release: HTTP %d", status)
	}
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
	if id == "" || rec["name"] != "Ada Lovelace" || rec["contact"].(map[string]any)["email"] != "ada@example.com" ||
		rec["status"] != "ACTIVE" || rec["verified"] != false || rec["lastLogin"] != nil || rec["createdAt"] != rec["updatedAt"] {
		t.Fatalf("Add = %v", rec)
	}

	// Last by createdAt, on a page of its own (40 + 1 at 10 a page).
	recs := all(t, s, "any", "createdAt")
	if len(recs) != 41 || recs[40]["_id"] != id || recs[40]["createdAt"].(string) <= recs[39]["createdAt"].(string) {
		t.Fatalf("createdAt order: %d records, last %v", len(recs), recs[len(recs)-1])
	}
	if got := list(t, s, "any", 5, "createdAt"); len(got) != 1 || got[0]["_id"] != id {
		t.Errorf("page 5 = %v, want the new customer alone", got)
	}
	// In every sort, in its place: the others keep their order around it.
	for field := range sortOrders {
		got := idsOf(all(t, s, "any", field))
		at := slices.Index(got, id)
		if at < 0 || len(got) != 41 || !slices.Equal(slices.Delete(slices.Clone(got), at, at+1), before[field]) {
			t.Errorf("sort %s: new customer at %d of %d; others reordered", field, at, len(got))
		}
	}
	if got := idsOf(all(t, s, "any", "lastLogin")); got[40] != id {
		t.Errorf("lastLogin: never logged in, want it last, got %d", slices.Index(got, id))
	}
	if got := s.Records(""); len(got) != 41 || got[40]["_id"] != id {
		t.Errorf("Records: %d, last %v", len(got), got[len(got)-1]["_id"])
	}
	// Another tenant's dataset is untouched; an Add there gets its own ids.
	if got := idsOf(all(t, s, "tok-a", "createdAt")); !slices.Equal(got, tenantBefore) {
		t.Errorf("tenant acme changed: %d records", len(got))
	}
	recA := s.Add("tok-a", upstreamtest.Customer{Name: "Grace Hopper"})
	if _, hasContact := recA["contact"]; recA["_id"] == id || hasContact || !strings.HasPrefix(recA["_id"].(string), "6611") {
		t.Errorf("tenant Add = %v", recA)
	}
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
		if n := len(list(t, s, "x", 1, "name")); n != 20 {
			t.Errorf("page 1 has %d records", n)
		}
	}
	<-done
	if got := all(t, s, "x", "createdAt"); len(got) != 50 || got[49]["name"] != "New 19" {
		t.Errorf("after 20 adds: %d records, last %v", len(got), got[len(got)-1]["name"])
	}
}

// sortOrders are the upstream's sort fields.
var sortOrders = map[string]bool{"createdAt": true, "updatedAt": true, "name": true, "lastLogin": true}
