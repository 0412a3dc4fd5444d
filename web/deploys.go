package web

import (
	"context"
	"net/http"

	"github.com/iact/iactq/queue"
)

func (s *Server) deploys(ctx context.Context, _ *http.Request) (string, any, error) {
	type data struct {
		Deploys      []queue.Deploy
		DeploysOK    bool
		DeploysErr   string
		Snapshots    []queue.DORASnapshot
		SnapshotsOK  bool
		SnapshotsErr string
	}
	var d data
	var err error
	if d.Deploys, d.DeploysOK, err = s.o.Client.RecentDeploys(ctx, 30); err != nil {
		d.DeploysErr = err.Error()
	}
	if d.Snapshots, d.SnapshotsOK, err = s.o.Client.LatestDORA(ctx); err != nil {
		d.SnapshotsErr = err.Error()
	}
	return "Deploys and DORA", d, nil
}
