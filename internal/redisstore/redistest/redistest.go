// Package redistest starts real redis-server processes for tests, the way
// net/http/httptest starts HTTP servers.
//
// redis-server can neither be handed a listener nor pick a free port
// itself (--port 0 turns TCP off), and a port found by closing a listener
// can be taken by anything before redis-server binds it, or between a Stop
// and a Restart. So redis-server listens on a unix socket in a directory of
// its own, and the test holds a loopback listener from Start to its end
// that relays each connection to that socket. The URL stays redis://, the
// only form REDIS_URL takes.
package redistest

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Server is a running redis-server.
type Server struct {
	// URL is redis://127.0.0.1:port/0, and Addr its 127.0.0.1:port.
	URL  string
	Addr string

	t        testing.TB
	dir      string
	socket   string // where redis-server listens; it has no TCP port
	ln       net.Listener
	relays   sync.WaitGroup
	accepted atomic.Int64
	cmd      *exec.Cmd
}

// Start runs redis-server until the test ends. Without the binary the test
// is skipped, unless REQUIRE_REDIS=1 (as in CI).
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("REQUIRE_REDIS") == "1" {
			t.Fatal("redis-server is required (REQUIRE_REDIS=1) but not installed")
		}
		t.Skip("redis-server not installed (apt-get install redis-server)")
	}
	// Not t.TempDir: its name grows with the test's, and a socket path
	// must stay within about 100 bytes.
	dir, err := os.MkdirTemp("", "redis")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = os.RemoveAll(dir)
		t.Fatal(err)
	}
	s := &Server{
		URL:    "redis://" + ln.Addr().String() + "/0",
		Addr:   ln.Addr().String(),
		t:      t,
		dir:    dir,
		socket: filepath.Join(dir, "redis.sock"),
		ln:     ln,
	}
	s.relays.Go(s.relay)
	t.Cleanup(s.close)
	s.Restart()
	return s
}

// Connections is how many connections the server's address has accepted
// so far, while running or stopped: each is one dial by a client.
func (s *Server) Connections() int64 { return s.accepted.Load() }

// Stop kills the server, as a crash would: its connections drop, and the
// address, still held by the test, hangs up on every new one.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
		_ = os.Remove(s.socket) // a killed server leaves it behind
	}
}

// Restart starts the server again at the same address: empty, or with
// what a SAVE command last wrote before it was stopped.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.cmd = exec.Command("redis-server", "--port", "0", "--unixsocket", s.socket,
		"--dir", s.dir, "--save", "", "--appendonly", "no")
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("unix", s.socket); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("redis-server did not start listening on %s", s.socket)
}

// relay accepts connections until the listener closes and joins each to
// redis-server, or hangs up when it is stopped.
func (s *Server) relay() {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return // closed at the end of the test
		}
		s.accepted.Add(1)
		s.relays.Go(func() {
			defer conn.Close()
			backend, err := net.Dial("unix", s.socket)
			if err != nil {
				return // stopped
			}
			defer backend.Close()
			ended := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(backend, conn); ended <- struct{}{} }()
			go func() { _, _ = io.Copy(conn, backend); ended <- struct{}{} }()
			<-ended // either side hung up (or the server died): end both
			conn.Close()
			backend.Close()
			<-ended
		})
	}
}

// close ends the server, then the relay: a dead server ends every relayed
// connection, whatever the clients still hold open.
func (s *Server) close() {
	s.Stop()
	s.ln.Close()
	s.relays.Wait()
	_ = os.RemoveAll(s.dir)
}
