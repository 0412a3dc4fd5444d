package jobs

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/iact/iactq/queue"
)

// DeploySteps are the steps of every deployment, in order. Each is a deploy_step job
// running the command the config names for it.
var DeploySteps = []string{"validate", "tests", "backup", "migrate", "collectstatic", "restart", "healthcheck"}

// DeployEnvs are the environments a deploy may target.
var DeployEnvs = []string{"staging", "production"}

// deployRollbackStep is the name under which the rollback command is recorded.
const deployRollbackStep = "rollback"

// deployFirstChangingStep is the first step that changes the environment: a failure
// from it on runs the rollback (the backup before it exists), a failure before it
// leaves nothing to roll back.
const deployFirstChangingStep = "migrate"

// DeployConfig configures deploy and deploy_step (config file section jobs.deploy).
// Commands come only from here, never from job args: args choose an environment and
// a revision, which reaches commands only as the environment variable IACTQ_REVISION.
type DeployConfig struct {
	// Notify is who is told of every deploy's outcome besides its requester.
	Notify string `yaml:"notify"`
	// Dir is the working directory of the commands (relative: to the worker's).
	Dir string `yaml:"dir"`
	// BackupDir is where each deploy's backup goes: BackupDir/ENV/DEPLOY_ID, created
	// before the first step and passed to commands as IACTQ_BACKUP_DIR. Relative: to Dir.
	BackupDir string `yaml:"backup_dir"`
	// Environments holds the commands of each environment. An environment given in
	// the file replaces the default one as a whole.
	Environments map[string]DeployEnvConfig `yaml:"environments"`
}

// DeployEnvConfig is one environment's commands.
type DeployEnvConfig struct {
	// Dir overrides DeployConfig.Dir for this environment.
	Dir string `yaml:"dir,omitempty"`
	// Steps maps every step of DeploySteps to its command.
	Steps map[string]DeployCommand `yaml:"steps"`
	// Rollback restores the backup taken by this deploy, run when a step from migrate
	// on fails.
	Rollback DeployCommand `yaml:"rollback"`
}

// DeployCommand is a command as an argv list (no shell unless the config names one)
// and its timeout.
type DeployCommand struct {
	Command []string       `yaml:"command"`
	Timeout DeployDuration `yaml:"timeout"`
}

