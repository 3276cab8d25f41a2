// Package onewrite sends an HTTP/1.1 answer that a handler writes whole in
// one write to its connection, where net/http sends any answer over its 4
// KB connection buffer in two or more: the buffer's first flush, then the
// rest when the handler returns. Each write wakes the client's reader; on a
// VM where that wake-up is dear, the second write of the usual 5-6 KB
// answer cost 1.6-9 % of a request's CPU (see e2e/PERFORMANCE.md).
// net/http's buffer size cannot be set, hence this, in a few lines.
//
// Three parts: Listener wraps the server's listener, ConnContext (for
// http.Server.ConnContext) lets a request find its connection, and Handler,
// around the server's handler, sends what was held when the handler
// returns. Whatever writes an answer whole calls Hold first. Nothing else
// changes: a request that does not call Hold is written as net/http writes
// it.
package onewrite

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"sync"

	"github.com/botpenguin-gateway/gateway/internal/bufpool"
)

// MaxHeld bounds what a connection holds: a larger answer goes out in
// pieces of about this size, each in one write.
const MaxHeld = 64 << 10

// Listener returns l, whose connections can hold an answer's writes.
func Listener(l net.Listener) net.Listener {
	return &listener{Listener: l, buffers: new(bufpool.Pool)}
}

type listener struct {
	net.Listener
	buffers *bufpool.Pool
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c, buffers: l.buffers}, nil
}

type connKey struct{}

// ConnContext is for http.Server.ConnContext: it puts a connection of
// Listener's on the context of the requests it carries.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if oc, ok := c.(*conn); ok {
		return context.WithValue(ctx, connKey{}, oc)
	}
	return ctx
}

// Hold asks that everything the handler writes from now on leave at once,
// when the handler returns. Call it only to write an answer whole, once
// the request's body has been read: a streamed answer, or an interim 100
// Continue, would wait. Without a connection of Listener's (or over
// HTTP/2, see Handler) it does nothing.
func Hold(ctx context.Context) {
	if c, ok := ctx.Value(connKey{}).(*conn); ok && c != nil {
		c.mu.Lock()
		c.holding = true
		c.mu.Unlock()
	}
}

// Handler serves next and then sends what Hold held. It must be the
// server's outermost handler, where w is net/http's own.
func Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Context().Value(connKey{}).(*conn)
		if c == nil {
			next.ServeHTTP(w, r)
			return
		}
		if r.ProtoMajor != 1 {
			// HTTP/2 writes every stream's frames from one goroutine of
			// its own: nothing there is one handler's to hold.
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), connKey{}, (*conn)(nil))))
			return
		}
		defer c.release() // on a panic too: net/http then flushes the rest and closes
		next.ServeHTTP(w, r)
		if c.holds() {
			// Something was held, so the status line and header have been
			// written and a flush changes nothing in the answer: it brings
			// net/http's buffered tail to what is held, to leave with it.
			_ = http.NewResponseController(w).Flush()
		}
	})
}

// conn holds writes between Hold and release. Only the goroutine serving
// the connection writes to it (net/http's reader in the background only
// reads), but Hold, release and Write take the lock anyway, never across
// a write to the connection, so that closing it from elsewhere is never
// held up.
type conn struct {
	net.Conn
	buffers *bufpool.Pool

	mu      sync.Mutex
	holding bool
	held    *bytes.Buffer // nil when empty
	err     error         // the last write's, for the writes after it
}

func (c *conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return 0, err
	}
	if c.holding && c.heldLen()+len(p) <= MaxHeld {
		if c.held == nil {
			c.held = c.buffers.Get()
		}
		c.held.Write(p)
		c.mu.Unlock()
		return len(p), nil
	}
	held := c.held
	c.held = nil
	c.mu.Unlock()
	if held == nil {
		return c.Conn.Write(p)
	}
	defer c.buffers.Put(held)
	// One writev for both.
	heldLen := held.Len()
	bufs := net.Buffers{held.Bytes(), p}
	n, err := bufs.WriteTo(c.Conn)
	if err != nil {
		c.fail(err)
		return max(0, int(n)-heldLen), err
	}
	return len(p), nil
}

func (c *conn) heldLen() int {
	if c.held == nil {
		return 0
	}
	return c.held.Len()
}

func (c *conn) holds() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.held != nil
}

// release sends what is held and holds no more.
func (c *conn) release() {
	c.mu.Lock()
	c.holding = false
	held := c.held
	c.held = nil
	failed := c.err != nil
	c.mu.Unlock()
	if held == nil {
		return
	}
	defer c.buffers.Put(held)
	if failed {
		return
	}
	if _, err := c.Conn.Write(held.Bytes()); err != nil {
		c.fail(err)
	}
}

// fail keeps a write's error: net/http, which was told the held bytes were
// written, learns at its next write that they were not, and closes the
// connection.
func (c *conn) fail(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
}

// CloseWrite is the connection's, which net/http uses to make sure that a
// client reads an answer before the connection closes.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
