package jobs

import (
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/iact/iactq/queue"
)

// SessionCleanupConfig configures session_cleanup (config `jobs: session_cleanup:`).
type SessionCleanupConfig struct {
	// Table is the Django session table: a plain identifier, optionally qualified by
	// its schema (`platform.django_session`). Default django_session.
	Table string `yaml:"table"`
	// BatchSize is how many expired sessions one DELETE removes (1..10000, default 2000):
	// small batches keep row locks and replication events short.
	BatchSize int `yaml:"batch_size"`
	// Pause is the sleep between two batches (0..1m, default 50ms), so the app and the
	// replicas keep up.
	Pause time.Duration `yaml:"pause"`
	// MaxBatches stops a run after that many batches (0, the default, means no limit);
	// the rest is left to the next run.
	MaxBatches int `yaml:"max_batches"`
	// MaxDuration stops a run that has deleted for that long (1s..12h, default 30m),
	// leaving the rest to the next run. The kind's timeout is MaxDuration + 10m.
	MaxDuration time.Duration `yaml:"max_duration"`
	// WarnThreshold: when more rows than this remain in the table after the cleanup,
	// Notify gets a message (default 100000).
	WarnThreshold int64 `yaml:"warn_threshold"`
	// Notify is the recipient of that warning (default ops).
	Notify string `yaml:"notify"`
}

func defaultSessionCleanupConfig() SessionCleanupConfig {
	return SessionCleanupConfig{
		Table:         "django_session",
		BatchSize:     2000,
		Pause:         50 * time.Millisecond,
		MaxDuration:   30 * time.Minute,
		WarnThreshold: 100_000,
		Notify:        "ops",
	}
}

// Limits of session_cleanup's settings and args.
const (
	sessionCleanupMaxBatchSize  = 10_000
	sessionCleanupMaxMaxBatches = 10_000_000
)

func (c SessionCleanupConfig) validate() error {
	if _, err := sessionTableName(c.Table); err != nil {
		return fmt.Errorf("table: %w", err)
	}
	if c.BatchSize < 1 || c.BatchSize > sessionCleanupMaxBatchSize {
		return fmt.Errorf("batch_size %d is out of range 1..%d", c.BatchSize, sessionCleanupMaxBatchSize)
	}
	if c.Pause < 0 || c.Pause > time.Minute {
		return fmt.Errorf("pause %s is out of range 0..1m", c.Pause)
	}
	if c.MaxBatches < 0 || c.MaxBatches > sessionCleanupMaxMaxBatches {
		return fmt.Errorf("max_batches %d is out of range 0..%d (0: no limit)", c.MaxBatches, sessionCleanupMaxMaxBatches)
	}
	if c.MaxDuration < time.Second || c.MaxDuration > 12*time.Hour {
		return fmt.Errorf("max_duration %s is out of range 1s..12h", c.MaxDuration)
	}
	if c.WarnThreshold < 0 {
		return fmt.Errorf("warn_threshold %d must not be negative", c.WarnThreshold)
	}
	if err := validateMaintenanceRecipient(c.Notify); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}

// HealthCheckConfig configures health_check (config `jobs: health_check:`).
type HealthCheckConfig struct {
	// BaseURL and Paths give the HTTP targets BaseURL+path, one per path, unless
	// Targets is set. Defaults http://127.0.0.1:8000 and the platform's three health
	// endpoints. `paths: []` probes no HTTP endpoint.
	BaseURL string   `yaml:"base_url"`
	Paths   []string `yaml:"paths"`
	// Targets, when set, replaces BaseURL and Paths: each an HTTP endpoint with an
	// optional name (default: its URL), timeout (default Timeout) and bearer token.
	Targets []HealthTarget `yaml:"targets"`
	// Timeout bounds each probe (1ms..5m, default 5s).
	Timeout time.Duration `yaml:"timeout"`
	// Database probes the database itself, as target "database" (default true).
	Database bool `yaml:"database"`
	// DjangoSettings, when set, is the Django settings file in which SESSION_ENGINE
	// must be django.contrib.sessions.backends.db (or unset, Django's default): target
	// "session_engine". It is the only file health_check ever reads.
	DjangoSettings string `yaml:"django_settings"`
	// Notify is told when a target changes state (default ops).
	Notify string `yaml:"notify"`
	// KeepResults is how long probe results are kept (default 720h, 30 days; 0 keeps
	// them forever).
	KeepResults time.Duration `yaml:"keep_results"`
}

// HealthTarget is one HTTP endpoint to probe; any 2xx answer within the timeout is OK.
type HealthTarget struct {
	Name    string        `yaml:"name"`
	URL     string        `yaml:"url"`
	Timeout time.Duration `yaml:"timeout"`
	// Token, when set, is sent as `Authorization: Bearer TOKEN` (hidden by
	// `iactq config show`).
	Token string `yaml:"token"`
}

func defaultHealthCheckConfig() HealthCheckConfig {
	return HealthCheckConfig{
		BaseURL:     "http://127.0.0.1:8000",
		Paths:       []string{"/api/health", "/api/db-check", "/api/session-check"},
		Timeout:     5 * time.Second,
		Database:    true,
		Notify:      "ops",
		KeepResults: 30 * 24 * time.Hour,
	}
}

