// Package queuetest gives tests a fresh, migrated database on the test server that
// `make test` starts (scripts/db.sh up test).
package queuetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/iact/iactq/queue"
)

// DB is a throwaway database for one test.
type DB struct {
	Name string
	// AdminDSN may do anything, migrations included; WorkerDSN only SELECT, INSERT,
	// UPDATE and DELETE, like a production worker.
	AdminDSN  string
	WorkerDSN string
	// DB is a pool for WorkerDSN.
	DB *sql.DB

	adminRoot string // the admin DSN without a database, to drop this one
}

// New creates a database, migrates it, grants the worker user on it and drops it when
// the test ends. Without IACTQ_TEST_ADMIN_DSN the test fails: run it with `make test`.
func New(t testing.TB) *DB {
	t.Helper()
	d, err := Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Drop(context.Background()) })
	return d
}

// Create is New for code without a testing.TB (the package's Example functions): the
// caller drops the database with Drop.
func Create(ctx context.Context) (*DB, error) {
	adminDSN := os.Getenv("IACTQ_TEST_ADMIN_DSN")
	workerDSN := os.Getenv("IACTQ_TEST_WORKER_DSN")
	if adminDSN == "" || workerDSN == "" {
		return nil, errors.New("IACTQ_TEST_ADMIN_DSN and IACTQ_TEST_WORKER_DSN are not set: run the tests with `make test`, which starts the test database")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "iactq_t_" + hex.EncodeToString(b[:])

	root, err := queue.OpenDB(adminDSN)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	workerCfg, err := mysql.ParseDSN(workerDSN)
	if err != nil {
		return nil, err
	}
	for _, stmt := range []string{
		"CREATE DATABASE " + name,
		fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON %s.* TO '%s'@'localhost'", name, workerCfg.User),
		fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON %s.* TO '%s'@'127.0.0.1'", name, workerCfg.User),
	} {
		if _, err := root.ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("%s: %w", stmt, err)
		}
	}
	d := &DB{Name: name, adminRoot: adminDSN}
	if d.AdminDSN, err = withDB(adminDSN, name); err != nil {
		return nil, errors.Join(err, d.Drop(ctx))
	}
	if d.WorkerDSN, err = withDB(workerDSN, name); err != nil {
		return nil, errors.Join(err, d.Drop(ctx))
	}
	admin, err := queue.OpenDB(d.AdminDSN)
	if err != nil {
		return nil, errors.Join(err, d.Drop(ctx))
	}
	defer admin.Close()
	if _, err := queue.Migrate(ctx, admin); err != nil {
		return nil, errors.Join(err, d.Drop(ctx))
	}
	if d.DB, err = queue.OpenDB(d.WorkerDSN); err != nil {
		return nil, errors.Join(err, d.Drop(ctx))
	}
	return d, nil
}

// Drop closes d's pool and drops its database.
func (d *DB) Drop(ctx context.Context) error {
	if d.DB != nil {
		d.DB.Close()
	}
	root, err := queue.OpenDB(d.adminRoot)
	if err != nil {
		return err
	}
	defer root.Close()
	if _, err := root.ExecContext(ctx, "DROP DATABASE IF EXISTS "+d.Name); err != nil {
		return fmt.Errorf("drop database %s: %w", d.Name, err)
	}
	return nil
}

func withDB(dsn, name string) (string, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return "", err
	}
	cfg.DBName = name
	return cfg.FormatDSN(), nil
}

// Exec runs a statement as the worker user, failing the test on error.
func (d *DB) Exec(t testing.TB, query string, args ...any) sql.Result {
	t.Helper()
	res, err := d.DB.Exec(query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return res
}

// RunJobs inserts ps with c, runs c's workers until every one of them is finished
// (completed, discarded or cancelled) and returns their final rows, in order. The
// client should poll fast (Config.PollInterval of a few ms) to keep tests quick.
func RunJobs(t testing.TB, c *queue.Client, ps ...queue.InsertParams) []*queue.JobRow {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := c.InsertMany(ctx, ps)
	if err != nil {
		t.Fatalf("insert: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Work(ctx) }()
	defer func() { cancel(); <-done }()
	rows := make([]*queue.JobRow, len(res))
	deadline := time.Now().Add(2 * time.Minute)
	for i := 0; i < len(res); {
		j, err := c.GetJob(ctx, res[i].ID)
		if err != nil {
			t.Fatalf("get job %d: %v", res[i].ID, err)
		}
		if j.State.Finished() {
			rows[i] = j
			i++
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d (%s) still %s after 2 minutes", j.ID, j.Kind, j.State)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return rows
}
