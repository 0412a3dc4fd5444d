package chaos

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy forwards TCP connections from a 127.0.0.1 port to a target address, and
// injects faults on command: Cut closes every connection at once, Stall stops
// forwarding (in both directions, and for new connections) for a while.
type Proxy struct {
	ln net.Listener

	mu      sync.Mutex
	target  string
	conns   map[net.Conn]struct{}
	resumed chan struct{} // closed while forwarding; open during a stall
	closed  bool

	wg       sync.WaitGroup
	accepted atomic.Int64
	cuts     atomic.Int64
	stalls   atomic.Int64
}

// NewProxy listens on 127.0.0.1 (a free port) and forwards to target.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}, resumed: make(chan struct{})}
	close(p.resumed)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address clients connect to.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetTarget changes where new connections go.
func (p *Proxy) SetTarget(target string) {
	p.mu.Lock()
	p.target = target
	p.mu.Unlock()
}

// Stats returns connections accepted, cuts and stalls so far.
func (p *Proxy) Stats() (accepted, cuts, stalls int64) {
	return p.accepted.Load(), p.cuts.Load(), p.stalls.Load()
}

// Cut closes every open connection, client and server side: both see the
// connection reset or closed mid-whatever it was doing.
func (p *Proxy) Cut() int {
	p.cuts.Add(1)
	return p.closeAll()
}

func (p *Proxy) closeAll() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // a reset, not a polite FIN
		}
		_ = c.Close()
		n++
	}
	return n / 2
}

// Stall stops forwarding for d: bytes in flight wait, new connections are accepted
// but not connected onwards until it ends. It returns at once.
func (p *Proxy) Stall(d time.Duration) {
	p.mu.Lock()
	ch := make(chan struct{})
	p.resumed = ch
	p.mu.Unlock()
	p.stalls.Add(1)
	time.AfterFunc(d, func() {
		p.mu.Lock()
		if p.resumed == ch {
			close(ch)
		}
		p.mu.Unlock()
	})
}

// gate blocks while the proxy is stalled.
func (p *Proxy) gate() {
	for {
		p.mu.Lock()
		ch := p.resumed
		p.mu.Unlock()
		<-ch
		p.mu.Lock()
		same := p.resumed == ch
		p.mu.Unlock()
		if same {
			return
		}
	}
}

// Close stops listening and closes every connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	select {
	case <-p.resumed:
	default:
		close(p.resumed)
	}
	p.mu.Unlock()
	_ = p.ln.Close()
	p.closeAll()
	p.wg.Wait()
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p.accepted.Add(1)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(client)
		}()
	}
}

func (p *Proxy) serve(client net.Conn) {
	if !p.track(client) {
		_ = client.Close()
		return
	}
	defer p.untrack(client)
	p.gate()
	p.mu.Lock()
	target := p.target
	p.mu.Unlock()
	server, err := net.DialTimeout("tcp", target, 2*time.Second)
	if err != nil {
		return // the database is away: the client sees its connection closed
	}
	if !p.track(server) {
		_ = server.Close()
		return
	}
	defer p.untrack(server)
	done := make(chan struct{}, 2)
	go func() { p.pipe(server, client); done <- struct{}{} }()
	go func() { p.pipe(client, server); done <- struct{}{} }()
	<-done
	// One side ended: end the other too.
	_ = client.Close()
	_ = server.Close()
	<-done
}

// pipe copies src to dst, waiting at the gate before each write.
func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.gate()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF or closed: serve ends the other direction
		}
	}
}
