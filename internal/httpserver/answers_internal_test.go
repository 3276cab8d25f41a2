package httpserver

import (
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
)

func TestAnswerIsKeptNoLongerThanItsOldestPage(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	c := newAnswerCache(30*time.Second, 10, prometheus.NewRegistry())
	c.now = func() time.Time { return now }
	answer := func(age time.Duration) *sharedResponse {
		return &sharedResponse{status: http.StatusOK, body: []byte(`{"data":{}}`), outcome: outcome{answered: true, pageAge: age}}
	}

	c.add("fresh", answer(0))
	c.add("old", answer(20*time.Second))
	c.add("expired page", answer(30*time.Second))
	now = now.Add(11 * time.Second)
	_, ok := c.get("fresh")
	assert.True(t, ok, "fresh pages: kept for the whole TTL")
	_, ok = c.get("old")
	assert.False(t, ok, "a 20 s old page leaves the answer 10 s")
	_, ok = c.get("expired page")
	assert.False(t, ok)
	now = now.Add(19 * time.Second)
	_, ok = c.get("fresh")
	assert.False(t, ok, "past the TTL")

	for name, a := range map[string]*sharedResponse{
		"error":    {status: http.StatusOK, outcome: outcome{answered: true, codes: []string{"UPSTREAM_UNAVAILABLE"}}},
		"stale":    {status: http.StatusOK, outcome: outcome{answered: true, stale: true}},
		"HTTP 400": {status: http.StatusBadRequest, outcome: outcome{answered: true}},
		"too big":  {status: http.StatusOK, body: make([]byte, maxCachedAnswer+1), outcome: outcome{answered: true}},
	} {
		c.add(name, a)
		_, ok := c.get(name)
		assert.False(t, ok, name)
	}

	var off *answerCache // CACHE_TTL=0
	off.add("x", answer(0))
	_, ok = off.get("x")
	assert.False(t, ok)
	assert.Nil(t, newAnswerCache(0, 10, prometheus.NewRegistry()))
}
