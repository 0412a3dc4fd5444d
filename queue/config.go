package queue

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"time"
)

// Config tunes a Client. The zero value of every field means its default.
type Config struct {
	// Queues maps each queue this process works to its concurrency (jobs running at
	// once). Default: {"default": 25}. The concurrency bounds the jobs running at once,
	// not the claims: short jobs are claimed by the hundred or the thousand whatever
	// it is (see aheadFor), so it matters for jobs that wait (on the network, the
	// database, a command).
	Queues map[string]int
	// SLAs per kind; "*" is the default for kinds without one. Default: DefaultSLAs.
	SLAs map[string]SLA
	// Schedules are the periodic jobs this process keeps going.
	Schedules []Schedule

	// PollInterval is how often the leader's watcher reads the claim heads for new
	// work to wake idle workers for (10 ms), when it does not follow the binary log;
	// while no leader rings, idle workers poll every 5 x PollInterval themselves.
	PollInterval time.Duration
	// BinlogDSN, when set, is a DSN of a user with replication privileges: the
	// leader then follows the binary log to wake idle workers the moment a job is
	// inserted, and warns when it cannot. Empty, the leader tries DSN instead, and
	// polls, saying why once, if the server or the user's grants do not allow it.
	// BinlogOff turns the binary log off for wake-ups: the leader polls. While it
	// does not follow the binary log, the leader polls every PollInterval.
	// docs/wakeups.md tells how.
	BinlogDSN string
	// DSN is the DSN the client's database was opened with (OpenDB's), if known.
	// The client opens nothing with it: with BinlogDSN empty, the leader tries to
	// follow the binary log with it (its server must have log_bin on, binlog_format
	// ROW, and its user REPLICATION SLAVE and BINLOG MONITOR, REPLICATION CLIENT on
	// MySQL). Empty, and BinlogDSN empty, the leader polls.
	DSN string
	// IdlePollInterval is the safety net: how long an idle worker waits on the
	// leader's doorbell without a ring before it looks for work itself (45 s, at
	// most 50 s). The leader rings every waiter once 9/10 of it passed without a ring
	// (the sweep), which is then their look.
	IdlePollInterval  time.Duration
	HeartbeatInterval time.Duration // how often a worker says it is alive (5 s)
	RescueAfter       time.Duration // heartbeat age after which a worker is dead (30 s)
	ShutdownGrace     time.Duration // how long running jobs may finish on shutdown (30 s)
	JobTimeout        time.Duration // default bound on one attempt (10 min)
	MaxArgsBytes      int           // largest args accepted on insert (1 MiB)
	// FinishedRetention is how long completed, discarded and cancelled jobs stay in
	// iactq_jobs before workers delete them (7 days), so that the table the claim
	// works in stays small. Messages, reports and the SLA rollup keep their own rows.
	FinishedRetention time.Duration
	CompleterBatch    int         // outcomes written per statement at most (500)
	Retry             RetryPolicy // back-off between attempts

	// Now is the clock; tests set it. Default time.Now.
	Now func() time.Time
	// Observer receives the engine's events (metrics, systemd). Default: none.
	Observer Observer
	// UnknownKindGrace is how long an available job whose kind no live worker runs
	// waits before it is discarded with the reason (1 h: long enough for a rolling
	// deploy to bring up the workers that run a new kind). Workers claim only the
	// kinds they run, so during a deploy an older worker leaves a newer kind's jobs
	// to the newer workers. DiscardAtOnce discards such jobs as soon as a worker
	// notices them.
	UnknownKindGrace time.Duration

	// Journal, when set, is called after every execution with the job as claimed,
	// when it started (when the worker decided to start it, before it checked that
	// its claim still holds) and ended, and its error: the record fault-injection
	// tests check (no job ran in two places at once, none ran after losing its claim).
	Journal func(job *JobRow, start, end time.Time, err error)
}

// BinlogOff, as Config.BinlogDSN (any case), keeps the leader from following the
// binary log: it polls for new work every PollInterval even when Config.DSN could
// follow the log.
const BinlogOff = "off"

// DiscardAtOnce, as Config.UnknownKindGrace, discards a job whose kind no live worker
// runs as soon as a worker notices it (no grace).
const DiscardAtOnce time.Duration = -1

