package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/iact/iactq/internal/journald"
	"github.com/iact/iactq/jobs"
	"github.com/iact/iactq/queue"
)

// run runs the command line args and returns the process exit code: 0 success, 1 a
// failure at run time, 2 bad usage or invalid input (with nothing written).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return execute(ctx, args, getenv, os.Stdin, stdout, stderr)
}

// app is one invocation: its streams, global flags and logger.
type app struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer // password-redacting

	dsn        string
	configFile string
	logFormat  string
	logLevel   string

	log zerolog.Logger
	// jobsConfig is the kinds' config, once the settings are loaded.
	jobsConfig jobs.Config
	// started is set once a command's own code runs: errors before that come from
	// parsing the command line.
	started bool
}

// usageError is bad usage or invalid input: exit status 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

func execute(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{
		getenv: getenv,
		stdin:  stdin,
		stdout: stdout,
		stderr: newRedactor(stderr, dsnPasswords(args, getenv)),
		log:    zerolog.Nop(),
	}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(a.stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	code := 1
	var ue *usageError
	var ve *queue.ValidationError
	if !a.started || errors.As(err, &ue) || errors.As(err, &ve) {
		code = 2
	}
	if what, ok := queue.SchemaMissing(err); ok {
		// The one place an unmigrated schema is explained, whatever the command.
		err = fmt.Errorf("the database schema is not set up or is older than this iactq (%s is missing): run 'iactq migrate' first", what)
	}
	fmt.Fprintf(a.stderr, "iactq: %s\n", strings.TrimSpace(err.Error()))
	if !a.started && cmd != nil {
		fmt.Fprintf(a.stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}

// rootCmd builds the command tree.
func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "iactq",
		Short: "MySQL-backed job queue of the IACT platform",
		Long: `iactq runs the job queue of the IACT call-centre platform. Jobs are rows of the
iactq_jobs table: apps insert them with plain SQL or 'iactq enqueue', and 'iactq work'
runs them, most urgent first by each kind's SLA. Outcomes that someone waits for land
in the internal_messages table ('iactq messages').

The database comes from --dsn or IACTQ_DSN (a go-sql-driver DSN such as
user:password@tcp(127.0.0.1:3306)/iact); 'make db-up' starts a private server and
prints one. The password is never printed. Settings come from --config or
IACTQ_CONFIG; 'iactq config example' prints every setting with its default.

Exit status: 0 success, 1 failure at run time (e.g. database unreachable), 2 bad
usage or invalid input, in which case nothing was written.`,
		Example: `  export IACTQ_DSN='iactq:secret@tcp(127.0.0.1:3306)/iact'
  iactq migrate
  iactq enqueue noop --args '{"sleep_ms": 100}'
  iactq work --log-format console
  iactq priorities --watch`,
		Version:           version,
		SilenceErrors:     true,
		SilenceUsage:      true,
		PersistentPreRunE: a.setup,
		Args:              cobra.NoArgs,
		RunE:              func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err: err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.dsn, "dsn", "", "database DSN, user:password@tcp(host:port)/db (default $IACTQ_DSN)")
	pf.StringVar(&a.configFile, "config", "", "config file (default $IACTQ_CONFIG, else built-in defaults)")
	pf.StringVar(&a.logFormat, "log-format", "json", "log format on stderr: json or console (json goes to journald, fields prefixed IACTQ_, when stderr is the journal)")
	pf.StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn or error")

	root.AddCommand(
		a.migrateCmd(),
		a.enqueueCmd(),
		a.workCmd(),
		a.prioritiesCmd(),
		a.jobsCmd(),
		a.queuesCmd(),
		a.schedulesCmd(),
		a.messagesCmd(),
		a.workersCmd(),
		a.configCmd(),
		a.benchCmd(),
		a.dashboardCmd(), // cmd/iactq/dashboard.go
		a.slaCmd(),       // cmd/iactq/sla.go
		a.reportsCmd(),   // cmd/iactq/reports.go
		a.demoCmd(),      // cmd/iactq/reports.go (the IVR demo data)
		a.deploysCmd(),   // cmd/iactq/deploys.go
		a.doraCmd(),      // cmd/iactq/deploys.go
		a.cliDocCmd(),    // cmd/iactq/generate.go (hidden)
		a.doctorCmd(),    // cmd/iactq/doctor.go
		a.manPagesCmd(),  // cmd/iactq/generate.go (hidden)
	)
	return root
}

// groupCmd is a command that only holds subcommands.
func groupCmd(use, short, long, example string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:     use,
		Short:   short,
		Long:    long,
		Example: example,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	c.AddCommand(subs...)
	return c
}

// setup runs before every command: it builds the logger.
func (a *app) setup(cmd *cobra.Command, _ []string) error {
	level, err := zerolog.ParseLevel(a.logLevel)
	if err != nil || a.logLevel == "" {
		return usagef("invalid --log-level %q: use debug, info, warn or error", a.logLevel)
	}
	var w io.Writer
	switch a.logFormat {
	case "json":
		w = a.stderr
		// Under systemd, with stderr going to the journal, each line goes to journald
		// directly with its fields as IACTQ_ fields (journalctl IACTQ_JOB_ID=42).
		if r, ok := a.stderr.(*redactor); ok {
			if f, ok := r.w.(*os.File); ok && journald.IsJournalStream(a.getenv("JOURNAL_STREAM"), f) {
				if jw, err := journald.New(journald.Socket, "IACTQ_", "iactq", r.w); err == nil {
					w = newRedactor(jw, nil).withSecretsOf(r)
				}
			}
		}
	case "console":
		w = zerolog.ConsoleWriter{Out: a.stderr, TimeFormat: "15:04:05.000", NoColor: !isTerminal(a.stderr) || a.getenv("NO_COLOR") != ""}
	default:
		return usagef("invalid --log-format %q: use json or console", a.logFormat)
	}
	// The time goes in with sub-second precision, set per logger rather than through
	// zerolog's global TimeFieldFormat.
	stamp := zerolog.HookFunc(func(e *zerolog.Event, _ zerolog.Level, _ string) {
		e.Str(zerolog.TimestampFieldName, time.Now().UTC().Format(time.RFC3339Nano))
	})
	a.log = zerolog.New(w).Level(level).Hook(stamp)
	return nil
}

// action wraps a command's code so that its errors are told apart from command-line
// parsing errors.
func (a *app) action(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a.started = true
		return fn(cmd, args)
	}
}

