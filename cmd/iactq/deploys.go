package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// deploysCmd is `iactq deploys [show ID]`. Not built yet (issue 3).
func (a *app) deploysCmd() *cobra.Command {
	return &cobra.Command{Use: "deploys", Short: "deployment history (not built yet)", Hidden: true,
		RunE: a.action(func(*cobra.Command, []string) error { return errors.New("deploys: not built yet") })}
}

// doraCmd is `iactq dora`. Not built yet (issue 3).
func (a *app) doraCmd() *cobra.Command {
	return &cobra.Command{Use: "dora", Short: "DORA metrics (not built yet)", Hidden: true,
		RunE: a.action(func(*cobra.Command, []string) error { return errors.New("dora: not built yet") })}
}
