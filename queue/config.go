package queue

import (
	"fmt"
	"regexp"
	"time"
)

// Config tunes a Client. The zero value of every field means its default.
type Config struct {
	// Queues maps each queue this process works to its concurrency (jobs running at
	// once). Default: {"default": 10}.
	Queues map[string]int
	// SLAs per kind; "*" is the default for kinds without one. Default: DefaultSLAs.
	SLAs map[string]SLA
	// Schedules are the periodic jobs this process keeps going.
	Schedules []Schedule

	PollInterval time.Duration // how often idle workers look for work (50 ms)
	// BinlogDSN, when set, is a DSN of a user with replication privileges: workers
	// then follow the binary log to wake the moment a job is inserted, and poll only
	// every IdlePollInterval (1 s) as a safety net. Without it, or while the binary
	// log cannot be followed, they poll every PollInterval.
	BinlogDSN         string
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
	// Journal, when set, is called after every execution with the job as claimed,
	// when it started and ended, and its error: the record fault-injection tests
	// check (no job ran in two places at once, none ran after losing its claim).
	Journal func(job *JobRow, start, end time.Time, err error)
}

func (c Config) withDefaults() Config {
	if len(c.Queues) == 0 {
		c.Queues = map[string]int{"default": 10}
	}
	if len(c.SLAs) == 0 {
		c.SLAs = DefaultSLAs()
	} else if _, ok := c.SLAs["*"]; !ok {
		c.SLAs["*"] = DefaultSLAs()["*"]
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 50 * time.Millisecond
	}
	if c.IdlePollInterval <= 0 {
		c.IdlePollInterval = time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 5 * time.Second
	}
	if c.RescueAfter <= 0 {
		c.RescueAfter = 30 * time.Second
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 30 * time.Second
	}
	if c.JobTimeout <= 0 {
		c.JobTimeout = 10 * time.Minute
	}
	if c.FinishedRetention <= 0 {
		c.FinishedRetention = 7 * 24 * time.Hour
	}
	if c.MaxArgsBytes <= 0 {
		c.MaxArgsBytes = 1 << 20
	}
	if c.CompleterBatch <= 0 {
		c.CompleterBatch = 500
	}
	if c.Retry == (RetryPolicy{}) {
		c.Retry = DefaultRetryPolicy
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Observer == nil {
		c.Observer = NopObserver{}
	}
	return c
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
