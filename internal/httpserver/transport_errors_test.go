package httpserver_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/upstream"
)

// unresolvableUpstream is an upstream client whose name lookups fail
// against a DNS server that knows no name: the failure names the
// resolver's address, as a lookup of a missing host does in production,
// without depending on this machine's DNS.
func unresolvableUpstream(t *testing.T) upstream.Option {
	t.Helper()
	// The server's port is held until the test ends, so that nothing else
	// can take it meanwhile.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	wg.Go(func() {
		msg := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(msg)
			if err != nil {
				return // closed at the end of the test
			}
			if n < 12 {
				continue // not even a DNS header
			}
			// The query itself is the answer once flagged as a response
			// (QR) with RCODE 3, no such name.
			msg[2] |= 0x80
			msg[3] = msg[3]&0xf0 | 3
			_, _ = pc.WriteTo(msg[:n], from)
		}
	})
	server := pc.LocalAddr().String()
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "udp", server)
	}}
	return upstream.WithHTTPClient(&http.Client{Transport: &http.Transport{
		DialContext: (&net.Dialer{Resolver: resolver}).DialContext,
	}})
}

func TestTransportErrorsReachTheLogsOnly(t *testing.T) {
	t.Parallel()
	for name, setup := range map[string]func(t *testing.T) (e *env, detail string){
		"closed port": func(t *testing.T) (*env, string) {
			e := newEnv(t, map[string]string{"UPSTREAM_RETRIES": "0"})
			e.up.Close()
			return e, "connect: connection refused"
		},
		"unresolvable host": func(t *testing.T) (*env, string) {
			e := newEnvWith(t, map[string]string{"UPSTREAM_RETRIES": "0", "BOTPENGUIN_BASE_URL": "http://api.partner.invalid"},
				[]upstream.Option{unresolvableUpstream(t)})
			return e, "lookup api.partner.invalid"
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e, detail := setup(t)
			r := e.query(pageQuery, nil)
			require.Equal(t, []string{"UPSTREAM_UNAVAILABLE"}, r.codes(), r.Raw)
			assert.Equal(t, "upstream: unavailable", r.Errors[0].Message)
			assert.Nil(t, r.Errors[0].Extensions["upstreamStatus"], "no answer came")
			for _, leak := range []string{detail, "dial", "lookup", "127.0.0.1", "invalid"} {
				assert.NotContains(t, r.Raw, leak)
			}

			var logged bool
			for _, line := range strings.Split(e.logs.String(), "\n") {
				if strings.Contains(line, `"msg":"upstream error"`) {
					logged = true
					assert.Contains(t, line, detail)
					assert.Contains(t, line, `"code":"UPSTREAM_UNAVAILABLE"`)
					assert.Contains(t, line, `"request_id"`)
				}
			}
			assert.True(t, logged, "the detail is logged for operators:\n%s", e.logs.String())
		})
	}
}

func TestUpstreamStatusStaysInTheGenericMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"UPSTREAM_RETRIES": "0"})
	e.up.SetFault(func(w http.ResponseWriter, _ *http.Request) bool {
		w.WriteHeader(http.StatusBadGateway)
		return true
	})
	r := e.query(pageQuery, nil)
	require.Equal(t, []string{"UPSTREAM_UNAVAILABLE"}, r.codes(), r.Raw)
	assert.Equal(t, "upstream: unavailable (HTTP 502)", r.Errors[0].Message)
	assert.EqualValues(t, 502, r.Errors[0].Extensions["upstreamStatus"])
}
