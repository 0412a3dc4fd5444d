package main

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/iact/iactq/jobs"

	"github.com/iact/iactq/queue"
)

// exampleTemplate documents every key; the engine's defaults are filled in from
// queue.DefaultConfig, the one place they are written.
//
//go:embed iactq.example.yaml
var exampleTemplate string

// exampleConfig is the documented config file with every default. It is also where
// the command line's defaults come from, so the documentation cannot drift from them.
var exampleConfig = renderExample(queue.DefaultConfig())

func renderExample(d queue.Config) []byte {
	t := template.Must(template.New("iactq.example.yaml").Funcs(template.FuncMap{
		"dur": formatDuration,
		"key": func(k string) string { // "*" must be quoted in YAML; kind names need not
			if k == "*" {
				return strconv.Quote(k)
			}
			return k
		},
	}).Parse(exampleTemplate))
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		panic("iactq.example.yaml: " + err.Error())
	}
	return b.Bytes()
}

// fileConfig is the config file as written: nil means "not set, use the default".
type fileConfig struct {
	Queues            map[string]int     `yaml:"queues"`
	PollInterval      *duration          `yaml:"poll_interval"`
	HeartbeatInterval *duration          `yaml:"heartbeat_interval"`
	RescueAfter       *duration          `yaml:"rescue_after"`
	ShutdownGrace     *duration          `yaml:"shutdown_grace"`
	JobTimeout        *duration          `yaml:"job_timeout"`
	FinishedRetention *duration          `yaml:"finished_retention"`
	MaxArgsBytes      *int               `yaml:"max_args_bytes"`
	UnknownKindGrace  *duration          `yaml:"unknown_kind_grace"`
	Retry             *retryFile         `yaml:"retry"`
	SLA               map[string]slaFile `yaml:"sla"`
	Schedules         *[]scheduleConfig  `yaml:"schedules"`
	// Jobs holds one section per kind (health targets, deploy commands, report
	// output, recipients); each kind parses its own.
	Jobs map[string]yaml.Node `yaml:"jobs"`
}

type retryFile struct {
	Initial *duration `yaml:"initial"`
	Max     *duration `yaml:"max"`
	Jitter  *float64  `yaml:"jitter"`
}

type slaFile struct {
	SLA    *duration `yaml:"sla"`
	Urgent *duration `yaml:"urgent"`
}

// settings is the effective configuration: the file over the defaults.
type settings struct {
	Queues            map[string]int       `yaml:"queues"`
	PollInterval      duration             `yaml:"poll_interval"`
	HeartbeatInterval duration             `yaml:"heartbeat_interval"`
	RescueAfter       duration             `yaml:"rescue_after"`
	ShutdownGrace     duration             `yaml:"shutdown_grace"`
	JobTimeout        duration             `yaml:"job_timeout"`
	FinishedRetention duration             `yaml:"finished_retention"`
	MaxArgsBytes      int                  `yaml:"max_args_bytes"`
	UnknownKindGrace  duration             `yaml:"unknown_kind_grace"`
	Retry             retrySettings        `yaml:"retry"`
	SLA               map[string]slaConfig `yaml:"sla"`
	Schedules         []scheduleConfig     `yaml:"schedules"`
	Jobs              map[string]yaml.Node `yaml:"jobs"`

	// JobsConfig is Jobs decoded over the kinds' defaults.
	JobsConfig jobs.Config `yaml:"-"`

	// Source is the file read, or "" for the built-in defaults.
	Source string `yaml:"-"`
}

type retrySettings struct {
	Initial duration `yaml:"initial"`
	Max     duration `yaml:"max"`
	Jitter  float64  `yaml:"jitter"`
}

type slaConfig struct {
	SLA    duration `yaml:"sla"`
	Urgent duration `yaml:"urgent"`
}

type scheduleConfig struct {
	Name        string         `yaml:"name"`
	Cron        string         `yaml:"cron"`
	Kind        string         `yaml:"kind"`
	Queue       string         `yaml:"queue"`
	Args        map[string]any `yaml:"args"`
	MaxAttempts int            `yaml:"max_attempts,omitempty"`
	RequestedBy string         `yaml:"requested_by,omitempty"`
}

