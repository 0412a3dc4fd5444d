package jobs

import (
	"bytes"
	"fmt"
	"sort"

	"gopkg.in/yaml.v3"
)

// Config is the `jobs:` section of the config file: one section per group of kinds.
type Config struct {
	Reports        ReportsConfig        `yaml:"reports"`
	SessionCleanup SessionCleanupConfig `yaml:"session_cleanup"`
	HealthCheck    HealthCheckConfig    `yaml:"health_check"`
	Deploy         DeployConfig         `yaml:"deploy"`
	DORA           DORAConfig           `yaml:"dora"`
}

// DefaultConfig is the config with which `make run` works.
func DefaultConfig() Config {
	return Config{
		Reports:        defaultReportsConfig(),
		SessionCleanup: defaultSessionCleanupConfig(),
		HealthCheck:    defaultHealthCheckConfig(),
		Deploy:         defaultDeployConfig(),
		DORA:           defaultDORAConfig(),
	}
}

// DecodeConfig lays the file's `jobs:` sections over the defaults, strictly (unknown
// keys are errors), and validates the result.
func DecodeConfig(sections map[string]yaml.Node) (Config, error) {
	c := DefaultConfig()
	names := make([]string, 0, len(sections))
	for name := range sections {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		var target any
		switch name {
		case "reports":
			target = &c.Reports
		case "session_cleanup":
			target = &c.SessionCleanup
		case "health_check":
			target = &c.HealthCheck
		case "deploy":
			target = &c.Deploy
		case "dora":
			target = &c.DORA
		default:
			return Config{}, fmt.Errorf("jobs: unknown section %q (known: reports, session_cleanup, health_check, deploy, dora)", name)
		}
		node := sections[name]
		raw, err := yaml.Marshal(&node)
		if err != nil {
			return Config{}, fmt.Errorf("jobs.%s: %w", name, err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		dec.KnownFields(true)
		if err := dec.Decode(target); err != nil {
			return Config{}, fmt.Errorf("jobs.%s: %w", name, err)
		}
	}
	return c, c.Validate()
}

// Validate reports the first problem with c, naming the field.
func (c Config) Validate() error {
	for name, v := range map[string]interface{ validate() error }{
		"reports": c.Reports, "session_cleanup": c.SessionCleanup, "health_check": c.HealthCheck,
		"deploy": c.Deploy, "dora": c.DORA,
	} {
		if err := v.validate(); err != nil {
			return fmt.Errorf("jobs.%s: %w", name, err)
		}
	}
	return nil
}
