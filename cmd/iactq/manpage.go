package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// version is set at build time from git (make build, make package:
// -ldflags "-X main.version=..."); `iactq --version` prints it.
var version = "dev"

// manPagesCmd writes the man pages, one per command (iactq.1, iactq-work.1, ...),
// with cobra's generator. It is hidden: `make package` runs it for the Debian package.
func (a *app) manPagesCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "man-pages DIR",
		Short:  "write the man pages into DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: a.action(func(cmd *cobra.Command, args []string) error {
			// The pages' date: SOURCE_DATE_EPOCH (the commit's) for a reproducible build.
			date := time.Now()
			if s := a.getenv("SOURCE_DATE_EPOCH"); s != "" {
				sec, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					return usagef("SOURCE_DATE_EPOCH %q is not a number of seconds", s)
				}
				date = time.Unix(sec, 0).UTC()
			}
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return fmt.Errorf("create %s: %w", args[0], err)
			}
			root := cmd.Root()
			root.DisableAutoGenTag = true
			header := &doc.GenManHeader{Section: "1", Source: "iactq " + version, Manual: "iactq manual", Date: &date}
			if err := doc.GenManTree(root, header, args[0]); err != nil {
				return fmt.Errorf("write man pages: %w", err)
			}
			return nil
		}),
	}
}
