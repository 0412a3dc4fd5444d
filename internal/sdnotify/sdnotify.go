// Package sdnotify speaks systemd's notify protocol (sd_notify(3)): datagrams such as
// "READY=1" sent to the unix socket named by $NOTIFY_SOCKET. Off systemd (no
// NOTIFY_SOCKET) every call is a no-op.
package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// The states iactq sends.
const (
	Ready    = "READY=1"
	Stopping = "STOPPING=1"
	Watchdog = "WATCHDOG=1"
)

// Status is the STATUS= line that `systemctl status` shows. Newlines are flattened:
// one datagram field is one line.
func Status(s string) string {
	return "STATUS=" + strings.NewReplacer("\n", " ", "\r", " ").Replace(s)
}

// Notifier sends notifications to systemd. The zero value and a nil *Notifier do
// nothing.
type Notifier struct {
	addr *net.UnixAddr
}

// New returns a notifier for the socket named by notifySocket (the value of
// $NOTIFY_SOCKET): a path, or "@name" for an abstract socket. An empty name gives a
// notifier that does nothing.
func New(notifySocket string) (*Notifier, error) {
	if notifySocket == "" {
		return &Notifier{}, nil
	}
	if !strings.HasPrefix(notifySocket, "/") && !strings.HasPrefix(notifySocket, "@") {
		return nil, fmt.Errorf("NOTIFY_SOCKET %q: not an absolute path or abstract socket", notifySocket)
	}
	// Go spells an abstract address with a leading '@' too.
	return &Notifier{addr: &net.UnixAddr{Name: notifySocket, Net: "unixgram"}}, nil
}

// Enabled tells whether notifications go anywhere.
func (n *Notifier) Enabled() bool { return n != nil && n.addr != nil }

// Send sends one datagram holding states, one per line, such as Ready and
// Status("running 3/10").
func (n *Notifier) Send(states ...string) error {
	if !n.Enabled() || len(states) == 0 {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(strings.Join(states, "\n"))); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// WatchdogInterval returns the watchdog timeout systemd asked for (from
// $WATCHDOG_USEC, for this process when $WATCHDOG_PID is set), or 0 when there is none.
// Pings should go at half of it.
func WatchdogInterval(getenv func(string) string, pid int) (time.Duration, error) {
	usec := getenv("WATCHDOG_USEC")
	if usec == "" {
		return 0, nil
	}
	if p := getenv("WATCHDOG_PID"); p != "" && p != strconv.Itoa(pid) {
		return 0, nil // meant for another process
	}
	n, err := strconv.ParseInt(usec, 10, 64)
	if err != nil || n <= 0 {
		return 0, errors.New("WATCHDOG_USEC is not a positive number: " + usec)
	}
	return time.Duration(n) * time.Microsecond, nil
}
