package main

import (
	"fmt"
	"path"
	"time"

	"github.com/spf13/cobra"

	"github.com/iact/iactq/queue"
)

func (a *app) migrateCmd() *cobra.Command {
	var status bool
	cmd := &cobra.Command{
		Use:   "migrate [--status]",
		Short: "Create or upgrade the database schema",
		Long: `migrate applies the schema migrations that the database lacks, in order, and prints
each one it applied. Running it again applies nothing ("schema is up to date"), so it
is safe in every deploy. It needs a user allowed to create and alter tables; workers
only need SELECT, INSERT, UPDATE and DELETE.

With --status it changes nothing and lists every migration with when it was applied,
or "pending".`,
		Example: `  iactq migrate
  iactq migrate --status`,
		Args: cobra.NoArgs,
		RunE: a.action(func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			db, err := a.openDB(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			out := cmd.OutOrStdout()
			if status {
				st, err := queue.MigrationsStatus(ctx, db)
				if err != nil {
					return err
				}
				now := time.Now()
				tw := newTable(out)
				fmt.Fprintln(tw, "VERSION\tNAME\tAPPLIED")
				for _, m := range st {
					applied := "pending"
					if !m.AppliedAt.IsZero() {
						applied = when(m.AppliedAt, now)
					}
					fmt.Fprintf(tw, "%d\t%s\t%s\n", m.Version, path.Base(m.Name), applied)
				}
				return tw.Flush()
			}
			applied, err := queue.Migrate(ctx, db)
			if err != nil {
				return err
			}
			if len(applied) == 0 {
				fmt.Fprintln(out, "schema is up to date")
			}
			for _, m := range applied {
				fmt.Fprintf(out, "applied %s\n", path.Base(m.Name))
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&status, "status", false, "list migrations and whether each is applied; change nothing")
	return cmd
}
