package httpserver

import (
	"net/http"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// maxCachedAnswer keeps one unusual answer from taking much of the cache.
const maxCachedAnswer = 256 << 10

// answerCache keeps whole answers of the request coalescer when the page
// cache is on (CACHE_TTL): an identical request (same credential, body,
// Accept and Accept-Encoding; the coalescing key) within the TTL is
// answered from memory, without parsing, resolving or rendering. An answer
// is kept only as long as its oldest page would be, so it is never older
// than CACHE_TTL, just as an answer built from cached pages. Only complete
// answers are kept: HTTP 200, no error, not stale.
type answerCache struct {
	ttl      time.Duration
	lru      *lru.Cache[string, cachedAnswer]
	now      func() time.Time
	requests *prometheus.CounterVec
}

type cachedAnswer struct {
	answer  *sharedResponse
	expires time.Time
}

// newAnswerCache returns nil, a cache that keeps nothing, when ttl is 0.
func newAnswerCache(ttl time.Duration, maxEntries int, reg prometheus.Registerer) *answerCache {
	if ttl <= 0 {
		return nil
	}
	l, err := lru.New[string, cachedAnswer](maxEntries)
	if err != nil {
		panic(err) // only for a size < 1, which the configuration refuses
	}
	c := &answerCache{ttl: ttl, lru: l, now: time.Now, requests: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_graphql_answer_cache_requests_total",
		Help: "GraphQL requests looked up in the answer cache, by result (hit, miss).",
	}, []string{"result"})}
	reg.MustRegister(c.requests)
	return c
}

func (c *answerCache) get(key string) (*sharedResponse, bool) {
	if c == nil {
		return nil, false
	}
	if e, ok := c.lru.Get(key); ok {
		if c.now().Before(e.expires) {
			c.requests.WithLabelValues("hit").Inc()
			return e.answer, true
		}
		c.lru.Remove(key)
	}
	c.requests.WithLabelValues("miss").Inc()
	return nil, false
}

func (c *answerCache) add(key string, a *sharedResponse) {
	if c == nil || a.status != http.StatusOK || !a.outcome.answered || len(a.outcome.codes) > 0 ||
		a.outcome.stale || len(a.body) > maxCachedAnswer {
		return
	}
	keep := c.ttl - a.outcome.pageAge
	if keep <= 0 {
		return
	}
	c.lru.Add(key, cachedAnswer{answer: a, expires: c.now().Add(keep)})
}
