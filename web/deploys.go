package web

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/iact/iactq/jobs"
	"net/http"

	"github.com/iact/iactq/queue"
)

func (s *Server) deploys(ctx context.Context, _ *http.Request) (string, any, error) {
	type data struct {
		Deploys      []jobs.Deploy
		DeploysOK    bool
		DeploysErr   string
		Snapshots    []jobs.DORAHeadline
		SnapshotsOK  bool
		SnapshotsErr string
	}
	var d data
	var err error
	if d.Deploys, d.DeploysOK, err = jobs.RecentDeploys(ctx, s.o.DB, 30); err != nil {
		d.DeploysErr = err.Error()
	}
	if d.Snapshots, d.SnapshotsOK, err = jobs.LatestDORAHeadlines(ctx, s.o.DB); err != nil {
		d.SnapshotsErr = err.Error()
	}
	return "Deploys and DORA", d, nil
}

// deploy is one deploy's page: each step's command, exit code, duration and log.
func (s *Server) deploy(ctx context.Context, r *http.Request) (string, any, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return "", nil, fmt.Errorf("deploy %q: %w", r.PathValue("id"), queue.ErrNotFound)
	}
	d, steps, err := jobs.GetDeploy(ctx, s.o.DB, id)
	if errors.Is(err, jobs.ErrDeployNotFound) {
		return "", nil, fmt.Errorf("%w: %w", err, queue.ErrNotFound)
	}
	if err != nil {
		return "", nil, err
	}
	type stepView struct {
		jobs.DeployStep
		CommandText string
		Took        time.Duration
	}
	out := make([]stepView, len(steps))
	for i, st := range steps {
		out[i] = stepView{DeployStep: st, CommandText: strings.Join(st.Command, " ")}
		if !st.FinishedAt.IsZero() {
			out[i].Took = st.FinishedAt.Sub(st.StartedAt)
		}
	}
	return fmt.Sprintf("Deploy %d · %s · %s", d.ID, d.Env, d.Revision), struct {
		Deploy jobs.Deploy
		Steps  []stepView
	}{d, out}, nil
}
