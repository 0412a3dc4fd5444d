package main

import (
	"database/sql"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/iact/iactq/queue"
	"github.com/iact/iactq/web"
)

func (a *app) dashboardCmd() *cobra.Command {
	var httpAddr string
	cmd := &cobra.Command{
		Use:   "dashboard [--http ADDR]",
		Short: "Serve the web dashboard (also served by 'work --http')",
		Long: `dashboard serves the web dashboard on ADDR (127.0.0.1:8090 by default; an address
without a host, such as ":8090", binds 127.0.0.1 only), with /metrics, /healthz and
/readyz, until SIGTERM or SIGINT. 'iactq work --http ADDR' serves the same pages
from a worker.

Pages: queues with their jobs by state and by SLA class, throughput and wait/run
time over the last hour (charts from iactq_sla_rollup), the priority list, failed
and discarded jobs with their errors, schedules with their next runs, workers and
their heartbeats, deploys and the latest DORA snapshot (where those tables exist),
and the audit log. Pages refresh themselves; every asset is built in (no CDN).

Actions — retry or cancel a job, pause or resume a queue, run a schedule now — need
the token in IACTQ_DASHBOARD_TOKEN: unlock them in the page's header (the token is
then kept in an HttpOnly, SameSite=Strict cookie), or send it as a "token" form
field or an "Authorization: Bearer" header. Without the token they are refused
(403); without IACTQ_DASHBOARD_TOKEN set they are all refused. Every action tried is
logged and recorded in the iactq_audit table.`,
		Example: `  IACTQ_DASHBOARD_TOKEN=$(openssl rand -hex 16) iactq dashboard
  iactq dashboard --http 127.0.0.1:9000
  curl -X POST -H "Authorization: Bearer $IACTQ_DASHBOARD_TOKEN" 127.0.0.1:8090/jobs/42/retry`,
		Args: cobra.NoArgs,
		RunE: a.action(func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			_, cfg, err := a.config()
			if err != nil {
				return err
			}
			db, err := a.openLazy()
			if err != nil {
				return err
			}
			defer db.Close()
			c, err := a.newClient(db, cfg)
			if err != nil {
				return err
			}
			if err := a.ping(ctx, db); err != nil {
				return err
			}
			if err := a.checkSchema(ctx, db); err != nil {
				return err
			}
			dash, err := a.dashboard(c, db, web.NewMetrics(c))
			if err != nil {
				return err
			}
			stop, err := a.serveHTTP(ctx, httpAddr, db, dash, nil)
			if err != nil {
				return err
			}
			defer stop()
			<-ctx.Done()
			return nil
		}),
	}
	cmd.Flags().StringVar(&httpAddr, "http", "127.0.0.1:8090", "listen on ADDR (host:port; \":8090\" binds 127.0.0.1)")
	return cmd
}

// dashboard builds the dashboard's handler over c, with m at /metrics.
func (a *app) dashboard(c *queue.Client, db *sql.DB, m *web.Metrics) (*web.Server, error) {
	token := a.getenv(web.TokenEnv)
	if token != "" && len(token) < 12 {
		return nil, usagef("%s is too short: use at least 12 characters (e.g. openssl rand -hex 16)", web.TokenEnv)
	}
	if token == "" {
		a.log.Info().Msg("dashboard actions are disabled: set " + web.TokenEnv + " to enable them")
	}
	analyst := a.getenv(web.AnalystTokenEnv)
	if analyst != "" && len(analyst) < 12 {
		return nil, usagef("%s is too short: use at least 12 characters (e.g. openssl rand -hex 16)", web.AnalystTokenEnv)
	}
	if analyst != "" && analyst == token {
		return nil, usagef("%s must differ from %s: it unlocks less", web.AnalystTokenEnv, web.TokenEnv)
	}
	s, err := web.New(web.Options{Client: c, DB: db, Token: token, AnalystToken: analyst, Log: a.log, Metrics: m})
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	return s, nil
}
