package upstreamtest

import (
	"bufio"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// A Fault may answer a call of any endpoint in place of the normal handler
// (OnPath limits it to one): it returns true when it wrote an answer (or
// gave up on the request), false to let the normal answer follow. It runs
// after the call is counted and noted, and before authentication.
// r.Context() is done when the client goes away or the server closes.
// Faults are safe for concurrent use.
type Fault func(w http.ResponseWriter, r *http.Request) bool

// Status answers with HTTP status code and a success:false envelope whose
// code is the same.
func Status(code int) Fault {
	body := errBody(code, http.StatusText(code))
	return func(w http.ResponseWriter, _ *http.Request) bool {
		write(w, code, body)
		return true
	}
}

// StatusMessage answers with HTTP status code and a success:false
// envelope with that code and msg, e.g. a 422 that names a field.
func StatusMessage(code int, msg string) Fault {
	body := errBody(code, msg)
	return func(w http.ResponseWriter, _ *http.Request) bool {
		write(w, code, body)
		return true
	}
}

// RateLimit answers 429 with the given Retry-After header (none when
// retryAfter is empty).
func RateLimit(retryAfter string) Fault {
	body := errBody(http.StatusTooManyRequests, "Too Many Requests")
	return func(w http.ResponseWriter, _ *http.Request) bool {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		write(w, http.StatusTooManyRequests, body)
		return true
	}
}

// EnvelopeError answers HTTP 200 with {"success":false,"message":msg,
// "data":null,"code":code}.
func EnvelopeError(code int, msg string) Fault {
	body := errBody(code, msg)
	return func(w http.ResponseWriter, _ *http.Request) bool {
		write(w, http.StatusOK, body)
		return true
	}
}

// Garbage answers HTTP 200 with a body that is not JSON.
func Garbage() Fault {
	body := []byte("<html><body>502 Bad Gateway</body></html>")
	return func(w http.ResponseWriter, _ *http.Request) bool {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusOK)
		w.Write(body)
		return true
	}
}

// BadEnvelope answers HTTP 200 with JSON that is not the documented
// envelope: data is an object instead of an array.
func BadEnvelope() Fault {
	body := []byte(`{"success":true,"message":"","data":{"customers":[]},"code":200}`)
	return func(w http.ResponseWriter, _ *http.Request) bool {
		write(w, http.StatusOK, body)
		return true
	}
}

// Stall waits d (less when the client goes away), then lets the normal
// answer follow.
func Stall(d time.Duration) Fault {
	return func(_ http.ResponseWriter, r *http.Request) bool {
		return !wait(r.Context(), d)
	}
}

// Hang never answers: it holds the request until the client goes away or
// the server closes.
func Hang() Fault {
	return func(_ http.ResponseWriter, r *http.Request) bool {
		<-r.Context().Done()
		return true
	}
}

// Block holds each request until release is closed (then the normal answer
// follows) or the client goes away. Tests use it as a gate, with no sleeps.
func Block(release <-chan struct{}) Fault {
	return func(_ http.ResponseWriter, r *http.Request) bool {
		select {
		case <-release:
			return false
		case <-r.Context().Done():
			return true
		}
	}
}

// Times applies f to the next n calls only; later calls get the normal
// answer.
func Times(n int, f Fault) Fault {
	var left atomic.Int64
	left.Store(int64(n))
	return func(w http.ResponseWriter, r *http.Request) bool {
		if left.Add(-1) < 0 {
			return false
		}
		return f(w, r)
	}
}

// Ratio applies f to a fraction p of the calls, chosen by a random source
// seeded with seed: the same seed fails the same calls, in arrival order.
func Ratio(p float64, f Fault, seed uint64) Fault {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, seed))
	return func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		hit := rng.Float64() < p
		mu.Unlock()
		if !hit {
			return false
		}
		return f(w, r)
	}
}

// Chain tries the faults in order; the first one that answers wins. For
// example Chain(Times(1, Status(503)), Times(1, RateLimit("1"))).
func Chain(faults ...Fault) Fault {
	return func(w http.ResponseWriter, r *http.Request) bool {
		for _, f := range faults {
			if f(w, r) {
				return true
			}
		}
		return false
	}
}

// Notify sends r's page parameter on ch (without blocking; dropped when ch
// is full) and lets f, or the normal answer when f is nil, follow. Tests use
// it to learn that a call reached the server.
func Notify(ch chan<- string, f Fault) Fault {
	return func(w http.ResponseWriter, r *http.Request) bool {
		select {
		case ch <- r.URL.Query().Get("page"):
		default:
		}
		if f == nil {
			return false
		}
		return f(w, r)
	}
}

// OnPath applies f to the calls of the endpoint at path only (PathList,
// PathCreate, PathUserToken); other endpoints answer normally, as all do
// when f is nil.
func OnPath(path string, f Fault) Fault {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if f == nil || r.URL.Path != path {
			return false
		}
		return f(w, r)
	}
}

// LoseAnswer lets the call do what it does (a create creates), then closes
// the connection instead of answering: the answer is lost on the way, and
// the client cannot tell whether the upstream acted.
func LoseAnswer() Fault {
	return func(w http.ResponseWriter, _ *http.Request) bool {
		if lw, ok := w.(*losable); ok {
			lw.lose = true
		}
		return false
	}
}

// losable is the writer of a call that has a fault: when LoseAnswer
// marked it, the answer is dropped with the connection.
type losable struct {
	http.ResponseWriter
	lose bool
}

// drop closes the connection without an answer.
func (l *losable) drop() {
	if conn, _, err := http.NewResponseController(l.ResponseWriter).Hijack(); err == nil {
		conn.Close()
	}
}

// Unwrap lets http.ResponseController reach the connection, for faults
// that hijack it.
func (l *losable) Unwrap() http.ResponseWriter { return l.ResponseWriter }

// Hijack is the connection's, for faults that assert http.Hijacker.
func (l *losable) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(l.ResponseWriter).Hijack()
}
