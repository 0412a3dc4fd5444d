package web

import (
	"context"
	"net/http"
)

func (s *Server) priorities(ctx context.Context, _ *http.Request) (string, any, error) {
	ps, err := s.o.Client.Priorities(ctx, 200)
	if err != nil {
		return "", nil, err
	}
	return "Priorities", ps, nil
}