// Names of health_check's built-in targets; no HTTP target may take them.
const (
	healthTargetDatabase      = "database"
	healthTargetSessionEngine = "session_engine"
	healthMaxTimeout          = 5 * time.Minute
)

func (c HealthCheckConfig) validate() error {
	if c.Timeout < time.Millisecond || c.Timeout > healthMaxTimeout {
		return fmt.Errorf("timeout %s is out of range 1ms..5m", c.Timeout)
	}
	if len(c.Targets) == 0 {
		if len(c.Paths) > 0 {
			if err := validateHealthURL(c.BaseURL); err != nil {
				return fmt.Errorf("base_url: %w", err)
			}
		}
		for i, p := range c.Paths {
			if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " \t\r\n") {
				return fmt.Errorf("paths[%d]: %q must start with / and contain no spaces", i, p)
			}
		}
	}
	for i, t := range c.Targets {
		if err := validateHealthURL(t.URL); err != nil {
			return fmt.Errorf("targets[%d].url: %w", i, err)
		}
		if t.Timeout < 0 || t.Timeout > healthMaxTimeout {
			return fmt.Errorf("targets[%d].timeout %s is out of range 1ms..5m (0: the default timeout)", i, t.Timeout)
		}
		if len(t.Name) > 200 || strings.ContainsAny(t.Name, "\r\n\t") {
			return fmt.Errorf("targets[%d].name must be at most 200 characters on one line", i)
		}
		if strings.ContainsAny(t.Token, "\r\n") {
			return fmt.Errorf("targets[%d].token must be on one line", i)
		}
	}
	seen := map[string]bool{}
	for _, t := range c.httpTargets() {
		switch {
		case len(t.Name) > 255:
			return fmt.Errorf("target %.40q...: a target name is at most 255 characters (set targets[].name)", t.Name)
		case t.Name == healthTargetDatabase || t.Name == healthTargetSessionEngine:
			return fmt.Errorf("target name %q is reserved for the built-in probe", t.Name)
		case seen[t.Name]:
			return fmt.Errorf("target %q is listed twice", t.Name)
		}
		seen[t.Name] = true
	}
	if c.DjangoSettings != "" && (strings.TrimSpace(c.DjangoSettings) != c.DjangoSettings || strings.ContainsRune(c.DjangoSettings, 0)) {
		return fmt.Errorf("django_settings %q is not a usable file path", c.DjangoSettings)
	}
	if err := validateMaintenanceRecipient(c.Notify); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	if c.KeepResults < 0 || (c.KeepResults > 0 && c.KeepResults < time.Hour) {
		return fmt.Errorf("keep_results %s must be 0 (keep forever) or at least 1h", c.KeepResults)
	}
	return nil
}

// httpTargets lists the HTTP endpoints to probe, names and timeouts filled in.
func (c HealthCheckConfig) httpTargets() []HealthTarget {
	var ts []HealthTarget
	if len(c.Targets) > 0 {
		ts = append(ts, c.Targets...)
	} else {
		base := strings.TrimRight(c.BaseURL, "/")
		for _, p := range c.Paths {
			ts = append(ts, HealthTarget{URL: base + p})
		}
	}
	for i := range ts {
		if ts[i].Name == "" {
			ts[i].Name = ts[i].URL
		}
		if ts[i].Timeout == 0 {
			ts[i].Timeout = c.Timeout
		}
	}
	return ts
}

// maxTimeout is the longest timeout of any probe.
func (c HealthCheckConfig) maxTimeout() time.Duration {
	d := c.Timeout
	for _, t := range c.httpTargets() {
		d = max(d, t.Timeout)
	}
	return d
}

func validateHealthURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: the scheme must be http or https", s)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", s)
	}
	if u.User != nil {
		return fmt.Errorf("%q: put credentials in token, not in the URL", u.Redacted())
	}
	return nil
}

// maintenanceRecipientRe is what a message recipient looks like: a user or role name.
var maintenanceRecipientRe = regexp.MustCompile(`^[A-Za-z0-9_.@+-]{1,255}$`)

func validateMaintenanceRecipient(r string) error {
	if !maintenanceRecipientRe.MatchString(r) {
		return fmt.Errorf("%q is not a recipient name (letters, digits and _.@+-, at most 255)", r)
	}
	return nil
}

// registerMaintenance registers session_cleanup and health_check. A zero config (the
// zero Deps, used to validate args and schedules) stands for the defaults.
func registerMaintenance(r *queue.Registry, d Deps) {
	sc := d.Config.SessionCleanup
	if reflect.ValueOf(sc).IsZero() {
		sc = defaultSessionCleanupConfig()
	}
	hc := d.Config.HealthCheck
	if reflect.ValueOf(hc).IsZero() {
		hc = defaultHealthCheckConfig()
	}
	queue.Register(r, &sessionCleaner{d: d, cfg: sc}, queue.WithTimeout(sc.MaxDuration+10*time.Minute))
	queue.Register(r, newHealthChecker(d, hc), queue.WithTimeout(hc.maxTimeout()+time.Minute))
}