// DeployDuration is a duration written "30s", "5m", "1h30m" in the config file.
type DeployDuration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *DeployDuration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q (use e.g. 30s, 5m, 1h)", s)
	}
	*d = DeployDuration(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d DeployDuration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// deployDefaultHealthcheck fails for revisions named bad-*, so that the demo shows a
// rollback. The revision only reaches it through the environment, never the argv.
const deployDefaultHealthcheck = `case "$IACTQ_REVISION" in
  bad-*) echo "GET /api/health: 503 Service Unavailable (revision $IACTQ_REVISION)" >&2; exit 1 ;;
esac
echo "GET /api/health: 200 OK"; echo "GET /api/db-check: 200 OK"; echo "GET /api/session-check: 200 OK"`

func defaultDeployEnv(env string) DeployEnvConfig {
	sh := func(script string, timeout time.Duration) DeployCommand {
		return DeployCommand{Command: []string{"sh", "-c", script}, Timeout: DeployDuration(timeout)}
	}
	return DeployEnvConfig{
		Steps: map[string]DeployCommand{
			"validate": {Command: []string{"scripts/check-restrictions.sh"}, Timeout: DeployDuration(2 * time.Minute)},
			"tests":    sh(`echo "tests of $IACTQ_REVISION: demo config, no test suite configured"`, 30*time.Minute),
			"backup": sh(`echo "-- backup of the `+env+` database before $IACTQ_REVISION" > "$IACTQ_BACKUP_DIR/db.sql" &&
echo "database backed up to $IACTQ_BACKUP_DIR/db.sql"`, 30*time.Minute),
			"migrate":       sh(`echo "applying migrations of $IACTQ_REVISION"; sleep 1; echo "migrations applied"`, 30*time.Minute),
			"collectstatic": sh(`echo "collecting static files of $IACTQ_REVISION"`, 10*time.Minute),
			"restart":       sh(`echo "restarting the `+env+` services on $IACTQ_REVISION"; sleep 1; echo "services restarted"`, 5*time.Minute),
			"healthcheck":   sh(deployDefaultHealthcheck, 2*time.Minute),
		},
		Rollback: sh(`test -f "$IACTQ_BACKUP_DIR/db.sql" && echo "database restored from $IACTQ_BACKUP_DIR/db.sql; previous release restarted"`, 30*time.Minute),
	}
}

func defaultDeployConfig() DeployConfig {
	return DeployConfig{
		Notify:    "ops",
		Dir:       ".",
		BackupDir: ".iactq/deploy-backups",
		Environments: map[string]DeployEnvConfig{
			"staging":    defaultDeployEnv("staging"),
			"production": defaultDeployEnv("production"),
		},
	}
}

// validate checks every field, naming the first bad one.
func (c DeployConfig) validate() error {
	if strings.TrimSpace(c.Notify) == "" || len(c.Notify) > 255 {
		return fmt.Errorf("notify must name a recipient (at most 255 bytes)")
	}
	if c.Dir == "" {
		return fmt.Errorf("dir must not be empty (use . for the worker's directory)")
	}
	if c.BackupDir == "" {
		return fmt.Errorf("backup_dir must not be empty")
	}
	for name := range c.Environments {
		if !deployKnownEnv(name) {
			return fmt.Errorf("environments.%s: unknown environment (known: %s)", name, strings.Join(DeployEnvs, ", "))
		}
	}
	for _, env := range DeployEnvs {
		e, ok := c.Environments[env]
		if !ok {
			return fmt.Errorf("environments.%s is missing", env)
		}
		for name := range e.Steps {
			if deployStepIndex(name) < 0 {
				return fmt.Errorf("environments.%s.steps.%s: unknown step (steps: %s)", env, name, strings.Join(DeploySteps, ", "))
			}
		}
		for _, step := range DeploySteps {
			cmd, ok := e.Steps[step]
			if !ok {
				return fmt.Errorf("environments.%s.steps.%s is missing (every step needs a command; use [\"true\"] to skip one)", env, step)
			}
			if err := cmd.validate(); err != nil {
				return fmt.Errorf("environments.%s.steps.%s: %w", env, step, err)
			}
		}
		if err := e.Rollback.validate(); err != nil {
			return fmt.Errorf("environments.%s.rollback: %w", env, err)
		}
	}
	return nil
}

func (c DeployCommand) validate() error {
	if len(c.Command) == 0 || c.Command[0] == "" {
		return fmt.Errorf("command must be a non-empty argv list, e.g. [\"scripts/deploy.sh\", \"migrate\"]")
	}
	for i, a := range c.Command {
		if strings.ContainsRune(a, 0) {
			return fmt.Errorf("command[%d] holds a NUL byte", i)
		}
	}
	if t := time.Duration(c.Timeout); t <= 0 || t > 24*time.Hour {
		return fmt.Errorf("timeout must be between 1s and 24h, got %s", t)
	}
	return nil
}

// dir is the working directory of env's commands.
func (c DeployConfig) dir(env string) string {
	if d := c.Environments[env].Dir; d != "" {
		return d
	}
	return c.Dir
}

// backupDir is the backup directory of one deploy.
func (c DeployConfig) backupDir(env string, deployID int64) (string, error) {
	root := c.BackupDir
	if !filepath.IsAbs(root) {
		root = filepath.Join(c.dir(env), root)
	}
	abs, err := filepath.Abs(filepath.Join(root, env, fmt.Sprint(deployID)))
	if err != nil {
		return "", fmt.Errorf("backup dir: %w", err)
	}
	return abs, nil
}

// command is the command of step (or the rollback) in env.
func (c DeployConfig) command(env, step string) (DeployCommand, bool) {
	e, ok := c.Environments[env]
	if !ok {
		return DeployCommand{}, false
	}
	if step == deployRollbackStep {
		return e.Rollback, len(e.Rollback.Command) > 0
	}
	cmd, ok := e.Steps[step]
	return cmd, ok
}

// stepJobTimeout bounds one deploy_step attempt: its longest command plus the
// rollback it may run, with a margin for the database.
func (c DeployConfig) stepJobTimeout() time.Duration {
	var longest time.Duration
	for _, e := range c.Environments {
		var steps time.Duration
		for _, s := range e.Steps {
			steps = max(steps, time.Duration(s.Timeout))
		}
		longest = max(longest, steps+time.Duration(e.Rollback.Timeout))
	}
	return longest + 2*time.Minute
}

func deployKnownEnv(env string) bool {
	for _, e := range DeployEnvs {
		if e == env {
			return true
		}
	}
	return false
}

// deployStepIndex is step's position in DeploySteps, or -1.
func deployStepIndex(step string) int {
	for i, s := range DeploySteps {
		if s == step {
			return i
		}
	}
	return -1
}

// deployStepSeq is the seq of a step's audit row: 1..7 for the steps, 8 for the rollback.
func deployStepSeq(step string) int32 {
	if step == deployRollbackStep {
		return int32(len(DeploySteps) + 1)
	}
	return int32(deployStepIndex(step) + 1)
}

// DORAConfig configures dora_snapshot (config file section jobs.dora).
type DORAConfig struct {
	// GitRepo is a git repository whose commit times give the lead time for changes
	// (git -C GIT_REPO show -s --format=%cI REVISION). Empty: the commit_time
	// recorded on each deploy, else unknown.
	GitRepo string `yaml:"git_repo"`
	// Env is the environment the metrics are about.
	Env string `yaml:"env"`
}

func defaultDORAConfig() DORAConfig { return DORAConfig{Env: "production"} }

func (c DORAConfig) validate() error {
	if !deployKnownEnv(c.Env) {
		return fmt.Errorf("env %q is not an environment (known: %s)", c.Env, strings.Join(DeployEnvs, ", "))
	}
	if strings.ContainsRune(c.GitRepo, 0) {
		return fmt.Errorf("git_repo holds a NUL byte")
	}
	return nil
}

func registerDeploys(r *queue.Registry, d Deps) {
	queue.Register(r, &deployWorker{deps: d})
	queue.Register(r, &deployStepWorker{deps: d}, queue.WithTimeout(d.Config.Deploy.stepJobTimeout()))
	queue.Register(r, &doraWorker{deps: d}, queue.WithTimeout(5*time.Minute))
}

// sortedKeys returns m's keys in order.
func deploySortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
