// Package upstreamtest is a fake of BotPenguin's Partner API over real HTTP,
// for tests and for the gateway's -demo mode, in the manner of
// net/http/httptest: NewServer starts it on a loopback port, URL is its base
// URL, Close stops it.
//
// It serves GET /customer/list?page=N&sort=FIELD from a deterministic
// dataset whose answers are precomputed, so that it is cheap enough for
// benchmarks. The dataset is mutable: Add creates a customer, as the
// upstream's create would, and the answers are computed again. It also
// serves the create itself (POST /customer/create) and login tokens (GET
// /ext/get-user-token, see LoginKey and staffOf). Faults (see Fault) make
// any endpoint fail, stall, rate limit or lose its answer, at start or at
// run time.
package upstreamtest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server is a running fake upstream.
type Server struct {
	// URL is the base URL, http://127.0.0.1:port, with no trailing slash.
	URL string

	srv    *httptest.Server
	ctx    context.Context // parent of every request context; cancelled by Close
	cancel context.CancelFunc
	calls  atomic.Int64 // PathList

	createCalls atomic.Int64
	tokenCalls  atomic.Int64

	// Set by options, read-only once serving.
	customers int
	pageSize  int
	token     string
	latency   time.Duration
	record    func(i int, rec map[string]any)
	tenantOpt []tenantOption

	def     *dataset            // the dataset of every accepted token that is not a tenant's
	tenants map[string]*dataset // token → its own dataset

	mu        sync.Mutex
	fault     Fault
	requests  []Request
	creates   []CreateRequest
	tokenReqs []TokenRequest
}

type tenantOption struct{ token, label string }

// Request is what the fake noted about one /customer/list request. It holds
// no token.
type Request struct {
	Page      string // the page query parameter as sent ("" when missing)
	Sort      string // the sort query parameter as sent
	AuthType  string // the authtype header as sent
	HasBearer bool   // Authorization had the form "Bearer <something>"
	Tenant    string // the label of the tenant whose token was sent; "" otherwise
}

const maxRequests = 1000 // requests kept for Requests

// Option configures a Server in NewServer.
type Option func(*Server)

// WithCustomers sets the number of customers (default 300).
func WithCustomers(n int) Option { return func(s *Server) { s.customers = n } }

// WithPageSize sets the number of customers per page (default 20).
func WithPageSize(n int) Option { return func(s *Server) { s.pageSize = n } }

// WithToken makes tok the only bearer token that sees the default dataset
// (besides the tokens of WithTenant). By default any non-empty bearer token
// does.
func WithToken(tok string) Option { return func(s *Server) { s.token = tok } }

// WithLatency delays every answer by d (cut short when the client goes
// away).
func WithLatency(d time.Duration) Option { return func(s *Server) { s.latency = d } }

// WithRecord lets f change the raw JSON record of customer i (0-based, in
// createdAt order) before the pages are built, in every dataset: delete
// "contact", set "createdAt" to "garbage", add fields. Sort orders stay those
// of the original values.
func WithRecord(f func(i int, rec map[string]any)) Option {
	return func(s *Server) { s.record = f }
}

// WithTenant gives token a dataset of its own: the same shape as the default
// one, but other ids (prefix "66" then 0x11, 0x12, … instead of "6610"),
// names ending in " (label)" and emails at label.monday101.com. Use it to
// prove that two tokens never see each other's customers. label should be
// short, lowercase letters and digits.
func WithTenant(token, label string) Option {
	return func(s *Server) { s.tenantOpt = append(s.tenantOpt, tenantOption{token, label}) }
}

// NewServer builds the datasets and starts the fake on 127.0.0.1 at a
// system-chosen port. It panics on an invalid option, like httptest.
func NewServer(opts ...Option) *Server {
	s := &Server{customers: 300, pageSize: 20, tenants: map[string]*dataset{}}
	for _, opt := range opts {
		opt(s)
	}
	if s.customers < 0 || s.pageSize < 1 {
		panic(fmt.Sprintf("upstreamtest: customers must be >= 0 and page size >= 1, got %d and %d", s.customers, s.pageSize))
	}
	s.def = s.build(0, "")
	for k, t := range s.tenantOpt {
		if t.token == "" {
			panic("upstreamtest: WithTenant: empty token")
		}
		s.tenants[t.token] = s.build(k+1, t.label)
	}

	mux := http.NewServeMux()
	mux.HandleFunc(PathList, s.serveList)
	mux.HandleFunc(PathCreate, s.serveCreate)
	mux.HandleFunc(PathUserToken, s.serveUserToken)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		write(w, http.StatusNotFound, errBody(404, "Not Found"))
	})
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.srv = httptest.NewUnstartedServer(mux)
	s.srv.Config.BaseContext = func(net.Listener) context.Context { return s.ctx }
	s.srv.Start()
	s.URL = s.srv.URL
	return s
}

func (s *Server) build(k int, label string) *dataset {
	cs := generate(s.customers, k, label)
	if s.record != nil {
		for i := range cs {
			s.record(i, cs[i].record)
		}
	}
	d, err := newDataset(cs, k, label, s.pageSize)
	if err != nil {
		panic("upstreamtest: WithRecord: " + err.Error())
	}
	return d
}

// Close stops the server. Requests held by a fault (Hang, Stall, latency)
// are released first, so Close never waits for a client.
func (s *Server) Close() {
	s.cancel()
	s.srv.Close()
}

// Calls is the number of /customer/list requests received, failed ones
// included.
func (s *Server) Calls() int64 { return s.calls.Load() }

