package httpserver

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/botpenguin-gateway/gateway/graph"
	"github.com/botpenguin-gateway/gateway/internal/auth"
	"github.com/botpenguin-gateway/gateway/upstream"
)

// maxRateLimitedClients bounds the limiters kept; the least recently seen
// client starts over with a full bucket.
const maxRateLimitedClients = 10000

// maxVerifiedTokens bounds the pass-through tokens remembered as accepted
// by the upstream; a token forgotten is charged to its address again until
// the upstream accepts it once more.
const maxVerifiedTokens = 10000

// clientKind is what a rate limit bucket belongs to.
type clientKind uint8

const (
	// kindToken is a credential someone verified: an access token the
	// gateway checked (server-key mode) or a token the upstream accepted
	// (pass-through mode).
	kindToken clientKind = iota
	// kindAddress is everyone else, by address: no token, a token anybody
	// could have made up, or one refused.
	kindAddress
)

func (k clientKind) String() string {
	if k == kindToken {
		return "token"
	}
	return "address"
}

// bucketKey names a bucket without holding a token: a token is known by a
// hash, an address by its bytes.
type bucketKey struct {
	kind clientKind
	id   [sha256.Size]byte
}

// clientLimiter is a token bucket per client, so that one client cannot use
// up the agency's upstream quota. It runs after auth, because only a
// verified credential may have a bucket of its own: were any token enough,
// a client would get a fresh bucket by changing its token.
type clientLimiter struct {
	rps         rate.Limit
	burst       int
	now         func() time.Time
	proxies     []netip.Prefix
	passThrough bool
	// tokenKey keys the HMAC of pass-through tokens: random per process, so
	// that what the limiter keeps is worth nothing outside it.
	tokenKey [32]byte
	mu       sync.Mutex
	limiters *lru.Cache[bucketKey, *rate.Limiter]
	// verified holds the HMAC of the pass-through tokens the upstream
	// accepted and has not refused since.
	verified *lru.Cache[[sha256.Size]byte, struct{}]
	refused  *prometheus.CounterVec
}

type limiterOptions struct {
	rps            float64
	burst          int
	passThrough    bool
	trustedProxies []netip.Prefix
	now            func() time.Time // nil is time.Now
}

func newClientLimiter(opts limiterOptions, reg prometheus.Registerer) *clientLimiter {
	limiters, _ := lru.New[bucketKey, *rate.Limiter](maxRateLimitedClients)
	verified, _ := lru.New[[sha256.Size]byte, struct{}](maxVerifiedTokens)
	l := &clientLimiter{
		rps: rate.Limit(opts.rps), burst: opts.burst, now: opts.now,
		proxies: opts.trustedProxies, passThrough: opts.passThrough,
		limiters: limiters, verified: verified,
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_rate_limited_requests_total",
			Help: "Requests refused by the per-client rate limit, by the kind of client: token (a verified credential) or address.",
		}, []string{"kind"}),
	}
	if l.now == nil {
		l.now = time.Now
	}
	_, _ = rand.Read(l.tokenKey[:]) // never fails (crypto/rand)
	for _, k := range []clientKind{kindToken, kindAddress} {
		l.refused.WithLabelValues(k.String())
	}
	reg.MustRegister(l.refused)
	return l
}

// client is the bucket a request is charged to.
func (l *clientLimiter) client(r *http.Request) bucketKey {
	if l.passThrough {
		if token, err := auth.Token(r.Context()); err == nil {
			if id := l.tokenID(token); l.verified.Contains(id) {
				return bucketKey{kind: kindToken, id: id}
			}
		}
	} else if id, ok := auth.VerifiedClient(r.Context()); ok {
		return bucketKey{kind: kindToken, id: id}
	}
	key := bucketKey{kind: kindAddress}
	addr := addressBucket(clientAddress(r, l.proxies)).As16()
	copy(key.id[:], addr[:])
	return key
}

func (l *clientLimiter) tokenID(token upstream.Token) [sha256.Size]byte {
	mac := hmac.New(sha256.New, l.tokenKey[:])
	mac.Write([]byte(token))
	var id [sha256.Size]byte
	mac.Sum(id[:0])
	return id
}

func (l *clientLimiter) limiter(key bucketKey) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.limiters.Get(key)
	if !ok {
		lim = rate.NewLimiter(l.rps, l.burst)
		l.limiters.Add(key, lim)
	}
	return lim
}

