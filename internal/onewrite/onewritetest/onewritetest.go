// Package onewritetest counts the writes to a listener's connections, for
// tests of how many writes an answer takes.
package onewritetest

import (
	"net"
	"sync/atomic"
)

// Counting is a listener whose connections count their writes.
type Counting struct {
	net.Listener
	writes atomic.Int64
}

// CountWrites returns l, counting the writes to its connections.
func CountWrites(l net.Listener) *Counting { return &Counting{Listener: l} }

// Writes is how many writes its connections have had.
func (l *Counting) Writes() int64 { return l.writes.Load() }

func (l *Counting) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c, writes: &l.writes}, nil
}

type conn struct {
	net.Conn
	writes *atomic.Int64
}

func (c *conn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// CloseWrite is the connection's, as net/http expects of a TCP one.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
