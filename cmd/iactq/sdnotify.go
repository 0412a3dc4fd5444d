package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/internal/sdnotify"
	"github.com/iact/iactq/queue"
)

// systemd reports a worker's life to systemd (a Type=notify unit, deploy/systemd):
// READY=1 when claiming starts, STOPPING=1 when the drain begins, WATCHDOG=1 while the
// claim loop is healthy, and a STATUS= line such as "running 37/50, 3 OVERDUE, oldest
// 12m" every few seconds. Off systemd (no NOTIFY_SOCKET) it sends nothing.
type systemd struct {
	queue.NopObserver
	n        *sdnotify.Notifier
	log      zerolog.Logger
	capacity int
	// watchdog is systemd's WatchdogSec (0: none); pings go at half of it.
	watchdog time.Duration
	// statusEvery is how often the STATUS line is refreshed.
	statusEvery time.Duration
	// backlog reads the OVERDUE and URGENT counts and the oldest job for STATUS.
	backlog func(ctx context.Context) ([]queue.Backlog, error)
	now     func() time.Time
	// warning, when set, ends every STATUS line (e.g. a schedule's queue not served).
	warning string
	// pingTicks and statusTicks, when set, replace the tickers (tests drive them).
	pingTicks, statusTicks <-chan time.Time

	started     atomic.Bool
	stopping    atomic.Bool
	claimed     atomic.Int64
	finished    atomic.Int64
	lastPollOK  atomic.Int64 // unix nanoseconds
	lastPollErr atomic.Int64
	unhealthy   atomic.Pointer[error] // why the engine says it is unhealthy; nil while healthy
	sendErrOnce sync.Once
}

func newSystemd(getenv func(string) string, log zerolog.Logger, capacity int, backlog func(context.Context) ([]queue.Backlog, error)) (*systemd, error) {
	n, err := sdnotify.New(getenv("NOTIFY_SOCKET"))
	if err != nil {
		return nil, err
	}
	wd, err := sdnotify.WatchdogInterval(getenv, os.Getpid())
	if err != nil {
		return nil, err
	}
	return &systemd{
		n: n, log: log.With().Str("component", "systemd").Logger(), capacity: capacity, watchdog: wd,
		statusEvery: 5 * time.Second, backlog: backlog, now: time.Now,
	}, nil
}

func (s *systemd) send(states ...string) {
	if err := s.n.Send(states...); err != nil {
		s.sendErrOnce.Do(func() { s.log.Warn().Err(err).Msg("cannot notify systemd") })
	}
}

// Started implements queue.Observer: the worker is registered and claims from now on.
func (s *systemd) Started(int64) {
	s.lastPollOK.Store(s.now().UnixNano())
	s.started.Store(true)
	s.send(sdnotify.Ready, sdnotify.Status(s.status(nil)))
}

// Stopping implements queue.Observer: the drain begins.
func (s *systemd) Stopping() {
	s.stopping.Store(true)
	s.send(sdnotify.Stopping, sdnotify.Status(s.status(nil)))
}

// Polled implements queue.Observer.
func (s *systemd) Polled(err error) {
	if err != nil {
		s.lastPollErr.Store(s.now().UnixNano())
		return
	}
	s.lastPollOK.Store(s.now().UnixNano())
}

// Claimed implements queue.Observer.
func (s *systemd) Claimed(_ string, n int, _ time.Duration) {
	s.claimed.Add(int64(n))
	s.lastPollOK.Store(s.now().UnixNano()) // a claim is a successful look for work
}

// Finished implements queue.Observer.
func (s *systemd) Finished(*queue.JobRow, queue.State, time.Duration, time.Duration) {
	s.finished.Add(1)
}

// Stopped implements queue.Observer.
func (s *systemd) Stopped(*queue.JobRow, error, time.Duration, time.Duration) {
	s.finished.Add(1)
}

// Unhealthy implements queue.Observer: the engine cannot keep up (its completer cannot
// write). The watchdog stops being fed, STATUS and /readyz say why.
func (s *systemd) Unhealthy(err error) {
	s.unhealthy.Store(&err)
	s.send(sdnotify.Status(s.status(nil)))
}

// Healthy implements queue.Observer.
func (s *systemd) Healthy() {
	s.unhealthy.Store(nil)
	s.send(sdnotify.Status(s.status(nil)))
}

// unhealthyReason is why the engine is unhealthy, nil when it is not.
func (s *systemd) unhealthyReason() error {
	if p := s.unhealthy.Load(); p != nil {
		return *p
	}
	return nil
}

func (s *systemd) running() int64 { return max(s.claimed.Load()-s.finished.Load(), 0) }