// settings loads the config file, checked against this build's kinds.
func (a *app) settings() (*settings, error) {
	path := a.configFile
	if path == "" {
		path = a.getenv("IACTQ_CONFIG")
	}
	return loadSettings(path, jobs.NewRegistry(jobs.Deps{}), a.log)
}

// dsnValue is the DSN from --dsn or IACTQ_DSN, parsed.
func (a *app) dsnValue() (string, error) {
	dsn := a.dsn
	if dsn == "" {
		dsn = a.getenv("IACTQ_DSN")
	}
	if dsn == "" {
		return "", usagef("no database: set IACTQ_DSN or --dsn (make db-up prints one)")
	}
	if _, err := queue.ParseDSN(dsn); err != nil {
		return "", &usageError{err: err} // ParseDSN's errors never hold the password
	}
	return dsn, nil
}

// openLazy opens a pool for the database without connecting yet.
func (a *app) openLazy() (*sql.DB, error) {
	dsn, err := a.dsnValue()
	if err != nil {
		return nil, err
	}
	db, err := queue.OpenDB(dsn)
	if err != nil {
		return nil, &usageError{err: err}
	}
	return db, nil
}

// ping checks that the database answers, naming it (without its password) if not.
func (a *app) ping(ctx context.Context, db *sql.DB) error {
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		dsn, _ := a.dsnValue()
		return fmt.Errorf("cannot reach the database %s: %w", queue.RedactDSN(dsn), err)
	}
	return nil
}

