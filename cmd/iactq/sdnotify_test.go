package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/internal/waitfor"
	"github.com/iact/iactq/queue"
)

// fakeSystemd listens on a unixgram socket in a temp dir, like systemd's NOTIFY_SOCKET,
// and keeps every datagram received.
type fakeSystemd struct {
	path string
	conn *net.UnixConn
	mu   sync.Mutex
	msgs []string
}

func newFakeSystemd(t *testing.T) *fakeSystemd {
	t.Helper()
	// A short path: unix socket paths are limited to ~100 bytes.
	dir, err := os.MkdirTemp("", "sd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := &fakeSystemd{path: filepath.Join(dir, "notify")}
	f.conn, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: f.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.conn.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := f.conn.ReadFromUnix(buf)
			if err != nil {
				return
			}
			f.mu.Lock()
			f.msgs = append(f.msgs, string(buf[:n]))
			f.mu.Unlock()
		}
	}()
	return f
}

func (f *fakeSystemd) messages() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.msgs...)
}

// count is how many datagrams hold the line.
func (f *fakeSystemd) count(line string) int {
	n := 0
	for _, m := range f.messages() {
		for _, l := range strings.Split(m, "\n") {
			if l == line {
				n++
			}
		}
	}
	return n
}

// lines are the lines of every datagram received so far that begin with prefix.
func (f *fakeSystemd) lines(prefix string) []string {
	var out []string
	for _, m := range f.messages() {
		for _, l := range strings.Split(m, "\n") {
			if strings.HasPrefix(l, prefix) {
				out = append(out, l)
			}
		}
	}
	return out
}

// last is the latest line received that begins with prefix.
func (f *fakeSystemd) last(prefix string) string {
	ls := f.lines(prefix)
	if len(ls) == 0 {
		return ""
	}
	return ls[len(ls)-1]
}

// waitForCount waits until n lines beginning with prefix have been received.
func (f *fakeSystemd) waitForCount(t *testing.T, prefix string, n int, timeout time.Duration) {
	t.Helper()
	waitfor.True(t, timeout, func() bool { return len(f.lines(prefix)) >= n },
		func() string {
			return fmt.Sprintf("%d %q lines, want %d; got %q", len(f.lines(prefix)), prefix, n, f.messages())
		})
}

