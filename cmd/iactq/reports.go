package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// reportsCmd is `iactq reports show ID [--csv]`. Not built yet (issue 3).
func (a *app) reportsCmd() *cobra.Command {
	return &cobra.Command{Use: "reports", Short: "IVR analytics report results (not built yet)", Hidden: true,
		RunE: a.action(func(*cobra.Command, []string) error { return errors.New("reports: not built yet") })}
}

// demoCmd is `iactq demo load [--days N]`. Not built yet (issue 3).
func (a *app) demoCmd() *cobra.Command {
	return &cobra.Command{Use: "demo", Short: "synthetic IVR demo data (not built yet)", Hidden: true,
		RunE: a.action(func(*cobra.Command, []string) error { return errors.New("demo: not built yet") })}
}
