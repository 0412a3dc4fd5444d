package chaos

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/rs/zerolog"

	"github.com/iact/iactq/internal/dberr"
	"github.com/iact/iactq/jobs"
	"github.com/iact/iactq/queue"
)

// Options are what every scenario needs.
type Options struct {
	// Short runs the scenario's short version (for make test).
	Short bool
	// Bin is the iactq binary the worker processes run.
	Bin string
	// Root is the repository root: scripts/db.sh starts the private servers.
	Root string
	// Server is where the scenarios that do not stop their server create a fresh
	// database each (crashing workers, contention).
	Server Server
	// Dir holds journals, configs and worker logs.
	Dir string
	// Logf reports progress; nil is silent.
	Logf func(format string, args ...any)
}

func (o *Options) logf(format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
	}
}

// Server is a MariaDB/MySQL server reachable with two users: an admin (DDL, grants,
// global status) and a worker with only SELECT, INSERT, UPDATE, DELETE.
type Server struct {
	AdminDSN  string
	WorkerDSN string
}

// Database is a fresh, migrated database on a Server.
type Database struct {
	Name      string
	AdminDSN  string
	WorkerDSN string
	// DB is a pool for WorkerDSN; Admin one for AdminDSN.
	DB    *sql.DB
	Admin *sql.DB
	drop  func()
}

// Close closes the pools and drops the database.
func (d *Database) Close() {
	d.DB.Close()
	d.Admin.Close()
	d.drop()
}

// NewDatabase creates a database named iactq_chaos_<random> on s, migrates it and
// grants the worker user on it.
func NewDatabase(ctx context.Context, s Server) (*Database, error) {
	d, err := emptyDatabase(ctx, s)
	if err != nil {
		return nil, err
	}
	if err := d.open(ctx); err != nil {
		d.drop()
		return nil, err
	}
	return d, nil
}

// client returns a client of the job kinds' registry on d, for inserting jobs and
// reading them back.
func (d *Database) client() (*queue.Client, error) {
	return queue.NewClient(d.DB, jobs.NewRegistry(jobs.Deps{}), queue.Config{}, zerolog.Nop())
}

// newDatabaseWithClient is NewDatabase and a client on it; the caller closes the
// database.
func newDatabaseWithClient(ctx context.Context, s Server) (*Database, *queue.Client, error) {
	db, err := NewDatabase(ctx, s)
	if err != nil {
		return nil, nil, err
	}
	client, err := db.client()
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, client, nil
}

// emptyDatabase creates a database as NewDatabase does, but neither migrates nor
// opens it: only its name, DSNs and drop are set.
func emptyDatabase(ctx context.Context, s Server) (*Database, error) {
	name := "iactq_chaos_" + randomHex(5)
	root, err := queue.OpenDB(s.AdminDSN)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	workerCfg, err := mysql.ParseDSN(s.WorkerDSN)
	if err != nil {
		return nil, fmt.Errorf("worker DSN: %w", err)
	}
	stmts := []string{"CREATE DATABASE " + name}
	for _, host := range []string{"localhost", "127.0.0.1"} {
		stmts = append(stmts, fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON %s.* TO '%s'@'%s'", name, workerCfg.User, host))
	}
	for _, stmt := range stmts {
		if _, err := root.ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("%s: %w", stmt, err)
		}
	}
	d := &Database{Name: name}
	adminDSN := s.AdminDSN
	d.drop = func() {
		root, err := queue.OpenDB(adminDSN)
		if err != nil {
			return
		}
		defer root.Close()
		_, _ = root.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name)
	}
	if d.AdminDSN, err = withDB(s.AdminDSN, name); err == nil {
		d.WorkerDSN, err = withDB(s.WorkerDSN, name)
	}
	if err != nil {
		d.drop()
		return nil, err
	}
	return d, nil
}

func (d *Database) open(ctx context.Context) error {
	var err error
	if d.Admin, err = queue.OpenDB(d.AdminDSN); err != nil {
		return err
	}
	// A cluster just started, behind a proxy whose health checks a loaded machine
	// delays, can drop a new connection ("invalid connection", seen once in
	// TestGaleraShort with make chaos running beside it): try again a few times.
	for try := 1; ; try++ {
		_, err := queue.Migrate(ctx, d.Admin)
		if err == nil {
			break
		}
		if try == 3 || !dberr.IsTransient(err) {
			d.Admin.Close()
			return fmt.Errorf("migrate: %w", err)
		}
		time.Sleep(2 * time.Second)
	}
	if d.DB, err = queue.OpenDB(d.WorkerDSN); err != nil {
		d.Admin.Close()
		return err
	}
	return nil
}

