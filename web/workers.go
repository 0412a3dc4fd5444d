package web

import (
	"context"
	"net/http"
	"time"

	"github.com/iact/iactq/queue"
)

func (s *Server) workers(ctx context.Context, _ *http.Request) (string, any, error) {
	ws, err := s.o.Client.Workers(ctx)
	if err != nil {
		return "", nil, err
	}
	type workerRow struct {
		queue.WorkerInfo
		Alive bool
	}
	rescue := s.o.Client.Config().RescueAfter
	out := make([]workerRow, len(ws))
	for i, x := range ws {
		out[i] = workerRow{x, !x.Stale(time.Now(), rescue)}
	}
	return "Workers", out, nil
}
