package queue

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule is a periodic job. Exactly one occurrence of it is pending at any time: the
// next one is inserted in the same transaction that finishes the current one, and any
// worker process puts one back if it goes missing.
type Schedule struct {
	Name        string          // unique; the occurrence's unique key is "schedule:<Name>"
	Cron        string          // "*/5 * * * *", "@every 6h", "@hourly", ...
	Kind        string          //
	Queue       string          // default "default"
	Args        json.RawMessage // default {}
	MaxAttempts int             // default 25
	RequestedBy string          // who hears of each occurrence's outcome, if anyone
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func (s Schedule) validate() error {
	if err := validName("schedule", s.Name); err != nil {
		return err
	}
	if _, err := cronParser.Parse(s.Cron); err != nil {
		return fmt.Errorf("schedule %s: bad cron expression %q: %w", s.Name, s.Cron, err)
	}
	return nil
}

// Next is the first occurrence strictly after t.
func (s Schedule) Next(t time.Time) (time.Time, error) {
	sched, err := cronParser.Parse(s.Cron)
	if err != nil {
		return time.Time{}, fmt.Errorf("schedule %s: %w", s.Name, err)
	}
	return sched.Next(t.UTC()).UTC(), nil
}

func (s Schedule) uniqueKey() string { return "schedule:" + s.Name }

func (s Schedule) insertParams(at time.Time) InsertParams {
	return InsertParams{
		Kind:         s.Kind,
		Args:         s.Args,
		Queue:        s.Queue,
		ScheduledAt:  at,
		UniqueKey:    s.uniqueKey(),
		MaxAttempts:  s.MaxAttempts,
		RequestedBy:  s.RequestedBy,
		scheduleName: s.Name,
	}
}