// duration is a time.Duration written as "30s", "5m", "1h30m".
type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if n.Kind != yaml.ScalarNode || n.Decode(&s) != nil {
		return fmt.Errorf("line %d: expected a duration such as 30s, 5m or 2h", n.Line)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (use e.g. 50ms, 30s, 5m, 2h)", n.Line, s)
	}
	*d = duration(v)
	return nil
}

func (d duration) MarshalYAML() (any, error) { return formatDuration(time.Duration(d)), nil }

// formatDuration writes d as Go does, without the zero tails: 1h, 30m, 1h30m, 50ms.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// decodeConfig parses a config file strictly: unknown keys are errors.
func decodeConfig(data []byte) (*fileConfig, error) {
	var fc fileConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document; the config is one document")
	}
	return &fc, nil
}

var (
	unknownFieldRe = regexp.MustCompile(`field (\S+) not found in type \S+`)
	wrongTypeRe    = regexp.MustCompile(`cannot unmarshal !!(\w+)(?: (.*))? into (\S+)$`)
)

// yamlWant names what a Go type the config decodes into expects.
func yamlWant(goType string) string {
	switch {
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "float"):
		return "a number"
	case strings.HasPrefix(goType, "map"), strings.HasPrefix(goType, "main."):
		return "a mapping (key: value)"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case goType == "string":
		return "a string"
	}
	return "another type of value"
}

// yamlError rewrites yaml.v3's messages for people: "line 3: unknown key "foo"".
func yamlError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		m = unknownFieldRe.ReplaceAllString(m, `unknown key "$1"`)
		if sub := wrongTypeRe.FindStringSubmatch(m); sub != nil {
			got := sub[2]
			switch {
			case got != "":
			case sub[1] == "seq":
				got = "a list"
			case sub[1] == "map":
				got = "a mapping"
			default:
				got = "!!" + sub[1]
			}
			m = m[:len(m)-len(sub[0])] + fmt.Sprintf("expected %s, got %s", yamlWant(sub[3]), got)
		}
		msgs[i] = m
	}
	return errors.New(strings.Join(msgs, "; "))
}

// defaultFileConfig is the example file, parsed.
func defaultFileConfig() *fileConfig {
	fc, err := decodeConfig(exampleConfig)
	if err != nil {
		panic("iactq.example.yaml: " + err.Error())
	}
	return fc
}

// loadSettings reads path ("" for none) over the defaults and checks the result,
// kinds against registry. Default schedules whose kind this build lacks are dropped;
// configured ones are an error. Errors are the user's: the CLI exits 2 on them.
func loadSettings(path string, registry *queue.Registry, log zerolog.Logger) (*settings, error) {
	user := &fileConfig{}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, usagef("config: %v", err)
		}
		user, err = decodeConfig(data)
		if err != nil {
			return nil, usagef("config %s: %v", path, err)
		}
	}
	s, err := resolve(defaultFileConfig(), user, registry, log)
	if err != nil {
		if path == "" {
			return nil, fmt.Errorf("built-in config: %w", err)
		}
		return nil, usagef("config %s: %v", path, err)
	}
	s.Source = path
	return s, nil
}