func (l *clientLimiter) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		key := l.client(r)
		now := l.now()
		res := l.limiter(key).ReserveN(now, 1)
		if delay := res.DelayFrom(now); delay > 0 {
			res.CancelAt(now)
			l.refused.WithLabelValues(key.kind.String()).Inc()
			seconds := int(math.Ceil(delay.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(seconds))
			writeErrorExt(w, http.StatusTooManyRequests, graph.CodeRateLimited,
				fmt.Sprintf("rate limit of %g requests per second exceeded; retry in %s", float64(l.rps), delay.Round(time.Millisecond)),
				map[string]any{"retryAfterSeconds": seconds})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// learnTokens wraps the customer list so that the limiter learns, from the
// upstream's answers, which pass-through tokens are real: a page is proof,
// a 401 withdraws it.
func (l *clientLimiter) learnTokens(customers graph.Customers) graph.Customers {
	return tokenLearner{customers, l}
}

type tokenLearner struct {
	graph.Customers
	limiter *clientLimiter
}

func (t tokenLearner) List(ctx context.Context, token upstream.Token, page int, sort upstream.Sort) (upstream.Page, error) {
	p, err := t.Customers.List(ctx, token, page, sort)
	switch {
	case err == nil:
		t.limiter.verified.Add(t.limiter.tokenID(token), struct{}{})
	case errors.Is(err, upstream.ErrUnauthorized):
		t.limiter.verified.Remove(t.limiter.tokenID(token))
	}
	return p, err
}

// learnTokensFromCreates does as learnTokens for creates: any answer but
// a 401 is proof, a 401 withdraws it.
func (l *clientLimiter) learnTokensFromCreates(creator graph.Creator) graph.Creator {
	return createLearner{creator, l}
}

type createLearner struct {
	graph.Creator
	limiter *clientLimiter
}

func (t createLearner) Create(ctx context.Context, token upstream.Token, in upstream.CreateCustomerRequest) (upstream.Customer, error) {
	c, err := t.Creator.Create(ctx, token, in)
	switch {
	case err == nil, errors.Is(err, upstream.ErrConflict), errors.Is(err, upstream.ErrRejected):
		t.limiter.verified.Add(t.limiter.tokenID(token), struct{}{})
	case errors.Is(err, upstream.ErrUnauthorized):
		t.limiter.verified.Remove(t.limiter.tokenID(token))
	}
	return c, err
}

// clientAddress is the address a request comes from: the socket's peer, or,
// when that peer is a trusted proxy, the right-most X-Forwarded-For entry
// that is not itself a trusted proxy. Entries left of it were written by
// the client and prove nothing. The zero Addr stands for a peer that has no
// IP address.
func clientAddress(r *http.Request, proxies []netip.Prefix) netip.Addr {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	addr := peer.Addr().Unmap().WithZone("")
	if !trusted(addr, proxies) {
		return addr
	}
	forwarded := r.Header.Values("X-Forwarded-For")
	for i := len(forwarded) - 1; i >= 0; i-- {
		entries := strings.Split(forwarded[i], ",")
		for j := len(entries) - 1; j >= 0; j-- {
			hop, ok := forwardedAddr(entries[j])
			if !ok {
				// Garbage from a hop we cannot trust: the proxy that passed
				// it on is the client as far as we know.
				return addr
			}
			addr = hop
			if !trusted(addr, proxies) {
				return addr
			}
		}
	}
	return addr
}

// forwardedAddr reads one X-Forwarded-For entry: an address, with a port
// for the few proxies that add one.
func forwardedAddr(entry string) (netip.Addr, bool) {
	entry = strings.TrimSpace(entry)
	addr, err := netip.ParseAddr(entry)
	if err != nil {
		addrPort, perr := netip.ParseAddrPort(entry)
		if perr != nil {
			return netip.Addr{}, false
		}
		addr = addrPort.Addr()
	}
	return addr.Unmap().WithZone(""), true
}

func trusted(addr netip.Addr, proxies []netip.Prefix) bool {
	for _, p := range proxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// addressBucket is the address a bucket is kept for: an IPv4 address as
// is, an IPv6 address by its /64, the smallest network a provider gives a
// subscriber, from which one client can use as many addresses as it likes.
func addressBucket(addr netip.Addr) netip.Addr {
	if addr.Is6() {
		prefix, _ := addr.Prefix(64)
		return prefix.Addr()
	}
	return addr
}
