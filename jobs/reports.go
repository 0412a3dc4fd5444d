package jobs

import "github.com/iact/iactq/queue"

// ReportsConfig configures the IVR analytics reports.
type ReportsConfig struct{}

func defaultReportsConfig() ReportsConfig { return ReportsConfig{} }

func (ReportsConfig) validate() error { return nil }

func registerReports(*queue.Registry, Deps) {}