// healthy tells whether to ping the watchdog: the poll loop answered within the
// watchdog period. While every slot is busy the loop rightly does not poll, so that
// counts as healthy; before READY the start timeout is systemd's guard, and during the
// drain the stop timeout is.
func (s *systemd) healthy() bool {
	if s.unhealthyReason() != nil {
		return false
	}
	if !s.started.Load() || s.stopping.Load() {
		return true
	}
	ok := s.lastPollOK.Load()
	if s.now().UnixNano()-ok <= int64(s.watchdog) {
		return true
	}
	return s.running() >= int64(s.capacity) && s.lastPollErr.Load() <= ok
}

// status is the STATUS= line.
func (s *systemd) status(backlog []queue.Backlog) string {
	line := s.statusLine(backlog)
	if s.warning != "" {
		line += "; " + s.warning
	}
	return line
}

func (s *systemd) statusLine(backlog []queue.Backlog) string {
	var b strings.Builder
	switch {
	case s.stopping.Load():
		fmt.Fprintf(&b, "draining, %d running", s.running())
	case !s.started.Load():
		b.WriteString("starting: waiting for the database")
	default:
		fmt.Fprintf(&b, "running %d/%d", s.running(), s.capacity)
	}
	if err := s.unhealthyReason(); err != nil {
		fmt.Fprintf(&b, ", UNHEALTHY: %v", err)
	}
	if backlog == nil {
		return b.String()
	}
	var overdue, urgent int64
	var oldest time.Time
	capped := false
	for _, q := range backlog {
		overdue += q.Classes[queue.ClassOverdue].Count
		urgent += q.Classes[queue.ClassUrgent].Count
		capped = capped || q.Capped
		if oldest.IsZero() || q.Oldest.Before(oldest) {
			oldest = q.Oldest
		}
	}
	plus := ""
	if capped {
		plus = "+"
	}
	fmt.Fprintf(&b, ", %d%s OVERDUE, %d%s URGENT", overdue, plus, urgent, plus)
	if oldest.IsZero() {
		b.WriteString(", queue empty")
	} else {
		fmt.Fprintf(&b, ", oldest %s", shortDuration(s.now().Sub(oldest)))
	}
	return b.String()
}

// run pings the watchdog and refreshes STATUS until ctx ends. It returns at once off
// systemd.
func (s *systemd) run(ctx context.Context) {
	if !s.n.Enabled() {
		return
	}
	wdC, stC := s.pingTicks, s.statusTicks
	if wdC == nil && s.watchdog > 0 {
		t := time.NewTicker(s.watchdog / 2)
		defer t.Stop()
		wdC = t.C
	}
	if stC == nil {
		t := time.NewTicker(s.statusEvery)
		defer t.Stop()
		stC = t.C
	}
	unhealthyLogged := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-wdC:
			if s.healthy() {
				s.send(sdnotify.Watchdog)
				unhealthyLogged = false
			} else if !unhealthyLogged {
				if err := s.unhealthyReason(); err != nil {
					s.log.Error().Err(err).Msg("the worker is unhealthy; no longer pinging systemd's watchdog")
				} else {
					s.log.Error().Msg("the claim loop has not reached the database within the watchdog period; no longer pinging systemd's watchdog")
				}
				unhealthyLogged = true
			}
		case <-stC:
			var backlog []queue.Backlog
			if s.started.Load() && s.backlog != nil {
				bctx, cancel := context.WithTimeout(ctx, s.statusEvery)
				b, err := s.backlog(bctx)
				cancel()
				if err == nil {
					backlog = b
					if backlog == nil {
						backlog = []queue.Backlog{}
					}
				}
			}
			s.send(sdnotify.Status(s.status(backlog)))
		}
	}
}

// observers sends the engine's events to each of several observers. The client is
// built with an empty set that is filled, before Work starts, with the observers
// that read through that same client (metrics, systemd's status line).
type observers struct{ list []queue.Observer }

func (o *observers) Started(id int64) {
	for _, x := range o.list {
		x.Started(id)
	}
}

func (o *observers) Stopping() {
	for _, x := range o.list {
		x.Stopping()
	}
}

func (o *observers) Polled(err error) {
	for _, x := range o.list {
		x.Polled(err)
	}
}

func (o *observers) Claimed(q string, n int, took time.Duration) {
	for _, x := range o.list {
		x.Claimed(q, n, took)
	}
}

func (o *observers) Finished(job *queue.JobRow, state queue.State, wait, run time.Duration) {
	for _, x := range o.list {
		x.Finished(job, state, wait, run)
	}
}

func (o *observers) Stopped(job *queue.JobRow, cause error, wait, run time.Duration) {
	for _, x := range o.list {
		x.Stopped(job, cause, wait, run)
	}
}

func (o *observers) Unhealthy(err error) {
	for _, x := range o.list {
		x.Unhealthy(err)
	}
}

func (o *observers) Healthy() {
	for _, x := range o.list {
		x.Healthy()
	}
}

func (o *observers) DiscardedUnknown(q, kind string, n int) {
	for _, x := range o.list {
		x.DiscardedUnknown(q, kind, n)
	}
}
