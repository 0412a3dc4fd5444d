package jobs

import "github.com/iact/iactq/queue"

// SessionCleanupConfig configures session_cleanup.
type SessionCleanupConfig struct{}

func defaultSessionCleanupConfig() SessionCleanupConfig { return SessionCleanupConfig{} }

func (SessionCleanupConfig) validate() error { return nil }

// HealthCheckConfig configures health_check.
type HealthCheckConfig struct{}

func defaultHealthCheckConfig() HealthCheckConfig { return HealthCheckConfig{} }

func (HealthCheckConfig) validate() error { return nil }

func registerMaintenance(*queue.Registry, Deps) {}
