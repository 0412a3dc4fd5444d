package jobs

import "github.com/iact/iactq/queue"

// DeployConfig configures deploy and deploy_step.
type DeployConfig struct{}

func defaultDeployConfig() DeployConfig { return DeployConfig{} }

func (DeployConfig) validate() error { return nil }

// DORAConfig configures dora_snapshot.
type DORAConfig struct{}

func defaultDORAConfig() DORAConfig { return DORAConfig{} }

func (DORAConfig) validate() error { return nil }

func registerDeploys(*queue.Registry, Deps) {}
