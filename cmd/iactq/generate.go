package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// version is set at build time from git (make build, make package:
// -ldflags "-X main.version=..."); `iactq --version` prints it.
var version = "dev"

// cliDocHeader opens every generated page of the CLI reference.
const cliDocHeader = "<!-- Generated from the iactq commands by `make generate`; do not edit. -->\n\n"

// generatorCmd is a hidden command that writes files generated from the command tree
// into the directory it is given: `make generate` and `make package` run them.
func (a *app) generatorCmd(use, short string, write func(root *cobra.Command, dir string) error) *cobra.Command {
	return &cobra.Command{
		Use:    use + " DIR",
		Short:  short,
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: a.action(func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return fmt.Errorf("create %s: %w", args[0], err)
			}
			root := cmd.Root()
			noAutoGenTag(root) // no generation date: the files change only with the commands
			return write(root, args[0])
		}),
	}
}

func noAutoGenTag(c *cobra.Command) {
	c.DisableAutoGenTag = true
	for _, sub := range c.Commands() {
		noAutoGenTag(sub)
	}
}

// cliDocCmd writes the CLI reference, one markdown page per command (docs/cli, which
// `make verify` checks is current).
func (a *app) cliDocCmd() *cobra.Command {
	return a.generatorCmd("cli-docs", "write the CLI reference as markdown into DIR", writeCLIDocs)
}

// writeCLIDocs replaces the pages in dir with those of root's command tree, so that
// a removed command leaves no page behind.
func writeCLIDocs(root *cobra.Command, dir string) error {
	old, err := filepath.Glob(filepath.Join(dir, "iactq*.md"))
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return fmt.Errorf("remove stale page: %w", err)
		}
	}
	prepend := func(string) string { return cliDocHeader }
	link := func(name string) string { return name }
	if err := doc.GenMarkdownTreeCustom(root, dir, prepend, link); err != nil {
		return fmt.Errorf("write CLI reference: %w", err)
	}
	return nil
}

// manPagesCmd writes the man pages, one per command (iactq.1, iactq-work.1, ...), for
// the Debian package.
func (a *app) manPagesCmd() *cobra.Command {
	return a.generatorCmd("man-pages", "write the man pages into DIR", func(root *cobra.Command, dir string) error {
		// The pages' date: SOURCE_DATE_EPOCH (the commit's) for a reproducible build.
		date := time.Now()
		if s := a.getenv("SOURCE_DATE_EPOCH"); s != "" {
			sec, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return usagef("SOURCE_DATE_EPOCH %q is not a number of seconds", s)
			}
			date = time.Unix(sec, 0).UTC()
		}
		header := &doc.GenManHeader{Section: "1", Source: "iactq " + version, Manual: "iactq manual", Date: &date}
		if err := doc.GenManTree(root, header, dir); err != nil {
			return fmt.Errorf("write man pages: %w", err)
		}
		return nil
	})
}