// openDB opens the database and checks that it answers. The caller closes it.
func (a *app) openDB(ctx context.Context) (*sql.DB, error) {
	db, err := a.openLazy()
	if err != nil {
		return nil, err
	}
	if err := a.ping(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// config loads the settings and maps them to the engine's Config.
func (a *app) config() (*settings, queue.Config, error) {
	s, err := a.settings()
	if err != nil {
		return nil, queue.Config{}, err
	}
	cfg, err := s.queueConfig()
	if err != nil {
		return nil, queue.Config{}, &usageError{err: err}
	}
	a.jobsConfig = s.JobsConfig
	return s, cfg, nil
}

// client loads the settings, opens the database and returns a client over both. The
// caller closes db.
func (a *app) client(ctx context.Context) (*queue.Client, *sql.DB, error) {
	_, cfg, err := a.config()
	if err != nil {
		return nil, nil, err
	}
	db, err := a.openDB(ctx)
	if err != nil {
		return nil, nil, err
	}
	c, err := a.newClient(db, cfg)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return c, db, nil
}

func (a *app) newClient(db *sql.DB, cfg queue.Config) (*queue.Client, error) {
	deps := jobs.Deps{DB: db, Config: a.jobsConfig, Log: a.log, Now: cfg.Now}
	c, err := queue.NewClient(db, jobs.NewRegistry(deps), cfg, a.log)
	if err != nil {
		return nil, &usageError{err: err}
	}
	return c, nil
}

// dsnPasswords finds the database passwords this invocation knows of, to keep them
// out of everything written to stderr whatever prints it.
func dsnPasswords(args []string, getenv func(string) string) []string {
	dsns := []string{getenv("IACTQ_DSN"), getenv("IACTQ_BINLOG_DSN")}
loop:
	for i, arg := range args {
		switch {
		case arg == "--":
			break loop
		case arg == "--dsn" && i+1 < len(args):
			dsns = append(dsns, args[i+1])
		case strings.HasPrefix(arg, "--dsn="):
			dsns = append(dsns, strings.TrimPrefix(arg, "--dsn="))
		case arg == "--binlog-dsn" && i+1 < len(args):
			dsns = append(dsns, args[i+1])
		case strings.HasPrefix(arg, "--binlog-dsn="):
			dsns = append(dsns, strings.TrimPrefix(arg, "--binlog-dsn="))
		}
	}
	var pws []string
	for _, dsn := range dsns {
		if pw := dsnPassword(dsn); len(pw) >= 3 && !slices.Contains(pws, pw) {
			pws = append(pws, pw)
		}
	}
	return pws
}

func dsnPassword(dsn string) string {
	if cfg, err := mysql.ParseDSN(dsn); err == nil {
		return cfg.Passwd
	}
	at := strings.LastIndex(dsn, "@")
	if at < 0 {
		return ""
	}
	if colon := strings.Index(dsn[:at], ":"); colon >= 0 {
		return dsn[colon+1 : at]
	}
	return ""
}

// redactor replaces secrets in what is written through it. Writers write whole
// messages (zerolog a line per Write), so a secret is not split across writes.
type redactor struct {
	mu      sync.Mutex
	w       io.Writer
	secrets [][]byte
}

func newRedactor(w io.Writer, secrets []string) *redactor {
	r := &redactor{w: w}
	for _, s := range secrets {
		r.secrets = append(r.secrets, []byte(s))
	}
	return r
}

// withSecretsOf gives r the secrets other hides.
func (r *redactor) withSecretsOf(other *redactor) *redactor {
	r.secrets = other.secrets
	return r
}

func (r *redactor) Write(p []byte) (int, error) {
	out := p
	for _, s := range r.secrets {
		if bytes.Contains(out, s) {
			out = bytes.ReplaceAll(out, s, []byte("***"))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// isTerminal tells whether w is a terminal.
func isTerminal(w io.Writer) bool {
	if r, ok := w.(*redactor); ok {
		w = r.w
	}
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}