// CallsTo is the number of requests received by the endpoint at path
// (PathList, PathCreate, PathUserToken), failed ones included.
func (s *Server) CallsTo(path string) int64 {
	switch path {
	case PathList:
		return s.calls.Load()
	case PathCreate:
		return s.createCalls.Load()
	case PathUserToken:
		return s.tokenCalls.Load()
	}
	panic("upstreamtest: CallsTo: no endpoint " + path)
}

// ResetCalls sets every endpoint's calls to zero and forgets the noted
// requests.
func (s *Server) ResetCalls() {
	s.calls.Store(0)
	s.createCalls.Store(0)
	s.tokenCalls.Store(0)
	s.mu.Lock()
	s.requests, s.creates, s.tokenReqs = nil, nil, nil
	s.mu.Unlock()
}

// Requests returns the last /customer/list requests received (at most
// 1000), oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return lastNoted(s.requests)
}

// CreateRequests returns the last /customer/create requests received (at
// most 1000), oldest first.
func (s *Server) CreateRequests() []CreateRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return lastNoted(s.creates)
}

// TokenRequests returns the last /ext/get-user-token requests received (at
// most 1000), oldest first.
func (s *Server) TokenRequests() []TokenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return lastNoted(s.tokenReqs)
}

// SetFault makes the server answer the next calls, of every endpoint,
// through f (OnPath limits it to one); nil clears it.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
}

// Records returns fresh copies of the raw records that token sees, in
// createdAt order (index i is customer i), as served (after WithRecord),
// those made by Add included. An empty token gives the default dataset.
func (s *Server) Records(token string) []map[string]any {
	cs := s.datasetOf(token).current().customers
	out := make([]map[string]any, len(cs))
	for i := range cs {
		out[i] = copyRecord(cs[i].json)
	}
	return out
}

// Customer is a customer for Add to create.
type Customer struct {
	Name  string
	Email string // the contact email; "" for none
}

// Add creates c in the dataset that token sees (the default one unless
// token is a tenant's), as the upstream's create would: a new _id, a
// createdAt after every other customer's (so c comes last in that order),
// updatedAt the same, status ACTIVE, not verified, subscription v2, never
// logged in. WithRecord does not apply to it. Every list answer from then
// on holds it, in its place in every sort. Add returns c's record as the
// list serves it. It is safe to call while the server serves.
func (s *Server) Add(token string, c Customer) map[string]any {
	return s.datasetOf(token).add(c)
}

// datasetOf is the dataset that token sees.
func (s *Server) datasetOf(token string) *dataset {
	if d, ok := s.tenants[token]; ok {
		return d
	}
	return s.def
}

var unauthorized = errBody(401, "Unauthorized")

func (s *Server) serveList(w http.ResponseWriter, r *http.Request) {
	s.calls.Add(1)
	q := r.URL.Query()
	tok, hasBearer := bearerOf(r)
	ten := s.tenantOf(tok, hasBearer)
	s.mu.Lock()
	s.requests = noted(s.requests, Request{
		Page: q.Get("page"), Sort: q.Get("sort"), AuthType: r.Header.Get("authtype"),
		HasBearer: hasBearer, Tenant: ten.label,
	})
	fault := s.fault
	s.mu.Unlock()

	w, done := s.intercept(w, r, fault)
	if done {
		return
	}

	if r.Method != http.MethodGet {
		write(w, http.StatusMethodNotAllowed, errBody(405, "Method Not Allowed"))
		return
	}
	if !s.authorized(r, tok, hasBearer) {
		write(w, http.StatusUnauthorized, unauthorized)
		return
	}
	page := 1
	if v := q.Get("page"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 {
			write(w, http.StatusBadRequest, errBody(400, "page must be a positive integer"))
			return
		}
		page = p
	}
	field := q.Get("sort")
	if field == "" {
		field = "createdAt"
	}
	if _, known := sortFields[field]; !known {
		write(w, http.StatusBadRequest, errBody(400, "unknown sort field"))
		return
	}
	ps := ten.current().pages[field]
	if page > len(ps) {
		write(w, http.StatusOK, emptyPage)
		return
	}
	write(w, http.StatusOK, ps[page-1])
}

// bearerOf is r's bearer token; ok is false when there is none.
func bearerOf(r *http.Request) (tok string, ok bool) {
	tok, ok = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return tok, ok && tok != ""
}

// tenantOf is the dataset that the bearer token tok sees.
func (s *Server) tenantOf(tok string, hasBearer bool) *dataset {
	if d, ok := s.tenants[tok]; ok && hasBearer {
		return d
	}
	return s.def
}

// authorized checks the headers of every endpoint: authtype Key and a
// bearer token that the server accepts (see WithToken and WithTenant).
func (s *Server) authorized(r *http.Request, tok string, hasBearer bool) bool {
	_, tenantToken := s.tenants[tok]
	return r.Header.Get("authtype") == "Key" && hasBearer && (tenantToken || s.token == "" || tok == s.token)
}

// intercept is what every endpoint does before its answer: the latency,
// then fault. done is true when the request is answered (or given up);
// otherwise the answer goes to the returned writer, through which a fault
// can lose it (LoseAnswer).
func (s *Server) intercept(w http.ResponseWriter, r *http.Request, fault Fault) (_ http.ResponseWriter, done bool) {
	if s.latency > 0 && !wait(r.Context(), s.latency) {
		return w, true
	}
	if fault == nil {
		return w, false
	}
	lw := &losable{ResponseWriter: w}
	return lw, fault(lw, r)
}

func write(w http.ResponseWriter, status int, body []byte) {
	if lw, ok := w.(*losable); ok && lw.lose {
		lw.drop()
		return
	}
	h := w.Header()
	h["Content-Type"] = []string{"application/json; charset=utf-8"}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	w.Write(body)
}

// wait sleeps d; it returns false, early, when ctx is done first.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
