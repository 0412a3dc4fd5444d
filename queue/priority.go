package queue

import (
	"fmt"
	"time"
)

// Class is a waiting job's priority class, derived from its age against its kind's SLA.
type Class string

// The classes, claimed in this order.
const (
	ClassOverdue Class = "OVERDUE"
	ClassUrgent  Class = "URGENT"
	ClassNormal  Class = "NORMAL"
)

// classOrder is the claim order of the classes.
var classOrder = []Class{ClassOverdue, ClassUrgent, ClassNormal}

// numClasses is the number of classes.
const numClasses = 3

// rank is the class's place in classOrder: 0 for OVERDUE.
func (c Class) rank() int {
	switch c {
	case ClassOverdue:
		return 0
	case ClassUrgent:
		return 1
	default:
		return 2
	}
}

// SLA is a kind's service level: a job is URGENT once older than Urgent and OVERDUE
// once older than Deadline, counting from when it first became due.
type SLA struct {
	Deadline time.Duration
	Urgent   time.Duration
}

func (s SLA) validate() error {
	if s.Deadline <= 0 || s.Urgent <= 0 {
		return fmt.Errorf("SLA durations must be positive")
	}
	if s.Urgent > s.Deadline {
		return fmt.Errorf("urgency threshold %s is after the SLA %s", s.Urgent, s.Deadline)
	}
	return nil
}

// DefaultSLAs are the SLAs of the IACT analytics service catalogue; "*" applies to
// every kind without its own.
func DefaultSLAs() map[string]SLA {
	return map[string]SLA{
		"*":                  {Deadline: time.Hour, Urgent: 30 * time.Minute},
		"dashboard_metrics":  {Deadline: 2 * time.Hour, Urgent: time.Hour},
		"call_flow_analysis": {Deadline: 4 * time.Hour, Urgent: time.Hour},
		"abandonment_report": {Deadline: 2 * time.Hour, Urgent: time.Hour},
	}
}

// slaFor returns the SLA of kind from slas, falling back to "*".
func slaFor(slas map[string]SLA, kind string) SLA {
	if s, ok := slas[kind]; ok {
		return s
	}
	if s, ok := slas["*"]; ok {
		return s
	}
	return DefaultSLAs()["*"]
}

// ClassAt is the class at time now of a job first due at dueSince.
func (s SLA) ClassAt(dueSince, now time.Time) Class {
	age := now.Sub(dueSince)
	switch {
	case age > s.Deadline:
		return ClassOverdue
	case age > s.Urgent:
		return ClassUrgent
	default:
		return ClassNormal
	}
}

// classRange is the half-open range [from, to) of first-due times that puts a job of
// this SLA in class c at time now. The OVERDUE range has no lower bound (zero from).
func (s SLA) classRange(c Class, now time.Time) (from, to time.Time) {
	// A job is in a class when its age is strictly over the threshold, so the
	// boundaries are exclusive on the old side: age > d  <=>  due < now-d.
	overdueBefore := now.Add(-s.Deadline)
	urgentBefore := now.Add(-s.Urgent)
	switch c {
	case ClassOverdue:
		return time.Time{}, overdueBefore
	case ClassUrgent:
		return overdueBefore, urgentBefore
	default:
		return urgentBefore, now.Add(time.Microsecond)
	}
}