// resolve lays user over def and validates the result.
func resolve(def, user *fileConfig, registry *queue.Registry, log zerolog.Logger) (*settings, error) {
	pick := func(u, d *duration) duration {
		if u != nil {
			return *u
		}
		return *d
	}
	s := &settings{
		Queues:            def.Queues,
		PollInterval:      pick(user.PollInterval, def.PollInterval),
		HeartbeatInterval: pick(user.HeartbeatInterval, def.HeartbeatInterval),
		RescueAfter:       pick(user.RescueAfter, def.RescueAfter),
		ShutdownGrace:     pick(user.ShutdownGrace, def.ShutdownGrace),
		JobTimeout:        pick(user.JobTimeout, def.JobTimeout),
		FinishedRetention: pick(user.FinishedRetention, def.FinishedRetention),
		UnknownKindGrace:  pick(user.UnknownKindGrace, def.UnknownKindGrace),
		MaxArgsBytes:      *def.MaxArgsBytes,
		Jobs:              user.Jobs,
	}
	jobsConfig, err := jobs.DecodeConfig(user.Jobs)
	if err != nil {
		return nil, err
	}
	s.JobsConfig = jobsConfig
	if user.Queues != nil {
		if len(user.Queues) == 0 {
			return nil, errors.New("queues: list at least one queue")
		}
		s.Queues = user.Queues
	}
	if user.MaxArgsBytes != nil {
		s.MaxArgsBytes = *user.MaxArgsBytes
	}
	retry := retryFile{}
	if user.Retry != nil {
		retry = *user.Retry
	}
	s.Retry = retrySettings{Initial: pick(retry.Initial, def.Retry.Initial), Max: pick(retry.Max, def.Retry.Max), Jitter: *def.Retry.Jitter}
	if retry.Jitter != nil {
		s.Retry.Jitter = *retry.Jitter
	}

	s.SLA = map[string]slaConfig{}
	for kind, d := range def.SLA {
		s.SLA[kind] = slaConfig{SLA: *d.SLA, Urgent: *d.Urgent}
	}
	for kind, u := range user.SLA {
		base, ok := s.SLA[kind]
		if !ok {
			base = s.SLA["*"]
		}
		if u.SLA != nil {
			base.SLA = *u.SLA
		}
		if u.Urgent != nil {
			base.Urgent = *u.Urgent
		}
		s.SLA[kind] = base
	}

	schedules, explicit := *def.Schedules, false
	if user.Schedules != nil {
		schedules, explicit = *user.Schedules, true
	}
	known := map[string]bool{}
	for _, k := range registry.Kinds() {
		known[k] = true
	}
	for i, sc := range schedules {
		if sc.Name == "" {
			return nil, fmt.Errorf("schedules[%d]: name is missing", i)
		}
		if sc.Cron == "" || sc.Kind == "" {
			return nil, fmt.Errorf("schedule %s: cron and kind are required", sc.Name)
		}
		if !known[sc.Kind] {
			if explicit {
				return nil, fmt.Errorf("schedule %s: unknown kind %q (known kinds: %s)", sc.Name, sc.Kind, strings.Join(registry.Kinds(), ", "))
			}
			log.Debug().Str("schedule", sc.Name).Str("kind", sc.Kind).Msg("default schedule skipped: its kind is not in this build")
			continue
		}
		if sc.Queue == "" {
			sc.Queue = "default"
		}
		if sc.Args == nil {
			sc.Args = map[string]any{}
		}
		raw, err := json.Marshal(sc.Args)
		if err != nil {
			return nil, fmt.Errorf("schedule %s: args: %v", sc.Name, err)
		}
		if err := registry.Validate(sc.Kind, raw); err != nil {
			return nil, fmt.Errorf("schedule %s: %v", sc.Name, err)
		}
		if sc.MaxAttempts < 0 || sc.MaxAttempts > 1000 {
			return nil, fmt.Errorf("schedule %s: max_attempts %d is out of range 1..1000", sc.Name, sc.MaxAttempts)
		}
		s.Schedules = append(s.Schedules, sc)
	}
	if s.Schedules == nil {
		s.Schedules = []scheduleConfig{}
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	return s, nil
}

// check validates what the engine does not, then what it does.
func (s *settings) check() error {
	for name, d := range map[string]duration{
		"poll_interval": s.PollInterval, "heartbeat_interval": s.HeartbeatInterval,
		"rescue_after": s.RescueAfter, "shutdown_grace": s.ShutdownGrace, "job_timeout": s.JobTimeout,
		"finished_retention": s.FinishedRetention,
		"retry.initial":      s.Retry.Initial, "retry.max": s.Retry.Max,
	} {
		if d <= 0 {
			return fmt.Errorf("%s must be positive, got %s", name, formatDuration(time.Duration(d)))
		}
	}
	switch {
	case s.RescueAfter <= s.HeartbeatInterval:
		return fmt.Errorf("rescue_after (%s) must be longer than heartbeat_interval (%s), or live workers would be rescued",
			formatDuration(time.Duration(s.RescueAfter)), formatDuration(time.Duration(s.HeartbeatInterval)))
	case s.UnknownKindGrace < 0:
		return fmt.Errorf("unknown_kind_grace must be 0s (discard at once) or positive, got %s", formatDuration(time.Duration(s.UnknownKindGrace)))
	case s.MaxArgsBytes <= 0:
		return fmt.Errorf("max_args_bytes must be positive, got %d", s.MaxArgsBytes)
	case s.Retry.Max < s.Retry.Initial:
		return fmt.Errorf("retry.max (%s) is shorter than retry.initial (%s)", formatDuration(time.Duration(s.Retry.Max)), formatDuration(time.Duration(s.Retry.Initial)))
	case s.Retry.Jitter < 0 || s.Retry.Jitter > 1:
		return fmt.Errorf("retry.jitter must be between 0 and 1, got %g", s.Retry.Jitter)
	}
	if _, err := s.queueConfig(); err != nil {
		return err
	}
	return nil
}

// queueConfig maps the settings to the engine's Config.
func (s *settings) queueConfig() (queue.Config, error) {
	cfg := queue.Config{
		Queues:            map[string]int{},
		SLAs:              map[string]queue.SLA{},
		PollInterval:      time.Duration(s.PollInterval),
		HeartbeatInterval: time.Duration(s.HeartbeatInterval),
		RescueAfter:       time.Duration(s.RescueAfter),
		ShutdownGrace:     time.Duration(s.ShutdownGrace),
		JobTimeout:        time.Duration(s.JobTimeout),
		FinishedRetention: time.Duration(s.FinishedRetention),
		MaxArgsBytes:      s.MaxArgsBytes,
		UnknownKindGrace:  time.Duration(s.UnknownKindGrace),
		Retry: queue.RetryPolicy{
			Initial: time.Duration(s.Retry.Initial),
			Max:     time.Duration(s.Retry.Max),
			Jitter:  s.Retry.Jitter,
		},
	}
	if cfg.UnknownKindGrace == 0 {
		cfg.UnknownKindGrace = queue.DiscardAtOnce
	}
	for q, n := range s.Queues {
		cfg.Queues[q] = n
	}
	for kind, sla := range s.SLA {
		cfg.SLAs[kind] = queue.SLA{Deadline: time.Duration(sla.SLA), Urgent: time.Duration(sla.Urgent)}
	}
	for _, sc := range s.Schedules {
		raw, err := json.Marshal(sc.Args)
		if err != nil {
			return queue.Config{}, fmt.Errorf("schedule %s: args: %v", sc.Name, err)
		}
		cfg.Schedules = append(cfg.Schedules, queue.Schedule{
			Name: sc.Name, Cron: sc.Cron, Kind: sc.Kind, Queue: sc.Queue, Args: raw,
			MaxAttempts: sc.MaxAttempts, RequestedBy: sc.RequestedBy,
		})
	}
	if err := cfg.Validate(); err != nil {
		return queue.Config{}, err
	}
	return cfg, nil
}

// secretKeyRe matches keys whose values `config show` hides.
var secretKeyRe = regexp.MustCompile(`(?i)(password|passwd|secret|token|api_?key|credential)`)

// redactNode replaces the values of secret-looking keys in n.
func redactNode(n *yaml.Node) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			redactNode(c)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if secretKeyRe.MatchString(n.Content[i].Value) && n.Content[i+1].Kind == yaml.ScalarNode {
				n.Content[i+1] = &yaml.Node{Kind: yaml.ScalarNode, Value: "***"}
				continue
			}
			redactNode(n.Content[i+1])
		}
	}
}

func copyNode(n yaml.Node) *yaml.Node {
	c := n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, child := range n.Content {
		c.Content[i] = copyNode(*child)
	}
	return &c
}

// commentOut turns a config file into one that sets nothing: every line that is not
// already a comment or blank becomes a comment, so each block can be uncommented as
// it is. It is the packaged /etc/iactq/iactq.yaml (`iactq config example --commented`).
func commentOut(config []byte) []byte {
	var b bytes.Buffer
	for _, line := range strings.SplitAfter(string(config), "\n") {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
			b.WriteString("# ")
		}
		b.WriteString(line)
	}
	return b.Bytes()
}

// marshalSettings writes s as YAML, secrets hidden.
func marshalSettings(s *settings) ([]byte, error) {
	out := *s
	// jobs: every kind's settings in effect (the file's sections over the defaults),
	// not only the sections the file has.
	var effective yaml.Node
	if err := effective.Encode(s.JobsConfig); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	out.Jobs = map[string]yaml.Node{}
	for i := 0; i+1 < len(effective.Content); i += 2 {
		n := copyNode(*effective.Content[i+1])
		redactNode(n)
		out.Jobs[effective.Content[i].Value] = *n
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&out); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
