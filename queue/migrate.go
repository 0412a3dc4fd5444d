package queue

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"

	"github.com/iact/iactq/internal/dberr"
	"github.com/iact/iactq/migrations"
)

// MigrationStatus is one migration and whether it is applied.
type MigrationStatus struct {
	Version   int64
	Name      string
	AppliedAt time.Time // zero when pending
}

// migrationTable records applied migrations.
const migrationTable = "iactq_schema_migrations"

func newMigrator(db *sql.DB) (*goose.Provider, error) {
	store, err := database.NewStore(database.DialectMySQL, migrationTable)
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider("", db, migrations.FS, goose.WithStore(store))
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, nil
}

// Migrate applies every pending migration and returns the ones it applied. Running it
// again applies nothing.
func Migrate(ctx context.Context, db *sql.DB) ([]MigrationStatus, error) {
	p, err := newMigrator(db)
	if err != nil {
		return nil, err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, needsDDL(fmt.Errorf("migrate: %w", err))
	}
	applied := make([]MigrationStatus, 0, len(results))
	for _, r := range results {
		applied = append(applied, MigrationStatus{Version: r.Source.Version, Name: r.Source.Path, AppliedAt: time.Now()})
	}
	return applied, nil
}

// MigrationsStatus lists every migration, applied or pending.
func MigrationsStatus(ctx context.Context, db *sql.DB) ([]MigrationStatus, error) {
	p, err := newMigrator(db)
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	out := make([]MigrationStatus, 0, len(st))
	for _, s := range st {
		m := MigrationStatus{Version: s.Source.Version, Name: s.Source.Path}
		if s.State == goose.StateApplied {
			m.AppliedAt = s.AppliedAt
		}
		out = append(out, m)
	}
	return out, nil
}

// SchemaCurrent tells whether every migration is applied. It only reads, so that a
// user without DDL (a worker) may call it: a database without the version table is
// simply not migrated.
func SchemaCurrent(ctx context.Context, db *sql.DB) (bool, error) {
	applied, err := appliedVersions(ctx, db)
	if err != nil {
		return false, err
	}
	p, err := newMigrator(db)
	if err != nil {
		return false, err
	}
	for _, s := range p.ListSources() {
		if !applied[s.Version] {
			return false, nil
		}
	}
	return true, nil
}

// appliedVersions reads goose's version table: the newest row of each version says
// whether it is applied.
func appliedVersions(ctx context.Context, db *sql.DB) (map[int64]bool, error) {
	rows, err := db.QueryContext(ctx, "SELECT version_id, is_applied FROM "+migrationTable+" ORDER BY id")
	if dberr.Number(err) == dberr.NoSuchTable {
		return map[int64]bool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", migrationTable, err)
	}
	defer rows.Close()
	applied := map[int64]bool{}
	for rows.Next() {
		var v int64
		var ok bool
		if err := rows.Scan(&v, &ok); err != nil {
			return nil, err
		}
		applied[v] = ok
	}
	return applied, rows.Err()
}

// needsDDL explains a privilege error of migrate.
func needsDDL(err error) error {
	switch dberr.Number(err) {
	case dberr.TableAccessDenied, dberr.DBAccessDenied:
		return fmt.Errorf("migrate needs a user with DDL privileges (CREATE, ALTER, DROP, INDEX) on the schema, such as the admin DSN; workers' users only have SELECT, INSERT, UPDATE and DELETE: %w", err)
	}
	return err
}