// waitFor waits until a datagram has a line matching re and returns that line.
func (f *fakeSystemd) waitFor(t *testing.T, re string, timeout time.Duration) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	for {
		for _, m := range f.messages() {
			for _, l := range strings.Split(m, "\n") {
				if rx.MatchString(l) {
					return l
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no notification matching %q within %s; got %q", re, timeout, f.messages())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSystemdNotifyProtocol drives the observer by hand: READY with a status at start,
// watchdog pings only while polls succeed, STATUS with the backlog, STOPPING on drain.
func TestSystemdNotifyProtocol(t *testing.T) {
	t.Parallel()
	f := newFakeSystemd(t)
	env := map[string]string{"NOTIFY_SOCKET": f.path, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": strconv.Itoa(os.Getpid())}
	var clock atomic.Int64
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	clock.Store(start.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	backlog := func(context.Context) ([]queue.Backlog, error) {
		return []queue.Backlog{
			{Queue: "default", Kind: "noop", Oldest: now().Add(-12 * time.Minute), Classes: map[queue.Class]queue.ClassStat{queue.ClassOverdue: {Count: 3}}},
			{Queue: "reports", Kind: "dashboard_metrics", Oldest: now().Add(-70 * time.Minute), Classes: map[queue.Class]queue.ClassStat{queue.ClassUrgent: {Count: 2}}},
		}, nil
	}
	sd, err := newSystemd(func(k string) string { return env[k] }, zerolog.Nop(), 50, backlog)
	if err != nil {
		t.Fatal(err)
	}
	if sd.watchdog != 200*time.Millisecond {
		t.Fatalf("watchdog %s", sd.watchdog)
	}
	sd.now = now
	// The test drives both tickers. A tick is taken when the loop is back in its
	// select, so after tick() every earlier tick has been handled; and datagrams
	// arrive in order, so once a STATUS sent after some pings has arrived, so have
	// they.
	ping, status := make(chan time.Time), make(chan time.Time)
	sd.pingTicks, sd.statusTicks = ping, status
	tick := func(c chan time.Time) { c <- time.Now() }
	// refresh has a STATUS sent now and waits for it (every notification is sent
	// synchronously, by the loop or by the observer's caller, so the count is exact).
	refresh := func() string {
		t.Helper()
		before := len(f.lines("STATUS="))
		tick(status)
		f.waitForCount(t, "STATUS=", before+1, 2*time.Second)
		return f.last("STATUS=")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sd.run(ctx) }()
	defer func() { cancel(); <-done }()

	// Before READY the watchdog is pinged (the start timeout guards that phase).
	tick(ping)
	refresh()
	if f.count("WATCHDOG=1") != 1 {
		t.Fatalf("not pinged before READY: %q", f.messages())
	}
	sd.Started(7)
	f.waitFor(t, `^READY=1$`, 2*time.Second)
	sd.Claimed("default", 37, time.Millisecond)
	sd.Polled(nil)
	if got, want := refresh(), "STATUS=running 37/50, 3 OVERDUE, 2 URGENT, oldest 1h10m"; got != want {
		t.Errorf("status %q, want %q", got, want)
	}

	// noPings ticks the watchdog four times and checks that no ping went out.
	noPings := func(while string) {
		t.Helper()
		before := f.count("WATCHDOG=1")
		for range 4 {
			tick(ping)
		}
		refresh()
		if after := f.count("WATCHDOG=1"); after != before {
			t.Errorf("watchdog pinged %d times while %s", after-before, while)
		}
	}
	// The poll loop stops answering (database errors) for longer than the watchdog
	// period: the pings stop.
	sd.Polled(context.DeadlineExceeded)
	clock.Add(int64(time.Second))
	noPings("the poll loop failed")
	if sd.healthy() {
		t.Error("healthy while polls fail")
	}
	// It answers again: the pings resume.
	sd.Polled(nil)
	before := f.count("WATCHDOG=1")
	tick(ping)
	refresh()
	if f.count("WATCHDOG=1") != before+1 {
		t.Fatal("watchdog pings did not resume")
	}
	// Every slot busy: no poll is needed, so no poll is no failure.
	clock.Add(int64(time.Second))
	sd.Claimed("default", 13, time.Millisecond)
	if !sd.healthy() {
		t.Error("unhealthy while every slot is busy")
	}
	// The engine says its completer cannot write: no more pings, STATUS says why.
	sd.Unhealthy(errors.New("the completer has not recorded outcomes for 6s: lock wait"))
	if sd.healthy() {
		t.Error("healthy while the engine says it is not")
	}
	if got := refresh(); !strings.Contains(got, ", UNHEALTHY: the completer has not recorded outcomes for 6s: lock wait") {
		t.Errorf("status %q does not say why the worker is unhealthy", got)
	}
	noPings("the engine was unhealthy")
	sd.Healthy()
	if !sd.healthy() {
		t.Error("unhealthy after the engine recovered")
	}
	for range 50 {
		sd.Finished(&queue.JobRow{Kind: "noop"}, queue.StateCompleted, 0, 0)
	}
	sd.Stopping()
	f.waitFor(t, `^STOPPING=1$`, 2*time.Second)
	if got := refresh(); !strings.HasPrefix(got, "STATUS=draining, 0 running") {
		t.Errorf("status %q while draining", got)
	}
}

// TestWorkUnderSystemd runs `iactq work` with a fake NOTIFY_SOCKET: READY once it
// claims, watchdog pings, a STATUS line with the running count and capacity, and
// STOPPING when it drains.
func TestWorkUnderSystemd(t *testing.T) {
	_, c := setup(t)
	f := newFakeSystemd(t)
	c.env["NOTIFY_SOCKET"] = f.path
	c.env["WATCHDOG_USEC"] = "400000"
	// No default schedules: a health_check occurrence falling due on a five-minute
	// boundary during the test would wait in "maintenance", a queue this worker does
	// not work, and the status line would show its age instead of "queue empty".
	config := filepath.Join(t.TempDir(), "iactq.yaml")
	if err := os.WriteFile(config, []byte("schedules: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.env["IACTQ_CONFIG"] = config
	for range 3 {
		c.ok("enqueue", "noop", "--args", `{"sleep_ms": 9000}`)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- execute(ctx, []string{"work", "--queues", "default=4,reports=2"}, c.getenv, strings.NewReader(""), &stdout, &stderr)
	}()
	f.waitFor(t, `^READY=1$`, 20*time.Second)
	f.waitFor(t, `^WATCHDOG=1$`, 5*time.Second)
	f.waitFor(t, `^STATUS=running 3/6, 0 OVERDUE, 0 URGENT, queue empty$`, 15*time.Second)
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("work exited %d: %s", code, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("work did not stop")
	}
	f.waitFor(t, `^STOPPING=1$`, time.Second)
	// READY comes before STOPPING, once each.
	if f.count("READY=1") != 1 || f.count("STOPPING=1") != 1 {
		t.Errorf("READY %d times, STOPPING %d times: %q", f.count("READY=1"), f.count("STOPPING=1"), f.messages())
	}
}

// TestSystemdUnitsVerify runs systemd-analyze verify on deploy/systemd's units, with
// ExecStart pointed at a real executable (verify checks that it exists), and treats
// any output on stderr as a failure: verify only warns about bad values.
func TestSystemdUnitsVerify(t *testing.T) {
	t.Parallel()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze is not installed (it comes with the systemd package): cannot check the units")
	}
	src := filepath.Join("..", "..", "deploy", "systemd")
	dir := t.TempDir()
	bin := filepath.Join(dir, "iactq")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var units []string
	for _, name := range []string{"iactq-worker.service", "iactq-worker@.service"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		checkUnit(t, name, text)
		text = strings.ReplaceAll(text, "/usr/bin/iactq", bin)
		out := name
		if strings.HasSuffix(name, "@.service") {
			out = strings.Replace(name, "@.service", "@reports.service", 1)
		}
		if err := os.WriteFile(filepath.Join(dir, out), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		units = append(units, filepath.Join(dir, out))
	}
	cmd := exec.Command(analyze, append([]string{"verify", "--man=no"}, units...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, stderr.String())
	}
	for _, name := range []string{"iactq.env.example", "reports.env.example"} {
		if _, err := os.Stat(filepath.Join(src, name)); err != nil {
			t.Error(err)
		}
	}
}

// checkUnit checks the settings the worker relies on.
func checkUnit(t *testing.T, name, text string) {
	t.Helper()
	settings := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			settings[k] = v
		}
	}
	defaults, err := queue.NewClient(nil, queue.NewRegistry(), queue.Config{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	grace := defaults.Config().ShutdownGrace
	stop, err := time.ParseDuration(settings["TimeoutStopSec"])
	if err != nil {
		t.Fatalf("%s: TimeoutStopSec %q: %v", name, settings["TimeoutStopSec"], err)
	}
	// The drain's grace, then time for jobs to return once cancelled, flush outcomes
	// and deregister (jobs that ignore cancellation are waited for until this
	// timeout kills the process; its registration then lapses and they are rescued).
	if stop < grace+10*time.Second || stop > grace+30*time.Second {
		t.Errorf("%s: TimeoutStopSec %s does not match the drain grace %s (+10..30 s)", name, stop, grace)
	}
	for k, want := range map[string]string{"Type": "notify", "NotifyAccess": "main", "KillSignal": "SIGTERM"} {
		if settings[k] != want {
			t.Errorf("%s: %s=%q, want %q", name, k, settings[k], want)
		}
	}
	if _, err := time.ParseDuration(settings["WatchdogSec"]); err != nil {
		t.Errorf("%s: WatchdogSec %q: %v", name, settings["WatchdogSec"], err)
	}
	if !strings.Contains(settings["ExecStart"]+" ", " work ") {
		t.Errorf("%s: ExecStart %q does not run iactq work", name, settings["ExecStart"])
	}
}
