package queue

import (
	"context"
	"database/sql"
	"sort"
)

// SchemaDiff compares the migrations applied to db with this build's: pending are
// this build's migrations not applied yet (run `iactq migrate`), unknown are applied
// versions this build does not have (the schema is newer than this iactq). It only
// reads, so a worker's user may call it.
func SchemaDiff(ctx context.Context, db *sql.DB) (pending, unknown []int64, err error) {
	applied, err := appliedVersions(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	p, err := newMigrator(db)
	if err != nil {
		return nil, nil, err
	}
	known := map[int64]bool{}
	for _, s := range p.ListSources() {
		known[s.Version] = true
		if !applied[s.Version] {
			pending = append(pending, s.Version)
		}
	}
	for v, ok := range applied {
		if ok && v > 0 && !known[v] {
			unknown = append(unknown, v)
		}
	}
	sort.Slice(unknown, func(i, j int) bool { return unknown[i] < unknown[j] })
	return pending, unknown, nil
}