func withDB(dsn, name string) (string, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return "", fmt.Errorf("DSN of %s: %w", queue.RedactDSN(dsn), err)
	}
	cfg.DBName = name
	return cfg.FormatDSN(), nil
}

// randomHex is n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// withParam returns dsn with the session variable name set to value (SQL syntax:
// "1", "”").
func withParam(dsn, name, value string) (string, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return "", fmt.Errorf("DSN of %s: %w", queue.RedactDSN(dsn), err)
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params[name] = value
	return cfg.FormatDSN(), nil
}

// viaTCP returns dsn pointed at addr over TCP (a proxy, say).
func viaTCP(dsn, addr string) (string, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return "", fmt.Errorf("DSN of %s: %w", queue.RedactDSN(dsn), err)
	}
	cfg.Net, cfg.Addr = "tcp", addr
	return cfg.FormatDSN(), nil
}

// PrivateServer is a MariaDB server of its own, started and stopped with
// scripts/db.sh (in .iactq/NAME), for the scenarios that stop the database.
type PrivateServer struct {
	Name string
	root string
	Env  map[string]string // IACTQ_DSN, IACTQ_ADMIN_DSN, IACTQ_BINLOG_DSN (unix socket)
}

// StartPrivateServer starts (initialising on first use) the private server name.
func StartPrivateServer(ctx context.Context, root, name string) (*PrivateServer, error) {
	s := &PrivateServer{Name: name, root: root}
	if err := s.Up(ctx); err != nil {
		return nil, err
	}
	env, err := readEnvFile(filepath.Join(s.base(), "env"))
	if err != nil {
		return nil, err
	}
	s.Env = env
	return s, nil
}

func (s *PrivateServer) base() string { return filepath.Join(s.root, ".iactq", s.Name) }

func (s *PrivateServer) dbsh(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(s.root, "scripts", "db.sh"), args...)
	cmd.Env = withoutIACTQ(os.Environ())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("scripts/db.sh %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// Up starts the server (idempotent).
func (s *PrivateServer) Up(ctx context.Context) error { return s.dbsh(ctx, "up", s.Name) }

// Down stops it; the data is kept.
func (s *PrivateServer) Down(ctx context.Context) error { return s.dbsh(ctx, "down", s.Name) }

// Remove stops the server and deletes its directory.
func (s *PrivateServer) Remove() {
	_ = s.Down(context.Background())
	_ = os.RemoveAll(s.base())
}

var portLine = regexp.MustCompile(`(?m)^port\s*=\s*([0-9]+)\s*$`)

// Addr is the 127.0.0.1 TCP address the server listens on (from its my.cnf: it may
// move on a restart when the port was taken meanwhile).
func (s *PrivateServer) Addr() (string, error) {
	b, err := os.ReadFile(filepath.Join(s.base(), "my.cnf"))
	if err != nil {
		return "", err
	}
	m := portLine.FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("no port in %s/my.cnf", s.base())
	}
	return "127.0.0.1:" + string(m[1]), nil
}

// Server is s as a Server (socket DSNs).
func (s *PrivateServer) Server() Server {
	return Server{AdminDSN: s.Env["IACTQ_ADMIN_DSN"], WorkerDSN: s.Env["IACTQ_DSN"]}
}

func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = strings.Trim(v, "'")
		}
	}
	return env, sc.Err()
}

// withoutIACTQ drops IACTQ_* variables: a worker must see only what its scenario gives.
func withoutIACTQ(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "IACTQ_") {
			out = append(out, kv)
		}
	}
	return out
}

// waitFor polls cond every 50 ms until it holds, ctx ends or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// count runs a COUNT query, returning -1 when it fails (the database is away).
func count(ctx context.Context, db *sql.DB, query string, args ...any) int {
	var n int
	if err := db.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		return -1
	}
	return n
}