// defaultConcurrency is the default queue's concurrency. Measured (docs/performance.md,
// entry 15): the noop drain of one worker no longer depends on it (10, 25, 50 and 100
// slots all within the noise of one run), while jobs that wait scale with it (50 ms
// jobs: 126 jobs/s at 10 slots, 291 at 25). It stays under what one process's pool of
// 50 connections can serve with the CLI's other queues (reports 4, maintenance 2) and
// the engine's own statements (claims, completions, heartbeat, polls) besides, so that
// jobs that use the database never make the heartbeat wait for a connection.
const defaultConcurrency = 25

// DefaultConfig returns the defaults of every setting: the one place they are
// written. The command line's documented config file shows these values.
func DefaultConfig() Config {
	return Config{
		Queues:            map[string]int{"default": defaultConcurrency},
		SLAs:              DefaultSLAs(),
		PollInterval:      10 * time.Millisecond,
		IdlePollInterval:  45 * time.Second,
		HeartbeatInterval: 5 * time.Second,
		RescueAfter:       30 * time.Second,
		ShutdownGrace:     30 * time.Second,
		JobTimeout:        10 * time.Minute,
		MaxArgsBytes:      1 << 20,
		FinishedRetention: 7 * 24 * time.Hour,
		CompleterBatch:    500,
		Retry:             DefaultRetryPolicy,
		UnknownKindGrace:  time.Hour,
		Now:               time.Now,
		Observer:          NopObserver{},
	}
}

// withDefaults returns c with its zero fields set to their defaults. The maps and
// slices are copies: the caller may change its own afterwards, and the client never
// writes into them.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if len(c.Queues) == 0 {
		c.Queues = d.Queues
	} else {
		c.Queues = maps.Clone(c.Queues)
	}
	if len(c.SLAs) == 0 {
		c.SLAs = d.SLAs
	} else {
		c.SLAs = maps.Clone(c.SLAs)
		if _, ok := c.SLAs["*"]; !ok {
			c.SLAs["*"] = d.SLAs["*"]
		}
	}
	c.Schedules = slices.Clone(c.Schedules)
	for i, s := range c.Schedules {
		c.Schedules[i].Args = slices.Clone(s.Args)
	}
	setDefault(&c.PollInterval, d.PollInterval)
	setDefault(&c.IdlePollInterval, d.IdlePollInterval)
	setDefault(&c.HeartbeatInterval, d.HeartbeatInterval)
	setDefault(&c.RescueAfter, d.RescueAfter)
	setDefault(&c.ShutdownGrace, d.ShutdownGrace)
	setDefault(&c.JobTimeout, d.JobTimeout)
	setDefault(&c.FinishedRetention, d.FinishedRetention)
	setDefault(&c.MaxArgsBytes, d.MaxArgsBytes)
	setDefault(&c.CompleterBatch, d.CompleterBatch)
	switch {
	case c.UnknownKindGrace == 0:
		c.UnknownKindGrace = d.UnknownKindGrace
	case c.UnknownKindGrace < 0:
		c.UnknownKindGrace = DiscardAtOnce
	}
	if c.Retry == (RetryPolicy{}) {
		c.Retry = d.Retry
	}
	if c.Now == nil {
		c.Now = d.Now
	}
	if c.Observer == nil {
		c.Observer = d.Observer
	}
	return c
}

// setDefault sets *v to d when *v is zero or negative.
func setDefault[T time.Duration | int](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,100}$`)

// validName checks a queue, kind or schedule name.
func validName(what, name string) error {
	if !namePattern.MatchString(name) {
		return invalidf("invalid %s name %q: use 1 to 100 letters, digits, '_', '.', ':' or '-'", what, abbreviate(name, 120))
	}
	return nil
}

// Validate reports the first problem with c, if any.
func (c Config) Validate() error {
	for q, n := range c.Queues {
		if err := validName("queue", q); err != nil {
			return err
		}
		if n < 1 || n > 10000 {
			return fmt.Errorf("queue %s: concurrency %d is out of range 1..10000", q, n)
		}
	}
	for kind, sla := range c.SLAs {
		if err := sla.validate(); err != nil {
			return fmt.Errorf("SLA of %s: %w", kind, err)
		}
	}
	seen := map[string]bool{}
	for _, s := range c.Schedules {
		if seen[s.Name] {
			return fmt.Errorf("schedule %s is defined twice", s.Name)
		}
		seen[s.Name] = true
		if err := s.validate(); err != nil {
			return err
		}
	}
	return nil
}
