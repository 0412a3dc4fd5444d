package sdnotify

import (
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestSendToPathAndAbstractSockets(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "notify.sock")
	abstract := "@iactq-test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	for _, name := range []string{path, abstract} {
		conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		n, err := New(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Send(Ready, Status("running 1/2\nsecond line")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 512)
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		k, _, err := conn.ReadFromUnix(buf)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(buf[:k]), "READY=1\nSTATUS=running 1/2 second line"; got != want {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
}

func TestOffSystemdEverythingIsANoop(t *testing.T) {
	t.Parallel()
	n, err := New("")
	if err != nil || n.Enabled() {
		t.Fatalf("New(\"\") = %v, %v", n, err)
	}
	if err := n.Send(Ready); err != nil {
		t.Fatal(err)
	}
	var nilN *Notifier
	if err := nilN.Send(Ready); err != nil {
		t.Fatal(err)
	}
	if _, err := New("relative/path"); err == nil {
		t.Error("a relative NOTIFY_SOCKET was accepted")
	}
}

func TestWatchdogInterval(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		usec, pid string
		want      time.Duration
		err       bool
	}{
		{"", "", 0, false},
		{"60000000", "", time.Minute, false},
		{"60000000", "42", time.Minute, false},
		{"60000000", "43", 0, false}, // for another process
		{"soon", "", 0, true},
		{"-5", "", 0, true},
	} {
		env := map[string]string{"WATCHDOG_USEC": tc.usec, "WATCHDOG_PID": tc.pid}
		got, err := WatchdogInterval(func(k string) string { return env[k] }, 42)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: got %v, %v", tc.usec, tc.pid, got, err)
		}
	}
}
