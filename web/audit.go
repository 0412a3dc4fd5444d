package web

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/iact/iactq/queue"
)

func (s *Server) audit(ctx context.Context, _ *http.Request) (string, any, error) {
	entries, err := s.o.Client.AuditLog(ctx, 100)
	if err != nil {
		return "", nil, err
	}
	return "Audit log", entries, nil
}

func (s *Server) record(r *http.Request, action, target string, ok bool, detail string) {
	remote := r.RemoteAddr
	if host, _, err := net.SplitHostPort(remote); err == nil {
		remote = host
	}
	ev := s.o.Log.Info()
	if !ok {
		ev = s.o.Log.Warn()
	}
	ev.Str("component", "dashboard").Str("audit_action", action).Str("target", target).Bool("ok", ok).
		Str("remote_addr", remote).Str("detail", detail).Msg("dashboard action")
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	err := s.o.Client.Audit(ctx, queue.AuditEntry{Actor: "dashboard", Action: action, Target: target, OK: ok, Detail: detail, RemoteAddr: remote})
	if err != nil {
		s.o.Log.Warn().Err(err).Msg("cannot record dashboard action in iactq_audit")
	}
}
