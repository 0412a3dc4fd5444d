package web

import (
	"context"
	"fmt"
	"net/http"

	"github.com/iact/iactq/queue"
)

func (s *Server) schedules(ctx context.Context, _ *http.Request) (string, any, error) {
	ss, err := s.o.Client.Schedules(ctx)
	if err != nil {
		return "", nil, err
	}
	return "Schedules", ss, nil
}

// runSchedule makes a schedule's pending occurrence due now: the same as retrying
// that scheduled job, so the chain of occurrences goes on from it.
func (s *Server) runSchedule(ctx context.Context, r *http.Request) (string, string, error) {
	name := r.PathValue("name")
	ss, err := s.o.Client.Schedules(ctx)
	if err != nil {
		return name, "", err
	}
	for _, sc := range ss {
		if sc.Name != name {
			continue
		}
		if sc.Next == nil {
			return name, "", fmt.Errorf("schedule %s has no pending occurrence yet (workers add one within 10 s): %w", name, queue.ErrConflict)
		}
		if sc.Next.State != queue.StateScheduled {
			return name, "", fmt.Errorf("schedule %s: its occurrence (job %d) is already %s: %w", name, sc.Next.ID, sc.Next.State, queue.ErrConflict)
		}
		if _, err := s.o.Client.RetryJob(ctx, sc.Next.ID); err != nil {
			return name, "", err
		}
		return name, fmt.Sprintf("schedule %s: job %d runs now", name, sc.Next.ID), nil
	}
	return name, "", fmt.Errorf("schedule %s: %w", name, queue.ErrNotFound)
}
