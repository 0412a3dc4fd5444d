package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/iact/iactq/queue"
)

func (a *app) configCmd() *cobra.Command {
	var commented bool
	example := &cobra.Command{
		Use:   "example [--commented]",
		Short: "Print a commented config file with every setting and its default",
		Long: `example prints the documented config file: every key, what it does, and its
default. Save it, keep the keys you change, and point iactq at it with --config or
IACTQ_CONFIG.

With --commented every setting is commented out too, so the file changes nothing
until a block is uncommented: the Debian package installs it as
/etc/iactq/iactq.yaml. Every block, once uncommented, is a valid setting.`,
		Example: `  iactq config example > /etc/iactq/iactq.yaml
  iactq config example --commented > /etc/iactq/iactq.yaml`,
		Args: cobra.NoArgs,
		RunE: a.action(func(cmd *cobra.Command, _ []string) error {
			out := exampleConfig
			if commented {
				out = commentOut(exampleConfig)
			}
			_, err := cmd.OutOrStdout().Write(out)
			return err
		}),
	}
	example.Flags().BoolVar(&commented, "commented", false, "comment out every setting (the packaged /etc/iactq/iactq.yaml)")
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the effective configuration",
		Long: `show checks the config file (--config or IACTQ_CONFIG) and prints the settings in
effect, jobs: included: the file over the defaults, schedules whose kind is missing
from this build left out. The output is itself a valid config file. Secrets are not printed: the database password never, values of keys
named like password or token as "***". A bad config file exits with status 2.`,
		Example: `  iactq config show
  iactq --config /etc/iactq.yaml config show`,
		Args: cobra.NoArgs,
		RunE: a.action(func(cmd *cobra.Command, _ []string) error {
			s, err := a.settings()
			if err != nil {
				return err
			}
			b, err := marshalSettings(s)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			source := "built-in defaults"
			if s.Source != "" {
				source = s.Source + " over the built-in defaults"
			}
			fmt.Fprintf(out, "# effective configuration: %s\n", source)
			dsn := a.dsn
			if dsn == "" {
				dsn = a.getenv("IACTQ_DSN")
			}
			if dsn != "" {
				fmt.Fprintf(out, "# database: %s\n", queue.RedactDSN(dsn))
			} else {
				fmt.Fprintln(out, "# database: not set (IACTQ_DSN or --dsn)")
			}
			_, err = out.Write(b)
			return err
		}),
	}
	return groupCmd("config", "Print the example config or the effective one",
		`config helps write the config file. 'iactq config example' prints every setting with its
default and what it does; 'iactq config show' prints the settings in effect after
reading --config or IACTQ_CONFIG, and fails (status 2) if the file is invalid.`,
		`  iactq config example > iactq.yaml
  IACTQ_CONFIG=iactq.yaml iactq config show`,
		example, show)
}
