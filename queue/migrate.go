package queue

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"

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
		return nil, fmt.Errorf("migrate: %w", err)
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

// SchemaCurrent tells whether every migration is applied.
func SchemaCurrent(ctx context.Context, db *sql.DB) (bool, error) {
	p, err := newMigrator(db)
	if err != nil {
		return false, err
	}
	pending, err := p.HasPending(ctx)
	return !pending, err
}
