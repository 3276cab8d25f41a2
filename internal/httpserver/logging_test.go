package httpserver_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/internal/httpserver"
	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

func TestEveryLogLineOfARequestHasItsID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"UPSTREAM_RETRIES": "1"})
	e.up.SetFault(upstreamtest.Times(1, upstreamtest.Status(503)))
	req, _ := http.NewRequest(http.MethodPost, e.gw.URL+"/query",
		strings.NewReader(`{"query": "{ customers { nodes { id status contact { email } } } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("X-Request-ID", "rid-42")
	resp, err := e.gw.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()

	lines := 0
	for _, line := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		var entry map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &entry), line)
		assert.Equal(t, "rid-42", entry["request_id"], line)
		assert.NotContains(t, line, "monday101.com", "no email in a log line")
		lines++
	}
	assert.GreaterOrEqual(t, lines, 4, "upstream attempts, the retry, the unknown status and the request:\n%s", e.logs)
}

func TestBufferedWriterFlushes(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	w := httpserver.NewBufferedWriter(&out, 10*time.Millisecond)
	_, _ = w.Write([]byte("line 1\n"))
	require.Eventually(t, func() bool { return out.String() == "line 1\n" }, 5*time.Second, time.Millisecond, "flushed on the tick")
	_, _ = w.Write([]byte("line 2\n"))
	w.Close()
	assert.Equal(t, "line 1\nline 2\n", out.String(), "flushed on Close")
}
