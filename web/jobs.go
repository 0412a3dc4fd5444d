package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/iact/iactq/queue"
)

// ---- failed jobs and one job ----

func (s *Server) failed(ctx context.Context, _ *http.Request) (string, any, error) {
	jobs, err := s.o.Client.RecentFailures(ctx, 100)
	if err != nil {
		return "", nil, err
	}
	type failedJob struct {
		*queue.JobRow
		LastError string
		Errors    []queue.AttemptError
	}
	out := make([]failedJob, len(jobs))
	for i, j := range jobs {
		errs := j.AttemptErrors()
		f := failedJob{JobRow: j, Errors: errs}
		if len(errs) > 0 {
			f.LastError = errs[len(errs)-1].Error
		}
		out[i] = f
	}
	return "Failed jobs", out, nil
}

func (s *Server) job(ctx context.Context, r *http.Request) (string, any, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return "", nil, fmt.Errorf("job %q: %w", r.PathValue("id"), queue.ErrNotFound)
	}
	j, err := s.o.Client.GetJob(ctx, id)
	if err != nil {
		return "", nil, err
	}
	type data struct {
		*queue.JobRow
		ArgsText string
		Errors   []queue.AttemptError
	}
	return fmt.Sprintf("Job %d", id), data{JobRow: j, ArgsText: string(j.Args), Errors: j.AttemptErrors()}, nil
}

// ---- job actions ----

func jobID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("invalid job id %q: %w", r.PathValue("id"), errBadRequest)
	}
	return id, nil
}

func (s *Server) retry(ctx context.Context, r *http.Request) (string, string, error) {
	id, err := jobID(r)
	if err != nil {
		return r.PathValue("id"), "", err
	}
	j, err := s.o.Client.RetryJob(ctx, id)
	if err != nil {
		return strconv.FormatInt(id, 10), "", err
	}
	return strconv.FormatInt(id, 10), fmt.Sprintf("job %d is %s again", id, j.State), nil
}

func (s *Server) cancel(ctx context.Context, r *http.Request) (string, string, error) {
	id, err := jobID(r)
	if err != nil {
		return r.PathValue("id"), "", err
	}
	if _, err := s.o.Client.CancelJob(ctx, id); err != nil {
		return strconv.FormatInt(id, 10), "", err
	}
	return strconv.FormatInt(id, 10), fmt.Sprintf("job %d cancelled", id), nil
}
