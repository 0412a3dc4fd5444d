package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// cliDocHeader opens every generated page of the CLI reference.
const cliDocHeader = "<!-- Generated from the iactq commands by `make generate`; do not edit. -->\n\n"

// cliDocCmd writes the CLI reference, one markdown page per command, with cobra's
// doc generator. It is hidden: `make generate` runs it into docs/cli, and
// `make verify` checks the pages are current.
func (a *app) cliDocCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "cli-docs DIR",
		Short:  "write the CLI reference as markdown into DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: a.action(func(cmd *cobra.Command, args []string) error {
			return writeCLIDocs(cmd.Root(), args[0])
		}),
	}
}

// writeCLIDocs replaces the pages in dir with those of root's command tree, so that
// a removed command leaves no page behind.
func writeCLIDocs(root *cobra.Command, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	old, err := filepath.Glob(filepath.Join(dir, "iactq*.md"))
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return fmt.Errorf("remove stale page: %w", err)
		}
	}
	var noDate func(*cobra.Command)
	noDate = func(c *cobra.Command) {
		c.DisableAutoGenTag = true // no generation date: the pages change only with the commands
		for _, sub := range c.Commands() {
			noDate(sub)
		}
	}
	noDate(root)
	prepend := func(string) string { return cliDocHeader }
	link := func(name string) string { return name }
	if err := doc.GenMarkdownTreeCustom(root, dir, prepend, link); err != nil {
		return fmt.Errorf("write CLI reference: %w", err)
	}
	return nil
}
